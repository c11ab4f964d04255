//! `/metrics` and request ids over real HTTP: the real app on port 0 over a real SQLite
//! store. The process's recorder is shared by every server a test binary starts, so the
//! assertions read a figure before and after, never an exact count from zero.

mod common;

use common::{TOKEN, TestServer};
use serde_json::json;

const ACCOUNT_ROUTE: &str = "/admin/v1/ledger/accounts/{id}";

/// What these tests ask of the server.
trait Scrape {
    async fn metrics(&self) -> String;
    async fn get_account(&self, id: u64) -> u16;
    async fn get_with_id(&self, path: &str, request_id: Option<&str>) -> reqwest::Response;
}

impl Scrape for TestServer {
    async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .to_string();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        response.text().await.expect("text")
    }

    async fn get_account(&self, id: u64) -> u16 {
        self.client
            .get(format!("{}/admin/v1/ledger/accounts/{id}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET account")
            .status()
            .as_u16()
    }

    async fn get_with_id(&self, path: &str, request_id: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        request.send().await.expect("GET")
    }
}

/// The value of the sample `name{labels…}` whose labels include every one of `wanted`.
fn sample(text: &str, name: &str, wanted: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let labels: Vec<&str> = if labels.is_empty() {
            Vec::new()
        } else {
            labels
                .split("\",")
                .map(|l| l.trim_end_matches('"'))
                .collect()
        };
        let all = wanted.iter().all(|(key, value)| {
            labels
                .iter()
                .any(|label| *label == format!("{key}=\"{value}").as_str())
        });
        all.then(|| value.trim().parse().expect("a number"))
    })
}

