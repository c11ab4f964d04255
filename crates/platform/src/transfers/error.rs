//! The P2P context's errors.

/// Why a P2P transfer or a money request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("a member cannot send to their own phone")]
    ToSelf,
    #[error("the MVP balance is not enough")]
    InsufficientBalance,
    #[error("above the daily sending limit: {remaining_mvp} MVP left today (KST)")]
    DailyLimit { remaining_mvp: u64 },
    #[error("the money request is {0}")]
    RequestClosed(&'static str),
    #[error("a money request is paid with exactly its amount: {amount_mvp} MVP")]
    RequestAmount { amount_mvp: u64 },
    #[error("at most {0} money requests a day")]
    TooManyRequests(u64),
    #[error("the receiver cannot receive (withdrawn or locked)")]
    ReceiverUnavailable,
    #[error("a send into another asset goes to a member only")]
    CrossAssetNeedsMember,
    #[error("the platform cannot deliver that much of the asset now")]
    TreasuryShort,
}
