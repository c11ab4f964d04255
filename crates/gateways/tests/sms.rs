//! The SMS adapter against a small receiver: the body and bearer token it sends, and how it
//! reads the provider's answers.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use common::bounded;
use gateways::sms::{HttpSmsGateway, SmsGatewayConfig};
use ports::gateway::{SmsError, SmsGateway};

#[derive(Clone, Debug)]
struct Received {
    authorization: Option<String>,
    content_type: Option<String>,
    body: serde_json::Value,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

async fn receive(
    State(inbox): State<Inbox>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let text = |name| {
        headers
            .get(name)
            .map(|value: &axum::http::HeaderValue| value.to_str().unwrap().to_string())
    };
    inbox.lock().unwrap().push(Received {
        authorization: text(header::AUTHORIZATION),
        content_type: text(header::CONTENT_TYPE),
        body: serde_json::from_slice(&body).unwrap(),
    });
    match mode.as_str() {
        "ok" => (StatusCode::ACCEPTED, r#"{"id":"msg-1"}"#.to_string()),
        "refuse" => (StatusCode::BAD_REQUEST, "x".repeat(300)),
        "refuse-empty" => (StatusCode::UNPROCESSABLE_ENTITY, String::new()),
        "fail" => (StatusCode::SERVICE_UNAVAILABLE, "down".to_string()),
        "slow" => {
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            (StatusCode::OK, String::new())
        }
        other => panic!("unexpected mode {other}"),
    }
}

async fn start_receiver() -> (SocketAddr, Inbox) {
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/send/{mode}", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, inbox)
}

fn gateway(address: SocketAddr, mode: &str, api_key: Option<&str>) -> HttpSmsGateway {
    let config = SmsGatewayConfig {
        url: format!("http://{address}/send/{mode}"),
        api_key: api_key.map(str::to_string),
        timeout_ms: 300,
    };
    HttpSmsGateway::new(config, &tls::ClientTls::system())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_json_with_the_bearer_token() {
    bounded(10, async {
        let (address, inbox) = start_receiver().await;
        let sms = gateway(address, "ok", Some("k3y"));
        assert_eq!(sms.send("+821012345678", "code 123456").await, Ok(()));
        let without_key = gateway(address, "ok", None);
        assert_eq!(without_key.send("+12025550123", "hi").await, Ok(()));
        let received = inbox.lock().unwrap().clone();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].authorization.as_deref(), Some("Bearer k3y"));
        assert_eq!(
            received[0].content_type.as_deref(),
            Some("application/json")
        );
        assert_eq!(
            received[0].body,
            serde_json::json!({"to": "+821012345678", "text": "code 123456"})
        );
        assert_eq!(received[1].authorization, None);
        assert!(
            !format!("{sms:?}").contains("k3y"),
            "the key never shows in Debug"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_refusals_with_the_body_cut_short() {
    bounded(10, async {
        let (address, inbox) = start_receiver().await;
        assert_eq!(
            gateway(address, "refuse", None)
                .send("+821012345678", "hi")
                .await,
            Err(SmsError::Refused("x".repeat(200)))
        );
        assert_eq!(
            gateway(address, "refuse-empty", None)
                .send("+821012345678", "hi")
                .await,
            Err(SmsError::Refused("HTTP 422".to_string()))
        );
        // Not E.164: refused here, nothing sent.
        assert!(matches!(
            gateway(address, "ok", None).send("01012345678", "hi").await,
            Err(SmsError::Refused(_))
        ));
        assert_eq!(inbox.lock().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_timeouts_and_no_listener_are_unavailable() {
    bounded(10, async {
        let (address, _inbox) = start_receiver().await;
        assert!(matches!(
            gateway(address, "fail", None)
                .send("+821012345678", "hi")
                .await,
            Err(SmsError::Unavailable(_))
        ));
        assert!(matches!(
            gateway(address, "slow", None)
                .send("+821012345678", "hi")
                .await,
            Err(SmsError::Unavailable(_))
        ));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(
            gateway(closed, "ok", None)
                .send("+821012345678", "hi")
                .await,
            Err(SmsError::Unavailable(_))
        ));
    })
    .await;
}
