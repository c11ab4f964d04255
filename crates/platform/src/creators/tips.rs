//! Members' tips to creators: two linked transfers from the member's MVP wallet, the
//! platform's 30 % (rounded down) to `PLATFORM_FEES` (code `TIP_FEE`) and the rest to the
//! creator's wallet (code `TIP`), with the tip's row and the creator's payout row in the
//! same commit. Like a P2P send: idempotent under its `Idempotency-Key`, the PIN again
//! above the platform's `pin_confirm_above_mvp`, a daily limit per member, one tip per
//! member at a time.

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use store::tables::creators::{self as tables, CreatorWrite, PayoutKind, PayoutRow, TipRow};

use super::error::CreatorError;
use super::score::tip_split;
use crate::authorization::derived_transfer_id;
use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::idempotency::{Replayable, Scope};
use crate::members::MemberStatus;
use crate::service::Platform;
use ports::time::{kst_day_start_s, now_s};

/// Largest tip (MVP).
pub const TIP_MVP_MAX: u64 = 1_000_000;
/// Most MVP one member tips per KST day.
pub const DAILY_TIPS_MVP_MAX: u64 = 2_000_000;

/// A member's tip.
#[derive(Clone, Debug)]
pub struct TipRequest {
    pub member_id: u128,
    pub creator_id: u128,
    pub amount: u64,
    pub memo: String,
    pub idempotency_key: Option<String>,
    /// The PIN again, above the platform's `pin_confirm_above_mvp`.
    pub pin: Option<String>,
}

/// A tip, its memo opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipRecord {
    pub row: TipRow,
    pub memo: String,
}

fn memo_context(tip_id: u128) -> Vec<u8> {
    format!("tip/{tip_id}/memo").into_bytes()
}

/// The ids of a tip's two transfers: `(platform's share, creator's share)`.
pub fn tip_transfer_ids(tip_id: u128) -> (u128, u128) {
    (
        derived_transfer_id("tip-fee", tip_id, ""),
        derived_transfer_id("tip", tip_id, ""),
    )
}

/// The linked pair (or the creator's transfer alone, when the platform's share is zero).
fn tip_transfers(row: &TipRow, creator_member: u128) -> Vec<Transfer> {
    let (fee_id, tip_id) = tip_transfer_ids(row.id);
    let creator = Transfer {
        id: TransferId(tip_id),
        debit_account_id: AccountId(row.member_id),
        credit_account_id: AccountId(creator_member),
        amount: u128::from(row.creator_share),
        user_data_128: row.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::TIP,
        ..Transfer::default()
    };
    if row.platform_share == 0 {
        return vec![creator];
    }
    let fee = Transfer {
        id: TransferId(fee_id),
        debit_account_id: AccountId(row.member_id),
        credit_account_id: chart::PLATFORM_FEES_ACCOUNT,
        amount: u128::from(row.platform_share),
        user_data_128: row.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::TIP_FEE,
        flags: TransferFlags::LINKED,
        ..Transfer::default()
    };
    vec![fee, creator]
}

impl Platform {
    /// Tips a creator; a known `Idempotency-Key` answers the first tip.
    pub async fn tip_creator(
        &self,
        request: TipRequest,
    ) -> Result<Replayable<TipRecord>, PlatformError> {
        if !(1..=TIP_MVP_MAX).contains(&request.amount) {
            return Err(invalid("amount", format!("1 to {TIP_MVP_MAX} MVP")));
        }
        crate::transfers::check_memo(&request.memo)?;
        let member_id = request.member_id;
        let key = request.idempotency_key.as_deref();
        let _in_flight = self.idempotency.begin(Scope::Tip, member_id, key)?;
        let _claim = self.creators.tippers.claim(member_id).await?;
        let (creator_id, key) = (request.creator_id, request.idempotency_key.clone());
        let today_s = kst_day_start_s(now_s());
        let (creator, keyed, tipped) = self
            .ledger
            .tables(move |read| {
                let creator = tables::creator(read, creator_id)?;
                let keyed = match &key {
                    Some(key) => tables::tip_by_key(read, member_id, key)?,
                    None => None,
                };
                let tipped = tables::tipped_since(read, member_id, today_s)?;
                Ok((creator, keyed, tipped))
            })
            .await?;
        let creator = creator.ok_or(PlatformError::NotFound(Entity::Creator))?;
        if let Some(found) = keyed {
            let record = self.tip_record(found)?;
            let same = (
                record.row.creator_id,
                record.row.amount,
                record.memo.as_str(),
            ) == (creator_id, request.amount, request.memo.as_str());
            return match same {
                true => Ok(Replayable::replayed(record)),
                false => Err(PlatformError::IdempotencyConflict),
            };
        }
        self.check_tippable(&request, creator.member_id, tipped)
            .await?;
        let record = self.commit_tip(&request, creator.member_id).await?;
        Ok(Replayable::fresh(record))
    }

