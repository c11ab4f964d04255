//! Proof Key for Code Exchange (RFC 7636), method `S256` only: the rule a `code_verifier`
//! follows, its `code_challenge`, and the check an authorization server makes when the code
//! is redeemed. Both sides of the partner protocol's ownership step use it: the platform
//! makes the verifier and sends the challenge, the partner (and the simulator) checks the
//! verifier against the challenge it bound the code to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only method we send and accept: `plain` would put the verifier in the browser.
pub const METHOD_S256: &str = "S256";
/// Shortest `code_verifier` (RFC 7636 §4.1).
pub const VERIFIER_CHARS_MIN: usize = 43;
/// Longest `code_verifier` (RFC 7636 §4.1).
pub const VERIFIER_CHARS_MAX: usize = 128;
/// A challenge is BASE64URL of 32 bytes, no padding: always 43 characters.
pub const CHALLENGE_CHARS: usize = 43;

/// Whether `verifier` is 43 to 128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
pub fn verifier_is_valid(verifier: &str) -> bool {
    (VERIFIER_CHARS_MIN..=VERIFIER_CHARS_MAX).contains(&verifier.len())
        && verifier.bytes().all(is_unreserved)
}

/// Whether `challenge` has the shape of an S256 challenge: 43 BASE64URL characters.
pub fn challenge_is_valid(challenge: &str) -> bool {
    challenge.len() == CHALLENGE_CHARS
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `BASE64URL(SHA256(ASCII(code_verifier)))`, no padding (RFC 7636 §4.2).
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A new verifier: 32 random bytes as BASE64URL, 43 characters (the RFC's recommendation,
/// §4.1: 256 bits of entropy).
pub fn new_verifier(random: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The server's check (RFC 7636 §4.6): the verifier follows the rule and its S256
/// challenge equals the one the code was bound to, compared in constant time.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let computed = challenge_s256(verifier);
    verifier_is_valid(verifier) && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn the_rfc_example_gives_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            challenge_s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verifier_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verifier_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
    }

    #[test]
    fn verifiers_follow_the_rule_at_its_limits() {
        assert!(verifier_is_valid(&"a".repeat(VERIFIER_CHARS_MIN)));
        assert!(!verifier_is_valid(&"a".repeat(VERIFIER_CHARS_MIN - 1)));
        assert!(verifier_is_valid(&"~".repeat(VERIFIER_CHARS_MAX)));
        assert!(!verifier_is_valid(&"a".repeat(VERIFIER_CHARS_MAX + 1)));
        assert!(!verifier_is_valid(&format!("{}+", "a".repeat(50))));
        assert_eq!(new_verifier(&[0xA5; 32]).len(), VERIFIER_CHARS_MIN);
        assert!(verifier_is_valid(&new_verifier(&[0xFF; 32])));
    }

    #[test]
    fn challenges_have_their_shape() {
        assert!(challenge_is_valid(&challenge_s256("anything")));
        assert!(!challenge_is_valid("short"));
        assert!(!challenge_is_valid(&format!("{}=", "a".repeat(42))));
    }
}
