//! The embedded default backend: one SQLite file (bundled SQLite), WAL, `synchronous=FULL`.
//!
//! # Schema (version 7, kept in `PRAGMA user_version`)
//! - `meta(key, value)`: the pinned operator key (`operator_public_key`).
//! - `blocks(height INTEGER PRIMARY KEY, hash, previous_hash, timestamp, account_count,
//!   transfer_count, accounts_digest, tree_size, merkle_root, signature, first_account)`;
//!   `first_account` is the `seq` of the block's first created account.
//! - `accounts(seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, balances, all fields,
//!   block_height, created_flags)`: the current row of every account. `seq` is the account's
//!   creation ordinal, so a block's created accounts are the rowid range
//!   `[first_account, first_account + account_count)`, creation appends to the end of the
//!   b-tree, and a balance update is one integer-keyed row rewrite that touches no index (the
//!   store keeps `id -> seq` in memory). The unique index on `id` gives `accounts()` its id
//!   order and refuses an id created twice. `created_flags` keeps the flags at creation, since
//!   closing transfers change `flags` later. Created accounts always have zero balances (the
//!   engine refuses anything else and `append` checks it), so a block's body is handed back
//!   exactly as it was written.
//! - `transfers(seq INTEGER PRIMARY KEY, id BLOB NOT NULL, block_height, all fields)`: `seq`
//!   is the transfer's leaf index in the Merkle log, so a block's transfers are the rowid
//!   range `[tree_size - transfer_count, tree_size)` and appends go to the end of the b-tree.
//!   Indexed by `timestamp` (append-only) and, for the queries, by `code` and the non-zero
//!   `user_data_*` fields, each with `timestamp` (migration 4).
//! - `transfer_ids(id, seq)` (migration 3): the engine keeps only a bounded cache of
//!   transfers, so the store answers the lookups its id filter cannot rule out, and lookups
//!   of old transfers. A random b-tree insert per transfer in the commit path grew costly
//!   with the table (measured with `examples/append_bench.rs --id-index`), so ids are
//!   written in sorted batches of [`IDS_DEFERRED_MAX`] beside a later commit, and the meta
//!   key `ids_indexed_upto` says how far; a lookup reads the index and scans the short
//!   unindexed tail of `transfers`.
//! - `transfer_accounts(run, account_id, side, timestamp, seq)` and
//!   `transfer_account_runs(run, timestamp_min, timestamp_max)` (migration 4): each
//!   transfer's debit and credit account, written with each batch of deferred ids as one
//!   sorted, appended run; an account's transfers are read from the runs that meet the
//!   query's timestamps and from the unindexed tail.
//! - `failed_transfers(seq, id UNIQUE, block_height, result)`: ids that failed with a
//!   transient result, kept beside their block.
//! - Domain tables (migration 5 on): written by the same writer in the same transaction as
//!   the ledger's blocks; each context's schema is documented in its module of
//!   [`crate::tables`] (`authorizations` and `authorization_cancels` in
//!   [`crate::tables::payments`]; the platform's keyed `records`, migration 6, in
//!   [`crate::tables::records`]).
//! - `pending_status(id PRIMARY KEY, status, block_height)`: the final status of a resolved
//!   pending transfer (2 posted, 3 voided, 4 expired); a pending transfer without a row is
//!   still open.
//! - `merkle_nodes(level, idx, hash)`: interior nodes of the Merkle log at level 8 and above
//!   (lower subtrees are recomputed from at most 128 transfers), for proofs.
//! - `snapshots(height, block_hash, digest, signature)` and `snapshot_chunks(height, chunk,
//!   bytes)`: engine snapshots for start; the state of all but the newest two is dropped.
//! - `account_history(seq INTEGER PRIMARY KEY, account_id, timestamp, balances, block_height)`
//!   with an index on `account_id`; read back in insertion (log) order.
//! - `balance_log(height INTEGER PRIMARY KEY, balances BLOB)`: the balances each append
//!   changed, one row per append, as fixed-width entries (account seq, four balances, flags).
//!   The current balances are `accounts` overlaid with the log in height order
//!   ([`Store::accounts`] does that).
//!
//! Encodings are those of the crate: `u128` as 16-byte big-endian BLOBs, `u64` as the bit
//! pattern of an `i64` INTEGER (values above `i64::MAX` read as negative in SQL), `u32` and
//! `u16` as INTEGER.
//!
//! # Writes
//! `append` is one `BEGIN IMMEDIATE ... COMMIT` with cached prepared statements: multi-row
//! INSERTs of 64 rows for blocks, accounts, transfers and history, and ONE `balance_log` row
//! for every changed balance. Updating the account rows in place dirtied a page per changed
//! account, and with 64 single-transfer clients the WAL then carried about 400 KiB per commit;
//! the log row is a few pages. The log is folded into `accounts` (each changed account
//! rewritten once) when it holds [`crate::BALANCE_LOG_ROWS_MAX`] rows or
//! [`crate::BALANCE_LOG_ENTRIES_MAX`] entries, inside the append that finds it full. With
//! `synchronous=FULL` in WAL mode the commit fsyncs the WAL before it returns. The WAL is
//! checkpointed every 16,384 pages (64 MiB at 4 KiB pages).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ledger::engine::{FailedTransfer, StoredTransfer};
use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, BlockHeader, Hash, Transfer, TransferFlags,
    TransferId,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, Statement, TransactionBehavior, params};

use crate::codec::{
    self, AccountPlan, LOGGED_BALANCE_LEN, LoggedBalance, Tip, corrupt, u16_col, u32_col, u64_col,
    u64_to_sql, u128_col,
};
use crate::tables::{RowRef, TableRead, TableTx};
use crate::{
    BALANCE_LOG_ENTRIES_MAX, BALANCE_LOG_ROWS_MAX, BlockRecord, BlockWrite, SnapshotRecord, Store,
    StoreError, StoreMeta,
};

