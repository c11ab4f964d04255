//! [`Platform`]: the business service that the HTTP layer calls. It holds each bounded
//! context's working set (members, exchanges, payments, vouchers, pay codes, conversions,
//! anchoring, merchants, settlement, the partner catalogue), each with its own lock or
//! claims, and reaches the ledger and the tables through the ledger service, partners
//! through a [`PartnerGateway`] and members' phones through an [`SmsGateway`].
//!
//! The pattern of every local operation: read what it needs from the tables (or a
//! context's cache), claim the keys it changes, check, and commit its ledger transfers with
//! its rows in one store transaction ([`Platform::enqueue_commit`]); answer once durable.
//! Value moves only as ledger transfers whose ids derive from the business record, so a
//! retry after a crash finds the movement instead of repeating it.

use std::sync::{Arc, Mutex, MutexGuard};

use store::records::{RecordStore, RecordWrite};

use crate::crypto::DataKeys;
use crate::domain::DecodeError;
use crate::error::PlatformError;
use crate::legacy::Legacy;
use journal::TransferOutcome;
use journal::{LedgerError, LedgerService};
use ledger::types::Transfer;
use ports::chain::ChainGateway;
use ports::gateway::{PartnerGateway, SmsGateway};
use store::tables::RowRef;

#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// A session's lifetime from login.
    pub session_ttl_s: u64,
    /// A verification code's lifetime.
    pub verification_ttl_s: u64,
    /// How often the exchange resolver looks for exchanges whose outcome is unknown.
    pub resolver_interval_ms: u64,
    /// First retry delay of an unresolved exchange; doubles per attempt up to the maximum.
    pub resolver_backoff_base_ms: u64,
    pub resolver_backoff_max_ms: u64,
    /// Exchanges the resolver drives at once.
    pub resolver_concurrency_max: usize,
    /// How often the anchoring job proposes and submits checkpoints.
    pub anchor_interval_ms: u64,
    /// A proposal without enough co-signatures after this long is replaced by a newer one.
    pub anchor_proposal_timeout_ms: u64,
    /// The platform's public base URL (e.g. `https://mileverse.example`): partners send
    /// members back to it followed by `partners::CALLBACK_PATH`.
    pub public_url: String,
    /// How long a link attempt waits for the partner's proof.
    pub link_attempt_expiry_s: u64,
    /// Above this many MVP leaving a member's wallet at once (a voucher, a conversion, a
    /// withdrawal), the PIN is asked again.
    pub pin_confirm_above_mvp: u64,
    /// Whether the abuse limits apply (`limits`).
    pub rate_limiting: crate::limits::RateLimiting,
    /// How long a P2P transfer to a phone that is not a member's waits before it returns.
    pub transfer_hold_s: u64,
    /// How long a conversion quote between assets holds.
    pub asset_quote_ttl_s: u64,
    /// Checkout: how long a payment intent waits for a member's approval, and the webhook
    /// delivery's schedule.
    pub checkout: crate::checkout::CheckoutConfig,
    /// How long an escrow offer stays open, and then a taken trade has to complete
    /// (at most `escrow::ESCROW_TIMEOUT_S_MAX`).
    pub escrow_timeout_s: u64,
}

/// 100,000 MVP (100,000 won): a meal or a small gift passes with the session alone.
pub const PIN_CONFIRM_ABOVE_MVP_DEFAULT: u64 = 100_000;

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            session_ttl_s: 24 * 3600,
            verification_ttl_s: 300,
            resolver_interval_ms: 250,
            resolver_backoff_base_ms: 200,
            resolver_backoff_max_ms: 30_000,
            resolver_concurrency_max: 64,
            anchor_interval_ms: 5_000,
            anchor_proposal_timeout_ms: 60_000,
            public_url: "http://127.0.0.1:8080".to_string(),
            link_attempt_expiry_s: crate::partners::LINK_ATTEMPT_EXPIRY_S,
            pin_confirm_above_mvp: PIN_CONFIRM_ABOVE_MVP_DEFAULT,
            rate_limiting: crate::limits::RateLimiting::Enforced,
            transfer_hold_s: crate::transfers::HOLD_S,
            asset_quote_ttl_s: crate::assets::QUOTE_TTL_S,
            checkout: crate::checkout::CheckoutConfig::default(),
            escrow_timeout_s: crate::escrow::ESCROW_TIMEOUT_S,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read the platform's records: {0}")]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("cannot read or write the ledger's database: {0}")]
    Ledger(#[from] LedgerError),
}

