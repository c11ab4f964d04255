//! Routes of the chain side (docs/chain.md): the anchor and co-signatures for witnesses,
//! members' Ethereum addresses and MVP→MVC conversions, the conversion terms for
//! operators, and the public token economy view. Without a chain configured they answer
//! 404 `chain-not-configured` (the token economy still shows the MVP side).
//!
//! Ethereum values are `0x` hex (addresses, signatures, transaction hashes); ledger roots
//! are plain hex like everywhere else in the ledger API; MVC amounts are decimal strings
//! of wei (they do not fit a JSON number).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::anchoring::{AnchorView, AnchoringRecord, hex_address};
use platform::conversion::{
    ConversionRecord, ConversionRequest, ConversionSettings, address_proof_message,
};
use platform::economy::{MVC_CAP, MVP_MARK, TokenEconomy};
use platform::error::invalid;
use ports::chain::{AnchorCheckpoint, EthAddress, TokenFigures};
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::json::hex32;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform, replayed};
use crate::problem::Problem;
use crate::shapes::{self, PageQuery};

/// Most conversions listed at once for operators.
pub const CONVERSIONS_PAGE_MAX: usize = 1_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(anchor))
        .routes(routes!(cosign))
        .routes(routes!(token_economy))
        .routes(routes!(register_address, wallet_address))
        .routes(routes!(convert))
        .routes(routes!(conversion))
        .routes(routes!(member_conversions))
        .routes(routes!(settings, change_settings))
        .routes(routes!(list_conversions))
}

fn hex_fixed<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], Problem> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits)
        .ok()
        .and_then(|b| <[u8; N]>::try_from(b).ok());
    bytes.ok_or_else(|| Problem::from(invalid(field, format!("{N} bytes of hex"))))
}

/// A checkpoint proposed for the Ethereum anchor.
#[derive(Serialize, ToSchema)]
struct CheckpointAnswer {
    height: u64,
    tree_size: u64,
    /// The Merkle root, hex.
    root: String,
}

fn checkpoint_answer(checkpoint: &AnchorCheckpoint) -> CheckpointAnswer {
    CheckpointAnswer {
        height: checkpoint.height,
        tree_size: checkpoint.tree_size,
        root: hex32(&checkpoint.root),
    }
}

/// A checkpoint anchored on Ethereum.
#[derive(Serialize, ToSchema)]
struct AnchoredAnswer {
    index: u64,
    height: u64,
    tree_size: u64,
    root: String,
    anchored_at: String,
    tx_hash: Option<String>,
    block_number: Option<u64>,
    gas_used: Option<u64>,
}

fn anchored_answer(record: &AnchoringRecord) -> AnchoredAnswer {
    AnchoredAnswer {
        index: record.index,
        height: record.height,
        tree_size: record.tree_size,
        root: hex32(&record.root),
        anchored_at: rfc3339(record.anchored_at_s),
        tx_hash: record
            .tx_hash
            .map(|hash| format!("0x{}", hex::encode(hash))),
        block_number: record.block_number,
        gas_used: record.gas_used,
    }
}

#[derive(Serialize, ToSchema)]
struct AnchorAnswer {
    chain_id: u64,
    /// The anchor contract, `0x` hex.
    anchor_address: String,
    threshold: Option<u64>,
    authorities: Option<Vec<String>>,
    proposal: Option<CheckpointAnswer>,
    latest_anchored: Option<AnchoredAnswer>,
}

/// The anchor: the checkpoint proposed for co-signing and the latest one anchored.
#[utoipa::path(get, path = "/v1/ledger/anchor", tag = "chain",
    responses((status = 200, description = "The anchor", body = AnchorAnswer)))]
