//! `mileverse verify` and start-up checks on a real SQLite store written by a real server:
//! a clean store verifies; a tampered transfer, a wrong key or a truncated file is reported
//! (naming the first bad block where there is one) and the server refuses to start on it.

mod support;

use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{ServerProcess, TOKEN, client, mileverse};

async fn post(base: &str, path: &str, body: Value) -> Value {
    let response = client()
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("json")
}

/// Writes 1 block of accounts and 6 blocks of 3 transfers each (after the block of the
/// platform's own accounts that every start writes); returns the data directory.
async fn written_store() -> tempfile::TempDir {
    let directory = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(directory.path());
    let accounts = json!({"accounts": [{"id": "1", "ledger": 1, "code": 1}, {"id": "2", "ledger": 1, "code": 1}]});
    post(&server.base, "/admin/v1/ledger/accounts", accounts).await;
    for block in 0..6u64 {
        let transfers: Vec<Value> = (0..3u64)
            .map(|i| {
                json!({"id": (100 + block * 3 + i).to_string(), "debit_account_id": "1",
                "credit_account_id": "2", "amount": "10", "ledger": 1, "code": 1})
            })
            .collect();
        let reply = post(
            &server.base,
            "/admin/v1/ledger/transfers",
            json!({ "transfers": transfers }),
        )
        .await;
        assert!(
            reply["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["result"] == "ok")
        );
    }
    server.kill();
    directory
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starting the server must fail; returns what it printed on stderr.
fn refused_start(data: &std::path::Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .expect("run serve");
    assert!(
        !output.status.success(),
        "the server started on a bad store"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_store_verifies() {
    let directory = written_store().await;
    let output = mileverse(&["verify"], directory.path());
    assert!(output.status.success(), "{}", stdout_of(&output));
    assert!(
        // 1 block of the platform's own 9 accounts at start (payouts, partner payments, the
        // MVC bridge, settlement clearing, platform fees, vouchers, P2P holds, ad
        // prepayments, ad revenue), 1 of the assets' 18 (a treasury and an escrow per asset;
        // a reserve and a P2P holds account per asset but MVP) and 1 of TTC's issue (a transfer), 1 of the audit log's 2, 1 of the
        // test's 2 accounts, 6 of transfers, and for each of the 7 admin calls the audit
        // log's intent and outcome, a block and a transfer each.
        stdout_of(&output).starts_with("ok: 25 blocks, tree size 33, 31 accounts"),
        "{}",
        stdout_of(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_transfer_names_its_block() {
    let directory = written_store().await;
    let database = rusqlite::Connection::open(directory.path().join("ledger.db")).expect("open");
    let height: i64 = database
        .query_row(
            "SELECT block_height FROM transfers WHERE seq = 10",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let forged = 11u128.to_be_bytes().to_vec();
    database
        .execute("UPDATE transfers SET amount = ?1 WHERE seq = 10", [forged])
        .expect("tamper");
    drop(database);
    let output = mileverse(&["verify"], directory.path());
    assert!(!output.status.success());
    assert!(
        stdout_of(&output).contains(&format!("block {height} is bad")),
        "{}",
        stdout_of(&output)
    );
    let stderr = refused_start(directory.path());
    assert!(stderr.contains(&format!("block {height}")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_balance_is_reported() {
    let directory = written_store().await;
    let database = rusqlite::Connection::open(directory.path().join("ledger.db")).expect("open");
    let forged = 1_000_000u128.to_be_bytes().to_vec();
    // Balances live in `accounts` overlaid by the newer `balance_log`; fold the log away so
    // the forged row is the one in force.
    database
        .execute("DELETE FROM balance_log", [])
        .expect("drop the log");
    let account = 2u128.to_be_bytes().to_vec();
    let changed = database
        .execute(
            "UPDATE accounts SET credits_posted = ?1 WHERE id = ?2",
            [forged, account],
        )
        .expect("tamper");
    assert_eq!(changed, 1);
    drop(database);
    let output = mileverse(&["verify"], directory.path());
    assert!(!output.status.success());
    assert!(
        stdout_of(&output).contains("balances in the store differ"),
        "{}",
        stdout_of(&output)
    );
    refused_start(directory.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_operator_key_is_refused() {
    let directory = written_store().await;
    let output = mileverse(
        &["verify", "--operator-public-key", &"ab".repeat(32)],
        directory.path(),
    );
    assert!(!output.status.success());
    std::fs::write(
        directory.path().join("operator.key"),
        format!("{}\n", "cd".repeat(32)),
    )
    .expect("swap key");
    let stderr = refused_start(directory.path());
    assert!(stderr.contains("operator key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_database_is_reported() {
    let directory = written_store().await;
    let path = directory.path().join("ledger.db");
    let database = rusqlite::Connection::open(&path).expect("open");
    database
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(database);
    let length = std::fs::metadata(&path).expect("metadata").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open file");
    file.set_len(length / 2).expect("truncate");
    drop(file);
    let output = mileverse(&["verify"], directory.path());
    assert!(
        !output.status.success(),
        "verify passed on a truncated database: {}",
        stdout_of(&output)
    );
    refused_start(directory.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_forged_head_is_reported() {
    let directory = written_store().await;
    let path = directory.path().join("ledger.db");
    let database = rusqlite::Connection::open(&path).expect("open");
    let head: i64 = database
        .query_row("SELECT MAX(height) FROM blocks", [], |row| row.get(0))
        .expect("head height");
    let original: Vec<u8> = database
        .query_row(
            "SELECT signature FROM blocks WHERE height = ?1",
            [head],
            |row| row.get(0),
        )
        .expect("head signature");
    assert_ne!(
        original,
        vec![0u8; 64],
        "every store transaction's last block is signed"
    );
    database
        .execute(
            "UPDATE blocks SET signature = zeroblob(64) WHERE height = ?1",
            [head],
        )
        .expect("unsign");
    let output = mileverse(&["verify"], directory.path());
    assert!(!output.status.success());
    assert!(
        stdout_of(&output).contains(&format!(
            "block {head} is bad: the last block is not signed"
        )),
        "{}",
        stdout_of(&output)
    );
    let mut forged = original.clone();
    forged[10] ^= 1;
    database
        .execute(
            "UPDATE blocks SET signature = ?1 WHERE height = ?2",
            rusqlite::params![forged, head],
        )
        .expect("forge");
    let output = mileverse(&["verify"], directory.path());
    assert!(!output.status.success());
    assert!(
        stdout_of(&output).contains(&format!("block {head} is bad: checkpoint signature")),
        "{}",
        stdout_of(&output)
    );
}
