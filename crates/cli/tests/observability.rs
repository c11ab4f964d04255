//! Observability of a real `mileverse serve`: log lines as JSON (`--log-format json`) and
//! as plain text without colour codes when stderr is not a terminal, each request's line
//! carrying its request id; and partner calls timed by operation and outcome in
//! `/metrics`, against a real `mileverse partner-sim`.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use support::{ServerProcess, SimProcess, TOKEN};

const SECRET: &str = "observability-partner-secret-01";

/// A `mileverse serve` on port 0 whose stderr is kept for the test to read.
/// `log_format` is `--log-format`'s value or none; `environment`, MILEVERSE_LOG_FORMAT's.
fn serve_with_logs(
    data: &std::path::Path,
    log_format: Option<&str>,
    environment: Option<&str>,
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mileverse"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", TOKEN)
        // The per-request line is at debug level.
        .env("RUST_LOG", "info,server=debug")
        .env_remove("MILEVERSE_LOG_FORMAT")
        .env_remove("NO_COLOR");
    if let Some(format) = log_format {
        command.args(["--log-format", format]);
    }
    if let Some(format) = environment {
        command.env("MILEVERSE_LOG_FORMAT", format);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mileverse serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the address line");
    let Some(base) = line.trim().strip_prefix("mileverse listening on ") else {
        let _ = child.kill();
        panic!("the server did not start: {line:?}");
    };
    (child, base.to_string())
}

