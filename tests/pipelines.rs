// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The pipelines users write, as they write them: no queues, default sinks (sync=true,
//! async=true), decoders and muxers straight after the pads, with Debian's ffmpeg 5.1
//! publishing. And every gst-launch-1.0 pipeline printed in README.md, run as printed (ports and
//! paths substituted), so the documentation cannot rot.
//!
//! Each pipeline must get every video and audio frame of the clip: counted at the sinks, in the
//! file it writes, or (for sinks inside bins) on the element's pads.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;

const KEY: &str = "KEY";

/// What reached one sink (or left one pad).
#[derive(Debug, Default, Clone)]
struct Count {
    buffers: usize,
    /// Sum of the buffers' durations (decoded audio).
    duration: gst::ClockTime,
}

/// A pipeline parsed from a gst-launch-1.0 description, with counters on its sinks' and the
/// source element's pads.
struct Launched {
    pipeline: gst::Pipeline,
    counts: Arc<Mutex<BTreeMap<String, Count>>>,
    messages: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

fn count_on(pad: &gst::Pad, name: String, counts: Arc<Mutex<BTreeMap<String, Count>>>) {
    counts.lock().unwrap().entry(name.clone()).or_default();
    let probe = gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST;
    pad.add_probe(probe, move |_, info| {
        let mut counts = counts.lock().unwrap();
        let count = counts.get_mut(&name).unwrap();
        let mut add = |buffer: &gst::BufferRef| {
            count.buffers += 1;
            count.duration += buffer.duration().unwrap_or(gst::ClockTime::ZERO);
        };
        match &info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => add(buffer),
            // mpegtsmux with alignment=7 pushes lists.
            Some(gst::PadProbeData::BufferList(list)) => list.iter().for_each(add),
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
}

impl Launched {
    /// `desc` as gst-launch-1.0 takes it. Counts buffers at every sink element's sink pad
    /// (keyed by the sink's name) and on every pad of the element named `src` (keyed
    /// `src.<pad>`).
    fn start(desc: &str) -> Launched {
        init();
        let pipeline = gst::parse::launch(desc)
            .unwrap_or_else(|e| panic!("{desc}: {e}"))
            .downcast::<gst::Pipeline>()
            .unwrap();
        let counts: Arc<Mutex<BTreeMap<String, Count>>> = Default::default();
        for element in pipeline.iterate_recurse().into_iter().flatten() {
            if element.element_flags().contains(gst::ElementFlags::SINK)
                && !element.is::<gst::Bin>()
            {
                for pad in element.sink_pads() {
                    count_on(&pad, element.name().to_string(), counts.clone());
                }
            }
        }
        let src = pipeline.by_name("src").expect("an element named src");
        let counts_cb = counts.clone();
        src.connect_pad_added(move |_, pad| {
            count_on(pad, format!("src.{}", pad.name()), counts_cb.clone());
        });
        let messages: Arc<Mutex<Vec<String>>> = Default::default();
        let errors: Arc<Mutex<Vec<String>>> = Default::default();
        let (messages_cb, errors_cb) = (messages.clone(), errors.clone());
        let weak = pipeline.downgrade();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            match msg.view() {
                // What gst-launch-1.0 does when a live element's latency changes (pads added
                // by a live source): the pipeline's latency is configured again.
                gst::MessageView::Latency(_) => {
                    if let Some(pipeline) = weak.upgrade() {
                        std::thread::spawn(move || {
                            let _ = pipeline.recalculate_latency();
                        });
                    }
                }
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure() {
                        messages_cb.lock().unwrap().push(s.name().to_string());
                    }
                }
                gst::MessageView::Error(e) => {
                    errors_cb
                        .lock()
                        .unwrap()
                        .push(format!("{} ({:?})", e.error(), e.debug()))
                }
                gst::MessageView::Eos(_) => messages_cb.lock().unwrap().push("eos".into()),
                _ => {}
            }
            gst::BusSyncReply::Pass
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Launched {
            pipeline,
            counts,
            messages,
            errors,
        }
    }

    fn has(&self, message: &str) -> bool {
        self.messages.lock().unwrap().iter().any(|m| m == message)
    }

    fn wait_for(&self, timeout: Duration, cond: impl Fn(&Launched) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        cond(self)
    }

    /// Waits for the publish to end (EOS when the pipeline has eos-on-disconnect, otherwise
    /// publish-stopped and the pads' counts at rest), then stops the pipeline.
    fn finish(self, eos: bool) -> BTreeMap<String, Count> {
        let ended = if eos {
            self.wait_for(Duration::from_secs(20), |l| l.has("eos"))
        } else {
            self.wait_for(Duration::from_secs(20), |l| {
                l.has("rtmpserversrc-publish-stopped")
            })
        };
        if !eos {
            // Sinks with sync=true render the last buffers within `latency` of their time.
            let mut last = self.counts.lock().unwrap().clone();
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let now = self.counts.lock().unwrap().clone();
                if format!("{now:?}") == format!("{last:?}") {
                    break;
                }
                last = now;
            }
        }
        let errors = self.errors.lock().unwrap().clone();
        let counts = self.counts.lock().unwrap().clone();
        self.pipeline.set_state(gst::State::Null).unwrap();
        assert!(errors.is_empty(), "errors: {errors:?}");
        assert!(
            ended,
            "the publish did not end (EOS: {eos}); counts {counts:?}"
        );
        counts
    }
}

/// The clip's video and audio frame counts, as ffprobe reads them.
fn frames(clip: &Path) -> (usize, usize) {
    let packets = probe_packets(clip);
    (packets["video"].len(), packets["audio"].len())
}

fn publish(clip: &Path, port: u16, realtime: bool) {
    let url = format!("rtmp://127.0.0.1:{port}/app/{KEY}");
    let (ok, err) = wait_child(
        ffmpeg_publish(clip, &url, realtime),
        Duration::from_secs(40),
    );
    assert!(ok, "ffmpeg: {err}");
}

fn source(port: u16) -> String {
    format!("rtmpserversrc name=src port={port} stream-key={KEY} eos-on-disconnect=true")
}

/// A 10 s clip, its video and audio frame counts, and a pipeline of the element (on a free
/// port) followed by `branches`, started.
struct Case {
    clip: PathBuf,
    video: usize,
    audio: usize,
    port: u16,
    run: Launched,
}

fn case(branches: &str) -> Case {
    let clip = clip_h264_aac(10);
    let (video, audio) = frames(&clip);
    let port = free_port();
    let run = Launched::start(&format!("{} {branches}", source(port)));
    Case {
        clip,
        video,
        audio,
        port,
        run,
    }
}

#[test]
fn two_default_fakesinks_get_every_frame() {
    let c = case("src.video_0 ! fakesink name=v src.audio_0 ! fakesink name=a");
    publish(&c.clip, c.port, true);
    let counts = c.run.finish(true);
    assert_eq!(counts["v"].buffers, c.video, "{counts:?}");
    assert_eq!(counts["a"].buffers, c.audio, "{counts:?}");
}

#[test]
fn decodebin_on_both_pads_decodes_every_frame() {
    let c = case(
        "src.video_0 ! decodebin ! videoconvert ! fakesink name=v \
         src.audio_0 ! decodebin ! audioconvert ! fakesink name=a",
    );
    publish(&c.clip, c.port, true);
    let counts = c.run.finish(true);
    assert_eq!(counts["v"].buffers, c.video, "{counts:?}");
    // One decoded buffer per AAC frame, 1024 samples at 48 kHz each.
    assert_eq!(counts["a"].buffers, c.audio, "{counts:?}");
    let want = gst::ClockTime::from_nseconds(c.audio as u64 * 1024 * 1_000_000_000 / 48_000);
    let got = counts["a"].duration;
    assert!(
        got.nseconds().abs_diff(want.nseconds()) < 2_000_000,
        "decoded audio {got}, want {want}"
    );
}

#[test]
fn unsynced_fakesinks_with_a_full_speed_publish_get_every_frame() {
    let c =
        case("src.video_0 ! fakesink name=v sync=false src.audio_0 ! fakesink name=a sync=false");
    publish(&c.clip, c.port, false);
    let counts = c.run.finish(true);
    assert_eq!(counts["v"].buffers, c.video, "{counts:?}");
    assert_eq!(counts["a"].buffers, c.audio, "{counts:?}");
}

#[test]
fn mp4mux_without_queues_writes_every_frame() {
    let clip = clip_h264_aac(10);
    let src_packets = probe_packets(&clip);
    let port = free_port();
    let out = tmp_path(&format!("natural-{port}.mp4"));
    let run = Launched::start(&format!(
        "{} src.video_0 ! h264parse ! mp4mux name=m ! filesink location={} \
         src.audio_0 ! aacparse ! m.",
        source(port),
        out.display()
    ));
    publish(&clip, port, true);
    run.finish(true);
    let written = probe_packets(&out);
    assert_same_packets("video", &src_packets["video"], &written["video"]);
    assert_same_packets("audio", &src_packets["audio"], &written["audio"]);
    let _ = std::fs::remove_file(&out);
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|name| name.starts_with(prefix))
                })
                .count()
        })
        .unwrap_or(0)
}

