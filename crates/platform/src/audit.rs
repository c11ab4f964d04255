//! The audit log: every operator action, append-only, hash-linked, and committed to the
//! ledger's verifiable log.
//!
//! Entry `n` is a JSON text; its hash is `SHA-256(hash(n - 1) || entry)` (32 zero bytes
//! before the first). Each entry is written with one ledger transfer of amount zero between
//! the two audit accounts ([`chart::AUDIT_ENTRIES_ACCOUNT`] to [`chart::AUDIT_SINK_ACCOUNT`],
//! ledger [`chart::LEDGER_AUDIT`], code [`chart::transfer_code::AUDIT_ENTRY`]) whose id is
//! [`audit_transfer_id`]`(n)`, `user_data_64` is `n` and `user_data_128` the first 16 bytes of
//! the entry's hash, in the same store transaction. So the Merkle log, which witnesses
//! co-sign and the chain anchors, holds every entry's hash: to remove or change entry `n`
//! the operator would have to remove transfer `n` from an append-only log that others have
//! signed. An auditor checks the chain of hashes and, for each entry, the inclusion proof of
//! its transfer ([`verify_chain`], `mileverse audit verify`).
//!
//! Appends are ordered by the log's own lock ([`AuditLog::append`]): an entry's number and
//! previous hash are known before its transfer is built. Operator actions are rare, so one
//! durable commit per entry, one at a time, costs nothing that matters.

use std::sync::Arc;

use ledger::types::{Transfer, TransferId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::audit::{self as tables, AuditRow, AuditWrite};

use crate::chart;
use crate::operators::OperatorError;
use journal::LedgerService;

/// Most entries one page answers.
pub const AUDIT_PAGE_MAX: usize = tables::AUDIT_PAGE_MAX;
/// The longest JSON text an entry keeps of a request or an answer; longer ones are kept as
/// their SHA-256 only.
pub const AUDIT_DETAIL_BYTES_MAX: usize = 16 * 1024;

/// What happened, in the words of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A change is about to run (written before it runs).
    Intent,
    /// The change ran; `status` says how it ended.
    Outcome,
    /// A read of operator data.
    Read,
    /// The identity lacked the permission: nothing ran.
    Denied,
    Login,
    LoginFailed,
    Logout,
}

impl AuditKind {
    pub fn name(self) -> &'static str {
        match self {
            AuditKind::Intent => "intent",
            AuditKind::Outcome => "outcome",
            AuditKind::Read => "read",
            AuditKind::Denied => "denied",
            AuditKind::Login => "login",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::Logout => "logout",
        }
    }
}

/// An entry as the caller describes it; the log adds its number, time and hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// `bootstrap`, `operator:<login>`, `key:<id>@<owner>`, or the login tried.
    pub actor: String,
    pub role: String,
    /// `METHOD /path` as the route names it.
    pub action: String,
    /// The path as requested (the ids it names).
    pub target: String,
    /// The peer address.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The request body, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// The state before the change, where the action names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// The answer (the state after), secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
    /// For an outcome: the number of its intent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent_seq: Option<u64>,
}

/// The entry as hashed: the record with its number, time and kind.
#[derive(Serialize)]
struct Entry<'a> {
    seq: u64,
    at_ms: u64,
    kind: AuditKind,
    #[serde(flatten)]
    record: std::borrow::Cow<'a, AuditRecord>,
}

/// The head of the chain: the last entry's number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    seq: u64,
    hash: [u8; 32],
}

/// The audit log.
pub struct AuditLog {
    ledger: Arc<LedgerService>,
    /// Appends one at a time, in order of their numbers.
    head: tokio::sync::Mutex<Head>,
}

impl AuditLog {
    /// Creates the audit accounts (once) and reads the chain's head.
    pub async fn open(ledger: Arc<LedgerService>) -> Result<AuditLog, OperatorError> {
        for result in ledger.create_accounts(chart::audit_accounts()).await? {
            let code = result.as_str();
            if code != "ok" && code != "exists" {
                return Err(OperatorError::Unavailable(format!(
                    "cannot create the audit accounts: {code}"
                )));
            }
        }
        let last = ledger.tables(tables::last_entry).await?;
        let head = last.map_or(
            Head {
                seq: 0,
                hash: [0; 32],
            },
            |row| Head {
                seq: row.seq,
                hash: row.hash,
            },
        );
        Ok(AuditLog {
            ledger,
            head: tokio::sync::Mutex::new(head),
        })
    }