pub struct Platform {
    pub config: PlatformConfig,
    pub ledger: Arc<LedgerService>,
    /// What start moves out of the older layout (emptied by `start`).
    pub(crate) legacy: Mutex<Legacy>,
    /// The payments context's working set (see `payments`).
    pub(crate) payments: crate::payments::Payments,
    /// The members context's working set (see `members`).
    pub(crate) members: crate::members::Members,
    /// The exchange context's working set (see `exchange`).
    pub(crate) exchanges: crate::exchange::Exchanges,
    /// The pay codes' working set (see `paycode`).
    pub(crate) paycodes: crate::paycode::Paycodes,
    /// The conversion context's working set (see `conversion`).
    pub(crate) conversions: crate::conversion::Conversions,
    /// The partner catalogue (see `partners`).
    pub(crate) catalogue: crate::partners::PartnerCatalogue,
    /// The merchants context's cache (see `merchants`).
    pub(crate) merchants: crate::merchants::Merchants,
    /// The settlement context's lock (see `settlement`).
    pub(crate) settlements: crate::settlement::Settlements,
    /// The anchoring job's working set (see `anchoring`).
    pub(crate) anchoring: crate::anchoring::Anchoring,
    /// The vouchers context's working set (see `vouchers`).
    pub(crate) vouchers: crate::vouchers::Vouchers,
    /// The ads context's claims (see `ads`).
    pub(crate) ads: crate::ads::Ads,
    /// The health context's working set (see `health`).
    pub(crate) health: crate::health::Health,
    /// The P2P context's claims (see `transfers`).
    pub(crate) transfers: crate::transfers::Transfers,
    /// The assets context's claims (see `assets`).
    pub(crate) assets: crate::assets::Assets,
    /// The escrow context's claims (see `escrow`).
    pub(crate) escrow: crate::escrow::Escrow,
    /// Market prices of the custodial coins (see `assets`).
    pub(crate) price_feed: Option<Arc<dyn ports::prices::PriceFeed>>,
    pub(crate) keys: DataKeys,
    pub(crate) partner_gateway: Arc<dyn PartnerGateway>,
    pub(crate) sms: Arc<dyn SmsGateway>,
    /// Permits for PIN hashing (see `members`).
    pub(crate) pin_hashing: tokio::sync::Semaphore,
    /// Ethereum, when configured (anchoring, conversions, token figures).
    pub(crate) chain: Option<Arc<dyn ChainGateway>>,
    /// Wakes the anchoring job early (a co-signature arrived).
    pub(crate) anchor_wake: Arc<tokio::sync::Notify>,
    /// The abuse limits' counters (see `limits`).
    pub(crate) limits: crate::limits::RateLimits,
    /// The `Idempotency-Key`s whose first request is being processed (see `idempotency`).
    pub(crate) idempotency: crate::idempotency::InFlight,
    /// The contexts that add rows to payments' commits (see `payments::PaymentFollower`).
    pub(crate) payment_followers: Vec<Box<dyn crate::payments::PaymentFollower>>,
    /// The promotions in force and the sign-up bonuses' lock (see `promotions`).
    pub(crate) promotions: crate::promotions::Promotions,
    /// The creators context's claims (see `creators`).
    pub(crate) creators: crate::creators::Creators,
    /// The checkout context's claims (see `checkout`).
    pub(crate) checkout: crate::checkout::Checkout,
    /// Sends checkout's webhook events to merchants.
    pub(crate) webhooks: Arc<dyn ports::webhook::WebhookSender>,
}