async fn anchor(State(state): State<AppState>) -> Result<Json<AnchorAnswer>, Problem> {
    let view: AnchorView = platform(&state)?.anchor_view().await?;
    let authorities = view.authorities.as_ref();
    Ok(Json(AnchorAnswer {
        chain_id: view.domain.chain_id,
        anchor_address: hex_address(&view.domain.anchor),
        threshold: authorities.map(|a| a.threshold),
        authorities: authorities.map(|a| a.authorities.iter().map(hex_address).collect()),
        proposal: view.proposal.as_ref().map(checkpoint_answer),
        latest_anchored: view.latest_anchored.as_ref().map(anchored_answer),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CosignatureBody {
    height: u64,
    root: String,
    /// 65 bytes of hex: an authority's EIP-712 signature of the checkpoint.
    signature: String,
}

#[derive(Serialize, ToSchema)]
struct CosignatureAnswer {
    signer: String,
    cosignatures: u64,
    threshold: u64,
}

/// A witness's co-signature of the proposed checkpoint.
#[utoipa::path(post, path = "/v1/ledger/checkpoints/{tree_size}/cosignatures", tag = "chain",
    params(("tree_size" = u64, Path, description = "The checkpoint's tree size")),
    request_body = CosignatureBody,
    responses((status = 200, description = "Counted", body = CosignatureAnswer)))]
async fn cosign(
    State(state): State<AppState>,
    Path(tree_size): Path<String>,
    body: Body,
) -> Result<Json<CosignatureAnswer>, Problem> {
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
    Ok(Json(CosignatureAnswer {
        signer: hex_address(&receipt.signer),
        cosignatures: receipt.cosignatures,
        threshold: receipt.threshold,
    }))
}

fn wei_text(wei: u128) -> String {
    wei.to_string()
}

/// MVC figures read from the chain; wei as decimal strings.
#[derive(Serialize, ToSchema)]
struct FiguresAnswer {
    total_supply_wei: String,
    circulating_wei: String,
    bridge_balance_wei: String,
    released_wei: String,
    reward_quarters: u64,
    rewards_claimed_wei: String,
}

fn figures_answer(figures: &TokenFigures) -> FiguresAnswer {
    FiguresAnswer {
        total_supply_wei: wei_text(figures.total_supply_wei),
        circulating_wei: wei_text(figures.circulating_wei),
        bridge_balance_wei: wei_text(figures.bridge_balance_wei),
        released_wei: wei_text(figures.released_wei),
        reward_quarters: figures.reward_quarters,
        rewards_claimed_wei: wei_text(figures.rewards_claimed_wei),
    }
}

#[derive(Serialize, ToSchema)]
struct MvpFigures {
    issued: String,
    outstanding: String,
    converted: String,
    converting: String,
}

#[derive(Serialize, ToSchema)]
struct MarkFigures {
    mvp: u64,
    mvc_cap: u64,
    reached_bps: u64,
}

#[derive(Serialize, ToSchema)]
struct ConversionFigures {
    completed: u64,
    failed: u64,
    open: u64,
    mvc_wei: String,
}

#[derive(Serialize, ToSchema)]
struct EconomyAnswer {
    mvp: MvpFigures,
    mark: MarkFigures,
    conversions: ConversionFigures,
    mvc: Option<FiguresAnswer>,
    chain_error: Option<String>,
}

fn economy_answer(economy: &TokenEconomy) -> EconomyAnswer {
    EconomyAnswer {
        mvp: MvpFigures {
            issued: economy.mvp_issued.to_string(),
            outstanding: economy.mvp_outstanding.to_string(),
            converted: economy.mvp_converted.to_string(),
            converting: economy.mvp_converting.to_string(),
        },
        mark: MarkFigures {
            mvp: MVP_MARK,
            mvc_cap: MVC_CAP,
            reached_bps: economy.mvp_mark_bps,
        },
        conversions: ConversionFigures {
            completed: economy.conversions_completed,
            failed: economy.conversions_failed,
            open: economy.conversions_open,
            mvc_wei: wei_text(economy.mvc_converted_wei),
        },
        mvc: economy.chain.as_ref().map(figures_answer),
        chain_error: economy.chain_error.clone(),
    }
}

/// The token economy: MVP issued and outstanding, conversions, MVC supply.
#[utoipa::path(get, path = "/v1/token-economy", tag = "chain",
    responses((status = 200, description = "The figures", body = EconomyAnswer)))]
