// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The publish report end to end: FFmpeg 5.1, FFmpeg 9 (Enhanced RTMP) and rtmp2sink each
//! publish a clip whose figures (frame count, frame rate, GOP, keyframe interval, bitrate) are
//! known from ffprobe, and the report must agree; our own client then commits each anomaly and
//! tolerated deviation once, and the report must count exactly that one.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::client::{TestClient, MINIMAL_AVCC, VIDEO};
use common::report::*;
use common::*;
use gst::prelude::*;
use rtmpserver_proto::flv::test_vectors::X265_HVCC;

const KEY: &str = "report-key";

// ---------------------------------------------------------------------------------------------
// Real publishers.

/// 4 s of 640x360 at 30 fps, a keyframe every 30 frames exactly, B-frames, CBR-ish 800 kbit/s,
/// and AAC at 48 kHz; made with Debian's FFmpeg 5.1.
fn clip_h264_aac_gop30() -> PathBuf {
    LavfiClip::new("report_h264_aac_gop30_4s.flv", 4)
        .video("640x360")
        .sine(440)
        .x264(2, 30, true)
        .output(&["-b:v", "800k", "-maxrate", "800k", "-bufsize", "400k"])
        .aac(true, "128k")
        .make()
}

/// The report's video_0 (30 fps, a keyframe every `gop` frames) and audio_0 (AAC at 48 kHz,
/// 46.875 frames a second) match what ffprobe found in the clip.
fn assert_matches_av(
    report: &gst::StructureRef,
    packets: &BTreeMap<String, Vec<Packet>>,
    gop: f64,
) {
    assert_matches(report, "video_0", &figures(&packets["video"]), (30.0, gop));
    assert_matches(
        report,
        "audio_0",
        &figures(&packets["audio"]),
        (46.875, 0.0),
    );
}

#[test]
fn ffmpeg_5_1_report_matches_the_clip() {
    let clip = clip_h264_aac_gop30();
    let packets = probe_packets(&clip);
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let child = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), false);
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "ffmpeg failed: {err}");
    let report = final_report(&rx, 1);
    assert_matches_av(&report, &packets, 30.0);
    assert_clean(&report);

    let c = report.get::<gst::Structure>("connection").unwrap();
    assert_eq!(c.get::<&str>("handshake").unwrap(), "digest");
    assert!(c
        .get::<&str>("flash-ver")
        .unwrap()
        .starts_with("FMLE/3.0 (compatible; Lavf59"));
    assert!(!c.get::<bool>("enhanced-rtmp").unwrap());
    // FFmpeg sets 4096-byte chunks once.
    assert_eq!(c.get::<u32>("chunk-size-changes").unwrap(), 1);
    assert_eq!(c.get::<u32>("chunk-size-last").unwrap(), 4096);
    let v = track(&report, "video_0");
    assert_eq!(v.get::<&str>("codec-name").unwrap(), "H.264");
    assert_eq!(v.get::<&str>("profile").unwrap(), "high");
    assert_eq!(
        (v.get::<i32>("width"), v.get::<i32>("height")),
        (Ok(640), Ok(360))
    );
    assert_eq!(v.get::<&str>("chroma-format").unwrap(), "4:2:0");
    assert!(v.get::<bool>("b-frames").unwrap());
    assert_eq!(v.get::<f64>("declared-frame-rate").unwrap(), 30.0);
    let a = track(&report, "audio_0");
    assert_eq!(
        (a.get::<i32>("rate"), a.get::<i32>("channels")),
        (Ok(48000), Ok(2))
    );
    // onMetaData as sent.
    let m = report.get::<gst::Structure>("metadata").unwrap();
    assert_eq!(m.get::<f64>("width").unwrap(), 640.0);
    assert!(m.get::<&str>("encoder").unwrap().starts_with("Lavf59"));
    // Interleaved by FFmpeg: audio and video within a few frames of each other.
    assert!(
        report.get::<u64>("av-skew-p95-ms").unwrap() < 200,
        "{report}"
    );
}

