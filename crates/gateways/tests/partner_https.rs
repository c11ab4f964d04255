//! A partner at an `https://` URL with a private CA: the partner client, given a `ClientTls`
//! that trusts the CA, queries and debits; without the CA every call fails with an error
//! that names the certificate (before, an https partner URL was accepted and then failed on
//! every call, whatever was trusted).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{bounded, client_trusting, start_sim_https};
use gateways::sim::{Faults, SimConfig};
use ports::gateway::{DebitOutcome, DebitRequest, PartnerCallError, PartnerGateway};
use tls::test_pki::TestCa;
use tls::{ClientTls, ServerTls, ServerTlsConfig};

struct Pki {
    _directory: tempfile::TempDir,
    ca_file: PathBuf,
    server: ServerTls,
}

/// A private CA on disk and the simulator's certificate for 127.0.0.1 and localhost.
fn pki() -> Pki {
    let directory = tempfile::tempdir().unwrap();
    let (ca_file, cert, key) = (
        directory.path().join("ca.pem"),
        directory.path().join("partner.pem"),
        directory.path().join("partner.key"),
    );
    let ca = TestCa::new("partner test CA");
    ca.write_cert(&ca_file);
    ca.loopback_leaf().write(&cert, &key);
    let server = ServerTls::load(ServerTlsConfig::new(&cert, &key)).unwrap();
    Pki {
        _directory: directory,
        ca_file,
        server,
    }
}

fn debit(reference: &str, mileage: u64) -> DebitRequest {
    DebitRequest {
        reference: reference.to_string(),
        member_ref: "m-1".to_string(),
        mileage,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_over_https_with_a_trusted_private_ca_is_queried_and_debited() {
    bounded(10, async {
        let pki = pki();
        let trusting = ClientTls::new(Some(&pki.ca_file)).unwrap();
        let config = SimConfig {
            initial_mileage: 5_000,
            ..SimConfig::new(common::SECRET)
        };
        let sim = start_sim_https(config, pki.server.clone(), &trusting).await;
        assert!(sim.base_url.starts_with("https://"), "{}", sim.base_url);
        let partner = sim.endpoint();
        let gateway = client_trusting(2_000, &trusting);
        assert_eq!(gateway.balance(&partner, "m-1").await, Ok(5_000));
        assert_eq!(
            gateway.debit(&partner, &debit("r-1", 1_200)).await,
            Ok(DebitOutcome::Debited {
                balance_after: 3_800
            })
        );
        assert_eq!(sim.member("m-1").await.mileage, 3_800);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_every_call_fails_naming_the_certificate() {
    bounded(10, async {
        let pki = pki();
        let trusting = ClientTls::new(Some(&pki.ca_file)).unwrap();
        let sim = start_sim_https(
            SimConfig::new(common::SECRET),
            pki.server.clone(),
            &trusting,
        )
        .await;
        let partner = sim.endpoint();
        let gateway = client_trusting(2_000, &ClientTls::system());
        for outcome in [
            gateway.balance(&partner, "m-1").await.map(|_| ()),
            gateway.debit(&partner, &debit("r-1", 10)).await.map(|_| ()),
        ] {
            match outcome {
                Err(PartnerCallError::Transport(message)) => assert!(
                    message.to_lowercase().contains("certificate"),
                    "the error should say the certificate is not trusted: {message}"
                ),
                other => panic!("expected a transport error, got {other:?}"),
            }
        }
        // Nothing reached the partner's protocol handlers.
        assert_eq!(sim.stats().await.requests.debit, 0);
        assert_eq!(sim.stats().await.requests.balance, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_fault_drops_the_connection_under_tls_too() {
    bounded(10, async {
        let pki = pki();
        let trusting = ClientTls::new(Some(&pki.ca_file)).unwrap();
        let config = SimConfig {
            faults: Faults {
                timeout_rate: 1.0,
                timeout_ms: 200,
                ..Faults::default()
            },
            ..SimConfig::new(common::SECRET)
        };
        let sim = start_sim_https(config, pki.server.clone(), &trusting).await;
        let started = std::time::Instant::now();
        match client_trusting(3_000, &trusting)
            .debit(&sim.endpoint(), &debit("r-1", 10))
            .await
        {
            Err(PartnerCallError::Transport(_)) => {}
            other => panic!("expected the connection to be dropped, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_millis(3_000));
    })
    .await;
}
