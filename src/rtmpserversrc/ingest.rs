// SPDX-License-Identifier: MPL-2.0
//! Who may connect and who may publish: the element's answers to the socket layer.
//!
//! Every decision reads a fresh copy of the settings, so credentials and keys rotated while
//! PLAYING apply to the next connect while sessions in flight keep going.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::outputs::OutputConfig;
use super::publisher::{PublishConfig, PublishSlot, SessionPublisher};
use crate::auth::{
    self, AdobeAuth, AuthFailure, BrakeConfig, BrakeVerdict, BruteForceBrake, ConnectAuth,
};
use crate::rtmp::Amf0Value;
use crate::server::{ConnectAccepted, ConnectInfo, IngestHandler, Publisher, Rejection};
use crate::CAT;

const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
const PUBLISH_DENIED: &str = "NetStream.Publish.Denied";
const PUBLISH_BAD_NAME: &str = "NetStream.Publish.BadName";

/// Authentication state shared by all connections of one element.
pub(super) struct AuthState {
    adobe: AdobeAuth,
    brake: BruteForceBrake,
}

impl AuthState {
    pub fn new() -> Self {
        AuthState {
            adobe: AdobeAuth::new(Duration::from_secs(60), 10_000),
            brake: BruteForceBrake::new(BrakeConfig::default()),
        }
    }
}

/// The element as seen by the socket layer. Holds a weak reference so connection threads never
/// keep a disposed element alive.
pub(super) struct Ingest {
    element: glib::WeakRef<super::RtmpServerSrc>,
}

impl Ingest {
    pub fn new(element: &super::RtmpServerSrc) -> Self {
        Ingest {
            element: element.downgrade(),
        }
    }
}

fn reject(code: &'static str, reason: &'static str, description: impl Into<String>) -> Rejection {
    Rejection {
        code,
        description: description.into(),
        reason,
    }
}

impl IngestHandler for Ingest {
    fn connection_opened(&self, _peer: std::net::SocketAddr) {
        if let Some(element) = self.element.upgrade() {
            element.imp().counters.opened();
        }
    }

    fn connection_refused(&self, _peer: std::net::SocketAddr, reason: &'static str) {
        if let Some(element) = self.element.upgrade() {
            element.imp().counters.rejected(reason);
        }
    }

    fn connection_closed(
        &self,
        _info: Option<&ConnectInfo>,
        _peer: std::net::SocketAddr,
        reason: crate::server::CloseReason,
    ) {
        if let Some(element) = self.element.upgrade() {
            element.imp().counters.closed(reason);
        }
    }

    fn connect(&self, info: &ConnectInfo) -> Result<ConnectAccepted, Rejection> {
        let element = self
            .element
            .upgrade()
            .ok_or_else(|| reject(CONNECT_REJECTED, "shutdown", "server is shutting down"))?;
        let imp = element.imp();
        let settings = imp.settings.lock().unwrap().clone();
        let result = decide_connect(&element, info, &settings);
        if let Err(rejection) = &result {
            // The challenge step is part of every successful Adobe login: not worth a warning.
            if rejection.reason == "auth-challenge" || rejection.reason == "auth-required" {
                gst::debug!(
                    CAT,
                    obj = element,
                    "connect from {}: {}",
                    info.peer,
                    rejection.reason
                );
            } else {
                gst::warning!(
                    CAT,
                    obj = element,
                    "connect from {} (app '{}') rejected: {}",
                    info.peer,
                    auth::split_authmod(&info.app).0,
                    rejection.reason
                );
                imp.post_rejected(info.peer, requested_user(&info.app), rejection);
            }
        }
        result
    }

