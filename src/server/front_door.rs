// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The front door: one event loop per listening port for every connection that is not
//! streaming media yet. It accepts, applies the connection limits, and runs the handshake,
//! connect, authentication and publish negotiation of every stranger without a thread of its
//! own and without polling: sockets are non-blocking and registered with epoll (mio), and
//! deadlines (publish deadline, silence, brute-force brake delays) sit in a timer set that
//! decides how long the loop sleeps.
//!
//! Strangers run on a small budget: the session's untrusted chunk limits (32 KiB messages,
//! 8 chunk streams), AMF0 decoding bounded by its input, reads of at most [`READ_BUDGET`] bytes
//! per turn, no read buffer kept while idle, and a per-port cap on the bytes all of them hold
//! ([`ServerConfig::max_untrusted_bytes`]): past it, the newest connection whose connect was
//! not accepted is closed first.
//!
//! When an accepted publisher's first media message arrives, the connection (session, state
//! and the events not handled yet) moves to a thread of its own (publisher_thread.rs), which
//! may block on the element's queues.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::connection::{Connection, Step};
use super::handler::{CloseReason, IngestHandler, RefusalReason};
use super::listener::{Owner, ServerConfig, Shared, NEXT_CONNECTION_ID};
use super::proxy_header::{self, ProxyHeader, MAX_HEADER_BYTES};
use super::publisher_thread::{self, PUBLISHER_STACK_SIZE};
use super::transport::Transport;
use crate::CAT;

/// The listening socket's token; the waker's is [`WAKER`]; connections use their id.
const LISTENER: Token = Token(0);
pub(super) const WAKER: Token = Token(1);

/// Most bytes read from one connection per turn, so a fast stranger cannot hold the loop.
const READ_BUDGET: usize = 16 * 1024;

/// A connection the loop drives.
struct Pending {
    conn: Connection,
    stream: Transport,
    /// Plain-TCP output the socket did not take yet.
    out: Vec<u8>,
    /// The deadline it is filed under in the timer set.
    deadline: Instant,
    /// Registered for writable events too.
    wants_write: bool,
    /// A trusted proxy's connection: its PROXY header comes before anything else.
    awaiting_proxy_header: bool,
    /// The peer closed its side (an epoll event said so): a header still incomplete then
    /// never completes (peeking shows the same bytes, never the end of the stream).
    read_closed: bool,
}

pub(super) struct FrontDoor {
    poll: Poll,
    listener: TcpListener,
    local_port: u16,
    config: ServerConfig,
    handler: Arc<dyn IngestHandler>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
    conns: HashMap<u64, Pending>,
    timers: BTreeSet<(Instant, u64)>,
    /// Connections that had more to read when their turn's budget ran out.
    ready: VecDeque<u64>,
    /// Bytes held by all connections in the loop (input and partial messages).
    held: usize,
}

