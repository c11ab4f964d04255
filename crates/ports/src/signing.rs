//! HMAC-SHA256 request and response signatures, and the replay guard.
//!
//! The partner protocol (docs/partner-protocol.md) signs every request with
//! `HMAC(secret, "MV1-REQ\n" ts "\n" nonce "\n" METHOD "\n" path "\n" body)` and every answer
//! with `HMAC(secret, "MV1-RES\n" ts "\n" nonce "\n" status "\n" METHOD "\n" path "\n" body)`,
//! where the answer's nonce is the request's: an answer is bound to its request and cannot be
//! replayed as the answer to another, nor reflected as a request (the domain tags differ).
//! `ts` is Unix seconds; a receiver refuses a timestamp more than [`REPLAY_WINDOW_S`] off its
//! clock, and a nonce it has seen within the window.
//!
//! Signatures are compared in constant time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from the receiver's clock, either way.
pub const REPLAY_WINDOW_S: u64 = 300;
/// Most nonces a [`ReplayGuard`] remembers (13,000 requests/s sustained over the window);
/// past it, new requests are refused (fail closed) until old nonces leave the window.
pub const REPLAY_GUARD_NONCES_MAX: usize = 4_000_000;
/// Nonces are 1 to this many bytes of `[0-9A-Za-z_-]`.
pub const NONCE_BYTES_MAX: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// What a signature covers.
#[derive(Clone, Copy, Debug)]
pub struct SignedParts<'a> {
    pub timestamp_s: u64,
    pub nonce: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

fn mac_of(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    HmacSha256::new_from_slice(secret).expect("HMAC takes any key length")
}

fn request_mac(secret: &[u8], parts: &SignedParts<'_>) -> HmacSha256 {
    let mut mac = mac_of(secret);
    mac.update(b"MV1-REQ\n");
    update_common(&mut mac, parts, None);
    mac
}

fn response_mac(secret: &[u8], parts: &SignedParts<'_>, status: u16) -> HmacSha256 {
    let mut mac = mac_of(secret);
    mac.update(b"MV1-RES\n");
    update_common(&mut mac, parts, Some(status));
    mac
}

