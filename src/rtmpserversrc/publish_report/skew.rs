// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Audio/video interleaving skew at arrival: each time an audio or video message arrives, how
//! far apart the newest audio and the newest video timestamps are. An encoder that interleaves
//! well keeps this within a frame or two; a large skew makes a receiver buffer that much before
//! it can mux or play both in sync.
//!
//! A fixed histogram of 10 ms buckets up to 2 s (one array, no allocation per message) gives
//! the 95th percentile to within a bucket; the maximum is kept exactly.

/// Width of a bucket.
const BUCKET_MS: u64 = 10;
/// Buckets below the overflow one: 0 to 2 s.
const BUCKETS: usize = 200;

#[derive(Debug, Clone)]
pub(in crate::rtmpserversrc) struct SkewHistogram {
    /// Counts per bucket; the last one holds every skew of 2 s or more.
    counts: [u32; BUCKETS + 1],
    total: u64,
    max_ms: u64,
}

impl Default for SkewHistogram {
    fn default() -> Self {
        SkewHistogram {
            counts: [0; BUCKETS + 1],
            total: 0,
            max_ms: 0,
        }
    }
}

impl SkewHistogram {
    /// One observation (either sign: audio ahead or behind).
    pub fn add(&mut self, skew_ms: i64) {
        let skew = skew_ms.unsigned_abs();
        let bucket = usize::try_from(skew / BUCKET_MS).map_or(BUCKETS, |b| b.min(BUCKETS));
        if let Some(count) = self.counts.get_mut(bucket) {
            *count = count.saturating_add(1);
        }
        self.total += 1;
        self.max_ms = self.max_ms.max(skew);
    }

    /// How many observations.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest skew seen, in milliseconds.
    pub fn max_ms(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max_ms)
    }

    /// The skew that a fraction `p` (0 to 1) of observations stay within: the upper edge of
    /// its bucket, never above the maximum seen.
    pub fn percentile_ms(&self, p: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank {
                let edge = if i == BUCKETS {
                    self.max_ms
                } else {
                    (i as u64 + 1) * BUCKET_MS
                };
                return Some(edge.min(self.max_ms));
            }
        }
        Some(self.max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_has_no_figures() {
        let h = SkewHistogram::default();
        assert_eq!((h.max_ms(), h.percentile_ms(0.95)), (None, None));
    }

    #[test]
    fn p95_within_a_bucket_and_max_exact() {
        let mut h = SkewHistogram::default();
        // 95 observations of about 20 ms (either sign), 5 of 700 ms.
        for i in 0..95 {
            h.add(if i % 2 == 0 { 21 } else { -23 });
        }
        for _ in 0..5 {
            h.add(-700);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.max_ms(), Some(700));
        assert_eq!(h.percentile_ms(0.95), Some(30));
        assert_eq!(h.percentile_ms(0.96), Some(700));
    }

    #[test]
    fn beyond_the_buckets_the_maximum_answers() {
        let mut h = SkewHistogram::default();
        h.add(60_000);
        h.add(3);
        // The upper edge of the first bucket: within 10 ms.
        assert_eq!(h.percentile_ms(0.5), Some(10));
        assert_eq!(h.percentile_ms(0.95), Some(60_000));
    }
}
