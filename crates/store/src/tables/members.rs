//! The members context's tables: members, their devices, their sessions and the phone
//! verifications that precede a sign-up.
//!
//! ```sql
//! members (id, phone_index 32-byte blind index, phone_sealed, name_sealed, pin_hash,
//!   status 'active' | 'withdrawn', locked 0 | 1 (by an operator), created_at_s,
//!   withdrawn_at_s, payout_sealed, payout_amount)
//! member_devices (member_id, id, name_sealed, platform 'ios' | 'android' | 'web',
//!   created_at_s)
//! member_sessions (token_hash SHA-256 of the bearer token, id, member_id, created_at_s,
//!   expires_at_s)
//! phone_verifications (id, phone_index, phone_sealed, code_hash, created_at_s,
//!   expires_at_s, attempts, used 0 | 1)
//! login_guards (phone_index, failures, last_failed_at_s)     -- migration 20
//! member_login_devices (token_hash, member_id, created_at_s, last_used_at_s)
//! ```
//!
//! Wrong PINs are counted per phone (`login_guards`), whether or not the phone belongs to a
//! member, so an answer never tells which it is. A device that proved the phone by SMS gets
//! a token whose hash `member_login_devices` keeps; logging in from it needs no SMS again.
//!
//! Personal data is sealed by the platform before it reaches a row (`*_sealed`: AEAD
//! ciphertext); a phone is found by its blind index, unique among active members
//! (`members_by_phone`). Sessions are found by the hash of their token, never the token.
//! Indexes serve the queries below and nothing else: sessions by member (a lock-out or a
//! withdrawal ends them all) and by expiry (purged in batches), verifications by phone and
//! time (the hourly limit counts them) and by time (purged).
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Expired sessions or verifications one purge deletes (a purge runs at most once a
/// resolver tick, so a backlog drains without one long transaction).
pub const PURGE_BATCH_MAX: u64 = 1000;
/// Migration 20 (members' safety): wrong PINs counted per phone instead of per member,
/// and the devices a member proved by SMS. The locks wrong PINs made before become the
/// delays `login_guards` drives (the count starts again); `locked` is an operator's from now.
macro_rules! safety_migration {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE login_guards (
                phone_index bytea PRIMARY KEY CHECK (length(phone_index) = 32),
                failures bigint NOT NULL CHECK (failures > 0),
                last_failed_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX login_guards_by_time ON login_guards (last_failed_at_s);
            CREATE TABLE member_login_devices (
                token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                created_at_s bigint NOT NULL,
                last_used_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX member_login_devices_by_member
                ON member_login_devices (member_id, last_used_at_s);
            UPDATE members SET locked = 0;
            ALTER TABLE members DROP COLUMN failed_pins;"
        )
    };
}

/// Migration 20 on SQLite.
pub(crate) const SQLITE_SAFETY_MIGRATION: &str = safety_migration!(" WITHOUT ROWID");
/// Migration 20 on PostgreSQL.
pub(crate) const POSTGRES_SAFETY_MIGRATION: &str = safety_migration!("");

/// A member's devices proven by SMS that stay trusted; past it the least recently used one
/// is forgotten (it proves itself by SMS again).
pub const LOGIN_DEVICES_PER_MEMBER_MAX: u64 = 10;

/// Most member ids one page of [`member_ids`] answers.
pub const MEMBER_IDS_PAGE_MAX: usize = 10_000;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE members (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                phone_index bytea NOT NULL CHECK (length(phone_index) = 32),
                phone_sealed bytea NOT NULL,
                name_sealed bytea NOT NULL,
                pin_hash text NOT NULL,
                status text NOT NULL CHECK (status IN ('active', 'withdrawn')),
                failed_pins bigint NOT NULL CHECK (failed_pins >= 0),
                locked bigint NOT NULL CHECK (locked IN (0, 1)),
                created_at_s bigint NOT NULL,
                withdrawn_at_s bigint,
                payout_sealed bytea NOT NULL,
                payout_amount bigint NOT NULL CHECK (payout_amount >= 0)
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX members_by_phone ON members (phone_index)
                WHERE status = 'active';
            CREATE TABLE member_devices (
                member_id bytea NOT NULL,
                id bytea NOT NULL CHECK (length(id) = 16),
                name_sealed bytea NOT NULL,
                platform text NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
                created_at_s bigint NOT NULL,
                PRIMARY KEY (member_id, id)
            )",
            $without_rowid,
            ";
            CREATE TABLE member_sessions (
                token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                id bytea NOT NULL,
                member_id bytea NOT NULL,
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX member_sessions_by_member ON member_sessions (member_id);
            CREATE INDEX member_sessions_by_expiry ON member_sessions (expires_at_s);
            CREATE TABLE phone_verifications (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                phone_index bytea NOT NULL,
                phone_sealed bytea NOT NULL,
                code_hash bytea NOT NULL,
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL,
                attempts bigint NOT NULL CHECK (attempts >= 0),
                used bigint NOT NULL CHECK (used IN (0, 1))
            )",
            $without_rowid,
            ";
            CREATE INDEX phone_verifications_by_phone
                ON phone_verifications (phone_index, created_at_s);
            CREATE INDEX phone_verifications_by_time ON phone_verifications (created_at_s);"
        )
    };
}

