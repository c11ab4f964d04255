//! The escrow context's tables (TT-9, TT-10; seed 002 §3.6, §3.7): escrowed P2P trades of
//! an asset or a game item for a price, their disputes, and the game companies that credit
//! game money and rewards and confirm item deliveries.
//!
//! ```sql
//! escrow_trades (id 16-byte id (the ledger's `user_data_128` of every leg), seller_id,
//!   buyer_id (NULL while open), kind 'asset' | 'item', asset and amount > 0 (an asset
//!   offer) or game_id, item_ref, item_name (an item offer), price_asset, price > 0,
//!   settlement 'on_platform' | 'off_platform', status 'open' | 'taken' | 'completed' |
//!   'cancelled' | 'expired' | 'disputed' | 'released' | 'refunded', idempotency_key,
//!   created_at_s, taken_at_s, deadline_s (open: when the offer lapses; taken: when the
//!   trade does), finished_at_s, dispute_by (the party who opened it), dispute_sealed
//!   (AES-256-GCM of the text and the evidence), disputed_at_s, resolution 'release' |
//!   'refund', resolved_by (the operator), resolved_at_s)
//! game_companies (id, name, key_id (unique), secret_sealed, created_at_s)
//! game_credits (game_id, credit_id, member_id, amount > 0, kind 'game_money' | 'reward',
//!   created_at_s; primary key (game_id, credit_id): a credit happens once)
//! ```
//!
//! Indexes, each for the queries named:
//! - `escrow_trades_by_key` (`seller_id, idempotency_key`, unique): a retry finds its offer;
//! - `escrow_trades_open` (`created_at_s`) where open: the offers members browse;
//! - `escrow_trades_sold` (`seller_id, created_at_s`), `escrow_trades_bought` (`buyer_id,
//!   created_at_s`): a member's trades; the seller's open offers (a cap);
//! - `escrow_trades_due` (`deadline_s`) where open or taken: what the sweep voids;
//! - `escrow_trades_disputed` (`disputed_at_s`) where disputed: the operators' queue.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE escrow_trades (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                seller_id bytea NOT NULL CHECK (length(seller_id) = 16),
                buyer_id bytea CHECK (buyer_id IS NULL OR length(buyer_id) = 16),
                kind text NOT NULL CHECK (kind IN ('asset', 'item')),
                asset text,
                amount bigint CHECK (amount IS NULL OR amount > 0),
                game_id bytea CHECK (game_id IS NULL OR length(game_id) = 16),
                item_ref text,
                item_name text,
                price_asset text NOT NULL,
                price bigint NOT NULL CHECK (price > 0),
                settlement text NOT NULL CHECK (settlement IN ('on_platform', 'off_platform')),
                status text NOT NULL CHECK (status IN ('open', 'taken', 'completed',
                    'cancelled', 'expired', 'disputed', 'released', 'refunded')),
                idempotency_key text,
                created_at_s bigint NOT NULL,
                taken_at_s bigint,
                deadline_s bigint NOT NULL,
                finished_at_s bigint,
                dispute_by bytea CHECK (dispute_by IS NULL OR length(dispute_by) = 16),
                dispute_sealed bytea,
                disputed_at_s bigint,
                resolution text CHECK (resolution IS NULL OR resolution IN ('release', 'refund')),
                resolved_by text,
                resolved_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX escrow_trades_by_key ON escrow_trades (seller_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            CREATE INDEX escrow_trades_open ON escrow_trades (created_at_s, id)
                WHERE status = 'open';
            CREATE INDEX escrow_trades_sold ON escrow_trades (seller_id, created_at_s);
            CREATE INDEX escrow_trades_bought ON escrow_trades (buyer_id, created_at_s);
            CREATE INDEX escrow_trades_due ON escrow_trades (deadline_s)
                WHERE status IN ('open', 'taken');
            CREATE INDEX escrow_trades_disputed ON escrow_trades (disputed_at_s, id)
                WHERE status = 'disputed';
            CREATE TABLE game_companies (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                name text NOT NULL,
                key_id text NOT NULL,
                secret_sealed bytea NOT NULL,
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX game_companies_by_key ON game_companies (key_id);
            CREATE TABLE game_credits (
                game_id bytea NOT NULL CHECK (length(game_id) = 16),
                credit_id text NOT NULL,
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                amount bigint NOT NULL CHECK (amount > 0),
                kind text NOT NULL CHECK (kind IN ('game_money', 'reward')),
                created_at_s bigint NOT NULL,
                PRIMARY KEY (game_id, credit_id)
            )",
            $without_rowid,
            ";"
        )
    };
}

