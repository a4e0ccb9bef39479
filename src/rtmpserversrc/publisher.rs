// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! One accepted publish: turns RTMP media messages into timestamped buffers on the output pads.
//!
//! It runs on the connection's thread and owns its state: it parses the FLV tag (slicing, not
//! copying), stamps the buffer and queues it for the track's pad thread (outputs.rs). Each job
//! it ties together has a module of its own, the pure ones unit-tested without GStreamer: the
//! timeline (timeline.rs) and clock skew (clock_sync.rs), track and caps discovery (tracks.rs),
//! settle-and-hold (settle.rs), tags (tags.rs), statistics (publish_stats.rs), the publish
//! report (publish_report/) and the handle the element keeps (publish_slot.rs).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::caps;
use super::clock_sync::SkewCorrector;
use super::failover::Role;
use super::failover_gate::FailoverGate;
use super::outputs::{OutputConfig, PushOutcome, TrackKey};
use super::publish_report::{Media, PublishReport, TrackDescription};
use super::publish_slot::PublishSlot;
use super::publish_stats::{PublishSnapshot, PublishStats, SNAPSHOT_INTERVAL};
use super::running_clock::RunningClockReader;
use super::settings::ClockSync;
use super::settle::{should_settle, HeldMedia, SettleFacts, SETTLE_WAIT};
use super::tags::{self, StreamMetadata, TrackCodec as Codec};
use super::timeline::Timeline;
use super::tracks::{NotReady, Track, Tracks};
use crate::flv::{self, AudioCodec, AudioPacket, LegacyAudioFormat, VideoCodec, VideoPacket};
use crate::rtmp::{Amf0Value, SessionObservations};
use crate::server::{
    CloseReason, Delivery, MediaMessage, Publisher, PushWatch, ReconnectRequest, TimerDue,
};
use crate::CAT;

/// Per-publish settings, fixed when the publish is accepted.
#[derive(Debug, Clone, Copy)]
pub(super) struct PublishConfig {
    pub eos_on_disconnect: bool,
    pub clock_sync: ClockSync,
    /// Tracks (pads) this publisher may create.
    pub max_tracks: usize,
    pub output: OutputConfig,
}

pub(super) struct SessionPublisher {
    element: super::RtmpServerSrc,
    slot: Arc<PublishSlot>,
    config: PublishConfig,
    /// With `failover`: this publisher's role, and the gate its media goes through.
    failover: Option<(Role, Arc<FailoverGate>)>,
    timeline: Option<Timeline>,
    /// With clock-sync=skew: the session's clock skew and its correction (clock_sync.rs).
    skew: Option<SkewCorrector>,
    /// Back-pressure made this thread wait since its socket was last drained: messages read
    /// until it is drained again arrived before they were read, so their arrival times are not
    /// the publisher's clock.
    backlog: bool,
    /// The element's running time while PLAYING (see running_clock.rs).
    running_clock: RunningClockReader,
    /// [`Outputs::sender_waits`] when `backlog` was last brought up to date.
    ///
    /// [`Outputs::sender_waits`]: super::outputs::Outputs::sender_waits
    sender_waits: u64,
    tracks: Tracks,
    /// From onMetaData: whether the publisher announced video / audio.
    expect_video: Option<bool>,
    expect_audio: Option<bool>,
    /// The latest onMetaData, for the pads' tags.
    metadata: Option<StreamMetadata>,
    settled: bool,
    /// Media that arrived before the pads were exposed (settle.rs).
    held: HeldMedia<(TrackKey, gst::Buffer)>,
    failed: Option<CloseReason>,
    stats: PublishStats,
    /// Media arrived since the last statistics snapshot.
    snapshot_stale: bool,
    track_limit_warned: bool,
    /// What the publisher really sends (publish_report.rs): fed by the hooks below.
    report: PublishReport,
    /// Handed to the connection thread after a read when it should push itself.
    delivery: Arc<dyn Delivery>,
}

/// The element's queued media, pushed by the connection thread itself (direct delivery,
/// pad_queues.rs).
struct ElementDelivery(super::RtmpServerSrc);

