//! Paying at the till (MV-4, TT-12): VAN authorizations, captures, cancels, network cancels
//! and status queries, each exactly once.
//!
//! ```text
//!  authorize ──► pending (durable, code used) ──ledger──► authorized (capture: false: a hold)
//!                 │                                 └──► captured   (capture: true: a sale)
//!                 └─ declined (recorded too: a retry gets the same decline)
//!  authorized ──capture──► captured ──cancel──► refunds (partial allowed, ≤ captured)
//!        └─────cancel────► voided
//! ```
//!
//! - The authorization record (with the pay code's use) is durable before value moves, and
//!   every movement is a ledger transfer whose id derives from the authorization: the sale
//!   or hold is the transfer with the authorization's id, its capture, void and each refund
//!   have ids hashed from it. A retry finds the movement (`exists`) instead of repeating it,
//!   and a restart rebuilds any outcome a crash kept from the records out of the ledger.
//! - A sale (`capture: true`) is one posted transfer member → merchant payable; a hold
//!   (`capture: false`) is a pending transfer that the capture posts (fully or partly; the
//!   rest is released) or a cancel voids. `allow_partial` makes it a balancing debit: the
//!   ledger moves min(available, amount) atomically, so two tills racing for one balance
//!   can never overdraw it.
//! - Every call is idempotent on (the terminal's merchant, `van_tx_id`): the same request
//!   again gets the same answer; another request under the same id is refused.
//! - An approval is answered once its transfer is durable in the ledger (the record of the
//!   outcome is queued; should a crash lose it, the restart reads the outcome back from the
//!   ledger, the same answer). A decline is answered only once its record is durable.

use crate::payments::error::PaymentError;
use journal::TransferOutcome;
use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};

use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::payments as payments_tables;

use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::members::{MemberGate, MemberStatus};
use crate::merchants::MerchantRecord;
use crate::paycode::{Device, PaycodeDecline};
use crate::payments::{Claimed, Follow, FollowedCommit, PaymentStep, VanTx, authorization_rows};
use crate::service::Platform;
use crate::vouchers::{PresentedVoucher, is_voucher_code};
use ports::time::{kst_day_start_s, now_s};

// The model lives in `authorization`; the API names it here too.
pub use crate::authorization::{
    AUTHORIZATION_AMOUNT_MAX, AUTHORIZATION_HOLD_S, AuthorizationRecord, AuthorizationStatus,
    CANCELS_PER_AUTHORIZATION_MAX, CancelEntry, CancelKind, CancelStatus, DeclineReason,
    KIND_AUTHORIZATION, MEMBER_DAILY_PAYMENT_LIMIT, NETWORK_CANCEL_KEY, OUTCOME_WAIT_MS,
    VAN_TX_ID_BYTES_MAX, VoucherUse, capture_transfer_id, derived_transfer_id,
    new_authorization_id, refund_transfer_id, void_transfer_id,
};

impl From<PaycodeDecline> for DeclineReason {
    fn from(decline: PaycodeDecline) -> Self {
        match decline {
            PaycodeDecline::Invalid => DeclineReason::InvalidCode,
            PaycodeDecline::Expired => DeclineReason::ExpiredCode,
            PaycodeDecline::Used => DeclineReason::UsedCode,
            PaycodeDecline::TooManyGuesses => DeclineReason::TooManyAttempts,
        }
    }
}

pub fn check_van_tx_id(text: &str) -> Result<(), PlatformError> {
    let ok = !text.is_empty()
        && text.len() <= VAN_TX_ID_BYTES_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        let detail = format!("1 to {VAN_TX_ID_BYTES_MAX} of A-Z a-z 0-9 - _ . :");
        Err(invalid("van_tx_id", detail))
    }
}

/// `van_tx_id`s of this prefix are checkout's (`checkout`): a till may not use them.
pub const CHECKOUT_VAN_TX_PREFIX: &str = "checkout:";

