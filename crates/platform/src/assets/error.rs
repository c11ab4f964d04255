//! The assets context's errors.

/// Why a price, a quote or a conversion was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error("no price of {0} yet")]
    NoPrice(&'static str),
    #[error("the amount converts to less than one unit")]
    TooSmall,
    #[error("the quote expired: ask for a new one")]
    QuoteExpired,
    #[error("the balance is not enough")]
    InsufficientBalance,
    #[error("the platform cannot deliver that much of the asset now")]
    TreasuryShort,
    #[error("at most {0} quotes a day")]
    TooManyQuotes(u64),
}
