// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! HEVCDecoderConfigurationRecord (hvcC) and the H.265 SPS picture size.

use super::bitreader::{unescape_rbsp, BitReader};
use super::reader::ByteReader;
use super::stream_info::{ColorInfo, VideoInfo};
use super::syntax::{chroma_format_name, read_vui_signal_type, reduced};
use super::FlvError;

const NAL_TYPE_SPS: u8 = 33;

struct Hvcc<'a> {
    profile_idc: u8,
    tier_high: bool,
    compatibility_flags: u32,
    /// The 48 general constraint indicator bits, right-aligned.
    constraint_flags: u64,
    level_idc: u8,
    chroma_format_idc: u8,
    bit_depth_luma: u8,
    bit_depth_chroma: u8,
    sps: Vec<&'a [u8]>,
    nal_unit_count: usize,
}

fn parse_hvcc(config: &[u8]) -> Result<Hvcc<'_>, FlvError> {
    let mut r = ByteReader::new(config);
    if r.u8("hvcC version")? != 1 {
        return Err(FlvError::Malformed("hvcC configurationVersion is not 1"));
    }
    let ptl = r.u8("hvcC profile")?;
    let compatibility_flags = r.u32("hvcC compatibility")?;
    let constraint_flags =
        (u64::from(r.u16("hvcC constraints")?) << 32) | u64::from(r.u32("hvcC constraints")?);
    let level_idc = r.u8("hvcC level")?;
    let _min_spatial_segmentation = r.u16("hvcC segmentation")?;
    let _parallelism = r.u8("hvcC parallelism")?;
    let chroma_format_idc = r.u8("hvcC chroma format")? & 0x03;
    let bit_depth_luma = (r.u8("hvcC bit depth")? & 0x07) + 8;
    let bit_depth_chroma = (r.u8("hvcC bit depth")? & 0x07) + 8;
    let _avg_frame_rate = r.u16("hvcC frame rate")?;
    let _flags = r.u8("hvcC flags")?;
    let num_arrays = r.u8("hvcC array count")?;
    let mut sps = Vec::new();
    let mut nal_unit_count = 0usize;
    for _ in 0..num_arrays {
        let nal_type = r.u8("hvcC array type")? & 0x3f;
        let count = r.u16("hvcC NAL count")?;
        for _ in 0..count {
            let len = usize::from(r.u16("hvcC NAL length")?);
            let nal = r.take(len, "hvcC NAL unit")?;
            nal_unit_count += 1;
            if nal_type == NAL_TYPE_SPS {
                sps.push(nal);
            }
        }
    }
    Ok(Hvcc {
        profile_idc: ptl & 0x1f,
        tier_high: ptl & 0x20 != 0,
        compatibility_flags,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        sps,
        nal_unit_count,
    })
}

/// True when the bytes fit an hvcC: version 1, the reserved bits that hvcC
/// sets to one, and NAL arrays that add up.
pub(super) fn hvcc_layout_fits(config: &[u8]) -> bool {
    let reserved_ok = |index: usize, mask: u8| config.get(index).is_some_and(|b| b & mask == mask);
    reserved_ok(13, 0xf0)
        && reserved_ok(15, 0xfc)
        && reserved_ok(16, 0xfc)
        && reserved_ok(17, 0xf8)
        && reserved_ok(18, 0xf8)
        && parse_hvcc(config).is_ok()
}

/// Reads an hvcC: profile/tier/level and format from the record, picture
/// size from its first SPS (0x0 when the record carries none).
pub(super) fn hvcc_info(config: &[u8]) -> Result<VideoInfo, FlvError> {
    let hvcc = parse_hvcc(config)?;
    let mut info = VideoInfo {
        profile: profile_name(&hvcc),
        level: level_name(hvcc.level_idc),
        tier: Some(if hvcc.tier_high { "high" } else { "main" }.to_string()),
        chroma_format: chroma_format_name(u32::from(hvcc.chroma_format_idc)),
        bit_depth_luma: Some(hvcc.bit_depth_luma),
        bit_depth_chroma: Some(hvcc.bit_depth_chroma),
        parameter_sets_in_band_hint: hvcc.nal_unit_count == 0,
        ..VideoInfo::default()
    };
    if let Some(sps) = hvcc.sps.first() {
        let size = sps_size(sps)?;
        info.width = size.width;
        info.height = size.height;
        info.chroma_format = chroma_format_name(size.chroma_format_idc);
        info.bit_depth_luma = Some(size.bit_depth_luma);
        info.bit_depth_chroma = Some(size.bit_depth_chroma);
        info.colorimetry = size.color;
        info.framerate = size.framerate;
    }
    Ok(info)
}

/// GStreamer's name for an H.265 level: general_level_idc is 30 × level.
fn level_name(level_idc: u8) -> Option<String> {
    if level_idc == 0 {
        return None;
    }
    let major = level_idc / 30;
    let minor = (level_idc % 30) / 3;
    Some(if minor == 0 {
        format!("{major}")
    } else {
        format!("{major}.{minor}")
    })
}

