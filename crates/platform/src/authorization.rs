//! The authorization, as the VAN API, the payments tables and the other contexts see it:
//! its record ([`AuthorizationRecord`] with its [`CancelEntry`]s), why one is declined
//! ([`DeclineReason`]), the voucher it may have been paid with ([`VoucherUse`]), and the
//! limits of paying at the till. A model only: no state, no IO, nothing of the platform,
//! so the operations (`van`, `van_steps`), the context's storage (`payments`), settlement
//! and vouchers all build on it without importing each other.

use ledger::types::AccountId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chart;

pub const KIND_AUTHORIZATION: &str = "authorization";

/// Largest amount of one authorization (MVP); more is declined `limit_exceeded`.
pub const AUTHORIZATION_AMOUNT_MAX: u64 = 2_000_000;
/// Most a member may pay per KST day (held and captured, refunds not given back).
pub const MEMBER_DAILY_PAYMENT_LIMIT: u64 = 10_000_000;
/// `van_tx_id`s are 1 to this many bytes of `[0-9A-Za-z_.:-]`.
pub const VAN_TX_ID_BYTES_MAX: usize = 64;
/// Cancels (refunds) one authorization may have.
pub const CANCELS_PER_AUTHORIZATION_MAX: usize = 100;
/// How long a hold (`capture: false`) waits for its capture before the ledger releases it.
pub const AUTHORIZATION_HOLD_S: u32 = 7 * 86_400;
/// Longest a repeated request waits for the first one's outcome.
pub const OUTCOME_WAIT_MS: u64 = 10_000;
/// The cancel key a network cancel is recorded under (not a valid `van_tx_id`).
pub const NETWORK_CANCEL_KEY: &str = "~network-cancel";

/// A new authorization id: milliseconds since the epoch in the high half, 64 random bits
/// in the low half (top bit clear, like every random id). Ids that grow with time keep the
/// record store's and the ledger's inserts at the end of their indexes instead of
/// scattering them over every page (the hot path writes two records per authorization).
pub fn new_authorization_id() -> u128 {
    let millis = u128::from(ports::time::now_ms()) << 64;
    let id = (millis | u128::from(rand::random::<u64>())) & !chart::SYSTEM_ACCOUNT_BASE;
    if id == 0 { chart::new_id() } else { id }
}

/// A ledger transfer id derived from an authorization (high bit set, like the platform's
/// own ids; apart from random ids by a hash domain).
pub fn derived_transfer_id(step: &str, authorization_id: u128, key: &str) -> u128 {
    let mut hasher = Sha256::new();
    for part in [b"mileverse/van/".as_slice(), step.as_bytes(), b"/"] {
        hasher.update(part);
    }
    hasher.update(authorization_id.to_be_bytes());
    hasher.update((key.len() as u64).to_be_bytes());
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

pub fn capture_transfer_id(authorization_id: u128) -> u128 {
    derived_transfer_id("capture", authorization_id, "")
}

pub fn void_transfer_id(authorization_id: u128) -> u128 {
    derived_transfer_id("void", authorization_id, "")
}

pub fn refund_transfer_id(authorization_id: u128, key: &str) -> u128 {
    derived_transfer_id("refund", authorization_id, key)
}

/// Why an authorization was declined: stable names for the VAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    InsufficientBalance,
    ExpiredCode,
    UsedCode,
    InvalidCode,
    TooManyAttempts,
    MemberLocked,
    MerchantDisabled,
    TerminalDisabled,
    LimitExceeded,
    /// A gift voucher of another brand than the merchant's.
    VoucherNotAccepted,
    /// A network cancel came first (a tombstone).
    Cancelled,
    /// The ledger refused for a reason that is not the balance, or a crash cut the
    /// authorization short before it was answered.
    SystemError,
}

impl DeclineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::InsufficientBalance => "insufficient_balance",
            DeclineReason::ExpiredCode => "expired_code",
            DeclineReason::UsedCode => "used_code",
            DeclineReason::InvalidCode => "invalid_code",
            DeclineReason::TooManyAttempts => "too_many_attempts",
            DeclineReason::MemberLocked => "member_locked",
            DeclineReason::MerchantDisabled => "merchant_disabled",
            DeclineReason::TerminalDisabled => "terminal_disabled",
            DeclineReason::LimitExceeded => "limit_exceeded",
            DeclineReason::VoucherNotAccepted => "voucher_not_accepted",
            DeclineReason::Cancelled => "cancelled",
            DeclineReason::SystemError => "system_error",
        }
    }

    /// The reason named `text` (its serde name, as the tables store it).
    pub fn parse(text: &str) -> Option<DeclineReason> {
        use serde::de::IntoDeserializer;
        let name: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            text.into_deserializer();
        DeclineReason::deserialize(name).ok()
    }
}

