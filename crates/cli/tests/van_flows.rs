//! Paying at the till over HTTP against a real `mileverse serve` (SQLite store): a member's
//! server-issued pay code, a terminal signing exactly as a VAN does, sales, holds, captures,
//! partial refunds, network cancels, the same `van_tx_id` 32 times at once, two tills
//! racing for one balance, and refused signatures. Every balance is read back over HTTP.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use platform::signing::van_signature;
use serde_json::{Value, json};
use support::{ServerProcess, TOKEN, client};

const PIN: &str = "135790";
/// The test's funding account in the raw ledger.
const FUNDING_ACCOUNT: &str = "77";

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_string()
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, value) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await;
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {value}"
        );
        value
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, value) = self.call(reqwest::Method::GET, path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }
}

/// A terminal's credentials; signs like a VAN.
#[derive(Clone)]
struct Till {
    base: String,
    terminal_id: String,
    key_id: String,
    secret: String,
    http: reqwest::Client,
}

impl Till {
    /// Sends a signed request, signed at `timestamp_s`.
    async fn send_at(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timestamp_s: u64,
    ) -> (u16, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let signature = van_signature(self.secret.as_bytes(), timestamp_s, method, path, &bytes);
        self.send_signed(method, path, bytes, timestamp_s, &signature)
            .await
    }

    async fn send_signed(
        &self,
        method: &str,
        path: &str,
        bytes: Vec<u8>,
        timestamp_s: u64,
        signature: &str,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-mileverse-key", &self.key_id)
            .header("x-mileverse-timestamp", timestamp_s.to_string())
            .header("x-mileverse-signature", signature)
            .body(bytes)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.send_at(method, path, body, now_s()).await;
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }

    fn sale(&self, code: &str, amount: u64, van_tx_id: &str, capture: bool) -> Value {
        json!({"terminal_id": self.terminal_id, "pay_code": code, "amount": amount,
               "van_tx_id": van_tx_id, "capture": capture})
    }

    async fn authorize(&self, code: &str, amount: u64, van_tx_id: &str, capture: bool) -> Value {
        let body = self.sale(code, amount, van_tx_id, capture);
        self.ok("POST", "/van/v1/authorizations", Some(&body)).await
    }
}

struct World {
    _server: ServerProcess,
    _data: tempfile::TempDir,
    api: Api,
    phones: u32,
}

/// A member with an enrolled device: id, token, device handle.
struct Payer {
    token: String,
    handles: Vec<String>,
}

impl World {
    async fn start() -> World {
        let data = tempfile::tempdir().expect("tempdir");
        let server = ServerProcess::start(data.path());
        let api = Api {
            base: server.base.clone(),
            http: client(),
        };
        let accounts = json!({"accounts": [{"id": FUNDING_ACCOUNT, "ledger": 1, "code": 999}]});
        api.post("/admin/v1/ledger/accounts", TOKEN, accounts).await;
        World {
            _server: server,
            _data: data,
            api,
            phones: 0,
        }
    }

    async fn payer(&mut self, balance: u64, devices: usize) -> Payer {
        self.phones += 1;
        let phone = format!("0107777{:04}", self.phones);
        let api = &self.api;
        let verification = api
            .post("/v1/verifications", "", json!({"phone": phone}))
            .await;
        let outbox = api
            .get(&format!("/admin/v1/sms-outbox?phone={phone}"), TOKEN)
            .await;
        let sms = text(&outbox["messages"][0]["text"]);
        let code = sms.strip_prefix("[Mileverse] verification code ").unwrap();
        let body = json!({"verification_id": verification["verification_id"], "code": code,
                          "name": "Park Payer", "pin": PIN});
        let member_id = text(&api.post("/v1/members", "", body).await["member_id"]);
        let session = api
            .post("/v1/sessions", "", json!({"phone": phone, "pin": PIN}))
            .await;
        let token = text(&session["token"]);
        let mut handles = Vec::new();
        for _ in 0..devices {
            let device = api
                .post(
                    "/v1/me/devices",
                    &token,
                    json!({"name": "Phone", "platform": "ios"}),
                )
                .await;
            let enrollment = api
                .post(
                    "/v1/me/paycode-devices",
                    &token,
                    json!({"device_id": device["device_id"]}),
                )
                .await;
            handles.push(text(&enrollment["device_handle"]));
        }
        let transfer = json!({"transfers": [{"id": rand::random::<u64>().to_string(),
            "debit_account_id": FUNDING_ACCOUNT, "credit_account_id": member_id,
            "amount": balance.to_string(), "ledger": 1, "code": 5}]});
        let results = api
            .post("/admin/v1/ledger/transfers", TOKEN, transfer)
            .await;
        assert_eq!(results["results"][0]["result"], "ok", "{results}");
        Payer { token, handles }
    }

