//! The ledger service: everything between a request for ledger transfers and a durable,
//! signed block, and back from a store to a running engine.
//!
//! - [`sequencer`]: [`LedgerService`], the single writer. It batches requests into blocks,
//!   prefetches what the engine no longer holds, executes them in the pure
//!   [`ledger::engine::Engine`], journals them (leaf hashes, the Merkle log, signatures),
//!   commits groups of blocks in one store transaction, answers once they are durable, and
//!   snapshots the engine's state.
//! - [`replay`]: recovery at start (from the latest snapshot), `mileverse verify` (from
//!   genesis, checking every snapshot) and followers' block-by-block replay.
//! - [`snapshot`]: the snapshot encoding, its signature and its checks.
//! - [`readers`]: the pool of store connections for reads beside the writer; [`feed`]:
//!   durable blocks for followers; [`ledger_queries`]: TigerBeetle's queries on the store.
//! - [`keys`]: the operator key and secrets on disk.
//!
//! It knows nothing of members, partners or payments: the business (`platform`) and the
//! witnesses use it; it uses only the engine and the store.

pub mod feed;
pub mod keys;
pub mod ledger_queries;
pub mod readers;
pub mod replay;
pub mod sequencer;
pub mod snapshot;

pub use sequencer::{
    JournalMode, LedgerConfig, LedgerError, LedgerService, MetricsSnapshot, SignedCheckpoint,
    TransferOutcome, Verified,
};
