//! Protection of personal data and credentials at rest.
//!
//! - **Sealing** (AES-256-GCM): names, phone numbers, bank accounts and partner secrets are
//!   stored only sealed. A sealed value is `nonce (12 bytes) || ciphertext || tag`, and the
//!   record's kind and id are the associated data, so a sealed value moved to another record
//!   does not open.
//! - **Blind index** (HMAC-SHA256): phone lookups go through a keyed hash of the normalized
//!   number, so the database can find a member by phone without holding the phone in clear.
//! - **PINs**: argon2id (the argon2 crate's defaults: 19 MiB, 2 passes), PHC strings.
//! - **Session tokens**: 256 random bits, given to the member once; only their SHA-256 is
//!   stored, so a copy of the database holds no usable token.
//!
//! The 32-byte data key comes from a file or the environment (see `keys`), never from the
//! database; the sealing and index keys are derived from it with distinct labels.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const NONCE_BYTES: usize = 12;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a sealed value does not open with this data key (wrong key or tampered)")]
    Unseal,
    #[error("PIN hashing failed: {0}")]
    PinHash(String),
}

/// The keys derived from the operator's data key.
#[derive(Clone)]
pub struct DataKeys {
    cipher: Aes256Gcm,
    index_key: [u8; 32],
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DataKeys(..)")
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(b"mileverse/data-key/");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl DataKeys {
    pub fn from_master(master: &[u8; 32]) -> DataKeys {
        let sealing = derive(master, b"seal");
        DataKeys {
            cipher: Aes256Gcm::new_from_slice(&sealing).expect("32-byte key"),
            index_key: derive(master, b"blind-index"),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (record kind and id).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM encryption of in-memory data cannot fail");
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_BYTES {
            return Err(CryptoError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: context,
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| CryptoError::Unseal)
    }

    pub fn open_string(&self, sealed: &[u8], context: &[u8]) -> Result<String, CryptoError> {
        let bytes = self.open(sealed, context)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Unseal)
    }

    /// Keyed hash of a verification code, bound to its verification id: without the data key,
    /// a copy of the database cannot try the million codes of a live verification.
    pub fn code_hash(&self, verification_id: u128, code: &str) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.index_key).expect("any key length");
        mac.update(b"mileverse/verification-code/");
        mac.update(&verification_id.to_be_bytes());
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The keyed blind index of a value (e.g. a normalized phone number).
    pub fn blind_index(&self, kind: &[u8], value: &[u8]) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.index_key).expect("any key length");
        mac.update(&(kind.len() as u32).to_be_bytes());
        mac.update(kind);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }
}

/// argon2id PHC string of a PIN. Slow on purpose (tens of ms): call off the async threads.
pub fn hash_pin(pin: &str) -> Result<String, CryptoError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|error| CryptoError::PinHash(error.to_string()))?;
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| CryptoError::PinHash(error.to_string()))
}

/// Whether `pin` matches the PHC string. A malformed hash never matches.
pub fn verify_pin(pin: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new bearer token (hex of 32 random bytes) and the hash under which it is stored.
pub fn new_token() -> (String, [u8; 32]) {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A PIN hash no PIN was chosen for, with the parameters of real ones: a login for a phone
/// without a member verifies against it, so it takes a member's time.
pub fn decoy_pin_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = hex::encode(rand::random::<[u8; 16]>());
        hash_pin(&random).expect("hashing a random string")
    })
}

/// Compares two byte strings in time independent of where they differ (`subtle`; a
/// length difference is told at once, which only says the length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let keys = DataKeys::from_master(&[7; 32]);
        let sealed = keys.seal(b"+821012345678", b"member/1");
        assert_eq!(keys.open(&sealed, b"member/1").unwrap(), b"+821012345678");
        assert_eq!(keys.open(&sealed, b"member/2"), Err(CryptoError::Unseal));
        let other = DataKeys::from_master(&[8; 32]);
        assert_eq!(other.open(&sealed, b"member/1"), Err(CryptoError::Unseal));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(keys.open(&tampered, b"member/1"), Err(CryptoError::Unseal));
        assert_eq!(
            keys.open(&sealed[..5], b"member/1"),
            Err(CryptoError::Unseal)
        );
        assert_ne!(
            keys.seal(b"x", b"c"),
            keys.seal(b"x", b"c"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn blind_index_is_keyed_and_deterministic() {
        let keys = DataKeys::from_master(&[7; 32]);
        let a = keys.blind_index(b"phone", b"+821012345678");
        assert_eq!(a, keys.blind_index(b"phone", b"+821012345678"));
        assert_ne!(a, keys.blind_index(b"phone", b"+821012345679"));
        assert_ne!(a, keys.blind_index(b"bank", b"+821012345678"));
        let other = DataKeys::from_master(&[8; 32]);
        assert_ne!(a, other.blind_index(b"phone", b"+821012345678"));
    }

    #[test]
    fn pins_hash_with_argon2id_and_verify() {
        let phc = hash_pin("123456").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_pin("123456", &phc));
        assert!(!verify_pin("123457", &phc));
        assert!(!verify_pin("123456", "not a hash"));
    }

    #[test]
    fn tokens_are_stored_as_hashes() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), 64);
        assert_eq!(token_hash(&token), hash);
        assert!(constant_time_eq(&hash, &token_hash(&token)));
        assert!(!constant_time_eq(&hash, &[0; 32]));
    }
}
