// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Enhanced RTMP end to end: a current FFmpeg (imageio-ffmpeg's FFmpeg 9) publishing H.265,
//! AV1, VP9, Opus, FLAC, AC-3, E-AC-3 and multitrack clips with `-c copy`, and a test publisher
//! for the legacy HEVC layouts (codec id 12, and HEVC under codec id 7 as older OBS sent it).
//!
//! Each pad is teed into an appsink that hashes every buffer and into the matching GStreamer
//! parser, so one publish proves both bit-exactness and that the caps are accepted.

mod common;

use common::client::{TestClient, VIDEO};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use gst::prelude::*;
use rtmpserver_proto::flv::{self, VideoPacket};
use rtmpserver_proto::rtmp::{amf0, Amf0Value};

const KEY: &str = "enhanced-key";

// ---------------------------------------------------------------------------------------------
// Clips, made once with the Enhanced RTMP FFmpeg and cached like `media()`.

/// Makes a clip from an FFmpeg command line (whitespace-separated, no quoting needed), cached
/// under `stem` plus a hash of the command line, so a changed recipe makes a new file.
fn clip(stem: &str, args: &str) -> PathBuf {
    let args: Vec<&str> = args.split_whitespace().collect();
    let hash = args
        .iter()
        .flat_map(|a| a.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    enhanced_media(&format!("{stem}-{:08x}.flv", hash as u32), &args)
}

const BT709: &str = "-vf setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709";

const SOURCES: &str = "-f lavfi -i testsrc2=size=640x360:rate=30 \
                       -f lavfi -i sine=frequency=440:sample_rate=48000";

/// 3 s of H.265 (libx265, 3 B-frames, BT.709 tagged) and Opus stereo.
fn clip_hevc_opus() -> PathBuf {
    clip(
        "e_hevc_opus_3s",
        &format!(
            "{SOURCES} -t 3 -c:v libx265 -preset ultrafast \
             -x265-params bframes=3:keyint=30:min-keyint=30:scenecut=0:log-level=error \
             {BT709} -pix_fmt yuv420p -c:a libopus -b:a 64k -ac 2"
        ),
    )
}

/// 2 s of AV1 (SVT-AV1) and FLAC.
fn clip_av1_flac() -> PathBuf {
    clip(
        "e_av1_flac_2s",
        &format!(
            "{SOURCES} -t 2 -c:v libsvtav1 -preset 12 -g 30 {BT709} -pix_fmt yuv420p \
             -c:a flac -ac 2"
        ),
    )
}

/// 2 s of VP9 (libvpx) and AC-3.
fn clip_vp9_ac3() -> PathBuf {
    clip(
        "e_vp9_ac3_2s",
        &format!(
            "{SOURCES} -t 2 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 30 -b:v 500k \
             {BT709} -pix_fmt yuv420p -c:a ac3 -b:a 128k -ac 2"
        ),
    )
}

/// 2 s of E-AC-3 5.1, no video.
fn clip_eac3() -> PathBuf {
    clip(
        "e_eac3_2s",
        "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 -c:a eac3 -b:a 192k -ac 6",
    )
}

/// 2 s with two H.265 renditions (640x360, 320x180) and two audio tracks (Opus, MP3): FLV
/// multitrack, the second track of each kind as Enhanced RTMP OneTrack packets.
fn clip_multitrack() -> PathBuf {
    clip(
        "e_multitrack_2s",
        &format!(
            "{SOURCES} -t 2 -filter_complex [0:v]split=2[hi][in];[in]scale=320:180[lo] \
             -map [hi] -map [lo] -map 1:a -map 1:a \
             -c:v libx265 -preset ultrafast -x265-params bframes=2:keyint=30:log-level=error \
             -pix_fmt yuv420p -c:a:0 libopus -b:a:0 64k -ac:a:0 2 \
             -c:a:1 libmp3lame -b:a:1 96k -ac:a:1 1"
        ),
    )
}

/// 1 s of 320x180 H.265 Main 10 tagged BT.2100 PQ, video only (the second half of the
/// mid-stream resolution/format change).
fn clip_hevc_small_pq() -> PathBuf {
    clip(
        "e_hevc_320_pq_1s",
        "-f lavfi -i testsrc2=size=320x180:rate=30 -t 1 -c:v libx265 -preset ultrafast \
         -x265-params bframes=2:keyint=30:log-level=error \
         -vf setparams=range=tv:color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc \
         -pix_fmt yuv420p10le",
    )
}

// ---------------------------------------------------------------------------------------------
// FLV files: tags, and per track the keyframe flags of coded video frames (not in framemd5).

struct Tag {
    kind: u8,
    timestamp: u32,
    body: Bytes,
}

fn flv_tags(path: &Path) -> Vec<Tag> {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..3], b"FLV");
    let mut at = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= data.len() {
        let h = &data[at..at + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body = Bytes::copy_from_slice(&data[at + 11..at + 11 + size]);
        tags.push(Tag {
            kind: h[0],
            timestamp,
            body,
        });
        at += 11 + size + 4;
    }
    tags
}

