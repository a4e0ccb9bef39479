// SPDX-License-Identifier: MPL-2.0
//! The socket layer: one listener thread, one thread per connection, blocking I/O with short read
//! timeouts so every thread notices a stop request or a silent peer promptly.
//!
//! It knows RTMP only through the sans-IO [`crate::rtmp::ServerSession`] and knows nothing of
//! GStreamer: decisions (who may connect, who may publish, where media goes) are delegated to an
//! [`IngestHandler`], which the element implements.

mod connection;
mod handler;
mod listener;
mod transport;

pub use handler::{
    CloseReason, ConnectAccepted, ConnectInfo, IngestHandler, MediaMessage, Publisher, Rejection,
};
pub use listener::{Listener, ServerConfig};
pub use transport::tls_config;
