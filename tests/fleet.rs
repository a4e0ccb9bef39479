// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Beyond one machine (issue 14), end to end: Debian's HAProxy in front of the element with the
//! PROXY protocol (v2 and v1), a platform's auth service over HTTP (tests/python/auth_service.py)
//! deciding connects and publishes of FFmpeg 5.1 and rtmp2sink, and `drain` with our own
//! Enhanced RTMP client. The last test runs README.md's "Running a fleet" section as printed.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::client::{adobe_login, closed_within, tcp_from, TestClient};
use common::haproxy::{proxy_v1_header, proxy_v2_header, HaProxy, ProxyHeader, HAPROXY_ADDRESS};
use common::*;
use gst::prelude::*;
use rtmpserver_proto::rtmp::{amf0, Amf0Value};
use serde_json::{json, Value};

const USER: &str = "alice";
const PASS: &str = "s3cret";
const BOB_PASS: &str = "b0b-pa55";
const KEY: &str = "fleet-key";

/// A second client host (127.0.0.1 is the first; HAProxy is 127.0.0.3).
const CLIENT_2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// What FFmpeg 5.1 prints for each rejection (libavformat/rtmpproto.c), as in tests/auth.rs.
const FF_BAD_CREDENTIALS: &str = "Incorrect username/password";
const FF_AUTHFAILED: &str =
    "Server error: [ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed";
const FF_NO_CREDENTIALS: &str = "No credentials set";
const FF_NEED_AUTH: &str =
    "Server error: [ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ";
/// The auth service failed to answer (fail closed), at the first connect already.
const FF_UNAVAILABLE: &str = "Server error: authentication service unavailable";

// ---- Helpers ------------------------------------------------------------------------------------

/// Runs one ffmpeg publish as fast as it goes; returns (success, stderr, time taken).
fn ffmpeg_run(clip: &Path, url: &str) -> (bool, String, Duration) {
    let started = Instant::now();
    let (ok, err) = wait_child(ffmpeg_publish(clip, url, false), Duration::from_secs(30));
    (ok, err, started.elapsed())
}

/// Asserts ffmpeg failed and printed every one of `texts`.
fn assert_ffmpeg_failed(what: &str, result: &(bool, String, Duration), texts: &[&str]) {
    let (ok, err, took) = result;
    println!("{what}: refused after {took:?}: {}", err.trim());
    assert!(!ok, "{what}: ffmpeg succeeded: {err}");
    for text in texts {
        assert!(
            err.contains(text),
            "{what}: ffmpeg did not print {text:?}: {err}"
        );
    }
}

fn assert_ffmpeg_ok(what: &str, result: &(bool, String, Duration)) {
    assert!(result.0, "{what}: ffmpeg failed: {}", result.1);
}

fn messages_named(rx: &Receiver, name: &str) -> Vec<gst::Structure> {
    rx.messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == name)
        .cloned()
        .collect()
}

fn rejections(rx: &Receiver) -> Vec<gst::Structure> {
    messages_named(rx, "rtmpserversrc-rejected")
}

/// The IP address of a `client-address` field ("127.0.0.1:5000" → "127.0.0.1").
fn ip_of(s: &gst::Structure) -> String {
    let address = s.get::<String>("client-address").unwrap();
    address
        .rsplit_once(':')
        .map(|(ip, _)| ip.to_string())
        .unwrap_or(address)
}

/// Waits until `n` publishes have ended.
fn wait_publishes_stopped(rx: &Receiver, n: usize) {
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| messages_named(
            r,
            "rtmpserversrc-publish-stopped"
        )
        .len()
            >= n),
        "publish {n} did not stop: {:?}",
        rx.messages.lock().unwrap()
    );
}

/// Packets of `clip` arrived bit-exact, starting at packet `from_video` / `from_audio` of the pads
/// (waiting a little for buffers still queued in the element).
fn assert_clip_at(rx: &Receiver, clip: &Path, from_video: usize, from_audio: usize) {
    let source = probe_packets(clip);
    rx.wait_for(Duration::from_secs(5), |r| {
        r.pad("video_0").packets.len() >= from_video + source["video"].len()
            && r.pad("audio_0").packets.len() >= from_audio + source["audio"].len()
    });
    let (video, audio) = (rx.pad("video_0").packets, rx.pad("audio_0").packets);
    assert_same_packets(
        "video",
        &source["video"],
        &video[from_video.min(video.len())..],
    );
    assert_same_packets(
        "audio",
        &source["audio"],
        &audio[from_audio.min(audio.len())..],
    );
}

fn pad_counts(rx: &Receiver) -> (usize, usize) {
    (
        rx.pad("video_0").packets.len(),
        rx.pad("audio_0").packets.len(),
    )
}

/// No bus message names `text` (HAProxy's address, a password...).
fn assert_no_message_shows(rx: &Receiver, texts: &[&str]) {
    for s in rx.messages.lock().unwrap().iter() {
        let line = s.to_string();
        for text in texts {
            assert!(!line.contains(text), "a message shows {text:?}: {line}");
        }
    }
}

