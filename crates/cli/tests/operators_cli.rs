//! The real `mileverse serve`: a weak bootstrap token refuses to start; the operators'
//! audit log of a running server verifies with `mileverse audit verify`, and fails to once
//! an entry is removed from the database.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{ServerProcess, TOKEN};

fn serve_with_token(data: &std::path::Path, token: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", token)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mileverse")
}

#[test]
fn an_empty_or_short_bootstrap_token_refuses_to_start() {
    let data = tempfile::tempdir().expect("tempdir");
    for token in ["", "x", "change-me"] {
        let output = serve_with_token(data.path(), token);
        assert!(!output.status.success(), "{token:?} started a server");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("at least 32 bytes"), "{token:?}: {stderr}");
    }
}

fn audit_verify(base: &str) -> (bool, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["audit", "verify", "--server", base, "--token", TOKEN])
        .output()
        .expect("run mileverse audit verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let summary = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    (output.status.success(), summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_verifies_and_a_removed_entry_is_found() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(data.path());
    let client = support::client();
    // A few operator actions: an operator made, a merchant registered.
    let operator = json!({"login": "olga", "display_name": "Olga", "role": "operator",
        "password": "correct horse battery staple"});
    let merchant = json!({"name": "Store 1", "brand": "Brand", "fee_bps": 100});
    for (path, body) in [
        ("/admin/v1/operators", operator),
        ("/admin/v1/merchants", merchant),
    ] {
        let response = client
            .post(format!("{}{path}", server.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 201, "{path}");
    }
    let (verified, summary) = audit_verify(&server.base);
    assert!(verified, "{summary}");
    // Two changes (an intent and an outcome each); the verifier's own reads come after.
    assert!(summary["entries"].as_u64().unwrap() >= 4, "{summary}");
    server.kill();

    // An operator with database access removes entry 2: the chain shows the gap.
    let connection = rusqlite::Connection::open(data.path().join("ledger.db")).expect("db");
    let removed = connection
        .execute("DELETE FROM audit_log WHERE seq = 2", [])
        .expect("delete");
    assert_eq!(removed, 1);
    drop(connection);
    let server = ServerProcess::start(data.path());
    let (verified, summary) = audit_verify(&server.base);
    assert!(!verified, "{summary}");
    assert!(
        summary["error"]
            .as_str()
            .unwrap()
            .contains("chain is broken"),
        "{summary}"
    );
}
