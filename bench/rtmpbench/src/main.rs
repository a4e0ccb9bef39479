// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Benchmark tools for gst-plugin-rtmpserver.
//!
//! rtmpbench publish --url rtmp://127.0.0.1:PORT/app/key --file clip.flv [--conns N]
//!                   [--port-base P] [--duration S] [--fast | --idle] [--spread-ms MS] [--log FILE]
//!   Replay publisher. `{i}` in the URL is the connection index, `{port}` is port-base + i.
//!   Prints a JSON summary; --log writes when the last byte of each message entered the socket.
//!   --hold-ms MS waits between publish and the first message.
//!   --idle sends only the metadata and sequence headers, then holds the connection --duration s.
//! rtmpbench hold --url rtmp://127.0.0.1:PORT/app/key{i} --conns N --duration S [--publish]
//!   Idle connections: N handshaken (or, with --publish, publishing without media) connections
//!   held open for S seconds; prints "HOLDING n" when all are open, then a JSON summary.
//! rtmpbench floor [--port P] [--conns N] [--parse] [--log FILE] [--exit]
//!   Minimal receiver (the cost floor): handshake, connect/createStream/publish replies, then
//!   reads the bytes. Prints "LISTENING port", then "DONE {json}" after N connections ended.

mod floor;
mod flv;
mod hold;
mod publish;
mod rtmp;
mod util;

use clap::Parser;

/// Benchmark tools for gst-plugin-rtmpserver (see bench/README.md).
#[derive(Parser)]
#[command(name = "rtmpbench")]
enum Cli {
    /// Replay publisher: publishes an FLV clip over N connections.
    Publish(publish::PublishArgs),
    /// Minimal receiver (the cost floor).
    Floor(floor::FloorArgs),
    /// Idle connections: N handshaken (or publishing) connections held open.
    Hold(hold::HoldArgs),
}

fn main() {
    let result = match Cli::parse() {
        Cli::Publish(args) => publish::main(args),
        Cli::Floor(args) => floor::main(args),
        Cli::Hold(args) => hold::main(args),
    };
    if let Err(e) = result {
        eprintln!("rtmpbench: {e}");
        std::process::exit(1);
    }
}
