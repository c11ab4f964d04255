//! Anchoring the ledger on Ethereum: proposals, co-signatures from the witnesses, and the
//! job that submits a checkpoint once enough authorities signed it (docs/chain.md).
//!
//! The job proposes the latest signed checkpoint (the operator's) when it is newer than the
//! last anchored one. Witnesses replay the blocks up to the proposal themselves and post
//! their EIP-712 co-signatures; the platform keeps those of authorities only, and only for
//! checkpoints it proposed, so every co-signature counts towards one checkpoint and `k` of
//! them arrive for the same one even while the ledger keeps moving. With `threshold` of
//! them the job calls the anchor contract and records the transaction. A proposal that does
//! not gather enough co-signatures in `anchor_proposal_timeout_ms` is replaced by a newer
//! one (a witness was down, or fell behind).
//!
//! Co-signatures and anchorings are records: a restart keeps what witnesses sent, and the
//! anchored list is read back from the contract at start, so an anchoring whose answer was
//! lost is still known.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::domain::{self, KIND_ANCHORING, KIND_COSIGNATURE};
use crate::error::PlatformError;
use ports::chain::{
    AnchorAuthorities, AnchorCheckpoint, AnchorDomain, AnchoredCheckpoint, ChainError,
    ChainGateway, EthAddress,
};
use ports::time::now_s;

/// Proposals remembered (so a co-signature for the one just replaced still counts).
pub const PROPOSALS_KEPT_MAX: usize = 8;
/// Anchored checkpoints read from the contract per call at start.
pub const ANCHORED_READ_PAGE_MAX: u64 = 256;

/// A co-signature of a proposed checkpoint by one authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignatureRecord {
    pub height: u64,
    pub tree_size: u64,
    #[serde(with = "hex::serde")]
    pub root: [u8; 32],
    #[serde(with = "hex::serde")]
    pub signer: EthAddress,
    #[serde(with = "hex::serde")]
    pub signature: [u8; 65],
    pub received_at_s: u64,
}

impl CosignatureRecord {
    fn checkpoint(&self) -> AnchorCheckpoint {
        AnchorCheckpoint {
            height: self.height,
            tree_size: self.tree_size,
            root: self.root,
        }
    }

    /// Record key: height, then signer.
    fn key(&self) -> Vec<u8> {
        let mut key = self.height.to_be_bytes().to_vec();
        key.extend_from_slice(&self.signer);
        key
    }
}

/// A checkpoint the anchor contract holds, with the transaction that put it there (when
/// this platform sent it and saw the receipt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoringRecord {
    pub index: u64,
    pub height: u64,
    pub tree_size: u64,
    #[serde(with = "hex::serde")]
    pub root: [u8; 32],
    pub anchored_at_s: u64,
    #[serde(default, with = "hex_option")]
    pub tx_hash: Option<[u8; 32]>,
    pub block_number: Option<u64>,
    pub gas_used: Option<u64>,
}

mod hex_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<[u8; 32]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_some(&hex::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))?;
        Ok(Some(bytes))
    }
}

impl AnchoringRecord {
    pub fn checkpoint(&self) -> AnchorCheckpoint {
        AnchorCheckpoint {
            height: self.height,
            tree_size: self.tree_size,
            root: self.root,
        }
    }
}

/// The anchoring part of the platform's state.
#[derive(Default)]
pub struct AnchoringState {
    /// Co-signatures per checkpoint, by signer.
    pub cosignatures: BTreeMap<AnchorCheckpoint, BTreeMap<EthAddress, [u8; 65]>>,
    /// Anchored checkpoints by contract index.
    pub anchored: BTreeMap<u64, AnchoringRecord>,
    /// The checkpoints proposed, newest last (memory only), with when each was proposed.
    pub proposals: VecDeque<(AnchorCheckpoint, u64)>,
    /// The authorities as last read from the contract (memory only).
    pub authorities: Option<AnchorAuthorities>,
}

