//! TigerBeetle's queries over real HTTP (`server::ledger_query_api`): the real app on port
//! 0, on a real SQLite store and on a real PostgreSQL server (MILEVERSE_TEST_DATABASE_URL:
//! `eval "$(bash scripts/pg.sh env)"`). Every route, its filters and its refusals.

mod common;

use common::TestServer;
use serde_json::{Value, json};

impl TestServer {
    /// GET that must answer 200; the array under `key`.
    async fn list(&self, path: &str, key: &str) -> Vec<Value> {
        let (status, reply) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {reply}");
        reply[key].as_array().expect(key).clone()
    }

    /// The ids (as numbers) of the items under `key`.
    async fn ids(&self, path: &str, key: &str) -> Vec<u128> {
        let items = self.list(path, key).await;
        items.iter().map(id_of).collect()
    }

    async fn ok(&self, path: &str, body: Value) {
        let (status, reply) = self.post(path, &body.to_string()).await;
        assert_eq!(status, 200, "{reply}");
        for result in reply["results"].as_array().expect("results") {
            assert_eq!(result["result"], "ok", "{reply}");
        }
    }

    /// A 400 `invalid-fields` problem naming these fields, in order.
    async fn refused(&self, path: &str, fields: &[&str]) {
        let (status, problem) = self.get(path).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(
            problem["type"], "urn:mileverse:problem:invalid-fields",
            "{path}"
        );
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{path}: {problem}");
    }
}

fn id_of(item: &Value) -> u128 {
    item["id"].as_str().expect("id").parse().expect("u128")
}

const BIG: &str = "340282366920938463463374607431768211455";

/// Accounts 1 (history), 2, 3 on ledger 1 and 4 on ledger 2; transfers 100.. between them
/// with varied codes and user data, a pending transfer and its post.
async fn setup(server: &TestServer) {
    let accounts = json!({"accounts": [
        {"id": "1", "ledger": 1, "code": 10, "flags": ["history"], "user_data_128": "77"},
        {"id": "2", "ledger": 1, "code": 10, "user_data_64": 5},
        {"id": "3", "ledger": 1, "code": 20, "user_data_32": 9, "user_data_128": "77"},
        {"id": "4", "ledger": 2, "code": 20},
        {"id": "5", "ledger": 2, "code": 20},
    ]});
    server.ok("/admin/v1/ledger/accounts", accounts).await;
    let transfer = |id: u32, debit: u32, credit: u32, code: u32, ud128: &str, ud64: u64| {
        json!({"id": id.to_string(), "debit_account_id": debit.to_string(),
               "credit_account_id": credit.to_string(), "amount": "10", "ledger": 1,
               "code": code, "user_data_128": ud128, "user_data_64": ud64})
    };
    // One request per batch, so timestamps interleave across requests.
    server
        .ok(
            "/admin/v1/ledger/transfers",
            json!({"transfers": [
                transfer(100, 1, 2, 1, "0", 0),
                transfer(101, 2, 1, 2, "555", 0),
                transfer(102, 1, 3, 1, "555", 8),
                transfer(103, 3, 2, 3, BIG, 8),
            ]}),
        )
        .await;
    server
        .ok(
            "/admin/v1/ledger/transfers",
            json!({"transfers": [
                transfer(104, 2, 1, 1, "0", 0),
                {"id": "105", "debit_account_id": "1", "credit_account_id": "3", "amount": "4",
                 "ledger": 1, "code": 2, "flags": ["pending"], "timeout": 3600},
                {"id": "106", "debit_account_id": "4", "credit_account_id": "5", "amount": "7",
                 "ledger": 2, "code": 1},
            ]}),
        )
        .await;
    server
        .ok(
            "/admin/v1/ledger/transfers",
            json!({"transfers": [
                {"id": "107", "pending_id": "105", "amount": BIG, "flags": ["post_pending_transfer"]},
                transfer(108, 3, 1, 3, "555", 0),
            ]}),
        )
        .await;
}

