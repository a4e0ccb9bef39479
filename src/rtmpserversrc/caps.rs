// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Codec configuration records → GStreamer caps, in the forms the parsers downstream expect.

use bytes::Bytes;

use crate::flv::{
    self, AudioCodec, AudioInfo, ColorInfo, ColorMetadata, LegacyAudioFormat, MasteringDisplay,
    VideoCodec, VideoInfo,
};

/// What besides the decoder configuration record shapes a video track's caps.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct VideoHints {
    /// The onMetaData frame rate, used when the bitstream does not say.
    pub framerate: Option<f64>,
    /// Picture size read from a keyframe (VP8/VP9, whose records carry none).
    pub frame_size: Option<(u32, u32)>,
    /// The track's Enhanced RTMP `colorInfo` metadata.
    pub color: Option<ColorMetadata>,
}

/// Caps for a video track whose decoder configuration record is `config` (empty when the codec
/// carries none).
pub(super) fn video_caps(
    codec: VideoCodec,
    config: Option<&Bytes>,
    hints: &VideoHints,
) -> gst::Caps {
    let info: Option<VideoInfo> = config.and_then(|c| flv::video_info(codec, c).ok());
    let mut builder = match codec {
        VideoCodec::H264 => gst::Caps::builder("video/x-h264")
            .field(
                "stream-format",
                if info.as_ref().is_some_and(|i| i.parameter_sets_in_band_hint) {
                    "avc3"
                } else {
                    "avc"
                },
            )
            .field("alignment", "au"),
        VideoCodec::H265 => gst::Caps::builder("video/x-h265")
            .field(
                "stream-format",
                if info.as_ref().is_some_and(|i| i.parameter_sets_in_band_hint) {
                    "hev1"
                } else {
                    "hvc1"
                },
            )
            .field("alignment", "au"),
        VideoCodec::Av1 => gst::Caps::builder("video/x-av1")
            .field("stream-format", "obu-stream")
            .field("alignment", "tu"),
        VideoCodec::Vp9 => gst::Caps::builder("video/x-vp9"),
        VideoCodec::Vp8 => gst::Caps::builder("video/x-vp8"),
        VideoCodec::Vvc => gst::Caps::builder("video/x-h266")
            .field("stream-format", "vvc1")
            .field("alignment", "au"),
    };
    if let Some(config) = config.filter(|c| !c.is_empty()) {
        // VP8/VP9 decoders want no codec_data; vpcC only feeds the fields below.
        if !matches!(codec, VideoCodec::Vp9 | VideoCodec::Vp8) {
            builder = builder.field("codec_data", gst::Buffer::from_slice(config.clone()));
        }
    }
    let size = info
        .as_ref()
        .map(|i| (i.width, i.height))
        .filter(|&(w, h)| w > 0 && h > 0)
        .or(hints.frame_size.filter(|&(w, h)| w > 0 && h > 0));
    if let Some((width, height)) = size {
        let clamp = |v: u32| v.min(i32::MAX as u32) as i32;
        builder = builder
            .field("width", clamp(width))
            .field("height", clamp(height));
    }
    if let Some(info) = info.as_ref() {
        let named = config.and_then(|c| gstreamer_names(codec, c));
        let (profile, level, tier) = match &named {
            Some(n) => (n.profile.as_deref(), n.level.as_deref(), n.tier.as_deref()),
            None => (
                info.profile.as_deref(),
                info.level.as_deref(),
                info.tier.as_deref(),
            ),
        };
        if let Some(profile) = profile {
            builder = builder.field("profile", profile);
        }
        if let Some(level) = level {
            builder = builder.field("level", level);
        }
        if let Some(tier) = tier {
            builder = builder.field("tier", tier);
        }
        if let Some(chroma) = info.chroma_format.as_deref() {
            builder = builder.field("chroma-format", chroma);
        }
        if let Some(depth) = info.bit_depth_luma {
            builder = builder.field("bit-depth-luma", u32::from(depth));
        }
        if let Some(depth) = info.bit_depth_chroma {
            builder = builder.field("bit-depth-chroma", u32::from(depth));
        }
    }
    let stream_color = info.as_ref().and_then(|i| i.colorimetry);
    let chroma = info.as_ref().and_then(|i| i.chroma_format.as_deref());
    if let Some(colorimetry) = colorimetry(stream_color, hints.color.as_ref(), chroma) {
        builder = builder.field("colorimetry", colorimetry);
    }
    if let Some(color) = hints.color.as_ref() {
        if let Some(mastering) = color.mastering_display.as_ref() {
            builder = builder.field("mastering-display-info", mastering_display_info(mastering));
        }
        if let (Some(max_cll), Some(max_fall)) = (color.max_cll, color.max_fall) {
            builder = builder.field("content-light-level", format!("{max_cll}:{max_fall}"));
        }
    }
    let framerate = info
        .as_ref()
        .and_then(|i| i.framerate)
        .filter(|&(n, d)| n > 0 && d > 0 && n <= i32::MAX as u32 && d <= i32::MAX as u32)
        .map(|(n, d)| gst::Fraction::new(n as i32, d as i32))
        .or_else(|| hints.framerate.and_then(fraction_from_f64));
    if let Some(framerate) = framerate {
        builder = builder.field("framerate", framerate);
    }
    builder.build()
}

