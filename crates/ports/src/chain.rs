//! The platform's view of Ethereum: the anchor contract that fixes ledger checkpoints once
//! enough authorities (witness nodes) co-signed them, the conversion bridge that releases
//! MVC for MVP, and the token figures of the economy view. The real adapter (alloy, JSON-RPC)
//! is `chain::gateway::EthereumGateway`; this crate knows no Ethereum library, and the whole
//! platform runs with no chain configured (`Platform::chain` is then `None`).
//!
//! Addresses are 20 bytes, hashes 32, signatures 65 (`r ‖ s ‖ v`, v = 27 or 28), MVC amounts
//! are `u128` in wei (10^-18 MVC; the cap, 3·10^27 wei, fits with room to spare).

use crate::gateway::BoxFuture;

/// An Ethereum address.
pub type EthAddress = [u8; 20];

/// The EIP-712 domain the authorities sign checkpoints in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchorDomain {
    pub chain_id: u64,
    pub anchor: EthAddress,
}

/// A ledger checkpoint as the anchor contract stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnchorCheckpoint {
    pub height: u64,
    pub tree_size: u64,
    pub root: [u8; 32],
}

/// Who may co-sign, and how many must.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorAuthorities {
    pub authorities: Vec<EthAddress>,
    pub threshold: u64,
}

/// A checkpoint the anchor contract holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchoredCheckpoint {
    /// Its position in the contract's list (0 = first anchored).
    pub index: u64,
    pub checkpoint: AnchorCheckpoint,
    /// The block timestamp of the anchoring transaction (Unix seconds).
    pub anchored_at_s: u64,
}

/// A confirmed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTx {
    pub tx_hash: [u8; 32],
    pub block_number: u64,
    pub gas_used: u64,
}

/// A conversion's release of MVC, as the bridge contract records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseState {
    /// The bridge has never seen this conversion id.
    Unknown,
    /// Released `amount_wei` to `to`, in a block with at least the configured number of
    /// confirmations (a release seen in fewer is reported as `Unknown` until deep enough).
    Released {
        to: EthAddress,
        amount_wei: u128,
        block_number: u64,
    },
    /// Cancelled before any release: no release of this id can ever happen. Final.
    Cancelled,
}

/// Supply figures of MVC for the token economy view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TokenFigures {
    /// Total supply (the cap, since all is minted at deployment).
    pub total_supply_wei: u128,
    /// Total supply less the balances of the allocation treasuries, vesting wallets, the
    /// reward distributor and the bridge: what holders outside the project hold.
    pub circulating_wei: u128,
    /// MVC the bridge still holds for conversions.
    pub bridge_balance_wei: u128,
    /// MVC released by the bridge so far.
    pub released_wei: u128,
    /// Quarters funded in the reward distributor.
    pub reward_quarters: u64,
    /// Rewards claimed over every quarter.
    pub rewards_claimed_wei: u128,
}

/// Why a chain call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached, timed out, or the transaction's fate is not known yet:
    /// the caller must find out (a release by [`ChainGateway::release_state`]) and retry.
    #[error("the chain is unavailable: {0}")]
    Unavailable(String),
    /// The contract refused (a revert, before or after sending): definitive for this call.
    #[error("the contract refused: {0}")]
    Rejected(String),
    /// A signature that is malformed or recovers to no address.
    #[error("bad signature: {0}")]
    BadSignature(String),
}

/// Ethereum, as the platform uses it. Transactions are sent from the platform's own key
/// (the anchor submitter and the bridge operator) and waited for until they have the
/// configured number of confirmations.
pub trait ChainGateway: Send + Sync + 'static {
    /// The anchor's EIP-712 domain (fixed when the gateway is made).
    fn anchor_domain(&self) -> AnchorDomain;

    /// The address whose key signed `checkpoint` in the anchor's domain (pure crypto).
    fn recover_checkpoint_signer(
        &self,
        checkpoint: &AnchorCheckpoint,
        signature: &[u8; 65],
    ) -> Result<EthAddress, ChainError>;

    /// The address whose key made the EIP-191 (`personal_sign`) `signature` over `message`
    /// (pure crypto): how a member proves an address is theirs.
    fn recover_message_signer(
        &self,
        message: &[u8],
        signature: &[u8; 65],
    ) -> Result<EthAddress, ChainError>;

    /// The anchor's authorities and threshold, as the contract has them now.
    fn authorities(&self) -> BoxFuture<'_, Result<AnchorAuthorities, ChainError>>;

    /// Every anchored checkpoint, oldest first (at most `limit` from `from_index` on).
    fn anchored(
        &self,
        from_index: u64,
        limit: u64,
    ) -> BoxFuture<'_, Result<Vec<AnchoredCheckpoint>, ChainError>>;

    /// Submits `checkpoint` with these signatures (any order; the gateway sorts them) and
    /// waits for its confirmations.
    fn anchor<'a>(
        &'a self,
        checkpoint: &'a AnchorCheckpoint,
        signatures: &'a [[u8; 65]],
    ) -> BoxFuture<'a, Result<ChainTx, ChainError>>;

    /// Releases `amount_wei` MVC from the bridge to `to` for conversion `conversion_id`, at
    /// most once per id (the bridge refuses a second release, and a cancelled id), and waits
    /// for its confirmations. A release already made for this id is `Ok` with that
    /// release's block. `Unavailable` means the outcome is unknown: ask `release_state`.
    fn release<'a>(
        &'a self,
        conversion_id: [u8; 32],
        to: EthAddress,
        amount_wei: u128,
    ) -> BoxFuture<'a, Result<ChainTx, ChainError>>;

    /// Cancels conversion `conversion_id` at the bridge so it can never be released
    /// (idempotent; refused with `Rejected` if it was released) and waits for confirmations.
    fn cancel_release(&self, conversion_id: [u8; 32]) -> BoxFuture<'_, Result<(), ChainError>>;

    /// What the bridge says about a conversion id.
    fn release_state(
        &self,
        conversion_id: [u8; 32],
    ) -> BoxFuture<'_, Result<ReleaseState, ChainError>>;

    /// Supply figures for the token economy view.
    fn token_figures(&self) -> BoxFuture<'_, Result<TokenFigures, ChainError>>;
}
