//! Gift voucher routes: the operator's catalogue (`/admin/v1/voucher-products`), the
//! members' shop (`/v1/voucher-products`, `/v1/me/vouchers`) and the voucher drawn as a
//! barcode or QR code. Redemption is a VAN authorization with the voucher code as its
//! `pay_code` (see van_api). See docs/vouchers.md.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::vouchers::{
    NewProduct, ProductChange, ProductRecord, PurchaseRequest, VoucherRecord,
};
use ports::time::{now_s, rfc3339};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::codes_svg;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform, replayed};
use crate::problem::Problem;
use crate::shapes::{PageQuery, page_limit};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, all_products))
        .routes(routes!(change_product))
        .routes(routes!(catalogue))
        .routes(routes!(buy, list))
        .routes(routes!(show))
        .routes(routes!(cancel))
        .routes(routes!(barcode))
        .routes(routes!(qr))
}

/// A voucher product of the catalogue.
#[derive(Serialize, ToSchema)]
struct ProductAnswer {
    product_id: String,
    brand: String,
    name: String,
    face_value: u64,
    price: u64,
    validity_days: u32,
    enabled: bool,
    created_at: String,
}

fn product_answer(product: &ProductRecord) -> ProductAnswer {
    ProductAnswer {
        product_id: product.id.to_string(),
        brand: product.brand.clone(),
        name: product.name.clone(),
        face_value: product.face_value,
        price: product.price,
        validity_days: product.validity_days,
        enabled: product.enabled,
        created_at: rfc3339(product.created_at_s),
    }
}

/// A voucher for its owner, code included (the app shows it offline).
#[derive(Serialize, ToSchema)]
struct VoucherAnswer {
    voucher_id: String,
    product_id: String,
    brand: String,
    name: String,
    face_value: u64,
    price: u64,
    /// The code a till scans (as a VAN authorization's `pay_code`).
    code: String,
    /// `pending`, `active`, `redeemed`, `expired`, `cancelling`, `cancelled` or `failed`.
    status: &'static str,
    purchased_at: String,
    expires_at: String,
    redeemed_at: Option<String>,
    refund: u64,
    fee: u64,
    cancelled_at: Option<String>,
}

fn voucher_answer(voucher: &VoucherRecord, code: String) -> VoucherAnswer {
    VoucherAnswer {
        voucher_id: voucher.id.to_string(),
        product_id: voucher.product_id.to_string(),
        brand: voucher.brand.clone(),
        name: voucher.name.clone(),
        face_value: voucher.face_value,
        price: voucher.price,
        code,
        status: voucher.shown_status(now_s()),
        purchased_at: rfc3339(voucher.purchased_at_s),
        expires_at: rfc3339(voucher.expires_at_s),
        redeemed_at: voucher.redeemed_at_s.map(rfc3339),
        refund: voucher.refund,
        fee: voucher.fee,
        cancelled_at: voucher.cancelled_at_s.map(rfc3339),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    brand: String,
    name: String,
    face_value: u64,
    price: u64,
    validity_days: Option<u32>,
}

/// Adds a product to the catalogue. Needs `vouchers.write`.
#[utoipa::path(post, path = "/admin/v1/voucher-products", tag = "vouchers",
    security(("operator" = [])),
    request_body = ProductBody,
    responses((status = 201, description = "The product", body = ProductAnswer)))]
async fn create_product(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<ProductAnswer>), Problem> {
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
    Ok((StatusCode::CREATED, Json(product_answer(&product))))
}

#[derive(Serialize, ToSchema)]
struct ProductsAnswer {
    products: Vec<ProductAnswer>,
}

/// Every product, disabled ones too. Needs `vouchers.read`.
#[utoipa::path(get, path = "/admin/v1/voucher-products", tag = "vouchers",
    security(("operator" = [])),
    responses((status = 200, description = "The catalogue", body = ProductsAnswer)))]
async fn all_products(State(state): State<AppState>) -> Result<Json<ProductsAnswer>, Problem> {
    products(&state, false).await
}

/// The catalogue members may buy from: public, like a shop window.
#[utoipa::path(get, path = "/v1/voucher-products", tag = "vouchers",
    responses((status = 200, description = "Enabled products", body = ProductsAnswer)))]
async fn catalogue(State(state): State<AppState>) -> Result<Json<ProductsAnswer>, Problem> {
    products(&state, true).await
}