/// The tables on SQLite (migration 8).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 8).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Whether a member may use their account (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Withdrawn,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Withdrawn => "withdrawn",
        }
    }

    fn parse(text: &str) -> Result<MemberStatus, StoreError> {
        match text {
            "active" => Ok(MemberStatus::Active),
            "withdrawn" => Ok(MemberStatus::Withdrawn),
            _ => Err(sql::corrupt("a member status")),
        }
    }
}

/// A member, as `members` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub id: u128,
    pub phone_index: [u8; 32],
    pub phone_sealed: Vec<u8>,
    pub name_sealed: Vec<u8>,
    pub pin_hash: String,
    pub status: MemberStatus,
    /// Locked by an operator: no login, no payment, until an operator unlocks.
    pub locked: bool,
    pub created_at_s: u64,
    pub withdrawn_at_s: Option<u64>,
    pub payout_sealed: Vec<u8>,
    pub payout_amount: u64,
}

/// A member's registered device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    pub member_id: u128,
    pub id: u128,
    pub name_sealed: Vec<u8>,
    pub platform: String,
    pub created_at_s: u64,
}

/// A member's session, under the hash of its bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: [u8; 32],
    pub id: u128,
    pub member_id: u128,
    pub created_at_s: u64,
    pub expires_at_s: u64,
}

/// A code sent to a phone, to be proven before a sign-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationRow {
    pub id: u128,
    pub phone_index: [u8; 32],
    pub phone_sealed: Vec<u8>,
    pub code_hash: [u8; 32],
    pub created_at_s: u64,
    pub expires_at_s: u64,
    pub attempts: u32,
    pub used: bool,
}

/// Wrong PINs in a row for a phone (member or not), and when the last one came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginGuardRow {
    pub phone_index: [u8; 32],
    pub failures: u32,
    pub last_failed_at_s: u64,
}

/// A device that proved its member's phone by SMS, under the hash of its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginDeviceRow {
    pub token_hash: [u8; 32],
    pub member_id: u128,
    pub created_at_s: u64,
    pub last_used_at_s: u64,
}

/// What a bearer token proves: its session's member and expiry, with the member's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionGate {
    pub member_id: u128,
    pub expires_at_s: u64,
    pub status: MemberStatus,
    pub locked: bool,
}

