//! The exchange context's tables: partner links (a member's membership at a partner) and
//! exchanges (mileage → MVP sagas).
//!
//! ```sql
//! partner_links (id, member_id, partner_id 16-byte ids, member_ref text (the member's
//!   number at the partner), created_at_s, removed 0 | 1,
//!   status 'pending_proof' | 'active' | 'unproven' (migration 19; links older than it
//!   are 'unproven'), state_hash (SHA-256 of the attempt's OAuth state) and
//!   verifier_sealed (its sealed PKCE code_verifier) bytea or NULL, expires_at_s (the
//!   attempt's end) and proven_at_s bigint or NULL)
//! exchanges (id, member_id, partner_id, link_id 16-byte ids, member_ref text,
//!   mileage (taken at the partner), mvp (credited here) integers >= 0,
//!   rate_effective_from_s, rate_num, rate_den (the rate the exchange used),
//!   status 'requested' | 'completed' | 'failed' | 'reversed', failure text or NULL,
//!   idempotency_key text or NULL, created_at_s, finished_at_s (NULL until final),
//!   cancel_pending 0 | 1 (a cancel is owed to the partner))
//! ```
//!
//! A link is never deleted: unlinking sets `removed`, and the same member ref may then be
//! linked again, since `partner_links_by_ref` (`partner_id, member_ref` where not removed
//! and `active`, since migration 19) is unique only among active links; it finds a ref's
//! active link ([`active_link_by_ref`]). Attempts still waiting for the partner's proof and
//! unproven links never hold a ref: only the partner's proof does.
//! `partner_links_by_member` (`member_id`) finds a member's links ([`links_of`]) and
//! releases them on withdrawal ([`ExchangeWrite::ReleaseLinksOf`]).
//!
//! Indexes of `exchanges`, each for the queries named:
//! - `exchanges_by_key` (`member_id, idempotency_key` where a key is set), unique: a
//!   client's retry finds its exchange ([`exchange_by_key`]);
//! - `exchanges_by_member` (`member_id, partner_id, created_at_s, status, mvp`): a
//!   member's usage at a partner since two times ([`member_usage_since`], read from the index
//!   alone: every exchange request sums its member's month) and whether they have an
//!   exchange open ([`member_has_open`]);
//! - `exchanges_open` (`id` where requested): start resumes unfinished sagas
//!   ([`open_exchanges`]), in time that depends on open work, not on history;
//! - `exchanges_cancel_pending` (`id` where a cancel is owed): the cancels to retry
//!   ([`cancels_pending`]);
//! - `exchanges_by_partner` (`partner_id, created_at_s, id`): a partner's reconciliation
//!   ([`partner_final_page`]);
//! - `exchanges_completed` (`finished_at_s, id` where completed): the settlement report
//!   ([`completed_page`]);
//! - `exchanges_by_time` (`created_at_s, id`): the operator's list, newest first
//!   ([`exchanges_page`]).
//!
//! [`status_counts`] reads the whole table (an operator's dashboard, not a hot path).
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT. Keyset cursors compare row values (`(created_at_s, id) > (?, ?)`), which both
//! backends read as the index's order.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::partners::RateRow;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page of an exchanges query answers.
pub const EXCHANGES_PAGE_MAX: usize = 1000;
/// Most ids [`member_usage_since`] leaves out of its sum; ids past it are summed (the
/// caller, which counts them from memory, then counts them twice: only ever too much).
pub const USAGE_EXCLUDED_MAX: usize = 64;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE partner_links (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                partner_id bytea NOT NULL CHECK (length(partner_id) = 16),
                member_ref text NOT NULL,
                created_at_s bigint NOT NULL,
                removed bigint NOT NULL CHECK (removed IN (0, 1))
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX partner_links_by_ref ON partner_links (partner_id, member_ref)
                WHERE removed = 0;
            CREATE INDEX partner_links_by_member ON partner_links (member_id);
            CREATE TABLE exchanges (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                partner_id bytea NOT NULL CHECK (length(partner_id) = 16),
                link_id bytea NOT NULL CHECK (length(link_id) = 16),
                member_ref text NOT NULL,
                mileage bigint NOT NULL CHECK (mileage >= 0),
                mvp bigint NOT NULL CHECK (mvp >= 0),
                rate_effective_from_s bigint NOT NULL,
                rate_num bigint NOT NULL CHECK (rate_num >= 0),
                rate_den bigint NOT NULL CHECK (rate_den >= 0),
                status text NOT NULL
                    CHECK (status IN ('requested', 'completed', 'failed', 'reversed')),
                failure text,
                idempotency_key text,
                created_at_s bigint NOT NULL,
                finished_at_s bigint,
                cancel_pending bigint NOT NULL CHECK (cancel_pending IN (0, 1))
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX exchanges_by_key ON exchanges (member_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            CREATE INDEX exchanges_by_member
                ON exchanges (member_id, partner_id, created_at_s, status, mvp);
            CREATE INDEX exchanges_open ON exchanges (id) WHERE status = 'requested';
            CREATE INDEX exchanges_cancel_pending ON exchanges (id) WHERE cancel_pending = 1;
            CREATE INDEX exchanges_by_partner ON exchanges (partner_id, created_at_s, id);
            CREATE INDEX exchanges_completed ON exchanges (finished_at_s, id)
                WHERE status = 'completed';
            CREATE INDEX exchanges_by_time ON exchanges (created_at_s, id);"
        )
    };
}

