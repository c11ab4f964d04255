//! JSON shapes of the raw ledger API (TigerBeetle names, snake_case).
//!
//! u128 fields (ids, amounts, balances) travel as strings of decimal digits, because JSON
//! numbers lose precision past 2^53 in most clients; smaller integers are JSON numbers;
//! `flags` is an array of flag names. Input is parsed field by field so that every bad field
//! of every item is reported at once, with its index, and nothing is changed.

use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, Transfer, TransferFlags, TransferId,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::problem::FieldError;

/// Collects field errors of one item while it is parsed.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    index: usize,
    errors: &'a mut Vec<FieldError>,
}

impl Fields<'_> {
    fn error(&mut self, field: &str, detail: impl Into<String>) {
        self.errors.push(FieldError {
            index: Some(self.index),
            field: field.into(),
            detail: detail.into(),
        });
    }

    fn u128(&mut self, field: &str) -> u128 {
        match self.object.get(field) {
            None | Some(Value::Null) => 0,
            Some(Value::String(text)) => parse_u128(text).unwrap_or_else(|| {
                self.error(
                    field,
                    "expected a string of decimal digits between 0 and 2^128-1",
                );
                0
            }),
            Some(_) => {
                self.error(
                    field,
                    "expected a string of decimal digits (u128 values travel as strings)",
                );
                0
            }
        }
    }

    fn uint(&mut self, field: &str, max: u64) -> u64 {
        match self.object.get(field) {
            None | Some(Value::Null) => 0,
            Some(Value::Number(number)) => match number.as_u64() {
                Some(value) if value <= max => value,
                _ => {
                    self.error(field, format!("expected an integer between 0 and {max}"));
                    0
                }
            },
            Some(_) => {
                self.error(field, format!("expected an integer between 0 and {max}"));
                0
            }
        }
    }

    fn flag_names(&mut self, lookup: impl Fn(&str) -> Option<u16>) -> u16 {
        let Some(value) = self.object.get("flags") else {
            return 0;
        };
        let Some(names) = value.as_array() else {
            self.error("flags", "expected an array of flag names");
            return 0;
        };
        let mut bits = 0;
        for name in names {
            match name.as_str().and_then(&lookup) {
                Some(bit) => bits |= bit,
                None => self.error("flags", format!("unknown flag {name}")),
            }
        }
        bits
    }

    fn reject_unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self
            .object
            .keys()
            .filter(|key| !known.contains(&key.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.error(&key, "unknown field");
        }
    }
}

