//! The vouchers context's tables: the operator's catalogue of gift voucher products, and the
//! vouchers members bought.
//!
//! ```sql
//! voucher_products (id 16-byte id, brand text (redeemable at this brand's merchants),
//!   name text, face_value (what it pays at the till) integer >= 1,
//!   price (what a member pays, in MVP) integer 1 ..= face_value, validity_days >= 1,
//!   enabled 0 | 1, created_at_s)
//! vouchers (id (also the purchase's transfer id), product_id, member_id 16-byte ids,
//!   brand, name text and face_value >= 1, price >= 0 (copied from the product when bought),
//!   code_sealed (the code, AEAD ciphertext), code_index 32-byte keyed blind index,
//!   status 'pending' | 'active' | 'redeemed' | 'cancelling' | 'cancelled' | 'failed',
//!   failure text or NULL, idempotency_key text or NULL, purchased_at_s, expires_at_s,
//!   authorization_id 16-byte id or NULL (the authorization that redeemed it),
//!   redeemed_at_s or NULL, refund, fee integers >= 0 (a member's cancel: MVP given back
//!   and kept), cancelled_at_s or NULL)
//! ```
//!
//! A voucher's code is a bearer secret: whoever presents it at a till spends the voucher.
//! So the code itself is never stored in the clear; the platform seals it (`code_sealed`,
//! shown only to its owner) and computes a keyed blind index of it (`code_index`, an HMAC),
//! which is the only form of the code a query can search. A voucher keeps the brand, name,
//! face value and price it was bought with, so a later change of its product (a new price,
//! a product disabled) never changes a voucher already sold.
//!
//! Indexes, each for the queries named:
//! - `vouchers_by_code` (`code_index`), unique: the till finds the voucher of a presented
//!   code ([`voucher_by_code`]); unique, because two vouchers with one code could not be
//!   told apart at the till;
//! - `vouchers_by_key` (`member_id, idempotency_key` where a key is set), unique: a
//!   client's retried purchase finds its voucher instead of buying a second one
//!   ([`voucher_by_key`]);
//! - `vouchers_by_member` (`member_id, id`): a member's vouchers, newest first, page by page
//!   ([`member_vouchers`]; ids are time-ordered);
//! - `vouchers_active` (`member_id` where active): how many unused vouchers a member holds
//!   ([`active_count`]), checked against the platform's limit on every purchase, in time
//!   that depends on the member's active vouchers, not on their history;
//! - `vouchers_open` (`id` where pending or cancelling): start finishes the purchases and
//!   cancels left under way ([`open_vouchers`]), in time that depends on open work, not on
//!   history;
//! - `voucher_products_by_name` (`brand, name, id`): the catalogue in the order it is shown
//!   ([`products`]).
//!
//! `brand` and `name` of `voucher_products` compare by their UTF-8 bytes on both backends
//! (SQLite's `BINARY` collation; `COLLATE "C"` on PostgreSQL, whatever the database's
//! locale), so the catalogue's order is the same everywhere.
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page of a vouchers query answers.
pub const VOUCHERS_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal, $bytewise:literal) => {
        concat!(
            "CREATE TABLE voucher_products (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                brand text",
            $bytewise,
            " NOT NULL,
                name text",
            $bytewise,
            " NOT NULL,
                face_value bigint NOT NULL CHECK (face_value >= 1),
                price bigint NOT NULL CHECK (price >= 1),
                validity_days bigint NOT NULL CHECK (validity_days >= 1),
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                created_at_s bigint NOT NULL,
                CHECK (price <= face_value)
            )",
            $without_rowid,
            ";
            CREATE INDEX voucher_products_by_name ON voucher_products (brand, name, id);
            CREATE TABLE vouchers (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                product_id bytea NOT NULL CHECK (length(product_id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                brand text NOT NULL,
                name text NOT NULL,
                face_value bigint NOT NULL CHECK (face_value >= 1),
                price bigint NOT NULL CHECK (price >= 0),
                code_sealed bytea NOT NULL,
                code_index bytea NOT NULL CHECK (length(code_index) = 32),
                status text NOT NULL CHECK (status IN
                    ('pending', 'active', 'redeemed', 'cancelling', 'cancelled', 'failed')),
                failure text,
                idempotency_key text,
                purchased_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL,
                authorization_id bytea
                    CHECK (authorization_id IS NULL OR length(authorization_id) = 16),
                redeemed_at_s bigint,
                refund bigint NOT NULL CHECK (refund >= 0),
                fee bigint NOT NULL CHECK (fee >= 0),
                cancelled_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX vouchers_by_code ON vouchers (code_index);
            CREATE UNIQUE INDEX vouchers_by_key ON vouchers (member_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            CREATE INDEX vouchers_by_member ON vouchers (member_id, id);
            CREATE INDEX vouchers_active ON vouchers (member_id) WHERE status = 'active';
            CREATE INDEX vouchers_open ON vouchers (id)
                WHERE status IN ('pending', 'cancelling');"
        )
    };
}

/// The tables on SQLite (migration 10).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID", "");
/// The tables on PostgreSQL (migration 10).
pub(crate) const POSTGRES_TABLES: &str = tables!("", " COLLATE \"C\"");

/// Where a voucher is in its life (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    /// Durable, the purchase's transfer not yet answered.
    Pending,
    /// Bought and not used: a till may redeem it.
    Active,
    Redeemed,
    /// A member's cancel under way (durable before its refund moves).
    Cancelling,
    Cancelled,
    /// The purchase did not go through (`failure` says why).
    Failed,
}

impl VoucherStatus {
    /// Every status.
    pub const ALL: [VoucherStatus; 6] = [
        VoucherStatus::Pending,
        VoucherStatus::Active,
        VoucherStatus::Redeemed,
        VoucherStatus::Cancelling,
        VoucherStatus::Cancelled,
        VoucherStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Pending => "pending",
            VoucherStatus::Active => "active",
            VoucherStatus::Redeemed => "redeemed",
            VoucherStatus::Cancelling => "cancelling",
            VoucherStatus::Cancelled => "cancelled",
            VoucherStatus::Failed => "failed",
        }
    }

    /// The status with this name, if it is one.
    pub fn parse(text: &str) -> Option<VoucherStatus> {
        VoucherStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    fn read(text: &str) -> Result<VoucherStatus, StoreError> {
        VoucherStatus::parse(text).ok_or_else(|| sql::corrupt("a voucher status"))
    }
}

/// A product of the catalogue, as `voucher_products` holds it (and as the platform's
/// records held it: the serde form is theirs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRow {
    pub id: u128,
    /// Redeemable at the merchants of this brand.
    pub brand: String,
    pub name: String,
    /// What the voucher pays at the till (KRW = MVP).
    pub face_value: u64,
    /// What a member pays for it, in MVP (at most the face value).
    pub price: u64,
    pub validity_days: u32,
    pub enabled: bool,
    pub created_at_s: u64,
}

