//! The portals' additions of issue 14, over real HTTP: the real app on port 0 with the
//! platform, the operators and the audit log on a real SQLite store and a real PostgreSQL
//! server (MILEVERSE_TEST_DATABASE_URL, started by scripts/test.sh).
//!
//! - Merchant users keep their stores' terminals (`/merchant/v1/terminals`): a brand's user
//!   lists and creates them for every store of the brand, a store's user for that store
//!   only, and another store (or its terminal) is the same "not found" as one that does not
//!   exist; a terminal disabled there is refused by the VAN API, and every change is on
//!   the audit trail with its secret redacted.
//! - Partner users page through their own exchanges (`/partner-portal/v1/exchanges`), at
//!   the page maximum and past it, and never see another partner's.

use std::sync::{Arc, Mutex};

use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use platform::crypto::DataKeys;
use platform::exchange::ExchangeRequest;
use platform::operators::{Operators, OperatorsConfig};
use platform::partners::{LinkProof, NewPartner};
use platform::portal::{PARTNER_EXCHANGES_PAGE_MAX, TERMINAL_STORES_PER_PAGE};
use platform::{Platform, PlatformConfig, PlatformParts};
use ports::gateway::{
    AuthorizationRequest, BoxFuture, CodeRedemption, DebitOutcome, DebitRequest, DebitStatus,
    PartnerCallError, PartnerEndpoint, PartnerGateway, ProvenMembership,
};
use ports::sms::DevOutbox;
use serde_json::{Value, json};
use store::Store;

const TOKEN: &str = "portal-test-bootstrap-token-0123456789abcdef";
const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

fn open_store(backend: Backend, test: &str) -> (Box<dyn Store>, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let directory = tempfile::tempdir().expect("tempdir");
            let path = directory.path().join("ledger.db");
            let store = store::sqlite::SqliteStore::open(&path).expect("sqlite");
            (Box::new(store), Some(directory))
        }
        Backend::Postgres => {
            let url = std::env::var("MILEVERSE_TEST_DATABASE_URL").expect(
                "MILEVERSE_TEST_DATABASE_URL is not set: run `bash scripts/test.sh` (it starts PostgreSQL)",
            );
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .subsec_nanos();
            let schema = format!("portals_{test}_{}_{nanos}", std::process::id());
            let store = store::postgres::PostgresStore::connect_schema(
                &url,
                &schema,
                &tls::test_pki::test_database_tls().postgres(),
            )
            .expect("postgres");
            (Box::new(store), None)
        }
    }
}

/// A partner that says yes: every member ref is its member, with plenty of mileage; a link's
/// authorization code is the member ref the member signs in as.
struct YesPartner {
    debited: Mutex<Vec<String>>,
}

impl PartnerGateway for YesPartner {
    fn balance<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<u64, PartnerCallError>> {
        Box::pin(async { Ok(1_000_000_000) })
    }

    fn debit<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        request: &'a DebitRequest,
    ) -> BoxFuture<'a, Result<DebitOutcome, PartnerCallError>> {
        Box::pin(async move {
            self.debited
                .lock()
                .expect("debits")
                .push(request.reference.clone());
            Ok(DebitOutcome::Debited {
                balance_after: 1_000_000_000,
            })
        })
    }

    fn cancel<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), PartnerCallError>> {
        Box::pin(async { Ok(()) })
    }

    fn status<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<DebitStatus, PartnerCallError>> {
        Box::pin(async { Ok(DebitStatus::NotFound) })
    }

    fn authorize_url(
        &self,
        partner: &PartnerEndpoint,
        request: &AuthorizationRequest,
    ) -> Result<String, PartnerCallError> {
        Ok(format!(
            "{}/authorize?state={}",
            partner.api_base_url, request.state
        ))
    }

    fn redeem_code<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        redemption: &'a CodeRedemption,
    ) -> BoxFuture<'a, Result<ProvenMembership, PartnerCallError>> {
        Box::pin(async move {
            Ok(ProvenMembership {
                member_ref: redemption.code.clone(),
                mileage: Some(1_000_000_000),
            })
        })
    }
}

