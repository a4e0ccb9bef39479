// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GStreamer plugin `rtmpserver`: the `rtmpserversrc` element, an RTMP ingest server inside a
//! pipeline. The protocol (`rtmp`, `auth`, `flv`) is the sans-IO crate `rtmpserver-proto`,
//! which knows nothing of GStreamer; `server` owns the sockets; `rtmpserversrc` is the
//! GStreamer glue. Nothing but the plugin itself is public.

use gst::glib;

pub(crate) use rtmpserver_proto::{auth, flv, rtmp};

mod rtmpserversrc;
mod server;

/**
 * plugin-rtmpserver:
 *
 * An RTMP ingest server as a GStreamer source element (`rtmpserversrc`): encoders such as OBS,
 * FFmpeg and hardware encoders publish to the pipeline directly, without a separate RTMP
 * server in between.
 */
fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    rtmpserversrc::register(plugin)
}

gst::plugin_define!(
    rtmpserver,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("RTMPSERVER_PACKAGE_ORIGIN"),
    env!("BUILD_REL_DATE")
);

/// Debug category of the whole plugin: `GST_DEBUG=rtmpserversrc:5`.
pub(crate) static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtmpserversrc",
        gst::DebugColorFlags::empty(),
        Some("RTMP ingest server source"),
    )
});
