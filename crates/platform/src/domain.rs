//! The platform's domain records and their in-memory state.
//!
//! Each record type is stored whole as JSON under `(kind, id)` in the record store (see
//! `persist`); personal data and secrets inside are sealed (see `crypto`), so the JSON holds
//! them only as hex ciphertext. [`State`] holds every record plus the indexes built from them
//! at load; it is changed only under the platform's lock, together with the record writes.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use store::records::{Record, RecordWrite};

use crate::conversion;

pub const KIND_PARTNER: &str = "partner";
pub const KIND_LINK: &str = "link";
pub const KIND_EXCHANGE: &str = "exchange";
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeStatus {
    /// Durable before the partner is asked; the outcome at the partner may be unknown.
    Requested,
    /// The partner debited and the member was credited.
    Completed,
    /// The partner did not debit (refused, or the reference was cancelled first).
    Failed,
    /// The partner debited, the credit could not be made, and the debit was reversed.
    Reversed,
}

impl ExchangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeStatus::Requested => "requested",
            ExchangeStatus::Completed => "completed",
            ExchangeStatus::Failed => "failed",
            ExchangeStatus::Reversed => "reversed",
        }
    }

    pub fn is_final(self) -> bool {
        self != ExchangeStatus::Requested
    }
}

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

/// Per-partner running figures derived from the exchanges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartnerFigures {
    /// MVP credited to members against this partner (completed exchanges).
    pub issued_mvp: u128,
    /// MVP of exchanges still requested (reserved against the credit line).
    pub reserved_mvp: u128,
    /// MVP the partner paid for (partner payments recorded in the ledger).
    pub paid_mvp: u128,
}

impl PartnerFigures {
    /// What the partner owes now: issued and not yet paid for.
    pub fn outstanding_mvp(&self) -> u128 {
        self.issued_mvp.saturating_sub(self.paid_mvp)
    }
}

/// Every record plus indexes. Not persisted itself: rebuilt from the records at load.
#[derive(Default)]
pub struct State {
    /// Members, sessions and verifications of the older layout, moved into their tables at
    /// start (see `members`).
    pub(crate) legacy_members: crate::members::LegacyMembers,
    pub partners: HashMap<u128, PartnerRecord>,
    pub partner_secrets: HashMap<u128, Vec<u8>>,
    pub partner_figures: HashMap<u128, PartnerFigures>,
    pub links: HashMap<u128, LinkRecord>,
    /// (partner, member ref) → link, for links not removed.
    pub link_by_ref: HashMap<(u128, String), u128>,
    pub exchanges: HashMap<u128, ExchangeRecord>,
    /// Per member, exchange ids in creation order.
    pub exchanges_by_member: HashMap<u128, Vec<u128>>,
    pub exchange_by_key: HashMap<(u128, String), u128>,
    /// Exchanges in `Requested`, with the time of their next resolution attempt (ms) and
    /// the attempts made; memory only.
    pub open_exchanges: HashMap<u128, Retry>,
    /// Failed exchanges whose reference still needs a cancel at the partner; memory only
    /// (rebuilt from `cancel_pending` at load).
    pub pending_cancels: HashMap<u128, Retry>,
    /// Exchanges a task is driving right now (so two never drive one).
    pub driving: BTreeSet<u128>,
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retry {
    pub next_attempt_ms: u64,
    pub attempts: u32,
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
                    state.partner_figures.entry(partner.id).or_default();
                    state.partners.insert(partner.id, partner);
                }
                KIND_LINK => state.insert_link(decode(record)?),
                KIND_EXCHANGE => state.insert_exchange(decode(record)?),
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
        // Records load in key order (random ids); the limits walk each member's exchanges
        // newest first and stop at an older month, so put them back in creation order.
        for ids in state.exchanges_by_member.values_mut() {
            ids.sort_by_key(|id| (state.exchanges[id].created_at_s, *id));
        }
        Ok(state)
    }

    pub fn insert_link(&mut self, link: LinkRecord) {
        if !link.removed {
            self.link_by_ref
                .insert((link.partner_id, link.member_ref.clone()), link.id);
        }
        self.links.insert(link.id, link);
    }

    /// Adds a new exchange to every index and to its partner's figures.
    pub fn insert_exchange(&mut self, exchange: ExchangeRecord) {
        self.exchanges_by_member
            .entry(exchange.member_id)
            .or_default()
            .push(exchange.id);
        if let Some(key) = &exchange.idempotency_key {
            self.exchange_by_key
                .insert((exchange.member_id, key.clone()), exchange.id);
        }
        let figures = self.partner_figures.entry(exchange.partner_id).or_default();
        match exchange.status {
            ExchangeStatus::Requested => {
                figures.reserved_mvp += u128::from(exchange.mvp);
                self.open_exchanges.insert(exchange.id, Retry::default());
            }
            ExchangeStatus::Completed => figures.issued_mvp += u128::from(exchange.mvp),
            ExchangeStatus::Failed | ExchangeStatus::Reversed => {}
        }
        if exchange.cancel_pending {
            self.pending_cancels.insert(exchange.id, Retry::default());
        }
        self.exchanges.insert(exchange.id, exchange);
    }

    /// Moves a requested exchange to a final status, keeping the figures right.
    pub fn finish_exchange(
        &mut self,
        id: u128,
        status: ExchangeStatus,
        failure: Option<String>,
        now_s: u64,
    ) -> Option<&ExchangeRecord> {
        let exchange = self.exchanges.get_mut(&id)?;
        if exchange.status.is_final() {
            return Some(exchange);
        }
        assert!(status.is_final(), "finish_exchange to a non-final status");
        exchange.status = status;
        exchange.failure = failure;
        exchange.finished_at_s = Some(now_s);
        let figures = self.partner_figures.entry(exchange.partner_id).or_default();
        let mvp = u128::from(exchange.mvp);
        assert!(
            figures.reserved_mvp >= mvp,
            "reserved MVP below an open exchange"
        );
        figures.reserved_mvp -= mvp;
        if status == ExchangeStatus::Completed {
            figures.issued_mvp += mvp;
        }
        self.open_exchanges.remove(&id);
        Some(exchange)
    }
}
