// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Who may connect and who may publish to one element: its policy (credentials, brake, stream
//! key, one publisher at a time), decided from a fresh copy of its settings. Which element of a
//! port a connection goes to is decided in port.rs.
//!
//! Every decision reads a fresh copy of the settings, so credentials and keys rotated while
//! PLAYING apply to the next connect while sessions in flight keep going.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::outputs::OutputConfig;
use super::pad_queues::Limits;
use super::publish_stats::{mask_key, PublishInfo};
use super::publisher::{PublishConfig, PublishSlot, SessionPublisher};
use crate::auth::{self, AdobeAuth, BrakeConfig, BrakeVerdict, BruteForceBrake, ConnectAuth};
use crate::rtmp::Amf0Value;
use crate::server::{
    CloseReason, ConnectAccepted, ConnectInfo, Publisher, RefusalReason, Rejection,
};
use crate::CAT;

pub(super) const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
pub(super) const PUBLISH_DENIED: &str = "NetStream.Publish.Denied";
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

pub(super) fn reject(
    code: &'static str,
    reason: RefusalReason,
    description: impl Into<String>,
) -> Rejection {
    Rejection {
        code,
        description: description.into(),
        reason,
    }
}

/// How long the brute-force brake holds a connect carrying an Adobe response from an address
/// with recent failures (it is a timer in the front door, holding no thread).
pub(super) fn brake_delay(
    element: &super::RtmpServerSrc,
    info: &ConnectInfo,
    query: Option<&auth::AuthQuery<'_>>,
    settings: &super::settings::Settings,
) -> Option<Duration> {
    let imp = element.imp();
    let auth_required = settings.auth_required() || imp.has_password_handler();
    if !auth_required || !has_response(query) {
        return None;
    }
    match imp
        .auth
        .lock()
        .unwrap()
        .brake
        .check(info.peer.ip(), Instant::now())
    {
        BrakeVerdict::Delay(delay) => {
            gst::info!(
                CAT,
                obj = element,
                "delaying {} by {delay:?} after failed logins",
                info.peer
            );
            Some(delay)
        }
        _ => None,
    }
}