fn stats_field<T: for<'a> gst::glib::value::FromValue<'a> + 'static>(
    src: &gst::Element,
    name: &str,
) -> T {
    src.property::<gst::Structure>("stats")
        .get::<T>(name)
        .unwrap()
}

/// Starts FFmpeg publishing the case's clip in real time and waits until the element pushes
/// from the publisher's thread (direct delivery); returns the FFmpeg child.
fn publish_until_direct(c: &Case, src: &gst::Element) -> std::process::Child {
    let url = format!("rtmp://127.0.0.1:{}/app/{KEY}", c.port);
    let publisher = ffmpeg_publish(&c.clip, &url, true);
    assert!(
        c.run
            .wait_for(Duration::from_secs(8), |_| stats_field::<bool>(
                src,
                "direct-delivery-active"
            )),
        "unsynced fakesinks never waited, yet direct delivery did not start"
    );
    publisher
}

/// Direct delivery (the publisher's thread pushes itself once downstream never waits) must
/// not turn a sink that waits for the other pad into a hang: here, once direct delivery is on,
/// the video sink holds a frame until the audio pad has gone a second past it, as a muxer
/// waiting for audio would. That audio is still in the socket, so only another thread reading
/// the connection (the push watchdog's rescue) lets the video go on.
#[test]
fn a_direct_push_that_waits_for_the_other_pad_is_rescued() {
    let c =
        case("src.video_0 ! fakesink name=v sync=false src.audio_0 ! fakesink name=a sync=false");
    let src = c.run.pipeline.by_name("src").unwrap();
    #[derive(Default)]
    struct Gate {
        armed: bool,
        /// The audio pad's latest timestamp.
        audio: Option<gst::ClockTime>,
        /// How long the video frame was held, and whether audio released it.
        held: Option<(Duration, bool)>,
        video_dts: Vec<gst::ClockTime>,
    }
    let gate = Arc::new((Mutex::new(Gate::default()), std::sync::Condvar::new()));
    let sink_pad = |name: &str| {
        c.run
            .pipeline
            .by_name(name)
            .unwrap()
            .static_pad("sink")
            .unwrap()
    };
    let g = gate.clone();
    sink_pad("a").add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
            g.0.lock().unwrap().audio = b.pts();
            g.1.notify_all();
        }
        gst::PadProbeReturn::Ok
    });
    let g = gate.clone();
    sink_pad("v").add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(gst::PadProbeData::Buffer(b)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let mut state = g.0.lock().unwrap();
        state.video_dts.extend(b.dts_or_pts());
        if !state.armed || state.held.is_some() {
            return gst::PadProbeReturn::Ok;
        }
        let until = b.pts().unwrap() + gst::ClockTime::SECOND;
        let start = Instant::now();
        let released = loop {
            if state.audio.is_some_and(|a| a > until) {
                break true;
            }
            if start.elapsed() > Duration::from_secs(8) {
                break false;
            }
            state =
                g.1.wait_timeout(state, Duration::from_millis(50))
                    .unwrap()
                    .0;
        };
        state.held = Some((start.elapsed(), released));
        gst::PadProbeReturn::Ok
    });
    let publisher = publish_until_direct(&c, &src);
    assert!(
        wait_until(Duration::from_secs(1), || threads_named("rtmp-push-watch")
            == 1),
        "no push watchdog"
    );
    gate.0.lock().unwrap().armed = true;
    let (ok, err) = wait_child(publisher, Duration::from_secs(40));
    assert!(ok, "ffmpeg: {err}");
    let fall_backs: u64 = stats_field(&src, "direct-delivery-fall-backs");
    let counts = c.run.finish(true);
    let state = gate.0.lock().unwrap();
    let (held, released) = state.held.expect("the video frame was never held");
    assert!(
        released,
        "audio did not go on while a video push waited: the connection was not read ({held:?})"
    );
    assert!(held >= Duration::from_millis(900), "held {held:?}");
    assert!(fall_backs >= 1, "the stuck push was not noticed");
    assert_eq!(counts["v"].buffers, c.video, "{counts:?}");
    assert_eq!(counts["a"].buffers, c.audio, "{counts:?}");
    assert!(
        state.video_dts.windows(2).all(|w| w[0] <= w[1]),
        "video out of order after the rescue"
    );
    // The stuck thread left once its push returned; the rescuer once the publish ended.
    assert!(
        wait_until(Duration::from_secs(3), || threads_named("rtmp-pub-") == 0),
        "{} publisher threads left",
        threads_named("rtmp-pub-")
    );
}

