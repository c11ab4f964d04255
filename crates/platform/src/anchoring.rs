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
//! Co-signatures and anchorings live in their tables (`store::tables::anchoring`): a
//! restart keeps what witnesses sent, and the anchored list is read back from the contract
//! at start, so an anchoring whose answer was lost is still known. Memory keeps the
//! working set ([`Anchoring`]): the authorities as last read, the live proposals (at most
//! [`PROPOSALS_KEPT_MAX`]) with their co-signatures, and the latest anchoring. The
//! co-signatures of checkpoints anchored past are purged in the anchoring's commit: no
//! contract would take them any more.

pub mod error;
pub use error::AnchoringError;
mod legacy;

use crate::conversion::error::ConversionError;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use store::tables::RowRef;
use store::tables::anchoring::{self as tables, AnchoringWrite};

use crate::Platform;
use crate::error::PlatformError;
use ports::chain::{
    AnchorAuthorities, AnchorCheckpoint, AnchorDomain, AnchoredCheckpoint, ChainError,
    ChainGateway, EthAddress,
};
use ports::time::now_s;

pub(crate) use legacy::legacy_row;
pub use legacy::{KIND_ANCHORING, KIND_COSIGNATURE};
pub use store::tables::anchoring::{
    AnchoringRow as AnchoringRecord, CosignatureRow as CosignatureRecord,
};

/// Proposals remembered (so a co-signature for the one just replaced still counts).
pub const PROPOSALS_KEPT_MAX: usize = 8;
/// Anchored checkpoints read from the contract per call at start.
pub const ANCHORED_READ_PAGE_MAX: u64 = 256;

/// A proposal: the checkpoint, when it was proposed, and its co-signatures by signer.
struct Proposal {
    checkpoint: AnchorCheckpoint,
    proposed_at_ms: u64,
    cosignatures: BTreeMap<EthAddress, [u8; 65]>,
}

/// The anchoring job's working set.
#[derive(Default)]
struct Work {
    /// The checkpoints proposed, newest last.
    proposals: VecDeque<Proposal>,
    /// The authorities as last read from the contract.
    authorities: Option<AnchorAuthorities>,
    /// The anchoring with the highest contract index, as recorded.
    latest: Option<AnchoringRecord>,
}

impl Work {
    /// The newest proposal, if any.
    fn proposal(&self) -> Option<AnchorCheckpoint> {
        self.proposals.back().map(|proposal| proposal.checkpoint)
    }

    fn proposal_mut(&mut self, checkpoint: &AnchorCheckpoint) -> Option<&mut Proposal> {
        self.proposals
            .iter_mut()
            .find(|proposal| proposal.checkpoint == *checkpoint)
    }

    /// The co-signatures of `proposal` by current authorities.
    fn valid_signatures(&self, proposal: &Proposal) -> Vec<[u8; 65]> {
        let Some(authorities) = &self.authorities else {
            return Vec::new();
        };
        proposal
            .cosignatures
            .iter()
            .filter(|(signer, _)| authorities.authorities.contains(signer))
            .map(|(_, signature)| *signature)
            .collect()
    }

    /// The next contract index not recorded yet.
    fn next_index(&self) -> u64 {
        self.latest.as_ref().map_or(0, |latest| latest.index + 1)
    }
}

/// The anchoring context's working set and lock.
#[derive(Default)]
pub struct Anchoring {
    work: Mutex<Work>,
}

