// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! `clock-sync=skew` for one publish session: follows the skew between the publisher's media
//! clock and the pipeline clock (skew_estimator.rs) with a correction of its running times
//! (correction.rs), so that the delay from arrival to output stays what it was when the
//! session started, for days. Pure arithmetic on nanoseconds.
//!
//! The correction's rate is the estimated slope of the lag plus a bounded catch-up term that
//! works off the remaining offset: small continuous adjustments, never a jump. Estimates too
//! small to be told from jitter, or from an encoder settling into its pace, are not followed
//! (a publisher on the same clock keeps its timestamps exactly), nor is anything before the
//! publish first settles. A skew above [`MAX_SKEW`] is implausible for a clock (a broken
//! encoder, or media sent faster than real time): once it has lasted 10 s it is reported and
//! only [`MAX_SKEW`] of it is followed; before, it is left alone.

use super::correction::{Correction, MAX_RATE};
use super::skew_estimator::SkewEstimator;

/// The largest skew corrected (2 %). Crystal clocks are tens of ppm off; 1 % is still followed
/// (an encoder deliberately rescaled, as the acceptance test does), beyond 2 % is a broken
/// encoder.
pub(super) const MAX_SKEW: f64 = 0.02;

/// How much faster than the skew the correction may move to work off an offset: 0.5 %, 5 ms
/// per second. With [`MAX_SKEW`] this is [`MAX_RATE`].
const MAX_CATCH_UP: f64 = MAX_RATE - MAX_SKEW;

/// An offset is worked off over about this long (ns), within [`MAX_CATCH_UP`].
const CATCH_UP_NS: f64 = 2e9;

/// Offsets smaller than this (ns) are left alone, so that noise in the estimate does not
/// wiggle timestamps; catching up, once started, goes on down to a third of it.
const DEADBAND_NS: f64 = 3e6;

/// A slope is followed once it moves the lag by this much (ns) over the media time it was
/// fitted on: over a short span, noise looks like skew...
const SIGNIFICANT_DRIFT_NS: f64 = 3e6;

/// ...by this much while the pace settles (the estimate spans under [`SETTLING_NS`]): an
/// encoder's lag moves by a few ms as it settles (x264 filling its lookahead: 7 ms over 2 s,
/// nearly linear), a drift goes on.
const SETTLING_DRIFT_NS: f64 = 10e6;

/// ...and once this share of the pairs it was fitted from agree on its sign: a trend, not
/// noise around none, nor one odd block (a publisher's first messages are not paced)...
const SIGNIFICANT_AGREEMENT: f64 = 0.8;

/// ...and the older and the newer half of the blocks give slopes of its sign within this ratio
/// of each other: a clock drifts linearly, while a step or an encoder's burst (its first frames
/// at once, its lookahead flushed at the end) is all in one half.
const LINEARITY: f64 = 0.5;

/// A slope followed goes on being followed through this many fits in a row that do not pass
/// the tests above (1 s), unless its sign turns: a fit over a few seconds fails them now and
/// then, and stopping would drop the level's projection too.
const MAX_MISSES: u32 = 4;

/// Media time after which a publisher's pace is taken as settled (ns): the lag the correction
/// keeps is fixed then, or as soon as a drift is followed (projected back to the start).
const SETTLING_NS: i64 = 5_000_000_000;

/// Media time an estimate must span before any slope is followed (ns): in a publish's first
/// second or two a burst (the first frames sent at once, then video joining audio that came
/// alone) fits a steep "slope" over a handful of blocks; a 1 % clock has drifted 15 ms by then.
const MIN_FOLLOW_SPAN_NS: i64 = 1_500_000_000;

/// Blocks before a skew is called implausible (10 s): early fits are noisy. An implausible skew
/// is only followed (capped) from then on: a file pushed faster than real time for a few
/// seconds is not a clock, and its timestamps are left as they are.
const PLAUSIBILITY_BLOCKS: usize = 40;

/// Where the current estimate started: its first media time, the correction there, and (once
/// the pace has settled, see [`SETTLING_NS`]) the lag of the envelope there, which the
/// correction keeps.
#[derive(Debug, Clone, Copy)]
struct Origin {
    media: i64,
    correction: f64,
    lag: Option<f64>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct SkewCorrector {
    estimator: SkewEstimator,
    correction: Correction,
    /// The newest uncorrected running time seen (ns): rate changes start there, so nothing
    /// already mapped changes.
    newest: Option<i64>,
    origin: Option<Origin>,
    /// The publish has settled: the correction may move.
    correcting: bool,
    /// The slope being followed, and how many fits in a row since did not pass the tests.
    following: Option<(f64, u32)>,
    catching_up: bool,
    implausible_reported: bool,
}

impl SkewCorrector {
    pub fn new() -> Self {
        Self::default()
    }

