// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A live publisher's own thread: blocking reads that sleep in the kernel until data arrives, a
//! deadline passes, or the socket is shut down (stop, eviction). Nothing polls: the read timeout
//! is the next deadline (media timeout, or the publisher's own timer).
//!
//! The thread parses and queues media for the element's pad threads; when their queues are
//! full it waits there, does not read, and TCP slows the encoder down. Once downstream has been
//! seen to take media without waiting, the publisher asks this thread to push what a read
//! brought itself ([`Delivery`]), which saves a pad-thread wake-up per message. It lets go of
//! the connection (the [`Seat`]) for that: if a push does not return, the push watchdog
//! (push_watch.rs) seats a new thread that reads on, and the old one leaves when its push
//! returns.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::connection::{Connection, Step};
use super::handler::{CloseReason, Delivery};
use super::listener::{Owner, ServerConfig, Shared, ThreadGuard};
use super::push_watch::{self, PushWatch, Rescue, RESCUE_AFTER};
use super::transport::Transport;
use crate::CAT;

/// Read size once media flows: large reads keep syscalls per media second low.
const READ_CHUNK: usize = 64 * 1024;

/// A read timeout is set again only when it would wake more than this after the next deadline
/// (or the publisher's timer slack, if longer: see [`super::TimerDue`]), or when a read timed
/// out: one setsockopt per read would cost more than the read at full speed. Waking early is
/// harmless: the loop looks at the deadlines again.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// Stack of a publisher thread: the application's pad-added handlers (linking, building
/// decoders) and, with direct delivery, downstream elements run on it. Address space only;
/// untouched pages cost nothing.
pub(super) const PUBLISHER_STACK_SIZE: usize = 8 * 1024 * 1024;

/// What the reading thread owns; whichever thread reads holds it.
struct Reader {
    /// First, so it drops before the socket: the registry entry goes before the descriptor is
    /// closed, whatever happens (a panic included).
    _guard: ThreadGuard,
    conn: Connection,
    stream: Transport,
    read_timeout: Option<Duration>,
    /// The last read took everything the kernel had (it returned less than it could).
    drained: bool,
}

/// A live publisher's connection and the thread that reads it, which can change hands.
pub(super) struct Seat {
    id: u64,
    config: ServerConfig,
    shared: Arc<Shared>,
    /// `None` once the connection is finished.
    reader: Mutex<Option<Reader>>,
    watch: PushWatch,
    /// The delivery of the publish being read, for the watchdog to fall back on: set again
    /// only when the publish changed (a connection may unpublish and publish to another
    /// element), weak so that an element the connection no longer publishes to can go.
    delivery: Mutex<Option<Weak<dyn Delivery>>>,
    /// The address of the delivery in `delivery`, to see without the lock whether it changed.
    delivery_id: AtomicUsize,
    /// A delivery is in progress (plain stores: setting the delivery under a lock at every
    /// read cost cache misses on a thread that wakes up cold).
    delivering: AtomicBool,
    /// Registered with the watchdog (once, at the first delivery); false if it is not running.
    watched: OnceLock<bool>,
    /// A rescue's outcome for the thread it replaced: true once a new thread reads, false if
    /// none could be started (the old one reads on).
    handed_over: Mutex<Option<bool>>,
    handover_done: Condvar,
    /// The watchdog rescued this connection at least once (told once in the log).
    rescued_before: AtomicBool,
    /// Rescues so far. A thread whose delivery saw one leaves, even if its push's disarm
    /// says "kept": the thread that took over may have armed the shared watch again meanwhile
    /// (delivering directly once the element went back to it), which hides the rescue there.
    rescues: AtomicU64,
}

