//! Merchants (MV-5): brands and stores with a fee plan in basis points, each with a merchant
//! payable account in the ledger (what the platform owes it for payments taken at its
//! tills), and the terminals (tills) that sign VAN requests with their own key.
//!
//! A terminal's secret is shown once, at creation, and kept sealed at rest under the data
//! key (like partner secrets); the opened secrets live in memory only.

use crate::error::Entity;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::chart;
use crate::crypto::DataKeys;
use crate::domain::{self, id_key};
use crate::error::{PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

pub const KIND_MERCHANT: &str = "merchant";
pub const KIND_TERMINAL: &str = "terminal";

pub const MERCHANT_NAME_CHARS_MAX: usize = 100;
pub const BRAND_CHARS_MAX: usize = 100;
/// Fees are at most 100 % (10,000 basis points).
pub const FEE_BPS_MAX: u32 = 10_000;
/// Terminals per merchant.
pub const TERMINALS_PER_MERCHANT_MAX: usize = 1_000;
/// Random bytes of a terminal secret (shown as 64 hex digits).
pub const TERMINAL_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantRecord {
    /// Also the id of its merchant payable account.
    pub id: u128,
    pub name: String,
    pub brand: String,
    pub fee_bps: u32,
    pub enabled: bool,
    pub created_at_s: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalRecord {
    pub id: u128,
    pub merchant_id: u128,
    /// Sent as `X-Mileverse-Key`: 32 hex digits.
    pub key_id: String,
    #[serde(with = "hex::serde")]
    pub secret_sealed: Vec<u8>,
    pub enabled: bool,
    pub created_at_s: u64,
}

/// Merchants, terminals and the terminals' opened secrets.
#[derive(Default)]
pub struct MerchantState {
    pub merchants: HashMap<u128, MerchantRecord>,
    pub terminals: HashMap<u128, TerminalRecord>,
    pub terminal_by_key: HashMap<String, u128>,
    /// Opened secrets by terminal id; memory only.
    pub terminal_secrets: HashMap<u128, Vec<u8>>,
}

impl MerchantState {
    pub fn insert_merchant(&mut self, merchant: MerchantRecord) {
        self.merchants.insert(merchant.id, merchant);
    }

    pub fn insert_terminal(&mut self, terminal: TerminalRecord) {
        self.terminal_by_key
            .insert(terminal.key_id.clone(), terminal.id);
        self.terminals.insert(terminal.id, terminal);
    }

    /// Opens every terminal's sealed secret; the terminal id of the first that does not open.
    pub fn open_secrets(&mut self, keys: &DataKeys) -> Result<(), u128> {
        for terminal in self.terminals.values() {
            let secret = keys
                .open(&terminal.secret_sealed, &terminal_context(terminal.id))
                .map_err(|_| terminal.id)?;
            self.terminal_secrets.insert(terminal.id, secret);
        }
        Ok(())
    }
}

/// Associated data for a terminal's sealed secret.
fn terminal_context(terminal_id: u128) -> Vec<u8> {
    format!("terminal/{terminal_id}/secret").into_bytes()
}

#[derive(Clone, Debug, Default)]
pub struct NewMerchant {
    pub name: String,
    pub brand: String,
    pub fee_bps: u32,
}

/// A change to a merchant; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct MerchantChange {
    pub name: Option<String>,
    pub fee_bps: Option<u32>,
    pub enabled: Option<bool>,
}

/// A new terminal's credentials; the secret is never shown again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalGrant {
    pub terminal_id: u128,
    pub key_id: String,
    pub secret: String,
}

/// What the VAN routes need to check a terminal's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalKey {
    pub terminal_id: u128,
    pub merchant_id: u128,
    pub secret: Vec<u8>,
    pub enabled: bool,
}

fn check_text(field: &'static str, text: &str, chars_max: usize) -> Result<String, PlatformError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > chars_max || text.chars().any(char::is_control) {
        return Err(invalid(field, format!("1 to {chars_max} characters")));
    }
    Ok(text.to_string())
}

