//! The exchange context's working set: what stays in memory, all of it bounded by open
//! work or by the partners, never by history.
//!
//! - the exchanges still `requested` ([`EXCHANGES_OPEN_MAX`]), with their retry schedule:
//!   loaded at start from the `exchanges_open` index, dropped when they finish;
//! - the failed exchanges whose reference still needs a cancel at the partner, likewise;
//! - the exchanges a task drives right now (so two never drive one);
//! - per partner, MVP issued, reserved by open exchanges and paid (issued and paid read
//!   from the partner's ledger account at start, reserved from the open exchanges);
//! - the claims of requests under way: one exchange request per member, one change of a
//!   member's links (attempt, proof, unlink), and one link per partner's (canonical) member
//!   reference at a time, so the limits' sums, the idempotency key, the pending attempts
//!   and the active reference are read and written by one request at a time.
//!
//! Lock order: the partner catalogue's lock is released before this context's is taken;
//! this context's, then the members' withdrawals lock; never the other way.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use crate::claims::{Claim, ClaimDetails, Claims};
use crate::domain::{ExchangeRow, ExchangeStatus};
use crate::error::PlatformError;

/// Exchanges kept open at once (waiting for a partner's answer); a new one past it is
/// refused with 503 until some finish.
pub const EXCHANGES_OPEN_MAX: usize = 100_000;
/// Requests under way at once (exchanges and links); more answer 503.
pub const EXCHANGE_CLAIMS_MAX: usize = 65_536;
/// How long a request waits for another one of the same member or reference.
pub const EXCHANGE_CLAIM_WAIT_MS: u64 = 30_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retry {
    pub next_attempt_ms: u64,
    pub attempts: u32,
}

/// Per-partner running figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartnerFigures {
    /// MVP credited to members against this partner (completed exchanges).
    pub issued_mvp: u128,
    /// MVP of exchanges still requested (reserved against the credit line).
    pub reserved_mvp: u128,
    /// MVP the partner paid for (partner payments recorded in the ledger).
    pub paid_mvp: u128,
}

impl PartnerFigures {
    /// What the partner owes now: issued and not yet paid for.
    pub fn outstanding_mvp(&self) -> u128 {
        self.issued_mvp.saturating_sub(self.paid_mvp)
    }

    /// Whether `mvp` more fits the partner's credit line, counting what it owes and what
    /// requested exchanges hold.
    pub fn fits_credit_line(&self, mvp: u64, credit_line: u64) -> bool {
        self.outstanding_mvp() + self.reserved_mvp + u128::from(mvp) <= u128::from(credit_line)
    }
}

/// An exchange the resolver may have to work on, with its schedule.
#[derive(Clone, Debug)]
pub(crate) struct Tracked {
    pub record: ExchangeRow,
    pub retry: Retry,
}

/// What a claim holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Claimed {
    /// An exchange request of a member.
    Member(u128),
    /// A link of a partner's member reference (canonical once proven).
    Reference(u128, String),
    /// A change of a member's links (an attempt, a proof, an unlink); taken before a
    /// `Reference`.
    Links(u128),
}

#[derive(Default)]
pub(crate) struct Working {
    pub open: HashMap<u128, Tracked>,
    pub cancels: HashMap<u128, Tracked>,
    pub driving: HashSet<u128>,
    pub figures: HashMap<u128, PartnerFigures>,
    /// Per member, exchanges whose `requested` row is queued but not yet known durable: a
    /// member's next request counts them beside the table (bounded by `open`).
    pub pending: HashMap<u128, Vec<ExchangeRow>>,
}

/// The exchange context's lock, working set and claims.
/// Exchanges per status, every status once.
pub type StatusCounts = [(ExchangeStatus, u64); 4];

pub struct Exchanges {
    working: Mutex<Working>,
    claims: Claims<Claimed>,
    /// The counts per status as last read, and when (see `Platform::exchange_counts_recent`).
    pub(crate) counts: Mutex<Option<(std::time::Instant, StatusCounts)>>,
}

impl Default for Exchanges {
    fn default() -> Self {
        Exchanges {
            working: Mutex::new(Working::default()),
            claims: Claims::new(
                EXCHANGE_CLAIMS_MAX,
                EXCHANGE_CLAIM_WAIT_MS,
                ClaimDetails {
                    full: "too many exchange requests under way; retry",
                    wait: "another request for this member is still under way; retry",
                },
            ),
            counts: Mutex::new(None),
        }
    }
}

impl Exchanges {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Working> {
        self.working.lock().expect("exchanges lock")
    }

    /// Exchanges still `requested`, and failed ones whose cancel is still owed.
    pub(crate) fn depths(&self) -> (u64, u64) {
        let working = self.lock();
        (working.open.len() as u64, working.cancels.len() as u64)
    }

    /// The partner's figures now.
    pub fn figures(&self, partner_id: u128) -> PartnerFigures {
        self.lock()
            .figures
            .get(&partner_id)
            .copied()
            .unwrap_or_default()
    }

    /// MVP issued against every partner.
    pub fn issued_mvp(&self) -> u128 {
        self.lock().figures.values().map(|f| f.issued_mvp).sum()
    }

    /// Claims `claimed`, waiting (at most [`EXCHANGE_CLAIM_WAIT_MS`]) while another holds it.
    pub(crate) async fn claim(
        &self,
        claimed: Claimed,
    ) -> Result<Claim<'_, Claimed>, PlatformError> {
        self.claims.claim(claimed).await
    }
}

pub(crate) fn busy() -> PlatformError {
    PlatformError::Unavailable("too many exchanges open; retry".into())
}
