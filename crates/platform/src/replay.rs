//! Rebuilding the ledger from a store, checking everything on the way.
//!
//! The same code runs at start (recovery) and in `mileverse verify`: every block is replayed
//! through the engine's normal path, so a store that replays is, by construction, a store
//! the engine could have written. Checked per block, in order: contiguous heights, the link
//! to the previous hash, the body against the header's counts and accounts digest, the
//! engine reproducing every account and transfer exactly, the Merkle log's size and root,
//! the block hash, and (when asked) the operator's signature where a block carries one (the
//! last block of every store transaction does, so the last block must). After it, every
//! stored balance must equal the replayed one. The first failure names its block.

use ledger::block::{accounts_digest, block_hash, transfer_leaf_hashes};
use ledger::checkpoint::{Checkpoint, verify_checkpoint};
use ledger::engine::Engine;
use ledger::merkle::MerkleLog;
use ledger::types::{BlockHeader, Hash};
use store::{BlockRecord, Store, StoreError};

/// The signature of a block that is not the last of its store transaction: the operator
/// signs each transaction's last block, which binds the others through the hash chain.
pub const UNSIGNED: [u8; 64] = [0; 64];

/// Blocks read from the store per call while replaying.
pub const REPLAY_PAGE_BLOCKS_MAX: usize = 64;

/// What replay checks beyond the chain itself.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Check every block's checkpoint signature against this public key.
    pub operator_public_key: Option<[u8; 32]>,
}