    /// The member may pay, is not the creator, the creator's member can receive, the PIN,
    /// the day's limit.
    async fn check_tippable(
        &self,
        request: &TipRequest,
        creator_member: u128,
        tipped_today: u64,
    ) -> Result<(), PlatformError> {
        let member_id = request.member_id;
        let gate = self.member_gate(member_id).await?;
        gate.ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        if creator_member == member_id {
            return Err(CreatorError::TipToSelf.into());
        }
        let receiver = self.member_row(creator_member).await?;
        if receiver.is_none_or(|receiver| receiver.status != MemberStatus::Active) {
            return Err(CreatorError::CreatorUnavailable.into());
        }
        let amount = u128::from(request.amount);
        self.confirm_spend(member_id, amount, request.pin.as_deref())
            .await?;
        let remaining_mvp = DAILY_TIPS_MVP_MAX.saturating_sub(tipped_today);
        if request.amount > remaining_mvp {
            return Err(CreatorError::DailyLimit { remaining_mvp }.into());
        }
        Ok(())
    }

    /// One commit: the linked transfers, the tip and the creator's payout; nothing when the
    /// balance does not cover the tip.
    async fn commit_tip(
        &self,
        request: &TipRequest,
        creator_member: u128,
    ) -> Result<TipRecord, PlatformError> {
        let id = chart::new_id();
        let now = now_s();
        let (platform_share, creator_share) = tip_split(request.amount);
        let memo_sealed = match request.memo.is_empty() {
            true => Vec::new(),
            false => self.keys.seal(request.memo.as_bytes(), &memo_context(id)),
        };
        let row = TipRow {
            id,
            member_id: request.member_id,
            creator_id: request.creator_id,
            amount: request.amount,
            platform_share,
            creator_share,
            memo_sealed,
            idempotency_key: request.idempotency_key.clone(),
            created_at_s: now,
        };
        let payout = PayoutRow {
            transfer_id: tip_transfer_ids(id).1,
            creator_id: request.creator_id,
            kind: PayoutKind::Tip,
            pool_id: None,
            tip_id: Some(id),
            amount: creator_share,
            created_at_s: now,
        };
        let transfers = tip_transfers(&row, creator_member);
        let rows: Vec<store::tables::RowRef> =
            [CreatorWrite::Tip(row.clone()), CreatorWrite::Payout(payout)]
                .into_iter()
                .map(|write| std::sync::Arc::new(write) as store::tables::RowRef)
                .collect();
        let committing = self.members.unless_withdrawing(request.member_id, || {
            self.enqueue_commit(transfers, move |outcome| {
                let refused = outcome.results.iter().find(|result| !result.is_ok());
                match refused {
                    None => (rows, Ok(())),
                    Some(CreateTransferResult::ExceedsCredits)
                    | Some(CreateTransferResult::LinkedEventFailed) => {
                        (Vec::new(), Err(CreatorError::InsufficientBalance))
                    }
                    Some(result) => {
                        tracing::error!(tip = id, %result, "a tip refused");
                        (Vec::new(), Err(CreatorError::InsufficientBalance))
                    }
                }
            })
        })?;
        committing.done().await??;
        Ok(TipRecord {
            row,
            memo: request.memo.clone(),
        })
    }

    fn tip_record(&self, row: TipRow) -> Result<TipRecord, PlatformError> {
        let memo = match row.memo_sealed.is_empty() {
            true => String::new(),
            false => self
                .keys
                .open_string(&row.memo_sealed, &memo_context(row.id))
                .map_err(|error| PlatformError::Unavailable(error.to_string()))?,
        };
        Ok(TipRecord { row, memo })
    }
}
