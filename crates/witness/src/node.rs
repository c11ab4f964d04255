//! The witness at work: each poll reads the feed on from where its replay stands (bounded
//! pages), confirms after a restart that the journal still holds what it co-signed last,
//! checks what the chain anchored (when it has a node to ask), and then answers the
//! server's proposal: co-signs it if its replay produces it, waits if it is ahead, ignores
//! it if it is older than what it signed, refuses if it is someone else's history.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chain::{Address, DynProvider, PrivateKeySigner};
use gateways::follow::BlockFollower;
use journal::feed::FEED_PAGE_BLOCKS_MAX;
use ports::chain::{AnchorCheckpoint, AnchorDomain, EthAddress};

use crate::checks::{Decision, check_anchored, check_cosigned, decide, describe};
use crate::client::{Posted, ServerClient};
use crate::history::WitnessLog;
use crate::onchain::{self, ANCHORED_READ_PAGE};
use crate::state::WitnessState;
use crate::{Refusal, WitnessError, hex32, keyfile};

/// Pages of the feed read by one poll: 4,096 blocks, so one poll of a long journal ends
/// (and reports) in bounded time; the next poll reads on at once.
pub const FOLLOW_PAGES_PER_POLL_MAX: usize = 64;
/// Pages of anchored checkpoints read by one poll.
pub const ANCHORED_PAGES_PER_POLL_MAX: usize = 8;
/// Polls `run_once` waits, caught up, for a proposal that is ahead of the feed or moved.
pub const ONCE_UNSETTLED_POLLS_MAX: u32 = 20;
/// Pause between polls once caught up.
pub const POLL_MS_DEFAULT: u64 = 1000;
/// Deadline of every request to the server and of every page read from the chain.
pub const TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// How a witness is set up.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// The ledger server's base URL.
    pub server_url: String,
    /// The secp256k1 key file (mode 0600).
    pub key_file: PathBuf,
    pub state_file: PathBuf,
    /// The operator's Ed25519 key, if known beforehand; otherwise pinned on first contact.
    pub operator_public_key: Option<[u8; 32]>,
    pub poll_ms: u64,
    pub timeout_ms: u64,
    /// The anchor this witness signs for; without it, whatever the server names.
    pub chain: Option<ChainOptions>,
    /// Whom `https://` servers and nodes may be: the system's roots by default, plus the
    /// operator's CA file (`--ca-file`).
    pub tls: tls::ClientTls,
    /// The witness's credential for the block feed (an API key with `ledger.feed`, which
    /// the operator grants): the feed is not public.
    pub feed_token: Option<String>,
}

/// The anchor a witness trusts, and optionally a node to read it from.
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// The anchor contract; the server must ask for signatures for this one.
    pub anchor: EthAddress,
    /// The chain id; with `rpc_url` and no id, the node's.
    pub chain_id: Option<u64>,
    /// A node to read anchored checkpoints from (split views on chain).
    pub rpc_url: Option<String>,
}

impl WitnessConfig {
    /// Defaults: state beside the key (`KEY.state.json`), operator key pinned on first
    /// contact, [`POLL_MS_DEFAULT`], [`TIMEOUT_MS_DEFAULT`], no chain of its own.
    pub fn new(server_url: &str, key_file: &Path) -> WitnessConfig {
        WitnessConfig {
            server_url: server_url.to_string(),
            key_file: key_file.to_path_buf(),
            state_file: default_state_file(key_file),
            operator_public_key: None,
            poll_ms: POLL_MS_DEFAULT,
            timeout_ms: TIMEOUT_MS_DEFAULT,
            chain: None,
            tls: tls::ClientTls::system(),
            feed_token: None,
        }
    }
}

/// `KEY.state.json` beside the key file.
pub fn default_state_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_os_string();
    name.push(".state.json");
    PathBuf::from(name)
}

/// What became of the server's proposal in one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalOutcome {
    /// The ledger has no block yet: nothing to follow or sign.
    NoLedger,
    /// The server has no chain configured.
    NoChain,
    /// The server proposes nothing.
    NoProposal,
    /// Signed and accepted.
    Cosigned {
        checkpoint: AnchorCheckpoint,
        cosignatures: u64,
        threshold: u64,
    },
    /// At a block not replayed yet.
    Ahead(AnchorCheckpoint),
    /// Older than the checkpoint co-signed last: not signed.
    Stale(AnchorCheckpoint),
    /// Signed, but the server had moved on to another proposal meanwhile.
    Moved(AnchorCheckpoint),
}