fn parse_u128(text: &str) -> Option<u128> {
    if text.is_empty() || text.len() > 39 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses a u128 path or query parameter.
pub fn parse_id(text: &str) -> Option<u128> {
    parse_u128(text)
}

const ACCOUNT_FIELDS: &[&str] = &[
    "id",
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "ledger",
    "code",
    "flags",
    "timestamp",
];

const TRANSFER_FIELDS: &[&str] = &[
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "pending_id",
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "timeout",
    "ledger",
    "code",
    "flags",
    "timestamp",
];

/// Takes `body[key]` as an array of objects, parsing each with `parse`.
pub fn parse_batch<T>(
    body: &Value,
    key: &str,
    parse: impl Fn(&Map<String, Value>, usize, &mut Vec<FieldError>) -> T,
) -> Result<Vec<T>, Vec<FieldError>> {
    let field_error = |detail: &str| {
        vec![FieldError {
            index: None,
            field: key.into(),
            detail: detail.into(),
        }]
    };
    let Some(object) = body.as_object() else {
        return Err(field_error("the body must be a JSON object"));
    };
    let Some(items) = object.get(key).and_then(Value::as_array) else {
        return Err(field_error("expected an array"));
    };
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item.as_object() {
            Some(object) => parsed.push(parse(object, index, &mut errors)),
            None => errors.push(FieldError {
                index: Some(index),
                field: key.into(),
                detail: "expected an object".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

pub fn parse_account(
    object: &Map<String, Value>,
    index: usize,
    errors: &mut Vec<FieldError>,
) -> Account {
    let mut fields = Fields {
        object,
        index,
        errors,
    };
    fields.reject_unknown(ACCOUNT_FIELDS);
    let flags = fields.flag_names(|name| AccountFlags::from_name(name).map(AccountFlags::bits));
    Account {
        id: AccountId(fields.u128("id")),
        debits_pending: fields.u128("debits_pending"),
        debits_posted: fields.u128("debits_posted"),
        credits_pending: fields.u128("credits_pending"),
        credits_posted: fields.u128("credits_posted"),
        user_data_128: fields.u128("user_data_128"),
        user_data_64: fields.uint("user_data_64", u64::MAX),
        user_data_32: fields.uint("user_data_32", u32::MAX.into()) as u32,
        ledger: fields.uint("ledger", u32::MAX.into()) as u32,
        code: fields.uint("code", u16::MAX.into()) as u16,
        flags: AccountFlags(flags),
        timestamp: fields.uint("timestamp", u64::MAX),
    }
}

pub fn parse_transfer(
    object: &Map<String, Value>,
    index: usize,
    errors: &mut Vec<FieldError>,
) -> Transfer {
    let mut fields = Fields {
        object,
        index,
        errors,
    };
    fields.reject_unknown(TRANSFER_FIELDS);
    let flags = fields.flag_names(|name| TransferFlags::from_name(name).map(TransferFlags::bits));
    Transfer {
        id: TransferId(fields.u128("id")),
        debit_account_id: AccountId(fields.u128("debit_account_id")),
        credit_account_id: AccountId(fields.u128("credit_account_id")),
        amount: fields.u128("amount"),
        pending_id: TransferId(fields.u128("pending_id")),
        user_data_128: fields.u128("user_data_128"),
        user_data_64: fields.uint("user_data_64", u64::MAX),
        user_data_32: fields.uint("user_data_32", u32::MAX.into()) as u32,
        timeout: fields.uint("timeout", u32::MAX.into()) as u32,
        ledger: fields.uint("ledger", u32::MAX.into()) as u32,
        code: fields.uint("code", u16::MAX.into()) as u16,
        flags: TransferFlags(flags),
        timestamp: fields.uint("timestamp", u64::MAX),
    }
}

/// An account as the ledger keeps it: TigerBeetle's fields, u128 values as strings of
/// decimal digits, `flags` as the names of the flags set.
#[derive(Serialize, ToSchema)]
pub struct LedgerAccount {
    /// u128, decimal digits.
    #[schema(pattern = "^[0-9]{1,39}$")]
    pub id: String,
    /// u128, decimal digits.
    pub debits_pending: String,
    /// u128, decimal digits.
    pub debits_posted: String,
    /// u128, decimal digits.
    pub credits_pending: String,
    /// u128, decimal digits.
    pub credits_posted: String,
    /// u128, decimal digits.
    pub user_data_128: String,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// The asset (1 = MVP).
    pub ledger: u32,
    /// The kind of account (chart of accounts).
    pub code: u16,
    /// Names among `linked`, `debits_must_not_exceed_credits`,
    /// `credits_must_not_exceed_debits`, `history`, `imported`, `closed`.
    pub flags: Vec<&'static str>,
    /// Engine time (ns) of its creation.
    pub timestamp: u64,
}

/// A transfer as the ledger keeps it: TigerBeetle's fields, u128 values as strings of
/// decimal digits, `flags` as the names of the flags set.
#[derive(Serialize, ToSchema)]
pub struct LedgerTransfer {
    /// u128, decimal digits.
    #[schema(pattern = "^[0-9]{1,39}$")]
    pub id: String,
    /// u128, decimal digits.
    pub debit_account_id: String,
    /// u128, decimal digits.
    pub credit_account_id: String,
    /// u128, decimal digits.
    pub amount: String,
    /// u128, decimal digits; `0` when none.
    pub pending_id: String,
    /// u128, decimal digits.
    pub user_data_128: String,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// Seconds a pending transfer waits before it expires; 0 for none.
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    /// Names among `linked`, `pending`, `post_pending_transfer`, `void_pending_transfer`,
    /// `balancing_debit`, `balancing_credit`, `closing_debit`, `closing_credit`, `imported`.
    pub flags: Vec<&'static str>,
    /// Engine time (ns) of its commit.
    pub timestamp: u64,
}

/// An account's balances after one of its transfers (accounts with the `history` flag).
#[derive(Serialize, ToSchema)]
pub struct LedgerBalance {
    pub timestamp: u64,
    /// u128, decimal digits.
    pub debits_pending: String,
    /// u128, decimal digits.
    pub debits_posted: String,
    /// u128, decimal digits.
    pub credits_pending: String,
    /// u128, decimal digits.
    pub credits_posted: String,
}

/// An account to create (documentation only: the body is parsed field by field, so every
/// bad field of every item is reported at once). Absent fields are zero; unknown ones are
/// refused.
#[derive(ToSchema)]
pub struct LedgerAccountInput {
    /// u128, decimal digits; not zero.
    #[schema(pattern = "^[0-9]{1,39}$")]
    pub id: String,
    /// u128, decimal digits (zero on creation).
    pub debits_pending: Option<String>,
    /// u128, decimal digits (zero on creation).
    pub debits_posted: Option<String>,
    /// u128, decimal digits (zero on creation).
    pub credits_pending: Option<String>,
    /// u128, decimal digits (zero on creation).
    pub credits_posted: Option<String>,
    /// u128, decimal digits.
    pub user_data_128: Option<String>,
    pub user_data_64: Option<u64>,
    pub user_data_32: Option<u32>,
    pub ledger: u32,
    pub code: u16,
    /// Names among `linked`, `debits_must_not_exceed_credits`,
    /// `credits_must_not_exceed_debits`, `history`, `imported`, `closed`.
    pub flags: Option<Vec<String>>,
    /// Zero, unless the account is `imported`.
    pub timestamp: Option<u64>,
}

/// A transfer to create (documentation only: the body is parsed field by field, so every
/// bad field of every item is reported at once). Absent fields are zero; unknown ones are
/// refused.
#[derive(ToSchema)]
pub struct LedgerTransferInput {
    /// u128, decimal digits; not zero.
    #[schema(pattern = "^[0-9]{1,39}$")]
    pub id: String,
    /// u128, decimal digits.
    pub debit_account_id: Option<String>,
    /// u128, decimal digits.
    pub credit_account_id: Option<String>,
    /// u128, decimal digits.
    pub amount: Option<String>,
    /// u128, decimal digits: the pending transfer a `post_pending_transfer` or
    /// `void_pending_transfer` settles.
    pub pending_id: Option<String>,
    /// u128, decimal digits.
    pub user_data_128: Option<String>,
    pub user_data_64: Option<u64>,
    pub user_data_32: Option<u32>,
    /// Seconds a pending transfer waits before it expires.
    pub timeout: Option<u32>,
    pub ledger: u32,
    pub code: u16,
    /// Names among `linked`, `pending`, `post_pending_transfer`, `void_pending_transfer`,
    /// `balancing_debit`, `balancing_credit`, `closing_debit`, `closing_credit`, `imported`.
    pub flags: Option<Vec<String>>,
    /// Zero, unless the transfer is `imported`.
    pub timestamp: Option<u64>,
}

pub fn account_json(account: &Account) -> LedgerAccount {
    LedgerAccount {
        id: account.id.0.to_string(),
        debits_pending: account.debits_pending.to_string(),
        debits_posted: account.debits_posted.to_string(),
        credits_pending: account.credits_pending.to_string(),
        credits_posted: account.credits_posted.to_string(),
        user_data_128: account.user_data_128.to_string(),
        user_data_64: account.user_data_64,
        user_data_32: account.user_data_32,
        ledger: account.ledger,
        code: account.code,
        flags: account.flags.names(),
        timestamp: account.timestamp,
    }
}

pub fn transfer_json(transfer: &Transfer) -> LedgerTransfer {
    LedgerTransfer {
        id: transfer.id.0.to_string(),
        debit_account_id: transfer.debit_account_id.0.to_string(),
        credit_account_id: transfer.credit_account_id.0.to_string(),
        amount: transfer.amount.to_string(),
        pending_id: transfer.pending_id.0.to_string(),
        user_data_128: transfer.user_data_128.to_string(),
        user_data_64: transfer.user_data_64,
        user_data_32: transfer.user_data_32,
        timeout: transfer.timeout,
        ledger: transfer.ledger,
        code: transfer.code,
        flags: transfer.flags.names(),
        timestamp: transfer.timestamp,
    }
}

pub fn balance_json(balance: &AccountBalance) -> LedgerBalance {
    LedgerBalance {
        timestamp: balance.timestamp,
        debits_pending: balance.debits_pending.to_string(),
        debits_posted: balance.debits_posted.to_string(),
        credits_pending: balance.credits_pending.to_string(),
        credits_posted: balance.credits_posted.to_string(),
    }
}

pub fn hex32(bytes: &[u8]) -> String {
    hex::encode(bytes)
}
