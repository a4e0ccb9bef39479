// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The demo you can watch: an RTMP ingest server writing HLS, and a small HTTP server on
//! 127.0.0.1 with a page that plays it (hls.js) and shows the live stats.
//!
//! cargo run --release --example serve -- [--port 1935] [--app live] [--key demo]
//!                                        [--out ./hls-out] [--http-port 8080]
//! (or the environment: PORT, APP, KEY, OUT, HTTP_PORT). Port 0 picks a free port; the URLs
//! printed on stdout are the ones actually bound.
//!
//! Pipeline: rtmpserversrc ! h264parse/aacparse ! hlssink2 (1 s target segments; segments are
//! cut at keyframes). HTTP routes (GET only): `/` the page, `/hls.js`, `/hls/<file>` the playlist
//! and segments, `/stats` JSON from the element's `stats` property and its bus messages.

mod http;
mod json;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Everything `/stats` reports besides the element's own `stats` property.
#[derive(Default)]
pub struct Live {
    pub live: bool,
    pub client: Option<String>,
    pub since: Option<Instant>,
    pub started: u64,
    pub stopped: u64,
    pub rejected: u64,
    /// The latest publish-started / -stopped / -rejected messages, as JSON objects, and which
    /// of them came last.
    pub last: BTreeMap<&'static str, serde_json::Value>,
    pub latest: Option<&'static str>,
    pub tracks: BTreeMap<String, Track>,
}

/// Buffers seen on one of the element's source pads since the current publish started.
pub struct Track {
    pub pad: gst::Pad,
    pub bytes: u64,
    pub frames: u64,
    pub keyframes: u64,
    /// (time, bytes, frames) once a second, the last few: the rates are over this window.
    pub samples: std::collections::VecDeque<(Instant, u64, u64)>,
}

impl Track {
    /// (kbit/s, frames/s) over the sample window.
    pub fn rates(&self) -> (f64, f64) {
        match (self.samples.front(), self.samples.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                let dt = (b.0 - a.0).as_secs_f64();
                (
                    (b.1 - a.1) as f64 * 8.0 / 1000.0 / dt,
                    (b.2 - a.2) as f64 / dt,
                )
            }
            _ => (0.0, 0.0),
        }
    }
}

pub struct Shared {
    pub element: gst::Element,
    pub out: PathBuf,
    pub demo_dir: PathBuf,
    pub push_url: String,
    pub live: Mutex<Live>,
}

struct Config {
    port: u16,
    app: String,
    key: String,
    out: PathBuf,
    http_port: u16,
}

fn config() -> Result<Config, String> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let (mut port, mut app, mut key) =
        (env("PORT", "1935"), env("APP", "live"), env("KEY", "demo"));
    let (mut out, mut http_port) = (env("OUT", "hls-out"), env("HTTP_PORT", "8080"));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--port" => &mut port,
            "--app" => &mut app,
            "--key" => &mut key,
            "--out" => &mut out,
            "--http-port" => &mut http_port,
            _ => {
                return Err(format!(
                    "unknown argument {flag}; use --port --app --key --out --http-port"
                ))
            }
        };
        *slot = args.next().ok_or(format!("{flag} needs a value"))?;
    }
    let port_arg = |s: &str| s.parse::<u16>().map_err(|_| format!("bad port {s}"));
    Ok(Config {
        port: port_arg(&port)?,
        app,
        key,
        out: out.into(),
        http_port: port_arg(&http_port)?,
    })
}

