//! `mileverse bench exchange`: mileage exchanges per second through the whole platform.
//!
//! In one process, on loopback: the real HTTP server (`server`, `platform`, the sequencer on a
//! SQLite store with fsync on, and the record store beside it), a partner simulator speaking
//! the signed partner protocol (no faults, answering in well under 1 ms), and a load
//! generator: `--members` members signed up and linked through the API, then `--clients`
//! concurrent HTTP clients each sending `POST /v1/exchanges` (with an `Idempotency-Key`) and
//! waiting for the answer before the next. Every exchange is a durable record, a signed
//! partner debit, a ledger transfer and a durable completion. Latency is per exchange.
//! The last line printed is one JSON object with the figures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::bench::{
    HttpOutcome, HttpReport, ScratchDirectory, drive_http, fresh_schema_name, report_http,
};

pub(crate) const ADMIN_TOKEN: &str = "bench-admin-token-of-at-least-32-bytes";
const PARTNER_SECRET: &str = "bench-partner-secret-0123456789";

#[derive(clap::Args, Clone, Debug)]
pub struct ExchangeBenchArgs {
    #[arg(long, default_value_t = 20_000)]
    exchanges: u64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Members (each signs up, logs in and links a membership first; not timed).
    #[arg(long, default_value_t = 64)]
    members: usize,
    /// Directory for the SQLite files; a fresh temporary directory by default.
    #[arg(long)]
    data: Option<PathBuf>,
}

pub(crate) struct Running {
    pub(crate) base: String,
    pub(crate) sim_base: String,
    pub(crate) client: reqwest::Client,
}

pub fn run(args: ExchangeBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.clients >= 1 && args.members >= 1,
        "need a client and a member"
    );
    let (directory, _scratch) = data_directory(args.data.as_deref())?;
    println!(
        "bench exchange: {} exchanges, {} clients, {} members, SQLite in {}",
        args.exchanges,
        args.clients,
        args.members,
        directory.display()
    );
    let (ledger, platform, outbox) = open_platform(&directory)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        platform.start().await?;
        let running = start_servers(ledger.clone(), platform.clone(), outbox).await?;
        let tokens_and_links = set_up_members(&running, args.members).await?;
        drive(&running, &args, &tokens_and_links).await
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

/// The directory for the bench's SQLite files: `data`, or a fresh temporary one that is
/// removed when the returned guard drops.
pub(crate) fn data_directory(
    data: Option<&std::path::Path>,
) -> anyhow::Result<(PathBuf, Option<ScratchDirectory>)> {
    let (directory, scratch) = match data {
        Some(directory) => (directory.to_path_buf(), None),
        None => {
            let directory = std::env::temp_dir().join(fresh_schema_name());
            (directory.clone(), Some(ScratchDirectory(directory)))
        }
    };
    std::fs::create_dir_all(&directory)?;
    Ok((directory, scratch))
}

/// Drops the platform, then stops the ledger (which waits for its last block).
pub(crate) fn shut_down(ledger: Arc<journal::LedgerService>, platform: Arc<platform::Platform>) {
    drop(platform);
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.shutdown();
    }
}

pub(crate) type Opened = (
    Arc<journal::LedgerService>,
    Arc<platform::Platform>,
    Arc<ports::sms::DevOutbox>,
);

pub(crate) fn open_platform(directory: &std::path::Path) -> anyhow::Result<Opened> {
    let store = store::sqlite::SqliteStore::open(&directory.join("ledger.db"))?;
    let key = ledger::checkpoint::OperatorKey::from_seed(rand::random());
    let ledger = Arc::new(journal::LedgerService::open(
        Box::new(store),
        key,
        journal::LedgerConfig::default(),
    )?);
    let outbox = Arc::new(ports::sms::DevOutbox::new());
    let config = gateways::partner::PartnerClientConfig {
        timeout_ms: 5000,
        connections_per_host_max: 256,
    };
    // The bench's partner simulator is its own, plain HTTP on loopback.
    let gateway = gateways::partner::HttpPartnerGateway::new(config, &tls::ClientTls::system());
    let parts = platform::PlatformParts {
        legacy_records: None,
        keys: platform::crypto::DataKeys::from_master(&rand::random()),
        partner_gateway: Arc::new(gateway),
        sms: outbox.clone(),
        chain: None,
        price_feed: None,
        webhooks: std::sync::Arc::new(gateways::webhook::HttpWebhookSender::new(
            &tls::ClientTls::system(),
            gateways::webhook::DELIVERY_TIMEOUT_MS,
        )),
    };
    let platform =
        platform::Platform::open(crate::bench::bench_platform_config(), ledger.clone(), parts)?;
    Ok((ledger, platform, outbox))
}

