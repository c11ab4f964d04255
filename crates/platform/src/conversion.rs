//! MVP → MVC conversion (MV-9): a member converts MVP into MVC sent to an Ethereum address
//! they proved is theirs, at the operator's rate and within limits (docs/chain.md).
//!
//! The saga, exactly once whatever fails:
//! 1. The conversion record is durable (`requested`) before anything moves.
//! 2. The MVP is held: a pending ledger transfer member → bridge whose id is the
//!    conversion id (a retry finds it instead of holding twice).
//! 3. The bridge contract releases the MVC, at most once per conversion id (it refuses a
//!    second release). Confirmed with the configured confirmations, the hold is posted
//!    (`completed`).
//! 4. A release the bridge refuses is cancelled there (a tombstone: no release of that id
//!    can ever happen, even from a transaction still in a mempool), then the hold is voided
//!    (`failed`) and the MVP is back.
//!
//! An unknown outcome (node down, receipt lost, crash) leaves the conversion `requested`;
//! the resolver asks the bridge what happened and carries on from there. The ids of the
//! post and the void derive from the conversion, so they too happen once.

use crate::error::Entity;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::chart::{self, transfer_code};
use crate::domain::{self, id_key};
use crate::error::{PlatformError, invalid};
use crate::exchange::Retry;
use ports::chain::{ChainError, ChainTx, EthAddress, ReleaseState};
use ports::time::{kst_day, now_ms, now_s};

pub const KIND_WALLET_ADDRESS: &str = "wallet_address";
pub const KIND_CONVERSION: &str = "conversion";
pub const KIND_CONVERSION_SETTINGS: &str = "conversion_settings";

/// Wei per MVC (MVC has 18 decimals).
pub const WEI_PER_MVC: u128 = 1_000_000_000_000_000_000;
/// Largest conversion accepted, in MVP (well inside the bridge's and u128's range).
pub const CONVERSION_MVP_MAX: u64 = 1_000_000_000_000;
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;
/// Conversions the resolver drives per sweep.
pub const CONVERSION_SWEEP_MAX: usize = 64;

/// The operator's conversion terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionSettings {
    /// MVP given for one MVC. The default, 10, is the seed's parity: 30,000,000,000 MVP
    /// against the 3,000,000,000 MVC cap.
    pub mvp_per_mvc: u64,
    /// Smallest conversion, in MVP.
    pub minimum_mvp: u64,
    /// Most MVP one member converts per day (KST).
    pub daily_limit_mvp: u64,
    pub enabled: bool,
}

impl Default for ConversionSettings {
    fn default() -> Self {
        ConversionSettings {
            mvp_per_mvc: 10,
            minimum_mvp: 10,
            daily_limit_mvp: 1_000_000,
            enabled: true,
        }
    }
}

impl ConversionSettings {
    /// The MVC (in wei) `mvp` buys: mvp × 10^18 / mvp_per_mvc, rounded down.
    pub fn mvc_wei(&self, mvp: u64) -> u128 {
        u128::from(mvp) * WEI_PER_MVC / u128::from(self.mvp_per_mvc.max(1))
    }
}

/// A member's Ethereum address, proved by an EIP-191 signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletAddressRecord {
    pub member_id: u128,
    #[serde(with = "hex::serde")]
    pub address: EthAddress,
    pub proved_at_s: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionStatus {
    /// Durable; the MVP may be held and the MVC on its way.
    Requested,
    /// The MVC was released and confirmed; the MVP hold is posted.
    Completed,
    /// Nothing was released, and never will be; the hold (if any) is voided.
    Failed,
}

impl ConversionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversionStatus::Requested => "requested",
            ConversionStatus::Completed => "completed",
            ConversionStatus::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionRecord {
    pub id: u128,
    pub member_id: u128,
    #[serde(with = "hex::serde")]
    pub address: EthAddress,
    pub mvp: u64,
    pub mvc_wei: u128,
    pub mvp_per_mvc: u64,
    pub status: ConversionStatus,
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
    pub finished_at_s: Option<u64>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block_number: Option<u64>,
}

impl ConversionRecord {
    /// The id the bridge knows the conversion by: the conversion id, left-padded.
    pub fn bridge_id(&self) -> [u8; 32] {
        let mut id = [0u8; 32];
        id[16..].copy_from_slice(&self.id.to_be_bytes());
        id
    }
}