async fn account_transfers(server: &TestServer) {
    setup(server).await;
    let base = "/admin/v1/ledger/accounts/1/transfers";
    let all = server.list(base, "transfers").await;
    let ids: Vec<u128> = all.iter().map(id_of).collect();
    assert_eq!(ids, [100, 101, 102, 104, 105, 107, 108]);
    let timestamps: Vec<u64> = all
        .iter()
        .map(|t| t["timestamp"].as_u64().unwrap())
        .collect();
    assert!(timestamps.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let post = &all[5];
    assert_eq!(
        (post["amount"].as_str(), post["debit_account_id"].as_str()),
        (Some("4"), Some("1")),
        "a post is stored with its pending transfer's accounts"
    );
    let cases: &[(&str, &[u128])] = &[
        ("?flags=debits", &[100, 102, 105, 107]),
        ("?flags=credits", &[101, 104, 108]),
        (
            "?flags=debits,credits,reversed",
            &[108, 107, 105, 104, 102, 101, 100],
        ),
        ("?flags=credits,reversed&limit=2", &[108, 104]),
        ("?code=1", &[100, 102, 104]),
        ("?code=2&flags=debits", &[105, 107]),
        ("?user_data_128=555", &[101, 102, 108]),
        ("?user_data_64=8", &[102]),
        ("?user_data_128=555&code=3", &[108]),
        ("?user_data_32=9", &[]),
        ("?limit=3", &[100, 101, 102]),
        ("?limit=8190", &[100, 101, 102, 104, 105, 107, 108]),
    ];
    for (query, expected) in cases {
        let got = server.ids(&format!("{base}{query}"), "transfers").await;
        assert_eq!(&got, expected, "{query}");
    }
    // Timestamp bounds are inclusive; 0 leaves an end open.
    let t = |i: usize| timestamps[i];
    let ranges = [
        (format!("?timestamp_min={}", t(3)), vec![104, 105, 107, 108]),
        (format!("?timestamp_max={}", t(2)), vec![100, 101, 102]),
        (
            format!("?timestamp_min={}&timestamp_max={}", t(1), t(1)),
            vec![101],
        ),
        // Transfer 103 (of other accounts) lies between 102 and 104.
        (
            format!("?timestamp_min={}&timestamp_max={}", t(2) + 1, t(3) - 1),
            vec![],
        ),
        (
            format!(
                "?timestamp_min=0&timestamp_max={}&flags=debits,credits,reversed",
                t(4)
            ),
            vec![105, 104, 102, 101, 100],
        ),
    ];
    for (query, expected) in ranges {
        let got = server.ids(&format!("{base}{query}"), "transfers").await;
        assert_eq!(got, expected, "{query}");
    }
    // Paging: move timestamp_min past the last result.
    let mut walked = Vec::new();
    let mut min = 0;
    loop {
        let page = server
            .list(&format!("{base}?limit=2&timestamp_min={min}"), "transfers")
            .await;
        walked.extend(page.iter().map(id_of));
        if page.len() < 2 {
            break;
        }
        min = page[1]["timestamp"].as_u64().unwrap() + 1;
    }
    assert_eq!(walked, ids);
    let (status, reply) = server.get(base).await;
    assert_eq!((status, reply["account_id"].as_str()), (200, Some("1")));
    let other_ledger = server
        .ids("/admin/v1/ledger/accounts/5/transfers", "transfers")
        .await;
    assert_eq!(other_ledger, [106]);
    let none = server
        .ids("/admin/v1/ledger/accounts/2/transfers?code=99", "transfers")
        .await;
    assert!(none.is_empty());
}

async fn account_balances(server: &TestServer) {
    setup(server).await;
    let base = "/admin/v1/ledger/accounts/1/balances";
    let all = server.list(base, "balances").await;
    assert_eq!(
        all.len(),
        7,
        "one per transfer of the history account: {all:?}"
    );
    let last = &all[6];
    assert_eq!(
        (
            last["debits_posted"].as_str(),
            last["credits_posted"].as_str(),
            last["debits_pending"].as_str(),
        ),
        (Some("24"), Some("30"), Some("0")),
        "after 100, 102 and the post of 105 (4) debited it, and 101, 104, 108 credited it"
    );
    let transfers = server
        .list("/admin/v1/ledger/accounts/1/transfers", "transfers")
        .await;
    let stamps = |items: &[Value]| -> Vec<u64> {
        items
            .iter()
            .map(|i| i["timestamp"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(stamps(&all), stamps(&transfers), "a balance per transfer");
    let pending = &all[4];
    assert_eq!(pending["debits_pending"], "4", "after the pending transfer");
    let cases: &[(&str, &[usize])] = &[
        ("?flags=debits", &[0, 2, 4, 5]),
        ("?flags=credits,reversed", &[6, 3, 1]),
        ("?code=1", &[0, 2, 3]),
        ("?user_data_128=555&flags=credits", &[1, 6]),
        ("?limit=2&flags=debits,credits,reversed", &[6, 5]),
    ];
    for (query, expected) in cases {
        let got = server.list(&format!("{base}{query}"), "balances").await;
        let expected: Vec<Value> = expected.iter().map(|&i| all[i].clone()).collect();
        assert_eq!(got, expected, "{query}");
    }
    let t = all[3]["timestamp"].as_u64().unwrap();
    let got = server
        .list(
            &format!("{base}?timestamp_min={t}&timestamp_max={t}"),
            "balances",
        )
        .await;
    assert_eq!(got, [all[3].clone()]);
    let without_history = server
        .list("/admin/v1/ledger/accounts/2/balances", "balances")
        .await;
    assert!(without_history.is_empty(), "account 2 keeps no history");
}

async fn query_accounts_and_transfers(server: &TestServer) {
    setup(server).await;
    let accounts = "/admin/v1/ledger/accounts";
    let cases: &[(&str, &[u128])] = &[
        ("", &[1, 2, 3, 4, 5]),
        ("?ledger=2", &[4, 5]),
        ("?code=20", &[3, 4, 5]),
        ("?ledger=1&code=20", &[3]),
        ("?user_data_128=77", &[1, 3]),
        ("?user_data_64=5", &[2]),
        ("?user_data_32=9", &[3]),
        ("?flags=reversed&limit=2", &[5, 4]),
        ("?ledger=3", &[]),
    ];
    for (query, expected) in cases {
        let got = server.ids(&format!("{accounts}{query}"), "accounts").await;
        assert_eq!(&got, expected, "{query}");
    }
    // Current balances, as the single-account route shows them.
    for account in server.list(accounts, "accounts").await {
        let id = id_of(&account);
        let (status, one) = server.get(&format!("{accounts}/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(account, one, "account {id}");
    }
    let all = server.list(accounts, "accounts").await;
    let t = all[2]["timestamp"].as_u64().unwrap();
    let from = server
        .ids(&format!("{accounts}?timestamp_min={t}"), "accounts")
        .await;
    assert_eq!(from, [3, 4, 5]);

    let transfers = "/admin/v1/ledger/transfers";
    let cases: &[(&str, &[u128])] = &[
        ("", &[100, 101, 102, 103, 104, 105, 106, 107, 108]),
        ("?ledger=2", &[106]),
        ("?code=1", &[100, 102, 104, 106]),
        ("?code=1&ledger=1", &[100, 102, 104]),
        ("?user_data_128=555", &[101, 102, 108]),
        (
            "?user_data_128=340282366920938463463374607431768211455",
            &[103],
        ),
        ("?user_data_64=8&flags=reversed", &[103, 102]),
        ("?limit=1&flags=reversed", &[108]),
        ("?code=3&user_data_128=555", &[108]),
    ];
    for (query, expected) in cases {
        let got = server
            .ids(&format!("{transfers}{query}"), "transfers")
            .await;
        assert_eq!(&got, expected, "{query}");
    }
    let all = server.list(transfers, "transfers").await;
    let t = all[4]["timestamp"].as_u64().unwrap();
    let got = server
        .ids(
            &format!("{transfers}?timestamp_min={t}&timestamp_max={t}"),
            "transfers",
        )
        .await;
    assert_eq!(got, [104]);
    let (status, reply) = server.get(&format!("{transfers}?limit=100")).await;
    assert_eq!(status, 200);
    assert_eq!(reply["transfers"].as_array().unwrap().len(), 9);
}

async fn lookups(server: &TestServer) {
    setup(server).await;
    let (status, reply) = server
        .post(
            "/admin/v1/ledger/accounts/lookup",
            r#"{"ids": ["3", "99", "1", "3"]}"#,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let ids: Vec<u128> = reply["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [3, 1, 3], "in the order asked, missing left out");
    let (_, one) = server.get("/admin/v1/ledger/accounts/1").await;
    assert_eq!(reply["accounts"][1], one, "current balances");
    let (status, reply) = server
        .post(
            "/admin/v1/ledger/transfers/lookup",
            r#"{"ids": ["108", "1", "100"]}"#,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let ids: Vec<u128> = reply["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [108, 100]);
    for path in [
        "/admin/v1/ledger/accounts/lookup",
        "/admin/v1/ledger/transfers/lookup",
    ] {
        let (status, reply) = server.post(path, r#"{"ids": []}"#).await;
        assert_eq!(status, 200, "{reply}");
        let full: Vec<String> = (0..8190).map(|i: u32| (i % 7).to_string()).collect();
        let (status, reply) = server.post(path, &json!({ "ids": full }).to_string()).await;
        assert_eq!(status, 200, "{path}: 8,190 ids are a full batch: {reply}");
        let over: Vec<String> = (0..8191).map(|i: u32| i.to_string()).collect();
        let (status, problem) = server.post(path, &json!({ "ids": over }).to_string()).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (413, Some("urn:mileverse:problem:batch-too-large")),
            "{path}"
        );
        let (status, problem) = server
            .post(
                path,
                r#"{"ids": ["1", 2, "-3", "340282366920938463463374607431768211456"]}"#,
            )
            .await;
        assert_eq!(status, 400, "{problem}");
        let indexes: Vec<u64> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, [1, 2, 3]);
        let (status, problem) = server.post(path, r#"{"ids": ["1"], "more": 1}"#).await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some("more"))
        );
        let (status, problem) = server.post(path, r#"{"ids": "#).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (400, Some("urn:mileverse:problem:malformed-json"))
        );
        let (status, _) = server.post(path, r#"["1"]"#).await;
        assert_eq!(status, 400);
    }
}

async fn bad_input(server: &TestServer) {
    setup(server).await;
    let base = "/admin/v1/ledger/accounts/1/transfers";
    server.refused(&format!("{base}?limit=0"), &["limit"]).await;
    server
        .refused(&format!("{base}?limit=8191"), &["limit"])
        .await;
    server
        .refused(&format!("{base}?limit=abc"), &["limit"])
        .await;
    server
        .refused(&format!("{base}?colour=red"), &["colour"])
        .await;
    server
        .refused(&format!("{base}?code=1&code=2"), &["code"])
        .await;
    server
        .refused(&format!("{base}?flags=sideways"), &["flags"])
        .await;
    server
        .refused(&format!("{base}?flags=reversed"), &["flags"])
        .await;
    server
        .refused(
            &format!("{base}?timestamp_min=10&timestamp_max=9"),
            &["timestamp_min"],
        )
        .await;
    server
        .refused(
            &format!("{base}?timestamp_max=9223372036854775808"),
            &["timestamp_max"],
        )
        .await;
    server
        .refused(
            &format!("{base}?user_data_64=18446744073709551616&user_data_32=-1&code=65536"),
            &["user_data_64", "user_data_32", "code"],
        )
        .await;
    server
        .refused(
            "/admin/v1/ledger/accounts/1/balances?flags=debits,nope&limit=0",
            &["flags", "limit"],
        )
        .await;
    server
        .refused("/admin/v1/ledger/accounts?flags=debits", &["flags"])
        .await;
    server
        .refused(
            "/admin/v1/ledger/transfers?ledger=4294967296&timestamp_min=5&timestamp_max=4",
            &["ledger", "timestamp_min"],
        )
        .await;
    server
        .refused("/admin/v1/ledger/transfers?account_id=1", &["account_id"])
        .await;
    let (status, problem) = server.get(&format!("{base}?limit=%zz")).await;
    assert_eq!(status, 400, "{problem}");
    for path in [
        "/admin/v1/ledger/accounts/99/transfers",
        "/admin/v1/ledger/accounts/99/balances",
        "/admin/v1/ledger/accounts/0/transfers",
        "/admin/v1/ledger/accounts/abc/transfers",
        "/admin/v1/ledger/accounts/340282366920938463463374607431768211455/balances",
    ] {
        let (status, problem) = server.get(path).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (404, Some("urn:mileverse:problem:not-found")),
            "{path}"
        );
    }
    for path in [
        "/admin/v1/ledger/accounts/1/transfers",
        "/admin/v1/ledger/accounts/1/balances",
        "/admin/v1/ledger/accounts",
        "/admin/v1/ledger/transfers",
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    for path in [
        "/admin/v1/ledger/accounts/lookup",
        "/admin/v1/ledger/transfers/lookup",
    ] {
        let response = server
            .client
            .post(format!("{}{path}", server.base))
            .bearer_auth("wrong")
            .body(r#"{"ids": ["1"]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
    }
}

/// `limit=8190` answers 8,190 transfers; the next page the rest.
async fn limit_at_the_maximum(server: &TestServer) {
    setup(server).await;
    let batch: Vec<Value> = (0..8190u32)
        .map(|i| {
            json!({"id": (1_000 + i).to_string(), "debit_account_id": "2",
                   "credit_account_id": "3", "amount": "1", "ledger": 1, "code": 4})
        })
        .collect();
    server
        .ok("/admin/v1/ledger/transfers", json!({ "transfers": batch }))
        .await;
    let base = "/admin/v1/ledger/accounts/2/transfers";
    let page = server
        .list(&format!("{base}?limit=8190"), "transfers")
        .await;
    assert_eq!(page.len(), 8190);
    let last = page[8189]["timestamp"].as_u64().unwrap();
    let rest = server
        .ids(
            &format!("{base}?limit=8190&timestamp_min={}", last + 1),
            "transfers",
        )
        .await;
    assert_eq!(rest.len(), 4, "account 2 had 4 transfers before");
    let by_code = server
        .list("/admin/v1/ledger/transfers?code=4&limit=8190", "transfers")
        .await;
    assert_eq!(by_code.len(), 8190);
    let default = server.list(base, "transfers").await;
    assert_eq!(default.len(), 100, "the default page");
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
    account_transfers,
    account_balances,
    query_accounts_and_transfers,
    lookups,
    bad_input,
    limit_at_the_maximum
);