/// The tables on SQLite (migration 9).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 9).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Migration 19, the same on both backends: a link's state and the secrets of its proof.
/// Every link made before it was made without the partner's proof, so it becomes
/// `unproven` (it exchanges nothing until proven again), and a ref is held only by an
/// `active` link.
pub(crate) const LINK_PROOF_MIGRATION: &str = "
    ALTER TABLE partner_links ADD COLUMN status text NOT NULL DEFAULT 'unproven'
        CHECK (status IN ('pending_proof', 'active', 'unproven'));
    ALTER TABLE partner_links ADD COLUMN state_hash bytea;
    ALTER TABLE partner_links ADD COLUMN verifier_sealed bytea;
    ALTER TABLE partner_links ADD COLUMN expires_at_s bigint;
    ALTER TABLE partner_links ADD COLUMN proven_at_s bigint;
    DROP INDEX partner_links_by_ref;
    CREATE UNIQUE INDEX partner_links_by_ref ON partner_links (partner_id, member_ref)
        WHERE removed = 0 AND status = 'active';";

/// Where a link stands (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// An attempt: the member was sent to the partner to sign in; nothing is linked yet.
    PendingProof,
    /// The partner proved the member owns the membership: it may exchange.
    Active,
    /// Made before proofs existed (migration 19, or the older layout's records): it
    /// exchanges nothing until the member proves it again.
    #[default]
    Unproven,
}

impl LinkStatus {
    pub const ALL: [LinkStatus; 3] = [
        LinkStatus::PendingProof,
        LinkStatus::Active,
        LinkStatus::Unproven,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::PendingProof => "pending_proof",
            LinkStatus::Active => "active",
            LinkStatus::Unproven => "unproven",
        }
    }

    fn read(text: &str) -> Result<LinkStatus, StoreError> {
        LinkStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| sql::corrupt("a link status"))
    }
}

/// Where an exchange is in its saga (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeStatus {
    /// Asked of the partner; the outcome is not known yet.
    Requested,
    Completed,
    Failed,
    /// Completed, then undone.
    Reversed,
}

impl ExchangeStatus {
    /// Every status, in the order [`status_counts`] answers them.
    pub const ALL: [ExchangeStatus; 4] = [
        ExchangeStatus::Requested,
        ExchangeStatus::Completed,
        ExchangeStatus::Failed,
        ExchangeStatus::Reversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeStatus::Requested => "requested",
            ExchangeStatus::Completed => "completed",
            ExchangeStatus::Failed => "failed",
            ExchangeStatus::Reversed => "reversed",
        }
    }

    /// The status with this name, if it is one.
    pub fn parse(text: &str) -> Option<ExchangeStatus> {
        ExchangeStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Whether the saga is over (every status but `requested`).
    pub fn is_final(self) -> bool {
        self != ExchangeStatus::Requested
    }

    fn read(text: &str) -> Result<ExchangeStatus, StoreError> {
        ExchangeStatus::parse(text).ok_or_else(|| sql::corrupt("an exchange status"))
    }
}