struct TestApp {
    base: String,
    client: reqwest::Client,
    platform: Arc<Platform>,
    outbox: Arc<DevOutbox>,
    _directory: Option<tempfile::TempDir>,
}

impl TestApp {
    /// The app as `mileverse serve` builds it: the platform (started), the operators with
    /// [`TOKEN`] as the bootstrap token, the audit log.
    async fn start(backend: Backend, test: &str) -> TestApp {
        let test = test.to_string();
        let outbox = Arc::new(DevOutbox::new());
        let sms = outbox.clone();
        // The sync PostgreSQL client runs its own runtime: open on a plain thread.
        let (ledger, platform, directory) = std::thread::spawn(move || {
            let (store, directory) = open_store(backend, &test);
            let key = OperatorKey::from_seed([7; 32]);
            let ledger = LedgerService::open(store, key, LedgerConfig::default()).expect("ledger");
            let ledger = Arc::new(ledger);
            let parts = PlatformParts {
                legacy_records: None,
                keys: DataKeys::from_master(&[9; 32]),
                partner_gateway: Arc::new(YesPartner {
                    debited: Mutex::new(Vec::new()),
                }),
                sms,
                chain: None,
                price_feed: None,
                webhooks: std::sync::Arc::new(gateways::webhook::HttpWebhookSender::new(
                    &tls::ClientTls::system(),
                    gateways::webhook::DELIVERY_TIMEOUT_MS,
                )),
            };
            let platform =
                Platform::open(PlatformConfig::default(), ledger.clone(), parts).expect("platform");
            (ledger, platform, directory)
        })
        .join()
        .expect("open thread");
        platform.start().await.expect("start");
        let keys = DataKeys::from_master(&[9; 32]);
        let operators = Operators::open(
            ledger.clone(),
            keys,
            OperatorsConfig::default(),
            Some(TOKEN),
        )
        .expect("operators");
        let audit = platform::audit::AuditLog::open(ledger.clone())
            .await
            .expect("audit log");
        let mut state = server::AppState::ledger_only(ledger, None).expect("state");
        state.operators = Arc::new(operators);
        state.platform = Some(platform.clone());
        state.outbox = Some(outbox.clone());
        state.audit = Some(Arc::new(audit));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(server::serve(listener, None, state, std::future::pending()));
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client");
        TestApp {
            base,
            client,
            platform,
            outbox,
            _directory: directory,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A merchant made by the operator: its id.
    async fn merchant(&self, name: &str, brand: &str) -> String {
        let body = json!({ "name": name, "brand": brand, "fee_bps": 250 });
        let (status, answer) = self.post("/admin/v1/merchants", TOKEN, body).await;
        assert_eq!(status, 201, "{answer}");
        answer["merchant_id"].as_str().unwrap().to_string()
    }

    /// A portal user registered by the operator at `path`, logged in at `portal`: a token.
    async fn portal_user(&self, path: &str, portal: &str, body: Value) -> String {
        let login = body["login"].as_str().unwrap().to_string();
        let (status, answer) = self.post(path, TOKEN, body).await;
        assert_eq!(status, 201, "{answer}");
        let credentials = json!({ "login": login, "password": PASSWORD });
        let response = self
            .client
            .post(format!("{}{portal}/sessions", self.base))
            .json(&credentials)
            .send()
            .await
            .expect("log in");
        assert_eq!(response.status().as_u16(), 201);
        let answer: Value = response.json().await.expect("a session");
        answer["token"].as_str().expect("a token").to_string()
    }

    async fn merchant_user(&self, login: &str, scope: Value) -> String {
        let mut body = json!({ "login": login, "display_name": "Staff", "password": PASSWORD });
        body.as_object_mut()
            .unwrap()
            .extend(scope.as_object().unwrap().clone());
        self.portal_user("/admin/v1/merchant-users", "/merchant/v1", body)
            .await
    }

    /// A signed VAN request of a terminal (docs/payments.md): the status the VAN API
    /// answers a status query for a transaction the till never made.
    async fn van_status(&self, till: &Value, van_tx_id: &str) -> (u16, Value) {
        let key_id = till["key_id"].as_str().unwrap();
        let secret = till["secret"].as_str().unwrap();
        let terminal_id = till["terminal_id"].as_str().unwrap();
        let path = format!("/van/v1/transactions/{van_tx_id}?terminal_id={terminal_id}");
        let timestamp = ports::time::now_s();
        let signature =
            ports::signing::van_signature(secret.as_bytes(), timestamp, "GET", &path, b"");
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("x-mileverse-key", key_id)
            .header("x-mileverse-timestamp", timestamp.to_string())
            .header("x-mileverse-signature", signature)
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn ids(answer: &Value, list: &str, field: &str) -> Vec<String> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn merchant_terminals(backend: Backend, test: &str) {
    let app = TestApp::start(backend, test).await;
    // Blue Cup has one store more than a page of stores holds; Red Cup is another brand.
    let mut blue = Vec::new();
    for n in 0..=TERMINAL_STORES_PER_PAGE {
        blue.push(app.merchant(&format!("Blue {n}"), "Blue Cup").await);
    }
    let (gangnam, seongsu) = (blue[0].clone(), blue[TERMINAL_STORES_PER_PAGE].clone());
    let red = app.merchant("Jongno", "Red Cup").await;
    let (status, red_terminal) = app
        .post(
            &format!("/admin/v1/merchants/{red}/terminals"),
            TOKEN,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{red_terminal}");
    let red_terminal_id = red_terminal["terminal_id"].as_str().unwrap().to_string();
    let brand = app
        .merchant_user("blue", json!({ "brand": "Blue Cup" }))
        .await;
    let store = app
        .merchant_user("seongsu", json!({ "merchant_id": seongsu }))
        .await;

    // The brand's user creates terminals for two of its stores; each secret once.
    let mut created = Vec::new();
    for merchant_id in [&gangnam, &seongsu, &gangnam] {
        let body = json!({ "merchant_id": merchant_id });
        let (status, answer) = app.post("/merchant/v1/terminals", &brand, body).await;
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer["merchant_id"], json!(merchant_id));
        assert_eq!(answer["secret"].as_str().unwrap().len(), 64);
        created.push(answer);
    }
    let created_ids: Vec<String> = created
        .iter()
        .map(|answer| answer["terminal_id"].as_str().unwrap().to_string())
        .collect();

    // Listed: one store's, or every store's a page of stores at a time; never a secret.
    let (status, page) = app
        .get(
            &format!("/merchant/v1/terminals?merchant_id={gangnam}"),
            &brand,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        ids(&page, "terminals", "terminal_id"),
        vec![created_ids[0].clone(), created_ids[2].clone()]
    );
    assert_eq!(page["next_cursor"], Value::Null);
    assert!(!page.to_string().contains("secret"));
    let (status, first) = app.get("/merchant/v1/terminals", &brand).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        ids(&first, "terminals", "terminal_id"),
        vec![created_ids[0].clone(), created_ids[2].clone()]
    );
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more stores")
        .to_string();
    assert_eq!(cursor, blue[TERMINAL_STORES_PER_PAGE - 1]);
    let (status, second) = app
        .get(&format!("/merchant/v1/terminals?cursor={cursor}"), &brand)
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        ids(&second, "terminals", "terminal_id"),
        vec![created_ids[1].clone()]
    );
    assert_eq!(second["next_cursor"], Value::Null);
    for (path, status) in [
        (format!("/merchant/v1/terminals?cursor={red}"), 400),
        ("/merchant/v1/terminals?cursor=x".to_string(), 400),
        (
            format!("/merchant/v1/terminals?merchant_id={gangnam}&cursor={gangnam}"),
            400,
        ),
    ] {
        let (got, answer) = app.get(&path, &brand).await;
        assert_eq!(got, status, "{path}: {answer}");
    }

    // The store's user sees its store only.
    let (status, own) = app.get("/merchant/v1/terminals", &store).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(
        ids(&own, "terminals", "terminal_id"),
        vec![created_ids[1].clone()]
    );

    // Another store, and its terminal, are "not found" exactly as ones that do not exist.
    let unknown_store = "12345678901234567890";
    let refusals = [
        (&brand, &red, &red_terminal_id),
        (&store, &gangnam, &created_ids[0]),
    ];
    for (token, other_store, other_terminal) in refusals {
        let mut answers = Vec::new();
        for merchant_id in [other_store.as_str(), unknown_store] {
            let path = format!("/merchant/v1/terminals?merchant_id={merchant_id}");
            answers.push(app.get(&path, token).await);
            let body = json!({ "merchant_id": merchant_id });
            answers.push(app.post("/merchant/v1/terminals", token, body).await);
        }
        for (status, answer) in &answers {
            assert_eq!(*status, 404, "{answer}");
            assert_eq!(answer["type"], "urn:mileverse:problem:unknown-merchant");
        }
        assert_eq!(
            answers[0], answers[2],
            "the same answer as an unknown store"
        );
        assert_eq!(
            answers[1], answers[3],
            "the same answer as an unknown store"
        );
        let mut answers = Vec::new();
        for terminal_id in [other_terminal.as_str(), unknown_store] {
            for verb in ["disable", "enable"] {
                let path = format!("/merchant/v1/terminals/{terminal_id}/{verb}");
                answers.push(app.post(&path, token, json!({})).await);
            }
        }
        for (status, answer) in &answers {
            assert_eq!(*status, 404, "{answer}");
            assert_eq!(answer["type"], "urn:mileverse:problem:unknown-terminal");
        }
        assert_eq!(answers[0], answers[2]);
        assert_eq!(answers[1], answers[3]);
    }
    // The red store's terminal is still enabled: the refusals changed nothing.
    let (_, red_list) = app
        .get(&format!("/admin/v1/merchants/{red}/terminals"), TOKEN)
        .await;
    assert_eq!(red_list["terminals"][0]["enabled"], true);

    // A till signs with the new key: the VAN API takes it until the terminal is disabled.
    let till = &created[0];
    let key_id = till["key_id"].as_str().unwrap();
    let (status, answer) = app.van_status(till, "never-made-1").await;
    assert_eq!(status, 404, "signed and taken: {answer}");
    let path = format!("/merchant/v1/terminals/{}/disable", created_ids[0]);
    let (status, disabled) = app.post(&path, &brand, json!({})).await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["key_id"], json!(key_id));
    let (status, answer) = app.van_status(till, "never-made-2").await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["type"], "urn:mileverse:problem:terminal-disabled");
    let (_, listed) = app
        .get(
            &format!("/merchant/v1/terminals?merchant_id={gangnam}"),
            &brand,
        )
        .await;
    assert_eq!(listed["terminals"][0]["enabled"], false);
    assert_eq!(listed["terminals"][1]["enabled"], true);
    let path = format!("/merchant/v1/terminals/{}/enable", created_ids[0]);
    let (status, enabled) = app.post(&path, &brand, json!({})).await;
    assert_eq!((status, &enabled["enabled"]), (200, &json!(true)));
    let (status, _) = app.van_status(till, "never-made-3").await;
    assert_eq!(status, 404, "taken again");