/// Whether a TCP connect to 127.0.0.1:`port` is refused (nothing listens).
fn connect_refused(port: u16) -> bool {
    matches!(
        TcpStream::connect(("127.0.0.1", port)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// The payload (after the 2-byte AAC header) of `TestClient::aac_frame(_, n)`.
fn aac_payload(n: u32) -> String {
    let mut body = n.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x21; 60]);
    md5_hex(&body)
}

// ---- The auth service (tests/python/auth_service.py) ------------------------------------------

/// tests/python/auth_service.py on a free port, answering from a JSON file the test may rewrite.
struct AuthService {
    child: Child,
    port: u16,
    config: PathBuf,
    log: PathBuf,
}

impl AuthService {
    fn start(config: &Value) -> AuthService {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("auth-service-{}-{n}", std::process::id());
        let config_path = tmp_path(&format!("{name}.json"));
        let log = tmp_path(&format!("{name}.jsonl"));
        let _ = std::fs::remove_file(&log);
        write_config(&config_path, config);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/auth_service.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg(script)
            .arg("--config")
            .arg(&config_path)
            .args(["--port", "0", "--log"])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("run {python}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok());
        let service = AuthService {
            child,
            port: port.unwrap_or(0),
            config: config_path,
            log,
        };
        assert_ne!(service.port, 0, "auth_service.py did not start: {line:?}");
        service
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/rtmp-auth", self.port)
    }

    /// Replaces the service's users and keys.
    fn set(&self, config: &Value) {
        write_config(&self.config, config);
    }

    /// Every request the service logged, in order.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn requests_for(&self, action: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["action"] == action)
            .collect()
    }
}

impl Drop for AuthService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the service's file atomically (a request sees the old or the new file, never half).
fn write_config(path: &Path, config: &Value) {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// alice (with `alice_password`) owns alice-key, bob owns bob-key.
fn users(alice_password: &str) -> Value {
    json!({
        "users": {"alice": alice_password, "bob": BOB_PASS},
        "keys": {"alice-key": "alice", "bob-key": "bob"},
    })
}

/// `config` with `field` set to `value`.
fn with(mut config: Value, field: &str, value: Value) -> Value {
    config[field] = value;
    config
}

/// The element's debug log at level 7 (TRACE), captured in this process while the value lives.
struct CapturedLog {
    lines: Arc<Mutex<Vec<String>>>,
    function: Option<gst::log::DebugLogFunction>,
}

impl CapturedLog {
    fn start() -> CapturedLog {
        init();
        let lines: Arc<Mutex<Vec<String>>> = Default::default();
        let sink = lines.clone();
        let function = gst::log::add_log_function(move |category, _, _, _, _, _, message| {
            if category.name() == "rtmpserversrc" {
                if let Some(text) = message.get() {
                    sink.lock().unwrap().push(text.to_string());
                }
            }
        });
        // Not to stderr as well, unless asked for.
        if std::env::var_os("GST_DEBUG").is_none() {
            gst::log::remove_default_log_function();
        }
        gst::log::set_threshold_for_name("rtmpserversrc", gst::DebugLevel::Trace);
        CapturedLog {
            lines,
            function: Some(function),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for CapturedLog {
    fn drop(&mut self) {
        gst::log::unset_threshold_for_name("rtmpserversrc");
        if let Some(function) = self.function.take() {
            gst::log::remove_log_function(function);
        }
    }
}

// ---- a. Behind HAProxy --------------------------------------------------------------------------

/// FFmpeg through HAProxy (send-proxy-v2, from 127.0.0.3): bit-exact, and the element sees the
/// client (127.0.0.1), not HAProxy: in publish-started, in rejections and in the brute-force
/// brake, which holds back the client guessing passwords and not another client behind the same
/// HAProxy.
#[test]
fn haproxy_v2_ffmpeg_bit_exact_and_the_client_is_the_one_braked() {
    let clip = clip_h264_aac(4);
    let front = free_port();
    let rx = Receiver::start(&[
        ("username", USER),
        ("password", PASS),
        ("stream-key", KEY),
        ("proxy-protocol", "true"),
        // A list, with a plain address beside a CIDR.
        ("trusted-proxies", "192.0.2.0/24, 127.0.0.3"),
        ("public-port", &front.to_string()),
    ]);
    let lb = HaProxy::start_on(front, rx.port, ProxyHeader::V2);
    let creds = format!("{USER}:{PASS}");

    let r = ffmpeg_run(&clip, &lb.url(Some(creds.as_str()), &format!("app/{KEY}")));
    assert_ffmpeg_ok("through haproxy", &r);
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);
    let started = messages_named(&rx, "rtmpserversrc-publish-started");
    assert_eq!(started.len(), 1);
    assert_eq!(ip_of(&started[0]), "127.0.0.1", "{}", started[0]);

    // Dialing the element itself (127.0.0.1 is not a trusted proxy: a direct client) names a port
    // in the tcUrl that is not the public one.
    let r = ffmpeg_run(
        &clip,
        &format!("rtmp://{creds}@127.0.0.1:{}/app/{KEY}", rx.port),
    );
    assert_ffmpeg_failed(
        "direct dial",
        &r,
        &[&format!(
            "port mismatch, tcUrl port {} but this server's public port is {front}",
            rx.port
        )],
    );

    // Three free wrong passwords from 127.0.0.1 through HAProxy...
    let guess = lb.url(Some("alice:guess"), &format!("app/{KEY}"));
    for i in 0..3 {
        let r = ffmpeg_run(&clip, &guess);
        assert_ffmpeg_failed(&format!("guess {i}"), &r, &[FF_BAD_CREDENTIALS]);
        assert!(r.2 < Duration::from_secs(2), "guess {i} took {:?}", r.2);
    }
    // ... do not hold back another client behind the same HAProxy (127.0.0.2): its wrong password
    // is answered at once, and so is its right one. Had the element counted HAProxy's address,
    // both would wait at least a second.
    let from_client_2 = || TestClient::open_from(CLIENT_2, lb.port);
    let t = Instant::now();
    let err = adobe_login(from_client_2, "app", USER, "wr0ng")
        .err()
        .expect("a wrong password logged in");
    assert!(err.contains("reason=authfailed"), "{err}");
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "127.0.0.2 was held back {:?}: the brake counted HAProxy",
        t.elapsed()
    );
    let t = Instant::now();
    drop(adobe_login(from_client_2, "app", USER, PASS).expect("127.0.0.2 with the password"));
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "127.0.0.2's login was held back {:?}",
        t.elapsed()
    );
    // 127.0.0.1's fourth wrong password is held back.
    let r = ffmpeg_run(&clip, &guess);
    assert_ffmpeg_failed("fourth guess", &r, &[FF_BAD_CREDENTIALS]);
    assert!(
        r.2 >= Duration::from_secs(1),
        "the fourth guess was not delayed: {:?}",
        r.2
    );

    let failed: Vec<String> = rejections(&rx)
        .iter()
        .filter(|s| s.get::<String>("reason").unwrap() == "auth-failed")
        .map(ip_of)
        .collect();
    assert_eq!(
        failed.iter().filter(|ip| *ip == "127.0.0.1").count(),
        4,
        "{failed:?}"
    );
    assert_eq!(
        failed.iter().filter(|ip| *ip == "127.0.0.2").count(),
        1,
        "{failed:?}"
    );
    assert_no_message_shows(&rx, &["127.0.0.3", PASS]);
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

/// Two machines behind HAProxy without stickiness (`balance roundrobin`): FFmpeg's Adobe login
/// is three connects, so the challenge comes from one machine and the answer reaches the other.
/// Without a shared `auth-fleet-secret` the other has never seen the challenge and FFmpeg is
/// refused (why the README's configuration sticks a client to one machine); with one, it
/// verifies the signed challenge and the publish arrives bit-exact.
#[test]
fn a_fleet_secret_lets_a_login_span_machines_behind_a_balancer_without_stickiness() {
    let clip = clip_h264_aac(4);
    for secret in [None, Some("a secret the fleet shares")] {
        let front = free_port();
        let front_port = front.to_string();
        let machine = || {
            let mut props = vec![
                ("username", USER),
                ("password", PASS),
                ("stream-key", KEY),
                ("proxy-protocol", "true"),
                ("trusted-proxies", "127.0.0.3/32"),
                ("public-port", front_port.as_str()),
            ];
            if let Some(secret) = secret {
                props.push(("auth-fleet-secret", secret));
            }
            Receiver::start(&props)
        };
        let machines = [machine(), machine()];
        let lb = HaProxy::round_robin(front, &[machines[0].port, machines[1].port]);
        let creds = format!("{USER}:{PASS}");
        let r = ffmpeg_run(&clip, &lb.url(Some(creds.as_str()), &format!("app/{KEY}")));
        // The connects alternated: the first and third (need auth, the answer) on one machine,
        // the second (the challenge) on the other.
        let accepted: Vec<u64> = machines
            .iter()
            .map(|m| connections_accepted(&m.src))
            .collect();
        let mut sorted = accepted.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [1, 2],
            "connections accepted per machine: {accepted:?}"
        );
        let (answered, challenger) = if accepted[0] == 2 { (0, 1) } else { (1, 0) };
        match secret {
            None => {
                assert_ffmpeg_failed("a login across two machines", &r, &[FF_AUTHFAILED]);
                let refused = rejections(&machines[answered]);
                assert_eq!(refused.len(), 1, "{refused:?}");
                assert_eq!(
                    refused[0].get::<String>("reason").unwrap(),
                    "auth-unknown-challenge"
                );
            }
            Some(_) => {
                assert_ffmpeg_ok("a login across two machines", &r);
                let live = &machines[answered];
                wait_publishes_stopped(live, 1);
                assert_clip_at(live, &clip, 0, 0);
                assert!(rejections(live).is_empty(), "{:?}", rejections(live));
                assert!(
                    messages_named(&machines[challenger], "rtmpserversrc-publish-started")
                        .is_empty()
                );
                // GStreamer's rtmp2sink logs in the same way, its connects spread likewise.
                let sent = tmp_path(&format!("fleet-secret-rtmp2sink-{front}.flv"));
                let (ok, out) = rtmp2sink_publish(
                    &lb.url(None, &format!("app/{KEY}")),
                    true,
                    true,
                    &sent,
                    &["username=alice", "password=s3cret"],
                );
                assert!(ok, "rtmp2sink: {out}");
                let total: usize = machines
                    .iter()
                    .map(|m| messages_named(m, "rtmpserversrc-publish-started").len())
                    .sum();
                assert_eq!(total, 2);
            }
        }
    }
}

/// send-proxy (v1) with the auth hook: FFmpeg bit-exact through HAProxy, and the hook, the
/// messages and the rejections carry the client's address. With `trusted-proxies` empty every
/// peer must be a proxy: a plain RTMP connection straight to the element is refused.
#[test]
fn haproxy_v1_the_auth_hook_sees_the_client() {
    let clip = clip_h264_aac(4);
    let service = AuthService::start(&users(PASS));
    let front = free_port();
    let rx = Receiver::start(&[
        ("application", "live"),
        ("auth-url", &service.url()),
        ("proxy-protocol", "true"),
        ("trusted-proxies", ""),
        ("public-port", &front.to_string()),
    ]);
    let lb = HaProxy::start_on(front, rx.port, ProxyHeader::V1);

    let r = ffmpeg_run(&clip, &lb.url(Some("alice:s3cret"), "live/alice-key"));
    assert_ffmpeg_ok("through haproxy (v1)", &r);
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);
    let started = messages_named(&rx, "rtmpserversrc-publish-started");
    assert_eq!(ip_of(&started[0]), "127.0.0.1", "{}", started[0]);

    assert!(
        wait_until(Duration::from_secs(5), || !service
            .requests_for("publish-stopped")
            .is_empty()),
        "no publish-stopped request: {:?}",
        service.requests()
    );
    let requests = service.requests();
    let tc_url = format!("rtmp://127.0.0.1:{front}/live");
    for r in &requests {
        let address = r["client-address"].as_str().unwrap_or("");
        assert!(address.starts_with("127.0.0.1:"), "{r}");
        assert_eq!(r["tc-url"], tc_url.as_str(), "{r}");
        assert_eq!(r["application"], "live", "{r}");
    }
    assert!(
        requests
            .iter()
            .any(|r| r["action"] == "connect" && r["user"] == "alice"),
        "{requests:?}"
    );
    let publishes = service.requests_for("publish");
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    assert_eq!(publishes[0]["stream-key"], "alice-key");
    assert_eq!(publishes[0]["user"], "alice");

    // A second client behind HAProxy with a wrong password: the rejection and the hook carry its
    // address.
    let err = adobe_login(
        || TestClient::open_from(CLIENT_2, lb.port),
        "live",
        USER,
        "wr0ng",
    )
    .err()
    .expect("a wrong password logged in");
    assert!(err.contains("reason=authfailed"), "{err}");
    assert!(
        rejections(&rx)
            .iter()
            .any(|s| ip_of(s) == "127.0.0.2"
                && s.get::<String>("reason").unwrap() == "auth-failed"),
        "{:?}",
        rejections(&rx)
    );
    assert!(
        service
            .requests_for("connect")
            .iter()
            .any(|r| r["user"] == "alice"
                && r["client-address"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("127.0.0.2:")),
        "{:?}",
        service.requests()
    );

    // Every peer is a proxy here: RTMP without a header, straight to the element, is refused.
    let mut direct = TestClient::open(rx.port).unwrap();
    assert!(
        direct.handshake().is_err(),
        "a plain handshake was accepted"
    );
    assert!(direct.closed_within(Duration::from_secs(3)));

    assert_no_message_shows(&rx, &["127.0.0.3", PASS]);
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

/// While FFmpeg publishes through HAProxy: a PROXY header from an address that is not a trusted
/// proxy, truncated or malformed headers from the trusted one and a plain RTMP handshake where a
/// header is required are each refused; a valid header is believed, and so is HAProxy's health
/// check header (v2 LOCAL). The live publish loses nothing.
#[test]
fn bad_proxy_headers_are_refused_beside_a_live_publish() {
    let clip = clip_h264_aac(6);
    let front = free_port();
    let rx = Receiver::start(&[
        ("stream-key", KEY),
        ("proxy-protocol", "true"),
        ("trusted-proxies", "127.0.0.3/32"),
        ("public-port", &front.to_string()),
    ]);
    let lb = HaProxy::start_on(front, rx.port, ProxyHeader::V2);
    let live = ffmpeg_publish(&clip, &lb.url(None, &format!("app/{KEY}")), true);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            > 10),
        "the live publish did not start"
    );
    let element = SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.port);
    let spoofed = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 4000);
    let v2 = proxy_v2_header(spoofed, element);
    let v1 = proxy_v1_header(spoofed, element);
    let timeout = Duration::from_secs(3);

    // From 127.0.0.2, not a trusted proxy: a header is not believed (it is not RTMP either).
    for (what, header) in [("v2", &v2), ("v1", &v1)] {
        let mut c = TestClient::open_from_with_prefix(CLIENT_2, rx.port, header).unwrap();
        assert!(
            c.handshake().is_err(),
            "untrusted {what} header: the handshake went on"
        );
        assert!(
            c.closed_within(timeout),
            "untrusted {what} header: not closed"
        );
    }

    // From the trusted proxy: a v2 header too short for its addresses and a v1 line missing
    // its ports, each followed by an RTMP handshake ...
    let mut short_v2 = v2[..14].to_vec();
    short_v2.extend_from_slice(&4u16.to_be_bytes());
    short_v2.extend_from_slice(&[198, 51, 100, 7]);
    let malformed: [(&str, &[u8]); 2] = [
        ("v2 header shorter than its addresses", &short_v2),
        (
            "v1 line without ports",
            b"PROXY TCP4 198.51.100.7 127.0.0.1\r\n",
        ),
    ];
    for (what, header) in malformed {
        let mut c = TestClient::open_from_with_prefix(HAPROXY_ADDRESS, rx.port, header).unwrap();
        assert!(c.handshake().is_err(), "{what}: the handshake went on");
        assert!(c.closed_within(timeout), "{what}: not closed");
    }
    // ... and a plain RTMP handshake without the header the proxy must send.
    let mut c = TestClient::open_from(HAPROXY_ADDRESS, rx.port).unwrap();
    assert!(
        c.handshake().is_err(),
        "no header from the proxy: the handshake went on"
    );
    assert!(
        c.closed_within(timeout),
        "no header from the proxy: not closed"
    );

    // HAProxy's health check sends a v2 LOCAL header (the proxy's own connection): accepted.
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
    let mut c = TestClient::open_from_with_prefix(HAPROXY_ADDRESS, rx.port, local).unwrap();
    c.set_tc_url_port(front);
    c.handshake().expect("handshake after a LOCAL header");
    c.connect_app("app").expect("connect after a LOCAL header");
    drop(c);

    // A whole header from the trusted proxy is believed: its publish of another key is refused,
    // under the address from the header.
    let mut c = TestClient::open_from_with_prefix(HAPROXY_ADDRESS, rx.port, &v2).unwrap();
    c.set_tc_url_port(front);
    c.handshake().expect("handshake after a valid header");
    c.connect_app("app").expect("connect after a valid header");
    let code = c.publish("another-key");
    assert_ne!(code.as_deref(), Some("NetStream.Publish.Start"));
    drop(c);

    let (ok, err) = wait_child(live, Duration::from_secs(30));
    assert!(ok, "the live publish failed: {err}");
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);
    assert_eq!(
        rx.pad("video_0").discont_count,
        1,
        "one session, no interruption"
    );
    let started = messages_named(&rx, "rtmpserversrc-publish-started");
    assert_eq!(started.len(), 1);
    assert_eq!(ip_of(&started[0]), "127.0.0.1", "{}", started[0]);
    let bad_key: Vec<gst::Structure> = rejections(&rx)
        .into_iter()
        .filter(|s| s.get::<String>("reason").unwrap() == "bad-stream-key")
        .collect();
    assert_eq!(bad_key.len(), 1, "{bad_key:?}");
    assert_eq!(
        bad_key[0].get::<String>("client-address").unwrap(),
        "198.51.100.7:4000"
    );
    // The spoofed address of the untrusted and malformed headers was never used.
    let spoofed_messages: Vec<String> = rx
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .filter(|s| s.contains("198.51.100.7"))
        .collect();
    assert_eq!(spoofed_messages.len(), 1, "{spoofed_messages:#?}");
    // The proxy's two malformed headers and its connection without one.
    let stats = rx.src.property::<gst::Structure>("stats");
    let by_reason = stats.get::<gst::Structure>("rejected-by-reason").unwrap();
    assert_eq!(
        by_reason.get::<u64>("bad-proxy-header").ok(),
        Some(3),
        "{stats}"
    );
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