// The states are the payments tables' own (`store::tables::payments`), so the API, the
// records and the tables name them alike.
pub use store::tables::payments::{AuthorizationStatus, CancelKind, CancelStatus};

/// One cancel of an authorization: a void of its hold or a refund of (part of) its capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelEntry {
    /// The cancel's own `van_tx_id` ([`NETWORK_CANCEL_KEY`] for a network cancel).
    pub key: String,
    /// What the request asked for (`None`: all), to tell a retry from another request.
    pub requested_amount: Option<u64>,
    pub kind: CancelKind,
    pub amount: u64,
    pub transfer_id: u128,
    pub status: CancelStatus,
    pub created_at_s: u64,
    /// The settlement run that netted this refund.
    #[serde(default)]
    pub settlement_id: Option<u128>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRecord {
    /// Also the id of the sale's or hold's ledger transfer.
    pub id: u128,
    pub merchant_id: u128,
    pub terminal_id: u128,
    /// Zero when the pay code did not name a member.
    pub member_id: u128,
    pub van_tx_id: String,
    /// Hex SHA-256 of the request; `None` for a network cancel's tombstone.
    pub request_digest: Option<String>,
    pub amount: u64,
    pub capture: bool,
    pub allow_partial: bool,
    pub status: AuthorizationStatus,
    pub decline_reason: Option<DeclineReason>,
    pub approved_amount: u64,
    pub captured_amount: u64,
    pub refunded_amount: u64,
    pub network_cancelled: bool,
    pub cancels: Vec<CancelEntry>,
    pub created_at_s: u64,
    pub captured_at_s: Option<u64>,
    /// The settlement run that took the captured amount.
    #[serde(default)]
    pub settlement_id: Option<u128>,
    /// Paid with a gift voucher (see `vouchers`): the amounts moved are its price.
    #[serde(default)]
    pub voucher: Option<VoucherUse>,
}

impl AuthorizationRecord {
    pub fn approved(&self) -> bool {
        !matches!(
            self.status,
            AuthorizationStatus::Pending | AuthorizationStatus::Declined
        )
    }

    /// The approval number the till prints: 8 digits derived from the id.
    pub fn approval_no(&self) -> Option<String> {
        self.approved()
            .then(|| format!("{:08}", self.id % 100_000_000))
    }

    /// What the till collects by cash or card (a partial approval's rest).
    pub fn paid_other(&self) -> u64 {
        if self.approved() {
            self.amount - self.approved_amount
        } else {
            0
        }
    }

    /// Whether the voucher it was paid with is usable again: the payment was declined or
    /// refunded whole.
    pub(crate) fn releases_voucher(&self) -> bool {
        self.voucher.is_some()
            && (self.status == AuthorizationStatus::Declined
                || (self.status == AuthorizationStatus::Captured
                    && self.refunded_amount >= self.captured_amount))
    }

    /// The part of the amount counted against the member's daily limit (a voucher was
    /// paid for when it was bought).
    pub(crate) fn counted(&self) -> u64 {
        let amounts = [self.amount, self.approved_amount, self.captured_amount];
        store::tables::payments::reports::counted_of(self.status, self.voucher.is_some(), amounts)
    }

    /// The account the payment is taken from: the member's wallet, or the vouchers account.
    pub fn payer_account(&self) -> AccountId {
        match self.voucher {
            Some(_) => chart::VOUCHERS_ACCOUNT,
            None => AccountId(self.member_id),
        }
    }

    pub(crate) fn busy(&self) -> bool {
        self.status == AuthorizationStatus::Pending
            || self
                .cancels
                .iter()
                .any(|cancel| cancel.status == CancelStatus::Pending)
    }

    /// Refunds done or under way.
    pub(crate) fn refunds_claimed(&self) -> u64 {
        self.cancels
            .iter()
            .filter(|c| c.kind == CancelKind::Refund && c.status != CancelStatus::Failed)
            .map(|c| c.amount)
            .sum()
    }
}

/// What an authorization paid with a voucher carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherUse {
    pub voucher_id: u128,
    pub face_value: u64,
    /// The MVP the voucher moves to the merchant (what the member paid for it).
    pub price: u64,
}
