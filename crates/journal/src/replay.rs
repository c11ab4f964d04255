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
use ledger::engine::{Engine, EngineConfig, FailedTransfer};
use ledger::merkle::{MerkleFrontier, MerkleLog};
use ledger::types::{Account, AccountId, BlockHeader, Hash, TransferId};
use store::{BlockRecord, Store, StoreError};

/// The signature of a block that is not the last of its store transaction: the operator
/// signs each transaction's last block, which binds the others through the hash chain.
pub const UNSIGNED: [u8; 64] = [0; 64];

/// Blocks read from the store per call while replaying.
pub const REPLAY_PAGE_BLOCKS_MAX: usize = 64;

/// What replay checks beyond the chain itself, and what it keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayOptions {
    /// Check every block's checkpoint signature against this public key.
    pub operator_public_key: Option<[u8; 32]>,
    /// `Some`: a server's start. The engine keeps what this configuration allows, reads the
    /// rest from the store being replayed (prefetch), and only the Merkle frontier is kept.
    /// `None`: a follower or an auditor. The engine and the Merkle log keep everything (roots
    /// at every past size), so memory grows with the journal.
    pub engine: Option<EngineConfig>,
}

/// A ledger rebuilt from its store.
pub struct Replayed {
    pub engine: Engine,
    /// Every level of the log (followers and auditors); empty for a server's start.
    pub log: MerkleLog,
    /// The log's right edge: its size and root.
    pub frontier: MerkleFrontier,
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
    /// Transfers and blocks replayed after the snapshot the replay started from (all of
    /// them without one): what the next snapshot would spare the next start.
    pub tail_transfers: u64,
    pub tail_blocks: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A block that does not check out. `height` is the first bad block.
    #[error("block {height} is bad: {reason}")]
    BadBlock { height: u64, reason: String },
    /// A snapshot that does not check out: refused like a bad block.
    #[error("the snapshot at block {height} is bad: {reason}")]
    BadSnapshot { height: u64, reason: String },
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
            ReplayError::BadSnapshot { height, .. } => Some(*height),
            ReplayError::Store(StoreError::Corrupt { height, .. }) => Some(*height),
            _ => None,
        }
    }
}

impl Replayed {
    /// An empty ledger, ready to follow a journal from its first block (what a witness does).
    pub fn new() -> Replayed {
        Replayed::with_engine(Engine::new())
    }

