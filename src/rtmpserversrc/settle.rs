// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! When a publish's tracks are known well enough to expose its pads: the decision, without
//! GStreamer, so it is unit-tested on its own.
//!
//! Pads are added once, together, so muxers see every pad before the first buffer. Media that
//! arrives before is held back (bounded by `max-queue-bytes`).

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

#[cfg(test)]
mod tests {
    use super::*;

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
