// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The element's running time for publisher threads, which read it for every paced message
//! (clock-sync's arrival times). `gst_element_get_current_running_time` takes the element's
//! object lock three times and refs and unrefs the pipeline clock: with hundreds of
//! publishers, every thread writing that one refcount moves its cache line between the cores
//! for each message. The element publishes its clock and base time when it enters PLAYING
//! (the pipeline hands both out just before) and withdraws them when it leaves; each reader
//! keeps a copy and looks again only when they changed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use gst::prelude::*;

/// What the element publishes; see the module's doc.
#[derive(Debug, Default)]
pub(super) struct RunningClock {
    /// Bumped on every change of `current`.
    generation: AtomicU64,
    /// The clock and base time while PLAYING, `None` otherwise.
    current: Mutex<Option<(gst::Clock, gst::ClockTime)>>,
}

impl RunningClock {
    /// The element entered PLAYING with this clock and base time, or left it (`None`).
    pub fn set(&self, current: Option<(gst::Clock, gst::ClockTime)>) {
        let mut slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *slot = current;
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// One publisher thread's copy of [`RunningClock`].
#[derive(Debug, Default)]
pub(super) struct RunningClockReader {
    generation: Option<u64>,
    current: Option<(gst::Clock, gst::ClockTime)>,
}

impl RunningClockReader {
    /// The running time now, `None` unless the element is PLAYING.
    pub fn now(&mut self, shared: &RunningClock) -> Option<gst::ClockTime> {
        let generation = shared.generation.load(Ordering::Acquire);
        if self.generation != Some(generation) {
            let slot = shared.current.lock().unwrap_or_else(|e| e.into_inner());
            self.current = slot.clone();
            // Read under the lock: a change after this one bumps it again.
            self.generation = Some(shared.generation.load(Ordering::Acquire));
        }
        let (clock, base) = self.current.as_ref()?;
        Some(clock.time().saturating_sub(*base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_element_into_and_out_of_playing() {
        gst::init().unwrap();
        let shared = RunningClock::default();
        let mut reader = RunningClockReader::default();
        assert_eq!(reader.now(&shared), None, "not PLAYING yet");

        let clock = gst::SystemClock::obtain();
        let base = clock.time();
        shared.set(Some((clock.clone(), base)));
        let first = reader.now(&shared).expect("PLAYING");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = reader.now(&shared).unwrap();
        assert!(
            later >= first + gst::ClockTime::from_mseconds(20),
            "{first} {later}"
        );

        // A new base time (PLAYING again after PAUSED) is seen at once.
        shared.set(None);
        assert_eq!(reader.now(&shared), None, "left PLAYING");
        shared.set(Some((clock.clone(), clock.time())));
        assert!(reader.now(&shared).unwrap() < gst::ClockTime::from_mseconds(20));
    }
}
