//! `mileverse`: the one binary. Thin glue over the library crates.
//!
//! - `serve`: open the store (SQLite in `--data` by default, or `--database-url`), replay
//!   and check it, then serve HTTP.
//! - `verify`: replay every block and check hashes, roots, signatures and balances.
//! - `bench ledger`: measure the ledger's throughput and latency.

mod audit;
mod bench;
mod bench_authorize;
mod bench_checkout;
mod bench_exchange;
mod bench_p2p;
mod bench_settle;
mod chain_cmd;
mod demo;
mod economy;
mod options;
mod pos;
mod sim;
mod ticker_sim;
mod wallet;
mod webhook_sim;
mod witness;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use journal::replay::{ReplayOptions, replay_store};
use journal::{LedgerConfig, LedgerService};
use platform::crypto::DataKeys;
use platform::{Platform, PlatformConfig, PlatformParts};
use ports::sms::DevOutbox;

use crate::options::{ClientTlsOptions, ServerTlsOptions, StoreOptions};

#[derive(Parser)]
#[command(
    name = "mileverse",
    version,
    about = "Mileverse: one point for scattered mileage, on a verifiable ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as text, or as JSON objects one per line (for a log collector).
    /// The level is RUST_LOG's (default `info`).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "MILEVERSE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform's HTTP server.
    Serve(Box<ServeArgs>),
    /// Replay the whole journal and check every block, signature and balance.
    Verify(VerifyArgs),
    /// Measure throughput and latency.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run a partner system (airline, card issuer) speaking the partner protocol, with
    /// injectable faults, for development and tests.
    PartnerSim(sim::PartnerSimArgs),
    /// Run an exchange's public ticker (Upbit's format) with prices you set, for
    /// `serve --price-feed-url` in development and tests.
    TickerSim(ticker_sim::TickerSimArgs),
    /// Run a merchant's webhook receiver that checks checkout's signatures and keeps what
    /// arrived, for demos and tests.
    WebhookSim(webhook_sim::WebhookSimArgs),
    /// A member's Ethereum wallet, made and kept on this device (BIP-39 mnemonic).
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Ethereum: a local dev node, keys, the genesis deployment, MVC and rewards.
    #[command(subcommand)]
    Chain(chain_cmd::ChainCommand),
    /// Run a witness node: follow the ledger's blocks, replay and check them, and co-sign
    /// the checkpoints the server proposes for the Ethereum anchor.
    Witness(witness::WitnessArgs),
    /// The token economy report: MVP issued and outstanding, conversions, MVC supply and
    /// rewards, against the 30,000,000,000 MVP mark.
    Economy(economy::EconomyArgs),
    /// A point-of-sale client speaking the VAN API (signed with a terminal's secret).
    Pos(pos::PosArgs),
    /// The operators' audit log: check that no entry was removed or changed.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Print the HTTP API's OpenAPI 3.1 document (what `GET /openapi.json` serves), for
    /// generating clients without a running server.
    Openapi,
}

impl Command {
    /// Servers and nodes, which must outlive a closed pipe.
    fn is_long_running(&self) -> bool {
        matches!(
            self,
            Command::Serve(_)
                | Command::PartnerSim(_)
                | Command::TickerSim(_)
                | Command::WebhookSim(_)
                | Command::Witness(_)
        )
    }
}

