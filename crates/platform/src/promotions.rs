//! Promotions (TT-14; seed 002 §4.3): rules the operator sets, each paid from a budget of
//! its own that can never be overdrawn, and every bonus a ledger transfer with its reason.
//! docs/promotions.md.
//!
//! - **Sign-up bonus**: `amount` MVP to each of the first `wallets_max` members who join
//!   within the period. One grant per member (a unique index); the count is exact because
//!   grants run one at a time (`Promotions::signups`), and a budget that runs dry grants
//!   nothing more (the ledger refuses the transfer; nothing is recorded).
//! - **Cashback**: `rate_bps` of each payment from a member's wallet at the merchant (or
//!   any merchant of the brand) within the period, rounded down. It follows payments
//!   (`payments::PaymentFollower`): the cashback is a transfer budget → member **linked to
//!   the payment** (no payment, no cashback) and *balancing* (a budget short of it gives
//!   what it has, down to nothing, and never declines the payment).
//! - **Refunds take it back**: a refund of a payment that earned cashback carries a
//!   clawback member → budget in the refund's own linked chain, right after the refund's
//!   transfer. After every refund the cashback taken back is `floor(earned × refunded /
//!   captured)` in total, so a whole refund takes back all of it and partial refunds never
//!   take back more than their share. The member always has it: the refund that arrives
//!   first in the same chain is larger. So "buy, earn, refund, keep the points" cannot
//!   happen.
//! - Gift-voucher payments, partial approvals and holds earn nothing until captured (a
//!   hold's capture earns it).
//! - **Trading reward**: `rate_bps` of the MVP side of each asset conversion (MVP → TTC or
//!   a coin → MVP) within the period, rounded down; a conversion between two coins has no
//!   MVP side and earns nothing. The reward is a transfer budget → the member's MVP wallet
//!   **linked to the conversion's two transfers** and balancing, like cashback: a dry
//!   budget gives what it has and never refuses the conversion. A conversion is final (it
//!   has no refund), so nothing is taken back.

use std::sync::{Arc, Mutex};

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::promotions::{
    self as tables, ACTIVE_PROMOTIONS_MAX, GrantKind, GrantRow, PromotionKind, PromotionRow,
    PromotionTotals, PromotionWrite,
};

use crate::authorization::AuthorizationRecord;
use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::payments::{Follow, FollowRows, FollowedCommit, PaymentFollower, PaymentStep};
use crate::service::Platform;
use ports::time::now_s;

/// Longest promotion name.
pub const NAME_CHARS_MAX: usize = 100;
/// Largest sign-up bonus per wallet (MVP).
pub const SIGNUP_AMOUNT_MAX: u64 = 1_000_000;
/// Largest cashback rate: half the payment.
pub const RATE_BPS_MAX: u32 = 5_000;
/// Most wallets one sign-up promotion may reward.
pub const WALLETS_MAX: u64 = 100_000_000;
/// Longest period of a promotion.
pub const PERIOD_S_MAX: u64 = 366 * 86_400;
/// Largest one funding of a budget (MVP).
pub const FUNDING_MAX: u64 = 1_000_000_000_000;
/// Longest funding reference.
pub const REFERENCE_BYTES_MAX: usize = 64;

/// Why a promotion request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    #[error("at most {0} promotions in force at once")]
    TooMany(usize),
    #[error("the promotion has ended")]
    Ended,
}

/// The promotions context's working set: the rules in force (read again after a change)
/// and the lock that makes sign-up bonuses one at a time.
#[derive(Default)]
pub struct Promotions {
    active: Mutex<Option<Arc<Vec<PromotionRow>>>>,
    signups: tokio::sync::Mutex<()>,
}

/// What the operator asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPromotion {
    pub name: String,
    pub kind: PromotionKind,
    /// Sign-up bonus: MVP per wallet.
    pub amount: u64,
    /// Cashback: basis points of each payment.
    pub rate_bps: u32,
    /// Sign-up bonus: how many wallets.
    pub wallets_max: u64,
    /// Cashback: at this merchant, or at every merchant of `brand` (exactly one).
    pub merchant_id: Option<u128>,
    pub brand: Option<String>,
    pub starts_at_s: u64,
    pub ends_at_s: u64,
}

