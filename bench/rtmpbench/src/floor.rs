// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The cost floor: a minimal RTMP receiver. It answers the handshake and the few commands a
//! publisher waits for (connect, createStream, publish), then only reads the bytes (`--parse`:
//! also reassembles the chunk stream to stamp when each media message is complete, for the
//! latency floor). One thread per connection, blocking reads of 64 KiB.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

use crate::rtmp::message::type_id;
use crate::rtmp::{Amf0Value, ChunkLimits, ChunkReader, ChunkWriter, Command};
use crate::util::now_ns;

const READ_SIZE: usize = 64 * 1024;

#[derive(Default)]
struct Conn {
    /// The publisher's port.
    peer_port: u16,
    bytes: u64,
    media_messages: u64,
    first_ns: u64,
    last_ns: u64,
    /// (type, timestamp, size, coded frame, completed at)
    log: Vec<(u8, u32, u32, bool, u64)>,
    error: Option<String>,
}

fn reply(name: &str, txn: f64, object: Amf0Value, args: Vec<Amf0Value>) -> Vec<u8> {
    Command {
        name: name.into(),
        transaction_id: txn,
        command_object: object,
        args,
    }
    .encode()
}

fn status(code: &str) -> Amf0Value {
    Amf0Value::object([
        ("level", Amf0Value::string("status")),
        ("code", Amf0Value::string(code)),
        ("description", Amf0Value::string("ok")),
    ])
}

fn serve(mut stream: TcpStream, parse: bool) -> Conn {
    let mut c = Conn {
        peer_port: stream.peer_addr().map_or(0, |a| a.port()),
        ..Conn::default()
    };
    if let Err(e) = serve_inner(&mut stream, parse, &mut c) {
        c.error = Some(e);
    }
    c
}

