//! The exchange context's errors: links, rates, limits and the partner's answers.

/// Why a link or an exchange was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
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
    /// A prepaid partner has not bought enough MVP left for this exchange.
    #[error("the partner's prepaid MVP would be exceeded")]
    PrepaidExceeded,
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
    #[error("this membership is linked to another member")]
    LinkedElsewhere,
    /// The proof does not finish this attempt: a wrong or used state, or a code the
    /// partner refused. The attempt is over; nothing was linked.
    #[error("the proof of this link is not valid; start the link again")]
    LinkProofInvalid,
    /// The attempt outlived its expiry before its proof came. Nothing was linked.
    #[error("this link attempt expired; start the link again")]
    LinkProofExpired,
    /// The link is waiting for its proof, or was made before proofs existed: it exchanges
    /// nothing until the partner proved the member owns the membership.
    #[error("this link is not proven by the partner; prove it first")]
    LinkNotProven,
    #[error("at most {pending_max} link attempts may wait for their proof at once")]
    TooManyLinkAttempts { pending_max: usize },
}
