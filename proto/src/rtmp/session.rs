// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Server session state machine: handshake, protocol control, NetConnection/NetStream
//! commands for publishing, and media/metadata events.
//!
//! Decisions worth knowing:
//! - The session stops at each decision: after a `ConnectRequest` or a `PublishRequest` it
//!   parses nothing more until the caller answers (`accept_*`/`reject_*`) and asks for more
//!   (`process_buffered`). Input that arrives meanwhile stays in the chunk reader, bounded by
//!   its limits; a client that pipelines commands behind its connect is answered in order,
//!   after the connect `_result` and the server's SetChunkSize, with nothing held back.
//! - `publish` on a stream id that was never created is accepted (some encoders skip or
//!   race createStream); the stream is created implicitly.
//! - Audio, Video and Metadata events are only produced for streams with an accepted publish
//!   (not rejected, not yet unpublished); everything else is dropped.
//! - `Unpublish` is produced once per publish, by whichever of FCUnpublish, closeStream or
//!   deleteStream comes first; which stream is meant is taken from the message stream id,
//!   a numeric argument, a stream-key argument (GStreamer sends the key), or else the only
//!   publishing stream.
//! - Unknown commands are ignored without a reply: FFmpeg treats an unexpected `_error`
//!   as fatal, while silence costs nothing.

use std::fmt;

use bytes::Bytes;

use super::amf0::{self, Amf0Value};
use super::chunk::{ChunkError, ChunkLimits, ChunkReader, ChunkWriter, RawMessage};
use super::handshake::{HandshakeError, HandshakeProgress, ServerHandshake};
use super::message::{
    csid, encode_peer_bandwidth, encode_u32, parse_data, parse_u32, split_aggregate, type_id,
    Command, MessageError, UserControlEvent,
};
use super::observations::{HandshakeKind, SessionObservations};
use super::streams::{Publish, Streams};

/// Most message streams a connection may have at once.
pub const MAX_STREAMS: usize = 64;

/// Session parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Limits for the chunk reader once a publish is accepted (media-sized).
    pub limits: ChunkLimits,
    /// Limits until then: a peer that has not published is a stranger (see
    /// [`ChunkLimits::untrusted`]).
    pub untrusted_limits: ChunkLimits,
    /// Chunk size the server switches to when accepting the connection (default 4096).
    pub out_chunk_size: u32,
    /// Window Acknowledgement Size sent to the client (default 2 500 000).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth sent to the client (default 2 500 000, dynamic).
    pub peer_bandwidth: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            limits: ChunkLimits::default(),
            untrusted_limits: ChunkLimits::untrusted(),
            out_chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
        }
    }
}

/// Something the client did that the caller must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The handshake completed.
    HandshakeDone,
    /// The client asked to connect; answer with `accept_connect` or `reject_connect`.
    ConnectRequest {
        /// Transaction id of the connect command.
        transaction_id: f64,
        /// The `app` property ("" if absent).
        app: String,
        /// The `tcUrl` property.
        tc_url: Option<String>,
        /// The `flashVer` property.
        flash_ver: Option<String>,
        /// The `objectEncoding` property (0 if absent).
        object_encoding: f64,
        /// The whole command object, for anything else (e.g. Enhanced RTMP fourCcList).
        command_object: Amf0Value,
    },
    /// releaseStream (already answered).
    ReleaseStream {
        /// Stream key argument.
        stream_key: String,
    },
    /// FCPublish (already answered with onFCPublish).
    FCPublish {
        /// Stream key argument.
        stream_key: String,
    },
    /// The client wants to publish; answer with `accept_publish` or `reject_publish`.
    PublishRequest {
        /// Message stream id the publish arrived on.
        stream_id: u32,
        /// Stream key (may carry a `?query`).
        stream_key: String,
        /// Publishing type ("live", "record", "append"...) as sent, any case.
        publish_type: Option<String>,
    },
    /// onMetaData; "@setDataFrame" is stripped, so `values[0]` is "onMetaData".
    Metadata {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp in milliseconds.
        timestamp: u32,
        /// The data values.
        values: Vec<Amf0Value>,
    },
    /// An audio message (FLV audio tag body).
    Audio {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp in milliseconds.
        timestamp: u32,
        /// The payload.
        payload: Bytes,
    },
    /// A video message (FLV video tag body).
    Video {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp in milliseconds.
        timestamp: u32,
        /// The payload.
        payload: Bytes,
    },
    /// The publisher of this stream stopped (FCUnpublish, closeStream or deleteStream).
    Unpublish {
        /// Message stream id.
        stream_id: u32,
    },
}

