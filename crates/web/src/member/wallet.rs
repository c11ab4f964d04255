//! The member's MVC wallet (docs/chain.md, "MVP → MVC conversion"): the Ethereum address
//! the member proved is theirs with a signature made on their own device (`mileverse
//! wallet sign`), the form that converts MVP into MVC sent there, and the conversions with
//! their status.
//!
//! Registering takes two steps, as the API does: the address first, for which the API
//! gives the exact message to sign (`GET /v1/me/wallet-addresses?address=`); then the
//! signature, pasted back (`POST /v1/me/wallet-addresses`). A conversion is
//! `POST /v1/conversions` under the key the page made (a second press is the same
//! conversion), with the PIN when the API asks for it.
//!
//! The conversions listed are the member's newest (`GET /v1/me/conversions`).
//!
//! A server without a chain answers `chain-not-configured` to every chain route: the page
//! then says conversions are not available here (asked of `GET /v1/ledger/anchor`, which
//! answers the same), and shows no form that cannot work.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::{ApiProblem, Call};
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html, when};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/wallet", get(wallet_page))
        .route("/app/wallet/address", post(register))
        .route("/app/wallet/conversions", post(convert))
        .route("/app/wallet/conversions/{id}", get(conversion_page))
}

/// The problem every chain route answers on a server without a chain.
const CHAIN_NOT_CONFIGURED: &str = "chain-not-configured";
/// Longest the page waits to learn whether a chain is configured (a chain node that does
/// not answer must not hold the page).
const CHAIN_PROBE_WAIT: Duration = Duration::from_secs(2);
/// Conversions shown on the wallet page, newest first.
const CONVERSIONS_SHOWN: usize = 20;
/// Wei per MVC (18 decimals).
const WEI_PER_MVC: u128 = 1_000_000_000_000_000_000;

