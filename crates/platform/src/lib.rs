//! The business layer of Mileverse. For now: the ledger service that everything else uses.
//!
//! - [`sequencer`]: [`LedgerService`], the single writer. Requests from many tasks are batched
//!   into blocks (group commit), executed by the pure [`ledger::engine::Engine`], hashed into
//!   the journal, written to the [`store::Store`] in one transaction, and answered only after
//!   their block is durable.
//! - [`replay`]: rebuilds engine and journal from a store, checking every block; used both at
//!   start (recovery) and by `mileverse verify`.
//! - [`keys`]: the operator's checkpoint signing key file.
//!
//! This crate knows no HTTP and no SQL.

pub mod gateway;
pub mod keys;
pub mod replay;
pub mod sequencer;
pub mod signing;

pub use sequencer::{
    JournalMode, LedgerConfig, LedgerError, LedgerService, MetricsSnapshot, SignedCheckpoint,
};
