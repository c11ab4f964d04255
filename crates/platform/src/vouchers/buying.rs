//! Buying and cancelling a voucher: each one commit of its ledger transfers and the
//! voucher's row; and, at start, the purchases and cancels of the older layout that a crash
//! cut short.

use crate::conversion::error::ConversionError;
use crate::members::error::MemberError;
use crate::vouchers::error::VoucherError;
use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use store::tables::vouchers as tables;

use super::{
    ACTIVE_VOUCHERS_PER_MEMBER_MAX, CANCEL_WINDOW_S, CODE_INDEX_KIND, EXPIRED_REFUND_PERCENT,
    ProductRecord, VoucherRecord, VoucherStatus, code_context, new_voucher_code, voucher_row,
};
use crate::authorization;
use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError};
use crate::idempotency::{Replayable, Scope};
use crate::members::MemberStatus;
use crate::service::Platform;
use ports::time::now_s;

/// Open vouchers of the older layout finished per read at start.
const OPEN_PAGE_MAX: usize = 256;

pub struct PurchaseRequest {
    pub member_id: u128,
    pub product_id: u128,
    pub idempotency_key: Option<String>,
    /// The PIN again, above the platform's `pin_confirm_above_mvp`.
    pub pin: Option<String>,
}

fn purchase_transfer(voucher: &VoucherRecord) -> Transfer {
    Transfer {
        id: TransferId(voucher.id),
        debit_account_id: AccountId(voucher.member_id),
        credit_account_id: chart::VOUCHERS_ACCOUNT,
        amount: u128::from(voucher.price),
        user_data_128: voucher.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::VOUCHER_PURCHASE,
        ..Transfer::default()
    }
}

/// What a purchase answers, from its voucher as committed.
fn purchase_answer(voucher: VoucherRecord) -> Result<VoucherRecord, PlatformError> {
    match (voucher.status, voucher.failure.as_deref()) {
        (VoucherStatus::Failed, Some("insufficient_balance")) => Err(PlatformError::Conversion(
            ConversionError::InsufficientBalance,
        )),
        (VoucherStatus::Failed, _) => Err(PlatformError::Unavailable(
            "the purchase could not be made; nothing was charged".into(),
        )),
        _ => Ok(voucher),
    }
}

impl Platform {
    /// Buys a voucher with MVP; a known `Idempotency-Key` answers the first purchase.
    pub async fn buy_voucher(
        &self,
        request: PurchaseRequest,
    ) -> Result<VoucherRecord, PlatformError> {
        Ok(self.buy_voucher_once(request).await?.value)
    }

    /// [`Platform::buy_voucher`], telling whether the answer is an earlier request's under
    /// the same `Idempotency-Key` (see `idempotency`).
    pub async fn buy_voucher_once(
        &self,
        request: PurchaseRequest,
    ) -> Result<Replayable<VoucherRecord>, PlatformError> {
        let member_id = request.member_id;
        let key = request.idempotency_key.as_deref();
        let _in_flight = self
            .idempotency
            .begin(Scope::VoucherPurchase, member_id, key)?;
        let _claim = self.vouchers.purchases.claim(member_id).await?;
        if let Some(key) = request.idempotency_key.clone() {
            let found = self
                .ledger
                .tables(move |read| tables::voucher_by_key(read, member_id, &key))
                .await?;
            if let Some(found) = found {
                if found.product_id != request.product_id {
                    return Err(PlatformError::IdempotencyConflict);
                }
                return purchase_answer(found).map(Replayable::replayed);
            }
        }
        let product = self.purchasable(&request).await?;
        let price = u128::from(product.price);
        self.confirm_spend(member_id, price, request.pin.as_deref())
            .await?;
        let voucher = self.new_voucher(product, &request).await?;
        // Queued under the withdrawals' lock: a withdrawal that begins after it sees this
        // purchase queued before its own commits; one under way refuses it.
        let committing = self.members.unless_withdrawing(member_id, || {
            let transfers = vec![purchase_transfer(&voucher)];
            self.enqueue_commit(transfers, move |outcome| {
                let mut voucher = voucher;
                let judged = purchase_outcome(voucher.id, outcome.results[0]);
                finish_purchase(&mut voucher, judged);
                (vec![voucher_row(&voucher)], voucher)
            })
        })?;
        purchase_answer(committing.done().await?).map(Replayable::fresh)
    }

    /// The product a member may buy now: an active member, an enabled product, room for
    /// one more unused voucher.
    async fn purchasable(&self, request: &PurchaseRequest) -> Result<ProductRecord, PlatformError> {
        let (member_id, product_id) = (request.member_id, request.product_id);
        let buyer = self.member_gate(member_id).await?;
        let member = buyer.ok_or(PlatformError::NotFound(Entity::Member))?;
        if member.status != MemberStatus::Active || self.members.is_withdrawing(member_id) {
            return Err(PlatformError::Member(MemberError::Withdrawn));
        }
        let (product, active) = self
            .ledger
            .tables(move |read| {
                let product = tables::product(read, product_id)?;
                Ok((product, tables::active_count(read, member_id)?))
            })
            .await?;
        let product = product
            .filter(|p| p.enabled)
            .ok_or(PlatformError::NotFound(Entity::Product))?;
        if active >= ACTIVE_VOUCHERS_PER_MEMBER_MAX as u64 {
            let detail = format!("at most {ACTIVE_VOUCHERS_PER_MEMBER_MAX} unused vouchers");
            return Err(PlatformError::Voucher(VoucherError::State(detail)));
        }
        Ok(product)
    }

