//! VANs as parties (issue 13 item 6; seed 000 §6-5: POS → VAN → platform). A VAN holds one
//! signing key and signs VAN requests for the terminals of the merchants it serves, beside
//! the terminals' own keys: a merchant's tills reach the platform through its VAN without a
//! key per till at the VAN. A VAN-signed request names its terminal
//! (`X-Mileverse-Terminal`); the platform answers it as that terminal's, only if the VAN
//! serves the terminal's merchant at that moment.
//!
//! State: `vans` and `van_merchants` (`store::tables::vans`), read per request (a VAN
//! request is one indexed read more than a terminal's); the secret is sealed with the data
//! key like a terminal's and opened in memory only.

use std::sync::Arc;

use store::tables::RowRef;
use store::tables::vans::{self as tables, VanRow, VanWrite};

use crate::chart;
use crate::error::{Entity, PlatformError, invalid};
use crate::merchants::TerminalKey;
use crate::service::Platform;
use ports::time::now_s;

/// Random bytes of a VAN's secret (shown once, as hex).
pub const VAN_SECRET_BYTES: usize = 32;
pub const VAN_NAME_CHARS_MAX: usize = 100;
/// VANs registered at most (Korea has about a dozen).
pub const VANS_MAX: u64 = 1000;

/// A new VAN's credential: the secret is answered this once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VanGrant {
    pub van_id: u128,
    pub key_id: String,
    pub secret: String,
}

/// What the VAN routes need to check a VAN's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VanKey {
    pub van_id: u128,
    pub secret: Vec<u8>,
    pub enabled: bool,
}

/// Why a VAN may not sign for a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VanError {
    #[error("the VAN does not serve this terminal's merchant")]
    NotServed,
    #[error("the VAN is disabled")]
    Disabled,
}

fn van_context(van_id: u128) -> Vec<u8> {
    format!("van/{van_id}/secret").into_bytes()
}

impl Platform {
    /// Registers a VAN; its secret is answered once.
    pub async fn create_van(&self, name: &str) -> Result<VanGrant, PlatformError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > VAN_NAME_CHARS_MAX {
            let detail = format!("1 to {VAN_NAME_CHARS_MAX} characters");
            return Err(invalid("name", detail));
        }
        let count = self.ledger.tables(tables::van_count).await?;
        if count >= VANS_MAX {
            return Err(invalid("vans", format!("at most {VANS_MAX} VANs")));
        }
        let van_id = chart::new_id();
        let key_id = format!("van-{}", hex::encode(rand::random::<[u8; 16]>()));
        let secret = hex::encode(rand::random::<[u8; VAN_SECRET_BYTES]>());
        let row = VanRow {
            id: van_id,
            name: name.to_string(),
            key_id: key_id.clone(),
            secret_sealed: self.keys.seal(secret.as_bytes(), &van_context(van_id)),
            enabled: true,
            created_at_s: now_s(),
        };
        self.commit_vans(VanWrite::Van(row)).await?;
        Ok(VanGrant {
            van_id,
            key_id,
            secret,
        })
    }

    /// The merchant is served by `van_id` from now on, or by no VAN (`None`).
    pub async fn serve_merchant(
        &self,
        merchant_id: u128,
        van_id: Option<u128>,
    ) -> Result<(), PlatformError> {
        self.merchant(merchant_id).await?;
        let write = match van_id {
            Some(van_id) => {
                let found = self
                    .ledger
                    .tables(move |read| tables::van(read, van_id))
                    .await?;
                found.ok_or(PlatformError::NotFound(Entity::Van))?;
                VanWrite::Serve {
                    merchant_id,
                    van_id,
                }
            }
            None => VanWrite::Unserve { merchant_id },
        };
        self.commit_vans(write).await
    }

    /// The VAN whose key this is, with its secret opened.
    pub async fn van_key(&self, key_id: &str) -> Result<Option<VanKey>, PlatformError> {
        let key = key_id.to_string();
        let row = self
            .ledger
            .tables(move |read| tables::van_by_key(read, &key))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let secret = self
            .keys
            .open(&row.secret_sealed, &van_context(row.id))
            .map_err(|_| PlatformError::Unavailable("a VAN secret does not open".into()))?;
        Ok(Some(VanKey {
            van_id: row.id,
            secret,
            enabled: row.enabled,
        }))
    }

    /// The terminal a VAN signs for, if the VAN serves its merchant now.
    pub async fn van_terminal(
        &self,
        van: &VanKey,
        terminal_id: u128,
    ) -> Result<TerminalKey, PlatformError> {
        if !van.enabled {
            return Err(PlatformError::Van(VanError::Disabled));
        }
        let terminal = self
            .terminal_key(&terminal_id.to_string())
            .await?
            .ok_or(PlatformError::NotFound(Entity::Terminal))?;
        let merchant_id = terminal.merchant_id;
        let serving = self
            .ledger
            .tables(move |read| tables::van_of_merchant(read, merchant_id))
            .await?;
        if serving != Some(van.van_id) {
            return Err(PlatformError::Van(VanError::NotServed));
        }
        Ok(terminal)
    }

    async fn commit_vans(&self, write: VanWrite) -> Result<(), PlatformError> {
        Ok(self.ledger.record(vec![Arc::new(write) as RowRef]).await?)
    }
}