/// A till's `van_tx_id`: [`check_van_tx_id`], and not checkout's.
pub fn check_till_van_tx_id(text: &str) -> Result<(), PlatformError> {
    check_van_tx_id(text)?;
    if text.starts_with(CHECKOUT_VAN_TX_PREFIX) {
        let detail = format!("ids starting with {CHECKOUT_VAN_TX_PREFIX} are checkout's");
        return Err(invalid("van_tx_id", detail));
    }
    Ok(())
}

/// Who pays an authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayWith {
    /// Whoever the pay code (or gift voucher code) the till read names.
    Code,
    /// A member who approved the payment in the app (checkout, a till's QR).
    Member(u128),
}

/// A new authorization of `request` at the terminal, pending, before any check.
fn pending_record(
    terminal_id: u128,
    merchant_id: u128,
    request: &AuthorizationRequest,
) -> AuthorizationRecord {
    AuthorizationRecord {
        id: new_authorization_id(),
        merchant_id,
        terminal_id,
        member_id: 0,
        van_tx_id: request.van_tx_id.clone(),
        request_digest: None,
        amount: request.amount,
        capture: request.capture,
        allow_partial: request.allow_partial,
        status: AuthorizationStatus::Pending,
        decline_reason: None,
        approved_amount: 0,
        captured_amount: 0,
        refunded_amount: 0,
        network_cancelled: false,
        cancels: Vec::new(),
        created_at_s: now_s(),
        captured_at_s: None,
        settlement_id: None,
        voucher: None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub pay_code: String,
    pub amount: u64,
    pub van_tx_id: String,
    pub capture: bool,
    pub allow_partial: bool,
}

impl AuthorizationRequest {
    fn digest(&self, terminal_id: u128) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"mileverse/van/authorization/");
        hasher.update(terminal_id.to_be_bytes());
        hasher.update(self.amount.to_be_bytes());
        hasher.update([u8::from(self.capture), u8::from(self.allow_partial)]);
        hasher.update(self.pay_code.as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Whether the ledger may move less than asked (a partial approval).
fn balancing(record: &AuthorizationRecord) -> bool {
    record.allow_partial && record.voucher.is_none()
}

fn payment(record: &AuthorizationRecord) -> Transfer {
    let mut flags = TransferFlags::empty();
    if !record.capture {
        flags = flags.union(TransferFlags::PENDING);
    }
    if balancing(record) {
        flags = flags.union(TransferFlags::BALANCING_DEBIT);
    }
    let amount = record
        .voucher
        .map_or(record.amount, |voucher| voucher.price);
    Transfer {
        id: TransferId(record.id),
        debit_account_id: record.payer_account(),
        credit_account_id: AccountId(record.merchant_id),
        amount: u128::from(amount),
        user_data_128: record.id,
        timeout: if record.capture {
            0
        } else {
            AUTHORIZATION_HOLD_S
        },
        ledger: chart::LEDGER_MVP,
        code: transfer_code::PAYMENT,
        flags,
        ..Transfer::default()
    }
}

/// What the ledger's answer to a payment means for its authorization.
fn judge_payment(
    record: &AuthorizationRecord,
    outcome: &TransferOutcome<'_>,
) -> Result<u64, DeclineReason> {
    match outcome.results[0] {
        CreateTransferResult::Ok | CreateTransferResult::Exists => {
            let moved = outcome
                .transfer(TransferId(record.id))
                .map_or(0, |transfer| {
                    u64::try_from(transfer.amount).unwrap_or(u64::MAX)
                });
            // A partial approval of an empty wallet moves nothing: that is a decline.
            if moved == 0 {
                Err(DeclineReason::InsufficientBalance)
            } else {
                Ok(moved)
            }
        }
        CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
            Err(DeclineReason::InsufficientBalance)
        }
        other => {
            tracing::warn!(authorization = record.id, result = %other, "payment refused by the ledger");
            Err(DeclineReason::SystemError)
        }
    }
}

/// An authorization's first commit: its rows (and the pay code's or voucher's records)
/// with its payment, or alone when it was declined before value could move.
struct Authorizing {
    record: AuthorizationRecord,
    /// The pay code's rows.
    rows: Vec<RowRef>,
    /// A voucher's rows: redeemed, and as it was (written instead if the ledger declines).
    voucher: Option<VoucherRows>,
    /// What the contexts following this payment add (see `payments::PaymentFollower`), and
    /// where their transfers are in the commit.
    follow: Option<(Follow, Option<usize>)>,
}

struct VoucherRows {
    redeemed: RowRef,
    release: RowRef,
}

impl Authorizing {
    /// The rows of the authorization as the ledger's answer to its payment (if it had one)
    /// makes it, with the pay code's or voucher's records.
    fn commit(self, outcome: &TransferOutcome<'_>) -> (Vec<RowRef>, AuthorizationRecord) {
        let Authorizing {
            mut record,
            rows: code_rows,
            voucher,
            follow,
        } = self;
        let before = record.clone();
        if record.status == AuthorizationStatus::Pending {
            let judged = judge_payment(&record, outcome);
            apply_outcome(&mut record, judged);
        }
        let mut rows = authorization_rows(&record);
        rows.extend(code_rows);
        if let Some(voucher) = voucher {
            let declined = record.status == AuthorizationStatus::Declined;
            rows.push(if declined {
                voucher.release
            } else {
                voucher.redeemed
            });
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
    }
}

impl Platform {
    /// Authorizes a payment presented at `terminal_id` (whose signature the caller checked).
    pub async fn authorize(
        &self,
        terminal_id: u128,
        request: AuthorizationRequest,
    ) -> Result<AuthorizationRecord, PlatformError> {
        check_till_van_tx_id(&request.van_tx_id)?;
        self.authorize_as(terminal_id, request, PayWith::Code).await
    }

    /// Authorizes a payment at `terminal_id` from whoever `pay_with` names: the code the
    /// till read, or a member who approved it in the app (checkout).
    pub(crate) async fn authorize_as(
        &self,
        terminal_id: u128,
        request: AuthorizationRequest,
        pay_with: PayWith,
    ) -> Result<AuthorizationRecord, PlatformError> {
        check_van_tx_id(&request.van_tx_id)?;
        if request.amount == 0 {
            return Err(invalid("amount", "must be at least 1"));
        }
        if is_voucher_code(&request.pay_code) && !request.capture {
            return Err(invalid("capture", "a gift voucher is redeemed in one step"));
        }
        let terminal = self.terminal_by_id(terminal_id).await?;
        let merchant_id = terminal.merchant_id;
        let _claim = self
            .claim_payment(Claimed::VanTx(merchant_id, request.van_tx_id.clone()))
            .await?;
        let digest = request.digest(terminal_id);
        if let Some(known) = self.van_tx(merchant_id, &request.van_tx_id).await? {
            return match known {
                VanTx::Authorization(existing) => match &existing.request_digest {
                    Some(known) if *known != digest => {
                        Err(PlatformError::Payment(PaymentError::VanTxConflict))
                    }
                    // As it is once no step of it (a capture, a cancel) is under way.
                    _ => self.settled_authorization(existing.id).await,
                },
                VanTx::Cancel(_) => Err(PlatformError::Payment(PaymentError::VanTxConflict)),
            };
        }
        let merchant = self.merchant_gate(merchant_id).await?;
        let payer = match pay_with {
            PayWith::Code => self.payer(&request.pay_code).await?,
            PayWith::Member(member_id) => self.member_payer(member_id).await?,
        };
        let step = PaymentStep::Authorize {
            amount: request.amount,
            capture: request.capture,
            partial: request.allow_partial,
        };
        // The member the checks will find (a pay code's device, or who approved in the
        // app), so that followers' transfers name their wallet.
        let mut pending = pending_record(terminal_id, merchant_id, &request);
        pending.member_id = payer
            .member_id
            .or(payer.device.as_ref().map(|device| device.member_id))
            .unwrap_or(0);
        let follow = self.follow_payment(&pending, step).await?;
        let (committing, counted_before) = {
            let screening = Screening {
                terminal_id,
                merchant_id,
                digest,
                terminal_enabled: terminal.enabled,
                merchant: merchant.as_ref(),
                payer: PayerRef {
                    gate: payer.gate.as_ref(),
                    device: payer.device.as_ref(),
                    voucher: payer.voucher.as_ref(),
                    member_id: payer.member_id,
                },
            };
            let mut authorizing = self.screen_authorization(&request, screening);
            let counted = authorizing.record.counted();
            let mut transfers = match authorizing.record.status {
                AuthorizationStatus::Pending => vec![payment(&authorizing.record)],
                _ => Vec::new(),
            };
            // A voucher's payment is the vouchers account's, not the member's: followed
            // for its rows only.
            authorizing.follow = follow.map(|mut follow| {
                if authorizing.record.voucher.is_some() {
                    follow.transfers.clear();
                }
                let first = follow.extend(&mut transfers);
                (follow, first)
            });
            let committing =
                self.enqueue_commit(transfers, move |outcome| authorizing.commit(outcome))?;
            (committing, counted)
        };
        let record = committing.done().await?;
        self.payments.settle_daily(&record, counted_before);
        Ok(record)
    }

    /// The merchant of a terminal.
    pub(crate) async fn terminal_merchant(&self, terminal_id: u128) -> Result<u128, PlatformError> {
        Ok(self.terminal_by_id(terminal_id).await?.merchant_id)
    }

    /// Who pays with `pay_code`, read before the checks under the lock: the member's gate
    /// (a pay code's or a gift voucher's owner) and, for a voucher code, the voucher
    /// (claimed); with a pay code, the member's figure of the day loaded too.
    async fn payer(&self, pay_code: &str) -> Result<Payer<'_>, PlatformError> {
        if is_voucher_code(pay_code) {
            let presented = self.presented_voucher(pay_code).await?;
            let gate = match &presented.voucher {
                Some(voucher) => self.member_gate(voucher.member_id).await?,
                None => None,
            };
            return Ok(Payer {
                gate,
                device: None,
                voucher: Some(presented),
                member_id: None,
            });
        }
        let Some((device, gate)) = self.presented_paycode(pay_code).await? else {
            return Ok(Payer::default());
        };
        if !self.paycodes.has_room(device.handle, now_s()) {
            let detail = "too many payments under way; retry";
            return Err(PlatformError::Unavailable(detail.into()));
        }
        self.load_daily(device.member_id).await?;
        Ok(Payer {
            gate,
            device: Some(device),
            voucher: None,
            member_id: None,
        })
    }

    /// A member who approved a payment in the app (their session checked by the caller),
    /// with their figure of the day loaded.
    async fn member_payer(&self, member_id: u128) -> Result<Payer<'_>, PlatformError> {
        let gate = self.member_gate(member_id).await?;
        self.load_daily(member_id).await?;
        Ok(Payer {
            gate,
            device: None,
            voucher: None,
            member_id: Some(member_id),
        })
    }

    /// Makes sure the member's figure of the day is in memory (read from the table the
    /// first time the member pays on a day).
    async fn load_daily(&self, member_id: u128) -> Result<(), PlatformError> {
        let now = now_s();
        if self.payments.has_daily(member_id, now) {
            return Ok(());
        }
        let from_s = kst_day_start_s(now);
        let paid = self
            .ledger
            .tables(move |read| {
                payments_tables::reports::member_paid_since(read, member_id, from_s)
            })
            .await?;
        self.payments.insert_daily(member_id, now, paid);
        Ok(())
    }

    /// The checks, from what was read before: the authorization to commit, declined or
    /// pending.
    fn screen_authorization(
        &self,
        request: &AuthorizationRequest,
        screening: Screening<'_>,
    ) -> Authorizing {
        let Screening {
            terminal_id,
            merchant_id,
            digest,
            terminal_enabled,
            merchant,
            payer,
        } = screening;
        let mut record = pending_record(terminal_id, merchant_id, request);
        record.request_digest = Some(digest);
        let mut authorizing = Authorizing {
            record,
            rows: Vec::new(),
            voucher: None,
            follow: None,
        };
        let merchant = merchant.filter(|merchant| merchant.id == merchant_id);
        let decline = self.screen(terminal_enabled, merchant, request, payer, &mut authorizing);
        if let Some(reason) = decline {
            authorizing.record.status = AuthorizationStatus::Declined;
            authorizing.record.decline_reason = Some(reason);
        }
        authorizing
    }

    /// The checks before value moves, in order; the pay code is used up only when the
    /// merchant may take payments. Sets the member; returns the decline, if any. A member
    /// who passes has the amount reserved against the day's limit.
    fn screen(
        &self,
        terminal_enabled: bool,
        merchant: Option<&MerchantRecord>,
        request: &AuthorizationRequest,
        payer: PayerRef<'_>,
        authorizing: &mut Authorizing,
    ) -> Option<DeclineReason> {
        if !terminal_enabled {
            return Some(DeclineReason::TerminalDisabled);
        }
        let Some(merchant) = merchant.filter(|merchant| merchant.enabled) else {
            return Some(DeclineReason::MerchantDisabled);
        };
        let record = &mut authorizing.record;
        if request.amount > AUTHORIZATION_AMOUNT_MAX {
            return Some(DeclineReason::LimitExceeded);
        }
        if let Some(presented) = payer.voucher {
            return self.screen_voucher(&merchant.brand, presented, payer.gate, authorizing);
        }
        let gate = payer.gate;
        let (member_id, code_rows) = match payer.member_id {
            Some(member_id) => (member_id, Vec::new()),
            None => {
                let redeemed =
                    self.redeem_paycode(&request.pay_code, payer.device, record.created_at_s, gate);
                match redeemed {
                    Ok(redeemed) => redeemed,
                    Err(decline) => return Some(decline.into()),
                }
            }
        };
        authorizing.rows.extend(code_rows);
        let record = &mut authorizing.record;
        record.member_id = member_id;
        let Some(member) = gate.filter(|gate| gate.member_id == member_id) else {
            return Some(DeclineReason::InvalidCode);
        };
        if member.status != MemberStatus::Active {
            return Some(DeclineReason::InvalidCode);
        }
        if member.locked {
            return Some(DeclineReason::MemberLocked);
        }
        let reserved = self
            .payments
            .reserve_daily(member_id, record.created_at_s, request.amount);
        if !reserved {
            return Some(DeclineReason::LimitExceeded);
        }
        None
    }

    /// The checks of a gift voucher presented at the till; redeems it unless declined.
    fn screen_voucher(
        &self,
        brand: &str,
        presented: &PresentedVoucher<'_>,
        gate: Option<&MemberGate>,
        authorizing: &mut Authorizing,
    ) -> Option<DeclineReason> {
        let record = &mut authorizing.record;
        let terminal = record.terminal_id.to_be_bytes();
        let at = crate::vouchers::RedeemAt {
            brand,
            authorization_id: record.id,
            now_s: record.created_at_s,
            owner: gate,
            guesses: self.guess_gate(crate::limits::VOUCHER_GUESSES_PER_TERMINAL, &terminal),
        };
        match self.vouchers.redeem(presented, at) {
            Ok(redeemed) => {
                record.member_id = redeemed.member_id;
                record.voucher = Some(redeemed.voucher);
                authorizing.voucher = Some(VoucherRows {
                    redeemed: redeemed.row,
                    release: redeemed.release,
                });
                None
            }
            Err(decline) => Some(decline),
        }
    }

    /// The authorization `id` once no step of it is under way, as durable.
    pub(crate) async fn settled_authorization(
        &self,
        id: u128,
    ) -> Result<AuthorizationRecord, PlatformError> {
        let _claim = self.claim_payment(Claimed::Authorization(id)).await?;
        self.stored_authorization(id)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Authorization))
    }
}

