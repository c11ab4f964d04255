//! Starting and stopping a real `mileverse serve` child process for tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const TOKEN: &str = "crash-test-token-of-at-least-32-bytes";

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts `mileverse serve` on port 0 over the SQLite store in `data` and waits until it
    /// prints its address.
    pub fn start(data: &Path) -> ServerProcess {
        ServerProcess::start_with(data, &[])
    }

    /// Like [`ServerProcess::start`], with more options (such as `--database-url`).
    pub fn start_with(data: &Path, extra: &[String]) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mileverse"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", TOKEN);
        let (child, base) = spawn_listening(command, "mileverse listening on ");
        ServerProcess { child, base }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `mileverse partner-sim` child process: an in-memory partner speaking the partner
/// protocol, with its unsigned `/sim/v1` control surface (docs/partner-protocol.md).
pub struct SimProcess {
    pub child: Child,
    pub base: String,
}

impl SimProcess {
    /// Starts `mileverse partner-sim` on 127.0.0.1 port 0 with the shared `secret` and waits
    /// until it prints its address.
    pub fn start(secret: &str) -> SimProcess {
        SimProcess::start_with(secret, &[])
    }

    /// Like [`SimProcess::start`], with more options (such as `--initial-mileage`).
    pub fn start_with(secret: &str, extra: &[String]) -> SimProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mileverse"));
        command
            .args(["partner-sim", "--listen", "127.0.0.1:0", "--secret", secret])
            .args(extra);
        let (child, base) = spawn_listening(command, "partner-sim listening on ");
        SimProcess { child, base }
    }

    /// SIGKILL: the simulator's in-memory state is lost.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `mileverse webhook-sim` child process: a merchant's webhook receiver that checks
/// checkout's signatures and keeps what arrived (`GET /sim/v1/deliveries`).
pub struct WebhookSimProcess {
    pub child: Child,
    pub base: String,
}

impl WebhookSimProcess {
    /// Starts the receiver on `listen` (`127.0.0.1:0` for any port) with `secret`.
    pub fn start(listen: &str, secret: &str) -> WebhookSimProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mileverse"));
        command.args(["webhook-sim", "--listen", listen, "--secret", secret]);
        let (child, base) = spawn_listening(command, "webhook receiver listening on ");
        WebhookSimProcess { child, base }
    }

    /// SIGKILL: the receiver is down (connections refused) and forgets what it got.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for WebhookSimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` and waits until its first line, `<prefix>http://ADDR`, names its address.
fn spawn_listening(mut command: Command, prefix: &str) -> (Child, String) {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mileverse");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the address line");
    match line.trim().strip_prefix(prefix) {
        Some(base) => (child, base.to_string()),
        None => {
            let _ = child.kill();
            panic!("the process did not start; it printed {line:?}")
        }
    }
}

/// Runs `mileverse <args>` to completion.
pub fn mileverse(args: &[&str], data: &Path) -> Output {
    mileverse_with(args, data, &[])
}