/// What [`Platform::open`] needs besides the ledger.
pub struct PlatformParts {
    /// A record store of an older layout (SQLite's `records.db`), whose records move into
    /// the ledger's database at this open if it holds none yet (see [`import_records`]).
    pub legacy_records: Option<Box<dyn RecordStore>>,
    pub keys: DataKeys,
    pub partner_gateway: Arc<dyn PartnerGateway>,
    pub sms: Arc<dyn SmsGateway>,
    /// Ethereum; `None` runs the platform without a chain.
    pub chain: Option<Arc<dyn ChainGateway>>,
    /// Market prices of the custodial coins; `None`: operators set every price.
    pub price_feed: Option<Arc<dyn ports::prices::PriceFeed>>,
    /// Where checkout's webhook events go out (`gateways::webhook` over HTTP).
    pub webhooks: Arc<dyn ports::webhook::WebhookSender>,
}

/// Moves the records of an older record store into the ledger's database, if that holds
/// none yet; answers how many moved. Blocking: call it outside async tasks. Each request
/// carries at most `ROWS_PER_REQUEST_MAX` records, and they are all durable on return.
pub fn import_records(
    ledger: &LedgerService,
    legacy: &mut dyn RecordStore,
) -> Result<usize, OpenError> {
    if !ledger.tables_blocking(store::tables::records::is_empty)? {
        return Ok(0);
    }
    let records = legacy.load()?;
    let (sender, receiver) = std::sync::mpsc::channel();
    let mut requests = 0;
    for chunk in records.chunks(journal::sequencer::ROWS_PER_REQUEST_MAX) {
        let rows: Vec<store::tables::RowRef> = chunk
            .iter()
            .map(|record| {
                let write = RecordWrite::Put(record.clone());
                Arc::new(store::tables::records::RecordRow(write)) as store::tables::RowRef
            })
            .collect();
        let sender = sender.clone();
        ledger.submit_recorded_blocking(
            Vec::new(),
            move |_| (rows, ()),
            move |answer| {
                let _ = sender.send(answer);
            },
        )?;
        requests += 1;
    }
    for _ in 0..requests {
        receiver
            .recv()
            .map_err(|_| LedgerError::Unavailable("the ledger stopped".into()))??;
    }
    Ok(records.len())
}

impl Platform {
    /// Opens the platform: reads the older layout's records, if any are left, for `start` to
    /// move into their tables. Blocking (it reads the store): call it
    /// outside async tasks. Then call [`Platform::start`] inside the runtime.
    pub fn open(
        config: PlatformConfig,
        ledger: Arc<LedgerService>,
        mut parts: PlatformParts,
    ) -> Result<Arc<Platform>, OpenError> {
        // The ledger's pending timeouts are u32 seconds; `serve` checks its option.
        assert!(
            (1..=crate::escrow::ESCROW_TIMEOUT_S_MAX).contains(&config.escrow_timeout_s),
            "the escrow timeout is 1 s to 30 days"
        );
        if let Some(legacy) = parts.legacy_records.as_mut() {
            let moved = import_records(&ledger, legacy.as_mut())?;
            if moved > 0 {
                tracing::info!(
                    records = moved,
                    "moved the records into the ledger's database"
                );
            }
        }
        let records = ledger.tables_blocking(store::tables::records::load)?;
        let legacy = Legacy::load(&records)?;
        Ok(Arc::new(Platform {
            config,
            ledger,
            legacy: Mutex::new(legacy),
            payments: crate::payments::Payments::default(),
            members: crate::members::Members::default(),
            exchanges: crate::exchange::Exchanges::default(),
            vouchers: crate::vouchers::Vouchers::default(),
            ads: crate::ads::Ads::default(),
            health: crate::health::Health::default(),
            transfers: crate::transfers::Transfers::default(),
            assets: crate::assets::Assets::default(),
            escrow: crate::escrow::Escrow::default(),
            paycodes: crate::paycode::Paycodes::default(),
            conversions: crate::conversion::Conversions::default(),
            anchoring: crate::anchoring::Anchoring::default(),
            merchants: crate::merchants::Merchants::default(),
            catalogue: crate::partners::PartnerCatalogue::default(),
            settlements: crate::settlement::Settlements::default(),
            keys: parts.keys,
            partner_gateway: parts.partner_gateway,
            sms: parts.sms,
            pin_hashing: tokio::sync::Semaphore::new(crate::members::PIN_HASHING_CONCURRENCY_MAX),
            chain: parts.chain,
            price_feed: parts.price_feed,
            anchor_wake: Arc::new(tokio::sync::Notify::new()),
            limits: crate::limits::RateLimits::default(),
            idempotency: crate::idempotency::InFlight::default(),
            payment_followers: vec![
                Box::new(crate::promotions::PromotionsFollower),
                Box::new(crate::checkout::CheckoutFollower),
            ],
            promotions: crate::promotions::Promotions::default(),
            creators: crate::creators::Creators::default(),
            checkout: crate::checkout::Checkout::default(),
            webhooks: parts.webhooks,
        }))
    }

