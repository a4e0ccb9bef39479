// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Statistics of one publish: kept by the publisher on its own thread without locks, and copied
//! into the element's slot at most twice a second for the `stats` property and bus messages.
//!
//! The copy is plain data ([`PublishSnapshot`]), a few hundred bytes; the `GstStructure` is built
//! only when somebody reads it. Building it at every refresh cost about 6 % of a publisher
//! thread's time at scale (a structure of some fifty fields with the nested report, for each of
//! hundreds of publishers twice a second) for figures that are rarely read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::outputs::TrackKey;
use super::publish_report::{self, ConnectFacts, PublishReport, TrackDescription};

/// How often the snapshot the element reads is refreshed, and the window of the current bitrate.
pub(super) const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(500);

/// Who is publishing: fixed at publish time.
#[derive(Debug, Clone)]
pub(super) struct PublishInfo {
    pub encoder: Option<String>,
    pub application: String,
    /// The stream key with all but its first characters masked: the key is a secret.
    pub stream_key_masked: String,
    pub user: Option<String>,
    pub started: SystemTime,
    /// What the client announced in its connect (flashVer, Enhanced RTMP capabilities).
    pub connect: ConnectFacts,
}

/// A stream key as it may appear in stats and messages.
pub(super) fn mask_key(key: &str) -> String {
    let shown: String = key.chars().take(2).collect();
    format!(
        "{shown}{}",
        "*".repeat(key.chars().count().saturating_sub(2).min(16))
    )
}

#[derive(Debug, Default, Clone)]
struct TrackCounters {
    frames: u64,
    keyframes: u64,
    bytes: u64,
    first_dts: Option<gst::ClockTime>,
    last_dts: Option<gst::ClockTime>,
    first_keyframe: Option<gst::ClockTime>,
    last_keyframe: Option<gst::ClockTime>,
    discontinuities: u64,
}

#[derive(Debug, Clone)]
pub(super) struct PublishStats {
    started: Instant,
    bytes: u64,
    tracks: BTreeMap<TrackKey, TrackCounters>,
    timestamp_jumps: u64,
    window_start: Instant,
    window_bytes: u64,
    current_bps: u64,
    last_snapshot: Option<Instant>,
    /// With clock-sync=skew: the publisher's measured clock skew (ppm) and the correction in
    /// force (ms).
    clock: Option<(f64, f64)>,
}

impl PublishStats {
    pub fn new(now: Instant) -> Self {
        PublishStats {
            started: now,
            bytes: 0,
            tracks: BTreeMap::new(),
            timestamp_jumps: 0,
            window_start: now,
            window_bytes: 0,
            current_bps: 0,
            last_snapshot: None,
            clock: None,
        }
    }

    /// A media message of `n` bytes arrived.
    pub fn on_message(&mut self, n: usize, now: Instant) {
        self.bytes = self.bytes.saturating_add(n as u64);
        self.window_bytes = self.window_bytes.saturating_add(n as u64);
        let window = now.duration_since(self.window_start);
        if window >= SNAPSHOT_INTERVAL {
            self.current_bps = (self.window_bytes as f64 * 8.0 / window.as_secs_f64()) as u64;
            self.window_start = now;
            self.window_bytes = 0;
        }
    }

    pub fn on_frame(
        &mut self,
        key: TrackKey,
        size: usize,
        dts: gst::ClockTime,
        keyframe: bool,
        discont: bool,
    ) {
        let t = self.tracks.entry(key).or_default();
        t.frames += 1;
        t.bytes = t.bytes.saturating_add(size as u64);
        t.first_dts.get_or_insert(dts);
        t.last_dts = Some(dts);
        if keyframe {
            t.keyframes += 1;
            t.first_keyframe.get_or_insert(dts);
            t.last_keyframe = Some(dts);
        }
        if discont {
            t.discontinuities += 1;
        }
    }

    pub fn on_timestamp_jump(&mut self) {
        self.timestamp_jumps += 1;
    }

    /// The clock skew measured (ppm, positive: the publisher's clock runs fast) and the
    /// correction applied to its running times (ms, positive: later), for the next snapshot.
    pub fn set_clock(&mut self, skew_ppm: f64, correction_ms: f64) {
        self.clock = Some((skew_ppm, correction_ms));
    }

    /// When the next snapshot may be taken.
    pub fn next_snapshot(&self) -> Option<Instant> {
        self.last_snapshot.map(|t| t + SNAPSHOT_INTERVAL)
    }

    /// Whether a fresh snapshot is due.
    pub fn snapshot_due(&mut self, now: Instant) -> bool {
        let due = self
            .last_snapshot
            .is_none_or(|t| now.duration_since(t) >= SNAPSHOT_INTERVAL);
        if due {
            self.last_snapshot = Some(now);
        }
        due
    }

