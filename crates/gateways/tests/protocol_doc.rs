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
