//! The steps after an authorization (see `van`): capture, cancel (void or refund), network
//! cancel and the status query; and the import of authorizations kept in the older layout.
//!
//! Each step claims its authorization (one step at a time), reads it from its table, and
//! commits its ledger transfer with the authorization's changed rows in one store
//! transaction: the rows say what the ledger did (a capture posted or found the hold
//! voided, a refund done or refused for the merchant's balance), so a crash leaves either
//! both or neither, and a retry of the same cancel reads the answer it got.

use crate::payments::error::PaymentError;
use journal::TransferOutcome;
use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};

use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::payments::{Claimed, FollowedCommit, PaymentStep, VanTx, authorization_rows};
use crate::service::Platform;
use crate::van::{
    self, AuthorizationRecord, AuthorizationStatus, CancelEntry, CancelKind, CancelStatus,
    DeclineReason, NETWORK_CANCEL_KEY,
};
use crate::vouchers::released_row;
use ports::time::now_s;

fn state_error(detail: &str) -> PlatformError {
    PlatformError::Payment(PaymentError::AuthorizationState(detail.to_string()))
}

/// How a step changes an authorization once the ledger answered its transfer.
type Change = Box<dyn FnOnce(&mut AuthorizationRecord, &TransferOutcome<'_>) + Send>;

impl Platform {
    /// The authorization `id` if the terminal's merchant owns it, claimed for a step.
    async fn owned(
        &self,
        terminal_id: u128,
        id: u128,
    ) -> Result<
        (
            AuthorizationRecord,
            crate::claims::Claim<'_, crate::payments::Claimed>,
        ),
        PlatformError,
    > {
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let claim = self.claim_payment(Claimed::Authorization(id)).await?;
        let record = self
            .stored_authorization(id)
            .await?
            .filter(|record| record.merchant_id == merchant_id)
            .ok_or(PlatformError::NotFound(Entity::Authorization))?;
        Ok((record, claim))
    }

    /// Commits a step: `transfers` with the rows of the authorization as `change` makes it
    /// from the ledger's answer (and the voucher's record if that frees it), in one commit.
    async fn commit_step(
        &self,
        record: AuthorizationRecord,
        mut transfers: Vec<Transfer>,
        step: PaymentStep,
        change: Change,
    ) -> Result<AuthorizationRecord, PlatformError> {
        // The voucher it was paid with, claimed, in case the step gives the payment back.
        let (_voucher_claim, release) = match record.voucher {
            Some(used) => {
                let (claim, voucher) = self.claim_voucher(used.voucher_id).await?;
                let release = voucher.and_then(|voucher| released_row(&voucher, record.id));
                (Some(claim), release)
            }
            None => (None, None),
        };
        let step = if record.voucher.is_some() {
            PaymentStep::Other
        } else {
            step
        };
        let follow = self.follow_payment(&record, step).await?.map(|mut follow| {
            let first = follow.extend(&mut transfers);
            (follow, first)
        });
        let committing = self.enqueue_commit(transfers, move |outcome| {
            let before = record.clone();
            let mut record = record;
            change(&mut record, outcome);
            let mut rows = authorization_rows(&record);
            if record.releases_voucher() {
                rows.extend(release);
            }
            if let Some((follow, first_transfer)) = follow {
                let commit = FollowedCommit {
                    before: &before,
                    after: &record,
                    outcome,
                    first_transfer,
                };
                rows.extend((follow.rows)(&commit));
            }
            (rows, record)
        })?;
        committing.done().await
    }

    /// Captures `amount` (at most the authorized amount; the rest is released) of a hold.
    pub async fn capture(
        &self,
        terminal_id: u128,
        id: u128,
        amount: u64,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let (record, _claim) = self.owned(terminal_id, id).await?;
        match record.status {
            AuthorizationStatus::Authorized => {}
            AuthorizationStatus::Captured
                if record.captured_amount == amount && !record.capture =>
            {
                return Ok(record);
            }
            AuthorizationStatus::Captured => return Err(state_error("already captured")),
            AuthorizationStatus::Pending => return Err(state_error("still being authorized")),
            AuthorizationStatus::Declined => return Err(state_error("declined")),
            AuthorizationStatus::Voided => return Err(state_error("voided")),
        }
        if amount == 0 || amount > record.approved_amount {
            let detail = format!("1 to the authorized {}", record.approved_amount);
            return Err(invalid("amount", detail));
        }
        let post = Transfer {
            id: TransferId(van::capture_transfer_id(id)),
            debit_account_id: AccountId(record.member_id),
            credit_account_id: AccountId(record.merchant_id),
            amount: u128::from(amount),
            pending_id: TransferId(id),
            user_data_128: id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::PAYMENT,
            flags: TransferFlags::POST_PENDING_TRANSFER,
            ..Transfer::default()
        };
        let now = now_s();
        let change: Change = Box::new(move |r, outcome| match outcome.results[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => {
                r.status = AuthorizationStatus::Captured;
                r.captured_amount = amount;
                r.captured_at_s = Some(now);
            }
            CreateTransferResult::PendingTransferAlreadyVoided
            | CreateTransferResult::PendingTransferExpired => {
                r.status = AuthorizationStatus::Voided;
            }
            _ => {}
        });
        let step = PaymentStep::Capture { amount };
        let changed = self.commit_step(record, vec![post], step, change).await?;
        match changed.status {
            AuthorizationStatus::Captured => Ok(changed),
            AuthorizationStatus::Voided => Err(state_error("voided or expired")),
            _ => Err(PlatformError::Unavailable(
                "capture refused by the ledger".into(),
            )),
        }
    }

    /// Cancels an authorization under the cancel's own `van_tx_id`: a hold is voided whole,
    /// a capture refunded (`amount`, or all that remains).
    pub async fn cancel(
        &self,
        terminal_id: u128,
        id: u128,
        amount: Option<u64>,
        van_tx_id: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        van::check_till_van_tx_id(van_tx_id)?;
        self.cancel_keyed(terminal_id, id, amount, van_tx_id).await
    }

    /// [`Platform::cancel`] under any valid key (checkout's included).
    pub(crate) async fn cancel_keyed(
        &self,
        terminal_id: u128,
        id: u128,
        amount: Option<u64>,
        van_tx_id: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        van::check_van_tx_id(van_tx_id)?;
        if amount == Some(0) {
            return Err(invalid("amount", "must be at least 1"));
        }
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let _key_claim = self
            .claim_payment(Claimed::VanTx(merchant_id, van_tx_id.to_string()))
            .await?;
        match self.van_tx(merchant_id, van_tx_id).await? {
            Some(VanTx::Cancel(known)) if known == id => {}
            Some(_) => return Err(PlatformError::Payment(PaymentError::VanTxConflict)),
            None => {}
        }
        let (record, _claim) = self.owned(terminal_id, id).await?;
        self.cancel_claimed(record, amount, van_tx_id, false).await
    }

    /// A cancel of a claimed authorization: answers a known cancel as it ended, else
    /// commits a new one (with `network_cancelled` set, for a network cancel).
    async fn cancel_claimed(
        &self,
        record: AuthorizationRecord,
        amount: Option<u64>,
        key: &str,
        network: bool,
    ) -> Result<AuthorizationRecord, PlatformError> {
        if let Some(known) = record.cancels.iter().find(|cancel| cancel.key == key) {
            if known.requested_amount != amount && key != NETWORK_CANCEL_KEY {
                return Err(PlatformError::Payment(PaymentError::VanTxConflict));
            }
            if known.status == CancelStatus::Failed {
                return Err(PlatformError::Payment(
                    PaymentError::MerchantPayableInsufficient,
                ));
            }
            return Ok(record);
        }
        let entry = new_cancel(&record, amount, key)?;
        let (kind, refund_amount) = (entry.kind, entry.amount);
        let transfer = cancel_transfer(&record, &entry);
        let mut pending = record;
        pending.cancels.push(entry);
        let key_owned = key.to_string();
        let change: Change = Box::new(move |r, outcome| {
            let done = match outcome.results[0] {
                CreateTransferResult::Ok
                | CreateTransferResult::Exists
                | CreateTransferResult::PendingTransferAlreadyVoided
                | CreateTransferResult::PendingTransferExpired => true,
                CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
                    false
                }
                other => {
                    tracing::warn!(authorization = r.id, result = %other, "cancel refused by the ledger");
                    false
                }
            };
            finish_cancel(r, &key_owned, done);
            if network {
                r.network_cancelled = true;
            }
        });
        let step = match kind {
            CancelKind::Refund => PaymentStep::Refund {
                amount: refund_amount,
            },
            CancelKind::Void => PaymentStep::Other,
        };
        let changed = self
            .commit_step(pending, vec![transfer], step, change)
            .await?;
        let failed = changed
            .cancels
            .iter()
            .any(|cancel| cancel.key == key && cancel.status == CancelStatus::Failed);
        if failed {
            return Err(PlatformError::Payment(
                PaymentError::MerchantPayableInsufficient,
            ));
        }
        Ok(changed)
    }

    /// Undoes whatever the terminal's merchant's `van_tx_id` did (void or full refund); if it
    /// never arrived, leaves a tombstone so that a late original is declined `cancelled`.
    pub async fn network_cancel(
        &self,
        terminal_id: u128,
        van_tx_id: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        van::check_till_van_tx_id(van_tx_id)?;
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let key_claim = self
            .claim_payment(Claimed::VanTx(merchant_id, van_tx_id.to_string()))
            .await?;
        let id = match self.van_tx(merchant_id, van_tx_id).await? {
            Some(VanTx::Authorization(record)) => record.id,
            Some(VanTx::Cancel(_)) => {
                return Err(state_error("a network cancel undoes authorizations only"));
            }
            None => {
                let tombstone = tombstone(merchant_id, terminal_id, van_tx_id);
                let change: Change = Box::new(|_, _| {});
                return self
                    .commit_step(tombstone, Vec::new(), PaymentStep::Other, change)
                    .await;
            }
        };
        let (record, _claim) = self.owned(terminal_id, id).await?;
        let _key_claim = key_claim;
        let undo = match record.status {
            AuthorizationStatus::Authorized => true,
            AuthorizationStatus::Captured => record.captured_amount > record.refunds_claimed(),
            _ => false,
        };
        if undo {
            return self
                .cancel_claimed(record, None, NETWORK_CANCEL_KEY, true)
                .await;
        }
        if record.network_cancelled {
            return Ok(record);
        }
        let change: Change = Box::new(|r, _| r.network_cancelled = true);
        self.commit_step(record, Vec::new(), PaymentStep::Other, change)
            .await
    }

    /// The authorization a `van_tx_id` of the terminal's merchant names (that of the
    /// authorization a cancel's `van_tx_id` cancelled), once no step of it is under way.
    pub async fn van_transaction(
        &self,
        terminal_id: u128,
        van_tx_id: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let id = {
            let _claim = self
                .claim_payment(Claimed::VanTx(merchant_id, van_tx_id.to_string()))
                .await?;
            match self.van_tx(merchant_id, van_tx_id).await? {
                Some(VanTx::Authorization(record)) => record.id,
                Some(VanTx::Cancel(id)) => id,
                None => return Err(PlatformError::NotFound(Entity::Transaction)),
            }
        };
        self.settled_authorization(id).await
    }

    /// An authorization of the older layout as the ledger says it ended: every step a
    /// crash left under way finished (a payment never made is declined: it was never
    /// answered).
    pub(crate) async fn resolved_from_ledger(
        &self,
        record: AuthorizationRecord,
    ) -> Result<AuthorizationRecord, PlatformError> {
        if record.status != AuthorizationStatus::Authorized && !record.busy() {
            return Ok(record);
        }
        let mut ids = vec![
            TransferId(record.id),
            TransferId(van::capture_transfer_id(record.id)),
            TransferId(van::void_transfer_id(record.id)),
        ];
        ids.extend(record.cancels.iter().map(|c| TransferId(c.transfer_id)));
        let found = self.ledger.lookup_transfers(ids).await?;
        let mut resolved = record;
        resolve_from_ledger(&mut resolved, &found);
        Ok(resolved)
    }
}

