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
//! - Limits and the credit line are checked and reserved under the state lock, before the
//!   partner is asked, so concurrent exchanges can never pass them together.

use crate::error::Entity;
use std::sync::Arc;
use std::time::Duration;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferId};

use crate::chart::{self, transfer_code};
use crate::domain::{self, ExchangeRecord, ExchangeStatus, KIND_EXCHANGE, State, id_key};
use crate::error::{PlatformError, invalid};
use crate::service::Platform;
use ports::gateway::{DebitOutcome, DebitRequest, DebitStatus, PartnerEndpoint, Refusal};
use ports::time::{kst_day, kst_month, now_ms, now_s};

pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;
/// Exchanges the resolver takes per sweep.
pub const RESOLVER_SWEEP_MAX: usize = 1024;
/// Largest mileage of one exchange.
pub const EXCHANGE_MILEAGE_MAX: u64 = 1_000_000_000_000;
/// Exchanges listed per admin page.
pub const EXCHANGES_PAGE_MAX: usize = 1000;

#[derive(Clone, Debug)]
pub struct ExchangeRequest {
    pub member_id: u128,
    pub link_id: u128,
    pub mileage: u64,
    pub idempotency_key: Option<String>,
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
    fn queue(self, state: &mut State) -> &mut std::collections::HashMap<u128, domain::Retry> {
        match self {
            Work::Resolve => &mut state.open_exchanges,
            Work::Cancel => &mut state.pending_cancels,
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
        self.platform.lock().driving.remove(&self.id);
    }
}

impl Platform {
    /// Starts (or, for a known `Idempotency-Key`, finds) an exchange and drives it as far as
    /// the partner's answer allows. Definitive refusals come back as errors; an exchange the
    /// partner has not clearly answered comes back `Requested` and is finished in the
    /// background.
    pub async fn exchange(
        &self,
        request: ExchangeRequest,
    ) -> Result<ExchangeRecord, PlatformError> {
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX)
        {
            return Err(invalid("Idempotency-Key", "1 to 128 bytes"));
        }
        if request.mileage == 0 || request.mileage > EXCHANGE_MILEAGE_MAX {
            return Err(invalid("mileage", format!("1 to {EXCHANGE_MILEAGE_MAX}")));
        }
        let (record, created, sequence) = {
            let mut state = self.lock();
            self.begin_exchange(&mut state, &request)?
        };
        // The claim begin_exchange took is released however this ends, even if the client
        // goes away mid-way (the future is dropped): the resolver then finishes the job.
        // Built only if taken (`then`, not `then_some`): a claim dropped unowned would release
        // the claim of the request that does drive it.
        let claim = created.then(|| DrivingClaim {
            platform: self,
            id: record.id,
        });
        self.durable(sequence).await?;
        if claim.is_some() {
            self.drive(record.id, Step::Debit).await;
        }
        drop(claim);
        let (record, sequence) = {
            let state = self.lock();
            (state.exchanges[&record.id].clone(), self.writer.enqueued())
        };
        // Answer only what is durable: the record that finished the exchange may still be
        // queued, or lost to a failed write (then a restart resolves it again).
        self.durable(sequence).await?;
        outcome(record)
    }

