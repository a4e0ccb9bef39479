// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Adobe `authmod=adobe` challenge/response, as FFmpeg, OBS (librtmp fork) and GStreamer rtmp2sink
//! perform it over three connections:
//!
//! 1. connect without `?authmod=` → rejected with [`NEED_AUTH_DESCRIPTION`];
//! 2. connect with `?authmod=adobe&user=U` → rejected with a fresh salt and challenge
//!    ([`challenge_description`]), which the server remembers;
//! 3. connect with `?authmod=adobe&user=U&challenge=c2&response=R[&opaque=O]` → accepted when
//!    `R = base64(md5(base64(md5(U + salt + password)) + (O or challenge) + c2))`, otherwise
//!    rejected with [`AUTH_FAILED_DESCRIPTION`].
//!
//! Every rejection is sent as `_error` with `NetConnection.Connect.Rejected` and the description,
//! then the connection is closed; the clients reconnect on their own.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest, Md5};

use super::fleet_token::{FleetSecret, TokenError};
use super::query::AuthQuery;
use super::token::random_token;

/// Step 1. FFmpeg and rtmp2 look for `code=403 need auth`, all three for `authmod=adobe`.
pub const NEED_AUTH_DESCRIPTION: &str =
    "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ";

/// Step 3 failure, and any other failure of a connect that carries `authmod=adobe`. Never use
/// `code=403` here: OBS reads a 403 on a connect that already has `authmod=adobe` as "wrong user or
/// password" too, but FFmpeg and rtmp2 would restart the exchange.
pub const AUTH_FAILED_DESCRIPTION: &str =
    "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed";

/// The OS refused randomness; no client retries on an unknown reason.
const INTERNAL_ERROR_DESCRIPTION: &str =
    "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=servererror";

/// Longest user name echoed in a challenge. Keeps the step-2 description well under the 255 bytes
/// FFmpeg reads of it (its longest form is 142 bytes plus the user).
pub const MAX_USER_LEN: usize = 64;

/// Longest client challenge, response or opaque accepted (real ones are 8 to 24 bytes).
const MAX_TOKEN_LEN: usize = 64;

/// Hashed in place of a password for unknown users, so they cost the same work as known ones.
const UNKNOWN_USER_PASSWORD: &str = "\u{0}no such user\u{0}";

/// The step-2 description carrying the salt and challenge. The challenge is also sent as `opaque`,
/// which the clients echo back and which names the pending challenge in step 3.
pub fn challenge_description(user: &str, salt: &str, challenge: &str) -> String {
    format!(
        "[ AccessManager.Reject ] : [ authmod=adobe ] : \
         ?reason=needauth&user={user}&salt={salt}&challenge={challenge}&opaque={challenge}"
    )
}

/// `base64(md5(user + salt + password))`, the first stage of the response.
pub fn adobe_hash1(user: &str, salt: &str, password: &str) -> String {
    md5_base64(&[user, salt, password])
}

/// The response a client with `password` sends: `base64(md5(hash1 + opaque_or_challenge +
/// client_challenge))`, everything hashed as the text it is on the wire.
pub fn adobe_response(
    user: &str,
    salt: &str,
    password: &str,
    opaque_or_challenge: &str,
    client_challenge: &str,
) -> String {
    let hash1 = adobe_hash1(user, salt, password);
    md5_base64(&[&hash1, opaque_or_challenge, client_challenge])
}

fn md5_base64(parts: &[&str]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part.as_bytes());
    }
    BASE64.encode(md5.finalize())
}

/// Compares without an early exit, so the time taken says nothing about how much of a guessed
/// response was right.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One publisher account.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name as the client sends it.
    pub username: String,
    /// Plain password (the Adobe scheme needs it to recompute the client's hash).
    pub password: String,
}

impl Credentials {
    /// Builds an account.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The password of `user` in `accounts`, for use as the `lookup` of
    /// [`AdobeAuth::check_connect`].
    pub fn find_password<'a>(accounts: &'a [Credentials], user: &str) -> Option<&'a str> {
        accounts
            .iter()
            .find(|c| c.username == user)
            .map(|c| c.password.as_str())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The verdict on one connect command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectAuth {
    /// Credentials verified; answer with the normal `_result`.
    Accepted {
        /// The authenticated user.
        user: String,
    },
    /// Send `_error` / `NetConnection.Connect.Rejected` with `description`, then close.
    Rejected {
        /// The status description, exactly as the clients parse it.
        description: String,
        /// Why, for logs and the brute-force brake.
        reason: AuthFailure,
    },
}

/// Why a connect was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Step 1: the connect carried no credentials; the client is told to use `authmod=adobe`.
    NeedAuth,
    /// Step 2: a challenge was issued. Part of every successful login, not a failure.
    Challenge,
    /// Wrong password, unknown user, or a challenge issued to another user.
    BadCredentials,
    /// The challenge was older than the time to live.
    Expired,
    /// The challenge was never issued, already used, or evicted.
    UnknownChallenge,
    /// Not a well-formed adobe request (other authmod, missing or oversized fields).
    Malformed,
    /// The server could not produce random tokens.
    Internal,
}

impl AuthFailure {
    /// Whether this rejection should count against the sender in the brute-force brake. The two
    /// steps every login passes through do not; neither does a server-side fault.
    pub fn counts_as_failure(self) -> bool {
        !matches!(
            self,
            AuthFailure::NeedAuth | AuthFailure::Challenge | AuthFailure::Internal
        )
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthFailure::NeedAuth => "no credentials sent, authentication requested",
            AuthFailure::Challenge => "challenge issued",
            AuthFailure::BadCredentials => "wrong user name or password",
            AuthFailure::Expired => "challenge expired",
            AuthFailure::UnknownChallenge => "unknown or already used challenge",
            AuthFailure::Malformed => "malformed authentication request",
            AuthFailure::Internal => "no randomness available for a challenge",
        })
    }
}

