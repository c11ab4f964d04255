//! The members context (MV-1): phone verification, sign-up, PIN sessions with lock-out,
//! devices, profile, balances, transaction history and withdrawal.
//!
//! - A verification sends a 6-digit code by SMS; it lives `verification_ttl_s`, allows
//!   [`VERIFICATION_ATTEMPTS_MAX`] wrong codes, and a phone may ask for
//!   [`VERIFICATIONS_PER_PHONE_PER_HOUR_MAX`] codes an hour (counted in the table).
//! - PINs are 6 digits, not all the same and not a straight run (`123456`, `654321`).
//! - A login comes from a device that proved the phone by SMS (seed 002 §3.1.1): the
//!   sign-up's device, or one that sent a fresh SMS code with its login; either gets a
//!   device token that spares it the SMS next time.
//! - Wrong PINs are counted per phone, member or not: past [`PIN_DELAYS`]' free ones each
//!   next try waits, doubling up to an hour, and the count is forgotten
//!   [`PIN_FAILURES_FORGOTTEN_AFTER_S`] after the last. Nothing a guesser does locks the
//!   owner out: a login with an SMS code skips the wait. Only an operator locks a member.
//!   An unknown phone gets the same answers after the same work as a member's.
//! - Above `pin_confirm_above_mvp` the PIN is asked again before value leaves the wallet
//!   (vouchers, conversions, withdrawal): [`Platform::confirm_spend`].
//! - The member's wallet is a ledger account whose id is the member id; it is created before
//!   the member row, so a member never exists without a wallet.
//!
//! State lives in the context's tables (`store::tables::members`): members, devices,
//! sessions and verifications are read by queries and written in the ledger's transaction,
//! one commit per operation. Memory holds only the claims of operations under way
//! ([`MEMBER_CLAIMS_MAX`]: one operation per member, per phone and per verification at a
//! time, so a read-change-write never loses a concurrent change) and the members whose
//! withdrawal is under way.
//!
//! Lock order: another context's lock (the exchange context's), then this context's
//! withdrawals lock; never the other way. No lock is held across an await.

pub mod error;
pub use error::MemberError;
mod access;
pub(crate) mod legacy;
mod profile;
mod withdrawal;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use store::tables::RowRef;
use store::tables::members::{self as tables, DeviceRow, MemberRow};

use crate::chart;
use crate::claims::{Claim, ClaimDetails, Claims};
use crate::error::{PlatformError, invalid};
use crate::service::Platform;

pub use access::{DeviceProof, LogIn, SessionGrant, SignUpGrant};
pub(crate) use legacy::legacy_rows;
pub use profile::{Balance, DeviceView, HistoryPage, MemberView, TransactionLine};
pub use store::tables::members::MemberStatus;

pub const VERIFICATION_ATTEMPTS_MAX: u32 = 5;
pub const VERIFICATIONS_PER_PHONE_PER_HOUR_MAX: u64 = 5;
/// Wrong PINs in a row a phone may make before each next try waits: 3 free, then 30 s
/// doubling per failure up to an hour (at most about 30 guesses a day at a 10^6 space).
pub const PIN_DELAYS: crate::guesses::DelaySchedule = crate::guesses::DelaySchedule {
    failures_free: 3,
    delay_base_s: 30,
    delay_max_s: 3600,
};
/// A phone's wrong PINs are forgotten this long after the last one.
pub const PIN_FAILURES_FORGOTTEN_AFTER_S: u64 = 24 * 3600;
/// PIN hashes computed at once (each takes 19 MiB).
pub const PIN_HASHING_CONCURRENCY_MAX: usize = 4;
pub const NAME_CHARS_MAX: usize = 50;
pub const DEVICES_PER_MEMBER_MAX: usize = 10;
pub const TRANSACTIONS_PAGE_MAX: usize = 100;
pub const PAYOUT_CHARS_MAX: usize = 200;
/// Most payout transfers one withdrawal may need (value that arrives during a withdrawal
/// cut short takes another).
pub const WITHDRAWAL_PAYOUTS_MAX: u32 = 8;
/// Operations under way at once on members, phones and verifications; more answer 503.
pub const MEMBER_CLAIMS_MAX: usize = 65_536;
/// How long an operation waits for another one on the same member (a login's PIN check
/// takes tens of milliseconds) before it answers 503.
pub const MEMBER_CLAIM_WAIT_MS: u64 = 10_000;

/// The id of a member's `index`th withdrawal payout: derived, so a retried withdrawal finds
/// the payout it already made instead of making another. High bit set, like the platform's
/// own ids, and apart from random ids by a hash domain.
pub fn payout_transfer_id(member_id: u128, index: u32) -> u128 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/withdrawal-payout/");
    hasher.update(member_id.to_be_bytes());
    hasher.update(index.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

/// Normalizes a phone number to E.164: `010-1234-5678` and `+82 10 1234 5678` both become
/// `+821012345678`. A leading `0` means a Korean national number.
pub fn normalize_phone(text: &str) -> Result<String, PlatformError> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = compact.strip_prefix('0') {
        format!("82{rest}")
    } else {
        return Err(invalid(
            "phone",
            "start with + and a country code, or with 0",
        ));
    };
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("phone", "8 to 15 digits in E.164"));
    }
    Ok(format!("+{digits}"))
}

