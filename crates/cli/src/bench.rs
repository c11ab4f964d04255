//! `mileverse bench`: throughput and latency of the ledger, measured, not asserted.
//!
//! The workload: `--accounts` accounts on one ledger, `--transfers` transfers between random
//! pairs of them (a fixed-seed generator, so runs are comparable), split among `--clients`
//! concurrent clients, each sending requests of `--batch` transfers and waiting for the
//! answer before sending the next. Latency is per request, from send to durable answer.
//! The last line printed is one JSON object with the figures.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use journal::{JournalMode, LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use ledger::types::{Account, AccountId, Transfer, TransferId};
use serde_json::{Map, Value, json};
use store::Store;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Transfers through the sequencer into a store (or the naive PostgreSQL baseline).
    Ledger(LedgerBenchArgs),
    /// Mileage exchanges over HTTP against a partner simulator, on loopback.
    Exchange(crate::bench_exchange::ExchangeBenchArgs),
    /// Signed VAN authorizations (one-step sales with pay codes) over HTTP, on loopback.
    Authorize(crate::bench_authorize::AuthorizeBenchArgs),
    /// Opens an existing ledger (`bench ledger --data DIR` builds one): time to ready and
    /// resident memory, then (with `--transfers`) throughput on it.
    Restart(RestartBenchArgs),
    /// A settlement run over seeded payments (`--seed-only` leaves them for `serve`).
    Settle(crate::bench_settle::SettleBenchArgs),
    /// P2P transfers between members over HTTP, on loopback.
    P2p(crate::bench_p2p::P2pBenchArgs),
    /// Checkout approvals (members paying a shop's payment intents) over HTTP, on loopback.
    Checkout(crate::bench_checkout::CheckoutBenchArgs),
}

#[derive(clap::Args, Clone, Debug)]
pub struct RestartBenchArgs {
    /// The directory `bench ledger --backend sqlite --data DIR` wrote.
    #[arg(long)]
    data: PathBuf,
    /// Transfers to run after the start (batch 8,190, 4 clients); 0 only starts.
    #[arg(long, default_value_t = 0)]
    transfers: u64,
    #[arg(long, default_value_t = 8190)]
    batch: usize,
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The number of accounts the store was built with (transfers go between them).
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// Ends as a crash would, without the shutdown snapshot: the next start replays every
    /// block since the last periodic snapshot (what `bench restart` after it measures).
    #[arg(long)]
    exit_without_shutdown: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
    /// The baseline: one SQL transaction per transfer with SELECT … FOR UPDATE.
    PostgresNaive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(clap::Args, Clone, Debug)]