/// A trusted proxy's header cut short: when the proxy closes the connection in the middle of it,
/// the element closes at once; when the proxy just stops sending, the publish deadline closes it.
#[test]
fn a_proxy_header_cut_short_is_closed() {
    let rx = Receiver::start(&[
        ("stream-key", KEY),
        ("proxy-protocol", "true"),
        ("trusted-proxies", "127.0.0.3/32"),
        ("publish-deadline", "2000"),
    ]);
    let element = SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.port);
    let client = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 4000);
    let v2 = proxy_v2_header(client, element);

    let mut ended = tcp_from(HAPROXY_ADDRESS, rx.port).unwrap();
    ended.write_all(&v2[..20]).unwrap();
    ended.shutdown(Shutdown::Write).unwrap();
    let mut silent = tcp_from(HAPROXY_ADDRESS, rx.port).unwrap();
    silent.write_all(&v2[..20]).unwrap();
    let t = Instant::now();
    assert!(
        closed_within(&mut ended, Duration::from_secs(1)),
        "a header ended by the proxy's FIN was kept open {:?}",
        t.elapsed()
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(4)),
        "an incomplete header was kept past the publish deadline"
    );
    println!("incomplete header closed after {:?}", t.elapsed());
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

// ---- b. The platform's auth service -------------------------------------------------------------

