// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The contract between the socket layer and whoever decides what a connection may do.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::rtmp::Amf0Value;

/// What a client said in its `connect` command, plus where it came from.
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    pub connection_id: u64,
    pub peer: SocketAddr,
    /// The port this connection arrived on (the listener's), as opposed to the one in tcUrl.
    pub local_port: u16,
    pub app: String,
    pub tc_url: Option<String>,
    pub flash_ver: Option<String>,
    /// The authenticated user name, once the handler accepted the connect with one.
    pub user: Option<String>,
    /// Which of the handler's routes accepted the connect (its own bookkeeping).
    pub accepted_by: Option<u64>,
    /// The connect already waited out a brute-force brake delay: decide it now.
    pub brake_served: bool,
    pub command_object: Amf0Value,
}

/// A refusal, sent to the client in the words its software shows, then the connection closes.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// RTMP status code, e.g. `NetConnection.Connect.Rejected` or `NetStream.Publish.Denied`.
    pub code: &'static str,
    /// Human readable text: FFmpeg prints it as "Server error: <description>".
    pub description: String,
    /// Why, in a few words, for logs and bus messages (never containing secrets).
    pub reason: &'static str,
}

/// One media or data message of a publishing stream, as it came off the wire.
#[derive(Debug, Clone)]
pub enum MediaMessage {
    Audio { timestamp: u32, payload: Bytes },
    Video { timestamp: u32, payload: Bytes },
    Metadata { values: Vec<Amf0Value> },
}

/// Why a connection or a publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The publisher unpublished (FCUnpublish/deleteStream) or closed the TCP connection.
    PeerClosed,
    /// No data for longer than the timeout.
    Timeout,
    /// The peer sent something we refuse to parse.
    ProtocolError,
    /// A socket error (reset, broken pipe).
    NetworkError,
    /// The element is stopping.
    Shutdown,
    /// Downstream refused the data (not-linked, error) or the element is flushing.
    Downstream,
    /// A newer publisher of the same stream took over from this silent one.
    Replaced,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer-closed",
            CloseReason::Timeout => "timeout",
            CloseReason::ProtocolError => "protocol-error",
            CloseReason::NetworkError => "network-error",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Downstream => "downstream",
            CloseReason::Replaced => "replaced",
        }
    }
}

/// Receives the media of one accepted publish. Owned by one connection at a time (the front
/// door's event loop until media flows, then the publisher's own thread), so it needs no lock
/// for its own state.
pub trait Publisher: Send {
    /// A media or data message; an error ends the connection.
    fn media(&mut self, message: MediaMessage) -> Result<(), CloseReason>;
    /// Everything one read brought has been handed to [`Publisher::media`]: a good moment to
    /// wake whoever consumes it (once per read rather than once per message).
    fn input_done(&mut self) {}
    /// When [`Publisher::on_timer`] wants to be called next, if ever (nothing polls).
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// Called at or after [`Publisher::next_deadline`], for time-based decisions; an error ends
    /// the connection.
    fn on_timer(&mut self, _now: Instant) -> Result<(), CloseReason> {
        Ok(())
    }
    /// The publish is over.
    fn finish(self: Box<Self>, reason: CloseReason);
}

/// The answer to a `connect`.
#[derive(Debug, Clone)]
pub enum ConnectVerdict {
    /// The authenticated user (if any) and extra properties for the `_result` (Enhanced RTMP
    /// capabilities).
    Accept(ConnectAccepted),
    Reject(Rejection),
    /// Ask again after this long, with [`ConnectInfo::brake_served`] set (a brute-force brake:
    /// the wait is a timer, it holds no thread).
    Delay(Duration),
}

/// Decides what connections may do. Implemented by the element; called from the front door's
/// event loop (connect, publish) and from publisher threads (media), so keep it quick.
pub trait IngestHandler: Send + Sync + 'static {
    /// A `connect` command.
    fn connect(&self, info: &ConnectInfo) -> ConnectVerdict;
    /// A `publish` command on a connection whose connect was accepted.
    fn publish(
        &self,
        info: &ConnectInfo,
        stream_key: &str,
        publish_type: Option<&str>,
    ) -> Result<Box<dyn Publisher>, Rejection>;
    /// A connection was accepted.
    fn connection_opened(&self, _peer: SocketAddr) {}
    /// A connection was closed right after accept (a limit was reached).
    fn connection_refused(&self, _peer: SocketAddr, _reason: &'static str) {}
    /// A connection ended (after its publisher, if any, was finished).
    fn connection_closed(
        &self,
        _info: Option<&ConnectInfo>,
        _peer: SocketAddr,
        _reason: CloseReason,
    ) {
    }
}

/// A successful connect.
#[derive(Debug, Default, Clone)]
pub struct ConnectAccepted {
    pub user: Option<String>,
    pub accepted_by: Option<u64>,
    pub extra_properties: Vec<(String, Amf0Value)>,
}
