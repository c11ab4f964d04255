//! The checkout context's errors.

/// Why a checkout request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("this order id was used for another payment intent")]
    OrderConflict,
    #[error("the payment intent {0}")]
    IntentState(&'static str),
    #[error("the payment intent expired before it was approved")]
    IntentExpired,
    #[error("the payment was declined: {0}")]
    Declined(&'static str),
    #[error("at most {0} declined approvals per payment intent")]
    TooManyAttempts(u32),
    #[error("the merchant has no webhook endpoint")]
    NoEndpoint,
}