fn check_fee(fee_bps: u32) -> Result<(), PlatformError> {
    if fee_bps > FEE_BPS_MAX {
        return Err(invalid("fee_bps", format!("0 to {FEE_BPS_MAX}")));
    }
    Ok(())
}

impl Platform {
    /// Registers a merchant and its payable account; returns the merchant id.
    pub async fn create_merchant(&self, new: NewMerchant) -> Result<u128, PlatformError> {
        let name = check_text("name", &new.name, MERCHANT_NAME_CHARS_MAX)?;
        let brand = check_text("brand", &new.brand, BRAND_CHARS_MAX)?;
        check_fee(new.fee_bps)?;
        let merchant_id = chart::new_id();
        let results = self
            .ledger
            .create_accounts(vec![chart::merchant_payable(merchant_id)])
            .await?;
        if !results[0].is_ok() {
            return Err(PlatformError::Unavailable(format!(
                "merchant payable account not created: {}",
                results[0].as_str()
            )));
        }
        let record = MerchantRecord {
            id: merchant_id,
            name,
            brand,
            fee_bps: new.fee_bps,
            enabled: true,
            created_at_s: now_s(),
        };
        let sequence = {
            let mut state = self.lock();
            let write = domain::put(KIND_MERCHANT, &id_key(merchant_id), &record);
            let sequence = self.queue(vec![write])?;
            state.merchants.insert_merchant(record);
            sequence
        };
        self.durable(sequence).await?;
        Ok(merchant_id)
    }

    pub async fn change_merchant(
        &self,
        merchant_id: u128,
        change: MerchantChange,
    ) -> Result<MerchantRecord, PlatformError> {
        let name = change
            .name
            .as_deref()
            .map(|name| check_text("name", name, MERCHANT_NAME_CHARS_MAX))
            .transpose()?;
        if let Some(fee_bps) = change.fee_bps {
            check_fee(fee_bps)?;
        }
        let (sequence, record) = {
            let mut state = self.lock();
            let merchant = state
                .merchants
                .merchants
                .get_mut(&merchant_id)
                .ok_or(PlatformError::NotFound(Entity::Merchant))?;
            let mut changed = merchant.clone();
            changed.name = name.unwrap_or(changed.name);
            changed.fee_bps = change.fee_bps.unwrap_or(changed.fee_bps);
            changed.enabled = change.enabled.unwrap_or(changed.enabled);
            let write = domain::put(KIND_MERCHANT, &id_key(merchant_id), &changed);
            let sequence = self.queue(vec![write])?;
            *merchant = changed.clone();
            (sequence, changed)
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    pub async fn merchant(&self, merchant_id: u128) -> Result<MerchantRecord, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        state
            .merchants
            .merchants
            .get(&merchant_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Merchant))
    }

