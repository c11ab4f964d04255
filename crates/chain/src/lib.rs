//! Mileverse's Ethereum side: the MVC token, its vesting, the quarterly rewards, the
//! conversion bridge and the ledger anchor, seen from Rust.
//!
//! - [`contracts`]: bindings of the five contracts, generated from the committed artifacts
//!   (ABI and bytecode), to deploy, call and decode events and custom errors.
//! - [`deploy`]: the genesis deployment ([`Genesis`]): two vesting wallets, the token with
//!   its six allocations, the conversion bridge, the reward distributor and the anchor, in
//!   that order; and the [`DeploymentFile`] that records where they are.
//! - [`anchor`]: a ledger checkpoint's EIP-712 signing hash, an authority's signature over
//!   it, and its submission with signatures in the order the contract demands.
//! - [`gateway`]: [`EthereumGateway`], the platform's `ChainGateway` over JSON-RPC.
//! - [`devnode`]: a throw-away anvil dev node on loopback, for tests and local runs.
//! - [`operations`]: keys, ether and MVC transfers, balances, reward quarters, amounts.
//! - [`wallet`]: a member's BIP-39 wallet and EIP-191 signatures.
//!
//! Only this crate knows alloy: the rest of the workspace reaches Ethereum through it, and
//! uses the primitive types re-exported here.

pub mod anchor;
pub mod contracts;
pub mod deploy;
pub mod devnode;
pub mod gateway;
pub mod operations;
pub mod wallet;

use std::time::Duration;

use alloy::network::{Ethereum, EthereumWallet};
use alloy::providers::fillers::{FillerControlFlow, TxFiller};
use alloy::providers::{PendingTransactionBuilder, Provider, ProviderBuilder, SendableTx};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::transports::http::reqwest::{self, Url};

pub use alloy::primitives::{Address, B256, U256};
pub use alloy::providers::DynProvider;
pub use alloy::signers::local::PrivateKeySigner;
pub use anchor::Checkpoint;
pub use deploy::{Deployment, DeploymentFile, Genesis, VestingSchedule};
pub use devnode::DevNode;
pub use gateway::{EthereumGateway, GatewayConfig};

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
    /// A deployment file could not be read, parsed or written.
    #[error("deployment file: {0}")]
    DeploymentFile(String),
    /// The node serves another chain than the deployment's.
    #[error("the node serves chain {actual}, the deployment is on chain {expected}")]
    WrongChain { expected: u64, actual: u64 },
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(String),
    /// An amount's text is not a decimal number of at most 18 places.
    #[error("bad amount {0}")]
    Amount(String),
    /// A confirmed transaction lacks the event it must have emitted.
    #[error("transaction {tx} emitted no {event}")]
    NoEvent { tx: B256, event: &'static str },
}

impl Error {
    /// The custom error (or reason string) a contract reverted with, decoded by name
    /// (`AlreadyReleased { id: … }`), if this is a revert that carries its data.
    pub fn revert_reason(&self) -> Option<String> {
        let data = match self {
            Error::Contract(error) => error.as_revert_data(),
            Error::Rpc(error) => error
                .as_error_resp()
                .and_then(|payload| payload.as_revert_data()),
            _ => None,
        }?;
        Some(gateway::revert_reason(&data))
    }
}

/// An HTTP provider that signs with `signers` (the first one by default; a transaction
/// `from` another registered signer is signed by that one) and fills nonce, gas (estimated,
/// so a call that would revert fails before it is sent, then padded by
/// [`padded_gas_limit`]) and chain id. Every request is bounded by [`REQUEST_TIMEOUT`]; an
/// `https://` node must present a certificate `tls` trusts.
pub fn connect(
    url: &str,
    signers: &[PrivateKeySigner],
    tls: &tls::ClientTls,
) -> Result<DynProvider, Error> {
    let endpoint = endpoint(url)?;
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
    // behind the gap. The estimate is padded (`GasMargin`, which fills after the
    // estimation).
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .filler(GasMargin)
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(wallet)
        .connect_reqwest(http_client(tls)?, endpoint);
    Ok(provider.erased())
}

/// An HTTP provider that only reads (calls, balances, blocks; it signs nothing), with
/// every request bounded by [`REQUEST_TIMEOUT`].
pub fn connect_reader(url: &str, tls: &tls::ClientTls) -> Result<DynProvider, Error> {
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_reqwest(http_client(tls)?, endpoint(url)?);
    Ok(provider.erased())
}

fn endpoint(url: &str) -> Result<Url, Error> {
    url.parse::<Url>().map_err(|error| Error::Url {
        url: url.to_string(),
        reason: error.to_string(),
    })
}

/// alloy's reqwest (0.13, not the workspace's 0.12) with our rustls configuration: built
/// with `rustls-no-provider`, so it brings neither aws-lc-rs nor roots of its own, and an
/// https node is trusted exactly as every other outbound connection is.
fn http_client(tls: &tls::ClientTls) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls.http_config())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|error| Error::Client(error.to_string()))
}

/// How long one JSON-RPC request may take (connecting included) before it fails: a node
/// that stops answering is an error, never a hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Gas added to every estimate, on top of [`GAS_MARGIN_PERCENT`]. MVC checkpoints balances
/// by block timestamp: a transfer estimated within the second of an account's last change
/// updates its checkpoint, but mined a second later it writes a new one (about 20,000 gas
/// more for each of sender and recipient). Unused gas is not paid for.
pub const GAS_MARGIN: u64 = 50_000;

/// Percent added to every gas estimate.
pub const GAS_MARGIN_PERCENT: u64 = 10;

/// The gas limit sent for an estimate of `estimate`.
pub fn padded_gas_limit(estimate: u64) -> u64 {
    estimate
        .saturating_add(estimate / 100 * GAS_MARGIN_PERCENT)
        .saturating_add(GAS_MARGIN)
}

/// A filler that pads the gas limit the estimation filler set in the same pass (it is ready
/// exactly when the estimation filler is about to fill the limit; a limit the caller set is
/// left alone).
#[derive(Clone, Copy, Debug)]
struct GasMargin;

impl TxFiller<Ethereum> for GasMargin {
    type Fillable = ();

    fn status(&self, tx: &TransactionRequest) -> FillerControlFlow {
        if tx.gas.is_some() {
            FillerControlFlow::Finished
        } else {
            FillerControlFlow::Ready
        }
    }

    fn fill_sync(&self, _tx: &mut SendableTx<Ethereum>) {}

    async fn prepare<P: Provider<Ethereum>>(
        &self,
        _provider: &P,
        _tx: &TransactionRequest,
    ) -> alloy::transports::TransportResult<()> {
        Ok(())
    }

    async fn fill(
        &self,
        _fillable: (),
        mut tx: SendableTx<Ethereum>,
    ) -> alloy::transports::TransportResult<SendableTx<Ethereum>> {
        if let Some(builder) = tx.as_mut_builder()
            && let Some(estimate) = builder.gas
        {
            builder.gas = Some(padded_gas_limit(estimate));
        }
        Ok(tx)
    }
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
