//! The operator key: an Ed25519 seed kept in a file (hex), created on first start.
//!
//! The file is written with mode 0600 and never stored in the database; the database only
//! pins the public key, so a swapped key file is detected at start.

use std::fs;
use std::io::Write;
use std::path::Path;

use ledger::checkpoint::OperatorKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} does not hold 64 hex digits")]
    Malformed { path: String },
}

/// Reads the key at `path`, or creates a new random key there if the file does not exist.
pub fn load_or_create(path: &Path) -> Result<OperatorKey, KeyError> {
    load_or_create_secret(path).map(OperatorKey::from_seed)
}

/// Reads 32 secret bytes (64 hex digits) at `path`, or creates a new random secret there
/// (mode 0600) if the file does not exist. Used for the operator key and the data key.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(text) => parse_secret(text.trim()).ok_or(KeyError::Malformed {
            path: path.display().to_string(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = rand::random();
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io)?;
            }
            write_private(path, &hex::encode(seed)).map_err(io)?;
            Ok(seed)
        }
        Err(error) => Err(io(error)),
    }
}

/// 32 bytes from 64 hex digits.
pub fn parse_secret(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
