//! The PostgreSQL backend (sync `postgres` client), for scale.
//!
//! # Schema (migrations recorded in `schema_migrations`)
//! The tables of the SQLite backend (see [`crate::sqlite`]) in `bytea` and `bigint`: `u128` as
//! 16-byte big-endian `bytea`, `u64` as the bit pattern of a `bigint` (values above
//! `i64::MAX` read as negative in SQL), `u32` as `bigint`, `u16` as `integer`. One
//! difference: an account's balances and flags live in `account_balances(seq PRIMARY KEY,
//! debits_pending, debits_posted, credits_pending, credits_posted, flags)` with
//! `fillfactor = 70`, beside the immutable `accounts(seq PRIMARY KEY, id UNIQUE, user data,
//! ledger, code, timestamp, block_height, created_flags)`. PostgreSQL writes a whole new row
//! version per UPDATE, so the narrow row makes the per-block balance updates cheaper, and as
//! no indexed column changes they can be HOT. `transfers.seq` is the leaf index, and as the
//! table is append-only its insert-triggered autovacuum is off
//! (`autovacuum_vacuum_insert_threshold = -1`; anti-wraparound vacuum still runs). Needs
//! PostgreSQL 13 or later.
//!
//! Migration 3 (the engine keeps only a bounded cache of transfers, so the store answers what
//! it cannot):
//! - `transfers_by_id` on `transfers(id)` ([`Store::lookup_transfers`]: one `= ANY($1)` index
//!   lookup per batch; a random b-tree insert per transfer) and `transfers_by_timestamp` on
//!   `transfers(timestamp)` ([`Store::transfers_at`]; timestamps grow with `seq`, so its
//!   inserts go to the right edge).
//! - `pending_status(id PRIMARY KEY, status smallint, block_height)`: the final status of a
//!   resolved pending transfer (2 posted, 3 voided, 4 expired; see `codec::STATUS_*`),
//!   written by the append whose block posts, voids or expires it. A pending transfer without
//!   a row is still pending.
//! - `merkle_nodes(level, idx, hash, PRIMARY KEY (level, idx))`: the interior Merkle nodes
//!   each block completes, for proofs.
//! - `snapshots(height PRIMARY KEY, block_hash, digest, signature)` and
//!   `snapshot_chunks(height, chunk, bytes, PRIMARY KEY (height, chunk))`: engine snapshots,
//!   the state in chunks of 4 MiB (stored uncompressed); only the newest two keep their
//!   chunks, every header stays for `verify`. Writing a height again replaces it.
//!
//! # Connections
//! Every connection is made with a [`PostgresTls`] (from `tls::ClientTls::postgres`), never
//! without TLS support: the URL's `sslmode` decides (`disable`, `prefer` by default,
//! `require`), and whenever TLS is used the server's certificate is verified.
//!
//! Tables live in the connection's `search_path` ([`PostgresStore::connect`]) or in a schema
//! of their own ([`PostgresStore::connect_schema`]), so several stores (and parallel tests)
//! can share one database.
//!
//! # Writes
//! Every `append` is one transaction, in one of two shapes:
//!
//! - **Small appends of plain transfers** (no new accounts, no history, under
//!   [`COPY_TRANSFERS_MIN`] transfers; what many clients sending single transfers produce):
//!   ONE statement in its own implicit transaction, commit included, so one round trip. Data-
//!   modifying CTEs insert the blocks and transfers from `unnest` arrays, and the changed
//!   balances go into `balance_log(height, balances)` as one row of fixed-width entries
//!   (seq, four balances, flags), stored uncompressed (`STORAGE EXTERNAL`: pglz on every
//!   append cost more than it saved). Rewriting every changed `account_balances` row per
//!   append was most of an append's time; the log is folded into the table every
//!   [`BALANCE_LOG_ROWS_MAX`] appends (each account rewritten once), and before any large
//!   append. The current balances are `account_balances` overlaid with the log in height
//!   order, which is what [`Store::accounts`] returns.
//! - **Everything else**: an explicit transaction that folds the log, inserts blocks, created
//!   accounts and history by `unnest`, transfers by `COPY transfers FROM STDIN BINARY` (2x
//!   faster than `unnest` for 8,190 rows: about 20 ms against 45 ms here; see [`BulkMode`]),
//!   and the changed balances by one `UPDATE account_balances ... FROM unnest(...)`.
//!
//! Both shapes write the block's pending statuses and Merkle nodes in the same transaction
//! (in the one statement, as two more `unnest` CTEs).
//!
//! [`Store::reader`] opens a second connection to the same database and schema (the store
//! keeps the URL and the TLS connector it was opened with). It reads what is committed; the writer's in-memory
//! caches are not shared.
//!
//! The store keeps `id -> seq` and the chain's tip in memory, so it assumes it is the only
//! writer; a second writer would collide on `blocks`' primary key and fail, never fork. The
//! commit waits for the WAL flush (the server's `synchronous_commit`, on by default).

use std::collections::HashMap;

use ledger::engine::{FailedTransfer, StoredTransfer};
use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, BlockHeader, Hash, Transfer, TransferFlags,
    TransferId,
};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, Row, Statement};

use crate::codec::{
    self, AccountPlan, LOGGED_BALANCE_LEN, LoggedBalance, Tip, corrupt, u16_col, u32_col, u64_col,
    u64_to_sql, u128_col,
};
use crate::tables::{RowRef, TableRead, TableTx};
use crate::{
    BlockRecord, BlockWrite, LEAF_RANGE_MAX, SnapshotRecord, Store, StoreError, StoreMeta,
};

