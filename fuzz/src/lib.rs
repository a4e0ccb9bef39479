//! The plugin's sans-IO protocol modules, compiled on their own for fuzzing.
//!
//! They are included by path rather than through the main crate so the fuzz build does not
//! need GStreamer. Each module only refers to itself (`super::`) or to its siblings at the
//! crate root (`crate::rtmp`, `crate::flv`, `crate::auth`), which this layout reproduces.

#[path = "../../src/rtmp/mod.rs"]
pub mod rtmp;

#[path = "../../src/flv/mod.rs"]
pub mod flv;

#[path = "../../src/auth/mod.rs"]
pub mod auth;
