// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The reliability suite: a real publisher (Debian's ffmpeg) goes live while our own client
//! throws hostile load at the same port. Every frame of the real publisher must arrive, go-live
//! must stay under a second, memory must stay bounded and the element must still serve at the
//! end. Prints a table (and writes it to target/tmp/reliability.md).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::client::{closed_within, TestClient, COMMAND};
use common::*;
use gst::prelude::*;
use rtmpserver_proto::rtmp::{amf0, Amf0Value};

const KEY: &str = "reliable";

/// The two tests measure this process's memory: they must not run at the same time.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn raise_fd_limit() {
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// One kind of hostile connection: returns true when the server dealt with it as it should
/// (closed it, or answered with the expected refusal).
type Attack = fn(u16) -> bool;

fn junk(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut seed = 0x2545F4914F6CDD1Du64 ^ u64::from(port);
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8 | 0x80 // never 3: not an RTMP version
        })
        .collect();
    let _ = s.write_all(&junk);
    closed_within(&mut s, Duration::from_secs(3))
}

fn half_handshake(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(&[3u8; 700]);
    // Reaped by the publish deadline (2 s in this suite).
    closed_within(&mut s, Duration::from_secs(5))
}

fn slow_loris(port: u16) -> bool {
    let Some(mut c) = TestClient::handshaken(port) else {
        return false;
    };
    let mut payload = Vec::new();
    amf0::encode(
        &[Amf0Value::string("connect"), Amf0Value::Number(1.0)],
        &mut payload,
    );
    let start = Instant::now();
    // One byte every 100 ms keeps the socket busy, but not publishing: dropped at the deadline.
    for b in payload.iter().cycle() {
        if c.stream.write_all(&[*b]).is_err() {
            return start.elapsed() < Duration::from_secs(5);
        }
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(6) {
            return false;
        }
    }
    false
}

fn oversize_length(port: u16) -> bool {
    let Some(mut c) = TestClient::handshaken(port) else {
        return false;
    };
    // Basic header fmt 0 csid 3, timestamp 0, length 0xFFFFFF, type 20, stream 0.
    let header = [0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, COMMAND, 0, 0, 0, 0];
    let _ = c.stream.write_all(&header);
    let _ = c.stream.write_all(&[0u8; 128]);
    c.closed_within(Duration::from_secs(3))
}

fn deep_amf(port: u16) -> bool {
    let Some(mut c) = TestClient::handshaken(port) else {
        return false;
    };
    let mut payload = Vec::new();
    amf0::encode(
        &[Amf0Value::string("connect"), Amf0Value::Number(1.0)],
        &mut payload,
    );
    // 10,000 nested strict arrays of one element.
    for _ in 0..10_000 {
        payload.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
    }
    payload.push(0x05);
    let _ = c.send(3, 0, COMMAND, 0, &payload);
    c.closed_within(Duration::from_secs(3))
}

fn chunk_size_zero(port: u16) -> bool {
    let Some(mut c) = TestClient::handshaken(port) else {
        return false;
    };
    let _ = c.send(2, 0, 1, 0, &0u32.to_be_bytes());
    c.closed_within(Duration::from_secs(3))
}

/// A valid client that interleaves two messages on two chunk streams, then publishes a wrong
/// key: it must be answered (not crash anything) with NetStream.Publish.Denied.
fn interleaved_wrong_key(port: u16) -> bool {
    let Some(mut c) = TestClient::handshaken(port) else {
        return false;
    };
    if c.connect_app("app").is_err() {
        return false;
    }
    // Two 300-byte metadata messages on csids 4 and 6, chunked at 128 and interleaved by hand.
    let mut a = Vec::new();
    let mut b = Vec::new();
    c.writer
        .write(4, 0, 18, 1, &[0x02, 0, 1, b'x'].repeat(75), &mut a);
    c.writer
        .write(6, 0, 18, 1, &[0x02, 0, 1, b'y'].repeat(75), &mut b);
    let (a1, a2) = a.split_at(12 + 128);
    let (b1, b2) = b.split_at(12 + 128);
    for part in [a1, b1, a2, b2] {
        let _ = c.stream.write_all(part);
    }
    c.publish("wrong-key").as_deref() == Some("NetStream.Publish.Denied")
}

