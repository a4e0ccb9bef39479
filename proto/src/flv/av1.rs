// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! AV1CodecConfigurationRecord (av1C) and the sequence header OBU.

use super::bitreader::BitReader;
use super::reader::ByteReader;
use super::stream_info::{ColorInfo, VideoInfo};
use super::syntax::reduced;
use super::FlvError;

const OBU_SEQUENCE_HEADER: u8 = 1;
const CP_BT_709: u8 = 1;
const TC_SRGB: u8 = 13;
const MC_IDENTITY: u8 = 0;

/// Reads an av1C: profile/level/tier/format from the 4 fixed bytes, picture
/// size, colour and frame rate from a sequence header OBU in configOBUs.
pub(super) fn av1c_info(config: &[u8]) -> Result<VideoInfo, FlvError> {
    let mut r = ByteReader::new(config);
    let marker_version = r.u8("av1C version")?;
    if marker_version != 0x81 {
        return Err(FlvError::Malformed("av1C marker/version is not 1/1"));
    }
    let b1 = r.u8("av1C profile")?;
    let b2 = r.u8("av1C format")?;
    let _b3 = r.u8("av1C delay")?;
    let seq_profile = b1 >> 5;
    let seq_level_idx = b1 & 0x1f;
    let tier_high = b2 & 0x80 != 0;
    let high_bitdepth = b2 & 0x40 != 0;
    let twelve_bit = b2 & 0x20 != 0;
    let monochrome = b2 & 0x10 != 0;
    let subsampling = (b2 & 0x08 != 0, b2 & 0x04 != 0);
    let depth = if twelve_bit {
        12
    } else if high_bitdepth {
        10
    } else {
        8
    };
    let mut info = VideoInfo {
        profile: profile_name(seq_profile),
        level: level_name(seq_level_idx),
        tier: Some(if tier_high { "high" } else { "main" }.to_string()),
        chroma_format: Some(chroma_name(monochrome, subsampling).to_string()),
        bit_depth_luma: Some(depth),
        bit_depth_chroma: Some(depth),
        ..VideoInfo::default()
    };
    if let Some(obu) = find_sequence_header(r.rest()) {
        // configOBUs are optional detail: a bad one keeps the record's facts.
        if let Ok(seq) = parse_sequence_header(obu) {
            info.width = seq.width;
            info.height = seq.height;
            info.colorimetry = seq.color;
            info.framerate = seq.framerate;
        }
    }
    Ok(info)
}

fn profile_name(seq_profile: u8) -> Option<String> {
    let name = match seq_profile {
        0 => "main",
        1 => "high",
        2 => "professional",
        _ => return None,
    };
    Some(name.to_string())
}

/// AV1 levels are X.Y with X = 2 + idx / 4 and Y = idx % 4; 31 means "max".
fn level_name(seq_level_idx: u8) -> Option<String> {
    if seq_level_idx > 23 {
        return None;
    }
    Some(format!("{}.{}", 2 + seq_level_idx / 4, seq_level_idx % 4))
}

fn chroma_name(monochrome: bool, (x, y): (bool, bool)) -> &'static str {
    match (monochrome, x, y) {
        (true, _, _) => "4:0:0",
        (false, true, true) => "4:2:0",
        (false, true, false) => "4:2:2",
        (false, false, _) => "4:4:4",
    }
}

fn leb128(r: &mut ByteReader<'_>) -> Result<u64, FlvError> {
    let mut value = 0u64;
    for i in 0..8 {
        let byte = r.u8("OBU size")?;
        value |= u64::from(byte & 0x7f) << (i * 7);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FlvError::Malformed("OBU size leb128 too long"))
}

/// Returns the payload of the first sequence header OBU in a run of OBUs.
fn find_sequence_header(mut obus: &[u8]) -> Option<&[u8]> {
    while !obus.is_empty() {
        let mut r = ByteReader::new(obus);
        let header = r.u8("OBU header").ok()?;
        let obu_type = (header >> 3) & 0x0f;
        if header & 0x04 != 0 {
            r.u8("OBU extension").ok()?;
        }
        let payload = if header & 0x02 != 0 {
            let size = usize::try_from(leb128(&mut r).ok()?).ok()?;
            r.take(size, "OBU payload").ok()?
        } else {
            r.rest()
        };
        if obu_type == OBU_SEQUENCE_HEADER {
            return Some(payload);
        }
        obus = r.rest();
    }
    None
}

