// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The socket layer with a scripted handler and a real client over loopback: connections that
//! end badly (a panic, a close from their own thread, the port dropped from one of its own
//! threads) release everything and hang nothing; decisions answered later and PROXY headers
//! carry on where they stopped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

use super::listener::Connections;
use super::*;
use crate::rtmp::{Amf0Value, ChunkWriter, SessionConfig};

/// What the scripted publisher does with its first media message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnMedia {
    Panic,
    /// Closes its own connection through the listener's handle, from its own thread.
    CloseSelf,
    /// Drops the last reference to the listener, from its own thread.
    DropListener,
    /// Counts it and goes on.
    Count,
    /// Counts it, and asks its thread to deliver after each read: the first delivery's push
    /// does not return until `release` is set (a sink waiting for the next messages).
    StuckDelivery,
}

/// A delivery whose first push blocks until released.
#[derive(Default)]
struct StuckPush {
    release: std::sync::atomic::AtomicBool,
    calls: AtomicUsize,
    /// What `disarm` said when the stuck push returned.
    kept: Mutex<Option<bool>>,
    fall_backs: AtomicUsize,
}

impl Delivery for StuckPush {
    fn deliver(&self, watch: &PushWatch) -> bool {
        if self.calls.fetch_add(1, Ordering::SeqCst) > 0 {
            return true;
        }
        watch.arm();
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let kept = watch.disarm();
        *self.kept.lock().unwrap() = Some(kept);
        kept
    }

    fn fall_back(&self) {
        self.fall_backs.fetch_add(1, Ordering::SeqCst);
    }
}

struct Script {
    on_media: OnMedia,
    panic_on_connect: bool,
    listener: Mutex<Option<Listener>>,
    connections: Mutex<Option<Connections>>,
    closed: AtomicUsize,
    finished: AtomicUsize,
    /// How long the publisher's media call took (it must not hang).
    media_took: Mutex<Option<Duration>>,
    /// Answer connects from another thread after this long.
    connect_later: Option<Duration>,
    /// The address each connect came from.
    connect_peers: Mutex<Vec<std::net::SocketAddr>>,
    media: AtomicUsize,
    stuck: Arc<StuckPush>,
}

struct ScriptedPublisher {
    script: Arc<Script>,
    id: u64,
}

impl Publisher for ScriptedPublisher {
    fn media(&mut self, _message: MediaMessage) -> Result<(), CloseReason> {
        let start = Instant::now();
        match self.script.on_media {
            OnMedia::Panic => panic!("scripted panic in a publisher thread"),
            OnMedia::CloseSelf => {
                let connections = self.script.connections.lock().unwrap().take().unwrap();
                connections.close(self.id);
            }
            OnMedia::DropListener => {
                let listener = self.script.listener.lock().unwrap().take();
                drop(listener);
            }
            OnMedia::Count | OnMedia::StuckDelivery => {
                self.script.media.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
        }
        *self.script.media_took.lock().unwrap() = Some(start.elapsed());
        Ok(())
    }

    fn input_done(&mut self) -> Option<Arc<dyn Delivery>> {
        (self.script.on_media == OnMedia::StuckDelivery)
            .then(|| self.script.stuck.clone() as Arc<dyn Delivery>)
    }

    fn finish(self: Box<Self>, _reason: CloseReason) {
        self.script.finished.fetch_add(1, Ordering::SeqCst);
    }
}

struct Handler(Arc<Script>);

impl IngestHandler for Handler {
    fn connect(&self, info: &ConnectInfo) -> ConnectVerdict {
        if self.0.panic_on_connect {
            panic!("scripted panic in a connect decision");
        }
        self.0.connect_peers.lock().unwrap().push(info.peer);
        if let Some(after) = self.0.connect_later {
            let (waiting, answer) = deferred::<ConnectVerdict>();
            std::thread::spawn(move || {
                std::thread::sleep(after);
                answer.send(ConnectVerdict::Accept(ConnectAccepted::default()));
            });
            return ConnectVerdict::Later(waiting);
        }
        ConnectVerdict::Accept(ConnectAccepted::default())
    }

    fn publish(
        &self,
        info: &ConnectInfo,
        _stream_key: &str,
        _publish_type: Option<&str>,
    ) -> PublishVerdict {
        PublishVerdict::Accept(Box::new(ScriptedPublisher {
            script: self.0.clone(),
            id: info.connection_id,
        }))
    }