    /// Creates the platform's own ledger accounts, moves the older layout's records into
    /// their tables, loads each context's working set (open work only, through the status
    /// indexes; the partner catalogue), finishes what a crash cut short, and starts the
    /// resolvers and the anchoring job.
    pub async fn start(self: &Arc<Self>) -> Result<(), PlatformError> {
        let results = self
            .ledger
            .create_accounts(crate::chart::system_accounts())
            .await?;
        for result in results {
            let code = result.as_str();
            if code != "ok" && code != "exists" {
                return Err(PlatformError::Unavailable(format!(
                    "cannot create the system accounts: {code}"
                )));
            }
        }
        self.start_assets().await?;
        self.import_legacy_rows().await?;
        self.load_partner_catalogue().await?;
        self.check_terminal_secrets().await?;
        self.load_partner_payments().await?;
        self.load_exchange_work().await?;
        self.load_used_paycodes().await?;
        self.load_conversion_work().await?;
        self.load_anchoring_work().await?;
        self.load_rate_counters().await?;
        self.resolve_interrupted_vouchers().await?;
        self.import_authorization_records().await?;
        self.resolve_pending_settlements().await?;
        crate::exchange::spawn_resolver(self.clone());
        crate::anchoring::spawn_anchoring(self);
        crate::conversion::spawn_conversion_resolver(self);
        crate::housekeeping::spawn(self);
        crate::assets::spawn_price_refresher(self);
        crate::checkout::spawn_webhook_delivery(self);
        Ok(())
    }

    /// Why the platform cannot write, if it cannot: the ledger stopped (fail-stop).
    pub fn failure(&self) -> Option<String> {
        self.ledger.failure().map(|error| error.to_string())
    }

    /// The older layout's records found at open (taken by `start`).
    pub(crate) fn legacy(&self) -> MutexGuard<'_, Legacy> {
        self.legacy.lock().expect("legacy records lock")
    }

    /// Hands one commit to the ledger now, in the order of the calls: `transfers`, and in
    /// the same store transaction the rows `decide` makes from what they did. The receiver
    /// answers `decide`'s value once durable. The commit of every local operation that
    /// moves value; callers order dependent commits by calling it under their context's
    /// claim or lock. A full request queue refuses it (503, retry) before anything moved.
    pub(crate) fn enqueue_commit<T, F>(
        &self,
        transfers: Vec<Transfer>,
        decide: F,
    ) -> Result<Committing<T>, PlatformError>
    where
        T: Send + 'static,
        F: FnOnce(&TransferOutcome<'_>) -> (Vec<RowRef>, T) + Send + 'static,
    {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.ledger.try_submit_recorded(
            transfers,
            decide,
            move |answer: Result<T, LedgerError>| {
                let _ = sender.send(answer);
            },
        )?;
        Ok(Committing(receiver))
    }

    /// Waits until every commit submitted so far is durable (for reads: never show what a
    /// crash could take back). The ledger answers requests in order.
    pub(crate) async fn settle_reads(&self) -> Result<(), PlatformError> {
        Ok(self.ledger.read(|_| ()).await?)
    }
}

/// Associated data for a partner's sealed secret.
pub(crate) fn secret_context(partner_id: u128) -> Vec<u8> {
    format!("partner/{partner_id}/secret").into_bytes()
}

/// A commit queued with [`Platform::enqueue_commit`]: await [`Committing::done`] (outside
/// the lock) for its value once durable.
pub(crate) struct Committing<T>(tokio::sync::oneshot::Receiver<Result<T, LedgerError>>);

impl<T> Committing<T> {
    pub(crate) async fn done(self) -> Result<T, PlatformError> {
        match self.0.await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(PlatformError::Unavailable("the ledger stopped".into())),
        }
    }
}
