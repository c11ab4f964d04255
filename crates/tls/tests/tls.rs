//! The tls crate on real files and real sockets on 127.0.0.1: what each bad file is reported
//! as, a failed reload keeping the certificate in use, the handshake deadline, ALPN.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tls::test_pki::TestCa;
use tls::{ClientTls, FileRole, ServerTls, ServerTlsConfig, TlsError};
use tokio::io::AsyncReadExt;

struct Files {
    _directory: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl Files {
    /// A CA, and a loopback leaf signed by it, on disk.
    fn new() -> Files {
        let directory = tempfile::tempdir().expect("temporary directory");
        let files = Files {
            cert: directory.path().join("server.pem"),
            key: directory.path().join("server.key"),
            ca: directory.path().join("ca.pem"),
            _directory: directory,
        };
        let ca = TestCa::new("tls crate test CA");
        ca.write_cert(&files.ca);
        ca.loopback_leaf().write(&files.cert, &files.key);
        files
    }

    fn path(&self, name: &str) -> PathBuf {
        self.cert.with_file_name(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    fn config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new(&self.cert, &self.key)
    }
}

/// A PEM block whose base64 decodes to bytes that are no certificate.
const NOT_A_CERTIFICATE: &str =
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
/// A PEM block whose body is not base64.
const BROKEN_PEM: &str =
    "-----BEGIN CERTIFICATE-----\n!!! not base64 !!!\n-----END CERTIFICATE-----\n";

fn load_error(config: ServerTlsConfig) -> TlsError {
    ServerTls::load(config).expect_err("the files must be refused")
}

#[test]
fn a_missing_certificate_or_key_is_a_read_error_naming_the_file() {
    let files = Files::new();
    let missing = files.path("absent.pem");
    let error = load_error(ServerTlsConfig::new(&missing, &files.key));
    assert!(
        matches!(&error, TlsError::Read { role: FileRole::CertificateChain, path, .. } if *path == missing),
        "{error:?}"
    );
    assert!(error.to_string().contains("absent.pem"), "{error}");
    let error = load_error(ServerTlsConfig::new(&files.cert, &missing));
    assert!(
        matches!(
            error,
            TlsError::Read {
                role: FileRole::PrivateKey,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn garbage_is_refused_as_pem_empty_or_bad_certificate() {
    let files = Files::new();
    let broken = files.write("broken.pem", BROKEN_PEM);
    let error = load_error(ServerTlsConfig::new(&broken, &files.key));
    assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");

    let text = files.write("text.pem", "hello, not PEM at all\n");
    let error = load_error(ServerTlsConfig::new(&text, &files.key));
    assert!(matches!(error, TlsError::Empty { .. }), "{error:?}");
    let error = load_error(ServerTlsConfig::new(&files.cert, &text));
    assert!(
        matches!(
            error,
            TlsError::Empty {
                role: FileRole::PrivateKey,
                ..
            }
        ),
        "{error:?}"
    );
    // A certificate where the key should be: no key in it.
    let error = load_error(ServerTlsConfig::new(&files.cert, &files.cert));
    assert!(
        matches!(
            error,
            TlsError::Empty {
                role: FileRole::PrivateKey,
                ..
            }
        ),
        "{error:?}"
    );

    let junk = files.write("junk.pem", NOT_A_CERTIFICATE);
    let error = load_error(ServerTlsConfig::new(&junk, &files.key));
    assert!(
        matches!(
            error,
            TlsError::BadCertificate {
                role: FileRole::CertificateChain,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_key_that_is_not_the_leafs_is_a_mismatch() {
    let files = Files::new();
    let other = TestCa::new("another CA").loopback_leaf();
    let other_key = files.write("other.key", &other.key_pem);
    let error = load_error(ServerTlsConfig::new(&files.cert, &other_key));
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
    assert!(error.to_string().contains("other.key"), "{error}");
}

#[test]
fn a_bad_ca_file_is_refused() {
    let files = Files::new();
    let error = ClientTls::new(Some(&files.path("absent-ca.pem"))).expect_err("missing");
    assert!(
        matches!(
            error,
            TlsError::Read {
                role: FileRole::CaFile,
                ..
            }
        ),
        "{error:?}"
    );
    let broken = files.write("broken-ca.pem", BROKEN_PEM);
    let error = ClientTls::new(Some(&broken)).expect_err("broken");
    assert!(
        matches!(
            error,
            TlsError::Pem {
                role: FileRole::CaFile,
                ..
            }
        ),
        "{error:?}"
    );
    let empty = files.write("empty-ca.pem", "");
    let error = ClientTls::new(Some(&empty)).expect_err("empty");
    assert!(
        matches!(
            error,
            TlsError::Empty {
                role: FileRole::CaFile,
                ..
            }
        ),
        "{error:?}"
    );
    let junk = files.write("junk-ca.pem", NOT_A_CERTIFICATE);
    let error = ClientTls::new(Some(&junk)).expect_err("junk");
    assert!(
        matches!(
            error,
            TlsError::BadCertificate {
                role: FileRole::CaFile,
                ..
            }
        ),
        "{error:?}"
    );
    // A bundle of several CAs is fine.
    let bundle = files.write(
        "bundle.pem",
        &(TestCa::new("one").cert_pem() + &TestCa::new("two").cert_pem()),
    );
    let tls = ClientTls::new(Some(&bundle)).expect("a bundle of two CAs");
    assert_eq!(tls.ca_file(), Some(bundle.as_path()));
}

/// Serves `GET /ping` over `tls` on a free loopback port; the base URL.
async fn serve(tls: &ServerTls) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tls.listener(listener).expect("TLS listener");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("https://localhost:{}", address.port())
}

async fn ping(base: &str, ca_file: Option<&Path>) -> Result<String, reqwest::Error> {
    let client = ClientTls::new(ca_file)
        .expect("client TLS")
        .reqwest_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    client
        .get(format!("{base}/ping"))
        .send()
        .await?
        .text()
        .await
}

#[tokio::test]
async fn a_failed_reload_keeps_the_certificate_in_use() {
    let files = Files::new();
    let tls = ServerTls::load(files.config()).expect("load");
    let base = serve(&tls).await;
    assert_eq!(ping(&base, Some(&files.ca)).await.expect("ping"), "pong");

    std::fs::write(&files.cert, BROKEN_PEM).expect("break the certificate");
    let error = tls.reload().expect_err("a broken file does not load");
    assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");
    assert_eq!(
        ping(&base, Some(&files.ca)).await.expect("still served"),
        "pong"
    );
}

#[tokio::test]
async fn a_changed_pair_that_does_not_load_is_skipped_on_the_interval() {
    let files = Files::new();
    let config = ServerTlsConfig {
        reload_interval_ms: 0,
        ..files.config()
    };
    let tls = ServerTls::load(config).expect("load");
    let base = serve(&tls).await;
    // Half a rotation: a new certificate, the old key. Every handshake checks (interval 0).
    let next = TestCa::new("next CA");
    std::fs::write(&files.cert, next.loopback_leaf().cert_pem).expect("write");
    assert_eq!(
        ping(&base, Some(&files.ca)).await.expect("old one served"),
        "pong"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_dropped() {
    let files = Files::new();
    let config = ServerTlsConfig {
        handshake_timeout_ms: 300,
        ..files.config()
    };
    let tls = ServerTls::load(config).expect("load");
    let base = serve(&tls).await;
    let address = base.trim_start_matches("https://localhost:");
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{address}"))
        .await
        .expect("connect");
    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("the server closes the connection before the test gives up");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Others are served meanwhile and after.
    assert_eq!(ping(&base, Some(&files.ca)).await.expect("ping"), "pong");
}

#[tokio::test]
async fn the_server_offers_h2_and_http1_by_alpn() {
    let files = Files::new();
    let tls = ServerTls::load(files.config()).expect("load");
    let base = serve(&tls).await;
    let port = base.trim_start_matches("https://localhost:");
    let client = ClientTls::new(Some(&files.ca)).expect("client TLS");
    for protocol in [b"h2".as_slice(), b"http/1.1".as_slice()] {
        let mut config = client.http_config();
        config.alpn_protocols = vec![protocol.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let stream = connector.connect(name, stream).await.expect("handshake");
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(protocol));
    }
}
