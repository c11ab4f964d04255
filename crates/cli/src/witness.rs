//! `mileverse witness`: run a witness node (docs/chain.md, "Witnesses"), and the
//! `verify --chain-rpc` comparison of a store with the checkpoints anchored on chain.
//!
//! Exit codes: 0 when `--once` caught up and the proposal is settled (co-signed, absent,
//! or older than what the witness signed); 3 when the witness refuses (the report, JSON
//! with `kind`, `height` and `detail`, goes to stderr and to `--report`); 1 for any other
//! error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ::witness::node::{POLL_MS_DEFAULT, TIMEOUT_MS_DEFAULT, default_state_file};
use ::witness::{
    ChainOptions, PollReport, ProposalOutcome, Refusal, Witness, WitnessConfig, WitnessError,
    check_anchored, checks::describe, client::parse_address, onchain,
};
use anyhow::Context;
use journal::replay::Replayed;
use store::Store;

/// The exit code of a refusal: the server misbehaves, a person must look.
pub const REFUSED_EXIT_CODE: u8 = 3;

#[derive(clap::Args)]
pub struct WitnessArgs {
    /// The ledger server's base URL (http://host:port or https://host:port).
    #[arg(long)]
    server: String,
    /// The witness's key file (hex secp256k1 private key, mode 0600; `mileverse chain
    /// keygen` makes one and prints the address to register as an authority).
    #[arg(long)]
    key: PathBuf,
    /// The state file: the pinned operator key and the checkpoint co-signed last
    /// (default: KEY.state.json).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Also write a refusal's report (JSON) to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Pause between polls once caught up.
    #[arg(long, default_value_t = POLL_MS_DEFAULT)]
    poll_ms: u64,
    /// Deadline of every request to the server and of every read from the chain.
    #[arg(long, default_value_t = TIMEOUT_MS_DEFAULT)]
    timeout_ms: u64,
    /// Catch up, answer the current proposal, and exit.
    #[arg(long)]
    once: bool,
    /// The operator's Ed25519 public key (hex); without it, pinned on first contact.
    #[arg(long)]
    operator_public_key: Option<String>,
    /// The credential for the block feed: an API key with the `ledger.feed` permission
    /// (docs/operators.md), which the operator makes for each witness.
    #[arg(long, env = "MILEVERSE_FEED_TOKEN", hide_env_values = true)]
    feed_token: Option<String>,
    #[command(flatten)]
    anchor: AnchorArgs,
    #[command(flatten)]
    client_tls: crate::options::ClientTlsOptions,
}

/// Which anchor to trust and where to read it.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("anchor_source").args(["chain_deployment", "anchor"])))]
pub struct AnchorArgs {
    /// JSON-RPC endpoint of an Ethereum node, to read the anchored checkpoints
    /// (`verify --chain URL` says the same).
    #[arg(long, visible_alias = "chain", requires = "anchor_source")]
    chain_rpc: Option<String>,
    /// The deployment file of `mileverse chain deploy`: the anchor and its chain id.
    #[arg(long)]
    chain_deployment: Option<PathBuf>,
    /// The anchor contract's address (instead of --chain-deployment).
    #[arg(long)]
    anchor: Option<String>,
    /// The anchor's chain id (with --anchor; by default the node's).
    #[arg(long, requires = "anchor")]
    chain_id: Option<u64>,
}

pub fn run(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    let config = witness_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut witness = Witness::open(config.clone())?;
        eprintln!(
            "witness {} following {} (state {})",
            witness.address(),
            config.server_url,
            config.state_file.display()
        );
        let outcome = if args.once {
            witness.run_once().await
        } else {
            tokio::select! {
                error = witness.run() => Err(error),
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
        };
        match outcome {
            Ok(report) => {
                println!("{}", summary(&report));
                Ok(ExitCode::SUCCESS)
            }
            Err(WitnessError::Refused(refusal)) => {
                report_refusal(&refusal, &witness, &config, args.report.as_deref())?;
                Ok(ExitCode::from(REFUSED_EXIT_CODE))
            }
            Err(error) => Err(error.into()),
        }
    })
}

fn witness_config(args: &WitnessArgs) -> anyhow::Result<WitnessConfig> {
    let mut config = WitnessConfig::new(&args.server, &args.key);
    config.state_file = args
        .state
        .clone()
        .unwrap_or_else(|| default_state_file(&args.key));
    config.poll_ms = args.poll_ms;
    config.timeout_ms = args.timeout_ms;
    config.operator_public_key = args
        .operator_public_key
        .as_deref()
        .map(crate::options::parse_public_key)
        .transpose()?;
    config.chain = chain_options(&args.anchor)?;
    config.tls = args.client_tls.client_tls()?;
    config.feed_token = args.feed_token.clone();
    Ok(config)
}