fn duplicate_publisher(port: u16) -> bool {
    let Some(mut c) = TestClient::handshaken(port) else {
        return false;
    };
    if c.connect_app("app").is_err() {
        return false;
    }
    c.publish(KEY).as_deref() == Some("NetStream.Publish.BadName")
}

#[test]
fn real_publisher_survives_hostile_load() {
    let _alone = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    raise_fd_limit();
    let clip = clip_h264_aac(10);
    let rx = Receiver::start(&[
        ("stream-key", KEY),
        ("eos-on-disconnect", "false"),
        ("publish-deadline", "2000"),
        ("timeout", "5000"),
        ("max-connections-per-address", "0"),
    ]);
    let port = rx.port;
    let rss_before = rss_kib();

    let attacks: [(&str, Attack); 8] = [
        ("junk bytes", junk),
        ("half handshake", half_handshake),
        ("slow-loris", slow_loris),
        ("oversize length", oversize_length),
        ("deep AMF nesting", deep_amf),
        ("chunk size 0", chunk_size_zero),
        ("interleaved chunks + wrong key", interleaved_wrong_key),
        ("duplicate publisher", duplicate_publisher),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    // The duplicate publisher is only tried once the real one is live (before that it would be
    // accepted as the stream's publisher, which is right, but not the case under test).
    let live = Arc::new(AtomicBool::new(false));
    let tried = Arc::new(AtomicU64::new(0));
    let survived = Arc::new(AtomicU64::new(0));
    let mut failures: Vec<std::thread::JoinHandle<Vec<&'static str>>> = Vec::new();
    // Load starts before the publisher, so go-live is measured under load.
    for worker in 0..4 {
        let (stop, tried, survived, live) =
            (stop.clone(), tried.clone(), survived.clone(), live.clone());
        failures.push(std::thread::spawn(move || {
            let mut failed = Vec::new();
            let mut i = worker;
            while !stop.load(Ordering::SeqCst) {
                let (name, attack) = attacks[i % attacks.len()];
                i += 1;
                if name == "duplicate publisher" && !live.load(Ordering::SeqCst) {
                    continue;
                }
                tried.fetch_add(1, Ordering::Relaxed);
                if attack(port) {
                    survived.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.push(name);
                }
            }
            failed
        }));
    }
    // Plus a flood of plain connections that only connect and go away.
    let flood_stop = stop.clone();
    let flooded = Arc::new(AtomicU64::new(0));
    let flood_count = flooded.clone();
    let flood = std::thread::spawn(move || {
        while !flood_stop.load(Ordering::SeqCst) {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(&[3]);
                flood_count.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let mut peak_rss = rss_before;
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let child = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), true);
    assert!(rx.wait_for(Duration::from_secs(5), |r| r
        .pad("video_0")
        .first_buffer_at
        .is_some()));
    let go_live = rx.pad("video_0").first_buffer_at.unwrap() - started;
    live.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut child = Some(child);
    while Instant::now() < deadline {
        peak_rss = peak_rss.max(rss_kib());
        // Hostile load stops 2 s before the 10 s clip ends, so no attack is in flight when the
        // real publisher leaves (a duplicate publisher would then rightly be accepted).
        if started.elapsed() > Duration::from_secs(8) {
            stop.store(true, Ordering::SeqCst);
        }
        if let Some(c) = child.as_mut() {
            if c.try_wait().unwrap().is_some() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, err) = wait_child(child.take().unwrap(), Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    let failed: Vec<&str> = failures
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    flood.join().unwrap();
    assert!(ok, "ffmpeg failed under load: {err}");

    // Every frame of the real publisher, bit-exact.
    let source = probe_packets(&clip);
    assert!(
        rx.wait_for(Duration::from_secs(3), |r| r.pad("video_0").packets.len()
            >= source["video"].len())
    );
    let got_video = rx.pad("video_0").packets;
    let got_audio = rx.pad("audio_0").packets;
    let lost = (source["video"].len() + source["audio"].len())
        .saturating_sub(got_video.len() + got_audio.len());
    assert_same_packets("video", &source["video"], &got_video);
    assert_same_packets("audio", &source["audio"], &got_audio);

    // Still serving: a second publish of the same stream goes live on the same pads.
    let before = rx.pad("audio_0").packets.len();
    let (ok, err) = wait_child(
        ffmpeg_publish(&clip_audio_only(3), &rx.url(&format!("app/{KEY}")), false),
        Duration::from_secs(20),
    );
    assert!(ok, "second publish failed: {err}");
    assert!(
        rx.wait_for(Duration::from_secs(3), |r| r.pad("audio_0").packets.len()
            > before + 100)
    );

    // Everything hostile was reaped.
    let reaped = rx.wait_for(Duration::from_secs(8), |r| {
        r.src
            .property::<gst::Structure>("stats")
            .get::<u64>("connections-open")
            .unwrap()
            == 0
    });
    let stats = rx.src.property::<gst::Structure>("stats");
    assert!(reaped, "connections still open: {stats}");
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());

    let tried = tried.load(Ordering::Relaxed);
    let survived = survived.load(Ordering::Relaxed);
    let table = format!(
        "| measure | value |\n|---|---|\n\
         | hostile connections tried (8 kinds, 4 workers) | {tried} |\n\
         | of which handled as expected (closed or refused) | {survived} |\n\
         | plain connect-and-leave flood | {} |\n\
         | faults survived: publisher live throughout, second publish accepted | yes |\n\
         | frames lost (video + audio, of {}) | {lost} |\n\
         | go-live under load (ffmpeg spawn → first buffer) | {} ms |\n\
         | test process RSS before → peak | {} → {} MiB |\n\
         | connections open at the end | 0 |\n\
         | element stats | `{}` |\n",
        flooded.load(Ordering::Relaxed),
        source["video"].len() + source["audio"].len(),
        go_live.as_millis(),
        rss_before / 1024,
        peak_rss / 1024,
        stats
    );
    println!("{table}");
    let _ = std::fs::write(tmp_path("reliability.md"), &table);
    assert!(failed.is_empty(), "attacks not handled: {failed:?}");
    assert_eq!(lost, 0);
    assert!(go_live < Duration::from_secs(1), "go-live {go_live:?}");
    assert!(
        peak_rss - rss_before < 256 * 1024,
        "memory grew by {} KiB",
        peak_rss - rss_before
    );
}

#[test]
fn thousand_idle_connections_cost_little_and_are_reaped() {
    let _alone = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    raise_fd_limit();
    let rx = Receiver::start(&[
        ("stream-key", KEY),
        ("publish-deadline", "3000"),
        ("max-connections", "2000"),
        ("max-connections-per-address", "0"),
    ]);
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let threads_before = threads_now();
    let mut conns = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(("127.0.0.1", rx.port)).unwrap();
        // C0 + a little of C1: past accept, into the handshake, then silent.
        s.write_all(&[3u8; 100]).unwrap();
        conns.push(s);
    }
    let open = |r: &Receiver| {
        r.src
            .property::<gst::Structure>("stats")
            .get::<u64>("connections-open")
            .unwrap()
    };
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| open(r) == 1000),
        "open: {}",
        rx.src.property::<gst::Structure>("stats")
    );
    let during = rss_kib();
    // Strangers get no thread of their own: the front door's event loop holds them all.
    let threads = threads_now();
    assert!(
        threads < threads_before + 8,
        "threads {threads_before} → {threads} for 1000 idle connections"
    );
    let per_conn = (during.saturating_sub(before)) as f64 / 1000.0;
    println!("1000 idle connections: RSS {before} → {during} KiB, {per_conn:.1} KiB each");
    let started = Instant::now();
    assert!(
        rx.wait_for(Duration::from_secs(6), |r| open(r) == 0),
        "not reaped: {}",
        open(&rx)
    );
    println!(
        "reaped after {:?} (publish-deadline 3 s)",
        started.elapsed()
    );
    let _ = std::fs::write(
        tmp_path("idle-connections.md"),
        format!("1000 idle connections: {per_conn:.1} KiB each (RSS {before} → {during} KiB), reaped by the 3 s deadline\n"),
    );
    assert!(per_conn < 256.0, "{per_conn} KiB per idle connection");
    drop(conns);
}

