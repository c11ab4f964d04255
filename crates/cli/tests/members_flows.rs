//! Members, partners and the mileage exchange over HTTP, against the real binaries: a
//! `mileverse serve` child and a `mileverse partner-sim` child, on SQLite and on PostgreSQL.
//!
//! Every flow is one `async fn` run twice (module `<flow>`, tests `sqlite` and `postgres`).
//! The PostgreSQL runs need MILEVERSE_TEST_DATABASE_URL (`bash scripts/test.sh` sets it); they
//! fail without it.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ports::signing::{self, SignedParts};
use reqwest::Method;

use serde_json::{Value, json};
use support::{Backend, ServerProcess, SimProcess, TOKEN, mileverse_with, now_s, text};

/// The secret the simulator and every partner registered here share.
const SIM_SECRET: &str = "members-flows-shared-secret";
/// A PIN that passes the rules (6 digits, not one digit, not a straight run).
const PIN: &str = "135790";
const OTHER_PIN: &str = "246813";
/// Mileage of every simulated member the first time it is seen.
const INITIAL_MILEAGE: u64 = 1_000_000;
/// Longest one flow may take before the test fails.
const FLOW_DEADLINE: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Backends and the world of one flow

on_both_backends!(
    readme_journey,
    linking_needs_the_partners_proof,
    every_refusal_moves_nothing,
    security,
    restart_keeps_everything,
    withdrawal,
    transaction_paging,
    abuse_limits,
    p2p_transfers,
    asset_conversions,
    price_feed,
    escrow_trades,
    prepaid_partner,
    trading_rewards,
);

async fn run(flow: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(FLOW_DEADLINE, flow)
        .await
        .expect("the flow did not finish in time");
}

/// A server, a partner simulator and the data directory of one flow.
struct World {
    _directory: tempfile::TempDir,
    data: PathBuf,
    store: Vec<String>,
    server: Option<ServerProcess>,
    sim: SimProcess,
    api: Api,
}

impl World {
    fn start(backend: Backend, name: &str, serve: &[&str]) -> World {
        let directory = tempfile::tempdir().expect("tempdir");
        let data = directory.path().join("data");
        let store = backend.options(&format!("mf_{name}"));
        let sim = SimProcess::start(SIM_SECRET);
        let mut world = World {
            _directory: directory,
            data,
            store,
            server: None,
            sim,
            api: Api::new(String::new()),
        };
        world.start_server(serve);
        world
    }

    fn start_server(&mut self, serve: &[&str]) {
        assert!(self.server.is_none(), "the server runs already");
        let mut extra = self.store.clone();
        extra.extend(serve.iter().map(|s| s.to_string()));
        let server = ServerProcess::start_with(&self.data, &extra);
        self.api = Api::new(server.base.clone());
        self.server = Some(server);
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_server(&mut self) {
        self.server.take().expect("a running server").kill();
    }

    fn sim(&self) -> Sim {
        Sim {
            base: self.sim.base.clone(),
            http: support::client(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP helpers

struct Reply {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
    what: String,
}

impl Reply {
    /// The body, after checking the status.
    #[track_caller]
    fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "{}: expected {status}, got {} {}",
            self.what, self.status, self.text
        );
        &self.body
    }

    /// Checks that this is the problem `slug` with `status`; returns its body.
    #[track_caller]
    fn problem(&self, status: u16, slug: &str) -> &Value {
        assert_eq!(
            (self.status, self.body["type"].as_str()),
            (
                status,
                Some(format!("urn:mileverse:problem:{slug}").as_str())
            ),
            "{}: {}",
            self.what,
            self.text
        );
        assert!(
            self.content_type.starts_with("application/problem+json"),
            "{}: content type {}",
            self.what,
            self.content_type
        );
        assert_eq!(self.body["status"], status, "{}", self.what);
        &self.body
    }
}

#[derive(Clone)]
struct Api {
    base: String,
    http: reqwest::Client,
    /// The device token each phone's member gave this client (by its digits).
    devices: Arc<Mutex<HashMap<String, String>>>,
}

/// A phone's key in [`Api::devices`]: its national digits.
fn phone_key(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("82") {
        Some(national) => format!("0{national}"),
        None => digits,
    }
}

impl Api {
    fn new(base: String) -> Api {
        Api {
            base,
            http: support::client(),
            devices: Arc::default(),
        }
    }

    fn keep_device(&self, phone: &str, token: &Value) {
        let mut devices = self.devices.lock().expect("devices lock");
        devices.insert(phone_key(phone), text(token));
    }

    fn device(&self, phone: &str) -> Option<String> {
        let devices = self.devices.lock().expect("devices lock");
        devices.get(&phone_key(phone)).cloned()
    }

    /// One request; `token` is a bearer token ("" for none).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        reply_of(response, what).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None, &[]).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body), &[]).await
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body), &[]).await
    }

    async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, token, None, &[]).await
    }

    async fn raw_post(&self, path: &str, token: &str, body: &'static str) -> Reply {
        let what = format!("POST {path} (raw)");
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        reply_of(response, what).await
    }
}

async fn reply_of(response: reqwest::Response, what: String) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
    };
    Reply {
        status,
        content_type,
        headers,
        text,
        body,
        what,
    }
}

/// The simulator's unsigned control surface.
struct Sim {
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("sim control surface");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.expect("sim JSON")
    }

    async fn mileage(&self, member_ref: &str) -> u64 {
        let member = self.get(&format!("/sim/v1/members/{member_ref}")).await;
        member["mileage"].as_u64().expect("mileage")
    }

    async fn debits(&self) -> Vec<Value> {
        let debits = self.get("/sim/v1/debits").await;
        debits["debits"].as_array().expect("debits").clone()
    }

    async fn debit_requests(&self) -> u64 {
        let stats = self.get("/sim/v1/stats").await;
        stats["requests"]["debit"].as_u64().expect("debit count")
    }
}

// ---------------------------------------------------------------------------------------
// Business helpers

/// The last code the dev SMS outbox holds for `phone`.
async fn last_code(api: &Api, phone: &str) -> String {
    let outbox = api
        .get(&format!("/admin/v1/sms-outbox?phone={phone}"), TOKEN)
        .await;
    let message = &outbox.expect(200)["messages"][0];
    let sms = text(&message["text"]);
    let code = sms
        .strip_prefix("[Mileverse] verification code ")
        .unwrap_or_else(|| panic!("unexpected SMS {sms:?}"));
    assert_eq!(code.len(), 6, "{sms}");
    code.to_string()
}

/// Asks for a verification code for `phone`; returns the verification id and the code.
async fn verify_phone(api: &Api, phone: &str) -> (String, String) {
    let reply = api
        .post("/v1/verifications", "", json!({ "phone": phone }))
        .await;
    let body = reply.expect(201);
    assert!(body["expires_in_s"].as_u64().expect("expires_in_s") > 0);
    let id = text(&body["verification_id"]);
    (id, last_code(api, phone).await)
}

/// Signs up a member (the client keeps the device token); returns the member id.
async fn sign_up(api: &Api, phone: &str, name: &str, pin: &str) -> String {
    let (verification_id, code) = verify_phone(api, phone).await;
    let body = json!({"verification_id": verification_id, "code": code, "name": name, "pin": pin});
    let reply = api.post("/v1/members", "", body).await;
    let member = reply.expect(201);
    api.keep_device(phone, &member["device_token"]);
    text(&member["member_id"])
}

/// Logs in from this client's device, proving it by SMS first if it has no token; returns
/// the session token.
async fn log_in(api: &Api, phone: &str, pin: &str) -> String {
    let body = log_in_reply(api, phone, pin).await.expect(201).clone();
    assert!(body["expires_at"].is_string(), "{body}");
    assert!(body["session_id"].is_string(), "{body}");
    if body.get("device_token").is_some() {
        api.keep_device(phone, &body["device_token"]);
    }
    text(&body["token"])
}

async fn log_in_reply(api: &Api, phone: &str, pin: &str) -> Reply {
    let body = match api.device(phone) {
        Some(device_token) => json!({"phone": phone, "pin": pin, "device_token": device_token}),
        None => sms_login_body(api, phone, pin).await,
    };
    api.post("/v1/sessions", "", body).await
}

/// A login body proving the device by a code sent to the phone now.
async fn sms_login_body(api: &Api, phone: &str, pin: &str) -> Value {
    let (verification_id, code) = verify_phone(api, phone).await;
    json!({"phone": phone, "pin": pin, "verification_id": verification_id, "code": code})
}

/// Signs up and logs in; returns the member id and a session token.
async fn member(api: &Api, phone: &str, name: &str) -> (String, String) {
    let id = sign_up(api, phone, name, PIN).await;
    let token = log_in(api, phone, PIN).await;
    (id, token)
}

/// Registers a partner served by the simulator; `extra` adds fields (limits, ...).
async fn partner(api: &Api, sim: &str, name: &str, num: u64, den: u64, extra: Value) -> String {
    let mut body = json!({
        "name": name, "rate_num": num, "rate_den": den,
        "api_base_url": sim, "secret": SIM_SECRET,
    });
    for (field, value) in extra.as_object().expect("extra fields") {
        body[field] = value.clone();
    }
    let reply = api.post("/admin/v1/partners", TOKEN, body).await;
    text(&reply.expect(201)["partner_id"])
}

/// Links a membership the way a member does (asks, signs in at the simulator, proves);
/// returns the active link's id (and checks the balance the partner answered).
async fn link(api: &Api, token: &str, partner_id: &str, member_ref: &str, balance: u64) -> String {
    let reply = link_reply(api, token, partner_id, member_ref).await;
    let body = reply.expect(200);
    assert_eq!(body["status"], "active", "{body}");
    assert_eq!(body["balance"], balance, "{body}");
    text(&body["link_id"])
}

/// The proof's answer of a link made with the simulator's default password.
async fn link_reply(api: &Api, token: &str, partner_id: &str, member_ref: &str) -> Reply {
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    let response = support::link_with_proof(
        &api.http, &api.base, token, partner_id, member_ref, password,
    )
    .await;
    let what = format!("the proof of a link of {member_ref}");
    reply_of(response, what).await
}

async fn exchange(api: &Api, token: &str, link_id: &str, mileage: u64, key: Option<&str>) -> Reply {
    let body = json!({"link_id": link_id, "mileage": mileage});
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    api.call(Method::POST, "/v1/exchanges", token, Some(body), &headers)
        .await
}

/// An exchange that must complete; returns its body.
async fn completed_exchange(api: &Api, token: &str, link_id: &str, mileage: u64) -> Value {
    let reply = exchange(api, token, link_id, mileage, None).await;
    let body = reply.expect(200).clone();
    assert_eq!(body["status"], "completed", "{body}");
    body
}

/// (available, pending) MVP.
async fn balance(api: &Api, token: &str) -> (u64, u64) {
    let reply = api.get("/v1/me/balances", token).await;
    let body = reply.expect(200);
    let balances = body["balances"].as_array().expect("balances");
    let assets: Vec<&str> = balances
        .iter()
        .filter_map(|line| line["asset"].as_str())
        .collect();
    assert_eq!(assets, ["MVP", "TTC", "BTC", "ETH", "USDT"], "{body}");
    (
        balances[0]["available"].as_u64().expect("available"),
        balances[0]["pending"].as_u64().expect("pending"),
    )
}

async fn transactions(api: &Api, token: &str, query: &str) -> Value {
    let reply = api.get(&format!("/v1/me/transactions{query}"), token).await;
    reply.expect(200).clone()
}

/// The `state` a link attempt's `authorize_url` carries.
fn state_of(attempt: &Value) -> String {
    let url = reqwest::Url::parse(&text(&attempt["authorize_url"])).expect("a URL");
    let state = url.query_pairs().find(|(name, _)| name == "state");
    state.expect("a state").1.into_owned()
}

/// The reference the partner was sent for an exchange: its id as 32 hex digits.
fn reference_of(exchange_id: &str) -> String {
    format!("{:032x}", exchange_id.parse::<u128>().expect("decimal id"))
}

/// A signed `GET /partner/v1/...` as a partner sends it.
struct PartnerCall<'a> {
    key: &'a str,
    secret: &'a [u8],
    path: String,
    timestamp_s: u64,
    nonce: String,
    /// Signs this path instead of `path` (a signature for another request).
    signed_path: Option<String>,
    /// Replaces the signature.
    signature: Option<String>,
}

impl<'a> PartnerCall<'a> {
    fn new(key: &'a str, secret: &'a [u8], reference: &str) -> PartnerCall<'a> {
        PartnerCall {
            key,
            secret,
            path: format!("/partner/v1/exchanges/{reference}"),
            timestamp_s: now_s(),
            nonce: signing::new_nonce(),
            signed_path: None,
            signature: None,
        }
    }

    async fn send(&self, api: &Api) -> Reply {
        let signed_path = self.signed_path.as_deref().unwrap_or(&self.path);
        let parts = SignedParts {
            timestamp_s: self.timestamp_s,
            nonce: &self.nonce,
            method: "GET",
            path: signed_path,
            body: b"",
        };
        let signature = self
            .signature
            .clone()
            .unwrap_or_else(|| signing::sign_request(self.secret, &parts));
        let timestamp = self.timestamp_s.to_string();
        let headers = [
            ("X-Mileverse-Key", self.key),
            ("X-Mileverse-Timestamp", timestamp.as_str()),
            ("X-Mileverse-Nonce", self.nonce.as_str()),
            ("X-Mileverse-Signature", signature.as_str()),
        ];
        api.call(Method::GET, &self.path, "", None, &headers).await
    }

    /// Checks the answer's signature: bound to this request's nonce, method and path.
    #[track_caller]
    fn assert_signed(&self, reply: &Reply) {
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{}: no {name} header", reply.what))
                .to_string()
        };
        let timestamp_s: u64 = header("x-mileverse-timestamp").parse().expect("timestamp");
        assert!(timestamp_s.abs_diff(now_s()) <= 5, "answer timestamp");
        let parts = SignedParts {
            timestamp_s,
            nonce: &self.nonce,
            method: "GET",
            path: &self.path,
            body: reply.text.as_bytes(),
        };
        let signature = header("x-mileverse-signature");
        assert!(
            signing::verify_response(self.secret, &parts, reply.status, &signature),
            "{}: the answer signature does not verify",
            reply.what
        );
    }
}

/// Every balance and partner mileage a refusal must leave alone.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    balances: Vec<(u64, u64)>,
    mileage: Vec<u64>,
    debits: usize,
    transactions: Vec<usize>,
}

async fn snapshot(api: &Api, sim: &Sim, tokens: &[&str], refs: &[&str]) -> Snapshot {
    let mut snapshot = Snapshot {
        balances: Vec::new(),
        mileage: Vec::new(),
        debits: sim
            .debits()
            .await
            .iter()
            .filter(|d| d["status"] == "debited")
            .count(),
        transactions: Vec::new(),
    };
    for token in tokens {
        snapshot.balances.push(balance(api, token).await);
        let lines = transactions(api, token, "?limit=100").await;
        snapshot
            .transactions
            .push(lines["transactions"].as_array().expect("lines").len());
    }
    for member_ref in refs {
        snapshot.mileage.push(sim.mileage(member_ref).await);
    }
    snapshot
}

