//! The follower's side of the block feed (`GET /v1/ledger/blocks`): pages of durable blocks,
//! decoded from their canonical encodings (docs/ledger.md) back into the records that
//! `journal::replay::Replayed::apply` checks. Nothing here trusts the server: a page that
//! does not decode is an error, and every decoded block is still replayed and checked.

use std::time::Duration;

use ledger::encoding::{decode_account, decode_header, decode_transfer};
use serde::Deserialize;
use store::BlockRecord;

/// Largest page read: 64 full blocks of 8,190 transfers in hex is about 170 MB.
pub const FOLLOW_PAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("cannot reach the ledger server: {0}")]
    Transport(String),
    #[error("the ledger server answered HTTP {0}")]
    Status(u16),
    #[error("block {height} does not decode: {reason}")]
    Malformed { height: u64, reason: String },
}

#[derive(Deserialize)]
struct Page {
    blocks: Vec<WireBlock>,
}

#[derive(Deserialize)]
struct WireBlock {
    height: u64,
    hash: String,
    signature: String,
    header: String,
    accounts: Vec<String>,
    transfers: Vec<String>,
}

/// A client of one ledger server's block feed.
#[derive(Clone, Debug)]
pub struct BlockFollower {
    client: reqwest::Client,
    base_url: String,
    /// The witness's credential (an API key with `ledger.feed`): the feed is not public.
    token: Option<String>,
}

impl BlockFollower {
    /// A follower of the server at `base_url` (http or https, trusting what `tls` trusts).
    pub fn new(base_url: &str, timeout_ms: u64, tls: &tls::ClientTls) -> BlockFollower {
        let client = tls
            .reqwest_builder()
            .timeout(Duration::from_millis(timeout_ms))
            .build()
            // A ready rustls configuration and no proxies: nothing can fail.
            .expect("an HTTP client with a preconfigured TLS always builds");
        BlockFollower {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// The same follower, sending `token` as its bearer credential.
    pub fn with_token(mut self, token: Option<String>) -> BlockFollower {
        self.token = token;
        self
    }

    /// Up to `limit` blocks from `from_height` on; fewer means the end of the journal.
    pub async fn blocks(
        &self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, FollowError> {
        let url = format!(
            "{}/v1/ledger/blocks?from={from_height}&limit={limit}",
            self.base_url
        );
        let mut request = self.client.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| FollowError::Transport(error.to_string()))?;
        if !response.status().is_success() {
            return Err(FollowError::Status(response.status().as_u16()));
        }
        let malformed = |reason: String| FollowError::Malformed {
            height: from_height,
            reason,
        };
        if response
            .content_length()
            .is_some_and(|length| length > FOLLOW_PAGE_BYTES_MAX as u64)
        {
            return Err(malformed("the page is too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| FollowError::Transport(error.to_string()))?
        {
            if body.len() + chunk.len() > FOLLOW_PAGE_BYTES_MAX {
                return Err(malformed("the page is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let page: Page =
            serde_json::from_slice(&body).map_err(|error| malformed(error.to_string()))?;
        page.blocks.iter().map(decode_block).collect()
    }
}

fn decode_block(wire: &WireBlock) -> Result<BlockRecord, FollowError> {
    let bad = |reason: &str| FollowError::Malformed {
        height: wire.height,
        reason: reason.to_string(),
    };
    let bytes = |text: &str, what: &str| hex::decode(text).map_err(|_| bad(what));
    let header =
        decode_header(&bytes(&wire.header, "header is not hex")?).ok_or_else(|| bad("header"))?;
    let hash = bytes(&wire.hash, "hash is not hex")?
        .try_into()
        .map_err(|_| bad("hash is not 32 bytes"))?;
    let signature = bytes(&wire.signature, "signature is not hex")?
        .try_into()
        .map_err(|_| bad("signature is not 64 bytes"))?;
    let accounts = wire
        .accounts
        .iter()
        .map(|text| {
            decode_account(&bytes(text, "account is not hex")?).ok_or_else(|| bad("account"))
        })
        .collect::<Result<_, _>>()?;
    let transfers = wire
        .transfers
        .iter()
        .map(|text| {
            decode_transfer(&bytes(text, "transfer is not hex")?).ok_or_else(|| bad("transfer"))
        })
        .collect::<Result<_, _>>()?;
    Ok(BlockRecord {
        header,
        hash,
        signature,
        accounts,
        transfers,
    })
}