/// The conversion part of the platform's state.
#[derive(Default)]
pub struct ConversionState {
    pub settings: ConversionSettings,
    pub addresses: HashMap<u128, WalletAddressRecord>,
    pub conversions: HashMap<u128, ConversionRecord>,
    pub by_member: HashMap<u128, Vec<u128>>,
    pub by_key: HashMap<(u128, String), u128>,
    /// Conversions still `requested`, with their next attempt (memory only).
    pub open: HashMap<u128, Retry>,
    /// Conversions a task drives right now.
    pub driving: BTreeSet<u128>,
}

impl ConversionState {
    pub fn insert(&mut self, record: ConversionRecord) {
        if record.status == ConversionStatus::Requested {
            self.open.insert(record.id, Retry::default());
        }
        if !self.conversions.contains_key(&record.id) {
            self.by_member
                .entry(record.member_id)
                .or_default()
                .push(record.id);
            if let Some(key) = &record.idempotency_key {
                self.by_key
                    .insert((record.member_id, key.clone()), record.id);
            }
        }
        self.conversions.insert(record.id, record);
    }

    /// MVP the member converted (or is converting) on the KST day of `now_s`.
    fn converted_on_day(&self, member_id: u128, now_s: u64) -> u64 {
        let day = kst_day(now_s);
        self.by_member
            .get(&member_id)
            .into_iter()
            .flatten()
            .map(|id| &self.conversions[id])
            .filter(|c| c.status != ConversionStatus::Failed && kst_day(c.created_at_s) == day)
            .map(|c| c.mvp)
            .sum()
    }
}

/// The message a member signs (EIP-191) to prove `address` is theirs.
pub fn address_proof_message(member_id: u128, address: &EthAddress) -> String {
    format!(
        "Mileverse: I own {} and link it to member {member_id}",
        crate::anchoring::hex_address(address)
    )
}

/// The id of the post (`step` 1) or the void (`step` 2) of a conversion's hold.
pub fn conversion_transfer_id(conversion_id: u128, step: u8) -> u128 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/conversion/");
    hasher.update(conversion_id.to_be_bytes());
    hasher.update([step]);
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

/// Where a release landed on chain (the hash only when this platform saw the receipt).
#[derive(Clone, Copy, Debug, Default)]
struct ChainOutcome {
    tx_hash: Option<[u8; 32]>,
    block_number: Option<u64>,
}

/// A conversion request from a member.
#[derive(Clone, Debug)]
pub struct ConversionRequest {
    pub member_id: u128,
    pub mvp: u64,
    pub idempotency_key: Option<String>,
}

/// Releases a conversion's driving claim however the drive ends.
struct ConversionClaim<'a> {
    platform: &'a Platform,
    id: u128,
}

impl Drop for ConversionClaim<'_> {
    fn drop(&mut self) {
        self.platform.lock().conversion.driving.remove(&self.id);
    }
}

