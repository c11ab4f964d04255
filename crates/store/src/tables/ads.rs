//! The ads context's tables (MV-8, seed 000 §3-2, §6-4 "AD Manager"): campaigns, and each
//! view of one by a member (an impression, and whether it was clicked).
//!
//! ```sql
//! ad_campaigns (id 16-byte id (also the id of its budget account), advertiser_kind
//!   'partner' | 'merchant', advertiser_id, name, headline, body, link_url,
//!   placement 'home', starts_at_s, ends_at_s, budget, price_per_impression,
//!   price_per_click, frequency_cap (views per member per KST day),
//!   status 'active' | 'paused' | 'exhausted', created_at_s)
//! ad_views (view_id 16-byte id (also the impression's transfer id), campaign_id,
//!   member_id, served_at_s, clicked 0 | 1)
//! ```
//!
//! What a campaign has spent is its budget account's debits in the ledger, not a column:
//! the ledger is the one place value is counted.
//!
//! Indexes, each for the queries named:
//! - `ad_campaigns_live` (`placement, status, starts_at_s`): the campaigns a placement may
//!   show now ([`live_campaigns`]);
//! - `ad_views_by_member` (`member_id, campaign_id, served_at_s`): a member's views of a
//!   campaign today, for the frequency cap ([`views_since`]);
//! - `ad_views_by_campaign` (`campaign_id, clicked`): a campaign's report
//!   ([`campaign_counts`]).

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE ad_campaigns (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                advertiser_kind text NOT NULL CHECK (advertiser_kind IN ('partner', 'merchant')),
                advertiser_id bytea NOT NULL CHECK (length(advertiser_id) = 16),
                name text NOT NULL,
                headline text NOT NULL,
                body text NOT NULL,
                link_url text NOT NULL,
                placement text NOT NULL CHECK (placement IN ('home')),
                starts_at_s bigint NOT NULL,
                ends_at_s bigint NOT NULL,
                budget bigint NOT NULL CHECK (budget > 0),
                price_per_impression bigint NOT NULL CHECK (price_per_impression >= 0),
                price_per_click bigint NOT NULL CHECK (price_per_click >= 0),
                frequency_cap bigint NOT NULL CHECK (frequency_cap > 0),
                status text NOT NULL CHECK (status IN ('active', 'paused', 'exhausted')),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX ad_campaigns_live ON ad_campaigns (placement, status, starts_at_s);
            CREATE TABLE ad_views (
                view_id bytea PRIMARY KEY CHECK (length(view_id) = 16),
                campaign_id bytea NOT NULL CHECK (length(campaign_id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                served_at_s bigint NOT NULL,
                clicked bigint NOT NULL CHECK (clicked IN (0, 1))
            )",
            $without_rowid,
            ";
            CREATE INDEX ad_views_by_member ON ad_views (member_id, campaign_id, served_at_s);
            CREATE INDEX ad_views_by_campaign ON ad_views (campaign_id, clicked);"
        )
    };
}

/// The tables on SQLite (migration 24).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 24).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Campaigns one placement considers at most per request.
pub const LIVE_CAMPAIGNS_MAX: usize = 32;
/// Campaigns one page of the operators' list holds at most.
pub const CAMPAIGNS_PAGE_MAX: usize = 200;

/// A campaign, as `ad_campaigns` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignRow {
    pub id: u128,
    /// `partner` or `merchant`.
    pub advertiser_kind: String,
    pub advertiser_id: u128,
    pub name: String,
    pub headline: String,
    pub body: String,
    pub link_url: String,
    pub placement: String,
    pub starts_at_s: u64,
    pub ends_at_s: u64,
    pub budget: u64,
    pub price_per_impression: u64,
    pub price_per_click: u64,
    pub frequency_cap: u64,
    /// `active`, `paused` or `exhausted`.
    pub status: String,
    pub created_at_s: u64,
}

/// A member's view of a campaign, as `ad_views` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewRow {
    pub view_id: u128,
    pub campaign_id: u128,
    pub member_id: u128,
    pub served_at_s: u64,
    pub clicked: bool,
}

/// A change to the ads tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdWrite {
    /// Inserts or replaces the campaign (by id).
    Campaign(CampaignRow),
    /// A new view.
    View(ViewRow),
    /// The view was clicked.
    Clicked(u128),
    /// The campaign's budget no longer covers a view or a click.
    Exhausted(u128),
}

impl Row for AdWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            AdWrite::Campaign(row) => write_campaign(tx, row)?,
            AdWrite::View(row) => {
                let sql = "INSERT INTO ad_views (view_id, campaign_id, member_id, served_at_s,
                        clicked) VALUES (?1, ?2, ?3, ?4, ?5)";
                let params = [
                    Value::id(row.view_id),
                    Value::id(row.campaign_id),
                    Value::id(row.member_id),
                    Value::uint(row.served_at_s)?,
                    Value::flag(row.clicked),
                ];
                sql::execute(tx, sql, &params)?;
            }
            AdWrite::Clicked(view_id) => {
                let sql = "UPDATE ad_views SET clicked = 1 WHERE view_id = ?1";
                sql::execute(tx, sql, &[Value::id(*view_id)])?;
            }
            AdWrite::Exhausted(campaign_id) => {
                let sql = "UPDATE ad_campaigns SET status = 'exhausted' WHERE id = ?1";
                sql::execute(tx, sql, &[Value::id(*campaign_id)])?;
            }
        }
        Ok(())
    }
}