/// A member's membership at a partner, as `partner_links` holds it (the serde form is the
/// older layout's JSON record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRow {
    pub id: u128,
    pub member_id: u128,
    pub partner_id: u128,
    /// The member's number at the partner: as the member typed it while the link waits
    /// for its proof, the partner's canonical form once proven.
    pub member_ref: String,
    pub created_at_s: u64,
    pub removed: bool,
    /// Older records have none: they are unproven.
    #[serde(default)]
    pub status: LinkStatus,
    /// While pending: SHA-256 of the OAuth `state` sent to the partner (a bearer secret,
    /// so only its hash is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_hash: Option<Vec<u8>>,
    /// While pending: the PKCE `code_verifier`, sealed under the data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_sealed: Option<Vec<u8>>,
    /// While pending: when the attempt ends (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_s: Option<u64>,
    /// When the partner proved it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven_at_s: Option<u64>,
}

/// An exchange of a partner's mileage for MVP, as `exchanges` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRow {
    pub id: u128,
    pub member_id: u128,
    pub partner_id: u128,
    pub link_id: u128,
    pub member_ref: String,
    pub mileage: u64,
    pub mvp: u64,
    /// The rate the exchange used (columns `rate_effective_from_s`, `rate_num`, `rate_den`).
    pub rate: RateRow,
    pub status: ExchangeStatus,
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
    pub finished_at_s: Option<u64>,
    /// A cancel is owed to the partner (retried until it is acknowledged).
    #[serde(default)]
    pub cancel_pending: bool,
}

/// A change to the exchange context's tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExchangeWrite {
    /// Inserts or replaces the link (by id).
    Link(LinkRow),
    /// Marks every link of the member not yet removed as removed (attempts lose their
    /// secrets).
    ReleaseLinksOf(u128),
    /// Inserts or replaces the exchange (by id).
    Exchange(ExchangeRow),
}

const LINK_COLUMNS: &str = "id, member_id, partner_id, member_ref, created_at_s, removed,
    status, state_hash, verifier_sealed, expires_at_s, proven_at_s";

/// The columns of `exchanges` in the order [`exchange_of`] reads them.
const EXCHANGE_COLUMNS: &str = "id, member_id, partner_id, link_id, member_ref, mileage, mvp,
    rate_effective_from_s, rate_num, rate_den, status, failure, idempotency_key,
    created_at_s, finished_at_s, cancel_pending";

impl Row for ExchangeWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = match self {
            ExchangeWrite::Link(row) => link_statement(row)?,
            ExchangeWrite::ReleaseLinksOf(member_id) => (
                // Attempts' secrets go with them.
                "UPDATE partner_links SET removed = 1, state_hash = NULL, verifier_sealed = NULL
                 WHERE member_id = ?1 AND removed = 0",
                vec![Value::id(*member_id)],
            ),
            ExchangeWrite::Exchange(row) => exchange_statement(row)?,
        };
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

fn link_statement(row: &LinkRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO partner_links (id, member_id, partner_id, member_ref, created_at_s, removed,
            status, state_hash, verifier_sealed, expires_at_s, proven_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET member_id = excluded.member_id,
            partner_id = excluded.partner_id, member_ref = excluded.member_ref,
            created_at_s = excluded.created_at_s, removed = excluded.removed,
            status = excluded.status, state_hash = excluded.state_hash,
            verifier_sealed = excluded.verifier_sealed, expires_at_s = excluded.expires_at_s,
            proven_at_s = excluded.proven_at_s",
        vec![
            Value::id(row.id),
            Value::id(row.member_id),
            Value::id(row.partner_id),
            Value::text(&row.member_ref),
            Value::uint(row.created_at_s)?,
            Value::flag(row.removed),
            Value::text(row.status.as_str()),
            Value::opt_bytes(row.state_hash.as_deref()),
            Value::opt_bytes(row.verifier_sealed.as_deref()),
            Value::opt_uint(row.expires_at_s)?,
            Value::opt_uint(row.proven_at_s)?,
        ],
    ))
}