async fn token_economy(State(state): State<AppState>) -> Result<Json<EconomyAnswer>, Problem> {
    let economy = platform(&state)?.token_economy().await?;
    Ok(Json(economy_answer(&economy)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    /// `0x` and 20 bytes of hex.
    address: String,
    /// The address's EIP-191 signature of `message` (see the GET).
    signature: String,
}

#[derive(Serialize, ToSchema)]
struct AddressAnswer {
    address: Option<String>,
    proved_at: Option<String>,
    /// The message to sign, with `{address}` to fill in.
    #[serde(skip_serializing_if = "Option::is_none")]
    message_template: Option<String>,
    /// The exact message to sign for the `address` asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

fn address_answer(record: Option<&platform::conversion::WalletAddressRecord>) -> AddressAnswer {
    AddressAnswer {
        address: record.map(|r| hex_address(&r.address)),
        proved_at: record.map(|r| rfc3339(r.proved_at_s)),
        message_template: None,
        message: None,
    }
}

/// Registers the member's Ethereum address, proved by its signature.
#[utoipa::path(post, path = "/v1/me/wallet-addresses", tag = "chain",
    security(("member_session" = [])),
    request_body = AddressBody,
    responses((status = 201, description = "The address", body = AddressAnswer)))]
async fn register_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<AddressAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: AddressBody = json_body(body)?;
    let address: EthAddress = hex_fixed::<20>("address", &body.address)?;
    let signature = hex_fixed::<65>("signature", &body.signature)?;
    let record = platform(&state)?
        .register_address(member_id, address, signature)
        .await?;
    Ok((StatusCode::CREATED, Json(address_answer(Some(&record)))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AddressQuery {
    /// The address the member is about to prove: the answer then carries the exact
    /// message to sign for it.
    address: Option<String>,
}

/// The member's address, and the message an address signs to be registered.
#[utoipa::path(get, path = "/v1/me/wallet-addresses", tag = "chain",
    security(("member_session" = [])),
    params(AddressQuery),
    responses((status = 200, description = "The address, if any", body = AddressAnswer)))]
async fn wallet_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AddressQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AddressAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let record = platform(&state)?.wallet_address(member_id).await?;
    let mut answer = address_answer(record.as_ref());
    let message = |address: &EthAddress| address_proof_message(member_id, address);
    answer.message_template =
        Some(message(&[0u8; 20]).replace(&hex_address(&[0u8; 20]), "{address}"));
    if let Some(text) = &query.address {
        answer.message = Some(message(&hex_fixed::<20>("address", text)?));
    }
    Ok(Json(answer))
}

/// One conversion of MVP into MVC.
#[derive(Serialize, ToSchema)]
struct ConversionAnswer {
    conversion_id: String,
    /// `requested`, `completed` or `failed`.
    status: &'static str,
    mvp: u64,
    mvc_wei: String,
    mvp_per_mvc: u64,
    address: String,
    failure: Option<String>,
    tx_hash: Option<String>,
    block_number: Option<u64>,
    created_at: String,
    finished_at: Option<String>,
    /// Operators' lists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<String>,
}

fn conversion_answer(record: &ConversionRecord) -> ConversionAnswer {
    ConversionAnswer {
        conversion_id: record.id.to_string(),
        status: record.status.as_str(),
        mvp: record.mvp,
        mvc_wei: wei_text(record.mvc_wei),
        mvp_per_mvc: record.mvp_per_mvc,
        address: hex_address(&record.address),
        failure: record.failure.clone(),
        tx_hash: record.tx_hash.clone(),
        block_number: record.block_number,
        created_at: rfc3339(record.created_at_s),
        finished_at: record.finished_at_s.map(rfc3339),
        member_id: None,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConvertBody {
    mvp: u64,
    /// The PIN again, above the platform's threshold.
    pin: Option<String>,
}

/// Converts MVP into MVC sent to the member's address. Idempotent with `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/conversions", tag = "chain",
    security(("member_session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = ConvertBody,
    responses(
        (status = 200, description = "Completed or failed; `Idempotent-Replayed: true` on a retry", body = ConversionAnswer),
        (status = 202, description = "On its way to the chain", body = ConversionAnswer),
        (status = 409, description = "The same key is still in flight", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The same key with another body", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn convert(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let member_id = member(&state, &headers).await?;
    let body: ConvertBody = json_body(body)?;
    let request = ConversionRequest {
        member_id,
        mvp: body.mvp,
        idempotency_key: idempotency_key(&headers)?,
        pin: body.pin,
    };
    let answered = platform(&state)?.convert_once(request).await?;
    let status = match answered.value.status {
        platform::conversion::ConversionStatus::Requested => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    let answer = (status, Json(conversion_answer(&answered.value))).into_response();
    Ok(replayed(answer, answered.replayed))
}

/// One of the member's conversions.
#[utoipa::path(get, path = "/v1/conversions/{id}", tag = "chain",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The conversion id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The conversion", body = ConversionAnswer)))]
async fn conversion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ConversionAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("conversion_id", &id)?;
    let record = platform(&state)?.conversion(member_id, id).await?;
    Ok(Json(conversion_answer(&record)))
}

/// The conversion terms; the same shape is the body of the PUT.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsShape {
    /// MVP given for one MVC.
    mvp_per_mvc: u64,
    /// Smallest conversion, in MVP.
    minimum_mvp: u64,
    /// Most MVP one member converts per day (KST).
    daily_limit_mvp: u64,
    enabled: bool,
}

fn settings_shape(settings: &ConversionSettings) -> SettingsShape {
    SettingsShape {
        mvp_per_mvc: settings.mvp_per_mvc,
        minimum_mvp: settings.minimum_mvp,
        daily_limit_mvp: settings.daily_limit_mvp,
        enabled: settings.enabled,
    }
}

/// The conversion terms. Needs `conversions.read`.
#[utoipa::path(get, path = "/admin/v1/conversion-settings", tag = "chain",
    security(("operator" = [])),
    responses((status = 200, description = "The terms", body = SettingsShape)))]
async fn settings(State(state): State<AppState>) -> Result<Json<SettingsShape>, Problem> {
    Ok(Json(settings_shape(
        &platform(&state)?.conversion_settings(),
    )))
}

/// Changes the conversion terms. Needs `conversions.write`.
#[utoipa::path(put, path = "/admin/v1/conversion-settings", tag = "chain",
    security(("operator" = [])),
    request_body = SettingsShape,
    responses((status = 200, description = "The terms", body = SettingsShape)))]
