//! Fixtures the store's suites share: a SQLite file in a temporary directory, and a
//! PostgreSQL schema of a test's own (`MILEVERSE_TEST_DATABASE_URL`), dropped when it ends.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use store::postgres::PostgresStore;
use store::sqlite::SqliteStore;

pub struct SqliteFixture {
    pub store: SqliteStore,
    pub dir: tempfile::TempDir,
}

impl SqliteFixture {
    pub fn new() -> SqliteFixture {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("ledger.db")).unwrap();
        SqliteFixture { store, dir }
    }
}

pub fn database_url() -> String {
    std::env::var("MILEVERSE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "MILEVERSE_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server. Run \
             `eval \"$(bash scripts/pg.sh env)\"` (it starts one on 127.0.0.1) and run the tests again"
        )
    })
}

/// How the tests connect: with TLS, trusting the test server's CA (`MILEVERSE_TEST_PG_CA`,
/// which `scripts/pg.sh env` exports) beside the system's roots.
pub fn database_tls() -> store::postgres::PostgresTls {
    tls::test_pki::test_database_tls().postgres()
}

/// A store in a schema of its own, dropped when the test ends. The schema's name holds the
/// process id and a counter, so tests in other processes and in this one never share one.
pub struct PgFixture {
    pub store: PostgresStore,
    pub schema: String,
}

impl PgFixture {
    pub fn new(test: &str) -> PgFixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let number = N.fetch_add(1, Ordering::Relaxed);
        let schema = format!("t_{test}_{}_{number}", std::process::id());
        let url = database_url();
        let mut admin = ::postgres::Client::connect(&url, database_tls()).unwrap_or_else(|e| {
            panic!("cannot connect to {url} (start it with scripts/pg.sh): {e}")
        });
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        let store = PostgresStore::connect_schema(&url, &schema, &database_tls()).unwrap();
        PgFixture { store, schema }
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        if let Ok(mut c) = ::postgres::Client::connect(&database_url(), database_tls()) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

/// Declares `mod memory`, `mod sqlite` and `mod postgres`, each with one `#[test]` per named
/// function of the calling file (`fn name(store: &mut dyn Store)`), run on a fresh store of
/// that backend. `for_sql_backends!` leaves out memory.
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() {
                super::$name(&mut store::memory::MemoryStore::new());
            })*
        }
        $crate::for_sql_backends!($($name),*);
    };
}

#[macro_export]
macro_rules! for_sql_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() {
                let directory = tempfile::tempdir().unwrap();
                let path = directory.path().join("ledger.db");
                let mut store = store::sqlite::SqliteStore::open(&path).unwrap();
                super::$name(&mut store);
            })*
        }
        mod postgres {
            $(#[test] fn $name() {
                let mut fixture = $crate::common::PgFixture::new(stringify!($name));
                super::$name(&mut fixture.store);
            })*
        }
    };
}

/// Takes an SQLite database back past migrations 8 to 24 (the members tables, the
/// exchange tables, the vouchers tables, the pay codes' tables, the conversion tables, the
/// anchoring tables, the merchants tables, the settlement tables, the partner
/// catalogue and the links' proofs), for tests that rebuild an older version by hand: each drops what came after
/// the version it sets.
pub const SQLITE_DROP_MIGRATION_8: &str = "DROP TABLE members; DROP TABLE member_devices;
    DROP TABLE member_sessions; DROP TABLE phone_verifications;
    DROP TABLE partner_links; DROP TABLE exchanges;
    DROP TABLE voucher_products; DROP TABLE vouchers;
    DROP TABLE paycode_devices; DROP TABLE used_paycodes;
    DROP TABLE wallet_addresses; DROP TABLE conversions; DROP TABLE conversion_settings;
    DROP TABLE anchor_cosignatures; DROP TABLE anchorings;
    DROP TABLE merchants; DROP TABLE terminals;
    DROP TABLE settlement_runs; DROP TABLE settlement_lines;
    DROP TABLE partners; DROP TABLE partner_rates;
    DROP TABLE operators; DROP TABLE operator_sessions; DROP TABLE api_keys;
    DROP TABLE audit_log; DROP TABLE login_guards; DROP TABLE member_login_devices;
    DROP TABLE rate_counters; DROP TABLE vans; DROP TABLE van_merchants;
    DROP TABLE portal_users; DROP TABLE portal_sessions;
    DROP TABLE ad_campaigns; DROP TABLE ad_views;
    DROP TABLE ledger_verifications; DROP TABLE partner_reconciliations;
    DROP TABLE p2p_transfers; DROP TABLE p2p_requests;
    DROP TABLE asset_prices; DROP TABLE asset_quotes;
    DROP TABLE checkout_intents; DROP TABLE webhook_endpoints; DROP TABLE webhook_events;
    DROP TABLE promotions; DROP TABLE promotion_grants;
    DROP TABLE escrow_trades; DROP TABLE game_companies; DROP TABLE game_credits;
    DROP TABLE media_platforms; DROP TABLE creators; DROP TABLE creator_contents;
    DROP TABLE creator_reports; DROP TABLE creator_metrics; DROP TABLE creator_pools;
    DROP TABLE creator_tips; DROP TABLE creator_payouts;";

/// Undoes migrations 20 to 32 (both backends), for tests that open a store rewound to an
/// older version and watch the migrations run again.
pub const UNDO_MIGRATIONS_AFTER_19: &str = "DROP TABLE login_guards;
    DROP TABLE member_login_devices; DROP TABLE rate_counters; DROP TABLE vans;
    DROP TABLE van_merchants; DROP TABLE portal_users; DROP TABLE portal_sessions;
    DROP TABLE ad_campaigns; DROP TABLE ad_views;
    DROP TABLE ledger_verifications; DROP TABLE partner_reconciliations;
    DROP TABLE p2p_transfers; DROP TABLE p2p_requests;
    DROP TABLE asset_prices; DROP TABLE asset_quotes;
    DROP TABLE checkout_intents; DROP TABLE webhook_endpoints; DROP TABLE webhook_events;
    DROP TABLE promotions; DROP TABLE promotion_grants;
    DROP TABLE escrow_trades; DROP TABLE game_companies; DROP TABLE game_credits;
    DROP TABLE media_platforms; DROP TABLE creators; DROP TABLE creator_contents;
    DROP TABLE creator_reports; DROP TABLE creator_metrics; DROP TABLE creator_pools;
    DROP TABLE creator_tips; DROP TABLE creator_payouts;
    ALTER TABLE partners DROP COLUMN prepaid;
    ALTER TABLE members ADD COLUMN failed_pins bigint NOT NULL DEFAULT 0;";

/// Appends `writes` as the rows of one transaction with no blocks: all of them, or, when
/// one is refused, none.
pub fn append_rows<W: store::tables::Row + 'static>(
    s: &mut dyn store::Store,
    writes: Vec<W>,
) -> Result<(), store::StoreError> {
    let rows: Vec<store::tables::RowRef> = writes
        .into_iter()
        .map(|write| std::sync::Arc::new(write) as store::tables::RowRef)
        .collect();
    s.append_with_rows(&[], &rows).map(|_| ())
}

/// A small deterministic generator (xorshift), so a failure is reproducible.
pub struct Dice(pub u64);

impl Dice {
    pub fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}
