//! Paying at the till over HTTP against a real `mileverse serve` (SQLite store): a member's
//! server-issued pay code, a terminal signing exactly as a VAN does, sales, holds, captures,
//! partial refunds, network cancels, the same `van_tx_id` 32 times at once, two tills
//! racing for one balance, and refused signatures. Every balance is read back over HTTP.

mod support;

use ports::signing::van_signature;
use serde_json::{Value, json};
use support::{JsonApi as Api, ServerProcess, TOKEN, client, now_s, text};

const PIN: &str = "135790";
/// The test's funding account in the raw ledger.
const FUNDING_ACCOUNT: &str = "77";

/// A terminal's credentials; signs like a VAN.
#[derive(Clone)]
struct Till {
    base: String,
    terminal_id: String,
    key_id: String,
    secret: String,
    http: reqwest::Client,
    /// Signing as a VAN: the terminal named in `X-Mileverse-Terminal`.
    van_terminal: Option<String>,
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
        let sent = self.try_send_signed(method, path, bytes, timestamp_s, signature);
        sent.await.expect("send")
    }

    /// Like [`Till::send_signed`], with the answer's headers.
    async fn send_signed_with_headers(
        &self,
        method: &str,
        path: &str,
        bytes: Vec<u8>,
        timestamp_s: u64,
        signature: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let sent = self.request_signed(method, path, bytes, timestamp_s, signature);
        let response = sent.send().await.expect("send");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, headers)
    }

    fn request_signed(
        &self,
        method: &str,
        path: &str,
        bytes: Vec<u8>,
        timestamp_s: u64,
        signature: &str,
    ) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-mileverse-key", &self.key_id)
            .header("x-mileverse-timestamp", timestamp_s.to_string())
            .header("x-mileverse-signature", signature);
        if let Some(terminal_id) = &self.van_terminal {
            request = request.header("x-mileverse-terminal", terminal_id);
        }
        request.body(bytes)
    }

    /// Like [`Till::send_signed`], with a transport failure (a server that died) as `Err`.
    async fn try_send_signed(
        &self,
        method: &str,
        path: &str,
        bytes: Vec<u8>,
        timestamp_s: u64,
        signature: &str,
    ) -> reqwest::Result<(u16, Value)> {
        let response = self
            .request_signed(method, path, bytes, timestamp_s, signature)
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
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
    server: Option<ServerProcess>,
    data: tempfile::TempDir,
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
            server: Some(server),
            data,
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
        let member = api.post("/v1/members", "", body).await;
        let member_id = text(&member["member_id"]);
        let login = json!({"phone": phone, "pin": PIN, "device_token": member["device_token"]});
        let session = api.post("/v1/sessions", "", login).await;
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
            van_terminal: None,
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

/// A VAN's one key signs for the tills of the merchants it serves (seed 000 §6-5), never for
/// another merchant's, and only while it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_van_signs_for_the_terminals_of_the_merchants_it_serves() {
    let mut world = World::start().await;
    let payer = world.payer(10_000, 1).await;
    let served = world.merchant(0).await;
    let other = world.merchant(0).await;
    let till = world.till(&served).await;
    let foreign = world.till(&other).await;
    let van = world
        .api
        .post("/admin/v1/vans", TOKEN, json!({"name": "Korea VAN"}))
        .await;
    let serve = |merchant: &str, van_id: Value| {
        let path = format!("/admin/v1/merchants/{merchant}/van");
        let api = &world.api;
        async move {
            let body = json!({"van_id": van_id});
            api.call("PUT", &path, TOKEN, Some(body)).await
        }
    };
    let (status, answer) = serve(&served, van["van_id"].clone()).await;
    assert_eq!(status, 200, "{answer}");
    let as_van = Till {
        key_id: text(&van["key_id"]),
        secret: text(&van["secret"]),
        van_terminal: Some(till.terminal_id.clone()),
        ..till.clone()
    };
    let path = "/van/v1/authorizations";
    let sale = as_van.sale(&world.code(&payer, 0).await, 500, "van-1", true);
    let (status, answer) = as_van.send_at("POST", path, Some(&sale), now_s()).await;
    assert_eq!(
        (status, text(&answer["result"])),
        (200, "approved".into()),
        "{answer}"
    );
    assert_eq!(answer["terminal_id"], json!(till.terminal_id));
    assert_eq!(world.balance(&payer).await, (9_500, 0));
    // Another merchant's till: the VAN does not serve it.
    let stray = Till {
        terminal_id: foreign.terminal_id.clone(),
        van_terminal: Some(foreign.terminal_id.clone()),
        ..as_van.clone()
    };
    let sale = stray.sale(&world.code(&payer, 0).await, 500, "van-2", true);
    let (status, answer) = stray.send_at("POST", path, Some(&sale), now_s()).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["type"], "urn:mileverse:problem:terminal-not-served");
    // A VAN's request names its terminal.
    let unnamed = Till {
        van_terminal: None,
        ..as_van.clone()
    };
    let sale = unnamed.sale(&world.code(&payer, 0).await, 500, "van-3", true);
    let (status, answer) = unnamed.send_at("POST", path, Some(&sale), now_s()).await;
    assert_eq!(status, 401, "{answer}");
    // No longer served: refused.
    let (status, _) = serve(&served, Value::Null).await;
    assert_eq!(status, 200);
    let sale = as_van.sale(&world.code(&payer, 0).await, 500, "van-4", true);
    let (status, answer) = as_van.send_at("POST", path, Some(&sale), now_s()).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(world.balance(&payer).await, (9_500, 0));
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
    // The same bytes again (the till lost the answer): the stored result, marked, and
    // nothing moves twice; a change of the signature's case is the same signature.
    let upper = signature.to_ascii_uppercase();
    for again in [&signature, &upper] {
        let (status, replayed, headers) = till
            .send_signed_with_headers("POST", path, bytes.clone(), now, again)
            .await;
        assert_eq!((status, &replayed), (200, &answer));
        assert_eq!(headers["idempotent-replayed"], "true");
    }
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
        .call("PATCH", &change, TOKEN, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 200);
    // A request never signed before (another van_tx_id), so no replay can be what refuses
    // it, whatever second it is sent in.
    let mut next = body.clone();
    next["van_tx_id"] = json!("sig-2");
    expect(
        till.send_at("POST", path, Some(&next), now_s()).await,
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

/// The ledger balance (credits − debits posted) of a platform system account.
async fn system_balance(world: &World, account_code: u128) -> i128 {
    let id = (1u128 << 127) | account_code;
    let path = format!("/admin/v1/ledger/accounts/{id}");
    let account = world.api.get(&path, TOKEN).await;
    let figure = |name: &str| text(&account[name]).parse::<i128>().unwrap();
    figure("credits_posted") - figure("debits_posted")
}

impl World {
    async fn merchant_of(&self, brand: &str) -> String {
        let body = json!({"name": format!("{brand} store"), "brand": brand, "fee_bps": 250});
        text(&self.api.post("/admin/v1/merchants", TOKEN, body).await["merchant_id"])
    }

    /// A catalogue product of `brand`: an Americano voucher of 4,500 sold for 4,000 MVP.
    async fn product(&self, brand: &str) -> String {
        let body = json!({"brand": brand, "name": "Americano", "face_value": 4_500,
                          "price": 4_000, "validity_days": 93});
        text(
            &self
                .api
                .post("/admin/v1/voucher-products", TOKEN, body)
                .await["product_id"],
        )
    }

    async fn buy(&self, payer: &Payer, product_id: &str, key: &str) -> (u16, Value) {
        let request = self
            .api
            .http
            .post(format!("{}/v1/me/vouchers", self.api.base))
            .bearer_auth(&payer.token)
            .header("idempotency-key", key)
            .json(&json!({"product_id": product_id}));
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

const VOUCHERS_ACCOUNT_CODE: u128 = 800;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_voucher_is_bought_redeemed_once_refunded_and_settled() {
    let mut world = World::start().await;
    let payer = world.payer(10_000, 0).await;
    let merchant_id = world.merchant_of("Blue Cup").await;
    let till = world.till(&merchant_id).await;
    let other_till = world.till(&world.merchant_of("Green Tea").await).await;
    let product_id = world.product("Blue Cup").await;
    let catalogue = world.api.get("/v1/voucher-products", "").await;
    assert_eq!(text(&catalogue["products"][0]["product_id"]), product_id);
    // Bought once under one Idempotency-Key, however often it is sent.
    let (status, voucher) = world.buy(&payer, &product_id, "gift-1").await;
    assert_eq!(status, 201, "{voucher}");
    let (status, again) = world.buy(&payer, &product_id, "gift-1").await;
    assert_eq!(
        (status, &again["voucher_id"]),
        (201, &voucher["voucher_id"])
    );
    assert_eq!(world.balance(&payer).await, (6_000, 0));
    assert_eq!(system_balance(&world, VOUCHERS_ACCOUNT_CODE).await, 4_000);
    let code = text(&voucher["code"]);
    assert!(code.len() == 16 && code.starts_with("92"), "{code}");
    let id = text(&voucher["voucher_id"]);
    for drawing in ["barcode.svg", "qr.svg"] {
        let path = format!("/v1/me/vouchers/{id}/{drawing}");
        let (status, _) = world.api.call("GET", &path, &payer.token, None).await;
        assert_eq!(status, 200, "{path}");
    }
    // Another brand's till declines it; a mistyped code is invalid; nothing moves.
    let elsewhere = other_till.authorize(&code, 4_500, "gt-1", true).await;
    assert_eq!(
        elsewhere["decline_reason"], "voucher_not_accepted",
        "{elsewhere}"
    );
    let mut typo = code.clone().into_bytes();
    typo[9] = b'0' + (typo[9] - b'0' + 1) % 10;
    let typo = String::from_utf8(typo).unwrap();
    let mistyped = till.authorize(&typo, 4_500, "bc-0", true).await;
    assert_eq!(mistyped["decline_reason"], "invalid_code", "{mistyped}");
    // The brand's till takes it through `mileverse pos` for a 5,000 bill: 4,500 covered,
    // 500 paid otherwise; the merchant is owed the 4,000 the member paid.
    let sale = [
        "authorize",
        "--code",
        &code,
        "--amount",
        "5000",
        "--van-tx-id",
        "bc-1",
    ];
    let (exit, paid) = pos(&till, &sale);
    assert_eq!(exit, 0, "{paid}");
    assert_eq!(
        (
            &paid["approved_amount"],
            &paid["paid_other"],
            &paid["captured_amount"]
        ),
        (&json!(4_500), &json!(500), &json!(4_000)),
        "{paid}"
    );
    assert_eq!(text(&paid["voucher"]["voucher_id"]), id, "{paid}");
    assert_eq!(world.payable(&merchant_id).await, 4_000);
    assert_eq!(system_balance(&world, VOUCHERS_ACCOUNT_CODE).await, 0);
    let payments = world
        .api
        .http
        .get(format!("{}/admin/v1/reports/payments.csv", world.api.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sold = payments
        .lines()
        .find(|line| line.contains(",bc-1,"))
        .unwrap();
    assert!(sold.ends_with(&format!(",{id}")), "{sold}");
    let twice = till.authorize(&code, 4_500, "bc-2", true).await;
    assert_eq!(twice["decline_reason"], "used_code", "{twice}");
    let shown = world
        .api
        .get(&format!("/v1/me/vouchers/{id}"), &payer.token)
        .await;
    assert_eq!(shown["status"], "redeemed");
    // The till refunds it whole: the voucher is good again, and is used again.
    let authorization = text(&paid["authorization_id"]);
    let refund = [
        "cancel",
        "--authorization",
        &authorization,
        "--van-tx-id",
        "bc-3",
    ];
    let (exit, refunded) = pos(&till, &refund);
    assert_eq!(
        (exit, &refunded["refunded_amount"]),
        (0, &json!(4_000)),
        "{refunded}"
    );
    assert_eq!(world.payable(&merchant_id).await, 0);
    let shown = world
        .api
        .get(&format!("/v1/me/vouchers/{id}"), &payer.token)
        .await;
    assert_eq!(shown["status"], "active");
    let resold = till.authorize(&code, 4_500, "bc-4", true).await;
    assert_eq!(resold["result"], "approved", "{resold}");
    // A redeemed voucher cannot be cancelled; an unused one can, within 7 days, in full.
    let path = format!("/v1/me/vouchers/{id}/cancel");
    let (status, problem) = world.api.call("POST", &path, &payer.token, None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:mileverse:problem:voucher-state");
    let (_, second) = world.buy(&payer, &product_id, "gift-2").await;
    assert_eq!(world.balance(&payer).await, (2_000, 0));
    let path = format!("/v1/me/vouchers/{}/cancel", text(&second["voucher_id"]));
    let cancelled = world.api.post(&path, &payer.token, json!(null)).await;
    assert_eq!(
        (&cancelled["status"], &cancelled["refund"]),
        (&json!("cancelled"), &json!(4_000))
    );
    assert_eq!(world.balance(&payer).await, (6_000, 0));
    let cancelled_code = text(&cancelled["code"]);
    let dead = till.authorize(&cancelled_code, 4_500, "bc-5", true).await;
    assert_eq!(dead["decline_reason"], "invalid_code", "{dead}");
    // Too little MVP: refused, nothing moves.
    let poor = world.payer(3_999, 0).await;
    let (status, problem) = world.buy(&poor, &product_id, "gift-3").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(world.balance(&poor).await, (3_999, 0));
    assert_eq!(system_balance(&world, VOUCHERS_ACCOUNT_CODE).await, 0);
    // Settlement pays the merchant what the voucher sold for, less its fee.
    let until = ports::time::rfc3339(now_s());
    let run = world
        .api
        .post("/admin/v1/settlements", TOKEN, json!({"until": until}))
        .await;
    let line = &run["lines"][0];
    assert_eq!(
        (&line["gross"], &line["fee"], &line["net"]),
        (&json!(4_000), &json!(100), &json!(3_900)),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_voucher_presented_at_16_tills_at_once_is_redeemed_once() {
    let mut world = World::start().await;
    let payer = world.payer(4_000, 0).await;
    let merchant_id = world.merchant_of("Blue Cup").await;
    let product_id = world.product("Blue Cup").await;
    let (_, voucher) = world.buy(&payer, &product_id, "gift").await;
    let code = text(&voucher["code"]);
    let mut tills = Vec::new();
    for _ in 0..16 {
        tills.push(world.till(&merchant_id).await);
    }
    let mut tasks = Vec::new();
    for (index, till) in tills.into_iter().enumerate() {
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            till.authorize(&code, 4_500, &format!("race-{index}"), true)
                .await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let approved = answers.iter().filter(|a| a["result"] == "approved").count();
    let used = answers
        .iter()
        .filter(|a| a["decline_reason"] == "used_code")
        .count();
    assert_eq!((approved, used), (1, 15), "{answers:?}");
    assert_eq!(world.payable(&merchant_id).await, 4_000);
    assert_eq!(system_balance(&world, VOUCHERS_ACCOUNT_CODE).await, 0);
}

impl World {
    /// SIGKILLs the server (no shutdown code runs) and starts it again on the same data.
    fn kill_and_restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.kill();
        }
        let server = ServerProcess::start(self.data.path());
        self.api.base = server.base.clone();
        self.server = Some(server);
    }
}

/// A crash under till load: 16 tills send 96 sales at once (each with a pay code of its
/// own) and the server is SIGKILLed once a third are answered. After the restart every
/// sale that was approved is captured once, under its `van_tx_id`; every other is either
/// captured (committed, its answer lost) or unknown; and the ledger moved exactly the
/// captured sales: each wallet lost what its captured sales took, the payable holds their
/// sum, and nothing else moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_under_till_load_keeps_every_approved_sale_once_and_nothing_else() {
    const PAYERS: usize = 12;
    const DEVICES: usize = 8;
    const BALANCE: u64 = 100_000;
    let mut world = World::start().await;
    let merchant = world.merchant(0).await;
    let till = world.till(&merchant).await;
    let mut payers = Vec::new();
    let mut sales = Vec::new();
    for payer_index in 0..PAYERS {
        let payer = world.payer(BALANCE, DEVICES).await;
        for device in 0..DEVICES {
            let code = world.code(&payer, device).await;
            let amount = 1_000 + 10 * sales.len() as u64;
            sales.push((payer_index, format!("load-{}", sales.len()), code, amount));
        }
        payers.push(payer);
    }
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for (_, van_tx_id, code, amount) in sales.clone() {
        let (till, answered, gate) = (till.clone(), answered.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let body = serde_json::to_vec(&till.sale(&code, amount, &van_tx_id, true)).unwrap();
            let (path, now) = ("/van/v1/authorizations", now_s());
            let signature = van_signature(till.secret.as_bytes(), now, "POST", path, &body);
            let answer = till
                .try_send_signed("POST", path, body, now, &signature)
                .await;
            let approved = match answer {
                Ok((200, value)) if value["result"] == "approved" => {
                    Some(text(&value["authorization_id"]))
                }
                _ => None,
            };
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            approved
        }));
    }
    while answered.load(std::sync::atomic::Ordering::SeqCst) < sales.len() / 3 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let server = world.server.take().unwrap();
    server.kill();
    let mut approved = Vec::new();
    for task in tasks {
        approved.push(task.await.unwrap());
    }
    assert!(
        approved.iter().any(Option::is_some),
        "some sales were approved before the kill"
    );
    world.kill_and_restart();
    let till = Till {
        base: world.api.base.clone(),
        ..till
    };
    let mut spent = vec![0u64; PAYERS];
    for ((payer_index, van_tx_id, _, amount), approved) in sales.iter().zip(&approved) {
        let path = format!(
            "/van/v1/transactions/{van_tx_id}?terminal_id={}",
            till.terminal_id
        );
        let (status, value) = till.send_at("GET", &path, None, now_s()).await;
        match (status, approved) {
            (200, _) => {
                assert_eq!(value["status"], "captured", "{van_tx_id}: {value}");
                if let Some(id) = approved {
                    assert_eq!(text(&value["authorization_id"]), *id, "{van_tx_id}");
                }
                spent[*payer_index] += amount;
            }
            (404, None) => {}
            (status, approved) => panic!("{van_tx_id}: {status} {value}, approved {approved:?}"),
        }
    }
    let captured = spent.iter().filter(|spent| **spent > 0).count();
    assert!(captured > 0, "some sales were captured");
    let unknown = approved.iter().filter(|id| id.is_none()).count();
    assert!(unknown > 0, "the kill cut the load short");
    for (payer, spent) in payers.iter().zip(&spent) {
        assert_eq!(world.balance(payer).await, (BALANCE - spent, 0));
    }
    assert_eq!(world.payable(&merchant).await, spent.iter().sum::<u64>());
}
