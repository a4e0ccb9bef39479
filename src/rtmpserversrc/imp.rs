// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The element: properties, pad templates and state changes. Glue only: decisions live in
//! `ingest`, media handling in `publisher`, pads in `outputs`.

use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::failover::Role;
use super::failover_gate::FailoverGate;
use super::ingest::AuthState;
use super::outputs::{Outputs, TrackKey};
use super::port::SharedPort;
use super::publish_slot::PublishSlot;
use super::settings::*;
use crate::rtmp::{ChunkLimits, SessionConfig};
use crate::server::{CloseReason, ProxyPolicy, ReconnectRequest, ServerConfig};
use crate::CAT;

#[derive(Default)]
struct State {
    /// The plain and/or TLS ports this element listens on, with its route id on each.
    ports: Vec<(Arc<SharedPort>, u64)>,
    bound_port: u32,
    bound_tls_port: u32,
}

pub struct RtmpServerSrc {
    pub(super) settings: Mutex<Settings>,
    state: Mutex<State>,
    pub(super) outputs: Outputs,
    /// The live publish and whether one may be installed, under one lock.
    pub(super) publish: Mutex<PublishState>,
    pub(super) auth: Mutex<AuthState>,
    pub(super) epoch: Instant,
    pub(super) counters: super::stats::Counters,
    /// The clock and base time while PLAYING, for publisher threads.
    pub(super) running_clock: super::running_clock::RunningClock,
}

/// The element's live publish and whether a new one may be installed: one lock, so a publish
/// is installed only while the element accepts and has not sent EOS, and EOS or PAUSED→READY
/// cannot slip between the check and the install.
#[derive(Default)]
pub(super) struct PublishState {
    /// The publish currently feeding the pads, if any; with `failover`, the primary.
    pub live: Option<Arc<PublishSlot>>,
    /// With `failover`: the backup publisher.
    pub backup: Option<Arc<PublishSlot>>,
    /// With `failover`: which of the two the pads show (created when the element starts).
    pub failover: Option<Arc<FailoverGate>>,
    /// Between READY→PAUSED and PAUSED→READY: publishes may be installed.
    pub accepting: bool,
    /// EOS went out (eos-on-disconnect): nothing more until READY.
    pub ended: bool,
    /// `drain` was emitted: no new publish; `rtmpserversrc-drained` once the live one leaves.
    pub draining: bool,
    /// `rtmpserversrc-drained` was posted for this drain.
    pub drained: bool,
}

impl PublishState {
    /// Whether a publisher (primary or backup) is live.
    pub fn any_live(&self) -> bool {
        self.live.is_some() || self.backup.is_some()
    }

    /// Where the publisher of `role` lives (`None`: no failover, the one publisher).
    pub fn slot_mut(&mut self, role: Option<Role>) -> &mut Option<Arc<PublishSlot>> {
        match role {
            Some(Role::Backup) => &mut self.backup,
            _ => &mut self.live,
        }
    }
}