fn print_openapi() -> anyhow::Result<std::process::ExitCode> {
    let document = server::document().to_pretty_json()?;
    println!("{document}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// One-shot commands end quietly when their output pipe closes (`mileverse … | head`),
/// as Unix tools do, instead of panicking in `println!`. Rust ignores SIGPIPE by default;
/// servers keep it ignored, so a client that hangs up never kills them.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start, before any thread is spawned; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreOptions,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    tls: ServerTlsOptions,
    #[command(flatten)]
    client_tls: ClientTlsOptions,
    /// A snapshot of the ledger engine after this many transfers (start replays at most
    /// about this many); 0 turns snapshots off.
    #[arg(long, default_value_t = journal::sequencer::SNAPSHOT_INTERVAL_TRANSFERS_DEFAULT)]
    snapshot_interval_transfers: u64,
    /// Bootstrap admin token: the identity `bootstrap` on `/admin` routes, for first set-up
    /// and scripts (at least 32 bytes; shorter or empty refuses to start).
    #[arg(long, env = "MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Production mode: raw ledger writes (`POST /admin/v1/ledger/...`) are off for every
    /// identity unless --allow-raw-ledger-writes.
    #[arg(long, env = "MILEVERSE_PRODUCTION")]
    production: bool,
    /// Allows raw ledger writes in production mode (for a migration, say).
    #[arg(long)]
    allow_raw_ledger_writes: bool,
    /// An operator session's lifetime from login, in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    operator_session_ttl_s: u64,
    #[command(flatten)]
    platform: PlatformOptions,
    #[command(flatten)]
    chain: ChainOptions,
    /// Also run a partner simulator on loopback and register it as the partner "Demo Air"
    /// (rate 1:1), so the exchange can be tried with one command. Its members sign in at
    /// its login page with the password `partner-pass`.
    #[arg(long)]
    demo: bool,
    /// The platform's public base URL, where partners send members back after they signed
    /// in (`<public-url>/app/partner-links/callback`); defaults to `http://` and the
    /// address listened on.
    #[arg(long, env = "MILEVERSE_PUBLIC_URL")]
    public_url: Option<String>,
}

#[derive(clap::Args)]
struct PlatformOptions {
    /// Key that seals personal data (64 hex digits); overrides --data-key.
    #[arg(
        long = "data-key-hex",
        env = "MILEVERSE_DATA_KEY",
        hide_env_values = true
    )]
    data_key_hex: Option<String>,
    /// File holding the data key; defaults to DATA/data.key (created if missing).
    #[arg(long)]
    data_key: Option<std::path::PathBuf>,
    /// SMS gateway URL (JSON POST {to, text}); without it, codes go to the dev outbox
    /// at GET /admin/v1/sms-outbox.
    #[arg(long, env = "MILEVERSE_SMS_GATEWAY_URL")]
    sms_gateway_url: Option<String>,
    /// Bearer key for the SMS gateway.
    #[arg(long, env = "MILEVERSE_SMS_GATEWAY_KEY", hide_env_values = true)]
    sms_gateway_key: Option<String>,
    /// An exchange's public ticker in Upbit's REST format (e.g. https://api.upbit.com, or
    /// `mileverse ticker-sim`) for the custodial coins' prices, asked every 10 s; without
    /// it, operators set every price (`PUT /admin/v1/prices/{asset}`).
    #[arg(long, env = "MILEVERSE_PRICE_FEED_URL")]
    price_feed_url: Option<String>,
    /// Deadline of one call to a partner's API.
    #[arg(long, default_value_t = 3000)]
    partner_timeout_ms: u64,
    /// Lifetime of a member session.
    #[arg(long, default_value_t = 86_400)]
    session_ttl_s: u64,
    /// Longest wait between two attempts to resolve an exchange the partner did not answer.
    #[arg(long, default_value_t = 30_000)]
    resolver_backoff_max_ms: u64,
    /// Abuse limits per IP address, member and terminal (docs/operators.md): `off` only for
    /// load tests, which send thousands of requests from one address.
    #[arg(long, value_enum, default_value_t = RateLimitsOption::Enforced)]
    rate_limits: RateLimitsOption,
    /// Above this many MVP leaving a wallet at once, the member's PIN is asked again.
    #[arg(long, default_value_t = platform::service::PIN_CONFIRM_ABOVE_MVP_DEFAULT)]
    pin_confirm_above_mvp: u64,
    /// How long a P2P transfer to a phone that is not a member's waits before it returns.
    #[arg(long, default_value_t = platform::transfers::HOLD_S)]
    transfer_hold_s: u64,
    /// How long a conversion quote between assets holds.
    #[arg(long, default_value_t = platform::assets::QUOTE_TTL_S)]
    asset_quote_ttl_s: u64,
    /// How long a checkout payment intent waits for the member's approval (at most a day).
    #[arg(long, default_value_t = platform::checkout::INTENT_TTL_S,
        value_parser = clap::value_parser!(u64).range(1..=platform::checkout::INTENT_TTL_S_MAX))]
    checkout_intent_ttl_s: u64,
    /// The unit of the webhook retry schedule (10 s, 1 min, … 1 day): 1000 makes it
    /// seconds; a test shrinks it.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    webhook_retry_unit_ms: u64,
    /// How often webhook delivery looks for due events.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    webhook_poll_ms: u64,
    /// How long an escrow offer stays open, and then a taken trade has to complete, before
    /// the sweep voids its locks (1 s to 30 days).
    #[arg(long, default_value_t = platform::escrow::ESCROW_TIMEOUT_S,
        value_parser = clap::value_parser!(u64).range(1..=platform::escrow::ESCROW_TIMEOUT_S_MAX))]
    escrow_timeout_s: u64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RateLimitsOption {
    Enforced,
    Off,
}