/// Starts reading the publisher's connection on the calling thread (the socket is blocking);
/// returns when the connection is over, or when another thread took it over.
pub(super) fn run(
    id: u64,
    conn: Connection,
    mut stream: Transport,
    pending_out: Vec<u8>,
    config: ServerConfig,
    shared: Arc<Shared>,
) {
    let guard = shared.thread_guard(id);
    shared.claim(id);
    // Replies the socket had not taken yet in the front door.
    if !pending_out.is_empty() {
        let _ = stream.write_all(&pending_out);
    }
    let _ = stream.tcp().set_write_timeout(Some(config.timeout));
    let seat = Arc::new(Seat {
        id,
        config,
        shared,
        reader: Mutex::new(Some(Reader {
            _guard: guard,
            conn,
            stream,
            read_timeout: None,
            drained: true,
        })),
        watch: PushWatch::default(),
        delivery: Mutex::new(None),
        delivery_id: AtomicUsize::new(0),
        delivering: AtomicBool::new(false),
        watched: OnceLock::new(),
        handed_over: Mutex::new(None),
        handover_done: Condvar::new(),
        rescued_before: AtomicBool::new(false),
        rescues: AtomicU64::new(0),
    });
    read_on(seat);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reading loop, on whichever thread holds the seat.
fn read_on(seat: Arc<Seat>) {
    let mut held = lock(&seat.reader);
    seat.watch.bind_to_current_thread();
    loop {
        let Some(reader) = held.as_mut() else {
            return;
        };
        let delivery = match reader.handle_input(&seat.config, &seat.shared) {
            Ok(delivery) => delivery,
            Err(reason) => return finish(held, reason),
        };
        if let Some(delivery) = delivery {
            // Let go of the connection while pushing, so a rescuer can take it.
            drop(held);
            if !seat.deliver(delivery) {
                return;
            }
            held = lock(&seat.reader);
        }
        let Some(reader) = held.as_mut() else {
            return;
        };
        if let Err(reason) = reader.wait_for_input(&seat.config, &seat.shared) {
            return finish(held, reason);
        }
    }
}

fn finish(mut held: MutexGuard<'_, Option<Reader>>, reason: CloseReason) {
    if let Some(mut reader) = held.take() {
        reader.conn.finish(reason);
        close(&mut reader.stream);
    }
}

impl Reader {
    /// Handles what was read and writes the replies; when the socket is drained, lets the
    /// publisher wake its pad threads or hand back what this thread should push.
    fn handle_input(
        &mut self,
        config: &ServerConfig,
        shared: &Shared,
    ) -> Result<Option<Arc<dyn Delivery>>, CloseReason> {
        if shared.stopping.load(Ordering::SeqCst) {
            return Err(CloseReason::Shutdown);
        }
        // What the front door left (the first media), then what each read brings.
        match self.conn.drive(Instant::now(), false) {
            Step::Close(reason) => {
                let _ = flush(&mut self.conn, &mut self.stream);
                return Err(reason);
            }
            // Decisions come before media, so this is rare here (a second publish): the
            // thread may block for the answer.
            Step::Waiting => self.conn.wait_for_answer(config.timeout),
            Step::Delayed(_) | Step::Media | Step::NeedInput => {}
        }
        flush(&mut self.conn, &mut self.stream)?;
        // About to wait for the socket: wake the pad threads (or deliver) now. While more
        // input is already there, the next read follows at once and they are woken after it
        // (a wake-up per message would cost a context switch each at full speed). A read that
        // did not fill its room took all there was; asking the kernel (FIONREAD) would cost a
        // system call per message at real-time pace.
        // In direct delivery what this read brought is pushed before the next read either way:
        // a backlog (a publisher catching up, a thread that was kept from its CPU) is pushed
        // read by read, and never wakes the pad threads.
        Ok(if self.drained {
            self.conn.input_drained()
        } else {
            self.conn.input_pending()
        })
    }

    /// Runs due timers, then blocks in a read until data, the next deadline or a shutdown.
    fn wait_for_input(
        &mut self,
        config: &ServerConfig,
        shared: &Shared,
    ) -> Result<(), CloseReason> {
        let now = Instant::now();
        self.conn.run_timers(now)?;
        if let Some(reason) = self.conn.overdue(now, config) {
            return Err(reason);
        }
        let (deadline, latest) = self.conn.wake_window(config, TIMEOUT_SLACK);
        let wait = deadline
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        // A read wakes at the latest after its timeout (from the call); the timeout in place
        // is kept while that is soon enough, since the deadlines are looked at after every
        // read anyway. One shorter than needed is kept too: if the socket goes quiet, the read
        // times out once and the timeout is set again (lengthened at once, it went back and
        // forth twice a second as the statistics timer came and went).
        let reset = match self.read_timeout {
            None => true,
            Some(current) => now + current > latest,
        };
        if reset {
            let _ = self.stream.tcp().set_read_timeout(Some(wait));
            self.read_timeout = Some(wait);
        }
        // Straight into the session's input buffer: the kernel's copy is the only one before
        // chunk reassembly.
        match self
            .stream
            .read_into(self.conn.session.input_buffer(READ_CHUNK), READ_CHUNK)
        {
            Ok((0, _)) => Err(CloseReason::PeerClosed),
            Ok((_, full)) => {
                self.drained = !full;
                self.conn.take_input(None, Instant::now())
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // A deadline: looked at on the next pass.
                self.read_timeout = None;
                self.drained = true;
                Ok(())
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => Ok(()),
            Err(err) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    return Err(CloseReason::Shutdown);
                }
                gst::info!(
                    CAT,
                    "connection {} from {}: {err}",
                    self.conn.id,
                    self.conn.peer
                );
                Err(CloseReason::NetworkError)
            }
        }
    }
}

