// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The bounded queues between the publisher's connection thread and the pads' streaming
//! threads: one lane per src pad, buffers and serialized events in order.
//!
//! Each pad pushes from a thread of its own (a pad task), as rtspsrc's and webrtcsrc's streams
//! do, so a sink that prerolls or a muxer that waits for its other pads blocks only its own
//! pad: the pipelines users write without queues reach PLAYING. The connection thread never
//! calls downstream; when a lane is full it waits here, stops reading its socket, and TCP slows
//! the encoder down. Nothing is dropped.
//!
//! A lane is full at `max_time` of media (newest minus oldest running time queued) or
//! `max_bytes`. Like multiqueue, a lane full by time alone may grow up to `max_bytes` while
//! another lane's thread is starving: a muxer that waits for audio while the publisher's video
//! runs ahead would otherwise wait forever. Every entry counts [`ENTRY_OVERHEAD`] bytes on top
//! of its payload, so a flood of tiny messages is bounded too.
//!
//! The pad thread takes everything queued at each wake-up by swapping its lane's `VecDeque`
//! with its own (no allocation per buffer once warm) and pushes without any lock of ours.
//!
//! **Direct delivery.** Waking a pad thread costs a futex wake and two context switches per
//! message, the largest cost left at real-time pace when downstream never waits (a
//! `sync=false` sink, an appsink, a `queue`). So once the element is PLAYING and the pad
//! threads have seen a run of [`QUICK_RUN`] quick pushes (push_timing.rs: within 2 ms, or
//! longer only because the machine was busy; a slow one takes [`SLOW_COST`] off), the lanes
//! switch to direct delivery: the
//! connection thread pushes each entry itself after its read ([`PadQueues::next_direct`]), one
//! entry at a time, while the pad thread sleeps. Direct pushes that sleep downstream for
//! [`SLOW_PUSH`] or more or keep the thread busy for 2 ms, more than one in three of those
//! judged for a while, a new pad, leaving PLAYING, or the push watchdog (a
//! push that does not return at all) switch back to pad threads, and each fall-back doubles
//! the quick run needed next time.
//!
//! Both ways the rule is a share of slow pushes, not one slow push: a downstream that waits or
//! works does so at (nearly) every buffer, while on a saturated machine a push now and then
//! looks slow for reasons that are not downstream (a lock whose holder was preempted, the
//! hypervisor stealing the CPU, which the scheduler's figures count as neither running nor
//! runnable). At 300-400 publishers on this project's 2-core VM many pushes looked slow;
//! single slow pushes kept most publishers on pad threads, which cost more CPU exactly when it
//! was short, until the machine could not keep up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::outputs::{PushOutcome, TrackKey};

/// Bookkeeping cost of one queued buffer or event (the GstBuffer, its memory and our entry),
/// counted against `max_bytes` with its payload.
pub(super) const ENTRY_OVERHEAD: usize = 256;

/// A pad thread is woken at once, without waiting for the sender's burst to end, when its lane
/// holds this many entries (so a long burst does not hold media back).
const WAKE_AT_ENTRIES: usize = 16;

/// A waiting sender rechecks its conditions at least this often, in case a wake-up was missed
/// (eviction is also signalled explicitly).
const SENDER_RECHECK: Duration = Duration::from_millis(200);

/// Quick pushes (net of slow ones, over all pads) before the lanes switch to direct delivery
/// the first time: about a second of media, in PLAYING (past any preroll). Short, because
/// publishers often arrive together (a fleet's failover, a restart): until they switch, each
/// costs half as much again, all at once.
const QUICK_RUN: u32 = 64;

/// At most this many quick pushes in a row are asked for after repeated fall-backs.
const MAX_QUICK_RUN: u32 = QUICK_RUN << 8;

/// A slow push on a pad thread takes this many off the run of quick ones: a downstream that
/// waits at more than one buffer in three (a sink on its clock waits at nearly every one)
/// never gets there, while one whose pushes are quick but for a share on a saturated machine
/// does.
const SLOW_COST: u32 = 2;

/// A pad-thread push that slept counts as waiting downstream from this long on (real waits
/// are a clock's latency or a consumer's frame interval, tens of ms; shorter sleeps are locks
/// and page faults on a busy machine).
pub(super) const PAD_THREAD_WAIT: Duration = Duration::from_millis(5);

/// A direct push that waited this long downstream goes back to pad threads: the connection
/// thread was not reading meanwhile.
pub(super) const SLOW_PUSH: Duration = Duration::from_millis(50);

/// A slow direct push adds this to a score that each quick one takes 1 off (a push not judged
/// counts neither way); at [`DIRECT_LEAVE_AT`] delivery goes back to pad threads. A downstream
/// slow at every judged push leaves within four of them; one slow push in three or fewer
/// (over all pads) never leaves.
const DIRECT_SLOW_WEIGHT: u32 = 2;

/// See [`DIRECT_SLOW_WEIGHT`].
const DIRECT_LEAVE_AT: u32 = 4 * DIRECT_SLOW_WEIGHT;

/// What travels to a pad thread.
#[derive(Debug)]
pub(super) enum Item {
    Buffer(gst::Buffer),
    /// A serialized event (caps, tags, EOS), kept in order with the buffers.
    Event(gst::Event),
}

/// One queued item and the publish session (connection id) that sent it.
#[derive(Debug)]
pub(super) struct Entry {
    pub session: u64,
    pub item: Item,
}

