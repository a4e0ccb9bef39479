// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Authentication: tcUrl and query parsing, the port check and the Adobe challenge/response on
//! fuzzed connect strings.
//!
//! Input: UTF-8 (lossy) text `app \n tcUrl \n password`; without a newline there is no tcUrl.
//!
//! Oracles: no panic; a fresh server never accepts a first connect; a challenge description is
//! short enough for FFmpeg (< 255 bytes) and, answered honestly, leads to acceptance exactly
//! when the user is known; a port-check description never contains `authmod=`. For inputs of
//! odd length the servers share a fleet secret and a second server checks the answer.
#![no_main]

use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::fuzz_target;
use rtmpserver_fuzz::auth::fleet_token::FleetSecret;
use rtmpserver_fuzz::auth::{
    adobe_response, default_port, parse_query, parse_tc_url, split_authmod, verify_port, AdobeAuth,
    AuthFailure, AuthQuery, ConnectAuth, NEED_AUTH_DESCRIPTION,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let app = parts.next().unwrap_or_default();
    let tc_url = parts.next();
    let password = parts.next().unwrap_or("pw").to_owned();

    for s in [Some(app), tc_url].into_iter().flatten() {
        if let Ok(url) = parse_tc_url(s) {
            assert!(url.port != 0);
            if !url.port_explicit {
                assert_eq!(url.port, default_port(&url.scheme));
            }
        }
        let (base, suffix) = split_authmod(s);
        assert!(base.len() <= s.len());
        if let Some(q) = suffix {
            assert!(q.starts_with("authmod="));
            let _ = AuthQuery::parse(q);
        }
        let pairs = parse_query(s);
        assert!(pairs.len() <= 32);
    }
    let port = match data.len() % 4 {
        0 => 1935,
        1 => 443,
        2 => 80,
        _ => u16::try_from(data.len()).unwrap_or(u16::MAX),
    };
    if let Err(description) = verify_port(tc_url, port) {
        assert!(!description.contains("authmod="));
    }

    // Users whose name has an odd length exist; the others do not.
    let lookup = |user: &str| (user.len() % 2 == 1).then(|| password.clone());
    let now = Instant::now();
    let fleet = data.len() % 2 == 1;
    let server = || {
        let mut auth = AdobeAuth::new(Duration::from_secs(30), 4);
        if fleet {
            auth.set_fleet_secret(FleetSecret::new(b"fuzz fleet"), (now, SystemTime::now()));
        }
        auth
    };
    let mut auth = server();
    let verdict = auth.check_connect(app, tc_url, now, &lookup);
    let ConnectAuth::Rejected {
        description,
        reason,
    } = verdict
    else {
        panic!("a fresh server accepted {app:?} / {tc_url:?}");
    };
    if reason == AuthFailure::NeedAuth {
        assert_eq!(description, NEED_AUTH_DESCRIPTION);
    }
    if reason != AuthFailure::Challenge {
        return;
    }
    assert!(description.len() < 255, "challenge description too long");

    // Answer the challenge as FFmpeg would, from the description alone.
    let (_, query) = description.split_once('?').expect("challenge has a query");
    let q = parse_query(query);
    let get = |k: &str| q.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let user = get("user").expect("user echoed");
    let salt = get("salt").expect("salt");
    let challenge = get("challenge").expect("challenge");
    let opaque = get("opaque").expect("opaque");
    let client_challenge = "c2Fsd";
    let response = adobe_response(user, salt, &password, opaque, client_challenge);
    let base = split_authmod(app).0;
    let step3 = format!(
        "{base}?authmod=adobe&user={user}&challenge={client_challenge}&response={response}&opaque={opaque}"
    );
    // With a fleet secret, another server of the fleet verifies it.
    let mut verifier = if fleet { server() } else { auth };
    let again = verifier.check_connect(&step3, None, now, &lookup);
    if lookup(user).is_some() {
        assert!(
            matches!(again, ConnectAuth::Accepted { user: ref u } if u == user),
            "honest answer refused for {user:?}: {again:?}"
        );
    } else {
        assert!(!matches!(again, ConnectAuth::Accepted { .. }));
    }
    let _ = challenge;
});