async fn products(state: &AppState, enabled_only: bool) -> Result<Json<ProductsAnswer>, Problem> {
    let products = platform(state)?.products(enabled_only).await?;
    let products = products.iter().map(product_answer).collect();
    Ok(Json(ProductsAnswer { products }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductChangeBody {
    name: Option<String>,
    price: Option<u64>,
    enabled: Option<bool>,
}

/// Renames, reprices, enables or disables a product. Needs `vouchers.write`.
#[utoipa::path(patch, path = "/admin/v1/voucher-products/{id}", tag = "vouchers",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The product id", pattern = r"^[0-9]{1,39}$")),
    request_body = ProductChangeBody,
    responses((status = 200, description = "The product", body = ProductAnswer)))]
async fn change_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ProductAnswer>, Problem> {
    let id = parse_id_text("id", &id)?;
    let body: ProductChangeBody = json_body(body)?;
    let change = ProductChange {
        name: body.name,
        price: body.price,
        enabled: body.enabled,
    };
    let product = platform(&state)?.change_product(id, change).await?;
    Ok(Json(product_answer(&product)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BuyBody {
    #[schema(pattern = r"^[0-9]{1,39}$")]
    product_id: String,
    /// The PIN again, above the platform's threshold.
    pin: Option<String>,
}

/// Buys a voucher with MVP. Idempotent with `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/me/vouchers", tag = "vouchers",
    security(("member_session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = BuyBody,
    responses(
        (status = 201, description = "The voucher; `Idempotent-Replayed: true` on a retry", body = VoucherAnswer),
        (status = 409, description = "The same key is still in flight", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The same key with another body", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn buy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let member_id = member(&state, &headers).await?;
    let body: BuyBody = json_body(body)?;
    let request = PurchaseRequest {
        member_id,
        product_id: parse_id_text("product_id", &body.product_id)?,
        idempotency_key: idempotency_key(&headers)?,
        pin: body.pin,
    };
    let platform = platform(&state)?;
    let bought = platform.buy_voucher_once(request).await?;
    let code = platform.voucher_code(&bought.value)?;
    let answer = (
        StatusCode::CREATED,
        Json(voucher_answer(&bought.value, code)),
    );
    Ok(replayed(answer.into_response(), bought.replayed))
}

#[derive(Serialize, ToSchema)]
struct VouchersAnswer {
    vouchers: Vec<VoucherAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The member's vouchers, newest first, 100 a page at most.
#[utoipa::path(get, path = "/v1/me/vouchers", tag = "vouchers",
    security(("member_session" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of vouchers", body = VouchersAnswer)))]
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<VouchersAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let before = match &query.cursor {
        Some(text) => Some(parse_id_text("cursor", text)?),
        None => None,
    };
    let page_max = platform::vouchers::VOUCHER_PAGE_MAX;
    let limit = page_limit(query.limit, page_max, page_max)?;
    let platform = platform(&state)?;
    let mut vouchers = platform.vouchers(member_id, before).await?;
    vouchers.truncate(limit);
    let mut shown = Vec::with_capacity(vouchers.len());
    for voucher in &vouchers {
        shown.push(voucher_answer(voucher, platform.voucher_code(voucher)?));
    }
    let full = vouchers.len() == limit;
    let next_cursor = vouchers.last().filter(|_| full).map(|v| v.id.to_string());
    Ok(Json(VouchersAnswer {
        vouchers: shown,
        next_cursor,
    }))
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

/// One of the member's vouchers.
#[utoipa::path(get, path = "/v1/me/vouchers/{id}", tag = "vouchers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The voucher id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The voucher", body = VoucherAnswer)))]
async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<VoucherAnswer>, Problem> {
    let (voucher, code) = owned(&state, &headers, &id).await?;
    Ok(Json(voucher_answer(&voucher, code)))
}

/// Cancels an unused voucher: within 7 days of purchase (all back) or after it expired
/// (90 % back).
#[utoipa::path(post, path = "/v1/me/vouchers/{id}/cancel", tag = "vouchers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The voucher id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The voucher", body = VoucherAnswer)))]
async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<VoucherAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("id", &id)?;
    let platform = platform(&state)?;
    let voucher = platform.cancel_voucher(member_id, id).await?;
    let code = platform.voucher_code(&voucher)?;
    Ok(Json(voucher_answer(&voucher, code)))
}

/// The voucher's code as a Code 128 barcode.
#[utoipa::path(get, path = "/v1/me/vouchers/{id}/barcode.svg", operation_id = "voucher_barcode", tag = "vouchers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The voucher id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "SVG", body = String, content_type = "image/svg+xml")))]
async fn barcode(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (_, code) = owned(&state, &headers, &id).await?;
    let svg = codes_svg::code128_svg(&code).ok_or_else(undrawable)?;
    Ok(codes_svg::svg_response(svg))
}

/// The voucher's code as a QR code.
#[utoipa::path(get, path = "/v1/me/vouchers/{id}/qr.svg", operation_id = "voucher_qr", tag = "vouchers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The voucher id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "SVG", body = String, content_type = "image/svg+xml")))]
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
