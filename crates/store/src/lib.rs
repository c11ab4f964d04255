//! Durability for the ledger: blocks, their accounts and transfers, and account balances.
//!
//! One trait, [`Store`], three backends: [`sqlite::SqliteStore`] (the embedded default:
//! bundled SQLite, WAL, `synchronous=FULL`), [`postgres::PostgresStore`] (for scale) and
//! [`memory::MemoryStore`] (benchmarks and tests). Every backend writes one batch of blocks in
//! exactly one database transaction, so a block is either wholly durable or absent.
//!
//! [`naive::NaivePostgresLedger`] is the baseline a typical team writes (one SQL transaction
//! per transfer), for benchmarks. [`open`] picks a backend from a path or URL.
//!
//! [`tables`] holds the business's domain tables (typed rows per context, with their SQL on
//! both backends), written in the same transaction as the blocks that carry their transfers
//! ([`Store::append_with_rows`]): a local operation is one commit.
//!
//! Only this crate knows SQL. It knows nothing of hashing or replay: it stores what the
//! platform hands it and hands it back in order; checking is the platform's job.

use ledger::engine::{FailedTransfer, StoredTransfer};
use ledger::merkle::MerkleNode;
use ledger::types::{Account, AccountBalance, AccountId, BlockHeader, Hash, Transfer, TransferId};

mod codec;
pub mod memory;
pub mod naive;
pub mod postgres;
mod postgres_query;
pub mod query;
pub mod records;
pub mod sqlite;
mod sqlite_query;
pub mod tables;

/// Opens a store named by `spec`: `memory` (a fresh [`memory::MemoryStore`]), a
/// `postgres://` or `postgresql://` URL ([`postgres::PostgresStore::connect`]), or else a
/// SQLite file path, optionally prefixed with `sqlite:` ([`sqlite::SqliteStore::open`]).
/// `tls` is used for PostgreSQL only.
pub fn open(spec: &str, tls: &postgres::PostgresTls) -> Result<Box<dyn Store>, StoreError> {
    if spec == "memory" {
        Ok(Box::new(memory::MemoryStore::new()))
    } else if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        Ok(Box::new(postgres::PostgresStore::connect(spec, tls)?))
    } else {
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        Ok(Box::new(sqlite::SqliteStore::open(std::path::Path::new(
            path,
        ))?))
    }
}

/// Appends logged in a backend's `balance_log` before it is folded into the balance table.
/// Folding rewrites each changed account once, however often it changed: the bigger the log,
/// the fewer rows are rewritten per transfer (and the longer one fold takes).
pub const BALANCE_LOG_ROWS_MAX: u64 = 1024;

/// Logged balance entries (one per changed account per append) that trigger a fold.
pub const BALANCE_LOG_ENTRIES_MAX: u64 = 65_536;

/// One committed block as stored: header, its hash, the operator's signature over the
/// checkpoint of this block, and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    pub header: BlockHeader,
    pub hash: Hash,
    /// Ed25519 signature by the operator key over this block's checkpoint.
    pub signature: [u8; 64],
    /// Accounts created in this block, in creation order (zero balances, timestamps set).
    pub accounts: Vec<Account>,
    /// Transfers committed in this block, in log order.
    pub transfers: Vec<Transfer>,
}

// `[u8; 64]` has no `Default`, so `BlockRecord`'s is written out.
impl Default for BlockRecord {
    fn default() -> BlockRecord {
        BlockRecord {
            header: BlockHeader::default(),
            hash: Hash::default(),
            signature: [0; 64],
            accounts: Vec::new(),
            transfers: Vec::new(),
        }
    }
}

