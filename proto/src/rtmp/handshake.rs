// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Server side of the RTMP handshake, delegated to `rml_rtmp` (simple and digest variants).
//!
//! Which variant the client used is not something rml_rtmp tells, but it shows in what it
//! answers: for a simple handshake S2 is C1 echoed, for a digest one S2 is fresh random bytes
//! signed at the end. Comparing the first [`PROBE_LEN`] bytes of both tells them apart (a
//! random S2 matching by chance has odds of 2^-256) without keeping either packet.

use std::fmt;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

use super::observations::HandshakeKind;

/// Size of C1, S1 and S2.
const PACKET_LEN: usize = 1536;
/// Bytes of C1 and S2 compared to tell the handshake kind.
const PROBE_LEN: usize = 32;
/// Where C1 starts in the client's bytes (after C0) and S2 in ours (after S0 and S1).
const C1_AT: usize = 1;
const S2_AT: usize = 1 + PACKET_LEN;

/// Copies the part of `data` (which starts at `pos` in its byte stream) that falls into
/// `window` (which starts at `window_at` in that stream).
fn copy_window(pos: usize, data: &[u8], window_at: usize, window: &mut [u8]) {
    let start = window_at.max(pos);
    let end = (window_at + window.len()).min(pos.saturating_add(data.len()));
    if start >= end {
        return;
    }
    if let (Some(from), Some(to)) = (
        data.get(start - pos..end - pos),
        window.get_mut(start - window_at..end - window_at),
    ) {
        to.copy_from_slice(from);
    }
}

/// Tells a simple handshake from a digest one by what the server answered (see module docs).
#[derive(Debug, Default)]
struct KindProbe {
    received: usize,
    sent: usize,
    c1_head: [u8; PROBE_LEN],
    s2_head: [u8; PROBE_LEN],
    kind: Option<HandshakeKind>,
}

impl KindProbe {
    fn input(&mut self, data: &[u8]) {
        copy_window(self.received, data, C1_AT, &mut self.c1_head);
        self.received = self.received.saturating_add(data.len());
    }

    fn output(&mut self, data: &[u8]) {
        copy_window(self.sent, data, S2_AT, &mut self.s2_head);
        self.sent = self.sent.saturating_add(data.len());
        if self.kind.is_none() && self.sent >= S2_AT + PROBE_LEN {
            self.kind = Some(if self.c1_head == self.s2_head {
                HandshakeKind::Simple
            } else {
                HandshakeKind::Digest
            });
        }
    }
}

/// The handshake failed; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError(pub String);

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handshake failed: {}", self.0)
    }
}

impl std::error::Error for HandshakeError {}

/// What the handshake did with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeProgress {
    /// More input is needed.
    InProgress,
    /// Done; these bytes followed the handshake and belong to the chunk stream.
    Done {
        /// Bytes received after C2.
        remaining: Vec<u8>,
    },
}

/// Sans-IO server handshake (C0/C1/C2 in, S0/S1/S2 out).
pub struct ServerHandshake {
    inner: Handshake,
    done: bool,
    probe: KindProbe,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A handshake waiting for C0.
    pub fn new() -> Self {
        ServerHandshake {
            inner: Handshake::new(PeerType::Server),
            done: false,
            probe: KindProbe::default(),
        }
    }

    /// Which handshake the client used, once S2 has been produced.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.probe.kind
    }

    /// Feeds client bytes; bytes to send are appended to `out`.
    pub fn process(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        if self.done {
            return Err(HandshakeError("already completed".into()));
        }
        let result = self.inner.process_bytes(data);
        self.probe.input(data);
        match result {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                self.probe.output(&response_bytes);
                out.extend_from_slice(&response_bytes);
                Ok(HandshakeProgress::InProgress)
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                self.done = true;
                self.probe.output(&response_bytes);
                out.extend_from_slice(&response_bytes);
                Ok(HandshakeProgress::Done {
                    remaining: remaining_bytes,
                })
            }
            Err(e) => Err(HandshakeError(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_against_rml_client_and_keeps_trailing_bytes() {
        let mut client = Handshake::new(PeerType::Client);
        let mut server = ServerHandshake::new();
        let c0c1 = client.generate_outbound_p0_and_p1().unwrap();
        let mut s_out = Vec::new();
        assert_eq!(
            server.process(&c0c1, &mut s_out).unwrap(),
            HandshakeProgress::InProgress
        );
        assert_eq!(s_out.len(), 1 + 1536 * 2);
        let c2 = match client.process_bytes(&s_out).unwrap() {
            HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
            other => panic!("{other:?}"),
        };
        let mut input = c2;
        input.extend_from_slice(b"tail");
        let mut more = Vec::new();
        assert_eq!(
            server.process(&input, &mut more).unwrap(),
            HandshakeProgress::Done {
                remaining: b"tail".to_vec()
            }
        );
        assert!(server.process(b"x", &mut more).is_err());
        // rml_rtmp's client signs C1: a digest handshake.
        assert_eq!(server.kind(), Some(HandshakeKind::Digest));
    }

    #[test]
    fn an_unsigned_c1_is_a_simple_handshake_byte_by_byte() {
        // C0, then C1 as the original specification has it: time, zero version, filler.
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0; 8]);
        c0c1.extend((0..PACKET_LEN - 8).map(|i| (i * 7 % 251) as u8));
        let mut server = ServerHandshake::new();
        let mut out = Vec::new();
        for b in &c0c1 {
            server.process(&[*b], &mut out).unwrap();
        }
        assert_eq!(out.len(), 1 + 2 * PACKET_LEN);
        assert_eq!(&out[S2_AT..], &c0c1[C1_AT..], "S2 echoes C1");
        assert_eq!(server.kind(), Some(HandshakeKind::Simple));
        // C2 echoes S1 and completes it.
        let c2 = out[1..S2_AT].to_vec();
        assert!(matches!(
            server.process(&c2, &mut Vec::new()).unwrap(),
            HandshakeProgress::Done { .. }
        ));
        assert_eq!(server.kind(), Some(HandshakeKind::Simple));
    }

    #[test]
    fn copy_window_takes_only_the_overlap() {
        let mut w = [0u8; 4];
        copy_window(0, &[1, 2, 3], 2, &mut w);
        assert_eq!(w, [3, 0, 0, 0]);
        copy_window(3, &[4, 5, 6, 7, 8], 2, &mut w);
        assert_eq!(w, [3, 4, 5, 6]);
        copy_window(10, &[9], 2, &mut w);
        assert_eq!(w, [3, 4, 5, 6]);
    }

    #[test]
    fn wrong_version_is_an_error() {
        let mut server = ServerHandshake::new();
        assert!(server.process(&[6u8; 10], &mut Vec::new()).is_err());
    }
}
