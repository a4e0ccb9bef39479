// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! What a session saw of its peer's protocol behaviour, for a publish report: the handshake
//! kind, the chunk sizes and window the peer announced, and each deviation from the
//! specification that the chunk reader or the session tolerates (counted, not refused).
//!
//! Plain counters that the reader and the session bump on paths that are already rare (a
//! header, a control message), so keeping them costs nothing per media message; the whole
//! record is `Copy`, so handing it to the application is a copy of a few words.

/// Which variant of the RTMP handshake the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeKind {
    /// The original specification's: C1 is echoed as S2, nothing is signed.
    Simple,
    /// Flash Player 9's: C1 carries an HMAC-SHA256 digest that the server answers (FFmpeg,
    /// librtmp with FP9 handshake, OBS).
    Digest,
}

impl HandshakeKind {
    /// "simple" or "digest".
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeKind::Simple => "simple",
            HandshakeKind::Digest => "digest",
        }
    }
}

/// The SetChunkSize values the peer sent (as sent, top bit cleared; before clamping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkSizes {
    /// How many SetChunkSize messages arrived.
    pub count: u32,
    pub first: u32,
    pub last: u32,
    pub min: u32,
    pub max: u32,
}

impl ChunkSizes {
    /// Records one SetChunkSize value.
    pub fn record(&mut self, size: u32) {
        if self.count == 0 {
            self.first = size;
            self.min = size;
        }
        self.count = self.count.saturating_add(1);
        self.last = size;
        self.min = self.min.min(size);
        self.max = self.max.max(size);
    }
}

/// Deviations the chunk reader tolerates, each counted once per occurrence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkDeviations {
    /// Type-3 chunks after a header with an extended timestamp that did not repeat it (the
    /// specification and FFmpeg/librtmp repeat it; see the chunk module's docs).
    pub extended_timestamp_not_repeated: u64,
    /// SetChunkSize while a message on some chunk stream was still incomplete: its remaining
    /// chunks use the new size.
    pub chunk_size_changed_mid_message: u64,
    /// A type 0/1/2 header on a chunk stream whose message was incomplete: the partial
    /// message was dropped, as an Abort would.
    pub abandoned_messages: u64,
    /// A type 1/2/3 header on a chunk stream that never had a type-0 one: the missing fields
    /// are taken as zero, as FFmpeg does.
    pub compressed_header_on_new_chunk_stream: u64,
    /// SetChunkSize above the reader's limit, clamped (ATEM Web Presenter sends 128 MiB).
    pub chunk_size_over_limit: u64,
}

impl ChunkDeviations {
    /// The sum of every counter.
    pub fn total(&self) -> u64 {
        self.extended_timestamp_not_repeated
            .saturating_add(self.chunk_size_changed_mid_message)
            .saturating_add(self.abandoned_messages)
            .saturating_add(self.compressed_header_on_new_chunk_stream)
            .saturating_add(self.chunk_size_over_limit)
    }
}

/// Everything the session observed about its peer (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionObservations {
    /// None until the handshake has got as far as S2.
    pub handshake: Option<HandshakeKind>,
    /// The chunk sizes the peer set for its own messages.
    pub chunk_sizes: ChunkSizes,
    /// The peer's latest Window Acknowledgement Size, if it sent one.
    pub window_ack_size: Option<u32>,
    pub chunk: ChunkDeviations,
    /// `publish` on a message stream that createStream never handed out (accepted: some
    /// encoders skip or race createStream).
    pub publish_without_create_stream: u64,
}

impl SessionObservations {
    /// How many tolerated deviations in all.
    pub fn deviations(&self) -> u64 {
        self.chunk
            .total()
            .saturating_add(self.publish_without_create_stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_keep_first_last_and_range() {
        let mut sizes = ChunkSizes::default();
        assert_eq!(sizes.count, 0);
        for size in [4096, 128, 60000, 4096] {
            sizes.record(size);
        }
        assert_eq!(
            sizes,
            ChunkSizes {
                count: 4,
                first: 4096,
                last: 4096,
                min: 128,
                max: 60000
            }
        );
    }

    #[test]
    fn deviations_add_up() {
        let mut o = SessionObservations::default();
        assert_eq!(o.deviations(), 0);
        o.chunk.extended_timestamp_not_repeated = 2;
        o.chunk.chunk_size_changed_mid_message = 1;
        o.chunk.abandoned_messages = 1;
        o.chunk.compressed_header_on_new_chunk_stream = 1;
        o.chunk.chunk_size_over_limit = 1;
        o.publish_without_create_stream = 1;
        assert_eq!(o.deviations(), 7);
        assert_eq!(HandshakeKind::Digest.as_str(), "digest");
    }
}
