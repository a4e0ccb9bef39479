// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A bound RTMP port: its front door (one event loop thread, see front_door.rs) and the
//! registry of its connections, whoever drives them.
//!
//! The socket is bound early (so `bound-port` is known in READY) and accepting starts and stops
//! separately, because a pipeline goes READY→PAUSED→READY without releasing its port.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use super::front_door::{FrontDoor, WAKER};
use super::handler::{IngestHandler, RefusalReason};
use super::proxy_header::ProxyPolicy;
use crate::rtmp::SessionConfig;
use crate::CAT;

/// Connection ids are unique in the process, not per listener: an element on a plain and a TLS
/// port closes its publisher by id on both, and must not hit another connection there.
pub(super) static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(2);

/// How long stopping waits for connections to wind down (they are shut down first, so this is
/// only reached if a handler hangs).
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Limits and timings of the socket layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A peer that sends nothing for this long (handshake included) is dropped.
    pub timeout: Duration,
    /// A connection must be publishing within this long of being accepted (handshake, connect
    /// and publish), so half-open and slow-loris peers cannot hold a slot with a trickle of bytes.
    pub publish_deadline: Duration,
    /// At most this many connections at once; more are closed right after accept.
    pub max_connections: usize,
    /// At most this many connections from one IP address (0 = no limit).
    pub max_per_address: usize,
    /// Bytes that all connections not streaming media may hold together (input and partial
    /// messages); past it the newest stranger is closed.
    pub max_untrusted_bytes: usize,
    /// Protocol limits handed to each session.
    pub session: SessionConfig,
    /// PROXY protocol: which peers are load balancers that begin with a header.
    pub proxy: Option<ProxyPolicy>,
}

const LISTEN_BACKLOG: i32 = 1024;

/// Who drives a connection.
pub(super) enum Owner {
    /// The front door's event loop.
    FrontDoor,
    /// A publisher thread of its own.
    Thread(JoinHandle<()>),
}

struct Entry {
    /// The socket's descriptor, so stopping and eviction can shut it down whoever drives it.
    /// Not a duplicate (that would double the descriptors per connection): its owner removes
    /// the entry before closing the socket, and it is only used under the registry's lock, so
    /// it never names a reused descriptor.
    fd: RawFd,
    ip: IpAddr,
    owner: Owner,
    thread_id: Option<ThreadId>,
}

/// State shared by the front door, the publisher threads and the owner.
pub(super) struct Shared {
    pub stopping: AtomicBool,
    entries: Mutex<HashMap<u64, Entry>>,
    /// Signalled when an entry goes away.
    gone: Condvar,
    /// Connections of the front door to close (it is woken for them).
    kicked: Mutex<Vec<u64>>,
    /// Connections of the front door to drive again: a later answer came, or their publisher
    /// has something to send (it is woken for them).
    resumed: Mutex<Vec<u64>>,
    /// The port takes new connections (false while every element on it drains).
    pub accepting: AtomicBool,
    /// A new listening socket for the front door (accepting again after a drain).
    replacement: Mutex<Option<TcpListener>>,
    waker: mio::Waker,
    /// The front door's thread.
    loop_thread: Mutex<Option<ThreadId>>,
}

