//! The portals' people: a merchant's staff, each seeing one store or every store of a brand
//! (seed 000 §2-3), and a partner's staff, seeing their partner; and their sessions.
//!
//! ```sql
//! portal_users (id 16-byte id, login text (unique, lower case), display_name text,
//!   brand text (every store of the brand), merchant_id (one store) or partner_id (one
//!   partner): exactly one,
//!   password_hash text (an argon2id PHC string), enabled 0 | 1,
//!   failed_logins, locked_until_s (the delay after wrong passwords), created_at_s)
//! portal_sessions (token_hash 32 bytes (SHA-256 of the bearer token), user_id,
//!   created_at_s, expires_at_s)
//! ```
//!
//! Tokens are never stored: a session is found by the SHA-256 of the token a request
//! carries (as operators' sessions are).
//!
//! Indexes, each for the queries named:
//! - `portal_users_by_login` (`login`), unique: a login names one user ([`user_by_login`]);
//! - `portal_sessions_by_user` (`user_id, created_at_s`): the sessions to end when a user
//!   is disabled ([`RemoveSessionsOf`](PortalUserWrite::RemoveSessionsOf));
//! - `portal_sessions_by_expiry` (`expires_at_s`): the expired sessions housekeeping drops.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal, $bytewise:literal) => {
        concat!(
            "CREATE TABLE portal_users (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                login text",
            $bytewise,
            " NOT NULL,
                display_name text NOT NULL,
                brand text,
                merchant_id bytea CHECK (merchant_id IS NULL OR length(merchant_id) = 16),
                partner_id bytea CHECK (partner_id IS NULL OR length(partner_id) = 16),
                password_hash text NOT NULL,
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                failed_logins bigint NOT NULL,
                locked_until_s bigint NOT NULL,
                created_at_s bigint NOT NULL,
                CHECK ((CASE WHEN brand IS NULL THEN 0 ELSE 1 END)
                    + (CASE WHEN merchant_id IS NULL THEN 0 ELSE 1 END)
                    + (CASE WHEN partner_id IS NULL THEN 0 ELSE 1 END) = 1)
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX portal_users_by_login ON portal_users (login);
            CREATE TABLE portal_sessions (
                token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                user_id bytea NOT NULL CHECK (length(user_id) = 16),
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX portal_sessions_by_user ON portal_sessions (user_id, created_at_s);
            CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at_s);"
        )
    };
}

/// The tables on SQLite (migration 23).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID", "");
/// The tables on PostgreSQL (migration 23).
pub(crate) const POSTGRES_TABLES: &str = tables!("", " COLLATE \"C\"");

/// What a portal user sees: one store, every store of a brand, or one partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortalScope {
    Brand(String),
    Merchant(u128),
    Partner(u128),
}

/// A portal user, as `portal_users` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalUserRow {
    pub id: u128,
    /// Lower case; unique.
    pub login: String,
    pub display_name: String,
    pub scope: PortalScope,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub enabled: bool,
    /// Wrong passwords since the last good one.
    pub failed_logins: u64,
    /// No login is tried before this second.
    pub locked_until_s: u64,
    pub created_at_s: u64,
}

/// A portal user's session, as `portal_sessions` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalSessionRow {
    pub token_hash: [u8; 32],
    pub user_id: u128,
    pub created_at_s: u64,
    pub expires_at_s: u64,
}

/// A change to the portals' tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortalUserWrite {
    /// Inserts or replaces the user (by id).
    User(PortalUserRow),
    Session(PortalSessionRow),
    RemoveSession([u8; 32]),
    RemoveSessionsOf(u128),
    /// Drops sessions that expired before this second (at most `limit` of them).
    RemoveExpiredSessions {
        before_s: u64,
        limit: u64,
    },
}

impl Row for PortalUserWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            PortalUserWrite::User(row) => write_user(tx, row)?,
            PortalUserWrite::Session(row) => {
                let sql = "INSERT INTO portal_sessions (token_hash, user_id, created_at_s,
                        expires_at_s) VALUES (?1, ?2, ?3, ?4)";
                let params = [
                    Value::bytes(&row.token_hash),
                    Value::id(row.user_id),
                    Value::uint(row.created_at_s)?,
                    Value::uint(row.expires_at_s)?,
                ];
                sql::execute(tx, sql, &params)?;
            }
            PortalUserWrite::RemoveSession(token_hash) => {
                let sql = "DELETE FROM portal_sessions WHERE token_hash = ?1";
                sql::execute(tx, sql, &[Value::bytes(token_hash)])?;
            }
            PortalUserWrite::RemoveSessionsOf(user_id) => {
                let sql = "DELETE FROM portal_sessions WHERE user_id = ?1";
                sql::execute(tx, sql, &[Value::id(*user_id)])?;
            }
            PortalUserWrite::RemoveExpiredSessions { before_s, limit } => {
                let sql = "DELETE FROM portal_sessions WHERE token_hash IN (
                        SELECT token_hash FROM portal_sessions WHERE expires_at_s < ?1
                        ORDER BY expires_at_s LIMIT ?2)";
                sql::execute(tx, sql, &[Value::uint(*before_s)?, Value::uint(*limit)?])?;
            }
        }
        Ok(())
    }
}

