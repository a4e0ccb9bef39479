// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Shared helpers for the end-to-end tests: test media made with Debian's ffmpeg, free ports,
//! a pipeline that collects every buffer of every pad, and comparisons against ffprobe.

#![allow(dead_code)]

pub mod client;
pub mod haproxy;
pub mod obs;
pub mod report;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstrtmpserver::plugin_register_static().expect("register rtmpserver plugin");
    });
}

/// A port nobody listens on right now (the OS picks it, we release it for the test to use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn media_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("media");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Makes `name` (an FLV) with `ffmpeg` once and returns its path. Atomic (a temporary file is
/// renamed) so parallel test binaries share it; one encode at a time within a test binary.
fn make_flv(ffmpeg: &Path, name: &str, ffmpeg_args: &[&str]) -> PathBuf {
    static ENCODING: Mutex<()> = Mutex::new(());
    let _guard = ENCODING.lock().unwrap_or_else(|e| e.into_inner());
    let path = media_dir().join(name);
    if path.exists() {
        return path;
    }
    let tmp = media_dir().join(format!("{name}.{}.tmp", std::process::id()));
    let status = Command::new(ffmpeg)
        // SVT-AV1 logs on its own unless told: errors only.
        .env("SVT_LOG", "1")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(ffmpeg_args)
        .args(["-f", "flv"])
        .arg(&tmp)
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", ffmpeg.display()));
    assert!(status.success(), "ffmpeg failed to make {name}");
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Makes `name` with Debian's ffmpeg once (see [`make_flv`]).
pub fn media(name: &str, ffmpeg_args: &[&str]) -> PathBuf {
    make_flv(Path::new("ffmpeg"), name, ffmpeg_args)
}

/// `seconds` of 1280x720 30 fps H.264 with B-frames, a keyframe every 2 s, and AAC 48 kHz stereo.
pub fn clip_h264_aac(seconds: u32) -> PathBuf {
    LavfiClip::new(&format!("h264_aac_{seconds}s.flv"), seconds)
        .video("1280x720")
        .sine(440)
        .x264(2, 60, true)
        .output(&["-b:v", "2M"])
        .aac(true, "128k")
        .make()
}

pub fn clip_video_only(seconds: u32) -> PathBuf {
    LavfiClip::new(&format!("h264_only_{seconds}s.flv"), seconds)
        .video("640x360")
        .x264(2, 60, false)
        .make()
}

pub fn clip_audio_only(seconds: u32) -> PathBuf {
    LavfiClip::new(&format!("aac_only_{seconds}s.flv"), seconds)
        .sine(440)
        .aac(true, "128k")
        .make()
}

/// A clip of FFmpeg's lavfi test sources (`testsrc2` at 30 fps, a sine), encoded once with
/// Debian's ffmpeg and cached by name (see [`media`]): the suites' clips differ only in these
/// knobs. Output options come in the order they are added.
pub struct LavfiClip {
    name: String,
    seconds: u32,
    inputs: Vec<String>,
    output: Vec<String>,
}

impl LavfiClip {
    pub fn new(name: &str, seconds: u32) -> Self {
        LavfiClip {
            name: name.to_string(),
            seconds,
            inputs: Vec::new(),
            output: Vec::new(),
        }
    }

    /// `testsrc2` at `size` (e.g. "1280x720"), 30 fps.
    pub fn video(mut self, size: &str) -> Self {
        self.inputs.push(format!("testsrc2=size={size}:rate=30"));
        self
    }

    /// A sine of `hz` at 48 kHz.
    pub fn sine(mut self, hz: u32) -> Self {
        self.inputs
            .push(format!("sine=frequency={hz}:sample_rate=48000"));
        self
    }

    /// libx264 (veryfast, yuv420p) with `bframes` B-frames and a keyframe every `gop` frames;
    /// `fixed_gop`: exactly every `gop` (no scene-cut or earlier keyframes).
    pub fn x264(self, bframes: u32, gop: u32, fixed_gop: bool) -> Self {
        let (b, g) = (bframes.to_string(), gop.to_string());
        let clip = self.output(&[
            "-c:v", "libx264", "-preset", "veryfast", "-bf", &b, "-g", &g,
        ]);
        let clip = if fixed_gop {
            clip.output(&["-keyint_min", &g, "-sc_threshold", "0"])
        } else {
            clip
        };
        clip.output(&["-pix_fmt", "yuv420p"])
    }

    /// AAC at `bitrate` (e.g. "128k"), forced to stereo if `stereo`.
    pub fn aac(self, stereo: bool, bitrate: &str) -> Self {
        let clip = self.output(&["-c:a", "aac"]);
        let clip = if stereo {
            clip.output(&["-ac", "2"])
        } else {
            clip
        };
        clip.output(&["-b:a", bitrate])
    }

    /// More output options, as given.
    pub fn output(mut self, args: &[&str]) -> Self {
        self.output.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn make(self) -> PathBuf {
        let mut args: Vec<String> = Vec::new();
        for input in &self.inputs {
            args.extend(["-f", "lavfi", "-i", input].map(String::from));
        }
        args.extend(["-t".to_string(), self.seconds.to_string()]);
        args.extend(self.output);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        media(&self.name, &args)
    }
}

/// One packet: timestamps in milliseconds, payload MD5 in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub pts_ms: i64,
    pub dts_ms: i64,
    pub size: usize,
    pub md5: String,
    pub keyframe: bool,
}

/// Packets of a file as ffprobe sees them, per codec type ("video"/"audio"). An MP4's edit
/// list is ignored: it hides the audio packets past the video's end, which are in the file.
pub fn probe_packets(path: &Path) -> BTreeMap<String, Vec<Packet>> {
    let mut cmd = Command::new("ffprobe");
    if path.extension().is_some_and(|e| e == "mp4") {
        cmd.args(["-ignore_editlist", "1"]);
    }
    let out = cmd
        .args([
            "-v",
            "error",
            "-show_packets",
            "-show_data_hash",
            "MD5",
            "-of",
            "compact",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success());
    let mut map: BTreeMap<String, Vec<Packet>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let fields: BTreeMap<&str, &str> = line
            .split('|')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let Some(kind) = fields.get("codec_type") else {
            continue;
        };
        let ms = |k: &str| -> i64 {
            fields
                .get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .map(|s| (s * 1000.0).round() as i64)
                .unwrap_or(i64::MIN)
        };
        map.entry(kind.to_string()).or_default().push(Packet {
            pts_ms: ms("pts_time"),
            dts_ms: ms("dts_time"),
            size: fields["size"].parse().unwrap(),
            md5: fields["data_hash"]
                .trim_start_matches("MD5:")
                .to_lowercase(),
            keyframe: fields.get("flags").is_some_and(|f| f.starts_with('K')),
        });
    }
    map
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a pad produced.
#[derive(Debug, Default, Clone)]
pub struct PadLog {
    pub caps: Vec<gst::Caps>,
    pub packets: Vec<Packet>,
    pub first_buffer_at: Option<Instant>,
    pub discont_count: usize,
    pub eos: bool,
}

/// Makes `sink` record every buffer (payload MD5, timestamps, flags), its caps and EOS into
/// `logs[name]`.
pub fn record_pad(
    sink: &gst_app::AppSink,
    logs: Arc<Mutex<BTreeMap<String, PadLog>>>,
    name: String,
) {
    logs.lock().unwrap().entry(name.clone()).or_default();
    let log = logs.clone();
    let log_name = name.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().unwrap();
                let map = buffer.map_readable().unwrap();
                let mut logs = log.lock().unwrap();
                let entry = logs.get_mut(&log_name).unwrap();
                if let Some(caps) = sample.caps() {
                    if entry.caps.last() != Some(&caps.to_owned()) {
                        entry.caps.push(caps.to_owned());
                    }
                }
                entry.first_buffer_at.get_or_insert_with(Instant::now);
                if buffer.flags().contains(gst::BufferFlags::DISCONT) {
                    entry.discont_count += 1;
                }
                let pts = buffer.pts().map(|t| t.mseconds() as i64).unwrap_or(-1);
                entry.packets.push(Packet {
                    pts_ms: pts,
                    dts_ms: buffer.dts().map(|t| t.mseconds() as i64).unwrap_or(pts),
                    size: map.len(),
                    md5: md5_hex(&map),
                    keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .eos(move |_| {
                if let Some(e) = logs.lock().unwrap().get_mut(&name) {
                    e.eos = true;
                }
            })
            .build(),
    );
}

/// A pipeline `rtmpserversrc ! appsink` (one appsink per pad) that records everything.
pub struct Receiver {
    pub pipeline: gst::Pipeline,
    pub src: gst::Element,
    pub pads: Arc<Mutex<BTreeMap<String, PadLog>>>,
    pub messages: Arc<Mutex<Vec<gst::Structure>>>,
    pub port: u16,
}

/// Whether `cond` holds within `timeout` (checked every 20 ms, and once more at the end).
pub fn wait_until(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The element's `stats` count of accepted connections.
pub fn connections_accepted(src: &gst::Element) -> u64 {
    let stats = src.property::<gst::Structure>("stats");
    stats.get::<u64>("connections-accepted").unwrap()
}

/// An `rtmpserversrc` on 127.0.0.1 and a free port, with `props` (name/value pairs, as strings).
pub fn loopback_src(props: &[(&str, &str)]) -> gst::Element {
    init();
    let src = gst::ElementFactory::make("rtmpserversrc")
        .property("address", "127.0.0.1")
        .property("port", 0u32)
        .build()
        .unwrap();
    for (k, v) in props {
        src.set_property_from_str(k, v);
    }
    src
}

impl Receiver {
    /// `props`: property name/value pairs set on the element (as strings).
    pub fn start(props: &[(&str, &str)]) -> Receiver {
        let src = loopback_src(props);
        let pipeline = gst::Pipeline::new();
        pipeline.add(&src).unwrap();
        let pads: Arc<Mutex<BTreeMap<String, PadLog>>> = Default::default();
        let pipeline_weak = pipeline.downgrade();
        let pads_cb = pads.clone();
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            let name = pad.name().to_string();
            let sink = gst_app::AppSink::builder().sync(false).build();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
            record_pad(&sink, pads_cb.clone(), name);
        });
        let messages: Arc<Mutex<Vec<gst::Structure>>> = Default::default();
        let bus = pipeline.bus().unwrap();
        let msgs = messages.clone();
        bus.set_sync_handler(move |_, msg| {
            match msg.view() {
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure() {
                        msgs.lock().unwrap().push(s.to_owned());
                    }
                }
                gst::MessageView::Error(e) => {
                    let s = gst::Structure::builder("error")
                        .field("text", e.error().to_string())
                        .build();
                    msgs.lock().unwrap().push(s);
                }
                gst::MessageView::Eos(_) => {
                    msgs.lock().unwrap().push(gst::Structure::new_empty("eos"));
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        // A TLS-only element has no plain port: then `port` is the RTMPS one.
        let port = match src.property::<u32>("bound-port") {
            0 => src.property::<u32>("bound-tls-port") as u16,
            port => port as u16,
        };
        assert_ne!(port, 0);
        Receiver {
            pipeline,
            src,
            pads,
            messages,
            port,
        }
    }

    pub fn url(&self, app_and_key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{}", self.port, app_and_key)
    }

    pub fn pad(&self, name: &str) -> PadLog {
        self.pads
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub fn pad_names(&self) -> Vec<String> {
        self.pads.lock().unwrap().keys().cloned().collect()
    }

    pub fn has_message(&self, name: &str) -> bool {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.name() == name)
    }

    pub fn errors(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name() == "error")
            .map(|s| s.get::<String>("text").unwrap())
            .collect()
    }

    /// Waits until `cond` holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&Receiver) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        cond(self)
    }

    pub fn stop(&self) -> Duration {
        let start = Instant::now();
        self.pipeline.set_state(gst::State::Null).unwrap();
        start.elapsed()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Spawns `ffmpeg -re -i clip -c copy -f flv url` (stderr captured).
pub fn ffmpeg_publish(clip: &Path, url: &str, realtime: bool) -> Child {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.arg("-i")
        .arg(clip)
        .args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn ffmpeg")
}

/// Waits for a child with a deadline, killing it if it overstays. Returns (success, stderr).
pub fn wait_child(mut child: Child, timeout: Duration) -> (bool, String) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (false, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that `got` carries exactly the packets of `want`, in order, with the same payloads,
/// keyframe flags, composition offsets (pts - dts) and spacing (timestamps relative to the first).
pub fn assert_same_packets(kind: &str, want: &[Packet], got: &[Packet]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{kind}: {} packets out, {} in the source",
        got.len(),
        want.len()
    );
    let (w0, g0) = (want[0].dts_ms, got[0].dts_ms);
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(g.md5, w.md5, "{kind} packet {i}: payload differs");
        assert_eq!(g.size, w.size, "{kind} packet {i}: size differs");
        assert_eq!(
            g.keyframe, w.keyframe,
            "{kind} packet {i}: keyframe flag differs"
        );
        assert_eq!(
            g.pts_ms - g.dts_ms,
            w.pts_ms - w.dts_ms,
            "{kind} packet {i}: pts-dts differs"
        );
        assert_eq!(
            g.dts_ms - g0,
            w.dts_ms - w0,
            "{kind} packet {i}: dts spacing differs"
        );
    }
}

/// Publishes 3 s of live test video (H.264 with B-frames) and/or audio (AAC) with GStreamer's
/// rtmp2sink in its own gst-launch-1.0 process. What flvmux produced is also written to `sent`
/// (a tee before rtmp2sink), so the test compares with exactly what the client sent.
/// `extra_sink_props` go on rtmp2sink (e.g. "username=alice"). Returns (success, output).
pub fn rtmp2sink_publish(
    url: &str,
    video: bool,
    audio: bool,
    sent: &Path,
    extra_sink_props: &[&str],
) -> (bool, String) {
    let mut desc = String::new();
    if video {
        desc += "videotestsrc is-live=true num-buffers=90 ! video/x-raw,width=640,height=360,framerate=30/1 \
                 ! x264enc bframes=2 key-int-max=60 speed-preset=veryfast ! h264parse ! queue ! mux.video ";
    }
    if audio {
        desc += "audiotestsrc is-live=true num-buffers=141 samplesperbuffer=1024 \
                 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! mux.audio ";
    }
    desc += &format!(
        "flvmux name=mux streamable=true ! tee name=t t. ! queue ! filesink location={} \
         t. ! queue ! rtmp2sink location={url} {}",
        sent.display(),
        extra_sink_props.join(" ")
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q").args(desc.split_whitespace());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gst-launch-1.0");
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // gst-launch exits 0 on some errors: an ERROR line means the publish failed.
    (out.status.success() && !text.contains("ERROR"), text)
}

/// Waits up to 10 s for `pipeline` to reach EOS (failing on an error message), then stops it.
pub fn expect_eos_then_stop(pipeline: &gst::Element, what: &str) {
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("no EOS: {what}"));
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{what}: {msg:?}");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Resident memory of this test process, in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

pub fn tmp_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

// ---- A current FFmpeg with Enhanced RTMP (tests/enhanced.rs) ----

/// The FFmpeg of the PyPI package imageio-ffmpeg (scripts/deps.sh installs it): a static
/// FFmpeg 9 that writes Enhanced RTMP (HEVC, AV1, VP9, Opus, FLAC, AC-3, multitrack), which
/// Debian 12's FFmpeg 5.1 cannot. `ENHANCED_FFMPEG` overrides the path.
pub fn enhanced_ffmpeg() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("ENHANCED_FFMPEG") {
            return PathBuf::from(path);
        }
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let out = Command::new(&python)
            .args([
                "-c",
                "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
            ])
            .output()
            .unwrap_or_else(|e| panic!("run {python}: {e}"));
        assert!(
            out.status.success(),
            "imageio-ffmpeg is missing (run scripts/deps.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(path.is_file(), "no FFmpeg at {}", path.display());
        path
    })
    .clone()
}

/// Makes `name` (an FLV) with the Enhanced RTMP FFmpeg once (see [`make_flv`]).
pub fn enhanced_media(name: &str, ffmpeg_args: &[&str]) -> PathBuf {
    make_flv(&enhanced_ffmpeg(), name, ffmpeg_args)
}

/// Spawns the Enhanced RTMP FFmpeg publishing `clip` with `-c copy -f flv` (after `map_args`,
/// e.g. `-map 0`) to `url`.
pub fn enhanced_ffmpeg_publish(clip: &Path, url: &str, realtime: bool, map_args: &[&str]) -> Child {
    let mut cmd = Command::new(enhanced_ffmpeg());
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.arg("-i")
        .arg(clip)
        .args(map_args)
        .args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn the Enhanced RTMP ffmpeg")
}

/// One stream of a clip as the Enhanced RTMP FFmpeg demuxes it.
#[derive(Debug, Clone, Default)]
pub struct ProbedStream {
    /// "video" or "audio".
    pub media_type: String,
    /// FFmpeg's codec name ("hevc", "opus" ...).
    pub codec: String,
    pub packets: Vec<Packet>,
}

/// The streams of `clip` in FFmpeg's order, with per-packet MD5, size and timestamps from a
/// framemd5 of a stream copy (original timestamps). framemd5 has no keyframe flags: they are
/// all true here and the caller fills them in.
pub fn enhanced_probe_packets(clip: &Path) -> Vec<ProbedStream> {
    let out = Command::new(enhanced_ffmpeg())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-copyts",
            "-i",
        ])
        .arg(clip)
        .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .expect("run the Enhanced RTMP ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut streams: Vec<ProbedStream> = Vec::new();
    let stream = |streams: &mut Vec<ProbedStream>, index: &str| -> usize {
        let i: usize = index.trim().parse().unwrap();
        if streams.len() <= i {
            streams.resize_with(i + 1, ProbedStream::default);
        }
        i
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(rest) = line.strip_prefix("#tb ") {
            assert!(
                rest.ends_with(" 1/1000"),
                "FLV time base is milliseconds: {line}"
            );
        } else if let Some((index, kind)) = line
            .strip_prefix("#media_type ")
            .and_then(|r| r.split_once(':'))
        {
            let i = stream(&mut streams, index);
            streams[i].media_type = kind.trim().to_string();
        } else if let Some((index, codec)) = line
            .strip_prefix("#codec_id ")
            .and_then(|r| r.split_once(':'))
        {
            let i = stream(&mut streams, index);
            streams[i].codec = codec.trim().to_string();
        } else if !line.starts_with('#') {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() < 6 {
                continue;
            }
            let i = stream(&mut streams, f[0]);
            streams[i].packets.push(Packet {
                dts_ms: f[1].parse().unwrap(),
                pts_ms: f[2].parse().unwrap(),
                size: f[4].parse().unwrap(),
                md5: f[5].to_string(),
                keyframe: true,
            });
        }
    }
    streams
}

/// The cdylib cargo built beside this test binary (`cargo build` puts it one folder up).
pub fn built_plugin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [
        deps.join("libgstrtmpserver.so"),
        deps.parent().unwrap().join("libgstrtmpserver.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("libgstrtmpserver.so next to the test binary (cargo build first)")
}
