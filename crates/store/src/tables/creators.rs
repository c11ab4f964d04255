//! The creators context's tables (TT-8; seed 002 §3.5): content platforms and their API
//! keys, the creators and contents they register, the figures they report per period, the
//! reward pools funded from ad revenue, members' tips, and every payout to a creator.
//!
//! ```sql
//! media_platforms (id, name, key_id (unique), secret_sealed, created_at_s)
//! creators (id, platform_id, creator_ref, member_id, name, created_at_s;
//!   unique (platform_id, creator_ref))
//! creator_contents (platform_id, content_ref, creator_id, title, created_at_s;
//!   primary key (platform_id, content_ref))
//! creator_reports (platform_id, report_id, period, body_hash, items, created_at_s;
//!   primary key (platform_id, report_id): a report counts once)
//! creator_metrics (platform_id, period, content_ref, creator_id, views, comments,
//!   ratings_sum, ratings_count, score, report_id; primary key (platform_id, period,
//!   content_ref): the latest report of a content in a period holds its figures)
//! creator_pools (id (also its ledger account's), platform_id, period, status 'funded' |
//!   'distributed', created_at_s, distributed_at_s; unique (platform_id, period))
//! creator_tips (id, member_id, creator_id, amount, platform_share, creator_share,
//!   memo_sealed, idempotency_key, created_at_s)
//! creator_payouts (transfer_id, creator_id, kind 'reward' | 'tip', pool_id, tip_id,
//!   amount, created_at_s)
//! ```
//!
//! Indexes, each for the queries named:
//! - `creators_by_name` (`name, id`): members browse and search creators;
//! - `creator_contents_by_creator` (`creator_id, created_at_s`): a creator's contents;
//! - `creator_metrics_by_creator` (`platform_id, period, creator_id`): the scores summed
//!   per creator at a distribution;
//! - `creator_tips_by_key` (`member_id, idempotency_key`, unique): a retry finds its tip;
//!   `creator_tips_by_member` (`member_id, created_at_s`): the member's tips of a day;
//! - `creator_payouts_by_creator` (`creator_id, created_at_s, transfer_id`): payout history;
//!   `creator_payouts_by_pool` (`pool_id`): a distribution's payouts.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE media_platforms (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                name text NOT NULL,
                key_id text NOT NULL,
                secret_sealed bytea NOT NULL,
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX media_platforms_by_key ON media_platforms (key_id);
            CREATE TABLE creators (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                platform_id bytea NOT NULL CHECK (length(platform_id) = 16),
                creator_ref text NOT NULL,
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                name text NOT NULL,
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX creators_by_ref ON creators (platform_id, creator_ref);
            CREATE INDEX creators_by_name ON creators (name, id);
            CREATE TABLE creator_contents (
                platform_id bytea NOT NULL CHECK (length(platform_id) = 16),
                content_ref text NOT NULL,
                creator_id bytea NOT NULL CHECK (length(creator_id) = 16),
                title text NOT NULL,
                created_at_s bigint NOT NULL,
                PRIMARY KEY (platform_id, content_ref)
            )",
            $without_rowid,
            ";
            CREATE INDEX creator_contents_by_creator ON creator_contents (creator_id, created_at_s);
            CREATE TABLE creator_reports (
                platform_id bytea NOT NULL CHECK (length(platform_id) = 16),
                report_id text NOT NULL,
                period text NOT NULL,
                body_hash bytea NOT NULL CHECK (length(body_hash) = 32),
                items bigint NOT NULL CHECK (items > 0),
                created_at_s bigint NOT NULL,
                PRIMARY KEY (platform_id, report_id)
            )",
            $without_rowid,
            ";
            CREATE TABLE creator_metrics (
                platform_id bytea NOT NULL CHECK (length(platform_id) = 16),
                period text NOT NULL,
                content_ref text NOT NULL,
                creator_id bytea NOT NULL CHECK (length(creator_id) = 16),
                views bigint NOT NULL CHECK (views >= 0),
                comments bigint NOT NULL CHECK (comments >= 0),
                ratings_sum bigint NOT NULL CHECK (ratings_sum >= 0),
                ratings_count bigint NOT NULL CHECK (ratings_count >= 0),
                score bigint NOT NULL CHECK (score >= 0),
                report_id text NOT NULL,
                PRIMARY KEY (platform_id, period, content_ref)
            )",
            $without_rowid,
            ";
            CREATE INDEX creator_metrics_by_creator ON creator_metrics (platform_id, period, creator_id);
            CREATE TABLE creator_pools (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                platform_id bytea NOT NULL CHECK (length(platform_id) = 16),
                period text NOT NULL,
                status text NOT NULL CHECK (status IN ('funded', 'distributed')),
                created_at_s bigint NOT NULL,
                distributed_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX creator_pools_by_period ON creator_pools (platform_id, period);
            CREATE INDEX creator_pools_recent ON creator_pools (created_at_s, id);
            CREATE TABLE creator_tips (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                creator_id bytea NOT NULL CHECK (length(creator_id) = 16),
                amount bigint NOT NULL CHECK (amount > 0),
                platform_share bigint NOT NULL CHECK (platform_share >= 0),
                creator_share bigint NOT NULL CHECK (creator_share > 0),
                memo_sealed bytea NOT NULL,
                idempotency_key text,
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX creator_tips_by_key ON creator_tips (member_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            CREATE INDEX creator_tips_by_member ON creator_tips (member_id, created_at_s);
            CREATE TABLE creator_payouts (
                transfer_id bytea PRIMARY KEY CHECK (length(transfer_id) = 16),
                creator_id bytea NOT NULL CHECK (length(creator_id) = 16),
                kind text NOT NULL CHECK (kind IN ('reward', 'tip')),
                pool_id bytea CHECK (pool_id IS NULL OR length(pool_id) = 16),
                tip_id bytea CHECK (tip_id IS NULL OR length(tip_id) = 16),
                amount bigint NOT NULL CHECK (amount > 0),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX creator_payouts_by_creator ON creator_payouts
                (creator_id, created_at_s, transfer_id);
            CREATE INDEX creator_payouts_by_pool ON creator_payouts (pool_id)
                WHERE pool_id IS NOT NULL;"
        )
    };
}

/// The tables on SQLite (migration 32).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 32).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Most rows one page of creators, contents, pools or payouts answers.
pub const CREATORS_PAGE_MAX: usize = 100;

/// A content platform, as `media_platforms` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPlatformRow {
    pub id: u128,
    pub name: String,
    pub key_id: String,
    pub secret_sealed: Vec<u8>,
    pub created_at_s: u64,
}

/// A creator, as `creators` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatorRow {
    pub id: u128,
    pub platform_id: u128,
    pub creator_ref: String,
    /// The member whose MVP wallet receives the creator's rewards and tips.
    pub member_id: u128,
    pub name: String,
    pub created_at_s: u64,
}