impl Seat {
    /// Pushes what the publisher queued, on this thread. False if the connection was handed
    /// to another thread meanwhile.
    fn deliver(self: &Arc<Self>, delivery: Arc<dyn Delivery>) -> bool {
        let watched = *self.watched.get_or_init(|| {
            let weak: Weak<dyn Rescue> = Arc::downgrade(&(self.clone() as Arc<dyn Rescue>));
            push_watch::watch(weak)
        });
        if !watched {
            // Without a watchdog nothing is pushed from here.
            delivery.fall_back();
            return true;
        }
        // The weak reference held keeps the address from being reused by another delivery.
        let id = Arc::as_ptr(&delivery) as *const () as usize;
        if self.delivery_id.load(Ordering::Relaxed) != id {
            *lock(&self.delivery) = Some(Arc::downgrade(&delivery));
            self.delivery_id.store(id, Ordering::Relaxed);
        }
        let rescues = self.rescues.load(Ordering::SeqCst);
        self.delivering.store(true, Ordering::Release);
        let kept = delivery.deliver(&self.watch);
        self.delivering.store(false, Ordering::Release);
        if kept && self.rescues.load(Ordering::SeqCst) == rescues {
            return true;
        }
        // Rescued: wait for the rescue to say whether a new thread reads now.
        let mut handed_over = lock(&self.handed_over);
        loop {
            if let Some(new_thread) = handed_over.take() {
                return !new_thread;
            }
            handed_over = self
                .handover_done
                .wait(handed_over)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Rescue for Seat {
    fn watch(&self) -> &PushWatch {
        &self.watch
    }

    fn rescue(self: Arc<Self>) {
        self.rescues.fetch_add(1, Ordering::SeqCst);
        let peer = lock(&self.reader).as_ref().map(|r| r.conn.peer);
        let first = !self.rescued_before.swap(true, Ordering::Relaxed);
        let message = format!(
            "connection {}{}: a push downstream has not returned for {} ms, another thread \
             reads the connection and the pads push from threads of their own",
            self.id,
            peer.map(|p| format!(" from {p}")).unwrap_or_default(),
            RESCUE_AFTER.as_millis()
        );
        if first {
            gst::info!(CAT, "{message}");
        } else {
            gst::debug!(CAT, "{message}");
        }
        if self.delivering.load(Ordering::Acquire) {
            let delivery = lock(&self.delivery).as_ref().and_then(Weak::upgrade);
            if let Some(delivery) = delivery {
                delivery.fall_back();
            }
        }
        let seat = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rtmp-pub-{}", self.id))
            .stack_size(PUBLISHER_STACK_SIZE)
            .spawn(move || read_on(seat));
        let new_thread = match spawned {
            Ok(handle) => {
                self.shared.set_owner(self.id, Owner::Thread(handle));
                true
            }
            Err(err) => {
                gst::warning!(
                    CAT,
                    "cannot start a thread for connection {}: {err}",
                    self.id
                );
                false
            }
        };
        *lock(&self.handed_over) = Some(new_thread);
        self.handover_done.notify_all();
    }
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
