//! The steps after an authorization (see `van`): capture, cancel (void or refund), network
//! cancel, the status query, and at start the resolution of steps a crash cut short.
//!
//! A capture moves value first and records after: its ledger transfer has an id derived
//! from the authorization, so a retry finds it and a restart reads it back. A cancel is
//! recorded (pending, durable) before its transfer, because refunds are many and each
//! reserves part of what remains refundable.

use crate::error::Entity;
use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};

use crate::chart::{self, transfer_code};
use crate::domain::{self, id_key};
use crate::error::{PlatformError, invalid};
use crate::service::Platform;
use crate::van::{
    self, AuthorizationRecord, AuthorizationStatus, CancelEntry, CancelKind, CancelStatus,
    DeclineReason, KIND_AUTHORIZATION, NETWORK_CANCEL_KEY, VanTx,
};
use ports::time::now_s;

fn state_error(detail: &str) -> PlatformError {
    PlatformError::AuthorizationState(detail.to_string())
}

/// What a cancel's first lock section decided.
enum CancelBegun {
    /// This cancel is known (a retry): answer the authorization as it is.
    Existing,
    /// Recorded as pending (queued up to the sequence): move the value.
    Started(CancelEntry, u64),
}

impl Platform {
    /// The authorization `id` if the terminal's merchant owns it.
    fn owned(&self, terminal_id: u128, id: u128) -> Result<AuthorizationRecord, PlatformError> {
        let state = self.lock();
        let merchant_id = state
            .merchants
            .terminals
            .get(&terminal_id)
            .map(|terminal| terminal.merchant_id)
            .ok_or(PlatformError::NotFound(Entity::Terminal))?;
        state
            .van
            .authorizations
            .get(&id)
            .filter(|record| record.merchant_id == merchant_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Authorization))
    }

    /// Records a changed authorization and waits until it is durable.
    async fn store_authorization(
        &self,
        id: u128,
        change: impl FnOnce(&mut AuthorizationRecord),
    ) -> Result<AuthorizationRecord, PlatformError> {
        let (record, sequence) = {
            let mut state = self.lock();
            let mut record = state
                .van
                .authorizations
                .get(&id)
                .ok_or(PlatformError::NotFound(Entity::Authorization))?
                .clone();
            change(&mut record);
            let sequence = self.record_authorization(&mut state, &record)?;
            (record, sequence)
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    /// Captures `amount` (at most the authorized amount; the rest is released) of a hold.
    pub async fn capture(
        &self,
        terminal_id: u128,
        id: u128,
        amount: u64,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let record = self.owned(terminal_id, id)?;
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
        let results = self.ledger.create_transfers(vec![post]).await?;
        match results[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => {}
            CreateTransferResult::PendingTransferAlreadyVoided
            | CreateTransferResult::PendingTransferExpired => {
                self.store_authorization(id, |r| r.status = AuthorizationStatus::Voided)
                    .await?;
                return Err(state_error("voided or expired"));
            }
            CreateTransferResult::ExistsWithDifferentAmount => {
                return Err(state_error("captured with another amount"));
            }
            other => {
                return Err(PlatformError::Unavailable(format!(
                    "capture refused: {other}"
                )));
            }
        }
        let now = now_s();
        self.store_authorization(id, |r| {
            r.status = AuthorizationStatus::Captured;
            r.captured_amount = amount;
            r.captured_at_s = Some(now);
        })
        .await
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
        van::check_van_tx_id(van_tx_id)?;
        if amount == Some(0) {
            return Err(invalid("amount", "must be at least 1"));
        }
        self.owned(terminal_id, id)?;
        self.cancel_with_key(id, amount, van_tx_id).await
    }

    async fn cancel_with_key(
        &self,
        id: u128,
        amount: Option<u64>,
        key: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let begun = {
            let mut state = self.lock();
            let record = state
                .van
                .authorizations
                .get(&id)
                .ok_or(PlatformError::NotFound(Entity::Authorization))?
                .clone();
            if key != NETWORK_CANCEL_KEY {
                match state
                    .van
                    .by_van_tx
                    .get(&(record.merchant_id, key.to_string()))
                {
                    Some(VanTx::Cancel(known)) if *known == id => {}
                    Some(_) => return Err(PlatformError::VanTxConflict),
                    None => {}
                }
            }
            match record.cancels.iter().find(|cancel| cancel.key == key) {
                Some(known) if known.requested_amount == amount || key == NETWORK_CANCEL_KEY => {
                    CancelBegun::Existing
                }
                Some(_) => return Err(PlatformError::VanTxConflict),
                None => {
                    let entry = new_cancel(&record, amount, key)?;
                    let mut changed = record;
                    changed.cancels.push(entry.clone());
                    let write = domain::put(KIND_AUTHORIZATION, &id_key(id), &changed);
                    let sequence = self.queue(vec![write])?;
                    state.van.insert(changed);
                    CancelBegun::Started(entry, sequence)
                }
            }
        };
        let (entry, sequence) = match begun {
            CancelBegun::Existing => return self.finished_cancel(id, key).await,
            CancelBegun::Started(entry, sequence) => (entry, sequence),
        };
        self.durable(sequence).await?;
        self.execute_cancel(id, entry).await
    }

    /// A repeated cancel: waits for the first one, then answers as it ended.
    async fn finished_cancel(
        &self,
        id: u128,
        key: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let record = self.settled(id).await?;
        let failed = record
            .cancels
            .iter()
            .any(|cancel| cancel.key == key && cancel.status == CancelStatus::Failed);
        if failed {
            return Err(PlatformError::MerchantPayableInsufficient);
        }
        Ok(record)
    }

    async fn execute_cancel(
        &self,
        id: u128,
        entry: CancelEntry,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let record = self.owned_any(id)?;
        let transfer = cancel_transfer(&record, &entry);
        let results = self.ledger.create_transfers(vec![transfer]).await?;
        let done = match results[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => true,
            CreateTransferResult::PendingTransferAlreadyVoided
            | CreateTransferResult::PendingTransferExpired => true,
            CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => false,
            other => {
                tracing::warn!(authorization = id, result = %other, "cancel refused by the ledger");
                false
            }
        };
        let key = entry.key.clone();
        let record = self
            .store_authorization(id, |r| finish_cancel(r, &key, done))
            .await?;
        if done {
            Ok(record)
        } else {
            Err(PlatformError::MerchantPayableInsufficient)
        }
    }

    fn owned_any(&self, id: u128) -> Result<AuthorizationRecord, PlatformError> {
        self.lock()
            .van
            .authorizations
            .get(&id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Authorization))
    }

    /// Undoes whatever the terminal's merchant's `van_tx_id` did (void or full refund); if it
    /// never arrived, leaves a tombstone so that a late original is declined `cancelled`.
    pub async fn network_cancel(
        &self,
        terminal_id: u128,
        van_tx_id: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        van::check_van_tx_id(van_tx_id)?;
        let found = {
            let mut state = self.lock();
            let terminal = state
                .merchants
                .terminals
                .get(&terminal_id)
                .ok_or(PlatformError::NotFound(Entity::Terminal))?;
            let key = (terminal.merchant_id, van_tx_id.to_string());
            match state.van.by_van_tx.get(&key) {
                Some(VanTx::Authorization(id)) => Ok(*id),
                Some(VanTx::Cancel(_)) => {
                    return Err(state_error("a network cancel undoes authorizations only"));
                }
                None => {
                    let tombstone = tombstone(terminal.merchant_id, terminal_id, van_tx_id);
                    let write = domain::put(KIND_AUTHORIZATION, &id_key(tombstone.id), &tombstone);
                    let sequence = self.queue(vec![write])?;
                    state.van.insert(tombstone.clone());
                    Err((tombstone, sequence))
                }
            }
        };
        let id = match found {
            Ok(id) => id,
            Err((tombstone, sequence)) => {
                self.durable(sequence).await?;
                return Ok(tombstone);
            }
        };
        let record = self.settled(id).await?;
        let undo = match record.status {
            AuthorizationStatus::Authorized => true,
            AuthorizationStatus::Captured => record.captured_amount > record.refunds_claimed(),
            _ => false,
        };
        if undo {
            self.cancel_with_key(id, None, NETWORK_CANCEL_KEY).await?;
        }
        self.store_authorization(id, |r| r.network_cancelled = true)
            .await
    }

    /// The authorization a `van_tx_id` of the terminal's merchant names (that of the
    /// authorization a cancel's `van_tx_id` cancelled), once no step of it is under way.
    pub async fn van_transaction(
        &self,
        terminal_id: u128,
        van_tx_id: &str,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let id = {
            let state = self.lock();
            let merchant_id = state
                .merchants
                .terminals
                .get(&terminal_id)
                .map(|terminal| terminal.merchant_id)
                .ok_or(PlatformError::NotFound(Entity::Terminal))?;
            match state
                .van
                .by_van_tx
                .get(&(merchant_id, van_tx_id.to_string()))
            {
                Some(VanTx::Authorization(id) | VanTx::Cancel(id)) => *id,
                None => return Err(PlatformError::NotFound(Entity::Transaction)),
            }
        };
        self.settled(id).await
    }

    /// The authorization once no step of it is under way, as durable.
    pub(crate) async fn settled(&self, id: u128) -> Result<AuthorizationRecord, PlatformError> {
        self.settled_authorization(id).await
    }

    /// At start: finishes, from the ledger, every step a crash left under way. An
    /// authorization whose transfer never happened was never answered: it is declined.
    pub(crate) async fn resolve_interrupted_authorizations(&self) -> Result<(), PlatformError> {
        let open: Vec<AuthorizationRecord> = self
            .lock()
            .van
            .authorizations
            .values()
            .filter(|r| r.status == AuthorizationStatus::Authorized || r.busy())
            .cloned()
            .collect();
        for record in open {
            let mut ids = vec![
                TransferId(record.id),
                TransferId(van::capture_transfer_id(record.id)),
                TransferId(van::void_transfer_id(record.id)),
            ];
            ids.extend(record.cancels.iter().map(|c| TransferId(c.transfer_id)));
            let found = self.ledger.lookup_transfers(ids).await?;
            let mut resolved = record.clone();
            resolve_from_ledger(&mut resolved, &found);
            if resolved != record {
                self.store_authorization(record.id, |r| *r = resolved)
                    .await?;
            }
        }
        Ok(())
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