/// A content, as `creator_contents` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentRow {
    pub platform_id: u128,
    pub content_ref: String,
    pub creator_id: u128,
    pub title: String,
    pub created_at_s: u64,
}

/// A report, as `creator_reports` holds it (its items are in `creator_metrics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub platform_id: u128,
    pub report_id: String,
    pub period: String,
    /// SHA-256 of the report's canonical body: the same id with another body is a conflict.
    pub body_hash: [u8; 32],
    pub items: u64,
    pub created_at_s: u64,
}

/// A content's figures in a period, as `creator_metrics` holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricRow {
    pub platform_id: u128,
    pub period: String,
    pub content_ref: String,
    pub creator_id: u128,
    pub views: u64,
    pub comments: u64,
    pub ratings_sum: u64,
    pub ratings_count: u64,
    /// The content's score by the platform's formula (docs/creators.md).
    pub score: u64,
    pub report_id: String,
}

/// Where a pool stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStatus {
    /// Funded (perhaps several times), not distributed yet.
    Funded,
    /// Paid out to the period's creators (final: no more funding, no more reports).
    Distributed,
}

impl PoolStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolStatus::Funded => "funded",
            PoolStatus::Distributed => "distributed",
        }
    }

    pub fn parse(text: &str) -> Option<PoolStatus> {
        [PoolStatus::Funded, PoolStatus::Distributed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A reward pool, as `creator_pools` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRow {
    pub id: u128,
    pub platform_id: u128,
    pub period: String,
    pub status: PoolStatus,
    pub created_at_s: u64,
    pub distributed_at_s: Option<u64>,
}

/// A member's tip, as `creator_tips` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipRow {
    pub id: u128,
    pub member_id: u128,
    pub creator_id: u128,
    pub amount: u64,
    pub platform_share: u64,
    pub creator_share: u64,
    pub memo_sealed: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
}

/// What a payout was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutKind {
    /// A share of a reward pool.
    Reward,
    /// A member's tip (the creator's share).
    Tip,
}

