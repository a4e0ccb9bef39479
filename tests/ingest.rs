// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! End-to-end ingest with real publishers: Debian's ffmpeg and GStreamer's rtmp2sink.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;

const KEY: &str = "live-key-1";

fn assert_clip_received(rx: &Receiver, clip: &std::path::Path, video: bool, audio: bool) {
    let source = probe_packets(clip);
    if video {
        assert_same_packets("video", &source["video"], &rx.pad("video_0").packets);
    }
    if audio {
        assert_same_packets("audio", &source["audio"], &rx.pad("audio_0").packets);
    }
    let names = rx.pad_names();
    assert_eq!(
        names.iter().any(|n| n == "video_0"),
        video,
        "pads: {names:?}"
    );
    assert_eq!(
        names.iter().any(|n| n == "audio_0"),
        audio,
        "pads: {names:?}"
    );
}

#[test]
fn ffmpeg_h264_aac_arrives_bit_exact_with_caps_and_timestamps() {
    let clip = clip_h264_aac(10);
    let rx = Receiver::start(&[("stream-key", KEY), ("eos-on-disconnect", "true")]);
    let started = Instant::now();
    let child = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), true);
    assert!(rx.wait_for(Duration::from_secs(5), |r| r
        .pad("video_0")
        .first_buffer_at
        .is_some()));
    let go_live = rx.pad("video_0").first_buffer_at.unwrap() - started;
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "ffmpeg failed: {err}");
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")),
        "no EOS"
    );
    assert!(rx.errors().is_empty(), "errors: {:?}", rx.errors());
    assert_clip_received(&rx, &clip, true, true);

    // The process start of ffmpeg is included, so this bounds what a user sees.
    assert!(
        go_live < Duration::from_secs(1),
        "first buffer after {go_live:?}"
    );
    println!("go-live (ffmpeg spawn to first video buffer): {go_live:?}");

    let video_caps = &rx.pad("video_0").caps[0];
    let s = video_caps.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-h264");
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "avc");
    assert_eq!(s.get::<&str>("alignment").unwrap(), "au");
    assert_eq!(s.get::<i32>("width").unwrap(), 1280);
    assert_eq!(s.get::<i32>("height").unwrap(), 720);
    assert_eq!(
        s.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(30, 1)
    );
    assert!(s.get::<gst::Buffer>("codec_data").unwrap().size() > 10);

    let audio_caps = &rx.pad("audio_0").caps[0];
    let s = audio_caps.structure(0).unwrap();
    assert_eq!(s.name(), "audio/mpeg");
    assert_eq!(s.get::<i32>("mpegversion").unwrap(), 4);
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "raw");
    assert_eq!(s.get::<i32>("rate").unwrap(), 48000);
    assert_eq!(s.get::<i32>("channels").unwrap(), 2);
    assert!(s.get::<gst::Buffer>("codec_data").is_ok());

    // Audio and video share one timeline: their first timestamps are as close as in the clip.
    let source = probe_packets(&clip);
    let src_gap = source["audio"][0].dts_ms - source["video"][0].dts_ms;
    let out_gap = rx.pad("audio_0").packets[0].dts_ms - rx.pad("video_0").packets[0].dts_ms;
    assert_eq!(out_gap, src_gap, "A/V offset changed");
    assert!(rx.has_message("rtmpserversrc-publish-started"));
    assert!(rx.has_message("rtmpserversrc-publish-stopped"));
}

