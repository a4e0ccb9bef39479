// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! VVCDecoderConfigurationRecord (vvcC): the fixed fields up to the picture size.

use super::bitreader::BitReader;
use super::stream_info::VideoInfo;
use super::syntax::chroma_format_name;
use super::FlvError;

/// Reads a vvcC (ISO/IEC 14496-15 11.2.4.2). Only the optional
/// profile/tier/level part carries facts; without it the result is empty.
pub(super) fn vvcc_info(config: &[u8]) -> Result<VideoInfo, FlvError> {
    let mut b = BitReader::new(config);
    b.skip(5)?; // reserved
    let _length_size_minus_one = b.bits(2)?;
    let ptl_present = b.flag()?;
    let mut info = VideoInfo::default();
    if !ptl_present {
        return Ok(info);
    }
    let _ols_idx = b.bits(9)?;
    let num_sublayers = b.bits(3)?;
    let _constant_frame_rate = b.bits(2)?;
    let chroma_format_idc = b.bits(2)?;
    let bit_depth = b.bits(3)? as u8 + 8;
    b.skip(5)?;
    // VvcPTLRecord
    b.skip(2)?;
    let num_bytes_constraint_info = b.bits(6)? as usize;
    let profile_idc = b.bits(7)?;
    let tier_high = b.flag()?;
    let level_idc = b.bits(8)?;
    b.skip(2)?; // ptl_frame_only_constraint, ptl_multilayer_enabled
    b.skip((8 * num_bytes_constraint_info).saturating_sub(2))?;
    let mut sublayer_level_present = 0usize;
    if num_sublayers > 1 {
        for _ in 0..num_sublayers - 1 {
            if b.flag()? {
                sublayer_level_present += 1;
            }
        }
        b.skip(9usize.saturating_sub(num_sublayers as usize))?;
    }
    b.skip(8 * sublayer_level_present)?;
    let num_sub_profiles = b.bits(8)? as usize;
    b.skip(32 * num_sub_profiles)?;
    info.width = b.bits(16)?;
    info.height = b.bits(16)?;
    info.profile = profile_name(profile_idc);
    info.level = (level_idc != 0).then(|| {
        let (major, minor) = (level_idc / 16, (level_idc % 16) / 3);
        if minor == 0 {
            format!("{major}")
        } else {
            format!("{major}.{minor}")
        }
    });
    info.tier = Some(if tier_high { "high" } else { "main" }.to_string());
    info.chroma_format = chroma_format_name(chroma_format_idc);
    info.bit_depth_luma = Some(bit_depth);
    info.bit_depth_chroma = Some(bit_depth);
    Ok(info)
}

fn profile_name(profile_idc: u32) -> Option<String> {
    let name = match profile_idc {
        1 => "main-10",
        65 => "main-10-still-picture",
        33 => "main-10-444",
        97 => "main-10-444-still-picture",
        17 => "multilayer-main-10",
        49 => "multilayer-main-10-444",
        2 => "main-12",
        10 => "main-12-intra",
        34 => "main-12-444",
        42 => "main-12-444-intra",
        35 => "main-16-444",
        43 => "main-16-444-intra",
        _ => return None,
    };
    Some(name.to_string())
}
