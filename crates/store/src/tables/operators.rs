//! The operators context's tables: the people who run the platform, their sessions, and the
//! API keys their scripts use.
//!
//! ```sql
//! operators (id 16-byte id, login text (unique, lower case), display_name text,
//!   role 'operator' | 'finance' | 'support' | 'auditor',
//!   password_hash text (an argon2id PHC string),
//!   totp_secret_sealed (the second factor's secret, AEAD ciphertext),
//!   totp_last_step (the last TOTP step accepted: a code is never accepted twice),
//!   enabled 0 | 1, failed_logins, locked_until_s, created_at_s, changed_at_s)
//! operator_sessions (token_hash 32 bytes (SHA-256 of the bearer token), operator_id,
//!   created_at_s, expires_at_s, revoked 0 | 1, source text (the address it came from))
//! api_keys (id 16-byte id, token_hash 32 bytes (unique), owner text (the login that made
//!   it, or `bootstrap`), name text, permissions text (space-separated names),
//!   created_at_s, expires_at_s, revoked 0 | 1)
//! ```
//!
//! Bearer tokens are never stored: a session or a key is found by the SHA-256 of the token
//! the request carries. A token is 32 random bytes, so its hash cannot be inverted and a
//! lookup by hash reveals nothing an attacker could use to guess one.
//!
//! Indexes, each for the queries named:
//! - `operators_by_login` (`login`), unique: a login names one operator ([`operator_by_login`]);
//! - `operator_sessions_by_operator` (`operator_id, created_at_s`): the sessions to end when an
//!   operator is disabled ([`sessions_of`]);
//! - `api_keys_by_token` (`token_hash`), unique: the key a request carries ([`api_key_by_token`]);
//! - `api_keys_by_owner` (`owner, created_at_s, id`): the keys an operator made ([`api_keys_of`]).

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page answers.
pub const OPERATORS_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal, $bytewise:literal) => {
        concat!(
            "CREATE TABLE operators (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                login text",
            $bytewise,
            " NOT NULL,
                display_name text NOT NULL,
                role text NOT NULL CHECK (role IN ('operator', 'finance', 'support', 'auditor')),
                password_hash text NOT NULL,
                totp_secret_sealed bytea NOT NULL,
                totp_last_step bigint NOT NULL,
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                failed_logins bigint NOT NULL,
                locked_until_s bigint NOT NULL,
                created_at_s bigint NOT NULL,
                changed_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX operators_by_login ON operators (login);
            CREATE TABLE operator_sessions (
                token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                operator_id bytea NOT NULL CHECK (length(operator_id) = 16),
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL,
                revoked bigint NOT NULL CHECK (revoked IN (0, 1)),
                source text NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX operator_sessions_by_operator
                ON operator_sessions (operator_id, created_at_s);
            CREATE TABLE api_keys (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
                owner text",
            $bytewise,
            " NOT NULL,
                name text NOT NULL,
                permissions text NOT NULL,
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL,
                revoked bigint NOT NULL CHECK (revoked IN (0, 1))
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX api_keys_by_token ON api_keys (token_hash);
            CREATE INDEX api_keys_by_owner ON api_keys (owner, created_at_s, id);"
        )
    };
}

/// The tables on SQLite (migration 17).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID", "");
/// The tables on PostgreSQL (migration 17).
pub(crate) const POSTGRES_TABLES: &str = tables!("", " COLLATE \"C\"");

/// An operator, as `operators` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRow {
    pub id: u128,
    /// Lower case; unique.
    pub login: String,
    pub display_name: String,
    /// `operator`, `finance`, `support` or `auditor`.
    pub role: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    /// The TOTP secret, sealed with the data key.
    pub totp_secret_sealed: Vec<u8>,
    /// The last TOTP step accepted (0: none yet).
    pub totp_last_step: u64,
    pub enabled: bool,
    /// Wrong logins since the last good one.
    pub failed_logins: u64,
    /// No login is tried before this second.
    pub locked_until_s: u64,
    pub created_at_s: u64,
    pub changed_at_s: u64,
}

/// An operator's session, as `operator_sessions` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the bearer token.
    pub token_hash: [u8; 32],
    pub operator_id: u128,
    pub created_at_s: u64,
    pub expires_at_s: u64,
    pub revoked: bool,
    pub source: String,
}