impl PayoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutKind::Reward => "reward",
            PayoutKind::Tip => "tip",
        }
    }
}

/// A payout to a creator, as `creator_payouts` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRow {
    pub transfer_id: u128,
    pub creator_id: u128,
    pub kind: PayoutKind,
    pub pool_id: Option<u128>,
    pub tip_id: Option<u128>,
    pub amount: u64,
    pub created_at_s: u64,
}

/// A change to the creators tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreatorWrite {
    /// Inserts a content platform.
    Platform(MediaPlatformRow),
    /// Inserts or replaces (its name) a creator.
    Creator(CreatorRow),
    /// Inserts or replaces (its title) a content.
    Content(ContentRow),
    /// Inserts a report (once per id).
    Report(ReportRow),
    /// Inserts or replaces a content's figures of a period.
    Metric(MetricRow),
    /// Inserts or replaces (its status) a pool.
    Pool(PoolRow),
    /// Inserts a tip.
    Tip(TipRow),
    /// Inserts a payout (once per transfer).
    Payout(PayoutRow),
}

impl Row for CreatorWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            CreatorWrite::Platform(row) => write_platform(tx, row),
            CreatorWrite::Creator(row) => write_creator(tx, row),
            CreatorWrite::Content(row) => write_content(tx, row),
            CreatorWrite::Report(row) => write_report(tx, row),
            CreatorWrite::Metric(row) => write_metric(tx, row),
            CreatorWrite::Pool(row) => write_pool(tx, row),
            CreatorWrite::Tip(row) => write_tip(tx, row),
            CreatorWrite::Payout(row) => write_payout(tx, row),
        }
    }
}

