//! The server's routes a witness uses besides the block feed: the operator's checkpoint (to
//! pin its key on first contact), the anchor's state and proposal, and the co-signature
//! post. Every request is bounded in time (the client's timeout) and in size
//! ([`ANSWER_BYTES_MAX`]); problems (RFC 9457) are told apart by their `type`.

use std::time::Duration;

use ports::chain::{AnchorCheckpoint, AnchorDomain, EthAddress};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::{WitnessError, hex32, parse_hex32};

/// The largest answer read: the anchor's state names at most 32 authorities, so a few KiB.
pub const ANSWER_BYTES_MAX: usize = 1024 * 1024;

/// The server's anchor state (`GET /v1/ledger/anchor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorInfo {
    /// What a co-signature must be made for.
    pub domain: AnchorDomain,
    /// The contract's threshold and authorities; `None` when the server could not read
    /// them from the chain just now.
    pub threshold: Option<u64>,
    pub authorities: Option<Vec<EthAddress>>,
    /// The checkpoint the server wants anchored next.
    pub proposal: Option<AnchorCheckpoint>,
}

/// The server's answer to a co-signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Posted {
    /// Kept: `cosignatures` of `threshold` so far.
    Accepted { cosignatures: u64, threshold: u64 },
    /// The server no longer proposes this checkpoint (it moved on, or was anchored).
    NotTheProposal(String),
}

/// A client of one server's JSON routes.
#[derive(Clone, Debug)]
pub struct ServerClient {
    client: reqwest::Client,
    base_url: String,
}

struct Answer {
    url: String,
    status: StatusCode,
    body: Vec<u8>,
}

#[derive(Deserialize)]
struct WireCheckpoint {
    public_key: String,
}

#[derive(Deserialize)]
struct WireAnchor {
    chain_id: u64,
    anchor_address: String,
    threshold: Option<u64>,
    authorities: Option<Vec<String>>,
    proposal: Option<WireProposal>,
}

#[derive(Deserialize)]
struct WireProposal {
    height: u64,
    tree_size: u64,
    root: String,
}

#[derive(Deserialize)]
struct WireCosigned {
    cosignatures: u64,
    threshold: u64,
}

#[derive(Deserialize, Default)]
struct WireProblem {
    #[serde(rename = "type")]
    kind: Option<String>,
    detail: Option<String>,
}

impl ServerClient {
    /// A client of the server at `base_url` (http or https, trusting what `tls` trusts).
    pub fn new(base_url: &str, timeout_ms: u64, tls: &tls::ClientTls) -> ServerClient {
        let client = tls
            .reqwest_builder()
            .timeout(Duration::from_millis(timeout_ms))
            .build()
            // A ready rustls configuration and no proxies: nothing can fail.
            .expect("an HTTP client with a preconfigured TLS always builds");
        ServerClient {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// The operator's public key from its latest signed checkpoint; `None` while the
    /// ledger has no block.
    pub async fn operator_public_key(&self) -> Result<Option<[u8; 32]>, WitnessError> {
        let answer = self
            .send(self.client.get(self.url("/v1/ledger/checkpoint")))
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let checkpoint: WireCheckpoint = answer.json()?;
        let key = parse_hex32(&checkpoint.public_key)
            .ok_or_else(|| answer.malformed("public_key is not 32 bytes"))?;
        Ok(Some(key))
    }

    /// The anchor's state; `None` when the server has no chain configured.
    pub async fn anchor(&self) -> Result<Option<AnchorInfo>, WitnessError> {
        let answer = self
            .send(self.client.get(self.url("/v1/ledger/anchor")))
            .await?;
        if answer.status == StatusCode::NOT_FOUND
            && answer.problem_slug().as_deref() == Some("chain-not-configured")
        {
            return Ok(None);
        }
        let wire: WireAnchor = answer.json()?;
        anchor_info(wire)
            .map(Some)
            .map_err(|reason| answer.malformed(reason))
    }

    /// Posts this witness's signature (`r ‖ s ‖ v`) over `checkpoint`.
    pub async fn post_cosignature(
        &self,
        checkpoint: &AnchorCheckpoint,
        signature: &[u8; 65],
    ) -> Result<Posted, WitnessError> {
        let path = format!(
            "/v1/ledger/checkpoints/{}/cosignatures",
            checkpoint.tree_size
        );
        let body = json!({
            "height": checkpoint.height,
            "root": hex32(&checkpoint.root),
            "signature": format!("0x{}", hex::encode(signature)),
        });
        let answer = self
            .send(self.client.post(self.url(&path)).json(&body))
            .await?;
        if answer.status == StatusCode::CONFLICT
            && answer.problem_slug().as_deref() == Some("not-the-proposal")
        {
            return Ok(Posted::NotTheProposal(
                answer.problem().detail.unwrap_or_default(),
            ));
        }
        let cosigned: WireCosigned = answer.json()?;
        Ok(Posted::Accepted {
            cosignatures: cosigned.cosignatures,
            threshold: cosigned.threshold,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, WitnessError> {
        let request = request.build().map_err(|error| WitnessError::Transport {
            url: self.base_url.clone(),
            reason: error.to_string(),
        })?;
        let url = request.url().to_string();
        let transport = |error: reqwest::Error| WitnessError::Transport {
            url: url.clone(),
            reason: error.to_string(),
        };
        let mut response = self.client.execute(request).await.map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > ANSWER_BYTES_MAX {
                return Err(WitnessError::Malformed {
                    url,
                    reason: format!("the answer is larger than {ANSWER_BYTES_MAX} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { url, status, body })
    }
}

impl Answer {
    /// The body as `T` if the status is a success; otherwise the server's problem.
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, WitnessError> {
        if !self.status.is_success() {
            let problem = self.problem();
            return Err(WitnessError::Server {
                url: self.url.clone(),
                status: self.status.as_u16(),
                problem: self.problem_slug().unwrap_or_default(),
                detail: problem.detail.unwrap_or_default(),
            });
        }
        serde_json::from_slice(&self.body).map_err(|error| self.malformed(error.to_string()))
    }

    fn problem(&self) -> WireProblem {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The last segment of the problem's `type` (`urn:mileverse:problem:<slug>`).
    fn problem_slug(&self) -> Option<String> {
        let kind = self.problem().kind?;
        Some(kind.rsplit(':').next().unwrap_or_default().to_string())
    }

    fn malformed(&self, reason: impl Into<String>) -> WitnessError {
        WitnessError::Malformed {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }
}

fn anchor_info(wire: WireAnchor) -> Result<AnchorInfo, String> {
    let anchor = parse_address(&wire.anchor_address).ok_or("anchor_address is not an address")?;
    let authorities = match &wire.authorities {
        Some(authorities) => Some(
            authorities
                .iter()
                .map(|text| parse_address(text).ok_or("an authority is not an address"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let proposal = match wire.proposal {
        Some(proposal) => Some(AnchorCheckpoint {
            height: proposal.height,
            tree_size: proposal.tree_size,
            root: parse_hex32(&proposal.root).ok_or("proposal.root is not 32 bytes")?,
        }),
        None => None,
    };
    Ok(AnchorInfo {
        domain: AnchorDomain {
            chain_id: wire.chain_id,
            anchor,
        },
        threshold: wire.threshold,
        authorities,
        proposal,
    })
}

/// 20 bytes from `0x` and 40 hex digits (any case: the checksum is not required).
pub fn parse_address(text: &str) -> Option<EthAddress> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).ok()?.try_into().ok()
}
