//! Checkout over HTTP against the real binaries (issue 15 item 4): a `mileverse serve` child
//! on SQLite and on PostgreSQL, a shop signing with its terminal key, members approving in
//! the app, and a `mileverse webhook-sim` child as the merchant's receiver, killed and
//! started again on its port. Every balance is read back over HTTP.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ports::signing::van_signature;
use serde_json::{Value, json};
use support::{
    Backend, JsonApi as Api, ServerProcess, TOKEN, WebhookSimProcess, client, now_s, text,
};

const PIN: &str = "135790";
/// The test's funding account in the raw ledger.
const FUNDING_ACCOUNT: &str = "77";
/// Longest one flow may take.
const FLOW_DEADLINE: Duration = Duration::from_secs(150);
/// Longest the webhooks may take to arrive once the receiver is up.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(60);

on_both_backends!(
    checkout_pays_refunds_and_tells_the_merchant_once,
    promotions_grant_and_refunds_take_back,
);

async fn run(flow: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(FLOW_DEADLINE, flow)
        .await
        .expect("the flow did not finish in time");
}

/// A shop's server: signs with its terminal key like a till.
struct Shop {
    base: String,
    key_id: String,
    secret: String,
    http: reqwest::Client,
}

impl Shop {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let timestamp_s = now_s();
        let signature = van_signature(self.secret.as_bytes(), timestamp_s, method, path, &bytes);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-mileverse-key", &self.key_id)
            .header("x-mileverse-timestamp", timestamp_s.to_string())
            .header("x-mileverse-signature", signature);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.body(bytes).send().await.expect("send");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.send(method, path, body, None).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    async fn intent(&self, order_id: &str, amount: u64, capture_method: &str) -> Value {
        let body = json!({"order_id": order_id, "amount": amount, "capture_method": capture_method,
            "return_url": "https://shop.example/orders/done", "description": "Blue Cup beans 1kg"});
        let (status, value) = self
            .send("POST", "/checkout/v1/intents", Some(&body), None)
            .await;
        assert_eq!(status, 201, "{value}");
        value
    }
}

struct World {
    _directory: tempfile::TempDir,
    _server: ServerProcess,
    api: Api,
    phones: u32,
}

impl World {
    async fn start(backend: Backend) -> World {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut extra = backend.options("checkout");
        // The retry schedule in units of 10 ms: 0.1 s, 0.6 s, 3 s, …
        for option in ["--webhook-retry-unit-ms", "10", "--webhook-poll-ms", "50"] {
            extra.push(option.to_string());
        }
        let server = ServerProcess::start_with(&directory.path().join("data"), &extra);
        let api = Api {
            base: server.base.clone(),
            http: client(),
        };
        let accounts = json!({"accounts": [{"id": FUNDING_ACCOUNT, "ledger": 1, "code": 999}]});
        api.ok("POST", "/admin/v1/ledger/accounts", TOKEN, Some(accounts))
            .await;
        World {
            _directory: directory,
            _server: server,
            api,
            phones: 0,
        }
    }

    /// A new member holding `balance` MVP; their session token.
    async fn member(&mut self, balance: u64) -> String {
        self.phones += 1;
        let phone = format!("0108888{:04}", self.phones);
        let api = &self.api;
        let verification = api
            .ok(
                "POST",
                "/v1/verifications",
                "",
                Some(json!({"phone": phone})),
            )
            .await;
        let outbox = api
            .ok(
                "GET",
                &format!("/admin/v1/sms-outbox?phone={phone}"),
                TOKEN,
                None,
            )
            .await;
        let sms = text(&outbox["messages"][0]["text"]);
        let code = sms.strip_prefix("[Mileverse] verification code ").unwrap();
        let body = json!({"verification_id": verification["verification_id"], "code": code,
                          "name": "Kim Shopper", "pin": PIN});
        let member = api.ok("POST", "/v1/members", "", Some(body)).await;
        let login = json!({"phone": phone, "pin": PIN, "device_token": member["device_token"]});
        let token = text(&api.ok("POST", "/v1/sessions", "", Some(login)).await["token"]);
        let transfer = json!({"transfers": [{"id": rand::random::<u64>().to_string(),
            "debit_account_id": FUNDING_ACCOUNT, "credit_account_id": member["member_id"],
            "amount": balance.to_string(), "ledger": 1, "code": 5}]});
        if balance > 0 {
            let results = api
                .ok("POST", "/admin/v1/ledger/transfers", TOKEN, Some(transfer))
                .await;
            assert_eq!(results["results"][0]["result"], "ok", "{results}");
        }
        token
    }