    // Every change is on the audit trail: an intent before, an outcome after, and the
    // secret of the answer redacted.
    let (status, log) = app
        .get("/admin/v1/audit-log?actor=merchant_user:blue", TOKEN)
        .await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| serde_json::from_str(entry["entry"].as_str().unwrap()).unwrap())
        .collect();
    let of = |kind: &str, action: &str| {
        entries
            .iter()
            .filter(|entry| entry["kind"] == kind && entry["action"] == action)
            .count()
    };
    let create = "POST /merchant/v1/terminals";
    // Three created, and the red store and the unknown one refused.
    assert_eq!((of("intent", create), of("outcome", create)), (5, 5));
    let disable = "POST /merchant/v1/terminals/{terminal_id}/disable";
    assert_eq!((of("intent", disable), of("outcome", disable)), (3, 3));
    let text = log.to_string();
    for answer in &created {
        assert!(
            !text.contains(answer["secret"].as_str().unwrap()),
            "no secret"
        );
    }
    assert!(text.contains("[redacted]"));
    let refused = entries.iter().any(|entry| {
        entry["kind"] == "outcome"
            && entry["status"] == 404
            && entry["target"] == format!("/merchant/v1/terminals/{red_terminal_id}/disable")
    });
    assert!(refused, "a refusal is on the trail with its status");
    let (_, store_log) = app
        .get("/admin/v1/audit-log?actor=merchant_user:seongsu", TOKEN)
        .await;
    assert!(!store_log["entries"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_users_keep_their_stores_terminals_on_sqlite() {
    merchant_terminals(Backend::Sqlite, "terminals").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_users_keep_their_stores_terminals_on_postgres() {
    merchant_terminals(Backend::Postgres, "terminals").await;
}

/// A member signed up through the SMS verification, linked to each partner (the partner's
/// proof): the member and each link.
async fn linked_member(app: &TestApp, partners: &[u128]) -> (u128, Vec<u128>) {
    let platform = &app.platform;
    let phone = "+821055550001";
    let verification = platform.request_verification(phone).await.unwrap();
    let text = app.outbox.messages(Some(phone))[0].text.clone();
    let code = text
        .strip_prefix("[Mileverse] verification code ")
        .expect("a verification text");
    let grant = platform
        .sign_up(verification, code, "Kim Tester", "135790")
        .await
        .unwrap();
    let mut links = Vec::new();
    for (n, partner_id) in partners.iter().enumerate() {
        let member_ref = format!("M-{n}");
        let attempt = platform
            .link_partner(grant.member_id, *partner_id, &member_ref)
            .await
            .unwrap();
        let state = attempt
            .authorize_url
            .split_once("state=")
            .map(|(_, state)| state.to_string())
            .unwrap();
        let proof = LinkProof::new(&state, &member_ref).unwrap();
        let proven = platform
            .prove_link(grant.member_id, attempt.link_id, &proof)
            .await
            .unwrap();
        links.push(proven.link.id);
    }
    (grant.member_id, links)
}

async fn partner_exchanges(backend: Backend, test: &str) {
    let app = TestApp::start(backend, test).await;
    let platform = &app.platform;
    let partner = |name: &str| NewPartner {
        name: name.into(),
        rate_num: 1,
        rate_den: 1,
        api_base_url: "https://partner.test".into(),
        secret: "a partner secret of enough length".into(),
        minimum_unit: Some(1),
        daily_limit: Some(1_000_000_000),
        monthly_limit: Some(1_000_000_000),
        credit_line: Some(1_000_000_000),
        prepaid: false,
    };
    let air = platform.create_partner(partner("Air")).await.unwrap();
    let rail = platform.create_partner(partner("Rail")).await.unwrap();
    let (member_id, links) = linked_member(&app, &[air, rail]).await;
    let exchange = |link_id: u128, mileage: u64| ExchangeRequest {
        member_id,
        link_id,
        mileage,
        idempotency_key: None,
    };
    // One more of Air's than a page holds, and Rail's in between.
    let mut air_ids = Vec::new();
    let mut rail_ids = Vec::new();
    for n in 0..=PARTNER_EXCHANGES_PAGE_MAX {
        let done = platform.exchange(exchange(links[0], 100)).await.unwrap();
        air_ids.push((done.created_at_s, done.id));
        if n % 50 == 0 {
            let done = platform.exchange(exchange(links[1], 7)).await.unwrap();
            rail_ids.push((done.created_at_s, done.id));
        }
    }
    // The order of a page: by creation, the id breaking ties within a second.
    let in_order = |mut ids: Vec<(u64, u128)>| {
        ids.sort_unstable();
        ids.into_iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>()
    };
    let (air_ids, rail_ids) = (in_order(air_ids), in_order(rail_ids));
    let partner_user = |login: &str, partner_id: u128| {
        let body = json!({
            "login": login,
            "display_name": "Staff",
            "password": PASSWORD,
            "partner_id": partner_id.to_string(),
        });
        let app = &app;
        async move {
            app.portal_user("/admin/v1/partner-users", "/partner-portal/v1", body)
                .await
        }
    };
    let air_user = partner_user("air", air).await;
    let rail_user = partner_user("rail", rail).await;

    // At the page maximum: a full page and a cursor, then the one left and no cursor.
    let max = PARTNER_EXCHANGES_PAGE_MAX;
    let (status, first) = app
        .get(
            &format!("/partner-portal/v1/exchanges?limit={max}"),
            &air_user,
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first, "exchanges", "exchange_id"), air_ids[..max]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (status, second) = app
        .get(
            &format!("/partner-portal/v1/exchanges?limit={max}&cursor={cursor}"),
            &air_user,
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second, "exchanges", "exchange_id"), air_ids[max..]);
    assert_eq!(second["next_cursor"], Value::Null);
    let line = &first["exchanges"][0];
    assert_eq!(
        (
            &line["status"],
            &line["mileage"],
            &line["mvp"],
            &line["partner_member_ref"]
        ),
        (&json!("completed"), &json!(100), &json!(100), &json!("M-0"))
    );
    // The default page, and past the maximum.
    let (status, default) = app.get("/partner-portal/v1/exchanges", &air_user).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&default, "exchanges", "exchange_id"), air_ids[..50]);
    for limit in [0, max + 1] {
        let path = format!("/partner-portal/v1/exchanges?limit={limit}");
        let (status, answer) = app.get(&path, &air_user).await;
        assert_eq!(status, 400, "{answer}");
    }
    // Times past the year 9999 mean "no end", never a failure of the store.
    let end = u64::MAX;
    for (path, count) in [
        (
            format!("/partner-portal/v1/exchanges?to={end}&limit={max}"),
            max,
        ),
        (
            format!("/partner-portal/v1/exchanges?from={end}&to={end}"),
            0,
        ),
        (
            format!("/partner-portal/v1/exchanges?cursor={end}.1&to={end}"),
            0,
        ),
        ("/partner-portal/v1/exchanges?from=0&to=1".to_string(), 0),
    ] {
        let (status, answer) = app.get(&path, &air_user).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(
            answer["exchanges"].as_array().unwrap().len(),
            count,
            "{path}"
        );
    }

    // Each partner sees its own exchanges only; a merchant's session is another portal's.
    let (status, rail_page) = app.get("/partner-portal/v1/exchanges", &rail_user).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&rail_page, "exchanges", "exchange_id"), rail_ids);
    let all_air = sorted(air_ids.clone());
    for id in ids(&rail_page, "exchanges", "exchange_id") {
        assert!(all_air.binary_search(&id).is_err());
    }
    let store = app.merchant("Gangnam", "Blue Cup").await;
    let merchant = app
        .merchant_user("gangnam", json!({ "merchant_id": store }))
        .await;
    let (status, answer) = app.get("/partner-portal/v1/exchanges", &merchant).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["type"], "urn:mileverse:problem:wrong-portal");
    let (status, _) = app.get("/merchant/v1/terminals", &air_user).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_users_page_through_their_own_exchanges_on_sqlite() {
    partner_exchanges(Backend::Sqlite, "exchanges").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_users_page_through_their_own_exchanges_on_postgres() {
    partner_exchanges(Backend::Postgres, "exchanges").await;
}