fn request_count(text: &str, method: &str, route: &str, status: &str) -> f64 {
    let labels = [("method", method), ("route", route), ("status", status)];
    sample(text, "mileverse_http_requests_total", &labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_route_histograms_by_template_and_build_info() {
    let server = TestServer::sqlite().await;
    let accounts = json!({"accounts": [{"id": "1", "ledger": 1, "code": 10}]});
    let created = server
        .client
        .post(format!("{}/admin/v1/ledger/accounts", server.base))
        .bearer_auth(TOKEN)
        .json(&accounts)
        .send()
        .await
        .expect("create accounts");
    assert_eq!(created.status().as_u16(), 200);
    let before = server.metrics().await;
    assert_eq!(server.get_account(1).await, 200);
    assert_eq!(server.get_account(1).await, 200);
    assert_eq!(server.get_account(999).await, 404);
    let after = server.metrics().await;

    // Counted under the route's template, by status.
    let ok_before = request_count(&before, "GET", ACCOUNT_ROUTE, "200");
    let ok_after = request_count(&after, "GET", ACCOUNT_ROUTE, "200");
    assert!(ok_after >= ok_before + 2.0, "{ok_before} -> {ok_after}");
    let missing_before = request_count(&before, "GET", ACCOUNT_ROUTE, "404");
    let missing_after = request_count(&after, "GET", ACCOUNT_ROUTE, "404");
    assert!(missing_after > missing_before, "{after}");
    // A histogram with buckets, not a summary: every `le` bucket and the +Inf one.
    assert!(
        after.contains("# TYPE mileverse_http_request_duration_seconds histogram"),
        "{after}"
    );
    let labels = [
        ("method", "GET"),
        ("route", ACCOUNT_ROUTE),
        ("status", "200"),
    ];
    let bucket = |le: &str| {
        let mut with_le = labels.to_vec();
        with_le.push(("le", le));
        sample(
            &after,
            "mileverse_http_request_duration_seconds_bucket",
            &with_le,
        )
    };
    let infinite = bucket("+Inf").expect("the +Inf bucket");
    assert!(infinite >= 2.0, "{after}");
    assert!(bucket("10").expect("the 10 s bucket") >= bucket("0.001").unwrap_or(0.0));
    let count = sample(
        &after,
        "mileverse_http_request_duration_seconds_count",
        &labels,
    );
    assert_eq!(count, Some(infinite), "{after}");
    assert!(
        sample(
            &after,
            "mileverse_http_request_duration_seconds_sum",
            &labels
        )
        .is_some_and(|sum| sum > 0.0),
        "{after}"
    );
    // Never the raw path.
    assert!(
        !after.contains("route=\"/admin/v1/ledger/accounts/1\""),
        "{after}"
    );
    assert!(
        !after.contains("route=\"/admin/v1/ledger/accounts/999\""),
        "{after}"
    );

    let version = env!("CARGO_PKG_VERSION");
    assert!(
        after.contains(&format!(
            "mileverse_build_info{{version=\"{version}\"}} 1\n"
        )),
        "{after}"
    );
    // The ledger's figures keep their names, with their types.
    for (name, kind) in [
        ("mileverse_ledger_accounts_created_total", "counter"),
        ("mileverse_ledger_requests_total", "counter"),
        ("mileverse_store_append_microseconds_total", "counter"),
        ("mileverse_ledger_block_height", "gauge"),
        ("mileverse_ledger_requests_in_flight", "gauge"),
        ("mileverse_ledger_request_queue_depth", "gauge"),
    ] {
        assert!(after.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        assert!(sample(&after, name, &[]).is_some(), "{name}: {after}");
    }
    assert!(sample(&after, "mileverse_ledger_accounts_created_total", &[]) >= Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_matches_no_route_is_one_label() {
    let server = TestServer::sqlite().await;
    let before = server.metrics().await;
    for path in ["/no/such/route", "/another/unknown/path/42"] {
        let response = server.get_with_id(path, None).await;
        assert_eq!(response.status().as_u16(), 404);
    }
    let after = server.metrics().await;
    let unmatched_before = request_count(&before, "GET", "unmatched", "404");
    let unmatched_after = request_count(&after, "GET", "unmatched", "404");
    assert!(unmatched_after >= unmatched_before + 2.0, "{after}");
    assert!(!after.contains("/no/such/route"), "{after}");
    assert!(!after.contains("/another/unknown/path/42"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let server = TestServer::sqlite().await;
    let id_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-request-id")
            .expect("an X-Request-Id")
            .to_str()
            .expect("ASCII")
            .to_string()
    };
    let is_generated = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());

    // A valid one is kept, on a route and on the fallback alike.
    let given = "client-7f3a:retry/2";
    assert_eq!(
        id_of(&server.get_with_id("/healthz", Some(given)).await),
        given
    );
    assert_eq!(
        id_of(&server.get_with_id("/no/such/route", Some(given)).await),
        given
    );
    let longest = "x".repeat(server::observability::REQUEST_ID_BYTES_MAX);
    assert_eq!(
        id_of(&server.get_with_id("/healthz", Some(&longest)).await),
        longest
    );

    // None given: one is made, a new one each time.
    let first = id_of(&server.get_with_id("/healthz", None).await);
    let second = id_of(&server.get_with_id("/healthz", None).await);
    assert!(is_generated(&first), "{first}");
    assert!(is_generated(&second), "{second}");
    assert_ne!(first, second);

    // One too long, or with a space, is replaced.
    let too_long = "y".repeat(server::observability::REQUEST_ID_BYTES_MAX + 1);
    let replaced = id_of(&server.get_with_id("/healthz", Some(&too_long)).await);
    assert!(is_generated(&replaced), "{replaced}");
    let spaced = id_of(&server.get_with_id("/healthz", Some("two words")).await);
    assert!(is_generated(&spaced), "{spaced}");
}

/// The recorder is installed with the router, not by the first scrape: a request made
/// before anyone asked for `/metrics` is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_the_first_scrape_are_counted() {
    let server = TestServer::sqlite().await;
    let response = server.get_with_id("/healthz", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let text = server.metrics().await;
    assert!(
        request_count(&text, "GET", "/healthz", "200") >= 1.0,
        "{text}"
    );
}
