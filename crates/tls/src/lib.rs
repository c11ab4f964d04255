//! TLS for every connection Mileverse makes or takes, in one place.
//!
//! - **Client side** ([`ClientTls`]): one rustls configuration that trusts the system's roots
//!   plus the operator's own CA bundle (`--ca-file`), handed to every outbound client: the
//!   HTTP clients ([`ClientTls::reqwest_builder`], [`ClientTls::http_config`] for other HTTP
//!   stacks such as alloy's) and PostgreSQL ([`ClientTls::postgres`], which honours the URL's
//!   `sslmode`). The server's certificate is always verified, also under `sslmode=prefer`:
//!   an encrypted connection to a server nobody vouched for protects nothing.
//! - **Server side** ([`ServerTls`]): a PEM certificate chain and private key, offered with
//!   ALPN `h2` and `http/1.1`, and reloaded when the files change (checked at most every
//!   `reload_interval_ms`, or at once with [`ServerTls::reload`], e.g. on SIGHUP), so an
//!   operator rotates a certificate without a restart. A reload that fails keeps the
//!   certificate in use and logs a warning.
//! - [`TlsListener`]: wraps any `axum::serve::Listener` so `axum::serve` (graceful shutdown
//!   included) serves HTTPS; handshakes run beside the accept loop, each bounded by
//!   `handshake_timeout_ms`.
//!
//! The crypto is rustls on *ring* only: aws-lc-rs needs cmake and a C build that slows a cold
//! build, and ring covers what we need (ECDSA, Ed25519, RSA; TLS 1.2 and 1.3). Certificates
//! and keys are read with rustls-pki-types' PEM parser (PKCS#8, PKCS#1 RSA and SEC1 keys).

mod client;
mod listener;
mod server;
#[cfg(feature = "test-pki")]
pub mod test_pki;

use std::io;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use client::ClientTls;
pub use listener::TlsListener;
pub use server::{
    HANDSHAKE_TIMEOUT_MS_DEFAULT, RELOAD_INTERVAL_MS_DEFAULT, ServerTls, ServerTlsConfig,
};
/// The PostgreSQL connector [`ClientTls::postgres`] gives (for `postgres::Client::connect`).
pub use tokio_postgres_rustls::MakeRustlsConnect;

/// What went wrong with a TLS file or configuration. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file is missing or cannot be read.
    #[error("cannot read the {role} {path}: {source}")]
    Read {
        role: FileRole,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not PEM, or a PEM block in it does not decode.
    #[error("the {role} {path} is not valid PEM: {reason}")]
    Pem {
        role: FileRole,
        path: PathBuf,
        reason: String,
    },
    /// The file is PEM but holds nothing of what it should (no certificate, no key).
    #[error("the {role} {path} holds no {expected}")]
    Empty {
        role: FileRole,
        path: PathBuf,
        expected: &'static str,
    },
    /// A certificate in the file cannot be used (not X.509, or not a usable trust anchor).
    #[error("the {role} {path} holds a certificate that cannot be used: {reason}")]
    BadCertificate {
        role: FileRole,
        path: PathBuf,
        reason: String,
    },
    /// The private key is of a kind rustls cannot sign with.
    #[error("the private key {path} cannot be used: {reason}")]
    BadKey { path: PathBuf, reason: String },
    /// The private key is not the key of the chain's first (leaf) certificate.
    #[error("the private key {key_path} does not belong to the certificate {cert_path}")]
    KeyMismatch {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
}

/// Which file a [`TlsError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    /// The server's certificate chain (`--tls-cert`).
    CertificateChain,
    /// The server's private key (`--tls-key`).
    PrivateKey,
    /// Extra trusted CAs (`--ca-file`).
    CaFile,
}

impl std::fmt::Display for FileRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileRole::CertificateChain => "certificate chain",
            FileRole::PrivateKey => "private key",
            FileRole::CaFile => "CA file",
        })
    }
}

fn read_file(role: FileRole, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        role,
        path: path.to_path_buf(),
        source,
    })
}

/// Every `CERTIFICATE` block of a PEM file, in order; at least one.
fn read_certificates(
    role: FileRole,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(role, path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            role,
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Empty {
            role,
            path: path.to_path_buf(),
            expected: "PEM certificate",
        });
    }
    Ok(certificates)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let role = FileRole::PrivateKey;
    let bytes = read_file(role, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            role,
            path: path.to_path_buf(),
            expected: "PEM private key (PKCS#8, RSA or EC)",
        },
        other => TlsError::Pem {
            role,
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The one crypto provider of every configuration.
///
/// rustls 0.23.48 deprecates ring's provider because ring has no post-quantum key exchange
/// (X25519MLKEM768); that needs aws-lc-rs, which we leave out for the build (see above).
/// Classical X25519 / P-256 key exchange is what PostgreSQL and most peers offer today.
#[allow(deprecated)]
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
