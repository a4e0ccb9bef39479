// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Server session: a byte stream from a client, in any order.
//!
//! Input layout: 2 configuration bytes, then the client's bytes.
//! - byte 0 bit 0: raw mode (the fuzz bytes include the handshake); otherwise a valid C0+C1 and
//!   C2 from rml_rtmp's client handshake are sent first and the fuzz bytes follow C2
//! - bit 1: feed through `read_from` + `process_buffered` instead of `handle_input`
//! - bit 2: reject connect requests (else accept them); bit 3: reject publish requests
//! - bit 4: small chunk limits
//! - byte 1: split seed (0 = one piece; otherwise pieces of 1..=b*16 bytes)
//!
//! Oracles: no panic; once failed, the session stays failed; `bytes_received` counts exactly
//! what was fed; everything the server writes after S0/S1/S2 is a valid chunk stream whose
//! commands decode; media payloads respect the message size limit.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rtmpserver_fuzz::flv;
use rtmpserver_fuzz::rtmp::message::{parse_u32, type_id};
use rtmpserver_fuzz::rtmp::{
    ChunkLimits, ChunkReader, Command, ServerSession, SessionConfig, SessionError, SessionEvent,
};
use rtmpserver_fuzz::split;

const S0S1S2_LEN: usize = 1 + 2 * 1536;

/// C0+C1 and C2 of a genuine (digest) client handshake, made once per process so every run
/// starts from the same bytes. The server does not check C2 against its S1, so one C2 fits all.
fn client_handshake() -> &'static (Vec<u8>, Vec<u8>) {
    static HS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    HS.get_or_init(|| {
        let mut client = Handshake::new(PeerType::Client);
        let c0c1 = client.generate_outbound_p0_and_p1().expect("client C0C1");
        let mut server = ServerSession::new(SessionConfig::default());
        server.handle_input(&c0c1).expect("server accepts C0C1");
        let s012 = server.take_output();
        let c2 = match client.process_bytes(&s012).expect("client reads S0S1S2") {
            HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
            other => panic!("client handshake did not complete: {other:?}"),
        };
        (c0c1, c2)
    })
}

/// Reads the server's output as a client would.
struct Peer {
    skip: usize,
    reader: ChunkReader,
}

impl Peer {
    fn read(&mut self, mut out: &[u8]) {
        let skip = self.skip.min(out.len());
        self.skip -= skip;
        out = &out[skip..];
        self.reader.push(out);
        while let Some(m) = self
            .reader
            .next_message()
            .expect("server wrote a bad chunk stream")
        {
            match m.type_id {
                type_id::SET_CHUNK_SIZE => {
                    let n = parse_u32(&m.payload, "chunk size").expect("server SetChunkSize");
                    self.reader
                        .set_chunk_size(n)
                        .expect("server chunk size in range");
                }
                type_id::COMMAND_AMF0 => {
                    Command::parse(m.type_id, &m.payload).expect("server command decodes");
                }
                _ => {}
            }
        }
    }
}

fn check_media(event: &SessionEvent, limit: u32) {
    match event {
        SessionEvent::Video { payload, .. } => {
            assert!(payload.len() <= limit as usize);
            if let Ok(packets) = flv::parse_video(payload) {
                for p in packets {
                    if let flv::VideoPacket::SequenceStart { codec, config, .. } = p {
                        let _ = flv::video_info(codec, &config);
                    }
                }
            }
        }
        SessionEvent::Audio { payload, .. } => {
            assert!(payload.len() <= limit as usize);
            if let Ok(packets) = flv::parse_audio(payload) {
                for p in packets {
                    if let flv::AudioPacket::SequenceStart { codec, config, .. } = p {
                        let _ = flv::audio_info(codec, &config);
                    }
                }
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((cfg, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let raw = cfg[0] & 1 != 0;
    let buffered = cfg[0] & 2 != 0;
    let reject_connect = cfg[0] & 4 != 0;
    let reject_publish = cfg[0] & 8 != 0;
    let mut config = SessionConfig::default();
    if cfg[0] & 16 != 0 {
        config.limits = ChunkLimits {
            max_message_size: 4096,
            max_chunk_size: 8192,
            max_chunk_streams: 4,
        };
        config.out_chunk_size = 128;
        config.window_ack_size = 4096;
    }
    let limit = config.limits.max_message_size;

    let mut session = ServerSession::new(config);
    let mut peer = Peer {
        skip: S0S1S2_LEN,
        reader: ChunkReader::new(ChunkLimits {
            max_message_size: 16 * 1024 * 1024,
            max_chunk_size: 0x7FFF_FFFF,
            max_chunk_streams: 65600,
        }),
    };
    let mut fed = 0u64;
    if !raw {
        let (c0c1, c2) = client_handshake();
        assert_eq!(session.handle_input(c0c1).expect("C0C1"), vec![]);
        peer.read(&session.take_output());
        let events = session.handle_input(c2).expect("C2");
        assert_eq!(events, vec![SessionEvent::HandshakeDone]);
        fed = (c0c1.len() + c2.len()) as u64;
    }

    let mut failed = false;
    for piece in split(body, cfg[1]) {
        let result = if buffered {
            let mut input = piece;
            while !input.is_empty() {
                let _ = session.read_from(input.len(), &mut input);
            }
            session.process_buffered()
        } else {
            session.handle_input(piece)
        };
        fed += piece.len() as u64;
        let mut result = result;
        // Answer each decision; the session stops at it, so what followed is parsed after.
        while let Ok(events) = &result {
            for event in events {
                check_media(event, limit);
                answer(&mut session, event, reject_connect, reject_publish);
            }
            if events.is_empty() || session.decision_pending() || !session.has_buffered_input() {
                break;
            }
            result = session.process_buffered();
        }
        match result {
            Ok(_) => assert_eq!(session.bytes_received(), fed, "byte accounting"),
            Err(_) => failed = true,
        }
        peer.read(&session.take_output());
        if failed {
            break;
        }
    }
    if failed {
        assert_eq!(session.handle_input(b"x"), Err(SessionError::Failed));
        assert_eq!(session.process_buffered(), Err(SessionError::Failed));
    }
});

/// Answers a decision the way the configuration bits ask.
fn answer(
    session: &mut ServerSession,
    event: &SessionEvent,
    reject_connect: bool,
    reject_publish: bool,
) {
    match event {
        SessionEvent::ConnectRequest { .. } if reject_connect => {
            session.reject_connect("NetConnection.Connect.Rejected", "no")
        }
        SessionEvent::ConnectRequest { .. } => session.accept_connect(vec![]),
        SessionEvent::PublishRequest { stream_id, .. } if reject_publish => {
            session.reject_publish(*stream_id, "NetStream.Publish.BadName", "taken")
        }
        SessionEvent::PublishRequest { stream_id, .. } => session.accept_publish(*stream_id),
        _ => {}
    }
}
