// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Faults and edge timing no real client produces on demand: our own client publishes exactly
//! the timestamps, stalls and silences under test; real publishers (ffmpeg) where they can.

mod common;

use std::time::{Duration, Instant};

use common::client::TestClient;
use common::*;
use gst::prelude::*;
use rtmpserver_proto::rtmp::Amf0Value;

const KEY: &str = "faults";

fn aac_payload(n: u32) -> String {
    let mut body = n.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x21; 60]);
    md5_hex(&body)
}

fn avc_payload(n: u32) -> String {
    let mut body = 4u32.to_be_bytes().to_vec();
    body.extend_from_slice(&n.to_be_bytes());
    md5_hex(&body)
}

fn audio_receiver(extra: &[(&str, &str)]) -> Receiver {
    let mut props = vec![("stream-key", KEY)];
    props.extend_from_slice(extra);
    Receiver::start(&props)
}

/// Sends AAC frames with the given raw RTMP timestamps; returns the output PTS steps (ms).
fn send_audio_timestamps(timestamps: &[u32]) -> (Vec<i64>, PadLog) {
    let rx = audio_receiver(&[]);
    let mut c = TestClient::publisher(rx.port, "app", KEY);
    c.metadata(false, true).unwrap();
    c.aac_header(timestamps[0]).unwrap();
    for (n, ts) in timestamps.iter().enumerate() {
        c.aac_frame(*ts, n as u32).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == timestamps.len()),
        "got {} of {}",
        rx.pad("audio_0").packets.len(),
        timestamps.len()
    );
    let log = rx.pad("audio_0");
    for (n, p) in log.packets.iter().enumerate() {
        assert_eq!(
            p.md5,
            aac_payload(n as u32),
            "frame {n} out of order or altered"
        );
    }
    let steps = log
        .packets
        .windows(2)
        .map(|w| w[1].pts_ms - w[0].pts_ms)
        .collect();
    (steps, log)
}

#[test]
fn timestamps_across_the_32bit_wrap_keep_their_spacing() {
    let timestamps: Vec<u32> = (0..40u32)
        .map(|i| (u32::MAX - 460).wrapping_add(i * 23))
        .collect();
    let (steps, log) = send_audio_timestamps(&timestamps);
    assert!(steps.iter().all(|&s| s == 23), "steps {steps:?}");
    assert_eq!(
        log.discont_count, 1,
        "only the session's first buffer is a discontinuity"
    );
}

#[test]
fn timestamps_across_the_extended_timestamp_boundary_keep_their_spacing() {
    // 0xFFFFFF ms (4h39m) is where RTMP switches to the 4-byte extended timestamp field.
    let timestamps: Vec<u32> = (0..40u32).map(|i| 0x00FF_FFFF - 460 + i * 23).collect();
    let (steps, log) = send_audio_timestamps(&timestamps);
    assert!(steps.iter().all(|&s| s == 23), "steps {steps:?}");
    assert_eq!(log.discont_count, 1);
}

#[test]
fn big_timestamp_jumps_resync_with_discont_instead_of_stalling() {
    let mut timestamps: Vec<u32> = (0..20u32).map(|i| 50_000 + i * 23).collect();
    // Encoder restarts its clock (back to 0), then jumps an hour ahead.
    timestamps.extend((0..20u32).map(|i| i * 23));
    timestamps.extend((0..20u32).map(|i| 3_600_000 + i * 23));
    let (steps, log) = send_audio_timestamps(&timestamps);
    // Each jump becomes one small step (no hour-long gap, no time running backwards).
    assert!(
        steps.iter().all(|&s| (0..=23).contains(&s)),
        "steps {steps:?}"
    );
    assert_eq!(log.discont_count, 3, "first buffer + one per jump");
}

#[test]
fn negative_composition_times_give_pts_before_dts() {
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let mut c = TestClient::publisher(rx.port, "app", KEY);
    c.metadata(true, false).unwrap();
    c.avc_header(0).unwrap();
    let cts = [0, -33, 66, -10, 33];
    for (n, cts) in cts.iter().enumerate() {
        c.avc_frame(1000 + n as u32 * 33, *cts, n == 0, n as u32)
            .unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            == cts.len())
    );
    let video = rx.pad("video_0");
    for (n, (p, cts)) in video.packets.iter().zip(cts).enumerate() {
        assert_eq!(p.md5, avc_payload(n as u32));
        assert_eq!(p.pts_ms - p.dts_ms, i64::from(cts), "frame {n}");
        assert_eq!(p.keyframe, n == 0);
    }
    let s = video.caps[0].structure(0).unwrap().to_owned();
    assert_eq!(s.name(), "video/x-h264");
}