/// Profile, level and tier as GStreamer's own parsers name them.
struct GstreamerNames {
    profile: Option<String>,
    level: Option<String>,
    tier: Option<String>,
}

/// H.264 and H.265 profile/level/tier by gstreamer-pbutils' codec_utils, from the decoder
/// configuration record (avcC bytes 1-3: profile_idc, constraint flags, level_idc; hvcC bytes
/// 1-12: profile_tier_level). Other codecs: `None` (pbutils in GStreamer 1.22 has no AV1, VP9
/// or VVC naming; the protocol crate's names are used).
fn gstreamer_names(codec: VideoCodec, config: &Bytes) -> Option<GstreamerNames> {
    let name = |r: Result<glib::GString, glib::BoolError>| r.ok().map(|s| s.to_string());
    match codec {
        VideoCodec::H264 => {
            let idc = config.get(1..4)?;
            Some(GstreamerNames {
                profile: name(gst_pbutils::codec_utils_h264_get_profile(idc)),
                level: name(gst_pbutils::codec_utils_h264_get_level(idc)),
                tier: None,
            })
        }
        VideoCodec::H265 => {
            let ptl = config.get(1..13)?;
            Some(GstreamerNames {
                profile: name(gst_pbutils::codec_utils_h265_get_profile(ptl)),
                level: name(gst_pbutils::codec_utils_h265_get_level(ptl)),
                tier: name(gst_pbutils::codec_utils_h265_get_tier(ptl)),
            })
        }
        _ => None,
    }
}

/// ISO/IEC 23091-2 code points → GStreamer's colorimetry string ("bt709", or
/// "range:matrix:transfer:primaries" with GstVideoColor* enum values), by gstreamer-video. The bitstream's own
/// colour description wins; `colorInfo` metadata fills what it leaves unspecified.
/// `chroma` is the chroma format from the codec configuration, if known.
fn colorimetry(
    stream: Option<ColorInfo>,
    metadata: Option<&ColorMetadata>,
    chroma: Option<&str>,
) -> Option<String> {
    const UNSPECIFIED: u8 = 2;
    const MATRIX_IDENTITY: u8 = 0;
    let pick = |from_stream: Option<u8>, from_metadata: Option<u8>| {
        from_stream
            .filter(|&v| v != UNSPECIFIED)
            .or(from_metadata.filter(|&v| v != UNSPECIFIED))
    };
    let primaries = pick(
        stream.map(|c| c.primaries),
        metadata.and_then(|m| m.primaries),
    );
    let transfer = pick(
        stream.map(|c| c.transfer),
        metadata.and_then(|m| m.transfer),
    );
    // The identity (GBR) matrix only exists for 4:4:4. FFmpeg relaying an FLV whose colorInfo
    // left it out sends 0 (its zeroed default) in colorInfo and in vpcC: not a real value.
    let subsampled = chroma.is_some_and(|c| c != "4:4:4");
    let matrix = pick(stream.map(|c| c.matrix), metadata.and_then(|m| m.matrix))
        .filter(|&m| !(m == MATRIX_IDENTITY && subsampled));
    if primaries.is_none() && transfer.is_none() && matrix.is_none() && stream.is_none() {
        return None;
    }
    let range = match stream {
        None => gst_video::VideoColorRange::Unknown,
        Some(c) if c.full_range => gst_video::VideoColorRange::Range0_255,
        Some(_) => gst_video::VideoColorRange::Range16_235,
    };
    // GStreamer's own mapping of the code points, and its own names ("bt709", "bt601", ...,
    // or "range:matrix:transfer:primaries" when no name fits).
    let colorimetry = gst_video::VideoColorimetry::new(
        range,
        matrix.map_or(gst_video::VideoColorMatrix::Unknown, |m| {
            gst_video::VideoColorMatrix::from_iso(u32::from(m))
        }),
        transfer.map_or(gst_video::VideoTransferFunction::Unknown, |t| {
            gst_video::VideoTransferFunction::from_iso(u32::from(t))
        }),
        primaries.map_or(gst_video::VideoColorPrimaries::Unknown, |p| {
            gst_video::VideoColorPrimaries::from_iso(u32::from(p))
        }),
    );
    Some(colorimetry.to_string())
}