/// The schema version this build writes (`PRAGMA user_version` after every migration).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Schema migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE blocks (
        height INTEGER PRIMARY KEY,
        hash BLOB NOT NULL,
        previous_hash BLOB NOT NULL,
        timestamp INTEGER NOT NULL,
        account_count INTEGER NOT NULL,
        transfer_count INTEGER NOT NULL,
        accounts_digest BLOB NOT NULL,
        tree_size INTEGER NOT NULL,
        merkle_root BLOB NOT NULL,
        signature BLOB NOT NULL,
        first_account INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        seq INTEGER PRIMARY KEY,
        id BLOB NOT NULL,
        debits_pending BLOB NOT NULL,
        debits_posted BLOB NOT NULL,
        credits_pending BLOB NOT NULL,
        credits_posted BLOB NOT NULL,
        user_data_128 BLOB NOT NULL,
        user_data_64 INTEGER NOT NULL,
        user_data_32 INTEGER NOT NULL,
        ledger INTEGER NOT NULL,
        code INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        block_height INTEGER NOT NULL,
        created_flags INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX accounts_id ON accounts (id);
    CREATE TABLE transfers (
        seq INTEGER PRIMARY KEY,
        id BLOB NOT NULL,
        block_height INTEGER NOT NULL,
        debit_account_id BLOB NOT NULL,
        credit_account_id BLOB NOT NULL,
        amount BLOB NOT NULL,
        pending_id BLOB NOT NULL,
        user_data_128 BLOB NOT NULL,
        user_data_64 INTEGER NOT NULL,
        user_data_32 INTEGER NOT NULL,
        timeout INTEGER NOT NULL,
        ledger INTEGER NOT NULL,
        code INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        timestamp INTEGER NOT NULL
    );
    CREATE TABLE account_history (
        seq INTEGER PRIMARY KEY,
        account_id BLOB NOT NULL,
        timestamp INTEGER NOT NULL,
        debits_pending BLOB NOT NULL,
        debits_posted BLOB NOT NULL,
        credits_pending BLOB NOT NULL,
        credits_posted BLOB NOT NULL,
        block_height INTEGER NOT NULL
    );
    CREATE INDEX account_history_by_account ON account_history (account_id);",
    // 2: the balance log (see `SqliteStore::append`).
    "CREATE TABLE balance_log (
        height INTEGER PRIMARY KEY,
        balances BLOB NOT NULL
    );",
    // 3: the engine keeps a bounded cache, so the store answers lookups by id and by
    // timestamp, pending statuses, Merkle nodes for proofs, and snapshots for start.
    "CREATE TABLE transfer_ids (
        id BLOB NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (id, seq)
    ) WITHOUT ROWID;
    INSERT INTO transfer_ids (id, seq) SELECT id, seq FROM transfers;
    INSERT INTO meta (key, value)
        VALUES ('ids_indexed_upto', coalesce((SELECT max(seq) + 1 FROM transfers), 0));
    CREATE INDEX transfers_by_timestamp ON transfers (timestamp);
    CREATE TABLE pending_status (
        id BLOB PRIMARY KEY,
        status INTEGER NOT NULL,
        block_height INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE failed_transfers (
        seq INTEGER PRIMARY KEY,
        id BLOB NOT NULL UNIQUE,
        block_height INTEGER NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX failed_transfers_by_height ON failed_transfers (block_height);
    CREATE TABLE merkle_nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        height INTEGER PRIMARY KEY,
        block_hash BLOB NOT NULL,
        digest BLOB NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE snapshot_chunks (
        height INTEGER NOT NULL,
        chunk INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (height, chunk)
    ) WITHOUT ROWID;",
    // 4: TigerBeetle's queries (see `crate::query` for the choice of indexes and their cost).
    "CREATE TABLE transfer_accounts (
        run INTEGER NOT NULL,
        account_id BLOB NOT NULL,
        side INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (run, account_id, side, timestamp, seq)
    ) WITHOUT ROWID;
    CREATE TABLE transfer_account_runs (
        run INTEGER PRIMARY KEY,
        timestamp_min INTEGER NOT NULL,
        timestamp_max INTEGER NOT NULL
    );
    CREATE TEMP VIEW indexed AS SELECT * FROM transfers
        WHERE seq < (SELECT value FROM meta WHERE key = 'ids_indexed_upto');
    INSERT INTO transfer_account_runs (run, timestamp_min, timestamp_max)
        SELECT 0, min(timestamp), max(timestamp) FROM indexed HAVING count(*) > 0;
    INSERT INTO transfer_accounts (run, account_id, side, timestamp, seq)
        SELECT 0, debit_account_id, 0, timestamp, seq FROM indexed
        UNION ALL SELECT 0, credit_account_id, 1, timestamp, seq FROM indexed;
    DROP VIEW indexed;
    CREATE INDEX transfers_by_code ON transfers (code, timestamp);
    CREATE INDEX transfers_by_user_data_128 ON transfers (user_data_128, timestamp)
        WHERE user_data_128 != x'00000000000000000000000000000000';
    CREATE INDEX transfers_by_user_data_64 ON transfers (user_data_64, timestamp)
        WHERE user_data_64 != 0;
    CREATE INDEX transfers_by_user_data_32 ON transfers (user_data_32, timestamp)
        WHERE user_data_32 != 0;
    CREATE INDEX accounts_by_timestamp ON accounts (timestamp);
    CREATE INDEX accounts_by_ledger ON accounts (ledger, timestamp);
    CREATE INDEX accounts_by_code ON accounts (code, timestamp);
    CREATE INDEX accounts_by_user_data_128 ON accounts (user_data_128, timestamp)
        WHERE user_data_128 != x'00000000000000000000000000000000';
    CREATE INDEX accounts_by_user_data_64 ON accounts (user_data_64, timestamp)
        WHERE user_data_64 != 0;
    CREATE INDEX accounts_by_user_data_32 ON accounts (user_data_32, timestamp)
        WHERE user_data_32 != 0;
    DROP INDEX account_history_by_account;
    CREATE INDEX account_history_by_account_timestamp ON account_history (account_id, timestamp);",
    // 5: the payments context's tables (authorizations and their cancels), written in the
    // ledger's own transactions (`tables::payments`).
    crate::tables::payments::SQLITE_TABLES,
    // 6: the platform's keyed records, moved into the ledger's database so that a record
    // and the transfers of one operation are one commit (`tables::records`).
    crate::tables::records::SQLITE_TABLE,
    // 7: authorizations by member and time, and by time (`tables::payments`).
    crate::tables::payments::INDEXES_BY_MEMBER_AND_TIME,
    // 8: the members context's tables (members, devices, sessions, verifications;
    // `tables::members`).
    crate::tables::members::SQLITE_TABLES,
    // 9: the exchange context's tables (partner links and exchanges; `tables::exchanges`).
    crate::tables::exchanges::SQLITE_TABLES,
    // 10: the vouchers context's tables (products and vouchers; `tables::vouchers`).
    crate::tables::vouchers::SQLITE_TABLES,
    // 11: the pay codes' tables (devices and used codes; `tables::paycodes`).
    crate::tables::paycodes::SQLITE_TABLES,
    // 12: the conversion context's tables (wallet addresses, conversions, settings;
    // `tables::conversions`).
    crate::tables::conversions::SQLITE_TABLES,
    // 13: the anchoring tables (co-signatures and anchorings; `tables::anchoring`).
    crate::tables::anchoring::SQLITE_TABLES,
    // 14: the merchants context's tables (merchants and terminals; `tables::merchants`).
    crate::tables::merchants::SQLITE_TABLES,
    // 15: the settlement runs and their lines (`tables::settlements`).
    crate::tables::settlements::SQLITE_TABLES,
    // 16: the partner catalogue (partners and their rates; `tables::partners`).
    crate::tables::partners::SQLITE_TABLES,
    // 17: the operators context's tables (operators, sessions, API keys;
    // `tables::operators`).
    crate::tables::operators::SQLITE_TABLES,
    // 18: the audit log (`tables::audit`).
    crate::tables::audit::SQLITE_TABLES,
    // 19: a partner link exists only after the partner's proof (OAuth 2.0 with PKCE): its
    // status and the proof's secrets; older links become unproven (`tables::exchanges`).
    crate::tables::exchanges::LINK_PROOF_MIGRATION,
    // 20: members' safety: wrong PINs counted per phone with delays instead of locks, and
    // the devices proven by SMS (`tables::members`).
    crate::tables::members::SQLITE_SAFETY_MIGRATION,
    // 21: the abuse limits' counters (`tables::limits`).
    crate::tables::limits::SQLITE_TABLES,
    // 22: VANs as parties: their keys and the merchants they serve (`tables::vans`).
    crate::tables::vans::SQLITE_TABLES,
    // 23: the merchant portal's users and sessions (`tables::portal_users`).
    crate::tables::portal_users::SQLITE_TABLES,
    // 24: the ads context's campaigns and views (`tables::ads`).
    crate::tables::ads::SQLITE_TABLES,
    // 25: the operators' health records: ledger verifications and partner reconciliations
    // (`tables::health`).
    crate::tables::health::SQLITE_TABLES,
    // 26: P2P transfers and money requests (`tables::transfers`).
    crate::tables::transfers::SQLITE_TABLES,
    // 27: assets: prices and conversion quotes (`tables::assets`).
    crate::tables::assets::SQLITE_TABLES,
    // 28: P2P transfers in any asset, received in another (`tables::transfers`).
    crate::tables::transfers::ASSETS_MIGRATION,
    // 29: checkout: payment intents, webhook endpoints and events (`tables::checkout`).
    crate::tables::checkout::SQLITE_TABLES,
    // 30: promotions and the bonuses they granted or took back (`tables::promotions`).
    crate::tables::promotions::SQLITE_TABLES,
    // 31: escrowed P2P trades, their disputes, game companies and their credits
    // (`tables::escrow`).
    crate::tables::escrow::SQLITE_TABLES,
    // 32: content platforms, creators, contents, reports, reward pools, tips and payouts
    // (`tables::creators`).
    crate::tables::creators::SQLITE_TABLES,
    // 33: prepaid partners, for points replacement (`tables::partners`).
    crate::tables::partners::PREPAID_MIGRATION,
    // 34: trading rewards among the promotions' kinds (`tables::promotions`).
    crate::tables::promotions::TRADING_REWARDS_MIGRATION_SQLITE,
];

