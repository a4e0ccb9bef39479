// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Whether a push that took long waited downstream, kept its thread busy, or was only
//! preempted. Direct delivery (pad_queues.rs) must leave a downstream that waits (a sink on its
//! clock, a full queue, a muxer) or works (a converter without a queue, which pad threads run
//! beside the reading), but not a machine short of CPU: there every push now and then takes
//! tens of milliseconds of wall time, and falling back would cost most exactly when CPU is
//! short. The kernel's scheduler statistics of the thread (`/proc/thread-self/schedstat`: time
//! on a CPU, time runnable but waiting for one) tell them apart: work is time on a CPU,
//! preemption is time waiting for one, and a wait is the rest of the wall time, asleep.
//!
//! Asleep, not "it blocked at all": on a saturated machine a push now and then blocks for
//! microseconds on a lock (the allocator's, freeing a buffer) and is then preempted for
//! milliseconds. Counted as a wait (as a voluntary context switch in `getrusage` would), that
//! kept hundreds of publishers from ever switching to direct delivery, and cost the most CPU
//! exactly when it was short.
//!
//! A push that returns within [`CHECK_AFTER`] is quick without asking anything; otherwise the
//! statistics are compared with a baseline taken when the batch started (an open, a read and
//! a close per batch, again per long push).
//!
//! A pad thread's batch follows a wake-up that costs far more than the baseline. A direct
//! delivery follows one read, often of one message: there a baseline each time would be three
//! system calls per message, and nearly every push is quick, which needs no figures. So a
//! direct push is measured ([`Sampler`]) only after the previous push of its pad took
//! [`CHECK_AFTER`] or more unmeasured (which counts neither way), or was measured slow. A
//! downstream that waits or works at every push of a pad is then measured at every push from
//! the second on; one that only looked slow (preempted) is measured once. The watchdog
//! (server/push_watch.rs) covers a push that never returns either way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Pushes that take less wall time than this are quick.
pub(super) const CHECK_AFTER: Duration = Duration::from_millis(2);

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PushKind {
    /// Within [`CHECK_AFTER`], or longer only because the thread was preempted.
    Quick,
    /// The thread slept in it at least [`CHECK_AFTER`] (downstream waited on something).
    Waited,
    /// Downstream used at least [`CHECK_AFTER`] of the thread's CPU.
    Busy,
}

/// The scheduler statistics of a thread at one moment.
#[derive(Debug, Clone, Copy)]
struct Usage {
    at: Instant,
    /// Time on a CPU.
    running: Duration,
    /// Time runnable, waiting for a CPU.
    runnable: Duration,
}

impl Usage {
    /// Opened and closed each time: a descriptor kept per pushing thread (three per publisher)
    /// would come out of the budget `max-connections` raises the process's limit for.
    fn of_this_thread() -> Option<Usage> {
        let file = File::open("/proc/thread-self/schedstat").ok()?;
        let mut text = [0u8; 96];
        let n = file.read_at(&mut text, 0).ok()?;
        let at = Instant::now();
        let mut fields = std::str::from_utf8(&text[..n])
            .ok()?
            .split_ascii_whitespace();
        let mut next = || fields.next()?.parse::<u64>().ok().map(Duration::from_nanos);
        Some(Usage {
            at,
            running: next()?,
            runnable: next()?,
        })
    }
}

/// Judges the pushes of one batch, on the thread that pushes them.
#[derive(Debug)]
pub(super) struct PushJudge {
    /// `None` in an unmeasured batch, or if the figures could not be had.
    baseline: Option<Usage>,
    measured: bool,
    /// A push took [`CHECK_AFTER`] or more in an unmeasured batch.
    missed: bool,
}

impl PushJudge {
    /// Call on the pushing thread before its first push.
    pub fn start() -> Self {
        PushJudge {
            baseline: Usage::of_this_thread(),
            measured: true,
            missed: false,
        }
    }

    /// A batch whose long pushes are not judged (taken as quick, and noted: see
    /// [`PushJudge::missed`]). No system call.
    pub fn unmeasured() -> Self {
        PushJudge {
            baseline: None,
            measured: false,
            missed: false,
        }
    }

    /// [`PushJudge::start`] if `measured`, else [`PushJudge::unmeasured`].
    pub fn start_if(measured: bool) -> Self {
        if measured {
            Self::start()
        } else {
            Self::unmeasured()
        }
    }

    /// An unmeasured batch had a push of [`CHECK_AFTER`] or more.
    pub fn missed(&self) -> bool {
        self.missed
    }

    /// Whether a push that just returned after `took` (wall time) was slow: it worked, or
    /// waited at least `waits_from`. Returns what it did if so.
    pub fn slow(&mut self, took: Duration, waits_from: Duration) -> Option<PushKind> {
        match self.judge(took, waits_from) {
            PushKind::Quick => None,
            kind => Some(kind),
        }
    }

    /// A push just returned after `took` (wall time); a wait counts from `waits_from` asleep.
    pub fn judge(&mut self, took: Duration, waits_from: Duration) -> PushKind {
        if took < CHECK_AFTER {
            return PushKind::Quick;
        }
        if !self.measured {
            self.missed = true;
            return PushKind::Quick;
        }
        let now = Usage::of_this_thread();
        let kind = match (self.baseline, now) {
            (Some(before), Some(after)) => classify(before, after, waits_from),
            // Without the figures, assume the worst: pad threads stay.
            _ if took >= waits_from => PushKind::Waited,
            _ => PushKind::Quick,
        };
        self.baseline = now;
        kind
    }
}

