//! The exchange saga (MV-2, TT-11): partner mileage in, MVP out, exactly once.
//!
//! ```text
//!  request ──► Requested (durable) ──debit──► partner says debited ──credit──► Completed
//!                 │                  └──────► partner refused ────────────────► Failed
//!                 └─ no clear answer: the resolver asks the partner's status:
//!                      debited ──credit──► Completed        (credit refused ─cancel─► Reversed)
//!                      not found ──cancel (the partner then refuses a late debit)──► Failed
//!                      cancelled ─────────────────────────────────────────────► Failed
//! ```
//!
//! - The exchange is durable as `Requested` before the partner hears of it, so a crash at any
//!   later point leaves a record that the resolver picks up at start.
//! - The member is credited only after the partner confirmed its debit. The credit is the
//!   ledger transfer whose id is the exchange id, from the partner's issuance account, in
//!   one commit with the `Completed` record (a crash keeps both or neither); a repeated
//!   credit finds `exists` and moves nothing, so the partner's receivable is always exactly
//!   the MVP issued for it.
//! - The reference sent to the partner is the exchange id, so every retry and every status
//!   query names the same debit.
//! - Limits and the credit line are checked and reserved before the partner is asked: one
//!   request per member at a time reads the member's sums from the table, and the credit
//!   line is reserved under the context's lock, so concurrent exchanges can never pass
//!   them together.
//! - Exchanges and links live in their tables (`store::tables::exchanges`); memory holds
//!   only open work and per-partner figures (see `working`).

pub mod error;
pub use error::ExchangeError;
mod rows;
mod working;

use crate::members::error::MemberError;
use std::sync::Arc;
use std::time::Duration;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferId};
use store::tables::exchanges as tables;

use crate::chart::{self, transfer_code};
use crate::domain::{ExchangeRow, ExchangeStatus, LinkRow, PartnerRecord};
use crate::error::{Entity, PlatformError, invalid};
use crate::idempotency::{Replayable, Scope};
use crate::partners;
use crate::service::Platform;
use ports::gateway::{DebitOutcome, DebitRequest, DebitStatus, PartnerEndpoint, Refusal};
use ports::time::{kst_day_start_s, kst_month_start_s, now_ms, now_s};

pub(crate) use rows::legacy_rows;
pub(crate) use working::{Claimed, Tracked};
pub use working::{EXCHANGES_OPEN_MAX, Exchanges, PartnerFigures, Retry};

/// Oldest counts per status a metrics scrape shows (see `Platform::exchange_counts_recent`).
pub const EXCHANGE_COUNTS_AGE_MAX_MS: u64 = 60_000;
/// Exchanges the resolver takes per sweep.
pub const RESOLVER_SWEEP_MAX: usize = 1024;
/// Largest mileage of one exchange.
pub const EXCHANGE_MILEAGE_MAX: u64 = 1_000_000_000_000;
/// Largest MVP one exchange may credit (10^12 KRW; amounts stay far below 2^63).
pub const EXCHANGE_MVP_MAX: u64 = 1_000_000_000_000;
/// Exchanges listed per admin page.
pub const EXCHANGES_PAGE_MAX: usize = tables::EXCHANGES_PAGE_MAX;

#[derive(Clone, Debug)]
pub struct ExchangeRequest {
    pub member_id: u128,
    pub link_id: u128,
    pub mileage: u64,
    pub idempotency_key: Option<String>,
}

/// What an exchange would give (`Platform::quote_exchange`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangeQuote {
    pub partner_id: u128,
    pub mileage: u64,
    pub mvp: u64,
    pub rate: crate::domain::Rate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Send the debit (first attempt, from the request).
    Debit,
    /// Ask the partner what happened (resolver).
    Resolve,
}

/// What the resolver does for an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// Find out what happened to a requested exchange.
    Resolve,
    /// Cancel the reference of a refused exchange.
    Cancel,
}

impl Work {
    fn queue(
        self,
        working: &mut working::Working,
    ) -> &mut std::collections::HashMap<u128, Tracked> {
        match self {
            Work::Resolve => &mut working.open,
            Work::Cancel => &mut working.cancels,
        }
    }
}

/// How an exchange ends.
struct Finish {
    status: ExchangeStatus,
    failure: Option<String>,
    cancel_pending: bool,
}

impl Finish {
    fn plain(status: ExchangeStatus, failure: Option<String>) -> Finish {
        Finish {
            status,
            failure,
            cancel_pending: false,
        }
    }
}

/// Removes an exchange from `driving` when the task driving it ends, however it ends.
struct DrivingClaim<'a> {
    platform: &'a Platform,
    id: u128,
}

