//! Following the journal from the outside: a follower (what a witness node runs) reads the
//! real server's block feed page by page, replays every block through its own engine with
//! every recovery check and the operator's signatures, and ends at exactly the server's
//! signed checkpoint. A block altered on the way is refused, naming its height.

mod support;

use gateways::follow::BlockFollower;
use journal::replay::{ReplayOptions, Replayed};
use serde_json::{Value, json};
use support::{ServerProcess, TOKEN};

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 200, "{path}");
}

/// Replays the whole feed with pages of `page` blocks.
async fn follow_all(follower: &BlockFollower, page: usize, public_key: [u8; 32]) -> Replayed {
    let options = ReplayOptions {
        operator_public_key: Some(public_key),
        ..ReplayOptions::default()
    };
    let mut replayed = Replayed::new();
    loop {
        let blocks = follower
            .blocks(replayed.block_count, page)
            .await
            .expect("page");
        for block in &blocks {
            replayed
                .apply(block, options)
                .expect("every block checks out");
        }
        if blocks.len() < page {
            return replayed;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_replays_the_feed_to_the_signed_checkpoint() {
    let directory = tempfile::tempdir().expect("tempdir");
    let data = directory.path().to_path_buf();
    let server = tokio::task::spawn_blocking(move || ServerProcess::start(&data))
        .await
        .unwrap();
    let client = support::client();
    let accounts = json!({"accounts": [
        {"id": "1", "ledger": 1, "code": 1},
        {"id": "2", "ledger": 1, "code": 1, "flags": ["debits_must_not_exceed_credits"]}]});
    post(&client, &server.base, "/admin/v1/ledger/accounts", accounts).await;
    for round in 0..10u64 {
        let transfers: Vec<Value> = (0..5u64)
            .map(|i| {
                json!({"id": (1000 + round * 5 + i).to_string(), "debit_account_id": "1",
                "credit_account_id": "2", "amount": "7", "ledger": 1, "code": 1})
            })
            .collect();
        post(
            &client,
            &server.base,
            "/admin/v1/ledger/transfers",
            json!({ "transfers": transfers }),
        )
        .await;
    }
    let checkpoint: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_key: [u8; 32] = hex::decode(checkpoint["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();

    // The feed is for witnesses: without a credential it answers 401.
    let anonymous = BlockFollower::new(&server.base, 5000, &tls::ClientTls::system());
    assert!(matches!(
        anonymous.blocks(0, 1).await,
        Err(gateways::follow::FollowError::Status(401))
    ));
    let follower = anonymous.with_token(Some(TOKEN.to_string()));
    for page in [1, 3, journal::feed::FEED_PAGE_BLOCKS_MAX] {
        let replayed = follow_all(&follower, page, public_key).await;
        let (header, hash, _) = replayed.head.expect("a head");
        let (signed, _) = replayed.signed_head.expect("a signed head");
        assert_eq!(signed, header, "the server's last durable block is signed");
        assert_eq!(header.height, checkpoint["block_height"].as_u64().unwrap());
        assert_eq!(
            hex::encode(hash),
            checkpoint["block_hash"].as_str().unwrap()
        );
        // TTC's issue at the first start, the test's 50 transfers, and the audit log's two
        // commitments (an intent and an outcome) for each of its 11 admin calls.
        assert_eq!(replayed.log.size(), 1 + 50 + 2 * 11);
        assert_eq!(
            hex::encode(replayed.log.root()),
            checkpoint["root"].as_str().unwrap()
        );
        let account = replayed
            .engine
            .account(ledger::types::AccountId(2))
            .expect("account 2");
        assert_eq!(account.credits_posted, 350);
    }

    // A rewritten history: one transfer's amount changed on the way. The follower refuses
    // the block that carries it, by height.
    let mut blocks = follower
        .blocks(0, journal::feed::FEED_PAGE_BLOCKS_MAX)
        .await
        .unwrap();
    let options = ReplayOptions {
        operator_public_key: Some(public_key),
        ..ReplayOptions::default()
    };
    let target = blocks.iter().position(|b| !b.transfers.is_empty()).unwrap();
    blocks[target].transfers[0].amount += 1;
    let mut replayed = Replayed::new();
    let error = blocks
        .iter()
        .find_map(|block| replayed.apply(block, options).err())
        .expect("the altered block is refused");
    assert_eq!(
        error.height(),
        Some(blocks[target].header.height),
        "{error}"
    );

    // A served tail without a signature proves nothing: the follower vouches only for the
    // last block whose operator signature it checked.
    let mut blocks = follower
        .blocks(0, journal::feed::FEED_PAGE_BLOCKS_MAX)
        .await
        .unwrap();
    let last = blocks.len() - 1;
    blocks[last].signature = journal::replay::UNSIGNED;
    let mut replayed = Replayed::new();
    for block in &blocks {
        replayed
            .apply(block, options)
            .expect("an unsigned block is allowed inside a store transaction");
    }
    let (signed, _) = replayed.signed_head.expect("earlier signed blocks");
    assert!(signed.height < blocks[last].header.height);
    // After a failure nothing more is applied.
    let mut broken = Replayed::new();
    let mut altered = blocks.clone();
    altered[0].hash[0] ^= 1;
    assert!(broken.apply(&altered[0], options).is_err());
    assert!(
        broken.apply(&blocks[0], options).is_err(),
        "a failed replay stays failed"
    );

    // Limits: a page over the maximum is refused with a problem.
    let response = client
        .get(format!(
            "{}/v1/ledger/blocks?limit={}",
            server.base,
            journal::feed::FEED_PAGE_BLOCKS_MAX + 1
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}