impl AnchoringState {
    pub fn insert_cosignature(&mut self, record: CosignatureRecord) {
        self.cosignatures
            .entry(record.checkpoint())
            .or_default()
            .insert(record.signer, record.signature);
    }

    pub fn insert_anchoring(&mut self, record: AnchoringRecord) {
        self.anchored.insert(record.index, record);
    }

    /// The newest proposal, if any.
    pub fn proposal(&self) -> Option<AnchorCheckpoint> {
        self.proposals.back().map(|(checkpoint, _)| *checkpoint)
    }

    pub fn latest_anchored(&self) -> Option<&AnchoringRecord> {
        self.anchored.values().next_back()
    }

    /// The co-signatures of `checkpoint` by current authorities.
    fn valid_signatures(&self, checkpoint: &AnchorCheckpoint) -> Vec<[u8; 65]> {
        let (Some(authorities), Some(signatures)) =
            (&self.authorities, self.cosignatures.get(checkpoint))
        else {
            return Vec::new();
        };
        signatures
            .iter()
            .filter(|(signer, _)| authorities.authorities.contains(signer))
            .map(|(_, signature)| *signature)
            .collect()
    }
}

/// What `GET /v1/ledger/anchor` shows.
#[derive(Clone, Debug)]
pub struct AnchorView {
    pub domain: AnchorDomain,
    pub authorities: Option<AnchorAuthorities>,
    pub proposal: Option<AnchorCheckpoint>,
    pub latest_anchored: Option<AnchoringRecord>,
}

/// The answer to an accepted co-signature.
#[derive(Clone, Copy, Debug)]
pub struct CosignatureReceipt {
    pub signer: EthAddress,
    pub cosignatures: u64,
    pub threshold: u64,
}

impl Platform {
    pub(crate) fn chain(&self) -> Result<&Arc<dyn ChainGateway>, PlatformError> {
        self.chain.as_ref().ok_or(PlatformError::ChainNotConfigured)
    }

    /// The anchor's domain, authorities, current proposal and latest anchored checkpoint.
    pub async fn anchor_view(&self) -> Result<AnchorView, PlatformError> {
        let domain = self.chain()?.anchor_domain();
        if self.lock().anchoring.authorities.is_none() {
            self.refresh_authorities().await?;
        }
        let state = self.lock();
        Ok(AnchorView {
            domain,
            authorities: state.anchoring.authorities.clone(),
            proposal: state.anchoring.proposal(),
            latest_anchored: state.anchoring.latest_anchored().cloned(),
        })
    }

    /// Takes a witness's co-signature of a proposed checkpoint: only from an authority,
    /// only for a checkpoint this platform proposed. Idempotent per (checkpoint, signer).
    pub async fn add_cosignature(
        &self,
        checkpoint: AnchorCheckpoint,
        signature: [u8; 65],
    ) -> Result<CosignatureReceipt, PlatformError> {
        let chain = self.chain()?;
        let signer = chain
            .recover_checkpoint_signer(&checkpoint, &signature)
            .map_err(|error| PlatformError::BadSignature(error.to_string()))?;
        if self.lock().anchoring.authorities.is_none() {
            self.refresh_authorities().await?;
        }
        let (sequence, receipt) = {
            let mut state = self.lock();
            let anchoring = &mut state.anchoring;
            let authorities = anchoring.authorities.clone().unwrap_or(AnchorAuthorities {
                authorities: Vec::new(),
                threshold: u64::MAX,
            });
            if !authorities.authorities.contains(&signer) {
                return Err(PlatformError::NotAnAuthority(hex_address(&signer)));
            }
            let proposed = anchoring.proposals.iter().any(|(p, _)| *p == checkpoint);
            if !proposed {
                return Err(PlatformError::NotTheProposal);
            }
            let record = CosignatureRecord {
                height: checkpoint.height,
                tree_size: checkpoint.tree_size,
                root: checkpoint.root,
                signer,
                signature,
                received_at_s: now_s(),
            };
            let write = domain::put(KIND_COSIGNATURE, &record.key(), &record);
            anchoring.insert_cosignature(record);
            let receipt = CosignatureReceipt {
                signer,
                cosignatures: anchoring.valid_signatures(&checkpoint).len() as u64,
                threshold: authorities.threshold,
            };
            (self.queue(vec![write])?, receipt)
        };
        self.durable(sequence).await?;
        self.anchor_wake.notify_one();
        Ok(receipt)
    }

