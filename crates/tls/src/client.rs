//! The client side: whom outbound connections trust.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{FileRole, TlsError, provider, read_certificates};

/// The TLS configuration of every outbound client: the system's trusted roots plus the
/// operator's extra CAs. Cheap to clone (one shared configuration).
///
/// Roots: the system's store through rustls-native-certs, so an operator trusts what the
/// host trusts (and its updates, and a corporate CA installed there) rather than a list
/// frozen into the binary; only when the system has none (a bare container without
/// ca-certificates) the Mozilla list compiled in by webpki-roots, so public endpoints still
/// work. The system's store is read once per process.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the system's roots and, with `ca_file`, every certificate of that PEM bundle.
    pub fn new(ca_file: Option<&Path>) -> Result<ClientTls, TlsError> {
        let mut roots = system_roots().clone();
        if let Some(path) = ca_file {
            add_ca_file(&mut roots, path)?;
        }
        Ok(ClientTls {
            config: Arc::new(config_with_roots(roots)),
            ca_file: ca_file.map(Path::to_path_buf),
        })
    }

    /// Trusts the system's roots only.
    pub fn system() -> ClientTls {
        ClientTls {
            config: Arc::new(config_with_roots(system_roots().clone())),
            ca_file: None,
        }
    }

    /// The extra CA bundle this configuration trusts, if any.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The rustls configuration for an HTTP/1.1 client (ALPN `http/1.1`), for HTTP stacks
    /// that take a preconfigured rustls `ClientConfig` (reqwest's `use_preconfigured_tls`,
    /// including the reqwest that alloy uses).
    pub fn http_config(&self) -> ClientConfig {
        let mut config = (*self.config).clone();
        // Our clients speak HTTP/1.1 only (reqwest is built without http2); offering h2
        // would let a server choose a protocol the client cannot speak.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }

    /// A reqwest client builder that trusts what this configuration trusts. Add timeouts and
    /// the like, then `build()`.
    pub fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().use_preconfigured_tls(self.http_config())
    }

    /// The PostgreSQL connector: with it, `sslmode` in the URL decides (`disable`: plain;
    /// `prefer`, the default: TLS when the server offers it; `require`: TLS or no
    /// connection). Whenever TLS is used the server's certificate is verified against this
    /// configuration's roots and its name against the URL's host.
    pub fn postgres(&self) -> MakeRustlsConnect {
        // PostgreSQL negotiates TLS in its own protocol (SSLRequest), without ALPN.
        MakeRustlsConnect::new((*self.config).clone())
    }
}

fn config_with_roots(roots: RootCertStore) -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        // ring supports every safe default version: this cannot fail.
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let role = FileRole::CaFile;
    for certificate in read_certificates(role, path)? {
        roots
            .add(certificate)
            .map_err(|error| TlsError::BadCertificate {
                role,
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
    }
    Ok(())
}

/// The system's trusted roots, read once; the compiled-in Mozilla roots when it has none.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::debug!(%error, "a system root certificate could not be loaded");
        }
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(loaded.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "system root certificates rustls cannot use");
        }
        if roots.is_empty() {
            tracing::warn!("the system has no trusted root certificates: using webpki-roots");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}
