// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The report's verdict: one line per finding, empty when the publish is clean. Computed here
//! from the figures alone, and carried in the structure, so the element's messages, `stats`
//! and examples/lab.rs say the same thing.
//!
//! Findings are every counted anomaly and tolerated deviation, plus measures that disagree
//! with what the publisher declared or with themselves, past these tolerances:

use super::{PublishReport, TrackKey};

/// A measured frame rate further than this (relative) from onMetaData's.
pub(super) const FRAME_RATE_TOLERANCE: f64 = 0.05;
/// A measured bitrate further than this from onMetaData's (rate control over a short window
/// wanders; an encoder sending half of what it announces does not).
pub(super) const BITRATE_TOLERANCE: f64 = 0.25;
/// Keyframe intervals whose range (max - min) exceeds this share of their mean.
pub(super) const KEYFRAME_IRREGULARITY: f64 = 0.2;
/// 95 % of arrivals with audio and video further apart than this.
pub(super) const SKEW_P95_LIMIT_MS: u64 = 500;
/// Media a track must span before its rates are judged.
pub(super) const MIN_JUDGED_SECONDS: f64 = 2.0;

fn relative_difference(measured: f64, declared: f64) -> f64 {
    (measured - declared).abs() / declared
}

/// A bitrate as people read it: Mbit/s from 1 Mbit/s, kbit/s below (silent AAC is 2 kbit/s).
fn megabits(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.2} Mbit/s", bps / 1e6)
    } else {
        format!("{:.0} kbit/s", bps / 1e3)
    }
}

/// The findings, in a stable order: publish-wide first, then per track.
pub(super) fn findings(report: &PublishReport) -> Vec<String> {
    let mut out = Vec::new();
    for c in report.tolerated() {
        if c.n > 0 {
            out.push(format!("tolerated: {}: {}", c.text, c.n));
        }
    }
    let jumps = report.jumps();
    if jumps.n > 0 {
        out.push(format!("{}: {}", jumps.text, jumps.n));
    }
    if let Some(p95) = report.skew.percentile_ms(0.95) {
        if p95 > SKEW_P95_LIMIT_MS {
            out.push(format!(
                "audio and video arrive up to {} ms apart (95 % within {p95} ms)",
                report.skew.max_ms().unwrap_or(p95)
            ));
        }
    }
    for (key, t) in report.timings() {
        let pad = key.pad_name();
        for c in PublishReport::track_anomalies(t) {
            if c.n > 0 {
                out.push(format!("{pad}: {}: {}", c.text, c.n));
            }
        }
        let judged = t.span_seconds() >= MIN_JUDGED_SECONDS;
        let (declared_fps, declared_bps) = report.declared.for_track(key);
        if let (Some(fps), Some(declared), true) = (t.frame_rate(), declared_fps, judged) {
            if relative_difference(fps, declared) > FRAME_RATE_TOLERANCE {
                out.push(format!(
                    "{pad}: {fps:.2} fps, onMetaData declared {declared:.2}"
                ));
            }
        }
        if let (Some(bps), Some(declared), true) = (t.bitrate(), declared_bps, judged) {
            if relative_difference(bps, declared) > BITRATE_TOLERANCE {
                out.push(format!(
                    "{pad}: {}, onMetaData declared {}",
                    megabits(bps),
                    megabits(declared)
                ));
            }
        }
        let intervals = &t.keyframe_interval;
        if let (TrackKey::Video(_), Some(min), Some(max), Some(mean)) =
            (key, intervals.min(), intervals.max(), intervals.mean())
        {
            if mean > 0.0 && (max - min) > KEYFRAME_IRREGULARITY * mean {
                out.push(format!(
                    "{pad}: irregular keyframe interval: {min:.0} to {max:.0} ms"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Media, PublishReport};
    use super::*;
    use crate::rtmp::{Amf0Value, SessionObservations};

    const V: TrackKey = TrackKey::Video(0);

    fn with_metadata(fps: f64, kbps: f64) -> PublishReport {
        let mut r = PublishReport::default();
        r.on_metadata(&Amf0Value::EcmaArray(vec![
            ("framerate".into(), Amf0Value::Number(fps)),
            ("videodatarate".into(), Amf0Value::Number(kbps)),
        ]));
        r
    }

    /// `seconds` of video at `fps`, `bytes` a frame, a keyframe every `gop` frames.
    fn video(r: &mut PublishReport, fps: u32, seconds: u32, bytes: usize, gop: u32) {
        for i in 0..fps * seconds {
            r.on_media_message(Media::Video, i * 1000 / fps);
            r.on_frame(V, i % gop == 0, 0, 0, bytes);
        }
    }

    #[test]
    fn a_publish_as_declared_is_ok() {
        // 30 fps, 10,000 bytes a frame: 2.4 Mbit/s, as declared.
        let mut r = with_metadata(30.0, 2400.0);
        video(&mut r, 30, 3, 10_000, 30);
        assert_eq!(findings(&r), Vec::<String>::new());
    }

    #[test]
    fn rates_off_the_declaration_are_findings() {
        let mut r = with_metadata(30.0, 2400.0);
        video(&mut r, 25, 3, 5_000, 25);
        assert_eq!(
            findings(&r),
            [
                "video_0: 25.00 fps, onMetaData declared 30.00",
                "video_0: 1.00 Mbit/s, onMetaData declared 2.40 Mbit/s"
            ]
        );
        // Not before two seconds of media.
        let mut r = with_metadata(30.0, 2400.0);
        video(&mut r, 25, 1, 5_000, 25);
        assert_eq!(findings(&r), Vec::<String>::new());
    }

    #[test]
    fn counts_and_irregular_keyframes_are_findings() {
        // 91 frames over 3.2 s: 28.1 fps.
        let mut r = with_metadata(28.0, 2400.0);
        let mut o = SessionObservations::default();
        o.chunk.extended_timestamp_not_repeated = 3;
        r.set_session(o);
        for i in 0..90u32 {
            r.on_media_message(Media::Video, i * 1000 / 30);
            // Keyframes at 0, 1 s and 3 s.
            r.on_frame(V, matches!(i, 0 | 30 | 89), 0, 0, 10_000);
        }
        r.on_media_message(Media::Video, 3200);
        r.on_frame(V, false, 0, 0, 10_000);
        assert_eq!(
            findings(&r),
            [
                "tolerated: type-3 chunks without the repeated extended timestamp: 3",
                "video_0: gaps over two frame intervals: 1",
                "video_0: irregular keyframe interval: 1000 to 1966 ms"
            ]
        );
    }

    #[test]
    fn skew_beyond_the_limit_is_a_finding() {
        let mut r = with_metadata(30.0, 2400.0);
        for i in 0..100u32 {
            r.on_media_message(Media::Video, 1000 + i * 10);
            r.on_media_message(Media::Audio, i * 10);
        }
        assert_eq!(
            findings(&r),
            ["audio and video arrive up to 1010 ms apart (95 % within 1010 ms)"]
        );
    }
}