/// Ethereum: anchoring, conversions, token figures. Without `--chain-rpc` the platform
/// runs with no chain.
#[derive(clap::Args)]
struct ChainOptions {
    /// JSON-RPC endpoint of an Ethereum node (e.g. anvil's http://127.0.0.1:8545).
    #[arg(long, env = "MILEVERSE_CHAIN_RPC", requires_all = ["chain_key", "chain_deployment"])]
    chain_rpc: Option<String>,
    /// File with the platform's Ethereum private key (hex; `mileverse chain keygen`): it
    /// submits anchors and operates the conversion bridge.
    #[arg(long, env = "MILEVERSE_CHAIN_KEY")]
    chain_key: Option<std::path::PathBuf>,
    /// The deployment file written by `mileverse chain deploy`.
    #[arg(long, env = "MILEVERSE_CHAIN_DEPLOYMENT")]
    chain_deployment: Option<std::path::PathBuf>,
    /// Blocks a transaction must be buried under before it counts (1 = mined).
    #[arg(long, default_value_t = 1)]
    chain_confirmations: u64,
    /// How often the anchoring job proposes and submits checkpoints.
    #[arg(long, default_value_t = 5_000)]
    anchor_interval_ms: u64,
}

#[derive(clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    store: StoreOptions,
    #[command(flatten)]
    client_tls: ClientTlsOptions,
    /// Expected operator public key (hex); defaults to the key pinned in the store.
    #[arg(long)]
    operator_public_key: Option<String>,
    /// With `--chain-rpc`: also check every checkpoint anchored on chain against the log.
    #[command(flatten)]
    chain: witness::AnchorArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if !cli.command.is_long_running() {
        restore_default_sigpipe();
    }
    let outcome = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Verify(args) => verify(args),
        Command::Bench(command) => bench::run(command),
        Command::PartnerSim(args) => sim::run(args),
        Command::TickerSim(args) => ticker_sim::run(args),
        Command::WebhookSim(args) => webhook_sim::run(args),
        Command::Wallet(command) => wallet::run(command),
        Command::Chain(command) => chain_cmd::run(command),
        Command::Witness(args) => witness::run(args),
        Command::Economy(args) => economy::run(args),
        Command::Pos(args) => pos::run(args),
        Command::Audit(command) => audit::run(command),
        Command::Openapi => print_openapi(),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at RUST_LOG's level (default `info`), in `format`. Each line inside a
