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