impl NewPromotion {
    fn check(&self) -> Result<(), PlatformError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
            return Err(invalid("name", format!("1 to {NAME_CHARS_MAX} characters")));
        }
        if self.ends_at_s <= self.starts_at_s
            || self.ends_at_s - self.starts_at_s > PERIOD_S_MAX
            || i64::try_from(self.ends_at_s).is_err()
        {
            return Err(invalid("ends_at", "after starts_at, within 366 days of it"));
        }
        match self.kind {
            PromotionKind::SignupBonus => self.check_signup(),
            PromotionKind::Cashback => self.check_cashback(),
            PromotionKind::TradingReward => self.check_trading_reward(),
        }
    }

    fn check_trading_reward(&self) -> Result<(), PlatformError> {
        if self.rate_bps == 0 || self.rate_bps > RATE_BPS_MAX {
            return Err(invalid("rate_bps", format!("1 to {RATE_BPS_MAX}")));
        }
        if self.amount != 0 || self.wallets_max != 0 {
            return Err(invalid(
                "kind",
                "a trading reward has no amount or wallets_max",
            ));
        }
        if self.merchant_id.is_some() || self.brand.is_some() {
            return Err(invalid("kind", "a trading reward has no merchant or brand"));
        }
        Ok(())
    }

    fn check_signup(&self) -> Result<(), PlatformError> {
        if self.amount == 0 || self.amount > SIGNUP_AMOUNT_MAX {
            return Err(invalid("amount", format!("1 to {SIGNUP_AMOUNT_MAX} MVP")));
        }
        if self.wallets_max == 0 || self.wallets_max > WALLETS_MAX {
            return Err(invalid("wallets_max", format!("1 to {WALLETS_MAX}")));
        }
        if self.rate_bps != 0 || self.merchant_id.is_some() || self.brand.is_some() {
            return Err(invalid(
                "kind",
                "a sign-up bonus has no rate, merchant or brand",
            ));
        }
        Ok(())
    }

    fn check_cashback(&self) -> Result<(), PlatformError> {
        if self.rate_bps == 0 || self.rate_bps > RATE_BPS_MAX {
            return Err(invalid("rate_bps", format!("1 to {RATE_BPS_MAX}")));
        }
        if self.merchant_id.is_some() == self.brand.is_some() {
            return Err(invalid(
                "merchant_id",
                "exactly one of merchant_id and brand",
            ));
        }
        if self
            .brand
            .as_deref()
            .is_some_and(|brand| brand.trim().is_empty())
        {
            return Err(invalid("brand", "not empty"));
        }
        if self.amount != 0 || self.wallets_max != 0 {
            return Err(invalid("kind", "a cashback has no amount or wallets_max"));
        }
        Ok(())
    }
}

/// A promotion with what it gave, took back and has left.
#[derive(Clone, Debug)]
pub struct PromotionReport {
    pub row: PromotionRow,
    pub totals: PromotionTotals,
    pub funded_mvp: u64,
    pub remaining_mvp: u64,
}