/// An API key, as `api_keys` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: u128,
    /// SHA-256 of the bearer token.
    pub token_hash: [u8; 32],
    /// The login that made it, or `bootstrap`.
    pub owner: String,
    pub name: String,
    /// Permission names, separated by single spaces.
    pub permissions: String,
    pub created_at_s: u64,
    pub expires_at_s: u64,
    pub revoked: bool,
}

/// A change to the operators context's tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorWrite {
    /// Inserts or replaces the operator (by id).
    Operator(OperatorRow),
    /// Inserts or replaces the session (by token hash).
    Session(SessionRow),
    /// Inserts or replaces the key (by id).
    ApiKey(ApiKeyRow),
    /// Ends every session of the operator.
    RevokeSessionsOf(u128),
}

const OPERATOR_COLUMNS: &str = "id, login, display_name, role, password_hash, totp_secret_sealed,
    totp_last_step, enabled, failed_logins, locked_until_s, created_at_s, changed_at_s";

const SESSION_COLUMNS: &str =
    "token_hash, operator_id, created_at_s, expires_at_s, revoked, source";

const API_KEY_COLUMNS: &str =
    "id, token_hash, owner, name, permissions, created_at_s, expires_at_s, revoked";

impl Row for OperatorWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = match self {
            OperatorWrite::Operator(row) => operator_statement(row)?,
            OperatorWrite::Session(row) => session_statement(row)?,
            OperatorWrite::ApiKey(row) => api_key_statement(row)?,
            OperatorWrite::RevokeSessionsOf(operator_id) => (
                "UPDATE operator_sessions SET revoked = 1 WHERE operator_id = ?1",
                vec![Value::id(*operator_id)],
            ),
        };
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

fn operator_statement(row: &OperatorRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO operators (id, login, display_name, role, password_hash,
            totp_secret_sealed, totp_last_step, enabled, failed_logins, locked_until_s,
            created_at_s, changed_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET login = excluded.login,
            display_name = excluded.display_name, role = excluded.role,
            password_hash = excluded.password_hash,
            totp_secret_sealed = excluded.totp_secret_sealed,
            totp_last_step = excluded.totp_last_step, enabled = excluded.enabled,
            failed_logins = excluded.failed_logins, locked_until_s = excluded.locked_until_s,
            created_at_s = excluded.created_at_s, changed_at_s = excluded.changed_at_s",
        vec![
            Value::id(row.id),
            Value::text(&row.login),
            Value::text(&row.display_name),
            Value::text(&row.role),
            Value::text(&row.password_hash),
            Value::bytes(&row.totp_secret_sealed),
            Value::uint(row.totp_last_step)?,
            Value::flag(row.enabled),
            Value::uint(row.failed_logins)?,
            Value::uint(row.locked_until_s)?,
            Value::uint(row.created_at_s)?,
            Value::uint(row.changed_at_s)?,
        ],
    ))
}

fn session_statement(row: &SessionRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO operator_sessions (token_hash, operator_id, created_at_s, expires_at_s,
            revoked, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (token_hash) DO UPDATE SET operator_id = excluded.operator_id,
            created_at_s = excluded.created_at_s, expires_at_s = excluded.expires_at_s,
            revoked = excluded.revoked, source = excluded.source",
        vec![
            Value::bytes(&row.token_hash),
            Value::id(row.operator_id),
            Value::uint(row.created_at_s)?,
            Value::uint(row.expires_at_s)?,
            Value::flag(row.revoked),
            Value::text(&row.source),
        ],
    ))
}

fn api_key_statement(row: &ApiKeyRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO api_keys (id, token_hash, owner, name, permissions, created_at_s,
            expires_at_s, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash,
            owner = excluded.owner, name = excluded.name, permissions = excluded.permissions,
            created_at_s = excluded.created_at_s, expires_at_s = excluded.expires_at_s,
            revoked = excluded.revoked",
        vec![
            Value::id(row.id),
            Value::bytes(&row.token_hash),
            Value::text(&row.owner),
            Value::text(&row.name),
            Value::text(&row.permissions),
            Value::uint(row.created_at_s)?,
            Value::uint(row.expires_at_s)?,
            Value::flag(row.revoked),
        ],
    ))
}

