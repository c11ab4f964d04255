//! Pay codes (DESIGN.md, "Pay codes"): being written. The interface below is what the VAN
//! authorization path calls.

use store::records::{Record, RecordWrite};

use crate::Platform;
use crate::domain::{DecodeError, State};

pub const KIND_PAYCODE_DEVICE: &str = "paycode_device";
pub const KIND_USED_PAYCODE: &str = "used_paycode";

/// Why a pay code was not accepted (each is a VAN decline reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaycodeDecline {
    /// Not 20 digits, an unknown routing prefix or device handle, or a wrong code.
    Invalid,
    /// A code that was right in a time step that is over.
    Expired,
    /// The code was already used.
    Used,
    /// Too many wrong codes for this device handle lately.
    TooManyGuesses,
}

/// Pay code devices, used codes and guess counters.
#[derive(Default)]
pub struct PaycodeState {}

impl PaycodeState {
    /// Loads one stored record of the kinds above.
    pub fn load(&mut self, _record: &Record) -> Result<(), DecodeError> {
        Ok(())
    }
}

impl Platform {
    /// Checks a pay code presented at a till and marks it used. On success: the member and
    /// the writes that record the use (to be queued with the authorization's own, under the
    /// same state lock).
    pub(crate) fn redeem_paycode(
        &self,
        _state: &mut State,
        _code: &str,
        _now_s: u64,
    ) -> Result<(u128, Vec<RecordWrite>), PaycodeDecline> {
        Err(PaycodeDecline::Invalid)
    }
}
