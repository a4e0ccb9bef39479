// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! MSB-first bit reader with exp-Golomb codes, for SPS and sequence headers.

use super::FlvError;

const WHAT: &str = "codec bitstream";

/// Reads bits MSB first; every read checks the remaining length.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    bit_pos: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        BitReader { data, bit_pos: 0 }
    }

    pub(super) fn bits_left(&self) -> usize {
        self.data
            .len()
            .saturating_mul(8)
            .saturating_sub(self.bit_pos)
    }

    pub(super) fn flag(&mut self) -> Result<bool, FlvError> {
        let byte = self
            .data
            .get(self.bit_pos / 8)
            .ok_or(FlvError::Truncated(WHAT))?;
        let bit = (byte >> (7 - (self.bit_pos % 8))) & 1;
        self.bit_pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` (at most 32) bits as an unsigned value.
    pub(super) fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        if n > 32 {
            return Err(FlvError::Malformed("bit field wider than 32"));
        }
        if (n as usize) > self.bits_left() {
            return Err(FlvError::Truncated(WHAT));
        }
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.flag()?);
        }
        Ok(value as u32)
    }

    pub(super) fn u8(&mut self, n: u32) -> Result<u8, FlvError> {
        Ok(self.bits(n.min(8))? as u8)
    }

    pub(super) fn skip(&mut self, n: usize) -> Result<(), FlvError> {
        if n > self.bits_left() {
            return Err(FlvError::Truncated(WHAT));
        }
        self.bit_pos += n;
        Ok(())
    }

    /// Unsigned exp-Golomb, ue(v).
    pub(super) fn ue(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0u32;
        while !self.flag()? {
            zeros += 1;
            if zeros > 31 {
                return Err(FlvError::Malformed("exp-Golomb code too long"));
            }
        }
        let suffix = u64::from(self.bits(zeros)?);
        let value = (1u64 << zeros) - 1 + suffix;
        u32::try_from(value).map_err(|_| FlvError::Malformed("exp-Golomb value too large"))
    }

    /// Signed exp-Golomb, se(v).
    pub(super) fn se(&mut self) -> Result<i32, FlvError> {
        let k = i64::from(self.ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(value as i32)
    }

    /// AV1 uvlc().
    pub(super) fn uvlc(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0u32;
        while !self.flag()? {
            zeros += 1;
            if zeros >= 32 {
                return Err(FlvError::Malformed("uvlc code too long"));
            }
        }
        let suffix = u64::from(self.bits(zeros)?);
        Ok(((1u64 << zeros) - 1 + suffix).min(u64::from(u32::MAX)) as u32)
    }
}

/// Removes emulation-prevention bytes (00 00 03 → 00 00) from an H.26x NAL unit.
/// The copy is of codec configuration only, never of media.
pub(super) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_and_exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 ...
        // ue: 0, 1, 2, 3, 4 ; packed: 1 010 011 00100 00101 -> 1010 0110 0100 0010 1xxx
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!(r.ue(), Ok(1));
        assert_eq!(r.ue(), Ok(2));
        assert_eq!(r.ue(), Ok(3));
        assert_eq!(r.ue(), Ok(4));
        let mut r = BitReader::new(&data);
        assert_eq!(r.se(), Ok(0));
        assert_eq!(r.se(), Ok(1));
        assert_eq!(r.se(), Ok(-1));
        assert_eq!(r.se(), Ok(2));
        assert_eq!(r.se(), Ok(-2));
    }

    #[test]
    fn hostile_codes_error() {
        assert!(BitReader::new(&[0; 8]).ue().is_err());
        assert!(BitReader::new(&[0, 0, 0, 0, 0]).ue().is_err());
        assert!(BitReader::new(&[0; 8]).uvlc().is_err());
        assert!(BitReader::new(&[0xff]).bits(9).is_err());
        assert!(BitReader::new(&[0xff]).bits(33).is_err());
        let mut r = BitReader::new(&[0xff]);
        assert!(r.skip(9).is_err());
        assert_eq!(r.bits(8), Ok(0xff));
        // 31 leading zeros and an all-ones suffix is the largest code accepted: 2^32 - 2.
        let mut max = vec![0u8, 0, 0, 1];
        max.extend_from_slice(&[0xff; 4]);
        assert_eq!(BitReader::new(&max).ue(), Ok(u32::MAX - 1));
    }

    #[test]
    fn unescape_removes_emulation_prevention() {
        assert_eq!(
            unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
    }
}
