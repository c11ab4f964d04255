//! Housekeeping: the chores that keep tables bounded and counters durable, on a ticker of
//! their own (no context's resolver carries them, so a slow partner sweep never delays
//! them and they never delay it).
//!
//! | chore | every |
//! |---|---|
//! | write the abuse limits' counters (`limits`) | [`RATE_FLUSH_INTERVAL_MS`] |
//! | delete expired sessions, verifications and login guards (`members`) | [`CREDENTIALS_SWEEP_INTERVAL_MS`] |
//! | delete expired merchant portal sessions (`portal`) | [`CREDENTIALS_SWEEP_INTERVAL_MS`] |
//! | clear expired `Idempotency-Key`s (`idempotency`) | [`IDEMPOTENCY_SWEEP_INTERVAL_MS`] |
//! | return held P2P transfers past their deadline to their senders (`transfers`) | [`HELD_SWEEP_INTERVAL_MS`] |
//! | void the locks of escrowed trades past their deadline (`escrow`) | [`ESCROW_SWEEP_INTERVAL_MS`] |
//!
//! Chores run one after another on one task, so one never overlaps itself; each does a
//! bounded batch, and a failure is logged and tried again at its next turn.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ports::time::now_s;

use crate::error::PlatformError;
use crate::idempotency::{IDEMPOTENCY_KEY_TTL_S, IDEMPOTENCY_SWEEP_INTERVAL_S};
use crate::service::Platform;

pub use crate::limits::RATE_FLUSH_INTERVAL_MS;
/// How often expired credentials are deleted.
pub const CREDENTIALS_SWEEP_INTERVAL_MS: u64 = 60_000;
/// How often expired idempotency keys are cleared.
pub const IDEMPOTENCY_SWEEP_INTERVAL_MS: u64 = IDEMPOTENCY_SWEEP_INTERVAL_S * 1000;
/// How often held P2P transfers past their deadline are returned.
pub const HELD_SWEEP_INTERVAL_MS: u64 = 30_000;
/// How often escrowed trades past their deadline are expired (a trade's deadline is
/// hours away by default; a short period keeps a short test timeout exact too).
pub const ESCROW_SWEEP_INTERVAL_MS: u64 = 1_000;
/// The ticker's period: the shortest chore interval divides into it.
const TICK_MS: u64 = 500;

#[derive(Clone, Copy, Debug)]
enum Chore {
    FlushRateCounters,
    ExpireCredentials,
    ExpireIdempotencyKeys,
    ReturnHeldTransfers,
    ExpireTrades,
}

const CHORES: [(Chore, u64); 5] = [
    (Chore::FlushRateCounters, RATE_FLUSH_INTERVAL_MS),
    (Chore::ExpireCredentials, CREDENTIALS_SWEEP_INTERVAL_MS),
    (Chore::ExpireIdempotencyKeys, IDEMPOTENCY_SWEEP_INTERVAL_MS),
    (Chore::ReturnHeldTransfers, HELD_SWEEP_INTERVAL_MS),
    (Chore::ExpireTrades, ESCROW_SWEEP_INTERVAL_MS),
];

/// Starts the ticker; it ends when the platform is dropped.
pub(crate) fn spawn(platform: &Arc<Platform>) {
    let weak: Weak<Platform> = Arc::downgrade(platform);
    tokio::spawn(async move {
        let mut ticks: u64 = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(TICK_MS)).await;
            ticks += 1;
            let Some(platform) = weak.upgrade() else {
                return;
            };
            for (chore, interval_ms) in CHORES {
                if ticks.is_multiple_of((interval_ms / TICK_MS).max(1))
                    && let Err(error) = platform.run_chore(chore).await
                {
                    tracing::warn!(%error, ?chore, "housekeeping chore failed");
                }
            }
        }
    });
}

impl Platform {
    /// A clean stop: writes what memory holds that the tables do not yet (the abuse limits'
    /// and wrong guesses' counters). Everything else in memory is a cache of the tables.
    pub async fn close(&self) -> Result<(), PlatformError> {
        self.flush_all_rate_counters().await
    }

    async fn run_chore(&self, chore: Chore) -> Result<(), PlatformError> {
        match chore {
            Chore::FlushRateCounters => self.flush_rate_counters().await,
            Chore::ExpireCredentials => {
                self.expire_credentials().await?;
                self.purge_portal_sessions().await
            }
            Chore::ExpireIdempotencyKeys => self.expire_idempotency_keys().await,
            Chore::ReturnHeldTransfers => self.return_expired_transfers().await.map(|_| ()),
            Chore::ExpireTrades => self.expire_due_trades().await.map(|_| ()),
        }
    }

    /// Clears a batch of keys older than [`IDEMPOTENCY_KEY_TTL_S`] from each keyed table.
    pub async fn expire_idempotency_keys(&self) -> Result<(), PlatformError> {
        let before_s = now_s().saturating_sub(IDEMPOTENCY_KEY_TTL_S);
        self.expire_idempotency_keys_before(before_s).await
    }

    /// Clears a batch of keys of requests made before `before_s` (tests age keys this way).
    pub async fn expire_idempotency_keys_before(&self, before_s: u64) -> Result<(), PlatformError> {
        let row = store::tables::idempotency::ExpireKeys { before_s };
        self.ledger.record(vec![Arc::new(row)]).await?;
        Ok(())
    }
}
