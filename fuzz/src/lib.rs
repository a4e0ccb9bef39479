// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Helpers of the fuzz targets, which exercise the sans-IO protocol crate (`rtmpserver-proto`)
//! without GStreamer.

pub use rtmpserver_proto::{auth, flv, rtmp};

/// Splits `data` into pieces of pseudo-random sizes (1 to `seed * 8` bytes) decided by `seed`,
/// so a target sees the same stream at every read boundary; seed 0 keeps it whole.
pub fn split(data: &[u8], seed: u8) -> Vec<&[u8]> {
    if seed == 0 {
        return vec![data];
    }
    let max = usize::from(seed) * 8;
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(seed);
    let mut rest = data;
    let mut pieces = Vec::new();
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (state % max as u64) as usize + 1;
        let (a, b) = rest.split_at(n.min(rest.len()));
        pieces.push(a);
        rest = b;
    }
    pieces
}