    /// Appends an entry; answers its number once it and its transfer are durable.
    pub async fn append(
        &self,
        kind: AuditKind,
        record: &AuditRecord,
    ) -> Result<u64, OperatorError> {
        let mut head = self.head.lock().await;
        let seq = head.seq + 1;
        let at_ms = ports::time::now_ms();
        let entry = serde_json::to_string(&Entry {
            seq,
            at_ms,
            kind,
            record: std::borrow::Cow::Borrowed(record),
        })
        .map_err(|error| OperatorError::Unavailable(error.to_string()))?;
        let hash = entry_hash(&head.hash, &entry);
        let row = AuditRow {
            seq,
            at_ms,
            actor: record.actor.clone(),
            kind: kind.name().to_string(),
            entry,
            previous_hash: head.hash,
            hash,
            transfer_id: audit_transfer_id(seq),
        };
        let transfer = commitment(seq, &hash);
        let committed = self
            .ledger
            .create_transfers_recorded(vec![transfer], move |outcome| {
                let result = outcome.results[0];
                if result.is_ok() {
                    (vec![Arc::new(AuditWrite(row)) as RowRef], Ok(()))
                } else {
                    (Vec::new(), Err(result.as_str()))
                }
            })
            .await?;
        committed.map_err(|code| {
            OperatorError::Unavailable(format!("audit transfer {seq} refused: {code}"))
        })?;
        *head = Head { seq, hash };
        Ok(seq)
    }

    /// Entries after `after`, in order, at most [`AUDIT_PAGE_MAX`]; only `actor`'s if given.
    pub async fn page(
        &self,
        after: u64,
        actor: Option<String>,
        limit: usize,
    ) -> Result<Vec<AuditRow>, OperatorError> {
        let limit = limit.min(AUDIT_PAGE_MAX);
        Ok(self
            .ledger
            .tables(move |read| match &actor {
                Some(actor) => tables::entries_of_actor(read, actor, after, limit),
                None => tables::entries_page(read, after, limit),
            })
            .await?)
    }
}

/// `SHA-256(previous || entry)`.
pub fn entry_hash(previous: &[u8; 32], entry: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(entry.as_bytes());
    hasher.finalize().into()
}