/// Keyframe flags of the coded video frames of each track, in order.
fn video_keyframes(path: &Path) -> BTreeMap<u8, Vec<bool>> {
    let mut out: BTreeMap<u8, Vec<bool>> = BTreeMap::new();
    for tag in flv_tags(path).iter().filter(|t| t.kind == 9) {
        for packet in flv::parse_video(&tag.body).unwrap() {
            if let VideoPacket::Frame {
                track, keyframe, ..
            } = packet
            {
                out.entry(track).or_default().push(keyframe);
            }
        }
    }
    out
}

/// The source's packets per pad name ("video_0", "audio_1" ...): FFmpeg's streams in order,
/// video streams to video_N and audio streams to audio_N, keyframe flags from the FLV.
fn expected_packets(clip: &Path) -> BTreeMap<String, (String, Vec<Packet>)> {
    let keyframes = video_keyframes(clip);
    let mut counters = [0u8; 2];
    let mut out = BTreeMap::new();
    for stream in enhanced_probe_packets(clip) {
        let video = stream.media_type == "video";
        let id = &mut counters[usize::from(!video)];
        // FFmpeg's FLV demuxer turns an empty sequence start (AC-3, E-AC-3) into an empty
        // packet, which its muxer then sends as an empty coded frame: no media, dropped.
        let mut packets: Vec<Packet> = stream.packets.into_iter().filter(|p| p.size > 0).collect();
        if video {
            let flags = &keyframes[id];
            assert_eq!(flags.len(), packets.len(), "video track {id}: frame count");
            for (p, &k) in packets.iter_mut().zip(flags) {
                p.keyframe = k;
            }
        }
        let name = format!("{}_{}", stream.media_type, id);
        *id += 1;
        out.insert(name, (stream.codec, packets));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A receiver whose pads each feed an appsink (hashes) and a parser (caps acceptance).

#[derive(Debug, Default, Clone)]
struct Parsed {
    buffers: usize,
    caps: Option<gst::Caps>,
}

struct Rx {
    pipeline: gst::Pipeline,
    port: u16,
    logs: Arc<Mutex<BTreeMap<String, PadLog>>>,
    tags: Arc<Mutex<BTreeMap<String, Vec<gst::TagList>>>>,
    parsed: Arc<Mutex<BTreeMap<String, Parsed>>>,
    messages: Arc<Mutex<Vec<gst::Structure>>>,
}

/// The parser GStreamer offers for the caps a pad starts with.
fn parser_for(caps: &gst::CapsRef) -> &'static str {
    let s = caps.structure(0).unwrap();
    match s.name().as_str() {
        "video/x-h264" => "h264parse",
        "video/x-h265" => "h265parse",
        "video/x-av1" => "av1parse",
        "video/x-vp9" => "vp9parse",
        "audio/x-opus" => "opusparse",
        "audio/x-flac" => "flacparse",
        "audio/x-ac3" | "audio/x-eac3" => "ac3parse",
        "audio/mpeg" if s.get::<i32>("mpegversion") == Ok(1) => "mpegaudioparse",
        "audio/mpeg" => "aacparse",
        other => panic!("no parser for {other}"),
    }
}

impl Rx {
    fn start() -> Rx {
        let src = loopback_src(&[("stream-key", KEY), ("eos-on-disconnect", "true")]);
        let pipeline = gst::Pipeline::new();
        pipeline.add(&src).unwrap();
        let logs: Arc<Mutex<BTreeMap<String, PadLog>>> = Default::default();
        let tags: Arc<Mutex<BTreeMap<String, Vec<gst::TagList>>>> = Default::default();
        let parsed: Arc<Mutex<BTreeMap<String, Parsed>>> = Default::default();
        let weak = pipeline.downgrade();
        let (logs_cb, tags_cb, parsed_cb) = (logs.clone(), tags.clone(), parsed.clone());
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let name = pad.name().to_string();
            // The pad carries its caps (a sticky event) before it is announced.
            let caps = pad.current_caps().expect("caps set before pad-added");
            let parser = parser_for(&caps);
            let tee = gst::ElementFactory::make("tee").build().unwrap();
            let q1 = gst::ElementFactory::make("queue").build().unwrap();
            let sink = gst_app::AppSink::builder().sync(false).build();
            let q2 = gst::ElementFactory::make("queue").build().unwrap();
            let parse = gst::ElementFactory::make(parser).build().unwrap();
            let fakesink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            let elements = [&tee, &q1, sink.upcast_ref(), &q2, &parse, &fakesink];
            pipeline.add_many(elements).unwrap();
            gst::Element::link_many([&tee, &q1, sink.upcast_ref()]).unwrap();
            gst::Element::link_many([&tee, &q2, &parse, &fakesink]).unwrap();
            for e in elements {
                e.sync_state_with_parent().unwrap();
            }
            // Tags as they leave the element.
            let tag_log = tags_cb.clone();
            let tag_name = name.clone();
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::EventView::Tag(t)) = info.event().map(|e| e.view()) {
                    tag_log
                        .lock()
                        .unwrap()
                        .entry(tag_name.clone())
                        .or_default()
                        .push(t.tag().to_owned());
                }
                gst::PadProbeReturn::Ok
            });
            // What the parser made of it.
            let parsed_log = parsed_cb.clone();
            let parsed_name = name.clone();
            fakesink.static_pad("sink").unwrap().add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
                move |pad, info| {
                    let mut log = parsed_log.lock().unwrap();
                    let entry = log.entry(parsed_name.clone()).or_default();
                    if info.buffer().is_some() {
                        entry.buffers += 1;
                        entry.caps = pad.current_caps();
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            record_pad(&sink, logs_cb.clone(), name.clone());
            pad.link(&tee.static_pad("sink").unwrap()).unwrap();
        });
        let messages: Arc<Mutex<Vec<gst::Structure>>> = Default::default();
        let msgs = messages.clone();
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            let s = match msg.view() {
                gst::MessageView::Error(e) => Some(
                    gst::Structure::builder("error")
                        .field("text", format!("{}: {:?}", e.error(), e.debug()))
                        .build(),
                ),
                gst::MessageView::Warning(w) => Some(
                    gst::Structure::builder("warning")
                        .field("text", format!("{}: {:?}", w.error(), w.debug()))
                        .build(),
                ),
                gst::MessageView::Eos(_) => Some(gst::Structure::new_empty("eos")),
                gst::MessageView::Element(e) => e.structure().map(|s| s.to_owned()),
                _ => None,
            };
            if let Some(s) = s {
                msgs.lock().unwrap().push(s);
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let port = src.property::<u32>("bound-port") as u16;
        assert_ne!(port, 0);
        Rx {
            pipeline,
            port,
            logs,
            tags,
            parsed,
            messages,
        }
    }

    fn url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/app/{KEY}", self.port)
    }

    fn pad(&self, name: &str) -> PadLog {
        self.logs
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    fn pad_names(&self) -> Vec<String> {
        self.logs.lock().unwrap().keys().cloned().collect()
    }

    fn messages_named(&self, name: &str) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name() == name)
            .map(|s| s.get::<String>("text").unwrap_or_default())
            .collect()
    }

    fn wait_eos(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .messages
                .lock()
                .unwrap()
                .iter()
                .any(|s| s.name() == "eos")
            {
                return;
            }
            if !self.messages_named("error").is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "no EOS; errors {:?}, pads {:?}",
            self.messages_named("error"),
            self.pad_names()
        );
    }

    /// Asserts every pad carries exactly the source's packets and its parser took them.
    fn assert_received(&self, expected: &BTreeMap<String, (String, Vec<Packet>)>) {
        assert_eq!(
            self.pad_names(),
            expected.keys().cloned().collect::<Vec<_>>(),
            "pads"
        );
        let errors = self.messages_named("error");
        assert!(errors.is_empty(), "errors: {errors:?}");
        let warnings = self.messages_named("warning");
        assert!(warnings.is_empty(), "warnings: {warnings:?}");
        let parsed = self.parsed.lock().unwrap().clone();
        for (name, (codec, want)) in expected {
            let got = self.pad(name);
            assert_same_packets(name, want, &got.packets);
            assert!(got.eos, "{name}: no EOS");
            let p = parsed.get(name).cloned().unwrap_or_default();
            assert!(p.buffers > 0, "{name}: the parser passed no buffer");
            println!(
                "{name} ({codec}): {} packets bit-exact; caps {}; parser passed {} buffers with {}",
                want.len(),
                got.caps[0],
                p.buffers,
                p.caps.map(|c| c.to_string()).unwrap_or_default()
            );
        }
    }

    fn caps(&self, pad: &str) -> gst::Structure {
        self.pad(pad).caps[0].structure(0).unwrap().to_owned()
    }

    fn tags(&self, pad: &str) -> Vec<gst::TagList> {
        self.tags
            .lock()
            .unwrap()
            .get(pad)
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Rx {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Publishes `clip` with the Enhanced RTMP FFmpeg (every stream, `-c copy`) and waits for EOS.
fn publish(rx: &Rx, clip: &Path) {
    let child = enhanced_ffmpeg_publish(clip, &rx.url(), false, &["-map", "0"]);
    let (ok, err) = wait_child(child, Duration::from_secs(20));
    assert!(ok, "ffmpeg failed: {err}");
    rx.wait_eos(Duration::from_secs(10));
}

fn has_b_frames(packets: &[Packet]) -> bool {
    packets.windows(2).any(|w| w[1].pts_ms < w[0].pts_ms)
}

// ---------------------------------------------------------------------------------------------
// FFmpeg 9 publishing Enhanced RTMP.

#[test]
fn hevc_with_b_frames_and_opus_bit_exact_with_parsers_and_tags() {
    let clip = clip_hevc_opus();
    let expected = expected_packets(&clip);
    assert!(
        has_b_frames(&expected["video_0"].1),
        "the clip has no B-frames"
    );
    let rx = Rx::start();
    publish(&rx, &clip);
    rx.assert_received(&expected);

    let v = rx.caps("video_0");
    assert_eq!(v.name(), "video/x-h265");
    assert_eq!(v.get::<&str>("stream-format").unwrap(), "hvc1");
    assert_eq!(v.get::<&str>("alignment").unwrap(), "au");
    assert!(v.get::<gst::Buffer>("codec_data").unwrap().size() > 20);
    assert_eq!(
        (v.get::<i32>("width"), v.get::<i32>("height")),
        (Ok(640), Ok(360))
    );
    assert_eq!(
        v.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(30, 1)
    );
    assert_eq!(v.get::<&str>("profile").unwrap(), "main");
    assert_eq!(v.get::<&str>("colorimetry").unwrap(), "bt709");

    let a = rx.caps("audio_0");
    assert_eq!(a.name(), "audio/x-opus");
    assert_eq!(
        (a.get::<i32>("rate"), a.get::<i32>("channels")),
        (Ok(48000), Ok(2))
    );
    let headers = a.get::<gst::Array>("streamheader").unwrap();
    assert_eq!(headers.len(), 2);
    let head = headers.as_slice()[0].get::<gst::Buffer>().unwrap();
    assert!(head.map_readable().unwrap().starts_with(b"OpusHead"));

    // onMetaData reaches downstream as tags, with each pad's codec.
    let video_tags = rx.tags("video_0");
    let tags = video_tags.last().expect("no tag event on video_0");
    assert_eq!(tags.get::<gst::tags::VideoCodec>().unwrap().get(), "H.265");
    let encoder = tags.get::<gst::tags::Encoder>().unwrap().get().to_string();
    assert!(encoder.starts_with("Lavf"), "encoder tag {encoder}");
    let audio_tags = rx.tags("audio_0");
    let tags = audio_tags.last().expect("no tag event on audio_0");
    assert_eq!(tags.get::<gst::tags::AudioCodec>().unwrap().get(), "Opus");
    println!("video_0 tags: {:?}", rx.tags("video_0"));
}

#[test]
fn av1_and_flac_bit_exact_with_parsers() {
    let clip = clip_av1_flac();
    let expected = expected_packets(&clip);
    let rx = Rx::start();
    publish(&rx, &clip);
    rx.assert_received(&expected);

    let v = rx.caps("video_0");
    assert_eq!(v.name(), "video/x-av1");
    assert_eq!(v.get::<&str>("stream-format").unwrap(), "obu-stream");
    assert_eq!(v.get::<&str>("alignment").unwrap(), "tu");
    assert!(v.get::<gst::Buffer>("codec_data").unwrap().size() >= 4);
    assert_eq!(
        (v.get::<i32>("width"), v.get::<i32>("height")),
        (Ok(640), Ok(360))
    );
    assert_eq!(v.get::<&str>("profile").unwrap(), "main");
    assert_eq!(v.get::<&str>("chroma-format").unwrap(), "4:2:0");
    assert_eq!(v.get::<u32>("bit-depth-luma").unwrap(), 8);
    assert_eq!(v.get::<&str>("colorimetry").unwrap(), "bt709");

    let a = rx.caps("audio_0");
    assert_eq!(a.name(), "audio/x-flac");
    assert_eq!(
        (a.get::<i32>("rate"), a.get::<i32>("channels")),
        (Ok(48000), Ok(2))
    );
    let headers = a.get::<gst::Array>("streamheader").unwrap();
    let first = headers.as_slice()[0].get::<gst::Buffer>().unwrap();
    assert_eq!(&first.map_readable().unwrap()[..], b"fLaC");
}

#[test]
fn vp9_and_ac3_bit_exact_with_parsers() {
    let clip = clip_vp9_ac3();
    let expected = expected_packets(&clip);
    let rx = Rx::start();
    publish(&rx, &clip);
    rx.assert_received(&expected);

    let v = rx.caps("video_0");
    assert_eq!(v.name(), "video/x-vp9");
    assert_eq!(v.get::<&str>("profile").unwrap(), "0");
    assert_eq!(v.get::<&str>("chroma-format").unwrap(), "4:2:0");
    assert_eq!(v.get::<u32>("bit-depth-luma").unwrap(), 8);
    // vpcC has no picture size: it comes from the first keyframe.
    assert_eq!(
        (v.get::<i32>("width"), v.get::<i32>("height")),
        (Ok(640), Ok(360))
    );
    assert!(!v.has_field("codec_data"));
    assert_eq!(v.get::<&str>("colorimetry").unwrap(), "bt709");

    let a = rx.caps("audio_0");
    assert_eq!(a.name(), "audio/x-ac3");
    assert_eq!(
        (a.get::<i32>("rate"), a.get::<i32>("channels")),
        (Ok(48000), Ok(2))
    );
}

#[test]
fn eac3_audio_only_bit_exact_with_parser() {
    let clip = clip_eac3();
    let expected = expected_packets(&clip);
    let rx = Rx::start();
    publish(&rx, &clip);
    rx.assert_received(&expected);
    let a = rx.caps("audio_0");
    assert_eq!(a.name(), "audio/x-eac3");
    assert_eq!(
        (a.get::<i32>("rate"), a.get::<i32>("channels")),
        (Ok(48000), Ok(6))
    );
}

#[test]
fn multitrack_two_renditions_two_audio_tracks() {
    let clip = clip_multitrack();
    let expected = expected_packets(&clip);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["audio_0", "audio_1", "video_0", "video_1"]
    );
    let rx = Rx::start();
    publish(&rx, &clip);
    rx.assert_received(&expected);

    let sizes: Vec<(i32, i32)> = ["video_0", "video_1"]
        .iter()
        .map(|p| {
            let s = rx.caps(p);
            assert_eq!(s.name(), "video/x-h265");
            (s.get("width").unwrap(), s.get("height").unwrap())
        })
        .collect();
    assert_eq!(sizes, [(640, 360), (320, 180)]);
    // FFmpeg relays an untagged stream's colorInfo as matrix 0 (identity): not believed for
    // 4:2:0, so no colorimetry is claimed.
    assert!(!rx.caps("video_0").has_field("colorimetry"));
    assert_eq!(rx.caps("audio_0").name(), "audio/x-opus");
    let mp3 = rx.caps("audio_1");
    assert_eq!(mp3.name(), "audio/mpeg");
    assert_eq!(mp3.get::<i32>("mpegversion").unwrap(), 1);
    assert_eq!(
        (mp3.get::<i32>("rate"), mp3.get::<i32>("channels")),
        (Ok(48000), Ok(1))
    );
    // Every track was there before no-more-pads.
    let started = rx
        .messages
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.name() == "rtmpserversrc-publish-started")
        .cloned()
        .expect("publish-started");
    let pads = started.get::<gst::Array>("pads").unwrap();
    assert_eq!(pads.len(), 4, "{started}");
    assert_eq!(
        rx.tags("audio_1")
            .last()
            .unwrap()
            .get::<gst::tags::AudioCodec>()
            .unwrap()
            .get(),
        "MPEG-1 Layer 3 (MP3)"
    );
}