/// A change to the members context's tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberWrite {
    /// Inserts or replaces the member.
    Member(MemberRow),
    Device(DeviceRow),
    RemoveDevice {
        member_id: u128,
        id: u128,
    },
    RemoveDevicesOf(u128),
    Session(SessionRow),
    RemoveSession([u8; 32]),
    RemoveSessionsOf(u128),
    /// Inserts or replaces the verification.
    Verification(VerificationRow),
    /// Inserts or replaces the phone's count of wrong PINs.
    LoginGuard(LoginGuardRow),
    /// Forgets the phone's wrong PINs (a right PIN, an SMS proof, an operator's unlock).
    RemoveLoginGuard([u8; 32]),
    /// Inserts the device, or marks it used; then forgets the member's least recently used
    /// devices past [`LOGIN_DEVICES_PER_MEMBER_MAX`].
    LoginDevice(LoginDeviceRow),
    RemoveLoginDevicesOf(u128),
    /// Deletes at most [`PURGE_BATCH_MAX`] sessions expired by `now_s`, as many
    /// verifications expired and older than `verifications_before_s`, and as many login
    /// guards whose last failure came before `guards_before_s`.
    Purge {
        now_s: u64,
        verifications_before_s: u64,
        guards_before_s: u64,
    },
}

const MEMBER_COLUMNS: &str = "id, phone_index, phone_sealed, name_sealed, pin_hash, status,
    locked, created_at_s, withdrawn_at_s, payout_sealed, payout_amount";