/// The columns of a transfer row, in the order [`transfer_from_row`] reads them.
pub(crate) const TRANSFER_COLUMNS: &str =
    "seq, block_height, id, debit_account_id, credit_account_id,
    amount, pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags,
    timestamp";

/// Ids per `IN (...)` lookup; shorter lists are padded with their first id.
const IDS_PER_LOOKUP: usize = 64;

/// Transfer ids buffered before they are written to `transfer_ids`, sorted, in one go.
pub const IDS_DEFERRED_MAX: usize = 8192;

/// The 12 columns of an [`Account`], in the order [`bind_account`] and [`account_from_row`]
/// use.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, debits_pending, debits_posted, credits_pending, credits_posted,
    user_data_128, user_data_64, user_data_32, ledger, code, flags, timestamp";

const UPDATE_ACCOUNT: &str = "UPDATE accounts SET debits_pending = ?2, debits_posted = ?3,
    credits_pending = ?4, credits_posted = ?5, flags = ?6 WHERE seq = ?1";

/// Rows per multi-row INSERT. SQLite's cost per statement execution dominates single-row
/// inserts; 64 rows of up to 15 columns stay far below the bound-parameter limit.
const ROWS_PER_INSERT: usize = 64;

/// One multi-row INSERT, for [`ROWS_PER_INSERT`] rows and for one.
struct MultiInsert {
    chunk: String,
    one: String,
    /// Placeholders per row.
    params: usize,
}

impl MultiInsert {
    fn new(head: &str, params: usize) -> MultiInsert {
        let row = format!("({})", vec!["?"; params].join(", "));
        let rows = |n: usize| format!("{head} VALUES {}", vec![row.as_str(); n].join(", "));
        MultiInsert {
            chunk: rows(ROWS_PER_INSERT),
            one: rows(1),
            params,
        }
    }
}

struct Sql {
    ids: MultiInsert,
    sides: MultiInsert,
    failed: MultiInsert,
    statuses: MultiInsert,
    nodes: MultiInsert,
    blocks: MultiInsert,
    accounts: MultiInsert,
    transfers: MultiInsert,
    history: MultiInsert,
}

fn sql() -> &'static Sql {
    static SQL: OnceLock<Sql> = OnceLock::new();
    SQL.get_or_init(|| Sql {
        ids: MultiInsert::new("INSERT INTO transfer_ids (id, seq)", 2),
        sides: MultiInsert::new(
            "INSERT INTO transfer_accounts (run, account_id, side, timestamp, seq)",
            5,
        ),
        failed: MultiInsert::new(
            "INSERT INTO failed_transfers (id, block_height, result)",
            3,
        ),
        statuses: MultiInsert::new(
            "INSERT INTO pending_status (id, status, block_height)",
            3,
        ),
        nodes: MultiInsert::new("INSERT INTO merkle_nodes (level, idx, hash)", 3),
        blocks: MultiInsert::new(
            "INSERT INTO blocks (height, hash, previous_hash, timestamp, account_count, transfer_count,
                accounts_digest, tree_size, merkle_root, signature, first_account)",
            11,
        ),
        accounts: MultiInsert::new(
            &format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}, seq, block_height, created_flags)"),
            15,
        ),
        transfers: MultiInsert::new(
            "INSERT INTO transfers (seq, id, block_height, debit_account_id, credit_account_id, amount,
                pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags,
                timestamp)",
            15,
        ),
        history: MultiInsert::new(
            "INSERT INTO account_history (account_id, timestamp, debits_pending, debits_posted,
                credits_pending, credits_posted, block_height)",
            7,
        ),
    })
}

/// Writes `rows` with `insert`: chunks of [`ROWS_PER_INSERT`], then the rest one by one.
/// `bind(statement, first_parameter, row)` binds one row's parameters from `first_parameter`.
fn insert_rows<T>(
    conn: &Connection,
    insert: &MultiInsert,
    rows: &[T],
    bind: impl Fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> Result<(), StoreError> {
    let chunks = rows.chunks_exact(ROWS_PER_INSERT);
    let rest = chunks.remainder();
    if chunks.len() > 0 {
        let mut st = conn.prepare_cached(&insert.chunk)?;
        for chunk in chunks {
            for (i, row) in chunk.iter().enumerate() {
                bind(&mut st, 1 + i * insert.params, row)?;
            }
            st.raw_execute()?;
        }
    }
    if !rest.is_empty() {
        let mut st = conn.prepare_cached(&insert.one)?;
        for row in rest {
            bind(&mut st, 1, row)?;
            st.raw_execute()?;
        }
    }
    Ok(())
}

/// Binds the 12 columns of [`ACCOUNT_COLUMNS`] from parameter `p` on.
fn bind_account(st: &mut Statement<'_>, p: usize, a: &Account) -> rusqlite::Result<()> {
    st.raw_bind_parameter(p, a.id.0.to_be_bytes())?;
    st.raw_bind_parameter(p + 1, a.debits_pending.to_be_bytes())?;
    st.raw_bind_parameter(p + 2, a.debits_posted.to_be_bytes())?;
    st.raw_bind_parameter(p + 3, a.credits_pending.to_be_bytes())?;
    st.raw_bind_parameter(p + 4, a.credits_posted.to_be_bytes())?;
    st.raw_bind_parameter(p + 5, a.user_data_128.to_be_bytes())?;
    st.raw_bind_parameter(p + 6, u64_to_sql(a.user_data_64))?;
    st.raw_bind_parameter(p + 7, a.user_data_32)?;
    st.raw_bind_parameter(p + 8, a.ledger)?;
    st.raw_bind_parameter(p + 9, a.code)?;
    st.raw_bind_parameter(p + 10, a.flags.bits())?;
    st.raw_bind_parameter(p + 11, u64_to_sql(a.timestamp))
}

/// A [`Store`] in one SQLite database file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// `id -> seq` of every stored account, loaded by the first append.
    account_seqs: Option<HashMap<AccountId, i64>>,
    /// Size of `balance_log` (read on first use, then counted here).
    log: Option<LogSize>,
    /// Transfer ids not yet in `transfer_ids` (read on first use, then kept here).
    deferred_ids: Option<DeferredIds>,
}