impl Delivery for ElementDelivery {
    fn deliver(&self, watch: &PushWatch) -> bool {
        self.0.imp().outputs.deliver_directly(watch)
    }

    fn fall_back(&self) {
        self.0.imp().outputs.fall_back();
    }
}

impl SessionPublisher {
    pub fn new(
        element: super::RtmpServerSrc,
        slot: Arc<PublishSlot>,
        config: PublishConfig,
        failover: Option<(Role, Arc<FailoverGate>)>,
    ) -> Self {
        let report = PublishReport::new(slot.info.connect.clone());
        let sender_waits = element.imp().outputs.sender_waits();
        SessionPublisher {
            report,
            delivery: Arc::new(ElementDelivery(element.clone())),
            element,
            slot,
            config,
            failover,
            timeline: None,
            skew: (config.clock_sync == ClockSync::Skew).then(SkewCorrector::new),
            backlog: false,
            running_clock: RunningClockReader::default(),
            sender_waits,
            tracks: Tracks::new(config.max_tracks),
            expect_video: None,
            expect_audio: None,
            metadata: None,
            settled: false,
            held: HeldMedia::new(),
            failed: None,
            stats: PublishStats::new(Instant::now()),
            snapshot_stale: false,
            track_limit_warned: false,
        }
    }

    /// Running time of an RTMP timestamp. The first one maps to "now", or just after what a
    /// previous session pushed, so time only moves forward across reconnects. With
    /// clock-sync=skew the publisher's clock drift is then corrected (clock_sync.rs), measured
    /// on messages that carry coded frames (`paced`): sequence headers and metadata go out when
    /// the publisher connects or reconfigures, not at its media's pace.
    fn running_time(&mut self, timestamp: u32, paced: bool) -> gst::ClockTime {
        let timeline = self.timeline.get_or_insert_with(|| {
            let now = self
                .element
                .current_running_time()
                .unwrap_or(gst::ClockTime::ZERO);
            let after_previous = self
                .element
                .imp()
                .outputs
                .high_water()
                .map(|t| t + gst::ClockTime::from_mseconds(1));
            let base = after_previous.map_or(now, |p| p.max(now));
            gst::debug!(CAT, obj = self.element, "session timeline starts at {base}");
            Timeline::new(base, timestamp)
        });
        let mapped = timeline.map(timestamp);
        if mapped.resynced {
            gst::warning!(
                CAT,
                obj = self.element,
                "timestamp jump from {} (to {timestamp} ms): resynchronised",
                self.slot.peer
            );
            self.stats.on_timestamp_jump();
            // Every track's next buffer follows a gap in the publisher's time.
            for track in self.tracks.values_mut() {
                track.discont = true;
            }
            if let Some(skew) = self.skew.as_mut() {
                skew.restart();
            }
        }
        if self.skew.is_none() {
            return mapped.running_time;
        }
        let media = mapped.running_time.nseconds() as i64;
        let arrival = if paced { self.arrival_time() } else { None };
        let Some(skew) = self.skew.as_mut() else {
            return mapped.running_time;
        };
        if let Some(arrival) = arrival {
            if let Some(ppm) = skew.observe(arrival, media) {
                gst::warning!(
                    CAT,
                    obj = self.element,
                    "the clock of {} runs {ppm:.0} ppm off the pipeline clock: more than \
                     {:.0} %, a broken encoder or media sent faster than real time; only that \
                     much is corrected",
                    self.slot.peer,
                    super::clock_sync::MAX_SKEW * 100.0
                );
            }
        }
        gst::ClockTime::from_nseconds(skew.correct(media).max(0) as u64)
    }

    /// The running time (ns) at which the message being handled arrived, if it tells the
    /// publisher's clock: the pipeline is PLAYING (its running time advances) and no
    /// back-pressure held the socket unread since it was last drained.
    fn arrival_time(&mut self) -> Option<i64> {
        let waits = self.element.imp().outputs.sender_waits();
        if waits != self.sender_waits {
            self.sender_waits = waits;
            self.backlog = true;
        }
        if self.backlog {
            return None;
        }
        let now = self.running_clock.now(&self.element.imp().running_clock)?;
        Some(now.nseconds() as i64)
    }