/// Direct delivery must also leave a pad that turns slow without hanging: a filter linked
/// without a queue that takes 60 ms per video frame (here `identity sleep-time`, as a heavy
/// decoder or converter would) keeps the reading thread from the socket for most of each
/// second. Its pushes are too short for the watchdog (200 ms), so the judge must see them,
/// though quick audio pushes come between them.
#[test]
fn a_pad_that_turns_slow_sends_direct_delivery_back_to_pad_threads() {
    let c = case(
        "src.video_0 ! identity name=slow ! fakesink name=v sync=false \
         src.audio_0 ! fakesink name=a sync=false",
    );
    let src = c.run.pipeline.by_name("src").unwrap();
    let slow = c.run.pipeline.by_name("slow").unwrap();
    let publisher = publish_until_direct(&c, &src);
    slow.set_property("sleep-time", 60_000u32);
    let turned = Instant::now();
    let left = wait_until(Duration::from_secs(4), || {
        !stats_field::<bool>(&src, "direct-delivery-active")
    });
    let took = turned.elapsed();
    slow.set_property("sleep-time", 0u32);
    let fall_backs: u64 = stats_field(&src, "direct-delivery-fall-backs");
    let (ok, err) = wait_child(publisher, Duration::from_secs(40));
    assert!(ok, "ffmpeg: {err}");
    let counts = c.run.finish(true);
    assert!(
        left,
        "60 ms video pushes for {took:?}, and direct delivery went on"
    );
    assert!(fall_backs >= 1, "no fall-back counted");
    assert_eq!(counts["v"].buffers, c.video, "{counts:?}");
    assert_eq!(counts["a"].buffers, c.audio, "{counts:?}");
    eprintln!("direct delivery left {took:?} after video pushes turned slow");
}

