// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Slowing down and then refusing password guessing from one address.
//!
//! Every failed login is recorded against the sender's address. After `delay_after` failures within
//! `window` each further attempt is delayed; after `refuse_after` failures the address is refused
//! for `refuse_for`. A success clears the address. IPv6 addresses are grouped by their /64 prefix,
//! since one subscriber usually holds a whole /64 and could otherwise rotate through it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What to do with a new connection from an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrakeVerdict {
    /// Go ahead.
    Allow,
    /// Go ahead after waiting this long (before answering its connect).
    Delay(Duration),
    /// Close the connection without checking anything.
    Refuse,
}

/// Thresholds of a [`BruteForceBrake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrakeConfig {
    /// Failures within `window` after which attempts are delayed.
    pub delay_after: u32,
    /// Delay for the first delayed attempt; it grows by this much per further failure.
    pub delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// Failures within `window` after which the address is refused.
    pub refuse_after: u32,
    /// How long failures are remembered, counted from the first one.
    pub window: Duration,
    /// How long a refused address stays refused.
    pub refuse_for: Duration,
    /// Most addresses tracked; the least recently failed one is forgotten beyond it.
    pub max_entries: usize,
}

impl Default for BrakeConfig {
    /// 3 free failures, then 1 s more delay per failure up to 5 s; refused for 5 minutes after 10
    /// failures within 10 minutes; 4096 addresses tracked.
    fn default() -> Self {
        BrakeConfig {
            delay_after: 3,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            refuse_after: 10,
            window: Duration::from_secs(600),
            refuse_for: Duration::from_secs(300),
            max_entries: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    last_failure: Instant,
    refused_until: Option<Instant>,
}

/// Per-address failure counter with bounded memory.
#[derive(Debug, Clone)]
pub struct BruteForceBrake {
    config: BrakeConfig,
    entries: HashMap<IpAddr, Entry>,
}

impl BruteForceBrake {
    /// A brake with the given thresholds (`max_entries` at least 1).
    pub fn new(config: BrakeConfig) -> Self {
        BruteForceBrake {
            config: BrakeConfig {
                max_entries: config.max_entries.max(1),
                ..config
            },
            entries: HashMap::new(),
        }
    }

    /// Number of addresses currently tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The verdict for a new attempt from `ip`. Forgets the address once its refusal or window
    /// has passed.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> BrakeVerdict {
        let key = bucket(ip);
        let Some(entry) = self.entries.get(&key).copied() else {
            return BrakeVerdict::Allow;
        };
        if let Some(until) = entry.refused_until {
            if now < until {
                return BrakeVerdict::Refuse;
            }
            self.entries.remove(&key);
            return BrakeVerdict::Allow;
        }
        if self.window_over(&entry, now) {
            self.entries.remove(&key);
            return BrakeVerdict::Allow;
        }
        self.verdict_for(entry.failures)
    }

    /// Records a failed login from `ip`.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        let key = bucket(ip);
        if !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        let window = self.config.window;
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            window_start: now,
            last_failure: now,
            refused_until: None,
        });
        if entry.refused_until.is_some_and(|until| now < until) {
            // Already refused: more failures do not extend the refusal.
            entry.last_failure = now;
            return;
        }
        let refusal_over = entry.refused_until.is_some();
        if refusal_over || now.saturating_duration_since(entry.window_start) > window {
            *entry = Entry {
                failures: 0,
                window_start: now,
                last_failure: now,
                refused_until: None,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures >= self.config.refuse_after {
            // None when the clock cannot go that far: the failure count then keeps the address
            // refused until its window passes.
            entry.refused_until = now.checked_add(self.config.refuse_for);
        }
    }

    /// Records a successful login from `ip`, clearing its failures.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.entries.remove(&bucket(ip));
    }

    fn verdict_for(&self, failures: u32) -> BrakeVerdict {
        if failures >= self.config.refuse_after {
            return BrakeVerdict::Refuse;
        }
        if failures < self.config.delay_after {
            return BrakeVerdict::Allow;
        }
        let steps = failures
            .saturating_sub(self.config.delay_after)
            .saturating_add(1);
        let delay = self
            .config
            .delay
            .checked_mul(steps)
            .unwrap_or(self.config.max_delay)
            .min(self.config.max_delay);
        BrakeVerdict::Delay(delay)
    }

    fn window_over(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.window_start) > self.config.window
    }

    /// Forgets finished entries, then the least recently failed ones until one more fits.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.config.max_entries {
            return;
        }
        let window = self.config.window;
        self.entries.retain(|_, e| match e.refused_until {
            Some(until) => now < until,
            None => now.saturating_duration_since(e.window_start) <= window,
        });
        while self.entries.len() >= self.config.max_entries {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }
}

