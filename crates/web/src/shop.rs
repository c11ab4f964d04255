//! The demo shop (`/shop`, `serve --demo` only): a pretend web shop, "TongTong Demo Shop",
//! that sells through checkout exactly as a merchant's own server would. Its server side
//! signs every call to `/checkout/v1` with the shop's terminal key (the VAN scheme,
//! [`Call::signed_by`]); the member pays on Mileverse's own page and comes back.
//!
//! - `GET /shop`: three products, each with "Buy".
//! - `POST /shop/orders`: makes a payment intent for the product (a random order id
//!   `shop-<hex>`), notes the order, and sends the browser to the intent's pay page.
//! - `GET /shop/orders/{order_id}`: where the pay page leads back (`return_url`): reads the
//!   order's intent (a signed `GET`) and says "paid" with the approval number, or its
//!   status.
//!
//! The return URL must be known when the intent is made, before its id is: so it names the
//! order (under the shop's public URL, [`DemoShop::public_url`], the API's own, under which
//! it answers `pay_url`), and the shop keeps which intent each order made, as a shop keeps
//! its orders. The demo's order book is in memory and bounded ([`ORDERS_MAX`], the oldest
//! forgotten): a restart forgets it, and an order it forgot is "not found" (its intent and
//! payment are unchanged).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use ports::time::now_s;
use serde::Deserialize;
use serde_json::json;

use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html};
use crate::text::Text;
use crate::{DemoShop, WebState};

/// Orders the demo shop remembers (the oldest is forgotten first).
pub const ORDERS_MAX: usize = 1_000;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/shop", get(shop_page))
        .route("/shop/orders", post(order))
        .route("/shop/orders/{order_id}", get(order_page))
        .layer(Extension(Arc::new(OrderBook::default())))
}

/// A product of the shop: its slug (the form's value), price in MVP, and name.
struct Product {
    slug: &'static str,
    price: u64,
    name: fn(&Text) -> &'static str,
}

const PRODUCTS: [Product; 3] = [
    Product {
        slug: "coffee-beans",
        price: 18_000,
        name: |t| t.shop_coffee_beans,
    },
    Product {
        slug: "mug",
        price: 12_000,
        name: |t| t.shop_mug,
    },
    Product {
        slug: "tumbler",
        price: 25_000,
        name: |t| t.shop_tumbler,
    },
];

/// Which intent each order made, newest last, at most [`ORDERS_MAX`].
#[derive(Default)]
struct OrderBook {
    orders: Mutex<Orders>,
}

#[derive(Default)]
struct Orders {
    intents: HashMap<String, String>,
    arrival: VecDeque<String>,
}

impl OrderBook {
    fn note(&self, order_id: String, intent_id: String) {
        let mut orders = self
            .orders
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if orders.arrival.len() >= ORDERS_MAX
            && let Some(oldest) = orders.arrival.pop_front()
        {
            orders.intents.remove(&oldest);
        }
        orders.arrival.push_back(order_id.clone());
        orders.intents.insert(order_id, intent_id);
    }

    fn intent_of(&self, order_id: &str) -> Option<String> {
        let orders = self
            .orders
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        orders.intents.get(order_id).cloned()
    }
}

/// The shop's frame: a page of the shop, not of the member app (no tabs, no logout).
fn shop_frame(state: &WebState, browser: &Browser, title: &'static str) -> Frame {
    let mut frame = Frame::new(state, browser, title);
    frame.logout = None;
    frame.home = "/shop";
    frame
}

struct ProductView {
    slug: &'static str,
    name: &'static str,
    price: String,
}

#[derive(Template)]
#[template(path = "shop.html")]
struct ShopPage {
    frame: Frame,
    products: Vec<ProductView>,
}

fn shop_list(state: &WebState, browser: &Browser, error: Option<String>) -> Response {
    let t = browser.lang.text();
    let products = PRODUCTS
        .iter()
        .map(|product| ProductView {
            slug: product.slug,
            name: (product.name)(t),
            price: grouped(product.price),
        })
        .collect();
    let page = ShopPage {
        frame: shop_frame(state, browser, t.shop_title).error(error),
        products,
    };
    html(&page)
}

/// `GET /shop`: the products.
async fn shop_page(State(state): State<WebState>, browser: Browser) -> Response {
    shop_list(&state, &browser, None)
}

#[derive(Deserialize)]
struct OrderForm {
    product: String,
}

/// The intent as `/checkout/v1/intents` answers the merchant (what the shop reads of it).
#[derive(Deserialize)]
struct IntentAnswer {
    intent_id: String,
    order_id: String,
    amount: u64,
    status: String,
    approval_no: Option<String>,
    pay_url: String,
    description: String,
}

/// The path of the pay page of `intent` on this app (the API answers `pay_url` under the
/// same public URL the shop was given): the browser stays on this origin.
fn pay_path(shop: &DemoShop, intent: &IntentAnswer) -> Option<String> {
    let path = intent.pay_url.strip_prefix(shop.public_url.as_str())?;
    let digits =
        !intent.intent_id.is_empty() && intent.intent_id.bytes().all(|b| b.is_ascii_digit());
    (digits && path == format!("/app/checkout/{}", intent.intent_id)).then(|| path.to_string())
}