/// A member's voucher, as `vouchers` holds it (and as the platform's records held it: the
/// serde form is theirs, the code's columns in hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherRow {
    /// Time-ordered; also the id of the purchase's ledger transfer.
    pub id: u128,
    pub product_id: u128,
    pub member_id: u128,
    pub brand: String,
    pub name: String,
    pub face_value: u64,
    pub price: u64,
    /// The code, sealed (AEAD ciphertext).
    #[serde(with = "hex::serde")]
    pub code_sealed: Vec<u8>,
    /// The code's keyed blind index: how a till's code is found.
    #[serde(with = "hex::serde")]
    pub code_index: [u8; 32],
    pub status: VoucherStatus,
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub purchased_at_s: u64,
    pub expires_at_s: u64,
    /// The authorization that redeemed it (while redeemed).
    pub authorization_id: Option<u128>,
    pub redeemed_at_s: Option<u64>,
    /// A member's cancel: MVP given back and kept as a fee.
    pub refund: u64,
    pub fee: u64,
    pub cancelled_at_s: Option<u64>,
}

impl VoucherRow {
    pub fn expired(&self, now_s: u64) -> bool {
        now_s >= self.expires_at_s
    }

    /// What the member sees: an active voucher past its date is "expired".
    pub fn shown_status(&self, now_s: u64) -> &'static str {
        if self.status == VoucherStatus::Active && self.expired(now_s) {
            "expired"
        } else {
            self.status.as_str()
        }
    }
}

/// A change to the vouchers context's tables, written in the ledger's transaction.
// A write is built once and moved into its `Arc` (a `RowRef`): the size of the enum costs
// nothing, and a boxed row would only make every caller write `Box::new`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoucherWrite {
    /// Inserts or replaces the product (by id).
    Product(ProductRow),
    /// Inserts or replaces the voucher (by id).
    Voucher(VoucherRow),
}

