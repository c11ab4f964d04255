//! The console's prices (`/console/prices`): every asset's price in KRW (`GET /v1/prices`),
//! a form per asset that sets its price (`PUT /admin/v1/prices/{asset}`), and the form that
//! records coins deposited at the custodian into the treasury
//! (`POST /admin/v1/treasury/deposits`). The forms are shown to roles holding
//! `conversions.write`, which the API asks of both; the API decides either way.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use platform::assets::{ASSETS, AssetKind};
use serde::Deserialize;
use serde_json::json;

use super::{Failure, Me, failure, frame, me};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::member::assets::{PriceView, PricesAnswer, price_view};
use crate::pages::{Frame, html};

/// A row of the prices table: the asset, and its price when it has one.
struct PriceRow {
    asset: &'static str,
    price: Option<PriceView>,
    /// An operator may set it (every asset but MVP, 1 KRW by definition).
    settable: bool,
}

#[derive(Template)]
#[template(path = "console_prices.html")]
struct PricesPage {
    frame: Frame,
    rows: Vec<PriceRow>,
    /// The custodial coins a deposit may be of.
    custodial: Vec<&'static str>,
    may_write: bool,
}

#[derive(Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/prices?done=`.
pub(super) async fn prices(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    console_page!(state, browser, |me| prices_page(
        &state,
        &browser,
        &me,
        query.done.as_deref(),
        None
    ))
}

async fn prices_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    done: Option<&str>,
    error: Option<String>,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let answer: PricesAnswer = state
        .api
        .json(&browser.operator(), Call::get("/v1/prices"))
        .await?;
    let rows = ASSETS
        .iter()
        .map(|asset| PriceRow {
            asset: asset.symbol,
            price: answer
                .prices
                .iter()
                .find(|line| line.asset == asset.symbol)
                .map(|line| price_view(line, t)),
            settable: asset.kind != AssetKind::Point,
        })
        .collect();
    let notice = match done {
        Some("price") => Some(t.asset_price_set.to_string()),
        Some("deposit") => Some(t.asset_deposited.to_string()),
        _ => None,
    };
    let page = PricesPage {
        frame: frame(state, browser, me, "prices", t.asset_prices)
            .notice(notice)
            .error(error),
        rows,
        custodial: ASSETS
            .iter()
            .filter(|asset| asset.kind == AssetKind::Custodial)
            .map(|asset| asset.symbol)
            .collect(),
        may_write: me.may("conversions.write"),
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
pub(super) struct PriceForm {
    #[serde(default)]
    krw_per_unit: String,
}

/// `POST /console/prices/{asset}`: sets the asset's price (`conversions.write`).
pub(super) async fn set_price(
    State(state): State<WebState>,
    browser: Browser,
    Path(asset): Path<String>,
    Form(form): Form<PriceForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let Some(asset) = ASSETS.iter().find(|known| known.symbol == asset) else {
            return Ok((StatusCode::NOT_FOUND, "no such asset").into_response());
        };
        let body = json!({ "krw_per_unit": form.krw_per_unit.trim() });
        let call = Call::put(format!("/admin/v1/prices/{}", asset.symbol), &body);
        match state.api.send(&browser.operator(), call).await {
            Ok(_) => Ok(Redirect::to("/console/prices?done=price").into_response()),
            Err(problem) if problem.about_the_form() => {
                prices_page(&state, &browser, &me, None, Some(problem.message())).await
            }
            Err(problem) => Err(problem.into()),
        }
    })
}

#[derive(Deserialize)]
pub(super) struct DepositForm {
    #[serde(default)]
    asset: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
}

/// `POST /console/prices/deposits`: records a deposit at the custodian into the treasury,
/// once per reference (`conversions.write`).
pub(super) async fn deposit(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<DepositForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let t = browser.lang.text();
        let amount = form
            .amount
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|amount| *amount > 0);
        let Some(amount) = amount else {
            let error = Some(t.asset_deposit_amount_invalid.to_string());
            return prices_page(&state, &browser, &me, None, error).await;
        };
        let body = json!({
            "asset": form.asset,
            "amount": amount,
            "reference": form.reference.trim(),
        });
        let call = Call::post("/admin/v1/treasury/deposits", &body);
        match state.api.send(&browser.operator(), call).await {
            Ok(_) => Ok(Redirect::to("/console/prices?done=deposit").into_response()),
            Err(problem) if problem.about_the_form() => {
                prices_page(&state, &browser, &me, None, Some(problem.message())).await
            }
            Err(problem) => Err(problem.into()),
        }
    })
}