/// Sends one request with `request_id`, then stops the server and answers its stderr.
async fn one_request_then_logs(mut child: Child, base: &str, request_id: &str) -> String {
    let response = support::client()
        .get(format!("{base}/healthz"))
        .header("x-request-id", request_id)
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-request-id"], request_id);
    child.kill().expect("kill");
    child.wait().expect("wait");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("read stderr");
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_id() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (child, base) = serve_with_logs(directory.path(), Some("json"), None);
    check_json_logs(child, &base, "json-log-check-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_by_the_environment() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (child, base) = serve_with_logs(directory.path(), None, Some("json"));
    check_json_logs(child, &base, "json-log-check-env").await;
}

/// Every line is a JSON object, and the request's line names its id, route and status.
async fn check_json_logs(child: Child, base: &str, request_id: &str) {
    let logs = one_request_then_logs(child, base, request_id).await;

    let lines: Vec<Value> = logs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line:?}")))
        .collect();
    assert!(!lines.is_empty(), "no log lines");
    for line in &lines {
        assert!(line["level"].is_string(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }
    let answered = lines
        .iter()
        .find(|line| line["fields"]["message"] == "request answered")
        .unwrap_or_else(|| panic!("no request line in {logs}"));
    assert_eq!(answered["span"]["request_id"], request_id, "{answered}");
    assert_eq!(answered["span"]["route"], "/healthz", "{answered}");
    assert_eq!(answered["fields"]["status"], 200, "{answered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_have_no_colour_codes_off_a_terminal() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (child, base) = serve_with_logs(directory.path(), None, None);
    let request_id = "text-log-check-2";
    let logs = one_request_then_logs(child, &base, request_id).await;

    assert!(!logs.contains('\u{1b}'), "ANSI escapes in {logs:?}");
    let answered = logs
        .lines()
        .find(|line| line.contains("request answered"))
        .unwrap_or_else(|| panic!("no request line in {logs}"));
    assert!(
        answered.contains(&format!("request_id={request_id}")),
        "{answered}"
    );
    // Not JSON: the default is text.
    assert!(
        serde_json::from_str::<Value>(answered).is_err(),
        "{answered}"
    );
}

/// The value of `name{…}` whose labels include every one of `wanted`, if there is one.
fn sample(text: &str, name: &str, wanted: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (labels, value) = line
            .strip_prefix(name)?
            .strip_prefix('{')?
            .split_once("} ")?;
        let all = wanted
            .iter()
            .all(|(key, value)| labels.contains(&format!("{key}=\"{value}\"")));
        all.then(|| value.trim().parse().expect("a number"))
    })
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_calls_are_timed_by_operation_and_outcome() {
    let directory = tempfile::tempdir().expect("tempdir");
    let data = directory.path().to_path_buf();
    let sim = tokio::task::spawn_blocking(|| {
        SimProcess::start_with(SECRET, &["--initial-mileage".into(), "1000".into()])
    })
    .await
    .expect("sim");
    let server = tokio::task::spawn_blocking(move || ServerProcess::start(&data))
        .await
        .expect("server");
    let base = server.base.clone();
    let http = support::client();

    let partner = json!({
        "name": "Metered Air", "rate_num": 7, "rate_den": 10, "minimum_unit": 10,
        "api_base_url": sim.base, "secret": SECRET,
        "daily_limit": 1_000_000u64, "monthly_limit": 1_000_000u64,
    });
    let (status, partner) = send(
        http.post(format!("{base}/admin/v1/partners"))
            .bearer_auth(TOKEN)
            .json(&partner),
    )
    .await;
    assert_eq!(status, 201, "{partner}");
    let partner_id = partner["partner_id"].as_str().expect("partner_id");

    // A member, signed up and logged in on the device the SMS proved.
    let phone = "+821055501234";
    let (_, verification) = send(
        http.post(format!("{base}/v1/verifications"))
            .json(&json!({"phone": phone})),
    )
    .await;
    let (_, outbox) = send(
        http.get(format!(
            "{base}/admin/v1/sms-outbox?phone=%2B{}",
            &phone[1..]
        ))
        .bearer_auth(TOKEN),
    )
    .await;
    let text = outbox["messages"][0]["text"].as_str().expect("an SMS");
    let code = text.rsplit(' ').next().expect("a code");
    let body = json!({"verification_id": verification["verification_id"], "code": code,
                      "name": "Metered Member", "pin": "246813"});
    let (status, member) = send(http.post(format!("{base}/v1/members")).json(&body)).await;
    assert_eq!(status, 201, "{member}");
    let login = json!({"phone": phone, "pin": "246813", "device_token": member["device_token"]});
    let (status, session) = send(http.post(format!("{base}/v1/sessions")).json(&login)).await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().expect("token");

    let before = metrics(&http, &base).await;
    let count = |text: &str, operation: &str, outcome: &str| {
        let labels = [("operation", operation), ("outcome", outcome)];
        sample(
            text,
            "mileverse_partner_call_duration_seconds_count",
            &labels,
        )
        .unwrap_or(0.0)
    };

    // The link's proof redeems a code at the partner; one exchange is debited, one refused
    // (more mileage than the member has there).
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    let proof =
        support::link_with_proof(&http, &base, token, partner_id, "METER-1", password).await;
    let status = proof.status().as_u16();
    let link: Value = proof.json().await.expect("JSON");
    assert_eq!(status, 200, "{link}");
    let link_id = link["link_id"].as_str().expect("link_id");
    // The partner's refusal is the member's 422 (insufficient-partner-mileage).
    for (key, mileage, expected) in [("meter-ok", 100, 200), ("meter-no", 5000, 422)] {
        let (status, exchange) = send(
            http.post(format!("{base}/v1/exchanges"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"link_id": link_id, "mileage": mileage})),
        )
        .await;
        assert_eq!(status, expected, "{exchange}");
    }

    let after = metrics(&http, &base).await;
    for (operation, outcome) in [("redeem_code", "ok"), ("debit", "ok"), ("debit", "refused")] {
        let (was, is) = (
            count(&before, operation, outcome),
            count(&after, operation, outcome),
        );
        assert!(
            is >= was + 1.0,
            "{operation}/{outcome}: {was} -> {is}\n{after}"
        );
    }
    assert!(
        after.contains("# TYPE mileverse_partner_call_duration_seconds histogram"),
        "{after}"
    );
    let bucket = [("operation", "debit"), ("outcome", "ok"), ("le", "+Inf")];
    assert!(
        sample(
            &after,
            "mileverse_partner_call_duration_seconds_bucket",
            &bucket
        )
        .is_some_and(|count| count >= 1.0),
        "{after}"
    );
    // The exchange context's depth: nothing is left open once both are final.
    assert_eq!(
        after
            .lines()
            .find_map(|line| line.strip_prefix("mileverse_exchanges_open "))
            .map(str::trim),
        Some("0"),
        "{after}"
    );
    // And the route of the exchange, by its template and status.
    for status in ["200", "422"] {
        let labels = [
            ("method", "POST"),
            ("route", "/v1/exchanges"),
            ("status", status),
        ];
        assert!(
            sample(&after, "mileverse_http_requests_total", &labels).is_some_and(|n| n >= 1.0),
            "{status}: {after}"
        );
    }
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    let response = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("text")
}
