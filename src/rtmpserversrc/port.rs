// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Ports shared by several elements of one process.
//!
//! Several `rtmpserversrc` elements may listen on the same address and port; each connect is
//! routed to the element whose application (and later, stream key) matches. The listener is
//! reference-counted: it closes when the last element leaves, and an element leaving closes only
//! its own publisher.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use gst::glib;
use gst::prelude::*;

use super::ingest::Router;
use super::stats::Counters;
use crate::server::{Listener, ServerConfig};

/// (address as configured, port, TLS): a port is shared only between elements that agree.
type PortKey = (String, u16, bool);

static REGISTRY: LazyLock<Mutex<HashMap<PortKey, Weak<SharedPort>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

struct Route {
    id: u64,
    element: glib::WeakRef<super::RtmpServerSrc>,
    /// Only elements in PAUSED or PLAYING take connects.
    active: bool,
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
        });
        id
    }

    pub fn remove_route(&self, id: u64) {
        self.routes.lock().unwrap().retain(|r| r.id != id);
    }

    pub fn set_active(&self, id: u64, active: bool) {
        if let Some(route) = self.routes.lock().unwrap().iter_mut().find(|r| r.id == id) {
            route.active = active;
        }
    }

    /// Elements taking connects now, in the order they joined the port.
    pub fn active_elements(&self) -> Vec<(u64, super::RtmpServerSrc)> {
        self.routes
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.active)
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

    /// Closes one connection (an element's publisher) and waits until it is gone.
    pub fn close_connection(&self, id: u64) {
        // Not under the listener lock: the front door may need it to decide a publish.
        let connections = self.listener.lock().unwrap().connections();
        if let Some(connections) = connections {
            connections.close(id);
        }
    }
}
