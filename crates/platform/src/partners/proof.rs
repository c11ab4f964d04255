//! The secrets and checks of a link's proof (OAuth 2.0 authorization code with PKCE S256,
//! RFC 6749 §4.1 and RFC 7636): what an attempt keeps, what the member sends back, and how
//! the two are compared. Pure: no state, no IO.
//!
//! - `state`: 32 random bytes as BASE64URL (256 bits, single use). It is a bearer secret
//!   (whoever holds it with a code can finish the attempt), so only its SHA-256 is kept and
//!   the comparison is constant time.
//! - `code_verifier`: 32 random bytes as BASE64URL, 43 characters (RFC 7636 §4.1); it must
//!   be sent to the partner at the proof, so it is kept sealed under the data key, bound to
//!   the link's id.
//! - the member's `{state, code}`: bounded, visible ASCII, checked before anything is read
//!   or asked.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{PlatformError, invalid};

/// Longest `state` a proof may carry (ours are 43 characters; anything longer is not ours).
pub const STATE_CHARS_MAX: usize = 256;
/// Longest authorization `code` a proof may carry (the protocol's limit).
pub const CODE_CHARS_MAX: usize = 256;
/// The path of the platform's public page the partner sends the member back to (served by
/// the web app); the redirect URI is the public base URL followed by it.
pub const CALLBACK_PATH: &str = "/app/partner-links/callback";

/// What the member brings back from the partner: the `state` and `code` of the redirect.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkProof {
    state: String,
    code: String,
}

impl std::fmt::Debug for LinkProof {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Both are bearer secrets while the attempt lives.
        formatter.write_str("LinkProof { .. }")
    }
}

impl LinkProof {
    /// Checks the member's `state` and `code`: 1 to [`STATE_CHARS_MAX`] and
    /// [`CODE_CHARS_MAX`] visible ASCII characters.
    pub fn new(state: &str, code: &str) -> Result<LinkProof, PlatformError> {
        if !is_visible_ascii(state, STATE_CHARS_MAX) {
            let detail = format!("1 to {STATE_CHARS_MAX} visible ASCII characters");
            return Err(invalid("state", detail));
        }
        if !is_visible_ascii(code, CODE_CHARS_MAX) {
            let detail = format!("1 to {CODE_CHARS_MAX} visible ASCII characters");
            return Err(invalid("code", detail));
        }
        Ok(LinkProof {
            state: state.to_string(),
            code: code.to_string(),
        })
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether the proof's state is the one whose hash the attempt kept (constant time).
    pub fn state_matches(&self, state_hash: &[u8]) -> bool {
        bool::from(state_hash_of(&self.state).as_slice().ct_eq(state_hash))
    }
}

fn is_visible_ascii(text: &str, chars_max: usize) -> bool {
    !text.is_empty() && text.len() <= chars_max && text.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// The secrets of a new attempt: the state and verifier in clear (to send), and the
/// state's hash and the challenge.
pub(crate) struct AttemptSecrets {
    pub state: String,
    pub state_hash: [u8; 32],
    pub verifier: String,
    pub challenge: String,
}

impl AttemptSecrets {
    pub(crate) fn new() -> AttemptSecrets {
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        let state = ports::pkce::new_verifier(&random);
        rand::thread_rng().fill_bytes(&mut random);
        let verifier = ports::pkce::new_verifier(&random);
        AttemptSecrets {
            state_hash: state_hash_of(&state),
            challenge: ports::pkce::challenge_s256(&verifier),
            state,
            verifier,
        }
    }
}

fn state_hash_of(state: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/link-state/");
    hasher.update(state.as_bytes());
    hasher.finalize().into()
}

/// Associated data of a link attempt's sealed verifier: it opens for this link only.
pub(crate) fn verifier_context(link_id: u128) -> Vec<u8> {
    format!("link/{link_id}/code-verifier").into_bytes()
}

/// The redirect URI of the platform at `public_url` (its public base URL).
pub(crate) fn redirect_uri(public_url: &str) -> String {
    format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_proof_is_bounded_visible_ascii() {
        assert!(LinkProof::new("s", "c").is_ok());
        assert!(LinkProof::new(&"s".repeat(STATE_CHARS_MAX), &"c".repeat(CODE_CHARS_MAX)).is_ok());
        let long_state = "s".repeat(STATE_CHARS_MAX + 1);
        assert!(matches!(
            LinkProof::new(&long_state, "c"),
            Err(PlatformError::Invalid { field: "state", .. })
        ));
        let long_code = "c".repeat(CODE_CHARS_MAX + 1);
        assert!(matches!(
            LinkProof::new("s", &long_code),
            Err(PlatformError::Invalid { field: "code", .. })
        ));
        for bad in ["", " ", "a b", "é", "a\n"] {
            assert!(LinkProof::new(bad, "c").is_err(), "{bad:?}");
            assert!(LinkProof::new("s", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn attempts_have_fresh_secrets_of_the_rfc_shape() {
        let first = AttemptSecrets::new();
        let second = AttemptSecrets::new();
        assert_ne!(first.state, second.state);
        assert_ne!(first.verifier, second.verifier);
        assert!(first.state.len() >= 22, "at least 128 bits");
        assert!(ports::pkce::verifier_is_valid(&first.verifier));
        assert!(ports::pkce::verifier_matches(
            &first.verifier,
            &first.challenge
        ));
        let proof = LinkProof::new(&first.state, "code").unwrap();
        assert!(proof.state_matches(&first.state_hash));
        assert!(!proof.state_matches(&second.state_hash));
        assert!(
            !format!("{proof:?}").contains(&first.state),
            "no secret in logs"
        );
    }

    #[test]
    fn the_redirect_uri_is_the_public_url_and_the_callback() {
        assert_eq!(
            redirect_uri("https://mileverse.example/"),
            "https://mileverse.example/app/partner-links/callback"
        );
    }

    proptest! {
        /// Whatever the member sends, a proof is either refused with a typed error or
        /// holds exactly what was sent; nothing panics.
        #[test]
        fn any_state_and_code_are_refused_or_kept(state in ".{0,300}", code in "\\PC{0,300}") {
            match LinkProof::new(&state, &code) {
                Ok(proof) => {
                    prop_assert_eq!(proof.code(), code.as_str());
                    prop_assert!(proof.state_matches(&state_hash_of(&state)));
                }
                Err(PlatformError::Invalid { field, .. }) => {
                    prop_assert!(field == "state" || field == "code");
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }
}