    fn publish(
        &self,
        info: &ConnectInfo,
        stream_key: &str,
        publish_type: Option<&str>,
    ) -> Result<Box<dyn Publisher>, Rejection> {
        let element = self
            .element
            .upgrade()
            .ok_or_else(|| reject(PUBLISH_DENIED, "shutdown", "server is shutting down"))?;
        let imp = element.imp();
        let settings = imp.settings.lock().unwrap().clone();
        if !settings.stream_key.is_empty() && stream_key != settings.stream_key {
            let rejection = reject(PUBLISH_DENIED, "bad-stream-key", "stream key rejected");
            gst::warning!(
                CAT,
                obj = element,
                "publish from {} rejected: wrong stream key",
                info.peer
            );
            imp.post_rejected(info.peer, info.user.as_deref(), &rejection);
            return Err(rejection);
        }
        let tc_url = info
            .tc_url
            .as_deref()
            .map(|t| auth::split_authmod(t).0)
            .unwrap_or("");
        let allowed = element.emit_by_name::<bool>(
            "authenticate",
            &[
                &settings.application,
                &stream_key,
                &info.user.clone().unwrap_or_default(),
                &info.peer.to_string(),
                &tc_url,
            ],
        );
        if !allowed {
            let rejection = reject(PUBLISH_DENIED, "refused-by-application", "publish refused");
            gst::warning!(
                CAT,
                obj = element,
                "publish from {} refused by the application",
                info.peer
            );
            imp.post_rejected(info.peer, info.user.as_deref(), &rejection);
            return Err(rejection);
        }
        if imp.eos_sent.load(Ordering::SeqCst) {
            return Err(reject(
                PUBLISH_DENIED,
                "ended",
                "this stream has ended (the pipeline received EOS)",
            ));
        }
        let slot = Arc::new(PublishSlot::new(info.connection_id, info.peer, imp.epoch));
        {
            let mut active = imp.active.lock().unwrap();
            if let Some(current) = active.as_ref() {
                let stale = Duration::from_millis(u64::from(settings.stale_timeout_ms));
                if current.silence() < stale {
                    let rejection = reject(
                        PUBLISH_BAD_NAME,
                        "already-publishing",
                        "this stream is already being published",
                    );
                    gst::warning!(
                        CAT,
                        obj = element,
                        "publish from {} rejected: {} is publishing",
                        info.peer,
                        current.peer
                    );
                    drop(active);
                    imp.post_rejected(info.peer, info.user.as_deref(), &rejection);
                    return Err(rejection);
                }
                gst::warning!(
                    CAT,
                    obj = element,
                    "replacing silent publisher {} with {}",
                    current.peer,
                    info.peer
                );
                current.evict();
            }
            *active = Some(slot.clone());
        }
        gst::info!(
            CAT,
            obj = element,
            "publish from {} (encoder {:?}, type {:?}) accepted",
            info.peer,
            info.flash_ver,
            publish_type
        );
        imp.counters.published();
        let config = PublishConfig {
            eos_on_disconnect: settings.eos_on_disconnect,
            output: OutputConfig {
                latency: gst::ClockTime::from_mseconds(u64::from(settings.latency_ms)),
                max_queue_bytes: u64::from(settings.max_queue_bytes),
            },
        };
        Ok(Box::new(SessionPublisher::new(
            element.clone(),
            slot,
            config,
        )))
    }
}

/// The user name a connect asks to authenticate as (from its `?authmod=adobe&user=` query).
fn requested_user(app: &str) -> Option<&str> {
    auth::split_authmod(app)
        .1
        .and_then(|q| auth::AuthQuery::parse(q).user)
}

