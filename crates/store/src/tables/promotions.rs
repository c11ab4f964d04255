//! The promotions context's tables (TT-14; seed 002 §4.3): the operator's rules, and every
//! bonus they granted or took back.
//!
//! ```sql
//! promotions (id 16-byte id (also its budget account's id), name, kind 'signup_bonus' |
//!   'cashback' | 'trading_reward' (migration 34), amount (sign-up: MVP per wallet), rate_bps (cashback), wallets_max
//!   (sign-up: the first N wallets), merchant_id, brand (cashback: where; one of them),
//!   starts_at_s, ends_at_s, status 'active' | 'ended', created_at_s)
//! promotion_grants (transfer_id (the ledger transfer that moved it), promotion_id,
//!   member_id, authorization_id (a cashback's payment), kind 'signup_bonus' | 'cashback' |
//!   'clawback' | 'trading_reward', amount, created_at_s)
//! ```
//!
//! Indexes, each for the queries named:
//! - `promotion_grants_signup` (`promotion_id, member_id`, unique, sign-up bonuses): one
//!   bonus per wallet, counted for "the first N" ([`signup_grants`]);
//! - `promotion_grants_by_authorization` (`authorization_id`): what a payment earned and
//!   gave back ([`payment_grants`]);
//! - `promotion_grants_by_promotion` (`promotion_id, created_at_s`): a promotion's totals;
//! - `promotions_active` (`status`): the rules in force.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal, $kinds:literal, $grant_kinds:literal) => {
        concat!(
            "CREATE TABLE promotions (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                name text NOT NULL,
                kind text NOT NULL CHECK (kind IN (",
            $kinds,
            ")),
                amount bigint NOT NULL CHECK (amount >= 0),
                rate_bps bigint NOT NULL CHECK (rate_bps >= 0 AND rate_bps <= 10000),
                wallets_max bigint NOT NULL CHECK (wallets_max >= 0),
                merchant_id bytea CHECK (merchant_id IS NULL OR length(merchant_id) = 16),
                brand text,
                starts_at_s bigint NOT NULL,
                ends_at_s bigint NOT NULL,
                status text NOT NULL CHECK (status IN ('active', 'ended')),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX promotions_active ON promotions (status);
            CREATE TABLE promotion_grants (
                transfer_id bytea PRIMARY KEY CHECK (length(transfer_id) = 16),
                promotion_id bytea NOT NULL CHECK (length(promotion_id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                authorization_id bytea
                    CHECK (authorization_id IS NULL OR length(authorization_id) = 16),
                kind text NOT NULL CHECK (kind IN (",
            $grant_kinds,
            ")),
                amount bigint NOT NULL CHECK (amount > 0),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX promotion_grants_signup ON promotion_grants (promotion_id, member_id)
                WHERE kind = 'signup_bonus';
            CREATE INDEX promotion_grants_by_authorization ON promotion_grants (authorization_id)
                WHERE authorization_id IS NOT NULL;
            CREATE INDEX promotion_grants_by_promotion
                ON promotion_grants (promotion_id, created_at_s);"
        )
    };
}

/// The tables on SQLite (migration 30).
pub(crate) const SQLITE_TABLES: &str = tables!(
    " WITHOUT ROWID",
    "'signup_bonus', 'cashback'",
    "'signup_bonus', 'cashback', 'clawback'"
);
/// The tables on PostgreSQL (migration 30).
pub(crate) const POSTGRES_TABLES: &str = tables!(
    "",
    "'signup_bonus', 'cashback'",
    "'signup_bonus', 'cashback', 'clawback'"
);

/// Migration 34 on SQLite: trading rewards. A check cannot change in place there, so the
/// tables are made again with the new kinds and their rows copied (their indexes first
/// dropped, since index names are the schema's).
pub(crate) const TRADING_REWARDS_MIGRATION_SQLITE: &str = concat!(
    "DROP INDEX promotions_active;
    DROP INDEX promotion_grants_signup;
    DROP INDEX promotion_grants_by_authorization;
    DROP INDEX promotion_grants_by_promotion;
    ALTER TABLE promotions RENAME TO promotions_30;
    ALTER TABLE promotion_grants RENAME TO promotion_grants_30;
    ",
    tables!(
        " WITHOUT ROWID",
        "'signup_bonus', 'cashback', 'trading_reward'",
        "'signup_bonus', 'cashback', 'clawback', 'trading_reward'"
    ),
    "
    INSERT INTO promotions SELECT * FROM promotions_30;
    INSERT INTO promotion_grants SELECT * FROM promotion_grants_30;
    DROP TABLE promotions_30;
    DROP TABLE promotion_grants_30;"
);

/// Migration 34 on PostgreSQL: trading rewards (the column checks carry PostgreSQL's
/// default names, `<table>_<column>_check`).
pub(crate) const TRADING_REWARDS_MIGRATION_POSTGRES: &str =
    "ALTER TABLE promotions DROP CONSTRAINT promotions_kind_check;
    ALTER TABLE promotions ADD CONSTRAINT promotions_kind_check
        CHECK (kind IN ('signup_bonus', 'cashback', 'trading_reward'));
    ALTER TABLE promotion_grants DROP CONSTRAINT promotion_grants_kind_check;
    ALTER TABLE promotion_grants ADD CONSTRAINT promotion_grants_kind_check
        CHECK (kind IN ('signup_bonus', 'cashback', 'clawback', 'trading_reward'));";

/// Most promotions in force at once (the working set keeps them all).
pub const ACTIVE_PROMOTIONS_MAX: usize = 256;

/// What a promotion does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PromotionKind {
    /// `amount` MVP to each of the first `wallets_max` members who sign up in the period.
    SignupBonus,
    /// `rate_bps` of each payment at the merchant (or brand) in the period back to the
    /// member, taken back in proportion when the payment is refunded.
    Cashback,
    /// `rate_bps` of the MVP side of each asset conversion in the period to the member
    /// (migration 34).
    TradingReward,
}

impl PromotionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionKind::SignupBonus => "signup_bonus",
            PromotionKind::Cashback => "cashback",
            PromotionKind::TradingReward => "trading_reward",
        }
    }

    pub fn parse(text: &str) -> Option<PromotionKind> {
        [
            PromotionKind::SignupBonus,
            PromotionKind::Cashback,
            PromotionKind::TradingReward,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// A promotion, as `promotions` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromotionRow {
    pub id: u128,
    pub name: String,
    pub kind: PromotionKind,
    pub amount: u64,
    pub rate_bps: u32,
    pub wallets_max: u64,
    pub merchant_id: Option<u128>,
    pub brand: Option<String>,
    pub starts_at_s: u64,
    pub ends_at_s: u64,
    /// Ended by an operator (before `ends_at_s`, or after it to close it).
    pub ended: bool,
    pub created_at_s: u64,
}

/// What a grant did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantKind {
    SignupBonus,
    Cashback,
    /// Cashback taken back on a refund.
    Clawback,
    /// A reward on an asset conversion.
    TradingReward,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::SignupBonus => "signup_bonus",
            GrantKind::Cashback => "cashback",
            GrantKind::Clawback => "clawback",
            GrantKind::TradingReward => "trading_reward",
        }
    }

    pub fn parse(text: &str) -> Option<GrantKind> {
        [
            GrantKind::SignupBonus,
            GrantKind::Cashback,
            GrantKind::Clawback,
            GrantKind::TradingReward,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// A bonus granted or taken back, as `promotion_grants` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRow {
    pub transfer_id: u128,
    pub promotion_id: u128,
    pub member_id: u128,
    pub authorization_id: Option<u128>,
    pub kind: GrantKind,
    /// What the ledger moved (a balancing transfer may move less than asked).
    pub amount: u64,
    pub created_at_s: u64,
}

/// A change to the promotions tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromotionWrite {
    /// Inserts or replaces the promotion (by id).
    Promotion(PromotionRow),
    /// Inserts the grant.
    Grant(GrantRow),
}

impl Row for PromotionWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            PromotionWrite::Promotion(row) => write_promotion(tx, row),
            PromotionWrite::Grant(row) => write_grant(tx, row),
        }
    }
}

