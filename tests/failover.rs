// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Backup encoders (`failover`): two real FFmpeg 5.1 publishers of one stream, the primary
//! killed, restarted, stalled and resumed, recorded through matroskamux as a user would; the
//! recording must decode without error, time must never run back and the largest step between
//! video frames must stay within `failover-timeout` plus one frame.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use common::*;

const FAILOVER_TIMEOUT_MS: u64 = 1000;
const FRAME_MS: f64 = 1000.0 / 30.0;

/// `rtmpserversrc failover=true ! h264parse/aacparse ! matroskamux ! filesink` (or another
/// muxer), launched from a gst-launch-1.0 description, with the bus's messages collected.
struct Recording {
    pipeline: gst::Pipeline,
    src: gst::Element,
    messages: Arc<Mutex<Vec<gst::Structure>>>,
    path: PathBuf,
    port: u16,
}

impl Recording {
    fn start(name: &str) -> Recording {
        Self::start_with(name, "mkv", "h264parse ! matroskamux")
    }

    /// `video` links the video pad to the muxer named `mux`.
    fn start_with(name: &str, extension: &str, video: &str) -> Recording {
        Self::launch(name, extension, |path| {
            format!(
                "src.video_0 ! queue ! {video} name=mux ! filesink location={path} \
                 src.audio_0 ! queue ! aacparse ! mux."
            )
        })
    }

    /// Audio-only publishers (a radio stream): `src.audio_0 ! aacparse ! matroskamux`.
    fn start_audio_only(name: &str) -> Recording {
        Self::launch(name, "mka", |path| {
            format!("src.audio_0 ! queue ! aacparse ! matroskamux ! filesink location={path}")
        })
    }

    /// `branches` gets the recording's path and links the element's pads.
    fn launch(name: &str, extension: &str, branches: impl Fn(&str) -> String) -> Recording {
        init();
        let path = tmp_path(&format!("failover-{name}.{extension}"));
        let _ = std::fs::remove_file(&path);
        let description = format!(
            "rtmpserversrc name=src address=127.0.0.1 port=0 application=live stream-key=KEY \
             failover=true failover-timeout={FAILOVER_TIMEOUT_MS} eos-on-disconnect=true {}",
            branches(&path.display().to_string())
        );
        let pipeline = gst::parse::launch(&description)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let src = pipeline.by_name("src").unwrap();
        let messages: Arc<Mutex<Vec<gst::Structure>>> = Default::default();
        let msgs = messages.clone();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            match msg.view() {
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure() {
                        msgs.lock().unwrap().push(s.to_owned());
                    }
                }
                gst::MessageView::Error(e) => msgs.lock().unwrap().push(
                    gst::Structure::builder("error")
                        .field("text", format!("{} ({:?})", e.error(), e.debug()))
                        .build(),
                ),
                gst::MessageView::Eos(_) => {
                    msgs.lock().unwrap().push(gst::Structure::new_empty("eos"))
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let port = src.property::<u32>("bound-port") as u16;
        Recording {
            pipeline,
            src,
            messages,
            path,
            port,
        }
    }

    fn url(&self, backup: bool) -> String {
        let query = if backup { "?backup=1" } else { "" };
        format!("rtmp://127.0.0.1:{}/live/KEY{query}", self.port)
    }

    fn messages(&self, name: &str) -> Vec<gst::Structure> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name() == name)
            .cloned()
            .collect()
    }

    /// Waits for EOS (both publishers gone, eos-on-disconnect), then stops.
    fn finish(self, timeout: Duration) -> (PathBuf, Vec<gst::Structure>) {
        let deadline = Instant::now() + timeout;
        while self.messages("eos").is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !self.messages("eos").is_empty(),
            "no EOS after both publishers left"
        );
        assert!(
            self.messages("error").is_empty(),
            "{:?}",
            self.messages("error")
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        let messages = self.messages.lock().unwrap().clone();
        (self.path.clone(), messages)
    }

    fn stats(&self) -> gst::Structure {
        self.src.property::<gst::Structure>("stats")
    }

    /// Whether the pads show `role`'s publisher ("primary" or "backup"), within `within`.
    fn shows(&self, role: &str, within: Duration) -> bool {
        wait_until(within, || {
            self.stats()
                .get::<String>("failover-active")
                .ok()
                .as_deref()
                == Some(role)
        })
    }

    /// Starts the primary's ffmpeg, waits until the pads show it, then starts the backup's and
    /// waits until it publishes: started together, the backup's media may come first under
    /// load, and the pads would start on the backup.
    fn publish_pair(&self, primary: &Path, backup: &Path) -> (Child, Child) {
        let first = publish(primary, &self.url(false), None);
        assert!(
            self.shows("primary", Duration::from_secs(10)),
            "{:?}",
            self.stats()
        );
        let second = publish(backup, &self.url(true), None);
        assert!(
            self.backup_publishing(Duration::from_secs(10)),
            "{:?}",
            self.stats()
        );
        (first, second)
    }

    /// Whether the backup publishes, within `within`.
    fn backup_publishing(&self, within: Duration) -> bool {
        wait_until(within, || {
            self.stats()
                .get::<bool>("backup-publishing")
                .unwrap_or(false)
        })
    }
}

