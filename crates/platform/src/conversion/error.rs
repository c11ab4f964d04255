//! The on-chain context's errors: conversions of MVP to MVC.

/// Why a conversion was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
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
}