    /// A message with uncorrected running time `media` arrived at running time `arrival` (ns).
    /// Call it before [`SkewCorrector::correct`] for the same message, and only with arrival
    /// times that are the publisher's (not while back-pressure held its messages back).
    /// Returns the measured skew in ppm the first time it is implausible.
    pub fn observe(&mut self, arrival: i64, media: i64) -> Option<f64> {
        self.note(media);
        if self.origin.is_none() {
            self.origin = Some(Origin {
                media,
                correction: self.correction.at(media),
                lag: None,
            });
        }
        if !self.estimator.observe(arrival, media) {
            return None;
        }
        self.steer();
        let slope = self.estimator.slope()?.value;
        let implausible = slope.abs() > MAX_SKEW
            && self.estimator.blocks() >= PLAUSIBILITY_BLOCKS
            && !std::mem::replace(&mut self.implausible_reported, true);
        implausible.then(|| self.skew_ppm())
    }

    /// The corrected running time (ns) of uncorrected running time `media`.
    pub fn correct(&mut self, media: i64) -> i64 {
        self.note(media);
        media.saturating_add(self.correction.at(media).round() as i64)
    }

    /// The publish has settled (its pads are out): from now on the correction may move.
    pub fn start_correcting(&mut self) {
        self.correcting = true;
    }

    /// The session's timestamps were resynchronised after a jump: what the estimate knew does
    /// not hold across it. A new estimate starts; the correction goes on from where it is.
    pub fn restart(&mut self) {
        self.estimator.clear();
        self.origin = None;
        self.following = None;
        self.catching_up = false;
    }

    /// The measured skew of the publisher's clock against the pipeline clock, in ppm: positive
    /// when it runs fast (its media time outruns arrival), 0 until measured.
    pub fn skew_ppm(&self) -> f64 {
        self.estimator
            .slope()
            .map_or(0.0, |slope| (1.0 / (1.0 + slope.value) - 1.0) * 1e6)
    }

    /// The correction at the newest media time, in ms (positive: output later than the
    /// publisher's timestamps say).
    pub fn correction_ms(&self) -> f64 {
        self.newest.map_or(0.0, |m| self.correction.at(m) / 1e6)
    }

    fn note(&mut self, media: i64) {
        self.newest = Some(self.newest.map_or(media, |n| n.max(media)));
    }

    /// Whether the older and the newer half of a short fit both have the sign of `value` and
    /// slopes within [`LINEARITY`] of each other: a drift is linear, a step or a burst is not.
    fn halves_agree(&mut self, value: f64) -> bool {
        self.estimator.halves().is_some_and(|(older, newer)| {
            older.signum() == value.signum()
                && newer.signum() == value.signum()
                && older.abs().min(newer.abs()) >= LINEARITY * older.abs().max(newer.abs())
        })
    }