/// 3 s of H.265 (open GOP of 30 frames, B-frames) and AAC, made with FFmpeg 9, and the same
/// packets remuxed into MP4, which Debian's ffprobe reads (it cannot read Enhanced RTMP FLV).
fn clip_hevc_aac() -> (PathBuf, PathBuf) {
    let flv = enhanced_media(
        "report_hevc_aac_3s.flv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "3",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "bframes=3:keyint=30:min-keyint=30:scenecut=0:log-level=error",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
        ],
    );
    let mp4 = flv.with_extension("mp4");
    if !mp4.exists() {
        let tmp = flv.with_extension(format!("{}.mp4", std::process::id()));
        let status = Command::new(enhanced_ffmpeg())
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
            .arg(&flv)
            .args(["-c", "copy"])
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::rename(&tmp, &mp4).unwrap();
    }
    (flv, mp4)
}

#[test]
fn ffmpeg_9_enhanced_rtmp_report_matches_and_shows_capabilities() {
    let (clip, mp4) = clip_hevc_aac();
    let packets = probe_packets(&mp4);
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let child = enhanced_ffmpeg_publish(
        &clip,
        &rx.url(&format!("app/{KEY}")),
        false,
        &["-rtmp_enhanced_codecs", "hvc1,mp4a"],
    );
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "ffmpeg 9 failed: {err}");
    let report = final_report(&rx, 1);
    assert_matches_av(&report, &packets, 30.0);
    assert_clean(&report);
    let v = track(&report, "video_0");
    assert_eq!(v.get::<&str>("codec-name").unwrap(), "H.265");
    assert_eq!(v.get::<&str>("profile").unwrap(), "main");
    assert!(v.get::<bool>("b-frames").unwrap());
    // The capabilities FFmpeg announced in its connect.
    let c = report.get::<gst::Structure>("connection").unwrap();
    assert!(c.get::<bool>("enhanced-rtmp").unwrap());
    let list: Vec<String> = c
        .get::<gst::Array>("fourcc-list")
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap())
        .collect();
    assert_eq!(list, ["hvc1", "mp4a"]);
    assert!(c
        .get::<&str>("flash-ver")
        .unwrap()
        .starts_with("FMLE/3.0 (compatible; Lavf6"));
}

#[test]
fn rtmp2sink_report_matches_what_it_sent() {
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let sent = tmp_path("report-rtmp2sink-sent.flv");
    let (ok, out) = rtmp2sink_publish(&rx.url(&format!("app/{KEY}")), true, true, &sent, &[]);
    assert!(ok, "rtmp2sink failed: {out}");
    let packets = probe_packets(&sent);
    let report = final_report(&rx, 1);
    // 90 frames at 30 fps with key-int-max=60: one complete GOP of 60 (flvmux's decode
    // timestamps start compressed, so the rates are compared with what it wrote).
    assert_matches_av(&report, &packets, 60.0);
    // The only anomalies are the gaps that are in what it sent: flvmux compresses the decode
    // times of the first frames (B-frames), and with live sources on a loaded machine one of
    // those steps can reach a gap.
    let mut sent_gaps = 0;
    for (pad, kind) in [("video_0", "video"), ("audio_0", "audio")] {
        let dts: Vec<i64> = packets[kind].iter().map(|p| p.dts_ms).collect();
        let t = track(&report, pad);
        assert_eq!(t.get::<u64>("gaps").unwrap(), gaps(&dts), "{t}");
        sent_gaps += gaps(&dts);
    }
    assert_eq!(
        report.get::<u64>("anomaly-count").unwrap(),
        sent_gaps,
        "{report}"
    );
    assert_eq!(report.get::<u64>("deviation-count").unwrap(), 0, "{report}");
    let c = report.get::<gst::Structure>("connection").unwrap();
    // GStreamer's rtmp2 does the simple handshake, keeps 128-byte chunks (it says so once)
    // and announces its window.
    assert_eq!(c.get::<&str>("handshake").unwrap(), "simple");
    assert_eq!(c.get::<u32>("chunk-size-last").unwrap(), 128);
    assert_eq!(c.get::<u32>("window-ack-size").unwrap(), 2_500_000);
    let m = report.get::<gst::Structure>("metadata").unwrap();
    assert!(m.get::<&str>("encoder").unwrap().starts_with("GStreamer"));
}

