//! [`EthereumGateway`]: the platform's [`ChainGateway`] over JSON-RPC, for one deployment
//! ([`DeploymentFile`]) and one key (the anchor submitter and the bridge operator).
//!
//! - **Confirmations.** A transaction counts once its block has `confirmations` blocks on
//!   top of it, itself included: receipt block + confirmations − 1 ≤ latest block. The
//!   gateway polls every [`POLL_INTERVAL`] for at most [`RECEIPT_TIMEOUT`]; with one
//!   confirmation on an automining dev node the first poll finds it.
//! - **Errors.** A node that cannot be reached, times out or refuses a request for a reason
//!   other than a revert (nonce, fees, balance for gas) is [`ChainError::Unavailable`]: the
//!   outcome is unknown and the call may be retried. A revert, at gas estimation or mined,
//!   is [`ChainError::Rejected`], named by the contract's custom error where it can be
//!   decoded (`AlreadyReleased { id: … }`).
//! - **Exactly once.** A release is at most once per conversion id because the bridge
//!   refuses a second one; the gateway reads `releaseOf` first and answers a release
//!   already made with that release's transaction, so a retry after `Unavailable` is safe.
//! - **Observed.** Every call to the node through [`ChainGateway`] is timed into the
//!   histogram `ports::call_metrics::CHAIN_CALL_DURATION_SECONDS`, labelled with its
//!   operation ([`operations`]) and outcome: `ok`, `refused` ([`ChainError::Rejected`]) or
//!   `error` (the node unavailable or slow: the gateway cannot tell a timeout apart).
//! - **Bounded.** Every JSON-RPC request times out after [`crate::REQUEST_TIMEOUT`], every
//!   wait after [`RECEIPT_TIMEOUT`]; loops are bounded ([`REWARD_QUARTERS_MAX`],
//!   [`anchor::ANCHORED_PAGE_MAX`]).

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use alloy::eips::BlockId;
use alloy::primitives::Bytes;
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolEvent, SolInterface};
use alloy::transports::{RpcError, TransportError};
use ports::call_metrics::{CHAIN_CALL_DURATION_SECONDS, outcome};
use ports::chain::{
    AnchorAuthorities, AnchorCheckpoint, AnchorDomain, AnchoredCheckpoint, ChainError,
    ChainGateway, ChainTx, EthAddress, ReleaseState, TokenFigures,
};
use ports::gateway::BoxFuture;

use crate::anchor::{self, AuthoritySignature, Checkpoint};
use crate::contracts::{Anchor, ConversionBridge, MVC, RewardDistributor};
use crate::{
    Address, B256, DeploymentFile, DynProvider, Error, PrivateKeySigner, RECEIPT_TIMEOUT, U256,
    connect, padded_gas_limit, wallet,
};

/// How often the gateway asks for a receipt or the latest block while it waits.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Most reward quarters summed by [`ChainGateway::token_figures`] (a century of quarters).
pub const REWARD_QUARTERS_MAX: u64 = 400;

/// The bridge's `State` enum, as `releaseOf` returns it.
const STATE_RELEASED: u8 = 1;
const STATE_CANCELLED: u8 = 2;

/// What [`EthereumGateway::connect`] needs.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The node's JSON-RPC endpoint (`http://…` or `https://…`).
    pub rpc_url: String,
    /// Whom an `https://` endpoint may be (the system's roots and the operator's CA file).
    pub tls: tls::ClientTls,
    /// The platform's key: submits checkpoints, holds the bridge's OPERATOR_ROLE, pays gas.
    pub key: PrivateKeySigner,
    pub deployment: DeploymentFile,
    /// Blocks a transaction needs, its own included, before it counts (0 is taken as 1).
    pub confirmations: u64,
}

impl Debug for GatewayConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GatewayConfig")
            .field("rpc_url", &self.rpc_url)
            .field("tls", &self.tls)
            .field("key", &self.key.address())
            .field("deployment", &self.deployment)
            .field("confirmations", &self.confirmations)
            .finish()
    }
}

/// The platform's gateway to Ethereum (see the module documentation).
pub struct EthereumGateway {
    provider: DynProvider,
    sender: Address,
    deployment: DeploymentFile,
    confirmations: u64,
    /// Held while a transaction is sent: its nonce is read from the node's pending count,
    /// so two sends at once would take the same nonce.
    sending: tokio::sync::Mutex<()>,
}

