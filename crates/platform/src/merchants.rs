//! Merchants (MV-5): brands and stores with a fee plan in basis points, each with a merchant
//! payable account in the ledger (what the platform owes it for payments taken at its
//! tills), and the terminals (tills) that sign VAN requests with their own key.
//!
//! A terminal's secret is shown once, at creation, and kept sealed at rest under the data
//! key (like partner secrets). Merchants and terminals live in their tables
//! (`store::tables::merchants`); memory keeps a bounded cache of what the tills need on
//! every request ([`Merchants`]): terminals with their opened secrets
//! ([`TERMINALS_CACHED_MAX`]) and merchants ([`MERCHANTS_CACHED_MAX`]), each forgotten
//! before and after every change of it, so nothing read before a change is served after.

mod legacy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use store::tables::RowRef;
use store::tables::merchants::{self as tables, MerchantWrite};

use crate::chart;
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

pub(crate) use legacy::legacy_row;
pub use legacy::{KIND_MERCHANT, KIND_TERMINAL};
pub use store::tables::merchants::{MerchantRow as MerchantRecord, TerminalRow as TerminalRecord};

pub const MERCHANT_NAME_CHARS_MAX: usize = 100;
pub const BRAND_CHARS_MAX: usize = 100;
/// Fees are at most 100 % (10,000 basis points).
pub const FEE_BPS_MAX: u32 = 10_000;
/// Terminals per merchant.
pub const TERMINALS_PER_MERCHANT_MAX: usize = 1_000;
/// Random bytes of a terminal secret (shown as 64 hex digits).
pub const TERMINAL_SECRET_BYTES: usize = 32;
/// Terminals kept with their opened secrets (a hit saves a table read and an unseal per
/// VAN request). Past it the cache is emptied and refills as tills call.
pub const TERMINALS_CACHED_MAX: usize = 131_072;
/// Merchants kept for the tills' checks. Past it the cache is emptied and refills.
pub const MERCHANTS_CACHED_MAX: usize = 65_536;
/// Merchants listed per page.
pub const MERCHANTS_PAGE_MAX: usize = tables::MERCHANTS_PAGE_MAX;

/// Terminals and merchants read from the tables, and a generation every change bumps (so
/// nothing read before a change is kept after it).
#[derive(Default)]
struct Cache {
    terminals: HashMap<u128, TerminalKey>,
    /// Key id → terminal id, for the terminals kept.
    terminal_by_key: HashMap<String, u128>,
    merchants: HashMap<u128, MerchantRecord>,
    generation: u64,
}

/// The merchants context's working set: the cache, and one change of the catalogue at a
/// time (a terminal's count is checked before its insert).
#[derive(Default)]
pub struct Merchants {
    cache: Mutex<Cache>,
    changes: tokio::sync::Mutex<()>,
}

