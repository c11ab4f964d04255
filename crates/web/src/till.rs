//! The till (`/till`): a point-of-sale page that takes a scanned or typed code and an
//! amount and runs authorization, cancel and refund through the VAN API exactly as a
//! terminal does: `assets/till.js` signs every request with the terminal's secret
//! (HMAC-SHA-256 in WebCrypto, the headers of `mileverse pos`) and calls `/van/v1` itself.
//!
//! The terminal's id and secret stay in the tab (`sessionStorage`), never in a cookie or on
//! this server's pages: a till is a device, and the key is the device's. `serve --demo`
//! prints a link whose fragment (never sent to a server) carries them.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use crate::WebState;
use crate::browser::Browser;
use crate::pages::{Frame, html};

pub fn routes() -> Router<WebState> {
    Router::new().route("/till", get(till_page))
}

#[derive(Template)]
#[template(path = "till.html")]
struct TillPage {
    frame: Frame,
}

async fn till_page(State(state): State<WebState>, browser: Browser) -> Response {
    let t = browser.lang.text();
    let mut frame = Frame::new(&state, &browser, t.till);
    // The till is no member's: no member tabs, no logout.
    frame.logout = None;
    frame.home = "/till";
    html(&TillPage { frame })
}
