// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Ports shared by several elements of one process, and the routing of their connections.
//!
//! Several `rtmpserversrc` elements may listen on the same address and port; each connect is
//! routed to the element whose application (and later, stream key) matches, which then decides
//! by its own policy (ingest.rs). The listener is
//! reference-counted: it closes when the last element leaves, and an element leaving closes only
//! its own publisher.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::auth_service::{self, Action};
use super::ingest::{
    application_of, question, reject, stream_key_of, ConnectDecision, CONNECT_REJECTED,
    PUBLISH_DENIED,
};
use super::stats::Counters;
use crate::auth;
use crate::server::{
    deferred, CloseReason, ConnectAccepted, ConnectInfo, ConnectVerdict, IngestHandler, Listener,
    PublishVerdict, RefusalReason, Rejection, ServerConfig,
};
use crate::CAT;

/// (address as configured, port, TLS): a port is shared only between elements that agree.
type PortKey = (String, u16, bool);

static REGISTRY: LazyLock<Mutex<HashMap<PortKey, Weak<SharedPort>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

struct Route {
    id: u64,
    element: glib::WeakRef<super::RtmpServerSrc>,
    /// Only elements in PAUSED or PLAYING take connects.
    active: bool,
    /// Draining: takes no new connects.
    draining: bool,
}

pub(super) struct SharedPort {
    key: PortKey,
    listener: Mutex<Listener>,
    routes: Mutex<Vec<Route>>,
    /// Connection counters of the port, reported by every element on it.
    pub counters: Counters,
    next_route: AtomicU64,
    tls: bool,
}

