//! The errors of the business operations: what every context shares (a bad field, a
//! missing entity, a reused key, the ledger unavailable) and one variant per context that
//! wraps that context's own enum (`members::MemberError`, `exchange::ExchangeError`, …,
//! each in its context's `error` module, which imports nothing of the crate). Each variant
//! is one kind of problem a client can act on; the server maps each to an HTTP status and
//! a stable problem `type`. None of them is returned after value moved: every check
//! happens before the first movement.

use journal::LedgerError;

use crate::anchoring::error::AnchoringError;
use crate::conversion::error::ConversionError;
use crate::exchange::error::ExchangeError;
use crate::members::error::MemberError;
use crate::paycode::error::PaycodeDecline;
use crate::payments::error::PaymentError;
use crate::vouchers::error::VoucherError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("no such {0}")]
    NotFound(Entity),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyConflict,
    #[error("the first request under this Idempotency-Key is still being processed; retry")]
    IdempotencyInFlight,
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Voucher(#[from] VoucherError),
    #[error(transparent)]
    Conversion(#[from] ConversionError),
    #[error(transparent)]
    Anchoring(#[from] AnchoringError),
    #[error(transparent)]
    Paycode(#[from] PaycodeDecline),
    #[error(transparent)]
    Van(#[from] crate::vans::VanError),
    #[error(transparent)]
    Portal(#[from] crate::portal::PortalError),
    #[error(transparent)]
    Transfer(#[from] crate::transfers::error::TransferError),
    #[error(transparent)]
    Asset(#[from] crate::assets::error::AssetError),
    #[error(transparent)]
    Checkout(#[from] crate::checkout::CheckoutError),
    #[error(transparent)]
    Promotion(#[from] crate::promotions::PromotionError),
    #[error(transparent)]
    Escrow(#[from] crate::escrow::error::EscrowError),
    #[error(transparent)]
    Creator(#[from] crate::creators::error::CreatorError),
    #[error("too many requests ({limit}); retry in {retry_after_s} s")]
    RateLimited {
        limit: &'static str,
        retry_after_s: u64,
    },
    #[error("the platform cannot write right now: {0}")]
    Unavailable(String),
}

/// What a [`PlatformError::NotFound`] did not find: a type, so that a caller matches on it
/// and a typo cannot invent a new kind of "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    AdView,
    Authorization,
    Campaign,
    Content,
    Conversion,
    Creator,
    CreatorPool,
    Device,
    Exchange,
    Game,
    Link,
    MediaPlatform,
    Member,
    Merchant,
    MoneyRequest,
    P2pTransfer,
    Partner,
    PaymentIntent,
    Promotion,
    Paycode,
    PaycodeDevice,
    Product,
    Quote,
    Settlement,
    Terminal,
    Trade,
    Transaction,
    Van,
    Verification,
    Voucher,
    Wallet,
    WebhookEvent,
}

impl Entity {
    /// The entity's name in messages ("no such member").
    pub fn name(self) -> &'static str {
        match self {
            Entity::AdView => "ad view",
            Entity::Authorization => "authorization",
            Entity::Campaign => "campaign",
            Entity::Content => "content",
            Entity::Conversion => "conversion",
            Entity::Creator => "creator",
            Entity::CreatorPool => "creator pool",
            Entity::Device => "device",
            Entity::Exchange => "exchange",
            Entity::Game => "game company",
            Entity::Link => "link",
            Entity::MediaPlatform => "content platform",
            Entity::Member => "member",
            Entity::Merchant => "merchant",
            Entity::MoneyRequest => "money request",
            Entity::P2pTransfer => "transfer",
            Entity::Partner => "partner",
            Entity::PaymentIntent => "payment intent",
            Entity::Promotion => "promotion",
            Entity::Paycode => "paycode",
            Entity::PaycodeDevice => "paycode device",
            Entity::Product => "product",
            Entity::Quote => "quote",
            Entity::Settlement => "settlement",
            Entity::Terminal => "terminal",
            Entity::Trade => "trade",
            Entity::Van => "VAN",
            Entity::Transaction => "transaction",
            Entity::Verification => "verification",
            Entity::Voucher => "voucher",
            Entity::Wallet => "wallet",
            Entity::WebhookEvent => "webhook event",
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
