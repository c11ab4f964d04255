//! The ownership step over a real socket: the client's authorize URL, the simulator's
//! login page and redirects, and the signed token request with its PKCE check.

mod common;

use common::{SECRET, bounded, client, start_sim};
use gateways::protocol::{self, TokenRequest, oauth};
use gateways::sim::browser::{self, BrowserError, Callback};
use gateways::sim::{DEFAULT_MEMBER_PASSWORD, SimConfig};
use ports::gateway::{
    AuthorizationRequest, CodeRedemption, PartnerCallError, PartnerGateway, ProvenMembership,
    Refusal,
};
use reqwest::StatusCode;

const REDIRECT_URI: &str = "http://127.0.0.1:8080/app/partner-links/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn request(login_hint: &str) -> AuthorizationRequest {
    AuthorizationRequest {
        redirect_uri: REDIRECT_URI.into(),
        state: "state-1".into(),
        code_challenge: ports::pkce::challenge_s256(VERIFIER),
        login_hint: login_hint.into(),
    }
}

fn redemption(code: &str, verifier: &str) -> CodeRedemption {
    CodeRedemption {
        code: code.into(),
        redirect_uri: REDIRECT_URI.into(),
        code_verifier: verifier.into(),
    }
}

fn invalid_grant() -> Result<ProvenMembership, PartnerCallError> {
    Err(PartnerCallError::Refused(Refusal::InvalidGrant))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_member_is_proven_once_in_canonical_form() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        let url = gateway.authorize_url(&partner, &request("abc-1")).unwrap();
        assert!(url.starts_with(&sim.url("/oauth/authorize?response_type=code&client_id=17&")));
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        let http = browser::client();
        let callback = browser::sign_in(&http, &url, "abc-1", DEFAULT_MEMBER_PASSWORD)
            .await
            .unwrap();
        assert!(callback.location.starts_with(REDIRECT_URI), "{callback:?}");
        assert_eq!(callback.state.as_deref(), Some("state-1"));
        let code = callback.code.unwrap();
        let proven = gateway
            .redeem_code(&partner, &redemption(&code, VERIFIER))
            .await;
        let expected = ProvenMembership {
            member_ref: "ABC-1".into(),
            mileage: Some(gateways::sim::DEFAULT_INITIAL_MILEAGE),
        };
        assert_eq!(proven, Ok(expected));
        // Single use.
        let again = gateway
            .redeem_code(&partner, &redemption(&code, VERIFIER))
            .await;
        assert_eq!(again, invalid_grant());
        assert_eq!(sim.stats().await.requests.token, 2);
    })
    .await;
}

