// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Between the two publishers of a `failover` element and its pads: each publisher's caps and
//! buffers go through the [`Arbiter`] (failover.rs), and what it lets through reaches the pads
//! in the order it decided, with its time shift and DISCONT applied.

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::failover::{Arbiter, Item, Kind, Out, Role};
use super::outputs::{OutputConfig, PushOutcome, TrackKey};
use crate::CAT;

/// A publisher's caps or buffer for one pad.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    key: TrackKey,
    /// The publish session it belongs to (the pads' failure bookkeeping).
    session: u64,
    what: What,
}

#[derive(Debug, Clone)]
enum What {
    Caps(gst::Caps),
    Buffer(gst::Buffer),
}

pub(super) struct FailoverGate {
    arbiter: Mutex<Arbiter<Entry>>,
    /// Held while what the arbiter decided reaches the pads, taken before the arbiter's lock
    /// is released: two publishers' threads deliver in the order the arbiter decided.
    delivery: Mutex<()>,
    config: OutputConfig,
}

fn track_id(key: TrackKey) -> u32 {
    match key {
        TrackKey::Video(id) => u32::from(id),
        TrackKey::Audio(id) => 256 + u32::from(id),
    }
}

impl FailoverGate {
    pub fn new(timeout: Duration, failback: bool, config: OutputConfig) -> Self {
        FailoverGate {
            arbiter: Mutex::new(Arbiter::new(
                timeout,
                failback,
                config.queue_limits.max_bytes,
            )),
            delivery: Mutex::new(()),
            config,
        }
    }

    pub fn active(&self) -> Option<Role> {
        self.arbiter.lock().ok().and_then(|a| a.active())
    }

    pub fn connected(&self, role: Role) {
        if let Ok(mut arbiter) = self.arbiter.lock() {
            arbiter.connected(role, Instant::now());
        }
    }

    pub fn disconnected(&self, element: &super::RtmpServerSrc, role: Role) {
        let _ = self.run(element, |a, now| a.disconnected(role, now));
    }

    /// A track of `role`'s publisher has caps (new or changed).
    pub fn caps(
        &self,
        element: &super::RtmpServerSrc,
        role: Role,
        key: TrackKey,
        session: u64,
        caps: &gst::Caps,
    ) -> Result<(), gst::FlowError> {
        let item = Item {
            track: track_id(key),
            kind: Kind::Config {
                video: matches!(key, TrackKey::Video(_)),
            },
            time: 0,
            pts: 0,
            bytes: 0,
            payload: Entry {
                key,
                session,
                what: What::Caps(caps.clone()),
            },
        };
        self.run(element, |a, now| a.media(role, item, now)).1
    }

    /// A buffer of `role`'s publisher.
    pub fn buffer(
        &self,
        element: &super::RtmpServerSrc,
        role: Role,
        key: TrackKey,
        session: u64,
        buffer: gst::Buffer,
    ) -> PushOutcome {
        let kind = match key {
            TrackKey::Video(_) => Kind::Video {
                keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
            },
            TrackKey::Audio(_) => Kind::Audio,
        };
        let item = Item {
            track: track_id(key),
            kind,
            time: buffer.dts_or_pts().map_or(0, |t| t.nseconds()),
            pts: buffer.pts().map_or(0, |t| t.nseconds()),
            bytes: buffer.size(),
            payload: Entry {
                key,
                session,
                what: What::Buffer(buffer),
            },
        };
        self.run(element, |a, now| a.media(role, item, now)).0
    }

    /// Asks the arbiter, then delivers what it decided, in order.
    fn run(
        &self,
        element: &super::RtmpServerSrc,
        ask: impl FnOnce(&mut Arbiter<Entry>, Instant) -> Vec<Out<Entry>>,
    ) -> (PushOutcome, Result<(), gst::FlowError>) {
        let (outs, _delivery) = {
            let Ok(mut arbiter) = self.arbiter.lock() else {
                return (PushOutcome::Stopped, Err(gst::FlowError::Error));
            };
            let outs = ask(&mut arbiter, Instant::now());
            let delivery = self.delivery.lock().unwrap_or_else(|e| e.into_inner());
            (outs, delivery)
        };
        let mut outcome = PushOutcome::Ok;
        let mut exposed = Ok(());
        let outputs = &element.imp().outputs;
        let never = AtomicBool::new(false);
        for out in outs {
            match out {
                Out::Switched {
                    from,
                    to,
                    reason,
                    gap,
                } => {
                    gst::warning!(
                        CAT,
                        obj = element,
                        "failover: the pads now show the {} publisher ({reason}; gap {} ms)",
                        to.as_str(),
                        gap.as_millis()
                    );
                    let s = gst::Structure::builder("rtmpserversrc-failover")
                        .field("from", from.map_or("none", Role::as_str))
                        .field("to", to.as_str())
                        .field("reason", reason)
                        .field("gap-ms", gap.as_millis() as u64)
                        .build();
                    let _ = element
                        .post_message(gst::message::Element::builder(s).src(element).build());
                }
                Out::Push {
                    item,
                    shift_ns,
                    discont,
                } => match item.payload.what {
                    What::Caps(caps) => {
                        exposed = outputs.ensure(
                            element,
                            item.payload.key,
                            item.payload.session,
                            &caps,
                            self.config,
                        );
                    }
                    What::Buffer(mut buffer) => {
                        if shift_ns > 0 || discont {
                            let b = buffer.make_mut();
                            let shift = gst::ClockTime::from_nseconds(shift_ns);
                            if let Some(pts) = b.pts() {
                                b.set_pts(pts + shift);
                            }
                            if let Some(dts) = b.dts() {
                                b.set_dts(dts + shift);
                            }
                            if discont {
                                b.set_flags(gst::BufferFlags::DISCONT);
                            }
                        }
                        let result =
                            outputs.send(item.payload.key, item.payload.session, buffer, &never);
                        if result != PushOutcome::Ok {
                            outcome = result;
                        }
                    }
                },
            }
        }
        (outcome, exposed)
    }
}
