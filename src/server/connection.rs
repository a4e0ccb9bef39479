// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! One connection's RTMP state and decisions, whichever thread drives it: the sans-IO session,
//! what the client said in its connect, its publisher, and the events not handled yet.
//!
//! The front door (front_door.rs) drives it without blocking until the publisher's first media
//! message; then the connection moves to a thread of its own (publisher_thread.rs), which
//! handles the rest. Both feed bytes in and act on [`Step`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::deferred::{Deferred, Polled};
use super::handler::{
    CloseReason, ConnectInfo, ConnectVerdict, Delivery, IngestHandler, MediaMessage,
    PublishVerdict, Publisher, RefusalReason, Rejection,
};
use super::listener::ServerConfig;
use crate::rtmp::{ServerSession, SessionError, SessionEvent};
use crate::CAT;

/// What [`Connection::drive`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Every event was handled: read more.
    NeedInput,
    /// The publisher's first media message is next (the front door hands the connection to a
    /// thread of its own before it is handled).
    Media,
    /// A connect waits out a brute-force brake until this instant; nothing after it is handled
    /// before.
    Delayed(Instant),
    /// A connect or publish waits for an answer that comes later (an auth service); the wake-up
    /// given to [`Connection::set_wake`] runs when it comes.
    Waiting,
    /// The connection must close (after flushing what the session wrote).
    Close(CloseReason),
}

/// A decision whose answer comes later.
enum Waiting {
    Connect(ConnectInfo, Deferred<ConnectVerdict>),
    Publish(u32, Deferred<PublishVerdict>),
}

pub(super) struct Connection {
    pub id: u64,
    pub peer: SocketAddr,
    local_port: u16,
    handler: Arc<dyn IngestHandler>,
    pub session: ServerSession,
    pub info: Option<ConnectInfo>,
    /// The connect accepted (the peer proved who it is, or no credentials are needed).
    pub connected: bool,
    publishing_stream: Option<u32>,
    pub publisher: Option<Box<dyn Publisher>>,
    /// Events the session produced that were not handled yet (behind a delay or handover).
    backlog: VecDeque<SessionEvent>,
    /// The session's events of one read, on their way to `backlog`: kept, so a read costs no
    /// allocation for them.
    parsed: Vec<SessionEvent>,
    /// A connect waiting out the brake, and when it may be decided.
    delayed: Option<(ConnectInfo, Instant)>,
    /// A connect or publish whose answer comes later.
    waiting: Option<Waiting>,
    /// Called when a later answer comes (set by whoever drives the connection).
    wake: Option<Arc<dyn Fn() + Send + Sync>>,
    pub accepted_at: Instant,
    pub last_data: Instant,
    pub last_media: Instant,
    /// [`Connection::finish`] ran.
    finished: bool,
}

impl Drop for Connection {
    /// A connection dropped without [`Connection::finish`] (its thread panicked): its publish
    /// still ends, so the element's slot is freed and a reconnect is not refused.
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.finish(CloseReason::NetworkError)
            }));
        }
    }
}

impl Connection {
    pub fn new(
        id: u64,
        peer: SocketAddr,
        local_port: u16,
        handler: Arc<dyn IngestHandler>,
        config: &ServerConfig,
        now: Instant,
    ) -> Self {
        Connection {
            id,
            peer,
            local_port,
            handler,
            session: ServerSession::new(config.session.clone()),
            info: None,
            connected: false,
            publishing_stream: None,
            publisher: None,
            backlog: VecDeque::new(),
            parsed: Vec::new(),
            delayed: None,
            waiting: None,
            wake: None,
            accepted_at: now,
            last_data: now,
            last_media: now,
            finished: false,
        }
    }

    /// How a later answer (see [`Step::Waiting`]) wakes whoever drives this connection.
    pub fn set_wake(&mut self, wake: Arc<dyn Fn() + Send + Sync>) {
        self.wake = Some(wake);
    }

    /// Blocks until a later answer comes or `timeout` passes (a thread of its own may block).
    pub fn wait_for_answer(&self, timeout: Duration) {
        match &self.waiting {
            Some(Waiting::Connect(_, d)) => d.wait(timeout),
            Some(Waiting::Publish(_, d)) => d.wait(timeout),
            None => {}
        }
    }