/// A transfer id derived from a promotion's business (high bit set, like the platform's
/// own ids).
fn derived_id(step: &str, parts: &[u128]) -> u128 {
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/promotions/");
    hasher.update(step.as_bytes());
    for part in parts {
        hasher.update(part.to_be_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

fn reference_id(reference: &str) -> u128 {
    let digest = Sha256::digest(reference.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// `amount × rate_bps / 10,000`, rounded down.
pub fn cashback_of(amount: u64, rate_bps: u32) -> u64 {
    let cashback = u128::from(amount) * u128::from(rate_bps) / 10_000;
    u64::try_from(cashback).expect("at most the amount")
}

/// What refunds have taken back in total once `refunded` of `captured` is refunded, of a
/// cashback of `earned`: `floor(earned × refunded / captured)`.
pub fn clawed_back_of(earned: u64, refunded: u64, captured: u64) -> u64 {
    assert!(refunded <= captured, "a refund is at most the capture");
    if captured == 0 {
        return 0;
    }
    let clawed = u128::from(earned) * u128::from(refunded) / u128::from(captured);
    u64::try_from(clawed).expect("at most the earned cashback")
}

impl Platform {
    /// Creates a promotion with its (empty) budget account.
    pub async fn create_promotion(&self, new: NewPromotion) -> Result<PromotionRow, PlatformError> {
        new.check()?;
        if let Some(merchant_id) = new.merchant_id {
            self.merchant_gate(merchant_id)
                .await?
                .ok_or(PlatformError::NotFound(Entity::Merchant))?;
        }
        let active = self.ledger.tables(tables::active_count).await?;
        if active >= ACTIVE_PROMOTIONS_MAX as u64 {
            return Err(PromotionError::TooMany(ACTIVE_PROMOTIONS_MAX).into());
        }
        let id = chart::new_id();
        let accounts = vec![chart::promotion_funding(), chart::promotion_budget(id)];
        for result in self.ledger.create_accounts(accounts).await? {
            if !result.is_ok() && result.as_str() != "exists" {
                let detail = format!("budget not created: {}", result.as_str());
                return Err(PlatformError::Unavailable(detail));
            }
        }
        let row = PromotionRow {
            id,
            name: new.name.trim().to_string(),
            kind: new.kind,
            amount: new.amount,
            rate_bps: new.rate_bps,
            wallets_max: new.wallets_max,
            merchant_id: new.merchant_id,
            brand: new.brand.map(|brand| brand.trim().to_string()),
            starts_at_s: new.starts_at_s,
            ends_at_s: new.ends_at_s,
            ended: false,
            created_at_s: now_s(),
        };
        self.commit_promotion_rows(vec![PromotionWrite::Promotion(row.clone())])
            .await?;
        self.forget_active_promotions();
        Ok(row)
    }

    /// Puts `amount` MVP of the platform's marketing money into the promotion's budget,
    /// once per `reference` (the operator's record of the spend).
    pub async fn fund_promotion(
        &self,
        id: u128,
        amount: u64,
        reference: &str,
    ) -> Result<PromotionReport, PlatformError> {
        if amount == 0 || amount > FUNDING_MAX {
            return Err(invalid("amount", format!("1 to {FUNDING_MAX} MVP")));
        }
        if reference.is_empty() || reference.len() > REFERENCE_BYTES_MAX {
            let detail = format!("1 to {REFERENCE_BYTES_MAX} bytes");
            return Err(invalid("reference", detail));
        }
        let row = self.promotion_row(id).await?;
        if row.ended {
            return Err(PromotionError::Ended.into());
        }
        let funding = Transfer {
            id: TransferId(derived_id("funding", &[id, reference_id(reference)])),
            debit_account_id: chart::PROMOTION_FUNDING_ACCOUNT,
            credit_account_id: AccountId(id),
            amount: u128::from(amount),
            user_data_128: id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::PROMOTION_FUNDING,
            ..Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![funding]).await?;
        match results[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => {}
            CreateTransferResult::ExistsWithDifferentAmount => {
                return Err(PlatformError::IdempotencyConflict);
            }
            other => {
                let detail = format!("funding refused by the ledger: {other}");
                return Err(PlatformError::Unavailable(detail));
            }
        }
        self.promotion_report(id).await
    }

    /// Ends a promotion now: no bonus after this (refunds still take cashback back).
    pub async fn end_promotion(&self, id: u128) -> Result<PromotionReport, PlatformError> {
        let mut row = self.promotion_row(id).await?;
        if !row.ended {
            row.ended = true;
            self.commit_promotion_rows(vec![PromotionWrite::Promotion(row)])
                .await?;
            self.forget_active_promotions();
        }
        self.promotion_report(id).await
    }

    /// A promotion with its totals and budget.
    pub async fn promotion_report(&self, id: u128) -> Result<PromotionReport, PlatformError> {
        let row = self.promotion_row(id).await?;
        let totals = self
            .ledger
            .tables(move |read| tables::promotion_totals(read, id))
            .await?;
        let accounts = self.ledger.lookup_accounts(vec![AccountId(id)]).await?;
        let account = accounts
            .first()
            .ok_or(PlatformError::NotFound(Entity::Promotion))?;
        // The account's own flag keeps debits within credits.
        assert!(account.debits_posted <= account.credits_posted);
        let funded = account.credits_posted;
        let remaining = account.credits_posted - account.debits_posted;
        Ok(PromotionReport {
            row,
            totals,
            funded_mvp: u64::try_from(funded).unwrap_or(u64::MAX),
            remaining_mvp: u64::try_from(remaining).unwrap_or(u64::MAX),
        })
    }

    /// The promotions, newest first (at most `tables::ACTIVE_PROMOTIONS_MAX` in force, and
    /// the newest ended ones after them).
    pub async fn promotions(&self) -> Result<Vec<PromotionReport>, PlatformError> {
        let rows = self.ledger.tables(tables::recent_promotions).await?;
        let mut reports = Vec::with_capacity(rows.len());
        for row in rows {
            reports.push(self.promotion_report(row.id).await?);
        }
        Ok(reports)
    }

    async fn promotion_row(&self, id: u128) -> Result<PromotionRow, PlatformError> {
        self.ledger
            .tables(move |read| tables::promotion(read, id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Promotion))
    }

    /// The promotions in force, from memory (read again after a change).
    async fn active_promotions(&self) -> Result<Arc<Vec<PromotionRow>>, PlatformError> {
        if let Some(active) = self
            .promotions
            .active
            .lock()
            .expect("promotions lock")
            .clone()
        {
            return Ok(active);
        }
        let active = Arc::new(self.ledger.tables(tables::active_promotions).await?);
        *self.promotions.active.lock().expect("promotions lock") = Some(active.clone());
        Ok(active)
    }

    fn forget_active_promotions(&self) {
        *self.promotions.active.lock().expect("promotions lock") = None;
    }

    async fn commit_promotion_rows(
        &self,
        writes: Vec<PromotionWrite>,
    ) -> Result<(), PlatformError> {
        let rows: Vec<RowRef> = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.enqueue_commit(Vec::new(), move |_| (rows, ()))?
            .done()
            .await
    }

    /// Grants the sign-up bonuses in force to a new member. A failure is logged, not
    /// answered: the member has joined either way.
    pub(crate) async fn grant_signup_bonuses(&self, member_id: u128) {
        if let Err(error) = self.try_signup_bonuses(member_id).await {
            tracing::warn!(%error, member = member_id, "sign-up bonus not granted");
        }
    }

    async fn try_signup_bonuses(&self, member_id: u128) -> Result<(), PlatformError> {
        let now = now_s();
        let active = self.active_promotions().await?;
        let signups = active.iter().filter(|promotion| {
            promotion.kind == PromotionKind::SignupBonus
                && (promotion.starts_at_s..promotion.ends_at_s).contains(&now)
        });
        for promotion in signups {
            let _one_at_a_time = self.promotions.signups.lock().await;
            let promotion_id = promotion.id;
            let (granted, has) = self
                .ledger
                .tables(move |read| tables::signup_grants(read, promotion_id, member_id))
                .await?;
            if has || granted >= promotion.wallets_max {
                continue;
            }
            self.commit_signup_bonus(promotion, member_id, now).await?;
        }
        Ok(())
    }

    /// One commit: the bonus budget → member and its grant, or nothing when the budget
    /// cannot cover it.
    async fn commit_signup_bonus(
        &self,
        promotion: &PromotionRow,
        member_id: u128,
        now: u64,
    ) -> Result<(), PlatformError> {
        let transfer_id = derived_id("signup", &[promotion.id, member_id]);
        let bonus = Transfer {
            id: TransferId(transfer_id),
            debit_account_id: AccountId(promotion.id),
            credit_account_id: AccountId(member_id),
            amount: u128::from(promotion.amount),
            user_data_128: promotion.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::BONUS,
            ..Transfer::default()
        };
        let grant = GrantRow {
            transfer_id,
            promotion_id: promotion.id,
            member_id,
            authorization_id: None,
            kind: GrantKind::SignupBonus,
            amount: promotion.amount,
            created_at_s: now,
        };
        let committing = self.enqueue_commit(vec![bonus], move |outcome| {
            let rows: Vec<RowRef> = match outcome.results[0] {
                CreateTransferResult::Ok | CreateTransferResult::Exists => {
                    vec![Arc::new(PromotionWrite::Grant(grant))]
                }
                _ => Vec::new(),
            };
            (rows, ())
        })?;
        committing.done().await
    }

    /// The best cashback in force for a payment at `merchant_id` now: the highest rate of
    /// the merchant's own and its brand's.
    async fn cashback_for(&self, merchant_id: u128) -> Result<Option<PromotionRow>, PlatformError> {
        let active = self.active_promotions().await?;
        let now = now_s();
        let mut cashbacks = active.iter().filter(|promotion| {
            promotion.kind == PromotionKind::Cashback
                && (promotion.starts_at_s..promotion.ends_at_s).contains(&now)
        });
        if cashbacks.clone().next().is_none() {
            return Ok(None);
        }
        let brand = self
            .merchant_gate(merchant_id)
            .await?
            .map(|merchant| merchant.brand);
        let best = cashbacks
            .by_ref()
            .filter(|promotion| {
                promotion.merchant_id == Some(merchant_id)
                    || (promotion.brand.is_some() && promotion.brand == brand)
            })
            .max_by_key(|promotion| (promotion.rate_bps, promotion.created_at_s));
        Ok(best.cloned())
    }
}

impl Platform {
    /// `wanted`, or what the promotion's budget has left if that is less: a dry budget adds
    /// no transfer (no line of 0 in the member's history). The transfer stays balancing, for
    /// a budget drained between this read and its commit.
    async fn budget_left(&self, promotion_id: u128, wanted: u64) -> Result<u64, PlatformError> {
        if wanted == 0 {
            return Ok(0);
        }
        let accounts = self
            .ledger
            .lookup_accounts(vec![AccountId(promotion_id)])
            .await?;
        let left = accounts.first().map_or(0, |budget| {
            budget
                .credits_posted
                .saturating_sub(budget.debits_posted + budget.debits_pending)
        });
        Ok(u64::try_from(left.min(u128::from(wanted))).expect("at most `wanted`"))
    }

    /// The reward in force for a conversion at `quote`, as the transfer that would pay it
    /// (balancing: what the budget has, down to nothing) and its grant row builder; `None`
    /// when no trading reward is in force or the conversion has no MVP side.
    pub(crate) async fn trading_reward(
        &self,
        quote: &store::tables::assets::QuoteRow,
    ) -> Result<Option<TradingReward>, PlatformError> {
        let basis = match (quote.from_asset.as_str(), quote.to_asset.as_str()) {
            (chart::ASSET_MVP, _) => quote.from_amount,
            (_, chart::ASSET_MVP) => quote.to_amount,
            _ => return Ok(None),
        };
        let active = self.active_promotions().await?;
        let now = now_s();
        let best = active
            .iter()
            .filter(|promotion| {
                promotion.kind == PromotionKind::TradingReward
                    && (promotion.starts_at_s..promotion.ends_at_s).contains(&now)
            })
            .max_by_key(|promotion| (promotion.rate_bps, promotion.created_at_s));
        let Some(promotion) = best else {
            return Ok(None);
        };
        let reward = self
            .budget_left(promotion.id, cashback_of(basis, promotion.rate_bps))
            .await?;
        if reward == 0 {
            return Ok(None);
        }
        let transfer_id = derived_id("trading", &[quote.id]);
        let transfer = Transfer {
            id: TransferId(transfer_id),
            debit_account_id: AccountId(promotion.id),
            credit_account_id: AccountId(quote.member_id),
            amount: u128::from(reward),
            user_data_128: quote.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::TRADING_REWARD,
            flags: TransferFlags::BALANCING_DEBIT,
            ..Transfer::default()
        };
        Ok(Some(TradingReward {
            transfer,
            promotion_id: promotion.id,
            member_id: quote.member_id,
        }))
    }
}

/// A trading reward to pay with a conversion (`Platform::trading_reward`).
pub(crate) struct TradingReward {
    pub transfer: Transfer,
    promotion_id: u128,
    member_id: u128,
}

impl TradingReward {
    /// The grant to record once the ledger moved `moved` (nothing when it moved nothing).
    pub fn grant(&self, moved: u128) -> Option<RowRef> {
        let amount = u64::try_from(moved).expect("at most the reward asked");
        if amount == 0 {
            return None;
        }
        let grant = GrantRow {
            transfer_id: self.transfer.id.0,
            promotion_id: self.promotion_id,
            member_id: self.member_id,
            authorization_id: None,
            kind: GrantKind::TradingReward,
            amount,
            created_at_s: now_s(),
        };
        Some(Arc::new(PromotionWrite::Grant(grant)))
    }
}

/// Promotions follow payments: cashback on a sale or capture, clawback on a refund.
pub(crate) struct PromotionsFollower;

impl PaymentFollower for PromotionsFollower {
    fn follow<'a>(
        &'a self,
        platform: &'a Platform,
        record: &'a AuthorizationRecord,
        step: PaymentStep,
    ) -> ports::gateway::BoxFuture<'a, Result<Option<Follow>, PlatformError>> {
        Box::pin(async move {
            // A voucher's or an unknown code's payment: no member's wallet pays.
            if record.member_id == 0 || record.voucher.is_some() {
                return Ok(None);
            }
            match step {
                PaymentStep::Authorize {
                    amount,
                    capture: true,
                    partial: false,
                }
                | PaymentStep::Capture { amount } => platform.follow_cashback(record, amount).await,
                PaymentStep::Refund { amount } => platform.follow_refund(record, amount).await,
                _ => Ok(None),
            }
        })
    }
}

impl Platform {
    async fn follow_cashback(
        &self,
        record: &AuthorizationRecord,
        amount: u64,
    ) -> Result<Option<Follow>, PlatformError> {
        let Some(promotion) = self.cashback_for(record.merchant_id).await? else {
            return Ok(None);
        };
        let cashback = self
            .budget_left(promotion.id, cashback_of(amount, promotion.rate_bps))
            .await?;
        if cashback == 0 {
            return Ok(None);
        }
        let transfer_id = derived_id("cashback", &[record.id]);
        let transfer = Transfer {
            id: TransferId(transfer_id),
            debit_account_id: AccountId(promotion.id),
            credit_account_id: AccountId(record.member_id),
            amount: u128::from(cashback),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CASHBACK,
            flags: TransferFlags::BALANCING_DEBIT,
            ..Transfer::default()
        };
        let promotion_id = promotion.id;
        let rows: FollowRows = Box::new(move |commit| {
            grant_rows(commit, transfer_id, promotion_id, GrantKind::Cashback)
        });
        Ok(Some(Follow {
            transfers: vec![transfer],
            linked: true,
            rows,
        }))
    }

    async fn follow_refund(
        &self,
        record: &AuthorizationRecord,
        amount: u64,
    ) -> Result<Option<Follow>, PlatformError> {
        let authorization_id = record.id;
        let grants = self
            .ledger
            .tables(move |read| tables::payment_grants(read, authorization_id))
            .await?;
        let Some(promotion_id) = grants
            .iter()
            .find(|grant| grant.kind == GrantKind::Cashback)
            .map(|grant| grant.promotion_id)
        else {
            return Ok(None);
        };
        let sum = |kind: GrantKind| -> u64 {
            grants
                .iter()
                .filter(|grant| grant.kind == kind)
                .map(|grant| grant.amount)
                .sum()
        };
        let (earned, clawed) = (sum(GrantKind::Cashback), sum(GrantKind::Clawback));
        let refunded = record.refunded_amount.saturating_add(amount);
        let captured = record.captured_amount;
        if refunded > captured {
            return Ok(None); // The refund itself is refused; nothing to take back.
        }
        let clawback = clawed_back_of(earned, refunded, captured).saturating_sub(clawed);
        if clawback == 0 {
            return Ok(None);
        }
        let transfer_id = derived_id("clawback", &[record.id, u128::from(refunded)]);
        let transfer = Transfer {
            id: TransferId(transfer_id),
            debit_account_id: AccountId(record.member_id),
            credit_account_id: AccountId(promotion_id),
            amount: u128::from(clawback),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CASHBACK_CLAWBACK,
            ..Transfer::default()
        };
        let rows: FollowRows = Box::new(move |commit| {
            grant_rows(commit, transfer_id, promotion_id, GrantKind::Clawback)
        });
        Ok(Some(Follow {
            transfers: vec![transfer],
            linked: true,
            rows,
        }))
    }
}

/// The grant of a cashback or clawback, if the ledger moved it (a balancing cashback may
/// move less than asked, or nothing).
fn grant_rows(
    commit: &FollowedCommit<'_, '_>,
    transfer_id: u128,
    promotion_id: u128,
    kind: GrantKind,
) -> Vec<RowRef> {
    let Some(index) = commit.first_transfer else {
        return Vec::new();
    };
    let moved = match commit.outcome.results[index] {
        CreateTransferResult::Ok | CreateTransferResult::Exists => commit
            .outcome
            .transfer(TransferId(transfer_id))
            .map_or(0, |transfer| u64::try_from(transfer.amount).unwrap_or(0)),
        _ => 0,
    };
    if moved == 0 {
        return Vec::new();
    }
    let grant = GrantRow {
        transfer_id,
        promotion_id,
        member_id: commit.after.member_id,
        authorization_id: Some(commit.after.id),
        kind,
        amount: moved,
        created_at_s: now_s(),
    };
    vec![Arc::new(PromotionWrite::Grant(grant))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cashback_rounds_down_and_refunds_take_back_their_share() {
        assert_eq!(cashback_of(10_000, 500), 500);
        assert_eq!(cashback_of(999, 100), 9);
        assert_eq!(cashback_of(u64::MAX, RATE_BPS_MAX), u64::MAX / 2);
        // 333 earned on 10,000: three refunds of a third take back 111 each, in total.
        assert_eq!(clawed_back_of(333, 3_333, 10_000), 110);
        assert_eq!(clawed_back_of(333, 6_666, 10_000), 221);
        assert_eq!(clawed_back_of(333, 10_000, 10_000), 333);
        assert_eq!(clawed_back_of(0, 10, 10), 0);
    }

    #[test]
    fn the_total_taken_back_never_exceeds_the_share_refunded_and_ends_at_all() {
        // Every split of a capture into refunds: the running total taken back is monotone,
        // within the refunded share, and all of it once the capture is refunded whole.
        for captured in [1_u64, 7, 100, 9_999] {
            for earned in [0_u64, 1, 3, captured / 2] {
                for step in [1_u64, 2, 3, captured] {
                    let mut refunded = 0;
                    let mut before = 0;
                    while refunded < captured {
                        refunded = (refunded + step).min(captured);
                        let total = clawed_back_of(earned, refunded, captured);
                        assert!(total >= before);
                        assert!(
                            u128::from(total) * u128::from(captured)
                                <= u128::from(earned) * u128::from(refunded)
                        );
                        before = total;
                    }
                    assert_eq!(before, earned);
                }
            }
        }
    }
}
