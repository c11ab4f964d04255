//! Anchoring a ledger checkpoint: what the authorities sign, and how it is submitted.
//!
//! Each authority signs the EIP-712 hash of `Checkpoint(uint64 height,uint64 treeSize,
//! bytes32 root)` in the domain `MileverseAnchor` / `1` / chain id / anchor address, so a
//! signature is good for one anchor contract on one chain only. Anyone may then submit the
//! checkpoint with at least `threshold` signatures; the contract wants them ordered by
//! signer address, ascending, which is how it refuses a signer counted twice.

use alloy::primitives::Bytes;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct, eip712_domain};

use crate::contracts::Anchor;
use crate::{Address, B256, Error, confirm};

/// The EIP-712 struct, as the contract hashes it.
mod typed {
    alloy::sol! {
        struct Checkpoint {
            uint64 height;
            uint64 treeSize;
            bytes32 root;
        }
    }
}

/// A ledger checkpoint as anchored: block height, and size and root of the transfer log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub height: u64,
    pub tree_size: u64,
    pub root: B256,
}

/// One authority's signature over a checkpoint, with the address it recovers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthoritySignature {
    /// The authority whose key made the signature.
    pub signer: Address,
    /// `r ‖ s ‖ v` (v = 27 or 28), the form OpenZeppelin's `ECDSA.recover` takes.
    pub bytes: [u8; 65],
}

impl AuthoritySignature {
    /// Reads a signature received from an authority, and recovers who made it over `hash`
    /// (a signature over other data recovers to some other address, which the anchor
    /// rejects as an unknown signer).
    pub fn recover(bytes: [u8; 65], hash: B256) -> Result<Self, Error> {
        let signature = alloy::primitives::Signature::try_from(&bytes[..])
            .map_err(|error| Error::Signature(error.to_string()))?;
        let signer = signature
            .recover_address_from_prehash(&hash)
            .map_err(|error| Error::Signature(error.to_string()))?;
        Ok(Self { signer, bytes })
    }
}

/// The EIP-712 domain of the anchor contract at `anchor` on chain `chain_id`.
pub fn domain(anchor: Address, chain_id: u64) -> Eip712Domain {
    eip712_domain! {
        name: "MileverseAnchor",
        version: "1",
        chain_id: chain_id,
        verifying_contract: anchor,
    }
}

/// The hash an authority signs for `checkpoint` (the contract's `digest`).
pub fn signing_hash(checkpoint: &Checkpoint, anchor: Address, chain_id: u64) -> B256 {
    let typed = typed::Checkpoint {
        height: checkpoint.height,
        treeSize: checkpoint.tree_size,
        root: checkpoint.root,
    };
    typed.eip712_signing_hash(&domain(anchor, chain_id))
}

/// An authority's signature over `checkpoint` for the anchor at `anchor` on `chain_id`.
pub fn sign(
    signer: &PrivateKeySigner,
    checkpoint: &Checkpoint,
    anchor: Address,
    chain_id: u64,
) -> Result<AuthoritySignature, Error> {
    let hash = signing_hash(checkpoint, anchor, chain_id);
    let signature = signer.sign_hash_sync(&hash)?;
    Ok(AuthoritySignature {
        signer: signer.address(),
        bytes: signature.as_bytes(),
    })
}

/// The signatures in the order the contract accepts: by signer address, ascending, one per
/// signer (a second signature of the same authority would make the whole call revert).
pub fn in_signer_order(mut signatures: Vec<AuthoritySignature>) -> Vec<AuthoritySignature> {
    signatures.sort_by_key(|signature| signature.signer);
    signatures.dedup_by_key(|signature| signature.signer);
    signatures
}

/// Submits `checkpoint` to the anchor at `anchor`, with the signatures put in signer order,
/// from the provider's default signer; returns the receipt once mined.
pub async fn submit<P: Provider>(
    provider: &P,
    anchor: Address,
    checkpoint: &Checkpoint,
    signatures: Vec<AuthoritySignature>,
) -> Result<TransactionReceipt, Error> {
    let signatures = in_signer_order(signatures);
    submit_as_given(provider, anchor, checkpoint, &signatures).await
}

/// Submits the signatures exactly as given (order and duplicates kept): what [`submit`]
/// does after sorting, and how tests present malformed sets to the contract.
pub async fn submit_as_given<P: Provider>(
    provider: &P,
    anchor: Address,
    checkpoint: &Checkpoint,
    signatures: &[AuthoritySignature],
) -> Result<TransactionReceipt, Error> {
    let contract = Anchor::new(anchor, provider);
    let signatures: Vec<Bytes> = signatures
        .iter()
        .map(|signature| Bytes::copy_from_slice(&signature.bytes))
        .collect();
    let call = contract.anchor(
        checkpoint.height,
        checkpoint.tree_size,
        checkpoint.root,
        signatures,
    );
    confirm(call.send().await?).await
}

/// The chain id the anchor's domain must name: the one the provider's node reports.
pub async fn chain_id<P: Provider>(provider: &P) -> Result<u64, Error> {
    Ok(provider.get_chain_id().await?)
}

/// A checkpoint as the anchor contract holds it, with its index and anchoring time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchored {
    pub index: u64,
    pub checkpoint: Checkpoint,
    /// Block timestamp of the anchoring transaction (Unix seconds).
    pub anchored_at_s: u64,
}

impl From<Anchored> for ports::chain::AnchoredCheckpoint {
    fn from(anchored: Anchored) -> Self {
        ports::chain::AnchoredCheckpoint {
            index: anchored.index,
            checkpoint: ports::chain::AnchorCheckpoint {
                height: anchored.checkpoint.height,
                tree_size: anchored.checkpoint.tree_size,
                root: anchored.checkpoint.root.0,
            },
            anchored_at_s: anchored.anchored_at_s,
        }
    }
}

/// Most checkpoints read by one call of [`anchored`].
pub const ANCHORED_PAGE_MAX: u64 = 256;

/// The anchored checkpoints from index `from_index` on, oldest first, at most `limit`
/// (capped at [`ANCHORED_PAGE_MAX`]); fewer than asked means the end of the list.
pub async fn anchored<P: Provider>(
    provider: &P,
    anchor: Address,
    from_index: u64,
    limit: u64,
) -> Result<Vec<Anchored>, Error> {
    let contract = Anchor::new(anchor, provider);
    let count: u64 = contract
        .checkpointCount()
        .call()
        .await?
        .try_into()
        .unwrap_or(u64::MAX);
    let end = count.min(from_index.saturating_add(limit.min(ANCHORED_PAGE_MAX)));
    let mut checkpoints = Vec::new();
    for index in from_index..end {
        let stored = contract
            .checkpointAt(alloy::primitives::U256::from(index))
            .call()
            .await?;
        checkpoints.push(Anchored {
            index,
            checkpoint: Checkpoint {
                height: stored.height,
                tree_size: stored.treeSize,
                root: stored.root,
            },
            anchored_at_s: stored.anchoredAt,
        });
    }
    Ok(checkpoints)
}
