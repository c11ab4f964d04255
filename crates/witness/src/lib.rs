//! A witness node: an independent party (a partner, an auditor) that follows the ledger's
//! public block feed, replays every block with the checks of recovery, and co-signs for the
//! Ethereum anchor only the checkpoints its own replay produced (docs/chain.md, "Witnesses").
//!
//! The anchor contract accepts a checkpoint once `threshold` authorities signed it, so the
//! server alone cannot anchor a history the witnesses did not see. A witness therefore
//! refuses, with a typed [`Refusal`] and without posting anything, when:
//!
//! - a block does not replay (tampered, reordered, badly signed): [`Refusal::BadBlock`];
//! - after a restart, its replay no longer holds the checkpoint it co-signed last (the
//!   journal was rewritten or cut short): [`Refusal::RewrittenHistory`];
//! - the server proposes a checkpoint its replay does not produce, or the chain holds one
//!   that differs from its log (the server shows different histories to different parties):
//!   [`Refusal::SplitView`];
//! - the server names another anchor contract or chain than the one it was told to trust:
//!   [`Refusal::WrongAnchor`].
//!
//! A witness only moves forward: the checkpoint it co-signed last is written to its state
//! file (atomically) before the signature leaves, and nothing below it is signed again.
//! Consistency between two co-signed checkpoints needs no proof: both are in its own replay.
//!
//! Layout: [`history`] (the replayed log and the tree size of every block), [`checks`] (the
//! pure decisions, unit-tested on real blocks), [`state`] and [`keyfile`] (the two local
//! files), [`client`] (the server's JSON routes), [`onchain`] (anchored checkpoints, also for
//! `mileverse verify`), [`node`] (the polling [`Witness`]).

pub mod checks;
pub mod client;
pub mod history;
pub mod keyfile;
pub mod node;
pub mod onchain;
pub mod state;

pub use checks::{Decision, check_anchored, check_cosigned, decide};
pub use history::{History, SparseHistory, WitnessLog};
pub use node::{ChainOptions, PollReport, ProposalOutcome, Witness, WitnessConfig};
pub use ports::chain::{AnchorCheckpoint, AnchorDomain, AnchoredCheckpoint};
pub use state::WitnessState;

use gateways::follow::FollowError;
use serde_json::{Value, json};

/// Why a witness will not co-sign: evidence that the server misbehaves. A refusal is final
/// for the running witness; a person must look before it is started again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A block of the feed does not replay: tampered, out of order, or badly signed.
    #[error("block {height} does not replay: {reason}")]
    BadBlock { height: u64, reason: String },
    /// The journal no longer holds the checkpoint this witness co-signed last.
    #[error("history rewritten at block {height}: {detail}")]
    RewrittenHistory { height: u64, detail: String },
    /// A checkpoint proposed by the server or anchored on chain that this witness's replay
    /// does not produce.
    #[error("split view at block {height}: {detail}")]
    SplitView { height: u64, detail: String },
    /// The server asks for signatures for another anchor contract or chain than configured.
    #[error("wrong anchor: {detail}")]
    WrongAnchor { detail: String },
}

impl Refusal {
    /// A stable name for reports and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::BadBlock { .. } => "bad-block",
            Refusal::RewrittenHistory { .. } => "rewritten-history",
            Refusal::SplitView { .. } => "split-view",
            Refusal::WrongAnchor { .. } => "wrong-anchor",
        }
    }

    /// The block the refusal is about, where there is one.
    pub fn height(&self) -> Option<u64> {
        match self {
            Refusal::BadBlock { height, .. }
            | Refusal::RewrittenHistory { height, .. }
            | Refusal::SplitView { height, .. } => Some(*height),
            Refusal::WrongAnchor { .. } => None,
        }
    }

    /// What a person reads: `{"kind", "height", "detail"}`.
    pub fn report(&self) -> Value {
        let detail = match self {
            Refusal::BadBlock { reason, .. } => reason,
            Refusal::RewrittenHistory { detail, .. }
            | Refusal::SplitView { detail, .. }
            | Refusal::WrongAnchor { detail } => detail,
        };
        json!({ "kind": self.kind(), "height": self.height(), "detail": detail })
    }
}

/// What can stop a witness.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The server misbehaves; nothing was signed.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The signing key file is missing, unsafe or malformed.
    #[error("key file {path}: {reason}")]
    Key { path: String, reason: String },
    /// The state file cannot be read or written.
    #[error("state file {path}: {reason}")]
    State { path: String, reason: String },
    /// Options that contradict each other or what is pinned.
    #[error("configuration: {0}")]
    Config(String),
    /// The block feed failed (unreachable, busy, or a page that does not decode).
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// A request to the server could not be made or timed out.
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The server answered with an error (`problem` is the type's last segment).
    #[error("{url} answered HTTP {status} ({problem}): {detail}")]
    Server {
        url: String,
        status: u16,
        problem: String,
        detail: String,
    },
    /// The server's answer is not what its contract says.
    #[error("{url} answered something unreadable: {reason}")]
    Malformed { url: String, reason: String },
    /// The Ethereum node failed or timed out.
    #[error("chain: {0}")]
    Chain(String),
    /// `--once` could not settle the server's proposal (it kept moving or stayed ahead).
    #[error("the proposal did not settle: {0}")]
    Unsettled(String),
}

impl WitnessError {
    /// Errors of the outside world, worth another poll; the others need a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WitnessError::Follow(_)
                | WitnessError::Transport { .. }
                | WitnessError::Server { .. }
                | WitnessError::Malformed { .. }
                | WitnessError::Chain(_)
                | WitnessError::Unsettled(_)
        )
    }
}

/// `0x`-less lowercase hex of a root, as the server's JSON writes it.
pub(crate) fn hex32(bytes: &[u8; 32]) -> String {
    hex::encode(bytes)
}

/// 32 bytes from 64 hex digits (an optional `0x` is accepted).
pub(crate) fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(text).ok()?.try_into().ok()
}
