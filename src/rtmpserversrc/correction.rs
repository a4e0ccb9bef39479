// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The correction added to a publish session's running times: a continuous, piecewise-linear
//! function of the uncorrected running time whose slope is bounded, so corrected time never
//! runs backwards and never jumps. Pure arithmetic on nanoseconds.
//!
//! It is a function of media time, not of arrival order: every track evaluates the same
//! function at its own timestamps, so audio lagging video in the interleaving gets exactly the
//! correction its timestamp calls for, and A/V offsets stay as the publisher sent them (scaled
//! by at most [`MAX_RATE`]).

use std::collections::VecDeque;

/// The steepest the correction may be, in ns per ns of media time: 2.5 % (the 2 % skew cap
/// plus 0.5 % of catching up, see clock_sync.rs). Corrected time thus advances at least
/// 0.975 times as fast as media time: it never runs backwards.
pub(super) const MAX_RATE: f64 = 0.025;

/// Segments kept: rate changes come every quarter second, so this is over 30 s of media time,
/// far more than any track lags another.
const MAX_KNOTS: usize = 128;

/// From `at` on (until the next knot) the correction is `value + rate * (media - at)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Knot {
    at: i64,
    value: f64,
    rate: f64,
}

/// See the module documentation. Zero everywhere until the first [`Correction::set_rate`].
#[derive(Debug, Default)]
pub(super) struct Correction {
    knots: VecDeque<Knot>,
    /// A copy of the newest knot, where nearly every evaluation lands: read without touching
    /// the deque's buffer (a cache miss per message with hundreds of publishers).
    last: Option<Knot>,
}

impl Correction {
    /// The correction (ns) at uncorrected running time `media` (ns). Before the first knot it
    /// is the first knot's value (zero for a session's start).
    pub fn at(&self, media: i64) -> f64 {
        if let Some(k) = self.last.filter(|k| k.at <= media) {
            return k.value + k.rate * media.saturating_sub(k.at) as f64;
        }
        match self.knots.iter().rev().find(|k| k.at <= media) {
            Some(k) => k.value + k.rate * media.saturating_sub(k.at) as f64,
            None => self.knots.front().map_or(0.0, |k| k.value),
        }
    }

    /// From `at` on the correction changes at `rate` (clamped to ±[`MAX_RATE`]), continuing
    /// from its value there. `at` must not be before a time already evaluated past the last
    /// knot, or those evaluations would change: the caller passes the newest media time it
    /// has mapped. An `at` before the last knot is moved to it.
    pub fn set_rate(&mut self, at: i64, rate: f64) {
        let rate = rate.clamp(-MAX_RATE, MAX_RATE);
        let at = self.knots.back().map_or(at, |last| at.max(last.at));
        let value = self.at(at);
        if let Some(last) = self.knots.back_mut() {
            if last.at == at {
                *last = Knot { at, value, rate };
                self.last = Some(*last);
                return;
            }
        }
        if self.knots.len() == MAX_KNOTS {
            self.knots.pop_front();
        }
        self.knots.push_back(Knot { at, value, rate });
        self.last = self.knots.back().copied();
    }

    /// The rate in force after the last knot.
    #[cfg(test)]
    pub fn rate(&self) -> f64 {
        self.knots.back().map_or(0.0, |k| k.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn zero_until_a_rate_is_set() {
        let c = Correction::default();
        assert_eq!(c.at(0), 0.0);
        assert_eq!(c.at(1_000 * MS), 0.0);
    }

    #[test]
    fn continuous_at_each_knot_and_linear_between() {
        let mut c = Correction::default();
        c.set_rate(1_000 * MS, 0.01);
        assert_eq!(c.at(500 * MS), 0.0, "before the first knot");
        assert_eq!(c.at(2_000 * MS), 10.0 * MS as f64);
        c.set_rate(2_000 * MS, -0.02);
        assert_eq!(c.at(2_000 * MS), 10.0 * MS as f64, "no jump at the knot");
        assert_eq!(c.at(2_500 * MS), 0.0);
        // A track lagging behind the newest knot gets the segment its timestamp falls in.
        assert_eq!(c.at(1_500 * MS), 5.0 * MS as f64);
    }

    #[test]
    fn rates_are_bounded_so_time_never_runs_backwards() {
        let mut c = Correction::default();
        c.set_rate(0, -1.0);
        assert_eq!(c.rate(), -MAX_RATE);
        // Corrected time of consecutive 1 ms steps still increases.
        let mut last = i64::MIN;
        for ms in 0..1_000 {
            let media = ms * MS;
            let corrected = media + c.at(media).round() as i64;
            assert!(corrected > last, "at {ms} ms");
            last = corrected;
        }
    }

    #[test]
    fn a_knot_before_the_last_one_moves_to_it() {
        let mut c = Correction::default();
        c.set_rate(1_000 * MS, 0.01);
        c.set_rate(500 * MS, -0.01);
        assert_eq!(c.at(500 * MS), 0.0, "nothing before the first knot changed");
        assert_eq!(c.at(1_000 * MS), 0.0, "nor the value at the knot");
        assert_eq!(c.rate(), -0.01);
        assert_eq!(c.at(2_000 * MS), -10.0 * MS as f64);
    }

    #[test]
    fn old_knots_are_dropped() {
        let mut c = Correction::default();
        for i in 0..(MAX_KNOTS as i64 + 10) {
            c.set_rate(i * 250 * MS, 0.001);
        }
        assert_eq!(c.knots.len(), MAX_KNOTS);
        let end = (MAX_KNOTS as i64 + 10) * 250 * MS;
        assert!((c.at(end) - 0.001 * end as f64).abs() < 1.0);
    }
}