fn exchange_statement(row: &ExchangeRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO exchanges (id, member_id, partner_id, link_id, member_ref, mileage, mvp,
            rate_effective_from_s, rate_num, rate_den, status, failure, idempotency_key,
            created_at_s, finished_at_s, cancel_pending)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET member_id = excluded.member_id,
            partner_id = excluded.partner_id, link_id = excluded.link_id,
            member_ref = excluded.member_ref, mileage = excluded.mileage, mvp = excluded.mvp,
            rate_effective_from_s = excluded.rate_effective_from_s,
            rate_num = excluded.rate_num, rate_den = excluded.rate_den,
            status = excluded.status, failure = excluded.failure,
            idempotency_key = excluded.idempotency_key, created_at_s = excluded.created_at_s,
            finished_at_s = excluded.finished_at_s, cancel_pending = excluded.cancel_pending",
        vec![
            Value::id(row.id),
            Value::id(row.member_id),
            Value::id(row.partner_id),
            Value::id(row.link_id),
            Value::text(&row.member_ref),
            Value::uint(row.mileage)?,
            Value::uint(row.mvp)?,
            Value::uint(row.rate.effective_from_s)?,
            Value::uint(row.rate.num)?,
            Value::uint(row.rate.den)?,
            Value::text(row.status.as_str()),
            Value::opt_text(row.failure.as_deref()),
            Value::opt_text(row.idempotency_key.as_deref()),
            Value::uint(row.created_at_s)?,
            Value::opt_uint(row.finished_at_s)?,
            Value::flag(row.cancel_pending),
        ],
    ))
}

fn link_of(mut columns: Columns) -> Result<LinkRow, StoreError> {
    Ok(LinkRow {
        id: columns.id()?,
        member_id: columns.id()?,
        partner_id: columns.id()?,
        member_ref: columns.text()?,
        created_at_s: columns.uint()?,
        removed: columns.flag()?,
        status: LinkStatus::read(&columns.text()?)?,
        state_hash: columns.opt_bytes()?,
        verifier_sealed: columns.opt_bytes()?,
        expires_at_s: columns.opt_uint()?,
        proven_at_s: columns.opt_uint()?,
    })
}

fn exchange_of(mut columns: Columns) -> Result<ExchangeRow, StoreError> {
    Ok(ExchangeRow {
        id: columns.id()?,
        member_id: columns.id()?,
        partner_id: columns.id()?,
        link_id: columns.id()?,
        member_ref: columns.text()?,
        mileage: columns.uint()?,
        mvp: columns.uint()?,
        rate: RateRow {
            effective_from_s: columns.uint()?,
            num: columns.uint()?,
            den: columns.uint()?,
        },
        status: ExchangeStatus::read(&columns.text()?)?,
        failure: columns.opt_text()?,
        idempotency_key: columns.opt_text()?,
        created_at_s: columns.uint()?,
        finished_at_s: columns.opt_uint()?,
        cancel_pending: columns.flag()?,
    })
}

fn exchanges_of(rows: Vec<Columns>) -> Result<Vec<ExchangeRow>, StoreError> {
    rows.into_iter().map(exchange_of).collect()
}

/// A `(time, id)` cursor: rows strictly after it; none, below every row (-1 and an empty
/// blob sort before every time and id).
fn after_cursor(after: Option<(u64, u128)>) -> Result<[Value; 2], StoreError> {
    match after {
        Some((time_s, id)) => Ok([Value::uint(time_s)?, Value::id(id)]),
        None => Ok([Value::Int(-1), Value::Blob(Vec::new())]),
    }
}

/// A `(time, id)` cursor: rows strictly before it; none, above every row (times are at most
/// 2^63 - 1, and 17 bytes of 0xFF sort after every 16-byte id).
fn before_cursor(before: Option<(u64, u128)>) -> Result<[Value; 2], StoreError> {
    match before {
        Some((time_s, id)) => Ok([Value::uint(time_s)?, Value::id(id)]),
        None => Ok([Value::Int(i64::MAX), Value::Blob(vec![0xFF; 17])]),
    }
}

/// The link with this id.
pub fn link(read: &mut TableRead<'_>, id: u128) -> Result<Option<LinkRow>, StoreError> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM partner_links WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(link_of)
        .transpose()
}

/// The active link (not removed) of this partner's member ref: at most one.
pub fn active_link_by_ref(
    read: &mut TableRead<'_>,
    partner_id: u128,
    member_ref: &str,
) -> Result<Option<LinkRow>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM partner_links
         WHERE partner_id = ?1 AND member_ref = ?2 AND removed = 0 AND status = 'active'"
    );
    let params = [Value::id(partner_id), Value::text(member_ref)];
    sql::query_one(read, &sql, &params)?
        .map(link_of)
        .transpose()
}

