//! Escrowed P2P trades in the member app (issue 15 item 3; the API is `server::escrow_api`,
//! docs/escrow.md): browsing open offers, the member's own trades, offering an asset for a
//! price, and each trade's page with the steps its state allows.
//!
//! - `/app/trades?cursor=`: the offer form (the asset and the price asset as selects of the
//!   assets the API accepts, amounts typed in whole units with the asset's decimals and
//!   read exactly into its smallest unit, the settlement), the open offers a page at a time
//!   (`GET /v1/trades`) and the member's own trades (`GET /v1/trades?mine=true`).
//! - "Offer" (`POST /app/trades`) sends `POST /v1/trades` under the `Idempotency-Key` the
//!   form was drawn with (a second press is the same offer) and leads to the trade's page.
//! - `/app/trades/{id}`: the state, both legs, the deadline, the dispute (to the parties),
//!   and the buttons the member's side may press in that state: take (an open offer of
//!   someone else), cancel (the seller's open offer), confirm (a taken trade: the buyer when
//!   paid on the platform, the seller when paid outside), and a dispute with its text (a
//!   party of a taken trade). The API decides either way: the buttons only choose what to
//!   offer. A refusal comes back on the trade's page with the API's title and detail.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use platform::escrow::{DISPUTE_TEXT_CHARS_MAX, EVIDENCE_CHARS_MAX};
use serde::Deserialize;
use serde_json::json;

use super::assets::{decimals_of, parse_units, units_text};
use super::transfers::{digits, new_key, refusal};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, html, when};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/trades", get(trades_page).post(offer))
        .route("/app/trades/{id}", get(trade_page))
        .route("/app/trades/{id}/dispute", post(dispute))
        .route("/app/trades/{id}/{step}", post(step))
}

/// Trades per list of `/app/trades`.
const TRADES_PAGE: usize = 20;

/// The dispute, as the API shows it to the trade's parties.
#[derive(Deserialize)]
pub(crate) struct DisputeAnswer {
    pub opened_by: String,
    pub text: String,
    pub evidence: String,
    pub resolution: Option<String>,
}

/// A trade, as `/v1/trades` answers it.
#[derive(Deserialize)]
pub(crate) struct TradeAnswer {
    pub trade_id: String,
    pub status: String,
    pub asset: Option<String>,
    pub amount: Option<u64>,
    pub item_name: Option<String>,
    pub price_asset: String,
    pub price: u64,
    pub settlement: String,
    pub role: Option<String>,
    pub created_at: String,
    pub deadline: String,
    pub finished_at: Option<String>,
    pub dispute: Option<DisputeAnswer>,
}

#[derive(Deserialize)]
struct TradesAnswer {
    trades: Vec<TradeAnswer>,
    next_cursor: Option<String>,
}

/// A trade's state, in words.
pub(crate) fn status_text(status: &str, t: &Text) -> &'static str {
    match status {
        "open" => t.trade_status_open,
        "taken" => t.trade_status_taken,
        "completed" => t.trade_status_completed,
        "cancelled" => t.trade_status_cancelled,
        "expired" => t.trade_status_expired,
        "disputed" => t.trade_status_disputed,
        "released" => t.trade_status_released,
        "refunded" => t.trade_status_refunded,
        _ => t.reason_other,
    }
}

/// `units` of `asset` in whole units, with the asset's places.
fn amount_text(units: u64, asset: &str) -> String {
    units_text(units, decimals_of(asset).unwrap_or(0))
}

/// A trade as the pages show it.
pub(crate) struct TradeView {
    pub trade_id: String,
    pub status: String,
    pub status_text: &'static str,
    /// What is sold: an amount and its asset, or a game item's name.
    pub goods: String,
    /// The price and its asset.
    pub price: String,
    pub on_platform: bool,
    /// `seller`, `buyer`, or empty (browsing).
    pub role: String,
    pub role_text: &'static str,
    pub at: String,
    /// While open or taken: when the offer or the trade lapses.
    pub deadline: Option<String>,
    pub finished: Option<String>,
    /// Opened by (in words), text, evidence, resolution (in words).
    pub dispute: Option<(&'static str, String, String, Option<&'static str>)>,
}

