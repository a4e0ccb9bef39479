// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The contract between the socket layer and whoever decides what a connection may do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::deferred::Deferred;
pub use super::push_watch::PushWatch;
use crate::auth::AuthFailure;
use crate::rtmp::{Amf0Value, SessionObservations};

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
    /// Why, for logs, statistics and bus messages (never containing secrets).
    pub reason: RefusalReason,
}

/// Why a connection, a connect or a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// No element serves the application.
    BadApplication,
    /// The tcUrl names another port than the one the client should have dialed.
    PortMismatch,
    /// Adobe authmod said no (or asked for the next step of a login).
    Auth(AuthFailure),
    /// The brute-force brake: too many failed logins from this address.
    TooManyFailures,
    /// No element takes this stream key.
    BadStreamKey,
    /// The key's element would not accept the credentials the connection logged in with.
    BadCredentialsForKey,
    /// The application's `authenticate` handler said no.
    RefusedByApplication,
    /// The stream is live with another publisher.
    AlreadyPublishing,
    /// The stream ended (EOS) or the element is stopping.
    Ended,
    /// A command out of order (publish before connect).
    Protocol,
    /// `max-connections` reached.
    MaxConnections,
    /// `max-connections-per-address` reached.
    MaxConnectionsPerAddress,
    /// The platform's auth service refused the publish.
    RefusedByAuthService,
    /// The platform's auth service did not answer in time, or not in a way we understand.
    AuthServiceUnavailable,
    /// The element is draining: this machine takes no new connects.
    Draining,
    /// A connection from a trusted proxy did not begin with a valid PROXY header.
    BadProxyHeader,
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RefusalReason {
    /// The name used in bus messages and `stats` (`rejected-by-reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::BadApplication => "bad-application",
            RefusalReason::PortMismatch => "port-mismatch",
            RefusalReason::Auth(failure) => match failure {
                AuthFailure::NeedAuth => "auth-required",
                AuthFailure::Challenge => "auth-challenge",
                AuthFailure::BadCredentials => "auth-failed",
                AuthFailure::Expired => "auth-expired",
                AuthFailure::UnknownChallenge => "auth-unknown-challenge",
                AuthFailure::Malformed => "auth-malformed",
                AuthFailure::Internal => "auth-internal",
            },
            RefusalReason::TooManyFailures => "too-many-failures",
            RefusalReason::BadStreamKey => "bad-stream-key",
            RefusalReason::BadCredentialsForKey => "bad-credentials-for-key",
            RefusalReason::RefusedByApplication => "refused-by-application",
            RefusalReason::AlreadyPublishing => "already-publishing",
            RefusalReason::Ended => "ended",
            RefusalReason::Protocol => "protocol",
            RefusalReason::MaxConnections => "max-connections",
            RefusalReason::MaxConnectionsPerAddress => "max-connections-per-address",
            RefusalReason::RefusedByAuthService => "refused-by-auth-service",
            RefusalReason::AuthServiceUnavailable => "auth-service-unavailable",
            RefusalReason::Draining => "draining",
            RefusalReason::BadProxyHeader => "bad-proxy-header",
        }
    }

    /// A failed login or the brake it triggers: worth an `rtmpserversrc-auth-failed` message.
    pub fn is_auth_failure(self) -> bool {
        matches!(
            self,
            RefusalReason::Auth(_) | RefusalReason::TooManyFailures
        )
    }

    /// A step of every successful Adobe login (the client is told to log in, or challenged):
    /// not worth a warning.
    pub fn is_login_step(self) -> bool {
        matches!(
            self,
            RefusalReason::Auth(AuthFailure::NeedAuth | AuthFailure::Challenge)
        )
    }
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

/// When a publisher's timer is due, and how much later it may run. While media flows the
/// reading thread looks at its timers after every read; the slack only matters once the
/// socket goes quiet, and lets the read timeout stay as it is instead of being set again
/// every few reads as the deadline nears (a system call each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerDue {
    pub at: Instant,
    pub slack: Duration,
}

