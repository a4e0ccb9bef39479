// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Who may connect and who may publish to one element: its policy (credentials, brake, stream
//! key, the auth service, one publisher at a time), as methods of the element, decided from a
//! fresh copy of its settings. Which element of a port a connection goes to is decided in
//! port.rs.
//!
//! Every decision reads a fresh copy of the settings, so credentials and keys rotated while
//! PLAYING apply to the next connect while sessions in flight keep going.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::auth_service::{Action, Failure, Notice, Question, Verdict};
use super::failover::Role;
use super::publish_report::ConnectFacts;
use super::publish_slot::PublishSlot;
use super::publish_stats::{mask_key, PublishInfo};
use super::publisher::{PublishConfig, SessionPublisher};
use crate::auth::fleet_token::FleetSecret;
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

    /// `auth-fleet-secret`: Adobe challenges signed for the whole fleet, or (empty) known here
    /// only.
    pub fn set_fleet_secret(&mut self, secret: &str) {
        let epoch = (Instant::now(), SystemTime::now());
        self.adobe
            .set_fleet_secret(FleetSecret::new(secret.as_bytes()), epoch);
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

/// The application a connect names, without the authentication query or any other (YouTube's
/// backup ingest is `live2?backup=1`).
pub(super) fn application_of(app: &str) -> &str {
    let app = auth::split_authmod(app).0;
    app.split('?').next().unwrap_or(app).trim_end_matches('/')
}

/// A stream name without its query (`KEY?backup=1` → `KEY`).
pub(super) fn stream_key_of(name: &str) -> &str {
    name.split('?').next().unwrap_or(name)
}

/// Whether a publish is the backup of its stream (with `failover`): `backup=1` in a query of
/// its stream name, connect application or tcUrl.
pub(super) fn is_backup(info: &ConnectInfo, stream_name: &str) -> bool {
    let says_backup = |s: &str| {
        s.split_once('?').is_some_and(|(_, query)| {
            auth::parse_query(query)
                .iter()
                .any(|&(k, v)| k == "backup" && v == "1")
        })
    };
    says_backup(stream_name)
        || says_backup(&info.app)
        || info.tc_url.as_deref().is_some_and(says_backup)
}

/// The question for the auth service about a connect or publish of `info`.
pub(super) fn question(
    action: Action,
    info: &ConnectInfo,
    application: &str,
    stream_key: Option<&str>,
    user: Option<&str>,
) -> Question {
    Question {
        action,
        application: application.to_string(),
        stream_key: stream_key.map(str::to_string),
        user: user.map(str::to_string),
        client_address: info.peer.to_string(),
        tc_url: info
            .tc_url
            .as_deref()
            .map(|t| auth::split_authmod(t).0.to_string()),
        encoder: info.flash_ver.clone(),
        reason: None,
    }
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
        // CapsEx: Reconnect (1: we may send NetConnection.Connect.ReconnectRequest, see the
        // `drain` signal) | Multitrack (2) | ModEx (4) | TimestampNanoOffset (8).
        ("capsEx".into(), Amf0Value::Number(15.0)),
    ]
}

/// Where deciding a connect got to.
pub(super) enum ConnectDecision {
    Decided(Result<ConnectAccepted, Rejection>),
    /// The auth service must be asked about this user (`None`: a connect without credentials,
    /// which the service may let in or send to log in).
    AskService {
        user: Option<String>,
    },
}

