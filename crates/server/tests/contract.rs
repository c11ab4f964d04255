//! The machine-readable contract over real HTTP (issue 13, item 8): `/openapi.json` is
//! served, is OpenAPI 3.1, documents every route the server answers, and every problem
//! the server answers is one of its documented types.

mod common;

use common::{TOKEN, TestServer};
use serde_json::Value;

async fn document(server: &TestServer) -> Value {
    let response = server
        .client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("ASCII")
        .to_string();
    assert_eq!(content_type, "application/json");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn the_served_document_is_the_code_s_and_covers_what_answers() {
    let server = TestServer::sqlite().await;
    let served = document(&server).await;
    assert_eq!(served["openapi"], "3.1.0");
    let generated = serde_json::to_value(server::document()).expect("serializes");
    assert_eq!(
        served, generated,
        "the served document is the generated one"
    );
    let paths = served["paths"].as_object().expect("paths");
    // A route of each room: documented, with a success answer and the shared problems.
    let sample = [
        ("/v1/me", "get"),
        ("/v1/exchanges", "post"),
        ("/van/v1/authorizations", "post"),
        ("/partner/v1/exchanges/{reference}", "get"),
        ("/admin/v1/audit-log", "get"),
        ("/admin/v1/ledger/transfers", "post"),
        ("/v1/ledger/checkpoint", "get"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in sample {
        let operation = &paths[path][method];
        let responses = operation["responses"].as_object().expect(path);
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} documents a success"
        );
        let default = &responses["default"]["content"]["application/problem+json"];
        assert!(
            default.is_object(),
            "{method} {path} documents its problems"
        );
    }
    // Every operation has a unique id (clients name their methods after them).
    let mut ids = std::collections::HashSet::new();
    for item in paths.values() {
        for operation in item.as_object().expect("item").values() {
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
    }
    assert!(ids.len() >= 100, "{} operations", ids.len());
}

/// Every problem an answer carries has a `type` the document lists; here the ones a
/// ledger-only server gives for bad input, missing credentials and unknown routes.
#[tokio::test]
async fn answered_problem_types_are_documented() {
    let server = TestServer::sqlite().await;
    let served = document(&server).await;
    let listed: Vec<&str> =
        served["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
            .as_array()
            .expect("the problem types")
            .iter()
            .map(|t| t.as_str().expect("text"))
            .collect();
    let client = &server.client;
    let base = &server.base;
    let answers = [
        client.get(format!("{base}/no/such/route")).send().await,
        client
            .delete(format!("{base}/v1/ledger/checkpoint"))
            .send()
            .await,
        client
            .get(format!("{base}/admin/v1/audit-log"))
            .send()
            .await,
        client
            .post(format!("{base}/admin/v1/ledger/transfers"))
            .bearer_auth(TOKEN)
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await,
        client
            .post(format!("{base}/admin/v1/ledger/transfers"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await,
    ];
    let mut seen = Vec::new();
    for answer in answers {
        let answer = answer.expect("an answer");
        let problem: Value = answer.json().await.expect("a problem");
        let kind = problem["type"].as_str().expect("a type").to_string();
        assert!(listed.contains(&kind.as_str()), "{kind} is documented");
        seen.push(kind);
    }
    let slugs: Vec<&str> = seen
        .iter()
        .map(|kind| kind.trim_start_matches("urn:mileverse:problem:"))
        .collect();
    assert_eq!(
        slugs,
        [
            "no-such-route",
            "method-not-allowed",
            "unauthorized",
            "unsupported-media-type",
            "malformed-json"
        ]
    );
}
