// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Primary and backup publishers of one stream (`failover`): which one the pads show, what the
//! other one's media is held for, and when to switch. Pure logic on running times, unit-tested
//! without GStreamer; the element feeds it each publisher's media in arrival order and pushes
//! what it returns.
//!
//! - The inactive publisher's media is held from its last video keyframe (its current GOP), so
//!   a switch can start at a keyframe at once. Audio-only publishers hold nothing and switch at
//!   their next frame.
//! - The active publisher is lost when it disconnects or sends no media for `timeout`. The
//!   silence is noticed when the other publisher's media arrives (it keeps arriving while the
//!   element has something to switch to).
//! - A switch replays the new publisher's latest configuration (caps) of every track, then its
//!   held GOP. All tracks get the same time shift, so A/V offsets are kept: the shift makes the
//!   keyframe come one frame after the last video output when the held GOP is older than that,
//!   so time never runs back; audio that would still overlap what was output is dropped: a
//!   frame of the other publisher is kept only if it starts a whole frame after the last one
//!   (audio-only switches have no shift, so the hole stays under a frame).
//! - With `failback`, the primary takes over again at its next keyframe once it sends media
//!   and has caught up (a keyframe not older than what the pads showed).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Which publisher of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Role {
    Primary,
    Backup,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Primary => Role::Backup,
            Role::Backup => Role::Primary,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What an item is, for the arbiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Video {
        keyframe: bool,
    },
    Audio,
    /// A track's configuration (caps): the latest one per track is replayed at a switch.
    /// `video`: of a video track, so a publisher is known to send video before its first frame.
    Config {
        video: bool,
    },
}

/// One piece of a publisher's output for one track.
#[derive(Debug, Clone)]
pub(super) struct Item<T> {
    pub track: u32,
    pub kind: Kind,
    /// Decoding time on the running-time axis, ns (buffers only).
    pub time: u64,
    /// Presentation time, ns (buffers only; B-frames present after they decode).
    pub pts: u64,
    pub bytes: usize,
    pub payload: T,
}

/// What the element does next.
#[derive(Debug)]
pub(super) enum Out<T> {
    /// Push this item; `shift_ns` is added to every timestamp of it, and `discont` marks the
    /// first buffer of its track after a switch.
    Push {
        item: Item<T>,
        shift_ns: u64,
        discont: bool,
    },
    /// The pads now show `to`.
    Switched {
        from: Option<Role>,
        to: Role,
        reason: &'static str,
        /// Between the last video output before the switch and the first after it.
        gap: Duration,
    },
}

#[derive(Debug)]
struct Source<T> {
    connected: bool,
    last_media: Option<Instant>,
    /// Has sent a video track at all (then switches start at a keyframe).
    has_video: bool,
    /// The held GOP (inactive source): from the last keyframe, in arrival order.
    held: Vec<Item<T>>,
    held_bytes: usize,
    /// Latest configuration per track.
    config: HashMap<u32, Item<T>>,
    /// Time shift applied to this source's output, ns.
    shift_ns: u64,
}

impl<T> Source<T> {
    fn new() -> Self {
        Source {
            connected: false,
            last_media: None,
            has_video: false,
            held: Vec::new(),
            held_bytes: 0,
            config: HashMap::new(),
            shift_ns: 0,
        }
    }

