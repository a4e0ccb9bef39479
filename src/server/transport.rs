// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The byte stream under a session: plain TCP or TLS (RTMPS) over it.
//!
//! Timeouts are set on the TCP socket; with TLS, rustls surfaces them from its reads and writes
//! unchanged, so the connection loop treats both transports alike.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use bytes::BytesMut;

pub(super) enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Transport {
    pub fn new(stream: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) -> io::Result<Self> {
        Ok(match tls {
            None => Transport::Plain(stream),
            Some(config) => {
                let conn =
                    rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                Transport::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
            }
        })
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => s.get_ref(),
        }
    }

    /// Reads into `buf` without blocking (the socket is non-blocking in the front door): the
    /// TLS handshake progresses on the way. `WouldBlock` means nothing more for now.
    pub fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }

    /// Queues `data` and writes what the socket takes now, without blocking; the rest waits
    /// in `pending` (plain) or in rustls (TLS) for [`Transport::write_pending`].
    pub fn write_nonblocking(&mut self, data: &[u8], pending: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Transport::Plain(_) => pending.extend_from_slice(data),
            Transport::Tls(s) => s.conn.writer().write_all(data)?,
        }
        self.write_pending(pending)
    }

    /// Writes queued output until done or the socket would block.
    pub fn write_pending(&mut self, pending: &mut Vec<u8>) -> io::Result<()> {
        let result = match self {
            Transport::Plain(s) => {
                let mut written = 0;
                let result = loop {
                    if written == pending.len() {
                        break Ok(());
                    }
                    match s.write(&pending[written..]) {
                        Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => written += n,
                        Err(err) => break Err(err),
                    }
                };
                pending.drain(..written);
                result
            }
            Transport::Tls(s) => loop {
                if !s.conn.wants_write() {
                    break Ok(());
                }
                if let Err(err) = s.conn.write_tls(&mut s.sock) {
                    break Err(err);
                }
            },
        };
        match result {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Whether output is still waiting for the socket.
    pub fn has_pending_output(&self, pending: &[u8]) -> bool {
        match self {
            Transport::Plain(_) => !pending.is_empty(),
            Transport::Tls(s) => s.conn.wants_write(),
        }
    }
}

impl Transport {
    /// Reads up to `max` bytes straight into the tail of `buf` (a session's input buffer, with
    /// that much room reserved): plain TCP with recv(2) into the spare capacity, so input is
    /// copied once, by the kernel; TLS decrypts into a scratch buffer first (decryption costs
    /// far more than that copy). The protocol crate has no `unsafe`; this is where it lives.
    ///
    /// Returns the bytes read and whether the read took all the room it had (then more input
    /// may be waiting; otherwise the kernel had no more).
    pub fn read_into(&mut self, buf: &mut BytesMut, max: usize) -> io::Result<(usize, bool)> {
        match self {
            Transport::Plain(s) => {
                let spare = buf.spare_capacity_mut();
                let len = spare.len().min(max);
                let n = socket2::SockRef::from(&*s)
                    .recv(&mut spare[..len])?
                    .min(len);
                // SAFETY: recv(2) initialized the first `n` bytes it was given, and `n` is
                // within the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                Ok((n, n == len))
            }
            Transport::Tls(s) => read_tls_into(s, buf, max),
        }
    }
}

/// [`Transport::read_into`] for TLS. Not inlined: its 16 KiB scratch buffer on the stack made
/// every plain read's frame that large, and the stack probes touched four pages at each read (a
/// cache and TLB miss each, measured as 1 % of the CPU at 150 publishers).
#[inline(never)]
fn read_tls_into(
    s: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    buf: &mut BytesMut,
    max: usize,
) -> io::Result<(usize, bool)> {
    let mut scratch = [0u8; 16 * 1024];
    let len = max.min(scratch.len());
    let n = s.read(&mut scratch[..len])?;
    buf.extend_from_slice(&scratch[..n]);
    // A short read may leave records on the socket: the pad threads are woken a little early
    // then, which is harmless.
    Ok((n, n == len))
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// A TLS server configuration from a PEM certificate chain and a PEM private key.
pub fn tls_config(certificate: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| format!("cannot read certificate {}: {e}", certificate.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate {}: {e}", certificate.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read private key {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    Ok(Arc::new(config))
}
