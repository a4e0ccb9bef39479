// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A live publisher's own thread: blocking reads that sleep in the kernel until data arrives, a
//! deadline passes, or the socket is shut down (stop, eviction). Nothing polls: the read timeout
//! is the next deadline (media timeout, or the publisher's own timer).
//!
//! The thread parses, and queues media for the element's pad threads; when their queues are
//! full it waits there, does not read, and TCP slows the encoder down.

use std::io::{ErrorKind, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::connection::{Connection, Step};
use super::handler::CloseReason;
use super::listener::{ServerConfig, Shared};
use super::transport::Transport;
use crate::CAT;

/// Read size once media flows: large reads keep syscalls per media second low.
const READ_CHUNK: usize = 64 * 1024;

/// A read timeout is set again only when the next deadline moved by more than this (one
/// setsockopt per read would cost more than the read at full speed). Waking early is harmless:
/// the loop looks at the deadlines again.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// Runs the connection until it ends, then finishes it. The socket is blocking.
pub(super) fn run(
    mut conn: Connection,
    stream: &mut Transport,
    config: &ServerConfig,
    shared: &Shared,
) {
    let _ = stream.tcp().set_write_timeout(Some(config.timeout));
    let mut read_timeout: Option<Duration> = None;
    // The last read took everything the kernel had (it returned less than it could).
    let mut drained = true;
    let reason = loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break CloseReason::Shutdown;
        }
        // What the front door left (the first media), then what each read brings.
        match conn.drive(Instant::now(), false) {
            Step::Close(reason) => {
                let _ = flush(&mut conn, stream);
                break reason;
            }
            // Decisions come before media, so this is rare here (a second publish): the
            // thread may block for the answer.
            Step::Waiting => conn.wait_for_answer(config.timeout),
            Step::Delayed(_) | Step::Media | Step::NeedInput => {}
        }
        if let Err(reason) = flush(&mut conn, stream) {
            break reason;
        }
        // About to wait for the socket: wake the pad threads now. While more input is already
        // there, the next read follows at once and they are woken after it (a wake-up per
        // message would cost a context switch each at full speed). A read that did not fill
        // its room took all there was; asking the kernel (FIONREAD) would cost a system call
        // per message at real-time pace.
        if drained {
            conn.input_drained();
        }
        let now = Instant::now();
        if let Err(reason) = conn.run_timers(now) {
            break reason;
        }
        if let Some(reason) = conn.overdue(now, config) {
            break reason;
        }
        let wait = conn
            .deadline(config)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        let reset = match read_timeout {
            None => true,
            Some(current) => {
                wait + TIMEOUT_SLACK < current || wait > current + Duration::from_secs(1)
            }
        };
        if reset {
            let _ = stream.tcp().set_read_timeout(Some(wait));
            read_timeout = Some(wait);
        }
        // Straight into the session's input buffer: the kernel's copy is the only one before
        // chunk reassembly.
        match stream.read_into(conn.session.input_buffer(READ_CHUNK), READ_CHUNK) {
            Ok((0, _)) => break CloseReason::PeerClosed,
            Ok((_, full)) => {
                drained = !full;
                if let Err(reason) = conn.take_input(None, Instant::now()) {
                    break reason;
                }
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // A deadline: looked at on the next pass.
                read_timeout = None;
                drained = true;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    break CloseReason::Shutdown;
                }
                gst::info!(CAT, "connection {} from {}: {err}", conn.id, conn.peer);
                break CloseReason::NetworkError;
            }
        }
    };
    conn.finish(reason);
    close(stream);
}

fn flush(conn: &mut Connection, stream: &mut Transport) -> Result<(), CloseReason> {
    let out = conn.session.take_output();
    if out.is_empty() {
        return Ok(());
    }
    // flush: with TLS the records are only sent to the socket then.
    stream
        .write_all(&out)
        .and_then(|()| stream.flush())
        .map_err(|err| {
            gst::info!(CAT, "write to {} failed: {err}", conn.peer);
            CloseReason::NetworkError
        })
}

/// Says goodbye on TLS and shuts the socket down.
pub(super) fn close(stream: &mut Transport) {
    if let Transport::Tls(tls) = stream {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    let _ = stream.tcp().shutdown(std::net::Shutdown::Both);
}
