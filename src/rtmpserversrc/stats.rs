// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Connection counters for the `stats` property. Updated from connection threads with atomics
//! or a short lock, never on the per-frame path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::server::{CloseReason, RefusalReason};

#[derive(Default)]
pub(super) struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    /// Closed by us for a fault of the peer's: timeout, protocol error, network error.
    dropped: AtomicU64,
    publishes: AtomicU64,
    /// Refusals (at accept, connect or publish) by reason.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    pub fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self, reason: CloseReason) {
        // Saturating: a reset between open and close must not wrap the gauge.
        let _ = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        if matches!(
            reason,
            CloseReason::Timeout | CloseReason::ProtocolError | CloseReason::NetworkError
        ) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn published(&self) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: RefusalReason) {
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry(reason.as_str()).or_default() += 1;
        }
    }

    pub fn reset(&self) {
        self.accepted.store(0, Ordering::Relaxed);
        self.open.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        self.publishes.store(0, Ordering::Relaxed);
        if let Ok(mut map) = self.rejected.lock() {
            map.clear();
        }
    }

    /// Adds the connection counters to a stats structure being built.
    pub fn add_connection_fields(
        &self,
        builder: gst::structure::Builder,
    ) -> gst::structure::Builder {
        builder
            .field(
                "connections-accepted",
                self.accepted.load(Ordering::Relaxed),
            )
            .field("connections-open", self.open.load(Ordering::Relaxed))
            .field("connections-dropped", self.dropped.load(Ordering::Relaxed))
    }

    pub fn rejections(&self) -> BTreeMap<&'static str, u64> {
        self.rejected.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn publishes(&self) -> u64 {
        self.publishes.load(Ordering::Relaxed)
    }
}