fn new_cancel(
    record: &AuthorizationRecord,
    amount: Option<u64>,
    key: &str,
) -> Result<CancelEntry, PlatformError> {
    if record.cancels.len() >= van::CANCELS_PER_AUTHORIZATION_MAX {
        let detail = format!("at most {} cancels", van::CANCELS_PER_AUTHORIZATION_MAX);
        return Err(state_error(&detail));
    }
    let requested_amount = amount;
    let (kind, amount, transfer_id) = match record.status {
        AuthorizationStatus::Authorized => {
            if amount.is_some_and(|amount| amount != record.approved_amount) {
                return Err(invalid("amount", "a hold is voided whole"));
            }
            let id = van::void_transfer_id(record.id);
            (CancelKind::Void, record.approved_amount, id)
        }
        AuthorizationStatus::Captured => {
            let remaining = record.captured_amount - record.refunds_claimed();
            if remaining == 0 {
                return Err(state_error("already refunded in full"));
            }
            if record.voucher.is_some() {
                // Whole: given as omitted, as the bill's covered part, or as the MVP moved.
                let whole = [None, Some(record.approved_amount), Some(remaining)];
                if !whole.contains(&amount) {
                    return Err(invalid("amount", "a voucher payment is refunded whole"));
                }
            }
            let amount = if record.voucher.is_some() {
                remaining
            } else {
                amount.unwrap_or(remaining)
            };
            if amount > remaining {
                return Err(invalid("amount", format!("at most the {remaining} left")));
            }
            let id = van::refund_transfer_id(record.id, key);
            (CancelKind::Refund, amount, id)
        }
        AuthorizationStatus::Pending => return Err(state_error("still being authorized")),
        AuthorizationStatus::Declined => return Err(state_error("declined: nothing to cancel")),
        AuthorizationStatus::Voided => return Err(state_error("already voided")),
    };
    Ok(CancelEntry {
        key: key.to_string(),
        requested_amount,
        kind,
        amount,
        transfer_id,
        status: CancelStatus::Pending,
        created_at_s: now_s(),
        settlement_id: None,
    })
}

