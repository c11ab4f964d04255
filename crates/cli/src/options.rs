//! Options shared by commands: where the store is and where the operator key is, whom
//! outbound TLS connections trust (`--ca-file`), and the certificate a server presents
//! (`--tls-cert`, `--tls-key`).

use std::path::PathBuf;

use anyhow::Context;
use ledger::checkpoint::OperatorKey;
use store::Store;
use store::postgres::PostgresStore;
use store::sqlite::SqliteStore;

/// SQLite file name inside the data directory.
pub const SQLITE_FILE_NAME: &str = "ledger.db";
/// Operator key file name inside the data directory.
pub const OPERATOR_KEY_FILE_NAME: &str = "operator.key";
/// SQLite file the platform's records were kept in before they moved into `ledger.db`.
pub const RECORDS_FILE_NAME: &str = "records.db";
/// Data key file name (sealing of personal data) inside the data directory.
pub const DATA_KEY_FILE_NAME: &str = "data.key";

#[derive(clap::Args, Clone, Debug)]
pub struct StoreOptions {
    /// Data directory: the SQLite database (the default store) and the operator key.
    #[arg(long, default_value = "./mileverse-data")]
    pub data: PathBuf,
    /// Use PostgreSQL instead of SQLite (postgres://user:pass@host:port/db).
    #[arg(long, env = "MILEVERSE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Operator signing key file; defaults to DATA/operator.key (created if missing).
    #[arg(long)]
    pub operator_key: Option<PathBuf>,
}

/// Whom outbound connections trust: the system's roots, plus the CAs of `--ca-file`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClientTlsOptions {
    /// PEM file of CA certificates to trust beside the system's roots, for every outbound
    /// TLS connection: partners, SMS, the chain node, PostgreSQL, a Mileverse server.
    #[arg(long, env = "MILEVERSE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl ClientTlsOptions {
    pub fn client_tls(&self) -> anyhow::Result<tls::ClientTls> {
        tls::ClientTls::new(self.ca_file.as_deref()).context("cannot use --ca-file")
    }
}

/// The certificate a server presents: HTTPS with both, plain HTTP with neither.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServerTlsOptions {
    /// PEM certificate chain (leaf first) to serve HTTPS with; needs --tls-key. Checked for
    /// changes every 10 s and read again on SIGHUP, so a renewed certificate needs no restart.
    #[arg(long, env = "MILEVERSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, RSA or EC).
    #[arg(long, env = "MILEVERSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerTlsOptions {
    /// The loaded certificate, or `None` for plain HTTP.
    pub fn server_tls(&self) -> anyhow::Result<Option<tls::ServerTls>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let config = tls::ServerTlsConfig::new(cert, key);
        Ok(Some(
            tls::ServerTls::load(config).context("cannot use --tls-cert and --tls-key")?,
        ))
    }
}

/// `http` or `https`, as a server with `tls` is reached.
pub fn scheme(tls: Option<&tls::ServerTls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// Reads the certificate again on every SIGHUP (besides the periodic check), for operators
/// who rotate and then signal, as with nginx.
pub fn reload_on_hangup(tls: tls::ServerTls) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the certificate reloads on its timer only");
            return;
        };
        while hangups.recv().await.is_some() {
            // A failure is logged by the reload and keeps the certificate in use.
            let _ = tls.reload();
        }
    });
    #[cfg(not(unix))]
    let _ = tls;
}

impl StoreOptions {
    /// Where the data lives, for people: the SQLite file's full path, or PostgreSQL's host,
    /// port and database (never the user or password of the URL).
    pub fn describe(&self) -> String {
        match &self.database_url {
            Some(url) => match reqwest::Url::parse(url) {
                Ok(url) => format!(
                    "PostgreSQL at {}:{}{}",
                    url.host_str().unwrap_or("localhost"),
                    url.port().unwrap_or(5432),
                    url.path()
                ),
                Err(_) => "PostgreSQL".to_string(),
            },
            None => {
                let path = self.data.join(SQLITE_FILE_NAME);
                let full = std::path::absolute(&path).unwrap_or(path);
                format!("SQLite at {}", full.display())
            }
        }
    }

    /// Opens the store; PostgreSQL connects with `tls` (the URL's `sslmode` decides).
    pub fn open_store(&self, tls: &tls::ClientTls) -> anyhow::Result<Box<dyn Store>> {
        if let Some(url) = &self.database_url {
            let store = PostgresStore::connect(url, &tls.postgres())
                .context("cannot connect to PostgreSQL")?;
            return Ok(Box::new(store));
        }
        std::fs::create_dir_all(&self.data)
            .with_context(|| format!("cannot create data directory {}", self.data.display()))?;
        let path = self.data.join(SQLITE_FILE_NAME);
        let store =
            SqliteStore::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(store))
    }

    /// Like [`Self::open_store`], but refuses to create a new SQLite database.
    pub fn open_existing_store(&self, tls: &tls::ClientTls) -> anyhow::Result<Box<dyn Store>> {
        if self.database_url.is_none() {
            let path = self.data.join(SQLITE_FILE_NAME);
            anyhow::ensure!(path.exists(), "no ledger at {}", path.display());
        }
        self.open_store(tls)
    }

    /// The record store of an older layout to import from: `DATA/records.db` if it is
    /// there (on PostgreSQL the records were always in the ledger's schema: none).
    pub fn legacy_records(&self) -> anyhow::Result<Option<Box<dyn store::records::RecordStore>>> {
        let path = self.data.join(RECORDS_FILE_NAME);
        if self.database_url.is_some() || !path.exists() {
            return Ok(None);
        }
        let records = store::records::SqliteRecords::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Some(Box::new(records)))
    }

    /// Once its records are in the ledger's database, renames `DATA/records.db` (and its
    /// WAL files) to `records.db.imported`, so no later start reads it again.
    pub fn retire_legacy_records(&self) -> anyhow::Result<()> {
        if self.database_url.is_some() {
            return Ok(());
        }
        for suffix in ["", "-wal", "-shm"] {
            let path = self.data.join(format!("{RECORDS_FILE_NAME}{suffix}"));
            if path.exists() {
                let retired = self
                    .data
                    .join(format!("{RECORDS_FILE_NAME}.imported{suffix}"));
                std::fs::rename(&path, &retired)
                    .with_context(|| format!("cannot rename {}", path.display()))?;
            }
        }
        Ok(())
    }

    pub fn operator_key(&self) -> anyhow::Result<OperatorKey> {
        let path = self
            .operator_key
            .clone()
            .unwrap_or_else(|| self.data.join(OPERATOR_KEY_FILE_NAME));
        Ok(journal::keys::load_or_create(&path)?)
    }
}

pub fn parse_public_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("the public key must be hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the public key must be 32 bytes"))
}
