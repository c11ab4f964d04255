//! A voucher at the till: the code presented is looked up (through its blind index) and
//! the voucher claimed before the authorization's checks; the checks decide from that row;
//! the redeemed row goes in the authorization's commit, and a step that gives the payment
//! back (a decline, a whole refund, a network cancel) makes the voucher usable again in its
//! own commit.

use store::StoreError;
use store::tables::vouchers as tables;
use store::tables::{RowRef, TableRead};

use super::{CODE_INDEX_KIND, VoucherRecord, VoucherStatus, Vouchers, luhn_valid, voucher_row};
use crate::authorization::{DeclineReason, VoucherUse};
use crate::claims::Claim;
use crate::error::PlatformError;
use crate::members::MemberGate;
use crate::service::Platform;

/// A voucher code presented at a till, read before the checks: the voucher with the code,
/// if there is one, claimed until the request ends (no cancel or other till changes it
/// meanwhile).
pub(crate) struct PresentedVoucher<'a> {
    pub voucher: Option<VoucherRecord>,
    _claim: Option<Claim<'a, u128>>,
}

/// Where and when a voucher code is presented.
pub(crate) struct RedeemAt<'a> {
    /// The brand of the terminal's merchant (a voucher is good at its brand only).
    pub brand: &'a str,
    pub authorization_id: u128,
    pub now_s: u64,
    /// The gate of the voucher's owner, read before the lock (a locked owner's voucher is
    /// refused).
    pub owner: Option<&'a MemberGate>,
    /// The terminal's wrong voucher codes.
    pub guesses: crate::limits::GuessGate<'a>,
}

/// What a till presenting a voucher code is told, with the rows to commit.
pub(crate) struct Redeemed {
    pub member_id: u128,
    pub voucher: VoucherUse,
    /// The voucher redeemed: written with the authorization.
    pub row: RowRef,
    /// The voucher as it was: written instead if the ledger declines the payment.
    pub release: RowRef,
}

impl Platform {
    /// The voucher with the presented `code`, claimed (a code whose check digit is wrong
    /// is not looked up).
    pub(crate) async fn presented_voucher(
        &self,
        code: &str,
    ) -> Result<PresentedVoucher<'_>, PlatformError> {
        if !luhn_valid(code) {
            return Ok(PresentedVoucher {
                voucher: None,
                _claim: None,
            });
        }
        let index = self.keys.blind_index(CODE_INDEX_KIND, code.as_bytes());
        let found = self
            .ledger
            .tables(move |read| tables::voucher_by_code(read, index))
            .await?;
        let Some(found) = found else {
            return Ok(PresentedVoucher {
                voucher: None,
                _claim: None,
            });
        };
        let (claim, voucher) = self.claim_voucher(found.id).await?;
        Ok(PresentedVoucher {
            voucher,
            _claim: Some(claim),
        })
    }

    /// Claims the voucher `id` for a change, and reads it as committed.
    pub(crate) async fn claim_voucher(
        &self,
        id: u128,
    ) -> Result<(Claim<'_, u128>, Option<VoucherRecord>), PlatformError> {
        let claim = self.vouchers.changes.claim(id).await?;
        let voucher = self.stored_voucher(id).await?;
        Ok((claim, voucher))
    }
}

impl Vouchers {
    /// Redeems the presented voucher for `at.authorization_id`, unless a check declines it.
    /// A code that finds no voucher counts as the terminal's wrong guess.
    pub(crate) fn redeem(
        &self,
        presented: &PresentedVoucher<'_>,
        at: RedeemAt<'_>,
    ) -> Result<Redeemed, DeclineReason> {
        if !at.guesses.left(at.now_s) {
            return Err(DeclineReason::TooManyAttempts);
        }
        if presented.voucher.is_none() {
            at.guesses.record(at.now_s);
            return Err(DeclineReason::InvalidCode);
        }
        let voucher = presented.voucher.as_ref().expect("checked above");
        match voucher.status {
            VoucherStatus::Active => {}
            VoucherStatus::Redeemed => return Err(DeclineReason::UsedCode),
            _ => return Err(DeclineReason::InvalidCode),
        }
        if voucher.expired(at.now_s) {
            return Err(DeclineReason::ExpiredCode);
        }
        if voucher.brand != at.brand {
            return Err(DeclineReason::VoucherNotAccepted);
        }
        let owner = at
            .owner
            .filter(|owner| owner.member_id == voucher.member_id);
        if owner.is_some_and(|owner| owner.locked) {
            return Err(DeclineReason::MemberLocked);
        }
        let mut redeemed = voucher.clone();
        redeemed.status = VoucherStatus::Redeemed;
        redeemed.authorization_id = Some(at.authorization_id);
        redeemed.redeemed_at_s = Some(at.now_s);
        Ok(Redeemed {
            member_id: voucher.member_id,
            voucher: VoucherUse {
                voucher_id: voucher.id,
                face_value: voucher.face_value,
                price: voucher.price,
            },
            row: voucher_row(&redeemed),
            release: voucher_row(voucher),
        })
    }
}

/// The row of `voucher` made usable again, if `authorization_id` is what redeemed it:
/// what a step that gives the payment back writes in its commit.
pub(crate) fn released_row(voucher: &VoucherRecord, authorization_id: u128) -> Option<RowRef> {
    if voucher.status != VoucherStatus::Redeemed
        || voucher.authorization_id != Some(authorization_id)
    {
        return None;
    }
    let mut voucher = voucher.clone();
    voucher.status = VoucherStatus::Active;
    voucher.authorization_id = None;
    voucher.redeemed_at_s = None;
    Some(voucher_row(&voucher))
}

/// What an authorization paid with voucher `voucher_id` carries, read in the same read as
/// the authorization (zeros for a voucher that is not there, which only a damaged database
/// could show).
pub(crate) fn voucher_use(
    read: &mut TableRead<'_>,
    voucher_id: u128,
) -> Result<VoucherUse, StoreError> {
    let found = tables::voucher(read, voucher_id)?;
    Ok(VoucherUse {
        voucher_id,
        face_value: found.as_ref().map_or(0, |v| v.face_value),
        price: found.as_ref().map_or(0, |v| v.price),
    })
}