impl Debug for EthereumGateway {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EthereumGateway")
            .field("sender", &self.sender)
            .field("deployment", &self.deployment)
            .field("confirmations", &self.confirmations)
            .finish()
    }
}

impl EthereumGateway {
    /// Connects to the node and checks that it serves the deployment's chain.
    pub async fn connect(config: GatewayConfig) -> Result<EthereumGateway, Error> {
        let sender = config.key.address();
        let provider = connect(&config.rpc_url, &[config.key], &config.tls)?;
        let actual = provider.get_chain_id().await?;
        if actual != config.deployment.chain_id {
            return Err(Error::WrongChain {
                expected: config.deployment.chain_id,
                actual,
            });
        }
        Ok(EthereumGateway {
            provider,
            sender,
            deployment: config.deployment,
            confirmations: config.confirmations.max(1),
            sending: tokio::sync::Mutex::new(()),
        })
    }

    /// The address transactions are sent from.
    pub fn sender(&self) -> Address {
        self.sender
    }

    pub fn deployment(&self) -> &DeploymentFile {
        &self.deployment
    }

    fn bridge(&self) -> ConversionBridge::ConversionBridgeInstance<&DynProvider> {
        ConversionBridge::new(self.deployment.bridge, &self.provider)
    }

    fn anchor_contract(&self) -> Anchor::AnchorInstance<&DynProvider> {
        Anchor::new(self.deployment.anchor, &self.provider)
    }

    async fn latest_block(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(|error| transport_error(&error))
    }

    /// Whether a transaction in `block` has its confirmations.
    async fn is_deep(&self, block: u64) -> Result<bool, ChainError> {
        let latest = self.latest_block().await?;
        Ok(block.saturating_add(self.confirmations - 1) <= latest)
    }

