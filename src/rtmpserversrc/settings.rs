// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The element's configuration, as set through properties.

use std::fmt;

use gst::glib;

pub(super) const DEFAULT_ADDRESS: &str = "0.0.0.0";
pub(super) const DEFAULT_PORT: u32 = 1935;
pub(super) const DEFAULT_APPLICATION: &str = "app";
pub(super) const DEFAULT_TIMEOUT_MS: u32 = 30_000;
pub(super) const DEFAULT_LATENCY_MS: u32 = 200;
pub(super) const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
pub(super) const DEFAULT_MAX_TRACKS: u32 = 16;
pub(super) const DEFAULT_MAX_MESSAGE_SIZE: u32 = 8 * 1024 * 1024;
pub(super) const DEFAULT_STALE_TIMEOUT_MS: u32 = 3000;
pub(super) const DEFAULT_MAX_QUEUE_BYTES: u32 = 16 * 1024 * 1024;
pub(super) const DEFAULT_MAX_QUEUE_TIME_MS: u32 = 1000;
pub(super) const DEFAULT_TLS_PORT: u32 = 443;
pub(super) const DEFAULT_PUBLISH_DEADLINE_MS: u32 = 10_000;
pub(super) const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: u32 = 100;
pub(super) const DEFAULT_AUTH_TIMEOUT_MS: u32 = 3000;
pub(super) const DEFAULT_FAILOVER_TIMEOUT_MS: u32 = 1000;

/// How a publish's running times follow the publisher's clock (`clock-sync`).
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtmpServerSrcClockSync")]
pub enum ClockSync {
    /// Estimate the publisher's clock skew from arrival times and correct it smoothly.
    #[default]
    #[enum_value(
        name = "Skew: follow the publisher's clock drift so output stays latency behind arrival",
        nick = "skew"
    )]
    Skew = 0,
    /// The publisher's timestamps as they are: its drift accumulates.
    #[enum_value(
        name = "None: the publisher's timestamps as they are (its clock drift accumulates)",
        nick = "none"
    )]
    None = 1,
}

#[derive(Clone)]
pub(super) struct Settings {
    pub address: String,
    pub port: u32,
    pub application: String,
    pub stream_key: String,
    pub username: String,
    pub password: String,
    pub public_port: u32,
    pub verify_port: bool,
    pub eos_on_disconnect: bool,
    pub timeout_ms: u32,
    pub latency_ms: u32,
    pub clock_sync: ClockSync,
    pub max_connections: u32,
    pub max_message_size: u32,
    pub stale_timeout_ms: u32,
    pub max_queue_bytes: u32,
    pub max_queue_time_ms: u32,
    pub max_tracks: u32,
    pub publish_deadline_ms: u32,
    pub max_connections_per_address: u32,
    pub tls_port: u32,
    pub public_tls_port: u32,
    pub tls_certificate: String,
    pub tls_key: String,
    pub tls_only: bool,
    pub proxy_protocol: bool,
    pub trusted_proxies: String,
    pub auth_url: String,
    pub auth_timeout_ms: u32,
    pub failover: bool,
    pub failover_timeout_ms: u32,
    pub failback: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            address: DEFAULT_ADDRESS.into(),
            port: DEFAULT_PORT,
            application: DEFAULT_APPLICATION.into(),
            stream_key: String::new(),
            username: String::new(),
            password: String::new(),
            public_port: 0,
            verify_port: true,
            eos_on_disconnect: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            latency_ms: DEFAULT_LATENCY_MS,
            clock_sync: ClockSync::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            stale_timeout_ms: DEFAULT_STALE_TIMEOUT_MS,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_queue_time_ms: DEFAULT_MAX_QUEUE_TIME_MS,
            max_tracks: DEFAULT_MAX_TRACKS,
            publish_deadline_ms: DEFAULT_PUBLISH_DEADLINE_MS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            tls_port: DEFAULT_TLS_PORT,
            public_tls_port: 0,
            tls_certificate: String::new(),
            tls_key: String::new(),
            tls_only: false,
            proxy_protocol: false,
            trusted_proxies: String::new(),
            auth_url: String::new(),
            auth_timeout_ms: DEFAULT_AUTH_TIMEOUT_MS,
            failover: false,
            failover_timeout_ms: DEFAULT_FAILOVER_TIMEOUT_MS,
            failback: true,
        }
    }
}

impl Settings {
    /// How a publish's media reaches the pads.
    pub fn output_config(&self) -> super::outputs::OutputConfig {
        super::outputs::OutputConfig {
            latency: gst::ClockTime::from_mseconds(u64::from(self.latency_ms)),
            max_pending_bytes: u64::from(self.max_queue_bytes),
            queue_limits: super::pad_queues::Limits {
                max_time: gst::ClockTime::from_mseconds(u64::from(self.max_queue_time_ms)),
                max_bytes: self.max_queue_bytes as usize,
            },
        }
    }

    /// Authentication is on when a user name is configured (an auth service decides on its own
    /// whether a connect must log in, see `uses_auth_service`).
    pub fn auth_required(&self) -> bool {
        !self.username.is_empty()
    }

    /// The platform's auth service (`auth-url`) decides connects and publishes.
    pub fn uses_auth_service(&self) -> bool {
        !self.auth_url.is_empty()
    }

    /// RTMPS is on when a certificate and a key are configured.
    pub fn tls_enabled(&self) -> bool {
        !self.tls_certificate.is_empty() && !self.tls_key.is_empty()
    }
}

// The password must never reach a log, so Debug is written by hand.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("application", &self.application)
            .field("stream_key_set", &!self.stream_key.is_empty())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("public_port", &self.public_port)
            .field("verify_port", &self.verify_port)
            .field("eos_on_disconnect", &self.eos_on_disconnect)
            .field("timeout_ms", &self.timeout_ms)
            .field("proxy_protocol", &self.proxy_protocol)
            .field("trusted_proxies", &self.trusted_proxies)
            // May carry a token in its query.
            .field("auth_url_set", &!self.auth_url.is_empty())
            .finish_non_exhaustive()
    }
}