/// FFmpeg's `rtmp://alice:s3cret@...` and rtmp2sink's username/password publish bit-exact on the
/// service's word; a wrong password, an unknown user, no credentials and refused keys are refused
/// with what FFmpeg prints; the service saw each step; no password in messages or the log.
#[test]
fn auth_service_decides_ffmpeg_and_rtmp2sink_publishes() {
    let log = CapturedLog::start();
    let clip = clip_h264_aac(4);
    let service = AuthService::start(&users(PASS));
    let rx = Receiver::start(&[("application", "live"), ("auth-url", &service.url())]);
    let url = |userinfo: Option<&str>, key: &str| match userinfo {
        Some(u) => format!("rtmp://{u}@127.0.0.1:{}/live/{key}", rx.port),
        None => rx.url(&format!("live/{key}")),
    };

    let r = ffmpeg_run(&clip, &url(Some("alice:s3cret"), "alice-key"));
    assert_ffmpeg_ok("ffmpeg with alice's password", &r);
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);

    let (v, a) = pad_counts(&rx);
    let sent = tmp_path(&format!("fleet-rtmp2sink-{}.flv", rx.port));
    let (ok, out) = rtmp2sink_publish(
        &url(None, "alice-key"),
        true,
        true,
        &sent,
        &["username=alice", "password=s3cret"],
    );
    assert!(ok, "rtmp2sink: {out}");
    wait_publishes_stopped(&rx, 2);
    let source = probe_packets(&sent);
    rx.wait_for(Duration::from_secs(5), |r| {
        let (video, audio) = pad_counts(r);
        video >= v + source["video"].len() && audio >= a + source["audio"].len()
    });
    assert_same_packets("video", &source["video"], &rx.pad("video_0").packets[v..]);
    assert_same_packets("audio", &source["audio"], &rx.pad("audio_0").packets[a..]);
    let published = pad_counts(&rx);

    let r = ffmpeg_run(&clip, &url(Some("alice:wr0ng"), "alice-key"));
    assert_ffmpeg_failed("wrong password", &r, &[FF_BAD_CREDENTIALS, FF_AUTHFAILED]);
    let r = ffmpeg_run(&clip, &url(Some("mallory:s3cret"), "alice-key"));
    assert_ffmpeg_failed("unknown user", &r, &[FF_BAD_CREDENTIALS, FF_AUTHFAILED]);
    let r = ffmpeg_run(&clip, &url(None, "alice-key"));
    assert_ffmpeg_failed("no credentials", &r, &[FF_NO_CREDENTIALS, FF_NEED_AUTH]);
    let r = ffmpeg_run(&clip, &url(Some("alice:s3cret"), "nobodys-key"));
    assert_ffmpeg_failed("unknown key", &r, &["stream key not known"]);
    let r = ffmpeg_run(&clip, &url(Some("alice:s3cret"), "bob-key"));
    assert_ffmpeg_failed("bob's key", &r, &["stream key of another user"]);
    assert_eq!(pad_counts(&rx), published, "a refused publish got through");
    assert_eq!(
        messages_named(&rx, "rtmpserversrc-publish-started").len(),
        2
    );

    // What the service saw.
    assert!(
        wait_until(Duration::from_secs(5), || service
            .requests_for("publish-stopped")
            .len()
            >= 2),
        "{:?}",
        service.requests()
    );
    let requests = service.requests();
    let tc_url = format!("rtmp://127.0.0.1:{}/live", rx.port);
    for r in &requests {
        assert!(
            r["content-type"]
                .as_str()
                .unwrap_or("")
                .starts_with("application/json"),
            "{r}"
        );
        assert_eq!(r["application"], "live", "{r}");
        assert_eq!(r["tc-url"], tc_url.as_str(), "{r}");
        assert!(
            r["client-address"]
                .as_str()
                .unwrap_or("")
                .starts_with("127.0.0.1:"),
            "{r}"
        );
    }
    let connects = service.requests_for("connect");
    assert!(
        connects
            .iter()
            .any(|r| r["user"] == "alice"
                && r["encoder"].as_str().unwrap_or("").starts_with("FMLE/3.0")),
        "{connects:?}"
    );
    assert!(connects.iter().any(|r| r["user"] == "mallory"));
    let publishes: Vec<(String, String, bool)> = service
        .requests_for("publish")
        .iter()
        .map(|r| {
            (
                r["stream-key"].as_str().unwrap_or("").to_string(),
                r["user"].as_str().unwrap_or("").to_string(),
                r["allow"] == true,
            )
        })
        .collect();
    let want: Vec<(String, String, bool)> = [
        ("alice-key", "alice", true),
        ("alice-key", "alice", true),
        ("nobodys-key", "alice", false),
        ("bob-key", "alice", false),
    ]
    .iter()
    .map(|(k, u, a)| (k.to_string(), u.to_string(), *a))
    .collect();
    assert_eq!(publishes, want);
    let stopped = service.requests_for("publish-stopped");
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    for r in &stopped {
        assert_eq!(r["stream-key"], "alice-key", "{r}");
        assert_eq!(r["user"], "alice", "{r}");
    }
    assert_eq!(stopped[0]["reason"], "peer-closed", "{:?}", stopped[0]);

    // No password, and no answer body, in the messages or the element's log.
    assert_no_message_shows(&rx, &[PASS, BOB_PASS]);
    let lines = log.lines();
    assert!(!lines.is_empty(), "nothing was logged");
    let leaks: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(PASS) || l.contains(BOB_PASS) || l.contains("\"password\""))
        .collect();
    assert!(leaks.is_empty(), "the log shows secrets: {leaks:#?}");
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

