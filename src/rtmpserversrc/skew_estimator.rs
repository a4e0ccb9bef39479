// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Estimates how a publisher's media clock drifts against the pipeline clock, from when its
//! messages arrive. Pure arithmetic on nanoseconds (no GStreamer), so it is unit-tested alone.
//!
//! Each message gives a *lag*: its arrival running time minus its uncorrected running time
//! (the session's base plus its RTMP timestamp). Network jitter, TCP retransmits and an encoder
//! catching up after a stall only ever make a message later, so the lower envelope of the lag
//! is the publisher's clock as seen from ours; it moves by the clock skew. As in
//! rtpjitterbuffer's slave mode, minima over windows of arrival time keep the envelope and drop
//! the jitter; rtpjitterbuffer then smooths one running minimum, which trails a drifting clock
//! by the window. Here each quarter second of arrival time keeps its minimum (a *block*) and:
//!
//! - the slope of the envelope is the median of the slopes between pairs of blocks (a robust
//!   fit: a stall, a burst or a step in the network delay touches a few of the pairs, not the
//!   median): every pair while there are under 20 s of blocks, then the pairs 10 s apart over
//!   the last 60 s, refitted once a second. With it come how many pairs agree on its sign and
//!   (asked for while the fit is short) the slopes of the older and the newer half of the
//!   blocks, so that a clock's drift, which is linear, can be told from noise, from a step
//!   and from a burst (an encoder's first frames sent as soon as it has them, its lookahead
//!   flushed at the end);
//! - its level at a given media time is the median of the last 10 s of blocks, each moved
//!   there along that slope, so the estimate does not trail a drifting clock.

use std::collections::VecDeque;

use super::slope_pairs::{self, Block, EveryPair, PairCounts};

/// Arrival time over which one minimum is kept (ns). A publisher sends a dozen messages or more
/// in it, so its minimum is one of the few that met no delay; short, so that a correction can
/// start within a second.
pub(super) const BLOCK_NS: i64 = 250_000_000;

/// Blocks the slope is fitted over: 60 s. Long enough for tens of ppm to show above jitter.
const SLOPE_BLOCKS: usize = 240;

/// Distance between the blocks of each slope pair once there are twice as many blocks: 10 s.
/// Before, every pair is used (at most 3,160 pairs).
const SLOPE_PAIR_DISTANCE: usize = 40;

/// With pairs that far apart, the slope is refitted every this many blocks (once a second):
/// consecutive fits share all but a few of their 200 pairs.
const REFIT_EVERY: usize = 4;

/// Blocks before a slope is estimated at all: 0.75 s.
const MIN_SLOPE_BLOCKS: usize = 3;

/// Blocks the level is taken from: 10 s. A stall or a burst shorter than half of it does not
/// move the median.
const LEVEL_BLOCKS: usize = 40;

/// A fitted slope and how much the pairs it came from agree on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Slope {
    /// Lag per media time: about -0.01 when the publisher's clock runs 1 % fast (its media time
    /// outruns arrival), +0.01 when 1 % slow.
    pub value: f64,
    /// The share of pairs whose slope has the value's sign (0.5 and below: no trend).
    pub agreement: f64,
    /// The fit is long enough not to need splitting (see [`SkewEstimator::halves`]).
    pub long: bool,
}

/// The clock relation seen so far; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct SkewEstimator {
    /// Completed blocks, oldest first, at most [`SLOPE_BLOCKS`].
    blocks: VecDeque<Block>,
    /// The arrival time blocks count from: the first arrival of the estimate, so that its
    /// first block is a whole one (a partial one would hold an encoder's first frames, sent at
    /// once, and too few paced ones).
    start: Option<i64>,
    /// The block being filled: its index ((arrival - start) / [`BLOCK_NS`]) and minimum so far.
    current: Option<(i64, Block)>,
    /// The fitted slope (lag per media time), once there are enough blocks.
    slope: Option<Slope>,
    /// Blocks completed since the last fit.
    since_fit: usize,
    /// While every pair is fitted: their slopes, merged in block by block (slope_pairs.rs).
    every_pair: EveryPair,
    /// Scratch for the medians (the level's, the pairs' of a long fit, the older and the newer
    /// half's), kept to avoid allocations.
    scratch: Vec<f64>,
    older: Vec<f64>,
    newer: Vec<f64>,
}

