//! The platform's domain records and their in-memory state.
//!
//! Each record type is stored whole as JSON under `(kind, id)` in the record store (see
//! `persist`); personal data and secrets inside are sealed (see `crypto`), so the JSON holds
//! them only as hex ciphertext. [`State`] holds every record plus the indexes built from them
//! at load; it is changed only under the platform's lock, together with the record writes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use store::records::{Record, RecordWrite};

use crate::conversion;

pub const KIND_PARTNER: &str = "partner";
pub const KIND_COSIGNATURE: &str = "cosignature";
pub const KIND_ANCHORING: &str = "anchoring";

/// Hex encoding of byte fields inside JSON records.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

pub(crate) mod hex_32 {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

pub use store::tables::members::MemberStatus;

/// An exchange rate that applies from `effective_from_s` on: mileage × num / den = MVP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub effective_from_s: u64,
    pub num: u64,
    pub den: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRecord {
    pub id: u128,
    pub name: String,
    pub api_base_url: String,
    #[serde(with = "hex_bytes")]
    pub secret_sealed: Vec<u8>,
    /// Oldest first; effective_from_s strictly increasing.
    pub rates: Vec<Rate>,
    pub minimum_unit: u64,
    pub daily_limit: u64,
    pub monthly_limit: u64,
    pub credit_line: u64,
    pub enabled: bool,
    pub created_at_s: u64,
}

impl PartnerRecord {
    /// The rate in force at `at_s`.
    pub fn rate_at(&self, at_s: u64) -> Option<Rate> {
        self.rates
            .iter()
            .rev()
            .find(|rate| rate.effective_from_s <= at_s)
            .copied()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: u128,
    pub member_id: u128,
    pub partner_id: u128,
    pub member_ref: String,
    pub created_at_s: u64,
    pub removed: bool,
}

pub use store::tables::exchanges::ExchangeStatus;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    pub id: u128,
    pub member_id: u128,
    pub partner_id: u128,
    pub link_id: u128,
    pub member_ref: String,
    pub mileage: u64,
    pub mvp: u64,
    pub rate: Rate,
    pub status: ExchangeStatus,
    /// Why it failed or was reversed (`insufficient_mileage`, `partner_unreachable`, ...).
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
    pub finished_at_s: Option<u64>,
    /// The partner refused the debit but our cancel of the reference did not go through
    /// yet: the resolver retries it, so a delayed duplicate of the debit can never apply.
    #[serde(default)]
    pub cancel_pending: bool,
}

impl ExchangeRecord {
    /// The reference sent to the partner: the exchange id, 32 hex digits.
    pub fn reference(&self) -> String {
        format!("{:032x}", self.id)
    }
}

/// Every record plus indexes. Not persisted itself: rebuilt from the records at load.
#[derive(Default)]
pub struct State {
    /// Members, sessions and verifications of the older layout, moved into their tables at
    /// start (see `members`).
    pub(crate) legacy_members: crate::members::LegacyMembers,
    /// Links and exchanges of the older layout, moved into their tables at start (see
    /// `exchange`).
    pub(crate) legacy_exchanges: crate::exchange::LegacyExchanges,
    pub partners: HashMap<u128, PartnerRecord>,
    pub partner_secrets: HashMap<u128, Vec<u8>>,
    /// Co-signatures, proposals and anchored checkpoints.
    pub anchoring: crate::anchoring::AnchoringState,
    /// Wallet addresses, conversion settings and conversions.
    pub conversion: crate::conversion::ConversionState,
    /// Pay code devices, used codes, guess counters (see `paycode`).
    pub paycodes: crate::paycode::PaycodeState,
    /// Merchants and their terminals (see `merchants`).
    pub merchants: crate::merchants::MerchantState,
    /// VAN authorizations, their cancels and the per-member daily figures (see `van`).
    /// Authorizations of the older layout (records), moved into their tables at start.
    pub legacy_authorizations: Vec<crate::van::AuthorizationRecord>,
    /// Settlement runs with merchants (see `settlement`).
    pub settlements: crate::settlement::SettlementState,
    /// The voucher catalogue and members' vouchers (see `vouchers`).
    pub vouchers: crate::vouchers::VoucherState,
}

#[derive(Debug, thiserror::Error)]
#[error("record {kind}/{key} does not decode: {reason}")]
pub struct DecodeError {
    pub kind: String,
    pub key: String,
    pub reason: String,
}

pub fn put<T: Serialize>(kind: &str, key: &[u8], value: &T) -> RecordWrite {
    RecordWrite::Put(Record {
        kind: kind.to_string(),
        key: key.to_vec(),
        value: serde_json::to_vec(value).expect("records serialize"),
    })
}

pub fn delete(kind: &str, key: &[u8]) -> RecordWrite {
    RecordWrite::Delete {
        kind: kind.to_string(),
        key: key.to_vec(),
    }
}

pub fn id_key(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(record: &Record) -> Result<T, DecodeError> {
    serde_json::from_slice(&record.value).map_err(|error| DecodeError {
        kind: record.kind.clone(),
        key: hex::encode(&record.key),
        reason: error.to_string(),
    })
}

impl State {
    /// Rebuilds the state from stored records. Partner secrets are opened by the caller.
    pub fn load(records: &[Record]) -> Result<State, DecodeError> {
        let mut state = State::default();
        for record in records {
            match record.kind.as_str() {
                crate::members::legacy::KIND_MEMBER
                | crate::members::legacy::KIND_VERIFICATION
                | crate::members::legacy::KIND_SESSION => {
                    state.legacy_members.load(record)?;
                }
                KIND_PARTNER => {
                    let partner: PartnerRecord = decode(record)?;
                    state.partners.insert(partner.id, partner);
                }
                crate::exchange::KIND_LINK | crate::exchange::KIND_EXCHANGE => {
                    state.legacy_exchanges.load(record)?;
                }
                KIND_COSIGNATURE => state.anchoring.insert_cosignature(decode(record)?),
                KIND_ANCHORING => state.anchoring.insert_anchoring(decode(record)?),
                conversion::KIND_CONVERSION => state.conversion.insert(decode(record)?),
                conversion::KIND_WALLET_ADDRESS => {
                    let address: conversion::WalletAddressRecord = decode(record)?;
                    state
                        .conversion
                        .addresses
                        .insert(address.member_id, address);
                }
                conversion::KIND_CONVERSION_SETTINGS => state.conversion.settings = decode(record)?,
                crate::paycode::KIND_PAYCODE_DEVICE | crate::paycode::KIND_USED_PAYCODE => {
                    state.paycodes.load(record)?
                }
                crate::merchants::KIND_MERCHANT => state.merchants.insert_merchant(decode(record)?),
                crate::merchants::KIND_TERMINAL => state.merchants.insert_terminal(decode(record)?),
                crate::van::KIND_AUTHORIZATION => crate::payments::load_legacy(&mut state, record)?,
                crate::settlement::KIND_SETTLEMENT => state.settlements.insert(decode(record)?),
                crate::vouchers::KIND_VOUCHER_PRODUCT => {
                    let product: crate::vouchers::ProductRecord = decode(record)?;
                    state.vouchers.products.insert(product.id, product);
                }
                crate::vouchers::KIND_VOUCHER => state.vouchers.insert(decode(record)?),
                other => {
                    return Err(DecodeError {
                        kind: other.to_string(),
                        key: hex::encode(&record.key),
                        reason: "unknown record kind".into(),
                    });
                }
            }
        }
        Ok(state)
    }
}