/// The key failures are counted under: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn brake() -> BruteForceBrake {
        BruteForceBrake::new(BrakeConfig {
            delay_after: 2,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
            refuse_after: 5,
            window: Duration::from_secs(60),
            refuse_for: Duration::from_secs(120),
            max_entries: 8,
        })
    }

    #[test]
    fn delays_then_refuses_one_address_only() {
        let mut b = brake();
        let t = Instant::now();
        assert_eq!(b.check(A, t), BrakeVerdict::Allow);
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Allow);
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Delay(Duration::from_secs(1)));
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Delay(Duration::from_secs(2)));
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Delay(Duration::from_secs(3)));
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Refuse);
        assert_eq!(b.check(B, t), BrakeVerdict::Allow);
    }

    #[test]
    fn refusal_ends_after_its_duration() {
        let mut b = brake();
        let t = Instant::now();
        for _ in 0..5 {
            b.record_failure(A, t);
        }
        assert_eq!(
            b.check(A, t + Duration::from_secs(119)),
            BrakeVerdict::Refuse
        );
        // A failure while refused does not extend the refusal.
        b.record_failure(A, t + Duration::from_secs(100));
        assert_eq!(
            b.check(A, t + Duration::from_secs(120)),
            BrakeVerdict::Allow
        );
        assert!(b.is_empty());
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let mut b = brake();
        let t = Instant::now();
        for _ in 0..4 {
            b.record_failure(A, t);
        }
        let later = t + Duration::from_secs(61);
        assert_eq!(b.check(A, later), BrakeVerdict::Allow);
        b.record_failure(A, later);
        assert_eq!(b.check(A, later), BrakeVerdict::Allow);
    }

    #[test]
    fn success_resets() {
        let mut b = brake();
        let t = Instant::now();
        for _ in 0..4 {
            b.record_failure(A, t);
        }
        b.record_success(A);
        assert_eq!(b.check(A, t), BrakeVerdict::Allow);
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Allow);
    }

    #[test]
    fn ipv6_grouped_by_prefix_and_mapped_v4_shared() {
        let mut b = brake();
        let t = Instant::now();
        let x: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(A);
        let y: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(A);
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(A);
        for _ in 0..5 {
            b.record_failure(x, t);
        }
        assert_eq!(b.check(y, t), BrakeVerdict::Refuse);
        assert_eq!(b.check(z, t), BrakeVerdict::Allow);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        for _ in 0..5 {
            b.record_failure(mapped, t);
        }
        assert_eq!(b.check(A, t), BrakeVerdict::Refuse);
        assert_eq!(
            bucket(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        );
    }

    #[test]
    fn table_is_bounded() {
        let mut b = brake();
        let t = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            b.record_failure(ip, t + Duration::from_millis(u64::from(i)));
            assert!(b.len() <= 8);
        }
        // The most recent address is still tracked.
        let last = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 999));
        assert!(b.entries.contains_key(&last));
    }

    #[test]
    fn extreme_config_does_not_panic() {
        let mut b = BruteForceBrake::new(BrakeConfig {
            delay_after: 0,
            delay: Duration::MAX,
            max_delay: Duration::MAX,
            refuse_after: u32::MAX,
            window: Duration::MAX,
            refuse_for: Duration::MAX,
            max_entries: 0,
        });
        let t = Instant::now();
        assert_eq!(b.check(A, t), BrakeVerdict::Allow);
        for _ in 0..3 {
            b.record_failure(A, t);
        }
        assert_eq!(b.check(A, t), BrakeVerdict::Delay(Duration::MAX));
        let mut b = BruteForceBrake::new(BrakeConfig {
            refuse_after: 1,
            refuse_for: Duration::ZERO,
            ..BrakeConfig::default()
        });
        b.record_failure(A, t);
        assert_eq!(b.check(A, t), BrakeVerdict::Allow);
    }
}