#[test]
fn hevc_opus_recorded_into_matroska() {
    init();
    let clip = clip_hevc_opus();
    let expected = expected_packets(&clip);
    let port = free_port();
    let out = tmp_path(&format!("enhanced-{port}.mkv"));
    let pipeline = gst::parse::launch(&format!(
        "rtmpserversrc name=src address=127.0.0.1 port={port} stream-key={KEY} eos-on-disconnect=true \
         src.video_0 ! h265parse ! queue ! mux. \
         src.audio_0 ! opusparse ! queue ! mux. \
         matroskamux name=mux ! filesink location={}",
        out.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let url = format!("rtmp://127.0.0.1:{port}/app/{KEY}");
    // In real time, as a live encoder would.
    let child = enhanced_ffmpeg_publish(&clip, &url, true, &["-map", "0"]);
    let (ok, err) = wait_child(child, Duration::from_secs(20));
    assert!(ok, "ffmpeg failed: {err}");
    expect_eos_then_stop(&pipeline, "EOS");

    // Debian's ffprobe reads the recording: codecs and durations.
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,codec_type,width,height,sample_rate,channels:format=duration",
            "-of",
            "compact",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(probe.status.success());
    let text = String::from_utf8_lossy(&probe.stdout).to_string();
    println!("{text}");
    assert!(
        text.contains("codec_name=hevc|codec_type=video|width=640|height=360"),
        "{text}"
    );
    assert!(
        text.contains("codec_name=opus|codec_type=audio|sample_rate=48000|channels=2"),
        "{text}"
    );
    let duration: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("format|duration="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 3.0).abs() < 0.1, "duration {duration}");
    // The video went through h265parse and matroskamux untouched.
    let recorded = probe_packets(&out);
    let want = &expected["video_0"].1;
    let got: Vec<&str> = recorded["video"].iter().map(|p| p.md5.as_str()).collect();
    let want: Vec<&str> = want.iter().map(|p| p.md5.as_str()).collect();
    assert_eq!(got, want, "recorded video payloads differ");
    assert_eq!(recorded["audio"].len(), expected["audio_0"].1.len());
}

/// The video of an Enhanced RTMP H.265 FLV rewritten in the legacy AVC layout under
/// `codec_id`: (timestamp, tag body) pairs.
fn legacy_hevc_tags(clip: &Path, codec_id: u8) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    for tag in flv_tags(clip).iter().filter(|t| t.kind == 9) {
        for packet in flv::parse_video(&tag.body).unwrap() {
            let (frame_type, packet_type, cts, data) = match packet {
                VideoPacket::SequenceStart { config, .. } => (1u8, 0u8, 0i32, config),
                VideoPacket::Frame {
                    keyframe,
                    composition_time_ms,
                    data,
                    ..
                } => (if keyframe { 1 } else { 2 }, 1, composition_time_ms, data),
                _ => continue,
            };
            let mut body = vec![(frame_type << 4) | codec_id, packet_type];
            body.extend_from_slice(&cts.to_be_bytes()[1..]);
            body.extend_from_slice(&data);
            out.push((tag.timestamp, body));
        }
    }
    out
}

