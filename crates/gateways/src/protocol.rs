//! What both sides of the partner protocol share: header names, paths, the reference rule and
//! the JSON shapes. docs/partner-protocol.md is the specification; signatures are
//! `ports::signing`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The partner key the platform uses for this partner.
pub const HEADER_KEY: &str = "x-mileverse-key";
/// Unix seconds at which the request (or answer) was signed.
pub const HEADER_TIMESTAMP: &str = "x-mileverse-timestamp";
/// The request's nonce (answers are bound to it but do not repeat it).
pub const HEADER_NONCE: &str = "x-mileverse-nonce";
/// Hex HMAC-SHA256 of the request (or answer).
pub const HEADER_SIGNATURE: &str = "x-mileverse-signature";

/// Member refs and debit references are 1 to this many bytes of `[A-Za-z0-9_-]`.
pub const REF_BYTES_MAX: usize = 64;

/// Path of the debit endpoint.
pub const DEBITS_PATH: &str = "/partner/v1/debits";

/// Error codes of the protocol (`{"error": code}`).
pub mod codes {
    pub const UNKNOWN_MEMBER: &str = "unknown_member";
    pub const INSUFFICIENT_MILEAGE: &str = "insufficient_mileage";
    pub const REFERENCE_CONFLICT: &str = "reference_conflict";
    pub const REFERENCE_CANCELLED: &str = "reference_cancelled";
    pub const BAD_REQUEST: &str = "bad_request";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const STALE_TIMESTAMP: &str = "stale_timestamp";
    pub const REPLAYED: &str = "replayed";
    pub const MISSING_HEADERS: &str = "missing_headers";
}

/// Debit statuses on the wire.
pub mod statuses {
    pub const DEBITED: &str = "debited";
    pub const CANCELLED: &str = "cancelled";
    pub const NOT_FOUND: &str = "not_found";
}

/// Whether `value` is a valid member ref or reference: 1..=64 bytes of `[A-Za-z0-9_-]`.
pub fn ref_is_valid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= REF_BYTES_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `/partner/v1/members/{member_ref}/balance`.
pub fn balance_path(member_ref: &str) -> String {
    format!("/partner/v1/members/{member_ref}/balance")
}

/// `/partner/v1/debits/{reference}/cancel`.
pub fn cancel_path(reference: &str) -> String {
    format!("{DEBITS_PATH}/{reference}/cancel")
}

/// `/partner/v1/debits/{reference}`.
pub fn status_path(reference: &str) -> String {
    format!("{DEBITS_PATH}/{reference}")
}

/// The wall clock in Unix seconds (0 if the clock is before 1970).
pub fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `200` answer to a balance query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceAnswer {
    pub member_ref: String,
    pub mileage: u64,
}

/// Body of `POST /partner/v1/debits`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitBody {
    pub reference: String,
    pub member_ref: String,
    pub mileage: u64,
}

/// `200` answer to a debit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitAnswer {
    pub reference: String,
    /// Always `debited`.
    pub status: String,
    pub member_ref: String,
    pub mileage: u64,
    pub balance_after: u64,
}

/// `200` answer to a cancel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelAnswer {
    pub reference: String,
    /// Always `cancelled`.
    pub status: String,
}

/// `200` answer to a status query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    pub reference: String,
    /// `debited`, `cancelled` or `not_found`.
    pub status: String,
    /// Present when `debited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_ref: Option<String>,
    /// Present when `debited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mileage: Option<u64>,
}

/// Every error answer: `{"error": code}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_follow_the_rule() {
        assert!(ref_is_valid("a"));
        assert!(ref_is_valid("Member_01-x"));
        assert!(ref_is_valid(&"x".repeat(REF_BYTES_MAX)));
        assert!(!ref_is_valid(""));
        assert!(!ref_is_valid(&"x".repeat(REF_BYTES_MAX + 1)));
        assert!(!ref_is_valid("a/b"));
        assert!(!ref_is_valid("a b"));
        assert!(!ref_is_valid("a.b"));
        assert!(!ref_is_valid("é"));
    }
}
