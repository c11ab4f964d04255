//! Abuse limits (issue 13 item 7): how many requests an IP address, a member or a terminal
//! may make per window, with the wait a refused one is told.
//!
//! Each limit counts in fixed windows of `window_s` per key; the key is a keyed hash of the
//! limit's name and its subject (the subject itself, an address or an id, is never kept).
//! The counters live in memory ([`RATE_KEYS_MAX`] at most) and the housekeeping writes the
//! changed ones to `rate_counters` about every [`RATE_FLUSH_INTERVAL_MS`] and at a clean
//! stop; a start loads the windows still open, so a crash gives an abuser at most what that
//! interval counted. Wrong guesses of pay codes and voucher codes count here too
//! ([`GuessGate`]).
//! Past [`RATE_KEYS_MAX`] keys, ended windows are dropped first; when every window is
//! still open a key not counted yet is refused until one ends: closed, not reset, so a flood
//! under many keys cannot wipe the count of the key it hides.
//!
//! Per-phone limits are not here: a phone's verification codes are counted in
//! `phone_verifications` (5 an hour) and its wrong PINs in `login_guards` (delays).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use store::tables::RowRef;
use store::tables::limits::{self as tables, RateCounterRow, RateWrite};

use crate::error::PlatformError;
use crate::service::Platform;
use ports::time::now_s;

/// One limit: at most `requests_max` per `window_s` per subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Stable; answered to the client (`limit`) and part of the counter's key.
    pub name: &'static str,
    pub requests_max: u32,
    pub window_s: u64,
}

/// Wrong pay codes per device handle (docs/paycodes.md): then even the right code is
/// refused until the window ends, so guessing a code (1 in 10^8 a try) gains nothing.
pub const PAYCODE_GUESSES_PER_HANDLE: RateLimit = RateLimit {
    name: "paycode-guesses",
    requests_max: crate::paycode::GUESSES_PER_WINDOW_MAX,
    window_s: crate::paycode::GUESS_WINDOW_S,
};

/// Voucher codes that find no voucher, per terminal (docs/vouchers.md).
pub const VOUCHER_GUESSES_PER_TERMINAL: RateLimit = RateLimit {
    name: "voucher-guesses",
    requests_max: crate::vouchers::VOUCHER_GUESSES_MAX,
    window_s: crate::vouchers::VOUCHER_GUESS_WINDOW_S,
};

/// Every request without credentials, per IP address.
pub const PUBLIC_REQUESTS_PER_IP: RateLimit = RateLimit {
    name: "public-requests-per-ip",
    requests_max: 1200,
    window_s: 60,
};
/// Verification codes asked for (each sends an SMS), per IP address.
pub const VERIFICATIONS_PER_IP: RateLimit = RateLimit {
    name: "verifications-per-ip",
    requests_max: 30,
    window_s: 3600,
};
/// Sign-ups, per IP address.
pub const SIGN_UPS_PER_IP: RateLimit = RateLimit {
    name: "sign-ups-per-ip",
    requests_max: 20,
    window_s: 3600,
};
/// Logins (members' and operators'), per IP address.
pub const LOGINS_PER_IP: RateLimit = RateLimit {
    name: "logins-per-ip",
    requests_max: 60,
    window_s: 60,
};
/// Requests of one member's sessions.
pub const MEMBER_REQUESTS: RateLimit = RateLimit {
    name: "member-requests",
    requests_max: 600,
    window_s: 60,
};
/// VAN API requests of one terminal (a till makes a few a minute; 100 a second is a bug
/// or an attack).
pub const TERMINAL_REQUESTS: RateLimit = RateLimit {
    name: "terminal-requests",
    requests_max: 6000,
    window_s: 60,
};

/// Lookups of a phone's masked name before a transfer, per member: enough to check a few
/// friends, too few to walk the phone numbers for members.
pub const RECIPIENT_LOOKUPS: RateLimit = RateLimit {
    name: "recipient-lookups",
    requests_max: 30,
    window_s: 3600,
};

/// Keys counted at once (about 100 bytes each).
pub const RATE_KEYS_MAX: usize = 262_144;
/// How often the changed counters are written.
pub const RATE_FLUSH_INTERVAL_MS: u64 = 2_000;
/// Counters one flush writes; the rest wait for the next.
pub const RATE_FLUSH_BATCH_MAX: usize = 4096;

/// Whether the limits apply. `Off` is for load tests and benchmarks, which send thousands
/// of requests from one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RateLimiting {
    #[default]
    Enforced,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counter {
    window_end_s: u64,
    count: u32,
}

#[derive(Default)]
struct Counters {
    by_key: HashMap<[u8; 32], Counter>,
    /// Keys changed since the last flush.
    changed: HashSet<[u8; 32]>,
    /// When the map was found full with every window open: the earliest of their ends.
    /// Until then a new key is refused without another scan, so a flood of new keys
    /// against a full map costs one scan per window, not one per request.
    full_until_s: u64,
}

