//! The creators context's errors.

/// Why a content platform's call, an operator's pool step or a member's tip was refused.
/// None is returned after value moved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CreatorError {
    /// A creator must be a member: rewards and tips go to a member's MVP wallet.
    #[error("no member has this phone number")]
    NotAMember,
    /// The creator's reference is registered with another member's phone.
    #[error("this creator_ref belongs to another member")]
    CreatorConflict,
    /// The content's reference is registered for another creator.
    #[error("this content_ref belongs to another creator")]
    ContentConflict,
    #[error("at most {0} contents per creator")]
    TooManyContents(u64),
    /// The same `report_id` with another body.
    #[error("this report_id was used for another report")]
    ReportConflict,
    /// The period's pool was distributed: its figures are final.
    #[error("the period's pool was distributed already")]
    PeriodClosed,
    /// Funding a pool that was distributed.
    #[error("the pool was distributed already")]
    PoolDistributed,
    /// The platform's ad revenue does not cover the funding.
    #[error("the ad revenue is not enough for this funding")]
    AdRevenueShort,
    /// A distribution with no score reported for the period, or an empty pool.
    #[error("nothing to distribute: {0}")]
    NothingToDistribute(&'static str),
    #[error("the balance is not enough")]
    InsufficientBalance,
    #[error("a member cannot tip themselves")]
    TipToSelf,
    #[error("the creator's member cannot receive now")]
    CreatorUnavailable,
    #[error("at most {remaining_mvp} MVP more in tips today")]
    DailyLimit { remaining_mvp: u64 },
}
