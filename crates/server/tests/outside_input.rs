//! Property tests over raw bytes for the parsers of outside input the server runs before
//! anything is trusted: the raw ledger API's JSON batches, the VAN signature and the
//! partners' nonces, and pay codes typed at a till. Each either accepts or refuses with a
//! typed answer; none panics, and what is accepted round-trips.

use platform::paycode::{compose_code, parse_code};
use ports::signing::{nonce_is_valid, van_signature, verify_van_signature};
use proptest::prelude::*;
use serde_json::Value;
use server::json::{parse_account, parse_batch, parse_transfer};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

/// JSON-shaped text: most of it parses, so the batch parsers see real objects.
fn json_text() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("340282366920938463463374607431768211456".to_string()),
        Just("\"12\"".to_string()),
        Just("null".to_string()),
        Just("1.5".to_string()),
        "\"\\PC{0,12}\"".prop_map(|text| text),
    ];
    let field = prop_oneof![
        Just("id"),
        Just("ledger"),
        Just("code"),
        Just("amount"),
        Just("debit_account_id"),
        Just("credit_account_id"),
        Just("flags"),
        Just("timeout"),
        Just("user_data_128"),
    ];
    let object = proptest::collection::vec((field, scalar), 0..8).prop_map(|pairs| {
        let fields: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("\"{name}\": {value}"))
            .collect();
        format!("{{{}}}", fields.join(", "))
    });
    proptest::collection::vec(object, 0..4).prop_map(|objects| {
        format!(
            "{{\"transfers\": [{0}], \"accounts\": [{0}]}}",
            objects.join(", ")
        )
        .into_bytes()
    })
}

proptest! {
    #[test]
    fn ledger_batches_parse_or_name_their_fields(input in prop_oneof![bytes(), json_text()]) {
        let Ok(body) = serde_json::from_slice::<Value>(&input) else {
            return Ok(());
        };
        for key in ["transfers", "accounts"] {
            let outcome = if key == "transfers" {
                parse_batch(&body, key, parse_transfer).map(|items| items.len())
            } else {
                parse_batch(&body, key, parse_account).map(|items| items.len())
            };
            if let Err(errors) = outcome {
                prop_assert!(!errors.is_empty());
                prop_assert!(errors.iter().all(|error| !error.field.is_empty()));
            }
        }
    }

    #[test]
    fn van_signatures_hold_only_for_the_signed_bytes(
        body in bytes(),
        header in "\\PC{0,130}",
        timestamp_s in any::<u64>(),
    ) {
        let secret = b"terminal-secret";
        let path = "/van/v1/authorizations";
        let right = van_signature(secret, timestamp_s, "POST", path, &body);
        prop_assert!(verify_van_signature(secret, timestamp_s, "POST", path, &body, &right));
        prop_assert!(verify_van_signature(
            secret, timestamp_s, "POST", path, &body, &right.to_ascii_uppercase()
        ));
        if header.to_ascii_lowercase() != right {
            prop_assert!(!verify_van_signature(secret, timestamp_s, "POST", path, &body, &header));
        }
        let other = timestamp_s.wrapping_add(1);
        prop_assert!(!verify_van_signature(secret, other, "POST", path, &body, &right));
    }

    #[test]
    fn nonces_are_judged_without_panic(text in "\\PC{0,300}") {
        let valid = nonce_is_valid(&text);
        let bound = ports::signing::NONCE_BYTES_MAX;
        prop_assert!(!valid || (!text.is_empty() && text.len() <= bound), "{}", text);
    }

    #[test]
    fn pay_codes_parse_only_in_their_shape(text in prop_oneof![
        "\\PC{0,30}",
        "[0-9]{18,22}",
    ]) {
        if let Some((handle, otp)) = parse_code(&text) {
            prop_assert_eq!(compose_code(handle, otp), text);
        }
    }

    #[test]
    fn composed_pay_codes_parse_back(handle in 0u64..10_000_000_000, otp in 0u32..100_000_000) {
        let code = compose_code(handle, otp);
        prop_assert_eq!(parse_code(&code), Some((handle, otp)));
    }
}
