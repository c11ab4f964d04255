//! Webhooks to merchants (checkout, TT-7): the signature every event carries and the port
//! the platform sends events through (its HTTP adapter is `gateways::webhook`).
//!
//! The signature is Stripe's scheme: the header
//! `Mileverse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! The timestamp inside the signed text lets the receiver refuse old deliveries (a replay
//! of a captured request) with a tolerance of its choosing; several `v1=` entries may
//! appear (during a secret's rotation), and any one matching is enough.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::gateway::BoxFuture;

/// The header the signature travels in.
pub const SIGNATURE_HEADER: &str = "mileverse-signature";
/// The header naming the event (the same on every attempt: receivers dedupe on it).
pub const EVENT_ID_HEADER: &str = "mileverse-event-id";
/// What a receiver should accept between the signed timestamp and its clock.
pub const SIGNATURE_TOLERANCE_S: u64 = 300;
/// Most `v1=` entries a header is read for (a longer header is refused, not scanned).
pub const SIGNATURES_PER_HEADER_MAX: usize = 4;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp_s: u64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Mileverse-Signature` header's value for `body` sent at `timestamp_s`.
pub fn signature_header(secret: &[u8], timestamp_s: u64, body: &[u8]) -> String {
    let signature = hex::encode(mac(secret, timestamp_s, body).finalize().into_bytes());
    format!("t={timestamp_s},v1={signature}")
}

/// Why a receiver refuses a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signed timestamp is too far from the clock")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a delivery as a merchant's receiver does: the header's timestamp within
/// `tolerance_s` of `now_s`, and one of its `v1` signatures (constant-time) over the body.
pub fn verify_signature_header(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_s: u64,
    tolerance_s: u64,
) -> Result<u64, SignatureError> {
    let mut timestamp_s = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            "t" if timestamp_s.is_none() => {
                timestamp_s = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "v1" if signatures.len() < SIGNATURES_PER_HEADER_MAX => {
                signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
            }
            "v1" | "t" => return Err(SignatureError::Malformed),
            // Other schemes (a later `v2`) are not ours to judge.
            _ => {}
        }
    }
    let timestamp_s = timestamp_s.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if timestamp_s.abs_diff(now_s) > tolerance_s {
        return Err(SignatureError::Stale);
    }
    let matches = signatures.iter().any(|signature| {
        mac(secret, timestamp_s, body)
            .verify_slice(signature)
            .is_ok()
    });
    if matches {
        Ok(timestamp_s)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// One delivery attempt: where, and what (the body is sent as JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub url: String,
    pub event_id: String,
    pub signature: String,
    pub body: String,
}

/// How an attempt went.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver answered, but not 2xx.
    #[error("the receiver answered {0}")]
    Status(u16),
    /// No answer: refused, reset, timed out, or not HTTP.
    #[error("cannot reach the receiver: {0}")]
    Unreachable(String),
}

/// Sends webhook deliveries. `Ok` carries the 2xx status the receiver answered.
pub trait WebhookSender: Send + Sync + 'static {
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<u16, DeliveryError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{...}' | openssl dgst -sha256 -hmac whsec_test
        let header = signature_header(SECRET, 1_700_000_000, BODY);
        let mut reference = HmacSha256::new_from_slice(SECRET).unwrap();
        reference.update(b"1700000000.");
        reference.update(BODY);
        let expected = hex::encode(reference.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn receivers_accept_within_tolerance_and_refuse_the_rest() {
        let now = 1_700_000_000;
        let header = signature_header(SECRET, now, BODY);
        let check = |header: &str, body: &[u8], now_s: u64| {
            verify_signature_header(SECRET, header, body, now_s, SIGNATURE_TOLERANCE_S)
        };
        assert_eq!(check(&header, BODY, now), Ok(now));
        assert_eq!(check(&header, BODY, now + SIGNATURE_TOLERANCE_S), Ok(now));
        assert_eq!(
            check(&header, BODY, now + SIGNATURE_TOLERANCE_S + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(check(&header, b"{}", now), Err(SignatureError::Mismatch));
        let other = signature_header(b"other", now, BODY);
        assert_eq!(check(&other, BODY, now), Err(SignatureError::Mismatch));
        // During a rotation: the old secret's signature and the new one's, either matches.
        let rotated = format!("{other},v1={}", header.split_once("v1=").unwrap().1);
        assert_eq!(check(&rotated, BODY, now), Ok(now));
        for malformed in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=zz",
            "t=1,t=2,v1=00",
            "garbage",
        ] {
            assert_eq!(
                check(malformed, BODY, now),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
        let many = format!("t={now}{}", ",v1=00".repeat(SIGNATURES_PER_HEADER_MAX + 1));
        assert_eq!(check(&many, BODY, now), Err(SignatureError::Malformed));
        let at_max = format!("t={now}{}", ",v1=00".repeat(SIGNATURES_PER_HEADER_MAX));
        assert_eq!(check(&at_max, BODY, now), Err(SignatureError::Mismatch));
    }
}
