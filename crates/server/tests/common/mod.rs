//! The real app on port 0 over a real SQLite store, for the server's HTTP tests.

use std::sync::Arc;

use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;

/// The bootstrap token of every test server.
pub const TOKEN: &str = "test-admin-token-of-at-least-32-bytes";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    _directory: tempfile::TempDir,
}

impl TestServer {
    /// A ledger-only server (no platform) with [`TOKEN`] as its bootstrap token.
    pub async fn start() -> TestServer {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("ledger.db");
        // A plain thread: opening replays the store, blocking IO.
        let ledger = std::thread::spawn(move || {
            let store = store::sqlite::SqliteStore::open(&path).expect("sqlite");
            let key = OperatorKey::from_seed([9; 32]);
            LedgerService::open(Box::new(store), key, LedgerConfig::default()).expect("ledger")
        })
        .join()
        .expect("open thread");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = server::AppState::ledger_only(Arc::new(ledger), Some(TOKEN)).expect("state");
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
}