/// The element's decisions: who may connect and publish, by its policy.
impl super::imp::RtmpServerSrc {
    /// How long the brute-force brake holds a connect carrying an Adobe response from an address
    /// with recent failures (it is a timer in the front door, holding no thread).
    pub(super) fn brake_delay(
        &self,
        info: &ConnectInfo,
        query: Option<&auth::AuthQuery<'_>>,
        settings: &super::settings::Settings,
    ) -> Option<Duration> {
        let element = &*self.obj();
        let auth_required = settings.auth_required() || self.has_password_handler();
        if !auth_required || !has_response(query) {
            return None;
        }
        match self
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

    /// The publish checks of one element that need no one else, once the router chose it: the
    /// stream key and the application's `authenticate` handler.
    pub(super) fn check_publish(
        &self,
        info: &ConnectInfo,
        stream_key: &str,
    ) -> Result<(), Rejection> {
        let element = &*self.obj();
        let settings = self.settings.lock().unwrap().clone();
        let stream_key = if settings.failover {
            stream_key_of(stream_key)
        } else {
            stream_key
        };
        if !settings.stream_key.is_empty() && stream_key != settings.stream_key {
            let rejection = reject(
                PUBLISH_DENIED,
                RefusalReason::BadStreamKey,
                "stream key rejected",
            );
            self.post_rejected(info.peer, info.user.as_deref(), &rejection);
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
            self.post_rejected(info.peer, info.user.as_deref(), &rejection);
            return Err(rejection);
        }
        Ok(())
    }

    /// The auth service's answer to a publish, as a refusal if it is not a yes.
    pub(super) fn service_publish_verdict(
        &self,
        info: &ConnectInfo,
        answer: Result<Verdict, Failure>,
    ) -> Result<(), Rejection> {
        let element = &*self.obj();
        let rejection = match answer {
            Ok(verdict) if verdict.allow => return Ok(()),
            Ok(verdict) => reject(
                PUBLISH_DENIED,
                RefusalReason::RefusedByAuthService,
                verdict
                    .reason
                    .unwrap_or_else(|| "publish refused by the auth service".into()),
            ),
            Err(_) => reject(
                PUBLISH_DENIED,
                RefusalReason::AuthServiceUnavailable,
                "authentication service unavailable",
            ),
        };
        element
            .imp()
            .post_rejected(info.peer, info.user.as_deref(), &rejection);
        Err(rejection)
    }

    /// Installs an accepted publish as the element's live one, unless another is live, the
    /// stream ended or the element stopped meanwhile.
    pub(super) fn install_publish(
        &self,
        info: &ConnectInfo,
        stream_key: &str,
        publish_type: Option<&str>,
    ) -> Result<Box<dyn Publisher>, Rejection> {
        let element = &*self.obj();
        let settings = self.settings.lock().unwrap().clone();
        let raw_stream_key = stream_key;
        let stream_key = if settings.failover {
            stream_key_of(stream_key)
        } else {
            stream_key
        };
        let publish_info = PublishInfo {
            encoder: info.flash_ver.clone(),
            application: settings.application.clone(),
            stream_key_masked: mask_key(stream_key),
            user: info.user.clone(),
            started: std::time::SystemTime::now(),
            connect: ConnectFacts::from_command_object(&info.command_object),
        };
        let role = settings.failover.then(|| {
            if is_backup(info, raw_stream_key) {
                Role::Backup
            } else {
                Role::Primary
            }
        });
        let slot = Arc::new(PublishSlot::new(
            info.connection_id,
            info.peer,
            self.epoch,
            publish_info,
            role,
        ));
        if settings.uses_auth_service() {
            *slot.stopped_notice.lock().unwrap() = Some(Notice {
                url: settings.auth_url.clone(),
                timeout: Duration::from_millis(u64::from(settings.auth_timeout_ms)),
                question: question(
                    Action::Publish,
                    info,
                    &settings.application,
                    Some(stream_key),
                    info.user.as_deref(),
                ),
            });
        }
        let failover = {
            let mut publish = self.publish.lock().unwrap();
            // Under the lock that installs the publish: EOS and PAUSED→READY set these under it.
            let ended = publish.ended;
            let accepting = publish.accepting;
            if ended || !accepting || publish.draining {
                drop(publish);
                let (why, reason) = if ended {
                    (
                        "this stream has ended (the pipeline received EOS)",
                        RefusalReason::Ended,
                    )
                } else if !accepting {
                    (
                        "this stream has ended: the server is stopping",
                        RefusalReason::Ended,
                    )
                } else {
                    (
                        "this server is draining: publish elsewhere",
                        RefusalReason::Draining,
                    )
                };
                let rejection = reject(PUBLISH_DENIED, reason, why);
                self.post_rejected(info.peer, info.user.as_deref(), &rejection);
                return Err(rejection);
            }
            let delivering = role != Some(Role::Backup) && self.outputs.delivering();
            if let Some(current) = publish.slot_mut(role).as_ref() {
                let stale = Duration::from_millis(u64::from(settings.stale_timeout_ms));
                // Media of its still queued or in a push downstream: held by back-pressure.
                if current.silence() < stale || delivering {
                    let rejection = reject(
                        PUBLISH_BAD_NAME,
                        RefusalReason::AlreadyPublishing,
                        "this stream is already being published",
                    );
                    gst::debug!(CAT, obj = element, "{} is publishing", current.peer);
                    drop(publish);
                    self.post_rejected(info.peer, info.user.as_deref(), &rejection);
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
                self.outputs.wake_senders();
                // Wakes its connection (blocked in a read, or waiting in the front door).
                self.kick_connection(current.connection_id);
            }
            *publish.slot_mut(role) = Some(slot.clone());
            role.zip(publish.failover.clone())
        };
        if let Some((role, gate)) = &failover {
            gate.connected(*role);
        }
        gst::info!(
            CAT,
            obj = element,
            "publish from {} (encoder {:?}, type {:?}) accepted",
            info.peer,
            info.flash_ver,
            publish_type
        );
        self.counters.published();
        let config = PublishConfig {
            eos_on_disconnect: settings.eos_on_disconnect,
            clock_sync: settings.clock_sync,
            max_tracks: settings.max_tracks as usize,
            output: settings.output_config(),
        };
        Ok(Box::new(SessionPublisher::new(
            element.clone(),
            slot,
            config,
            failover,
        )))
    }

    pub(super) fn decide_connect(
        &self,
        info: &ConnectInfo,
        query: Option<&auth::AuthQuery<'_>>,
        settings: &super::settings::Settings,
    ) -> ConnectDecision {
        let element = &*self.obj();
        let ip = info.peer.ip();
        let uses_service = settings.uses_auth_service();
        let auth_required = settings.auth_required() || self.has_password_handler() || uses_service;
        // Only the last of the three connects of an Adobe login carries a response to check: the
        // brake delays that one and the password is looked up for that one only.
        let has_response = has_response(query);
        if auth_required {
            let verdict = self.auth.lock().unwrap().brake.check(ip, Instant::now());
            match verdict {
                BrakeVerdict::Allow => {}
                // Already waited out in the front door (see `brake_delay`).
                BrakeVerdict::Delay(_) => {}
                BrakeVerdict::Refuse => {
                    return ConnectDecision::Decided(Err(reject(
                        CONNECT_REJECTED,
                        RefusalReason::TooManyFailures,
                        "too many failed attempts from this address; try again later",
                    )))
                }
            }
        }

        let app = application_of(&info.app);
        if app != settings.application {
            return ConnectDecision::Decided(Err(reject(
                CONNECT_REJECTED,
                RefusalReason::BadApplication,
                format!("application '{app}' not found"),
            )));
        }

        if settings.verify_port {
            let public = if self.is_tls_port(info.local_port) {
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
            if let Err(description) = auth::verify_port(tc_url, expected) {
                return ConnectDecision::Decided(Err(reject(
                    CONNECT_REJECTED,
                    RefusalReason::PortMismatch,
                    description,
                )));
            }
        }

        if !auth_required {
            return ConnectDecision::Decided(Ok(ConnectAccepted {
                user: None,
                accepted_by: None,
                extra_properties: enhanced_rtmp_capabilities(&info.command_object),
            }));
        }
        let requested = query.and_then(|q| q.user);
        if uses_service {
            // The service is asked for what it alone knows: whether a connect without credentials
            // may in, and a user's password. The challenge step needs neither.
            if query.is_none() || has_response {
                return ConnectDecision::AskService {
                    user: requested.map(str::to_string),
                };
            }
            return ConnectDecision::Decided(self.verify_login(info, query, None));
        }
        // Resolve the password before taking the auth lock: an application's handler may be slow.
        let password = requested.filter(|_| has_response).and_then(|user| {
            if !settings.username.is_empty() && user == settings.username {
                Some(settings.password.clone())
            } else {
                element.emit_by_name::<Option<String>>(
                    "get-password",
                    &[&user, &info.peer.to_string()],
                )
            }
        });
        ConnectDecision::Decided(self.verify_login(info, query, password))
    }

    /// The auth service's answer to a connect, decided: a connect without credentials is let in
    /// or told to log in; a login is checked against the password the service gave (a user it
    /// refuses is answered exactly as a wrong password).
    pub(super) fn decide_with_service(
        &self,
        info: &ConnectInfo,
        user: Option<&str>,
        answer: Result<Verdict, Failure>,
    ) -> Result<ConnectAccepted, Rejection> {
        let verdict = answer.map_err(|_| {
            reject(
                CONNECT_REJECTED,
                RefusalReason::AuthServiceUnavailable,
                "authentication service unavailable",
            )
        })?;
        let query = auth::AuthQuery::of_connect(&info.app, info.tc_url.as_deref());
        if user.is_none() && verdict.allow {
            return Ok(ConnectAccepted {
                user: None,
                accepted_by: None,
                extra_properties: enhanced_rtmp_capabilities(&info.command_object),
            });
        }
        let password = verdict.password.filter(|_| verdict.allow);
        self.verify_login(info, query.as_ref(), password)
    }

    /// The Adobe login of a connect, given the password of the user it names (if known).
    fn verify_login(
        &self,
        info: &ConnectInfo,
        query: Option<&auth::AuthQuery<'_>>,
        password: Option<String>,
    ) -> Result<ConnectAccepted, Rejection> {
        let ip = info.peer.ip();
        let requested = query.and_then(|q| q.user);
        let lookup = |user: &str| password.clone().filter(|_| Some(user) == requested);
        let mut auth_state = self.auth.lock().unwrap();
        let decision = auth_state.adobe.check_query(query, Instant::now(), &lookup);
        match decision {
            ConnectAuth::Accepted { user } => {
                auth_state.brake.record_success(ip);
                Ok(ConnectAccepted {
                    user: Some(user),
                    accepted_by: None,
                    extra_properties: enhanced_rtmp_capabilities(&info.command_object),
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
}