fn publish_legacy_hevc(codec_id: u8) {
    let clip = clip_hevc_opus();
    let expected = expected_packets(&clip);
    let rx = Rx::start();
    let mut publisher = TestClient::publisher(rx.port, "app", KEY);
    publisher.metadata_object(Amf0Value::object([
        ("width", Amf0Value::Number(640.0)),
        ("height", Amf0Value::Number(360.0)),
        ("videocodecid", Amf0Value::Number(f64::from(codec_id))),
        ("encoder", Amf0Value::string("legacy-hevc-publisher")),
    ]));
    for (timestamp, body) in legacy_hevc_tags(&clip, codec_id) {
        publisher.send(6, timestamp, VIDEO, 1, &body).unwrap();
    }
    drop(publisher);
    rx.wait_eos(Duration::from_secs(10));
    let video = BTreeMap::from([("video_0".to_string(), expected["video_0"].clone())]);
    rx.assert_received(&video);
    let v = rx.caps("video_0");
    assert_eq!(v.name(), "video/x-h265");
    assert_eq!(v.get::<&str>("stream-format").unwrap(), "hvc1");
    assert_eq!(
        (v.get::<i32>("width"), v.get::<i32>("height")),
        (Ok(640), Ok(360))
    );
    let tags = rx.tags("video_0");
    let tags = tags.last().unwrap();
    assert_eq!(
        tags.get::<gst::tags::Encoder>().unwrap().get(),
        "legacy-hevc-publisher"
    );
}