    fn on_video(&mut self, timestamp: u32, payload: Bytes) {
        self.report.on_media_message(Media::Video, timestamp);
        let legacy_codec_id = flv::legacy_video_codec_id(&payload);
        // By value: a legacy tag's frame is the payload itself, with no allocation.
        let packets = match flv::parse_video_owned(payload) {
            Ok(packets) => packets,
            Err(err) => {
                gst::warning!(
                    CAT,
                    obj = self.element,
                    "skipping video message from {}: {err}",
                    self.slot.peer
                );
                return;
            }
        };
        let paced = packets
            .iter()
            .any(|p| matches!(p, VideoPacket::Frame { data, .. } if !data.is_empty()));
        let dts = self.running_time(timestamp, paced);
        for packet in packets {
            match packet {
                VideoPacket::SequenceStart {
                    track,
                    codec,
                    config,
                } => {
                    // Older OBS labelled HEVC as AVC (codec id 7): trust the record, not the label.
                    let labelled_avc = codec == VideoCodec::H264 || legacy_codec_id == Some(7);
                    let codec = if codec == VideoCodec::H264 && flv::looks_like_hvcc(&config) {
                        VideoCodec::H265
                    } else {
                        codec
                    };
                    if labelled_avc && codec == VideoCodec::H265 {
                        self.report.on_hevc_under_avc_codec_id();
                    }
                    self.report
                        .on_sequence_header(TrackKey::Video(track), &config);
                    self.set_config(
                        TrackKey::Video(track),
                        Codec::Video(codec),
                        Some(config),
                        None,
                    );
                }
                VideoPacket::Frame {
                    track,
                    codec,
                    keyframe,
                    composition_time_ms,
                    timestamp_offset_ns,
                    data,
                } => {
                    let key = TrackKey::Video(track);
                    if data.is_empty() {
                        continue;
                    }
                    let codec = self.tracks.effective_video_codec(key, codec);
                    if !self.ensure_track(key, Codec::Video(codec), None) {
                        continue;
                    }
                    self.report.on_frame(
                        key,
                        keyframe,
                        composition_time_ms,
                        timestamp_offset_ns,
                        data.len(),
                    );
                    if keyframe && caps::video_size_in_frames(codec) {
                        if let Some(size) = flv::video_frame_size(codec, &data) {
                            self.note_frame_size(key, size);
                        }
                    }
                    let offset = gst::ClockTime::from_nseconds(u64::from(timestamp_offset_ns));
                    let dts = dts + offset;
                    let pts_ns = dts.nseconds() as i64 + i64::from(composition_time_ms) * 1_000_000;
                    let pts = gst::ClockTime::from_nseconds(pts_ns.max(0) as u64);
                    self.emit(key, data, pts, Some(dts), keyframe);
                }
                VideoPacket::Metadata { track, codec, amf } => {
                    self.on_video_metadata(TrackKey::Video(track), codec, &amf)
                }
                VideoPacket::SequenceEnd { .. } | VideoPacket::Command { .. } => {}
            }
        }
    }

