//! `mileverse bench checkout`: checkout approvals per second over HTTP (issue 15).
//!
//! In one process, on loopback: the real HTTP server and platform on a SQLite store with
//! fsync on, a partner simulator, and a load generator. Not timed: `--clients` members sign
//! up and exchange mileage for MVP, a merchant gets a terminal, and the shop's payment
//! intents (1 MVP each, captured on approval) are created. Timed: each client, as its own
//! member, approves its next intent with `POST /v1/checkout/intents/{id}/approval` and
//! waits for the answer before the next. Every approval is one commit: the payment's ledger
//! transfer, the authorization's rows, the intent approved and the merchant's webhook
//! event. The last line printed is one JSON object with the figures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use platform::checkout::IntentRequest;
use platform::merchants::NewMerchant;
use serde_json::{Value, json};

use crate::bench::{HttpOutcome, HttpReport, drive_http, report_http};
use crate::bench_exchange::{
    data_directory, open_platform, set_up_members, shut_down, start_servers,
};

#[derive(clap::Args, Clone, Debug)]
pub struct CheckoutBenchArgs {
    #[arg(long, default_value_t = 20_000)]
    approvals: u64,
    /// Concurrent HTTP clients, each its own member.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Directory for the SQLite files; a fresh temporary directory by default.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Intents created at once while setting up.
const CREATE_CONCURRENCY: usize = 256;

pub fn run(args: CheckoutBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.clients >= 1, "need one client (member) at least");
    let (directory, _scratch) = data_directory(args.data.as_deref())?;
    println!(
        "bench checkout: {} approvals, {} clients (members), SQLite in {}",
        args.approvals,
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
        crate::bench_p2p::fund(&running, &members).await?;
        let intents = create_intents(&platform, args.approvals).await?;
        let tokens: Vec<String> = members.into_iter().map(|(token, _)| token).collect();
        drive(&running, &args, tokens, intents).await
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

/// A shop with a terminal, and `count` intents of 1 MVP, captured on approval.
async fn create_intents(
    platform: &Arc<platform::Platform>,
    count: u64,
) -> anyhow::Result<Vec<u128>> {
    let merchant = NewMerchant {
        name: "Bench shop".into(),
        brand: "Bench".into(),
        fee_bps: 20,
    };
    let merchant_id = platform.create_merchant(merchant).await?;
    let terminal_id = platform.create_terminal(merchant_id).await?.terminal_id;
    let mut intents = Vec::new();
    let numbers: Vec<u64> = (0..count).collect();
    for chunk in numbers.chunks(CREATE_CONCURRENCY) {
        let created = chunk.iter().map(|number| {
            let request = IntentRequest {
                order_id: format!("bench-{number}"),
                amount: 1,
                return_url: "https://shop.example/done".into(),
                description: String::new(),
                capture_manual: false,
            };
            platform.create_intent(terminal_id, request)
        });
        for intent in futures_util::future::join_all(created).await {
            intents.push(intent?.row.id);
        }
    }
    Ok(intents)
}

async fn drive(
    running: &crate::bench_exchange::Running,
    args: &CheckoutBenchArgs,
    tokens: Vec<String>,
    intents: Vec<u128>,
) -> anyhow::Result<HttpOutcome> {
    let client = running.client.clone();
    let base = Arc::new(running.base.clone());
    let tokens = Arc::new(tokens);
    let intents = Arc::new(intents);
    drive_http(args.clients, args.approvals, move |client_index, number| {
        let (client, base, tokens, intents) = (
            client.clone(),
            base.clone(),
            tokens.clone(),
            intents.clone(),
        );
        async move {
            let index = usize::try_from(number).expect("an intent per approval");
            let url = format!("{base}/v1/checkout/intents/{}/approval", intents[index]);
            let response = client
                .post(url)
                .bearer_auth(&tokens[client_index % tokens.len()])
                .json(&json!({}))
                .send()
                .await;
            match response {
                Ok(response) => {
                    let ok = response.status() == reqwest::StatusCode::OK;
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    ok && body["status"] == "succeeded"
                }
                Err(_) => false,
            }
        }
    })
    .await
}

fn report(args: &CheckoutBenchArgs, outcome: &HttpOutcome) {
    let report = HttpReport {
        bench: "checkout",
        noun: "approval",
        calls: args.approvals,
        clients: args.clients,
        extra: &[("members", json!(args.clients))],
        failed_as: "failed",
        failed_means: "did not succeed",
    };
    report_http(&report, outcome);
}
