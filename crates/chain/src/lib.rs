//! Mileverse's Ethereum side: the MVC token, its vesting, the quarterly rewards and the
//! ledger anchor, seen from Rust.
//!
//! - [`contracts`]: bindings of the four contracts, generated from the committed artifacts
//!   (ABI and bytecode), to deploy, call and decode events and custom errors.
//! - [`deploy`]: the genesis deployment ([`Genesis`]): two vesting wallets, the token with
//!   its six allocations, the reward distributor and the anchor, in that order.
//! - [`anchor`]: a ledger checkpoint's EIP-712 signing hash, an authority's signature over
//!   it, and its submission with signatures in the order the contract demands.
//! - [`devnode`]: a throw-away anvil dev node on loopback, for tests and local runs.
//!
//! Only this crate knows alloy: the rest of the workspace reaches Ethereum through it, and
//! uses the primitive types re-exported here.

pub mod anchor;
pub mod contracts;
pub mod deploy;
pub mod devnode;
pub mod wallet;

use std::time::Duration;

use alloy::network::{Ethereum, EthereumWallet};
use alloy::providers::{PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::transports::http::reqwest::Url;

pub use alloy::primitives::{Address, B256, U256};
pub use alloy::providers::DynProvider;
pub use alloy::signers::local::PrivateKeySigner;
pub use anchor::Checkpoint;
pub use deploy::{Deployment, Genesis, VestingSchedule};
pub use devnode::DevNode;

/// What can go wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A contract call or transaction failed (its revert data, if any, is inside).
    #[error("contract: {0}")]
    Contract(#[from] alloy::contract::Error),
    /// A transaction was sent but its receipt could not be had.
    #[error("pending transaction: {0}")]
    Pending(#[from] alloy::providers::PendingTransactionError),
    /// The node refused or failed a request.
    #[error("rpc: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A local key could not sign.
    #[error("signing: {0}")]
    Signing(#[from] alloy::signers::Error),
    /// A transaction was mined but reverted.
    #[error("transaction {0} reverted")]
    Reverted(B256),
    /// A deployment's receipt names no contract.
    #[error("deployment {0} created no contract")]
    NotDeployed(B256),
    /// An endpoint URL could not be parsed.
    #[error("bad endpoint url {url}: {reason}")]
    Url { url: String, reason: String },
    /// A signature's bytes are malformed or recover to no address.
    #[error("bad signature: {0}")]
    Signature(String),
    /// A private key could not be parsed.
    #[error("bad private key: {0}")]
    Key(String),
    /// The dev node's binary is missing.
    #[error("anvil not found (set MILEVERSE_ANVIL or run scripts/contracts.sh): {0}")]
    AnvilMissing(String),
    /// The dev node did not start.
    #[error("anvil did not start: {0}")]
    AnvilStart(String),
    /// The node has no latest block.
    #[error("the node returned no latest block")]
    NoBlock,
    /// Spawning or talking to a process failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// An HTTP provider that signs with `signers` (the first one by default; a transaction
/// `from` another registered signer is signed by that one) and fills nonce, gas (estimated,
/// so a call that would revert fails before it is sent) and chain id.
pub fn connect(url: &str, signers: &[PrivateKeySigner]) -> Result<DynProvider, Error> {
    let endpoint = url.parse::<Url>().map_err(|error| Error::Url {
        url: url.to_string(),
        reason: error.to_string(),
    })?;
    let (first, rest) = signers
        .split_first()
        .ok_or_else(|| Error::Key("no signer given".to_string()))?;
    let mut wallet = EthereumWallet::new(first.clone());
    for signer in rest {
        wallet.register_signer(signer.clone());
    }
    // Nonces are asked of the node for every transaction, not cached: the fillers run
    // concurrently, so a cached nonce is taken even when gas estimation then fails (the
    // call would revert), and every later transaction of that account waits forever
    // behind the gap.
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(wallet)
        .connect_http(endpoint);
    Ok(provider.erased())
}

/// Parses a hex private key (with or without `0x`).
pub fn signer(private_key: &str) -> Result<PrivateKeySigner, Error> {
    private_key
        .parse()
        .map_err(|error: alloy::signers::local::LocalSignerError| Error::Key(error.to_string()))
}

/// How long [`confirm`] waits for a receipt: ten mainnet slots and then some. A
/// transaction still unmined by then (underpriced, or behind a nonce gap) is an error to
/// look at, not something to wait for forever.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Waits (at most [`RECEIPT_TIMEOUT`]) for a sent transaction's receipt, and fails if it
/// reverted: alloy returns the receipt of a reverted transaction as a success.
pub async fn confirm(
    pending: PendingTransactionBuilder<Ethereum>,
) -> Result<TransactionReceipt, Error> {
    let receipt = pending
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await?;
    if receipt.status() {
        Ok(receipt)
    } else {
        Err(Error::Reverted(receipt.transaction_hash))
    }
}