fn write_campaign(tx: &mut TableTx<'_, '_>, row: &CampaignRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO ad_campaigns (id, advertiser_kind, advertiser_id, name, headline,
            body, link_url, placement, starts_at_s, ends_at_s, budget, price_per_impression,
            price_per_click, frequency_cap, status, created_at_s)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, headline = excluded.headline,
            body = excluded.body, link_url = excluded.link_url,
            starts_at_s = excluded.starts_at_s, ends_at_s = excluded.ends_at_s,
            frequency_cap = excluded.frequency_cap, status = excluded.status";
    let params = [
        Value::id(row.id),
        Value::text(&row.advertiser_kind),
        Value::id(row.advertiser_id),
        Value::text(&row.name),
        Value::text(&row.headline),
        Value::text(&row.body),
        Value::text(&row.link_url),
        Value::text(&row.placement),
        Value::uint(row.starts_at_s)?,
        Value::uint(row.ends_at_s)?,
        Value::uint(row.budget)?,
        Value::uint(row.price_per_impression)?,
        Value::uint(row.price_per_click)?,
        Value::uint(row.frequency_cap)?,
        Value::text(&row.status),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

const CAMPAIGN_COLUMNS: &str = "id, advertiser_kind, advertiser_id, name, headline, body,
    link_url, placement, starts_at_s, ends_at_s, budget, price_per_impression, price_per_click,
    frequency_cap, status, created_at_s";

fn campaign_of(mut columns: Columns) -> Result<CampaignRow, StoreError> {
    Ok(CampaignRow {
        id: columns.id()?,
        advertiser_kind: columns.text()?,
        advertiser_id: columns.id()?,
        name: columns.text()?,
        headline: columns.text()?,
        body: columns.text()?,
        link_url: columns.text()?,
        placement: columns.text()?,
        starts_at_s: columns.uint()?,
        ends_at_s: columns.uint()?,
        budget: columns.uint()?,
        price_per_impression: columns.uint()?,
        price_per_click: columns.uint()?,
        frequency_cap: columns.uint()?,
        status: columns.text()?,
        created_at_s: columns.uint()?,
    })
}

/// The campaign with this id.
pub fn campaign(read: &mut TableRead<'_>, id: u128) -> Result<Option<CampaignRow>, StoreError> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM ad_campaigns WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(campaign_of)
        .transpose()
}

/// Active campaigns of `placement` in their schedule at `now_s`, at most
/// [`LIVE_CAMPAIGNS_MAX`], the best paid first.
pub fn live_campaigns(
    read: &mut TableRead<'_>,
    placement: &str,
    now_s: u64,
) -> Result<Vec<CampaignRow>, StoreError> {
    let sql = format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM ad_campaigns
        WHERE placement = ?1 AND status = 'active' AND starts_at_s <= ?2 AND ends_at_s > ?2
        ORDER BY price_per_click + price_per_impression DESC, id LIMIT ?3"
    );
    let params = [
        Value::text(placement),
        Value::uint(now_s)?,
        Value::uint(LIVE_CAMPAIGNS_MAX as u64)?,
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(campaign_of)
        .collect()
}

/// Campaigns, newest first, before `before` (an id), at most `limit`.
pub fn campaigns_page(
    read: &mut TableRead<'_>,
    before: Option<u128>,
    limit: usize,
) -> Result<Vec<CampaignRow>, StoreError> {
    let limit = limit.clamp(1, CAMPAIGNS_PAGE_MAX) as u64;
    let (sql, params) = match before {
        Some(before) => (
            format!(
                "SELECT {CAMPAIGN_COLUMNS} FROM ad_campaigns WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
            ),
            vec![Value::id(before), Value::uint(limit)?],
        ),
        None => (
            format!("SELECT {CAMPAIGN_COLUMNS} FROM ad_campaigns ORDER BY id DESC LIMIT ?1"),
            vec![Value::uint(limit)?],
        ),
    };
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(campaign_of)
        .collect()
}

/// How many views of the campaign the member had since `since_s`.
pub fn views_since(
    read: &mut TableRead<'_>,
    member_id: u128,
    campaign_id: u128,
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM ad_views
        WHERE member_id = ?1 AND campaign_id = ?2 AND served_at_s >= ?3";
    let params = [
        Value::id(member_id),
        Value::id(campaign_id),
        Value::uint(since_s)?,
    ];
    match sql::query_one(read, sql, &params)? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// The view with this id.
pub fn view(read: &mut TableRead<'_>, view_id: u128) -> Result<Option<ViewRow>, StoreError> {
    let sql = "SELECT view_id, campaign_id, member_id, served_at_s, clicked FROM ad_views
        WHERE view_id = ?1";
    let Some(mut columns) = sql::query_one(read, sql, &[Value::id(view_id)])? else {
        return Ok(None);
    };
    Ok(Some(ViewRow {
        view_id: columns.id()?,
        campaign_id: columns.id()?,
        member_id: columns.id()?,
        served_at_s: columns.uint()?,
        clicked: columns.flag()?,
    }))
}

/// A campaign's views (impressions) and clicks.
pub fn campaign_counts(
    read: &mut TableRead<'_>,
    campaign_id: u128,
) -> Result<(u64, u64), StoreError> {
    // `count` of a CASE, not `sum`: PostgreSQL sums bigints into numeric.
    let sql = "SELECT count(*), count(CASE WHEN clicked = 1 THEN 1 END) FROM ad_views
        WHERE campaign_id = ?1";
    match sql::query_one(read, sql, &[Value::id(campaign_id)])? {
        Some(mut columns) => Ok((columns.uint()?, columns.uint()?)),
        None => Ok((0, 0)),
    }
}