    /// A server-issued pay code of the payer's device `device`.
    async fn code(&self, payer: &Payer, device: usize) -> String {
        let body = json!({"device_handle": payer.handles[device]});
        text(&self.api.post("/v1/paycodes", &payer.token, body).await["code"])
    }

    async fn balance(&self, payer: &Payer) -> (u64, u64) {
        let body = self.api.get("/v1/me/balances", &payer.token).await;
        let mvp = &body["balances"][0];
        (
            mvp["available"].as_u64().unwrap(),
            mvp["pending"].as_u64().unwrap(),
        )
    }

    async fn merchant(&self, fee_bps: u32) -> String {
        let body = json!({"name": "Seongsu store", "brand": "Blue Cup", "fee_bps": fee_bps});
        text(&self.api.post("/admin/v1/merchants", TOKEN, body).await["merchant_id"])
    }

    async fn till(&self, merchant_id: &str) -> Till {
        let path = format!("/admin/v1/merchants/{merchant_id}/terminals");
        let grant = self.api.post(&path, TOKEN, json!({})).await;
        Till {
            base: self.api.base.clone(),
            terminal_id: text(&grant["terminal_id"]),
            key_id: text(&grant["key_id"]),
            secret: text(&grant["secret"]),
            http: client(),
        }
    }

