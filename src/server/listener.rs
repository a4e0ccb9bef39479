// SPDX-License-Identifier: MPL-2.0
//! The listening socket and the registry of connection threads.
//!
//! The socket is bound early (so `bound-port` is known in READY) and accepting starts and stops
//! separately, because a pipeline goes READY→PAUSED→READY without releasing its port.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::connection;
use super::handler::IngestHandler;
use super::transport::Transport;
use crate::rtmp::SessionConfig;

/// Connection ids are unique in the process, not per listener: an element on a plain and a TLS
/// port closes its publisher by id on both, and must not hit another connection there.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);
/// Stack of a connection thread (see where it is spawned).
const CONNECTION_STACK_SIZE: usize = 8 * 1024 * 1024;
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
    /// Protocol limits handed to each session.
    pub session: SessionConfig,
}

const LISTEN_BACKLOG: i32 = 1024;

/// State shared by the accept thread, the connection threads and the owner.
pub(super) struct Shared {
    pub stopping: AtomicBool,
    /// Clones of live connection sockets, so `stop` can shut them down and wake their reads,
    /// with the peer address for the per-address limit.
    streams: Mutex<HashMap<u64, (TcpStream, IpAddr)>>,
    threads: Mutex<HashMap<u64, JoinHandle<()>>>,
}

impl Shared {
    pub(super) fn forget(&self, id: u64) {
        if let Ok(mut streams) = self.streams.lock() {
            streams.remove(&id);
        }
    }
}

/// A bound RTMP port.
pub struct Listener {
    socket: TcpListener,
    local_addr: SocketAddr,
    shared: Option<Arc<Shared>>,
    accept_thread: Option<JoinHandle<()>>,
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
        let addr = SocketAddr::new(ip, port);
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
        let socket: TcpListener = socket.into();
        let local_addr = socket.local_addr()?;
        Ok(Listener {
            socket,
            local_addr,
            shared: None,
            accept_thread: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts accepting connections; each gets its own thread driven by `handler`.
    /// With `tls`, every connection is RTMPS.
    pub fn start(
        &mut self,
        config: ServerConfig,
        handler: Arc<dyn IngestHandler>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<()> {
        if self.shared.is_some() {
            return Ok(());
        }
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
            threads: Mutex::new(HashMap::new()),
        });
        let socket = self.socket.try_clone()?;
        let thread_shared = shared.clone();
        let local_port = self.local_addr.port();
        let handle = std::thread::Builder::new()
            .name(format!("rtmp-accept-{local_port}"))
            .spawn(move || accept_loop(socket, local_port, config, handler, tls, thread_shared))?;
        self.shared = Some(shared);
        self.accept_thread = Some(handle);
        Ok(())
    }

    /// Stops accepting, closes every connection and joins all threads. The port stays bound.
    pub fn stop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.stopping.store(true, Ordering::SeqCst);
        // A blocking accept() only returns on a connection: make one to wake it.
        let _ =
            TcpStream::connect_timeout(&wake_address(self.local_addr), Duration::from_millis(200));
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
        // Shutting the sockets down makes blocked reads and writes return at once.
        if let Ok(streams) = shared.streams.lock() {
            for (stream, _) in streams.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        let threads = shared
            .threads
            .lock()
            .map(|mut threads| std::mem::take(&mut *threads))
            .unwrap_or_default();
        for handle in threads.into_values() {
            let _ = handle.join();
        }
    }

    /// Closes one connection and waits for its thread, e.g. the publisher of an element that
    /// leaves a shared port. Must not be called from that connection's own thread.
    pub fn close_connection(&self, id: u64) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        if let Ok(streams) = shared.streams.lock() {
            if let Some((stream, _)) = streams.get(&id) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        let handle = shared.threads.lock().ok().and_then(|mut t| t.remove(&id));
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Number of connections currently open.
    pub fn connection_count(&self) -> usize {
        self.shared
            .as_ref()
            .and_then(|s| s.streams.lock().ok().map(|s| s.len()))
            .unwrap_or(0)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach our own listener, also when it is bound to a wildcard address.
fn wake_address(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

fn accept_loop(
    socket: TcpListener,
    local_port: u16,
    config: ServerConfig,
    handler: Arc<dyn IngestHandler>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
) {
    loop {
        let accepted = socket.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                gst::warning!(crate::CAT, "accept failed: {err}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        let Ok(registry_clone) = stream.try_clone() else {
            continue;
        };
        {
            let Ok(mut streams) = shared.streams.lock() else {
                return;
            };
            if streams.len() >= config.max_connections {
                drop(streams);
                gst::warning!(
                    crate::CAT,
                    "refusing connection from {peer}: {} connections already open",
                    config.max_connections
                );
                handler.connection_refused(peer, "max-connections");
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            if config.max_per_address > 0 {
                let from_peer = streams.values().filter(|(_, ip)| *ip == peer.ip()).count();
                if from_peer >= config.max_per_address {
                    drop(streams);
                    gst::warning!(
                        crate::CAT,
                        "refusing connection from {peer}: {from_peer} connections from that address"
                    );
                    handler.connection_refused(peer, "max-connections-per-address");
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
            }
            streams.insert(id, (registry_clone, peer.ip()));
        }
        let thread_shared = shared.clone();
        let thread_handler = handler.clone();
        let thread_config = config.clone();
        let thread_tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rtmp-conn-{id}"))
            // Downstream elements up to the first queue run on this thread (it pushes on the
            // element's pads): the stack GStreamer's own streaming threads get. Address space
            // only; untouched pages cost no memory.
            .stack_size(CONNECTION_STACK_SIZE)
            .spawn(move || {
                match Transport::new(stream, thread_tls.as_ref()) {
                    Ok(transport) => connection::run(
                        transport,
                        id,
                        peer,
                        local_port,
                        &thread_config,
                        &*thread_handler,
                        &thread_shared,
                    ),
                    Err(err) => gst::warning!(crate::CAT, "TLS setup for {peer} failed: {err}"),
                }
                thread_shared.forget(id);
            });
        match spawned {
            Ok(handle) => {
                if let Ok(mut threads) = shared.threads.lock() {
                    // Reap finished threads so the map does not grow with every connection.
                    threads.retain(|_, t| !t.is_finished());
                    threads.insert(id, handle);
                }
            }
            Err(err) => {
                shared.forget(id);
                gst::warning!(crate::CAT, "cannot start a connection thread: {err}");
            }
        }
    }
}
