//! Routes of the chain side (docs/chain.md): the anchor and co-signatures for witnesses,
//! members' Ethereum addresses and MVP→MVC conversions, the conversion terms for
//! operators, and the public token economy view. Without a chain configured they answer
//! 404 `chain-not-configured` (the token economy still shows the MVP side).
//!
//! Ethereum values are `0x` hex (addresses, signatures, transaction hashes); ledger roots
//! are plain hex like everywhere else in the ledger API; MVC amounts are decimal strings
//! of wei (they do not fit a JSON number).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use platform::anchoring::{AnchorView, AnchoringRecord, hex_address};
use platform::conversion::{
    ConversionRecord, ConversionRequest, ConversionSettings, address_proof_message,
};
use platform::economy::{MVC_CAP, MVP_MARK, TokenEconomy};
use platform::error::invalid;
use ports::chain::{AnchorCheckpoint, EthAddress, TokenFigures};
use ports::time::rfc3339;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::json::hex32;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform};
use crate::problem::Problem;

/// Most conversions listed at once for operators.
pub const CONVERSIONS_PAGE_MAX: usize = 1_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ledger/anchor", get(anchor))
        .route(
            "/v1/ledger/checkpoints/{tree_size}/cosignatures",
            post(cosign),
        )
        .route("/v1/token-economy", get(token_economy))
        .route(
            "/v1/me/wallet-addresses",
            post(register_address).get(wallet_address),
        )
        .route("/v1/conversions", post(convert))
        .route("/v1/conversions/{id}", get(conversion))
        .route(
            "/admin/v1/conversion-settings",
            get(settings).put(change_settings),
        )
        .route("/admin/v1/conversions", get(list_conversions))
}

fn hex_fixed<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], Problem> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits)
        .ok()
        .and_then(|b| <[u8; N]>::try_from(b).ok());
    bytes.ok_or_else(|| Problem::from(invalid(field, format!("{N} bytes of hex"))))
}

fn checkpoint_json(checkpoint: &AnchorCheckpoint) -> Value {
    json!({
        "height": checkpoint.height,
        "tree_size": checkpoint.tree_size,
        "root": hex32(&checkpoint.root),
    })
}

fn anchored_json(record: &AnchoringRecord) -> Value {
    json!({
        "index": record.index,
        "height": record.height,
        "tree_size": record.tree_size,
        "root": hex32(&record.root),
        "anchored_at": rfc3339(record.anchored_at_s),
        "tx_hash": record.tx_hash.map(|hash| format!("0x{}", hex::encode(hash))),
        "block_number": record.block_number,
        "gas_used": record.gas_used,
    })
}

fn anchor_json(view: &AnchorView) -> Value {
    let authorities = view.authorities.as_ref();
    json!({
        "chain_id": view.domain.chain_id,
        "anchor_address": hex_address(&view.domain.anchor),
        "threshold": authorities.map(|a| a.threshold),
        "authorities": authorities.map(|a| a.authorities.iter().map(hex_address).collect::<Vec<_>>()),
        "proposal": view.proposal.as_ref().map(checkpoint_json),
        "latest_anchored": view.latest_anchored.as_ref().map(anchored_json),
    })
}