    /// After each block: sets the correction's rate from the newest media time on.
    fn steer(&mut self) {
        let (Some(newest), Some(measured), true) =
            (self.newest, self.estimator.slope(), self.correcting)
        else {
            return;
        };
        let span = self.estimator.span();
        let needed = if span < SETTLING_NS {
            SETTLING_DRIFT_NS
        } else {
            SIGNIFICANT_DRIFT_NS
        };
        let plausible =
            measured.value.abs() <= MAX_SKEW || self.estimator.blocks() >= PLAUSIBILITY_BLOCKS;
        if !plausible {
            // Not yet a clock (see PLAUSIBILITY_BLOCKS): the correction holds its value.
            self.following = None;
            self.catching_up = false;
            self.correction.set_rate(newest, 0.0);
            return;
        }
        // Linear last: the halves' fits cost as much as the whole one.
        let significant = span >= MIN_FOLLOW_SPAN_NS
            && measured.value.abs() * span as f64 >= needed
            && measured.agreement >= SIGNIFICANT_AGREEMENT
            && (measured.long || self.halves_agree(measured.value));
        let value = measured.value.clamp(-MAX_SKEW, MAX_SKEW);
        self.following = match self.following {
            _ if significant => Some((value, 0)),
            Some((followed, misses))
                if misses < MAX_MISSES && followed.signum() == value.signum() =>
            {
                Some((value, misses + 1))
            }
            _ => None,
        };
        let slope = self.following.map_or(0.0, |(value, _)| value);
        let Some(origin) = self.origin.as_mut() else {
            return;
        };
        // The reference is taken again at each fit until the publisher's pace has settled or
        // a drift is followed: an encoder's first seconds (x264 filling its lookahead) move the
        // lag by a few ms, which is not drift.
        let origin_lag = match origin.lag {
            Some(lag) => lag,
            None => {
                let Some(lag) = self.estimator.level_at(origin.media, slope) else {
                    return;
                };
                if self.following.is_some() || self.estimator.span() >= SETTLING_NS {
                    origin.lag = Some(lag);
                }
                lag
            }
        };
        let origin_correction = origin.correction;
        let Some(level) = self.estimator.level_at(newest, slope) else {
            return;
        };
        let target = origin_correction + (level - origin_lag);
        let error = target - self.correction.at(newest);
        if error.abs() > DEADBAND_NS {
            self.catching_up = true;
        } else if error.abs() < DEADBAND_NS / 3.0 {
            self.catching_up = false;
        }
        let catch_up = if self.catching_up {
            (error / CATCH_UP_NS).clamp(-MAX_CATCH_UP, MAX_CATCH_UP)
        } else {
            0.0
        };
        self.correction.set_rate(newest, slope + catch_up);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;

    /// A deterministic source of uniform numbers in [0, 1).
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A publisher whose clock runs `ppm` fast (negative: slow) sends 25 fps video and 48 kHz
    /// AAC (1024 samples) interleaved by timestamp, starting at running time `base`; its
    /// messages reach us after `delay` (ns, from the send time), in order.
    struct Publisher {
        ppm: f64,
        next_video: u64,
        next_audio: u64,
        last_arrival: i64,
    }

    /// One message as the element sees it.
    #[derive(Debug, Clone, Copy)]
    struct Message {
        video: bool,
        /// When it was sent, on the pipeline clock (ns).
        sent: i64,
        /// When it arrived (ns).
        arrival: i64,
        /// Its uncorrected running time: the publisher's timestamp (ns).
        media: i64,
    }

    impl Publisher {
        fn new(ppm: f64) -> Self {
            Publisher {
                ppm,
                next_video: 0,
                next_audio: 0,
                last_arrival: i64::MIN,
            }
        }

        fn next(&mut self, delay: impl FnOnce(i64) -> i64) -> Message {
            // Publisher time of the next frame of each track (ns).
            let video = self.next_video as i64 * 40 * MS;
            let audio = (self.next_audio as i128 * 1024 * 1_000_000_000 / 48_000) as i64;
            let video_first = video <= audio;
            let media_exact = if video_first {
                self.next_video += 1;
                video
            } else {
                self.next_audio += 1;
                audio
            };
            // RTMP carries milliseconds.
            let media = media_exact / MS * MS;
            // Media time runs (1 + ppm) times as fast as the pipeline clock.
            let sent = (media_exact as f64 / (1.0 + self.ppm * 1e-6)) as i64;
            self.last_arrival = self.last_arrival.max(sent + delay(sent));
            Message {
                video: video_first,
                sent,
                arrival: self.last_arrival,
                media,
            }
        }
    }

    /// The correction that keeps the delay of an undelayed message what it was at the start:
    /// how far the publisher's clock has drifted since `first`.
    fn ideal(first: &Message, m: &Message) -> f64 {
        ((m.sent - m.media) - (first.sent - first.media)) as f64
    }

    #[test]
    fn a_day_of_50_ppm_with_jitter_retransmits_and_stalls_is_followed_within_a_few_ms() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut sync = SkewCorrector::new();
        sync.start_correcting();
        let mut publisher = Publisher::new(-50.0);
        let (mut first, mut last, mut prev_corrected) = (None, None, [i64::MIN; 2]);
        let mut prev: Option<(i64, f64)> = None;
        let (mut worst_error, mut worst_step, mut worst_error_at) = (0.0f64, 0.0f64, 0);
        loop {
            let m = publisher.next(|sent| {
                // Every message: up to 30 ms of jitter, mostly much less.
                let mut delay = (random.next().powi(4) * 30e6) as i64;
                // Every 5 minutes a TCP retransmit holds the stream back for 300 ms.
                let in_5min = sent % (300 * S);
                if in_5min < 300 * MS {
                    delay += 300 * MS - in_5min;
                }
                // Every hour the encoder stalls for 2 s, then sends its backlog at 10x.
                let in_hour = sent % (3600 * S) - 1800 * S;
                if (0..2 * S).contains(&in_hour) {
                    delay += 2 * S - in_hour + in_hour / 10;
                }
                delay
            });
            if m.sent > 24 * 3600 * S {
                break;
            }
            let first = *first.get_or_insert(m);
            last = Some(m);
            assert_eq!(
                sync.observe(m.arrival, m.media),
                None,
                "no warning at 50 ppm"
            );
            let corrected = sync.correct(m.media);
            let correction = (corrected - m.media) as f64;
            // Each track's time only moves forward.
            let track = usize::from(m.video);
            assert!(corrected > prev_corrected[track], "time ran back at {m:?}");
            prev_corrected[track] = corrected;
            // Consecutive corrections differ by at most the bounded rate times the media
            // time between them (plus rounding to whole ns).
            if let Some((media, c)) = prev {
                let step = (correction - c).abs();
                assert!(
                    step <= MAX_RATE * (m.media - media).abs() as f64 + 1.0,
                    "jump of {step} ns at {m:?}"
                );
                worst_step = worst_step.max(step);
            }
            prev = Some((m.media, correction));
            // After two minutes of warming up, the correction follows the drift.
            if m.sent > 120 * S {
                let error = (correction - ideal(&first, &m)).abs();
                if error > worst_error {
                    worst_error = error;
                    worst_error_at = m.sent / S;
                }
            }
        }
        let drift = ideal(&first.unwrap(), &last.unwrap());
        assert!(drift > 4.0e9, "50 ppm over a day is over 4 s, got {drift}");
        assert!(
            worst_error < 5e6,
            "off by {} ms at {worst_error_at} s",
            worst_error / 1e6
        );
        // Working off even a deadband-sized offset moves a 40 ms frame by 0.06 ms at most.
        assert!(
            worst_step < 0.1e6,
            "largest step between messages {} ms",
            worst_step / 1e6
        );
        let skew = sync.skew_ppm();
        assert!((skew + 50.0).abs() < 5.0, "measured {skew} ppm, want -50");
    }