#[test]
fn audio_long_before_video_loses_nothing_of_either() {
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let mut c = TestClient::publisher(rx.port, "app", KEY);
    // No onMetaData: the element cannot know video will come.
    c.aac_header(0).unwrap();
    let start = Instant::now();
    for n in 0..40u32 {
        c.aac_frame(n * 23, n).unwrap();
        std::thread::sleep(Duration::from_millis(23));
    }
    assert!(start.elapsed() > Duration::from_millis(900));
    c.avc_header(920).unwrap();
    for n in 0..10u32 {
        c.avc_frame(920 + n * 33, 0, n == 0, n).unwrap();
        c.aac_frame(920 + n * 33, 40 + n).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            == 10
            && r.pad("audio_0").packets.len() == 50)
    );
    let audio = rx.pad("audio_0");
    assert!(audio
        .packets
        .iter()
        .enumerate()
        .all(|(n, p)| p.md5 == aac_payload(n as u32)));
    let video = rx.pad("video_0");
    assert!(video
        .packets
        .iter()
        .enumerate()
        .all(|(n, p)| p.md5 == avc_payload(n as u32)));
    // A/V stay in sync: the first video frame is 920 ms after the first audio frame.
    assert_eq!(video.packets[0].dts_ms - audio.packets[0].dts_ms, 920);
}

#[test]
fn half_open_publisher_is_replaced_once_silent_past_stale_timeout() {
    let rx = audio_receiver(&[("stale-timeout", "1000")]);
    let mut stale = TestClient::publisher(rx.port, "app", KEY);
    stale.aac_header(0).unwrap();
    for n in 0..5 {
        stale.aac_frame(n * 23, n).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 5)
    );
    // The encoder's network dies without FIN: the socket stays open and silent. Its restart
    // is refused while the old session may still be alive ...
    let again = TestClient::publisher_result(rx.port, "app", KEY);
    assert_eq!(again.as_deref(), Some("NetStream.Publish.BadName"));
    // ... and accepted once the old one has been silent past stale-timeout.
    std::thread::sleep(Duration::from_millis(1100));
    let mut fresh = TestClient::publisher(rx.port, "app", KEY);
    fresh.aac_header(0).unwrap();
    for n in 5..10 {
        fresh.aac_frame(n * 23, n).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 10)
    );
    let audio = rx.pad("audio_0");
    assert!(audio
        .packets
        .iter()
        .enumerate()
        .all(|(n, p)| p.md5 == aac_payload(n as u32)));
    assert_eq!(rx.pad_names(), ["audio_0"], "same pad");
    // The stale session is closed at once (not at its 30 s timeout), so it can never interleave.
    assert!(stale.closed_within(Duration::from_millis(500)));
}

#[test]
fn publisher_stalled_mid_message_is_dropped_after_timeout() {
    let rx = audio_receiver(&[("timeout", "2000")]);
    let mut c = TestClient::publisher(rx.port, "app", KEY);
    c.aac_header(0).unwrap();
    c.aac_frame(0, 0).unwrap();
    // A 10 kB video message header and 100 bytes of it, then nothing.
    use std::io::Write;
    c.stream
        .write_all(&[0x06, 0, 0, 40, 0, 0x27, 0x10, 9, 1, 0, 0, 0])
        .unwrap();
    c.stream.write_all(&[0x27; 100]).unwrap();
    let start = Instant::now();
    assert!(c.closed_within(Duration::from_secs(5)), "not dropped");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(rx.wait_for(Duration::from_secs(2), |r| r
        .has_message("rtmpserversrc-publish-stopped")));
    let stopped = rx
        .messages
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.name() == "rtmpserversrc-publish-stopped")
        .cloned()
        .unwrap();
    assert_eq!(stopped.get::<String>("reason").unwrap(), "timeout");
    // What was sent before the stall was delivered.
    assert_eq!(rx.pad("audio_0").packets.len(), 1);
}