    fn clear_held(&mut self) {
        self.held.clear();
        self.held_bytes = 0;
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(super) struct Arbiter<T> {
    timeout: Duration,
    failback: bool,
    /// At most this much media is held for the inactive publisher; a longer GOP is not held
    /// (the switch then waits for its next keyframe).
    max_held_bytes: usize,
    active: Option<Role>,
    sources: [Source<T>; 2],
    /// Last output times (after shifting), for "time never runs back": video decoding time,
    /// the latest video presentation time, and per audio track.
    last_video_out: Option<u64>,
    last_video_pts: Option<u64>,
    last_audio_out: HashMap<u32, AudioOut>,
    /// Spacing of the last two video outputs: one frame.
    frame_ns: u64,
    /// Tracks that have not had a buffer since the last switch (their next one is DISCONT).
    discont: Vec<u32>,
    /// Every track that had output.
    tracks: Vec<u32>,
    /// A switch is due at the next keyframe of this source (failback, or a switch to a source
    /// that had no keyframe held).
    switch_at_keyframe: Option<(Role, &'static str)>,
}

const DEFAULT_FRAME_NS: u64 = 33_333_333;
/// An audio frame's length until a track has shown two frames of one publisher (AAC at
/// 48 kHz is 21.3 ms, Opus usually 20 ms).
const DEFAULT_AUDIO_FRAME_NS: u64 = 20_000_000;

/// The last audio frame a track output.
#[derive(Debug, Clone, Copy)]
struct AudioOut {
    /// Its start, shifted.
    time: u64,
    role: Role,
    /// The spacing of this track's last two frames from one publisher: one frame.
    frame_ns: u64,
}

impl<T: Clone> Arbiter<T> {
    pub fn new(timeout: Duration, failback: bool, max_held_bytes: usize) -> Self {
        Arbiter {
            timeout,
            failback,
            max_held_bytes,
            active: None,
            sources: [Source::new(), Source::new()],
            last_video_out: None,
            last_video_pts: None,
            last_audio_out: HashMap::new(),
            frame_ns: DEFAULT_FRAME_NS,
            discont: Vec::new(),
            tracks: Vec::new(),
            switch_at_keyframe: None,
        }
    }

    /// The publisher the pads show, if any.
    pub fn active(&self) -> Option<Role> {
        self.active
    }

    /// A publisher of this role was accepted.
    pub fn connected(&mut self, role: Role, now: Instant) {
        let source = &mut self.sources[role.index()];
        *source = Source::new();
        source.connected = true;
        source.last_media = Some(now);
    }

    /// The publisher of this role left. Switches to the other one if this one was showing.
    pub fn disconnected(&mut self, role: Role, now: Instant) -> Vec<Out<T>> {
        self.sources[role.index()].connected = false;
        self.sources[role.index()].clear_held();
        let mut out = Vec::new();
        if self.active == Some(role) {
            self.fail_over(role.other(), "disconnected", now, &mut out);
        }
        if self.switch_at_keyframe.is_some_and(|(r, _)| r == role) {
            self.switch_at_keyframe = None;
        }
        out
    }

    /// One item of the publisher of `role`, in its arrival order.
    pub fn media(&mut self, role: Role, item: Item<T>, now: Instant) -> Vec<Out<T>> {
        let mut out = Vec::new();
        let is_buffer = !matches!(item.kind, Kind::Config { .. });
        {
            let source = &mut self.sources[role.index()];
            if is_buffer {
                source.last_media = Some(now);
            }
            if matches!(item.kind, Kind::Video { .. } | Kind::Config { video: true }) {
                source.has_video = true;
            }
        }
        if self.active.is_none() {
            // The primary shows first; the backup only if no primary is there, or it has sent
            // nothing for the timeout since it connected.
            let takes_the_pads = is_buffer && (role == Role::Primary || !self.primary_healthy(now));
            if takes_the_pads {
                self.hold(role, item);
                self.switch_to(role, "first publisher", &mut out);
                return out;
            }
        } else if self.active != Some(role) {
            self.check_silence(now, &mut out);
        }
        let keyframe = matches!(item.kind, Kind::Video { keyframe: true });
        if self.active != Some(role) && keyframe {
            let due = match self.switch_at_keyframe {
                Some((target, reason)) if target == role => Some(reason),
                Some(_) => None,
                None => (role == Role::Primary
                    && self.failback
                    && self.primary_healthy(now)
                    && self.is_current(item.time))
                .then_some("primary back"),
            };
            if let Some(reason) = due {
                self.switch_at_keyframe = None;
                // The keyframe starts the held GOP, which the switch replays (and times).
                self.hold(role, item);
                self.switch_to(role, reason, &mut out);
                return out;
            }
        }
        if self.active == Some(role) {
            if let Kind::Config { .. } = item.kind {
                self.sources[role.index()]
                    .config
                    .insert(item.track, item.clone());
            }
            self.emit(role, item, &mut out);
        } else {
            // A source without video switches at any frame: a failover that waits for it, or
            // the primary's return once its audio is not behind what the pads played (a
            // primary back from a stall first sends its backlog).
            let audio_only = !self.sources[role.index()].has_video && is_buffer;
            let due = match self.switch_at_keyframe {
                Some((target, reason)) if audio_only && target == role => Some(reason),
                Some(_) => None,
                None => (audio_only
                    && role == Role::Primary
                    && self.failback
                    && self.primary_healthy(now)
                    && self.is_current_audio(&item))
                .then_some("primary back"),
            };
            self.hold(role, item);
            if let Some(reason) = due {
                self.switch_at_keyframe = None;
                self.switch_to(role, reason, &mut out);
            }
        }
        out
    }

    /// Whether a keyframe at `time` is not behind what the pads showed, on the active
    /// publisher's own time axis (before its shift): a primary back from a stall first sends
    /// what it could not send meanwhile, and returning to that would delay everything after it
    /// by the stall.
    fn is_current(&self, time: u64) -> bool {
        let shift = self.active.map_or(0, |a| self.sources[a.index()].shift_ns);
        self.last_video_out
            .is_none_or(|last| time + self.frame_ns + shift >= last)
    }

    /// Whether an audio frame of the primary, without video, is about as recent as what its
    /// track played (on the output's time axis: its own time, shifted as when it last showed).
    /// Two encoders' timelines differ by their start leads (tens of ms), so "about" allows half
    /// the failover timeout; a backlog after a stall starts at least the timeout behind. What
    /// the switch then replays that the pads already played is dropped (`emit`).
    fn is_current_audio(&self, item: &Item<T>) -> bool {
        let shift = self.sources[Role::Primary.index()].shift_ns;
        let slack = self.timeout.as_nanos() as u64 / 2;
        self.last_audio_out
            .get(&item.track)
            .is_none_or(|last| item.time + shift + slack > last.time)
    }

    fn primary_healthy(&self, now: Instant) -> bool {
        let primary = &self.sources[Role::Primary.index()];
        primary.connected
            && primary
                .last_media
                .is_some_and(|t| now.saturating_duration_since(t) < self.timeout)
    }

    fn check_silence(&mut self, now: Instant, out: &mut Vec<Out<T>>) {
        let Some(active) = self.active else {
            return;
        };
        let silent = self.sources[active.index()]
            .last_media
            .is_none_or(|t| now.saturating_duration_since(t) >= self.timeout);
        if silent && self.switch_at_keyframe.is_none() {
            self.fail_over(active.other(), "no media", now, out);
        }
    }

    /// The active publisher is lost: show `to` now if it has a keyframe held, or at its next.
    fn fail_over(&mut self, to: Role, reason: &'static str, now: Instant, out: &mut Vec<Out<T>>) {
        let target = &self.sources[to.index()];
        let alive = target.connected
            && target
                .last_media
                .is_some_and(|t| now.saturating_duration_since(t) < self.timeout);
        if !alive {
            return;
        }
        let starts_clean = !target.has_video
            || target
                .held
                .first()
                .is_some_and(|i| matches!(i.kind, Kind::Video { keyframe: true }));
        if starts_clean && !target.held.is_empty() || !target.has_video {
            self.switch_to(to, reason, out);
        } else {
            self.switch_at_keyframe = Some((to, reason));
        }
    }

    /// Shows `to` from now on: its configuration, then what it held.
    fn switch_to(&mut self, to: Role, reason: &'static str, out: &mut Vec<Out<T>>) {
        let from = self.active;
        self.active = Some(to);
        let held = std::mem::take(&mut self.sources[to.index()].held);
        self.sources[to.index()].held_bytes = 0;
        // The shift: the first video buffer comes one frame after the last video output, if
        // its own time is earlier than that, and presents after every frame shown; never a
        // shift back.
        let first = held.iter().find(|i| matches!(i.kind, Kind::Video { .. }));
        let first_video = first.map(|i| i.time);
        let last = self.last_video_out;
        let mut shift = match (first_video, last) {
            (Some(first), Some(last)) => (last + self.frame_ns).saturating_sub(first),
            _ => 0,
        };
        if let (Some(first), Some(shown)) = (first, self.last_video_pts) {
            shift = shift.max((shown + self.frame_ns).saturating_sub(first.pts));
        }
        let source = &mut self.sources[to.index()];
        source.shift_ns = shift;
        let gap = match (first_video, last) {
            (Some(first), Some(last)) => Duration::from_nanos((first + shift).saturating_sub(last)),
            _ => Duration::ZERO,
        };
        if from.is_some() {
            self.discont = self.tracks.clone();
        }
        out.push(Out::Switched {
            from,
            to,
            reason,
            gap,
        });
        let mut configs: Vec<Item<T>> = self.sources[to.index()].config.values().cloned().collect();
        configs.sort_by_key(|c| c.track);
        for config in configs {
            out.push(Out::Push {
                item: config,
                shift_ns: 0,
                discont: false,
            });
        }
        for item in held {
            self.emit(to, item, out);
        }
    }

    fn emit(&mut self, role: Role, item: Item<T>, out: &mut Vec<Out<T>>) {
        let shift = self.sources[role.index()].shift_ns;
        let time = item.time + shift;
        match item.kind {
            Kind::Config { .. } => {
                out.push(Out::Push {
                    item,
                    shift_ns: 0,
                    discont: false,
                });
                return;
            }
            Kind::Video { .. } => {
                if let Some(last) = self.last_video_out {
                    if time > last {
                        self.frame_ns = (time - last).min(1_000_000_000);
                    }
                }
                self.last_video_out = Some(self.last_video_out.map_or(time, |l| l.max(time)));
                let pts = item.pts + shift;
                self.last_video_pts = Some(self.last_video_pts.map_or(pts, |l| l.max(pts)));
            }
            Kind::Audio => {
                let last = self.last_audio_out.get(&item.track).copied();
                let mut frame_ns = last.map_or(DEFAULT_AUDIO_FRAME_NS, |l| l.frame_ns);
                match last {
                    // Runs back (a publisher's own audio never does; the other's may).
                    Some(l) if time <= l.time => return,
                    // The other publisher's frame would start inside the last one output: its
                    // start is not ours to move (audio-only switches have no shift), so it is
                    // dropped and the hole stays under one frame. Kept, the two frames would
                    // overlap and a muxer could see time run back at its precision (ms).
                    Some(l) if l.role != role && time < l.time + l.frame_ns => return,
                    Some(l) if l.role == role => frame_ns = (time - l.time).min(100_000_000),
                    _ => {}
                }
                self.last_audio_out.insert(
                    item.track,
                    AudioOut {
                        time,
                        role,
                        frame_ns,
                    },
                );
            }
        }
        if !self.tracks.contains(&item.track) {
            self.tracks.push(item.track);
        }
        let discont = match self.discont.iter().position(|&t| t == item.track) {
            Some(at) => {
                self.discont.swap_remove(at);
                true
            }
            None => false,
        };
        out.push(Out::Push {
            item,
            shift_ns: shift,
            discont,
        });
    }

    fn hold(&mut self, role: Role, item: Item<T>) {
        let max = self.max_held_bytes;
        let source = &mut self.sources[role.index()];
        match item.kind {
            Kind::Config { .. } => {
                source.config.insert(item.track, item);
            }
            Kind::Video { keyframe: true } => {
                source.clear_held();
                source.held_bytes = item.bytes;
                source.held.push(item);
            }
            Kind::Video { .. } | Kind::Audio => {
                // Before its first keyframe, a video publisher holds nothing.
                if source.has_video && source.held.is_empty() {
                    return;
                }
                if source.held_bytes + item.bytes > max {
                    // A GOP longer than we hold: wait for the next keyframe.
                    source.clear_held();
                    return;
                }
                source.held_bytes += item.bytes;
                source.held.push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn video(time_ms: u64, keyframe: bool) -> Item<&'static str> {
        Item {
            track: 0,
            kind: Kind::Video { keyframe },
            time: time_ms * MS,
            pts: time_ms * MS,
            bytes: 1000,
            payload: "v",
        }
    }

    fn audio(time_ms: u64) -> Item<&'static str> {
        Item {
            track: 1,
            kind: Kind::Audio,
            time: time_ms * MS,
            pts: time_ms * MS,
            bytes: 100,
            payload: "a",
        }
    }

    fn config(track: u32, payload: &'static str) -> Item<&'static str> {
        Item {
            track,
            // As in video() and audio(): track 0 is video.
            kind: Kind::Config { video: track == 0 },
            time: 0,
            pts: 0,
            bytes: 0,
            payload,
        }
    }

    /// (payload, output time ms, discont) of what was pushed; switches as ("switch", to, gap).
    fn pushed(out: &[Out<&'static str>]) -> Vec<(String, u64, bool)> {
        out.iter()
            .map(|o| match o {
                Out::Push {
                    item,
                    shift_ns,
                    discont,
                } => (
                    item.payload.to_string(),
                    (item.time + shift_ns) / MS,
                    *discont,
                ),
                Out::Switched { to, gap, .. } => (
                    format!("switch-{}", to.as_str()),
                    gap.as_millis() as u64,
                    false,
                ),
            })
            .collect()
    }

    /// Feeds both publishers the same 30 fps stream (GOP of 30 frames) from `start` to `end`
    /// ms, the backup `lag` ms behind; returns everything output with the time of output.
    struct Feed {
        arbiter: Arbiter<&'static str>,
        t0: Instant,
        out: Vec<(String, u64, bool)>,
    }

    impl Feed {
        fn new() -> Self {
            let t0 = Instant::now();
            let mut arbiter = Arbiter::new(Duration::from_millis(1000), true, 1 << 20);
            arbiter.connected(Role::Primary, t0);
            arbiter.connected(Role::Backup, t0);
            Feed {
                arbiter,
                t0,
                out: Vec::new(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }

        /// Output times (ms) of what was pushed with this payload.
        fn times(&self, payload: &str) -> Vec<u64> {
            self.out
                .iter()
                .filter(|(w, _, _)| w == payload)
                .map(|(_, t, _)| *t)
                .collect()
        }

        fn frame(&mut self, role: Role, n: u64, arrival_ms: u64) {
            let now = self.at(arrival_ms);
            let time = n * 1000 / 30;
            let out = self
                .arbiter
                .media(role, video(time, n.is_multiple_of(30)), now);
            self.out.extend(pushed(&out));
        }
    }

    #[test]
    fn the_backup_is_held_while_the_primary_shows() {
        let mut f = Feed::new();
        // The backup's first frame comes before the primary's: the primary still shows.
        f.frame(Role::Backup, 0, 0);
        for n in 0..90 {
            f.frame(Role::Primary, n, n * 1000 / 30 + 1);
            if n > 0 {
                f.frame(Role::Backup, n, n * 1000 / 30 + 5);
            }
        }
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
        // One switch (to the first publisher) and 90 primary frames: nothing of the backup.
        assert_eq!(f.out.len(), 91);
        // The backup holds exactly its current GOP (frames 60..89).
        let held = &f.arbiter.sources[Role::Backup.index()].held;
        assert_eq!(held.len(), 30);
        assert!(matches!(held[0].kind, Kind::Video { keyframe: true }));
    }

    #[test]
    fn a_silent_primary_is_replaced_from_the_backups_keyframe_without_time_running_back() {
        let mut f = Feed::new();
        // The primary stops after frame 44 (1.467 s); the backup goes on.
        for n in 0..120 {
            let arrival = n * 1000 / 30;
            if n < 45 {
                f.frame(Role::Primary, n, arrival);
            }
            f.frame(Role::Backup, n, arrival + 5);
        }
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        let switch = f
            .out
            .iter()
            .position(|(what, _, _)| what == "switch-backup")
            .expect("switched");
        // The switch came when the backup's media arrived 1 s after the primary's last.
        let before: Vec<u64> = f.out[..switch]
            .iter()
            .filter(|(w, _, _)| w == "v")
            .map(|(_, t, _)| *t)
            .collect();
        assert_eq!(before.len(), 45);
        let after = &f.out[switch + 1..];
        // The silence is noticed 1 s after the primary's last frame (1467 ms), when the
        // backup's frame 74 arrives; the backup's current GOP starts at frame 60 (2000 ms):
        // output goes on from there, DISCONT, a gap of less than the timeout.
        let (_, first_time, discont) = &after[0];
        assert!(*discont);
        let last_before = *before.last().unwrap();
        assert_eq!((last_before, *first_time), (1466, 2000));
        // Time never runs back, and the largest step is a frame, apart from the switch itself.
        let times = f.times("v");
        assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
        let steps = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(steps <= 1000 + 34, "largest step {steps} ms");
    }

    #[test]
    fn a_backup_whose_gop_is_older_than_the_output_is_shifted_one_frame_after_it() {
        let t0 = Instant::now();
        let mut a = Arbiter::new(Duration::from_millis(1000), true, 1 << 20);
        a.connected(Role::Primary, t0);
        a.connected(Role::Backup, t0);
        let mut out = Vec::new();
        for n in 0u64..90 {
            let arrival = t0 + Duration::from_millis(n * 1000 / 30);
            // The primary's timeline runs 1 s ahead of the backup's.
            if n < 45 {
                out.extend(pushed(&a.media(
                    Role::Primary,
                    video(n * 1000 / 30 + 1000, n.is_multiple_of(30)),
                    arrival,
                )));
            }
            out.extend(pushed(&a.media(
                Role::Backup,
                video(n * 1000 / 30, n.is_multiple_of(30)),
                arrival,
            )));
        }
        let times: Vec<u64> = out
            .iter()
            .filter(|(w, _, _)| w == "v")
            .map(|(_, t, _)| *t)
            .collect();
        assert!(
            times.windows(2).all(|w| w[1] > w[0]),
            "time ran back: {times:?}"
        );
        // Last primary frame 2466 ms; the backup's keyframe (2000 ms) comes out one frame later.
        let at = times.iter().position(|&t| t == 2466).unwrap();
        assert_eq!(times[at + 1], 2499);
    }

    #[test]
    fn a_disconnected_primary_switches_at_once_and_comes_back_at_its_keyframe() {
        let mut f = Feed::new();
        for n in 0..50 {
            f.frame(Role::Primary, n, n * 1000 / 30);
            f.frame(Role::Backup, n, n * 1000 / 30 + 5);
        }
        let out = f.arbiter.disconnected(Role::Primary, f.at(1700));
        let out = pushed(&out);
        assert_eq!(out[0].0, "switch-backup");
        // Replayed from the backup's keyframe (frame 30), 20 frames at once.
        assert_eq!(out.iter().filter(|(w, _, _)| w == "v").count(), 20);
        assert!(out[1].2, "first buffer after the switch is DISCONT");
        // The primary reconnects at 3 s; its frames are held until its keyframe, then it
        // shows again.
        f.arbiter.connected(Role::Primary, f.at(3000));
        for n in 50..150 {
            f.frame(Role::Backup, n, n * 1000 / 30 + 5);
            if n >= 95 {
                f.frame(Role::Primary, n, n * 1000 / 30);
            }
        }
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
        let last_switch = f
            .out
            .iter()
            .rposition(|(w, _, _)| w.starts_with("switch"))
            .unwrap();
        assert_eq!(f.out[last_switch].0, "switch-primary");
        // It came back at frame 120 (its first keyframe after reconnecting), one frame after
        // the backup's last (whose output runs 666 ms behind its own clock since the first
        // switch replayed its GOP; the primary inherits that shift instead of going back).
        assert_eq!(f.out[last_switch - 1].1, 4666);
        assert_eq!(f.out[last_switch + 1].1, 4700);
    }

    #[test]
    fn caps_of_the_new_publisher_come_first_and_audio_never_overlaps() {
        let t0 = Instant::now();
        let mut a = Arbiter::new(Duration::from_millis(500), true, 1 << 20);
        a.connected(Role::Primary, t0);
        a.connected(Role::Backup, t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut out = Vec::new();
        out.extend(pushed(&a.media(
            Role::Primary,
            config(0, "caps-720p"),
            at(0),
        )));
        out.extend(pushed(&a.media(
            Role::Backup,
            config(0, "caps-480p"),
            at(0),
        )));
        out.extend(pushed(&a.media(Role::Primary, video(0, true), at(0))));
        for ms in [0, 21, 42] {
            out.extend(pushed(&a.media(Role::Primary, audio(ms), at(ms + 1))));
        }
        // The backup's keyframe is later than a frame after the primary's last: no shift.
        out.extend(pushed(&a.media(Role::Backup, video(40, true), at(40))));
        for ms in [21, 42, 63] {
            out.extend(pushed(&a.media(Role::Backup, audio(ms), at(ms + 2))));
        }
        let switched = pushed(&a.disconnected(Role::Primary, at(70)));
        // The backup's caps first, then its keyframe, then only the audio the primary did not
        // already give (after 42 ms).
        let what: Vec<&str> = switched.iter().map(|(w, _, _)| w.as_str()).collect();
        assert_eq!(what, ["switch-backup", "caps-480p", "v", "a"]);
        assert_eq!(switched[2].1, 40);
        assert_eq!(switched[3].1, 63);
        assert!(switched[2].2 && switched[3].2, "DISCONT on both tracks");
        // The primary's caps went out first, the backup's were held.
        assert_eq!(out[1].0, "caps-720p");
        assert!(!out.iter().any(|(w, _, _)| w == "caps-480p"));
    }

    #[test]
    fn a_primary_back_from_a_stall_returns_only_once_it_caught_up() {
        let mut f = Feed::new();
        // Both send frames 0..30; the primary stalls from frame 30 to frame 120 (3 s), the
        // backup takes over; then the primary sends its backlog (frames 30..) in a burst.
        for n in 0..30 {
            f.frame(Role::Primary, n, n * 1000 / 30);
            f.frame(Role::Backup, n, n * 1000 / 30 + 5);
        }
        for n in 30..120 {
            f.frame(Role::Backup, n, n * 1000 / 30 + 5);
        }
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        // The burst: old keyframes at 1000, 2000, 3000 ms arrive at 4.0 s and do not win.
        for n in 30..100 {
            f.frame(Role::Primary, n, 4000);
        }
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        // Caught up: the backup goes on to 5 s, the primary's keyframe at 5 s takes over.
        for n in 120..150 {
            f.frame(Role::Backup, n, n * 1000 / 30 + 5);
        }
        for n in 100..151 {
            f.frame(Role::Primary, n, 4000 + (n - 100) * 20);
        }
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
        let last_switch = f
            .out
            .iter()
            .rposition(|(w, _, _)| w.starts_with("switch"))
            .unwrap();
        assert_eq!(f.out[last_switch].0, "switch-primary");
        assert_eq!(f.out[last_switch + 1].1, 5000);
        let times = f.times("v");
        assert!(times.windows(2).all(|w| w[1] > w[0]));
    }

    /// Audio-only publishers (radio): audio every 20 ms, the backup 5 ms after the primary.
    fn audio_feed(f: &mut Feed, role: Role, from_ms: u64, to_ms: u64, arrival_lag_ms: u64) {
        for t in (from_ms..to_ms).step_by(20) {
            let out = f.arbiter.media(role, audio(t), f.at(t + arrival_lag_ms));
            f.out.extend(pushed(&out));
        }
    }

    fn switches(out: &[(String, u64, bool)]) -> Vec<&str> {
        out.iter()
            .filter(|(w, _, _)| w.starts_with("switch"))
            .map(|(w, _, _)| w.as_str())
            .collect()
    }

    /// The primary shows again after one switch to the backup and back; audio time moves
    /// forward by at least a frame (20 ms: no two frames overlap) and at most `max_step_ms`.
    /// Returns the audio output times.
    fn assert_audio_out_and_back(f: &Feed, max_step_ms: u64) -> Vec<u64> {
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
        assert_eq!(
            switches(&f.out),
            ["switch-primary", "switch-backup", "switch-primary"]
        );
        let times = f.times("a");
        assert!(times.windows(2).all(|w| w[1] >= w[0] + 20), "{times:?}");
        assert!(
            times.windows(2).all(|w| w[1] - w[0] <= max_step_ms),
            "{times:?}"
        );
        times
    }

    #[test]
    fn an_audio_only_primary_fails_over_and_back_at_any_frame() {
        let mut f = Feed::new();
        for t in (0..1000).step_by(20) {
            audio_feed(&mut f, Role::Primary, t, t + 20, 0);
            audio_feed(&mut f, Role::Backup, t, t + 20, 5);
        }
        let out = f.arbiter.disconnected(Role::Primary, f.at(1000));
        f.out.extend(pushed(&out));
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        audio_feed(&mut f, Role::Backup, 1000, 2000, 5);
        // The primary's encoder restarts; its first frame comes after what the backup played.
        f.arbiter.connected(Role::Primary, f.at(2000));
        for t in (2000..3000).step_by(20) {
            audio_feed(&mut f, Role::Backup, t, t + 20, 5);
            audio_feed(&mut f, Role::Primary, t + 10, t + 30, 0);
        }
        // Audio time never runs back and has no hole longer than a frame and a half.
        let times = assert_audio_out_and_back(&f, 30);
        assert!(*times.last().unwrap() >= 2980);
    }

    /// AAC frames (1024 samples at 48 kHz), on the nanosecond: the two encoders' frames start
    /// half a millisecond apart. Each switch drops the frame of the new publisher that starts
    /// inside the last one output, so no two frames overlap (muxed at millisecond precision,
    /// an overlap of all but 0.5 ms made time run back), and no hole reaches two frames.
    #[test]
    fn audio_of_the_other_publisher_starting_inside_the_last_frame_is_dropped() {
        const FRAME: u64 = 1024 * 1_000_000_000 / 48_000;
        let aac = |n: u64, offset: u64| Item {
            track: 1,
            kind: Kind::Audio,
            time: n * FRAME + offset,
            pts: n * FRAME + offset,
            bytes: 100,
            payload: "a",
        };
        let mut f = Feed::new();
        let mut out = Vec::new();
        let mut send = |f: &mut Feed, role: Role, n: u64, offset: u64| {
            let now = f.at((n * FRAME + offset) / MS + 1);
            for o in f.arbiter.media(role, aac(n, offset), now) {
                if let Out::Push {
                    item: Item { time, .. },
                    shift_ns,
                    ..
                } = o
                {
                    out.push(time + shift_ns);
                }
            }
        };
        // The backup's frames start 0.5 ms after the primary's; the primary leaves at frame 50.
        for n in 0..50 {
            send(&mut f, Role::Primary, n, 0);
            send(&mut f, Role::Backup, n, 500_000);
        }
        let _ = f.arbiter.disconnected(Role::Primary, f.at(50 * FRAME / MS));
        for n in 50..100 {
            send(&mut f, Role::Backup, n, 500_000);
        }
        // The primary's encoder restarts; its frames now start 0.5 ms after the backup's.
        f.arbiter.connected(Role::Primary, f.at(100 * FRAME / MS));
        for n in 100..150 {
            send(&mut f, Role::Backup, n, 500_000);
            send(&mut f, Role::Primary, n, 1_000_000);
        }
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
        let steps: Vec<u64> = out.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
        assert!(
            steps.iter().all(|s| (FRAME..2 * FRAME).contains(s)),
            "steps between audio frames (ns): {steps:?}"
        );
        assert!(out.len() >= 145, "{} frames out", out.len());
    }

    #[test]
    fn an_audio_only_primary_back_from_a_stall_returns_once_it_caught_up() {
        let mut f = Feed::new();
        audio_feed(&mut f, Role::Primary, 0, 1000, 0);
        audio_feed(&mut f, Role::Backup, 0, 1000, 5);
        // The primary stalls at 1 s; the backup takes over once it has been silent 1 s.
        audio_feed(&mut f, Role::Backup, 1000, 3000, 5);
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        // At 3 s the primary sends its backlog (1000..3000 ms) at once, then goes on live.
        // What played last is the backup's 2980 ms: the backlog up to half the timeout
        // before it does not bring the primary back.
        let backlog = |f: &mut Feed, from: u64, to: u64| {
            for t in (from..to).step_by(20) {
                let out = f.arbiter.media(Role::Primary, audio(t), f.at(3000));
                f.out.extend(pushed(&out));
            }
        };
        backlog(&mut f, 1000, 2480);
        assert_eq!(
            f.arbiter.active(),
            Some(Role::Backup),
            "the backlog is behind what played: no switch yet"
        );
        backlog(&mut f, 2480, 3000);
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
        for t in (3000..3500).step_by(20) {
            audio_feed(&mut f, Role::Backup, t, t + 20, 5);
            audio_feed(&mut f, Role::Primary, t, t + 20, 1);
        }
        // Nothing played twice, no hole past a frame (the backlog the backup already
        // covered is dropped), up to the end.
        let times = assert_audio_out_and_back(&f, 20);
        assert_eq!(*times.last().unwrap(), 3480);
    }

    #[test]
    fn an_audio_only_primary_without_failback_stays_replaced() {
        let mut f = Feed::new();
        f.arbiter = Arbiter::new(Duration::from_millis(1000), false, 1 << 20);
        f.arbiter.connected(Role::Primary, f.t0);
        f.arbiter.connected(Role::Backup, f.t0);
        audio_feed(&mut f, Role::Primary, 0, 500, 0);
        audio_feed(&mut f, Role::Backup, 0, 500, 5);
        let _ = f.arbiter.disconnected(Role::Primary, f.at(500));
        f.arbiter.connected(Role::Primary, f.at(600));
        audio_feed(&mut f, Role::Backup, 500, 1500, 5);
        audio_feed(&mut f, Role::Primary, 600, 1500, 0);
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
    }

    #[test]
    fn a_video_publisher_is_not_taken_for_audio_only_before_its_first_frame() {
        let mut f = Feed::new();
        for n in 0..40 {
            f.frame(Role::Primary, n, n * 1000 / 30);
            f.frame(Role::Backup, n, n * 1000 / 30 + 5);
        }
        let _ = f.arbiter.disconnected(Role::Primary, f.at(1400));
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        // The reconnected primary's video caps come first, then audio before its keyframe:
        // it must wait for the keyframe, not return at the audio.
        f.arbiter.connected(Role::Primary, f.at(2000));
        let _ = f
            .arbiter
            .media(Role::Primary, config(0, "caps"), f.at(2000));
        let _ = f.arbiter.media(Role::Primary, audio(2000), f.at(2000));
        assert_eq!(f.arbiter.active(), Some(Role::Backup));
        let _ = f
            .arbiter
            .media(Role::Primary, video(2010, true), f.at(2010));
        assert_eq!(f.arbiter.active(), Some(Role::Primary));
    }

    #[test]
    fn a_gop_longer_than_the_hold_is_not_held() {
        let t0 = Instant::now();
        let mut a = Arbiter::new(Duration::from_millis(500), true, 5_000);
        a.connected(Role::Backup, t0);
        a.connected(Role::Primary, t0);
        let _ = a.media(Role::Primary, video(0, true), t0);
        for n in 0..10 {
            let _ = a.media(Role::Backup, video(n * 33, n == 0), t0);
        }
        assert!(a.sources[Role::Backup.index()].held.is_empty());
        assert!(a.sources[Role::Backup.index()].held_bytes == 0);
    }
}
