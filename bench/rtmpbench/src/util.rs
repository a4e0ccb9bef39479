// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock nanoseconds (CLOCK_REALTIME), the clock gstprobe stamps buffers with.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
