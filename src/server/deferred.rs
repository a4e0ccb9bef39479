// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A decision that comes later: the handler asks someone slow (an auth service over HTTP) and
//! answers when it knows. The connection waits without a thread: whoever drives it registers a
//! wake-up, and the answer calls it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

type Wake = Box<dyn FnOnce() + Send>;

struct Slot<T> {
    value: Option<T>,
    wake: Option<Wake>,
    /// The answering side went away without answering.
    abandoned: bool,
}

struct Inner<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The waiting side: held by the connection.
pub struct Deferred<T>(Arc<Inner<T>>);

/// The answering side: held by whoever decides. Dropping it unanswered counts as an answer of
/// `None` (the connection then gives up instead of waiting for its deadline).
pub struct Answer<T>(Option<Arc<Inner<T>>>);

/// A decision to be answered through the returned [`Answer`].
pub fn deferred<T>() -> (Deferred<T>, Answer<T>) {
    let inner = Arc::new(Inner {
        slot: Mutex::new(Slot {
            value: None,
            wake: None,
            abandoned: false,
        }),
        ready: Condvar::new(),
    });
    (Deferred(inner.clone()), Answer(Some(inner)))
}

/// What [`Deferred::poll`] found.
pub enum Polled<T> {
    Pending,
    Ready(T),
    /// The answer will never come.
    Abandoned,
}

impl<T> Deferred<T> {
    /// The answer, if it came.
    pub fn poll(&self) -> Polled<T> {
        let mut slot = self.0.lock();
        match slot.value.take() {
            Some(value) => Polled::Ready(value),
            None if slot.abandoned => Polled::Abandoned,
            None => Polled::Pending,
        }
    }

    /// Calls `wake` once the answer is there (at once if it already is).
    pub fn on_ready(&self, wake: Wake) {
        let mut slot = self.0.lock();
        if slot.value.is_some() || slot.abandoned {
            drop(slot);
            wake();
        } else {
            slot.wake = Some(wake);
        }
    }

    /// Blocks until the answer comes or `timeout` passes (for a thread that may block).
    pub fn wait(&self, timeout: Duration) {
        let slot = self.0.lock();
        let _ = self
            .0
            .ready
            .wait_timeout_while(slot, timeout, |s| s.value.is_none() && !s.abandoned);
    }
}

impl<T> Answer<T> {
    pub fn send(mut self, value: T) {
        if let Some(inner) = self.0.take() {
            Self::finish(&inner, Some(value));
        }
    }

    fn finish(inner: &Inner<T>, value: Option<T>) {
        let wake = {
            let mut slot = inner.lock();
            match value {
                Some(value) => slot.value = Some(value),
                None => slot.abandoned = true,
            }
            slot.wake.take()
        };
        inner.ready.notify_all();
        // Outside the lock: the wake-up may poll at once.
        if let Some(wake) = wake {
            wake();
        }
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            Self::finish(&inner, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_wake_up_runs_once_whether_registered_before_or_after_the_answer() {
        let woken = Arc::new(AtomicUsize::new(0));
        let (waiting, answer) = deferred::<u32>();
        let w = woken.clone();
        waiting.on_ready(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(matches!(waiting.poll(), Polled::Pending));
        answer.send(7);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(matches!(waiting.poll(), Polled::Ready(7)));

        let (waiting, answer) = deferred::<u32>();
        answer.send(8);
        let w = woken.clone();
        waiting.on_ready(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(woken.load(Ordering::SeqCst), 2);
        assert!(matches!(waiting.poll(), Polled::Ready(8)));
    }

    #[test]
    fn an_answer_dropped_unanswered_abandons_and_wakes() {
        let (waiting, answer) = deferred::<u32>();
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        waiting.on_ready(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        drop(answer);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(matches!(waiting.poll(), Polled::Abandoned));
    }

    #[test]
    fn wait_returns_when_answered_from_another_thread() {
        let (waiting, answer) = deferred::<u32>();
        let t = std::thread::spawn(move || answer.send(3));
        waiting.wait(Duration::from_secs(5));
        t.join().unwrap();
        assert!(matches!(waiting.poll(), Polled::Ready(3)));
    }
}
