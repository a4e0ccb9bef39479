// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! `rtmpserversrc`: an RTMP ingest server as a GStreamer source.
//!
//! An element that listens on a TCP port, accepts publishes from RTMP encoders and exposes each
//! elementary stream on a sometimes pad (`video_%u`, `audio_%u`), each pushed from a streaming
//! thread of its own.

use gst::glib;
use gst::prelude::*;

/**
 * SECTION:element-rtmpserversrc
 * @see_also: rtmp2src, flvdemux, rtspsrc
 *
 * An RTMP ingest server inside the pipeline. It listens on a TCP port (and optionally an RTMPS
 * port), authenticates each publisher (stream key, Adobe authmod username and password, the
 * port the client dialed), and outputs the publisher's elementary streams (H.264, H.265, AV1,
 * VP9, AAC, Opus, FLAC, AC-3...) on sometimes pads `video_%u` and `audio_%u`, with caps and
 * timestamps ready for parsers, muxers and decoders. Enhanced RTMP multitrack publishes get a
 * pad per track.
 *
 * Each pad pushes from its own streaming thread, so a pipeline needs no queues after the
 * element; when downstream is slow, the publisher's socket is left unread (TCP back-pressure)
 * and nothing is dropped. Connections that are not streaming media are handled by one event
 * loop per port with small budgets, so idle, slow or hostile peers cost almost nothing.
 *
 * The element posts `rtmpserversrc-publish-started`, `rtmpserversrc-publish-stopped` and
 * `rtmpserversrc-rejected` element messages, and its `stats` property describes the
 * connections and the live publish. Each publish also keeps a report of what the encoder
 * really sends and where it deviates (frame rate, bitrate, GOP, timestamp anomalies, the
 * deviations tolerated, a verdict): live in `stats`, on demand with the `get-publish-report`
 * action signal, and posted as `rtmpserversrc-publish-report` when the publish ends.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 rtmpserversrc name=src port=1935 stream-key=KEY \
 *   src.video_0 ! decodebin ! videoconvert ! autovideosink \
 *   src.audio_0 ! decodebin ! audioconvert ! autoaudiosink
 * ]| Plays what `ffmpeg -re -i in.mp4 -c:v libx264 -c:a aac -f flv rtmp://HOST:1935/app/KEY`
 * publishes.
 * |[
 * gst-launch-1.0 -e rtmpserversrc name=src port=1935 stream-key=KEY eos-on-disconnect=true \
 *   src.video_0 ! h264parse ! mux. src.audio_0 ! aacparse ! mux. \
 *   mp4mux name=mux ! filesink location=recording.mp4
 * ]| Records each publish to MP4, finalized when the publisher leaves.
 */
mod auth_service;
mod caps;
mod clock_sync;
mod correction;
mod failover;
mod failover_gate;
mod imp;
mod ingest;
mod outputs;
mod pad_queues;
mod port;
mod publish_report;
mod publish_slot;
mod publish_stats;
mod publisher;
mod push_timing;
mod running_clock;
mod settings;
mod settle;
mod skew_estimator;
mod slope_pairs;
mod stats;
mod tags;
mod timeline;
mod tracks;

glib::wrapper! {
    pub struct RtmpServerSrc(ObjectSubclass<imp::RtmpServerSrc>)
        @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    settings::ClockSync::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "rtmpserversrc",
        gst::Rank::NONE,
        RtmpServerSrc::static_type(),
    )
}
