// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! One track's timing as the encoder sent it: frame rate, bitrate, GOP structure, composition
//! offsets and the timestamp anomalies a receiver has to cope with.
//!
//! Times are the publisher's own (RTMP milliseconds unwrapped, plus the Enhanced RTMP
//! nanosecond offset), not the pipeline's running time, so what is measured is the encoder.
//! A timestamp jump (see `publish_report`) starts a new "epoch": intervals across it are not
//! measured, so a jump counts as a jump and not also as a gap or a step back.

use super::running::RunningStats;

/// How many regular intervals a track needs before a longer one can be called a gap.
const GAP_BASELINE_INTERVALS: u64 = 3;

#[derive(Debug, Clone, Default)]
pub(in crate::rtmpserversrc) struct TrackTiming {
    pub frames: u64,
    pub keyframes: u64,
    /// Coded payload bytes (the FLV tag headers excluded), as a demuxer would count them.
    pub bytes: u64,
    /// Frames whose composition time offset (PTS - DTS) is not zero.
    pub composition_offsets: u64,
    /// Frames presented before a frame decoded earlier: B-frames (or reordering).
    pub reordered: u64,
    pub dts_backwards: u64,
    pub pts_before_dts: u64,
    /// Intervals longer than twice the track's regular interval.
    pub gaps: u64,
    pub sequence_headers: u64,
    /// Sequence headers whose record differs from the previous one.
    pub sequence_header_changes: u64,
    /// Frames per group of pictures, counted in decode order from a keyframe to the next (what
    /// a receiver joining at a keyframe gets before the next one); only complete groups.
    pub gop: RunningStats,
    /// Milliseconds between keyframes, in presentation time: with open GOPs (x265's default)
    /// a keyframe is decoded before the B-frames shown ahead of it, so decode times would
    /// make a steady one-second interval look irregular.
    pub keyframe_interval: RunningStats,
    last_dts_ns: Option<i64>,
    max_pts_ns: Option<i64>,
    epoch: u64,
    /// DTS steps summed (all, within epochs) and counted: the frame rate's measure.
    span_ns: i64,
    steps: u64,
    /// Positive steps that were not gaps: the baseline a gap is measured against.
    regular_span_ns: i64,
    regular_steps: u64,
    /// Frames since the last keyframe, that keyframe included; None before the first.
    gop_frames: Option<u64>,
    last_keyframe_pts_ns: Option<i64>,
}

impl TrackTiming {
    /// One coded frame: `dts_ns` on the publisher's clock, `epoch` the publish's timestamp
    /// epoch, `composition_ms` its PTS - DTS.
    pub fn on_frame(
        &mut self,
        dts_ns: i64,
        epoch: u64,
        keyframe: bool,
        composition_ms: i32,
        size: usize,
    ) {
        self.frames += 1;
        self.bytes = self.bytes.saturating_add(size as u64);
        if epoch != self.epoch {
            // Nothing measures across a timestamp jump.
            self.epoch = epoch;
            self.last_dts_ns = None;
            self.max_pts_ns = None;
            self.last_keyframe_pts_ns = None;
        }
        if let Some(last) = self.last_dts_ns {
            self.on_step(dts_ns.saturating_sub(last));
        }
        self.last_dts_ns = Some(dts_ns);

        let pts_ns = dts_ns.saturating_add(i64::from(composition_ms) * 1_000_000);
        if composition_ms != 0 {
            self.composition_offsets += 1;
        }
        if composition_ms < 0 {
            self.pts_before_dts += 1;
        }
        match self.max_pts_ns {
            Some(max) if pts_ns < max => self.reordered += 1,
            _ => self.max_pts_ns = Some(pts_ns),
        }

        if keyframe {
            self.keyframes += 1;
            if let Some(frames) = self.gop_frames {
                self.gop.add(frames as f64);
            }
            self.gop_frames = Some(1);
            if let Some(last) = self.last_keyframe_pts_ns {
                self.keyframe_interval
                    .add(pts_ns.saturating_sub(last) as f64 / 1e6);
            }
            self.last_keyframe_pts_ns = Some(pts_ns);
        } else if let Some(frames) = self.gop_frames.as_mut() {
            *frames += 1;
        }
    }

    fn on_step(&mut self, step: i64) {
        self.span_ns = self.span_ns.saturating_add(step);
        self.steps += 1;
        if step < 0 {
            self.dts_backwards += 1;
            return;
        }
        if step == 0 {
            // Two frames at one instant is no interval: it neither sets the baseline nor is a gap.
            return;
        }
        let is_gap = self
            .regular_interval_ns()
            .is_some_and(|regular| step as f64 > 2.0 * regular);
        if is_gap {
            self.gaps += 1;
        } else {
            self.regular_span_ns = self.regular_span_ns.saturating_add(step);
            self.regular_steps += 1;
        }
    }

    /// The mean of the track's regular intervals, once there are enough to judge by.
    fn regular_interval_ns(&self) -> Option<f64> {
        (self.regular_steps >= GAP_BASELINE_INTERVALS)
            .then(|| self.regular_span_ns as f64 / self.regular_steps as f64)
    }

    /// Media time the track's frames span (timestamp jumps excluded), in seconds.
    pub fn span_seconds(&self) -> f64 {
        self.span_ns as f64 / 1e9
    }

    /// Frames per second of media time: intervals measured over the time they span.
    pub fn frame_rate(&self) -> Option<f64> {
        (self.span_ns > 0 && self.steps > 0).then(|| self.steps as f64 / self.span_seconds())
    }

