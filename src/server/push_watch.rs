// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The watchdog behind direct delivery: a publisher's reading thread may push its media
//! downstream itself (no pad-thread wake per message), because one thread per process watches
//! those pushes and, when one has not returned for [`RESCUE_AFTER`], gives the connection to a
//! fresh reading thread. A sink that waits for another pad's data (preroll, a muxer) then gets
//! it, as with pad threads; the stuck thread leaves once its push returns.
//!
//! A push is armed and disarmed with two atomic stores: no lock and no wake-up on the media
//! path. The watchdog looks every [`TICK`] while a watched connection exists, and sleeps
//! otherwise.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// A push that has not returned after this long is taken to wait for something only the
/// connection's next messages can bring.
pub(super) const RESCUE_AFTER: Duration = Duration::from_millis(200);

/// How often the watchdog looks while it watches anything: a stuck push is claimed 200-300 ms
/// after it started (up to [`TIMER_SLACK`] later). Each look is a timer wake-up (a few microseconds on a VM), paid whether
/// or not anything is armed: at 50 ms it was a twentieth of a lone publisher's CPU.
const TICK: Duration = Duration::from_millis(100);

/// No push in progress.
const IDLE: u64 = 0;
/// The watchdog gave the connection to another thread during this push.
const RESCUED: u64 = u64::MAX;

fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // Never IDLE: the epoch is taken before the first push is armed.
    (EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64).max(1)
}

/// The push a reading thread has in progress, if any.
#[derive(Debug, Default)]
pub struct PushWatch {
    started_ns: AtomicU64,
    /// The kernel's id of the thread that pushes (0: unknown).
    thread: AtomicI32,
}

impl PushWatch {
    /// The calling thread is the one whose pushes are armed from now on.
    pub fn bind_to_current_thread(&self) {
        // SAFETY: gettid has no arguments and cannot fail.
        self.thread
            .store(unsafe { libc::gettid() }, Ordering::Relaxed);
    }

    /// A push starts.
    pub fn arm(&self) {
        self.started_ns.store(now_ns(), Ordering::Release);
    }

    /// The push returned: true if this thread still owns the connection, false if the
    /// watchdog handed it over meanwhile.
    pub fn disarm(&self) -> bool {
        self.started_ns.swap(IDLE, Ordering::AcqRel) != RESCUED
    }

