// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The project's own sans-IO RTMP pieces, compiled in as they are (no GStreamer in them).
#![allow(dead_code)]

#[path = "../../../src/rtmp/amf0.rs"]
pub mod amf0;
#[path = "../../../src/rtmp/chunk.rs"]
pub mod chunk;
#[path = "../../../src/rtmp/message.rs"]
pub mod message;

pub use amf0::Amf0Value;
pub use chunk::{ChunkLimits, ChunkReader, ChunkWriter, RawMessage};
pub use message::Command;
