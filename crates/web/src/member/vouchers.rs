//! Gift vouchers in the member app: the catalogue, buying with MVP (the PIN asked again
//! above the platform's threshold), a voucher's code as a barcode and a QR code for the
//! till, and cancelling an unused one.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html, when};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/vouchers", get(vouchers_page).post(buy))
        .route("/app/vouchers/{id}", get(voucher_page))
        .route("/app/vouchers/{id}/cancel", post(cancel))
}

#[derive(Deserialize)]
struct Products {
    products: Vec<Product>,
}

#[derive(Deserialize)]
struct Product {
    product_id: String,
    brand: String,
    name: String,
    face_value: u64,
    price: u64,
}

#[derive(Deserialize)]
struct Vouchers {
    vouchers: Vec<Voucher>,
}

#[derive(Deserialize)]
struct Voucher {
    voucher_id: String,
    brand: String,
    name: String,
    face_value: u64,
    code: String,
    status: String,
    expires_at: String,
    refund: u64,
}

struct ProductView {
    product_id: String,
    title: String,
    face_value: String,
    price: String,
}

struct VoucherLine {
    voucher_id: String,
    title: String,
    face_value: String,
    status: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "vouchers.html")]
struct VouchersPage {
    frame: Frame,
    products: Vec<ProductView>,
    vouchers: Vec<VoucherLine>,
    idempotency_key: String,
    pin_for: Option<String>,
}

/// Vouchers shown on the page (the API's first page).
const VOUCHERS_SHOWN: usize = 50;

async fn vouchers_page(
    State(state): State<WebState>,
    browser: Browser,
) -> Result<Response, PageError> {
    render(&state, &browser, None, None).await
}

/// The page, with an error, or with the PIN asked for `pin_for` (a product id).
async fn render(
    state: &WebState,
    browser: &Browser,
    error: Option<String>,
    pin_for: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let caller = browser.caller();
    let products: Products = state
        .api
        .json(&caller, Call::get("/v1/voucher-products"))
        .await?;
    let path = format!("/v1/me/vouchers?limit={VOUCHERS_SHOWN}");
    let mine: Vouchers = state.api.json(&caller, Call::get(path)).await?;
    let page = VouchersPage {
        frame: Frame::new(state, browser, t.vouchers)
            .tab("home")
            .error(error),
        products: products
            .products
            .iter()
            .map(|product| ProductView {
                product_id: product.product_id.clone(),
                title: format!("{} {}", product.brand, product.name),
                face_value: grouped(product.face_value),
                price: grouped(product.price),
            })
            .collect(),
        vouchers: mine
            .vouchers
            .iter()
            .map(|voucher| VoucherLine {
                voucher_id: voucher.voucher_id.clone(),
                title: format!("{} {}", voucher.brand, voucher.name),
                face_value: grouped(voucher.face_value),
                status: voucher.status.clone(),
                expires: when(&voucher.expires_at),
            })
            .collect(),
        idempotency_key: hex::encode(rand::random::<[u8; 16]>()),
        pin_for,
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct BuyForm {
    product_id: String,
    idempotency_key: String,
    #[serde(default)]
    pin: Option<String>,
}

#[derive(Deserialize)]
struct Bought {
    voucher_id: String,
}

/// `POST /app/vouchers`: buys under the key the page made (a second press is the same
/// purchase); asks for the PIN when the API does.
async fn buy(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<BuyForm>,
) -> Result<Response, PageError> {
    let mut body = json!({ "product_id": form.product_id });
    if let Some(pin) = form.pin.filter(|pin| !pin.is_empty()) {
        body["pin"] = json!(pin);
    }
    let call = Call::post("/v1/me/vouchers", &body).idempotency_key(&form.idempotency_key);
    match state.api.json::<Bought>(&browser.caller(), call).await {
        Ok(bought) => {
            Ok(Redirect::to(&format!("/app/vouchers/{}", bought.voucher_id)).into_response())
        }
        Err(problem) => match PageError::from(problem) {
            PageError::Api(problem) if crate::pages::asks_pin(&problem) => {
                render(
                    &state,
                    &browser,
                    Some(problem.message()),
                    Some(form.product_id),
                )
                .await
            }
            PageError::Api(problem) => {
                render(&state, &browser, Some(problem.message()), None).await
            }
            signed_out => Err(signed_out),
        },
    }
}

#[derive(Template)]
#[template(path = "voucher.html")]
struct VoucherPage {
    frame: Frame,
    voucher_id: String,
    title: String,
    face_value: String,
    status: String,
    expires: String,
    refund: String,
    code: String,
    barcode_svg: String,
    qr_svg: String,
    cancellable: bool,
}

fn voucher_id(text: &str) -> Option<&str> {
    let digits = !text.is_empty() && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then_some(text)
}

async fn voucher_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(id) = voucher_id(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let caller = browser.caller();
    let voucher: Voucher = state
        .api
        .json(&caller, Call::get(format!("/v1/me/vouchers/{id}")))
        .await?;
    let drawable = voucher.status == "active";
    let (barcode_svg, qr_svg) = if drawable {
        let barcode = state
            .api
            .send(
                &caller,
                Call::get(format!("/v1/me/vouchers/{id}/barcode.svg")),
            )
            .await?;
        let qr = state
            .api
            .send(&caller, Call::get(format!("/v1/me/vouchers/{id}/qr.svg")))
            .await?;
        (
            String::from_utf8_lossy(&barcode.body).into_owned(),
            String::from_utf8_lossy(&qr.body).into_owned(),
        )
    } else {
        (String::new(), String::new())
    };
    let page = VoucherPage {
        frame: Frame::new(&state, &browser, t.vouchers).tab("home"),
        voucher_id: voucher.voucher_id,
        title: format!("{} {}", voucher.brand, voucher.name),
        face_value: grouped(voucher.face_value),
        status: voucher.status,
        expires: when(&voucher.expires_at),
        refund: grouped(voucher.refund),
        code: voucher.code,
        barcode_svg,
        qr_svg,
        cancellable: drawable,
    };
    Ok(html(&page))
}

async fn cancel(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(id) = voucher_id(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let call = Call::post(format!("/v1/me/vouchers/{id}/cancel"), &json!({}));
    match state.api.send(&browser.caller(), call).await {
        Ok(_) => Ok(Redirect::to(&format!("/app/vouchers/{id}")).into_response()),
        Err(problem) => match PageError::from(problem) {
            PageError::Api(problem) => {
                render(&state, &browser, Some(problem.message()), None).await
            }
            signed_out => Err(signed_out),
        },
    }
}