/// Fail closed: a service slower than `auth-timeout`, one answering 503 or with a body that is not
/// JSON, and no service at all refuse. A slow answer within the timeout holds no other connection
/// back (the front door does not wait for the service), and the element serves again once the
/// service is healthy.
#[test]
fn a_slow_broken_or_unreachable_auth_service_refuses() {
    let clip = clip_h264_aac(4);
    let service = AuthService::start(&users(PASS));
    let rx = Receiver::start(&[
        ("application", "live"),
        ("auth-url", &service.url()),
        ("auth-timeout", "800"),
    ]);
    let good = format!("rtmp://alice:s3cret@127.0.0.1:{}/live/alice-key", rx.port);

    for (what, config) in [
        (
            "slower than auth-timeout",
            with(users(PASS), "delay_ms", json!(2000)),
        ),
        ("HTTP 503", with(users(PASS), "status", json!(503))),
        ("not JSON", with(users(PASS), "malformed", json!(true))),
    ] {
        service.set(&config);
        let r = ffmpeg_run(&clip, &good);
        assert_ffmpeg_failed(what, &r, &[FF_UNAVAILABLE]);
        assert!(r.2 < Duration::from_secs(15), "{what}: took {:?}", r.2);
    }
    let unreachable = format!("http://127.0.0.1:{}/rtmp-auth", free_port());
    rx.src.set_property("auth-url", unreachable.as_str());
    let r = ffmpeg_run(&clip, &good);
    assert_ffmpeg_failed("unreachable", &r, &[FF_UNAVAILABLE]);
    assert!(rx.pad_names().is_empty(), "{:?}", rx.pad_names());
    assert!(!rx.has_message("rtmpserversrc-publish-started"));
    let reasons: Vec<String> = rejections(&rx)
        .iter()
        .map(|s| s.get::<String>("reason").unwrap())
        .collect();
    assert_eq!(reasons, ["auth-service-unavailable"; 4]);
    // The service did see the 503 and malformed cases (and answered in time).
    let statuses: Vec<Value> = service
        .requests()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert!(statuses.contains(&json!(503)), "{statuses:?}");

    // Slow but within auth-timeout: an anonymous connect the service allows waits for it, while
    // another connection's handshake goes on at once.
    rx.src.set_property("auth-url", service.url().as_str());
    rx.src.set_property("auth-timeout", 5000u32);
    service.set(&with(
        with(users(PASS), "anonymous", json!(true)),
        "delay_ms",
        json!(1500),
    ));
    let port = rx.port;
    let waiting = std::thread::spawn(move || {
        let mut c = TestClient::open(port).unwrap();
        c.handshake().unwrap();
        let t = Instant::now();
        let connected = c.connect_app("live").is_ok();
        (connected, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let mut other = TestClient::open(rx.port).unwrap();
    other.handshake().unwrap();
    let handshake = t.elapsed();
    let (connected, took) = waiting.join().unwrap();
    assert!(
        handshake < Duration::from_millis(700),
        "a handshake waited {handshake:?} for another connection's auth request"
    );
    assert!(
        connected,
        "the anonymous connect the service allowed was refused"
    );
    assert!(took >= Duration::from_millis(1400), "answered in {took:?}");
    drop(other);

    // Healthy again: alice publishes.
    rx.src.set_property("auth-timeout", 800u32);
    service.set(&users(PASS));
    let r = ffmpeg_run(&clip, &good);
    assert_ffmpeg_ok("healthy service", &r);
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &clip, 0, 0);
    assert_eq!(rejections(&rx).len(), 4, "{:?}", rejections(&rx));
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

/// The service changes alice's password while she is live: her stream keeps every frame, the old
/// password is refused at once, the new one passes (refused only because she is still live), and
/// once she has left the new password publishes and the old one still does not.
#[test]
fn the_service_rotates_alices_password_while_she_is_live() {
    const NEW_PASS: &str = "n3w-pa55";
    let live_clip = clip_h264_aac(6);
    let short = clip_h264_aac(4);
    let service = AuthService::start(&users(PASS));
    let rx = Receiver::start(&[("application", "live"), ("auth-url", &service.url())]);
    let url = |pass: &str| format!("rtmp://alice:{pass}@127.0.0.1:{}/live/alice-key", rx.port);

    let live = ffmpeg_publish(&live_clip, &url(PASS), true);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            > 10),
        "the live publish did not start"
    );
    service.set(&users(NEW_PASS));
    let r = ffmpeg_run(&short, &url(PASS));
    assert_ffmpeg_failed("old password while live", &r, &[FF_BAD_CREDENTIALS]);
    let r = ffmpeg_run(&short, &url(NEW_PASS));
    assert_ffmpeg_failed(
        "new password while live",
        &r,
        &["this stream is already being published"],
    );

    let (ok, err) = wait_child(live, Duration::from_secs(30));
    assert!(ok, "the live publish failed after the rotation: {err}");
    wait_publishes_stopped(&rx, 1);
    assert_clip_at(&rx, &live_clip, 0, 0);
    assert_eq!(
        rx.pad("video_0").discont_count,
        1,
        "one session, no interruption"
    );
    assert_eq!(
        messages_named(&rx, "rtmpserversrc-publish-started").len(),
        1
    );

    let (v, a) = pad_counts(&rx);
    let r = ffmpeg_run(&short, &url(PASS));
    assert_ffmpeg_failed("old password after", &r, &[FF_BAD_CREDENTIALS]);
    let r = ffmpeg_run(&short, &url(NEW_PASS));
    assert_ffmpeg_ok("new password after", &r);
    wait_publishes_stopped(&rx, 2);
    assert_clip_at(&rx, &short, v, a);
    assert_no_message_shows(&rx, &[PASS, NEW_PASS]);
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

// ---- c. Drain -----------------------------------------------------------------------------------

/// Our Enhanced RTMP client publishes; `drain` sends it the ReconnectRequest with the given tcUrl
/// and description, the port stops accepting, the media it sends afterwards still arrives, and
/// `rtmpserversrc-drained` is posted once it has left.
#[test]
fn drain_asks_the_enhanced_rtmp_publisher_to_move_and_waits_for_it() {
    const MOVE_TO: &str = "rtmp://ingest-2.example:1935/app";
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let mut c = TestClient::open(rx.port).unwrap();
    c.handshake().unwrap();
    let fourccs = ["avc1", "mp4a"].map(Amf0Value::string).to_vec();
    let result = c
        .connect_with(
            "app",
            vec![
                ("fourCcList", Amf0Value::StrictArray(fourccs)),
                ("capsEx", Amf0Value::Number(1.0)),
            ],
        )
        .expect("connect accepted");
    let caps_ex = result[2]
        .get("capsEx")
        .and_then(Amf0Value::as_number)
        .expect("capsEx in the _result");
    assert_eq!(
        caps_ex as u32 & 1,
        1,
        "no Reconnect bit in capsEx {caps_ex}"
    );
    assert_eq!(c.publish(KEY).as_deref(), Some("NetStream.Publish.Start"));
    c.metadata(false, true).unwrap();
    c.aac_header(0).unwrap();
    for n in 0..20 {
        c.aac_frame(n * 21, n).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 20)
    );

    rx.src
        .emit_by_name::<()>("drain", &[&Some(MOVE_TO), &Some("maintenance")]);
    let request = c
        .wait_for(Duration::from_secs(5), |m| {
            TestClient::command_name(m).as_deref() == Some("onStatus")
        })
        .expect("no onStatus after drain");
    assert_eq!(request.stream_id, 0, "on the connection's stream 0");
    let values = amf0::decode_all(&request.payload).unwrap();
    assert_eq!(
        values[1].as_number(),
        Some(0.0),
        "transaction 0: {values:?}"
    );
    assert_eq!(values[2], Amf0Value::Null, "{values:?}");
    let info = &values[3];
    let field = |name: &str| info.get(name).and_then(Amf0Value::as_str);
    assert_eq!(field("level"), Some("status"), "{info:?}");
    assert_eq!(
        field("code"),
        Some("NetConnection.Connect.ReconnectRequest"),
        "{info:?}"
    );
    assert_eq!(field("tcUrl"), Some(MOVE_TO), "{info:?}");
    assert_eq!(field("description"), Some("maintenance"), "{info:?}");

    // Alone on its port, the draining element stops listening: new connects are refused.
    assert!(
        wait_until(Duration::from_secs(2), || connect_refused(rx.port)),
        "the port still accepts connections while draining"
    );

    // The live publish keeps flowing until the publisher leaves.
    for n in 20..40 {
        c.aac_frame(n * 21, n).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 40),
        "media sent after the drain did not arrive: {}",
        rx.pad("audio_0").packets.len()
    );
    for (n, p) in rx.pad("audio_0").packets.iter().enumerate() {
        assert_eq!(p.md5, aac_payload(n as u32), "frame {n}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !rx.has_message("rtmpserversrc-drained"),
        "drained while the publisher is still there"
    );
    drop(c);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r
            .has_message("rtmpserversrc-drained")),
        "no rtmpserversrc-drained after the publisher left"
    );
    let names: Vec<String> = rx
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    let stopped = names
        .iter()
        .position(|n| n == "rtmpserversrc-publish-stopped")
        .expect("publish-stopped");
    let drained = names
        .iter()
        .position(|n| n == "rtmpserversrc-drained")
        .unwrap();
    assert!(stopped < drained, "{names:?}");
    assert!(connect_refused(rx.port));
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

