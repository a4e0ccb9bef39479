// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The slopes between pairs of the skew estimator's blocks (skew_estimator.rs), and how many
//! pairs agree on a sign. While the estimator fits every pair (its first 20 s of blocks, four
//! fits a second), [`EveryPair`] keeps their slopes sorted and merges in only the pairs a new
//! block makes: visiting all of them again at each fit (up to 3,160 pairs, then a median over
//! them) cost about as much as the rest of a publisher's per-message work at 300 publishers.

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

/// Every pair among the first `blocks` blocks of a sequence that only grows: their slopes,
/// sorted, and their counts.
#[derive(Debug, Default)]
pub(super) struct EveryPair {
    blocks: usize,
    sorted: Vec<f64>,
    counts: PairCounts,
    fresh: Vec<f64>,
}

impl EveryPair {
    /// Merges in the pairs that `blocks` (the same sequence, grown since the last call) adds.
    pub fn catch_up(&mut self, blocks: &[Block]) {
        if self.blocks > blocks.len() {
            // Not the same sequence: start over.
            *self = EveryPair::default();
        }
        self.fresh.clear();
        for j in self.blocks..blocks.len() {
            for i in 0..j {
                if let Some(slope) = self.counts.visit(blocks[i], blocks[j]) {
                    self.fresh.push(slope);
                }
            }
        }
        self.blocks = blocks.len();
        self.fresh.sort_unstable_by(f64::total_cmp);
        // Merged from the back, in place.
        let (old, new) = (self.sorted.len(), self.fresh.len());
        self.sorted.resize(old + new, 0.0);
        let (mut a, mut b) = (old, new);
        for k in (0..old + new).rev() {
            let take_old =
                b == 0 || (a > 0 && self.sorted[a - 1].total_cmp(&self.fresh[b - 1]).is_gt());
            if take_old {
                a -= 1;
                self.sorted[k] = self.sorted[a];
            } else {
                b -= 1;
                self.sorted[k] = self.fresh[b];
            }
        }
    }

    /// The median of the slopes (the mean of the middle two for an even count).
    pub fn median(&self) -> Option<f64> {
        let len = self.sorted.len();
        let m = *self.sorted.get(len / 2)?;
        Some(if len % 2 == 1 {
            m
        } else {
            (self.sorted[len / 2 - 1] + m) / 2.0
        })
    }

    pub fn counts(&self) -> PairCounts {
        self.counts
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
            assert_eq!(every.sorted, slopes, "{n} blocks");
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
        assert!(every.sorted.len() <= 3);
    }
}
