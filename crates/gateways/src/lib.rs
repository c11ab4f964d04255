//! Adapters to systems outside our walls.
//!
//! The platform talks to partners (airlines, card issuers, telcos) and to an SMS provider
//! through the traits in `ports::gateway`, which know no HTTP. This crate holds the real
//! adapters behind those traits, and — besides `server` — it is the only crate that knows
//! HTTP:
//!
//! - [`partner`]: [`partner::HttpPartnerGateway`], the client side of the partner protocol
//!   (docs/partner-protocol.md): HMAC-signed requests, signed answers checked before they are
//!   trusted, no retries.
//! - [`sim`]: a partner simulator speaking the same protocol, with injectable faults
//!   (timeouts, 5xx, success after a timeout, duplicated delivery) and an unsigned,
//!   test-only control surface. `mileverse partner-sim` serves it.
//! - [`sms`]: [`sms::HttpSmsGateway`], a generic JSON-over-HTTP SMS provider client.
//! - [`follow`]: [`follow::BlockFollower`], a client of a ledger server's block feed, for
//!   witness nodes and auditors that replay the journal themselves.
//! - [`protocol`]: what both sides of the partner protocol share: header names, paths,
//!   reference rules and JSON shapes.

pub mod follow;
pub mod partner;
pub mod protocol;
pub mod sim;
pub mod sms;
pub mod ticker;
pub mod webhook;