    /// Bits per second of media time: the mean frame size times the frame rate (so a clip of
    /// N frames at F fps counts N / F seconds, its last frame's duration included).
    pub fn bitrate(&self) -> Option<f64> {
        let rate = self.frame_rate()?;
        (self.frames > 0).then(|| self.bytes as f64 * 8.0 * rate / self.frames as f64)
    }

    /// A sequence header arrived; `changed` when its record differs from the previous one.
    pub fn on_sequence_header(&mut self, changed: bool) {
        self.sequence_headers += 1;
        if changed {
            self.sequence_header_changes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// `n` frames at 30 fps in whole milliseconds (33/33/34 ms), a keyframe every `gop`.
    fn steady(t: &mut TrackTiming, from: u64, n: u64, gop: u64, size: usize) -> i64 {
        let mut dts = 0;
        for i in from..from + n {
            dts = (i * 1000 / 30) as i64 * MS;
            t.on_frame(dts, 0, i % gop == 0, 0, size);
        }
        dts
    }

    #[test]
    fn steady_30fps_with_a_fixed_gop() {
        let mut t = TrackTiming::default();
        steady(&mut t, 0, 150, 30, 1000);
        assert_eq!((t.frames, t.keyframes), (150, 5));
        assert!((t.frame_rate().unwrap() - 30.0).abs() < 0.01);
        // 1000 bytes a frame at 30 fps: 240 kbit/s.
        assert!((t.bitrate().unwrap() - 240_000.0).abs() < 100.0);
        // Four complete GOPs of 30 frames; the fifth is still open.
        assert_eq!(t.gop.count(), 4);
        assert_eq!((t.gop.min(), t.gop.max()), (Some(30.0), Some(30.0)));
        assert_eq!(t.keyframe_interval.mean(), Some(1000.0));
        assert_eq!(t.keyframe_interval.stddev(), Some(0.0));
        assert_eq!(
            (t.dts_backwards, t.pts_before_dts, t.gaps, t.reordered),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn b_frames_are_reordered_not_anomalies() {
        // I P B B in decode order: PTS 66, 166, 100, 133 for DTS 0, 33, 66, 100.
        let mut t = TrackTiming::default();
        for (i, cts) in [66, 133, 34, 33].into_iter().enumerate() {
            t.on_frame(i as i64 * 33 * MS, 0, i == 0, cts, 10);
        }
        assert_eq!(t.composition_offsets, 4);
        assert_eq!(t.reordered, 2);
        assert_eq!((t.dts_backwards, t.pts_before_dts, t.gaps), (0, 0, 0));
    }

    #[test]
    fn each_anomaly_counts_once() {
        let mut t = TrackTiming::default();
        let last = steady(&mut t, 0, 30, 30, 10);
        // DTS 10 ms back, then on again.
        t.on_frame(last - 10 * MS, 0, false, 0, 10);
        assert_eq!(t.dts_backwards, 1);
        t.on_frame(last + 33 * MS, 0, false, 0, 10);
        // PTS before DTS.
        t.on_frame(last + 66 * MS, 0, false, -10, 10);
        assert_eq!(t.pts_before_dts, 1);
        // A 200 ms hole: one gap, and the next steady interval is no gap.
        t.on_frame(last + 266 * MS, 0, false, 0, 10);
        t.on_frame(last + 300 * MS, 0, false, 0, 10);
        assert_eq!((t.gaps, t.dts_backwards, t.pts_before_dts), (1, 1, 1));
    }

    #[test]
    fn nothing_is_measured_across_an_epoch() {
        let mut t = TrackTiming::default();
        let last = steady(&mut t, 0, 30, 30, 10);
        let fps = t.frame_rate().unwrap();
        // The publisher's clock restarts at 0 (a jump): a new epoch, not a step back.
        t.on_frame(0, 1, true, 0, 10);
        t.on_frame(33 * MS, 1, false, 0, 10);
        assert_eq!((t.dts_backwards, t.gaps), (0, 0));
        assert!(last > 0);
        assert!((t.frame_rate().unwrap() - fps).abs() < 1.0);
        // The keyframe after the jump closes no interval.
        assert_eq!(t.keyframe_interval.count(), 0);
    }

    #[test]
    fn a_gap_needs_a_baseline_first() {
        let mut t = TrackTiming::default();
        for dts in [0, 40, 400, 440, 480, 520, 1500] {
            t.on_frame(dts * MS, 0, false, 0, 1);
        }
        // 40 -> 400 came before three regular intervals; 520 -> 1500 after them.
        assert_eq!(t.gaps, 1);
    }

    #[test]
    fn keyframe_intervals_are_in_presentation_time() {
        // Open GOP: the second keyframe, shown a second after the first, is decoded 934 ms
        // after it, ahead of the B-frames shown before it.
        let mut t = TrackTiming::default();
        t.on_frame(0, 0, true, 66, 1);
        t.on_frame(934 * MS, 0, true, 132, 1);
        t.on_frame(967 * MS, 0, false, 33, 1);
        assert_eq!(t.keyframe_interval.mean(), Some(1000.0));
        assert_eq!(t.reordered, 1);
    }

    #[test]
    fn sequence_header_changes() {
        let mut t = TrackTiming::default();
        t.on_sequence_header(false);
        t.on_sequence_header(false);
        t.on_sequence_header(true);
        assert_eq!((t.sequence_headers, t.sequence_header_changes), (3, 1));
    }
}