/// GStreamer's `mastering-display-info` caps string: R, G, B and white point xy in units of
/// 0.00002, then maximum and minimum luminance in units of 0.0001 cd/m².
fn mastering_display_info(m: &MasteringDisplay) -> String {
    let xy = |v: f64| (v * 50_000.0).round().clamp(0.0, f64::from(u16::MAX)) as u32;
    let lum = |v: f64| (v * 10_000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32;
    format!(
        "{}:{}:{}:{}:{}:{}:{}:{}:{}:{}",
        xy(m.red.0),
        xy(m.red.1),
        xy(m.green.0),
        xy(m.green.1),
        xy(m.blue.0),
        xy(m.blue.1),
        xy(m.white_point.0),
        xy(m.white_point.1),
        lum(m.max_luminance),
        lum(m.min_luminance)
    )
}

/// onMetaData gives the frame rate as a double (29.97, 30, 59.94...).
fn fraction_from_f64(fps: f64) -> Option<gst::Fraction> {
    if !(fps.is_finite() && fps > 0.0 && fps < 1000.0) {
        return None;
    }
    let rounded = fps.round();
    if (fps - rounded).abs() < 0.001 {
        return Some(gst::Fraction::new(rounded as i32, 1));
    }
    // NTSC rates: 30000/1001 and friends.
    let ntsc = (fps * 1001.0 / 1000.0).round();
    if (ntsc * 1000.0 / 1001.0 - fps).abs() < 0.01 {
        return Some(gst::Fraction::new(ntsc as i32 * 1000, 1001));
    }
    Some(gst::Fraction::new((fps * 1000.0).round() as i32, 1000))
}

/// Caps for an audio track. `config` is the sequence header's record (ASC, OpusHead,
/// fLaC+STREAMINFO), `legacy` the legacy FLV flags byte's idea of the format, `frame` what the
/// header of a coded frame says (MP3, AC-3 and E-AC-3 carry no configuration record).
pub(super) fn audio_caps(
    codec: AudioCodec,
    config: Option<&Bytes>,
    legacy: Option<&LegacyAudioFormat>,
    frame: Option<&AudioInfo>,
) -> Option<gst::Caps> {
    let info: Option<AudioInfo> = config
        .filter(|c| !c.is_empty())
        .and_then(|c| flv::audio_info(codec, c).ok());
    let known = |i: &&AudioInfo| i.rate > 0 && i.channels > 0;
    let rate_channels = |builder: gst::caps::Builder<gst::caps::NoFeature>| {
        let (rate, channels) = match (info.as_ref().filter(known), frame.filter(known), legacy) {
            (Some(i), _, _) | (None, Some(i), _) => (i.rate, i.channels),
            (None, None, Some(l)) => (l.rate, u32::from(l.channels)),
            _ => (0, 0),
        };
        if rate > 0 && channels > 0 && rate <= i32::MAX as u32 {
            builder
                .field("rate", rate as i32)
                .field("channels", channels as i32)
        } else {
            builder
        }
    };
    let caps = match codec {
        AudioCodec::Aac => {
            let mut b = gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 4i32)
                .field("stream-format", "raw")
                .field("framed", true);
            if let Some(config) = config.filter(|c| !c.is_empty()) {
                b = b.field("codec_data", gst::Buffer::from_slice(config.clone()));
            }
            // The legacy flags byte always says 44.1 kHz stereo for AAC: only the ASC counts.
            if let Some(i) = info.as_ref().filter(known) {
                b = b
                    .field("rate", i.rate as i32)
                    .field("channels", i.channels as i32);
            }
            b.build()
        }
        AudioCodec::Mp3 => rate_channels(
            gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 1i32)
                .field("layer", 3i32)
                .field("parsed", false),
        )
        .build(),
        AudioCodec::Opus => {
            let mut b = gst::Caps::builder("audio/x-opus");
            if let Some(i) = info.as_ref() {
                let family = i.channel_mapping_family.unwrap_or(0);
                b = b
                    .field("rate", 48000i32)
                    .field("channels", i.channels as i32)
                    .field("channel-mapping-family", i32::from(family));
                if family != 0 {
                    b = b
                        .field("stream-count", i32::from(i.stream_count.unwrap_or(1)))
                        .field("coupled-count", i32::from(i.coupled_count.unwrap_or(0)))
                        .field(
                            "channel-mapping",
                            gst::Array::new(i.channel_mapping.iter().map(|&c| i32::from(c))),
                        );
                }
            }
            if let Some(config) = config.filter(|c| c.starts_with(b"OpusHead")) {
                b = b.field(
                    "streamheader",
                    gst::Array::new([gst::Buffer::from_slice(config.clone()), opus_tags_header()]),
                );
            }
            b.build()
        }
        AudioCodec::Flac => {
            let mut b = rate_channels(gst::Caps::builder("audio/x-flac").field("framed", true));
            if let Some(headers) = config.and_then(flac_stream_headers) {
                b = b.field("streamheader", gst::Array::new(headers));
            }
            b.build()
        }
        AudioCodec::Ac3 => {
            rate_channels(gst::Caps::builder("audio/x-ac3").field("framed", true)).build()
        }
        AudioCodec::Eac3 => {
            rate_channels(gst::Caps::builder("audio/x-eac3").field("framed", true)).build()
        }
        AudioCodec::Adpcm => {
            rate_channels(gst::Caps::builder("audio/x-adpcm").field("layout", "swf")).build()
        }
        AudioCodec::G711A => rate_channels(gst::Caps::builder("audio/x-alaw")).build(),
        AudioCodec::G711U => rate_channels(gst::Caps::builder("audio/x-mulaw")).build(),
        AudioCodec::Speex => rate_channels(gst::Caps::builder("audio/x-speex")).build(),
        AudioCodec::Nellymoser => rate_channels(gst::Caps::builder("audio/x-nellymoser")).build(),
        AudioCodec::Pcm => {
            let legacy = legacy?;
            let format = if legacy.bits == 8 { "U8" } else { "S16LE" };
            gst::Caps::builder("audio/x-raw")
                .field("format", format)
                .field("layout", "interleaved")
                .field("rate", legacy.rate as i32)
                .field("channels", i32::from(legacy.channels))
                .build()
        }
    };
    Some(caps)
}

