//! `mileverse bench settle`: a settlement run over any number of payments.
//!
//! Seeds a data directory (the layout `serve` reads: `ledger.db`, `operator.key`,
//! `data.key`) with `--merchants` merchants and `--authorizations` captured payments
//! written straight into the payments tables (a tenth of them refunded by a tenth), each
//! merchant's payable funded in the ledger with what its payments leave it, and with
//! `--members` members (rows in the members tables, each with its wallet account in the
//! ledger; the payments spread over them); then (unless
//! `--seed-only`) runs the settlement of everything up to a minute ago and checks its lines
//! against the seeded sums. Prints the seeded sums, the run's time and resident memory;
//! the last line is one JSON object. The settlement crash test seeds with this command and
//! settles through `serve`, killed in the middle.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ledger::types::{Account, AccountId, Transfer, TransferId};
use platform::chart;
use platform::merchants::NewMerchant;
use serde_json::json;
use store::tables::RowRef;
use store::tables::payments::{
    AuthorizationRow, AuthorizationStatus, CancelKind, CancelRow, CancelStatus,
};

use crate::options::{DATA_KEY_FILE_NAME, StoreOptions};

/// Rows handed to the ledger per request (its limit).
const ROWS_PER_REQUEST: usize = journal::sequencer::ROWS_PER_REQUEST_MAX;
/// Requests in flight while seeding.
const SEED_REQUESTS_IN_FLIGHT: usize = 16;
/// The account the seeded payables are funded from (a bench account of its own).
const SEED_FUNDING_ACCOUNT: u128 = 0x5eed;
/// Fee of every seeded merchant.
const SEED_FEE_BPS: u32 = 250;

#[derive(clap::Args, Clone, Debug)]
pub struct SettleBenchArgs {
    #[command(flatten)]
    store: StoreOptions,
    #[arg(long, default_value_t = 1_000_000)]
    authorizations: u64,
    #[arg(long, default_value_t = 100)]
    merchants: u64,
    /// Members to seed first (rows and wallets); the payments spread over them.
    #[arg(long, default_value_t = 0)]
    members: u64,
    /// Only seed (for `serve` to settle).
    #[arg(long)]
    seed_only: bool,
}

pub fn run(args: SettleBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.merchants >= 1, "need a merchant");
    anyhow::ensure!(
        args.store.database_url.is_none(),
        "bench settle runs on SQLite"
    );
    // SQLite (checked above): no connection to make.
    let store = args.store.open_store(&tls::ClientTls::system())?;
    let key = args.store.operator_key()?;
    let ledger = Arc::new(journal::LedgerService::open(
        store,
        key,
        journal::LedgerConfig::default(),
    )?);
    let master = journal::keys::load_or_create_secret(&args.store.data.join(DATA_KEY_FILE_NAME))?;
    let parts = platform::PlatformParts {
        legacy_records: None,
        keys: platform::crypto::DataKeys::from_master(&master),
        // Settlement calls no partner.
        partner_gateway: Arc::new(gateways::partner::HttpPartnerGateway::new(
            gateways::partner::PartnerClientConfig {
                timeout_ms: 5000,
                connections_per_host_max: 4,
            },
            &tls::ClientTls::system(),
        )),
        sms: Arc::new(ports::sms::DevOutbox::new()),
        chain: None,
        price_feed: None,
        webhooks: std::sync::Arc::new(gateways::webhook::HttpWebhookSender::new(
            &tls::ClientTls::system(),
            gateways::webhook::DELIVERY_TIMEOUT_MS,
        )),
    };
    let platform =
        platform::Platform::open(crate::bench::bench_platform_config(), ledger.clone(), parts)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        platform.start().await?;
        let seeded = seed(&ledger, &platform, &args).await?;
        println!(
            "bench settle: seeded {} payments of {} merchants: captured {}, refunded {}",
            args.authorizations, args.merchants, seeded.captured, seeded.refunded
        );
        let mut figures = json!({
            "authorizations": args.authorizations,
            "merchants": args.merchants,
            "until_s": seeded.until_s,
            "captured": seeded.captured.to_string(),
            "refunded": seeded.refunded.to_string(),
        });
        if !args.seed_only {
            settle(&platform, &seeded, &mut figures).await?;
        }
        anyhow::Ok(figures)
    });
    drop(runtime);
    crate::bench_exchange::shut_down(ledger, platform);
    println!("{}", outcome?);
    Ok(ExitCode::SUCCESS)
}

