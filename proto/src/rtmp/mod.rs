// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Sans-IO RTMP server protocol: handshake, chunk stream, AMF0, messages and the session
//! state machine. Bytes in, events and bytes to write out; no sockets, no GStreamer.

pub mod amf0;
pub mod chunk;
pub mod handshake;
pub mod message;
pub mod observations;
pub mod session;
mod streams;

pub use amf0::{Amf0Error, Amf0Value};
pub use chunk::{ChunkError, ChunkLimits, ChunkReader, ChunkWriter, RawMessage};
pub use handshake::{HandshakeError, HandshakeProgress, ServerHandshake};
pub use message::{Command, MessageError, UserControlEvent};
pub use observations::{ChunkDeviations, ChunkSizes, HandshakeKind, SessionObservations};
pub use session::{ServerSession, SessionConfig, SessionError, SessionEvent};
