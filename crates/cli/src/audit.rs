//! `mileverse audit verify`: an auditor proves that no entry of the operators' audit log was
//! removed or changed.
//!
//! It reads the whole log (`GET /admin/v1/audit-log`, with a token holding `audit.read`),
//! checks the chain of hashes entry by entry (`platform::audit::verify_chain`), and for each
//! entry fetches the inclusion proof of the ledger transfer that commits its hash
//! (`GET /v1/ledger/proofs/inclusion/{id}`): the transfer must carry the entry's number and
//! the first 16 bytes of its hash, its leaf hash must be the transfer's, the proof must lead
//! to the root of a checkpoint, and the checkpoint must be signed by the operator's key
//! (`--operator-public-key`; without it, the key the server reports, printed so that it can
//! be compared with the one witnesses hold). Prints one JSON line; exits 1 on any break.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use ledger::block::transfer_leaf_hash;
use ledger::checkpoint::{Checkpoint, verify_checkpoint};
use ledger::merkle::verify_inclusion;
use platform::audit::{AUDIT_PAGE_MAX, hash_prefix, verify_chain};
use serde_json::{Value, json};
use store::tables::audit::AuditRow;

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and each entry's commitment in the ledger.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Base URL of the Mileverse server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A session token or API key with `audit.read`.
    #[arg(long, env = "MILEVERSE_TOKEN", hide_env_values = true)]
    token: String,
    /// The operator's checkpoint key (64 hex digits), as witnesses hold it.
    #[arg(long)]
    operator_public_key: Option<String>,
}

/// Deadline of each request.
const REQUEST_TIMEOUT_MS: u64 = 30_000;

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify(args) = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(verify(&args)) {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!(
                "{}",
                json!({ "verified": false, "error": format!("{error:#}") })
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

struct Auditor {
    client: reqwest::Client,
    server: String,
    token: String,
    public_key: Option<[u8; 32]>,
}

async fn verify(args: &VerifyArgs) -> anyhow::Result<Value> {
    let public_key = args
        .operator_public_key
        .as_deref()
        .map(crate::options::parse_public_key)
        .transpose()?;
    let mut auditor = Auditor {
        client: reqwest::Client::builder()
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .build()?,
        server: args.server.trim_end_matches('/').to_string(),
        token: args.token.clone(),
        public_key,
    };
    let mut head = (0u64, [0u8; 32]);
    let mut tree_size_max = 0u64;
    loop {
        // The log's cursor is the last `seq` read; the chain's head is that entry.
        let path = format!(
            "/admin/v1/audit-log?cursor={}&limit={AUDIT_PAGE_MAX}",
            head.0
        );
        let page = auditor.get(&path, true).await?;
        let rows = rows_of(&page)?;
        head = verify_chain(head, &rows).context("the audit log's chain is broken")?;
        for row in &rows {
            tree_size_max = tree_size_max.max(auditor.check_commitment(row).await?);
        }
        if page["next_cursor"].is_null() {
            break;
        }
    }
    Ok(json!({
        "verified": true,
        "entries": head.0,
        "head_hash": hex::encode(head.1),
        "tree_size": tree_size_max,
        "operator_public_key": auditor.public_key.map(hex::encode),
    }))
}

impl Auditor {
    async fn get(&self, path: &str, authorized: bool) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.server);
        let mut request = self.client.get(&url);
        if authorized {
            request = request.bearer_auth(&self.token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.context("the answer is not JSON")?;
        ensure!(status.is_success(), "{url} answered {status}: {body}");
        Ok(body)
    }

    /// Checks that entry `row`'s hash is in the ledger's Merkle log; answers the tree size
    /// of the checkpoint that proves it.
    async fn check_commitment(&mut self, row: &AuditRow) -> anyhow::Result<u64> {
        let path = format!("/v1/ledger/proofs/inclusion/{}", row.transfer_id);
        // Inclusion proofs show a transfer's contents: staff only (the token's `ledger.read`).
        let proof = self.get(&path, true).await?;
        let mut errors = Vec::new();
        let object = proof["transfer"].as_object().context("no transfer")?;
        let transfer = server::json::parse_transfer(object, 0, &mut errors);
        ensure!(errors.is_empty(), "entry {}: a malformed transfer", row.seq);
        ensure!(
            transfer.user_data_64 == row.seq && transfer.user_data_128 == hash_prefix(&row.hash),
            "entry {}: its transfer commits another entry",
            row.seq
        );
        let leaf = transfer_leaf_hash(&transfer);
        ensure!(
            hex::encode(leaf) == proof["leaf_hash"],
            "entry {}: leaf",
            row.seq
        );
        let checkpoint = self.checkpoint(&proof["checkpoint"])?;
        let path: Vec<[u8; 32]> = proof["proof"]
            .as_array()
            .context("no proof")?
            .iter()
            .map(hash_of)
            .collect::<anyhow::Result<_>>()?;
        let index = proof["leaf_index"].as_u64().context("no leaf index")?;
        verify_inclusion(&leaf, index, checkpoint.tree_size, &path, &checkpoint.root)
            .map_err(|error| anyhow::anyhow!("entry {}: {error:?}", row.seq))?;
        Ok(checkpoint.tree_size)
    }

    /// A checkpoint whose signature verifies with the operator's key.
    fn checkpoint(&mut self, value: &Value) -> anyhow::Result<Checkpoint> {
        let reported = hash_of(&value["public_key"])?;
        let public_key = *self.public_key.get_or_insert(reported);
        let checkpoint = Checkpoint {
            block_height: value["block_height"].as_u64().context("block_height")?,
            block_hash: hash_of(&value["block_hash"])?,
            tree_size: value["tree_size"].as_u64().context("tree_size")?,
            root: hash_of(&value["root"])?,
            timestamp: value["timestamp"].as_u64().context("timestamp")?,
        };
        let signature: [u8; 64] = hex::decode(value["signature"].as_str().context("signature")?)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("a signature of 64 bytes"))?;
        if verify_checkpoint(&public_key, &checkpoint, &signature).is_err() {
            bail!("a checkpoint not signed by {}", hex::encode(public_key));
        }
        Ok(checkpoint)
    }
}

fn hash_of(value: &Value) -> anyhow::Result<[u8; 32]> {
    hex::decode(value.as_str().context("a hex hash")?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a hash of 32 bytes"))
}

fn rows_of(page: &Value) -> anyhow::Result<Vec<AuditRow>> {
    let entries = page["entries"].as_array().context("no entries")?;
    entries
        .iter()
        .map(|entry| {
            Ok(AuditRow {
                seq: entry["seq"].as_u64().context("seq")?,
                at_ms: entry["at_ms"].as_u64().context("at_ms")?,
                actor: entry["actor"].as_str().context("actor")?.into(),
                kind: entry["kind"].as_str().context("kind")?.into(),
                entry: entry["entry"].as_str().context("entry")?.into(),
                previous_hash: hash_of(&entry["previous_hash"])?,
                hash: hash_of(&entry["hash"])?,
                transfer_id: entry["transfer_id"]
                    .as_str()
                    .context("transfer_id")?
                    .parse()
                    .context("transfer_id")?,
            })
        })
        .collect()
}
