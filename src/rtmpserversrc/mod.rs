// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! `rtmpserversrc`: an RTMP ingest server as a GStreamer source.
//!
//! An element that listens on a TCP port, accepts publishes from RTMP encoders and exposes each
//! elementary stream on a sometimes pad (`video_%u`, `audio_%u`), each pushed from a streaming
//! thread of its own.

use gst::glib;
use gst::prelude::*;

mod caps;
mod imp;
mod ingest;
mod outputs;
mod pad_queues;
mod port;
mod publish_stats;
mod publisher;
mod settings;
mod stats;
mod tags;
mod timeline;

glib::wrapper! {
    pub struct RtmpServerSrc(ObjectSubclass<imp::RtmpServerSrc>)
        @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtmpserversrc",
        gst::Rank::NONE,
        RtmpServerSrc::static_type(),
    )
}