/// Which direct pushes are measured (see the module's doc); one per element. Pads are told
/// apart by their index (modulo 64): a mix-up costs or saves a measurement.
#[derive(Debug, Default)]
pub(super) struct Sampler {
    /// A bit per pad whose next direct push is measured.
    measure_next: AtomicU64,
}

impl Sampler {
    /// Whether the push about to start on pad `index` is measured.
    pub fn measure_this(&self, index: usize) -> bool {
        let bit = 1u64 << (index % 64);
        // One thread delivers at a time: a plain load first keeps the line unwritten.
        self.measure_next.load(Ordering::Relaxed) & bit != 0
            && self.measure_next.fetch_and(!bit, Ordering::Relaxed) & bit != 0
    }

    /// The push on pad `index` that just ended, `slow` as judged: the pad's next push is
    /// measured after a long one that was not, and after one measured slow (a pad slow at
    /// every push is measured at every push, until delivery goes back to pad threads).
    pub fn pushed(&self, index: usize, judge: &PushJudge, slow: bool) {
        if judge.missed() || (judge.measured && slow) {
            self.measure_next
                .fetch_or(1u64 << (index % 64), Ordering::Relaxed);
        }
    }
}

fn classify(before: Usage, after: Usage, waits_from: Duration) -> PushKind {
    let running = after.running.saturating_sub(before.running);
    if running >= CHECK_AFTER {
        return PushKind::Busy;
    }
    let runnable = after.runnable.saturating_sub(before.runnable);
    let asleep = after
        .at
        .saturating_duration_since(before.at)
        .saturating_sub(running + runnable);
    if asleep >= waits_from.max(CHECK_AFTER) {
        PushKind::Waited
    } else {
        PushKind::Quick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn sleeping_is_a_wait_spinning_is_work_and_a_short_push_is_quick() {
        let mut judge = PushJudge::start();
        assert_eq!(
            judge.judge(Duration::from_micros(300), 5 * MS),
            PushKind::Quick
        );

        let start = Instant::now();
        std::thread::sleep(10 * MS);
        assert_eq!(judge.judge(start.elapsed(), 5 * MS), PushKind::Waited);

        // Spins until the thread itself has run 10 ms (whatever else runs).
        let start = Instant::now();
        let running_before = Usage::of_this_thread().unwrap().running;
        let mut x = 0u64;
        while Usage::of_this_thread().unwrap().running - running_before < 10 * MS {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        assert_eq!(judge.judge(start.elapsed(), 5 * MS), PushKind::Busy);
    }

    #[test]
    fn preemption_and_a_brief_block_before_it_are_not_a_wait() {
        let at = Instant::now();
        let before = Usage {
            at,
            running: 100 * MS,
            runnable: 40 * MS,
        };
        // 31 ms of wall time: 0.5 ms on a CPU, 30 ms waiting for one, 0.5 ms asleep (a lock).
        let after = Usage {
            at: at + 31 * MS,
            running: 100 * MS + MS / 2,
            runnable: 70 * MS,
        };
        assert_eq!(classify(before, after, 5 * MS), PushKind::Quick);
        // The same wall time asleep is a wait, from the caller's threshold on.
        let asleep = Usage {
            runnable: 40 * MS,
            ..after
        };
        assert_eq!(classify(before, asleep, 5 * MS), PushKind::Waited);
        assert_eq!(classify(before, asleep, 50 * MS), PushKind::Quick);
    }

    #[test]
    fn without_the_figures_the_wall_time_decides() {
        let without = || PushJudge {
            baseline: None,
            measured: true,
            missed: false,
        };
        assert_eq!(without().judge(10 * MS, 50 * MS), PushKind::Quick);
        assert_eq!(without().judge(60 * MS, 50 * MS), PushKind::Waited);
    }

    #[test]
    fn a_pad_is_measured_after_a_missed_long_push_and_while_it_is_slow() {
        let sampler = Sampler::default();
        assert!((0..100).all(|_| !sampler.measure_this(0) && !sampler.measure_this(1)));

        // An unmeasured push on pad 1 slept: taken as quick, but the next push of pad 1 is
        // measured, whatever pad 0 does meanwhile.
        let mut judge = PushJudge::unmeasured();
        let start = Instant::now();
        std::thread::sleep(5 * MS);
        assert_eq!(judge.slow(start.elapsed(), MS), None);
        sampler.pushed(1, &judge, false);
        assert!(!sampler.measure_this(0), "another pad");
        assert!(sampler.measure_this(1), "the next push of that pad");

        // Measured and slow: the next one is measured too.
        let mut judge = PushJudge::start();
        let start = Instant::now();
        std::thread::sleep(5 * MS);
        let slow = judge.slow(start.elapsed(), MS).is_some();
        assert!(slow);
        sampler.pushed(1, &judge, slow);
        assert!(sampler.measure_this(1), "after a measured slow push");

        // Measured and quick: no more.
        let mut judge = PushJudge::start();
        assert_eq!(judge.judge(Duration::from_micros(100), MS), PushKind::Quick);
        sampler.pushed(1, &judge, false);
        assert!(!sampler.measure_this(1), "after a measured quick push");

        // An unmeasured quick push misses nothing.
        let mut judge = PushJudge::unmeasured();
        assert_eq!(judge.judge(Duration::from_micros(100), MS), PushKind::Quick);
        sampler.pushed(1, &judge, false);
        assert!(!sampler.measure_this(1));
    }
}
