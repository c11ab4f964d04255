//! The record types the exchange context shares with the partners' reports (links,
//! exchanges, rates), and the decoding of the older layout's JSON records (`legacy`):
//! personal data and secrets inside those were sealed (see `crypto`), so the JSON holds
//! them only as hex ciphertext; and how a context maps such a record to its rows
//! ([`RowsOfRecord`], [`row`]). A leaf: it imports nothing of the crate but `chart`, so
//! each context's `legacy` module and the one import (`legacy`) build on it without
//! importing each other.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use store::records::{Record, RecordWrite};
use store::tables::records::RecordRow;
use store::tables::{Row, RowRef};

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

#[derive(Debug, thiserror::Error)]
#[error("record {kind}/{key} does not decode: {reason}")]
pub struct DecodeError {
    pub kind: String,
    pub key: String,
    pub reason: String,
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

/// A context's mapping of an older record to the rows that replace it: `None` for a
/// record of another context's kind.
pub(crate) type RowsOfRecord = fn(&Record) -> Result<Option<Vec<RowRef>>, DecodeError>;

/// One row as [`RowsOfRecord`] answers it.
pub(crate) fn row(write: impl Row + 'static) -> Option<Vec<RowRef>> {
    Some(vec![Arc::new(write)])
}

/// Record writes as rows of the ledger's transaction.
pub(crate) fn record_rows(writes: impl IntoIterator<Item = RecordWrite>) -> Vec<RowRef> {
    writes
        .into_iter()
        .map(|write| Arc::new(RecordRow(write)) as RowRef)
        .collect()
}
