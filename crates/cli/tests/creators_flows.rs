//! Creator rewards over HTTP against the real binary (issue 15 item 5; docs/creators.md):
//! a `mileverse serve` child on SQLite and on PostgreSQL, a content platform signing the
//! media API, an operator funding and distributing a pool from ad revenue, members tipping.
//! Every balance is read back over HTTP.

mod support;

use std::time::Duration;

use ports::signing::van_signature;
use serde_json::{Value, json};
use support::{Backend, JsonApi as Api, ServerProcess, TOKEN, client, now_s, text};

const PIN: &str = "135790";
/// The test's funding account in the raw ledger.
const FUNDING_ACCOUNT: &str = "77";
/// `AD_REVENUE`: the platform's account code 1300 under the system accounts' high bit.
const AD_REVENUE_ACCOUNT: u128 = (1 << 127) | 1300;
/// `PLATFORM_FEES` (code 700).
const PLATFORM_FEES_ACCOUNT: u128 = (1 << 127) | 700;
/// Longest one flow may take.
const FLOW_DEADLINE: Duration = Duration::from_secs(150);

on_both_backends!(
    reports_score_and_pools_pay_exactly_once,
    tips_split_30_70_and_pay_once_per_key,
    limits_hold_at_their_maximum,
);

async fn run(flow: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(FLOW_DEADLINE, flow)
        .await
        .expect("the flow did not finish in time");
}

fn problem(value: &Value) -> &str {
    value["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:mileverse:problem:"))
        .unwrap_or_default()
}

/// A content platform's server: signs the media API with its key.
struct Media {
    base: String,
    key_id: String,
    secret: String,
    http: reqwest::Client,
}

impl Media {
    /// `(status, Idempotent-Replayed, body)`.
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, bool, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let timestamp_s = now_s();
        let signature = van_signature(self.secret.as_bytes(), timestamp_s, method, path, &bytes);
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
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let bytes = response.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, replayed, value)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, _, value) = self.send(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }
}

/// A member of the test: session token, phone, id.
struct Member {
    token: String,
    phone: String,
    id: String,
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
        let extra = backend.options("creators");
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

    /// Moves `amount` MVP from the test's funding account into `account` (raw ledger).
    async fn credit(&self, account: &str, amount: u64) {
        let transfer = json!({"transfers": [{"id": rand::random::<u64>().to_string(),
            "debit_account_id": FUNDING_ACCOUNT, "credit_account_id": account,
            "amount": amount.to_string(), "ledger": 1, "code": 5}]});
        let results = self
            .api
            .ok("POST", "/admin/v1/ledger/transfers", TOKEN, Some(transfer))
            .await;
        assert_eq!(results["results"][0]["result"], "ok", "{results}");
    }

    /// A new member holding `balance` MVP.
    async fn member(&mut self, name: &str, balance: u64) -> Member {
        self.phones += 1;
        let phone = format!("0107777{:04}", self.phones);
        let api = &self.api;
        let verification = api
            .ok(
                "POST",
                "/v1/verifications",
                "",
                Some(json!({"phone": phone})),
            )
            .await;
        let path = format!("/admin/v1/sms-outbox?phone={phone}");
        let outbox = api.ok("GET", &path, TOKEN, None).await;
        let sms = text(&outbox["messages"][0]["text"]);
        let code = sms.strip_prefix("[Mileverse] verification code ").unwrap();
        let body = json!({"verification_id": verification["verification_id"], "code": code,
                          "name": name, "pin": PIN});
        let member = api.ok("POST", "/v1/members", "", Some(body)).await;
        let login = json!({"phone": phone, "pin": PIN, "device_token": member["device_token"]});
        let token = text(&api.ok("POST", "/v1/sessions", "", Some(login)).await["token"]);
        let id = text(&member["member_id"]);
        if balance > 0 {
            self.credit(&id, balance).await;
        }
        Member { token, phone, id }
    }

    async fn media(&self, name: &str) -> (String, Media) {
        let body = json!({"name": name});
        let grant = self
            .api
            .ok("POST", "/admin/v1/media-platforms", TOKEN, Some(body))
            .await;
        let media = Media {
            base: self.api.base.clone(),
            key_id: text(&grant["key_id"]),
            secret: text(&grant["secret"]),
            http: client(),
        };
        (text(&grant["media_platform_id"]), media)
    }

    async fn mvp(&self, token: &str) -> u64 {
        let body = self.api.ok("GET", "/v1/me/balances", token, None).await;
        body["balances"][0]["available"].as_u64().unwrap()
    }