    async fn payable(&self, merchant_id: &str) -> u64 {
        let merchant = self
            .api
            .get(&format!("/admin/v1/merchants/{merchant_id}"), TOKEN)
            .await;
        merchant["payable"].as_u64().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_sells_holds_captures_and_refunds_and_every_balance_agrees() {
    let mut world = World::start().await;
    let payer = world.payer(20_000, 2).await;
    let merchant = world.merchant(250).await;
    let till = world.till(&merchant).await;
    let code = world.code(&payer, 0).await;
    let sale = till.authorize(&code, 4_500, "pos-0001", true).await;
    assert_eq!(sale["result"], "approved", "{sale}");
    assert_eq!(sale["status"], "captured");
    assert_eq!(sale["approval_no"].as_str().unwrap().len(), 8);
    assert_eq!(sale["decline_reason"], Value::Null);
    assert_eq!(world.balance(&payer).await, (15_500, 0));
    assert_eq!(world.payable(&merchant).await, 4_500);
    // A hold, captured in part, then refunded in part.
    let code = world.code(&payer, 0).await;
    let hold = till.authorize(&code, 8_000, "pos-0002", false).await;
    assert_eq!(hold["status"], "authorized", "{hold}");
    assert_eq!(world.balance(&payer).await, (7_500, 8_000));
    let id = text(&hold["authorization_id"]);
    let captured = till
        .ok(
            "POST",
            &format!("/van/v1/authorizations/{id}/capture"),
            Some(&json!({"amount": 6_000})),
        )
        .await;
    assert_eq!(captured["captured_amount"], 6_000);
    assert_eq!(world.balance(&payer).await, (9_500, 0));
    assert_eq!(world.payable(&merchant).await, 10_500);
    let cancel = json!({"amount": 2_000, "van_tx_id": "pos-0003"});
    let refunded = till
        .ok(
            "POST",
            &format!("/van/v1/authorizations/{id}/cancel"),
            Some(&cancel),
        )
        .await;
    assert_eq!(refunded["refunded_amount"], 2_000, "{refunded}");
    assert_eq!(world.balance(&payer).await, (11_500, 0));
    assert_eq!(world.payable(&merchant).await, 8_500);
    // The refund again (a retry) moves nothing; over the rest is refused.
    // (Signed anew: the same signed bytes twice are a replay.)
    let path = format!("/van/v1/authorizations/{id}/cancel");
    let (status, again) = till
        .send_at("POST", &path, Some(&cancel), now_s() - 1)
        .await;
    assert_eq!(
        (status, &again["refunded_amount"]),
        (200, &json!(2_000)),
        "{again}"
    );
    let over = json!({"amount": 4_001, "van_tx_id": "pos-0004"});
    let (status, problem) = till
        .send_at(
            "POST",
            &format!("/van/v1/authorizations/{id}/cancel"),
            Some(&over),
            now_s(),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(world.balance(&payer).await, (11_500, 0));
    // The status query tells a till that timed out what happened.
    let path = format!(
        "/van/v1/transactions/pos-0002?terminal_id={}",
        till.terminal_id
    );
    let status = till.ok("GET", &path, None).await;
    assert_eq!(status["refunded_amount"], 2_000);
    assert_eq!(status["captured_amount"], 6_000);
    // A used code is declined and moves nothing.
    let used = till.authorize(&code, 100, "pos-0005", true).await;
    assert_eq!(used["result"], "declined");
    assert_eq!(used["decline_reason"], "used_code");
    let broke = till
        .authorize(&world.code(&payer, 1).await, 1_000_000, "pos-0006", true)
        .await;
    assert_eq!(broke["decline_reason"], "insufficient_balance", "{broke}");
    assert_eq!(world.balance(&payer).await, (11_500, 0));
    // The same van_tx_id with another body is a conflict.
    let body = till.sale(&code, 101, "pos-0005", true);
    let (status, problem) = till
        .send_at("POST", "/van/v1/authorizations", Some(&body), now_s())
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        problem["type"],
        "urn:mileverse:problem:idempotency-conflict"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_van_tx_id_sent_32_times_at_once_charges_once() {
    let mut world = World::start().await;
    let payer = world.payer(10_000, 1).await;
    let merchant = world.merchant(0).await;
    let till = world.till(&merchant).await;
    let body = till.sale(&world.code(&payer, 0).await, 700, "burst", true);
    let now = now_s();
    let mut tasks = Vec::new();
    for index in 0..32 {
        let till = till.clone();
        let body = body.clone();
        // Each retry is signed anew (another timestamp), as a POS does.
        tasks.push(tokio::spawn(async move {
            till.send_at("POST", "/van/v1/authorizations", Some(&body), now - index)
                .await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let (status, answer) = task.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"], "approved");
        ids.push(text(&answer["authorization_id"]));
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(world.balance(&payer).await, (9_300, 0));
    assert_eq!(world.payable(&merchant).await, 700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cancel_after_a_lost_answer_leaves_the_balance_whole() {
    let mut world = World::start().await;
    let payer = world.payer(10_000, 1).await;
    let merchant = world.merchant(0).await;
    let till = world.till(&merchant).await;
    // The answer never reached the till: it cancels what it sent.
    till.authorize(&world.code(&payer, 0).await, 3_000, "lost-1", true)
        .await;
    assert_eq!(world.balance(&payer).await, (7_000, 0));
    let cancel = json!({"terminal_id": till.terminal_id, "van_tx_id": "lost-1"});
    let undone = till
        .ok("POST", "/van/v1/network-cancels", Some(&cancel))
        .await;
    assert_eq!(undone["network_cancelled"], true, "{undone}");
    assert_eq!(world.balance(&payer).await, (10_000, 0));
    assert_eq!(world.payable(&merchant).await, 0);
    // The request never arrived: the cancel leaves a tombstone, the late original declines.
    let cancel = json!({"terminal_id": till.terminal_id, "van_tx_id": "lost-2"});
    till.ok("POST", "/van/v1/network-cancels", Some(&cancel))
        .await;
    let late = till
        .authorize(&world.code(&payer, 0).await, 3_000, "lost-2", true)
        .await;
    assert_eq!(late["result"], "declined");
    assert_eq!(late["decline_reason"], "cancelled");
    assert_eq!(world.balance(&payer).await, (10_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_racing_for_one_balance_never_overdraw_it() {
    let mut world = World::start().await;
    let payer = world.payer(10_000, 2).await;
    let merchant = world.merchant(0).await;
    let tills = [world.till(&merchant).await, world.till(&merchant).await];
    let codes = [world.code(&payer, 0).await, world.code(&payer, 1).await];
    let mut tasks = Vec::new();
    for index in 0..2 {
        let till = tills[index].clone();
        let code = codes[index].clone();
        tasks.push(tokio::spawn(async move {
            till.authorize(&code, 7_000, &format!("race-{index}"), true)
                .await
        }));
    }
    let mut approved = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        if answer["result"] == "approved" {
            approved += 1;
        } else {
            assert_eq!(answer["decline_reason"], "insufficient_balance", "{answer}");
        }
    }
    assert_eq!(approved, 1);
    assert_eq!(world.balance(&payer).await, (3_000, 0));
    assert_eq!(world.payable(&merchant).await, 7_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stale_and_replayed_signatures_are_refused() {
    let mut world = World::start().await;
    let payer = world.payer(10_000, 1).await;
    let merchant = world.merchant(0).await;
    let till = world.till(&merchant).await;
    let body = till.sale(&world.code(&payer, 0).await, 500, "sig-1", true);
    let bytes = serde_json::to_vec(&body).unwrap();
    let path = "/van/v1/authorizations";
    let expect = |(status, problem): (u16, Value), want: u16, slug: &str| {
        assert_eq!(status, want, "{problem}");
        assert_eq!(problem["type"], format!("urn:mileverse:problem:{slug}"));
    };
    let now = now_s();
    let wrong = van_signature(b"another secret", now, "POST", path, &bytes);
    expect(
        till.send_signed("POST", path, bytes.clone(), now, &wrong)
            .await,
        401,
        "bad-signature",
    );
    let stale = now - 301;
    let signature = van_signature(till.secret.as_bytes(), stale, "POST", path, &bytes);
    expect(
        till.send_signed("POST", path, bytes.clone(), stale, &signature)
            .await,
        401,
        "stale-request",
    );
    let signature = van_signature(till.secret.as_bytes(), now, "POST", path, &bytes);
    let (status, answer) = till
        .send_signed("POST", path, bytes.clone(), now, &signature)
        .await;
    assert_eq!(status, 200, "{answer}");
    expect(
        till.send_signed("POST", path, bytes.clone(), now, &signature)
            .await,
        401,
        "replayed-request",
    );
    let upper = signature.to_ascii_uppercase();
    expect(
        till.send_signed("POST", path, bytes.clone(), now, &upper)
            .await,
        401,
        "replayed-request",
    );
    assert_eq!(world.balance(&payer).await, (9_500, 0));
    // Another terminal's id in the body, then a disabled terminal.
    let other = world.till(&merchant).await;
    let mut foreign = body.clone();
    foreign["terminal_id"] = json!(other.terminal_id);
    expect(
        till.send_at("POST", path, Some(&foreign), now_s()).await,
        403,
        "terminal-mismatch",
    );
    let change = format!(
        "/admin/v1/merchants/{merchant}/terminals/{}",
        till.terminal_id
    );
    let (status, _) = world
        .api
        .call(
            reqwest::Method::PATCH,
            &change,
            TOKEN,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    expect(
        till.send_at("POST", path, Some(&body), now_s() - 1).await,
        403,
        "terminal-disabled",
    );
}

/// Runs `mileverse pos` as an integrator would: terminal id and secret only.
fn pos(till: &Till, action: &[&str]) -> (i32, Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args([
            "pos",
            "--server",
            &till.base,
            "--terminal",
            &till.terminal_id,
        ])
        .args(["--secret", &till.secret])
        .args(action)
        .output()
        .expect("run mileverse pos");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let answer = serde_json::from_str(&stdout).unwrap_or(Value::String(stdout));
    (output.status.code().unwrap_or(-1), answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pos_client_pays_refunds_part_and_asks_the_status() {
    let mut world = World::start().await;
    let payer = world.payer(30_000, 1).await;
    let merchant_id = world.merchant(250).await;
    let till = world.till(&merchant_id).await;
    let code = world.code(&payer, 0).await;
    let sale = [
        "authorize",
        "--code",
        &code,
        "--amount",
        "12000",
        "--van-tx-id",
        "pos-1",
    ];
    let (exit, answer) = pos(&till, &sale);
    assert_eq!(
        (exit, text(&answer["result"])),
        (0, "approved".into()),
        "{answer}"
    );
    let authorization = text(&answer["authorization_id"]);
    assert_eq!(world.balance(&payer).await, (18_000, 0));
    // The same code again is declined (exit 2), and moves nothing.
    let again = [
        "authorize",
        "--code",
        &code,
        "--amount",
        "1000",
        "--van-tx-id",
        "pos-2",
    ];
    let (exit, answer) = pos(&till, &again);
    assert_eq!(
        (exit, text(&answer["decline_reason"])),
        (2, "used_code".into()),
        "{answer}"
    );
    let refund = [
        "cancel",
        "--authorization",
        &authorization,
        "--amount",
        "2000",
        "--van-tx-id",
        "pos-3",
    ];
    let (exit, answer) = pos(&till, &refund);
    assert_eq!(exit, 0, "{answer}");
    assert_eq!(world.balance(&payer).await, (20_000, 0));
    assert_eq!(world.payable(&merchant_id).await, 10_000);
    let (exit, status) = pos(&till, &["status", "--van-tx-id", "pos-1"]);
    assert_eq!(exit, 0, "{status}");
    assert_eq!(text(&status["authorization_id"]), authorization, "{status}");
    // A wrong secret is refused by the server, and the client says so (exit 1).
    let forged = Till {
        secret: "not-the-secret".into(),
        ..till
    };
    let (exit, problem) = pos(&forged, &["status", "--van-tx-id", "pos-1"]);
    assert_eq!(exit, 1, "{problem}");
}