/// A challenge waiting for its step-3 answer. The salt lives here, per challenge, rather than per
/// user: the clients recompute the first hash on every login, so a fresh salt costs nothing and
/// keeps no derived secret around.
struct Pending {
    user: String,
    salt: String,
    created: Instant,
}

/// Server side of the Adobe exchange: issues challenges and verifies responses. Each challenge is
/// good for one step-3 attempt within its time to live.
pub struct AdobeAuth {
    ttl: Duration,
    max_pending: usize,
    /// Keyed by the challenge (which is also the opaque value).
    pending: HashMap<String, Pending>,
    /// With a fleet secret: challenges any server holding it verifies (fleet_token.rs).
    fleet: Option<Fleet>,
}

/// A fleet secret and the wall clock its challenges' expiries are read on.
struct Fleet {
    secret: FleetSecret,
    /// An instant and the Unix time then: `now` maps to wall-clock seconds through it.
    epoch: (Instant, SystemTime),
    /// Fleet challenges already answered here, with when: one attempt each on this server.
    spent: HashMap<String, Instant>,
}

impl Fleet {
    fn unix_seconds(&self, now: Instant) -> u64 {
        let since_epoch = now.saturating_duration_since(self.epoch.0);
        let wall = self.epoch.1 + since_epoch;
        wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

impl fmt::Debug for AdobeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdobeAuth")
            .field("ttl", &self.ttl)
            .field("max_pending", &self.max_pending)
            .field("pending", &self.pending.len())
            .field("fleet", &self.fleet.is_some())
            .finish()
    }
}

impl AdobeAuth {
    /// `challenge_ttl`: how long a client has between steps 2 and 3 (a reconnect; a few seconds
    /// suffice, 30 s is generous). `max_pending`: most challenges kept at once; the oldest is
    /// dropped beyond it (at least 1).
    pub fn new(challenge_ttl: Duration, max_pending: usize) -> Self {
        AdobeAuth {
            ttl: challenge_ttl,
            max_pending: max_pending.max(1),
            pending: HashMap::new(),
            fleet: None,
        }
    }

    /// Signs challenges with a secret the fleet shares, so that a login's three connects may
    /// reach different servers (see fleet_token.rs for what that gives up); `None` goes back to
    /// challenges only this server knows. `epoch` is an instant and the wall-clock time then:
    /// expiries are Unix times, so the fleet's clocks must agree to within the time to live.
    /// Challenges issued before a change are still verified as they were issued.
    pub fn set_fleet_secret(&mut self, secret: Option<FleetSecret>, epoch: (Instant, SystemTime)) {
        let spent = self.fleet.take().map(|f| f.spent).unwrap_or_default();
        self.fleet = secret.map(|secret| Fleet {
            secret,
            epoch,
            spent,
        });
    }

