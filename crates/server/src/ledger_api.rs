//! The raw ledger API (operators, tests) and the verification endpoints: signed
//! checkpoints and consistency proofs for anyone, inclusion proofs for a transfer's own
//! member and staff, the block feed for witnesses (docs/ledger.md, "Who sees what").

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use journal::SignedCheckpoint;
use ledger::checkpoint::Checkpoint;
use ledger::types::{AccountId, TransferId};
use platform::operators::{OperatorError, Permission, Permissions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::json::{
    LedgerAccount, LedgerAccountInput, LedgerTransfer, LedgerTransferInput, account_json, hex32,
    parse_account, parse_batch, parse_id, parse_transfer, transfer_json,
};
use crate::openapi;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_accounts))
        .routes(routes!(create_transfers))
        .routes(routes!(get_account))
        .routes(routes!(get_transfer))
        .routes(routes!(get_checkpoint))
        .routes(routes!(get_inclusion_proof))
        .routes(routes!(get_consistency_proof))
        .routes(routes!(get_blocks))
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

/// The outcome of one item of a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    /// The item's place in the batch, from 0.
    pub index: usize,
    /// The item's id, decimal digits.
    pub id: String,
    /// `ok`, or why the ledger refused the item (TigerBeetle's result names, e.g. `exists`,
    /// `exceeds_credits`, `linked_event_failed`).
    pub result: String,
}

/// One result per item, in the batch's order.
#[derive(Serialize, ToSchema)]
pub struct BatchResults {
    pub results: Vec<BatchResult>,
}

fn results_json<R: std::fmt::Display>(
    ids: impl Iterator<Item = u128>,
    results: &[R],
) -> Json<BatchResults> {
    let results = ids
        .zip(results)
        .enumerate()
        .map(|(index, (id, result))| BatchResult {
            index,
            id: id.to_string(),
            result: result.to_string(),
        })
        .collect();
    Json(BatchResults { results })
}

/// `POST /admin/v1/ledger/accounts` (documentation only: parsed field by field).
#[derive(ToSchema)]
pub struct CreateAccountsBody {
    /// At most 8,190 accounts, created together or each on its own (`linked`).
    pub accounts: Vec<LedgerAccountInput>,
}

/// `POST /admin/v1/ledger/transfers` (documentation only: parsed field by field).
#[derive(ToSchema)]
pub struct CreateTransfersBody {
    /// At most 8,190 transfers, committed together or each on its own (`linked`).
    pub transfers: Vec<LedgerTransferInput>,
}

/// Creates ledger accounts (a TigerBeetle `create_accounts` batch).
#[utoipa::path(post, path = "/admin/v1/ledger/accounts", tag = "ledger",
    security(("operator" = [])),
    request_body = CreateAccountsBody,
    responses((status = 200, description = "One result per account. Needs `ledger.write`.", body = BatchResults)))]
async fn create_accounts(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<BatchResults>, Problem> {
    let body = parse_body(body)?;
    let accounts = parse_batch(&body, "accounts", parse_account).map_err(Problem::invalid_items)?;
    let ids: Vec<u128> = accounts.iter().map(|account| account.id.0).collect();
    let results = state.ledger.create_accounts(accounts).await?;
    Ok(results_json(ids.into_iter(), &results))
}

/// Commits ledger transfers (a TigerBeetle `create_transfers` batch).
#[utoipa::path(post, path = "/admin/v1/ledger/transfers", tag = "ledger",
    security(("operator" = [])),
    request_body = CreateTransfersBody,
    responses((status = 200, description = "One result per transfer. Needs `ledger.write`.", body = BatchResults)))]
