// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Adobe challenges any server of a fleet can verify: the challenge carries its expiry and a
//! MAC over it and the user, keyed with a secret the fleet shares, and the salt is derived from
//! it. A server that did not issue a challenge checks it without having seen it, so the three
//! connects of a login may land on different machines (a load balancer without stickiness).
//!
//! Token (16 bytes, sent as 32 hex digits like the random ones): expiry (u32, Unix seconds) ‖
//! nonce (4 random bytes) ‖ HMAC-SHA256(secret, label ‖ expiry ‖ nonce ‖ user) truncated to 8
//! bytes. 64 bits of MAC against a challenge that lives seconds, behind the brute-force brake;
//! the length keeps the step-2 description within the 255 bytes FFmpeg reads.
//!
//! What it gives up: a challenge is single-use only on the server that verified it, so within
//! its lifetime a captured step-3 connect could be replayed to another server. The random
//! challenges of a single server do not have that window.

use hmac::{Hmac, Mac, NewMac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const NONCE_BYTES: usize = 4;
const MAC_BYTES: usize = 8;
const TOKEN_BYTES: usize = 4 + NONCE_BYTES + MAC_BYTES;

/// Domain separation: the same secret might key something else.
const CHALLENGE_LABEL: &[u8] = b"rtmpserver adobe challenge v1";
const SALT_LABEL: &[u8] = b"rtmpserver adobe salt v1";

/// A fleet-shared secret for challenges.
#[derive(Clone)]
pub struct FleetSecret(Vec<u8>);

impl std::fmt::Debug for FleetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetSecret(..)")
    }
}

/// Why a fleet token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of this secret, or issued to another user.
    Invalid,
    /// Past its expiry.
    Expired,
}

impl FleetSecret {
    /// `None` for an empty secret.
    pub fn new(secret: &[u8]) -> Option<Self> {
        (!secret.is_empty()).then(|| FleetSecret(secret.to_vec()))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes a key of any length.
        let mut mac = match HmacSha256::new_varkey(&self.0) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A challenge for `user` that expires at `expiry` (Unix seconds), with `nonce` random.
    pub fn issue(&self, user: &str, expiry: u32, nonce: [u8; NONCE_BYTES]) -> String {
        let expiry = expiry.to_be_bytes();
        let mac = self.mac(&[CHALLENGE_LABEL, &expiry, &nonce, user.as_bytes()]);
        let mut token = Vec::with_capacity(TOKEN_BYTES);
        token.extend_from_slice(&expiry);
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&mac[..MAC_BYTES]);
        to_hex(&token)
    }

    /// Checks a challenge echoed by `user` at `now` (Unix seconds).
    pub fn check(&self, token: &str, user: &str, now: u64) -> Result<(), TokenError> {
        let bytes = from_hex(token).ok_or(TokenError::Invalid)?;
        if bytes.len() != TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let (expiry, rest) = bytes.split_at(4);
        let (nonce, mac) = rest.split_at(NONCE_BYTES);
        let expected = self.mac(&[CHALLENGE_LABEL, expiry, nonce, user.as_bytes()]);
        if !super::adobe::constant_time_eq(&expected[..MAC_BYTES], mac) {
            return Err(TokenError::Invalid);
        }
        let expiry = u32::from_be_bytes([expiry[0], expiry[1], expiry[2], expiry[3]]);
        if now > u64::from(expiry) {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// The salt that goes with a challenge: derived, so any server can recompute it.
    pub fn salt(&self, token: &str) -> String {
        to_hex(&self.mac(&[SALT_LABEL, token.as_bytes()])[..8])
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn secret(s: &str) -> FleetSecret {
        FleetSecret::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn any_holder_of_the_secret_verifies_until_expiry() {
        let token = secret("fleet").issue("alice", NOW as u32 + 30, [1, 2, 3, 4]);
        assert_eq!(token.len(), 32);
        let other_server = secret("fleet");
        assert_eq!(other_server.check(&token, "alice", NOW), Ok(()));
        assert_eq!(other_server.check(&token, "alice", NOW + 30), Ok(()));
        assert_eq!(
            other_server.check(&token, "alice", NOW + 31),
            Err(TokenError::Expired)
        );
        assert_eq!(other_server.salt(&token), secret("fleet").salt(&token));
    }

    #[test]
    fn another_secret_user_or_a_changed_byte_is_refused() {
        let token = secret("fleet").issue("alice", NOW as u32 + 30, [1, 2, 3, 4]);
        assert_eq!(
            secret("other").check(&token, "alice", NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            secret("fleet").check(&token, "bob", NOW),
            Err(TokenError::Invalid)
        );
        // A later expiry written over the token's own.
        let mut forged = token.clone().into_bytes();
        forged[7] = if forged[7] == b'f' { b'e' } else { b'f' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            secret("fleet").check(&forged, "alice", NOW),
            Err(TokenError::Invalid)
        );
        for junk in ["", "zz", "0123", &token[..30], &format!("{token}00")] {
            assert_eq!(
                secret("fleet").check(junk, "alice", NOW),
                Err(TokenError::Invalid)
            );
        }
        assert!(FleetSecret::new(b"").is_none());
    }
}