impl Row for MemberWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = self.statement()?;
        sql::execute(tx, statement, &params)?;
        match self {
            MemberWrite::Purge {
                now_s,
                guards_before_s,
                ..
            } => {
                let sql = "DELETE FROM member_sessions WHERE token_hash IN (SELECT token_hash
                    FROM member_sessions WHERE expires_at_s <= ?1 LIMIT ?2)";
                sql::execute(tx, sql, &[Value::uint(*now_s)?, purge_limit()])?;
                let sql = "DELETE FROM login_guards WHERE phone_index IN (SELECT phone_index
                    FROM login_guards WHERE last_failed_at_s < ?1 LIMIT ?2)";
                sql::execute(tx, sql, &[Value::uint(*guards_before_s)?, purge_limit()])?;
            }
            MemberWrite::LoginDevice(row) => {
                let sql = "DELETE FROM member_login_devices WHERE member_id = ?1
                    AND token_hash NOT IN (SELECT token_hash FROM member_login_devices
                        WHERE member_id = ?1 ORDER BY last_used_at_s DESC, token_hash
                        LIMIT ?2)";
                let kept = Value::uint(LOGIN_DEVICES_PER_MEMBER_MAX)?;
                sql::execute(tx, sql, &[Value::id(row.member_id), kept])?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn purge_limit() -> Value {
    Value::Int(i64::try_from(PURGE_BATCH_MAX).expect("the purge batch fits"))
}

impl MemberWrite {
    fn statement(&self) -> Result<(&'static str, Vec<Value>), StoreError> {
        Ok(match self {
            MemberWrite::Member(row) => (
                "INSERT INTO members (id, phone_index, phone_sealed, name_sealed, pin_hash,
                    status, locked, created_at_s, withdrawn_at_s, payout_sealed,
                    payout_amount)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO UPDATE SET phone_index = excluded.phone_index,
                    phone_sealed = excluded.phone_sealed, name_sealed = excluded.name_sealed,
                    pin_hash = excluded.pin_hash, status = excluded.status,
                    locked = excluded.locked,
                    created_at_s = excluded.created_at_s,
                    withdrawn_at_s = excluded.withdrawn_at_s,
                    payout_sealed = excluded.payout_sealed,
                    payout_amount = excluded.payout_amount",
                vec![
                    Value::id(row.id),
                    Value::bytes(&row.phone_index),
                    Value::bytes(&row.phone_sealed),
                    Value::bytes(&row.name_sealed),
                    Value::text(&row.pin_hash),
                    Value::text(row.status.as_str()),
                    Value::flag(row.locked),
                    Value::uint(row.created_at_s)?,
                    Value::opt_uint(row.withdrawn_at_s)?,
                    Value::bytes(&row.payout_sealed),
                    Value::uint(row.payout_amount)?,
                ],
            ),
            MemberWrite::Device(row) => (
                "INSERT INTO member_devices (member_id, id, name_sealed, platform, created_at_s)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (member_id, id) DO UPDATE SET name_sealed = excluded.name_sealed,
                    platform = excluded.platform, created_at_s = excluded.created_at_s",
                vec![
                    Value::id(row.member_id),
                    Value::id(row.id),
                    Value::bytes(&row.name_sealed),
                    Value::text(&row.platform),
                    Value::uint(row.created_at_s)?,
                ],
            ),
            MemberWrite::RemoveDevice { member_id, id } => (
                "DELETE FROM member_devices WHERE member_id = ?1 AND id = ?2",
                vec![Value::id(*member_id), Value::id(*id)],
            ),
            MemberWrite::RemoveDevicesOf(member_id) => (
                "DELETE FROM member_devices WHERE member_id = ?1",
                vec![Value::id(*member_id)],
            ),
            MemberWrite::Session(row) => (
                "INSERT INTO member_sessions (token_hash, id, member_id, created_at_s,
                    expires_at_s) VALUES (?1, ?2, ?3, ?4, ?5)",
                vec![
                    Value::bytes(&row.token_hash),
                    Value::id(row.id),
                    Value::id(row.member_id),
                    Value::uint(row.created_at_s)?,
                    Value::uint(row.expires_at_s)?,
                ],
            ),
            MemberWrite::RemoveSession(token_hash) => (
                "DELETE FROM member_sessions WHERE token_hash = ?1",
                vec![Value::bytes(token_hash)],
            ),
            MemberWrite::RemoveSessionsOf(member_id) => (
                "DELETE FROM member_sessions WHERE member_id = ?1",
                vec![Value::id(*member_id)],
            ),
            MemberWrite::Verification(row) => (
                "INSERT INTO phone_verifications (id, phone_index, phone_sealed, code_hash,
                    created_at_s, expires_at_s, attempts, used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts,
                    used = excluded.used",
                vec![
                    Value::id(row.id),
                    Value::bytes(&row.phone_index),
                    Value::bytes(&row.phone_sealed),
                    Value::bytes(&row.code_hash),
                    Value::uint(row.created_at_s)?,
                    Value::uint(row.expires_at_s)?,
                    Value::Int(i64::from(row.attempts)),
                    Value::flag(row.used),
                ],
            ),
            MemberWrite::LoginGuard(row) => (
                "INSERT INTO login_guards (phone_index, failures, last_failed_at_s)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (phone_index) DO UPDATE SET failures = excluded.failures,
                    last_failed_at_s = excluded.last_failed_at_s",
                vec![
                    Value::bytes(&row.phone_index),
                    Value::Int(i64::from(row.failures)),
                    Value::uint(row.last_failed_at_s)?,
                ],
            ),
            MemberWrite::RemoveLoginGuard(phone_index) => (
                "DELETE FROM login_guards WHERE phone_index = ?1",
                vec![Value::bytes(phone_index)],
            ),
            MemberWrite::LoginDevice(row) => (
                "INSERT INTO member_login_devices (token_hash, member_id, created_at_s,
                    last_used_at_s) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (token_hash) DO UPDATE SET last_used_at_s = excluded.last_used_at_s",
                vec![
                    Value::bytes(&row.token_hash),
                    Value::id(row.member_id),
                    Value::uint(row.created_at_s)?,
                    Value::uint(row.last_used_at_s)?,
                ],
            ),
            MemberWrite::RemoveLoginDevicesOf(member_id) => (
                "DELETE FROM member_login_devices WHERE member_id = ?1",
                vec![Value::id(*member_id)],
            ),
            MemberWrite::Purge {
                now_s,
                verifications_before_s,
                ..
            } => (
                "DELETE FROM phone_verifications WHERE id IN (SELECT id FROM phone_verifications
                    WHERE created_at_s < ?1 AND expires_at_s <= ?2 LIMIT ?3)",
                vec![
                    Value::uint(*verifications_before_s)?,
                    Value::uint(*now_s)?,
                    purge_limit(),
                ],
            ),
        })
    }
}