/// Each ffmpeg (named for the message) exits successfully within 30 s.
fn wait_publishers(publishers: Vec<(Child, &str)>) {
    for (child, name) in publishers {
        let (ok, err) = wait_child(child, Duration::from_secs(30));
        assert!(ok, "{name} ffmpeg failed: {err}");
    }
}

/// `ffmpeg -re` publishing `clip` (optionally only its first `seconds`).
fn publish(clip: &Path, url: &str, seconds: Option<u32>) -> Child {
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-i",
    ])
    .arg(clip);
    if let Some(s) = seconds {
        cmd.args(["-t", &s.to_string()]);
    }
    cmd.args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn ffmpeg")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// What FFmpeg says when it decodes the whole recording (nothing, for a clean one).
fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg could not read {}",
        path.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Presentation times (ms) of a stream's packets, in presentation order.
fn pts_ms(path: &Path, stream: &str) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let mut times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .map(|s| s * 1000.0)
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times
}

fn largest_step(times: &[f64]) -> f64 {
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

fn smallest_step(times: &[f64]) -> f64 {
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min)
}

fn widths(path: &Path) -> Vec<u32> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=width",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let mut seen = Vec::new();
    for w in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<u32>().ok())
    {
        if seen.last() != Some(&w) {
            seen.push(w);
        }
    }
    seen
}

fn switches(messages: &[gst::Structure]) -> Vec<(String, String, u64)> {
    messages
        .iter()
        .filter(|s| s.name() == "rtmpserversrc-failover")
        .map(|s| {
            (
                s.get::<String>("to").unwrap(),
                s.get::<String>("reason").unwrap(),
                s.get::<u64>("gap-ms").unwrap(),
            )
        })
        .collect()
}

/// A 720p clip and, for the different-resolution case, the same content at 480p with its own
/// encoder settings (a different codec configuration).
/// The switches were: to the primary (first publisher), to the backup for `reason`, back to
/// the primary; returns them.
fn assert_out_and_back(messages: &[gst::Structure], reason: &str) -> Vec<(String, String, u64)> {
    let switches = switches(messages);
    assert_eq!(switches.len(), 3, "{switches:?}");
    assert_eq!(switches[0].0, "primary");
    assert_eq!(
        (switches[1].0.as_str(), switches[1].1.as_str()),
        ("backup", reason)
    );
    assert_eq!(
        (switches[2].0.as_str(), switches[2].1.as_str()),
        ("primary", "primary back")
    );
    switches
}

fn clip_480p(seconds: u32) -> PathBuf {
    LavfiClip::new(&format!("h264_aac_480p_{seconds}s.flv"), seconds)
        .video("854x480")
        .sine(660)
        .x264(2, 60, true)
        .output(&["-b:v", "1M"])
        .aac(true, "128k")
        .make()
}

fn assert_continuous(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let errors = decode_errors(path);
    assert!(errors.trim().is_empty(), "decode errors:\n{errors}");
    let video = pts_ms(path, "v");
    let audio = pts_ms(path, "a");
    assert!(video.len() > 300, "{} video frames", video.len());
    let step = largest_step(&video);
    assert!(
        step <= FAILOVER_TIMEOUT_MS as f64 + FRAME_MS + 1.0,
        "largest step between video frames: {step:.0} ms"
    );
    (video, audio)
}

/// The scenario: a 30 s clip from both, the primary killed at 10 s and restarted at
/// 20 s (for 12 s); the backup takes over at once and hands back at the primary's keyframe.
#[test]
fn a_killed_primary_is_replaced_by_the_backup_and_returns_at_its_keyframe() {
    let clip = clip_h264_aac(30);
    let rec = Recording::start("kill");
    let start = Instant::now();
    let (mut primary, backup) = rec.publish_pair(&clip, &clip);
    sleep_until(start + Duration::from_secs(10));
    primary.kill().unwrap();
    let _ = primary.wait();
    assert!(rec.shows("backup", Duration::from_secs(3)));
    sleep_until(start + Duration::from_secs(20));
    let restarted = publish(&clip, &rec.url(false), Some(12));
    assert!(
        rec.shows("primary", Duration::from_secs(8)),
        "the primary did not come back"
    );
    wait_publishers(vec![(backup, "backup"), (restarted, "restarted primary")]);
    let (path, messages) = rec.finish(Duration::from_secs(10));

    let switches = assert_out_and_back(&messages, "disconnected");
    assert!(switches[1].2 <= FAILOVER_TIMEOUT_MS + FRAME_MS as u64 + 1);
    let (video, audio) = assert_continuous(&path);
    // About 32 s of video: the primary until 10 s, the backup until ~20 s, the primary again.
    let span = video.last().unwrap() - video.first().unwrap();
    assert!(span > 28_000.0, "video spans {span:.0} ms");
    // Audio goes on through both switches.
    assert!(audio.last().unwrap() - audio.first().unwrap() > 28_000.0);
    assert!(largest_step(&audio) <= FAILOVER_TIMEOUT_MS as f64 + FRAME_MS + 25.0);
}

