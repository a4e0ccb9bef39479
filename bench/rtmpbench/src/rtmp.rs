// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The project's own sans-IO RTMP pieces (the protocol crate; no GStreamer in it).

pub use rtmpserver_proto::rtmp::Command;
pub use rtmpserver_proto::rtmp::{amf0, message};
pub use rtmpserver_proto::rtmp::{Amf0Value, ChunkLimits, ChunkReader, ChunkWriter, RawMessage};
