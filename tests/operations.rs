// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Operating it: several elements on one port, RTMPS, stats and bus messages, against real
//! publishers (Debian's ffmpeg, GStreamer's rtmp2sink).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use gst::prelude::*;

/// A self-signed certificate for 127.0.0.1/localhost, made once with openssl: the paths of the
/// certificate and key PEM files, as the element's properties take them.
fn test_certificate() -> (String, String) {
    let dir = media_dir();
    let (cert, key) = (dir.join("test-cert.pem"), dir.join("test-key.pem"));
    if !cert.exists() || !key.exists() {
        let tmp_cert = dir.join(format!("test-cert.{}.tmp", std::process::id()));
        let tmp_key = dir.join(format!("test-key.{}.tmp", std::process::id()));
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=localhost",
            ])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&tmp_key)
            .arg("-out")
            .arg(&tmp_cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success());
        std::fs::rename(&tmp_key, &key).unwrap();
        std::fs::rename(&tmp_cert, &cert).unwrap();
    }
    (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    )
}

fn rejected_reasons(rx: &Receiver) -> Vec<String> {
    rx.messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == "rtmpserversrc-rejected")
        .map(|s| s.get::<String>("reason").unwrap())
        .collect()
}

#[test]
fn two_elements_share_one_port_with_their_own_keys_and_passwords() {
    let port = free_port().to_string();
    let a = Receiver::start(&[
        ("port", &port),
        ("stream-key", "key-a"),
        ("username", "alice"),
        ("password", "pass-a"),
        ("eos-on-disconnect", "true"),
    ]);
    let b = Receiver::start(&[
        ("port", &port),
        ("stream-key", "key-b"),
        ("username", "bob"),
        ("password", "pass-b"),
        ("eos-on-disconnect", "true"),
    ]);
    assert_eq!(a.port, b.port);
    let clip_a = clip_h264_aac(4);
    let clip_b = clip_video_only(3);
    let pa = ffmpeg_publish(
        &clip_a,
        &format!("rtmp://alice:pass-a@127.0.0.1:{port}/app/key-a"),
        true,
    );
    let pb = ffmpeg_publish(
        &clip_b,
        &format!("rtmp://bob:pass-b@127.0.0.1:{port}/app/key-b"),
        true,
    );
    let (ok_a, err_a) = wait_child(pa, Duration::from_secs(30));
    let (ok_b, err_b) = wait_child(pb, Duration::from_secs(30));
    assert!(ok_a, "publisher a: {err_a}");
    assert!(ok_b, "publisher b: {err_b}");
    assert!(a.wait_for(Duration::from_secs(5), |r| r.has_message("eos")));
    assert!(b.wait_for(Duration::from_secs(5), |r| r.has_message("eos")));
    let src_a = probe_packets(&clip_a);
    let src_b = probe_packets(&clip_b);
    assert_same_packets("a video", &src_a["video"], &a.pad("video_0").packets);
    assert_same_packets("a audio", &src_a["audio"], &a.pad("audio_0").packets);
    assert_same_packets("b video", &src_b["video"], &b.pad("video_0").packets);
    assert!(b.pad("audio_0").packets.is_empty());

    // A wrong key on the shared port is refused; and alice's credentials do not open bob's key.
    for (url, why) in [
        (
            format!("rtmp://alice:pass-a@127.0.0.1:{port}/app/key-c"),
            "unknown key",
        ),
        (
            format!("rtmp://alice:pass-a@127.0.0.1:{port}/app/key-b"),
            "another user's key",
        ),
    ] {
        let (ok, err) = wait_child(
            ffmpeg_publish(&clip_b, &url, false),
            Duration::from_secs(20),
        );
        assert!(!ok, "{why} accepted");
        assert!(err.contains("stream key rejected"), "{why}: {err}");
    }
    assert!(rejected_reasons(&a).contains(&"bad-stream-key".to_string()));
    assert!(rejected_reasons(&b).contains(&"bad-credentials-for-key".to_string()));
}

