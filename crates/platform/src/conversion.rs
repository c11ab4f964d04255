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
//!
//! State: addresses, conversions and the settings live in their tables
//! (`store::tables::conversions`); every read is a query. Memory keeps the working set
//! ([`Conversions`]): the conversions still `requested` with their next attempt (at most
//! [`CONVERSIONS_OPEN_MAX`], loaded at start through `conversions_open`), those a task
//! drives now, one request per member at a time (its claim holds until the row is durable,
//! so the next request's daily sum sees it), and the settings as last written.

pub mod error;
pub use error::ConversionError;
mod legacy;
mod saga;

use crate::anchoring::error::AnchoringError;
use crate::exchange::error::ExchangeError;
use crate::members::error::MemberError;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use store::tables::RowRef;
use store::tables::conversions::{self as tables, ConversionWrite, SettingsRow};

use crate::Platform;
use crate::chart;
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::exchange::Retry;
use crate::idempotency::{Replayable, Scope};
use ports::chain::EthAddress;
use ports::time::{kst_day_start_s, now_s};

pub(crate) use legacy::legacy_row;
pub use legacy::{KIND_CONVERSION, KIND_CONVERSION_SETTINGS, KIND_WALLET_ADDRESS};
pub(crate) use saga::spawn_conversion_resolver;
pub use store::tables::conversions::{
    ConversionRow as ConversionRecord, ConversionStatus, WalletAddressRow as WalletAddressRecord,
};

/// Wei per MVC (MVC has 18 decimals).
pub const WEI_PER_MVC: u128 = 1_000_000_000_000_000_000;
/// Largest conversion accepted, in MVP (well inside the bridge's and u128's range).
pub const CONVERSION_MVP_MAX: u64 = 1_000_000_000_000;
/// Largest price of one MVC in MVP (the seed's parity is 10).
pub const MVP_PER_MVC_MAX: u64 = 1_000_000_000;
/// Largest daily conversion limit per member, in MVP (a thousand of the largest
/// conversions; far inside the tables' signed 64-bit columns).
pub const DAILY_LIMIT_MVP_MAX: u64 = CONVERSION_MVP_MAX * 1000;
/// Conversions the resolver drives per sweep.
pub const CONVERSION_SWEEP_MAX: usize = 64;
/// Conversions still `requested` kept in memory; past it a new conversion answers 503
/// until some finish.
pub const CONVERSIONS_OPEN_MAX: usize = 100_000;
/// Conversion requests under way at once (one per member).
pub const CONVERSION_CLAIMS_MAX: usize = 65_536;
/// Longest a member's second request waits for the first one's row.
const CONVERSION_CLAIM_WAIT_MS: u64 = 10_000;
/// Rows read per page where a figure sums every conversion.
const CONVERSIONS_READ_PAGE: usize = store::tables::conversions::CONVERSIONS_PAGE_MAX;

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

    fn row(self) -> SettingsRow {
        SettingsRow {
            mvp_per_mvc: self.mvp_per_mvc,
            minimum_mvp: self.minimum_mvp,
            daily_limit_mvp: self.daily_limit_mvp,
            enabled: self.enabled,
        }
    }

    fn of(row: SettingsRow) -> ConversionSettings {
        ConversionSettings {
            mvp_per_mvc: row.mvp_per_mvc,
            minimum_mvp: row.minimum_mvp,
            daily_limit_mvp: row.daily_limit_mvp,
            enabled: row.enabled,
        }
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

/// A conversion request from a member.
#[derive(Clone, Debug)]
pub struct ConversionRequest {
    pub member_id: u128,
    pub mvp: u64,
    pub idempotency_key: Option<String>,
    /// The PIN again, above the platform's `pin_confirm_above_mvp`.
    pub pin: Option<String>,
}

/// Conversions still `requested`, and those a task drives now.
#[derive(Default)]
struct Work {
    open: HashMap<u128, Retry>,
    driving: HashSet<u128>,
}

/// The conversion context's working set (see the module's doc).
pub struct Conversions {
    work: Mutex<Work>,
    requests: Claims<u128>,
    settings: Mutex<ConversionSettings>,
    settings_changes: tokio::sync::Mutex<()>,
}

impl Default for Conversions {
    fn default() -> Self {
        Conversions {
            work: Mutex::new(Work::default()),
            requests: Claims::new(
                CONVERSION_CLAIMS_MAX,
                CONVERSION_CLAIM_WAIT_MS,
                ClaimDetails {
                    full: "too many conversions under way; retry",
                    wait: "the member's previous conversion request has not finished; retry",
                },
            ),
            settings: Mutex::new(ConversionSettings::default()),
            settings_changes: tokio::sync::Mutex::new(()),
        }
    }
}

impl Conversions {
    fn work(&self) -> MutexGuard<'_, Work> {
        self.work.lock().expect("conversions lock")
    }

    /// Conversions still `requested`.
    pub(crate) fn open_count(&self) -> u64 {
        self.work().open.len() as u64
    }

    fn settings(&self) -> ConversionSettings {
        *self.settings.lock().expect("conversion settings lock")
    }

    /// Takes a new conversion as open and driven now, if there is room.
    fn open_driven(&self, id: u128) -> Result<(), PlatformError> {
        let mut work = self.work();
        if work.open.len() >= CONVERSIONS_OPEN_MAX {
            let detail = "too many conversions waiting for the chain; retry later";
            return Err(PlatformError::Unavailable(detail.into()));
        }
        work.open.insert(id, Retry::default());
        work.driving.insert(id);
        Ok(())
    }

    /// Releases a conversion a task drove; forgets it if it is no longer open.
    fn release(&self, id: u128) {
        self.work().driving.remove(&id);
    }
}

