//! The witness's decisions on real journals: what it vouches for, what it refuses and why.
//! Each table row is one situation a witness can meet, built from blocks a real ledger wrote.

mod common;

use common::{checkpoint_of, journal, one_more_unit, operator_public_key, unsigned_at};
use journal::replay::{ReplayOptions, replay_store};
use ports::chain::{AnchorCheckpoint, AnchoredCheckpoint};
use store::BlockRecord;
use witness::{Decision, History, Refusal, WitnessLog, check_anchored, check_cosigned, decide};

/// What a check must answer: a value, or a refusal of this kind.
type Expected<T> = Result<T, &'static str>;

/// A situation for `check_cosigned`: the journal served now, how far it was replayed,
/// whether that is the feed's end, and the verdict.
type CosignedCase = (&'static str, Vec<BlockRecord>, usize, bool, Expected<bool>);

/// A situation for `decide`: the proposal, the checkpoint co-signed last, the verdict.
type ProposalCase = (
    &'static str,
    AnchorCheckpoint,
    Option<AnchorCheckpoint>,
    Expected<Decision>,
);

fn replay(blocks: &[BlockRecord]) -> WitnessLog {
    let mut log = WitnessLog::new(operator_public_key());
    for block in blocks {
        log.apply(block).expect("the journal replays");
    }
    log
}

fn anchored(index: u64, checkpoint: AnchorCheckpoint) -> AnchoredCheckpoint {
    AnchoredCheckpoint {
        index,
        checkpoint,
        anchored_at_s: 1_700_000_000 + index,
    }
}

#[test]
fn every_signed_block_is_a_checkpoint_the_witness_vouches_for() {
    let (_, blocks) = journal(6);
    let log = replay(&blocks);
    assert_eq!(log.block_count(), 7);
    for block in &blocks {
        let height = block.header.height;
        assert_eq!(log.signed_checkpoint(height), Some(checkpoint_of(block)));
        assert_eq!(log.tree_size_at(height), Some(block.header.tree_size));
    }
    assert_eq!(log.signed_head(), Some(checkpoint_of(&blocks[6])));
    assert_eq!(log.signed_checkpoint(7), None, "not replayed");

    // An unsigned block is replayed, sized, but not vouched for.
    let log = replay(&unsigned_at(&blocks, 3));
    assert_eq!(log.signed_checkpoint(3), None);
    assert_eq!(log.tree_size_at(3), Some(blocks[3].header.tree_size));
    assert_eq!(log.signed_checkpoint(4), Some(checkpoint_of(&blocks[4])));
}

#[test]
fn a_block_that_does_not_replay_is_refused_at_its_height() {
    let (_, blocks) = journal(6);
    type Edit = fn(&mut BlockRecord);
    let cases: [(&str, usize, Edit); 7] = [
        ("amount changed", 3, |b| b.transfers[0].amount += 1),
        ("transfer dropped", 2, |b| {
            b.transfers.pop();
        }),
        ("hash flipped", 4, |b| b.hash[0] ^= 1),
        ("signature flipped", 5, |b| b.signature[0] ^= 1),
        ("tree size lies", 1, |b| b.header.tree_size += 1),
        ("root lies", 6, |b| b.header.merkle_root[0] ^= 1),
        ("height skips", 2, |b| b.header.height += 1),
    ];
    for (name, height, edit) in cases {
        let mut tampered = blocks.clone();
        edit(&mut tampered[height]);
        let mut log = WitnessLog::new(operator_public_key());
        let refusal = tampered
            .iter()
            .find_map(|block| log.apply(block).err())
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(
            matches!(&refusal, Refusal::BadBlock { height: h, .. } if *h == height as u64),
            "{name}: {refusal:?}"
        );
        assert_eq!(refusal.kind(), "bad-block");
        assert_eq!(refusal.report()["height"], height as u64, "{name}");
        assert!(
            log.apply(&blocks[height]).is_err(),
            "{name}: a failed replay stays failed"
        );
    }

    // Another operator key: the first signed block is refused.
    let mut log = WitnessLog::new(witness_other_key());
    let refusal = log.apply(&blocks[0]).unwrap_err();
    assert!(
        matches!(refusal, Refusal::BadBlock { height: 0, .. }),
        "{refusal:?}"
    );
}

fn witness_other_key() -> [u8; 32] {
    ledger::checkpoint::OperatorKey::from_seed([9; 32]).public_key()
}

#[test]
fn the_checkpoint_cosigned_last_must_still_be_in_the_journal() {
    let (_, blocks) = journal(8);
    let last = checkpoint_of(&blocks[4]);
    let cases: Vec<CosignedCase> = vec![
        ("the same journal", blocks.clone(), 9, true, Ok(true)),
        ("not reached yet", blocks.clone(), 4, false, Ok(false)),
        (
            "cut short before it",
            blocks.clone(),
            4,
            true,
            Err("rewritten-history"),
        ),
        (
            "rewritten before it, re-signed",
            one_more_unit(&blocks, 2),
            9,
            true,
            Err("rewritten-history"),
        ),
        (
            "rewritten at it, re-signed",
            one_more_unit(&blocks, 4),
            9,
            true,
            Err("rewritten-history"),
        ),
        (
            "rewritten after it only",
            one_more_unit(&blocks, 6),
            9,
            true,
            Ok(true),
        ),
        (
            "no longer signed",
            unsigned_at(&blocks, 4),
            9,
            true,
            Err("rewritten-history"),
        ),
    ];
    for (name, journal, replayed_to, at_end, expected) in cases {
        let log = replay(&journal[..replayed_to]);
        let verdict = check_cosigned(&log, &last, at_end);
        match (expected, verdict) {
            (Ok(expected), Ok(confirmed)) => assert_eq!(confirmed, expected, "{name}"),
            (Err(kind), Err(refusal)) => {
                assert_eq!(refusal.kind(), kind, "{name}");
                assert_eq!(refusal.height(), Some(4), "{name}");
            }
            (expected, verdict) => panic!("{name}: expected {expected:?}, got {verdict:?}"),
        }
    }
}

#[test]
fn a_proposal_is_signed_only_if_the_replay_produces_it_and_it_moves_forward() {
    let (_, blocks) = journal(8);
    let blocks = unsigned_at(&blocks, 6);
    let log = replay(&blocks[..8]);
    let at = |height: usize| checkpoint_of(&blocks[height]);
    let other_root = AnchorCheckpoint {
        root: [0xab; 32],
        ..at(5)
    };
    let other_size = AnchorCheckpoint {
        tree_size: at(5).tree_size + 1,
        ..at(5)
    };
    let last = Some(at(3));
    let cases: Vec<ProposalCase> = vec![
        ("first proposal", at(0), None, Ok(Decision::Sign)),
        ("newer signed block", at(5), last, Ok(Decision::Sign)),
        ("the same again", at(3), last, Ok(Decision::SignAgain)),
        ("older", at(2), last, Ok(Decision::Stale)),
        ("not replayed yet", at(8), last, Ok(Decision::NotYet)),
        ("another root", other_root, last, Err("split-view")),
        ("another tree size", other_size, last, Err("split-view")),
        ("an unsigned block", at(6), last, Err("split-view")),
        (
            "another history at a replayed height",
            checkpoint_of(&one_more_unit(&blocks, 1)[5]),
            last,
            Err("split-view"),
        ),
    ];
    for (name, proposal, last, expected) in cases {
        let verdict = decide(&log, &proposal, last.as_ref());
        match (expected, verdict) {
            (Ok(expected), Ok(decision)) => assert_eq!(decision, expected, "{name}"),
            (Err(kind), Err(refusal)) => {
                assert_eq!(refusal.kind(), kind, "{name}");
                assert_eq!(refusal.height(), Some(proposal.height), "{name}");
            }
            (expected, verdict) => panic!("{name}: expected {expected:?}, got {verdict:?}"),
        }
    }
}

#[test]
fn anchored_checkpoints_must_be_checkpoints_of_the_log() {
    let (_, blocks) = journal(8);
    let log = replay(&blocks[..7]);
    let at = |height: usize| checkpoint_of(&blocks[height]);
    let forked = one_more_unit(&blocks, 3);
    // (situation, anchored list, verdict: how many checked, or the refused index)
    let cases: Vec<(&str, Vec<AnchorCheckpoint>, Result<usize, u64>)> = vec![
        ("none", vec![], Ok(0)),
        ("all in the log", vec![at(1), at(3), at(6)], Ok(3)),
        (
            "the last one not replayed yet",
            vec![at(2), at(5), at(8)],
            Ok(2),
        ),
        (
            "another history",
            vec![at(2), checkpoint_of(&forked[5])],
            Err(5),
        ),
        (
            "a root of another size",
            vec![AnchorCheckpoint {
                tree_size: at(4).tree_size,
                ..at(5)
            }],
            Err(5),
        ),
        (
            "a root the log never had",
            vec![
                at(1),
                AnchorCheckpoint {
                    root: [1; 32],
                    ..at(2)
                },
            ],
            Err(2),
        ),
    ];
    for (name, checkpoints, expected) in cases {
        let list: Vec<AnchoredCheckpoint> = checkpoints
            .into_iter()
            .enumerate()
            .map(|(index, checkpoint)| anchored(index as u64, checkpoint))
            .collect();
        match (expected, check_anchored(&log, &list)) {
            (Ok(expected), Ok(checked)) => assert_eq!(checked, expected, "{name}"),
            (Err(height), Err(refusal)) => {
                assert_eq!(refusal.kind(), "split-view", "{name}");
                assert_eq!(refusal.height(), Some(height), "{name}");
            }
            (expected, verdict) => panic!("{name}: expected {expected:?}, got {verdict:?}"),
        }
    }
}

#[test]
fn verify_compares_anchored_checkpoints_with_the_headers_of_a_replayed_store() {
    let (store, blocks) = journal(5);
    let mut store = store;
    let replayed = replay_store(
        &mut store,
        ReplayOptions {
            operator_public_key: Some(operator_public_key()),
            ..ReplayOptions::default()
        },
    )
    .expect("the store replays");
    let at = |height: usize| checkpoint_of(&blocks[height]);
    let list = vec![anchored(0, at(2)), anchored(1, at(5))];
    let history = witness::onchain::store_history(&mut store, &replayed.log, &list).unwrap();
    assert_eq!(history.tree_sizes.len(), 2);
    assert_eq!(check_anchored(&history, &list), Ok(2));

    // A block the store does not have: checking stops before it.
    let beyond = AnchorCheckpoint {
        height: 9,
        tree_size: 40,
        root: [0; 32],
    };
    let list = vec![anchored(0, at(2)), anchored(1, beyond)];
    let history = witness::onchain::store_history(&mut store, &replayed.log, &list).unwrap();
    assert_eq!(check_anchored(&history, &list), Ok(1));

    // A root that differs from the store's log.
    let list = vec![anchored(
        0,
        AnchorCheckpoint {
            root: [3; 32],
            ..at(4)
        },
    )];
    let history = witness::onchain::store_history(&mut store, &replayed.log, &list).unwrap();
    let refusal = check_anchored(&history, &list).unwrap_err();
    assert!(
        matches!(refusal, Refusal::SplitView { height: 4, .. }),
        "{refusal:?}"
    );
}
