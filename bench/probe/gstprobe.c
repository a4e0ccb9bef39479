/* SPDX-License-Identifier: MPL-2.0
 *
 * gstprobe: gst-launch-1.0 with a clock on every fakesink.
 *
 * Runs a gst-launch pipeline description. Every fakesink in it gets a buffer probe on its sink
 * pad that records the wall-clock arrival time (CLOCK_REALTIME, the clock the replay publisher
 * stamps its sends with), DTS, PTS and size of each buffer. When the run is over (EOS, an error,
 * the expected number of buffers, no buffer for --idle-ms, or --timeout) it writes the records
 * (--log), prints one line "DONE {json summary}" on stdout and then waits to be killed, so the
 * harness can read the CPU time of the receiving processes at that moment.
 *
 * usage: gstprobe [--log FILE] [--expect-video N] [--expect-audio N] [--idle-ms MS]
 *                 [--timeout S] PIPELINE-DESCRIPTION...
 */
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  guint64 t_ns;
  guint64 dts;
  guint64 pts;
  guint32 size;
  guint32 flags;
} Rec;

typedef struct {
  char name[64];
  char kind[16]; /* "video", "audio" or "other", from the caps of the first buffer */
  Rec *recs;
  gsize n, cap;
  guint64 bytes;
} Sink;

#define MAX_SINKS 8192
static Sink sinks[MAX_SINKS];
static int nsinks;
static gint stop_recording;
static gint64 last_arrival_ns;
static gint64 video_buffers, audio_buffers;

static long long expect_video = -1, expect_audio = -1;
static long long idle_ms = 3000;
static double timeout_s = 0;
static const char *log_path;
static GMainLoop *loop;
static gboolean got_eos, timed_out;
static char *error_text;
static guint64 start_ns;

static guint64 now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (guint64)ts.tv_sec * 1000000000ull + (guint64)ts.tv_nsec;
}

static void record(Sink *s, GstPad *pad, guint64 t, GstBuffer *buf) {
  if (!s->kind[0]) {
    GstCaps *caps = gst_pad_get_current_caps(pad);
    const char *name = caps ? gst_structure_get_name(gst_caps_get_structure(caps, 0)) : "";
    g_strlcpy(s->kind,
              g_str_has_prefix(name, "video/") ? "video"
              : g_str_has_prefix(name, "audio/") ? "audio" : "other",
              sizeof s->kind);
    if (caps) gst_caps_unref(caps);
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 4096;
    s->recs = g_realloc(s->recs, s->cap * sizeof(Rec));
  }
  Rec *r = &s->recs[s->n];
  r->t_ns = t;
  r->dts = GST_BUFFER_DTS(buf);
  r->pts = GST_BUFFER_PTS(buf);
  r->size = (guint32)gst_buffer_get_size(buf);
  r->flags = GST_BUFFER_FLAGS(buf);
  s->bytes += r->size;
  s->n++; /* read by the main thread only after stop_recording */
  if (s->kind[0] == 'v') __atomic_fetch_add(&video_buffers, 1, __ATOMIC_RELAXED);
  else if (s->kind[0] == 'a') __atomic_fetch_add(&audio_buffers, 1, __ATOMIC_RELAXED);
}

