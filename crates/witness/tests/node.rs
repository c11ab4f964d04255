//! A witness against a scripted server: the real feed format and the anchor routes of the
//! server's contract (docs/chain.md, "Witnesses"), serving real blocks, a chosen proposal,
//! and recording who co-signed what. Checks what a witness signs, what it records first, and
//! that a refusal posts nothing.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chain::Address;
use common::{checkpoint_of, journal, one_more_unit, operator_public_key};
use ledger::encoding::{encode_account, encode_header, encode_transfer};
use ports::chain::AnchorCheckpoint;
use serde_json::{Value, json};
use store::BlockRecord;
use witness::{ChainOptions, ProposalOutcome, Refusal, Witness, WitnessConfig, WitnessError};

const KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const CHAIN_ID: u64 = 31337;
const ANCHOR: [u8; 20] = [0x42; 20];

/// What the scripted server serves and saw.
struct Fake {
    blocks: Vec<BlockRecord>,
    chain: bool,
    anchor: [u8; 20],
    proposal: Option<AnchorCheckpoint>,
    /// Accepted co-signatures: checkpoint and the address the signature recovers to.
    cosignatures: Vec<(AnchorCheckpoint, Address)>,
    fail_posts: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn fake(blocks: Vec<BlockRecord>, proposal: Option<usize>) -> Shared {
    let proposal = proposal.map(|height| checkpoint_of(&blocks[height]));
    Arc::new(Mutex::new(Fake {
        blocks,
        chain: true,
        anchor: ANCHOR,
        proposal,
        cosignatures: Vec::new(),
        fail_posts: false,
    }))
}

fn problem(status: StatusCode, slug: &str) -> Response {
    let body = json!({"type": format!("urn:mileverse:problem:{slug}"), "title": slug,
        "status": status.as_u16(), "detail": slug});
    (status, Json(body)).into_response()
}

async fn blocks(
    State(fake): State<Shared>,
    Query(query): Query<HashMap<String, u64>>,
) -> Json<Value> {
    let fake = fake.lock().unwrap();
    let from = query.get("from").copied().unwrap_or(0) as usize;
    let limit = query.get("limit").copied().unwrap_or(64) as usize;
    let page: Vec<Value> = fake
        .blocks
        .iter()
        .skip(from)
        .take(limit)
        .map(|block| {
            json!({
                "height": block.header.height,
                "hash": hex::encode(block.hash),
                "signature": hex::encode(block.signature),
                "header": hex::encode(encode_header(&block.header)),
                "accounts": block.accounts.iter().map(|a| hex::encode(encode_account(a))).collect::<Vec<_>>(),
                "transfers": block.transfers.iter().map(|t| hex::encode(encode_transfer(t))).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "blocks": page }))
}

async fn checkpoint() -> Json<Value> {
    Json(json!({ "public_key": hex::encode(operator_public_key()) }))
}

async fn anchor(State(fake): State<Shared>) -> Response {
    let fake = fake.lock().unwrap();
    if !fake.chain {
        return problem(StatusCode::NOT_FOUND, "chain-not-configured");
    }
    let proposal = fake.proposal.map(
        |p| json!({"height": p.height, "tree_size": p.tree_size, "root": hex::encode(p.root)}),
    );
    Json(json!({
        "chain_id": CHAIN_ID,
        "anchor_address": format!("0x{}", hex::encode(fake.anchor)),
        "threshold": 2,
        "authorities": [],
        "proposal": proposal,
        "latest_anchored": null,
    }))
    .into_response()
}

async fn cosign(
    State(fake): State<Shared>,
    Path(tree_size): Path<u64>,
    Json(body): Json<Value>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if fake.fail_posts {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let root = hex::decode(body["root"].as_str().unwrap()).unwrap();
    let checkpoint = AnchorCheckpoint {
        height: body["height"].as_u64().unwrap(),
        tree_size,
        root: root.try_into().unwrap(),
    };
    if fake.proposal != Some(checkpoint) {
        return problem(StatusCode::CONFLICT, "not-the-proposal");
    }
    let text = body["signature"].as_str().unwrap().trim_start_matches("0x");
    let bytes: [u8; 65] = hex::decode(text).unwrap().try_into().unwrap();
    let hash = chain::anchor::signing_hash(
        &chain::Checkpoint {
            height: checkpoint.height,
            tree_size,
            root: checkpoint.root.into(),
        },
        Address::from(fake.anchor),
        CHAIN_ID,
    );
    let signer = chain::anchor::AuthoritySignature::recover(bytes, hash)
        .unwrap()
        .signer;
    if !fake.cosignatures.contains(&(checkpoint, signer)) {
        fake.cosignatures.push((checkpoint, signer));
    }
    Json(json!({"signer": signer.to_string(), "cosignatures": fake.cosignatures.len(), "threshold": 2}))
        .into_response()
}

async fn serve(fake: Shared) -> String {
    let app = Router::new()
        .route("/v1/ledger/blocks", get(blocks))
        .route("/v1/ledger/checkpoint", get(checkpoint))
        .route("/v1/ledger/anchor", get(anchor))
        .route(
            "/v1/ledger/checkpoints/{tree_size}/cosignatures",
            post(cosign),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A key file (0600) and the state beside it, in `directory`.
fn config(directory: &std::path::Path, server: &str) -> WitnessConfig {
    let key_file: PathBuf = directory.join("witness.key");
    if !key_file.exists() {
        std::fs::write(&key_file, KEY).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    let mut config = WitnessConfig::new(server, &key_file);
    config.poll_ms = 10;
    config.timeout_ms = 5_000;
    config
}

fn run<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn refusal(error: WitnessError) -> Refusal {
    match error {
        WitnessError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn a_witness_cosigns_what_its_replay_produces_and_only_moves_forward() {
    let (_, blocks) = journal(6);
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks.clone(), Some(4));
        let server = serve(fake.clone()).await;
        let mut witness = Witness::open(config(directory.path(), &server)).unwrap();
        let report = witness.run_once().await.unwrap();
        let expected = checkpoint_of(&blocks[4]);
        assert!(report.caught_up);
        assert_eq!(report.block_count, 7);
        assert_eq!(report.signed_head, Some(checkpoint_of(&blocks[6])));
        assert_eq!(
            report.proposal,
            ProposalOutcome::Cosigned {
                checkpoint: expected,
                cosignatures: 1,
                threshold: 2
            }
        );
        assert_eq!(
            fake.lock().unwrap().cosignatures,
            [(expected, witness.address())],
            "the signature is the witness's, over that checkpoint, in the server's domain"
        );
        let state_file = witness::node::default_state_file(&directory.path().join("witness.key"));
        let stored = witness::WitnessState::load(&state_file).unwrap().unwrap();
        assert_eq!(stored.last_cosigned, Some(expected));
        assert_eq!(stored.operator_public_key, Some(operator_public_key()));

        // The same proposal again: signed again (idempotent on the server).
        let report = witness.run_once().await.unwrap();
        assert!(matches!(report.proposal, ProposalOutcome::Cosigned { .. }));
        // An older one: never signed.
        fake.lock().unwrap().proposal = Some(checkpoint_of(&blocks[2]));
        let report = witness.run_once().await.unwrap();
        assert_eq!(
            report.proposal,
            ProposalOutcome::Stale(checkpoint_of(&blocks[2]))
        );
        // A newer one, after a restart from the state file.
        fake.lock().unwrap().proposal = Some(checkpoint_of(&blocks[6]));
        let mut restarted = Witness::open(config(directory.path(), &server)).unwrap();
        let report = restarted.run_once().await.unwrap();
        assert!(
            matches!(report.proposal, ProposalOutcome::Cosigned { checkpoint, .. } if checkpoint == checkpoint_of(&blocks[6]))
        );
        assert_eq!(fake.lock().unwrap().cosignatures.len(), 2);
    });
}

#[test]
fn a_restarted_witness_refuses_a_rewritten_or_cut_journal() {
    let (_, blocks) = journal(6);
    let cases: [(&str, Vec<BlockRecord>); 2] = [
        ("rewritten and re-signed", one_more_unit(&blocks, 2)),
        ("cut short", blocks[..4].to_vec()),
    ];
    for (name, served_later) in cases {
        let directory = tempfile::tempdir().unwrap();
        run(async {
            let fake = fake(blocks.clone(), Some(5));
            let server = serve(fake.clone()).await;
            let mut witness = Witness::open(config(directory.path(), &server)).unwrap();
            witness.run_once().await.unwrap();
            {
                let mut fake = fake.lock().unwrap();
                fake.proposal = Some(checkpoint_of(&served_later[served_later.len() - 1]));
                fake.blocks = served_later;
            }
            let mut restarted = Witness::open(config(directory.path(), &server)).unwrap();
            let refused = refusal(restarted.run_once().await.unwrap_err());
            assert_eq!(refused.kind(), "rewritten-history", "{name}: {refused}");
            assert_eq!(refused.height(), Some(5), "{name}");
            assert_eq!(
                fake.lock().unwrap().cosignatures.len(),
                1,
                "{name}: nothing more posted"
            );
            let again = refusal(restarted.poll().await.unwrap_err());
            assert_eq!(again, refused, "{name}: a refused witness stays refused");
        });
    }
}

#[test]
fn a_proposal_the_replay_does_not_produce_is_refused_and_nothing_is_posted() {
    let (_, blocks) = journal(6);
    let forked = one_more_unit(&blocks, 1);
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks.clone(), None);
        fake.lock().unwrap().proposal = Some(checkpoint_of(&forked[5]));
        let server = serve(fake.clone()).await;
        let mut witness = Witness::open(config(directory.path(), &server)).unwrap();
        let refused = refusal(witness.run_once().await.unwrap_err());
        assert_eq!(refused.kind(), "split-view", "{refused}");
        assert_eq!(refused.height(), Some(5));
        assert!(fake.lock().unwrap().cosignatures.is_empty());
        assert_eq!(
            witness.state().last_cosigned,
            None,
            "nothing recorded either"
        );
    });
}

#[test]
fn a_tampered_feed_is_refused_at_the_bad_block() {
    let (_, mut blocks) = journal(6);
    blocks[3].transfers[1].amount += 5;
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks.clone(), Some(6));
        let server = serve(fake.clone()).await;
        let mut witness = Witness::open(config(directory.path(), &server)).unwrap();
        let refused = refusal(witness.run_once().await.unwrap_err());
        assert!(
            matches!(refused, Refusal::BadBlock { height: 3, .. }),
            "{refused}"
        );
        assert_eq!(refused.report()["kind"], "bad-block");
        assert!(fake.lock().unwrap().cosignatures.is_empty());
    });
}