struct SequenceHeader {
    width: u32,
    height: u32,
    color: Option<ColorInfo>,
    framerate: Option<(u32, u32)>,
}

fn parse_sequence_header(obu: &[u8]) -> Result<SequenceHeader, FlvError> {
    let mut b = BitReader::new(obu);
    let seq_profile = b.bits(3)?;
    let _still_picture = b.flag()?;
    let reduced_still_picture_header = b.flag()?;
    let mut framerate = None;
    if reduced_still_picture_header {
        b.skip(5)?;
    } else {
        let timing_info_present = b.flag()?;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0usize;
        if timing_info_present {
            let num_units_in_display_tick = b.bits(32)?;
            let time_scale = b.bits(32)?;
            if b.flag()? {
                let ticks_per_picture = u64::from(b.uvlc()?) + 1;
                framerate = reduced(
                    u64::from(time_scale),
                    u64::from(num_units_in_display_tick) * ticks_per_picture,
                );
            }
            decoder_model_info_present = b.flag()?;
            if decoder_model_info_present {
                buffer_delay_length = b.bits(5)? as usize + 1;
                b.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay_present = b.flag()?;
        let operating_points = b.bits(5)? + 1;
        for _ in 0..operating_points {
            b.skip(12)?;
            let level = b.bits(5)?;
            if level > 7 {
                b.skip(1)?;
            }
            if decoder_model_info_present && b.flag()? {
                b.skip(2 * buffer_delay_length + 1)?;
            }
            if initial_display_delay_present && b.flag()? {
                b.skip(4)?;
            }
        }
    }
    let width_bits = b.bits(4)? + 1;
    let height_bits = b.bits(4)? + 1;
    let width = u64::from(b.bits(width_bits)?) + 1;
    let height = u64::from(b.bits(height_bits)?) + 1;
    let mut header = SequenceHeader {
        width: u32::try_from(width).unwrap_or(0),
        height: u32::try_from(height).unwrap_or(0),
        color: None,
        framerate,
    };
    // Colour is optional detail: stop quietly if the rest is short.
    header.color = read_color_config(&mut b, seq_profile, reduced_still_picture_header)
        .ok()
        .flatten();
    Ok(header)
}

fn read_color_config(
    b: &mut BitReader<'_>,
    seq_profile: u32,
    reduced_still_picture_header: bool,
) -> Result<Option<ColorInfo>, FlvError> {
    if !reduced_still_picture_header && b.flag()? {
        // frame_id_numbers_present: delta_frame_id_length_minus_2, additional_frame_id_length_minus_1
        b.skip(4 + 3)?;
    }
    // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    b.skip(3)?;
    if !reduced_still_picture_header {
        // interintra, masked compound, warped motion, dual filter
        b.skip(4)?;
        let enable_order_hint = b.flag()?;
        if enable_order_hint {
            b.skip(2)?; // jnt_comp, ref_frame_mvs
        }
        let seq_force_screen_content_tools = if b.flag()? { 2 } else { b.bits(1)? };
        if seq_force_screen_content_tools > 0 && !b.flag()? {
            b.skip(1)?; // seq_force_integer_mv
        }
        if enable_order_hint {
            b.skip(3)?;
        }
    }
    b.skip(3)?; // superres, cdef, restoration
    let high_bitdepth = b.flag()?;
    if seq_profile == 2 && high_bitdepth {
        b.skip(1)?;
    }
    let mono_chrome = seq_profile != 1 && b.flag()?;
    if !b.flag()? {
        return Ok(None);
    }
    let primaries = b.u8(8)?;
    let transfer = b.u8(8)?;
    let matrix = b.u8(8)?;
    let full_range = if mono_chrome {
        b.flag()?
    } else if primaries == CP_BT_709 && transfer == TC_SRGB && matrix == MC_IDENTITY {
        true
    } else {
        b.flag()?
    };
    Ok(Some(ColorInfo {
        primaries,
        transfer,
        matrix,
        full_range,
    }))
}