    /// A new voucher of `product` with a code no voucher has (codes are drawn from 10^13,
    /// so a clash is rare and another draw settles it).
    async fn new_voucher(
        &self,
        product: ProductRecord,
        request: &PurchaseRequest,
    ) -> Result<VoucherRecord, PlatformError> {
        let id = authorization::new_authorization_id();
        let (code, code_index) = loop {
            let code = new_voucher_code();
            let index = self.keys.blind_index(CODE_INDEX_KIND, code.as_bytes());
            let taken = self
                .ledger
                .tables(move |read| tables::voucher_by_code(read, index))
                .await?;
            if taken.is_none() {
                break (code, index);
            }
        };
        let now = now_s();
        Ok(VoucherRecord {
            id,
            product_id: product.id,
            member_id: request.member_id,
            brand: product.brand,
            name: product.name,
            face_value: product.face_value,
            price: product.price,
            code_sealed: self.keys.seal(code.as_bytes(), &code_context(id)),
            code_index,
            status: VoucherStatus::Pending,
            failure: None,
            idempotency_key: request.idempotency_key.clone(),
            purchased_at_s: now,
            expires_at_s: now + u64::from(product.validity_days) * 86_400,
            authorization_id: None,
            redeemed_at_s: None,
            refund: 0,
            fee: 0,
            cancelled_at_s: None,
        })
    }
}

/// What the ledger's answer to a purchase's payment means.
fn purchase_outcome(voucher_id: u128, result: CreateTransferResult) -> Result<(), &'static str> {
    match result {
        CreateTransferResult::Ok | CreateTransferResult::Exists => Ok(()),
        // `id_already_failed`: a retry of a purchase the ledger refused for the balance.
        CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
            Err("insufficient_balance")
        }
        other => {
            tracing::warn!(voucher = voucher_id, result = %other, "voucher purchase refused");
            Err("system_error")
        }
    }
}

fn finish_purchase(voucher: &mut VoucherRecord, outcome: Result<(), &str>) {
    assert_eq!(voucher.status, VoucherStatus::Pending);
    match outcome {
        Ok(()) => voucher.status = VoucherStatus::Active,
        Err(reason) => {
            voucher.status = VoucherStatus::Failed;
            voucher.failure = Some(reason.to_string());
        }
    }
}

/// The refund (and fee) of a member's cancel: derived ids, so a retry finds them.
fn cancel_transfers(voucher: &VoucherRecord) -> Vec<Transfer> {
    let refund = Transfer {
        id: TransferId(authorization::derived_transfer_id(
            "voucher-refund",
            voucher.id,
            "",
        )),
        debit_account_id: chart::VOUCHERS_ACCOUNT,
        credit_account_id: AccountId(voucher.member_id),
        amount: u128::from(voucher.refund),
        user_data_128: voucher.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::VOUCHER_REFUND,
        ..Transfer::default()
    };
    if voucher.fee == 0 {
        return vec![refund];
    }
    let fee = Transfer {
        id: TransferId(authorization::derived_transfer_id(
            "voucher-fee",
            voucher.id,
            "",
        )),
        debit_account_id: chart::VOUCHERS_ACCOUNT,
        credit_account_id: chart::PLATFORM_FEES_ACCOUNT,
        amount: u128::from(voucher.fee),
        user_data_128: voucher.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::FEE,
        ..Transfer::default()
    };
    let refund = Transfer {
        flags: TransferFlags::LINKED,
        ..refund
    };
    vec![refund, fee]
}

/// How much of an unused voucher's price a cancel now gives back: `(refund, fee)`.
fn cancel_terms(voucher: &VoucherRecord, now_s: u64) -> Result<(u64, u64), PlatformError> {
    if voucher.expired(now_s) {
        let refund = voucher
            .price
            .checked_mul(EXPIRED_REFUND_PERCENT)
            .expect("a price times 100 fits")
            / 100;
        return Ok((refund, voucher.price - refund));
    }
    if now_s < voucher.purchased_at_s.saturating_add(CANCEL_WINDOW_S) {
        return Ok((voucher.price, 0));
    }
    Err(PlatformError::Voucher(VoucherError::State(format!(
        "a voucher is cancelled within {} days of purchase, or after it expires ({} % back)",
        CANCEL_WINDOW_S / 86_400,
        EXPIRED_REFUND_PERCENT
    ))))
}