    fn on_audio(&mut self, timestamp: u32, payload: Bytes) {
        self.report.on_media_message(Media::Audio, timestamp);
        let packets = match flv::parse_audio_owned(payload) {
            Ok(packets) => packets,
            Err(err) => {
                gst::warning!(
                    CAT,
                    obj = self.element,
                    "skipping audio message from {}: {err}",
                    self.slot.peer
                );
                return;
            }
        };
        let paced = packets
            .iter()
            .any(|p| matches!(p, AudioPacket::Frame { data, .. } if !data.is_empty()));
        let ts = self.running_time(timestamp, paced);
        for packet in packets {
            match packet {
                AudioPacket::SequenceStart {
                    track,
                    codec,
                    config,
                } => {
                    self.report
                        .on_sequence_header(TrackKey::Audio(track), &config);
                    self.set_config(
                        TrackKey::Audio(track),
                        Codec::Audio(codec),
                        Some(config),
                        None,
                    );
                }
                AudioPacket::Frame {
                    track,
                    codec,
                    legacy,
                    timestamp_offset_ns,
                    data,
                } => {
                    let key = TrackKey::Audio(track);
                    if data.is_empty() {
                        // Nothing to decode (FFmpeg relays an AC-3 sequence start this way).
                        continue;
                    }
                    if !self.ensure_track(key, Codec::Audio(codec), legacy) {
                        continue;
                    }
                    self.report
                        .on_frame(key, true, 0, timestamp_offset_ns, data.len());
                    if caps::audio_info_in_frames(codec) {
                        self.note_frame_audio(key, codec, &data);
                    }
                    let pts = ts + gst::ClockTime::from_nseconds(u64::from(timestamp_offset_ns));
                    self.emit(key, data, pts, Some(pts), true);
                }
                AudioPacket::SequenceEnd { .. } | AudioPacket::MultichannelConfig { .. } => {}
            }
        }
    }

    fn on_metadata(&mut self, values: &[Amf0Value]) {
        let Some(props) = values
            .iter()
            .position(|v| v.as_str() == Some("onMetaData"))
            .and_then(|i| values.get(i + 1))
        else {
            return;
        };
        self.report.on_metadata(props);
        let has = |key: &str| {
            props
                .get(key)
                .is_some_and(|v| !matches!(v, Amf0Value::Null | Amf0Value::Undefined))
        };
        self.expect_video = Some(has("videocodecid") || has("width") || has("videodatarate"));
        self.expect_audio =
            Some(has("audiocodecid") || has("audiosamplerate") || has("audiodatarate"));
        self.tracks.framerate_hint = props.get("framerate").and_then(Amf0Value::as_number);
        let metadata = tags::parse_on_metadata(props);
        if self.metadata.as_ref() != Some(&metadata) {
            self.metadata = Some(metadata);
            if self.settled {
                let keys: Vec<TrackKey> = self.tracks.keys().copied().collect();
                for key in keys {
                    self.send_tags(key);
                }
            }
        }
        gst::debug!(
            CAT,
            obj = self.element,
            "onMetaData: video {:?} audio {:?} framerate {:?}",
            self.expect_video,
            self.expect_audio,
            self.tracks.framerate_hint
        );
    }

    /// A sequence header: remember the record and recompute the caps.
    fn set_config(
        &mut self,
        key: TrackKey,
        codec: Codec,
        config: Option<Bytes>,
        legacy: Option<LegacyAudioFormat>,
    ) {
        let result = self.tracks.set_config(key, codec, config, legacy);
        self.track_changed(key, result);
    }

    /// Acts on what a change did to a track: a caps change reaches the pad (once the pads are
    /// out) before the next buffer.
    fn track_changed(&mut self, key: TrackKey, result: Result<bool, NotReady>) {
        match result {
            Ok(true) if self.settled => self.open_output(key),
            Ok(_) => {}
            Err(NotReady::OverLimit) => {
                if !self.track_limit_warned {
                    self.track_limit_warned = true;
                    gst::warning!(
                        CAT,
                        obj = self.element,
                        "{} announces more than {} tracks (max-tracks): {} and further ones ignored",
                        self.slot.peer,
                        self.config.max_tracks,
                        key.pad_name()
                    );
                }
            }
            Err(NotReady::NoConfig) => gst::debug!(
                CAT,
                obj = self.element,
                "{}: frame before its sequence header, dropped",
                key.pad_name()
            ),
        }
    }

    /// An Enhanced RTMP video Metadata packet (colorInfo) for the track's current codec.
    fn on_video_metadata(&mut self, key: TrackKey, codec: VideoCodec, amf: &[u8]) {
        let color = match flv::parse_color_info(amf) {
            Ok(color) => color,
            Err(err) => {
                gst::debug!(CAT, obj = self.element, "{}: {err}", key.pad_name());
                return;
            }
        };
        gst::debug!(
            CAT,
            obj = self.element,
            "{}: colorInfo {color:?}",
            key.pad_name()
        );
        let changed = self.tracks.set_color(key, codec, color);
        self.track_changed(key, Ok(changed));
    }

