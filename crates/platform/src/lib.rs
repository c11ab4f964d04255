//! The business layer of Mileverse: everything between the HTTP surface and the ledger
//! service (`journal`).
//!
//! - The platform ([`service::Platform`]): bounded contexts, each with its tables in the
//!   ledger's database (written by the ledger's writer, in the same transactions as the
//!   blocks) and a bounded working set in memory, with personal data sealed ([`crypto`]).
//!   [`members`] (sign-up, sessions, devices, withdrawal), [`partners`] and [`exchange`]
//!   (mileage → MVP, the saga and its resolver), [`merchants`], [`paycode`] and [`totp`],
//!   [`authorization`] (the model), [`payments`], [`van`] and [`van_steps`] (paying at the till: authorizations in their
//!   own tables, one commit per step), [`vouchers`] (gift vouchers),
//!   [`settlement`], [`anchoring`], [`conversion`] and [`economy`] (MVC on chain, through
//!   the `ports::chain` trait).
//! - [`operators`] (people who run the platform: roles, sessions, API keys) and [`audit`]
//!   (their actions, hash-linked and committed to the ledger's Merkle log) are contexts of
//!   their own types, beside the platform rather than inside it.
//! - [`chart`] is the chart of accounts and the transfer codes; [`gauges`], the working
//!   sets' depths and the anchoring lag that `/metrics` shows.
//!
//! This crate knows no HTTP and no SQL. It writes to the ledger through
//! `journal::LedgerService`, and reaches partners, SMS and Ethereum only through the traits
//! of the `ports` crate.

pub mod ads;
pub mod anchoring;
pub mod assets;
pub mod audit;
pub mod authorization;
pub mod chart;
pub mod checkout;
pub(crate) mod claims;
pub mod conversion;
pub mod creators;
pub mod crypto;
pub mod domain;
pub mod economy;
pub mod error;
pub mod escrow;
pub mod exchange;
pub mod gauges;
pub(crate) mod guesses;
pub mod health;
pub mod housekeeping;
pub mod idempotency;
pub(crate) mod legacy;
pub mod limits;
pub mod members;
pub mod merchants;
pub mod operators;
pub mod partners;
pub mod paycode;
pub mod payments;
pub mod portal;
pub mod promotions;
pub mod service;
pub mod settlement;
pub mod totp;
pub mod transfers;
pub mod van;
pub mod van_steps;
pub mod vans;
pub mod vouchers;

pub use error::PlatformError;
pub use service::{Platform, PlatformConfig, PlatformParts};