fn operator_of(mut columns: Columns) -> Result<OperatorRow, StoreError> {
    Ok(OperatorRow {
        id: columns.id()?,
        login: columns.text()?,
        display_name: columns.text()?,
        role: columns.text()?,
        password_hash: columns.text()?,
        totp_secret_sealed: columns.bytes()?,
        totp_last_step: columns.uint()?,
        enabled: columns.flag()?,
        failed_logins: columns.uint()?,
        locked_until_s: columns.uint()?,
        created_at_s: columns.uint()?,
        changed_at_s: columns.uint()?,
    })
}

fn session_of(mut columns: Columns) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        token_hash: columns.hash()?,
        operator_id: columns.id()?,
        created_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
        revoked: columns.flag()?,
        source: columns.text()?,
    })
}

fn api_key_of(mut columns: Columns) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        id: columns.id()?,
        token_hash: columns.hash()?,
        owner: columns.text()?,
        name: columns.text()?,
        permissions: columns.text()?,
        created_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
        revoked: columns.flag()?,
    })
}

/// The operator with this id.
pub fn operator(read: &mut TableRead<'_>, id: u128) -> Result<Option<OperatorRow>, StoreError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(operator_of)
        .transpose()
}

/// The operator with this login (lower case).
pub fn operator_by_login(
    read: &mut TableRead<'_>,
    login: &str,
) -> Result<Option<OperatorRow>, StoreError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE login = ?1");
    sql::query_one(read, &sql, &[Value::text(login)])?
        .map(operator_of)
        .transpose()
}

/// Operators by login, strictly after `after` (`None`: from the first), at most `limit`
/// (capped at [`OPERATORS_PAGE_MAX`]).
pub fn operators_page(
    read: &mut TableRead<'_>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<OperatorRow>, StoreError> {
    let sql = format!(
        "SELECT {OPERATOR_COLUMNS} FROM operators WHERE login > ?1 ORDER BY login LIMIT ?2"
    );
    let after = Value::text(after.unwrap_or(""));
    sql::query(read, &sql, &[after, sql::limit(limit, OPERATORS_PAGE_MAX)])?
        .into_iter()
        .map(operator_of)
        .collect()
}

/// How many operators there are (enabled or not).
pub fn operator_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    match sql::query_one(read, "SELECT CAST(count(*) AS BIGINT) FROM operators", &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// The session whose token hashes to `token_hash`.
pub fn session(
    read: &mut TableRead<'_>,
    token_hash: &[u8; 32],
) -> Result<Option<SessionRow>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM operator_sessions WHERE token_hash = ?1");
    sql::query_one(read, &sql, &[Value::bytes(token_hash)])?
        .map(session_of)
        .transpose()
}

/// An operator's sessions, oldest first, at most `limit` (capped at [`OPERATORS_PAGE_MAX`]).
pub fn sessions_of(
    read: &mut TableRead<'_>,
    operator_id: u128,
    limit: usize,
) -> Result<Vec<SessionRow>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM operator_sessions WHERE operator_id = ?1
         ORDER BY created_at_s LIMIT ?2"
    );
    let params = [
        Value::id(operator_id),
        sql::limit(limit, OPERATORS_PAGE_MAX),
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(session_of)
        .collect()
}

/// The API key whose token hashes to `token_hash`.
pub fn api_key_by_token(
    read: &mut TableRead<'_>,
    token_hash: &[u8; 32],
) -> Result<Option<ApiKeyRow>, StoreError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE token_hash = ?1");
    sql::query_one(read, &sql, &[Value::bytes(token_hash)])?
        .map(api_key_of)
        .transpose()
}

/// The API key with this id.
pub fn api_key(read: &mut TableRead<'_>, id: u128) -> Result<Option<ApiKeyRow>, StoreError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(api_key_of)
        .transpose()
}

/// The keys `owner` made, oldest first, at most `limit` (capped at [`OPERATORS_PAGE_MAX`]).
pub fn api_keys_of(
    read: &mut TableRead<'_>,
    owner: &str,
    limit: usize,
) -> Result<Vec<ApiKeyRow>, StoreError> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE owner = ?1
         ORDER BY created_at_s, id LIMIT ?2"
    );
    let params = [Value::text(owner), sql::limit(limit, OPERATORS_PAGE_MAX)];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(api_key_of)
        .collect()
}

/// How many live (not revoked) keys `owner` has.
pub fn live_api_key_count_of(read: &mut TableRead<'_>, owner: &str) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(count(*) AS BIGINT) FROM api_keys WHERE owner = ?1 AND revoked = 0";
    match sql::query_one(read, sql, &[Value::text(owner)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
