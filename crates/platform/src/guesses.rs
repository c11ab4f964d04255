//! Waits between wrong guesses of a secret whose owner must not be locked out (a login's
//! PIN). Guesses of a code (pay codes, vouchers) are counted with the abuse limits instead
//! (`limits::GuessGate`).

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
