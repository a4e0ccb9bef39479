// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! `rtmpbench hold`: opens many connections that then stay silent, for the idle-cost test.
//!
//! rtmpbench hold --url rtmp://127.0.0.1:PORT/app/key{i} --conns N --duration S [--publish]
//!   Opens N connections one after the other (one thread: the client's own cost stays small),
//!   each finishing the RTMP handshake, or with --publish connecting and publishing (key with
//!   `{i}` replaced by the index) without sending media. Prints "HOLDING n" once all are open,
//!   holds them for S seconds, then prints a JSON summary and closes them.

use std::time::{Duration, Instant};

use crate::publish::{handshaken, open, parse_url};

/// `rtmpbench hold`: see the module's documentation.
#[derive(clap::Args)]
pub struct HoldArgs {
    /// rtmp://host:port/app/key (`{i}` is the connection index).
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Seconds to hold the connections.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Connect and publish (no media) instead of only finishing the handshake.
    #[arg(long)]
    publish: bool,
}

pub fn main(a: HoldArgs) -> Result<(), String> {
    let url = a.url;
    let conns = a.conns;
    let duration = a.duration;
    let publish = a.publish;
    let timeout = Duration::from_secs(10);
    let start = Instant::now();
    let mut held = Vec::with_capacity(conns);
    let mut errors: Vec<String> = Vec::new();
    for i in 0..conns {
        let target = parse_url(&url.replace("{i}", &i.to_string()))?;
        let opened = if publish {
            open(&target, 4096, timeout).map(|s| s.stream)
        } else {
            handshaken(&target, timeout).map(|(s, _)| s)
        };
        match opened {
            Ok(stream) => held.push(stream),
            Err(e) => {
                if errors.len() < 5 {
                    errors.push(format!("connection {i}: {e}"));
                }
            }
        }
    }
    println!("HOLDING {}", held.len());
    let opened_in = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64(duration));
    // Still open at the end: the server did not drop them.
    let alive = held
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).ok();
            let mut b = [0u8; 1];
            !matches!(s.peek(&mut b), Ok(0))
        })
        .count();
    let summary = serde_json::json!({
        "requested": conns,
        "opened": held.len(),
        "alive": alive,
        "open_seconds": opened_in,
        "errors": errors,
    });
    println!("{summary}");
    Ok(())
}
