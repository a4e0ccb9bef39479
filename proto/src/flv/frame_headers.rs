// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Stream facts from the first frame of codecs without a configuration
//! record: MPEG-1/2 audio (MP3), AC-3 and E-AC-3.

use super::bitreader::BitReader;
use super::stream_info::AudioInfo;
use super::FlvError;

/// Reads an MPEG audio frame header. `profile` is the layer ("1".."3").
pub(super) fn mpeg_audio_info(frame: &[u8]) -> Result<AudioInfo, FlvError> {
    let mut b = BitReader::new(frame);
    if b.bits(11)? != 0x7ff {
        return Err(FlvError::Malformed("MPEG audio sync word"));
    }
    let version = b.bits(2)?;
    let layer = b.bits(2)?;
    let _protection = b.flag()?;
    let _bitrate = b.bits(4)?;
    let rate_index = b.bits(2)?;
    let _padding_private = b.bits(2)?;
    let channel_mode = b.bits(2)?;
    let base = match rate_index {
        0 => 44100,
        1 => 48000,
        2 => 32000,
        _ => return Err(FlvError::Malformed("MPEG audio reserved sample rate")),
    };
    let rate = match version {
        3 => base,
        2 => base / 2,
        0 => base / 4,
        _ => return Err(FlvError::Malformed("MPEG audio reserved version")),
    };
    let layer = match layer {
        1 => "3",
        2 => "2",
        3 => "1",
        _ => return Err(FlvError::Malformed("MPEG audio reserved layer")),
    };
    Ok(AudioInfo {
        rate,
        channels: if channel_mode == 3 { 1 } else { 2 },
        profile: Some(layer.to_string()),
        ..AudioInfo::default()
    })
}

const AC3_SYNC: u32 = 0x0b77;
/// Full-bandwidth channels for each audio coding mode (acmod).
const ACMOD_CHANNELS: [u32; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

fn acmod_channels(acmod: u32, lfe: bool) -> u32 {
    ACMOD_CHANNELS.get(acmod as usize).copied().unwrap_or(0) + u32::from(lfe)
}

/// Reads an AC-3 sync frame header.
pub(super) fn ac3_info(frame: &[u8]) -> Result<AudioInfo, FlvError> {
    let mut b = BitReader::new(frame);
    if b.bits(16)? != AC3_SYNC {
        return Err(FlvError::Malformed("AC-3 sync word"));
    }
    b.skip(16)?; // crc1
    let rate = match b.bits(2)? {
        0 => 48000,
        1 => 44100,
        2 => 32000,
        _ => return Err(FlvError::Malformed("AC-3 reserved sample rate")),
    };
    b.skip(6)?; // frmsizecod
    let bsid = b.bits(5)?;
    if bsid > 10 {
        return Err(FlvError::Malformed("AC-3 bsid is E-AC-3"));
    }
    b.skip(3)?; // bsmod
    let acmod = b.bits(3)?;
    if acmod & 1 != 0 && acmod != 1 {
        b.skip(2)?;
    }
    if acmod & 4 != 0 {
        b.skip(2)?;
    }
    if acmod == 2 {
        b.skip(2)?;
    }
    let lfe = b.flag()?;
    Ok(AudioInfo {
        rate,
        channels: acmod_channels(acmod, lfe),
        ..AudioInfo::default()
    })
}

/// Reads the first E-AC-3 syncframe header (independent substream 0).
pub(super) fn eac3_info(frame: &[u8]) -> Result<AudioInfo, FlvError> {
    let mut b = BitReader::new(frame);
    if b.bits(16)? != AC3_SYNC {
        return Err(FlvError::Malformed("E-AC-3 sync word"));
    }
    b.skip(2 + 3 + 11)?; // strmtyp, substreamid, frmsiz
    let rate = match b.bits(2)? {
        0 => 48000,
        1 => 44100,
        2 => 32000,
        _ => match b.bits(2)? {
            0 => 24000,
            1 => 22050,
            2 => 16000,
            _ => return Err(FlvError::Malformed("E-AC-3 reserved sample rate")),
        },
    };
    if rate >= 32000 {
        b.skip(2)?; // numblkscod
    }
    let acmod = b.bits(3)?;
    let lfe = b.flag()?;
    Ok(AudioInfo {
        rate,
        channels: acmod_channels(acmod, lfe),
        ..AudioInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp3_headers() {
        let info = mpeg_audio_info(&[0xff, 0xfb, 0x90, 0x44]).unwrap();
        assert_eq!((info.rate, info.channels), (44100, 2));
        assert_eq!(info.profile.as_deref(), Some("3"));
        // MPEG-2 layer III 24 kHz mono.
        let info = mpeg_audio_info(&[0xff, 0xf3, 0x94, 0xc4]).unwrap();
        assert_eq!((info.rate, info.channels), (24000, 1));
        assert!(mpeg_audio_info(&[0xff, 0xfb, 0x9c, 0x44]).is_err());
        assert!(mpeg_audio_info(&[0xff]).is_err());
    }

    #[test]
    fn ac3_and_eac3_headers() {
        // AC-3 48 kHz, bsid 8, acmod 7 (3/2), cmix, surmix, lfe on → 5.1
        // 0b77 crc | 00 011110 | 01000 000 | 111 01 01 1
        let info = ac3_info(&[0x0b, 0x77, 0, 0, 0x1e, 0x40, 0xeb]).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 6));
        // E-AC-3 48 kHz, acmod 2, no lfe: 0b77 | 00 000 00000000101 | 00 11 010 0
        let info = eac3_info(&[0x0b, 0x77, 0x00, 0x05, 0x34]).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 2));
        assert!(ac3_info(&[0x0b, 0x78, 0, 0, 0, 0, 0]).is_err());
        assert!(eac3_info(&[0x0b, 0x77]).is_err());
    }
}