fn profile_name(hvcc: &Hvcc<'_>) -> Option<String> {
    let mut idc = hvcc.profile_idc;
    if idc == 0 {
        // Some encoders leave profile_idc 0 and set only a compatibility flag.
        idc = (1..32u8).find(|i| hvcc.compatibility_flags & (1u32 << (31 - i)) != 0)?;
    }
    let name = match idc {
        1 => "main".to_string(),
        2 => "main-10".to_string(),
        3 => "main-still-picture".to_string(),
        4 => range_extensions_name(hvcc.constraint_flags),
        5 => "high-throughput-444".to_string(),
        9 => "screen-extended-main".to_string(),
        _ => return None,
    };
    Some(name)
}

/// Format-range-extension profiles are told apart by the constraint flags.
fn range_extensions_name(flags: u64) -> String {
    let bit = |n: u32| flags & (1u64 << (47 - n)) != 0;
    let (max_12bit, max_10bit, max_8bit) = (bit(0), bit(1), bit(2));
    let (max_422, max_420, max_mono) = (bit(3), bit(4), bit(5));
    let (intra, one_picture) = (bit(6), bit(7));
    let depth = if max_8bit {
        ""
    } else if max_10bit {
        "-10"
    } else if max_12bit {
        "-12"
    } else {
        "-16"
    };
    let mut name = if max_mono {
        format!("monochrome{depth}")
    } else {
        let chroma = if max_420 {
            ""
        } else if max_422 {
            "-422"
        } else {
            "-444"
        };
        format!("main{chroma}{depth}")
    };
    if one_picture {
        name.push_str("-still-picture");
    } else if intra {
        name.push_str("-intra");
    }
    name
}

struct SpsSize {
    width: u32,
    height: u32,
    chroma_format_idc: u32,
    bit_depth_luma: u8,
    bit_depth_chroma: u8,
    /// From the VUI's colour description, when present.
    color: Option<ColorInfo>,
    /// From the VUI timing info, when present.
    framerate: Option<(u32, u32)>,
}

fn sps_size(nal: &[u8]) -> Result<SpsSize, FlvError> {
    let rbsp = unescape_rbsp(nal);
    let mut b = BitReader::new(&rbsp);
    let nal_type = (b.bits(16)? >> 9) & 0x3f;
    if nal_type != u32::from(NAL_TYPE_SPS) {
        return Err(FlvError::Malformed("hvcC SPS is not an SPS NAL unit"));
    }
    let _vps_id = b.bits(4)?;
    let max_sub_layers_minus1 = b.bits(3)? as usize;
    let _temporal_id_nesting = b.flag()?;
    // profile_tier_level: general part is 88 bits + level_idc.
    b.skip(96)?;
    let mut sub_layers = [(false, false); 8];
    for layer in sub_layers.iter_mut().take(max_sub_layers_minus1) {
        *layer = (b.flag()?, b.flag()?);
    }
    if max_sub_layers_minus1 > 0 {
        b.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for &(profile_present, level_present) in sub_layers.iter().take(max_sub_layers_minus1) {
        if profile_present {
            b.skip(88)?;
        }
        if level_present {
            b.skip(8)?;
        }
    }
    let _sps_id = b.ue()?;
    let chroma_format_idc = b.ue()?;
    if chroma_format_idc > 3 {
        return Err(FlvError::Malformed("H.265 SPS chroma format"));
    }
    let separate_colour_plane = chroma_format_idc == 3 && b.flag()?;
    let width = u64::from(b.ue()?);
    let height = u64::from(b.ue()?);
    let mut window = [0u64; 4];
    if b.flag()? {
        for w in window.iter_mut() {
            *w = u64::from(b.ue()?);
        }
    }
    let bit_depth_luma = b.ue()?.saturating_add(8);
    let bit_depth_chroma = b.ue()?.saturating_add(8);
    if bit_depth_luma > 16 || bit_depth_chroma > 16 {
        return Err(FlvError::Malformed("H.265 SPS bit depth"));
    }
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width, sub_height) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let width = width.saturating_sub(sub_width * (window[0] + window[1]));
    let height = height.saturating_sub(sub_height * (window[2] + window[3]));
    let mut size = SpsSize {
        width: u32::try_from(width).unwrap_or(0),
        height: u32::try_from(height).unwrap_or(0),
        chroma_format_idc,
        bit_depth_luma: bit_depth_luma as u8,
        bit_depth_chroma: bit_depth_chroma as u8,
        color: None,
        framerate: None,
    };
    // The VUI is optional detail: a truncated or odd SPS tail keeps the facts read so far.
    let _ = read_sps_tail(&mut b, max_sub_layers_minus1, &mut size);
    Ok(size)
}