/// Two elements on one port: the first drains at once (no publisher) and its key is no longer
/// served while the port stays open for the second; when the second drains too (its publisher
/// asked to reconnect to the same URL: no tcUrl), the port stops listening.
#[test]
fn drain_on_a_shared_port_closes_the_port_when_every_element_drains() {
    let port = free_port();
    let port_s = port.to_string();
    let a = Receiver::start(&[("port", &port_s), ("stream-key", "key-a")]);
    let b = Receiver::start(&[("port", &port_s), ("stream-key", "key-b")]);

    a.src
        .emit_by_name::<()>("drain", &[&None::<String>, &None::<String>]);
    assert!(
        a.wait_for(Duration::from_secs(2), |r| r
            .has_message("rtmpserversrc-drained")),
        "an element without a publisher is drained at once"
    );
    assert!(!connect_refused(port), "b still serves the port");
    assert_ne!(
        TestClient::publisher_result(port, "app", "key-a").as_deref(),
        Some("NetStream.Publish.Start"),
        "the drained element took a publish"
    );
    let mut c = TestClient::publisher(port, "app", "key-b");
    c.metadata(false, true).unwrap();
    c.aac_header(0).unwrap();
    for n in 0..10 {
        c.aac_frame(n * 21, n).unwrap();
    }
    assert!(
        b.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 10)
    );

    b.src
        .emit_by_name::<()>("drain", &[&None::<String>, &None::<String>]);
    let request = c
        .wait_for(Duration::from_secs(5), |m| {
            TestClient::command_name(m).as_deref() == Some("onStatus")
        })
        .expect("no onStatus after drain");
    let values = amf0::decode_all(&request.payload).unwrap();
    assert_eq!(
        values[3].get("code").and_then(Amf0Value::as_str),
        Some("NetConnection.Connect.ReconnectRequest")
    );
    assert!(values[3].get("tcUrl").is_none(), "{values:?}");
    assert!(
        wait_until(Duration::from_secs(2), || connect_refused(port)),
        "every element drains: the port must stop listening"
    );
    for n in 10..20 {
        c.aac_frame(n * 21, n).unwrap();
    }
    assert!(
        b.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 20)
    );
    assert!(!b.has_message("rtmpserversrc-drained"));
    drop(c);
    assert!(b.wait_for(Duration::from_secs(5), |r| r
        .has_message("rtmpserversrc-drained")));
    assert!(a.pad_names().is_empty());
    assert!(a.errors().is_empty() && b.errors().is_empty());
}