    fn note_frame_size(&mut self, key: TrackKey, size: (u32, u32)) {
        let changed = self.tracks.set_frame_size(key, size);
        self.track_changed(key, Ok(changed));
    }

    fn note_frame_audio(&mut self, key: TrackKey, codec: AudioCodec, frame: &[u8]) {
        match flv::audio_info(codec, frame) {
            Ok(info) => {
                let changed = self.tracks.set_frame_audio(key, info);
                self.track_changed(key, Ok(changed));
            }
            Err(err) => gst::log!(
                CAT,
                obj = self.element,
                "{}: frame header: {err}",
                key.pad_name()
            ),
        }
    }

    /// Makes sure the track of a coded frame has caps. False: drop the frame (its decoder
    /// configuration has not arrived, so nothing downstream could decode it, or the track is
    /// over `max-tracks`).
    fn ensure_track(
        &mut self,
        key: TrackKey,
        codec: Codec,
        legacy: Option<LegacyAudioFormat>,
    ) -> bool {
        let result = self.tracks.ensure(key, codec, legacy);
        let ready = result.is_ok();
        self.track_changed(key, result);
        ready
    }

    /// Creates or updates the pad of a track that has caps.
    fn open_output(&mut self, key: TrackKey) {
        if self.slot.flags.evicted.load(Ordering::SeqCst) {
            // The pads belong to the publisher that replaced this one.
            self.failed = Some(CloseReason::Replaced);
            return;
        }
        let Some(track) = self.tracks.get_mut(&key) else {
            return;
        };
        let Some(caps) = track.caps.clone() else {
            return;
        };
        let exposed = match &self.failover {
            Some((role, gate)) => {
                gate.caps(&self.element, *role, key, self.slot.connection_id, &caps)
            }
            None => self.element.imp().outputs.ensure(
                &self.element,
                key,
                self.slot.connection_id,
                &caps,
                self.config.output,
            ),
        };
        match exposed {
            Ok(()) => {
                track.exposed = true;
                self.send_tags(key);
            }
            // The element is leaving PAUSED: its pads are gone.
            Err(gst::FlowError::Flushing) => self.failed = Some(CloseReason::Shutdown),
            Err(err) => {
                gst::error!(
                    CAT,
                    obj = self.element,
                    "cannot expose {}: {err:?}",
                    key.pad_name()
                );
                self.failed = Some(CloseReason::Downstream);
            }
        }
    }

    /// Sends the track's tags (codec name, onMetaData facts) on its pad when they changed.
    fn send_tags(&mut self, key: TrackKey) {
        let metadata = self.metadata.as_ref();
        let Some(track) = self.tracks.get_mut(&key) else {
            return;
        };
        if !track.exposed {
            return;
        }
        if let Some((role, gate)) = &self.failover {
            // Only the publisher the pads show tags them.
            if gate.active() != Some(*role) {
                return;
            }
        }
        let id = match key {
            TrackKey::Video(id) | TrackKey::Audio(id) => id,
        };
        let tags = tags::track_tags(track.codec, id, metadata);
        if track.tags.as_ref() == Some(&tags) {
            return;
        }
        gst::debug!(CAT, obj = self.element, "{}: tags {tags:?}", key.pad_name());
        let outputs = &self.element.imp().outputs;
        let tag = gst::event::Tag::new(tags.clone());
        if outputs.send_event(key, self.slot.connection_id, tag) {
            track.tags = Some(tags);
        }
    }