#[test]
fn blocked_downstream_bounds_memory_and_loses_nothing() {
    init();
    let clip = clip_h264_aac(10);
    let rx = Receiver::start(&[("stream-key", KEY), ("eos-on-disconnect", "true")]);
    // Block the video pad as soon as it appears: downstream stops consuming.
    let blocked = std::sync::Arc::new(std::sync::Mutex::new(None::<(gst::Pad, gst::PadProbeId)>));
    let blocked_cb = blocked.clone();
    rx.src.connect_pad_added(move |_, pad| {
        if pad.name() == "video_0" {
            let id = pad
                .add_probe(
                    gst::PadProbeType::BLOCK | gst::PadProbeType::BUFFER,
                    |_, _| gst::PadProbeReturn::Ok,
                )
                .unwrap();
            *blocked_cb.lock().unwrap() = Some((pad.clone(), id));
        }
    });
    let before = rss_kib();
    // Full speed: ffmpeg pushes as fast as TCP lets it.
    let child = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), false);
    std::thread::sleep(Duration::from_secs(3));
    let during = rss_kib();
    let delivered_while_blocked = rx.pad("video_0").packets.len();
    assert!(
        delivered_while_blocked < 20,
        "video kept flowing: {delivered_while_blocked}"
    );
    // The connection thread is blocked in the push: the bound is the socket buffers and the
    // connection's read buffer; the rest waits in the publisher (TCP back-pressure).
    println!("RSS {before} → {during} KiB while downstream is blocked");
    assert!(
        during.saturating_sub(before) < 32 * 1024,
        "memory grew {} KiB",
        during - before
    );
    // Unblock: everything the publisher sent arrives, bit-exact.
    let (pad, id) = blocked.lock().unwrap().take().expect("video pad appeared");
    pad.remove_probe(id);
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "{err}");
    assert!(rx.wait_for(Duration::from_secs(10), |r| r.has_message("eos")));
    let src = probe_packets(&clip);
    assert_same_packets("video", &src["video"], &rx.pad("video_0").packets);
    assert_same_packets("audio", &src["audio"], &rx.pad("audio_0").packets);
}

#[test]
fn publisher_held_by_back_pressure_is_not_replaced_as_silent() {
    let rx = audio_receiver(&[("stale-timeout", "500")]);
    // Downstream stops consuming as soon as the pad appears.
    let blocked = std::sync::Arc::new(std::sync::Mutex::new(None::<(gst::Pad, gst::PadProbeId)>));
    let blocked_cb = blocked.clone();
    rx.src.connect_pad_added(move |_, pad| {
        let id = pad
            .add_probe(
                gst::PadProbeType::BLOCK | gst::PadProbeType::BUFFER,
                |_, _| gst::PadProbeReturn::Ok,
            )
            .unwrap();
        *blocked_cb.lock().unwrap() = Some((pad.clone(), id));
    });
    let mut live = TestClient::publisher(rx.port, "app", KEY);
    live.metadata(false, true).unwrap();
    live.aac_header(0).unwrap();
    for n in 0..5 {
        live.aac_frame(n * 23, n).unwrap();
    }
    // Held in its push far longer than stale-timeout: still the live publisher.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(blocked.lock().unwrap().is_some(), "the pad never appeared");
    let again = TestClient::publisher_result(rx.port, "app", KEY);
    assert_eq!(again.as_deref(), Some("NetStream.Publish.BadName"));
    // Unblocked, it goes on, nothing lost.
    let (pad, id) = blocked.lock().unwrap().take().unwrap();
    pad.remove_probe(id);
    for n in 5..10 {
        live.aac_frame(n * 23, n).unwrap();
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("audio_0").packets.len()
            == 10)
    );
    assert!(rx
        .pad("audio_0")
        .packets
        .iter()
        .enumerate()
        .all(|(n, p)| p.md5 == aac_payload(n as u32)));
}