impl TimerDue {
    /// Both timers as one: due at the earlier, and no later than either allows.
    pub fn earliest(a: TimerDue, b: TimerDue) -> TimerDue {
        let at = a.at.min(b.at);
        let latest = (a.at + a.slack).min(b.at + b.slack);
        TimerDue {
            at,
            slack: latest.saturating_duration_since(at),
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
    /// wake whoever consumes it (once per read rather than once per message). Returns what the
    /// reading thread should push downstream itself, once it has let go of the connection, if
    /// downstream has been taking media without waiting (see [`Delivery`]).
    fn input_done(&mut self) -> Option<Arc<dyn Delivery>> {
        None
    }
    /// One read was handed to [`Publisher::media`] and more input is already waiting (the read
    /// filled its room). Returns what the reading thread should push before it reads on, in
    /// direct delivery only: consumers on threads of their own are woken once the burst ends.
    fn input_pending(&mut self) -> Option<Arc<dyn Delivery>> {
        None
    }
    /// What the session observed of the peer's protocol so far (for the publish report): given
    /// after each read and before [`Publisher::finish`]; a copy of a few counters.
    fn observe_session(&mut self, _observations: &SessionObservations) {}
    /// When [`Publisher::on_timer`] wants to be called next, if ever (nothing polls), and how
    /// much later it may be.
    fn next_deadline(&self) -> Option<TimerDue> {
        None
    }
    /// Called at or after [`Publisher::next_deadline`], for time-based decisions; an error ends
    /// the connection.
    fn on_timer(&mut self, _now: Instant) -> Result<(), CloseReason> {
        Ok(())
    }
    /// The application asks this publisher to reconnect elsewhere (drain): taken once, sent as
    /// the Enhanced RTMP `NetConnection.Connect.ReconnectRequest`.
    fn take_reconnect_request(&mut self) -> Option<ReconnectRequest> {
        None
    }
    /// The publish is over.
    fn finish(self: Box<Self>, reason: CloseReason);
}

/// Media a publisher queued that its reading thread pushes downstream itself, instead of
/// waking a pad thread for it. The push may block (a sink that prerolls, a muxer waiting for
/// another pad): the push watchdog then gives the connection to another thread, which reads on
/// and calls [`Delivery::fall_back`].
pub trait Delivery: Send + Sync {
    /// Pushes what is queued, arming `watch` around each push. False if the connection was
    /// handed to another thread meanwhile: the calling thread must leave it.
    fn deliver(&self, watch: &PushWatch) -> bool;
    /// A push did not return in time: queued media goes to pad threads again.
    fn fall_back(&self);
}

/// The answer to a `connect`.
pub enum ConnectVerdict {
    /// The authenticated user (if any) and extra properties for the `_result` (Enhanced RTMP
    /// capabilities).
    Accept(ConnectAccepted),
    Reject(Rejection),
    /// Ask again after this long, with [`ConnectInfo::brake_served`] set (a brute-force brake:
    /// the wait is a timer, it holds no thread).
    Delay(Duration),
    /// The answer comes later (an auth service is asked); the connection waits without a
    /// thread and nothing it sent after the connect is handled before.
    Later(Deferred<ConnectVerdict>),
}

/// The answer to a `publish`.
pub enum PublishVerdict {
    Accept(Box<dyn Publisher>),
    Reject(Rejection),
    /// The answer comes later, as for [`ConnectVerdict::Later`].
    Later(Deferred<PublishVerdict>),
}

/// Where a drained publisher should go (Enhanced RTMP v2 reconnect request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconnectRequest {
    /// The URL to reconnect to; `None`: the same one (a load balancer picks another machine).
    pub tc_url: Option<String>,
    pub description: Option<String>,
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
    ) -> PublishVerdict;
    /// A connection was accepted.
    fn connection_opened(&self, _peer: SocketAddr) {}
    /// A connection was closed right after accept (a limit was reached).
    fn connection_refused(&self, _peer: SocketAddr, _reason: RefusalReason) {}
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