impl Counters {
    /// Whether a key not counted yet has room at `now_s`: below [`RATE_KEYS_MAX`] keys, or
    /// once ended windows are dropped. `Err` carries the seconds until one ends.
    fn room_for_new_key(&mut self, now_s: u64) -> Result<(), u64> {
        if self.by_key.len() < RATE_KEYS_MAX {
            return Ok(());
        }
        if now_s < self.full_until_s {
            return Err(self.full_until_s - now_s);
        }
        self.by_key
            .retain(|_, counter| counter.window_end_s > now_s);
        if self.by_key.len() < RATE_KEYS_MAX {
            return Ok(());
        }
        let ends = self.by_key.values().map(|counter| counter.window_end_s);
        self.full_until_s = ends.min().unwrap_or(now_s);
        Err(self.full_until_s.saturating_sub(now_s).max(1))
    }
}

/// The limits' working set (see the module's documentation).
#[derive(Default)]
pub struct RateLimits {
    counters: Mutex<Counters>,
}

impl RateLimits {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().expect("rate counters lock")
    }

    /// Counts one request of `key` under `limit` at `now_s`; the seconds to wait when it is
    /// over the limit (a refused request is not counted).
    fn hit(&self, key: [u8; 32], limit: RateLimit, now_s: u64) -> Result<(), u64> {
        let mut counters = self.counters();
        let fresh = Counter {
            window_end_s: now_s.saturating_add(limit.window_s),
            count: 0,
        };
        if !counters.by_key.contains_key(&key) {
            counters.room_for_new_key(now_s)?;
        }
        let counter = counters.by_key.entry(key).or_insert(fresh);
        if counter.window_end_s <= now_s {
            *counter = fresh;
        }
        if counter.count >= limit.requests_max {
            return Err(counter.window_end_s.saturating_sub(now_s).max(1));
        }
        counter.count += 1;
        debug_assert!(counter.count <= limit.requests_max);
        counters.changed.insert(key);
        Ok(())
    }

    /// Takes at most [`RATE_FLUSH_BATCH_MAX`] changed counters to write.
    fn take_changed(&self) -> Vec<RateCounterRow> {
        let mut counters = self.counters();
        let keys: Vec<[u8; 32]> = counters
            .changed
            .iter()
            .take(RATE_FLUSH_BATCH_MAX)
            .copied()
            .collect();
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            counters.changed.remove(&key);
            if let Some(counter) = counters.by_key.get(&key) {
                rows.push(RateCounterRow {
                    key,
                    window_end_s: counter.window_end_s,
                    count: counter.count,
                });
            }
        }
        rows
    }

    /// Marks rows whose write failed as changed again.
    fn keep_changed(&self, rows: &[RateCounterRow]) {
        let mut counters = self.counters();
        counters.changed.extend(rows.iter().map(|row| row.key));
    }

    /// Whether `key` may be counted once more under `limit` at `now_s`; nothing is counted.
    /// Past [`RATE_KEYS_MAX`] keys a key not counted yet has no room until windows end.
    fn has_room(&self, key: [u8; 32], limit: RateLimit, now_s: u64) -> bool {
        let mut counters = self.counters();
        if let Some(counter) = counters.by_key.get(&key) {
            return counter.window_end_s <= now_s || counter.count < limit.requests_max;
        }
        counters.room_for_new_key(now_s).is_ok()
    }

    /// Counters changed since they were last written.
    fn changed(&self) -> usize {
        self.counters().changed.len()
    }

    /// Counts kept in memory (for metrics and tests).
    pub fn keys(&self) -> usize {
        self.counters().by_key.len()
    }
}

/// Wrong guesses of a secret by one subject (a pay code at a device handle, a voucher code
/// at a terminal), counted with the rate limits' counters so that a restart does not forget
/// them, and enforced whatever [`RateLimiting`] says (it is a lock on a secret, not a
/// load limit).
pub(crate) struct GuessGate<'a> {
    limits: &'a RateLimits,
    key: [u8; 32],
    limit: RateLimit,
}

impl GuessGate<'_> {
    /// True while the subject may guess again at `now_s`.
    pub(crate) fn left(&self, now_s: u64) -> bool {
        self.limits.has_room(self.key, self.limit, now_s)
    }

    /// Counts a wrong guess (after [`GuessGate::left`] answered true).
    pub(crate) fn record(&self, now_s: u64) {
        // Refused only when full or over, which `left` just ruled out; either way the
        // subject has no room left, which is what a refusal would mean.
        let _ = self.limits.hit(self.key, self.limit, now_s);
    }
}

impl Platform {
    /// The counter's key: a blind index of the limit's name and the subject, so the table
    /// holds no address, member or terminal in the clear.
    fn counter_key(&self, limit: RateLimit, subject: &[u8]) -> [u8; 32] {
        let mut named = Vec::with_capacity(limit.name.len() + 1 + subject.len());
        named.extend_from_slice(limit.name.as_bytes());
        named.push(0);
        named.extend_from_slice(subject);
        self.keys.blind_index(b"rate-limit", &named)
    }

