//! VANs as parties (seed 000 §6-5: POS → VAN → platform): a VAN's signing key, and the
//! merchants it serves, for whose terminals it may sign VAN requests.
//!
//! ```sql
//! vans (id, name text, key_id text (the key a request names), secret_sealed (AEAD
//!   ciphertext), enabled 0 | 1, created_at_s)
//! van_merchants (merchant_id, van_id): a merchant is served by one VAN at most
//! ```
//!
//! Indexes: `vans_by_key` (`key_id`, unique: a request's key names one VAN) and the primary
//! keys (a VAN by id; a merchant's VAN).

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE vans (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                name text NOT NULL,
                key_id text NOT NULL,
                secret_sealed bytea NOT NULL,
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX vans_by_key ON vans (key_id);
            CREATE TABLE van_merchants (
                merchant_id bytea PRIMARY KEY CHECK (length(merchant_id) = 16),
                van_id bytea NOT NULL CHECK (length(van_id) = 16)
            )",
            $without_rowid,
            ";"
        )
    };
}

/// The tables on SQLite (migration 22).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 22).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// A VAN, as `vans` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VanRow {
    pub id: u128,
    pub name: String,
    pub key_id: String,
    pub secret_sealed: Vec<u8>,
    pub enabled: bool,
    pub created_at_s: u64,
}

/// A change to the VANs' tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VanWrite {
    /// Inserts or replaces the VAN (by id).
    Van(VanRow),
    /// The merchant is served by this VAN from now on (replacing any other).
    Serve { merchant_id: u128, van_id: u128 },
    /// The merchant is served by no VAN.
    Unserve { merchant_id: u128 },
}

impl Row for VanWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            VanWrite::Van(row) => {
                let sql = "INSERT INTO vans (id, name, key_id, secret_sealed, enabled,
                        created_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                    ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                        key_id = excluded.key_id, secret_sealed = excluded.secret_sealed,
                        enabled = excluded.enabled";
                let params = [
                    Value::id(row.id),
                    Value::text(&row.name),
                    Value::text(&row.key_id),
                    Value::bytes(&row.secret_sealed),
                    Value::flag(row.enabled),
                    Value::uint(row.created_at_s)?,
                ];
                sql::execute(tx, sql, &params)?;
            }
            VanWrite::Serve {
                merchant_id,
                van_id,
            } => {
                let sql = "INSERT INTO van_merchants (merchant_id, van_id) VALUES (?1, ?2)
                    ON CONFLICT (merchant_id) DO UPDATE SET van_id = excluded.van_id";
                sql::execute(tx, sql, &[Value::id(*merchant_id), Value::id(*van_id)])?;
            }
            VanWrite::Unserve { merchant_id } => {
                let sql = "DELETE FROM van_merchants WHERE merchant_id = ?1";
                sql::execute(tx, sql, &[Value::id(*merchant_id)])?;
            }
        }
        Ok(())
    }
}

fn van_of(mut columns: Columns) -> Result<VanRow, StoreError> {
    Ok(VanRow {
        id: columns.id()?,
        name: columns.text()?,
        key_id: columns.text()?,
        secret_sealed: columns.bytes()?,
        enabled: columns.flag()?,
        created_at_s: columns.uint()?,
    })
}

const VAN_COLUMNS: &str = "id, name, key_id, secret_sealed, enabled, created_at_s";

/// The VAN with this key id.
pub fn van_by_key(read: &mut TableRead<'_>, key_id: &str) -> Result<Option<VanRow>, StoreError> {
    let sql = format!("SELECT {VAN_COLUMNS} FROM vans WHERE key_id = ?1");
    sql::query_one(read, &sql, &[Value::text(key_id)])?
        .map(van_of)
        .transpose()
}

/// The VAN with this id.
pub fn van(read: &mut TableRead<'_>, id: u128) -> Result<Option<VanRow>, StoreError> {
    let sql = format!("SELECT {VAN_COLUMNS} FROM vans WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(van_of)
        .transpose()
}

/// The VAN serving the merchant, if one does.
pub fn van_of_merchant(
    read: &mut TableRead<'_>,
    merchant_id: u128,
) -> Result<Option<u128>, StoreError> {
    let sql = "SELECT van_id FROM van_merchants WHERE merchant_id = ?1";
    sql::query_one(read, sql, &[Value::id(merchant_id)])?
        .map(|mut columns| columns.id())
        .transpose()
}

/// How many VANs there are.
pub fn van_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    match sql::query_one(read, "SELECT count(*) FROM vans", &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
