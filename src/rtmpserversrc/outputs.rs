// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The element's output pads: one src pad per track, each pushing from its own streaming
//! thread (a pad task) what the publisher's connection thread queued for it (pad_queues.rs).
//!
//! A sink that prerolls, or a muxer waiting for its other pads, blocks only its own pad's
//! thread, so the pipelines users write without queues reach PLAYING, as with rtspsrc. When a
//! pad's queue is full the connection thread waits, stops reading, and TCP slows the publisher
//! down (back-pressure instead of dropping). Pads outlive publish sessions: a publisher that
//! reconnects continues on the same pads. The cost of the thread hop is measured in
//! bench/README.md; once downstream is seen not to wait, the connection thread pushes itself
//! ([`Outputs::deliver_directly`], pad_queues.rs says when), watched by the server's push
//! watchdog.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::pad_queues::{Batch, Entry, Item, Limits, PadQueues, PAD_THREAD_WAIT, SLOW_PUSH};
use super::push_timing::{PushJudge, Sampler};
use crate::server::PushWatch;
use crate::CAT;

/// Audio or video, with the Enhanced RTMP track id (0 for plain RTMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum TrackKey {
    Video(u8),
    Audio(u8),
}

impl TrackKey {
    pub fn pad_name(self) -> String {
        match self {
            TrackKey::Video(id) => format!("video_{id}"),
            TrackKey::Audio(id) => format!("audio_{id}"),
        }
    }

    fn template_name(self) -> &'static str {
        match self {
            TrackKey::Video(_) => "video_%u",
            TrackKey::Audio(_) => "audio_%u",
        }
    }
}

/// What the pipeline learns about the element's pads when they are created.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutputConfig {
    /// Reported in the LATENCY query: how late a frame may arrive after its timestamp.
    pub latency: gst::ClockTime,
    /// Media held back per publisher while its tracks are discovered.
    pub max_pending_bytes: u64,
    /// How much each pad's queue holds before the publisher's socket is left unread.
    pub queue_limits: Limits,
}

/// The outcome of sending one buffer, combined over every pad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PushOutcome {
    Ok,
    /// Shutting down (pads deactivated) or downstream ended the stream: close quietly.
    Stopped,
    /// The publisher was replaced by a newer one: nothing more of it may reach the pads.
    Replaced,
    /// Downstream failed (no pad linked, not negotiated, error): the pipeline is told.
    Failed(gst::FlowError),
}

/// `u64::MAX`: nothing sent yet.
const NO_TIME: u64 = u64::MAX;

#[derive(Default)]
struct Pads {
    /// Sorted by key; replaced (not changed) when a pad is added, so a direct delivery takes
    /// it with a reference count, without allocating per read (the pads beside the count: one
    /// block, one cold line fewer than a `Vec` behind an `Arc`).
    list: Arc<[(TrackKey, gst::Pad)]>,
    /// True once the element left PAUSED: a straggling publisher thread adds no pads.
    closed: bool,
}

pub(super) struct Outputs {
    pads: Mutex<Pads>,
    /// Serializes pad creation between publisher threads. `pads` itself is not held while
    /// pad-added handlers run, so a handler may do anything, including a state change.
    creation: Mutex<()>,
    /// What the connection thread queued for each pad's thread.
    queues: Arc<PadQueues>,
    /// One flow result for all pads: an unlinked pad alone is not an error.
    flow: Arc<Mutex<gst_base::UniqueFlowCombiner>>,
    /// All pads of the element belong to one stream group.
    group_id: Mutex<Option<gst::GroupId>>,
    no_more_pads_sent: Mutex<bool>,
    /// The latest running time queued on any pad (ns), so a new session continues after it.
    high_water: AtomicU64,
    /// Which direct pushes are judged (three system calls each).
    judging: Sampler,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            pads: Mutex::default(),
            creation: Mutex::default(),
            queues: Arc::default(),
            flow: Arc::default(),
            group_id: Mutex::default(),
            no_more_pads_sent: Mutex::default(),
            high_water: AtomicU64::new(NO_TIME),
            judging: Sampler::default(),
        }
    }
}