    /// An account's `(debits_posted, credits_posted)` in the raw ledger.
    async fn account(&self, id: u128) -> (u128, u128) {
        let path = format!("/admin/v1/ledger/accounts/{id}");
        let account = self.api.ok("GET", &path, TOKEN, None).await;
        let figure = |name: &str| text(&account[name]).parse::<u128>().unwrap();
        (figure("debits_posted"), figure("credits_posted"))
    }
}

fn item(content_ref: &str, figures: [u64; 4]) -> Value {
    json!({"content_ref": content_ref, "views": figures[0], "comments": figures[1],
           "ratings_sum": figures[2], "ratings_count": figures[3]})
}

/// The worked example of docs/creators.md: Kim's two contents score 1,242 and 1,800, Lee's
/// one 900.
fn worked_example() -> Value {
    json!({"report_id": "r-2026-12-a", "period": "2026-12", "items": [
        item("cooking-1", [1_000, 40, 41, 9]),
        item("spam-1", [500, 600, 0, 0]),
        item("travel-1", [2_000, 10, 20, 10]),
    ]})
}

/// Registers two creators (members) with the example's three contents.
async fn creators_of_the_example(world: &mut World, media: &Media) -> (Member, Member) {
    let kim = world.member("Kim Cook", 0).await;
    let lee = world.member("Lee Travel", 0).await;
    let body = json!({"phone": "010-9999-0000", "name": "Nobody"});
    let (status, _, refused) = media
        .send("PUT", "/media/v1/creators/nobody", Some(&body))
        .await;
    assert_eq!((status, problem(&refused)), (422, "creator-not-a-member"));
    for (reference, member, name) in [
        ("kim", &kim, "Kim's Kitchen"),
        ("lee", &lee, "Lee on the road"),
    ] {
        let body = json!({"phone": member.phone, "name": name});
        let path = format!("/media/v1/creators/{reference}");
        let creator = media.ok("PUT", &path, Some(&body)).await;
        assert_eq!(creator["name"], name, "{creator}");
        let again = media.ok("PUT", &path, Some(&body)).await;
        assert_eq!(again["creator_id"], creator["creator_id"]);
    }
    for (content, creator, title) in [
        ("cooking-1", "kim", "Kimchi stew"),
        ("spam-1", "kim", "Fried rice"),
        ("travel-1", "lee", "Jeju by bus"),
    ] {
        let body = json!({"creator_ref": creator, "title": title});
        media
            .ok("PUT", &format!("/media/v1/contents/{content}"), Some(&body))
            .await;
    }
    let body = json!({"creator_ref": "lee", "title": "Stolen"});
    let (status, _, refused) = media
        .send("PUT", "/media/v1/contents/cooking-1", Some(&body))
        .await;
    assert_eq!((status, problem(&refused)), (409, "content-conflict"));
    (kim, lee)
}

/// Reports are counted once per id and bounded.
async fn report_the_example(media: &Media) {
    let report = worked_example();
    let (status, replayed, first) = media.send("POST", "/media/v1/reports", Some(&report)).await;
    assert_eq!(
        (status, replayed, &first["items"]),
        (201, false, &json!(3)),
        "{first}"
    );
    let (status, replayed, again) = media.send("POST", "/media/v1/reports", Some(&report)).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again, first, "the same report answers the first");
    let mut other = report.clone();
    other["items"][0]["views"] = json!(1_001);
    let (status, _, conflict) = media.send("POST", "/media/v1/reports", Some(&other)).await;
    assert_eq!((status, problem(&conflict)), (409, "report-conflict"));
    let unknown = json!({"report_id": "r-x", "period": "2026-12",
        "items": [item("nope", [1, 0, 0, 0])]});
    let (status, _, refused) = media
        .send("POST", "/media/v1/reports", Some(&unknown))
        .await;
    assert_eq!((status, problem(&refused)), (404, "unknown-content"));
    let too_many: Vec<Value> = (0..1_001)
        .map(|i| item(&format!("c-{i}"), [1, 0, 0, 0]))
        .collect();
    let body = json!({"report_id": "r-big", "period": "2026-12", "items": too_many});
    let (status, _, refused) = media.send("POST", "/media/v1/reports", Some(&body)).await;
    assert_eq!(
        (status, problem(&refused)),
        (400, "invalid-fields"),
        "1,001 items"
    );
    let huge = json!({"report_id": "r-huge", "period": "2026-12",
        "items": [item("cooking-1", [1_000_000_000_001, 0, 0, 0])]});
    let (status, _, refused) = media.send("POST", "/media/v1/reports", Some(&huge)).await;
    assert_eq!(
        (status, problem(&refused)),
        (400, "invalid-fields"),
        "above 10^12"
    );
}

