//! Reward pools: one per content platform and period, funded by an operator from the
//! platform's ad revenue (`AD_REVENUE` → the pool's `CREATOR_POOL` account, once per
//! funding reference), then distributed by score in one linked chain (all or nothing),
//! each creator's reward with an id derived from the pool and the creator, so a repeated
//! distribution pays nothing twice. The pool ends at exactly zero. Fundings and
//! distributions run one at a time; a distribution holds the platform's claim (its reports
//! wait) from reading the scores to its commit.

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use store::tables::creators::{
    self as tables, CREATORS_PAGE_MAX, CreatorWrite, PayoutKind, PayoutRow, PoolRow, PoolStatus,
};

use super::error::CreatorError;
use super::score::{self, CREATOR_SCORE_MAX, Share};
use super::{check_period, check_reference};
use crate::authorization::derived_transfer_id;
use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

/// Largest one funding of a pool (MVP).
pub const FUNDING_MVP_MAX: u64 = 1_000_000_000_000;
/// Most creators one distribution pays: its rewards are one linked chain and one commit
/// (at most 1,024 rows: the pool's and one per creator). Beyond it, the highest scores
/// (ties to the smaller creator id) share the pool; docs/creators.md.
pub const CREATORS_PER_DISTRIBUTION_MAX: usize = 1_000;

/// A pool with what it was funded, has left and paid.
#[derive(Clone, Debug)]
pub struct PoolReport {
    pub pool: PoolRow,
    pub platform_name: String,
    pub funded_mvp: u64,
    pub remaining_mvp: u64,
    pub distributed_mvp: u64,
}

/// A distributed pool with its payouts (the largest first).
#[derive(Clone, Debug)]
pub struct Distribution {
    pub report: PoolReport,
    pub payouts: Vec<PayoutRow>,
    /// Whether this call paid them (false: they were paid before).
    pub paid_now: bool,
}

/// The id of a creator's reward from a pool.
pub fn reward_transfer_id(pool_id: u128, creator_id: u128) -> u128 {
    derived_transfer_id("creator-reward", pool_id, &creator_id.to_string())
}

/// The linked chain that pays `shares` (each `(share, member_id)`) out of the pool.
fn reward_transfers(pool_id: u128, shares: &[(Share, u128)]) -> Vec<Transfer> {
    let last = shares.len().saturating_sub(1);
    shares
        .iter()
        .enumerate()
        .map(|(index, (share, member_id))| Transfer {
            id: TransferId(reward_transfer_id(pool_id, share.creator_id)),
            debit_account_id: AccountId(pool_id),
            credit_account_id: AccountId(*member_id),
            amount: u128::from(share.amount),
            user_data_128: pool_id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CREATOR_REWARD,
            flags: match index < last {
                true => TransferFlags::LINKED,
                false => TransferFlags::empty(),
            },
            ..Transfer::default()
        })
        .collect()
}

/// `(creator_id, score)` of the creators who share a pool, and their members, in order.
type PayableScores = (Vec<(u128, u64)>, Vec<u128>);

/// The period's highest scores (at most [`CREATORS_PER_DISTRIBUTION_MAX`], each capped at
/// [`CREATOR_SCORE_MAX`]) of creators whose member can receive (active: a withdrawn
/// member's share goes to the others), with those members: `(scores, member ids)`.
fn payable_scores(
    read: &mut store::tables::TableRead<'_>,
    platform_id: u128,
    period: &str,
) -> Result<PayableScores, store::StoreError> {
    let limit = CREATORS_PER_DISTRIBUTION_MAX;
    let scores = tables::period_scores(read, platform_id, period, limit)?;
    let (mut payable, mut members) = (Vec::with_capacity(scores.len()), Vec::new());
    for (creator_id, score) in scores {
        let Some(creator) = tables::creator(read, creator_id)? else {
            continue;
        };
        let member = store::tables::members::member(read, creator.member_id)?;
        if member.is_some_and(|m| m.status == store::tables::members::MemberStatus::Active) {
            payable.push((creator_id, score.min(CREATOR_SCORE_MAX)));
            members.push(creator.member_id);
        }
    }
    Ok((payable, members))
}

