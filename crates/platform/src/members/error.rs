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
    WrongPin,
    #[error("too many wrong PINs; try again in {retry_after_s} s, or prove the phone by SMS")]
    LoginDelayed { retry_after_s: u64 },
    #[error(
        "this device has not proven the phone: send the device_token it was given, or a \
         verification_id and code (POST /v1/verifications)"
    )]
    DeviceUnverified,
    #[error("above {above_mvp} MVP the PIN is asked again: send the pin field")]
    PinRequired { above_mvp: u64 },
    #[error("the member is locked by an operator")]
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
