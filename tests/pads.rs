// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The element's pads as downstream sees them, with Debian's ffmpeg publishing: the latency it
//! reports, caps known at pad-added, pads left unlinked, and shutdown while a push is blocked.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use gst::prelude::*;

const KEY: &str = "pads-key";

/// Per pad: (caps at pad-added, LATENCY query answer (live, min) at pad-added).
type PadAddedFacts = BTreeMap<String, (Option<gst::Caps>, Option<(bool, gst::ClockTime)>)>;

/// A pipeline with the element alone; `link` decides which pads get an appsink.
struct Partial {
    pipeline: gst::Pipeline,
    src: gst::Element,
    logs: Arc<Mutex<BTreeMap<String, PadLog>>>,
    errors: Arc<Mutex<Vec<String>>>,
    eos: Arc<Mutex<bool>>,
    seen: Arc<Mutex<PadAddedFacts>>,
}

impl Partial {
    fn start(link: fn(&str) -> bool) -> Partial {
        let src = loopback_src(&[
            ("stream-key", KEY),
            ("latency", "250"),
            ("eos-on-disconnect", "true"),
        ]);
        let pipeline = gst::Pipeline::new();
        pipeline.add(&src).unwrap();
        let logs: Arc<Mutex<BTreeMap<String, PadLog>>> = Default::default();
        let seen: Arc<Mutex<PadAddedFacts>> = Default::default();
        let weak = pipeline.downgrade();
        let (logs_cb, seen_cb) = (logs.clone(), seen.clone());
        src.connect_pad_added(move |_, pad| {
            let name = pad.name().to_string();
            let mut q = gst::query::Latency::new();
            let latency = pad.query(&mut q).then(|| {
                let (live, min, _max) = q.result();
                (live, min)
            });
            seen_cb
                .lock()
                .unwrap()
                .insert(name.clone(), (pad.current_caps(), latency));
            if !link(&name) {
                return;
            }
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let sink = gst_app::AppSink::builder().sync(false).build();
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
            record_pad(&sink, logs_cb.clone(), name);
        });
        let errors: Arc<Mutex<Vec<String>>> = Default::default();
        let eos: Arc<Mutex<bool>> = Default::default();
        let (errors_cb, eos_cb) = (errors.clone(), eos.clone());
        pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    errors_cb
                        .lock()
                        .unwrap()
                        .push(format!("{} ({:?})", e.error(), e.debug()))
                }
                gst::MessageView::Eos(_) => *eos_cb.lock().unwrap() = true,
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Partial {
            pipeline,
            src,
            logs,
            errors,
            eos,
            seen,
        }
    }

    fn url(&self) -> String {
        let port = self.src.property::<u32>("bound-port");
        format!("rtmp://127.0.0.1:{port}/app/{KEY}")
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[test]
fn one_linked_pad_is_enough_and_pads_answer_latency_and_caps() {
    let clip = clip_h264_aac(4);
    let rx = Partial::start(|name| name == "video_0");
    let child = ffmpeg_publish(&clip, &rx.url(), false);
    let (ok, err) = wait_child(child, Duration::from_secs(30));
    assert!(ok, "ffmpeg: {err}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !*rx.eos.lock().unwrap() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(*rx.eos.lock().unwrap(), "no EOS");
    // audio_0 was never linked: that alone is not an error, video flowed in full.
    assert_eq!(*rx.errors.lock().unwrap(), Vec::<String>::new());
    let source = probe_packets(&clip);
    let logs = rx.logs.lock().unwrap();
    assert_same_packets("video", &source["video"], &logs["video_0"].packets);
    assert!(!logs.contains_key("audio_0"));
    // Both pads had their caps before pad-added, and report a live source with the
    // configured latency.
    let seen = rx.seen.lock().unwrap();
    let names: Vec<&String> = seen.keys().collect();
    assert_eq!(names, ["audio_0", "video_0"]);
    for (name, media) in [("video_0", "video/x-h264"), ("audio_0", "audio/mpeg")] {
        let (caps, latency) = &seen[name];
        let caps = caps.as_ref().unwrap_or_else(|| panic!("{name}: no caps"));
        assert_eq!(caps.structure(0).unwrap().name(), media);
        assert_eq!(
            *latency,
            Some((true, gst::ClockTime::from_mseconds(250))),
            "{name}"
        );
    }
}

#[test]
fn no_linked_pad_is_a_flow_error_and_closes_the_publish() {
    let clip = clip_h264_aac(10);
    let rx = Partial::start(|_| false);
    let start = std::time::Instant::now();
    let child = ffmpeg_publish(&clip, &rx.url(), true);
    // The publish is closed by the element (ffmpeg fails), not run to its 10 s end.
    let (ok, _) = wait_child(child, Duration::from_secs(20));
    let took = start.elapsed();
    assert!(
        !ok && took < Duration::from_secs(5),
        "ffmpeg ok={ok} after {took:?}"
    );
    let errors = rx.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("NotLinked"), "{errors:?}");
}

#[test]
fn stop_while_a_push_is_blocked_downstream_returns_promptly() {
    let clip = clip_h264_aac(10);
    let rx = Receiver::start(&[("stream-key", KEY)]);
    // Block audio_0 downstream of the element: the connection thread waits in its push.
    let blocked = Arc::new(Mutex::new(false));
    let blocked_cb = blocked.clone();
    rx.src.connect_pad_added(move |_, pad| {
        if pad.name() == "audio_0" {
            let flag = blocked_cb.clone();
            pad.add_probe(
                gst::PadProbeType::BLOCK | gst::PadProbeType::BUFFER,
                move |_, _| {
                    *flag.lock().unwrap() = true;
                    gst::PadProbeReturn::Ok
                },
            )
            .unwrap();
        }
    });
    let child = ffmpeg_publish(&clip, &rx.url(&format!("app/{KEY}")), true);
    assert!(rx.wait_for(Duration::from_secs(5), |_| *blocked.lock().unwrap()));
    std::thread::sleep(Duration::from_millis(300));
    let took = rx.stop();
    println!("set_state(NULL) with a blocked push took {took:?}");
    assert!(took < Duration::from_secs(1), "NULL took {took:?}");
    let _ = wait_child(child, Duration::from_secs(5));
}

/// A pad-added handler that stops the pipeline (from the publisher's thread, where pad-added
/// runs) neither deadlocks nor leaves the pad behind.
#[test]
fn a_pad_added_handler_may_stop_the_pipeline() {
    let clip = clip_h264_aac(4);
    init();
    let src = loopback_src(&[("stream-key", KEY)]);
    let pipeline = gst::Pipeline::new();
    pipeline.add(&src).unwrap();
    let took: Arc<Mutex<Option<Duration>>> = Arc::default();
    let (weak, took_cb) = (pipeline.downgrade(), took.clone());
    src.connect_pad_added(move |_, _| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let start = std::time::Instant::now();
        let _ = pipeline.set_state(gst::State::Null);
        took_cb.lock().unwrap().get_or_insert(start.elapsed());
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let port = src.property::<u32>("bound-port");
    let child = ffmpeg_publish(&clip, &format!("rtmp://127.0.0.1:{port}/app/{KEY}"), true);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while took.lock().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = took.lock().unwrap().expect("the handler ran and returned");
    println!("set_state(NULL) from pad-added took {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(pipeline.current_state(), gst::State::Null);
    assert!(src.src_pads().is_empty(), "pads left: {:?}", src.src_pads());
    let _ = wait_child(child, Duration::from_secs(5));
}
