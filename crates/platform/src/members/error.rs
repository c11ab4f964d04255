//! The members context's errors: verification, sign-up, login, sessions, withdrawal.

/// Why a member's request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    #[error("the verification expired or was already used; request a new code")]
    VerificationExpired,
    #[error("wrong verification code; {remaining} attempt(s) left")]
    WrongCode { remaining: u32 },
    #[error("too many verification codes for this phone; try again later")]
    TooManyVerifications,
    #[error("this phone number already belongs to a member")]
    PhoneTaken,
    #[error("the SMS could not be sent: {0}")]
    SmsUnavailable(String),
    #[error("wrong phone number or PIN")]
    WrongPin { remaining: Option<u32> },
    #[error("the member is locked after too many wrong PINs; an operator must unlock it")]
    Locked,
    #[error("the session expired or was revoked; log in again")]
    SessionExpired,
    #[error("the member has withdrawn")]
    Withdrawn,
    #[error("value remains ({balance} MVP); give payout instructions to withdraw")]
    BalanceRemaining { balance: u64 },
    #[error("an exchange is still in progress")]
    ExchangeInProgress,
}
