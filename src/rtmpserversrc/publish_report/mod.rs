// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The publish report: what one publisher really sent and where it deviated, for encoder labs
//! and ingest platforms (issue 17). Kept per publish by the publisher's thread, shown live in
//! `stats` (publisher/report), posted as `rtmpserversrc-publish-report` when the publish ends
//! and returned by the `get-publish-report` action signal.
//!
//! [`PublishReport`] is a pure accumulator: the publisher calls its hooks with what it already
//! parsed (message timestamps, frames, sequence headers, onMetaData, the session's protocol
//! observations), and each hook is a few counters and additions, with no allocation per
//! message. Only `structure.rs` knows GStreamer; `verdict.rs` turns the figures into one line
//! per finding, which the structure carries, so every reader agrees on the verdict.

mod connect;
mod running;
mod skew;
mod structure;
mod track;
mod verdict;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

pub(super) use connect::ConnectFacts;
use skew::SkewHistogram;
pub(super) use structure::{to_structure, TrackDescription};
use track::TrackTiming;

use super::outputs::TrackKey;
use super::timeline::MAX_STEP_MS;
use crate::rtmp::{Amf0Value, SessionObservations};

/// Audio or video: which newest timestamp a message updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    Audio,
    Video,
}

/// What onMetaData declared, to compare the measures with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Declared {
    pub framerate: Option<f64>,
    /// Bits per second ("videodatarate" / "audiodatarate" are in kbit/s).
    pub video_bitrate: Option<f64>,
    pub audio_bitrate: Option<f64>,
}

impl Declared {
    fn from_props(props: &Amf0Value) -> Self {
        let positive = |key: &str| {
            props
                .get(key)
                .and_then(Amf0Value::as_number)
                .filter(|n| n.is_finite() && *n > 0.0)
        };
        Declared {
            framerate: positive("framerate"),
            video_bitrate: positive("videodatarate").map(|k| k * 1000.0),
            audio_bitrate: positive("audiodatarate").map(|k| k * 1000.0),
        }
    }

    /// The declared frame rate and bitrate that apply to `key` (onMetaData describes the
    /// first video and the first audio track).
    pub fn for_track(&self, key: TrackKey) -> (Option<f64>, Option<f64>) {
        match key {
            TrackKey::Video(0) => (self.framerate, self.video_bitrate),
            TrackKey::Audio(0) => (None, self.audio_bitrate),
            _ => (None, None),
        }
    }
}

/// A counter with the names it goes by: its field in the structure and its words in a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count {
    pub field: &'static str,
    pub text: &'static str,
    pub n: u64,
}

const fn count(field: &'static str, text: &'static str, n: u64) -> Count {
    Count { field, text, n }
}

#[derive(Debug, Default, Clone)]
struct TrackEntry {
    timing: TrackTiming,
    /// The latest sequence header, to tell a change from a repeat (a refcount, not a copy).
    config: Option<Bytes>,
}

/// One publish's report (see the module docs).
#[derive(Debug, Default, Clone)]
pub(super) struct PublishReport {
    /// Shared, as `metadata` is: copied with the report twice a second, never changed.
    connect: Arc<ConnectFacts>,
    session: SessionObservations,
    /// The latest onMetaData properties, as sent (shared: the statistics snapshot copies the
    /// report twice a second, and copying the properties cost a dozen allocations each time).
    metadata: Option<Arc<Amf0Value>>,
    declared: Declared,
    media_seen: bool,
    missing_onmetadata: u64,
    hevc_under_avc_codec_id: u64,
    tracks: BTreeMap<TrackKey, TrackEntry>,
    /// The publisher's clock: its 32-bit milliseconds unwrapped, as the timeline does.
    last_raw: Option<u32>,
    now_ms: i64,
    /// Bumped by each timestamp jump; tracks measure no interval across it.
    epoch: u64,
    timestamp_jumps: u64,
    newest_audio_ms: Option<i64>,
    newest_video_ms: Option<i64>,
    skew: SkewHistogram,
}

impl PublishReport {
    pub fn new(connect: ConnectFacts) -> Self {
        PublishReport {
            connect: Arc::new(connect),
            ..Default::default()
        }
    }