/// Schema migrations, applied in order; `schema_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE meta (
        key text PRIMARY KEY,
        value bytea NOT NULL
    );
    CREATE TABLE blocks (
        height bigint PRIMARY KEY,
        hash bytea NOT NULL,
        previous_hash bytea NOT NULL,
        timestamp bigint NOT NULL,
        account_count bigint NOT NULL,
        transfer_count bigint NOT NULL,
        accounts_digest bytea NOT NULL,
        tree_size bigint NOT NULL,
        merkle_root bytea NOT NULL,
        signature bytea NOT NULL,
        first_account bigint NOT NULL
    );
    CREATE TABLE accounts (
        seq bigint PRIMARY KEY,
        id bytea NOT NULL,
        user_data_128 bytea NOT NULL,
        user_data_64 bigint NOT NULL,
        user_data_32 bigint NOT NULL,
        ledger bigint NOT NULL,
        code integer NOT NULL,
        timestamp bigint NOT NULL,
        block_height bigint NOT NULL,
        created_flags integer NOT NULL
    );
    CREATE UNIQUE INDEX accounts_id ON accounts (id);
    CREATE TABLE account_balances (
        seq bigint PRIMARY KEY,
        debits_pending bytea NOT NULL,
        debits_posted bytea NOT NULL,
        credits_pending bytea NOT NULL,
        credits_posted bytea NOT NULL,
        flags integer NOT NULL
    ) WITH (fillfactor = 70);
    CREATE TABLE transfers (
        seq bigint PRIMARY KEY,
        id bytea NOT NULL,
        block_height bigint NOT NULL,
        debit_account_id bytea NOT NULL,
        credit_account_id bytea NOT NULL,
        amount bytea NOT NULL,
        pending_id bytea NOT NULL,
        user_data_128 bytea NOT NULL,
        user_data_64 bigint NOT NULL,
        user_data_32 bigint NOT NULL,
        timeout bigint NOT NULL,
        ledger bigint NOT NULL,
        code integer NOT NULL,
        flags integer NOT NULL,
        timestamp bigint NOT NULL
    ) WITH (autovacuum_vacuum_insert_threshold = -1);
    CREATE TABLE account_history (
        seq bigserial PRIMARY KEY,
        account_id bytea NOT NULL,
        timestamp bigint NOT NULL,
        debits_pending bytea NOT NULL,
        debits_posted bytea NOT NULL,
        credits_pending bytea NOT NULL,
        credits_posted bytea NOT NULL,
        block_height bigint NOT NULL
    );
    CREATE INDEX account_history_by_account ON account_history (account_id, seq);",
    // 2: the balance log (see `append_in_one_statement`).
    "CREATE TABLE balance_log (
        height bigint PRIMARY KEY,
        balances bytea NOT NULL
    );
    ALTER TABLE balance_log ALTER COLUMN balances SET STORAGE EXTERNAL;",
    // 3: lookups by id and timestamp, pending statuses, Merkle nodes, snapshots.
    "CREATE INDEX transfers_by_id ON transfers (id);
    CREATE INDEX transfers_by_timestamp ON transfers (timestamp);
    CREATE TABLE pending_status (
        id bytea PRIMARY KEY,
        status smallint NOT NULL,
        block_height bigint NOT NULL
    );
    CREATE TABLE failed_transfers (
        seq bigserial PRIMARY KEY,
        id bytea NOT NULL UNIQUE,
        block_height bigint NOT NULL,
        result text NOT NULL
    );
    CREATE INDEX failed_transfers_by_height ON failed_transfers (block_height);
    CREATE TABLE merkle_nodes (
        level integer NOT NULL,
        idx bigint NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE snapshots (
        height bigint PRIMARY KEY,
        block_hash bytea NOT NULL,
        digest bytea NOT NULL,
        signature bytea NOT NULL
    );
    CREATE TABLE snapshot_chunks (
        height bigint NOT NULL,
        chunk integer NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (height, chunk)
    );
    ALTER TABLE snapshot_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;",
    // 4: TigerBeetle's queries (see `crate::query` for the choice of indexes and their cost).
    "CREATE INDEX transfers_by_debit ON transfers (debit_account_id, timestamp);
    CREATE INDEX transfers_by_credit ON transfers (credit_account_id, timestamp);
    CREATE INDEX transfers_by_code ON transfers (code, timestamp);
    CREATE INDEX transfers_by_user_data_128 ON transfers (user_data_128, timestamp)
        WHERE user_data_128 <> '\\x00000000000000000000000000000000'::bytea;
    CREATE INDEX transfers_by_user_data_64 ON transfers (user_data_64, timestamp)
        WHERE user_data_64 <> 0;
    CREATE INDEX transfers_by_user_data_32 ON transfers (user_data_32, timestamp)
        WHERE user_data_32 <> 0;
    CREATE INDEX accounts_by_timestamp ON accounts (timestamp);
    CREATE INDEX accounts_by_ledger ON accounts (ledger, timestamp);
    CREATE INDEX accounts_by_code ON accounts (code, timestamp);
    CREATE INDEX accounts_by_user_data_128 ON accounts (user_data_128, timestamp)
        WHERE user_data_128 <> '\\x00000000000000000000000000000000'::bytea;
    CREATE INDEX accounts_by_user_data_64 ON accounts (user_data_64, timestamp)
        WHERE user_data_64 <> 0;
    CREATE INDEX accounts_by_user_data_32 ON accounts (user_data_32, timestamp)
        WHERE user_data_32 <> 0;
    DROP INDEX account_history_by_account;
    CREATE INDEX account_history_by_account_timestamp ON account_history (account_id, timestamp);",
    // 5: the payments context's tables (authorizations and their cancels), written in the
    // ledger's own transactions (`tables::payments`).
    crate::tables::payments::POSTGRES_TABLES,
    // 6: the platform's keyed records, moved into the ledger's database so that a record
    // and the transfers of one operation are one commit (`tables::records`).
    crate::tables::records::POSTGRES_TABLE,
    // 7: authorizations by member and time, and by time (`tables::payments`).
    crate::tables::payments::INDEXES_BY_MEMBER_AND_TIME,
    // 8: the members context's tables (members, devices, sessions, verifications;
    // `tables::members`).
    crate::tables::members::POSTGRES_TABLES,
    // 9: the exchange context's tables (partner links and exchanges; `tables::exchanges`).
    crate::tables::exchanges::POSTGRES_TABLES,
    // 10: the vouchers context's tables (products and vouchers; `tables::vouchers`).
    crate::tables::vouchers::POSTGRES_TABLES,
    // 11: the pay codes' tables (devices and used codes; `tables::paycodes`).
    crate::tables::paycodes::POSTGRES_TABLES,
    // 12: the conversion context's tables (wallet addresses, conversions, settings;
    // `tables::conversions`).
    crate::tables::conversions::POSTGRES_TABLES,
    // 13: the anchoring tables (co-signatures and anchorings; `tables::anchoring`).
    crate::tables::anchoring::POSTGRES_TABLES,
    // 14: the merchants context's tables (merchants and terminals; `tables::merchants`).
    crate::tables::merchants::POSTGRES_TABLES,
    // 15: the settlement runs and their lines (`tables::settlements`).
    crate::tables::settlements::POSTGRES_TABLES,
    // 16: the partner catalogue (partners and their rates; `tables::partners`).
    crate::tables::partners::POSTGRES_TABLES,
    // 17: the operators context's tables (operators, sessions, API keys;
    // `tables::operators`).
    crate::tables::operators::POSTGRES_TABLES,
    // 18: the audit log (`tables::audit`).
    crate::tables::audit::POSTGRES_TABLES,
    // 19: a partner link exists only after the partner's proof (OAuth 2.0 with PKCE): its
    // status and the proof's secrets; older links become unproven (`tables::exchanges`).
    crate::tables::exchanges::LINK_PROOF_MIGRATION,
    // 20: members' safety: wrong PINs counted per phone with delays instead of locks, and
    // the devices proven by SMS (`tables::members`).
    crate::tables::members::POSTGRES_SAFETY_MIGRATION,
    // 21: the abuse limits' counters (`tables::limits`).
    crate::tables::limits::POSTGRES_TABLES,
    // 22: VANs as parties: their keys and the merchants they serve (`tables::vans`).
    crate::tables::vans::POSTGRES_TABLES,
    // 23: the merchant portal's users and sessions (`tables::portal_users`).
    crate::tables::portal_users::POSTGRES_TABLES,
    // 24: the ads context's campaigns and views (`tables::ads`).
    crate::tables::ads::POSTGRES_TABLES,
    // 25: the operators' health records: ledger verifications and partner reconciliations
    // (`tables::health`).
    crate::tables::health::POSTGRES_TABLES,
    // 26: P2P transfers and money requests (`tables::transfers`).
    crate::tables::transfers::POSTGRES_TABLES,
    // 27: assets: prices and conversion quotes (`tables::assets`).
    crate::tables::assets::POSTGRES_TABLES,
    // 28: P2P transfers in any asset, received in another (`tables::transfers`).
    crate::tables::transfers::ASSETS_MIGRATION,
    // 29: checkout: payment intents, webhook endpoints and events (`tables::checkout`).
    crate::tables::checkout::POSTGRES_TABLES,
    // 30: promotions and the bonuses they granted or took back (`tables::promotions`).
    crate::tables::promotions::POSTGRES_TABLES,
    // 31: escrowed P2P trades, their disputes, game companies and their credits
    // (`tables::escrow`).
    crate::tables::escrow::POSTGRES_TABLES,
    // 32: content platforms, creators, contents, reports, reward pools, tips and payouts
    // (`tables::creators`).
    crate::tables::creators::POSTGRES_TABLES,
    // 33: prepaid partners, for points replacement (`tables::partners`).
    crate::tables::partners::PREPAID_MIGRATION,
    // 34: trading rewards among the promotions' kinds (`tables::promotions`).
    crate::tables::promotions::TRADING_REWARDS_MIGRATION_POSTGRES,
];

/// Snapshot state is stored in chunks of this many bytes (PostgreSQL's limit for one value
/// is 1 GB; chunks keep each row, and each parameter sent, small).
const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;

/// Snapshots whose state is kept; older ones keep only their header.
const SNAPSHOTS_KEPT: i64 = 2;

pub use crate::BALANCE_LOG_ROWS_MAX;

/// Any constant: serialises migrations of all schemas in a database.
const MIGRATION_LOCK: i64 = 0x6d69_6c65_7665_7273;

const INSERT_STATUSES: &str = "INSERT INTO pending_status (id, status, block_height)";
const INSERT_NODES: &str = "INSERT INTO merkle_nodes (level, idx, hash)";

pub(crate) const TRANSFER_COLUMNS: &str =
    "seq, id, block_height, debit_account_id, credit_account_id, amount,
    pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp";

/// The 12 columns of an [`Account`] from `accounts AS a` and `account_balances AS b`, in the
/// order [`AccountCols`] and [`account_from_row`] use.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "a.id, b.debits_pending, b.debits_posted, b.credits_pending,
    b.credits_posted, a.user_data_128, a.user_data_64, a.user_data_32, a.ledger, a.code, b.flags,
    a.timestamp";

const TRANSFER_TYPES: [Type; 15] = [
    Type::INT8,
    Type::BYTEA,
    Type::INT8,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT4,
    Type::INT4,
    Type::INT8,
];

/// How `append` sends a block's transfer rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BulkMode {
    /// `COPY transfers FROM STDIN BINARY` (the default: the faster one).
    #[default]
    Copy,
    /// One `INSERT ... SELECT FROM unnest(...)` with an array per column.
    Unnest,
}