    async fn shop(&self, fee_bps: u32) -> (String, Shop) {
        let body = json!({"name": "Blue Cup online", "brand": "Blue Cup", "fee_bps": fee_bps});
        let merchant = self
            .api
            .ok("POST", "/admin/v1/merchants", TOKEN, Some(body))
            .await;
        let merchant_id = text(&merchant["merchant_id"]);
        let path = format!("/admin/v1/merchants/{merchant_id}/terminals");
        let grant = self.api.ok("POST", &path, TOKEN, Some(json!({}))).await;
        let shop = Shop {
            base: self.api.base.clone(),
            key_id: text(&grant["key_id"]),
            secret: text(&grant["secret"]),
            http: client(),
        };
        (merchant_id, shop)
    }

    async fn mvp(&self, token: &str) -> (u64, u64) {
        let body = self.api.ok("GET", "/v1/me/balances", token, None).await;
        let mvp = &body["balances"][0];
        (
            mvp["available"].as_u64().unwrap(),
            mvp["pending"].as_u64().unwrap(),
        )
    }

    async fn approve(&self, token: &str, intent: &Value) -> (u16, Value) {
        let path = format!(
            "/v1/checkout/intents/{}/approval",
            text(&intent["intent_id"])
        );
        self.api.call("POST", &path, token, Some(json!({}))).await
    }
}

/// The merchant's events, newest first, keyed by id.
async fn events(shop: &Shop) -> Vec<Value> {
    let page = shop.ok("GET", "/checkout/v1/events?limit=100", None).await;
    page["events"].as_array().unwrap().clone()
}