// ---- README.md's "Running a fleet", as printed --------------------------------------------------

/// One code block of README.md: its language tag and text.
fn readme_fleet_blocks() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("### Running a fleet")
        .expect("README.md has a Running a fleet section");
    let section = &readme[start..];
    let end = section[4..]
        .find("\n## ")
        .into_iter()
        .chain(section[4..].find("\n### "))
        .min()
        .map(|e| e + 4)
        .unwrap_or(section.len());
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in section[..end].lines() {
        if let Some(tag) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((tag.trim().to_string(), String::new())),
            }
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    blocks
}

/// The command of `block` starting with `program`, continuation lines joined.
fn command_in(block: &str, program: &str) -> Option<String> {
    let mut command: Option<String> = None;
    for line in block.lines() {
        let text = line.trim();
        match command.as_mut() {
            Some(c) => c.push_str(text.trim_end_matches('\\')),
            None if text.starts_with(program) => {
                command = Some(text.trim_end_matches('\\').to_string())
            }
            None => continue,
        }
        if !text.ends_with('\\') {
            return command;
        }
        command.as_mut().unwrap().push(' ');
    }
    command
}

/// A pipeline parsed from a gst-launch-1.0 description whose element `src` is recorded: every
/// buffer leaving its pads, and its bus messages.
struct Machine {
    pipeline: gst::Pipeline,
    src: gst::Element,
    packets: Arc<Mutex<BTreeMap<String, Vec<Packet>>>>,
    messages: Arc<Mutex<Vec<gst::Structure>>>,
}