fn main() {
    if let Err(e) = run() {
        eprintln!("serve: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config()?;
    gst::init()?;
    gstrtmpserver::plugin_register_static()?;

    // A fresh playlist: the page must not start on the segments of an earlier run.
    std::fs::create_dir_all(&cfg.out)?;
    for entry in std::fs::read_dir(&cfg.out)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "playlist.m3u8" || (name.starts_with("segment") && name.ends_with(".ts")) {
            std::fs::remove_file(entry.path())?;
        }
    }
    let out = cfg.out.canonicalize()?;

    let location = out.join("segment%05d.ts");
    let playlist = out.join("playlist.m3u8");
    let pipeline = gst::parse::launch(&format!(
        "rtmpserversrc name=src address=127.0.0.1 port={} application=\"{}\" stream-key=\"{}\" \
         src.video_0 ! h264parse ! queue ! hls.video src.audio_0 ! aacparse ! queue ! hls.audio \
         hlssink2 name=hls target-duration=1 playlist-length=6 max-files=12 \
           location=\"{}\" playlist-location=\"{}\"",
        cfg.port,
        cfg.app,
        cfg.key,
        location.display(),
        playlist.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let element = pipeline.by_name("src").ok_or("no rtmpserversrc")?;

    // READY binds the RTMP port (bound-port tells which when port is 0).
    pipeline
        .set_state(gst::State::Ready)
        .map_err(|_| format!("cannot listen on 127.0.0.1:{} (port in use?)", cfg.port))?;
    let rtmp_port = element.property::<u32>("bound-port");
    let listener = std::net::TcpListener::bind(("127.0.0.1", cfg.http_port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{} for HTTP: {e}", cfg.http_port))?;
    let http_port = listener.local_addr()?.port();

    let shared = Arc::new(Shared {
        element: element.clone(),
        out,
        demo_dir: std::env::var_os("DEMO_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/demo").into()),
        push_url: format!("rtmp://127.0.0.1:{rtmp_port}/{}/{}", cfg.app, cfg.key),
        live: Mutex::new(Live::default()),
    });
    count_buffers(&element, &shared);
    std::thread::spawn({
        let shared = shared.clone();
        move || http::serve(listener, shared)
    });
    std::thread::spawn({
        let shared = shared.clone();
        move || sample_rates(&shared)
    });

    pipeline.set_state(gst::State::Playing)?;
    println!("RTMP push URL: {}", shared.push_url);
    println!("Demo page:     http://127.0.0.1:{http_port}/");
    println!("HLS output:    {}", shared.out.display());

    let bus = pipeline.bus().ok_or("no bus")?;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) if msg.src() == Some(element.upcast_ref()) => {
                if let Some(s) = e.structure() {
                    println!("{s}");
                    on_element_message(&shared, s);
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null)?;
                return Err(format!("{} ({:?})", e.error(), e.debug()).into());
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    Ok(())
}

fn on_element_message(shared: &Shared, s: &gst::StructureRef) {
    let client = s.get::<String>("client-address").ok();
    let mut live = shared.live.lock().unwrap();
    let key = match s.name().as_str() {
        "rtmpserversrc-publish-started" => {
            live.live = true;
            live.client = client;
            live.since = Some(Instant::now());
            live.started += 1;
            for track in live.tracks.values_mut() {
                (track.bytes, track.frames, track.keyframes) = (0, 0, 0);
                track.samples.clear();
            }
            "publish-started"
        }
        "rtmpserversrc-publish-stopped" => {
            live.live = false;
            live.client = None;
            live.since = None;
            live.stopped += 1;
            "publish-stopped"
        }
        "rtmpserversrc-rejected" => {
            live.rejected += 1;
            "rejected"
        }
        _ => return,
    };
    live.last.insert(key, json::structure(s));
    live.latest = Some(key);
}

/// A probe on each source pad of the element counts bytes, frames and keyframes.
fn count_buffers(element: &gst::Element, shared: &Arc<Shared>) {
    let shared = Arc::downgrade(shared);
    element.connect_pad_added(move |_, pad| {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let name = pad.name().to_string();
        shared.live.lock().unwrap().tracks.insert(
            name.clone(),
            Track {
                pad: pad.clone(),
                bytes: 0,
                frames: 0,
                keyframes: 0,
                samples: Default::default(),
            },
        );
        let weak = Arc::downgrade(&shared);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let (Some(shared), Some(buffer)) = (weak.upgrade(), info.buffer()) {
                if let Some(t) = shared.live.lock().unwrap().tracks.get_mut(&name) {
                    t.bytes += buffer.size() as u64;
                    t.frames += 1;
                    if !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        t.keyframes += 1;
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    });
}

/// Once a second, a sample of each track's counters for the bitrate and frame rate.
fn sample_rates(shared: &Shared) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = Instant::now();
        for t in shared.live.lock().unwrap().tracks.values_mut() {
            t.samples.push_back((now, t.bytes, t.frames));
            if t.samples.len() > 4 {
                t.samples.pop_front();
            }
        }
    }
}