#[test]
fn ffmpeg_into_matroskamux_file_is_bit_exact() {
    init();
    let clip = clip_h264_aac(4);
    let port = free_port();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rec-{port}.mkv"));
    let pipeline = gst::parse::launch(&format!(
        "rtmpserversrc name=src address=127.0.0.1 port={port} stream-key={KEY} eos-on-disconnect=true \
         src.video_0 ! h264parse ! queue ! mux. \
         src.audio_0 ! aacparse ! queue ! mux. \
         matroskamux name=mux ! filesink location={}",
        out.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let child = ffmpeg_publish(&clip, &format!("rtmp://127.0.0.1:{port}/app/{KEY}"), true);
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "ffmpeg failed: {err}");
    expect_eos_then_stop(&pipeline, "EOS");

    let framemd5 = |path: &std::path::Path, stream: &str| -> Vec<String> {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-map", stream, "-c", "copy", "-f", "framemd5", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            // stream, dts, pts, duration, size, hash: keep size and hash, timestamps are compared
            // relative to the first packet below.
            .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>())
            .map(|f| format!("{} {}", f[4], f[5]))
            .collect()
    };
    for stream in ["0:v", "0:a"] {
        let want = framemd5(&clip, stream);
        let got = framemd5(&out, stream);
        assert!(!want.is_empty());
        assert_eq!(got, want, "stream {stream} differs");
    }
    // PTS spacing survives the file too.
    let src = probe_packets(&clip);
    let rec = probe_packets(&out);
    let rel = |v: &Vec<Packet>| v.iter().map(|p| p.pts_ms - v[0].pts_ms).collect::<Vec<_>>();
    assert_eq!(rel(&rec["video"]), rel(&src["video"]));
    assert_eq!(rel(&rec["audio"]), rel(&src["audio"]));
}

#[test]
fn rtmp2sink_publisher_arrives_bit_exact() {
    for (video, audio) in [(true, true), (true, false), (false, true)] {
        let rx = Receiver::start(&[("stream-key", KEY), ("eos-on-disconnect", "true")]);
        let sent = tmp_path(&format!("rtmp2sink-sent-{}.flv", rx.port));
        let (ok, out) = rtmp2sink_publish(&rx.url(&format!("app/{KEY}")), video, audio, &sent, &[]);
        assert!(ok, "rtmp2sink failed: {out}");
        assert!(
            rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")),
            "no EOS"
        );
        assert_clip_received(&rx, &sent, video, audio);
    }
}

#[test]
fn ffmpeg_video_only_and_audio_only() {
    for (clip, video, audio) in [
        (clip_video_only(3), true, false),
        (clip_audio_only(3), false, true),
    ] {
        let rx = Receiver::start(&[("stream-key", KEY), ("eos-on-disconnect", "true")]);
        let child = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), false);
        let (ok, err) = wait_child(child, Duration::from_secs(30));
        assert!(ok, "ffmpeg failed: {err}");
        assert!(
            rx.wait_for(Duration::from_secs(5), |r| r.has_message("eos")),
            "no EOS"
        );
        assert_clip_received(&rx, &clip, video, audio);
    }
}

#[test]
fn wrong_stream_key_and_application_are_rejected_with_reason() {
    let clip = clip_h264_aac(4);
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let (ok, err) = wait_child(
        ffmpeg_publish(&clip, &rx.url("app/not-the-key"), false),
        Duration::from_secs(20),
    );
    assert!(!ok);
    assert!(
        err.contains("Server error") && err.contains("stream key rejected"),
        "ffmpeg said: {err}"
    );

    let (ok, err) = wait_child(
        ffmpeg_publish(&clip, &rx.url(&format!("other/{KEY}")), false),
        Duration::from_secs(20),
    );
    assert!(!ok);
    assert!(
        err.contains("Server error") && err.contains("application 'other' not found"),
        "ffmpeg said: {err}"
    );
    assert!(
        rx.pad_names().is_empty(),
        "nothing may be output: {:?}",
        rx.pad_names()
    );
    let rejected = rx
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.name() == "rtmpserversrc-rejected")
        .map(|s| s.get::<String>("reason").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(rejected, ["bad-stream-key", "bad-application"]);
}

#[test]
fn rtmp2sink_wrong_key_fails_with_reason() {
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let sent = tmp_path(&format!("rtmp2sink-wrongkey-{}.flv", rx.port));
    let (ok, out) = rtmp2sink_publish(&rx.url("app/wrong"), true, false, &sent, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("stream key rejected"), "{out}");
    assert!(rx.pad_names().is_empty());
}