impl Shared {
    fn entries(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection if the limits allow it; otherwise says which limit.
    pub(super) fn admit(
        &self,
        id: u64,
        stream: &TcpStream,
        peer: SocketAddr,
        config: &ServerConfig,
        count_address: bool,
    ) -> Result<(), RefusalReason> {
        let mut entries = self.entries();
        if entries.len() >= config.max_connections {
            return Err(RefusalReason::MaxConnections);
        }
        if count_address && Self::address_full(&entries, id, peer.ip(), config) {
            return Err(RefusalReason::MaxConnectionsPerAddress);
        }
        entries.insert(
            id,
            Entry {
                fd: stream.as_raw_fd(),
                ip: peer.ip(),
                owner: Owner::FrontDoor,
                thread_id: None,
            },
        );
        Ok(())
    }

    fn address_full(
        entries: &HashMap<u64, Entry>,
        id: u64,
        ip: IpAddr,
        config: &ServerConfig,
    ) -> bool {
        config.max_per_address > 0
            && entries
                .iter()
                .filter(|(other, e)| **other != id && e.ip == ip)
                .count()
                >= config.max_per_address
    }

    /// Connection `id` speaks for `ip` (its PROXY header said so): counted under that address
    /// from now on, if the per-address limit allows.
    pub(super) fn readdress(
        &self,
        id: u64,
        ip: IpAddr,
        config: &ServerConfig,
    ) -> Result<(), RefusalReason> {
        let mut entries = self.entries();
        if Self::address_full(&entries, id, ip, config) {
            return Err(RefusalReason::MaxConnectionsPerAddress);
        }
        if let Some(entry) = entries.get_mut(&id) {
            entry.ip = ip;
        }
        Ok(())
    }

    /// Drive connection `id` again on the front door (a later answer came).
    pub(super) fn resume(&self, id: u64) {
        self.resumed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
        let _ = self.waker.wake();
    }

    pub(super) fn take_resumed(&self) -> Vec<u64> {
        std::mem::take(&mut *self.resumed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) fn take_replacement(&self) -> Option<TcpListener> {
        self.replacement
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    pub(super) fn set_owner(&self, id: u64, owner: Owner) {
        if let Some(entry) = self.entries().get_mut(&id) {
            entry.thread_id = match &owner {
                Owner::Thread(handle) => Some(handle.thread().id()),
                Owner::FrontDoor => None,
            };
            entry.owner = owner;
        }
    }

    /// The connection is gone. Call it before its socket is closed (see `Entry::fd`).
    pub(super) fn forget(&self, id: u64) {
        self.entries().remove(&id);
        self.gone.notify_all();
    }

    /// Forgets connection `id` when the returned guard drops, also when its thread panics:
    /// declare it after the socket, so it drops first.
    pub(super) fn thread_guard(self: &Arc<Self>, id: u64) -> ThreadGuard {
        ThreadGuard {
            shared: self.clone(),
            id,
        }
    }

    pub(super) fn take_kicked(&self) -> Vec<u64> {
        std::mem::take(&mut *self.kicked.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn on_loop_thread(&self) -> bool {
        *self.loop_thread.lock().unwrap_or_else(|e| e.into_inner())
            == Some(std::thread::current().id())
    }

    /// Shuts connection `id` down (a publisher thread sees its read end; the front door is
    /// woken to close it). Returns whether it exists.
    fn kick(&self, id: u64) -> bool {
        let entries = self.entries();
        let Some(entry) = entries.get(&id) else {
            return false;
        };
        entry.shutdown();
        if matches!(entry.owner, Owner::FrontDoor) {
            drop(entries);
            self.kicked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id);
            let _ = self.waker.wake();
        }
        true
    }

    /// Waits until connection `id` is gone (or `until`).
    fn wait_gone(&self, id: u64, until: Instant) {
        let mut entries = self.entries();
        while entries.contains_key(&id) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                gst::warning!(CAT, "connection {id} did not close in time");
                return;
            }
            entries = self
                .gone
                .wait_timeout(entries, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether waiting for connection `id` from this thread would wait for ourselves.
    fn is_own(&self, id: u64) -> bool {
        let current = std::thread::current().id();
        let (claimed_by, on_front_door) = match self.entries().get(&id) {
            Some(entry) => (
                entry.thread_id,
                matches!(entry.owner, Owner::FrontDoor) && entry.thread_id.is_none(),
            ),
            None => return false,
        };
        claimed_by == Some(current) || (on_front_door && self.on_loop_thread())
    }

    /// Called first thing on a publisher thread: the connection is its own from now on, even
    /// before the front door has recorded the thread's handle.
    pub(super) fn claim(&self, id: u64) {
        if let Some(entry) = self.entries().get_mut(&id) {
            entry.thread_id = Some(std::thread::current().id());
        }
    }
}

/// See [`Shared::thread_guard`].
pub(super) struct ThreadGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        if let Some(entry) = self.shared.entries().get(&self.id) {
            entry.shutdown();
        }
        self.shared.forget(self.id);
    }
}

impl Entry {
    /// Wakes whoever reads or writes the socket: reads return 0, writes fail.
    fn shutdown(&self) {
        // SAFETY: `fd` is open while the entry exists (see `Entry::fd`), and callers hold the
        // registry's lock; shutdown(2) does not close it.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }
}

/// A bound RTMP port.
pub struct Listener {
    socket: TcpListener,
    local_addr: SocketAddr,
    /// The listening socket was shut down (drain): new connects are refused by the kernel.
    paused: bool,
    shared: Option<Arc<Shared>>,
    front_door: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds `address:port` (port 0 picks a free one).
    pub fn bind(address: &str, port: u16) -> io::Result<Self> {
        let ip: IpAddr = address.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{address}' is not an IP address"),
            )
        })?;
        let socket = Self::listen(SocketAddr::new(ip, port))?;
        let local_addr = socket.local_addr()?;
        Ok(Listener {
            socket,
            local_addr,
            paused: false,
            shared: None,
            front_door: None,
        })
    }

    fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        // Encoders reconnect in bursts after a network blip; a short backlog would drop their
        // handshakes into SYN retransmission back-off (seconds).
        socket.listen(LISTEN_BACKLOG)?;
        Ok(socket.into())
    }