/// Threads of this process.
fn threads_now() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// An 8 MiB AMF0 `connect` command whose values decode to many times their size: a strict
/// array of null markers, an object of one-byte keys, or a long string.
fn amplifying_connect(kind: usize) -> Vec<u8> {
    const SIZE: usize = 8 * 1024 * 1024 - 64;
    let mut out = Vec::with_capacity(SIZE + 64);
    rtmpserver_proto::rtmp::amf0::encode(
        &[Amf0Value::string("connect"), Amf0Value::Number(1.0)],
        &mut out,
    );
    match kind {
        0 => {
            out.push(0x0A);
            out.extend_from_slice(&(SIZE as u32).to_be_bytes());
            out.resize(out.len() + SIZE, 0x05);
        }
        1 => {
            out.push(0x03);
            while out.len() < SIZE {
                out.extend_from_slice(&[0, 1, b'k', 0x05]);
            }
            out.extend_from_slice(&[0, 0, 0x09]);
        }
        _ => {
            out.push(0x0C);
            out.extend_from_slice(&(SIZE as u32).to_be_bytes());
            out.resize(out.len() + SIZE, b'x');
        }
    }
    out
}

/// As many 8 MiB amplifying commands from one address as its connection limit allows, sent
/// before connecting, while FFmpeg publishes from another: the process's peak memory barely
/// moves, the attackers are closed, and the publish arrives bit-exact.
#[test]
fn pre_connect_amplification_is_bounded_and_the_publish_unharmed() {
    let _alone = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    raise_fd_limit();
    let per_address = 100;
    let rx = Receiver::start(&[
        ("stream-key", KEY),
        ("eos-on-disconnect", "true"),
        ("max-connections-per-address", &per_address.to_string()),
    ]);
    let clip = clip_h264_aac(10);
    // Each command chunked once (one chunk: the client announces a 16 MiB chunk size), and
    // written by every attacker from the same memory, so the test's own side stays small.
    let payloads: Vec<std::sync::Arc<Vec<u8>>> = (0..3)
        .map(|k| {
            let mut writer = rtmpserver_proto::rtmp::ChunkWriter::new();
            writer.set_chunk_size(16 << 20);
            let mut chunked = Vec::new();
            writer.write(3, 0, COMMAND, 0, &amplifying_connect(k), &mut chunked);
            std::sync::Arc::new(chunked)
        })
        .collect();
    let peak_before = peak_rss_kib();
    let publisher = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), true);
    std::thread::sleep(Duration::from_millis(500));
    let port = rx.port;
    let attackers: Vec<_> = (0..per_address)
        .map(|i| {
            let payload = payloads[i % 3].clone();
            std::thread::spawn(move || {
                let Ok(mut c) = TestClient::open_from_second_address(port) else {
                    return false;
                };
                if c.handshake().is_err() {
                    return false;
                }
                // One chunk per message, so the server sees the whole length at once; then the
                // bytes, for as long as the server reads them.
                let _ = c.send(2, 0, 1, 0, &(16u32 << 20).to_be_bytes());
                let _ = c.stream.write_all(&payload);
                c.closed_within(Duration::from_secs(5))
            })
        })
        .collect();
    let closed = attackers
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|c| *c)
        .count();
    let peak_after = peak_rss_kib();
    println!(
        "{per_address} amplifying connects: {closed} closed; peak RSS {peak_before} → {peak_after} KiB"
    );
    assert_eq!(closed, per_address, "every attacker is closed");
    assert!(
        peak_after.saturating_sub(peak_before) < 64 * 1024,
        "peak RSS grew by {} KiB",
        peak_after - peak_before
    );
    let (ok, err) = wait_child(publisher, Duration::from_secs(30));
    assert!(ok, "ffmpeg: {err}");
    assert!(rx.wait_for(Duration::from_secs(10), |r| r.has_message("eos")));
    let src = probe_packets(&clip);
    assert_same_packets("video", &src["video"], &rx.pad("video_0").packets);
    assert_same_packets("audio", &src["audio"], &rx.pad("audio_0").packets);
    let _ = std::fs::write(
        tmp_path("amplification.md"),
        format!(
            "{per_address} pre-connect 8 MiB amplifying commands from one address: peak RSS \
             {peak_before} → {peak_after} KiB, all closed, a concurrent FFmpeg publish bit-exact\n"
        ),
    );
}
