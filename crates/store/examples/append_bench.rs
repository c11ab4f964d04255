//! Measures `Store::append` at the engine's block limit: blocks of 8,190 transfers between
//! random accounts, each with the full rows of every account it touched, durable on return.
//!
//! ```text
//! cargo run --release -p store --example append_bench -- sqlite [--blocks 40] [--accounts 10000]
//! eval "$(bash scripts/pg.sh env)"
//! cargo run --release -p store --example append_bench -- postgres [--unnest]
//! cargo run --release -p store --example append_bench -- postgres-naive [--transfers 5000]
//! ```
//!
//! Options: `--blocks N` (timed blocks, default 40); `--accounts N` (default 10,000, as in
//! `mileverse bench ledger`; created first in blocks of 8,190 accounts, not timed);
//! `--id-index` (adds a unique index on `transfers.id`, to measure what it would cost);
//! `--unnest` (PostgreSQL: transfers by `unnest` arrays instead of `COPY BINARY`); `--path
//! FILE` (SQLite file; default a fresh one under the system temp dir). `postgres-naive`
//! instead runs `--transfers N` (default 5,000) transfers through
//! [`store::naive::NaivePostgresLedger`], one SQL transaction each, from one client.
//!
//! Every timed block changes the full rows of the (about 8,000 of 10,000, or 15,000 of
//! 100,000) accounts its transfers touch, as the platform does.

use std::time::{Duration, Instant};

use ledger::types::{
    Account, AccountFlags, AccountId, BlockHeader, Transfer, TransferFlags, TransferId,
};
use rand::Rng;
use store::postgres::{BulkMode, PostgresStore};
use store::sqlite::SqliteStore;
use store::{BlockRecord, BlockWrite, Store};

const BLOCK: usize = 8190;

struct Opts {
    backend: String,
    blocks: usize,
    accounts: usize,
    id_index: bool,
    unnest: bool,
    path: Option<String>,
    transfers: usize,
}

fn opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        backend: String::new(),
        blocks: 40,
        accounts: 10_000,
        id_index: false,
        unnest: false,
        path: None,
        transfers: 5000,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--blocks" => {
                o.blocks = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--blocks N")
            }
            "--accounts" => {
                o.accounts = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--accounts N")
            }
            "--id-index" => o.id_index = true,
            "--unnest" => o.unnest = true,
            "--path" => o.path = args.next(),
            "--transfers" => {
                o.transfers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--transfers N")
            }
            b if !b.starts_with('-') && o.backend.is_empty() => o.backend = b.to_string(),
            other => panic!("unknown argument {other}"),
        }
    }
    if o.backend.is_empty() {
        panic!(
            "usage: append_bench <sqlite|postgres> [--blocks N] [--accounts N] [--id-index] [--unnest] [--path FILE]"
        );
    }
    o
}

struct Gen {
    height: u64,
    tree_size: u64,
    clock: u64,
}

impl Gen {
    fn block(
        &mut self,
        accounts: Vec<Account>,
        transfers: Vec<Transfer>,
        changed: Vec<Account>,
    ) -> BlockWrite {
        let height = self.height;
        self.height += 1;
        self.tree_size += transfers.len() as u64;
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&height.to_be_bytes());
        BlockWrite {
            block: BlockRecord {
                header: BlockHeader {
                    height,
                    previous_hash: h,
                    timestamp: self.clock,
                    account_count: accounts.len() as u32,
                    transfer_count: transfers.len() as u32,
                    accounts_digest: h,
                    tree_size: self.tree_size,
                    merkle_root: h,
                },
                hash: h,
                signature: [7; 64],
                accounts,
                transfers,
            },
            accounts_changed: changed,
            history: Vec::new(),
            expired: Vec::new(),
            merkle_nodes: Vec::new(),
            failed: Vec::new(),
        }
    }
}