/// The columns of `voucher_products` in the order [`product_of`] reads them.
const PRODUCT_COLUMNS: &str =
    "id, brand, name, face_value, price, validity_days, enabled, created_at_s";

/// The columns of `vouchers` in the order [`voucher_of`] reads them.
const VOUCHER_COLUMNS: &str = "id, product_id, member_id, brand, name, face_value, price,
    code_sealed, code_index, status, failure, idempotency_key, purchased_at_s, expires_at_s,
    authorization_id, redeemed_at_s, refund, fee, cancelled_at_s";

impl Row for VoucherWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = match self {
            VoucherWrite::Product(row) => product_statement(row)?,
            VoucherWrite::Voucher(row) => voucher_statement(row)?,
        };
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

fn product_statement(row: &ProductRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO voucher_products (id, brand, name, face_value, price, validity_days,
            enabled, created_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET brand = excluded.brand, name = excluded.name,
            face_value = excluded.face_value, price = excluded.price,
            validity_days = excluded.validity_days, enabled = excluded.enabled,
            created_at_s = excluded.created_at_s",
        vec![
            Value::id(row.id),
            Value::text(&row.brand),
            Value::text(&row.name),
            Value::uint(row.face_value)?,
            Value::uint(row.price)?,
            Value::Int(i64::from(row.validity_days)),
            Value::flag(row.enabled),
            Value::uint(row.created_at_s)?,
        ],
    ))
}

fn voucher_statement(row: &VoucherRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO vouchers (id, product_id, member_id, brand, name, face_value, price,
            code_sealed, code_index, status, failure, idempotency_key, purchased_at_s,
            expires_at_s, authorization_id, redeemed_at_s, refund, fee, cancelled_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19)
         ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id,
            member_id = excluded.member_id, brand = excluded.brand, name = excluded.name,
            face_value = excluded.face_value, price = excluded.price,
            code_sealed = excluded.code_sealed, code_index = excluded.code_index,
            status = excluded.status, failure = excluded.failure,
            idempotency_key = excluded.idempotency_key,
            purchased_at_s = excluded.purchased_at_s, expires_at_s = excluded.expires_at_s,
            authorization_id = excluded.authorization_id,
            redeemed_at_s = excluded.redeemed_at_s, refund = excluded.refund,
            fee = excluded.fee, cancelled_at_s = excluded.cancelled_at_s",
        vec![
            Value::id(row.id),
            Value::id(row.product_id),
            Value::id(row.member_id),
            Value::text(&row.brand),
            Value::text(&row.name),
            Value::uint(row.face_value)?,
            Value::uint(row.price)?,
            Value::bytes(&row.code_sealed),
            Value::bytes(&row.code_index),
            Value::text(row.status.as_str()),
            Value::opt_text(row.failure.as_deref()),
            Value::opt_text(row.idempotency_key.as_deref()),
            Value::uint(row.purchased_at_s)?,
            Value::uint(row.expires_at_s)?,
            Value::opt_id(row.authorization_id),
            Value::opt_uint(row.redeemed_at_s)?,
            Value::uint(row.refund)?,
            Value::uint(row.fee)?,
            Value::opt_uint(row.cancelled_at_s)?,
        ],
    ))
}

fn product_of(mut columns: Columns) -> Result<ProductRow, StoreError> {
    Ok(ProductRow {
        id: columns.id()?,
        brand: columns.text()?,
        name: columns.text()?,
        face_value: columns.uint()?,
        price: columns.uint()?,
        validity_days: columns.u32()?,
        enabled: columns.flag()?,
        created_at_s: columns.uint()?,
    })
}

fn voucher_of(mut columns: Columns) -> Result<VoucherRow, StoreError> {
    Ok(VoucherRow {
        id: columns.id()?,
        product_id: columns.id()?,
        member_id: columns.id()?,
        brand: columns.text()?,
        name: columns.text()?,
        face_value: columns.uint()?,
        price: columns.uint()?,
        code_sealed: columns.bytes()?,
        code_index: columns.hash()?,
        status: VoucherStatus::read(&columns.text()?)?,
        failure: columns.opt_text()?,
        idempotency_key: columns.opt_text()?,
        purchased_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
        authorization_id: columns.opt_id()?,
        redeemed_at_s: columns.opt_uint()?,
        refund: columns.uint()?,
        fee: columns.uint()?,
        cancelled_at_s: columns.opt_uint()?,
    })
}