/// The ids of the transfers after `meta.ids_indexed_upto`, which `transfer_ids` does not
/// cover yet.
///
/// Writing each transfer's id into an index as it commits dirties one index page per
/// commit and client: clients that number their transfers in order each append to their
/// own place in the index, so 64 clients of one transfer each cost 64 page writes per
/// commit, and the commit rate halves. Buffered and written sorted, [`IDS_DEFERRED_MAX`]
/// at a time, the same ids fill whole pages. Lookups read the index and scan the short tail
/// by rowid range, so nothing is ever missing; the buffer is rebuilt from that tail after a
/// restart.
#[derive(Default)]
struct DeferredIds {
    rows: Vec<DeferredRow>,
}

/// What the deferred indexes need of one transfer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DeferredRow {
    id: [u8; 16],
    seq: i64,
    debit: [u8; 16],
    credit: [u8; 16],
    timestamp: i64,
}

impl DeferredIds {
    fn load(conn: &Connection) -> Result<DeferredIds, StoreError> {
        let mut st = conn.prepare_cached(
            "SELECT id, seq, debit_account_id, credit_account_id, timestamp FROM transfers
             WHERE seq >= (SELECT value FROM meta WHERE key = 'ids_indexed_upto') ORDER BY seq",
        )?;
        let mut rows = st.query([])?;
        let mut deferred = DeferredIds::default();
        while let Some(row) = rows.next()? {
            deferred.rows.push(DeferredRow {
                id: codec::fixed(blob(row, 0), 0, "transfer id")?,
                seq: int(row, 1).unwrap_or(-1),
                debit: codec::fixed(blob(row, 2), 0, "transfer debit_account_id")?,
                credit: codec::fixed(blob(row, 3), 0, "transfer credit_account_id")?,
                timestamp: int(row, 4).unwrap_or(0),
            });
        }
        Ok(deferred)
    }

    /// Adds an append's transfers; once the buffer is full, writes it (inside the append's
    /// transaction) and moves the mark past it.
    fn add(
        &mut self,
        conn: &Connection,
        transfers: &[(u64, u64, &Transfer)],
    ) -> Result<(), StoreError> {
        let added = transfers.iter().map(|&(seq, _, t)| DeferredRow {
            id: t.id.0.to_be_bytes(),
            seq: u64_to_sql(seq),
            debit: t.debit_account_id.0.to_be_bytes(),
            credit: t.credit_account_id.0.to_be_bytes(),
            timestamp: u64_to_sql(t.timestamp),
        });
        self.rows.extend(added);
        if self.rows.len() < IDS_DEFERRED_MAX {
            return Ok(());
        }
        self.flush(conn)
    }

    /// Writes the buffer: ids into the one id index, and the account sides as a new run of
    /// `transfer_accounts` (a run's rows sort after every earlier run's, so they append).
    fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let first = self
            .rows
            .iter()
            .map(|row| row.seq)
            .min()
            .expect("not empty");
        let upto = self
            .rows
            .iter()
            .map(|row| row.seq)
            .max()
            .expect("not empty")
            + 1;
        let timestamps = self.rows.iter().map(|row| row.timestamp);
        let (min, max) = (timestamps.clone().min(), timestamps.max());
        self.rows.sort_unstable_by_key(|row| row.id);
        insert_rows(conn, &sql().ids, &self.rows, |st, p, row| {
            st.raw_bind_parameter(p, row.id)?;
            st.raw_bind_parameter(p + 1, row.seq)
        })?;
        let mut sides: Vec<([u8; 16], i64, i64, i64)> = Vec::with_capacity(2 * self.rows.len());
        for row in &self.rows {
            sides.push((row.debit, 0, row.timestamp, row.seq));
            sides.push((row.credit, 1, row.timestamp, row.seq));
        }
        sides.sort_unstable();
        insert_rows(
            conn,
            &sql().sides,
            &sides,
            |st, p, (account, side, timestamp, seq)| {
                st.raw_bind_parameter(p, first)?;
                st.raw_bind_parameter(p + 1, account)?;
                st.raw_bind_parameter(p + 2, side)?;
                st.raw_bind_parameter(p + 3, timestamp)?;
                st.raw_bind_parameter(p + 4, seq)
            },
        )?;
        conn.prepare_cached(
            "INSERT INTO transfer_account_runs (run, timestamp_min, timestamp_max)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![first, min, max])?;
        conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'ids_indexed_upto'")?
            .execute(params![upto])?;
        self.rows.clear();
        Ok(())
    }
}

/// How much the balance log holds.
#[derive(Clone, Copy, Debug, Default)]
struct LogSize {
    rows: u64,
    entries: u64,
}

impl LogSize {
    fn is_full(self) -> bool {
        self.rows >= BALANCE_LOG_ROWS_MAX || self.entries >= BALANCE_LOG_ENTRIES_MAX
    }
}

/// Prepared statements each connection keeps: more than the distinct statements of one
/// commit (the ledger's and every context's tables), so the writer never parses a
/// statement again under load.
const STATEMENTS_CACHED_MAX: usize = 256;

