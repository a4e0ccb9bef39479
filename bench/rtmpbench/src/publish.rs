// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The replay publisher: N RTMP connections (one thread each) that publish an FLV file, paced
//! by its timestamps (or as fast as the socket takes it), and record when the last byte of each
//! media message entered the socket.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

use crate::flv;
use crate::rtmp::message::type_id;
use crate::rtmp::{Amf0Value, ChunkLimits, ChunkReader, ChunkWriter, Command, RawMessage};
use crate::util::now_ns;

const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_AUDIO: u32 = 4;
const CSID_DATA: u32 = 5;
const CSID_VIDEO: u32 = 6;

/// One media or data message ready to send: its chunked bytes in `Prepared::wire`.
struct Msg {
    kind: u8,
    ts: u32,
    /// Milliseconds after the first message: when it is due at real-time pace.
    rel_ms: u64,
    size: u32,
    /// A coded frame (not a sequence header, end of sequence or metadata).
    coded: bool,
    wire: Range<usize>,
}

/// The clip, chunked once for message stream `stream_id` and shared by every connection.
struct Prepared {
    stream_id: u32,
    wire: Vec<u8>,
    msgs: Vec<Msg>,
}

fn prepare(clip: &flv::Flv, stream_id: u32, chunk_size: u32, duration_ms: u64) -> Prepared {
    let mut writer = ChunkWriter::new();
    writer.set_chunk_size(chunk_size);
    let mut wire = Vec::with_capacity(clip.data.len() + clip.data.len() / 64);
    let mut msgs = Vec::new();
    let first_ts = clip
        .tags
        .iter()
        .find(|t| t.kind != flv::SCRIPT)
        .map_or(0, |t| t.ts);
    for tag in &clip.tags {
        let payload = &clip.data[tag.payload.clone()];
        let (csid, type_id, ts, body): (u32, u8, u32, Vec<u8>) = match tag.kind {
            flv::AUDIO => (CSID_AUDIO, type_id::AUDIO, tag.ts, Vec::new()),
            flv::VIDEO => (CSID_VIDEO, type_id::VIDEO, tag.ts, Vec::new()),
            flv::SCRIPT => {
                // A publisher sends onMetaData as @setDataFrame.
                let mut body = Vec::new();
                crate::rtmp::amf0::encode(&[Amf0Value::string("@setDataFrame")], &mut body);
                body.extend_from_slice(payload);
                (CSID_DATA, type_id::DATA_AMF0, 0, body)
            }
            _ => continue,
        };
        let rel_ms = u64::from(ts.saturating_sub(first_ts));
        if duration_ms > 0 && tag.kind != flv::SCRIPT && rel_ms >= duration_ms {
            break;
        }
        let bytes: &[u8] = if body.is_empty() { payload } else { &body };
        let start = wire.len();
        writer.write(csid, ts, type_id, stream_id, bytes, &mut wire);
        msgs.push(Msg {
            kind: tag.kind,
            ts,
            rel_ms: if tag.kind == flv::SCRIPT { 0 } else { rel_ms },
            size: bytes.len() as u32,
            coded: flv::is_coded(tag.kind, payload),
            wire: start..wire.len(),
        });
    }
    Prepared {
        stream_id,
        wire,
        msgs,
    }
}

pub(crate) struct Target {
    host_port: String,
    app: String,
    key: String,
    tc_url: String,
}

pub(crate) fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("rtmp://")
        .ok_or_else(|| format!("not an rtmp:// URL: {url}"))?;
    let (host_port, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("no app in {url}"))?;
    let (app, key) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("no stream key in {url}"))?;
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:1935")
    };
    Ok(Target {
        tc_url: format!("rtmp://{host_port}/{app}"),
        host_port,
        app: app.to_string(),
        key: key.to_string(),
    })
}

/// A connection in the publishing state.
pub(crate) struct Session {
    pub(crate) stream: TcpStream,
    stream_id: u32,
}