/// The id of the transfer that commits entry `seq`: derived, high bit set like the
/// platform's other derived ids.
pub fn audit_transfer_id(seq: u64) -> u128 {
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/audit/");
    hasher.update(seq.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

/// The first 16 bytes of an entry's hash, as its transfer carries them.
pub fn hash_prefix(hash: &[u8; 32]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    u128::from_be_bytes(bytes)
}

/// The transfer that commits entry `seq` with hash `hash` to the ledger.
fn commitment(seq: u64, hash: &[u8; 32]) -> Transfer {
    Transfer {
        id: TransferId(audit_transfer_id(seq)),
        debit_account_id: chart::AUDIT_ENTRIES_ACCOUNT,
        credit_account_id: chart::AUDIT_SINK_ACCOUNT,
        amount: 0,
        user_data_128: hash_prefix(hash),
        user_data_64: seq,
        ledger: chart::LEDGER_AUDIT,
        code: chart::transfer_code::AUDIT_ENTRY,
        ..Transfer::default()
    }
}

/// Why a run of entries is not an unbroken chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {found} follows entry {previous}: an entry is missing")]
    Gap { previous: u64, found: u64 },
    #[error("entry {0} does not name the hash of the entry before it")]
    PreviousHash(u64),
    #[error("entry {0}'s hash is not the hash of its text")]
    Hash(u64),
    #[error("entry {0}'s text names another number, time, actor or kind")]
    Text(u64),
    #[error("entry {0}'s transfer is not the one derived from it")]
    Transfer(u64),
}

/// Checks that `rows` continue the chain after `previous` (number and hash; `(0, zeros)`
/// for the start): numbers without gaps, each previous hash the one before, each hash
/// that of its text, the text naming the row's number, and the transfer id derived from it.
/// Answers the new head.
pub fn verify_chain(
    previous: (u64, [u8; 32]),
    rows: &[AuditRow],
) -> Result<(u64, [u8; 32]), ChainBreak> {
    let (mut seq, mut hash) = previous;
    for row in rows {
        if row.seq != seq + 1 {
            return Err(ChainBreak::Gap {
                previous: seq,
                found: row.seq,
            });
        }
        if row.previous_hash != hash {
            return Err(ChainBreak::PreviousHash(row.seq));
        }
        if entry_hash(&row.previous_hash, &row.entry) != row.hash {
            return Err(ChainBreak::Hash(row.seq));
        }
        let entry: serde_json::Value =
            serde_json::from_str(&row.entry).map_err(|_| ChainBreak::Text(row.seq))?;
        let names_row = entry["seq"] == row.seq
            && entry["at_ms"] == row.at_ms
            && entry["actor"] == row.actor.as_str()
            && entry["kind"] == row.kind.as_str();
        if !names_row {
            return Err(ChainBreak::Text(row.seq));
        }
        if row.transfer_id != audit_transfer_id(row.seq) {
            return Err(ChainBreak::Transfer(row.seq));
        }
        (seq, hash) = (row.seq, row.hash);
    }
    Ok((seq, hash))
}

/// Replaces the values of fields that carry secrets with `"[redacted]"`, at any depth: names
/// containing `secret`, `password`, `token`, `pin`, `totp` or `otpauth`, and text values of
/// names containing `code` (a verification code; a ledger transfer's numeric `code` stays).
pub fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if is_secret_field(key, field) {
                    *field = serde_json::Value::String("[redacted]".into());
                } else {
                    redact(field);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn is_secret_field(name: &str, value: &serde_json::Value) -> bool {
    let name = name.to_ascii_lowercase();
    let secret_name = ["secret", "password", "token", "pin", "totp", "otpauth"]
        .iter()
        .any(|word| name.contains(word));
    secret_name || (name.contains("code") && value.is_string())
}

/// A request or answer body as an entry keeps it: its JSON with secrets redacted, or, if
/// longer than [`AUDIT_DETAIL_BYTES_MAX`] or not JSON, its size and SHA-256.
pub fn detail_of(body: &[u8]) -> Option<serde_json::Value> {
    if body.is_empty() {
        return None;
    }
    let parsed = (body.len() <= AUDIT_DETAIL_BYTES_MAX)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten();
    Some(match parsed {
        Some(mut value) => {
            redact(&mut value);
            value
        }
        None => serde_json::json!({
            "bytes": body.len(),
            "sha256": hex::encode(Sha256::digest(body)),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRow> {
        let mut rows = Vec::new();
        let mut previous = [0u8; 32];
        for seq in 1..=n {
            let entry = format!(
                r#"{{"seq":{seq},"at_ms":{},"kind":"read","actor":"a","role":"r","action":"GET /","target":"/","source":""}}"#,
                seq * 10
            );
            let hash = entry_hash(&previous, &entry);
            rows.push(AuditRow {
                seq,
                at_ms: seq * 10,
                actor: "a".into(),
                kind: "read".into(),
                entry,
                previous_hash: previous,
                hash,
                transfer_id: audit_transfer_id(seq),
            });
            previous = hash;
        }
        rows
    }

    #[test]
    fn an_unbroken_chain_verifies_and_every_tampering_is_named() {
        let rows = chain(5);
        let head = verify_chain((0, [0; 32]), &rows).expect("chain");
        assert_eq!(head, (5, rows[4].hash));
        // Verified in two pages, the same head.
        let (seq, hash) = verify_chain((0, [0; 32]), &rows[..2]).expect("first page");
        assert_eq!(verify_chain((seq, hash), &rows[2..]), Ok(head));

        let mut removed = rows.clone();
        removed.remove(2);
        assert_eq!(
            verify_chain((0, [0; 32]), &removed),
            Err(ChainBreak::Gap {
                previous: 2,
                found: 4
            })
        );
        let mut edited = rows.clone();
        edited[1].entry = edited[1].entry.replace("GET /", "GET /x");
        assert_eq!(
            verify_chain((0, [0; 32]), &edited),
            Err(ChainBreak::Hash(2))
        );
        // Rehashing the edited entry breaks the link of the next one.
        edited[1].hash = entry_hash(&edited[1].previous_hash, &edited[1].entry);
        assert_eq!(
            verify_chain((0, [0; 32]), &edited),
            Err(ChainBreak::PreviousHash(3))
        );
        let mut renamed = rows.clone();
        renamed[0].actor = "b".into();
        assert_eq!(
            verify_chain((0, [0; 32]), &renamed),
            Err(ChainBreak::Text(1))
        );
        let mut moved = rows;
        moved[3].transfer_id = audit_transfer_id(9);
        assert_eq!(
            verify_chain((0, [0; 32]), &moved),
            Err(ChainBreak::Transfer(4))
        );
    }

    #[test]
    fn secrets_are_redacted_at_any_depth_and_long_bodies_kept_as_digests() {
        let body =
            br#"{"name":"Air","secret":"s3","nested":[{"pin":"1234","amount":5}],"totp_code":"1"}"#;
        let detail = detail_of(body).expect("detail");
        assert_eq!(detail["name"], "Air");
        assert_eq!(detail["secret"], "[redacted]");
        assert_eq!(detail["nested"][0]["pin"], "[redacted]");
        assert_eq!(detail["nested"][0]["amount"], 5);
        assert_eq!(detail["totp_code"], "[redacted]");
        let long = vec![b' '; AUDIT_DETAIL_BYTES_MAX + 1];
        let digest = detail_of(&long).expect("digest");
        assert_eq!(digest["bytes"], AUDIT_DETAIL_BYTES_MAX + 1);
        assert_eq!(detail_of(b""), None);
        assert_eq!(detail_of(b"not json").expect("digest")["bytes"], 8);
        // A ledger transfer's numeric `code` is not a secret; a string code is.
        let transfer = detail_of(br#"{"code":7,"verification_code":"123456"}"#).expect("detail");
        assert_eq!(transfer["code"], 7);
        assert_eq!(transfer["verification_code"], "[redacted]");
    }
}