/// A ledger rebuilt from its store.
pub struct Replayed {
    pub engine: Engine,
    pub log: MerkleLog,
    /// The last block's header and hash, if any block exists.
    pub head: Option<(BlockHeader, Hash, [u8; 64])>,
    /// The last block whose operator signature was checked: what a follower may vouch for.
    /// Blocks after it are bound to no signature yet (they are inside a store transaction
    /// whose signed last block has not been seen), so an unsigned tail proves nothing.
    pub signed_head: Option<(BlockHeader, Hash)>,
    pub block_count: u64,
    /// Set by a failed `apply`: the engine may hold part of the bad block, so nothing more
    /// may be applied or trusted.
    pub failed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A block that does not check out. `height` is the first bad block.
    #[error("block {height} is bad: {reason}")]
    BadBlock { height: u64, reason: String },
    /// Stored balances that disagree with the replayed journal.
    #[error(
        "account {account_id} balances in the store differ from the replayed journal ({reason})"
    )]
    BadBalance { account_id: u128, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReplayError {
    /// The height of the first bad block, if the failure is tied to one.
    pub fn height(&self) -> Option<u64> {
        match self {
            ReplayError::BadBlock { height, .. } => Some(*height),
            ReplayError::Store(StoreError::Corrupt { height, .. }) => Some(*height),
            _ => None,
        }
    }
}

impl Replayed {
    /// An empty ledger, ready to follow a journal from its first block (what a witness does).
    pub fn new() -> Replayed {
        Replayed {
            engine: Engine::new(),
            log: MerkleLog::new(),
            head: None,
            signed_head: None,
            block_count: 0,
            failed: false,
        }
    }

    /// Replays and checks the next block, exactly as recovery does; on error nothing of the
    /// block may be trusted and the follower must stop.
    pub fn apply(
        &mut self,
        record: &BlockRecord,
        options: ReplayOptions,
    ) -> Result<(), ReplayError> {
        if self.failed {
            return Err(ReplayError::BadBlock {
                height: self.block_count,
                reason: "an earlier block failed; this replay can no longer be trusted".into(),
            });
        }
        let mut leaf_hashes = Vec::with_capacity(record.transfers.len());
        let outcome = replay_block(self, record, options, &mut leaf_hashes);
        self.failed = outcome.is_err();
        outcome
    }
}

impl Default for Replayed {
    fn default() -> Self {
        Replayed::new()
    }
}

/// Replays every block of `store` and checks stored balances.
pub fn replay_store(
    store: &mut dyn Store,
    options: ReplayOptions,
) -> Result<Replayed, ReplayError> {
    let mut replayed = Replayed::new();
    let mut leaf_hashes = Vec::new();
    loop {
        let page = store.read_blocks(replayed.block_count, REPLAY_PAGE_BLOCKS_MAX)?;
        let page_len = page.len();
        for record in page {
            replay_block(&mut replayed, &record, options, &mut leaf_hashes)?;
        }
        if page_len < REPLAY_PAGE_BLOCKS_MAX {
            break;
        }
    }
    if let (Some(_), Some((header, _, UNSIGNED))) = (options.operator_public_key, replayed.head) {
        let reason = "the last block is not signed: the store ends inside a transaction".into();
        return Err(ReplayError::BadBlock {
            height: header.height,
            reason,
        });
    }
    check_balances(store, &replayed.engine)?;
    Ok(replayed)
}

fn replay_block(
    replayed: &mut Replayed,
    record: &BlockRecord,
    options: ReplayOptions,
    leaf_hashes: &mut Vec<Hash>,
) -> Result<(), ReplayError> {
    let header = &record.header;
    let height = replayed.block_count;
    let bad = |reason: String| ReplayError::BadBlock { height, reason };
    if header.height != height {
        return Err(bad(format!("stored height is {}", header.height)));
    }
    let previous_hash = replayed.head.map(|(_, hash, _)| hash).unwrap_or([0; 32]);
    if header.previous_hash != previous_hash {
        return Err(bad("previous_hash does not match the previous block".into()));
    }
    check_body(record).map_err(bad)?;
    replayed
        .engine
        .replay_block(header.timestamp, &record.accounts, &record.transfers)
        .map_err(|error| bad(format!("replay: {error}")))?;
    leaf_hashes.clear();
    transfer_leaf_hashes(&record.transfers, leaf_hashes);
    replayed.log.extend(leaf_hashes);
    check_tree(header, &replayed.log).map_err(bad)?;
    if block_hash(header) != record.hash {
        return Err(bad("block hash does not match its header".into()));
    }
    let signed = record.signature != UNSIGNED;
    if let (Some(public_key), true) = (options.operator_public_key, signed) {
        let checkpoint = Checkpoint::of_block(header, &record.hash);
        verify_checkpoint(&public_key, &checkpoint, &record.signature)
            .map_err(|error| bad(format!("checkpoint signature: {error}")))?;
        replayed.signed_head = Some((*header, record.hash));
    }
    replayed.head = Some((*header, record.hash, record.signature));
    replayed.block_count += 1;
    Ok(())
}

fn check_body(record: &BlockRecord) -> Result<(), String> {
    let header = &record.header;
    if header.account_count as usize != record.accounts.len() {
        return Err(format!(
            "header counts {} accounts, body has {}",
            header.account_count,
            record.accounts.len()
        ));
    }
    if header.transfer_count as usize != record.transfers.len() {
        return Err(format!(
            "header counts {} transfers, body has {}",
            header.transfer_count,
            record.transfers.len()
        ));
    }
    if accounts_digest(&record.accounts) != header.accounts_digest {
        return Err("accounts digest does not match the accounts".into());
    }
    Ok(())
}

fn check_tree(header: &BlockHeader, log: &MerkleLog) -> Result<(), String> {
    if header.tree_size != log.size() {
        return Err(format!(
            "tree_size {} but the log holds {} transfers",
            header.tree_size,
            log.size()
        ));
    }
    if header.merkle_root != log.root() {
        return Err("merkle_root does not match the transfers".into());
    }
    Ok(())
}

fn check_balances(store: &mut dyn Store, engine: &Engine) -> Result<(), ReplayError> {
    let stored = store.accounts()?;
    for account in &stored {
        let bad = |reason: &str| ReplayError::BadBalance {
            account_id: account.id.0,
            reason: reason.into(),
        };
        let replayed = engine
            .account(account.id)
            .ok_or_else(|| bad("not created by any block"))?;
        if replayed != account {
            return Err(bad("differs"));
        }
    }
    if stored.len() as u64 != engine.account_count() {
        return Err(ReplayError::BadBalance {
            account_id: 0,
            reason: format!(
                "store has {} accounts, journal created {}",
                stored.len(),
                engine.account_count()
            ),
        });
    }
    Ok(())
}