const PROMOTION_COLUMNS: &str = "id, name, kind, amount, rate_bps, wallets_max, merchant_id,
    brand, starts_at_s, ends_at_s, status, created_at_s";

fn write_promotion(tx: &mut TableTx<'_, '_>, row: &PromotionRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO promotions ({PROMOTION_COLUMNS})
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status"
    );
    let params = [
        Value::id(row.id),
        Value::text(&row.name),
        Value::text(row.kind.as_str()),
        Value::uint(row.amount)?,
        Value::uint(u64::from(row.rate_bps))?,
        Value::uint(row.wallets_max)?,
        Value::opt_id(row.merchant_id),
        Value::opt_text(row.brand.as_deref()),
        Value::uint(row.starts_at_s)?,
        Value::uint(row.ends_at_s)?,
        Value::text(if row.ended { "ended" } else { "active" }),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn promotion_of(mut columns: Columns) -> Result<PromotionRow, StoreError> {
    Ok(PromotionRow {
        id: columns.id()?,
        name: columns.text()?,
        kind: PromotionKind::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a promotion's kind"))?,
        amount: columns.uint()?,
        rate_bps: columns.u32()?,
        wallets_max: columns.uint()?,
        merchant_id: columns.opt_id()?,
        brand: columns.opt_text()?,
        starts_at_s: columns.uint()?,
        ends_at_s: columns.uint()?,
        ended: columns.text()? == "ended",
        created_at_s: columns.uint()?,
    })
}

const GRANT_COLUMNS: &str =
    "transfer_id, promotion_id, member_id, authorization_id, kind, amount, created_at_s";

fn write_grant(tx: &mut TableTx<'_, '_>, row: &GrantRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO promotion_grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
        ON CONFLICT (transfer_id) DO NOTHING"
    );
    let params = [
        Value::id(row.transfer_id),
        Value::id(row.promotion_id),
        Value::id(row.member_id),
        Value::opt_id(row.authorization_id),
        Value::text(row.kind.as_str()),
        Value::uint(row.amount)?,
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn grant_of(mut columns: Columns) -> Result<GrantRow, StoreError> {
    Ok(GrantRow {
        transfer_id: columns.id()?,
        promotion_id: columns.id()?,
        member_id: columns.id()?,
        authorization_id: columns.opt_id()?,
        kind: GrantKind::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a promotion grant's kind"))?,
        amount: columns.uint()?,
        created_at_s: columns.uint()?,
    })
}

/// The promotion with this id.
pub fn promotion(read: &mut TableRead<'_>, id: u128) -> Result<Option<PromotionRow>, StoreError> {
    let sql = format!("SELECT {PROMOTION_COLUMNS} FROM promotions WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(promotion_of)
        .transpose()
}

/// The promotions not ended by an operator, at most [`ACTIVE_PROMOTIONS_MAX`] (oldest
/// first), through `promotions_active`.
pub fn active_promotions(read: &mut TableRead<'_>) -> Result<Vec<PromotionRow>, StoreError> {
    let sql = format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions WHERE status = 'active'
        ORDER BY created_at_s, id LIMIT ?1"
    );
    let params = [sql::limit(ACTIVE_PROMOTIONS_MAX, ACTIVE_PROMOTIONS_MAX)];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(promotion_of)
        .collect()
}

/// The promotions in force, then the newest ended ones: at most
/// [`ACTIVE_PROMOTIONS_MAX`] of each.
pub fn recent_promotions(read: &mut TableRead<'_>) -> Result<Vec<PromotionRow>, StoreError> {
    let mut rows = active_promotions(read)?;
    rows.reverse();
    let sql = format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions WHERE status = 'ended'
        ORDER BY created_at_s DESC, id DESC LIMIT ?1"
    );
    let params = [sql::limit(ACTIVE_PROMOTIONS_MAX, ACTIVE_PROMOTIONS_MAX)];
    for columns in sql::query(read, &sql, &params)? {
        rows.push(promotion_of(columns)?);
    }
    Ok(rows)
}

/// How many active promotions there are (to refuse one past the maximum).
pub fn active_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM promotions WHERE status = 'active'";
    match sql::query_one(read, sql, &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// Sign-up bonuses the promotion granted, and whether `member_id` has one.
pub fn signup_grants(
    read: &mut TableRead<'_>,
    promotion_id: u128,
    member_id: u128,
) -> Result<(u64, bool), StoreError> {
    let sql = "SELECT count(*), CAST(coalesce(sum(CASE WHEN member_id = ?2 THEN 1 ELSE 0 END), 0) AS bigint)
        FROM promotion_grants WHERE promotion_id = ?1 AND kind = 'signup_bonus'";
    match sql::query_one(read, sql, &[Value::id(promotion_id), Value::id(member_id)])? {
        Some(mut columns) => Ok((columns.uint()?, columns.uint()? > 0)),
        None => Ok((0, false)),
    }
}

/// What a payment earned (cashback) and gave back (clawbacks), through
/// `promotion_grants_by_authorization`.
pub fn payment_grants(
    read: &mut TableRead<'_>,
    authorization_id: u128,
) -> Result<Vec<GrantRow>, StoreError> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM promotion_grants WHERE authorization_id = ?1");
    sql::query(read, &sql, &[Value::id(authorization_id)])?
        .into_iter()
        .map(grant_of)
        .collect()
}

/// A promotion's totals by kind: (sign-up bonuses, cashback, clawbacks) in MVP, and the
/// number of sign-up bonuses.
pub fn promotion_totals(
    read: &mut TableRead<'_>,
    promotion_id: u128,
) -> Result<PromotionTotals, StoreError> {
    let sql =
        "SELECT kind, count(*), CAST(coalesce(sum(amount), 0) AS bigint) FROM promotion_grants
        WHERE promotion_id = ?1 GROUP BY kind";
    let mut totals = PromotionTotals::default();
    for mut columns in sql::query(read, sql, &[Value::id(promotion_id)])? {
        let kind = columns.text()?;
        let (count, amount) = (columns.uint()?, columns.uint()?);
        match GrantKind::parse(&kind) {
            Some(GrantKind::SignupBonus) => {
                totals.signups = count;
                totals.signup_mvp = amount;
            }
            Some(GrantKind::Cashback) => totals.cashback_mvp = amount,
            Some(GrantKind::Clawback) => totals.clawback_mvp = amount,
            Some(GrantKind::TradingReward) => totals.trading_reward_mvp = amount,
            None => return Err(sql::corrupt("a promotion grant's kind")),
        }
    }
    Ok(totals)
}

/// What a promotion gave and took back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PromotionTotals {
    pub signups: u64,
    pub signup_mvp: u64,
    pub cashback_mvp: u64,
    pub clawback_mvp: u64,
    pub trading_reward_mvp: u64,
}