/// Checks refusals against a snapshot taken before them.
struct Unchanged<'a> {
    api: &'a Api,
    sim: &'a Sim,
    tokens: &'a [&'a str],
    refs: &'a [&'a str],
    before: &'a Snapshot,
}

impl Unchanged<'_> {
    /// Checks that `reply` is the problem `slug` and that nothing moved; returns the problem.
    async fn refused(&self, reply: Reply, status: u16, slug: &str) -> Value {
        let problem = reply.problem(status, slug).clone();
        let now = snapshot(self.api, self.sim, self.tokens, self.refs).await;
        assert_eq!(&now, self.before, "something moved after {slug}: {problem}");
        problem
    }
}

// ---------------------------------------------------------------------------------------
// 1. The README journey

async fn readme_journey(backend: Backend) {
    let world = World::start(backend, "journey", &[]);
    let api = &world.api;
    let sim = world.sim();

    // The operator registers a partner at 7 MVP per 10 mileage.
    let partner_id = partner(api, &world.sim.base, "Sky Air", 7, 10, json!({})).await;
    let partners = api.get("/v1/partners", "").await;
    let listed = &partners.expect(200)["partners"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["partner_id"], partner_id.as_str());
    assert_eq!(listed[0]["name"], "Sky Air");
    assert_eq!(
        (&listed[0]["rate_num"], &listed[0]["rate_den"]),
        (&json!(7), &json!(10))
    );
    // A rate announced for later does not apply now.
    let later = json!({"rate_num": 1, "rate_den": 1, "effective_from": now_s() + 3600});
    let rated = api
        .post(
            &format!("/admin/v1/partners/{partner_id}/rates"),
            TOKEN,
            later,
        )
        .await;
    let rated = rated.expect(201);
    assert_eq!(
        (&rated["rate_num"], &rated["rate_den"]),
        (&json!(7), &json!(10))
    );
    assert_eq!(rated["rates"].as_array().map(Vec::len), Some(2), "{rated}");

    // A member verifies the phone, signs up and logs in.
    let phone = "010-2345-6789";
    let member_id = sign_up(api, phone, "Kim Minji", PIN).await;
    let device_token = api.device(phone).expect("the sign-up's device token");
    let login = api
        .post(
            "/v1/sessions",
            "",
            json!({"phone": "+82 10 2345 6789", "pin": PIN, "device_token": device_token}),
        )
        .await;
    let login = login.expect(201);
    assert_eq!(login["member_id"], member_id.as_str());
    let token = text(&login["token"]);

    let me = api.get("/v1/me", &token).await;
    let me = me.expect(200);
    assert_eq!(me["member_id"], member_id.as_str());
    assert_eq!(me["name"], "Kim Minji");
    assert_eq!(me["phone"], "+821023456789");
    assert_eq!(me["status"], "active");
    let renamed = api
        .patch("/v1/me", &token, json!({"name": "Kim Min-ji"}))
        .await;
    assert_eq!(renamed.expect(200)["name"], "Kim Min-ji");
    let device = api
        .post(
            "/v1/me/devices",
            &token,
            json!({"name": "Minji's phone", "platform": "ios"}),
        )
        .await;
    let device_id = text(&device.expect(201)["device_id"]);
    let me = api.get("/v1/me", &token).await;
    let me = me.expect(200);
    assert_eq!(me["name"], "Kim Min-ji");
    assert_eq!(me["devices"][0]["device_id"], device_id.as_str(), "{me}");
    let device_path = format!("/v1/me/devices/{device_id}");
    api.delete(&device_path, &token).await.expect(204);
    api.delete(&device_path, &token)
        .await
        .problem(404, "not-found");
    assert_eq!(balance(api, &token).await, (0, 0));

    // The member links a membership: the balance comes live from the partner.
    let link_id = link(api, &token, &partner_id, "SKY-0001", INITIAL_MILEAGE).await;
    let links = api.get("/v1/me/partner-links", &token).await;
    let links = &links.expect(200)["links"];
    assert_eq!(links.as_array().map(Vec::len), Some(1), "{links}");
    assert_eq!(links[0]["link_id"], link_id.as_str());
    assert_eq!(links[0]["partner_id"], partner_id.as_str());
    assert_eq!(links[0]["partner_name"], "Sky Air");
    assert_eq!(links[0]["partner_member_ref"], "SKY-0001");
    assert_eq!(links[0]["balance"], INITIAL_MILEAGE);
    assert!(links[0]["balance_error"].is_null(), "{links}");

    // 10,000 mileage at 7/10 → 7,000 MVP.
    let first = exchange(api, &token, &link_id, 10_000, Some("journey-1")).await;
    assert!(
        first.headers.get("idempotent-replayed").is_none(),
        "a first request is no replay"
    );
    let done = first.expect(200).clone();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["mvp"], 7000);
    assert_eq!(done["mileage"], 10_000);
    assert_eq!(
        (&done["rate_num"], &done["rate_den"]),
        (&json!(7), &json!(10))
    );
    assert!(done["failure"].is_null(), "{done}");
    let exchange_id = text(&done["exchange_id"]);
    let reference = text(&done["reference"]);
    assert_eq!(reference, reference_of(&exchange_id));

    assert_eq!(balance(api, &token).await, (7000, 0));
    let lines = transactions(api, &token, "").await;
    let lines = lines["transactions"].as_array().expect("lines").clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["reason"], "exchange");
    assert_eq!(line["asset"], "MVP");
    assert_eq!(line["amount"], 7000);
    assert_eq!(line["balance_after"], 7000);
    assert_eq!(line["pending"], false);
    assert_eq!(line["reference"], exchange_id.as_str());
    assert_eq!(sim.mileage("SKY-0001").await, INITIAL_MILEAGE - 10_000);

    // The same request again (same key, same body) is the same exchange: no second debit.
    let again = exchange(api, &token, &link_id, 10_000, Some("journey-1")).await;
    let replayed = again.headers.get("idempotent-replayed");
    assert_eq!(replayed.and_then(|v| v.to_str().ok()), Some("true"));
    let again = again.expect(200);
    assert_eq!(again["exchange_id"], exchange_id.as_str());
    assert_eq!(again["status"], "completed");
    let debits = sim.debits().await;
    assert_eq!(debits.len(), 1, "{debits:?}");
    assert_eq!(debits[0]["reference"], reference.as_str());
    assert_eq!(debits[0]["status"], "debited");
    assert_eq!(debits[0]["mileage"], 10_000);
    assert_eq!(sim.debit_requests().await, 1);
    assert_eq!(sim.mileage("SKY-0001").await, INITIAL_MILEAGE - 10_000);
    assert_eq!(balance(api, &token).await, (7000, 0));

    let state = api
        .get(&format!("/v1/exchanges/{exchange_id}"), &token)
        .await;
    let state = state.expect(200);
    assert_eq!(state["status"], "completed");
    assert_eq!(state["link_id"], link_id.as_str());
    assert!(state["finished_at"].is_string(), "{state}");
    let links = api.get("/v1/me/partner-links", &token).await;
    assert_eq!(
        links.expect(200)["links"][0]["balance"],
        INITIAL_MILEAGE - 10_000
    );

    // The operator's views.
    let listed = api.get("/admin/v1/exchanges?status=completed", TOKEN).await;
    let listed = listed.expect(200);
    assert_eq!(listed["exchanges"][0]["exchange_id"], exchange_id.as_str());
    assert_eq!(listed["exchanges"][0]["member_id"], member_id.as_str());
    assert_eq!(listed["counts"]["completed"], 1, "{listed}");
    assert_eq!(listed["counts"]["requested"], 0, "{listed}");
    let shown = api
        .get(&format!("/admin/v1/partners/{partner_id}"), TOKEN)
        .await;
    let shown = shown.expect(200);
    assert_eq!(shown["issued_mvp"], 7000);
    assert_eq!(shown["reserved_mvp"], 0);

    let report = api.get("/admin/v1/reports/exchanges", TOKEN).await;
    let report = &report.expect(200)["partners"];
    assert_eq!(report.as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report[0]["partner_id"], partner_id.as_str());
    assert_eq!(report[0]["partner_name"], "Sky Air");
    assert_eq!(report[0]["exchanges"], 1);
    assert_eq!(report[0]["mileage"], 10_000);
    assert_eq!(report[0]["mvp_issued"], 7000);
    let past = api
        .get("/admin/v1/reports/exchanges?from=1&to=2", TOKEN)
        .await;
    assert_eq!(past.expect(200)["partners"], json!([]));

    let csv = api
        .get(
            &format!("/admin/v1/reports/exchanges.csv?partner_id={partner_id}"),
            TOKEN,
        )
        .await;
    csv.expect(200);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let rows: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        rows[0],
        "exchange_id,reference,partner_id,partner_name,partner_member_ref,mileage,rate_num,rate_den,mvp,created_at,completed_at"
    );
    assert_eq!(rows.len(), 2, "{}", csv.text);
    let fields: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(
        fields[..9],
        [
            exchange_id.as_str(),
            reference.as_str(),
            partner_id.as_str(),
            "Sky Air",
            "SKY-0001",
            "10000",
            "7",
            "10",
            "7000"
        ]
    );
    assert!(
        !fields[9].is_empty() && !fields[10].is_empty(),
        "{}",
        rows[1]
    );

    let reconciled = api
        .post(
            &format!("/admin/v1/partners/{partner_id}/reconciliation"),
            TOKEN,
            json!({}),
        )
        .await;
    let reconciled = reconciled.expect(200);
    assert_eq!(reconciled["checked"], 1, "{reconciled}");
    assert_eq!(reconciled["matched"], 1, "{reconciled}");
    assert_eq!(reconciled["unreachable"], 0, "{reconciled}");
    assert_eq!(reconciled["mismatches"], json!([]));
    // It is kept: the partner's reconciliations list it, newest first.
    let kept = api
        .get(
            &format!("/admin/v1/partners/{partner_id}/reconciliations"),
            TOKEN,
        )
        .await;
    let kept = kept.expect(200);
    assert_eq!(
        kept["reconciliations"][0]["reconciliation_id"], reconciled["reconciliation_id"],
        "{kept}"
    );
    assert_eq!(kept["reconciliations"][0]["matched"], 1, "{kept}");
    assert_eq!(kept["next_cursor"], Value::Null);

    // The dashboard's volume: today's KST day holds the exchange's 7,000 MVP, Sky Air
    // tops the partners, and a period longer than 93 days is refused.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let path = format!(
        "/admin/v1/reports/volume?from={}&to={}",
        now - 86_400,
        now + 60
    );
    let volume = api.get(&path, TOKEN).await;
    let volume = volume.expect(200);
    let days = volume["days"].as_array().unwrap();
    let exchanged: u64 = days
        .iter()
        .map(|d| d["exchanged_mvp"].as_u64().unwrap())
        .sum();
    assert_eq!(exchanged, 7000, "{volume}");
    assert!(days.len() == 2 || days.len() == 3, "{volume}");
    assert_eq!(volume["top_partners"][0]["name"], "Sky Air", "{volume}");
    assert_eq!(volume["top_partners"][0]["mvp_issued"], 7000, "{volume}");
    let path = format!("/admin/v1/reports/volume?from=0&to={}", 94 * 86_400);
    assert_eq!(api.get(&path, TOKEN).await.status, 400);

    // The server verifies its ledger from the first block and keeps the outcome.
    let none = api
        .get("/admin/v1/ledger/verifications/latest", TOKEN)
        .await;
    assert_eq!(none.status, 404, "{}", none.text);
    let verified = api
        .post("/admin/v1/ledger/verifications", TOKEN, json!({}))
        .await;
    let verified = verified.expect(201).clone();
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(verified["tree_size"].as_u64().unwrap() >= 1, "{verified}");
    let latest = api
        .get("/admin/v1/ledger/verifications/latest", TOKEN)
        .await;
    assert_eq!(
        latest.expect(200)["verification_id"],
        verified["verification_id"]
    );

    // The partner asks about the exchange on its signed endpoint.
    let call = PartnerCall::new(&partner_id, SIM_SECRET.as_bytes(), &reference);
    let answer = call.send(api).await;
    let body = answer.expect(200).clone();
    call.assert_signed(&answer);
    assert_eq!(body["reference"], reference.as_str());
    assert_eq!(body["status"], "completed");
    assert_eq!(body["partner_member_ref"], "SKY-0001");
    assert_eq!(body["mileage"], 10_000);
    assert_eq!(body["mvp"], 7000);
}

// ---------------------------------------------------------------------------------------
// 2. Every refusal, and nothing moves

/// The defect and its fix over HTTP: posting someone's ref links nothing and moves
/// nothing; the link is active only after the member signed in at the partner (the real
/// simulator, followed with a browser that does not follow redirects) and sent the proof;
/// a proof that is not this attempt's is refused; refs are the partner's canonical ones.
async fn linking_needs_the_partners_proof(backend: Backend) {
    let world = World::start(backend, "proof", &[]);
    let api = &world.api;
    let sim = world.sim();
    let sky = partner(api, &world.sim.base, "Sky Air", 1, 5, json!({})).await;
    let (_, attacker) = member(api, "010-5000-0001", "Mallory").await;
    let (_, owner) = member(api, "010-5000-0002", "Owner").await;

    // The attacker posts the owner's ref: a pending attempt, nothing linked or asked.
    let body = json!({"partner_id": sky, "partner_member_ref": "OWNER-1"});
    let reply = api.post("/v1/me/partner-links", &attacker, body).await;
    let attempt = reply.expect(201).clone();
    assert_eq!(attempt["status"], "pending_proof", "{attempt}");
    assert!(attempt["expires_at"].is_string(), "{attempt}");
    assert!(
        attempt.get("balance").is_none(),
        "no oracle of the partner's balance: {attempt}"
    );
    let authorize_url = text(&attempt["authorize_url"]);
    let url = reqwest::Url::parse(&authorize_url).expect("a URL");
    assert!(authorize_url.starts_with(&format!("{}/oauth/authorize?", world.sim.base)));
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], sky);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["login_hint"], "OWNER-1");
    assert!(
        query["redirect_uri"].ends_with("/app/partner-links/callback"),
        "{query:?}"
    );
    assert!(
        query["state"].len() >= 22 && query["code_challenge"].len() == 43,
        "{query:?}"
    );
    let attempt_id = text(&attempt["link_id"]);
    exchange(api, &attacker, &attempt_id, 200_000, None)
        .await
        .problem(409, "link-not-proven");
    let made_up = json!({"state": query["state"], "code": "made-up"});
    let proof_path = format!("/v1/me/partner-links/{attempt_id}/proof");
    api.post(&proof_path, &attacker, made_up)
        .await
        .problem(400, "link-proof-invalid");
    let links = api.get("/v1/me/partner-links", &attacker).await;
    assert_eq!(links.expect(200)["links"], json!([]), "nothing linked");
    assert_eq!(sim.mileage("OWNER-1").await, INITIAL_MILEAGE);
    assert_eq!(balance(api, &attacker).await, (0, 0));

    // The owner: asks, signs in at the partner, proves. Typed in lower case, linked as the
    // partner's canonical upper case.
    let body = json!({"partner_id": sky, "partner_member_ref": "owner-1"});
    let attempt = api.post("/v1/me/partner-links", &owner, body).await;
    let attempt = attempt.expect(201).clone();
    let pending = api.get("/v1/me/partner-links", &owner).await;
    let pending = pending.expect(200)["links"][0].clone();
    assert_eq!(pending["status"], "pending_proof", "{pending}");
    assert!(pending["balance"].is_null(), "{pending}");
    // Another member cannot post the owner's proof, nor reuse it.
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    let stolen = support::prove_at_sim(
        &api.http, &api.base, &attacker, &attempt, "owner-1", password,
    )
    .await;
    reply_of(stolen, "a proof for another member's link".into())
        .await
        .problem(404, "unknown-link");
    let proof =
        support::prove_at_sim(&api.http, &api.base, &owner, &attempt, "owner-1", password).await;
    let proven = reply_of(proof, "the owner's proof".into()).await;
    let proven = proven.expect(200).clone();
    assert_eq!(proven["status"], "active", "{proven}");
    assert_eq!(proven["partner_member_ref"], "OWNER-1");
    assert_eq!(proven["requested_member_ref"], "owner-1");
    assert_eq!(proven["member_ref_changed"], true);
    assert_eq!(proven["balance"], INITIAL_MILEAGE);
    let link_id = text(&proven["link_id"]);
    assert_eq!(link_id, text(&attempt["link_id"]));
    let reused = json!({"state": state_of(&attempt), "code": "whatever"});
    api.post(
        &format!("/v1/me/partner-links/{link_id}/proof"),
        &owner,
        reused,
    )
    .await
    .problem(400, "link-proof-invalid");
    // The attacker, proving with the owner's password, is refused: one member holds it.
    link_reply(api, &attacker, &sky, "OWNER-1")
        .await
        .problem(409, "membership-linked-elsewhere");
    assert_eq!(
        api.post(&proof_path, &attacker, json!({"state": "s", "code": "c"}))
            .await
            .problem(400, "link-proof-invalid")["type"],
        "urn:mileverse:problem:link-proof-invalid"
    );

    // Proven, the link shows its live balance and exchanges.
    let links = api.get("/v1/me/partner-links", &owner).await;
    let shown = links.expect(200)["links"][0].clone();
    assert_eq!(shown["status"], "active", "{shown}");
    assert_eq!(shown["partner_member_ref"], "OWNER-1");
    assert_eq!(shown["balance"], INITIAL_MILEAGE);
    let done = completed_exchange(api, &owner, &link_id, 200_000).await;
    assert_eq!(done["mvp"], 40_000);
    assert_eq!(balance(api, &owner).await, (40_000, 0));
    assert_eq!(balance(api, &attacker).await, (0, 0));
    assert_eq!(sim.mileage("OWNER-1").await, INITIAL_MILEAGE - 200_000);
}

