// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Maps a publish session's 32-bit RTMP millisecond timestamps onto the pipeline's running time.

use gst::ClockTime;

/// A step between consecutive timestamps larger than this, either way, is an encoder timestamp
/// reset or a corrupt value, not media time: the timeline resyncs instead of following it (a
/// jump forward would stall every synchronised sink, a jump back would make time run backwards).
pub(super) const MAX_STEP_MS: i64 = 10_000;

/// One publish session's timeline.
///
/// RTMP timestamps are 32-bit milliseconds that wrap after about 49.7 days; audio and video share
/// one timeline and may be slightly out of order with each other. Each timestamp is unwrapped as a
/// signed 32-bit step from the previous one, which handles the wrap and small steps back alike.
#[derive(Debug)]
pub(super) struct Timeline {
    /// Running time that the session's first timestamp maps to.
    base: ClockTime,
    first: i64,
    last_raw: u32,
    last_unwrapped: i64,
}

/// A timestamp's place on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mapped {
    pub running_time: ClockTime,
    /// The timeline jumped here: the next buffer of every track is a discontinuity.
    pub resynced: bool,
}

impl Timeline {
    pub fn new(base: ClockTime, first_raw: u32) -> Self {
        Timeline {
            base,
            first: i64::from(first_raw),
            last_raw: first_raw,
            last_unwrapped: i64::from(first_raw),
        }
    }

    /// Running time of an RTMP timestamp, never before zero.
    pub fn map(&mut self, raw: u32) -> Mapped {
        let step = i64::from(raw.wrapping_sub(self.last_raw) as i32);
        let resynced = step.abs() > MAX_STEP_MS;
        if resynced {
            // Continue right after the last timestamp: shift the origin by the jump, so later
            // timestamps of the new run keep their spacing.
            self.first = self.first.saturating_add(step);
        }
        self.last_unwrapped = self.last_unwrapped.saturating_add(step);
        self.last_raw = raw;
        let offset_ms = self.last_unwrapped.saturating_sub(self.first);
        let ns = self.base.nseconds() as i128 + i128::from(offset_ms) * 1_000_000;
        Mapped {
            running_time: ClockTime::from_nseconds(ns.clamp(0, i128::from(u64::MAX >> 1)) as u64),
            resynced,
        }
    }

    /// Running time of an RTMP timestamp (see `map`).
    #[cfg(test)]
    pub fn running_time(&mut self, raw: u32) -> ClockTime {
        self.map(raw).running_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_onto_base() {
        let mut t = Timeline::new(ClockTime::from_seconds(10), 1000);
        assert_eq!(t.running_time(1000), ClockTime::from_seconds(10));
        assert_eq!(t.running_time(1040), ClockTime::from_mseconds(10_040));
    }

    #[test]
    fn unwraps_32bit_wrap() {
        let mut t = Timeline::new(ClockTime::from_seconds(1), u32::MAX - 10);
        assert_eq!(t.running_time(u32::MAX), ClockTime::from_mseconds(1010));
        assert_eq!(t.running_time(20), ClockTime::from_mseconds(1031));
        assert!(!t.map(43).resynced);
    }

    #[test]
    fn crosses_the_extended_timestamp_boundary() {
        let mut t = Timeline::new(ClockTime::ZERO, 0x00FF_FFF0);
        assert_eq!(t.running_time(0x0100_0010), ClockTime::from_mseconds(32));
    }

    #[test]
    fn small_step_back_and_clamp() {
        let mut t = Timeline::new(ClockTime::from_mseconds(5), 100);
        assert_eq!(t.running_time(98), ClockTime::from_mseconds(3));
        assert_eq!(t.running_time(0), ClockTime::ZERO);
    }

    #[test]
    fn big_jumps_resync_instead_of_stalling_or_rewinding() {
        let mut t = Timeline::new(ClockTime::from_seconds(100), 50_000);
        assert_eq!(t.running_time(50_040), ClockTime::from_mseconds(100_040));
        // Encoder reset after 50 s: back to 0. Time keeps going from where it was.
        let m = t.map(0);
        assert!(m.resynced);
        assert_eq!(m.running_time, ClockTime::from_mseconds(100_040));
        assert_eq!(t.running_time(40), ClockTime::from_mseconds(100_080));
        // One hour forward: no one-hour stall either.
        let m = t.map(40 + 3_600_000);
        assert!(m.resynced);
        assert_eq!(m.running_time, ClockTime::from_mseconds(100_080));
        assert_eq!(t.running_time(3_600_080), ClockTime::from_mseconds(100_120));
        // Steps within the bound are followed, also backwards (audio behind video).
        assert!(!t.map(3_600_080 - 9_000).resynced);
    }
}
