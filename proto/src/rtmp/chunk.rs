// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! RTMP chunk stream layer: reassembles messages from chunks and splits messages into chunks.
//!
//! Reassembly state is kept per chunk stream id, so messages interleaved on different chunk
//! streams come out intact. Nothing is allocated on the strength of a header's claim alone:
//! the message length is checked against [`ChunkLimits::max_message_size`] first and the
//! buffer grows only as payload bytes really arrive.
//!
//! Extended timestamps on type-3 chunks: the specification says a type-3 chunk repeats the
//! 4-byte extended timestamp of the header it continues, and FFmpeg/librtmp do so, but some
//! encoders omit it. When the last full header on a chunk stream carried an extended
//! timestamp, a type-3 chunk's next 4 bytes are consumed only if they equal that stored
//! extended value; otherwise they are taken as payload. The rare case this gets wrong is an
//! omitting sender whose payload happens to start with exactly those 4 bytes.
//!
//! Every such tolerance is counted ([`ChunkReader::deviations`]), and the chunk sizes the peer
//! set are recorded ([`ChunkReader::chunk_sizes`]), for the publish report.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::{Buf, Bytes, BytesMut};

use super::observations::{ChunkDeviations, ChunkSizes};

/// Chunk size every RTMP connection starts with, in both directions.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk stream id expressible in a 3-byte basic header.
pub const MAX_CSID: u32 = 65599;

const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;
/// Single-chunk messages at least this large are sliced out of the input instead of copied.
const ZERO_COPY_MIN: usize = 16 * 1024;
/// Reads of the requested size that one input block holds: larger blocks mean fewer moves of
/// a partial chunk to a new block, smaller ones less memory per connection.
const READ_BLOCK_READS: usize = 2;
/// Cap on the initial reassembly allocation; the buffer grows beyond it as data arrives.
const INITIAL_REASSEMBLY_CAPACITY: usize = 256 * 1024;

/// Hashes a chunk stream id with one multiplication. The map is looked up several times per
/// chunk, where SipHash showed in profiles; flooding it is not a concern because it never
/// holds more than [`ChunkLimits::max_chunk_streams`] entries.
#[derive(Default)]
struct CsidHasher(u64);

impl Hasher for CsidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads small ids over the high bits the table uses.
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type ChunkStreams = HashMap<u32, ChunkStream, BuildHasherDefault<CsidHasher>>;

/// Bounds applied to input from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest message accepted (default 8 MiB).
    pub max_message_size: u32,
    /// Largest chunk size the peer may set (default 16 MiB); larger requests are errors.
    pub max_chunk_size: u32,
    /// Most chunk streams tracked at once (default 64).
    pub max_chunk_streams: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_message_size: 8 * 1024 * 1024,
            max_chunk_size: 16 * 1024 * 1024,
            max_chunk_streams: 64,
        }
    }
}

impl ChunkLimits {
    /// The budget of a peer that has not published yet: real connect, createStream and publish
    /// commands are a few hundred bytes (an Enhanced RTMP connect about 1 KiB), so a stranger
    /// may hold at most 64 KiB of partial messages (twice the largest message).
    pub fn untrusted() -> Self {
        ChunkLimits {
            max_message_size: 32 * 1024,
            max_chunk_size: 16 * 1024 * 1024,
            max_chunk_streams: 8,
        }
    }
}

/// Why the chunk stream could not be parsed; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// A header announced a message larger than the limit.
    MessageTooLarge {
        /// Announced length.
        length: u32,
        /// Configured limit.
        limit: u32,
    },
    /// A chunk size of 0 or above the limit was requested.
    InvalidChunkSize(u32),
    /// The peer used more chunk stream ids than allowed.
    TooManyChunkStreams(usize),
    /// Partially received messages on all chunk streams together exceed twice the maximum
    /// message size (one large video frame plus interleaved audio fits well within that).
    TooMuchPending(usize),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::MessageTooLarge { length, limit } => {
                write!(f, "message of {length} bytes exceeds the limit of {limit}")
            }
            ChunkError::InvalidChunkSize(n) => write!(f, "invalid chunk size {n}"),
            ChunkError::TooManyChunkStreams(n) => write!(f, "more than {n} chunk streams"),
            ChunkError::TooMuchPending(n) => {
                write!(f, "more than {n} bytes of partial messages buffered")
            }
        }
    }
}

impl std::error::Error for ChunkError {}

/// One reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Absolute timestamp in milliseconds (deltas are added with 32-bit wrap-around).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// The payload.
    pub payload: Bytes,
}

