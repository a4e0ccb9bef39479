// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! AVCDecoderConfigurationRecord (avcC) and H.264 SPS.

use super::bitreader::{unescape_rbsp, BitReader};
use super::reader::ByteReader;
use super::stream_info::VideoInfo;
use super::syntax::{chroma_format_name, read_vui_signal_type, reduced};
use super::FlvError;

pub(super) const NAL_TYPE_SPS: u8 = 7;

/// The parameter sets of an avcC, as slices of the record.
pub(super) struct Avcc<'a> {
    profile_idc: u8,
    constraint_flags: u8,
    level_idc: u8,
    pub(super) sps: Vec<&'a [u8]>,
}

pub(super) fn parse_avcc(config: &[u8]) -> Result<Avcc<'_>, FlvError> {
    let mut r = ByteReader::new(config);
    if r.u8("avcC version")? != 1 {
        return Err(FlvError::Malformed("avcC configurationVersion is not 1"));
    }
    let profile_idc = r.u8("avcC profile")?;
    let constraint_flags = r.u8("avcC compatibility")?;
    let level_idc = r.u8("avcC level")?;
    let _length_size = r.u8("avcC length size")?;
    let num_sps = r.u8("avcC SPS count")? & 0x1f;
    let mut sps = Vec::new();
    for _ in 0..num_sps {
        let len = usize::from(r.u16("avcC SPS length")?);
        sps.push(r.take(len, "avcC SPS")?);
    }
    let num_pps = r.u8("avcC PPS count")?;
    for _ in 0..num_pps {
        let len = usize::from(r.u16("avcC PPS length")?);
        r.take(len, "avcC PPS")?;
    }
    Ok(Avcc {
        profile_idc,
        constraint_flags,
        level_idc,
        sps,
    })
}

/// Reads an avcC: profile/level from the record, the rest from its first SPS.
pub(super) fn avcc_info(config: &[u8]) -> Result<VideoInfo, FlvError> {
    let avcc = parse_avcc(config)?;
    let Some(first_sps) = avcc.sps.first() else {
        return Ok(VideoInfo {
            profile: profile_name(avcc.profile_idc, avcc.constraint_flags).map(str::to_string),
            level: level_name(avcc.level_idc, avcc.profile_idc, avcc.constraint_flags),
            parameter_sets_in_band_hint: true,
            ..VideoInfo::default()
        });
    };
    sps_info(first_sps)
}

/// GStreamer's name for an H.264 profile.
fn profile_name(profile_idc: u8, constraint_flags: u8) -> Option<&'static str> {
    let set1 = constraint_flags & 0x40 != 0;
    let set3 = constraint_flags & 0x10 != 0;
    let set4 = constraint_flags & 0x08 != 0;
    let set5 = constraint_flags & 0x04 != 0;
    Some(match profile_idc {
        66 if set1 => "constrained-baseline",
        66 => "baseline",
        77 => "main",
        88 => "extended",
        100 if set4 && set5 => "constrained-high",
        100 if set4 => "progressive-high",
        100 => "high",
        110 if set3 => "high-10-intra",
        110 if set4 => "progressive-high-10",
        110 => "high-10",
        122 if set3 => "high-4:2:2-intra",
        122 => "high-4:2:2",
        244 if set3 => "high-4:4:4-intra",
        244 => "high-4:4:4",
        44 => "cavlc-4:4:4-intra",
        83 => "scalable-baseline",
        86 => "scalable-high",
        118 => "multiview-high",
        128 => "stereo-high",
        _ => return None,
    })
}

/// GStreamer's name for an H.264 level ("1b", "3.1", "4").
fn level_name(level_idc: u8, profile_idc: u8, constraint_flags: u8) -> Option<String> {
    let set3 = constraint_flags & 0x10 != 0;
    if level_idc == 9 || (level_idc == 11 && set3 && matches!(profile_idc, 66 | 77 | 88)) {
        return Some("1b".to_string());
    }
    if level_idc == 0 {
        return None;
    }
    Some(match level_idc % 10 {
        0 => format!("{}", level_idc / 10),
        minor => format!("{}.{}", level_idc / 10, minor),
    })
}

fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

