// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The PROXY protocol (v1 and v2, HAProxy's specification): a load balancer in front of the
//! port prefixes each connection with the client's address. Parsing is the `ppp` crate's; this
//! module decides which peers must send a header and what a header means for the connection.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use ppp::{v1, v2, HeaderResult, PartialResult};

/// A v1 header is at most 107 bytes; a v2 header is 16 bytes plus its addresses and TLVs. Real
/// load balancers send well under this; a "header" still incomplete at this size is an attack.
pub const MAX_HEADER_BYTES: usize = 1024;

/// Which peers are load balancers whose PROXY header is trusted.
#[derive(Debug, Clone, Default)]
pub struct ProxyPolicy {
    /// Empty: every peer is a proxy.
    trusted: Vec<IpNet>,
}

impl ProxyPolicy {
    /// Parses `trusted-proxies`: comma-separated addresses or CIDR ranges (spaces allowed).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut trusted = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("'{item}' is not an address or a CIDR range"))?,
            };
            trusted.push(net);
        }
        Ok(ProxyPolicy { trusted })
    }

    /// Whether a connection from `ip` must begin with a PROXY header.
    pub fn is_proxy(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.is_empty() || self.trusted.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`; lists name it as `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the first bytes of a proxied connection say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyHeader {
    /// More bytes are needed.
    Incomplete,
    /// A header of `length` bytes. `client` is the address it carries, or `None` when the
    /// proxy speaks for itself (v2 LOCAL, e.g. a health check; v1 UNKNOWN; a Unix socket).
    Complete {
        length: usize,
        client: Option<SocketAddr>,
    },
    /// Not a PROXY header, or a broken one: the connection is closed.
    Invalid(String),
}

/// Parses the start of a connection from a proxy (`input` is what arrived so far).
pub fn parse(input: &[u8]) -> ProxyHeader {
    let result = HeaderResult::parse(input);
    if result.is_incomplete() {
        return if input.len() >= MAX_HEADER_BYTES {
            ProxyHeader::Invalid(format!(
                "no PROXY header in the first {MAX_HEADER_BYTES} bytes"
            ))
        } else {
            ProxyHeader::Incomplete
        };
    }
    match result {
        HeaderResult::V1(Ok(header)) => ProxyHeader::Complete {
            length: header.header.len(),
            client: match header.addresses {
                v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                v1::Addresses::Unknown => None,
            },
        },
        HeaderResult::V2(Ok(header)) => ProxyHeader::Complete {
            length: header.header.len(),
            client: match (header.command, header.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                (_, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                _ => None,
            },
        },
        HeaderResult::V1(Err(err)) => ProxyHeader::Invalid(format!("bad PROXY v1 header: {err}")),
        HeaderResult::V2(Err(err)) => ProxyHeader::Invalid(format!("bad PROXY v2 header: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

    fn v2_tcp4(command: u8, src: [u8; 4], sport: u16) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(0x11); // TCP over IPv4
        h.extend_from_slice(&12u16.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&[10, 0, 0, 1]);
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&1935u16.to_be_bytes());
        h
    }

    #[test]
    fn v1_gives_the_client_and_its_length() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 50000 1935\r\n";
        let mut input = line.to_vec();
        input.extend_from_slice(&[3, 0, 0, 0]); // the RTMP handshake follows
        assert_eq!(
            parse(&input),
            ProxyHeader::Complete {
                length: line.len(),
                client: Some("203.0.113.7:50000".parse().unwrap()),
            }
        );
        let v6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 1935\r\n";
        assert!(matches!(
            parse(v6),
            ProxyHeader::Complete { client: Some(a), .. } if a == "[2001:db8::1]:4000".parse().unwrap()
        ));
        assert!(matches!(
            parse(b"PROXY UNKNOWN\r\n"),
            ProxyHeader::Complete { client: None, .. }
        ));
    }

    #[test]
    fn v2_gives_the_client_and_local_speaks_for_the_proxy() {
        let header = v2_tcp4(1, [198, 51, 100, 9], 40000);
        let mut input = header.clone();
        input.push(3);
        assert_eq!(
            parse(&input),
            ProxyHeader::Complete {
                length: 28,
                client: Some("198.51.100.9:40000".parse().unwrap()),
            }
        );
        assert_eq!(
            parse(&v2_tcp4(0, [198, 51, 100, 9], 40000)),
            ProxyHeader::Complete {
                length: 28,
                client: None
            }
        );
    }

    #[test]
    fn a_header_in_pieces_is_incomplete_until_whole() {
        let header = v2_tcp4(1, [192, 0, 2, 1], 1);
        for cut in [1, 5, 12, 15, 27] {
            assert_eq!(
                parse(&header[..cut]),
                ProxyHeader::Incomplete,
                "cut at {cut}"
            );
        }
        let line = b"PROXY TCP4 192.0.2.1 10.0.0.1 1 1935\r\n";
        for cut in [1, 5, 20, line.len() - 1] {
            assert_eq!(parse(&line[..cut]), ProxyHeader::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn an_rtmp_handshake_or_garbage_is_invalid() {
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0; 64]);
        assert!(matches!(parse(&c0c1), ProxyHeader::Invalid(_)));
        assert!(matches!(
            parse(b"PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n"),
            ProxyHeader::Invalid(_)
        ));
        // A v1 line that never ends.
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; MAX_HEADER_BYTES]].concat();
        assert!(matches!(parse(&endless), ProxyHeader::Invalid(_)));
    }

    #[test]
    fn trusted_lists() {
        let policy = ProxyPolicy::parse("10.0.0.0/8, 192.168.1.5 ,2001:db8::/32").unwrap();
        assert!(policy.is_proxy("10.2.3.4".parse().unwrap()));
        assert!(policy.is_proxy("192.168.1.5".parse().unwrap()));
        assert!(policy.is_proxy("::ffff:10.9.9.9".parse().unwrap()));
        assert!(policy.is_proxy("2001:db8::7".parse().unwrap()));
        assert!(!policy.is_proxy("192.168.1.6".parse().unwrap()));
        assert!(ProxyPolicy::parse("")
            .unwrap()
            .is_proxy("8.8.8.8".parse().unwrap()));
        assert!(ProxyPolicy::parse("10.0.0.0/33").is_err());
        assert!(ProxyPolicy::parse("lb.example").is_err());
    }
}