    fn begin_exchange(
        &self,
        state: &mut State,
        request: &ExchangeRequest,
    ) -> Result<(ExchangeRecord, bool, u64), PlatformError> {
        if let Some(key) = &request.idempotency_key
            && let Some(id) = state.exchange_by_key.get(&(request.member_id, key.clone()))
        {
            let existing = state.exchanges[id].clone();
            if existing.link_id != request.link_id || existing.mileage != request.mileage {
                return Err(PlatformError::IdempotencyConflict);
            }
            return Ok((existing, false, self.writer.enqueued()));
        }
        if self.members.is_withdrawing(request.member_id) {
            return Err(PlatformError::ExchangeInProgress); // A withdrawal is in progress.
        }
        let link = state
            .links
            .get(&request.link_id)
            .filter(|link| link.member_id == request.member_id && !link.removed)
            .ok_or(PlatformError::NotFound(Entity::Link))?
            .clone();
        let partner = state
            .partners
            .get(&link.partner_id)
            .ok_or(PlatformError::NotFound(Entity::Partner))?;
        if !partner.enabled {
            return Err(PlatformError::PartnerDisabled);
        }
        let now = now_s();
        let rate = partner.rate_at(now).ok_or(PlatformError::NoRate)?;
        let unit = partner.minimum_unit;
        if request.mileage < unit || !request.mileage.is_multiple_of(unit) {
            return Err(PlatformError::BelowMinimumUnit { minimum_unit: unit });
        }
        let mvp = u128::from(request.mileage) * u128::from(rate.num) / u128::from(rate.den);
        let mvp = u64::try_from(mvp).map_err(|_| invalid("mileage", "worth too much MVP"))?;
        if mvp == 0 {
            return Err(PlatformError::AmountTooSmall);
        }
        check_limits(state, request.member_id, partner, mvp, now)?;
        let figures = state
            .partner_figures
            .get(&partner.id)
            .copied()
            .unwrap_or_default();
        let outstanding = figures.outstanding_mvp() + figures.reserved_mvp + u128::from(mvp);
        if outstanding > u128::from(partner.credit_line) {
            return Err(PlatformError::CreditLineExceeded);
        }
        let record = ExchangeRecord {
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
        };
        let write = domain::put(KIND_EXCHANGE, &id_key(record.id), &record);
        // Queued first: if the queue refuses, the state is left as it was.
        let sequence = self.queue(vec![write])?;
        state.insert_exchange(record.clone());
        // The request drives it first; the resolver waits its turn.
        state.driving.insert(record.id);
        Ok((record, true, sequence))
    }

