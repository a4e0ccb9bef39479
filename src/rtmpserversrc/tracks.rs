// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! What a publish's tracks are: codec, decoder configuration, the facts that refine their caps
//! (colorInfo metadata, VP8/VP9 frame sizes, MP3/AC-3 frame headers) and the caps that follow.
//!
//! No pads and no element here: every change says whether the track's caps changed, and the
//! publisher (publisher.rs) decides what to do about it. Unit-tested on its own.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;

use super::caps::{self, VideoHints};
use super::outputs::TrackKey;
use super::tags::TrackCodec as Codec;
use crate::flv::{AudioCodec, AudioInfo, ColorMetadata, LegacyAudioFormat, VideoCodec};

#[derive(Debug)]
pub(super) struct Track {
    pub codec: Codec,
    pub config: Option<Bytes>,
    pub legacy_audio: Option<LegacyAudioFormat>,
    /// Enhanced RTMP colorInfo metadata for this track's codec.
    pub color: Option<ColorMetadata>,
    /// Picture size from the latest keyframe, for codecs whose record has none (VP8/VP9).
    pub frame_size: Option<(u32, u32)>,
    /// Rate and channels from the latest frame header (MP3, AC-3, E-AC-3).
    pub frame_audio: Option<AudioInfo>,
    pub caps: Option<gst::Caps>,
    /// The track has a pad.
    pub exposed: bool,
    /// The tags last sent on the pad.
    pub tags: Option<gst::TagList>,
    /// The next buffer starts a new session or follows a gap.
    pub discont: bool,
}

impl Track {
    fn new(codec: Codec) -> Self {
        Track {
            codec,
            config: None,
            legacy_audio: None,
            color: None,
            frame_size: None,
            frame_audio: None,
            caps: None,
            exposed: false,
            tags: None,
            discont: true,
        }
    }
}

/// Why a coded frame cannot be given to a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotReady {
    /// Its decoder configuration has not arrived: nothing downstream could decode it.
    NoConfig,
    /// The publisher has more tracks than `max-tracks`.
    OverLimit,
}

/// The tracks of one publish, by key (a map underneath: `get`, `iter` and the like work).
#[derive(Debug)]
pub(super) struct Tracks {
    map: BTreeMap<TrackKey, Track>,
    max_tracks: usize,
    /// The frame rate onMetaData announced, for video caps whose record has none.
    pub framerate_hint: Option<f64>,
}

