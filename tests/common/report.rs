// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The publish report's figures against the source's (tests/report.rs and tests/obs.rs): what a
//! clip or a recorded pad holds, computed as the report defines it, and the assertions that
//! the report agrees.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Packet, Receiver};

/// Relative tolerance of measured rates against the source's own.
pub const TOLERANCE: f64 = 0.05;

/// The bus message that carries a finished publish's report (in its `report` field).
pub const REPORT_MESSAGE: &str = "rtmpserversrc-publish-report";

/// What a clip holds, from its packets (decode order, as they are sent).
#[derive(Debug)]
pub struct Figures {
    pub frames: u64,
    pub fps: f64,
    pub bitrate: f64,
    /// Frames from one keyframe to the next, in decode order; complete groups only.
    pub gops: Vec<f64>,
    /// Milliseconds between keyframes, in presentation time.
    pub keyframe_intervals: Vec<f64>,
}

/// The figures of `packets` as the report defines them: the frame rate is the intervals over
/// the decode time they span, the bitrate the mean frame size times the frame rate.
pub fn figures(packets: &[Packet]) -> Figures {
    let n = packets.len();
    assert!(n > 2, "too few packets");
    let span_s = (packets[n - 1].dts_ms - packets[0].dts_ms) as f64 / 1000.0;
    let fps = (n - 1) as f64 / span_s;
    let bytes: usize = packets.iter().map(|p| p.size).sum();
    let keys: Vec<usize> = (0..n).filter(|&i| packets[i].keyframe).collect();
    Figures {
        frames: n as u64,
        fps,
        bitrate: bytes as f64 * 8.0 * fps / n as f64,
        gops: keys.windows(2).map(|w| (w[1] - w[0]) as f64).collect(),
        keyframe_intervals: keys
            .windows(2)
            .map(|w| (packets[w[1]].pts_ms - packets[w[0]].pts_ms) as f64)
            .collect(),
    }
}

/// Intervals between `dts_ms` that the report calls gaps (src/rtmpserversrc/publish_report/
/// track.rs): longer than twice the mean of the regular intervals before them, once there are
/// three; steps of zero and steps back are neither.
pub fn gaps(dts_ms: &[i64]) -> u64 {
    let (mut regular_span, mut regular_steps, mut gaps) = (0i64, 0i64, 0u64);
    for step in dts_ms.windows(2).map(|w| w[1] - w[0]).filter(|&s| s > 0) {
        if regular_steps >= 3 && step * regular_steps > 2 * regular_span {
            gaps += 1;
        } else {
            regular_span += step;
            regular_steps += 1;
        }
    }
    gaps
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// `got` is within `tolerance` (relative) of `want`.
pub fn within(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance * want.abs(),
        "{what}: report says {got:.3}, the source {want:.3} (tolerance {:.0} %)",
        tolerance * 100.0
    );
}

/// `got` is within [`TOLERANCE`] of `want`.
pub fn close(what: &str, got: f64, want: f64) {
    within(what, got, want, TOLERANCE);
}

pub fn find_track(report: &gst::StructureRef, pad: &str) -> Option<gst::Structure> {
    report
        .get::<gst::Array>("tracks")
        .unwrap()
        .iter()
        .map(|v| v.get::<gst::Structure>().unwrap())
        .find(|t| t.get::<&str>("pad") == Ok(pad))
}

pub fn track(report: &gst::StructureRef, pad: &str) -> gst::Structure {
    find_track(report, pad).unwrap_or_else(|| panic!("no {pad} in {report}"))
}

/// The track's figures agree with the clip's; `nominal` is (fps, GOP) the clip was made with.
pub fn assert_matches(report: &gst::StructureRef, pad: &str, clip: &Figures, nominal: (f64, f64)) {
    let t = track(report, pad);
    assert_eq!(t.get::<u64>("frames").unwrap(), clip.frames, "{pad} frames");
    close(
        &format!("{pad} fps"),
        t.get("frame-rate").unwrap(),
        clip.fps,
    );
    close(
        &format!("{pad} fps (nominal)"),
        t.get("frame-rate").unwrap(),
        nominal.0,
    );
    close(
        &format!("{pad} bitrate"),
        t.get("bitrate").unwrap(),
        clip.bitrate,
    );
    if t.get::<&str>("kind") != Ok("video") {
        return;
    }
    let gop_min = clip.gops.iter().copied().fold(f64::INFINITY, f64::min);
    let gop_max = clip.gops.iter().copied().fold(0.0, f64::max);
    assert_eq!(t.get::<u64>("gop-count").unwrap(), clip.gops.len() as u64);
    assert_eq!(t.get::<f64>("gop-min").unwrap(), gop_min, "{pad} GOP min");
    assert_eq!(t.get::<f64>("gop-max").unwrap(), gop_max, "{pad} GOP max");
    close(
        &format!("{pad} GOP"),
        t.get("gop-mean").unwrap(),
        mean(&clip.gops),
    );
    close(
        &format!("{pad} GOP (nominal)"),
        t.get("gop-mean").unwrap(),
        nominal.1,
    );
    close(
        &format!("{pad} keyframe interval"),
        t.get("keyframe-interval-mean").unwrap(),
        mean(&clip.keyframe_intervals),
    );
}

/// The reports among `messages` (bus messages as structures), in order.
pub fn reports(messages: &Mutex<Vec<gst::Structure>>) -> Vec<gst::Structure> {
    messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == REPORT_MESSAGE)
        .map(|s| s.get::<gst::Structure>("report").unwrap())
        .collect()
}

/// The report of the `n`-th publish (from 1) among `messages`, waiting up to 15 s for it.
pub fn nth_report(messages: &Mutex<Vec<gst::Structure>>, n: usize) -> gst::Structure {
    let deadline = Instant::now() + Duration::from_secs(15);
    while reports(messages).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut all = reports(messages);
    assert!(
        all.len() >= n,
        "no report for publish {n}: {:?}",
        messages.lock().unwrap()
    );
    all.swap_remove(n - 1)
}

/// The report of the `n`-th publish (from 1), from its `rtmpserversrc-publish-report` message.
pub fn final_report(rx: &Receiver, n: usize) -> gst::Structure {
    nth_report(&rx.messages, n)
}

/// Every tolerated deviation of `report`, by its field.
pub fn deviations(report: &gst::StructureRef) -> Vec<(String, u64)> {
    report
        .get::<gst::Structure>("deviations")
        .unwrap()
        .iter()
        .map(|(name, value)| (name.to_string(), value.get::<u64>().unwrap()))
        .collect()
}

/// A clean publish: no anomaly, no deviation, and a verdict that says so.
pub fn assert_clean(report: &gst::StructureRef) {
    assert_eq!(report.get::<u64>("anomaly-count").unwrap(), 0, "{report}");
    assert_eq!(report.get::<u64>("deviation-count").unwrap(), 0, "{report}");
    assert_eq!(report.get::<&str>("verdict").unwrap(), "ok", "{report}");
}
