//! The payments context's working set and storage: what stays in memory (steps under way,
//! the day's figures), how an authorization maps to its table rows
//! (`store::tables::payments`), and the reads of those tables.
//!
//! Authorizations live in their tables, never in memory: a read is a query (point lookups
//! by id or by the till's `van_tx_id`, pages by merchant or by time), and every change is
//! written with its ledger transfer in one commit (see `van` and `van_steps`). Memory
//! keeps only bounded working sets:
//! - the claims of steps under way ([`PAYMENT_CLAIMS_MAX`]): one request per `van_tx_id`
//!   of a merchant and one step per authorization at a time; a repeated request waits for
//!   the first one's claim to go, then reads what it committed;
//! - each paying member's counted amount of the current KST day ([`DAILY_MEMBERS_MAX`]),
//!   read from the table (`authorizations_by_member`) the first time a member pays on a day.
//!
//! Lock order: this context's lock is taken alone (no other lock is held with it), never
//! across an await.
//! Claims: a request holding a `van_tx_id`'s claim may wait for an authorization's claim,
//! never the other way, so two requests never wait for each other.

pub mod error;
pub use error::PaymentError;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use store::StoreError;
use store::records::RecordWrite;
use store::tables::payments::{self as tables, AuthorizationRow, CancelRow};
use store::tables::{RowRef, TableRead};

use crate::authorization::{
    AuthorizationRecord, CancelEntry, DeclineReason, KIND_AUTHORIZATION, OUTCOME_WAIT_MS,
    VoucherUse,
};
use crate::claims::{Claim, ClaimDetails, Claims};
use crate::domain::id_key;
use crate::domain::record_rows;
use crate::error::PlatformError;
use crate::service::Platform;
use ports::time::kst_day;

/// Steps under way at once (requests and steps of authorizations); more answer 503.
pub const PAYMENT_CLAIMS_MAX: usize = 65_536;
/// Members whose figure of the day is kept; past it the figures are dropped and read
/// again from the table as members pay (a payment under way while they are dropped is
/// not counted in the figure read back).
pub const DAILY_MEMBERS_MAX: usize = 1_000_000;
/// Legacy authorization records moved into the tables per commit at the first start.
const IMPORT_BATCH_MAX: usize = 8;

/// What a payment's commit is about to do, as the contexts following payments see it
/// before it (see [`PaymentFollower`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PaymentStep {
    /// The first commit of a payment from the member's wallet: a sale (`capture`) or a hold
    /// of `amount`; `partial` when the ledger may move less (a partial approval).
    Authorize {
        amount: u64,
        capture: bool,
        partial: bool,
    },
    /// A hold's capture of `amount`.
    Capture { amount: u64 },
    /// A refund of `amount` of a capture.
    Refund { amount: u64 },
    /// Anything else: a void, a network cancel's mark, a declined payment's record.
    Other,
}

/// A commit of a followed payment, as the follower's rows see it after the ledger answered.
pub(crate) struct FollowedCommit<'a, 'o> {
    /// The authorization before the commit.
    pub before: &'a AuthorizationRecord,
    /// The authorization as the ledger's answer made it.
    pub after: &'a AuthorizationRecord,
    pub outcome: &'a journal::TransferOutcome<'o>,
    /// Where this follower's transfers are in `outcome.results`; `None` when they were not
    /// submitted (the payment moved nothing: declined before the ledger).
    pub first_transfer: Option<usize>,
}

/// The rows a follower adds, from the commit's outcome. Runs on the ledger's thread: no IO,
/// no locks.
pub(crate) type FollowRows = Box<dyn FnOnce(&FollowedCommit<'_, '_>) -> Vec<RowRef> + Send>;

/// What another context adds to a payment's commit: transfers after the step's own (in
/// the same linked chain when `linked`: all or none with the payment), and rows made from
/// the outcome, in the same store transaction (checkout's intent and webhook event; a
/// promotion's cashback and its clawback on a refund).
pub(crate) struct Follow {
    pub transfers: Vec<ledger::types::Transfer>,
    pub linked: bool,
    pub rows: FollowRows,
}

