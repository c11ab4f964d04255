//! The payments context's errors: the VAN API's refusals (a decline is an answer, not an
//! error: see `authorization::DeclineReason`).

/// Why a VAN request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("this van_tx_id was used for a different request")]
    VanTxConflict,
    #[error("the terminal is disabled")]
    TerminalDisabled,
    #[error("the authorization cannot do this in its state: {0}")]
    AuthorizationState(String),
    #[error("the merchant's payable balance cannot cover this refund")]
    MerchantPayableInsufficient,
}
