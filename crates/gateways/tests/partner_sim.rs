//! The partner client against the simulator: the protocol's happy paths, idempotency,
//! refusals, and authentication failures (wrong secret, replay, stale timestamp).

mod common;

use common::{SECRET, bounded, client, start_sim};
use gateways::protocol::{self, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use gateways::sim::{DEFAULT_INITIAL_MILEAGE, SimConfig};
use ports::gateway::{
    DebitOutcome, DebitRequest, DebitStatus, PartnerCallError, PartnerGateway, Refusal,
};
use ports::signing::{SignedParts, new_nonce, sign_request};

fn debit(reference: &str, member_ref: &str, mileage: u64) -> DebitRequest {
    DebitRequest {
        reference: reference.to_string(),
        member_ref: member_ref.to_string(),
        mileage,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_of_a_new_member_is_the_initial_mileage() {
    bounded(10, async {
        let sim = start_sim(SimConfig {
            initial_mileage: 5_000,
            ..SimConfig::new(SECRET)
        })
        .await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        assert_eq!(gateway.balance(&partner, "m-1").await, Ok(5_000));
        let outcome = gateway.debit(&partner, &debit("r-1", "m-1", 1_200)).await;
        assert_eq!(
            outcome,
            Ok(DebitOutcome::Debited {
                balance_after: 3_800
            })
        );
        assert_eq!(gateway.balance(&partner, "m-1").await, Ok(3_800));
        assert_eq!(gateway.balance(&partner, "m-2").await, Ok(5_000));
        assert_eq!(sim.stats().await.requests.balance, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_debit_debits_once_and_answers_the_same() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        let request = debit("r-1", "m-1", 700);
        let first = gateway.debit(&partner, &request).await;
        let expected = DEFAULT_INITIAL_MILEAGE - 700;
        assert_eq!(
            first,
            Ok(DebitOutcome::Debited {
                balance_after: expected
            })
        );
        // Another debit of the member in between: the repeat still answers the first result.
        gateway
            .debit(&partner, &debit("r-2", "m-1", 1))
            .await
            .unwrap();
        let again = gateway.debit(&partner, &request).await;
        assert_eq!(again, first);
        let member = sim.member("m-1").await;
        assert_eq!(member.mileage, DEFAULT_INITIAL_MILEAGE - 701);
        assert_eq!(member.debited_total, 701);
        assert_eq!(sim.debits().await.debits.len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_reused_with_other_content_is_a_conflict() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        gateway
            .debit(&partner, &debit("r-1", "m-1", 700))
            .await
            .unwrap();
        let conflict = Ok(DebitOutcome::Refused(Refusal::Other(
            "reference_conflict".to_string(),
        )));
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-1", 701)).await,
            conflict
        );
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-2", 700)).await,
            conflict
        );
        assert_eq!(sim.member("m-1").await.debited_total, 700);
        assert_eq!(sim.member("m-2").await.debited_total, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_above_the_balance_is_refused() {
    bounded(10, async {
        let sim = start_sim(SimConfig {
            initial_mileage: 1_000,
            ..SimConfig::new(SECRET)
        })
        .await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-1", 1_001)).await,
            Ok(DebitOutcome::Refused(Refusal::InsufficientMileage))
        );
        assert_eq!(gateway.balance(&partner, "m-1").await, Ok(1_000));
        assert_eq!(
            gateway.status(&partner, "r-1").await,
            Ok(DebitStatus::NotFound)
        );
        // Exactly the balance is fine.
        assert_eq!(
            gateway.debit(&partner, &debit("r-2", "m-1", 1_000)).await,
            Ok(DebitOutcome::Debited { balance_after: 0 })
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_debit_restores_the_mileage() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        gateway
            .debit(&partner, &debit("r-1", "m-1", 900))
            .await
            .unwrap();
        assert_eq!(sim.member("m-1").await.debited_total, 900);
        assert_eq!(gateway.cancel(&partner, "r-1").await, Ok(()));
        assert_eq!(gateway.cancel(&partner, "r-1").await, Ok(()), "idempotent");
        let member = sim.member("m-1").await;
        assert_eq!(member.mileage, DEFAULT_INITIAL_MILEAGE);
        assert_eq!(member.debited_total, 0);
        assert_eq!(
            gateway.status(&partner, "r-1").await,
            Ok(DebitStatus::Cancelled)
        );
        // The reference is dead: even the same debit again is refused.
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-1", 900)).await,
            Ok(DebitOutcome::Refused(Refusal::ReferenceCancelled))
        );
        assert_eq!(sim.member("m-1").await.mileage, DEFAULT_INITIAL_MILEAGE);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_debit_makes_the_late_debit_refused() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        assert_eq!(gateway.cancel(&partner, "r-1").await, Ok(()));
        assert_eq!(
            gateway.status(&partner, "r-1").await,
            Ok(DebitStatus::Cancelled)
        );
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-1", 900)).await,
            Ok(DebitOutcome::Refused(Refusal::ReferenceCancelled))
        );
        let member = sim.member("m-1").await;
        assert_eq!(member.mileage, DEFAULT_INITIAL_MILEAGE);
        assert_eq!(member.debited_total, 0);
        let debits = sim.debits().await.debits;
        assert_eq!(debits.len(), 1);
        assert_eq!(debits[0].reference, "r-1");
        assert_eq!(debits[0].status, "cancelled");
        assert_eq!(debits[0].member_ref, None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_debited_cancelled_and_not_found() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        gateway
            .debit(&partner, &debit("r-b", "m-1", 10))
            .await
            .unwrap();
        gateway
            .debit(&partner, &debit("r-a", "m-2", 20))
            .await
            .unwrap();
        gateway.cancel(&partner, "r-a").await.unwrap();
        assert_eq!(
            gateway.status(&partner, "r-b").await,
            Ok(DebitStatus::Debited {
                member_ref: "m-1".to_string(),
                mileage: 10
            })
        );
        assert_eq!(
            gateway.status(&partner, "r-a").await,
            Ok(DebitStatus::Cancelled)
        );
        assert_eq!(
            gateway.status(&partner, "r-c").await,
            Ok(DebitStatus::NotFound)
        );
        let debits = sim.debits().await.debits;
        let listed: Vec<_> = debits
            .iter()
            .map(|d| (d.reference.as_str(), d.status.as_str(), d.mileage))
            .collect();
        assert_eq!(listed, [("r-a", "cancelled", 20), ("r-b", "debited", 10)]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_refs_are_refused_without_a_call() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint();
        let bad = Refusal::Other("bad_request".to_string());
        assert_eq!(
            gateway.debit(&partner, &debit("r/1", "m-1", 1)).await,
            Ok(DebitOutcome::Refused(bad.clone()))
        );
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-1", 0)).await,
            Ok(DebitOutcome::Refused(bad.clone()))
        );
        let long = "x".repeat(65);
        assert_eq!(
            gateway.balance(&partner, &long).await,
            Err(PartnerCallError::Refused(bad.clone()))
        );
        assert_eq!(
            gateway.status(&partner, "../sim").await,
            Err(PartnerCallError::Refused(bad.clone()))
        );
        assert_eq!(
            gateway.cancel(&partner, "").await,
            Err(PartnerCallError::Refused(bad))
        );
        let stats = sim.stats().await;
        assert_eq!(stats.requests.debit + stats.requests.balance, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gets_an_unsigned_401_reported_as_status_401() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = client(2_000);
        let partner = sim.endpoint_with_secret(b"not-the-secret");
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", "m-1", 5)).await,
            Err(PartnerCallError::Status(401))
        );
        assert_eq!(
            gateway.balance(&partner, "m-1").await,
            Err(PartnerCallError::Status(401))
        );
        let stats = sim.stats().await;
        assert_eq!(stats.auth_failures, 2);
        assert_eq!(stats.requests.debit, 0);
        assert!(sim.debits().await.debits.is_empty());
    })
    .await;
}

/// A request signed by hand, sent raw.
struct Raw {
    timestamp_s: u64,
    nonce: String,
    signature: String,
    path: String,
    body: Vec<u8>,
}

fn signed_raw(timestamp_s: u64, path: &str, body: &[u8]) -> Raw {
    let nonce = new_nonce();
    let signature = sign_request(
        SECRET,
        &SignedParts {
            timestamp_s,
            nonce: &nonce,
            method: "POST",
            path,
            body,
        },
    );
    Raw {
        timestamp_s,
        nonce,
        signature,
        path: path.to_string(),
        body: body.to_vec(),
    }
}

async fn send_raw(http: &reqwest::Client, base_url: &str, raw: &Raw) -> (u16, bool, String) {
    let response = http
        .post(format!("{base_url}{}", raw.path))
        .header(HEADER_KEY, "17")
        .header(HEADER_TIMESTAMP, raw.timestamp_s)
        .header(HEADER_NONCE, &raw.nonce)
        .header(HEADER_SIGNATURE, &raw.signature)
        .body(raw.body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let signed = response.headers().contains_key(HEADER_SIGNATURE);
    (status, signed, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_signed_request_twice_is_a_replay() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let body = br#"{"reference":"r-1","member_ref":"m-1","mileage":3}"#;
        let raw = signed_raw(protocol::unix_now_s(), protocol::DEBITS_PATH, body);
        let (status, signed, _) = send_raw(&http, &sim.base_url, &raw).await;
        assert_eq!((status, signed), (200, true));
        let (status, signed, text) = send_raw(&http, &sim.base_url, &raw).await;
        assert_eq!((status, signed), (401, false));
        assert_eq!(text, r#"{"error":"replayed"}"#);
        assert_eq!(sim.member("m-1").await.debited_total, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_tampered_and_unsigned_requests_get_401() {
    bounded(10, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let body = br#"{"reference":"r-1","member_ref":"m-1","mileage":3}"#;
        let stale = signed_raw(protocol::unix_now_s() - 301, protocol::DEBITS_PATH, body);
        let (status, signed, text) = send_raw(&http, &sim.base_url, &stale).await;
        assert_eq!((status, signed), (401, false));
        assert_eq!(text, r#"{"error":"stale_timestamp"}"#);

        let mut tampered = signed_raw(protocol::unix_now_s(), protocol::DEBITS_PATH, body);
        tampered.body = br#"{"reference":"r-1","member_ref":"m-1","mileage":30}"#.to_vec();
        let (status, _, text) = send_raw(&http, &sim.base_url, &tampered).await;
        assert_eq!(status, 401);
        assert_eq!(text, r#"{"error":"bad_signature"}"#);

        let response = http
            .post(sim.url(protocol::DEBITS_PATH))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"error":"missing_headers"}"#
        );

        // Bad JSON that is correctly signed is a signed 400.
        let bad = signed_raw(protocol::unix_now_s(), protocol::DEBITS_PATH, b"{");
        let (status, signed, text) = send_raw(&http, &sim.base_url, &bad).await;
        assert_eq!((status, signed), (400, true));
        assert_eq!(text, r#"{"error":"bad_request"}"#);

        assert!(sim.debits().await.debits.is_empty());
        assert_eq!(sim.stats().await.auth_failures, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_partner_is_a_transport_error() {
    bounded(10, async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let gateway = client(2_000);
        let partner = ports::gateway::PartnerEndpoint {
            partner_key: "17".to_string(),
            api_base_url: format!("http://{address}"),
            secret: SECRET.to_vec(),
        };
        match gateway.balance(&partner, "m-1").await {
            Err(PartnerCallError::Transport(message)) => {
                assert!(!message.is_empty());
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
        let mut bad_url = partner.clone();
        bad_url.api_base_url = "not a url".to_string();
        assert!(matches!(
            gateway.balance(&bad_url, "m-1").await,
            Err(PartnerCallError::Transport(_))
        ));
    })
    .await;
}

/// Many concurrent debits: every one is applied exactly once. Prints the rate seen (client
/// and simulator share the machine; `--no-capture` shows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_debits_are_each_applied_once() {
    bounded(15, async {
        let sim = start_sim(SimConfig::new(SECRET)).await;
        let gateway = std::sync::Arc::new(gateways::partner::HttpPartnerGateway::new(
            gateways::partner::PartnerClientConfig {
                timeout_ms: 5_000,
                connections_per_host_max: 32,
            },
            &tls::ClientTls::system(),
        ));
        let partner = std::sync::Arc::new(sim.endpoint());
        const TASKS: u64 = 32;
        const PER_TASK: u64 = 125;
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let gateway = gateway.clone();
            let partner = partner.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let request = debit(&format!("r-{task}-{i}"), &format!("m-{}", i % 10), 1);
                    let outcome = gateway.debit(&partner, &request).await.unwrap();
                    assert!(matches!(outcome, DebitOutcome::Debited { .. }));
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        let total = TASKS * PER_TASK;
        println!(
            "{total} debits in {elapsed:?}: {:.0} debits/s (client and simulator in one process)",
            total as f64 / elapsed.as_secs_f64()
        );
        let mut debited = 0;
        for member in 0..10 {
            debited += sim.member(&format!("m-{member}")).await.debited_total;
        }
        assert_eq!(debited, total);
        assert_eq!(sim.debits().await.debits.len() as u64, total);
    })
    .await;
}