/// Records the ledger's answer on a pending authorization.
fn apply_outcome(record: &mut AuthorizationRecord, outcome: Result<u64, DeclineReason>) {
    match outcome {
        Ok(moved) => approve(record, moved),
        Err(reason) => {
            record.status = AuthorizationStatus::Declined;
            record.decline_reason = Some(reason);
        }
    }
}

/// A pending authorization whose payment moved `moved` MVP: held, or captured for a sale.
/// A voucher covers up to its face value of the bill and moves its price.
pub(crate) fn approve(record: &mut AuthorizationRecord, moved: u64) {
    assert_eq!(record.status, AuthorizationStatus::Pending);
    record.approved_amount = match record.voucher {
        Some(voucher) => voucher.face_value.min(record.amount),
        None => moved,
    };
    if record.capture {
        record.status = AuthorizationStatus::Captured;
        record.captured_amount = moved;
        record.captured_at_s = Some(record.created_at_s);
    } else {
        record.status = AuthorizationStatus::Authorized;
    }
}

/// What the checks of a new authorization know besides the request.
struct Screening<'a> {
    terminal_id: u128,
    merchant_id: u128,
    digest: String,
    terminal_enabled: bool,
    /// The terminal's merchant, read before (see `Platform::merchant_gate`).
    merchant: Option<&'a MerchantRecord>,
    /// Who pays, read before the checks (see `Platform::payer`).
    payer: PayerRef<'a>,
}