#[test]
fn legacy_codec_id_12_hevc_bit_exact() {
    publish_legacy_hevc(12);
}

#[test]
fn old_obs_hevc_under_codec_id_7_bit_exact() {
    publish_legacy_hevc(7);
}

/// An Enhanced RTMP video Metadata packet: BT.2100 PQ with HDR10 mastering display (BT.2020
/// primaries, D65, 1000/0.0001 cd/m²) and content light level (MaxCLL 1000, MaxFALL 400).
fn hdr10_color_info() -> Vec<u8> {
    let n = Amf0Value::Number;
    let mut body = vec![0xd4];
    body.extend_from_slice(b"hvc1");
    amf0::encode(
        &[
            Amf0Value::string("colorInfo"),
            Amf0Value::object([
                (
                    "colorConfig",
                    Amf0Value::object([
                        ("bitDepth", n(10.0)),
                        ("colorPrimaries", n(9.0)),
                        ("transferCharacteristics", n(16.0)),
                        ("matrixCoefficients", n(9.0)),
                    ]),
                ),
                (
                    "hdrCll",
                    Amf0Value::object([("maxFall", n(400.0)), ("maxCLL", n(1000.0))]),
                ),
                (
                    "hdrMdcv",
                    Amf0Value::object([
                        ("redX", n(0.708)),
                        ("redY", n(0.292)),
                        ("greenX", n(0.170)),
                        ("greenY", n(0.797)),
                        ("blueX", n(0.131)),
                        ("blueY", n(0.046)),
                        ("whitePointX", n(0.3127)),
                        ("whitePointY", n(0.329)),
                        ("maxLuminance", n(1000.0)),
                        ("minLuminance", n(0.0001)),
                    ]),
                ),
            ]),
        ],
        &mut body,
    );
    body
}