    fn with_engine(engine: Engine) -> Replayed {
        Replayed {
            engine,
            log: MerkleLog::new(),
            frontier: MerkleFrontier::new(),
            head: None,
            signed_head: None,
            block_count: 0,
            failed: false,
            tail_transfers: 0,
            tail_blocks: 0,
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
        transfer_leaf_hashes(&record.transfers, &mut leaf_hashes);
        // A follower's feed carries no failed ids: its filter never needs them, since no
        // committed transfer reuses one.
        let outcome = replay_block(self, record, options, &leaf_hashes, None, &[]);
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
    replay(store, options, Start::LatestSnapshot)
}

/// Verifies a live store from its first block with the memory of a server's start: every
/// block's hash chain, operator signature, Merkle root and transfers re-executed by an
/// engine of `engine`'s bounds (reading what it does not keep from `store`), and the
/// stored balances checked at the end; only the Merkle frontier is kept. What `mileverse
/// verify` checks, except the snapshots (a cache the server can rebuild) and the roots at
/// past sizes (an auditor's whole log, which grows with history).
pub fn verify_store(
    store: &mut dyn Store,
    operator_public_key: [u8; 32],
    engine: EngineConfig,
) -> Result<Replayed, ReplayError> {
    let options = ReplayOptions {
        operator_public_key: Some(operator_public_key),
        engine: Some(engine),
    };
    replay(store, options, Start::Genesis)
}

/// Where a replay with a bounded engine starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    LatestSnapshot,
    Genesis,
}

fn replay(
    store: &mut dyn Store,
    options: ReplayOptions,
    start: Start,
) -> Result<Replayed, ReplayError> {
    // An auditor (a key to check, everything replayed from genesis) checks every snapshot.
    let audit = options.engine.is_none() && options.operator_public_key.is_some();
    let mut snapshots = if audit {
        SnapshotAudit::of(store)?
    } else {
        SnapshotAudit::default()
    };
    let started = std::time::Instant::now();
    let from_snapshot = match (options.engine, start) {
        (Some(config), Start::LatestSnapshot) => from_snapshot(store, config)?,
        _ => None,
    };
    if let Some(replayed) = &from_snapshot {
        let (blocks, elapsed_ms) = (replayed.block_count, started.elapsed().as_millis());
        tracing::info!(
            blocks,
            elapsed_ms,
            "replay: state loaded from the latest snapshot"
        );
    }
    let started_from_snapshot = from_snapshot.is_some();
    let mut replayed = match (from_snapshot, options.engine) {
        (Some(replayed), _) => replayed,
        (None, Some(config)) => Replayed::with_engine(Engine::with_config(config)),
        (None, None) => Replayed::with_engine(Engine::with_config(snapshots.engine_config())),
    };
    // Accounts the replayed blocks created or moved: after a snapshot, the only stored
    // balances that replay can vouch for beyond the snapshot's own (checked) state.
    let mut touched: foldhash::HashSet<AccountId> = foldhash::HashSet::default();
    let first = replayed.block_count;
    let transfers_before = replayed.engine.transfer_count();
    for_each_page(store, first, |store, page| {
        for (record, leaf_hashes) in page.blocks.iter().zip(&page.leaf_hashes) {
            let height = record.header.height;
            let failed: Vec<FailedTransfer> = page
                .failures
                .iter()
                .filter(|(at, _)| *at == height)
                .map(|(_, failure)| *failure)
                .collect();
            if started_from_snapshot {
                touched.extend(record.accounts.iter().map(|account| account.id));
                let moved = record.transfers.iter();
                touched.extend(moved.flat_map(|t| [t.debit_account_id, t.credit_account_id]));
            }
            let prefetch = options.engine.map(|_| &mut *store);
            replay_block(
                &mut replayed,
                record,
                options,
                leaf_hashes,
                prefetch,
                &failed,
            )?;
            if let Some(public_key) = options.operator_public_key.filter(|_| audit) {
                snapshots.check(&replayed, &public_key)?;
            }
        }
        Ok(())
    })?;
    snapshots.check_none_beyond(replayed.block_count)?;
    if let (Some(_), Some((header, _, UNSIGNED))) = (options.operator_public_key, replayed.head) {
        let reason = "the last block is not signed: the store ends inside a transaction".into();
        return Err(ReplayError::BadBlock {
            height: header.height,
            reason,
        });
    }
    replayed.tail_blocks = replayed.block_count - first;
    replayed.tail_transfers = replayed.engine.transfer_count() - transfers_before;
    let (blocks, elapsed_ms) = (replayed.tail_blocks, started.elapsed().as_millis());
    tracing::info!(
        blocks,
        elapsed_ms,
        "replay: blocks after the snapshot replayed"
    );
    // Looking up accounts one by one costs more than reading them all once a sizeable
    // share of them moved.
    let few_touched = touched.len() < (replayed.engine.account_count() / 8) as usize;
    if started_from_snapshot && few_touched {
        check_touched_balances(store, &replayed.engine, &touched)?;
    } else {
        check_balances(store, &replayed.engine)?;
    }
    let elapsed_ms = started.elapsed().as_millis();
    tracing::info!(elapsed_ms, "replay: stored balances checked");
    Ok(replayed)
}

/// Pages read ahead of the replay: reading the next page overlaps executing this one.
const REPLAY_PAGES_AHEAD_MAX: usize = 2;

/// Blocks from the store in height order, with the failures recorded beside them and each
/// block's leaf hashes (computed where the page is read, off the replaying thread).
struct Page {
    blocks: Vec<BlockRecord>,
    failures: Vec<(u64, FailedTransfer)>,
    leaf_hashes: Vec<Vec<Hash>>,
}

fn read_page(store: &mut dyn Store, first: u64) -> Result<Page, StoreError> {
    let blocks = store.read_blocks(first, REPLAY_PAGE_BLOCKS_MAX)?;
    let count = u64::try_from(blocks.len()).expect("a page shorter than 2^64");
    let failures = store.failed_transfers(first, first + count)?;
    let hashes = blocks.iter().map(|block| {
        let mut hashes = Vec::with_capacity(block.transfers.len());
        transfer_leaf_hashes(&block.transfers, &mut hashes);
        hashes
    });
    let leaf_hashes = hashes.collect();
    Ok(Page {
        blocks,
        failures,
        leaf_hashes,
    })
}

/// Calls `each` with every page of blocks from height `first` on, in order. A second
/// connection ([`Store::reader`]) reads the next pages on its own thread while `each` runs,
/// so a replay costs about the larger of reading and executing, not their sum; `each` gets
/// `store` itself for its own reads (the engine's prefetch).
fn for_each_page(
    store: &mut dyn Store,
    first: u64,
    mut each: impl FnMut(&mut dyn Store, Page) -> Result<(), ReplayError>,
) -> Result<(), ReplayError> {
    let Ok(mut reader) = store.reader() else {
        // No second connection: read and execute in turn.
        let mut next = first;
        loop {
            let page = read_page(store, next)?;
            let count = page.blocks.len();
            next += u64::try_from(count).expect("a page shorter than 2^64");
            each(store, page)?;
            if count < REPLAY_PAGE_BLOCKS_MAX {
                return Ok(());
            }
        }
    };
    std::thread::scope(|scope| {
        let (sender, pages) = std::sync::mpsc::sync_channel(REPLAY_PAGES_AHEAD_MAX);
        let read_ahead = std::thread::Builder::new().name("replay-reader".into());
        let spawned = read_ahead.spawn_scoped(scope, move || {
            let mut next = first;
            loop {
                let page = read_page(&mut *reader, next);
                let count = page.as_ref().map_or(0, |page| page.blocks.len());
                next += u64::try_from(count).expect("a page shorter than 2^64");
                // The replay stopped (a bad block): nothing more to read.
                if sender.send(page).is_err() || count < REPLAY_PAGE_BLOCKS_MAX {
                    return;
                }
            }
        });
        spawned.map_err(StoreError::Io)?;
        for page in pages {
            let page = page?;
            let last = page.blocks.len() < REPLAY_PAGE_BLOCKS_MAX;
            each(&mut *store, page)?;
            if last {
                break;
            }
        }
        Ok(())
    })
}

/// What an auditor checks of the store's snapshots while it replays from genesis: at each
/// snapshot's height, the operator's signature over its header and that its digest is the
/// digest of the state the replay reached.
#[derive(Default)]
struct SnapshotAudit {
    /// Headers not checked yet, newest first (so the next is at the end).
    pending: Vec<store::SnapshotRecord>,
    /// The id filter's size in the snapshots: the replay's filter must match it for the
    /// digests to be comparable.
    id_filter_bytes: Option<usize>,
}

impl SnapshotAudit {
    fn of(store: &mut dyn Store) -> Result<SnapshotAudit, ReplayError> {
        let mut pending = store.snapshot_headers()?;
        pending.reverse();
        let latest = store.latest_snapshot()?;
        let id_filter_bytes = latest
            .and_then(|record| crate::snapshot::decode(&record.state).ok())
            .map(|snapshot| snapshot.state.id_filter.bytes());
        Ok(SnapshotAudit {
            pending,
            id_filter_bytes,
        })
    }