#[test]
fn a_witness_signs_only_for_the_anchor_it_was_given() {
    let (_, blocks) = journal(3);
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks.clone(), Some(3));
        let server = serve(fake.clone()).await;
        let mut config = config(directory.path(), &server);
        config.chain = Some(ChainOptions {
            anchor: [0x43; 20],
            chain_id: Some(CHAIN_ID),
            rpc_url: None,
        });
        let mut witness = Witness::open(config.clone()).unwrap();
        let refused = refusal(witness.run_once().await.unwrap_err());
        assert_eq!(refused.kind(), "wrong-anchor", "{refused}");
        assert!(fake.lock().unwrap().cosignatures.is_empty());

        config.chain = Some(ChainOptions {
            anchor: ANCHOR,
            chain_id: Some(1),
            rpc_url: None,
        });
        let refused = refusal(
            Witness::open(config.clone())
                .unwrap()
                .run_once()
                .await
                .unwrap_err(),
        );
        assert_eq!(refused.kind(), "wrong-anchor", "another chain: {refused}");

        config.chain = Some(ChainOptions {
            anchor: ANCHOR,
            chain_id: Some(CHAIN_ID),
            rpc_url: None,
        });
        let report = Witness::open(config).unwrap().run_once().await.unwrap();
        assert!(
            matches!(report.proposal, ProposalOutcome::Cosigned { .. }),
            "{report:?}"
        );
    });
}