fn cancel_transfer(record: &AuthorizationRecord, entry: &CancelEntry) -> Transfer {
    match entry.kind {
        CancelKind::Void => Transfer {
            id: TransferId(entry.transfer_id),
            debit_account_id: record.payer_account(),
            credit_account_id: AccountId(record.merchant_id),
            pending_id: TransferId(record.id),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::PAYMENT,
            flags: TransferFlags::VOID_PENDING_TRANSFER,
            ..Transfer::default()
        },
        CancelKind::Refund => Transfer {
            id: TransferId(entry.transfer_id),
            debit_account_id: AccountId(record.merchant_id),
            credit_account_id: record.payer_account(),
            amount: u128::from(entry.amount),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::REFUND,
            ..Transfer::default()
        },
    }
}

fn finish_cancel(record: &mut AuthorizationRecord, key: &str, done: bool) {
    let Some(entry) = record.cancels.iter_mut().find(|c| c.key == key) else {
        return;
    };
    if entry.status != CancelStatus::Pending {
        return;
    }
    entry.status = if done {
        CancelStatus::Done
    } else {
        CancelStatus::Failed
    };
    if !done {
        return;
    }
    match entry.kind {
        CancelKind::Void => record.status = AuthorizationStatus::Voided,
        CancelKind::Refund => record.refunded_amount += entry.amount,
    }
}