impl Outputs {
    /// The pad of `key`, created if needed; its caps are `caps` before the next buffer.
    /// Call with no lock of the caller's held: creating a pad runs pad-added handlers.
    pub fn ensure(
        &self,
        element: &super::RtmpServerSrc,
        key: TrackKey,
        session: u64,
        caps: &gst::Caps,
        config: OutputConfig,
    ) -> Result<(), gst::FlowError> {
        if self.existing(key).is_none() {
            let _creation = self.creation.lock().map_err(|_| gst::FlowError::Error)?;
            if self.existing(key).is_none() {
                return self.create(element, key, caps, config);
            }
        }
        if self.queues.caps_changed(key, caps) {
            gst::info!(
                CAT,
                obj = element,
                "{}: caps change to {caps}",
                key.pad_name()
            );
            // In order with the buffers: downstream gets it before the next buffer.
            self.queues.send(
                key,
                Entry {
                    session,
                    item: Item::Event(gst::event::Caps::new(caps)),
                },
                &AtomicBool::new(false),
            );
        }
        Ok(())
    }

    fn existing(&self, key: TrackKey) -> Option<gst::Pad> {
        let pads = self.pads.lock().ok()?;
        pads.list
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, pad)| pad.clone())
    }

    fn create(
        &self,
        element: &super::RtmpServerSrc,
        key: TrackKey,
        caps: &gst::Caps,
        config: OutputConfig,
    ) -> Result<(), gst::FlowError> {
        if self.pads.lock().map_err(|_| gst::FlowError::Error)?.closed {
            return Err(gst::FlowError::Flushing);
        }
        self.queues.set_limits(config.queue_limits);
        self.queues.open_lane(key, caps);
        let pad_name = key.pad_name();
        let templ = element
            .pad_template(key.template_name())
            .ok_or(gst::FlowError::Error)?;
        let latency = config.latency;
        let (queues, flow) = (self.queues.clone(), self.flow.clone());
        let pad = gst::Pad::builder_from_template(&templ)
            .name(pad_name.as_str())
            .query_function(move |pad, parent, query| answer_query(pad, parent, query, latency))
            .event_function(answer_event)
            .activatemode_function(move |pad, _parent, _mode, active| {
                if active {
                    queues.unflush(key);
                    start_pad_thread(pad, key, queues.clone(), flow.clone())
                } else {
                    // Wakes the pad thread out of its wait; a push in progress returns since
                    // the pad is flushing. Then the task is joined.
                    queues.flush(key);
                    pad.stop_task()
                        .map_err(|err| gst::loggable_error!(CAT, "stop task: {err}"))
                }
            })
            .build();
        pad.set_active(true).map_err(|_| gst::FlowError::Error)?;
        let group_id = *self
            .group_id
            .lock()
            .map_err(|_| gst::FlowError::Error)?
            .get_or_insert_with(gst::GroupId::next);
        let stream_id = pad.create_stream_id(element, Some(&pad_name));
        // Sticky events, stored on the pad before it is exposed, so pad-added handlers see the
        // caps; its thread sends them ahead of the first buffer.
        pad.push_event(
            gst::event::StreamStart::builder(&stream_id)
                .group_id(group_id)
                .build(),
        );
        pad.push_event(gst::event::Caps::new(caps));
        // Buffers carry running times (the element's clock time minus its base time).
        let segment = gst::FormattedSegment::<gst::ClockTime>::new();
        pad.push_event(gst::event::Segment::new(&segment));
        if let Ok(mut flow) = self.flow.lock() {
            flow.add_pad(&pad);
        }
        // pad-added handlers link the pad synchronously, before any buffer is pushed.
        element.add_pad(&pad).map_err(|_| gst::FlowError::Error)?;
        let closed = {
            let mut pads = self.pads.lock().map_err(|_| gst::FlowError::Error)?;
            if !pads.closed {
                let mut list: Vec<_> = pads
                    .list
                    .iter()
                    .filter(|(k, _)| *k != key)
                    .cloned()
                    .collect();
                list.push((key, pad.clone()));
                list.sort_by_key(|(k, _)| *k);
                pads.list = list.into();
            }
            pads.closed
        };
        if closed {
            // The element left PAUSED while the pad was being added (perhaps by a pad-added
            // handler): the pad is not kept.
            let _ = pad.set_active(false);
            let _ = element.remove_pad(&pad);
            return Err(gst::FlowError::Flushing);
        }
        gst::info!(CAT, obj = element, "added pad {pad_name} with caps {caps}");
        Ok(())
    }

    /// Queues `buffer` for the pad of `key`, waiting while its queue is full. `replaced` is
    /// checked under the queues' lock, so once a newer publisher has sent, nothing of the
    /// replaced one follows. Failures seen by the pad threads come back here.
    pub fn send(
        &self,
        key: TrackKey,
        session: u64,
        buffer: gst::Buffer,
        replaced: &AtomicBool,
    ) -> PushOutcome {
        // The later of the two: with B-frames a PTS runs ahead of its DTS.
        let running_time = buffer.pts().max(buffer.dts());
        let entry = Entry {
            session,
            item: Item::Buffer(buffer),
        };
        let outcome = self.queues.send(key, entry, replaced);
        if outcome == PushOutcome::Ok {
            if let Some(t) = running_time {
                self.high_water.fetch_max(t.nseconds(), Ordering::Relaxed);
            }
        }
        outcome
    }

    /// Queues a serialized event (tags, EOS) for the pad of `key`, in order with its buffers.
    pub fn send_event(&self, key: TrackKey, session: u64, event: gst::Event) -> bool {
        let entry = Entry {
            session,
            item: Item::Event(event),
        };
        self.queues.send(key, entry, &AtomicBool::new(false)) == PushOutcome::Ok
    }

    /// Queues EOS on every pad, after what is queued already.
    pub fn send_eos(&self, session: u64) {
        for key in self.keys() {
            self.send_event(key, session, gst::event::Eos::new());
        }
    }

    /// Wakes the pad threads that got data since they last waited (see
    /// [`PadQueues::wake_pad_threads`]).
    pub fn wake_pad_threads(&self) {
        self.queues.wake_pad_threads();
    }

    /// Whether the connection thread should push what it queued itself
    /// ([`Outputs::deliver_directly`]).
    pub fn is_direct(&self) -> bool {
        self.queues.is_direct()
    }

    /// Pushes what is queued from the calling (connection) thread, oldest first on each pad,
    /// arming `watch` around each push, then wakes the pad threads for whatever they must
    /// push instead. False if the push watchdog gave the connection to another thread
    /// meanwhile.
    pub fn deliver_directly(&self, watch: &PushWatch) -> bool {
        let list = match self.pads.lock() {
            Ok(pads) => pads.list.clone(),
            Err(_) => return true,
        };
        // Each turn releases the entry pushed before and takes the next under one lock; the
        // last one wakes the pad threads.
        let (mut done, mut failed) = (None, None);
        while let Some(next) = self.queues.next_direct(list.iter().map(|(k, _)| *k), done) {
            let pad = &list[next.index].1;
            // A failure seen stays known for this delivery (a replaced session's later one,
            // recorded by its pad thread, does not hide it), until a push of its own fails.
            failed = failed.or(next.failed);
            let mut judge = PushJudge::start_if(self.judging.measure_this(next.index));
            watch.arm();
            let took = push_entry(pad, next.entry, &self.queues, &self.flow, &mut failed);
            let kept = watch.disarm();
            // A short wait is fine here; a long one or downstream work is not.
            let slow = took.and_then(|took| Some((judge.slow(took, SLOW_PUSH)?, took)));
            if let Some((kind, took)) = slow {
                gst::debug!(CAT, obj = pad, "direct push {kind:?} for {took:?}");
            }
            self.judging.pushed(next.index, &judge, slow.is_some());
            // A long push that was not measured counts neither way: its pad's next one is.
            let verdict = (!judge.missed()).then_some(slow.is_some());
            if !kept {
                self.queues.release_direct(next.key, verdict);
                return false;
            }
            done = Some((next.key, verdict));
        }
        true
    }

    /// The push watchdog found a direct push that does not return: pad threads again.
    pub fn fall_back(&self) {
        self.queues.fall_back();
    }

    /// The element entered or left PLAYING (direct delivery only while PLAYING).
    pub fn set_playing(&self, playing: bool) {
        self.queues.set_playing(playing);
    }

    /// The `direct-delivery` property: false keeps every push on the pad threads.
    pub fn set_direct_allowed(&self, allowed: bool) {
        self.queues.set_direct_allowed(allowed);
    }

    pub fn direct_allowed(&self) -> bool {
        self.queues.direct_allowed()
    }

    /// Switches to direct delivery and back so far.
    pub fn delivery_switches(&self) -> (u64, u64) {
        self.queues.delivery_switches()
    }

    /// Wakes a sender waiting for queue space, so a replaced publisher notices at once.
    pub fn wake_senders(&self) {
        self.queues.wake_senders();
    }

    /// Signals `no-more-pads` the first time the publisher's tracks are settled.
    pub fn no_more_pads_once(&self, element: &super::RtmpServerSrc) {
        let first = self
            .no_more_pads_sent
            .lock()
            .map(|mut sent| !std::mem::replace(&mut *sent, true))
            .unwrap_or(false);
        if first {
            element.no_more_pads();
        }
    }

    fn keys(&self) -> Vec<TrackKey> {
        self.pads
            .lock()
            .map(|p| p.list.iter().map(|(k, _)| *k).collect())
            .unwrap_or_default()
    }

    /// Whether media is queued or being pushed downstream (see [`PadQueues::delivering`]).
    pub fn delivering(&self) -> bool {
        self.queues.delivering()
    }

    /// How many times a publisher has waited for queue space (back-pressure) so far.
    pub fn sender_waits(&self) -> u64 {
        self.queues.sender_waits()
    }

    /// Bytes queued for the pad threads (payload plus bookkeeping), for `stats`.
    pub fn queued_bytes(&self) -> u64 {
        self.queues.queued_bytes() as u64
    }

    pub fn high_water(&self) -> Option<gst::ClockTime> {
        match self.high_water.load(Ordering::Relaxed) {
            NO_TIME => None,
            ns => Some(gst::ClockTime::from_nseconds(ns)),
        }
    }

    /// Allows pads again (READY→PAUSED).
    pub fn reopen(&self) {
        if let Ok(mut pads) = self.pads.lock() {
            pads.closed = false;
        }
    }

    /// Forgets every pad (the element returned to READY and removes them); no pad is added
    /// until [`Outputs::reopen`].
    pub fn take_all(&self) -> Vec<gst::Pad> {
        let pads: Vec<gst::Pad> = match self.pads.lock() {
            Ok(mut pads) => {
                pads.closed = true;
                let list = std::mem::take(&mut pads.list);
                list.iter().map(|(_, pad)| pad.clone()).collect()
            }
            Err(_) => Vec::new(),
        };
        if let Ok(mut sent) = self.no_more_pads_sent.lock() {
            *sent = false;
        }
        if let Ok(mut group) = self.group_id.lock() {
            *group = None;
        }
        self.high_water.store(NO_TIME, Ordering::Relaxed);
        if let Ok(mut flow) = self.flow.lock() {
            flow.clear();
        }
        self.queues.clear();
        pads
    }
}