#[test]
fn mid_stream_sequence_header_changes_caps_before_next_buffer() {
    // Two Enhanced RTMP H.265 streams back to back on one publish: 640x360 8-bit BT.709, then
    // 320x180 10-bit BT.2100 PQ, each starting with its own sequence header. The second one's
    // colorInfo also carries HDR10 static metadata (FFmpeg sends it only when its input has
    // it, so it is written here).
    let first = clip_hevc_opus();
    let second = clip_hevc_small_pq();
    let mut want = expected_packets(&first)["video_0"].1.clone();
    let rx = Rx::start();
    let mut publisher = TestClient::publisher(rx.port, "app", KEY);
    publisher.metadata_object(Amf0Value::object([(
        "videocodecid",
        Amf0Value::Number(f64::from(u32::from_be_bytes(*b"hvc1"))),
    )]));
    let mut last = 0;
    for tag in flv_tags(&first).iter().filter(|t| t.kind == 9) {
        publisher
            .send(6, tag.timestamp, VIDEO, 1, &tag.body)
            .unwrap();
        last = last.max(tag.timestamp);
    }
    let offset = last + 100;
    for tag in flv_tags(&second).iter().filter(|t| t.kind == 9) {
        // 0xd4: ExHeader, FrameType 5 (info/command), PacketType 4 (Metadata).
        let body = if tag.body[0] == 0xd4 {
            hdr10_color_info()
        } else {
            tag.body.to_vec()
        };
        publisher
            .send(6, offset + tag.timestamp, VIDEO, 1, &body)
            .unwrap();
    }
    drop(publisher);
    rx.wait_eos(Duration::from_secs(10));

    // framemd5 (with -copyts) gives the FLV tag timestamps: the second stream went out
    // `offset` later.
    let second_packets = expected_packets(&second)["video_0"].1.clone();
    want.extend(second_packets.into_iter().map(|mut p| {
        p.dts_ms += i64::from(offset);
        p.pts_ms += i64::from(offset);
        p
    }));
    let got = rx.pad("video_0");
    assert_same_packets("video_0", &want, &got.packets);
    assert!(
        rx.messages_named("error").is_empty(),
        "{:?}",
        rx.messages_named("error")
    );
    let caps: Vec<String> = got
        .caps
        .iter()
        .map(|c| {
            let s = c.structure(0).unwrap();
            format!(
                "{}x{} {} {}",
                s.get::<i32>("width").unwrap(),
                s.get::<i32>("height").unwrap(),
                s.get::<&str>("profile").unwrap(),
                s.get::<&str>("colorimetry").unwrap()
            )
        })
        .collect();
    assert_eq!(caps, ["640x360 main bt709", "320x180 main-10 bt2100-pq"]);
    let hdr = got.caps[1].structure(0).unwrap().to_owned();
    assert!(!got.caps[0]
        .structure(0)
        .unwrap()
        .has_field("mastering-display-info"));
    assert_eq!(
        hdr.get::<&str>("mastering-display-info").unwrap(),
        "35400:14600:8500:39850:6550:2300:15635:16450:10000000:1"
    );
    assert_eq!(hdr.get::<&str>("content-light-level").unwrap(), "1000:400");
    let parsed = rx.parsed.lock().unwrap()["video_0"].clone();
    assert!(parsed.buffers > want.len() / 2, "{parsed:?}");
    let parsed_caps = parsed.caps.unwrap();
    println!("h265parse output after the change: {parsed_caps}");
    assert_eq!(
        parsed_caps
            .structure(0)
            .unwrap()
            .get::<i32>("width")
            .unwrap(),
        320
    );
}

