//! What `GET /metrics` shows of the platform's open work: the depths of the working sets
//! and how far the chain's anchor is behind the ledger.
//!
//! Every figure is read from memory (the working sets' own maps and the ledger's latest
//! checkpoint), never from the tables: a scrape costs the same however long history grows.

use crate::Platform;
use ports::time::now_s;

/// How far the anchor on chain is behind the ledger's latest signed checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnchoringLag {
    /// Blocks not anchored yet. Blocks that add no transfer to the log are anchored with
    /// the next one that does, so this stays above zero on a ledger that only records.
    pub blocks: u64,
    /// Transfers in the log not anchored yet: zero once the anchor caught up.
    pub transfers: u64,
    /// Seconds since the latest anchoring's block time; `None` before the first.
    pub since_anchored_seconds: Option<u64>,
}

/// The working sets' depths now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkGauges {
    /// Exchanges still `requested`: waiting for the partner's answer or the resolver.
    pub exchanges_open: u64,
    /// Failed exchanges whose reference still needs a cancel at the partner.
    pub exchange_cancels_pending: u64,
    /// Conversions still `requested`: waiting for the chain.
    pub conversions_open: u64,
    /// `None` when no chain is configured (nothing is anchored).
    pub anchoring_lag: Option<AnchoringLag>,
}

impl Platform {
    /// The working sets' depths and the anchoring lag, from memory.
    pub fn work_gauges(&self) -> WorkGauges {
        let (exchanges_open, exchange_cancels_pending) = self.exchanges.depths();
        WorkGauges {
            exchanges_open,
            exchange_cancels_pending,
            conversions_open: self.conversions.open_count(),
            anchoring_lag: self.chain.is_some().then(|| self.anchoring_lag(now_s())),
        }
    }

    /// The lag of the latest anchoring (as recorded) behind the latest signed checkpoint.
    fn anchoring_lag(&self, now_s: u64) -> AnchoringLag {
        let (height, tree_size) = self.ledger.checkpoint().map_or((0, 0), |signed| {
            (signed.checkpoint.block_height, signed.checkpoint.tree_size)
        });
        let latest = self.anchoring.latest();
        AnchoringLag {
            blocks: height.saturating_sub(latest.as_ref().map_or(0, |a| a.height)),
            transfers: tree_size.saturating_sub(latest.as_ref().map_or(0, |a| a.tree_size)),
            since_anchored_seconds: latest.map(|a| now_s.saturating_sub(a.anchored_at_s)),
        }
    }
}