pub(crate) fn trade_view(answer: TradeAnswer, t: &Text) -> TradeView {
    let goods = match (&answer.asset, answer.amount, &answer.item_name) {
        (Some(asset), Some(amount), _) => format!("{} {asset}", amount_text(amount, asset)),
        (_, _, Some(item)) => item.clone(),
        _ => String::new(),
    };
    let side = |role: &str| match role {
        "seller" => t.trade_role_seller,
        "buyer" => t.trade_role_buyer,
        _ => "",
    };
    let live = matches!(answer.status.as_str(), "open" | "taken");
    TradeView {
        status_text: status_text(&answer.status, t),
        goods,
        price: format!(
            "{} {}",
            amount_text(answer.price, &answer.price_asset),
            answer.price_asset
        ),
        on_platform: answer.settlement != "off_platform",
        role_text: side(answer.role.as_deref().unwrap_or("")),
        role: answer.role.unwrap_or_default(),
        at: when(&answer.created_at),
        deadline: live.then(|| when(&answer.deadline)),
        finished: answer.finished_at.as_deref().map(when),
        dispute: answer.dispute.map(|dispute| {
            let resolution = dispute.resolution.as_deref().map(|outcome| match outcome {
                "release" => t.trade_status_released,
                _ => t.trade_status_refunded,
            });
            (
                side(&dispute.opened_by),
                dispute.text,
                dispute.evidence,
                resolution,
            )
        }),
        trade_id: answer.trade_id,
        status: answer.status,
    }
}

/// An asset of the selects: symbol, and whether it is chosen.
type Choice = (&'static str, bool);

fn choices(chosen: &str, default: &str) -> Vec<Choice> {
    let chosen = if decimals_of(chosen).is_some() {
        chosen
    } else {
        default
    };
    platform::assets::ASSETS
        .iter()
        .map(|asset| (asset.symbol, asset.symbol == chosen))
        .collect()
}

/// What the offer form sends, and shows again after a refusal.
#[derive(Default, Deserialize)]
struct OfferForm {
    #[serde(default)]
    asset: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    price_asset: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    settlement: String,
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Template)]
#[template(path = "member_trades.html")]
struct TradesPage {
    frame: Frame,
    assets: Vec<Choice>,
    price_assets: Vec<Choice>,
    amount: String,
    price: String,
    off_platform: bool,
    idempotency_key: String,
    offers: Vec<TradeView>,
    next_href: Option<String>,
    mine: Vec<TradeView>,
}