impl Follow {
    /// Rows only.
    pub(crate) fn rows(rows: FollowRows) -> Follow {
        Follow {
            transfers: Vec::new(),
            linked: false,
            rows,
        }
    }

    /// Appends this follow's transfers to the step's (`step` may be empty: the payment
    /// moves nothing, and neither do they), linking the chain when asked.
    pub(crate) fn extend(&mut self, step: &mut Vec<ledger::types::Transfer>) -> Option<usize> {
        if step.is_empty() || self.transfers.is_empty() {
            return None;
        }
        let first = step.len();
        if self.linked {
            use ledger::types::TransferFlags;
            for transfer in step.iter_mut() {
                transfer.flags = transfer.flags.union(TransferFlags::LINKED);
            }
            let last = self.transfers.len() - 1;
            for transfer in &mut self.transfers[..last] {
                transfer.flags = transfer.flags.union(TransferFlags::LINKED);
            }
        }
        step.append(&mut self.transfers);
        Some(first)
    }
}

/// A context that follows payments: asked before each commit of an authorization (its
/// first and every step) for what it adds. Payments know only this trait; the followers
/// are registered when the platform opens (`service`), so payments import none of them.
pub(crate) trait PaymentFollower: Send + Sync + 'static {
    /// What this context adds to a commit of `record` (as it is before the commit) doing
    /// `step`, if it follows that payment; read what it needs here, before the commit.
    fn follow<'a>(
        &'a self,
        platform: &'a Platform,
        record: &'a AuthorizationRecord,
        step: PaymentStep,
    ) -> ports::gateway::BoxFuture<'a, Result<Option<Follow>, PlatformError>>;
}

/// What a claim holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Claimed {
    /// A request under a merchant's `van_tx_id`.
    VanTx(u128, String),
    /// A step of an authorization (capture, cancel, network cancel).
    Authorization(u128),
}

#[derive(Default)]
pub struct PaymentsState {
    /// The KST day of `daily`.
    day: u64,
    daily: HashMap<u128, u64>,
}

/// The payments context's lock and claims.
pub struct Payments {
    state: Mutex<PaymentsState>,
    claims: Claims<Claimed>,
}

impl Default for Payments {
    fn default() -> Self {
        Payments {
            state: Mutex::new(PaymentsState::default()),
            claims: Claims::new(
                PAYMENT_CLAIMS_MAX,
                OUTCOME_WAIT_MS,
                ClaimDetails {
                    full: "too many payments under way",
                    wait: "the first request for this van_tx_id has not finished",
                },
            ),
        }
    }
}

impl Payments {
    fn lock(&self) -> MutexGuard<'_, PaymentsState> {
        self.state.lock().expect("payments lock")
    }

    /// The day's figures, cleared when the KST day changed.
    fn day(&self, now_s: u64) -> MutexGuard<'_, PaymentsState> {
        let mut state = self.lock();
        let today = kst_day(now_s);
        if state.day != today {
            state.day = today;
            state.daily.clear();
        }
        state
    }

    pub(crate) fn has_daily(&self, member_id: u128, now_s: u64) -> bool {
        self.day(now_s).daily.contains_key(&member_id)
    }

    /// Keeps a figure read from the table, unless one is kept already (it is newer).
    pub(crate) fn insert_daily(&self, member_id: u128, now_s: u64, paid: u64) {
        let mut state = self.day(now_s);
        if state.daily.len() >= DAILY_MEMBERS_MAX && !state.daily.contains_key(&member_id) {
            state.daily.clear();
        }
        state.daily.entry(member_id).or_insert(paid);
    }

    /// Counts `amount` against the member's day if it stays within the limit.
    pub(crate) fn reserve_daily(&self, member_id: u128, now_s: u64, amount: u64) -> bool {
        let mut state = self.day(now_s);
        let paid = state.daily.entry(member_id).or_default();
        let after = paid.saturating_add(amount);
        if after > crate::authorization::MEMBER_DAILY_PAYMENT_LIMIT {
            return false;
        }
        *paid = after;
        true
    }

    /// Replaces what an authorization counted (`before`) by what it counts now.
    pub(crate) fn settle_daily(&self, record: &AuthorizationRecord, before: u64) {
        if record.member_id == 0 {
            return;
        }
        let mut state = self.day(ports::time::now_s());
        if state.day != kst_day(record.created_at_s) {
            return;
        }
        if let Some(paid) = state.daily.get_mut(&record.member_id) {
            *paid = paid.saturating_sub(before).saturating_add(record.counted());
        }
    }
}