    /// Number of challenges awaiting an answer.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Decides on one connect command.
    ///
    /// `app` and `tc_url` are as received in the connect command. The auth suffix is taken from
    /// `app`, or from `tc_url` when `app` has none. `lookup` maps a username to its password
    /// (`None` = unknown user); an unknown user is answered exactly like a wrong password. The
    /// application name to use afterwards is `split_authmod(app).0`.
    pub fn check_connect(
        &mut self,
        app: &str,
        tc_url: Option<&str>,
        now: Instant,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> ConnectAuth {
        self.check_query(AuthQuery::of_connect(app, tc_url).as_ref(), now, lookup)
    }

    /// [`AdobeAuth::check_connect`] for a query the caller already parsed
    /// ([`AuthQuery::of_connect`]), so one connect is parsed once.
    pub fn check_query(
        &mut self,
        query: Option<&AuthQuery<'_>>,
        now: Instant,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> ConnectAuth {
        let Some(query) = query else {
            return reject(AuthFailure::NeedAuth, NEED_AUTH_DESCRIPTION);
        };
        if query.authmod != "adobe" {
            // Another scheme (llnw, ...): say which one this server speaks.
            return reject(AuthFailure::Malformed, NEED_AUTH_DESCRIPTION);
        }
        let Some(user) = query.user.filter(|u| is_valid_user(u)) else {
            return reject(AuthFailure::Malformed, AUTH_FAILED_DESCRIPTION);
        };
        match (query.challenge, query.response) {
            (None, None) => self.issue_challenge(user, now),
            (Some(client_challenge), Some(response)) => {
                self.verify(user, client_challenge, response, query.opaque, now, lookup)
            }
            _ => reject(AuthFailure::Malformed, AUTH_FAILED_DESCRIPTION),
        }
    }

    /// Step 2. Done the same for every user, known or not, so the answer reveals nothing.
    fn issue_challenge(&mut self, user: &str, now: Instant) -> ConnectAuth {
        if let Some(fleet) = &self.fleet {
            let mut nonce = [0u8; 4];
            if getrandom::fill(&mut nonce).is_err() {
                return reject(AuthFailure::Internal, INTERNAL_ERROR_DESCRIPTION);
            }
            let expiry = fleet.unix_seconds(now).saturating_add(self.ttl.as_secs());
            let expiry = u32::try_from(expiry).unwrap_or(u32::MAX);
            let challenge = fleet.secret.issue(user, expiry, nonce);
            let salt = fleet.secret.salt(&challenge);
            return ConnectAuth::Rejected {
                description: challenge_description(user, &salt, &challenge),
                reason: AuthFailure::Challenge,
            };
        }
        let (Some(salt), Some(challenge)) = (random_token(), random_token()) else {
            return reject(AuthFailure::Internal, INTERNAL_ERROR_DESCRIPTION);
        };
        self.make_room(now);
        let description = challenge_description(user, &salt, &challenge);
        self.pending.insert(
            challenge,
            Pending {
                user: user.to_owned(),
                salt,
                created: now,
            },
        );
        ConnectAuth::Rejected {
            description,
            reason: AuthFailure::Challenge,
        }
    }

    /// Step 3.
    fn verify(
        &mut self,
        user: &str,
        client_challenge: &str,
        response: &str,
        opaque: Option<&str>,
        now: Instant,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> ConnectAuth {
        if client_challenge.is_empty()
            || client_challenge.len() > MAX_TOKEN_LEN
            || response.len() > MAX_TOKEN_LEN
        {
            return reject(AuthFailure::Malformed, AUTH_FAILED_DESCRIPTION);
        }
        // OBS sends `opaque=` (empty) when it got none; the clients then hash the challenge.
        let opaque = opaque.filter(|o| !o.is_empty());
        if opaque.is_some_and(|o| o.len() > MAX_TOKEN_LEN) {
            return reject(AuthFailure::Malformed, AUTH_FAILED_DESCRIPTION);
        }
        let key = match opaque {
            Some(o) => Some(o.to_owned()),
            None => self.latest_for_user(user),
        };
        let issued = match key {
            Some(k) if !self.pending.contains_key(&k) && self.fleet.is_some() => {
                self.spend_fleet_challenge(k, user, now)
            }
            // Removed whatever the outcome: one attempt per challenge.
            key => match key.and_then(|k| self.pending.remove_entry(&k)) {
                None => Err(AuthFailure::UnknownChallenge),
                Some((_, p)) if now.saturating_duration_since(p.created) > self.ttl => {
                    Err(AuthFailure::Expired)
                }
                Some((challenge, p)) => Ok((challenge, p)),
            },
        };
        let (challenge, pending) = match issued {
            Ok(issued) => issued,
            Err(failure) => return reject(failure, AUTH_FAILED_DESCRIPTION),
        };

        let password = lookup(user);
        let known = password.is_some() && pending.user == user;
        let password = password.unwrap_or_else(|| UNKNOWN_USER_PASSWORD.to_owned());
        let expected = adobe_response(
            user,
            &pending.salt,
            &password,
            opaque.unwrap_or(&challenge),
            client_challenge,
        );
        let matches = constant_time_eq(expected.as_bytes(), response.as_bytes());
        if known && matches {
            ConnectAuth::Accepted {
                user: user.to_owned(),
            }
        } else {
            reject(AuthFailure::BadCredentials, AUTH_FAILED_DESCRIPTION)
        }
    }

    /// Checks a fleet challenge echoed by `user` and spends it on this server: its salt is
    /// derived, not looked up.
    fn spend_fleet_challenge(
        &mut self,
        challenge: String,
        user: &str,
        now: Instant,
    ) -> Result<(String, Pending), AuthFailure> {
        let ttl = self.ttl;
        let max = self.max_pending;
        let Some(fleet) = self.fleet.as_mut() else {
            return Err(AuthFailure::UnknownChallenge);
        };
        match fleet
            .secret
            .check(&challenge, user, fleet.unix_seconds(now))
        {
            Ok(()) => {}
            Err(TokenError::Invalid) => return Err(AuthFailure::UnknownChallenge),
            Err(TokenError::Expired) => return Err(AuthFailure::Expired),
        }
        // A valid token lives at most the time to live (and a second of rounding).
        fleet
            .spent
            .retain(|_, at| now.saturating_duration_since(*at) <= ttl + Duration::from_secs(1));
        if fleet.spent.contains_key(&challenge) {
            return Err(AuthFailure::UnknownChallenge);
        }
        // Bounded like the pending challenges: past it, the oldest is forgotten (a refusal
        // instead would let answered challenges lock everybody out).
        while fleet.spent.len() >= max {
            let oldest = fleet
                .spent
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => fleet.spent.remove(&k),
                None => break,
            };
        }
        fleet.spent.insert(challenge.clone(), now);
        let salt = fleet.secret.salt(&challenge);
        Ok((
            challenge,
            Pending {
                user: user.to_owned(),
                salt,
                created: now,
            },
        ))
    }

    /// The newest challenge of `user`, for a client that did not echo the opaque value.
    fn latest_for_user(&self, user: &str) -> Option<String> {
        self.pending
            .iter()
            .filter(|(_, p)| p.user == user)
            .max_by_key(|(_, p)| p.created)
            .map(|(k, _)| k.clone())
    }

    /// Drops expired challenges, then the oldest ones until one more fits.
    fn make_room(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.created) <= ttl);
        while self.pending.len() >= self.max_pending {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.pending.remove(&k);
                }
                None => break,
            }
        }
    }
}

fn reject(reason: AuthFailure, description: &str) -> ConnectAuth {
    ConnectAuth::Rejected {
        description: description.to_owned(),
        reason,
    }
}

