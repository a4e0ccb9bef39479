// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A minimal RTMP publisher for cases no real client produces: malformed input, hostile
//! lengths, edge timing. Built on the crate's own chunk writer and AMF0 encoder.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rtmpserver_proto::rtmp::{amf0, Amf0Value, ChunkLimits, ChunkReader, ChunkWriter, RawMessage};

pub const COMMAND: u8 = 20;
pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const DATA: u8 = 18;

pub struct TestClient {
    pub stream: TcpStream,
    pub writer: ChunkWriter,
    reader: ChunkReader,
    port: u16,
}

impl TestClient {
    pub fn open(port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        Self::from_stream(stream, port)
    }

    /// A client from 127.0.0.2 (another address of the loopback range, as a second host would
    /// be), for tests where the per-address limit of 127.0.0.1 is someone else's.
    pub fn open_from_second_address(port: u16) -> std::io::Result<Self> {
        Self::open_from(Ipv4Addr::new(127, 0, 0, 2), port)
    }

    /// A client from `source` (any address of the loopback range: 127.0.0.2 as a second host,
    /// 127.0.0.3 as the load balancer) to `port` on 127.0.0.1.
    pub fn open_from(source: Ipv4Addr, port: u16) -> std::io::Result<Self> {
        Self::from_stream(tcp_from(source, port)?, port)
    }

    /// Like [`Self::open_from`], sending `prefix` (a PROXY protocol header, say) before anything
    /// else.
    pub fn open_from_with_prefix(
        source: Ipv4Addr,
        port: u16,
        prefix: &[u8],
    ) -> std::io::Result<Self> {
        let mut stream = tcp_from(source, port)?;
        stream.write_all(prefix)?;
        Self::from_stream(stream, port)
    }

    /// The port the tcUrl of later connects names (by default the port connected to).
    pub fn set_tc_url_port(&mut self, port: u16) {
        self.port = port;
    }

