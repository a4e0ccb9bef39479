// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! OpusHead identification header (RFC 7845 section 5.1).

use super::reader::ByteReader;
use super::stream_info::AudioInfo;
use super::FlvError;

/// Reads an OpusHead. An empty config means "no header sent", which the spec
/// says defaults to mono/stereo mode: reported as family 0 stereo.
pub(super) fn opus_head_info(config: &[u8]) -> Result<AudioInfo, FlvError> {
    if config.is_empty() {
        return Ok(AudioInfo {
            rate: 48000,
            channels: 2,
            channel_mapping_family: Some(0),
            stream_count: Some(1),
            coupled_count: Some(1),
            ..AudioInfo::default()
        });
    }
    let mut r = ByteReader::new(config);
    if r.take(8, "OpusHead magic")? != b"OpusHead" {
        return Err(FlvError::Malformed("OpusHead magic"));
    }
    let version = r.u8("OpusHead version")?;
    if version >> 4 != 0 {
        return Err(FlvError::Malformed("OpusHead major version"));
    }
    let channels = r.u8("OpusHead channels")?;
    if channels == 0 {
        return Err(FlvError::Malformed("OpusHead has 0 channels"));
    }
    let pre_skip = u16::from_le_bytes([r.u8("OpusHead pre-skip")?, r.u8("OpusHead pre-skip")?]);
    let input_rate = u32::from_le_bytes([
        r.u8("OpusHead rate")?,
        r.u8("OpusHead rate")?,
        r.u8("OpusHead rate")?,
        r.u8("OpusHead rate")?,
    ]);
    let _output_gain = r.u16("OpusHead gain")?;
    let family = r.u8("OpusHead mapping family")?;
    let (stream_count, coupled_count, mapping) = if family == 0 {
        if channels > 2 {
            return Err(FlvError::Malformed(
                "OpusHead family 0 with more than 2 channels",
            ));
        }
        (1, u8::from(channels == 2), Vec::new())
    } else {
        let streams = r.u8("OpusHead stream count")?;
        let coupled = r.u8("OpusHead coupled count")?;
        if streams == 0 || coupled > streams {
            return Err(FlvError::Malformed("OpusHead stream counts"));
        }
        let mapping = r.take(usize::from(channels), "OpusHead channel mapping")?;
        (streams, coupled, mapping.to_vec())
    };
    Ok(AudioInfo {
        rate: 48000,
        channels: u32::from(channels),
        channel_mapping_family: Some(family),
        stream_count: Some(stream_count),
        coupled_count: Some(coupled_count),
        channel_mapping: mapping,
        input_sample_rate: (input_rate != 0).then_some(input_rate),
        pre_skip: Some(pre_skip),
        ..AudioInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_family_0() {
        let head = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let info = opus_head_info(head).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 2));
        assert_eq!(info.input_sample_rate, Some(48000));
        assert_eq!(info.pre_skip, Some(312));
        assert_eq!(info.channel_mapping_family, Some(0));
        assert_eq!((info.stream_count, info.coupled_count), (Some(1), Some(1)));
    }

    #[test]
    fn surround_family_1() {
        let head =
            b"OpusHead\x01\x06\x38\x01\x44\xac\x00\x00\x00\x00\x01\x04\x02\x00\x04\x01\x02\x03\x05";
        let info = opus_head_info(head).unwrap();
        assert_eq!(info.channels, 6);
        assert_eq!(info.input_sample_rate, Some(44100));
        assert_eq!((info.stream_count, info.coupled_count), (Some(4), Some(2)));
        assert_eq!(info.channel_mapping, vec![0, 4, 1, 2, 3, 5]);
    }

    #[test]
    fn empty_defaults_and_bad_headers() {
        assert_eq!(opus_head_info(&[]).unwrap().channels, 2);
        assert!(opus_head_info(b"OpusTags\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00").is_err());
        assert!(opus_head_info(b"OpusHead\x01\x03\x38\x01\x80\xbb\x00\x00\x00\x00\x00").is_err());
        assert!(opus_head_info(
            b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x01\x02\x00"
        )
        .is_err());
    }
}