/// What a `van_tx_id` of a merchant names.
pub(crate) enum VanTx {
    Authorization(Box<AuthorizationRecord>),
    /// A cancel of the authorization with this id.
    Cancel(u128),
}

impl Platform {
    /// Claims `claimed`, waiting (at most [`OUTCOME_WAIT_MS`]) while another holds it.
    /// What every follower adds to a commit of `record` doing `step`, as one (`None`:
    /// nobody follows it). Followers that link their transfers to the payment come first,
    /// so one chain holds them all.
    pub(crate) async fn follow_payment(
        &self,
        record: &AuthorizationRecord,
        step: PaymentStep,
    ) -> Result<Option<Follow>, PlatformError> {
        let mut follows = Vec::new();
        for follower in &self.payment_followers {
            if let Some(follow) = follower.follow(self, record, step).await? {
                follows.push(follow);
            }
        }
        if follows.is_empty() {
            return Ok(None);
        }
        follows.sort_by_key(|follow| !follow.linked);
        let linked = follows.iter().any(|follow| follow.linked);
        let mut transfers = Vec::new();
        let mut parts = Vec::new();
        for follow in follows {
            parts.push((transfers.len(), follow.transfers.len(), follow.rows));
            transfers.extend(follow.transfers);
        }
        let rows: FollowRows = Box::new(move |commit| {
            let mut rows = Vec::new();
            for (offset, count, follow_rows) in parts {
                let first_transfer = commit
                    .first_transfer
                    .filter(|_| count > 0)
                    .map(|first| first + offset);
                let part = FollowedCommit {
                    before: commit.before,
                    after: commit.after,
                    outcome: commit.outcome,
                    first_transfer,
                };
                rows.extend(follow_rows(&part));
            }
            rows
        });
        Ok(Some(Follow {
            transfers,
            linked,
            rows,
        }))
    }

    pub(crate) async fn claim_payment(
        &self,
        claimed: Claimed,
    ) -> Result<Claim<'_, Claimed>, PlatformError> {
        self.payments.claims.claim(claimed).await
    }

    /// The authorization with this id, as committed.
    pub(crate) async fn stored_authorization(
        &self,
        id: u128,
    ) -> Result<Option<AuthorizationRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| {
                let row = tables::authorization(read, id)?;
                row.map(|row| read_authorization(read, row)).transpose()
            })
            .await?)
    }

    /// What the merchant's `van_tx_id` names, as committed.
    pub(crate) async fn van_tx(
        &self,
        merchant_id: u128,
        van_tx_id: &str,
    ) -> Result<Option<VanTx>, PlatformError> {
        let key = van_tx_id.to_string();
        Ok(self
            .ledger
            .tables(move |read| {
                if let Some(row) = tables::authorization_by_van_tx(read, merchant_id, &key)? {
                    let record = read_authorization(read, row)?;
                    return Ok(Some(VanTx::Authorization(Box::new(record))));
                }
                let cancelled = tables::cancel_by_key(read, merchant_id, &key)?;
                Ok(cancelled.map(VanTx::Cancel))
            })
            .await?)
    }

    /// At start: moves the authorizations of the record store's older layout into the
    /// tables, each finished from the ledger first if a crash cut a step short (the last
    /// use of the old recovery: new authorizations are one commit).
    pub(crate) async fn import_authorization_records(&self) -> Result<(), PlatformError> {
        let legacy = std::mem::take(&mut self.legacy().authorizations);
        for chunk in legacy.chunks(IMPORT_BATCH_MAX) {
            let mut rows = Vec::new();
            for record in chunk {
                let resolved = self.resolved_from_ledger(record.clone()).await?;
                rows.extend(authorization_rows(&resolved));
                rows.extend(record_rows([RecordWrite::Delete {
                    kind: KIND_AUTHORIZATION.into(),
                    key: id_key(record.id).to_vec(),
                }]));
            }
            self.ledger.record(rows).await?;
        }
        Ok(())
    }
}

