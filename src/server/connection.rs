// SPDX-License-Identifier: MPL-2.0
//! One connection's thread: reads bytes, feeds the sans-IO session, acts on its events, writes
//! its replies. All per-connection state lives here, on this thread, without locks.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::handler::{CloseReason, ConnectInfo, IngestHandler, MediaMessage, Publisher, Rejection};
use super::listener::{ServerConfig, Shared};
use super::transport::Transport;
use crate::rtmp::{ServerSession, SessionEvent};
use crate::CAT;

/// How often a blocked read wakes up to check the stop flag, timeouts and the publisher's timers.
const TICK: Duration = Duration::from_millis(50);

/// Read size once media flows: large reads keep syscalls per media second low.
const READ_CHUNK: usize = 64 * 1024;
/// Read size before that.
const HANDSHAKE_READ_CHUNK: usize = 4 * 1024;

struct Connection<'a> {
    id: u64,
    peer: SocketAddr,
    local_port: u16,
    handler: &'a dyn IngestHandler,
    session: ServerSession,
    info: Option<ConnectInfo>,
    publishing_stream: Option<u32>,
    publisher: Option<Box<dyn Publisher>>,
    /// Set once we sent a refusal: flush it, then close.
    closing: Option<CloseReason>,
    /// Media arrived in the last `feed` (for the idle timeout of a publisher).
    media_seen: bool,
}

pub(super) fn run(
    mut stream: Transport,
    id: u64,
    peer: SocketAddr,
    local_port: u16,
    config: &ServerConfig,
    handler: &dyn IngestHandler,
    shared: &Shared,
) {
    let _ = stream.tcp().set_nodelay(true);
    let _ = stream
        .tcp()
        .set_read_timeout(Some(TICK.min(config.timeout)));
    let _ = stream.tcp().set_write_timeout(Some(config.timeout));
    gst::debug!(CAT, "connection {id} from {peer}");
    handler.connection_opened(peer);

    let mut conn = Connection {
        id,
        peer,
        local_port,
        handler,
        session: ServerSession::new(config.session.clone()),
        info: None,
        publishing_stream: None,
        publisher: None,
        closing: None,
        media_seen: false,
    };
    // Small until the peer publishes: idle and hostile connections stay cheap.
    let mut read_size = HANDSHAKE_READ_CHUNK;
    let accepted_at = Instant::now();
    let mut last_data = accepted_at;
    let mut last_media = accepted_at;

    let reason = loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break CloseReason::Shutdown;
        }
        // Checked on every pass, not only when the socket is quiet: a peer trickling a byte at a
        // time must not escape the deadlines.
        if let Some(reason) = conn.overdue(Instant::now(), accepted_at, last_media, config) {
            break reason;
        }
        // Straight into the session's input buffer: the kernel's copy is the only one before
        // chunk reassembly.
        match conn.session.read_from(read_size, &mut stream) {
            Ok(0) => break CloseReason::PeerClosed,
            Ok(_) => {
                last_data = Instant::now();
                let outcome = conn.feed();
                if conn.media_seen {
                    conn.media_seen = false;
                    last_media = last_data;
                    read_size = READ_CHUNK;
                }
                if let Err(reason) = conn.flush(&mut stream) {
                    break reason;
                }
                if let Err(reason) = outcome {
                    break reason;
                }
                if let Some(reason) = conn.closing {
                    break reason;
                }
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let now = Instant::now();
                if now.duration_since(last_data) >= config.timeout {
                    gst::warning!(CAT, "dropping {peer}: no data for {:?}", config.timeout);
                    break CloseReason::Timeout;
                }

                if let Some(publisher) = conn.publisher.as_mut() {
                    if let Err(reason) = publisher.tick(now) {
                        break reason;
                    }
                }
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => {
                if !shared.stopping.load(Ordering::SeqCst) {
                    gst::info!(CAT, "connection {id} from {peer}: {err}");
                }
                break if shared.stopping.load(Ordering::SeqCst) {
                    CloseReason::Shutdown
                } else {
                    CloseReason::NetworkError
                };
            }
        }
    };

    gst::debug!(
        CAT,
        "connection {id} from {peer} closed: {}",
        reason.as_str()
    );
    if let Some(publisher) = conn.publisher.take() {
        publisher.finish(reason);
    }
    handler.connection_closed(conn.info.as_ref(), peer, reason);
    if let Transport::Tls(tls) = &mut stream {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    let _ = stream.tcp().shutdown(std::net::Shutdown::Both);
}

