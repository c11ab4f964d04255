//! The ledger engine and its verifiable journal.
//!
//! - [`archive`]: every committed transfer in memory, for tests and followers without a store.
//! - [`types`]: accounts, transfers, flags, result codes, block headers (TigerBeetle model).
//! - [`engine`]: the double-entry state machine. Deterministic: time is an input.
//! - [`encoding`]: canonical, length-prefixed byte encodings of everything that is hashed.
//! - [`id_filter`]: the Bloom filter that spares new transfer ids a store lookup.
//! - [`merkle`]: the RFC 6962 / RFC 9162 Merkle log of transfers, its proofs and verifiers.
//! - [`block`]: block hashes, leaf hashes and digests that chain the journal.
//! - [`checkpoint`]: signed checkpoints (Ed25519) over a block's tree head.
//!
//! This crate does no IO, reads no clock and knows no async.

pub mod archive;
pub mod block;
pub mod checkpoint;
pub mod encoding;
pub mod engine;
pub mod id_filter;
pub mod merkle;
mod transfer_cache;
pub mod types;
