//! `mileverse`: the one binary. Thin glue over the library crates.
//!
//! - `serve`: open the store (SQLite in `--data` by default, or `--database-url`), replay
//!   and check it, then serve HTTP.
//! - `verify`: replay every block and check hashes, roots, signatures and balances.
//! - `bench ledger`: measure the ledger's throughput and latency.

mod bench;
mod options;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use platform::replay::{ReplayOptions, replay_store};
use platform::{LedgerConfig, LedgerService};

use crate::options::StoreOptions;

#[derive(Parser)]
#[command(
    name = "mileverse",
    version,
    about = "Mileverse: one point for scattered mileage, on a verifiable ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform's HTTP server.
    Serve(ServeArgs),
    /// Replay the whole journal and check every block, signature and balance.
    Verify(VerifyArgs),
    /// Measure throughput and latency.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreOptions,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Token that grants admin access to `/admin` routes.
    #[arg(long, env = "MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    store: StoreOptions,
    /// Expected operator public key (hex); defaults to the key pinned in the store.
    #[arg(long)]
    operator_public_key: Option<String>,
}

fn main() -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Verify(args) => verify(args),
        Command::Bench(command) => bench::run(command),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open_store()?;
    let key = args.store.operator_key()?;
    let ledger = LedgerService::open(store, key, LedgerConfig::default()).context(
        "the store does not check out; it was not modified (run `mileverse verify` for details)",
    )?;
    let ledger = Arc::new(ledger);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        println!("mileverse listening on http://{address}");
        if args.admin_token.is_none() {
            tracing::warn!("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN is not set: admin routes are closed");
        }
        let state = server::AppState {
            ledger: ledger.clone(),
            admin_token: args.admin_token.map(Into::into),
        };
        server::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    drop(runtime);
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.shutdown();
    }
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("install SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut store = args.store.open_existing_store()?;
    let meta = store
        .meta()?
        .context("the store is empty: no ledger has been created there")?;
    let public_key = match &args.operator_public_key {
        Some(text) => options::parse_public_key(text)?,
        None => meta.operator_public_key,
    };
    if public_key != meta.operator_public_key {
        println!(
            "verify failed: the store pins operator key {}",
            hex::encode(meta.operator_public_key)
        );
        return Ok(ExitCode::FAILURE);
    }
    match replay_store(
        store.as_mut(),
        ReplayOptions {
            operator_public_key: Some(public_key),
        },
    ) {
        Ok(replayed) => {
            let (root, head) = replayed
                .head
                .map_or(([0; 32], [0; 32]), |(header, hash, _)| {
                    (header.merkle_root, hash)
                });
            println!(
                "ok: {} blocks, tree size {}, {} accounts, root {}, head {}",
                replayed.block_count,
                replayed.log.size(),
                replayed.engine.account_count(),
                hex::encode(root),
                hex::encode(head)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("verify failed: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