    /// Waits until `block` is deep enough (bounded by [`RECEIPT_TIMEOUT`]).
    async fn wait_until_deep(&self, block: u64) -> Result<(), ChainError> {
        let deadline = Instant::now() + RECEIPT_TIMEOUT;
        while !self.is_deep(block).await? {
            if Instant::now() >= deadline {
                return Err(ChainError::Unavailable(format!(
                    "block {block} has not had {} confirmations within {RECEIPT_TIMEOUT:?}",
                    self.confirmations
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Ok(())
    }

    /// Waits for `hash`'s receipt in a block deep enough (bounded by [`RECEIPT_TIMEOUT`]).
    /// The receipt is asked again at every poll, so one dropped by a reorganization is
    /// waited for again.
    async fn wait_for_receipt(&self, hash: B256) -> Result<TransactionReceipt, ChainError> {
        let deadline = Instant::now() + RECEIPT_TIMEOUT;
        loop {
            let receipt = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|error| transport_error(&error))?;
            if let Some(receipt) = receipt {
                let block = receipt.block_number.unwrap_or(u64::MAX);
                if self.is_deep(block).await? {
                    return Ok(receipt);
                }
            }
            if Instant::now() >= deadline {
                return Err(ChainError::Unavailable(format!(
                    "transaction {hash} not confirmed within {RECEIPT_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Sends `request` from the gateway's key and waits for its confirmations; a revert
    /// (at estimation or mined) is `Rejected`. A transaction that used all its gas ran out
    /// of it (the estimate was too low for the block it landed in): `Unavailable`, so it is
    /// tried again rather than given up.
    async fn transact(&self, request: TransactionRequest) -> Result<ChainTx, ChainError> {
        let mut request = request.from(self.sender);
        let estimate = self.provider.estimate_gas(request.clone()).await;
        let gas_limit = padded_gas_limit(estimate.map_err(|error| transport_error(&error))?);
        request.gas = Some(gas_limit);
        let pending = {
            let _sending = self.sending.lock().await;
            self.provider
                .send_transaction(request.clone())
                .await
                .map_err(|error| transport_error(&error))?
        };
        let hash = *pending.tx_hash();
        let receipt = self.wait_for_receipt(hash).await?;
        if receipt.status() {
            return Ok(chain_tx(&receipt));
        }
        if receipt.gas_used >= gas_limit {
            return Err(ChainError::Unavailable(format!(
                "transaction {hash} ran out of gas ({gas_limit}); try again"
            )));
        }
        let reason = self.replay_revert(request, receipt.block_number).await;
        Err(ChainError::Rejected(format!(
            "transaction {hash} reverted: {reason}"
        )))
    }

    /// Why a mined transaction reverted, as far as replaying it on the state after its
    /// block tells (a release that lost a race replays as `AlreadyReleased`).
    async fn replay_revert(&self, request: TransactionRequest, block: Option<u64>) -> String {
        let block = block.map_or(BlockId::latest(), BlockId::number);
        match self.provider.call(request).block(block).await {
            Ok(_) => "no reason (the call succeeds on the state after its block)".to_string(),
            Err(error) => match transport_error(&error) {
                ChainError::Rejected(reason) => reason,
                other => format!("no reason ({other})"),
            },
        }
    }

    /// The bridge's record of `id` as (state, to, amount, block number).
    async fn release_record(
        &self,
        id: B256,
    ) -> Result<ConversionBridge::releaseOfReturn, ChainError> {
        self.bridge()
            .releaseOf(id)
            .call()
            .await
            .map_err(|error| contract_error(&error))
    }

    /// The release of `id` once it is deep enough, if the bridge made one.
    async fn existing_release(&self, id: B256) -> Result<Option<ChainTx>, ChainError> {
        let record = self.release_record(id).await?;
        if record.state != STATE_RELEASED {
            return Ok(None);
        }
        self.wait_until_deep(record.blockNumber).await?;
        Ok(Some(
            self.release_transaction(id, record.blockNumber).await?,
        ))
    }

    /// The transaction that released `id` in `block`, found by its `Released` event.
    async fn release_transaction(&self, id: B256, block: u64) -> Result<ChainTx, ChainError> {
        let filter = Filter::new()
            .address(self.deployment.bridge)
            .event_signature(ConversionBridge::Released::SIGNATURE_HASH)
            .topic1(id)
            .from_block(block)
            .to_block(block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|error| transport_error(&error))?;
        let Some(hash) = logs.first().and_then(|log| log.transaction_hash) else {
            return Err(ChainError::Unavailable(format!(
                "the release of {id} in block {block} has no Released event at the node"
            )));
        };
        let receipt = self
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|error| transport_error(&error))?;
        Ok(ChainTx {
            tx_hash: hash.0,
            block_number: block,
            gas_used: receipt.map_or(0, |receipt| receipt.gas_used),
        })
    }

    async fn release_once(
        &self,
        id: B256,
        to: Address,
        amount: U256,
    ) -> Result<ChainTx, ChainError> {
        if let Some(done) = self.existing_release(id).await? {
            return Ok(done);
        }
        let request = self
            .bridge()
            .release(id, to, amount)
            .into_transaction_request();
        match self.transact(request).await {
            Err(ChainError::Rejected(reason)) => match self.existing_release(id).await? {
                // Released in between (a concurrent or earlier attempt): that one stands.
                Some(done) => Ok(done),
                None => Err(ChainError::Rejected(reason)),
            },
            outcome => outcome,
        }
    }

    async fn cancel_once(&self, id: B256) -> Result<(), ChainError> {
        let record = self.release_record(id).await?;
        match record.state {
            STATE_RELEASED => return Err(already_released(id)),
            STATE_CANCELLED => return Ok(()),
            _ => {}
        }
        let request = self.bridge().cancel(id).into_transaction_request();
        match self.transact(request).await {
            Ok(_) => Ok(()),
            Err(ChainError::Rejected(reason)) => {
                let record = self.release_record(id).await?;
                match record.state {
                    STATE_CANCELLED => Ok(()),
                    _ => Err(ChainError::Rejected(reason)),
                }
            }
            Err(other) => Err(other),
        }
    }

    async fn state_of(&self, id: B256) -> Result<ReleaseState, ChainError> {
        let record = self.release_record(id).await?;
        match record.state {
            STATE_CANCELLED => Ok(ReleaseState::Cancelled),
            STATE_RELEASED if self.is_deep(record.blockNumber).await? => {
                Ok(ReleaseState::Released {
                    to: record.to.into_array(),
                    amount_wei: to_u128(record.amount),
                    block_number: record.blockNumber,
                })
            }
            _ => Ok(ReleaseState::Unknown),
        }
    }

    async fn submit_checkpoint(
        &self,
        checkpoint: &AnchorCheckpoint,
        signatures: &[[u8; 65]],
    ) -> Result<ChainTx, ChainError> {
        let checkpoint = from_platform(checkpoint);
        let hash = anchor::signing_hash(
            &checkpoint,
            self.deployment.anchor,
            self.deployment.chain_id,
        );
        let recovered = signatures
            .iter()
            .map(|bytes| AuthoritySignature::recover(*bytes, hash))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ChainError::BadSignature(error.to_string()))?;
        let ordered: Vec<Bytes> = anchor::in_signer_order(recovered)
            .iter()
            .map(|signature| Bytes::copy_from_slice(&signature.bytes))
            .collect();
        let request = self
            .anchor_contract()
            .anchor(
                checkpoint.height,
                checkpoint.tree_size,
                checkpoint.root,
                ordered,
            )
            .into_transaction_request();
        self.transact(request).await
    }

    async fn read_authorities(&self) -> Result<AnchorAuthorities, ChainError> {
        let block = BlockId::number(self.latest_block().await?);
        let contract = self.anchor_contract();
        let authorities = contract.authorities().block(block).call().await;
        let authorities = authorities.map_err(|error| contract_error(&error))?;
        let threshold = contract.threshold().block(block).call().await;
        let threshold = threshold.map_err(|error| contract_error(&error))?;
        Ok(AnchorAuthorities {
            authorities: authorities
                .iter()
                .map(|address| address.into_array())
                .collect(),
            threshold: threshold.saturating_to(),
        })
    }

    async fn read_anchored(
        &self,
        from_index: u64,
        limit: u64,
    ) -> Result<Vec<AnchoredCheckpoint>, ChainError> {
        let anchored = anchor::anchored(&self.provider, self.deployment.anchor, from_index, limit)
            .await
            .map_err(classify)?;
        Ok(anchored.into_iter().map(AnchoredCheckpoint::from).collect())
    }

    /// The supply figures, every one read at the same block so that they add up.
    async fn read_token_figures(&self) -> Result<TokenFigures, ChainError> {
        let block = BlockId::number(self.latest_block().await?);
        let token = MVC::new(self.deployment.token, &self.provider);
        let total_supply = token.totalSupply().block(block).call().await;
        let total_supply = total_supply.map_err(|error| contract_error(&error))?;
        let deployment = &self.deployment;
        let mut held = U256::ZERO;
        let mut bridge_balance = U256::ZERO;
        for holder in non_circulating(deployment) {
            let balance = token.balanceOf(holder).block(block).call().await;
            let balance = balance.map_err(|error| contract_error(&error))?;
            held = held.saturating_add(balance);
            if holder == deployment.bridge {
                bridge_balance = balance;
            }
        }
        let released = self.bridge().totalReleased().block(block).call().await;
        let released = released.map_err(|error| contract_error(&error))?;
        let (reward_quarters, rewards_claimed) = self.read_rewards(block).await?;
        Ok(TokenFigures {
            total_supply_wei: to_u128(total_supply),
            circulating_wei: to_u128(total_supply.saturating_sub(held)),
            bridge_balance_wei: to_u128(bridge_balance),
            released_wei: to_u128(released),
            reward_quarters,
            rewards_claimed_wei: to_u128(rewards_claimed),
        })
    }

    /// The number of funded quarters and the sum of their `claimed` (which, for a quarter
    /// swept after its claim window, counts the swept rest too).
    async fn read_rewards(&self, block: BlockId) -> Result<(u64, U256), ChainError> {
        let rewards = RewardDistributor::new(self.deployment.rewards, &self.provider);
        let count = rewards.quarterCount().block(block).call().await;
        let count: u64 = count
            .map_err(|error| contract_error(&error))?
            .saturating_to();
        let mut claimed = U256::ZERO;
        for quarter in 0..count.min(REWARD_QUARTERS_MAX) {
            let record = rewards
                .quarterOf(U256::from(quarter))
                .block(block)
                .call()
                .await;
            let record = record.map_err(|error| contract_error(&error))?;
            claimed = claimed.saturating_add(record.claimed);
        }
        Ok((count, claimed))
    }
}

impl ChainGateway for EthereumGateway {
    fn anchor_domain(&self) -> AnchorDomain {
        AnchorDomain {
            chain_id: self.deployment.chain_id,
            anchor: self.deployment.anchor.into_array(),
        }
    }

    fn recover_checkpoint_signer(
        &self,
        checkpoint: &AnchorCheckpoint,
        signature: &[u8; 65],
    ) -> Result<EthAddress, ChainError> {
        let hash = anchor::signing_hash(
            &from_platform(checkpoint),
            self.deployment.anchor,
            self.deployment.chain_id,
        );
        AuthoritySignature::recover(*signature, hash)
            .map(|recovered| recovered.signer.into_array())
            .map_err(|error| ChainError::BadSignature(error.to_string()))
    }

    fn recover_message_signer(
        &self,
        message: &[u8],
        signature: &[u8; 65],
    ) -> Result<EthAddress, ChainError> {
        wallet::recover_message_signer(message, signature)
            .map(Address::into_array)
            .map_err(|error| ChainError::BadSignature(error.to_string()))
    }

    fn authorities(&self) -> BoxFuture<'_, Result<AnchorAuthorities, ChainError>> {
        Box::pin(observed(operations::AUTHORITIES, self.read_authorities()))
    }

    fn anchored(
        &self,
        from_index: u64,
        limit: u64,
    ) -> BoxFuture<'_, Result<Vec<AnchoredCheckpoint>, ChainError>> {
        Box::pin(observed(
            operations::ANCHORED,
            self.read_anchored(from_index, limit),
        ))
    }

    fn anchor<'a>(
        &'a self,
        checkpoint: &'a AnchorCheckpoint,
        signatures: &'a [[u8; 65]],
    ) -> BoxFuture<'a, Result<ChainTx, ChainError>> {
        Box::pin(observed(
            operations::ANCHOR,
            self.submit_checkpoint(checkpoint, signatures),
        ))
    }

    fn release<'a>(
        &'a self,
        conversion_id: [u8; 32],
        to: EthAddress,
        amount_wei: u128,
    ) -> BoxFuture<'a, Result<ChainTx, ChainError>> {
        Box::pin(observed(
            operations::RELEASE,
            self.release_once(
                B256::from(conversion_id),
                Address::from(to),
                U256::from(amount_wei),
            ),
        ))
    }

    fn cancel_release(&self, conversion_id: [u8; 32]) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(observed(
            operations::CANCEL_RELEASE,
            self.cancel_once(B256::from(conversion_id)),
        ))
    }

    fn release_state(
        &self,
        conversion_id: [u8; 32],
    ) -> BoxFuture<'_, Result<ReleaseState, ChainError>> {
        Box::pin(observed(
            operations::RELEASE_STATE,
            self.state_of(B256::from(conversion_id)),
        ))
    }

