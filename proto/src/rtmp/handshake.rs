// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Server side of the RTMP handshake, delegated to `rml_rtmp` (simple and digest variants).

use std::fmt;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

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
        }
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
        match self.inner.process_bytes(data) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                out.extend_from_slice(&response_bytes);
                Ok(HandshakeProgress::InProgress)
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                self.done = true;
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
    }

    #[test]
    fn wrong_version_is_an_error() {
        let mut server = ServerHandshake::new();
        assert!(server.process(&[6u8; 10], &mut Vec::new()).is_err());
    }
}
