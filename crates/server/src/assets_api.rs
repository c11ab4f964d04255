//! Several assets over HTTP (issue 15 item 2): prices, quotes with a spread and an expiry,
//! conversions at a quote (both legs or neither), operators' prices and treasury deposits.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use platform::assets::{self, Asset, Converted, Price, Quote as QuoteRow};
use ports::prices::Decimal;
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{json_body, member, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(prices))
        .routes(routes!(set_price))
        .routes(routes!(quote))
        .routes(routes!(convert))
        .routes(routes!(deposit))
}

#[derive(Serialize, ToSchema)]
struct PriceAnswer {
    asset: &'static str,
    /// `point` (MVP), `coin` (TTC) or `custodial`.
    kind: &'static str,
    /// Places of the smallest unit: amounts are integers of 10^-decimals of a unit.
    decimals: u32,
    /// KRW for one whole unit, an exact decimal.
    krw_per_unit: String,
    /// `fixed` (MVP), `operator` or `feed`.
    source: String,
    observed_at: String,
}

fn price_answer(price: &Price) -> PriceAnswer {
    PriceAnswer {
        asset: price.asset.symbol,
        kind: price.asset.kind.as_str(),
        decimals: price.asset.decimals,
        krw_per_unit: price.krw_per_unit.to_string(),
        source: price.source.clone(),
        observed_at: rfc3339(price.observed_at_s),
    }
}

#[derive(Serialize, ToSchema)]
struct PricesAnswer {
    prices: Vec<PriceAnswer>,
}

/// Every asset's price in KRW (an asset without a price yet is absent).
#[utoipa::path(get, path = "/v1/prices", operation_id = "asset_prices", tag = "assets",
    responses((status = 200, description = "The prices", body = PricesAnswer)))]