pub struct LedgerBenchArgs {
    #[arg(long, value_enum, default_value = "memory")]
    backend: Backend,
    #[arg(long, default_value_t = 1_000_000)]
    transfers: u64,
    /// Transfers per request (at most 8,190).
    #[arg(long, default_value_t = 8190)]
    batch: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// Journal hashing (leaf hashes, Merkle log, signatures): `off` measures its cost.
    #[arg(long, value_enum, default_value = "on")]
    journal: Switch,
    /// PostgreSQL for `postgres` and `postgres-naive` (each run uses a fresh schema).
    #[arg(long, env = "MILEVERSE_DATABASE_URL")]
    database_url: Option<String>,
    /// Whom a TLS connection to PostgreSQL trusts.
    #[command(flatten)]
    tls: crate::options::ClientTlsOptions,
    /// Directory for the SQLite file; a fresh temporary directory by default.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Latencies of completed requests, in microseconds.
struct Outcome {
    latencies_us: Vec<u64>,
    elapsed: Duration,
    rejected: u64,
    /// Ledger counters over the timed part (sequenced backends only).
    store: Option<journal::MetricsSnapshot>,
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let args = match command {
        BenchCommand::Ledger(args) => args,
        BenchCommand::Exchange(args) => return crate::bench_exchange::run(args),
        BenchCommand::Authorize(args) => return crate::bench_authorize::run(args),
        BenchCommand::Restart(args) => return run_restart(&args),
        BenchCommand::Settle(args) => return crate::bench_settle::run(args),
        BenchCommand::P2p(args) => return crate::bench_p2p::run(args),
        BenchCommand::Checkout(args) => return crate::bench_checkout::run(args),
    };
    anyhow::ensure!(
        (1..=journal::sequencer::BATCH_EVENTS_MAX).contains(&args.batch),
        "--batch must be 1..=8190"
    );
    anyhow::ensure!(
        args.clients >= 1 && args.accounts >= 2,
        "need at least 1 client and 2 accounts"
    );
    let accounts = make_accounts(args.accounts);
    let transfers = make_transfers(args.transfers, args.accounts);
    println!(
        "bench ledger: backend {:?}, {} transfers, batch {}, {} clients, {} accounts, journal {:?}",
        args.backend, args.transfers, args.batch, args.clients, args.accounts, args.journal
    );
    let outcome = match args.backend {
        Backend::PostgresNaive => run_naive(&args, &accounts, transfers)?,
        _ => run_sequenced(&args, accounts, transfers)?,
    };
    report(&args, &outcome);
    Ok(if outcome.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn make_accounts(count: u64) -> Vec<Account> {
    (1..=count)
        .map(|index| Account {
            id: AccountId(index.into()),
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect()
}

/// Transfers between random distinct accounts, from a fixed-seed xorshift generator.
fn make_transfers(count: u64, accounts: u64) -> Vec<Transfer> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (1..=count)
        .map(|index| {
            let debit = next() % accounts + 1;
            let credit = (debit + next() % (accounts - 1)) % accounts + 1;
            Transfer {
                id: TransferId(index.into()),
                debit_account_id: AccountId(debit.into()),
                credit_account_id: AccountId(credit.into()),
                amount: u128::from(next() % 100 + 1),
                ledger: 1,
                code: 1,
                ..Transfer::default()
            }
        })
        .collect()
}

/// A scratch directory removed on drop.
pub struct ScratchDirectory(pub PathBuf);

impl Drop for ScratchDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn fresh_schema_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("bench_{}_{}", std::process::id(), nanos.as_micros())
}

fn open_bench_store(
    args: &LedgerBenchArgs,
) -> anyhow::Result<(Box<dyn Store>, Option<ScratchDirectory>)> {
    match args.backend {
        Backend::Memory => Ok((Box::new(store::memory::MemoryStore::new()), None)),
        Backend::Sqlite => {
            let (directory, scratch) = match &args.data {
                Some(directory) => (directory.clone(), None),
                None => {
                    let directory = std::env::temp_dir().join(fresh_schema_name());
                    (directory.clone(), Some(ScratchDirectory(directory)))
                }
            };
            std::fs::create_dir_all(&directory)?;
            let store = store::sqlite::SqliteStore::open(&directory.join("ledger.db"))?;
            Ok((Box::new(store), scratch))
        }
        Backend::Postgres | Backend::PostgresNaive => {
            let url = args
                .database_url
                .as_deref()
                .context("--database-url (or MILEVERSE_DATABASE_URL) is required")?;
            let tls = args.tls.client_tls()?.postgres();
            let store =
                store::postgres::PostgresStore::connect_schema(url, &fresh_schema_name(), &tls)?;
            Ok((Box::new(store), None))
        }
    }
}

fn run_sequenced(
    args: &LedgerBenchArgs,
    accounts: Vec<Account>,
    transfers: Vec<Transfer>,
) -> anyhow::Result<Outcome> {
    let (store, _scratch) = open_bench_store(args)?;
    let journal = if args.journal == Switch::On {
        JournalMode::On
    } else {
        JournalMode::Off
    };
    let config = LedgerConfig {
        journal,
        ..LedgerConfig::default()
    };
    let key = match (&args.data, args.backend) {
        (Some(directory), Backend::Sqlite) => crate::keys_for_bench(directory)?,
        _ => OperatorKey::from_seed(rand::random()),
    };
    let ledger = Arc::new(LedgerService::open(store, key, config)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        create_accounts(&ledger, &accounts).await?;
        // On a store built before (`--data`), new transfers follow the ones it has.
        let offset = ledger.checkpoint().map_or(0, |c| c.checkpoint.tree_size);
        let transfers = offset_ids(transfers, offset);
        let before = ledger.metrics();
        let mut outcome = drive_clients(&ledger, transfers, args.batch, args.clients).await;
        let after = ledger.metrics();
        outcome.store = Some(journal::MetricsSnapshot {
            blocks_written: after.blocks_written - before.blocks_written,
            store_appends: after.store_appends - before.store_appends,
            store_append_micros: after.store_append_micros - before.store_append_micros,
            ..after
        });
        Ok::<_, anyhow::Error>(outcome)
    })?;
    drop(runtime);
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.shutdown();
    }
    Ok(outcome)
}

/// Creates the accounts; on a store that has them already, `exists` is fine.
async fn create_accounts(ledger: &LedgerService, accounts: &[Account]) -> anyhow::Result<()> {
    for chunk in accounts.chunks(journal::sequencer::BATCH_EVENTS_MAX) {
        let results = ledger.create_accounts(chunk.to_vec()).await?;
        let created = |result: &ledger::types::CreateAccountResult| {
            result.is_ok() || *result == ledger::types::CreateAccountResult::Exists
        };
        anyhow::ensure!(results.iter().all(created), "account creation failed");
    }
    Ok(())
}

fn offset_ids(mut transfers: Vec<Transfer>, offset: u64) -> Vec<Transfer> {
    for transfer in &mut transfers {
        transfer.id.0 += u128::from(offset);
    }
    transfers
}

/// Resident and peak resident memory of this process, in MiB (Linux `/proc`).
pub(crate) fn resident_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn run_restart(args: &RestartBenchArgs) -> anyhow::Result<ExitCode> {
    let path = args.data.join("ledger.db");
    anyhow::ensure!(path.exists(), "{} does not exist", path.display());
    let started = Instant::now();
    let store = store::sqlite::SqliteStore::open(&path)?;
    let key = crate::keys_for_bench(&args.data)?;
    let ledger = Arc::new(LedgerService::open(
        Box::new(store),
        key,
        LedgerConfig::default(),
    )?);
    let ready_ms = started.elapsed().as_millis() as u64;
    let (resident_at_ready, _) = resident_mib();
    let tree_size = ledger.checkpoint().map_or(0, |c| c.checkpoint.tree_size);
    println!(
        "bench restart: {} transfers in the store, ready in {ready_ms} ms, {resident_at_ready} MiB resident",
        tree_size
    );
    let mut figures = json!({
        "bench": "restart",
        "transfers_stored": tree_size,
        "ready_ms": ready_ms,
        "resident_mib_at_ready": resident_at_ready,
    });
    if args.transfers > 0 {
        let transfers = offset_ids(make_transfers(args.transfers, args.accounts), tree_size);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let outcome = runtime.block_on(drive_clients(&ledger, transfers, args.batch, args.clients));
        let rate =
            outcome.latencies_us.len() as f64 * args.batch as f64 / outcome.elapsed.as_secs_f64();
        let (resident, peak) = resident_mib();
        println!(
            "then {} transfers: {:.0} transfers/s, {resident} MiB resident, {peak} MiB peak, {} rejected",
            args.transfers, rate, outcome.rejected
        );
        figures["transfers"] = json!(args.transfers);
        figures["transfers_per_second"] = json!(rate.round());
        figures["resident_mib"] = json!(resident);
        figures["peak_resident_mib"] = json!(peak);
        figures["rejected"] = json!(outcome.rejected);
    }
    println!("{figures}");
    if args.exit_without_shutdown {
        // Everything acknowledged is durable; leaving now skips only the shutdown snapshot.
        std::process::exit(0);
    }
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.shutdown();
    }
    Ok(ExitCode::SUCCESS)
}

