// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).

use super::bitreader::BitReader;
use super::stream_info::AudioInfo;
use super::FlvError;

const AOT_SBR: u32 = 5;
const AOT_PS: u32 = 29;
const SYNC_EXTENSION_SBR: u32 = 0x2b7;
const SYNC_EXTENSION_PS: u32 = 0x548;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

fn object_type(b: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let aot = b.bits(5)?;
    if aot == 31 {
        Ok(32 + b.bits(6)?)
    } else {
        Ok(aot)
    }
}

/// Index 15 means the rate follows explicitly in 24 bits.
fn sample_rate(b: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let index = b.bits(4)?;
    if index == 15 {
        return b.bits(24);
    }
    SAMPLE_RATES
        .get(index as usize)
        .copied()
        .ok_or(FlvError::Malformed("AAC reserved sampling frequency index"))
}

/// GASpecificConfig applies to these object types.
fn has_ga_specific_config(aot: u32) -> bool {
    matches!(aot, 1..=4 | 6 | 7 | 17 | 19..=23)
}

/// Reads an AudioSpecificConfig. `rate` is the output rate: the SBR extension
/// rate when SBR is signalled explicitly (hierarchically or by the backward
/// compatible sync extension). `channels` is channelConfiguration, or the
/// count from the program config element when that is 0.
pub(super) fn asc_info(config: &[u8]) -> Result<AudioInfo, FlvError> {
    let mut b = BitReader::new(config);
    let mut aot = object_type(&mut b)?;
    let mut rate = sample_rate(&mut b)?;
    let channel_configuration = b.bits(4)?;
    let mut sbr = false;
    let mut ps = false;
    if aot == AOT_SBR || aot == AOT_PS {
        sbr = true;
        ps = aot == AOT_PS;
        rate = sample_rate(&mut b)?;
        aot = object_type(&mut b)?;
        if aot == 22 {
            b.skip(4)?;
        }
    }
    let mut channels = channel_configuration;
    if has_ga_specific_config(aot) {
        let _frame_length = b.flag()?;
        if b.flag()? {
            b.skip(14)?; // coreCoderDelay
        }
        let extension_flag = b.flag()?;
        if channel_configuration == 0 {
            // PCE is best effort: 0 channels means "unknown" to the caller.
            channels = program_config_channels(&mut b).unwrap_or(0);
        }
        let _ = extension_flag;
        if !sbr {
            // Backward-compatible explicit SBR/PS signalling; best effort.
            if let Ok(Some((ext_rate, ext_ps))) = sync_extension(&mut b) {
                sbr = true;
                rate = ext_rate;
                ps = ext_ps;
            }
        }
    }
    let profile = match aot {
        1 => Some("main"),
        2 => Some("lc"),
        3 => Some("ssr"),
        4 => Some("ltp"),
        _ => None,
    };
    Ok(AudioInfo {
        rate,
        channels,
        profile: profile.map(str::to_string),
        sbr,
        ps,
        ..AudioInfo::default()
    })
}

fn sync_extension(b: &mut BitReader<'_>) -> Result<Option<(u32, bool)>, FlvError> {
    if b.bits_left() < 16 || b.bits(11)? != SYNC_EXTENSION_SBR {
        return Ok(None);
    }
    if object_type(b)? != AOT_SBR || !b.flag()? {
        return Ok(None);
    }
    let rate = sample_rate(b)?;
    let ps = b.bits_left() >= 12 && b.bits(11)? == SYNC_EXTENSION_PS && b.flag()?;
    Ok(Some((rate, ps)))
}

fn program_config_channels(b: &mut BitReader<'_>) -> Result<u32, FlvError> {
    b.skip(4 + 2 + 4)?; // element_instance_tag, object_type, sampling_frequency_index
    let front = b.bits(4)?;
    let side = b.bits(4)?;
    let back = b.bits(4)?;
    let lfe = b.bits(2)?;
    let _assoc_data = b.bits(3)?;
    let _valid_cc = b.bits(4)?;
    if b.flag()? {
        b.skip(4)?;
    }
    if b.flag()? {
        b.skip(4)?;
    }
    if b.flag()? {
        b.skip(3)?;
    }
    let mut channels = 0u32;
    for _ in 0..(front + side + back) {
        let is_cpe = b.flag()?;
        b.skip(4)?;
        channels += if is_cpe { 2 } else { 1 };
    }
    Ok(channels + lfe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_stereo_44100() {
        let info = asc_info(&[0x12, 0x10]).unwrap();
        assert_eq!((info.rate, info.channels), (44100, 2));
        assert_eq!(info.profile.as_deref(), Some("lc"));
        assert!(!info.sbr && !info.ps);
    }

    #[test]
    fn explicit_frequency_index_15() {
        // AOT 2, index 15, rate 0x00_bb80 (48000) in 24 bits, channels 1, GA bits 000.
        // 00010 1111 000000001011101110000000 0001 000
        let info = asc_info(&[0x17, 0x80, 0x5d, 0xc0, 0x08]).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 1));
    }

    #[test]
    fn hierarchical_he_aac_v2() {
        // AOT 29, 24 kHz (6), channels 1, ext 48 kHz (3), AOT 2, GA bits 000.
        // 11101 0110 0001 0011 00010 000
        let info = asc_info(&[0xeb, 0x09, 0x88, 0x00]).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 1));
        assert!(info.sbr && info.ps);
        assert_eq!(info.profile.as_deref(), Some("lc"));
    }

    #[test]
    fn backward_compatible_sbr_signalling() {
        // LC 24 kHz stereo, then sync 0x2b7, AOT 5, sbr 1, ext index 3 (48 kHz).
        // 00010 0110 0010 000 | 01010110111 00101 1 0011 (pad)
        let info = asc_info(&[0x13, 0x10, 0x56, 0xe5, 0x98]).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 2));
        assert!(info.sbr && !info.ps);
        // ... followed by sync 0x548 and psPresentFlag 1.
        let info = asc_info(&[0x13, 0x10, 0x56, 0xe5, 0x9d, 0x48, 0x80]).unwrap();
        assert!(info.sbr && info.ps);
    }

    #[test]
    fn program_config_element_channels() {
        // LC 48 kHz, channelConfiguration 0, GA 000, PCE: tag 0, obj 1, sf 3,
        // 2 front (SCE, CPE), 0 side, 1 back (CPE), 1 LFE, 0 assoc, 0 cc, no mixdowns.
        let mut bits = String::from("00010");
        bits += "0011"; // sf index 3
        bits += "0000"; // channel config 0
        bits += "000"; // GA
        bits += "0000";
        bits += "01";
        bits += "0011";
        bits += "0010";
        bits += "0000";
        bits += "0001";
        bits += "01";
        bits += "000";
        bits += "0000";
        bits += "000";
        bits += "00000";
        bits += "10000";
        bits += "10000";
        bits += "0000";
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        let info = asc_info(&bytes).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 6));
    }

    #[test]
    fn reserved_index_and_truncation() {
        assert!(asc_info(&[0x16, 0x90]).is_err()); // index 13 reserved
        assert!(asc_info(&[0x12]).is_err());
        assert!(asc_info(&[]).is_err());
    }
}
