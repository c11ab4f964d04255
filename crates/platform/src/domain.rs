//! The platform's domain records and their in-memory state.
//!
//! Each record type is stored whole as JSON under `(kind, id)` in the record store (see
//! `persist`); personal data and secrets inside are sealed (see `crypto`), so the JSON holds
//! them only as hex ciphertext. [`State`] holds every record plus the indexes built from them
//! at load; it is changed only under the platform's lock, together with the record writes.

use serde::{Deserialize, Serialize};
use store::records::{Record, RecordWrite};

/// Hex encoding of byte fields inside JSON records.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer};

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

/// A partner with its dated rates, and an exchange rate that applies from
/// `effective_from_s` on (mileage × num / den = MVP), as their tables hold them.
pub use store::tables::partners::{PartnerRow as PartnerRecord, RateRow as Rate};

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
    /// The older layout's records of the contexts with tables (see `legacy`).
    pub(crate) legacy_rows: crate::legacy::LegacyRows,
    /// Members, sessions and verifications of the older layout, moved into their tables at
    /// start (see `members`).
    pub(crate) legacy_members: crate::members::LegacyMembers,
    /// Links and exchanges of the older layout, moved into their tables at start (see
    /// `exchange`).
    pub(crate) legacy_exchanges: crate::exchange::LegacyExchanges,
    /// VAN authorizations, their cancels and the per-member daily figures (see `van`).
    /// Authorizations of the older layout (records), moved into their tables at start.
    pub legacy_authorizations: Vec<crate::van::AuthorizationRecord>,
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
            if state.legacy_rows.load(record)? {
                continue;
            }
            match record.kind.as_str() {
                crate::members::legacy::KIND_MEMBER
                | crate::members::legacy::KIND_VERIFICATION
                | crate::members::legacy::KIND_SESSION => {
                    state.legacy_members.load(record)?;
                }
                crate::exchange::KIND_LINK | crate::exchange::KIND_EXCHANGE => {
                    state.legacy_exchanges.load(record)?;
                }
                crate::van::KIND_AUTHORIZATION => crate::payments::load_legacy(&mut state, record)?,
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