struct Statements {
    tip: Statement,
    insert_blocks: Statement,
    insert_accounts: Statement,
    update_accounts: Statement,
    account_seqs: Statement,
    insert_transfers: Statement,
    insert_history: Statement,
    append_one: Statement,
    insert_side: Statement,
    lookup_transfers: Statement,
    transfers_at: Statement,
    merkle_node: Statement,
    balance_log: Statement,
    balance_log_rows: Statement,
    clear_balance_log: Statement,
    read_blocks: Statement,
    read_block_accounts: Statement,
    read_transfers: Statement,
    accounts: Statement,
    history: Statement,
}

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    client: Client,
    st: Statements,
    bulk: BulkMode,
    schema: Option<String>,
    /// The URL and TLS this store connected with, for [`Store::reader`] (`None` from
    /// [`with_client`](Self::with_client)).
    connection: Option<(String, PostgresTls)>,
    /// `id -> seq` of every stored account, loaded by the first append (this store is the
    /// only writer).
    account_seqs: Option<HashMap<AccountId, i64>>,
    /// The end of the stored chain, read by the first append and kept after each commit
    /// (one round trip less per append). A second writer would collide on `blocks`'s
    /// primary key, so a stale tip cannot write a fork.
    tip: Option<Tip>,
    /// Rows in `balance_log` (read on first use, then counted here).
    balance_log_rows: Option<u64>,
}

/// How connections are made: rustls, configured by `tls::ClientTls::postgres` (the system's
/// roots plus the operator's CA file).
pub type PostgresTls = tokio_postgres_rustls::MakeRustlsConnect;