fn vouchers_of(rows: Vec<Columns>) -> Result<Vec<VoucherRow>, StoreError> {
    rows.into_iter().map(voucher_of).collect()
}

/// The count a `count(*)` query answers (none: zero).
fn count(read: &mut TableRead<'_>, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    match sql::query_one(read, sql, params)? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// The product with this id.
pub fn product(read: &mut TableRead<'_>, id: u128) -> Result<Option<ProductRow>, StoreError> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM voucher_products WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(product_of)
        .transpose()
}

/// The catalogue ordered by (brand, name, id), every product or the enabled ones only. The
/// catalogue is bounded by the platform (10,000 products), so this answers it whole.
pub fn products(
    read: &mut TableRead<'_>,
    enabled_only: bool,
) -> Result<Vec<ProductRow>, StoreError> {
    let filter = if enabled_only {
        "WHERE enabled = 1"
    } else {
        ""
    };
    let sql =
        format!("SELECT {PRODUCT_COLUMNS} FROM voucher_products {filter} ORDER BY brand, name, id");
    sql::query(read, &sql, &[])?
        .into_iter()
        .map(product_of)
        .collect()
}

/// How many products the catalogue has (enabled or not).
pub fn product_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    count(
        read,
        "SELECT CAST(count(*) AS BIGINT) FROM voucher_products",
        &[],
    )
}

/// The voucher with this id.
pub fn voucher(read: &mut TableRead<'_>, id: u128) -> Result<Option<VoucherRow>, StoreError> {
    let sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(voucher_of)
        .transpose()
}

/// The voucher whose code has this blind index (what a till presents, once indexed).
pub fn voucher_by_code(
    read: &mut TableRead<'_>,
    code_index: [u8; 32],
) -> Result<Option<VoucherRow>, StoreError> {
    let sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE code_index = ?1");
    sql::query_one(read, &sql, &[Value::bytes(&code_index)])?
        .map(voucher_of)
        .transpose()
}

/// The member's voucher bought under this idempotency key.
pub fn voucher_by_key(
    read: &mut TableRead<'_>,
    member_id: u128,
    key: &str,
) -> Result<Option<VoucherRow>, StoreError> {
    let sql = format!(
        "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE member_id = ?1 AND idempotency_key = ?2"
    );
    let params = [Value::id(member_id), Value::text(key)];
    sql::query_one(read, &sql, &params)?
        .map(voucher_of)
        .transpose()
}

/// A member's vouchers newest first (id descending), ids below `before` (`None`: from the
/// newest), at most `limit` (capped at [`VOUCHERS_PAGE_MAX`]).
pub fn member_vouchers(
    read: &mut TableRead<'_>,
    member_id: u128,
    before: Option<u128>,
    limit: usize,
) -> Result<Vec<VoucherRow>, StoreError> {
    let sql = format!(
        "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE member_id = ?1 AND id < ?2
         ORDER BY id DESC LIMIT ?3"
    );
    // No cursor: 17 bytes of 0xFF sort after every 16-byte id.
    let before = sql::before_id(before);
    let params = [
        Value::id(member_id),
        before,
        sql::limit(limit, VOUCHERS_PAGE_MAX),
    ];
    vouchers_of(sql::query(read, &sql, &params)?)
}

/// How many of the member's vouchers are active (unused), through `vouchers_active`.
pub fn active_count(read: &mut TableRead<'_>, member_id: u128) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(count(*) AS BIGINT) FROM vouchers
        WHERE member_id = ?1 AND status = 'active'";
    count(read, sql, &[Value::id(member_id)])
}

/// Vouchers whose purchase or cancel is under way (pending or cancelling), by id, ids
/// after `after` (`None`: from the start), at most `limit` (capped at
/// [`VOUCHERS_PAGE_MAX`]): what start finishes.
pub fn open_vouchers(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<VoucherRow>, StoreError> {
    let sql = format!(
        "SELECT {VOUCHER_COLUMNS} FROM vouchers
         WHERE status IN ('pending', 'cancelling') AND id > ?1
         ORDER BY id LIMIT ?2"
    );
    // No cursor: an empty blob sorts before every id.
    let after = sql::after_id(after);
    vouchers_of(sql::query(
        read,
        &sql,
        &[after, sql::limit(limit, VOUCHERS_PAGE_MAX)],
    )?)
}