pub(crate) async fn start_servers(
    ledger: Arc<journal::LedgerService>,
    platform: Arc<platform::Platform>,
    outbox: Arc<ports::sms::DevOutbox>,
) -> anyhow::Result<Running> {
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_base = format!("http://{}", sim_listener.local_addr()?);
    let sim_config = gateways::sim::SimConfig::new(PARTNER_SECRET.as_bytes().to_vec());
    tokio::spawn(gateways::sim::serve_sim(
        sim_listener,
        sim_config,
        None,
        std::future::pending(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut state = server::AppState::ledger_only(ledger, Some(ADMIN_TOKEN))?;
    state.platform = Some(platform);
    state.outbox = Some(outbox);
    tokio::spawn(server::serve(listener, None, state, std::future::pending()));
    // Both servers are this process's own, plain HTTP on loopback.
    let client = tls::ClientTls::system()
        .reqwest_builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()?;
    Ok(Running {
        base,
        sim_base,
        client,
    })
}

pub(crate) async fn call(
    running: &Running,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = running
        .client
        .request(method, format!("{}{path}", running.base))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{path} answered {status}: {value}");
    Ok(value)
}

pub(crate) fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no {field} in {value}"))
}

/// Registers the partner, then signs up, logs in and links each member: (token, link id).
pub(crate) async fn set_up_members(
    running: &Running,
    members: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let partner = call(
        running,
        reqwest::Method::POST,
        "/admin/v1/partners",
        Some(ADMIN_TOKEN),
        json!({
            "name": "Bench Air", "rate_num": 1, "rate_den": 1,
            "api_base_url": running.sim_base, "secret": PARTNER_SECRET,
            "daily_limit": 1_000_000_000u64, "monthly_limit": 1_000_000_000u64,
        }),
    )
    .await?;
    let partner_id = text(&partner, "partner_id")?;
    let mut out = Vec::with_capacity(members);
    for index in 0..members {
        let phone = format!("+8210{:08}", 10_000_000 + index);
        let verification = call(
            running,
            reqwest::Method::POST,
            "/v1/verifications",
            None,
            json!({"phone": phone}),
        )
        .await?;
        let outbox = running
            .client
            .get(format!(
                "{}/admin/v1/sms-outbox?phone={}",
                running.base,
                phone.replace('+', "%2B")
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .json::<Value>()
            .await?;
        let message = outbox["messages"][0]["text"].as_str().context("no SMS")?;
        let code = message.rsplit(' ').next().unwrap_or_default();
        let body = json!({"verification_id": text(&verification, "verification_id")?, "code": code, "name": format!("Bench {index}"), "pin": "135790"});
        let member = call(running, reqwest::Method::POST, "/v1/members", None, body).await?;
        let device_token = text(&member, "device_token")?;
        let session = call(
            running,
            reqwest::Method::POST,
            "/v1/sessions",
            None,
            json!({"phone": phone, "pin": "135790", "device_token": device_token}),
        )
        .await?;
        let token = text(&session, "token")?;
        let link_id =
            link_with_proof(running, &token, &partner_id, &format!("BENCH-{index}")).await?;
        out.push((token, link_id));
    }
    Ok(out)
}

/// Links a membership at the simulator the way a member does: asks for the link, signs in
/// at the partner's login page with the simulator's default password, and sends the proof
/// back. Answers the active link's id.
pub(crate) async fn link_with_proof(
    running: &Running,
    token: &str,
    partner_id: &str,
    member_ref: &str,
) -> anyhow::Result<String> {
    let body = json!({"partner_id": partner_id, "partner_member_ref": member_ref});
    let post = reqwest::Method::POST;
    let attempt = call(
        running,
        post.clone(),
        "/v1/me/partner-links",
        Some(token),
        body,
    )
    .await?;
    let link_id = text(&attempt, "link_id")?;
    let authorize_url = text(&attempt, "authorize_url")?;
    let browser = gateways::sim::browser::client();
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    let callback = gateways::sim::browser::sign_in(&browser, &authorize_url, member_ref, password)
        .await
        .context("sign in at the partner simulator")?;
    let (Some(code), Some(state)) = (callback.code, callback.state) else {
        anyhow::bail!("the partner sent no code back: {}", callback.location);
    };
    let path = format!("/v1/me/partner-links/{link_id}/proof");
    let proven = call(
        running,
        post,
        &path,
        Some(token),
        json!({"state": state, "code": code}),
    )
    .await?;
    anyhow::ensure!(
        proven["status"] == "active",
        "the link is not active: {proven}"
    );
    Ok(link_id)
}

async fn drive(
    running: &Running,
    args: &ExchangeBenchArgs,
    members: &[(String, String)],
) -> anyhow::Result<HttpOutcome> {
    let client = running.client.clone();
    let url = Arc::new(format!("{}/v1/exchanges", running.base));
    let members = Arc::new(members.to_vec());
    drive_http(args.clients, args.exchanges, move |client_index, number| {
        let (client, url, members) = (client.clone(), url.clone(), members.clone());
        async move {
            let (token, link_id) = &members[(number as usize + client_index) % members.len()];
            let response = client
                .post(url.as_str())
                .bearer_auth(token)
                .header("Idempotency-Key", format!("bench-{number}"))
                .json(&json!({"link_id": link_id, "mileage": 10}))
                .send()
                .await;
            match response {
                Ok(response) => {
                    let ok = response.status().is_success();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    ok && body["status"] == "completed"
                }
                Err(_) => false,
            }
        }
    })
    .await
}

fn report(args: &ExchangeBenchArgs, outcome: &HttpOutcome) {
    let report = HttpReport {
        bench: "exchange",
        noun: "exchange",
        calls: args.exchanges,
        clients: args.clients,
        extra: &[("members", json!(args.members))],
        failed_as: "failed",
        failed_means: "did not complete",
    };
    report_http(&report, outcome);
}