/// Who pays, as read before the lock (see `Platform::payer`).
#[derive(Default)]
struct Payer<'a> {
    /// The gate of the member the code names.
    gate: Option<MemberGate>,
    /// The enrolled device a pay code names.
    device: Option<Device>,
    /// Some for a voucher code (with the voucher, if the code finds one).
    voucher: Option<PresentedVoucher<'a>>,
    /// The member who approved in the app (checkout): no code to redeem.
    member_id: Option<u128>,
}

/// [`Payer`] as the checks read it.
#[derive(Clone, Copy)]
struct PayerRef<'a> {
    gate: Option<&'a MemberGate>,
    device: Option<&'a Device>,
    voucher: Option<&'a PresentedVoucher<'a>>,
    member_id: Option<u128>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_differ_per_step_and_key() {
        let id = 42;
        let ids = [
            capture_transfer_id(id),
            void_transfer_id(id),
            refund_transfer_id(id, "a"),
            refund_transfer_id(id, "b"),
            refund_transfer_id(id + 1, "a"),
        ];
        for (index, left) in ids.iter().enumerate() {
            assert!(left & chart::SYSTEM_ACCOUNT_BASE != 0);
            for right in &ids[index + 1..] {
                assert_ne!(left, right);
            }
        }
    }

    #[test]
    fn decline_reasons_parse_back_from_their_names() {
        let reasons = [
            DeclineReason::InsufficientBalance,
            DeclineReason::ExpiredCode,
            DeclineReason::UsedCode,
            DeclineReason::InvalidCode,
            DeclineReason::TooManyAttempts,
            DeclineReason::MemberLocked,
            DeclineReason::MerchantDisabled,
            DeclineReason::TerminalDisabled,
            DeclineReason::LimitExceeded,
            DeclineReason::VoucherNotAccepted,
            DeclineReason::Cancelled,
            DeclineReason::SystemError,
        ];
        for reason in reasons {
            assert_eq!(DeclineReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(DeclineReason::parse("Used_Code"), None);
        assert_eq!(DeclineReason::parse(""), None);
    }

    #[test]
    fn van_tx_ids_are_checked_at_their_maximum() {
        assert!(check_van_tx_id(&"x".repeat(VAN_TX_ID_BYTES_MAX)).is_ok());
        assert!(check_van_tx_id(&"x".repeat(VAN_TX_ID_BYTES_MAX + 1)).is_err());
        assert!(check_van_tx_id("").is_err());
        assert!(check_van_tx_id(NETWORK_CANCEL_KEY).is_err());
        assert!(check_van_tx_id("VAN-2026:0001.a_b").is_ok());
        assert!(check_till_van_tx_id("checkout:1").is_err());
        assert!(check_till_van_tx_id("checkouts:1").is_ok());
    }
}