async fn anchor(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let view = platform(&state)?.anchor_view().await?;
    Ok(Json(anchor_json(&view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CosignatureBody {
    height: u64,
    root: String,
    signature: String,
}

async fn cosign(
    State(state): State<AppState>,
    Path(tree_size): Path<String>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let tree_size = tree_size
        .parse::<u64>()
        .map_err(|_| Problem::from(invalid("tree_size", "a decimal size")))?;
    let body: CosignatureBody = json_body(body)?;
    let checkpoint = AnchorCheckpoint {
        height: body.height,
        tree_size,
        root: hex_fixed::<32>("root", &body.root)?,
    };
    let signature = hex_fixed::<65>("signature", &body.signature)?;
    let receipt = platform(&state)?
        .add_cosignature(checkpoint, signature)
        .await?;
    Ok(Json(json!({
        "signer": hex_address(&receipt.signer),
        "cosignatures": receipt.cosignatures,
        "threshold": receipt.threshold,
    })))
}

fn wei_text(wei: u128) -> String {
    wei.to_string()
}

fn figures_json(figures: &TokenFigures) -> Value {
    json!({
        "total_supply_wei": wei_text(figures.total_supply_wei),
        "circulating_wei": wei_text(figures.circulating_wei),
        "bridge_balance_wei": wei_text(figures.bridge_balance_wei),
        "released_wei": wei_text(figures.released_wei),
        "reward_quarters": figures.reward_quarters,
        "rewards_claimed_wei": wei_text(figures.rewards_claimed_wei),
    })
}

fn economy_json(economy: &TokenEconomy) -> Value {
    json!({
        "mvp": {
            "issued": economy.mvp_issued.to_string(),
            "outstanding": economy.mvp_outstanding.to_string(),
            "converted": economy.mvp_converted.to_string(),
            "converting": economy.mvp_converting.to_string(),
        },
        "mark": {
            "mvp": MVP_MARK,
            "mvc_cap": MVC_CAP,
            "reached_bps": economy.mvp_mark_bps,
        },
        "conversions": {
            "completed": economy.conversions_completed,
            "failed": economy.conversions_failed,
            "open": economy.conversions_open,
            "mvc_wei": wei_text(economy.mvc_converted_wei),
        },
        "mvc": economy.chain.as_ref().map(figures_json),
        "chain_error": economy.chain_error,
    })
}

async fn token_economy(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let economy = platform(&state)?.token_economy().await?;
    Ok(Json(economy_json(&economy)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    address: String,
    signature: String,
}

fn address_json(record: Option<&platform::conversion::WalletAddressRecord>) -> Value {
    json!({
        "address": record.map(|r| hex_address(&r.address)),
        "proved_at": record.map(|r| rfc3339(r.proved_at_s)),
    })
}

async fn register_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: AddressBody = json_body(body)?;
    let address: EthAddress = hex_fixed::<20>("address", &body.address)?;
    let signature = hex_fixed::<65>("signature", &body.signature)?;
    let record = platform(&state)?
        .register_address(member_id, address, signature)
        .await?;
    Ok((StatusCode::CREATED, Json(address_json(Some(&record)))))
}

#[derive(Deserialize)]
struct AddressQuery {
    /// The address the member is about to prove: the answer then carries the exact
    /// message to sign for it.
    address: Option<String>,
}

async fn wallet_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AddressQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let record = platform(&state)?.wallet_address(member_id).await?;
    let mut answer = address_json(record.as_ref());
    let message = |address: &EthAddress| address_proof_message(member_id, address);
    answer["message_template"] =
        json!(message(&[0u8; 20]).replace(&hex_address(&[0u8; 20]), "{address}"));
    if let Some(text) = &query.address {
        answer["message"] = json!(message(&hex_fixed::<20>("address", text)?));
    }
    Ok(Json(answer))
}

fn conversion_json(record: &ConversionRecord) -> Value {
    json!({
        "conversion_id": record.id.to_string(),
        "status": record.status.as_str(),
        "mvp": record.mvp,
        "mvc_wei": wei_text(record.mvc_wei),
        "mvp_per_mvc": record.mvp_per_mvc,
        "address": hex_address(&record.address),
        "failure": record.failure,
        "tx_hash": record.tx_hash,
        "block_number": record.block_number,
        "created_at": rfc3339(record.created_at_s),
        "finished_at": record.finished_at_s.map(rfc3339),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvertBody {
    mvp: u64,
    /// The PIN again, above the platform's threshold.
    pin: Option<String>,
}

async fn convert(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: ConvertBody = json_body(body)?;
    let request = ConversionRequest {
        member_id,
        mvp: body.mvp,
        idempotency_key: idempotency_key(&headers)?,
        pin: body.pin,
    };
    let record = platform(&state)?.convert(request).await?;
    let status = match record.status {
        platform::conversion::ConversionStatus::Requested => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(conversion_json(&record))))
}

async fn conversion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("conversion_id", &id)?;
    let record = platform(&state)?.conversion(member_id, id).await?;
    Ok(Json(conversion_json(&record)))
}

fn settings_json(settings: &ConversionSettings) -> Value {
    json!({
        "mvp_per_mvc": settings.mvp_per_mvc,
        "minimum_mvp": settings.minimum_mvp,
        "daily_limit_mvp": settings.daily_limit_mvp,
        "enabled": settings.enabled,
    })
}

async fn settings(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    Ok(Json(settings_json(
        &platform(&state)?.conversion_settings(),
    )))
}

async fn change_settings(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let settings: ConversionSettings = json_body(body)?;
    let settings = platform(&state)?.set_conversion_settings(settings).await?;
    Ok(Json(settings_json(&settings)))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list_conversions(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100).clamp(1, CONVERSIONS_PAGE_MAX);
    let records = platform(&state)?.conversions(limit).await?;
    let conversions: Vec<Value> = records
        .iter()
        .map(|record| {
            let mut line = conversion_json(record);
            line["member_id"] = json!(record.member_id.to_string());
            line
        })
        .collect();
    Ok(Json(json!({ "conversions": conversions })))
}