    /// Runs a publisher at `ppm` with a little jitter for `seconds`; returns the largest
    /// distance (ns) between the correction and the drift after `settled_after` seconds, and
    /// the corrector.
    fn follow(ppm: f64, seconds: i64, settled_after: i64) -> (f64, SkewCorrector) {
        let mut random = Random(42);
        let mut sync = SkewCorrector::new();
        sync.start_correcting();
        let mut publisher = Publisher::new(ppm);
        let mut first = None;
        let mut worst = 0.0f64;
        loop {
            let m = publisher.next(|_| (random.next().powi(4) * 10e6) as i64);
            if m.sent > seconds * S {
                break;
            }
            let first = *first.get_or_insert(m);
            sync.observe(m.arrival, m.media);
            let correction = (sync.correct(m.media) - m.media) as f64;
            if m.sent > settled_after * S {
                worst = worst.max((correction - ideal(&first, &m)).abs());
            }
        }
        (worst, sync)
    }

    #[test]
    fn one_percent_either_way_is_followed_from_the_start() {
        for ppm in [10_000.0, -10_000.0] {
            // Nothing is followed before 1.5 s of media (MIN_FOLLOW_SPAN_NS: an early burst is
            // not a clock), when a 1 % clock is 15 ms off already; then it is caught up.
            let (from_start, _) = follow(ppm, 60, 0);
            assert!(
                from_start < 20e6,
                "{ppm} ppm: off by {} ms",
                from_start / 1e6
            );
            let (settled, sync) = follow(ppm, 60, 20);
            assert!(settled < 3e6, "{ppm} ppm: off by {} ms", settled / 1e6);
            let skew = sync.skew_ppm();
            assert!(
                (skew - ppm).abs() < 100.0,
                "{ppm} ppm measured as {skew} ppm"
            );
            assert!((sync.correction_ms() + ppm * 60.0 / 1e6 * 1e3).abs() < 3.0);
        }
    }

    #[test]
    fn a_publisher_on_our_clock_keeps_its_timestamps_exactly() {
        let mut random = Random(7);
        let mut sync = SkewCorrector::new();
        sync.start_correcting();
        let mut publisher = Publisher::new(0.0);
        loop {
            let m = publisher.next(|_| (random.next().powi(4) * 20e6) as i64);
            if m.sent > 600 * S {
                break;
            }
            sync.observe(m.arrival, m.media);
            assert_eq!(sync.correct(m.media), m.media, "at {m:?}");
        }
        assert!(sync.skew_ppm().abs() < 5.0, "{} ppm", sync.skew_ppm());
    }