impl Platform {
    /// Cancels a member's unused voucher; cancelling a cancelled one answers it again. The
    /// refund and the voucher's row are one commit.
    pub async fn cancel_voucher(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<VoucherRecord, PlatformError> {
        let _claim = self.vouchers.changes.claim(id).await?;
        let voucher = self
            .stored_voucher(id)
            .await?
            .filter(|v| v.member_id == member_id)
            .ok_or(PlatformError::NotFound(Entity::Voucher))?;
        match voucher.status {
            VoucherStatus::Active => {}
            VoucherStatus::Cancelled => return Ok(voucher),
            other => {
                let detail = format!("a {} voucher cannot be cancelled", other.as_str());
                return Err(PlatformError::Voucher(VoucherError::State(detail)));
            }
        }
        let now = now_s();
        let (refund, fee) = cancel_terms(&voucher, now)?;
        let mut changed = voucher;
        changed.status = VoucherStatus::Cancelling;
        (changed.refund, changed.fee) = (refund, fee);
        changed.cancelled_at_s = Some(now);
        let transfers = cancel_transfers(&changed);
        let committing = self.enqueue_commit(transfers, move |outcome| {
            let done = outcome
                .results
                .iter()
                .all(|r| matches!(r, CreateTransferResult::Ok | CreateTransferResult::Exists));
            if !done {
                tracing::warn!(voucher = changed.id, results = ?outcome.results, "voucher refund refused");
            }
            let mut voucher = changed;
            finish_cancel(&mut voucher, done);
            (vec![voucher_row(&voucher)], voucher)
        })?;
        let voucher = committing.done().await?;
        if voucher.status == VoucherStatus::Cancelled {
            Ok(voucher)
        } else {
            Err(PlatformError::Unavailable(
                "the refund could not be made".into(),
            ))
        }
    }

    /// At start: finishes the purchases and cancels of the older layout that a crash cut
    /// short (a `pending` or `cancelling` row), from what the ledger holds.
    pub(crate) async fn resolve_interrupted_vouchers(&self) -> Result<(), PlatformError> {
        let mut after = None;
        loop {
            let open = self
                .ledger
                .tables(move |read| tables::open_vouchers(read, after, OPEN_PAGE_MAX))
                .await?;
            let Some(last) = open.last() else {
                return Ok(());
            };
            after = Some(last.id);
            for voucher in open {
                self.resolve_interrupted(voucher).await?;
            }
        }
    }

    async fn resolve_interrupted(&self, mut voucher: VoucherRecord) -> Result<(), PlatformError> {
        let transfer_id = match voucher.status {
            VoucherStatus::Pending => voucher.id,
            _ => cancel_transfers(&voucher)[0].id.0,
        };
        let found = !self
            .ledger
            .lookup_transfers(vec![TransferId(transfer_id)])
            .await?
            .is_empty();
        match voucher.status {
            VoucherStatus::Pending => finish_purchase(
                &mut voucher,
                if found { Ok(()) } else { Err("system_error") },
            ),
            _ => finish_cancel(&mut voucher, found),
        }
        Ok(self.ledger.record(vec![voucher_row(&voucher)]).await?)
    }
}

fn finish_cancel(voucher: &mut VoucherRecord, done: bool) {
    assert_eq!(voucher.status, VoucherStatus::Cancelling);
    if done {
        voucher.status = VoucherStatus::Cancelled;
    } else {
        voucher.status = VoucherStatus::Active;
        (voucher.refund, voucher.fee, voucher.cancelled_at_s) = (0, 0, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher(price: u64, purchased_at_s: u64, expires_at_s: u64) -> VoucherRecord {
        VoucherRecord {
            id: 1,
            product_id: 2,
            member_id: 3,
            brand: "b".into(),
            name: "n".into(),
            face_value: price,
            price,
            code_sealed: Vec::new(),
            code_index: [0; 32],
            status: VoucherStatus::Active,
            failure: None,
            idempotency_key: None,
            purchased_at_s,
            expires_at_s,
            authorization_id: None,
            redeemed_at_s: None,
            refund: 0,
            fee: 0,
            cancelled_at_s: None,
        }
    }

    #[test]
    fn cancel_terms_at_their_boundaries() {
        let bought = voucher(4_001, 1_000, 1_000 + 30 * 86_400);
        assert_eq!(cancel_terms(&bought, 1_000).unwrap(), (4_001, 0));
        let last = 1_000 + CANCEL_WINDOW_S - 1;
        assert_eq!(cancel_terms(&bought, last).unwrap(), (4_001, 0));
        assert!(cancel_terms(&bought, last + 1).is_err());
        let expired = bought.expires_at_s;
        // 90 % rounded down to the member, the rest (never lost) to the fee.
        assert_eq!(cancel_terms(&bought, expired).unwrap(), (3_600, 401));
        let largest = voucher(super::super::FACE_VALUE_MAX, 0, 1);
        let (refund, fee) = cancel_terms(&largest, 1).unwrap();
        assert_eq!(refund + fee, super::super::FACE_VALUE_MAX);
    }
}