    /// Parses what was added to the session's input (bytes `handle_input` took, or what
    /// `read_from` placed) and queues the events.
    pub fn take_input(&mut self, data: Option<&[u8]>, now: Instant) -> Result<(), CloseReason> {
        self.last_data = now;
        let parsed = match data {
            Some(bytes) => self.session.handle_input(bytes).map(|events| {
                self.backlog.extend(events);
            }),
            None => self.parse_buffered().map(|_| ()),
        };
        parsed.map_err(|err| {
            gst::warning!(CAT, "closing {}: protocol error: {err}", self.peer);
            CloseReason::ProtocolError
        })
    }

    /// Parses what was read into the session's buffer onto the backlog; how many events.
    fn parse_buffered(&mut self) -> Result<usize, SessionError> {
        let result = self.session.process_buffered_into(&mut self.parsed);
        let count = self.parsed.len();
        if result.is_ok() {
            self.backlog.extend(self.parsed.drain(..));
        } else {
            // A failed session's events are not handled (the connection closes).
            self.parsed.clear();
        }
        result.map(|()| count)
    }

    /// Handles queued events until done, or until the next one is media and `stop_at_media`
    /// (the front door), or a connect must wait.
    pub fn drive(&mut self, now: Instant, stop_at_media: bool) -> Step {
        if let Some((_, until)) = &self.delayed {
            if now < *until {
                return Step::Delayed(*until);
            }
            let (mut info, _) = self.delayed.take().expect("checked");
            info.brake_served = true;
            if let Some(step) = self.decide_connect(info, now) {
                return step;
            }
        }
        if let Some(step) = self.take_answer(now) {
            return step;
        }
        if let Some(request) = self
            .publisher
            .as_mut()
            .and_then(|p| p.take_reconnect_request())
        {
            gst::info!(CAT, "asking {} to reconnect elsewhere", self.peer);
            self.session
                .request_reconnect(request.tc_url.as_deref(), request.description.as_deref());
        }
        loop {
            while let Some(event) = self.backlog.pop_front() {
                if stop_at_media && self.is_media_for_publisher(&event) {
                    self.backlog.push_front(event);
                    return Step::Media;
                }
                if let Some(step) = self.on_event(event, now) {
                    return step;
                }
            }
            // The session stops at each decision; once it is answered, what the client sent
            // after it is parsed now.
            if self.session.decision_pending() || !self.session.has_buffered_input() {
                return Step::NeedInput;
            }
            match self.parse_buffered() {
                Ok(0) => return Step::NeedInput,
                Ok(_) => {}
                Err(err) => {
                    gst::warning!(CAT, "closing {}: protocol error: {err}", self.peer);
                    return Step::Close(CloseReason::ProtocolError);
                }
            }
        }
    }

    fn is_media_for_publisher(&self, event: &SessionEvent) -> bool {
        match event {
            SessionEvent::Audio { stream_id, .. }
            | SessionEvent::Video { stream_id, .. }
            | SessionEvent::Metadata { stream_id, .. } => {
                self.publisher.is_some() && self.publishing_stream == Some(*stream_id)
            }
            _ => false,
        }
    }

    /// The deadlines of a connection that is not streaming: the publish deadline until it
    /// publishes, then the media timeout; the silence timeout always.
    pub fn deadline(&self, config: &ServerConfig) -> Instant {
        self.wake_window(config, Duration::ZERO).0
    }

    /// The earliest deadline ([`Connection::deadline`]) and the latest moment to wake for it:
    /// each deadline may be late by `slack`, the publisher's timer by its own slack if that is
    /// longer.
    pub fn wake_window(&self, config: &ServerConfig, slack: Duration) -> (Instant, Instant) {
        let expiry = self.expiry(config).0;
        let (mut deadline, mut latest) = (expiry, expiry + slack);
        if let Some((_, until)) = &self.delayed {
            deadline = deadline.min(*until);
            latest = latest.min(*until + slack);
        }
        if let Some(timer) = self.publisher.as_ref().and_then(|p| p.next_deadline()) {
            deadline = deadline.min(timer.at);
            latest = latest.min(timer.at + timer.slack.max(slack));
        }
        (deadline, latest)
    }

    /// When the connection expires and why (for the warning): the publish deadline until it
    /// publishes, then the media timeout; the silence timeout always. The earliest counts.
    fn expiry(&self, config: &ServerConfig) -> (Instant, &'static str, Duration) {
        let phase = if self.publisher.is_none() {
            let at = self.accepted_at + config.publish_deadline;
            (at, "not publishing within", config.publish_deadline)
        } else {
            (
                self.last_media + config.timeout,
                "no media for",
                config.timeout,
            )
        };
        let silence = (
            self.last_data + config.timeout,
            "no data for",
            config.timeout,
        );
        if silence.0 < phase.0 {
            silence
        } else {
            phase
        }
    }

