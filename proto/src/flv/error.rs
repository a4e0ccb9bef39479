// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The error type of the FLV layer.

use std::fmt;

/// Why an FLV tag body or codec configuration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvError {
    /// The input ended inside the named field.
    Truncated(&'static str),
    /// A legacy video CodecID or audio SoundFormat this layer does not handle.
    UnsupportedCodec(u8),
    /// An Enhanced RTMP FourCC this layer does not handle.
    UnsupportedFourCc([u8; 4]),
    /// A packet type that is reserved or not allowed where it appeared.
    InvalidPacketType(u8),
    /// A reserved AvMultitrackType.
    InvalidMultitrackType(u8),
    /// Structurally wrong data, with a short description.
    Malformed(&'static str),
}

impl fmt::Display for FlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlvError::Truncated(what) => write!(f, "truncated FLV data in {what}"),
            FlvError::UnsupportedCodec(id) => write!(f, "unsupported FLV codec id {id}"),
            FlvError::UnsupportedFourCc(cc) => {
                write!(f, "unsupported FourCC \"{}\"", cc.escape_ascii())
            }
            FlvError::InvalidPacketType(t) => write!(f, "invalid packet type {t}"),
            FlvError::InvalidMultitrackType(t) => write!(f, "invalid multitrack type {t}"),
            FlvError::Malformed(what) => write!(f, "malformed FLV data: {what}"),
        }
    }
}

impl std::error::Error for FlvError {}
