//! Every fault of the simulator, observed through the partner client, and healing at runtime.

mod common;

use std::time::{Duration, Instant};

use common::{bounded, client, start_sim_with};
use gateways::sim::{DEFAULT_INITIAL_MILEAGE, Faults};
use ports::gateway::{DebitOutcome, DebitRequest, DebitStatus, PartnerCallError, PartnerGateway};
use serde_json::json;

fn debit(reference: &str, mileage: u64) -> DebitRequest {
    DebitRequest {
        reference: reference.to_string(),
        member_ref: "m-1".to_string(),
        mileage,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_fault_is_a_client_timeout_and_nothing_is_applied() {
    bounded(10, async {
        let sim = start_sim_with(Faults {
            timeout_rate: 1.0,
            timeout_ms: 400,
            ..Faults::default()
        })
        .await;
        let partner = sim.endpoint();
        let started = Instant::now();
        assert_eq!(
            client(150).debit(&partner, &debit("r-1", 10)).await,
            Err(PartnerCallError::Timeout)
        );
        assert!(started.elapsed() < Duration::from_millis(400));
        // A caller that waits longer than the simulator holds sees the connection dropped,
        // not an answer.
        match client(3_000).debit(&partner, &debit("r-2", 10)).await {
            Err(PartnerCallError::Transport(_)) => {}
            other => panic!("expected the connection to be dropped, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(400));
        tokio::time::sleep(Duration::from_millis(450)).await;
        let member = sim.member("m-1").await;
        assert_eq!(member.mileage, DEFAULT_INITIAL_MILEAGE);
        assert_eq!(member.debited_total, 0);
        assert!(sim.debits().await.debits.is_empty());
        assert_eq!(sim.stats().await.faults.timeout, 2);
        sim.heal().await;
        assert_eq!(
            client(2_000).status(&partner, "r-1").await,
            Ok(DebitStatus::NotFound)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_fault_is_a_503_and_nothing_is_applied() {
    bounded(10, async {
        let sim = start_sim_with(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .await;
        let partner = sim.endpoint();
        let gateway = client(2_000);
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", 10)).await,
            Err(PartnerCallError::Status(503))
        );
        assert_eq!(
            gateway.status(&partner, "r-1").await,
            Err(PartnerCallError::Status(503))
        );
        assert_eq!(sim.member("m-1").await.debited_total, 0);
        assert_eq!(sim.stats().await.faults.error, 2);
        // Healing at runtime: the same reference now goes through.
        sim.heal().await;
        assert_eq!(sim.faults().await, Faults::default());
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", 10)).await,
            Ok(DebitOutcome::Debited {
                balance_after: DEFAULT_INITIAL_MILEAGE - 10
            })
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_apply_is_a_500_but_the_debit_happened() {
    bounded(10, async {
        let sim = start_sim_with(Faults {
            error_after_apply_rate: 1.0,
            ..Faults::default()
        })
        .await;
        let partner = sim.endpoint();
        let gateway = client(2_000);
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", 10)).await,
            Err(PartnerCallError::Status(500))
        );
        sim.heal().await;
        assert_eq!(
            gateway.status(&partner, "r-1").await,
            Ok(DebitStatus::Debited {
                member_ref: "m-1".to_string(),
                mileage: 10
            })
        );
        assert_eq!(sim.member("m-1").await.debited_total, 10);
        assert_eq!(sim.stats().await.faults.error_after_apply, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_is_a_client_timeout_but_the_debit_happened() {
    bounded(10, async {
        let sim = start_sim_with(Faults {
            late_rate: 1.0,
            late_ms: 500,
            ..Faults::default()
        })
        .await;
        let partner = sim.endpoint();
        assert_eq!(
            client(150).debit(&partner, &debit("r-1", 10)).await,
            Err(PartnerCallError::Timeout)
        );
        // The late answer arrives for a patient caller, for a repeat of the same reference.
        let started = Instant::now();
        assert_eq!(
            client(2_000).debit(&partner, &debit("r-1", 10)).await,
            Ok(DebitOutcome::Debited {
                balance_after: DEFAULT_INITIAL_MILEAGE - 10
            })
        );
        assert!(started.elapsed() >= Duration::from_millis(500));
        sim.heal().await;
        assert_eq!(
            client(2_000).status(&partner, "r-1").await,
            Ok(DebitStatus::Debited {
                member_ref: "m-1".to_string(),
                mileage: 10
            })
        );
        assert_eq!(sim.member("m-1").await.debited_total, 10);
        assert_eq!(sim.stats().await.faults.late, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_delivery_debits_once() {
    bounded(10, async {
        let sim = start_sim_with(Faults {
            duplicate_rate: 1.0,
            ..Faults::default()
        })
        .await;
        let partner = sim.endpoint();
        let gateway = client(2_000);
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", 10)).await,
            Ok(DebitOutcome::Debited {
                balance_after: DEFAULT_INITIAL_MILEAGE - 10
            })
        );
        let member = sim.member("m-1").await;
        assert_eq!(member.mileage, DEFAULT_INITIAL_MILEAGE - 10);
        assert_eq!(member.debited_total, 10);
        assert_eq!(sim.debits().await.debits.len(), 1);
        // A duplicated cancel reverses once.
        assert_eq!(gateway.cancel(&partner, "r-1").await, Ok(()));
        assert_eq!(sim.member("m-1").await.mileage, DEFAULT_INITIAL_MILEAGE);
        let stats = sim.stats().await;
        assert_eq!(stats.faults.duplicate, 2);
        assert_eq!(
            stats.requests.debit, 1,
            "counted once per delivery received"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_delays_every_answer_but_applies_first() {
    bounded(10, async {
        let sim = start_sim_with(Faults {
            slow_ms: 200,
            ..Faults::default()
        })
        .await;
        let partner = sim.endpoint();
        let started = Instant::now();
        assert_eq!(
            client(2_000).balance(&partner, "m-1").await,
            Ok(DEFAULT_INITIAL_MILEAGE)
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        // A caller that gives up before the slow answer has still been debited.
        assert_eq!(
            client(100).debit(&partner, &debit("r-1", 10)).await,
            Err(PartnerCallError::Timeout)
        );
        assert_eq!(sim.member("m-1").await.debited_total, 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_replaced_at_runtime_and_checked() {
    bounded(10, async {
        let sim = start_sim_with(Faults::default()).await;
        let partner = sim.endpoint();
        let gateway = client(2_000);
        assert_eq!(
            sim.put_faults(&json!({"error_rate": 1.0, "seed": 3})).await,
            200
        );
        let faults = sim.faults().await;
        assert_eq!(faults.error_rate, 1.0);
        assert_eq!(faults.seed, 3);
        assert_eq!(
            gateway.balance(&partner, "m-1").await,
            Err(PartnerCallError::Status(503))
        );
        // Refused: out of range, adding up past 1, unknown field. The faults stay as they were.
        assert_eq!(sim.put_faults(&json!({"error_rate": 1.5})).await, 400);
        assert_eq!(
            sim.put_faults(&json!({"error_rate": 0.7, "late_rate": 0.7}))
                .await,
            400
        );
        assert_eq!(sim.put_faults(&json!({"eror_rate": 0.1})).await, 400);
        assert_eq!(sim.faults().await.error_rate, 1.0);
        sim.heal().await;
        assert_eq!(
            gateway.balance(&partner, "m-1").await,
            Ok(DEFAULT_INITIAL_MILEAGE)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_faults_at_a_seed_are_repeatable_and_never_double_debit() {
    bounded(15, async {
        let faults = json!({
            "error_rate": 0.2, "error_after_apply_rate": 0.2, "duplicate_rate": 0.2, "seed": 11
        });
        let mut runs = Vec::new();
        for _ in 0..2 {
            let sim = start_sim_with(Faults::default()).await;
            assert_eq!(sim.put_faults(&faults).await, 200);
            let partner = sim.endpoint();
            let gateway = client(2_000);
            let mut outcomes = Vec::new();
            // Each reference is retried until a definitive answer, as the platform would.
            for i in 0..40 {
                let request = debit(&format!("r-{i}"), 1);
                loop {
                    match gateway.debit(&partner, &request).await {
                        Ok(outcome) => {
                            break assert!(matches!(outcome, DebitOutcome::Debited { .. }));
                        }
                        Err(error) => outcomes.push(format!("{i}: {error}")),
                    }
                }
            }
            let member = sim.member("m-1").await;
            assert_eq!(member.debited_total, 40);
            assert_eq!(member.mileage, DEFAULT_INITIAL_MILEAGE - 40);
            let stats = sim.stats().await;
            assert!(stats.faults.error > 0 && stats.faults.error_after_apply > 0);
            runs.push(outcomes);
        }
        assert_eq!(runs[0], runs[1], "the same seed gives the same faults");
    })
    .await;
}