    /// Why the connection is over at `now`, if it is.
    pub fn overdue(&self, now: Instant, config: &ServerConfig) -> Option<CloseReason> {
        let (at, what, limit) = self.expiry(config);
        if now < at {
            return None;
        }
        gst::warning!(CAT, "dropping {}: {what} {limit:?}", self.peer);
        Some(CloseReason::Timeout)
    }

    /// Everything read so far was handled and the socket has nothing more right now: the
    /// publisher may wake its consumers (once per burst, not once per message), or hand back
    /// what the reading thread should push itself.
    pub fn input_drained(&mut self) -> Option<Arc<dyn Delivery>> {
        let publisher = self.publisher.as_mut()?;
        publisher.observe_session(&self.session.observations());
        publisher.input_done()
    }

    /// One read was handled and more input waits: see [`Publisher::input_pending`].
    pub fn input_pending(&mut self) -> Option<Arc<dyn Delivery>> {
        self.publisher.as_mut()?.input_pending()
    }

    /// Ends the publish, with the session's last observations for its report.
    fn finish_publisher(&mut self, reason: CloseReason) {
        if let Some(mut publisher) = self.publisher.take() {
            publisher.observe_session(&self.session.observations());
            publisher.finish(reason);
        }
    }

    /// Runs the publisher's timers when due.
    pub fn run_timers(&mut self, now: Instant) -> Result<(), CloseReason> {
        match self.publisher.as_mut() {
            Some(publisher) if publisher.next_deadline().is_some_and(|t| t.at <= now) => {
                publisher.on_timer(now)
            }
            _ => Ok(()),
        }
    }