async fn reports_score_and_pools_pay_exactly_once(backend: Backend) {
    let mut world = World::start(backend).await;
    let (platform_id, media) = world.media("TongTube").await;
    let (kim, lee) = creators_of_the_example(&mut world, &media).await;
    report_the_example(&media).await;

    // The month's ad revenue, then a pool of 10,000 MVP from it (once per reference).
    world.credit(&AD_REVENUE_ACCOUNT.to_string(), 12_000).await;
    let funding = json!({"media_platform_id": platform_id, "period": "2026-12",
        "amount": 10_000, "reference": "ads-2026-12"});
    let pool = world
        .api
        .ok(
            "POST",
            "/admin/v1/creator-pools",
            TOKEN,
            Some(funding.clone()),
        )
        .await;
    assert_eq!(
        (pool["funded_mvp"].as_u64(), pool["status"].as_str()),
        (Some(10_000), Some("funded"))
    );
    let again = world
        .api
        .ok("POST", "/admin/v1/creator-pools", TOKEN, Some(funding))
        .await;
    assert_eq!(again["funded_mvp"], 10_000, "a reference funds once");
    let short = json!({"media_platform_id": platform_id, "period": "2026-12",
        "amount": 2_001, "reference": "ads-2026-12-more"});
    let (status, refused) = world
        .api
        .call("POST", "/admin/v1/creator-pools", TOKEN, Some(short))
        .await;
    assert_eq!((status, problem(&refused)), (409, "ad-revenue-short"));
    assert_eq!(world.account(AD_REVENUE_ACCOUNT).await, (10_000, 12_000));

    // Distributed by the example's scores: 3,042 and 900 of 10,000, largest remainders.
    let path = format!(
        "/admin/v1/creator-pools/{}/distribution",
        text(&pool["pool_id"])
    );
    let paid = world.api.ok("POST", &path, TOKEN, None).await;
    assert_eq!(
        (paid["status"].as_str(), paid["remaining_mvp"].as_u64()),
        (Some("distributed"), Some(0))
    );
    let amounts: Vec<u64> = paid["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_u64().unwrap())
        .collect();
    assert_eq!(amounts, [7_717, 2_283], "{paid}");
    assert_eq!(
        (world.mvp(&kim.token).await, world.mvp(&lee.token).await),
        (7_717, 2_283)
    );
    let repeated = world.api.ok("POST", &path, TOKEN, None).await;
    assert_eq!(
        repeated["payouts"], paid["payouts"],
        "a repeat pays nothing"
    );
    assert_eq!(
        (world.mvp(&kim.token).await, world.mvp(&lee.token).await),
        (7_717, 2_283)
    );
    let pool_account: u128 = text(&pool["pool_id"]).parse().unwrap();
    assert_eq!(
        world.account(pool_account).await,
        (10_000, 10_000),
        "the pool ends at zero"
    );

    // The period is closed: no more reports or fundings.
    let late = json!({"report_id": "r-late", "period": "2026-12",
        "items": [item("travel-1", [9_000, 0, 0, 0])]});
    let (status, _, refused) = media.send("POST", "/media/v1/reports", Some(&late)).await;
    assert_eq!((status, problem(&refused)), (409, "creator-period-closed"));
    let more = json!({"media_platform_id": platform_id, "period": "2026-12",
        "amount": 1, "reference": "ads-2026-12-late"});
    let (status, refused) = world
        .api
        .call("POST", "/admin/v1/creator-pools", TOKEN, Some(more))
        .await;
    assert_eq!(
        (status, problem(&refused)),
        (409, "creator-pool-distributed")
    );

    // The media API's payout history, and members browsing creators.
    let history = media
        .ok("GET", "/media/v1/creators/kim/payouts", None)
        .await;
    let reward = &history["payouts"][0];
    assert_eq!(
        (
            reward["kind"].as_str(),
            reward["amount"].as_u64(),
            reward["period"].as_str()
        ),
        (Some("reward"), Some(7_717), Some("2026-12")),
        "{history}"
    );
    let found = world
        .api
        .ok("GET", "/v1/creators?q=kitchen", &lee.token, None)
        .await;
    assert_eq!(found["creators"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["creators"][0]["platform"], "TongTube");
    let id = text(&found["creators"][0]["creator_id"]);
    let page = world
        .api
        .ok("GET", &format!("/v1/creators/{id}"), &lee.token, None)
        .await;
    assert_eq!(page["contents"].as_array().unwrap().len(), 2, "{page}");
    let _ = kim.id;
}

async fn tips_split_30_70_and_pay_once_per_key(backend: Backend) {
    let mut world = World::start(backend).await;
    let (_, media) = world.media("TongTube").await;
    let star = world.member("Park Star", 0).await;
    let fan = world.member("Choi Fan", 200_000).await;
    let body = json!({"phone": star.phone, "name": "Park sings"});
    let creator = media
        .ok("PUT", "/media/v1/creators/park", Some(&body))
        .await;
    let tips = format!("/v1/creators/{}/tips", text(&creator["creator_id"]));

    // 10,000 MVP: 3,000 to the platform, 7,000 to the creator, both or neither.
    let body = json!({"amount": 10_000, "memo": "encore!"});
    let (status, tip) = world
        .api
        .call_keyed("POST", &tips, &fan.token, Some(body), Some("tip-1"))
        .await;
    assert_eq!(status, 201, "{tip}");
    assert_eq!(
        (
            tip["platform_share"].as_u64(),
            tip["creator_share"].as_u64()
        ),
        (Some(3_000), Some(7_000))
    );
    assert_eq!(tip["transfer_ids"].as_array().unwrap().len(), 2);
    assert_eq!(
        (world.mvp(&fan.token).await, world.mvp(&star.token).await),
        (190_000, 7_000)
    );
    assert_eq!(world.account(PLATFORM_FEES_ACCOUNT).await, (0, 3_000));

    // Eight at once under one key: one tip moves, the others are in flight or replays.
    let mut running = Vec::new();
    for _ in 0..8 {
        let (api, tips, token) = (world.api.clone(), tips.clone(), fan.token.clone());
        running.push(tokio::spawn(async move {
            let body = json!({"amount": 1_001});
            api.call_keyed("POST", &tips, &token, Some(body), Some("tip-2"))
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for handle in running {
        let (status, answer) = handle.await.unwrap();
        match status {
            201 => {
                ids.insert(text(&answer["tip_id"]));
            }
            409 => assert_eq!(problem(&answer), "idempotency-key-in-flight", "{answer}"),
            other => panic!("{other} {answer}"),
        }
    }
    assert_eq!(ids.len(), 1, "one tip under one key");
    let (status, replay) = world
        .api
        .call_keyed(
            "POST",
            &tips,
            &fan.token,
            Some(json!({"amount": 1_001})),
            Some("tip-2"),
        )
        .await;
    assert_eq!(
        (status, ids.contains(&text(&replay["tip_id"]))),
        (201, true)
    );
    // 1,001: the platform's 300 (300.3 rounded down), the creator's 701.
    assert_eq!(
        (
            replay["platform_share"].as_u64(),
            replay["creator_share"].as_u64()
        ),
        (Some(300), Some(701))
    );
    assert_eq!(
        (world.mvp(&fan.token).await, world.mvp(&star.token).await),
        (188_999, 7_701)
    );
    assert_eq!(world.account(PLATFORM_FEES_ACCOUNT).await, (0, 3_300));
    let (status, refused) = world
        .api
        .call_keyed(
            "POST",
            &tips,
            &fan.token,
            Some(json!({"amount": 5})),
            Some("tip-2"),
        )
        .await;
    assert_eq!((status, problem(&refused)), (422, "idempotency-key-reused"));

    // Refusals: oneself, the PIN above 100,000, the balance; nothing moves.
    let (status, refused) = world
        .api
        .call("POST", &tips, &star.token, Some(json!({"amount": 10})))
        .await;
    assert_eq!((status, problem(&refused)), (422, "tip-to-self"));
    let (status, refused) = world
        .api
        .call("POST", &tips, &fan.token, Some(json!({"amount": 150_000})))
        .await;
    assert_eq!(
        (status, problem(&refused)),
        (403, "pin-required"),
        "{refused}"
    );
    let body = json!({"amount": 190_000, "pin": PIN});
    let (status, refused) = world.api.call("POST", &tips, &fan.token, Some(body)).await;
    assert_eq!(
        (status, problem(&refused)),
        (422, "insufficient-balance"),
        "{refused}"
    );
    assert_eq!(
        (world.mvp(&fan.token).await, world.mvp(&star.token).await),
        (188_999, 7_701)
    );

    // The history: the fan's tips named, the creator's payouts through the media API.
    let lines = world
        .api
        .ok("GET", "/v1/me/transactions?reason=tip", &fan.token, None)
        .await;
    assert_eq!(
        lines["transactions"].as_array().unwrap().len(),
        2,
        "{lines}"
    );
    let fees = world
        .api
        .ok(
            "GET",
            "/v1/me/transactions?reason=tip_fee",
            &fan.token,
            None,
        )
        .await;
    assert_eq!(fees["transactions"].as_array().unwrap().len(), 2, "{fees}");
    let history = media
        .ok("GET", "/media/v1/creators/park/payouts?limit=1", None)
        .await;
    assert_eq!(history["payouts"][0]["kind"], "tip", "{history}");
    let cursor = text(&history["next_cursor"]);
    let next = media
        .ok(
            "GET",
            &format!("/media/v1/creators/park/payouts?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    let mut amounts = [
        &history["payouts"][0]["amount"],
        &next["payouts"][0]["amount"],
    ]
    .map(|amount| amount.as_u64().unwrap());
    amounts.sort_unstable();
    assert_eq!(amounts, [701, 7_000], "{next}");
}

/// The named limits at their maximum pass and one above is refused: names (100 characters),
/// references (64), a tip (1,000,000 MVP), a day's tips (2,000,000), a funding (10^12),
/// pages (100).
async fn limits_hold_at_their_maximum(backend: Backend) {
    let mut world = World::start(backend).await;
    let longest = "가".repeat(100);
    let (status, _) = world
        .api
        .call(
            "POST",
            "/admin/v1/media-platforms",
            TOKEN,
            Some(json!({"name": format!("{longest}가")})),
        )
        .await;
    assert_eq!(status, 400, "a name of 101 characters");
    let (platform_id, media) = world.media(&longest).await;
    let star = world.member("Park Star", 0).await;
    let fan = world.member("Choi Fan", 2_000_001).await;
    let reference = "r".repeat(64);
    let body = json!({"phone": star.phone, "name": longest});
    let creator = media
        .ok(
            "PUT",
            &format!("/media/v1/creators/{reference}"),
            Some(&body),
        )
        .await;
    let (status, _, _) = media
        .send(
            "PUT",
            &format!("/media/v1/creators/{reference}r"),
            Some(&body),
        )
        .await;
    assert_eq!(status, 400, "a reference of 65 characters");

    // A tip at its maximum, twice: the day's maximum; then not one MVP more today.
    let tips = format!("/v1/creators/{}/tips", text(&creator["creator_id"]));
    let (status, refused) = world
        .api
        .call(
            "POST",
            &tips,
            &fan.token,
            Some(json!({"amount": 1_000_001, "pin": PIN})),
        )
        .await;
    assert_eq!((status, problem(&refused)), (400, "invalid-fields"));
    for key in ["max-1", "max-2"] {
        let body = json!({"amount": 1_000_000, "pin": PIN});
        let (status, tip) = world
            .api
            .call_keyed("POST", &tips, &fan.token, Some(body), Some(key))
            .await;
        assert_eq!(status, 201, "{tip}");
    }
    let (status, refused) = world
        .api
        .call("POST", &tips, &fan.token, Some(json!({"amount": 1})))
        .await;
    assert_eq!((status, problem(&refused)), (422, "tip-limit"), "{refused}");
    assert_eq!(
        (world.mvp(&fan.token).await, world.mvp(&star.token).await),
        (1, 1_400_000)
    );

    // A funding at its maximum.
    world
        .credit(&AD_REVENUE_ACCOUNT.to_string(), 1_000_000_000_001)
        .await;
    let funding = |amount: u64| {
        json!({"media_platform_id": platform_id, "period": "2027-01", "amount": amount,
               "reference": format!("ads-{amount}")})
    };
    let (status, refused) = world
        .api
        .call(
            "POST",
            "/admin/v1/creator-pools",
            TOKEN,
            Some(funding(1_000_000_000_001)),
        )
        .await;
    assert_eq!((status, problem(&refused)), (400, "invalid-fields"));
    let pool = world
        .api
        .ok(
            "POST",
            "/admin/v1/creator-pools",
            TOKEN,
            Some(funding(1_000_000_000_000)),
        )
        .await;
    assert_eq!(pool["funded_mvp"], 1_000_000_000_000_u64);

    // Pages of at most 100.
    let page = world
        .api
        .ok("GET", "/v1/creators?limit=100", &fan.token, None)
        .await;
    assert_eq!(page["creators"].as_array().unwrap().len(), 1);
    let (status, _) = world
        .api
        .call("GET", "/v1/creators?limit=101", &fan.token, None)
        .await;
    assert_eq!(status, 400);
    let path = format!("/media/v1/creators/{reference}/payouts?limit=100");
    let history = media.ok("GET", &path, None).await;
    assert_eq!(history["payouts"].as_array().unwrap().len(), 2);
    let path = format!("/media/v1/creators/{reference}/payouts?limit=101");
    let (status, _, _) = media.send("GET", &path, None).await;
    assert_eq!(status, 400);
}