/// Opens (creating if missing) a SQLite database for durable writes: WAL, `synchronous =
/// FULL`, a busy timeout. Shared by the ledger's file and the records' file.
pub(crate) fn open_durable(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(corrupt(
            0,
            format!(
                "{}: cannot switch to WAL (journal_mode is {mode})",
                path.display()
            ),
        ));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, switches it to WAL with
    /// `synchronous=FULL`, and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = open_durable(path)?;
        conn.execute_batch(
            "PRAGMA cache_size = -131072;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 16384;",
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_CACHED_MAX);
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            account_seqs: None,
            log: None,
            deferred_ids: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for inspection and for tests that damage the database.
    pub fn connection(&mut self) -> &mut Connection {
        // Whoever writes through it may change account rows behind the cached ids.
        self.account_seqs = None;
        self.log = None;
        self.deferred_ids = None;
        &mut self.conn
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if !(0..=known).contains(&version) {
        return Err(corrupt(
            0,
            format!("schema version {version} is not one this build knows (up to {known})"),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn tip(conn: &Connection) -> Result<Tip, StoreError> {
    let row: Option<(i64, i64, i64)> = conn
        .query_row(
            "SELECT height, tree_size, first_account + account_count FROM blocks ORDER BY height DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        Some((h, t, a)) => Tip {
            next_height: codec::u64_from_sql(h) + 1,
            tree_size: codec::u64_from_sql(t),
            accounts: codec::u64_from_sql(a),
        },
        None => Tip::default(),
    })
}

/// The balance log's size.
fn log_size(conn: &Connection) -> Result<LogSize, StoreError> {
    let (rows, bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(length(balances)), 0) FROM balance_log",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(LogSize {
        rows: rows as u64,
        entries: bytes as u64 / LOGGED_BALANCE_LEN as u64,
    })
}

/// The latest logged balance of every account in the log, by account seq.
fn read_balance_log(conn: &Connection) -> Result<HashMap<i64, LoggedBalance>, StoreError> {
    let mut st = conn.prepare_cached("SELECT height, balances FROM balance_log ORDER BY height")?;
    let mut rows = st.query([])?;
    let mut latest = HashMap::new();
    while let Some(row) = rows.next()? {
        let height = int(row, 0).map_or(0, codec::u64_from_sql);
        let bytes = blob(row, 1).unwrap_or_default();
        codec::decode_balance_log_row(height, bytes, &mut latest)?;
    }
    Ok(latest)
}

/// Writes the log's latest balances into `accounts` and empties the log (inside the caller's
/// transaction).
fn fold_balance_log(conn: &Connection) -> Result<(), StoreError> {
    let mut latest: Vec<(i64, LoggedBalance)> = read_balance_log(conn)?.into_iter().collect();
    latest.sort_unstable_by_key(|(seq, _)| *seq);
    let mut st = conn.prepare_cached(UPDATE_ACCOUNT)?;
    for (seq, balance) in latest {
        let [
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
        ] = balance.balances;
        let changed = st.execute(params![
            seq,
            debits_pending.to_be_bytes(),
            debits_posted.to_be_bytes(),
            credits_pending.to_be_bytes(),
            credits_posted.to_be_bytes(),
            balance.flags,
        ])?;
        if changed != 1 {
            return Err(corrupt(
                0,
                format!("the balance log names account seq {seq}, which has no row"),
            ));
        }
    }
    conn.execute("DELETE FROM balance_log", [])?;
    Ok(())
}

fn load_account_seqs(conn: &Connection) -> Result<HashMap<AccountId, i64>, StoreError> {
    let mut st = conn.prepare("SELECT seq, id FROM accounts")?;
    let mut rows = st.query([])?;
    let mut map = HashMap::new();
    while let Some(row) = rows.next()? {
        let seq = int(row, 0).unwrap_or(-1);
        let id = u128_col(blob(row, 1), 0, "account id")?;
        map.insert(AccountId(id), seq);
    }
    Ok(map)
}

pub(crate) fn blob<'a>(row: &'a Row<'_>, i: usize) -> Option<&'a [u8]> {
    match row.get_ref(i) {
        Ok(ValueRef::Blob(b)) => Some(b),
        _ => None,
    }
}

pub(crate) fn int(row: &Row<'_>, i: usize) -> Option<i64> {
    match row.get_ref(i) {
        Ok(ValueRef::Integer(v)) => Some(v),
        _ => None,
    }
}

/// Decodes the 12 columns of [`ACCOUNT_COLUMNS`].
pub(crate) fn account_from_row(row: &Row<'_>, height: u64) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId(u128_col(blob(row, 0), height, "account id")?),
        debits_pending: u128_col(blob(row, 1), height, "account debits_pending")?,
        debits_posted: u128_col(blob(row, 2), height, "account debits_posted")?,
        credits_pending: u128_col(blob(row, 3), height, "account credits_pending")?,
        credits_posted: u128_col(blob(row, 4), height, "account credits_posted")?,
        user_data_128: u128_col(blob(row, 5), height, "account user_data_128")?,
        user_data_64: u64_col(int(row, 6), height, "account user_data_64")?,
        user_data_32: u32_col(int(row, 7), height, "account user_data_32")?,
        ledger: u32_col(int(row, 8), height, "account ledger")?,
        code: u16_col(int(row, 9), height, "account code")?,
        flags: AccountFlags(u16_col(int(row, 10), height, "account flags")?),
        timestamp: u64_col(int(row, 11), height, "account timestamp")?,
    })
}

/// Decodes [`TRANSFER_COLUMNS`] from column `first` on: `(seq, transfer)`.
pub(crate) fn transfer_from_row(
    row: &Row<'_>,
    first: usize,
    h: u64,
) -> Result<(u64, Transfer), StoreError> {
    let c = |i: usize| first + i;
    let seq = u64_col(int(row, c(0)), h, "transfer seq")?;
    let transfer = Transfer {
        id: TransferId(u128_col(blob(row, c(2)), h, "transfer id")?),
        debit_account_id: AccountId(u128_col(blob(row, c(3)), h, "transfer debit_account_id")?),
        credit_account_id: AccountId(u128_col(blob(row, c(4)), h, "transfer credit_account_id")?),
        amount: u128_col(blob(row, c(5)), h, "transfer amount")?,
        pending_id: TransferId(u128_col(blob(row, c(6)), h, "transfer pending_id")?),
        user_data_128: u128_col(blob(row, c(7)), h, "transfer user_data_128")?,
        user_data_64: u64_col(int(row, c(8)), h, "transfer user_data_64")?,
        user_data_32: u32_col(int(row, c(9)), h, "transfer user_data_32")?,
        timeout: u32_col(int(row, c(10)), h, "transfer timeout")?,
        ledger: u32_col(int(row, c(11)), h, "transfer ledger")?,
        code: u16_col(int(row, c(12)), h, "transfer code")?,
        flags: TransferFlags(u16_col(int(row, c(13)), h, "transfer flags")?),
        timestamp: u64_col(int(row, c(14)), h, "transfer timestamp")?,
    };
    Ok((seq, transfer))
}

/// The pending-status rows a group of blocks writes: `(pending id, status, height)`.
fn status_rows(writes: &[BlockWrite]) -> Vec<([u8; 16], i64, i64)> {
    let mut rows = Vec::new();
    for w in writes {
        let height = u64_to_sql(w.block.header.height);
        for id in &w.expired {
            rows.push((id.0.to_be_bytes(), codec::STATUS_EXPIRED, height));
        }
        for t in &w.block.transfers {
            if let Some(status) = codec::resolution_status(t.flags) {
                rows.push((t.pending_id.0.to_be_bytes(), status, height));
            }
        }
    }
    rows
}

/// Writes pending statuses, Merkle nodes and failed ids (inside the caller's transaction).
fn append_lookups(conn: &Connection, writes: &[BlockWrite]) -> Result<(), StoreError> {
    let sql = sql();
    let failed: Vec<(i64, &FailedTransfer)> = writes
        .iter()
        .flat_map(|w| {
            w.failed
                .iter()
                .map(|f| (u64_to_sql(w.block.header.height), f))
        })
        .collect();
    insert_rows(conn, &sql.failed, &failed, |st, p, (height, failure)| {
        st.raw_bind_parameter(p, failure.id.0.to_be_bytes())?;
        st.raw_bind_parameter(p + 1, height)?;
        st.raw_bind_parameter(p + 2, failure.result.as_str())
    })?;
    insert_rows(
        conn,
        &sql.statuses,
        &status_rows(writes),
        |st, p, (id, status, height)| {
            st.raw_bind_parameter(p, id)?;
            st.raw_bind_parameter(p + 1, status)?;
            st.raw_bind_parameter(p + 2, height)
        },
    )?;
    let nodes: Vec<&ledger::merkle::MerkleNode> =
        writes.iter().flat_map(|w| &w.merkle_nodes).collect();
    insert_rows(conn, &sql.nodes, &nodes, |st, p, node| {
        st.raw_bind_parameter(p, node.level)?;
        st.raw_bind_parameter(p + 1, u64_to_sql(node.index))?;
        st.raw_bind_parameter(p + 2, node.hash)
    })
}

