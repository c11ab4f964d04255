//! The raw ledger API (operators, tests) and the verification endpoints: signed
//! checkpoints and consistency proofs for anyone, inclusion proofs for a transfer's own
//! member and staff, the block feed for witnesses (docs/ledger.md, "Who sees what").

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use journal::SignedCheckpoint;
use ledger::checkpoint::Checkpoint;
use ledger::types::{AccountId, TransferId};
use platform::operators::{OperatorError, Permission, Permissions};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::json::{
    account_json, hex32, parse_account, parse_batch, parse_id, parse_transfer, transfer_json,
};
use crate::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/ledger/accounts", post(create_accounts))
        .route("/admin/v1/ledger/transfers", post(create_transfers))
        .route("/admin/v1/ledger/accounts/{id}", get(get_account))
        .route("/admin/v1/ledger/transfers/{id}", get(get_transfer))
        .route("/v1/ledger/checkpoint", get(get_checkpoint))
        .route(
            "/v1/ledger/proofs/inclusion/{transfer_id}",
            get(get_inclusion_proof),
        )
        .route("/v1/ledger/proofs/consistency", get(get_consistency_proof))
        .route("/v1/ledger/blocks", get(get_blocks))
}

/// A request body, or the reason axum refused to read it (too large, unreadable).
pub type Body = Result<Bytes, BytesRejection>;

pub fn parse_body(body: Body) -> Result<Value, Problem> {
    let body = body_bytes(body)?;
    serde_json::from_slice(&body).map_err(|error| Problem::malformed_json(error.to_string()))
}

/// The bytes of a request body, or the problem with it.
pub fn body_bytes(body: Body) -> Result<Bytes, Problem> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let detail = format!(
                "the body exceeds this route's limit ({} bytes at most; {} without credentials)",
                crate::REQUEST_BODY_BYTES_MAX,
                crate::members_api::PUBLIC_BODY_BYTES_MAX
            );
            Problem::new(
                status,
                "body-too-large",
                "The request body is too large",
                detail,
            )
        } else {
            Problem::new(
                status,
                "unreadable-body",
                "The request body could not be read",
                rejection.body_text(),
            )
        }
    })?;
    Ok(body)
}

fn results_json<R: std::fmt::Display>(
    ids: impl Iterator<Item = u128>,
    results: &[R],
) -> Json<Value> {
    let results: Vec<Value> = ids
        .zip(results)
        .enumerate()
        .map(|(index, (id, result))| json!({"index": index, "id": id.to_string(), "result": result.to_string()}))
        .collect();
    Json(json!({ "results": results }))
}

async fn create_accounts(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let body = parse_body(body)?;
    let accounts = parse_batch(&body, "accounts", parse_account).map_err(Problem::invalid_items)?;
    let ids: Vec<u128> = accounts.iter().map(|account| account.id.0).collect();
    let results = state.ledger.create_accounts(accounts).await?;
    Ok(results_json(ids.into_iter(), &results))
}

async fn create_transfers(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let body = parse_body(body)?;
    let transfers =
        parse_batch(&body, "transfers", parse_transfer).map_err(Problem::invalid_items)?;
    let ids: Vec<u128> = transfers.iter().map(|transfer| transfer.id.0).collect();
    let results = state.ledger.create_transfers(transfers).await?;
    Ok(results_json(ids.into_iter(), &results))
}

pub(crate) fn path_id(text: &str) -> Result<u128, Problem> {
    parse_id(text)
        .ok_or_else(|| Problem::not_found(format!("{text:?} is not a u128 id in decimal digits")))
}

async fn get_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = AccountId(path_id(&id)?);
    let found = state.ledger.lookup_accounts(vec![id]).await?;
    let account = found
        .first()
        .ok_or_else(|| Problem::not_found(format!("no account {id}")))?;
    Ok(Json(account_json(account)))
}

async fn get_transfer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = TransferId(path_id(&id)?);
    let found = state.ledger.lookup_transfers(vec![id]).await?;
    let transfer = found
        .first()
        .ok_or_else(|| Problem::not_found(format!("no transfer {id}")))?;
    Ok(Json(transfer_json(transfer)))
}

pub fn checkpoint_json(signed: &SignedCheckpoint) -> Value {
    let checkpoint: &Checkpoint = &signed.checkpoint;
    json!({
        "block_height": checkpoint.block_height,
        "block_hash": hex32(&checkpoint.block_hash),
        "tree_size": checkpoint.tree_size,
        "root": hex32(&checkpoint.root),
        "timestamp": checkpoint.timestamp,
        "signed_message": hex::encode(checkpoint.signed_bytes()),
        "signature": hex::encode(signed.signature),
        "public_key": hex32(&signed.public_key),
    })
}

async fn get_checkpoint(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let signed = state
        .ledger
        .checkpoint()
        .ok_or_else(|| Problem::not_found("no block has been committed yet"))?;
    Ok(Json(checkpoint_json(&signed)))
}