fn member_of(mut columns: Columns) -> Result<MemberRow, StoreError> {
    Ok(MemberRow {
        id: columns.id()?,
        phone_index: columns.hash()?,
        phone_sealed: columns.bytes()?,
        name_sealed: columns.bytes()?,
        pin_hash: columns.text()?,
        status: MemberStatus::parse(&columns.text()?)?,
        locked: columns.flag()?,
        created_at_s: columns.uint()?,
        withdrawn_at_s: columns.opt_uint()?,
        payout_sealed: columns.bytes()?,
        payout_amount: columns.uint()?,
    })
}

/// The member with this id.
pub fn member(read: &mut TableRead<'_>, id: u128) -> Result<Option<MemberRow>, StoreError> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(member_of)
        .transpose()
}

/// The active member whose phone has this blind index.
pub fn member_by_phone(
    read: &mut TableRead<'_>,
    phone_index: &[u8; 32],
) -> Result<Option<MemberRow>, StoreError> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM members WHERE phone_index = ?1 AND status = 'active'"
    );
    sql::query_one(read, &sql, &[Value::bytes(phone_index)])?
        .map(member_of)
        .transpose()
}

/// The member's devices, oldest first.
pub fn devices(read: &mut TableRead<'_>, member_id: u128) -> Result<Vec<DeviceRow>, StoreError> {
    let sql = "SELECT member_id, id, name_sealed, platform, created_at_s FROM member_devices
        WHERE member_id = ?1 ORDER BY created_at_s, id";
    sql::query(read, sql, &[Value::id(member_id)])?
        .into_iter()
        .map(|mut columns| {
            Ok(DeviceRow {
                member_id: columns.id()?,
                id: columns.id()?,
                name_sealed: columns.bytes()?,
                platform: columns.text()?,
                created_at_s: columns.uint()?,
            })
        })
        .collect()
}

/// The session under this token hash, with its member's state.
pub fn session(
    read: &mut TableRead<'_>,
    token_hash: &[u8; 32],
) -> Result<Option<SessionGate>, StoreError> {
    let sql = "SELECT s.member_id, s.expires_at_s, m.status, m.locked
        FROM member_sessions s JOIN members m ON m.id = s.member_id WHERE s.token_hash = ?1";
    sql::query_one(read, sql, &[Value::bytes(token_hash)])?
        .map(|mut columns| {
            Ok(SessionGate {
                member_id: columns.id()?,
                expires_at_s: columns.uint()?,
                status: MemberStatus::parse(&columns.text()?)?,
                locked: columns.flag()?,
            })
        })
        .transpose()
}

/// The verification with this id.
pub fn verification(
    read: &mut TableRead<'_>,
    id: u128,
) -> Result<Option<VerificationRow>, StoreError> {
    let sql = "SELECT id, phone_index, phone_sealed, code_hash, created_at_s, expires_at_s,
        attempts, used FROM phone_verifications WHERE id = ?1";
    sql::query_one(read, sql, &[Value::id(id)])?
        .map(|mut columns| {
            Ok(VerificationRow {
                id: columns.id()?,
                phone_index: columns.hash()?,
                phone_sealed: columns.bytes()?,
                code_hash: columns.hash()?,
                created_at_s: columns.uint()?,
                expires_at_s: columns.uint()?,
                attempts: columns.u32()?,
                used: columns.flag()?,
            })
        })
        .transpose()
}

/// The phone's count of wrong PINs, if it has one.
pub fn login_guard(
    read: &mut TableRead<'_>,
    phone_index: &[u8; 32],
) -> Result<Option<LoginGuardRow>, StoreError> {
    let sql = "SELECT phone_index, failures, last_failed_at_s FROM login_guards
        WHERE phone_index = ?1";
    sql::query_one(read, sql, &[Value::bytes(phone_index)])?
        .map(|mut columns| {
            Ok(LoginGuardRow {
                phone_index: columns.hash()?,
                failures: columns.u32()?,
                last_failed_at_s: columns.uint()?,
            })
        })
        .transpose()
}

