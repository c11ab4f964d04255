//! The witness's decisions, as pure functions of its replayed log: no IO, so each one is
//! tested on real blocks of a real ledger (crates/witness/tests/checks.rs).

use ports::chain::{AnchorCheckpoint, AnchoredCheckpoint};

use crate::history::{History, WitnessLog};
use crate::{Refusal, hex32};

/// What to do with the server's proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A newer checkpoint of this witness's own replay: record it, then sign it.
    Sign,
    /// The checkpoint co-signed last, proposed again (the server may have lost the
    /// signature, or the witness stopped between recording and posting): sign it again.
    SignAgain,
    /// A block not replayed yet: read on first.
    NotYet,
    /// Older than the checkpoint co-signed last: never signed (a witness only moves forward).
    Stale,
}

/// Whether the replay still holds `last`, the checkpoint co-signed last: `Ok(true)` once
/// it does, `Ok(false)` while the replay has not reached it. After a restart this is what
/// catches a rewritten journal (a different tree at that block) or a cut one (`at_end`: the
/// feed ended before reaching it).
pub fn check_cosigned(
    log: &WitnessLog,
    last: &AnchorCheckpoint,
    at_end: bool,
) -> Result<bool, Refusal> {
    let rewritten = |detail: String| Refusal::RewrittenHistory {
        height: last.height,
        detail,
    };
    if last.height >= log.block_count() {
        if !at_end {
            return Ok(false);
        }
        return Err(rewritten(format!(
            "the journal ends with {} blocks, but this witness co-signed block {} ({})",
            log.block_count(),
            last.height,
            describe(last)
        )));
    }
    match log.signed_checkpoint(last.height) {
        Some(ours) if ours == *last => Ok(true),
        Some(ours) => Err(rewritten(format!(
            "co-signed {}, the journal now has {}",
            describe(last),
            describe(&ours)
        ))),
        None => Err(rewritten(format!(
            "co-signed {}, the operator no longer signs that block",
            describe(last)
        ))),
    }
}

/// What to do with `proposal`, given the replay and the checkpoint co-signed last (which
/// the caller has confirmed with [`check_cosigned`]). A proposal at a replayed block must
/// be that block's signed checkpoint, or the server shows the witness one history and
/// wants another anchored.
pub fn decide(
    log: &WitnessLog,
    proposal: &AnchorCheckpoint,
    last: Option<&AnchorCheckpoint>,
) -> Result<Decision, Refusal> {
    if proposal.height >= log.block_count() {
        return Ok(Decision::NotYet);
    }
    let split = |detail: String| Refusal::SplitView {
        height: proposal.height,
        detail,
    };
    let Some(ours) = log.signed_checkpoint(proposal.height) else {
        return Err(split(format!(
            "the server proposes {}, but the operator did not sign that block in the feed",
            describe(proposal)
        )));
    };
    if ours != *proposal {
        return Err(split(format!(
            "the server proposes {}, the feed replays to {}",
            describe(proposal),
            describe(&ours)
        )));
    }
    // Both checkpoints are in this one replay, so the later one extends the earlier one:
    // comparing heights is all "consistent and moving forward" needs.
    Ok(match last {
        Some(last) if proposal.height < last.height => Decision::Stale,
        Some(last) if proposal.height == last.height => Decision::SignAgain,
        _ => Decision::Sign,
    })
}

/// Checks anchored checkpoints, oldest first, against `history`: each must name a block
/// of it with the same tree size, and the log's root at that size must be the anchored
/// root. Stops at the first checkpoint beyond the history (not replayed yet, or missing from
/// a store) and returns how many were checked; a mismatch is a split view.
pub fn check_anchored(
    history: &impl History,
    anchored: &[AnchoredCheckpoint],
) -> Result<usize, Refusal> {
    for (checked, anchored) in anchored.iter().enumerate() {
        let checkpoint = &anchored.checkpoint;
        let Some(tree_size) = history.tree_size_at(checkpoint.height) else {
            return Ok(checked);
        };
        let ours = AnchorCheckpoint {
            height: checkpoint.height,
            tree_size,
            root: history.root_at(tree_size).unwrap_or([0; 32]),
        };
        if ours != *checkpoint {
            return Err(Refusal::SplitView {
                height: checkpoint.height,
                detail: format!(
                    "anchored checkpoint #{} is {}, the log has {}",
                    anchored.index,
                    describe(checkpoint),
                    describe(&ours)
                ),
            });
        }
    }
    Ok(anchored.len())
}

/// `block 12 (tree size 340, root ab…)`, for reports.
pub fn describe(checkpoint: &AnchorCheckpoint) -> String {
    format!(
        "block {} (tree size {}, root {})",
        checkpoint.height,
        checkpoint.tree_size,
        hex32(&checkpoint.root)
    )
}
