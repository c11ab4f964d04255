//! Gift voucher routes: the operator's catalogue (`/admin/v1/voucher-products`), the
//! members' shop (`/v1/voucher-products`, `/v1/me/vouchers`) and the voucher drawn as a
//! barcode or QR code. Redemption is a VAN authorization with the voucher code as its
//! `pay_code` (see van_api). See docs/vouchers.md.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, post};
use platform::vouchers::{
    NewProduct, ProductChange, ProductRecord, PurchaseRequest, VoucherRecord,
};
use ports::time::{now_s, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::codes_svg;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform};
use crate::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/voucher-products",
            post(create_product).get(all_products),
        )
        .route("/admin/v1/voucher-products/{id}", patch(change_product))
        .route("/v1/voucher-products", get(catalogue))
        .route("/v1/me/vouchers", post(buy).get(list))
        .route("/v1/me/vouchers/{id}", get(show))
        .route("/v1/me/vouchers/{id}/cancel", post(cancel))
        .route("/v1/me/vouchers/{id}/barcode.svg", get(barcode))
        .route("/v1/me/vouchers/{id}/qr.svg", get(qr))
}

fn product_json(product: &ProductRecord) -> Value {
    json!({
        "product_id": product.id.to_string(),
        "brand": product.brand,
        "name": product.name,
        "face_value": product.face_value,
        "price": product.price,
        "validity_days": product.validity_days,
        "enabled": product.enabled,
        "created_at": rfc3339(product.created_at_s),
    })
}

/// A voucher for its owner, code included (the app shows it offline).
fn voucher_json(voucher: &VoucherRecord, code: &str) -> Value {
    json!({
        "voucher_id": voucher.id.to_string(),
        "product_id": voucher.product_id.to_string(),
        "brand": voucher.brand,
        "name": voucher.name,
        "face_value": voucher.face_value,
        "price": voucher.price,
        "code": code,
        "status": voucher.shown_status(now_s()),
        "purchased_at": rfc3339(voucher.purchased_at_s),
        "expires_at": rfc3339(voucher.expires_at_s),
        "redeemed_at": voucher.redeemed_at_s.map(rfc3339),
        "refund": voucher.refund,
        "fee": voucher.fee,
        "cancelled_at": voucher.cancelled_at_s.map(rfc3339),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    brand: String,
    name: String,
    face_value: u64,
    price: u64,
    validity_days: Option<u32>,
}

async fn create_product(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: ProductBody = json_body(body)?;
    let product = platform(&state)?
        .create_product(NewProduct {
            brand: body.brand,
            name: body.name,
            face_value: body.face_value,
            price: body.price,
            validity_days: body.validity_days,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(product_json(&product))))
}

async fn all_products(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    products(&state, false).await
}

/// The catalogue members may buy from: public, like a shop window.
async fn catalogue(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    products(&state, true).await
}

async fn products(state: &AppState, enabled_only: bool) -> Result<Json<Value>, Problem> {
    let products = platform(state)?.products(enabled_only).await?;
    let products: Vec<Value> = products.iter().map(product_json).collect();
    Ok(Json(json!({ "products": products })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductChangeBody {
    name: Option<String>,
    price: Option<u64>,
    enabled: Option<bool>,
}

async fn change_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("id", &id)?;
    let body: ProductChangeBody = json_body(body)?;
    let change = ProductChange {
        name: body.name,
        price: body.price,
        enabled: body.enabled,
    };
    let product = platform(&state)?.change_product(id, change).await?;
    Ok(Json(product_json(&product)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyBody {
    product_id: String,
    /// The PIN again, above the platform's threshold.
    pin: Option<String>,
}

/// `POST /v1/me/vouchers {product_id}` (`Idempotency-Key` honoured).
async fn buy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: BuyBody = json_body(body)?;
    let request = PurchaseRequest {
        member_id,
        product_id: parse_id_text("product_id", &body.product_id)?,
        idempotency_key: idempotency_key(&headers)?,
        pin: body.pin,
    };
    let platform = platform(&state)?;
    let voucher = platform.buy_voucher(request).await?;
    let code = platform.voucher_code(&voucher)?;
    Ok((StatusCode::CREATED, Json(voucher_json(&voucher, &code))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    before: Option<String>,
}

/// `GET /v1/me/vouchers[?before=ID]`: newest first, a page at most; `next_before` continues.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query.map_err(|error| Problem::malformed_json(error.body_text()))?;
    let before = match &query.before {
        Some(text) => Some(parse_id_text("before", text)?),
        None => None,
    };
    let platform = platform(&state)?;
    let vouchers = platform.vouchers(member_id, before).await?;
    let mut shown = Vec::with_capacity(vouchers.len());
    for voucher in &vouchers {
        shown.push(voucher_json(voucher, &platform.voucher_code(voucher)?));
    }
    let full = vouchers.len() == platform::vouchers::VOUCHER_PAGE_MAX;
    let next_before = vouchers.last().filter(|_| full).map(|v| v.id.to_string());
    Ok(Json(
        json!({ "vouchers": shown, "next_before": next_before }),
    ))
}

async fn owned(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(VoucherRecord, String), Problem> {
    let member_id = member(state, headers).await?;
    let id = parse_id_text("id", id)?;
    let platform = platform(state)?;
    let voucher = platform.voucher(member_id, id).await?;
    let code = platform.voucher_code(&voucher)?;
    Ok((voucher, code))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let (voucher, code) = owned(&state, &headers, &id).await?;
    Ok(Json(voucher_json(&voucher, &code)))
}

/// `POST /v1/me/vouchers/{id}/cancel`: an unused voucher, within 7 days of purchase (all
/// back) or after it expired (90 % back).
async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("id", &id)?;
    let platform = platform(&state)?;
    let voucher = platform.cancel_voucher(member_id, id).await?;
    let code = platform.voucher_code(&voucher)?;
    Ok(Json(voucher_json(&voucher, &code)))
}

async fn barcode(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (_, code) = owned(&state, &headers, &id).await?;
    let svg = codes_svg::code128_svg(&code).ok_or_else(undrawable)?;
    Ok(codes_svg::svg_response(svg))
}

async fn qr(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (_, code) = owned(&state, &headers, &id).await?;
    let svg = codes_svg::qr_svg(&code).ok_or_else(undrawable)?;
    Ok(codes_svg::svg_response(svg))
}

fn undrawable() -> Problem {
    Problem::from(platform::PlatformError::Unavailable(
        "the code cannot be drawn".into(),
    ))
}