#[test]
fn element_leaving_a_shared_port_keeps_the_other_serving() {
    let port = free_port().to_string();
    let a = Receiver::start(&[("port", &port), ("stream-key", "key-a")]);
    let b = Receiver::start(&[
        ("port", &port),
        ("stream-key", "key-b"),
        ("eos-on-disconnect", "true"),
    ]);
    let live_a = ffmpeg_publish(
        &clip_h264_aac(10),
        &format!("rtmp://127.0.0.1:{port}/app/key-a"),
        true,
    );
    assert!(a.wait_for(Duration::from_secs(5), |r| !r
        .pad("video_0")
        .packets
        .is_empty()));
    // b's publisher comes and goes while a is live; then a leaves while b is publishing again.
    let clip = clip_video_only(3);
    let (ok, err) = wait_child(
        ffmpeg_publish(&clip, &format!("rtmp://127.0.0.1:{port}/app/key-b"), false),
        Duration::from_secs(20),
    );
    assert!(ok, "{err}");
    assert!(b.wait_for(Duration::from_secs(5), |r| r.has_message("eos")));
    assert_same_packets(
        "b video",
        &probe_packets(&clip)["video"],
        &b.pad("video_0").packets,
    );
    let took = a.stop();
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (ok, _) = wait_child(live_a, Duration::from_secs(5));
    assert!(!ok, "a's publisher must have been disconnected when a left");
    // The port is still served for b's application: a new connect gets an answer (b has sent
    // EOS, so the publish itself is refused with that reason, which proves b answered).
    let (ok, err) = wait_child(
        ffmpeg_publish(&clip, &format!("rtmp://127.0.0.1:{port}/app/key-b"), false),
        Duration::from_secs(20),
    );
    assert!(!ok);
    assert!(err.contains("this stream has ended"), "{err}");
}

