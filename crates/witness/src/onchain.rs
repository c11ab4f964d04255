//! What the anchor contract holds, read in small pages with a deadline on each: a witness
//! compares it with its replay (a checkpoint anchored by a server and other authorities
//! that its log does not produce is a split view), and `mileverse verify --chain-rpc`
//! compares it with a store.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chain::{Address, DynProvider, PrivateKeySigner};
use ledger::merkle::MerkleLog;
use ports::chain::{AnchoredCheckpoint, EthAddress};
use store::{Store, StoreError};

use crate::WitnessError;
use crate::history::SparseHistory;

/// Checkpoints read per call: the contract is read one checkpoint per RPC call, so a page
/// stays well inside one deadline even against a distant node.
pub const ANCHORED_READ_PAGE: u64 = 32;

/// A read-only provider for `rpc_url` (an `https://` node must present a certificate `tls`
/// trusts). It never sends a transaction, so the key it holds is a random one, not the
/// witness's.
pub fn provider(rpc_url: &str, tls: &tls::ClientTls) -> Result<DynProvider, WitnessError> {
    chain::connect(rpc_url, &[PrivateKeySigner::random()], tls)
        .map_err(|error| WitnessError::Chain(error.to_string()))
}

/// The chain id the node reports.
pub async fn chain_id(provider: &DynProvider, timeout: Duration) -> Result<u64, WitnessError> {
    bounded(timeout, chain::anchor::chain_id(provider)).await
}

/// Up to [`ANCHORED_READ_PAGE`] anchored checkpoints from `from_index` on, oldest first;
/// fewer means the end of the list.
pub async fn anchored_page(
    provider: &DynProvider,
    anchor: EthAddress,
    from_index: u64,
    timeout: Duration,
) -> Result<Vec<AnchoredCheckpoint>, WitnessError> {
    let read = chain::anchor::anchored(
        provider,
        Address::from(anchor),
        from_index,
        ANCHORED_READ_PAGE,
    );
    let page = bounded(timeout, read).await?;
    Ok(page.into_iter().map(AnchoredCheckpoint::from).collect())
}

/// Every anchored checkpoint, oldest first.
pub async fn anchored_all(
    provider: &DynProvider,
    anchor: EthAddress,
    timeout: Duration,
) -> Result<Vec<AnchoredCheckpoint>, WitnessError> {
    let mut all = Vec::new();
    loop {
        let page = anchored_page(provider, anchor, all.len() as u64, timeout).await?;
        let short = (page.len() as u64) < ANCHORED_READ_PAGE;
        all.extend(page);
        if short {
            return Ok(all);
        }
    }
}

/// The tree sizes a store's headers give at the anchored heights it holds (heights it
/// does not hold are left out, so [`crate::check_anchored`] stops there). The store must
/// have been replayed into `log` first: only then are its headers known to be right.
pub fn store_history<'a>(
    store: &mut dyn Store,
    log: &'a MerkleLog,
    anchored: &[AnchoredCheckpoint],
) -> Result<SparseHistory<'a>, StoreError> {
    let block_count = store.block_count()?;
    let mut tree_sizes = BTreeMap::new();
    for anchored in anchored {
        let height = anchored.checkpoint.height;
        if height >= block_count || tree_sizes.contains_key(&height) {
            continue;
        }
        if let Some(block) = store.read_blocks(height, 1)?.first() {
            tree_sizes.insert(height, block.header.tree_size);
        }
    }
    Ok(SparseHistory { log, tree_sizes })
}

async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, chain::Error>>,
) -> Result<T, WitnessError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(outcome) => outcome.map_err(|error| WitnessError::Chain(error.to_string())),
        Err(_) => Err(WitnessError::Chain(format!(
            "the node did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}