/// Page cache of a reader connection, in KiB (the writer's is 128 MiB).
const READER_CACHE_KIB: u32 = 16 * 1024;

/// Snapshot state is stored in chunks of this many bytes.
const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;

/// Snapshots whose state is kept (older ones keep only their header).
const SNAPSHOTS_KEPT: i64 = 2;

impl SqliteStore {
    fn lookup_chunk(&mut self, ids: &[TransferId]) -> Result<Vec<StoredTransfer>, StoreError> {
        let placeholders = vec!["?"; IDS_PER_LOOKUP].join(", ");
        // The index, then the tail it does not cover yet (at most `IDS_DEFERRED_MAX` rows
        // plus one append, found by rowid range): see `DeferredIds`.
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TRANSFER_COLUMNS}, (SELECT status FROM pending_status ps WHERE ps.id = t.id)
             FROM transfers t WHERE seq IN (SELECT seq FROM transfer_ids WHERE id IN ({placeholders}))
             UNION ALL
             SELECT {TRANSFER_COLUMNS}, (SELECT status FROM pending_status ps WHERE ps.id = t.id)
             FROM transfers t WHERE seq >= (SELECT value FROM meta WHERE key = 'ids_indexed_upto')
                AND id IN ({placeholders})"
        ))?;
        for index in 0..IDS_PER_LOOKUP {
            let id = ids.get(index).unwrap_or(&ids[0]).0.to_be_bytes();
            st.raw_bind_parameter(index + 1, id)?;
            st.raw_bind_parameter(IDS_PER_LOOKUP + index + 1, id)?;
        }
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let (leaf_index, transfer) = transfer_from_row(row, 0, 0)?;
            let status = codec::pending_status(transfer.flags, int(row, 15))?;
            out.push(StoredTransfer {
                transfer,
                status,
                leaf_index,
            });
        }
        Ok(out)
    }

    fn select_transfers(
        &mut self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Transfer>, StoreError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query(args)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(transfer_from_row(row, 0, 0)?.1);
        }
        Ok(out)
    }
}