impl Deref for Tracks {
    type Target = BTreeMap<TrackKey, Track>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl DerefMut for Tracks {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

impl Tracks {
    pub fn new(max_tracks: usize) -> Self {
        Tracks {
            map: BTreeMap::new(),
            max_tracks,
            framerate_hint: None,
        }
    }

    /// A sequence header: remembers the record and recomputes the caps. Ok(true) when the
    /// caps changed.
    pub fn set_config(
        &mut self,
        key: TrackKey,
        codec: Codec,
        config: Option<Bytes>,
        legacy: Option<LegacyAudioFormat>,
    ) -> Result<bool, NotReady> {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_tracks {
            return Err(NotReady::OverLimit);
        }
        let track = self.map.entry(key).or_insert_with(|| Track::new(codec));
        if track.codec != codec {
            // A codec switch: what the old codec's stream said no longer applies.
            track.color = None;
            track.frame_size = None;
            track.frame_audio = None;
        }
        track.codec = codec;
        track.config = config;
        track.legacy_audio = legacy;
        Ok(self.refresh_caps(key))
    }

    /// Recomputes the caps of `key` from what its track knows; true when they changed.
    pub fn refresh_caps(&mut self, key: TrackKey) -> bool {
        let framerate = self.framerate_hint;
        let Some(track) = self.map.get_mut(&key) else {
            return false;
        };
        let caps = match track.codec {
            Codec::Video(codec) => {
                let hints = VideoHints {
                    framerate,
                    frame_size: track.frame_size,
                    color: track.color.clone(),
                };
                Some(caps::video_caps(codec, track.config.as_ref(), &hints))
            }
            Codec::Audio(codec) => caps::audio_caps(
                codec,
                track.config.as_ref(),
                track.legacy_audio.as_ref(),
                track.frame_audio.as_ref(),
            ),
        };
        let changed = track.caps != caps;
        track.caps = caps;
        changed
    }

    /// A track whose sequence header turned out to be HEVC keeps that codec for its frames.
    pub fn effective_video_codec(&self, key: TrackKey, labelled: VideoCodec) -> VideoCodec {
        match self.map.get(&key) {
            Some(Track {
                codec: Codec::Video(VideoCodec::H265),
                ..
            }) if labelled == VideoCodec::H264 => VideoCodec::H265,
            _ => labelled,
        }
    }

    /// Enhanced RTMP colorInfo for `key`, if its current codec is `codec` (FFmpeg labels the
    /// colorInfo of every video stream as track 0; metadata before its sequence header has
    /// nothing to apply to). True when the caps changed.
    pub fn set_color(&mut self, key: TrackKey, codec: VideoCodec, color: ColorMetadata) -> bool {
        let codec = self.effective_video_codec(key, codec);
        match self.map.get_mut(&key) {
            Some(track) if track.codec == Codec::Video(codec) => {
                if track.color.as_ref() == Some(&color) {
                    return false;
                }
                track.color = Some(color);
            }
            _ => return false,
        }
        self.refresh_caps(key)
    }

    /// The picture size of a VP8/VP9 keyframe; true when the caps changed.
    pub fn set_frame_size(&mut self, key: TrackKey, size: (u32, u32)) -> bool {
        let Some(track) = self.map.get_mut(&key) else {
            return false;
        };
        if track.frame_size == Some(size) {
            return false;
        }
        track.frame_size = Some(size);
        self.refresh_caps(key)
    }

    /// Rate and channels from an audio frame header; true when the caps changed.
    pub fn set_frame_audio(&mut self, key: TrackKey, info: AudioInfo) -> bool {
        let Some(track) = self.map.get_mut(&key) else {
            return false;
        };
        let same = track
            .frame_audio
            .as_ref()
            .is_some_and(|old| (old.rate, old.channels) == (info.rate, info.channels));
        if same {
            return false;
        }
        track.frame_audio = Some(info);
        self.refresh_caps(key)
    }

    /// Makes sure the track of a coded frame has caps: Ok(true) when they were (re)computed and
    /// changed, Ok(false) when nothing changed.
    pub fn ensure(
        &mut self,
        key: TrackKey,
        codec: Codec,
        legacy: Option<LegacyAudioFormat>,
    ) -> Result<bool, NotReady> {
        if let Some(track) = self.map.get(&key) {
            if track.codec == codec && track.caps.is_some() {
                return Ok(false);
            }
        }
        let needs_config = matches!(
            codec,
            Codec::Video(VideoCodec::H264 | VideoCodec::H265 | VideoCodec::Vvc)
                | Codec::Audio(AudioCodec::Aac | AudioCodec::Opus | AudioCodec::Flac)
        );
        let config = self
            .map
            .get(&key)
            .filter(|t| t.codec == codec)
            .and_then(|t| t.config.clone());
        if needs_config && config.is_none() {
            return Err(NotReady::NoConfig);
        }
        let changed = self.set_config(key, codec, config, legacy)?;
        if self.map.get(&key).is_some_and(|t| t.caps.is_some()) {
            Ok(changed)
        } else {
            Err(NotReady::NoConfig)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::test_vectors::{AV1_AV1C, X265_HVCC};

    fn tracks(max: usize) -> Tracks {
        gst::init().unwrap();
        Tracks::new(max)
    }

    const V: TrackKey = TrackKey::Video(0);
    const A: TrackKey = TrackKey::Audio(0);

    fn media_type(t: &Tracks, key: TrackKey) -> String {
        t[&key]
            .caps
            .as_ref()
            .unwrap()
            .structure(0)
            .unwrap()
            .name()
            .to_string()
    }

    #[test]
    fn a_frame_before_its_sequence_header_has_no_track() {
        let mut t = tracks(16);
        let h264 = Codec::Video(VideoCodec::H264);
        assert_eq!(t.ensure(V, h264, None), Err(NotReady::NoConfig));
        // Codecs without a record get caps from the frames alone.
        let vp8 = Codec::Video(VideoCodec::Vp8);
        assert_eq!(t.ensure(V, vp8, None), Ok(true));
        assert_eq!(media_type(&t, V), "video/x-vp8");
        assert_eq!(t.ensure(V, vp8, None), Ok(false), "nothing changed");
    }

    #[test]
    fn a_codec_switch_forgets_what_the_old_codec_said() {
        let mut t = tracks(16);
        let vp9 = Codec::Video(VideoCodec::Vp9);
        assert_eq!(t.ensure(V, vp9, None), Ok(true));
        assert!(t.set_frame_size(V, (640, 360)));
        assert!(
            !t.set_frame_size(V, (640, 360)),
            "the same size changes nothing"
        );
        let av1 = Codec::Video(VideoCodec::Av1);
        assert_eq!(
            t.set_config(V, av1, Some(Bytes::from_static(AV1_AV1C)), None),
            Ok(true)
        );
        assert_eq!(t[&V].frame_size, None);
        assert_eq!(media_type(&t, V), "video/x-av1");
    }

    #[test]
    fn hevc_under_the_h264_codec_id_stays_hevc() {
        let mut t = tracks(16);
        let h265 = Codec::Video(VideoCodec::H265);
        assert_eq!(
            t.set_config(V, h265, Some(Bytes::from_static(X265_HVCC)), None),
            Ok(true)
        );
        assert_eq!(
            t.effective_video_codec(V, VideoCodec::H264),
            VideoCodec::H265
        );
        assert_eq!(
            t.effective_video_codec(A, VideoCodec::H264),
            VideoCodec::H264
        );
    }

    #[test]
    fn tracks_past_the_limit_are_refused() {
        let mut t = tracks(1);
        let vp8 = Codec::Video(VideoCodec::Vp8);
        assert_eq!(t.ensure(V, vp8, None), Ok(true));
        let mp3 = Codec::Audio(AudioCodec::Mp3);
        assert_eq!(t.set_config(A, mp3, None, None), Err(NotReady::OverLimit));
        assert_eq!(t.ensure(A, mp3, None), Err(NotReady::OverLimit));
        assert_eq!(t.len(), 1);
    }
}