impl SkewEstimator {
    /// One message arrived at running time `arrival` (ns) with uncorrected running time
    /// `media` (ns). Returns true when a block was completed, i.e. the estimate was refitted.
    pub fn observe(&mut self, arrival: i64, media: i64) -> bool {
        let sample = Block {
            media,
            lag: arrival.saturating_sub(media),
        };
        let start = *self.start.get_or_insert(arrival);
        let index = arrival.saturating_sub(start).div_euclid(BLOCK_NS);
        match &mut self.current {
            // The same block, or the clock stepped back (kept in the current block, which only
            // makes its minimum smaller: never a reason to move time later).
            Some((current, min)) if index <= *current => {
                if sample.lag < min.lag {
                    *min = sample;
                }
                false
            }
            _ => {
                let completed = self.current.replace((index, sample)).map(|(_, b)| b);
                match completed {
                    Some(block) => {
                        self.push(block);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    fn push(&mut self, block: Block) {
        if self.blocks.len() == SLOPE_BLOCKS {
            self.blocks.pop_front();
        }
        self.blocks.push_back(block);
        if self.blocks.len() == 2 * SLOPE_PAIR_DISTANCE {
            // From here on fits use pairs that far apart only (blocks only grow until then, and
            // `clear` starts over): the every-pair slopes go, once.
            self.every_pair = EveryPair::default();
        }
        self.since_fit += 1;
        let long = self.blocks.len() >= 2 * SLOPE_PAIR_DISTANCE;
        if !long || self.since_fit >= REFIT_EVERY || self.slope.is_none_or(|s| !s.long) {
            self.since_fit = 0;
            self.slope = self.fit_slope();
        }
    }

    /// Completed blocks held (each [`BLOCK_NS`] of arrival time with at least one message).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Media time the blocks held span (ns).
    pub fn span(&self) -> i64 {
        match (self.blocks.front(), self.blocks.back()) {
            (Some(a), Some(b)) => b.media.saturating_sub(a.media).max(0),
            _ => 0,
        }
    }

    /// The slope of the lag against media time, `None` until [`MIN_SLOPE_BLOCKS`] blocks are
    /// in.
    pub fn slope(&self) -> Option<Slope> {
        self.slope
    }

    /// The envelope's lag at media time `media` (ns), the recent blocks moved there along
    /// `slope` (the caller's, which may be capped). `None` before the first block completes.
    pub fn level_at(&mut self, media: i64, slope: f64) -> Option<f64> {
        let start = self.blocks.len().saturating_sub(LEVEL_BLOCKS);
        self.scratch.clear();
        self.scratch.extend(
            self.blocks
                .iter()
                .skip(start)
                .map(|b| b.lag as f64 + slope * media.saturating_sub(b.media) as f64),
        );
        median(&mut self.scratch)
    }

    /// Forgets every block: the relation before is not the relation after (the session's
    /// timestamps were resynchronised).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.start = None;
        self.current = None;
        self.slope = None;
        self.since_fit = 0;
        self.every_pair = EveryPair::default();
    }

    /// Median of the slopes between pairs of blocks: every pair while there are under
    /// 2 x [`SLOPE_PAIR_DISTANCE`] blocks, then those that far apart; also over each half.
    fn fit_slope(&mut self) -> Option<Slope> {
        let n = self.blocks.len();
        if n < MIN_SLOPE_BLOCKS {
            return None;
        }
        let blocks = self.blocks.make_contiguous();
        if n >= 2 * SLOPE_PAIR_DISTANCE {
            let mut counts = PairCounts::default();
            self.scratch.clear();
            for i in 0..n - SLOPE_PAIR_DISTANCE {
                self.scratch
                    .extend(counts.visit(blocks[i], blocks[i + SLOPE_PAIR_DISTANCE]));
            }
            let value = median(&mut self.scratch)?;
            return Some(Slope {
                value,
                agreement: counts.agreement(value),
                long: true,
            });
        }
        self.every_pair.catch_up(blocks);
        let value = self.every_pair.median()?;
        Some(Slope {
            value,
            agreement: self.every_pair.counts().agreement(value),
            long: false,
        })
    }

    /// The slope fitted over the older and over the newer half of the blocks, while the fit
    /// is short (under 20 s of blocks): a drift is linear, a step or a burst is not. `None`
    /// for a long fit (a step or a burst is in a minority of its pairs, so it is not split)
    /// and for a half without pairs far enough apart. Asked for only when the rest of a fit
    /// would be followed: with every pair of both halves it costs as much as the fit, four
    /// times a second per publisher for nothing while its clock does not drift.
    pub fn halves(&mut self) -> Option<(f64, f64)> {
        let n = self.blocks.len();
        if !(MIN_SLOPE_BLOCKS..2 * SLOPE_PAIR_DISTANCE).contains(&n) {
            return None;
        }
        let blocks = self.blocks.make_contiguous();
        // Pairs within the older and within the newer half of the blocks, which share the
        // middle block (two of four).
        let half = n / 2;
        let (older, newer) = (&mut self.older, &mut self.newer);
        older.clear();
        newer.clear();
        for j in 1..=half {
            for i in 0..j {
                older.extend(slope_pairs::slope(blocks[i], blocks[j]));
            }
        }
        for i in n - half - 1..n {
            for j in i + 1..n {
                newer.extend(slope_pairs::slope(blocks[i], blocks[j]));
            }
        }
        median(older).zip(median(newer))
    }
}

/// The median of `values` (reordered), `None` if empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let (len, mid) = (values.len(), values.len() / 2);
    let (low, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if len % 2 == 1 {
        return Some(m);
    }
    let below = low.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((below + m) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;

    /// Feeds `seconds` of a 40 ms message cadence whose media clock runs `ppm` fast (positive)
    /// or slow, with `delay(i)` added to the arrival of message i. Arrivals keep their order,
    /// as on TCP: a delayed message holds back the ones behind it.
    fn feed(est: &mut SkewEstimator, seconds: i64, ppm: f64, mut delay: impl FnMut(i64) -> i64) {
        let mut last = i64::MIN;
        for i in 0..seconds * 25 {
            let sent = i * 40 * MS;
            let media = (sent as f64 * (1.0 + ppm * 1e-6)) as i64;
            last = last.max(sent + delay(i));
            est.observe(last, media);
        }
    }

    /// A deterministic jitter source: mostly small delays, now and then up to `max`.
    fn jitter(max: i64) -> impl FnMut() -> i64 {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            (u.powi(4) * max as f64) as i64
        }
    }

    /// The lag slope of a clock `ppm` fast: arrival/media - 1.
    fn slope_of(ppm: f64) -> f64 {
        1.0 / (1.0 + ppm * 1e-6) - 1.0
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn no_slope_before_enough_blocks() {
        let mut est = SkewEstimator::default();
        feed(&mut est, 1, 10_000.0, |_| 0);
        // 1 s of arrivals, the first at 0: blocks 0 to 2 complete, the fourth is being filled.
        assert_eq!(est.blocks(), 3);
        let mut est = SkewEstimator::default();
        for ms in (0..700).step_by(40) {
            est.observe(ms * MS, ms * MS);
        }
        assert_eq!(est.blocks(), 2);
        assert_eq!(est.slope(), None);
        est.observe(750 * MS, 750 * MS);
        assert!(est.slope().is_some());
    }

    #[test]
    fn finds_a_one_percent_drift_either_way_within_seconds() {
        for ppm in [10_000.0, -10_000.0] {
            let mut est = SkewEstimator::default();
            let mut jitter = jitter(5 * MS);
            feed(&mut est, 5, ppm, |_| jitter());
            let slope = est.slope().unwrap();
            let want = slope_of(ppm);
            assert!(
                (slope.value - want).abs() < want.abs() * 0.05,
                "{ppm} ppm: slope {slope:?}, want {want}"
            );
            assert!(slope.agreement > 0.95, "a trend: {slope:?}");
        }
    }

    #[test]
    fn the_level_does_not_trail_a_drifting_clock() {
        // 1 % slow: the lag grows by 10 ms a second; a plain minimum over the last 10 s would
        // sit 100 ms behind.
        let mut est = SkewEstimator::default();
        feed(&mut est, 30, -10_000.0, |_| 0);
        let media = (30.0 * S as f64 * (1.0 - 0.01)) as i64;
        let slope = est.slope().unwrap().value;
        let level = est.level_at(media, slope).unwrap();
        let want = 30.0 * S as f64 - media as f64;
        assert!(
            (level - want).abs() < 2.0 * MS as f64,
            "level {level}, want {want}"
        );
    }

    #[test]
    fn jitter_stalls_and_a_delay_step_do_not_fool_the_fit() {
        // 50 ppm slow, jitter up to 30 ms, every 20 s a stall of 3 s after which the backlog
        // arrives ten times faster than real time, and a lasting 20 ms step in the network
        // delay at 100 s.
        let mut est = SkewEstimator::default();
        let mut jitter = jitter(30 * MS);
        feed(&mut est, 200, -50.0, |i| {
            let sent = i * 40 * MS;
            let in_cycle = sent % (20 * S);
            let stall = if in_cycle < 3 * S {
                (3 * S - in_cycle) + in_cycle / 10
            } else {
                0
            };
            let step = if sent > 100 * S { 20 * MS } else { 0 };
            jitter() + stall + step
        });
        let slope = est.slope().unwrap().value;
        let want = slope_of(-50.0);
        assert!(
            (slope - want).abs() < 10e-6,
            "slope {slope}, want {want} (50 ppm)"
        );
    }

    #[test]
    fn a_drift_is_linear_a_step_or_a_burst_is_not() {
        let linear = |est: &mut SkewEstimator| {
            let (older, newer) = est.halves().expect("both halves fitted");
            older.signum() == newer.signum()
                && older.abs().min(newer.abs()) >= 0.5 * older.abs().max(newer.abs())
        };
        // 1 % fast with a little jitter, after 2 s: linear.
        let mut est = SkewEstimator::default();
        let mut noise = jitter(2 * MS);
        feed(&mut est, 2, 10_000.0, |_| noise());
        assert!(linear(&mut est), "{:?}", est.slope());
        // rtmp2sink's first frames, 29 ms earlier than the later ones: a step.
        let mut est = SkewEstimator::default();
        let mut noise = jitter(2 * MS);
        est.observe(100 * MS, 100 * MS);
        feed(
            &mut est,
            2,
            0.0,
            |i| if i < 5 { 0 } else { 29 * MS + noise() },
        );
        assert!(!linear(&mut est), "{:?}", est.slope());
        // x264's lookahead flushed at the end: the last second's frames ever earlier.
        let mut est = SkewEstimator::default();
        let mut noise = jitter(2 * MS);
        feed(&mut est, 3, 0.0, |i| {
            let flush = (i - 50).max(0) * MS;
            55 * MS - flush + noise()
        });
        assert!(!linear(&mut est), "{:?}", est.slope());
    }

    #[test]
    fn a_step_does_not_agree_on_a_slope() {
        // A step in the lag between the first blocks measured, then blocks whose minima are
        // close in media time (at the end of one block and the start of the next): too close
        // for a slope, but their sign counts.
        let mut est = SkewEstimator::default();
        for (arrival_ms, lag_ms) in [(100, 0), (590, 29), (610, 28), (900, 29)] {
            est.observe(arrival_ms * MS, (arrival_ms - lag_ms) * MS);
        }
        assert_eq!(est.blocks(), 3);
        let slope = est.slope().unwrap();
        assert!(slope.agreement < 0.8, "{slope:?}");
        // Nor does noise around no trend.
        let mut est = SkewEstimator::default();
        let mut jitter = jitter(4 * MS);
        feed(&mut est, 5, 0.0, |_| jitter());
        let slope = est.slope().unwrap();
        assert!(slope.agreement < 0.8, "{slope:?}");
    }

    #[test]
    fn clear_forgets_the_history() {
        let mut est = SkewEstimator::default();
        feed(&mut est, 5, 0.0, |_| 0);
        assert!(est.slope().is_some());
        est.clear();
        assert_eq!(est.blocks(), 0);
        assert_eq!(est.slope(), None);
        assert_eq!(est.level_at(0, 0.0), None);
    }
}