    fn engine_config(&self) -> EngineConfig {
        let default = EngineConfig::default();
        EngineConfig {
            id_filter_bytes: self.id_filter_bytes.unwrap_or(default.id_filter_bytes),
            ..default
        }
    }

    /// Checks the snapshot taken after the block just replayed, if there is one.
    fn check(&mut self, replayed: &Replayed, public_key: &[u8; 32]) -> Result<(), ReplayError> {
        let Some((header, block_hash, _)) = replayed.head else {
            return Ok(());
        };
        while let Some(record) = self.pending.pop_if(|record| record.height <= header.height) {
            let height = record.height;
            let bad = |reason: &str| ReplayError::BadSnapshot {
                height,
                reason: reason.into(),
            };
            crate::snapshot::verify_header(&record, public_key)
                .map_err(|error| bad(&error.to_string()))?;
            if height != header.height || record.block_hash != block_hash {
                return Err(bad("it names a block the chain does not have"));
            }
            let state = crate::snapshot::Snapshot {
                height,
                block_hash,
                state: replayed.engine.state(),
                last_transfer_timestamp: replayed.engine.last_transfer_timestamp(),
                frontier: replayed.frontier.clone(),
            };
            if crate::snapshot::digest(&state) != record.digest {
                return Err(bad("its state differs from the replay's at its block"));
            }
        }
        Ok(())
    }

