// SPDX-License-Identifier: MPL-2.0
//! The element's output pads: one src pad per track, pushed directly from the publisher's
//! connection thread, as a demuxer pushes from its streaming thread.
//!
//! There is no queue and no thread of ours between the socket and the pad: a blocked
//! downstream blocks the push, the connection stops reading, and TCP slows the publisher down
//! (back-pressure instead of dropping). Pads outlive publish sessions: a publisher that
//! reconnects continues on the same pads. Measured against one appsrc per track (the previous
//! design) in bench/README.md.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use gst::prelude::*;

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
}

/// The outcome of pushing one buffer, combined over every pad.
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

/// `u64::MAX`: nothing pushed yet.
const NO_TIME: u64 = u64::MAX;

pub(super) struct Outputs {
    pads: Mutex<HashMap<TrackKey, gst::Pad>>,
    /// Serializes pad creation, so `pads` is never locked while pad-added handlers run.
    /// True once the element left PAUSED: a straggling publisher thread adds no pads.
    creating: Mutex<bool>,
    /// One flow result for all pads: an unlinked pad alone is not an error.
    flow: Mutex<gst_base::UniqueFlowCombiner>,
    /// All pads of the element belong to one stream group.
    group_id: Mutex<Option<gst::GroupId>>,
    no_more_pads_sent: Mutex<bool>,
    /// The latest running time pushed on any pad (ns), so a new session continues after it.
    high_water: AtomicU64,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            pads: Mutex::default(),
            creating: Mutex::default(),
            flow: Mutex::default(),
            group_id: Mutex::default(),
            no_more_pads_sent: Mutex::default(),
            high_water: AtomicU64::new(NO_TIME),
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
        caps: &gst::Caps,
        config: OutputConfig,
    ) -> Result<gst::Pad, gst::FlowError> {
        let pad = match self.existing(key) {
            Some(pad) => pad,
            None => {
                let closed = self.creating.lock().map_err(|_| gst::FlowError::Error)?;
                if *closed {
                    return Err(gst::FlowError::Flushing);
                }
                match self.existing(key) {
                    Some(pad) => pad,
                    None => self.create(element, key, caps, config)?,
                }
            }
        };
        if pad.current_caps().as_ref() != Some(caps) {
            gst::info!(CAT, obj = pad, "caps change to {caps}");
            let _stream = pad.stream_lock();
            // Sticky: reaches downstream before the next buffer even if the pad is unlinked.
            pad.push_event(gst::event::Caps::new(caps));
        }
        Ok(pad)
    }

    fn existing(&self, key: TrackKey) -> Option<gst::Pad> {
        self.pads.lock().ok()?.get(&key).cloned()
    }

    fn create(
        &self,
        element: &super::RtmpServerSrc,
        key: TrackKey,
        caps: &gst::Caps,
        config: OutputConfig,
    ) -> Result<gst::Pad, gst::FlowError> {
        let pad_name = key.pad_name();
        let templ = element
            .pad_template(key.template_name())
            .ok_or(gst::FlowError::Error)?;
        let latency = config.latency;
        let pad = gst::Pad::builder_from_template(&templ)
            .name(pad_name.as_str())
            .query_function(move |pad, parent, query| answer_query(pad, parent, query, latency))
            .event_function(answer_event)
            .build();
        pad.set_active(true).map_err(|_| gst::FlowError::Error)?;
        let group_id = *self
            .group_id
            .lock()
            .map_err(|_| gst::FlowError::Error)?
            .get_or_insert_with(gst::GroupId::next);
        let stream_id = pad.create_stream_id(element, Some(&pad_name));
        // Sticky events, stored on the pad and sent ahead of the first buffer once linked.
        pad.push_event(
            gst::event::StreamStart::builder(&stream_id)
                .group_id(group_id)
                .build(),
        );
        pad.push_event(gst::event::Caps::new(caps));
        // Buffers carry running times (the element's clock time minus its base time).
        let segment = gst::FormattedSegment::<gst::ClockTime>::new();
        pad.push_event(gst::event::Segment::new(&segment));
        // pad-added handlers link the pad synchronously, before any buffer is pushed.
        element.add_pad(&pad).map_err(|_| gst::FlowError::Error)?;
        if let Ok(mut pads) = self.pads.lock() {
            pads.insert(key, pad.clone());
        }
        if let Ok(mut flow) = self.flow.lock() {
            flow.add_pad(&pad);
        }
        gst::info!(CAT, obj = element, "added pad {pad_name} with caps {caps}");
        Ok(pad)
    }

    /// Pushes `buffer` on `pad` and combines the result with the other pads'. `replaced` is
    /// checked under the pad's stream lock, so once a newer publisher has pushed, nothing of
    /// the replaced one follows.
    pub fn push(&self, pad: &gst::Pad, buffer: gst::Buffer, replaced: &AtomicBool) -> PushOutcome {
        // The later of the two: with B-frames a PTS runs ahead of its DTS.
        let running_time = buffer.pts().max(buffer.dts());
        let result = {
            // One pushing thread at a time per pad: a publisher replacing a stalled one waits
            // for the old push to return.
            let _stream = pad.stream_lock();
            if replaced.load(Ordering::SeqCst) {
                return PushOutcome::Replaced;
            }
            pad.push(buffer)
        };
        if result.is_ok() {
            if let Some(t) = running_time {
                self.high_water.fetch_max(t.nseconds(), Ordering::Relaxed);
            }
        }
        let combined = match self.flow.lock() {
            Ok(mut flow) => flow.update_pad_flow(pad, result),
            Err(_) => Err(gst::FlowError::Error),
        };
        match combined {
            Ok(_) => PushOutcome::Ok,
            Err(gst::FlowError::Flushing | gst::FlowError::Eos) => PushOutcome::Stopped,
            Err(err) => PushOutcome::Failed(err),
        }
    }

    /// Pushes a serialized event (tags, EOS) on `pad`, in order with its buffers.
    pub fn push_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let _stream = pad.stream_lock();
        pad.push_event(event)
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

    pub fn pads(&self) -> Vec<gst::Pad> {
        self.pads
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn high_water(&self) -> Option<gst::ClockTime> {
        match self.high_water.load(Ordering::Relaxed) {
            NO_TIME => None,
            ns => Some(gst::ClockTime::from_nseconds(ns)),
        }
    }

    /// Allows pads again (READY→PAUSED).
    pub fn reopen(&self) {
        if let Ok(mut closed) = self.creating.lock() {
            *closed = false;
        }
    }

    /// Forgets every pad (the element returned to READY and removes them); no pad is added
    /// until [`Outputs::reopen`].
    pub fn take_all(&self) -> Vec<gst::Pad> {
        // Waits for a creation in progress, so its pad is in the map below.
        if let Ok(mut closed) = self.creating.lock() {
            *closed = true;
        }
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
        self.pads
            .lock()
            .map(|mut p| p.drain().map(|(_, pad)| pad).collect())
            .unwrap_or_default()
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
