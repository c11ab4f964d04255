//! The pages' protections, through the real router: the cookie every browser gets, the
//! policy every page carries, and the CSRF check every form passes before its handler.
//! The API behind the pages is a router that answers 404 (these pages call none of it).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

fn app() -> Router {
    let api = Router::new().fallback(|| async { (StatusCode::NOT_FOUND, "api") });
    web::router(api, web::WebConfig::default())
}

/// Sends `request` to `app` (one app per test: its CSRF key is its own).
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn post_form(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(form.to_string())).unwrap()
}

/// The browser cookie a first visit sets, and the CSRF token its page carries.
async fn first_visit(app: &Router) -> (String, String) {
    let (status, headers, body) = send(app, get("/app/sign-up", None)).await;
    assert_eq!(status, StatusCode::OK);
    let set_cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .find(|value| value.starts_with("__Host-mv-browser="))
        .expect("a first visit gets the browser cookie");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie} lacks {part}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let marker = "name=\"csrf\" value=\"";
    let start = body
        .find(marker)
        .expect("the page has a form with its token")
        + marker.len();
    let token = body[start..start + 64].to_string();
    (cookie, token)
}

#[tokio::test]
async fn every_page_carries_the_policy_and_no_cache() {
    let app = app();
    let (status, headers, body) = send(&app, get("/app", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        web::CONTENT_SECURITY_POLICY
    );
    assert!(web::CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(!web::CONTENT_SECURITY_POLICY.contains("unsafe"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(!body.contains("<script>"), "no inline script");
    assert!(!body.contains("style="), "no inline style");
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_before_its_handler() {
    let app = app();
    let (cookie, token) = first_visit(&app).await;
    let cases = [
        (Some(cookie.as_str()), String::new(), StatusCode::FORBIDDEN),
        (
            Some(cookie.as_str()),
            "csrf=".to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            Some(cookie.as_str()),
            format!("csrf={}", "0".repeat(64)),
            StatusCode::FORBIDDEN,
        ),
        // Another browser's token: bound to the cookie, not only to this process.
        (
            Some("__Host-mv-browser=00000000000000000000000000000000"),
            format!("csrf={token}"),
            StatusCode::FORBIDDEN,
        ),
        (None, format!("csrf={token}"), StatusCode::FORBIDDEN),
        // The right token: the handler runs (logging out of no session goes home).
        (
            Some(cookie.as_str()),
            format!("csrf={token}"),
            StatusCode::SEE_OTHER,
        ),
    ];
    for (cookie, form, expected) in cases {
        let (status, _, _) = send(&app, post_form("/app/logout", cookie, &form)).await;
        assert_eq!(status, expected, "{cookie:?} {form}");
    }
}

#[tokio::test]
async fn a_form_at_its_size_limit_is_read_and_one_past_it_refused() {
    let app = app();
    let (cookie, token) = first_visit(&app).await;
    let head = format!("csrf={token}&pad=");
    let fits = format!(
        "{head}{}",
        "a".repeat(web::browser::FORM_BYTES_MAX - head.len())
    );
    let (status, _, _) = send(&app, post_form("/app/logout", Some(&cookie), &fits)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let over = format!("{fits}a");
    let (status, _, _) = send(&app, post_form("/app/logout", Some(&cookie), &over)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn assets_are_embedded_and_other_paths_reach_the_api() {
    let app = app();
    for (name, media_type, _) in web::assets::ASSETS {
        let (status, headers, body) = send(&app, get(&format!("/assets/{name}"), None)).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(headers[header::CONTENT_TYPE], *media_type);
        assert!(!body.is_empty());
    }
    let (status, _, _) = send(&app, get("/assets/nothing.js", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = send(&app, get("/v1/anything", None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, "api"));
}

#[tokio::test]
async fn pages_speak_the_chosen_language() {
    let app = app();
    let korean = get("/app", None);
    let (_, _, body) = send(&app, korean).await;
    assert!(body.contains("<html lang=\"ko\">") && body.contains("가입하기"));
    let english = Request::get("/app")
        .header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(&app, english).await;
    assert!(body.contains("<html lang=\"en\">") && body.contains("Sign up"));
    let chosen = get("/app", Some("mv-lang=en"));
    let (_, _, body) = send(&app, chosen).await;
    assert!(body.contains("Sign up"));
}

/// The member's MVC wallet pages (`/app/wallet`) over an API that answers as the server
/// does: the member's routes of `server::chain_api` (and the few reads the pages make
/// besides), whose problems are made by the server's own `Problem` from the platform's own
/// errors and whose message to sign is `platform::conversion::address_proof_message`.
/// `chain: false` is a server started without `--chain-rpc`; with `chain: true` the one
/// signature that proves [`ADDRESS`](wallet_pages::ADDRESS) is `good_signature()`.
mod wallet_pages {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use platform::PlatformError;
    use platform::anchoring::AnchoringError;
    use platform::conversion::{ConversionError, address_proof_message};
    use platform::error::{Entity, invalid};
    use platform::members::MemberError;
    use serde_json::{Value, json};
    use server::problem::Problem;

    use super::{first_visit, post_form, send};

    const SESSION: &str = "a-members-session-token";
    const MEMBER_ID: u128 = 4_242;
    pub const ADDRESS: &str = "0x00000000000000000000000000000000000000a1";
    /// Above this many MVP the stub asks for the PIN, as `--pin-confirm-above-mvp` does.
    const PIN_ABOVE_MVP: u64 = 1_000;
    const PIN: &str = "135790";

    fn good_signature() -> String {
        format!("0x{}", "1b".repeat(65))
    }

    /// What the stub's API holds.
    #[derive(Default)]
    struct Stored {
        address: Option<String>,
        /// Newest last, each with the `Idempotency-Key` it was asked under.
        conversions: Vec<(String, Value)>,
        /// Every conversion request's `Idempotency-Key`, refused ones included.
        keys: Vec<Option<String>>,
    }

    #[derive(Clone)]
    struct Stub {
        chain: bool,
        stored: Arc<Mutex<Stored>>,
    }

    impl Stub {
        fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
            self.stored.lock().unwrap()
        }
    }

    fn problem(error: impl Into<PlatformError>) -> Response {
        Problem::from(error.into()).into_response()
    }

    /// The member's session, or the API's 401.
    fn refused_session(headers: &HeaderMap) -> Option<Response> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        (bearer != Some(format!("Bearer {SESSION}").as_str()))
            .then(|| Problem::unauthorized().into_response())
    }

    /// `0x` and `N` bytes of hex, as `chain_api` reads addresses and signatures.
    fn hex_fixed<const N: usize>(text: &str) -> Option<[u8; N]> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        hex::decode(digits)
            .ok()
            .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
    }

    /// The API's refusal of a field that is not `N` bytes of hex.
    fn not_hex<const N: usize>(field: &'static str) -> Response {
        problem(invalid(field, format!("{N} bytes of hex")))
    }

    async fn wallet_address(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        if let Some(refused) = refused_session(&headers) {
            return refused;
        }
        let zero = format!("0x{}", "00".repeat(20));
        let address = stub.stored().address.clone();
        let mut answer = json!({
            "address": address,
            "proved_at": address.as_ref().map(|_| "2026-03-01T09:30:00Z"),
            "message_template": address_proof_message(MEMBER_ID, &[0; 20]).replace(&zero, "{address}"),
        });
        if let Some(text) = query.get("address") {
            match hex_fixed::<20>(text) {
                Some(bytes) => answer["message"] = json!(address_proof_message(MEMBER_ID, &bytes)),
                None => return not_hex::<20>("address"),
            }
        }
        Json(answer).into_response()
    }

    async fn register_address(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused_session(&headers) {
            return refused;
        }
        let text = |field: &str| body[field].as_str().unwrap_or_default().to_string();
        let (address, signature) = (text("address"), text("signature"));
        if hex_fixed::<20>(&address).is_none() {
            return not_hex::<20>("address");
        }
        if hex_fixed::<65>(&signature).is_none() {
            return not_hex::<65>("signature");
        }
        if !stub.chain {
            return problem(ConversionError::ChainNotConfigured);
        }
        if address.to_ascii_lowercase() != ADDRESS || signature != good_signature() {
            let detail = "signed by 0x5f1d…, not by the address given".to_string();
            return problem(AnchoringError::BadSignature(detail));
        }
        stub.stored().address = Some(ADDRESS.to_string());
        let answer = json!({ "address": ADDRESS, "proved_at": "2026-03-01T09:30:00Z" });
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    async fn convert(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused_session(&headers) {
            return refused;
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let mut stored = stub.stored();
        stored.keys.push(key.clone());
        let Some(mvp) = body["mvp"].as_u64().filter(|mvp| *mvp > 0) else {
            return problem(invalid("mvp", "1 to 1000000000000"));
        };
        if !stub.chain {
            return problem(ConversionError::ChainNotConfigured);
        }
        if let Some((_, known)) = stored
            .conversions
            .iter()
            .find(|(known_key, _)| Some(known_key) == key.as_ref())
        {
            return Json(known.clone()).into_response();
        }
        let Some(address) = stored.address.clone() else {
            return problem(ConversionError::NoWalletAddress);
        };
        if mvp > PIN_ABOVE_MVP && body["pin"].as_str() != Some(PIN) {
            let above_mvp = PIN_ABOVE_MVP;
            return problem(MemberError::PinRequired { above_mvp });
        }
        let conversion = json!({
            "conversion_id": (7_000 + stored.conversions.len()).to_string(),
            "status": "requested",
            "mvp": mvp,
            "mvc_wei": (u128::from(mvp) * 100_000_000_000_000_000).to_string(),
            "mvp_per_mvc": 10,
            "address": address,
            "failure": null,
            "tx_hash": null,
            "block_number": null,
            "created_at": "2026-03-01T09:31:00Z",
            "finished_at": null,
        });
        stored
            .conversions
            .push((key.unwrap_or_default(), conversion.clone()));
        (StatusCode::ACCEPTED, Json(conversion)).into_response()
    }

    async fn conversion(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        if let Some(refused) = refused_session(&headers) {
            return refused;
        }
        let stored = stub.stored();
        match stored
            .conversions
            .iter()
            .find(|(_, conversion)| conversion["conversion_id"] == id.as_str())
        {
            Some((_, conversion)) => Json(conversion.clone()).into_response(),
            None => problem(PlatformError::NotFound(Entity::Conversion)),
        }
    }

    /// The member's conversions, newest first.
    async fn member_conversions(State(stub): State<Stub>, headers: HeaderMap) -> Response {
        if let Some(refused) = refused_session(&headers) {
            return refused;
        }
        let stored = stub.stored();
        let conversions: Vec<Value> = stored
            .conversions
            .iter()
            .rev()
            .map(|(_, conversion)| conversion.clone())
            .collect();
        Json(json!({ "conversions": conversions, "next_cursor": null })).into_response()
    }

    async fn anchor(State(stub): State<Stub>) -> Response {
        if stub.chain {
            Json(json!({ "chain_id": 31337 })).into_response()
        } else {
            problem(ConversionError::ChainNotConfigured)
        }
    }

    async fn member_read(headers: HeaderMap, Path(what): Path<String>) -> Response {
        if let Some(refused) = refused_session(&headers) {
            return refused;
        }
        match what.as_str() {
            "balances" => {
                let line = json!({ "asset": "MVP", "available": 5_000, "pending": 0 });
                Json(json!({ "balances": [line] })).into_response()
            }
            "partner-links" => Json(json!({ "links": [] })).into_response(),
            "ads" => Json(json!({ "ad": null })).into_response(),
            "transactions" => {
                Json(json!({ "transactions": [], "next_cursor": null })).into_response()
            }
            _ => Problem::not_found("no such read").into_response(),
        }
    }

    /// The web app in front of the stub API, and the stub.
    fn app(chain: bool) -> (Router, Stub) {
        let stub = Stub {
            chain,
            stored: Arc::default(),
        };
        let api = Router::new()
            .route(
                "/v1/me/wallet-addresses",
                get(wallet_address).post(register_address),
            )
            .route("/v1/conversions", post(convert))
            .route("/v1/conversions/{id}", get(conversion))
            .route("/v1/me/conversions", get(member_conversions))
            .route("/v1/me/{what}", get(member_read))
            .route("/v1/ledger/anchor", get(anchor))
            .with_state(stub.clone());
        (web::router(api, web::WebConfig::default()), stub)
    }

    /// A signed-in member's browser reading English: its cookies and form token.
    async fn member(app: &Router) -> (String, String) {
        let (cookie, token) = first_visit(app).await;
        (
            format!("{cookie}; __Host-mv-session={SESSION}; mv-lang=en"),
            token,
        )
    }

    fn page(path: &str, cookie: &str) -> Request<Body> {
        super::get(path, Some(cookie))
    }

    /// The value of the form field `name` on a page.
    fn field(body: &str, name: &str) -> String {
        let start = body.find(&format!("name=\"{name}\"")).expect(name);
        let tag = &body[start..start + body[start..].find('>').unwrap()];
        let value = tag.split("value=\"").nth(1).expect(name);
        value.split('"').next().unwrap().to_string()
    }

    fn form(pairs: &[(&str, &str)]) -> String {
        serde_urlencoded::to_string(pairs).unwrap()
    }

    #[tokio::test]
    async fn the_wallet_page_shows_the_address_form_and_conversions_to_a_member() {
        let (app, _) = app(true);
        let (cookie, _) = member(&app).await;
        let (status, _, home) = send(&app, page("/app", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            home.contains("href=\"/app/wallet\""),
            "home links the wallet"
        );
        let (status, _, body) = send(&app, page("/app/wallet", &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("<h1>MVC wallet</h1>"));
        assert!(body.contains("No address registered yet."));
        // The message an address signs, as the API gives it, and the CLI that makes a wallet.
        let template = format!("Mileverse: I own {{address}} and link it to member {MEMBER_ID}");
        assert!(body.contains(&template), "{body}");
        assert!(body.contains("<code>mileverse wallet new</code>"));
        assert!(body.contains("method=\"get\" action=\"/app/wallet\""));
        assert!(body.contains("action=\"/app/wallet/conversions\""));
        assert_eq!(field(&body, "idempotency_key").len(), 32);
        assert!(body.contains("5,000</strong> MVP"), "the MVP available");
        assert!(!body.contains("not available"));
        // In Korean too, and never for a browser without a session.
        let korean = cookie.replace("mv-lang=en", "mv-lang=ko");
        let (_, _, body) = send(&app, page("/app/wallet", &korean)).await;
        assert!(body.contains("<h1>MVC 지갑</h1>"));
        let (anonymous, _) = first_visit(&app).await;
        let (status, headers, _) = send(&app, page("/app/wallet", &anonymous)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/app/login");
    }

    #[tokio::test]
    async fn an_address_without_its_signature_is_refused_with_the_apis_problem_and_not_stored() {
        let (app, stub) = app(true);
        let (cookie, token) = member(&app).await;
        // An address that is not one: the API's problem, and no message to sign.
        let (status, _, body) = send(&app, page("/app/wallet?address=0x12", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        let alert = body.split("role=\"alert\">").nth(1).unwrap();
        assert!(alert.starts_with("Some items are invalid"), "{alert}");
        assert!(alert.contains("An address is 0x and 40 hexadecimal digits"));
        assert!(!body.contains("wallet-message") && body.contains("name=\"address\""));
        // The address first: the page shows the exact message to sign and the command.
        let path = format!("/app/wallet?address={ADDRESS}");
        let (status, _, body) = send(&app, page(&path, &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        let message = address_proof_message(MEMBER_ID, &hex_fixed::<20>(ADDRESS).unwrap());
        assert!(body.contains(&format!(
            "<code data-testid=\"wallet-message\">{message}</code>"
        )));
        assert!(
            body.contains(&format!("mileverse wallet sign '{message}'")),
            "{body}"
        );
        assert_eq!(field(&body, "address"), ADDRESS);

        // Someone else's signature, and one that is not a signature at all.
        let wrong = format!("0x{}", "2c".repeat(65));
        let cases = [
            (
                wrong.as_str(),
                "Bad signature",
                "over exactly the message shown",
            ),
            (
                "0x1234",
                "Some items are invalid",
                "a signature is 0x and 130",
            ),
            ("", "Some items are invalid", "a signature is 0x and 130"),
        ];
        for (signature, title, hint) in cases {
            let body = form(&[
                ("csrf", &token),
                ("address", ADDRESS),
                ("signature", signature),
            ]);
            let request = post_form("/app/wallet/address", Some(&cookie), &body);
            let (status, _, page) = send(&app, request).await;
            assert_eq!(status, StatusCode::OK, "{signature}");
            let alert = page
                .split("role=\"alert\">")
                .nth(1)
                .expect("the problem is shown");
            assert!(alert.starts_with(title), "{signature}: {alert}");
            assert!(alert.contains(hint), "{signature}: {alert}");
            // The message is still there to sign again; nothing was registered.
            assert!(page.contains(&message));
            assert!(page.contains("No address registered yet."));
            assert_eq!(stub.stored().address, None);
        }
        let (_, _, body) = send(&app, page("/app/wallet", &cookie)).await;
        assert!(body.contains("No address registered yet."));

        // The address's own signature registers it.
        let good = good_signature();
        let body = form(&[("csrf", &token), ("address", ADDRESS), ("signature", &good)]);
        let request = post_form("/app/wallet/address", Some(&cookie), &body);
        let (status, headers, _) = send(&app, request).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/app/wallet?done=registered");
        let (_, _, body) = send(&app, page("/app/wallet?done=registered", &cookie)).await;
        assert!(body.contains("Address registered."));
        assert!(body.contains(&format!(
            "<code data-testid=\"wallet-address\">{ADDRESS}</code>"
        )));
        assert!(body.contains("Register another address"));
    }

    #[tokio::test]
    async fn without_a_chain_the_wallet_says_conversions_are_unavailable() {
        let (app, stub) = app(false);
        let (cookie, token) = member(&app).await;
        let unavailable = "This server runs without an Ethereum chain";
        let (status, _, body) = send(&app, page("/app/wallet", &cookie)).await;
        assert_eq!(status, StatusCode::OK, "the page does not fail");
        assert!(body.contains("data-testid=\"wallet-unavailable\""));
        assert!(body.contains(unavailable));
        assert!(
            !body.contains("action=\"/app/wallet/conversions\""),
            "no form that cannot work"
        );

        // A convert form posted anyway (a page left open): the API's problem, and why.
        let key = "0123456789abcdef0123456789abcdef";
        let body = form(&[("csrf", &token), ("mvp", "100"), ("idempotency_key", key)]);
        let request = post_form("/app/wallet/conversions", Some(&cookie), &body);
        let (status, _, page) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK);
        let alert = page.split("role=\"alert\">").nth(1).unwrap();
        assert!(alert.starts_with("No chain is configured"), "{alert}");
        assert!(page.contains("data-testid=\"wallet-unavailable\""));
        assert_eq!(stub.stored().keys, vec![Some(key.to_string())]);
        assert!(stub.stored().conversions.is_empty());

        // So is an address with a well-formed signature: nothing is registered.
        let good = good_signature();
        let body = form(&[("csrf", &token), ("address", ADDRESS), ("signature", &good)]);
        let request = post_form("/app/wallet/address", Some(&cookie), &body);
        let (status, _, page) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("No chain is configured"));
        assert!(page.contains(unavailable));
        assert_eq!(stub.stored().address, None);
    }

    #[tokio::test]
    async fn a_conversion_goes_with_its_key_and_the_pin_when_asked_and_shows_its_status() {
        let (app, stub) = app(true);
        let (cookie, token) = member(&app).await;
        let convert = |mvp: &str, key: &str, pin: Option<&str>| {
            let mut pairs = vec![
                ("csrf", token.as_str()),
                ("mvp", mvp),
                ("idempotency_key", key),
            ];
            pairs.extend(pin.map(|pin| ("pin", pin)));
            post_form("/app/wallet/conversions", Some(&cookie), &form(&pairs))
        };
        // No address yet: the API's refusal, with what to do.
        let (_, _, body) = send(&app, page("/app/wallet", &cookie)).await;
        let key = field(&body, "idempotency_key");
        let (status, _, body) = send(&app, convert("100", &key, None)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("No Ethereum address registered"), "{body}");
        assert!(body.contains("Register an address first"));
        assert_eq!(field(&body, "mvp"), "100", "the amount is kept");

        stub.stored().address = Some(ADDRESS.to_string());
        // Above the threshold the PIN is asked, the amount kept.
        let (_, _, body) = send(&app, convert("2000", &key, None)).await;
        assert!(body.contains("The PIN is asked again"), "{body}");
        assert!(body.contains("name=\"pin\""));
        assert_eq!(field(&body, "mvp"), "2000");
        let key = field(&body, "idempotency_key");
        let (status, headers, _) = send(&app, convert("2000", &key, Some(PIN))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers[header::LOCATION].to_str().unwrap().to_string();
        assert_eq!(location, "/app/wallet/conversions/7000");
        // A second press of the button is the same conversion.
        let (_, headers, _) = send(&app, convert("2000", &key, Some(PIN))).await;
        assert_eq!(headers[header::LOCATION], location.as_str());
        assert_eq!(stub.stored().conversions.len(), 1);
        assert!(
            stub.stored().keys.iter().all(Option::is_some),
            "every request had its key"
        );

        let (status, _, body) = send(&app, page(&location, &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("data-status=\"requested\">On its way to the chain"));
        assert!(body.contains("2,000 MVP → 200 MVC"));
        assert!(body.contains(ADDRESS));
        let (_, _, body) = send(&app, page("/app/wallet", &cookie)).await;
        assert!(body.contains("href=\"/app/wallet/conversions/7000\""));
        assert!(body.contains("2,000 MVP → 200 MVC"));
        // An id that is not one is not asked of the API.
        let (status, _, _) = send(&app, page("/app/wallet/conversions/x", &cookie)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

/// The merchant portal's terminals (`/merchant/terminals`) and the partner portal's
/// exchanges (`/partner/exchanges`) over a stub of their API routes
/// (`server::merchant_portal_api`, `server::partner_portal_api`) that answers as the server
/// does, its refusals made by the server's own `Problem` from the platform's own errors,
/// and that records what the pages asked.
mod portal_pages {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use platform::PlatformError;
    use platform::error::Entity;
    use serde_json::{Value, json};
    use server::problem::Problem;

    use super::{first_visit, post_form, send};

    const MERCHANT_SESSION: &str = "mvp_a-merchant-users-session";
    const PARTNER_SESSION: &str = "mvp_a-partner-users-session";
    /// The user's stores; any other id is "not found", as the API answers.
    const STORES: [(&str, &str); 2] = [("11", "Gangnam"), ("22", "Seongsu")];
    const SECRET: &str = "5ec2e7000000000000000000000000000000000000000000000000000000cafe";
    /// The exchanges the stub's partner has: two full pages of the page's 50 and one more.
    const EXCHANGES: usize = 101;
    const PAGE: usize = 50;

    #[derive(Clone, Default)]
    struct Stub {
        /// Every API call the pages made: method, path and query.
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl Stub {
        fn called(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    fn signed_in(headers: &HeaderMap, session: &str) -> Option<Response> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        (bearer != Some(format!("Bearer {session}").as_str()))
            .then(|| Problem::unauthorized().into_response())
    }

    fn unknown(entity: Entity) -> Response {
        Problem::from(PlatformError::NotFound(entity)).into_response()
    }

    async fn me(headers: HeaderMap) -> Response {
        if let Some(refused) = signed_in(&headers, MERCHANT_SESSION) {
            return refused;
        }
        let stores: Vec<Value> = STORES
            .iter()
            .map(|(id, name)| json!({ "merchant_id": id, "name": name, "brand": "Blue Cup", "enabled": true }))
            .collect();
        Json(json!({ "login": "blue", "display_name": "Staff", "brand": "Blue Cup", "stores": stores }))
            .into_response()
    }

    async fn terminals(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        if let Some(refused) = signed_in(&headers, MERCHANT_SESSION) {
            return refused;
        }
        let store = query.get("merchant_id").cloned().unwrap_or_default();
        stub.called(format!("GET terminals {store}"));
        if !STORES.iter().any(|(id, _)| *id == store) {
            return unknown(Entity::Merchant);
        }
        let terminal = |id: &str, enabled: bool| {
            json!({
                "terminal_id": id, "merchant_id": store, "key_id": format!("key-{id}"),
                "enabled": enabled, "created_at": "2026-03-01T09:30:00Z",
            })
        };
        let terminals = match store.as_str() {
            "11" => vec![terminal("501", true), terminal("502", false)],
            _ => Vec::new(),
        };
        Json(json!({ "terminals": terminals, "next_cursor": null })).into_response()
    }

    async fn create_terminal(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = signed_in(&headers, MERCHANT_SESSION) {
            return refused;
        }
        let store = body["merchant_id"].as_str().unwrap_or_default().to_string();
        stub.called(format!("POST terminals {store}"));
        if !STORES.iter().any(|(id, _)| *id == store) {
            return unknown(Entity::Merchant);
        }
        let answer = json!({
            "terminal_id": "503", "merchant_id": store, "key_id": "key-503", "secret": SECRET,
        });
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    async fn change_terminal(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path((id, verb)): Path<(String, String)>,
    ) -> Response {
        if let Some(refused) = signed_in(&headers, MERCHANT_SESSION) {
            return refused;
        }
        stub.called(format!("POST terminals/{id}/{verb}"));
        if !["501", "502"].contains(&id.as_str()) {
            return unknown(Entity::Terminal);
        }
        let answer = json!({
            "terminal_id": id, "merchant_id": "11", "key_id": format!("key-{id}"),
            "enabled": verb == "enable", "created_at": "2026-03-01T09:30:00Z",
        });
        Json(answer).into_response()
    }

    /// The partner's exchanges, oldest first, `created_at` one second apart; the cursor
    /// is `<time>.<id>` of the last of the page before, as the API writes it.
    async fn exchanges(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        if let Some(refused) = signed_in(&headers, PARTNER_SESSION) {
            return refused;
        }
        let limit: usize = query["limit"].parse().unwrap();
        let cursor = query.get("cursor").cloned();
        stub.called(format!("GET exchanges {limit} {cursor:?}"));
        let start = match &cursor {
            None => 0,
            Some(cursor) => cursor.split_once('.').unwrap().1.parse::<usize>().unwrap(),
        };
        let exchanges: Vec<Value> = (start + 1..=EXCHANGES)
            .take(limit)
            .map(|n| {
                json!({
                    "exchange_id": n.to_string(), "reference": format!("{n:032x}"),
                    "partner_member_ref": format!("DA-{n}"), "status": "completed",
                    "mileage": 1000 * n, "mvp": 10 * n, "rate_num": 1, "rate_den": 100,
                    "created_at": "2026-03-01T09:30:00Z", "finished_at": "2026-03-01T09:30:01Z",
                })
            })
            .collect();
        let next_cursor = (exchanges.len() == limit)
            .then(|| format!("{}.{}", 1_772_000_000 + start + limit, start + limit));
        Json(json!({ "exchanges": exchanges, "next_cursor": next_cursor })).into_response()
    }

    fn app(stub: &Stub) -> Router {
        let api = Router::new()
            .route("/merchant/v1/me", get(me))
            .route(
                "/merchant/v1/terminals",
                get(terminals).post(create_terminal),
            )
            .route("/merchant/v1/terminals/{id}/{verb}", post(change_terminal))
            .route("/partner-portal/v1/exchanges", get(exchanges))
            .with_state(stub.clone());
        web::router(api, web::WebConfig::default())
    }

    fn page(path: &str, cookie: &str) -> Request<Body> {
        Request::get(path)
            .header(header::COOKIE, cookie)
            .header(header::ACCEPT_LANGUAGE, "en")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn merchant_users_list_create_and_disable_their_stores_terminals() {
        let stub = Stub::default();
        let app = app(&stub);
        let (browser, token) = first_visit(&app).await;
        let cookie = format!("{browser}; __Host-mv-merchant={MERCHANT_SESSION}; mv-lang=en");

        // The first store's terminals, each with its button; the other store's link.
        let (status, _, body) = send(&app, page("/merchant/terminals", &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.contains("key-501") && body.contains("key-502"),
            "{body}"
        );
        assert!(body.contains("href=\"/merchant/terminals?store=22\""));
        assert!(body.contains("action=\"/merchant/terminals/501/disable\""));
        assert!(body.contains("action=\"/merchant/terminals/502/enable\""));
        assert!(body.contains("action=\"/merchant/terminals\""));
        let forms = body.matches("<form method=\"post\"").count();
        let tokens = body
            .matches(&format!("name=\"csrf\" value=\"{token}\""))
            .count();
        assert_eq!(forms, tokens, "every form carries its token");
        assert!(!body.contains(SECRET));
        let (status, _, body) = send(&app, page("/merchant/terminals?store=22", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("No terminal yet."));
        // A store that is not the user's falls back to the first: nothing is asked of it.
        send(&app, page("/merchant/terminals?store=99", &cookie)).await;

        // A new terminal: its secret on this page, once, with the warning.
        let form = format!("csrf={token}&store=22");
        let (status, _, body) =
            send(&app, post_form("/merchant/terminals", Some(&cookie), &form)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body.contains(SECRET) && body.contains("key-503"), "{body}");
        assert!(body.contains("it is shown this once and never again"));
        assert!(body.contains("href=\"/merchant/terminals?store=22\""));
        // Without its token nothing is asked of the API.
        let (status, _, _) = send(
            &app,
            post_form("/merchant/terminals", Some(&cookie), "store=22"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Another store: the API's "not found", in the portal's frame.
        let form = format!("csrf={token}&store=33");
        let (status, _, body) =
            send(&app, post_form("/merchant/terminals", Some(&cookie), &form)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(!body.contains(SECRET));

        // Disable and enable: the API's change, then back to the store's terminals.
        let form = format!("csrf={token}&store=11");
        let (status, headers, _) = send(
            &app,
            post_form("/merchant/terminals/501/disable", Some(&cookie), &form),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/merchant/terminals?store=11");
        let (status, _, _) = send(
            &app,
            post_form("/merchant/terminals/502/enable", Some(&cookie), &form),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _, _) = send(
            &app,
            post_form("/merchant/terminals/777/disable", Some(&cookie), &form),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // An id that is not one, or a store that is not one, goes nowhere else.
        let (status, _, _) = send(
            &app,
            post_form("/merchant/terminals/x/disable", Some(&cookie), &form),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let odd = format!("csrf={token}&store=//evil.example");
        let (_, headers, _) = send(
            &app,
            post_form("/merchant/terminals/501/disable", Some(&cookie), &odd),
        )
        .await;
        assert_eq!(headers[header::LOCATION], "/merchant/terminals");

        assert_eq!(
            stub.calls(),
            vec![
                "GET terminals 11",
                "GET terminals 22",
                "GET terminals 11",
                "POST terminals 22",
                "POST terminals 33",
                "POST terminals/501/disable",
                "POST terminals/502/enable",
                "POST terminals/777/disable",
                "POST terminals/501/disable",
            ]
        );

        // Signed out: to the login page.
        let (status, headers, _) = send(&app, page("/merchant/terminals", &browser)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/merchant/login");
    }

    #[tokio::test]
    async fn partner_users_page_through_their_exchanges() {
        let stub = Stub::default();
        let app = app(&stub);
        let (browser, _) = first_visit(&app).await;
        let cookie = format!("{browser}; __Host-mv-partner={PARTNER_SESSION}; mv-lang=en");
        let mut path = "/partner/exchanges".to_string();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (status, _, body) = send(&app, page(&path, &cookie)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            seen.extend(
                body.split("data-exchange=\"")
                    .skip(1)
                    .map(|rest| rest.split('"').next().unwrap().parse::<usize>().unwrap()),
            );
            let marker = "href=\"/partner/exchanges?cursor=";
            let Some(start) = body.find(marker) else {
                break;
            };
            let rest = &body[start + "href=\"".len()..];
            path = rest[..rest.find('"').unwrap()].to_string();
            assert!(body.contains("Next page"));
        }
        // Every exchange once, in order: a full page, then the next, then the one left.
        assert_eq!(seen, (1..=EXCHANGES).collect::<Vec<_>>());
        assert_eq!(
            stub.calls(),
            vec![
                format!("GET exchanges {PAGE} None"),
                format!("GET exchanges {PAGE} Some(\"1772000050.50\")"),
                format!("GET exchanges {PAGE} Some(\"1772000100.100\")"),
            ]
        );
        // A cursor that is not one is not passed on.
        let (status, _, _) = send(&app, page("/partner/exchanges?cursor=1%262", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            stub.calls().last().unwrap(),
            &format!("GET exchanges {PAGE} None")
        );
        // Signed out: to the login page.
        let (status, headers, _) = send(&app, page("/partner/exchanges", &browser)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/partner/login");
    }
}

/// The member's P2P pages (`/app/send`, `/app/transfers`, `/app/request`,
/// `/app/pay-request/{id}`) over a stub of `server::transfers_api` that answers as the
/// server does (its refusals made by the server's own `Problem` from the platform's own
/// errors) for two members, and records every send with its `Idempotency-Key`.
mod transfer_pages {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use platform::PlatformError;
    use platform::error::Entity;
    use platform::members::MemberError;
    use platform::transfers::error::TransferError;
    use serde_json::{Value, json};
    use server::problem::Problem;

    use super::{first_visit, post_form, send};

    /// The two members: session, id, masked name, phone.
    const KIM: (&str, &str, &str, &str) = ("session-kim", "101", "K*m", "01011112222");
    const LEE: (&str, &str, &str, &str) = ("session-lee", "202", "L*e", "01022223333");
    /// A phone no member has.
    const NEWCOMER: &str = "01099998888";
    const BALANCE: u64 = 5_000;
    /// Above this many MVP the stub asks for the PIN, as `--pin-confirm-above-mvp` does.
    const PIN_ABOVE_MVP: u64 = 1_000;
    const PIN: &str = "135790";
    const FAR_FUTURE: &str = "2999-01-01T00:00:00Z";

    #[derive(Default)]
    struct Stored {
        /// Every `POST /v1/transfers`: the key and the body, refused ones included.
        sends: Vec<(Option<String>, Value)>,
        /// Transfers made: the key, the sender's id, the receiver's id (none: held), the
        /// answer as the sender sees it.
        transfers: Vec<(Option<String>, String, Option<String>, Value)>,
        requests: Vec<Value>,
    }

    #[derive(Clone, Default)]
    struct Stub {
        stored: Arc<Mutex<Stored>>,
    }

    impl Stub {
        fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
            self.stored.lock().unwrap()
        }
    }

    fn problem(error: impl Into<PlatformError>) -> Response {
        Problem::from(error.into()).into_response()
    }

    /// The member whose session calls: (id, masked name, phone).
    fn caller(headers: &HeaderMap) -> Option<(&'static str, &'static str, &'static str)> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        [KIM, LEE]
            .into_iter()
            .find(|member| bearer == format!("Bearer {}", member.0))
            .map(|(_, id, name, phone)| (id, name, phone))
    }

    /// The API's answer to a session it does not know.
    fn unauthorized() -> Response {
        Problem::unauthorized().into_response()
    }

    /// The member with this (normalized) phone.
    fn member_of_phone(phone: &str) -> Option<(&'static str, &'static str)> {
        [KIM, LEE]
            .into_iter()
            .find(|member| platform::members::normalize_phone(member.3).unwrap() == phone)
            .map(|(_, id, name, _)| (id, name))
    }

    async fn me(headers: HeaderMap) -> Response {
        match caller(&headers) {
            Some((id, _, phone)) => {
                Json(json!({ "member_id": id, "name": "x", "phone": phone })).into_response()
            }
            None => unauthorized(),
        }
    }

    async fn member_read(headers: HeaderMap, Path(what): Path<String>) -> Response {
        if caller(&headers).is_none() {
            return unauthorized();
        }
        match what.as_str() {
            "balances" => {
                let line = json!({ "asset": "MVP", "available": BALANCE, "pending": 0 });
                Json(json!({ "balances": [line] })).into_response()
            }
            "partner-links" => Json(json!({ "links": [] })).into_response(),
            "ads" => Json(json!({ "ad": null })).into_response(),
            "transactions" => {
                Json(json!({ "transactions": [], "next_cursor": null })).into_response()
            }
            _ => Problem::not_found("no such read").into_response(),
        }
    }

    async fn recipient(
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        if caller(&headers).is_none() {
            return unauthorized();
        }
        let phone = query.get("phone").cloned().unwrap_or_default();
        let phone = match platform::members::normalize_phone(&phone) {
            Ok(phone) => phone,
            Err(error) => return problem(error),
        };
        let name = member_of_phone(&phone).map(|(_, name)| name);
        Json(json!({ "member": name.is_some(), "name_masked": name })).into_response()
    }

    /// The transfer as `viewer` sees it.
    fn as_seen(sender: &str, answer: &Value, viewer: &str) -> Value {
        let mut answer = answer.clone();
        if sender != viewer {
            answer["direction"] = json!("received");
            let sender_name = [KIM, LEE].iter().find(|m| m.1 == sender).unwrap().2;
            answer["counterparty_name_masked"] = json!(sender_name);
        }
        answer
    }

    async fn send_transfer(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        let Some((me, _, my_phone)) = caller(&headers) else {
            return unauthorized();
        };
        let key = headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let mut stored = stub.stored();
        stored.sends.push((key.clone(), body.clone()));
        if let Some((_, sender, _, answer)) = stored
            .transfers
            .iter()
            .find(|(known, sender, ..)| key.is_some() && *known == key && sender == me)
        {
            return (StatusCode::CREATED, Json(as_seen(sender, answer, me))).into_response();
        }
        let amount = body["amount"].as_u64().unwrap_or_default();
        let memo = body["memo"].as_str().unwrap_or_default().to_string();
        // Who receives, and the request paid.
        let (receiver, request_index) = if let Some(phone) = body["to_phone"].as_str() {
            let phone = match platform::members::normalize_phone(phone) {
                Ok(phone) => phone,
                Err(error) => return problem(error),
            };
            if phone == platform::members::normalize_phone(my_phone).unwrap() {
                return problem(TransferError::ToSelf);
            }
            (member_of_phone(&phone), None)
        } else {
            let id = body["request_id"].as_str().unwrap_or_default();
            let Some(index) = stored
                .requests
                .iter()
                .position(|request| request["request_id"] == id)
            else {
                return problem(PlatformError::NotFound(Entity::MoneyRequest));
            };
            let request = &stored.requests[index];
            let requester = request["requester_id"].as_str().unwrap().to_string();
            let member = [KIM, LEE].into_iter().find(|m| m.1 == requester).unwrap();
            (Some((member.1, member.2)), Some(index))
        };
        if receiver.map(|(id, _)| id) == Some(me) {
            return problem(TransferError::ToSelf);
        }
        if let Some(index) = request_index {
            let request = &stored.requests[index];
            match request["status"].as_str().unwrap() {
                "paid" => return problem(TransferError::RequestClosed("paid already")),
                "cancelled" => return problem(TransferError::RequestClosed("cancelled")),
                _ => {}
            }
            if request["amount"].as_u64() != Some(amount) {
                let amount_mvp = request["amount"].as_u64().unwrap();
                return problem(TransferError::RequestAmount { amount_mvp });
            }
        }
        if amount > PIN_ABOVE_MVP {
            match body["pin"].as_str() {
                None => {
                    let above_mvp = PIN_ABOVE_MVP;
                    return problem(MemberError::PinRequired { above_mvp });
                }
                Some(pin) if pin != PIN => return problem(MemberError::WrongPin),
                Some(_) => {}
            }
        }
        if amount > BALANCE {
            return problem(TransferError::InsufficientBalance);
        }
        let id = (9_000 + stored.transfers.len()).to_string();
        let held = receiver.is_none();
        let answer = json!({
            "transfer_id": id,
            "status": if held { "held" } else { "completed" },
            "direction": "sent",
            "asset": "MVP",
            "amount": amount,
            "memo": memo,
            "counterparty_name_masked": receiver.map(|(_, name)| name),
            "request_id": request_index.map(|index| stored.requests[index]["request_id"].clone()),
            "created_at": "2026-03-01T09:30:00Z",
            "expires_at": if held { Some("2026-03-08T09:30:00Z") } else { None },
            "finished_at": if held { None } else { Some("2026-03-01T09:30:00Z") },
        });
        if let Some(index) = request_index {
            stored.requests[index]["status"] = json!("paid");
            stored.requests[index]["transfer_id"] = json!(id);
        }
        let receiver = receiver.map(|(id, _)| id.to_string());
        stored
            .transfers
            .push((key, me.to_string(), receiver, answer.clone()));
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    async fn transfer(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        let Some((me, ..)) = caller(&headers) else {
            return unauthorized();
        };
        let stored = stub.stored();
        let found = stored
            .transfers
            .iter()
            .find(|(_, sender, receiver, answer)| {
                answer["transfer_id"] == id.as_str()
                    && (sender == me || receiver.as_deref() == Some(me))
            });
        match found {
            Some((_, sender, _, answer)) => Json(as_seen(sender, answer, me)).into_response(),
            None => problem(PlatformError::NotFound(Entity::P2pTransfer)),
        }
    }

    /// The member's transfers, newest first, `limit` a page (the cursor is `<time>.<n>`).
    async fn my_transfers(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        let Some((me, ..)) = caller(&headers) else {
            return unauthorized();
        };
        let limit: usize = query["limit"].parse().unwrap();
        let skip = query
            .get("cursor")
            .map(|cursor| cursor.split_once('.').unwrap().1.parse::<usize>().unwrap())
            .unwrap_or(0);
        let stored = stub.stored();
        let mine: Vec<Value> = stored
            .transfers
            .iter()
            .rev()
            .filter(|(_, sender, receiver, _)| sender == me || receiver.as_deref() == Some(me))
            .map(|(_, sender, _, answer)| as_seen(sender, answer, me))
            .collect();
        let page: Vec<Value> = mine.iter().skip(skip).take(limit).cloned().collect();
        let next_cursor = (page.len() == limit && mine.len() > skip + limit)
            .then(|| format!("1772000000.{}", skip + limit));
        Json(json!({ "transfers": page, "next_cursor": next_cursor })).into_response()
    }

    /// A money request as `viewer` gets it, as the API's `RequestAnswer`: `mine` when they
    /// made it (who made it is not told).
    fn request_answer(request: &Value, viewer: &str) -> Value {
        let mut answer = request.clone();
        let requester = answer
            .as_object_mut()
            .unwrap()
            .remove("requester_id")
            .unwrap();
        answer["mine"] = json!(requester == viewer);
        answer
    }

    async fn make_request(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        let Some((me, name, _)) = caller(&headers) else {
            return unauthorized();
        };
        let amount = body["amount"].as_u64().unwrap_or_default();
        if amount == 0 {
            return problem(platform::error::invalid("amount", "1 to 2000000 MVP"));
        }
        let mut stored = stub.stored();
        let id = (7_000 + stored.requests.len()).to_string();
        let request = json!({
            "request_id": id,
            "requester_id": me,
            "requester_name_masked": name,
            "asset": "MVP",
            "amount": amount,
            "memo": body["memo"].as_str().unwrap_or_default(),
            "status": "open",
            "transfer_id": null,
            "created_at": "2026-03-01T09:30:00Z",
            "expires_at": FAR_FUTURE,
            "pay_url": format!("http://127.0.0.1:8080/app/pay-request/{id}"),
        });
        stored.requests.push(request.clone());
        (StatusCode::CREATED, Json(request_answer(&request, me))).into_response()
    }

    async fn money_request(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        let Some((me, ..)) = caller(&headers) else {
            return unauthorized();
        };
        let stored = stub.stored();
        match stored
            .requests
            .iter()
            .find(|request| request["request_id"] == id.as_str())
        {
            Some(request) => Json(request_answer(request, me)).into_response(),
            None => problem(PlatformError::NotFound(Entity::MoneyRequest)),
        }
    }

    async fn cancel_request(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        let Some((me, ..)) = caller(&headers) else {
            return unauthorized();
        };
        let mut stored = stub.stored();
        let Some(request) = stored
            .requests
            .iter_mut()
            .find(|request| request["request_id"] == id.as_str() && request["requester_id"] == me)
        else {
            return problem(PlatformError::NotFound(Entity::MoneyRequest));
        };
        if request["status"] == "paid" {
            return problem(TransferError::RequestClosed("paid already"));
        }
        request["status"] = json!("cancelled");
        Json(request_answer(request, me)).into_response()
    }

    /// The device Kim's browser proved (a login with it needs no SMS code).
    const KIM_DEVICE: &str = "device-kim";
    const VERIFICATION: &str = "555";
    const CODE: &str = "246810";

    /// `POST /v1/verifications`: a code "sent".
    async fn verification() -> Response {
        let answer = json!({ "verification_id": VERIFICATION });
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    /// `POST /v1/sessions`, for Kim only: the PIN, and the proven device or the SMS code.
    async fn session(Json(body): Json<Value>) -> Response {
        let phone = platform::members::normalize_phone(body["phone"].as_str().unwrap()).unwrap();
        if phone != platform::members::normalize_phone(KIM.3).unwrap() || body["pin"] != PIN {
            return problem(MemberError::WrongPin);
        }
        let proven = body["device_token"] == KIM_DEVICE
            || (body["verification_id"] == VERIFICATION && body["code"] == CODE);
        if !proven {
            return problem(MemberError::DeviceUnverified);
        }
        let answer = json!({ "token": KIM.0, "device_token": KIM_DEVICE });
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    fn app() -> (Router, Stub) {
        let stub = Stub::default();
        let api = Router::new()
            .route("/v1/verifications", post(verification))
            .route("/v1/sessions", post(session))
            .route("/v1/me", get(me))
            .route("/v1/me/transfers", get(my_transfers))
            .route("/v1/me/{what}", get(member_read))
            .route("/v1/transfer-recipients", get(recipient))
            .route("/v1/transfers", post(send_transfer))
            .route("/v1/transfers/{id}", get(transfer))
            .route("/v1/transfer-requests", post(make_request))
            .route("/v1/transfer-requests/{id}", get(money_request))
            .route("/v1/transfer-requests/{id}/cancel", post(cancel_request))
            .with_state(stub.clone());
        (web::router(api, web::WebConfig::default()), stub)
    }

    /// A browser signed in as `member`, reading English: its cookies and form token.
    async fn signed_in(app: &Router, member: (&str, &str, &str, &str)) -> (String, String) {
        let (cookie, token) = first_visit(app).await;
        (
            format!("{cookie}; __Host-mv-session={}; mv-lang=en", member.0),
            token,
        )
    }

    fn page(path: &str, cookie: &str) -> Request<Body> {
        super::get(path, Some(cookie))
    }

    fn form(pairs: &[(&str, &str)]) -> String {
        serde_urlencoded::to_string(pairs).unwrap()
    }

    /// The value of the form field `name` on a page.
    fn field(body: &str, name: &str) -> String {
        let start = body.find(&format!("name=\"{name}\"")).expect(name);
        let tag = &body[start..start + body[start..].find('>').unwrap()];
        let value = tag.split("value=\"").nth(1).expect(name);
        value.split('"').next().unwrap().to_string()
    }

    /// The page's alert (the API's problem), if any.
    fn alert(body: &str) -> Option<String> {
        let rest = body.split("role=\"alert\">").nth(1)?;
        Some(rest[..rest.find("</p>").unwrap()].to_string())
    }

    /// Whether the page offers "Pay" and "Cancel" (the forms that post to the request).
    fn buttons(body: &str) -> (bool, bool) {
        let actions: Vec<&str> = body
            .split("action=\"/app/pay-request/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        let offers = |verb: &str| actions.iter().any(|action| action.ends_with(verb));
        (offers("/pay"), offers("/cancel"))
    }

    fn location(headers: &HeaderMap) -> String {
        headers[header::LOCATION].to_str().unwrap().to_string()
    }

    /// The Set-Cookie of `name` (name=value only).
    fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap())
            .find(|value| value.starts_with(&format!("{name}=")))
            .map(|value| value.split(';').next().unwrap().to_string())
    }

    #[tokio::test]
    async fn a_send_goes_through_its_confirm_page_and_posts_once_with_the_pages_key() {
        let (app, stub) = app();
        let (cookie, token) = signed_in(&app, KIM).await;
        let (_, _, home) = send(&app, page("/app", &cookie)).await;
        assert!(
            home.contains("href=\"/app/send\""),
            "home links the send page"
        );

        let (status, _, body) = send(&app, page("/app/send", &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("<h1>Send MVP</h1>"));
        assert!(
            body.contains("<label for=\"phone\">Recipient&#39;s mobile phone number</label>")
                || body
                    .contains("<label for=\"phone\">Recipient&#x27;s mobile phone number</label>"),
            "{body}"
        );
        assert!(body.contains("id=\"phone\" name=\"phone\" type=\"tel\""));
        assert!(body.contains("action=\"/app/send\"") && field(&body, "csrf") == token);
        assert!(body.contains("href=\"/app/request\"") && body.contains("href=\"/app/transfers\""));

        // "Next": the member's masked name and the amount; nothing sent yet.
        let next = |phone: &str| {
            let body = form(&[
                ("csrf", &token),
                ("phone", phone),
                ("amount", "700"),
                ("memo", "Dinner"),
            ]);
            post_form("/app/send", Some(&cookie), &body)
        };
        let (status, _, body) = send(&app, next("010-2222-3333")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("<h1>Check before sending</h1>"));
        assert!(
            body.contains("data-testid=\"recipient-name\">L*e</p>"),
            "{body}"
        );
        assert!(!body.contains("Not a member yet"));
        assert!(body.contains("data-testid=\"send-amount\">700</strong>"));
        assert!(body.contains("data-testid=\"send-memo\">Dinner</dd>"));
        assert!(!body.contains("name=\"pin\""), "no PIN unless the API asks");
        let key = field(&body, "idempotency_key");
        assert_eq!(key.len(), 32);
        assert_eq!(field(&body, "amount"), "700");
        assert!(stub.stored().sends.is_empty());

        // A phone that is no member's: said, with what happens to the money.
        let (_, _, newcomer) = send(&app, next(NEWCOMER)).await;
        assert!(
            newcomer.contains(
                "Not a member yet: the money waits 7 days for them to join, then comes back."
            ),
            "{newcomer}"
        );
        assert!(!newcomer.contains("recipient-name"));
        assert_ne!(
            field(&newcomer, "idempotency_key"),
            key,
            "each confirm page its own key"
        );

        // "Send": one transfer, under the confirm page's key, then its page.
        let confirm = form(&[
            ("csrf", &token),
            ("phone", &field(&body, "phone")),
            ("amount", "700"),
            ("memo", "Dinner"),
            ("recipient", "L*e"),
            ("idempotency_key", &key),
        ]);
        let (status, headers, _) = send(
            &app,
            post_form("/app/send/confirm", Some(&cookie), &confirm),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let to = location(&headers);
        assert_eq!(to, "/app/transfers/9000?done=sent");
        {
            let stored = stub.stored();
            assert_eq!(stored.sends.len(), 1, "sent exactly once");
            let (sent_key, sent) = &stored.sends[0];
            assert_eq!(sent_key.as_deref(), Some(key.as_str()));
            assert_eq!(
                *sent,
                json!({ "to_phone": "010-2222-3333", "amount": 700, "memo": "Dinner" })
            );
        }
        let (status, _, body) = send(&app, page(&to, &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("role=\"status\">Sent.</p>"));
        assert!(body.contains("data-status=\"completed\">Completed</strong>"));
        assert!(body.contains("data-testid=\"transfer-amount\">700</span>"));
        assert!(body.contains("data-testid=\"transfer-counterparty\">L*e</dd>"));
        assert!(body.contains("data-testid=\"transfer-memo\">Dinner</dd>"));

        // The same press again (a double click): the same transfer, not a second one.
        let (_, headers, _) = send(
            &app,
            post_form("/app/send/confirm", Some(&cookie), &confirm),
        )
        .await;
        assert_eq!(location(&headers), to);
        assert_eq!(stub.stored().transfers.len(), 1);

        // The receiver sees it received, from the sender's masked name.
        let (lee, _) = signed_in(&app, LEE).await;
        let (_, _, body) = send(&app, page("/app/transfers", &lee)).await;
        assert!(body.contains("data-direction=\"received\""), "{body}");
        assert!(body.contains("Received · K*m") && body.contains("+700"));
        assert!(body.contains("Dinner"));
        let (_, _, body) = send(&app, page("/app/transfers/9000", &lee)).await;
        assert!(body.contains("<dt>From</dt><dd data-testid=\"transfer-counterparty\">K*m</dd>"));

        // To a newcomer: held, waiting for them to join.
        let held = form(&[
            ("csrf", &token),
            ("phone", NEWCOMER),
            ("amount", "300"),
            ("memo", ""),
            ("recipient", ""),
            ("idempotency_key", &field(&newcomer, "idempotency_key")),
        ]);
        let (_, headers, _) =
            send(&app, post_form("/app/send/confirm", Some(&cookie), &held)).await;
        let (_, _, body) = send(&app, page(&location(&headers), &cookie)).await;
        assert!(
            body.contains("data-status=\"held\">Waiting for them to join</strong>"),
            "{body}"
        );
        assert!(body.contains("not a member yet") && body.contains("Comes back on"));
    }

    #[tokio::test]
    async fn the_pin_is_asked_when_the_api_asks_and_refusals_show_their_problem() {
        let (app, stub) = app();
        let (cookie, token) = signed_in(&app, KIM).await;
        let key = "0123456789abcdef0123456789abcdef";
        let confirm = |amount: &str, pin: Option<&str>| {
            let mut pairs = vec![
                ("csrf", token.as_str()),
                ("phone", LEE.3),
                ("amount", amount),
                ("memo", "Rent"),
                ("recipient", "L*e"),
                ("idempotency_key", key),
            ];
            pairs.extend(pin.map(|pin| ("pin", pin)));
            post_form("/app/send/confirm", Some(&cookie), &form(&pairs))
        };

        // Above the threshold: the API's problem and the PIN field, the same key kept.
        let (status, _, body) = send(&app, confirm("2000", None)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            alert(&body).unwrap().starts_with("The PIN is asked again"),
            "{body}"
        );
        assert!(body.contains("<label for=\"pin\">PIN (6 digits)</label>"));
        assert_eq!(field(&body, "idempotency_key"), key);
        assert!(body.contains("data-testid=\"recipient-name\">L*e</p>"));
        // A wrong PIN is a refusal on the page, not a sign-out.
        let (status, _, body) = send(&app, confirm("2000", Some("000000"))).await;
        assert_eq!(status, StatusCode::OK, "stays on the page");
        assert!(
            alert(&body)
                .unwrap()
                .starts_with("Wrong phone number or PIN"),
            "{body}"
        );
        assert!(body.contains("name=\"pin\""));
        assert!(stub.stored().transfers.is_empty(), "nothing moved");
        let (status, headers, _) = send(&app, confirm("2000", Some(PIN))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/app/transfers/9000?done=sent");
        {
            let stored = stub.stored();
            assert_eq!(stored.sends.len(), 3);
            let keys = stored.sends.iter().map(|(sent, _)| sent.as_deref());
            assert!(keys.into_iter().all(|sent| sent == Some(key)), "one key");
            assert_eq!(stored.transfers.len(), 1);
        }

        // More than the balance (5,000): the API's problem; nothing moved.
        let other = "fedcba9876543210fedcba9876543210";
        let pairs = [
            ("csrf", token.as_str()),
            ("phone", LEE.3),
            ("amount", "999"),
            ("memo", ""),
            ("recipient", "L*e"),
            ("idempotency_key", other),
        ];
        let mut big = pairs.to_vec();
        big[2] = ("amount", "9000");
        big.push(("pin", PIN));
        let (status, _, body) = send(
            &app,
            post_form("/app/send/confirm", Some(&cookie), &form(&big)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            alert(&body).unwrap(),
            "The MVP balance is not enough: the MVP balance is not enough"
        );
        assert!(body.contains("data-testid=\"send-amount\">9,000</strong>"));
        assert_eq!(stub.stored().transfers.len(), 1);

        // To one's own phone: the API's problem.
        let mut own = pairs.to_vec();
        own[1] = ("phone", KIM.3);
        let (_, _, body) = send(
            &app,
            post_form("/app/send/confirm", Some(&cookie), &form(&own)),
        )
        .await;
        assert!(
            alert(&body)
                .unwrap()
                .starts_with("A member cannot send to their own phone")
        );

        // "Next" with a phone that is not one: the API's problem on the form, values kept.
        let next = form(&[
            ("csrf", &token),
            ("phone", "12"),
            ("amount", "50"),
            ("memo", "x"),
        ]);
        let (status, _, body) = send(&app, post_form("/app/send", Some(&cookie), &next)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            alert(&body).unwrap().starts_with("Some items are invalid"),
            "{body}"
        );
        assert_eq!(field(&body, "phone"), "12");
        assert_eq!(field(&body, "amount"), "50");
        // An amount that is not one is said before anything is asked of the API.
        let next = form(&[("csrf", &token), ("phone", LEE.3), ("amount", "seven")]);
        let (_, _, body) = send(&app, post_form("/app/send", Some(&cookie), &next)).await;
        assert_eq!(
            alert(&body).unwrap(),
            "Enter a whole number of MVP, at least 1."
        );
        assert_eq!(stub.stored().transfers.len(), 1);
    }

    #[tokio::test]
    async fn forms_without_their_token_are_refused_and_move_nothing() {
        let (app, stub) = app();
        let (cookie, _) = signed_in(&app, KIM).await;
        let (lee, lee_token) = signed_in(&app, LEE).await;
        let made = form(&[("csrf", &lee_token), ("amount", "200")]);
        send(&app, post_form("/app/request", Some(&lee), &made)).await;
        let forms = [
            ("/app/send", format!("phone={}&amount=700", LEE.3)),
            (
                "/app/send/confirm",
                format!("phone={}&amount=700&idempotency_key=k", LEE.3),
            ),
            ("/app/request", "amount=200".to_string()),
            (
                "/app/pay-request/7000/pay",
                "amount=200&idempotency_key=k".to_string(),
            ),
            ("/app/pay-request/7000/cancel", String::new()),
        ];
        for (path, body) in forms {
            let (status, _, _) = send(&app, post_form(path, Some(&cookie), &body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            let wrong = format!("csrf={}&{body}", "0".repeat(64));
            let (status, _, _) = send(&app, post_form(path, Some(&cookie), &wrong)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        let stored = stub.stored();
        assert!(stored.sends.is_empty());
        assert_eq!(stored.requests.len(), 1);
        assert_eq!(stored.requests[0]["status"], "open");
    }

    #[tokio::test]
    async fn a_request_is_paid_from_its_link_while_open_and_cancelled_by_its_requester() {
        let (app, stub) = app();
        let (lee, lee_token) = signed_in(&app, LEE).await;
        let (kim, kim_token) = signed_in(&app, KIM).await;

        let (status, _, body) = send(&app, page("/app/request", &lee)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("action=\"/app/request\""));
        let made = form(&[("csrf", &lee_token), ("amount", "200"), ("memo", "Coffee")]);
        let (status, headers, _) = send(&app, post_form("/app/request", Some(&lee), &made)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/app/pay-request/7000?done=made");

        // The requester (the API says `mine`): the link to share, its QR code and "Cancel",
        // never "Pay".
        let (status, _, body) = send(&app, page("/app/pay-request/7000?done=made", &lee)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Request made."));
        assert!(body.contains("This is your request."));
        assert!(body.contains(
            "<code data-testid=\"pay-url\">http://127.0.0.1:8080/app/pay-request/7000</code>"
        ));
        assert!(
            body.contains(
                "<div class=\"qr\" role=\"img\" aria-label=\"QR code of the link\"><svg "
            ),
            "the link's QR code: {body}"
        );
        assert!(body.contains("action=\"/app/pay-request/7000/cancel\""));
        assert_eq!(
            buttons(&body),
            (false, true),
            "Cancel, not Pay, for the requester"
        );
        assert!(body.contains("data-status=\"open\">Open</strong>"));

        // Another member, from the link: who asks, the amount, the memo, and "Pay".
        let (status, _, body) = send(&app, page("/app/pay-request/7000", &kim)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Asked by <span data-testid=\"request-requester\">L*e</span>"));
        assert!(body.contains("data-testid=\"request-amount\">200</span>"));
        assert!(body.contains("data-testid=\"request-memo\">Coffee</p>"));
        assert!(body.contains("action=\"/app/pay-request/7000/pay\""));
        assert_eq!(buttons(&body), (true, false));
        assert!(!body.contains("This is your request."));
        assert!(
            !body.contains("<svg") && !body.contains("pay-url"),
            "no link to share"
        );
        let key = field(&body, "idempotency_key");
        assert_eq!(key.len(), 32);

        // Paid, once, under the page's key.
        let pay = form(&[
            ("csrf", &kim_token),
            ("amount", "200"),
            ("idempotency_key", &key),
        ]);
        let (status, headers, _) = send(
            &app,
            post_form("/app/pay-request/7000/pay", Some(&kim), &pay),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/app/transfers/9000?done=sent");
        {
            let stored = stub.stored();
            assert_eq!(stored.sends.len(), 1);
            assert_eq!(stored.sends[0].0.as_deref(), Some(key.as_str()));
            assert_eq!(
                stored.sends[0].1,
                json!({ "request_id": "7000", "amount": 200 })
            );
        }
        // Paid: said, and no button for anyone; the requester sees the transfer.
        let (_, _, body) = send(&app, page("/app/pay-request/7000", &kim)).await;
        assert!(body.contains("data-status=\"paid\">Paid</strong>"));
        assert_eq!(buttons(&body), (false, false));
        let (_, _, body) = send(&app, page("/app/pay-request/7000", &lee)).await;
        assert!(body.contains("data-status=\"paid\">Paid</strong>"));
        assert_eq!(buttons(&body), (false, false));
        assert!(body.contains("href=\"/app/transfers/9000\""));
        // A page left open and pressed again with a new key: the API's refusal; no second
        // transfer.
        let again = form(&[
            ("csrf", &kim_token),
            ("amount", "200"),
            ("idempotency_key", "another-key"),
        ]);
        let (status, _, body) = send(
            &app,
            post_form("/app/pay-request/7000/pay", Some(&kim), &again),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            alert(&body).unwrap(),
            "The money request cannot be paid: the money request is paid already"
        );
        assert_eq!(stub.stored().transfers.len(), 1);

        // A second request, cancelled by its requester: no button for anyone.
        let (_, headers, _) = send(&app, post_form("/app/request", Some(&lee), &made)).await;
        assert_eq!(location(&headers), "/app/pay-request/7001?done=made");
        // Another member cannot cancel it: the API's problem, the request still open.
        let cancel = form(&[("csrf", &kim_token)]);
        let (_, _, body) = send(
            &app,
            post_form("/app/pay-request/7001/cancel", Some(&kim), &cancel),
        )
        .await;
        assert!(
            alert(&body).unwrap().starts_with("Unknown money request"),
            "{body}"
        );
        assert!(body.contains("data-status=\"open\""));
        let cancel = form(&[("csrf", &lee_token)]);
        let (status, headers, _) = send(
            &app,
            post_form("/app/pay-request/7001/cancel", Some(&lee), &cancel),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/app/pay-request/7001?done=cancelled");
        for cookie in [&lee, &kim] {
            let (_, _, body) = send(&app, page("/app/pay-request/7001", cookie)).await;
            assert!(body.contains("data-status=\"cancelled\">Cancelled</strong>"));
            assert_eq!(buttons(&body), (false, false));
        }

        // The requester on another browser (nothing remembered there): the API's `mine`
        // says it is theirs, so "Cancel", never "Pay".
        send(&app, post_form("/app/request", Some(&lee), &made)).await;
        let (elsewhere, elsewhere_token) = signed_in(&app, LEE).await;
        let (_, headers, body) = send(&app, page("/app/pay-request/7002", &elsewhere)).await;
        assert!(body.contains("This is your request."), "{body}");
        assert_eq!(buttons(&body), (false, true));
        assert!(body.contains("<svg "));
        assert!(
            headers.get(header::SET_COOKIE).is_none(),
            "no cookie remembers requests"
        );
        // A payment posted anyway (an old page) is the API's refusal; nothing moves, and
        // the page offers "Cancel".
        let pay = form(&[
            ("csrf", &elsewhere_token),
            ("amount", "200"),
            ("idempotency_key", "00112233445566778899aabbccddeeff"),
        ]);
        let (status, _, body) = send(
            &app,
            post_form("/app/pay-request/7002/pay", Some(&elsewhere), &pay),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            alert(&body)
                .unwrap()
                .starts_with("A member cannot send to their own phone")
        );
        assert_eq!(buttons(&body), (false, true));
        assert_eq!(stub.stored().transfers.len(), 1, "nothing moved");

        // Open past its deadline: expired, no button.
        stub.stored().requests[2]["expires_at"] = json!("2020-01-01T00:00:00Z");
        let (_, _, body) = send(&app, page("/app/pay-request/7002", &kim)).await;
        assert!(
            body.contains("data-status=\"expired\">Expired</strong>"),
            "{body}"
        );
        assert_eq!(buttons(&body), (false, false));

        // An id that is not one is not asked of the API; an unknown one is the API's 404.
        let (status, _, _) = send(&app, page("/app/pay-request/x", &kim)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = send(&app, page("/app/pay-request/12345", &kim)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn transfers_are_listed_newest_first_a_page_at_a_time() {
        let (app, stub) = app();
        let (cookie, token) = signed_in(&app, KIM).await;
        for n in 1..=25 {
            let key = format!("{n:032}");
            let amount = n.to_string();
            let pairs = [
                ("csrf", token.as_str()),
                ("phone", LEE.3),
                ("amount", amount.as_str()),
                ("idempotency_key", key.as_str()),
            ];
            send(
                &app,
                post_form("/app/send/confirm", Some(&cookie), &form(&pairs)),
            )
            .await;
        }
        assert_eq!(stub.stored().transfers.len(), 25);
        let (status, _, body) = send(&app, page("/app/transfers", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<&str> = body
            .split("data-transfer=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(ids.len(), 20);
        assert_eq!(ids[0], "9024", "newest first");
        assert!(body.contains("Sent · L*e") && body.contains("−25"));
        let next = "/app/transfers?cursor=1772000000.20";
        assert!(body.contains(&format!("href=\"{next}\"")), "{body}");
        let (_, _, body) = send(&app, page(next, &cookie)).await;
        assert_eq!(body.matches("data-transfer=\"").count(), 5);
        assert!(!body.contains("cursor="), "the last page");
        // A cursor that is not one is not passed on.
        let (status, _, body) =
            send(&app, page("/app/transfers?cursor=1%26limit%3D1", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.matches("data-transfer=\"").count(), 20);
        // Signed out: to the login page (a request's link comes back to it: see below).
        let (anonymous, _) = first_visit(&app).await;
        for path in ["/app/send", "/app/transfers", "/app/request"] {
            let (status, headers, _) = send(&app, page(path, &anonymous)).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(location(&headers), "/app/login");
        }
    }

    #[tokio::test]
    async fn a_request_link_opened_signed_out_comes_back_after_the_login_and_nothing_else_does() {
        let (app, _) = app();
        let (lee, lee_token) = signed_in(&app, LEE).await;
        let made = form(&[("csrf", &lee_token), ("amount", "200")]);
        send(&app, post_form("/app/request", Some(&lee), &made)).await;
        let back = "/app/pay-request/7000";
        let login = "/app/login?next=%2Fapp%2Fpay-request%2F7000";

        // Signed out, the link leads to the login, which says where to come back to.
        let (anonymous, token) = first_visit(&app).await;
        let anonymous = format!("{anonymous}; mv-lang=en");
        let (status, headers, _) = send(&app, page(back, &anonymous)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), login);
        // A session the API no longer knows: the same.
        let stale = format!("{anonymous}; __Host-mv-session=gone");
        let (_, headers, _) = send(&app, page(back, &stale)).await;
        assert_eq!(location(&headers), login);
        assert!(
            set_cookie(&headers, "__Host-mv-session").is_some(),
            "forgotten"
        );
        // The login form carries it.
        let (status, _, body) = send(&app, page(login, &anonymous)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(&format!("action=\"{login}\"")), "{body}");

        // A wrong PIN: the form again, still coming back.
        let wrong = form(&[("csrf", &token), ("phone", KIM.3), ("pin", "000000")]);
        let (status, _, body) = send(&app, post_form(login, Some(&anonymous), &wrong)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            alert(&body)
                .unwrap()
                .starts_with("Wrong phone number or PIN")
        );
        assert!(body.contains(&format!("action=\"{login}\"")));

        // A new browser: the SMS code first, whose form carries it too; then the request.
        let log_in = form(&[("csrf", &token), ("phone", KIM.3), ("pin", PIN)]);
        let (status, _, body) = send(&app, post_form(login, Some(&anonymous), &log_in)).await;
        assert_eq!(status, StatusCode::OK);
        let code_action = "/app/login/code?next=%2Fapp%2Fpay-request%2F7000";
        assert!(
            body.contains(&format!("action=\"{code_action}\"")),
            "{body}"
        );
        let with_code = form(&[
            ("csrf", &token),
            ("phone", KIM.3),
            ("verification_id", VERIFICATION),
            ("code", CODE),
            ("pin", PIN),
        ]);
        let (status, headers, _) =
            send(&app, post_form(code_action, Some(&anonymous), &with_code)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), back);
        let session = set_cookie(&headers, "__Host-mv-session").unwrap();
        let device = set_cookie(&headers, "__Host-mv-device").unwrap();
        let kim = format!("{anonymous}; {session}; {device}");
        let (status, _, body) = send(&app, page(back, &kim)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(buttons(&body), (true, false), "Kim may pay Lee's request");

        // A trusted browser: straight back to the request.
        let (status, headers, _) = send(&app, post_form(login, Some(&kim), &log_in)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), back);
        // No next: home.
        let (_, headers, _) = send(&app, post_form("/app/login", Some(&kim), &log_in)).await;
        assert_eq!(location(&headers), "/app");

        // Anything but a page of the member app is ignored: the form does not carry it and
        // the login lands home.
        for next in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/app//evil.example",
            "/app/\\evil.example",
            "/app/../console",
            "/app/x\r\nSet-Cookie: a=b",
            "/console",
            "/app",
            "",
        ] {
            let login = format!("/app/login?{}", form(&[("next", next)]));
            let (_, _, body) = send(&app, page(&login, &anonymous)).await;
            assert!(body.contains("action=\"/app/login\""), "{next}: {body}");
            let (status, headers, _) = send(&app, post_form(&login, Some(&kim), &log_in)).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{next}");
            assert_eq!(location(&headers), "/app", "{next}");
            let (_, _, body) = send(&app, post_form(&login, Some(&anonymous), &log_in)).await;
            assert!(
                body.contains("action=\"/app/login/code\""),
                "{next}: {body}"
            );
        }
    }
}

/// The member's conversions between assets and the console's prices, over a stand-in of
/// `server::assets_api` (and of the balances and admin reads the pages make) whose
/// refusals the server's own code makes: amounts read exactly in the smallest unit, a quote
/// shown then converted by one call, an expired quote's problem with "Get a new quote",
/// and the console's forms (CSRF, permissions).
mod asset_pages {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post, put};
    use axum::{Json, Router};
    use platform::PlatformError;
    use platform::assets::error::AssetError;
    use platform::operators::OperatorError;
    use ports::prices::Decimal;
    use serde_json::{Value, json};
    use server::problem::Problem;

    use super::{first_visit, post_form, send};

    const MEMBER: &str = "session-park";
    /// Console sessions: every conversions permission, reading only, none.
    const OPERATOR: &str = "console-operator";
    const AUDITOR: &str = "console-auditor";
    const SUPPORT: &str = "console-support";
    const MVP_BALANCE: u64 = 5_000;

    struct Stored {
        /// The member's balances by asset, in smallest units.
        balances: BTreeMap<&'static str, u64>,
        /// Prices by asset: KRW per unit and source.
        prices: BTreeMap<&'static str, (String, &'static str)>,
        /// Every `POST /v1/asset-quotes` body, refused ones included.
        quote_asks: Vec<Value>,
        /// Quotes made: the answer, and whether it was converted.
        quotes: Vec<(Value, bool)>,
        /// Every `POST /v1/asset-conversions` body.
        conversions: Vec<Value>,
        /// How long a new quote holds (0: expired at once).
        ttl_s: u64,
        /// Every treasury deposit recorded: asset, amount, reference.
        deposits: Vec<Value>,
    }

    #[derive(Clone)]
    struct Stub {
        stored: Arc<Mutex<Stored>>,
    }

    impl Stub {
        fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
            self.stored.lock().unwrap()
        }
    }

    fn problem(error: impl Into<PlatformError>) -> Response {
        Problem::from(error.into()).into_response()
    }

    fn bearer(headers: &HeaderMap) -> &str {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default()
    }

    /// The API's answer to a session that is not the member's, if it is not.
    fn refused_member(headers: &HeaderMap) -> Option<Response> {
        (bearer(headers) != MEMBER).then(|| Problem::unauthorized().into_response())
    }

    async fn member_read(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(what): Path<String>,
    ) -> Response {
        if let Some(refused) = refused_member(&headers) {
            return refused;
        }
        match what.as_str() {
            "balances" => {
                let stored = stub.stored();
                let lines: Vec<Value> = platform::assets::ASSETS
                    .iter()
                    .map(|asset| {
                        json!({
                            "asset": asset.symbol,
                            "decimals": asset.decimals,
                            "available": stored.balances.get(asset.symbol).copied().unwrap_or(0),
                            "pending": 0,
                        })
                    })
                    .collect();
                Json(json!({ "balances": lines })).into_response()
            }
            "partner-links" => Json(json!({ "links": [] })).into_response(),
            "ads" => Json(json!({ "ad": null })).into_response(),
            "transactions" => {
                Json(json!({ "transactions": [], "next_cursor": null })).into_response()
            }
            _ => Problem::not_found("no such read").into_response(),
        }
    }

    async fn prices(State(stub): State<Stub>) -> Response {
        let stored = stub.stored();
        let prices: Vec<Value> = platform::assets::ASSETS
            .iter()
            .filter_map(|asset| {
                let (price, source) = stored.prices.get(asset.symbol)?;
                Some(json!({
                    "asset": asset.symbol,
                    "kind": asset.kind.as_str(),
                    "decimals": asset.decimals,
                    "krw_per_unit": price,
                    "source": source,
                    "observed_at": "2026-12-07T13:05:09Z",
                }))
            })
            .collect();
        Json(json!({ "prices": prices })).into_response()
    }

    fn asset(symbol: &Value) -> Option<platform::assets::Asset> {
        platform::assets::asset(symbol.as_str().unwrap_or_default()).ok()
    }

    fn unknown_asset(field: &'static str) -> Response {
        problem(platform::error::invalid(
            field,
            "MVP, TTC, BTC, ETH or USDT",
        ))
    }

    /// `POST /v1/asset-quotes`, priced as the platform prices it.
    async fn quote(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused_member(&headers) {
            return refused;
        }
        let mut stored = stub.stored();
        stored.quote_asks.push(body.clone());
        let Some(from) = asset(&body["from_asset"]) else {
            return unknown_asset("from_asset");
        };
        let Some(to) = asset(&body["to_asset"]) else {
            return unknown_asset("to_asset");
        };
        if from == to {
            return problem(platform::error::invalid(
                "to_asset",
                "another asset than from_asset",
            ));
        }
        let amount = body["amount"].as_u64().unwrap();
        let price = |asset: platform::assets::Asset| {
            stored
                .prices
                .get(asset.symbol)
                .map(|(price, _)| price.clone())
                .ok_or(AssetError::NoPrice(asset.symbol))
        };
        let (from_price, to_price) = match (price(from), price(to)) {
            (Ok(from_price), Ok(to_price)) => (from_price, to_price),
            (Err(error), _) | (_, Err(error)) => return problem(error),
        };
        let to_amount = platform::assets::converted_amount(
            amount,
            (from, Decimal::parse(&from_price).unwrap()),
            (to, Decimal::parse(&to_price).unwrap()),
            platform::assets::SPREAD_BPS,
        )
        .unwrap();
        if to_amount == 0 {
            return problem(AssetError::TooSmall);
        }
        let answer = json!({
            "quote_id": (7000 + stored.quotes.len()).to_string(),
            "from_asset": from.symbol,
            "to_asset": to.symbol,
            "from_amount": amount,
            "to_amount": to_amount,
            "from_price": from_price,
            "to_price": to_price,
            "spread_bps": platform::assets::SPREAD_BPS,
            "status": "open",
            "expires_at": ports::time::rfc3339(ports::time::now_s() + stored.ttl_s),
        });
        stored.quotes.push((answer.clone(), false));
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    /// `POST /v1/asset-conversions`: once per quote (a retry answers the same), refused
    /// once the quote expired or when the balance is short.
    async fn convert(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused_member(&headers) {
            return refused;
        }
        let mut stored = stub.stored();
        stored.conversions.push(body.clone());
        let Some(index) = stored
            .quotes
            .iter()
            .position(|(quote, _)| quote["quote_id"] == body["quote_id"])
        else {
            return problem(PlatformError::NotFound(platform::error::Entity::Quote));
        };
        let (quote, used) = stored.quotes[index].clone();
        let answer = json!({
            "quote": quote,
            "status": "completed",
            "transfer_ids": ["8001", "8002"],
        });
        if used {
            return (StatusCode::CREATED, Json(answer)).into_response();
        }
        if quote["expires_at"].as_str().unwrap()
            <= ports::time::rfc3339(ports::time::now_s()).as_str()
        {
            return problem(AssetError::QuoteExpired);
        }
        let from = platform::assets::asset(quote["from_asset"].as_str().unwrap()).unwrap();
        let to = platform::assets::asset(quote["to_asset"].as_str().unwrap()).unwrap();
        let (from_amount, to_amount) = (
            quote["from_amount"].as_u64().unwrap(),
            quote["to_amount"].as_u64().unwrap(),
        );
        let held = stored.balances.get(from.symbol).copied().unwrap_or(0);
        if held < from_amount {
            return problem(AssetError::InsufficientBalance);
        }
        stored.balances.insert(from.symbol, held - from_amount);
        *stored.balances.entry(to.symbol).or_insert(0) += to_amount;
        stored.quotes[index].1 = true;
        (StatusCode::CREATED, Json(answer)).into_response()
    }

    /// The operator's permissions, by console session.
    fn permissions(headers: &HeaderMap) -> Option<(&'static str, Vec<&'static str>)> {
        match bearer(headers) {
            OPERATOR => Some(("operator", vec!["conversions.read", "conversions.write"])),
            AUDITOR => Some(("auditor", vec!["conversions.read", "audit.read"])),
            SUPPORT => Some(("support", vec!["members.read"])),
            _ => None,
        }
    }

    async fn admin_me(headers: HeaderMap) -> Response {
        match permissions(&headers) {
            Some((role, permissions)) => {
                Json(json!({ "name": role, "role": role, "permissions": permissions }))
                    .into_response()
            }
            None => Problem::unauthorized().into_response(),
        }
    }

    /// What the access layer does: the permission, or 403.
    /// What the access layer answers a caller without `conversions.write`, if it lacks it.
    fn refused_writer(headers: &HeaderMap) -> Option<Response> {
        match permissions(headers) {
            None => Some(Problem::unauthorized().into_response()),
            Some((_, held)) if held.contains(&"conversions.write") => None,
            Some(_) => {
                Some(Problem::from(OperatorError::Forbidden("conversions.write")).into_response())
            }
        }
    }

    async fn set_price(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(symbol): Path<String>,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused_writer(&headers) {
            return refused;
        }
        let Some(asset) = asset(&json!(symbol)) else {
            return unknown_asset("asset");
        };
        if asset.symbol == "MVP" {
            return problem(platform::error::invalid(
                "asset",
                "MVP is 1 KRW by definition",
            ));
        }
        let text = body["krw_per_unit"].as_str().unwrap_or_default();
        let Some(price) = Decimal::parse(text).filter(|price| !price.is_zero()) else {
            return problem(platform::error::invalid(
                "krw_per_unit",
                "a plain decimal, at most 18 places",
            ));
        };
        stub.stored()
            .prices
            .insert(asset.symbol, (price.to_string(), "operator"));
        Json(json!({ "asset": asset.symbol, "krw_per_unit": price.to_string() })).into_response()
    }

    async fn deposit(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if let Some(refused) = refused_writer(&headers) {
            return refused;
        }
        if !matches!(body["asset"].as_str(), Some("BTC" | "ETH" | "USDT")) {
            return problem(platform::error::invalid(
                "asset",
                "BTC, ETH or USDT (a custodial coin)",
            ));
        }
        stub.stored().deposits.push(body.clone());
        (StatusCode::CREATED, Json(body)).into_response()
    }

    fn app() -> (Router, Stub) {
        let stub = Stub {
            stored: Arc::new(Mutex::new(Stored {
                balances: BTreeMap::from([("MVP", MVP_BALANCE), ("BTC", 150_000_000)]),
                prices: BTreeMap::from([
                    ("MVP", ("1".to_string(), "fixed")),
                    ("TTC", ("100".to_string(), "operator")),
                ]),
                quote_asks: Vec::new(),
                quotes: Vec::new(),
                conversions: Vec::new(),
                ttl_s: 30,
                deposits: Vec::new(),
            })),
        };
        let api = Router::new()
            .route("/v1/me/{what}", get(member_read))
            .route("/v1/prices", get(prices))
            .route("/v1/asset-quotes", post(quote))
            .route("/v1/asset-conversions", post(convert))
            .route("/admin/v1/me", get(admin_me))
            .route("/admin/v1/prices/{asset}", put(set_price))
            .route("/admin/v1/treasury/deposits", post(deposit))
            .with_state(stub.clone());
        (web::router(api, web::WebConfig::default()), stub)
    }

    /// A browser with `session` (`__Host-mv-session` or `__Host-mv-console`), reading
    /// English: its cookies and form token.
    async fn browser(app: &Router, cookie_name: &str, session: &str) -> (String, String) {
        let (cookie, token) = first_visit(app).await;
        (
            format!("{cookie}; {cookie_name}={session}; mv-lang=en"),
            token,
        )
    }

    fn page(path: &str, cookie: &str) -> Request<Body> {
        super::get(path, Some(cookie))
    }

    fn form(pairs: &[(&str, &str)]) -> String {
        serde_urlencoded::to_string(pairs).unwrap()
    }

    /// The value of the form field `name` on a page.
    fn field(body: &str, name: &str) -> String {
        let start = body.find(&format!("name=\"{name}\"")).expect(name);
        let tag = &body[start..start + body[start..].find('>').unwrap()];
        let value = tag.split("value=\"").nth(1).expect(name);
        value.split('"').next().unwrap().to_string()
    }

    /// The page's alert (the API's problem, or the form's), if any.
    fn alert(body: &str) -> Option<String> {
        let rest = body.split("role=\"alert\">").nth(1)?;
        Some(rest[..rest.find("</p>").unwrap()].to_string())
    }

    fn location(headers: &HeaderMap) -> String {
        headers[header::LOCATION].to_str().unwrap().to_string()
    }

    fn ask(token: &str, from: &str, to: &str, amount: &str) -> String {
        form(&[
            ("csrf", token),
            ("from_asset", from),
            ("to_asset", to),
            ("amount", amount),
        ])
    }

    #[tokio::test]
    async fn amounts_are_read_exactly_in_the_assets_smallest_unit() {
        let (app, stub) = app();
        let (cookie, token) = browser(&app, "__Host-mv-session", MEMBER).await;
        stub.stored()
            .prices
            .insert("BTC", ("143250000".to_string(), "operator"));
        let cases: [(&str, &str, Option<u64>); 12] = [
            ("BTC", "1.5", Some(150_000_000)),
            ("BTC", "0.00000001", Some(1)),
            ("BTC", " 0.1 ", Some(10_000_000)),
            ("MVP", "1000", Some(1000)),
            ("TTC", "9.9", Some(99_000)),
            ("BTC", "1.000000001", None),
            ("MVP", "1.5", None),
            ("BTC", "abc", None),
            ("BTC", "-1", None),
            ("BTC", "", None),
            ("BTC", "0", None),
            ("BTC", "1e-8", None),
        ];
        for (from, text, units) in cases {
            let asked = stub.stored().quote_asks.len();
            let to = if from == "TTC" { "MVP" } else { "TTC" };
            let request = post_form("/app/convert", Some(&cookie), &ask(&token, from, to, text));
            let (status, _, body) = send(&app, request).await;
            assert_eq!(status, StatusCode::OK, "{text}: {body}");
            let stored = stub.stored();
            match units {
                Some(units) => {
                    assert_eq!(stored.quote_asks.len(), asked + 1, "{text}");
                    let sent = stored.quote_asks.last().unwrap();
                    assert_eq!(
                        *sent,
                        json!({ "from_asset": from, "to_asset": to, "amount": units }),
                        "{text}"
                    );
                    assert!(alert(&body).is_none(), "{text}: {body}");
                    assert!(body.contains("<h1>Your quote</h1>"), "{text}");
                }
                None => {
                    assert_eq!(stored.quote_asks.len(), asked, "{text}: nothing asked");
                    let alert = alert(&body).expect(text);
                    assert!(
                        alert.starts_with("Enter an amount above zero") && alert.contains(from),
                        "{text}: {alert}"
                    );
                    assert!(body.contains("<h1>Convert between assets</h1>"));
                    // What was typed stays in the form (escaped).
                    assert!(body.contains("id=\"amount\" name=\"amount\""));
                }
            }
        }
        // An asset the platform has not is refused before the API is asked.
        let request = post_form(
            "/app/convert",
            Some(&cookie),
            &ask(&token, "DOGE", "TTC", "1"),
        );
        let (_, _, body) = send(&app, request).await;
        assert_eq!(
            alert(&body).as_deref(),
            Some("Choose an asset of the list.")
        );
        // The API's refusals come back on the form: no price yet, the same asset twice.
        let request = post_form(
            "/app/convert",
            Some(&cookie),
            &ask(&token, "MVP", "ETH", "10"),
        );
        let (_, _, body) = send(&app, request).await;
        assert!(
            alert(&body)
                .unwrap()
                .starts_with("No price of the asset yet"),
            "{body}"
        );
        let request = post_form(
            "/app/convert",
            Some(&cookie),
            &ask(&token, "MVP", "MVP", "10"),
        );
        let (_, _, body) = send(&app, request).await;
        assert!(
            alert(&body).unwrap().starts_with("Some items are invalid"),
            "{body}"
        );
        assert!(stub.stored().conversions.is_empty());
    }

    #[tokio::test]
    async fn a_quote_is_shown_then_converted_by_one_call_and_the_balances_follow() {
        let (app, stub) = app();
        let (cookie, token) = browser(&app, "__Host-mv-session", MEMBER).await;

        // Home: MVP, and BTC (held) with its places; no TTC yet; the Convert action.
        let (_, _, home) = send(&app, page("/app", &cookie)).await;
        assert!(
            home.contains("data-testid=\"balance\">5,000</span>"),
            "{home}"
        );
        assert!(
            home.contains("data-testid=\"balance-BTC\">1.5</strong> BTC"),
            "{home}"
        );
        assert!(!home.contains("balance-TTC") && !home.contains("balance-ETH"));
        assert!(home.contains("href=\"/app/convert\">Convert</a>"));

        // The form: labelled selects, the amount, the prices list.
        let (status, _, body) = send(&app, page("/app/convert", &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("<label for=\"from_asset\">Asset you give</label>"));
        assert!(body.contains("<select id=\"from_asset\" name=\"from_asset\""));
        assert!(body.contains("<label for=\"to_asset\">Asset you get</label>"));
        assert!(body.contains("<option value=\"MVP\" selected>MVP</option>"));
        assert!(body.contains("<option value=\"TTC\" selected>TTC</option>"));
        assert!(body.contains("<label for=\"amount\">"));
        assert!(body.contains("action=\"/app/convert\"") && field(&body, "csrf") == token);
        assert!(
            body.contains("data-testid=\"price-MVP\">1</span> KRW per unit"),
            "{body}"
        );
        assert!(
            body.contains("data-testid=\"price-TTC\">100</span> KRW per unit"),
            "{body}"
        );
        assert!(!body.contains("price-BTC"), "BTC has no price yet");

        // "Get a quote": what leaves, what arrives, both prices, the spread, the expiry.
        let request = post_form(
            "/app/convert",
            Some(&cookie),
            &ask(&token, "MVP", "TTC", "1000"),
        );
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.contains("data-testid=\"quote-from\">1,000</strong> MVP"),
            "{body}"
        );
        assert!(
            body.contains("data-testid=\"quote-to\">9.9</strong> TTC"),
            "{body}"
        );
        assert!(body.contains("data-testid=\"quote-from-price\">1</dd>"));
        assert!(body.contains("data-testid=\"quote-to-price\">100</dd>"));
        assert!(body.contains("data-testid=\"quote-spread\">1.00%</dd>"));
        let seconds = body
            .split("data-testid=\"quote-seconds\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|seconds| seconds.parse::<u64>().ok())
            .expect("the seconds left");
        assert!((29..=30).contains(&seconds), "{seconds}");
        assert!(body.contains(" UTC (valid for "), "{body}");
        assert_eq!(
            body.matches("<script").count(),
            1,
            "the app's worker registration only: the time is plain text"
        );
        let quote_id = field(&body, "quote_id");
        assert_eq!(quote_id, "7000");
        assert!(
            stub.stored().conversions.is_empty(),
            "nothing converted yet"
        );

        // "Convert": one call with the quote's id, then what moved and the new balances.
        let confirm = form(&[
            ("csrf", &token),
            ("quote_id", &quote_id),
            ("from_asset", &field(&body, "from_asset")),
            ("to_asset", &field(&body, "to_asset")),
            ("amount", &field(&body, "amount")),
        ]);
        let (status, _, done) = send(
            &app,
            post_form("/app/convert/confirm", Some(&cookie), &confirm),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        {
            let stored = stub.stored();
            assert_eq!(stored.conversions, vec![json!({ "quote_id": "7000" })]);
            assert_eq!(stored.balances["TTC"], 99_000);
            assert_eq!(stored.balances["MVP"], 4_000);
        }
        assert!(done.contains("role=\"status\">Converted.</p>"), "{done}");
        assert!(done.contains("data-testid=\"converted-from\">1,000</strong> MVP"));
        assert!(done.contains("data-testid=\"converted-to\">9.9</strong> TTC"));
        assert!(
            done.contains("data-testid=\"new-balance-MVP\">4,000</strong>"),
            "{done}"
        );
        assert!(
            done.contains("data-testid=\"new-balance-TTC\">9.9</strong>"),
            "{done}"
        );
        assert!(
            done.contains("data-testid=\"new-balance-BTC\">1.5</strong>"),
            "{done}"
        );

        // The same press again: one more call, answered the same; nothing moves twice.
        let (_, _, again) = send(
            &app,
            post_form("/app/convert/confirm", Some(&cookie), &confirm),
        )
        .await;
        assert!(
            again.contains("data-testid=\"new-balance-TTC\">9.9</strong>"),
            "{again}"
        );
        assert_eq!(stub.stored().conversions.len(), 2);
        assert_eq!(stub.stored().balances["TTC"], 99_000);

        // Home shows the TTC now held, written with its places.
        let (_, _, home) = send(&app, page("/app", &cookie)).await;
        assert!(
            home.contains("data-testid=\"balance\">4,000</span>"),
            "{home}"
        );
        assert!(
            home.contains("data-testid=\"balance-TTC\">9.9</strong> TTC"),
            "{home}"
        );

        // Signed out, the page leads to the login.
        let (signed_out, _) = first_visit(&app).await;
        let (status, headers, _) = send(&app, page("/app/convert", &signed_out)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/app/login");
    }

    #[tokio::test]
    async fn an_expired_quote_shows_the_apis_problem_and_asks_for_a_new_one() {
        let (app, stub) = app();
        let (cookie, token) = browser(&app, "__Host-mv-session", MEMBER).await;
        stub.stored().ttl_s = 0;
        stub.stored()
            .prices
            .insert("BTC", ("143250000".to_string(), "operator"));
        let request = post_form(
            "/app/convert",
            Some(&cookie),
            &ask(&token, "BTC", "TTC", "0.5"),
        );
        let (_, _, body) = send(&app, request).await;
        let confirm = form(&[
            ("csrf", &token),
            ("quote_id", &field(&body, "quote_id")),
            ("from_asset", "BTC"),
            ("to_asset", "TTC"),
            ("amount", &field(&body, "amount")),
        ]);
        assert_eq!(field(&body, "amount"), "0.5");
        let (status, _, body) = send(
            &app,
            post_form("/app/convert/confirm", Some(&cookie), &confirm),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            alert(&body).unwrap().starts_with("The quote expired"),
            "{body}"
        );
        assert!(
            !body.contains("action=\"/app/convert/confirm\""),
            "no Convert"
        );
        assert!(body.contains("action=\"/app/convert\""));
        assert!(body.contains(">Get a new quote</button>"));
        assert_eq!(field(&body, "from_asset"), "BTC");
        assert_eq!(field(&body, "to_asset"), "TTC");
        assert_eq!(field(&body, "amount"), "0.5");
        assert_eq!(stub.stored().balances["BTC"], 150_000_000, "nothing moved");

        // "Get a new quote": the same assets and amount, a fresh quote.
        stub.stored().ttl_s = 30;
        let again = ask(&token, "BTC", "TTC", &field(&body, "amount"));
        let (_, _, body) = send(&app, post_form("/app/convert", Some(&cookie), &again)).await;
        assert!(body.contains("<h1>Your quote</h1>"), "{body}");
        assert_eq!(field(&body, "quote_id"), "7001");
        let stored = stub.stored();
        assert_eq!(stored.quote_asks[1]["amount"], 50_000_000);
        assert_eq!(stored.quote_asks[1]["from_asset"], "BTC");
    }

    #[tokio::test]
    async fn the_consoles_price_and_deposit_forms_carry_their_token_and_follow_the_role() {
        let (app, stub) = app();
        let (operator, token) = browser(&app, "__Host-mv-console", OPERATOR).await;
        let (status, _, body) = send(&app, page("/console/prices", &operator)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.contains("href=\"/console/prices\" aria-current=\"page\">Prices</a>"),
            "{body}"
        );
        assert!(body.contains("data-testid=\"price-TTC\">100</td>"));
        assert!(
            body.contains("data-testid=\"price-BTC\">no price yet</td>"),
            "{body}"
        );
        assert!(body.contains("action=\"/console/prices/BTC\""));
        assert!(
            !body.contains("action=\"/console/prices/MVP\""),
            "MVP is fixed"
        );
        assert!(body.contains("<label for=\"price-BTC\">BTC: new price (KRW per unit)</label>"));
        assert!(body.contains("action=\"/console/prices/deposits\""));
        let forms = body
            .matches("<form method=\"post\" action=\"/console/prices")
            .count();
        let tokens = body
            .matches(&format!("name=\"csrf\" value=\"{token}\""))
            .count();
        assert_eq!(forms, 5, "four prices and the deposit");
        assert_eq!(
            tokens,
            forms + 1,
            "every form carries the token (and the logout)"
        );

        // Without the token, or with another one: refused, nothing changes.
        for (path, body) in [
            (
                "/console/prices/BTC",
                "krw_per_unit=143250000.5".to_string(),
            ),
            (
                "/console/prices/deposits",
                "asset=BTC&amount=100000000&reference=cust-1".to_string(),
            ),
        ] {
            let (status, _, _) = send(&app, post_form(path, Some(&operator), &body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            let wrong = format!("csrf={}&{body}", "0".repeat(64));
            let (status, _, _) = send(&app, post_form(path, Some(&operator), &wrong)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        assert!(!stub.stored().prices.contains_key("BTC"));
        assert!(stub.stored().deposits.is_empty());

        // With it: the price is set through PUT, then shown.
        let set = form(&[("csrf", &token), ("krw_per_unit", "143250000.5")]);
        let (status, headers, _) = send(
            &app,
            post_form("/console/prices/BTC", Some(&operator), &set),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/console/prices?done=price");
        let (_, _, body) = send(&app, page("/console/prices?done=price", &operator)).await;
        assert!(body.contains("role=\"status\">Price set.</p>"));
        assert!(
            body.contains("data-testid=\"price-BTC\">143,250,000.5</td>"),
            "{body}"
        );
        // A price the API refuses: its problem on the page.
        let bad = form(&[("csrf", &token), ("krw_per_unit", "abc")]);
        let (status, _, body) = send(
            &app,
            post_form("/console/prices/ETH", Some(&operator), &bad),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            alert(&body).unwrap().starts_with("Some items are invalid"),
            "{body}"
        );
        let (status, _, _) = send(
            &app,
            post_form("/console/prices/DOGE", Some(&operator), &set),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The deposit, in the smallest unit, once.
        let deposit = form(&[
            ("csrf", &token),
            ("asset", "BTC"),
            ("amount", "100000000"),
            ("reference", "cust-1"),
        ]);
        let (status, headers, _) = send(
            &app,
            post_form("/console/prices/deposits", Some(&operator), &deposit),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location(&headers), "/console/prices?done=deposit");
        assert_eq!(
            stub.stored().deposits,
            vec![json!({ "asset": "BTC", "amount": 100_000_000, "reference": "cust-1" })]
        );
        let not_whole = form(&[
            ("csrf", &token),
            ("asset", "BTC"),
            ("amount", "1.5"),
            ("reference", "cust-2"),
        ]);
        let (_, _, body) = send(
            &app,
            post_form("/console/prices/deposits", Some(&operator), &not_whole),
        )
        .await;
        assert!(
            alert(&body).unwrap().starts_with("Enter a whole number"),
            "{body}"
        );
        assert_eq!(stub.stored().deposits.len(), 1);

        // A reading role sees the prices, not the forms; the API refuses its post anyway.
        let (auditor, auditor_token) = browser(&app, "__Host-mv-console", AUDITOR).await;
        let (status, _, body) = send(&app, page("/console/prices", &auditor)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("href=\"/console/prices\""));
        assert!(body.contains("data-testid=\"price-BTC\">143,250,000.5</td>"));
        assert!(!body.contains("action=\"/console/prices/"), "{body}");
        let set = form(&[("csrf", &auditor_token), ("krw_per_unit", "1")]);
        let (status, _, _) =
            send(&app, post_form("/console/prices/TTC", Some(&auditor), &set)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(stub.stored().prices["TTC"].0, "100");

        // A role without the conversions permissions is not offered the section.
        let (support, _) = browser(&app, "__Host-mv-console", SUPPORT).await;
        let (_, _, body) = send(&app, page("/console/audit", &support)).await;
        assert!(!body.contains("href=\"/console/prices\""), "{body}");
    }
}

/// The member's checkout page (`/app/checkout/{id}`) in front of a stub of
/// `/v1/checkout/intents`: what a shop's intent says, the PIN sent as typed, the API's
/// refusals shown on the page, and the way back to the shop once paid.
mod checkout_pages {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use platform::PlatformError;
    use platform::checkout::CheckoutError;
    use platform::members::MemberError;
    use serde_json::{Value, json};
    use server::problem::Problem;

    use super::{first_visit, post_form, send};

    const SESSION: &str = "session-of-the-payer";
    const INTENT: &str = "9001";
    const PIN: &str = "135790";
    /// Above this many MVP the stub asks for the PIN, as the platform does.
    const PIN_ABOVE_MVP: u64 = 100_000;
    const AMOUNT: u64 = 150_000;
    const RETURN_URL: &str = "https://shop.example/orders/77";

    #[derive(Clone, Default)]
    struct Stub {
        /// Every approval's body, refused ones included; the approval number once paid.
        approvals: Arc<Mutex<(Vec<Value>, Option<String>)>>,
    }

    fn problem(error: impl Into<PlatformError>) -> Response {
        Problem::from(error.into()).into_response()
    }

    fn signed_in(headers: &HeaderMap) -> bool {
        let bearer = headers.get(header::AUTHORIZATION);
        bearer.and_then(|value| value.to_str().ok()) == Some(&format!("Bearer {SESSION}"))
    }

    fn intent(stub: &Stub) -> Value {
        let approval_no = stub.approvals.lock().unwrap().1.clone();
        json!({
            "intent_id": INTENT,
            "merchant_name": "TongTong Demo Shop",
            "amount": AMOUNT,
            "description": "Tumbler <large>",
            "status": if approval_no.is_some() { "succeeded" } else { "requires_approval" },
            "return_url": RETURN_URL,
            "expires_at": "2999-01-01T00:15:00Z",
            "approval_no": approval_no,
        })
    }

    async fn read(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        if !signed_in(&headers) {
            return Problem::unauthorized().into_response();
        }
        if id != INTENT {
            return Problem::not_found("no such payment intent").into_response();
        }
        Json(intent(&stub)).into_response()
    }

    async fn approve(
        State(stub): State<Stub>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if !signed_in(&headers) {
            return Problem::unauthorized().into_response();
        }
        let mut approvals = stub.approvals.lock().unwrap();
        approvals.0.push(body.clone());
        if approvals.1.is_some() {
            return problem(CheckoutError::IntentState("succeeded"));
        }
        match body["pin"].as_str() {
            None => problem(MemberError::PinRequired {
                above_mvp: PIN_ABOVE_MVP,
            }),
            Some("000000") => problem(CheckoutError::Declined("insufficient_balance")),
            Some(PIN) => {
                approvals.1 = Some("12345678".into());
                drop(approvals);
                Json(intent(&stub)).into_response()
            }
            Some(_) => problem(MemberError::WrongPin),
        }
    }

    fn app() -> (Router, Stub) {
        let stub = Stub::default();
        let api = Router::new()
            .route("/v1/checkout/intents/{id}", get(read))
            .route("/v1/checkout/intents/{id}/approval", post(approve))
            .with_state(stub.clone());
        (web::router(api, web::WebConfig::default()), stub)
    }

    fn page(path: &str, cookie: &str) -> Request<Body> {
        super::get(path, Some(cookie))
    }

    fn alert(body: &str) -> &str {
        let alert = body.split("role=\"alert\">").nth(1).expect("an alert");
        alert.split('<').next().unwrap()
    }

    #[tokio::test]
    async fn the_pay_page_shows_the_intent_and_asks_the_pin_then_leads_back_to_the_shop() {
        let (app, stub) = app();
        let (browser, token) = first_visit(&app).await;
        // Signed out: the login, which comes back to the page.
        let path = format!("/app/checkout/{INTENT}");
        let (status, headers, _) = send(&app, page(&path, &browser)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            headers[header::LOCATION],
            format!("/app/login?next=%2Fapp%2Fcheckout%2F{INTENT}")
        );
        let cookie = format!("{browser}; __Host-mv-session={SESSION}; mv-lang=en");
        let (status, _, body) = send(&app, page(&path, &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("<span data-testid=\"checkout-merchant\">TongTong Demo Shop</span>"));
        assert!(body.contains("<span data-testid=\"checkout-amount\">150,000</span> MVP"));
        assert!(body.contains("Tumbler &#60;large&#62;") || body.contains("Tumbler &lt;large&gt;"));
        assert!(body.contains("data-status=\"requires_approval\">Waiting for your approval"));
        assert!(body.contains(&format!("action=\"/app/checkout/{INTENT}\"")));
        assert!(body.contains("name=\"pin\""));
        assert!(!body.contains(RETURN_URL), "no way back before it is paid");

        // No PIN, a wrong one, a decline: each shown on the page, nothing paid.
        let cases = [
            ("", "The PIN is asked again for this amount"),
            ("111111", "Wrong phone number or PIN"),
            ("000000", "Not enough MVP for this payment."),
        ];
        for (pin, said) in cases {
            let form = format!("csrf={token}&pin={pin}");
            let (status, _, body) = send(&app, post_form(&path, Some(&cookie), &form)).await;
            assert_eq!(status, StatusCode::OK, "{pin}: {body}");
            assert!(alert(&body).starts_with(said), "{pin}: {}", alert(&body));
            assert!(body.contains("name=\"pin\""), "asked again");
        }
        let sent: Vec<Value> = stub.approvals.lock().unwrap().0.clone();
        assert_eq!(sent[0], json!({}), "an empty PIN is not sent");
        assert_eq!(sent[1], json!({ "pin": "111111" }));

        // The right PIN pays; the page says so, with the number and the way back.
        let form = format!("csrf={token}&pin={PIN}");
        let (status, headers, _) = send(&app, post_form(&path, Some(&cookie), &form)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let done = format!("{path}?done=paid");
        assert_eq!(headers[header::LOCATION], done.as_str());
        let (_, _, body) = send(&app, page(&done, &cookie)).await;
        assert!(body.contains("role=\"status\">Paid.</p>"), "{body}");
        assert!(body.contains("data-status=\"succeeded\">Paid</strong>"));
        assert!(body.contains("<code data-testid=\"checkout-approval-no\">12345678</code>"));
        assert!(body.contains(&format!("href=\"{RETURN_URL}\"")));
        assert!(body.contains("Back to the shop"));
        assert!(!body.contains("name=\"pin\""), "nothing left to approve");

        // In Korean too; an id that is none is not found without asking the API.
        let korean = cookie.replace("mv-lang=en", "mv-lang=ko");
        let (_, _, body) = send(&app, page(&path, &korean)).await;
        assert!(body.contains("가맹점으로 돌아가기"));
        let (status, _, _) = send(&app, page("/app/checkout/12ab", &cookie)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_shop_is_no_page_without_the_demo() {
        let (app, _) = app();
        let (cookie, token) = first_visit(&app).await;
        let (status, _, body) = send(&app, super::get("/shop", Some(&cookie))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("Buy"));
        let form = format!("csrf={token}&product=mug");
        let request = post_form("/shop/orders", Some(&cookie), &form);
        let (status, _, _) = send(&app, request).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
