// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The demo's HTTP server (tiny_http, GET only). It serves a fixed set of routes and, under
//! `/hls/`, only plain file names in the output directory: no paths, so no way out of it.

use std::net::TcpListener;
use std::sync::Arc;

use gst::prelude::*;

use super::{json, Shared};

const PAGE: &str = include_str!("../../demo/index.html");

struct Response {
    status: u16,
    content_type: &'static str,
    cache: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status: 200,
            content_type,
            cache: "no-cache",
            body: body.into(),
        }
    }

    fn error(status: u16, text: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            cache: "no-store",
            body: format!("{status}: {text}\n").into(),
        }
    }
}

/// Serves the page, the player, the HLS output and `/stats` (tiny_http: HTTP/1.1 parsing,
/// keep-alive and a thread per request are its business).
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let server = match tiny_http::Server::from_listener(listener, None) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("HTTP server: {err}");
            return;
        }
    };
    for request in server.incoming_requests() {
        let shared = shared.clone();
        std::thread::spawn(move || handle(request, &shared));
    }
}

fn handle(request: tiny_http::Request, shared: &Shared) {
    let response = if *request.method() != tiny_http::Method::Get {
        Response::error(405, "GET only")
    } else {
        route(request.url().split(['?', '#']).next().unwrap_or(""), shared)
    };
    let header = |name: &str, value: &str| {
        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
    };
    let reply = tiny_http::Response::from_data(response.body)
        .with_status_code(response.status)
        .with_header(header("Content-Type", response.content_type))
        .with_header(header("Cache-Control", response.cache))
        .with_header(header("X-Content-Type-Options", "nosniff"));
    let _ = request.respond(reply);
}

fn route(path: &str, shared: &Shared) -> Response {
    match path {
        "/" | "/index.html" => Response::ok("text/html; charset=utf-8", PAGE),
        "/hls.js" => {
            let file = shared.demo_dir.join("node_modules/hls.js/dist/hls.min.js");
            match std::fs::read(&file) {
                Ok(body) => Response {
                    cache: "max-age=3600",
                    ..Response::ok("text/javascript", body)
                },
                Err(_) => Response::error(
                    404,
                    &format!("{} is missing: run `npm ci` in demo/", file.display()),
                ),
            }
        }
        "/stats" => Response::ok("application/json", stats(shared)),
        _ => match path.strip_prefix("/hls/") {
            Some(name) => hls_file(name, shared),
            None => Response::error(404, "no such page"),
        },
    }
}

fn hls_file(name: &str, shared: &Shared) -> Response {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        _ => "",
    };
    if !plain || content_type.is_empty() {
        return Response::error(404, "only the playlist and its segments are served here");
    }
    match std::fs::read(shared.out.join(name)) {
        Ok(body) => Response::ok(content_type, body),
        Err(_) => Response::error(404, "no such file (yet)"),
    }
}

/// `/stats`: the publish state from the bus messages, per-pad counters, and the element's own
/// `stats` property as it is.
fn stats(shared: &Shared) -> String {
    let element = shared.element.property::<gst::Structure>("stats");
    let playlist_ready = shared.out.join("playlist.m3u8").is_file();
    let live = shared.live.lock().unwrap();
    let tracks: Vec<serde_json::Value> = live
        .tracks
        .iter()
        .map(|(name, t)| {
            let caps = t.pad.current_caps();
            let s = caps.as_ref().and_then(|c| c.structure(0));
            let mut format = s.map(|s| s.name().to_string()).unwrap_or_default();
            if let Some(s) = s {
                if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
                    format += &format!(" {w}x{h}");
                }
                if let (Ok(rate), Ok(ch)) = (s.get::<i32>("rate"), s.get::<i32>("channels")) {
                    format += &format!(" {rate} Hz {ch} ch");
                }
            }
            let (kbps, fps) = t.rates();
            serde_json::json!({
                "pad": name,
                "format": format,
                "bytes": t.bytes,
                "frames": t.frames,
                "keyframes": t.keyframes,
                "kbps": json::number(kbps),
                "fps": json::number(fps),
            })
        })
        .collect();
    let last = |key: &str| {
        live.last
            .get(key)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "live": live.live,
        "client": live.client,
        "live_seconds": live.since.map(|t| json::number(t.elapsed().as_secs_f64())),
        "push_url": shared.push_url,
        "playlist_ready": playlist_ready,
        "tracks": tracks,
        "events": {
            "publish_started": live.started,
            "publish_stopped": live.stopped,
            "rejected": live.rejected,
        },
        "latest_event": live.latest,
        "last_publish_started": last("publish-started"),
        "last_publish_stopped": last("publish-stopped"),
        "last_rejected": last("rejected"),
        "element": json::structure(&element),
    })
    .to_string()
}