pub fn check_pin(pin: &str) -> Result<(), PlatformError> {
    let digits = pin.as_bytes();
    if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid("pin", "exactly 6 digits"));
    }
    let all_same = digits.iter().all(|&d| d == digits[0]);
    let ascending = digits.windows(2).all(|w| w[1] == w[0] + 1);
    let descending = digits.windows(2).all(|w| w[0] == w[1] + 1);
    if all_same || ascending || descending {
        return Err(invalid(
            "pin",
            "too easy to guess (same digit or a straight run)",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String, PlatformError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
        return Err(invalid("name", format!("1 to {NAME_CHARS_MAX} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "no control characters"));
    }
    Ok(name.to_string())
}

/// Associated data of a member's sealed field.
pub(crate) fn member_context(member_id: u128, field: &str) -> Vec<u8> {
    format!("member/{member_id}/{field}").into_bytes()
}

fn verification_context(id: u128) -> Vec<u8> {
    format!("verification/{id}/phone").into_bytes()
}

/// What other contexts may know of a member before they let value move: whether they may
/// pay, and which devices they have (a removed device's pay codes stop working).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberGate {
    pub member_id: u128,
    pub status: MemberStatus,
    pub locked: bool,
    pub device_ids: Vec<u128>,
}

impl MemberGate {
    /// Refuses a member who may not pay: withdrawn or locked.
    pub(crate) fn check_may_pay(&self) -> Result<(), PlatformError> {
        if self.status == MemberStatus::Withdrawn {
            return Err(PlatformError::Member(MemberError::Withdrawn));
        }
        if self.locked {
            return Err(PlatformError::Member(MemberError::Locked));
        }
        Ok(())
    }

    pub(crate) fn has_device(&self, member_id: u128, device_id: u128) -> bool {
        self.member_id == member_id && self.device_ids.contains(&device_id)
    }
}

/// What a claim holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Claimed {
    Member(u128),
    Phone([u8; 32]),
    Verification(u128),
}

/// Members' gates kept for the till (a payment reads its member's gate; a cache hit saves
/// two table reads). Past it the cache is emptied and refills as members pay.
pub const MEMBER_GATES_CACHED_MAX: usize = 131_072;

/// Sessions kept for authenticating requests (a hit saves a table read per request). Past
/// it the cache is emptied and refills as members come back.
pub const SESSIONS_CACHED_MAX: usize = 131_072;

/// Gates and sessions read from the tables, and a generation that every change of a
/// member bumps (so nothing read before a change is kept after it).
#[derive(Default)]
struct GateCache {
    gates: HashMap<u128, MemberGate>,
    /// Token hash → (member, expiry).
    sessions: HashMap<[u8; 32], (u128, u64)>,
    generation: u64,
}

/// The members context's working set: claims, withdrawals under way, cached gates.
pub struct Members {
    claims: Claims<Claimed>,
    gates: Mutex<GateCache>,
    /// Members whose withdrawal is in progress (no exchange, voucher or conversion may
    /// start).
    withdrawing: Mutex<HashSet<u128>>,
}

impl Default for Members {
    fn default() -> Self {
        Members {
            claims: Claims::new(
                MEMBER_CLAIMS_MAX,
                MEMBER_CLAIM_WAIT_MS,
                ClaimDetails {
                    full: "too many member operations under way; retry",
                    wait: "another request for this member is still under way; retry",
                },
            ),
            withdrawing: Mutex::new(HashSet::new()),
            gates: Mutex::new(GateCache::default()),
        }
    }
}

impl Members {
    fn withdrawing(&self) -> MutexGuard<'_, HashSet<u128>> {
        self.withdrawing.lock().expect("withdrawing lock")
    }

    /// Whether the member's withdrawal is under way.
    pub(crate) fn is_withdrawing(&self, member_id: u128) -> bool {
        self.withdrawing().contains(&member_id)
    }

    /// Runs `queue` (which queues a commit, without waiting) under the withdrawals' lock,
    /// unless the member's withdrawal is under way: a withdrawal then either begins after
    /// the commit is queued, or refuses it.
    pub(crate) fn unless_withdrawing<T>(
        &self,
        member_id: u128,
        queue: impl FnOnce() -> Result<T, PlatformError>,
    ) -> Result<T, PlatformError> {
        let withdrawing = self.withdrawing();
        if withdrawing.contains(&member_id) {
            return Err(PlatformError::Member(MemberError::Withdrawn));
        }
        let queued = queue();
        drop(withdrawing);
        queued
    }

    async fn claim(&self, claimed: Claimed) -> Result<Claim<'_, Claimed>, PlatformError> {
        self.claims.claim(claimed).await
    }

    fn gates(&self) -> MutexGuard<'_, GateCache> {
        self.gates.lock().expect("gates lock")
    }

    /// The cached gate of a member, and the generation to keep a gate read now under.
    fn cached_gate(&self, member_id: u128) -> (Option<MemberGate>, u64) {
        let cache = self.gates();
        (cache.gates.get(&member_id).cloned(), cache.generation)
    }

    /// Keeps a gate read from the tables, unless a member changed since it was read.
    fn keep_gate(&self, gate: &MemberGate, generation: u64) {
        let mut cache = self.gates();
        if cache.generation != generation {
            return;
        }
        if cache.gates.len() >= MEMBER_GATES_CACHED_MAX {
            cache.gates.clear();
        }
        cache.gates.insert(gate.member_id, gate.clone());
    }

    /// Forgets the members' gates and sessions: called before a change is committed (no
    /// read from then on is kept) and after (the committed change is read anew).
    fn forget_gates(&self, member_ids: &[u128]) {
        let mut cache = self.gates();
        cache.generation = cache.generation.wrapping_add(1);
        for member_id in member_ids {
            cache.gates.remove(member_id);
        }
        if !member_ids.is_empty() {
            cache
                .sessions
                .retain(|_, (member_id, _)| !member_ids.contains(member_id));
        }
    }

    /// The cached session of a token hash, and the generation to keep one read now under.
    fn cached_session(&self, token_hash: &[u8; 32]) -> (Option<(u128, u64)>, u64) {
        let cache = self.gates();
        (cache.sessions.get(token_hash).copied(), cache.generation)
    }

    /// Keeps a session read from the tables, unless a member changed since it was read.
    fn keep_session(&self, token_hash: [u8; 32], session: (u128, u64), generation: u64) {
        let mut cache = self.gates();
        if cache.generation != generation {
            return;
        }
        if cache.sessions.len() >= SESSIONS_CACHED_MAX {
            cache.sessions.clear();
        }
        cache.sessions.insert(token_hash, session);
    }
}