/// Like [`mileverse`], with more options (such as `--database-url`).
pub fn mileverse_with(args: &[&str], data: &Path, extra: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(args)
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .expect("run mileverse")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `--database-url` for a fresh schema of its own on the test PostgreSQL server
/// (MILEVERSE_TEST_DATABASE_URL, started by scripts/test.sh), and `--ca-file` with the
/// server's CA (MILEVERSE_TEST_PG_CA) when it has one.
pub fn postgres_options(name: &str) -> Vec<String> {
    let url = std::env::var("MILEVERSE_TEST_DATABASE_URL").expect(
        "MILEVERSE_TEST_DATABASE_URL is not set: run `bash scripts/test.sh` (it starts PostgreSQL)",
    );
    let schema = format!("{name}_{}", std::process::id());
    let setup_url = url.clone();
    let setup_schema = schema.clone();
    // A plain thread: the sync client runs its own runtime, which must not nest in a test's.
    std::thread::spawn(move || {
        let tls = tls::test_pki::test_database_tls().postgres();
        let mut client = postgres::Client::connect(&setup_url, tls).expect("connect");
        let sql =
            format!("DROP SCHEMA IF EXISTS {setup_schema} CASCADE; CREATE SCHEMA {setup_schema}");
        client.batch_execute(&sql).expect("create schema");
    })
    .join()
    .expect("schema thread");
    let mut options = vec![
        "--database-url".into(),
        format!("{url}?options=-c%20search_path%3D{schema}"),
    ];
    if let Some(ca_file) = std::env::var_os(tls::test_pki::TEST_PG_CA_VARIABLE) {
        options.push("--ca-file".into());
        options.push(ca_file.to_string_lossy().into_owned());
    }
    options
}

/// The member's side of a link at a partner simulator, the one way every CLI test links:
/// asks the server at `base` for the link (it must answer `201` with an `authorize_url`),
/// signs in at the simulator's login page as `member_ref` with `password`, and sends the
/// proof back. Answers the proof's response (`200` with the active link when it passed).
pub async fn link_with_proof(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    partner_id: &str,
    member_ref: &str,
    password: &str,
) -> reqwest::Response {
    let body = serde_json::json!({"partner_id": partner_id, "partner_member_ref": member_ref});
    let attempt = http
        .post(format!("{base}/v1/me/partner-links"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST /v1/me/partner-links");
    let status = attempt.status().as_u16();
    let attempt: serde_json::Value = attempt.json().await.expect("a JSON answer");
    assert_eq!(status, 201, "POST /v1/me/partner-links: {attempt}");
    assert_eq!(attempt["status"], "pending_proof", "{attempt}");
    prove_at_sim(http, base, token, &attempt, member_ref, password).await
}

/// Signs in at the simulator for a link attempt (the `201` answer of
/// `POST /v1/me/partner-links`) and posts the proof; answers the proof's response.
pub async fn prove_at_sim(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    attempt: &serde_json::Value,
    member_ref: &str,
    password: &str,
) -> reqwest::Response {
    let authorize_url = attempt["authorize_url"].as_str().expect("an authorize_url");
    let link_id = attempt["link_id"].as_str().expect("a link_id");
    let browser = gateways::sim::browser::client();
    let callback = gateways::sim::browser::sign_in(&browser, authorize_url, member_ref, password)
        .await
        .expect("signed in at the partner simulator");
    let (Some(code), Some(state)) = (callback.code, callback.state) else {
        panic!("the simulator sent no code back: {}", callback.location);
    };
    http.post(format!("{base}/v1/me/partner-links/{link_id}/proof"))
        .bearer_auth(token)
        .json(&serde_json::json!({"state": state, "code": code}))
        .send()
        .await
        .expect("POST /v1/me/partner-links/{id}/proof")
}

/// The store a flow runs on: SQLite in the data directory, or PostgreSQL.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The store options of `serve`: none for SQLite, or `--database-url` with a fresh
    /// schema named after `name` (panics without MILEVERSE_TEST_DATABASE_URL).
    pub fn options(self, name: &str) -> Vec<String> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Postgres => postgres_options(name),
        }
    }
}

/// Runs each flow on both backends: module `$flow` with tests `sqlite` and `postgres`, each
/// `super::run(super::$flow(backend))` (the file's `run` holds its deadline).
#[macro_export]
macro_rules! on_both_backends {
    ($($flow:ident),* $(,)?) => {$(
        mod $flow {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run(super::$flow($crate::support::Backend::Sqlite)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run(super::$flow($crate::support::Backend::Postgres)).await;
            }
        }
    )*};
}

/// Seconds since the Unix epoch.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A JSON string's text (panics on anything else).
pub fn text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_string()
}

/// A client of the JSON API: a bearer token when given, an `Idempotency-Key` when given;
/// answers the status and the JSON body (null when there is none).
#[derive(Clone)]
pub struct JsonApi {
    pub base: String,
    pub http: reqwest::Client,
}

impl JsonApi {
    pub async fn call_keyed(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.call_keyed(method, path, token, body, None).await
    }

    /// The body of a 2xx answer (panics on any other).
    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, value) = self.call(method, path, token, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        self.ok("POST", path, token, Some(body)).await
    }

    /// The body of a 200 answer (panics on any other).
    pub async fn get(&self, path: &str, token: &str) -> serde_json::Value {
        let (status, value) = self.call("GET", path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }
}