    /// An audio or video message with RTMP timestamp `raw` arrived (before its frames).
    pub fn on_media_message(&mut self, media: Media, raw: u32) {
        if !std::mem::replace(&mut self.media_seen, true) && self.metadata.is_none() {
            self.missing_onmetadata = 1;
        }
        let step = self
            .last_raw
            .map_or(0, |last| i64::from(raw.wrapping_sub(last) as i32));
        self.last_raw = Some(raw);
        self.now_ms = self.now_ms.saturating_add(step);
        if step.abs() > MAX_STEP_MS {
            // The same rule as the timeline's resync: one jump, and a fresh start for the
            // interleaving measure, which would otherwise see the jump as skew.
            self.timestamp_jumps += 1;
            self.epoch += 1;
            self.newest_audio_ms = None;
            self.newest_video_ms = None;
        }
        match media {
            Media::Audio => self.newest_audio_ms = Some(self.now_ms),
            Media::Video => self.newest_video_ms = Some(self.now_ms),
        }
        if let (Some(audio), Some(video)) = (self.newest_audio_ms, self.newest_video_ms) {
            self.skew.add(audio - video);
        }
    }

    /// A coded frame of the current message (see [`PublishReport::on_media_message`]).
    pub fn on_frame(
        &mut self,
        key: TrackKey,
        keyframe: bool,
        composition_ms: i32,
        offset_ns: u32,
        size: usize,
    ) {
        let dts_ns = self
            .now_ms
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(offset_ns));
        let epoch = self.epoch;
        self.track(key)
            .timing
            .on_frame(dts_ns, epoch, keyframe, composition_ms, size);
    }

    /// A sequence header (decoder configuration record) for `key`.
    pub fn on_sequence_header(&mut self, key: TrackKey, config: &Bytes) {
        let entry = self.track(key);
        let changed = entry.config.as_ref().is_some_and(|old| old != config);
        entry.timing.on_sequence_header(changed);
        entry.config = Some(config.clone());
    }

    /// A legacy AVC (codec id 7) sequence header that is really an hvcC (older OBS).
    pub fn on_hevc_under_avc_codec_id(&mut self) {
        self.hevc_under_avc_codec_id += 1;
    }

    /// onMetaData's properties object.
    pub fn on_metadata(&mut self, props: &Amf0Value) {
        self.declared = Declared::from_props(props);
        self.metadata = Some(Arc::new(props.clone()));
    }

    /// The session's protocol observations so far (a copy of its counters).
    pub fn set_session(&mut self, observations: SessionObservations) {
        self.session = observations;
    }

    fn track(&mut self, key: TrackKey) -> &mut TrackEntry {
        self.tracks.entry(key).or_default()
    }

    fn timings(&self) -> impl Iterator<Item = (TrackKey, &TrackTiming)> {
        self.tracks.iter().map(|(k, e)| (*k, &e.timing))
    }

    /// The deviations the element tolerated, each counted.
    pub fn tolerated(&self) -> [Count; 8] {
        let chunk = &self.session.chunk;
        [
            count(
                "hevc-under-avc-codec-id",
                "HEVC sent under the H.264 codec id 7",
                self.hevc_under_avc_codec_id,
            ),
            count(
                "missing-onmetadata",
                "no onMetaData before the first media",
                self.missing_onmetadata,
            ),
            count(
                "extended-timestamp-not-repeated",
                "type-3 chunks without the repeated extended timestamp",
                chunk.extended_timestamp_not_repeated,
            ),
            count(
                "chunk-size-changed-mid-message",
                "SetChunkSize in the middle of a message",
                chunk.chunk_size_changed_mid_message,
            ),
            count(
                "abandoned-messages",
                "messages abandoned by a new header on their chunk stream",
                chunk.abandoned_messages,
            ),
            count(
                "compressed-header-on-new-chunk-stream",
                "compressed chunk headers on a new chunk stream",
                chunk.compressed_header_on_new_chunk_stream,
            ),
            count(
                "chunk-size-over-limit",
                "chunk sizes above the limit (clamped)",
                chunk.chunk_size_over_limit,
            ),
            count(
                "publish-without-create-stream",
                "publish on a stream createStream did not create",
                self.session.publish_without_create_stream,
            ),
        ]
    }

    /// A track's timestamp and configuration anomalies, each counted.
    pub fn track_anomalies(timing: &TrackTiming) -> [Count; 4] {
        [
            count("dts-backwards", "DTS went backwards", timing.dts_backwards),
            count(
                "pts-before-dts",
                "frames with PTS before DTS",
                timing.pts_before_dts,
            ),
            count("gaps", "gaps over two frame intervals", timing.gaps),
            count(
                "sequence-header-changes",
                "sequence header changes",
                timing.sequence_header_changes,
            ),
        ]
    }

    /// Timestamp jumps (over the timeline's resync step), for the whole publish.
    pub fn jumps(&self) -> Count {
        count(
            "timestamp-jumps",
            "timestamp jumps (resynchronised)",
            self.timestamp_jumps,
        )
    }

    /// Every anomaly of every track, and the jumps.
    pub fn anomaly_count(&self) -> u64 {
        self.timings()
            .flat_map(|(_, t)| Self::track_anomalies(t))
            .map(|c| c.n)
            .sum::<u64>()
            + self.timestamp_jumps
    }

    /// Every tolerated deviation.
    pub fn deviation_count(&self) -> u64 {
        self.tolerated().iter().map(|c| c.n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: TrackKey = TrackKey::Video(0);
    const A: TrackKey = TrackKey::Audio(0);

    fn metadata() -> Amf0Value {
        Amf0Value::EcmaArray(vec![
            ("framerate".into(), Amf0Value::Number(30.0)),
            ("videodatarate".into(), Amf0Value::Number(2500.0)),
            ("audiodatarate".into(), Amf0Value::Number(128.0)),
        ])
    }

    /// `seconds` of 30 fps video and 48 kHz AAC (1024 samples a frame), interleaved by time.
    fn clean_publish(r: &mut PublishReport, start_ms: u32, seconds: u32) {
        let (mut v, mut a) = (0u32, 0u32);
        loop {
            let vt = v * 1000 / 30;
            let at = a * 1024 * 1000 / 48_000;
            if vt.min(at) >= seconds * 1000 {
                break;
            }
            if vt <= at {
                r.on_media_message(Media::Video, start_ms.wrapping_add(vt));
                r.on_frame(V, v % 60 == 0, 0, 0, 1000);
                v += 1;
            } else {
                r.on_media_message(Media::Audio, start_ms.wrapping_add(at));
                r.on_frame(A, true, 0, 0, 300);
                a += 1;
            }
        }
    }

    #[test]
    fn a_clean_publish_counts_nothing() {
        let mut r = PublishReport::default();
        r.on_metadata(&metadata());
        r.on_sequence_header(V, &Bytes::from_static(b"avcC"));
        r.on_sequence_header(V, &Bytes::from_static(b"avcC"));
        clean_publish(&mut r, 0, 4);
        assert_eq!((r.anomaly_count(), r.deviation_count()), (0, 0));
        assert_eq!(r.tracks[&V].timing.sequence_headers, 2);
        // Interleaved by time: the newest audio and video are never a frame apart.
        assert!(r.skew.max_ms().unwrap() <= 34);
        assert_eq!(r.declared.for_track(V), (Some(30.0), Some(2_500_000.0)));
        assert_eq!(r.declared.for_track(A), (None, Some(128_000.0)));
    }

    #[test]
    fn missing_onmetadata_is_counted_once() {
        let mut r = PublishReport::default();
        clean_publish(&mut r, 0, 1);
        r.on_metadata(&metadata());
        clean_publish(&mut r, 1000, 1);
        assert_eq!(r.missing_onmetadata, 1);
        assert_eq!((r.deviation_count(), r.anomaly_count()), (1, 0));
    }

    #[test]
    fn a_jump_is_one_anomaly_across_all_tracks() {
        let mut r = PublishReport::default();
        r.on_metadata(&metadata());
        clean_publish(&mut r, 60_000, 2);
        // The encoder's clock restarts at 0: no step back, no gap, no skew of a minute.
        clean_publish(&mut r, 0, 2);
        assert_eq!(r.timestamp_jumps, 1);
        assert_eq!(r.anomaly_count(), 1);
        assert!(r.skew.max_ms().unwrap() <= 34);
        // And across the 32-bit wrap nothing jumps.
        let mut r = PublishReport::default();
        r.on_metadata(&metadata());
        clean_publish(&mut r, u32::MAX - 1000, 2);
        assert_eq!(r.anomaly_count(), 0);
    }

    #[test]
    fn sequence_header_changes_and_mislabelled_hevc() {
        let mut r = PublishReport::default();
        r.on_metadata(&metadata());
        r.on_sequence_header(V, &Bytes::from_static(b"one"));
        r.on_sequence_header(V, &Bytes::from_static(b"two"));
        r.on_hevc_under_avc_codec_id();
        assert_eq!((r.anomaly_count(), r.deviation_count()), (1, 1));
        assert_eq!(r.tolerated()[0].n, 1);
    }

    #[test]
    fn session_deviations_are_counted() {
        let mut r = PublishReport::default();
        r.on_metadata(&metadata());
        let mut o = SessionObservations::default();
        o.chunk.extended_timestamp_not_repeated = 1;
        o.chunk.chunk_size_changed_mid_message = 1;
        r.set_session(o);
        assert_eq!(r.deviation_count(), 2);
        assert_eq!(r.deviation_count(), o.deviations());
    }
}
