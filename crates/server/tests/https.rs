//! The real app over HTTPS on 127.0.0.1, with certificates from private CAs made for the
//! test: a client trusting the CA is served, one that does not fails the handshake, plain
//! HTTP on the TLS port gets no answer, a certificate replaced on disk is served after the
//! reload interval, and graceful shutdown still ends the server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use tls::test_pki::TestCa;
use tls::{ClientTls, ServerTls, ServerTlsConfig};
use tokio::sync::oneshot;

/// What the test sets as the certificate check interval; it waits a little longer.
const RELOAD_INTERVAL_MS: u64 = 200;

struct Https {
    _directory: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    /// `https://localhost:PORT`: the leaf names localhost and 127.0.0.1.
    base: String,
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Writes `ca`'s CA certificate to a file in `directory` named `name`.
fn ca_file(directory: &Path, ca: &TestCa, name: &str) -> PathBuf {
    let path = directory.join(name);
    ca.write_cert(&path);
    path
}

/// The real router on a memory ledger, served over TLS with a certificate from `ca`.
async fn start(ca: &TestCa) -> Https {
    let directory = tempfile::tempdir().expect("temporary directory");
    let (cert, key) = (
        directory.path().join("tls.pem"),
        directory.path().join("tls.key"),
    );
    ca.loopback_leaf().write(&cert, &key);
    let config = ServerTlsConfig {
        reload_interval_ms: RELOAD_INTERVAL_MS,
        ..ServerTlsConfig::new(&cert, &key)
    };
    let tls = ServerTls::load(config).expect("the certificate loads");
    let ledger = LedgerService::open(
        Box::new(store::memory::MemoryStore::new()),
        OperatorKey::from_seed([5; 32]),
        LedgerConfig::default(),
    )
    .expect("ledger");
    let state = server::AppState::ledger_only(Arc::new(ledger), None).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(listener, Some(tls), state, async {
        let _ = stopped.await;
    }));
    Https {
        _directory: directory,
        cert,
        key,
        base: format!("https://localhost:{port}"),
        port,
        stop: Some(stop),
        served,
    }
}

/// `GET /healthz` with a fresh client trusting the system's roots and `ca_file`: no pooled
/// connection and no cached TLS session (a resumed session skips the certificate), so every
/// call is a full handshake.
async fn healthz(url: &str, ca_file: Option<&Path>) -> Result<u16, String> {
    let client = ClientTls::new(ca_file)
        .expect("client TLS")
        .reqwest_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    match client.get(format!("{url}/healthz")).send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(chain_of(&error)),
    }
}

/// An error and its causes, one line.
fn chain_of(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_serves_https_to_clients_that_trust_its_ca_only() {
    let ca = TestCa::new("server test CA");
    let server = start(&ca).await;
    let trusting = ca_file(server._directory.path(), &ca, "ca.pem");
    let trusting = Some(trusting.as_path());
    assert_eq!(healthz(&server.base, trusting).await, Ok(200));
    // By address too: the certificate names 127.0.0.1.
    let by_address = format!("https://127.0.0.1:{}", server.port);
    assert_eq!(healthz(&by_address, trusting).await, Ok(200));

    let error = healthz(&server.base, None)
        .await
        .expect_err("a client that does not trust the CA fails the handshake");
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    let plain = format!("http://127.0.0.1:{}", server.port);
    let answer = healthz(&plain, trusting).await;
    assert!(
        answer != Ok(200),
        "plain HTTP on the TLS port answered: {answer:?}"
    );
    // The server still serves after the plain client's failed handshake.
    assert_eq!(healthz(&server.base, trusting).await, Ok(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_replaced_on_disk_is_served_after_the_reload_interval() {
    let (ca_a, ca_b) = (TestCa::new("CA A"), TestCa::new("CA B"));
    let server = start(&ca_a).await;
    let directory = server._directory.path();
    let (a, b) = (
        ca_file(directory, &ca_a, "a.pem"),
        ca_file(directory, &ca_b, "b.pem"),
    );
    let (trusts_a, trusts_b) = (Some(a.as_path()), Some(b.as_path()));
    assert_eq!(healthz(&server.base, trusts_a).await, Ok(200));
    assert!(healthz(&server.base, trusts_b).await.is_err());

    // Rotation as an operator does it: new files in place, no restart.
    ca_b.loopback_leaf().write(&server.cert, &server.key);
    tokio::time::sleep(Duration::from_millis(RELOAD_INTERVAL_MS * 2)).await;
    assert_eq!(healthz(&server.base, trusts_b).await, Ok(200));
    assert!(
        healthz(&server.base, trusts_a).await.is_err(),
        "the old certificate is no longer presented"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_the_https_server() {
    let ca = TestCa::new("shutdown CA");
    let mut server = start(&ca).await;
    let trusting = ca_file(server._directory.path(), &ca, "ca.pem");
    assert_eq!(healthz(&server.base, Some(&trusting)).await, Ok(200));
    server
        .stop
        .take()
        .expect("running")
        .send(())
        .expect("signal");
    let ended = tokio::time::timeout(Duration::from_secs(10), &mut server.served)
        .await
        .expect("the server ends after its shutdown signal")
        .expect("the task");
    assert!(ended.is_ok(), "{ended:?}");
    // The port closes: the listener went with the server (its accept task is cancelled, which
    // takes the runtime a moment).
    let closed = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("still accepting after shutdown");
}
