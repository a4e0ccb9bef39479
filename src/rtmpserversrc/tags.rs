// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! onMetaData and codec facts → the GStreamer tags sent on each pad.

use crate::flv::{AudioCodec, VideoCodec};
use crate::rtmp::Amf0Value;

/// What a publisher's onMetaData says that is worth a tag.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct StreamMetadata {
    /// The publishing software ("encoder", e.g. "Lavf61.7.100" or "obs-output module ...").
    pub encoder: Option<String>,
    /// Per-kind encoder names some publishers send ("videoencoder", "audioencoder").
    pub video_encoder: Option<String>,
    pub audio_encoder: Option<String>,
    /// Configured bitrates in bits per second ("videodatarate" / "audiodatarate", in kbit/s).
    pub video_bitrate: Option<u32>,
    pub audio_bitrate: Option<u32>,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub comment: Option<String>,
    pub copyright: Option<String>,
    pub description: Option<String>,
}

/// Reads the properties object (Object or ECMA array) of an onMetaData.
pub(super) fn parse_on_metadata(props: &Amf0Value) -> StreamMetadata {
    let text = |key: &str| {
        props
            .get(key)
            .and_then(Amf0Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(1024).collect::<String>())
    };
    let kbps = |key: &str| {
        props
            .get(key)
            .and_then(Amf0Value::as_number)
            .filter(|n| n.is_finite() && *n > 0.0 && *n < 4_000_000.0)
            .map(|n| (n * 1000.0).round() as u32)
    };
    StreamMetadata {
        encoder: text("encoder"),
        video_encoder: text("videoencoder"),
        audio_encoder: text("audioencoder"),
        video_bitrate: kbps("videodatarate"),
        audio_bitrate: kbps("audiodatarate"),
        title: text("title"),
        artist: text("artist"),
        comment: text("comment"),
        copyright: text("copyright"),
        description: text("description"),
    }
}

/// The codec name a pad's tags carry, in the words GStreamer's own descriptions use.
pub(super) fn video_codec_name(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H264 => "H.264",
        VideoCodec::H265 => "H.265",
        VideoCodec::Av1 => "AV1",
        VideoCodec::Vp9 => "VP9",
        VideoCodec::Vp8 => "VP8",
        VideoCodec::Vvc => "H.266",
    }
}

pub(super) fn audio_codec_name(codec: AudioCodec) -> &'static str {
    match codec {
        AudioCodec::Aac => "MPEG-4 AAC",
        AudioCodec::Mp3 => "MPEG-1 Layer 3 (MP3)",
        AudioCodec::Opus => "Opus",
        AudioCodec::Flac => "Free Lossless Audio Codec (FLAC)",
        AudioCodec::Ac3 => "AC-3 (ATSC A/52)",
        AudioCodec::Eac3 => "E-AC-3 (ATSC A/52B)",
        AudioCodec::Pcm => "Uncompressed PCM",
        AudioCodec::Adpcm => "Shockwave ADPCM",
        AudioCodec::G711A => "A-Law",
        AudioCodec::G711U => "Mu-Law",
        AudioCodec::Speex => "Speex",
        AudioCodec::Nellymoser => "Nellymoser Asao",
    }
}

/// The codec of a track, for its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrackCodec {
    Video(VideoCodec),
    Audio(AudioCodec),
}

impl TrackCodec {
    /// The codec's name, as the pad's codec tag says it.
    pub fn name(self) -> &'static str {
        match self {
            TrackCodec::Video(c) => video_codec_name(c),
            TrackCodec::Audio(c) => audio_codec_name(c),
        }
    }
}