fn skip_scaling_list(b: &mut BitReader<'_>, size: u32) -> Result<(), FlvError> {
    let mut last = 8i64;
    let mut next = 8i64;
    for _ in 0..size {
        if next != 0 {
            // i64: a hostile delta_scale near i32::MAX must not overflow.
            let delta = i64::from(b.se()?);
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Reads an H.264 SPS NAL unit (with its header byte).
pub(super) fn sps_info(nal: &[u8]) -> Result<VideoInfo, FlvError> {
    let rbsp = unescape_rbsp(nal);
    let mut b = BitReader::new(&rbsp);
    let nal_header = b.u8(8)?;
    if nal_header & 0x1f != NAL_TYPE_SPS {
        return Err(FlvError::Malformed("avcC SPS is not an SPS NAL unit"));
    }
    let profile_idc = b.u8(8)?;
    let constraint_flags = b.u8(8)?;
    let level_idc = b.u8(8)?;
    let _sps_id = b.ue()?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8u32;
    let mut bit_depth_chroma = 8u32;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = b.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = b.flag()?;
        }
        bit_depth_luma = b.ue()?.saturating_add(8);
        bit_depth_chroma = b.ue()?.saturating_add(8);
        let _qpprime_bypass = b.flag()?;
        if b.flag()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.flag()? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    if chroma_format_idc > 3 || bit_depth_luma > 14 || bit_depth_chroma > 14 {
        return Err(FlvError::Malformed("H.264 SPS chroma format or bit depth"));
    }
    let _log2_max_frame_num = b.ue()?;
    match b.ue()? {
        0 => {
            let _log2_max_poc_lsb = b.ue()?;
        }
        1 => {
            let _delta_pic_order_always_zero = b.flag()?;
            let _offset_for_non_ref_pic = b.se()?;
            let _offset_for_top_to_bottom = b.se()?;
            let cycle = b.ue()?;
            if cycle > 255 {
                return Err(FlvError::Malformed("H.264 SPS POC cycle too long"));
            }
            for _ in 0..cycle {
                b.se()?;
            }
        }
        _ => {}
    }
    let _max_num_ref_frames = b.ue()?;
    let _gaps_allowed = b.flag()?;
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_map_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = b.flag()?;
    if !frame_mbs_only {
        let _mb_adaptive = b.flag()?;
    }
    let _direct_8x8 = b.flag()?;
    let mut crop = [0u64; 4];
    if b.flag()? {
        for c in crop.iter_mut() {
            *c = u64::from(b.ue()?);
        }
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
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let crop_x = sub_width * (crop[0] + crop[1]);
    let crop_y = sub_height * field_factor * (crop[2] + crop[3]);
    let width = (width_mbs * 16).saturating_sub(crop_x);
    let height = (height_map_units * 16 * field_factor).saturating_sub(crop_y);

    let mut info = VideoInfo {
        width: u32::try_from(width).unwrap_or(0),
        height: u32::try_from(height).unwrap_or(0),
        profile: profile_name(profile_idc, constraint_flags).map(str::to_string),
        level: level_name(level_idc, profile_idc, constraint_flags),
        chroma_format: chroma_format_name(chroma_format_idc),
        bit_depth_luma: Some(bit_depth_luma as u8),
        bit_depth_chroma: Some(bit_depth_chroma as u8),
        ..VideoInfo::default()
    };
    // VUI is optional detail: a truncated VUI keeps the facts read so far.
    if b.flag()? {
        let _ = read_vui(&mut b, &mut info);
    }
    Ok(info)
}

fn read_vui(b: &mut BitReader<'_>, info: &mut VideoInfo) -> Result<(), FlvError> {
    if b.flag()? {
        let aspect_ratio_idc = b.u8(8)?;
        if aspect_ratio_idc == 255 {
            b.skip(32)?;
        }
    }
    if b.flag()? {
        let _overscan_appropriate = b.flag()?;
    }
    if let Some(color) = read_vui_signal_type(b)? {
        info.colorimetry = Some(color);
    }
    if b.flag()? {
        let num_units_in_tick = b.bits(32)?;
        let time_scale = b.bits(32)?;
        // fixed_frame_rate_flag is ignored: x264 under FFmpeg and others clear
        // it on constant-rate streams, and GStreamer's h264parse ignores it too.
        let _fixed_frame_rate = b.flag()?;
        info.framerate = reduced(u64::from(time_scale), 2 * u64::from(num_units_in_tick));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs a string of '0'/'1' (spaces ignored) into bytes, zero-padded.
    fn pack(bits: &str) -> Vec<u8> {
        let bits: Vec<u8> = bits
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b - b'0')
            .collect();
        bits.chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, bit)| acc | (bit << (7 - i)))
            })
            .collect()
    }

    #[test]
    fn interlaced_main_profile_with_poc_type_1() {
        let sps = pack(
            "01100111 01001101 00000000 00101000 1 1 010 0 1 1 011 010 011 010 0 \
             0000001111000 00000100010 0 1 1 1 1 1 1 011 0",
        );
        let info = sps_info(&sps).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.profile.as_deref(), Some("main"));
        assert_eq!(info.level.as_deref(), Some("4"));
        assert_eq!(info.framerate, None);
    }

    #[test]
    fn hostile_scaling_list_delta_does_not_overflow() {
        let huge_se = format!("{}1{}0", "0".repeat(31), "1".repeat(30));
        let sps = pack(&format!(
            "01100111 01100100 00000000 00101000 1 010 1 1 0 1 1 {huge_se} {huge_se}"
        ));
        assert!(sps_info(&sps).is_err());
    }

    #[test]
    fn level_names() {
        assert_eq!(level_name(9, 100, 0).as_deref(), Some("1b"));
        assert_eq!(level_name(11, 66, 0x10).as_deref(), Some("1b"));
        assert_eq!(level_name(11, 100, 0x10).as_deref(), Some("1.1"));
        assert_eq!(level_name(52, 100, 0).as_deref(), Some("5.2"));
        assert_eq!(profile_name(100, 0x0c), Some("constrained-high"));
        assert_eq!(profile_name(66, 0x40), Some("constrained-baseline"));
    }
}
