// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! VPCodecConfigurationRecord (vpcC) for VP8/VP9, and keyframe picture sizes.

use super::bitreader::BitReader;
use super::reader::ByteReader;
use super::stream_info::{ColorInfo, VideoInfo};
use super::FlvError;

/// Reads a vpcC. FLV normally carries the bare 8+ byte record; some muxers
/// send it with the ISO BMFF FullBox version/flags in front, recognised by a
/// version of 0/1 followed by three zero flag bytes (a bare record's second
/// byte is the level, never 0).
pub(super) fn vpcc_info(config: &[u8]) -> Result<VideoInfo, FlvError> {
    let record = match config {
        [0 | 1, 0, 0, 0, rest @ ..] if rest.len() >= 8 => rest,
        _ => config,
    };
    let mut r = ByteReader::new(record);
    let profile = r.u8("vpcC profile")?;
    let level = r.u8("vpcC level")?;
    let packed = r.u8("vpcC bit depth")?;
    let primaries = r.u8("vpcC colour primaries")?;
    let transfer = r.u8("vpcC transfer")?;
    let matrix = r.u8("vpcC matrix")?;
    let bit_depth = packed >> 4;
    let chroma = match (packed >> 1) & 0x07 {
        0 | 1 => Some("4:2:0"),
        2 => Some("4:2:2"),
        3 => Some("4:4:4"),
        _ => None,
    };
    let level = match level {
        0 => None,
        l if l % 10 == 0 => Some(format!("{}", l / 10)),
        l => Some(format!("{}.{}", l / 10, l % 10)),
    };
    Ok(VideoInfo {
        profile: Some(profile.to_string()),
        level,
        chroma_format: chroma.map(str::to_string),
        bit_depth_luma: (bit_depth != 0).then_some(bit_depth),
        bit_depth_chroma: (bit_depth != 0).then_some(bit_depth),
        colorimetry: Some(ColorInfo {
            primaries,
            transfer,
            matrix,
            full_range: packed & 0x01 != 0,
        }),
        ..VideoInfo::default()
    })
}

/// VP8 keyframe: 3-byte frame tag, start code 9d 01 2a, 14-bit width/height (LE).
pub(super) fn vp8_frame_size(frame: &[u8]) -> Option<(u32, u32)> {
    match frame {
        [tag, _, _, 0x9d, 0x01, 0x2a, w0, w1, h0, h1, ..] if tag & 0x01 == 0 => {
            let width = u32::from(u16::from_le_bytes([*w0, *w1]) & 0x3fff);
            let height = u32::from(u16::from_le_bytes([*h0, *h1]) & 0x3fff);
            Some((width, height))
        }
        _ => None,
    }
}

/// VP9 keyframe: the uncompressed header up to frame_size().
pub(super) fn vp9_frame_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut b = BitReader::new(frame);
    if b.bits(2).ok()? != 2 {
        return None;
    }
    let profile_low = b.bits(1).ok()?;
    let profile = (b.bits(1).ok()? << 1) | profile_low;
    if profile == 3 {
        b.skip(1).ok()?;
    }
    if b.flag().ok()? {
        return None; // show_existing_frame
    }
    if b.flag().ok()? {
        return None; // not a keyframe
    }
    b.skip(2).ok()?; // show_frame, error_resilient_mode
    if b.bits(24).ok()? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        b.skip(1).ok()?;
    }
    let color_space = b.bits(3).ok()?;
    const CS_RGB: u32 = 7;
    if color_space != CS_RGB {
        b.skip(1).ok()?;
        if profile == 1 || profile == 3 {
            b.skip(3).ok()?;
        }
    } else if profile == 1 || profile == 3 {
        b.skip(1).ok()?;
    }
    let width = b.bits(16).ok()? + 1;
    let height = b.bits(16).ok()? + 1;
    Some((width, height))
}