/// A radio stream: audio-only primary and backup. The primary is killed and restarted; without
/// video there is no keyframe to wait for, so the backup shows at once and the primary returns
/// at its first frame that is not behind what played.
#[test]
fn an_audio_only_primary_is_replaced_and_returns() {
    let clip = clip_audio_only(12);
    let rec = Recording::start_audio_only("audio-only");
    let start = Instant::now();
    let (mut primary, backup) = rec.publish_pair(&clip, &clip);
    sleep_until(start + Duration::from_secs(4));
    primary.kill().unwrap();
    let _ = primary.wait();
    assert!(rec.shows("backup", Duration::from_secs(3)));
    sleep_until(start + Duration::from_secs(7));
    // It outlasts the backup (12 s), so the end is no switch back.
    let restarted = publish(&clip, &rec.url(false), Some(7));
    assert!(
        rec.shows("primary", Duration::from_secs(5)),
        "the audio-only primary did not come back: {:?}",
        rec.stats()
    );
    wait_publishers(vec![(backup, "backup"), (restarted, "restarted primary")]);
    let (path, messages) = rec.finish(Duration::from_secs(10));

    assert_out_and_back(&messages, "disconnected");
    let errors = decode_errors(&path);
    assert!(errors.is_empty(), "{errors}");
    let audio = pts_ms(&path, "a");
    // The primary until 4 s, the backup until ~7 s, the primary again to ~14 s; no hole of
    // more than two AAC frames at either switch.
    let span = audio.last().unwrap() - audio.first().unwrap();
    assert!(span > 13_000.0, "audio spans {span:.0} ms");
    let step = largest_step(&audio);
    assert!(
        step <= 50.0,
        "largest step between audio frames: {step:.0} ms"
    );
    // Nor two frames on top of each other: an AAC frame is 21.3 ms (the file keeps ms).
    let step = smallest_step(&audio);
    assert!(
        step >= 20.0,
        "smallest step between audio frames: {step:.1} ms"
    );
}

/// A backup at another resolution: caps change at the switch and the recording plays through.
/// Matroska cannot change a video track's size mid-stream (matroskamux refuses the caps, as it
/// would from any source), so this one records MPEG-TS, which can.
#[test]
fn a_backup_at_another_resolution_changes_caps_at_the_switch() {
    let clip = clip_h264_aac(14);
    let other = clip_480p(14);
    let rec = Recording::start_with(
        "resolution",
        "ts",
        "h264parse config-interval=-1 ! mpegtsmux",
    );
    let start = Instant::now();
    let (mut primary, backup) = rec.publish_pair(&clip, &other);
    sleep_until(start + Duration::from_secs(6));
    primary.kill().unwrap();
    let _ = primary.wait();
    let (ok, err) = wait_child(backup, Duration::from_secs(30));
    assert!(ok, "backup ffmpeg failed: {err}");
    let (path, messages) = rec.finish(Duration::from_secs(10));
    let switches = switches(&messages);
    assert_eq!(switches.last().unwrap().0, "backup", "{switches:?}");
    assert_continuous(&path);
    assert_eq!(widths(&path), vec![1280, 854]);
}

/// A stalled primary (SIGSTOP) is replaced after `failover-timeout`; resumed (SIGCONT), it
/// takes over again only at a keyframe once it caught up.
#[test]
fn a_stalled_primary_is_replaced_after_the_timeout_and_returns_at_a_keyframe() {
    let clip = clip_h264_aac(16);
    let rec = Recording::start("stall");
    let start = Instant::now();
    let (primary, backup) = rec.publish_pair(&clip, &clip);
    sleep_until(start + Duration::from_secs(5));
    signal(&primary, "-STOP");
    let stopped = Instant::now();
    assert!(rec.shows("backup", Duration::from_secs(4)));
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_millis(FAILOVER_TIMEOUT_MS - 100)
            && took < Duration::from_millis(2500),
        "switched {took:?} after the stall"
    );
    sleep_until(start + Duration::from_secs(9));
    signal(&primary, "-CONT");
    assert!(
        rec.shows("primary", Duration::from_secs(6)),
        "the primary did not come back"
    );
    wait_publishers(vec![(backup, "backup"), (primary, "primary")]);
    let (path, messages) = rec.finish(Duration::from_secs(10));
    let switches = switches(&messages);
    let reasons: Vec<&str> = switches.iter().map(|s| s.1.as_str()).collect();
    // Whichever publisher finishes its clip first hands over to the other at the end.
    assert_eq!(
        reasons[..3],
        ["first publisher", "no media", "primary back"]
    );
    assert_continuous(&path);
}

fn sleep_until(at: Instant) {
    if let Some(d) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}