/// The tables on SQLite (migration 31).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 31).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Most rows one page of a trades or disputes query answers.
pub const TRADES_PAGE_MAX: usize = 100;

/// Where a trade stands (docs/escrow.md draws the machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TradeStatus {
    /// Offered; an asset offer's asset is locked.
    Open,
    /// A buyer took it; on the platform, the price is locked too.
    Taken,
    /// Both legs posted to their receivers (final).
    Completed,
    /// Withdrawn by the seller before anyone took it; the lock voided (final).
    Cancelled,
    /// The deadline passed; every lock voided (final).
    Expired,
    /// A party opened a dispute: the locks sit posted in escrow until an operator decides.
    Disputed,
    /// An operator released the asset to the buyer and the price to the seller (final).
    Released,
    /// An operator gave each party back what it put in (final).
    Refunded,
}

impl TradeStatus {
    pub const ALL: [TradeStatus; 8] = [
        TradeStatus::Open,
        TradeStatus::Taken,
        TradeStatus::Completed,
        TradeStatus::Cancelled,
        TradeStatus::Expired,
        TradeStatus::Disputed,
        TradeStatus::Released,
        TradeStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Open => "open",
            TradeStatus::Taken => "taken",
            TradeStatus::Completed => "completed",
            TradeStatus::Cancelled => "cancelled",
            TradeStatus::Expired => "expired",
            TradeStatus::Disputed => "disputed",
            TradeStatus::Released => "released",
            TradeStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<TradeStatus> {
        TradeStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A trade, as `escrow_trades` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRow {
    pub id: u128,
    pub seller_id: u128,
    pub buyer_id: Option<u128>,
    /// `Some((asset, amount))` for an asset offer.
    pub asset: Option<(String, u64)>,
    /// `Some((game_id, item_ref, item_name))` for a game item offer.
    pub item: Option<(u128, String, String)>,
    pub price_asset: String,
    pub price: u64,
    /// Paid through the platform (the price is locked at the take) or outside it.
    pub on_platform: bool,
    pub status: TradeStatus,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
    pub taken_at_s: Option<u64>,
    pub deadline_s: u64,
    pub finished_at_s: Option<u64>,
    pub dispute_by: Option<u128>,
    pub dispute_sealed: Option<Vec<u8>>,
    pub disputed_at_s: Option<u64>,
    /// `Some(true)`: released to the buyer; `Some(false)`: refunded.
    pub resolution: Option<bool>,
    pub resolved_by: Option<String>,
    pub resolved_at_s: Option<u64>,
}

/// A game company, as `game_companies` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameRow {
    pub id: u128,
    pub name: String,
    pub key_id: String,
    pub secret_sealed: Vec<u8>,
    pub created_at_s: u64,
}

/// A credit of game money or a reward, as `game_credits` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditRow {
    pub game_id: u128,
    pub credit_id: String,
    pub member_id: u128,
    pub amount: u64,
    /// `game_money` or `reward`.
    pub kind: String,
    pub created_at_s: u64,
}

/// A change to the escrow tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EscrowWrite {
    /// Inserts or replaces the trade (by id).
    Trade(Box<TradeRow>),
    /// Inserts a game company.
    Game(GameRow),
    /// Inserts a credit (once: a second one under its key is a no-op).
    Credit(CreditRow),
}

impl Row for EscrowWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            EscrowWrite::Trade(row) => write_trade(tx, row),
            EscrowWrite::Game(row) => write_game(tx, row),
            EscrowWrite::Credit(row) => write_credit(tx, row),
        }
    }
}

