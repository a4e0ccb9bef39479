// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Build information for `gst::plugin_define!`: the commit and release date (from
//! gst-plugin-version-helper) and the package origin shown by gst-inspect-1.0.

/// GStreamer's own default for its meson option `package-origin`.
const UNKNOWN_ORIGIN: &str = "Unknown package origin";

fn main() {
    gst_plugin_version_helper::info();
    // A distribution or a fleet's build sets where this build comes from, as it does with
    // `-Dpackage-origin=` for GStreamer's modules; meson.build passes its option through.
    println!("cargo:rerun-if-env-changed=GST_PACKAGE_ORIGIN");
    let origin = std::env::var("GST_PACKAGE_ORIGIN")
        .ok()
        .filter(|origin| !origin.trim().is_empty())
        .unwrap_or_else(|| UNKNOWN_ORIGIN.to_string());
    println!("cargo:rustc-env=RTMPSERVER_PACKAGE_ORIGIN={origin}");
}