    fn token_figures(&self) -> BoxFuture<'_, Result<TokenFigures, ChainError>> {
        Box::pin(observed(
            operations::TOKEN_FIGURES,
            self.read_token_figures(),
        ))
    }
}

/// The `operation` label's values: the [`ChainGateway`] methods that call the node.
pub mod operations {
    pub const AUTHORITIES: &str = "authorities";
    pub const ANCHORED: &str = "anchored";
    pub const ANCHOR: &str = "anchor";
    pub const RELEASE: &str = "release";
    pub const CANCEL_RELEASE: &str = "cancel_release";
    pub const RELEASE_STATE: &str = "release_state";
    pub const TOKEN_FIGURES: &str = "token_figures";
}

/// Runs `call` and records its duration and outcome.
async fn observed<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T, ChainError>>,
) -> Result<T, ChainError> {
    let started = Instant::now();
    let result = call.await;
    let outcome = match &result {
        Ok(_) => outcome::OK,
        Err(ChainError::Rejected(_)) => outcome::REFUSED,
        Err(ChainError::Unavailable(_) | ChainError::BadSignature(_)) => outcome::ERROR,
    };
    metrics::histogram!(
        CHAIN_CALL_DURATION_SECONDS,
        "operation" => operation,
        "outcome" => outcome,
    )
    .record(started.elapsed().as_secs_f64());
    result
}

