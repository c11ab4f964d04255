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
    /// Co-signatures and anchorings of the older layout, moved into their tables at start
    /// (see `anchoring`).
    pub(crate) legacy_anchoring: crate::anchoring::LegacyAnchoring,
    /// Wallet addresses, conversions and settings of the older layout, moved into their
    /// tables at start (see `conversion`).
    pub(crate) legacy_conversions: crate::conversion::LegacyConversions,
    /// Pay code devices and used codes of the older layout, moved into their tables at
    /// start (see `paycode`).
    pub(crate) legacy_paycodes: crate::paycode::LegacyPaycodes,
    /// Merchants and terminals of the older layout, moved into their tables at start (see
    /// `merchants`).
    pub(crate) legacy_merchants: crate::merchants::LegacyMerchants,
    /// VAN authorizations, their cancels and the per-member daily figures (see `van`).
    /// Authorizations of the older layout (records), moved into their tables at start.
    pub legacy_authorizations: Vec<crate::van::AuthorizationRecord>,
    /// Settlement runs of the older layout, moved into their tables at start (see
    /// `settlement`).
    pub(crate) legacy_settlements: crate::settlement::LegacySettlements,
    /// Products and vouchers of the older layout, moved into their tables at start (see
    /// `vouchers`).
    pub(crate) legacy_vouchers: crate::vouchers::LegacyVouchers,
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
                crate::anchoring::KIND_COSIGNATURE | crate::anchoring::KIND_ANCHORING => {
                    state.legacy_anchoring.load(record)?;
                }
                conversion::KIND_CONVERSION
                | conversion::KIND_WALLET_ADDRESS
                | conversion::KIND_CONVERSION_SETTINGS => {
                    state.legacy_conversions.load(record)?;
                }
                crate::paycode::KIND_PAYCODE_DEVICE | crate::paycode::KIND_USED_PAYCODE => {
                    state.legacy_paycodes.load(record)?;
                }
                crate::merchants::KIND_MERCHANT | crate::merchants::KIND_TERMINAL => {
                    state.legacy_merchants.load(record)?;
                }
                crate::van::KIND_AUTHORIZATION => crate::payments::load_legacy(&mut state, record)?,
                crate::settlement::KIND_SETTLEMENT => {
                    state.legacy_settlements.load(record)?;
                }
                crate::vouchers::KIND_VOUCHER_PRODUCT | crate::vouchers::KIND_VOUCHER => {
                    state.legacy_vouchers.load(record)?;
                }
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