    /// For the watchdog: claims the connection if its push has been going on for `after`.
    fn claim_if_stuck(&self, after: Duration) -> bool {
        let started = self.started_ns.load(Ordering::Acquire);
        if started == IDLE || started == RESCUED {
            return false;
        }
        let pushing = now_ns().saturating_sub(started);
        if pushing < after.as_nanos() as u64 {
            return false;
        }
        let within_longer_delay = pushing < UNINTERRUPTIBLE_FACTOR * after.as_nanos() as u64;
        match thread_state(self.thread.load(Ordering::Relaxed)) {
            // A thread that is running or waits for a CPU is not stuck, only slow on a busy
            // machine: taking its connection away would cost most when CPU is short.
            Some('R') => return false,
            // Asleep in the kernel itself (a page fault behind the memory map lock on a
            // saturated machine, or a disk write) rather than in a downstream element's wait:
            // given longer.
            Some('D') if within_longer_delay => return false,
            // On a machine with more runnable threads than CPUs can take, a push asleep may
            // wait for a lock whose holder waits for a CPU: given longer too, since a new
            // reading thread and pad threads would only add to the load.
            _ if within_longer_delay && machine_saturated() => return false,
            _ => {}
        }
        self.started_ns
            .compare_exchange(started, RESCUED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// A push asleep in the kernel itself (state `D`), or asleep while the machine is saturated,
/// is claimed this many times later than one asleep in a wait of its own (state `S`:
/// GStreamer's waits are futexes and poll) on a machine with CPU to spare.
const UNINTERRUPTIBLE_FACTOR: u64 = 5;

/// Whether more threads are runnable right now than twice the CPUs (the fourth field of
/// /proc/loadavg counts them, system-wide).
fn machine_saturated() -> bool {
    let Ok(loadavg) = std::fs::read_to_string("/proc/loadavg") else {
        return false;
    };
    let runnable = loadavg
        .split_ascii_whitespace()
        .nth(3)
        .and_then(|f| f.split_once('/'))
        .and_then(|(running, _)| running.parse::<usize>().ok());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    runnable.is_some_and(|r| r > 2 * cpus)
}

/// The state letter of thread `tid` of this process (`R` running or runnable, `S` asleep, `D`
/// asleep uninterruptibly...) from its stat file; `None` when unknown.
fn thread_state(tid: i32) -> Option<char> {
    if tid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// What the watchdog can do for a connection whose push is stuck.
pub(super) trait Rescue: Send + Sync {
    fn watch(&self) -> &PushWatch;
    /// Called once the watchdog has claimed the connection: start another reading thread.
    fn rescue(self: Arc<Self>);
}

struct Watchdog {
    watched: Mutex<Vec<Weak<dyn Rescue>>>,
    wake: Condvar,
}

static WATCHDOG: Watchdog = Watchdog {
    watched: Mutex::new(Vec::new()),
    wake: Condvar::new(),
};

/// Starts the watchdog thread once; false if it could not be started (then nothing may be
/// pushed from a reading thread).
fn started() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("rtmp-push-watch".into())
            .stack_size(256 * 1024)
            .spawn(|| WATCHDOG.run());
        match spawned {
            Ok(_) => true,
            Err(err) => {
                gst::warning!(crate::CAT, "cannot start the push watchdog: {err}");
                false
            }
        }
    })
}

/// Watches `target` until it is dropped. False if there is no watchdog: the caller must not
/// push from its reading thread.
pub(super) fn watch(target: Weak<dyn Rescue>) -> bool {
    if !started() {
        return false;
    }
    let mut watched = WATCHDOG.watched.lock().unwrap_or_else(|e| e.into_inner());
    watched.push(target);
    if watched.len() == 1 {
        WATCHDOG.wake.notify_one();
    }
    true
}

/// How late the kernel may wake the watchdog, so its look rides on another wake-up of the CPU
/// (a timer of any thread) rather than waking an idle one: on a VM each wake of an idle vCPU
/// costs tens of microseconds, and alone with one publisher the looks were a twenty-fifth of
/// the process's CPU. A stuck push is then claimed 200-350 ms after it started.
const TIMER_SLACK: Duration = Duration::from_millis(50);

impl Watchdog {
    fn run(&self) {
        // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer and changes only the
        // calling thread's timer slack.
        unsafe {
            libc::prctl(
                libc::PR_SET_TIMERSLACK,
                TIMER_SLACK.as_nanos() as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            watched.retain(|w| w.strong_count() > 0);
            if watched.is_empty() {
                watched = self.wake.wait(watched).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let stuck: Vec<Arc<dyn Rescue>> = watched
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|t| t.watch().claim_if_stuck(RESCUE_AFTER))
                .collect();
            drop(watched);
            for target in stuck {
                target.rescue();
            }
            watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            watched = self
                .wake
                .wait_timeout(watched, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Target {
        watch: PushWatch,
        rescued: AtomicUsize,
    }

    impl Rescue for Target {
        fn watch(&self) -> &PushWatch {
            &self.watch
        }
        fn rescue(self: Arc<Self>) {
            self.rescued.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_push_that_does_not_return_is_rescued_once_and_a_quick_one_never() {
        gst::init().unwrap();
        let target = Arc::new(Target {
            watch: PushWatch::default(),
            rescued: AtomicUsize::new(0),
        });
        let weak: Weak<dyn Rescue> = Arc::downgrade(&(target.clone() as Arc<dyn Rescue>));
        assert!(watch(weak));
        // Quick pushes, for longer than the rescue delay in total.
        let until = Instant::now() + RESCUE_AFTER * 2;
        while Instant::now() < until {
            target.watch.arm();
            std::thread::sleep(Duration::from_millis(5));
            assert!(target.watch.disarm(), "a quick push was taken over");
        }
        assert_eq!(target.rescued.load(Ordering::SeqCst), 0);
        // A stuck one (asleep, as a push waiting downstream is).
        target.watch.bind_to_current_thread();
        target.watch.arm();
        // On a saturated machine (tests in parallel) a sleeping push is given five times longer.
        let until = Instant::now() + RESCUE_AFTER * UNINTERRUPTIBLE_FACTOR as u32 + TICK * 3;
        while target.rescued.load(Ordering::SeqCst) == 0 && Instant::now() < until {
            std::thread::sleep(TICK / 2);
        }
        assert_eq!(target.rescued.load(Ordering::SeqCst), 1);
        assert!(!target.watch.disarm(), "the stuck thread must leave");
        // Not rescued again while idle.
        std::thread::sleep(TICK * 3);
        assert_eq!(target.rescued.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_thread_that_runs_is_not_taken_for_stuck() {
        let watch = PushWatch::default();
        watch.bind_to_current_thread();
        watch.arm();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(!watch.claim_if_stuck(Duration::from_millis(10)), "running");
        assert!(watch.disarm());
    }
}
