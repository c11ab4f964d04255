//! The witness's own copy of the ledger: every block of the feed replayed by
//! `journal::replay::Replayed` with the pinned operator key, plus what replay does not keep
//! and a witness needs to answer "is this checkpoint mine?": the tree size after every block
//! and whether the operator signed it. The root at any size comes from the Merkle log.

use std::collections::BTreeMap;

use journal::replay::{ReplayError, ReplayOptions, Replayed};
use ledger::merkle::MerkleLog;
use ports::chain::AnchorCheckpoint;
use store::BlockRecord;

use crate::Refusal;

/// A history that checkpoints can be compared with.
pub trait History {
    /// The log's size after block `height`, if this history holds that block.
    fn tree_size_at(&self, height: u64) -> Option<u64>;
    /// The log's root at `tree_size`, if the log is that large.
    fn root_at(&self, tree_size: u64) -> Option<[u8; 32]>;
}

/// What the witness keeps of one replayed block: 9 bytes beside the Merkle log's 64 per
/// transfer, so keeping every block costs little.
#[derive(Clone, Copy, Debug)]
struct BlockMark {
    tree_size: u64,
    /// The operator's signature over this block's checkpoint was checked.
    signed: bool,
}

/// The replayed feed.
pub struct WitnessLog {
    replayed: Replayed,
    options: ReplayOptions,
    /// Indexed by height: the feed's heights are contiguous from 0 (replay checks it).
    blocks: Vec<BlockMark>,
}

impl WitnessLog {
    /// An empty log that checks every signature against `operator_public_key`.
    pub fn new(operator_public_key: [u8; 32]) -> WitnessLog {
        WitnessLog {
            replayed: Replayed::new(),
            options: ReplayOptions {
                operator_public_key: Some(operator_public_key),
                ..ReplayOptions::default()
            },
            blocks: Vec::new(),
        }
    }

    /// Replays the next block; a block that does not check out is a refusal, and nothing
    /// more can be applied afterwards (the replay is poisoned).
    pub fn apply(&mut self, record: &BlockRecord) -> Result<(), Refusal> {
        self.replayed
            .apply(record, self.options)
            .map_err(|error| bad_block(error, self.blocks.len() as u64))?;
        let height = record.header.height;
        let signed = self
            .replayed
            .signed_head
            .is_some_and(|(header, _)| header.height == height);
        self.blocks.push(BlockMark {
            tree_size: record.header.tree_size,
            signed,
        });
        Ok(())
    }

    /// Blocks replayed (the next height to ask the feed for).
    pub fn block_count(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// The checkpoint of block `height`, if it was replayed and the operator signed it.
    pub fn signed_checkpoint(&self, height: u64) -> Option<AnchorCheckpoint> {
        let mark = self.blocks.get(usize::try_from(height).ok()?)?;
        if !mark.signed {
            return None;
        }
        Some(AnchorCheckpoint {
            height,
            tree_size: mark.tree_size,
            root: self.replayed.log.root_at(mark.tree_size)?,
        })
    }

    /// The last block whose operator signature was checked: all a witness may vouch for.
    pub fn signed_head(&self) -> Option<AnchorCheckpoint> {
        let (header, _) = self.replayed.signed_head?;
        self.signed_checkpoint(header.height)
    }

    /// The replayed ledger (engine, Merkle log, heads).
    pub fn replayed(&self) -> &Replayed {
        &self.replayed
    }
}

impl History for WitnessLog {
    fn tree_size_at(&self, height: u64) -> Option<u64> {
        let mark = self.blocks.get(usize::try_from(height).ok()?)?;
        Some(mark.tree_size)
    }

    fn root_at(&self, tree_size: u64) -> Option<[u8; 32]> {
        self.replayed.log.root_at(tree_size)
    }
}

fn bad_block(error: ReplayError, next_height: u64) -> Refusal {
    match error {
        ReplayError::BadBlock { height, reason } => Refusal::BadBlock { height, reason },
        other => Refusal::BadBlock {
            height: other.height().unwrap_or(next_height),
            reason: other.to_string(),
        },
    }
}

/// A history known only at some heights: what `mileverse verify` builds from the headers of
/// a store it has already replayed in full, for the heights the chain anchored.
pub struct SparseHistory<'a> {
    pub log: &'a MerkleLog,
    /// Block height → tree size after it.
    pub tree_sizes: BTreeMap<u64, u64>,
}

impl History for SparseHistory<'_> {
    fn tree_size_at(&self, height: u64) -> Option<u64> {
        self.tree_sizes.get(&height).copied()
    }

    fn root_at(&self, tree_size: u64) -> Option<[u8; 32]> {
        self.log.root_at(tree_size)
    }
}