    /// Claims an exchange for one driver; `None` if another task drives it.
    fn claim(&self, id: u128) -> Option<DrivingClaim<'_>> {
        let taken = self.lock().driving.insert(id);
        taken.then(|| DrivingClaim { platform: self, id })
    }

    /// Moves a requested exchange one step: debit (first time) or resolve (status query).
    /// The caller holds the exchange's claim.
    async fn drive(&self, id: u128, step: Step) {
        let claimed = {
            let state = self.lock();
            if state.open_exchanges.contains_key(&id) {
                let record = state.exchanges[&id].clone();
                self.endpoint(&state, record.partner_id)
                    .map(|endpoint| (record, endpoint))
            } else {
                None
            }
        };
        let Some((record, endpoint)) = claimed else {
            return;
        };
        let result = match step {
            Step::Debit => self.debit(&record, &endpoint).await,
            Step::Resolve => self.resolve(&record, &endpoint).await,
        };
        if let Err(reason) = result {
            tracing::debug!(exchange = %record.reference(), %reason, "exchange unresolved; will retry");
            self.schedule_retry(id, Work::Resolve);
        }
    }

    /// Err(reason) means "not resolved yet, try again later".
    async fn debit(
        &self,
        record: &ExchangeRecord,
        endpoint: &PartnerEndpoint,
    ) -> Result<(), String> {
        let request = DebitRequest {
            reference: record.reference(),
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
        record: &ExchangeRecord,
        endpoint: &PartnerEndpoint,
    ) -> Result<(), String> {
        let reference = record.reference();
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
        record: &ExchangeRecord,
        endpoint: &PartnerEndpoint,
    ) -> Result<(), String> {
        let transfer = Transfer {
            id: TransferId(record.id),
            debit_account_id: AccountId(record.partner_id),
            credit_account_id: AccountId(record.member_id),
            amount: u128::from(record.mvp),
            user_data_128: record.id,
            user_data_64: record.mileage,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::EXCHANGE,
            ..Transfer::default()
        };
        // The credit and the `Completed` record are one commit: a crash keeps both or
        // neither (then the resolver finds the partner's debit and credits again).
        let now = now_s();
        let committing = {
            let state = self.lock();
            let mut completed = state
                .exchanges
                .get(&record.id)
                .cloned()
                .ok_or_else(|| "the exchange is gone".to_string())?;
            completed.status = ExchangeStatus::Completed;
            completed.failure = None;
            completed.finished_at_s = Some(now);
            let write = domain::put(KIND_EXCHANGE, &id_key(record.id), &completed);
            self.enqueue_commit(vec![transfer], move |outcome| match outcome.results[0] {
                CreateTransferResult::Ok | CreateTransferResult::Exists => {
                    (crate::persist::record_rows([write]), Ok(()))
                }
                refused => (Vec::new(), Err(refused)),
            })
            .map_err(|error| error.to_string())?
        };
        let credited = committing.done().await.map_err(|error| error.to_string())?;
        match credited {
            Ok(()) => {
                let mut state = self.lock();
                state.finish_exchange(record.id, ExchangeStatus::Completed, None, now);
                Ok(())
            }
            Err(refused) => {
                // Cannot credit: give the mileage back, then the exchange is reversed.
                tracing::error!(exchange = %record.reference(), result = refused.as_str(), "credit refused; reversing");
                self.partner_gateway
                    .cancel(endpoint, &record.reference())
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

    async fn finish(&self, id: u128, finish: Finish) -> Result<(), String> {
        let sequence = {
            let mut state = self.lock();
            if state
                .finish_exchange(id, finish.status, finish.failure, now_s())
                .is_none()
            {
                return Ok(());
            }
            if finish.cancel_pending {
                state.pending_cancels.insert(id, domain::Retry::default());
                if let Some(record) = state.exchanges.get_mut(&id) {
                    record.cancel_pending = true;
                }
            }
            let write = domain::put(KIND_EXCHANGE, &id_key(id), &state.exchanges[&id]);
            self.queue(vec![write]).map_err(|error| error.to_string())?
        };
        self.durable(sequence)
            .await
            .map_err(|error| error.to_string())
    }

    /// Retries the cancel of a refused reference; clears the mark once it went through.
    async fn retry_cancel(&self, id: u128) {
        let target = {
            let state = self.lock();
            state.exchanges.get(&id).and_then(|record| {
                let endpoint = self.endpoint(&state, record.partner_id)?;
                Some((record.reference(), endpoint))
            })
        };
        let Some((reference, endpoint)) = target else {
            return;
        };
        if let Err(error) = self.partner_gateway.cancel(&endpoint, &reference).await {
            tracing::debug!(%reference, %error, "cancel not through yet; will retry");
            self.schedule_retry(id, Work::Cancel);
            return;
        }
        let sequence = {
            let mut state = self.lock();
            state.pending_cancels.remove(&id);
            let Some(record) = state.exchanges.get_mut(&id) else {
                return;
            };
            record.cancel_pending = false;
            let write = domain::put(KIND_EXCHANGE, &id_key(id), record);
            self.queue(vec![write])
        };
        if let Ok(sequence) = sequence {
            let _ = self.durable(sequence).await;
        }
    }

    fn schedule_retry(&self, id: u128, work: Work) {
        let mut state = self.lock();
        let base = self.config.resolver_backoff_base_ms;
        let max = self.config.resolver_backoff_max_ms;
        if let Some(retry) = work.queue(&mut state).get_mut(&id) {
            let shift = retry.attempts.min(20);
            let delay = base.saturating_mul(1 << shift).min(max);
            retry.attempts += 1;
            retry.next_attempt_ms = now_ms() + delay;
        }
    }

    /// Exchanges due for another attempt of `work`, at most `limit`.
    fn due(&self, work: Work, limit: usize) -> Vec<u128> {
        let now = now_ms();
        let mut state = self.lock();
        let driving = std::mem::take(&mut state.driving);
        let mut due: Vec<(u64, u128)> = work
            .queue(&mut state)
            .iter()
            .filter(|(id, retry)| retry.next_attempt_ms <= now && !driving.contains(id))
            .map(|(id, retry)| (retry.next_attempt_ms, *id))
            .collect();
        state.driving = driving;
        due.sort_unstable();
        due.into_iter().take(limit).map(|(_, id)| id).collect()
    }

    /// One exchange as its member sees it.
    pub async fn member_exchange(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<ExchangeRecord, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        state
            .exchanges
            .get(&id)
            .filter(|e| e.member_id == member_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Exchange))
    }

    /// Exchanges for operators, newest first, optionally only those with `status`.
    pub async fn exchanges(
        &self,
        status: Option<ExchangeStatus>,
        limit: usize,
    ) -> Result<Vec<ExchangeRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let mut list: Vec<ExchangeRecord> = state
            .exchanges
            .values()
            .filter(|e| status.is_none_or(|s| e.status == s))
            .cloned()
            .collect();
        list.sort_by_key(|e| std::cmp::Reverse((e.created_at_s, e.id)));
        list.truncate(limit.clamp(1, EXCHANGES_PAGE_MAX));
        Ok(list)
    }

    /// Counts of exchanges per status.
    pub fn exchange_counts(&self) -> [(ExchangeStatus, u64); 4] {
        let state = self.lock();
        let mut counts = [
            (ExchangeStatus::Requested, 0),
            (ExchangeStatus::Completed, 0),
            (ExchangeStatus::Failed, 0),
            (ExchangeStatus::Reversed, 0),
        ];
        for exchange in state.exchanges.values() {
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == exchange.status) {
                entry.1 += 1;
            }
        }
        counts
    }
}