/// A conversion's row write, as the pipeline carries it.
fn conversion_row(record: &ConversionRecord) -> RowRef {
    Arc::new(ConversionWrite::Conversion(record.clone()))
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
            .map_err(|error| {
                PlatformError::Anchoring(AnchoringError::BadSignature(error.to_string()))
            })?;
        if signer != address {
            return Err(PlatformError::Anchoring(AnchoringError::BadSignature(
                format!(
                    "signed by {}, not by the address given",
                    crate::anchoring::hex_address(&signer)
                ),
            )));
        }
        let record = WalletAddressRecord {
            member_id,
            address,
            proved_at_s: now_s(),
        };
        let row: RowRef = Arc::new(ConversionWrite::Address(record.clone()));
        self.ledger.record(vec![row]).await?;
        Ok(record)
    }

    pub async fn wallet_address(
        &self,
        member_id: u128,
    ) -> Result<Option<WalletAddressRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::address(read, member_id))
            .await?)
    }

    pub fn conversion_settings(&self) -> ConversionSettings {
        self.conversions.settings()
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
        if settings.mvp_per_mvc > MVP_PER_MVC_MAX {
            let detail = format!("at most {MVP_PER_MVC_MAX}");
            return Err(invalid("mvp_per_mvc", detail));
        }
        if settings.daily_limit_mvp > DAILY_LIMIT_MVP_MAX {
            let detail = format!("at most {DAILY_LIMIT_MVP_MAX}");
            return Err(invalid("daily_limit_mvp", detail));
        }
        // One change at a time, so the settings kept are the ones written last.
        let _change = self.conversions.settings_changes.lock().await;
        let row: RowRef = Arc::new(ConversionWrite::Settings(settings.row()));
        self.ledger.record(vec![row]).await?;
        *self
            .conversions
            .settings
            .lock()
            .expect("conversion settings lock") = settings;
        Ok(settings)
    }

    /// Starts (or, for a known `Idempotency-Key`, finds) a conversion and drives it as far
    /// as it goes now; a `requested` answer means the resolver finishes it.
    pub async fn convert(
        &self,
        request: ConversionRequest,
    ) -> Result<ConversionRecord, PlatformError> {
        Ok(self.convert_once(request).await?.value)
    }

    /// [`Platform::convert`], telling whether the answer is an earlier request's under the
    /// same `Idempotency-Key` (see `idempotency`).
    pub async fn convert_once(
        &self,
        request: ConversionRequest,
    ) -> Result<Replayable<ConversionRecord>, PlatformError> {
        let key = request.idempotency_key.as_deref();
        let _in_flight = self
            .idempotency
            .begin(Scope::Conversion, request.member_id, key)?;
        if request.mvp == 0 || request.mvp > CONVERSION_MVP_MAX {
            return Err(invalid("mvp", format!("1 to {CONVERSION_MVP_MAX}")));
        }
        self.chain()?;
        let claim = self.conversions.requests.claim(request.member_id).await?;
        let (record, replayed) = match self.known_conversion(&request).await? {
            Some(existing) => (existing, true),
            None => {
                let pin = request.pin.as_deref();
                self.confirm_spend(request.member_id, u128::from(request.mvp), pin)
                    .await?;
                let record = self.begin_conversion(&request).await?;
                drop(claim);
                self.drive_conversion(record.id).await;
                self.conversions.release(record.id);
                let stored = self
                    .stored_conversion(record.id)
                    .await?
                    .expect("a conversion's row is durable before it is driven");
                (stored, false)
            }
        };
        match (&record.status, record.failure.as_deref()) {
            (ConversionStatus::Failed, Some("insufficient_balance")) => Err(
                PlatformError::Conversion(ConversionError::InsufficientBalance),
            ),
            _ => Ok(Replayable {
                value: record,
                replayed,
            }),
        }
    }

    /// The conversion a retry of `request` names, if its key is known (the same amount,
    /// or the request is refused).
    async fn known_conversion(
        &self,
        request: &ConversionRequest,
    ) -> Result<Option<ConversionRecord>, PlatformError> {
        let Some(key) = request.idempotency_key.clone() else {
            return Ok(None);
        };
        let member_id = request.member_id;
        let existing = self
            .ledger
            .tables(move |read| tables::conversion_by_key(read, member_id, &key))
            .await?;
        match existing {
            Some(existing) if existing.mvp != request.mvp => {
                Err(PlatformError::IdempotencyConflict)
            }
            found => Ok(found),
        }
    }

    /// Checks a new conversion and makes its row durable (`requested`), open and driven
    /// by the caller. The caller holds the member's claim.
    async fn begin_conversion(
        &self,
        request: &ConversionRequest,
    ) -> Result<ConversionRecord, PlatformError> {
        let member_id = request.member_id;
        if self.members.is_withdrawing(member_id) {
            return Err(PlatformError::Member(MemberError::ExchangeInProgress));
        }
        let settings = self.conversions.settings();
        if !settings.enabled {
            return Err(PlatformError::Conversion(
                ConversionError::ConversionDisabled,
            ));
        }
        if request.mvp < settings.minimum_mvp {
            let detail = format!("at least {} MVP", settings.minimum_mvp);
            return Err(invalid("mvp", detail));
        }
        let now = now_s();
        let day_start_s = kst_day_start_s(now);
        let (address, used) = self
            .ledger
            .tables(move |read| {
                let address = tables::address(read, member_id)?;
                let used = tables::member_converted_since(read, member_id, day_start_s)?;
                Ok((address, used))
            })
            .await?;
        let address = address
            .ok_or(PlatformError::Conversion(ConversionError::NoWalletAddress))?
            .address;
        if used.saturating_add(request.mvp) > settings.daily_limit_mvp {
            return Err(PlatformError::Exchange(ExchangeError::LimitExceeded {
                period: "daily",
                limit: settings.daily_limit_mvp,
                used,
            }));
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
        self.conversions.open_driven(record.id)?;
        if let Err(error) = self.ledger.record(vec![conversion_row(&record)]).await {
            let mut work = self.conversions.work();
            work.open.remove(&record.id);
            work.driving.remove(&record.id);
            return Err(error.into());
        }
        Ok(record)
    }

    /// The conversion with this id, as committed.
    async fn stored_conversion(&self, id: u128) -> Result<Option<ConversionRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::conversion(read, id))
            .await?)
    }

    /// A member's conversion.
    pub async fn conversion(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<ConversionRecord, PlatformError> {
        self.stored_conversion(id)
            .await?
            .filter(|c| c.member_id == member_id)
            .ok_or(PlatformError::NotFound(Entity::Conversion))
    }

    /// Every conversion, newest first, at most `limit` (operators' list; at most
    /// `CONVERSIONS_PAGE_MAX`).
    pub async fn conversions(
        &self,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<ConversionRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::conversions_page(read, before, limit))
            .await?)
    }

    /// A member's conversions, newest first, at most `limit` (at most
    /// `CONVERSIONS_PAGE_MAX`).
    pub async fn member_conversions(
        &self,
        member_id: u128,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<ConversionRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::member_conversions_page(read, member_id, before, limit))
            .await?)
    }

    /// Calls `visit` with every conversion, a page at a time (bounded memory, time
    /// O(conversions): for the economy's figures).
    pub(crate) async fn each_conversion(
        &self,
        mut visit: impl FnMut(&ConversionRecord),
    ) -> Result<(), PlatformError> {
        let mut before = None;
        loop {
            let page = self
                .ledger
                .tables(move |read| tables::conversions_page(read, before, CONVERSIONS_READ_PAGE))
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            before = Some((last.created_at_s, last.id));
            page.iter().for_each(&mut visit);
        }
    }

    /// At start: the settings as last written, and the conversions still `requested`
    /// (through `conversions_open`), each due now.
    pub(crate) async fn load_conversion_work(&self) -> Result<(), PlatformError> {
        if let Some(row) = self.ledger.tables(tables::settings).await? {
            *self
                .conversions
                .settings
                .lock()
                .expect("conversion settings lock") = ConversionSettings::of(row);
        }
        let mut after = None;
        loop {
            let page = self
                .ledger
                .tables(move |read| tables::open_conversions(read, after, CONVERSIONS_READ_PAGE))
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.id);
            let mut work = self.conversions.work();
            for row in &page {
                work.open.insert(row.id, Retry::default());
            }
        }
    }
}
