// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Authentication of publishers, pure and sans-IO: the Adobe `authmod=adobe` challenge/response
//! as FFmpeg, OBS and GStreamer rtmp2sink perform it, tcUrl parsing for the port check, and a
//! per-address brake on password guessing.
//!
//! Typical use on a connect command (`app`, optional `tcUrl`, the peer's address):
//! 1. [`BruteForceBrake::check`]: refuse, or wait the delay first;
//! 2. [`verify_port`] when the element is configured with a public port;
//! 3. [`AdobeAuth::check_connect`]; on `Rejected`, send `_error` / `NetConnection.Connect.Rejected`
//!    with the description and close; if [`AuthFailure::counts_as_failure`], record it in the
//!    brake; on `Accepted`, [`BruteForceBrake::record_success`] and continue with the application
//!    name `split_authmod(app).0`.

pub mod adobe;
pub mod brake;
pub mod fleet_token;
pub mod port;
pub mod query;
pub mod tcurl;
mod token;

#[cfg(test)]
mod fuzz_tests;

pub use adobe::{
    adobe_hash1, adobe_response, challenge_description, AdobeAuth, AuthFailure, ConnectAuth,
    Credentials, AUTH_FAILED_DESCRIPTION, MAX_USER_LEN, NEED_AUTH_DESCRIPTION,
};
pub use brake::{BrakeConfig, BrakeVerdict, BruteForceBrake};
pub use port::verify_port;
pub use query::{parse_query, split_authmod, AuthQuery};
pub use tcurl::{default_port, parse_tc_url, TcUrl, TcUrlError};