/// Starts the streaming thread of `pad`: it pushes what the connection thread queued, in
/// order, and reports failures (combined over the pads) to the sending session.
fn start_pad_thread(
    pad: &gst::Pad,
    key: TrackKey,
    queues: Arc<PadQueues>,
    flow: Arc<Mutex<gst_base::UniqueFlowCombiner>>,
) -> Result<(), gst::LoggableError> {
    let weak = pad.downgrade();
    let mut batch = VecDeque::new();
    let ready = queues.lane_signal(key);
    pad.start_task(move || {
        let Some(pad) = weak.upgrade() else {
            return;
        };
        if queues.next_batch(key, &ready, &mut batch) == Batch::Flushing {
            batch.clear();
            let _ = pad.pause_task();
            return;
        }
        // A session that failed pushes nothing more; its sender stops at its next buffer.
        let mut failed = queues.failed_session();
        let (mut quick, mut slow) = (0, 0);
        let mut judge = PushJudge::start_if(queues.judges_pushes());
        for entry in batch.drain(..) {
            if let Some(took) = push_entry(&pad, entry, &queues, &flow, &mut failed) {
                match judge.slow(took, PAD_THREAD_WAIT) {
                    None => quick += 1,
                    Some(kind) => {
                        gst::debug!(CAT, obj = pad, "pad thread push {kind:?} for {took:?}");
                        slow += 1;
                    }
                }
            }
        }
        queues.note_pushes(quick, slow);
    })
    .map_err(|err| gst::loggable_error!(CAT, "start task: {err}"))
}

