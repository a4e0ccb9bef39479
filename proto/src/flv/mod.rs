// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! FLV tag-body parsing (legacy FLV and Enhanced RTMP v1/v2) and codec
//! configuration readers.
//!
//! Pure and sans-IO: the input is the payload of one RTMP audio (type 8) or
//! video (type 9) message, which is an FLV tag body. Media payloads in the
//! output are `Bytes` slices of that input, never copies.

mod aac;
mod audio;
mod av1;
mod bitreader;
mod colorinfo;
mod error;
mod exheader;
mod flac;
mod frame_headers;
mod h264;
mod h265;
mod info;
mod opus;
mod reader;
mod stream_info;
mod syntax;
mod video;
mod vpx;
mod vvc;

/// Configuration records captured from real encoders (x264, x265, SVT-AV1, libvpx...), for
/// tests of this crate and of code built on it.
#[doc(hidden)]
pub mod test_vectors;

pub use audio::{parse_audio, parse_audio_owned, parse_multichannel_config, MultichannelConfig};
pub use colorinfo::{parse_color_info, ColorMetadata, MasteringDisplay};
pub use error::FlvError;
pub use info::{audio_info, video_frame_size, video_info};
pub use stream_info::{AudioInfo, ColorInfo, VideoInfo};
pub use video::{legacy_video_codec_id, looks_like_hvcc, parse_video, parse_video_owned};

/// The packets of one tag: one, except for Enhanced RTMP multitrack, so they are held inline
/// (a `Vec` cost an allocation per media message).
pub type Packets<T> = smallvec::SmallVec<[T; 1]>;

/// Video codecs carried by legacy FLV (AVC, HEVC extension) or Enhanced RTMP FourCCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// `avc1`, or legacy CodecID 7.
    H264,
    /// `hvc1`, or legacy CodecID 12 (CDN extension).
    H265,
    /// `av01`.
    Av1,
    /// `vp09`.
    Vp9,
    /// `vp08`.
    Vp8,
    /// `vvc1`.
    Vvc,
}

impl VideoCodec {
    /// Every video codec, for code that must try them all (tests, fuzzing).
    pub const ALL: [VideoCodec; 6] = [
        VideoCodec::H264,
        VideoCodec::H265,
        VideoCodec::Av1,
        VideoCodec::Vp9,
        VideoCodec::Vp8,
        VideoCodec::Vvc,
    ];
}

/// Audio codecs carried by legacy SoundFormat values or Enhanced RTMP FourCCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// `mp4a`, or SoundFormat 10.
    Aac,
    /// `.mp3`, or SoundFormat 2 / 14 (MP3 8 kHz).
    Mp3,
    /// `Opus`.
    Opus,
    /// `fLaC`.
    Flac,
    /// `ac-3`.
    Ac3,
    /// `ec-3`.
    Eac3,
    /// SoundFormat 0 (platform endian, in practice little endian) or 3
    /// (little endian). 8-bit samples are unsigned, 16-bit samples signed;
    /// the width is in [`LegacyAudioFormat::bits`].
    Pcm,
    /// SoundFormat 1: Flash ADPCM (GStreamer `audio/x-adpcm, layout=swf`).
    Adpcm,
    /// SoundFormat 7: G.711 A-law.
    G711A,
    /// SoundFormat 8: G.711 mu-law.
    G711U,
    /// SoundFormat 11: Speex (always 16 kHz mono).
    Speex,
    /// SoundFormat 4, 5 and 6.
    Nellymoser,
}

impl AudioCodec {
    /// Every audio codec, for code that must try them all (tests, fuzzing).
    pub const ALL: [AudioCodec; 12] = [
        AudioCodec::Aac,
        AudioCodec::Mp3,
        AudioCodec::Opus,
        AudioCodec::Flac,
        AudioCodec::Ac3,
        AudioCodec::Eac3,
        AudioCodec::Pcm,
        AudioCodec::Adpcm,
        AudioCodec::G711A,
        AudioCodec::G711U,
        AudioCodec::Speex,
        AudioCodec::Nellymoser,
    ];
}

/// One unit of a video message. A message may carry several (multitrack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// Codec configuration record (avcC/hvcC/av1C/vpcC/vvcC) as sent.
    SequenceStart {
        track: u8,
        codec: VideoCodec,
        config: bytes::Bytes,
    },
    /// Coded media for one access unit / temporal unit.
    Frame {
        track: u8,
        codec: VideoCodec,
        keyframe: bool,
        /// PTS - DTS in milliseconds (0 where the format has none).
        composition_time_ms: i32,
        /// Enhanced RTMP ModEx TimestampOffsetNano, added to the message timestamp.
        timestamp_offset_ns: u32,
        data: bytes::Bytes,
    },
    /// End of the coded sequence on this track.
    SequenceEnd { track: u8, codec: VideoCodec },
    /// AMF-encoded metadata (colorInfo), undecoded.
    Metadata {
        track: u8,
        codec: VideoCodec,
        amf: bytes::Bytes,
    },
    /// FrameType 5 video info/command frame (0 start seek, 1 end seek).
    Command { track: u8, command: u8 },
}

/// One unit of an audio message. A message may carry several (multitrack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// Codec configuration (AAC AudioSpecificConfig, OpusHead, fLaC+STREAMINFO ...).
    SequenceStart {
        track: u8,
        codec: AudioCodec,
        config: bytes::Bytes,
    },
    /// Coded audio.
    Frame {
        track: u8,
        codec: AudioCodec,
        /// The legacy flags byte's rate/size/type (None for Enhanced RTMP).
        legacy: Option<LegacyAudioFormat>,
        timestamp_offset_ns: u32,
        data: bytes::Bytes,
    },
    /// End of the audio sequence on this track.
    SequenceEnd { track: u8, codec: AudioCodec },
    /// Raw MultichannelConfig body; see [`parse_multichannel_config`].
    MultichannelConfig {
        track: u8,
        codec: AudioCodec,
        data: bytes::Bytes,
    },
}

/// Rate, sample size and channels from the legacy audio flags byte, with the
/// codec-implied values applied (Nellymoser 8/16 kHz, MP3 8 kHz, Speex 16 kHz
/// mono, G.711 8 kHz). For AAC the flags always say 44.1 kHz stereo and mean
/// nothing: use the AudioSpecificConfig instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyAudioFormat {
    pub rate: u32,
    pub bits: u8,
    pub channels: u8,
}
