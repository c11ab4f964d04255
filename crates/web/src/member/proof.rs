//! The inclusion check: the page asks for a transaction's inclusion proof and the browser
//! verifies it itself (`assets/verify.js`, WebCrypto): the transfer's bytes hash to the
//! leaf, the audit path leads from the leaf to the root, the root is the checkpoint's, and
//! the checkpoint's Ed25519 signature holds under the operator's key. The server only
//! forwards the API's proof, with every integer as a string (JavaScript's numbers lose
//! digits above 2^53; engine times in nanoseconds are above it).

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, html};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/history/{transfer_id}/verify", get(verify_page))
        .route("/app/history/{transfer_id}/proof.json", get(proof))
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    frame: Frame,
    transfer_id: String,
}

/// A transfer id as the API writes it: 1 to 39 decimal digits.
fn transfer_id(text: &str) -> Option<&str> {
    let digits = !text.is_empty() && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then_some(text)
}

/// `GET /app/history/{transfer_id}/verify`.
async fn verify_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    if browser.session.is_none() {
        return Err(PageError::SignedOut);
    }
    let t = browser.lang.text();
    let Some(id) = transfer_id(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let page = VerifyPage {
        frame: Frame::new(&state, &browser, t.verify_title).tab("history"),
        transfer_id: id.to_string(),
    };
    Ok(html(&page))
}

/// The API's proof (`GET /v1/ledger/proofs/inclusion/{id}`), as read here.
#[derive(Deserialize)]
struct ApiProof {
    transfer: ApiTransfer,
    leaf_index: u64,
    leaf_hash: String,
    tree_size: u64,
    root: String,
    proof: Vec<String>,
    checkpoint: ApiCheckpoint,
}

#[derive(Deserialize)]
struct ApiTransfer {
    id: String,
    debit_account_id: String,
    credit_account_id: String,
    amount: String,
    pending_id: String,
    user_data_128: String,
    user_data_64: u64,
    user_data_32: u32,
    timeout: u32,
    ledger: u32,
    code: u16,
    flags: Vec<String>,
    timestamp: u64,
}

#[derive(Deserialize)]
struct ApiCheckpoint {
    block_height: u64,
    block_hash: String,
    tree_size: u64,
    root: String,
    timestamp: u64,
    signed_message: String,
    signature: String,
    public_key: String,
}

/// The same proof with every number as decimal digits.
#[derive(Serialize)]
struct BrowserProof {
    transfer: BrowserTransfer,
    leaf_index: String,
    leaf_hash: String,
    tree_size: String,
    root: String,
    proof: Vec<String>,
    checkpoint: BrowserCheckpoint,
}

#[derive(Serialize)]
struct BrowserTransfer {
    id: String,
    debit_account_id: String,
    credit_account_id: String,
    amount: String,
    pending_id: String,
    user_data_128: String,
    user_data_64: String,
    user_data_32: String,
    timeout: String,
    ledger: String,
    code: String,
    flags: Vec<String>,
    timestamp: String,
}

#[derive(Serialize)]
struct BrowserCheckpoint {
    block_height: String,
    block_hash: String,
    tree_size: String,
    root: String,
    timestamp: String,
    signed_message: String,
    signature: String,
    public_key: String,
}

fn browser_proof(proof: ApiProof) -> BrowserProof {
    let transfer = proof.transfer;
    let checkpoint = proof.checkpoint;
    BrowserProof {
        transfer: BrowserTransfer {
            id: transfer.id,
            debit_account_id: transfer.debit_account_id,
            credit_account_id: transfer.credit_account_id,
            amount: transfer.amount,
            pending_id: transfer.pending_id,
            user_data_128: transfer.user_data_128,
            user_data_64: transfer.user_data_64.to_string(),
            user_data_32: transfer.user_data_32.to_string(),
            timeout: transfer.timeout.to_string(),
            ledger: transfer.ledger.to_string(),
            code: transfer.code.to_string(),
            flags: transfer.flags,
            timestamp: transfer.timestamp.to_string(),
        },
        leaf_index: proof.leaf_index.to_string(),
        leaf_hash: proof.leaf_hash,
        tree_size: proof.tree_size.to_string(),
        root: proof.root,
        proof: proof.proof,
        checkpoint: BrowserCheckpoint {
            block_height: checkpoint.block_height.to_string(),
            block_hash: checkpoint.block_hash,
            tree_size: checkpoint.tree_size.to_string(),
            root: checkpoint.root,
            timestamp: checkpoint.timestamp.to_string(),
            signed_message: checkpoint.signed_message,
            signature: checkpoint.signature,
            public_key: checkpoint.public_key,
        },
    }
}

/// `GET /app/history/{transfer_id}/proof.json`: the member's own transfer's proof.
async fn proof(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(id) = transfer_id(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let call = Call::get(format!("/v1/ledger/proofs/inclusion/{id}"));
    let proof: ApiProof = state.api.json(&browser.caller(), call).await?;
    Ok(Json(browser_proof(proof)).into_response())
}