impl ProposalOutcome {
    /// Nothing more to do until the ledger grows.
    pub fn is_settled(&self) -> bool {
        !matches!(self, ProposalOutcome::Ahead(_) | ProposalOutcome::Moved(_))
    }
}

/// One poll's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollReport {
    /// The feed's end was reached.
    pub caught_up: bool,
    /// Blocks replayed so far.
    pub block_count: u64,
    /// The last block whose operator signature was checked.
    pub signed_head: Option<AnchorCheckpoint>,
    pub proposal: ProposalOutcome,
}

/// The anchor as this witness knows it.
struct ChainView {
    anchor: EthAddress,
    chain_id: Option<u64>,
    provider: Option<DynProvider>,
    /// The chain id the node reported, once asked.
    node_chain_id: Option<u64>,
    /// Anchored checkpoints before this index were checked against the replay.
    next_index: u64,
}

impl ChainView {
    /// Asks the node (once) which chain it serves: the chain id to sign for when none was
    /// configured, and a node of another chain than the configured one is refused, since
    /// its anchor would be another contract.
    async fn ask_node_chain_id(&mut self, timeout: Duration) -> Result<(), WitnessError> {
        let Some(provider) = &self.provider else {
            return Ok(());
        };
        if self.node_chain_id.is_some() {
            return Ok(());
        }
        let node = onchain::chain_id(provider, timeout).await?;
        match self.chain_id {
            Some(configured) if configured != node => Err(WitnessError::Config(format!(
                "the node serves chain {node}, the anchor is on chain {configured}"
            ))),
            _ => {
                self.chain_id = Some(node);
                self.node_chain_id = Some(node);
                Ok(())
            }
        }
    }
}

/// A witness node.
pub struct Witness {
    config: WitnessConfig,
    signer: PrivateKeySigner,
    server: ServerClient,
    follower: BlockFollower,
    state: WitnessState,
    /// `None` until the operator key is pinned.
    log: Option<WitnessLog>,
    /// The replay was seen to hold the checkpoint co-signed last (true when there is none).
    cosigned_confirmed: bool,
    chain: Option<ChainView>,
    /// Set by the first refusal: a refused witness signs nothing more.
    refused: Option<Refusal>,
}

impl Witness {
    /// Loads the key and the state; contacts nobody yet.
    pub fn open(config: WitnessConfig) -> Result<Witness, WitnessError> {
        let signer = keyfile::load_key(&config.key_file)?;
        let mut state = WitnessState::load(&config.state_file)?.unwrap_or_default();
        if let Some(configured) = config.operator_public_key {
            pin_configured(&mut state, configured)?;
            state.save(&config.state_file)?;
        }
        let chain = match &config.chain {
            Some(options) => Some(ChainView {
                anchor: options.anchor,
                chain_id: options.chain_id,
                provider: options
                    .rpc_url
                    .as_deref()
                    .map(|rpc_url| onchain::provider(rpc_url, &config.tls))
                    .transpose()?,
                node_chain_id: None,
                next_index: 0,
            }),
            None => None,
        };
        Ok(Witness {
            server: ServerClient::new(&config.server_url, config.timeout_ms, &config.tls),
            follower: BlockFollower::new(&config.server_url, config.timeout_ms, &config.tls)
                .with_token(config.feed_token.clone()),
            log: state.operator_public_key.map(WitnessLog::new),
            cosigned_confirmed: state.last_cosigned.is_none(),
            signer,
            state,
            chain,
            config,
            refused: None,
        })
    }

