//! The business layer of Mileverse: everything between the HTTP surface and the ledger.
//!
//! - The ledger service: [`sequencer`] ([`LedgerService`], the single writer that batches
//!   requests into blocks, executes them in the pure [`ledger::engine::Engine`] and answers
//!   once their block is durable), [`replay`] (recovery and `mileverse verify`), [`feed`]
//!   (blocks for followers), [`keys`] (the operator's signing key).
//! - The platform ([`service::Platform`]): domain records in memory, written through to the
//!   record store ([`domain`], [`persist`]), with personal data sealed ([`crypto`]).
//!   [`members`] (sign-up, sessions, devices, withdrawal), [`partners`] and [`exchange`]
//!   (mileage → MVP, the saga and its resolver), [`merchants`], [`paycode`] and [`totp`],
//!   [`van`] and [`van_steps`] (paying at the till), [`vouchers`] (gift vouchers),
//!   [`settlement`], [`anchoring`], [`conversion`] and [`economy`] (MVC on chain, through
//!   the [`chain`] trait).
//! - [`chart`] is the chart of accounts and the transfer codes; [`signing`] the HMAC
//!   schemes of partners and VAN terminals.
//!
//! This crate knows no HTTP and no SQL, and reaches partners, SMS and Ethereum only through
//! traits ([`gateway`], [`chain`]).

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
pub mod ledger_queries;
pub mod members;
pub mod merchants;
pub mod partners;
pub mod paycode;
pub mod persist;
pub mod readers;
pub mod replay;
pub mod sequencer;
pub mod service;
pub mod settlement;
pub mod signing;
pub mod sms;
pub mod snapshot;
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