impl Anchoring {
    fn work(&self) -> MutexGuard<'_, Work> {
        self.work.lock().expect("anchoring lock")
    }

    /// The anchoring with the highest contract index, as recorded.
    pub(crate) fn latest(&self) -> Option<AnchoringRecord> {
        self.work().latest.clone()
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
        self.chain.as_ref().ok_or(PlatformError::Conversion(
            ConversionError::ChainNotConfigured,
        ))
    }

    /// The anchor's domain, authorities, current proposal and latest anchored checkpoint.
    pub async fn anchor_view(&self) -> Result<AnchorView, PlatformError> {
        let domain = self.chain()?.anchor_domain();
        if self.anchoring.work().authorities.is_none() {
            self.refresh_authorities().await?;
        }
        let work = self.anchoring.work();
        Ok(AnchorView {
            domain,
            authorities: work.authorities.clone(),
            proposal: work.proposal(),
            latest_anchored: work.latest.clone(),
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
            .map_err(|error| {
                PlatformError::Anchoring(AnchoringError::BadSignature(error.to_string()))
            })?;
        if self.anchoring.work().authorities.is_none() {
            self.refresh_authorities().await?;
        }
        {
            let work = self.anchoring.work();
            let authority = work
                .authorities
                .as_ref()
                .is_some_and(|a| a.authorities.contains(&signer));
            if !authority {
                return Err(PlatformError::Anchoring(AnchoringError::NotAnAuthority(
                    hex_address(&signer),
                )));
            }
            if !work.proposals.iter().any(|p| p.checkpoint == checkpoint) {
                return Err(PlatformError::Anchoring(AnchoringError::NotTheProposal));
            }
        }
        let record = CosignatureRecord {
            height: checkpoint.height,
            tree_size: checkpoint.tree_size,
            root: checkpoint.root,
            signer,
            signature,
            received_at_s: now_s(),
        };
        let row: RowRef = Arc::new(AnchoringWrite::Cosignature(record));
        self.ledger.record(vec![row]).await?;
        let receipt = {
            let mut work = self.anchoring.work();
            let threshold = work.authorities.as_ref().map_or(u64::MAX, |a| a.threshold);
            // The proposal may have been replaced meanwhile: the row stays for a later one.
            let cosignatures = match work.proposal_mut(&checkpoint) {
                Some(proposal) => {
                    proposal.cosignatures.insert(signer, signature);
                    let proposal = work.proposals.iter().find(|p| p.checkpoint == checkpoint);
                    proposal.map_or(0, |p| work.valid_signatures(p).len())
                }
                None => 0,
            };
            CosignatureReceipt {
                signer,
                cosignatures: u64::try_from(cosignatures).expect("a count fits"),
                threshold,
            }
        };
        self.anchor_wake.notify_one();
        Ok(receipt)
    }

    async fn refresh_authorities(&self) -> Result<(), PlatformError> {
        let authorities = self
            .chain()?
            .authorities()
            .await
            .map_err(chain_unavailable)?;
        self.anchoring.work().authorities = Some(authorities);
        Ok(())
    }

    /// At start: the latest anchoring recorded (the contract's list is synced by the job).
    pub(crate) async fn load_anchoring_work(&self) -> Result<(), PlatformError> {
        let latest = self.ledger.tables(tables::latest_anchoring).await?;
        self.anchoring.work().latest = latest;
        Ok(())
    }

    /// Reads the anchored checkpoints this platform has no record of (anchored by an
    /// earlier run whose answer was lost, or by anyone else) and records them.
    async fn sync_anchored(&self) -> Result<(), PlatformError> {
        let chain = self.chain()?;
        loop {
            let from = self.anchoring.work().next_index();
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

    /// Records an anchoring, and purges the co-signatures of checkpoints at or below its
    /// height (no contract takes them any more), in one commit.
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
        if record.index < self.anchoring.work().next_index() {
            return Ok(());
        }
        let rows: Vec<RowRef> = vec![
            Arc::new(AnchoringWrite::Anchoring(record.clone())),
            Arc::new(AnchoringWrite::PurgeCosignaturesBelow {
                height: checkpoint.height.saturating_add(1),
            }),
        ];
        self.ledger.record(rows).await?;
        let mut work = self.anchoring.work();
        work.proposals
            .retain(|proposal| proposal.checkpoint.height > checkpoint.height);
        if record.index >= work.next_index() {
            work.latest = Some(record);
        }
        Ok(())
    }

    /// One round of the anchoring job: refresh the authorities, propose, and anchor the
    /// newest proposal that has enough co-signatures.
    async fn anchor_round(&self) -> Result<(), PlatformError> {
        self.refresh_authorities().await?;
        self.propose().await?;
        let ready = {
            let work = self.anchoring.work();
            let threshold = work.authorities.as_ref().map_or(u64::MAX, |a| a.threshold);
            work.proposals.iter().rev().find_map(|proposal| {
                let signatures = work.valid_signatures(proposal);
                (signatures.len() as u64 >= threshold).then_some((proposal.checkpoint, signatures))
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
                self.anchoring
                    .work()
                    .proposals
                    .retain(|proposal| proposal.checkpoint != checkpoint);
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
        let from = self.anchoring.work().next_index();
        let page = self
            .chain()?
            .anchored(from, ANCHORED_READ_PAGE_MAX)
            .await
            .map_err(chain_unavailable)?;
        Ok(page.into_iter().find(|a| a.checkpoint == *checkpoint))
    }

    /// Proposes the latest signed checkpoint when it is past the last anchored one and no
    /// live proposal is waiting for co-signatures; a checkpoint proposed again gets the
    /// co-signatures witnesses sent for it before (a restart forgot the proposal).
    async fn propose(&self) -> Result<(), PlatformError> {
        let Some(signed) = self.ledger.checkpoint() else {
            return Ok(());
        };
        let candidate = AnchorCheckpoint {
            height: signed.checkpoint.block_height,
            tree_size: signed.checkpoint.tree_size,
            root: signed.checkpoint.root,
        };
        if !self.worth_proposing(&candidate) {
            return Ok(());
        }
        let (height, tree_size, root) = (candidate.height, candidate.tree_size, candidate.root);
        let known = self
            .ledger
            .tables(move |read| tables::cosignatures(read, height, tree_size, root))
            .await?;
        let cosignatures: BTreeMap<EthAddress, [u8; 65]> = known
            .into_iter()
            .map(|row| (row.signer, row.signature))
            .collect();
        let mut work = self.anchoring.work();
        if work.proposal() == Some(candidate) {
            return Ok(());
        }
        work.proposals.push_back(Proposal {
            checkpoint: candidate,
            proposed_at_ms: ports::time::now_ms(),
            cosignatures,
        });
        while work.proposals.len() > PROPOSALS_KEPT_MAX {
            work.proposals.pop_front();
        }
        Ok(())
    }

    /// Whether `candidate` is past the last anchored checkpoint, not the live proposal,
    /// and no live proposal waits for co-signatures.
    fn worth_proposing(&self, candidate: &AnchorCheckpoint) -> bool {
        let now_ms = ports::time::now_ms();
        let timeout_ms = self.config.anchor_proposal_timeout_ms;
        let work = self.anchoring.work();
        // Only a larger log is worth anchoring: blocks that only create accounts add no
        // transfer to the log (and an empty log proves nothing).
        let last = work.latest.as_ref();
        let last_tree_size = last.map_or(0, |last| last.tree_size);
        let behind = candidate.tree_size > last_tree_size
            && last.is_none_or(|last| candidate.height > last.height);
        let waiting = work
            .proposals
            .back()
            .is_some_and(|proposal| now_ms.saturating_sub(proposal.proposed_at_ms) < timeout_ms);
        let fresh = work.proposal() != Some(*candidate);
        behind && fresh && !waiting
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
    PlatformError::Conversion(ConversionError::ChainUnavailable(error.to_string()))
}

/// `0x`-prefixed lowercase hex of an address.
pub fn hex_address(address: &EthAddress) -> String {
    format!("0x{}", hex::encode(address))
}