impl SqliteStore {
    /// Rows without a block: one transaction of their own.
    fn write_rows_alone(&mut self, rows: &[RowRef]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for row in rows {
            row.write(&mut TableTx::Sqlite(&tx))?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn init(&mut self, meta: &StoreMeta) -> Result<StoreMeta, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'operator_public_key'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let pinned = match stored {
            Some(key) => StoreMeta {
                operator_public_key: codec::fixed(Some(&key), 0, "meta operator_public_key")?,
            },
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('operator_public_key', ?1)",
                    params![meta.operator_public_key],
                )?;
                meta.clone()
            }
        };
        tx.commit()?;
        Ok(pinned)
    }

    fn meta(&mut self) -> Result<Option<StoreMeta>, StoreError> {
        let stored: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'operator_public_key'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        stored
            .map(|key| {
                let operator_public_key = codec::fixed(Some(&key), 0, "meta operator_public_key")?;
                Ok(StoreMeta {
                    operator_public_key,
                })
            })
            .transpose()
    }

    fn append_with_rows(
        &mut self,
        writes: &[BlockWrite],
        rows: &[RowRef],
    ) -> Result<(), StoreError> {
        crate::tables::check_row_count(rows)?;
        if writes.is_empty() {
            return self.write_rows_alone(rows);
        }
        // Dropping `tx` on any error below rolls everything back.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tip = tip(&tx)?;
        codec::validate(tip, writes)?;
        let plan = AccountPlan::new(tip, writes)?;
        let sql = sql();
        let seqs = match &mut self.account_seqs {
            Some(map) => map,
            none => none.insert(load_account_seqs(&tx)?),
        };
        let mut log = match self.log.take() {
            Some(log) => log,
            None => log_size(&tx)?,
        };
        if log.is_full() {
            fold_balance_log(&tx)?;
            log = LogSize::default();
        }
        // Read before this append's transfers are inserted: they are added below.
        let mut deferred = match self.deferred_ids.take() {
            Some(deferred) => deferred,
            None => DeferredIds::load(&tx)?,
        };

        let blocks: Vec<(&BlockWrite, u64)> = writes
            .iter()
            .zip(plan.first_account.iter().copied())
            .collect();
        insert_rows(&tx, &sql.blocks, &blocks, |st, p, &(w, first_account)| {
            let (b, h) = (&w.block, &w.block.header);
            st.raw_bind_parameter(p, u64_to_sql(h.height))?;
            st.raw_bind_parameter(p + 1, b.hash)?;
            st.raw_bind_parameter(p + 2, h.previous_hash)?;
            st.raw_bind_parameter(p + 3, u64_to_sql(h.timestamp))?;
            st.raw_bind_parameter(p + 4, h.account_count)?;
            st.raw_bind_parameter(p + 5, h.transfer_count)?;
            st.raw_bind_parameter(p + 6, h.accounts_digest)?;
            st.raw_bind_parameter(p + 7, u64_to_sql(h.tree_size))?;
            st.raw_bind_parameter(p + 8, h.merkle_root)?;
            st.raw_bind_parameter(p + 9, b.signature)?;
            st.raw_bind_parameter(p + 10, u64_to_sql(first_account))
        })?;

        insert_rows(&tx, &sql.accounts, &plan.created, |st, p, c| {
            bind_account(st, p, c.row)?;
            st.raw_bind_parameter(p + 12, u64_to_sql(c.seq))?;
            st.raw_bind_parameter(p + 13, u64_to_sql(c.height))?;
            st.raw_bind_parameter(p + 14, c.created_flags)
        })?;

        let mut transfers =
            Vec::with_capacity(writes.iter().map(|w| w.block.transfers.len()).sum());
        for w in writes {
            let h = &w.block.header;
            let first = h.tree_size - u64::from(h.transfer_count);
            transfers.extend(
                w.block
                    .transfers
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (first + i as u64, h.height, t)),
            );
        }
        insert_rows(
            &tx,
            &sql.transfers,
            &transfers,
            |st, p, &(seq, height, t)| {
                st.raw_bind_parameter(p, u64_to_sql(seq))?;
                st.raw_bind_parameter(p + 1, t.id.0.to_be_bytes())?;
                st.raw_bind_parameter(p + 2, u64_to_sql(height))?;
                st.raw_bind_parameter(p + 3, t.debit_account_id.0.to_be_bytes())?;
                st.raw_bind_parameter(p + 4, t.credit_account_id.0.to_be_bytes())?;
                st.raw_bind_parameter(p + 5, t.amount.to_be_bytes())?;
                st.raw_bind_parameter(p + 6, t.pending_id.0.to_be_bytes())?;
                st.raw_bind_parameter(p + 7, t.user_data_128.to_be_bytes())?;
                st.raw_bind_parameter(p + 8, u64_to_sql(t.user_data_64))?;
                st.raw_bind_parameter(p + 9, t.user_data_32)?;
                st.raw_bind_parameter(p + 10, t.timeout)?;
                st.raw_bind_parameter(p + 11, t.ledger)?;
                st.raw_bind_parameter(p + 12, t.code)?;
                st.raw_bind_parameter(p + 13, t.flags.bits())?;
                st.raw_bind_parameter(p + 14, u64_to_sql(t.timestamp))
            },
        )?;

        if !plan.updates.is_empty() {
            let mut logged = Vec::with_capacity(plan.updates.len() * LOGGED_BALANCE_LEN);
            for &(height, a) in &plan.updates {
                let Some(&seq) = seqs.get(&a.id) else {
                    return Err(codec::unknown_account(height, a.id));
                };
                LoggedBalance::of(a).encode(seq, &mut logged);
            }
            let height = u64_to_sql(writes.last().expect("not empty").block.header.height);
            tx.prepare_cached("INSERT INTO balance_log (height, balances) VALUES (?1, ?2)")?
                .execute(params![height, logged])?;
            log.rows += 1;
            log.entries += plan.updates.len() as u64;
        }

        let mut history = Vec::new();
        for w in writes {
            history.extend(w.history.iter().map(|b| (w.block.header.height, b)));
        }
        append_lookups(&tx, writes)?;
        deferred.add(&tx, &transfers)?;
        insert_rows(&tx, &sql.history, &history, |st, p, &(height, b)| {
            st.raw_bind_parameter(p, b.account_id.0.to_be_bytes())?;
            st.raw_bind_parameter(p + 1, u64_to_sql(b.timestamp))?;
            st.raw_bind_parameter(p + 2, b.debits_pending.to_be_bytes())?;
            st.raw_bind_parameter(p + 3, b.debits_posted.to_be_bytes())?;
            st.raw_bind_parameter(p + 4, b.credits_pending.to_be_bytes())?;
            st.raw_bind_parameter(p + 5, b.credits_posted.to_be_bytes())?;
            st.raw_bind_parameter(p + 6, u64_to_sql(height))
        })?;
        for row in rows {
            row.write(&mut TableTx::Sqlite(&tx))?;
        }

        if let Err(e) = tx.commit() {
            self.account_seqs = None;
            return Err(e.into());
        }
        seqs.extend(plan.created.iter().map(|c| (c.row.id, u64_to_sql(c.seq))));
        self.log = Some(log);
        self.deferred_ids = Some(deferred);
        Ok(())
    }

    fn block_count(&mut self) -> Result<u64, StoreError> {
        Ok(tip(&self.conn)?.next_height)
    }

    fn tables(&mut self) -> Result<TableRead<'_>, StoreError> {
        Ok(TableRead::Sqlite(&self.conn))
    }

    fn read_blocks(
        &mut self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One read transaction: a consistent snapshot of headers and bodies.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut blocks: Vec<BlockRecord> = Vec::new();
        let mut first_account: Vec<u64> = Vec::new();
        {
            let mut st = tx.prepare_cached(
                "SELECT height, hash, previous_hash, timestamp, account_count, transfer_count,
                    accounts_digest, tree_size, merkle_root, signature, first_account
                 FROM blocks WHERE height >= ?1 ORDER BY height LIMIT ?2",
            )?;
            let mut rows = st.query(params![u64_to_sql(from_height), limit_sql])?;
            while let Some(row) = rows.next()? {
                let expected = from_height + blocks.len() as u64;
                let height = u64_col(int(row, 0), expected, "block height")?;
                if height != expected {
                    return Err(corrupt(
                        expected,
                        format!("block {expected} is missing (next stored is {height})"),
                    ));
                }
                let header = BlockHeader {
                    height,
                    previous_hash: codec::fixed(blob(row, 2), height, "block previous_hash")?,
                    timestamp: u64_col(int(row, 3), height, "block timestamp")?,
                    account_count: u32_col(int(row, 4), height, "block account_count")?,
                    transfer_count: u32_col(int(row, 5), height, "block transfer_count")?,
                    accounts_digest: codec::fixed(blob(row, 6), height, "block accounts_digest")?,
                    tree_size: u64_col(int(row, 7), height, "block tree_size")?,
                    merkle_root: codec::fixed(blob(row, 8), height, "block merkle_root")?,
                };
                blocks.push(BlockRecord {
                    header,
                    hash: codec::fixed(blob(row, 1), height, "block hash")?,
                    signature: codec::fixed(blob(row, 9), height, "block signature")?,
                    accounts: Vec::new(),
                    transfers: Vec::new(),
                });
                first_account.push(u64_col(int(row, 10), height, "block first_account")?);
            }
        }
        if blocks.is_empty() {
            return Ok(blocks);
        }

        // Accounts created in these blocks: their seq range, in creation order.
        let ranges = codec::account_ranges(&blocks, &first_account)?;
        {
            let mut st = tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS}, seq, block_height, created_flags FROM accounts
                 WHERE seq >= ?1 AND seq < ?2 ORDER BY seq"
            ))?;
            let (lo, hi) = (ranges[0].start, ranges[ranges.len() - 1].end);
            let mut rows = st.query(params![u64_to_sql(lo), u64_to_sql(hi)])?;
            let mut fill = codec::RangeFill::<codec::Accounts>::new(&mut blocks, &ranges);
            while let Some(row) = rows.next()? {
                let h = fill.height_for(int(row, 12).map(codec::u64_from_sql));
                let seq = u64_col(int(row, 12), h, "account seq")?;
                let height = u64_col(int(row, 13), h, "account block_height")?;
                let mut a = account_from_row(row, h)?;
                // As created: zero balances (checked on append), flags at creation.
                (
                    a.debits_pending,
                    a.debits_posted,
                    a.credits_pending,
                    a.credits_posted,
                ) = (0, 0, 0, 0);
                a.flags = AccountFlags(u16_col(int(row, 14), h, "account created_flags")?);
                fill.push(seq, height, a)?;
            }
            fill.finish()?;
        }

        // Transfers of these blocks: the leaf range they cover, in log order.
        let ranges = codec::transfer_ranges(&blocks)?;
        {
            let mut st = tx.prepare_cached(&format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq >= ?1 AND seq < ?2 ORDER BY seq"
            ))?;
            let (lo, hi) = (ranges[0].start, ranges[ranges.len() - 1].end);
            let mut rows = st.query(params![u64_to_sql(lo), u64_to_sql(hi)])?;
            let mut fill = codec::RangeFill::<codec::Transfers>::new(&mut blocks, &ranges);
            while let Some(row) = rows.next()? {
                let h = fill.height_for(int(row, 0).map(codec::u64_from_sql));
                let height = u64_col(int(row, 1), h, "transfer block_height")?;
                let (seq, t) = transfer_from_row(row, 0, h)?;
                fill.push(seq, height, t)?;
            }
            fill.finish()?;
        }
        drop(tx);
        Ok(blocks)
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        // One read transaction: the table and the log from the same snapshot.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let logged = read_balance_log(&tx)?;
        let mut st = tx.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS}, block_height, seq FROM accounts ORDER BY id"
        ))?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let height = int(row, 12).map_or(0, codec::u64_from_sql);
            let mut account = account_from_row(row, height)?;
            if let Some(balance) = int(row, 13).and_then(|seq| logged.get(&seq)) {
                balance.apply(&mut account);
            }
            out.push(account);
        }
        Ok(out)
    }

    fn account_history(&mut self, id: AccountId) -> Result<Vec<AccountBalance>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT account_id, timestamp, debits_pending, debits_posted, credits_pending, credits_posted,
                block_height
             FROM account_history WHERE account_id = ?1 ORDER BY seq",
        )?;
        let mut rows = st.query(params![id.0.to_be_bytes()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let h = int(row, 6).map_or(0, codec::u64_from_sql);
            out.push(AccountBalance {
                account_id: AccountId(u128_col(blob(row, 0), h, "history account_id")?),
                timestamp: u64_col(int(row, 1), h, "history timestamp")?,
                debits_pending: u128_col(blob(row, 2), h, "history debits_pending")?,
                debits_posted: u128_col(blob(row, 3), h, "history debits_posted")?,
                credits_pending: u128_col(blob(row, 4), h, "history credits_pending")?,
                credits_posted: u128_col(blob(row, 5), h, "history credits_posted")?,
            });
        }
        Ok(out)
    }

    fn reader(&self) -> Result<Box<dyn Store>, StoreError> {
        let reader = SqliteStore::open(&self.path)?;
        // Readers look up a few rows at a time: a small page cache keeps memory bounded.
        reader
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};"))?;
        Ok(Box::new(reader))
    }

    fn lookup_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<StoredTransfer>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            out.extend(self.lookup_chunk(chunk)?);
        }
        Ok(out)
    }

    fn transfers_by_leaf(&mut self, from: u64, to: u64) -> Result<Vec<Transfer>, StoreError> {
        let to = to.min(from.saturating_add(crate::LEAF_RANGE_MAX));
        self.select_transfers(
            &format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq >= ?1 AND seq < ?2 ORDER BY seq"
            ),
            params![u64_to_sql(from), u64_to_sql(to)],
        )
    }

    fn merkle_node(&mut self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        let hash: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hash FROM merkle_nodes WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, u64_to_sql(index)], |r| r.get(0))
            .optional()?;
        hash.map(|hash| codec::fixed(Some(&hash), 0, "merkle node"))
            .transpose()
    }

    fn transfers_at(&mut self, timestamps: &[u64]) -> Result<Vec<Transfer>, StoreError> {
        let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp = ?1");
        let mut out = Vec::new();
        for &timestamp in timestamps {
            out.extend(self.select_transfers(&sql, params![u64_to_sql(timestamp)])?);
        }
        out.sort_unstable_by_key(|t| t.timestamp);
        out.dedup();
        Ok(out)
    }

    fn write_snapshot(&mut self, snapshot: &SnapshotRecord) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let height = u64_to_sql(snapshot.height);
        // A retry after a lost acknowledgement writes the same height again: replace it.
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (height, block_hash, digest, signature)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                height,
                snapshot.block_hash,
                snapshot.digest,
                snapshot.signature
            ],
        )?;
        tx.execute(
            "DELETE FROM snapshot_chunks WHERE height = ?1",
            params![height],
        )?;
        for (chunk, bytes) in snapshot.state.chunks(SNAPSHOT_CHUNK_BYTES).enumerate() {
            tx.execute(
                "INSERT INTO snapshot_chunks (height, chunk, bytes) VALUES (?1, ?2, ?3)",
                params![height, chunk as i64, bytes],
            )?;
        }
        tx.execute(
            "DELETE FROM snapshot_chunks WHERE height NOT IN
                (SELECT height FROM snapshots ORDER BY height DESC LIMIT ?1)",
            params![SNAPSHOTS_KEPT],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn latest_snapshot(&mut self) -> Result<Option<SnapshotRecord>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let Some(mut snapshot) = read_snapshot_headers(&tx, "ORDER BY height DESC LIMIT 1")?.pop()
        else {
            return Ok(None);
        };
        let mut st = tx
            .prepare_cached("SELECT bytes FROM snapshot_chunks WHERE height = ?1 ORDER BY chunk")?;
        let mut rows = st.query(params![u64_to_sql(snapshot.height)])?;
        while let Some(row) = rows.next()? {
            snapshot
                .state
                .extend_from_slice(blob(row, 0).unwrap_or_default());
        }
        drop(rows);
        drop(st);
        drop(tx);
        Ok(Some(snapshot))
    }

    fn snapshot_headers(&mut self) -> Result<Vec<SnapshotRecord>, StoreError> {
        read_snapshot_headers(&self.conn, "ORDER BY height")
    }

    fn lookup_failed(&mut self, ids: &[TransferId]) -> Result<Vec<TransferId>, StoreError> {
        let placeholders = vec!["?"; IDS_PER_LOOKUP].join(", ");
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT id FROM failed_transfers WHERE id IN ({placeholders})"
        ))?;
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            for index in 0..IDS_PER_LOOKUP {
                let id = chunk.get(index).unwrap_or(&chunk[0]);
                st.raw_bind_parameter(index + 1, id.0.to_be_bytes())?;
            }
            let mut rows = st.raw_query();
            while let Some(row) = rows.next()? {
                out.push(TransferId(u128_col(blob(row, 0), 0, "failed id")?));
            }
        }
        Ok(out)
    }

    fn failed_transfers(
        &mut self,
        from_height: u64,
        to_height: u64,
    ) -> Result<Vec<(u64, FailedTransfer)>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT block_height, id, result FROM failed_transfers
             WHERE block_height >= ?1 AND block_height < ?2 ORDER BY seq",
        )?;
        let mut rows = st.query(params![u64_to_sql(from_height), u64_to_sql(to_height)])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let height = u64_col(int(row, 0), 0, "failed block_height")?;
            let id = TransferId(u128_col(blob(row, 1), height, "failed id")?);
            let name: String = row.get(2)?;
            let result = codec::transfer_result(&name)?;
            out.push((height, FailedTransfer { id, result }));
        }
        Ok(out)
    }

    // Queries: implemented in `crate::sqlite_query`.

    fn account_transfers(
        &mut self,
        filter: &crate::query::AccountFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        crate::sqlite_query::account_transfers(&mut self.conn, filter)
    }

    fn account_balances(
        &mut self,
        filter: &crate::query::AccountFilter,
    ) -> Result<Vec<AccountBalance>, StoreError> {
        crate::sqlite_query::account_balances(&mut self.conn, filter)
    }

    fn query_accounts(
        &mut self,
        filter: &crate::query::QueryFilter,
    ) -> Result<Vec<Account>, StoreError> {
        crate::sqlite_query::query_accounts(&mut self.conn, filter)
    }

    fn query_transfers(
        &mut self,
        filter: &crate::query::QueryFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        crate::sqlite_query::query_transfers(&mut self.conn, filter)
    }

    fn lookup_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        crate::sqlite_query::lookup_accounts(&mut self.conn, ids)
    }
}

fn read_snapshot_headers(
    conn: &Connection,
    order: &str,
) -> Result<Vec<SnapshotRecord>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT height, block_hash, digest, signature FROM snapshots {order}"
    ))?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let height = u64_col(int(row, 0), 0, "snapshot height")?;
        out.push(SnapshotRecord {
            height,
            block_hash: codec::fixed(blob(row, 1), height, "snapshot block_hash")?,
            digest: codec::fixed(blob(row, 2), height, "snapshot digest")?,
            signature: codec::fixed(blob(row, 3), height, "snapshot signature")?,
            state: Vec::new(),
        });
    }
    Ok(out)
}
