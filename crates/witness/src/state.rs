//! The witness's memory across restarts: the operator key it pinned and the checkpoint it
//! co-signed last. JSON, replaced atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old state or the new one, never half of each:
//! a witness that lost its last co-signed checkpoint could be led to sign a rewritten
//! history.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ports::chain::AnchorCheckpoint;
use serde::{Deserialize, Serialize};

use crate::{WitnessError, hex32, parse_hex32};

/// The format written; another one is refused rather than guessed at.
pub const STATE_VERSION: u32 = 1;

/// A state file is a few hundred bytes; anything much larger is not ours.
pub const STATE_FILE_BYTES_MAX: u64 = 64 * 1024;

/// What a witness remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WitnessState {
    /// The operator's Ed25519 key, pinned on first contact (or given by the operator of the
    /// witness): every block signature is checked against it.
    pub operator_public_key: Option<[u8; 32]>,
    /// The checkpoint co-signed last; nothing lower is ever signed.
    pub last_cosigned: Option<AnchorCheckpoint>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    operator_public_key: Option<String>,
    last_cosigned: Option<StoredCheckpoint>,
}

#[derive(Serialize, Deserialize)]
struct StoredCheckpoint {
    height: u64,
    tree_size: u64,
    /// 64 hex digits.
    root: String,
}

impl WitnessState {
    /// The state at `path`, or `None` if there is no file yet.
    pub fn load(path: &Path) -> Result<Option<WitnessState>, WitnessError> {
        let bad = |reason: String| state_error(path, reason);
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(bad(error.to_string())),
        };
        let mut text = String::new();
        file.take(STATE_FILE_BYTES_MAX + 1)
            .read_to_string(&mut text)
            .map_err(|error| bad(error.to_string()))?;
        if text.len() as u64 > STATE_FILE_BYTES_MAX {
            return Err(bad(format!("larger than {STATE_FILE_BYTES_MAX} bytes")));
        }
        let stored: StateFile =
            serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
        WitnessState::from_file(stored).map(Some).map_err(bad)
    }

    /// Replaces the state at `path` atomically and durably.
    pub fn save(&self, path: &Path) -> Result<(), WitnessError> {
        let text =
            serde_json::to_string_pretty(&self.to_file()).expect("the state always serializes");
        write_atomically(path, text.as_bytes())
            .map_err(|error| state_error(path, error.to_string()))
    }

    fn to_file(&self) -> StateFile {
        StateFile {
            version: STATE_VERSION,
            operator_public_key: self.operator_public_key.as_ref().map(hex32),
            last_cosigned: self.last_cosigned.map(|checkpoint| StoredCheckpoint {
                height: checkpoint.height,
                tree_size: checkpoint.tree_size,
                root: hex32(&checkpoint.root),
            }),
        }
    }

    fn from_file(stored: StateFile) -> Result<WitnessState, String> {
        if stored.version != STATE_VERSION {
            return Err(format!(
                "version {} (this witness writes {STATE_VERSION})",
                stored.version
            ));
        }
        let operator_public_key = match &stored.operator_public_key {
            Some(text) => Some(parse_hex32(text).ok_or("operator_public_key is not 32 bytes")?),
            None => None,
        };
        let last_cosigned = match stored.last_cosigned {
            Some(stored) => Some(AnchorCheckpoint {
                height: stored.height,
                tree_size: stored.tree_size,
                root: parse_hex32(&stored.root).ok_or("last_cosigned.root is not 32 bytes")?,
            }),
            None => None,
        };
        Ok(WitnessState {
            operator_public_key,
            last_cosigned,
        })
    }
}

fn state_error(path: &Path, reason: String) -> WitnessError {
    WitnessError::State {
        path: path.display().to_string(),
        reason,
    }
}

/// Writes `bytes` to a temporary file beside `path`, makes it durable, renames it over
/// `path` and makes the rename durable (the directory's fsync).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = temporary_path(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    sync_directory(path)
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(unix)]
fn sync_directory(path: &Path) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