#[test]
fn connect_result_states_enhanced_rtmp_support_to_clients_that_ask() {
    let rx = Rx::start();
    let mut client = TestClient::open(rx.port).unwrap();
    client.handshake().unwrap();
    let fourccs = ["hvc1", "av01", "Opus"].map(Amf0Value::string).to_vec();
    let result = client
        .connect_with(
            "app",
            vec![
                ("fourCcList", Amf0Value::StrictArray(fourccs)),
                ("capsEx", Amf0Value::Number(0.0)),
            ],
        )
        .expect("connect accepted");
    let props = &result[2];
    let Some(Amf0Value::StrictArray(list)) = props.get("fourCcList") else {
        panic!("no fourCcList in {props:?}");
    };
    let list: Vec<&str> = list.iter().filter_map(Amf0Value::as_str).collect();
    for fourcc in [
        "avc1", "hvc1", "av01", "vp09", "mp4a", "Opus", "fLaC", "ac-3", "ec-3",
    ] {
        assert!(list.contains(&fourcc), "{fourcc} missing from {list:?}");
    }
    assert!(props
        .get("videoFourCcInfoMap")
        .and_then(|m| m.get("hvc1"))
        .is_some());
    // Reconnect (the drain signal's request), Multitrack, ModEx and nanosecond offsets.
    assert_eq!(
        props.get("capsEx").and_then(Amf0Value::as_number),
        Some(15.0)
    );

    // A legacy client (no fourCcList) gets the classic reply only.
    let mut legacy = TestClient::open(rx.port).unwrap();
    legacy.handshake().unwrap();
    let result = legacy.connect_app("app").expect("connect accepted");
    assert!(result[2].get("fourCcList").is_none());
}