impl Connection<'_> {
    /// Deadlines checked while the socket is quiet or trickling: a connection that is not
    /// publishing soon after accept, and a publisher that sends no media (only pings or acks).
    fn overdue(
        &self,
        now: Instant,
        accepted_at: Instant,
        last_media: Instant,
        config: &ServerConfig,
    ) -> Option<CloseReason> {
        if self.publisher.is_none() {
            if now.duration_since(accepted_at) >= config.publish_deadline {
                gst::warning!(
                    CAT,
                    "dropping {}: not publishing {:?} after connecting",
                    self.peer,
                    config.publish_deadline
                );
                return Some(CloseReason::Timeout);
            }
        } else if now.duration_since(last_media) >= config.timeout {
            gst::warning!(
                CAT,
                "dropping {}: no media for {:?}",
                self.peer,
                config.timeout
            );
            return Some(CloseReason::Timeout);
        }
        None
    }

    /// Processes what the last read added to the session's input.
    fn feed(&mut self) -> Result<(), CloseReason> {
        let events = self.session.process_buffered().map_err(|err| {
            gst::warning!(CAT, "closing {}: protocol error: {err}", self.peer);
            CloseReason::ProtocolError
        })?;
        for event in events {
            self.on_event(event)?;
            if self.closing.is_some() {
                break;
            }
        }
        Ok(())
    }

    fn flush(&mut self, stream: &mut Transport) -> Result<(), CloseReason> {
        let out = self.session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        // flush: with TLS the records are only sent to the socket then.
        stream
            .write_all(&out)
            .and_then(|()| stream.flush())
            .map_err(|err| {
                gst::info!(CAT, "write to {} failed: {err}", self.peer);
                CloseReason::NetworkError
            })
    }

    fn on_event(&mut self, event: SessionEvent) -> Result<(), CloseReason> {
        match event {
            SessionEvent::ConnectRequest {
                app,
                tc_url,
                flash_ver,
                command_object,
                ..
            } => {
                let mut info = ConnectInfo {
                    connection_id: self.id,
                    peer: self.peer,
                    local_port: self.local_port,
                    app,
                    tc_url,
                    flash_ver,
                    user: None,
                    accepted_by: None,
                    command_object,
                };
                match self.handler.connect(&info) {
                    Ok(accepted) => {
                        info.user = accepted.user;
                        info.accepted_by = accepted.accepted_by;
                        self.session.accept_connect(accepted.extra_properties);
                        self.info = Some(info);
                    }
                    Err(rejection) => {
                        self.session
                            .reject_connect(rejection.code, &rejection.description);
                        self.info = Some(info);
                        self.closing = Some(CloseReason::ProtocolError);
                    }
                }
            }
            SessionEvent::PublishRequest {
                stream_id,
                stream_key,
                publish_type,
            } => self.on_publish(stream_id, &stream_key, publish_type.as_deref()),
            SessionEvent::Audio {
                stream_id,
                timestamp,
                payload,
            } => {
                self.media_seen = true;
                self.media(stream_id, MediaMessage::Audio { timestamp, payload })?
            }
            SessionEvent::Video {
                stream_id,
                timestamp,
                payload,
            } => {
                self.media_seen = true;
                self.media(stream_id, MediaMessage::Video { timestamp, payload })?
            }
            SessionEvent::Metadata {
                stream_id,
                timestamp,
                values,
            } => self.media(stream_id, MediaMessage::Metadata { timestamp, values })?,
            SessionEvent::Unpublish { stream_id } if self.publishing_stream == Some(stream_id) => {
                self.publishing_stream = None;
                if let Some(publisher) = self.publisher.take() {
                    publisher.finish(CloseReason::PeerClosed);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_publish(&mut self, stream_id: u32, stream_key: &str, publish_type: Option<&str>) {
        let Some(info) = self.info.as_ref() else {
            // The session only lets publish through after connect; be defensive all the same.
            self.refuse_publish(
                stream_id,
                Rejection {
                    code: "NetStream.Publish.Denied",
                    description: "publish before connect".into(),
                    reason: "protocol",
                },
            );
            return;
        };
        if self.publisher.is_some() {
            self.refuse_publish(
                stream_id,
                Rejection {
                    code: "NetStream.Publish.BadName",
                    description: "this connection is already publishing".into(),
                    reason: "already-publishing",
                },
            );
            return;
        }
        match self.handler.publish(info, stream_key, publish_type) {
            Ok(publisher) => {
                self.session.accept_publish(stream_id);
                self.publisher = Some(publisher);
                self.publishing_stream = Some(stream_id);
            }
            Err(rejection) => self.refuse_publish(stream_id, rejection),
        }
    }

    fn refuse_publish(&mut self, stream_id: u32, rejection: Rejection) {
        self.session
            .reject_publish(stream_id, rejection.code, &rejection.description);
        self.closing = Some(CloseReason::ProtocolError);
    }

    fn media(&mut self, stream_id: u32, message: MediaMessage) -> Result<(), CloseReason> {
        if self.publishing_stream != Some(stream_id) {
            // Media on a stream that is not publishing (before publish, or after unpublish).
            return Ok(());
        }
        match self.publisher.as_mut() {
            Some(publisher) => publisher.media(message),
            None => Ok(()),
        }
    }
}
