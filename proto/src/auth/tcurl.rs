// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Parsing the connect command's `tcUrl` (`rtmp://[user@]host[:port]/app[/inst][?query]`) far
//! enough to learn which port the client dialed.

use std::fmt;

/// Schemes RTMP clients put in a tcUrl. Anything else is not an RTMP URL.
const KNOWN_SCHEMES: [&str; 6] = ["rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpts", "rtmpte"];

/// A parsed tcUrl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcUrl {
    /// Scheme, lowercased.
    pub scheme: String,
    /// Host name or address; IPv6 without the brackets.
    pub host: String,
    /// The explicit port, or the scheme's default.
    pub port: u16,
    /// Whether the URL named the port.
    pub port_explicit: bool,
    /// Path after the authority without the leading `/` and without the query (`app/inst`).
    pub app: String,
    /// Everything after the first `?` of the path, if any.
    pub query: Option<String>,
}

/// Why a tcUrl could not be parsed. The messages never quote the input, so they are safe to send
/// back to the client or log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcUrlError {
    /// No `scheme://`.
    MissingScheme,
    /// A scheme that is not one of rtmp, rtmps, rtmpt, rtmpe, rtmpts, rtmpte.
    UnsupportedScheme,
    /// Nothing between `://` (or `user@`) and the port or path.
    EmptyHost,
    /// The host has characters no host name or address has, or unbalanced IPv6 brackets.
    InvalidHost,
    /// The port is empty, not decimal, 0, or above 65535.
    InvalidPort,
}

impl fmt::Display for TcUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcUrlError::MissingScheme => "tcUrl has no scheme",
            TcUrlError::UnsupportedScheme => "tcUrl scheme is not an RTMP scheme",
            TcUrlError::EmptyHost => "tcUrl has no host",
            TcUrlError::InvalidHost => "tcUrl host is malformed",
            TcUrlError::InvalidPort => "tcUrl port is malformed or out of range",
        })
    }
}

impl std::error::Error for TcUrlError {}

/// The port a client dials when the URL names none: 443 for the TLS schemes, 80 for the HTTP
/// tunnel, 1935 otherwise (also for unknown schemes). These match FFmpeg and librtmp.
pub fn default_port(scheme: &str) -> u16 {
    match scheme.to_ascii_lowercase().as_str() {
        "rtmps" | "rtmpts" => 443,
        "rtmpt" | "rtmpte" => 80,
        _ => 1935,
    }
}

/// Parses a tcUrl. The scheme is matched case-insensitively; userinfo is skipped; IPv6 hosts must
/// be bracketed.
///
/// # Errors
/// A [`TcUrlError`] naming the part that is missing or malformed.
pub fn parse_tc_url(s: &str) -> Result<TcUrl, TcUrlError> {
    let (scheme, rest) = s.split_once("://").ok_or(TcUrlError::MissingScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if !KNOWN_SCHEMES.contains(&scheme.as_str()) {
        return Err(TcUrlError::UnsupportedScheme);
    }

    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest
        .split_at_checked(authority_end)
        .ok_or(TcUrlError::InvalidHost)?;
    let host_port = match authority.rsplit_once('@') {
        Some((_userinfo, host_port)) => host_port,
        None => authority,
    };
    let (host, port) = split_host_port(host_port)?;
    let (port, port_explicit) = match port {
        Some(text) => (parse_port(text)?, true),
        None => (default_port(&scheme), false),
    };

    let (path, query) = match after.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (after, None),
    };
    let app = path.strip_prefix('/').unwrap_or(path).to_owned();

    Ok(TcUrl {
        scheme,
        host: host.to_owned(),
        port,
        port_explicit,
        app,
        query,
    })
}

/// Splits `host[:port]` or `[v6][:port]`; the port text is returned unparsed.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), TcUrlError> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(TcUrlError::InvalidHost)?;
        if host.is_empty() {
            return Err(TcUrlError::EmptyHost);
        }
        let v6_char = |c: char| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '%');
        // Zone ids after '%' may hold interface names.
        let valid = match host.split_once('%') {
            Some((addr, zone)) => {
                addr.chars().all(v6_char) && zone.chars().all(|c| c.is_ascii_alphanumeric())
            }
            None => host.chars().all(v6_char),
        };
        if !valid || !host.contains(':') {
            return Err(TcUrlError::InvalidHost);
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(TcUrlError::InvalidHost),
            },
        };
    }

    // More than one ':' means an unbracketed IPv6 address, whose port cannot be told apart.
    if s.matches(':').count() > 1 {
        return Err(TcUrlError::InvalidHost);
    }
    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    if host.is_empty() {
        return Err(TcUrlError::EmptyHost);
    }
    let bad = |c: char| c.is_whitespace() || c.is_control() || "[]@#<>\\\"".contains(c);
    if host.chars().any(bad) {
        return Err(TcUrlError::InvalidHost);
    }
    Ok((host, port))
}