/// An entry the connection thread pushes itself ([`PadQueues::next_direct`]).
#[derive(Debug)]
pub(super) struct DirectEntry {
    /// The position of its lane in the keys asked about.
    pub index: usize,
    pub key: TrackKey,
    pub entry: Entry,
    /// The session that failed last, if any: its buffers are not pushed.
    pub failed: Option<u64>,
}

/// How much a lane may hold before its sender waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    pub max_time: gst::ClockTime,
    pub max_bytes: usize,
}

#[derive(Debug, Default)]
struct Lane {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// Running times of the oldest and newest queued buffer.
    oldest: Option<gst::ClockTime>,
    newest: Option<gst::ClockTime>,
    /// The pad thread is waiting for data (nothing queued and nothing in flight).
    starving: bool,
    /// The pad thread is pushing what it took.
    in_flight: bool,
    /// The pad thread waits and data came: wake it at [`PadQueues::wake_pad_threads`].
    wake_pending: bool,
    /// The pad is inactive: senders give up, the pad thread returns.
    flushing: bool,
    /// The connection thread is pushing this lane's oldest entry itself (direct delivery).
    direct_busy: bool,
    /// The pad thread is blocked waiting for data.
    waiting: bool,
    /// The caps most recently queued, so a change is sent once and in order.
    caps: Option<gst::Caps>,
    /// The pad thread's wake-up (data or flushing).
    ready: Arc<Condvar>,
}

impl Entry {
    /// Bytes it counts against `max_bytes` besides [`ENTRY_OVERHEAD`].
    fn payload_size(&self) -> usize {
        match &self.item {
            Item::Buffer(buffer) => buffer.size(),
            Item::Event(_) => 0,
        }
    }
}

impl Lane {
    /// Something queued that the pad thread may take now (the connection thread is not
    /// pushing this lane's oldest entry itself).
    fn has_work_for_pad_thread(&self) -> bool {
        !self.entries.is_empty() && !self.direct_busy
    }

    fn time_span(&self) -> gst::ClockTime {
        match (self.oldest, self.newest) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => gst::ClockTime::ZERO,
        }
    }

    fn over_bytes(&self, limits: Limits) -> bool {
        self.bytes >= limits.max_bytes
    }

    fn over_time(&self, limits: Limits) -> bool {
        self.time_span() >= limits.max_time
    }

    fn push(&mut self, entry: Entry) {
        if let Item::Buffer(buffer) = &entry.item {
            if let Some(t) = buffer.dts_or_pts() {
                self.oldest.get_or_insert(t);
                self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
            }
        }
        self.bytes = self
            .bytes
            .saturating_add(entry.payload_size() + ENTRY_OVERHEAD);
        self.entries.push_back(entry);
    }

    /// Takes the oldest entry, keeping the byte count and the time span right.
    fn pop_front(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        self.bytes = self
            .bytes
            .saturating_sub(entry.payload_size() + ENTRY_OVERHEAD);
        if self.entries.is_empty() {
            self.oldest = None;
            self.newest = None;
        } else if matches!(entry.item, Item::Buffer(_)) {
            self.oldest = self.entries.iter().find_map(|e| match &e.item {
                Item::Buffer(b) => b.dts_or_pts(),
                Item::Event(_) => None,
            });
        }
        Some(entry)
    }

    /// Moves everything queued into `batch` (empty, keeps its capacity).
    fn take_into(&mut self, batch: &mut VecDeque<Entry>) {
        debug_assert!(batch.is_empty());
        std::mem::swap(&mut self.entries, batch);
        self.bytes = 0;
        self.oldest = None;
        self.newest = None;
    }
}

#[derive(Debug)]
struct Shared {
    lanes: BTreeMap<TrackKey, Lane>,
    /// The first failure of a publish session (downstream error, flushing, EOS), for its
    /// sender to stop on.
    failure: Option<(u64, PushOutcome)>,
    limits: Limits,
    /// Senders waiting for space: only then do pad threads signal `space` (a futex wake per
    /// buffer otherwise).
    senders_waiting: usize,
    delivery: DeliveryMode,
}

/// Who pushes the lanes' entries, and what it takes to switch (see the module's doc).
#[derive(Debug)]
struct DeliveryMode {
    /// The `direct-delivery` property.
    allowed: bool,
    direct: bool,
    /// The element is PLAYING: sinks have prerolled.
    playing: bool,
    /// Quick pushes in a row seen by the pad threads.
    quick_run: u32,
    /// Quick pushes in a row needed before the next switch to direct delivery.
    needed: u32,
    /// Slowness of the direct pushes (see [`DIRECT_SLOW_WEIGHT`]).
    slow_score: u32,
    /// Switches to direct delivery and back, for the statistics.
    switches_to_direct: u64,
    fall_backs: u64,
}

impl Default for DeliveryMode {
    fn default() -> Self {
        DeliveryMode {
            allowed: true,
            direct: false,
            playing: false,
            quick_run: 0,
            needed: QUICK_RUN,
            slow_score: 0,
            switches_to_direct: 0,
            fall_backs: 0,
        }
    }
}