    async fn refresh_authorities(&self) -> Result<(), PlatformError> {
        let authorities = self
            .chain()?
            .authorities()
            .await
            .map_err(chain_unavailable)?;
        self.lock().anchoring.authorities = Some(authorities);
        Ok(())
    }

    /// Reads the anchored checkpoints this platform has no record of (anchored by an
    /// earlier run whose answer was lost, or by anyone else) and records them.
    async fn sync_anchored(&self) -> Result<(), PlatformError> {
        let chain = self.chain()?;
        loop {
            let from = self
                .lock()
                .anchoring
                .anchored
                .keys()
                .next_back()
                .map_or(0, |index| index + 1);
            let page = chain
                .anchored(from, ANCHORED_READ_PAGE_MAX)
                .await
                .map_err(chain_unavailable)?;
            let page_len = page.len() as u64;
            for anchored in page {
                self.record_anchoring(anchored, None).await?;
            }
            if page_len < ANCHORED_READ_PAGE_MAX {
                return Ok(());
            }
        }
    }

    async fn record_anchoring(
        &self,
        anchored: AnchoredCheckpoint,
        tx: Option<ports::chain::ChainTx>,
    ) -> Result<(), PlatformError> {
        let checkpoint = anchored.checkpoint;
        let record = AnchoringRecord {
            index: anchored.index,
            height: checkpoint.height,
            tree_size: checkpoint.tree_size,
            root: checkpoint.root,
            anchored_at_s: anchored.anchored_at_s,
            tx_hash: tx.map(|tx| tx.tx_hash),
            block_number: tx.map(|tx| tx.block_number),
            gas_used: tx.map(|tx| tx.gas_used),
        };
        let sequence = {
            let mut state = self.lock();
            let anchoring = &mut state.anchoring;
            if anchoring.anchored.contains_key(&record.index) {
                return Ok(());
            }
            anchoring
                .proposals
                .retain(|(proposal, _)| proposal.height > checkpoint.height);
            let write = domain::put(KIND_ANCHORING, &record.index.to_be_bytes(), &record);
            anchoring.insert_anchoring(record);
            self.queue(vec![write])?
        };
        self.durable(sequence).await
    }

    /// One round of the anchoring job: refresh the authorities, propose, and anchor the
    /// newest proposal that has enough co-signatures.
    async fn anchor_round(&self) -> Result<(), PlatformError> {
        self.refresh_authorities().await?;
        self.propose();
        let ready = {
            let state = self.lock();
            let anchoring = &state.anchoring;
            let threshold = anchoring
                .authorities
                .as_ref()
                .map_or(u64::MAX, |a| a.threshold);
            anchoring
                .proposals
                .iter()
                .rev()
                .find_map(|(checkpoint, _)| {
                    let signatures = anchoring.valid_signatures(checkpoint);
                    (signatures.len() as u64 >= threshold).then_some((*checkpoint, signatures))
                })
        };
        let Some((checkpoint, signatures)) = ready else {
            return Ok(());
        };
        match self.chain()?.anchor(&checkpoint, &signatures).await {
            Ok(tx) => {
                tracing::info!(
                    height = checkpoint.height,
                    tree_size = checkpoint.tree_size,
                    block = tx.block_number,
                    gas = tx.gas_used,
                    "checkpoint anchored"
                );
                let anchored = self.find_anchored(&checkpoint).await?;
                match anchored {
                    Some(anchored) => self.record_anchoring(anchored, Some(tx)).await,
                    None => self.sync_anchored().await,
                }
            }
            // Refused (someone anchored past it, or an authority was removed): the
            // contract's list is the truth; read it, and the next round proposes anew.
            Err(ChainError::Rejected(reason)) => {
                tracing::warn!(%reason, height = checkpoint.height, "anchoring refused");
                self.lock()
                    .anchoring
                    .proposals
                    .retain(|(proposal, _)| *proposal != checkpoint);
                self.sync_anchored().await
            }
            Err(error) => Err(chain_unavailable(error)),
        }
    }

