// SPDX-License-Identifier: MPL-2.0
//! Codec configuration records → GStreamer caps, in the forms the parsers downstream expect.

use bytes::Bytes;

use crate::flv::{self, AudioCodec, AudioInfo, LegacyAudioFormat, VideoCodec, VideoInfo};

/// Caps for a video track whose decoder configuration record is `config` (empty when the codec
/// carries none). `framerate` is the onMetaData hint, used when the bitstream does not say.
pub(super) fn video_caps(
    codec: VideoCodec,
    config: Option<&Bytes>,
    framerate_hint: Option<f64>,
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
    if let Some(info) = info.as_ref() {
        if info.width > 0 && info.height > 0 {
            builder = builder
                .field("width", info.width as i32)
                .field("height", info.height as i32);
        }
        if let Some(profile) = info.profile.as_deref() {
            builder = builder.field("profile", profile);
        }
        if let Some(level) = info.level.as_deref() {
            builder = builder.field("level", level);
        }
        if let Some(tier) = info.tier.as_deref() {
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
    let framerate = info
        .as_ref()
        .and_then(|i| i.framerate)
        .map(|(n, d)| gst::Fraction::new(n as i32, d.max(1) as i32))
        .or_else(|| framerate_hint.and_then(fraction_from_f64));
    if let Some(framerate) = framerate {
        builder = builder.field("framerate", framerate);
    }
    builder.build()
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
/// fLaC+STREAMINFO), `legacy` the legacy FLV flags byte's idea of the format.
pub(super) fn audio_caps(
    codec: AudioCodec,
    config: Option<&Bytes>,
    legacy: Option<&LegacyAudioFormat>,
) -> Option<gst::Caps> {
    let info: Option<AudioInfo> = config.and_then(|c| flv::audio_info(codec, c).ok());
    let rate_channels = |builder: gst::caps::Builder<gst::caps::NoFeature>| {
        let (rate, channels) = match (info.as_ref(), legacy) {
            (Some(i), _) if i.rate > 0 && i.channels > 0 => (i.rate, i.channels),
            (_, Some(l)) => (l.rate, u32::from(l.channels)),
            _ => (0, 0),
        };
        if rate > 0 && channels > 0 {
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
            if let Some(config) = config {
                b = b.field("codec_data", gst::Buffer::from_slice(config.clone()));
            }
            // The legacy flags byte always says 44.1 kHz stereo for AAC: only the ASC counts.
            if let Some(i) = info.as_ref().filter(|i| i.rate > 0 && i.channels > 0) {
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
                b = b
                    .field("rate", 48000i32)
                    .field("channels", i.channels as i32)
                    .field(
                        "channel-mapping-family",
                        i32::from(i.channel_mapping_family.unwrap_or(0)),
                    );
                if i.channel_mapping_family.unwrap_or(0) != 0 {
                    b = b
                        .field("stream-count", i32::from(i.stream_count.unwrap_or(1)))
                        .field("coupled-count", i32::from(i.coupled_count.unwrap_or(0)))
                        .field(
                            "channel-mapping",
                            gst::Array::new(i.channel_mapping.iter().map(|&c| i32::from(c))),
                        );
                }
            }
            if let Some(config) = config {
                b = b.field(
                    "streamheader",
                    gst::Array::new([gst::Buffer::from_slice(config.clone()), opus_tags_header()]),
                );
            }
            b.build()
        }
        AudioCodec::Flac => {
            let mut b = rate_channels(gst::Caps::builder("audio/x-flac").field("framed", true));
            if let Some(header) = config.and_then(flac_stream_header) {
                b = b.field("streamheader", gst::Array::new([header]));
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

/// flacparse and decoders expect the native FLAC header: "fLaC" + metadata blocks. The
/// Enhanced RTMP sequence start already is that; older senders put only the STREAMINFO block.
fn flac_stream_header(config: &Bytes) -> Option<gst::Buffer> {
    if config.starts_with(b"fLaC") {
        return Some(gst::Buffer::from_slice(config.clone()));
    }
    None
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
}