#[test]
fn the_checkpoint_is_recorded_before_the_signature_is_posted() {
    let (_, blocks) = journal(4);
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks.clone(), Some(4));
        fake.lock().unwrap().fail_posts = true;
        let server = serve(fake.clone()).await;
        let mut witness = Witness::open(config(directory.path(), &server)).unwrap();
        let error = witness.run_once().await.unwrap_err();
        assert!(
            matches!(error, WitnessError::Server { status: 503, .. }),
            "{error}"
        );
        assert!(error.is_transient());
        assert_eq!(
            witness.state().last_cosigned,
            Some(checkpoint_of(&blocks[4]))
        );
    });
}

#[test]
fn without_a_chain_or_ahead_of_the_feed_nothing_is_signed() {
    let (_, blocks) = journal(5);
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks[..3].to_vec(), None);
        fake.lock().unwrap().chain = false;
        let server = serve(fake.clone()).await;
        let mut witness = Witness::open(config(directory.path(), &server)).unwrap();
        let report = witness.run_once().await.unwrap();
        assert_eq!(report.proposal, ProposalOutcome::NoChain);
        assert_eq!(report.block_count, 3);

        {
            let mut fake = fake.lock().unwrap();
            fake.chain = true;
            fake.proposal = Some(checkpoint_of(&blocks[4]));
        }
        let report = witness.poll().await.unwrap();
        assert_eq!(
            report.proposal,
            ProposalOutcome::Ahead(checkpoint_of(&blocks[4]))
        );
        let error = witness.run_once().await.unwrap_err();
        assert!(matches!(error, WitnessError::Unsettled(_)), "{error}");
        fake.lock().unwrap().blocks = blocks.clone();
        let report = witness.run_once().await.unwrap();
        assert!(
            matches!(report.proposal, ProposalOutcome::Cosigned { .. }),
            "{report:?}"
        );
    });
}

#[test]
fn the_operator_key_is_pinned_and_never_swapped() {
    let (_, blocks) = journal(2);
    let directory = tempfile::tempdir().unwrap();
    run(async {
        let fake = fake(blocks.clone(), None);
        let server = serve(fake.clone()).await;
        let mut config = config(directory.path(), &server);
        let other = ledger::checkpoint::OperatorKey::from_seed([9; 32]).public_key();
        config.operator_public_key = Some(other);
        let mut witness = Witness::open(config.clone()).unwrap();
        let refused = refusal(witness.run_once().await.unwrap_err());
        assert!(
            matches!(refused, Refusal::BadBlock { height: 0, .. }),
            "{refused}"
        );

        config.operator_public_key = Some(operator_public_key());
        let error = Witness::open(config)
            .err()
            .expect("a contradicting key is refused");
        assert!(matches!(error, WitnessError::Config(_)), "{error}");
    });
}