async fn drive_clients(
    ledger: &Arc<LedgerService>,
    transfers: Vec<Transfer>,
    batch: usize,
    clients: usize,
) -> Outcome {
    let per_client = transfers.len().div_ceil(clients).max(1);
    // Requests are built before the clock starts: the bench measures the ledger, not memcpy.
    let shares: Vec<Vec<Vec<Transfer>>> = transfers
        .chunks(per_client)
        .map(|share| share.chunks(batch).map(<[Transfer]>::to_vec).collect())
        .collect();
    drop(transfers);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for requests in shares {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::with_capacity(requests.len());
            let mut rejected = 0u64;
            for request in requests {
                let sent = Instant::now();
                match ledger.create_transfers(request).await {
                    Ok(results) => {
                        rejected += results.iter().filter(|result| !result.is_ok()).count() as u64
                    }
                    Err(_) => rejected += 1,
                }
                latencies_us.push(sent.elapsed().as_micros() as u64);
            }
            (latencies_us, rejected)
        }));
    }
    let mut outcome = Outcome {
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
        rejected: 0,
        store: None,
    };
    for task in tasks {
        let (latencies_us, rejected) = task.await.expect("bench client");
        outcome.latencies_us.extend(latencies_us);
        outcome.rejected += rejected;
    }
    outcome.elapsed = started.elapsed();
    outcome
}

