// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The RTMP server protocol as pure state machines: bytes and time in, events and bytes to
//! write out. No sockets, no threads, no clock of its own, no GStreamer, no `unsafe`: it is
//! unit-tested and fuzzed on its own, and the socket layer of `gst-plugin-rtmpserver` drives
//! it.
//!
//! - [`rtmp`]: the handshake ([`rtmp::ServerHandshake`], wrapping rml_rtmp's), the chunk
//!   stream ([`rtmp::ChunkReader`], [`rtmp::ChunkWriter`]), AMF0 ([`rtmp::amf0`]), commands and
//!   the server session ([`rtmp::ServerSession`]), which turns a client's bytes into
//!   [`rtmp::SessionEvent`]s and waits for the caller's decisions on connect and publish.
//! - [`flv`]: FLV audio and video tag bodies, legacy and Enhanced RTMP (multitrack, ModEx,
//!   FourCC codecs), and the codec configuration records they carry.
//! - [`auth`]: Adobe's authmod challenge/response, tcUrl parsing and the port check, and a
//!   brute-force brake.
//!
//! Every input from the network is bounded: message and chunk-stream limits
//! ([`rtmp::ChunkLimits`], stricter until a publish is accepted), an AMF0 decoder whose
//! output is charged against its input, and nesting limits.

#![forbid(unsafe_code)]

pub mod auth;
pub mod flv;
pub mod rtmp;