struct Seeded {
    until_s: u64,
    captured: u128,
    refunded: u128,
}

async fn seed(
    ledger: &Arc<journal::LedgerService>,
    platform: &Arc<platform::Platform>,
    args: &SettleBenchArgs,
) -> anyhow::Result<Seeded> {
    let mut merchants = Vec::new();
    for index in 0..args.merchants {
        let merchant = NewMerchant {
            name: format!("Seeded store {index}"),
            brand: "Seeded".into(),
            fee_bps: SEED_FEE_BPS,
        };
        merchants.push(platform.create_merchant(merchant).await?);
    }
    let funding = Account {
        id: AccountId(SEED_FUNDING_ACCOUNT),
        ledger: chart::LEDGER_MVP,
        code: 999,
        ..Account::default()
    };
    ledger.create_accounts(vec![funding]).await?;
    seed_members(ledger, args.members).await?;
    let now = ports::time::now_s();
    let until_s = now - 60;
    let mut owed = vec![0u128; merchants.len()];
    let (mut captured, mut refunded) = (0u128, 0u128);
    let mut rows: Vec<RowRef> = Vec::with_capacity(ROWS_PER_REQUEST);
    let mut in_flight = tokio::task::JoinSet::new();
    for index in 0..args.authorizations {
        let merchant = usize::try_from(index % args.merchants).context("merchant index")?;
        let amount = 1_000 + (index * 7_919) % 49_000;
        let at_s = until_s - 3_600 + index % 3_600;
        let id = (u128::from(at_s) << 64) | u128::from(index) | 1 << 60;
        let mut row = captured_row(id, merchants[merchant], amount, at_s, index);
        if args.members > 0 {
            row.member_id = seeded_member_id(index % args.members);
        }
        rows.push(Arc::new(row));
        captured += u128::from(amount);
        owed[merchant] += u128::from(amount);
        if index % 10 == 0 {
            let refund = amount / 10;
            rows.push(Arc::new(refund_row(id, refund, at_s)));
            refunded += u128::from(refund);
            owed[merchant] -= u128::from(refund);
        }
        if rows.len() + 2 > ROWS_PER_REQUEST {
            send(ledger, &mut in_flight, std::mem::take(&mut rows)).await?;
        }
    }
    send(ledger, &mut in_flight, rows).await?;
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    fund(ledger, &merchants, &owed).await?;
    Ok(Seeded {
        until_s,
        captured,
        refunded,
    })
}

/// The id of the `index`th seeded member.
fn seeded_member_id(index: u64) -> u128 {
    (0x5eed_u128 << 96) | u128::from(index)
}