fn write_user(tx: &mut TableTx<'_, '_>, row: &PortalUserRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO portal_users (id, login, display_name, brand, merchant_id,
            partner_id, password_hash, enabled, failed_logins, locked_until_s, created_at_s)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
        ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,
            brand = excluded.brand, merchant_id = excluded.merchant_id,
            partner_id = excluded.partner_id,
            password_hash = excluded.password_hash, enabled = excluded.enabled,
            failed_logins = excluded.failed_logins, locked_until_s = excluded.locked_until_s";
    let (brand, merchant_id, partner_id) = match &row.scope {
        PortalScope::Brand(brand) => (Value::text(brand), Value::Null, Value::Null),
        PortalScope::Merchant(id) => (Value::Null, Value::id(*id), Value::Null),
        PortalScope::Partner(id) => (Value::Null, Value::Null, Value::id(*id)),
    };
    let params = [
        Value::id(row.id),
        Value::text(&row.login),
        Value::text(&row.display_name),
        brand,
        merchant_id,
        partner_id,
        Value::text(&row.password_hash),
        Value::flag(row.enabled),
        Value::uint(row.failed_logins)?,
        Value::uint(row.locked_until_s)?,
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

const USER_COLUMNS: &str = "id, login, display_name, brand, merchant_id, partner_id,
    password_hash, enabled, failed_logins, locked_until_s, created_at_s";

fn user_of(mut columns: Columns) -> Result<PortalUserRow, StoreError> {
    let id = columns.id()?;
    let login = columns.text()?;
    let display_name = columns.text()?;
    let brand = columns.opt_text()?;
    let merchant_id = columns.opt_id()?;
    let partner_id = columns.opt_id()?;
    let scope = match (brand, merchant_id, partner_id) {
        (Some(brand), None, None) => PortalScope::Brand(brand),
        (None, Some(merchant_id), None) => PortalScope::Merchant(merchant_id),
        (None, None, Some(partner_id)) => PortalScope::Partner(partner_id),
        _ => return Err(sql::corrupt("a portal user has one scope")),
    };
    Ok(PortalUserRow {
        id,
        login,
        display_name,
        scope,
        password_hash: columns.text()?,
        enabled: columns.flag()?,
        failed_logins: columns.uint()?,
        locked_until_s: columns.uint()?,
        created_at_s: columns.uint()?,
    })
}

/// The user with this login (lower case).
pub fn user_by_login(
    read: &mut TableRead<'_>,
    login: &str,
) -> Result<Option<PortalUserRow>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM portal_users WHERE login = ?1");
    sql::query_one(read, &sql, &[Value::text(login)])?
        .map(user_of)
        .transpose()
}

/// The user with this id.
pub fn user(read: &mut TableRead<'_>, id: u128) -> Result<Option<PortalUserRow>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM portal_users WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(user_of)
        .transpose()
}

/// How many merchant users there are.
pub fn user_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    match sql::query_one(read, "SELECT count(*) FROM portal_users", &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// Whether any session expired before `before_s` (an indexed look, so housekeeping writes
/// nothing when there is nothing to drop).
pub fn expired_sessions_exist(read: &mut TableRead<'_>, before_s: u64) -> Result<bool, StoreError> {
    let sql = "SELECT 1 FROM portal_sessions WHERE expires_at_s < ?1 LIMIT 1";
    Ok(sql::query_one(read, sql, &[Value::uint(before_s)?])?.is_some())
}

/// The session of a token's hash, with its user.
pub fn session(
    read: &mut TableRead<'_>,
    token_hash: &[u8; 32],
) -> Result<Option<(PortalSessionRow, PortalUserRow)>, StoreError> {
    let sql = "SELECT token_hash, user_id, created_at_s, expires_at_s FROM portal_sessions
        WHERE token_hash = ?1";
    let Some(mut columns) = sql::query_one(read, sql, &[Value::bytes(token_hash)])? else {
        return Ok(None);
    };
    let session = PortalSessionRow {
        token_hash: columns.hash()?,
        user_id: columns.id()?,
        created_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
    };
    Ok(user(read, session.user_id)?.map(|user| (session, user)))
}