#[test]
fn stopping_before_the_tracks_settle_adds_no_pads() {
    let rx = audio_receiver(&[]);
    let added = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let added_cb = added.clone();
    rx.src.connect_pad_added(move |_, pad| {
        added_cb.lock().unwrap().push(pad.name().to_string());
    });
    // Audio only, no onMetaData: the element waits up to 500 ms for a video track.
    let mut c = TestClient::publisher(rx.port, "app", KEY);
    c.aac_header(0).unwrap();
    c.aac_frame(0, 0).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let took = rx.stop();
    assert!(took < Duration::from_secs(1), "NULL took {took:?}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        *added.lock().unwrap(),
        Vec::<String>::new(),
        "pads added while stopping"
    );
    assert!(!rx.has_message("rtmpserversrc-publish-started"));
}

/// Whether the element pushes from the publisher's thread (direct delivery) now.
fn direct_delivery(rx: &Receiver) -> bool {
    let stats = rx.src.property::<gst::Structure>("stats");
    stats.get::<bool>("direct-delivery-active").unwrap_or(false)
}

/// One connection unpublishes and publishes another stream key on the same port, which goes to
/// another element, after direct delivery started on the first. No real client does this, but
/// nothing forbids it. Once the second element delivers directly too, each frame must come out
/// as it arrives: the reading thread has to push with the second element's delivery (kept from
/// the first publish, it pushed the first element's empty queues while the second's media
/// waited for the next wake-up, about half a second, and a rescue fell back on the wrong
/// element).
#[test]
fn a_connection_that_publishes_again_to_another_element_is_pushed_as_it_arrives() {
    let port = free_port().to_string();
    let a = Receiver::start(&[("port", &port), ("stream-key", "key-a")]);
    let b = Receiver::start(&[("port", &port), ("stream-key", "key-b")]);
    let mut c = TestClient::publisher(a.port, "app", "key-a");
    c.metadata(false, true).unwrap();
    c.aac_header(0).unwrap();
    // Frames every 10 ms until the quick pushes switch the element to direct delivery.
    let feed_until_direct = |c: &mut TestClient, rx: &Receiver, first: u32| {
        let start = Instant::now();
        let mut n = first;
        while !direct_delivery(rx) && start.elapsed() < Duration::from_secs(10) {
            c.aac_frame((n - first) * 10, n).unwrap();
            n += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            direct_delivery(rx),
            "appsinks never waited, yet no direct delivery"
        );
        // And some more, pushed by the reading thread itself.
        for _ in 0..20 {
            c.aac_frame((n - first) * 10, n).unwrap();
            n += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    };
    let n = feed_until_direct(&mut c, &a, 0);
    assert!(
        a.wait_for(Duration::from_secs(2), |r| r.pad("audio_0").packets.len()
            == n as usize)
    );
    // closeStream keeps message stream 1; the new publish goes on it.
    c.command(
        1,
        &[
            Amf0Value::string("closeStream"),
            Amf0Value::Number(0.0),
            Amf0Value::Null,
        ],
    )
    .unwrap();
    c.command(
        1,
        &[
            Amf0Value::string("publish"),
            Amf0Value::Number(4.0),
            Amf0Value::Null,
            Amf0Value::string("key-b"),
            Amf0Value::string("live"),
        ],
    )
    .unwrap();
    let started = c.wait_for(Duration::from_secs(5), |m| {
        TestClient::command_name(m).as_deref() == Some("onStatus")
            && String::from_utf8_lossy(&m.payload).contains("NetStream.Publish.Start")
    });
    assert!(started.is_some(), "the second publish was not accepted");
    c.metadata(false, true).unwrap();
    c.aac_header(0).unwrap();
    let fed = feed_until_direct(&mut c, &b, 1000);
    let mut took = Vec::new();
    for (k, n) in (fed..fed + 30).enumerate() {
        let before = b.pad("audio_0").packets.len();
        let sent = Instant::now();
        c.aac_frame((n - 1000) * 10, n).unwrap();
        assert!(
            b.wait_for(Duration::from_secs(3), |r| r.pad("audio_0").packets.len()
                > before),
            "frame {k} never came out"
        );
        took.push(sent.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Most frames, not all: a loaded machine may hold one back now and then (without the
    // fix every frame waited about half a second).
    took.sort();
    let slow = took
        .iter()
        .filter(|t| **t >= Duration::from_millis(300))
        .count();
    assert!(
        slow <= 3,
        "{slow} of 30 frames took 300 ms or more to come out of the second element \
         (median {:?})",
        took[15]
    );
}
