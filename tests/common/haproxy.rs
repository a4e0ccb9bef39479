// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Debian's HAProxy (scripts/deps.sh installs it) in front of an element, as a platform's L4 load
//! balancer: mode tcp, a PROXY protocol header to the element, and its own source address
//! ([`HAPROXY_ADDRESS`]) so the element can tell HAProxy from the clients behind it.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The address HAProxy connects to the element from (`source` of its server line).
pub const HAPROXY_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// Which header HAProxy sends the element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `send-proxy`: the text header, `PROXY TCP4 client server cport sport\r\n`.
    V1,
    /// `send-proxy-v2`: the binary header.
    V2,
}

impl ProxyHeader {
    fn server_option(self) -> &'static str {
        match self {
            ProxyHeader::V1 => "send-proxy",
            ProxyHeader::V2 => "send-proxy-v2",
        }
    }
}

/// A running `haproxy -db`: clients connect to 127.0.0.1:`port`, HAProxy connects from
/// [`HAPROXY_ADDRESS`] to the element's port on 127.0.0.1. Killed when dropped.
pub struct HaProxy {
    child: Child,
    /// The front port (the load balancer's: the element's `public-port`).
    pub port: u16,
    pub config: PathBuf,
    stats_socket: PathBuf,
}

/// The configuration file's text: `front` on 127.0.0.1 to `backend` on 127.0.0.1.
pub fn config_text(front: u16, backend: u16, header: ProxyHeader) -> String {
    format!(
        "{}    server element 127.0.0.1:{backend} {option} source {source}\n",
        config_head(front),
        option = header.server_option(),
        source = HAPROXY_ADDRESS,
    )
}

/// Everything but the servers: `front` on 127.0.0.1 to the backend `ingest`, whose section is
/// left open for the caller's `server` lines (and its `balance`, `default-server` ...).
pub fn config_head(front: u16) -> String {
    format!(
        "# The tests' load balancer (tests/common/haproxy.rs), run in the foreground (-db).
global
    maxconn 1000

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend rtmp_in
    bind 127.0.0.1:{front}
    default_backend ingest

backend ingest
"
    )
}

impl HaProxy {
    /// Starts HAProxy on a free front port in front of `backend` (the element's bound port).
    pub fn start(backend: u16, header: ProxyHeader) -> HaProxy {
        Self::start_on(super::free_port(), backend, header)
    }

    /// Starts HAProxy on `front` (chosen beforehand, e.g. to set the element's `public-port`).
    pub fn start_on(front: u16, backend: u16, header: ProxyHeader) -> HaProxy {
        Self::start_with_config(front, &config_text(front, backend, header))
    }

    /// Starts HAProxy with the configuration `text`, whose frontend binds 127.0.0.1:`front`. A
    /// stats socket is added to its `global` section (one is added when it has none), for
    /// [`Self::server_status`].
    pub fn start_with_config(front: u16, text: &str) -> HaProxy {
        let config = super::tmp_path(&format!("haproxy-{front}.cfg"));
        let socket = super::tmp_path(&format!("haproxy-{front}.sock"));
        let _ = std::fs::remove_file(&socket);
        let stats = format!(
            "    stats socket {} mode 600 level admin\n",
            socket.display()
        );
        let text = match text.find("global\n") {
            Some(at) => {
                let end = at + "global\n".len();
                format!("{}{stats}{}", &text[..end], &text[end..])
            }
            None => format!("global\n{stats}\n{text}"),
        };
        std::fs::write(&config, text).unwrap();
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run haproxy (scripts/deps.sh installs Debian's haproxy)");
        let mut proxy = HaProxy {
            child,
            port: front,
            config,
            stats_socket: socket,
        };
        proxy.wait_listening();
        proxy
    }

    /// HAProxy on `front` spreading connections over `backends` (elements' ports) in turn, with
    /// no stickiness and a PROXY v2 header: each new connection goes to the next element.
    pub fn round_robin(front: u16, backends: &[u16]) -> HaProxy {
        let mut config = config_head(front);
        config += &format!(
            "    balance roundrobin\n    default-server send-proxy-v2 source {HAPROXY_ADDRESS}\n"
        );
        for (i, port) in backends.iter().enumerate() {
            config += &format!("    server ingest-{} 127.0.0.1:{port}\n", i + 1);
        }
        Self::start_with_config(front, &config)
    }

    /// `rtmp://[userinfo@]127.0.0.1:FRONT/app_and_key`.
    pub fn url(&self, userinfo: Option<&str>, app_and_key: &str) -> String {
        match userinfo {
            Some(u) => format!("rtmp://{u}@127.0.0.1:{}/{app_and_key}", self.port),
            None => format!("rtmp://127.0.0.1:{}/{app_and_key}", self.port),
        }
    }

    /// The `status` HAProxy gives `server` of `backend` ("UP", "DOWN", "UP 1/2" ...), from
    /// `show stat` on its stats socket.
    pub fn server_status(&self, backend: &str, server: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut socket = std::os::unix::net::UnixStream::connect(&self.stats_socket).ok()?;
        socket.write_all(b"show stat\n").ok()?;
        let mut csv = String::new();
        socket.read_to_string(&mut csv).ok()?;
        // pxname,svname,...: status is the 18th column.
        csv.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.len() > 17 && fields[0] == backend && fields[1] == server)
                .then(|| fields[17].to_string())
        })
    }

    /// Waits until the front port listens. Polls the kernel's socket table rather than
    /// connecting: a test connection would reach the element through HAProxy.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "haproxy exited ({status}) with {}:\n{}",
                    self.config.display(),
                    std::fs::read_to_string(&self.config).unwrap_or_default()
                );
            }
            if listening_on_loopback(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy does not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether some socket listens on 127.0.0.1:`port` (from /proc/net/tcp).
pub fn listening_on_loopback(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st ...; st 0A is LISTEN.
        fields.len() > 3 && fields[1] == local && fields[3] == "0A"
    })
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stats_socket);
    }
}

/// A PROXY protocol v2 header (PROXY command, TCP over IPv4) saying `source` connected to
/// `destination`, as a load balancer would send it.
pub fn proxy_v2_header(
    source: std::net::SocketAddrV4,
    destination: std::net::SocketAddrV4,
) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x11); // AF_INET, STREAM
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&source.ip().octets());
    h.extend_from_slice(&destination.ip().octets());
    h.extend_from_slice(&source.port().to_be_bytes());
    h.extend_from_slice(&destination.port().to_be_bytes());
    h
}

/// A PROXY protocol v1 header: `PROXY TCP4 src dst sport dport\r\n`.
pub fn proxy_v1_header(
    source: std::net::SocketAddrV4,
    destination: std::net::SocketAddrV4,
) -> Vec<u8> {
    format!(
        "PROXY TCP4 {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    )
    .into_bytes()
}