/// The publish checks of one element, once the router chose it.
pub(super) fn element_publish(
    element: &super::RtmpServerSrc,
    info: &ConnectInfo,
    stream_key: &str,
    publish_type: Option<&str>,
) -> Result<Box<dyn Publisher>, Rejection> {
    let imp = element.imp();
    let settings = imp.settings.lock().unwrap().clone();
    if !settings.stream_key.is_empty() && stream_key != settings.stream_key {
        let rejection = reject(
            PUBLISH_DENIED,
            RefusalReason::BadStreamKey,
            "stream key rejected",
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
        let rejection = reject(
            PUBLISH_DENIED,
            RefusalReason::RefusedByApplication,
            "publish refused by the application",
        );
        imp.post_rejected(info.peer, info.user.as_deref(), &rejection);
        return Err(rejection);
    }
    let publish_info = PublishInfo {
        encoder: info.flash_ver.clone(),
        application: settings.application.clone(),
        stream_key_masked: mask_key(stream_key),
        user: info.user.clone(),
        started: std::time::SystemTime::now(),
    };
    let slot = Arc::new(PublishSlot::new(
        info.connection_id,
        info.peer,
        imp.epoch,
        publish_info,
    ));
    {
        let mut publish = imp.publish.lock().unwrap();
        // Under the lock that installs the publish: EOS and PAUSED→READY set these under it.
        let ended = publish.ended;
        if ended || !publish.accepting {
            drop(publish);
            let why = if ended {
                "this stream has ended (the pipeline received EOS)"
            } else {
                "this stream has ended: the server is stopping"
            };
            let rejection = reject(PUBLISH_DENIED, RefusalReason::Ended, why);
            imp.post_rejected(info.peer, info.user.as_deref(), &rejection);
            return Err(rejection);
        }
        if let Some(current) = publish.live.as_ref() {
            let stale = Duration::from_millis(u64::from(settings.stale_timeout_ms));
            // Media of its still queued or in a push downstream: held by back-pressure.
            if current.silence() < stale || imp.outputs.delivering() {
                let rejection = reject(
                    PUBLISH_BAD_NAME,
                    RefusalReason::AlreadyPublishing,
                    "this stream is already being published",
                );
                gst::debug!(CAT, obj = element, "{} is publishing", current.peer);
                drop(publish);
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
            current.evict(CloseReason::Replaced);
            imp.outputs.wake_senders();
            // Wakes its connection (blocked in a read, or waiting in the front door).
            imp.kick_connection(current.connection_id);
        }
        publish.live = Some(slot.clone());
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
        clock_sync: settings.clock_sync,
        max_tracks: settings.max_tracks as usize,
        output: OutputConfig {
            latency: gst::ClockTime::from_mseconds(u64::from(settings.latency_ms)),
            max_pending_bytes: u64::from(settings.max_queue_bytes),
            queue_limits: Limits {
                max_time: gst::ClockTime::from_mseconds(u64::from(settings.max_queue_time_ms)),
                max_bytes: settings.max_queue_bytes as usize,
            },
        },
    };
    Ok(Box::new(SessionPublisher::new(
        element.clone(),
        slot,
        config,
    )))
}

/// Whether a connect carries an Adobe challenge response (the third connect of a login).
pub(super) fn has_response(query: Option<&auth::AuthQuery<'_>>) -> bool {
    query.is_some_and(|q| q.response.is_some())
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

pub(super) fn decide_connect(
    element: &super::RtmpServerSrc,
    info: &ConnectInfo,
    query: Option<&auth::AuthQuery<'_>>,
    settings: &super::settings::Settings,
) -> Result<ConnectAccepted, Rejection> {
    let imp = element.imp();
    let ip = info.peer.ip();
    let auth_required = settings.auth_required() || imp.has_password_handler();
    // Only the last of the three connects of an Adobe login carries a response to check: the
    // brake delays that one and the password is looked up for that one only.
    let has_response = has_response(query);
    if auth_required {
        let verdict = imp.auth.lock().unwrap().brake.check(ip, Instant::now());
        match verdict {
            BrakeVerdict::Allow => {}
            // Already waited out in the front door (see `brake_delay`).
            BrakeVerdict::Delay(_) => {}
            BrakeVerdict::Refuse => {
                return Err(reject(
                    CONNECT_REJECTED,
                    RefusalReason::TooManyFailures,
                    "too many failed attempts from this address; try again later",
                ))
            }
        }
    }

    let (app, _) = auth::split_authmod(&info.app);
    if app.trim_end_matches('/') != settings.application {
        return Err(reject(
            CONNECT_REJECTED,
            RefusalReason::BadApplication,
            format!("application '{}' not found", app.trim_end_matches('/')),
        ));
    }

    if settings.verify_port {
        let public = if imp.is_tls_port(info.local_port) {
            settings.public_tls_port
        } else {
            settings.public_port
        };
        let expected = if public != 0 {
            public as u16
        } else {
            info.local_port
        };
        let tc_url = info.tc_url.as_deref().map(|t| auth::split_authmod(t).0);
        auth::verify_port(tc_url, expected).map_err(|description| {
            reject(CONNECT_REJECTED, RefusalReason::PortMismatch, description)
        })?;
    }

    let extra_properties = enhanced_rtmp_capabilities(&info.command_object);
    if !auth_required {
        return Ok(ConnectAccepted {
            user: None,
            accepted_by: None,
            extra_properties,
        });
    }
    // Resolve the password before taking the auth lock: an application's handler may be slow.
    let requested = query.and_then(|q| q.user);
    let password = requested.filter(|_| has_response).and_then(|user| {
        if !settings.username.is_empty() && user == settings.username {
            Some(settings.password.clone())
        } else {
            element.emit_by_name::<Option<String>>("get-password", &[&user, &info.peer.to_string()])
        }
    });
    let lookup = |user: &str| password.clone().filter(|_| Some(user) == requested);
    let mut auth_state = imp.auth.lock().unwrap();
    let decision = auth_state.adobe.check_query(query, Instant::now(), &lookup);
    match decision {
        ConnectAuth::Accepted { user } => {
            auth_state.brake.record_success(ip);
            Ok(ConnectAccepted {
                user: Some(user),
                accepted_by: None,
                extra_properties,
            })
        }
        ConnectAuth::Rejected {
            description,
            reason,
        } => {
            let why = RefusalReason::Auth(reason);
            if reason.counts_as_failure() {
                auth_state.brake.record_failure(ip, Instant::now());
            }
            Err(reject(CONNECT_REJECTED, why, description))
        }
    }
}