static GstPadProbeReturn on_data(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
  guint64 t = now_ns();
  Sink *s = user;
  if (g_atomic_int_get(&stop_recording)) return GST_PAD_PROBE_OK;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    record(s, pad, t, GST_PAD_PROBE_INFO_BUFFER(info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    for (guint i = 0; i < gst_buffer_list_length(list); i++)
      record(s, pad, t, gst_buffer_list_get(list, i));
  }
  __atomic_store_n(&last_arrival_ns, (gint64)t, __ATOMIC_RELAXED);
  return GST_PAD_PROBE_OK;
}

static void attach(GstElement *el) {
  GstElementFactory *f = gst_element_get_factory(el);
  if (!f || strcmp(GST_OBJECT_NAME(f), "fakesink") != 0) return;
  if (nsinks >= MAX_SINKS) return;
  Sink *s = &sinks[nsinks++];
  g_strlcpy(s->name, GST_OBJECT_NAME(el), sizeof s->name);
  GstPad *pad = gst_element_get_static_pad(el, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_data, s,
                    NULL);
  gst_object_unref(pad);
}

static void finish(void) {
  g_atomic_int_set(&stop_recording, 1);
  g_usleep(20000); /* let a probe that is running return */
  if (log_path) {
    FILE *f = fopen(log_path, "w");
    if (f) {
      fprintf(f, "sink\tkind\tt_ns\tdts\tpts\tsize\tflags\n");
      for (int i = 0; i < nsinks; i++) {
        Sink *s = &sinks[i];
        for (gsize k = 0; k < s->n; k++) {
          Rec *r = &s->recs[k];
          fprintf(f, "%s\t%s\t%" G_GUINT64_FORMAT "\t%lld\t%lld\t%u\t%u\n", s->name, s->kind,
                  r->t_ns, r->dts == GST_CLOCK_TIME_NONE ? -1LL : (long long)r->dts,
                  r->pts == GST_CLOCK_TIME_NONE ? -1LL : (long long)r->pts, r->size, r->flags);
        }
      }
      fclose(f);
    }
  }
  GString *js = g_string_new("{\"sinks\":[");
  for (int i = 0; i < nsinks; i++) {
    Sink *s = &sinks[i];
    g_string_append_printf(js,
                           "%s{\"name\":\"%s\",\"kind\":\"%s\",\"buffers\":%zu,\"bytes\":%" G_GUINT64_FORMAT
                           ",\"first_ns\":%" G_GUINT64_FORMAT ",\"last_ns\":%" G_GUINT64_FORMAT "}",
                           i ? "," : "", s->name, s->kind[0] ? s->kind : "none", (size_t)s->n, s->bytes,
                           s->n ? s->recs[0].t_ns : 0, s->n ? s->recs[s->n - 1].t_ns : 0);
  }
  char *err = error_text ? g_strescape(error_text, NULL) : NULL;
  g_string_append_printf(js, "],\"eos\":%s,\"timeout\":%s,\"error\":%s%s%s}", got_eos ? "true" : "false",
                         timed_out ? "true" : "false", err ? "\"" : "", err ? err : "null", err ? "\"" : "");
  printf("DONE %s\n", js->str);
  fflush(stdout);
  g_free(err);
  g_string_free(js, TRUE);
}

static gboolean on_bus(GstBus *bus, GstMessage *msg, gpointer user) {
  (void)bus;
  (void)user;
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
      got_eos = TRUE;
      g_main_loop_quit(loop);
      break;
    case GST_MESSAGE_ERROR: {
      GError *e = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error(msg, &e, &dbg);
      error_text = g_strdup_printf("%s: %s", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), e->message);
      fprintf(stderr, "gstprobe: error from %s\n", error_text);
      g_clear_error(&e);
      g_free(dbg);
      g_main_loop_quit(loop);
      break;
    }
    default:
      break;
  }
  return TRUE;
}

static gboolean on_tick(gpointer user) {
  (void)user;
  guint64 t = now_ns();
  gint64 v = __atomic_load_n(&video_buffers, __ATOMIC_RELAXED);
  gint64 a = __atomic_load_n(&audio_buffers, __ATOMIC_RELAXED);
  gboolean enough = (expect_video >= 0 || expect_audio >= 0) &&
                    (expect_video < 0 || v >= expect_video) && (expect_audio < 0 || a >= expect_audio);
  gint64 last = __atomic_load_n(&last_arrival_ns, __ATOMIC_RELAXED);
  gboolean idle = last && (gint64)t - last > idle_ms * 1000000ll;
  if (timeout_s > 0 && (double)(t - start_ns) / 1e9 > timeout_s) timed_out = TRUE;
  if (enough || idle || timed_out) g_main_loop_quit(loop);
  return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--log") && i + 1 < argc) log_path = argv[++i];
    else if (!strcmp(argv[i], "--expect-video") && i + 1 < argc) expect_video = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--expect-audio") && i + 1 < argc) expect_audio = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc) idle_ms = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_s = atof(argv[++i]);
    else break;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: gstprobe [--log F] [--expect-video N] [--expect-audio N] [--idle-ms MS] "
                    "[--timeout S] PIPELINE...\n");
    return 2;
  }
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launchv((const gchar **)&argv[i], &err);
  if (!pipeline) {
    fprintf(stderr, "gstprobe: %s\n", err ? err->message : "parse error");
    return 2;
  }
  if (err) {
    fprintf(stderr, "gstprobe: warning: %s\n", err->message);
    g_clear_error(&err);
  }
  if (GST_IS_BIN(pipeline)) {
    GstIterator *it = gst_bin_iterate_recurse(GST_BIN(pipeline));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      attach(g_value_get_object(&item));
      g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
  } else {
    attach(pipeline);
  }
  loop = g_main_loop_new(NULL, FALSE);
  GstBus *bus = gst_element_get_bus(pipeline);
  gst_bus_add_watch(bus, on_bus, NULL);
  gst_object_unref(bus);
  start_ns = now_ns();
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* The bus has the reason. */
    GstMessage *m = gst_bus_pop_filtered(gst_element_get_bus(pipeline), GST_MESSAGE_ERROR);
    if (m) on_bus(NULL, m, NULL);
    fprintf(stderr, "gstprobe: cannot start the pipeline\n");
    printf("FAILED\n");
    return 1;
  }
  printf("READY %d\n", nsinks);
  fflush(stdout);
  /* Coarse on purpose: the probe's own wakeups count in the receiving side's CPU. */
  g_timeout_add(200, on_tick, NULL);
  g_main_loop_run(loop);
  finish();
  /* Wait to be killed: the harness reads our CPU time now. */
  for (;;) pause();
  return 0;
}