/// Pushes one queued entry on `pad` (from its pad thread or, in direct delivery, from the
/// connection thread) and records a failure for its session. Returns how long a buffer's push
/// took; `None` for events and skipped buffers.
fn push_entry(
    pad: &gst::Pad,
    entry: Entry,
    queues: &PadQueues,
    flow: &Mutex<gst_base::UniqueFlowCombiner>,
    failed: &mut Option<u64>,
) -> Option<Duration> {
    match entry.item {
        Item::Buffer(buffer) => {
            if *failed == Some(entry.session) {
                return None;
            }
            let start = Instant::now();
            let result = pad.push(buffer);
            let took = start.elapsed();
            let combined = match flow.lock() {
                Ok(mut flow) => flow.update_pad_flow(pad, result),
                Err(_) => Err(gst::FlowError::Error),
            };
            let outcome = match combined {
                Ok(_) => return Some(took),
                Err(gst::FlowError::Flushing | gst::FlowError::Eos) => PushOutcome::Stopped,
                Err(err) => PushOutcome::Failed(err),
            };
            *failed = Some(entry.session);
            if queues.fail(entry.session, outcome) {
                report_failure(pad, outcome);
            }
            Some(took)
        }
        Item::Event(event) => {
            pad.push_event(event);
            None
        }
    }
}