/// `GET /v1/me/wallet-addresses`.
#[derive(Deserialize)]
struct AddressAnswer {
    address: Option<String>,
    proved_at: Option<String>,
    #[serde(default)]
    message_template: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// One conversion, as `/v1/conversions` answers it.
#[derive(Deserialize)]
struct Conversion {
    conversion_id: String,
    status: String,
    mvp: u64,
    mvc_wei: String,
    mvp_per_mvc: u64,
    address: String,
    failure: Option<String>,
    tx_hash: Option<String>,
    block_number: Option<u64>,
    created_at: String,
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct Conversions {
    conversions: Vec<Conversion>,
}

/// The registered address.
struct Registered {
    address: String,
    proved_at: String,
}

/// The address being proved, with the exact message its key signs.
struct Proving {
    address: String,
    message: String,
}

/// A conversion as the list shows it.
struct ConversionLine {
    conversion_id: String,
    mvp: String,
    mvc: String,
    status: &'static str,
    at: String,
}

#[derive(Template)]
#[template(path = "member_wallet.html")]
struct WalletPage {
    frame: Frame,
    /// The server runs without a chain: nothing here can be done.
    chain_missing: bool,
    registered: Option<Registered>,
    proving: Option<Proving>,
    /// The message an address signs, with `{address}` in place of the address.
    message_template: String,
    available: String,
    conversions: Vec<ConversionLine>,
    /// The amount typed before the page came back (a refusal, the PIN asked).
    mvp: String,
    pin_asked: bool,
    idempotency_key: String,
}

#[derive(Template)]
#[template(path = "member_wallet_conversion.html")]
struct ConversionPage {
    frame: Frame,
    conversion_id: String,
    status: String,
    status_text: &'static str,
    waiting: bool,
    mvp: String,
    mvc: String,
    mvp_per_mvc: String,
    address: String,
    failure: Option<String>,
    tx_hash: Option<String>,
    block_number: Option<u64>,
    created: String,
    finished: Option<String>,
}

/// What the page shows besides what it reads: a message, the address being proved, the
/// conversion form as it was left.
#[derive(Default)]
struct Shown {
    error: Option<String>,
    notice: Option<String>,
    proving: Option<String>,
    mvp: Option<String>,
    pin_asked: bool,
    /// A form's answer said there is no chain.
    chain_missing: bool,
}

#[derive(Deserialize)]
struct WalletQuery {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /app/wallet?address=&done=`: the address, the conversions and the forms; with
/// `address`, the message that address signs and the form that takes its signature.
async fn wallet_page(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<WalletQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let shown = Shown {
        notice: (query.done.as_deref() == Some("registered"))
            .then(|| t.wallet_registered.to_string()),
        proving: query
            .address
            .map(|address| address.trim().to_string())
            .filter(|address| !address.is_empty()),
        ..Shown::default()
    };
    render(&state, &browser, shown).await
}

/// The wallet page.
async fn render(state: &WebState, browser: &Browser, shown: Shown) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let caller = browser.caller();
    let mut error = shown.error;
    let mut path = "/v1/me/wallet-addresses".to_string();
    if let Some(address) = &shown.proving {
        let query =
            serde_urlencoded::to_string([("address", address)]).expect("a pair of strings encodes");
        path = format!("{path}?{query}");
    }
    let answer = match state
        .api
        .json::<AddressAnswer>(&caller, Call::get(path))
        .await
    {
        Ok(answer) => answer,
        // An address the API cannot read: said, and the page without it.
        Err(problem) if shown.proving.is_some() && problem.status != 401 => {
            if error.is_none() {
                error = Some(explained(&problem, t, t.wallet_hex_hint));
            }
            state
                .api
                .json(&caller, Call::get("/v1/me/wallet-addresses"))
                .await?
        }
        Err(problem) => return Err(problem.into()),
    };
    let chain_missing = shown.chain_missing || chain_missing(state, browser).await;
    let (available, _) = super::balance(state, browser).await?;
    let conversions = conversions(state, browser).await?;
    let proving = match (shown.proving, answer.message) {
        (Some(address), Some(message)) => Some(Proving { address, message }),
        _ => None,
    };
    let registered = match (answer.address, answer.proved_at) {
        (Some(address), Some(proved_at)) => Some(Registered {
            address,
            proved_at: when(&proved_at),
        }),
        _ => None,
    };
    let page = WalletPage {
        frame: Frame::new(state, browser, t.wallet)
            .tab("home")
            .notice(shown.notice)
            .error(error),
        chain_missing,
        registered,
        proving,
        message_template: answer.message_template.unwrap_or_default(),
        available: grouped(available),
        conversions: conversions
            .iter()
            .map(|conversion| ConversionLine {
                conversion_id: conversion.conversion_id.clone(),
                mvp: grouped(conversion.mvp),
                mvc: mvc_text(&conversion.mvc_wei),
                status: status_text(&conversion.status, t),
                at: when(&conversion.created_at),
            })
            .collect(),
        mvp: shown.mvp.unwrap_or_default(),
        pin_asked: shown.pin_asked,
        idempotency_key: hex::encode(rand::random::<[u8; 16]>()),
    };
    Ok(html(&page))
}

/// Whether the server runs without a chain: `GET /v1/ledger/anchor` answers
/// `chain-not-configured` then. Any other answer, or none in time, counts as a chain (a
/// form then says what the API answers).
async fn chain_missing(state: &WebState, browser: &Browser) -> bool {
    let caller = browser.caller();
    let probe = state.api.send(&caller, Call::get("/v1/ledger/anchor"));
    match tokio::time::timeout(CHAIN_PROBE_WAIT, probe).await {
        Ok(Err(problem)) => problem.slug == CHAIN_NOT_CONFIGURED,
        _ => false,
    }
}

/// The member's newest conversions (`GET /v1/me/conversions`).
async fn conversions(state: &WebState, browser: &Browser) -> Result<Vec<Conversion>, PageError> {
    let path = format!("/v1/me/conversions?limit={CONVERSIONS_SHOWN}");
    let page: Conversions = state.api.json(&browser.caller(), Call::get(path)).await?;
    Ok(page.conversions)
}

use crate::pages::api_id as digits;

/// The API's message, with what a member can do about it where the page knows;
/// `invalid` says what the form's fields must be (the API names the field in a list the
/// pages do not show).
fn explained(problem: &ApiProblem, t: &Text, invalid: &'static str) -> String {
    let hint = match problem.slug.as_str() {
        // The page says it beside the forms (`chain_missing`).
        CHAIN_NOT_CONFIGURED => None,
        "bad-signature" => Some(t.wallet_bad_signature),
        "no-wallet-address" => Some(t.wallet_register_first),
        "invalid-fields" => Some(invalid),
        _ => None,
    };
    match hint {
        Some(hint) => format!("{} — {hint}", problem.message()),
        None => problem.message(),
    }
}

/// A conversion's status, in words.
fn status_text(status: &str, t: &Text) -> &'static str {
    match status {
        "requested" => t.wallet_status_requested,
        "completed" => t.wallet_status_completed,
        "failed" => t.wallet_status_failed,
        _ => t.reason_other,
    }
}

/// An amount of wei as MVC: `1,234.5`; the wei as given when it is not a number.
fn mvc_text(wei: &str) -> String {
    let Ok(wei) = wei.parse::<u128>() else {
        return format!("{wei} wei");
    };
    let whole = grouped(wei / WEI_PER_MVC);
    let fraction = wei % WEI_PER_MVC;
    if fraction == 0 {
        return whole;
    }
    let fraction = format!("{fraction:018}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[derive(Deserialize)]
struct AddressForm {
    address: String,
    signature: String,
}

/// `POST /app/wallet/address`: registers the address with its signature; a refusal comes
/// back on the page, with the message to sign still there.
async fn register(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let address = form.address.trim().to_string();
    let body = json!({ "address": address, "signature": form.signature.trim() });
    let call = Call::post("/v1/me/wallet-addresses", &body);
    let problem = match state.api.send(&browser.caller(), call).await {
        Ok(_) => return Ok(Redirect::to("/app/wallet?done=registered").into_response()),
        Err(problem) => match PageError::from(problem) {
            PageError::Api(problem) => problem,
            signed_out => return Err(signed_out),
        },
    };
    let shown = Shown {
        error: Some(explained(&problem, t, t.wallet_hex_hint)),
        chain_missing: problem.slug == CHAIN_NOT_CONFIGURED,
        proving: (!address.is_empty()).then_some(address),
        ..Shown::default()
    };
    render(&state, &browser, shown).await
}

#[derive(Deserialize)]
struct ConvertForm {
    mvp: String,
    idempotency_key: String,
    #[serde(default)]
    pin: Option<String>,
}

#[derive(Deserialize)]
struct Converted {
    conversion_id: String,
}

/// `POST /app/wallet/conversions`: converts under the key the page made (a second press is
/// the same conversion), then shows the conversion; asks for the PIN when the API does.
async fn convert(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<ConvertForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let typed = form.mvp.trim().to_string();
    let Ok(mvp) = typed.parse::<u64>() else {
        let shown = Shown {
            error: Some(t.wallet_amount_invalid.to_string()),
            mvp: Some(typed),
            ..Shown::default()
        };
        return render(&state, &browser, shown).await;
    };
    let mut body = json!({ "mvp": mvp });
    if let Some(pin) = form.pin.filter(|pin| !pin.is_empty()) {
        body["pin"] = json!(pin);
    }
    let call = Call::post("/v1/conversions", &body).idempotency_key(&form.idempotency_key);
    let problem = match state.api.json::<Converted>(&browser.caller(), call).await {
        Ok(converted) => {
            let to = match digits(&converted.conversion_id) {
                Some(id) => format!("/app/wallet/conversions/{id}"),
                None => "/app/wallet".to_string(),
            };
            return Ok(Redirect::to(&to).into_response());
        }
        Err(problem) => match PageError::from(problem) {
            PageError::Api(problem) => problem,
            signed_out => return Err(signed_out),
        },
    };
    let shown = Shown {
        error: Some(explained(&problem, t, t.wallet_amount_invalid)),
        chain_missing: problem.slug == CHAIN_NOT_CONFIGURED,
        mvp: Some(typed),
        pin_asked: crate::pages::asks_pin(&problem),
        ..Shown::default()
    };
    render(&state, &browser, shown).await
}

/// `GET /app/wallet/conversions/{id}`: one conversion and where it stands.
async fn conversion_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let call = Call::get(format!("/v1/conversions/{id}"));
    let conversion: Conversion = state.api.json(&browser.caller(), call).await?;
    let page = ConversionPage {
        frame: Frame::new(&state, &browser, t.wallet_conversion).tab("home"),
        status_text: status_text(&conversion.status, t),
        waiting: conversion.status == "requested",
        conversion_id: conversion.conversion_id,
        status: conversion.status,
        mvp: grouped(conversion.mvp),
        mvc: mvc_text(&conversion.mvc_wei),
        mvp_per_mvc: grouped(conversion.mvp_per_mvc),
        address: conversion.address,
        failure: conversion.failure,
        tx_hash: conversion.tx_hash,
        block_number: conversion.block_number,
        created: when(&conversion.created_at),
        finished: conversion.finished_at.as_deref().map(when),
    };
    Ok(html(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wei_read_as_mvc() {
        let cases = [
            ("0", "0"),
            ("1000000000000000000", "1"),
            ("1500000000000000000", "1.5"),
            ("1234000000000000000000", "1,234"),
            ("1", "0.000000000000000001"),
            ("x", "x wei"),
        ];
        for (wei, text) in cases {
            assert_eq!(mvc_text(wei), text, "{wei}");
        }
    }
}