/// Header state remembered per chunk stream, used to expand compressed headers.
#[derive(Debug, Default)]
struct ChunkStream {
    timestamp: u32,
    /// Delta applied by a type-3 chunk that starts a new message (0 after a type-0 header).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Extended timestamp value of the last type 0/1/2 header, if it had one.
    extended: Option<u32>,
    /// Payload of the message being reassembled, if one is in progress.
    partial: Option<BytesMut>,
}

/// A fully parsed chunk header, not yet applied to any state.
struct ChunkHeader {
    fmt: u8,
    csid: u32,
    /// Bytes of basic header + message header + extended timestamp.
    len: usize,
    /// Timestamp or delta, with the extended value substituted.
    timestamp_field: u32,
    extended: Option<u32>,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// A type-3 chunk that did not repeat its stream's extended timestamp.
    omitted_extended: bool,
}

fn be24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(u32::from_be_bytes([0, *s.first()?, *s.get(1)?, *s.get(2)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

/// Sans-IO chunk reader: push bytes in, pull whole messages out.
#[derive(Debug)]
pub struct ChunkReader {
    limits: ChunkLimits,
    chunk_size: u32,
    /// Input not yet consumed.
    buf: BytesMut,
    streams: ChunkStreams,
    /// Bytes held in partial messages across all chunk streams.
    pending: usize,
    chunk_sizes: ChunkSizes,
    deviations: ChunkDeviations,
}

impl ChunkReader {
    /// A reader with chunk size 128 and the given limits.
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkReader {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            buf: BytesMut::new(),
            streams: ChunkStreams::default(),
            pending: 0,
            chunk_sizes: ChunkSizes::default(),
            deviations: ChunkDeviations::default(),
        }
    }

    /// Replaces the limits (a publisher earns media-sized ones). What is already buffered stays.
    pub fn set_limits(&mut self, limits: ChunkLimits) {
        self.limits = limits;
    }

    /// Memory this reader holds for the peer: unconsumed input plus partial messages.
    pub fn held_bytes(&self) -> usize {
        self.buf.len().saturating_add(self.pending)
    }

    /// Gives back the input buffer's memory when nothing is left in it (an idle connection
    /// then holds no read buffer).
    pub fn release_idle_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    /// Appends input bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The input buffer with room for at least `max` more bytes, for a socket layer that
    /// reads straight into its spare capacity (recv(2) into `spare_capacity_mut`, then
    /// `set_len`), so input is copied once, by the kernel, before reassembly. Bytes appended
    /// to it are input, as with [`ChunkReader::push`]. The buffer grows by whole blocks, so
    /// most reads land in memory already reserved; a new block takes along only the
    /// unconsumed bytes (a partial chunk).
    pub fn input_buffer(&mut self, max: usize) -> &mut BytesMut {
        let max = max.max(1);
        if self.buf.capacity() - self.buf.len() < max {
            self.buf.reserve(READ_BLOCK_READS * max);
        }
        &mut self.buf
    }

    /// Reads up to `max` bytes from `source` into the input buffer (see
    /// [`ChunkReader::input_buffer`]); the room is zeroed first, which a socket layer that
    /// reads into uninitialized memory avoids. Returns what `source` returned.
    pub fn read_from<R: std::io::Read + ?Sized>(
        &mut self,
        max: usize,
        source: &mut R,
    ) -> std::io::Result<usize> {
        let max = max.max(1);
        let buf = self.input_buffer(max);
        let start = buf.len();
        buf.resize(start + max, 0);
        let result = source.read(&mut buf[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        buf.truncate(start + n.min(max));
        result
    }

    /// Removes and returns the unconsumed input.
    pub fn take_buffered(&mut self) -> BytesMut {
        self.buf.split()
    }

    /// Input bytes not yet consumed by [`ChunkReader::next_message`].
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The chunk size currently expected from the peer.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The SetChunkSize values the peer sent.
    pub fn chunk_sizes(&self) -> ChunkSizes {
        self.chunk_sizes
    }

    /// How often each tolerated deviation occurred so far.
    pub fn deviations(&self) -> ChunkDeviations {
        self.deviations
    }

    /// Applies a SetChunkSize from the peer. The top bit is reserved and ignored; 0 is an
    /// error. Sizes above the limit are accepted and clamped: real devices announce 128 MiB
    /// (ATEM Web Presenter). Clamping is exact because the clamp is at least the largest
    /// message we accept, and no chunk carries more than its message.
    pub fn set_chunk_size(&mut self, n: u32) -> Result<(), ChunkError> {
        let size = n & 0x7FFF_FFFF;
        if size == 0 {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_sizes.record(size);
        if self.pending > 0 {
            // A message on some chunk stream is incomplete: its remaining chunks use the new
            // size, which is what the specification implies but easy to get wrong on either side.
            self.deviations.chunk_size_changed_mid_message += 1;
        }
        let clamp = self
            .limits
            .max_chunk_size
            .max(self.limits.max_message_size)
            .max(1);
        if size > clamp {
            self.deviations.chunk_size_over_limit += 1;
        }
        self.chunk_size = size.min(clamp);
        Ok(())
    }

    /// Discards the partially received message on `csid` (Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(partial) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
            self.pending = self.pending.saturating_sub(partial.len());
        }
    }

    /// Parses the next chunk header if it is completely buffered.
    fn peek_header(&self) -> Option<ChunkHeader> {
        let b = &self.buf[..];
        let first = *b.first()?;
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3F {
            0 => (64 + u32::from(*b.get(1)?), 2usize),
            1 => (
                64 + u32::from(*b.get(1)?) + 256 * u32::from(*b.get(2)?),
                3usize,
            ),
            n => (u32::from(n), 1usize),
        };
        let prev = self.streams.get(&csid);
        let mut header = ChunkHeader {
            fmt,
            csid,
            len: 0,
            timestamp_field: 0,
            extended: None,
            length: prev.map_or(0, |s| s.length),
            type_id: prev.map_or(0, |s| s.type_id),
            stream_id: prev.map_or(0, |s| s.stream_id),
            omitted_extended: false,
        };
        if fmt < 3 {
            header.timestamp_field = be24(b, pos)?;
            if fmt < 2 {
                header.length = be24(b, pos + 3)?;
                header.type_id = *b.get(pos + 6)?;
                if fmt == 0 {
                    // The message stream id is the one little-endian field in RTMP.
                    header.stream_id = le32(b, pos + 7)?;
                }
            }
            pos += match fmt {
                0 => 11,
                1 => 7,
                _ => 3,
            };
            if header.timestamp_field == EXTENDED_TIMESTAMP {
                let ext = be32(b, pos)?;
                header.timestamp_field = ext;
                header.extended = Some(ext);
                pos += 4;
            }
        } else if let Some(stored) = prev.and_then(|s| s.extended) {
            // See the module docs: consume a repeated extended timestamp only if it matches.
            let want = stored.to_be_bytes();
            let have = b.get(pos..).unwrap_or_default();
            if have.len() < want.len() && want.starts_with(have) {
                return None; // cannot tell yet
            }
            if have.get(..4) == Some(&want[..]) {
                pos += 4;
            } else {
                header.omitted_extended = true;
            }
        }
        header.len = pos;
        Some(header)
    }

    /// Returns the next complete message, `Ok(None)` when more input is needed.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            let Some(h) = self.peek_header() else {
                return Ok(None);
            };
            if !self.streams.contains_key(&h.csid)
                && self.streams.len() >= self.limits.max_chunk_streams
            {
                return Err(ChunkError::TooManyChunkStreams(
                    self.limits.max_chunk_streams,
                ));
            }
            let prev = self.streams.get(&h.csid);
            let in_progress = prev.and_then(|s| s.partial.as_ref()).map(BytesMut::len);
            // A type 0/1/2 header while a message is still incomplete means the sender gave
            // up on it; like an Abort, the partial message is dropped.
            let continuation = if h.fmt == 3 { in_progress } else { None };
            let received = continuation.unwrap_or(0);
            if continuation.is_none() && h.length > self.limits.max_message_size {
                return Err(ChunkError::MessageTooLarge {
                    length: h.length,
                    limit: self.limits.max_message_size,
                });
            }
            let remaining = (h.length as usize).saturating_sub(received);
            let payload_len = remaining.min(self.chunk_size as usize);
            let needed = h.len.saturating_add(payload_len);
            if self.buf.len() < needed {
                return Ok(None);
            }
            let dropped = if continuation.is_none() {
                in_progress.unwrap_or(0)
            } else {
                0
            };
            let multi_chunk = continuation.is_some() || payload_len < remaining;
            let pending_limit = (self.limits.max_message_size as usize).saturating_mul(2);
            if multi_chunk
                && self
                    .pending
                    .saturating_sub(dropped)
                    .saturating_add(payload_len)
                    > pending_limit
            {
                return Err(ChunkError::TooMuchPending(pending_limit));
            }
            self.pending = self.pending.saturating_sub(dropped);

            // The whole chunk is buffered: commit the header, and count what it tolerates.
            if h.omitted_extended {
                self.deviations.extended_timestamp_not_repeated += 1;
            }
            if h.fmt < 3 && in_progress.is_some() {
                self.deviations.abandoned_messages += 1;
            }
            if h.fmt != 0 && prev.is_none() {
                self.deviations.compressed_header_on_new_chunk_stream += 1;
            }
            let prev_timestamp = prev.map_or(0, |s| s.timestamp);
            let prev_delta = prev.map_or(0, |s| s.delta);
            let stream = self.streams.entry(h.csid).or_default();
            if h.fmt < 3 {
                stream.length = h.length;
                stream.type_id = h.type_id;
                stream.stream_id = h.stream_id;
                stream.extended = h.extended;
                stream.partial = None;
                if h.fmt == 0 {
                    stream.timestamp = h.timestamp_field;
                    stream.delta = 0;
                } else {
                    stream.delta = h.timestamp_field;
                    stream.timestamp = prev_timestamp.wrapping_add(h.timestamp_field);
                }
            } else if continuation.is_none() {
                stream.timestamp = prev_timestamp.wrapping_add(prev_delta);
            }
            self.buf.advance(h.len);

            let message = |stream: &ChunkStream, payload: Bytes| RawMessage {
                csid: h.csid,
                timestamp: stream.timestamp,
                type_id: stream.type_id,
                stream_id: stream.stream_id,
                payload,
            };
            if continuation.is_none() && payload_len == remaining {
                // Single-chunk message: a large one is handed out as the input bytes
                // themselves, no copy. A small one (audio, sequence headers) is copied: a slice
                // would keep its whole input block alive for as long as downstream holds it.
                let payload = if payload_len >= ZERO_COPY_MIN {
                    self.buf.split_to(payload_len).freeze()
                } else {
                    let payload =
                        Bytes::copy_from_slice(self.buf.get(..payload_len).unwrap_or_default());
                    self.buf.advance(payload_len);
                    payload
                };
                return Ok(Some(message(stream, payload)));
            }
            let partial = stream.partial.get_or_insert_with(|| {
                BytesMut::with_capacity(remaining.min(INITIAL_REASSEMBLY_CAPACITY))
            });
            partial.extend_from_slice(self.buf.get(..payload_len).unwrap_or_default());
            self.buf.advance(payload_len);
            self.pending = self.pending.saturating_add(payload_len);
            if payload_len == remaining {
                let payload = stream.partial.take().unwrap_or_default().freeze();
                self.pending = self.pending.saturating_sub(payload.len());
                return Ok(Some(message(stream, payload)));
            }
        }
    }
}