/// What a demuxer does when downstream fails: the application learns why the stream stopped.
fn report_failure(pad: &gst::Pad, outcome: PushOutcome) {
    match outcome {
        PushOutcome::Failed(err) => {
            if let Some(element) = pad.parent_element() {
                gst::element_error!(
                    element,
                    gst::StreamError::Failed,
                    ("Internal data stream error."),
                    ["streaming stopped, reason {err:?}"]
                );
            }
        }
        _ => gst::info!(CAT, obj = pad, "downstream stopped: closing the publish"),
    }
}

/// Queries on an output pad: a live source with `latency` of jitter allowance, caps fixed by
/// the publisher's stream.
fn answer_query(
    pad: &gst::Pad,
    parent: Option<&gst::Object>,
    query: &mut gst::QueryRef,
    latency: gst::ClockTime,
) -> bool {
    match query.view_mut() {
        gst::QueryViewMut::Latency(q) => {
            q.set(true, latency, gst::ClockTime::NONE);
            true
        }
        gst::QueryViewMut::Caps(q) => {
            let caps = pad
                .current_caps()
                .unwrap_or_else(|| pad.pad_template_caps());
            let caps = match q.filter() {
                Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                None => caps,
            };
            q.set_result(&caps);
            true
        }
        gst::QueryViewMut::Seeking(q) => {
            let none = gst::GenericFormattedValue::none_for_format(q.format());
            q.set(false, none, none);
            true
        }
        _ => gst::Pad::query_default(pad, parent, query),
    }
}

/// Upstream events on an output pad: a live stream cannot seek; the rest are not for us.
fn answer_event(pad: &gst::Pad, parent: Option<&gst::Object>, event: gst::Event) -> bool {
    match event.view() {
        gst::EventView::Seek(_) => {
            gst::debug!(CAT, obj = pad, "live stream: seek refused");
            false
        }
        _ => gst::Pad::event_default(pad, parent, event),
    }
}