fn run_naive(
    args: &LedgerBenchArgs,
    accounts: &[Account],
    transfers: Vec<Transfer>,
) -> anyhow::Result<Outcome> {
    let url = args
        .database_url
        .as_deref()
        .context("--database-url (or MILEVERSE_DATABASE_URL) is required")?;
    let schema = fresh_schema_name();
    let tls = args.tls.client_tls()?.postgres();
    store::naive::NaivePostgresLedger::setup(
        &mut store::naive::connect_in_schema(url, &schema, &tls)?,
        accounts,
    )?;
    let per_client = transfers.len().div_ceil(args.clients).max(1);
    let started = Instant::now();
    let results: Vec<anyhow::Result<(Vec<u64>, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = transfers
            .chunks(per_client)
            .map(|share| {
                let (schema, tls) = (schema.as_str(), &tls);
                scope.spawn(move || {
                    let mut naive = store::naive::NaivePostgresLedger::new(
                        store::naive::connect_in_schema(url, schema, tls)?,
                    )?;
                    let mut latencies_us = Vec::with_capacity(share.len());
                    let mut rejected = 0;
                    for transfer in share {
                        let sent = Instant::now();
                        if !naive.transfer(transfer)?.is_ok() {
                            rejected += 1;
                        }
                        latencies_us.push(sent.elapsed().as_micros() as u64);
                    }
                    Ok((latencies_us, rejected))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("naive client"))
            .collect()
    });
    let mut outcome = Outcome {
        latencies_us: Vec::new(),
        elapsed: started.elapsed(),
        rejected: 0,
        store: None,
    };
    for result in results {
        let (latencies_us, rejected) = result?;
        outcome.latencies_us.extend(latencies_us);
        outcome.rejected += rejected;
    }
    Ok(outcome)
}

pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(args: &LedgerBenchArgs, outcome: &Outcome) {
    let mut sorted = outcome.latencies_us.clone();
    sorted.sort_unstable();
    let seconds = outcome.elapsed.as_secs_f64();
    let per_second = args.transfers as f64 / seconds.max(f64::MIN_POSITIVE);
    let (p50, p99) = (percentile(&sorted, 0.50), percentile(&sorted, 0.99));
    println!(
        "{} transfers in {seconds:.3} s: {per_second:.0} transfers/s",
        args.transfers
    );
    println!(
        "request latency: p50 {p50} us, p99 {p99} us over {} requests",
        sorted.len()
    );
    if let Some(store) = outcome.store {
        let appends = store.store_appends.max(1);
        println!(
            "journal: {} blocks ({:.0} transfers/block) in {} store transactions (mean {} us each)",
            store.blocks_written,
            args.transfers as f64 / store.blocks_written.max(1) as f64,
            store.store_appends,
            store.store_append_micros / appends
        );
    }
    if outcome.rejected > 0 {
        println!(
            "WARNING: {} transfers or requests were not ok",
            outcome.rejected
        );
    }
    let backend = match args.backend {
        Backend::Memory => "memory",
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::PostgresNaive => "postgres-naive",
    };
    let figures = json!({
        "bench": "ledger",
        "backend": backend,
        "transfers": args.transfers,
        "batch": args.batch,
        "clients": args.clients,
        "accounts": args.accounts,
        "journal": args.journal == Switch::On && args.backend != Backend::PostgresNaive,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "transfers_per_sec": per_second.round() as u64,
        "p50_us": p50,
        "p99_us": p99,
        "rejected": outcome.rejected,
    });
    println!("{figures}");
}

/// What a timed run of calls over HTTP measured (`bench exchange`, `bench authorize`).
pub struct HttpOutcome {
    pub latencies_us: Vec<u64>,
    pub elapsed: Duration,
    /// Calls that did not end as they should.
    pub failed: u64,
}

/// Makes `total` calls, numbered from 0, from `clients` concurrent tasks that each wait for
/// an answer before the next; `call(client_index, number)` says whether the call ended as
/// it should. Latency is per call.
pub async fn drive_http<F, Fut>(clients: usize, total: u64, call: F) -> anyhow::Result<HttpOutcome>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for client_index in 0..clients {
        let (next, failed, call) = (next.clone(), failed.clone(), call.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if number >= total {
                    break;
                }
                let sent = Instant::now();
                let succeeded = call(client_index, number).await;
                latencies_us.push(sent.elapsed().as_micros() as u64);
                if !succeeded {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies_us
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await?);
    }
    Ok(HttpOutcome {
        latencies_us,
        elapsed: started.elapsed(),
        failed: failed.load(Ordering::Relaxed),
    })
}

/// How a bench over HTTP names what it measured, for [`report_http`].
pub struct HttpReport<'a> {
    /// The bench's name (`"exchange"`).
    pub bench: &'static str,
    /// One call (`"exchange"`): the figures say `exchanges`, `exchanges_per_sec`.
    pub noun: &'static str,
    pub calls: u64,
    pub clients: usize,
    /// Figures of this bench alone, after `clients`.
    pub extra: &'a [(&'static str, Value)],
    /// The figure that counts failed calls (`"failed"`), and what failing means.
    pub failed_as: &'static str,
    pub failed_means: &'static str,
}

