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
    fn connect(&self, info: &ConnectInfo) -> Result<ConnectAccepted, Rejection> {
        let element = self
            .element
            .upgrade()
            .ok_or_else(|| reject(CONNECT_REJECTED, "shutdown", "server is shutting down"))?;
        let imp = element.imp();
        let settings = imp.settings.lock().unwrap().clone();
        let result = decide_connect(imp, info, &settings);
        if let Err(rejection) = &result {
            gst::warning!(
                CAT,
                obj = element,
                "connect from {} (app '{}') rejected: {}",
                info.peer,
                auth::split_authmod(&info.app).0,
                rejection.reason
            );
            imp.post_rejected(info.peer, rejection);
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
            imp.post_rejected(info.peer, &rejection);
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
                    imp.post_rejected(info.peer, &rejection);
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

fn decide_connect(
    imp: &super::imp::RtmpServerSrc,
    info: &ConnectInfo,
    settings: &super::settings::Settings,
) -> Result<ConnectAccepted, Rejection> {
    let ip = info.peer.ip();
    if settings.auth_required() {
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

    if !settings.auth_required() {
        return Ok(ConnectAccepted::default());
    }
    let lookup = |user: &str| (user == settings.username).then(|| settings.password.clone());
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
                ..ConnectAccepted::default()
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