fn serve_inner(stream: &mut TcpStream, parse: bool, c: &mut Conn) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; READ_SIZE];
    let mut hs = Handshake::new(PeerType::Server);
    let leftover = loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed in handshake".into());
        }
        match hs.process_bytes(&buf[..n]).map_err(|e| format!("{e:?}"))? {
            HandshakeProcessResult::InProgress { response_bytes } => stream
                .write_all(&response_bytes)
                .map_err(|e| e.to_string())?,
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                stream
                    .write_all(&response_bytes)
                    .map_err(|e| e.to_string())?;
                break remaining_bytes;
            }
        }
    };
    let mut reader = ChunkReader::new(ChunkLimits::default());
    let mut writer = ChunkWriter::new();
    reader.push(&leftover);
    let mut publishing = false;
    let mut pending_input = leftover.len();
    loop {
        // Commands until publish; with --parse, every message.
        let now = now_ns();
        let mut out = Vec::new();
        while let Some(m) = reader.next_message().map_err(|e| e.to_string())? {
            match m.type_id {
                type_id::SET_CHUNK_SIZE if m.payload.len() >= 4 => {
                    let n = u32::from_be_bytes([
                        m.payload[0],
                        m.payload[1],
                        m.payload[2],
                        m.payload[3],
                    ]);
                    reader
                        .set_chunk_size(n & 0x7FFF_FFFF)
                        .map_err(|e| e.to_string())?;
                }
                type_id::AUDIO | type_id::VIDEO => {
                    c.media_messages += 1;
                    if parse {
                        c.log.push((
                            m.type_id,
                            m.timestamp,
                            m.payload.len() as u32,
                            crate::flv::is_coded(m.type_id, &m.payload),
                            now,
                        ));
                    }
                }
                type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                    let Ok(cmd) = Command::parse(m.type_id, &m.payload) else {
                        continue;
                    };
                    match cmd.name.as_str() {
                        "connect" => {
                            // Like rtmpserversrc: FFmpeg mirrors the server's chunk size, so
                            // the floor receives the same bytes as the element.
                            writer.write(
                                2,
                                0,
                                type_id::SET_CHUNK_SIZE,
                                0,
                                &4096u32.to_be_bytes(),
                                &mut out,
                            );
                            writer.set_chunk_size(4096);
                            let r = reply(
                                "_result",
                                cmd.transaction_id,
                                Amf0Value::object([
                                    ("fmsVer", Amf0Value::string("FMS/3,0,1,123")),
                                    ("capabilities", Amf0Value::Number(31.0)),
                                ]),
                                vec![status("NetConnection.Connect.Success")],
                            );
                            writer.write(3, 0, type_id::COMMAND_AMF0, 0, &r, &mut out);
                        }
                        "createStream" => {
                            let r = reply(
                                "_result",
                                cmd.transaction_id,
                                Amf0Value::Null,
                                vec![Amf0Value::Number(1.0)],
                            );
                            writer.write(3, 0, type_id::COMMAND_AMF0, 0, &r, &mut out);
                        }
                        "publish" => {
                            let r = reply(
                                "onStatus",
                                0.0,
                                Amf0Value::Null,
                                vec![status("NetStream.Publish.Start")],
                            );
                            writer.write(5, 0, type_id::COMMAND_AMF0, m.stream_id, &r, &mut out);
                            publishing = true;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            if publishing && !parse {
                break;
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).map_err(|e| e.to_string())?;
        }
        if publishing && !parse {
            // What the reader holds beyond the publish command is media already.
            c.bytes += pending_input as u64;
            break;
        }
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        let t = now_ns();
        if publishing {
            if c.first_ns == 0 {
                c.first_ns = t;
            }
            c.last_ns = t;
            c.bytes += n as u64;
        }
        pending_input = n;
        reader.push(&buf[..n]);
    }
    // The floor proper: read and drop.
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                let t = now_ns();
                if c.first_ns == 0 {
                    c.first_ns = t;
                }
                c.last_ns = t;
                c.bytes += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// `rtmpbench floor`: handshake, connect/createStream/publish replies, then reads the bytes.
/// Prints "LISTENING port", then "DONE {json}" after N connections ended.
#[derive(clap::Args)]
pub struct FloorArgs {
    /// Port to listen on (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Connections to serve before reporting.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Reassemble chunks to stamp each message's arrival (for the latency floor).
    #[arg(long)]
    parse: bool,
    /// Per-message arrival log (TSV, with --parse).
    #[arg(long)]
    log: Option<String>,
    /// Exit after reporting instead of waiting to be killed.
    #[arg(long)]
    exit: bool,
}

pub fn main(a: FloorArgs) -> Result<(), String> {
    let port = a.port;
    let conns = a.conns;
    let parse = a.parse;
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("LISTENING {port}");
    let _ = std::io::stdout().flush();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let tx = tx.clone();
            let _ = thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let _ = tx.send(serve(s, parse));
                });
        }
    });
    let mut done: Vec<Conn> = Vec::new();
    while done.len() < conns {
        match rx.recv() {
            Ok(c) => done.push(c),
            Err(_) => break,
        }
    }
    if let Some(path) = a.log.as_deref() {
        let mut out = String::from("conn\tkind\tts\tsize\tcoded\tt_ns\n");
        for c in &done {
            for (k, ts, size, coded, t) in &c.log {
                let coded = u8::from(*coded);
                out.push_str(&format!(
                    "{}\t{k}\t{ts}\t{size}\t{coded}\t{t}\n",
                    c.peer_port
                ));
            }
        }
        std::fs::write(path, out).map_err(|e| format!("{path}: {e}"))?;
    }
    let errors: Vec<&String> = done.iter().filter_map(|c| c.error.as_ref()).collect();
    let summary = serde_json::json!({
        "conns": done.len(),
        "bytes": done.iter().map(|c| c.bytes).sum::<u64>(),
        "media_messages": done.iter().map(|c| c.media_messages).sum::<u64>(),
        "first_ns": done.iter().map(|c| c.first_ns).filter(|&t| t > 0).min().unwrap_or(0),
        "last_ns": done.iter().map(|c| c.last_ns).max().unwrap_or(0),
        "errors": errors,
    });
    println!("DONE {summary}");
    let _ = std::io::stdout().flush();
    if !a.exit {
        // Wait to be killed: the harness reads our CPU time now.
        loop {
            thread::park();
        }
    }
    Ok(())
}
