//! Every parser of outside input in the ownership step, fed arbitrary bytes: the
//! authorization request's query and the login form (the simulator's side), the token
//! request (the partner's side) and the token answer (the platform's side). Each answers a
//! typed refusal or a value that follows its rules; none panics.

use gateways::protocol::{self, FORM_BYTES_MAX, Form, OAUTH_VALUE_BYTES_MAX};
use gateways::sim::oauth::{self, AuthorizeRefusal};
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..1024)
}

/// Form-like text: names and values of the protocol mixed with arbitrary ones.
fn form_text() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("client_id".to_string()),
        Just("redirect_uri".to_string()),
        Just("response_type".to_string()),
        Just("state".to_string()),
        Just("code_challenge".to_string()),
        Just("code_challenge_method".to_string()),
        Just("code".to_string()),
        Just("code_verifier".to_string()),
        Just("grant_type".to_string()),
        Just("member_ref".to_string()),
        Just("password".to_string()),
        Just("decision".to_string()),
        "[a-z%+=&]{0,12}",
    ];
    let value = prop_oneof![
        Just("code".to_string()),
        Just("S256".to_string()),
        Just("http://127.0.0.1/cb".to_string()),
        Just("deny".to_string()),
        "\\PC{0,60}",
        "[%0-9A-Fa-f+=&]{0,30}",
    ];
    proptest::collection::vec((name, value), 0..10).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #[test]
    fn forms_parse_or_refuse(input in bytes()) {
        if let Ok(form) = Form::parse(&input) {
            // A value read is one the limits allow.
            for name in ["client_id", "state", "code"] {
                if let Ok(Some(value)) = form.optional(name) {
                    prop_assert!(!value.is_empty() && value.len() <= OAUTH_VALUE_BYTES_MAX);
                }
            }
        }
    }

    #[test]
    fn authorize_queries_are_checked(input in prop_oneof![bytes(), form_text().prop_map(String::into_bytes)]) {
        match oauth::parse_authorize_query(&input) {
            Ok(params) => {
                prop_assert!(!params.client_id.is_empty());
                prop_assert!(params.redirect_uri.starts_with("http"));
                prop_assert!(ports::pkce::challenge_is_valid(&params.code_challenge));
            }
            Err(AuthorizeRefusal::Redirected { redirect_uri, error, .. }) => {
                prop_assert!(redirect_uri.starts_with("http"));
                prop_assert!(!error.is_empty());
            }
            Err(AuthorizeRefusal::Shown(detail)) => prop_assert!(!detail.is_empty()),
        }
    }

    #[test]
    fn login_forms_are_checked(input in prop_oneof![bytes(), form_text().prop_map(String::into_bytes)]) {
        if let Ok(login) = oauth::parse_login_form(&input) {
            prop_assert!(login.denied || (!login.member_ref.is_empty() && !login.password.is_empty()));
        }
    }

    #[test]
    fn token_requests_are_checked(input in prop_oneof![bytes(), form_text().prop_map(String::into_bytes)]) {
        if let Ok(request) = protocol::parse_token_request(&input) {
            prop_assert!(!request.code.is_empty() && !request.code_verifier.is_empty());
            // What parses, encodes back to a form that parses the same.
            let again = protocol::parse_token_request(request.to_form().as_bytes());
            prop_assert_eq!(again, Ok(request));
        }
    }

    #[test]
    fn token_answers_are_checked(input in prop_oneof![
        bytes(),
        ("\\PC{0,80}", proptest::option::of(any::<u64>())).prop_map(|(member_ref, mileage)| {
            serde_json::to_vec(&serde_json::json!({"member_ref": member_ref, "mileage": mileage})).unwrap()
        }),
    ]) {
        if let Ok(answer) = protocol::parse_token_answer(&input) {
            prop_assert!(protocol::ref_is_valid(&answer.member_ref));
        }
    }
}

#[test]
fn a_form_over_its_limit_is_refused() {
    let at_limit = format!("a={}", "b".repeat(FORM_BYTES_MAX - 2));
    assert!(Form::parse(at_limit.as_bytes()).is_ok());
    let over = format!("a={}", "b".repeat(FORM_BYTES_MAX - 1));
    assert_eq!(
        Form::parse(over.as_bytes()),
        Err(protocol::FormError::TooLarge)
    );
    let long = format!("state={}", "s".repeat(OAUTH_VALUE_BYTES_MAX + 1));
    let form = Form::parse(long.as_bytes()).unwrap();
    assert_eq!(
        form.optional("state"),
        Err(protocol::FormError::TooLong("state"))
    );
}

#[test]
fn a_repeated_parameter_is_refused() {
    assert_eq!(
        Form::parse(b"code=a&code=b"),
        Err(protocol::FormError::Repeated("code".into()))
    );
}