/// `POST /shop/orders`: makes the intent of the product chosen (signed with the shop's
/// terminal key), notes the order, and sends the browser to pay it.
async fn order(
    State(state): State<WebState>,
    Extension(book): Extension<Arc<OrderBook>>,
    browser: Browser,
    Form(form): Form<OrderForm>,
) -> Response {
    let t = browser.lang.text();
    let (Some(shop), Some(product)) = (
        state.config.demo_shop.as_ref(),
        PRODUCTS.iter().find(|product| product.slug == form.product),
    ) else {
        return not_found(&state, &browser);
    };
    let order_id = format!("shop-{}", hex::encode(rand::random::<[u8; 12]>()));
    let body = json!({
        "order_id": order_id,
        "amount": product.price,
        "return_url": format!("{}/shop/orders/{order_id}", shop.public_url),
        "description": (product.name)(t),
        "capture_method": "automatic",
    });
    let call = Call::post("/checkout/v1/intents", &body).signed_by(&shop.key(), now_s());
    let intent: IntentAnswer = match state.api.json(&browser.anonymous(), call).await {
        Ok(intent) => intent,
        Err(problem) => return shop_list(&state, &browser, Some(problem.message())),
    };
    let Some(path) = pay_path(shop, &intent) else {
        tracing::error!(pay_url = %intent.pay_url, "an intent's pay_url is not this app's page");
        let error = Some(t.reason_other.to_string());
        return shop_list(&state, &browser, error);
    };
    book.note(order_id, intent.intent_id);
    Redirect::to(&path).into_response()
}

/// An order id the shop makes: `shop-` and 24 hex digits.
fn order_id(text: &str) -> Option<&str> {
    let hex = text.strip_prefix("shop-")?;
    let ours = hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    ours.then_some(text)
}

#[derive(Template)]
#[template(path = "shop_order.html")]
struct OrderPage {
    frame: Frame,
    order_id: String,
    description: String,
    amount: String,
    status: String,
    status_text: &'static str,
    approval_no: Option<String>,
    /// While the intent waits for the member: its pay page.
    pay_path: Option<String>,
}

/// `GET /shop/orders/{order_id}`: the order, as the intent it made says (a signed read).
async fn order_page(
    State(state): State<WebState>,
    Extension(book): Extension<Arc<OrderBook>>,
    browser: Browser,
    Path(order): Path<String>,
) -> Result<Response, PageError> {
    let (Some(shop), Some(order)) = (state.config.demo_shop.as_ref(), order_id(&order)) else {
        return Ok(not_found(&state, &browser));
    };
    let Some(intent_id) = book.intent_of(order) else {
        return Ok(not_found(&state, &browser));
    };
    let call =
        Call::get(format!("/checkout/v1/intents/{intent_id}")).signed_by(&shop.key(), now_s());
    let intent: IntentAnswer = state.api.json(&browser.anonymous(), call).await?;
    let t = browser.lang.text();
    let paid = intent.status == "succeeded";
    let page = OrderPage {
        frame: shop_frame(&state, &browser, t.shop_order),
        status_text: status_text(&intent.status, t),
        amount: grouped(intent.amount),
        approval_no: intent.approval_no.clone().filter(|_| paid),
        pay_path: (intent.status == "requires_approval")
            .then(|| pay_path(shop, &intent))
            .flatten(),
        order_id: intent.order_id,
        description: intent.description,
        status: intent.status,
    };
    Ok(html(&page))
}

/// An intent's status as the shop says it.
fn status_text(status: &str, t: &Text) -> &'static str {
    match status {
        "succeeded" => t.shop_paid,
        "requires_approval" => t.shop_not_paid,
        "requires_capture" => t.checkout_status_requires_capture,
        "expired" => t.checkout_status_expired,
        "canceled" => t.checkout_status_canceled,
        _ => t.reason_other,
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct NotFoundPage {
    frame: Frame,
}

fn not_found(state: &WebState, browser: &Browser) -> Response {
    let t = browser.lang.text();
    let page = NotFoundPage {
        frame: shop_frame(state, browser, t.not_found),
    };
    (StatusCode::NOT_FOUND, html(&page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> DemoShop {
        DemoShop {
            terminal_id: 7,
            key_id: "k".into(),
            secret: "s".into(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }

    fn intent(id: &str, pay_url: &str) -> IntentAnswer {
        IntentAnswer {
            intent_id: id.into(),
            order_id: "shop-1".into(),
            amount: 1,
            status: "requires_approval".into(),
            approval_no: None,
            pay_url: pay_url.into(),
            description: String::new(),
        }
    }

    #[test]
    fn the_browser_goes_only_to_this_apps_pay_page_of_the_intent() {
        let good = intent("42", "http://127.0.0.1:8080/app/checkout/42");
        assert_eq!(
            pay_path(&shop(), &good).as_deref(),
            Some("/app/checkout/42")
        );
        let cases = [
            intent("42", "https://elsewhere.example/app/checkout/42"),
            intent("42", "http://127.0.0.1:8080/app/checkout/43"),
            intent("4/2", "http://127.0.0.1:8080/app/checkout/4/2"),
            intent("", "http://127.0.0.1:8080/app/checkout/"),
        ];
        for case in cases {
            assert_eq!(pay_path(&shop(), &case), None, "{}", case.pay_url);
        }
    }

    #[test]
    fn only_the_shops_order_ids_are_read() {
        let id = format!("shop-{}", "a1".repeat(12));
        assert_eq!(order_id(&id), Some(id.as_str()));
        for bad in ["shop-", "shop-zz", "till-0123", "shop-../x"] {
            assert_eq!(order_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_order_book_forgets_the_oldest_past_its_bound() {
        let book = OrderBook::default();
        for index in 0..=ORDERS_MAX {
            book.note(format!("o{index}"), index.to_string());
        }
        assert_eq!(book.intent_of("o0"), None);
        assert_eq!(book.intent_of("o1").as_deref(), Some("1"));
        assert_eq!(
            book.intent_of(&format!("o{ORDERS_MAX}")).as_deref(),
            Some("1000")
        );
    }
}
