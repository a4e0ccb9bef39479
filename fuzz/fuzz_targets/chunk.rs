// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Chunk reader: arbitrary bytes in arbitrary splits, under small limits.
//!
//! Input layout: 4 configuration bytes, then the chunk stream.
//! - byte 0: max message size = b*b*4 + 1 (1 B .. 254 KiB)
//! - byte 1: max chunk size = b*b*16 + 1 (1 B .. 1 MiB)
//! - byte 2: max chunk streams = b % 16 + 1, bit 4: honour SetChunkSize/Abort messages
//! - byte 3: split seed (0 = one push; otherwise pieces of 1..=b*8 bytes)
//!
//! Oracles: no panic; the messages and the error are the same whether the input arrives in one
//! piece or split; every payload respects the limit; what was read re-encodes with ChunkWriter
//! and reads back identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpserver_fuzz::rtmp::message::type_id;
use rtmpserver_fuzz::rtmp::{ChunkError, ChunkLimits, ChunkReader, ChunkWriter, RawMessage};
use rtmpserver_fuzz::split;

struct Run {
    messages: Vec<RawMessage>,
    error: Option<ChunkError>,
}

fn drain(reader: &mut ChunkReader, control: bool, run: &mut Run) -> bool {
    loop {
        match reader.next_message() {
            Ok(Some(m)) => {
                if control && m.type_id == type_id::SET_CHUNK_SIZE && m.payload.len() >= 4 {
                    let n = u32::from_be_bytes([
                        m.payload[0],
                        m.payload[1],
                        m.payload[2],
                        m.payload[3],
                    ]);
                    if let Err(e) = reader.set_chunk_size(n) {
                        run.messages.push(m);
                        run.error = Some(e);
                        return false;
                    }
                } else if control && m.type_id == type_id::ABORT && m.payload.len() >= 4 {
                    let n = u32::from_be_bytes([
                        m.payload[0],
                        m.payload[1],
                        m.payload[2],
                        m.payload[3],
                    ]);
                    reader.abort(n);
                }
                run.messages.push(m);
            }
            Ok(None) => return true,
            Err(e) => {
                run.error = Some(e);
                return false;
            }
        }
    }
}

fn run(limits: ChunkLimits, control: bool, pieces: &[&[u8]]) -> Run {
    let mut reader = ChunkReader::new(limits);
    let mut out = Run {
        messages: Vec::new(),
        error: None,
    };
    for piece in pieces {
        reader.push(piece);
        if !drain(&mut reader, control, &mut out) {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((cfg, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let limits = ChunkLimits {
        max_message_size: u32::from(cfg[0]) * u32::from(cfg[0]) * 4 + 1,
        max_chunk_size: u32::from(cfg[1]) * u32::from(cfg[1]) * 16 + 1,
        max_chunk_streams: usize::from(cfg[2] % 16) + 1,
    };
    let control = cfg[2] & 0x10 != 0;

    let whole = run(limits, control, &[stream]);
    let pieces = split(stream, cfg[3]);
    let parts = run(limits, control, &pieces);
    assert_eq!(whole.messages, parts.messages, "split changed the messages");
    assert_eq!(whole.error, parts.error, "split changed the error");

    let mut streams = std::collections::HashSet::new();
    for m in &whole.messages {
        assert!(m.payload.len() <= limits.max_message_size as usize);
        assert!((2..=65599).contains(&m.csid));
        streams.insert(m.csid);
    }
    assert!(streams.len() <= limits.max_chunk_streams);

    // Writer round trip: everything read comes back unchanged through ChunkWriter + ChunkReader.
    let mut writer = ChunkWriter::new();
    writer.set_chunk_size(u32::from(cfg[1]) + 1);
    let mut wire = Vec::new();
    for m in &whole.messages {
        writer.write(
            m.csid,
            m.timestamp,
            m.type_id,
            m.stream_id,
            &m.payload,
            &mut wire,
        );
    }
    let mut reader = ChunkReader::new(ChunkLimits {
        max_message_size: limits.max_message_size,
        max_chunk_size: 0x7FFF_FFFF,
        max_chunk_streams: 65600,
    });
    reader.set_chunk_size(u32::from(cfg[1]) + 1).unwrap();
    reader.push(&wire);
    for expected in &whole.messages {
        let got = reader
            .next_message()
            .expect("re-read failed")
            .expect("re-read short");
        assert_eq!(&got, expected, "writer/reader round trip");
    }
    assert_eq!(reader.next_message(), Ok(None));
    assert_eq!(reader.buffered_bytes(), 0);
});