fn update_common(mac: &mut HmacSha256, parts: &SignedParts<'_>, status: Option<u16>) {
    mac.update(parts.timestamp_s.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(parts.nonce.as_bytes());
    mac.update(b"\n");
    if let Some(status) = status {
        mac.update(status.to_string().as_bytes());
        mac.update(b"\n");
    }
    mac.update(parts.method.as_bytes());
    mac.update(b"\n");
    mac.update(parts.path.as_bytes());
    mac.update(b"\n");
    mac.update(parts.body);
}

/// Hex signature of a request.
pub fn sign_request(secret: &[u8], parts: &SignedParts<'_>) -> String {
    hex::encode(request_mac(secret, parts).finalize().into_bytes())
}

/// Hex signature of an answer to the request whose nonce `parts.nonce` carries.
pub fn sign_response(secret: &[u8], parts: &SignedParts<'_>, status: u16) -> String {
    hex::encode(response_mac(secret, parts, status).finalize().into_bytes())
}

/// Checks a request signature (hex) in constant time.
pub fn verify_request(secret: &[u8], parts: &SignedParts<'_>, signature_hex: &str) -> bool {
    match hex::decode(signature_hex) {
        Ok(bytes) => request_mac(secret, parts).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// Checks an answer signature (hex) in constant time.
pub fn verify_response(
    secret: &[u8],
    parts: &SignedParts<'_>,
    status: u16,
    signature_hex: &str,
) -> bool {
    match hex::decode(signature_hex) {
        Ok(bytes) => response_mac(secret, parts, status)
            .verify_slice(&bytes)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fresh random nonce (128 bits, hex).
/// A VAN request's signature (DESIGN.md, the public contract): hex
/// `HMAC-SHA256(secret, timestamp "\n" METHOD "\n" path "\n" body)` (the path with its
/// query, as in the request line), sent as
/// `X-Mileverse-Signature` with `X-Mileverse-Key` (the terminal's key id) and
/// `X-Mileverse-Timestamp` (Unix seconds). The scheme has no nonce: the receiver uses the
/// signature itself as the replay-guard entry, so the same signed bytes seen again are a
/// retransmission, answered with the stored result (every VAN call is idempotent on
/// `van_tx_id`, or on its authorization and amount).
pub fn van_signature(
    secret: &[u8],
    timestamp_s: u64,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    hex::encode(
        van_mac(secret, timestamp_s, method, path, body)
            .finalize()
            .into_bytes(),
    )
}

fn van_mac(secret: &[u8], timestamp_s: u64, method: &str, path: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = mac_of(secret);
    for part in [
        timestamp_s.to_string().as_bytes(),
        method.as_bytes(),
        path.as_bytes(),
    ] {
        mac.update(part);
        mac.update(b"\n");
    }
    mac.update(body);
    mac
}

/// Checks a VAN request's signature in constant time.
pub fn verify_van_signature(
    secret: &[u8],
    timestamp_s: u64,
    method: &str,
    path: &str,
    body: &[u8],
    signature_hex: &str,
) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    van_mac(secret, timestamp_s, method, path, body)
        .verify_slice(&signature)
        .is_ok()
}

pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `nonce` has an acceptable shape.
pub fn nonce_is_valid(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= NONCE_BYTES_MAX
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("the timestamp is more than {REPLAY_WINDOW_S} s from the receiver's clock")]
    Stale,
    #[error("the nonce was already used")]
    Replayed,
    #[error("the nonce is malformed")]
    BadNonce,
    #[error("too many requests in the replay window")]
    Full,
}

/// Remembers nonces seen within the replay window. Check the signature first, then
/// [`ReplayGuard::admit`]: an attacker must not be able to burn nonces with bad signatures.
///
/// A check costs one hash lookup: every nonce is in a map to its signed second, and in that
/// second's bucket. Forgetting the nonces that left the window costs only the expired
/// buckets (each nonce is forgotten once), never a scan of all.
#[derive(Debug)]
pub struct ReplayGuard {
    inner: Mutex<Seen>,
    nonces_max: usize,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::with_max(REPLAY_GUARD_NONCES_MAX)
    }
}

#[derive(Debug, Default)]
struct Seen {
    /// Nonce → the second it was signed at.
    nonces: HashMap<Arc<str>, u64>,
    /// Signed second → the nonces signed in it, to forget them when it leaves the window.
    buckets: BTreeMap<u64, Vec<Arc<str>>>,
}

impl Seen {
    /// Forgets every nonce signed before `oldest_s`.
    fn forget_before(&mut self, oldest_s: u64) {
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() >= oldest_s {
                break;
            }
            for nonce in entry.remove() {
                self.nonces.remove(&nonce);
            }
        }
    }

    fn remember(&mut self, timestamp_s: u64, nonce: &str) {
        let nonce: Arc<str> = Arc::from(nonce);
        self.buckets
            .entry(timestamp_s)
            .or_default()
            .push(nonce.clone());
        self.nonces.insert(nonce, timestamp_s);
    }
}

impl ReplayGuard {
    pub fn new() -> ReplayGuard {
        ReplayGuard::default()
    }

    /// A guard that remembers at most `nonces_max` nonces.
    pub fn with_max(nonces_max: usize) -> ReplayGuard {
        ReplayGuard {
            inner: Mutex::new(Seen::default()),
            nonces_max,
        }
    }

    /// Admits a request signed at `timestamp_s` with `nonce`, at receiver time `now_s`.
    /// Nonces are compared byte for byte (the VAN routes lowercase their hex signatures).
    pub fn admit(&self, timestamp_s: u64, nonce: &str, now_s: u64) -> Result<(), ReplayError> {
        if !nonce_is_valid(nonce) {
            return Err(ReplayError::BadNonce);
        }
        if timestamp_s.abs_diff(now_s) > REPLAY_WINDOW_S {
            return Err(ReplayError::Stale);
        }
        let mut seen = self.inner.lock().expect("replay guard lock");
        // A nonce signed before `now - window` can no longer pass the window check.
        seen.forget_before(now_s.saturating_sub(REPLAY_WINDOW_S));
        // The same nonce under another second is the same nonce.
        if seen.nonces.contains_key(nonce) {
            return Err(ReplayError::Replayed);
        }
        if seen.nonces.len() >= self.nonces_max {
            return Err(ReplayError::Full);
        }
        seen.remember(timestamp_s, nonce);
        Ok(())
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("replay guard lock").nonces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(body: &'a [u8]) -> SignedParts<'a> {
        SignedParts {
            timestamp_s: 1_700_000_000,
            nonce: "abc",
            method: "POST",
            path: "/partner/v1/debits",
            body,
        }
    }

    #[test]
    fn request_signatures_cover_every_part() {
        let secret = b"s3cret";
        let signed = sign_request(secret, &parts(b"{}"));
        assert!(verify_request(secret, &parts(b"{}"), &signed));
        assert!(!verify_request(b"other", &parts(b"{}"), &signed));
        assert!(!verify_request(secret, &parts(b"{ }"), &signed));
        let mut moved = parts(b"{}");
        moved.timestamp_s += 1;
        assert!(!verify_request(secret, &moved, &signed));
        let mut renonced = parts(b"{}");
        renonced.nonce = "abd";
        assert!(!verify_request(secret, &renonced, &signed));
        let mut repathed = parts(b"{}");
        repathed.path = "/partner/v1/debit";
        assert!(!verify_request(secret, &repathed, &signed));
        assert!(!verify_request(secret, &parts(b"{}"), "zz"));
    }

    #[test]
    fn a_request_signature_is_not_an_answer_signature() {
        let secret = b"s3cret";
        let request = sign_request(secret, &parts(b"{}"));
        assert!(!verify_response(secret, &parts(b"{}"), 200, &request));
        let answer = sign_response(secret, &parts(b"{}"), 200);
        assert!(verify_response(secret, &parts(b"{}"), 200, &answer));
        assert!(!verify_response(secret, &parts(b"{}"), 201, &answer));
    }

    #[test]
    fn replay_guard_refuses_stale_and_repeated_nonces() {
        let guard = ReplayGuard::new();
        let now = 1_700_000_000;
        assert_eq!(guard.admit(now, "n1", now), Ok(()));
        assert_eq!(guard.admit(now, "n1", now), Err(ReplayError::Replayed));
        assert_eq!(guard.admit(now - REPLAY_WINDOW_S, "n2", now), Ok(()));
        assert_eq!(
            guard.admit(now - REPLAY_WINDOW_S - 1, "n3", now),
            Err(ReplayError::Stale)
        );
        assert_eq!(
            guard.admit(now + REPLAY_WINDOW_S + 1, "n4", now),
            Err(ReplayError::Stale)
        );
        assert_eq!(
            guard.admit(now, "bad nonce", now),
            Err(ReplayError::BadNonce)
        );
        let long = "x".repeat(NONCE_BYTES_MAX + 1);
        assert_eq!(guard.admit(now, &long, now), Err(ReplayError::BadNonce));
        assert_eq!(guard.admit(now, &long[1..], now), Ok(()));
        assert_eq!(guard.admit(now + 1, "n1", now), Err(ReplayError::Replayed));
    }

    #[test]
    fn replay_guard_fails_closed_at_its_maximum_until_the_window_moves() {
        let guard = ReplayGuard::with_max(3);
        let now = 1_700_000_000;
        for nonce in ["a", "b", "c"] {
            guard.admit(now, nonce, now).unwrap();
        }
        assert_eq!(guard.admit(now, "d", now), Err(ReplayError::Full));
        assert_eq!(guard.len(), 3);
        let later = now + REPLAY_WINDOW_S + 1;
        assert_eq!(guard.admit(later, "d", later), Ok(()));
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn replay_guard_remembers_a_nonce_to_the_last_second_of_the_window() {
        let guard = ReplayGuard::new();
        let signed = 1_700_000_000;
        guard.admit(signed, "edge", signed).unwrap();
        // The last second the signed timestamp passes the window check: still a replay,
        // under its own second and under any other.
        let last = signed + REPLAY_WINDOW_S;
        assert_eq!(
            guard.admit(signed, "edge", last),
            Err(ReplayError::Replayed)
        );
        assert_eq!(guard.admit(last, "edge", last), Err(ReplayError::Replayed));
        assert_eq!(guard.len(), 1);
        // One second later the old request is stale, and the nonce is forgotten.
        let after = last + 1;
        assert_eq!(guard.admit(signed, "edge", after), Err(ReplayError::Stale));
        assert_eq!(guard.admit(after, "edge", after), Ok(()));
        assert_eq!(guard.len(), 1);
        assert_eq!(
            guard.admit(after, "edge", after),
            Err(ReplayError::Replayed)
        );
    }

    #[test]
    fn replay_guard_takes_exactly_its_maximum() {
        assert_eq!(ReplayGuard::new().nonces_max, REPLAY_GUARD_NONCES_MAX);
        let maximum = 1_000;
        let guard = ReplayGuard::with_max(maximum);
        let now = 1_700_000_000;
        for index in 0..maximum as u64 {
            // Spread over the whole window, both sides of now.
            let signed = now - REPLAY_WINDOW_S + index % (2 * REPLAY_WINDOW_S + 1);
            assert_eq!(guard.admit(signed, &format!("n{index}"), now), Ok(()));
        }
        assert_eq!(guard.len(), maximum);
        assert_eq!(guard.admit(now, "one-more", now), Err(ReplayError::Full));
        // A replay is still named a replay at the maximum, and nothing was added.
        assert_eq!(guard.admit(now, "n0", now), Err(ReplayError::Replayed));
        assert_eq!(guard.len(), maximum);
        // The oldest second leaves the window: its nonces make room, exactly that many.
        let next = now + 1;
        let freed = (0..maximum as u64)
            .filter(|index| index % (2 * REPLAY_WINDOW_S + 1) == 0)
            .count();
        assert_eq!(guard.admit(next, "one-more", next), Ok(()));
        assert_eq!(guard.len(), maximum - freed + 1);
    }

    #[test]
    fn replay_guard_forgets_nonces_that_left_the_window() {
        let guard = ReplayGuard::new();
        let start = 1_700_000_000;
        for second in 0..10 {
            guard
                .admit(start + second, &format!("n{second}"), start + second)
                .unwrap();
        }
        assert_eq!(guard.len(), 10);
        let later = start + REPLAY_WINDOW_S + 5;
        guard.admit(later, "fresh", later).unwrap();
        // Seconds 0..5 left the window; 5..10 and the fresh one remain.
        assert_eq!(guard.len(), 6);
    }
}

#[cfg(test)]
mod van_tests {
    use super::{van_signature, verify_van_signature};

    /// The DESIGN.md scheme, worked by hand with Python's hmac module:
    /// `hmac.new(b"terminal-secret", b"1700000000\nPOST\n/van/v1/authorizations\n{}",
    /// hashlib.sha256).hexdigest()`.
    #[test]
    fn van_signature_follows_the_public_contract() {
        let signature = van_signature(
            b"terminal-secret",
            1_700_000_000,
            "POST",
            "/van/v1/authorizations",
            b"{}",
        );
        assert_eq!(signature, VECTOR);
        let path = "/van/v1/authorizations";
        assert!(verify_van_signature(
            b"terminal-secret",
            1_700_000_000,
            "POST",
            path,
            b"{}",
            VECTOR
        ));
        for (secret, timestamp, method, body) in [
            (&b"other-secret"[..], 1_700_000_000, "POST", &b"{}"[..]),
            (b"terminal-secret", 1_700_000_001, "POST", b"{}"),
            (b"terminal-secret", 1_700_000_000, "GET", b"{}"),
            (b"terminal-secret", 1_700_000_000, "POST", b"{ }"),
        ] {
            assert!(!verify_van_signature(
                secret, timestamp, method, path, body, VECTOR
            ));
        }
        assert!(!verify_van_signature(
            b"terminal-secret",
            1_700_000_000,
            "POST",
            path,
            b"{}",
            "zz"
        ));
    }

    const VECTOR: &str = "ac057af2164f4007bf62cf1c47514f5169a05474d99f63392e74b5b587022a24";
}
