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

pub mod anchoring;
pub mod chain;
pub mod chart;
pub mod conversion;
pub mod crypto;
pub mod domain;
pub mod economy;
pub mod error;
pub mod exchange;
pub mod feed;
pub mod gateway;
pub mod keys;
pub mod members;
pub mod merchants;
pub mod partners;
pub mod paycode;
pub mod persist;
pub mod replay;
pub mod sequencer;
pub mod service;
pub mod settlement;
pub mod signing;
pub mod sms;
pub mod time;
pub mod totp;
pub mod van;
pub mod van_steps;
pub mod vouchers;

pub use error::PlatformError;
pub use sequencer::{
    JournalMode, LedgerConfig, LedgerError, LedgerService, MetricsSnapshot, SignedCheckpoint,
};
pub use service::{Platform, PlatformConfig, PlatformParts};
