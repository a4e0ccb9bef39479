// SPDX-License-Identifier: MPL-2.0
//! Maps a publish session's 32-bit RTMP millisecond timestamps onto the pipeline's running time.

use gst::ClockTime;

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
    pub fn running_time(&mut self, raw: u32) -> ClockTime {
        let step = raw.wrapping_sub(self.last_raw) as i32;
        self.last_unwrapped = self.last_unwrapped.saturating_add(i64::from(step));
        self.last_raw = raw;
        let offset_ms = self.last_unwrapped.saturating_sub(self.first);
        let base_ns = self.base.nseconds() as i128;
        let ns = base_ns + i128::from(offset_ms) * 1_000_000;
        ClockTime::from_nseconds(ns.clamp(0, i128::from(u64::MAX >> 1)) as u64)
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
    }

    #[test]
    fn small_step_back_and_clamp() {
        let mut t = Timeline::new(ClockTime::from_mseconds(5), 100);
        assert_eq!(t.running_time(98), ClockTime::from_mseconds(3));
        assert_eq!(t.running_time(0), ClockTime::ZERO);
    }
}