async fn every_refusal_moves_nothing(backend: Backend) {
    let world = World::start(backend, "refusals", &[]);
    let api = &world.api;
    let sim = world.sim();
    let sim_base = world.sim.base.as_str();

    // Sign-up refusals.
    let phone = "010-3000-0001";
    let (verification_id, code) = verify_phone(api, phone).await;
    for pin in ["123456", "654321", "111111", "12345", "1234567", "12a456"] {
        let body =
            json!({"verification_id": verification_id, "code": code, "name": "A", "pin": pin});
        let reply = api.post("/v1/members", "", body).await;
        let problem = reply.problem(400, "invalid-fields");
        assert_eq!(problem["errors"][0]["field"], "pin", "{problem}");
    }
    let body = json!({"verification_id": verification_id, "code": code, "name": " ", "pin": PIN});
    let reply = api.post("/v1/members", "", body).await;
    assert_eq!(
        reply.problem(400, "invalid-fields")["errors"][0]["field"],
        "name"
    );
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for remaining in (0..5).rev() {
        let body =
            json!({"verification_id": verification_id, "code": wrong, "name": "A", "pin": PIN});
        let reply = api.post("/v1/members", "", body).await;
        let problem = reply.problem(400, "wrong-verification-code");
        assert_eq!(problem["attempts_remaining"], remaining, "{problem}");
    }
    // Five wrong codes: even the right one is refused now.
    let body = json!({"verification_id": verification_id, "code": code, "name": "A", "pin": PIN});
    api.post("/v1/members", "", body)
        .await
        .problem(410, "verification-expired");
    let body = json!({"verification_id": "12345", "code": code, "name": "A", "pin": PIN});
    api.post("/v1/members", "", body)
        .await
        .problem(404, "unknown-verification");
    api.post("/v1/verifications", "", json!({"phone": "12345"}))
        .await
        .problem(400, "invalid-fields");
    api.post(
        "/v1/verifications",
        "",
        json!({"phone": "010-1111-2222", "x": 1}),
    )
    .await
    .problem(400, "malformed-json");
    api.raw_post("/v1/verifications", "", "{not json")
        .await
        .problem(400, "malformed-json");

    // The phone signs up with a fresh code; the same phone again is refused.
    let (alice, alice_token) = member(api, phone, "Alice").await;
    let (verification_id, code) = verify_phone(api, phone).await;
    let body = json!({"verification_id": verification_id, "code": code, "name": "A2", "pin": PIN});
    api.post("/v1/members", "", body)
        .await
        .problem(409, "phone-already-registered");
    // Five codes an hour per phone: this phone had three, the sixth is refused.
    for _ in 0..2 {
        verify_phone(api, phone).await;
    }
    api.post("/v1/verifications", "", json!({"phone": phone}))
        .await
        .problem(429, "too-many-verifications");
    let (bob, bob_token) = member(api, "010-3000-0002", "Bob").await;
    assert_ne!(alice, bob);

    // Partners, one per rule.
    let sky = partner(api, sim_base, "Sky", 1, 1, json!({"minimum_unit": 100})).await;
    let tiny = partner(api, sim_base, "Tiny", 1, 1000, json!({})).await;
    let daily = partner(api, sim_base, "Daily", 1, 1, json!({"daily_limit": 1000})).await;
    let monthly = partner(
        api,
        sim_base,
        "Monthly",
        1,
        1,
        json!({"daily_limit": 5000, "monthly_limit": 1000}),
    )
    .await;
    let credit = partner(api, sim_base, "Credit", 1, 1, json!({"credit_line": 1000})).await;
    let tenth = partner(api, sim_base, "Tenth", 1, 10, json!({})).await;

    // Partner registration refusals.
    for (field, extra) in [
        ("secret", json!({"secret": "short"})),
        ("rate", json!({"rate_num": 0})),
        ("api_base_url", json!({"api_base_url": "ftp://x"})),
        ("minimum_unit", json!({"minimum_unit": 0})),
    ] {
        let mut body = json!({"name": "Bad", "rate_num": 1, "rate_den": 1,
            "api_base_url": sim_base, "secret": SIM_SECRET});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let reply = api.post("/admin/v1/partners", TOKEN, body).await;
        assert_eq!(
            reply.problem(400, "invalid-fields")["errors"][0]["field"],
            field
        );
    }
    let past = json!({"rate_num": 1, "rate_den": 2, "effective_from": now_s() - 10});
    api.post(&format!("/admin/v1/partners/{sky}/rates"), TOKEN, past)
        .await
        .problem(400, "invalid-fields");
    api.get("/admin/v1/partners/12345", TOKEN)
        .await
        .problem(404, "unknown-partner");
    for path in [
        "/admin/v1/exchanges?limit=many",
        "/admin/v1/reports/exchanges?from=yesterday",
        "/admin/v1/reports/exchanges.csv?to=-1",
    ] {
        api.get(path, TOKEN).await.problem(400, "invalid-query");
    }
    api.get("/admin/v1/reports/exchanges?from=5&to=5", TOKEN)
        .await
        .problem(400, "invalid-fields");
    api.get("/admin/v1/exchanges?status=lost", TOKEN)
        .await
        .problem(400, "invalid-fields");

    // Links and exchanges that pass, to have something that must not move.
    let sky_link = link(api, &alice_token, &sky, "A-SKY", INITIAL_MILEAGE).await;
    // Linking the same membership again is the same link.
    assert_eq!(
        link(api, &alice_token, &sky, "A-SKY", INITIAL_MILEAGE).await,
        sky_link
    );
    let tiny_link = link(api, &alice_token, &tiny, "A-TINY", INITIAL_MILEAGE).await;
    let daily_link = link(api, &alice_token, &daily, "A-DAILY", INITIAL_MILEAGE).await;
    let monthly_link = link(api, &alice_token, &monthly, "A-MONTHLY", INITIAL_MILEAGE).await;
    let credit_link = link(api, &alice_token, &credit, "A-CREDIT", INITIAL_MILEAGE).await;
    let tenth_link = link(api, &alice_token, &tenth, "A-TENTH", INITIAL_MILEAGE).await;
    let bob_link = link(api, &bob_token, &sky, "B-SKY", INITIAL_MILEAGE).await;
    completed_exchange(api, &alice_token, &daily_link, 600).await;
    completed_exchange(api, &bob_token, &bob_link, 300).await;
    let keyed = exchange(api, &alice_token, &sky_link, 200, Some("key-1")).await;
    let keyed_id = text(&keyed.expect(200)["exchange_id"]);

    let tokens = [alice_token.as_str(), bob_token.as_str()];
    let refs = [
        "A-SKY",
        "A-TINY",
        "A-DAILY",
        "A-MONTHLY",
        "A-CREDIT",
        "A-TENTH",
        "B-SKY",
    ];
    let before = snapshot(api, &sim, &tokens, &refs).await;
    assert_eq!(before.balances, [(800, 0), (300, 0)]);
    let check = Unchanged {
        api,
        sim: &sim,
        tokens: &tokens,
        refs: &refs,
        before: &before,
    };

    // Each refusal, and after each, nothing moved.
    let body = json!({"partner_id": "12345", "partner_member_ref": "R-1"});
    let reply = api.post("/v1/me/partner-links", &alice_token, body).await;
    check.refused(reply, 404, "unknown-partner").await;
    let body = json!({"partner_id": sky, "partner_member_ref": "bad ref!"});
    let reply = api.post("/v1/me/partner-links", &alice_token, body).await;
    check.refused(reply, 400, "invalid-fields").await;
    // Bob proves the membership Alice linked: the partner knows him as its owner, but one
    // member holds it.
    let reply = link_reply(api, &bob_token, &sky, "a-sky").await;
    check
        .refused(reply, 409, "membership-linked-elsewhere")
        .await;
    // A partner that cannot be reached (a port nobody listens on): the attempt is made
    // (nothing is asked of the partner), its proof cannot be redeemed, and it waits.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let gone = partner(api, &closed, "Gone", 1, 1, json!({})).await;
    let body = json!({"partner_id": gone, "partner_member_ref": "A-GONE"});
    let attempt = api.post("/v1/me/partner-links", &alice_token, body).await;
    let attempt = attempt.expect(201).clone();
    let proof = json!({"state": state_of(&attempt), "code": "any-code"});
    let path = format!("/v1/me/partner-links/{}/proof", text(&attempt["link_id"]));
    let reply = api.post(&path, &alice_token, proof).await;
    check.refused(reply, 502, "partner-unavailable").await;
    api.delete(
        &format!("/v1/me/partner-links/{}", text(&attempt["link_id"])),
        &alice_token,
    )
    .await
    .expect(204);

    let reply = exchange(api, &alice_token, "12345", 100, None).await;
    check.refused(reply, 404, "unknown-link").await;
    let reply = exchange(api, &alice_token, &bob_link, 100, None).await;
    check.refused(reply, 404, "unknown-link").await;
    let reply = exchange(api, &alice_token, &sky_link, 50, None).await;
    let problem = check.refused(reply, 422, "below-minimum-unit").await;
    assert_eq!(problem["minimum_unit"], 100, "{problem}");
    let reply = exchange(api, &alice_token, &sky_link, 150, None).await;
    check.refused(reply, 422, "below-minimum-unit").await;
    let reply = exchange(api, &alice_token, &sky_link, 0, None).await;
    check.refused(reply, 400, "invalid-fields").await;
    let reply = exchange(api, &alice_token, &tiny_link, 999, None).await;
    check.refused(reply, 422, "amount-too-small").await;
    let reply = exchange(api, &alice_token, &daily_link, 500, None).await;
    let problem = check.refused(reply, 422, "limit-exceeded").await;
    assert_eq!(problem["period"], "daily", "{problem}");
    assert_eq!(problem["limit"], 1000, "{problem}");
    assert_eq!(problem["used"], 600, "{problem}");
    let reply = exchange(api, &alice_token, &monthly_link, 1500, None).await;
    let problem = check.refused(reply, 422, "limit-exceeded").await;
    assert_eq!(problem["period"], "monthly", "{problem}");
    let reply = exchange(api, &alice_token, &credit_link, 1001, None).await;
    check.refused(reply, 422, "credit-line-exceeded").await;
    let reply = exchange(api, &alice_token, &sky_link, 300, Some("key-1")).await;
    check.refused(reply, 422, "idempotency-key-reused").await;
    let reply = exchange(api, &alice_token, &daily_link, 200, Some("key-1")).await;
    check.refused(reply, 422, "idempotency-key-reused").await;
    let reply = exchange(api, &alice_token, &sky_link, 200, Some("")).await;
    check.refused(reply, 400, "invalid-fields").await;
    let reply = exchange(api, "", &sky_link, 100, None).await;
    check.refused(reply, 401, "unauthorized").await;
    let reply = exchange(api, "not-a-session", &sky_link, 100, None).await;
    check.refused(reply, 401, "session-expired").await;
    let reply = api
        .raw_post("/v1/exchanges", &alice_token, "{\"link_id\":\"1\"}")
        .await;
    check.refused(reply, 400, "malformed-json").await;
    // The quote the app shows before an exchange refuses as the exchange would, and moves
    // nothing either way.
    let quotes = [
        ("12345", 100, 404, "unknown-link"),
        (bob_link.as_str(), 100, 404, "unknown-link"),
        (sky_link.as_str(), 50, 422, "below-minimum-unit"),
        (sky_link.as_str(), 0, 400, "invalid-fields"),
        (tiny_link.as_str(), 999, 422, "amount-too-small"),
        (daily_link.as_str(), 500, 422, "limit-exceeded"),
        (monthly_link.as_str(), 1500, 422, "limit-exceeded"),
        (credit_link.as_str(), 1001, 422, "credit-line-exceeded"),
    ];
    for (link, mileage, status, slug) in quotes {
        let path = format!("/v1/exchange-quote?link_id={link}&mileage={mileage}");
        check
            .refused(api.get(&path, &alice_token).await, status, slug)
            .await;
    }
    let path = format!("/v1/exchange-quote?link_id={tenth_link}&mileage=2000");
    let quote = api.get(&path, &alice_token).await;
    let quote = quote.expect(200);
    assert_eq!(
        (quote["mvp"].as_u64(), quote["mileage"].as_u64()),
        (Some(200), Some(2000))
    );
    assert_eq!(
        (quote["rate_num"].as_u64(), quote["rate_den"].as_u64()),
        (Some(1), Some(10))
    );
    check
        .refused(
            api.get(&path, "not-a-session").await,
            401,
            "session-expired",
        )
        .await;
    assert_eq!(snapshot(api, &sim, &tokens, &refs).await, before);
    // The same key and body again is the first exchange, not a second one.
    let reply = exchange(api, &alice_token, &sky_link, 200, Some("key-1")).await;
    assert_eq!(reply.expect(200)["exchange_id"], keyed_id.as_str());
    assert_eq!(snapshot(api, &sim, &tokens, &refs).await, before);
    // The partner refuses: not enough mileage (2,000,000 at 1/10 is within the limits).
    let reply = exchange(api, &alice_token, &tenth_link, 2 * INITIAL_MILEAGE, None).await;
    let problem = check
        .refused(reply, 422, "insufficient-partner-mileage")
        .await;
    let failed_id = text(&problem["exchange_id"]);
    let failed = api
        .get(&format!("/v1/exchanges/{failed_id}"), &alice_token)
        .await;
    let failed = failed.expect(200);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure"], "insufficient_mileage");
    assert_eq!(failed["mvp"], 200_000);
    api.get(&format!("/v1/exchanges/{failed_id}"), &bob_token)
        .await
        .problem(404, "not-found");
    api.get(&format!("/v1/exchanges/{keyed_id}"), &bob_token)
        .await
        .problem(404, "not-found");
    // The refused reference is sealed at the partner (cancelled), never debited.
    let reference = reference_of(&failed_id);
    let debits = sim.debits().await;
    let sealed = debits
        .iter()
        .find(|d| d["reference"] == reference.as_str())
        .unwrap_or_else(|| panic!("no entry for the refused reference: {debits:?}"));
    assert_eq!(sealed["status"], "cancelled", "{sealed}");
    assert_eq!(snapshot(api, &sim, &tokens, &refs).await, before);

    // A disabled partner takes no exchanges and no links, and leaves the public list.
    let disabled = api
        .patch(
            &format!("/admin/v1/partners/{sky}"),
            TOKEN,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(disabled.expect(200)["enabled"], false);
    let reply = exchange(api, &alice_token, &sky_link, 100, None).await;
    check.refused(reply, 409, "partner-disabled").await;
    let body = json!({"partner_id": sky, "partner_member_ref": "A-SKY-2"});
    let reply = api.post("/v1/me/partner-links", &alice_token, body).await;
    check.refused(reply, 409, "partner-disabled").await;
    let public = api.get("/v1/partners", "").await;
    let public = public.expect(200)["partners"]
        .as_array()
        .expect("list")
        .clone();
    assert!(
        public.iter().all(|p| p["partner_id"] != sky.as_str()),
        "{public:?}"
    );
    assert!(
        public.iter().any(|p| p["partner_id"] == tiny.as_str()),
        "{public:?}"
    );
    assert_eq!(snapshot(api, &sim, &tokens, &refs).await, before);
    // Enabled again, the same request goes through.
    api.patch(
        &format!("/admin/v1/partners/{sky}"),
        TOKEN,
        json!({"enabled": true}),
    )
    .await
    .expect(200);
    completed_exchange(api, &alice_token, &sky_link, 100).await;
    assert_eq!(balance(api, &alice_token).await, (900, 0));
    assert_eq!(sim.mileage("A-SKY").await, INITIAL_MILEAGE - 300);

    // An unlinked membership takes no exchanges; another member may link it then.
    api.delete(&format!("/v1/me/partner-links/{sky_link}"), &alice_token)
        .await
        .expect(204);
    api.delete(&format!("/v1/me/partner-links/{sky_link}"), &alice_token)
        .await
        .problem(404, "unknown-link");
    exchange(api, &alice_token, &sky_link, 100, None)
        .await
        .problem(404, "unknown-link");
    let links = api.get("/v1/me/partner-links", &alice_token).await;
    let links = links.expect(200)["links"]
        .as_array()
        .expect("links")
        .clone();
    assert!(
        links.iter().all(|l| l["link_id"] != sky_link.as_str()),
        "{links:?}"
    );
    link(api, &bob_token, &sky, "A-SKY", INITIAL_MILEAGE - 300).await;
    assert_eq!(balance(api, &alice_token).await, (900, 0));
    assert_eq!(balance(api, &bob_token).await, (300, 0));
}

// ---------------------------------------------------------------------------------------
// 3. Security: lock-out, logout, expiry, partner signatures, personal data at rest

const SECRET_NAME: &str = "Zyxwvuts Qponmlk";
const SECRET_PHONE: &str = "010-9988-7766";

async fn security(backend: Backend) {
    let mut world = World::start(backend, "security", &[]);
    let api = world.api.clone();
    let api = &api;
    let (member_id, token) = member(api, SECRET_PHONE, SECRET_NAME).await;
    let me = api.get("/v1/me", &token).await;
    assert_eq!(me.expect(200)["name"], SECRET_NAME);

    // Wrong PINs: the free ones answer `wrong-pin` and tell nothing of attempts; then
    // each try waits (429 with Retry-After), the right PIN too.
    let device_token = api.device(SECRET_PHONE).expect("a device token");
    let wrong = json!({"phone": SECRET_PHONE, "pin": OTHER_PIN, "device_token": device_token});
    for _ in 0..platform::members::PIN_DELAYS.failures_free {
        let reply = api.post("/v1/sessions", "", wrong.clone()).await;
        let problem = reply.problem(401, "wrong-pin");
        assert!(problem.get("attempts_remaining").is_none(), "{problem}");
    }
    let right = json!({"phone": SECRET_PHONE, "pin": PIN, "device_token": device_token});
    for body in [&wrong, &right] {
        let reply = api.post("/v1/sessions", "", body.clone()).await;
        let problem = reply.problem(429, "login-delayed");
        // 30 s from the last failure, less the second that may have passed since.
        let wait_s = problem["retry_after_s"].as_u64().expect("retry_after_s");
        assert!((29..=30).contains(&wait_s), "{problem}");
        assert_eq!(reply.headers["retry-after"], wait_s.to_string());
    }
    // Nobody locked the owner out: a fresh SMS code waives the wait, and the session it
    // opened still works.
    let reply = api
        .post(
            "/v1/sessions",
            "",
            sms_login_body(api, SECRET_PHONE, PIN).await,
        )
        .await;
    let by_sms = reply.expect(201);
    assert_ne!(by_sms["device_token"], json!(device_token), "{by_sms}");
    api.get("/v1/me", &token).await.expect(200);
    // Only an operator locks, and the lock ends every session.
    api.post(
        &format!("/admin/v1/members/{member_id}/lock"),
        "",
        json!({}),
    )
    .await
    .problem(401, "unauthorized");
    api.post(
        &format!("/admin/v1/members/{member_id}/lock"),
        TOKEN,
        json!({}),
    )
    .await
    .expect(204);
    api.get("/v1/me", &token)
        .await
        .problem(401, "session-expired");
    api.post("/v1/sessions", "", right.clone())
        .await
        .problem(423, "member-locked");
    api.post("/v1/sessions", "", wrong.clone())
        .await
        .problem(401, "wrong-pin");
    api.post("/admin/v1/members/12345/unlock", TOKEN, json!({}))
        .await
        .problem(404, "not-found");
    api.post(
        &format!("/admin/v1/members/{member_id}/unlock"),
        "",
        json!({}),
    )
    .await
    .problem(401, "unauthorized");
    api.post(
        &format!("/admin/v1/members/{member_id}/unlock"),
        TOKEN,
        json!({}),
    )
    .await
    .expect(204);
    let second = log_in(api, SECRET_PHONE, PIN).await;
    let token = log_in(api, SECRET_PHONE, PIN).await; // The old one died with the lock.
    api.get("/v1/me", &second).await.expect(200);
    // An unknown phone answers as a member's does: no device proof, the same refusal; with
    // an SMS code, a wrong PIN, counted and delayed alike.
    for phone in [SECRET_PHONE, "010-5555-0000"] {
        api.post("/v1/sessions", "", json!({"phone": phone, "pin": PIN}))
            .await
            .problem(401, "device-unverified");
        let other = json!({"phone": phone, "pin": PIN, "device_token": "f".repeat(64)});
        api.post("/v1/sessions", "", other)
            .await
            .problem(401, "device-unverified");
    }
    let stranger = sms_login_body(api, "010-5555-0000", PIN).await;
    let reply = api.post("/v1/sessions", "", stranger).await;
    assert_eq!(
        reply.problem(401, "wrong-pin").as_object().map(|o| o.len()),
        Some(4)
    );

    // Logout revokes that session only.
    api.delete("/v1/sessions/current", &second)
        .await
        .expect(204);
    api.get("/v1/me", &second)
        .await
        .problem(401, "session-expired");
    api.delete("/v1/sessions/current", &second)
        .await
        .problem(401, "session-expired");
    api.get("/v1/me", &token).await.expect(200);
    api.get("/v1/me", "").await.problem(401, "unauthorized");
    api.get("/admin/v1/exchanges", "")
        .await
        .problem(401, "unauthorized");
    api.get("/admin/v1/exchanges", &token)
        .await
        .problem(401, "unauthorized");

    // The partner-facing endpoint: signed requests only, each nonce once, fresh timestamps.
    let sky = partner(api, &world.sim.base, "Sky", 1, 1, json!({})).await;
    let other = partner(api, &world.sim.base, "Other", 1, 1, json!({})).await;
    let link_id = link(api, &token, &sky, "SEC-1", INITIAL_MILEAGE).await;
    let done = completed_exchange(api, &token, &link_id, 1234).await;
    let reference = text(&done["reference"]);
    // A member proves its own transfers are in the log; nobody else reads them.
    let own = transactions(api, &token, "").await;
    let transfer_id = text(&own["transactions"][0]["transfer_id"]);
    let path = format!("/v1/ledger/proofs/inclusion/{transfer_id}");
    let proof = api.get(&path, &token).await;
    assert_eq!(proof.expect(200)["transfer"]["id"], transfer_id.as_str());
    let (_, stranger) = member(api, "010-9988-7700", "Stranger").await;
    api.get(&path, &stranger).await.problem(404, "not-found");
    api.get(&path, "").await.problem(401, "unauthorized");
    api.get("/v1/ledger/blocks", &stranger)
        .await
        .problem(403, "forbidden");

    let secret = SIM_SECRET.as_bytes();

    let good = PartnerCall::new(&sky, secret, &reference);
    let answer = good.send(api).await;
    assert_eq!(answer.expect(200)["status"], "completed");
    good.assert_signed(&answer);
    // The same nonce again, even freshly signed, is a replay.
    let mut replay = PartnerCall::new(&sky, secret, &reference);
    replay.nonce = good.nonce.clone();
    replay.send(api).await.problem(401, "replayed-request");
    let mut tampered = PartnerCall::new(&sky, secret, &reference);
    let mut signature = signing::sign_request(
        secret,
        &SignedParts {
            timestamp_s: tampered.timestamp_s,
            nonce: &tampered.nonce,
            method: "GET",
            path: &tampered.path,
            body: b"",
        },
    );
    let last = if signature.ends_with('0') { "1" } else { "0" };
    signature.replace_range(63.., last);
    tampered.signature = Some(signature);
    tampered.send(api).await.problem(401, "bad-signature");
    // A bad signature does not burn the nonce: the real request with it still passes.
    let mut honest = PartnerCall::new(&sky, secret, &reference);
    honest.nonce = tampered.nonce.clone();
    honest.send(api).await.expect(200);
    PartnerCall::new(&sky, b"another-secret-of-16+", &reference)
        .send(api)
        .await
        .problem(401, "bad-signature");
    PartnerCall::new("12345", secret, &reference)
        .send(api)
        .await
        .problem(401, "bad-signature");
    let mut moved = PartnerCall::new(&sky, secret, &reference);
    moved.signed_path = Some(format!("/partner/v1/exchanges/{}", "0".repeat(32)));
    moved.send(api).await.problem(401, "bad-signature");
    // 301 s off either way is stale (+303: the server's clock may have turned a second).
    for offset in [-301i64, 303] {
        let mut stale = PartnerCall::new(&sky, secret, &reference);
        stale.timestamp_s = now_s().checked_add_signed(offset).expect("time");
        stale.send(api).await.problem(401, "stale-timestamp");
    }
    for offset in [-290i64, 290] {
        let mut skewed = PartnerCall::new(&sky, secret, &reference);
        skewed.timestamp_s = now_s().checked_add_signed(offset).expect("time");
        skewed.send(api).await.expect(200);
    }
    let mut bad_nonce = PartnerCall::new(&sky, secret, &reference);
    bad_nonce.nonce = "no spaces allowed".into();
    bad_nonce.send(api).await.problem(401, "bad-signature");
    let unsigned = api
        .get(&format!("/partner/v1/exchanges/{reference}"), "")
        .await;
    unsigned.problem(401, "bad-signature");
    // Another partner, correctly signed, cannot see this partner's exchange.
    let foreign = PartnerCall::new(&other, secret, &reference);
    let answer = foreign.send(api).await;
    answer.problem(404, "not-found");
    foreign.assert_signed(&answer);
    let unknown = PartnerCall::new(&sky, secret, &"f".repeat(32));
    let answer = unknown.send(api).await;
    answer.problem(404, "not-found");
    unknown.assert_signed(&answer);

    // Personal data at rest: the data key is a private file outside the database, and no
    // stored byte holds the name, the phone or a session token in clear.
    let key_path = world.data.join("data.key");
    let key_hex = std::fs::read_to_string(&key_path).expect("DATA/data.key");
    let key_hex = key_hex.trim().to_string();
    assert_eq!(key_hex.len(), 64, "data.key holds 64 hex digits");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "data.key mode {mode:o}");
    }
    world.kill_server();
    let key_bytes = hex_decode(&key_hex);
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("the name", SECRET_NAME.as_bytes().to_vec()),
        (
            "the name (hex)",
            hex_encode(SECRET_NAME.as_bytes()).into_bytes(),
        ),
        ("the phone digits", b"1099887766".to_vec()),
        ("the phone", b"+821099887766".to_vec()),
        ("the phone (hex)", hex_encode(b"+821099887766").into_bytes()),
        ("a session token", token.clone().into_bytes()),
        ("the data key", key_hex.clone().into_bytes()),
        ("the data key (raw)", key_bytes),
    ];
    let files = files_under(&world.data);
    match backend {
        Backend::Sqlite => {
            let names: HashSet<String> = files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            // The records live in the ledger's database (no records.db of their own).
            assert!(!names.contains("records.db"), "{names:?}");
            assert!(names.contains("ledger.db"), "{names:?}");
        }
        Backend::Postgres => {
            let stored = postgres_contents(&world.store);
            assert!(stored.members > 0, "no member row in PostgreSQL");
            for (what, needle) in &needles {
                assert!(
                    !contains(&stored.bytes, needle),
                    "PostgreSQL holds {what} in clear"
                );
            }
        }
    }
    for file in &files {
        if file.file_name().is_some_and(|n| n == "data.key") {
            continue;
        }
        let bytes = std::fs::read(file).expect("read a data file");
        for (what, needle) in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} holds {what} in clear",
                file.display()
            );
        }
    }
    // The scan saw the member: its row, with a sealed name, is in the files scanned (read
    // after the scan: opening the database folds its WAL file in).
    if matches!(backend, Backend::Sqlite) {
        let path = world.data.join("ledger.db");
        let connection = rusqlite::Connection::open(&path).expect("open ledger.db");
        let sealed: i64 = connection
            .query_row(
                "SELECT count(*) FROM members WHERE length(name_sealed) > 0",
                [],
                |row| row.get(0),
            )
            .expect("count members");
        // The member with the secret name and the stranger of the inclusion proofs.
        assert_eq!(sealed, 2, "no member row with a sealed name in {path:?}");
    }

    // Restart with 1 s sessions: the old session was stored and still works; a new one
    // expires.
    world.start_server(&["--session-ttl-s", "1"]);
    let api = world.api.clone();
    let me = api.get("/v1/me", &token).await;
    assert_eq!(me.expect(200)["name"], SECRET_NAME);
    // A session lives until the end of the second after it was made (whole seconds): log in
    // again if the clock turned between the login and the first use.
    let mut short = String::new();
    for _ in 0..3 {
        short = log_in(&api, SECRET_PHONE, PIN).await;
        if api.get("/v1/me", &short).await.status == 200 {
            break;
        }
        short.clear();
    }
    assert!(!short.is_empty(), "a 1 s session never worked");
    let issued = Instant::now();
    loop {
        let reply = api.get("/v1/me", &short).await;
        if reply.status != 200 {
            reply.problem(401, "session-expired");
            break;
        }
        assert!(
            issued.elapsed() < Duration::from_millis(2500),
            "a 1 s session still works after {:?}",
            issued.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.get("/v1/me/balances", &short)
        .await
        .problem(401, "session-expired");
    api.get("/v1/me", &token).await.expect(200);
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every file under `root`, recursively.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

struct Stored {
    members: usize,
    bytes: Vec<u8>,
}

/// Everything the PostgreSQL schema of `store` (the `--database-url` options) holds: the
/// `records` table's values as bytes, and every row of every table as text.
fn postgres_contents(store: &[String]) -> Stored {
    let url = store
        .iter()
        .find(|s| s.starts_with("postgres"))
        .expect("a --database-url")
        .clone();
    std::thread::spawn(move || {
        let tls = tls::test_pki::test_database_tls().postgres();
        let mut client = postgres::Client::connect(&url, tls).expect("connect");
        let mut stored = Stored {
            members: 0,
            bytes: Vec::new(),
        };
        for row in client
            .query("SELECT kind, key, value FROM records", &[])
            .expect("read records")
        {
            let kind: String = row.get(0);
            let key: Vec<u8> = row.get(1);
            let value: Vec<u8> = row.get(2);
            for part in [kind.into_bytes(), key, value] {
                stored.bytes.extend_from_slice(&part);
                stored.bytes.push(0);
            }
        }
        let tables = client
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
                &[],
            )
            .expect("list tables");
        assert!(!tables.is_empty(), "no tables in the test schema");
        for table in tables {
            let name: String = table.get(0);
            let sql = format!("SELECT CAST(t AS text) FROM \"{name}\" t");
            let rows = client.query(&sql, &[]).expect("dump a table");
            if name == "members" {
                stored.members = rows.len();
            }
            for row in rows {
                let line: String = row.get(0);
                stored.bytes.extend_from_slice(line.as_bytes());
                stored.bytes.push(b'\n');
            }
        }
        stored
    })
    .join()
    .expect("postgres thread")
}

// ---------------------------------------------------------------------------------------
// 4. Restart durability

async fn restart_keeps_everything(backend: Backend) {
    let mut world = World::start(backend, "restart", &[]);
    let sim = world.sim();
    let api = world.api.clone();
    let partner_id = partner(&api, &world.sim.base, "Sky Air", 3, 2, json!({})).await;
    let (member_id, token) = member(&api, "010-4000-0001", "Park Jiwoo").await;
    let link_id = link(&api, &token, &partner_id, "R-1", INITIAL_MILEAGE).await;
    let done = completed_exchange(&api, &token, &link_id, 2000).await;
    let exchange_id = text(&done["exchange_id"]);
    assert_eq!(done["mvp"], 3000);
    let lines_before = transactions(&api, &token, "").await;

    world.kill_server();
    let verify = mileverse_with(&["verify"], &world.data, &world.store);
    assert!(
        verify.status.success(),
        "verify after SIGKILL: {} {}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    world.start_server(&[]);
    let api = world.api.clone();

    // The session survived; so did the member, the wallet, the link and the partner.
    let me = api.get("/v1/me", &token).await;
    let me = me.expect(200);
    assert_eq!(me["member_id"], member_id.as_str());
    assert_eq!(me["name"], "Park Jiwoo");
    assert_eq!(me["phone"], "+821040000001");
    assert_eq!(balance(&api, &token).await, (3000, 0));
    assert_eq!(transactions(&api, &token, "").await, lines_before);
    let state = api
        .get(&format!("/v1/exchanges/{exchange_id}"), &token)
        .await;
    assert_eq!(state.expect(200)["status"], "completed");
    let links = api.get("/v1/me/partner-links", &token).await;
    let links = links.expect(200)["links"].clone();
    assert_eq!(links.as_array().map(Vec::len), Some(1), "{links}");
    assert_eq!(links[0]["link_id"], link_id.as_str());
    assert_eq!(links[0]["partner_name"], "Sky Air");
    assert_eq!(links[0]["balance"], INITIAL_MILEAGE - 2000);
    let shown = api
        .get(&format!("/admin/v1/partners/{partner_id}"), TOKEN)
        .await;
    let shown = shown.expect(200);
    assert_eq!(shown["issued_mvp"], 3000);
    assert_eq!(
        (&shown["rate_num"], &shown["rate_den"]),
        (&json!(3), &json!(2))
    );
    // The partner's secret was unsealed at start: exchanges and its signed endpoint work.
    let call = PartnerCall::new(
        &partner_id,
        SIM_SECRET.as_bytes(),
        &reference_of(&exchange_id),
    );
    assert_eq!(call.send(&api).await.expect(200)["status"], "completed");
    let more = completed_exchange(&api, &token, &link_id, 1000).await;
    assert_eq!(more["mvp"], 1500);
    assert_eq!(balance(&api, &token).await, (4500, 0));
    assert_eq!(sim.mileage("R-1").await, INITIAL_MILEAGE - 3000);
    // The phone is still taken, and the PIN still works.
    let (verification_id, code) = verify_phone(&api, "010-4000-0001").await;
    let body = json!({"verification_id": verification_id, "code": code, "name": "X", "pin": PIN});
    api.post("/v1/members", "", body)
        .await
        .problem(409, "phone-already-registered");
    log_in(&api, "010-4000-0001", PIN).await;
    let report = api.get("/admin/v1/reports/exchanges", TOKEN).await;
    let report = &report.expect(200)["partners"][0];
    assert_eq!(
        (&report["exchanges"], &report["mvp_issued"]),
        (&json!(2), &json!(4500))
    );
}

// ---------------------------------------------------------------------------------------
// 5. Withdrawal

async fn withdrawal(backend: Backend) {
    let world = World::start(backend, "withdrawal", &[]);
    let api = &world.api;
    let sim = world.sim();
    let phone = "010-5000-0001";
    let partner_id = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let (member_id, token) = member(api, phone, "Choi Yuna").await;
    let spare = log_in(api, phone, PIN).await;
    let link_id = link(api, &token, &partner_id, "W-1", INITIAL_MILEAGE).await;
    completed_exchange(api, &token, &link_id, 104_321).await;

    // Refused while MVP remains and no payout says where it goes.
    let reply = api.delete("/v1/me", &token).await;
    assert_eq!(reply.problem(409, "balance-remaining")["balance"], 104_321);
    let reply = api
        .call(Method::DELETE, "/v1/me", &token, Some(json!({})), &[])
        .await;
    reply.problem(409, "balance-remaining");
    let reply = api
        .call(
            Method::DELETE,
            "/v1/me",
            &token,
            Some(json!({"payout": "  "})),
            &[],
        )
        .await;
    reply.problem(400, "invalid-fields");
    assert_eq!(balance(api, &token).await, (104_321, 0));
    api.get("/v1/me", &token).await.expect(200);

    // Above the threshold (100,000 MVP) the PIN is asked again: missing or wrong, nothing
    // moves.
    let payout = json!({"payout": "bank 004 account 123-456"});
    let reply = api
        .call(Method::DELETE, "/v1/me", &token, Some(payout), &[])
        .await;
    assert_eq!(reply.problem(403, "pin-required")["above_mvp"], 100_000);
    let payout = json!({"payout": "bank 004 account 123-456", "pin": OTHER_PIN});
    let reply = api
        .call(Method::DELETE, "/v1/me", &token, Some(payout), &[])
        .await;
    reply.problem(401, "wrong-pin");
    assert_eq!(balance(api, &token).await, (104_321, 0));

    // With a payout and the PIN: the balance is paid out and every session ends.
    let payout = json!({"payout": "bank 004 account 123-456", "pin": PIN});
    let reply = api
        .call(Method::DELETE, "/v1/me", &token, Some(payout), &[])
        .await;
    let body = reply.expect(200);
    assert_eq!(body["status"], "withdrawn");
    assert_eq!(body["payout_amount"], 104_321);
    api.get("/v1/me", &token)
        .await
        .problem(401, "session-expired");
    api.get("/v1/me/balances", &spare)
        .await
        .problem(401, "session-expired");
    // The withdrawn member's devices are forgotten: its phone answers as any stranger's.
    let device_token = api.device(phone).expect("a device token");
    let login = json!({"phone": phone, "pin": PIN, "device_token": device_token});
    let reply = api.post("/v1/sessions", "", login).await;
    reply.problem(401, "device-unverified");
    // The partner kept its debit; the payout account holds the MVP now.
    assert_eq!(sim.mileage("W-1").await, INITIAL_MILEAGE - 104_321);
    let report = api.get("/admin/v1/reports/exchanges", TOKEN).await;
    assert_eq!(report.expect(200)["partners"][0]["mvp_issued"], 104_321);

    // The phone signs up again: a new member with an empty wallet, who may link the same
    // membership again.
    let (again, again_token) = member(api, phone, "Choi Yuna").await;
    assert_ne!(again, member_id);
    assert_eq!(balance(api, &again_token).await, (0, 0));
    let lines = transactions(api, &again_token, "").await;
    assert_eq!(lines["transactions"], json!([]));
    let relinked = link(
        api,
        &again_token,
        &partner_id,
        "W-1",
        INITIAL_MILEAGE - 104_321,
    )
    .await;
    assert_ne!(relinked, link_id);
    completed_exchange(api, &again_token, &relinked, 10).await;
    assert_eq!(balance(api, &again_token).await, (10, 0));
    exchange(api, &again_token, &link_id, 10, None)
        .await
        .problem(404, "unknown-link");

    // A member with nothing left withdraws without a payout.
    let (_, empty_token) = member(api, "010-5000-0002", "Empty").await;
    let reply = api.delete("/v1/me", &empty_token).await;
    let body = reply.expect(200);
    assert_eq!(body["status"], "withdrawn");
    assert_eq!(body["payout_amount"], 0);
    api.get("/v1/me", &empty_token)
        .await
        .problem(401, "session-expired");
}

// ---------------------------------------------------------------------------------------
// 6. Paging the transaction history

async fn transaction_paging(backend: Backend) {
    let world = World::start(backend, "paging", &[]);
    let api = &world.api;
    let partner_id = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let (_, token) = member(api, "010-6000-0001", "Lee Seo").await;
    let link_id = link(api, &token, &partner_id, "P-1", INITIAL_MILEAGE).await;
    let mut made = Vec::new();
    for mileage in 1..=25u64 {
        let done = completed_exchange(api, &token, &link_id, mileage).await;
        made.push(text(&done["exchange_id"]));
    }
    assert_eq!(balance(api, &token).await, (325, 0));

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = "?limit=10".to_string();
    loop {
        let page = transactions(api, &token, &query).await;
        let lines = page["transactions"].as_array().expect("lines").clone();
        sizes.push(lines.len());
        seen.extend(lines);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=10&cursor={cursor}"),
            None => break,
        }
        assert!(sizes.len() < 5, "paging does not end: {sizes:?}");
    }
    assert_eq!(sizes, [10, 10, 5]);
    // Newest first, each exchange once, balances running down.
    let references: Vec<String> = seen.iter().map(|l| text(&l["reference"])).collect();
    let expected: Vec<String> = made.iter().rev().cloned().collect();
    assert_eq!(references, expected);
    let ids: HashSet<String> = seen.iter().map(|l| text(&l["transfer_id"])).collect();
    assert_eq!(ids.len(), 25);
    let mut after = 325i64;
    for (line, mileage) in seen.iter().zip((1..=25i64).rev()) {
        assert_eq!(line["reason"], "exchange");
        assert_eq!(line["amount"], mileage, "{line}");
        assert_eq!(line["balance_after"], after, "{line}");
        after -= mileage;
    }
    let stamps: Vec<u64> = seen
        .iter()
        .map(|l| text(&l["timestamp_ns"]).parse().expect("timestamp"))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] > w[1]), "{stamps:?}");

    // The API filters by reason: every exchange line, none of another reason; a cursor at
    // the top of u64 reads from the newest; an unknown reason is refused.
    let exchanges = transactions(api, &token, "?reason=exchange&limit=100").await;
    let lines = exchanges["transactions"].as_array().unwrap();
    assert!(lines.len() >= 25 && lines.iter().all(|l| l["reason"] == "exchange"));
    let payments = transactions(api, &token, "?reason=payment").await;
    assert_eq!(payments["transactions"], json!([]), "{payments}");
    assert_eq!(payments["next_cursor"], Value::Null);
    let top = transactions(api, &token, &format!("?cursor={}&limit=1", u64::MAX)).await;
    assert_eq!(
        top["transactions"][0]["transfer_id"],
        seen[0]["transfer_id"]
    );
    api.get("/v1/me/transactions?reason=bogus", &token)
        .await
        .problem(400, "invalid-fields");

    // The default page holds 20; bad limits and cursors are refused.
    let page = transactions(api, &token, "").await;
    assert_eq!(page["transactions"].as_array().map(Vec::len), Some(20));
    for query in ["?limit=0", "?limit=101", "?cursor=abc"] {
        api.get(&format!("/v1/me/transactions{query}"), &token)
            .await
            .problem(400, "invalid-fields");
    }
    for query in ["?limit=abc", "?limit=-1"] {
        api.get(&format!("/v1/me/transactions{query}"), &token)
            .await
            .problem(400, "invalid-query");
    }
}