/// Who reads the verifiable log beyond its signed checkpoints (issue 13 item 4: the log
/// shows every transfer with its accounts, so only the operator's staff, witnesses and a
/// transfer's own member read its contents).
enum LogReader {
    Staff(Permissions),
    Member(u128),
}

/// The reader behind the request's bearer token: an operator's credential, else a member's
/// session.
async fn log_reader(state: &AppState, headers: &HeaderMap) -> Result<LogReader, Problem> {
    let token = crate::access::bearer(headers).ok_or_else(Problem::unauthorized)?;
    match state.operators.authenticate(token).await {
        Ok(actor) => return Ok(LogReader::Staff(actor.permissions)),
        Err(OperatorError::Unauthenticated) => {}
        Err(error) => return Err(Problem::from(error)),
    }
    let platform = state.platform.as_ref().ok_or_else(Problem::unauthorized)?;
    Ok(LogReader::Member(platform.authenticate(token).await?))
}

/// `GET /v1/ledger/proofs/inclusion/{transfer_id}`: for staff with `ledger.read`, or for the
/// member whose wallet the transfer debits or credits; anyone else learns nothing, not even
/// whether the transfer exists.
async fn get_inclusion_proof(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let reader = log_reader(&state, &headers).await?;
    let id = TransferId(path_id(&id)?);
    let not_found = || Problem::not_found(format!("no transfer {id} of yours"));
    let proof = state
        .ledger
        .inclusion_proof(id)
        .await?
        .ok_or_else(not_found)?;
    let allowed = match reader {
        LogReader::Staff(permissions) => permissions.contains(Permission::LedgerRead),
        LogReader::Member(member_id) => [
            proof.transfer.debit_account_id,
            proof.transfer.credit_account_id,
        ]
        .contains(&AccountId(member_id)),
    };
    if !allowed {
        return Err(not_found());
    }
    Ok(Json(json!({
        "transfer": transfer_json(&proof.transfer),
        "leaf_index": proof.leaf_index,
        "leaf_hash": hex32(&proof.leaf_hash),
        "tree_size": proof.checkpoint.checkpoint.tree_size,
        "root": hex32(&proof.checkpoint.checkpoint.root),
        "proof": proof.proof.iter().map(|hash| hex32(hash)).collect::<Vec<_>>(),
        "checkpoint": checkpoint_json(&proof.checkpoint),
    })))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn get_consistency_proof(
    State(state): State<AppState>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query.map_err(|error| {
        Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
            error.body_text(),
        )
    })?;
    let proof = state.ledger.consistency_proof(query.from, query.to).await?;
    Ok(Json(json!({
        "from": proof.from_size,
        "to": proof.to_size,
        "from_root": hex32(&proof.from_root),
        "to_root": hex32(&proof.to_root),
        "proof": proof.proof.iter().map(|hash| hex32(hash)).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct BlocksQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

/// Durable blocks with their bodies in the canonical encodings (docs/ledger.md), for
/// followers that replay and check the journal themselves (witness nodes, auditors).
/// `GET /v1/ledger/blocks`: the full feed, for witnesses (`ledger.feed`). Not audited: a
/// witness polls it, and each audit entry would be a block for it to read.
async fn get_blocks(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<BlocksQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    match log_reader(&state, &headers).await? {
        LogReader::Staff(permissions) if permissions.contains(Permission::LedgerFeed) => {}
        _ => return Err(Problem::from(OperatorError::Forbidden("ledger.feed"))),
    }
    let Query(query) = query.map_err(Problem::from)?;
    let feed = state.feed.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "this server has no block feed",
        )
    })?;
    let from = query.from.unwrap_or(0);
    let limit = query.limit.unwrap_or(journal::feed::FEED_PAGE_BLOCKS_MAX);
    if limit == 0 || limit > journal::feed::FEED_PAGE_BLOCKS_MAX {
        let detail = format!("limit must be 1 to {}", journal::feed::FEED_PAGE_BLOCKS_MAX);
        return Err(Problem::invalid_items(vec![crate::problem::FieldError {
            index: None,
            field: "limit".into(),
            detail,
        }]));
    }
    let blocks = feed.blocks(from, limit).await.map_err(|error| {
        tracing::warn!(%error, "block feed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "the block feed is busy; retry later",
        )
    })?;
    let next = from + blocks.len() as u64;
    let blocks: Vec<Value> = blocks.iter().map(block_json).collect();
    Ok(Json(json!({ "blocks": blocks, "next": next })))
}

fn block_json(record: &store::BlockRecord) -> Value {
    use ledger::encoding::{encode_account, encode_header, encode_transfer};
    let header = &record.header;
    json!({
        "height": header.height,
        "timestamp": header.timestamp.to_string(),
        "tree_size": header.tree_size,
        "merkle_root": hex32(&header.merkle_root),
        "hash": hex32(&record.hash),
        "signature": hex::encode(record.signature),
        "header": hex::encode(encode_header(header)),
        "accounts": record.accounts.iter().map(|a| hex::encode(encode_account(a))).collect::<Vec<_>>(),
        "transfers": record.transfers.iter().map(|t| hex::encode(encode_transfer(t))).collect::<Vec<_>>(),
    })
}