    /// The publish as a structure: `codec_of` names a track's codec (its caps' media type).
    pub fn to_structure(
        &self,
        info: &PublishInfo,
        peer: std::net::SocketAddr,
        codec_of: impl Fn(TrackKey) -> Option<String>,
        now: Instant,
    ) -> gst::Structure {
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let average_bps = if elapsed > 0.0 {
            (self.bytes as f64 * 8.0 / elapsed) as u64
        } else {
            0
        };
        let tracks = self.tracks.iter().map(|(key, t)| {
            let media_secs = match (t.first_dts, t.last_dts) {
                (Some(a), Some(b)) if b > a => (b - a).seconds_f64(),
                _ => 0.0,
            };
            // Frames per second of media time: frames after the first over the time they span.
            let fps = if media_secs > 0.0 {
                (t.frames.saturating_sub(1)) as f64 / media_secs
            } else {
                0.0
            };
            let keyframe_interval = match (t.first_keyframe, t.last_keyframe) {
                (Some(a), Some(b)) if t.keyframes > 1 => {
                    (b - a).seconds_f64() / (t.keyframes - 1) as f64
                }
                _ => 0.0,
            };
            gst::Structure::builder("track")
                .field("pad", key.pad_name())
                .field("codec", codec_of(*key).unwrap_or_default())
                .field("frames", t.frames)
                .field("keyframes", t.keyframes)
                .field("bytes", t.bytes)
                .field("frames-per-second", fps)
                .field("keyframe-interval", keyframe_interval)
                .field("discontinuities", t.discontinuities)
                .build()
        });
        let started = info
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        gst::Structure::builder("publisher")
            .field("client-address", peer.to_string())
            .field("encoder", info.encoder.clone().unwrap_or_default())
            .field("application", info.application.as_str())
            .field("stream-key", info.stream_key_masked.as_str())
            .field_if_some("user", info.user.as_deref())
            .field("connected-at", started)
            .field("duration", elapsed)
            .field("bytes-in", self.bytes)
            .field("bitrate", self.current_bps)
            .field("average-bitrate", average_bps)
            .field("timestamp-jumps", self.timestamp_jumps)
            .field_if_some("clock-skew-ppm", self.clock.map(|(ppm, _)| ppm))
            .field_if_some("clock-correction-ms", self.clock.map(|(_, ms)| ms))
            .field("tracks", gst::Array::new(tracks))
            .build()
    }
}

/// A publish's figures as of `taken`, copied by its publisher for the element to read.
#[derive(Debug, Clone)]
pub(super) struct PublishSnapshot {
    pub stats: PublishStats,
    pub report: PublishReport,
    /// The codec and current caps of each track the publisher found.
    pub tracks: BTreeMap<TrackKey, TrackDescription>,
    pub taken: Instant,
}

impl PublishSnapshot {
    /// The `publisher` structure of `stats` and of the publish messages, with its `report`.
    pub fn to_structure(&self, info: &PublishInfo, peer: std::net::SocketAddr) -> gst::Structure {
        let codec_of = |key| {
            self.tracks
                .get(&key)
                .and_then(|t| t.caps.as_ref())
                .and_then(|c| c.structure(0))
                .map(|s| s.name().to_string())
        };
        let mut structure = self.stats.to_structure(info, peer, codec_of, self.taken);
        let describe = |key| self.tracks.get(&key).cloned();
        structure.set(
            "report",
            publish_report::to_structure(&self.report, describe),
        );
        structure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys() {
        assert_eq!(mask_key("live-key-1"), "li********");
        assert_eq!(mask_key("k"), "k");
        assert_eq!(mask_key(""), "");
    }

    #[test]
    fn counts_frames_rates_and_intervals() {
        gst::init().unwrap();
        let t0 = Instant::now();
        let mut s = PublishStats::new(t0);
        let key = TrackKey::Video(0);
        for i in 0..61u64 {
            let dts = gst::ClockTime::from_mseconds(i * 1000 / 30);
            s.on_frame(key, 100, dts, i % 30 == 0, i == 0);
            s.on_message(100, t0 + Duration::from_millis(i * 1000 / 30));
        }
        s.on_timestamp_jump();
        let info = PublishInfo {
            encoder: Some("FMLE/3.0".into()),
            application: "app".into(),
            stream_key_masked: mask_key("secret"),
            user: None,
            started: SystemTime::now(),
            connect: ConnectFacts::default(),
        };
        let st = s.to_structure(
            &info,
            "127.0.0.1:5000".parse().unwrap(),
            |_| Some("video/x-h264".into()),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(st.get::<u64>("bytes-in").unwrap(), 6100);
        assert_eq!(st.get::<u64>("average-bitrate").unwrap(), 24_400);
        assert!(st.get::<u64>("bitrate").unwrap() > 0);
        assert_eq!(st.get::<u64>("timestamp-jumps").unwrap(), 1);
        assert_eq!(st.get::<String>("stream-key").unwrap(), "se****");
        let tracks = st.get::<gst::Array>("tracks").unwrap();
        let track = tracks.first().unwrap().get::<gst::Structure>().unwrap();
        assert_eq!(track.get::<u64>("frames").unwrap(), 61);
        assert_eq!(track.get::<u64>("keyframes").unwrap(), 3);
        assert!((track.get::<f64>("frames-per-second").unwrap() - 30.0).abs() < 0.1);
        assert!((track.get::<f64>("keyframe-interval").unwrap() - 1.0).abs() < 0.01);
        assert_eq!(track.get::<u64>("discontinuities").unwrap(), 1);
        assert!(!st.has_field("clock-skew-ppm"), "only with clock-sync=skew");
        s.set_clock(-49.5, 12.25);
        let st = s.to_structure(&info, "127.0.0.1:5000".parse().unwrap(), |_| None, t0);
        assert_eq!(st.get::<f64>("clock-skew-ppm").unwrap(), -49.5);
        assert_eq!(st.get::<f64>("clock-correction-ms").unwrap(), 12.25);
    }
}