/// Why the session cannot continue; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The handshake failed.
    Handshake(HandshakeError),
    /// The chunk stream is malformed or over a limit.
    Chunk(ChunkError),
    /// A message is malformed.
    Message(MessageError),
    /// A command other than connect arrived before connect.
    CommandBeforeConnect(String),
    /// A second connect on the same connection.
    DuplicateConnect,
    /// A command lacks a required argument.
    MissingArgument {
        /// The command.
        command: &'static str,
        /// The argument.
        argument: &'static str,
    },
    /// More than [`MAX_STREAMS`] message streams.
    TooManyStreams,
    /// The session already failed.
    Failed,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Handshake(e) => write!(f, "{e}"),
            SessionError::Chunk(e) => write!(f, "{e}"),
            SessionError::Message(e) => write!(f, "{e}"),
            SessionError::CommandBeforeConnect(name) => {
                write!(f, "command '{name}' before connect")
            }
            SessionError::DuplicateConnect => write!(f, "second connect on one connection"),
            SessionError::MissingArgument { command, argument } => {
                write!(f, "{command} without {argument}")
            }
            SessionError::TooManyStreams => write!(f, "more than {MAX_STREAMS} streams"),
            SessionError::Failed => write!(f, "session already failed"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<HandshakeError> for SessionError {
    fn from(e: HandshakeError) -> Self {
        SessionError::Handshake(e)
    }
}

impl From<ChunkError> for SessionError {
    fn from(e: ChunkError) -> Self {
        SessionError::Chunk(e)
    }
}

impl From<MessageError> for SessionError {
    fn from(e: MessageError) -> Self {
        SessionError::Message(e)
    }
}

enum Phase {
    Handshake(Box<ServerHandshake>),
    AwaitingConnect,
    ConnectPending {
        transaction_id: f64,
        object_encoding: f64,
    },
    Connected,
    /// Connect was rejected: input is discarded until the caller closes the connection.
    Rejected,
}

/// Sans-IO RTMP server session for one connection.
pub struct ServerSession {
    config: SessionConfig,
    phase: Phase,
    reader: ChunkReader,
    writer: ChunkWriter,
    out: Vec<u8>,
    failed: bool,
    bytes_received: u64,
    /// Reader buffer length already counted in `bytes_received`.
    accounted_buffer: usize,
    /// Peer's Window Acknowledgement Size; 0 until the peer sends one.
    peer_window: u32,
    /// Whether the peer sent a Window Acknowledgement Size at all (0 is a value too).
    peer_window_announced: bool,
    last_ack: u64,
    handshake_kind: Option<HandshakeKind>,
    publish_without_create_stream: u64,
    /// Created message streams and their publish state.
    streams: Streams,
    next_stream_id: u32,
}

impl ServerSession {
    /// A session waiting for the client's C0/C1.
    pub fn new(config: SessionConfig) -> Self {
        ServerSession {
            reader: ChunkReader::new(config.untrusted_limits),
            config,
            phase: Phase::Handshake(Box::default()),
            writer: ChunkWriter::new(),
            out: Vec::new(),
            failed: false,
            bytes_received: 0,
            accounted_buffer: 0,
            peer_window: 0,
            peer_window_announced: false,
            last_ack: 0,
            handshake_kind: None,
            publish_without_create_stream: 0,
            streams: Streams::default(),
            next_stream_id: 1,
        }
    }

    /// Feeds bytes from the socket (handshake first, then chunks).
    pub fn handle_input(&mut self, data: &[u8]) -> Result<Vec<SessionEvent>, SessionError> {
        if self.failed {
            return Err(SessionError::Failed);
        }
        if matches!(self.phase, Phase::Handshake(_)) {
            self.bytes_received = self.bytes_received.saturating_add(data.len() as u64);
            let mut events = Vec::new();
            let result = self
                .run_handshake(data, &mut events)
                .and_then(|()| self.process_chunks(&mut events));
            return self.finish(result).map(|()| events);
        }
        self.reader.push(data);
        self.process_buffered()
    }

    /// The input buffer with room for `max` more bytes, for a socket layer that reads into
    /// it directly (see [`ChunkReader::input_buffer`]); then call
    /// [`ServerSession::process_buffered`].
    pub fn input_buffer(&mut self, max: usize) -> &mut bytes::BytesMut {
        self.reader.input_buffer(max)
    }

    /// Reads up to `max` bytes from `source` into the session's input buffer (see
    /// [`ChunkReader::read_from`]); then call [`ServerSession::process_buffered`].
    pub fn read_from<R: std::io::Read + ?Sized>(
        &mut self,
        max: usize,
        source: &mut R,
    ) -> std::io::Result<usize> {
        self.reader.read_from(max, source)
    }

    /// Processes what was read into the input buffer.
    pub fn process_buffered(&mut self) -> Result<Vec<SessionEvent>, SessionError> {
        let mut events = Vec::new();
        self.process_buffered_into(&mut events)?;
        Ok(events)
    }

    /// As [`ServerSession::process_buffered`], appending the events to `events`: a caller
    /// that keeps one vector saves an allocation per read. On an error, what was appended
    /// is left there (the session is failed; the caller drops it).
    pub fn process_buffered_into(
        &mut self,
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), SessionError> {
        if self.failed {
            return Err(SessionError::Failed);
        }
        let buffered = self.reader.buffered_bytes();
        let fresh = buffered.saturating_sub(self.accounted_buffer);
        self.bytes_received = self.bytes_received.saturating_add(fresh as u64);
        let result = if matches!(self.phase, Phase::Handshake(_)) {
            // Bytes placed in the read buffer before the handshake finished belong to it.
            let early = self.reader.take_buffered().freeze();
            self.accounted_buffer = 0;
            self.run_handshake(&early, events)
                .and_then(|()| self.process_chunks(events))
        } else {
            self.process_chunks(events)
        };
        self.finish(result)
    }

    /// Bytes to write to the socket (may be empty).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Memory held for the peer's input (unconsumed bytes and partial messages).
    pub fn held_bytes(&self) -> usize {
        self.reader.held_bytes()
    }

    /// Frees the input buffer when it is empty (for connections that sit idle).
    pub fn release_idle_buffer(&mut self) {
        self.reader.release_idle_buffer();
    }

    /// Total bytes received, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// What the peer did so far that a publish report describes (see
    /// [`SessionObservations`]); a copy of a few counters.
    pub fn observations(&self) -> SessionObservations {
        let handshake = match &self.phase {
            Phase::Handshake(handshake) => handshake.kind(),
            _ => self.handshake_kind,
        };
        SessionObservations {
            handshake,
            chunk_sizes: self.reader.chunk_sizes(),
            window_ack_size: self.peer_window_announced.then_some(self.peer_window),
            chunk: self.reader.deviations(),
            publish_without_create_stream: self.publish_without_create_stream,
        }
    }

    /// Accepts the pending connect: Window Acknowledgement Size, Set Peer Bandwidth,
    /// Set Chunk Size, then `_result` with NetConnection.Connect.Success and the client's
    /// objectEncoding. `extra_properties` are appended to the properties object (e.g.
    /// Enhanced RTMP `fourCcList`, `capsEx`). Does nothing if no connect is pending.
    pub fn accept_connect(&mut self, extra_properties: Vec<(String, Amf0Value)>) {
        let Phase::ConnectPending {
            transaction_id,
            object_encoding,
        } = self.phase
        else {
            return;
        };
        self.phase = Phase::Connected;
        let window = encode_u32(self.config.window_ack_size);
        self.write_now(csid::PROTOCOL_CONTROL, type_id::WINDOW_ACK_SIZE, 0, &window);
        let bandwidth = encode_peer_bandwidth(self.config.peer_bandwidth, 2);
        self.write_now(
            csid::PROTOCOL_CONTROL,
            type_id::SET_PEER_BANDWIDTH,
            0,
            &bandwidth,
        );
        let chunk_size = self.config.out_chunk_size.clamp(1, 0x7FFF_FFFF);
        let size = encode_u32(chunk_size);
        self.write_now(csid::PROTOCOL_CONTROL, type_id::SET_CHUNK_SIZE, 0, &size);
        self.writer.set_chunk_size(chunk_size);

        let mut properties = vec![
            ("fmsVer".to_string(), Amf0Value::string("FMS/3,0,1,123")),
            ("capabilities".to_string(), Amf0Value::Number(31.0)),
        ];
        properties.extend(extra_properties);
        let info = Amf0Value::object([
            ("level", Amf0Value::string("status")),
            ("code", Amf0Value::string("NetConnection.Connect.Success")),
            ("description", Amf0Value::string("Connection succeeded.")),
            ("objectEncoding", Amf0Value::Number(object_encoding)),
        ]);
        self.send_command(
            csid::COMMAND,
            0,
            "_result",
            transaction_id,
            Amf0Value::Object(properties),
            vec![info],
        );
    }

    /// Rejects the pending connect with `_error` (level "error", `code`, `description`).
    /// Later input is discarded; the caller should flush the output and close.
    pub fn reject_connect(&mut self, code: &str, description: &str) {
        let Phase::ConnectPending { transaction_id, .. } = self.phase else {
            return;
        };
        self.phase = Phase::Rejected;
        self.send_command(
            csid::COMMAND,
            0,
            "_error",
            transaction_id,
            Amf0Value::Null,
            vec![status_object("error", code, description)],
        );
    }

    /// Accepts a pending publish: StreamBegin, then onStatus NetStream.Publish.Start on the
    /// stream. Does nothing if the stream has no pending publish.
    pub fn accept_publish(&mut self, stream_id: u32) {
        let accepted = self.streams.update(stream_id, |slot| match slot.take() {
            Some(Publish::Pending(key)) => {
                *slot = Some(Publish::Active(key.clone()));
                Some(key)
            }
            other => {
                *slot = other;
                None
            }
        });
        let Some(Some(key)) = accepted else {
            return;
        };
        // A publisher is trusted with media-sized messages.
        self.reader.set_limits(self.config.limits);
        let begin = UserControlEvent::StreamBegin(stream_id).encode();
        self.send(csid::PROTOCOL_CONTROL, type_id::USER_CONTROL, 0, begin);
        let mut status = status_object(
            "status",
            "NetStream.Publish.Start",
            &format!("{key} is now published."),
        );
        if let Amf0Value::Object(props) = &mut status {
            props.push(("details".into(), Amf0Value::String(key)));
        }
        self.send_command(
            csid::STREAM_STATUS,
            stream_id,
            "onStatus",
            0.0,
            Amf0Value::Null,
            vec![status],
        );
    }

    /// Asks the client to reconnect (Enhanced RTMP v2 "Reconnect Request"): onStatus on the
    /// NetConnection (message stream 0, transaction 0, null command object) with code
    /// `NetConnection.Connect.ReconnectRequest`, and the optional `tcUrl` to reconnect to and a
    /// `description`. The connection stays open: the client decides when to leave.
    pub fn request_reconnect(&mut self, tc_url: Option<&str>, description: Option<&str>) {
        let mut info = status_object(
            "status",
            "NetConnection.Connect.ReconnectRequest",
            description.unwrap_or("The server asks you to reconnect."),
        );
        if let (Amf0Value::Object(props), Some(url)) = (&mut info, tc_url) {
            props.push(("tcUrl".into(), Amf0Value::string(url)));
        }
        self.send_command(
            csid::COMMAND,
            0,
            "onStatus",
            0.0,
            Amf0Value::Null,
            vec![info],
        );
    }

    /// Rejects a pending publish with onStatus level "error" (e.g. NetStream.Publish.BadName).
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        self.streams.update(stream_id, |slot| *slot = None);
        self.send_command(
            csid::STREAM_STATUS,
            stream_id,
            "onStatus",
            0.0,
            Amf0Value::Null,
            vec![status_object("error", code, description)],
        );
    }

    fn finish(&mut self, result: Result<(), SessionError>) -> Result<(), SessionError> {
        self.accounted_buffer = self.reader.buffered_bytes();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn run_handshake(
        &mut self,
        data: &[u8],
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), SessionError> {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return Ok(());
        };
        if let HandshakeProgress::Done { remaining } = handshake.process(data, &mut self.out)? {
            self.handshake_kind = handshake.kind();
            self.phase = Phase::AwaitingConnect;
            events.push(SessionEvent::HandshakeDone);
            self.reader.push(&remaining);
        }
        Ok(())
    }

    fn process_chunks(&mut self, events: &mut Vec<SessionEvent>) -> Result<(), SessionError> {
        match self.phase {
            Phase::Handshake(_) => return Ok(()),
            Phase::Rejected => {
                self.reader.take_buffered();
                return Ok(());
            }
            _ => {}
        }
        self.maybe_acknowledge();
        let mut pending = self.decision_pending();
        while !pending {
            let Some(message) = self.reader.next_message()? else {
                break;
            };
            // Only commands start a decision; media is the hot path, and looking through the
            // streams after each message was a cache miss per message at scale.
            let media = matches!(message.type_id, type_id::AUDIO | type_id::VIDEO);
            self.handle_message(message, events)?;
            if matches!(self.phase, Phase::Rejected) {
                break;
            }
            if !media {
                pending = self.decision_pending();
            }
        }
        Ok(())
    }

    /// Whether input is buffered that [`ServerSession::process_buffered`] has not parsed (a
    /// decision stopped it, or a message is incomplete).
    pub fn has_buffered_input(&self) -> bool {
        self.reader.buffered_bytes() > 0
    }

    /// A connect or a publish waits for the caller's answer: nothing more is parsed until then.
    pub fn decision_pending(&self) -> bool {
        matches!(self.phase, Phase::ConnectPending { .. }) || self.streams.decision_pending()
    }

    /// Sends an Acknowledgement once the peer's window has been received since the last.
    fn maybe_acknowledge(&mut self) {
        if self.peer_window == 0 {
            return;
        }
        if self.bytes_received.saturating_sub(self.last_ack) >= u64::from(self.peer_window) {
            self.last_ack = self.bytes_received;
            // The sequence number is the byte count modulo 2^32.
            let ack = encode_u32(self.bytes_received as u32);
            self.write_now(csid::PROTOCOL_CONTROL, type_id::ACKNOWLEDGEMENT, 0, &ack);
        }
    }

    fn handle_message(
        &mut self,
        m: RawMessage,
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), SessionError> {
        match m.type_id {
            type_id::SET_CHUNK_SIZE => {
                let size = parse_u32(&m.payload, "set chunk size")?;
                self.reader.set_chunk_size(size)?;
            }
            type_id::ABORT => self.reader.abort(parse_u32(&m.payload, "abort")?),
            type_id::WINDOW_ACK_SIZE => {
                self.peer_window = parse_u32(&m.payload, "window acknowledgement size")?;
                self.peer_window_announced = true;
            }
            type_id::USER_CONTROL => {
                // Malformed user control messages are ignored, as other servers do.
                if let Ok(UserControlEvent::PingRequest(t)) = UserControlEvent::parse(&m.payload) {
                    let pong = UserControlEvent::PingResponse(t).encode();
                    self.write_now(csid::PROTOCOL_CONTROL, type_id::USER_CONTROL, 0, &pong);
                }
            }
            type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0 | type_id::DATA_AMF3 => {
                self.media(m.type_id, m.stream_id, m.timestamp, m.payload, events);
            }
            // A malformed aggregate is dropped as a whole, like other bad media.
            type_id::AGGREGATE if self.is_publishing(m.stream_id) => {
                for part in split_aggregate(&m.payload, m.timestamp).unwrap_or_default() {
                    self.media(
                        part.type_id,
                        m.stream_id,
                        part.timestamp,
                        part.payload,
                        events,
                    );
                }
            }
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let command = Command::parse(m.type_id, &m.payload)?;
                self.handle_command(command, m.stream_id, events)?;
            }
            // Acknowledgement, Set Peer Bandwidth, shared objects and unknown types.
            _ => {}
        }
        Ok(())
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        self.streams.is_publishing(stream_id)
    }

    fn media(
        &mut self,
        kind: u8,
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
        events: &mut Vec<SessionEvent>,
    ) {
        if !self.is_publishing(stream_id) {
            return;
        }
        let event = match kind {
            type_id::AUDIO => SessionEvent::Audio {
                stream_id,
                timestamp,
                payload,
            },
            type_id::VIDEO => SessionEvent::Video {
                stream_id,
                timestamp,
                payload,
            },
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => {
                // Metadata is advisory: a malformed or unrelated data message is dropped.
                let Ok(mut values) = parse_data(kind, &payload) else {
                    return;
                };
                if values.first().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
                    values.remove(0);
                }
                if values.first().and_then(Amf0Value::as_str) != Some("onMetaData") {
                    return;
                }
                SessionEvent::Metadata {
                    stream_id,
                    timestamp,
                    values,
                }
            }
            _ => return,
        };
        events.push(event);
    }

    fn handle_command(
        &mut self,
        cmd: Command,
        message_stream: u32,
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), SessionError> {
        let first_string = |cmd: &Command| {
            cmd.args
                .first()
                .and_then(Amf0Value::as_str)
                .map(str::to_owned)
        };
        match (&self.phase, cmd.name.as_str()) {
            (Phase::AwaitingConnect, "connect") => {
                let object = &cmd.command_object;
                let text = |key| {
                    object
                        .get(key)
                        .and_then(Amf0Value::as_str)
                        .map(str::to_owned)
                };
                let object_encoding = object
                    .get("objectEncoding")
                    .and_then(Amf0Value::as_number)
                    .unwrap_or(0.0);
                self.phase = Phase::ConnectPending {
                    transaction_id: cmd.transaction_id,
                    object_encoding,
                };
                events.push(SessionEvent::ConnectRequest {
                    transaction_id: cmd.transaction_id,
                    app: text("app").unwrap_or_default(),
                    tc_url: text("tcUrl"),
                    flash_ver: text("flashVer"),
                    object_encoding,
                    command_object: cmd.command_object,
                });
            }
            (Phase::AwaitingConnect, _) => {
                return Err(SessionError::CommandBeforeConnect(cmd.name));
            }
            (_, "connect") => return Err(SessionError::DuplicateConnect),
            (_, "releaseStream") => {
                if cmd.transaction_id != 0.0 {
                    // GStreamer sends it with transaction 0 and warns about replies to that.
                    self.reply_result(cmd.transaction_id, Amf0Value::Null, vec![]);
                }
                events.push(SessionEvent::ReleaseStream {
                    stream_key: first_string(&cmd).unwrap_or_default(),
                });
            }
            (_, "FCPublish") => {
                let stream_key = first_string(&cmd).unwrap_or_default();
                let info = Amf0Value::object([
                    ("level", Amf0Value::string("status")),
                    ("code", Amf0Value::string("NetStream.Publish.Start")),
                    ("description", Amf0Value::string(stream_key.clone())),
                ]);
                self.send_command(
                    csid::COMMAND,
                    0,
                    "onFCPublish",
                    0.0,
                    Amf0Value::Null,
                    vec![info],
                );
                events.push(SessionEvent::FCPublish { stream_key });
            }
            (_, "createStream") => {
                let id = self.create_stream()?;
                self.reply_result(
                    cmd.transaction_id,
                    Amf0Value::Null,
                    vec![Amf0Value::Number(f64::from(id))],
                );
            }
            (_, "publish") => {
                let stream_key = first_string(&cmd).ok_or(SessionError::MissingArgument {
                    command: "publish",
                    argument: "stream key",
                })?;
                let publish_type = cmd
                    .args
                    .get(1)
                    .and_then(Amf0Value::as_str)
                    .map(str::to_owned);
                if !self.streams.contains_key(message_stream) {
                    if self.streams.len() >= MAX_STREAMS {
                        return Err(SessionError::TooManyStreams);
                    }
                    self.publish_without_create_stream += 1;
                }
                self.streams
                    .insert(message_stream, Some(Publish::Pending(stream_key.clone())));
                events.push(SessionEvent::PublishRequest {
                    stream_id: message_stream,
                    stream_key,
                    publish_type,
                });
            }
            (_, "FCUnpublish") | (_, "closeStream") => {
                if let Some(id) = self.resolve_stream(message_stream, cmd.args.first()) {
                    self.unpublish(id, events);
                }
            }
            (_, "deleteStream") => {
                if let Some(id) = self.resolve_stream(message_stream, cmd.args.first()) {
                    self.unpublish(id, events);
                    self.streams.remove(id);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn create_stream(&mut self) -> Result<u32, SessionError> {
        if self.streams.len() >= MAX_STREAMS {
            return Err(SessionError::TooManyStreams);
        }
        // Skip ids in use (a client may have published on an id it never created) and 0,
        // the NetConnection's own stream.
        let mut id = self.next_stream_id.max(1);
        while self.streams.contains_key(id) {
            id = id.checked_add(1).unwrap_or(1);
        }
        self.next_stream_id = id.checked_add(1).unwrap_or(1);
        self.streams.insert(id, None);
        Ok(id)
    }

    /// Works out which stream an unpublish/close/delete command means.
    fn resolve_stream(&self, message_stream: u32, arg: Option<&Amf0Value>) -> Option<u32> {
        if message_stream != 0 && self.streams.contains_key(message_stream) {
            return Some(message_stream);
        }
        match arg {
            Some(Amf0Value::Number(n))
                if n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX) =>
            {
                return Some(*n as u32);
            }
            Some(value) => {
                if let Some(key) = value.as_str() {
                    let found = self
                        .streams
                        .iter()
                        .find(|(_, p)| p.as_ref().is_some_and(|p| p.key() == key));
                    if let Some((id, _)) = found {
                        return Some(*id);
                    }
                }
            }
            None => {}
        }
        let mut publishing = self.streams.iter().filter(|(_, p)| p.is_some());
        match (publishing.next(), publishing.next()) {
            (Some((id, _)), None) => Some(*id),
            _ => None,
        }
    }

    fn unpublish(&mut self, stream_id: u32, events: &mut Vec<SessionEvent>) {
        let Some(Some(publish)) = self.streams.update(stream_id, Option::take) else {
            return;
        };
        let description = format!("{} is now unpublished.", publish.key());
        self.send_command(
            csid::STREAM_STATUS,
            stream_id,
            "onStatus",
            0.0,
            Amf0Value::Null,
            vec![status_object(
                "status",
                "NetStream.Unpublish.Success",
                &description,
            )],
        );
        events.push(SessionEvent::Unpublish { stream_id });
    }

    fn reply_result(&mut self, transaction_id: f64, object: Amf0Value, args: Vec<Amf0Value>) {
        self.send_command(csid::COMMAND, 0, "_result", transaction_id, object, args);
    }

    fn send_command(
        &mut self,
        chunk_stream: u32,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        command_object: Amf0Value,
        args: Vec<Amf0Value>,
    ) {
        let mut payload = Vec::new();
        amf0::encode(
            &[
                Amf0Value::string(name),
                Amf0Value::Number(transaction_id),
                command_object,
            ],
            &mut payload,
        );
        amf0::encode(&args, &mut payload);
        self.send(chunk_stream, type_id::COMMAND_AMF0, stream_id, payload);
    }

    /// Writes a reply (nothing is parsed while a decision is pending, so nothing waits).
    fn send(&mut self, chunk_stream: u32, kind: u8, stream_id: u32, payload: Vec<u8>) {
        self.write_now(chunk_stream, kind, stream_id, &payload);
    }

    fn write_now(&mut self, chunk_stream: u32, kind: u8, stream_id: u32, payload: &[u8]) {
        self.writer
            .write(chunk_stream, 0, kind, stream_id, payload, &mut self.out);
    }
}

fn status_object(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::object([
        ("level", Amf0Value::string(level)),
        ("code", Amf0Value::string(code)),
        ("description", Amf0Value::string(description)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

    /// Scripted client: builds chunked messages and decodes the server's replies.
    struct Client {
        writer: ChunkWriter,
        reader: ChunkReader,
        txn: f64,
    }

    #[derive(Debug, PartialEq)]
    enum Reply {
        Control {
            type_id: u8,
            value: u32,
        },
        PeerBandwidth {
            window: u32,
            limit: u8,
        },
        User(UserControlEvent),
        Command {
            csid: u32,
            stream_id: u32,
            command: Command,
        },
    }

    impl Client {
        fn new() -> Self {
            Client {
                writer: ChunkWriter::new(),
                reader: ChunkReader::new(ChunkLimits::default()),
                txn: 0.0,
            }
        }

        fn command(
            &mut self,
            stream_id: u32,
            name: &str,
            obj: Amf0Value,
            args: Vec<Amf0Value>,
        ) -> Vec<u8> {
            self.txn += 1.0;
            let payload = Command {
                name: name.into(),
                transaction_id: self.txn,
                command_object: obj,
                args,
            }
            .encode();
            let mut out = Vec::new();
            let csid = if stream_id == 0 { 3 } else { 8 };
            self.writer.write(
                csid,
                0,
                type_id::COMMAND_AMF0,
                stream_id,
                &payload,
                &mut out,
            );
            out
        }

        fn raw(&mut self, csid: u32, ts: u32, kind: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            self.writer
                .write(csid, ts, kind, stream_id, payload, &mut out);
            out
        }

        fn set_chunk_size(&mut self, n: u32) -> Vec<u8> {
            let out = self.raw(2, 0, type_id::SET_CHUNK_SIZE, 0, &n.to_be_bytes());
            self.writer.set_chunk_size(n);
            out
        }

        fn replies(&mut self, bytes: &[u8]) -> Vec<Reply> {
            self.reader.push(bytes);
            let mut out = Vec::new();
            while let Some(m) = self.reader.next_message().unwrap() {
                let value = || parse_u32(&m.payload, "test").unwrap();
                out.push(match m.type_id {
                    type_id::SET_CHUNK_SIZE => {
                        self.reader.set_chunk_size(value()).unwrap();
                        Reply::Control {
                            type_id: m.type_id,
                            value: value(),
                        }
                    }
                    type_id::SET_PEER_BANDWIDTH => Reply::PeerBandwidth {
                        window: value(),
                        limit: m.payload[4],
                    },
                    type_id::USER_CONTROL => {
                        Reply::User(UserControlEvent::parse(&m.payload).unwrap())
                    }
                    type_id::COMMAND_AMF0 => Reply::Command {
                        csid: m.csid,
                        stream_id: m.stream_id,
                        command: Command::parse(m.type_id, &m.payload).unwrap(),
                    },
                    other => Reply::Control {
                        type_id: other,
                        value: value(),
                    },
                });
            }
            out
        }
    }

    fn cmd(
        csid: u32,
        stream_id: u32,
        name: &str,
        txn: f64,
        obj: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> Reply {
        Reply::Command {
            csid,
            stream_id,
            command: Command {
                name: name.into(),
                transaction_id: txn,
                command_object: obj,
                args,
            },
        }
    }

    fn s(v: &str) -> Amf0Value {
        Amf0Value::string(v)
    }

    fn connect_object() -> Amf0Value {
        Amf0Value::object([
            ("app", s("live")),
            ("type", s("nonprivate")),
            ("flashVer", s("FMLE/3.0 (compatible; FMSc/1.0)")),
            ("tcUrl", s("rtmp://localhost:1935/live")),
            ("objectEncoding", Amf0Value::Number(3.0)),
        ])
    }

    /// Runs the handshake; returns the session and C2 (not yet fed).
    fn handshake() -> (ServerSession, Vec<u8>) {
        let mut server = ServerSession::new(SessionConfig::default());
        let mut client = Handshake::new(PeerType::Client);
        let c0c1 = client.generate_outbound_p0_and_p1().unwrap();
        assert_eq!(server.handle_input(&c0c1).unwrap(), vec![]);
        let s012 = server.take_output();
        assert_eq!(s012.len(), 3073);
        let c2 = match client.process_bytes(&s012).unwrap() {
            HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
            other => panic!("{other:?}"),
        };
        (server, c2)
    }

    /// The client's post-handshake script, in phases that each wait for the server.
    fn script(client: &mut Client) -> Vec<Vec<u8>> {
        let connect = client.command(0, "connect", connect_object(), vec![]);
        let mut setup = client.command(0, "releaseStream", Amf0Value::Null, vec![s("key")]);
        setup.extend(client.command(0, "FCPublish", Amf0Value::Null, vec![s("key")]));
        setup.extend(client.command(0, "createStream", Amf0Value::Null, vec![]));
        let publish = client.command(1, "publish", Amf0Value::Null, vec![s("key"), s("LIVE")]);
        let mut media = client.set_chunk_size(4096);
        let mut meta = Vec::new();
        amf0::encode(
            &[
                s("@setDataFrame"),
                s("onMetaData"),
                Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(1280.0))]),
            ],
            &mut meta,
        );
        media.extend(client.raw(4, 0, type_id::DATA_AMF0, 1, &meta));
        media.extend(client.raw(4, 0, type_id::AUDIO, 1, &[0xAF, 0x00, 0x12, 0x10]));
        media.extend(client.raw(6, 33, type_id::VIDEO, 1, &vec![0x17; 10_000]));
        let mut stop = client.command(0, "FCUnpublish", Amf0Value::Null, vec![s("key")]);
        stop.extend(client.command(
            0,
            "deleteStream",
            Amf0Value::Null,
            vec![Amf0Value::Number(1.0)],
        ));
        vec![connect, setup, publish, media, stop]
    }

    /// Feeds every phase in `piece`-byte pieces, answering requests like the element would.
    fn run(piece: usize) -> (Vec<SessionEvent>, Vec<Vec<u8>>, SessionObservations) {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut phases = script(&mut client);
        phases[0].splice(0..0, c2);
        let mut events = Vec::new();
        let mut outputs = Vec::new();
        for phase in phases {
            for bytes in phase.chunks(piece) {
                for event in server.handle_input(bytes).unwrap() {
                    match &event {
                        SessionEvent::ConnectRequest { .. } => server.accept_connect(vec![(
                            "fourCcList".into(),
                            Amf0Value::StrictArray(vec![s("hvc1")]),
                        )]),
                        SessionEvent::PublishRequest { stream_id, .. } => {
                            server.accept_publish(*stream_id)
                        }
                        _ => {}
                    }
                    events.push(event);
                }
            }
            outputs.push(server.take_output());
        }
        (events, outputs, server.observations())
    }

    #[test]
    fn full_publish_session() {
        let (events, outputs, observed) = run(usize::MAX);
        // A well-behaved client: digest handshake (rml_rtmp's), one chunk size, no deviation.
        assert_eq!(observed.handshake, Some(HandshakeKind::Digest));
        assert_eq!(
            (observed.chunk_sizes.count, observed.chunk_sizes.last),
            (1, 4096)
        );
        assert_eq!(observed.window_ack_size, None);
        assert_eq!(observed.deviations(), 0);
        let expected_events = vec![
            SessionEvent::HandshakeDone,
            SessionEvent::ConnectRequest {
                transaction_id: 1.0,
                app: "live".into(),
                tc_url: Some("rtmp://localhost:1935/live".into()),
                flash_ver: Some("FMLE/3.0 (compatible; FMSc/1.0)".into()),
                object_encoding: 3.0,
                command_object: connect_object(),
            },
            SessionEvent::ReleaseStream {
                stream_key: "key".into(),
            },
            SessionEvent::FCPublish {
                stream_key: "key".into(),
            },
            SessionEvent::PublishRequest {
                stream_id: 1,
                stream_key: "key".into(),
                publish_type: Some("LIVE".into()),
            },
            SessionEvent::Metadata {
                stream_id: 1,
                timestamp: 0,
                values: vec![
                    s("onMetaData"),
                    Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(1280.0))]),
                ],
            },
            SessionEvent::Audio {
                stream_id: 1,
                timestamp: 0,
                payload: Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10]),
            },
            SessionEvent::Video {
                stream_id: 1,
                timestamp: 33,
                payload: Bytes::from(vec![0x17; 10_000]),
            },
            SessionEvent::Unpublish { stream_id: 1 },
        ];
        assert_eq!(events, expected_events);

        let mut client = Client::new();
        let replies: Vec<Vec<Reply>> = outputs.iter().map(|o| client.replies(o)).collect();
        let status = |level: &str, code: &str, desc: &str| {
            Amf0Value::object([
                ("level", s(level)),
                ("code", s(code)),
                ("description", s(desc)),
            ])
        };
        assert_eq!(
            replies[0],
            vec![
                Reply::Control {
                    type_id: type_id::WINDOW_ACK_SIZE,
                    value: 2_500_000
                },
                Reply::PeerBandwidth {
                    window: 2_500_000,
                    limit: 2
                },
                Reply::Control {
                    type_id: type_id::SET_CHUNK_SIZE,
                    value: 4096
                },
                cmd(
                    3,
                    0,
                    "_result",
                    1.0,
                    Amf0Value::object([
                        ("fmsVer", s("FMS/3,0,1,123")),
                        ("capabilities", Amf0Value::Number(31.0)),
                        ("fourCcList", Amf0Value::StrictArray(vec![s("hvc1")])),
                    ]),
                    vec![Amf0Value::object([
                        ("level", s("status")),
                        ("code", s("NetConnection.Connect.Success")),
                        ("description", s("Connection succeeded.")),
                        ("objectEncoding", Amf0Value::Number(3.0)),
                    ])],
                ),
            ]
        );
        assert_eq!(
            replies[1],
            vec![
                cmd(3, 0, "_result", 2.0, Amf0Value::Null, vec![]),
                cmd(
                    3,
                    0,
                    "onFCPublish",
                    0.0,
                    Amf0Value::Null,
                    vec![Amf0Value::object([
                        ("level", s("status")),
                        ("code", s("NetStream.Publish.Start")),
                        ("description", s("key")),
                    ])]
                ),
                cmd(
                    3,
                    0,
                    "_result",
                    4.0,
                    Amf0Value::Null,
                    vec![Amf0Value::Number(1.0)]
                ),
            ]
        );
        let mut start = status("status", "NetStream.Publish.Start", "key is now published.");
        if let Amf0Value::Object(p) = &mut start {
            p.push(("details".into(), s("key")));
        }
        assert_eq!(
            replies[2],
            vec![
                Reply::User(UserControlEvent::StreamBegin(1)),
                cmd(5, 1, "onStatus", 0.0, Amf0Value::Null, vec![start]),
            ]
        );
        assert_eq!(replies[3], vec![]);
        assert_eq!(
            replies[4],
            vec![cmd(
                5,
                1,
                "onStatus",
                0.0,
                Amf0Value::Null,
                vec![status(
                    "status",
                    "NetStream.Unpublish.Success",
                    "key is now unpublished."
                )]
            )]
        );
    }

    #[test]
    fn read_boundaries_do_not_matter() {
        let whole = run(usize::MAX);
        for piece in [1, 2, 3, 7, 127, 128, 129, 4096] {
            assert_eq!(run(piece), whole, "piece size {piece}");
        }
    }

    #[test]
    fn read_from_counts_bytes() {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let phases = script(&mut client);
        server.handle_input(&c2).unwrap();
        let before = server.bytes_received();
        let n = server
            .read_from(phases[0].len(), &mut &phases[0][..])
            .unwrap();
        assert_eq!(n, phases[0].len());
        let events = server.process_buffered().unwrap();
        assert!(matches!(events[..], [SessionEvent::ConnectRequest { .. }]));
        assert_eq!(server.bytes_received(), before + phases[0].len() as u64);
        assert_eq!(server.process_buffered().unwrap(), vec![]);
        assert_eq!(server.bytes_received(), before + phases[0].len() as u64);
    }

    #[test]
    fn pipelined_commands_are_answered_after_connect_result() {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut input = c2;
        input.extend(client.command(0, "connect", connect_object(), vec![]));
        input.extend(client.command(0, "createStream", Amf0Value::Null, vec![]));
        let events = server.handle_input(&input).unwrap();
        assert_eq!(events.len(), 2);
        // Nothing but the handshake output until the connect is answered.
        let _ = server.take_output();
        server.handle_input(&[]).unwrap();
        assert!(server.take_output().is_empty());
        server.accept_connect(vec![]);
        // The session stopped at the connect: what followed it is parsed now.
        assert_eq!(server.process_buffered().unwrap(), vec![]);
        let names: Vec<(String, f64)> = client
            .replies(&server.take_output())
            .into_iter()
            .filter_map(|r| match r {
                Reply::Command { command, .. } => Some((command.name, command.transaction_id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            vec![("_result".into(), 1.0), ("_result".into(), 2.0)]
        );
    }

    #[test]
    fn nothing_is_parsed_while_a_connect_is_pending() {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut input = c2;
        input.extend(client.command(0, "connect", connect_object(), vec![]));
        // releaseStream with a transaction id is answered each time: none of them may be
        // parsed, answered or held before the connect is decided.
        for _ in 0..200 {
            input.extend(client.command(0, "releaseStream", Amf0Value::Null, vec![s("key")]));
        }
        let events = server.handle_input(&input).unwrap();
        assert!(matches!(
            events[..],
            [
                SessionEvent::HandshakeDone,
                SessionEvent::ConnectRequest { .. }
            ]
        ));
        assert!(server.decision_pending());
        let _ = server.take_output();
        assert_eq!(server.process_buffered().unwrap(), vec![]);
        assert!(
            server.take_output().is_empty(),
            "nothing answered while pending"
        );
        server.accept_connect(vec![]);
        assert!(!server.decision_pending());
        let events = server.process_buffered().unwrap();
        assert_eq!(events.len(), 200);
        assert!(events
            .iter()
            .all(|e| matches!(e, SessionEvent::ReleaseStream { .. })));
        let results = client
            .replies(&server.take_output())
            .into_iter()
            .filter(|r| matches!(r, Reply::Command { command, .. } if command.name == "_result"))
            .count();
        assert_eq!(
            results,
            1 + 200,
            "the connect, then every releaseStream, in order"
        );
    }

    #[test]
    fn nothing_is_parsed_while_a_publish_is_pending() {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut input = c2;
        input.extend(client.command(0, "connect", connect_object(), vec![]));
        server.handle_input(&input).unwrap();
        server.accept_connect(vec![]);
        let mut input = client.command(0, "createStream", Amf0Value::Null, vec![]);
        input.extend(client.command(1, "publish", Amf0Value::Null, vec![s("key"), s("live")]));
        input.extend(client.raw(4, 0, type_id::AUDIO, 1, &[0xAF, 0x00, 0x11, 0x90]));
        let events = server.handle_input(&input).unwrap();
        assert!(matches!(events[..], [SessionEvent::PublishRequest { .. }]));
        assert!(server.decision_pending());
        server.accept_publish(1);
        let events = server.process_buffered().unwrap();
        assert!(
            matches!(events[..], [SessionEvent::Audio { .. }]),
            "{events:?}"
        );
    }

    fn connected() -> (ServerSession, Client) {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut input = c2;
        input.extend(client.command(0, "connect", connect_object(), vec![]));
        server.handle_input(&input).unwrap();
        server.accept_connect(vec![]);
        client.replies(&server.take_output());
        (server, client)
    }

    #[test]
    fn command_before_connect_is_an_error_and_session_stays_failed() {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut input = c2;
        input.extend(client.command(0, "createStream", Amf0Value::Null, vec![]));
        assert_eq!(
            server.handle_input(&input),
            Err(SessionError::CommandBeforeConnect("createStream".into()))
        );
        assert_eq!(server.handle_input(&[]), Err(SessionError::Failed));
    }

    #[test]
    fn duplicate_connect_is_an_error() {
        let (mut server, mut client) = connected();
        let input = client.command(0, "connect", connect_object(), vec![]);
        assert_eq!(
            server.handle_input(&input),
            Err(SessionError::DuplicateConnect)
        );
    }

    #[test]
    fn reject_connect_sends_error_and_ignores_the_rest() {
        let (mut server, c2) = handshake();
        let mut client = Client::new();
        let mut input = c2;
        input.extend(client.command(0, "connect", connect_object(), vec![]));
        server.handle_input(&input).unwrap();
        let _ = server.take_output();
        server.reject_connect(
            "NetConnection.Connect.Rejected",
            "[ code=403 need auth; authmod=adobe ]",
        );
        assert_eq!(
            client.replies(&server.take_output()),
            vec![cmd(
                3,
                0,
                "_error",
                1.0,
                Amf0Value::Null,
                vec![Amf0Value::object([
                    ("level", s("error")),
                    ("code", s("NetConnection.Connect.Rejected")),
                    ("description", s("[ code=403 need auth; authmod=adobe ]")),
                ])]
            )]
        );
        let more = client.command(0, "createStream", Amf0Value::Null, vec![]);
        assert_eq!(server.handle_input(&more).unwrap(), vec![]);
        assert!(server.take_output().is_empty());
    }

    #[test]
    fn reject_publish_then_no_media_and_no_unpublish() {
        let (mut server, mut client) = connected();
        let mut input = client.command(0, "createStream", Amf0Value::Null, vec![]);
        input.extend(client.command(1, "publish", Amf0Value::Null, vec![s("taken")]));
        let events = server.handle_input(&input).unwrap();
        assert_eq!(
            events,
            vec![SessionEvent::PublishRequest {
                stream_id: 1,
                stream_key: "taken".into(),
                publish_type: None
            }]
        );
        server.reject_publish(1, "NetStream.Publish.BadName", "taken is already published");
        let replies = client.replies(&server.take_output());
        assert_eq!(
            replies.last(),
            Some(&cmd(
                5,
                1,
                "onStatus",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::object([
                    ("level", s("error")),
                    ("code", s("NetStream.Publish.BadName")),
                    ("description", s("taken is already published")),
                ])]
            ))
        );
        let mut input = client.raw(4, 0, type_id::AUDIO, 1, &[1, 2]);
        input.extend(client.command(
            0,
            "deleteStream",
            Amf0Value::Null,
            vec![Amf0Value::Number(1.0)],
        ));
        assert_eq!(server.handle_input(&input).unwrap(), vec![]);
    }

    #[test]
    fn publish_on_uncreated_stream_is_accepted_and_gstreamer_style_stop() {
        let (mut server, mut client) = connected();
        let input = client.command(7, "publish", Amf0Value::Null, vec![s("k")]);
        let events = server.handle_input(&input).unwrap();
        assert!(matches!(
            events[..],
            [SessionEvent::PublishRequest { stream_id: 7, .. }]
        ));
        server.accept_publish(7);
        assert_eq!(server.observations().publish_without_create_stream, 1);
        assert_eq!(server.observations().deviations(), 1);
        // GStreamer: closeStream and deleteStream on stream 0 with the key as argument.
        let mut input = client.command(0, "closeStream", Amf0Value::Null, vec![s("k")]);
        input.extend(client.command(0, "deleteStream", Amf0Value::Null, vec![s("k")]));
        assert_eq!(
            server.handle_input(&input).unwrap(),
            vec![SessionEvent::Unpublish { stream_id: 7 }]
        );
        // A later createStream still hands out fresh ids.
        let _ = server.take_output();
        let input = client.command(0, "createStream", Amf0Value::Null, vec![]);
        server.handle_input(&input).unwrap();
        let replies = client.replies(&server.take_output());
        assert!(matches!(
            &replies[..],
            [Reply::Command { command, .. }] if command.args == vec![Amf0Value::Number(1.0)]
        ));
    }

    #[test]
    fn ping_is_answered_and_acks_follow_the_peer_window() {
        let (mut server, mut client) = connected();
        let mut input = client.raw(
            2,
            0,
            type_id::USER_CONTROL,
            0,
            &UserControlEvent::PingRequest(99).encode(),
        );
        input.extend(client.raw(2, 0, type_id::WINDOW_ACK_SIZE, 0, &1000u32.to_be_bytes()));
        assert_eq!(server.observations().window_ack_size, None);
        server.handle_input(&input).unwrap();
        assert_eq!(server.observations().window_ack_size, Some(1000));
        assert_eq!(
            client.replies(&server.take_output()),
            vec![Reply::User(UserControlEvent::PingResponse(99))]
        );
        // Unrelated bytes on an unknown message type still count towards the window.
        let filler = client.raw(9, 0, 0x30, 0, &[0u8; 1200]);
        server.handle_input(&filler).unwrap();
        let total = server.bytes_received() as u32;
        assert_eq!(
            client.replies(&server.take_output()),
            vec![Reply::Control {
                type_id: type_id::ACKNOWLEDGEMENT,
                value: total
            }]
        );
        server
            .handle_input(&client.raw(9, 0, 0x30, 0, &[0u8; 10]))
            .unwrap();
        assert!(server.take_output().is_empty());
    }

    #[test]
    fn amf3_command_aggregate_and_bare_metadata() {
        let (mut server, mut client) = connected();
        let mut payload = vec![0u8];
        payload.extend(
            Command {
                name: "publish".into(),
                transaction_id: 0.0,
                command_object: Amf0Value::Null,
                args: vec![s("k")],
            }
            .encode(),
        );
        let mut input = client.raw(8, 0, type_id::COMMAND_AMF3, 1, &payload);
        // Aggregate: video at tag ts 5000, audio at 5010; aggregate message ts 200.
        let mut agg = Vec::new();
        for (kind, ts, body) in [(9u8, 5000u32, &b"vv"[..]), (8, 5010, &b"a"[..])] {
            agg.push(kind);
            agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            agg.extend_from_slice(&ts.to_be_bytes()[1..]);
            agg.push((ts >> 24) as u8);
            agg.extend_from_slice(&[0, 0, 0]);
            agg.extend_from_slice(body);
            agg.extend_from_slice(&((body.len() + 11) as u32).to_be_bytes());
        }
        input.extend(client.raw(4, 200, type_id::AGGREGATE, 1, &agg));
        let mut meta = vec![0u8];
        amf0::encode(&[s("onMetaData"), Amf0Value::Null], &mut meta);
        input.extend(client.raw(4, 300, type_id::DATA_AMF3, 1, &meta));
        let mut other = Vec::new();
        amf0::encode(&[s("onTextData"), Amf0Value::Null], &mut other);
        input.extend(client.raw(4, 300, type_id::DATA_AMF0, 1, &other));
        // The session stops at the publish decision; the media follows once it is accepted.
        let mut events = server.handle_input(&input).unwrap();
        server.accept_publish(1);
        events.extend(server.process_buffered().unwrap());
        assert_eq!(
            events,
            vec![
                SessionEvent::PublishRequest {
                    stream_id: 1,
                    stream_key: "k".into(),
                    publish_type: None
                },
                SessionEvent::Video {
                    stream_id: 1,
                    timestamp: 200,
                    payload: Bytes::from_static(b"vv")
                },
                SessionEvent::Audio {
                    stream_id: 1,
                    timestamp: 210,
                    payload: Bytes::from_static(b"a")
                },
                SessionEvent::Metadata {
                    stream_id: 1,
                    timestamp: 300,
                    values: vec![s("onMetaData"), Amf0Value::Null]
                },
            ]
        );
    }

    #[test]
    fn hostile_inputs_are_errors() {
        // Bad chunk size.
        let (mut server, mut client) = connected();
        let input = client.raw(2, 0, type_id::SET_CHUNK_SIZE, 0, &0u32.to_be_bytes());
        assert_eq!(
            server.handle_input(&input),
            Err(SessionError::Chunk(ChunkError::InvalidChunkSize(0)))
        );
        // Deeply nested command (5,000 levels: within a stranger's 32 KiB message budget).
        let (mut server, mut client) = connected();
        let mut payload = Vec::new();
        amf0::encode(&[s("publish"), Amf0Value::Number(1.0)], &mut payload);
        for _ in 0..5_000 {
            payload.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        let input = client.raw(3, 0, type_id::COMMAND_AMF0, 1, &payload);
        assert!(matches!(
            server.handle_input(&input),
            Err(SessionError::Message(MessageError::Amf(
                amf0::Amf0Error::TooDeep
            )))
        ));
        // 10,000 levels (50 KB) before publishing: over a stranger's largest message.
        let (mut server, mut client) = connected();
        payload.extend(std::iter::repeat_n([0x0A, 0, 0, 0, 1], 5_000).flatten());
        let input = client.raw(3, 0, type_id::COMMAND_AMF0, 1, &payload);
        assert!(matches!(
            server.handle_input(&input),
            Err(SessionError::Chunk(ChunkError::MessageTooLarge {
                limit: 32768,
                ..
            }))
        ));
        // Oversize message header.
        let (mut server, _) = connected();
        let header = [0x04, 0, 0, 0, 0x90, 0, 0, 9, 1, 0, 0, 0];
        assert!(matches!(
            server.handle_input(&header),
            Err(SessionError::Chunk(ChunkError::MessageTooLarge { .. }))
        ));
        // Publish without a key.
        let (mut server, mut client) = connected();
        let input = client.command(1, "publish", Amf0Value::Null, vec![]);
        assert!(matches!(
            server.handle_input(&input),
            Err(SessionError::MissingArgument { .. })
        ));
        // Bad handshake version.
        let mut server = ServerSession::new(SessionConfig::default());
        assert!(matches!(
            server.handle_input(&[0x06; 1537]),
            Err(SessionError::Handshake(_))
        ));
    }

    #[test]
    fn too_many_streams() {
        let (mut server, mut client) = connected();
        let mut input = Vec::new();
        for _ in 0..=MAX_STREAMS {
            input.extend(client.command(0, "createStream", Amf0Value::Null, vec![]));
        }
        assert_eq!(
            server.handle_input(&input),
            Err(SessionError::TooManyStreams)
        );
    }

    #[test]
    fn random_bytes_after_handshake_never_panic() {
        let mut seed = 0x9E37_79B9u32;
        for _ in 0..50 {
            let (mut server, mut input) = handshake();
            let mut client = Client::new();
            input.extend(client.command(0, "connect", connect_object(), vec![]));
            server.handle_input(&input).unwrap();
            server.accept_connect(vec![]);
            let mut noise = Vec::new();
            for _ in 0..5000 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                noise.push(seed as u8);
            }
            for piece in noise.chunks(97) {
                if server.handle_input(piece).is_err() {
                    break;
                }
            }
        }
    }
}