impl Machine {
    fn launch(desc: &str) -> Machine {
        init();
        let pipeline = gst::parse::launch(desc)
            .unwrap_or_else(|e| panic!("{desc}: {e}"))
            .downcast::<gst::Pipeline>()
            .unwrap();
        let src = pipeline.by_name("src").expect("an element named src");
        let packets: Arc<Mutex<BTreeMap<String, Vec<Packet>>>> = Default::default();
        let packets_cb = packets.clone();
        src.connect_pad_added(move |_, pad| {
            let name = pad.name().to_string();
            let packets = packets_cb.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer() {
                    let map = buffer.map_readable().unwrap();
                    let pts = buffer.pts().map(|t| t.mseconds() as i64).unwrap_or(-1);
                    packets
                        .lock()
                        .unwrap()
                        .entry(name.clone())
                        .or_default()
                        .push(Packet {
                            pts_ms: pts,
                            dts_ms: buffer.dts().map(|t| t.mseconds() as i64).unwrap_or(pts),
                            size: map.len(),
                            md5: md5_hex(&map),
                            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        });
                }
                gst::PadProbeReturn::Ok
            });
        });
        let messages: Arc<Mutex<Vec<gst::Structure>>> = Default::default();
        let messages_cb = messages.clone();
        let weak = pipeline.downgrade();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            match msg.view() {
                // As gst-launch-1.0 does when a live source's latency changes.
                gst::MessageView::Latency(_) => {
                    if let Some(pipeline) = weak.upgrade() {
                        std::thread::spawn(move || {
                            let _ = pipeline.recalculate_latency();
                        });
                    }
                }
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure() {
                        messages_cb.lock().unwrap().push(s.to_owned());
                    }
                }
                gst::MessageView::Error(e) => messages_cb.lock().unwrap().push(
                    gst::Structure::builder("error")
                        .field("text", e.error().to_string())
                        .build(),
                ),
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Machine {
            pipeline,
            src,
            packets,
            messages,
        }
    }

    fn packets(&self, pad: &str) -> Vec<Packet> {
        self.packets
            .lock()
            .unwrap()
            .get(pad)
            .cloned()
            .unwrap_or_default()
    }

    fn messages_named(&self, name: &str) -> Vec<gst::Structure> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name() == name)
            .cloned()
            .collect()
    }

    fn wait_for(&self, timeout: Duration, cond: impl Fn(&Machine) -> bool) -> bool {
        wait_until(timeout, || cond(self))
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// README.md's fleet, as printed: its users file served by tests/python/auth_service.py, its
/// gst-launch-1.0 pipeline on two "machines" (two ports here), its HAProxy configuration in front
/// (addresses and ports substituted, HAProxy from 127.0.0.3) and its FFmpeg command. FFmpeg
/// publishes through HAProxy; the machine it landed on is drained as README.md says: HAProxy's
/// health check marks it DOWN, the next publisher lands on the other machine, the first stream
/// keeps every frame until it ends, and `rtmpserversrc-drained` follows.
#[test]
fn readme_fleet_runs_as_printed() {
    let blocks = readme_fleet_blocks();
    let block = |tag: &str| -> Vec<&String> {
        blocks
            .iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, text)| text)
            .collect()
    };
    let haproxy_config = block("haproxy");
    assert_eq!(haproxy_config.len(), 1, "{blocks:#?}");
    let haproxy_config = haproxy_config[0];
    let users_json = block("json");
    assert_eq!(users_json.len(), 1, "{blocks:#?}");
    let users: Value = serde_json::from_str(users_json[0]).expect("the users file is JSON");
    let shell = block("sh");
    let launch = shell
        .iter()
        .find_map(|b| command_in(b, "gst-launch-1.0 "))
        .expect("a gst-launch-1.0 command");
    let service_command = shell
        .iter()
        .find_map(|b| command_in(b, "python3 tests/python/auth_service.py"))
        .expect("the auth service's command");
    assert!(
        service_command.contains("--config users.json"),
        "{service_command}"
    );
    let ffmpeg_url = shell
        .iter()
        .find_map(|b| command_in(b, "ffmpeg "))
        .and_then(|c| {
            c.split_whitespace()
                .find(|w| w.starts_with("rtmp://"))
                .map(str::to_string)
        })
        .expect("an ffmpeg command with an rtmp:// URL");

    // What README.md says must agree with itself: the balancer's port is the elements' public
    // port, the servers' port is the elements' port.
    let setting = |name: &str| -> String {
        launch
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {launch}"))
            .to_string()
    };
    let bind_port = haproxy_config
        .lines()
        .find_map(|l| l.trim().strip_prefix("bind "))
        .and_then(|b| b.rsplit_once(':'))
        .map(|(_, p)| p.trim().to_string())
        .expect("a bind line");
    assert_eq!(setting("public-port"), bind_port);
    assert_eq!(setting("proxy-protocol"), "true");
    // The element asks the service where README.md starts it.
    let option = |name: &str| {
        let words: Vec<&str> = service_command.split_whitespace().collect();
        let at = words.iter().position(|w| *w == name).expect(name);
        words[at + 1].to_string()
    };
    assert!(
        setting("auth-url").starts_with(&format!(
            "http://{}:{}/",
            option("--bind"),
            option("--port")
        )),
        "{service_command} / {launch}"
    );
    let servers: Vec<&str> = haproxy_config
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .collect();
    assert_eq!(servers.len(), 2, "{haproxy_config}");
    for s in &servers {
        assert!(
            s.split_whitespace()
                .nth(2)
                .is_some_and(|a| a.ends_with(&format!(":{}", setting("port")))),
            "{s} is not on the elements' port {}",
            setting("port")
        );
    }
    assert!(haproxy_config.contains("send-proxy-v2"), "{haproxy_config}");
    assert!(
        ffmpeg_url.contains(&format!(":{bind_port}/{}/", setting("application"))),
        "{ffmpeg_url}"
    );

    // Run it here.
    let service = AuthService::start(&users);
    let front = free_port();
    let ports = [free_port(), free_port()];
    let machines: Vec<Machine> = ports
        .iter()
        .map(|port| {
            let desc: Vec<String> = launch
                .split_whitespace()
                .skip(1)
                .filter(|w| !w.starts_with('-'))
                .map(|w| match w.split_once('=').map(|(k, _)| k) {
                    Some("port") => format!("port={port}"),
                    Some("public-port") => format!("public-port={front}"),
                    Some("trusted-proxies") => format!("trusted-proxies={HAPROXY_ADDRESS}/32"),
                    Some("auth-url") => format!("auth-url={}", service.url()),
                    _ => w.to_string(),
                })
                .collect();
            Machine::launch(&desc.join(" "))
        })
        .collect();
    let mut config = String::new();
    let mut server_names = Vec::new();
    for line in haproxy_config.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("bind ") {
            config += &format!("    bind 127.0.0.1:{front}\n");
        } else if trimmed.starts_with("server ") {
            // server NAME ADDRESS:PORT [options]: the address is this machine's element, and
            // HAProxy connects from its own address.
            let mut words: Vec<String> = trimmed.split_whitespace().map(String::from).collect();
            words[2] = format!("127.0.0.1:{}", ports[server_names.len()]);
            words.extend(["source".to_string(), HAPROXY_ADDRESS.to_string()]);
            server_names.push(words[1].clone());
            config += &format!("    {}\n", words.join(" "));
        } else {
            config += line;
            config += "\n";
        }
    }
    let backend = haproxy_config
        .lines()
        .find_map(|l| l.trim().strip_prefix("backend "))
        .expect("a backend")
        .trim()
        .to_string();
    let lb = HaProxy::start_with_config(front, &config);
    let status = |i: usize| {
        lb.server_status(&backend, &server_names[i])
            .unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(5), || status(0) == "UP"
            && status(1) == "UP"),
        "servers not UP: {} / {}",
        status(0),
        status(1)
    );

    // rtmp://user:pass@HOST:PORT/app/key with HAProxy's address.
    let (scheme_and_user, rest) = ffmpeg_url.split_once('@').expect("credentials in the URL");
    let url = format!(
        "{scheme_and_user}@127.0.0.1:{front}{}",
        &rest[rest.find('/').unwrap()..]
    );
    let live_clip = clip_h264_aac(6);
    let live = ffmpeg_publish(&live_clip, &url, true);
    assert!(
        wait_until(Duration::from_secs(5), || machines
            .iter()
            .any(|m| m.packets("video_0").len() > 10)),
        "the first publish did not start on either machine"
    );
    let first = machines
        .iter()
        .position(|m| m.packets("video_0").len() > 10)
        .unwrap();
    let other = 1 - first;

    // The README procedure: emit drain, the balancer notices, wait for drained, stop.
    machines[first]
        .src
        .emit_by_name::<()>("drain", &[&None::<String>, &None::<String>]);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || status(first).starts_with("DOWN")),
        "HAProxy did not mark the draining machine DOWN: {}",
        status(first)
    );
    println!(
        "HAProxy marked the draining machine DOWN after {:?}",
        t.elapsed()
    );

    // The next publisher (bob, on his key) lands on the other machine.
    let bob = users["users"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(u, _)| *u != USER)
        .map(|(u, p)| (u.clone(), p.as_str().unwrap().to_string()))
        .expect("a second user");
    let bob_key = users["keys"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, owner)| **owner == json!(bob.0))
        .map(|(k, _)| k.clone())
        .expect("a key of the second user");
    let short = clip_h264_aac(4);
    let r = ffmpeg_run(
        &short,
        &format!(
            "rtmp://{}:{}@127.0.0.1:{front}/{}/{bob_key}",
            bob.0,
            bob.1,
            setting("application")
        ),
    );
    assert_ffmpeg_ok("second publisher", &r);
    let src_short = probe_packets(&short);
    assert!(
        machines[other].wait_for(Duration::from_secs(5), |m| m.packets("video_0").len()
            >= src_short["video"].len()
            && m.packets("audio_0").len() >= src_short["audio"].len())
    );
    assert_same_packets(
        "second video",
        &src_short["video"],
        &machines[other].packets("video_0"),
    );
    assert_same_packets(
        "second audio",
        &src_short["audio"],
        &machines[other].packets("audio_0"),
    );

    let (ok, err) = wait_child(live, Duration::from_secs(30));
    assert!(ok, "the first publish failed: {err}");
    assert!(
        machines[first].wait_for(Duration::from_secs(5), |m| !m
            .messages_named("rtmpserversrc-drained")
            .is_empty()),
        "no rtmpserversrc-drained on the drained machine"
    );
    let src_live = probe_packets(&live_clip);
    assert_same_packets(
        "first video",
        &src_live["video"],
        &machines[first].packets("video_0"),
    );
    assert_same_packets(
        "first audio",
        &src_live["audio"],
        &machines[first].packets("audio_0"),
    );
    machines[first]
        .pipeline
        .set_state(gst::State::Null)
        .unwrap();

    for (i, m) in machines.iter().enumerate() {
        let started = m.messages_named("rtmpserversrc-publish-started");
        assert_eq!(started.len(), 1, "machine {i}: {started:?}");
        let address = started[0].get::<String>("client-address").unwrap();
        assert!(address.starts_with("127.0.0.1:"), "machine {i}: {address}");
        assert!(
            m.messages_named("error").is_empty(),
            "machine {i}: {:?}",
            m.messages_named("error")
        );
    }
    let publishes = service.requests_for("publish");
    assert_eq!(publishes.len(), 2, "{publishes:?}");
    for r in &publishes {
        assert_eq!(r["allow"], true, "{r}");
        assert!(
            r["client-address"]
                .as_str()
                .unwrap_or("")
                .starts_with("127.0.0.1:"),
            "{r}"
        );
    }
}