    /// Stops or resumes taking new connections; connections already open are not touched.
    ///
    /// Stopping shuts the listening socket down, so the kernel refuses new connects at once (a
    /// load balancer's TCP health check then sees this machine down; an idle listener would
    /// still complete handshakes from its backlog). A shut-down socket cannot listen again, so
    /// resuming binds a new one on the same port and hands it to the front door.
    pub fn set_accepting(&mut self, accepting: bool) -> io::Result<()> {
        if accepting != self.paused {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            shared.accepting.store(accepting, Ordering::SeqCst);
        }
        if !accepting {
            // SAFETY: shutdown(2) on a descriptor this struct owns; no memory is involved.
            unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RD) };
            self.paused = true;
            gst::info!(CAT, "port {} stopped accepting", self.local_addr.port());
            return Ok(());
        }
        let socket = Self::listen(self.local_addr)?;
        if let Some(shared) = &self.shared {
            *shared.replacement.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(socket.try_clone()?);
            let _ = shared.waker.wake();
        }
        self.socket = socket;
        self.paused = false;
        gst::info!(CAT, "port {} accepts again", self.local_addr.port());
        Ok(())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts accepting connections, driven by `handler`. With `tls`, every connection is
    /// RTMPS.
    pub fn start(
        &mut self,
        config: ServerConfig,
        handler: Arc<dyn IngestHandler>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<()> {
        if self.shared.is_some() {
            return Ok(());
        }
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            entries: Mutex::new(HashMap::new()),
            gone: Condvar::new(),
            kicked: Mutex::new(Vec::new()),
            resumed: Mutex::new(Vec::new()),
            accepting: AtomicBool::new(!self.paused),
            replacement: Mutex::new(None),
            waker,
            loop_thread: Mutex::new(None),
        });
        let front_door = FrontDoor::new(
            poll,
            self.socket.try_clone()?,
            config,
            handler,
            tls,
            shared.clone(),
        )?;
        let handle = std::thread::Builder::new()
            .name(format!("rtmp-door-{}", self.local_addr.port()))
            // The application's connect/publish signal handlers run on it.
            .stack_size(2 * 1024 * 1024)
            .spawn(move || front_door.run())?;
        *shared.loop_thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.thread().id());
        self.shared = Some(shared);
        self.front_door = Some(handle);
        Ok(())
    }

    /// Stops accepting, closes every connection and waits for them (not for the calling
    /// thread's own connection, if it is one). The port stays bound.
    pub fn stop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.stopping.store(true, Ordering::SeqCst);
        let _ = shared.waker.wake();
        if let Some(handle) = self.front_door.take() {
            if handle.thread().id() == std::thread::current().id() {
                // Dropped from a handler on the front door itself: it exits on its own.
            } else {
                let _ = handle.join();
            }
        }
        // Shutting the sockets down makes blocked reads and writes return at once.
        let current = std::thread::current().id();
        let threads: Vec<JoinHandle<()>> = {
            let mut entries = shared.entries();
            for entry in entries.values() {
                entry.shutdown();
            }
            entries
                .values_mut()
                .filter_map(
                    |e| match std::mem::replace(&mut e.owner, Owner::FrontDoor) {
                        Owner::Thread(h) if h.thread().id() != current => Some(h),
                        _ => None,
                    },
                )
                .collect()
        };
        let deadline = Instant::now() + STOP_WAIT;
        for handle in threads {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                gst::warning!(CAT, "a publisher thread did not stop in time");
            }
        }
    }

    /// A handle that closes this port's connections, to use without holding whatever lock
    /// guards the listener (closing waits for the front door, which may be deciding a publish
    /// that needs that lock).
    pub fn connections(&self) -> Option<Connections> {
        self.shared.clone().map(Connections)
    }

    /// Number of connections currently open.
    #[cfg(test)]
    pub fn connection_count(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.entries().len())
    }
}

/// See [`Listener::connections`].
pub struct Connections(Arc<Shared>);

impl Connections {
    /// Closes one connection and waits until it is gone, e.g. the publisher of an element that
    /// leaves a shared port. Called from that connection's own thread (a handler changing the
    /// pipeline's state), it only shuts the socket down: waiting would be waiting for itself.
    pub fn close(&self, id: u64) {
        let own = self.0.is_own(id);
        if self.0.kick(id) && !own {
            self.0.wait_gone(id, Instant::now() + STOP_WAIT);
        }
    }

    /// Shuts connection `id` down without waiting (a silent publisher just replaced).
    pub fn kick(&self, id: u64) {
        self.0.kick(id);
    }

    /// Has the front door drive connection `id` again, if it drives it (its publisher has
    /// something to send, e.g. a reconnect request). Publisher threads look by themselves.
    pub fn resume(&self, id: u64) {
        self.0.resume(id);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}