/// The member's links not removed, of every status, oldest first (`created_at_s`, then
/// id).
pub fn links_of(read: &mut TableRead<'_>, member_id: u128) -> Result<Vec<LinkRow>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM partner_links WHERE member_id = ?1 AND removed = 0
         ORDER BY created_at_s, id"
    );
    sql::query(read, &sql, &[Value::id(member_id)])?
        .into_iter()
        .map(link_of)
        .collect()
}

/// The exchange with this id.
pub fn exchange(read: &mut TableRead<'_>, id: u128) -> Result<Option<ExchangeRow>, StoreError> {
    let sql = format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(exchange_of)
        .transpose()
}

/// The member's exchange under this idempotency key.
pub fn exchange_by_key(
    read: &mut TableRead<'_>,
    member_id: u128,
    idempotency_key: &str,
) -> Result<Option<ExchangeRow>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE member_id = ?1 AND idempotency_key = ?2"
    );
    let params = [Value::id(member_id), Value::text(idempotency_key)];
    sql::query_one(read, &sql, &params)?
        .map(exchange_of)
        .transpose()
}

/// MVP of the member's exchanges at the partner with status requested or completed created
/// at or after each of `since_s` (what counts against a limit: neither failed nor reversed
/// ones), e.g. since the KST day's and the month's start, in one scan of the index from the
/// earlier of the two. The rows with an id in `excluding` (at most [`USAGE_EXCLUDED_MAX`])
/// are left out: the caller counts those from memory (queued, maybe durable already), so
/// each counts once.
pub fn member_usage_since(
    read: &mut TableRead<'_>,
    member_id: u128,
    partner_id: u128,
    since_s: [u64; 2],
    excluding: &[u128],
) -> Result<[u64; 2], StoreError> {
    let excluding = &excluding[..excluding.len().min(USAGE_EXCLUDED_MAX)];
    let mut sql = String::from(
        "SELECT CAST(coalesce(sum(CASE WHEN created_at_s >= ?3 THEN mvp ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(CASE WHEN created_at_s >= ?4 THEN mvp ELSE 0 END), 0) AS BIGINT)
        FROM exchanges
        WHERE member_id = ?1 AND partner_id = ?2 AND created_at_s >= ?5
            AND status IN ('requested', 'completed')",
    );
    if !excluding.is_empty() {
        let placeholders: Vec<String> = (0..excluding.len())
            .map(|i| format!("?{}", i + 6))
            .collect();
        sql.push_str(&format!(" AND id NOT IN ({})", placeholders.join(", ")));
    }
    let mut params = vec![
        Value::id(member_id),
        Value::id(partner_id),
        Value::bound(since_s[0]),
        Value::bound(since_s[1]),
        Value::bound(since_s[0].min(since_s[1])),
    ];
    params.extend(excluding.iter().map(|id| Value::id(*id)));
    match sql::query_one(read, &sql, &params)? {
        Some(mut columns) => Ok([columns.uint()?, columns.uint()?]),
        None => Ok([0, 0]),
    }
}

/// Exchanges in status requested with an id after `after` (`None`: from the start), by id,
/// at most `limit` (capped at [`EXCHANGES_PAGE_MAX`]): the sagas start resumes.
pub fn open_exchanges(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<ExchangeRow>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE status = 'requested' AND id > ?1
         ORDER BY id LIMIT ?2"
    );
    let params = [sql::after_id(after), sql::limit(limit, EXCHANGES_PAGE_MAX)];
    exchanges_of(sql::query(read, &sql, &params)?)
}

/// Exchanges with a cancel owed to the partner, by id, after `after`, at most `limit`
/// (capped at [`EXCHANGES_PAGE_MAX`]).
pub fn cancels_pending(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<ExchangeRow>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE cancel_pending = 1 AND id > ?1
         ORDER BY id LIMIT ?2"
    );
    let params = [sql::after_id(after), sql::limit(limit, EXCHANGES_PAGE_MAX)];
    exchanges_of(sql::query(read, &sql, &params)?)
}

