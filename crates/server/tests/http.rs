//! The raw ledger API over real HTTP: the real app on port 0, on a real SQLite store and on
//! a real PostgreSQL server (MILEVERSE_TEST_DATABASE_URL, started by scripts/test.sh).

use ledger::checkpoint::{Checkpoint, verify_checkpoint};
use ledger::merkle::{verify_consistency, verify_inclusion};
mod common;

use common::TestServer;
use serde_json::{Value, json};

impl TestServer {
    async fn results(&self, path: &str, body: Value) -> Vec<String> {
        let (status, reply) = self.post(path, &body.to_string()).await;
        assert_eq!(status, 200, "{reply}");
        reply["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["result"].as_str().unwrap().to_string())
            .collect()
    }

    async fn balance(&self, id: u128) -> (String, String) {
        let (status, account) = self.get(&format!("/admin/v1/ledger/accounts/{id}")).await;
        assert_eq!(status, 200, "{account}");
        (
            account["debits_posted"].as_str().unwrap().into(),
            account["credits_posted"].as_str().unwrap().into(),
        )
    }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: &str) -> Value {
    json!({"id": id.to_string(), "debit_account_id": debit.to_string(), "credit_account_id": credit.to_string(),
           "amount": amount, "ledger": 1, "code": 1})
}

async fn setup_accounts(server: &TestServer) {
    let accounts = json!({"accounts": [
        {"id": "1", "ledger": 1, "code": 10},
        {"id": "2", "ledger": 1, "code": 10, "flags": ["debits_must_not_exceed_credits"]},
        {"id": "3", "ledger": 2, "code": 10},
        {"id": "340282366920938463463374607431768211454", "ledger": 1, "code": 10, "flags": ["history"]},
    ]});
    let results = server
        .results("/admin/v1/ledger/accounts", accounts.clone())
        .await;
    assert_eq!(results, ["ok", "ok", "ok", "ok"]);
    let again = server.results("/admin/v1/ledger/accounts", accounts).await;
    assert_eq!(again, ["exists", "exists", "exists", "exists"]);
}

async fn transfers_and_result_codes(server: &TestServer) {
    setup_accounts(server).await;
    let batch = json!({"transfers": [
        transfer(100, 1, 2, "500"),
        transfer(101, 2, 1, "501"),
        transfer(102, 1, 9, "1"),
        transfer(103, 1, 2, "0"),
        transfer(104, 1, 3, "1"),
        transfer(105, 2, 1, "200"),
        transfer(100, 1, 2, "500"),
        transfer(100, 1, 2, "499"),
    ]});
    let results = server.results("/admin/v1/ledger/transfers", batch).await;
    let expected = [
        "ok",
        "exceeds_credits",
        "credit_account_not_found",
        "ok",
        "accounts_must_have_the_same_ledger",
        "ok",
        "exists",
        "exists_with_different_amount",
    ];
    assert_eq!(results, expected);
    assert_eq!(server.balance(1).await, ("500".into(), "200".into()));
    assert_eq!(server.balance(2).await, ("200".into(), "500".into()));
    let (status, found) = server.get("/admin/v1/ledger/transfers/100").await;
    assert_eq!(status, 200);
    assert_eq!(found["amount"], "500");
    assert!(found["timestamp"].as_u64().unwrap() > 0);
    let (status, _) = server.get("/admin/v1/ledger/transfers/101").await;
    assert_eq!(status, 404, "a refused transfer is not stored");
}

async fn bad_input_moves_nothing(server: &TestServer) {
    setup_accounts(server).await;
    let (status, problem) = server
        .post("/admin/v1/ledger/transfers", "{\"transfers\": [")
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["type"], "urn:mileverse:problem:malformed-json");
    let too_big = "340282366920938463463374607431768211456";
    let body = json!({"transfers": [
        transfer(200, 1, 2, "5"),
        transfer(201, 1, 2, too_big),
        {"id": "202", "debit_account_id": "1", "credit_account_id": "2", "amount": 5, "ledger": 1, "code": 1},
        {"id": "203", "debit_account_id": "1", "credit_account_id": "2", "amount": "5", "ledger": 1, "code": 1, "flags": ["nope"]},
        {"id": "204", "debit_account_id": "1", "credit_account_id": "2", "amount": "5", "ledger": 1, "code": 70000},
        {"id": "205", "debit_account_id": "1", "credit_account_id": "2", "amount": "5", "ledger": 1, "code": 1, "colour": "red"},
    ]});
    let (status, problem) = server
        .post("/admin/v1/ledger/transfers", &body.to_string())
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "urn:mileverse:problem:invalid-fields");
    let indexes: Vec<u64> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5]);
    let (status, _) = server.get("/admin/v1/ledger/transfers/200").await;
    assert_eq!(status, 404, "a batch with a bad item changes nothing");
    assert_eq!(server.balance(1).await, ("0".into(), "0".into()));
    let response = server
        .client
        .post(format!("{}/admin/v1/ledger/transfers", server.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        401,
        "admin calls need the token"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

async fn batch_limits(server: &TestServer) {
    setup_accounts(server).await;
    let full: Vec<Value> = (0..8190u128)
        .map(|i| transfer(10_000 + i, 1, 2, "1"))
        .collect();
    let results = server
        .results("/admin/v1/ledger/transfers", json!({ "transfers": full }))
        .await;
    assert_eq!(results.len(), 8190);
    assert!(
        results.iter().all(|r| r == "ok"),
        "a batch at the limit is accepted"
    );
    let over: Vec<Value> = (0..8191u128)
        .map(|i| transfer(30_000 + i, 1, 2, "1"))
        .collect();
    let (status, problem) = server
        .post(
            "/admin/v1/ledger/transfers",
            &json!({ "transfers": over }).to_string(),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "urn:mileverse:problem:batch-too-large");
    let padding = " ".repeat(server::REQUEST_BODY_BYTES_MAX);
    let (status, problem) = server
        .post(
            "/admin/v1/ledger/transfers",
            &format!("{{\"transfers\": []}}{padding}"),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "urn:mileverse:problem:body-too-large");
    let prefix = "{\"transfers\": []}";
    let at_limit = format!(
        "{prefix}{}",
        " ".repeat(server::REQUEST_BODY_BYTES_MAX - prefix.len())
    );
    let (status, reply) = server.post("/admin/v1/ledger/transfers", &at_limit).await;
    assert_eq!(
        (status, reply["results"].as_array().map(Vec::len)),
        (200, Some(0)),
        "a body at the limit is read"
    );
    let (status, _) = server.get("/admin/v1/ledger/transfers/30000").await;
    assert_eq!(status, 404);
}

fn hash(value: &Value) -> [u8; 32] {
    hex::decode(value.as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

async fn proofs_verify(server: &TestServer) {
    setup_accounts(server).await;
    for id in 0..5u128 {
        let batch = json!({"transfers": [transfer(500 + 2 * id, 1, 2, "3"), transfer(501 + 2 * id, 2, 1, "1")]});
        assert_eq!(
            server.results("/admin/v1/ledger/transfers", batch).await,
            ["ok", "ok"]
        );
    }
    let (status, checkpoint) = server.get("/v1/ledger/checkpoint").await;
    assert_eq!(status, 200);
    assert_eq!(checkpoint["tree_size"], 10);
    let signed = Checkpoint {
        block_height: checkpoint["block_height"].as_u64().unwrap(),
        block_hash: hash(&checkpoint["block_hash"]),
        tree_size: 10,
        root: hash(&checkpoint["root"]),
        timestamp: checkpoint["timestamp"].as_u64().unwrap(),
    };
    let signature: [u8; 64] = hex::decode(checkpoint["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public_key = hash(&checkpoint["public_key"]);
    assert_eq!(verify_checkpoint(&public_key, &signed, &signature), Ok(()));
    let mut forged = signed;
    forged.tree_size = 11;
    assert!(verify_checkpoint(&public_key, &forged, &signature).is_err());

    let (status, inclusion) = server.get("/v1/ledger/proofs/inclusion/503").await;
    assert_eq!(status, 200, "{inclusion}");
    let proof: Vec<[u8; 32]> = inclusion["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let index = inclusion["leaf_index"].as_u64().unwrap();
    assert_eq!(index, 3);
    let leaf = hash(&inclusion["leaf_hash"]);
    assert_eq!(
        verify_inclusion(&leaf, index, 10, &proof, &signed.root),
        Ok(())
    );
    assert!(verify_inclusion(&leaf, index + 1, 10, &proof, &signed.root).is_err());

    let (status, consistency) = server
        .get("/v1/ledger/proofs/consistency?from=4&to=10")
        .await;
    assert_eq!(status, 200, "{consistency}");
    let proof: Vec<[u8; 32]> = consistency["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let (from_root, to_root) = (
        hash(&consistency["from_root"]),
        hash(&consistency["to_root"]),
    );
    assert_eq!(to_root, signed.root);
    assert_eq!(
        verify_consistency(4, 10, &proof, &from_root, &to_root),
        Ok(())
    );
    let mut tampered = from_root;
    tampered[0] ^= 1;
    assert!(verify_consistency(4, 10, &proof, &tampered, &to_root).is_err());
    let (status, problem) = server
        .get("/v1/ledger/proofs/consistency?from=4&to=11")
        .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (400, Some("urn:mileverse:problem:proof-range"))
    );
    let (status, _) = server.get("/v1/ledger/proofs/inclusion/999999").await;
    assert_eq!(status, 404);
    // Beyond the signed checkpoints, the log is not public: an inclusion proof (which shows
    // the transfer and its accounts) and the block feed need a credential.
    for path in ["/v1/ledger/proofs/inclusion/503", "/v1/ledger/blocks"] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
    }
    let response = server
        .client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

async fn operations_endpoints(server: &TestServer) {
    let health = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    setup_accounts(server).await;
    let metrics = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mileverse_ledger_accounts_created_total 4"),
        "{metrics}"
    );
    let (status, history) = server
        .get("/admin/v1/ledger/accounts/340282366920938463463374607431768211454/balances")
        .await;
    assert_eq!(status, 200);
    assert_eq!(history["balances"].as_array().unwrap().len(), 0);
}

macro_rules! on_both_backends {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(&super::TestServer::sqlite().await).await; })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(&super::TestServer::postgres(stringify!($name)).await).await; })*
        }
    };
}

on_both_backends!(
    transfers_and_result_codes,
    bad_input_moves_nothing,
    batch_limits,
    proofs_verify,
    operations_endpoints
);