    /// The wrong guesses of `subject` under `limit`.
    pub(crate) fn guess_gate(&self, limit: RateLimit, subject: &[u8]) -> GuessGate<'_> {
        GuessGate {
            limits: &self.limits,
            key: self.counter_key(limit, subject),
            limit,
        }
    }

    /// Counts one request of `subject` (an IP address, a member id, a terminal id) under
    /// `limit`; refused with [`PlatformError::RateLimited`] past it.
    pub fn rate_limit(&self, limit: RateLimit, subject: &[u8]) -> Result<(), PlatformError> {
        if self.config.rate_limiting == RateLimiting::Off {
            return Ok(());
        }
        let key = self.counter_key(limit, subject);
        self.limits
            .hit(key, limit, now_s())
            .map_err(|retry_after_s| PlatformError::RateLimited {
                limit: limit.name,
                retry_after_s,
            })
    }

    /// Loads the counters whose window is still open (at start).
    pub(crate) async fn load_rate_counters(&self) -> Result<(), PlatformError> {
        let now = now_s();
        let rows = self
            .ledger
            .tables(move |read| tables::live_counters(read, now, RATE_KEYS_MAX))
            .await?;
        let mut counters = self.limits.counters();
        for row in rows {
            let counter = Counter {
                window_end_s: row.window_end_s,
                count: row.count,
            };
            counters.by_key.insert(row.key, counter);
        }
        Ok(())
    }

    /// Writes every changed counter (a clean stop: nothing counted is forgotten).
    pub(crate) async fn flush_all_rate_counters(&self) -> Result<(), PlatformError> {
        while self.limits.changed() > 0 {
            self.flush_rate_counters().await?;
        }
        Ok(())
    }

    /// Writes the changed counters in one commit, with a batch of ended ones purged.
    pub(crate) async fn flush_rate_counters(&self) -> Result<(), PlatformError> {
        let rows = self.limits.take_changed();
        let now = now_s();
        let purge = self
            .ledger
            .tables(move |read| tables::purge_due(read, now))
            .await?;
        if rows.is_empty() && !purge {
            return Ok(());
        }
        let mut writes: Vec<RowRef> = rows
            .iter()
            .map(|row| Arc::new(RateWrite::Counter(*row)) as RowRef)
            .collect();
        if purge {
            writes.push(Arc::new(RateWrite::PurgeEnded { now_s: now }));
        }
        let committed = match self.enqueue_commit(Vec::new(), move |_| (writes, ())) {
            Ok(committing) => committing.done().await,
            Err(error) => Err(error),
        };
        if committed.is_err() {
            self.limits.keep_changed(&rows);
        }
        committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        name: "test",
        requests_max: 3,
        window_s: 60,
    };

    #[test]
    fn a_key_gets_its_maximum_per_window_then_waits() {
        let limits = RateLimits::default();
        for _ in 0..LIMIT.requests_max {
            assert_eq!(limits.hit([1; 32], LIMIT, 1_000), Ok(()));
        }
        assert_eq!(limits.hit([1; 32], LIMIT, 1_010), Err(50));
        assert_eq!(limits.hit([2; 32], LIMIT, 1_010), Ok(()), "another key");
        assert_eq!(limits.hit([1; 32], LIMIT, 1_059), Err(1));
        assert_eq!(limits.hit([1; 32], LIMIT, 1_060), Ok(()), "a new window");
    }

    #[test]
    fn changed_counters_are_taken_once() {
        let limits = RateLimits::default();
        limits.hit([1; 32], LIMIT, 0).unwrap();
        limits.hit([1; 32], LIMIT, 0).unwrap();
        let rows = limits.take_changed();
        assert_eq!(
            rows,
            vec![RateCounterRow {
                key: [1; 32],
                window_end_s: 60,
                count: 2
            }]
        );
        assert!(limits.take_changed().is_empty());
        limits.keep_changed(&rows);
        assert_eq!(limits.take_changed(), rows);
    }

    #[test]
    fn at_the_key_maximum_ended_windows_go_and_open_ones_stay() {
        let limits = RateLimits::default();
        for index in 0..RATE_KEYS_MAX as u64 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&index.to_be_bytes());
            let at_s = if index == 0 { 0 } else { 100 };
            limits.hit(key, LIMIT, at_s).unwrap();
        }
        assert_eq!(limits.keys(), RATE_KEYS_MAX);
        // Full, one window ended: it makes room.
        assert_eq!(limits.hit([0xff; 32], LIMIT, 100), Ok(()));
        assert_eq!(limits.keys(), RATE_KEYS_MAX);
        // Full, every window open: a new key waits for the first to end; old keys count on.
        assert_eq!(limits.hit([0xfe; 32], LIMIT, 101), Err(59));
        assert_eq!(limits.hit([0xff; 32], LIMIT, 101), Ok(()));
        // Until then new keys are refused from the remembered end, without a scan...
        assert_eq!(limits.hit([0xfd; 32], LIMIT, 159), Err(1));
        assert!(!limits.has_room([0xfd; 32], LIMIT, 159));
        // ...and once windows end they make room.
        assert!(limits.has_room([0xfd; 32], LIMIT, 160));
        assert_eq!(limits.hit([0xfd; 32], LIMIT, 160), Ok(()));
    }
}
