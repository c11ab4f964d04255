//! The witness's signing key: a secp256k1 private key in hex (with or without `0x`), in a
//! file only its owner may read. Its address is what the anchor registers as an authority;
//! whoever reads the file can co-sign in the witness's name, so a file open to the group or
//! to others is refused rather than used.

use std::io::Read;
use std::path::Path;

use chain::PrivateKeySigner;

use crate::WitnessError;

/// A hex key is 66 bytes with `0x`; a little room for whitespace, no more.
pub const KEY_FILE_BYTES_MAX: u64 = 1024;

/// Reads the key at `path`, refusing a file that others may read.
pub fn load_key(path: &Path) -> Result<PrivateKeySigner, WitnessError> {
    let bad = |reason: String| WitnessError::Key {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|error| bad(error.to_string()))?;
    check_private(&file).map_err(bad)?;
    let mut text = String::new();
    file.take(KEY_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|error| bad(error.to_string()))?;
    if text.len() as u64 > KEY_FILE_BYTES_MAX {
        return Err(bad(format!("larger than {KEY_FILE_BYTES_MAX} bytes")));
    }
    // The parse error never quotes the key.
    chain::signer(text.trim()).map_err(|_| bad("does not hold a hex secp256k1 key".into()))
}

#[cfg(unix)]
fn check_private(file: &std::fs::File) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|error| error.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "readable or writable by others (mode {:o}); run `chmod 600` on it",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &std::fs::File) -> Result<(), String> {
    Ok(())
}
