// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Reads an FLV file into its tags (type, timestamp, payload range).

use std::io;
use std::ops::Range;

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const SCRIPT: u8 = 18;

#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: u8,
    pub ts: u32,
    pub payload: Range<usize>,
}

pub struct Flv {
    pub data: Vec<u8>,
    pub tags: Vec<Tag>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("FLV: {what}"))
}

pub fn read(path: &str) -> io::Result<Flv> {
    let data = std::fs::read(path)?;
    if data.len() < 13 || &data[..3] != b"FLV" {
        return Err(bad("not an FLV file"));
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len + 4; // PreviousTagSize0
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let h = &data[pos..pos + 11];
        let kind = h[0] & 0x1f;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let start = pos + 11;
        let end = start + size;
        if end > data.len() {
            break; // truncated last tag
        }
        tags.push(Tag {
            kind,
            ts,
            payload: start..end,
        });
        pos = end + 4;
    }
    Ok(Flv { data, tags })
}

/// Whether an FLV audio/video payload carries a coded frame.
pub fn is_coded(kind: u8, payload: &[u8]) -> bool {
    let (Some(&b0), b1) = (payload.first(), payload.get(1).copied()) else {
        return false;
    };
    match kind {
        VIDEO if b0 & 0x80 != 0 => matches!(b0 & 0x0f, 1 | 3), // Enhanced RTMP
        VIDEO if matches!(b0 & 0x0f, 7 | 12 | 13) => b1 == Some(1), // AVC, HEVC, AV1 legacy ids
        VIDEO => payload.len() > 1,
        AUDIO if b0 >> 4 == 10 => b1 == Some(1), // AAC raw
        AUDIO if b0 >> 4 == 9 => matches!(b0 & 0x0f, 1), // Enhanced audio: CodedFrames
        AUDIO => payload.len() > 1,
        _ => false,
    }
}
