//! Real journals for the witness's tests: blocks written by a real `LedgerService` over a
//! memory store, and the same journal rewritten and re-signed with the operator's key (what
//! an operator who rewrites history can produce: every check of replay still passes).

#![allow(dead_code)]

use journal::replay::UNSIGNED;
use journal::{LedgerConfig, LedgerService};
use ledger::block::{block_hash, transfer_leaf_hashes};
use ledger::checkpoint::{Checkpoint, OperatorKey};
use ledger::merkle::MerkleLog;
use ledger::types::{Account, AccountId, Transfer, TransferId};
use ports::chain::AnchorCheckpoint;
use store::memory::MemoryStore;
use store::{BlockRecord, Store};

pub const OPERATOR_SEED: [u8; 32] = [7; 32];

pub fn operator() -> OperatorKey {
    OperatorKey::from_seed(OPERATOR_SEED)
}

pub fn operator_public_key() -> [u8; 32] {
    operator().public_key()
}

/// A journal of one block of two accounts, then `rounds` blocks of 3 transfers each (one
/// request each, so one store transaction each: every block is signed).
pub fn journal(rounds: u64) -> (MemoryStore, Vec<BlockRecord>) {
    let store = MemoryStore::new();
    let ledger = LedgerService::open(Box::new(store.clone()), operator(), LedgerConfig::default())
        .expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let accounts = (1..=2)
            .map(|id| Account {
                id: AccountId(id),
                ledger: 1,
                code: 1,
                ..Account::default()
            })
            .collect();
        ledger.create_accounts(accounts).await.expect("accounts");
        for round in 0..rounds {
            let transfers = (0..3)
                .map(|i| Transfer {
                    id: TransferId(u128::from(100 + round * 3 + i)),
                    debit_account_id: AccountId(1),
                    credit_account_id: AccountId(2),
                    amount: 10,
                    ledger: 1,
                    code: 1,
                    ..Transfer::default()
                })
                .collect();
            ledger.create_transfers(transfers).await.expect("transfers");
        }
    });
    ledger.shutdown();
    let mut reader = store.clone();
    let blocks = reader.read_blocks(0, 10_000).expect("read");
    assert_eq!(blocks.len() as u64, rounds + 1, "one block per request");
    (store, blocks)
}

/// The signed checkpoint of `block`, as the server would propose it.
pub fn checkpoint_of(block: &BlockRecord) -> AnchorCheckpoint {
    AnchorCheckpoint {
        height: block.header.height,
        tree_size: block.header.tree_size,
        root: block.header.merkle_root,
    }
}

/// `blocks` with block `height` changed by `edit`, and every block from there on
/// re-derived (tree, hash links) and re-signed with the operator's key where it was
/// signed: a rewritten history that replays cleanly.
pub fn rewritten(
    blocks: &[BlockRecord],
    height: usize,
    edit: impl FnOnce(&mut BlockRecord),
) -> Vec<BlockRecord> {
    let mut blocks = blocks.to_vec();
    edit(&mut blocks[height]);
    let key = operator();
    let mut log = MerkleLog::new();
    let mut leaves = Vec::new();
    let mut previous_hash = [0; 32];
    for block in &mut blocks {
        leaves.clear();
        transfer_leaf_hashes(&block.transfers, &mut leaves);
        log.extend(&leaves);
        let header = &mut block.header;
        header.previous_hash = previous_hash;
        header.transfer_count = block.transfers.len() as u32;
        header.tree_size = log.size();
        header.merkle_root = log.root();
        block.hash = block_hash(header);
        if block.signature != UNSIGNED {
            block.signature = key.sign(&Checkpoint::of_block(header, &block.hash));
        }
        previous_hash = block.hash;
    }
    blocks
}

/// The first transfer of block `height` moves one more unit.
pub fn one_more_unit(blocks: &[BlockRecord], height: usize) -> Vec<BlockRecord> {
    rewritten(blocks, height, |block| block.transfers[0].amount += 1)
}

/// `blocks` with block `height` left unsigned (as inside a store transaction).
pub fn unsigned_at(blocks: &[BlockRecord], height: usize) -> Vec<BlockRecord> {
    let mut blocks = blocks.to_vec();
    blocks[height].signature = UNSIGNED;
    blocks
}
