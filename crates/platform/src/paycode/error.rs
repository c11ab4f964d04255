//! The pay codes context's errors: why a pay code was not accepted.

/// Why a pay code was not accepted (each is a VAN decline reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaycodeDecline {
    /// Not 20 digits, an unknown routing prefix or device handle, or a wrong code.
    #[error("the pay code is not valid")]
    Invalid,
    /// A code that was right in a time step that is over.
    #[error("the pay code expired; show a new one")]
    Expired,
    /// The code was already used.
    #[error("the pay code was already used; show a new one")]
    Used,
    /// Too many wrong codes for this device handle lately.
    #[error("too many wrong pay codes for this device; try again in a few minutes")]
    TooManyGuesses,
}

impl PaycodeDecline {
    /// A stable reason code (for VAN declines and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            PaycodeDecline::Invalid => "invalid_code",
            PaycodeDecline::Expired => "expired_code",
            PaycodeDecline::Used => "used_code",
            PaycodeDecline::TooManyGuesses => "too_many_guesses",
        }
    }
}