fn command(name: &str, txn: f64, object: Amf0Value, args: Vec<Amf0Value>) -> Vec<u8> {
    Command {
        name: name.to_string(),
        transaction_id: txn,
        command_object: object,
        args,
    }
    .encode()
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Reads messages until `want` returns Some.
fn wait_for<T>(
    stream: &mut TcpStream,
    reader: &mut ChunkReader,
    deadline: Instant,
    mut want: impl FnMut(&RawMessage) -> Result<Option<T>, io::Error>,
) -> io::Result<T> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(msg) = reader.next_message().map_err(|e| err(e.to_string()))? {
            if msg.type_id == type_id::SET_CHUNK_SIZE && msg.payload.len() >= 4 {
                let n = u32::from_be_bytes([
                    msg.payload[0],
                    msg.payload[1],
                    msg.payload[2],
                    msg.payload[3],
                ]) & 0x7FFF_FFFF;
                reader.set_chunk_size(n).map_err(|e| err(e.to_string()))?;
                continue;
            }
            if let Some(v) = want(&msg)? {
                return Ok(v);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no reply from the server",
            ));
        }
        stream.set_read_timeout(Some(deadline - now))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(err("server closed the connection"));
        }
        reader.push(&buf[..n]);
    }
}

fn parse_command(msg: &RawMessage) -> Option<Command> {
    if msg.type_id == type_id::COMMAND_AMF0 || msg.type_id == type_id::COMMAND_AMF3 {
        Command::parse(msg.type_id, &msg.payload).ok()
    } else {
        None
    }
}

/// Connects to `target` and completes the RTMP handshake; returns the socket and the bytes
/// the server sent after its part of the handshake.
pub(crate) fn handshaken(target: &Target, timeout: Duration) -> io::Result<(TcpStream, Vec<u8>)> {
    let addr = target
        .host_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| err("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    // Handshake (rml_rtmp's client side).
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs
        .generate_outbound_p0_and_p1()
        .map_err(|e| err(format!("{e:?}")))?;
    stream.write_all(&c0c1)?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(err("server closed during the handshake"));
        }
        match hs
            .process_bytes(&buf[..n])
            .map_err(|e| err(format!("handshake: {e:?}")))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes)?
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                stream.write_all(&response_bytes)?;
                return Ok((stream, remaining_bytes));
            }
        }
    }
}

pub(crate) fn open(target: &Target, chunk_size: u32, timeout: Duration) -> io::Result<Session> {
    let deadline = Instant::now() + timeout;
    let (mut stream, leftover) = handshaken(target, timeout)?;
    let mut reader = ChunkReader::new(ChunkLimits::default());
    reader.push(&leftover);
    let mut writer = ChunkWriter::new();
    let mut out = Vec::new();

    // Chunk size, then connect.
    writer.write(
        CSID_CONTROL,
        0,
        type_id::SET_CHUNK_SIZE,
        0,
        &chunk_size.to_be_bytes(),
        &mut out,
    );
    writer.set_chunk_size(chunk_size);
    let connect = command(
        "connect",
        1.0,
        Amf0Value::object([
            ("app", Amf0Value::string(target.app.clone())),
            ("type", Amf0Value::string("nonprivate")),
            (
                "flashVer",
                Amf0Value::string("FMLE/3.0 (compatible; rtmpbench)"),
            ),
            ("tcUrl", Amf0Value::string(target.tc_url.clone())),
        ]),
        vec![],
    );
    writer.write(
        CSID_COMMAND,
        0,
        type_id::COMMAND_AMF0,
        0,
        &connect,
        &mut out,
    );
    stream.write_all(&out)?;
    out.clear();
    wait_for(&mut stream, &mut reader, deadline, |m| {
        Ok(match parse_command(m) {
            Some(c) if c.transaction_id == 1.0 && c.name == "_result" => Some(()),
            Some(c) if c.transaction_id == 1.0 && c.name == "_error" => {
                return Err(err(format!("connect refused: {:?}", c.args)))
            }
            _ => None,
        })
    })?;

    let key = Amf0Value::string(target.key.clone());
    for (name, txn, args) in [
        ("releaseStream", 2.0, vec![key.clone()]),
        ("FCPublish", 3.0, vec![key.clone()]),
        ("createStream", 4.0, vec![]),
    ] {
        let c = command(name, txn, Amf0Value::Null, args);
        writer.write(CSID_COMMAND, 0, type_id::COMMAND_AMF0, 0, &c, &mut out);
    }
    stream.write_all(&out)?;
    out.clear();
    let stream_id = wait_for(&mut stream, &mut reader, deadline, |m| {
        Ok(match parse_command(m) {
            Some(c) if c.transaction_id == 4.0 && c.name == "_result" => {
                Some(c.args.first().and_then(Amf0Value::as_number).unwrap_or(1.0) as u32)
            }
            Some(c) if c.transaction_id == 4.0 => {
                return Err(err(format!("createStream refused: {:?}", c.args)))
            }
            _ => None,
        })
    })?;

    let publish = command(
        "publish",
        5.0,
        Amf0Value::Null,
        vec![key, Amf0Value::string("live")],
    );
    writer.write(
        CSID_DATA,
        0,
        type_id::COMMAND_AMF0,
        stream_id,
        &publish,
        &mut out,
    );
    stream.write_all(&out)?;
    out.clear();
    wait_for(&mut stream, &mut reader, deadline, |m| {
        let Some(c) = parse_command(m) else {
            return Ok(None);
        };
        if c.name != "onStatus" {
            return Ok(None);
        }
        let code = c
            .args
            .first()
            .and_then(|o| o.get("code"))
            .and_then(Amf0Value::as_str)
            .unwrap_or("")
            .to_string();
        if code == "NetStream.Publish.Start" {
            Ok(Some(()))
        } else if code.contains("Publish") {
            Err(err(format!("publish refused: {code}")))
        } else {
            Ok(None)
        }
    })?;
    Ok(Session { stream, stream_id })
}