async fn code_for(sim: &common::TestSim, login: &str) -> String {
    let gateway = client(2_000);
    let url = gateway
        .authorize_url(&sim.endpoint(), &request(login))
        .unwrap();
    let http = browser::client();
    let callback = browser::sign_in(&http, &url, login, DEFAULT_MEMBER_PASSWORD);
    callback.await.unwrap().code.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_verifier_or_redirect_uri_burns_the_code() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        let code = code_for(&sim, "M-1").await;
        let wrong = "x".repeat(43);
        let refused = gateway
            .redeem_code(&partner, &redemption(&code, &wrong))
            .await;
        assert_eq!(refused, invalid_grant());
        let late = gateway
            .redeem_code(&partner, &redemption(&code, VERIFIER))
            .await;
        assert_eq!(late, invalid_grant(), "the first redemption burnt it");
        let code = code_for(&sim, "M-1").await;
        let mut elsewhere = redemption(&code, VERIFIER);
        elsewhere.redirect_uri = "http://127.0.0.1:9/elsewhere".into();
        assert_eq!(
            gateway.redeem_code(&partner, &elsewhere).await,
            invalid_grant()
        );
        // A verifier that breaks RFC 7636 §4.1 is refused without a call.
        let calls = sim.stats().await.requests.token;
        let short = gateway
            .redeem_code(&partner, &redemption("c", "short"))
            .await;
        assert_eq!(short, invalid_grant());
        assert_eq!(sim.stats().await.requests.token, calls);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused() {
    bounded(10, async {
        let config = SimConfig {
            code_expiry_s: 1,
            ..SimConfig::new(SECRET)
        };
        let sim = start_sim(config).await;
        let code = code_for(&sim, "M-2").await;
        tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
        let refused = client(2_000)
            .redeem_code(&sim.endpoint(), &redemption(&code, VERIFIER))
            .await;
        assert_eq!(refused, invalid_grant());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_takes_signed_requests_of_its_client_only() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let code = code_for(&sim, "M-3").await;
        let other_secret = sim.endpoint_with_secret(b"not-the-secret");
        let unsigned = client(2_000)
            .redeem_code(&other_secret, &redemption(&code, VERIFIER))
            .await;
        assert_eq!(unsigned, Err(PartnerCallError::Status(401)));
        // An unsigned POST never reaches the code.
        let body = TokenRequest {
            grant_type: "authorization_code".into(),
            code,
            redirect_uri: REDIRECT_URI.into(),
            client_id: "17".into(),
            code_verifier: VERIFIER.into(),
        };
        let raw = reqwest::Client::new()
            .post(sim.url(protocol::TOKEN_PATH))
            .body(body.to_form())
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), StatusCode::UNAUTHORIZED);
        let proven = client(2_000)
            .redeem_code(&sim.endpoint(), &redemption(&body.code, VERIFIER))
            .await;
        assert_eq!(proven.map(|m| m.member_ref), Ok("M-3".to_string()));
        // A code issued to client 17 is refused to another client.
        let code = code_for(&sim, "M-3").await;
        let mut other_client = sim.endpoint();
        other_client.partner_key = "18".into();
        let refused = client(2_000)
            .redeem_code(&other_client, &redemption(&code, VERIFIER))
            .await;
        assert_eq!(refused, invalid_grant());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_leave_the_token_endpoint_alone() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        assert_eq!(
            sim.put_faults(&serde_json::json!({"error_rate": 1.0}))
                .await,
            200
        );
        let code = code_for(&sim, "M-4").await;
        let proven = client(2_000)
            .redeem_code(&sim.endpoint(), &redemption(&code, VERIFIER))
            .await;
        assert!(proven.is_ok(), "{proven:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_refuses_wrong_credentials_and_reports_faults() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let http = browser::client();
        let url = client(2_000)
            .authorize_url(&sim.endpoint(), &request("Own-1"))
            .unwrap();
        let page = http.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        assert!(page.text().await.unwrap().contains("value=\"Own-1\""));
        // A member with a password of its own is refused the default one.
        let put = reqwest::Client::new()
            .put(sim.url("/sim/v1/members/own-1/password"))
            .json(&serde_json::json!({"password": "mine"}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        let wrong = browser::sign_in(&http, &url, "OWN-1", DEFAULT_MEMBER_PASSWORD).await;
        assert!(matches!(wrong, Err(BrowserError::NoRedirect { status, .. }) if status == 401));
        let right = browser::sign_in(&http, &url, "OWN-1", "mine")
            .await
            .unwrap();
        assert!(right.code.is_some());
        // "Cancel": access_denied, with the state.
        let denied = http
            .post(&url)
            .form(&[("decision", "deny")])
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), StatusCode::FOUND);
        let location = denied.headers()["location"].to_str().unwrap();
        assert!(
            location.ends_with("?error=access_denied&state=state-1"),
            "{location}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_is_shown_or_sent_back_as_rfc_6749_says() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let http = browser::client();
        // No usable redirect URI: shown, never redirected.
        let page = http
            .get(sim.url("/oauth/authorize?response_type=code&client_id=17"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        assert!(page.headers().get("location").is_none());
        // Another fault goes back to the client, with the state.
        let url = client(2_000)
            .authorize_url(&sim.endpoint(), &request("M-5"))
            .unwrap()
            .replace("code_challenge_method=S256", "code_challenge_method=plain");
        let callback = browser::sign_in(&http, &url, "M-5", DEFAULT_MEMBER_PASSWORD)
            .await
            .unwrap();
        let expected = Callback {
            location: format!("{REDIRECT_URI}?error=invalid_request&state=state-1"),
            code: None,
            state: Some("state-1".into()),
            error: Some(oauth::INVALID_REQUEST.into()),
        };
        assert_eq!(callback, expected);
    })
    .await;
}