    fn from_stream(stream: TcpStream, port: u16) -> std::io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(TestClient {
            stream,
            writer: ChunkWriter::new(),
            reader: ChunkReader::new(ChunkLimits::default()),
            port,
        })
    }

    /// A connection past the handshake, or None when the server refused it.
    pub fn handshaken(port: u16) -> Option<TestClient> {
        let mut c = TestClient::open(port).ok()?;
        c.handshake().ok()?;
        Some(c)
    }

    pub fn handshake(&mut self) -> std::io::Result<()> {
        let mut hs = Handshake::new(PeerType::Client);
        let c0c1 = hs
            .generate_outbound_p0_and_p1()
            .map_err(std::io::Error::other)?;
        self.stream.write_all(&c0c1)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        loop {
            if Instant::now() > deadline {
                return Err(ErrorKind::TimedOut.into());
            }
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => return Err(e),
            };
            match hs.process_bytes(&buf[..n]).map_err(std::io::Error::other)? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.stream.write_all(&response_bytes)?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.stream.write_all(&response_bytes)?;
                    self.reader.push(&remaining_bytes);
                    return Ok(());
                }
            }
        }
    }

    pub fn send(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.writer
            .write(csid, timestamp, type_id, stream_id, payload, &mut out);
        self.stream.write_all(&out)
    }

    pub fn command(&mut self, stream_id: u32, values: &[Amf0Value]) -> std::io::Result<()> {
        let mut payload = Vec::new();
        amf0::encode(values, &mut payload);
        self.send(3, 0, COMMAND, stream_id, &payload)
    }

    /// Reads messages until one satisfies `pred` or `timeout` passes.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&RawMessage) -> bool,
    ) -> Option<RawMessage> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 16384];
        while Instant::now() < deadline {
            while let Ok(Some(msg)) = self.reader.next_message() {
                if msg.type_id == 1 {
                    if let Some(size) = msg.payload.get(..4) {
                        let n = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
                        let _ = self.reader.set_chunk_size(n);
                    }
                }
                if pred(&msg) {
                    return Some(msg);
                }
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.reader.push(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// The first string of an AMF0 command message.
    pub fn command_name(msg: &RawMessage) -> Option<String> {
        if msg.type_id != COMMAND {
            return None;
        }
        amf0::decode_all(&msg.payload)
            .ok()?
            .first()?
            .as_str()
            .map(String::from)
    }

    /// connect → Some(values of `_result`) or Err(values of `_error`).
    pub fn connect_app(&mut self, app: &str) -> Result<Vec<Amf0Value>, Vec<Amf0Value>> {
        self.connect_with(app, Vec::new())
    }

    /// connect with extra properties in the command object (e.g. Enhanced RTMP's fourCcList).
    pub fn connect_with(
        &mut self,
        app: &str,
        extra: Vec<(&str, Amf0Value)>,
    ) -> Result<Vec<Amf0Value>, Vec<Amf0Value>> {
        let tc_url = format!("rtmp://127.0.0.1:{}/{app}", self.port);
        let mut props = vec![
            ("app", Amf0Value::string(app)),
            ("type", Amf0Value::string("nonprivate")),
            (
                "flashVer",
                Amf0Value::string("FMLE/3.0 (compatible; testclient)"),
            ),
            ("tcUrl", Amf0Value::string(tc_url)),
        ];
        props.extend(extra);
        self.command(
            0,
            &[
                Amf0Value::string("connect"),
                Amf0Value::Number(1.0),
                Amf0Value::object(props),
            ],
        )
        .map_err(|_| Vec::new())?;
        let reply = self
            .wait_for(Duration::from_secs(5), |m| {
                matches!(Self::command_name(m).as_deref(), Some("_result" | "_error"))
            })
            .ok_or_else(Vec::new)?;
        let values = amf0::decode_all(&reply.payload).unwrap_or_default();
        if values.first().and_then(Amf0Value::as_str) == Some("_result") {
            Ok(values)
        } else {
            Err(values)
        }
    }

    /// createStream + publish; returns the onStatus code.
    pub fn publish(&mut self, key: &str) -> Option<String> {
        self.command(
            0,
            &[
                Amf0Value::string("createStream"),
                Amf0Value::Number(2.0),
                Amf0Value::Null,
            ],
        )
        .ok()?;
        self.wait_for(Duration::from_secs(5), |m| {
            Self::command_name(m).as_deref() == Some("_result")
        })?;
        self.command(
            1,
            &[
                Amf0Value::string("publish"),
                Amf0Value::Number(3.0),
                Amf0Value::Null,
                Amf0Value::string(key),
                Amf0Value::string("live"),
            ],
        )
        .ok()?;
        let status = self.wait_for(Duration::from_secs(5), |m| {
            Self::command_name(m).as_deref() == Some("onStatus")
        })?;
        let values = amf0::decode_all(&status.payload).ok()?;
        values.get(3)?.get("code")?.as_str().map(String::from)
    }

    /// Whether the server closed the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        closed_within(&mut self.stream, timeout)
    }
}

/// A TCP connection from `source` to `port` on 127.0.0.1.
pub fn tcp_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&std::net::SocketAddr::from((source, 0)).into())?;
    socket.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    Ok(socket.into())
}