/// The holders whose MVC does not circulate: the four treasuries, the two vesting
/// wallets, the reward distributor and the bridge (each once, if some coincide).
pub fn non_circulating(deployment: &DeploymentFile) -> Vec<Address> {
    let mut holders = vec![
        deployment.sale,
        deployment.partner,
        deployment.marketing,
        deployment.reserved,
        deployment.team_vesting,
        deployment.advisor_vesting,
        deployment.rewards,
        deployment.bridge,
    ];
    holders.sort();
    holders.dedup();
    holders
}

fn from_platform(checkpoint: &AnchorCheckpoint) -> Checkpoint {
    Checkpoint {
        height: checkpoint.height,
        tree_size: checkpoint.tree_size,
        root: B256::from(checkpoint.root),
    }
}

fn chain_tx(receipt: &TransactionReceipt) -> ChainTx {
    ChainTx {
        tx_hash: receipt.transaction_hash.0,
        block_number: receipt.block_number.unwrap_or_default(),
        gas_used: receipt.gas_used,
    }
}

/// MVC amounts fit in u128 (the cap is 3·10^27 wei); anything larger saturates.
fn to_u128(value: U256) -> u128 {
    value.saturating_to()
}

fn already_released(id: B256) -> ChainError {
    ChainError::Rejected(format!("AlreadyReleased {{ id: {id} }}"))
}