    fn connection_closed(&self, _: Option<&ConnectInfo>, _: std::net::SocketAddr, _: CloseReason) {
        self.0.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn start(on_media: OnMedia, panic_on_connect: bool) -> (Arc<Script>, u16) {
    start_with(on_media, panic_on_connect, None, None)
}

fn start_with(
    on_media: OnMedia,
    panic_on_connect: bool,
    connect_later: Option<Duration>,
    proxy: Option<ProxyPolicy>,
) -> (Arc<Script>, u16) {
    let script = Arc::new(Script {
        on_media,
        panic_on_connect,
        listener: Mutex::new(None),
        connections: Mutex::new(None),
        closed: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        media_took: Mutex::new(None),
        connect_later,
        connect_peers: Mutex::new(Vec::new()),
        media: AtomicUsize::new(0),
        stuck: Arc::default(),
    });
    let mut listener = Listener::bind("127.0.0.1", 0).unwrap();
    let port = listener.local_addr().port();
    let config = ServerConfig {
        timeout: Duration::from_secs(10),
        publish_deadline: Duration::from_secs(10),
        max_connections: 100,
        max_per_address: 100,
        max_untrusted_bytes: 1 << 20,
        session: SessionConfig::default(),
        proxy,
    };
    listener
        .start(config, Arc::new(Handler(script.clone())), None)
        .unwrap();
    *script.connections.lock().unwrap() = listener.connections();
    *script.listener.lock().unwrap() = Some(listener);
    (script, port)
}

/// A client that handshakes, connects, publishes and sends one audio message.
fn publish_one_message(port: u16) -> TcpStream {
    publish_one_message_after(port, b"")
}

/// As `publish_one_message`, with `prefix` (a PROXY header) sent first.
fn publish_one_message_after(port: u16, prefix: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(prefix).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut handshake = Handshake::new(PeerType::Client);
    stream
        .write_all(&handshake.generate_outbound_p0_and_p1().unwrap())
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        match handshake.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).unwrap()
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                stream.write_all(&response_bytes).unwrap();
                break;
            }
        }
    }
    let mut writer = ChunkWriter::new();
    let mut out = Vec::new();
    let command = |name: &str, txn: f64, obj: Amf0Value, args: Vec<Amf0Value>| {
        let mut payload = Vec::new();
        let mut values = vec![Amf0Value::string(name), Amf0Value::Number(txn), obj];
        values.extend(args);
        crate::rtmp::amf0::encode(&values, &mut payload);
        payload
    };
    let connect = command(
        "connect",
        1.0,
        Amf0Value::object([
            ("app", Amf0Value::string("app")),
            (
                "tcUrl",
                Amf0Value::string(format!("rtmp://127.0.0.1:{port}/app")),
            ),
        ]),
        vec![],
    );
    writer.write(3, 0, 20, 0, &connect, &mut out);
    let create = command("createStream", 2.0, Amf0Value::Null, vec![]);
    writer.write(3, 0, 20, 0, &create, &mut out);
    let publish = command(
        "publish",
        3.0,
        Amf0Value::Null,
        vec![Amf0Value::string("key"), Amf0Value::string("live")],
    );
    writer.write(8, 0, 20, 1, &publish, &mut out);
    // AAC sequence header.
    writer.write(4, 0, 8, 1, &[0xAF, 0x00, 0x11, 0x90], &mut out);
    stream.write_all(&out).unwrap();
    stream
}

/// Whether the server closed `stream` within `timeout` (reads until EOF).
fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => return true,
        }
    }
    false
}