// ---- README.md's pipelines ----

/// Every `gst-launch-1.0 ...` command in README.md's code blocks, continuation lines joined.
fn readme_pipelines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_code = false;
    let mut current: Option<String> = None;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        let text = line.trim();
        match current.as_mut() {
            Some(cmd) => cmd.push_str(text.trim_end_matches('\\')),
            None if text.starts_with("gst-launch-1.0 ") && text.contains("rtmpserversrc") => {
                current = Some(text.trim_end_matches('\\').to_string())
            }
            None => continue,
        }
        if !text.ends_with('\\') {
            commands.push(current.take().unwrap());
        } else if let Some(cmd) = current.as_mut() {
            cmd.push(' ');
        }
    }
    // The fleet's pipeline needs its load balancer and auth service: tests/fleet.rs runs it
    // with them.
    commands.retain(|c| !c.contains("proxy-protocol=true"));
    commands
}

/// A README pipeline made runnable here: its own ports and output folder.
struct Substituted {
    /// The command line's arguments after `gst-launch-1.0` (options included).
    args: Vec<String>,
    port: u16,
    url: String,
    eos: bool,
    outputs: PathBuf,
}

fn substitute(command: &str, n: usize) -> Substituted {
    let port = free_port();
    let outputs = tmp_path(&format!("readme-{n}-{port}"));
    let _ = std::fs::remove_dir_all(&outputs);
    std::fs::create_dir_all(&outputs).unwrap();
    let mut user = None;
    let mut password = None;
    let mut application = "app".to_string();
    let mut key = String::new();
    let mut eos = false;
    let args: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(|word| {
            let (name, value) = word.split_once('=').unwrap_or((word, ""));
            match name {
                "port" => format!("port={port}"),
                "location" | "playlist-location" => {
                    format!("{name}={}", outputs.join(value).display())
                }
                "uri" if value.starts_with("srt://") => format!("uri=srt://:{}", free_port()),
                "username" => {
                    user = Some(value.to_string());
                    word.to_string()
                }
                "password" => {
                    password = Some(value.to_string());
                    word.to_string()
                }
                "application" => {
                    application = value.to_string();
                    word.to_string()
                }
                "stream-key" => {
                    key = value.to_string();
                    word.to_string()
                }
                "eos-on-disconnect" => {
                    eos = value == "true";
                    word.to_string()
                }
                _ => word
                    .replace("autovideosink", "fakesink")
                    .replace("autoaudiosink", "fakesink"),
            }
        })
        .collect();
    let credentials = match (user, password) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        _ => String::new(),
    };
    Substituted {
        args,
        port,
        url: format!("rtmp://{credentials}127.0.0.1:{port}/{application}/{key}"),
        eos,
        outputs,
    }
}