/// A [`crate::Error`] as the platform sees it.
pub fn classify(error: Error) -> ChainError {
    match error {
        Error::Contract(error) => contract_error(&error),
        Error::Rpc(error) => transport_error(&error),
        Error::Reverted(hash) => ChainError::Rejected(format!("transaction {hash} reverted")),
        Error::Signature(reason) => ChainError::BadSignature(reason),
        other => ChainError::Unavailable(other.to_string()),
    }
}

fn contract_error(error: &alloy::contract::Error) -> ChainError {
    match error {
        alloy::contract::Error::TransportError(error) => transport_error(error),
        other => match other.as_revert_data() {
            Some(data) => ChainError::Rejected(revert_reason(&data)),
            None => ChainError::Unavailable(other.to_string()),
        },
    }
}

/// A revert the node reports (with its data, or only as a message) is `Rejected`; any other
/// failure (unreachable, timed out, a refusal about nonce, fees or gas money) is
/// `Unavailable`.
fn transport_error(error: &TransportError) -> ChainError {
    match error {
        RpcError::ErrorResp(payload) => {
            if let Some(data) = payload.as_revert_data() {
                ChainError::Rejected(revert_reason(&data))
            } else if payload.message.contains("revert") {
                ChainError::Rejected(payload.message.to_string())
            } else {
                ChainError::Unavailable(format!("the node refused: {payload}"))
            }
        }
        other => ChainError::Unavailable(other.to_string()),
    }
}

/// A revert's custom error by name and arguments (`AlreadyReleased { id: 0x… }`), from any
/// of the contracts; else its `Error(string)` or `Panic` reason; else its raw data.
pub fn revert_reason(data: &[u8]) -> String {
    decoded::<ConversionBridge::ConversionBridgeErrors>(data)
        .or_else(|| decoded::<Anchor::AnchorErrors>(data))
        .or_else(|| decoded::<RewardDistributor::RewardDistributorErrors>(data))
        .or_else(|| decoded::<MVC::MVCErrors>(data))
        .or_else(|| alloy::sol_types::decode_revert_reason(data))
        .unwrap_or_else(|| format!("revert data 0x{}", alloy::hex::encode(data)))
}

/// `data` decoded as one of `E`'s errors, as `Name { fields }`.
fn decoded<E: SolInterface + Debug>(data: &[u8]) -> Option<String> {
    let error = E::abi_decode(data).ok()?;
    // The enum's Debug is `Name(Name { fields })`: keep the inner part.
    let text = format!("{error:?}");
    let inner = text
        .find('(')
        .filter(|_| text.ends_with(')'))
        .map(|open| text[open + 1..text.len() - 1].to_string());
    Some(inner.unwrap_or(text))
}