/// request carries the request's span (its request id, method and route).
fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        // Colours only for a person at a terminal: a file or a collector would get escape
        // codes in every line.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Before anything is opened: a weak bootstrap token must never start a server.
    check_bootstrap_token(args.admin_token.as_deref())?;
    // The metrics recorder before the platform's jobs start calling partners and the chain.
    server::observability::exporter();
    // Every outbound connection of the process (PostgreSQL, partners, SMS, the chain node)
    // trusts what this one configuration trusts.
    let client_tls = args.client_tls.client_tls()?;
    let server_tls = args.tls.server_tls()?;
    let store = args.store.open_store(&client_tls)?;
    let key = args.store.operator_key()?;
    let config = LedgerConfig {
        snapshot_interval_transfers: args.snapshot_interval_transfers,
        ..LedgerConfig::default()
    };
    let ledger = LedgerService::open(store, key, config).context(
        "the store does not check out; it was not modified (run `mileverse verify` for details)",
    )?;
    let ledger = Arc::new(ledger);
    let (parts, outbox) = platform_parts(&args, &client_tls)?;
    let operators = platform::operators::Operators::open(
        ledger.clone(),
        parts.keys.clone(),
        platform::operators::OperatorsConfig {
            session_ttl_s: args.operator_session_ttl_s,
            production: args.production,
            raw_ledger_writes: args.allow_raw_ledger_writes,
        },
        args.admin_token.as_deref(),
    )?;
    // A second connection: followers read durable blocks without waiting for the writer.
    let feed = journal::feed::BlockFeed::start(args.store.open_store(&client_tls)?);
    // Bound before the platform opens, so the public URL's default names the real port.
    let listener = std::net::TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let public_url = public_url(args.public_url.as_deref(), address, server_tls.as_ref())?;
    let config = PlatformConfig {
        session_ttl_s: args.platform.session_ttl_s,
        resolver_backoff_max_ms: args.platform.resolver_backoff_max_ms,
        anchor_interval_ms: args.chain.anchor_interval_ms,
        public_url,
        pin_confirm_above_mvp: args.platform.pin_confirm_above_mvp,
        transfer_hold_s: args.platform.transfer_hold_s,
        asset_quote_ttl_s: args.platform.asset_quote_ttl_s,
        checkout: platform::checkout::CheckoutConfig {
            intent_ttl_s: args.platform.checkout_intent_ttl_s,
            retry_unit_ms: args.platform.webhook_retry_unit_ms,
            delivery_poll_ms: args.platform.webhook_poll_ms,
        },
        escrow_timeout_s: args.platform.escrow_timeout_s,
        rate_limiting: match args.platform.rate_limits {
            RateLimitsOption::Enforced => platform::limits::RateLimiting::Enforced,
            RateLimitsOption::Off => platform::limits::RateLimiting::Off,
        },
        ..PlatformConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut parts = parts;
    parts.chain = runtime.block_on(chain_gateway(&args.chain, &client_tls))?;
    // Reading the records is blocking IO (and the PostgreSQL client runs its own runtime),
    // so it happens before this thread enters the async runtime.
    let platform = Platform::open(config, ledger.clone(), parts)
        .context("cannot load the platform's records")?;
    args.store.retire_legacy_records()?;
    let mut state = server::AppState::ledger_only(ledger.clone(), None)?;
    state.operators = Arc::new(operators);
    state.platform = Some(platform.clone());
    state.outbox = outbox;
    state.feed = Some(feed.clone());
    let start = ServeStart {
        demo: args.demo,
        bootstrap: args.admin_token.is_some(),
        store: args.store.describe(),
        data: args.store.data.clone(),
    };
    runtime.block_on(async {
        run_server(listener, server_tls, state, start).await?;
        // A clean stop keeps the counters counted since their last write.
        platform
            .close()
            .await
            .context("cannot write the rate counters")
    })?;
    drop(runtime);
    drop(platform);
    feed.shutdown();
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.shutdown();
    }
    Ok(ExitCode::SUCCESS)
}