// ---------------------------------------------------------------------------------------
// 7. Abuse limits

/// The per-IP limit on verification codes, its 429 with `Retry-After`, the count surviving
/// a restart; the per-member limit at its maximum; small bodies without credentials.
async fn abuse_limits(backend: Backend) {
    let mut world = World::start(backend, "limits", &[]);
    let api = world.api.clone();

    // A member's sessions: the maximum passes, one more waits.
    let (_, token) = member(&api, "010-7002-0000", "Limit").await;
    let member_limit = platform::limits::MEMBER_REQUESTS;
    for _ in 0..member_limit.requests_max {
        api.get("/v1/me/balances", &token).await.expect(200);
    }
    let reply = api.get("/v1/me/balances", &token).await;
    assert_eq!(
        reply.problem(429, "rate-limited")["limit"],
        member_limit.name
    );

    // Without credentials a body is small: one byte over the maximum is refused unread.
    let padding = "x".repeat(server::members_api::PUBLIC_BODY_BYTES_MAX);
    let body = json!({"phone": "010-7003-0000", "pin": padding});
    api.post("/v1/sessions", "", body)
        .await
        .problem(413, "body-too-large");

    // Verification codes per address: the sign-up above asked for one. Distinct phones, so
    // each phone's own limit (5 an hour) stays out of the way.
    let verifications = platform::limits::VERIFICATIONS_PER_IP;
    for index in 1..verifications.requests_max {
        let phone = format!("010-7000-{index:04}");
        let reply = api
            .post("/v1/verifications", "", json!({"phone": phone}))
            .await;
        reply.expect(201);
    }
    let over = json!({"phone": "010-7001-0000"});
    let reply = api.post("/v1/verifications", "", over.clone()).await;
    let problem = reply.problem(429, "rate-limited");
    assert_eq!(problem["limit"], verifications.name, "{problem}");
    let retry_after_s = problem["retry_after_s"].as_u64().expect("retry_after_s");
    assert!(
        (1..=verifications.window_s).contains(&retry_after_s),
        "{problem}"
    );
    assert_eq!(reply.headers["retry-after"], retry_after_s.to_string());
    // The count is written within the flush interval, and a restart reads it back.
    let flushed_ms = platform::limits::RATE_FLUSH_INTERVAL_MS + 1_500;
    tokio::time::sleep(Duration::from_millis(flushed_ms)).await;
    world.kill_server();
    world.start_server(&[]);
    let reply = world.api.post("/v1/verifications", "", over).await;
    reply.problem(429, "rate-limited");
}