const TRADE_COLUMNS: &str = "id, seller_id, buyer_id, kind, asset, amount, game_id, item_ref,
    item_name, price_asset, price, settlement, status, idempotency_key, created_at_s,
    taken_at_s, deadline_s, finished_at_s, dispute_by, dispute_sealed, disputed_at_s,
    resolution, resolved_by, resolved_at_s";

fn write_trade(tx: &mut TableTx<'_, '_>, row: &TradeRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO escrow_trades ({TRADE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
            ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)
        ON CONFLICT (id) DO UPDATE SET buyer_id = excluded.buyer_id, status = excluded.status,
            taken_at_s = excluded.taken_at_s, deadline_s = excluded.deadline_s,
            finished_at_s = excluded.finished_at_s, dispute_by = excluded.dispute_by,
            dispute_sealed = excluded.dispute_sealed, disputed_at_s = excluded.disputed_at_s,
            resolution = excluded.resolution, resolved_by = excluded.resolved_by,
            resolved_at_s = excluded.resolved_at_s"
    );
    let (asset, amount) = match &row.asset {
        Some((asset, amount)) => (Some(asset.as_str()), Some(*amount)),
        None => (None, None),
    };
    let (game_id, item_ref, item_name) = match &row.item {
        Some((game, reference, name)) => {
            (Some(*game), Some(reference.as_str()), Some(name.as_str()))
        }
        None => (None, None, None),
    };
    let params = [
        Value::id(row.id),
        Value::id(row.seller_id),
        Value::opt_id(row.buyer_id),
        Value::text(if row.item.is_some() { "item" } else { "asset" }),
        Value::opt_text(asset),
        Value::opt_uint(amount)?,
        Value::opt_id(game_id),
        Value::opt_text(item_ref),
        Value::opt_text(item_name),
        Value::text(&row.price_asset),
        Value::uint(row.price)?,
        Value::text(if row.on_platform {
            "on_platform"
        } else {
            "off_platform"
        }),
        Value::text(row.status.as_str()),
        Value::opt_text(row.idempotency_key.as_deref()),
        Value::uint(row.created_at_s)?,
        Value::opt_uint(row.taken_at_s)?,
        Value::uint(row.deadline_s)?,
        Value::opt_uint(row.finished_at_s)?,
        Value::opt_id(row.dispute_by),
        Value::opt_bytes(row.dispute_sealed.as_deref()),
        Value::opt_uint(row.disputed_at_s)?,
        Value::opt_text(row.resolution.map(|release| match release {
            true => "release",
            false => "refund",
        })),
        Value::opt_text(row.resolved_by.as_deref()),
        Value::opt_uint(row.resolved_at_s)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn trade_of(mut columns: Columns) -> Result<TradeRow, StoreError> {
    let id = columns.id()?;
    let seller_id = columns.id()?;
    let buyer_id = columns.opt_id()?;
    let kind = columns.text()?;
    let asset = columns.opt_text()?;
    let amount = columns.opt_uint()?;
    let game_id = columns.opt_id()?;
    let item_ref = columns.opt_text()?;
    let item_name = columns.opt_text()?;
    let (asset, item) = match (kind.as_str(), asset, amount, game_id, item_ref, item_name) {
        ("asset", Some(asset), Some(amount), None, None, None) => (Some((asset, amount)), None),
        ("item", None, None, Some(game), Some(reference), Some(name)) => {
            (None, Some((game, reference, name)))
        }
        _ => return Err(sql::corrupt("a trade's offer")),
    };
    Ok(TradeRow {
        id,
        seller_id,
        buyer_id,
        asset,
        item,
        price_asset: columns.text()?,
        price: columns.uint()?,
        on_platform: columns.text()? == "on_platform",
        status: TradeStatus::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a trade's status"))?,
        idempotency_key: columns.opt_text()?,
        created_at_s: columns.uint()?,
        taken_at_s: columns.opt_uint()?,
        deadline_s: columns.uint()?,
        finished_at_s: columns.opt_uint()?,
        dispute_by: columns.opt_id()?,
        dispute_sealed: columns.opt_bytes()?,
        disputed_at_s: columns.opt_uint()?,
        resolution: columns.opt_text()?.map(|text| text == "release"),
        resolved_by: columns.opt_text()?,
        resolved_at_s: columns.opt_uint()?,
    })
}

fn trades_of(rows: Vec<Columns>) -> Result<Vec<TradeRow>, StoreError> {
    rows.into_iter().map(trade_of).collect()
}

fn write_game(tx: &mut TableTx<'_, '_>, row: &GameRow) -> Result<(), StoreError> {
    // A company written again is its key rotated: the new key replaces the old one.
    let sql = "INSERT INTO game_companies (id, name, key_id, secret_sealed, created_at_s)
        VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, key_id = excluded.key_id,
            secret_sealed = excluded.secret_sealed";
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

fn write_credit(tx: &mut TableTx<'_, '_>, row: &CreditRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO game_credits (game_id, credit_id, member_id, amount, kind,
            created_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (game_id, credit_id) DO NOTHING";
    let params = [
        Value::id(row.game_id),
        Value::text(&row.credit_id),
        Value::id(row.member_id),
        Value::uint(row.amount)?,
        Value::text(&row.kind),
        Value::uint(row.created_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

/// The trade with this id.
pub fn trade(read: &mut TableRead<'_>, id: u128) -> Result<Option<TradeRow>, StoreError> {
    let sql = format!("SELECT {TRADE_COLUMNS} FROM escrow_trades WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(trade_of)
        .transpose()
}

/// The seller's offer under an `Idempotency-Key`.
pub fn trade_by_key(
    read: &mut TableRead<'_>,
    seller_id: u128,
    key: &str,
) -> Result<Option<TradeRow>, StoreError> {
    let sql = format!(
        "SELECT {TRADE_COLUMNS} FROM escrow_trades WHERE seller_id = ?1 AND idempotency_key = ?2"
    );
    sql::query_one(read, &sql, &[Value::id(seller_id), Value::text(key)])?
        .map(trade_of)
        .transpose()
}

/// How many offers of the seller are open (a cap), through `escrow_trades_sold`.
pub fn open_offers_of(read: &mut TableRead<'_>, seller_id: u128) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM escrow_trades WHERE seller_id = ?1 AND status = 'open'";
    match sql::query_one(read, sql, &[Value::id(seller_id)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

fn cursor_params(before: Option<(u64, u128)>) -> (Value, Value) {
    match before {
        Some((time_s, id)) => (Value::bound(time_s), Value::id(id)),
        None => (Value::Int(i64::MAX), sql::before_id(None)),
    }
}

/// Open offers, newest first, strictly before the cursor `(created_at_s, id)`, at most
/// `limit` (capped at [`TRADES_PAGE_MAX`]).
pub fn open_trades_page(
    read: &mut TableRead<'_>,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<TradeRow>, StoreError> {
    let sql = format!(
        "SELECT {TRADE_COLUMNS} FROM escrow_trades
        WHERE status = 'open' AND (created_at_s, id) < (?1, ?2)
        ORDER BY created_at_s DESC, id DESC LIMIT ?3"
    );
    let (time_s, id) = cursor_params(before);
    let params = [time_s, id, sql::limit(limit, TRADES_PAGE_MAX)];
    trades_of(sql::query(read, &sql, &params)?)
}

/// A member's trades, sold and bought, newest first, strictly before the cursor, at most
/// `limit` (capped at [`TRADES_PAGE_MAX`]); `status` filters when given.
pub fn member_trades_page(
    read: &mut TableRead<'_>,
    member_id: u128,
    status: Option<TradeStatus>,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<TradeRow>, StoreError> {
    // Each side through its own index, merged: at most `limit` of each are read.
    let side = |column: &str, name: &str| {
        format!(
            "SELECT * FROM (SELECT {TRADE_COLUMNS} FROM escrow_trades
                WHERE {column} = ?1 AND (created_at_s, id) < (?2, ?3)
                    AND (?5 = '' OR status = ?5)
                ORDER BY created_at_s DESC, id DESC LIMIT ?4) AS {name}"
        )
    };
    let sql = format!(
        "SELECT {TRADE_COLUMNS} FROM ({} UNION {}) AS both_sides
        ORDER BY created_at_s DESC, id DESC LIMIT ?4",
        side("seller_id", "sold"),
        side("buyer_id", "bought")
    );
    let (time_s, id) = cursor_params(before);
    let params = [
        Value::id(member_id),
        time_s,
        id,
        sql::limit(limit, TRADES_PAGE_MAX),
        Value::text(status.map_or("", TradeStatus::as_str)),
    ];
    trades_of(sql::query(read, &sql, &params)?)
}

/// Open or taken trades whose deadline is at or before `now_s`, the earliest first, at
/// most `limit`.
pub fn due_trades(
    read: &mut TableRead<'_>,
    now_s: u64,
    limit: usize,
) -> Result<Vec<TradeRow>, StoreError> {
    let sql = format!(
        "SELECT {TRADE_COLUMNS} FROM escrow_trades
        WHERE status IN ('open', 'taken') AND deadline_s <= ?1
        ORDER BY deadline_s, id LIMIT ?2"
    );
    let params = [Value::bound(now_s), sql::limit(limit, TRADES_PAGE_MAX)];
    trades_of(sql::query(read, &sql, &params)?)
}

/// Disputed trades waiting for an operator, the oldest dispute first, strictly after the
/// cursor `(disputed_at_s, id)`, at most `limit` (capped at [`TRADES_PAGE_MAX`]).
pub fn disputed_page(
    read: &mut TableRead<'_>,
    after: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<TradeRow>, StoreError> {
    let sql = format!(
        "SELECT {TRADE_COLUMNS} FROM escrow_trades
        WHERE status = 'disputed' AND (disputed_at_s, id) > (?1, ?2)
        ORDER BY disputed_at_s, id LIMIT ?3"
    );
    let (time_s, id) = match after {
        Some((time_s, id)) => (Value::bound(time_s), Value::id(id)),
        None => (Value::Int(-1), sql::after_id(None)),
    };
    let params = [time_s, id, sql::limit(limit, TRADES_PAGE_MAX)];
    trades_of(sql::query(read, &sql, &params)?)
}

const GAME_COLUMNS: &str = "id, name, key_id, secret_sealed, created_at_s";

fn game_of(mut columns: Columns) -> Result<GameRow, StoreError> {
    Ok(GameRow {
        id: columns.id()?,
        name: columns.text()?,
        key_id: columns.text()?,
        secret_sealed: columns.bytes()?,
        created_at_s: columns.uint()?,
    })
}

/// The game company with this id.
pub fn game(read: &mut TableRead<'_>, id: u128) -> Result<Option<GameRow>, StoreError> {
    let sql = format!("SELECT {GAME_COLUMNS} FROM game_companies WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(game_of)
        .transpose()
}

/// The game company whose API key has this id.
pub fn game_by_key(read: &mut TableRead<'_>, key_id: &str) -> Result<Option<GameRow>, StoreError> {
    let sql = format!("SELECT {GAME_COLUMNS} FROM game_companies WHERE key_id = ?1");
    sql::query_one(read, &sql, &[Value::text(key_id)])?
        .map(game_of)
        .transpose()
}

/// The company's credit under `credit_id`.
pub fn credit(
    read: &mut TableRead<'_>,
    game_id: u128,
    credit_id: &str,
) -> Result<Option<CreditRow>, StoreError> {
    let sql = "SELECT game_id, credit_id, member_id, amount, kind, created_at_s
        FROM game_credits WHERE game_id = ?1 AND credit_id = ?2";
    let params = [Value::id(game_id), Value::text(credit_id)];
    let Some(mut columns) = sql::query_one(read, sql, &params)? else {
        return Ok(None);
    };
    Ok(Some(CreditRow {
        game_id: columns.id()?,
        credit_id: columns.text()?,
        member_id: columns.id()?,
        amount: columns.uint()?,
        kind: columns.text()?,
        created_at_s: columns.uint()?,
    }))
}