/// Enhanced RTMP: what we accept, stated in the connect `_result` for clients that asked.
fn enhanced_rtmp_capabilities(command_object: &Amf0Value) -> Vec<(String, Amf0Value)> {
    if command_object.get("fourCcList").is_none() && command_object.get("capsEx").is_none() {
        return Vec::new();
    }
    const VIDEO: [&str; 5] = ["avc1", "hvc1", "av01", "vp09", "vp08"];
    const AUDIO: [&str; 6] = ["mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"];
    // FourCcInfoMask: CanDecode (1) | CanForward (4): we ingest and pass the stream on.
    let info_map = |list: &[&str]| {
        Amf0Value::Object(
            list.iter()
                .map(|f| (f.to_string(), Amf0Value::Number(5.0)))
                .collect(),
        )
    };
    let all = VIDEO.iter().chain(AUDIO.iter());
    vec![
        (
            "fourCcList".into(),
            Amf0Value::StrictArray(all.map(|f| Amf0Value::String(f.to_string())).collect()),
        ),
        ("videoFourCcInfoMap".into(), info_map(&VIDEO)),
        ("audioFourCcInfoMap".into(), info_map(&AUDIO)),
        // CapsEx: Multitrack (2) | ModEx (4) | TimestampNanoOffset (8).
        ("capsEx".into(), Amf0Value::Number(14.0)),
    ]
}

fn decide_connect(
    element: &super::RtmpServerSrc,
    info: &ConnectInfo,
    settings: &super::settings::Settings,
) -> Result<ConnectAccepted, Rejection> {
    let imp = element.imp();
    let ip = info.peer.ip();
    let auth_required = settings.auth_required() || imp.has_password_handler();
    if auth_required {
        let verdict = imp.auth.lock().unwrap().brake.check(ip, Instant::now());
        match verdict {
            BrakeVerdict::Allow => {}
            // Slows a password guesser down; it only holds this connection's own thread.
            BrakeVerdict::Delay(delay) => std::thread::sleep(delay),
            BrakeVerdict::Refuse => {
                return Err(reject(
                    CONNECT_REJECTED,
                    "too-many-failures",
                    "too many failed attempts from this address; try again later",
                ))
            }
        }
    }

    let (app, _) = auth::split_authmod(&info.app);
    if app.trim_end_matches('/') != settings.application {
        return Err(reject(
            CONNECT_REJECTED,
            "bad-application",
            format!("application '{}' not found", app.trim_end_matches('/')),
        ));
    }

    if settings.verify_port {
        let expected = if settings.public_port != 0 {
            settings.public_port as u16
        } else {
            info.local_port
        };
        let tc_url = info.tc_url.as_deref().map(|t| auth::split_authmod(t).0);
        auth::verify_port(tc_url, expected)
            .map_err(|description| reject(CONNECT_REJECTED, "port-mismatch", description))?;
    }

    let extra_properties = enhanced_rtmp_capabilities(&info.command_object);
    if !auth_required {
        return Ok(ConnectAccepted {
            user: None,
            extra_properties,
        });
    }
    // Resolve the password before taking the auth lock: an application's handler may be slow.
    let password = requested_user(&info.app).and_then(|user| {
        if !settings.username.is_empty() && user == settings.username {
            Some(settings.password.clone())
        } else {
            element.emit_by_name::<Option<String>>("get-password", &[&user, &info.peer.to_string()])
        }
    });
    let requested = requested_user(&info.app);
    let lookup = |user: &str| password.clone().filter(|_| Some(user) == requested);
    let mut auth_state = imp.auth.lock().unwrap();
    let decision =
        auth_state
            .adobe
            .check_connect(&info.app, info.tc_url.as_deref(), Instant::now(), &lookup);
    match decision {
        ConnectAuth::Accepted { user } => {
            auth_state.brake.record_success(ip);
            Ok(ConnectAccepted {
                user: Some(user),
                extra_properties,
            })
        }
        ConnectAuth::Rejected {
            description,
            reason,
        } => {
            let why = match reason {
                AuthFailure::NeedAuth => "auth-required",
                AuthFailure::Challenge => "auth-challenge",
                AuthFailure::BadCredentials => "auth-failed",
                AuthFailure::Expired => "auth-expired",
                AuthFailure::UnknownChallenge => "auth-unknown-challenge",
                AuthFailure::Malformed => "auth-malformed",
                AuthFailure::Internal => "auth-internal",
            };
            if reason.counts_as_failure() {
                auth_state.brake.record_failure(ip, Instant::now());
            }
            Err(reject(CONNECT_REJECTED, why, description))
        }
    }
}
