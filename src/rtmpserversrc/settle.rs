// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! When a publish's tracks are known well enough to expose its pads: the decision, without
//! GStreamer, so it is unit-tested on its own.
//!
//! Pads are added once, together, so muxers see every pad before the first buffer. Media that
//! arrives before is held back (bounded by `max-queue-bytes`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long to wait for a publisher's second track before exposing only the first.
pub(super) const SETTLE_WAIT: Duration = Duration::from_millis(500);

/// What the publisher knows when it asks whether to expose its pads.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SettleFacts {
    /// A video track has caps.
    pub has_video: bool,
    /// An audio track has caps.
    pub has_audio: bool,
    /// What onMetaData announced, if it came: video, audio.
    pub expect_video: Option<bool>,
    pub expect_audio: Option<bool>,
    /// When the first coded frame arrived.
    pub first_media: Option<Instant>,
    /// Media held back so far, and the most that may be.
    pub pending_bytes: u64,
    pub max_pending_bytes: u64,
}

/// Whether to expose the pads now. `force`: the publish is ending (what it sent must still
/// reach the pads).
pub(super) fn should_settle(facts: &SettleFacts, now: Instant, force: bool) -> bool {
    if !facts.has_video && !facts.has_audio {
        return false;
    }
    // Publishers send every track's sequence header before the first coded frame, so a
    // multitrack publish is complete once media starts flowing.
    let announced = facts.first_media.is_some()
        && match (facts.expect_video, facts.expect_audio) {
            (Some(v), Some(a)) => (!v || facts.has_video) && (!a || facts.has_audio),
            _ => facts.has_video && facts.has_audio,
        };
    let waited = facts
        .first_media
        .is_some_and(|first| now.duration_since(first) >= SETTLE_WAIT);
    announced || waited || force || facts.pending_bytes >= facts.max_pending_bytes
}

/// Media held back until the pads are exposed, in arrival order (generic so it is tested
/// without GStreamer: the publisher holds `(track, buffer)`).
#[derive(Debug)]
pub(super) struct HeldMedia<T> {
    items: VecDeque<T>,
    bytes: u64,
    first: Option<Instant>,
}

impl<T> HeldMedia<T> {
    pub fn new() -> Self {
        HeldMedia {
            items: VecDeque::new(),
            bytes: 0,
            first: None,
        }
    }

    /// Holds one coded frame of `size` payload bytes that arrived at `now`.
    pub fn hold(&mut self, item: T, size: usize, now: Instant) {
        self.first.get_or_insert(now);
        self.items.push_back(item);
        self.bytes = self.bytes.saturating_add(size as u64);
    }

    /// When the first held frame arrived: the settle wait counts from there.
    pub fn first_arrival(&self) -> Option<Instant> {
        self.first
    }

    /// Payload bytes held, against `max-queue-bytes`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Everything held, oldest first; nothing is held afterwards.
    pub fn release(&mut self) -> impl Iterator<Item = T> + '_ {
        self.bytes = 0;
        self.items.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_media_keeps_order_counts_bytes_and_remembers_the_first_arrival() {
        let start = Instant::now();
        let mut held = HeldMedia::new();
        assert_eq!(held.first_arrival(), None);
        held.hold("v0", 1000, start);
        held.hold("a0", 200, start + Duration::from_millis(5));
        held.hold("v1", 300, start + Duration::from_millis(33));
        assert_eq!(held.bytes(), 1500);
        assert_eq!(held.first_arrival(), Some(start));
        assert_eq!(held.release().collect::<Vec<_>>(), ["v0", "a0", "v1"]);
        assert_eq!(held.bytes(), 0);
        assert_eq!(held.release().count(), 0);
        // The settle wait still counts from the first frame ever held.
        assert_eq!(held.first_arrival(), Some(start));
    }

    fn facts(has_video: bool, has_audio: bool) -> SettleFacts {
        SettleFacts {
            has_video,
            has_audio,
            max_pending_bytes: 1 << 20,
            ..SettleFacts::default()
        }
    }

    #[test]
    fn nothing_known_never_settles_even_when_forced() {
        let now = Instant::now();
        let mut f = facts(false, false);
        f.first_media = Some(now - Duration::from_secs(5));
        assert!(!should_settle(&f, now, true));
    }

    #[test]
    fn both_tracks_known_settle_at_the_first_media() {
        let now = Instant::now();
        let mut f = facts(true, true);
        assert!(!should_settle(&f, now, false), "no media yet");
        f.first_media = Some(now);
        assert!(should_settle(&f, now, false));
    }

    #[test]
    fn one_track_waits_for_the_other_unless_metadata_said_there_is_none() {
        let now = Instant::now();
        let mut f = facts(true, false);
        f.first_media = Some(now);
        assert!(!should_settle(&f, now, false), "audio may still come");
        assert!(
            should_settle(&f, now + SETTLE_WAIT, false),
            "waited long enough"
        );
        f.expect_video = Some(true);
        f.expect_audio = Some(false);
        assert!(should_settle(&f, now, false), "onMetaData: video only");
        f.expect_audio = Some(true);
        assert!(!should_settle(&f, now, false), "onMetaData announced audio");
    }

    #[test]
    fn held_back_media_at_its_limit_or_an_ending_publish_settle_at_once() {
        let now = Instant::now();
        let mut f = facts(false, true);
        f.first_media = Some(now);
        assert!(!should_settle(&f, now, false));
        assert!(should_settle(&f, now, true), "the publish ends");
        f.pending_bytes = f.max_pending_bytes;
        assert!(
            should_settle(&f, now, false),
            "held back media is at its limit"
        );
    }
}