/// What one block changes in the store, beyond the block itself.
#[derive(Clone, Debug, Default)]
pub struct BlockWrite {
    pub block: BlockRecord,
    /// Full rows (with current balances) of every account whose balances or flags changed in
    /// this block, including accounts created in it.
    pub accounts_changed: Vec<Account>,
    /// Balance snapshots for accounts with the `history` flag.
    pub history: Vec<AccountBalance>,
    /// Pending transfers that expired at the block's start (their status becomes expired;
    /// posts and voids set theirs from the block's transfers).
    pub expired: Vec<TransferId>,
    /// Interior Merkle nodes completed by this block's transfers, at level
    /// `ledger::merkle::STORED_NODE_LEVEL_MIN` and above (what proofs read back).
    pub merkle_nodes: Vec<MerkleNode>,
    /// Transfers refused with a transient result in this block, in order: their ids are
    /// spent (`id_already_failed`). Not in the journal; recovery hands them back.
    pub failed: Vec<FailedTransfer>,
}

/// Most ids in one [`Store::lookup_transfers`] call: a block's transfers and pending ids.
pub const LOOKUP_IDS_MAX: usize = 2 * 8190;

/// Most transfers in one [`Store::transfers_by_leaf`] call.
pub const LEAF_RANGE_MAX: u64 = 1 << 16;

/// A snapshot of the engine's state after block `height`: what start loads instead of
/// replaying the journal from its first block. The store keeps the encoded state opaque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub height: u64,
    /// Hash of block `height`: the snapshot is refused unless the chain has it there.
    pub block_hash: Hash,
    /// SHA-256 of `state`.
    pub digest: Hash,
    /// The operator's Ed25519 signature over the snapshot's header (height, hash, digest).
    pub signature: [u8; 64],
    /// The encoded state; empty in [`Store::snapshot_headers`].
    pub state: Vec<u8>,
}

/// Settings pinned in the store at initialisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreMeta {
    /// The operator's Ed25519 public key; checkpoints must verify against it.
    pub operator_public_key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The stored data cannot be decoded: a corrupted or foreign database.
    #[error("corrupt store at block {height}: {reason}")]
    Corrupt { height: u64, reason: String },
    /// A write that would break the chain's order (a bug in the caller).
    #[error("out of order append: expected height {expected}, got {got}")]
    OutOfOrder { expected: u64, got: u64 },
    /// A fault injected by a test (see `memory::FaultPlan`).
    #[error("injected fault: {0}")]
    Injected(&'static str),
}

/// The durable home of the ledger. Implementations are used from one thread at a time
/// (the sequencer's writer) and must make `append` atomic and durable before returning.
pub trait Store: Send {
    /// Creates the schema if missing and pins `meta` on first use; returns the pinned meta
    /// (which may differ from `meta` if the store was initialised with another key).
    fn init(&mut self, meta: &StoreMeta) -> Result<StoreMeta, StoreError>;

    /// The pinned meta, or `None` if the store was never initialised. Writes nothing.
    fn meta(&mut self) -> Result<Option<StoreMeta>, StoreError>;

    /// Appends blocks (consecutive heights, continuing the stored chain) with their changed
    /// balances and history, in ONE database transaction, durable on return.
    fn append(&mut self, writes: &[BlockWrite]) -> Result<(), StoreError> {
        self.append_with_rows(writes, &[])
    }

    /// [`Store::append`] with domain rows ([`tables`]) in the same transaction: the blocks
    /// and every row are durable on return, or none of them is. Rows alone (no block) are
    /// one transaction too. At most [`tables::ROWS_PER_APPEND_MAX`] rows.
    fn append_with_rows(
        &mut self,
        writes: &[BlockWrite],
        rows: &[tables::RowRef],
    ) -> Result<(), StoreError>;

    /// The connection domain table modules run their queries on (see [`tables`]).
    fn tables(&mut self) -> Result<tables::TableRead<'_>, StoreError>;

    /// Number of blocks stored (the next height).
    fn block_count(&mut self) -> Result<u64, StoreError>;