    fn check_none_beyond(&self, block_count: u64) -> Result<(), ReplayError> {
        match self.pending.last() {
            Some(record) => Err(ReplayError::BadSnapshot {
                height: record.height,
                reason: format!("it lies beyond the chain's {block_count} blocks"),
            }),
            None => Ok(()),
        }
    }
}

/// The ledger as of the store's latest snapshot, checked against the chain, if there is one.
fn from_snapshot(
    store: &mut (dyn Store + '_),
    config: EngineConfig,
) -> Result<Option<Replayed>, ReplayError> {
    let Some(record) = store.latest_snapshot()? else {
        return Ok(None);
    };
    let height = record.height;
    let bad = |reason: String| ReplayError::BadSnapshot { height, reason };
    let meta = store
        .meta()?
        .ok_or_else(|| bad("the store has no operator key".into()))?;
    let snapshot = crate::snapshot::open(&record, &meta.operator_public_key)
        .map_err(|error| bad(error.to_string()))?;
    let block = store
        .read_blocks(height, 1)?
        .pop()
        .filter(|block| block.header.height == height)
        .ok_or_else(|| bad("the chain has no block at its height".into()))?;
    if block.hash != snapshot.block_hash {
        return Err(bad("the chain has another block at its height".into()));
    }
    let header = block.header;
    let frontier = snapshot.frontier;
    let sizes = [frontier.size(), snapshot.state.transfer_count];
    if sizes != [header.tree_size; 2] || frontier.root() != header.merkle_root {
        return Err(bad("its Merkle log differs from the block's".into()));
    }
    let last_transfer_timestamp = snapshot.last_transfer_timestamp;
    let engine = Engine::restore_with_last_transfer_timestamp(
        config,
        snapshot.state,
        last_transfer_timestamp,
    )
    .map_err(|error| bad(error.to_string()))?;
    let mut replayed = Replayed::with_engine(engine);
    replayed.frontier = frontier;
    replayed.head = Some((header, block.hash, block.signature));
    replayed.block_count = height + 1;
    Ok(Some(replayed))
}

/// Reads from `store` the transfers the block may look up that the engine no longer holds.
fn prefetch(
    engine: &mut Engine,
    store: &mut dyn Store,
    record: &BlockRecord,
) -> Result<(), StoreError> {
    // Every block replayed so far is durable: the cache may forget any of it.
    engine.evict(u64::MAX);
    let mut keys: Vec<TransferId> = Vec::new();
    engine.prefetch_keys(&record.transfers, &mut keys);
    answer_prefetch(engine, store, &keys)
}

/// Reads `keys` (what [`Engine::prefetch_keys`] asked for) from the store: the committed
/// transfers among them and the ids that failed, and hands both to the engine.
pub(crate) fn answer_prefetch(
    engine: &mut Engine,
    store: &mut dyn Store,
    keys: &[TransferId],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut found = Vec::with_capacity(keys.len());
    let mut failed = Vec::new();
    for chunk in keys.chunks(store::LOOKUP_IDS_MAX) {
        found.extend(store.lookup_transfers(chunk)?);
        failed.extend(store.lookup_failed(chunk)?);
    }
    engine.prefetched(keys, &found);
    engine.prefetched_failed(&failed);
    Ok(())
}

fn replay_block<'store>(
    replayed: &mut Replayed,
    record: &BlockRecord,
    options: ReplayOptions,
    leaf_hashes: &[Hash],
    store: Option<&mut (dyn Store + 'store)>,
    failed: &[FailedTransfer],
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
    if let Some(store) = store {
        prefetch(&mut replayed.engine, store, record)?;
    }
    replayed
        .engine
        .replay_block_with_failed(
            header.timestamp,
            &record.accounts,
            &record.transfers,
            failed,
        )
        .map_err(|error| bad(format!("replay: {error}")))?;
    if options.engine.is_none() {
        replayed.log.extend(leaf_hashes);
    }
    let mut completed = Vec::new();
    replayed.frontier.extend(leaf_hashes, &mut completed);
    check_tree(header, &replayed.frontier).map_err(bad)?;
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

fn check_tree(header: &BlockHeader, log: &MerkleFrontier) -> Result<(), String> {
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

/// After a start from a snapshot: the stored balances of the accounts the replayed tail
/// created or moved equal the replayed ones. The others are as the snapshot left them, and
/// the snapshot was checked against the chain; `mileverse verify` still compares every
/// stored account (`check_balances`), so start time does not grow with the account count.
fn check_touched_balances(
    store: &mut dyn Store,
    engine: &Engine,
    touched: &foldhash::HashSet<AccountId>,
) -> Result<(), ReplayError> {
    let ids: Vec<AccountId> = touched.iter().copied().collect();
    for chunk in ids.chunks(store::LOOKUP_IDS_MAX) {
        let stored: foldhash::HashMap<AccountId, Account> = store
            .lookup_accounts(chunk)?
            .into_iter()
            .map(|account| (account.id, account))
            .collect();
        for id in chunk {
            let bad = |reason: &str| ReplayError::BadBalance {
                account_id: id.0,
                reason: reason.into(),
            };
            let replayed = engine
                .account(*id)
                .ok_or_else(|| bad("not created by any block"))?;
            // A transfer naming an account that does not exist never commits, so every
            // touched id names a replayed account; the store must hold it too.
            match stored.get(id) {
                Some(account) if account == replayed => {}
                Some(_) => return Err(bad("differs")),
                None => return Err(bad("missing from the store")),
            }
        }
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