impl Drop for DrivingClaim<'_> {
    fn drop(&mut self) {
        self.platform.exchanges.lock().driving.remove(&self.id);
    }
}

/// A new exchange, queued.
struct Started<'a> {
    record: ExchangeRow,
    driving: DrivingClaim<'a>,
    pending: Pending<'a>,
    /// A prepaid partner's reservation refused by the ledger comes back as its result.
    committing: crate::service::Committing<Result<(), CreateTransferResult>>,
}

/// An exchange among its member's queued ones until dropped (once its row is durable, or
/// the request is gone).
struct Pending<'a> {
    platform: &'a Platform,
    member_id: u128,
    id: u128,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut working = self.platform.exchanges.lock();
        if let Some(queued) = working.pending.get_mut(&self.member_id) {
            queued.retain(|record| record.id != self.id);
            if queued.is_empty() {
                working.pending.remove(&self.member_id);
            }
        }
    }
}

/// A known exchange answers a request with the same key, unless the request differs.
fn known_reads(existing: ExchangeRow, request: &ExchangeRequest) -> Result<Reads, PlatformError> {
    if existing.link_id != request.link_id || existing.mileage != request.mileage {
        return Err(PlatformError::IdempotencyConflict);
    }
    Ok(Reads::Known(existing))
}

/// What a request's reads found: the exchange its idempotency key names, or what a new
/// exchange is checked against.
enum Reads {
    Known(ExchangeRow),
    New(Context),
}

/// What a new exchange is checked against, read before the locks.
struct Context {
    link: LinkRow,
    day_used: u64,
    month_used: u64,
}

/// The reference sent to the partner for an exchange: its id, 32 hex digits.
pub fn reference(exchange_id: u128) -> String {
    format!("{exchange_id:032x}")
}

impl Platform {
    /// Starts (or, for a known `Idempotency-Key`, finds) an exchange and drives it as far as
    /// the partner's answer allows. Definitive refusals come back as errors; an exchange the
    /// partner has not clearly answered comes back `Requested` and is finished in the
    /// background.
    pub async fn exchange(&self, request: ExchangeRequest) -> Result<ExchangeRow, PlatformError> {
        Ok(self.exchange_once(request).await?.value)
    }

    /// [`Platform::exchange`], telling whether the answer is an earlier request's under
    /// the same `Idempotency-Key` (see `idempotency`).
    pub async fn exchange_once(
        &self,
        request: ExchangeRequest,
    ) -> Result<Replayable<ExchangeRow>, PlatformError> {
        let key = request.idempotency_key.as_deref();
        let _in_flight = self
            .idempotency
            .begin(Scope::Exchange, request.member_id, key)?;
        if request.mileage == 0 || request.mileage > EXCHANGE_MILEAGE_MAX {
            return Err(invalid("mileage", format!("1 to {EXCHANGE_MILEAGE_MAX}")));
        }
        let (record, driving) = {
            // One request per member at a time reads its sums and its key and queues its
            // `requested` row; the next one counts it from `pending` until it is durable.
            let claim = self
                .exchanges
                .claim(Claimed::Member(request.member_id))
                .await?;
            match self.exchange_reads(&request).await? {
                Reads::Known(existing) => {
                    // It may still be queued: answer it once it is durable.
                    self.settle_reads().await?;
                    (existing, None)
                }
                Reads::New(context) => {
                    let started = self.start_exchange(&request, context)?;
                    drop(claim);
                    // A failed commit stops the writer (fail-stop): the reservation goes
                    // with the process, and a restart finds no row.
                    let reserved = started.committing.done().await?;
                    drop(started.pending);
                    if let Err(refused) = reserved {
                        return Err(self.abandon_start(&started.record, refused));
                    }
                    (started.record, Some(started.driving))
                }
            }
        };
        let replayed = driving.is_none();
        let mut finished = None;
        if let Some(driving) = driving {
            // The driving claim is released however this ends, even if the client goes
            // away mid-way (the future is dropped): the resolver then finishes the job.
            finished = self.drive(record.id, Step::Debit).await;
            drop(driving);
        }
        // Answer only what is durable: a step whose commit failed stopped the writer, and
        // the exchange in memory may be ahead of the table (a restart resolves it again).
        if let Some(failure) = self.failure() {
            return Err(PlatformError::Unavailable(failure));
        }
        let answer = match finished {
            Some(record) => outcome(record)?,
            None => outcome(self.current_exchange(record.id).await?)?,
        };
        Ok(Replayable {
            value: answer,
            replayed,
        })
    }

