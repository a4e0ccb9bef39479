// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Bounds-checked big-endian byte reader over a borrowed slice.

use super::FlvError;

/// Reads fields front to back; every read checks the remaining length.
pub(super) struct ByteReader<'a> {
    data: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        ByteReader { data }
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Takes exactly `n` bytes.
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FlvError> {
        if n > self.data.len() {
            return Err(FlvError::Truncated(what));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    /// Takes everything that is left.
    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FlvError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, FlvError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(super) fn u16(&mut self, what: &'static str) -> Result<u16, FlvError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(super) fn u24(&mut self, what: &'static str) -> Result<u32, FlvError> {
        let [a, b, c] = self.array(what)?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Signed 24-bit big-endian (FLV composition time).
    pub(super) fn i24(&mut self, what: &'static str) -> Result<i32, FlvError> {
        let [a, b, c] = self.array(what)?;
        // Place the 24 bits at the top, then shift back arithmetically to sign-extend.
        Ok(i32::from_be_bytes([a, b, c, 0]) >> 8)
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, FlvError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn fourcc(&mut self) -> Result<[u8; 4], FlvError> {
        self.array("FourCC")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_reports_truncation() {
        let mut r = ByteReader::new(&[1, 0, 2, 0xff, 0xff, 0xfe, 9]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.i24("c"), Ok(-2));
        assert_eq!(r.u16("d"), Err(FlvError::Truncated("d")));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.rest(), &[9]);
        assert!(r.is_empty());
        assert_eq!(r.take(1, "e"), Err(FlvError::Truncated("e")));
    }

    #[test]
    fn i24_sign_extends() {
        assert_eq!(ByteReader::new(&[0x7f, 0xff, 0xff]).i24("x"), Ok(0x7f_ffff));
        assert_eq!(ByteReader::new(&[0x80, 0, 0]).i24("x"), Ok(-0x80_0000));
        assert_eq!(ByteReader::new(&[0, 0, 0x21]).u24("x"), Ok(0x21));
    }
}