/// Prints the run's throughput and latency, then one JSON object with the figures.
pub fn report_http(report: &HttpReport<'_>, outcome: &HttpOutcome) {
    let mut sorted = outcome.latencies_us.clone();
    sorted.sort_unstable();
    let seconds = outcome.elapsed.as_secs_f64();
    let per_second = report.calls as f64 / seconds.max(f64::MIN_POSITIVE);
    let (p50_us, p99_us) = (percentile(&sorted, 0.50), percentile(&sorted, 0.99));
    let (noun, calls) = (report.noun, report.calls);
    println!("{calls} {noun}s in {seconds:.3} s: {per_second:.0} {noun}s/s");
    println!(
        "{noun} latency: p50 {:.2} ms, p99 {:.2} ms",
        p50_us as f64 / 1000.0,
        p99_us as f64 / 1000.0
    );
    if outcome.failed > 0 {
        println!(
            "WARNING: {} {noun}s {}",
            outcome.failed, report.failed_means
        );
    }
    let milliseconds = |us: u64| (us as f64 / 10.0).round() / 100.0;
    let mut figures = Map::new();
    figures.insert("bench".into(), json!(report.bench));
    figures.insert("backend".into(), json!("sqlite"));
    figures.insert(format!("{noun}s"), json!(calls));
    figures.insert("clients".into(), json!(report.clients));
    for (name, value) in report.extra {
        figures.insert((*name).into(), value.clone());
    }
    figures.insert("seconds".into(), json!((seconds * 1000.0).round() / 1000.0));
    figures.insert(format!("{noun}s_per_sec"), json!(per_second.round() as u64));
    figures.insert("p50_ms".into(), json!(milliseconds(p50_us)));
    figures.insert("p99_ms".into(), json!(milliseconds(p99_us)));
    figures.insert(report.failed_as.into(), json!(outcome.failed));
    println!("{}", Value::Object(figures));
}

/// The platform's configuration in the benchmarks: the defaults, without the abuse limits
/// (a benchmark is thousands of requests a second from one address, by design).
pub(crate) fn bench_platform_config() -> platform::PlatformConfig {
    platform::PlatformConfig {
        rate_limiting: platform::limits::RateLimiting::Off,
        ..platform::PlatformConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drive_http_makes_every_call_once_and_counts_the_failed() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let outcome = drive_http(3, 10, move |_, number| {
            let recorder = recorder.clone();
            async move {
                recorder.lock().expect("lock").push(number);
                number % 4 != 0
            }
        })
        .await
        .expect("run");
        let mut numbers = seen.lock().expect("lock").clone();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..10).collect::<Vec<u64>>());
        assert_eq!(outcome.latencies_us.len(), 10);
        assert_eq!(outcome.failed, 3, "calls 0, 4 and 8");
    }
}
