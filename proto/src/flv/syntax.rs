// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Syntax shared by several codecs' configuration records: fractions, chroma format names, and
//! the part of the H.264/H.265 VUI both codecs share.

use super::bitreader::BitReader;
use super::stream_info::ColorInfo;
use super::FlvError;

/// Reduces a fraction; None when either part is 0.
pub(super) fn reduced(num: u64, den: u64) -> Option<(u32, u32)> {
    if num == 0 || den == 0 {
        return None;
    }
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let (n, d) = (num / a, den / a);
    Some((u32::try_from(n).ok()?, u32::try_from(d).ok()?))
}

/// "4:2:0" style name from a chroma_format_idc (H.264/H.265/VVC numbering).
pub(super) fn chroma_format_name(chroma_format_idc: u32) -> Option<String> {
    let name = match chroma_format_idc {
        0 => "4:0:0",
        1 => "4:2:0",
        2 => "4:2:2",
        3 => "4:4:4",
        _ => return None,
    };
    Some(name.to_string())
}

/// The part of an H.264/H.265 VUI both codecs share, right after the overscan fields:
/// video_signal_type (with the colour description) and chroma_loc_info. Returns the colour
/// description when the stream has one.
pub(super) fn read_vui_signal_type(b: &mut BitReader<'_>) -> Result<Option<ColorInfo>, FlvError> {
    let mut color = None;
    if b.flag()? {
        let _video_format = b.bits(3)?;
        let full_range = b.flag()?;
        if b.flag()? {
            color = Some(ColorInfo {
                primaries: b.u8(8)?,
                transfer: b.u8(8)?,
                matrix: b.u8(8)?,
                full_range,
            });
        }
    }
    // chroma_loc_info: top and bottom field sample locations.
    if b.flag()? {
        b.ue()?;
        b.ue()?;
    }
    Ok(color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_fractions() {
        assert_eq!(reduced(60, 2), Some((30, 1)));
        assert_eq!(reduced(60000, 2002), Some((30000, 1001)));
        assert_eq!(reduced(0, 2), None);
        assert_eq!(reduced(5, 0), None);
    }
}
