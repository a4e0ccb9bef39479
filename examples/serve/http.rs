// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A tiny HTTP/1.1 server (std::net, a thread per request, GET only, `Connection: close`).
//! It serves a fixed set of routes and, under `/hls/`, only plain file names in the output
//! directory: no paths, so no way out of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;

use super::{json, Shared};

const PAGE: &str = include_str!("../../demo/index.html");

struct Response {
    status: &'static str,
    content_type: &'static str,
    cache: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status: "200 OK",
            content_type,
            cache: "no-cache",
            body: body.into(),
        }
    }

    fn error(status: &'static str, text: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            cache: "no-store",
            body: format!("{status}: {text}\n").into(),
        }
    }
}

pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming().flatten() {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = handle(stream, &shared);
        });
    }
}

fn handle(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    // The headers are read and ignored (at most 64 KiB of them).
    let mut header_bytes = 0;
    loop {
        let mut line = String::new();
        let n = reader.by_ref().take(8192).read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" || header_bytes > 65536 {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let response = if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        Response::error("400 Bad Request", "not an HTTP/1.x request")
    } else if method != "GET" {
        Response::error("405 Method Not Allowed", "GET only")
    } else {
        route(target.split(['?', '#']).next().unwrap_or(""), shared)
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: {}\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len(),
        response.cache
    )?;
    stream.write_all(&response.body)?;
    stream.flush()
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
                    "404 Not Found",
                    &format!("{} is missing: run `npm ci` in demo/", file.display()),
                ),
            }
        }
        "/stats" => Response::ok("application/json", stats(shared)),
        _ => match path.strip_prefix("/hls/") {
            Some(name) => hls_file(name, shared),
            None => Response::error("404 Not Found", "no such page"),
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
        return Response::error(
            "404 Not Found",
            "only the playlist and its segments are served here",
        );
    }
    match std::fs::read(shared.out.join(name)) {
        Ok(body) => Response::ok(content_type, body),
        Err(_) => Response::error("404 Not Found", "no such file (yet)"),
    }
}

/// `/stats`: the publish state from the bus messages, per-pad counters, and the element's own
/// `stats` property as it is.
fn stats(shared: &Shared) -> String {
    let element = shared.element.property::<gst::Structure>("stats");
    let playlist_ready = shared.out.join("playlist.m3u8").is_file();
    let live = shared.live.lock().unwrap();
    let tracks: Vec<String> = live
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
            format!(
                "{{\"pad\":{},\"format\":{},\"bytes\":{},\"frames\":{},\"keyframes\":{},\"kbps\":{},\"fps\":{}}}",
                json::string(name),
                json::string(&format),
                t.bytes,
                t.frames,
                t.keyframes,
                json::number(kbps),
                json::number(fps)
            )
        })
        .collect();
    let last = |key: &str| live.last.get(key).cloned().unwrap_or_else(|| "null".into());
    format!(
        "{{\"live\":{},\"client\":{},\"live_seconds\":{},\"push_url\":{},\"playlist_ready\":{},\
         \"tracks\":[{}],\"events\":{{\"publish_started\":{},\"publish_stopped\":{},\"rejected\":{}}},\
         \"latest_event\":{},\"last_publish_started\":{},\"last_publish_stopped\":{},\"last_rejected\":{},\"element\":{}}}",
        live.live,
        live.client.as_deref().map_or("null".into(), json::string),
        live.since.map_or("null".into(), |t| json::number(t.elapsed().as_secs_f64())),
        json::string(&shared.push_url),
        playlist_ready,
        tracks.join(","),
        live.started,
        live.stopped,
        live.rejected,
        live.latest.map_or("null".into(), json::string),
        last("publish-started"),
        last("publish-stopped"),
        last("rejected"),
        json::structure(&element)
    )
}
