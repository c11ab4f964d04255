//! Operators as people, over real HTTP: the real app on port 0 with the operators context
//! and the audit log on a real SQLite store and a real PostgreSQL server
//! (MILEVERSE_TEST_DATABASE_URL, started by scripts/test.sh).
//!
//! Regression tests for issue 13's findings: an empty or short bootstrap token opened the
//! admin API; one shared token did everything and nothing recorded who; raw ledger writes
//! were open to every admin credential.

use std::sync::Arc;

use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use platform::audit::{AuditLog, hash_prefix, verify_chain};
use platform::crypto::DataKeys;
use platform::operators::{BOOTSTRAP_TOKEN_BYTES_MIN, OperatorError, Operators, OperatorsConfig};
use platform::totp;
use serde_json::{Value, json};
use store::Store;
use store::tables::audit::AuditRow;

const TOKEN: &str = "operators-test-bootstrap-token-0123456789";
const PASSWORD: &str = "correct horse battery staple";

struct TestServer {
    base: String,
    client: reqwest::Client,
    _directory: Option<tempfile::TempDir>,
}

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
            let schema = format!("operators_{test}_{}_{nanos}", std::process::id());
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

impl TestServer {
    async fn start(backend: Backend, test: &str, config: OperatorsConfig) -> TestServer {
        let test = test.to_string();
        // The sync PostgreSQL client runs its own runtime: open on a plain thread.
        let (ledger, directory) = std::thread::spawn(move || {
            let (store, directory) = open_store(backend, &test);
            let key = OperatorKey::from_seed([7; 32]);
            let ledger = LedgerService::open(store, key, LedgerConfig::default()).expect("ledger");
            (ledger, directory)
        })
        .join()
        .expect("open thread");
        let ledger = Arc::new(ledger);
        let keys = DataKeys::from_master(&[9; 32]);
        let operators =
            Operators::open(ledger.clone(), keys, config, Some(TOKEN)).expect("operators");
        let audit = AuditLog::open(ledger.clone()).await.expect("audit log");
        let mut state = server::AppState::ledger_only(ledger, None).expect("state");
        state.operators = Arc::new(operators);
        state.audit = Some(Arc::new(audit));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(server::serve(listener, None, state, std::future::pending()));
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("client");
        TestServer {
            base,
            client,
            _directory: directory,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// Creates an operator with the bootstrap token; answers its id and TOTP secret.
    async fn create_operator(&self, login: &str, role: &str) -> (String, Vec<u8>) {
        let body =
            json!({"login": login, "display_name": login, "role": role, "password": PASSWORD});
        let (status, answer) = self.post("/admin/v1/operators", TOKEN, body).await;
        assert_eq!(status, 201, "{answer}");
        let secret = answer["totp_secret"].as_str().expect("secret");
        let secret = data_encoding::BASE32_NOPAD
            .decode(secret.as_bytes())
            .expect("base32");
        assert!(
            answer["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        (answer["operator_id"].as_str().unwrap().to_string(), secret)
    }

    /// Logs in with the code of the current step (`step_offset` 1: the next one, which the
    /// drift window also takes, for a second login within one step).
    async fn log_in(&self, login: &str, secret: &[u8], step_offset: u64) -> (u16, Value) {
        self.log_in_with_code(login, &code(secret, step_offset))
            .await
    }

    /// A login with this very code (a code computed again may fall in the next step).
    async fn log_in_with_code(&self, login: &str, totp_code: &str) -> (u16, Value) {
        let body = json!({"login": login, "password": PASSWORD, "totp_code": totp_code});
        self.call(
            reqwest::Method::POST,
            "/admin/v1/sessions",
            None,
            Some(body),
        )
        .await
    }

    async fn session(&self, login: &str, secret: &[u8]) -> String {
        let (status, answer) = self.log_in(login, secret, 0).await;
        assert_eq!(status, 201, "{answer}");
        let token = answer["token"].as_str().expect("token").to_string();
        assert!(token.starts_with("mvs_"));
        token
    }

    async fn audit_rows(&self, token: &str) -> Vec<AuditRow> {
        let (status, page) = self.get("/admin/v1/audit-log", token).await;
        assert_eq!(status, 200, "{page}");
        page["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|entry| AuditRow {
                seq: entry["seq"].as_u64().unwrap(),
                at_ms: entry["at_ms"].as_u64().unwrap(),
                actor: entry["actor"].as_str().unwrap().into(),
                kind: entry["kind"].as_str().unwrap().into(),
                entry: entry["entry"].as_str().unwrap().into(),
                previous_hash: hash32(&entry["previous_hash"]),
                hash: hash32(&entry["hash"]),
                transfer_id: entry["transfer_id"].as_str().unwrap().parse().unwrap(),
            })
            .collect()
    }
}

fn hash32(value: &Value) -> [u8; 32] {
    hex::decode(value.as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

fn code(secret: &[u8], step_offset: u64) -> String {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let step = totp::step_of(now_s) + step_offset;
    totp::format_authenticator_code(totp::authenticator_code_at_step(secret, step))
}

fn ledger_transfer() -> Value {
    json!({"transfers": [{"id": "77", "debit_account_id": "1", "credit_account_id": "2",
        "amount": "1000000", "ledger": 1, "code": 5}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_tokens_shorter_than_the_minimum_are_refused() {
    let (store, _directory) = open_store(Backend::Sqlite, "weak");
    let key = OperatorKey::from_seed([7; 32]);
    let ledger = Arc::new(LedgerService::open(store, key, LedgerConfig::default()).expect("l"));
    let keys = DataKeys::from_master(&[9; 32]);
    let short = "x".repeat(BOOTSTRAP_TOKEN_BYTES_MIN - 1);
    for token in ["", "x", short.as_str()] {
        let refused = Operators::open(
            ledger.clone(),
            keys.clone(),
            OperatorsConfig::default(),
            Some(token),
        );
        assert!(
            matches!(refused, Err(OperatorError::WeakBootstrapToken(_))),
            "{token:?}"
        );
    }
    let minimum = "x".repeat(BOOTSTRAP_TOKEN_BYTES_MIN);
    Operators::open(ledger, keys, OperatorsConfig::default(), Some(&minimum)).expect("32 bytes");
}

async fn roles_and_sessions(backend: Backend, test: &str) {
    let server = TestServer::start(backend, test, OperatorsConfig::default()).await;
    // No credential, an empty one, a wrong one: 401, nothing runs.
    for token in [None, Some(""), Some("wrong")] {
        let (status, problem) = server
            .call(reqwest::Method::GET, "/admin/v1/me", token, None)
            .await;
        assert_eq!(status, 401, "{token:?}: {problem}");
        assert_eq!(problem["type"], "urn:mileverse:problem:unauthorized");
    }
    let (_, finance_secret) = server.create_operator("Fiona", "finance").await;
    let (_, support_secret) = server.create_operator("sam", "support").await;
    let (status, taken) = server
        .post(
            "/admin/v1/operators",
            TOKEN,
            json!({"login": "FIONA", "display_name": "x", "role": "auditor", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, taken["type"].as_str()),
        (409, Some("urn:mileverse:problem:login-taken"))
    );

    let finance = server.session("fiona", &finance_secret).await;
    let (status, me) = server.get("/admin/v1/me", &finance).await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("operator:fiona"), Some("finance"))
    );
    // Finance reads the ledger but never writes it raw; support does neither.
    let (status, _) = server.get("/admin/v1/ledger/accounts/1", &finance).await;
    assert_eq!(status, 404, "a read, of an account that does not exist");
    let (status, refused) = server
        .post("/admin/v1/ledger/transfers", &finance, ledger_transfer())
        .await;
    assert_eq!(
        (status, refused["permission"].as_str()),
        (403, Some("ledger.write"))
    );
    let support = server.session("sam", &support_secret).await;
    let (status, _) = server.get("/admin/v1/ledger/accounts/1", &support).await;
    assert_eq!(status, 403);
    // Support cannot make operators, nor give itself a key with more than it holds.
    let (status, _) = server
        .post(
            "/admin/v1/operators",
            &support,
            json!({"login": "eve", "display_name": "Eve", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 403);
    let key_body = json!({"name": "script", "permissions": ["ledger.read"], "ttl_days": 30});
    let (status, _) = server
        .post("/admin/v1/api-keys", &support, key_body.clone())
        .await;
    assert_eq!(status, 403);
    // Finance's key reads the ledger; revoked, it opens nothing.
    let (status, key) = server.post("/admin/v1/api-keys", &finance, key_body).await;
    assert_eq!(status, 201, "{key}");
    let key_token = key["token"].as_str().unwrap().to_string();
    assert!(key_token.starts_with("mvk_"));
    let (status, _) = server.get("/admin/v1/ledger/accounts/1", &key_token).await;
    assert_eq!(status, 404);
    let key_id = key["api_key_id"].as_str().unwrap();
    let (status, _) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/admin/v1/api-keys/{key_id}"),
            Some(&finance),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/admin/v1/ledger/accounts/1", &key_token).await;
    assert_eq!(status, 401);
    // Logged out, the session opens nothing.
    let (status, _) = server
        .call(
            reqwest::Method::DELETE,
            "/admin/v1/sessions/current",
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/admin/v1/me", &support).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_each_operator_may_do_on_sqlite() {
    roles_and_sessions(Backend::Sqlite, "roles").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_each_operator_may_do_on_postgres() {
    roles_and_sessions(Backend::Postgres, "roles").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_logins_answer_alike_and_then_wait_and_codes_work_once() {
    let server = TestServer::start(Backend::Sqlite, "logins", OperatorsConfig::default()).await;
    let (_, secret) = server.create_operator("olga", "operator").await;
    let bad_password =
        json!({"login": "olga", "password": "not the password", "totp_code": code(&secret, 0)});
    let bad_code = json!({"login": "olga", "password": PASSWORD, "totp_code": "000000x"});
    let nobody = json!({"login": "nobody", "password": PASSWORD, "totp_code": code(&secret, 0)});
    let mut answers = Vec::new();
    for body in [nobody.clone(), bad_password.clone(), bad_code, bad_password] {
        answers.push(
            server
                .call(
                    reqwest::Method::POST,
                    "/admin/v1/sessions",
                    None,
                    Some(body),
                )
                .await,
        );
    }
    // One answer for an unknown login, a wrong password and a wrong code.
    for (status, answer) in &answers {
        assert_eq!(*status, 401, "{answer}");
        assert_eq!(answer["type"], "urn:mileverse:problem:bad-credentials");
        assert_eq!(answer["detail"], answers[0].1["detail"]);
    }
    // Three failures in a row: the next try waits, even with the right credentials.
    let (status, delayed) = server.log_in("olga", &secret, 0).await;
    assert_eq!(status, 429, "{delayed}");
    assert!(delayed["retry_after_s"].as_u64().unwrap() > 0);
    // An unknown login never locks anybody (nothing to lock, same answer).
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            "/admin/v1/sessions",
            None,
            Some(nobody),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_code_opens_one_session_and_sessions_expire_and_end_when_disabled() {
    let config = OperatorsConfig {
        session_ttl_s: 2,
        ..OperatorsConfig::default()
    };
    let server = TestServer::start(Backend::Sqlite, "sessions", config).await;
    let (id, secret) = server.create_operator("ann", "auditor").await;
    let used = code(&secret, 0);
    let (status, first) = server.log_in_with_code("ann", &used).await;
    assert_eq!(status, 201, "{first}");
    let first = first["token"].as_str().expect("token").to_string();
    let (status, _) = server.log_in_with_code("ann", &used).await;
    assert_eq!(status, 401, "the same code again");
    let (status, second) = server.log_in("ann", &secret, 1).await;
    assert_eq!(status, 201, "the next step's code: {second}");
    let second = second["token"].as_str().unwrap().to_string();
    // Disabled by another operator: every session ends at once.
    let (status, changed) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/admin/v1/operators/{id}"),
            Some(TOKEN),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!((status, changed["enabled"].as_bool()), (200, Some(false)));
    let (status, _) = server.get("/admin/v1/me", &second).await;
    assert_eq!(status, 401);
    // And the first one had expired anyway.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _) = server.get("/admin/v1/me", &first).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_mode_closes_raw_ledger_writes_unless_allowed() {
    let accounts = json!({"accounts": [{"id": "1", "ledger": 1, "code": 10}, {"id": "2", "ledger": 1, "code": 10}]});
    for (raw_ledger_writes, expected) in [(false, 403), (true, 200)] {
        let config = OperatorsConfig {
            production: true,
            raw_ledger_writes,
            ..OperatorsConfig::default()
        };
        let server = TestServer::start(Backend::Sqlite, "production", config).await;
        let (status, answer) = server
            .post("/admin/v1/ledger/accounts", TOKEN, accounts.clone())
            .await;
        assert_eq!(
            status, expected,
            "raw writes allowed: {raw_ledger_writes}: {answer}"
        );
    }
    // Outside production mode the bootstrap identity keeps DESIGN.md's raw ledger API.
    let server =
        TestServer::start(Backend::Sqlite, "development", OperatorsConfig::default()).await;
    let (status, _) = server
        .post("/admin/v1/ledger/accounts", TOKEN, accounts)
        .await;
    assert_eq!(status, 200);
}

async fn audit_trail(backend: Backend, test: &str) {
    let server = TestServer::start(backend, test, OperatorsConfig::default()).await;
    let (operator_id, secret) = server.create_operator("alice", "operator").await;
    let (_, auditor_secret) = server.create_operator("aud", "auditor").await;
    let alice = server.session("alice", &secret).await;
    // A change with its before and after, a refusal, a failed login.
    let (status, _) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/admin/v1/operators/{operator_id}"),
            Some(TOKEN),
            Some(json!({"display_name": "Alice Kim"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .post("/admin/v1/ledger/transfers", &alice, ledger_transfer())
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            "/admin/v1/sessions",
            None,
            Some(json!({"login": "alice", "password": "wrong password!", "totp_code": "123456"})),
        )
        .await;
    assert_eq!(status, 401);
    let auditor = server.session("aud", &auditor_secret).await;
    let (status, _) = server.get("/admin/v1/audit-log", &alice).await;
    assert_eq!(status, 200, "operators read the trail too");
    let rows = server.audit_rows(&auditor).await;

    // The chain is whole, and every entry's hash is in the ledger's Merkle log.
    let (head, _) = verify_chain((0, [0; 32]), &rows).expect("an unbroken chain");
    assert_eq!(head as usize, rows.len());
    for row in &rows {
        let path = format!("/v1/ledger/proofs/inclusion/{}", row.transfer_id);
        // The log's contents are not public: no credential, no proof.
        let (status, _) = server.call(reqwest::Method::GET, &path, None, None).await;
        assert_eq!(status, 401);
        let (status, proof) = server
            .call(reqwest::Method::GET, &path, Some(&auditor), None)
            .await;
        assert_eq!(status, 200, "entry {}: {proof}", row.seq);
        assert_eq!(
            proof["transfer"]["user_data_128"],
            hash_prefix(&row.hash).to_string()
        );
        assert_eq!(proof["transfer"]["user_data_64"].as_u64(), Some(row.seq));
    }
    let entries: Vec<Value> = rows
        .iter()
        .map(|row| serde_json::from_str(&row.entry).unwrap())
        .collect();
    let find = |kind: &str, action: &str| {
        entries
            .iter()
            .find(|e| e["kind"] == kind && e["action"].as_str().unwrap().contains(action))
            .unwrap_or_else(|| panic!("no {kind} {action} in {entries:#?}"))
            .clone()
    };
    // Who, what, when, from where: the bootstrap identity made the operators.
    let created = find("outcome", "POST /admin/v1/operators");
    assert_eq!(created["actor"], "bootstrap");
    assert_eq!(created["status"], 201);
    assert!(
        created["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let intent = find("intent", "POST /admin/v1/operators");
    assert!(intent["seq"].as_u64() < created["seq"].as_u64());
    assert_eq!(created["intent_seq"], intent["seq"]);
    // Before and after of a change.
    let changed = find("outcome", "PATCH /admin/v1/operators/{id}");
    assert_eq!(changed["before"]["display_name"], "alice");
    assert_eq!(changed["after"]["display_name"], "Alice Kim");
    assert_eq!(
        changed["target"],
        format!("/admin/v1/operators/{operator_id}")
    );
    let denied = find("denied", "POST /admin/v1/ledger/transfers");
    assert_eq!(denied["actor"], "operator:alice");
    assert_eq!(find("login_failed", "sessions")["actor"], "operator:alice");
    assert_eq!(find("login", "sessions")["role"], "operator");
    // No secret is on the trail.
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(PASSWORD), "a password on the trail");
    let secret_text = data_encoding::BASE32_NOPAD.encode(&secret);
    assert!(!text.contains(&secret_text), "a TOTP secret on the trail");
    assert!(!text.contains(&alice), "a session token on the trail");

    // Support may not read the trail.
    let (_, support_secret) = server.create_operator("sue", "support").await;
    let support = server.session("sue", &support_secret).await;
    let (status, _) = server.get("/admin/v1/audit-log", &support).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_whole_and_committed_to_the_ledger_on_sqlite() {
    audit_trail(Backend::Sqlite, "audit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_whole_and_committed_to_the_ledger_on_postgres() {
    audit_trail(Backend::Postgres, "audit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_of_the_router_has_a_requirement_and_no_stale_ones() {
    let server = TestServer::start(Backend::Sqlite, "table", OperatorsConfig::default()).await;
    // The router's own refusals are problems too, with the security headers.
    let response = server
        .client
        .get(format!("{}/no/such/route", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:mileverse:problem:no-such-route");
    let (status, problem) = server
        .call(
            reqwest::Method::DELETE,
            "/admin/v1/permissions",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (405, Some("urn:mileverse:problem:method-not-allowed"))
    );
    let response = server
        .client
        .post(format!("{}/admin/v1/sessions", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("login=a&password=b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);

    // The router answers 405 `method-not-allowed` for a known path with another method and
    // 404 `no-such-route` for an unknown one; a route missing from the table would answer
    // 403 to the bootstrap identity. A handler's own 404 (no such account) is `not-found`.
    for (method, path, _) in server::access::ADMIN_ROUTES {
        let path = path.replace("{id}", "1").replace("{terminal_id}", "1");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, answer) = server.call(method.clone(), &path, Some(TOKEN), None).await;
        let slug = answer["type"].as_str().unwrap_or_default();
        let unrouted = [
            server::http_policy::NO_ROUTE_SLUG,
            server::http_policy::NO_METHOD_SLUG,
        ]
        .iter()
        .any(|unrouted| slug.ends_with(unrouted));
        assert!(
            status != 403 && !unrouted,
            "{method} {path}: {status} {answer}"
        );
    }
}
