//! Problem details (RFC 9457): the one error type of the HTTP surface.
//!
//! `type` is a stable URN per kind of problem (`urn:mileverse:problem:<slug>`), so clients
//! can branch on it; `detail` is for people. Internal errors are logged, not returned.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use journal::LedgerError;
use platform::error::Entity;
use serde::Serialize;

/// One invalid field of one item in a batch.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// Index of the item in the batch, if the error is about an item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub detail: String,
}

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2), e.g. the `exchange_id` a refusal is about.
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(flatten)]
    extensions: &'a serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        debug_assert!(
            crate::openapi::is_documented(slug),
            "problem type {slug:?} is not in openapi::PROBLEM_TYPES"
        );
        Problem {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(name.to_string(), value.into());
        self
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "The body is not valid JSON of the expected shape",
            detail,
        )
    }

    pub fn invalid_items(errors: Vec<FieldError>) -> Self {
        let detail = format!("{} invalid field(s); nothing was changed", errors.len());
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-fields",
            "Some items are invalid",
            detail,
        );
        problem.errors = errors;
        problem
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthorized() -> Self {
        let detail = "send Authorization: Bearer <session token, API key or bootstrap token>";
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or wrong credentials",
            detail,
        )
    }
}

impl From<axum::extract::rejection::QueryRejection> for Problem {
    /// A query string that does not parse (`?limit=abc`): the same `invalid-query` problem
    /// as the ledger routes give, instead of axum's plain-text 400.
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
            rejection.body_text(),
        )
    }
}

impl From<LedgerError> for Problem {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::BatchTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch-too-large",
                "The batch holds too many items",
                error.to_string(),
            ),
            LedgerError::ProofRange(detail) => Problem::new(
                StatusCode::BAD_REQUEST,
                "proof-range",
                "The proof range is invalid",
                detail,
            ),
            LedgerError::Busy => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                error.to_string(),
            ),
            LedgerError::Unavailable(reason) => {
                tracing::error!(%reason, "ledger unavailable");
                let detail = "the ledger is not accepting requests; retry later";
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    detail,
                )
            }
        }
    }
}