fn wait_until(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

fn open_connections(script: &Script) -> usize {
    script
        .listener
        .lock()
        .unwrap()
        .as_ref()
        .map_or(0, |l| l.connection_count())
}

/// Publishes one message to a publisher scripted with `on_media`; returns how long its media
/// call took, once the connection is closed and the publish finished.
fn publish_and_time_media(on_media: OnMedia) -> Duration {
    let (script, port) = start(on_media, false);
    let mut client = publish_one_message(port);
    assert!(closed_within(&mut client, Duration::from_secs(5)));
    // The socket is shut down inside the media call, so the client may see that first.
    assert!(wait_until(Duration::from_secs(5), || script
        .media_took
        .lock()
        .unwrap()
        .is_some()));
    assert!(wait_until(Duration::from_secs(2), || script
        .finished
        .load(Ordering::SeqCst)
        == 1));
    let took = *script.media_took.lock().unwrap();
    took.expect("media was handled")
}

#[test]
fn a_panic_on_a_publisher_thread_releases_its_slot_and_socket() {
    let (script, port) = start(OnMedia::Panic, false);
    let mut client = publish_one_message(port);
    assert!(
        closed_within(&mut client, Duration::from_secs(5)),
        "socket left open"
    );
    assert!(wait_until(Duration::from_secs(2), || open_connections(
        &script
    ) == 0));
    // The publish was ended and the handler told, so the element's slot is free again.
    assert_eq!(script.finished.load(Ordering::SeqCst), 1);
    assert_eq!(script.closed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panic_in_a_connect_decision_closes_only_that_connection() {
    let (script, port) = start(OnMedia::Panic, true);
    let mut first = publish_one_message(port);
    assert!(closed_within(&mut first, Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(2), || open_connections(
        &script
    ) == 0));
    // The front door still takes connections.
    let mut second = publish_one_message(port);
    assert!(closed_within(&mut second, Duration::from_secs(5)));
    assert_eq!(script.closed.load(Ordering::SeqCst), 2);
}

#[test]
fn closing_a_connection_from_its_own_thread_does_not_wait_for_itself() {
    let took = publish_and_time_media(OnMedia::CloseSelf);
    assert!(
        took < Duration::from_millis(500),
        "close from own thread took {took:?}"
    );
}

#[test]
fn dropping_the_port_on_one_of_its_own_threads_does_not_join_itself() {
    let took = publish_and_time_media(OnMedia::DropListener);
    assert!(
        took < Duration::from_secs(1),
        "dropping the port took {took:?}"
    );
}

#[test]
fn a_connect_answered_later_goes_on_where_it_stopped() {
    let (script, port) = start_with(
        OnMedia::Count,
        false,
        Some(Duration::from_millis(300)),
        None,
    );
    // Everything up to the first media is sent at once: nothing after the connect may be
    // handled before its answer, and all of it is handled after.
    let started = Instant::now();
    let _client = publish_one_message(port);
    assert!(wait_until(Duration::from_secs(5), || script
        .media
        .load(Ordering::SeqCst)
        == 1));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(script.closed.load(Ordering::SeqCst), 0);
}

#[test]
fn a_proxy_header_speaks_for_the_client() {
    let policy = ProxyPolicy::parse("127.0.0.0/8").unwrap();
    let (script, port) = start_with(OnMedia::Count, false, None, Some(policy));
    let header = format!("PROXY TCP4 203.0.113.9 127.0.0.1 4242 {port}\r\n");
    let _client = publish_one_message_after(port, header.as_bytes());
    assert!(wait_until(Duration::from_secs(5), || script
        .media
        .load(Ordering::SeqCst)
        == 1));
    assert_eq!(
        *script.connect_peers.lock().unwrap(),
        vec!["203.0.113.9:4242".parse().unwrap()]
    );
}

#[test]
fn a_trusted_proxy_without_a_header_is_closed_and_others_are_direct_clients() {
    let (script, port) = start_with(
        OnMedia::Count,
        false,
        None,
        Some(ProxyPolicy::parse("127.0.0.1").unwrap()),
    );
    // From the proxy's address, a plain RTMP handshake where a header is required.
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0; 1536]);
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    plain.write_all(&c0c1).unwrap();
    assert!(closed_within(&mut plain, Duration::from_secs(5)));
    assert!(script.connect_peers.lock().unwrap().is_empty());
    assert_eq!(script.media.load(Ordering::SeqCst), 0);

    // A port that trusts another address: this client is a direct one, header or not.
    let (script, port) = start_with(
        OnMedia::Count,
        false,
        None,
        Some(ProxyPolicy::parse("192.0.2.1").unwrap()),
    );
    let _direct = publish_one_message(port);
    assert!(wait_until(Duration::from_secs(5), || script
        .media
        .load(Ordering::SeqCst)
        == 1));
    assert_eq!(
        script.connect_peers.lock().unwrap()[0].ip().to_string(),
        "127.0.0.1"
    );
    let mut spoofing = TcpStream::connect(("127.0.0.1", port)).unwrap();
    spoofing
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    spoofing
        .write_all(b"PROXY TCP4 8.8.8.8 127.0.0.1 1 2\r\n")
        .unwrap();
    spoofing.write_all(&c0c1).unwrap();
    assert!(closed_within(&mut spoofing, Duration::from_secs(5)));
    assert_eq!(script.connect_peers.lock().unwrap().len(), 1);
}

/// A publisher thread whose delivery push does not return: the push watchdog seats a new
/// thread that reads on (the media keeps coming), the stuck one leaves when its push returns,
/// and the connection still ends once, releasing everything.
#[test]
fn a_stuck_delivery_is_rescued_and_the_connection_ends_once() {
    let (script, port) = start(OnMedia::StuckDelivery, false);
    let mut client = publish_one_message(port);
    assert!(wait_until(Duration::from_secs(5), || {
        script.stuck.calls.load(Ordering::SeqCst) == 1
    }));
    // Its thread is stuck in the push; more audio keeps arriving and is handled.
    let mut writer = ChunkWriter::new();
    for i in 0..10u32 {
        let mut out = Vec::new();
        writer.write(4, 21 * (i + 1), 8, 1, &[0xAF, 0x01, 0x21, 0x00], &mut out);
        client.write_all(&out).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        wait_until(Duration::from_secs(2), || script
            .media
            .load(Ordering::SeqCst)
            >= 11),
        "only {} media messages handled while a push was stuck",
        script.media.load(Ordering::SeqCst)
    );
    assert_eq!(script.stuck.fall_backs.load(Ordering::SeqCst), 1);
    // The stuck push returns: its thread learns it no longer reads, and leaves.
    script.stuck.release.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(2), || script
        .stuck
        .kept
        .lock()
        .unwrap()
        .is_some()));
    assert_eq!(*script.stuck.kept.lock().unwrap(), Some(false));
    drop(client);
    assert!(wait_until(Duration::from_secs(5), || {
        script.finished.load(Ordering::SeqCst) == 1 && open_connections(&script) == 0
    }));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(script.finished.load(Ordering::SeqCst), 1);
    assert_eq!(script.closed.load(Ordering::SeqCst), 1);
}