fn main() {
    let o = opts();
    let mut rng = rand::thread_rng();
    let _dir;
    let mut pg_schema = None;
    let mut store: Box<dyn Store> = match o.backend.as_str() {
        "sqlite" => {
            let path = match &o.path {
                Some(p) => std::path::PathBuf::from(p),
                None => {
                    let d = tempfile::tempdir().unwrap();
                    let p = d.path().join("bench.db");
                    _dir = d;
                    p
                }
            };
            let mut s = SqliteStore::open(&path).unwrap();
            if o.id_index {
                s.connection()
                    .execute_batch("CREATE UNIQUE INDEX transfers_id ON transfers (id)")
                    .unwrap();
            }
            Box::new(s)
        }
        "postgres" => {
            let url = std::env::var("MILEVERSE_TEST_DATABASE_URL")
                .expect("set MILEVERSE_TEST_DATABASE_URL (eval \"$(bash scripts/pg.sh env)\")");
            let schema = format!("bench_{}", std::process::id());
            let mut s = PostgresStore::connect_schema(&url, &schema, &example_tls()).unwrap();
            if o.unnest {
                s.set_bulk_mode(BulkMode::Unnest);
            }
            if o.id_index {
                s.client()
                    .batch_execute("CREATE UNIQUE INDEX transfers_id ON transfers (id)")
                    .unwrap();
            }
            pg_schema = Some((url, schema));
            Box::new(s)
        }
        "postgres-naive" => return naive(&o),
        other => panic!("unknown backend {other}"),
    };

    let mut g = Gen {
        height: 0,
        tree_size: 0,
        clock: 1,
    };
    let mut accounts: Vec<Account> = (0..o.accounts)
        .map(|i| {
            g.clock += 1;
            Account {
                id: AccountId(rng.r#gen::<u128>() | 1),
                ledger: 1,
                code: 1,
                user_data_64: i as u64,
                flags: AccountFlags::empty(),
                timestamp: g.clock,
                ..Account::default()
            }
        })
        .collect();
    for chunk in accounts.chunks(BLOCK) {
        let w = g.block(chunk.to_vec(), Vec::new(), chunk.to_vec());
        store.append(&[w]).unwrap();
    }

    let mut times = Vec::with_capacity(o.blocks);
    let cpu_start = cpu_time();
    let mut touched = vec![u64::MAX; accounts.len()];
    for b in 0..o.blocks {
        let mut transfers = Vec::with_capacity(BLOCK);
        let mut changed_idx = Vec::with_capacity(2 * BLOCK);
        for _ in 0..BLOCK {
            let d = rng.gen_range(0..accounts.len());
            let mut c = rng.gen_range(0..accounts.len() - 1);
            if c >= d {
                c += 1;
            }
            let amount = rng.gen_range(1..1_000_000u128);
            accounts[d].debits_posted += amount;
            accounts[c].credits_posted += amount;
            for i in [d, c] {
                if touched[i] != b as u64 {
                    touched[i] = b as u64;
                    changed_idx.push(i);
                }
            }
            g.clock += 1;
            transfers.push(Transfer {
                id: TransferId(rng.r#gen::<u128>() | 1),
                debit_account_id: accounts[d].id,
                credit_account_id: accounts[c].id,
                amount,
                ledger: 1,
                code: 1,
                flags: TransferFlags::empty(),
                timestamp: g.clock,
                ..Transfer::default()
            });
        }
        let changed: Vec<Account> = changed_idx.iter().map(|&i| accounts[i]).collect();
        let w = g.block(Vec::new(), transfers, changed);
        let start = Instant::now();
        store.append(std::slice::from_ref(&w)).unwrap();
        times.push(start.elapsed());
    }

    let cpu = cpu_time() - cpu_start;
    let total: Duration = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let tps = (o.blocks * BLOCK) as f64 / total.as_secs_f64();
    println!(
        "{}{}{}: {} blocks x {} transfers, {} accounts: mean {:.1} ms, p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms per block; {:.0} transfers/s (process CPU {:.1} ms per block, generation included)",
        o.backend,
        if o.unnest { " (unnest)" } else { "" },
        if o.id_index { " +id index" } else { "" },
        o.blocks,
        BLOCK,
        o.accounts,
        ms(total) / o.blocks as f64,
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() * 9 / 10]),
        ms(sorted[sorted.len() - 1]),
        tps,
        cpu * 1000.0 / o.blocks as f64,
    );

    // Everything written reads back.
    let n = store.block_count().unwrap();
    assert_eq!(n, g.height);
    drop(store);
    if let Some((url, schema)) = pg_schema {
        let mut c = postgres::Client::connect(&url, example_tls()).unwrap();
        c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_time() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// TLS as the tests connect: the test server's CA (`MILEVERSE_TEST_PG_CA`) if set.
fn example_tls() -> store::postgres::PostgresTls {
    tls::test_pki::test_database_tls().postgres()
}

/// The baseline: one SQL transaction per transfer.
fn naive(o: &Opts) {
    let url = std::env::var("MILEVERSE_TEST_DATABASE_URL")
        .expect("set MILEVERSE_TEST_DATABASE_URL (eval \"$(bash scripts/pg.sh env)\")");
    let schema = format!("bench_naive_{}", std::process::id());
    let mut client = postgres::Client::connect(&url, example_tls()).unwrap();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}"
        ))
        .unwrap();
    let mut rng = rand::thread_rng();
    let accounts: Vec<Account> = (0..o.accounts)
        .map(|i| Account {
            id: AccountId(i as u128 + 1),
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    store::naive::NaivePostgresLedger::setup(&mut client, &accounts).unwrap();
    let mut ledger = store::naive::NaivePostgresLedger::new(client).unwrap();
    let start = Instant::now();
    for i in 0..o.transfers {
        let d = rng.gen_range(0..accounts.len());
        let mut c = rng.gen_range(0..accounts.len() - 1);
        if c >= d {
            c += 1;
        }
        let t = Transfer {
            id: TransferId(i as u128 + 1),
            debit_account_id: accounts[d].id,
            credit_account_id: accounts[c].id,
            amount: 1,
            ledger: 1,
            code: 1,
            ..Transfer::default()
        };
        assert!(ledger.transfer(&t).unwrap().is_ok());
    }
    let elapsed = start.elapsed();
    println!(
        "postgres-naive: {} transfers, {} accounts, 1 client: {:.0} transfers/s ({:.2} ms each)",
        o.transfers,
        o.accounts,
        o.transfers as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / o.transfers as f64
    );
    let mut client = ledger.into_client();
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
