// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The socket layer: per port, a front door (one event loop for every connection that is not
//! streaming media: handshake, connect, authentication, publish) and one thread per live
//! publisher, which sleeps in the kernel until data, a deadline or a shutdown wakes it.
//!
//! It knows RTMP only through the sans-IO [`crate::rtmp::ServerSession`] and knows nothing of
//! GStreamer: decisions (who may connect, who may publish, where media goes) are delegated to an
//! [`IngestHandler`], which the element implements.

mod connection;
mod deferred;
mod front_door;
mod handler;
mod listener;
mod proxy_header;
mod publisher_thread;
mod push_watch;
mod transport;

pub use deferred::deferred;
pub use handler::{
    CloseReason, ConnectAccepted, ConnectInfo, ConnectVerdict, Delivery, IngestHandler,
    MediaMessage, PublishVerdict, Publisher, PushWatch, ReconnectRequest, RefusalReason, Rejection,
    TimerDue,
};
pub use listener::{Listener, ServerConfig};
pub use proxy_header::ProxyPolicy;
pub use transport::tls_config;
#[cfg(test)]
mod tests;
