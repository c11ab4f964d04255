//! The anchoring context's errors: co-signatures of proposed checkpoints.

/// Why a co-signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnchoringError {
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("{0} is not an authority of the anchor")]
    NotAnAuthority(String),
    #[error(
        "this checkpoint is not one the server proposed for anchoring (stale or different root)"
    )]
    NotTheProposal,
}