/// The device under this token hash.
pub fn login_device(
    read: &mut TableRead<'_>,
    token_hash: &[u8; 32],
) -> Result<Option<LoginDeviceRow>, StoreError> {
    let sql = "SELECT token_hash, member_id, created_at_s, last_used_at_s
        FROM member_login_devices WHERE token_hash = ?1";
    sql::query_one(read, sql, &[Value::bytes(token_hash)])?
        .map(|mut columns| {
            Ok(LoginDeviceRow {
                token_hash: columns.hash()?,
                member_id: columns.id()?,
                created_at_s: columns.uint()?,
                last_used_at_s: columns.uint()?,
            })
        })
        .transpose()
}

/// How many devices of the member proved themselves by SMS and are still trusted.
pub fn login_device_count(read: &mut TableRead<'_>, member_id: u128) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM member_login_devices WHERE member_id = ?1";
    match sql::query_one(read, sql, &[Value::id(member_id)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// How many verifications were sent to the phone at or after `since_s`.
pub fn verifications_since(
    read: &mut TableRead<'_>,
    phone_index: &[u8; 32],
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM phone_verifications
        WHERE phone_index = ?1 AND created_at_s >= ?2";
    let params = [Value::bytes(phone_index), Value::bound(since_s)];
    match sql::query_one(read, sql, &params)? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// Member ids after `after`, in id order, at most `limit` (capped at
/// [`MEMBER_IDS_PAGE_MAX`]): a walk over every member in bounded memory.
pub fn member_ids(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<u128>, StoreError> {
    let limit = i64::try_from(limit.min(MEMBER_IDS_PAGE_MAX)).expect("the page fits");
    // An empty blob sorts before every id.
    let after = sql::after_id(after);
    let sql = "SELECT id FROM members WHERE id > ?1 ORDER BY id LIMIT ?2";
    sql::query(read, sql, &[after, Value::Int(limit)])?
        .into_iter()
        .map(|mut columns| columns.id())
        .collect()
}

/// How many members there are, by status.
pub fn member_counts(read: &mut TableRead<'_>) -> Result<(u64, u64), StoreError> {
    let sql = "SELECT CAST(count(*) AS BIGINT),
        CAST(coalesce(sum(CASE WHEN status = 'withdrawn' THEN 1 ELSE 0 END), 0) AS BIGINT)
        FROM members";
    match sql::query_one(read, sql, &[])? {
        Some(mut columns) => Ok((columns.uint()?, columns.uint()?)),
        None => Ok((0, 0)),
    }
}

/// Whether a [`MemberWrite::Purge`] at these times would delete anything: an expired
/// session, or a verification past both its expiry and `verifications_before_s` (read
/// through `member_sessions_by_expiry` and `phone_verifications_by_time`, so an idle
/// platform commits no empty purge).
pub fn purge_due(
    read: &mut TableRead<'_>,
    now_s: u64,
    verifications_before_s: u64,
    guards_before_s: u64,
) -> Result<bool, StoreError> {
    let sql = "SELECT CAST(CASE WHEN
            EXISTS (SELECT 1 FROM member_sessions WHERE expires_at_s <= ?1)
            OR EXISTS (SELECT 1 FROM phone_verifications
                       WHERE created_at_s < ?2 AND expires_at_s <= ?1)
            OR EXISTS (SELECT 1 FROM login_guards WHERE last_failed_at_s < ?3)
        THEN 1 ELSE 0 END AS BIGINT)";
    let params = [
        Value::bound(now_s),
        Value::bound(verifications_before_s),
        Value::bound(guards_before_s),
    ];
    match sql::query_one(read, sql, &params)? {
        Some(mut columns) => columns.flag(),
        None => Ok(false),
    }
}