impl Platform {
    /// Registers (or replaces) the member's Ethereum address, proved by an EIP-191
    /// signature over [`address_proof_message`].
    pub async fn register_address(
        &self,
        member_id: u128,
        address: EthAddress,
        signature: [u8; 65],
    ) -> Result<WalletAddressRecord, PlatformError> {
        let message = address_proof_message(member_id, &address);
        let signer = self
            .chain()?
            .recover_message_signer(message.as_bytes(), &signature)
            .map_err(|error| PlatformError::BadSignature(error.to_string()))?;
        if signer != address {
            return Err(PlatformError::BadSignature(format!(
                "signed by {}, not by the address given",
                crate::anchoring::hex_address(&signer)
            )));
        }
        let record = WalletAddressRecord {
            member_id,
            address,
            proved_at_s: now_s(),
        };
        let sequence = {
            let mut state = self.lock();
            let write = domain::put(KIND_WALLET_ADDRESS, &id_key(member_id), &record);
            let sequence = self.queue(vec![write])?;
            state.conversion.addresses.insert(member_id, record.clone());
            sequence
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    pub async fn wallet_address(
        &self,
        member_id: u128,
    ) -> Result<Option<WalletAddressRecord>, PlatformError> {
        self.settle_reads().await?;
        Ok(self.lock().conversion.addresses.get(&member_id).cloned())
    }

    pub fn conversion_settings(&self) -> ConversionSettings {
        self.lock().conversion.settings
    }

    pub async fn set_conversion_settings(
        &self,
        settings: ConversionSettings,
    ) -> Result<ConversionSettings, PlatformError> {
        if settings.mvp_per_mvc == 0 || settings.minimum_mvp == 0 {
            return Err(invalid(
                "mvp_per_mvc",
                "mvp_per_mvc and minimum_mvp must be >= 1",
            ));
        }
        if settings.minimum_mvp > CONVERSION_MVP_MAX {
            return Err(invalid(
                "minimum_mvp",
                format!("at most {CONVERSION_MVP_MAX}"),
            ));
        }
        let sequence = {
            let mut state = self.lock();
            let write = domain::put(KIND_CONVERSION_SETTINGS, b"settings", &settings);
            let sequence = self.queue(vec![write])?;
            state.conversion.settings = settings;
            sequence
        };
        self.durable(sequence).await?;
        Ok(settings)
    }

    /// Starts (or, for a known `Idempotency-Key`, finds) a conversion and drives it as far
    /// as it goes now; a `requested` answer means the resolver finishes it.
    pub async fn convert(
        &self,
        request: ConversionRequest,
    ) -> Result<ConversionRecord, PlatformError> {
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX)
        {
            return Err(invalid("Idempotency-Key", "1 to 128 bytes"));
        }
        if request.mvp == 0 || request.mvp > CONVERSION_MVP_MAX {
            return Err(invalid("mvp", format!("1 to {CONVERSION_MVP_MAX}")));
        }
        self.chain()?;
        let (record, created, sequence) = self.begin_conversion(&request)?;
        let claim = created.then(|| ConversionClaim {
            platform: self,
            id: record.id,
        });
        self.durable(sequence).await?;
        if claim.is_some() {
            self.drive_conversion(record.id).await;
        }
        drop(claim);
        let (record, sequence) = {
            let state = self.lock();
            (
                state.conversion.conversions[&record.id].clone(),
                self.writer.enqueued(),
            )
        };
        self.durable(sequence).await?;
        match (&record.status, record.failure.as_deref()) {
            (ConversionStatus::Failed, Some("insufficient_balance")) => {
                Err(PlatformError::InsufficientBalance)
            }
            _ => Ok(record),
        }
    }

    fn begin_conversion(
        &self,
        request: &ConversionRequest,
    ) -> Result<(ConversionRecord, bool, u64), PlatformError> {
        let mut state = self.lock();
        let member_id = request.member_id;
        if let Some(key) = &request.idempotency_key
            && let Some(id) = state.conversion.by_key.get(&(member_id, key.clone()))
        {
            let existing = state.conversion.conversions[id].clone();
            if existing.mvp != request.mvp {
                return Err(PlatformError::IdempotencyConflict);
            }
            return Ok((existing, false, self.writer.enqueued()));
        }
        if self.members.is_withdrawing(member_id) {
            return Err(PlatformError::ExchangeInProgress);
        }
        let conversion = &state.conversion;
        let settings = conversion.settings;
        if !settings.enabled {
            return Err(PlatformError::ConversionDisabled);
        }
        let address = conversion
            .addresses
            .get(&member_id)
            .ok_or(PlatformError::NoWalletAddress)?
            .address;
        if request.mvp < settings.minimum_mvp {
            let detail = format!("at least {} MVP", settings.minimum_mvp);
            return Err(invalid("mvp", detail));
        }
        let now = now_s();
        let used = conversion.converted_on_day(member_id, now);
        if used + request.mvp > settings.daily_limit_mvp {
            return Err(PlatformError::LimitExceeded {
                period: "daily",
                limit: settings.daily_limit_mvp,
                used,
            });
        }
        let record = ConversionRecord {
            id: chart::new_id(),
            member_id,
            address,
            mvp: request.mvp,
            mvc_wei: settings.mvc_wei(request.mvp),
            mvp_per_mvc: settings.mvp_per_mvc,
            status: ConversionStatus::Requested,
            failure: None,
            idempotency_key: request.idempotency_key.clone(),
            created_at_s: now,
            finished_at_s: None,
            tx_hash: None,
            block_number: None,
        };
        let write = domain::put(KIND_CONVERSION, &id_key(record.id), &record);
        let sequence = self.queue(vec![write])?;
        state.conversion.insert(record.clone());
        state.conversion.driving.insert(record.id);
        Ok((record, true, sequence))
    }

    /// A member's conversion.
    pub async fn conversion(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<ConversionRecord, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        state
            .conversion
            .conversions
            .get(&id)
            .filter(|c| c.member_id == member_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Conversion))
    }

