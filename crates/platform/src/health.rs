//! The operators' view of the platform's health: verifications of the ledger the server ran
//! (the operator console's "last verify"), reconciliations kept per partner, and the daily
//! volume totals of the dashboard.
//!
//! A verification replays the stored ledger from its first block on a reader connection
//! (`journal::LedgerService::verify`): proportional to history, so one runs at a time and a
//! second asked meanwhile is refused (`RateLimited`), never queued. Its outcome is a row of
//! `ledger_verifications`, the newest `VERIFICATIONS_KEPT_MAX` kept.
//!
//! The volume totals are `GROUP BY`s over the period's rows (`store::tables::volume`); the
//! last answer is cached for `VOLUME_CACHE_TTL_S` per period, so a dashboard opened by
//! many operators reads the tables once a minute.

use std::sync::{Arc, Mutex};

use store::tables::RowRef;
use store::tables::health::{self as tables, HealthWrite, ReconciliationRow, VerificationRow};
use store::tables::volume::{self, DayTotal, PartyTotal, Period};

use crate::chart;
use crate::error::{PlatformError, invalid};
use crate::service::Platform;
use ports::time::{KST_OFFSET_S, now_s};

/// How long the volume totals of one period are reused.
pub const VOLUME_CACHE_TTL_S: u64 = 60;
/// The partners and merchants a volume report lists at most.
pub const VOLUME_TOP_MAX: usize = 5;
pub use store::tables::volume::DAYS_MAX as VOLUME_DAYS_MAX;

/// The health context's working set: the verification in progress, the cached totals.
#[derive(Default)]
pub struct Health {
    verifying: tokio::sync::Mutex<()>,
    volume: Mutex<Option<(Period, u64, Arc<Volume>)>>,
}

/// The totals of a period, per KST day and for its largest partners and merchants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    pub exchanges: Vec<DayTotal>,
    pub payments: Vec<DayTotal>,
    /// With each partner's name.
    pub top_partners: Vec<(PartyTotal, String)>,
    /// With each store's name and brand.
    pub top_merchants: Vec<(PartyTotal, String, String)>,
}

impl Platform {
    /// Verifies the stored ledger from its first block and records the outcome (both a
    /// ledger that verifies and one that does not); answers the record.
    pub async fn verify_ledger(&self) -> Result<VerificationRow, PlatformError> {
        let Ok(_one) = self.health.verifying.try_lock() else {
            return Err(PlatformError::RateLimited {
                limit: "one ledger verification at a time",
                retry_after_s: 10,
            });
        };
        let started = std::time::Instant::now();
        let outcome = self.ledger.verify().await?;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut row = VerificationRow {
            id: chart::new_id(),
            at_s: now_s(),
            ok: false,
            block_count: 0,
            tree_size: 0,
            root: None,
            duration_ms,
            message: String::new(),
        };
        match outcome {
            Ok(verified) => {
                row.ok = true;
                row.block_count = verified.block_count;
                row.tree_size = verified.tree_size;
                row.root = verified.root;
            }
            Err(reason) => {
                tracing::error!(%reason, "the stored ledger does not verify");
                row.message = reason;
            }
        }
        let write = HealthWrite::Verification(row.clone());
        self.ledger.record(vec![Arc::new(write) as RowRef]).await?;
        Ok(row)
    }

    /// The newest verification, if any ran.
    pub async fn latest_verification(&self) -> Result<Option<VerificationRow>, PlatformError> {
        Ok(self.ledger.tables(tables::latest_verification).await?)
    }

    /// Keeps a partner's reconciliation (called by `reconcile_partner`).
    pub(crate) async fn record_reconciliation(
        &self,
        row: ReconciliationRow,
    ) -> Result<(), PlatformError> {
        let write = HealthWrite::Reconciliation(row);
        self.ledger.record(vec![Arc::new(write) as RowRef]).await?;
        Ok(())
    }

    /// A partner's kept reconciliations, newest first, with ids below `before`.
    pub async fn reconciliations(
        &self,
        partner_id: u128,
        before: Option<u128>,
        limit: usize,
    ) -> Result<Vec<ReconciliationRow>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::reconciliations_page(read, partner_id, before, limit))
            .await?)
    }

    /// The exchange and payment totals of `[from_s, to_s)` per KST day, and the largest
    /// partners and merchants. At most [`VOLUME_DAYS_MAX`] days.
    pub async fn volume(&self, from_s: u64, to_s: u64) -> Result<Arc<Volume>, PlatformError> {
        if to_s > ports::time::TIME_S_MAX {
            return Err(invalid("to", "a time before the year 10000"));
        }
        if to_s <= from_s || to_s - from_s > VOLUME_DAYS_MAX * 86_400 {
            let detail = format!("a period of 1 second to {VOLUME_DAYS_MAX} days");
            return Err(invalid("to", detail));
        }
        let period = Period {
            from_s,
            to_s,
            offset_s: KST_OFFSET_S,
        };
        let now = now_s();
        if let Some((cached, at_s, volume)) = &*self.health.volume.lock().expect("volume lock")
            && *cached == period
            && now.saturating_sub(*at_s) < VOLUME_CACHE_TTL_S
        {
            return Ok(volume.clone());
        }
        let (exchanges, payments, partners, merchants) = self
            .ledger
            .tables(move |read| {
                Ok((
                    volume::exchanges_by_day(read, period)?,
                    volume::payments_by_day(read, period)?,
                    volume::top_partners(read, period, VOLUME_TOP_MAX)?,
                    volume::top_merchants(read, period, VOLUME_TOP_MAX)?,
                ))
            })
            .await?;
        let top_partners = {
            let catalogue = self.catalogue.lock();
            let name = |id| catalogue.partners.get(&id).map(|p| p.name.clone());
            partners
                .into_iter()
                .map(|total| (total, name(total.id).unwrap_or_default()))
                .collect()
        };
        let mut top_merchants = Vec::with_capacity(merchants.len());
        for total in merchants {
            let (name, brand) = match self.merchant(total.id).await {
                Ok(merchant) => (merchant.name, merchant.brand),
                Err(PlatformError::NotFound(_)) => (String::new(), String::new()),
                Err(error) => return Err(error),
            };
            top_merchants.push((total, name, brand));
        }
        let volume = Arc::new(Volume {
            exchanges,
            payments,
            top_partners,
            top_merchants,
        });
        *self.health.volume.lock().expect("volume lock") = Some((period, now, volume.clone()));
        Ok(volume)
    }
}