impl SharedPort {
    /// The port `address:port`, bound now or shared with elements that already use it. Port 0
    /// always binds a new port.
    pub fn acquire(address: &str, port: u16, tls: bool) -> io::Result<Arc<SharedPort>> {
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, weak| weak.strong_count() > 0);
        if port != 0 {
            if let Some(shared) = registry
                .get(&(address.to_string(), port, tls))
                .and_then(Weak::upgrade)
            {
                return Ok(shared);
            }
        }
        let listener = Listener::bind(address, port)?;
        let key = (address.to_string(), listener.local_addr().port(), tls);
        let shared = Arc::new(SharedPort {
            key: key.clone(),
            listener: Mutex::new(listener),
            routes: Mutex::new(Vec::new()),
            counters: Counters::default(),
            next_route: AtomicU64::new(1),
            tls,
        });
        registry.insert(key, Arc::downgrade(&shared));
        Ok(shared)
    }

    pub fn port(&self) -> u16 {
        self.key.1
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn add_route(&self, element: &super::RtmpServerSrc) -> u64 {
        let id = self.next_route.fetch_add(1, Ordering::Relaxed);
        self.routes.lock().unwrap().push(Route {
            id,
            element: element.downgrade(),
            active: false,
            draining: false,
        });
        id
    }

    pub fn remove_route(&self, id: u64) {
        self.routes.lock().unwrap().retain(|r| r.id != id);
    }

    /// An element starts or stops taking connects (leaving PAUSED also ends a drain).
    pub fn set_active(&self, id: u64, active: bool) {
        self.update_route(id, |route| {
            route.active = active;
            if !active {
                route.draining = false;
            }
        });
    }

    /// An element drains: it takes no new connects. When every element taking connects on
    /// this port drains, the port stops listening, so load balancers see it down.
    pub fn set_draining(&self, id: u64) {
        self.update_route(id, |route| route.draining = true);
    }

    fn update_route(&self, id: u64, change: impl FnOnce(&mut Route)) {
        let accepting = {
            let mut routes = self.routes.lock().unwrap();
            if let Some(route) = routes.iter_mut().find(|r| r.id == id) {
                change(route);
            }
            let mut active = routes.iter().filter(|r| r.active).peekable();
            active.peek().is_none() || active.any(|r| !r.draining)
        };
        if let Err(err) = self.listener.lock().unwrap().set_accepting(accepting) {
            gst::error!(CAT, "port {}: cannot listen again: {err}", self.port());
        }
    }

    /// Elements taking connects now, in the order they joined the port.
    pub fn active_elements(&self) -> Vec<(u64, super::RtmpServerSrc)> {
        self.elements(|r| r.active && !r.draining)
    }

    /// Elements in PAUSED or PLAYING that drain.
    fn draining_elements(&self) -> Vec<(u64, super::RtmpServerSrc)> {
        self.elements(|r| r.active && r.draining)
    }

    fn elements(&self, which: impl Fn(&Route) -> bool) -> Vec<(u64, super::RtmpServerSrc)> {
        self.routes
            .lock()
            .unwrap()
            .iter()
            .filter(|r| which(r))
            .filter_map(|r| r.element.upgrade().map(|e| (r.id, e)))
            .collect()
    }

    /// Starts accepting if nobody did yet; the first element's limits apply to the port.
    pub fn start(
        self: &Arc<Self>,
        config: ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<()> {
        let router = Arc::new(Router::new(Arc::downgrade(self)));
        self.listener.lock().unwrap().start(config, router, tls)
    }

    /// Shuts one connection down without waiting (a silent publisher just replaced).
    pub fn kick_connection(&self, id: u64) {
        let connections = self.listener.lock().unwrap().connections();
        if let Some(connections) = connections {
            connections.kick(id);
        }
    }

    /// Has the front door look at connection `id` again (its publisher has something to send).
    pub fn resume_connection(&self, id: u64) {
        let connections = self.listener.lock().unwrap().connections();
        if let Some(connections) = connections {
            connections.resume(id);
        }
    }

    /// Closes one connection (an element's publisher) and waits until it is gone.
    pub fn close_connection(&self, id: u64) {
        // Not under the listener lock: the front door may need it to decide a publish.
        let connections = self.listener.lock().unwrap().connections();
        if let Some(connections) = connections {
            connections.close(id);
        }
    }
}

/// The socket layer's view of a port: routes each connect and publish to the element on that
/// port whose application, credentials and stream key fit. Holds only weak references, so
/// connection threads never keep a disposed element or port alive.
pub(super) struct Router {
    port: Weak<SharedPort>,
}

impl Router {
    pub fn new(port: Weak<SharedPort>) -> Self {
        Router { port }
    }

    fn elements_for_app(&self, app: &str) -> Vec<(u64, super::RtmpServerSrc)> {
        let Some(port) = self.port.upgrade() else {
            return Vec::new();
        };
        let app = application_of(app);
        port.active_elements()
            .into_iter()
            .filter(|(_, e)| e.imp().settings.lock().unwrap().application == app)
            .collect()
    }
}

impl Router {
    /// Routes a connect to the element serving its application and decides it there.
    fn route_connect(&self, info: &ConnectInfo) -> ConnectVerdict {
        let candidates = self.elements_for_app(&info.app);
        let app = application_of(&info.app);
        // Parsed once here, then only read.
        let query = auth::AuthQuery::of_connect(&info.app, info.tc_url.as_deref());
        // Several elements may serve one application with different keys; the key is only
        // known at publish. Authenticate against the one that knows the requested user.
        let user = query.as_ref().and_then(|q| q.user);
        let chosen = candidates
            .iter()
            .find(|(_, e)| {
                let settings = e.imp().settings.lock().unwrap();
                user.is_some_and(|u| u == settings.username)
            })
            .or_else(|| {
                candidates.iter().find(|(_, e)| {
                    e.imp().has_password_handler()
                        || e.imp().settings.lock().unwrap().uses_auth_service()
                })
            })
            .or_else(|| candidates.first());
        let Some((route, element)) = chosen else {
            return ConnectVerdict::Reject(self.no_element_for(info, app, user));
        };
        let imp = element.imp();
        let settings = imp.settings.lock().unwrap().clone();
        if !info.brake_served {
            if let Some(delay) = element.imp().brake_delay(info, query.as_ref(), &settings) {
                return ConnectVerdict::Delay(delay);
            }
        }
        let route = *route;
        match element
            .imp()
            .decide_connect(info, query.as_ref(), &settings)
        {
            ConnectDecision::Decided(result) => connect_verdict(element, info, route, user, result),
            ConnectDecision::AskService { user } => {
                let (waiting, answer) = deferred::<ConnectVerdict>();
                let asked = question(Action::Connect, info, app, None, user.as_deref());
                let info = info.clone();
                ask_service(element, &settings, asked, move |element, reply| {
                    let result = element
                        .imp()
                        .decide_with_service(&info, user.as_deref(), reply);
                    answer.send(connect_verdict(
                        element,
                        &info,
                        route,
                        user.as_deref(),
                        result,
                    ));
                });
                ConnectVerdict::Later(waiting)
            }
        }
    }

    /// No element takes this connect: because the application is unknown, or because the
    /// elements that serve it drain.
    fn no_element_for(&self, info: &ConnectInfo, app: &str, user: Option<&str>) -> Rejection {
        let port = self.port.upgrade();
        let draining = port.as_ref().is_some_and(|p| {
            p.draining_elements()
                .iter()
                .any(|(_, e)| e.imp().settings.lock().unwrap().application == app)
        });
        let rejection = if draining {
            reject(
                CONNECT_REJECTED,
                RefusalReason::Draining,
                "this server is draining: connect elsewhere",
            )
        } else {
            reject(
                CONNECT_REJECTED,
                RefusalReason::BadApplication,
                format!("application '{app}' not found"),
            )
        };
        if let Some(port) = port {
            // Tell every element on the port: the application may be a typo of theirs.
            let elements = port.active_elements();
            if elements.is_empty() {
                gst::warning!(
                    CAT,
                    "connect from {} rejected: {}",
                    info.peer,
                    rejection.description
                );
                port.counters.rejected(rejection.reason);
            }
            for (_, e) in elements {
                e.imp().post_rejected(info.peer, user, &rejection);
            }
        }
        rejection
    }
}

/// Asks `element`'s auth service; `then` gets its answer on a service thread, if the element
/// still exists (if not, the waiting connection's answer is dropped, which refuses).
fn ask_service(
    element: &super::RtmpServerSrc,
    settings: &super::settings::Settings,
    asked: auth_service::Question,
    then: impl FnOnce(&super::RtmpServerSrc, Result<auth_service::Verdict, auth_service::Failure>)
        + Send
        + 'static,
) {
    let weak = element.downgrade();
    auth_service::ask_later(
        &settings.auth_url,
        Duration::from_millis(u64::from(settings.auth_timeout_ms)),
        asked,
        Box::new(move |reply| {
            if let Some(element) = weak.upgrade() {
                then(&element, reply);
            }
        }),
    );
}

/// A decided connect, reported (a refusal other than a login step is posted) and answered.
fn connect_verdict(
    element: &super::RtmpServerSrc,
    info: &ConnectInfo,
    route: u64,
    user: Option<&str>,
    result: Result<ConnectAccepted, Rejection>,
) -> ConnectVerdict {
    match result {
        Ok(mut accepted) => {
            accepted.accepted_by = Some(route);
            ConnectVerdict::Accept(accepted)
        }
        Err(rejection) => {
            // The challenge step is part of every successful Adobe login: not worth a warning.
            if rejection.reason.is_login_step() {
                gst::debug!(
                    CAT,
                    obj = element,
                    "connect from {}: {}",
                    info.peer,
                    rejection.reason
                );
            } else {
                element.imp().post_rejected(info.peer, user, &rejection);
            }
            ConnectVerdict::Reject(rejection)
        }
    }
}

impl IngestHandler for Router {
    fn connection_opened(&self, _peer: SocketAddr) {
        if let Some(port) = self.port.upgrade() {
            port.counters.opened();
        }
    }

    fn connection_refused(&self, _peer: SocketAddr, reason: RefusalReason) {
        if let Some(port) = self.port.upgrade() {
            port.counters.rejected(reason);
        }
    }

    fn connection_closed(
        &self,
        _info: Option<&ConnectInfo>,
        _peer: SocketAddr,
        reason: CloseReason,
    ) {
        if let Some(port) = self.port.upgrade() {
            port.counters.closed(reason);
        }
    }

    fn connect(&self, info: &ConnectInfo) -> ConnectVerdict {
        self.route_connect(info)
    }

    fn publish(
        &self,
        info: &ConnectInfo,
        stream_key: &str,
        publish_type: Option<&str>,
    ) -> PublishVerdict {
        let candidates = self.elements_for_app(&info.app);
        let key_of = |e: &super::RtmpServerSrc| e.imp().settings.lock().unwrap().stream_key.clone();
        // A failover element's backup names the key with `?backup=1`.
        let matches = |e: &super::RtmpServerSrc| {
            let key = key_of(e);
            key == stream_key
                || (e.imp().settings.lock().unwrap().failover && key == stream_key_of(stream_key))
        };
        // An exact key match wins over an element that accepts any key.
        let target = candidates
            .iter()
            .find(|(_, e)| matches(e))
            .or_else(|| candidates.iter().find(|(_, e)| key_of(e).is_empty()));
        let Some((route, element)) = target else {
            let rejection = reject(
                PUBLISH_DENIED,
                RefusalReason::BadStreamKey,
                "stream key rejected",
            );
            for (_, e) in &candidates {
                e.imp()
                    .post_rejected(info.peer, info.user.as_deref(), &rejection);
            }
            if candidates.is_empty() {
                gst::warning!(
                    CAT,
                    "publish from {} rejected: no element serves it",
                    info.peer
                );
                if let Some(port) = self.port.upgrade() {
                    port.counters.rejected(rejection.reason);
                }
            }
            return PublishVerdict::Reject(rejection);
        };
        if Some(*route) != info.accepted_by && !same_credentials(info, element, &candidates) {
            let rejection = reject(
                PUBLISH_DENIED,
                RefusalReason::BadCredentialsForKey,
                "stream key rejected",
            );
            element
                .imp()
                .post_rejected(info.peer, info.user.as_deref(), &rejection);
            return PublishVerdict::Reject(rejection);
        }
        if let Err(rejection) = element.imp().check_publish(info, stream_key) {
            return PublishVerdict::Reject(rejection);
        }
        let settings = element.imp().settings.lock().unwrap().clone();
        if !settings.uses_auth_service() {
            return match element
                .imp()
                .install_publish(info, stream_key, publish_type)
            {
                Ok(publisher) => PublishVerdict::Accept(publisher),
                Err(rejection) => PublishVerdict::Reject(rejection),
            };
        }
        let (waiting, answer) = deferred::<PublishVerdict>();
        let asked = question(
            Action::Publish,
            info,
            &settings.application,
            Some(stream_key),
            info.user.as_deref(),
        );
        let info = info.clone();
        let (stream_key, publish_type) = (stream_key.to_string(), publish_type.map(str::to_string));
        ask_service(element, &settings, asked, move |element, reply| {
            let verdict = element
                .imp()
                .service_publish_verdict(&info, reply)
                .and_then(|()| {
                    element
                        .imp()
                        .install_publish(&info, &stream_key, publish_type.as_deref())
                });
            answer.send(match verdict {
                Ok(publisher) => PublishVerdict::Accept(publisher),
                Err(rejection) => PublishVerdict::Reject(rejection),
            });
        });
        PublishVerdict::Later(waiting)
    }
}

/// A connection authenticated by one element may publish to another of the same application
/// only if that one would have accepted the same credentials.
fn same_credentials(
    info: &ConnectInfo,
    target: &super::RtmpServerSrc,
    candidates: &[(u64, super::RtmpServerSrc)],
) -> bool {
    let target_settings = target.imp().settings.lock().unwrap().clone();
    if !target_settings.auth_required() && !target.imp().has_password_handler() {
        return true;
    }
    let Some(user) = info.user.as_deref() else {
        return false;
    };
    let Some((_, by)) = candidates
        .iter()
        .find(|(id, _)| Some(*id) == info.accepted_by)
    else {
        return false;
    };
    let by_settings = by.imp().settings.lock().unwrap().clone();
    user == target_settings.username && by_settings.password == target_settings.password
}
