// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Facts from codec configuration that the element turns into caps, shared by every codec's
//! reader.

/// Video stream facts from a codec configuration record. Unknown fields are 0/None.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as a reduced fraction, when the configuration declares
    /// one (H.264 VUI timing, AV1 timing info with equal picture intervals).
    pub framerate: Option<(u32, u32)>,
    /// GStreamer caps profile name ("high", "main-10", "0" for VP9 ...).
    pub profile: Option<String>,
    /// GStreamer caps level name ("3.1", "4", "5.1" ...).
    pub level: Option<String>,
    /// "main" or "high" (H.265, AV1, VVC).
    pub tier: Option<String>,
    /// "4:2:0", "4:2:2", "4:4:4" or "4:0:0".
    pub chroma_format: Option<String>,
    pub bit_depth_luma: Option<u8>,
    pub bit_depth_chroma: Option<u8>,
    pub colorimetry: Option<ColorInfo>,
    /// The record carries no parameter sets, so they travel in-band
    /// (caps stream-format avc3 / hev1 instead of avc / hvc1).
    pub parameter_sets_in_band_hint: bool,
}

/// Colour description with ISO/IEC 23091-2 (H.273) code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColorInfo {
    pub primaries: u8,
    pub transfer: u8,
    pub matrix: u8,
    pub full_range: bool,
}

/// Audio stream facts from a codec configuration. Unknown fields are 0/None.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioInfo {
    /// Output sample rate (Opus: always 48000, as GStreamer caps want).
    pub rate: u32,
    pub channels: u32,
    /// GStreamer caps profile name (AAC "lc", "main", "ssr", "ltp"; MP3 layer "1".."3").
    pub profile: Option<String>,
    /// Opus channel mapping family.
    pub channel_mapping_family: Option<u8>,
    /// Opus stream count.
    pub stream_count: Option<u8>,
    /// Opus coupled stream count.
    pub coupled_count: Option<u8>,
    /// Opus channel mapping table (empty for family 0).
    pub channel_mapping: Vec<u8>,
    /// Bits per sample (FLAC).
    pub bits_per_sample: Option<u8>,
    /// AAC: spectral band replication explicitly signalled (HE-AAC).
    pub sbr: bool,
    /// AAC: parametric stereo explicitly signalled (HE-AAC v2).
    pub ps: bool,
    /// Opus: the original input rate from OpusHead (informational).
    pub input_sample_rate: Option<u32>,
    /// Opus: pre-skip in 48 kHz samples.
    pub pre_skip: Option<u16>,
}