fn tombstone(merchant_id: u128, terminal_id: u128, van_tx_id: &str) -> AuthorizationRecord {
    AuthorizationRecord {
        id: van::new_authorization_id(),
        merchant_id,
        terminal_id,
        member_id: 0,
        van_tx_id: van_tx_id.to_string(),
        request_digest: None,
        amount: 0,
        capture: true,
        allow_partial: false,
        status: AuthorizationStatus::Declined,
        decline_reason: Some(DeclineReason::Cancelled),
        approved_amount: 0,
        captured_amount: 0,
        refunded_amount: 0,
        network_cancelled: true,
        cancels: Vec::new(),
        created_at_s: now_s(),
        captured_at_s: None,
        settlement_id: None,
        voucher: None,
    }
}

/// Sets what the ledger says happened: the sale or hold, its capture or void, each cancel.
fn resolve_from_ledger(record: &mut AuthorizationRecord, found: &[Transfer]) {
    let by_id = |id: u128| found.iter().find(|t| t.id.0 == id);
    if record.status == AuthorizationStatus::Pending {
        match by_id(record.id) {
            None => {
                record.status = AuthorizationStatus::Declined;
                record.decline_reason = Some(DeclineReason::SystemError);
            }
            Some(payment) => {
                let moved = u64::try_from(payment.amount).unwrap_or(u64::MAX);
                van::approve(record, moved);
            }
        }
    }
    if record.status == AuthorizationStatus::Authorized {
        if let Some(post) = by_id(van::capture_transfer_id(record.id)) {
            record.status = AuthorizationStatus::Captured;
            record.captured_amount = u64::try_from(post.amount).unwrap_or(u64::MAX);
            record.captured_at_s = Some(now_s());
        } else if by_id(van::void_transfer_id(record.id)).is_some() {
            record.status = AuthorizationStatus::Voided;
        }
    }
    let keys: Vec<(String, bool)> = record
        .cancels
        .iter()
        .filter(|c| c.status == CancelStatus::Pending)
        .map(|c| (c.key.clone(), by_id(c.transfer_id).is_some()))
        .collect();
    for (key, done) in keys {
        finish_cancel(record, &key, done);
    }
}