async fn checkout_pays_refunds_and_tells_the_merchant_once(backend: Backend) {
    let mut world = World::start(backend).await;
    let (merchant_id, shop) = world.shop(20).await;
    let buyer = world.member(100_000).await;

    // The merchant's receiver, its endpoint set, then taken down before anything happens.
    let receiver = WebhookSimProcess::start("127.0.0.1:0", "");
    let listen = receiver.base.trim_start_matches("http://").to_string();
    let endpoint = json!({"url": format!("{}/webhooks", receiver.base)});
    let set = shop
        .ok("PUT", "/checkout/v1/webhook-endpoint", Some(&endpoint))
        .await;
    let secret = text(&set["secret"]);
    assert!(secret.starts_with("whsec_"), "{set}");
    let shown = shop.ok("GET", "/checkout/v1/webhook-endpoint", None).await;
    assert!(
        shown["secret"].is_null(),
        "the secret is shown once: {shown}"
    );
    receiver.kill();

    // An automatic intent: created once per order id, approved once, paid at once.
    let first = shop.intent("order-1", 30_000, "automatic").await;
    assert_eq!(first["status"], "requires_approval");
    let order_again = json!({"order_id": "order-1", "amount": 30_000, "capture_method": "automatic",
        "return_url": "https://shop.example/orders/done", "description": "Blue Cup beans 1kg"});
    let (status, again) = shop
        .send("POST", "/checkout/v1/intents", Some(&order_again), None)
        .await;
    assert_eq!(
        (status, &again["intent_id"]),
        (200, &first["intent_id"]),
        "{again}"
    );
    let mut other = order_again.clone();
    other["amount"] = json!(31_000);
    let (status, conflict) = shop
        .send("POST", "/checkout/v1/intents", Some(&other), None)
        .await;
    assert_eq!(
        (status, conflict["type"].as_str()),
        (409, Some("urn:mileverse:problem:order-id-conflict")),
        "{conflict}"
    );
    let seen = world
        .api
        .ok(
            "GET",
            &format!("/v1/checkout/intents/{}", text(&first["intent_id"])),
            &buyer,
            None,
        )
        .await;
    assert_eq!(
        (seen["merchant_name"].as_str(), seen["amount"].as_u64()),
        (Some("Blue Cup online"), Some(30_000))
    );

    // Sixteen approvals of one intent at once: one pays.
    let approvals = (0..16).map(|_| world.approve(&buyer, &first));
    let answers = futures_util::future::join_all(approvals).await;
    let paid = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(paid, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| [200, 409, 503].contains(status)),
        "{answers:?}"
    );
    assert_eq!(world.mvp(&buyer).await, (70_000, 0));

    // The receiver is down: the event fails and is retried; it comes back on its port.
    wait_for(|| async {
        let events = events(&shop).await;
        events
            .first()
            .is_some_and(|event| event["attempts"].as_u64() >= Some(2))
    })
    .await;
    let failing = events(&shop).await;
    assert_eq!(failing[0]["delivery"], "pending", "{failing:?}");
    assert!(
        text(&failing[0]["last_error"]).contains("connect"),
        "{failing:?}"
    );
    let receiver = WebhookSimProcess::start(&listen, &secret);

    // A manual intent: held on approval, captured in part.
    let held = shop.intent("order-2", 20_000, "manual").await;
    let (status, approved) = world.approve(&buyer, &held).await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("requires_capture")),
        "{approved}"
    );
    assert_eq!(world.mvp(&buyer).await, (50_000, 20_000));
    let capture_path = format!("/checkout/v1/intents/{}/capture", text(&held["intent_id"]));
    let captured = shop
        .ok("POST", &capture_path, Some(&json!({"amount": 15_000})))
        .await;
    assert_eq!(
        (
            captured["status"].as_str(),
            captured["captured_amount"].as_u64()
        ),
        (Some("succeeded"), Some(15_000))
    );
    assert_eq!(world.mvp(&buyer).await, (55_000, 0));

    // A refund, once per key.
    let refund_path = format!("/checkout/v1/intents/{}/refunds", text(&first["intent_id"]));
    for _ in 0..2 {
        let (status, refunded) = shop
            .send(
                "POST",
                &refund_path,
                Some(&json!({"amount": 10_000})),
                Some("refund-1"),
            )
            .await;
        assert_eq!(
            (status, refunded["refunded_amount"].as_u64()),
            (200, Some(10_000)),
            "{refunded}"
        );
    }
    let (status, no_key) = shop
        .send("POST", &refund_path, Some(&json!({"amount": 1})), None)
        .await;
    assert_eq!(status, 400, "{no_key}");
    assert_eq!(world.mvp(&buyer).await, (65_000, 0));

    // Declined for the balance: nothing moves, the intent stays open; canceled, it is closed.
    let large = shop.intent("order-3", 1_000_000, "automatic").await;
    let (status, needs_pin) = world.approve(&buyer, &large).await;
    assert_eq!(
        (status, needs_pin["type"].as_str()),
        (403, Some("urn:mileverse:problem:pin-required"))
    );
    let path = format!(
        "/v1/checkout/intents/{}/approval",
        text(&large["intent_id"])
    );
    let with_pin = Some(json!({"pin": PIN}));
    let (status, declined) = world.api.call("POST", &path, &buyer, with_pin).await;
    assert_eq!(
        (status, declined["decline_reason"].as_str()),
        (422, Some("insufficient_balance")),
        "{declined}"
    );
    let cancel_path = format!("/checkout/v1/intents/{}/cancel", text(&large["intent_id"]));
    let canceled = shop.ok("POST", &cancel_path, None).await;
    assert_eq!(canceled["status"], "canceled");
    let (status, closed) = world.approve(&buyer, &large).await;
    assert_eq!(
        (status, closed["type"].as_str()),
        (409, Some("urn:mileverse:problem:payment-intent-state")),
        "{closed}"
    );
    assert_eq!(world.mvp(&buyer).await, (65_000, 0));

    // Another merchant's key sees none of it; a till may not use checkout's ids.
    let (_, stranger) = world.shop(20).await;
    let path = format!("/checkout/v1/intents/{}", text(&first["intent_id"]));
    let (status, _) = stranger.send("GET", &path, None, None).await;
    assert_eq!(status, 404);
    let sale = json!({"pay_code": "00000000000000000000", "amount": 1, "van_tx_id": "checkout:1"});
    let (status, _) = shop
        .send("POST", "/van/v1/authorizations", Some(&sale), None)
        .await;
    assert_eq!(status, 400);

    // Every event arrives once, signed, and none is left pending.
    let kinds = [
        "payment_intent.succeeded",
        "payment_intent.authorized",
        "payment_intent.succeeded",
        "payment_intent.refunded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    ];
    // Acknowledged by the receiver, then marked so: all of them, none left pending.
    wait_for(|| async {
        let events = events(&shop).await;
        events.len() == kinds.len() && events.iter().all(|event| event["delivery"] == "delivered")
    })
    .await;
    let deliveries: Value = client()
        .get(format!("{}/sim/v1/deliveries", receiver.base))
        .send()
        .await
        .expect("receiver")
        .json()
        .await
        .expect("json");
    let received = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(received.len(), kinds.len(), "{deliveries}");
    assert_eq!(deliveries["refused"], 0);
    let mut by_kind: HashMap<String, u64> = HashMap::new();
    for delivery in received {
        assert_eq!(
            delivery["count"], 1,
            "exactly once per event id: {delivery}"
        );
        *by_kind.entry(text(&delivery["type"])).or_default() += 1;
    }
    for kind in kinds {
        assert!(
            by_kind.get(kind).is_some_and(|count| *count >= 1),
            "{kind}: {by_kind:?}"
        );
    }
    let events = events(&shop).await;
    let first_event = events.last().unwrap();
    assert!(
        first_event["attempts"].as_u64().unwrap() >= 3,
        "retried: {first_event}"
    );

    // Settled with the till's payments: 30,000 + 15,000 - 10,000 at 0.2 %.
    // (`until` is not in the future: wait for the next second.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let until = ports::time::rfc3339(now_s());
    let settlement = world
        .api
        .ok(
            "POST",
            "/admin/v1/settlements",
            TOKEN,
            Some(json!({"until": until})),
        )
        .await;
    let line = settlement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["merchant_id"] == json!(merchant_id))
        .unwrap_or_else(|| panic!("no line of the shop: {settlement}"))
        .clone();
    assert_eq!(
        (
            line["gross"].as_u64(),
            line["fee"].as_u64(),
            line["net"].as_u64()
        ),
        (Some(35_000), Some(70), Some(34_930)),
        "{line}"
    );
}

