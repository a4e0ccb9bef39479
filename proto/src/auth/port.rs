// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Checking that the client dialed the server's public port, as its tcUrl says.
//!
//! Behind NAT or a proxy the socket's local port says nothing about what the publisher typed; the
//! tcUrl does. A publisher aimed at the wrong port (say a stream meant for another server sharing
//! an address) is turned away with a description saying so.

use super::tcurl::parse_tc_url;

/// Accepts the connect when its tcUrl names (or implies by its scheme) `expected_port`.
///
/// A connect without a tcUrl is rejected: nothing shows which port the client meant, and every
/// known publisher (FFmpeg, OBS, GStreamer rtmp2) sends one. The returned description is meant for
/// the `NetConnection.Connect.Rejected` status; it never contains `authmod=` (so no client takes it
/// for an authentication challenge) and never quotes the tcUrl.
///
/// # Errors
/// The description, when the tcUrl is missing, unparsable, or names another port.
pub fn verify_port(tc_url: Option<&str>, expected_port: u16) -> Result<(), String> {
    let Some(tc_url) = tc_url else {
        return Err(format!(
            "Connection rejected: the connect command has no tcUrl, so the port cannot be \
             verified (expected port {expected_port})"
        ));
    };
    let parsed = parse_tc_url(tc_url)
        .map_err(|e| format!("Connection rejected: {e} (expected port {expected_port})"))?;
    if parsed.port == expected_port {
        Ok(())
    } else {
        Err(format!(
            "Connection rejected: port mismatch, tcUrl port {} but this server's public port is \
             {expected_port}",
            parsed.port
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(tc: Option<&str>, expected: u16) -> String {
        match verify_port(tc, expected) {
            Ok(()) => panic!("{tc:?} accepted for {expected}"),
            Err(d) => {
                assert!(!d.contains("authmod="), "{d}");
                d
            }
        }
    }

    #[test]
    fn matching_ports_pass() {
        assert_eq!(verify_port(Some("rtmp://h/app"), 1935), Ok(()));
        assert_eq!(verify_port(Some("rtmp://h:1935/app"), 1935), Ok(()));
        assert_eq!(verify_port(Some("rtmps://h/app"), 443), Ok(()));
        assert_eq!(verify_port(Some("RTMP://u:p@h:19350/app"), 19350), Ok(()));
        assert_eq!(verify_port(Some("rtmp://[::1]:1940/app"), 1940), Ok(()));
        assert_eq!(
            verify_port(Some("rtmp://h:1940/app?authmod=adobe&user=x"), 1940),
            Ok(())
        );
        assert_eq!(
            verify_port(Some("rtmp://h:1940/app?x=y?authmod=adobe&user=x"), 1940),
            Ok(())
        );
    }

    #[test]
    fn mismatch_names_both_ports() {
        let d = rejected(Some("rtmp://h:1936/app"), 1935);
        assert!(
            d.contains("mismatch") && d.contains("1936") && d.contains("1935"),
            "{d}"
        );
        // Default port implied by the scheme.
        let d = rejected(Some("rtmps://h/app"), 1935);
        assert!(d.contains("443"), "{d}");
        let d = rejected(Some("rtmp://h/app"), 1936);
        assert!(d.contains("1935") && d.contains("1936"), "{d}");
    }

    #[test]
    fn missing_or_bad_tcurl_is_rejected() {
        let d = rejected(None, 1935);
        assert!(d.contains("no tcUrl"), "{d}");
        let d = rejected(Some("rtmp://h:99999/app"), 1935);
        assert!(d.contains("port"), "{d}");
        rejected(Some("garbage"), 1935);
        rejected(Some(""), 1935);
        // The description does not echo what the client sent.
        let d = rejected(Some("rtmp://evil:0/?authmod=adobe"), 1935);
        assert!(!d.contains("evil"), "{d}");
    }
}
