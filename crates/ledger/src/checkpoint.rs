//! Signed checkpoints: an operator's Ed25519 signature over a block's tree head.
//!
//! A checkpoint names a block (height and hash) and the Merkle log it closes (size and root).
//! Once an operator has signed one, a client holding it can demand inclusion proofs against
//! that root and consistency proofs towards later ones, so the operator cannot rewrite
//! history without presenting two signed, inconsistent checkpoints.
//!
//! The signed message is the checkpoint's canonical encoding, tagged
//! `"mileverse/checkpoint/v1"` so a signature over it can never be replayed as a signature
//! over anything else. Keys come from callers: this crate holds no randomness.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::encoding::{Writer, tagged_len};
use crate::types::{BlockHeader, Hash};

/// Domain tag of a checkpoint's signed bytes.
pub const CHECKPOINT_TAG: &str = "mileverse/checkpoint/v1";

/// Length of [`Checkpoint::signed_bytes`].
pub const CHECKPOINT_ENCODED_LEN: usize = tagged_len(CHECKPOINT_TAG) + 3 * 8 + 2 * 32;

/// A block's tree head, as signed by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub block_height: u64,
    pub block_hash: Hash,
    pub tree_size: u64,
    pub root: Hash,
    pub timestamp: u64,
}

impl Checkpoint {
    /// The checkpoint of a block, given the block's hash.
    pub fn of_block(header: &BlockHeader, block_hash: &Hash) -> Checkpoint {
        Checkpoint {
            block_height: header.height,
            block_hash: *block_hash,
            tree_size: header.tree_size,
            root: header.merkle_root,
            timestamp: header.timestamp,
        }
    }

    /// The signed message: tag, then every field in declaration order (fixed-width,
    /// big-endian).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; CHECKPOINT_ENCODED_LEN];
        let mut writer = Writer::new(&mut bytes);
        writer.tag(CHECKPOINT_TAG);
        writer.u64(self.block_height);
        writer.hash(&self.block_hash);
        writer.u64(self.tree_size);
        writer.hash(&self.root);
        writer.u64(self.timestamp);
        writer.finish();
        bytes
    }
}

/// The operator's Ed25519 signing key.
#[derive(Clone)]
pub struct OperatorKey {
    key: SigningKey,
}

impl fmt::Debug for OperatorKey {
    /// Shows the public key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl OperatorKey {
    /// The key whose RFC 8032 secret is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        OperatorKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The RFC 8032 secret, for storing the key. Keep it secret.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public key, in RFC 8032 encoding.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs the checkpoint's [`Checkpoint::signed_bytes`].
    pub fn sign(&self, checkpoint: &Checkpoint) -> [u8; 64] {
        self.key.sign(&checkpoint.signed_bytes()).to_bytes()
    }
}

/// Why a checkpoint signature was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    #[error("the signature does not match this checkpoint and key")]
    BadSignature,
}

/// Verifies an operator's signature over a checkpoint.
///
/// Uses strict verification: small-order (weak) keys are refused, and so are signatures
/// with a small-order point or a non-canonical scalar, which could otherwise be altered into
/// a second valid encoding without the key.
pub fn verify_checkpoint(
    public_key: &[u8; 32],
    checkpoint: &Checkpoint,
    signature: &[u8; 64],
) -> Result<(), CheckpointError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| CheckpointError::BadPublicKey)?;
    if key.is_weak() {
        return Err(CheckpointError::BadPublicKey);
    }
    let signature = Signature::from_bytes(signature);
    key.verify_strict(&checkpoint.signed_bytes(), &signature)
        .map_err(|_| CheckpointError::BadSignature)
}