#[test]
fn killed_publisher_resumes_on_same_pads_with_discont() {
    let clip = clip_h264_aac(10);
    let rx = Receiver::start(&[("stream-key", KEY), ("stale-timeout", "500")]);
    let url = rx.url(&format!("app/{KEY}"));
    let mut first = ffmpeg_publish(&clip, &url, true);
    assert!(
        rx.wait_for(Duration::from_secs(5), |r| r.pad("video_0").packets.len()
            > 30)
    );
    first.kill().unwrap(); // SIGKILL: the socket is closed by the kernel, no unpublish
    first.wait().unwrap();
    let before = rx.pad("video_0").packets.len();
    let last_before = rx.pad("video_0").packets.last().unwrap().dts_ms;

    let second = ffmpeg_publish(&clip_h264_aac(4), &url, true);
    let (ok, err) = wait_child(second, Duration::from_secs(30));
    assert!(ok, "second publish failed: {err}");
    assert!(
        rx.wait_for(Duration::from_secs(3), |r| r.pad("video_0").packets.len()
            >= before + 120)
    );
    let video = rx.pad("video_0");
    assert_eq!(rx.pad_names(), ["audio_0", "video_0"], "same pads");
    let resumed = &video.packets[before];
    assert!(
        resumed.dts_ms > last_before,
        "time moves forward: {} after {}",
        resumed.dts_ms,
        last_before
    );
    assert!(
        video.discont_count >= 2,
        "DISCONT on each session's first buffer"
    );
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
    assert!(!rx.has_message("eos"));
}

#[test]
fn eos_on_disconnect_after_kill_finalizes_recording() {
    init();
    let clip = clip_h264_aac(10);
    let port = free_port();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("killed-{port}.mp4"));
    let pipeline = gst::parse::launch(&format!(
        "rtmpserversrc name=src address=127.0.0.1 port={port} stream-key={KEY} eos-on-disconnect=true \
         src.video_0 ! h264parse ! queue ! mux. src.audio_0 ! aacparse ! queue ! mux. \
         mp4mux name=mux ! filesink location={}",
        out.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut child = ffmpeg_publish(&clip, &format!("rtmp://127.0.0.1:{port}/app/{KEY}"), true);
    std::thread::sleep(Duration::from_secs(3));
    child.kill().unwrap();
    child.wait().unwrap();
    expect_eos_then_stop(&pipeline, "EOS after the publisher was killed");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "unplayable: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let duration: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(duration > 1.5 && duration < 5.0, "duration {duration}");
}

#[test]
fn null_returns_fast_with_silent_and_half_handshaken_clients() {
    use std::io::Write;
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let addr = format!("127.0.0.1:{}", rx.port);
    let _silent = std::net::TcpStream::connect(&addr).unwrap();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(&[3u8; 700]).unwrap(); // C0 + part of C1
                                          // And a real publisher mid-stream.
    let child = ffmpeg_publish(&clip_h264_aac(10), &rx.url(&format!("app/{KEY}")), true);
    assert!(rx.wait_for(Duration::from_secs(5), |r| !r
        .pad("video_0")
        .packets
        .is_empty()));
    let took = rx.stop();
    assert!(took < Duration::from_secs(1), "NULL took {took:?}");
    println!("set_state(NULL) took {took:?}");
    let _ = wait_child(child, Duration::from_secs(5));
}

#[test]
fn second_publisher_of_live_stream_is_refused() {
    let clip = clip_h264_aac(10);
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let url = rx.url(&format!("app/{KEY}"));
    let first = ffmpeg_publish(&clip, &url, true);
    assert!(rx.wait_for(Duration::from_secs(5), |r| !r
        .pad("video_0")
        .packets
        .is_empty()));
    let (ok, err) = wait_child(ffmpeg_publish(&clip, &url, true), Duration::from_secs(10));
    assert!(!ok);
    assert!(err.contains("already being published"), "{err}");
    drop(first);
}
