//! `mileverse chain`: Ethereum from the command line. A local dev node (anvil), keys in
//! 0600 files, the genesis deployment and its deployment file, and the everyday operations
//! on it: ether for gas, MVC transfers and balances, funding and claiming reward quarters.
//! No private key is ever printed, except anvil's well-known development key by `node`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chain::deploy::{Deployment, DeploymentFile, Genesis, VestingSchedule};
use chain::operations::{self, Sent, format_amount, parse_amount};
use chain::wallet::Wallet;
use chain::{Address, DevNode, DynProvider, PrivateKeySigner, U256};

use crate::options::ClientTlsOptions;

/// A year, for the dev vesting schedules.
const YEAR_S: u64 = 365 * 24 * 60 * 60;

#[derive(clap::Subcommand)]
pub enum ChainCommand {
    /// Run a local Ethereum dev node (anvil) on 127.0.0.1 until Ctrl-C; prints its endpoint
    /// and a funded development key.
    Node {
        /// Port to listen on; a free one if not given.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Make a new secp256k1 key in a new file (mode 0600, never overwritten); prints its
    /// address.
    Keygen {
        #[arg(long)]
        key: PathBuf,
    },
    /// Print the address of the key in --key.
    Address {
        #[arg(long)]
        key: PathBuf,
    },
    /// Deploy the genesis (token, vesting, bridge, rewards, anchor) with the key in --key as
    /// the admin, fund the bridge, and write the deployment file.
    Deploy(DeployArgs),
    /// Send ether (gas money for a member's wallet on a dev chain).
    FundEth {
        #[command(flatten)]
        signer: SignerArgs,
        #[arg(long)]
        to: Address,
        /// Ether, in decimal (e.g. 0.5).
        #[arg(long)]
        eth: String,
    },
    /// Transfer MVC from the key's account.
    Transfer {
        #[command(flatten)]
        signer: SignerArgs,
        #[arg(long)]
        deployment: PathBuf,
        #[arg(long)]
        to: Address,
        /// MVC, in decimal (e.g. 1234.5).
        #[arg(long)]
        mvc: String,
    },
    /// Print the MVC balance of an address.
    Balance {
        #[arg(long)]
        rpc: String,
        #[arg(long)]
        deployment: PathBuf,
        #[arg(long)]
        address: Address,
        #[command(flatten)]
        tls: ClientTlsOptions,
    },
    /// Quarterly rewards: fund a quarter, see and claim a member's share.
    #[command(subcommand)]
    Rewards(RewardsCommand),
}

#[derive(clap::Subcommand)]
pub enum RewardsCommand {
    /// Fund the quarter that ended at --end with 4,500,000 MVC from the key's account (which
    /// needs REWARDS_ROLE); prints the quarter number.
    Fund {
        #[command(flatten)]
        signer: SignerArgs,
        #[arg(long)]
        deployment: PathBuf,
        /// The quarter's last second (Unix seconds, in the past).
        #[arg(long)]
        end: u64,
    },
    /// Claim the wallet's reward for a quarter; prints the amount and the transaction.
    Claim(ClaimArgs),
    /// Print what the wallet may claim for a quarter, without claiming.
    Claimable(ClaimArgs),
}

#[derive(clap::Args)]
pub struct SignerArgs {
    /// JSON-RPC endpoint of the node.
    #[arg(long)]
    rpc: String,
    /// File holding the private key (hex) that signs and pays gas.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    tls: ClientTlsOptions,
}

#[derive(clap::Args)]
pub struct ClaimArgs {
    #[arg(long)]
    rpc: String,
    #[arg(long)]
    deployment: PathBuf,
    #[arg(long)]
    quarter: u64,
    /// The member's wallet file (`mileverse wallet new`); defaults to
    /// $HOME/.mileverse/wallet.
    #[arg(long)]
    wallet: Option<PathBuf>,
    #[command(flatten)]
    tls: ClientTlsOptions,
}

#[derive(clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    signer: SignerArgs,
    /// The anchor's authorities (comma-separated addresses); default: the admin alone.
    #[arg(long, value_delimiter = ',')]
    authorities: Vec<Address>,
    /// Signatures a checkpoint needs; default: a majority of the authorities.
    #[arg(long)]
    threshold: Option<u64>,
    /// Who releases conversions at the bridge; default: the admin.
    #[arg(long)]
    bridge_operator: Option<Address>,
    /// MVC moved from the reserve to the bridge (only when the reserve is the admin).
    #[arg(long, default_value = "1000000")]
    bridge_funding_mvc: String,
    /// Sale treasury; default: the admin.
    #[arg(long)]
    sale: Option<Address>,
    /// Partner pool; default: the admin.
    #[arg(long)]
    partner: Option<Address>,
    /// Marketing wallet; default: the admin.
    #[arg(long)]
    marketing: Option<Address>,
    /// Reserve; default: the admin.
    #[arg(long)]
    reserved: Option<Address>,
    /// Where to write the deployment file (must not exist).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(command: ChainCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChainCommand::Node { port } => return node(port),
        ChainCommand::Keygen { key } => keygen(&key)?,
        ChainCommand::Address { key } => println!("address {}", read_key(&key)?.address()),
        other => runtime()?.block_on(run_online(other))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The commands that talk to a node.
async fn run_online(command: ChainCommand) -> anyhow::Result<()> {
    match command {
        ChainCommand::Deploy(args) => deploy(args).await,
        ChainCommand::FundEth { signer, to, eth } => {
            let provider = signer.connect()?;
            let sent = operations::send_ether(&provider, to, parse_amount(&eth)?).await;
            let sent = sent.map_err(explain)?;
            println!("sent {} ETH to {to}", format_amount(parse_amount(&eth)?));
            print_sent(&sent);
            Ok(())
        }
        ChainCommand::Transfer {
            signer,
            deployment,
            to,
            mvc,
        } => {
            let (provider, deployment) = (signer.connect()?, read_deployment(&deployment)?);
            operations::check_chain(&provider, &deployment).await?;
            let amount = parse_amount(&mvc)?;
            let sent = operations::transfer_mvc(&provider, &deployment, to, amount).await;
            let sent = sent.map_err(explain)?;
            println!("transferred {} MVC to {to}", format_amount(amount));
            print_sent(&sent);
            Ok(())
        }
        ChainCommand::Balance {
            rpc,
            deployment,
            address,
            tls,
        } => {
            let provider = chain::connect_reader(&rpc, &tls.client_tls()?)?;
            let deployment = read_deployment(&deployment)?;
            operations::check_chain(&provider, &deployment).await?;
            let balance = operations::mvc_balance(&provider, &deployment, address).await;
            println!("{} MVC", format_amount(balance.map_err(explain)?));
            Ok(())
        }
        ChainCommand::Rewards(command) => rewards(command).await,
        ChainCommand::Node { .. } | ChainCommand::Keygen { .. } | ChainCommand::Address { .. } => {
            unreachable!("handled offline")
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

impl SignerArgs {
    fn connect(&self) -> anyhow::Result<DynProvider> {
        let key = read_key(&self.key)?;
        Ok(chain::connect(&self.rpc, &[key], &self.tls.client_tls()?)?)
    }
}

/// A contract's refusal by its decoded name, else the error as it is.
fn explain(error: chain::Error) -> anyhow::Error {
    match error.revert_reason() {
        Some(reason) => anyhow::anyhow!("the contract refused: {reason}"),
        None => error.into(),
    }
}

fn print_sent(sent: &Sent) {
    println!(
        "tx {} (block {}, gas {})",
        sent.tx_hash, sent.block_number, sent.gas_used
    );
}

fn read_deployment(path: &Path) -> anyhow::Result<DeploymentFile> {
    Ok(DeploymentFile::read(path)?)
}

// ---------------------------------------------------------------------------------------
// node, keygen, address
// ---------------------------------------------------------------------------------------

/// Runs anvil until Ctrl-C or SIGTERM, then stops it.
fn node(port: Option<u16>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        // Listen before anything is printed: a signal sent once the banner is out must stop
        // the node, not kill this process and leave anvil running.
        let stop = stop_signal()?;
        let node = DevNode::start_on_port(port.unwrap_or(0)).context("cannot start anvil")?;
        let dev_key = node.keys().first().context("anvil printed no dev keys")?;
        println!("rpc {}", node.url());
        println!("dev account {}", dev_key.address());
        println!(
            "dev key {} (anvil's well-known test key, funded on this dev chain only: for \
             development, never for real funds)",
            dev_key.to_bytes()
        );
        println!("Ctrl-C stops the node");
        std::io::stdout().flush()?;
        stop.await;
        drop(node);
        println!("node stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes at the first SIGINT (Ctrl-C) or SIGTERM, counted from this call on.
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Completes at Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn keygen(path: &Path) -> anyhow::Result<()> {
    let key = operations::new_key();
    crate::wallet::write_private(path, &key.to_bytes().to_string())?;
    println!("address {}", key.address());
    println!("key saved to {} (readable by you only)", path.display());
    Ok(())
}

/// The key in `path` (hex, with or without 0x).
fn read_key(path: &Path) -> anyhow::Result<PrivateKeySigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    chain::signer(text.trim()).with_context(|| format!("{} holds no valid key", path.display()))
}

// ---------------------------------------------------------------------------------------
// deploy
// ---------------------------------------------------------------------------------------

async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    if args.out.exists() {
        bail!(
            "{} exists: a deployment file is never overwritten",
            args.out.display()
        );
    }
    if let Some(parent) = args
        .out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let funding = parse_amount(&args.bridge_funding_mvc)?;
    let provider = args.signer.connect()?;
    let admin = read_key(&args.signer.key)?.address();
    let chain_id = chain::anchor::chain_id(&provider).await?;
    let now = chain::devnode::latest_timestamp(&provider).await?;
    let genesis = genesis(&args, admin, now)?;
    let deployment = genesis.deploy(&provider).await.map_err(explain)?;
    let file = DeploymentFile::new(chain_id, &genesis, &deployment);
    print_deployment(&file, &deployment);
    if funding > U256::ZERO && genesis.reserved == admin {
        let sent = operations::transfer_mvc(&provider, &file, file.bridge, funding).await;
        let sent = sent.map_err(explain)?;
        println!(
            "bridge funded with {} MVC from the reserve (gas {})",
            format_amount(funding),
            sent.gas_used
        );
    } else if funding > U256::ZERO {
        println!(
            "bridge not funded: the reserve {} is not this key's account; transfer MVC from \
             it to {}",
            genesis.reserved, file.bridge
        );
    }
    file.write_new(&args.out)?;
    println!("deployment written to {}", args.out.display());
    Ok(())
}

/// The genesis the flags ask for, with the dev defaults: every treasury, the bridge
/// operator and the only authority are the admin; vesting to the admin over four years
/// from `now` with a one-year cliff.
fn genesis(args: &DeployArgs, admin: Address, now: u64) -> anyhow::Result<Genesis> {
    let authorities = if args.authorities.is_empty() {
        vec![admin]
    } else {
        args.authorities.clone()
    };
    let count = authorities.len() as u64;
    let threshold = args.threshold.unwrap_or(count / 2 + 1);
    if threshold == 0 || threshold > count {
        bail!("--threshold must be 1 to {count} (the number of authorities)");
    }
    let schedule = VestingSchedule {
        beneficiary: admin,
        start: now,
        duration: 4 * YEAR_S,
        cliff: YEAR_S,
    };
    Ok(Genesis {
        admin,
        team: schedule,
        advisor: schedule,
        sale: args.sale.unwrap_or(admin),
        partner: args.partner.unwrap_or(admin),
        marketing: args.marketing.unwrap_or(admin),
        reserved: args.reserved.unwrap_or(admin),
        authorities,
        threshold,
        bridge_operator: args.bridge_operator.unwrap_or(admin),
    })
}

fn print_deployment(file: &DeploymentFile, deployment: &Deployment) {
    let gas = deployment.gas;
    println!("chain {}", file.chain_id);
    println!("admin {}", file.admin);
    let rows = [
        ("team_vesting", file.team_vesting, gas.team_vesting),
        ("advisor_vesting", file.advisor_vesting, gas.advisor_vesting),
        ("token", file.token, gas.token),
        ("bridge", file.bridge, gas.bridge),
        ("rewards", file.rewards, gas.rewards),
        ("anchor", file.anchor, gas.anchor),
    ];
    for (name, address, gas_used) in rows {
        println!("{name} {address} (gas {gas_used})");
    }
    let total: u64 = rows.iter().map(|(_, _, gas_used)| gas_used).sum();
    println!("gas total {total}");
}

// ---------------------------------------------------------------------------------------
// rewards
// ---------------------------------------------------------------------------------------

async fn rewards(command: RewardsCommand) -> anyhow::Result<()> {
    match command {
        RewardsCommand::Fund {
            signer,
            deployment,
            end,
        } => {
            let (provider, deployment) = (signer.connect()?, read_deployment(&deployment)?);
            operations::check_chain(&provider, &deployment).await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            if end >= now {
                bail!("--end {end} is not in the past (it is now {now})");
            }
            let funded = operations::fund_quarter(&provider, &deployment, end).await;
            let (quarter, sent) = funded.map_err(explain)?;
            println!("quarter {quarter}");
            print_sent(&sent);
            Ok(())
        }
        RewardsCommand::Claim(args) => {
            let (provider, deployment, _) = args.connect().await?;
            let claimed = operations::claim(&provider, &deployment, args.quarter).await;
            let (amount, sent) = claimed.map_err(explain)?;
            println!("claimed {} MVC", format_amount(amount));
            print_sent(&sent);
            Ok(())
        }
        RewardsCommand::Claimable(args) => {
            let (provider, deployment, holder) = args.connect().await?;
            let amount = operations::claimable(&provider, &deployment, args.quarter, holder).await;
            println!("claimable {} MVC", format_amount(amount.map_err(explain)?));
            Ok(())
        }
    }
}

impl ClaimArgs {
    /// A provider signing with the member's wallet, the deployment, and the wallet's
    /// address.
    async fn connect(&self) -> anyhow::Result<(DynProvider, DeploymentFile, Address)> {
        let path = match &self.wallet {
            Some(path) => path.clone(),
            None => {
                let home = std::env::var_os("HOME").context("no --wallet and no $HOME")?;
                Path::new(&home).join(".mileverse").join("wallet")
            }
        };
        let phrase = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the wallet {}", path.display()))?;
        let wallet = Wallet::from_phrase(&phrase)?;
        let signer = wallet.signer().clone();
        let provider = chain::connect(&self.rpc, &[signer], &self.tls.client_tls()?)?;
        let deployment = read_deployment(&self.deployment)?;
        operations::check_chain(&provider, &deployment).await?;
        Ok((provider, deployment, wallet.address()))
    }
}