/// Per member and partner, MVP of exchanges not failed must stay within the day's and the
/// month's limits (KST).
fn check_limits(
    state: &State,
    member_id: u128,
    partner: &domain::PartnerRecord,
    mvp: u64,
    now: u64,
) -> Result<(), PlatformError> {
    let (today, this_month) = (kst_day(now), kst_month(now));
    let (mut day_used, mut month_used) = (0u64, 0u64);
    let ids = state
        .exchanges_by_member
        .get(&member_id)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for id in ids.iter().rev() {
        let exchange = &state.exchanges[id];
        if kst_month(exchange.created_at_s) != this_month {
            break;
        }
        let counts = matches!(
            exchange.status,
            ExchangeStatus::Requested | ExchangeStatus::Completed
        );
        if exchange.partner_id != partner.id || !counts {
            continue;
        }
        month_used = month_used.saturating_add(exchange.mvp);
        if kst_day(exchange.created_at_s) == today {
            day_used = day_used.saturating_add(exchange.mvp);
        }
    }
    if day_used.saturating_add(mvp) > partner.daily_limit {
        return Err(PlatformError::LimitExceeded {
            period: "daily",
            limit: partner.daily_limit,
            used: day_used,
        });
    }
    if month_used.saturating_add(mvp) > partner.monthly_limit {
        return Err(PlatformError::LimitExceeded {
            period: "monthly",
            limit: partner.monthly_limit,
            used: month_used,
        });
    }
    Ok(())
}

fn refusal_name(refusal: &Refusal) -> String {
    match refusal {
        Refusal::InsufficientMileage => "insufficient_mileage".into(),
        Refusal::UnknownMember => "unknown_member".into(),
        Refusal::ReferenceCancelled => "reference_cancelled".into(),
        Refusal::Other(code) => format!("refused:{code}"),
    }
}

/// A final refusal becomes the error the member sees; anything else is returned as is.
fn outcome(record: ExchangeRecord) -> Result<ExchangeRecord, PlatformError> {
    if record.status != ExchangeStatus::Failed {
        return Ok(record);
    }
    match record.failure.as_deref() {
        Some("insufficient_mileage") => Err(PlatformError::InsufficientMileage {
            exchange_id: record.id,
        }),
        Some("unknown_member") => Err(PlatformError::UnknownPartnerMember),
        Some(reason) if reason.starts_with("refused:") => Err(PlatformError::PartnerRefused {
            reason: reason.trim_start_matches("refused:").to_string(),
            exchange_id: Some(record.id),
        }),
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
        let mut sweeps: u64 = 0;
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
                    if let Some(_claim) = platform.claim(id) {
                        match kind {
                            Work::Resolve => platform.drive(id, Step::Resolve).await,
                            Work::Cancel => platform.retry_cancel(id).await,
                        }
                    }
                    drop(permit);
                });
            }
            sweeps += 1;
            if sweeps.is_multiple_of(240) {
                let platform = platform.clone();
                tokio::spawn(async move {
                    if let Err(error) = platform.expire_credentials().await {
                        tracing::warn!(%error, "cannot expire credentials");
                    }
                });
            }
            tokio::time::sleep(interval).await;
        }
    });
}
