//! The escrow context's errors.

/// Why a trade step, a dispute, or a game company's call was refused. None is returned
/// after value moved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EscrowError {
    /// A state-machine violation: the step does not apply to a trade in this state.
    #[error("the trade is {status}: {step} does not apply")]
    State {
        status: &'static str,
        step: &'static str,
    },
    #[error("a member cannot take their own offer")]
    OwnOffer,
    #[error("only the {0} of this trade may do this")]
    WrongParty(&'static str),
    #[error("the balance is not enough")]
    InsufficientBalance,
    #[error("at most {0} open offers per member")]
    TooManyOffers(u64),
    #[error("this credit_id was used for another credit")]
    CreditConflict,
    #[error("the game company's TTC is not enough for this credit")]
    GameFundsShort,
    #[error("the trade's item is not this game company's")]
    NotTheGamesItem,
}