impl Problem {
    /// The JSON body of this problem.
    pub fn body_bytes(&self) -> Vec<u8> {
        let body = ProblemBody {
            kind: format!("{}{}", crate::openapi::PROBLEM_TYPE_PREFIX, self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
            extensions: &self.extensions,
        };
        serde_json::to_vec(&body).expect("problems serialize")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body_bytes()).into_response();
        let content_type = header::HeaderValue::from_static("application/problem+json");
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        // A wait the body names is also said the way every HTTP client reads it.
        if let Some(seconds) = self
            .extensions
            .get("retry_after_s")
            .and_then(serde_json::Value::as_u64)
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<platform::PlatformError> for Problem {
    fn from(error: platform::PlatformError) -> Self {
        use platform::PlatformError as E;
        match &error {
            E::Invalid { field, detail } => Problem::invalid_items(vec![FieldError {
                index: None,
                field: (*field).to_string(),
                detail: detail.clone(),
            }]),
            E::Unavailable(reason) => {
                tracing::error!(%reason, "platform unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    "the platform is not accepting requests; retry later",
                )
            }
            _ => {
                let (status, slug, title) = kind_of(&error);
                with_extensions(Problem::new(status, slug, title, error.to_string()), &error)
            }
        }
    }
}

/// Status, stable slug and title of a problem.
type Kind = (StatusCode, &'static str, &'static str);

/// Status, stable slug and title of each business error: a table in match form, one
/// function per context.
fn kind_of(error: &platform::PlatformError) -> Kind {
    use StatusCode as S;
    use platform::PlatformError as E;
    match error {
        E::NotFound(Entity::Partner) => (S::NOT_FOUND, "unknown-partner", "Unknown partner"),
        E::NotFound(Entity::Link) => (S::NOT_FOUND, "unknown-link", "Unknown partner link"),
        E::NotFound(Entity::Verification) => {
            (S::NOT_FOUND, "unknown-verification", "Unknown verification")
        }
        E::NotFound(Entity::PaycodeDevice) => (
            S::NOT_FOUND,
            "unknown-paycode-device",
            "No pay code device enrolled",
        ),
        E::NotFound(Entity::Merchant) => (S::NOT_FOUND, "unknown-merchant", "Unknown merchant"),
        E::NotFound(Entity::Terminal) => (S::NOT_FOUND, "unknown-terminal", "Unknown terminal"),
        E::NotFound(Entity::Authorization) => (
            S::NOT_FOUND,
            "unknown-authorization",
            "Unknown authorization",
        ),
        E::NotFound(Entity::Transaction) => (
            S::NOT_FOUND,
            "unknown-transaction",
            "No transaction under this van_tx_id",
        ),
        E::NotFound(Entity::Settlement) => {
            (S::NOT_FOUND, "unknown-settlement", "Unknown settlement")
        }
        E::NotFound(Entity::Product) => (S::NOT_FOUND, "unknown-product", "Unknown product"),
        E::NotFound(Entity::Voucher) => (S::NOT_FOUND, "unknown-voucher", "Unknown voucher"),
        E::NotFound(Entity::Van) => (S::NOT_FOUND, "unknown-van", "Unknown VAN"),
        E::NotFound(Entity::Campaign) => (S::NOT_FOUND, "unknown-campaign", "Unknown campaign"),
        E::NotFound(Entity::Quote) => (S::NOT_FOUND, "unknown-quote", "Unknown quote"),
        E::NotFound(Entity::P2pTransfer) => (S::NOT_FOUND, "unknown-transfer", "Unknown transfer"),
        E::NotFound(Entity::PaymentIntent) => (
            S::NOT_FOUND,
            "unknown-payment-intent",
            "Unknown payment intent",
        ),
        E::NotFound(Entity::Promotion) => (S::NOT_FOUND, "unknown-promotion", "Unknown promotion"),
        E::NotFound(Entity::WebhookEvent) => (
            S::NOT_FOUND,
            "unknown-webhook-event",
            "Unknown webhook event",
        ),
        E::NotFound(Entity::Trade) => (S::NOT_FOUND, "unknown-trade", "Unknown trade"),
        E::NotFound(Entity::Game) => (S::NOT_FOUND, "unknown-game", "Unknown game company"),
        E::NotFound(Entity::Creator) => (S::NOT_FOUND, "unknown-creator", "Unknown creator"),
        E::NotFound(Entity::Content) => (S::NOT_FOUND, "unknown-content", "Unknown content"),
        E::NotFound(Entity::MediaPlatform) => (
            S::NOT_FOUND,
            "unknown-media-platform",
            "Unknown content platform",
        ),
        E::NotFound(Entity::CreatorPool) => (
            S::NOT_FOUND,
            "unknown-creator-pool",
            "Unknown creator reward pool",
        ),
        E::NotFound(Entity::MoneyRequest) => (
            S::NOT_FOUND,
            "unknown-money-request",
            "Unknown money request",
        ),
        // Listed, not `_`: a new entity must choose its problem type here.
        E::NotFound(
            Entity::Conversion
            | Entity::Device
            | Entity::Exchange
            | Entity::AdView
            | Entity::Member
            | Entity::Paycode
            | Entity::Wallet,
        ) => (S::NOT_FOUND, "not-found", "Not found"),
        // The IETF Idempotency-Key draft: the same key with another request is 422.
        E::IdempotencyConflict => (
            S::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "The Idempotency-Key was used for another request",
        ),
        E::IdempotencyInFlight => (
            S::CONFLICT,
            "idempotency-key-in-flight",
            "A request under this Idempotency-Key is still being processed",
        ),
        E::Member(error) => member_kind(error),
        E::Exchange(error) => exchange_kind(error),
        E::Payment(error) => payment_kind(error),
        E::Voucher(platform::vouchers::VoucherError::State(_)) => (
            S::CONFLICT,
            "voucher-state",
            "The voucher cannot do this in its state",
        ),
        E::Conversion(error) => conversion_kind(error),
        E::Anchoring(error) => anchoring_kind(error),
        E::Paycode(decline) => paycode_kind(*decline),
        E::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate-limited", "Too many requests"),
        E::Van(platform::vans::VanError::NotServed) => (
            S::FORBIDDEN,
            "terminal-not-served",
            "The VAN does not serve this terminal's merchant",
        ),
        E::Van(platform::vans::VanError::Disabled) => {
            (S::FORBIDDEN, "van-disabled", "The VAN is disabled")
        }
        E::Portal(error) => portal_kind(error),
        E::Transfer(error) => transfer_kind(error),
        E::Asset(error) => asset_kind(error),
        E::Checkout(error) => checkout_kind(error),
        E::Promotion(platform::promotions::PromotionError::TooMany(_)) => (
            S::CONFLICT,
            "too-many-promotions",
            "Too many promotions in force",
        ),
        E::Promotion(platform::promotions::PromotionError::Ended) => {
            (S::CONFLICT, "promotion-ended", "The promotion has ended")
        }
        E::Escrow(error) => escrow_kind(error),
        E::Creator(error) => creator_kind(error),
        E::Invalid { .. } => (S::BAD_REQUEST, "invalid-fields", "Some items are invalid"),
        E::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
    }
}

/// The checkout context's problems.
fn checkout_kind(error: &platform::checkout::CheckoutError) -> Kind {
    use StatusCode as S;
    use platform::checkout::CheckoutError as E;
    match error {
        E::OrderConflict => (
            S::CONFLICT,
            "order-id-conflict",
            "The order id was used for another payment intent",
        ),
        E::IntentState(_) => (
            S::CONFLICT,
            "payment-intent-state",
            "The payment intent cannot do that in its state",
        ),
        E::IntentExpired => (
            S::CONFLICT,
            "payment-intent-expired",
            "The payment intent expired",
        ),
        E::Declined(_) => (
            S::UNPROCESSABLE_ENTITY,
            "payment-declined",
            "The payment was declined",
        ),
        E::TooManyAttempts(_) => (
            S::CONFLICT,
            "payment-attempts",
            "Too many declined approvals of this payment intent",
        ),
        E::NoEndpoint => (
            S::NOT_FOUND,
            "no-webhook-endpoint",
            "The merchant has no webhook endpoint",
        ),
    }
}

/// The assets context's problems.
fn asset_kind(error: &platform::assets::error::AssetError) -> Kind {
    use StatusCode as S;
    use platform::assets::error::AssetError as E;
    match error {
        E::NoPrice(_) => (S::CONFLICT, "no-price", "No price of the asset yet"),
        E::TooSmall => (
            S::UNPROCESSABLE_ENTITY,
            "amount-too-small",
            "The amount converts to less than one unit",
        ),
        E::QuoteExpired => (S::CONFLICT, "quote-expired", "The quote expired"),
        E::InsufficientBalance => (
            S::UNPROCESSABLE_ENTITY,
            "insufficient-balance",
            "The balance is not enough",
        ),
        E::TreasuryShort => (
            S::CONFLICT,
            "treasury-short",
            "The platform cannot deliver that much of the asset now",
        ),
        E::TooManyQuotes(_) => (
            S::TOO_MANY_REQUESTS,
            "quotes-per-day",
            "Too many quotes today",
        ),
    }
}

/// The creators context's problems.
fn creator_kind(error: &platform::creators::error::CreatorError) -> Kind {
    use StatusCode as S;
    use platform::creators::error::CreatorError as E;
    match error {
        E::NotAMember => (
            S::UNPROCESSABLE_ENTITY,
            "creator-not-a-member",
            "No member has this phone number",
        ),
        E::CreatorConflict => (
            S::CONFLICT,
            "creator-conflict",
            "The creator_ref belongs to another member",
        ),
        E::ContentConflict => (
            S::CONFLICT,
            "content-conflict",
            "The content_ref belongs to another creator",
        ),
        E::TooManyContents(_) => (
            S::CONFLICT,
            "too-many-contents",
            "Too many contents for one creator",
        ),
        E::ReportConflict => (
            S::CONFLICT,
            "report-conflict",
            "The report_id was used for another report",
        ),
        E::PeriodClosed => (
            S::CONFLICT,
            "creator-period-closed",
            "The period's pool was distributed",
        ),
        E::PoolDistributed => (
            S::CONFLICT,
            "creator-pool-distributed",
            "The pool was distributed",
        ),
        E::AdRevenueShort => (
            S::CONFLICT,
            "ad-revenue-short",
            "The ad revenue is not enough",
        ),
        E::NothingToDistribute(_) => (
            S::CONFLICT,
            "nothing-to-distribute",
            "Nothing to distribute",
        ),
        E::InsufficientBalance => (
            S::UNPROCESSABLE_ENTITY,
            "insufficient-balance",
            "The MVP balance is not enough",
        ),
        E::TipToSelf => (
            S::UNPROCESSABLE_ENTITY,
            "tip-to-self",
            "A member cannot tip themselves",
        ),
        E::CreatorUnavailable => (
            S::UNPROCESSABLE_ENTITY,
            "creator-unavailable",
            "The creator cannot receive",
        ),
        E::DailyLimit { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "tip-limit",
            "Above the daily tipping limit",
        ),
    }
}

/// The escrow context's problems.
fn escrow_kind(error: &platform::escrow::error::EscrowError) -> Kind {
    use StatusCode as S;
    use platform::escrow::error::EscrowError as E;
    match error {
        E::State { .. } => (
            S::CONFLICT,
            "trade-state",
            "The trade cannot do this in its state",
        ),
        E::OwnOffer => (
            S::UNPROCESSABLE_ENTITY,
            "trade-own-offer",
            "A member cannot take their own offer",
        ),
        E::WrongParty(_) => (
            S::FORBIDDEN,
            "trade-wrong-party",
            "The other party of the trade does this",
        ),
        E::InsufficientBalance => (
            S::UNPROCESSABLE_ENTITY,
            "insufficient-balance",
            "The balance is not enough",
        ),
        E::TooManyOffers(_) => (
            S::TOO_MANY_REQUESTS,
            "too-many-offers",
            "Too many open offers",
        ),
        E::CreditConflict => (
            S::CONFLICT,
            "game-credit-conflict",
            "This credit_id was used for another credit",
        ),
        E::GameFundsShort => (
            S::CONFLICT,
            "game-funds-short",
            "The game company's TTC is not enough",
        ),
        E::NotTheGamesItem => (
            S::FORBIDDEN,
            "trade-not-this-game",
            "The trade's item is another company's",
        ),
    }
}

/// The P2P context's problems.
fn transfer_kind(error: &platform::transfers::error::TransferError) -> Kind {
    use StatusCode as S;
    use platform::transfers::error::TransferError as E;
    match error {
        E::ToSelf => (
            S::UNPROCESSABLE_ENTITY,
            "transfer-to-self",
            "A member cannot send to their own phone",
        ),
        E::InsufficientBalance => (
            S::UNPROCESSABLE_ENTITY,
            "insufficient-balance",
            "The MVP balance is not enough",
        ),
        E::DailyLimit { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "transfer-limit",
            "Above the daily sending limit",
        ),
        E::RequestClosed(_) => (
            S::CONFLICT,
            "money-request-closed",
            "The money request cannot be paid",
        ),
        E::RequestAmount { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "money-request-amount",
            "A money request is paid with exactly its amount",
        ),
        E::TooManyRequests(_) => (
            S::TOO_MANY_REQUESTS,
            "money-requests-per-day",
            "Too many money requests today",
        ),
        E::ReceiverUnavailable => (
            S::UNPROCESSABLE_ENTITY,
            "receiver-unavailable",
            "The receiver cannot receive",
        ),
        E::CrossAssetNeedsMember => (
            S::UNPROCESSABLE_ENTITY,
            "cross-asset-needs-member",
            "A send into another asset goes to a member only",
        ),
        E::TreasuryShort => (
            S::CONFLICT,
            "treasury-short",
            "The platform cannot deliver that much of the asset now",
        ),
    }
}

/// The merchant portal's problems.
fn portal_kind(error: &platform::portal::PortalError) -> Kind {
    use StatusCode as S;
    use platform::portal::PortalError as E;
    match error {
        E::BadCredentials => (
            S::UNAUTHORIZED,
            "bad-credentials",
            "The login or password is wrong",
        ),
        E::LockedOut { .. } => (
            S::TOO_MANY_REQUESTS,
            "login-delayed",
            "Too many failed logins",
        ),
        E::SessionExpired => (
            S::UNAUTHORIZED,
            "session-expired",
            "The session expired or was revoked",
        ),
        E::LoginTaken => (S::CONFLICT, "login-taken", "The login is taken"),
        E::WrongPortal => (
            S::FORBIDDEN,
            "wrong-portal",
            "This session is for the other portal",
        ),
    }
}

/// The members context's problems.
fn member_kind(error: &platform::members::MemberError) -> Kind {
    use StatusCode as S;
    use platform::members::MemberError as E;
    match error {
        E::VerificationExpired => (S::GONE, "verification-expired", "The verification expired"),
        E::WrongCode { .. } => (
            S::BAD_REQUEST,
            "wrong-verification-code",
            "Wrong verification code",
        ),
        E::TooManyVerifications => (
            S::TOO_MANY_REQUESTS,
            "too-many-verifications",
            "Too many verification codes",
        ),
        E::PhoneTaken => (
            S::CONFLICT,
            "phone-already-registered",
            "The phone number is already registered",
        ),
        E::SmsUnavailable(_) => (S::BAD_GATEWAY, "sms-unavailable", "SMS unavailable"),
        E::WrongPin => (S::UNAUTHORIZED, "wrong-pin", "Wrong phone number or PIN"),
        E::LoginDelayed { .. } => (S::TOO_MANY_REQUESTS, "login-delayed", "Too many wrong PINs"),
        E::DeviceUnverified => (
            S::UNAUTHORIZED,
            "device-unverified",
            "This device has not proven the phone",
        ),
        E::PinRequired { .. } => (
            S::FORBIDDEN,
            "pin-required",
            "The PIN is asked again for this amount",
        ),
        E::Locked => (
            S::LOCKED,
            "member-locked",
            "The member is locked by an operator",
        ),
        E::SessionExpired => (
            S::UNAUTHORIZED,
            "session-expired",
            "The session expired or was revoked",
        ),
        E::Withdrawn => (S::FORBIDDEN, "member-withdrawn", "The member withdrew"),
        E::BalanceRemaining { .. } => (
            S::CONFLICT,
            "balance-remaining",
            "Value remains in the wallet",
        ),
        E::ExchangeInProgress => (
            S::CONFLICT,
            "exchange-in-progress",
            "An exchange is still in progress",
        ),
    }
}

/// The exchange context's problems.
fn exchange_kind(error: &platform::exchange::ExchangeError) -> Kind {
    use StatusCode as S;
    use platform::exchange::ExchangeError as E;
    match error {
        E::PartnerDisabled => (S::CONFLICT, "partner-disabled", "The partner is disabled"),
        E::NoRate => (S::CONFLICT, "no-rate", "The partner has no rate in force"),
        E::BelowMinimumUnit { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "below-minimum-unit",
            "The mileage is below the partner's minimum unit",
        ),
        E::AmountTooSmall => (
            S::UNPROCESSABLE_ENTITY,
            "amount-too-small",
            "The mileage is worth less than 1 MVP",
        ),
        E::LimitExceeded { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "limit-exceeded",
            "The exchange limit would be exceeded",
        ),
        E::CreditLineExceeded => (
            S::UNPROCESSABLE_ENTITY,
            "credit-line-exceeded",
            "The partner's credit line would be exceeded",
        ),
        E::PrepaidExceeded => (
            S::UNPROCESSABLE_ENTITY,
            "prepaid-exceeded",
            "The partner's prepaid MVP would be exceeded",
        ),
        E::InsufficientMileage { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "insufficient-partner-mileage",
            "Not enough mileage at the partner",
        ),
        E::UnknownPartnerMember => (
            S::NOT_FOUND,
            "unknown-partner-member",
            "The partner does not know this membership",
        ),
        E::PartnerRefused { .. } => (
            S::UNPROCESSABLE_ENTITY,
            "partner-refused",
            "The partner refused",
        ),
        E::PartnerUnavailable(_) => (
            S::BAD_GATEWAY,
            "partner-unavailable",
            "The partner cannot be reached",
        ),
        E::LinkedElsewhere => (
            S::CONFLICT,
            "membership-linked-elsewhere",
            "The membership is linked to another member",
        ),
        E::LinkProofInvalid => (
            S::BAD_REQUEST,
            "link-proof-invalid",
            "The partner's proof of this link is not valid",
        ),
        E::LinkProofExpired => (S::GONE, "link-proof-expired", "The link attempt expired"),
        E::LinkNotProven => (
            S::CONFLICT,
            "link-not-proven",
            "The partner has not proven this link",
        ),
        E::TooManyLinkAttempts { .. } => (
            S::TOO_MANY_REQUESTS,
            "too-many-link-attempts",
            "Too many link attempts wait for their proof",
        ),
    }
}

/// The payments context's problems.
fn payment_kind(error: &platform::payments::PaymentError) -> Kind {
    use StatusCode as S;
    use platform::payments::PaymentError as E;
    match error {
        E::VanTxConflict => (
            S::CONFLICT,
            "idempotency-conflict",
            "The van_tx_id was used for another request",
        ),
        E::TerminalDisabled => (
            S::FORBIDDEN,
            "terminal-disabled",
            "The terminal is disabled",
        ),
        E::AuthorizationState(_) => (
            S::CONFLICT,
            "authorization-state",
            "The authorization cannot do this in its state",
        ),
        E::MerchantPayableInsufficient => (
            S::CONFLICT,
            "merchant-payable-insufficient",
            "The merchant's payable cannot cover the refund",
        ),
    }
}

/// The on-chain context's problems.
fn conversion_kind(error: &platform::conversion::ConversionError) -> Kind {
    use StatusCode as S;
    use platform::conversion::ConversionError as E;
    match error {
        E::ConversionDisabled => (
            S::CONFLICT,
            "conversion-disabled",
            "Conversions are disabled",
        ),
        E::NoWalletAddress => (
            S::CONFLICT,
            "no-wallet-address",
            "No Ethereum address registered",
        ),
        E::InsufficientBalance => (
            S::UNPROCESSABLE_ENTITY,
            "insufficient-balance",
            "The MVP balance is not enough",
        ),
        E::ChainNotConfigured => (
            S::NOT_FOUND,
            "chain-not-configured",
            "No chain is configured",
        ),
        E::ChainUnavailable(_) => (
            S::SERVICE_UNAVAILABLE,
            "chain-unavailable",
            "The chain cannot be reached",
        ),
    }
}

/// The anchoring context's problems.
fn anchoring_kind(error: &platform::anchoring::AnchoringError) -> Kind {
    use StatusCode as S;
    use platform::anchoring::AnchoringError as E;
    match error {
        E::BadSignature(_) => (S::BAD_REQUEST, "bad-signature", "Bad signature"),
        E::NotAnAuthority(_) => (
            S::FORBIDDEN,
            "not-an-authority",
            "The signer is not an authority of the anchor",
        ),
        E::NotTheProposal => (
            S::CONFLICT,
            "not-the-proposal",
            "Not a checkpoint proposed for anchoring",
        ),
    }
}

/// Status, slug and title of a refused pay code.
fn paycode_kind(decline: platform::paycode::PaycodeDecline) -> Kind {
    use StatusCode as S;
    use platform::paycode::PaycodeDecline as D;
    match decline {
        D::Invalid => (
            S::UNPROCESSABLE_ENTITY,
            "paycode-invalid",
            "The pay code is not valid",
        ),
        D::Expired => (S::GONE, "paycode-expired", "The pay code expired"),
        D::Used => (S::CONFLICT, "paycode-used", "The pay code was already used"),
        D::TooManyGuesses => (
            S::TOO_MANY_REQUESTS,
            "paycode-too-many-guesses",
            "Too many wrong pay codes for this device",
        ),
    }
}

/// The extension members (RFC 9457 §3.2) a client can act on.
fn with_extensions(problem: Problem, error: &platform::PlatformError) -> Problem {
    use platform::PlatformError as E;
    use platform::exchange::ExchangeError as X;
    use platform::members::MemberError as M;
    match error {
        E::Member(M::WrongCode { remaining }) => problem.with("attempts_remaining", *remaining),
        E::Member(M::LoginDelayed { retry_after_s }) => {
            problem.with("retry_after_s", *retry_after_s)
        }
        E::Member(M::PinRequired { above_mvp }) => problem.with("above_mvp", *above_mvp),
        E::Portal(platform::portal::PortalError::LockedOut { retry_after_s }) => {
            problem.with("retry_after_s", *retry_after_s)
        }
        E::RateLimited {
            limit,
            retry_after_s,
        } => problem
            .with("limit", *limit)
            .with("retry_after_s", *retry_after_s),
        E::Member(M::BalanceRemaining { balance }) => problem.with("balance", *balance),
        E::Transfer(platform::transfers::error::TransferError::DailyLimit { remaining_mvp }) => {
            problem.with("remaining_mvp", *remaining_mvp)
        }
        E::Checkout(platform::checkout::CheckoutError::Declined(reason)) => {
            problem.with("decline_reason", *reason)
        }
        E::Transfer(platform::transfers::error::TransferError::RequestAmount { amount_mvp }) => {
            problem.with("amount_mvp", *amount_mvp)
        }
        E::Exchange(X::BelowMinimumUnit { minimum_unit }) => {
            problem.with("minimum_unit", *minimum_unit)
        }
        E::Exchange(X::LimitExceeded {
            period,
            limit,
            used,
        }) => problem
            .with("period", *period)
            .with("limit", *limit)
            .with("used", *used),
        E::Exchange(X::InsufficientMileage { exchange_id })
        | E::Exchange(X::PartnerRefused {
            exchange_id: Some(exchange_id),
            ..
        }) => problem.with("exchange_id", exchange_id.to_string()),
        E::Exchange(X::TooManyLinkAttempts { pending_max }) => {
            problem.with("pending_max", *pending_max)
        }
        _ => problem,
    }
}

impl From<platform::operators::OperatorError> for Problem {
    fn from(error: platform::operators::OperatorError) -> Self {
        use platform::operators::OperatorError as E;
        let (status, slug, title) = match &error {
            E::Unauthenticated => return Problem::unauthorized(),
            E::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "bad-credentials",
                "The login, password or code is wrong",
            ),
            E::LockedOut { retry_after_s } => {
                return Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "login-delayed",
                    "Too many failed logins",
                    error.to_string(),
                )
                .with("retry_after_s", *retry_after_s);
            }
            E::Forbidden(permission) => {
                return Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "This identity may not do that",
                    error.to_string(),
                )
                .with("permission", *permission);
            }
            E::Invalid { field, detail } => {
                return Problem::invalid_items(vec![FieldError {
                    index: None,
                    field: (*field).to_string(),
                    detail: detail.clone(),
                }]);
            }
            E::LoginTaken => (StatusCode::CONFLICT, "login-taken", "The login is taken"),
            E::NoSuchOperator => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            E::NoSuchApiKey => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            E::WeakBootstrapToken(_) | E::Unavailable(_) => {
                tracing::error!(%error, "operators unavailable");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    "the platform is not accepting requests; retry later",
                );
            }
        };
        Problem::new(status, slug, title, error.to_string())
    }
}