#[test]
fn readme_lists_the_pipelines_users_start_with() {
    let pipelines = readme_pipelines();
    assert!(pipelines.len() >= 5, "{pipelines:#?}");
    // The natural first pipeline, without queues, is documented.
    assert!(
        pipelines
            .iter()
            .any(|p| p.contains("! fakesink") && !p.contains("queue")),
        "{pipelines:#?}"
    );
}

/// Each README pipeline, parsed as gst-launch-1.0 parses it, gets every frame of a real publish.
#[test]
fn every_readme_pipeline_gets_every_frame() {
    let clip = clip_h264_aac(4);
    let src_packets = probe_packets(&clip);
    let (video, audio) = (src_packets["video"].len(), src_packets["audio"].len());
    for (n, command) in readme_pipelines().iter().enumerate() {
        let run = substitute(command, n);
        let desc: Vec<&str> = run
            .args
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
            .collect();
        println!("README pipeline {n}: {}", desc.join(" "));
        let launched = Launched::start(&desc.join(" "));
        let (ok, err) = wait_child(
            ffmpeg_publish(&clip, &run.url, true),
            Duration::from_secs(30),
        );
        assert!(ok, "pipeline {n}: ffmpeg: {err}");
        let counts = launched.finish(run.eos);
        println!("  counts {counts:?}");
        // Every frame left the element, and reached each sink that is not inside a bin.
        let video_pads: Vec<&String> = counts
            .keys()
            .filter(|k| k.starts_with("src.video"))
            .collect();
        assert_eq!(
            counts["src.video_0"].buffers, video,
            "pipeline {n}: {counts:?}"
        );
        assert_eq!(
            counts["src.audio_0"].buffers, audio,
            "pipeline {n}: {counts:?}"
        );
        assert_eq!(video_pads.len(), 1);
        // Without EOS a video decoder keeps its last frames (B-frame reordering) until more
        // input comes: up to 3 of them may not have reached a decoded sink yet.
        let slack = if run.eos { 0 } else { 3 };
        for (name, count) in &counts {
            if name.starts_with("fakesink") {
                assert!(
                    (video.saturating_sub(slack)..=video).contains(&count.buffers)
                        || count.buffers == audio,
                    "pipeline {n}: {name} got {count:?}"
                );
            }
        }
        for (name, count) in &counts {
            if name.starts_with("srtsink") || name.starts_with("filesink") {
                assert!(count.buffers > 0, "pipeline {n}: {name} got nothing");
            }
        }
        check_outputs(n, &run.outputs, video, audio);
        let _ = std::fs::remove_dir_all(&run.outputs);
        let _ = run.port;
    }
}