    /// The contract's entry for `checkpoint`, looked for among the newest few.
    async fn find_anchored(
        &self,
        checkpoint: &AnchorCheckpoint,
    ) -> Result<Option<AnchoredCheckpoint>, PlatformError> {
        let from = self
            .lock()
            .anchoring
            .anchored
            .keys()
            .next_back()
            .map_or(0, |index| index + 1);
        let page = self
            .chain()?
            .anchored(from, ANCHORED_READ_PAGE_MAX)
            .await
            .map_err(chain_unavailable)?;
        Ok(page.into_iter().find(|a| a.checkpoint == *checkpoint))
    }

    /// Proposes the latest signed checkpoint when it is past the last anchored one and no
    /// live proposal is waiting for co-signatures.
    fn propose(&self) {
        let Some(signed) = self.ledger.checkpoint() else {
            return;
        };
        let candidate = AnchorCheckpoint {
            height: signed.checkpoint.block_height,
            tree_size: signed.checkpoint.tree_size,
            root: signed.checkpoint.root,
        };
        let now_ms = ports::time::now_ms();
        let timeout_ms = self.config.anchor_proposal_timeout_ms;
        let mut state = self.lock();
        let anchoring = &mut state.anchoring;
        // Only a larger log is worth anchoring: blocks that only create accounts add no
        // transfer to the log (and an empty log proves nothing).
        let last_tree_size = anchoring.latest_anchored().map_or(0, |last| last.tree_size);
        let last_height = anchoring.latest_anchored().map(|last| last.height);
        let behind = candidate.tree_size > last_tree_size
            && last_height.is_none_or(|height| candidate.height > height);
        let waiting = anchoring
            .proposals
            .back()
            .is_some_and(|(_, at_ms)| now_ms.saturating_sub(*at_ms) < timeout_ms);
        let fresh = anchoring.proposal() != Some(candidate);
        if behind && fresh && !waiting {
            anchoring.proposals.push_back((candidate, now_ms));
            while anchoring.proposals.len() > PROPOSALS_KEPT_MAX {
                anchoring.proposals.pop_front();
            }
        }
    }
}

/// Starts the anchoring job (when a chain is configured): one round per
/// `anchor_interval_ms`, or sooner when a co-signature arrives.
pub(crate) fn spawn_anchoring(platform: &Arc<Platform>) {
    if platform.chain.is_none() {
        return;
    }
    // A weak handle: the job must not keep the platform alive (the exchange resolver stops
    // when it holds the last strong one).
    let weak = Arc::downgrade(platform);
    let interval = Duration::from_millis(platform.config.anchor_interval_ms.max(1));
    tokio::spawn(async move {
        let mut synced = false;
        loop {
            let Some(platform) = weak.upgrade() else {
                return;
            };
            if !synced {
                synced = platform.sync_anchored().await.is_ok();
            }
            if let Err(error) = platform.anchor_round().await {
                tracing::warn!(%error, "anchoring round failed; retrying");
            }
            let wake = platform.anchor_wake.clone();
            drop(platform);
            let _ = tokio::time::timeout(interval, wake.notified()).await;
        }
    });
}

pub(crate) fn chain_unavailable(error: ChainError) -> PlatformError {
    PlatformError::ChainUnavailable(error.to_string())
}

/// `0x`-prefixed lowercase hex of an address.
pub fn hex_address(address: &EthAddress) -> String {
    format!("0x{}", hex::encode(address))
}
