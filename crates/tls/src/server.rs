//! The server side: the certificate we present, reloaded when its files change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::listener::TlsListener;
use crate::{FileRole, TlsError, provider, read_certificates, read_private_key};

/// How often, at most, the certificate files are checked for a change (their modification
/// time, size and inode): rotation shows within this time, and a handshake pays for two
/// `stat` calls at most this often.
pub const RELOAD_INTERVAL_MS_DEFAULT: u64 = 10_000;

/// How long a client may take to complete the TLS handshake after connecting; a client that
/// is slower (or sends nothing) is dropped, so it cannot hold a connection forever.
pub const HANDSHAKE_TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// Where the server's certificate comes from and how it is watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsConfig {
    /// PEM: the leaf certificate first, then its intermediates.
    pub cert_path: PathBuf,
    /// PEM: the leaf's private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_path: PathBuf,
    /// See [`RELOAD_INTERVAL_MS_DEFAULT`].
    pub reload_interval_ms: u64,
    /// See [`HANDSHAKE_TIMEOUT_MS_DEFAULT`].
    pub handshake_timeout_ms: u64,
}

impl ServerTlsConfig {
    /// The files, with the default reload interval and handshake timeout.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> ServerTlsConfig {
        ServerTlsConfig {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            reload_interval_ms: RELOAD_INTERVAL_MS_DEFAULT,
            handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// A server's TLS: the rustls configuration (ALPN `h2`, `http/1.1`) around a certificate
/// that follows its files. Cheap to clone; clones share the certificate.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    certificate: Arc<ReloadingCertificate>,
    handshake_timeout: Duration,
}

impl ServerTls {
    /// Loads the certificate chain and key (both must load, and the key must be the leaf's).
    pub fn load(config: ServerTlsConfig) -> Result<ServerTls, TlsError> {
        let key = load_certified_key(&config.cert_path, &config.key_path)?;
        let handshake_timeout = Duration::from_millis(config.handshake_timeout_ms);
        let certificate = Arc::new(ReloadingCertificate {
            state: Mutex::new(Current {
                key: Arc::new(key),
                stamp: FilesStamp::of(&config.cert_path, &config.key_path),
                checked_at: Instant::now(),
            }),
            reload_interval: Duration::from_millis(config.reload_interval_ms),
            config,
        });
        let mut server_config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            // ring supports every safe default version: this cannot fail.
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(server_config),
            certificate,
            handshake_timeout,
        })
    }

    /// Reads the files again now (e.g. on SIGHUP), changed or not. On failure the
    /// certificate in use stays, and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.certificate.reload()
    }

    /// The acceptor for hand-made servers; [`ServerTls::listener`] for `axum::serve`.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }

    /// The longest a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Serves TLS on `inner`'s connections (see [`TlsListener`]).
    pub fn listener<L>(&self, inner: L) -> std::io::Result<TlsListener<L>>
    where
        L: axum::serve::Listener,
        L::Addr: Clone + 'static,
    {
        TlsListener::new(inner, self)
    }
}

/// What identifies a version of the two files without reading them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FilesStamp([Option<FileStamp>; 2]);

#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    length: u64,
    /// A file replaced by a rename (certbot, Kubernetes secrets) is a new inode even when its
    /// time and size look alike.
    inode: u64,
}

impl FilesStamp {
    fn of(cert_path: &Path, key_path: &Path) -> FilesStamp {
        FilesStamp([FileStamp::of(cert_path), FileStamp::of(key_path)])
    }
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let metadata = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            modified: metadata.modified().ok(),
            length: metadata.len(),
            inode,
        })
    }
}

/// The certificate in use, and when and in what state its files were last looked at.
#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    /// The files as of the last load attempt, successful or not: a failed version is not
    /// tried again (nor warned about again) until the files change once more.
    stamp: FilesStamp,
    checked_at: Instant,
}

/// The `ResolvesServerCert` that follows the files. The check runs inside a handshake, at
/// most once per `reload_interval`, so no timer task has to live beside the server; loading
/// a changed pair reads two small files under the lock.
#[derive(Debug)]
struct ReloadingCertificate {
    config: ServerTlsConfig,
    reload_interval: Duration,
    state: Mutex<Current>,
}

impl ReloadingCertificate {
    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked_at.elapsed() >= self.reload_interval {
            state.checked_at = Instant::now();
            let stamp = FilesStamp::of(&self.config.cert_path, &self.config.key_path);
            if stamp != state.stamp {
                state.stamp = stamp;
                self.load_into(&mut state).ok();
            }
        }
        state.key.clone()
    }

    fn reload(&self) -> Result<(), TlsError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.checked_at = Instant::now();
        state.stamp = FilesStamp::of(&self.config.cert_path, &self.config.key_path);
        self.load_into(&mut state)
    }

    fn load_into(&self, state: &mut Current) -> Result<(), TlsError> {
        let (cert_path, key_path) = (&self.config.cert_path, &self.config.key_path);
        match load_certified_key(cert_path, key_path) {
            Ok(key) => {
                state.key = Arc::new(key);
                tracing::info!(cert = %cert_path.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "TLS certificate not reloaded: the previous one stays in use");
                Err(error)
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The chain and its key, checked to belong together.
fn load_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_certificates(FileRole::CertificateChain, cert_path)?;
    let key = read_private_key(key_path)?;
    let signing_key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|error| TlsError::BadKey {
            path: key_path.to_path_buf(),
            reason: error.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half (none of ring's keys), as rustls's own
        // `CertifiedKey::from_der` accepts.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
        }),
        // The leaf does not parse as X.509.
        Err(error) => Err(TlsError::BadCertificate {
            role: FileRole::CertificateChain,
            path: cert_path.to_path_buf(),
            reason: error.to_string(),
        }),
    }
}