/// Splits outgoing messages into chunks. Every message starts with a type-0 header and
/// continues with type-3 chunks, which every peer understands.
#[derive(Debug)]
pub struct ChunkWriter {
    chunk_size: u32,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    /// A writer with the initial chunk size of 128.
    pub fn new() -> Self {
        ChunkWriter {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    /// Changes the outgoing chunk size (clamped to 1..=0x7FFFFFFF). The caller must already
    /// have written the SetChunkSize message that tells the peer.
    pub fn set_chunk_size(&mut self, n: u32) {
        self.chunk_size = n.clamp(1, 0x7FFF_FFFF);
    }

    /// The current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends `payload` as one message, chunked, to `out`. `csid` is clamped to 2..=65599.
    pub fn write(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        let csid = csid.clamp(2, MAX_CSID);
        let extended = timestamp >= EXTENDED_TIMESTAMP;
        let ts_field = if extended {
            EXTENDED_TIMESTAMP
        } else {
            timestamp
        };
        // A message is at most 24 bits long; anything beyond cannot be framed.
        let payload = payload.get(..0xFF_FFFF).unwrap_or(payload);

        write_basic_header(0, csid, out);
        out.extend_from_slice(&ts_field.to_be_bytes()[1..]);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&stream_id.to_le_bytes());
        if extended {
            out.extend_from_slice(&timestamp.to_be_bytes());
        }
        let mut chunks = payload.chunks(self.chunk_size as usize);
        if let Some(first) = chunks.next() {
            out.extend_from_slice(first);
        }
        for chunk in chunks {
            write_basic_header(3, csid, out);
            if extended {
                // Repeated on continuation chunks, as the specification and FFmpeg expect.
                out.extend_from_slice(&timestamp.to_be_bytes());
            }
            out.extend_from_slice(chunk);
        }
    }
}

fn write_basic_header(fmt: u8, csid: u32, out: &mut Vec<u8>) {
    let fmt = fmt << 6;
    if csid < 64 {
        out.push(fmt | csid as u8);
    } else if csid < 320 {
        out.push(fmt);
        out.push((csid - 64) as u8);
    } else {
        let id = csid.saturating_sub(64);
        out.push(fmt | 1);
        out.push((id & 0xFF) as u8);
        out.push(((id >> 8) & 0xFF) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> ChunkReader {
        ChunkReader::new(ChunkLimits::default())
    }

    fn drain(r: &mut ChunkReader) -> Vec<RawMessage> {
        let mut out = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            out.push(m);
        }
        out
    }

    fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> RawMessage {
        RawMessage {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    /// Type-0 header bytes for csid < 64.
    fn h0(csid: u8, ts: u32, len: u32, type_id: u8, sid: u32) -> Vec<u8> {
        let mut v = vec![csid];
        v.extend_from_slice(&ts.min(0xFF_FFFF).to_be_bytes()[1..]);
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.push(type_id);
        v.extend_from_slice(&sid.to_le_bytes());
        if ts >= 0xFF_FFFF {
            v.extend_from_slice(&ts.to_be_bytes());
        }
        v
    }

    #[test]
    fn writer_reader_round_trip_with_all_csid_sizes() {
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        for csid in [2, 63, 64, 319, 320, 65599] {
            let mut w = ChunkWriter::new();
            let mut out = Vec::new();
            w.write(csid, 42, 9, 1, &payload, &mut out);
            let mut r = reader();
            r.push(&out);
            assert_eq!(drain(&mut r), vec![msg(csid, 42, 9, 1, &payload)]);
            assert_eq!(r.buffered_bytes(), 0);
            // What our writer sends deviates from nothing.
            assert_eq!(r.deviations(), ChunkDeviations::default());
        }
    }

    #[test]
    fn interleaved_messages_on_two_csids_both_survive() {
        let a: Vec<u8> = vec![0xAA; 300];
        let b: Vec<u8> = vec![0xBB; 200];
        let mut data = h0(4, 10, 300, 8, 1);
        data.extend_from_slice(&a[..128]);
        data.extend(h0(6, 20, 200, 9, 1));
        data.extend_from_slice(&b[..128]);
        data.push(0xC4);
        data.extend_from_slice(&a[128..256]);
        data.push(0xC6);
        data.extend_from_slice(&b[128..]);
        data.push(0xC4);
        data.extend_from_slice(&a[256..]);
        let mut r = reader();
        r.push(&data);
        assert_eq!(
            drain(&mut r),
            vec![msg(6, 20, 9, 1, &b), msg(4, 10, 8, 1, &a)]
        );
    }

    #[test]
    fn header_types_expand_from_previous_state() {
        let mut data = h0(3, 1000, 3, 20, 1);
        data.extend_from_slice(b"abc");
        // Type 1: delta 40, new length and type, same stream id.
        data.extend_from_slice(&[0x43, 0, 0, 40, 0, 0, 2, 8]);
        data.extend_from_slice(b"de");
        // Type 2: delta 33, length/type reused.
        data.extend_from_slice(&[0x83, 0, 0, 33]);
        data.extend_from_slice(b"fg");
        // Type 3 starting a new message: delta 33 again.
        data.push(0xC3);
        data.extend_from_slice(b"hi");
        let mut r = reader();
        r.push(&data);
        assert_eq!(
            drain(&mut r),
            vec![
                msg(3, 1000, 20, 1, b"abc"),
                msg(3, 1040, 8, 1, b"de"),
                msg(3, 1073, 8, 1, b"fg"),
                msg(3, 1106, 8, 1, b"hi"),
            ]
        );
    }

    #[test]
    fn type3_after_type0_repeats_timestamp() {
        let mut data = h0(5, 500, 1, 8, 1);
        data.push(1);
        data.push(0xC5);
        data.push(2);
        let mut r = reader();
        r.push(&data);
        let ts: Vec<u32> = drain(&mut r).iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![500, 500]);
    }

    #[test]
    fn two_and_three_byte_basic_headers() {
        let mut data = vec![0x00, 0x00]; // csid 64
        data.extend_from_slice(&h0(0, 1, 1, 8, 1)[1..]);
        data.push(7);
        data.extend_from_slice(&[0x01, 0xFF, 0xFF]); // csid 65599
        data.extend_from_slice(&h0(0, 2, 1, 9, 1)[1..]);
        data.push(8);
        let mut r = reader();
        r.push(&data);
        assert_eq!(
            drain(&mut r),
            vec![msg(64, 1, 8, 1, &[7]), msg(65599, 2, 9, 1, &[8])]
        );
    }

    fn extended_message(repeat: bool) -> Vec<u8> {
        let payload = [0x11u8; 200];
        let mut data = h0(4, 0x0123_4567, 200, 9, 1);
        data.extend_from_slice(&payload[..128]);
        data.push(0xC4);
        if repeat {
            data.extend_from_slice(&0x0123_4567u32.to_be_bytes());
        }
        data.extend_from_slice(&payload[128..]);
        data
    }

    #[test]
    fn extended_timestamp_with_repeat_on_type3() {
        let mut r = reader();
        r.push(&extended_message(true));
        assert_eq!(drain(&mut r), vec![msg(4, 0x0123_4567, 9, 1, &[0x11; 200])]);
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn extended_timestamp_without_repeat_on_type3() {
        let mut r = reader();
        r.push(&extended_message(false));
        assert_eq!(drain(&mut r), vec![msg(4, 0x0123_4567, 9, 1, &[0x11; 200])]);
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn extended_timestamp_byte_by_byte_both_variants() {
        for repeat in [true, false] {
            let mut r = reader();
            let mut got = Vec::new();
            for b in extended_message(repeat) {
                r.push(&[b]);
                got.extend(drain(&mut r));
            }
            assert_eq!(got, vec![msg(4, 0x0123_4567, 9, 1, &[0x11; 200])]);
            // Counted once per chunk, however often the header was peeked at.
            let omitted = r.deviations().extended_timestamp_not_repeated;
            assert_eq!(omitted, u64::from(!repeat), "repeat {repeat}");
            assert_eq!(r.deviations().total(), omitted);
        }
    }

    #[test]
    fn set_chunk_size_is_recorded_and_mid_message_counted() {
        let mut r = reader();
        r.set_chunk_size(4096).unwrap();
        assert_eq!(r.deviations(), ChunkDeviations::default());
        // Half a message on csid 4, then the size changes: its next chunk uses the new size.
        let mut data = h0(4, 0, 6000, 9, 1);
        data.extend_from_slice(&[1u8; 4096]);
        r.push(&data);
        assert_eq!(r.next_message().unwrap(), None);
        r.set_chunk_size(8192).unwrap();
        data = vec![0xC4];
        data.extend_from_slice(&[1u8; 6000 - 4096]);
        r.push(&data);
        assert_eq!(drain(&mut r), vec![msg(4, 0, 9, 1, &[1; 6000])]);
        r.set_chunk_size(0x8000_0000 | 64).unwrap();
        let sizes = r.chunk_sizes();
        assert_eq!(
            (sizes.count, sizes.first, sizes.last, sizes.min, sizes.max),
            (3, 4096, 64, 64, 8192)
        );
        assert_eq!(r.deviations().chunk_size_changed_mid_message, 1);
        assert_eq!(r.deviations().total(), 1);
        // Above the limit: clamped, and counted.
        r.set_chunk_size(134_217_728).unwrap();
        assert_eq!(r.deviations().chunk_size_over_limit, 1);
    }

    #[test]
    fn extended_delta_and_wrapping() {
        let mut data = h0(4, 0xFFFF_FFF0, 1, 8, 1);
        data.push(1);
        // Type 2 with extended delta 0x0100_0000 -> wraps around.
        data.extend_from_slice(&[0x84, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00, 0x00]);
        data.push(2);
        // Type 3 new message: repeats the extended delta (repeated field present).
        data.extend_from_slice(&[0xC4, 0x01, 0x00, 0x00, 0x00]);
        data.push(3);
        let mut r = reader();
        r.push(&data);
        let got = drain(&mut r);
        let ts: Vec<u32> = got.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![0xFFFF_FFF0, 0x00FF_FFF0, 0x01FF_FFF0]);
        assert_eq!(got[2].payload.as_ref(), &[3]);
    }

    #[test]
    fn writer_repeats_extended_timestamp() {
        let mut out = Vec::new();
        ChunkWriter::new().write(3, 0x0200_0000, 9, 1, &[5u8; 300], &mut out);
        // header 12 + ext 4 + 128 + (1 + 4 + 128) + (1 + 4 + 44)
        assert_eq!(out.len(), 12 + 4 + 128 + 133 + 49);
        let mut r = reader();
        r.push(&out);
        assert_eq!(drain(&mut r), vec![msg(3, 0x0200_0000, 9, 1, &[5; 300])]);
    }

    #[test]
    fn abort_discards_partial_message() {
        let mut data = h0(4, 0, 200, 9, 1);
        data.extend_from_slice(&[1u8; 128]);
        let mut r = reader();
        r.push(&data);
        assert_eq!(r.next_message().unwrap(), None);
        r.abort(4);
        // A fresh message on the same csid starts clean.
        let mut data = h0(4, 5, 2, 9, 1);
        data.extend_from_slice(&[2, 3]);
        r.push(&data);
        assert_eq!(drain(&mut r), vec![msg(4, 5, 9, 1, &[2, 3])]);
    }

    #[test]
    fn new_header_mid_message_drops_the_partial() {
        let mut data = h0(4, 0, 200, 9, 1);
        data.extend_from_slice(&[1u8; 128]);
        data.extend(h0(4, 7, 1, 8, 1));
        data.push(9);
        let mut r = reader();
        r.push(&data);
        assert_eq!(drain(&mut r), vec![msg(4, 7, 8, 1, &[9])]);
        assert_eq!(r.deviations().abandoned_messages, 1);
        assert_eq!(r.deviations().total(), 1);
    }

    #[test]
    fn oversize_message_is_refused_before_payload() {
        let mut r = ChunkReader::new(ChunkLimits {
            max_message_size: 1000,
            ..ChunkLimits::default()
        });
        r.push(&h0(4, 0, 1001, 9, 1));
        assert_eq!(
            r.next_message(),
            Err(ChunkError::MessageTooLarge {
                length: 1001,
                limit: 1000
            })
        );
        let mut r = reader();
        r.push(&h0(4, 0, 0xFF_FFFF, 9, 1));
        assert!(matches!(
            r.next_message(),
            Err(ChunkError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn chunk_size_bounds() {
        let mut r = reader();
        assert_eq!(r.set_chunk_size(0), Err(ChunkError::InvalidChunkSize(0)));
        // ATEM Web Presenter announces 128 MiB: accepted, clamped to the limit.
        assert_eq!(r.set_chunk_size(134_217_728), Ok(()));
        assert_eq!(r.chunk_size(), 16 * 1024 * 1024);
        assert_eq!(r.set_chunk_size(0x7FFF_FFFF), Ok(()));
        // And a 300 KiB message sent as one 128 MiB-sized chunk reads back whole.
        let mut big = reader();
        assert_eq!(big.set_chunk_size(134_217_728), Ok(()));
        let mut w = ChunkWriter::new();
        w.set_chunk_size(134_217_728);
        let payload = vec![0x5A; 300 * 1024];
        let mut out = Vec::new();
        w.write(6, 40, 9, 1, &payload, &mut out);
        big.push(&out);
        assert_eq!(drain(&mut big), vec![msg(6, 40, 9, 1, &payload)]);
        // Top bit ignored: 0x8000_0000 | 4096 means 4096; 0x8000_0000 alone means 0.
        assert_eq!(r.set_chunk_size(0x8000_1000), Ok(()));
        assert_eq!(r.chunk_size(), 4096);
        assert_eq!(
            r.set_chunk_size(0x8000_0000),
            Err(ChunkError::InvalidChunkSize(0))
        );
        assert_eq!(r.set_chunk_size(16 * 1024 * 1024), Ok(()));
        assert_eq!(r.set_chunk_size(1), Ok(()));
        // Chunk size 1 still reassembles.
        let mut w = ChunkWriter::new();
        w.set_chunk_size(1);
        let mut out = Vec::new();
        w.write(3, 0, 20, 0, b"hello", &mut out);
        r.push(&out);
        assert_eq!(drain(&mut r), vec![msg(3, 0, 20, 0, b"hello")]);
    }

    #[test]
    fn pending_bytes_across_chunk_streams_are_bounded() {
        let mut r = ChunkReader::new(ChunkLimits {
            max_message_size: 300,
            ..ChunkLimits::default()
        });
        // Five 300-byte messages, each left incomplete after 128 bytes: 640 > 600.
        for csid in 3u8..8 {
            let mut d = h0(csid, 0, 300, 9, 1);
            d.extend_from_slice(&[0u8; 128]);
            r.push(&d);
        }
        assert_eq!(r.next_message(), Err(ChunkError::TooMuchPending(600)));
        assert_eq!(r.pending, 512);
        // Aborting frees the budget.
        let mut r = ChunkReader::new(ChunkLimits {
            max_message_size: 300,
            ..ChunkLimits::default()
        });
        for csid in 3u8..8 {
            let mut d = h0(csid, 0, 300, 9, 1);
            d.extend_from_slice(&[0u8; 128]);
            r.push(&d);
            assert_eq!(r.next_message(), Ok(None));
            r.abort(u32::from(csid));
        }
        assert_eq!(r.pending, 0);
    }

    #[test]
    fn too_many_chunk_streams() {
        let mut r = ChunkReader::new(ChunkLimits {
            max_chunk_streams: 2,
            ..ChunkLimits::default()
        });
        for csid in [3u8, 4, 5] {
            let mut d = h0(csid, 0, 1, 8, 1);
            d.push(0);
            r.push(&d);
        }
        assert!(r.next_message().unwrap().is_some());
        assert!(r.next_message().unwrap().is_some());
        assert_eq!(r.next_message(), Err(ChunkError::TooManyChunkStreams(2)));
    }

    #[test]
    fn compressed_header_on_fresh_csid_uses_zeros() {
        // Lenient like FFmpeg: a type-1 header on an unseen csid gets stream id 0.
        let mut r = reader();
        r.push(&[0x47, 0, 0, 5, 0, 0, 1, 8, 0xAB]);
        assert_eq!(drain(&mut r), vec![msg(7, 5, 8, 0, &[0xAB])]);
        // A type-3 on an unseen csid is an empty message of type 0, harmless.
        r.push(&[0xC9]);
        assert_eq!(drain(&mut r), vec![msg(9, 0, 0, 0, &[])]);
        assert_eq!(r.deviations().compressed_header_on_new_chunk_stream, 2);
        // Known chunk streams with compressed headers are the normal case.
        r.push(&[0x47, 0, 0, 5, 0, 0, 1, 8, 0xAB, 0xC7, 0xCD]);
        assert_eq!(drain(&mut r).len(), 2);
        assert_eq!(r.deviations().total(), 2);
    }

    #[test]
    fn large_single_chunk_payload_is_sliced_and_small_one_copied() {
        let big = ZERO_COPY_MIN as u32;
        let mut data = h0(4, 0, big, 9, 1);
        data.extend(vec![7u8; ZERO_COPY_MIN]);
        data.extend(h0(4, 33, 4, 9, 1));
        data.extend_from_slice(b"abcd");
        let mut r = reader();
        r.set_chunk_size(big).unwrap();
        r.push(&data);
        let base = r.buf.as_ptr() as usize;
        let end = base + data.len();
        let large = r.next_message().unwrap().unwrap();
        assert_eq!(large.payload.as_ptr() as usize, base + 12);
        // The small one is a copy: it does not point into the input block.
        let small = r.next_message().unwrap().unwrap();
        assert_eq!(&small.payload[..], b"abcd");
        let at = small.payload.as_ptr() as usize;
        assert!(!(base..end).contains(&at));
    }

    /// Feeds `data` through `read_from` in reads of `piece` bytes (at most `max` each).
    fn read_in_pieces(data: &[u8], piece: usize, max: usize) -> Vec<RawMessage> {
        let mut r = reader();
        let mut out = Vec::new();
        for part in data.chunks(piece) {
            let mut rest = part;
            while !rest.is_empty() {
                r.read_from(max, &mut rest).unwrap();
                out.extend(drain(&mut r));
            }
        }
        out
    }

    #[test]
    fn read_from_matches_push_for_any_read_size() {
        let mut data = Vec::new();
        let mut w = ChunkWriter::new();
        for i in 0..20u8 {
            let payload = vec![i; 50 + 40 * usize::from(i)];
            w.write(
                4 + u32::from(i % 3),
                u32::from(i) * 33,
                9,
                1,
                &payload,
                &mut data,
            );
        }
        let mut r = reader();
        r.push(&data);
        let want = drain(&mut r);
        assert_eq!(want.len(), 20);
        for piece in [1, 7, 128, 500, 4096] {
            for max in [1, 64, 4096] {
                let got = read_in_pieces(&data, piece, max);
                assert_eq!(got, want, "piece {piece} max {max}");
            }
        }
    }

    #[test]
    fn read_from_reads_in_place_and_payloads_are_not_moved() {
        // Two single-chunk messages read in three parts: each read continues where the last
        // ended, and the second (large) message's payload is handed out where the read put it.
        let mut data = h0(4, 0, 4, 9, 1);
        data.extend_from_slice(b"abcd");
        let second_at = data.len();
        data.extend(h0(4, 33, ZERO_COPY_MIN as u32, 9, 1));
        data.extend(vec![5u8; ZERO_COPY_MIN]);
        let mut r = reader();
        r.set_chunk_size(ZERO_COPY_MIN as u32).unwrap();
        let mut landed = Vec::new();
        for mut part in [&data[..5], &data[5..second_at + 3], &data[second_at + 3..]] {
            let n = r.read_from(64 * 1024, &mut part).unwrap();
            landed.push(r.buf.as_ptr() as usize + r.buf.len() - n);
        }
        assert_eq!(
            landed,
            [landed[0], landed[0] + 5, landed[0] + second_at + 3]
        );
        let msgs = drain(&mut r);
        assert_eq!(msgs.len(), 2);
        assert_eq!(&msgs[0].payload[..], b"abcd");
        assert_eq!(
            msgs[1].payload.as_ptr() as usize,
            landed[0] + second_at + 12
        );
        assert_eq!(msgs[1].payload.len(), ZERO_COPY_MIN);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678u32;
        for _ in 0..200 {
            let mut r = reader();
            let mut data = Vec::new();
            for _ in 0..2000 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                data.push(seed as u8);
            }
            r.push(&data);
            for _ in 0..2000 {
                match r.next_message() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