/// Whether the stream facts of `codec` come from the header of each coded frame.
pub(super) fn audio_info_in_frames(codec: AudioCodec) -> bool {
    matches!(codec, AudioCodec::Mp3 | AudioCodec::Ac3 | AudioCodec::Eac3)
}

/// Whether the stream facts of `codec` (picture size) come from keyframes.
pub(super) fn video_size_in_frames(codec: VideoCodec) -> bool {
    matches!(codec, VideoCodec::Vp8 | VideoCodec::Vp9)
}

/// GStreamer's Opus elements expect two stream headers: OpusHead and an OpusTags packet.
fn opus_tags_header() -> gst::Buffer {
    let vendor = b"gst-plugin-rtmpserver";
    let mut tags = Vec::with_capacity(8 + 4 + vendor.len() + 4);
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    gst::Buffer::from_mut_slice(tags)
}

const FLAC_STREAMINFO_LEN: usize = 34;
const FLAC_LAST_BLOCK: u8 = 0x80;

/// The FLAC stream header as GStreamer's FLAC elements take it in `streamheader` (the form
/// matroskademux gives): the `fLaC` marker, then one buffer per metadata block, STREAMINFO
/// first and the last block flagged as such. Accepts the Enhanced RTMP `fLaC` + blocks, and
/// a bare STREAMINFO (what FFmpeg's FLV muxer sends), with or without its block header.
fn flac_stream_headers(config: &Bytes) -> Option<Vec<gst::Buffer>> {
    let body = config.strip_prefix(b"fLaC").unwrap_or(config);
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    if body.len() == FLAC_STREAMINFO_LEN {
        let mut block = vec![FLAC_LAST_BLOCK, 0, 0, FLAC_STREAMINFO_LEN as u8];
        block.extend_from_slice(body);
        blocks.push(block);
    } else {
        let mut rest = body;
        while let [header, l0, l1, l2, tail @ ..] = rest {
            let len = u32::from_be_bytes([0, *l0, *l1, *l2]) as usize;
            let data = tail.get(..len)?;
            if blocks.is_empty() && (header & 0x7f != 0 || len < FLAC_STREAMINFO_LEN) {
                return None;
            }
            let mut block = vec![header & 0x7f, *l0, *l1, *l2];
            block.extend_from_slice(data);
            blocks.push(block);
            rest = &tail[len..];
            if header & FLAC_LAST_BLOCK != 0 {
                break;
            }
        }
    }
    let last = blocks.last_mut()?;
    last[0] |= FLAC_LAST_BLOCK;
    let mut headers = vec![gst::Buffer::from_slice(*b"fLaC")];
    headers.extend(blocks.into_iter().map(gst::Buffer::from_mut_slice));
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framerate_from_metadata() {
        gst::init().unwrap();
        assert_eq!(fraction_from_f64(30.0), Some(gst::Fraction::new(30, 1)));
        assert_eq!(
            fraction_from_f64(29.97),
            Some(gst::Fraction::new(30000, 1001))
        );
        assert_eq!(
            fraction_from_f64(59.94006),
            Some(gst::Fraction::new(60000, 1001))
        );
        assert_eq!(fraction_from_f64(f64::NAN), None);
        assert_eq!(fraction_from_f64(0.0), None);
    }

    use crate::flv::test_vectors::{AV1_AV1C, VP9_VPCC_FULLBOX, X265_PQ10_HVCC};

    fn color(primaries: u8, transfer: u8, matrix: u8, full_range: bool) -> Option<ColorInfo> {
        Some(ColorInfo {
            primaries,
            transfer,
            matrix,
            full_range,
        })
    }

    fn hdr10() -> ColorMetadata {
        ColorMetadata {
            bit_depth: Some(10),
            primaries: Some(9),
            transfer: Some(16),
            matrix: Some(9),
            max_cll: Some(1000),
            max_fall: Some(400),
            mastering_display: Some(MasteringDisplay {
                red: (0.708, 0.292),
                green: (0.170, 0.797),
                blue: (0.131, 0.046),
                white_point: (0.3127, 0.329),
                max_luminance: 1000.0,
                min_luminance: 0.0001,
            }),
        }
    }

    #[test]
    fn colorimetry_names_and_numbers() {
        gst::init().unwrap();
        let c = |stream, meta: Option<&ColorMetadata>, chroma| colorimetry(stream, meta, chroma);
        let s420 = Some("4:2:0");
        assert_eq!(
            c(color(1, 1, 1, false), None, s420).as_deref(),
            Some("bt709")
        );
        assert_eq!(
            c(color(1, 1, 1, true), None, s420).as_deref(),
            Some("1:3:5:1")
        );
        assert_eq!(
            c(color(9, 16, 9, false), None, s420).as_deref(),
            Some("bt2100-pq")
        );
        assert_eq!(
            c(color(9, 18, 9, false), None, s420).as_deref(),
            Some("bt2100-hlg")
        );
        assert_eq!(
            c(color(9, 14, 9, false), None, s420).as_deref(),
            Some("bt2020-10")
        );
        // SMPTE 170M everywhere: GStreamer's "bt601" (the first wave wrote the same colorimetry
        // as "2:4:16:4").
        assert_eq!(
            "2:4:16:4".parse::<gst_video::VideoColorimetry>().unwrap(),
            "bt601".parse::<gst_video::VideoColorimetry>().unwrap()
        );
        assert_eq!(
            c(color(6, 6, 6, false), None, s420).as_deref(),
            Some("bt601")
        );
        assert_eq!(
            c(color(1, 13, 0, true), None, Some("4:4:4")).as_deref(),
            Some("sRGB")
        );
        // Unspecified everywhere: nothing to claim.
        assert_eq!(c(None, None, s420), None);
        assert_eq!(
            c(color(2, 2, 2, false), None, s420).as_deref(),
            Some("2:0:0:0")
        );
        // colorInfo fills what the bitstream leaves unspecified; the bitstream wins otherwise.
        let pq = hdr10();
        assert_eq!(
            c(color(2, 2, 2, false), Some(&pq), s420).as_deref(),
            Some("bt2100-pq")
        );
        assert_eq!(c(None, Some(&pq), s420).as_deref(), Some("0:6:14:7"));
        assert_eq!(
            c(color(1, 1, 1, false), Some(&pq), s420).as_deref(),
            Some("bt709")
        );
        // An identity matrix on subsampled video is FFmpeg's zeroed default, not a value.
        let zero = ColorMetadata {
            matrix: Some(0),
            ..ColorMetadata::default()
        };
        assert_eq!(c(None, Some(&zero), s420), None);
        assert_eq!(
            c(color(2, 2, 0, false), None, s420).as_deref(),
            Some("2:0:0:0")
        );
        assert_eq!(
            c(None, Some(&zero), Some("4:4:4")).as_deref(),
            Some("0:1:0:0")
        );
    }

    /// Caps name H.264 profiles and levels as GStreamer's parsers do (pbutils' codec_utils),
    /// also where the protocol crate's own names differ: level 1b as any profile's level_idc 11
    /// with constraint_set3, and scalable-constrained-baseline.
    #[test]
    fn h264_profile_and_level_names_are_gstreamers() {
        gst::init().unwrap();
        let profiles = [66u8, 77, 88, 100, 110, 122, 244, 44, 83, 86, 118, 128];
        let levels = [
            9u8, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62,
        ];
        for profile in profiles {
            for flags in [0u8, 0x10, 0x40, 0x50, 0x0c] {
                for level in levels {
                    // An avcC without parameter sets: profile and level from its header.
                    let avcc = Bytes::copy_from_slice(&[1, profile, flags, level, 0xff, 0xe0, 0]);
                    let caps = video_caps(VideoCodec::H264, Some(&avcc), &VideoHints::default());
                    let s = caps.structure(0).unwrap();
                    let ours = (
                        s.get::<String>("profile").ok(),
                        s.get::<String>("level").ok(),
                    );
                    let gst_profile = gst_pbutils::codec_utils_h264_get_profile(&avcc[1..4])
                        .ok()
                        .map(|p| p.to_string());
                    let gst_level = gst_pbutils::codec_utils_h264_get_level(&avcc[1..4])
                        .ok()
                        .map(|l| l.to_string());
                    let what = format!("profile_idc {profile} flags {flags:#x} level_idc {level}");
                    assert_eq!(ours, (gst_profile, gst_level), "{what}");
                }
            }
        }
    }

    #[test]
    fn hdr_strings() {
        assert_eq!(
            mastering_display_info(hdr10().mastering_display.as_ref().unwrap()),
            "35400:14600:8500:39850:6550:2300:15635:16450:10000000:1"
        );
        let silly = MasteringDisplay {
            red: (2.0, -1.0),
            max_luminance: 1e12,
            ..MasteringDisplay::default()
        };
        assert_eq!(
            mastering_display_info(&silly),
            "65535:0:0:0:0:0:0:0:4294967295:0"
        );
    }

    #[test]
    fn h265_caps_from_hvcc_and_color_info() {
        gst::init().unwrap();
        let config = Bytes::from_static(X265_PQ10_HVCC);
        let caps = video_caps(VideoCodec::H265, Some(&config), &VideoHints::default());
        let s = caps.structure(0).unwrap();
        assert_eq!(s.name(), "video/x-h265");
        assert_eq!(s.get::<&str>("stream-format").unwrap(), "hvc1");
        assert_eq!(s.get::<&str>("alignment").unwrap(), "au");
        assert_eq!(
            s.get::<gst::Buffer>("codec_data").unwrap().size(),
            config.len()
        );
        assert_eq!(
            (s.get::<i32>("width"), s.get::<i32>("height")),
            (Ok(320), Ok(180))
        );
        assert_eq!(
            s.get::<gst::Fraction>("framerate").unwrap(),
            gst::Fraction::new(30, 1)
        );
        assert_eq!(s.get::<&str>("profile").unwrap(), "main-10");
        assert_eq!(s.get::<u32>("bit-depth-luma").unwrap(), 10);
        assert_eq!(s.get::<&str>("colorimetry").unwrap(), "bt2100-pq");
        assert!(!s.has_field("mastering-display-info"));

        let hints = VideoHints {
            // The bitstream's timing wins over onMetaData.
            framerate: Some(25.0),
            frame_size: None,
            color: Some(hdr10()),
        };
        let caps = video_caps(VideoCodec::H265, Some(&config), &hints);
        let s = caps.structure(0).unwrap();
        assert_eq!(
            s.get::<gst::Fraction>("framerate").unwrap(),
            gst::Fraction::new(30, 1)
        );
        assert_eq!(
            s.get::<&str>("mastering-display-info").unwrap(),
            "35400:14600:8500:39850:6550:2300:15635:16450:10000000:1"
        );
        assert_eq!(s.get::<&str>("content-light-level").unwrap(), "1000:400");
    }

    #[test]
    fn vp9_size_from_keyframe_and_no_codec_data() {
        gst::init().unwrap();
        let config = Bytes::from_static(VP9_VPCC_FULLBOX);
        let hints = VideoHints {
            framerate: Some(29.97),
            frame_size: Some((320, 240)),
            color: None,
        };
        let caps = video_caps(VideoCodec::Vp9, Some(&config), &hints);
        let s = caps.structure(0).unwrap();
        assert_eq!(s.name(), "video/x-vp9");
        assert!(!s.has_field("codec_data"));
        assert_eq!(
            (s.get::<i32>("width"), s.get::<i32>("height")),
            (Ok(320), Ok(240))
        );
        assert_eq!(s.get::<&str>("profile").unwrap(), "1");
        assert_eq!(s.get::<&str>("chroma-format").unwrap(), "4:4:4");
        assert_eq!(
            s.get::<gst::Fraction>("framerate").unwrap(),
            gst::Fraction::new(30000, 1001)
        );
        // Without a keyframe yet: no size at all rather than a wrong one.
        let caps = video_caps(VideoCodec::Vp9, Some(&config), &VideoHints::default());
        assert!(!caps.structure(0).unwrap().has_field("width"));
    }

    #[test]
    fn av1_caps() {
        gst::init().unwrap();
        let config = Bytes::from_static(AV1_AV1C);
        let caps = video_caps(VideoCodec::Av1, Some(&config), &VideoHints::default());
        let s = caps.structure(0).unwrap();
        assert_eq!(s.name(), "video/x-av1");
        assert_eq!(s.get::<&str>("stream-format").unwrap(), "obu-stream");
        assert_eq!(s.get::<&str>("alignment").unwrap(), "tu");
        assert_eq!(
            s.get::<gst::Buffer>("codec_data").unwrap().size(),
            config.len()
        );
        assert_eq!(
            (s.get::<i32>("width"), s.get::<i32>("height")),
            (Ok(640), Ok(360))
        );
        assert_eq!(s.get::<&str>("profile").unwrap(), "high");
    }

    fn streaminfo(rate: u32, channels: u32, bits: u32) -> Vec<u8> {
        let mut v = vec![0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0];
        let packed: u64 =
            (u64::from(rate) << 44) | (u64::from(channels - 1) << 41) | (u64::from(bits - 1) << 36);
        v.extend_from_slice(&packed.to_be_bytes());
        v.extend_from_slice(&[0; 16]);
        assert_eq!(v.len(), 34);
        v
    }

    fn buffers(s: &gst::StructureRef, field: &str) -> Vec<Vec<u8>> {
        s.get::<gst::Array>(field)
            .unwrap()
            .iter()
            .map(|v| {
                v.get::<gst::Buffer>()
                    .unwrap()
                    .map_readable()
                    .unwrap()
                    .to_vec()
            })
            .collect()
    }

    #[test]
    fn flac_stream_headers_in_every_form() {
        gst::init().unwrap();
        let info = streaminfo(48000, 2, 16);
        // FFmpeg sends the bare STREAMINFO.
        let bare = Bytes::from(info.clone());
        let caps = audio_caps(AudioCodec::Flac, Some(&bare), None, None).unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(
            (s.get::<i32>("rate"), s.get::<i32>("channels")),
            (Ok(48000), Ok(2))
        );
        let mut block = vec![0x80, 0, 0, 34];
        block.extend_from_slice(&info);
        assert_eq!(
            buffers(s, "streamheader"),
            [b"fLaC".to_vec(), block.clone()]
        );
        // The specification's fLaC + blocks; the last block gets the last-block flag.
        let mut native = b"fLaC".to_vec();
        native.extend_from_slice(&[0x00, 0, 0, 34]);
        native.extend_from_slice(&info);
        native.extend_from_slice(&[0x04, 0, 0, 2, 0xaa, 0xbb]);
        let caps = audio_caps(AudioCodec::Flac, Some(&Bytes::from(native)), None, None).unwrap();
        let headers = buffers(caps.structure(0).unwrap(), "streamheader");
        assert_eq!(headers.len(), 3);
        assert_eq!(headers[1][0], 0x00);
        assert_eq!(headers[2], [0x84, 0, 0, 2, 0xaa, 0xbb]);
        // A block header with STREAMINFO but no marker.
        let caps = audio_caps(
            AudioCodec::Flac,
            Some(&Bytes::from(block.clone())),
            None,
            None,
        );
        assert_eq!(
            buffers(caps.unwrap().structure(0).unwrap(), "streamheader")[1],
            block
        );
        // Not STREAMINFO first, or truncated: no stream header rather than a wrong one.
        for bad in [&[0x01u8, 0, 0, 34][..], &block[..20], b"fLaC"] {
            let caps = audio_caps(
                AudioCodec::Flac,
                Some(&Bytes::copy_from_slice(bad)),
                None,
                None,
            );
            assert!(!caps
                .unwrap()
                .structure(0)
                .unwrap()
                .has_field("streamheader"));
        }
    }

    #[test]
    fn opus_stream_header() {
        gst::init().unwrap();
        let head = Bytes::from_static(b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
        let caps = audio_caps(AudioCodec::Opus, Some(&head), None, None).unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(
            (s.get::<i32>("rate"), s.get::<i32>("channels")),
            (Ok(48000), Ok(2))
        );
        assert_eq!(s.get::<i32>("channel-mapping-family").unwrap(), 0);
        let headers = buffers(s, "streamheader");
        assert_eq!(headers[0], &head[..]);
        assert!(headers[1].starts_with(b"OpusTags"));
    }

    #[test]
    fn frame_header_codecs_take_rate_and_channels_from_frames() {
        gst::init().unwrap();
        let frame = AudioInfo {
            rate: 48000,
            channels: 6,
            ..AudioInfo::default()
        };
        let empty = Bytes::new();
        for (codec, name) in [
            (AudioCodec::Ac3, "audio/x-ac3"),
            (AudioCodec::Eac3, "audio/x-eac3"),
        ] {
            let caps = audio_caps(codec, Some(&empty), None, None).unwrap();
            let s = caps.structure(0).unwrap();
            assert_eq!(s.name(), name);
            assert!(!s.has_field("rate"));
            let caps = audio_caps(codec, Some(&empty), None, Some(&frame)).unwrap();
            let s = caps.structure(0).unwrap();
            assert_eq!(
                (s.get::<i32>("rate"), s.get::<i32>("channels")),
                (Ok(48000), Ok(6))
            );
        }
        // MP3 at 48 kHz: the legacy flags can only say 44.1 kHz; the frame header is right.
        let legacy = LegacyAudioFormat {
            rate: 44100,
            bits: 16,
            channels: 2,
        };
        let mono = AudioInfo {
            rate: 48000,
            channels: 1,
            ..AudioInfo::default()
        };
        let caps = audio_caps(AudioCodec::Mp3, None, Some(&legacy), Some(&mono)).unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(
            (s.get::<i32>("mpegversion"), s.get::<i32>("layer")),
            (Ok(1), Ok(3))
        );
        assert_eq!(
            (s.get::<i32>("rate"), s.get::<i32>("channels")),
            (Ok(48000), Ok(1))
        );
        let caps = audio_caps(AudioCodec::Mp3, None, Some(&legacy), None).unwrap();
        assert_eq!(
            caps.structure(0).unwrap().get::<i32>("rate").unwrap(),
            44100
        );
        assert!(audio_info_in_frames(AudioCodec::Eac3));
        assert!(!audio_info_in_frames(AudioCodec::Aac));
        assert!(video_size_in_frames(VideoCodec::Vp9));
        assert!(!video_size_in_frames(VideoCodec::Av1));
    }
}
