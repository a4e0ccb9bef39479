// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The element's handle on a live publish, shared between the publisher's thread and the
//! element: eviction (a newer publisher, a stop), the drain's reconnect request, the latest
//! statistics snapshot and the silence that failover and replacement look at.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::failover::Role;
use super::publish_stats::{PublishInfo, PublishSnapshot};
use crate::server::{CloseReason, ReconnectRequest};

/// What the publisher's thread reads or writes at every message, on one cache line of its own:
/// with hundreds of publishers every line is cold again by a publisher's next message, so
/// flags spread over the slot cost a miss each.
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct SlotFlags {
    /// Set by [`PublishSlot::evict`]; the pad queues read it to stop a wait for room.
    pub evicted: AtomicBool,
    reconnect_pending: AtomicBool,
    /// Since `epoch`.
    last_activity_ms: AtomicU64,
    /// Where activity times count from (read at every message to write one).
    epoch: Instant,
}

/// The element's handle on the live publish: lets a newer publisher of the same stream replace
/// one that went silent.
#[derive(Debug)]
pub(super) struct PublishSlot {
    pub flags: SlotFlags,
    pub connection_id: u64,
    pub peer: SocketAddr,
    pub info: PublishInfo,
    /// The publisher's latest statistics (see publish_stats.rs), for the `stats` property.
    pub snapshot: Mutex<Option<PublishSnapshot>>,
    /// Why it was evicted: replaced by a newer publish, or the element stopping.
    evicted_for: Mutex<Option<CloseReason>>,
    /// A drain asked this publisher to reconnect elsewhere; sent by its connection.
    reconnect: Mutex<Option<ReconnectRequest>>,
    /// The auth service wants to hear when this publish stops.
    pub stopped_notice: Mutex<Option<super::auth_service::Notice>>,
    /// With `failover`: primary or backup.
    pub role: Option<Role>,
}

impl PublishSlot {
    pub fn new(
        connection_id: u64,
        peer: SocketAddr,
        epoch: Instant,
        info: PublishInfo,
        role: Option<Role>,
    ) -> Self {
        let slot = PublishSlot {
            flags: SlotFlags {
                evicted: AtomicBool::new(false),
                reconnect_pending: AtomicBool::new(false),
                last_activity_ms: AtomicU64::new(0),
                epoch,
            },
            connection_id,
            peer,
            info,
            snapshot: Mutex::new(None),
            evicted_for: Mutex::new(None),
            reconnect: Mutex::new(None),
            stopped_notice: Mutex::new(None),
            role,
        };
        slot.touch(Instant::now());
        slot
    }

    /// The latest statistics as the `publisher` structure (with its `report`), built now: the
    /// lock is held only to copy them.
    pub fn statistics(&self) -> Option<gst::Structure> {
        let snapshot = self.snapshot.lock().ok()?.clone()?;
        Some(snapshot.to_structure(&self.info, self.peer))
    }

    pub fn touch(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.flags.epoch).as_millis() as u64;
        self.flags.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the publisher last sent media. A publisher waiting for room in a full
    /// queue is not silent: the element checks that its queues are empty too
    /// (`Outputs::delivering`), which covers that wait.
    pub fn silence(&self) -> Duration {
        let now = self.flags.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(
            now.saturating_sub(self.flags.last_activity_ms.load(Ordering::Relaxed)),
        )
    }

    /// Ends this publish from outside (the caller then shuts its connection down, which wakes
    /// it): `reason` is what its publish-stopped message says.
    pub fn evict(&self, reason: CloseReason) {
        if let Ok(mut why) = self.evicted_for.lock() {
            why.get_or_insert(reason);
        }
        self.flags.evicted.store(true, Ordering::SeqCst);
    }

    /// Asks the publisher to reconnect elsewhere (drain); its connection sends it the next
    /// time it runs (at its next message, or at once when the front door is told).
    pub fn request_reconnect(&self, request: ReconnectRequest) {
        if let Ok(mut slot) = self.reconnect.lock() {
            *slot = Some(request);
        }
        self.flags.reconnect_pending.store(true, Ordering::SeqCst);
    }

    pub fn take_reconnect(&self) -> Option<ReconnectRequest> {
        // One atomic load per message when nothing is asked (a swap would write the line
        // every time).
        if !self.flags.reconnect_pending.load(Ordering::SeqCst)
            || !self.flags.reconnect_pending.swap(false, Ordering::SeqCst)
        {
            return None;
        }
        self.reconnect.lock().ok().and_then(|mut r| r.take())
    }

    pub fn evicted_for(&self) -> Option<CloseReason> {
        if !self.flags.evicted.load(Ordering::SeqCst) {
            return None;
        }
        Some(
            self.evicted_for
                .lock()
                .ok()
                .and_then(|why| *why)
                .unwrap_or(CloseReason::Replaced),
        )
    }
}
