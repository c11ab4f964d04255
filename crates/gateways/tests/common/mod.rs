//! Helpers shared by the gateway tests: a simulator on a loopback port, its control surface,
//! and a time bound for every test.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use gateways::partner::{HttpPartnerGateway, PartnerClientConfig};
use gateways::sim::{Faults, SimConfig, SimDebits, SimMember, SimStats, serve_sim};
use ports::gateway::PartnerEndpoint;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const SECRET: &[u8] = b"test-partner-secret";

/// Fails the test if `future` takes longer than `seconds`.
pub async fn bounded<T>(seconds: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .expect("the test took too long")
}

/// A simulator serving on 127.0.0.1 until dropped.
pub struct TestSim {
    pub address: SocketAddr,
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
    http: reqwest::Client,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start_sim(config: SimConfig) -> TestSim {
    start_sim_over(config, None, &tls::ClientTls::system()).await
}

/// A simulator serving HTTPS with `server` (at `https://localhost:PORT`, so the name is
/// checked), its control surface reached with `client`.
pub async fn start_sim_https(
    config: SimConfig,
    server: tls::ServerTls,
    client: &tls::ClientTls,
) -> TestSim {
    start_sim_over(config, Some(server), client).await
}

async fn start_sim_over(
    config: SimConfig,
    server: Option<tls::ServerTls>,
    client: &tls::ClientTls,
) -> TestSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base_url = match server {
        Some(_) => format!("https://localhost:{}", address.port()),
        None => format!("http://{address}"),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_sim(listener, config, server, async {
        let _ = stopped.await;
    }));
    TestSim {
        address,
        base_url,
        stop: Some(stop),
        http: client.reqwest_builder().no_proxy().build().unwrap(),
    }
}

pub async fn start_sim_with(faults: Faults) -> TestSim {
    start_sim(SimConfig {
        faults,
        ..SimConfig::new(SECRET)
    })
    .await
}

impl TestSim {
    pub fn endpoint(&self) -> PartnerEndpoint {
        self.endpoint_with_secret(SECRET)
    }

    pub fn endpoint_with_secret(&self, secret: &[u8]) -> PartnerEndpoint {
        PartnerEndpoint {
            partner_key: "17".to_string(),
            // A trailing slash must not double the path's.
            api_base_url: format!("{}/", self.base_url),
            secret: secret.to_vec(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn member(&self, member_ref: &str) -> SimMember {
        self.get(&format!("/sim/v1/members/{member_ref}")).await
    }

    pub async fn debits(&self) -> SimDebits {
        self.get("/sim/v1/debits").await
    }

    pub async fn stats(&self) -> SimStats {
        self.get("/sim/v1/stats").await
    }

    pub async fn faults(&self) -> Faults {
        self.get("/sim/v1/faults").await
    }

    /// `PUT /sim/v1/faults`; returns the HTTP status.
    pub async fn put_faults(&self, faults: &serde_json::Value) -> u16 {
        self.http
            .put(self.url("/sim/v1/faults"))
            .json(faults)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn heal(&self) {
        assert_eq!(self.put_faults(&serde_json::json!({})).await, 200);
    }
}

pub fn client(timeout_ms: u64) -> HttpPartnerGateway {
    client_trusting(timeout_ms, &tls::ClientTls::system())
}

/// A partner client whose https calls trust what `tls` trusts.
pub fn client_trusting(timeout_ms: u64, tls: &tls::ClientTls) -> HttpPartnerGateway {
    let config = PartnerClientConfig {
        timeout_ms,
        connections_per_host_max: 8,
    };
    HttpPartnerGateway::new(config, tls)
}
