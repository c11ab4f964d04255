//! The partner client against a fake partner that misbehaves on purpose: unsigned, wrongly
//! signed, stale or tampered answers are `BadSignature` before anything in them is trusted;
//! signed answers map to outcomes and errors as the protocol says.

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{SECRET, bounded, client};
use gateways::protocol::{self, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use ports::gateway::{
    DebitOutcome, DebitRequest, DebitStatus, PartnerCallError, PartnerEndpoint, PartnerGateway,
    Refusal,
};
use ports::signing::{SignedParts, sign_response, verify_request};

/// How the fake signs an answer.
enum Signing {
    Good,
    None,
    OtherSecret,
    /// Signed for another body than the one sent.
    OtherBody,
    /// Signed for status 200 but sent with another status.
    OtherStatus(u16),
    Stale,
}

/// Checks the client's request signature (the fake is strict too), then answers.
fn answer(
    headers: &HeaderMap,
    method: &str,
    path: &str,
    request_body: &[u8],
    status: u16,
    body: &str,
    signing: Signing,
) -> Response {
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
    assert_eq!(header(HEADER_KEY), "17");
    let nonce = header(HEADER_NONCE);
    let request_parts = SignedParts {
        timestamp_s: header(HEADER_TIMESTAMP).parse().unwrap(),
        nonce: &nonce,
        method,
        path,
        body: request_body,
    };
    assert!(
        verify_request(SECRET, &request_parts, &header(HEADER_SIGNATURE)),
        "the client's request signature must check out"
    );
    let now = protocol::unix_now_s();
    let (timestamp_s, secret, signed_body, signed_status): (u64, &[u8], &str, u16) = match signing {
        Signing::Good | Signing::None => (now, SECRET, body, status),
        Signing::OtherSecret => (now, b"other", body, status),
        Signing::OtherBody => (now, SECRET, r#"{"member_ref":"x","mileage":1}"#, status),
        Signing::OtherStatus(_) => (now, SECRET, body, 200),
        Signing::Stale => (now - 301, SECRET, body, status),
    };
    let signature = sign_response(
        secret,
        &SignedParts {
            timestamp_s,
            nonce: &nonce,
            method,
            path,
            body: signed_body.as_bytes(),
        },
        signed_status,
    );
    let sent_status = match signing {
        Signing::OtherStatus(sent) => sent,
        _ => status,
    };
    let mut response =
        (StatusCode::from_u16(sent_status).unwrap(), body.to_string()).into_response();
    if !matches!(signing, Signing::None) {
        let headers = response.headers_mut();
        headers.insert(HEADER_TIMESTAMP, timestamp_s.into());
        headers.insert(HEADER_SIGNATURE, signature.parse().unwrap());
    }
    response
}

async fn balance(Path(member_ref): Path<String>, headers: HeaderMap) -> Response {
    let path = protocol::balance_path(&member_ref);
    let good = format!(r#"{{"member_ref":"{member_ref}","mileage":42}}"#);
    let (status, body, signing) = match member_ref.as_str() {
        "good" => (200, good, Signing::Good),
        "nosig" => (200, good, Signing::None),
        "othersecret" => (200, good, Signing::OtherSecret),
        "otherbody" => (200, good, Signing::OtherBody),
        "otherstatus" => (404, good, Signing::OtherStatus(404)),
        "stale" => (200, good, Signing::Stale),
        "unknown" => (404, r#"{"error":"unknown_member"}"#.into(), Signing::Good),
        "garbage" => (200, "not json".into(), Signing::Good),
        "someoneelse" => (
            200,
            r#"{"member_ref":"other","mileage":42}"#.into(),
            Signing::Good,
        ),
        "s502" => (502, r#"{"error":"upstream"}"#.into(), Signing::Good),
        "unsigned401" => (401, r#"{"error":"bad_signature"}"#.into(), Signing::None),
        "unsigned500" => (500, "oops".into(), Signing::None),
        "s429" => (429, r#"{"error":"slow_down"}"#.into(), Signing::Good),
        "s302" => (302, String::new(), Signing::Good),
        other => panic!("unexpected member {other}"),
    };
    answer(&headers, "GET", &path, b"", status, &body, signing)
}

async fn debit(headers: HeaderMap, body: Bytes) -> Response {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let reference = request["reference"].as_str().unwrap().to_string();
    let echo = |balance_after: u64| {
        format!(
            r#"{{"reference":"{reference}","status":"debited","member_ref":"{}","mileage":{},"balance_after":{balance_after}}}"#,
            request["member_ref"].as_str().unwrap(),
            request["mileage"]
        )
    };
    let (status, answer_body) = match reference.as_str() {
        "ok" => (200, echo(58)),
        "poor" => (409, r#"{"error":"insufficient_mileage"}"#.to_string()),
        "nobody" => (404, r#"{"error":"unknown_member"}"#.to_string()),
        "dead" => (409, r#"{"error":"reference_cancelled"}"#.to_string()),
        "limit" => (422, r#"{"error":"limit_exceeded"}"#.to_string()),
        "noerror" => (422, "{}".to_string()),
        "s401" => (401, r#"{"error":"who"}"#.to_string()),
        "wrongmileage" => (
            200,
            format!(
                r#"{{"reference":"{reference}","status":"debited","member_ref":"m-1","mileage":999,"balance_after":1}}"#
            ),
        ),
        other => panic!("unexpected reference {other}"),
    };
    answer(
        &headers,
        "POST",
        protocol::DEBITS_PATH,
        &body,
        status,
        &answer_body,
        Signing::Good,
    )
}

async fn status(Path(reference): Path<String>, headers: HeaderMap) -> Response {
    let path = protocol::status_path(&reference);
    let body = match reference.as_str() {
        "halfdebited" => r#"{"reference":"halfdebited","status":"debited"}"#.to_string(),
        "weird" => r#"{"reference":"weird","status":"pending"}"#.to_string(),
        "cancelled" => r#"{"reference":"cancelled","status":"cancelled"}"#.to_string(),
        other => panic!("unexpected reference {other}"),
    };
    answer(&headers, "GET", &path, b"", 200, &body, Signing::Good)
}

async fn cancel(Path(reference): Path<String>, headers: HeaderMap) -> Response {
    let path = protocol::cancel_path(&reference);
    let body = match reference.as_str() {
        "ok" => r#"{"reference":"ok","status":"cancelled"}"#,
        "wrongref" => r#"{"reference":"other","status":"cancelled"}"#,
        other => panic!("unexpected reference {other}"),
    };
    answer(&headers, "POST", &path, b"", 200, body, Signing::Good)
}

async fn start_fake() -> SocketAddr {
    let app = Router::new()
        .route("/partner/v1/members/{member_ref}/balance", get(balance))
        .route("/partner/v1/debits", post(debit))
        .route("/partner/v1/debits/{reference}", get(status))
        .route("/partner/v1/debits/{reference}/cancel", post(cancel));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn endpoint(address: SocketAddr) -> PartnerEndpoint {
    PartnerEndpoint {
        partner_key: "17".to_string(),
        api_base_url: format!("http://{address}"),
        secret: SECRET.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_a_valid_signature_are_bad_signatures() {
    bounded(10, async {
        let partner = endpoint(start_fake().await);
        let gateway = client(2_000);
        assert_eq!(gateway.balance(&partner, "good").await, Ok(42));
        for member in [
            "nosig",
            "othersecret",
            "otherbody",
            "otherstatus",
            "stale",
            "unsigned500",
        ] {
            assert_eq!(
                gateway.balance(&partner, member).await,
                Err(PartnerCallError::BadSignature),
                "{member}"
            );
        }
        // An unsigned 401 is how a partner refuses our signature: reported, never trusted.
        assert_eq!(
            gateway.balance(&partner, "unsigned401").await,
            Err(PartnerCallError::Status(401))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_answers_map_to_outcomes_and_errors() {
    bounded(10, async {
        let partner = endpoint(start_fake().await);
        let gateway = client(2_000);
        assert_eq!(
            gateway.balance(&partner, "unknown").await,
            Err(PartnerCallError::Refused(Refusal::UnknownMember))
        );
        assert!(matches!(
            gateway.balance(&partner, "garbage").await,
            Err(PartnerCallError::Protocol(_))
        ));
        assert!(matches!(
            gateway.balance(&partner, "someoneelse").await,
            Err(PartnerCallError::Protocol(_))
        ));
        assert_eq!(
            gateway.balance(&partner, "s502").await,
            Err(PartnerCallError::Status(502))
        );
        assert_eq!(
            gateway.balance(&partner, "s429").await,
            Err(PartnerCallError::Status(429))
        );
        assert!(matches!(
            gateway.balance(&partner, "s302").await,
            Err(PartnerCallError::Protocol(_))
        ));

        let debit = |reference: &str| DebitRequest {
            reference: reference.to_string(),
            member_ref: "m-1".to_string(),
            mileage: 42,
        };
        assert_eq!(
            gateway.debit(&partner, &debit("ok")).await,
            Ok(DebitOutcome::Debited { balance_after: 58 })
        );
        let refused = |refusal| Ok(DebitOutcome::Refused(refusal));
        assert_eq!(
            gateway.debit(&partner, &debit("poor")).await,
            refused(Refusal::InsufficientMileage)
        );
        assert_eq!(
            gateway.debit(&partner, &debit("nobody")).await,
            refused(Refusal::UnknownMember)
        );
        assert_eq!(
            gateway.debit(&partner, &debit("dead")).await,
            refused(Refusal::ReferenceCancelled)
        );
        assert_eq!(
            gateway.debit(&partner, &debit("limit")).await,
            refused(Refusal::Other("limit_exceeded".to_string()))
        );
        assert!(matches!(
            gateway.debit(&partner, &debit("noerror")).await,
            Err(PartnerCallError::Protocol(_))
        ));
        assert_eq!(
            gateway.debit(&partner, &debit("s401")).await,
            Err(PartnerCallError::Status(401))
        );
        assert!(matches!(
            gateway.debit(&partner, &debit("wrongmileage")).await,
            Err(PartnerCallError::Protocol(_))
        ));

        assert!(matches!(
            gateway.status(&partner, "halfdebited").await,
            Err(PartnerCallError::Protocol(_))
        ));
        assert!(matches!(
            gateway.status(&partner, "weird").await,
            Err(PartnerCallError::Protocol(_))
        ));
        assert_eq!(
            gateway.status(&partner, "cancelled").await,
            Ok(DebitStatus::Cancelled)
        );
        assert_eq!(gateway.cancel(&partner, "ok").await, Ok(()));
        assert!(matches!(
            gateway.cancel(&partner, "wrongref").await,
            Err(PartnerCallError::Protocol(_))
        ));
    })
    .await;
}