/// The platform's public base URL: `--public-url` (an `http(s)://` URL, its trailing `/`
/// dropped), else the scheme served and the address listened on.
fn public_url(
    given: Option<&str>,
    address: std::net::SocketAddr,
    tls: Option<&tls::ServerTls>,
) -> anyhow::Result<String> {
    let Some(given) = given else {
        return Ok(format!("{}://{address}", options::scheme(tls)));
    };
    let url = given.trim_end_matches('/');
    let usable = (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains(['?', '#'])
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    anyhow::ensure!(
        usable,
        "--public-url must be an http:// or https:// URL without query or fragment, not {given:?}"
    );
    Ok(url.to_string())
}

/// Refuses a bootstrap token that is set but empty or shorter than the minimum.
fn check_bootstrap_token(token: Option<&str>) -> anyhow::Result<()> {
    let minimum = platform::operators::BOOTSTRAP_TOKEN_BYTES_MIN;
    match token {
        Some(token) if token.len() < minimum => anyhow::bail!(
            "MILEVERSE_BOOTSTRAP_ADMIN_TOKEN must be at least {minimum} bytes (it is {}); \
             make one with `openssl rand -hex 32`, or unset it",
            token.len()
        ),
        _ => Ok(()),
    }
}

/// What `serve` says and starts besides the server.
struct ServeStart {
    /// Run a partner simulator as "Demo Air".
    demo: bool,
    /// A bootstrap token is set.
    bootstrap: bool,
    /// Where the data lives ([`options::StoreOptions::describe`]).
    store: String,
    /// The data directory (keys, and the demo's operators).
    data: std::path::PathBuf,
}

/// Starts the platform's jobs and the audit log, and serves on `listener` (HTTPS with
/// `tls`) until a signal.
async fn run_server(
    listener: std::net::TcpListener,
    tls: Option<tls::ServerTls>,
    mut state: server::AppState,
    start: ServeStart,
) -> anyhow::Result<()> {
    let platform = state.platform.clone().expect("serve runs the platform");
    platform
        .start()
        .await
        .context("cannot start the platform")?;
    let audit = platform::audit::AuditLog::open(state.ledger.clone()).await?;
    state.audit = Some(Arc::new(audit));
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let address = listener.local_addr()?;
    let scheme = options::scheme(tls.as_ref());
    println!("mileverse listening on {scheme}://{address}");
    // Not `println!` (see `demo::say`): the address line is the one a supervisor
    // reads; these are for people.
    let about = format!(
        "app: {scheme}://{address}/app (members) and {scheme}://{address}/till (a till)\n\
         data: {}\nAPI: {scheme}://{address}/openapi.json (docs/api.md)\n",
        start.store
    );
    let _ = std::io::Write::write_all(&mut std::io::stdout(), about.as_bytes());
    let base_url = format!("{scheme}://{address}");
    let demo = if start.demo {
        Some(demo::seed(&platform, &state.operators, &start.data, &base_url).await?)
    } else {
        None
    };
    if !start.bootstrap {
        tracing::warn!(
            "MILEVERSE_BOOTSTRAP_ADMIN_TOKEN is not set: only operators' sessions and keys open \
             the admin routes"
        );
    }
    if let Some(tls) = &tls {
        options::reload_on_hangup(tls.clone());
    }
    let pages = web::WebConfig {
        // The code "sent" shows in the page on a demo server without an SMS gateway only.
        demo_outbox: if start.demo {
            state.outbox.clone()
        } else {
            None
        },
        demo_operators: demo
            .as_ref()
            .map_or_else(Vec::new, |demo| demo.operators.clone()),
        // The shop at /shop, on a demo server only.
        demo_shop: demo.and_then(|demo| demo.shop),
    };
    let app = web::router(server::router(state), pages);
    server::serve_app(listener, tls, app, shutdown_signal()).await?;
    Ok(())
}

/// The record store, data key and gateways of `serve`; the dev outbox when no SMS gateway
/// is configured.
fn platform_parts(
    args: &ServeArgs,
    client_tls: &tls::ClientTls,
) -> anyhow::Result<(PlatformParts, Option<Arc<DevOutbox>>)> {
    let options = &args.platform;
    let master = match &options.data_key_hex {
        Some(text) => journal::keys::parse_secret(text.trim())
            .context("MILEVERSE_DATA_KEY must be 64 hex digits")?,
        None => {
            let path = options
                .data_key
                .clone()
                .unwrap_or_else(|| args.store.data.join(options::DATA_KEY_FILE_NAME));
            journal::keys::load_or_create_secret(&path)?
        }
    };
    let partner_config = gateways::partner::PartnerClientConfig {
        timeout_ms: options.partner_timeout_ms,
        connections_per_host_max: 256,
    };
    let partner_gateway = gateways::partner::HttpPartnerGateway::new(partner_config, client_tls);
    let (sms, outbox): (Arc<dyn ports::gateway::SmsGateway>, _) = match &options.sms_gateway_url {
        Some(url) => {
            let sms_config = gateways::sms::SmsGatewayConfig {
                url: url.clone(),
                api_key: options.sms_gateway_key.clone(),
                timeout_ms: 5000,
            };
            let gateway = gateways::sms::HttpSmsGateway::new(sms_config, client_tls);
            (Arc::new(gateway), None)
        }
        None => {
            let outbox = Arc::new(DevOutbox::new());
            (outbox.clone(), Some(outbox))
        }
    };
    let parts = PlatformParts {
        legacy_records: args.store.legacy_records()?,
        keys: DataKeys::from_master(&master),
        partner_gateway: Arc::new(partner_gateway),
        sms,
        chain: None,
        price_feed: price_feed(options.price_feed_url.as_deref(), client_tls)?,
        webhooks: Arc::new(gateways::webhook::HttpWebhookSender::new(
            client_tls,
            gateways::webhook::DELIVERY_TIMEOUT_MS,
        )),
    };
    Ok((parts, outbox))
}

/// The price feed `--price-feed-url` names, if any.
fn price_feed(
    url: Option<&str>,
    client_tls: &tls::ClientTls,
) -> anyhow::Result<Option<Arc<dyn ports::prices::PriceFeed>>> {
    let Some(url) = url else {
        return Ok(None);
    };
    let config = gateways::ticker::TickerConfig {
        base_url: url.to_string(),
        ..gateways::ticker::TickerConfig::default()
    };
    let ticker = gateways::ticker::UpbitTicker::new(config, client_tls)
        .map_err(|error| anyhow::anyhow!("--price-feed-url: {}", error.0))?;
    Ok(Some(Arc::new(ticker)))
}

/// The Ethereum gateway `--chain-rpc` asks for, after checking the node serves the
/// deployment's chain.
async fn chain_gateway(
    options: &ChainOptions,
    client_tls: &tls::ClientTls,
) -> anyhow::Result<Option<Arc<dyn ports::chain::ChainGateway>>> {
    let (Some(rpc_url), Some(key_path), Some(deployment_path)) = (
        &options.chain_rpc,
        &options.chain_key,
        &options.chain_deployment,
    ) else {
        return Ok(None);
    };
    let key_text = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read the chain key {}", key_path.display()))?;
    let key = chain::signer(key_text.trim()).context("the chain key file holds no valid key")?;
    let deployment = chain::deploy::DeploymentFile::read(deployment_path)
        .with_context(|| format!("cannot read the deployment {}", deployment_path.display()))?;
    let config = chain::gateway::GatewayConfig {
        rpc_url: rpc_url.clone(),
        tls: client_tls.clone(),
        key,
        deployment,
        confirmations: options.chain_confirmations,
    };
    let gateway = chain::gateway::EthereumGateway::connect(config)
        .await
        .with_context(|| format!("cannot use the chain at {rpc_url}"))?;
    tracing::info!(%rpc_url, "chain configured: anchoring and conversions on");
    Ok(Some(Arc::new(gateway)))
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
    let client_tls = args.client_tls.client_tls()?;
    let mut store = args.store.open_existing_store(&client_tls)?;
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
            ..ReplayOptions::default()
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
            witness::verify_anchored(&args.chain, &client_tls, store.as_mut(), &replayed)
        }
        Err(error) => {
            println!("verify failed: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The operator key of a bench's data directory (`DIR/operator.key`, made on first use), so
/// `bench restart` can open what `bench ledger --data DIR` built.
fn keys_for_bench(directory: &std::path::Path) -> anyhow::Result<ledger::checkpoint::OperatorKey> {
    std::fs::create_dir_all(directory)?;
    let seed = journal::keys::load_or_create_secret(&directory.join("operator.key"))?;
    Ok(ledger::checkpoint::OperatorKey::from_seed(seed))
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn the_public_url_defaults_to_the_listen_address() {
        let address: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            public_url(None, address, None).unwrap(),
            "http://127.0.0.1:8080"
        );
        let given = Some("https://mileverse.example/");
        assert_eq!(
            public_url(given, address, None).unwrap(),
            "https://mileverse.example"
        );
        assert!(public_url(Some("ftp://x"), address, None).is_err());
        assert!(public_url(Some("https://x/?a=b"), address, None).is_err());
    }
}
