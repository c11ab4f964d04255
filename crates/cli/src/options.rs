//! Options shared by commands: where the store is and where the operator key is.

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

impl StoreOptions {
    pub fn open_store(&self) -> anyhow::Result<Box<dyn Store>> {
        if let Some(url) = &self.database_url {
            let store = PostgresStore::connect(url).context("cannot connect to PostgreSQL")?;
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
    pub fn open_existing_store(&self) -> anyhow::Result<Box<dyn Store>> {
        if self.database_url.is_none() {
            let path = self.data.join(SQLITE_FILE_NAME);
            anyhow::ensure!(path.exists(), "no ledger at {}", path.display());
        }
        self.open_store()
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
