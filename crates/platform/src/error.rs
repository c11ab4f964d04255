//! The errors of the business operations. Each variant is one kind of problem a client can
//! act on; the server maps each to an HTTP status and a stable problem `type`. None of them
//! is returned after value moved: every check happens before the first movement.

use journal::LedgerError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("no such {0}")]
    NotFound(Entity),
    #[error("the verification expired or was already used; request a new code")]
    VerificationExpired,
    #[error("wrong verification code; {remaining} attempt(s) left")]
    WrongCode { remaining: u32 },
    #[error("too many verification codes for this phone; try again later")]
    TooManyVerifications,
    #[error("this phone number already belongs to a member")]
    PhoneTaken,
    #[error("the SMS could not be sent: {0}")]
    SmsUnavailable(String),
    #[error("wrong phone number or PIN")]
    WrongPin { remaining: Option<u32> },
    #[error("the member is locked after too many wrong PINs; an operator must unlock it")]
    Locked,
    #[error("the session expired or was revoked; log in again")]
    SessionExpired,
    #[error("the member has withdrawn")]
    Withdrawn,
    #[error("the partner is disabled")]
    PartnerDisabled,
    #[error("the partner has no exchange rate in force")]
    NoRate,
    #[error("mileage must be at least {minimum_unit} and a multiple of it")]
    BelowMinimumUnit { minimum_unit: u64 },
    #[error("this mileage is worth less than 1 MVP at the current rate")]
    AmountTooSmall,
    #[error("the {period} limit of {limit} MVP would be exceeded ({used} MVP used)")]
    LimitExceeded {
        period: &'static str,
        limit: u64,
        used: u64,
    },
    #[error("the partner's credit line would be exceeded")]
    CreditLineExceeded,
    #[error("the partner reports insufficient mileage")]
    InsufficientMileage { exchange_id: u128 },
    #[error("the partner does not know this membership")]
    UnknownPartnerMember,
    #[error("the partner refused: {reason}")]
    PartnerRefused {
        reason: String,
        exchange_id: Option<u128>,
    },
    #[error("the partner cannot be reached: {0}")]
    PartnerUnavailable(String),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyConflict,
    #[error("this membership is linked to another member")]
    LinkedElsewhere,
    #[error("value remains ({balance} MVP); give payout instructions to withdraw")]
    BalanceRemaining { balance: u64 },
    #[error("an exchange is still in progress")]
    ExchangeInProgress,
    #[error("conversions to MVC are disabled")]
    ConversionDisabled,
    #[error("register an Ethereum address first (POST /v1/me/wallet-addresses)")]
    NoWalletAddress,
    #[error("the MVP balance is not enough")]
    InsufficientBalance,
    #[error("no chain is configured on this server")]
    ChainNotConfigured,
    #[error("the chain cannot be reached: {0}")]
    ChainUnavailable(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("{0} is not an authority of the anchor")]
    NotAnAuthority(String),
    #[error(
        "this checkpoint is not one the server proposed for anchoring (stale or different root)"
    )]
    NotTheProposal,
    #[error("this van_tx_id was used for a different request")]
    VanTxConflict,
    #[error("the terminal is disabled")]
    TerminalDisabled,
    #[error("the authorization cannot do this in its state: {0}")]
    AuthorizationState(String),
    #[error("the merchant's payable balance cannot cover this refund")]
    MerchantPayableInsufficient,
    #[error("{0}")]
    VoucherState(String),
    #[error(transparent)]
    Paycode(crate::paycode::PaycodeDecline),
    #[error("the platform cannot write right now: {0}")]
    Unavailable(String),
}

/// What a [`PlatformError::NotFound`] did not find: a type, so that a caller matches on it
/// and a typo cannot invent a new kind of "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Authorization,
    Conversion,
    Device,
    Exchange,
    Link,
    Member,
    Merchant,
    Partner,
    Paycode,
    PaycodeDevice,
    Product,
    Settlement,
    Terminal,
    Transaction,
    Verification,
    Voucher,
    Wallet,
}

impl Entity {
    /// The entity's name in messages ("no such member").
    pub fn name(self) -> &'static str {
        match self {
            Entity::Authorization => "authorization",
            Entity::Conversion => "conversion",
            Entity::Device => "device",
            Entity::Exchange => "exchange",
            Entity::Link => "link",
            Entity::Member => "member",
            Entity::Merchant => "merchant",
            Entity::Partner => "partner",
            Entity::Paycode => "paycode",
            Entity::PaycodeDevice => "paycode device",
            Entity::Product => "product",
            Entity::Settlement => "settlement",
            Entity::Terminal => "terminal",
            Entity::Transaction => "transaction",
            Entity::Verification => "verification",
            Entity::Voucher => "voucher",
            Entity::Wallet => "wallet",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

impl From<LedgerError> for PlatformError {
    fn from(error: LedgerError) -> Self {
        PlatformError::Unavailable(error.to_string())
    }
}

pub fn invalid(field: &'static str, detail: impl Into<String>) -> PlatformError {
    PlatformError::Invalid {
        field,
        detail: detail.into(),
    }
}