    /// What an exchange of `mileage` on `link_id` would give now, checked as the exchange
    /// itself would be (the link proven, the partner's rate, unit and limits), with nothing
    /// reserved or written: the app shows it before the member confirms. The exchange may
    /// still be refused if the rate or the member's usage changes in between.
    pub async fn quote_exchange(
        &self,
        member_id: u128,
        link_id: u128,
        mileage: u64,
    ) -> Result<ExchangeQuote, PlatformError> {
        if mileage == 0 || mileage > EXCHANGE_MILEAGE_MAX {
            return Err(invalid("mileage", format!("1 to {EXCHANGE_MILEAGE_MAX}")));
        }
        let request = ExchangeRequest {
            member_id,
            link_id,
            mileage,
            idempotency_key: None,
        };
        let Reads::New(context) = self.exchange_reads(&request).await? else {
            unreachable!("a request without a key is new");
        };
        let partner = self
            .catalogue
            .lock()
            .partners
            .get(&context.link.partner_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Partner))?;
        let record = new_exchange(&request, &partner, &context)?;
        if let Some(available) = self.prepaid_available(partner.id).await? {
            if u128::from(record.mvp) > available {
                return Err(PlatformError::Exchange(ExchangeError::PrepaidExceeded));
            }
        } else {
            let figures = self.exchanges.lock().figures.get(&partner.id).copied();
            if !figures
                .unwrap_or_default()
                .fits_credit_line(record.mvp, partner.credit_line)
            {
                return Err(PlatformError::Exchange(ExchangeError::CreditLineExceeded));
            }
        }
        Ok(ExchangeQuote {
            partner_id: record.partner_id,
            mileage: record.mileage,
            mvp: record.mvp,
            rate: record.rate,
        })
    }

    /// What a request is checked against, in one read: the member's exchange under the
    /// request's idempotency key, if any (a different request under the same key is a
    /// conflict); else the request's link (the member's own, not removed) and the member's
    /// usage at its partner this KST day and month.
    async fn exchange_reads(&self, request: &ExchangeRequest) -> Result<Reads, PlatformError> {
        let (member_id, link_id) = (request.member_id, request.link_id);
        // The member's queued exchanges, taken before the table is read.
        let pending = self
            .exchanges
            .lock()
            .pending
            .get(&member_id)
            .cloned()
            .unwrap_or_default();
        let key = request.idempotency_key.clone();
        if let Some(key) = &key
            && let Some(known) = pending
                .iter()
                .find(|record| record.idempotency_key.as_ref() == Some(key))
        {
            return known_reads(known.clone(), request);
        }
        let now = now_s();
        let (day_start_s, month_start_s) = (kst_day_start_s(now), kst_month_start_s(now));
        let queued_ids: Vec<u128> = pending.iter().map(|record| record.id).collect();
        let (known, found) = self
            .ledger
            .tables(move |read| {
                if let Some(key) = key
                    && let Some(known) = tables::exchange_by_key(read, member_id, &key)?
                {
                    return Ok((Some(known), None));
                }
                let link = tables::link(read, link_id)?
                    .filter(|link| link.member_id == member_id && !link.removed);
                let Some(link) = link else {
                    return Ok((None, None));
                };
                // The queued rows are counted from memory, durable or not: left out here.
                let partner_id = link.partner_id;
                let [day, month] = tables::member_usage_since(
                    read,
                    member_id,
                    partner_id,
                    [day_start_s, month_start_s],
                    &queued_ids,
                )?;
                Ok((None, Some((link, day, month))))
            })
            .await?;
        if let Some(existing) = known {
            return known_reads(existing, request);
        }
        let (link, mut day_used, mut month_used) =
            found.ok_or(PlatformError::NotFound(Entity::Link))?;
        // Only a membership the partner proved is the member's to exchange.
        if link.status != tables::LinkStatus::Active {
            return Err(PlatformError::Exchange(ExchangeError::LinkNotProven));
        }
        // Queued, durable or not: counted from memory once (the sums left them out).
        let queued = pending.iter().filter(|r| r.partner_id == link.partner_id);
        for record in queued {
            if record.created_at_s >= month_start_s {
                month_used = month_used.saturating_add(record.mvp);
            }
            if record.created_at_s >= day_start_s {
                day_used = day_used.saturating_add(record.mvp);
            }
        }
        Ok(Reads::New(Context {
            link,
            day_used,
            month_used,
        }))
    }

    /// An exchange as it stands: open ones from memory, the others from the table.
    async fn current_exchange(&self, id: u128) -> Result<ExchangeRow, PlatformError> {
        if let Some(tracked) = self.exchanges.lock().open.get(&id) {
            return Ok(tracked.record.clone());
        }
        let row = self
            .ledger
            .tables(move |read| tables::exchange(read, id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Exchange))?;
        Ok(row)
    }

    /// Checks a new exchange, reserves it and queues its `requested` row; the caller holds
    /// the member's claim. Answers the exchange, its driving claim (taken with the
    /// reservation, so a request dropped at any point leaves it to the resolver), its place
    /// among the member's queued exchanges, and the commit to wait for.
    fn start_exchange(
        &self,
        request: &ExchangeRequest,
        context: Context,
    ) -> Result<Started<'_>, PlatformError> {
        let partner = self
            .catalogue
            .lock()
            .partners
            .get(&context.link.partner_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Partner))?;
        let record = new_exchange(request, &partner, &context)?;
        let mut working = self.exchanges.lock();
        if self.members.is_withdrawing(request.member_id) {
            return Err(PlatformError::Member(MemberError::ExchangeInProgress)); // A withdrawal is in progress.
        }
        if working.open.len() >= EXCHANGES_OPEN_MAX {
            return Err(working::busy());
        }
        let figures = working.figures.entry(partner.id).or_default();
        let mvp = u128::from(record.mvp);
        // A prepaid partner's reservation is the ledger's to refuse; one on credit is
        // checked against its line here.
        if !partner.prepaid && !figures.fits_credit_line(record.mvp, partner.credit_line) {
            return Err(PlatformError::Exchange(ExchangeError::CreditLineExceeded));
        }
        let row = rows::exchange_write(&record);
        let transfers = match partner.prepaid {
            true => vec![partners::prepaid::reservation(&record)],
            false => Vec::new(),
        };
        let committing =
            self.enqueue_commit(transfers, move |outcome| match outcome.results.first() {
                None | Some(CreateTransferResult::Ok) => (vec![row], Ok(())),
                Some(refused) => (Vec::new(), Err(*refused)),
            })?;
        figures.reserved_mvp += mvp;
        let tracked = Tracked {
            record: record.clone(),
            retry: Retry::default(),
        };
        working.open.insert(record.id, tracked);
        working
            .pending
            .entry(record.member_id)
            .or_default()
            .push(record.clone());
        // The request drives it first; the resolver waits its turn.
        working.driving.insert(record.id);
        Ok(Started {
            driving: DrivingClaim {
                platform: self,
                id: record.id,
            },
            pending: Pending {
                platform: self,
                member_id: record.member_id,
                id: record.id,
            },
            record,
            committing,
        })
    }

    /// Undoes a started exchange whose prepaid reservation the ledger refused: nothing was
    /// written and the partner was never asked. Answers the refusal.
    fn abandon_start(&self, record: &ExchangeRow, refused: CreateTransferResult) -> PlatformError {
        let mut working = self.exchanges.lock();
        let removed = working.open.remove(&record.id);
        assert!(
            removed.is_some(),
            "a started exchange is open until abandoned"
        );
        let figures = working.figures.entry(record.partner_id).or_default();
        figures.reserved_mvp -= u128::from(record.mvp);
        match refused {
            CreateTransferResult::ExceedsCredits => {
                PlatformError::Exchange(ExchangeError::PrepaidExceeded)
            }
            other => PlatformError::Unavailable(format!(
                "the prepaid reservation was refused: {}",
                other.as_str()
            )),
        }
    }

    /// Whether a partner is prepaid (points replacement, `partners::prepaid`).
    fn partner_is_prepaid(&self, partner_id: u128) -> bool {
        self.catalogue
            .lock()
            .partners
            .get(&partner_id)
            .is_some_and(|partner| partner.prepaid)
    }

    /// Claims an exchange for one driver; `None` if another task drives it.
    fn claim_driving(&self, id: u128) -> Option<DrivingClaim<'_>> {
        let taken = self.exchanges.lock().driving.insert(id);
        taken.then(|| DrivingClaim { platform: self, id })
    }

    /// Moves a requested exchange one step: debit (first time) or resolve (status query).
    /// The caller holds the exchange's claim. Answers the exchange if this step finished it.
    async fn drive(&self, id: u128, step: Step) -> Option<ExchangeRow> {
        let record = self
            .exchanges
            .lock()
            .open
            .get(&id)
            .map(|tracked| tracked.record.clone())?;
        let endpoint = self.endpoint(record.partner_id)?;
        let result = match step {
            Step::Debit => self.debit(&record, &endpoint).await,
            Step::Resolve => self.resolve(&record, &endpoint).await,
        };
        result.unwrap_or_else(|reason| {
            tracing::debug!(exchange = %crate::exchange::reference(record.id), %reason, "exchange unresolved; will retry");
            self.schedule_retry(id, Work::Resolve);
            None
        })
    }
    /// Err(reason) means "not resolved yet, try again later"; `Some` is the exchange as this
    /// step finished it.
    async fn debit(
        &self,
        record: &ExchangeRow,
        endpoint: &PartnerEndpoint,
    ) -> Result<Option<ExchangeRow>, String> {
        let request = DebitRequest {
            reference: crate::exchange::reference(record.id),
            member_ref: record.member_ref.clone(),
            mileage: record.mileage,
        };
        match self.partner_gateway.debit(endpoint, &request).await {
            Ok(DebitOutcome::Debited { .. }) => self.credit(record, endpoint).await,
            Ok(DebitOutcome::Refused(refusal)) => {
                // A refusal is not recorded by the partner; cancelling the reference makes
                // sure a delayed duplicate of this debit can never be applied later. If the
                // cancel does not go through now, the resolver retries it.
                let cancelled = self
                    .partner_gateway
                    .cancel(endpoint, &request.reference)
                    .await;
                if let Err(error) = &cancelled {
                    tracing::warn!(reference = %request.reference, %error, "cancel of a refused reference will be retried");
                }
                let finish = Finish {
                    status: ExchangeStatus::Failed,
                    failure: Some(refusal_name(&refusal)),
                    cancel_pending: cancelled.is_err(),
                };
                self.finish(record.id, finish).await
            }
            Err(error) => Err(error.to_string()),
        }
    }

    async fn resolve(
        &self,
        record: &ExchangeRow,
        endpoint: &PartnerEndpoint,
    ) -> Result<Option<ExchangeRow>, String> {
        let reference = crate::exchange::reference(record.id);
        let status = self
            .partner_gateway
            .status(endpoint, &reference)
            .await
            .map_err(|error| error.to_string())?;
        match status {
            DebitStatus::Debited {
                mileage,
                member_ref,
            } => {
                if mileage != record.mileage || member_ref != record.member_ref {
                    tracing::error!(%reference, mileage, %member_ref, "partner reports a different debit");
                    return Err("the partner's record differs from ours".into());
                }
                self.credit(record, endpoint).await
            }
            DebitStatus::Cancelled => {
                self.finish(
                    record.id,
                    Finish::plain(ExchangeStatus::Failed, Some("partner_unreachable".into())),
                )
                .await
            }
            DebitStatus::NotFound => {
                // The debit never arrived (or is still on its way): cancel the reference so
                // the partner refuses it if it arrives later, then the exchange has failed.
                self.partner_gateway
                    .cancel(endpoint, &reference)
                    .await
                    .map_err(|error| error.to_string())?;
                self.finish(
                    record.id,
                    Finish::plain(ExchangeStatus::Failed, Some("partner_unreachable".into())),
                )
                .await
            }
        }
    }

    /// Credits the member from the partner's issuance account (transfer id = exchange id).
    async fn credit(
        &self,
        record: &ExchangeRow,
        endpoint: &PartnerEndpoint,
    ) -> Result<Option<ExchangeRow>, String> {
        let transfer = match self.partner_is_prepaid(record.partner_id) {
            true => partners::prepaid::resolution(record, true),
            false => Transfer {
                id: TransferId(record.id),
                debit_account_id: AccountId(record.partner_id),
                credit_account_id: AccountId(record.member_id),
                amount: u128::from(record.mvp),
                user_data_128: record.id,
                user_data_64: record.mileage,
                ledger: chart::LEDGER_MVP,
                code: transfer_code::EXCHANGE,
                ..Transfer::default()
            },
        };
        // The credit and the `completed` row are one commit: a crash keeps both or neither
        // (then the resolver finds the partner's debit and credits again).
        let mut completed = record.clone();
        completed.status = ExchangeStatus::Completed;
        completed.failure = None;
        completed.finished_at_s = Some(now_s());
        let row = rows::exchange_write(&completed);
        let answer = completed;
        let committing = self
            .enqueue_commit(vec![transfer], move |outcome| match outcome.results[0] {
                CreateTransferResult::Ok | CreateTransferResult::Exists => (vec![row], Ok(())),
                refused => (Vec::new(), Err(refused)),
            })
            .map_err(|error| error.to_string())?;
        let credited = committing.done().await.map_err(|error| error.to_string())?;
        match credited {
            Ok(()) => Ok(self.close_open(record.id, None).map(|_| answer)),
            Err(refused) => {
                // Cannot credit: give the mileage back, then the exchange is reversed.
                tracing::error!(exchange = %crate::exchange::reference(record.id), result = refused.as_str(), "credit refused; reversing");
                self.partner_gateway
                    .cancel(endpoint, &crate::exchange::reference(record.id))
                    .await
                    .map_err(|error| error.to_string())?;
                let reason = format!("credit_refused:{}", refused.as_str());
                self.finish(
                    record.id,
                    Finish::plain(ExchangeStatus::Reversed, Some(reason)),
                )
                .await
            }
        }
    }

    /// Takes a finished exchange out of the open work and its MVP out of its partner's
    /// reservation (into `issued` when completed: `finished` is `None`); a failed one whose
    /// reference still needs a cancel joins the cancels. Answers the record as finished,
    /// or `None` if it was not open.
    fn close_open(&self, id: u128, finished: Option<&Finish>) -> Option<ExchangeRow> {
        // Read apart: the catalogue's lock is never taken under the exchanges' one. Only the
        // exchange's driver closes it, so it is still open below.
        let partner_id = self.exchanges.lock().open.get(&id)?.record.partner_id;
        let prepaid = self.partner_is_prepaid(partner_id);
        let mut working = self.exchanges.lock();
        let mut tracked = working.open.remove(&id)?;
        let now = now_s();
        let record = &mut tracked.record;
        match finished {
            None => {
                record.status = ExchangeStatus::Completed;
                record.failure = None;
            }
            Some(finish) => {
                assert!(finish.status.is_final(), "an exchange finishes final");
                record.status = finish.status;
                record.failure = finish.failure.clone();
                record.cancel_pending = finish.cancel_pending;
            }
        }
        record.finished_at_s = Some(now);
        let figures = working.figures.entry(record.partner_id).or_default();
        let mvp = u128::from(record.mvp);
        assert!(
            figures.reserved_mvp >= mvp,
            "reserved MVP below an open exchange"
        );
        figures.reserved_mvp -= mvp;
        // A prepaid partner's MVP was bought, not issued on credit: its prepaid account
        // tells what its members received.
        if record.status == ExchangeStatus::Completed && !prepaid {
            figures.issued_mvp += mvp;
        }
        let record = tracked.record.clone();
        if record.cancel_pending {
            let retry = Retry::default();
            working.cancels.insert(
                id,
                Tracked {
                    record: record.clone(),
                    retry,
                },
            );
        }
        Some(record)
    }

    async fn finish(&self, id: u128, finish: Finish) -> Result<Option<ExchangeRow>, String> {
        let Some(record) = self.close_open(id, Some(&finish)) else {
            return Ok(None);
        };
        let row = rows::exchange_write(&record);
        // A prepaid partner's reservation goes back with the failure, in its commit (a
        // crash keeps both or neither; a void found `exists` or already voided is done).
        let transfers = match self.partner_is_prepaid(record.partner_id) {
            true => vec![partners::prepaid::resolution(&record, false)],
            false => Vec::new(),
        };
        self.enqueue_commit(transfers, move |_| (vec![row], ()))
            .map_err(|error| error.to_string())?
            .done()
            .await
            .map_err(|error| error.to_string())?;
        Ok(Some(record))
    }

    /// Retries the cancel of a refused reference; clears the mark once it went through.
    async fn retry_cancel(&self, id: u128) {
        let record = self
            .exchanges
            .lock()
            .cancels
            .get(&id)
            .map(|tracked| tracked.record.clone());
        let Some(mut record) = record else {
            return;
        };
        let Some(endpoint) = self.endpoint(record.partner_id) else {
            return;
        };
        let reference = crate::exchange::reference(record.id);
        if let Err(error) = self.partner_gateway.cancel(&endpoint, &reference).await {
            tracing::debug!(%reference, %error, "cancel not through yet; will retry");
            self.schedule_retry(id, Work::Cancel);
            return;
        }
        record.cancel_pending = false;
        let row = rows::exchange_write(&record);
        let committed = match self.enqueue_commit(Vec::new(), move |_| (vec![row], ())) {
            Ok(committing) => committing.done().await,
            Err(error) => Err(error),
        };
        if committed.is_ok() {
            self.exchanges.lock().cancels.remove(&id);
        }
    }

    fn schedule_retry(&self, id: u128, work: Work) {
        let mut working = self.exchanges.lock();
        let base = self.config.resolver_backoff_base_ms;
        let max = self.config.resolver_backoff_max_ms;
        if let Some(tracked) = work.queue(&mut working).get_mut(&id) {
            let retry = &mut tracked.retry;
            let shift = retry.attempts.min(20);
            let delay = base.saturating_mul(1 << shift).min(max);
            retry.attempts += 1;
            retry.next_attempt_ms = now_ms() + delay;
        }
    }

    /// Exchanges due for another attempt of `work`, at most `limit`.
    fn due(&self, work: Work, limit: usize) -> Vec<u128> {
        let now = now_ms();
        let mut working = self.exchanges.lock();
        let driving = std::mem::take(&mut working.driving);
        let mut due: Vec<(u64, u128)> = work
            .queue(&mut working)
            .iter()
            .filter(|(id, tracked)| tracked.retry.next_attempt_ms <= now && !driving.contains(id))
            .map(|(id, tracked)| (tracked.retry.next_attempt_ms, *id))
            .collect();
        working.driving = driving;
        due.sort_unstable();
        due.into_iter().take(limit).map(|(_, id)| id).collect()
    }

    /// Loads the open work at start: exchanges still requested and cancels still owed,
    /// through their status indexes (time and memory follow open work, not history), and
    /// each partner's figures.
    pub(crate) async fn load_exchange_work(&self) -> Result<(), PlatformError> {
        for work in [Work::Resolve, Work::Cancel] {
            let mut after = None;
            loop {
                let page = self
                    .ledger
                    .tables(move |read| match work {
                        Work::Resolve => tables::open_exchanges(read, after, EXCHANGES_PAGE_MAX),
                        Work::Cancel => tables::cancels_pending(read, after, EXCHANGES_PAGE_MAX),
                    })
                    .await?;
                let Some(last) = page.last() else {
                    break;
                };
                after = Some(last.id);
                let mut working = self.exchanges.lock();
                for row in page {
                    let record = row;
                    if work == Work::Resolve {
                        let figures = working.figures.entry(record.partner_id).or_default();
                        figures.reserved_mvp += u128::from(record.mvp);
                    }
                    let tracked = Tracked {
                        record,
                        retry: Retry::default(),
                    };
                    work.queue(&mut working).insert(tracked.record.id, tracked);
                }
            }
        }
        Ok(())
    }

    /// One exchange as its member sees it.
    pub async fn member_exchange(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<ExchangeRow, PlatformError> {
        let record = self.current_exchange(id).await?;
        if record.member_id != member_id {
            return Err(PlatformError::NotFound(Entity::Exchange));
        }
        Ok(record)
    }

    /// Exchanges for operators, newest first, optionally only those with `status`.
    pub async fn exchanges(
        &self,
        status: Option<ExchangeStatus>,
        limit: usize,
    ) -> Result<Vec<ExchangeRow>, PlatformError> {
        self.exchanges_before(status, None, limit).await
    }

    /// A page of exchanges, newest first, made before `before` (`created_at_s`, id).
    pub async fn exchanges_before(
        &self,
        status: Option<ExchangeStatus>,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<ExchangeRow>, PlatformError> {
        let limit = limit.clamp(1, EXCHANGES_PAGE_MAX);
        Ok(self
            .ledger
            .tables(move |read| tables::exchanges_page(read, status, before, limit))
            .await?)
    }

    /// Counts of exchanges per status (a query over the status column).
    pub async fn exchange_counts(&self) -> Result<[(ExchangeStatus, u64); 4], PlatformError> {
        let counts = self.ledger.tables(tables::status_counts).await?;
        *self.exchanges.counts.lock().expect("exchange counts lock") =
            Some((std::time::Instant::now(), counts));
        Ok(counts)
    }

    /// [`Platform::exchange_counts`] at most [`EXCHANGE_COUNTS_AGE_MAX_MS`] old: what a
    /// metrics scrape shows, so that scrapes cost the table's scan once a minute at most
    /// however often they come.
    pub async fn exchange_counts_recent(
        &self,
    ) -> Result<[(ExchangeStatus, u64); 4], PlatformError> {
        let cached = *self.exchanges.counts.lock().expect("exchange counts lock");
        let age_max = Duration::from_millis(EXCHANGE_COUNTS_AGE_MAX_MS);
        match cached {
            Some((read_at, counts)) if read_at.elapsed() < age_max => Ok(counts),
            _ => self.exchange_counts().await,
        }
    }
}

/// A new exchange of the request at the partner, checked against the partner's rules and
/// the member's usage; nothing reserved yet.
fn new_exchange(
    request: &ExchangeRequest,
    partner: &PartnerRecord,
    context: &Context,
) -> Result<ExchangeRow, PlatformError> {
    if !partner.enabled {
        return Err(PlatformError::Exchange(ExchangeError::PartnerDisabled));
    }
    let now = now_s();
    let rate = partner
        .rate_at(now)
        .ok_or(PlatformError::Exchange(ExchangeError::NoRate))?;
    let unit = partner.minimum_unit;
    if request.mileage < unit || !request.mileage.is_multiple_of(unit) {
        return Err(PlatformError::Exchange(ExchangeError::BelowMinimumUnit {
            minimum_unit: unit,
        }));
    }
    let mvp = u128::from(request.mileage) * u128::from(rate.num) / u128::from(rate.den);
    let mvp = u64::try_from(mvp)
        .ok()
        .filter(|&mvp| mvp <= EXCHANGE_MVP_MAX)
        .ok_or_else(|| invalid("mileage", "worth too much MVP"))?;
    if mvp == 0 {
        return Err(PlatformError::Exchange(ExchangeError::AmountTooSmall));
    }
    check_limits(partner, context, mvp)?;
    let link = &context.link;
    Ok(ExchangeRow {
        id: chart::new_id(),
        member_id: request.member_id,
        partner_id: partner.id,
        link_id: link.id,
        member_ref: link.member_ref.clone(),
        mileage: request.mileage,
        mvp,
        rate,
        status: ExchangeStatus::Requested,
        failure: None,
        idempotency_key: request.idempotency_key.clone(),
        created_at_s: now,
        finished_at_s: None,
        cancel_pending: false,
    })
}

/// Per member and partner, MVP of exchanges not failed must stay within the day's and the
/// month's limits (KST).
fn check_limits(partner: &PartnerRecord, context: &Context, mvp: u64) -> Result<(), PlatformError> {
    let (day_used, month_used) = (context.day_used, context.month_used);
    if day_used.saturating_add(mvp) > partner.daily_limit {
        return Err(PlatformError::Exchange(ExchangeError::LimitExceeded {
            period: "daily",
            limit: partner.daily_limit,
            used: day_used,
        }));
    }
    if month_used.saturating_add(mvp) > partner.monthly_limit {
        return Err(PlatformError::Exchange(ExchangeError::LimitExceeded {
            period: "monthly",
            limit: partner.monthly_limit,
            used: month_used,
        }));
    }
    Ok(())
}

fn refusal_name(refusal: &Refusal) -> String {
    match refusal {
        Refusal::InsufficientMileage => "insufficient_mileage".into(),
        Refusal::UnknownMember => "unknown_member".into(),
        Refusal::ReferenceCancelled => "reference_cancelled".into(),
        Refusal::InvalidGrant => "invalid_grant".into(),
        Refusal::Other(code) => format!("refused:{code}"),
    }
}

/// A final refusal becomes the error the member sees; anything else is returned as is.
fn outcome(record: ExchangeRow) -> Result<ExchangeRow, PlatformError> {
    if record.status != ExchangeStatus::Failed {
        return Ok(record);
    }
    match record.failure.as_deref() {
        Some("insufficient_mileage") => Err(PlatformError::Exchange(
            ExchangeError::InsufficientMileage {
                exchange_id: record.id,
            },
        )),
        Some("unknown_member") => Err(PlatformError::Exchange(ExchangeError::UnknownPartnerMember)),
        Some(reason) if reason.starts_with("refused:") => {
            Err(PlatformError::Exchange(ExchangeError::PartnerRefused {
                reason: reason.trim_start_matches("refused:").to_string(),
                exchange_id: Some(record.id),
            }))
        }
        _ => Ok(record),
    }
}

/// Starts the background task that resolves exchanges whose outcome is unknown: at start
/// (every `Requested` exchange left by a crash) and whenever an answer was unclear.
pub(crate) fn spawn_resolver(platform: Arc<Platform>) {
    tokio::spawn(async move {
        let interval = Duration::from_millis(platform.config.resolver_interval_ms.max(1));
        let permits = Arc::new(tokio::sync::Semaphore::new(
            platform.config.resolver_concurrency_max.max(1),
        ));
        loop {
            if Arc::strong_count(&platform) == 1 {
                return; // Everybody else let go: the platform is shutting down.
            }
            let available = permits.available_permits().min(RESOLVER_SWEEP_MAX);
            let resolves = platform.due(Work::Resolve, available);
            let cancels = platform.due(Work::Cancel, available.saturating_sub(resolves.len()));
            let work = resolves
                .into_iter()
                .map(|id| (Work::Resolve, id))
                .chain(cancels.into_iter().map(|id| (Work::Cancel, id)));
            for (kind, id) in work {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                let platform = platform.clone();
                tokio::spawn(async move {
                    if let Some(_claim) = platform.claim_driving(id) {
                        match kind {
                            Work::Resolve => {
                                platform.drive(id, Step::Resolve).await;
                            }
                            Work::Cancel => platform.retry_cancel(id).await,
                        }
                    }
                    drop(permit);
                });
            }
            tokio::time::sleep(interval).await;
        }
    });
}