/// Stream tags for one pad. onMetaData describes the default tracks, so its bitrates only go
/// on track 0 of each kind; the encoder and descriptive tags apply to every track.
pub(super) fn track_tags(
    codec: TrackCodec,
    track_id: u8,
    metadata: Option<&StreamMetadata>,
) -> gst::TagList {
    let mut tags = gst::TagList::new();
    {
        let tags = tags.get_mut().expect("new tag list is writable");
        let replace = gst::TagMergeMode::Replace;
        match codec {
            TrackCodec::Video(c) => {
                tags.add::<gst::tags::VideoCodec>(&video_codec_name(c), replace);
            }
            TrackCodec::Audio(c) => {
                tags.add::<gst::tags::AudioCodec>(&audio_codec_name(c), replace);
            }
        }
        if let Some(meta) = metadata {
            let (encoder, bitrate) = match codec {
                TrackCodec::Video(_) => (meta.video_encoder.as_ref(), meta.video_bitrate),
                TrackCodec::Audio(_) => (meta.audio_encoder.as_ref(), meta.audio_bitrate),
            };
            if let Some(encoder) = encoder.or(meta.encoder.as_ref()) {
                tags.add::<gst::tags::Encoder>(&encoder.as_str(), replace);
            }
            if let Some(bitrate) = bitrate.filter(|_| track_id == 0) {
                tags.add::<gst::tags::NominalBitrate>(&bitrate, replace);
            }
            if let Some(v) = meta.title.as_ref() {
                tags.add::<gst::tags::Title>(&v.as_str(), replace);
            }
            if let Some(v) = meta.artist.as_ref() {
                tags.add::<gst::tags::Artist>(&v.as_str(), replace);
            }
            if let Some(v) = meta.comment.as_ref() {
                tags.add::<gst::tags::Comment>(&v.as_str(), replace);
            }
            if let Some(v) = meta.copyright.as_ref() {
                tags.add::<gst::tags::Copyright>(&v.as_str(), replace);
            }
            if let Some(v) = meta.description.as_ref() {
                tags.add::<gst::tags::Description>(&v.as_str(), replace);
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ffmpeg_metadata() -> Amf0Value {
        Amf0Value::EcmaArray(vec![
            ("duration".into(), Amf0Value::Number(0.0)),
            ("width".into(), Amf0Value::Number(640.0)),
            ("videodatarate".into(), Amf0Value::Number(2441.40625)),
            ("videocodecid".into(), Amf0Value::Number(1752589105.0)),
            ("audiodatarate".into(), Amf0Value::Number(62.5)),
            ("audiocodecid".into(), Amf0Value::Number(1332770163.0)),
            ("title".into(), Amf0Value::string("  Test card ")),
            ("encoder".into(), Amf0Value::string("Lavf61.7.100")),
            ("filesize".into(), Amf0Value::Number(0.0)),
        ])
    }

    #[test]
    fn reads_encoder_bitrates_and_text() {
        let meta = parse_on_metadata(&ffmpeg_metadata());
        assert_eq!(meta.encoder.as_deref(), Some("Lavf61.7.100"));
        assert_eq!(meta.video_bitrate, Some(2_441_406));
        assert_eq!(meta.audio_bitrate, Some(62_500));
        assert_eq!(meta.title.as_deref(), Some("Test card"));
        assert_eq!(meta.artist, None);
    }

    #[test]
    fn odd_values_are_ignored() {
        let props = Amf0Value::object([
            ("encoder", Amf0Value::Number(3.0)),
            ("videodatarate", Amf0Value::Number(f64::NAN)),
            ("audiodatarate", Amf0Value::Number(-5.0)),
            ("title", Amf0Value::string("   ")),
        ]);
        assert_eq!(parse_on_metadata(&props), StreamMetadata::default());
        assert_eq!(
            parse_on_metadata(&Amf0Value::Null),
            StreamMetadata::default()
        );
    }

    #[test]
    fn tags_per_track() {
        gst::init().unwrap();
        let meta = parse_on_metadata(&ffmpeg_metadata());
        let video = track_tags(TrackCodec::Video(VideoCodec::H265), 0, Some(&meta));
        assert_eq!(video.get::<gst::tags::VideoCodec>().unwrap().get(), "H.265");
        assert_eq!(
            video.get::<gst::tags::Encoder>().unwrap().get(),
            "Lavf61.7.100"
        );
        assert_eq!(
            video.get::<gst::tags::NominalBitrate>().unwrap().get(),
            2_441_406
        );
        assert_eq!(video.get::<gst::tags::Title>().unwrap().get(), "Test card");
        assert!(video.get::<gst::tags::AudioCodec>().is_none());

        let audio = track_tags(TrackCodec::Audio(AudioCodec::Opus), 0, Some(&meta));
        assert_eq!(audio.get::<gst::tags::AudioCodec>().unwrap().get(), "Opus");
        assert_eq!(
            audio.get::<gst::tags::NominalBitrate>().unwrap().get(),
            62_500
        );

        // onMetaData describes track 0 only: no bitrate on other tracks.
        let second = track_tags(TrackCodec::Audio(AudioCodec::Aac), 1, Some(&meta));
        assert!(second.get::<gst::tags::NominalBitrate>().is_none());
        assert_eq!(
            second.get::<gst::tags::Encoder>().unwrap().get(),
            "Lavf61.7.100"
        );

        // Without onMetaData a pad still learns its codec.
        let bare = track_tags(TrackCodec::Video(VideoCodec::Av1), 0, None);
        assert_eq!(bare.n_tags(), 1);
        assert_eq!(bare.get::<gst::tags::VideoCodec>().unwrap().get(), "AV1");
    }

    #[test]
    fn per_kind_encoder_wins() {
        gst::init().unwrap();
        let props = Amf0Value::object([
            (
                "encoder",
                Amf0Value::string("obs-output module (libobs version 30.1.2)"),
            ),
            ("videoencoder", Amf0Value::string("obs_x264")),
        ]);
        let meta = parse_on_metadata(&props);
        let video = track_tags(TrackCodec::Video(VideoCodec::H264), 0, Some(&meta));
        assert_eq!(video.get::<gst::tags::Encoder>().unwrap().get(), "obs_x264");
        let audio = track_tags(TrackCodec::Audio(AudioCodec::Aac), 0, Some(&meta));
        assert_eq!(
            audio.get::<gst::tags::Encoder>().unwrap().get(),
            "obs-output module (libobs version 30.1.2)"
        );
    }
}
