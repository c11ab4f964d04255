//! `mileverse bench p2p`: P2P transfers per second over HTTP (issue 15).
//!
//! In one process, on loopback: the real HTTP server and platform on a SQLite store with
//! fsync on, a partner simulator, and a load generator. Not timed: `--clients` members sign
//! up, link a membership and exchange mileage for MVP. Timed: each client, as its own
//! member, sends `POST /v1/transfers {to_phone, amount: 1}` (with an `Idempotency-Key`) to
//! the next member's phone and waits for the answer before the next. Every transfer is a
//! durable ledger transfer and its record in one commit. The last line printed is one JSON
//! object with the figures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::bench::{HttpOutcome, HttpReport, drive_http, report_http};
use crate::bench_exchange::{
    Running, call, data_directory, open_platform, set_up_members, shut_down, start_servers,
};

#[derive(clap::Args, Clone, Debug)]
pub struct P2pBenchArgs {
    #[arg(long, default_value_t = 20_000)]
    transfers: u64,
    /// Concurrent HTTP clients, each its own member (one send per member at a time).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Directory for the SQLite files; a fresh temporary directory by default.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// MVP each member exchanges for before the timed part (far above what it sends).
const FUNDING_MVP: u64 = 100_000;

/// The phone `set_up_members` gave member `index`.
fn phone_of(index: usize) -> String {
    format!("+8210{:08}", 10_000_000 + index)
}

pub fn run(args: P2pBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.clients >= 2, "need two clients (members) at least");
    let (directory, _scratch) = data_directory(args.data.as_deref())?;
    println!(
        "bench p2p: {} transfers, {} clients (members), SQLite in {}",
        args.transfers,
        args.clients,
        directory.display()
    );
    let (ledger, platform, outbox) = open_platform(&directory)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        platform.start().await?;
        let running = start_servers(ledger.clone(), platform.clone(), outbox).await?;
        let members = set_up_members(&running, args.clients).await?;
        fund(&running, &members).await?;
        let tokens: Vec<String> = members.into_iter().map(|(token, _)| token).collect();
        drive(&running, &args, tokens).await
    });
    drop(runtime);
    shut_down(ledger, platform);
    let outcome = outcome?;
    report(&args, &outcome);
    Ok(if outcome.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Each member exchanges `FUNDING_MVP` mileage (1:1) through its link.
pub(crate) async fn fund(running: &Running, members: &[(String, String)]) -> anyhow::Result<()> {
    for (token, link_id) in members {
        let body = json!({"link_id": link_id, "mileage": FUNDING_MVP});
        let post = reqwest::Method::POST;
        let exchange = call(running, post, "/v1/exchanges", Some(token), body).await?;
        anyhow::ensure!(
            exchange["status"] == "completed",
            "funding did not complete: {exchange}"
        );
    }
    Ok(())
}

async fn drive(
    running: &Running,
    args: &P2pBenchArgs,
    tokens: Vec<String>,
) -> anyhow::Result<HttpOutcome> {
    let client = running.client.clone();
    let url = Arc::new(format!("{}/v1/transfers", running.base));
    let tokens = Arc::new(tokens);
    drive_http(args.clients, args.transfers, move |client_index, number| {
        let (client, url, tokens) = (client.clone(), url.clone(), tokens.clone());
        async move {
            let members = tokens.len();
            let to_phone = phone_of((client_index + 1) % members);
            let response = client
                .post(url.as_str())
                .bearer_auth(&tokens[client_index % members])
                .header("Idempotency-Key", format!("bench-{number}"))
                .json(&json!({"to_phone": to_phone, "amount": 1, "memo": "bench"}))
                .send()
                .await;
            match response {
                Ok(response) => {
                    let created = response.status() == reqwest::StatusCode::CREATED;
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    created && body["status"] == "completed"
                }
                Err(_) => false,
            }
        }
    })
    .await
}

fn report(args: &P2pBenchArgs, outcome: &HttpOutcome) {
    let report = HttpReport {
        bench: "p2p",
        noun: "transfer",
        calls: args.transfers,
        clients: args.clients,
        extra: &[("members", json!(args.clients))],
        failed_as: "failed",
        failed_means: "did not complete",
    };
    report_http(&report, outcome);
}
