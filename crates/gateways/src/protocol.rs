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

/// Path of the partner's authorization endpoint (OAuth 2.0, RFC 6749 §3.1), which the
/// member's browser visits: unsigned, under the partner's base URL.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// Path of the partner's token endpoint (RFC 6749 §3.2): a signed protocol call.
pub const TOKEN_PATH: &str = "/partner/v1/oauth/token";
/// Longest value of one OAuth parameter we send or accept (a redirect URI is the longest).
pub const OAUTH_VALUE_BYTES_MAX: usize = 2048;
/// Longest authorization code (RFC 6749 leaves its size to the partner; ours are 43).
pub const CODE_BYTES_MAX: usize = 256;
/// Largest form body (token request, login form) a parser reads.
pub const FORM_BYTES_MAX: usize = 8 * 1024;

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

/// OAuth 2.0 words of the ownership step (RFC 6749, RFC 7636).
pub mod oauth {
    pub const RESPONSE_TYPE_CODE: &str = "code";
    pub const GRANT_TYPE_AUTHORIZATION_CODE: &str = "authorization_code";
    /// Error codes (RFC 6749 §4.1.2.1 and §5.2).
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const INVALID_CLIENT: &str = "invalid_client";
    pub const INVALID_GRANT: &str = "invalid_grant";
    pub const UNSUPPORTED_GRANT_TYPE: &str = "unsupported_grant_type";
    pub const UNSUPPORTED_RESPONSE_TYPE: &str = "unsupported_response_type";
    pub const ACCESS_DENIED: &str = "access_denied";
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

/// The token request (`POST /partner/v1/oauth/token`), an
/// `application/x-www-form-urlencoded` body (RFC 6749 §4.1.3, RFC 7636 §4.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenRequest {
    /// Always `authorization_code`.
    pub grant_type: String,
    pub code: String,
    pub redirect_uri: String,
    /// The platform's key at the partner (the same as `X-Mileverse-Key`).
    pub client_id: String,
    pub code_verifier: String,
}

impl TokenRequest {
    /// The form body.
    pub fn to_form(&self) -> String {
        serde_urlencoded::to_string(self).expect("a struct of strings always encodes")
    }
}

/// `200` answer to a token request: the membership the member authenticated as, in the
/// partner's canonical form, and optionally its mileage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAnswer {
    pub member_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mileage: Option<u64>,
}

/// Why an `application/x-www-form-urlencoded` text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is larger than {FORM_BYTES_MAX} bytes")]
    TooLarge,
    #[error("the form does not decode")]
    Malformed,
    #[error("parameter {0} appears more than once")]
    Repeated(String),
    #[error("parameter {0} is missing or empty")]
    Missing(&'static str),
    #[error("parameter {0} is too long")]
    TooLong(&'static str),
}

/// The parameters of a form or query, each at most once (RFC 6749 §3.1: "MUST NOT be
/// included more than once"); unknown ones are kept and ignored by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form(std::collections::HashMap<String, String>);

impl Form {
    /// Parses a form body or a query string (without `?`).
    pub fn parse(bytes: &[u8]) -> Result<Form, FormError> {
        if bytes.len() > FORM_BYTES_MAX {
            return Err(FormError::TooLarge);
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(bytes).map_err(|_| FormError::Malformed)?;
        let mut map = std::collections::HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if map.contains_key(&name) {
                return Err(FormError::Repeated(name));
            }
            map.insert(name, value);
        }
        Ok(Form(map))
    }

    /// A parameter that may be absent; present, it is at most [`OAUTH_VALUE_BYTES_MAX`].
    pub fn optional(&self, name: &'static str) -> Result<Option<&str>, FormError> {
        match self.0.get(name) {
            Some(value) if value.len() > OAUTH_VALUE_BYTES_MAX => Err(FormError::TooLong(name)),
            Some(value) if value.is_empty() => Ok(None),
            Some(value) => Ok(Some(value)),
            None => Ok(None),
        }
    }

    /// A parameter that must be present and not empty.
    pub fn required(&self, name: &'static str) -> Result<&str, FormError> {
        self.optional(name)?.ok_or(FormError::Missing(name))
    }
}

/// Parses a token request body (the partner's side).
pub fn parse_token_request(body: &[u8]) -> Result<TokenRequest, FormError> {
    let form = Form::parse(body)?;
    Ok(TokenRequest {
        grant_type: form.required("grant_type")?.to_string(),
        code: form.required("code")?.to_string(),
        redirect_uri: form.required("redirect_uri")?.to_string(),
        client_id: form.required("client_id")?.to_string(),
        code_verifier: form.required("code_verifier")?.to_string(),
    })
}

/// Parses a token answer (the platform's side): JSON of the right shape whose member ref
/// follows the protocol's rule.
pub fn parse_token_answer(body: &[u8]) -> Result<TokenAnswer, String> {
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|error| format!("the token answer does not parse: {error}"))?;
    if !ref_is_valid(&answer.member_ref) {
        return Err("the token answer's member_ref breaks the ref rule".into());
    }
    Ok(answer)
}

/// Whether `code` can be an authorization code: 1 to [`CODE_BYTES_MAX`] visible ASCII
/// characters (RFC 6749 Appendix A.11: `1*VSCHAR`).
pub fn code_is_valid(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= CODE_BYTES_MAX
        && code.bytes().all(|b| (0x20..=0x7E).contains(&b))
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