/// The members whose gate a write changes.
fn gated_members(writes: &[tables::MemberWrite]) -> Vec<u128> {
    use tables::MemberWrite as W;
    writes
        .iter()
        .filter_map(|write| match write {
            W::Member(row) => Some(row.id),
            W::Device(row) => Some(row.member_id),
            W::RemoveDevice { member_id, .. }
            | W::RemoveDevicesOf(member_id)
            | W::RemoveSessionsOf(member_id) => Some(*member_id),
            _ => None,
        })
        .collect()
}

impl Platform {
    /// Commits the context's row changes (no transfer): one durable commit.
    /// Members' gates cached for the till are forgotten around it.
    async fn commit_members(&self, writes: Vec<tables::MemberWrite>) -> Result<(), PlatformError> {
        let gated = gated_members(&writes);
        let rows: Vec<RowRef> = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.commit_member_rows(&gated, rows).await
    }

    /// Commits rows that change the `gated` members (and maybe other contexts' rows), with
    /// their cached gates forgotten before and after.
    async fn commit_member_rows(
        &self,
        gated: &[u128],
        rows: Vec<RowRef>,
    ) -> Result<(), PlatformError> {
        self.members.forget_gates(gated);
        let committed = self.enqueue_commit(Vec::new(), move |_| (rows, ()));
        let committed = match committed {
            Ok(committing) => committing.done().await,
            Err(error) => Err(error),
        };
        self.members.forget_gates(gated);
        committed
    }

    /// The member's row, if there is one.
    pub(crate) async fn member_row(
        &self,
        member_id: u128,
    ) -> Result<Option<MemberRow>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::member(read, member_id))
            .await?)
    }

    /// The member's row and devices, if there is such a member.
    async fn member_and_devices(
        &self,
        member_id: u128,
    ) -> Result<Option<(MemberRow, Vec<DeviceRow>)>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| {
                let Some(member) = tables::member(read, member_id)? else {
                    return Ok(None);
                };
                Ok(Some((member, tables::devices(read, member_id)?)))
            })
            .await?)
    }

    /// What other contexts check before value moves for the member (see [`MemberGate`]).
    pub(crate) async fn member_gate(
        &self,
        member_id: u128,
    ) -> Result<Option<MemberGate>, PlatformError> {
        let (cached, generation) = self.members.cached_gate(member_id);
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self.member_and_devices(member_id).await?;
        let gate = found.map(|(member, devices)| MemberGate {
            member_id,
            status: member.status,
            locked: member.locked,
            device_ids: devices.iter().map(|device| device.id).collect(),
        });
        if let Some(gate) = &gate {
            self.members.keep_gate(gate, generation);
        }
        Ok(gate)
    }

    /// Every member id, a page at a time (for figures over all wallets).
    pub(crate) async fn member_ids_after(
        &self,
        after: Option<u128>,
    ) -> Result<Vec<u128>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::member_ids(read, after, tables::MEMBER_IDS_PAGE_MAX))
            .await?)
    }
}