// ---------------------------------------------------------------------------------------
// 8. P2P transfers

/// A send under an `Idempotency-Key`.
async fn send(api: &Api, token: &str, key: &str, body: Value) -> Reply {
    let headers = [("Idempotency-Key", key)];
    api.call(Method::POST, "/v1/transfers", token, Some(body), &headers)
        .await
}

/// Sends by phone: the recipient checked masked, a send and its replay, the receiver's
/// history line and memo, strangers refused; 40 sends at once never overdraw and never
/// duplicate, one key sent 16 times at once moves once; the PIN above the threshold; a
/// phone that is not a member's holds the value until it joins; a money request paid
/// exactly once; refusals move nothing.
async fn p2p_transfers(backend: Backend) {
    let world = World::start(backend, "p2p", &[]);
    let api = &world.api;
    let sky = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let (_, alice) = member(api, "010-7000-0001", "Kim Alice").await;
    let (_, bob) = member(api, "010-7000-0002", "Lee Bob").await;
    let (_, eve) = member(api, "010-7000-0003", "Eve").await;
    let link_id = link(api, &alice, &sky, "ALICE-1", INITIAL_MILEAGE).await;
    completed_exchange(api, &alice, &link_id, 150_000).await;

    let found = api
        .get("/v1/transfer-recipients?phone=01070000002", &alice)
        .await;
    assert_eq!(found.expect(200)["name_masked"], "L*****b");
    let nobody = api
        .get("/v1/transfer-recipients?phone=01070009999", &alice)
        .await;
    assert_eq!(
        nobody.expect(200).clone(),
        json!({"member": false, "name_masked": null})
    );

    // A send, and its retry under the same key: one transfer.
    let body =
        json!({"to_phone": "010-7000-0002", "asset": "MVP", "amount": 1_200, "memo": "점심 🍜"});
    let first = send(api, &alice, "lunch-1", body.clone()).await;
    let sent = first.expect(201).clone();
    assert_eq!(
        (sent["status"].as_str(), sent["direction"].as_str()),
        (Some("completed"), Some("sent"))
    );
    assert_eq!(sent["counterparty_name_masked"], "L*****b");
    let again = send(api, &alice, "lunch-1", body.clone()).await;
    assert_eq!(again.expect(201)["transfer_id"], sent["transfer_id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = json!({"to_phone": "010-7000-0002", "amount": 1_300, "memo": "점심 🍜"});
    send(api, &alice, "lunch-1", other)
        .await
        .problem(422, "idempotency-key-reused");
    let id = text(&sent["transfer_id"]);
    let received = api.get(&format!("/v1/transfers/{id}"), &bob).await;
    let received = received.expect(200).clone();
    assert_eq!(
        (received["direction"].as_str(), received["memo"].as_str()),
        (Some("received"), Some("점심 🍜"))
    );
    assert_eq!(received["counterparty_name_masked"], "K*******e");
    api.get(&format!("/v1/transfers/{id}"), &eve)
        .await
        .problem(404, "unknown-transfer");
    let history = transactions(api, &bob, "?reason=transfer").await;
    assert_eq!(
        history["transactions"][0]["reference"],
        id.as_str(),
        "{history}"
    );
    assert_eq!(history["transactions"][0]["amount"], 1_200);
    assert_eq!(balance(api, &alice).await, (148_800, 0));

    // Refusals move nothing.
    let refusals = [
        (
            json!({"to_phone": "010-7000-0001", "amount": 10}),
            422,
            "transfer-to-self",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 0}),
            400,
            "invalid-fields",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 2_000_001}),
            400,
            "invalid-fields",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 10, "asset": "DOGE"}),
            400,
            "invalid-fields",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 10, "asset": "TTC"}),
            422,
            "insufficient-balance",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 10, "memo": "x".repeat(101)}),
            400,
            "invalid-fields",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 10, "memo": "a\u{7}"}),
            400,
            "invalid-fields",
        ),
        (
            json!({"to_phone": "not a phone", "amount": 10}),
            400,
            "invalid-fields",
        ),
        (json!({"amount": 10}), 400, "invalid-fields"),
        (
            json!({"to_phone": "010-7000-0002", "amount": 100_001}),
            403,
            "pin-required",
        ),
        (
            json!({"to_phone": "010-7000-0002", "amount": 100_001, "pin": OTHER_PIN}),
            401,
            "wrong-pin",
        ),
    ];
    for (index, (body, status, slug)) in refusals.into_iter().enumerate() {
        let reply = send(api, &alice, &format!("refused-{index}"), body).await;
        reply.problem(status, slug);
    }
    assert_eq!(balance(api, &alice).await, (148_800, 0));
    // With the PIN it goes.
    let body = json!({"to_phone": "010-7000-0002", "amount": 100_001, "pin": PIN});
    send(api, &alice, "big", body).await.expect(201);
    assert_eq!(balance(api, &alice).await, (48_799, 0));

    // 40 sends of 2,000 at once from 48,799: exactly 24 go, the rest are refused, no
    // transfer twice; one key sent 16 times at once moves once.
    let alice = alice.as_str();
    let sends = (0..40).map(|n| {
        let body = json!({"to_phone": "010-7000-0002", "amount": 2_000});
        async move { send(api, alice, &format!("burst-{n}"), body).await }
    });
    let replies = futures_util::future::join_all(sends).await;
    let ok: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| text(&r.body["transfer_id"]))
        .collect();
    assert_eq!(
        ok.len(),
        24,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(ok.iter().collect::<HashSet<_>>().len(), 24);
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.problem(422, "insufficient-balance");
    }
    assert_eq!(balance(api, alice).await, (799, 0));
    let same = (0..16).map(|_| {
        let body = json!({"to_phone": "010-7000-0002", "amount": 1});
        async move { send(api, alice, "same-key", body).await }
    });
    let replies = futures_util::future::join_all(same).await;
    let ids: HashSet<String> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| text(&r.body["transfer_id"]))
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(replies.iter().all(|r| r.status == 201 || r.status == 409));
    assert_eq!(balance(api, alice).await, (798, 0));
    assert_eq!(balance(api, &bob).await, (1_200 + 100_001 + 48_000 + 1, 0));

    // To a phone that is not a member's: held, then the new member's when they join.
    let body = json!({"to_phone": "010-7000-0004", "amount": 500, "memo": "welcome"});
    let held = send(api, &bob, "welcome", body).await.expect(201).clone();
    assert_eq!(
        (held["status"].as_str(), &held["counterparty_name_masked"]),
        (Some("held"), &Value::Null)
    );
    assert!(held["expires_at"].is_string(), "{held}");
    let (_, carol) = member(api, "010-7000-0004", "Carol").await;
    assert_eq!(balance(api, &carol).await, (500, 0));
    let claimed = api
        .get(
            &format!("/v1/transfers/{}", text(&held["transfer_id"])),
            &carol,
        )
        .await;
    let claimed = claimed.expect(200).clone();
    assert_eq!(
        (claimed["status"].as_str(), claimed["memo"].as_str()),
        (Some("claimed"), Some("welcome"))
    );
    let mine = api.get("/v1/me/transfers?limit=2", &bob).await;
    let mine = mine.expect(200).clone();
    assert_eq!(
        mine["transfers"][0]["transfer_id"], held["transfer_id"],
        "{mine}"
    );
    assert_eq!(mine["transfers"][0]["status"], "claimed");
    assert!(mine["next_cursor"].is_string(), "{mine}");

    // A money request: paid once, with exactly its amount.
    let asked = api
        .post(
            "/v1/transfer-requests",
            &carol,
            json!({"amount": 300, "memo": "taxi"}),
        )
        .await;
    let asked = asked.expect(201).clone();
    assert!(
        text(&asked["pay_url"])
            .ends_with(&format!("/app/pay-request/{}", text(&asked["request_id"])))
    );
    let seen = api
        .get(
            &format!("/v1/transfer-requests/{}", text(&asked["request_id"])),
            &bob,
        )
        .await;
    let seen = seen.expect(200).clone();
    assert_eq!(seen["requester_name_masked"], "C***l");
    assert_eq!(
        (&asked["mine"], &seen["mine"]),
        (&json!(true), &json!(false))
    );
    let wrong = json!({"request_id": asked["request_id"], "amount": 301});
    send(api, &bob, "taxi-0", wrong)
        .await
        .problem(422, "money-request-amount");
    let payer = bob.as_str();
    let pays = (0..8).map(|n| {
        let body = json!({"request_id": asked["request_id"], "amount": 300});
        async move { send(api, payer, &format!("taxi-{}", n + 1), body).await }
    });
    let replies = futures_util::future::join_all(pays).await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.problem(409, "money-request-closed");
    }
    assert_eq!(balance(api, &carol).await, (800, 0));
    let paid = api
        .get(
            &format!("/v1/transfer-requests/{}", text(&asked["request_id"])),
            &carol,
        )
        .await;
    assert_eq!(paid.expect(200)["status"], "paid");
    let cancel = format!(
        "/v1/transfer-requests/{}/cancel",
        text(&asked["request_id"])
    );
    api.post(&cancel, &carol, json!({}))
        .await
        .problem(409, "money-request-closed");
}