fn parse_port(text: &str) -> Result<u16, TcUrlError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TcUrlError::InvalidPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(TcUrlError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> TcUrl {
        match parse_tc_url(s) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn plain_rtmp_defaults_to_1935() {
        let t = parsed("rtmp://h/app");
        assert_eq!(t.scheme, "rtmp");
        assert_eq!(t.host, "h");
        assert_eq!(t.port, 1935);
        assert!(!t.port_explicit);
        assert_eq!(t.app, "app");
        assert_eq!(t.query, None);
    }

    #[test]
    fn explicit_port_and_instance() {
        let t = parsed("rtmp://h:1936/app/inst");
        assert_eq!((t.port, t.port_explicit), (1936, true));
        assert_eq!(t.app, "app/inst");
    }

    #[test]
    fn rtmps_defaults_to_443() {
        let t = parsed("rtmps://h/app");
        assert_eq!(
            (t.scheme.as_str(), t.port, t.port_explicit),
            ("rtmps", 443, false)
        );
    }

    #[test]
    fn other_scheme_defaults() {
        assert_eq!(parsed("rtmpt://h/app").port, 80);
        assert_eq!(parsed("rtmpe://h/app").port, 1935);
        assert_eq!(parsed("rtmpts://h/app").port, 443);
        assert_eq!(parsed("rtmpte://h/app").port, 80);
        assert_eq!(default_port("RTMPS"), 443);
        assert_eq!(default_port("whatever"), 1935);
    }

    #[test]
    fn userinfo_is_skipped() {
        let t = parsed("rtmp://u:p@h:19350/app");
        assert_eq!((t.host.as_str(), t.port), ("h", 19350));
        // A password holding '@' still leaves the last '@' as the separator.
        let t = parsed("rtmp://u:p@ss@h:19350/app");
        assert_eq!((t.host.as_str(), t.port), ("h", 19350));
    }

    #[test]
    fn ipv6_with_and_without_port() {
        let t = parsed("rtmp://[::1]:1940/app");
        assert_eq!(
            (t.host.as_str(), t.port, t.port_explicit),
            ("::1", 1940, true)
        );
        let t = parsed("rtmp://[fe80::1%eth0]/app");
        assert_eq!((t.host.as_str(), t.port), ("fe80::1%eth0", 1935));
        assert_eq!(
            parse_tc_url("rtmp://::1:1940/app"),
            Err(TcUrlError::InvalidHost)
        );
        assert_eq!(
            parse_tc_url("rtmp://[::1/app"),
            Err(TcUrlError::InvalidHost)
        );
        assert_eq!(
            parse_tc_url("rtmp://[::1]x/app"),
            Err(TcUrlError::InvalidHost)
        );
        assert_eq!(parse_tc_url("rtmp://[]/app"), Err(TcUrlError::EmptyHost));
        assert_eq!(
            parse_tc_url("rtmp://[zz]/app"),
            Err(TcUrlError::InvalidHost)
        );
    }

    #[test]
    fn query_is_separated_from_app() {
        let t = parsed("rtmp://h:1940/app?authmod=adobe&user=x");
        assert_eq!(t.port, 1940);
        assert_eq!(t.app, "app");
        assert_eq!(t.query.as_deref(), Some("authmod=adobe&user=x"));
        // OBS: the user's own query, then the auth suffix.
        let t = parsed("rtmp://h/app?x=y?authmod=adobe&user=x");
        assert_eq!(t.query.as_deref(), Some("x=y?authmod=adobe&user=x"));
        // A query right after the authority.
        let t = parsed("rtmp://h:1941?authmod=adobe");
        assert_eq!((t.port, t.app.as_str()), (1941, ""));
    }

    #[test]
    fn uppercase_scheme() {
        let t = parsed("RTMP://H:1937/App");
        assert_eq!(
            (t.scheme.as_str(), t.host.as_str(), t.port),
            ("rtmp", "H", 1937)
        );
        assert_eq!(parsed("RtMpS://h/a").port, 443);
    }

    #[test]
    fn no_path_at_all() {
        let t = parsed("rtmp://h");
        assert_eq!((t.port, t.app.as_str(), t.query.clone()), (1935, "", None));
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(parse_tc_url(""), Err(TcUrlError::MissingScheme));
        assert_eq!(parse_tc_url("garbage"), Err(TcUrlError::MissingScheme));
        assert_eq!(
            parse_tc_url("http://h/app"),
            Err(TcUrlError::UnsupportedScheme)
        );
        assert_eq!(parse_tc_url("://h/app"), Err(TcUrlError::UnsupportedScheme));
        assert_eq!(parse_tc_url("rtmp:///app"), Err(TcUrlError::EmptyHost));
        assert_eq!(parse_tc_url("rtmp://u@/app"), Err(TcUrlError::EmptyHost));
        assert_eq!(parse_tc_url("rtmp://:1935/app"), Err(TcUrlError::EmptyHost));
        assert_eq!(parse_tc_url("rtmp://h o/app"), Err(TcUrlError::InvalidHost));
    }

    #[test]
    fn bad_ports_are_rejected() {
        for url in [
            "rtmp://h:0/app",
            "rtmp://h:99999/app",
            "rtmp://h:65536/app",
            "rtmp://h:/app",
            "rtmp://h:-1/app",
            "rtmp://h:+80/app",
            "rtmp://h:19 35/app",
            "rtmp://h:0000001935/app",
            "rtmp://[::1]:0/app",
        ] {
            assert_eq!(parse_tc_url(url), Err(TcUrlError::InvalidPort), "{url}");
        }
        assert_eq!(parsed("rtmp://h:65535/app").port, 65535);
        assert_eq!(parsed("rtmp://h:01935/app").port, 1935);
    }

    #[test]
    fn errors_do_not_echo_input() {
        let e = parse_tc_url("rtmp://secret-host:99999/app").err();
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            !text.contains("secret") && !text.contains("99999"),
            "{text}"
        );
    }
}
