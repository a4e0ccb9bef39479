// SPDX-License-Identifier: MPL-2.0
//! The element's output pads: one internal appsrc per track behind a ghost pad.
//!
//! Pads outlive publish sessions: a publisher that reconnects continues on the same pads.

use std::collections::HashMap;
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

struct Output {
    appsrc: gst_app::AppSrc,
    caps: gst::Caps,
}

/// Parameters for new appsrcs.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutputConfig {
    pub latency: gst::ClockTime,
    pub max_queue_bytes: u64,
}

#[derive(Default)]
pub(super) struct Outputs {
    tracks: Mutex<HashMap<TrackKey, Output>>,
    /// Serializes pad creation, so `tracks` is never locked while pad-added handlers run.
    creating: Mutex<()>,
    no_more_pads_sent: Mutex<bool>,
    /// The latest running time pushed on any pad, so a new session continues after it.
    high_water: Mutex<Option<gst::ClockTime>>,
}

impl Outputs {
    /// The appsrc of `key`, created with its pad if needed, with `caps` set on it.
    pub fn ensure(
        &self,
        element: &super::RtmpServerSrc,
        key: TrackKey,
        caps: &gst::Caps,
        config: OutputConfig,
    ) -> Result<gst_app::AppSrc, gst::FlowError> {
        if let Some(appsrc) = self.update_caps(key, caps) {
            return Ok(appsrc);
        }
        let _creating = self.creating.lock().map_err(|_| gst::FlowError::Error)?;
        if let Some(appsrc) = self.update_caps(key, caps) {
            return Ok(appsrc);
        }
        let appsrc = self.create(element, key, caps, config)?;
        Ok(appsrc)
    }

    fn update_caps(&self, key: TrackKey, caps: &gst::Caps) -> Option<gst_app::AppSrc> {
        let mut tracks = self.tracks.lock().ok()?;
        let output = tracks.get_mut(&key)?;
        if output.caps != *caps {
            gst::info!(CAT, "{}: caps change to {caps}", key.pad_name());
            // appsrc queues the caps change in order with the buffers already queued.
            output.appsrc.set_caps(Some(caps));
            output.caps = caps.clone();
        }
        Some(output.appsrc.clone())
    }

    fn create(
        &self,
        element: &super::RtmpServerSrc,
        key: TrackKey,
        caps: &gst::Caps,
        config: OutputConfig,
    ) -> Result<gst_app::AppSrc, gst::FlowError> {
        let pad_name = key.pad_name();
        let appsrc = gst_app::AppSrc::builder()
            .name(format!("{pad_name}_appsrc"))
            .format(gst::Format::Time)
            .is_live(true)
            .stream_type(gst_app::AppStreamType::Stream)
            .caps(caps)
            // Back-pressure: a full queue blocks the connection thread, which stops reading
            // the socket, so memory stays bounded and nothing the publisher sent is dropped.
            .block(true)
            .max_bytes(config.max_queue_bytes)
            .build();
        appsrc.set_property("min-latency", config.latency.nseconds() as i64);
        appsrc.set_property("max-latency", -1i64);
        element.add(&appsrc).map_err(|_| gst::FlowError::Error)?;
        let templ = element
            .pad_template(key.template_name())
            .ok_or(gst::FlowError::Error)?;
        let target = appsrc.static_pad("src").ok_or(gst::FlowError::Error)?;
        let ghost = gst::GhostPad::builder_from_template(&templ)
            .name(pad_name.as_str())
            .build();
        ghost
            .set_target(Some(&target))
            .map_err(|_| gst::FlowError::Error)?;
        let _ = ghost.set_active(true);
        if let Ok(mut tracks) = self.tracks.lock() {
            tracks.insert(
                key,
                Output {
                    appsrc: appsrc.clone(),
                    caps: caps.clone(),
                },
            );
        }
        // pad-added handlers link the pad synchronously, before any buffer is queued.
        element.add_pad(&ghost).map_err(|_| gst::FlowError::Error)?;
        if appsrc.sync_state_with_parent().is_err() {
            gst::warning!(
                CAT,
                obj = element,
                "{pad_name}: cannot follow the element's state"
            );
        }
        gst::info!(CAT, obj = element, "added pad {pad_name} with caps {caps}");
        Ok(appsrc)
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

    pub fn appsrcs(&self) -> Vec<gst_app::AppSrc> {
        self.tracks
            .lock()
            .map(|t| t.values().map(|o| o.appsrc.clone()).collect())
            .unwrap_or_default()
    }

    pub fn note_running_time(&self, t: gst::ClockTime) {
        if let Ok(mut hw) = self.high_water.lock() {
            if hw.is_none_or(|h| t > h) {
                *hw = Some(t);
            }
        }
    }

    pub fn high_water(&self) -> Option<gst::ClockTime> {
        self.high_water.lock().ok().and_then(|hw| *hw)
    }

    /// Forgets every pad (the element returned to NULL/READY and removed them).
    pub fn take_all(&self) -> Vec<gst_app::AppSrc> {
        if let Ok(mut sent) = self.no_more_pads_sent.lock() {
            *sent = false;
        }
        if let Ok(mut hw) = self.high_water.lock() {
            *hw = None;
        }
        self.tracks
            .lock()
            .map(|mut t| t.drain().map(|(_, o)| o.appsrc).collect())
            .unwrap_or_default()
    }
}