/// An authorization from its row, with its cancels and its voucher's figures read in the
/// same read.
pub(crate) fn read_authorization(
    read: &mut TableRead<'_>,
    row: AuthorizationRow,
) -> Result<AuthorizationRecord, StoreError> {
    let cancels = tables::cancels(read, row.id)?;
    let voucher = row
        .voucher_id
        .map(|voucher_id| crate::vouchers::voucher_use(read, voucher_id))
        .transpose()?;
    Ok(from_rows(row, cancels, voucher))
}

/// An authorization's rows: its own and each cancel's.
pub(crate) fn authorization_rows(record: &AuthorizationRecord) -> Vec<RowRef> {
    let mut rows: Vec<RowRef> = vec![Arc::new(row_of(record))];
    for cancel in &record.cancels {
        rows.push(Arc::new(cancel_row_of(record.id, cancel)));
    }
    rows
}

fn row_of(record: &AuthorizationRecord) -> AuthorizationRow {
    AuthorizationRow {
        id: record.id,
        merchant_id: record.merchant_id,
        terminal_id: record.terminal_id,
        member_id: record.member_id,
        van_tx_id: record.van_tx_id.clone(),
        request_digest: record.request_digest.clone(),
        amount: record.amount,
        capture: record.capture,
        allow_partial: record.allow_partial,
        status: record.status,
        decline_reason: record.decline_reason.map(|r| r.as_str().to_string()),
        approved_amount: record.approved_amount,
        captured_amount: record.captured_amount,
        refunded_amount: record.refunded_amount,
        network_cancelled: record.network_cancelled,
        created_at_s: record.created_at_s,
        captured_at_s: record.captured_at_s,
        settlement_id: record.settlement_id,
        voucher_id: record.voucher.map(|voucher| voucher.voucher_id),
    }
}

fn cancel_row_of(authorization_id: u128, cancel: &CancelEntry) -> CancelRow {
    CancelRow {
        authorization_id,
        key: cancel.key.clone(),
        requested_amount: cancel.requested_amount,
        kind: cancel.kind,
        amount: cancel.amount,
        transfer_id: cancel.transfer_id,
        status: cancel.status,
        created_at_s: cancel.created_at_s,
        settlement_id: cancel.settlement_id,
    }
}

pub(crate) fn from_rows(
    row: AuthorizationRow,
    mut cancels: Vec<CancelRow>,
    voucher: Option<VoucherUse>,
) -> AuthorizationRecord {
    cancels.sort_by_key(|cancel| cancel.created_at_s);
    AuthorizationRecord {
        id: row.id,
        merchant_id: row.merchant_id,
        terminal_id: row.terminal_id,
        member_id: row.member_id,
        van_tx_id: row.van_tx_id,
        request_digest: row.request_digest,
        amount: row.amount,
        capture: row.capture,
        allow_partial: row.allow_partial,
        status: row.status,
        decline_reason: row.decline_reason.as_deref().and_then(DeclineReason::parse),
        approved_amount: row.approved_amount,
        captured_amount: row.captured_amount,
        refunded_amount: row.refunded_amount,
        network_cancelled: row.network_cancelled,
        cancels: cancels
            .into_iter()
            .map(|cancel| CancelEntry {
                key: cancel.key,
                requested_amount: cancel.requested_amount,
                kind: cancel.kind,
                amount: cancel.amount,
                transfer_id: cancel.transfer_id,
                status: cancel.status,
                created_at_s: cancel.created_at_s,
                settlement_id: cancel.settlement_id,
            })
            .collect(),
        created_at_s: row.created_at_s,
        captured_at_s: row.captured_at_s,
        settlement_id: row.settlement_id,
        voucher,
    }
}