impl Platform {
    /// Puts `amount` MVP of ad revenue into the platform's pool of `period` (made on the
    /// first funding), once per `reference`.
    pub async fn fund_creator_pool(
        &self,
        platform_id: u128,
        period: &str,
        amount: u64,
        reference: &str,
    ) -> Result<PoolReport, PlatformError> {
        if !(1..=FUNDING_MVP_MAX).contains(&amount) {
            return Err(invalid("amount", format!("1 to {FUNDING_MVP_MAX} MVP")));
        }
        check_period(period)?;
        check_reference("reference", reference)?;
        self.media_platform_row(platform_id).await?;
        let _one_at_a_time = self.creators.pools.lock().await;
        let pool = self.pool_for_funding(platform_id, period).await?;
        let funding = Transfer {
            id: TransferId(derived_transfer_id("creator-pool", pool.id, reference)),
            debit_account_id: chart::AD_REVENUE_ACCOUNT,
            credit_account_id: AccountId(pool.id),
            amount: u128::from(amount),
            user_data_128: pool.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CREATOR_POOL_FUNDING,
            ..Transfer::default()
        };
        match self.ledger.create_transfers(vec![funding]).await?[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => {}
            CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
                return Err(CreatorError::AdRevenueShort.into());
            }
            CreateTransferResult::ExistsWithDifferentAmount => {
                return Err(invalid("reference", "used for another amount"));
            }
            other => {
                let detail = format!("pool funding refused by the ledger: {other}");
                return Err(PlatformError::Unavailable(detail));
            }
        }
        self.pool_report(pool.id).await
    }

    /// The period's pool, made (its account and row) when it does not exist; refused once
    /// distributed.
    async fn pool_for_funding(
        &self,
        platform_id: u128,
        period: &str,
    ) -> Result<PoolRow, PlatformError> {
        let wanted = period.to_string();
        let found = self
            .ledger
            .tables(move |read| tables::pool_of_period(read, platform_id, &wanted))
            .await?;
        match found {
            Some(pool) if pool.status == PoolStatus::Distributed => {
                Err(CreatorError::PoolDistributed.into())
            }
            Some(pool) => Ok(pool),
            None => {
                let id = chart::new_id();
                let created = self
                    .ledger
                    .create_accounts(vec![chart::creator_pool(id)])
                    .await?;
                if !created[0].is_ok() {
                    let detail = format!("pool account: {}", created[0].as_str());
                    return Err(PlatformError::Unavailable(detail));
                }
                let pool = PoolRow {
                    id,
                    platform_id,
                    period: period.to_string(),
                    status: PoolStatus::Funded,
                    created_at_s: now_s(),
                    distributed_at_s: None,
                };
                self.commit_creator_rows(vec![CreatorWrite::Pool(pool.clone())])
                    .await?;
                Ok(pool)
            }
        }
    }

    /// Distributes the pool by the period's scores (largest remainders); a distributed pool
    /// answers its payouts again and pays nothing.
    pub async fn distribute_creator_pool(
        &self,
        pool_id: u128,
    ) -> Result<Distribution, PlatformError> {
        let _one_at_a_time = self.creators.pools.lock().await;
        let report = self.pool_report(pool_id).await?;
        if report.pool.status == PoolStatus::Distributed {
            return self.distribution(report, false).await;
        }
        let balance = report.remaining_mvp;
        if balance == 0 {
            return Err(CreatorError::NothingToDistribute("the pool is empty").into());
        }
        let (platform_id, period) = (report.pool.platform_id, report.pool.period.clone());
        // The platform's reports wait until the period is closed: the scores read here are
        // the period's final figures.
        let _reports_wait = self.creators.platforms.claim(platform_id).await?;
        let (scores, members) = self
            .ledger
            .tables(move |read| payable_scores(read, platform_id, &period))
            .await?;
        if scores.is_empty() {
            let detail = "no scores of members who can receive for the period";
            return Err(CreatorError::NothingToDistribute(detail).into());
        }
        let mut paid: Vec<(Share, u128)> = Vec::with_capacity(scores.len());
        for (share, member) in score::divide(balance, &scores).into_iter().zip(members) {
            if share.amount > 0 {
                paid.push((share, member));
            }
        }
        let total: u64 = paid.iter().map(|(share, _)| share.amount).sum();
        assert_eq!(total, balance, "the rewards empty the pool exactly");
        self.commit_distribution(report.pool.clone(), &paid).await?;
        let report = self.pool_report(pool_id).await?;
        assert_eq!(report.remaining_mvp, 0, "the pool ends at zero");
        self.distribution(report, true).await
    }

    /// One commit: the linked chain of rewards, their payout rows and the pool distributed.
    async fn commit_distribution(
        &self,
        pool: PoolRow,
        paid: &[(Share, u128)],
    ) -> Result<(), PlatformError> {
        let now = now_s();
        let mut writes = vec![CreatorWrite::Pool(PoolRow {
            status: PoolStatus::Distributed,
            distributed_at_s: Some(now),
            ..pool.clone()
        })];
        for (share, _) in paid {
            writes.push(CreatorWrite::Payout(PayoutRow {
                transfer_id: reward_transfer_id(pool.id, share.creator_id),
                creator_id: share.creator_id,
                kind: PayoutKind::Reward,
                pool_id: Some(pool.id),
                tip_id: None,
                amount: share.amount,
                created_at_s: now,
            }));
        }
        let rows: Vec<store::tables::RowRef> = writes
            .into_iter()
            .map(|write| std::sync::Arc::new(write) as store::tables::RowRef)
            .collect();
        let transfers = reward_transfers(pool.id, paid);
        let committing = self.enqueue_commit(transfers, move |outcome| {
            let refused = outcome.results.iter().find(|result| {
                !matches!(
                    result,
                    CreateTransferResult::Ok | CreateTransferResult::Exists
                )
            });
            match refused {
                None => (rows, Ok(())),
                Some(result) => {
                    let detail = format!("the rewards were refused: {result}");
                    (Vec::new(), Err(PlatformError::Unavailable(detail)))
                }
            }
        })?;
        committing.done().await?
    }

    async fn distribution(
        &self,
        report: PoolReport,
        paid_now: bool,
    ) -> Result<Distribution, PlatformError> {
        let pool_id = report.pool.id;
        let payouts = self
            .ledger
            .tables(move |read| tables::pool_payouts(read, pool_id, CREATORS_PER_DISTRIBUTION_MAX))
            .await?;
        Ok(Distribution {
            report,
            payouts,
            paid_now,
        })
    }

    /// A pool with its figures from its ledger account.
    pub async fn pool_report(&self, pool_id: u128) -> Result<PoolReport, PlatformError> {
        let found = self
            .ledger
            .tables(move |read| {
                let Some(pool) = tables::pool(read, pool_id)? else {
                    return Ok(None);
                };
                let platform = tables::media_platform(read, pool.platform_id)?;
                Ok(Some((pool, platform.map(|p| p.name).unwrap_or_default())))
            })
            .await?;
        let (pool, platform_name) = found.ok_or(PlatformError::NotFound(Entity::CreatorPool))?;
        let accounts = self
            .ledger
            .lookup_accounts(vec![AccountId(pool_id)])
            .await?;
        let account = accounts
            .first()
            .ok_or(PlatformError::NotFound(Entity::CreatorPool))?;
        // The account's own flag keeps debits within credits.
        assert!(account.debits_posted <= account.credits_posted);
        let figure = |value: u128| u64::try_from(value).unwrap_or(u64::MAX);
        Ok(PoolReport {
            pool,
            platform_name,
            funded_mvp: figure(account.credits_posted),
            remaining_mvp: figure(account.credits_posted - account.debits_posted),
            distributed_mvp: figure(account.debits_posted),
        })
    }

    /// The newest pools (at most `CREATORS_PAGE_MAX`).
    pub async fn creator_pools(&self) -> Result<Vec<PoolReport>, PlatformError> {
        let rows = self
            .ledger
            .tables(|read| tables::recent_pools(read, CREATORS_PAGE_MAX))
            .await?;
        let mut reports = Vec::with_capacity(rows.len());
        for row in rows {
            reports.push(self.pool_report(row.id).await?);
        }
        Ok(reports)
    }
}