async fn create_transfers(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<BatchResults>, Problem> {
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

/// One ledger account.
#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{id}", tag = "ledger",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The account id, decimal digits", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The account. Needs `ledger.read`.", body = LedgerAccount)))]
async fn get_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LedgerAccount>, Problem> {
    let id = AccountId(path_id(&id)?);
    let found = state.ledger.lookup_accounts(vec![id]).await?;
    let account = found
        .first()
        .ok_or_else(|| Problem::not_found(format!("no account {id}")))?;
    Ok(Json(account_json(account)))
}

/// One ledger transfer.
#[utoipa::path(get, path = "/admin/v1/ledger/transfers/{id}", tag = "ledger",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The transfer id, decimal digits", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The transfer. Needs `ledger.read`.", body = LedgerTransfer)))]
async fn get_transfer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LedgerTransfer>, Problem> {
    let id = TransferId(path_id(&id)?);
    let found = state.ledger.lookup_transfers(vec![id]).await?;
    let transfer = found
        .first()
        .ok_or_else(|| Problem::not_found(format!("no transfer {id}")))?;
    Ok(Json(transfer_json(transfer)))
}

/// The operator's signed checkpoint of the log: the Merkle root over every transfer so far.
#[derive(Serialize, ToSchema)]
pub struct LedgerCheckpoint {
    pub block_height: u64,
    /// 32 bytes, hex.
    pub block_hash: String,
    /// Transfers (leaves) in the log.
    pub tree_size: u64,
    /// The Merkle root, 32 bytes, hex.
    pub root: String,
    /// Engine time (ns) of the block.
    pub timestamp: u64,
    /// The exact bytes signed, hex.
    pub signed_message: String,
    /// Ed25519 signature over `signed_message`, hex.
    pub signature: String,
    /// The operator's Ed25519 public key, 32 bytes, hex.
    pub public_key: String,
}

pub fn checkpoint_json(signed: &SignedCheckpoint) -> LedgerCheckpoint {
    let checkpoint: &Checkpoint = &signed.checkpoint;
    LedgerCheckpoint {
        block_height: checkpoint.block_height,
        block_hash: hex32(&checkpoint.block_hash),
        tree_size: checkpoint.tree_size,
        root: hex32(&checkpoint.root),
        timestamp: checkpoint.timestamp,
        signed_message: hex::encode(checkpoint.signed_bytes()),
        signature: hex::encode(signed.signature),
        public_key: hex32(&signed.public_key),
    }
}

/// The latest signed checkpoint; anyone may read it.
#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "verifiable log",
    responses(
        (status = 200, description = "The latest checkpoint", body = LedgerCheckpoint),
        (status = 404, description = "No block has been committed yet", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn get_checkpoint(State(state): State<AppState>) -> Result<Json<LedgerCheckpoint>, Problem> {
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

/// A transfer's place in the log, provable against a signed checkpoint.
#[derive(Serialize, ToSchema)]
pub struct InclusionProofAnswer {
    pub transfer: LedgerTransfer,
    pub leaf_index: u64,
    /// 32 bytes, hex.
    pub leaf_hash: String,
    pub tree_size: u64,
    /// 32 bytes, hex.
    pub root: String,
    /// The audit path, leaf to root, each 32 bytes in hex (RFC 6962).
    pub proof: Vec<String>,
    pub checkpoint: LedgerCheckpoint,
}

/// A transfer's inclusion proof against the latest checkpoint.
///
/// For staff with `ledger.read`, or for the member whose wallet the transfer debits or
/// credits. Anyone else learns nothing, not even whether the transfer exists (404).
#[utoipa::path(get, path = "/v1/ledger/proofs/inclusion/{transfer_id}", tag = "verifiable log",
    security(("member_session" = []), ("operator" = [])),
    params(("transfer_id" = String, Path, description = "The transfer id, decimal digits", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The proof. An operator needs `ledger.read`; a member sees only their own transfers.", body = InclusionProofAnswer)))]
async fn get_inclusion_proof(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<InclusionProofAnswer>, Problem> {
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
    Ok(Json(InclusionProofAnswer {
        transfer: transfer_json(&proof.transfer),
        leaf_index: proof.leaf_index,
        leaf_hash: hex32(&proof.leaf_hash),
        tree_size: proof.checkpoint.checkpoint.tree_size,
        root: hex32(&proof.checkpoint.checkpoint.root),
        proof: proof.proof.iter().map(|hash| hex32(hash)).collect(),
        checkpoint: checkpoint_json(&proof.checkpoint),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The older tree size.
    from: u64,
    /// The newer tree size, at most the current one.
    to: u64,
}

/// Proof that the log of size `to` extends the log of size `from` (RFC 6962).
#[derive(Serialize, ToSchema)]
pub struct ConsistencyProofAnswer {
    pub from: u64,
    pub to: u64,
    /// 32 bytes, hex.
    pub from_root: String,
    /// 32 bytes, hex.
    pub to_root: String,
    /// Each 32 bytes, hex.
    pub proof: Vec<String>,
}

/// A consistency proof between two tree sizes; anyone may read it.
#[utoipa::path(get, path = "/v1/ledger/proofs/consistency", tag = "verifiable log",
    params(ConsistencyQuery),
    responses((status = 200, description = "The proof", body = ConsistencyProofAnswer)))]
async fn get_consistency_proof(
    State(state): State<AppState>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyProofAnswer>, Problem> {
    let Query(query) = query.map_err(|error| {
        Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
            error.body_text(),
        )
    })?;
    let proof = state.ledger.consistency_proof(query.from, query.to).await?;
    Ok(Json(ConsistencyProofAnswer {
        from: proof.from_size,
        to: proof.to_size,
        from_root: hex32(&proof.from_root),
        to_root: hex32(&proof.to_root),
        proof: proof.proof.iter().map(|hash| hex32(hash)).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BlocksQuery {
    /// The first block height; 0 when absent.
    from: Option<u64>,
    /// How many blocks at most (1 to 64, the default).
    limit: Option<usize>,
}

/// A durable block with its body in the canonical encodings (docs/ledger.md).
#[derive(Serialize, ToSchema)]
pub struct LedgerBlock {
    pub height: u64,
    /// Engine time (ns), decimal digits.
    pub timestamp: String,
    pub tree_size: u64,
    /// 32 bytes, hex.
    pub merkle_root: String,
    /// 32 bytes, hex.
    pub hash: String,
    /// The operator's signature, hex.
    pub signature: String,
    /// The canonical header encoding, hex.
    pub header: String,
    /// Each account's canonical encoding, hex.
    pub accounts: Vec<String>,
    /// Each transfer's canonical encoding, hex.
    pub transfers: Vec<String>,
}

/// A page of the block feed.
#[derive(Serialize, ToSchema)]
pub struct BlocksAnswer {
    pub blocks: Vec<LedgerBlock>,
    /// The height to pass as `from` for the next page.
    pub next: u64,
}

/// Durable blocks with their bodies, for witnesses and auditors.
///
/// For followers that replay and check the journal themselves. Not audited: a witness
/// polls it, and each audit entry would be a block for it to read.
#[utoipa::path(get, path = "/v1/ledger/blocks", tag = "verifiable log",
    security(("witness_feed" = [])),
    params(BlocksQuery),
    responses((status = 200, description = "Blocks from `from` on. Needs `ledger.feed`.", body = BlocksAnswer)))]
async fn get_blocks(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<BlocksQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<BlocksAnswer>, Problem> {
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
    let blocks = blocks.iter().map(block_json).collect();
    Ok(Json(BlocksAnswer { blocks, next }))
}

fn block_json(record: &store::BlockRecord) -> LedgerBlock {
    use ledger::encoding::{encode_account, encode_header, encode_transfer};
    let header = &record.header;
    LedgerBlock {
        height: header.height,
        timestamp: header.timestamp.to_string(),
        tree_size: header.tree_size,
        merkle_root: hex32(&header.merkle_root),
        hash: hex32(&record.hash),
        signature: hex::encode(record.signature),
        header: hex::encode(encode_header(header)),
        accounts: record
            .accounts
            .iter()
            .map(|a| hex::encode(encode_account(a)))
            .collect(),
        transfers: record
            .transfers
            .iter()
            .map(|t| hex::encode(encode_transfer(t)))
            .collect(),
    }
}

/// Checks that every operation of a module's `routes()` is in the served document, with a
/// success answer, a summary, and security where `access.rs` asks for a credential.
#[cfg(test)]
pub(crate) fn assert_routes_documented(routes: OpenApiRouter<AppState>) {
    use utoipa::openapi::path::{Operation, PathItem};
    fn operations(item: &PathItem) -> Vec<(&'static str, &Operation)> {
        [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ]
        .into_iter()
        .filter_map(|(method, operation)| operation.as_ref().map(|op| (method, op)))
        .collect()
    }
    let own = routes.split_for_parts().1;
    let document = crate::document();
    assert!(!own.paths.paths.is_empty(), "the module documents no route");
    for (path, item) in &own.paths.paths {
        let served = document
            .paths
            .paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the document"));
        let served = operations(served);
        for (method, _) in operations(item) {
            let (_, operation) = served
                .iter()
                .find(|(m, _)| *m == method)
                .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
            let success = operation
                .responses
                .responses
                .keys()
                .any(|status| status.starts_with('2'));
            assert!(success, "{method} {path}: no 2xx answer");
            assert!(operation.summary.is_some(), "{method} {path}: no summary");
            if path.starts_with("/admin/") {
                let parsed = method.parse().expect("a method");
                let public = crate::access::requirement(&parsed, path)
                    == Some(crate::access::Requirement::Public);
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                assert_eq!(
                    secured, !public,
                    "{method} {path}: security as access.rs says"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        super::assert_routes_documented(super::routes());
    }
}