impl Default for RtmpServerSrc {
    fn default() -> Self {
        RtmpServerSrc {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            outputs: Outputs::default(),
            publish: Mutex::new(PublishState::default()),
            auth: Mutex::new(AuthState::new()),
            epoch: Instant::now(),
            counters: Default::default(),
            running_clock: Default::default(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtmpServerSrc {
    const NAME: &'static str = "GstRtmpServerSrc";
    type Type = super::RtmpServerSrc;
    type ParentType = gst::Element;
}

impl ObjectImpl for RtmpServerSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("address")
                    .nick("Address")
                    .blurb("IP address to listen on (0.0.0.0 for every IPv4 interface, :: for IPv6)")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("port")
                    .nick("Port")
                    .blurb("TCP port to listen on (0 = pick a free port, see bound-port)")
                    .maximum(u16::MAX as u32)
                    .default_value(DEFAULT_PORT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("bound-port")
                    .nick("Bound port")
                    .blurb("The port actually listened on, known once the element is READY")
                    .maximum(u16::MAX as u32)
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("tls-port")
                    .nick("RTMPS port")
                    .blurb("TCP port for RTMPS (TLS), used when tls-certificate and tls-key are set (0 = pick a free port, see bound-tls-port)")
                    .maximum(u16::MAX as u32)
                    .default_value(DEFAULT_TLS_PORT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("bound-tls-port")
                    .nick("Bound RTMPS port")
                    .blurb("The RTMPS port actually listened on (0 without TLS), known once the element is READY")
                    .maximum(u16::MAX as u32)
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("tls-certificate")
                    .nick("TLS certificate")
                    .blurb("PEM file with the certificate chain for RTMPS (with tls-key; empty = no RTMPS)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("tls-key")
                    .nick("TLS private key")
                    .blurb("PEM file with the private key of tls-certificate")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("tls-only")
                    .nick("TLS only")
                    .blurb("Listen for RTMPS only, not on the plain port")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("public-tls-port")
                    .nick("Public RTMPS port")
                    .blurb("Like public-port, for RTMPS connections (a tcUrl without a port means 443). 0 = the bound RTMPS port")
                    .maximum(u16::MAX as u32)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("proxy-protocol")
                    .nick("PROXY protocol")
                    .blurb("Connections from trusted-proxies begin with a PROXY protocol v1 or v2 header (HAProxy send-proxy, AWS NLB, ...), whose source address then stands for the client everywhere: limits, brake, stats, messages, signals, logs. A missing or malformed header closes the connection")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("trusted-proxies")
                    .nick("Trusted proxies")
                    .blurb("With proxy-protocol: comma-separated addresses or CIDR ranges of the load balancers (e.g. \"10.0.0.0/8, 192.168.1.5\"); other peers are direct clients. Empty = every peer is a proxy")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("auth-url")
                    .nick("Auth service URL")
                    .blurb("http:// or https:// URL of the platform's auth service: each connect and publish is POSTed to it as JSON and its answer decides (the password of a user, allow or refuse); publish-stopped is sent too. Empty = credentials from the properties and signals")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("auth-timeout")
                    .nick("Auth service timeout")
                    .blurb("Milliseconds the auth service may take to answer; slower answers, errors and unreachable services refuse the connect or publish")
                    .minimum(1)
                    .maximum(60_000)
                    .default_value(DEFAULT_AUTH_TIMEOUT_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("failover")
                    .nick("Failover")
                    .blurb("Accept a primary and a backup publisher of the stream at once (the backup's connect URL or stream name carries the query backup=1); only the active one's media reaches the pads, and the backup takes over from its last keyframe when the primary is lost")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("failover-timeout")
                    .nick("Failover timeout")
                    .blurb("Milliseconds without media after which the active publisher counts as lost (with failover); a disconnect counts at once")
                    .minimum(100)
                    .maximum(60_000)
                    .default_value(DEFAULT_FAILOVER_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("failback")
                    .nick("Failback")
                    .blurb("With failover: when the primary publisher sends media again, the pads return to it at its next keyframe")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Counters of connections (accepted, open, dropped, rejected by reason), publishes, and the current publisher")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("application")
                    .nick("Application")
                    .blurb("RTMP application name publishers must connect to (the path part of rtmp://host:port/APPLICATION/KEY)")
                    .default_value(Some(DEFAULT_APPLICATION))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("stream-key")
                    .nick("Stream key")
                    .blurb("Stream key publishers must use (empty = accept any key, with a warning). Changes apply to new publishes")
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("username")
                    .nick("Username")
                    .blurb("User name publishers must authenticate as (Adobe authmod, as FFmpeg rtmp://user:pass@..., OBS and rtmp2sink send it). Empty = no authentication. Changes apply to new connections")
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("password")
                    .nick("Password")
                    .blurb("Password of username (write-only, never logged). Changes apply to new connections")
                    .default_value(Some(""))
                    .write_only()
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("auth-fleet-secret")
                    .nick("Fleet secret for Adobe challenges")
                    .blurb("Secret shared by the servers of a fleet (write-only, never logged): Adobe challenges are signed with it, so any of them verifies a login whose connects a load balancer spread over several (their clocks must agree within the 60 s a challenge lives). Empty: challenges only this element knows. Changes apply to new connects")
                    .default_value(Some(""))
                    .write_only()
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("public-port")
                    .nick("Public port")
                    .blurb("Port clients dial, as it appears in their tcUrl, when it differs from the bound port (port forwarding, NAT). 0 = the bound port")
                    .maximum(u16::MAX as u32)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("verify-port")
                    .nick("Verify port")
                    .blurb("Reject connects whose tcUrl names another port than public-port (catches clients that dialed the wrong stream's port)")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("eos-on-disconnect")
                    .nick("EOS on disconnect")
                    .blurb("Send EOS when the publisher leaves (to finalize a recording); otherwise the pads stay and wait for the next publish")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("direct-delivery")
                    .nick("Direct delivery")
                    .blurb("Once PLAYING and downstream has taken a few seconds of buffers without waiting, the publisher's thread pushes them itself instead of waking a thread per pad (less CPU per message); slow or blocked pushes go back to pad threads. false: always pad threads")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("timeout")
                    .nick("Timeout")
                    .blurb("Milliseconds without any data from a peer, handshake included, before it is dropped; for a publisher, milliseconds without media")
                    .minimum(100)
                    .maximum(3_600_000)
                    .default_value(DEFAULT_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("latency")
                    .nick("Latency")
                    .blurb("Latency reported to the pipeline, in milliseconds: how late a frame may arrive after its timestamp (network jitter)")
                    .maximum(60_000)
                    .default_value(DEFAULT_LATENCY_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("clock-sync", ClockSync::default())
                    .nick("Clock synchronisation")
                    .blurb("How running times follow the publisher's clock. skew: measure from arrival times how the publisher's clock drifts against the pipeline clock and correct running times smoothly (at most 2.5 % faster or slower, the same for every track, never backwards), so the delay from arrival to output stays what it was at the start of the publish, for days; a skew over 2 % is logged as implausible and followed only up to 2 %. none: the publisher's timestamps as they are, so its drift accumulates (buffers late, or ever earlier). Changes apply to new publishes")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-connections")
                    .nick("Maximum connections")
                    .blurb("Connections open at once; further ones are closed right after accept (needs as many file descriptors: the soft limit is raised toward the hard one, with a warning when it falls short)")
                    .minimum(1)
                    .default_value(DEFAULT_MAX_CONNECTIONS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-connections-per-address")
                    .nick("Maximum connections per address")
                    .blurb("Connections open at once from one IP address (0 = no limit)")
                    .default_value(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("publish-deadline")
                    .nick("Publish deadline")
                    .blurb("Milliseconds a connection has from accept to publishing (handshake, connect and publish); a slower one is dropped")
                    .minimum(100)
                    .maximum(3_600_000)
                    .default_value(DEFAULT_PUBLISH_DEADLINE_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-message-size")
                    .nick("Maximum message size")
                    .blurb("Largest RTMP message accepted, in bytes; a larger one closes the connection")
                    .minimum(4096)
                    .maximum(256 * 1024 * 1024)
                    .default_value(DEFAULT_MAX_MESSAGE_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("stale-timeout")
                    .nick("Stale publisher timeout")
                    .blurb("Milliseconds of silence after which a live publisher may be replaced by a new publish of the same stream (an encoder reconnecting)")
                    .default_value(DEFAULT_STALE_TIMEOUT_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-queue-bytes")
                    .nick("Maximum held-back bytes")
                    .blurb("Bytes queued for each pad's streaming thread, and media held back per publisher while its tracks are discovered (pads appear once all are known, or when this is reached); a full queue leaves the publisher's socket unread (TCP back-pressure)")
                    .minimum(64 * 1024)
                    .default_value(DEFAULT_MAX_QUEUE_BYTES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-tracks")
                    .nick("Maximum tracks")
                    .blurb("Tracks (pads) one publisher may create; the media of further Enhanced RTMP tracks is ignored")
                    .minimum(1)
                    .maximum(512)
                    .default_value(DEFAULT_MAX_TRACKS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-queue-time")
                    .nick("Maximum queued time")
                    .blurb("Milliseconds of media queued for each pad's streaming thread before the publisher's socket is left unread (TCP back-pressure); a queue may grow up to max-queue-bytes while another pad waits for data")
                    .minimum(10)
                    .maximum(60_000)
                    .default_value(DEFAULT_MAX_QUEUE_TIME_MS)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                /**
                 * GstRtmpServerSrc::get-password:
                 * @user: the user name the client authenticates as
                 * @client_address: "ip:port" of the client
                 *
                 * Asks the application for the password of @user, for applications with a user
                 * store of their own (many users). Return %NULL for an unknown user: the client
                 * is answered exactly as for a wrong password. When a handler is connected,
                 * authentication is required even if #GstRtmpServerSrc:username is empty.
                 * Emitted from a connection thread.
                 */
                glib::subclass::Signal::builder("get-password")
                    .param_types([String::static_type(), String::static_type()])
                    .return_type::<Option<String>>()
                    .run_last()
                    .class_handler(|_| Some(None::<String>.to_value()))
                    .accumulator(|_hint, _acc, value| {
                        // The first handler that knows the user answers.
                        if value.get::<Option<String>>().ok().flatten().is_none() {
                            std::ops::ControlFlow::Continue(value.clone())
                        } else {
                            std::ops::ControlFlow::Break(value.clone())
                        }
                    })
                    .build(),
                /**
                 * GstRtmpServerSrc::authenticate:
                 * @application: the RTMP application connected to
                 * @stream_key: the stream key of the publish
                 * @user: the authenticated user name, or "" without authentication
                 * @client_address: "ip:port" of the client
                 * @tc_url: the client's tcUrl (without the authentication query)
                 *
                 * Emitted for every publish that passed the element's own checks (credentials,
                 * port, stream-key), so an application can decide with its own rules, e.g. which
                 * user may publish which key. Return %FALSE to refuse: the client gets
                 * NetStream.Publish.Denied. Without a handler every such publish is allowed.
                 * Emitted from a connection thread.
                 */
                glib::subclass::Signal::builder("authenticate")
                    .param_types([
                        String::static_type(),
                        String::static_type(),
                        String::static_type(),
                        String::static_type(),
                        String::static_type(),
                    ])
                    .return_type::<bool>()
                    .run_last()
                    .class_handler(|_| Some(true.to_value()))
                    // The first handler decides.
                    .accumulator(|_hint, _acc, value| std::ops::ControlFlow::Break(value.clone()))
                    .build(),
                /**
                 * GstRtmpServerSrc::drain:
                 * @tc_url: (nullable): where the publisher should reconnect (another machine),
                 *   or %NULL for the same URL
                 * @description: (nullable): a reason the publisher may show
                 *
                 * Takes this element out of service without cutting its live stream: the live
                 * publisher is sent the Enhanced RTMP v2 NetConnection.Connect.ReconnectRequest,
                 * new connects are refused (when every element of the port drains, the port
                 * stops listening, so a load balancer's health check sees it down), and the live
                 * publish keeps flowing until the publisher leaves. Then the element posts an
                 * `rtmpserversrc-drained` message. Draining ends when the element goes to READY.
                 */
                glib::subclass::Signal::builder("drain")
                    .param_types([Option::<String>::static_type(), Option::<String>::static_type()])
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::RtmpServerSrc>().expect("signal arg");
                        let tc_url = args[1].get::<Option<String>>().ok().flatten();
                        let description = args[2].get::<Option<String>>().ok().flatten();
                        element.imp().drain(tc_url, description);
                        None
                    })
                    .build(),
                /**
                 * GstRtmpServerSrc::get-publish-report:
                 *
                 * The live publisher's report (`publish-report`: what it really sends, its
                 * anomalies and the deviations tolerated, and a verdict), as of the latest
                 * statistics snapshot (at most half a second old), or %NULL when nobody is
                 * publishing. The same structure is `stats`' publisher/report, and is posted as
                 * `rtmpserversrc-publish-report` when the publish ends.
                 */
                glib::subclass::Signal::builder("get-publish-report")
                    .return_type::<Option<gst::Structure>>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::RtmpServerSrc>().expect("signal arg");
                        Some(element.imp().live_report().to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => {
                settings.address = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_ADDRESS.into())
            }
            "port" => settings.port = value.get().unwrap(),
            "application" => {
                settings.application = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "stream-key" => {
                settings.stream_key = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "username" => {
                settings.username = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "password" => {
                settings.password = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "auth-fleet-secret" => {
                let secret = value.get::<Option<String>>().unwrap().unwrap_or_default();
                self.auth.lock().unwrap().set_fleet_secret(&secret);
            }
            "public-port" => settings.public_port = value.get().unwrap(),
            "verify-port" => settings.verify_port = value.get().unwrap(),
            "eos-on-disconnect" => settings.eos_on_disconnect = value.get().unwrap(),
            "direct-delivery" => self.outputs.set_direct_allowed(value.get().unwrap()),
            "timeout" => settings.timeout_ms = value.get().unwrap(),
            "latency" => settings.latency_ms = value.get().unwrap(),
            "clock-sync" => settings.clock_sync = value.get().unwrap(),
            "max-connections" => settings.max_connections = value.get().unwrap(),
            "max-message-size" => settings.max_message_size = value.get().unwrap(),
            "stale-timeout" => settings.stale_timeout_ms = value.get().unwrap(),
            "max-queue-bytes" => settings.max_queue_bytes = value.get().unwrap(),
            "max-queue-time" => settings.max_queue_time_ms = value.get().unwrap(),
            "max-tracks" => settings.max_tracks = value.get().unwrap(),
            "max-connections-per-address" => {
                settings.max_connections_per_address = value.get().unwrap()
            }
            "publish-deadline" => settings.publish_deadline_ms = value.get().unwrap(),
            "tls-port" => settings.tls_port = value.get().unwrap(),
            "public-tls-port" => settings.public_tls_port = value.get().unwrap(),
            "tls-only" => settings.tls_only = value.get().unwrap(),
            "proxy-protocol" => settings.proxy_protocol = value.get().unwrap(),
            "trusted-proxies" => {
                settings.trusted_proxies =
                    value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "auth-url" => {
                settings.auth_url = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "auth-timeout" => settings.auth_timeout_ms = value.get().unwrap(),
            "failover" => settings.failover = value.get().unwrap(),
            "failover-timeout" => settings.failover_timeout_ms = value.get().unwrap(),
            "failback" => settings.failback = value.get().unwrap(),
            "tls-certificate" => {
                settings.tls_certificate =
                    value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "tls-key" => {
                settings.tls_key = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            _ => unimplemented!(),
        }
        // Never log the password; every other change is worth a line.
        if !matches!(pspec.name(), "password" | "auth-url" | "auth-fleet-secret") {
            gst::debug!(CAT, imp = self, "{} set", pspec.name());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "address" => settings.address.to_value(),
            "port" => settings.port.to_value(),
            "bound-port" => self.state.lock().unwrap().bound_port.to_value(),
            "stats" => {
                drop(settings);
                self.stats().to_value()
            }
            "application" => settings.application.to_value(),
            "stream-key" => settings.stream_key.to_value(),
            "username" => settings.username.to_value(),
            "password" => "".to_value(),
            "public-port" => settings.public_port.to_value(),
            "verify-port" => settings.verify_port.to_value(),
            "eos-on-disconnect" => settings.eos_on_disconnect.to_value(),
            "direct-delivery" => self.outputs.direct_allowed().to_value(),
            "timeout" => settings.timeout_ms.to_value(),
            "latency" => settings.latency_ms.to_value(),
            "clock-sync" => settings.clock_sync.to_value(),
            "max-connections" => settings.max_connections.to_value(),
            "max-message-size" => settings.max_message_size.to_value(),
            "stale-timeout" => settings.stale_timeout_ms.to_value(),
            "max-queue-bytes" => settings.max_queue_bytes.to_value(),
            "max-queue-time" => settings.max_queue_time_ms.to_value(),
            "max-tracks" => settings.max_tracks.to_value(),
            "max-connections-per-address" => settings.max_connections_per_address.to_value(),
            "publish-deadline" => settings.publish_deadline_ms.to_value(),
            "tls-port" => settings.tls_port.to_value(),
            "bound-tls-port" => self.state.lock().unwrap().bound_tls_port.to_value(),
            "public-tls-port" => settings.public_tls_port.to_value(),
            "tls-only" => settings.tls_only.to_value(),
            "proxy-protocol" => settings.proxy_protocol.to_value(),
            "trusted-proxies" => settings.trusted_proxies.to_value(),
            "auth-url" => settings.auth_url.to_value(),
            "auth-timeout" => settings.auth_timeout_ms.to_value(),
            "failover" => settings.failover.to_value(),
            "failover-timeout" => settings.failover_timeout_ms.to_value(),
            "failback" => settings.failback.to_value(),
            "tls-certificate" => settings.tls_certificate.to_value(),
            "tls-key" => settings.tls_key.to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().set_element_flags(gst::ElementFlags::SOURCE);
    }
}

impl GstObjectImpl for RtmpServerSrc {}

impl ElementImpl for RtmpServerSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTMP Server Source",
                "Source/Network",
                "Accepts authenticated RTMP publishes from encoders and outputs their elementary streams",
                "gst-plugin-rtmpserver developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst::Caps::from_iter(
                [
                    "video/x-h264",
                    "video/x-h265",
                    "video/x-av1",
                    "video/x-vp9",
                    "video/x-vp8",
                    "video/x-h266",
                ]
                .into_iter()
                .map(gst::Structure::new_empty),
            );
            let audio = gst::Caps::from_iter([
                gst::Structure::builder("audio/mpeg")
                    .field("mpegversion", 4i32)
                    .build(),
                gst::Structure::builder("audio/mpeg")
                    .field("mpegversion", 1i32)
                    .build(),
                gst::Structure::new_empty("audio/x-opus"),
                gst::Structure::new_empty("audio/x-flac"),
                gst::Structure::new_empty("audio/x-ac3"),
                gst::Structure::new_empty("audio/x-eac3"),
                gst::Structure::new_empty("audio/x-adpcm"),
                gst::Structure::new_empty("audio/x-alaw"),
                gst::Structure::new_empty("audio/x-mulaw"),
                gst::Structure::new_empty("audio/x-speex"),
                gst::Structure::new_empty("audio/x-nellymoser"),
                gst::Structure::new_empty("audio/x-raw"),
            ]);
            vec![
                gst::PadTemplate::new(
                    "video_%u",
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &video,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "audio_%u",
                    gst::PadDirection::Src,
                    gst::PadPresence::Sometimes,
                    &audio,
                )
                .unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::NullToReady => self.bind()?,
            gst::StateChange::ReadyToPaused => self.start_accepting()?,
            // Sinks preroll again: publisher threads no longer push themselves.
            gst::StateChange::PlayingToPaused => {
                self.running_clock.set(None);
                self.outputs.set_playing(false);
            }
            _ => {}
        }
        let mut result = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::PausedToPlaying => {
                let obj = self.obj();
                self.running_clock.set(obj.clock().zip(obj.base_time()));
                self.outputs.set_playing(true);
            }
            // A live source: nothing to preroll. A publish that starts in PAUSED blocks in the
            // sinks' preroll until PLAYING (back-pressure, as in any other blocked push).
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                result = gst::StateChangeSuccess::NoPreroll;
            }
            // The pads are flushing now (and downstream is already in READY), so a connection
            // thread blocked in a push returns.
            gst::StateChange::PausedToReady => self.stop_accepting(),
            gst::StateChange::ReadyToNull => self.unbind(),
            _ => {}
        }
        Ok(result)
    }
}

/// Bytes that all connections of a port that are not streaming media may hold together.
const MAX_UNTRUSTED_BYTES: usize = 32 * 1024 * 1024;

/// Each connection takes a file descriptor: raises the process's soft limit toward
/// `max_connections` (plus room for the rest of the process), up to the hard limit, and warns
/// when that is not enough.
fn raise_fd_limit(imp: &RtmpServerSrc, max_connections: u32) {
    let want = libc::rlim_t::from(max_connections) + 256;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur >= want {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: want.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
    let now = if ok { raised.rlim_cur } else { limit.rlim_cur };
    if now < want {
        gst::warning!(
            CAT,
            imp = imp,
            "max-connections is {max_connections} but this process may open only {now} files \
             (hard limit {}): raise it (ulimit -n) or lower max-connections",
            limit.rlim_max
        );
    } else {
        gst::debug!(CAT, imp = imp, "file descriptor limit raised to {now}");
    }
}

impl RtmpServerSrc {
    /// Whether an application answers `get-password` (a user store of its own).
    pub(super) fn has_password_handler(&self) -> bool {
        static ID: LazyLock<Option<glib::subclass::SignalId>> = LazyLock::new(|| {
            glib::subclass::SignalId::lookup("get-password", super::RtmpServerSrc::static_type())
        });
        ID.is_some_and(|id| glib::signal::signal_has_handler_pending(&*self.obj(), id, None, false))
    }

    fn bind(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        let acquire = |port: u32, tls: bool| {
            SharedPort::acquire(&settings.address, port as u16, tls).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenRead,
                    ["Cannot listen on {}:{}: {}", settings.address, port, err]
                );
                gst::StateChangeError
            })
        };
        let plain = if settings.tls_only {
            None
        } else {
            Some(acquire(settings.port, false)?)
        };
        let tls = if settings.tls_enabled() {
            Some(acquire(settings.tls_port, true)?)
        } else if settings.tls_only {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ["tls-only needs tls-certificate and tls-key"]
            );
            return Err(gst::StateChangeError);
        } else {
            None
        };
        let obj = self.obj();
        {
            let mut state = self.state.lock().unwrap();
            for port in plain.iter().chain(tls.iter()) {
                gst::info!(
                    CAT,
                    imp = self,
                    "listening on {}:{}{}",
                    settings.address,
                    port.port(),
                    if port.is_tls() { " (RTMPS)" } else { "" }
                );
            }
            state.bound_port = plain.as_ref().map_or(0, |p| u32::from(p.port()));
            state.bound_tls_port = tls.as_ref().map_or(0, |p| u32::from(p.port()));
            state.ports = plain
                .into_iter()
                .chain(tls)
                .map(|port| {
                    let route = port.add_route(&obj);
                    (port, route)
                })
                .collect();
        }
        obj.notify("bound-port");
        obj.notify("bound-tls-port");
        Ok(())
    }

    fn start_accepting(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        if settings.stream_key.is_empty() {
            gst::warning!(
                CAT,
                imp = self,
                "stream-key is empty: any stream key will be accepted"
            );
        }
        raise_fd_limit(self, settings.max_connections);
        let proxy = if settings.proxy_protocol {
            let policy = ProxyPolicy::parse(&settings.trusted_proxies).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Settings,
                    ["trusted-proxies: {}", err]
                );
                gst::StateChangeError
            })?;
            if settings.trusted_proxies.trim().is_empty() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "proxy-protocol without trusted-proxies: every peer is taken for a proxy, \
                     so anyone who can reach the port can claim any address"
                );
            }
            Some(policy)
        } else {
            None
        };
        let config = ServerConfig {
            timeout: Duration::from_millis(u64::from(settings.timeout_ms)),
            publish_deadline: Duration::from_millis(u64::from(settings.publish_deadline_ms)),
            max_connections: settings.max_connections as usize,
            max_per_address: settings.max_connections_per_address as usize,
            max_untrusted_bytes: MAX_UNTRUSTED_BYTES,
            session: SessionConfig {
                limits: ChunkLimits {
                    max_message_size: settings.max_message_size,
                    ..ChunkLimits::default()
                },
                ..SessionConfig::default()
            },
            proxy,
        };
        let tls = if settings.tls_enabled() {
            let config = crate::server::tls_config(
                Path::new(&settings.tls_certificate),
                Path::new(&settings.tls_key),
            )
            .map_err(|err| {
                gst::element_imp_error!(self, gst::ResourceError::Settings, ["RTMPS: {}", err]);
                gst::StateChangeError
            })?;
            Some(config)
        } else {
            None
        };
        {
            let mut publish = self.publish.lock().unwrap();
            publish.ended = false;
            publish.accepting = true;
            publish.draining = false;
            publish.drained = false;
            publish.failover = settings.failover.then(|| {
                Arc::new(FailoverGate::new(
                    Duration::from_millis(u64::from(settings.failover_timeout_ms)),
                    settings.failback,
                    settings.output_config(),
                ))
            });
        }
        self.outputs.reopen();
        let ports = self.state.lock().unwrap().ports.clone();
        for (port, route) in ports {
            let port_tls = if port.is_tls() { tls.clone() } else { None };
            port.start(config.clone(), port_tls).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Failed,
                    ["Cannot start the server: {}", err]
                );
                gst::StateChangeError
            })?;
            port.set_active(route, true);
        }
        Ok(())
    }

    /// Leaves the ports' routing and closes this element's publisher (only its own: other
    /// elements on a shared port keep theirs), then removes the pads.
    fn stop_accepting(&self) {
        let ports = self.state.lock().unwrap().ports.clone();
        for (port, route) in &ports {
            port.set_active(*route, false);
        }
        let active = {
            let mut publish = self.publish.lock().unwrap();
            // A publish being decided right now (its authenticate handler may be running) is
            // refused when it comes to install itself.
            publish.accepting = false;
            publish.draining = false;
            [publish.live.take(), publish.backup.take()]
        };
        for slot in active.into_iter().flatten() {
            slot.evict(crate::server::CloseReason::Shutdown);
            self.outputs.wake_senders();
            // No lock of ours is held: the connection thread may still call into the element.
            for (port, _) in &ports {
                port.close_connection(slot.connection_id);
            }
        }
        self.counters.reset();
        let obj = self.obj();
        for pad in self.outputs.take_all() {
            let _ = pad.set_active(false);
            let _ = obj.remove_pad(&pad);
        }
    }

    fn unbind(&self) {
        let ports = {
            let mut state = self.state.lock().unwrap();
            state.bound_port = 0;
            state.bound_tls_port = 0;
            std::mem::take(&mut state.ports)
        };
        for (port, route) in &ports {
            port.remove_route(*route);
        }
        // Dropping the last reference to a port stops its listener and joins its threads.
        drop(ports);
    }

    /// Shuts connection `id` down on this element's ports, without waiting.
    pub(super) fn kick_connection(&self, id: u64) {
        let ports = self.state.lock().unwrap().ports.clone();
        for (port, _) in &ports {
            port.kick_connection(id);
        }
    }

    /// Whether `port` is this element's RTMPS port.
    pub(super) fn is_tls_port(&self, port: u16) -> bool {
        let bound = self.state.lock().unwrap().bound_tls_port;
        bound != 0 && bound == u32::from(port)
    }

    fn stats(&self) -> gst::Structure {
        let builder = gst::Structure::builder("application/x-rtmpserversrc-stats");
        let ports = self.state.lock().unwrap().ports.clone();
        // Connection counters are the ports' (shared with other elements on a shared port);
        // refusals are this element's own plus those no element could be told about.
        let mut builder = match ports.first() {
            Some((port, _)) => port.counters.add_connection_fields(builder),
            None => builder,
        };
        let mut rejected = self.counters.rejections();
        for (port, _) in &ports {
            for (reason, n) in port.counters.rejections() {
                *rejected.entry(reason).or_default() += n;
            }
        }
        let total: u64 = rejected.values().sum();
        let by_reason = rejected
            .iter()
            .fold(gst::Structure::builder("rejected"), |b, (k, v)| {
                b.field(*k, *v)
            })
            .build();
        builder = builder
            .field("connections-rejected", total)
            .field("rejected-by-reason", by_reason)
            .field("publishes", self.counters.publishes())
            .field("queued-bytes", self.outputs.queued_bytes());
        let (to_direct, fall_backs) = self.outputs.delivery_switches();
        builder = builder
            .field("direct-delivery-active", self.outputs.is_direct())
            .field("direct-delivery-switches", to_direct)
            .field("direct-delivery-fall-backs", fall_backs);
        let (active, backup, failover) = {
            let publish = self.publish.lock().unwrap();
            (
                publish.live.clone(),
                publish.backup.clone(),
                publish.failover.clone(),
            )
        };
        let publisher = active.as_ref().and_then(|a| a.statistics());
        if let Some(gate) = failover {
            // Which publisher the pads show, and the backup's own figures.
            let backup_stats = backup.as_ref().and_then(|b| b.statistics());
            builder = builder
                .field(
                    "failover-active",
                    gate.active().map_or("none", Role::as_str),
                )
                .field("backup-publishing", backup.is_some())
                .field_if_some(
                    "backup-client-address",
                    backup.as_ref().map(|b| b.peer.to_string()),
                )
                .field_if_some("backup-publisher", backup_stats);
        }
        builder
            .field("publishing", active.is_some())
            .field_if_some(
                "client-address",
                active.as_ref().map(|a| a.peer.to_string()),
            )
            .field_if_some("publisher", publisher)
            .build()
    }

    /// Posts `rtmpserversrc-publish-started` once the publisher's pads are exposed.
    pub(super) fn post_publish_started(&self, slot: &PublishSlot, tracks: Vec<(TrackKey, String)>) {
        let pads: Vec<String> = tracks.iter().map(|(k, _)| k.pad_name()).collect();
        gst::info!(CAT, imp = self, "{} is live on {:?}", slot.peer, pads);
        let codecs = tracks
            .iter()
            .fold(gst::Structure::builder("codecs"), |b, (k, codec)| {
                b.field(k.pad_name(), codec.as_str())
            });
        let s = gst::Structure::builder("rtmpserversrc-publish-started")
            .field("client-address", slot.peer.to_string())
            .field("connection-id", slot.connection_id)
            .field("encoder", slot.info.encoder.clone().unwrap_or_default())
            .field("application", slot.info.application.as_str())
            .field("stream-key", slot.info.stream_key_masked.as_str())
            .field_if_some("user", slot.info.user.as_deref())
            .field_if_some("role", slot.role.map(Role::as_str))
            .field("pads", gst::Array::new(pads))
            .field("codecs", codecs.build())
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    /// `drain`: see the signal's documentation.
    pub(super) fn drain(&self, tc_url: Option<String>, description: Option<String>) {
        let live = {
            let mut publish = self.publish.lock().unwrap();
            if !publish.accepting {
                gst::warning!(CAT, imp = self, "drain ignored: the element is not running");
                return;
            }
            publish.draining = true;
            [publish.live.clone(), publish.backup.clone()]
        };
        gst::info!(
            CAT,
            imp = self,
            "draining{}",
            tc_url
                .as_deref()
                .map(|url| format!(": publishers are sent to {url}"))
                .unwrap_or_default()
        );
        let ports = self.state.lock().unwrap().ports.clone();
        for (port, route) in &ports {
            port.set_draining(*route);
        }
        let live: Vec<Arc<PublishSlot>> = live.into_iter().flatten().collect();
        if live.is_empty() {
            self.post_drained();
        }
        for slot in live {
            slot.request_reconnect(ReconnectRequest {
                tc_url: tc_url.clone(),
                description: description.clone(),
            });
            // A publisher still in the front door (no media yet) is looked at now; one with a
            // thread of its own sends it after its next message.
            for (port, _) in &ports {
                port.resume_connection(slot.connection_id);
            }
        }
    }

    /// Posts `rtmpserversrc-drained` once per drain, when no publisher is left.
    fn post_drained(&self) {
        {
            let mut publish = self.publish.lock().unwrap();
            if !publish.draining || publish.drained || publish.any_live() {
                return;
            }
            publish.drained = true;
        }
        gst::info!(CAT, imp = self, "drained: no publisher left");
        let s = gst::Structure::builder("rtmpserversrc-drained").build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    /// The live publisher's report (with failover, the primary's), from its latest snapshot.
    fn live_report(&self) -> Option<gst::Structure> {
        let live = self.publish.lock().unwrap().live.clone()?;
        live.statistics()?.get::<gst::Structure>("report").ok()
    }

    /// The live publish ended: free the slot for the next publisher and tell the application.
    /// Returns whether EOS goes out: `eos` asked for it, and no other publisher (a failover
    /// partner) is left.
    pub(super) fn publish_finished(
        &self,
        slot: &Arc<PublishSlot>,
        reason: CloseReason,
        eos: bool,
    ) -> bool {
        let eos = {
            let mut publish = self.publish.lock().unwrap();
            let publish = &mut *publish;
            for live in [&mut publish.live, &mut publish.backup] {
                if live.as_ref().is_some_and(|a| Arc::ptr_eq(a, slot)) {
                    *live = None;
                }
            }
            // Under the lock that frees the slot: no publish may slip in ahead of the EOS.
            let eos = eos && !publish.any_live();
            if eos {
                publish.ended = true;
            }
            eos
        };
        if let Some(notice) = slot.stopped_notice.lock().unwrap().take() {
            notice.send(reason.as_str());
        }
        gst::info!(
            CAT,
            imp = self,
            "publish from {} ended: {}",
            slot.peer,
            reason.as_str()
        );
        let totals = slot.statistics();
        let report = totals
            .as_ref()
            .and_then(|t| t.get::<gst::Structure>("report").ok());
        let s = gst::Structure::builder("rtmpserversrc-publish-stopped")
            .field("client-address", slot.peer.to_string())
            .field("connection-id", slot.connection_id)
            .field("reason", reason.as_str())
            .field("eos", eos)
            .field_if_some("role", slot.role.map(Role::as_str))
            .field_if_some("totals", totals)
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        if let Some(report) = report {
            // The publish's last word: what it sent and where it deviated (publish_report.rs).
            let s = gst::Structure::builder("rtmpserversrc-publish-report")
                .field("client-address", slot.peer.to_string())
                .field("connection-id", slot.connection_id)
                .field("reason", reason.as_str())
                .field_if_some("role", slot.role.map(Role::as_str))
                .field("report", report)
                .build();
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        self.post_drained();
        eos
    }
}

impl RtmpServerSrc {
    /// Posts `rtmpserversrc-rejected`: a connect or publish was refused (no secrets in it).
    pub(super) fn post_rejected(
        &self,
        peer: std::net::SocketAddr,
        user: Option<&str>,
        rejection: &crate::server::Rejection,
    ) {
        // Every refusal is logged here, once per element told, with the peer and no secret.
        gst::warning!(
            CAT,
            imp = self,
            "{peer} rejected: {} ({})",
            rejection.reason.as_str(),
            rejection.description
        );
        self.counters.rejected(rejection.reason);
        let s = gst::Structure::builder("rtmpserversrc-rejected")
            .field("client-address", peer.to_string())
            .field("code", rejection.code)
            .field("reason", rejection.reason.as_str())
            .field("description", rejection.description.as_str())
            .field_if_some("user", user)
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        // Authentication failures get a message of their own too, so an application watching
        // for password guessing or a misconfigured encoder need not parse reasons.
        if rejection.reason.is_auth_failure() {
            let s = gst::Structure::builder("rtmpserversrc-auth-failed")
                .field("client-address", peer.to_string())
                .field("reason", rejection.reason.as_str())
                .field_if_some("user", user)
                .build();
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
    }
}
