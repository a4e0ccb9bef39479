// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The slopes between pairs of the skew estimator's blocks (skew_estimator.rs), and how many
//! pairs agree on a sign. While the estimator fits every pair (its first 20 s of blocks, four
//! fits a second), [`EveryPair`] takes in only the pairs a new block makes and keeps their
//! median at hand: visiting all of them again at each fit (up to 3,160 pairs, then a median
//! over them) cost about as much as the rest of a publisher's per-message work at 300
//! publishers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The least-delayed message of one block of arrival time (see skew_estimator.rs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Block {
    /// Its uncorrected running time (ns).
    pub media: i64,
    /// Arrival minus `media` (ns).
    pub lag: i64,
}

/// A pair of blocks closer than this in media time gives no slope (the publisher stalled
/// between them, or its timestamps stood still).
pub(super) const MIN_PAIR_MEDIA_NS: i64 = super::skew_estimator::BLOCK_NS / 2;

/// The slope (lag per media time) between blocks `a` and `b` (`b` later), if they are far
/// enough apart in media time.
pub(super) fn slope(a: Block, b: Block) -> Option<f64> {
    let media = b.media.saturating_sub(a.media);
    (media >= MIN_PAIR_MEDIA_NS).then(|| b.lag.saturating_sub(a.lag) as f64 / media as f64)
}

/// Pairs with media time between them, and how many have a later / an earlier lag. Every pair
/// with media time between them counts, also those too close for a slope: a single odd block
/// then never makes 80 % of the pairs agree.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PairCounts {
    pairs: usize,
    later: usize,
    earlier: usize,
}

impl PairCounts {
    /// Counts the pair and returns its slope, if it has one.
    pub fn visit(&mut self, a: Block, b: Block) -> Option<f64> {
        if b.media.saturating_sub(a.media) <= 0 {
            return None;
        }
        self.pairs += 1;
        let lag = b.lag.saturating_sub(a.lag);
        self.later += usize::from(lag > 0);
        self.earlier += usize::from(lag < 0);
        slope(a, b)
    }

    /// The share of the pairs whose lag moves the way `value` says.
    pub fn agreement(&self, value: f64) -> f64 {
        let agreeing = if value > 0.0 {
            self.later
        } else {
            self.earlier
        };
        agreeing as f64 / self.pairs.max(1) as f64
    }
}

/// A slope ordered by `f64::total_cmp`, for the heaps of [`EveryPair`].
#[derive(Debug, Clone, Copy)]
struct Ordered(f64);

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Every pair among the first `blocks` blocks of a sequence that only grows: the median of
/// their slopes, and their counts. The slopes are split in two heaps, the lower half (a
/// max-heap, one more when the count is odd) and the upper half (a min-heap), so a new slope
/// costs a logarithm and the median is at the tops. (Kept as one sorted list merged at each
/// fit, the merge moved up to 3,160 slopes four times a second per publisher during a
/// stream's first 20 s.)
#[derive(Debug, Default)]
pub(super) struct EveryPair {
    blocks: usize,
    lower: BinaryHeap<Ordered>,
    upper: BinaryHeap<Reverse<Ordered>>,
    counts: PairCounts,
}

impl EveryPair {
    /// Takes in the pairs that `blocks` (the same sequence, grown since the last call) adds.
    pub fn catch_up(&mut self, blocks: &[Block]) {
        if self.blocks > blocks.len() {
            // Not the same sequence: start over.
            *self = EveryPair::default();
        }
        for j in self.blocks..blocks.len() {
            for i in 0..j {
                if let Some(slope) = self.counts.visit(blocks[i], blocks[j]) {
                    self.insert(slope);
                }
            }
        }
        self.blocks = blocks.len();
    }

    fn insert(&mut self, slope: f64) {
        let slope = Ordered(slope);
        if self.lower.peek().is_none_or(|&top| slope <= top) {
            self.lower.push(slope);
        } else {
            self.upper.push(Reverse(slope));
        }
        // The lower half holds as many slopes as the upper one, or one more.
        if self.lower.len() > self.upper.len() + 1 {
            let top = self.lower.pop().expect("the lower half is not empty");
            self.upper.push(Reverse(top));
        } else if self.upper.len() > self.lower.len() {
            let Reverse(bottom) = self.upper.pop().expect("the upper half is not empty");
            self.lower.push(bottom);
        }
    }

    /// The median of the slopes (the mean of the middle two for an even count).
    pub fn median(&self) -> Option<f64> {
        let Ordered(below) = *self.lower.peek()?;
        Some(match self.upper.peek() {
            Some(&Reverse(Ordered(above))) if self.lower.len() == self.upper.len() => {
                (below + above) / 2.0
            }
            _ => below,
        })
    }

    pub fn counts(&self) -> PairCounts {
        self.counts
    }

    /// Slopes held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lower.len() + self.upper.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic jittery sequence of blocks 250 ms apart.
    fn blocks(n: usize) -> Vec<Block> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n as i64)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                Block {
                    // Now and then a block no later in media time than the one before.
                    media: i * 250_000_000
                        - if state.is_multiple_of(7) {
                            250_000_000
                        } else {
                            0
                        },
                    lag: (state % 5_000_000) as i64 - 2_000_000 + i * 1_000,
                }
            })
            .collect()
    }

    #[test]
    fn merging_block_by_block_gives_what_visiting_every_pair_gives() {
        let all = blocks(79);
        let mut every = EveryPair::default();
        for n in 1..=all.len() {
            every.catch_up(&all[..n]);
            let mut counts = PairCounts::default();
            let mut slopes = Vec::new();
            for i in 0..n {
                for j in i + 1..n {
                    slopes.extend(counts.visit(all[i], all[j]));
                }
            }
            slopes.sort_unstable_by(f64::total_cmp);
            assert_eq!(every.len(), slopes.len(), "{n} blocks");
            let median = (!slopes.is_empty()).then(|| {
                let mid = slopes.len() / 2;
                if slopes.len() % 2 == 1 {
                    slopes[mid]
                } else {
                    (slopes[mid - 1] + slopes[mid]) / 2.0
                }
            });
            assert_eq!(every.median(), median);
            assert_eq!(every.counts().agreement(1.0), counts.agreement(1.0));
            assert_eq!(every.counts().agreement(-1.0), counts.agreement(-1.0));
        }
        // A shorter sequence is another one.
        every.catch_up(&all[..3]);
        assert_eq!(every.blocks, 3);
        assert!(every.len() <= 3);
    }

    #[test]
    fn the_heaps_median_is_the_sorted_lists_with_ties_and_either_count() {
        let mut every = EveryPair::default();
        let mut sorted = Vec::new();
        assert_eq!(every.median(), None);
        for slope in [
            3.0, -1.0, 3.0, 3.0, 0.5, -7.0, 3.0, 2.0, 2.0, -0.0, 0.0, 9.0,
        ] {
            every.insert(slope);
            sorted.push(slope);
            sorted.sort_unstable_by(f64::total_cmp);
            let mid = sorted.len() / 2;
            let expected = if sorted.len() % 2 == 1 {
                sorted[mid]
            } else {
                (sorted[mid - 1] + sorted[mid]) / 2.0
            };
            assert_eq!(every.median(), Some(expected), "{sorted:?}");
        }
    }
}
