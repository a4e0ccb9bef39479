// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Whether a push that took long waited downstream, kept its thread busy, or was only
//! preempted. Direct delivery (pad_queues.rs) must leave a downstream that waits (a sink on its
//! clock, a full queue, a muxer) or works (a converter without a queue, which pad threads run
//! beside the reading), but not a machine short of CPU: there every push now and then takes
//! tens of milliseconds of wall time, and falling back would cost most exactly when CPU is
//! short. The thread's own usage tells them apart: a wait is a voluntary context switch, work
//! is CPU time, preemption is neither.
//!
//! A push that returns within [`CHECK_AFTER`] is quick without asking anything; otherwise
//! `getrusage(RUSAGE_THREAD)` is compared with a baseline taken when the batch started (one
//! system call per batch, one more per long push).

use std::time::Duration;

/// Pushes that take less wall time than this are quick.
pub(super) const CHECK_AFTER: Duration = Duration::from_millis(2);

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PushKind {
    /// Within [`CHECK_AFTER`], or longer only because the thread was preempted.
    Quick,
    /// The thread slept in it (downstream waited on something).
    Waited,
    /// Downstream used at least [`CHECK_AFTER`] of the thread's CPU.
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    voluntary_switches: i64,
    cpu: Duration,
}

impl Usage {
    fn of_this_thread() -> Option<Usage> {
        // SAFETY: getrusage writes only into the struct we pass; zeroed is a valid rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_THREAD is the calling thread.
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
            return None;
        }
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        Some(Usage {
            voluntary_switches: usage.ru_nvcsw,
            cpu: time(usage.ru_utime) + time(usage.ru_stime),
        })
    }
}

/// Judges the pushes of one batch, on the thread that pushes them.
#[derive(Debug)]
pub(super) struct PushJudge {
    baseline: Option<Usage>,
}

impl PushJudge {
    /// Call on the pushing thread before its first push.
    pub fn start() -> Self {
        PushJudge {
            baseline: Usage::of_this_thread(),
        }
    }

    /// Whether a push that just returned after `took` (wall time) was slow: it worked, or
    /// waited at least `waits_from`. Returns what it did if so.
    pub fn slow(&mut self, took: Duration, waits_from: Duration) -> Option<PushKind> {
        match self.judge(took) {
            PushKind::Quick => None,
            PushKind::Waited if took < waits_from => None,
            kind => Some(kind),
        }
    }

    /// A push just returned after `took` (wall time).
    pub fn judge(&mut self, took: Duration) -> PushKind {
        if took < CHECK_AFTER {
            return PushKind::Quick;
        }
        let now = Usage::of_this_thread();
        let kind = match (self.baseline, now) {
            (Some(before), Some(after)) => classify(before, after),
            // Without the figures, assume the worst: pad threads stay.
            _ => PushKind::Waited,
        };
        self.baseline = now;
        kind
    }
}

fn classify(before: Usage, after: Usage) -> PushKind {
    if after.voluntary_switches > before.voluntary_switches {
        PushKind::Waited
    } else if after.cpu.saturating_sub(before.cpu) >= CHECK_AFTER {
        PushKind::Busy
    } else {
        PushKind::Quick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn sleeping_is_a_wait_spinning_is_work_and_a_short_push_is_quick() {
        let mut judge = PushJudge::start();
        assert_eq!(judge.judge(Duration::from_micros(300)), PushKind::Quick);

        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(judge.judge(start.elapsed()), PushKind::Waited);

        // Spins until the thread itself has used 10 ms of CPU (whatever else runs).
        let start = Instant::now();
        let cpu_before = Usage::of_this_thread().unwrap().cpu;
        let mut x = 0u64;
        while Usage::of_this_thread().unwrap().cpu - cpu_before < Duration::from_millis(10) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        assert_eq!(judge.judge(start.elapsed()), PushKind::Busy);

        // Long in wall time, but neither asleep nor busy on this thread (preempted).
        let before = Usage {
            voluntary_switches: 10,
            cpu: Duration::from_millis(100),
        };
        let after = Usage {
            voluntary_switches: 10,
            cpu: Duration::from_micros(100_500),
        };
        assert_eq!(classify(before, after), PushKind::Quick);
    }
}