async fn wait_for<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    while !condition().await {
        assert!(Instant::now() < deadline, "the condition never held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A promotion from now for a day, funded with `budget` MVP; its id.
async fn promotion(world: &World, mut body: Value, budget: u64) -> String {
    body["starts_at"] = json!(ports::time::rfc3339(now_s() - 60));
    body["ends_at"] = json!(ports::time::rfc3339(now_s() + 86_400));
    let made = world
        .api
        .ok("POST", "/admin/v1/promotions", TOKEN, Some(body))
        .await;
    let id = text(&made["promotion_id"]);
    let funding = json!({"amount": budget, "reference": format!("marketing-{id}")});
    let path = format!("/admin/v1/promotions/{id}/fundings");
    for _ in 0..2 {
        let funded = world
            .api
            .ok("POST", &path, TOKEN, Some(funding.clone()))
            .await;
        assert_eq!(
            funded["funded_mvp"].as_u64(),
            Some(budget),
            "once per reference: {funded}"
        );
    }
    id
}

async fn report(world: &World, id: &str) -> Value {
    world
        .api
        .ok("GET", &format!("/admin/v1/promotions/{id}"), TOKEN, None)
        .await
}

/// The shop's intent for `amount`, approved by `token`; its id.
async fn paid(world: &World, shop: &Shop, token: &str, order_id: &str, amount: u64) -> String {
    let intent = shop.intent(order_id, amount, "automatic").await;
    let path = format!(
        "/v1/checkout/intents/{}/approval",
        text(&intent["intent_id"])
    );
    let body = Some(json!({"pin": PIN}));
    let (status, approved) = world.api.call("POST", &path, token, body).await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("succeeded")),
        "{approved}"
    );
    text(&intent["intent_id"])
}