/// Logs in the way FFmpeg and rtmp2sink do (Adobe authmod): a connect naming `user` on one
/// connection, which the server answers with a salt and a challenge, then a connect with the
/// response on a second one (each from `open`). Returns the second connection, connected to
/// `app`, or the description of the refusal.
pub fn adobe_login(
    open: impl Fn() -> std::io::Result<TestClient>,
    app: &str,
    user: &str,
    password: &str,
) -> Result<TestClient, String> {
    let description = |values: &[Amf0Value]| -> String {
        values
            .get(3)
            .and_then(|info| info.get("description"))
            .and_then(Amf0Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut first = open().map_err(|e| format!("connect: {e}"))?;
    first.handshake().map_err(|e| format!("handshake: {e}"))?;
    let challenge = match first.connect_app(&format!("{app}?authmod=adobe&user={user}")) {
        Ok(_) => return Err("connected without a challenge".into()),
        Err(values) => description(&values),
    };
    let query = challenge
        .split_once("?reason=needauth&")
        .map(|(_, q)| q)
        .ok_or_else(|| challenge.clone())?;
    let field = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_string()
    };
    let (salt, server_challenge, opaque) = (field("salt"), field("challenge"), field("opaque"));
    let client_challenge = "0a1b2c3d";
    let response = rtmpserver_proto::auth::adobe::adobe_response(
        user,
        &salt,
        password,
        if opaque.is_empty() {
            &server_challenge
        } else {
            &opaque
        },
        client_challenge,
    );
    drop(first);
    let mut second = open().map_err(|e| format!("connect: {e}"))?;
    second.handshake().map_err(|e| format!("handshake: {e}"))?;
    let app = format!(
        "{app}?authmod=adobe&user={user}&challenge={client_challenge}&response={response}&opaque={opaque}"
    );
    match second.connect_app(&app) {
        Ok(_) => Ok(second),
        Err(values) => Err(description(&values)),
    }
}

/// Whether the server closed `stream` within `timeout` (data it sends meanwhile is discarded).
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// AudioSpecificConfig of AAC-LC, 48 kHz, stereo.
pub const AAC_LC_48K_STEREO: [u8; 2] = [0x11, 0x90];

/// A minimal avcC (High profile, level 3.1, no parameter sets): enough for caps.
pub const MINIMAL_AVCC: [u8; 7] = [0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE0, 0x00];

impl TestClient {
    /// Handshake, connect to `app` and publish `key`: ready to send media on stream 1.
    pub fn publisher(port: u16, app: &str, key: &str) -> TestClient {
        let mut c = TestClient::open(port).expect("connect");
        c.handshake().expect("handshake");
        c.connect_app(app).expect("connect accepted");
        assert_eq!(c.publish(key).as_deref(), Some("NetStream.Publish.Start"));
        c
    }

    /// Like `publisher`, but returns the publish's onStatus code instead of asserting it.
    pub fn publisher_result(port: u16, app: &str, key: &str) -> Option<String> {
        let mut c = TestClient::open(port).ok()?;
        c.handshake().ok()?;
        c.connect_app(app).ok()?;
        c.publish(key)
    }

    pub fn aac_header(&mut self, timestamp: u32) -> std::io::Result<()> {
        let mut body = vec![0xAF, 0x00];
        body.extend_from_slice(&AAC_LC_48K_STEREO);
        self.send(4, timestamp, AUDIO, 1, &body)
    }

    /// An AAC frame whose payload encodes `n`, so the test can find it again.
    pub fn aac_frame(&mut self, timestamp: u32, n: u32) -> std::io::Result<()> {
        let mut body = vec![0xAF, 0x01];
        body.extend_from_slice(&n.to_be_bytes());
        body.extend_from_slice(&[0x21; 60]);
        self.send(4, timestamp, AUDIO, 1, &body)
    }

    pub fn avc_header(&mut self, timestamp: u32) -> std::io::Result<()> {
        let mut body = vec![0x17, 0x00, 0, 0, 0];
        body.extend_from_slice(&MINIMAL_AVCC);
        self.send(6, timestamp, VIDEO, 1, &body)
    }

    pub fn avc_frame(
        &mut self,
        timestamp: u32,
        cts: i32,
        keyframe: bool,
        n: u32,
    ) -> std::io::Result<()> {
        let cts = cts.to_be_bytes();
        let mut body = vec![
            if keyframe { 0x17 } else { 0x27 },
            0x01,
            cts[1],
            cts[2],
            cts[3],
        ];
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&n.to_be_bytes());
        self.send(6, timestamp, VIDEO, 1, &body)
    }

    /// onMetaData with these properties.
    pub fn metadata_object(&mut self, props: Amf0Value) {
        let mut payload = Vec::new();
        amf0::encode(
            &[
                Amf0Value::string("@setDataFrame"),
                Amf0Value::string("onMetaData"),
                props,
            ],
            &mut payload,
        );
        self.send(4, 0, DATA, 1, &payload).unwrap();
    }

    /// onMetaData announcing audio and/or video.
    pub fn metadata(&mut self, video: bool, audio: bool) -> std::io::Result<()> {
        let mut props = Vec::new();
        if video {
            props.push(("videocodecid", Amf0Value::Number(7.0)));
        }
        if audio {
            props.push(("audiocodecid", Amf0Value::Number(10.0)));
        }
        let mut payload = Vec::new();
        amf0::encode(
            &[
                Amf0Value::string("@setDataFrame"),
                Amf0Value::string("onMetaData"),
                Amf0Value::object(props),
            ],
            &mut payload,
        );
        self.send(4, 0, DATA, 1, &payload)
    }
}
