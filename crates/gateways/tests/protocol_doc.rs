//! The worked example in docs/partner-protocol.md: its signatures are what
//! `ports::signing` computes, and the bodies are what the simulator and client use.

use gateways::protocol::{DebitAnswer, DebitBody};
use ports::signing::{SignedParts, sign_request, sign_response};

const DOC: &str = include_str!("../../../docs/partner-protocol.md");

const SECRET: &[u8] = b"example-secret";
const NONCE: &str = "3f2a9c0d8e7b41a6b5c4d3e2f1a0b9c8";
const REQUEST_BODY: &str = r#"{"reference":"ex-7f3a","member_ref":"M12345","mileage":5000}"#;
const ANSWER_BODY: &str = r#"{"reference":"ex-7f3a","status":"debited","member_ref":"M12345","mileage":5000,"balance_after":995000}"#;

fn signatures() -> (String, String) {
    let request = sign_request(
        SECRET,
        &SignedParts {
            timestamp_s: 1_700_000_000,
            nonce: NONCE,
            method: "POST",
            path: "/partner/v1/debits",
            body: REQUEST_BODY.as_bytes(),
        },
    );
    let answer = sign_response(
        SECRET,
        &SignedParts {
            timestamp_s: 1_700_000_001,
            nonce: NONCE,
            method: "POST",
            path: "/partner/v1/debits",
            body: ANSWER_BODY.as_bytes(),
        },
        200,
    );
    (request, answer)
}

#[test]
fn the_documented_example_signatures_are_right() {
    let (request, answer) = signatures();
    println!("request {request}\nanswer {answer}");
    assert!(DOC.contains(&format!("X-Mileverse-Signature: {request}")));
    assert!(DOC.contains(&format!("X-Mileverse-Signature: {answer}")));
    assert!(DOC.contains(REQUEST_BODY));
    assert!(DOC.contains(ANSWER_BODY));
}

#[test]
fn the_documented_bodies_are_the_wire_shapes() {
    let body = DebitBody {
        reference: "ex-7f3a".into(),
        member_ref: "M12345".into(),
        mileage: 5000,
    };
    assert_eq!(serde_json::to_string(&body).unwrap(), REQUEST_BODY);
    let answer = DebitAnswer {
        reference: "ex-7f3a".into(),
        status: "debited".into(),
        member_ref: "M12345".into(),
        mileage: 5000,
        balance_after: 995_000,
    };
    assert_eq!(serde_json::to_string(&answer).unwrap(), ANSWER_BODY);
}

const TOKEN_BODY: &str = "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Fmileverse.example%2Fapp%2Fpartner-links%2Fcallback&client_id=17&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const TOKEN_ANSWER: &str = r#"{"member_ref":"M12345","mileage":1000000}"#;
const TOKEN_NONCE: &str = "9b1c7e2d4f6a48b3a5c0d1e2f3a4b5c6";

/// The ownership step's worked example: its token request and answer signatures, its body
/// as the client writes it, and its challenge (RFC 7636 Appendix B's verifier).
#[test]
fn the_documented_token_example_is_right() {
    let parts = |timestamp_s, body: &'static str| SignedParts {
        timestamp_s,
        nonce: TOKEN_NONCE,
        method: "POST",
        path: gateways::protocol::TOKEN_PATH,
        body: body.as_bytes(),
    };
    let request = sign_request(SECRET, &parts(1_700_000_100, TOKEN_BODY));
    let answer = sign_response(SECRET, &parts(1_700_000_101, TOKEN_ANSWER), 200);
    println!("token request {request}\ntoken answer {answer}");
    assert!(DOC.contains(&format!("X-Mileverse-Signature: {request}")));
    assert!(DOC.contains(&format!("X-Mileverse-Signature: {answer}")));
    assert!(DOC.contains(TOKEN_BODY));
    assert!(DOC.contains(TOKEN_ANSWER));
    let body = gateways::protocol::TokenRequest {
        grant_type: "authorization_code".into(),
        code: "SplxlOBeZQQYbYS6WxSbIA".into(),
        redirect_uri: "https://mileverse.example/app/partner-links/callback".into(),
        client_id: "17".into(),
        code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
    };
    assert_eq!(body.to_form(), TOKEN_BODY);
    let challenge = ports::pkce::challenge_s256(&body.code_verifier);
    assert!(DOC.contains(&format!("code_challenge={challenge}")));
}