impl Merchants {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().expect("merchants cache lock")
    }

    /// Forgets every cached terminal and merchant (a change of the catalogue).
    fn forget(&self) {
        let mut cache = self.cache();
        cache.generation = cache.generation.wrapping_add(1);
        cache.terminals.clear();
        cache.terminal_by_key.clear();
        cache.merchants.clear();
    }

    fn keep_terminal(&self, terminal: &TerminalKey, key_id: &str, generation: u64) {
        let mut cache = self.cache();
        if cache.generation != generation {
            return;
        }
        if cache.terminals.len() >= TERMINALS_CACHED_MAX {
            cache.terminals.clear();
            cache.terminal_by_key.clear();
        }
        cache
            .terminal_by_key
            .insert(key_id.to_string(), terminal.terminal_id);
        cache
            .terminals
            .insert(terminal.terminal_id, terminal.clone());
    }

    fn keep_merchant(&self, merchant: &MerchantRecord, generation: u64) {
        let mut cache = self.cache();
        if cache.generation != generation {
            return;
        }
        if cache.merchants.len() >= MERCHANTS_CACHED_MAX {
            cache.merchants.clear();
        }
        cache.merchants.insert(merchant.id, merchant.clone());
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
        self.commit_catalogue(MerchantWrite::Merchant(record))
            .await?;
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
        let _change = self.merchants.changes.lock().await;
        let mut changed = self.stored_merchant(merchant_id).await?;
        changed.name = name.unwrap_or(changed.name);
        changed.fee_bps = change.fee_bps.unwrap_or(changed.fee_bps);
        changed.enabled = change.enabled.unwrap_or(changed.enabled);
        self.commit_catalogue(MerchantWrite::Merchant(changed.clone()))
            .await?;
        Ok(changed)
    }

    /// Commits a change of the catalogue with the cache forgotten before and after.
    async fn commit_catalogue(&self, write: MerchantWrite) -> Result<(), PlatformError> {
        self.merchants.forget();
        let committed = self.ledger.record(vec![Arc::new(write) as RowRef]).await;
        self.merchants.forget();
        Ok(committed?)
    }

    /// The merchant as committed.
    async fn stored_merchant(&self, merchant_id: u128) -> Result<MerchantRecord, PlatformError> {
        self.ledger
            .tables(move |read| tables::merchant(read, merchant_id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Merchant))
    }

    pub async fn merchant(&self, merchant_id: u128) -> Result<MerchantRecord, PlatformError> {
        self.stored_merchant(merchant_id).await
    }

    /// The merchant for the tills' checks: from the cache, or read and kept.
    pub(crate) async fn merchant_gate(
        &self,
        merchant_id: u128,
    ) -> Result<Option<MerchantRecord>, PlatformError> {
        let generation = {
            let cache = self.merchants.cache();
            if let Some(merchant) = cache.merchants.get(&merchant_id) {
                return Ok(Some(merchant.clone()));
            }
            cache.generation
        };
        let merchant = self
            .ledger
            .tables(move |read| tables::merchant(read, merchant_id))
            .await?;
        if let Some(merchant) = &merchant {
            self.merchants.keep_merchant(merchant, generation);
        }
        Ok(merchant)
    }

    /// Merchants by brand and name, after `after` (the last one of the page before), at most
    /// [`MERCHANTS_PAGE_MAX`].
    pub async fn merchants_page(
        &self,
        after: Option<&MerchantRecord>,
    ) -> Result<Vec<MerchantRecord>, PlatformError> {
        let after = after.map(|m| (m.brand.clone(), m.name.clone(), m.id));
        Ok(self
            .ledger
            .tables(move |read| tables::merchants_page(read, after, MERCHANTS_PAGE_MAX))
            .await?)
    }

    /// Every merchant, oldest first: the catalogue walked a page at a time (its size is
    /// the operator's merchants, not history).
    pub async fn merchants(&self) -> Result<Vec<MerchantRecord>, PlatformError> {
        let mut all: Vec<MerchantRecord> = Vec::new();
        loop {
            let page = self.merchants_page(all.last()).await?;
            let full = page.len() == MERCHANTS_PAGE_MAX;
            all.extend(page);
            if !full {
                break;
            }
        }
        all.sort_by_key(|merchant| (merchant.created_at_s, merchant.id));
        Ok(all)
    }

    /// The merchant's terminals, oldest first (without secrets).
    pub async fn terminals(&self, merchant_id: u128) -> Result<Vec<TerminalRecord>, PlatformError> {
        self.stored_merchant(merchant_id).await?;
        Ok(self
            .ledger
            .tables(move |read| tables::terminals_of(read, merchant_id, TERMINALS_PER_MERCHANT_MAX))
            .await?)
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
        let _change = self.merchants.changes.lock().await;
        self.stored_merchant(merchant_id).await?;
        let count = self
            .ledger
            .tables(move |read| tables::terminal_count_of(read, merchant_id))
            .await?;
        if count >= TERMINALS_PER_MERCHANT_MAX as u64 {
            let detail = format!("at most {TERMINALS_PER_MERCHANT_MAX} terminals per merchant");
            return Err(invalid("terminals", detail));
        }
        self.commit_catalogue(MerchantWrite::Terminal(record))
            .await?;
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
        let _change = self.merchants.changes.lock().await;
        let mut changed = self
            .ledger
            .tables(move |read| tables::terminal(read, terminal_id))
            .await?
            .filter(|terminal| terminal.merchant_id == merchant_id)
            .ok_or(PlatformError::NotFound(Entity::Terminal))?;
        changed.enabled = enabled;
        self.commit_catalogue(MerchantWrite::Terminal(changed.clone()))
            .await?;
        Ok(changed)
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
    pub async fn terminal_key(&self, key_id: &str) -> Result<Option<TerminalKey>, PlatformError> {
        let generation = {
            let cache = self.merchants.cache();
            let by_id = || key_id.parse::<u128>().ok();
            let id = cache.terminal_by_key.get(key_id).copied().or_else(by_id);
            if let Some(terminal) = id.and_then(|id| cache.terminals.get(&id)) {
                return Ok(Some(terminal.clone()));
            }
            cache.generation
        };
        let key = key_id.to_string();
        let row = self
            .ledger
            .tables(move |read| {
                if let Some(row) = tables::terminal_by_key(read, &key)? {
                    return Ok(Some(row));
                }
                match key.parse::<u128>() {
                    Ok(id) => tables::terminal(read, id),
                    Err(_) => Ok(None),
                }
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let terminal = self.opened_terminal(&row)?;
        self.merchants.keep_terminal(&terminal, key_id, generation);
        Ok(Some(terminal))
    }

    /// The terminal with this id (for the steps of a till's request).
    pub(crate) async fn terminal_by_id(
        &self,
        terminal_id: u128,
    ) -> Result<TerminalKey, PlatformError> {
        let generation = {
            let cache = self.merchants.cache();
            if let Some(terminal) = cache.terminals.get(&terminal_id) {
                return Ok(terminal.clone());
            }
            cache.generation
        };
        let row = self
            .ledger
            .tables(move |read| tables::terminal(read, terminal_id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Terminal))?;
        let terminal = self.opened_terminal(&row)?;
        self.merchants
            .keep_terminal(&terminal, &row.key_id, generation);
        Ok(terminal)
    }

    fn opened_terminal(&self, row: &TerminalRecord) -> Result<TerminalKey, PlatformError> {
        let secret = self
            .keys
            .open(&row.secret_sealed, &terminal_context(row.id))
            .map_err(|_| {
                tracing::error!(terminal = row.id, "a terminal secret does not open");
                PlatformError::Unavailable("a terminal secret does not open".into())
            })?;
        Ok(TerminalKey {
            terminal_id: row.id,
            merchant_id: row.merchant_id,
            secret,
            enabled: row.enabled,
        })
    }

    /// At start: a wrong data key is found before any till calls (the first terminal's
    /// secret must open).
    pub(crate) async fn check_terminal_secrets(&self) -> Result<(), PlatformError> {
        let first = self
            .ledger
            .tables(|read| tables::terminals_page(read, None, 1))
            .await?;
        for row in &first {
            self.opened_terminal(row)?;
        }
        Ok(())
    }
}