impl FrontDoor {
    pub fn new(
        poll: Poll,
        listener: TcpListener,
        config: ServerConfig,
        handler: Arc<dyn IngestHandler>,
        tls: Option<Arc<rustls::ServerConfig>>,
        shared: Arc<Shared>,
    ) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let local_port = listener.local_addr()?.port();
        poll.registry().register(
            &mut SourceFd(&listener.as_raw_fd()),
            LISTENER,
            Interest::READABLE,
        )?;
        Ok(FrontDoor {
            poll,
            listener,
            local_port,
            config,
            handler,
            tls,
            shared,
            conns: HashMap::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            held: 0,
        })
    }

    /// Runs until the owner stops the port.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.ready.is_empty() {
                self.timers
                    .first()
                    .map(|(t, _)| t.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() != ErrorKind::Interrupted {
                    gst::error!(CAT, "front door of port {}: {err}", self.local_port);
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {
                        self.close_kicked();
                        self.resume_waiting();
                        self.replace_listener();
                    }
                    Token(id) => {
                        let id = id as u64;
                        if event.is_writable() {
                            self.write_more(id);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            if event.is_read_closed() || event.is_error() {
                                if let Some(p) = self.conns.get_mut(&id) {
                                    p.read_closed = true;
                                }
                            }
                            self.turn(id);
                        }
                    }
                }
            }
            let again: Vec<u64> = self.ready.drain(..).collect();
            for id in again {
                self.turn(id);
            }
            self.fire_timers();
        }
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id, CloseReason::Shutdown);
        }
    }

    fn accept_all(&mut self) {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                // Shut down for a drain: nothing to accept until a new socket comes.
                Err(_) if !self.shared.accepting.load(Ordering::SeqCst) => return,
                Err(err) => {
                    // EMFILE and friends: the pending connection stays in the backlog; try
                    // again at the next event rather than spinning.
                    gst::warning!(CAT, "accept on port {} failed: {err}", self.local_port);
                    return;
                }
            };
            let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
            // A proxy's connections are counted under their client's address once its header
            // says which: the proxy's own address would put every client under one limit.
            let proxied = self
                .config
                .proxy
                .as_ref()
                .is_some_and(|policy| policy.is_proxy(peer.ip()));
            if let Err(reason) = self.shared.admit(id, &stream, peer, &self.config, !proxied) {
                gst::warning!(CAT, "refusing connection from {peer}: {}", reason.as_str());
                self.handler.connection_refused(peer, reason);
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            self.open(id, stream, peer, proxied);
        }
    }

    /// Swaps in the new listening socket of a port that accepts again after a drain.
    fn replace_listener(&mut self) {
        let Some(listener) = self.shared.take_replacement() else {
            return;
        };
        let registry = self.poll.registry();
        let _ = registry.deregister(&mut SourceFd(&self.listener.as_raw_fd()));
        let registered = listener.set_nonblocking(true).and_then(|()| {
            registry.register(
                &mut SourceFd(&listener.as_raw_fd()),
                LISTENER,
                Interest::READABLE,
            )
        });
        if let Err(err) = registered {
            gst::error!(CAT, "port {} cannot accept again: {err}", self.local_port);
        }
        self.listener = listener;
        // Connections may have queued before the socket was registered.
        self.accept_all();
    }

    fn open(&mut self, id: u64, stream: TcpStream, peer: std::net::SocketAddr, proxied: bool) {
        let _ = stream.set_nodelay(true);
        let fd = stream.as_raw_fd();
        let registered = stream.set_nonblocking(true).and_then(|()| {
            self.poll.registry().register(
                &mut SourceFd(&fd),
                Token(id as usize),
                Interest::READABLE,
            )
        });
        if let Err(err) = registered {
            gst::warning!(CAT, "cannot take connection from {peer}: {err}");
            // Forgotten before the socket is closed (at the end of this function).
            self.shared.forget(id);
            return;
        }
        let transport = match Transport::new(stream, self.tls.as_ref()) {
            Ok(transport) => transport,
            Err(err) => {
                gst::warning!(CAT, "TLS setup for {peer} failed: {err}");
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                // The socket was dropped with the failed transport: nobody knows this id yet,
                // so nothing can use the stale registry entry before it goes.
                self.shared.forget(id);
                return;
            }
        };
        let now = Instant::now();
        let mut conn = Connection::new(
            id,
            peer,
            self.local_port,
            self.handler.clone(),
            &self.config,
            now,
        );
        let shared = Arc::downgrade(&self.shared);
        conn.set_wake(Arc::new(move || {
            if let Some(shared) = shared.upgrade() {
                shared.resume(id);
            }
        }));
        gst::debug!(CAT, "connection {id} from {peer}");
        if !proxied {
            self.handler.connection_opened(peer);
        }
        let deadline = conn.deadline(&self.config);
        self.timers.insert((deadline, id));
        self.conns.insert(
            id,
            Pending {
                conn,
                stream: transport,
                out: Vec::new(),
                deadline,
                wants_write: false,
                awaiting_proxy_header: proxied,
                read_closed: false,
            },
        );
    }

    /// Reads a trusted proxy's PROXY header, without reading past it (the bytes after it are
    /// the client's, and with RTMPS they belong to TLS): the header is looked at with
    /// MSG_PEEK and only its own bytes are taken. `Ok(true)`: the header is in and the
    /// connection now speaks for its client; `Ok(false)`: more bytes are needed.
    fn read_proxy_header(&mut self, id: u64) -> Result<bool, CloseReason> {
        let Some(p) = self.conns.get_mut(&id) else {
            return Ok(false);
        };
        let proxy = p.conn.peer;
        let mut buf = [0u8; MAX_HEADER_BYTES];
        let n = match p.stream.tcp().peek(&mut buf) {
            Ok(0) => return Err(CloseReason::PeerClosed),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == ErrorKind::Interrupted => return Ok(false),
            Err(_) => return Err(CloseReason::NetworkError),
        };
        let parsed = match proxy_header::parse(&buf[..n]) {
            ProxyHeader::Incomplete if p.read_closed => {
                ProxyHeader::Invalid("the connection closed inside its PROXY header".to_string())
            }
            parsed => parsed,
        };
        let (length, client) = match parsed {
            ProxyHeader::Incomplete => return Ok(false),
            ProxyHeader::Complete { length, client } => (length, client),
            ProxyHeader::Invalid(why) => {
                gst::warning!(CAT, "closing connection from proxy {proxy}: {why}");
                self.handler
                    .connection_refused(proxy, RefusalReason::BadProxyHeader);
                return Err(CloseReason::ProtocolError);
            }
        };
        // The header's bytes are there (peeked), so this read takes exactly them.
        use std::io::Read;
        let mut header = vec![0u8; length];
        let mut tcp: &TcpStream = p.stream.tcp();
        if let Err(err) = tcp.read_exact(&mut header) {
            gst::info!(CAT, "connection from proxy {proxy}: {err}");
            return Err(CloseReason::NetworkError);
        }
        p.awaiting_proxy_header = false;
        // LOCAL (a health check) and unknown families speak for the proxy itself.
        let client = client.unwrap_or(proxy);
        if let Err(reason) = self.shared.readdress(id, client.ip(), &self.config) {
            gst::warning!(
                CAT,
                "refusing connection from {client} (via {proxy}): {}",
                reason.as_str()
            );
            self.handler.connection_refused(client, reason);
            return Err(CloseReason::ProtocolError);
        }
        p.conn.peer = client;
        gst::debug!(CAT, "connection {id} from {client} via proxy {proxy}");
        self.handler.connection_opened(client);
        Ok(true)
    }

    /// Reads what the connection sent (at most [`READ_BUDGET`]) and acts on it.
    fn turn(&mut self, id: u64) {
        if self.conns.get(&id).is_some_and(|p| p.awaiting_proxy_header) {
            match self.read_proxy_header(id) {
                Ok(true) => {}
                Ok(false) => return,
                Err(reason) => {
                    self.close(id, reason);
                    return;
                }
            }
        }
        let Some(p) = self.conns.get_mut(&id) else {
            return;
        };
        let held_before = p.conn.session.held_bytes();
        let mut buf = [0u8; 4096];
        let mut read = 0;
        let mut outcome: Result<bool, CloseReason> = Ok(false);
        while read < READ_BUDGET {
            match p.stream.read_nonblocking(&mut buf) {
                Ok(0) => {
                    outcome = Err(CloseReason::PeerClosed);
                    break;
                }
                Ok(n) => {
                    read += n;
                    let now = Instant::now();
                    // A panic in a handler (an application's signal handler) closes this
                    // connection, not the front door.
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        p.conn.take_input(Some(&buf[..n]), now)?;
                        Ok::<Step, CloseReason>(p.conn.drive(now, true))
                    }))
                    .unwrap_or_else(|_| {
                        gst::error!(CAT, "closing {}: a handler panicked", p.conn.peer);
                        Err(CloseReason::ProtocolError)
                    });
                    match result {
                        Ok(Step::NeedInput) | Ok(Step::Delayed(_)) | Ok(Step::Waiting) => {}
                        Ok(Step::Media) => {
                            outcome = Ok(true);
                            break;
                        }
                        Ok(Step::Close(reason)) | Err(reason) => {
                            outcome = Err(reason);
                            break;
                        }
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => {
                    gst::info!(CAT, "connection {id} from {}: {err}", p.conn.peer);
                    outcome = Err(CloseReason::NetworkError);
                    break;
                }
            }
        }
        // Replies (and TLS handshake records) go out now, or when the socket takes them.
        let out = p.conn.session.take_output();
        if let Err(err) = p.stream.write_nonblocking(&out, &mut p.out) {
            gst::info!(CAT, "write to {} failed: {err}", p.conn.peer);
            outcome = outcome.and(Err(CloseReason::NetworkError));
        }
        if read >= READ_BUDGET && matches!(outcome, Ok(false)) {
            self.ready.push_back(id);
        }
        p.conn.session.release_idle_buffer();
        let held_after = p.conn.session.held_bytes();
        self.held = (self.held + held_after).saturating_sub(held_before);
        match outcome {
            Err(reason) => self.close(id, reason),
            Ok(true) => self.hand_over(id),
            Ok(false) => {
                self.update_interest(id);
                self.reschedule(id);
                self.enforce_untrusted_cap();
            }
        }
    }

    fn write_more(&mut self, id: u64) {
        let Some(p) = self.conns.get_mut(&id) else {
            return;
        };
        if let Err(err) = p.stream.write_pending(&mut p.out) {
            gst::info!(CAT, "write to {} failed: {err}", p.conn.peer);
            self.close(id, CloseReason::NetworkError);
            return;
        }
        self.update_interest(id);
    }

    /// Asks for writable events only while output waits for the socket.
    fn update_interest(&mut self, id: u64) {
        let Some(p) = self.conns.get_mut(&id) else {
            return;
        };
        let wants = p.stream.has_pending_output(&p.out);
        if wants == p.wants_write {
            return;
        }
        let interest = if wants {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let fd = p.stream.tcp().as_raw_fd();
        if self
            .poll
            .registry()
            .reregister(&mut SourceFd(&fd), Token(id as usize), interest)
            .is_ok()
        {
            p.wants_write = wants;
        }
    }

    fn reschedule(&mut self, id: u64) {
        let Some(p) = self.conns.get_mut(&id) else {
            return;
        };
        // Never in the past: a timer that fired is filed again for later, not in a loop.
        let deadline = p
            .conn
            .deadline(&self.config)
            .max(Instant::now() + Duration::from_millis(1));
        if deadline != p.deadline {
            self.timers.remove(&(p.deadline, id));
            self.timers.insert((deadline, id));
            p.deadline = deadline;
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, id)) = self.timers.first() {
            if deadline > now {
                return;
            }
            self.timers.remove(&(deadline, id));
            let Some(p) = self.conns.get_mut(&id) else {
                continue;
            };
            // Mark it unfiled so reschedule files it again.
            p.deadline = now - Duration::from_nanos(1);
            if let Some(reason) = p.conn.overdue(now, &self.config) {
                self.close(id, reason);
                continue;
            }
            if let Err(reason) = p.conn.run_timers(now) {
                self.close(id, reason);
                continue;
            }
            // A brake delay ran out: decide the connect, go on with what followed it.
            self.drive_again(id, now);
        }
    }

    /// Drives a connection without new input: a delay ran out, a later answer came, or its
    /// publisher has something to send.
    fn drive_again(&mut self, id: u64, now: Instant) {
        let Some(p) = self.conns.get_mut(&id) else {
            return;
        };
        let step = catch_unwind(AssertUnwindSafe(|| p.conn.drive(now, true)))
            .unwrap_or(Step::Close(CloseReason::ProtocolError));
        let out = p.conn.session.take_output();
        let written = p.stream.write_nonblocking(&out, &mut p.out);
        match (step, written) {
            (_, Err(_)) => self.close(id, CloseReason::NetworkError),
            (Step::Close(reason), _) => self.close(id, reason),
            (Step::Media, _) => self.hand_over(id),
            _ => {
                self.update_interest(id);
                self.reschedule(id);
                // What the client sent while it waited was buffered, not read: read it now
                // (an edge-triggered socket says nothing new about bytes already there).
                self.ready.push_back(id);
            }
        }
    }

    /// Connections whose later answer came, or whose publisher wants to send something.
    fn resume_waiting(&mut self) {
        let now = Instant::now();
        for id in self.shared.take_resumed() {
            self.drive_again(id, now);
        }
    }

    /// Closes the connections that `close_connection` or eviction asked for.
    fn close_kicked(&mut self) {
        for id in self.shared.take_kicked() {
            if self.conns.contains_key(&id) {
                self.close(id, CloseReason::Shutdown);
            }
        }
    }

    /// Past the per-port cap on bytes held by connections in the loop, closes the newest
    /// connection whose connect was not accepted first, then the newest of the others.
    fn enforce_untrusted_cap(&mut self) {
        while self.held > self.config.max_untrusted_bytes {
            let victim = self
                .conns
                .iter()
                .filter(|(_, p)| p.conn.session.held_bytes() > 0)
                .max_by_key(|(id, p)| (!p.conn.connected, **id))
                .map(|(id, _)| *id);
            let Some(id) = victim else {
                self.held = 0;
                return;
            };
            gst::warning!(
                CAT,
                "closing {}: connections that are not publishing hold over {} bytes",
                self.conns[&id].conn.peer,
                self.config.max_untrusted_bytes
            );
            self.close(id, CloseReason::ProtocolError);
        }
    }

    fn remove(&mut self, id: u64) -> Option<Pending> {
        let p = self.conns.remove(&id)?;
        self.timers.remove(&(p.deadline, id));
        self.held = self.held.saturating_sub(p.conn.session.held_bytes());
        let fd = p.stream.tcp().as_raw_fd();
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        Some(p)
    }

    fn close(&mut self, id: u64, reason: CloseReason) {
        let Some(mut p) = self.remove(id) else {
            return;
        };
        // Whatever refusal the session wrote goes out first, if the socket takes it now.
        let out = p.conn.session.take_output();
        let _ = p.stream.write_nonblocking(&out, &mut p.out);
        let _ = catch_unwind(AssertUnwindSafe(|| p.conn.finish(reason)));
        publisher_thread::close(&mut p.stream);
        self.shared.forget(id);
    }

    /// The publisher's first media message is next: the connection gets a thread of its own.
    fn hand_over(&mut self, id: u64) {
        let Some(mut p) = self.remove(id) else {
            return;
        };
        if let Err(err) = p.stream.tcp().set_nonblocking(false) {
            gst::warning!(CAT, "closing {}: {err}", p.conn.peer);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                p.conn.finish(CloseReason::NetworkError)
            }));
            self.shared.forget(id);
            return;
        }
        // Replies the socket has not taken yet are written by the (blocking) thread.
        let pending_out = std::mem::take(&mut p.out);
        let (config, shared) = (self.config.clone(), self.shared.clone());
        let peer = p.conn.peer;
        // Handed over through a slot, so a failed spawn gives the connection back.
        let slot = Arc::new(std::sync::Mutex::new(Some(p)));
        let thread_slot = slot.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rtmp-pub-{id}"))
            .stack_size(PUBLISHER_STACK_SIZE)
            .spawn(move || {
                let Some(Pending { conn, stream, .. }) =
                    thread_slot.lock().ok().and_then(|mut p| p.take())
                else {
                    return;
                };
                publisher_thread::run(id, conn, stream, pending_out, config, shared);
            });
        match spawned {
            Ok(handle) => self.shared.set_owner(id, Owner::Thread(handle)),
            Err(err) => {
                gst::warning!(CAT, "cannot start a thread for publisher {peer}: {err}");
                let p = slot.lock().ok().and_then(|mut p| p.take());
                if let Some(mut p) = p {
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        p.conn.finish(CloseReason::NetworkError)
                    }));
                    self.shared.forget(id);
                    drop(p);
                } else {
                    self.shared.forget(id);
                }
            }
        }
    }
}