    fn emit(
        &mut self,
        key: TrackKey,
        data: Bytes,
        pts: gst::ClockTime,
        dts: Option<gst::ClockTime>,
        keyframe: bool,
    ) {
        let size = data.len();
        let mut buffer = gst::Buffer::from_slice(data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
            b.set_dts(dts);
            if !keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
            let mut discont = false;
            if let Some(track) = self.tracks.get_mut(&key) {
                if std::mem::take(&mut track.discont) {
                    b.set_flags(gst::BufferFlags::DISCONT);
                    discont = true;
                }
            }
            self.stats
                .on_frame(key, size, dts.unwrap_or(pts), keyframe, discont);
        }
        if self.settled {
            self.push(key, buffer);
        } else {
            self.held.hold((key, buffer), size, Instant::now());
        }
    }

    fn push(&mut self, key: TrackKey, buffer: gst::Buffer) {
        if self.failed.is_some() {
            return;
        }
        if !self.tracks.get(&key).is_some_and(|t| t.exposed) {
            return;
        }
        let outcome = match &self.failover {
            Some((role, gate)) => {
                gate.buffer(&self.element, *role, key, self.slot.connection_id, buffer)
            }
            None => self.element.imp().outputs.send(
                key,
                self.slot.connection_id,
                buffer,
                &self.slot.flags.evicted,
            ),
        };
        // A wait for room (back-pressure) ends as activity, not as silence.
        self.slot.touch(Instant::now());
        match outcome {
            PushOutcome::Ok => {}
            PushOutcome::Replaced => self.failed = Some(CloseReason::Replaced),
            // Downstream stopped, or failed: the pad thread that saw it posted the error.
            PushOutcome::Stopped | PushOutcome::Failed(_) => {
                self.failed = Some(CloseReason::Downstream)
            }
        }
    }

    /// Copies the statistics where the element reads them, at most twice a second.
    fn refresh_snapshot(&mut self, now: Instant, force: bool) {
        if !(self.stats.snapshot_due(now) || force) {
            self.snapshot_stale = true;
            return;
        }
        self.snapshot_stale = false;
        if let Some(skew) = &self.skew {
            self.stats.set_clock(skew.skew_ppm(), skew.correction_ms());
        }
        let snapshot = PublishSnapshot {
            stats: self.stats.clone(),
            report: self.report.clone(),
            tracks: self
                .tracks
                .iter()
                .map(|(key, t)| {
                    let description = TrackDescription {
                        codec_name: t.codec.name(),
                        caps: t.caps.clone(),
                    };
                    (*key, description)
                })
                .collect(),
            taken: now,
        };
        if let Ok(mut slot) = self.slot.snapshot.lock() {
            *slot = Some(snapshot);
        }
    }

    /// Exposes the pads once the publisher's tracks are known, then releases held-back media.
    fn try_settle(&mut self, now: Instant, force: bool) {
        if self.settled {
            return;
        }
        let known = |want_video: bool, tracks: &BTreeMap<TrackKey, Track>| {
            tracks
                .iter()
                .any(|(k, t)| matches!(k, TrackKey::Video(_)) == want_video && t.caps.is_some())
        };
        let facts = SettleFacts {
            has_video: known(true, &self.tracks),
            has_audio: known(false, &self.tracks),
            expect_video: self.expect_video,
            expect_audio: self.expect_audio,
            first_media: self.held.first_arrival(),
            pending_bytes: self.held.bytes(),
            max_pending_bytes: self.config.output.max_pending_bytes,
        };
        if !should_settle(&facts, now, force) {
            return;
        }
        self.settled = true;
        if let Some(skew) = self.skew.as_mut() {
            skew.start_correcting();
        }
        let keys: Vec<TrackKey> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.caps.is_some())
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.open_output(key);
        }
        self.element.imp().outputs.no_more_pads_once(&self.element);
        let held: Vec<_> = self.held.release().collect();
        for (key, buffer) in held {
            self.push(key, buffer);
        }
        let tracks = self
            .tracks
            .iter()
            .filter_map(|(k, t)| {
                let codec = t.caps.as_ref()?.structure(0)?.name().to_string();
                Some((*k, codec))
            })
            .collect();
        self.element.imp().post_publish_started(&self.slot, tracks);
    }
}

