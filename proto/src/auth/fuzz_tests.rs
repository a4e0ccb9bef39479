// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Property test: 100k random and mutated inputs through every entry point of the module must
//! never panic and must keep the description invariants.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

/// xorshift64*: small, deterministic, good enough to drive input generation.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "rtmp://",
    "RTMPS://",
    "rtmpt://",
    "http://",
    "://",
    "?authmod=",
    "authmod=",
    "adobe",
    "llnw",
    "&",
    "=",
    "?",
    "user=",
    "alice",
    "challenge=",
    "response=",
    "opaque=",
    "salt=",
    "[",
    "]",
    ":",
    "@",
    "/",
    "%",
    "+",
    "==",
    "0",
    "99999",
    "65535",
    "1935",
    ":1940",
    "[::1]",
    "::",
    "é",
    "ß",
    "\u{0}",
    " ",
    "\u{7f}",
    "\u{1F600}",
    "live",
    "?x=y",
    "reason=needauth",
    "host",
    "u:p@",
];

const SEEDS: &[&str] = &[
    "live",
    "live?authmod=adobe&user=alice",
    "live?x=y?authmod=adobe&user=alice",
    "live?authmod=adobe&user=alice&challenge=ee1bdcab&response=a9KNJh1NBrdDaV8P+97RMw==&opaque=Vb3xQm2P",
    "rtmp://127.0.0.1:1935/live?authmod=adobe&user=alice",
    "rtmp://u:p@[::1]:1940/app/inst?q",
    "RTMPS://h/app",
];

fn random_string(rng: &mut XorShift) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(24) {
        if rng.below(4) == 0 {
            let c = char::from_u32(rng.below(0x1_0000) as u32).unwrap_or('x');
            s.push(c);
        } else {
            s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        }
    }
    s
}

fn mutate(rng: &mut XorShift, seed: &str) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for _ in 0..=rng.below(4) {
        let pos = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if pos < chars.len() => {
                chars.remove(pos);
            }
            1 => {
                let frag = FRAGMENTS[rng.below(FRAGMENTS.len())];
                for (i, c) in frag.chars().enumerate() {
                    chars.insert(pos + i, c);
                }
            }
            _ if pos < chars.len() => {
                chars[pos] = char::from_u32(rng.below(0x80) as u32).unwrap_or('?');
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn input(rng: &mut XorShift) -> String {
    if rng.below(2) == 0 {
        random_string(rng)
    } else {
        let seed = SEEDS[rng.below(SEEDS.len())];
        mutate(rng, seed)
    }
}

fn lookup(user: &str) -> Option<String> {
    (user == "alice").then(|| "s3cret".to_owned())
}

#[test]
fn hundred_thousand_inputs_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut auth = AdobeAuth::new(Duration::from_secs(30), 64);
    let mut brake = BruteForceBrake::new(BrakeConfig {
        max_entries: 128,
        ..BrakeConfig::default()
    });
    let t0 = Instant::now();
    let mut challenges = 0usize;

    for i in 0..100_000u64 {
        let s = input(&mut rng);
        let now = t0 + Duration::from_millis(i);

        let pairs = parse_query(&s);
        assert!(pairs.len() <= query::MAX_QUERY_PAIRS);
        let (base, suffix) = split_authmod(&s);
        assert!(s.starts_with(base));
        if let Some(suffix) = suffix {
            assert!(suffix.starts_with("authmod="));
            let _ = AuthQuery::parse(suffix);
        }
        if let Ok(t) = parse_tc_url(&s) {
            assert!(t.port != 0);
            assert_eq!(t.scheme, t.scheme.to_ascii_lowercase());
        }
        if let Err(d) = verify_port(Some(&s), 1935) {
            assert!(!d.contains("authmod="), "{d}");
        }

        let tc = if rng.below(3) == 0 {
            None
        } else {
            Some(input(&mut rng))
        };
        let verdict = auth.check_connect(&s, tc.as_deref(), now, &lookup);
        match &verdict {
            ConnectAuth::Rejected {
                description,
                reason,
            } => {
                assert!(description.len() <= 255, "{}", description.len());
                if *reason == AuthFailure::Challenge {
                    challenges += 1;
                    // Answer some challenges with a mangled step 3 built from the real one.
                    let step3 = format!(
                        "live?authmod=adobe&{}&challenge={}&response={}",
                        description.split("?reason=needauth&").nth(1).unwrap_or(""),
                        input(&mut rng),
                        input(&mut rng)
                    );
                    let step3 = mutate(&mut rng, &step3);
                    let again = auth.check_connect(&step3, None, now, &lookup);
                    if let ConnectAuth::Rejected { description, .. } = again {
                        assert!(description.len() <= 255);
                    }
                }
                let ip = IpAddr::V4(Ipv4Addr::from(rng.next() as u32 & 0xff));
                let _ = brake.check(ip, now);
                if reason.counts_as_failure() {
                    brake.record_failure(ip, now);
                }
            }
            ConnectAuth::Accepted { .. } => {}
        }
        assert!(auth.pending_len() <= 64);
        assert!(brake.len() <= 128);
    }
    // The generator did reach the interesting paths.
    assert!(challenges > 1000, "{challenges}");
}