// ---------------------------------------------------------------------------------------
// 9. Several assets

async fn quote(api: &Api, token: &str, from: &str, to: &str, amount: u64) -> Reply {
    let body = json!({"from_asset": from, "to_asset": to, "amount": amount});
    api.post("/v1/asset-quotes", token, body).await
}

async fn convert(api: &Api, token: &str, quote: &Value) -> Reply {
    let body = json!({"quote_id": quote["quote_id"]});
    api.post("/v1/asset-conversions", token, body).await
}

/// (available) of every asset, by symbol.
async fn holdings(api: &Api, token: &str) -> HashMap<String, u64> {
    let body = api.get("/v1/me/balances", token).await.expect(200).clone();
    let lines = body["balances"].as_array().expect("balances");
    lines
        .iter()
        .map(|line| (text(&line["asset"]), line["available"].as_u64().unwrap()))
        .collect()
}

/// Prices, quotes with a spread, conversions through the treasury: both legs or neither
/// (a treasury without the coin refuses and the member keeps their MVP), a quote converts
/// once however often it is sent, an expired quote is refused, another member's quote is
/// not found.
async fn asset_conversions(backend: Backend) {
    let world = World::start(backend, "assets", &["--asset-quote-ttl-s", "2"]);
    let api = &world.api;
    let sky = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let (_, alice) = member(api, "010-7100-0001", "Alice").await;
    let (_, bob) = member(api, "010-7100-0002", "Bob").await;
    let link_id = link(api, &alice, &sky, "ALICE-9", INITIAL_MILEAGE).await;
    completed_exchange(api, &alice, &link_id, 50_000).await;

    let prices = api.get("/v1/prices", "").await.expect(200).clone();
    let listed: Vec<(String, String)> = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (text(&p["asset"]), text(&p["krw_per_unit"])))
        .collect();
    assert_eq!(
        listed,
        [("MVP".into(), "1".into()), ("TTC".into(), "100".into())]
    );

    // 10,000 MVP into TTC at 100 KRW, less 1 %: 99 TTC (4 places). Sent 8 times at once,
    // it converts once.
    let first = quote(api, &alice, "MVP", "TTC", 10_000)
        .await
        .expect(201)
        .clone();
    assert_eq!(
        (first["to_amount"].as_u64(), first["spread_bps"].as_u64()),
        (Some(990_000), Some(100))
    );
    let sends = (0..8).map(|_| async { convert(api, &alice, &first).await });
    let replies = futures_util::future::join_all(sends).await;
    let ids: HashSet<String> = replies
        .iter()
        .map(|reply| {
            reply.expect(201)["transfer_ids"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let held = holdings(api, &alice).await;
    assert_eq!((held["MVP"], held["TTC"]), (40_000, 990_000));

    // BTC has no price yet; then a price but an empty treasury: refused, nothing moves.
    quote(api, &alice, "MVP", "BTC", 20_000)
        .await
        .problem(409, "no-price");
    let set = api
        .call(
            Method::PUT,
            "/admin/v1/prices/BTC",
            TOKEN,
            Some(json!({"krw_per_unit": "100000000"})),
            &[],
        )
        .await;
    assert_eq!(set.expect(200)["source"], "operator");
    let short = quote(api, &alice, "MVP", "BTC", 20_000)
        .await
        .expect(201)
        .clone();
    assert_eq!(short["to_amount"], 19_800, "{short}");
    convert(api, &alice, &short)
        .await
        .problem(409, "treasury-short");
    assert_eq!(holdings(api, &alice).await["MVP"], 40_000);
    let deposit = json!({"asset": "BTC", "amount": 100_000_000u64, "reference": "custody-0001"});
    api.post("/admin/v1/treasury/deposits", TOKEN, deposit.clone())
        .await
        .expect(201);
    api.post("/admin/v1/treasury/deposits", TOKEN, deposit)
        .await
        .expect(201);
    let again = quote(api, &alice, "MVP", "BTC", 20_000)
        .await
        .expect(201)
        .clone();
    convert(api, &alice, &again).await.expect(201);
    let held = holdings(api, &alice).await;
    assert_eq!((held["MVP"], held["BTC"]), (20_000, 19_800));

    // And back: 1 TTC is 100 MVP less 1 %, from the MVP the treasury took in.
    let back = quote(api, &alice, "TTC", "MVP", 10_000)
        .await
        .expect(201)
        .clone();
    assert_eq!(back["to_amount"], 99);
    convert(api, &alice, &back).await.expect(201);
    let held = holdings(api, &alice).await;
    assert_eq!((held["MVP"], held["TTC"]), (20_099, 980_000));

    // Refusals move nothing: too little, too much, the same asset, an unknown asset,
    // another member's quote, an expired quote.
    quote(api, &alice, "MVP", "BTC", 1)
        .await
        .problem(422, "amount-too-small");
    // At the bounds of what a quote row holds: 10^15 units either side.
    quote(api, &alice, "MVP", "TTC", 1_000_000_000_000_001)
        .await
        .problem(400, "invalid-fields");
    quote(api, &alice, "MVP", "TTC", 100_000_000_000_000)
        .await
        .problem(400, "invalid-fields");
    let far = format!(
        "/admin/v1/reports/volume?from={}&to={}",
        u64::MAX - 10,
        u64::MAX
    );
    api.get(&far, TOKEN).await.problem(400, "invalid-fields");
    quote(api, &alice, "MVP", "MVP", 10)
        .await
        .problem(400, "invalid-fields");
    quote(api, &alice, "MVP", "DOGE", 10)
        .await
        .problem(400, "invalid-fields");
    let broke = quote(api, &alice, "MVP", "TTC", 30_000)
        .await
        .expect(201)
        .clone();
    convert(api, &alice, &broke)
        .await
        .problem(422, "insufficient-balance");
    let mine = quote(api, &alice, "MVP", "TTC", 100)
        .await
        .expect(201)
        .clone();
    convert(api, &bob, &mine)
        .await
        .problem(404, "unknown-quote");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    convert(api, &alice, &mine)
        .await
        .problem(409, "quote-expired");
    let held = holdings(api, &alice).await;
    assert_eq!(
        (held["MVP"], held["TTC"], held["BTC"]),
        (20_099, 980_000, 19_800)
    );

    // Sending coins: 1 TTC to Bob as TTC, 1 TTC to Bob received as MVP (100 MVP less 1 %),
    // into another asset only to a member; 0.5 TTC held for a phone in TTC, claimed when
    // it joins.
    let ttc = json!({"to_phone": "010-7100-0002", "asset": "TTC", "amount": 10_000});
    let sent = send(api, &alice, "ttc-1", ttc).await.expect(201).clone();
    assert_eq!(
        (sent["asset"].as_str(), sent["received_amount"].as_u64()),
        (Some("TTC"), Some(10_000))
    );
    let cross = json!({"to_phone": "010-7100-0002", "asset": "TTC", "receive_asset": "MVP", "amount": 10_000});
    let sent = send(api, &alice, "ttc-2", cross).await.expect(201).clone();
    assert_eq!(
        (
            sent["receive_asset"].as_str(),
            sent["received_amount"].as_u64()
        ),
        (Some("MVP"), Some(99))
    );
    let stranger = json!({"to_phone": "010-7100-0003", "asset": "TTC", "receive_asset": "MVP", "amount": 10_000});
    send(api, &alice, "ttc-3", stranger)
        .await
        .problem(422, "cross-asset-needs-member");
    let held_ttc = json!({"to_phone": "010-7100-0003", "asset": "TTC", "amount": 5_000});
    let parked = send(api, &alice, "ttc-4", held_ttc)
        .await
        .expect(201)
        .clone();
    assert_eq!(parked["status"], "held");
    let bob_has = holdings(api, &bob).await;
    assert_eq!((bob_has["TTC"], bob_has["MVP"]), (10_000, 99));
    let (_, carol) = member(api, "010-7100-0003", "Carol").await;
    assert_eq!(holdings(api, &carol).await["TTC"], 5_000);
    let alice_has = holdings(api, &alice).await;
    assert_eq!((alice_has["TTC"], alice_has["MVP"]), (955_000, 20_099));
}

/// The custodial coins' prices from an exchange's ticker (the simulator of Upbit's REST
/// format, with an exponent-form price as Upbit prints them), kept with `source: feed` and
/// quoted at; an operator's price of TTC stays the operator's.
async fn price_feed(backend: Backend) {
    let prices =
        gateways::ticker::sim::SimPrices::from_pairs([("BTC", "1.4325E8"), ("ETH", "5200000.5")])
            .expect("prices");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateways::ticker::sim::serve_ticker_sim(
        listener,
        prices,
        std::future::pending(),
    ));
    let world = World::start(backend, "feed", &["--price-feed-url", &feed]);
    let api = &world.api;
    let listed = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = api.get("/v1/prices", "").await.expect(200).clone();
            let lines = body["prices"].as_array().unwrap().clone();
            if lines.iter().any(|line| line["source"] == "feed") || Instant::now() > deadline {
                break lines;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let of = |symbol: &str| listed.iter().find(|line| line["asset"] == symbol).cloned();
    let btc = of("BTC").expect("BTC priced by the feed");
    assert_eq!(
        (btc["krw_per_unit"].as_str(), btc["source"].as_str()),
        (Some("143250000"), Some("feed"))
    );
    assert_eq!(of("ETH").unwrap()["krw_per_unit"], "5200000.5");
    assert_eq!(
        of("USDT"),
        None,
        "a market the feed does not list has no price"
    );
    assert_eq!(of("TTC").unwrap()["source"], "operator");
    let (_, alice) = member(api, "010-7200-0001", "Alice").await;
    let quoted = quote(api, &alice, "BTC", "MVP", 100_000)
        .await
        .expect(201)
        .clone();
    // 0.001 BTC at 143,250,000 KRW less 1 %: 141,817 MVP (rounded down).
    assert_eq!(quoted["to_amount"], 141_817, "{quoted}");
}

// ---------------------------------------------------------------------------------------
// 11. Escrowed trades and game companies

/// (available, pending) of one asset.
async fn asset_balance(api: &Api, token: &str, asset: &str) -> (u64, u64) {
    let body = api.get("/v1/me/balances", token).await.expect(200).clone();
    let lines = body["balances"].as_array().expect("balances");
    let line = lines
        .iter()
        .find(|line| line["asset"] == asset)
        .unwrap_or_else(|| panic!("{asset} in {body}"));
    (
        line["available"].as_u64().expect("available"),
        line["pending"].as_u64().expect("pending"),
    )
}

/// A game company's signed POST (the VAN scheme).
async fn game_post(api: &Api, key: &(String, String), path: &str, body: Value) -> Reply {
    let bytes = serde_json::to_vec(&body).unwrap();
    let timestamp_s = now_s();
    let signature = signing::van_signature(key.1.as_bytes(), timestamp_s, "POST", path, &bytes);
    let response = api
        .http
        .post(format!("{}{path}", api.base))
        .header("content-type", "application/json")
        .header("x-mileverse-key", &key.0)
        .header("x-mileverse-timestamp", timestamp_s.to_string())
        .header("x-mileverse-signature", signature)
        .body(bytes)
        .send()
        .await
        .expect("a game request");
    reply_of(response, format!("POST {path} (signed)")).await
}

/// A game company's signed GET (the VAN scheme over an empty body).
async fn game_get(api: &Api, key: &(String, String), path: &str) -> Reply {
    let timestamp_s = now_s();
    let signature = signing::van_signature(key.1.as_bytes(), timestamp_s, "GET", path, b"");
    let response = api
        .http
        .get(format!("{}{path}", api.base))
        .header("x-mileverse-key", &key.0)
        .header("x-mileverse-timestamp", timestamp_s.to_string())
        .header("x-mileverse-signature", signature)
        .send()
        .await
        .expect("a game request");
    reply_of(response, format!("GET {path} (signed)")).await
}

async fn offer_trade(api: &Api, token: &str, key: &str, body: Value) -> Reply {
    let headers = [("Idempotency-Key", key)];
    api.call(Method::POST, "/v1/trades", token, Some(body), &headers)
        .await
}

async fn trade_step(api: &Api, token: &str, trade: &Value, step: &str) -> Reply {
    let path = format!("/v1/trades/{}/{step}", text(&trade["trade_id"]));
    api.post(&path, token, json!({})).await
}

/// Polls the trade (as `token`) until it is `status`, at most 30 s.
async fn wait_for_trade(api: &Api, token: &str, trade: &Value, status: &str) -> Value {
    let path = format!("/v1/trades/{}", text(&trade["trade_id"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = api.get(&path, token).await.expect(200).clone();
        if seen["status"] == status {
            return seen;
        }
        assert!(Instant::now() < deadline, "never {status}: {seen}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A game company credits TTC (game money) idempotently; an on-platform trade completes
/// with both legs at once and one buyer among concurrent takes; refusals move nothing; an
/// off-platform trade completes when the seller confirms; disputes freeze a trade past its
/// deadline until an operator refunds or releases it; the timeout voids the locks once; a
/// game item's trade completes when its company confirms the delivery.
async fn escrow_trades(backend: Backend) {
    let world = World::start(backend, "escrow", &["--escrow-timeout-s", "8"]);
    let api = &world.api;
    let sky = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let (_, alice) = member(api, "010-7300-0001", "Alice").await;
    let (_, bob) = member(api, "010-7300-0002", "Bob").await;
    let (_, carol) = member(api, "010-7300-0003", "Carol").await;
    let (_, eve) = member(api, "010-7300-0004", "Eve").await;
    for (token, reference) in [(&alice, "ALICE-E"), (&bob, "BOB-E"), (&carol, "CAROL-E")] {
        let link_id = link(api, token, &sky, reference, INITIAL_MILEAGE).await;
        completed_exchange(api, token, &link_id, 100_000).await;
    }

    // A game company: registered, funded from the treasury, credits game money (TTC) once
    // per credit_id.
    let grant = api
        .post("/admin/v1/games", TOKEN, json!({"name": "Tetra Games"}))
        .await
        .expect(201)
        .clone();
    let game_id = text(&grant["game_id"]);
    let key = (text(&grant["key_id"]), text(&grant["secret"]));
    let funding = format!("/admin/v1/games/{game_id}/fundings");
    let funded = api
        .post(
            &funding,
            TOKEN,
            json!({"amount": 10_000_000, "reference": "po-1"}),
        )
        .await
        .expect(201)
        .clone();
    let again = api
        .post(
            &funding,
            TOKEN,
            json!({"amount": 10_000_000, "reference": "po-1"}),
        )
        .await;
    assert_eq!(again.expect(201)["transfer_id"], funded["transfer_id"]);
    let credit = json!({"member_phone": "010-7300-0001", "amount": 2_000_000,
        "kind": "game_money", "credit_id": "c-1"});
    let first = game_post(api, &key, "/game/v1/credits", credit.clone()).await;
    assert_eq!(first.expect(201)["asset"], "TTC");
    let replay = game_post(api, &key, "/game/v1/credits", credit.clone()).await;
    replay.expect(201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let mut other = credit.clone();
    other["amount"] = json!(3);
    game_post(api, &key, "/game/v1/credits", other)
        .await
        .problem(409, "game-credit-conflict");
    let short = json!({"member_phone": "010-7300-0001", "amount": 9_000_000,
        "kind": "reward", "credit_id": "c-2"});
    game_post(api, &key, "/game/v1/credits", short)
        .await
        .problem(409, "game-funds-short");
    let forged = (key.0.clone(), "not the secret".to_string());
    game_post(api, &forged, "/game/v1/credits", credit.clone())
        .await
        .problem(401, "bad-signature");
    assert_eq!(asset_balance(api, &alice, "TTC").await, (2_000_000, 0));
    let balance = game_get(api, &key, "/game/v1/balance").await;
    let expected = json!({"game_id": game_id, "asset": "TTC", "bought": 10_000_000,
        "credited": 2_000_000, "available": 8_000_000});
    assert_eq!(balance.expect(200).clone(), expected);
    // A new key: the old one is refused at once, the new one works.
    let rotated = api
        .post(&format!("/admin/v1/games/{game_id}/key"), TOKEN, json!({}))
        .await
        .expect(201)
        .clone();
    let old_key = key;
    let key = (text(&rotated["key_id"]), text(&rotated["secret"]));
    assert_ne!(key, old_key);
    game_get(api, &old_key, "/game/v1/balance")
        .await
        .problem(401, "bad-signature");
    game_get(api, &key, "/game/v1/balance").await.expect(200);

    // On the platform: 100 TTC for 9,000 MVP; the offer locks the TTC, a retry under its
    // key answers the same offer.
    let body = json!({"asset": "TTC", "amount": 1_000_000, "price_asset": "MVP", "price": 9_000});
    let offered = offer_trade(api, &alice, "o-1", body.clone())
        .await
        .expect(201)
        .clone();
    assert_eq!(
        (offered["status"].as_str(), offered["role"].as_str()),
        (Some("open"), Some("seller"))
    );
    let retried = offer_trade(api, &alice, "o-1", body.clone()).await;
    assert_eq!(retried.expect(201)["trade_id"], offered["trade_id"]);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(
        asset_balance(api, &alice, "TTC").await,
        (1_000_000, 1_000_000)
    );
    let browsed = api.get("/v1/trades", &bob).await.expect(200).clone();
    assert_eq!(browsed["trades"][0]["trade_id"], offered["trade_id"]);
    assert_eq!(browsed["trades"][0]["role"], Value::Null);

    // Eight takes at once by two members: exactly one buyer.
    let takers = [&bob, &carol, &bob, &carol, &bob, &carol, &bob, &carol];
    let takes = takers
        .iter()
        .map(|token| trade_step(api, token, &offered, "take"));
    let replies = futures_util::future::join_all(takes).await;
    let won: Vec<usize> = (0..8).filter(|n| replies[*n].status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for (n, reply) in replies.iter().enumerate() {
        if n != won[0] {
            reply.problem(409, "trade-state");
        }
    }
    let (buyer, loser) = match won[0] % 2 {
        0 => (&bob, &carol),
        _ => (&carol, &bob),
    };
    assert_eq!(asset_balance(api, buyer, "MVP").await, (91_000, 9_000));
    assert_eq!(asset_balance(api, loser, "MVP").await, (100_000, 0));
    trade_step(api, &alice, &offered, "confirm")
        .await
        .problem(403, "trade-wrong-party");
    let path = format!("/v1/trades/{}", text(&offered["trade_id"]));
    api.get(&path, &eve).await.problem(404, "unknown-trade");
    let done = trade_step(api, buyer, &offered, "confirm")
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "completed");
    assert_eq!(asset_balance(api, &alice, "TTC").await, (1_000_000, 0));
    assert_eq!(asset_balance(api, &alice, "MVP").await, (109_000, 0));
    assert_eq!(asset_balance(api, buyer, "TTC").await, (1_000_000, 0));
    assert_eq!(asset_balance(api, buyer, "MVP").await, (91_000, 0));
    trade_step(api, buyer, &offered, "confirm")
        .await
        .problem(409, "trade-state");

    // Refusals move nothing.
    let before = (holdings(api, &alice).await, holdings(api, &eve).await);
    let refusals = [
        (
            json!({"asset": "TTC", "amount": 0, "price_asset": "MVP", "price": 1}),
            400,
            "invalid-fields",
        ),
        (
            json!({"asset": "TTC", "amount": 1_000_000_000_000_001_u64, "price_asset": "MVP", "price": 1}),
            400,
            "invalid-fields",
        ),
        (
            json!({"asset": "TTC", "amount": 1, "price_asset": "MVP", "price": 0}),
            400,
            "invalid-fields",
        ),
        (
            json!({"asset": "DOGE", "amount": 1, "price_asset": "MVP", "price": 1}),
            400,
            "invalid-fields",
        ),
        (
            json!({"asset": "TTC", "amount": 1, "price_asset": "TTC", "price": 1}),
            400,
            "invalid-fields",
        ),
        (
            json!({"asset": "TTC", "amount": 1, "price_asset": "MVP", "price": 1, "settlement": "cash"}),
            400,
            "invalid-fields",
        ),
        (
            json!({"game_id": game_id, "item_ref": "x", "item_name": "X", "price_asset": "MVP", "price": 1, "settlement": "off_platform"}),
            400,
            "invalid-fields",
        ),
        (
            json!({"game_id": "12345", "item_ref": "x", "item_name": "X", "price_asset": "MVP", "price": 1}),
            404,
            "unknown-game",
        ),
        (
            json!({"asset": "TTC", "amount": 1_000_001, "price_asset": "MVP", "price": 1}),
            422,
            "insufficient-balance",
        ),
        (
            json!({"price_asset": "MVP", "price": 1}),
            400,
            "invalid-fields",
        ),
    ];
    for (index, (body, status, slug)) in refusals.into_iter().enumerate() {
        let reply = offer_trade(api, &alice, &format!("refused-{index}"), body).await;
        reply.problem(status, slug);
    }
    let dear = json!({"asset": "TTC", "amount": 10, "price_asset": "MVP", "price": 500_000});
    let dear = offer_trade(api, &alice, "dear", dear)
        .await
        .expect(201)
        .clone();
    trade_step(api, &alice, &dear, "take")
        .await
        .problem(422, "trade-own-offer");
    trade_step(api, &eve, &dear, "take")
        .await
        .problem(422, "insufficient-balance");
    trade_step(api, &eve, &dear, "cancel")
        .await
        .problem(403, "trade-wrong-party");
    trade_step(api, &alice, &dear, "confirm")
        .await
        .problem(409, "trade-state");
    let cancelled = trade_step(api, &alice, &dear, "cancel").await;
    assert_eq!(cancelled.expect(200)["status"], "cancelled");
    trade_step(api, &alice, &dear, "cancel")
        .await
        .problem(409, "trade-state");
    assert_eq!(
        (holdings(api, &alice).await, holdings(api, &eve).await),
        before
    );
    assert_eq!(asset_balance(api, &alice, "TTC").await, (1_000_000, 0));

    // Off the platform: the seller confirms the payment arrived; only the asset moves.
    let body = json!({"asset": "TTC", "amount": 100_000, "price_asset": "MVP", "price": 1_000,
        "settlement": "off_platform"});
    let outside = offer_trade(api, &alice, "o-2", body)
        .await
        .expect(201)
        .clone();
    let bob_mvp = asset_balance(api, &bob, "MVP").await;
    trade_step(api, &bob, &outside, "take").await.expect(200);
    assert_eq!(asset_balance(api, &bob, "MVP").await, bob_mvp);
    trade_step(api, &bob, &outside, "confirm")
        .await
        .problem(403, "trade-wrong-party");
    let paid = trade_step(api, &alice, &outside, "confirm").await;
    assert_eq!(paid.expect(200)["status"], "completed");
    let bob_ttc = asset_balance(api, &bob, "TTC").await;
    assert_eq!(asset_balance(api, &alice, "TTC").await, (900_000, 0));

    // Disputes: one refunded, one released; the first waits past its deadline, frozen.
    let body = json!({"asset": "TTC", "amount": 300_000, "price_asset": "MVP", "price": 3_000});
    let quarrel = offer_trade(api, &alice, "o-3", body)
        .await
        .expect(201)
        .clone();
    trade_step(api, &bob, &quarrel, "take").await.expect(200);
    let disputes = format!("/v1/trades/{}/disputes", text(&quarrel["trade_id"]));
    let evidence = json!({"text": "the coins never arrived", "evidence": "chat log 12:03"});
    api.post(&disputes, &eve, evidence.clone())
        .await
        .problem(404, "unknown-trade");
    let opened = api
        .post(&disputes, &bob, evidence)
        .await
        .expect(201)
        .clone();
    assert_eq!(opened["status"], "disputed");
    assert_eq!(opened["dispute"]["opened_by"], "buyer");
    assert_eq!(opened["dispute"]["evidence"], "chat log 12:03");
    trade_step(api, &bob, &quarrel, "confirm")
        .await
        .problem(409, "trade-state");
    let body = json!({"asset": "TTC", "amount": 200_000, "price_asset": "MVP", "price": 2_000});
    let fair = offer_trade(api, &alice, "o-4", body)
        .await
        .expect(201)
        .clone();
    trade_step(api, &carol, &fair, "take").await.expect(200);
    let path = format!("/v1/trades/{}/disputes", text(&fair["trade_id"]));
    let body = json!({"text": "paid, no confirmation"});
    api.post(&path, &alice, body).await.expect(201);

    // The timeout: a taken trade and an open offer expire, their locks voided once.
    let body = json!({"asset": "TTC", "amount": 100_000, "price_asset": "MVP", "price": 1_000});
    let late = offer_trade(api, &alice, "o-5", body)
        .await
        .expect(201)
        .clone();
    trade_step(api, &bob, &late, "take").await.expect(200);
    let body = json!({"asset": "TTC", "amount": 50_000, "price_asset": "MVP", "price": 500});
    let lonely = offer_trade(api, &alice, "o-6", body)
        .await
        .expect(201)
        .clone();
    let bob_mvp = asset_balance(api, &bob, "MVP").await;
    // The disputed trades' locks sit posted in escrow: only the last take is pending.
    assert_eq!(bob_mvp.1, 1_000, "{bob_mvp:?}");
    assert_eq!(asset_balance(api, &alice, "TTC").await, (250_000, 150_000));
    wait_for_trade(api, &bob, &late, "expired").await;
    wait_for_trade(api, &alice, &lonely, "expired").await;
    // Two more sweeps: nothing moves again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(asset_balance(api, &alice, "TTC").await, (400_000, 0));
    assert_eq!(
        asset_balance(api, &bob, "MVP").await,
        (bob_mvp.0 + 1_000, 0)
    );
    trade_step(api, &bob, &late, "confirm")
        .await
        .problem(409, "trade-state");
    let frozen = api
        .get(
            &format!("/v1/trades/{}", text(&quarrel["trade_id"])),
            &alice,
        )
        .await;
    assert_eq!(frozen.expect(200)["status"], "disputed");

    // The operator's queue, and the resolutions.
    let queue = api
        .get("/admin/v1/disputes", TOKEN)
        .await
        .expect(200)
        .clone();
    let queued: Vec<String> = queue["disputes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| text(&d["dispute_id"]))
        .collect();
    assert_eq!(
        queued,
        [text(&quarrel["trade_id"]), text(&fair["trade_id"])]
    );
    assert_eq!(
        queue["disputes"][0]["trade"]["dispute"]["text"],
        "the coins never arrived"
    );
    let resolve =
        |trade: &Value| format!("/admin/v1/disputes/{}/resolution", text(&trade["trade_id"]));
    let bad = json!({"outcome": "split"});
    api.post(&resolve(&quarrel), TOKEN, bad)
        .await
        .problem(400, "invalid-fields");
    let refunded = api
        .post(
            &resolve(&quarrel),
            TOKEN,
            json!({"outcome": "refund", "note": "no proof"}),
        )
        .await;
    assert_eq!(refunded.expect(200)["trade"]["status"], "refunded");
    api.post(&resolve(&quarrel), TOKEN, json!({"outcome": "release"}))
        .await
        .problem(409, "trade-state");
    let carol_mvp = asset_balance(api, &carol, "MVP").await;
    let released = api
        .post(&resolve(&fair), TOKEN, json!({"outcome": "release"}))
        .await;
    assert_eq!(released.expect(200)["trade"]["status"], "released");
    assert_eq!(asset_balance(api, &alice, "TTC").await, (700_000, 0));
    assert_eq!(asset_balance(api, &bob, "TTC").await, bob_ttc);
    assert_eq!(
        asset_balance(api, &bob, "MVP").await,
        (bob_mvp.0 + 4_000, 0)
    );
    assert_eq!(
        asset_balance(api, &carol, "TTC").await.0,
        200_000 + carol_ttc_before(buyer, &carol)
    );
    assert_eq!(asset_balance(api, &carol, "MVP").await, (carol_mvp.0, 0));

    // A game item: paid on the platform, completed when the company confirms delivery.
    let body = json!({"game_id": game_id, "item_ref": "sword-7", "item_name": "Flame Sword",
        "price_asset": "MVP", "price": 4_000});
    let sword = offer_trade(api, &alice, "o-7", body)
        .await
        .expect(201)
        .clone();
    assert_eq!(sword["kind"], "item");
    trade_step(api, &eve, &sword, "take")
        .await
        .problem(422, "insufficient-balance");
    trade_step(api, &bob, &sword, "take").await.expect(200);
    let alice_mvp = asset_balance(api, &alice, "MVP").await;
    let delivered = json!({"trade_id": sword["trade_id"]});
    let done = game_post(api, &key, "/game/v1/deliveries", delivered).await;
    assert_eq!(done.expect(200)["status"], "completed");
    assert_eq!(
        asset_balance(api, &alice, "MVP").await,
        (alice_mvp.0 + 4_000, 0)
    );
}

/// What Carol held in TTC before the released trade: the 100 TTC if she won the race.
fn carol_ttc_before(buyer: &str, carol: &str) -> u64 {
    match buyer == carol {
        true => 1_000_000,
        false => 0,
    }
}

/// Points replacement (TT-11): a prepaid partner's members exchange only what the partner
/// bought. Nothing bought: refused before the partner hears of it. 10,000 MVP bought (the
/// purchase recorded twice, counted once); 12 exchanges of 1,000 at once from four members:
/// exactly 10 complete, 2 are refused, and the partner debited exactly the 10.
async fn prepaid_partner(backend: Backend) {
    let world = World::start(backend, "prepaid", &[]);
    let api = &world.api;
    let funding = json!({"funding": "prepaid"});
    let jeju = partner(api, &world.sim.base, "Jeju Points", 1, 1, funding).await;
    let path = format!("/admin/v1/partners/{jeju}");
    let shown = api.get(&path, TOKEN).await.expect(200).clone();
    assert_eq!(shown["funding"], "prepaid", "{shown}");
    assert_eq!(shown["prepaid"]["available_mvp"], 0, "{shown}");
    let mut members = Vec::new();
    for n in 0..4 {
        let (_, token) = member(api, &format!("010-7400-000{n}"), &format!("Jeju {n}")).await;
        let link_id = link(api, &token, &jeju, &format!("JEJU-{n}"), INITIAL_MILEAGE).await;
        members.push((token, link_id));
    }
    let (first, first_link) = &members[0];
    exchange(api, first, first_link, 1_000, None)
        .await
        .problem(422, "prepaid-exceeded");

    let prepayments = format!("{path}/prepayments");
    for _ in 0..2 {
        let body = json!({"reference": "BANK-7", "amount": 10_000});
        let bought = api
            .post(&prepayments, TOKEN, body)
            .await
            .expect(201)
            .clone();
        assert_eq!(bought["prepaid"]["bought_mvp"], 10_000, "{bought}");
        assert_eq!(bought["prepaid"]["available_mvp"], 10_000, "{bought}");
    }
    let exchanges = (0..12).map(|n| {
        let (token, link_id) = members[n % 4].clone();
        async move { exchange(api, &token, &link_id, 1_000, None).await }
    });
    let replies = futures_util::future::join_all(exchanges).await;
    let completed = replies.iter().filter(|r| r.status == 200).count();
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.problem(422, "prepaid-exceeded");
    }
    assert_eq!(completed, 10);
    let mut held = 0;
    let mut debited = 0;
    for (token, _) in &members {
        held += balance(api, token).await.0;
        let links = api.get("/v1/me/partner-links", token).await;
        let left = links.expect(200)["links"][0]["balance"]
            .as_u64()
            .expect("live");
        debited += INITIAL_MILEAGE - left;
    }
    assert_eq!(
        (held, debited),
        (10_000, 10_000),
        "the partner debited exactly the 10"
    );
    let shown = api.get(&path, TOKEN).await.expect(200).clone();
    let expected = json!({"bought_mvp": 10_000, "handed_out_mvp": 10_000, "reserved_mvp": 0,
        "available_mvp": 0});
    assert_eq!(shown["prepaid"], expected, "{shown}");
    assert_eq!(shown["issued_mvp"], 0, "nothing issued on credit: {shown}");

    // A partner on credit buys nothing up front.
    let sky = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let body = json!({"reference": "BANK-8", "amount": 10});
    api.post(
        &format!("/admin/v1/partners/{sky}/prepayments"),
        TOKEN,
        body,
    )
    .await
    .problem(400, "invalid-fields");
}

/// Trading rewards (TT-14): 1 % of the MVP side of each conversion from a promotion's
/// budget, linked to the conversion. A budget of 150: 100 for a conversion of 10,000 MVP,
/// then the 50 left of the next one's 100, then nothing, and every conversion still goes;
/// the member's history names the rewards.
async fn trading_rewards(backend: Backend) {
    let world = World::start(backend, "trading", &[]);
    let api = &world.api;
    let sky = partner(api, &world.sim.base, "Sky Air", 1, 1, json!({})).await;
    let (_, alice) = member(api, "010-7500-0001", "Alice").await;
    let link_id = link(api, &alice, &sky, "ALICE-5", INITIAL_MILEAGE).await;
    completed_exchange(api, &alice, &link_id, 50_000).await;
    let (starts_at, ends_at) = (
        ports::time::rfc3339(now_s() - 60),
        ports::time::rfc3339(now_s() + 86_400),
    );
    let body = json!({"name": "Trade 1 %", "kind": "trading_reward", "rate_bps": 100,
        "starts_at": starts_at, "ends_at": ends_at});
    let made = api.post("/admin/v1/promotions", TOKEN, body).await;
    let id = text(&made.expect(201)["promotion_id"]);
    let funding = json!({"amount": 150, "reference": "marketing-7"});
    let path = format!("/admin/v1/promotions/{id}/fundings");
    api.post(&path, TOKEN, funding).await.expect(200);
    // A trading reward names no merchant.
    let wrong = json!({"name": "x", "kind": "trading_reward", "rate_bps": 100, "brand": "b",
        "starts_at": starts_at, "ends_at": ends_at});
    api.post("/admin/v1/promotions", TOKEN, wrong)
        .await
        .problem(400, "invalid-fields");

    let mut expected_mvp = 50_000;
    for reward in [100, 50, 0] {
        let quoted = quote(api, &alice, "MVP", "TTC", 10_000)
            .await
            .expect(201)
            .clone();
        convert(api, &alice, &quoted).await.expect(201);
        expected_mvp = expected_mvp - 10_000 + reward;
        assert_eq!(holdings(api, &alice).await["MVP"], expected_mvp);
    }
    let history = transactions(api, &alice, "?reason=trading_reward").await;
    let amounts: Vec<u64> = history["transactions"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["amount"].as_u64().expect("amount"))
        .collect();
    assert_eq!(amounts, [50, 100], "newest first: {history}");
    let shown = api.get(&format!("/admin/v1/promotions/{id}"), TOKEN).await;
    let shown = shown.expect(200);
    assert_eq!(shown["remaining_mvp"], 0, "{shown}");
    assert_eq!(shown["trading_reward_mvp"], 150, "{shown}");
}