/// Files a README pipeline wrote: an MP4 has every frame, an HLS playlist lists its segments.
fn check_outputs(n: usize, dir: &Path, video: usize, audio: usize) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("mp4") => {
                let written = probe_packets(&path);
                assert_eq!(written["video"].len(), video, "pipeline {n}: {path:?}");
                assert_eq!(written["audio"].len(), audio, "pipeline {n}: {path:?}");
            }
            Some("m3u8") => {
                let playlist = std::fs::read_to_string(&path).unwrap();
                let segments = playlist.lines().filter(|l| l.ends_with(".ts")).count();
                assert!(segments >= 1, "pipeline {n}: {playlist}");
            }
            _ => {}
        }
    }
}

/// The recording pipeline through the real gst-launch-1.0 binary, options and all (`-e`): it
/// exits by itself when the publisher leaves and the MP4 has every frame.
#[test]
fn readme_recording_runs_in_gst_launch() {
    let command = readme_pipelines()
        .into_iter()
        .find(|p| p.contains("mp4mux") && p.contains("eos-on-disconnect=true"))
        .expect("README's recording pipeline");
    let run = substitute(&command, 100);
    let plugin_dir = plugin_dir();
    let mut child = Command::new("gst-launch-1.0")
        .args(&run.args)
        .env("GST_PLUGIN_PATH", &plugin_dir)
        .env("GST_REGISTRY", plugin_dir.join("registry.bin"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gst-launch-1.0");
    // Listening once the port accepts.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", run.port)).is_err() {
        assert!(Instant::now() < deadline, "gst-launch-1.0 never listened");
        assert!(child.try_wait().unwrap().is_none(), "gst-launch-1.0 exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let clip = clip_h264_aac(4);
    let src_packets = probe_packets(&clip);
    let (ok, err) = wait_child(
        ffmpeg_publish(&clip, &run.url, true),
        Duration::from_secs(30),
    );
    assert!(ok, "ffmpeg: {err}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gst-launch-1.0 did not exit after the publish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("ERROR"), "{text}");
    let mp4 = std::fs::read_dir(&run.outputs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .expect("the recording");
    let written = probe_packets(&mp4);
    assert_same_packets("video", &src_packets["video"], &written["video"]);
    assert_same_packets("audio", &src_packets["audio"], &written["audio"]);
    let _ = std::fs::remove_dir_all(&run.outputs);
}

/// A folder holding only a link to the cdylib cargo built beside this test binary, for
/// GST_PLUGIN_PATH.
fn plugin_dir() -> PathBuf {
    let plugin = built_plugin();
    let dir = tmp_path(&format!("plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("libgstrtmpserver.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&plugin, &link).unwrap();
    dir
}