/// The anchor named by `--chain-deployment` or `--anchor`, with the node to read it from.
fn chain_options(args: &AnchorArgs) -> anyhow::Result<Option<ChainOptions>> {
    let (anchor, chain_id) = if let Some(path) = &args.chain_deployment {
        let deployment = chain::deploy::DeploymentFile::read(path)?;
        (deployment.anchor.into_array(), Some(deployment.chain_id))
    } else if let Some(text) = &args.anchor {
        let anchor = parse_address(text).context("--anchor is not a 0x address")?;
        (anchor, args.chain_id)
    } else {
        return Ok(None);
    };
    Ok(Some(ChainOptions {
        anchor,
        chain_id,
        rpc_url: args.chain_rpc.clone(),
    }))
}

/// `caught up at block 12 (tree size 340, root …); co-signed block 12 (…), 2 of 2`.
fn summary(report: &PollReport) -> String {
    let head = match &report.signed_head {
        Some(head) => format!("signed head {}", describe(head)),
        None => "no signed block yet".to_string(),
    };
    let proposal = match &report.proposal {
        ProposalOutcome::NoLedger => "the ledger has no block yet".to_string(),
        ProposalOutcome::NoChain => "the server has no chain configured".to_string(),
        ProposalOutcome::NoProposal => "no proposal".to_string(),
        ProposalOutcome::Cosigned {
            checkpoint,
            cosignatures,
            threshold,
        } => format!(
            "co-signed {} ({cosignatures} of {threshold})",
            describe(checkpoint)
        ),
        ProposalOutcome::Stale(checkpoint) => format!(
            "proposal {} is older than the checkpoint co-signed last; not signed",
            describe(checkpoint)
        ),
        ProposalOutcome::Ahead(checkpoint) | ProposalOutcome::Moved(checkpoint) => {
            format!("proposal {} not settled", describe(checkpoint))
        }
    };
    format!(
        "caught up: {} blocks, {head}; {proposal}",
        report.block_count
    )
}

/// The refusal as JSON on stderr and in `--report`.
fn report_refusal(
    refusal: &Refusal,
    witness: &Witness,
    config: &WitnessConfig,
    path: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut report = refusal.report();
    report["witness"] = witness.address().to_string().into();
    report["server"] = config.server_url.clone().into();
    let text = serde_json::to_string_pretty(&report)?;
    eprintln!("refused: {refusal}");
    eprintln!("{text}");
    if let Some(path) = path {
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    Ok(())
}

/// `verify --chain-rpc`: every anchored checkpoint must be a block of the replayed store,
/// with its tree size and, at that size, its root. Without `--chain-rpc`, nothing to do.
pub fn verify_anchored(
    args: &AnchorArgs,
    tls: &tls::ClientTls,
    store: &mut dyn Store,
    replayed: &Replayed,
) -> anyhow::Result<ExitCode> {
    let Some(rpc_url) = &args.chain_rpc else {
        anyhow::ensure!(
            args.anchor.is_none() && args.chain_deployment.is_none(),
            "--anchor and --chain-deployment need --chain-rpc"
        );
        return Ok(ExitCode::SUCCESS);
    };
    let options = chain_options(args)?.context("--chain-rpc needs the anchor")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let anchored = runtime.block_on(read_anchored(rpc_url, &options, tls))?;
    let history = onchain::store_history(store, &replayed.log, &anchored)?;
    match check_anchored(&history, &anchored) {
        Ok(checked) if checked == anchored.len() => {
            println!("{checked} anchored checkpoints match");
            Ok(ExitCode::SUCCESS)
        }
        Ok(checked) => {
            let beyond = &anchored[checked];
            println!(
                "verify failed: anchored checkpoint #{} is {}, but the store holds {} blocks",
                beyond.index,
                describe(&beyond.checkpoint),
                replayed.block_count
            );
            Ok(ExitCode::FAILURE)
        }
        Err(refusal) => {
            println!("verify failed: {refusal}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn read_anchored(
    rpc_url: &str,
    options: &ChainOptions,
    tls: &tls::ClientTls,
) -> anyhow::Result<Vec<ports::chain::AnchoredCheckpoint>> {
    let timeout = Duration::from_millis(TIMEOUT_MS_DEFAULT);
    let provider = onchain::provider(rpc_url, tls)?;
    let node = onchain::chain_id(&provider, timeout).await?;
    if let Some(expected) = options.chain_id {
        anyhow::ensure!(
            node == expected,
            "the node at {rpc_url} serves chain {node}, the anchor is on chain {expected}"
        );
    }
    Ok(onchain::anchored_all(&provider, options.anchor, timeout).await?)
}