fn write_platform(tx: &mut TableTx<'_, '_>, row: &MediaPlatformRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO media_platforms (id, name, key_id, secret_sealed, created_at_s)
        VALUES (?1, ?2, ?3, ?4, ?5)";
    let params = [
        Value::id(row.id),
        Value::text(&row.name),
        Value::text(&row.key_id),
        Value::bytes(&row.secret_sealed),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_creator(tx: &mut TableTx<'_, '_>, row: &CreatorRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creators (id, platform_id, creator_ref, member_id, name, created_at_s)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET name = excluded.name";
    let params = [
        Value::id(row.id),
        Value::id(row.platform_id),
        Value::text(&row.creator_ref),
        Value::id(row.member_id),
        Value::text(&row.name),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_content(tx: &mut TableTx<'_, '_>, row: &ContentRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creator_contents (platform_id, content_ref, creator_id, title,
            created_at_s) VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (platform_id, content_ref) DO UPDATE SET title = excluded.title";
    let params = [
        Value::id(row.platform_id),
        Value::text(&row.content_ref),
        Value::id(row.creator_id),
        Value::text(&row.title),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_report(tx: &mut TableTx<'_, '_>, row: &ReportRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creator_reports (platform_id, report_id, period, body_hash, items,
            created_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    let params = [
        Value::id(row.platform_id),
        Value::text(&row.report_id),
        Value::text(&row.period),
        Value::bytes(&row.body_hash),
        Value::uint(row.items)?,
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_metric(tx: &mut TableTx<'_, '_>, row: &MetricRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creator_metrics (platform_id, period, content_ref, creator_id, views,
            comments, ratings_sum, ratings_count, score, report_id)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
        ON CONFLICT (platform_id, period, content_ref) DO UPDATE SET views = excluded.views,
            comments = excluded.comments, ratings_sum = excluded.ratings_sum,
            ratings_count = excluded.ratings_count, score = excluded.score,
            report_id = excluded.report_id";
    let params = [
        Value::id(row.platform_id),
        Value::text(&row.period),
        Value::text(&row.content_ref),
        Value::id(row.creator_id),
        Value::uint(row.views)?,
        Value::uint(row.comments)?,
        Value::uint(row.ratings_sum)?,
        Value::uint(row.ratings_count)?,
        Value::uint(row.score)?,
        Value::text(&row.report_id),
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_pool(tx: &mut TableTx<'_, '_>, row: &PoolRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creator_pools (id, platform_id, period, status, created_at_s,
            distributed_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status,
            distributed_at_s = excluded.distributed_at_s";
    let params = [
        Value::id(row.id),
        Value::id(row.platform_id),
        Value::text(&row.period),
        Value::text(row.status.as_str()),
        Value::uint(row.created_at_s)?,
        Value::opt_uint(row.distributed_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_tip(tx: &mut TableTx<'_, '_>, row: &TipRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creator_tips (id, member_id, creator_id, amount, platform_share,
            creator_share, memo_sealed, idempotency_key, created_at_s)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    let params = [
        Value::id(row.id),
        Value::id(row.member_id),
        Value::id(row.creator_id),
        Value::uint(row.amount)?,
        Value::uint(row.platform_share)?,
        Value::uint(row.creator_share)?,
        Value::bytes(&row.memo_sealed),
        Value::opt_text(row.idempotency_key.as_deref()),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

fn write_payout(tx: &mut TableTx<'_, '_>, row: &PayoutRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO creator_payouts (transfer_id, creator_id, kind, pool_id, tip_id,
            amount, created_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
        ON CONFLICT (transfer_id) DO NOTHING";
    let params = [
        Value::id(row.transfer_id),
        Value::id(row.creator_id),
        Value::text(row.kind.as_str()),
        Value::opt_id(row.pool_id),
        Value::opt_id(row.tip_id),
        Value::uint(row.amount)?,
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

const PLATFORM_COLUMNS: &str = "id, name, key_id, secret_sealed, created_at_s";

fn platform_of(mut columns: Columns) -> Result<MediaPlatformRow, StoreError> {
    Ok(MediaPlatformRow {
        id: columns.id()?,
        name: columns.text()?,
        key_id: columns.text()?,
        secret_sealed: columns.bytes()?,
        created_at_s: columns.uint()?,
    })
}

/// The content platform with this id.
pub fn media_platform(
    read: &mut TableRead<'_>,
    id: u128,
) -> Result<Option<MediaPlatformRow>, StoreError> {
    let sql = format!("SELECT {PLATFORM_COLUMNS} FROM media_platforms WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(platform_of)
        .transpose()
}

/// The content platform whose API key has this id.
pub fn media_platform_by_key(
    read: &mut TableRead<'_>,
    key_id: &str,
) -> Result<Option<MediaPlatformRow>, StoreError> {
    let sql = format!("SELECT {PLATFORM_COLUMNS} FROM media_platforms WHERE key_id = ?1");
    sql::query_one(read, &sql, &[Value::text(key_id)])?
        .map(platform_of)
        .transpose()
}

/// The content platforms, the newest first, at most `limit` (capped at [`CREATORS_PAGE_MAX`]).
pub fn recent_media_platforms(
    read: &mut TableRead<'_>,
    limit: usize,
) -> Result<Vec<MediaPlatformRow>, StoreError> {
    let sql = format!(
        "SELECT {PLATFORM_COLUMNS} FROM media_platforms ORDER BY created_at_s DESC, id DESC
        LIMIT ?1"
    );
    sql::query(read, &sql, &[sql::limit(limit, CREATORS_PAGE_MAX)])?
        .into_iter()
        .map(platform_of)
        .collect()
}

const CREATOR_COLUMNS: &str = "id, platform_id, creator_ref, member_id, name, created_at_s";

fn creator_of(mut columns: Columns) -> Result<CreatorRow, StoreError> {
    Ok(CreatorRow {
        id: columns.id()?,
        platform_id: columns.id()?,
        creator_ref: columns.text()?,
        member_id: columns.id()?,
        name: columns.text()?,
        created_at_s: columns.uint()?,
    })
}

/// The creator with this id.
pub fn creator(read: &mut TableRead<'_>, id: u128) -> Result<Option<CreatorRow>, StoreError> {
    let sql = format!("SELECT {CREATOR_COLUMNS} FROM creators WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(creator_of)
        .transpose()
}

/// The platform's creator under its own reference.
pub fn creator_by_ref(
    read: &mut TableRead<'_>,
    platform_id: u128,
    creator_ref: &str,
) -> Result<Option<CreatorRow>, StoreError> {
    let sql = format!(
        "SELECT {CREATOR_COLUMNS} FROM creators WHERE platform_id = ?1 AND creator_ref = ?2"
    );
    let params = [Value::id(platform_id), Value::text(creator_ref)];
    sql::query_one(read, &sql, &params)?
        .map(creator_of)
        .transpose()
}

/// `text` with `%`, `_` and `\` escaped for a `LIKE … ESCAPE '\'` pattern.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Creators by name, then id, strictly after the cursor `(name, id)`, at most `limit`
/// (capped at [`CREATORS_PAGE_MAX`]); `search` keeps the names that contain it.
pub fn creators_page(
    read: &mut TableRead<'_>,
    search: Option<&str>,
    after: Option<(&str, u128)>,
    limit: usize,
) -> Result<Vec<CreatorRow>, StoreError> {
    let sql = format!(
        "SELECT {CREATOR_COLUMNS} FROM creators
        WHERE (name > ?1 OR (name = ?1 AND id > ?2)) AND lower(name) LIKE lower(?3) ESCAPE '\\'
        ORDER BY name, id LIMIT ?4"
    );
    let pattern = format!("%{}%", like_escaped(search.unwrap_or_default()));
    let (name, id) = match after {
        Some((name, id)) => (Value::text(name), Value::id(id)),
        None => (Value::text(""), sql::after_id(None)),
    };
    let params = [
        name,
        id,
        Value::text(&pattern),
        sql::limit(limit, CREATORS_PAGE_MAX),
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(creator_of)
        .collect()
}

const CONTENT_COLUMNS: &str = "platform_id, content_ref, creator_id, title, created_at_s";

fn content_of(mut columns: Columns) -> Result<ContentRow, StoreError> {
    Ok(ContentRow {
        platform_id: columns.id()?,
        content_ref: columns.text()?,
        creator_id: columns.id()?,
        title: columns.text()?,
        created_at_s: columns.uint()?,
    })
}

/// The platform's content under its own reference.
pub fn content(
    read: &mut TableRead<'_>,
    platform_id: u128,
    content_ref: &str,
) -> Result<Option<ContentRow>, StoreError> {
    let sql = format!(
        "SELECT {CONTENT_COLUMNS} FROM creator_contents WHERE platform_id = ?1 AND content_ref = ?2"
    );
    let params = [Value::id(platform_id), Value::text(content_ref)];
    sql::query_one(read, &sql, &params)?
        .map(content_of)
        .transpose()
}

/// A creator's newest contents, at most `limit` (capped at [`CREATORS_PAGE_MAX`]).
pub fn contents_of(
    read: &mut TableRead<'_>,
    creator_id: u128,
    limit: usize,
) -> Result<Vec<ContentRow>, StoreError> {
    let sql = format!(
        "SELECT {CONTENT_COLUMNS} FROM creator_contents WHERE creator_id = ?1
        ORDER BY created_at_s DESC, content_ref LIMIT ?2"
    );
    let params = [Value::id(creator_id), sql::limit(limit, CREATORS_PAGE_MAX)];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(content_of)
        .collect()
}

/// How many contents the creator has (a cap).
pub fn content_count(read: &mut TableRead<'_>, creator_id: u128) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM creator_contents WHERE creator_id = ?1";
    match sql::query_one(read, sql, &[Value::id(creator_id)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// The platform's report under `report_id`.
pub fn report(
    read: &mut TableRead<'_>,
    platform_id: u128,
    report_id: &str,
) -> Result<Option<ReportRow>, StoreError> {
    let sql = "SELECT platform_id, report_id, period, body_hash, items, created_at_s
        FROM creator_reports WHERE platform_id = ?1 AND report_id = ?2";
    let params = [Value::id(platform_id), Value::text(report_id)];
    let Some(mut columns) = sql::query_one(read, sql, &params)? else {
        return Ok(None);
    };
    Ok(Some(ReportRow {
        platform_id: columns.id()?,
        report_id: columns.text()?,
        period: columns.text()?,
        body_hash: columns.hash()?,
        items: columns.uint()?,
        created_at_s: columns.uint()?,
    }))
}

/// The period's scores summed per creator, the highest first (ties by creator id), at
/// most `limit`: `(creator_id, score)`. Creators with a score of zero are left out.
pub fn period_scores(
    read: &mut TableRead<'_>,
    platform_id: u128,
    period: &str,
    limit: usize,
) -> Result<Vec<(u128, u64)>, StoreError> {
    let sql = "SELECT creator_id, CAST(sum(score) AS bigint) AS total FROM creator_metrics
        WHERE platform_id = ?1 AND period = ?2
        GROUP BY creator_id HAVING sum(score) > 0
        ORDER BY total DESC, creator_id LIMIT ?3";
    let limit = Value::Int(i64::try_from(limit).unwrap_or(i64::MAX));
    let params = [Value::id(platform_id), Value::text(period), limit];
    sql::query(read, sql, &params)?
        .into_iter()
        .map(|mut columns| Ok((columns.id()?, columns.uint()?)))
        .collect()
}

const POOL_COLUMNS: &str = "id, platform_id, period, status, created_at_s, distributed_at_s";

fn pool_of(mut columns: Columns) -> Result<PoolRow, StoreError> {
    Ok(PoolRow {
        id: columns.id()?,
        platform_id: columns.id()?,
        period: columns.text()?,
        status: PoolStatus::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a pool's status"))?,
        created_at_s: columns.uint()?,
        distributed_at_s: columns.opt_uint()?,
    })
}

/// The pool with this id.
pub fn pool(read: &mut TableRead<'_>, id: u128) -> Result<Option<PoolRow>, StoreError> {
    let sql = format!("SELECT {POOL_COLUMNS} FROM creator_pools WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(pool_of)
        .transpose()
}

/// The platform's pool of a period.
pub fn pool_of_period(
    read: &mut TableRead<'_>,
    platform_id: u128,
    period: &str,
) -> Result<Option<PoolRow>, StoreError> {
    let sql =
        format!("SELECT {POOL_COLUMNS} FROM creator_pools WHERE platform_id = ?1 AND period = ?2");
    let params = [Value::id(platform_id), Value::text(period)];
    sql::query_one(read, &sql, &params)?
        .map(pool_of)
        .transpose()
}

/// The newest pools, at most `limit` (capped at [`CREATORS_PAGE_MAX`]).
pub fn recent_pools(read: &mut TableRead<'_>, limit: usize) -> Result<Vec<PoolRow>, StoreError> {
    let sql = format!(
        "SELECT {POOL_COLUMNS} FROM creator_pools ORDER BY created_at_s DESC, id DESC LIMIT ?1"
    );
    sql::query(read, &sql, &[sql::limit(limit, CREATORS_PAGE_MAX)])?
        .into_iter()
        .map(pool_of)
        .collect()
}

const TIP_COLUMNS: &str = "id, member_id, creator_id, amount, platform_share, creator_share,
    memo_sealed, idempotency_key, created_at_s";

fn tip_of(mut columns: Columns) -> Result<TipRow, StoreError> {
    Ok(TipRow {
        id: columns.id()?,
        member_id: columns.id()?,
        creator_id: columns.id()?,
        amount: columns.uint()?,
        platform_share: columns.uint()?,
        creator_share: columns.uint()?,
        memo_sealed: columns.bytes()?,
        idempotency_key: columns.opt_text()?,
        created_at_s: columns.uint()?,
    })
}

/// The member's tip under an `Idempotency-Key`.
pub fn tip_by_key(
    read: &mut TableRead<'_>,
    member_id: u128,
    key: &str,
) -> Result<Option<TipRow>, StoreError> {
    let sql = format!(
        "SELECT {TIP_COLUMNS} FROM creator_tips WHERE member_id = ?1 AND idempotency_key = ?2"
    );
    sql::query_one(read, &sql, &[Value::id(member_id), Value::text(key)])?
        .map(tip_of)
        .transpose()
}

/// What the member tipped since `since_s` (the KST day's limit).
pub fn tipped_since(
    read: &mut TableRead<'_>,
    member_id: u128,
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(coalesce(sum(amount), 0) AS bigint) FROM creator_tips
        WHERE member_id = ?1 AND created_at_s >= ?2";
    match sql::query_one(read, sql, &[Value::id(member_id), Value::bound(since_s)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

const PAYOUT_COLUMNS: &str = "transfer_id, creator_id, kind, pool_id, tip_id, amount, created_at_s";

fn payout_of(mut columns: Columns) -> Result<PayoutRow, StoreError> {
    let transfer_id = columns.id()?;
    let creator_id = columns.id()?;
    let kind = match columns.text()?.as_str() {
        "reward" => PayoutKind::Reward,
        "tip" => PayoutKind::Tip,
        _ => return Err(sql::corrupt("a payout's kind")),
    };
    Ok(PayoutRow {
        transfer_id,
        creator_id,
        kind,
        pool_id: columns.opt_id()?,
        tip_id: columns.opt_id()?,
        amount: columns.uint()?,
        created_at_s: columns.uint()?,
    })
}

/// A creator's payouts, newest first, strictly before the cursor `(created_at_s,
/// transfer_id)`, at most `limit` (capped at [`CREATORS_PAGE_MAX`]).
pub fn payouts_page(
    read: &mut TableRead<'_>,
    creator_id: u128,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<PayoutRow>, StoreError> {
    let sql = format!(
        "SELECT {PAYOUT_COLUMNS} FROM creator_payouts
        WHERE creator_id = ?1 AND (created_at_s, transfer_id) < (?2, ?3)
        ORDER BY created_at_s DESC, transfer_id DESC LIMIT ?4"
    );
    let (time_s, id) = match before {
        Some((time_s, id)) => (Value::bound(time_s), Value::id(id)),
        None => (Value::Int(i64::MAX), sql::before_id(None)),
    };
    let params = [
        Value::id(creator_id),
        time_s,
        id,
        sql::limit(limit, CREATORS_PAGE_MAX),
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(payout_of)
        .collect()
}

/// A pool's payouts, the largest first, at most `limit`.
pub fn pool_payouts(
    read: &mut TableRead<'_>,
    pool_id: u128,
    limit: usize,
) -> Result<Vec<PayoutRow>, StoreError> {
    let sql = format!(
        "SELECT {PAYOUT_COLUMNS} FROM creator_payouts WHERE pool_id = ?1
        ORDER BY amount DESC, creator_id LIMIT ?2"
    );
    let limit = Value::Int(i64::try_from(limit).unwrap_or(i64::MAX));
    sql::query(read, &sql, &[Value::id(pool_id), limit])?
        .into_iter()
        .map(payout_of)
        .collect()
}