// ---------------------------------------------------------------------------------------------
// Our own client: each anomaly once.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    DtsBackwards,
    PtsBeforeDts,
    Gap,
    TimestampJump,
    SequenceHeaderChange,
    HevcUnderCodecId7,
    MissingOnMetaData,
    ExtendedTimestampNotRepeated,
    ChunkSizeMidMessage,
}

impl Fault {
    /// The counter (a deviations field, `timestamp-jumps`, or pad/field) it must raise.
    fn counter(self) -> Option<&'static str> {
        Some(match self {
            Fault::None => return None,
            Fault::DtsBackwards => "video_0/dts-backwards",
            Fault::PtsBeforeDts => "video_0/pts-before-dts",
            Fault::Gap => "video_0/gaps",
            Fault::TimestampJump => "timestamp-jumps",
            Fault::SequenceHeaderChange => "video_0/sequence-header-changes",
            Fault::HevcUnderCodecId7 => "hevc-under-avc-codec-id",
            Fault::MissingOnMetaData => "missing-onmetadata",
            Fault::ExtendedTimestampNotRepeated => "extended-timestamp-not-repeated",
            Fault::ChunkSizeMidMessage => "chunk-size-changed-mid-message",
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Msg {
    Video {
        ts: u32,
        key: bool,
        cts: i32,
    },
    Audio {
        ts: u32,
    },
    /// A second, different AVC sequence header.
    NewAvcHeader {
        ts: u32,
    },
}

impl Msg {
    fn ts(&self) -> u32 {
        match *self {
            Msg::Video { ts, .. } | Msg::Audio { ts } | Msg::NewAvcHeader { ts } => ts,
        }
    }

    fn ts_mut(&mut self) -> &mut u32 {
        match self {
            Msg::Video { ts, .. } | Msg::Audio { ts } | Msg::NewAvcHeader { ts } => ts,
        }
    }
}

/// 2 s of 30 fps video (a keyframe each second) and 48 kHz AAC (1024 samples a frame), in
/// timestamp order, with `fault` worked in.
fn script(fault: Fault) -> Vec<Msg> {
    let mut msgs = Vec::new();
    for i in 0..60u32 {
        msgs.push(Msg::Video {
            ts: i * 1000 / 30,
            key: i % 30 == 0,
            cts: 0,
        });
    }
    for i in 0..94u32 {
        msgs.push(Msg::Audio {
            ts: i * 1024 * 1000 / 48_000,
        });
    }
    msgs.sort_by_key(Msg::ts);
    let video_at = |msgs: &[Msg], n: usize| {
        msgs.iter()
            .enumerate()
            .filter(|(_, m)| matches!(m, Msg::Video { .. }))
            .nth(n)
            .map(|(i, _)| i)
            .unwrap()
    };
    match fault {
        Fault::DtsBackwards => {
            let at = video_at(&msgs, 40);
            let ts = msgs[at].ts() - 10;
            msgs.insert(
                at + 1,
                Msg::Video {
                    ts,
                    key: false,
                    cts: 0,
                },
            );
        }
        Fault::PtsBeforeDts => {
            let at = video_at(&msgs, 40);
            if let Msg::Video { cts, .. } = &mut msgs[at] {
                *cts = -10;
            }
        }
        // 200 ms of video missing (the keyframe at 1 s stays).
        Fault::Gap => {
            msgs.retain(|m| !matches!(m, Msg::Video { ts, .. } if (1100..1300).contains(ts)))
        }
        // The encoder's clock leaps a minute ahead at 1 s.
        Fault::TimestampJump => msgs
            .iter_mut()
            .filter(|m| m.ts() >= 1000)
            .for_each(|m| *m.ts_mut() += 60_000),
        Fault::SequenceHeaderChange => {
            let at = video_at(&msgs, 30);
            msgs.insert(at, Msg::NewAvcHeader { ts: msgs[at].ts() });
        }
        _ => {}
    }
    msgs
}

/// A video tag body of `size` bytes: AVC (or HEVC under codec id 7) coded frame.
fn video_body(key: bool, cts: i32, size: usize) -> Vec<u8> {
    let cts = cts.to_be_bytes();
    let mut body = vec![if key { 0x17 } else { 0x27 }, 0x01, cts[1], cts[2], cts[3]];
    let nal = (size - 9) as u32;
    body.extend_from_slice(&nal.to_be_bytes());
    body.resize(size, 0x41);
    body
}

/// The one message that carries a chunk-level fault, written chunk by chunk: 200 bytes of
/// video on chunk stream 6, so one type-3 chunk follows the first (chunk size 128).
fn send_chunk_fault(c: &mut TestClient, fault: Fault, ts: u32, body: &[u8]) {
    let extended = fault == Fault::ExtendedTimestampNotRepeated;
    let mut first = vec![0x06];
    let field = if extended { 0xFF_FFFF } else { ts };
    first.extend_from_slice(&field.to_be_bytes()[1..]);
    first.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    first.push(VIDEO);
    first.extend_from_slice(&1u32.to_le_bytes());
    if extended {
        first.extend_from_slice(&ts.to_be_bytes());
    }
    first.extend_from_slice(&body[..128]);
    c.stream.write_all(&first).unwrap();
    if fault == Fault::ChunkSizeMidMessage {
        // SetChunkSize on the control stream while the video message is half sent.
        c.send(2, 0, 1, 0, &4096u32.to_be_bytes()).unwrap();
        c.writer.set_chunk_size(4096);
    }
    // The continuation: type 3, and no repeat of the extended timestamp.
    let mut rest = vec![0xC6];
    rest.extend_from_slice(&body[128..]);
    c.stream.write_all(&rest).unwrap();
}

/// Publishes the script of `fault` with our client, then leaves.
fn publish(port: u16, fault: Fault, live_check: impl FnOnce(usize)) {
    let mut c = TestClient::publisher(port, "app", KEY);
    if fault != Fault::MissingOnMetaData {
        c.metadata(true, true).unwrap();
    }
    // An extended-timestamp fault needs timestamps past 24 bits: the whole publish starts
    // 4.66 hours in.
    let base = if fault == Fault::ExtendedTimestampNotRepeated {
        0x0100_0000
    } else {
        0
    };
    let hevc = fault == Fault::HevcUnderCodecId7;
    if hevc {
        let mut body = vec![0x17, 0x00, 0, 0, 0];
        body.extend_from_slice(X265_HVCC);
        c.send(6, base, VIDEO, 1, &body).unwrap();
    } else {
        c.avc_header(base).unwrap();
    }
    c.aac_header(base).unwrap();
    let chunk_fault = matches!(
        fault,
        Fault::ExtendedTimestampNotRepeated | Fault::ChunkSizeMidMessage
    );
    let mut video_frames = 0usize;
    for (n, msg) in script(fault).into_iter().enumerate() {
        match msg {
            Msg::Video { ts, key, cts } => {
                video_frames += 1;
                if chunk_fault && video_frames == 20 {
                    send_chunk_fault(&mut c, fault, base + ts, &video_body(key, cts, 200));
                } else {
                    c.send(6, base + ts, VIDEO, 1, &video_body(key, cts, 40))
                        .unwrap();
                }
            }
            Msg::Audio { ts } => c.aac_frame(base + ts, n as u32).unwrap(),
            Msg::NewAvcHeader { ts } => {
                let mut avcc = MINIMAL_AVCC;
                avcc[3] = 0x28; // level 4.0 instead of 3.1
                let mut body = vec![0x17, 0x00, 0, 0, 0];
                body.extend_from_slice(&avcc);
                c.send(6, base + ts, VIDEO, 1, &body).unwrap();
            }
        }
    }
    live_check(video_frames);
    drop(c);
}

/// Every counter of a report: its deviations, its timestamp jumps, and each track's
/// anomalies as "pad/field".
fn counters(report: &gst::StructureRef) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let deviations = report.get::<gst::Structure>("deviations").unwrap();
    for (name, value) in deviations.iter() {
        out.insert(name.to_string(), value.get::<u64>().unwrap());
    }
    out.insert(
        "timestamp-jumps".into(),
        report.get::<u64>("timestamp-jumps").unwrap(),
    );
    for t in report.get::<gst::Array>("tracks").unwrap().iter() {
        let t = t.get::<gst::Structure>().unwrap();
        let pad = t.get::<String>("pad").unwrap();
        for field in [
            "dts-backwards",
            "pts-before-dts",
            "gaps",
            "sequence-header-changes",
        ] {
            out.insert(format!("{pad}/{field}"), t.get::<u64>(field).unwrap());
        }
    }
    out
}

#[test]
fn our_client_commits_each_fault_once_and_the_report_counts_exactly_that() {
    let rx = Receiver::start(&[("stream-key", KEY)]);
    let src = rx.src.clone();
    let live_report = || src.emit_by_name::<Option<gst::Structure>>("get-publish-report", &[]);
    assert!(live_report().is_none(), "nobody publishes yet");
    let faults = [
        Fault::None,
        Fault::DtsBackwards,
        Fault::PtsBeforeDts,
        Fault::Gap,
        Fault::TimestampJump,
        Fault::SequenceHeaderChange,
        Fault::HevcUnderCodecId7,
        Fault::MissingOnMetaData,
        Fault::ExtendedTimestampNotRepeated,
        Fault::ChunkSizeMidMessage,
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        publish(rx.port, fault, |frames| {
            if fault != Fault::None {
                return;
            }
            // Live, on demand and in `stats`: the report follows the publish within a
            // snapshot (half a second).
            let sent_all = |r: &gst::Structure| {
                find_track(r, "video_0")
                    .is_some_and(|t| t.get::<u64>("frames") == Ok(frames as u64))
            };
            assert!(rx.wait_for(Duration::from_secs(5), |_| {
                live_report().is_some_and(|r| sent_all(&r))
            }));
            let stats = src.property::<gst::Structure>("stats");
            let in_stats = stats
                .get::<gst::Structure>("publisher")
                .unwrap()
                .get::<gst::Structure>("report")
                .unwrap();
            assert!(sent_all(&in_stats));
        });
        let report = final_report(&rx, i + 1);
        let counts = counters(&report);
        let nonzero: BTreeMap<&String, &u64> = counts.iter().filter(|(_, n)| **n > 0).collect();
        match fault.counter() {
            None => {
                assert!(nonzero.is_empty(), "clean publish: {nonzero:?}");
                assert_clean(&report);
            }
            Some(counter) => {
                assert_eq!(
                    nonzero,
                    BTreeMap::from([(&counter.to_string(), &1)]),
                    "{fault:?}"
                );
                let total = report.get::<u64>("anomaly-count").unwrap()
                    + report.get::<u64>("deviation-count").unwrap();
                assert_eq!(total, 1, "{fault:?}");
                let warnings = report.get::<gst::Array>("warnings").unwrap();
                assert_eq!(warnings.len(), 1, "{fault:?}: {warnings:?}");
                assert_eq!(report.get::<&str>("verdict").unwrap(), "warnings");
            }
        }
        if fault == Fault::HevcUnderCodecId7 {
            let v = track(&report, "video_0");
            assert_eq!(v.get::<&str>("codec-name").unwrap(), "H.265");
        }
        if fault == Fault::ChunkSizeMidMessage {
            let c = report.get::<gst::Structure>("connection").unwrap();
            assert_eq!(c.get::<u32>("chunk-size-last").unwrap(), 4096);
        }
        // Our client's handshake is rml_rtmp's, which signs C1.
        let c = report.get::<gst::Structure>("connection").unwrap();
        assert_eq!(c.get::<&str>("handshake").unwrap(), "digest");
    }
    assert!(
        rx.wait_for(Duration::from_secs(5), |_| live_report().is_none()),
        "no live report once the publisher left"
    );
}