/// The lanes of one element, under one lock: the sender needs to see every lane at once to
/// decide whether a full one may grow.
///
/// In this order (`repr(C)`): what the publisher's thread reads without the lock at every
/// message shares the cache line of the lock's word, which it takes anyway; with hundreds of
/// publishers that line is cold at each message.
#[derive(Debug)]
#[repr(C)]
pub(super) struct PadQueues {
    /// Times a sender waited for space: while it waits its socket is left unread, so what it
    /// reads next arrived earlier than it is read (clock-sync discounts those arrivals).
    sender_waits: AtomicU64,
    /// `delivery.direct`, readable without the lock (checked after every read).
    direct: AtomicBool,
    /// `delivery.allowed && delivery.playing`: only then do pad threads judge their pushes
    /// (a system call or three per batch, for nothing before PLAYING or with
    /// direct-delivery=false).
    judging: AtomicBool,
    shared: Mutex<Shared>,
    /// A lane got space or a pad thread started starving, or the sender must give up.
    space: Condvar,
}

impl Default for PadQueues {
    fn default() -> Self {
        PadQueues {
            sender_waits: AtomicU64::new(0),
            direct: AtomicBool::new(false),
            judging: AtomicBool::new(false),
            shared: Mutex::new(Shared {
                lanes: BTreeMap::new(),
                failure: None,
                limits: Limits {
                    max_time: gst::ClockTime::SECOND,
                    max_bytes: 16 * 1024 * 1024,
                },
                senders_waiting: 0,
                delivery: DeliveryMode::default(),
            }),
            space: Condvar::new(),
        }
    }
}

/// What a pad thread got from [`PadQueues::next_batch`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Batch {
    /// `batch` holds at least one entry.
    Ready,
    /// The pad is going away: stop the task.
    Flushing,
}

impl PadQueues {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_limits(&self, limits: Limits) {
        self.lock().limits = limits;
    }

    /// Signals senders waiting for space, if there are any.
    fn signal_space(&self, shared: &Shared) {
        if shared.senders_waiting > 0 {
            self.space.notify_all();
        }
    }

    /// Creates the lane of a new pad, with the caps its pad starts with.
    pub fn open_lane(&self, key: TrackKey, caps: &gst::Caps) {
        let mut shared = self.lock();
        let lane = shared.lanes.entry(key).or_default();
        lane.flushing = false;
        lane.caps = Some(caps.clone());
        // A new pad may have a sink that still prerolls.
        self.leave_direct(&mut shared, false);
    }

    /// The condition variable the pad thread of `key` waits on (see [`PadQueues::next_batch`]).
    pub fn lane_signal(&self, key: TrackKey) -> Arc<Condvar> {
        self.lock().lanes.entry(key).or_default().ready.clone()
    }

    /// The pad was (re)activated: its thread may run.
    pub fn unflush(&self, key: TrackKey) {
        if let Some(lane) = self.lock().lanes.get_mut(&key) {
            lane.flushing = false;
        }
    }

    /// The pad is deactivating: drops what is queued, wakes its thread and every sender.
    pub fn flush(&self, key: TrackKey) {
        let mut shared = self.lock();
        if let Some(lane) = shared.lanes.get_mut(&key) {
            lane.flushing = true;
            lane.entries.clear();
            lane.bytes = 0;
            lane.oldest = None;
            lane.newest = None;
            lane.ready.notify_all();
        }
        drop(shared);
        self.space.notify_all();
    }

    /// Forgets every lane (the pads were removed).
    pub fn clear(&self) {
        let mut shared = self.lock();
        for lane in shared.lanes.values() {
            lane.ready.notify_all();
        }
        shared.lanes.clear();
        shared.failure = None;
        self.leave_direct(&mut shared, false);
        shared.delivery.needed = QUICK_RUN;
        drop(shared);
        self.space.notify_all();
    }

    /// Wakes senders waiting for space, so they look at their abort flag again.
    pub fn wake_senders(&self) {
        self.space.notify_all();
    }

    /// Whether `caps` differ from the caps last queued on the lane of `key` (and records them).
    pub fn caps_changed(&self, key: TrackKey, caps: &gst::Caps) -> bool {
        let mut shared = self.lock();
        let Some(lane) = shared.lanes.get_mut(&key) else {
            return false;
        };
        if lane.caps.as_ref() == Some(caps) {
            return false;
        }
        lane.caps = Some(caps.clone());
        true
    }