/// Exchanges newest first by (`created_at_s`, id), of one status or of any, strictly before
/// the cursor `before` (`None`: from the newest), at most `limit`, which must be 1 to
/// [`EXCHANGES_PAGE_MAX`] (else an invalid input error).
pub fn exchanges_page(
    read: &mut TableRead<'_>,
    status: Option<ExchangeStatus>,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<ExchangeRow>, StoreError> {
    if limit == 0 || limit > EXCHANGES_PAGE_MAX {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("a page is 1 to {EXCHANGES_PAGE_MAX} rows"),
        )));
    }
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges
         WHERE (CAST(?1 AS text) IS NULL OR status = ?1) AND (created_at_s, id) < (?2, ?3)
         ORDER BY created_at_s DESC, id DESC LIMIT ?4"
    );
    let status = status.map_or(Value::Null, |status| Value::text(status.as_str()));
    let [time_s, id] = before_cursor(before)?;
    let params = [status, time_s, id, sql::limit(limit, EXCHANGES_PAGE_MAX)];
    exchanges_of(sql::query(read, &sql, &params)?)
}

/// Completed exchanges finished in `[from_s, to_s)`, of one partner or of any, in
/// (`finished_at_s`, id) order, strictly after the cursor `after`, at most `limit` (capped
/// at [`EXCHANGES_PAGE_MAX`]).
pub fn completed_page(
    read: &mut TableRead<'_>,
    from_s: u64,
    to_s: u64,
    partner_id: Option<u128>,
    after: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<ExchangeRow>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges
         WHERE status = 'completed' AND finished_at_s >= ?1 AND finished_at_s < ?2
            AND partner_id BETWEEN ?3 AND ?4 AND (finished_at_s, id) > (?5, ?6)
         ORDER BY finished_at_s, id LIMIT ?7"
    );
    // Any partner: every id is between an empty blob and 17 bytes of 0xFF.
    let [lowest, highest] = match partner_id {
        Some(partner_id) => [Value::id(partner_id), Value::id(partner_id)],
        None => [Value::Blob(Vec::new()), Value::Blob(vec![0xFF; 17])],
    };
    let [time_s, id] = after_cursor(after)?;
    let params = [
        Value::bound(from_s),
        Value::bound(to_s),
        lowest,
        highest,
        time_s,
        id,
        sql::limit(limit, EXCHANGES_PAGE_MAX),
    ];
    exchanges_of(sql::query(read, &sql, &params)?)
}

/// A partner's final (not requested) exchanges created in `[from_s, to_s)`, in
/// (`created_at_s`, id) order, strictly after the cursor `after`, at most `limit` (capped
/// at [`EXCHANGES_PAGE_MAX`]).
pub fn partner_final_page(
    read: &mut TableRead<'_>,
    partner_id: u128,
    from_s: u64,
    to_s: u64,
    after: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<ExchangeRow>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges
         WHERE partner_id = ?1 AND created_at_s >= ?2 AND created_at_s < ?3
            AND status <> 'requested' AND (created_at_s, id) > (?4, ?5)
         ORDER BY created_at_s, id LIMIT ?6"
    );
    let [time_s, id] = after_cursor(after)?;
    let params = [
        Value::id(partner_id),
        Value::bound(from_s),
        Value::bound(to_s),
        time_s,
        id,
        sql::limit(limit, EXCHANGES_PAGE_MAX),
    ];
    exchanges_of(sql::query(read, &sql, &params)?)
}

/// How many exchanges there are of each status (every status, in [`ExchangeStatus::ALL`]'s
/// order, zero included).
pub fn status_counts(read: &mut TableRead<'_>) -> Result<[(ExchangeStatus, u64); 4], StoreError> {
    let sql = "SELECT status, CAST(count(*) AS BIGINT) FROM exchanges GROUP BY status";
    let mut counts = ExchangeStatus::ALL.map(|status| (status, 0));
    for mut columns in sql::query(read, sql, &[])? {
        let status = ExchangeStatus::read(&columns.text()?)?;
        let count = columns.uint()?;
        if let Some(entry) = counts.iter_mut().find(|(each, _)| *each == status) {
            entry.1 = count;
        }
    }
    Ok(counts)
}

/// Whether the member has an exchange in status requested.
pub fn member_has_open(read: &mut TableRead<'_>, member_id: u128) -> Result<bool, StoreError> {
    let sql = "SELECT id FROM exchanges WHERE member_id = ?1 AND status = 'requested' LIMIT 1";
    Ok(sql::query_one(read, sql, &[Value::id(member_id)])?.is_some())
}