    /// Every merchant, oldest first.
    pub async fn merchants(&self) -> Result<Vec<MerchantRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let mut list: Vec<MerchantRecord> = state.merchants.merchants.values().cloned().collect();
        list.sort_by_key(|merchant| (merchant.created_at_s, merchant.id));
        Ok(list)
    }

    /// The merchant's terminals, oldest first (without secrets).
    pub async fn terminals(&self, merchant_id: u128) -> Result<Vec<TerminalRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        if !state.merchants.merchants.contains_key(&merchant_id) {
            return Err(PlatformError::NotFound(Entity::Merchant));
        }
        let mut list: Vec<TerminalRecord> = state
            .merchants
            .terminals
            .values()
            .filter(|terminal| terminal.merchant_id == merchant_id)
            .cloned()
            .collect();
        list.sort_by_key(|terminal| (terminal.created_at_s, terminal.id));
        Ok(list)
    }

    /// Creates a terminal with a fresh key id and secret.
    pub async fn create_terminal(&self, merchant_id: u128) -> Result<TerminalGrant, PlatformError> {
        let terminal_id = chart::new_id();
        let key_id = hex::encode(rand::random::<[u8; 16]>());
        let secret = hex::encode(rand::random::<[u8; TERMINAL_SECRET_BYTES]>());
        let record = TerminalRecord {
            id: terminal_id,
            merchant_id,
            key_id: key_id.clone(),
            secret_sealed: self
                .keys
                .seal(secret.as_bytes(), &terminal_context(terminal_id)),
            enabled: true,
            created_at_s: now_s(),
        };
        let sequence = {
            let mut state = self.lock();
            if !state.merchants.merchants.contains_key(&merchant_id) {
                return Err(PlatformError::NotFound(Entity::Merchant));
            }
            let count = state
                .merchants
                .terminals
                .values()
                .filter(|terminal| terminal.merchant_id == merchant_id)
                .count();
            if count >= TERMINALS_PER_MERCHANT_MAX {
                let detail = format!("at most {TERMINALS_PER_MERCHANT_MAX} terminals per merchant");
                return Err(invalid("terminals", detail));
            }
            let write = domain::put(KIND_TERMINAL, &id_key(terminal_id), &record);
            let sequence = self.queue(vec![write])?;
            state
                .merchants
                .terminal_secrets
                .insert(terminal_id, secret.clone().into_bytes());
            state.merchants.insert_terminal(record);
            sequence
        };
        self.durable(sequence).await?;
        Ok(TerminalGrant {
            terminal_id,
            key_id,
            secret,
        })
    }

    /// Enables or disables a terminal of `merchant_id`.
    pub async fn set_terminal_enabled(
        &self,
        merchant_id: u128,
        terminal_id: u128,
        enabled: bool,
    ) -> Result<TerminalRecord, PlatformError> {
        let (sequence, record) = {
            let mut state = self.lock();
            let terminal = state
                .merchants
                .terminals
                .get_mut(&terminal_id)
                .filter(|terminal| terminal.merchant_id == merchant_id)
                .ok_or(PlatformError::NotFound(Entity::Terminal))?;
            let mut changed = terminal.clone();
            changed.enabled = enabled;
            let write = domain::put(KIND_TERMINAL, &id_key(terminal_id), &changed);
            let sequence = self.queue(vec![write])?;
            *terminal = changed.clone();
            (sequence, changed)
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    /// What the platform owes the merchant now: its payable account's balance.
    pub async fn merchant_payable(&self, merchant_id: u128) -> Result<u64, PlatformError> {
        let accounts = self
            .ledger
            .lookup_accounts(vec![ledger::types::AccountId(merchant_id)])
            .await?;
        let account = accounts
            .first()
            .ok_or(PlatformError::NotFound(Entity::Merchant))?;
        let balance = account
            .credits_posted
            .saturating_sub(account.debits_posted)
            .saturating_sub(account.debits_pending);
        Ok(u64::try_from(balance).unwrap_or(u64::MAX))
    }

    /// The terminal behind a VAN key id, with its secret (for the signature check). The
    /// terminal id itself is accepted as its key id too, so a till configured with only
    /// its terminal id and secret (`mileverse pos --terminal ID --secret S`) can sign.
    pub fn terminal_key(&self, key_id: &str) -> Option<TerminalKey> {
        let state = self.lock();
        let by_terminal_id = || {
            let id = key_id.parse::<u128>().ok()?;
            state.merchants.terminals.contains_key(&id).then_some(id)
        };
        let terminal_id = state
            .merchants
            .terminal_by_key
            .get(key_id)
            .copied()
            .or_else(by_terminal_id)?;
        let terminal = state.merchants.terminals.get(&terminal_id)?;
        Some(TerminalKey {
            terminal_id,
            merchant_id: terminal.merchant_id,
            secret: state.merchants.terminal_secrets.get(&terminal_id)?.clone(),
            enabled: terminal.enabled,
        })
    }
}