async fn refund(shop: &Shop, intent_id: &str, amount: u64, key: &str) -> Value {
    let path = format!("/checkout/v1/intents/{intent_id}/refunds");
    let body = json!({"amount": amount});
    let (status, refunded) = shop.send("POST", &path, Some(&body), Some(key)).await;
    assert_eq!(status, 200, "{refunded}");
    refunded
}

async fn promotions_grant_and_refunds_take_back(backend: Backend) {
    let mut world = World::start(backend).await;
    // A sign-up bonus for the first two wallets: the third gets nothing.
    let signup =
        json!({"name": "Welcome 1,000", "kind": "signup_bonus", "amount": 1_000, "wallets_max": 2});
    let welcome = promotion(&world, signup, 10_000).await;
    let mut joined = Vec::new();
    for _ in 0..3 {
        joined.push(world.member(0).await);
    }
    let mut bonuses = Vec::new();
    for token in &joined {
        bonuses.push(world.mvp(token).await.0);
    }
    assert_eq!(bonuses, [1_000, 1_000, 0]);
    let welcome_report = report(&world, &welcome).await;
    assert_eq!(
        (
            welcome_report["signups"].as_u64(),
            welcome_report["remaining_mvp"].as_u64()
        ),
        (Some(2), Some(8_000))
    );
    let history = world
        .api
        .ok("GET", "/v1/me/transactions?reason=bonus", &joined[0], None)
        .await;
    assert_eq!(
        history["transactions"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );

    // 5 % cashback at the brand, from a budget of 1,000 MVP.
    let (merchant_id, shop) = world.shop(20).await;
    let cashback =
        json!({"name": "Blue Cup 5 %", "kind": "cashback", "rate_bps": 500, "brand": "Blue Cup"});
    let blue = promotion(&world, cashback, 1_000).await;
    let buyer = world.member(100_000).await;
    let first = paid(&world, &shop, &buyer, "promo-1", 10_000).await;
    assert_eq!(world.mvp(&buyer).await, (90_500, 0));
    // Refunds take the cashback back in proportion, in the refund's own commit.
    refund(&shop, &first, 4_000, "refund-1").await;
    assert_eq!(world.mvp(&buyer).await, (94_300, 0));
    refund(&shop, &first, 4_000, "refund-1").await; // the same refund again: nothing more
    refund(&shop, &first, 6_000, "refund-2").await;
    assert_eq!(
        world.mvp(&buyer).await,
        (100_000, 0),
        "buy, earn, refund: nothing kept"
    );
    let taken = world
        .api
        .ok(
            "GET",
            "/v1/me/transactions?reason=cashback_clawback",
            &buyer,
            None,
        )
        .await;
    assert_eq!(
        taken["transactions"].as_array().map(Vec::len),
        Some(2),
        "{taken}"
    );

    // The budget runs dry: the cashback is what is left, then nothing; payments still go.
    let big = paid(&world, &shop, &buyer, "promo-2", 40_000).await;
    assert_eq!(
        world.mvp(&buyer).await,
        (61_000, 0),
        "1,000 of the 2,000 asked"
    );
    paid(&world, &shop, &buyer, "promo-3", 20_000).await;
    assert_eq!(
        world.mvp(&buyer).await,
        (41_000, 0),
        "an empty budget gives nothing"
    );
    let dry = report(&world, &blue).await;
    assert_eq!(
        (dry["remaining_mvp"].as_u64(), dry["cashback_mvp"].as_u64()),
        (Some(0), Some(1_500)),
        "{dry}"
    );
    refund(&shop, &big, 40_000, "refund-3").await;
    assert_eq!(
        world.mvp(&buyer).await,
        (80_000, 0),
        "the 1,000 it earned went back"
    );
    let after = report(&world, &blue).await;
    assert_eq!(
        (
            after["remaining_mvp"].as_u64(),
            after["clawback_mvp"].as_u64()
        ),
        (Some(1_000), Some(1_500)),
        "{after}"
    );

    // Ended, it grants nothing more; another merchant's payments never earned any.
    world
        .api
        .ok(
            "POST",
            &format!("/admin/v1/promotions/{blue}/end"),
            TOKEN,
            None,
        )
        .await;
    paid(&world, &shop, &buyer, "promo-4", 10_000).await;
    assert_eq!(world.mvp(&buyer).await, (70_000, 0));
    let _ = merchant_id;
}