    /// Queues `entry` on the lane of `key`, waiting while that lane is full. Returns
    /// [`PushOutcome::Ok`] once queued; otherwise why the session must stop sending: its
    /// `abort` flag was set (replaced), the lane is flushing, or downstream failed.
    pub fn send(&self, key: TrackKey, entry: Entry, abort: &AtomicBool) -> PushOutcome {
        let mut shared = self.lock();
        let limits = shared.limits;
        loop {
            if let Some((session, outcome)) = shared.failure {
                if session == entry.session {
                    return outcome;
                }
            }
            if abort.load(Ordering::SeqCst) {
                return PushOutcome::Replaced;
            }
            let Some(lane) = shared.lanes.get(&key) else {
                return PushOutcome::Stopped;
            };
            if lane.flushing {
                return PushOutcome::Stopped;
            }
            // Events take no room worth waiting for; caps must not be held behind a full lane
            // longer than the buffers they describe, and they are not.
            let full = matches!(entry.item, Item::Buffer(_))
                && (lane.over_bytes(limits)
                    || (lane.over_time(limits)
                        && !shared
                            .lanes
                            .iter()
                            .any(|(k, l)| *k != key && l.starving && !l.flushing)));
            if !full {
                break;
            }
            gst::trace!(
                crate::CAT,
                "{}: queue full ({} bytes, {}), the publisher waits",
                key.pad_name(),
                lane.bytes,
                lane.time_span()
            );
            // The pad threads that would make room must be awake first.
            Self::wake(&mut shared);
            self.sender_waits.fetch_add(1, Ordering::Relaxed);
            shared.senders_waiting += 1;
            shared = self
                .space
                .wait_timeout(shared, SENDER_RECHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            shared.senders_waiting -= 1;
        }
        let direct = shared.delivery.direct;
        let lane = shared.lanes.get_mut(&key).expect("checked above");
        lane.push(entry);
        if std::mem::take(&mut lane.starving) {
            // Woken once the sender has handled the burst it is reading (one wake per burst,
            // not per message), see `wake_pad_threads`.
            lane.wake_pending = true;
        }
        // In direct delivery the sender pushes after each read (Publisher::input_pending).
        if lane.wake_pending && lane.entries.len() >= WAKE_AT_ENTRIES && !direct {
            lane.wake_pending = false;
            lane.ready.notify_one();
        }
        PushOutcome::Ok
    }

    /// Wakes the pad threads that have data since they started waiting. The sender calls it
    /// when it has handled what it read and the socket has nothing more for now.
    pub fn wake_pad_threads(&self) {
        Self::wake(&mut self.lock());
    }

    fn wake(shared: &mut Shared) {
        for lane in shared.lanes.values_mut() {
            // A lane delivered directly meanwhile has nothing to wake for (yet).
            if lane.wake_pending && lane.has_work_for_pad_thread() {
                lane.wake_pending = false;
                lane.ready.notify_one();
            }
        }
    }

    /// Whether the connection thread should push the queued entries itself (a hint, read
    /// without the lock; [`PadQueues::next_direct`] decides).
    pub fn is_direct(&self) -> bool {
        self.direct.load(Ordering::Relaxed)
    }

    /// The element entered PLAYING (true) or left it: leaving goes back to pad threads, since
    /// sinks block in preroll again.
    pub fn set_playing(&self, playing: bool) {
        let mut shared = self.lock();
        shared.delivery.playing = playing;
        if !playing {
            self.leave_direct(&mut shared, false);
        }
        self.update_judging(&shared);
    }

    /// The `direct-delivery` property.
    pub fn set_direct_allowed(&self, allowed: bool) {
        let mut shared = self.lock();
        shared.delivery.allowed = allowed;
        if !allowed {
            self.leave_direct(&mut shared, false);
        }
        self.update_judging(&shared);
    }

    fn update_judging(&self, shared: &Shared) {
        let judging = shared.delivery.allowed && shared.delivery.playing;
        self.judging.store(judging, Ordering::Relaxed);
    }

    /// Whether a pad thread's pushes can change who pushes (see [`PadQueues::note_pushes`]),
    /// so are worth judging.
    pub fn judges_pushes(&self) -> bool {
        self.judging.load(Ordering::Relaxed)
    }

    pub fn direct_allowed(&self) -> bool {
        self.lock().delivery.allowed
    }

    /// Back to pad threads; a `fall_back` after a slow or stuck push also doubles the quick
    /// run needed next time. Wakes every pad thread that has data.
    fn leave_direct(&self, shared: &mut Shared, fall_back: bool) {
        let mode = &mut shared.delivery;
        mode.quick_run = 0;
        if fall_back {
            mode.needed = mode.needed.saturating_mul(2).min(MAX_QUICK_RUN);
        }
        if !std::mem::take(&mut mode.direct) {
            return;
        }
        self.direct.store(false, Ordering::Relaxed);
        if fall_back {
            mode.fall_backs += 1;
        }
        for lane in shared.lanes.values_mut() {
            if lane.has_work_for_pad_thread() {
                lane.wake_pending = false;
                lane.ready.notify_one();
            }
        }
    }

    /// A push was slow or did not return (the push watchdog): back to pad threads.
    pub fn fall_back(&self) {
        let mut shared = self.lock();
        self.leave_direct(&mut shared, true);
    }

    /// For a pad thread, after pushing a batch: `quick` buffers were pushed quickly, and `slow`
    /// says whether one waited or worked downstream (push_timing.rs). Switches to direct
    /// delivery after a long enough run of quick pushes while PLAYING.
    pub fn note_pushes(&self, quick: u32, slow: u32) {
        let mut shared = self.lock();
        if shared.delivery.direct {
            // Pad threads push during direct delivery too (a burst, a lane left over): their
            // pushes count like direct ones.
            self.score_direct(&mut shared, quick, slow, None);
            return;
        }
        let mode = &mut shared.delivery;
        if !mode.allowed || !mode.playing {
            return;
        }
        mode.quick_run = mode
            .quick_run
            .saturating_add(quick)
            .saturating_sub(slow.saturating_mul(SLOW_COST));
        if mode.quick_run >= mode.needed {
            mode.direct = true;
            mode.slow_score = 0;
            mode.switches_to_direct += 1;
            self.direct.store(true, Ordering::Relaxed);
            gst::debug!(
                crate::CAT,
                "{} quick pushes (net of slow ones): the connection thread pushes directly",
                mode.quick_run
            );
        }
    }

    /// In direct delivery, `quick` and `slow` pushes: too many slow ones go back to pad threads
    /// (see [`DIRECT_SLOW_WEIGHT`]).
    /// `direct` names the lane of a direct push (`None`: a pad thread's batch).
    fn score_direct(&self, shared: &mut Shared, quick: u32, slow: u32, direct: Option<TrackKey>) {
        let mode = &mut shared.delivery;
        mode.slow_score = mode
            .slow_score
            .saturating_add(slow.saturating_mul(DIRECT_SLOW_WEIGHT))
            .saturating_sub(quick);
        if slow > 0 && mode.slow_score >= DIRECT_LEAVE_AT {
            gst::debug!(
                crate::CAT,
                "{} wait or work downstream: back to pad threads",
                direct.map_or("pad-thread pushes".into(), |key| format!(
                    "{}: direct pushes",
                    key.pad_name()
                ))
            );
            self.leave_direct(shared, true);
        }
    }

    /// For the connection thread in direct delivery, under one lock (it is taken once per
    /// message at real-time pace): releases the entry it pushed last (`done`: its lane and
    /// verdict, as [`PadQueues::release_direct`]) and takes the next one it pushes itself: the
    /// oldest entry of the first lane, in the order of `keys`, that has one it may push (not
    /// while that lane's pad thread is pushing, for order). With none left, or delivery back
    /// with the pad threads, wakes the pad threads that have work instead and returns `None`.
    pub fn next_direct(
        &self,
        keys: impl Iterator<Item = TrackKey>,
        done: Option<(TrackKey, Option<bool>)>,
    ) -> Option<DirectEntry> {
        let mut shared = self.lock();
        if let Some((key, slow)) = done {
            self.release_locked(&mut shared, key, slow);
        }
        let failed = shared.failure.map(|(session, _)| session);
        for (index, key) in keys.enumerate() {
            if let Some(entry) = self.take_locked(&mut shared, key) {
                return Some(DirectEntry {
                    index,
                    key,
                    entry,
                    failed,
                });
            }
        }
        Self::wake(&mut shared);
        None
    }

    #[cfg(test)]
    fn take_direct(&self, key: TrackKey) -> Option<Entry> {
        self.take_locked(&mut self.lock(), key)
    }

    /// The oldest entry of the lane of `key` for a direct push, `None` when the lane is empty,
    /// its pad thread is pushing (order), or delivery is back with the pad threads.
    fn take_locked(&self, shared: &mut Shared, key: TrackKey) -> Option<Entry> {
        if !shared.delivery.direct {
            return None;
        }
        let lane = shared.lanes.get_mut(&key)?;
        if lane.flushing || lane.in_flight || lane.direct_busy {
            return None;
        }
        let entry = lane.pop_front()?;
        lane.direct_busy = true;
        if lane.entries.is_empty() && lane.waiting {
            // As if its pad thread had taken it: the lane waits for data again.
            lane.starving = true;
            lane.wake_pending = false;
        }
        self.signal_space(shared);
        Some(entry)
    }

    /// The connection thread's push of an entry of `key` returned; `Some(true)` if it waited
    /// long or worked downstream, `None` if it was not judged. Enough slow ones go back to pad
    /// threads (see [`DIRECT_SLOW_WEIGHT`]; whatever the lane still holds is then theirs).
    pub fn release_direct(&self, key: TrackKey, slow: Option<bool>) {
        self.release_locked(&mut self.lock(), key, slow);
    }

    fn release_locked(&self, shared: &mut Shared, key: TrackKey, slow: Option<bool>) {
        if let (true, Some(slow)) = (shared.delivery.direct, slow) {
            self.score_direct(shared, u32::from(!slow), u32::from(slow), Some(key));
        }
        let direct = shared.delivery.direct;
        if let Some(lane) = shared.lanes.get_mut(&key) {
            lane.direct_busy = false;
            // The pad thread pushes what is left (or, flushing, returns).
            if lane.flushing || (!direct && !lane.entries.is_empty()) {
                lane.wake_pending = false;
                lane.ready.notify_one();
            }
        }
    }

    /// Switches to direct delivery and fall-backs so far, for `stats`.
    pub fn delivery_switches(&self) -> (u64, u64) {
        let shared = self.lock();
        (
            shared.delivery.switches_to_direct,
            shared.delivery.fall_backs,
        )
    }

    /// For the pad thread of `key`: waits until something is queued and moves all of it into
    /// `batch`, or says the pad is flushing.
    pub fn next_batch(&self, key: TrackKey, ready: &Condvar, batch: &mut VecDeque<Entry>) -> Batch {
        let mut shared = self.lock();
        if let Some(lane) = shared.lanes.get_mut(&key) {
            lane.in_flight = false;
        }
        loop {
            let Some(lane) = shared.lanes.get_mut(&key) else {
                return Batch::Flushing;
            };
            if lane.flushing {
                lane.starving = false;
                return Batch::Flushing;
            }
            // The connection thread pushing an entry of this lane goes first (order).
            if lane.has_work_for_pad_thread() {
                lane.starving = false;
                lane.waiting = false;
                lane.in_flight = true;
                lane.take_into(batch);
                self.signal_space(&shared);
                return Batch::Ready;
            }
            lane.waiting = true;
            if !lane.starving && lane.entries.is_empty() {
                lane.starving = true;
                // A sender held back by another lane's time limit may go on now.
                self.signal_space(&shared);
            }
            shared = ready.wait(shared).unwrap_or_else(|e| e.into_inner());
            if let Some(lane) = shared.lanes.get_mut(&key) {
                lane.waiting = false;
            }
        }
    }

    /// Records the first failure of `session`, which its sender returns from then on. True
    /// if this is the first one.
    pub fn fail(&self, session: u64, outcome: PushOutcome) -> bool {
        let mut shared = self.lock();
        if matches!(shared.failure, Some((s, _)) if s == session) {
            return false;
        }
        shared.failure = Some((session, outcome));
        drop(shared);
        self.space.notify_all();
        true
    }

    /// The session that failed last, if any (its remaining buffers need not be pushed).
    pub fn failed_session(&self) -> Option<u64> {
        self.lock().failure.map(|(session, _)| session)
    }

    /// Whether media is queued or being pushed on any pad: the publisher that sent it is
    /// held by back-pressure, not silent.
    pub fn delivering(&self) -> bool {
        self.lock()
            .lanes
            .values()
            .any(|l| l.in_flight || l.direct_busy || !l.entries.is_empty())
    }

    /// How many times a sender has waited for space so far.
    pub fn sender_waits(&self) -> u64 {
        self.sender_waits.load(Ordering::Relaxed)
    }

    /// Bytes queued in all lanes (payload plus [`ENTRY_OVERHEAD`] each).
    pub fn queued_bytes(&self) -> usize {
        self.lock().lanes.values().map(|l| l.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    fn buffer(ms: u64, size: usize) -> Entry {
        let mut buffer = gst::Buffer::with_size(size).unwrap();
        buffer
            .get_mut()
            .unwrap()
            .set_dts(gst::ClockTime::from_mseconds(ms));
        Entry {
            session: 1,
            item: Item::Buffer(buffer),
        }
    }

    fn queues(max_time_ms: u64, max_bytes: usize) -> Arc<PadQueues> {
        gst::init().unwrap();
        let q = Arc::new(PadQueues::default());
        q.set_limits(Limits {
            max_time: gst::ClockTime::from_mseconds(max_time_ms),
            max_bytes,
        });
        q
    }

    const V: TrackKey = TrackKey::Video(0);
    const A: TrackKey = TrackKey::Audio(0);

    /// Sends from another thread; true if it returned within `wait`.
    fn send_returns(q: &Arc<PadQueues>, key: TrackKey, entry: Entry, wait: Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        let q = q.clone();
        thread::spawn(move || {
            let abort = AtomicBool::new(false);
            let _ = tx.send(q.send(key, entry, &abort));
        });
        rx.recv_timeout(wait).is_ok()
    }

    #[test]
    fn a_lane_full_by_time_holds_its_sender_until_the_pad_thread_takes() {
        let q = queues(1000, 1 << 30);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.open_lane(A, &gst::Caps::new_empty_simple("audio/mpeg"));
        let abort = AtomicBool::new(false);
        // Audio has data, so it is not starving: video is held at 1 s.
        assert_eq!(q.send(A, buffer(0, 10), &abort), PushOutcome::Ok);
        for ms in (0..=1000).step_by(100) {
            assert_eq!(q.send(V, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        assert_eq!(q.sender_waits(), 0, "nothing waited yet");
        assert!(!send_returns(
            &q,
            V,
            buffer(1100, 10),
            Duration::from_millis(300)
        ));
        assert!(q.sender_waits() > 0, "the wait is counted");
        let mut batch = VecDeque::new();
        assert_eq!(q.next_batch(V, &q.lane_signal(V), &mut batch), Batch::Ready);
        assert_eq!(batch.len(), 11, "everything queued is taken at once");
        // The held sender got in once space was made.
        thread::sleep(Duration::from_millis(50));
        batch.clear();
        assert_eq!(q.next_batch(V, &q.lane_signal(V), &mut batch), Batch::Ready);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn a_lane_full_by_time_grows_while_another_pad_thread_starves() {
        let q = queues(1000, 1 << 20);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.open_lane(A, &gst::Caps::new_empty_simple("audio/mpeg"));
        // The audio pad thread waits for data (a muxer waits for it).
        let qa = q.clone();
        let audio = thread::spawn(move || {
            let mut batch = VecDeque::new();
            qa.next_batch(A, &qa.lane_signal(A), &mut batch);
            batch.len()
        });
        thread::sleep(Duration::from_millis(50));
        let abort = AtomicBool::new(false);
        for ms in (0..=3000).step_by(100) {
            assert_eq!(q.send(V, buffer(ms, 1000), &abort), PushOutcome::Ok);
        }
        // ...but never past the byte limit.
        let mut held = false;
        for ms in 3100..5000 {
            if !send_returns(&q, V, buffer(ms, 1000), Duration::from_millis(100)) {
                held = true;
                break;
            }
        }
        assert!(held, "the byte limit holds even while audio starves");
        assert!(q.queued_bytes() <= (1 << 20) + 1000 + ENTRY_OVERHEAD);
        assert_eq!(q.send(A, buffer(0, 10), &abort), PushOutcome::Ok);
        q.wake_pad_threads();
        assert_eq!(audio.join().unwrap(), 1);
    }

    #[test]
    fn a_waiting_pad_thread_is_woken_once_for_everything_one_read_brought() {
        let q = queues(1000, 1 << 20);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        let qv = q.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut batch = VecDeque::new();
            qv.next_batch(V, &qv.lane_signal(V), &mut batch);
            let _ = tx.send(batch.len());
        });
        thread::sleep(Duration::from_millis(50));
        let abort = AtomicBool::new(false);
        for ms in 0..3 {
            assert_eq!(q.send(V, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "woken before the read was done"
        );
        q.wake_pad_threads();
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(3));
    }

    #[test]
    fn tiny_entries_are_bounded_by_their_overhead() {
        let q = queues(1000, 64 * 1024);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        let abort = AtomicBool::new(false);
        let mut sent = 0;
        while send_returns(&q, V, buffer(0, 1), Duration::from_millis(100)) {
            sent += 1;
            assert!(sent < 10_000, "never held");
        }
        let _ = abort;
        assert!(sent <= 64 * 1024 / ENTRY_OVERHEAD + 1, "{sent}");
    }

    #[test]
    fn flushing_releases_the_sender_and_the_pad_thread() {
        let q = queues(100, 1 << 30);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.open_lane(A, &gst::Caps::new_empty_simple("audio/mpeg"));
        let abort = AtomicBool::new(false);
        q.send(A, buffer(0, 1), &abort);
        q.send(V, buffer(0, 1), &abort);
        q.send(V, buffer(200, 1), &abort);
        let qs = q.clone();
        let sender = thread::spawn(move || {
            let abort = AtomicBool::new(false);
            qs.send(V, buffer(300, 1), &abort)
        });
        thread::sleep(Duration::from_millis(50));
        q.flush(V);
        assert_eq!(sender.join().unwrap(), PushOutcome::Stopped);
        let mut batch = VecDeque::new();
        assert_eq!(
            q.next_batch(V, &q.lane_signal(V), &mut batch),
            Batch::Flushing
        );
        assert!(batch.is_empty(), "a flushed lane drops what it held");
    }

    #[test]
    fn an_aborted_sender_returns_replaced_and_a_failed_session_its_failure() {
        let q = queues(100, 1 << 30);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.open_lane(A, &gst::Caps::new_empty_simple("audio/mpeg"));
        let abort = Arc::new(AtomicBool::new(false));
        q.send(A, buffer(0, 1), &abort);
        q.send(V, buffer(0, 1), &abort);
        q.send(V, buffer(200, 1), &abort);
        let (qs, abort_s) = (q.clone(), abort.clone());
        let sender = thread::spawn(move || qs.send(V, buffer(300, 1), &abort_s));
        thread::sleep(Duration::from_millis(50));
        abort.store(true, Ordering::SeqCst);
        q.wake_senders();
        assert_eq!(sender.join().unwrap(), PushOutcome::Replaced);

        let fresh = AtomicBool::new(false);
        assert!(q.fail(1, PushOutcome::Failed(gst::FlowError::NotLinked)));
        assert!(
            !q.fail(1, PushOutcome::Stopped),
            "only the first failure counts"
        );
        assert_eq!(
            q.send(A, buffer(10, 1), &fresh),
            PushOutcome::Failed(gst::FlowError::NotLinked)
        );
        // Another session (a reconnect) is not affected.
        let other = Entry {
            session: 2,
            ..buffer(10, 1)
        };
        assert_eq!(q.send(A, other, &fresh), PushOutcome::Ok);
    }

    fn dts_ms(entry: &Entry) -> u64 {
        match &entry.item {
            Item::Buffer(b) => b.dts().unwrap().mseconds(),
            Item::Event(_) => panic!("an event"),
        }
    }

    #[test]
    fn direct_delivery_starts_after_a_run_of_quick_pushes_while_playing_and_falls_back() {
        let q = queues(1000, 1 << 20);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.note_pushes(QUICK_RUN, 0);
        assert!(!q.is_direct(), "not before PLAYING (sinks may preroll)");
        q.set_playing(true);
        q.note_pushes(QUICK_RUN - 1, 0);
        assert!(!q.is_direct());
        q.note_pushes(1, 0);
        assert!(q.is_direct());
        let abort = AtomicBool::new(false);
        for ms in 0..3 {
            assert_eq!(q.send(V, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        // Oldest first, one at a time.
        let first = q.take_direct(V).unwrap();
        assert_eq!(dts_ms(&first), 0);
        assert!(q.take_direct(V).is_none(), "one entry in flight per lane");
        q.release_direct(V, Some(false));
        assert!(q.is_direct(), "a quick push keeps it");
        assert_eq!(dts_ms(&q.take_direct(V).unwrap()), 1);
        q.release_direct(V, Some(true));
        assert!(q.is_direct(), "one slow push alone does not go back");
        assert_eq!(dts_ms(&q.take_direct(V).unwrap()), 2);
        // One slow push in three, for long: direct delivery stays.
        for _ in 0..100 {
            for _ in 0..DIRECT_SLOW_WEIGHT {
                q.release_direct(V, Some(false));
            }
            q.release_direct(V, Some(true));
        }
        assert!(q.is_direct(), "a few slow pushes among quick ones");
        for _ in 0..DIRECT_LEAVE_AT {
            q.release_direct(V, Some(false));
        }
        for ms in 3..5 {
            assert_eq!(q.send(V, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        for _ in 0..3 {
            q.release_direct(V, Some(true));
        }
        // Pushes that were not judged (long, unmeasured) count neither way.
        for _ in 0..10 {
            q.release_direct(V, None);
        }
        assert!(q.is_direct());
        assert_eq!(dts_ms(&q.take_direct(V).unwrap()), 3);
        q.release_direct(V, Some(true));
        assert!(
            !q.is_direct(),
            "four slow pushes in a row go back to pad threads"
        );
        assert!(q.take_direct(V).is_none());
        assert_eq!(q.delivery_switches(), (1, 1));
        // What is left is the pad thread's, and the next switch needs twice the run.
        let mut batch = VecDeque::new();
        assert_eq!(q.next_batch(V, &q.lane_signal(V), &mut batch), Batch::Ready);
        assert_eq!(batch.iter().map(dts_ms).collect::<Vec<_>>(), vec![4]);
        q.note_pushes(QUICK_RUN, 0);
        assert!(!q.is_direct(), "the run needed doubled");
        q.note_pushes(QUICK_RUN, 0);
        assert!(q.is_direct());
        // Slow pushes on a pad thread, a new pad, leaving PLAYING, or the property: threads.
        q.note_pushes(0, 3);
        assert!(q.is_direct());
        q.note_pushes(0, 1);
        assert!(!q.is_direct());
        // Each slow push takes SLOW_COST off the run: one every few pushes never gets there.
        for _ in 0..MAX_QUICK_RUN {
            q.note_pushes(SLOW_COST - 1, 1);
        }
        assert!(!q.is_direct());
        q.note_pushes(MAX_QUICK_RUN, 0);
        assert!(q.is_direct());
        q.open_lane(A, &gst::Caps::new_empty_simple("audio/mpeg"));
        assert!(!q.is_direct(), "a new pad's sink may preroll");
        q.note_pushes(MAX_QUICK_RUN, 0);
        assert!(q.is_direct());
        q.set_playing(false);
        assert!(!q.is_direct());
        q.set_playing(true);
        assert!(q.judges_pushes());
        q.set_direct_allowed(false);
        assert!(!q.judges_pushes(), "nothing to decide");
        q.note_pushes(MAX_QUICK_RUN, 0);
        assert!(!q.is_direct(), "direct-delivery=false");
    }

    #[test]
    fn each_direct_turn_releases_the_last_entry_and_takes_the_next_lane_by_lane() {
        let q = queues(1000, 1 << 20);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.open_lane(A, &gst::Caps::new_empty_simple("audio/mpeg"));
        q.set_playing(true);
        q.note_pushes(QUICK_RUN, 0);
        assert!(q.is_direct());
        let abort = AtomicBool::new(false);
        for (key, ms) in [(A, 0), (V, 1), (A, 2), (V, 3)] {
            assert_eq!(q.send(key, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        let keys = || [V, A].into_iter();
        let mut done = None;
        let mut pushed = Vec::new();
        while let Some(next) = q.next_direct(keys(), done) {
            assert_eq!(next.key, [V, A][next.index]);
            assert_eq!(next.failed, None);
            // One entry of a lane at a time: the one taken is not released yet.
            assert!(q.take_direct(next.key).is_none());
            pushed.push((next.key, dts_ms(&next.entry)));
            done = Some((next.key, Some(false)));
        }
        assert_eq!(pushed, vec![(V, 1), (V, 3), (A, 0), (A, 2)]);
        assert!(q.is_direct(), "quick pushes keep it");
        assert_eq!(q.queued_bytes(), 0);
        // A failed session is named with the next entry, so its buffers are not pushed.
        q.fail(7, PushOutcome::Failed(gst::FlowError::NotNegotiated));
        assert_eq!(q.send(V, buffer(4, 10), &abort), PushOutcome::Ok);
        let next = q.next_direct(keys(), None).unwrap();
        assert_eq!(next.failed, Some(7));
        // Slow pushes in a row go back to pad threads: the turn whose release says so takes
        // nothing, and what is left is the pad thread's.
        for ms in 5..9 {
            assert_eq!(q.send(V, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        let (mut done, mut taken) = (Some((next.key, Some(true))), Vec::new());
        while let Some(next) = q.next_direct(keys(), done) {
            taken.push(dts_ms(&next.entry));
            done = Some((next.key, Some(true)));
        }
        assert_eq!(taken, vec![5, 6, 7]);
        assert!(!q.is_direct());
        let mut batch = VecDeque::new();
        assert_eq!(q.next_batch(V, &q.lane_signal(V), &mut batch), Batch::Ready);
        assert_eq!(batch.iter().map(dts_ms).collect::<Vec<_>>(), vec![8]);
    }

    #[test]
    fn a_pad_thread_waits_for_the_direct_push_in_flight_then_takes_the_rest_in_order() {
        let q = queues(1000, 1 << 20);
        q.open_lane(V, &gst::Caps::new_empty_simple("video/x-h264"));
        q.set_playing(true);
        q.note_pushes(QUICK_RUN, 0);
        // The pad thread sleeps; media is queued and the connection thread takes the oldest.
        let qv = q.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut batch = VecDeque::new();
            qv.next_batch(V, &qv.lane_signal(V), &mut batch);
            let _ = tx.send(batch.iter().map(dts_ms).collect::<Vec<_>>());
        });
        thread::sleep(Duration::from_millis(50));
        let abort = AtomicBool::new(false);
        for ms in 0..20 {
            assert_eq!(q.send(V, buffer(ms, 10), &abort), PushOutcome::Ok);
        }
        let first = q.take_direct(V).unwrap();
        assert_eq!(dts_ms(&first), 0);
        // 20 entries woke the pad thread, but the lane's oldest is being pushed directly.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        // The push watchdog found the push stuck: the pad thread gets the rest once the
        // direct push returns, after it.
        q.fall_back();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        q.release_direct(V, Some(true));
        let rest = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(rest, (1..20).collect::<Vec<_>>());
        assert_eq!(
            q.queued_bytes(),
            0,
            "the byte count followed the direct takes"
        );
    }

    #[test]
    fn caps_changes_are_recorded_once() {
        let q = queues(100, 1 << 30);
        let h264 = gst::Caps::new_empty_simple("video/x-h264");
        let h265 = gst::Caps::new_empty_simple("video/x-h265");
        q.open_lane(V, &h264);
        assert!(!q.caps_changed(V, &h264));
        assert!(q.caps_changed(V, &h265));
        assert!(!q.caps_changed(V, &h265));
    }
}