/// Below this many transfers an append sends them as `unnest` arrays inside the one
/// statement round trip; from it on, `COPY BINARY` (faster per row, one more round trip).
pub const COPY_TRANSFERS_MIN: usize = 512;

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db` or a key-value string; its
    /// `sslmode` decides on TLS, see the module doc) and brings the schema in the
    /// connection's `search_path` up to date.
    pub fn connect(url: &str, tls: &PostgresTls) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_in(url, None, tls)
    }

    /// Like [`connect`](Self::connect), but keeps the tables in `schema` (created if missing),
    /// so each store, or each test, can have its own set of tables in one database.
    pub fn connect_schema(
        url: &str,
        schema: &str,
        tls: &PostgresTls,
    ) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_in(url, Some(schema), tls)
    }

    fn connect_in(
        url: &str,
        schema: Option<&str>,
        tls: &PostgresTls,
    ) -> Result<PostgresStore, StoreError> {
        let client = Client::connect(url, tls.clone())?;
        let mut store = PostgresStore::with_client(client, schema)?;
        store.connection = Some((url.to_owned(), tls.clone()));
        Ok(store)
    }

    /// Uses an existing connection, optionally switching it to `schema` (created if missing).
    /// Such a store has no URL to open a [`Store::reader`] with.
    pub fn with_client(
        mut client: Client,
        schema: Option<&str>,
    ) -> Result<PostgresStore, StoreError> {
        if let Some(schema) = schema {
            let q = quote_ident(schema);
            client.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {q}; SET search_path TO {q}"
            ))?;
        }
        // The bulk statements take arrays of any length; a generic plan (which PostgreSQL
        // switches to after five executions) assumes `unnest` yields 10 rows and picks nested
        // loops, measured 60% slower for 8,190 rows than the custom plan.
        // The balance UPDATE joins a few thousand `unnest`ed rows to `account_balances` by
        // primary key: index lookups, measured 1.5x faster at 100,000 accounts than the hash
        // join the planner prefers (which hashes the whole table).
        client.batch_execute("SET enable_hashjoin = off; SET enable_mergejoin = off")?;
        migrate(&mut client)?;
        let st = prepare(&mut client)?;
        Ok(PostgresStore {
            client,
            st,
            bulk: BulkMode::default(),
            account_seqs: None,
            tip: None,
            balance_log_rows: None,
            schema: schema.map(str::to_owned),
            connection: None,
        })
    }

    /// Chooses how transfer rows are sent (for measuring; [`BulkMode::Copy`] by default).
    pub fn set_bulk_mode(&mut self, mode: BulkMode) {
        self.bulk = mode;
    }

    /// The schema given to [`connect_schema`](Self::connect_schema), if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The underlying connection, for inspection and for tests that damage the database.
    pub fn client(&mut self) -> &mut Client {
        // Whoever writes through it may change account rows behind the cached ids.
        self.account_seqs = None;
        self.tip = None;
        self.balance_log_rows = None;
        &mut self.client
    }

    /// Rows without a block: one transaction of their own.
    fn write_rows_alone(&mut self, rows: &[RowRef]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.client.transaction()?;
        for row in rows {
            row.write(&mut TableTx::Postgres(&mut tx))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The hot path (plain transfers between existing accounts): one statement, then a
    /// fold of the balance log when it is full.
    fn append_small(
        &mut self,
        tip: Tip,
        writes: &[BlockWrite],
        plan: &AccountPlan<'_>,
    ) -> Result<(), StoreError> {
        append_in_one_statement(
            &mut self.client,
            &self.st,
            &mut self.account_seqs,
            writes,
            plan,
        )?;
        self.tip = Some(tip_after(tip, writes, plan));
        let rows = match self.balance_log_rows {
            Some(rows) => rows + 1,
            None => count_balance_log(&mut self.client, &self.st)?,
        };
        self.balance_log_rows = Some(rows);
        if rows >= BALANCE_LOG_ROWS_MAX {
            let mut tx = self.client.transaction()?;
            fold_balance_log(&mut tx, &self.st)?;
            tx.commit()?;
            self.balance_log_rows = Some(0);
        }
        Ok(())
    }

    /// Everything else, in one explicit transaction.
    fn append_large(
        &mut self,
        tip: Tip,
        writes: &[BlockWrite],
        plan: &AccountPlan<'_>,
        transfer_count: usize,
        rows: &[RowRef],
    ) -> Result<(), StoreError> {
        let PostgresStore {
            client,
            st,
            bulk,
            account_seqs,
            balance_log_rows,
            tip: cached_tip,
            ..
        } = self;
        // Dropping `tx` on any error below rolls everything back.
        let mut tx = client.transaction()?;
        // Everything below writes `account_balances` directly: fold the log in first, so
        // the table never holds a balance older than one still in the log.
        fold_balance_log(&mut tx, st)?;
        *balance_log_rows = None;
        let blocks = BlockColumns::new(writes, &plan.first_account);
        tx.execute(&st.insert_blocks, &blocks.params())?;

        insert_created_accounts(&mut tx, st, plan)?;

        if transfer_count > 0 {
            match bulk {
                BulkMode::Copy if transfer_count >= COPY_TRANSFERS_MIN => {
                    copy_transfers(&mut tx, writes)?
                }
                _ => unnest_transfers(&mut tx, &st.insert_transfers, writes)?,
            }
        }

        if !plan.updates.is_empty() {
            if account_seqs.is_none() {
                *account_seqs = Some(load_account_seqs_with(&mut tx, &st.account_seqs)?);
            }
            let seqs = account_seqs.as_ref().expect("loaded above");
            let n = plan.updates.len();
            let balances = BalanceColumns::new(&plan.updates, seqs)?;
            let balance_refs = balances.refs();
            let updated = tx.execute(&st.update_accounts, &balances.params(&balance_refs))?;
            if updated != n as u64 {
                *account_seqs = None;
                return Err(codec::refuse(
                    plan.updates[0].0,
                    format!(
                        "{} of {n} changed accounts have no balance row",
                        n as u64 - updated
                    ),
                ));
            }
        }

        insert_history(&mut tx, st, writes)?;
        insert_failed(&mut tx, writes)?;

        let side = SideColumns::new(writes)?;
        if !side.is_empty() {
            let side_refs = side.refs();
            tx.execute(&st.insert_side, &side.params(&side_refs))?;
        }
        for row in rows {
            row.write(&mut TableTx::Postgres(&mut tx))?;
        }

        if let Err(e) = tx.commit() {
            *account_seqs = None;
            return Err(e.into());
        }
        if let Some(seqs) = account_seqs {
            seqs.extend(plan.created.iter().map(|c| (c.row.id, u64_to_sql(c.seq))));
        }
        *cached_tip = Some(tip_after(tip, writes, plan));
        Ok(())
    }
}

/// Inserts the accounts created by an append (identity rows and their balance rows).
fn insert_created_accounts(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    plan: &AccountPlan<'_>,
) -> Result<(), StoreError> {
    if plan.created.is_empty() {
        return Ok(());
    }
    let mut cols = AccountCols::default();
    let (mut seq, mut height, mut created_flags) = (Vec::new(), Vec::new(), Vec::new());
    for c in &plan.created {
        cols.push(c.row);
        seq.push(u64_to_sql(c.seq));
        height.push(u64_to_sql(c.height));
        created_flags.push(i32::from(c.created_flags));
    }
    cols.execute(tx, &st.insert_accounts, &[&seq, &height, &created_flags])?;
    Ok(())
}

/// Inserts the balance history rows of an append.
/// Writes the ids that failed with a transient result (inside the caller's transaction).
fn insert_failed(
    tx: &mut postgres::Transaction<'_>,
    writes: &[BlockWrite],
) -> Result<(), StoreError> {
    for w in writes {
        let height = u64_to_sql(w.block.header.height);
        for failure in &w.failed {
            tx.execute(
                "INSERT INTO failed_transfers (id, block_height, result) VALUES ($1, $2, $3)",
                &[
                    &&failure.id.0.to_be_bytes()[..],
                    &height,
                    &failure.result.as_str(),
                ],
            )?;
        }
    }
    Ok(())
}

fn insert_history(
    tx: &mut postgres::Transaction<'_>,
    st: &Statements,
    writes: &[BlockWrite],
) -> Result<(), StoreError> {
    if writes.iter().all(|w| w.history.is_empty()) {
        return Ok(());
    }
    let (mut id, mut ts, mut height) = (Vec::new(), Vec::new(), Vec::new());
    let mut bal: [Vec<[u8; 16]>; 4] = Default::default();
    for w in writes {
        for b in &w.history {
            id.push(b.account_id.0.to_be_bytes());
            ts.push(u64_to_sql(b.timestamp));
            bal[0].push(b.debits_pending.to_be_bytes());
            bal[1].push(b.debits_posted.to_be_bytes());
            bal[2].push(b.credits_pending.to_be_bytes());
            bal[3].push(b.credits_posted.to_be_bytes());
            height.push(u64_to_sql(w.block.header.height));
        }
    }
    let (id, b0, b1, b2, b3) = (
        refs(&id),
        refs(&bal[0]),
        refs(&bal[1]),
        refs(&bal[2]),
        refs(&bal[3]),
    );
    tx.execute(&st.insert_history, &[&id, &ts, &b0, &b1, &b2, &b3, &height])?;
    Ok(())
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    run_migrations(client, MIGRATION_LOCK, "schema_migrations", MIGRATIONS)
}

/// Applies the `migrations` not yet recorded in `table`, under an advisory lock so that
/// concurrent connections migrate once. Shared by the ledger's tables and the records.
pub(crate) fn run_migrations(
    client: &mut Client,
    lock: i64,
    table: &str,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )"
    ))?;
    let version: i32 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {table}"),
            &[],
        )?
        .get(0);
    let known = migrations.len() as i32;
    if !(0..=known).contains(&version) {
        return Err(corrupt(
            0,
            format!(
                "{table}: schema version {version} is not one this build knows (up to {known})"
            ),
        ));
    }
    let record = format!("INSERT INTO {table} (version) VALUES ($1)");
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)?;
        tx.execute(&record, &[&(i as i32 + 1)])?;
    }
    tx.commit()?;
    Ok(())
}

fn prepare(c: &mut Client) -> Result<Statements, StoreError> {
    Ok(Statements {
        tip: c.prepare(
            "SELECT height, tree_size, first_account + account_count FROM blocks ORDER BY height DESC LIMIT 1",
        )?,
        insert_blocks: c.prepare(
            "INSERT INTO blocks (height, hash, previous_hash, timestamp, account_count, transfer_count,
                accounts_digest, tree_size, merkle_root, signature, first_account)
             SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[],
                $6::int8[], $7::bytea[], $8::int8[], $9::bytea[], $10::bytea[], $11::int8[])",
        )?,
        insert_accounts: c.prepare(
            "WITH u AS (
                SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[],
                    $6::bytea[], $7::int8[], $8::int8[], $9::int8[], $10::int4[], $11::int4[], $12::int8[],
                    $13::int8[], $14::int8[], $15::int4[])
                AS u (id, debits_pending, debits_posted, credits_pending, credits_posted, user_data_128,
                      user_data_64, user_data_32, ledger, code, flags, timestamp, seq, block_height,
                      created_flags)
             ), created AS (
                INSERT INTO accounts (seq, id, user_data_128, user_data_64, user_data_32, ledger, code,
                    timestamp, block_height, created_flags)
                SELECT seq, id, user_data_128, user_data_64, user_data_32, ledger, code, timestamp,
                    block_height, created_flags FROM u
             )
             INSERT INTO account_balances (seq, debits_pending, debits_posted, credits_pending,
                credits_posted, flags)
             SELECT seq, debits_pending, debits_posted, credits_pending, credits_posted, flags FROM u",
        )?,
        // Only balances and flags change, in a narrow table of their own keyed by the account's
        // creation ordinal (the store keeps `id -> seq` in memory): an UPDATE writes a whole new
        // row version, and no indexed column changes, so updates can be HOT.
        update_accounts: c.prepare(
            "UPDATE account_balances AS b SET debits_pending = u.debits_pending,
                debits_posted = u.debits_posted, credits_pending = u.credits_pending,
                credits_posted = u.credits_posted, flags = u.flags
             FROM unnest($1::int8[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::int4[])
                AS u (seq, debits_pending, debits_posted, credits_pending, credits_posted, flags)
             WHERE b.seq = u.seq",
        )?,
        account_seqs: c.prepare("SELECT seq, id FROM accounts")?,

        insert_transfers: c.prepare(&format!(
            "INSERT INTO transfers ({TRANSFER_COLUMNS})
             SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int8[], $4::bytea[], $5::bytea[],
                $6::bytea[], $7::bytea[], $8::bytea[], $9::int8[], $10::int8[], $11::int8[], $12::int8[],
                $13::int4[], $14::int4[], $15::int8[])"
        ))?,
        insert_history: c.prepare(
            "INSERT INTO account_history (account_id, timestamp, debits_pending, debits_posted,
                credits_pending, credits_posted, block_height)
             SELECT * FROM unnest($1::bytea[], $2::int8[], $3::bytea[], $4::bytea[], $5::bytea[],
                $6::bytea[], $7::int8[])",
        )?,
        append_one: c.prepare(&format!(
            "WITH new_blocks AS (
                INSERT INTO blocks (height, hash, previous_hash, timestamp, account_count,
                    transfer_count, accounts_digest, tree_size, merkle_root, signature, first_account)
                SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[],
                    $6::int8[], $7::bytea[], $8::int8[], $9::bytea[], $10::bytea[], $11::int8[])
             ), new_transfers AS (
                INSERT INTO transfers ({TRANSFER_COLUMNS})
                SELECT * FROM unnest($12::int8[], $13::bytea[], $14::int8[], $15::bytea[],
                    $16::bytea[], $17::bytea[], $18::bytea[], $19::bytea[], $20::int8[], $21::int8[],
                    $22::int8[], $23::int8[], $24::int4[], $25::int4[], $26::int8[])
             ), new_statuses AS (
                {INSERT_STATUSES} SELECT * FROM unnest($29::bytea[], $30::int2[], $31::int8[])
             ), new_nodes AS (
                {INSERT_NODES} SELECT * FROM unnest($32::int4[], $33::int8[], $34::bytea[])
             )
             INSERT INTO balance_log (height, balances) VALUES ($27, $28)"
        ))?,
        insert_side: c.prepare(&format!(
            "WITH new_statuses AS (
                {INSERT_STATUSES} SELECT * FROM unnest($1::bytea[], $2::int2[], $3::int8[])
             )
             {INSERT_NODES} SELECT * FROM unnest($4::int4[], $5::int8[], $6::bytea[])"
        ))?,
        lookup_transfers: c.prepare(&format!(
            "SELECT {t}, p.status::int8 FROM transfers AS t
                LEFT JOIN pending_status AS p ON p.id = t.id
             WHERE t.id = ANY($1::bytea[])",
            t = prefixed("t", TRANSFER_COLUMNS)
        ))?,
        transfers_at: c.prepare(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp = ANY($1::int8[]) ORDER BY seq"
        ))?,
        merkle_node: c.prepare("SELECT hash FROM merkle_nodes WHERE level = $1 AND idx = $2")?,
        balance_log: c.prepare("SELECT height, balances FROM balance_log ORDER BY height")?,
        balance_log_rows: c.prepare("SELECT count(*) FROM balance_log")?,
        clear_balance_log: c.prepare("DELETE FROM balance_log")?,
        read_blocks: c.prepare(
            "SELECT height, hash, previous_hash, timestamp, account_count, transfer_count,
                accounts_digest, tree_size, merkle_root, signature, first_account
             FROM blocks WHERE height >= $1 ORDER BY height LIMIT $2",
        )?,
        read_block_accounts: c.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS}, a.seq, a.block_height, a.created_flags
             FROM accounts AS a LEFT JOIN account_balances AS b ON b.seq = a.seq
             WHERE a.seq >= $1 AND a.seq < $2 ORDER BY a.seq"
        ))?,
        read_transfers: c.prepare(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq >= $1 AND seq < $2 ORDER BY seq"
        ))?,
        accounts: c.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS}, a.block_height
             , a.seq FROM accounts AS a LEFT JOIN account_balances AS b ON b.seq = a.seq ORDER BY a.id"
        ))?,
        history: c.prepare(
            "SELECT account_id, timestamp, debits_pending, debits_posted, credits_pending,
                credits_posted, block_height
             FROM account_history WHERE account_id = $1 ORDER BY seq",
        )?,
    })
}

/// `columns` (a comma-separated list) with every column qualified by `table`.
fn prefixed(table: &str, columns: &str) -> String {
    let qualified: Vec<String> = columns
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect();
    qualified.join(", ")
}

/// Decodes the transfer in the 15 columns of [`TRANSFER_COLUMNS`] (from column 0), naming
/// block `h` if a column is bad.
pub(crate) fn transfer_from_row(row: &Row, h: u64) -> Result<Transfer, StoreError> {
    Ok(Transfer {
        id: TransferId(u128_col(blob(row, 1), h, "transfer id")?),
        debit_account_id: AccountId(u128_col(blob(row, 3), h, "transfer debit_account_id")?),
        credit_account_id: AccountId(u128_col(blob(row, 4), h, "transfer credit_account_id")?),
        amount: u128_col(blob(row, 5), h, "transfer amount")?,
        pending_id: TransferId(u128_col(blob(row, 6), h, "transfer pending_id")?),
        user_data_128: u128_col(blob(row, 7), h, "transfer user_data_128")?,
        user_data_64: u64_col(int(row, 8), h, "transfer user_data_64")?,
        user_data_32: u32_col(int(row, 9), h, "transfer user_data_32")?,
        timeout: u32_col(int(row, 10), h, "transfer timeout")?,
        ledger: u32_col(int(row, 11), h, "transfer ledger")?,
        code: u16_col(int(row, 12), h, "transfer code")?,
        flags: TransferFlags(u16_col(int(row, 13), h, "transfer flags")?),
        timestamp: u64_col(int(row, 14), h, "transfer timestamp")?,
    })
}

/// The block a transfer row names (for errors about the row).
pub(crate) fn row_height(row: &Row) -> u64 {
    int(row, 2).map_or(0, codec::u64_from_sql)
}

/// The transfers of rows in [`TRANSFER_COLUMNS`] order.
fn transfers_from_rows(rows: &[Row]) -> Result<Vec<Transfer>, StoreError> {
    rows.iter()
        .map(|row| transfer_from_row(row, row_height(row)))
        .collect()
}

/// A snapshot's header from `height, block_hash, digest, signature` (state left empty).
fn snapshot_header(row: &Row) -> Result<SnapshotRecord, StoreError> {
    let height = u64_col(int(row, 0), 0, "snapshot height")?;
    Ok(SnapshotRecord {
        height,
        block_hash: codec::fixed(blob(row, 1), height, "snapshot block_hash")?,
        digest: codec::fixed(blob(row, 2), height, "snapshot digest")?,
        signature: codec::fixed(blob(row, 3), height, "snapshot signature")?,
        state: Vec::new(),
    })
}

pub(crate) fn blob(row: &Row, i: usize) -> Option<&[u8]> {
    row.try_get::<_, Option<&[u8]>>(i).ok().flatten()
}

pub(crate) fn int(row: &Row, i: usize) -> Option<i64> {
    match row.try_get::<_, Option<i64>>(i) {
        Ok(v) => v,
        Err(_) => row
            .try_get::<_, Option<i32>>(i)
            .ok()
            .flatten()
            .map(i64::from),
    }
}

fn refs(v: &[[u8; 16]]) -> Vec<&[u8]> {
    v.iter().map(|b| &b[..]).collect()
}

/// Column arrays of account rows, for `unnest`.
#[derive(Default)]
struct AccountCols {
    id: Vec<[u8; 16]>,
    debits_pending: Vec<[u8; 16]>,
    debits_posted: Vec<[u8; 16]>,
    credits_pending: Vec<[u8; 16]>,
    credits_posted: Vec<[u8; 16]>,
    user_data_128: Vec<[u8; 16]>,
    user_data_64: Vec<i64>,
    user_data_32: Vec<i64>,
    ledger: Vec<i64>,
    code: Vec<i32>,
    flags: Vec<i32>,
    timestamp: Vec<i64>,
}

impl AccountCols {
    fn push(&mut self, a: &Account) {
        self.id.push(a.id.0.to_be_bytes());
        self.debits_pending.push(a.debits_pending.to_be_bytes());
        self.debits_posted.push(a.debits_posted.to_be_bytes());
        self.credits_pending.push(a.credits_pending.to_be_bytes());
        self.credits_posted.push(a.credits_posted.to_be_bytes());
        self.user_data_128.push(a.user_data_128.to_be_bytes());
        self.user_data_64.push(u64_to_sql(a.user_data_64));
        self.user_data_32.push(i64::from(a.user_data_32));
        self.ledger.push(i64::from(a.ledger));
        self.code.push(i32::from(a.code));
        self.flags.push(i32::from(a.flags.bits()));
        self.timestamp.push(u64_to_sql(a.timestamp));
    }

    /// Runs `st` with the 12 account arrays followed by `extra`.
    fn execute(
        &self,
        tx: &mut postgres::Transaction<'_>,
        st: &Statement,
        extra: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let (id, dp, dpo, cp, cpo, ud) = (
            refs(&self.id),
            refs(&self.debits_pending),
            refs(&self.debits_posted),
            refs(&self.credits_pending),
            refs(&self.credits_posted),
            refs(&self.user_data_128),
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &id,
            &dp,
            &dpo,
            &cp,
            &cpo,
            &ud,
            &self.user_data_64,
            &self.user_data_32,
            &self.ledger,
            &self.code,
            &self.flags,
            &self.timestamp,
        ];
        params.extend_from_slice(extra);
        Ok(tx.execute(st, &params)?)
    }
}

/// Decodes the 12 account columns of [`ACCOUNT_COLUMNS`].
pub(crate) fn account_from_row(row: &Row, height: u64) -> Result<Account, StoreError> {
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

fn tip(c: &mut impl GenericClient, st: &Statement) -> Result<Tip, StoreError> {
    Ok(match c.query_opt(st, &[])? {
        Some(row) => Tip {
            next_height: codec::u64_from_sql(row.get::<_, i64>(0)) + 1,
            tree_size: codec::u64_from_sql(row.get::<_, i64>(1)),
            accounts: codec::u64_from_sql(row.get::<_, i64>(2)),
        },
        None => Tip::default(),
    })
}

fn load_account_seqs_with(
    client: &mut impl GenericClient,
    st: &Statement,
) -> Result<HashMap<AccountId, i64>, StoreError> {
    let rows = client.query(st, &[])?;
    let mut map = HashMap::with_capacity(rows.len());
    for row in &rows {
        let seq = int(row, 0).unwrap_or(-1);
        map.insert(AccountId(u128_col(blob(row, 1), 0, "account id")?), seq);
    }
    Ok(map)
}

fn copy_transfers(
    tx: &mut postgres::Transaction<'_>,
    writes: &[BlockWrite],
) -> Result<(), StoreError> {
    let sink = tx.copy_in(&format!(
        "COPY transfers ({TRANSFER_COLUMNS}) FROM STDIN BINARY"
    ))?;
    let mut w = BinaryCopyInWriter::new(sink, &TRANSFER_TYPES);
    for bw in writes {
        let h = &bw.block.header;
        let first = h.tree_size - u64::from(h.transfer_count);
        let height = u64_to_sql(h.height);
        for (i, t) in bw.block.transfers.iter().enumerate() {
            let (id, debit, credit, amount, pending, ud) = (
                t.id.0.to_be_bytes(),
                t.debit_account_id.0.to_be_bytes(),
                t.credit_account_id.0.to_be_bytes(),
                t.amount.to_be_bytes(),
                t.pending_id.0.to_be_bytes(),
                t.user_data_128.to_be_bytes(),
            );
            w.write(&[
                &u64_to_sql(first + i as u64),
                &&id[..],
                &height,
                &&debit[..],
                &&credit[..],
                &&amount[..],
                &&pending[..],
                &&ud[..],
                &u64_to_sql(t.user_data_64),
                &i64::from(t.user_data_32),
                &i64::from(t.timeout),
                &i64::from(t.ledger),
                &i32::from(t.code),
                &i32::from(t.flags.bits()),
                &u64_to_sql(t.timestamp),
            ])?;
        }
    }
    w.finish()?;
    Ok(())
}

fn unnest_transfers(
    tx: &mut postgres::Transaction<'_>,
    st: &Statement,
    writes: &[BlockWrite],
) -> Result<(), StoreError> {
    let columns = TransferColumns::new(writes);
    tx.execute(st, &columns.params(&columns.refs()))?;
    Ok(())
}

/// The stored chain's end after `writes` commit.
fn tip_after(tip: Tip, writes: &[BlockWrite], plan: &AccountPlan<'_>) -> Tip {
    let last = &writes.last().expect("not empty").block.header;
    Tip {
        next_height: last.height + 1,
        tree_size: last.tree_size,
        accounts: tip.accounts + plan.created.len() as u64,
    }
}

/// Column arrays of block rows, for `unnest`.
struct BlockColumns<'a> {
    ints: [Vec<i64>; 6],
    bytes: [Vec<&'a [u8]>; 5],
}

impl<'a> BlockColumns<'a> {
    fn new(writes: &'a [BlockWrite], first_accounts: &[u64]) -> BlockColumns<'a> {
        let n = writes.len();
        let mut ints: [Vec<i64>; 6] = std::array::from_fn(|_| Vec::with_capacity(n));
        let mut bytes: [Vec<&[u8]>; 5] = std::array::from_fn(|_| Vec::with_capacity(n));
        for (w, &first_account) in writes.iter().zip(first_accounts) {
            let (b, h) = (&w.block, &w.block.header);
            ints[0].push(u64_to_sql(h.height));
            ints[1].push(u64_to_sql(h.timestamp));
            ints[2].push(i64::from(h.account_count));
            ints[3].push(i64::from(h.transfer_count));
            ints[4].push(u64_to_sql(h.tree_size));
            ints[5].push(u64_to_sql(first_account));
            bytes[0].push(&b.hash);
            bytes[1].push(&h.previous_hash);
            bytes[2].push(&h.accounts_digest);
            bytes[3].push(&h.merkle_root);
            bytes[4].push(&b.signature);
        }
        BlockColumns { ints, bytes }
    }

    /// Parameters in the order of `insert_blocks` ($1..$11).
    fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        let (i, b) = (&self.ints, &self.bytes);
        [
            &i[0], &b[0], &b[1], &i[1], &i[2], &i[3], &b[2], &i[4], &b[3], &b[4], &i[5],
        ]
    }
}

/// Column arrays of transfer rows, for `unnest`.
struct TransferColumns {
    seq: Vec<i64>,
    height: Vec<i64>,
    b16: [Vec<[u8; 16]>; 6],
    ints: [Vec<i64>; 5],
    small: [Vec<i32>; 2],
}

impl TransferColumns {
    fn new(writes: &[BlockWrite]) -> TransferColumns {
        let n: usize = writes.iter().map(|w| w.block.transfers.len()).sum();
        let mut columns = TransferColumns {
            seq: Vec::with_capacity(n),
            height: Vec::with_capacity(n),
            b16: std::array::from_fn(|_| Vec::with_capacity(n)),
            ints: std::array::from_fn(|_| Vec::with_capacity(n)),
            small: std::array::from_fn(|_| Vec::with_capacity(n)),
        };
        for bw in writes {
            let h = &bw.block.header;
            let first = h.tree_size - u64::from(h.transfer_count);
            for (i, t) in bw.block.transfers.iter().enumerate() {
                columns.push(first + i as u64, h.height, t);
            }
        }
        columns
    }

    fn push(&mut self, seq: u64, height: u64, t: &Transfer) {
        self.seq.push(u64_to_sql(seq));
        self.height.push(u64_to_sql(height));
        self.b16[0].push(t.id.0.to_be_bytes());
        self.b16[1].push(t.debit_account_id.0.to_be_bytes());
        self.b16[2].push(t.credit_account_id.0.to_be_bytes());
        self.b16[3].push(t.amount.to_be_bytes());
        self.b16[4].push(t.pending_id.0.to_be_bytes());
        self.b16[5].push(t.user_data_128.to_be_bytes());
        self.ints[0].push(u64_to_sql(t.user_data_64));
        self.ints[1].push(i64::from(t.user_data_32));
        self.ints[2].push(i64::from(t.timeout));
        self.ints[3].push(i64::from(t.ledger));
        self.ints[4].push(u64_to_sql(t.timestamp));
        self.small[0].push(i32::from(t.code));
        self.small[1].push(i32::from(t.flags.bits()));
    }

    fn refs(&self) -> Vec<Vec<&[u8]>> {
        self.b16.iter().map(|v| refs(v)).collect()
    }

    /// Parameters in the order of `insert_transfers` ($1..$15).
    fn params<'a>(&'a self, r: &'a [Vec<&'a [u8]>]) -> [&'a (dyn ToSql + Sync); 15] {
        let (i, s) = (&self.ints, &self.small);
        [
            &self.seq,
            &r[0],
            &self.height,
            &r[1],
            &r[2],
            &r[3],
            &r[4],
            &r[5],
            &i[0],
            &i[1],
            &i[2],
            &i[3],
            &s[0],
            &s[1],
            &i[4],
        ]
    }
}

/// Column arrays of what an append writes beside blocks, accounts and transfers: the pending
/// statuses its blocks set and the Merkle nodes they complete, for `unnest`.
struct SideColumns {
    status_id: Vec<[u8; 16]>,
    status: Vec<i16>,
    status_height: Vec<i64>,
    level: Vec<i32>,
    idx: Vec<i64>,
    hash: Vec<Hash>,
}

impl SideColumns {
    fn new(writes: &[BlockWrite]) -> Result<SideColumns, StoreError> {
        let mut columns = SideColumns {
            status_id: Vec::new(),
            status: Vec::new(),
            status_height: Vec::new(),
            level: Vec::new(),
            idx: Vec::new(),
            hash: Vec::new(),
        };
        for w in writes {
            let height = w.block.header.height;
            // Expiries happen at the block's start, before its posts and voids.
            for id in &w.expired {
                columns.push_status(*id, codec::STATUS_EXPIRED, height);
            }
            for t in &w.block.transfers {
                if let Some(status) = codec::resolution_status(t.flags) {
                    columns.push_status(t.pending_id, status, height);
                }
            }
            for node in &w.merkle_nodes {
                let level = i32::try_from(node.level).map_err(|_| {
                    codec::refuse(height, format!("Merkle node level {} too high", node.level))
                })?;
                columns.level.push(level);
                columns.idx.push(u64_to_sql(node.index));
                columns.hash.push(node.hash);
            }
        }
        Ok(columns)
    }

    fn push_status(&mut self, id: TransferId, status: i64, height: u64) {
        self.status_id.push(id.0.to_be_bytes());
        // The statuses are 2 to 4.
        self.status.push(status as i16);
        self.status_height.push(u64_to_sql(height));
    }

    fn is_empty(&self) -> bool {
        self.status_id.is_empty() && self.level.is_empty()
    }

    fn refs(&self) -> [Vec<&[u8]>; 2] {
        [
            refs(&self.status_id),
            self.hash.iter().map(|h| &h[..]).collect(),
        ]
    }

    /// Parameters in the order of `insert_side` ($1..$6; $29..$34 of `append_one`).
    fn params<'a>(&'a self, r: &'a [Vec<&'a [u8]>; 2]) -> [&'a (dyn ToSql + Sync); 6] {
        [
            &r[0],
            &self.status,
            &self.status_height,
            &self.level,
            &self.idx,
            &r[1],
        ]
    }
}

/// Column arrays of balance updates, for `unnest`.
struct BalanceColumns {
    seq: Vec<i64>,
    b16: [Vec<[u8; 16]>; 4],
    flags: Vec<i32>,
}

impl BalanceColumns {
    fn new(
        updates: &[(u64, &Account)],
        seqs: &HashMap<AccountId, i64>,
    ) -> Result<BalanceColumns, StoreError> {
        let n = updates.len();
        let mut columns = BalanceColumns {
            seq: Vec::with_capacity(n),
            b16: std::array::from_fn(|_| Vec::with_capacity(n)),
            flags: Vec::with_capacity(n),
        };
        for &(height, a) in updates {
            let Some(&s) = seqs.get(&a.id) else {
                return Err(codec::unknown_account(height, a.id));
            };
            columns.seq.push(s);
            columns.b16[0].push(a.debits_pending.to_be_bytes());
            columns.b16[1].push(a.debits_posted.to_be_bytes());
            columns.b16[2].push(a.credits_pending.to_be_bytes());
            columns.b16[3].push(a.credits_posted.to_be_bytes());
            columns.flags.push(i32::from(a.flags.bits()));
        }
        Ok(columns)
    }

    fn refs(&self) -> Vec<Vec<&[u8]>> {
        self.b16.iter().map(|v| refs(v)).collect()
    }

    /// Parameters in the order of `update_accounts` ($1..$6).
    fn params<'a>(&'a self, r: &'a [Vec<&'a [u8]>]) -> [&'a (dyn ToSql + Sync); 6] {
        [&self.seq, &r[0], &r[1], &r[2], &r[3], &self.flags]
    }
}

/// Writes `writes` (no new accounts, no history, few transfers) with ONE statement in its own
/// implicit transaction, commit included: blocks and transfers by `unnest`, and the changed
/// balances as one `balance_log` row instead of a rewrite of every changed account row
/// (PostgreSQL rewrites a whole tuple per update; that was most of an append's time).
/// `account_balances` plus the log, in height order, is the current state; the log is
/// folded into the table every [`BALANCE_LOG_ROWS_MAX`] appends and before any other write.
fn append_in_one_statement(
    client: &mut Client,
    st: &Statements,
    account_seqs: &mut Option<HashMap<AccountId, i64>>,
    writes: &[BlockWrite],
    plan: &AccountPlan<'_>,
) -> Result<(), StoreError> {
    if account_seqs.is_none() && !plan.updates.is_empty() {
        *account_seqs = Some(load_account_seqs_with(client, &st.account_seqs)?);
    }
    let empty = HashMap::new();
    let seqs = account_seqs.as_ref().unwrap_or(&empty);
    let mut logged = Vec::with_capacity(plan.updates.len() * LOGGED_BALANCE_LEN);
    for &(height, account) in &plan.updates {
        let seq = *seqs
            .get(&account.id)
            .ok_or_else(|| codec::unknown_account(height, account.id))?;
        LoggedBalance::of(account).encode(seq, &mut logged);
    }
    let blocks = BlockColumns::new(writes, &plan.first_account);
    let transfers = TransferColumns::new(writes);
    let transfer_refs = transfers.refs();
    let side = SideColumns::new(writes)?;
    let side_refs = side.refs();
    let height = u64_to_sql(writes.last().expect("not empty").block.header.height);
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(34);
    params.extend(blocks.params());
    params.extend(transfers.params(&transfer_refs));
    params.push(&height);
    params.push(&logged);
    params.extend(side.params(&side_refs));
    client.execute(&st.append_one, &params)?;
    Ok(())
}

/// The latest logged balance of every account in the log, by account seq.
fn read_balance_log(
    client: &mut impl GenericClient,
    st: &Statements,
) -> Result<HashMap<i64, LoggedBalance>, StoreError> {
    let mut latest = HashMap::new();
    for row in client.query(&st.balance_log, &[])? {
        let height = int(&row, 0).map_or(0, codec::u64_from_sql);
        let bytes = blob(&row, 1).unwrap_or_default();
        codec::decode_balance_log_row(height, bytes, &mut latest)?;
    }
    Ok(latest)
}

fn count_balance_log(client: &mut Client, st: &Statements) -> Result<u64, StoreError> {
    let row = client.query_one(&st.balance_log_rows, &[])?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Writes the log's latest balances into `account_balances` and empties the log, inside `tx`.
fn fold_balance_log(tx: &mut postgres::Transaction<'_>, st: &Statements) -> Result<(), StoreError> {
    let latest = read_balance_log(tx, st)?;
    if latest.is_empty() {
        return Ok(());
    }
    let mut entries: Vec<(i64, LoggedBalance)> = latest.into_iter().collect();
    entries.sort_unstable_by_key(|(seq, _)| *seq);
    let seq: Vec<i64> = entries.iter().map(|(seq, _)| *seq).collect();
    let columns: Vec<Vec<[u8; 16]>> = (0..4)
        .map(|i| {
            entries
                .iter()
                .map(|(_, b)| b.balances[i].to_be_bytes())
                .collect()
        })
        .collect();
    let r: Vec<Vec<&[u8]>> = columns.iter().map(|c| refs(c)).collect();
    let flags: Vec<i32> = entries.iter().map(|(_, b)| i32::from(b.flags)).collect();
    let updated = tx.execute(
        &st.update_accounts,
        &[&seq, &r[0], &r[1], &r[2], &r[3], &flags],
    )?;
    if updated != entries.len() as u64 {
        return Err(corrupt(
            0,
            "the balance log names accounts that have no balance row",
        ));
    }
    tx.execute(&st.clear_balance_log, &[])?;
    Ok(())
}

impl Store for PostgresStore {
    fn init(&mut self, meta: &StoreMeta) -> Result<StoreMeta, StoreError> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute("LOCK TABLE meta IN EXCLUSIVE MODE")?;
        let row = tx.query_opt(
            "SELECT value FROM meta WHERE key = 'operator_public_key'",
            &[],
        )?;
        let pinned = match row {
            Some(row) => StoreMeta {
                operator_public_key: codec::fixed(blob(&row, 0), 0, "meta operator_public_key")?,
            },
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('operator_public_key', $1)",
                    &[&&meta.operator_public_key[..]],
                )?;
                meta.clone()
            }
        };
        tx.commit()?;
        Ok(pinned)
    }

    fn meta(&mut self) -> Result<Option<StoreMeta>, StoreError> {
        let row = self.client.query_opt(
            "SELECT value FROM meta WHERE key = 'operator_public_key'",
            &[],
        )?;
        row.map(|row| {
            let operator_public_key = codec::fixed(blob(&row, 0), 0, "meta operator_public_key")?;
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
        let tip = match self.tip.take() {
            Some(tip) => tip,
            None => tip(&mut self.client, &self.st.tip)?,
        };
        codec::validate(tip, writes)?;
        let plan = AccountPlan::new(tip, writes)?;
        let transfer_count: usize = writes.iter().map(|w| w.block.transfers.len()).sum();
        let history = writes.iter().any(|w| !w.history.is_empty());
        // Failed ids are rare: they take the explicit transaction rather than widen the
        // one-statement path.
        let failed = writes.iter().any(|w| !w.failed.is_empty());
        // Rows need the explicit transaction too: the one statement has no place for them.
        let small = plan.created.is_empty()
            && !history
            && !failed
            && rows.is_empty()
            && transfer_count < COPY_TRANSFERS_MIN;
        let result = if small {
            self.append_small(tip, writes, &plan)
        } else {
            self.append_large(tip, writes, &plan, transfer_count, rows)
        };
        if result.is_err() {
            // Whatever failed, the caches may be stale: read them again next time.
            self.account_seqs = None;
            self.balance_log_rows = None;
            self.tip = None;
        }
        result
    }

    fn block_count(&mut self) -> Result<u64, StoreError> {
        Ok(tip(&mut self.client, &self.st.tip)?.next_height)
    }

    fn tables(&mut self) -> Result<TableRead<'_>, StoreError> {
        Ok(TableRead::Postgres(&mut self.client))
    }

    fn read_blocks(
        &mut self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let PostgresStore { client, st, .. } = self;
        // One snapshot for headers and bodies.
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut blocks: Vec<BlockRecord> = Vec::new();
        let mut first_account: Vec<u64> = Vec::new();
        for row in tx.query(&st.read_blocks, &[&u64_to_sql(from_height), &limit_sql])? {
            let expected = from_height + blocks.len() as u64;
            let height = u64_col(int(&row, 0), expected, "block height")?;
            if height != expected {
                return Err(corrupt(
                    expected,
                    format!("block {expected} is missing (next stored is {height})"),
                ));
            }
            let header = BlockHeader {
                height,
                previous_hash: codec::fixed(blob(&row, 2), height, "block previous_hash")?,
                timestamp: u64_col(int(&row, 3), height, "block timestamp")?,
                account_count: u32_col(int(&row, 4), height, "block account_count")?,
                transfer_count: u32_col(int(&row, 5), height, "block transfer_count")?,
                accounts_digest: codec::fixed(blob(&row, 6), height, "block accounts_digest")?,
                tree_size: u64_col(int(&row, 7), height, "block tree_size")?,
                merkle_root: codec::fixed(blob(&row, 8), height, "block merkle_root")?,
            };
            blocks.push(BlockRecord {
                header,
                hash: codec::fixed(blob(&row, 1), height, "block hash")?,
                signature: codec::fixed(blob(&row, 9), height, "block signature")?,
                accounts: Vec::new(),
                transfers: Vec::new(),
            });
            first_account.push(u64_col(int(&row, 10), height, "block first_account")?);
        }
        if blocks.is_empty() {
            tx.commit()?;
            return Ok(blocks);
        }

        let ranges = codec::account_ranges(&blocks, &first_account)?;
        {
            let (lo, hi) = (ranges[0].start, ranges[ranges.len() - 1].end);
            let rows = tx.query(&st.read_block_accounts, &[&u64_to_sql(lo), &u64_to_sql(hi)])?;
            let mut fill = codec::RangeFill::<codec::Accounts>::new(&mut blocks, &ranges);
            for row in &rows {
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

        let ranges = codec::transfer_ranges(&blocks)?;
        {
            let (lo, hi) = (ranges[0].start, ranges[ranges.len() - 1].end);
            let rows = tx.query(&st.read_transfers, &[&u64_to_sql(lo), &u64_to_sql(hi)])?;
            let mut fill = codec::RangeFill::<codec::Transfers>::new(&mut blocks, &ranges);
            for row in &rows {
                let h = fill.height_for(int(row, 0).map(codec::u64_from_sql));
                let seq = u64_col(int(row, 0), h, "transfer seq")?;
                let height = u64_col(int(row, 2), h, "transfer block_height")?;
                fill.push(seq, height, transfer_from_row(row, h)?)?;
            }
            fill.finish()?;
        }
        tx.commit()?;
        Ok(blocks)
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        let logged = read_balance_log(&mut self.client, &self.st)?;
        let rows = self.client.query(&self.st.accounts, &[])?;
        rows.iter()
            .map(|row| {
                let mut account =
                    account_from_row(row, int(row, 12).map_or(0, codec::u64_from_sql))?;
                if let Some(balance) = int(row, 13).and_then(|seq| logged.get(&seq)) {
                    balance.apply(&mut account);
                }
                Ok(account)
            })
            .collect()
    }

    fn account_history(&mut self, id: AccountId) -> Result<Vec<AccountBalance>, StoreError> {
        let rows = self
            .client
            .query(&self.st.history, &[&&id.0.to_be_bytes()[..]])?;
        rows.iter()
            .map(|row| {
                let h = int(row, 6).map_or(0, codec::u64_from_sql);
                Ok(AccountBalance {
                    account_id: AccountId(u128_col(blob(row, 0), h, "history account_id")?),
                    timestamp: u64_col(int(row, 1), h, "history timestamp")?,
                    debits_pending: u128_col(blob(row, 2), h, "history debits_pending")?,
                    debits_posted: u128_col(blob(row, 3), h, "history debits_posted")?,
                    credits_pending: u128_col(blob(row, 4), h, "history credits_pending")?,
                    credits_posted: u128_col(blob(row, 5), h, "history credits_posted")?,
                })
            })
            .collect()
    }

    fn reader(&self) -> Result<Box<dyn Store>, StoreError> {
        let Some((url, tls)) = &self.connection else {
            return Err(StoreError::Io(std::io::Error::other(
                "this PostgreSQL store was made from a connection, not a URL: it cannot open a reader",
            )));
        };
        let mut reader = PostgresStore::connect_in(url, self.schema.as_deref(), tls)?;
        reader.bulk = self.bulk;
        Ok(Box::new(reader))
    }

    fn lookup_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<StoredTransfer>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<[u8; 16]> = ids.iter().map(|id| id.0.to_be_bytes()).collect();
        let rows = self
            .client
            .query(&self.st.lookup_transfers, &[&refs(&keys)])?;
        rows.iter()
            .map(|row| {
                let h = row_height(row);
                let transfer = transfer_from_row(row, h)?;
                let status =
                    codec::pending_status(transfer.flags, int(row, 15)).map_err(|e| match e {
                        StoreError::Corrupt { reason, .. } => corrupt(h, reason),
                        e => e,
                    })?;
                Ok(StoredTransfer {
                    transfer,
                    status,
                    leaf_index: u64_col(int(row, 0), h, "transfer seq")?,
                })
            })
            .collect()
    }

    fn transfers_by_leaf(&mut self, from: u64, to: u64) -> Result<Vec<Transfer>, StoreError> {
        // Leaf indexes are `bigint`s; none reaches 2^63.
        let to = to
            .min(from.saturating_add(LEAF_RANGE_MAX))
            .min(i64::MAX as u64);
        if from >= to {
            return Ok(Vec::new());
        }
        let rows = self.client.query(
            &self.st.read_transfers,
            &[&u64_to_sql(from), &u64_to_sql(to)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (from..).zip(&rows) {
            let h = row_height(row);
            let seq = u64_col(int(row, 0), h, "transfer seq")?;
            if seq != expected {
                return Err(corrupt(
                    h,
                    format!("transfer {expected} is missing (next stored is {seq})"),
                ));
            }
            out.push(transfer_from_row(row, h)?);
        }
        Ok(out)
    }

    fn merkle_node(&mut self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        let Ok(level) = i32::try_from(level) else {
            return Ok(None);
        };
        let row = self
            .client
            .query_opt(&self.st.merkle_node, &[&level, &u64_to_sql(index)])?;
        row.map(|row| codec::fixed(blob(&row, 0), 0, "Merkle node hash"))
            .transpose()
    }

    fn transfers_at(&mut self, timestamps: &[u64]) -> Result<Vec<Transfer>, StoreError> {
        if timestamps.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<i64> = timestamps.iter().map(|&t| u64_to_sql(t)).collect();
        let rows = self.client.query(&self.st.transfers_at, &[&keys])?;
        transfers_from_rows(&rows)
    }

    fn write_snapshot(&mut self, snapshot: &SnapshotRecord) -> Result<(), StoreError> {
        let height = u64_to_sql(snapshot.height);
        let mut tx = self.client.transaction()?;
        // Writing a height again (a retry whose commit was not acknowledged) replaces it.
        tx.execute(
            "INSERT INTO snapshots (height, block_hash, digest, signature) VALUES ($1, $2, $3, $4)
             ON CONFLICT (height) DO UPDATE SET block_hash = EXCLUDED.block_hash,
                digest = EXCLUDED.digest, signature = EXCLUDED.signature",
            &[
                &height,
                &&snapshot.block_hash[..],
                &&snapshot.digest[..],
                &&snapshot.signature[..],
            ],
        )?;
        tx.execute("DELETE FROM snapshot_chunks WHERE height = $1", &[&height])?;
        let insert =
            tx.prepare("INSERT INTO snapshot_chunks (height, chunk, bytes) VALUES ($1, $2, $3)")?;
        for (chunk, bytes) in snapshot.state.chunks(SNAPSHOT_CHUNK_BYTES).enumerate() {
            let chunk = i32::try_from(chunk)
                .map_err(|_| corrupt(snapshot.height, "snapshot state too large"))?;
            tx.execute(&insert, &[&height, &chunk, &bytes])?;
        }
        tx.execute(
            "DELETE FROM snapshot_chunks WHERE height NOT IN
                (SELECT height FROM snapshots ORDER BY height DESC LIMIT $1)",
            &[&SNAPSHOTS_KEPT],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn latest_snapshot(&mut self) -> Result<Option<SnapshotRecord>, StoreError> {
        // One snapshot of the database for the header and its chunks.
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let Some(row) = tx.query_opt(
            "SELECT height, block_hash, digest, signature FROM snapshots
             ORDER BY height DESC LIMIT 1",
            &[],
        )?
        else {
            tx.commit()?;
            return Ok(None);
        };
        let mut snapshot = snapshot_header(&row)?;
        let height = snapshot.height;
        let chunks = tx.query(
            "SELECT chunk, bytes FROM snapshot_chunks WHERE height = $1 ORDER BY chunk",
            &[&u64_to_sql(height)],
        )?;
        tx.commit()?;
        let total: usize = chunks
            .iter()
            .map(|c| blob(c, 1).map_or(0, <[u8]>::len))
            .sum();
        snapshot.state.reserve_exact(total);
        for (expected, row) in (0i64..).zip(&chunks) {
            if int(row, 0) != Some(expected) {
                return Err(corrupt(
                    height,
                    format!("snapshot chunk {expected} is missing"),
                ));
            }
            let bytes =
                blob(row, 1).ok_or_else(|| corrupt(height, "snapshot chunk is not a blob"))?;
            snapshot.state.extend_from_slice(bytes);
        }
        Ok(Some(snapshot))
    }

    fn snapshot_headers(&mut self) -> Result<Vec<SnapshotRecord>, StoreError> {
        let rows = self.client.query(
            "SELECT height, block_hash, digest, signature FROM snapshots ORDER BY height",
            &[],
        )?;
        rows.iter().map(snapshot_header).collect()
    }

    fn lookup_failed(&mut self, ids: &[TransferId]) -> Result<Vec<TransferId>, StoreError> {
        let keys: Vec<[u8; 16]> = ids.iter().map(|id| id.0.to_be_bytes()).collect();
        let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
        let rows = self.client.query(
            "SELECT id FROM failed_transfers WHERE id = ANY($1)",
            &[&keys],
        )?;
        rows.iter()
            .map(|row| Ok(TransferId(u128_col(blob(row, 0), 0, "failed id")?)))
            .collect()
    }

    fn failed_transfers(
        &mut self,
        from_height: u64,
        to_height: u64,
    ) -> Result<Vec<(u64, FailedTransfer)>, StoreError> {
        let rows = self.client.query(
            "SELECT block_height, id, result FROM failed_transfers
             WHERE block_height >= $1 AND block_height < $2 ORDER BY seq",
            &[&u64_to_sql(from_height), &u64_to_sql(to_height)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let height = u64_col(int(row, 0), 0, "failed block_height")?;
            let id = TransferId(u128_col(blob(row, 1), height, "failed id")?);
            let name: String = row.get(2);
            let result = codec::transfer_result(&name)?;
            out.push((height, FailedTransfer { id, result }));
        }
        Ok(out)
    }

    // Queries: implemented in `crate::postgres_query`.

    fn account_transfers(
        &mut self,
        filter: &crate::query::AccountFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        crate::postgres_query::account_transfers(&mut self.client, filter)
    }

    fn account_balances(
        &mut self,
        filter: &crate::query::AccountFilter,
    ) -> Result<Vec<AccountBalance>, StoreError> {
        crate::postgres_query::account_balances(&mut self.client, filter)
    }

    fn query_accounts(
        &mut self,
        filter: &crate::query::QueryFilter,
    ) -> Result<Vec<Account>, StoreError> {
        crate::postgres_query::query_accounts(&mut self.client, filter)
    }

    fn query_transfers(
        &mut self,
        filter: &crate::query::QueryFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        crate::postgres_query::query_transfers(&mut self.client, filter)
    }

    fn lookup_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        crate::postgres_query::lookup_accounts(&mut self.client, ids)
    }
}
