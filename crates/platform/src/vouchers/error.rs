//! The vouchers context's errors.

/// Why a voucher request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// The voucher cannot do this in its state (the detail says why).
    #[error("{0}")]
    State(String),
}