async fn change_settings(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<SettingsShape>, Problem> {
    let body: SettingsShape = json_body(body)?;
    let settings = ConversionSettings {
        mvp_per_mvc: body.mvp_per_mvc,
        minimum_mvp: body.minimum_mvp,
        daily_limit_mvp: body.daily_limit_mvp,
        enabled: body.enabled,
    };
    let settings = platform(&state)?.set_conversion_settings(settings).await?;
    Ok(Json(settings_shape(&settings)))
}

#[derive(Serialize, ToSchema)]
struct ConversionsAnswer {
    conversions: Vec<ConversionAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Conversions a member's app lists by default on one page.
const MEMBER_CONVERSIONS_PAGE_DEFAULT: usize = 20;

/// The member's own conversions, newest first.
#[utoipa::path(get, path = "/v1/me/conversions", tag = "chain",
    security(("member_session" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of the member's conversions", body = ConversionsAnswer)))]
async fn member_conversions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversionsAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let before = query
        .cursor
        .as_deref()
        .map(shapes::time_cursor)
        .transpose()?;
    let limit = shapes::page_limit(
        query.limit,
        MEMBER_CONVERSIONS_PAGE_DEFAULT,
        CONVERSIONS_PAGE_MAX,
    )?;
    let records = platform(&state)?
        .member_conversions(member_id, before, limit)
        .await?;
    let next_cursor = (records.len() == limit)
        .then(|| records.last())
        .flatten()
        .map(|last| shapes::time_cursor_text(last.created_at_s, last.id));
    Ok(Json(ConversionsAnswer {
        conversions: records.iter().map(conversion_answer).collect(),
        next_cursor,
    }))
}

/// Every member's conversions, newest first. Needs `conversions.read`.
#[utoipa::path(get, path = "/admin/v1/conversions", tag = "chain",
    security(("operator" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of conversions", body = ConversionsAnswer)))]
async fn list_conversions(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversionsAnswer>, Problem> {
    let Query(query) = query?;
    let before = query
        .cursor
        .as_deref()
        .map(shapes::time_cursor)
        .transpose()?;
    let limit = shapes::page_limit(query.limit, 100, CONVERSIONS_PAGE_MAX)?;
    let records = platform(&state)?.conversions(before, limit).await?;
    let next_cursor = (records.len() == limit)
        .then(|| records.last())
        .flatten()
        .map(|last| shapes::time_cursor_text(last.created_at_s, last.id));
    let conversions = records
        .iter()
        .map(|record| ConversionAnswer {
            member_id: Some(record.member_id.to_string()),
            ..conversion_answer(record)
        })
        .collect();
    Ok(Json(ConversionsAnswer {
        conversions,
        next_cursor,
    }))
}
