// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! FLAC sequence header: "fLaC" then metadata blocks, STREAMINFO first.

use super::bitreader::BitReader;
use super::reader::ByteReader;
use super::stream_info::AudioInfo;
use super::FlvError;

const STREAMINFO_LEN: usize = 34;

/// Reads the STREAMINFO of a FLAC sequence header. Besides the spec's
/// `fLaC` + metadata blocks, a bare STREAMINFO block (with or without its
/// 4-byte block header) is accepted, as some muxers send codec extradata as is.
pub(super) fn flac_info(config: &[u8]) -> Result<AudioInfo, FlvError> {
    let body = config.strip_prefix(b"fLaC").unwrap_or(config);
    let streaminfo = if body.len() == STREAMINFO_LEN {
        body
    } else {
        let mut r = ByteReader::new(body);
        let block_type = r.u8("FLAC block header")? & 0x7f;
        let len = r.u24("FLAC block header")? as usize;
        if block_type != 0 || len < STREAMINFO_LEN {
            return Err(FlvError::Malformed(
                "first FLAC metadata block is not STREAMINFO",
            ));
        }
        r.take(STREAMINFO_LEN, "FLAC STREAMINFO")?
    };
    let mut b = BitReader::new(streaminfo);
    b.skip(16 + 16 + 24 + 24)?;
    let rate = b.bits(20)?;
    let channels = b.bits(3)? + 1;
    let bits = b.bits(5)? as u8 + 1;
    if rate == 0 {
        return Err(FlvError::Malformed("FLAC sample rate 0"));
    }
    Ok(AudioInfo {
        rate,
        channels,
        bits_per_sample: Some(bits),
        ..AudioInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streaminfo(rate: u32, channels: u32, bits: u32) -> Vec<u8> {
        let mut s = vec![0x10, 0x00, 0x10, 0x00, 0, 0, 0x10, 0, 0x20, 0];
        let packed: u64 =
            (u64::from(rate) << 44) | (u64::from(channels - 1) << 41) | (u64::from(bits - 1) << 36);
        s.extend_from_slice(&packed.to_be_bytes());
        s.extend_from_slice(&[0; 16]);
        s
    }

    #[test]
    fn reads_all_three_forms() {
        let si = streaminfo(48000, 2, 16);
        assert_eq!(si.len(), STREAMINFO_LEN);
        let mut spec = b"fLaC\x80\x00\x00\x22".to_vec();
        spec.extend_from_slice(&si);
        spec.extend_from_slice(b"\x84\x00\x00\x00"); // trailing comment block header
        for config in [spec.clone(), si.clone(), spec[4..spec.len() - 4].to_vec()] {
            let info = flac_info(&config).unwrap();
            assert_eq!(
                (info.rate, info.channels, info.bits_per_sample),
                (48000, 2, Some(16))
            );
        }
        let info = flac_info(&{
            let mut v = b"fLaC\x00\x00\x00\x22".to_vec();
            v.extend(streaminfo(96000, 6, 24));
            v
        })
        .unwrap();
        assert_eq!(
            (info.rate, info.channels, info.bits_per_sample),
            (96000, 6, Some(24))
        );
    }

    #[test]
    fn rejects_non_streaminfo() {
        let mut v = b"fLaC\x04\x00\x00\x22".to_vec();
        v.extend(streaminfo(48000, 2, 16));
        assert!(flac_info(&v).is_err());
        assert!(flac_info(b"fLaC").is_err());
    }
}
