//! The real app on port 0 over a real store (SQLite, or PostgreSQL when
//! `MILEVERSE_TEST_DATABASE_URL` is set by scripts/test.sh), for the server's HTTP tests.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use serde_json::Value;
use store::Store;

/// The bootstrap token of every test server.
pub const TOKEN: &str = "test-admin-token-of-at-least-32-bytes";
/// The seed of every test server's operator key.
pub const OPERATOR_KEY_SEED: [u8; 32] = [7; 32];
/// The longest one request of a test waits.
const REQUEST_TIMEOUT_S: u64 = 30;

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    _directory: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A ledger-only server (no platform) with [`TOKEN`] as its bootstrap token. Opens the
    /// store and the ledger on a plain thread: opening replays the store (blocking IO), and
    /// the sync PostgreSQL client runs its own runtime, which must not be driven from
    /// inside the test's.
    pub async fn start(
        open_store: impl FnOnce() -> Box<dyn Store> + Send + 'static,
        directory: Option<tempfile::TempDir>,
    ) -> TestServer {
        let ledger = std::thread::spawn(move || {
            let key = OperatorKey::from_seed(OPERATOR_KEY_SEED);
            LedgerService::open(open_store(), key, LedgerConfig::default()).expect("open ledger")
        });
        let ledger = Arc::new(ledger.join().expect("open thread"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = server::AppState::ledger_only(ledger, Some(TOKEN)).expect("state");
        tokio::spawn(server::serve(listener, None, state, std::future::pending()));
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(REQUEST_TIMEOUT_S))
            .build()
            .expect("client");
        TestServer {
            base,
            client,
            _directory: directory,
        }
    }

    /// On a SQLite file of a temporary directory.
    pub async fn sqlite() -> TestServer {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("ledger.db");
        let open = move || {
            Box::new(store::sqlite::SqliteStore::open(&path).expect("sqlite")) as Box<dyn Store>
        };
        TestServer::start(open, Some(directory)).await
    }

    /// On a schema of its own in the test database.
    pub async fn postgres(test: &str) -> TestServer {
        let url = std::env::var("MILEVERSE_TEST_DATABASE_URL")
            .expect("MILEVERSE_TEST_DATABASE_URL is not set: run `bash scripts/test.sh` (it starts PostgreSQL)");
        // The process id alone repeats across runs against one database (a schema left by
        // an earlier run would already hold the accounts): the time makes it the test's own.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .subsec_nanos();
        let schema = format!("http_{test}_{}_{nanos}", std::process::id());
        let open = move || {
            let store = store::postgres::PostgresStore::connect_schema(
                &url,
                &schema,
                &tls::test_pki::test_database_tls().postgres(),
            )
            .expect("postgres");
            Box::new(store) as Box<dyn Store>
        };
        TestServer::start(open, None).await
    }

    /// POST with the bootstrap token: the status and the JSON answer (null if none).
    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET with the bootstrap token: the status and the JSON answer (null if none).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
