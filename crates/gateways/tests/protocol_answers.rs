//! Property tests over raw bytes for the partner protocol's answers, as the platform's
//! adapter reads them: a balance, a debit, a cancel, a status, an error, a token answer,
//! and the answer signature. Each parses to its type or is refused; none panics; a
//! signature holds only for the bytes and status it signed.

use gateways::protocol::{
    BalanceAnswer, CancelAnswer, DebitAnswer, ErrorAnswer, StatusAnswer, parse_token_answer,
};
use ports::signing::{SignedParts, sign_response, verify_response};
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..1024)
}

/// JSON objects with the answers' field names and odd values.
fn answer_text() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("0".to_string()),
        Just("-5".to_string()),
        Just("18446744073709551616".to_string()),
        Just("null".to_string()),
        Just("\"debited\"".to_string()),
        "\"\\PC{0,20}\"".prop_map(|text| text),
    ];
    let name = prop_oneof![
        Just("member_ref"),
        Just("mileage"),
        Just("reference"),
        Just("status"),
        Just("balance_after"),
        Just("code"),
        Just("message"),
    ];
    proptest::collection::vec((name, value), 0..8).prop_map(|pairs| {
        let fields: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("\"{name}\": {value}"))
            .collect();
        format!("{{{}}}", fields.join(", ")).into_bytes()
    })
}

proptest! {
    #[test]
    fn answers_parse_to_their_type_or_are_refused(body in prop_oneof![bytes(), answer_text()]) {
        if let Ok(balance) = serde_json::from_slice::<BalanceAnswer>(&body) {
            prop_assert_eq!(serde_json::to_value(&balance).unwrap()["mileage"].as_u64(), Some(balance.mileage));
        }
        let _ = serde_json::from_slice::<DebitAnswer>(&body);
        let _ = serde_json::from_slice::<CancelAnswer>(&body);
        let _ = serde_json::from_slice::<StatusAnswer>(&body);
        let _ = serde_json::from_slice::<ErrorAnswer>(&body);
        if let Ok(answer) = parse_token_answer(&body) {
            prop_assert!(!answer.member_ref.is_empty());
        }
    }

    #[test]
    fn answer_signatures_hold_only_for_what_was_signed(
        body in bytes(),
        status in 100u16..600,
        header in "\\PC{0,130}",
    ) {
        let secret = b"partner-secret";
        let parts = SignedParts {
            timestamp_s: 1_700_000_000,
            nonce: "0123456789abcdef",
            method: "POST",
            path: "/partner/v1/debits",
            body: &body,
        };
        let right = sign_response(secret, &parts, status);
        prop_assert!(verify_response(secret, &parts, status, &right));
        prop_assert!(!verify_response(secret, &parts, status ^ 1, &right));
        if header.to_ascii_lowercase() != right {
            prop_assert!(!verify_response(secret, &parts, status, &header));
        }
    }
}