    #[test]
    fn an_encoder_settling_into_its_pace_keeps_its_timestamps() {
        // rtmp2sink on our clock: its first frames go out at once, 29 ms ahead of the later
        // ones, and x264 filling its lookahead adds a few more ms over the first seconds.
        let mut random = Random(11);
        let mut sync = SkewCorrector::new();
        sync.start_correcting();
        let mut publisher = Publisher::new(0.0);
        loop {
            let m = publisher.next(|sent| {
                let settling = 29e6 + 5e6 * (1.0 - (-(sent as f64) / 0.8e9).exp());
                let delay = if sent < 40 * MS { 0.0 } else { settling };
                (delay + random.next().powi(4) * 2e6) as i64
            });
            if m.sent > 10 * S {
                break;
            }
            sync.observe(m.arrival, m.media);
            assert_eq!(sync.correct(m.media), m.media, "at {m:?}");
        }
    }

    #[test]
    fn a_nearly_linear_settling_ramp_is_not_taken_for_a_clock() {
        // As rtmp2sink's x264 was once seen settling: +0.37 % for 2 s, then steady.
        let mut random = Random(5);
        let mut sync = SkewCorrector::new();
        sync.start_correcting();
        let mut publisher = Publisher::new(0.0);
        loop {
            let m = publisher.next(|sent| {
                let ramp = 0.0037 * sent.min(2 * S) as f64;
                (20e6 + ramp + random.next().powi(4) * 2e6) as i64
            });
            if m.sent > 10 * S {
                break;
            }
            sync.observe(m.arrival, m.media);
            assert_eq!(sync.correct(m.media), m.media, "at {m:?}");
        }
    }

    #[test]
    fn nothing_is_corrected_before_the_publish_settles() {
        let mut sync = SkewCorrector::new();
        let mut publisher = Publisher::new(10_000.0);
        for _ in 0..(10 * 72) {
            let m = publisher.next(|_| 0);
            sync.observe(m.arrival, m.media);
            assert_eq!(sync.correct(m.media), m.media);
        }
        assert!(sync.skew_ppm() > 9_000.0, "measured all the same");
        sync.start_correcting();
        for _ in 0..(10 * 72) {
            let m = publisher.next(|_| 0);
            sync.observe(m.arrival, m.media);
            sync.correct(m.media);
        }
        // 1 % fast: media outruns arrival, so the correction holds output back (negative):
        // 100 ms for the ten seconds since settling, and the 100 ms of drift before settling
        // worked off at 5 ms a second.
        let correction = sync.correction_ms();
        assert!((-160.0..-140.0).contains(&correction), "{correction} ms");
    }

    #[test]
    fn an_implausible_skew_is_reported_once_and_capped() {
        let mut sync = SkewCorrector::new();
        sync.start_correcting();
        // 10 % fast: a broken encoder (or media sent faster than real time).
        let mut publisher = Publisher::new(100_000.0);
        let mut reports = Vec::new();
        let mut prev: Option<(i64, f64)> = None;
        for _ in 0..(60 * 72) {
            let m = publisher.next(|_| 0);
            if let Some(ppm) = sync.observe(m.arrival, m.media) {
                reports.push(ppm);
            }
            let correction = (sync.correct(m.media) - m.media) as f64;
            // A few seconds of it (a file pushed faster than real time) are left alone.
            if m.sent < 9 * S {
                assert_eq!(correction, 0.0, "at {m:?}");
            }
            if let Some((media, c)) = prev {
                assert!((correction - c).abs() <= MAX_RATE * (m.media - media) as f64 + 1.0);
            }
            prev = Some((m.media, correction));
        }
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!((reports[0] - 100_000.0).abs() < 1_000.0, "{reports:?}");
        // Capped: about 2.5 % of the 50 s after the first 10 s at most, far from the 5.4 s of
        // drift.
        let correction = -sync.correction_ms();
        assert!(
            correction > 1_000.0 && correction <= 60_000.0 * MAX_RATE,
            "{correction} ms"
        );
    }

    #[test]
    fn a_restart_keeps_the_correction_and_starts_a_new_estimate() {
        let (_, mut sync) = follow(10_000.0, 30, 0);
        let before = sync.correction_ms();
        assert!(before < -250.0, "{before} ms");
        sync.restart();
        assert_eq!(sync.skew_ppm(), 0.0, "a new estimate");
        assert_eq!(sync.correction_ms(), before, "no jump");
    }
}