/// A cursor of the API (`<time>.<id>`: digits and a dot), or nothing.
fn cursor_of(cursor: Option<String>) -> Option<String> {
    cursor.filter(|cursor| {
        !cursor.is_empty()
            && cursor.len() <= 80
            && cursor.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

async fn trades_list(
    state: &WebState,
    browser: &Browser,
    path: String,
) -> Result<TradesAnswer, PageError> {
    Ok(state.api.json(&browser.caller(), Call::get(path)).await?)
}

/// The trades page: the form (with what was typed), the open offers and the member's own.
async fn trades_form(
    state: &WebState,
    browser: &Browser,
    typed: &OfferForm,
    cursor: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let mut path = format!("/v1/trades?limit={TRADES_PAGE}");
    if let Some(cursor) = cursor_of(cursor) {
        path.push_str("&cursor=");
        path.push_str(&cursor);
    }
    let offers = trades_list(state, browser, path).await?;
    let mine = trades_list(
        state,
        browser,
        format!("/v1/trades?mine=true&limit={TRADES_PAGE}"),
    )
    .await?;
    let page = TradesPage {
        frame: Frame::new(state, browser, t.trade_title)
            .tab("home")
            .error(error),
        assets: choices(&typed.asset, "TTC"),
        price_assets: choices(&typed.price_asset, "MVP"),
        amount: typed.amount.trim().to_string(),
        price: typed.price.trim().to_string(),
        off_platform: typed.settlement == "off_platform",
        idempotency_key: if typed.idempotency_key.is_empty() {
            new_key()
        } else {
            typed.idempotency_key.clone()
        },
        next_href: cursor_of(offers.next_cursor)
            .map(|cursor| format!("/app/trades?cursor={cursor}")),
        offers: offers
            .trades
            .into_iter()
            .map(|answer| trade_view(answer, t))
            .collect(),
        mine: mine
            .trades
            .into_iter()
            .map(|answer| trade_view(answer, t))
            .collect(),
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct CursorQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /app/trades?cursor=`: the offer form, the open offers and the member's trades.
async fn trades_page(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<CursorQuery>,
) -> Result<Response, PageError> {
    trades_form(&state, &browser, &OfferForm::default(), query.cursor, None).await
}

/// `POST /app/trades` ("Offer"): the amounts read exactly in each asset's smallest unit,
/// then the offer under the form's key; the form again with the API's problem (and a new
/// key: a refused offer moved nothing).
async fn offer(
    State(state): State<WebState>,
    browser: Browser,
    Form(mut form): Form<OfferForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let (Some(decimals), Some(price_decimals)) =
        (decimals_of(&form.asset), decimals_of(&form.price_asset))
    else {
        let error = Some(t.asset_unknown.to_string());
        return trades_form(&state, &browser, &form, None, error).await;
    };
    let (Some(amount), Some(price)) = (
        parse_units(&form.amount, decimals),
        parse_units(&form.price, price_decimals),
    ) else {
        let error = format!(
            "{} ({}: {decimals}, {}: {price_decimals})",
            t.asset_amount_invalid, form.asset, form.price_asset
        );
        return trades_form(&state, &browser, &form, None, Some(error)).await;
    };
    let settlement = if form.settlement == "off_platform" {
        "off_platform"
    } else {
        "on_platform"
    };
    let body = json!({
        "asset": form.asset,
        "amount": amount,
        "price_asset": form.price_asset,
        "price": price,
        "settlement": settlement,
    });
    if form.idempotency_key.is_empty() {
        form.idempotency_key = new_key();
    }
    let call = Call::post("/v1/trades", &body).idempotency_key(&form.idempotency_key);
    match state.api.json::<TradeAnswer>(&browser.caller(), call).await {
        Ok(offered) => Ok(to_trade(&offered.trade_id, "offered")),
        Err(problem) => {
            let problem = refusal(problem)?;
            if problem.status < 500 {
                form.idempotency_key = new_key();
            }
            let error = Some(problem.message());
            trades_form(&state, &browser, &form, None, error).await
        }
    }
}

/// To the trade's page, saying what was done.
fn to_trade(id: &str, done: &str) -> Response {
    match digits(id) {
        Some(id) => Redirect::to(&format!("/app/trades/{id}?done={done}")).into_response(),
        None => Redirect::to("/app/trades").into_response(),
    }
}

#[derive(Template)]
#[template(path = "member_trade.html")]
struct TradePage {
    frame: Frame,
    trade: TradeView,
    may_take: bool,
    may_cancel: bool,
    may_confirm: bool,
    may_dispute: bool,
    text_max: usize,
    evidence_max: usize,
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The trade's page, with a notice or the API's refusal.
async fn render_trade(
    state: &WebState,
    browser: &Browser,
    id: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let call = Call::get(format!("/v1/trades/{id}"));
    let answer: TradeAnswer = state.api.json(&browser.caller(), call).await?;
    let trade = trade_view(answer, t);
    let (open, taken) = (trade.status == "open", trade.status == "taken");
    let (seller, buyer) = (trade.role == "seller", trade.role == "buyer");
    let page = TradePage {
        frame: Frame::new(state, browser, t.trade_one)
            .tab("home")
            .notice(notice)
            .error(error),
        may_take: open && !seller,
        may_cancel: open && seller,
        may_confirm: taken && ((buyer && trade.on_platform) || (seller && !trade.on_platform)),
        may_dispute: taken && (seller || buyer),
        text_max: DISPUTE_TEXT_CHARS_MAX,
        evidence_max: EVIDENCE_CHARS_MAX,
        trade,
    };
    Ok(html(&page))
}

/// `GET /app/trades/{id}?done=`: one trade; signed out, the login page, which comes back.
async fn trade_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let notice = match query.done.as_deref() {
        Some("offered") => Some(t.trade_offered_notice),
        Some("take") => Some(t.trade_taken_notice),
        Some("confirm") => Some(t.trade_completed_notice),
        Some("cancel") => Some(t.trade_cancelled_notice),
        Some("dispute") => Some(t.trade_disputed_notice),
        _ => None,
    };
    match render_trade(&state, &browser, id, notice.map(str::to_string), None).await {
        Err(PageError::SignedOut) => Ok(super::log_in_first(&format!("/app/trades/{id}"))),
        drawn => drawn,
    }
}

/// `POST /app/trades/{id}/{take|confirm|cancel}`: the step, then the trade's page saying
/// so; the page again with the API's refusal.
async fn step(
    State(state): State<WebState>,
    browser: Browser,
    Path((id, step)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (Some(id), true) = (
        digits(&id),
        matches!(step.as_str(), "take" | "confirm" | "cancel"),
    ) else {
        return Ok(super::not_found(&state, &browser));
    };
    let call = Call::post(format!("/v1/trades/{id}/{step}"), &json!({}));
    match state.api.send(&browser.caller(), call).await {
        Ok(_) => Ok(to_trade(id, &step)),
        Err(problem) => {
            let error = Some(refusal(problem)?.message());
            render_trade(&state, &browser, id, None, error).await
        }
    }
}

#[derive(Deserialize)]
struct DisputeForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    evidence: String,
}

/// `POST /app/trades/{id}/dispute`: a party opens a dispute with its text and evidence.
async fn dispute(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<DisputeForm>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let body = json!({ "text": form.text.trim(), "evidence": form.evidence.trim() });
    let call = Call::post(format!("/v1/trades/{id}/disputes"), &body);
    match state.api.send(&browser.caller(), call).await {
        Ok(_) => Ok(to_trade(id, "dispute")),
        Err(problem) => {
            let error = Some(refusal(problem)?.message());
            render_trade(&state, &browser, id, None, error).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::EN;

    #[test]
    fn a_trade_shows_both_legs_with_their_places_and_a_deadline_while_live() {
        let answer = |status: &str| TradeAnswer {
            trade_id: "7".into(),
            status: status.into(),
            asset: Some("TTC".into()),
            amount: Some(50_000),
            item_name: None,
            price_asset: "MVP".into(),
            price: 1_500,
            settlement: "on_platform".into(),
            role: Some("buyer".into()),
            created_at: "2026-12-07T13:05:09Z".into(),
            deadline: "2026-12-08T13:05:09Z".into(),
            finished_at: None,
            dispute: None,
        };
        let open = trade_view(answer("taken"), &EN);
        assert_eq!(open.goods, "5 TTC");
        assert_eq!(open.price, "1,500 MVP");
        assert_eq!(open.role_text, EN.trade_role_buyer);
        assert!(open.on_platform && open.deadline.is_some());
        let done = trade_view(answer("completed"), &EN);
        assert_eq!(done.status_text, EN.trade_status_completed);
        assert!(done.deadline.is_none());
        assert_eq!(
            cursor_of(Some("1700000000.42".into())).as_deref(),
            Some("1700000000.42")
        );
        assert_eq!(cursor_of(Some("1&limit=100".into())), None);
    }
}