#[test]
fn ffmpeg_and_rtmp2sink_publish_over_rtmps() {
    let (cert, key) = test_certificate();
    let rx = Receiver::start(&[
        ("stream-key", "secure"),
        ("tls-certificate", &cert),
        ("tls-key", &key),
        ("tls-port", "0"),
        ("tls-only", "true"),
        ("eos-on-disconnect", "true"),
    ]);
    let tls_port = rx.src.property::<u32>("bound-tls-port");
    assert_ne!(tls_port, 0);
    let clip = clip_h264_aac(4);
    let (ok, err) = wait_child(
        ffmpeg_publish(
            &clip,
            &format!("rtmps://127.0.0.1:{tls_port}/app/secure"),
            true,
        ),
        Duration::from_secs(30),
    );
    assert!(ok, "ffmpeg over rtmps: {err}");
    assert!(rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")));
    let src = probe_packets(&clip);
    assert_same_packets("video", &src["video"], &rx.pad("video_0").packets);
    assert_same_packets("audio", &src["audio"], &rx.pad("audio_0").packets);

    let rx = Receiver::start(&[
        ("stream-key", "secure"),
        ("tls-certificate", &cert),
        ("tls-key", &key),
        ("tls-port", "0"),
        ("eos-on-disconnect", "true"),
    ]);
    let tls_port = rx.src.property::<u32>("bound-tls-port");
    let sent = tmp_path(&format!("rtmps-sent-{tls_port}.flv"));
    let (ok, out) = rtmp2sink_publish(
        &format!("rtmps://127.0.0.1:{tls_port}/app/secure"),
        true,
        true,
        &sent,
        &["tls-validation-flags=0"],
    );
    assert!(ok, "rtmp2sink over rtmps: {out}");
    assert!(rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")));
    let src = probe_packets(&sent);
    assert_same_packets("video", &src["video"], &rx.pad("video_0").packets);
    assert_same_packets("audio", &src["audio"], &rx.pad("audio_0").packets);

    // A plain RTMP client on the TLS port fails cleanly (and the port checks use 443 for
    // rtmps: a tcUrl without a port on the TLS port only works with public-tls-port=443).
    let (ok, _) = wait_child(
        ffmpeg_publish(
            &clip,
            &format!("rtmp://127.0.0.1:{tls_port}/app/secure"),
            false,
        ),
        Duration::from_secs(20),
    );
    assert!(!ok);
}

#[test]
fn stats_and_bus_messages_follow_a_real_publish() {
    let rx = Receiver::start(&[("stream-key", "k"), ("eos-on-disconnect", "true")]);
    let clip = clip_h264_aac(4);
    let child = ffmpeg_publish(&clip, &rx.url("app/k"), true);
    assert!(rx.wait_for(Duration::from_secs(5), |r| r
        .has_message("rtmpserversrc-publish-started")));
    let live = rx.src.property::<gst::Structure>("stats");
    assert!(live.get::<bool>("publishing").unwrap(), "{live}");
    assert!(live
        .get::<String>("client-address")
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(live.get::<u64>("connections-open").unwrap(), 1, "{live}");
    std::thread::sleep(Duration::from_millis(1500));
    let live = rx.src.property::<gst::Structure>("stats");
    let publisher = live
        .get::<gst::Structure>("publisher")
        .expect("publisher stats");
    assert!(
        publisher
            .get::<String>("encoder")
            .unwrap()
            .starts_with("FMLE/3.0"),
        "{publisher}"
    );
    assert_eq!(publisher.get::<String>("application").unwrap(), "app");
    assert_eq!(
        publisher.get::<String>("stream-key").unwrap(),
        "k",
        "{publisher}"
    );
    assert!(
        publisher.get::<u64>("bytes-in").unwrap() > 100_000,
        "{publisher}"
    );
    let bitrate = publisher.get::<u64>("bitrate").unwrap();
    // The clip is ~2 Mbit/s of video plus 128 kbit/s of audio, sent in real time.
    assert!(
        (1_000_000..6_000_000).contains(&bitrate),
        "bitrate {bitrate}: {publisher}"
    );
    let tracks = publisher.get::<gst::Array>("tracks").unwrap();
    let video = tracks
        .iter()
        .map(|t| t.get::<gst::Structure>().unwrap())
        .find(|t| t.get::<String>("pad").unwrap() == "video_0")
        .unwrap();
    assert_eq!(video.get::<String>("codec").unwrap(), "video/x-h264");
    assert!(video.get::<u64>("frames").unwrap() >= 30, "{video}");
    assert!(
        (video.get::<f64>("frames-per-second").unwrap() - 30.0).abs() < 1.0,
        "{video}"
    );
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "{err}");
    assert!(rx.wait_for(Duration::from_secs(5), |r| r
        .has_message("rtmpserversrc-publish-stopped")));
    let (ok, _) = wait_child(
        ffmpeg_publish(&clip, &rx.url("app/wrong"), false),
        Duration::from_secs(20),
    );
    assert!(!ok);
    let stats = rx.src.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("publishes").unwrap(), 1, "{stats}");
    assert_eq!(
        stats.get::<u64>("connections-accepted").unwrap(),
        2,
        "{stats}"
    );
    assert_eq!(
        stats.get::<u64>("connections-rejected").unwrap(),
        1,
        "{stats}"
    );
    let by_reason = stats.get::<gst::Structure>("rejected-by-reason").unwrap();
    assert_eq!(by_reason.get::<u64>("bad-stream-key").unwrap(), 1);
    assert!(!stats.get::<bool>("publishing").unwrap());

    let msgs = rx.messages.lock().unwrap().clone();
    let started = msgs
        .iter()
        .find(|s| s.name() == "rtmpserversrc-publish-started")
        .unwrap();
    assert!(started
        .get::<String>("client-address")
        .unwrap()
        .starts_with("127.0.0.1:"));
    let pads = started.get::<gst::Array>("pads").unwrap();
    assert_eq!(pads.len(), 2, "{started}");
    let stopped = msgs
        .iter()
        .find(|s| s.name() == "rtmpserversrc-publish-stopped")
        .unwrap();
    assert_eq!(
        stopped.get::<String>("reason").unwrap(),
        "peer-closed",
        "{stopped}"
    );
    let codecs = started.get::<gst::Structure>("codecs").unwrap();
    assert_eq!(codecs.get::<String>("video_0").unwrap(), "video/x-h264");
    assert_eq!(codecs.get::<String>("audio_0").unwrap(), "audio/mpeg");
    let totals = stopped.get::<gst::Structure>("totals").unwrap();
    let frames: u64 = totals
        .get::<gst::Array>("tracks")
        .unwrap()
        .iter()
        .map(|t| {
            t.get::<gst::Structure>()
                .unwrap()
                .get::<u64>("frames")
                .unwrap()
        })
        .sum();
    let source = probe_packets(&clip);
    assert_eq!(
        frames as usize,
        source["video"].len() + source["audio"].len(),
        "{totals}"
    );
    let rejected = msgs
        .iter()
        .find(|s| s.name() == "rtmpserversrc-rejected")
        .unwrap();
    assert_eq!(
        rejected.get::<String>("code").unwrap(),
        "NetStream.Publish.Denied"
    );
}

#[test]
fn stopping_an_element_on_two_ports_closes_only_its_publisher() {
    let (cert, key) = test_certificate();
    let rx = Receiver::start(&[
        ("stream-key", "both"),
        ("tls-certificate", &cert),
        ("tls-key", &key),
        ("tls-port", "0"),
    ]);
    let tls_port = rx.src.property::<u32>("bound-tls-port");
    // The first connection on the plain port, silent; the first on the TLS port publishes.
    let mut bystander = std::net::TcpStream::connect(("127.0.0.1", rx.port)).unwrap();
    let child = ffmpeg_publish(
        &clip_h264_aac(10),
        &format!("rtmps://127.0.0.1:{tls_port}/app/both"),
        true,
    );
    assert!(rx.wait_for(Duration::from_secs(10), |r| !r
        .pad("video_0")
        .packets
        .is_empty()));
    // READY closes the element's publisher, and nothing else: the listeners stay bound.
    rx.pipeline.set_state(gst::State::Ready).unwrap();
    let (ok, _) = wait_child(child, Duration::from_secs(5));
    assert!(!ok, "the publisher was not closed");
    assert!(
        !common::client::closed_within(&mut bystander, Duration::from_millis(300)),
        "a connection on the other port was closed too"
    );
}