    /// Reads up to `limit` blocks from `from_height` on, in height order, with their bodies.
    /// Fewer than `limit` means the end was reached. Missing or undecodable rows are
    /// reported as [`StoreError::Corrupt`] naming the block.
    fn read_blocks(
        &mut self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, StoreError>;

    /// Every stored account row with its stored balances, in id order.
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError>;

    /// Stored balance history of one account, oldest first.
    fn account_history(&mut self, id: AccountId) -> Result<Vec<AccountBalance>, StoreError>;

    /// Another connection to the same store, for reads beside the writer (the engine's
    /// prefetch, proofs, queries) and for writing snapshots. It sees what is durable.
    fn reader(&self) -> Result<Box<dyn Store>, StoreError>;

    /// The committed transfers among `ids` (at most [`LOOKUP_IDS_MAX`]; missing ids are left
    /// out, order is not kept), with their pending status and leaf index.
    fn lookup_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<StoredTransfer>, StoreError>;

    /// Transfers with leaf index in `[from, to)` (at most [`LEAF_RANGE_MAX`]), in log order;
    /// fewer if the log is shorter.
    fn transfers_by_leaf(&mut self, from: u64, to: u64) -> Result<Vec<Transfer>, StoreError>;

    /// The stored Merkle node at `level` and `index`, if the log has completed it.
    fn merkle_node(&mut self, level: u32, index: u64) -> Result<Option<Hash>, StoreError>;

    /// The committed transfers with these timestamps (missing ones left out), in log order.
    fn transfers_at(&mut self, timestamps: &[u64]) -> Result<Vec<Transfer>, StoreError>;

    /// Stores a snapshot (its block must be durable) and drops the state of every snapshot
    /// but the newest two; headers are kept for `verify`.
    fn write_snapshot(&mut self, snapshot: &SnapshotRecord) -> Result<(), StoreError>;

    /// The newest snapshot with its state, if any.
    fn latest_snapshot(&mut self) -> Result<Option<SnapshotRecord>, StoreError>;

    /// Every snapshot's header (state left empty), oldest first.
    fn snapshot_headers(&mut self) -> Result<Vec<SnapshotRecord>, StoreError>;

    /// The ids among `ids` (at most [`LOOKUP_IDS_MAX`]) of transfers that failed with a
    /// transient result.
    fn lookup_failed(&mut self, ids: &[TransferId]) -> Result<Vec<TransferId>, StoreError>;

    /// The failed transfers of blocks `[from_height, to_height)`, by height, each block's
    /// in the order they failed.
    fn failed_transfers(
        &mut self,
        from_height: u64,
        to_height: u64,
    ) -> Result<Vec<(u64, FailedTransfer)>, StoreError>;

    // ---------------------------------------------------------------------------------------
    // Queries: TigerBeetle's, answered from indexes (see [`query`] for the semantics and the
    // indexes). An invalid filter answers nothing. The defaults refuse, so a wrapper that
    // does not forward them (a test's faulty store) never answers wrongly.

    /// The transfers of `filter.account_id` that match `filter` (TigerBeetle's
    /// `get_account_transfers`), in timestamp order (newest first if `reversed`).
    fn account_transfers(
        &mut self,
        filter: &query::AccountFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        let _ = filter;
        Err(no_queries())
    }

    /// The balances of a `history` account after each transfer that matches `filter`
    /// (TigerBeetle's `get_account_balances`), in timestamp order.
    fn account_balances(
        &mut self,
        filter: &query::AccountFilter,
    ) -> Result<Vec<AccountBalance>, StoreError> {
        let _ = filter;
        Err(no_queries())
    }

    /// Accounts matching `filter` with their current balances (TigerBeetle's
    /// `query_accounts`), in timestamp (creation) order.
    fn query_accounts(&mut self, filter: &query::QueryFilter) -> Result<Vec<Account>, StoreError> {
        let _ = filter;
        Err(no_queries())
    }

    /// Transfers matching `filter` (TigerBeetle's `query_transfers`), in timestamp order.
    fn query_transfers(
        &mut self,
        filter: &query::QueryFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        let _ = filter;
        Err(no_queries())
    }

    /// The accounts among `ids` with their current balances, in the order of `ids` (missing
    /// ones left out, repeats repeated).
    fn lookup_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        let _ = ids;
        Err(no_queries())
    }
}

/// What a [`Store`] that does not implement the queries answers them.
fn no_queries() -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "this store answers no queries",
    ))
}