/// A user name we are willing to echo in a description: printable ASCII without spaces (so every
/// client parses it back unchanged), and short.
fn is_valid_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= MAX_USER_LEN
        && user.bytes().all(|b| b.is_ascii_graphic() && b != b'&')
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "alice";
    const PASSWORD: &str = "s3cret";
    const TTL: Duration = Duration::from_secs(30);

    fn lookup(user: &str) -> Option<String> {
        (user == USER).then(|| PASSWORD.to_owned())
    }

    fn auth() -> AdobeAuth {
        AdobeAuth::new(TTL, 16)
    }

    fn description(verdict: &ConnectAuth) -> &str {
        match verdict {
            ConnectAuth::Rejected { description, .. } => description,
            ConnectAuth::Accepted { .. } => "",
        }
    }

    fn reason(verdict: &ConnectAuth) -> Option<AuthFailure> {
        match verdict {
            ConnectAuth::Rejected { reason, .. } => Some(*reason),
            ConnectAuth::Accepted { .. } => None,
        }
    }

    // ---- client emulations (from reading their sources; not their code) ----

    /// What FFmpeg's handle_connect_error extracts: it reads the description into a 256-byte
    /// buffer, then pairs after `?reason=needauth`, values up to `&`.
    struct FfmpegParams {
        user: String,
        salt: String,
        opaque: Option<String>,
        challenge: Option<String>,
    }

    fn ffmpeg_parse(desc: &str) -> FfmpegParams {
        assert!(
            desc.len() <= 255,
            "FFmpeg would truncate: {} bytes",
            desc.len()
        );
        assert!(desc.contains("authmod=adobe"));
        let start = desc.find("?reason=needauth").expect("needauth");
        let mut p = FfmpegParams {
            user: String::new(),
            salt: String::new(),
            opaque: None,
            challenge: None,
        };
        for pair in desc[start + 1..].split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "user" => p.user = v.to_owned(),
                "salt" => p.salt = v.to_owned(),
                "opaque" => p.opaque = Some(v.to_owned()),
                "challenge" => p.challenge = Some(v.to_owned()),
                _ => {}
            }
        }
        p
    }

    /// GStreamer rtmp2's regex, by hand:
    /// `\[ *AccessManager.Reject *\] *: *\[ *authmod=(?<authmod>.*?) *\] *: *(?<query>\?.*)\Z`
    /// (DOTALL). Returns (authmod, query). Anchored where `AccessManager` is found.
    fn rtmp2_match(desc: &str) -> Option<(&str, &str)> {
        fn spaces(s: &str) -> &str {
            s.trim_start_matches(' ')
        }
        let mut s = desc.get(desc.find('[')?..)?;
        s = spaces(s.strip_prefix('[')?);
        s = s.strip_prefix("AccessManager")?;
        let mut chars = s.chars();
        chars.next()?; // regex '.' matches any one character
        s = spaces(chars.as_str().strip_prefix("Reject")?);
        s = spaces(s.strip_prefix(']')?);
        s = spaces(s.strip_prefix(':')?);
        s = spaces(s.strip_prefix('[')?);
        s = s.strip_prefix("authmod=")?;
        // Lazy group: the shortest prefix after which ` *\] *: *\?` follows.
        for (i, _) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
            let rest = spaces(&s[i..]);
            let Some(rest) = rest.strip_prefix(']') else {
                continue;
            };
            let Some(rest) = spaces(rest).strip_prefix(':') else {
                continue;
            };
            let rest = spaces(rest);
            if rest.starts_with('?') {
                return Some((&s[..i], rest));
            }
        }
        None
    }

    /// rtmp2 then reads the query's values (gst_uri percent-decodes; our tokens are hex, so the
    /// raw value is what it gets).
    fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
        query
            .trim_start_matches('?')
            .split('&')
            .find_map(|p| p.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }

    // ---- vectors ----

    #[test]
    fn vectors() {
        assert_eq!(
            adobe_hash1(USER, "KqLT7NzH", PASSWORD),
            "wNvOni4GokIO2ursh6JqKg=="
        );
        let r = |c2| adobe_response(USER, "KqLT7NzH", PASSWORD, "Vb3xQm2P", c2);
        assert_eq!(r("ee1bdcab"), "a9KNJh1NBrdDaV8P+97RMw==");
        assert_eq!(r("ca64b6cf"), "bE8/NnvuTRgKWiixqlKlgA==");
        assert_eq!(r("deadbeef"), "vOM1W8ApOtTLdkNK2screQ==");
        assert_eq!(
            adobe_response(USER, "KqLT7NzH", "wrong", "Vb3xQm2P", "deadbeef"),
            "Kr9GMocfCxg50I9eP4oOKQ=="
        );
    }

    #[test]
    fn descriptions_are_byte_exact() {
        assert_eq!(
            NEED_AUTH_DESCRIPTION,
            "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : "
        );
        assert_eq!(
            AUTH_FAILED_DESCRIPTION,
            "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed"
        );
        assert_eq!(
            challenge_description("alice", "KqLT7NzH", "Vb3xQm2P"),
            "[ AccessManager.Reject ] : [ authmod=adobe ] : \
             ?reason=needauth&user=alice&salt=KqLT7NzH&challenge=Vb3xQm2P&opaque=Vb3xQm2P"
        );
    }

    #[test]
    fn rtmp2_regex_matches_our_descriptions() {
        let d = challenge_description("alice", "KqLT7NzH", "Vb3xQm2P");
        let (authmod, query) = rtmp2_match(&d).expect("challenge matches");
        assert_eq!(authmod, "adobe");
        assert_eq!(query_value(query, "reason"), Some("needauth"));
        assert_eq!(query_value(query, "salt"), Some("KqLT7NzH"));
        assert_eq!(query_value(query, "opaque"), Some("Vb3xQm2P"));
        let (authmod, query) = rtmp2_match(AUTH_FAILED_DESCRIPTION).expect("authfailed matches");
        assert_eq!((authmod, query), ("adobe", "?reason=authfailed"));
        // Step 1 must not match (rtmp2 handles it by the 403 text instead).
        assert_eq!(rtmp2_match(NEED_AUTH_DESCRIPTION), None);
        // The hand matcher itself: lazy group and flexible spaces.
        assert_eq!(
            rtmp2_match("[AccessManager.Reject]:[authmod=x y  ] :  ?a"),
            Some(("x y", "?a"))
        );
    }

    #[test]
    fn longest_challenge_description_fits_ffmpeg_buffer() {
        let user = "u".repeat(MAX_USER_LEN);
        let mut a = auth();
        let v = a.check_connect(
            &format!("live?authmod=adobe&user={user}"),
            None,
            Instant::now(),
            &lookup,
        );
        let d = description(&v);
        assert!(d.len() <= 255, "{}", d.len());
        let p = ffmpeg_parse(d);
        assert_eq!(p.user, user);
        assert_eq!(p.opaque.map(|o| o.len()), Some(16));
        // One byte longer is refused rather than echoed.
        let v = a.check_connect(
            &format!("live?authmod=adobe&user={user}u"),
            None,
            Instant::now(),
            &lookup,
        );
        assert_eq!(reason(&v), Some(AuthFailure::Malformed));
        assert_eq!(description(&v), AUTH_FAILED_DESCRIPTION);
    }

    // ---- full flows ----

    /// FFmpeg: rtmp://alice:s3cret@127.0.0.1/live/key. tcUrl always names the port; the auth
    /// params are appended to both app and tcUrl.
    #[test]
    fn ffmpeg_flow() {
        let mut a = auth();
        let now = Instant::now();
        let tc = "rtmp://127.0.0.1:1935/live";

        let v = a.check_connect("live", Some(tc), now, &lookup);
        assert_eq!(reason(&v), Some(AuthFailure::NeedAuth));
        let d = description(&v);
        assert!(d.contains("authmod=adobe") && d.contains("code=403 need auth"));
        let params = format!("?authmod=adobe&user={USER}");

        let v = a.check_connect(
            &format!("live{params}"),
            Some(&format!("{tc}{params}")),
            now,
            &lookup,
        );
        assert_eq!(reason(&v), Some(AuthFailure::Challenge));
        assert!(!description(&v).contains("code=403"));
        let p = ffmpeg_parse(description(&v));
        assert_eq!(p.user, USER);
        let c2 = "ee1bdcab";
        let salt_source = p.opaque.clone().or(p.challenge.clone()).unwrap_or_default();
        let response = adobe_response(&p.user, &p.salt, PASSWORD, &salt_source, c2);
        let mut params = format!(
            "?authmod=adobe&user={}&challenge={c2}&response={response}",
            p.user
        );
        if let Some(o) = &p.opaque {
            params.push_str(&format!("&opaque={o}"));
        }

        let v = a.check_connect(
            &format!("live{params}"),
            Some(&format!("{tc}{params}")),
            now + Duration::from_millis(200),
            &lookup,
        );
        assert_eq!(
            v,
            ConnectAuth::Accepted {
                user: USER.to_owned()
            }
        );
        assert_eq!(a.pending_len(), 0);
    }

    /// GStreamer rtmp2sink with authmod=auto: no port in tcUrl when it is the default, the query
    /// appended with '?' to app and tcUrl, the configured user name hashed.
    #[test]
    fn rtmp2_flow() {
        let mut a = auth();
        let now = Instant::now();
        let tc = "rtmp://localhost/live";

        let v = a.check_connect("live", Some(tc), now, &lookup);
        let d = description(&v);
        assert!(d.contains("code=403 need auth") && d.contains("authmod=adobe"));

        let q = format!("authmod=adobe&user={USER}");
        let v = a.check_connect(
            &format!("live?{q}"),
            Some(&format!("{tc}?{q}")),
            now,
            &lookup,
        );
        let (authmod, query) = rtmp2_match(description(&v)).expect("regex");
        assert_eq!(authmod, "adobe");
        assert_eq!(query_value(query, "reason"), Some("needauth"));
        let salt = query_value(query, "salt").expect("salt");
        let opaque = query_value(query, "opaque");
        let challenge = query_value(query, "challenge");
        let c2 = "ca64b6cf";
        let response = adobe_response(USER, salt, PASSWORD, opaque.or(challenge).unwrap_or(""), c2);
        let q = match opaque {
            Some(o) => {
                format!("authmod=adobe&user={USER}&challenge={c2}&response={response}&opaque={o}")
            }
            None => format!("authmod=adobe&user={USER}&challenge={c2}&response={response}"),
        };

        let v = a.check_connect(
            &format!("live?{q}"),
            Some(&format!("{tc}?{q}")),
            now,
            &lookup,
        );
        assert_eq!(
            v,
            ConnectAuth::Accepted {
                user: USER.to_owned()
            }
        );
    }

    /// OBS: the user's app already has a query; OBS appends `?authmod=adobe&user=U`, then
    /// `&challenge=..&response=..&opaque=..` with a base64 challenge of its own.
    #[test]
    fn obs_flow() {
        let mut a = auth();
        let now = Instant::now();
        let app = "live?x=y";
        let tc = "rtmp://h:1935/live?x=y";

        let v = a.check_connect(app, Some(tc), now, &lookup);
        assert!(description(&v).contains("code=403 need auth"));
        let token1 = format!("?authmod=adobe&user={USER}");
        let (app, tc) = (format!("{app}{token1}"), format!("{tc}{token1}"));

        let v = a.check_connect(&app, Some(&tc), now, &lookup);
        let d = description(&v);
        assert!(!d.contains("code=403"));
        let p = ffmpeg_parse(d); // OBS parses the same way
        let c2 = "AbCd+w==";
        let response = adobe_response(
            &p.user,
            &p.salt,
            PASSWORD,
            p.opaque.as_deref().unwrap_or(""),
            c2,
        );
        let token2 = format!(
            "&challenge={c2}&response={response}&opaque={}",
            p.opaque.unwrap_or_default()
        );
        let v = a.check_connect(
            &format!("{app}{token2}"),
            Some(&format!("{tc}{token2}")),
            now,
            &lookup,
        );
        assert_eq!(
            v,
            ConnectAuth::Accepted {
                user: USER.to_owned()
            }
        );
    }

    /// Runs steps 2 and 3 for `user` with `password`, returning the step-3 verdict.
    fn login(a: &mut AdobeAuth, user: &str, password: &str, at: Duration) -> ConnectAuth {
        let t0 = Instant::now();
        let v = a.check_connect(
            &format!("live?authmod=adobe&user={user}"),
            None,
            t0,
            &lookup,
        );
        let p = ffmpeg_parse(description(&v));
        let o = p.opaque.unwrap_or_default();
        let r = adobe_response(user, &p.salt, password, &o, "deadbeef");
        a.check_connect(
            &format!("live?authmod=adobe&user={user}&challenge=deadbeef&response={r}&opaque={o}"),
            None,
            t0 + at,
            &lookup,
        )
    }

    /// Two servers of a fleet sharing `secret` (none: each on its own).
    fn fleet_pair(secret: Option<&str>) -> (AdobeAuth, AdobeAuth) {
        let epoch = (Instant::now(), SystemTime::now());
        let server = || {
            let mut a = auth();
            a.set_fleet_secret(secret.and_then(|s| FleetSecret::new(s.as_bytes())), epoch);
            a
        };
        (server(), server())
    }

    /// Step 2 on `issuer`, step 3 on `verifier` (FFmpeg's answer), `at` after step 2.
    fn login_across(
        issuer: &mut AdobeAuth,
        verifier: &mut AdobeAuth,
        password: &str,
        at: Duration,
    ) -> (ConnectAuth, String) {
        let t0 = Instant::now();
        let v = issuer.check_connect(
            &format!("live?authmod=adobe&user={USER}"),
            None,
            t0,
            &lookup,
        );
        let p = ffmpeg_parse(description(&v));
        let o = p.opaque.unwrap_or_default();
        let r = adobe_response(USER, &p.salt, password, &o, "deadbeef");
        let step3 =
            format!("live?authmod=adobe&user={USER}&challenge=deadbeef&response={r}&opaque={o}");
        (
            verifier.check_connect(&step3, None, t0 + at, &lookup),
            step3,
        )
    }

    #[test]
    fn a_fleet_challenge_is_verified_by_another_server_once() {
        let (mut a, mut b) = fleet_pair(Some("fleet secret"));
        let (verdict, step3) = login_across(&mut a, &mut b, PASSWORD, Duration::from_secs(1));
        assert_eq!(
            verdict,
            ConnectAuth::Accepted {
                user: USER.to_owned()
            }
        );
        // Nothing is kept for it where it was issued; where it was answered it is spent.
        assert_eq!(a.pending_len(), 0);
        let again = b.check_connect(&step3, None, Instant::now(), &lookup);
        assert_eq!(reason(&again), Some(AuthFailure::UnknownChallenge));
        // The descriptions stay within what FFmpeg reads, for the longest user name.
        let long_user = "u".repeat(MAX_USER_LEN);
        let v = a.check_connect(
            &format!("live?authmod=adobe&user={long_user}"),
            None,
            Instant::now(),
            &lookup,
        );
        assert!(description(&v).len() <= 255, "{}", description(&v));
        assert!(rtmp2_match(description(&v)).is_some());
    }

    #[test]
    fn a_fleet_challenge_fails_with_a_wrong_password_another_secret_or_late() {
        let (mut a, mut b) = fleet_pair(Some("fleet secret"));
        let (wrong, _) = login_across(&mut a, &mut b, "nope", Duration::ZERO);
        assert_eq!(reason(&wrong), Some(AuthFailure::BadCredentials));
        let (late, _) = login_across(&mut a, &mut b, PASSWORD, TTL + Duration::from_secs(2));
        assert_eq!(reason(&late), Some(AuthFailure::Expired));
        let (mut c, _) = fleet_pair(Some("another secret"));
        let (foreign, _) = login_across(&mut a, &mut c, PASSWORD, Duration::ZERO);
        assert_eq!(reason(&foreign), Some(AuthFailure::UnknownChallenge));
        // Without a fleet secret a challenge is only good where it was issued (the limit the
        // secret removes).
        let (mut d, mut e) = fleet_pair(None);
        let (elsewhere, _) = login_across(&mut d, &mut e, PASSWORD, Duration::ZERO);
        assert_eq!(reason(&elsewhere), Some(AuthFailure::UnknownChallenge));
    }

    #[test]
    fn a_challenge_issued_before_the_secret_was_set_is_still_verified() {
        let mut a = auth();
        let t0 = Instant::now();
        let v = a.check_connect(
            &format!("live?authmod=adobe&user={USER}"),
            None,
            t0,
            &lookup,
        );
        a.set_fleet_secret(FleetSecret::new(b"new"), (t0, SystemTime::now()));
        let p = ffmpeg_parse(description(&v));
        let o = p.opaque.unwrap_or_default();
        let r = adobe_response(USER, &p.salt, PASSWORD, &o, "deadbeef");
        let step3 =
            format!("live?authmod=adobe&user={USER}&challenge=deadbeef&response={r}&opaque={o}");
        assert_eq!(
            a.check_connect(&step3, None, t0, &lookup),
            ConnectAuth::Accepted {
                user: USER.to_owned()
            }
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_look_the_same() {
        let mut a = auth();
        let wrong = login(&mut a, USER, "nope", Duration::ZERO);
        let unknown = login(&mut a, "mallory", "nope", Duration::ZERO);
        assert_eq!(wrong, unknown);
        assert_eq!(description(&wrong), AUTH_FAILED_DESCRIPTION);
        assert_eq!(reason(&wrong), Some(AuthFailure::BadCredentials));
        assert!(rtmp2_match(description(&wrong)).is_some());
        // And an unknown user still gets a challenge in step 2 just like a known one.
        let v = a.check_connect(
            "live?authmod=adobe&user=mallory",
            None,
            Instant::now(),
            &lookup,
        );
        assert_eq!(reason(&v), Some(AuthFailure::Challenge));
    }

    #[test]
    fn correct_login_helper_succeeds() {
        let mut a = auth();
        assert!(matches!(
            login(&mut a, USER, PASSWORD, Duration::from_secs(29)),
            ConnectAuth::Accepted { .. }
        ));
    }

    #[test]
    fn replayed_challenge_is_rejected() {
        let mut a = auth();
        let now = Instant::now();
        let v = a.check_connect("live?authmod=adobe&user=alice", None, now, &lookup);
        let p = ffmpeg_parse(description(&v));
        let o = p.opaque.unwrap_or_default();
        let r = adobe_response(USER, &p.salt, PASSWORD, &o, "ee1bdcab");
        let app =
            format!("live?authmod=adobe&user=alice&challenge=ee1bdcab&response={r}&opaque={o}");
        assert!(matches!(
            a.check_connect(&app, None, now, &lookup),
            ConnectAuth::Accepted { .. }
        ));
        let again = a.check_connect(&app, None, now, &lookup);
        assert_eq!(reason(&again), Some(AuthFailure::UnknownChallenge));
        assert_eq!(description(&again), AUTH_FAILED_DESCRIPTION);
    }

    #[test]
    fn failed_attempt_burns_the_challenge() {
        let mut a = auth();
        let now = Instant::now();
        let v = a.check_connect("live?authmod=adobe&user=alice", None, now, &lookup);
        let p = ffmpeg_parse(description(&v));
        let o = p.opaque.unwrap_or_default();
        let bad = format!("live?authmod=adobe&user=alice&challenge=1&response=xx&opaque={o}");
        assert_eq!(
            reason(&a.check_connect(&bad, None, now, &lookup)),
            Some(AuthFailure::BadCredentials)
        );
        let r = adobe_response(USER, &p.salt, PASSWORD, &o, "1");
        let good = format!("live?authmod=adobe&user=alice&challenge=1&response={r}&opaque={o}");
        assert_eq!(
            reason(&a.check_connect(&good, None, now, &lookup)),
            Some(AuthFailure::UnknownChallenge)
        );
    }

    #[test]
    fn expired_challenge_is_rejected() {
        let mut a = auth();
        let v = login(&mut a, USER, PASSWORD, TTL + Duration::from_millis(1));
        assert_eq!(reason(&v), Some(AuthFailure::Expired));
        assert_eq!(description(&v), AUTH_FAILED_DESCRIPTION);
        assert_eq!(a.pending_len(), 0);
    }

    #[test]
    fn challenge_of_another_user_is_rejected() {
        let mut a = auth();
        let now = Instant::now();
        let v = a.check_connect("live?authmod=adobe&user=bob", None, now, &lookup);
        let p = ffmpeg_parse(description(&v));
        let o = p.opaque.unwrap_or_default();
        let r = adobe_response(USER, &p.salt, PASSWORD, &o, "c");
        let app = format!("live?authmod=adobe&user={USER}&challenge=c&response={r}&opaque={o}");
        assert_eq!(
            reason(&a.check_connect(&app, None, now, &lookup)),
            Some(AuthFailure::BadCredentials)
        );
    }

    #[test]
    fn table_cap_evicts_oldest() {
        let mut a = AdobeAuth::new(TTL, 3);
        let t0 = Instant::now();
        let mut opaques = Vec::new();
        for i in 0..4u64 {
            let v = a.check_connect(
                "live?authmod=adobe&user=alice",
                None,
                t0 + Duration::from_millis(i),
                &lookup,
            );
            let p = ffmpeg_parse(description(&v));
            opaques.push((p.salt, p.opaque.unwrap_or_default()));
            assert!(a.pending_len() <= 3);
        }
        let attempt = |a: &mut AdobeAuth, (salt, o): &(String, String)| {
            let r = adobe_response(USER, salt, PASSWORD, o, "c");
            let app = format!("live?authmod=adobe&user={USER}&challenge=c&response={r}&opaque={o}");
            a.check_connect(&app, None, t0 + Duration::from_secs(1), &lookup)
        };
        assert_eq!(
            reason(&attempt(&mut a, &opaques[0])),
            Some(AuthFailure::UnknownChallenge)
        );
        for o in &opaques[1..] {
            assert!(matches!(attempt(&mut a, o), ConnectAuth::Accepted { .. }));
        }
    }

    #[test]
    fn expired_entries_are_purged_when_issuing() {
        let mut a = AdobeAuth::new(TTL, 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            a.check_connect("live?authmod=adobe&user=x", None, t0, &lookup);
        }
        assert_eq!(a.pending_len(), 10);
        a.check_connect("live?authmod=adobe&user=x", None, t0 + TTL * 2, &lookup);
        assert_eq!(a.pending_len(), 1);
    }

    #[test]
    fn missing_opaque_falls_back_to_users_latest_challenge() {
        let mut a = auth();
        let now = Instant::now();
        let v = a.check_connect("live?authmod=adobe&user=alice", None, now, &lookup);
        let p = ffmpeg_parse(description(&v));
        let c = p.challenge.unwrap_or_default();
        let r = adobe_response(USER, &p.salt, PASSWORD, &c, "c2");
        // Without opaque, and as OBS writes it when it got none: `opaque=`.
        for (i, tail) in [(1, ""), (2, "&opaque=")] {
            let later = now + Duration::from_millis(i);
            let v = a.check_connect("live?authmod=adobe&user=alice", None, later, &lookup);
            let p2 = ffmpeg_parse(description(&v));
            let c2v = p2.challenge.unwrap_or_default();
            let r2 = adobe_response(USER, &p2.salt, PASSWORD, &c2v, "c2");
            let app = format!("live?authmod=adobe&user=alice&challenge=c2&response={r2}{tail}");
            assert!(matches!(
                a.check_connect(&app, None, later, &lookup),
                ConnectAuth::Accepted { .. }
            ));
        }
        // The first challenge is still there and usable with its opaque.
        let app = format!("live?authmod=adobe&user=alice&challenge=c2&response={r}&opaque={c}");
        assert!(matches!(
            a.check_connect(&app, None, now, &lookup),
            ConnectAuth::Accepted { .. }
        ));
    }

    #[test]
    fn suffix_only_in_tcurl_is_used() {
        let mut a = auth();
        let v = a.check_connect(
            "live",
            Some("rtmp://h/live?authmod=adobe&user=alice"),
            Instant::now(),
            &lookup,
        );
        assert_eq!(reason(&v), Some(AuthFailure::Challenge));
    }

    #[test]
    fn malformed_requests() {
        let mut a = auth();
        let now = Instant::now();
        let cases = [
            ("live?authmod=llnw&user=alice", NEED_AUTH_DESCRIPTION),
            ("live?authmod=&user=alice", NEED_AUTH_DESCRIPTION),
            ("live?authmod=adobe", AUTH_FAILED_DESCRIPTION),
            ("live?authmod=adobe&user=", AUTH_FAILED_DESCRIPTION),
            ("live?authmod=adobe&user=a b", AUTH_FAILED_DESCRIPTION),
            (
                "live?authmod=adobe&user=alice&challenge=x",
                AUTH_FAILED_DESCRIPTION,
            ),
            (
                "live?authmod=adobe&user=alice&response=x",
                AUTH_FAILED_DESCRIPTION,
            ),
            (
                "live?authmod=adobe&user=alice&challenge=&response=x&opaque=y",
                AUTH_FAILED_DESCRIPTION,
            ),
        ];
        for (app, expected) in cases {
            let v = a.check_connect(app, None, now, &lookup);
            assert_eq!(reason(&v), Some(AuthFailure::Malformed), "{app}");
            assert_eq!(description(&v), expected, "{app}");
        }
        let long = "x".repeat(65);
        let app = format!("live?authmod=adobe&user=alice&challenge={long}&response=r&opaque=o");
        assert_eq!(
            reason(&a.check_connect(&app, None, now, &lookup)),
            Some(AuthFailure::Malformed)
        );
        let app = "live?authmod=adobe&user=alice&challenge=c&response=r&opaque=nothere";
        assert_eq!(
            reason(&a.check_connect(app, None, now, &lookup)),
            Some(AuthFailure::UnknownChallenge)
        );
    }

    #[test]
    fn adobe_connects_never_get_a_403() {
        // OBS would read a 403 on an authmod=adobe connect as wrong credentials and give up.
        let mut a = auth();
        let now = Instant::now();
        for app in [
            "live?authmod=adobe",
            "live?authmod=adobe&user=alice",
            "live?authmod=adobe&user=alice&challenge=a&response=b&opaque=c",
            "live?authmod=adobe&user=&challenge=a",
        ] {
            let v = a.check_connect(app, None, now, &lookup);
            assert!(!description(&v).contains("code=403"), "{app}");
        }
    }

    #[test]
    fn failure_classes_for_the_brake() {
        assert!(!AuthFailure::NeedAuth.counts_as_failure());
        assert!(!AuthFailure::Challenge.counts_as_failure());
        assert!(!AuthFailure::Internal.counts_as_failure());
        assert!(AuthFailure::BadCredentials.counts_as_failure());
        assert!(AuthFailure::Expired.counts_as_failure());
        assert!(AuthFailure::UnknownChallenge.counts_as_failure());
        assert!(AuthFailure::Malformed.counts_as_failure());
    }

    #[test]
    fn credentials_debug_redacts_password() {
        let c = Credentials::new("alice", "s3cret");
        let text = format!("{c:?} {:?}", vec![c.clone()]);
        assert!(text.contains("alice") && !text.contains("s3cret"), "{text}");
        let list = [c, Credentials::new("bob", "pw")];
        assert_eq!(Credentials::find_password(&list, "bob"), Some("pw"));
        assert_eq!(Credentials::find_password(&list, "carol"), None);
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
