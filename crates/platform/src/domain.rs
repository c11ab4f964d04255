//! The record types the exchange context shares with the partners' reports (links,
//! exchanges, rates), and the decoding of the older layout's JSON records (`legacy`):
//! personal data and secrets inside those were sealed (see `crypto`), so the JSON holds
//! them only as hex ciphertext; and how a context maps such a record to its rows
//! ([`RowsOfRecord`], [`row`]). A leaf: it imports nothing of the crate but `chart`, so
//! each context's `legacy` module and the one import (`legacy`) build on it without
//! importing each other.

use serde::Deserialize;
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

/// A member's membership at a partner, and an exchange of mileage for MVP, as their
/// tables hold them (the serde form is the older layout's JSON record).
pub use store::tables::exchanges::{ExchangeRow, ExchangeStatus, LinkRow, LinkStatus};

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