impl Publisher for SessionPublisher {
    fn media(&mut self, message: MediaMessage) -> Result<(), CloseReason> {
        if let Some(reason) = self.slot.evicted_for() {
            return Err(reason);
        }
        let now = Instant::now();
        self.slot.touch(now);
        let size = match &message {
            MediaMessage::Video { payload, .. } | MediaMessage::Audio { payload, .. } => {
                payload.len()
            }
            MediaMessage::Metadata { .. } => 0,
        };
        self.stats.on_message(size, now);
        match message {
            MediaMessage::Video { timestamp, payload } => self.on_video(timestamp, payload),
            MediaMessage::Audio { timestamp, payload } => self.on_audio(timestamp, payload),
            MediaMessage::Metadata { values, .. } => self.on_metadata(&values),
        }
        self.try_settle(now, false);
        self.refresh_snapshot(now, false);
        match self.failed {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    fn input_done(&mut self) -> Option<Arc<dyn Delivery>> {
        let outputs = &self.element.imp().outputs;
        // The socket is drained: what comes next is read as it arrives.
        self.sender_waits = outputs.sender_waits();
        self.backlog = false;
        if outputs.is_direct() {
            return Some(self.delivery.clone());
        }
        outputs.wake_pad_threads();
        None
    }

    fn input_pending(&mut self) -> Option<Arc<dyn Delivery>> {
        let outputs = &self.element.imp().outputs;
        outputs.is_direct().then(|| self.delivery.clone())
    }

    fn observe_session(&mut self, observations: &SessionObservations) {
        self.report.set_session(*observations);
    }

    fn next_deadline(&self) -> Option<TimerDue> {
        // The settle wait (the pads should appear on time), and a statistics snapshot of what
        // arrived since the last one (as late as another interval: the snapshot is that old
        // anyway).
        let settle = if self.settled {
            None
        } else {
            self.held.first_arrival().map(|first| TimerDue {
                at: first + SETTLE_WAIT,
                slack: Duration::ZERO,
            })
        };
        let snapshot = self
            .snapshot_stale
            .then(|| self.stats.next_snapshot())
            .flatten()
            .map(|at| TimerDue {
                at,
                slack: SNAPSHOT_INTERVAL,
            });
        match (settle, snapshot) {
            (Some(a), Some(b)) => Some(TimerDue::earliest(a, b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, now: Instant) -> Result<(), CloseReason> {
        if let Some(reason) = self.slot.evicted_for() {
            return Err(reason);
        }
        self.try_settle(now, false);
        self.refresh_snapshot(now, false);
        self.element.imp().outputs.wake_pad_threads();
        Ok(())
    }

    fn take_reconnect_request(&mut self) -> Option<ReconnectRequest> {
        self.slot.take_reconnect()
    }

    fn finish(mut self: Box<Self>, reason: CloseReason) {
        // Evicted publishers were woken by a shutdown of their socket: say why it happened.
        let reason = self.slot.evicted_for().unwrap_or(reason);
        // Whatever the publisher sent before leaving reaches the pads, unless the pads are
        // going away (shutdown) or belong to a newer publisher.
        let pads_are_ours = !matches!(reason, CloseReason::Shutdown | CloseReason::Replaced)
            && !self.slot.flags.evicted.load(Ordering::SeqCst);
        if pads_are_ours {
            self.try_settle(Instant::now(), true);
        }
        self.refresh_snapshot(Instant::now(), true);
        let imp = self.element.imp();
        let eos = self.config.eos_on_disconnect
            && !matches!(reason, CloseReason::Shutdown | CloseReason::Replaced);
        let eos = imp.publish_finished(&self.slot, reason, eos);
        if let Some((role, gate)) = self.failover.take() {
            // The other publisher takes over from its held keyframe, if it is there.
            gate.disconnected(&self.element, role);
        }
        if eos {
            // Behind everything queued: each pad drains before its EOS.
            imp.outputs.send_eos(self.slot.connection_id);
        }
        imp.outputs.wake_pad_threads();
    }
}
