//! Crash safety: a `mileverse serve` child under concurrent transfer load is killed with
//! SIGKILL several times. After each kill: `mileverse verify` passes; after each restart:
//! every acknowledged transfer is present, and every balance equals the sum of the
//! transfers that are present (all acknowledged ones plus those in flight that made it).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};
use support::{ServerProcess, TOKEN, client, mileverse_with, postgres_options};

const ACCOUNTS: u64 = 20;
const CLIENTS: usize = 16;
const ROUNDS: usize = 4;
const BATCH_MAX: u64 = 8;

#[derive(Clone, Copy, Debug)]
struct Sent {
    id: u64,
    debit: u64,
    credit: u64,
    amount: u64,
}

#[derive(Default)]
struct RoundLog {
    acknowledged: Vec<Sent>,
    uncertain: Vec<Sent>,
}

async fn create_accounts(base: &str) {
    let accounts: Vec<Value> = (1..=ACCOUNTS)
        .map(|id| json!({"id": id.to_string(), "ledger": 1, "code": 1}))
        .collect();
    let response = client()
        .post(format!("{base}/admin/v1/ledger/accounts"))
        .bearer_auth(TOKEN)
        .json(&json!({ "accounts": accounts }))
        .send()
        .await
        .expect("create accounts");
    assert_eq!(response.status().as_u16(), 200);
}

/// One client: sends small batches until the server dies.
async fn load(base: String, next_id: Arc<AtomicU64>) -> RoundLog {
    let http = client();
    let mut log = RoundLog::default();
    loop {
        let batch: Vec<Sent> = {
            let mut rng = rand::thread_rng();
            let size = rng.gen_range(1..=BATCH_MAX);
            (0..size)
                .map(|_| {
                    let debit = rng.gen_range(1..=ACCOUNTS);
                    let credit = (debit % ACCOUNTS) + 1;
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    Sent {
                        id,
                        debit,
                        credit,
                        amount: rng.gen_range(1..=1000),
                    }
                })
                .collect()
        };
        let transfers: Vec<Value> = batch
            .iter()
            .map(|s| json!({"id": s.id.to_string(), "debit_account_id": s.debit.to_string(),
                "credit_account_id": s.credit.to_string(), "amount": s.amount.to_string(), "ledger": 1, "code": 1}))
            .collect();
        let sent = http
            .post(format!("{base}/admin/v1/ledger/transfers"))
            .bearer_auth(TOKEN)
            .json(&json!({ "transfers": transfers }))
            .send()
            .await;
        let reply = match sent {
            Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            _ => None,
        };
        let Some(reply) = reply else {
            log.uncertain.extend(batch);
            return log;
        };
        let results = reply["results"].as_array().expect("results");
        assert!(results.iter().all(|r| r["result"] == "ok"), "{reply}");
        log.acknowledged.extend(batch);
    }
}

async fn transfer_present(base: &str, sent: &Sent) -> bool {
    let response = client()
        .get(format!("{base}/admin/v1/ledger/transfers/{}", sent.id))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("lookup transfer");
    match response.status().as_u16() {
        200 => {
            let found: Value = response.json().await.expect("json");
            assert_eq!(
                found["amount"],
                sent.amount.to_string(),
                "transfer {} changed",
                sent.id
            );
            true
        }
        404 => false,
        other => panic!("unexpected status {other}"),
    }
}

async fn check_balances(base: &str, committed: &[Sent]) {
    let mut expected: HashMap<u64, (u128, u128)> = HashMap::new();
    for sent in committed {
        expected.entry(sent.debit).or_default().0 += u128::from(sent.amount);
        expected.entry(sent.credit).or_default().1 += u128::from(sent.amount);
    }
    for id in 1..=ACCOUNTS {
        let account: Value = client()
            .get(format!("{base}/admin/v1/ledger/accounts/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("account")
            .json()
            .await
            .expect("json");
        let (debits, credits) = expected.get(&id).copied().unwrap_or_default();
        assert_eq!(
            account["debits_posted"],
            debits.to_string(),
            "account {id} debits"
        );
        assert_eq!(
            account["credits_posted"],
            credits.to_string(),
            "account {id} credits"
        );
    }
}

fn assert_verify_passes(data: &std::path::Path, extra: &[String]) {
    let output = mileverse_with(&["verify"], data, extra);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "verify failed after a crash: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_sigkill_on_sqlite() {
    let directory = tempfile::tempdir().expect("tempdir");
    crash_rounds(directory.path(), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_sigkill_on_postgres() {
    let directory = tempfile::tempdir().expect("tempdir");
    crash_rounds(directory.path(), &postgres_options("crash")).await;
}

async fn crash_rounds(data: &std::path::Path, extra: &[String]) {
    // Snapshots every few blocks, so kills land while they are being written, and every
    // restart starts from one.
    let mut serve_extra = extra.to_vec();
    serve_extra.extend([
        "--snapshot-interval-transfers".to_string(),
        "300".to_string(),
    ]);
    let next_id = Arc::new(AtomicU64::new(1));
    let mut committed: Vec<Sent> = Vec::new();
    let mut server = ServerProcess::start_with(data, &serve_extra);
    create_accounts(&server.base).await;
    for round in 0..ROUNDS {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| tokio::spawn(load(server.base.clone(), next_id.clone())))
            .collect();
        let load_ms = rand::thread_rng().gen_range(300..900);
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.kill();
        let mut round_log = RoundLog::default();
        for task in clients {
            let log = task.await.expect("client task");
            round_log.acknowledged.extend(log.acknowledged);
            round_log.uncertain.extend(log.uncertain);
        }
        assert!(
            !round_log.acknowledged.is_empty(),
            "round {round}: the load acknowledged nothing"
        );
        assert_verify_passes(data, extra);
        server = ServerProcess::start_with(data, &serve_extra);
        for sent in &round_log.acknowledged {
            assert!(
                transfer_present(&server.base, sent).await,
                "acknowledged transfer {} lost",
                sent.id
            );
        }
        committed.extend(round_log.acknowledged);
        for sent in &round_log.uncertain {
            if transfer_present(&server.base, sent).await {
                committed.push(*sent);
            }
        }
        check_balances(&server.base, &committed).await;
    }
    server.kill();
    assert_verify_passes(data, extra);
}