/// Walks the SPS from log2_max_pic_order_cnt_lsb_minus4 to the VUI and reads its colour
/// description and timing info (ITU-T H.265 7.3.2.2, E.2.1).
fn read_sps_tail(
    b: &mut BitReader<'_>,
    max_sub_layers_minus1: usize,
    size: &mut SpsSize,
) -> Result<(), FlvError> {
    let log2_max_poc_lsb = b.ue()?.saturating_add(4);
    if log2_max_poc_lsb > 16 {
        return Err(FlvError::Malformed("H.265 SPS POC length"));
    }
    let sub_layer_ordering_info = b.flag()?;
    let first = if sub_layer_ordering_info {
        0
    } else {
        max_sub_layers_minus1
    };
    for _ in first..=max_sub_layers_minus1 {
        b.ue()?;
        b.ue()?;
        b.ue()?;
    }
    for _ in 0..6 {
        // log2 min/diff luma coding block, transform block sizes and hierarchy depths.
        b.ue()?;
    }
    if b.flag()? && b.flag()? {
        skip_scaling_list_data(b)?;
    }
    let _amp = b.flag()?;
    let _sao = b.flag()?;
    if b.flag()? {
        // pcm sample bit depths (4 + 4), pcm block sizes, loop filter flag.
        b.skip(8)?;
        b.ue()?;
        b.ue()?;
        b.flag()?;
    }
    let num_short_term_ref_pic_sets = b.ue()?;
    if num_short_term_ref_pic_sets > 64 {
        return Err(FlvError::Malformed("H.265 SPS short-term RPS count"));
    }
    let mut num_delta_pocs: Vec<u32> = Vec::with_capacity(num_short_term_ref_pic_sets as usize);
    for idx in 0..num_short_term_ref_pic_sets as usize {
        let count = skip_st_ref_pic_set(b, idx, &num_delta_pocs)?;
        num_delta_pocs.push(count);
    }
    if b.flag()? {
        let num_long_term = b.ue()?;
        if num_long_term > 32 {
            return Err(FlvError::Malformed("H.265 SPS long-term count"));
        }
        for _ in 0..num_long_term {
            b.skip(log2_max_poc_lsb as usize + 1)?;
        }
    }
    let _temporal_mvp = b.flag()?;
    let _strong_intra_smoothing = b.flag()?;
    if !b.flag()? {
        return Ok(());
    }
    // vui_parameters()
    if b.flag()? && b.u8(8)? == 255 {
        b.skip(32)?;
    }
    if b.flag()? {
        b.flag()?;
    }
    if let Some(color) = read_vui_signal_type(b)? {
        size.color = Some(color);
    }
    // neutral_chroma_indication, field_seq, frame_field_info_present.
    b.skip(3)?;
    if b.flag()? {
        // default display window offsets.
        for _ in 0..4 {
            b.ue()?;
        }
    }
    if b.flag()? {
        let num_units_in_tick = b.bits(32)?;
        let time_scale = b.bits(32)?;
        size.framerate = reduced(u64::from(time_scale), u64::from(num_units_in_tick));
    }
    Ok(())
}

/// scaling_list_data() (7.3.4).
fn skip_scaling_list_data(b: &mut BitReader<'_>) -> Result<(), FlvError> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _matrix_id in (0..6).step_by(step) {
            if !b.flag()? {
                b.ue()?;
            } else {
                let coefficients = 64.min(1u32 << (4 + (size_id << 1)));
                if size_id > 1 {
                    b.se()?;
                }
                for _ in 0..coefficients {
                    b.se()?;
                }
            }
        }
    }
    Ok(())
}

/// st_ref_pic_set(idx) in an SPS (7.3.7); returns NumDeltaPocs of the set.
fn skip_st_ref_pic_set(
    b: &mut BitReader<'_>,
    idx: usize,
    num_delta_pocs: &[u32],
) -> Result<u32, FlvError> {
    let inter_rps_pred = idx != 0 && b.flag()?;
    if inter_rps_pred {
        // In an SPS delta_idx_minus1 is absent: the reference is the previous set.
        let reference = *num_delta_pocs
            .get(idx - 1)
            .ok_or(FlvError::Malformed("H.265 SPS RPS reference"))?;
        let _delta_rps_sign = b.flag()?;
        b.ue()?;
        let mut count = 0;
        for _ in 0..=reference {
            let used_by_curr = b.flag()?;
            let use_delta = used_by_curr || b.flag()?;
            if use_delta {
                count += 1;
            }
        }
        Ok(count)
    } else {
        let negative = b.ue()?;
        let positive = b.ue()?;
        if negative > 16 || positive > 16 {
            return Err(FlvError::Malformed("H.265 SPS RPS size"));
        }
        for _ in 0..negative + positive {
            b.ue()?;
            b.flag()?;
        }
        Ok(negative + positive)
    }
}