/// One entry of the send log.
#[derive(Clone, Copy)]
struct Sent {
    msg: u32,
    sent_ns: u64,
    lag_us: u64,
}

struct ConnResult {
    conn: usize,
    /// Our end's port, which the floor logs as the peer's.
    local_port: u16,
    error: Option<String>,
    log: Vec<Sent>,
    bytes: u64,
    start_ns: u64,
    end_ns: u64,
}

#[allow(clippy::too_many_arguments)]
fn run_conn(
    conn: usize,
    target: Target,
    prepared: Arc<Prepared>,
    chunk_size: u32,
    realtime: bool,
    start_offset: Duration,
    barrier: Arc<Barrier>,
    timeout: Duration,
    idle: Option<Duration>,
    hold: Duration,
) -> ConnResult {
    let mut result = ConnResult {
        conn,
        local_port: 0,
        error: None,
        log: Vec::with_capacity(prepared.msgs.len()),
        bytes: 0,
        start_ns: 0,
        end_ns: 0,
    };
    let session = open(&target, chunk_size, timeout);
    // Every connection publishes before any sends media.
    barrier.wait();
    let mut session = match session {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(format!("{}: {e}", target.host_port));
            return result;
        }
    };
    result.local_port = session.stream.local_addr().map_or(0, |a| a.port());
    // Whatever the server sends (acknowledgements, pings) is read and dropped by a thread, which
    // reports when the server closed the connection.
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
    if let Ok(mut drain) = session.stream.try_clone() {
        let _ = drain.set_read_timeout(None);
        let _ = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let mut buf = [0u8; 4096];
            while matches!(drain.read(&mut buf), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
    }
    // Chunked on the fly if the server picked a message stream id other than the shared one.
    let own;
    let prepared: &Prepared = if session.stream_id == prepared.stream_id {
        &prepared
    } else {
        own = rechunk(&prepared, session.stream_id, chunk_size);
        &own
    };
    thread::sleep(hold + start_offset);
    let t0 = Instant::now();
    result.start_ns = now_ns();
    for (i, m) in prepared.msgs.iter().enumerate() {
        if let Some(hold) = idle {
            // An idle publisher: metadata and sequence headers, then nothing for a while.
            if m.coded || m.rel_ms > 0 {
                thread::sleep(hold);
                break;
            }
        }
        let due = t0 + Duration::from_millis(m.rel_ms);
        if realtime {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        // The send time is taken just before the last chunk's write: the last byte enters the
        // socket during that call (a few microseconds for at most 4 KiB), and a writer that the
        // scheduler preempts after the call cannot make the reader look early.
        let wire = &prepared.wire[m.wire.clone()];
        let split = wire.len().saturating_sub(chunk_size as usize + 16);
        let (head, tail) = wire.split_at(split);
        if let Err(e) = session.stream.write_all(head) {
            result.error = Some(format!("{}: write: {e}", target.host_port));
            break;
        }
        let sent_ns = now_ns();
        if let Err(e) = session.stream.write_all(tail) {
            result.error = Some(format!("{}: write: {e}", target.host_port));
            break;
        }
        let lag = if realtime {
            Instant::now().saturating_duration_since(due)
        } else {
            Duration::ZERO
        };
        result.bytes += m.wire.len() as u64;
        result.log.push(Sent {
            msg: i as u32,
            sent_ns,
            lag_us: lag.as_micros() as u64,
        });
    }
    result.end_ns = now_ns();
    // Leave as encoders do: FCUnpublish, deleteStream, close.
    let mut writer = ChunkWriter::new();
    writer.set_chunk_size(chunk_size);
    let mut out = Vec::new();
    let key = Amf0Value::string(target.key.clone());
    let c = command("FCUnpublish", 6.0, Amf0Value::Null, vec![key]);
    writer.write(CSID_COMMAND, 0, type_id::COMMAND_AMF0, 0, &c, &mut out);
    let c = command(
        "deleteStream",
        7.0,
        Amf0Value::Null,
        vec![Amf0Value::Number(f64::from(session.stream_id))],
    );
    writer.write(CSID_COMMAND, 0, type_id::COMMAND_AMF0, 0, &c, &mut out);
    let _ = session.stream.write_all(&out);
    // Half-close and wait for the server to close: closing with unread input would reset the
    // connection, and a reset makes the server's kernel drop what it has not read yet.
    let _ = session.stream.shutdown(Shutdown::Write);
    let _ = closed_rx.recv_timeout(Duration::from_secs(5));
    result
}

fn rechunk(p: &Prepared, stream_id: u32, chunk_size: u32) -> Prepared {
    // Message stream id sits in every type-0 header; rebuilding is simplest.
    let mut writer = ChunkWriter::new();
    writer.set_chunk_size(chunk_size);
    let mut wire = Vec::with_capacity(p.wire.len());
    let mut msgs = Vec::with_capacity(p.msgs.len());
    let mut reader = ChunkReader::new(ChunkLimits::default());
    reader.set_chunk_size(chunk_size).ok();
    reader.push(&p.wire);
    for m in &p.msgs {
        let Ok(Some(raw)) = reader.next_message() else {
            break;
        };
        let start = wire.len();
        writer.write(
            raw.csid,
            raw.timestamp,
            raw.type_id,
            stream_id,
            &raw.payload,
            &mut wire,
        );
        msgs.push(Msg {
            kind: m.kind,
            ts: m.ts,
            rel_ms: m.rel_ms,
            size: m.size,
            coded: m.coded,
            wire: start..wire.len(),
        });
    }
    Prepared {
        stream_id,
        wire,
        msgs,
    }
}

/// `rtmpbench publish`: `{i}` in the URL is the connection index, `{port}` is port-base + i.
/// Prints a JSON summary; --log writes when the last byte of each message entered the socket.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// rtmp://host:port/app/key (with `{i}` and `{port}` templates).
    #[arg(long)]
    url: String,
    /// The FLV clip to replay.
    #[arg(long)]
    file: String,
    /// Connections (publishers).
    #[arg(long, default_value_t = 1)]
    conns: usize,
    #[arg(long, default_value_t = 0)]
    port_base: u32,
    /// Seconds of the clip to send (0: all).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    #[arg(long, default_value_t = 4096)]
    chunk_size: u32,
    /// As fast as the socket takes it, instead of real time.
    #[arg(long, conflicts_with = "idle")]
    fast: bool,
    /// Send only the metadata and sequence headers, then hold the connection --duration s.
    #[arg(long)]
    idle: bool,
    /// Connection starts spread over this many ms (default 1000 with several connections).
    #[arg(long)]
    spread_ms: Option<u64>,
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Wait this long between publishing and the first message (servers that refuse players
    /// before the stream exists need the players to join in between).
    #[arg(long, default_value_t = 0)]
    hold_ms: u64,
    /// Per-message send log (TSV).
    #[arg(long)]
    log: Option<String>,
}

pub fn main(a: PublishArgs) -> Result<(), String> {
    let url = a.url.clone();
    let file = a.file.as_str();
    let conns = a.conns;
    let port_base = a.port_base;
    let duration_s = a.duration;
    let chunk_size = a.chunk_size;
    let realtime = !a.fast;
    let spread_ms = a.spread_ms.unwrap_or(if conns > 1 { 1000 } else { 0 });
    let timeout = Duration::from_secs_f64(a.timeout);
    let idle = a.idle.then(|| Duration::from_secs_f64(duration_s));
    let hold = Duration::from_millis(a.hold_ms);

    let clip = flv::read(file).map_err(|e| format!("{file}: {e}"))?;
    let prepared = Arc::new(prepare(
        &clip,
        1,
        chunk_size,
        if idle.is_some() {
            1
        } else {
            (duration_s * 1000.0) as u64
        },
    ));
    drop(clip);
    let barrier = Arc::new(Barrier::new(conns));
    let mut handles = Vec::new();
    for i in 0..conns {
        let u = url
            .replace("{i}", &i.to_string())
            .replace("{port}", &(port_base + i as u32).to_string());
        let target = parse_url(&u)?;
        let prepared = prepared.clone();
        let barrier = barrier.clone();
        let offset = Duration::from_millis(if conns > 1 {
            spread_ms * i as u64 / conns as u64
        } else {
            0
        });
        let h = thread::Builder::new()
            .name(format!("pub{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                run_conn(
                    i, target, prepared, chunk_size, realtime, offset, barrier, timeout, idle, hold,
                )
            })
            .map_err(|e| e.to_string())?;
        handles.push(h);
    }
    let results: Vec<ConnResult> = handles
        .into_iter()
        .map(|h| h.join().expect("publisher thread panicked"))
        .collect();

    if let Some(path) = a.log.as_deref() {
        let mut out = String::from("conn\tlport\tkind\tts\tsize\tcoded\tsent_ns\tlag_us\n");
        for r in &results {
            for s in &r.log {
                let m = &prepared.msgs[s.msg as usize];
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    r.conn,
                    r.local_port,
                    m.kind,
                    m.ts,
                    m.size,
                    u8::from(m.coded),
                    s.sent_ns,
                    s.lag_us
                ));
            }
        }
        std::fs::write(path, out).map_err(|e| format!("{path}: {e}"))?;
    }
    let expected = prepared.msgs.len();
    let mut lags: Vec<u64> = results
        .iter()
        .flat_map(|r| r.log.iter().map(|s| s.lag_us))
        .collect();
    lags.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lags.is_empty() {
            return 0.0;
        }
        let i = ((lags.len() - 1) as f64 * p).round() as usize;
        lags[i] as f64 / 1000.0
    };
    let complete = results
        .iter()
        .filter(|r| r.error.is_none() && (idle.is_some() || r.log.len() == expected))
        .count();
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("conn {}: {e}", r.conn)))
        .collect();
    let start = results
        .iter()
        .filter(|r| r.start_ns > 0)
        .map(|r| r.start_ns)
        .min()
        .unwrap_or(0);
    let end = results.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let video = prepared
        .msgs
        .iter()
        .filter(|m| m.kind == flv::VIDEO)
        .count();
    let audio = prepared
        .msgs
        .iter()
        .filter(|m| m.kind == flv::AUDIO)
        .count();
    let media_ms = prepared.msgs.iter().map(|m| m.rel_ms).max().unwrap_or(0);
    let summary = serde_json::json!({
        "conns": conns,
        "complete": complete,
        "messages_per_conn": expected,
        "video_per_conn": video,
        "audio_per_conn": audio,
        "media_ms": media_ms,
        "bytes": results.iter().map(|r| r.bytes).sum::<u64>(),
        "start_ns": start,
        "end_ns": end,
        "lag_ms_p50": pct(0.5),
        "lag_ms_p99": pct(0.99),
        "lag_ms_max": pct(1.0),
        "errors": errors,
    });
    println!("{summary}");
    if complete == conns {
        Ok(())
    } else {
        Err(format!(
            "{} of {conns} connections did not send the whole clip",
            conns - complete
        ))
    }
}
