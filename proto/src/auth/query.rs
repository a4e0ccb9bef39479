// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The `?authmod=...` query that Adobe-style clients append to the connect command's `app` and
//! `tcUrl` strings.
//!
//! Values are taken byte for byte: no percent-decoding, because the clients do not percent-encode
//! what they append and the response is base64 (`+`, `/`, `=` must survive as sent).

/// Marks the start of the authentication suffix. Searched for instead of the first `?` because OBS
/// appends its own `?authmod=...` after any query the user already put in the app
/// (`app?x=y?authmod=adobe&user=u`).
const AUTHMOD_MARKER: &str = "?authmod=";

/// Upper bound on the pairs `parse_query` returns, so a hostile query of thousands of `&`-separated
/// pairs costs no more than a real one. Real clients send at most six.
pub const MAX_QUERY_PAIRS: usize = 32;

/// The authentication parameters of one connect command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthQuery<'a> {
    /// Value of `authmod` (empty when absent).
    pub authmod: &'a str,
    /// User name the client claims.
    pub user: Option<&'a str>,
    /// The client's own challenge (`challenge2` in the clients' sources), hashed as sent.
    pub challenge: Option<&'a str>,
    /// The client's response hash (base64).
    pub response: Option<&'a str>,
    /// The server's opaque value echoed back (empty means "not sent": OBS writes `opaque=` when it
    /// got none).
    pub opaque: Option<&'a str>,
    /// Every other pair, in order.
    pub extra: Vec<(&'a str, &'a str)>,
}

impl<'a> AuthQuery<'a> {
    /// The auth query of a connect command, parsed once: from the `app` property's suffix, else
    /// from the tcUrl's (clients put it in either). None when neither carries one.
    pub fn of_connect(app: &'a str, tc_url: Option<&'a str>) -> Option<Self> {
        split_authmod(app)
            .1
            .or_else(|| tc_url.and_then(|t| split_authmod(t).1))
            .map(AuthQuery::parse)
    }

    /// Reads the pairs of an auth suffix such as `authmod=adobe&user=alice`. The first occurrence
    /// of a key wins, so a repeated key cannot change what an earlier check saw.
    pub fn parse(q: &'a str) -> Self {
        let mut out = AuthQuery::default();
        let mut seen_authmod = false;
        for (key, value) in parse_query(q) {
            let slot = match key {
                "authmod" => {
                    if !seen_authmod {
                        seen_authmod = true;
                        out.authmod = value;
                    }
                    continue;
                }
                "user" => &mut out.user,
                "challenge" => &mut out.challenge,
                "response" => &mut out.response,
                "opaque" => &mut out.opaque,
                _ => {
                    out.extra.push((key, value));
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        out
    }
}

/// Splits `s` at the first `?authmod=` into the part before it and the suffix after the `?`
/// (`authmod=...`). Without the marker the whole string is returned and no suffix.
pub fn split_authmod(s: &str) -> (&str, Option<&str>) {
    let Some(pos) = s.find(AUTHMOD_MARKER) else {
        return (s, None);
    };
    match s.split_at_checked(pos) {
        // The marker starts with the one-byte '?', so the suffix starts one byte further.
        Some((base, rest)) => (base, rest.get(1..)),
        None => (s, None),
    }
}

/// Splits a query on `&` and each pair on its first `=` (a pair without `=` has an empty value).
/// Empty pairs are skipped; at most [`MAX_QUERY_PAIRS`] pairs are returned.
pub fn parse_query(q: &str) -> Vec<(&str, &str)> {
    q.split('&')
        .filter(|pair| !pair.is_empty())
        .take(MAX_QUERY_PAIRS)
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_without_marker_keeps_everything() {
        assert_eq!(split_authmod("live"), ("live", None));
        assert_eq!(split_authmod("live?x=y"), ("live?x=y", None));
        assert_eq!(split_authmod(""), ("", None));
        // The marker must include '?': a bare "authmod=" is part of the name.
        assert_eq!(
            split_authmod("liveauthmod=adobe"),
            ("liveauthmod=adobe", None)
        );
    }

    #[test]
    fn split_ffmpeg_and_rtmp2_app() {
        assert_eq!(
            split_authmod("live?authmod=adobe&user=alice"),
            ("live", Some("authmod=adobe&user=alice"))
        );
        assert_eq!(
            split_authmod("rtmp://h:1935/live?authmod=adobe&user=alice&challenge=c&response=r+/="),
            (
                "rtmp://h:1935/live",
                Some("authmod=adobe&user=alice&challenge=c&response=r+/=")
            )
        );
    }

    #[test]
    fn split_obs_app_with_own_query() {
        assert_eq!(
            split_authmod("live?x=y?authmod=adobe&user=alice"),
            ("live?x=y", Some("authmod=adobe&user=alice"))
        );
    }

    #[test]
    fn split_uses_first_marker() {
        assert_eq!(
            split_authmod("a?authmod=adobe&user=b?authmod=x"),
            ("a", Some("authmod=adobe&user=b?authmod=x"))
        );
    }

    #[test]
    fn split_handles_multibyte_text() {
        assert_eq!(
            split_authmod("é?authmod=ü&user=ß"),
            ("é", Some("authmod=ü&user=ß"))
        );
    }

    #[test]
    fn parse_query_splits_on_first_equals_without_decoding() {
        assert_eq!(
            parse_query("response=a9KN+97RMw==&opaque=&flag&&x=%41"),
            vec![
                ("response", "a9KN+97RMw=="),
                ("opaque", ""),
                ("flag", ""),
                ("x", "%41")
            ]
        );
        assert!(parse_query("").is_empty());
        assert!(parse_query("&&&").is_empty());
    }

    #[test]
    fn parse_query_is_bounded() {
        let q = "a=b&".repeat(10_000);
        assert_eq!(parse_query(&q).len(), MAX_QUERY_PAIRS);
    }

    #[test]
    fn auth_query_reads_all_fields() {
        let q = AuthQuery::parse(
            "authmod=adobe&user=alice&challenge=AbCd+w==&response=R/x=&opaque=Vb3xQm2P&z=1",
        );
        assert_eq!(q.authmod, "adobe");
        assert_eq!(q.user, Some("alice"));
        assert_eq!(q.challenge, Some("AbCd+w=="));
        assert_eq!(q.response, Some("R/x="));
        assert_eq!(q.opaque, Some("Vb3xQm2P"));
        assert_eq!(q.extra, vec![("z", "1")]);
    }

    #[test]
    fn auth_query_first_key_wins() {
        let q = AuthQuery::parse("authmod=adobe&user=alice&user=bob&authmod=llnw");
        assert_eq!(q.authmod, "adobe");
        assert_eq!(q.user, Some("alice"));
    }

    #[test]
    fn auth_query_missing_fields() {
        let q = AuthQuery::parse("user");
        assert_eq!(q.authmod, "");
        assert_eq!(q.user, Some(""));
        assert_eq!(q.challenge, None);
        assert_eq!(q.response, None);
        assert_eq!(q.opaque, None);
    }
}
