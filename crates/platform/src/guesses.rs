//! Wrong guesses of a secret (a pay code at a device handle, a voucher code at a
//! terminal), counted per key over a sliding window, in bounded memory.
//!
//! Past `keys_max` keys a key not counted yet is refused until older windows pass: closed,
//! not reset, so that a flood of guesses under many keys cannot wipe the count of the one
//! being guessed at. The counts live in memory only: a restart forgets them, which gives
//! an attacker at most one more window's guesses.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The limits of one kind of guess.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuessLimits {
    /// Wrong guesses a key may make per window.
    pub per_window_max: usize,
    pub window_s: u64,
    /// Keys counted at once.
    pub keys_max: usize,
}

/// Wrong guesses per key, oldest first, within the current window.
pub(crate) struct Guesses<K> {
    limits: GuessLimits,
    by_key: HashMap<K, VecDeque<u64>>,
}

impl<K: Copy + Eq + Hash> Guesses<K> {
    pub(crate) fn new(limits: GuessLimits) -> Guesses<K> {
        Guesses {
            limits,
            by_key: HashMap::new(),
        }
    }

    /// Forgets the key's guesses out of the window; true while it has guesses left.
    pub(crate) fn left(&mut self, key: K, now_s: u64) -> bool {
        let window_s = self.limits.window_s;
        let Some(times) = self.by_key.get_mut(&key) else {
            return self.by_key.len() < self.limits.keys_max || self.prune(now_s);
        };
        while times
            .front()
            .is_some_and(|&at_s| at_s.saturating_add(window_s) <= now_s)
        {
            times.pop_front();
        }
        if times.is_empty() {
            self.by_key.remove(&key);
            return true;
        }
        times.len() < self.limits.per_window_max
    }

    /// Forgets keys whose every guess is out of the window; true if room was made.
    fn prune(&mut self, now_s: u64) -> bool {
        let window_s = self.limits.window_s;
        self.by_key.retain(|_, times| {
            times
                .back()
                .is_some_and(|&at_s| at_s.saturating_add(window_s) > now_s)
        });
        self.by_key.len() < self.limits.keys_max
    }

    /// Counts a wrong guess (after [`Guesses::left`] answered true for the key).
    pub(crate) fn record(&mut self, key: K, now_s: u64) {
        self.by_key.entry(key).or_default().push_back(now_s);
        assert!(self.by_key.len() <= self.limits.keys_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: GuessLimits = GuessLimits {
        per_window_max: 10,
        window_s: 300,
        keys_max: 1_000,
    };

    #[test]
    fn guesses_are_counted_per_key_up_to_the_maximum() {
        let mut guesses = Guesses::new(LIMITS);
        for _ in 0..LIMITS.per_window_max {
            assert!(guesses.left(1u128, 1_000));
            guesses.record(1, 1_000);
        }
        assert!(!guesses.left(1, 1_000));
        assert!(guesses.left(2, 1_000));
        assert!(!guesses.left(1, 1_000 + LIMITS.window_s - 1));
        assert!(guesses.left(1, 1_000 + LIMITS.window_s));
    }

    #[test]
    fn keys_counted_stop_at_their_maximum_until_windows_pass() {
        let mut guesses = Guesses::new(LIMITS);
        for key in 0..LIMITS.keys_max as u64 {
            assert!(guesses.left(key, 1_000));
            guesses.record(key, 1_000);
        }
        let newcomer = LIMITS.keys_max as u64;
        assert!(!guesses.left(newcomer, 1_000), "full: a new key waits");
        assert!(guesses.left(0, 1_000), "a counted key keeps its count");
        assert!(guesses.left(newcomer, 1_000 + LIMITS.window_s));
        assert!(guesses.by_key.len() < LIMITS.keys_max);
    }
}

/// Waits between wrong guesses of a secret whose owner must not be locked out (a login):
/// the first `failures_free` cost nothing, then each waits `delay_base_s`, doubling per
/// further failure up to `delay_max_s`. Slows a guesser to a few dozen tries a day without
/// a lock anyone could set off against the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelaySchedule {
    pub failures_free: u64,
    pub delay_base_s: u64,
    pub delay_max_s: u64,
}

impl DelaySchedule {
    /// How long the next try waits after `failures` wrong ones in a row.
    pub fn delay_s(&self, failures: u64) -> u64 {
        if failures < self.failures_free {
            return 0;
        }
        let doublings = (failures - self.failures_free).min(32);
        self.delay_base_s
            .saturating_mul(1u64 << doublings)
            .min(self.delay_max_s)
    }

    /// Seconds still to wait at `now_s` after `failures`, the last at `last_failed_at_s`.
    pub fn wait_s(&self, failures: u64, last_failed_at_s: u64, now_s: u64) -> u64 {
        last_failed_at_s
            .saturating_add(self.delay_s(failures))
            .saturating_sub(now_s)
    }
}

#[cfg(test)]
mod delay_tests {
    use super::DelaySchedule;

    const SCHEDULE: DelaySchedule = DelaySchedule {
        failures_free: 3,
        delay_base_s: 30,
        delay_max_s: 3600,
    };

    #[test]
    fn free_then_doubling_then_capped() {
        let delays: Vec<u64> = (0..12).map(|failures| SCHEDULE.delay_s(failures)).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        );
        assert_eq!(SCHEDULE.delay_s(u64::MAX), 3600);
    }

    #[test]
    fn the_wait_runs_out() {
        assert_eq!(SCHEDULE.wait_s(4, 1_000, 1_000), 60);
        assert_eq!(SCHEDULE.wait_s(4, 1_000, 1_059), 1);
        assert_eq!(SCHEDULE.wait_s(4, 1_000, 1_060), 0);
        assert_eq!(SCHEDULE.wait_s(4, u64::MAX, 0), u64::MAX);
    }
}
