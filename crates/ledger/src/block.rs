//! The hashes that chain the journal: transfer leaves, account digests and block hashes.
//!
//! Every block header names its predecessor's hash and the Merkle root of all transfers so
//! far, so one block hash commits to the whole history. The leaf and digest functions live
//! here, next to the header hash, so that the engine, the stores and external verifiers all
//! derive them the same way from the canonical encodings in [`crate::encoding`].

use sha2::{Digest, Sha256};

use crate::encoding::{self, Writer, encode_account, encode_header, encode_transfer};
use crate::merkle::leaf_hash;
use crate::types::{Account, BlockHeader, Hash, Transfer};

/// Domain tag of the accounts digest.
pub const ACCOUNTS_TAG: &str = "mileverse/accounts/v1";

/// The Merkle leaf hash of a transfer: `leaf_hash(encode_transfer(t))`.
pub fn transfer_leaf_hash(transfer: &Transfer) -> Hash {
    leaf_hash(&encode_transfer(transfer))
}

/// Appends the leaf hash of every transfer, in order, to `out`.
pub fn transfer_leaf_hashes(transfers: &[Transfer], out: &mut Vec<Hash>) {
    out.reserve(transfers.len());
    out.extend(transfers.iter().map(transfer_leaf_hash));
}

/// SHA-256 over the tag, the account count (u64, big-endian) and each account's encoding.
///
/// The count makes the digest of a block with no accounts a fixed value that no list of
/// accounts can produce.
pub fn accounts_digest(accounts: &[Account]) -> Hash {
    let mut prefix = [0u8; encoding::tagged_len(ACCOUNTS_TAG) + 8];
    let mut writer = Writer::new(&mut prefix);
    writer.tag(ACCOUNTS_TAG);
    writer.u64(accounts.len() as u64);
    writer.finish();
    let mut hasher = Sha256::new();
    hasher.update(prefix);
    for account in accounts {
        hasher.update(encode_account(account));
    }
    hasher.finalize().into()
}

/// The hash of a block: SHA-256 over its header's canonical encoding.
pub fn block_hash(header: &BlockHeader) -> Hash {
    Sha256::digest(encode_header(header)).into()
}