    /// The Ethereum address the anchor must list as an authority.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub fn state(&self) -> &WitnessState {
        &self.state
    }

    /// The replayed log, once the operator key is pinned.
    pub fn log(&self) -> Option<&WitnessLog> {
        self.log.as_ref()
    }

    /// One round: follow, check, answer the proposal. A refusal is returned again by every
    /// later poll.
    pub async fn poll(&mut self) -> Result<PollReport, WitnessError> {
        if let Some(refusal) = &self.refused {
            return Err(refusal.clone().into());
        }
        let outcome = self.poll_inner().await;
        if let Err(WitnessError::Refused(refusal)) = &outcome {
            self.refused = Some(refusal.clone());
        }
        outcome
    }

    /// Polls until caught up with the proposal settled (co-signed, absent, or stale).
    pub async fn run_once(&mut self) -> Result<PollReport, WitnessError> {
        let mut unsettled = 0;
        loop {
            let report = self.poll().await?;
            if !report.caught_up {
                continue;
            }
            if report.proposal.is_settled() {
                return Ok(report);
            }
            unsettled += 1;
            if unsettled >= ONCE_UNSETTLED_POLLS_MAX {
                return Err(WitnessError::Unsettled(format!("{:?}", report.proposal)));
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// Polls forever; failures of the server or the chain are logged and tried again.
    /// Returns only what needs a person: a refusal, or a local error (key, state file).
    pub async fn run(&mut self) -> WitnessError {
        loop {
            match self.poll().await {
                Ok(report) if !report.caught_up => continue,
                Ok(_) => {}
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, "poll failed; trying again");
                }
                Err(error) => return error,
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    async fn poll_inner(&mut self) -> Result<PollReport, WitnessError> {
        if self.log.is_none() && !self.pin_on_first_contact().await? {
            return Ok(PollReport {
                caught_up: true,
                block_count: 0,
                signed_head: None,
                proposal: ProposalOutcome::NoLedger,
            });
        }
        let caught_up = self.catch_up().await?;
        self.confirm_cosigned(caught_up)?;
        self.check_chain().await?;
        let proposal = self.answer_proposal().await?;
        let log = self.log.as_ref().expect("pinned above");
        Ok(PollReport {
            caught_up,
            block_count: log.block_count(),
            signed_head: log.signed_head(),
            proposal,
        })
    }

    /// Pins the operator key the server's checkpoint names (trust on first use: every block
    /// after is checked against it, and the state file keeps it); false while no block.
    async fn pin_on_first_contact(&mut self) -> Result<bool, WitnessError> {
        let Some(key) = self.server.operator_public_key().await? else {
            return Ok(false);
        };
        let mut state = self.state.clone();
        state.operator_public_key = Some(key);
        state.save(&self.config.state_file)?;
        self.state = state;
        self.log = Some(WitnessLog::new(key));
        tracing::info!(operator_public_key = %hex32(&key), "pinned the operator key");
        Ok(true)
    }

    /// Reads and replays up to [`FOLLOW_PAGES_PER_POLL_MAX`] pages; true at the feed's end.
    async fn catch_up(&mut self) -> Result<bool, WitnessError> {
        let log = self.log.as_mut().expect("pinned before following");
        for _ in 0..FOLLOW_PAGES_PER_POLL_MAX {
            let blocks = self
                .follower
                .blocks(log.block_count(), FEED_PAGE_BLOCKS_MAX)
                .await?;
            for block in &blocks {
                log.apply(block)?;
            }
            if blocks.len() < FEED_PAGE_BLOCKS_MAX {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn confirm_cosigned(&mut self, caught_up: bool) -> Result<(), Refusal> {
        if self.cosigned_confirmed {
            return Ok(());
        }
        let log = self.log.as_ref().expect("pinned before following");
        let Some(last) = &self.state.last_cosigned else {
            self.cosigned_confirmed = true;
            return Ok(());
        };
        self.cosigned_confirmed = check_cosigned(log, last, caught_up)?;
        if self.cosigned_confirmed {
            tracing::info!(checkpoint = %describe(last), "the journal still holds the checkpoint co-signed last");
        }
        Ok(())
    }

    /// Checks the anchored checkpoints the replay has reached, from where the last poll
    /// stopped.
    async fn check_chain(&mut self) -> Result<(), WitnessError> {
        let timeout = self.timeout();
        let log = self.log.as_ref().expect("pinned before following");
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        chain.ask_node_chain_id(timeout).await?;
        let Some(provider) = &chain.provider else {
            return Ok(());
        };
        for _ in 0..ANCHORED_PAGES_PER_POLL_MAX {
            let page =
                onchain::anchored_page(provider, chain.anchor, chain.next_index, timeout).await?;
            let checked = check_anchored(log, &page)?;
            chain.next_index += checked as u64;
            if checked < page.len() || (page.len() as u64) < ANCHORED_READ_PAGE {
                break;
            }
        }
        Ok(())
    }

    async fn answer_proposal(&mut self) -> Result<ProposalOutcome, WitnessError> {
        let Some(info) = self.server.anchor().await? else {
            return Ok(ProposalOutcome::NoChain);
        };
        self.check_domain(&info.domain).await?;
        let Some(proposal) = info.proposal else {
            return Ok(ProposalOutcome::NoProposal);
        };
        if !self.cosigned_confirmed {
            return Ok(ProposalOutcome::Ahead(proposal));
        }
        let log = self.log.as_ref().expect("pinned before following");
        match decide(log, &proposal, self.state.last_cosigned.as_ref())? {
            Decision::NotYet => Ok(ProposalOutcome::Ahead(proposal)),
            Decision::Stale => {
                tracing::info!(proposal = %describe(&proposal), "older than the checkpoint co-signed last; not signed");
                Ok(ProposalOutcome::Stale(proposal))
            }
            Decision::Sign => {
                // Recorded before the signature leaves: after a crash the witness still
                // knows it vouched for this checkpoint, and never signs below it.
                self.record_cosigned(proposal)?;
                self.cosign(proposal, info.domain).await
            }
            Decision::SignAgain => self.cosign(proposal, info.domain).await,
        }
    }

    /// Refuses a domain other than the configured anchor and chain id.
    async fn check_domain(&mut self, offered: &AnchorDomain) -> Result<(), WitnessError> {
        let timeout = self.timeout();
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        chain.ask_node_chain_id(timeout).await?;
        let wrong = |detail: String| Err(Refusal::WrongAnchor { detail }.into());
        if offered.anchor != chain.anchor {
            return wrong(format!(
                "the server asks for signatures for anchor {}, this witness signs for {}",
                Address::from(offered.anchor),
                Address::from(chain.anchor)
            ));
        }
        match chain.chain_id {
            Some(id) if id != offered.chain_id => wrong(format!(
                "the server names chain {}, this witness signs for chain {id}",
                offered.chain_id
            )),
            _ => Ok(()),
        }
    }

    fn record_cosigned(&mut self, checkpoint: AnchorCheckpoint) -> Result<(), WitnessError> {
        let mut state = self.state.clone();
        state.last_cosigned = Some(checkpoint);
        state.save(&self.config.state_file)?;
        self.state = state;
        Ok(())
    }

    async fn cosign(
        &mut self,
        checkpoint: AnchorCheckpoint,
        domain: AnchorDomain,
    ) -> Result<ProposalOutcome, WitnessError> {
        let signature = chain::anchor::sign(
            &self.signer,
            &chain::Checkpoint {
                height: checkpoint.height,
                tree_size: checkpoint.tree_size,
                root: checkpoint.root.into(),
            },
            Address::from(domain.anchor),
            domain.chain_id,
        )
        .map_err(|error| WitnessError::Chain(error.to_string()))?;
        match self
            .server
            .post_cosignature(&checkpoint, &signature.bytes)
            .await?
        {
            Posted::Accepted {
                cosignatures,
                threshold,
            } => {
                tracing::info!(
                    height = checkpoint.height,
                    tree_size = checkpoint.tree_size,
                    root = %hex32(&checkpoint.root),
                    cosignatures,
                    threshold,
                    "co-signed checkpoint"
                );
                Ok(ProposalOutcome::Cosigned {
                    checkpoint,
                    cosignatures,
                    threshold,
                })
            }
            Posted::NotTheProposal(detail) => {
                tracing::info!(checkpoint = %describe(&checkpoint), %detail, "the server moved to another proposal");
                Ok(ProposalOutcome::Moved(checkpoint))
            }
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.config.poll_ms)
    }
}

/// Adds the configured operator key to the state, refusing one that contradicts the key
/// pinned earlier.
fn pin_configured(state: &mut WitnessState, configured: [u8; 32]) -> Result<(), WitnessError> {
    match state.operator_public_key {
        Some(pinned) if pinned != configured => Err(WitnessError::Config(format!(
            "the state file pins operator key {}, not {}",
            hex32(&pinned),
            hex32(&configured)
        ))),
        _ => {
            state.operator_public_key = Some(configured);
            Ok(())
        }
    }
}