    /// Ends the publish (if any) and tells the handler; the caller closes the socket.
    pub fn finish(&mut self, reason: CloseReason) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        gst::debug!(
            CAT,
            "connection {} from {} closed: {}",
            self.id,
            self.peer,
            reason.as_str()
        );
        self.finish_publisher(reason);
        self.handler
            .connection_closed(self.info.as_ref(), self.peer, reason);
    }

    fn on_event(&mut self, event: SessionEvent, now: Instant) -> Option<Step> {
        match event {
            SessionEvent::ConnectRequest {
                app,
                tc_url,
                flash_ver,
                command_object,
                ..
            } => {
                let info = ConnectInfo {
                    connection_id: self.id,
                    peer: self.peer,
                    local_port: self.local_port,
                    app,
                    tc_url,
                    flash_ver,
                    user: None,
                    accepted_by: None,
                    brake_served: false,
                    command_object,
                };
                self.decide_connect(info, now)
            }
            SessionEvent::PublishRequest {
                stream_id,
                stream_key,
                publish_type,
            } => self.on_publish(stream_id, &stream_key, publish_type.as_deref(), now),
            SessionEvent::Audio {
                stream_id,
                timestamp,
                payload,
            } => {
                self.last_media = now;
                self.media(stream_id, MediaMessage::Audio { timestamp, payload })
            }
            SessionEvent::Video {
                stream_id,
                timestamp,
                payload,
            } => {
                self.last_media = now;
                self.media(stream_id, MediaMessage::Video { timestamp, payload })
            }
            SessionEvent::Metadata {
                stream_id, values, ..
            } => self.media(stream_id, MediaMessage::Metadata { values }),
            SessionEvent::Unpublish { stream_id } if self.publishing_stream == Some(stream_id) => {
                self.publishing_stream = None;
                self.finish_publisher(CloseReason::PeerClosed);
                None
            }
            _ => None,
        }
    }

    /// A later answer that came: acted on as if it had been given at once.
    fn take_answer(&mut self, now: Instant) -> Option<Step> {
        let waiting = self.waiting.take()?;
        match waiting {
            Waiting::Connect(info, deferred) => match deferred.poll() {
                Polled::Pending => {
                    self.waiting = Some(Waiting::Connect(info, deferred));
                    Some(Step::Waiting)
                }
                Polled::Ready(verdict) => self.apply_connect(info, verdict, now),
                Polled::Abandoned => {
                    let rejection = Rejection {
                        code: "NetConnection.Connect.Rejected",
                        description: "the connect could not be decided".into(),
                        reason: RefusalReason::AuthServiceUnavailable,
                    };
                    self.apply_connect(info, ConnectVerdict::Reject(rejection), now)
                }
            },
            Waiting::Publish(stream_id, deferred) => match deferred.poll() {
                Polled::Pending => {
                    self.waiting = Some(Waiting::Publish(stream_id, deferred));
                    Some(Step::Waiting)
                }
                Polled::Ready(verdict) => self.apply_publish(stream_id, verdict, now),
                Polled::Abandoned => self.refuse_publish(
                    stream_id,
                    Rejection {
                        code: "NetStream.Publish.Denied",
                        description: "the publish could not be decided".into(),
                        reason: RefusalReason::AuthServiceUnavailable,
                    },
                ),
            },
        }
    }

    fn wake_on_answer<T>(&self, deferred: &Deferred<T>) {
        if let Some(wake) = self.wake.clone() {
            deferred.on_ready(Box::new(move || wake()));
        }
    }

    fn decide_connect(&mut self, info: ConnectInfo, now: Instant) -> Option<Step> {
        let verdict = self.handler.connect(&info);
        self.apply_connect(info, verdict, now)
    }

    fn apply_connect(
        &mut self,
        mut info: ConnectInfo,
        verdict: ConnectVerdict,
        now: Instant,
    ) -> Option<Step> {
        match verdict {
            ConnectVerdict::Later(deferred) => {
                self.wake_on_answer(&deferred);
                self.waiting = Some(Waiting::Connect(info, deferred));
                Some(Step::Waiting)
            }
            ConnectVerdict::Accept(accepted) => {
                info.user = accepted.user;
                info.accepted_by = accepted.accepted_by;
                self.session.accept_connect(accepted.extra_properties);
                self.info = Some(info);
                self.connected = true;
                None
            }
            ConnectVerdict::Reject(rejection) => {
                self.session
                    .reject_connect(rejection.code, &rejection.description);
                self.info = Some(info);
                Some(Step::Close(CloseReason::ProtocolError))
            }
            ConnectVerdict::Delay(delay) => {
                let until = now + delay.min(Duration::from_secs(60));
                self.delayed = Some((info, until));
                Some(Step::Delayed(until))
            }
        }
    }

    fn on_publish(
        &mut self,
        stream_id: u32,
        stream_key: &str,
        publish_type: Option<&str>,
        now: Instant,
    ) -> Option<Step> {
        let Some(info) = self.info.as_ref().filter(|_| self.connected) else {
            // The session only lets publish through after connect; be defensive all the same.
            return self.refuse_publish(
                stream_id,
                Rejection {
                    code: "NetStream.Publish.Denied",
                    description: "publish before connect".into(),
                    reason: RefusalReason::Protocol,
                },
            );
        };
        if self.publisher.is_some() {
            return self.refuse_publish(
                stream_id,
                Rejection {
                    code: "NetStream.Publish.BadName",
                    description: "this connection is already publishing".into(),
                    reason: RefusalReason::AlreadyPublishing,
                },
            );
        }
        let verdict = self.handler.publish(info, stream_key, publish_type);
        self.apply_publish(stream_id, verdict, now)
    }

    fn apply_publish(
        &mut self,
        stream_id: u32,
        verdict: PublishVerdict,
        now: Instant,
    ) -> Option<Step> {
        match verdict {
            PublishVerdict::Accept(mut publisher) => {
                self.session.accept_publish(stream_id);
                // What its report says about the connection is known from the start.
                publisher.observe_session(&self.session.observations());
                self.publisher = Some(publisher);
                self.publishing_stream = Some(stream_id);
                // A publisher without media is dropped `timeout` after publishing.
                self.last_media = now;
                None
            }
            PublishVerdict::Reject(rejection) => self.refuse_publish(stream_id, rejection),
            PublishVerdict::Later(deferred) => {
                self.wake_on_answer(&deferred);
                self.waiting = Some(Waiting::Publish(stream_id, deferred));
                Some(Step::Waiting)
            }
        }
    }

    fn refuse_publish(&mut self, stream_id: u32, rejection: Rejection) -> Option<Step> {
        self.session
            .reject_publish(stream_id, rejection.code, &rejection.description);
        Some(Step::Close(CloseReason::ProtocolError))
    }

    fn media(&mut self, stream_id: u32, message: MediaMessage) -> Option<Step> {
        if self.publishing_stream != Some(stream_id) {
            // Media on a stream that is not publishing (before publish, or after unpublish).
            return None;
        }
        let publisher = self.publisher.as_mut()?;
        publisher.media(message).err().map(Step::Close)
    }
}