/// Seeds `count` members: each a wallet account and a member row, as a sign-up leaves them
/// (sealed fields and a PIN hash of realistic sizes; they open with no key).
async fn seed_members(ledger: &Arc<journal::LedgerService>, count: u64) -> anyhow::Result<()> {
    use store::tables::members::{MemberRow, MemberStatus, MemberWrite};
    let now = ports::time::now_s();
    let mut in_flight = tokio::task::JoinSet::new();
    let batch = u64::try_from(journal::sequencer::BATCH_EVENTS_MAX).context("batch")?;
    let mut start = 0;
    while start < count {
        let end = count.min(start + batch);
        let wallets = (start..end)
            .map(|index| chart::member_wallet(seeded_member_id(index)))
            .collect();
        let results = ledger.create_accounts(wallets).await?;
        anyhow::ensure!(results.iter().all(|r| r.is_ok()), "wallets refused");
        let mut rows: Vec<RowRef> = Vec::new();
        for index in start..end {
            let id = seeded_member_id(index);
            let mut phone_index = [0u8; 32];
            phone_index[..16].copy_from_slice(&id.to_be_bytes());
            rows.push(Arc::new(MemberWrite::Member(MemberRow {
                id,
                phone_index,
                phone_sealed: vec![0x5e; 41],
                name_sealed: vec![0x5e; 38],
                pin_hash: format!(
                    "$argon2id$v=19$m=19456,t=2,p=1${:0>22}${:0>43}",
                    index, index
                ),
                status: MemberStatus::Active,
                locked: false,
                created_at_s: now - 86_400,
                withdrawn_at_s: None,
                payout_sealed: Vec::new(),
                payout_amount: 0,
            })));
            if rows.len() == ROWS_PER_REQUEST {
                send(ledger, &mut in_flight, std::mem::take(&mut rows)).await?;
            }
        }
        send(ledger, &mut in_flight, rows).await?;
        start = end;
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    Ok(())
}

async fn send(
    ledger: &Arc<journal::LedgerService>,
    in_flight: &mut tokio::task::JoinSet<Result<(), journal::LedgerError>>,
    rows: Vec<RowRef>,
) -> anyhow::Result<()> {
    if in_flight.len() >= SEED_REQUESTS_IN_FLIGHT
        && let Some(done) = in_flight.join_next().await
    {
        done??;
    }
    let ledger = ledger.clone();
    in_flight.spawn(async move { ledger.record(rows).await });
    Ok(())
}

fn captured_row(
    id: u128,
    merchant_id: u128,
    amount: u64,
    at_s: u64,
    index: u64,
) -> AuthorizationRow {
    AuthorizationRow {
        id,
        merchant_id,
        terminal_id: 0,
        member_id: 0,
        van_tx_id: format!("seed-{index}"),
        request_digest: None,
        amount,
        capture: true,
        allow_partial: false,
        status: AuthorizationStatus::Captured,
        decline_reason: None,
        approved_amount: amount,
        captured_amount: amount,
        refunded_amount: 0,
        network_cancelled: false,
        created_at_s: at_s,
        captured_at_s: Some(at_s),
        settlement_id: None,
        voucher_id: None,
    }
}

fn refund_row(authorization_id: u128, amount: u64, at_s: u64) -> CancelRow {
    CancelRow {
        authorization_id,
        key: "refund-1".into(),
        requested_amount: Some(amount),
        kind: CancelKind::Refund,
        amount,
        transfer_id: chart::new_id(),
        status: CancelStatus::Done,
        created_at_s: at_s,
        settlement_id: None,
    }
}

/// Funds each merchant's payable with what its seeded payments leave it.
async fn fund(
    ledger: &Arc<journal::LedgerService>,
    merchants: &[u128],
    owed: &[u128],
) -> anyhow::Result<()> {
    let transfers: Vec<Transfer> = merchants
        .iter()
        .zip(owed)
        .map(|(merchant, amount)| Transfer {
            id: TransferId(chart::new_id()),
            debit_account_id: AccountId(SEED_FUNDING_ACCOUNT),
            credit_account_id: AccountId(*merchant),
            amount: *amount,
            ledger: chart::LEDGER_MVP,
            code: chart::transfer_code::PAYMENT,
            ..Transfer::default()
        })
        .collect();
    for chunk in transfers.chunks(journal::sequencer::BATCH_EVENTS_MAX) {
        let results = ledger.create_transfers(chunk.to_vec()).await?;
        anyhow::ensure!(
            results.iter().all(|r| r.is_ok()),
            "funding refused: {results:?}"
        );
    }
    Ok(())
}

async fn settle(
    platform: &Arc<platform::Platform>,
    seeded: &Seeded,
    figures: &mut serde_json::Value,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let run = platform.settle(seeded.until_s).await?;
    let seconds = started.elapsed().as_secs_f64();
    let captured: u128 = run.lines.iter().map(|line| u128::from(line.captured)).sum();
    let refunded: u128 = run.lines.iter().map(|line| u128::from(line.refunded)).sum();
    anyhow::ensure!(
        (captured, refunded) == (seeded.captured, seeded.refunded),
        "the run took {captured} captured and {refunded} refunded, the seed {} and {}",
        seeded.captured,
        seeded.refunded
    );
    let (resident, peak) = crate::bench::resident_mib();
    println!(
        "settled {} lines in {seconds:.1} s, {resident} MiB resident, {peak} MiB peak",
        run.lines.len()
    );
    figures["settle_s"] = json!(seconds);
    figures["lines"] = json!(run.lines.len());
    figures["resident_mib"] = json!(resident);
    figures["peak_mib"] = json!(peak);
    Ok(())
}