    /// Every conversion, newest first, at most `limit` (operators' list).
    pub async fn conversions(&self, limit: usize) -> Result<Vec<ConversionRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let mut all: Vec<_> = state.conversion.conversions.values().cloned().collect();
        all.sort_by_key(|c| std::cmp::Reverse((c.created_at_s, c.id)));
        all.truncate(limit);
        Ok(all)
    }

    /// Drives one conversion as far as it goes; the caller holds its claim. Whatever is
    /// unknown is left for the resolver.
    async fn drive_conversion(&self, id: u128) {
        let Some(record) = self.lock().conversion.conversions.get(&id).cloned() else {
            return;
        };
        if record.status != ConversionStatus::Requested {
            return;
        }
        if let Err(reason) = self.conversion_step(&record).await {
            tracing::warn!(conversion = %id, %reason, "conversion not finished yet; will retry");
            self.schedule_conversion_retry(id);
        }
    }

    async fn conversion_step(&self, record: &ConversionRecord) -> Result<(), String> {
        if !self.hold(record).await? {
            let reason = Some("insufficient_balance".to_string());
            let outcome = ChainOutcome::default();
            return self
                .finish_conversion(record.id, ConversionStatus::Failed, reason, outcome)
                .await;
        }
        let chain = self.chain().map_err(|error| error.to_string())?.clone();
        let bridge_id = record.bridge_id();
        let state = chain
            .release_state(bridge_id)
            .await
            .map_err(|e| e.to_string())?;
        let released = match state {
            ReleaseState::Released { block_number, .. } => Ok(Some(block_number)),
            ReleaseState::Cancelled => Ok(None),
            ReleaseState::Unknown => {
                match chain
                    .release(bridge_id, record.address, record.mvc_wei)
                    .await
                {
                    Ok(tx) => return self.complete_conversion(record, Some(tx), None).await,
                    Err(ChainError::Rejected(reason)) => {
                        self.cancel_at_bridge(record, &reason).await
                    }
                    Err(error) => Err(error.to_string()),
                }
            }
        }?;
        match released {
            Some(block_number) => {
                self.complete_conversion(record, None, Some(block_number))
                    .await
            }
            None => {
                self.fail_conversion(record, "release_cancelled".into())
                    .await
            }
        }
    }

    /// After the bridge refused a release: cancel the id there so no release can follow,
    /// and report whether it was released after all (`Some(block)`) or is dead (`None`).
    async fn cancel_at_bridge(
        &self,
        record: &ConversionRecord,
        reason: &str,
    ) -> Result<Option<u64>, String> {
        tracing::warn!(conversion = %record.id, %reason, "the bridge refused the release; cancelling");
        let chain = self.chain().map_err(|error| error.to_string())?.clone();
        match chain.cancel_release(record.bridge_id()).await {
            Ok(()) => Ok(None),
            // Refused: it was released (by an earlier attempt); find where.
            Err(ChainError::Rejected(_)) => match chain.release_state(record.bridge_id()).await {
                Ok(ReleaseState::Released { block_number, .. }) => Ok(Some(block_number)),
                Ok(other) => Err(format!(
                    "bridge refused both release and cancel ({other:?})"
                )),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    /// Holds the MVP (pending transfer member → bridge, id = conversion id). `false` when
    /// the member does not have it.
    async fn hold(&self, record: &ConversionRecord) -> Result<bool, String> {
        let transfer = Transfer {
            id: TransferId(record.id),
            debit_account_id: AccountId(record.member_id),
            credit_account_id: chart::BRIDGE_ACCOUNT,
            amount: u128::from(record.mvp),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CONVERSION,
            flags: TransferFlags::PENDING,
            ..Transfer::default()
        };
        match self.transfer_once(transfer).await? {
            CreateTransferResult::Ok | CreateTransferResult::Exists => Ok(true),
            // `id_already_failed`: a retry of a hold the ledger refused for the balance.
            CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
                Ok(false)
            }
            other => Err(format!("the hold was refused: {}", other.as_str())),
        }
    }

    /// Posts (`post`) or voids the hold.
    async fn resolve_hold(&self, record: &ConversionRecord, post: bool) -> Result<(), String> {
        let (step, flags) = if post {
            (1, TransferFlags::POST_PENDING_TRANSFER)
        } else {
            (2, TransferFlags::VOID_PENDING_TRANSFER)
        };
        let transfer = Transfer {
            id: TransferId(conversion_transfer_id(record.id, step)),
            debit_account_id: AccountId(record.member_id),
            credit_account_id: chart::BRIDGE_ACCOUNT,
            amount: u128::from(record.mvp),
            pending_id: TransferId(record.id),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CONVERSION,
            flags,
            ..Transfer::default()
        };
        use CreateTransferResult as R;
        match self.transfer_once(transfer).await? {
            R::Ok | R::Exists => Ok(()),
            R::PendingTransferAlreadyPosted if post => Ok(()),
            R::PendingTransferAlreadyVoided if !post => Ok(()),
            // Nothing was held (the hold was refused): nothing to void.
            R::PendingTransferNotFound if !post => Ok(()),
            other => Err(format!("resolving the hold failed: {}", other.as_str())),
        }
    }

    async fn transfer_once(&self, transfer: Transfer) -> Result<CreateTransferResult, String> {
        let results = self
            .ledger
            .create_transfers(vec![transfer])
            .await
            .map_err(|error| error.to_string())?;
        Ok(results[0])
    }

    async fn complete_conversion(
        &self,
        record: &ConversionRecord,
        tx: Option<ChainTx>,
        block_number: Option<u64>,
    ) -> Result<(), String> {
        self.resolve_hold(record, true).await?;
        let outcome = ChainOutcome {
            tx_hash: tx.map(|tx| tx.tx_hash),
            block_number: tx.map(|tx| tx.block_number).or(block_number),
        };
        self.finish_conversion(record.id, ConversionStatus::Completed, None, outcome)
            .await
    }

    async fn fail_conversion(
        &self,
        record: &ConversionRecord,
        reason: String,
    ) -> Result<(), String> {
        self.resolve_hold(record, false).await?;
        let outcome = ChainOutcome::default();
        self.finish_conversion(record.id, ConversionStatus::Failed, Some(reason), outcome)
            .await
    }

    async fn finish_conversion(
        &self,
        id: u128,
        status: ConversionStatus,
        failure: Option<String>,
        outcome: ChainOutcome,
    ) -> Result<(), String> {
        let sequence = {
            let mut state = self.lock();
            let conversion = &mut state.conversion;
            let Some(record) = conversion.conversions.get_mut(&id) else {
                return Ok(());
            };
            if record.status != ConversionStatus::Requested {
                return Ok(());
            }
            record.status = status;
            record.failure = failure;
            record.finished_at_s = Some(now_s());
            record.tx_hash = outcome
                .tx_hash
                .map(|hash| format!("0x{}", hex::encode(hash)));
            record.block_number = outcome.block_number;
            let write = domain::put(KIND_CONVERSION, &id_key(id), &*record);
            conversion.open.remove(&id);
            self.queue(vec![write]).map_err(|error| error.to_string())?
        };
        self.durable(sequence)
            .await
            .map_err(|error| error.to_string())
    }

    fn schedule_conversion_retry(&self, id: u128) {
        let mut state = self.lock();
        if let Some(retry) = state.conversion.open.get_mut(&id) {
            retry.attempts = retry.attempts.saturating_add(1);
            let shift = retry.attempts.min(16);
            let delay = self
                .config
                .resolver_backoff_base_ms
                .saturating_mul(1 << shift)
                .min(self.config.resolver_backoff_max_ms);
            retry.next_attempt_ms = now_ms() + delay;
        }
    }

    /// Claims up to `max` open conversions that are due.
    fn due_conversions(&self, max: usize) -> Vec<u128> {
        let now = now_ms();
        let mut state = self.lock();
        let conversion = &mut state.conversion;
        let due: Vec<u128> = conversion
            .open
            .iter()
            .filter(|(id, retry)| retry.next_attempt_ms <= now && !conversion.driving.contains(id))
            .map(|(id, _)| *id)
            .take(max)
            .collect();
        conversion.driving.extend(due.iter().copied());
        due
    }
}

/// Starts the conversion resolver (when a chain is configured): it finishes conversions
/// left `requested` by an unknown outcome, a crash or a node that was down.
pub(crate) fn spawn_conversion_resolver(platform: &Arc<Platform>) {
    if platform.chain.is_none() {
        return;
    }
    let weak = Arc::downgrade(platform);
    let interval = Duration::from_millis(platform.config.resolver_interval_ms.max(1));
    tokio::spawn(async move {
        loop {
            let Some(platform) = weak.upgrade() else {
                return;
            };
            for id in platform.due_conversions(CONVERSION_SWEEP_MAX) {
                let claim = ConversionClaim {
                    platform: &platform,
                    id,
                };
                platform.drive_conversion(id).await;
                drop(claim);
            }
            drop(platform);
            tokio::time::sleep(interval).await;
        }
    });
}