async fn prices(State(state): State<AppState>) -> Result<Json<PricesAnswer>, Problem> {
    let prices = platform(&state)?.prices().await?;
    Ok(Json(PricesAnswer {
        prices: prices.iter().map(price_answer).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceBody {
    /// KRW for one whole unit, an exact decimal ("100", "143250000.5").
    krw_per_unit: String,
}

fn asset_of(field: &'static str, symbol: &str) -> Result<Asset, Problem> {
    assets::asset(symbol)
        .map_err(|_| platform::error::invalid(field, "MVP, TTC, BTC, ETH or USDT").into())
}

/// Sets an asset's price (TTC's, or a custodial coin's when no feed runs). Needs
/// `conversions.write`.
#[utoipa::path(put, path = "/admin/v1/prices/{asset}", operation_id = "set_asset_price", tag = "assets",
    security(("operator" = [])),
    params(("asset" = String, Path, description = "TTC, BTC, ETH or USDT")),
    request_body = PriceBody,
    responses((status = 200, description = "The price", body = PriceAnswer)))]
async fn set_price(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    body: Body,
) -> Result<Json<PriceAnswer>, Problem> {
    let asset = asset_of("asset", &symbol)?;
    let body: PriceBody = json_body(body)?;
    let price = Decimal::parse(&body.krw_per_unit).ok_or_else(|| {
        platform::error::invalid("krw_per_unit", "a plain decimal, at most 18 places")
    })?;
    let set = platform(&state)?
        .set_price(asset, price, "operator")
        .await?;
    Ok(Json(price_answer(&set)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct QuoteBody {
    from_asset: String,
    to_asset: String,
    /// In `from_asset`'s smallest unit.
    amount: u64,
}

#[derive(Serialize, ToSchema)]
struct QuoteAnswer {
    quote_id: String,
    from_asset: String,
    to_asset: String,
    /// What leaves the member's wallet, in `from_asset`'s smallest unit.
    from_amount: u64,
    /// What arrives, in `to_asset`'s smallest unit: at the two prices, less the spread,
    /// rounded down.
    to_amount: u64,
    /// KRW per unit of each, as quoted.
    from_price: String,
    to_price: String,
    spread_bps: u64,
    /// `open` until converted (`used`); refused after `expires_at`.
    status: &'static str,
    expires_at: String,
}

fn quote_answer(quote: &QuoteRow) -> QuoteAnswer {
    QuoteAnswer {
        quote_id: quote.id.to_string(),
        from_asset: quote.from_asset.clone(),
        to_asset: quote.to_asset.clone(),
        from_amount: quote.from_amount,
        to_amount: quote.to_amount,
        from_price: quote.from_price.clone(),
        to_price: quote.to_price.clone(),
        spread_bps: quote.spread_bps,
        status: if quote.used { "used" } else { "open" },
        expires_at: rfc3339(quote.expires_at_s),
    }
}

/// A quote for converting between two assets, good for 30 seconds.
#[utoipa::path(post, path = "/v1/asset-quotes", operation_id = "asset_quote", tag = "assets",
    security(("member_session" = [])),
    request_body = QuoteBody,
    responses(
        (status = 201, description = "The quote", body = QuoteAnswer),
        (status = 409, description = "No price of an asset yet", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn quote(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<QuoteAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: QuoteBody = json_body(body)?;
    let (from, to) = (
        asset_of("from_asset", &body.from_asset)?,
        asset_of("to_asset", &body.to_asset)?,
    );
    let quote = platform(&state)?
        .quote_conversion(member_id, from, to, body.amount)
        .await?;
    Ok((StatusCode::CREATED, Json(quote_answer(&quote))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConvertBody {
    #[schema(pattern = r"^[0-9]{1,39}$")]
    quote_id: String,
}

#[derive(Serialize, ToSchema)]
struct ConversionAnswer {
    quote: QuoteAnswer,
    /// `completed`: both legs moved.
    status: &'static str,
    /// The ledger transfers: the member's `from_asset` in, the `to_asset` out.
    transfer_ids: [String; 2],
}

fn conversion_answer(converted: &Converted) -> ConversionAnswer {
    ConversionAnswer {
        quote: quote_answer(&converted.quote),
        status: "completed",
        transfer_ids: converted.transfer_ids.map(|id| id.to_string()),
    }
}

/// Converts at a quote of the member's: two linked ledger transfers through the
/// platform's treasury, both or neither. A quote converts once (a retry answers the same);
/// an expired one is refused.
#[utoipa::path(post, path = "/v1/asset-conversions", operation_id = "asset_conversion", tag = "assets",
    security(("member_session" = [])),
    request_body = ConvertBody,
    responses(
        (status = 201, description = "Converted", body = ConversionAnswer),
        (status = 409, description = "The quote expired, or the treasury cannot deliver", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The balance is not enough", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn convert(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ConversionAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: ConvertBody = json_body(body)?;
    let quote_id = parse_id_text("quote_id", &body.quote_id)?;
    let converted = platform(&state)?
        .convert_at_quote(member_id, quote_id)
        .await?;
    Ok((StatusCode::CREATED, Json(conversion_answer(&converted))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DepositBody {
    /// BTC, ETH or USDT (a custodial coin).
    asset: String,
    /// In the asset's smallest unit.
    amount: u64,
    /// The custodian's reference of the deposit: one deposit per reference.
    reference: String,
}

#[derive(Serialize, ToSchema)]
struct DepositAnswer {
    asset: &'static str,
    amount: u64,
    reference: String,
    transfer_id: String,
}

/// Records coins deposited at the custodian into the treasury's inventory, once per
/// reference. Needs `conversions.write`.
#[utoipa::path(post, path = "/admin/v1/treasury/deposits", operation_id = "treasury_deposit", tag = "assets",
    security(("operator" = [])),
    request_body = DepositBody,
    responses((status = 201, description = "Recorded (or recorded already)", body = DepositAnswer)))]
async fn deposit(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<DepositAnswer>), Problem> {
    let body: DepositBody = json_body(body)?;
    let asset = asset_of("asset", &body.asset)?;
    let transfer_id = platform(&state)?
        .deposit_to_treasury(asset, body.amount, &body.reference)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(DepositAnswer {
            asset: asset.symbol,
            amount: body.amount,
            reference: body.reference,
            transfer_id: transfer_id.to_string(),
        }),
    ))
}
