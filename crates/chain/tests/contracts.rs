//! The contracts on a real chain (MV-13): each test starts its own anvil on loopback,
//! deploys the genesis and drives one contract through its predictable scenarios, moving
//! the chain's clock where a scenario needs time to pass.
//!
//! Reverts are matched by custom error (selector and arguments), decoded from the revert
//! data the node returns when it estimates the failing transaction's gas.

use alloy::network::Ethereum;
use alloy::primitives::{Bytes, U256, keccak256};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolError};
use chain::anchor::{self, AuthoritySignature, Checkpoint};
use chain::contracts::{Anchor, ConversionBridge, MVC, MvcVesting, RewardDistributor};
use chain::devnode::{self, DevNode};
use chain::{Address, B256, Deployment, Genesis, VestingSchedule};

const DECIMALS: u8 = 18;
/// One MVC in its smallest unit.
const UNIT: u128 = 1_000_000_000_000_000_000;
const CHAIN_ID: u64 = 31_337;
const CLAIM_WINDOW: u64 = 365 * 24 * 60 * 60;
const VESTING_DURATION: u64 = 10_000;
const VESTING_CLIFF: u64 = 2_000;

fn mvc(whole: u128) -> U256 {
    U256::from(whole) * U256::from(UNIT)
}

fn pool() -> U256 {
    mvc(4_500_000)
}

fn role(name: &str) -> B256 {
    keccak256(name)
}

/// A key that is not one of anvil's dev accounts (holders, authorities).
fn key(seed: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(seed)).expect("a valid key")
}

/// A dev node with the genesis deployed.
///
/// Dev accounts: 0 deploys, 1 is the admin, 2 the sale treasury, 3 partner, 4 marketing,
/// 5 reserved, 6 team beneficiary, 7 advisor beneficiary, 8 and 9 are strangers. Holders
/// A–D, the three authorities and the bridge operator have keys of their own.
struct World {
    _node: DevNode,
    provider: DynProvider,
    genesis: Genesis,
    deployment: Deployment,
    accounts: Vec<Address>,
    holders: Vec<PrivateKeySigner>,
    authorities: Vec<PrivateKeySigner>,
    operator: Address,
}

impl World {
    async fn new() -> World {
        let node = DevNode::start().expect("anvil starts");
        let holders: Vec<PrivateKeySigner> = (0xA1..=0xA4).map(key).collect();
        let operator = key(0xC5);
        let mut own_keys = holders.clone();
        own_keys.push(operator.clone());
        let provider = node.provider(&own_keys).expect("provider");
        for own_key in &own_keys {
            devnode::set_balance(&provider, own_key.address(), mvc(10))
                .await
                .expect("gas money");
        }
        let accounts = node.accounts();
        let authorities: Vec<PrivateKeySigner> = (0xB1..=0xB3).map(key).collect();
        let now = devnode::latest_timestamp(&provider)
            .await
            .expect("latest block");
        let schedule = |beneficiary| VestingSchedule {
            beneficiary,
            start: now + 1_000,
            duration: VESTING_DURATION,
            cliff: VESTING_CLIFF,
        };
        let genesis = Genesis {
            admin: accounts[1],
            team: schedule(accounts[6]),
            advisor: schedule(accounts[7]),
            sale: accounts[2],
            partner: accounts[3],
            marketing: accounts[4],
            reserved: accounts[5],
            authorities: authorities.iter().map(PrivateKeySigner::address).collect(),
            threshold: 2,
            bridge_operator: operator.address(),
        };
        let deployment = genesis.deploy(&provider).await.expect("genesis deploys");
        World {
            _node: node,
            provider,
            genesis,
            deployment,
            accounts,
            holders,
            authorities,
            operator: operator.address(),
        }
    }

    fn token(&self) -> MVC::MVCInstance<DynProvider> {
        MVC::new(self.deployment.token, self.provider.clone())
    }

    fn rewards(&self) -> RewardDistributor::RewardDistributorInstance<DynProvider> {
        RewardDistributor::new(self.deployment.rewards, self.provider.clone())
    }

    fn anchor(&self) -> Anchor::AnchorInstance<DynProvider> {
        Anchor::new(self.deployment.anchor, self.provider.clone())
    }

    fn bridge(&self) -> ConversionBridge::ConversionBridgeInstance<DynProvider> {
        ConversionBridge::new(self.deployment.bridge, self.provider.clone())
    }

    /// Moves `amount` MVC units from the reserve to the bridge.
    async fn fund_bridge(&self, amount: U256) {
        let reserved = self.genesis.reserved;
        self.transfer(reserved, self.deployment.bridge, amount)
            .await;
    }

    async fn release(
        &self,
        id: B256,
        to: Address,
        amount: U256,
    ) -> Result<TransactionReceipt, chain::Error> {
        let bridge = self.bridge();
        let call = bridge.release(id, to, amount).from(self.operator);
        mined(call.send().await).await
    }

    async fn cancel(&self, id: B256) -> Result<TransactionReceipt, chain::Error> {
        mined(self.bridge().cancel(id).from(self.operator).send().await).await
    }

    fn holder(&self, index: usize) -> Address {
        self.holders[index].address()
    }

    fn admin(&self) -> Address {
        self.genesis.admin
    }

    fn sale(&self) -> Address {
        self.genesis.sale
    }

    async fn balance(&self, account: Address) -> U256 {
        self.token()
            .balanceOf(account)
            .call()
            .await
            .expect("balanceOf")
    }

    async fn now(&self) -> u64 {
        devnode::latest_timestamp(&self.provider)
            .await
            .expect("latest block")
    }

    /// Moves `amount` MVC units from `from` to `to`.
    async fn transfer(&self, from: Address, to: Address, amount: U256) -> TransactionReceipt {
        mined(self.token().transfer(to, amount).from(from).send().await)
            .await
            .expect("transfer")
    }

    /// The next transaction will be mined at `timestamp`.
    async fn at(&self, timestamp: u64) {
        devnode::set_next_block_timestamp(&self.provider, timestamp)
            .await
            .expect("set time");
    }

    async fn mine_at(&self, timestamp: u64) {
        devnode::mine_at(&self.provider, timestamp)
            .await
            .expect("mine");
    }

    /// Lets the sale treasury fund quarters: REWARDS_ROLE and an allowance for ten pools.
    async fn make_sale_the_funder(&self) {
        let rewards_role = role("REWARDS_ROLE");
        let (rewards, token) = (self.rewards(), self.token());
        let grant = rewards
            .grantRole(rewards_role, self.sale())
            .from(self.admin());
        mined(grant.send().await).await.expect("grant REWARDS_ROLE");
        let approve = token.approve(self.deployment.rewards, pool() * U256::from(10));
        mined(approve.from(self.sale()).send().await)
            .await
            .expect("approve");
    }

    async fn fund(&self, end: u64) -> Result<TransactionReceipt, chain::Error> {
        mined(self.rewards().fund(end).from(self.sale()).send().await).await
    }

    async fn claim(
        &self,
        holder: Address,
        quarter: u64,
    ) -> Result<TransactionReceipt, chain::Error> {
        mined(
            self.rewards()
                .claim(U256::from(quarter))
                .from(holder)
                .send()
                .await,
        )
        .await
    }

    fn checkpoint_signatures(
        &self,
        checkpoint: &Checkpoint,
        signers: &[usize],
    ) -> Vec<AuthoritySignature> {
        signers
            .iter()
            .map(|&index| {
                anchor::sign(
                    &self.authorities[index],
                    checkpoint,
                    self.deployment.anchor,
                    CHAIN_ID,
                )
                .expect("sign")
            })
            .collect()
    }

    async fn submit(
        &self,
        checkpoint: &Checkpoint,
        signatures: &[AuthoritySignature],
    ) -> Result<TransactionReceipt, chain::Error> {
        anchor::submit_as_given(
            &self.provider,
            self.deployment.anchor,
            checkpoint,
            signatures,
        )
        .await
    }
}

/// The receipt of a sent transaction; an error if sending (gas estimation) or the
/// transaction failed.
async fn mined(
    sent: Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
) -> Result<TransactionReceipt, chain::Error> {
    chain::confirm(sent?).await
}

/// The custom error `E` a call reverted with; panics if it succeeded or failed otherwise.
fn reverted<E: SolError, T: std::fmt::Debug>(result: Result<T, impl Into<chain::Error>>) -> E {
    let error = match result {
        Ok(value) => panic!("expected {} but it succeeded: {value:?}", E::SIGNATURE),
        Err(error) => error.into(),
    };
    let data = match &error {
        chain::Error::Contract(contract) => contract.as_revert_data(),
        _ => None,
    };
    let Some(data) = data else {
        panic!("expected {} but got no revert data: {error}", E::SIGNATURE);
    };
    E::abi_decode(&data)
        .unwrap_or_else(|_| panic!("expected {} but got revert data {data}", E::SIGNATURE))
}

fn checkpoint(height: u64, tree_size: u64) -> Checkpoint {
    Checkpoint {
        height,
        tree_size,
        root: keccak256(height.to_be_bytes()),
    }
}

// ---------------------------------------------------------------------------------------
// The dev node and the helpers of `anchor`
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn dev_node_serves_on_loopback_with_ten_funded_keys_and_stops_on_drop() {
    let node = DevNode::start().expect("anvil starts");
    let url = node.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(node.keys().len(), 10);
    assert_eq!(
        node.accounts()[0],
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse::<Address>()
            .unwrap()
    );
    let provider = node.provider(&[]).expect("provider");
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let balance = provider.get_balance(node.accounts()[9]).await.unwrap();
    assert_eq!(balance, mvc(10_000));
    let address: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    drop(node);
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "anvil still answers after drop"
    );
}

#[test]
fn signatures_are_put_in_ascending_signer_order_once_each() {
    let checkpoint = checkpoint(1, 1);
    let anchor_address = Address::repeat_byte(0x42);
    let keys: Vec<PrivateKeySigner> = (0xB1..=0xB3).map(key).collect();
    let mut signatures: Vec<AuthoritySignature> = keys
        .iter()
        .map(|key| anchor::sign(key, &checkpoint, anchor_address, CHAIN_ID).unwrap())
        .collect();
    signatures.push(signatures[0]);
    signatures.reverse();
    let ordered = anchor::in_signer_order(signatures);
    assert_eq!(ordered.len(), 3);
    assert!(
        ordered
            .windows(2)
            .all(|pair| pair[0].signer < pair[1].signer)
    );
    let hash = anchor::signing_hash(&checkpoint, anchor_address, CHAIN_ID);
    for signature in &ordered {
        let recovered = AuthoritySignature::recover(signature.bytes, hash).unwrap();
        assert_eq!(recovered.signer, signature.signer);
    }
    let other_chain = anchor::signing_hash(&checkpoint, anchor_address, 1);
    assert_ne!(
        AuthoritySignature::recover(ordered[0].bytes, other_chain)
            .unwrap()
            .signer,
        ordered[0].signer
    );
}

// ---------------------------------------------------------------------------------------
// MVC
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn mvc_mints_the_whole_cap_to_the_six_allocations_at_deployment() {
    let world = World::new().await;
    let token = world.token();
    assert_eq!(token.name().call().await.unwrap(), "MileVerse Coin");
    assert_eq!(token.symbol().call().await.unwrap(), "MVC");
    assert_eq!(token.decimals().call().await.unwrap(), DECIMALS);
    let cap = mvc(3_000_000_000);
    assert_eq!(token.cap().call().await.unwrap(), cap);
    assert_eq!(token.totalSupply().call().await.unwrap(), cap);
    let shares = [
        (world.sale(), 30),
        (world.deployment.team_vesting, 15),
        (world.genesis.partner, 10),
        (world.deployment.advisor_vesting, 3),
        (world.genesis.marketing, 10),
        (world.genesis.reserved, 32),
    ];
    let mut sum = U256::ZERO;
    for (account, percent) in shares {
        let balance = world.balance(account).await;
        assert_eq!(
            balance,
            cap * U256::from(percent) / U256::from(100),
            "{account}: {percent}%"
        );
        sum += balance;
    }
    assert_eq!(sum, cap);
    assert_eq!(
        world.balance(world.accounts[0]).await,
        U256::ZERO,
        "the deployer keeps nothing"
    );
}

#[tokio::test]
async fn mvc_has_no_way_to_mint_more() {
    let world = World::new().await;
    let artifact: serde_json::Value =
        serde_json::from_str(include_str!("../../../contracts/artifacts/MVC.json")).unwrap();
    let functions: Vec<&str> = artifact["abi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "function")
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert!(!functions.is_empty());
    assert!(
        functions
            .iter()
            .all(|name| !name.to_lowercase().contains("mint")),
        "a mint function in the ABI: {functions:?}"
    );
    // Nor does the bytecode answer a mint selector: the call falls through and reverts.
    for signature in [
        "mint(address,uint256)",
        "mint(uint256)",
        "issue(address,uint256)",
    ] {
        let selector = &keccak256(signature)[..4];
        let mut input = selector.to_vec();
        input.extend_from_slice(&[0u8; 64]);
        let request = TransactionRequest::default()
            .from(world.admin())
            .to(world.deployment.token)
            .input(Bytes::from(input).into());
        assert!(
            world.provider.call(request).await.is_err(),
            "{signature} answered"
        );
    }
    assert_eq!(
        world.token().totalSupply().call().await.unwrap(),
        world.token().cap().call().await.unwrap(),
        "the cap is reached"
    );
}

#[tokio::test]
async fn mvc_pauses_only_by_pauser_and_blocks_transfers_while_paused() {
    let world = World::new().await;
    let token = world.token();
    let pauser = role("PAUSER_ROLE");
    let stranger = world.accounts[8];
    let denied: MVC::AccessControlUnauthorizedAccount =
        reverted(token.pause().from(stranger).send().await);
    assert_eq!((denied.account, denied.neededRole), (stranger, pauser));

    mined(token.pause().from(world.admin()).send().await)
        .await
        .expect("admin pauses");
    assert!(token.paused().call().await.unwrap());
    let paused: MVC::EnforcedPause = reverted(
        token
            .transfer(stranger, mvc(1))
            .from(world.sale())
            .send()
            .await,
    );
    assert_eq!(paused, MVC::EnforcedPause {});
    let denied: MVC::AccessControlUnauthorizedAccount =
        reverted(token.unpause().from(stranger).send().await);
    assert_eq!(denied.neededRole, pauser);

    mined(token.unpause().from(world.admin()).send().await)
        .await
        .expect("admin unpauses");
    assert!(!token.paused().call().await.unwrap());
    world.transfer(world.sale(), stranger, mvc(1)).await;
    assert_eq!(world.balance(stranger).await, mvc(1));
}

#[tokio::test]
async fn mvc_roles_are_granted_and_revoked_by_the_admin_only() {
    let world = World::new().await;
    let token = world.token();
    let (admin_role, pauser) = (B256::ZERO, role("PAUSER_ROLE"));
    let (helper, stranger) = (world.accounts[8], world.accounts[9]);
    assert!(
        token
            .hasRole(admin_role, world.admin())
            .call()
            .await
            .unwrap()
    );
    assert!(
        !token
            .hasRole(admin_role, world.accounts[0])
            .call()
            .await
            .unwrap(),
        "deployer has no role"
    );

    let denied: MVC::AccessControlUnauthorizedAccount = reverted(
        token
            .grantRole(pauser, stranger)
            .from(stranger)
            .send()
            .await,
    );
    assert_eq!((denied.account, denied.neededRole), (stranger, admin_role));

    mined(
        token
            .grantRole(pauser, helper)
            .from(world.admin())
            .send()
            .await,
    )
    .await
    .unwrap();
    mined(token.pause().from(helper).send().await)
        .await
        .expect("new pauser pauses");
    mined(token.unpause().from(helper).send().await)
        .await
        .expect("new pauser unpauses");
    let denied: MVC::AccessControlUnauthorizedAccount =
        reverted(token.revokeRole(pauser, helper).from(helper).send().await);
    assert_eq!(denied.neededRole, admin_role, "a pauser cannot revoke");

    mined(
        token
            .revokeRole(pauser, helper)
            .from(world.admin())
            .send()
            .await,
    )
    .await
    .unwrap();
    assert!(!token.hasRole(pauser, helper).call().await.unwrap());
    let denied: MVC::AccessControlUnauthorizedAccount =
        reverted(token.pause().from(helper).send().await);
    assert_eq!((denied.account, denied.neededRole), (helper, pauser));
}

#[tokio::test]
async fn mvc_balances_and_supply_at_past_timestamps_follow_transfers() {
    let world = World::new().await;
    let token = world.token();
    let (a, b) = (world.holder(0), world.holder(1));
    let cap = mvc(3_000_000_000);
    let sale_start = world.balance(world.sale()).await;
    let start = world.now().await + 100;
    world.mine_at(start).await;
    world.at(start + 100).await;
    world.transfer(world.sale(), a, mvc(1_000)).await;
    world.at(start + 200).await;
    world.transfer(a, b, mvc(400)).await;
    world.mine_at(start + 300).await;

    let at = |account, timestamp: u64| token.balanceAt(account, U256::from(timestamp));
    assert_eq!(at(a, start + 99).call().await.unwrap(), U256::ZERO);
    assert_eq!(
        at(a, start + 100).call().await.unwrap(),
        mvc(1_000),
        "counted from its own second"
    );
    assert_eq!(at(a, start + 199).call().await.unwrap(), mvc(1_000));
    assert_eq!(at(a, start + 200).call().await.unwrap(), mvc(600));
    assert_eq!(at(b, start + 199).call().await.unwrap(), U256::ZERO);
    assert_eq!(at(b, start + 250).call().await.unwrap(), mvc(400));
    assert_eq!(
        at(world.sale(), start + 99).call().await.unwrap(),
        sale_start
    );
    assert_eq!(
        at(world.sale(), start + 100).call().await.unwrap(),
        sale_start - mvc(1_000)
    );
    let supply = |timestamp: u64| token.totalSupplyAt(U256::from(timestamp));
    assert_eq!(supply(start).call().await.unwrap(), cap);
    assert_eq!(supply(start + 299).call().await.unwrap(), cap);
    assert_eq!(
        supply(1).call().await.unwrap(),
        U256::ZERO,
        "before deployment"
    );

    // The current second is not over, and the future is unknown.
    let now = world.now().await;
    for timestamp in [now, now + 1, now + 1_000_000] {
        let future: MVC::FutureLookup = reverted(at(a, timestamp).call().await);
        assert_eq!(future.timestamp, U256::from(timestamp));
        let _: MVC::FutureLookup = reverted(supply(timestamp).call().await);
    }
}

// ---------------------------------------------------------------------------------------
// Vesting
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn vesting_releases_nothing_before_the_cliff_then_linearly_then_everything() {
    let world = World::new().await;
    let schedule = world.genesis.team;
    let vesting = MvcVesting::new(world.deployment.team_vesting, world.provider.clone());
    let token = world.deployment.token;
    let total = mvc(450_000_000);
    assert_eq!(world.balance(world.deployment.team_vesting).await, total);
    assert_eq!(vesting.owner().call().await.unwrap(), schedule.beneficiary);
    let advisor = MvcVesting::new(world.deployment.advisor_vesting, world.provider.clone());
    assert_eq!(
        advisor.owner().call().await.unwrap(),
        world.genesis.advisor.beneficiary
    );

    let (start, cliff, end) = (
        schedule.start,
        schedule.start + VESTING_CLIFF,
        schedule.start + VESTING_DURATION,
    );
    let vested = |timestamp: u64| vesting.vestedAmount_1(token, timestamp);
    assert_eq!(vested(start - 1).call().await.unwrap(), U256::ZERO);
    assert_eq!(
        vested(cliff - 1).call().await.unwrap(),
        U256::ZERO,
        "nothing before the cliff"
    );
    assert_eq!(vested(cliff).call().await.unwrap(), total / U256::from(5));
    assert_eq!(
        vested(start + 3_333).call().await.unwrap(),
        total * U256::from(3_333) / U256::from(VESTING_DURATION)
    );
    assert_eq!(vested(end).call().await.unwrap(), total);

    // Just before the cliff a release pays nothing; anyone may call it, only the
    // beneficiary is paid.
    let beneficiary = schedule.beneficiary;
    let caller = world.accounts[9];
    world.at(cliff - 1).await;
    mined(vesting.release_0(token).from(caller).send().await)
        .await
        .unwrap();
    assert_eq!(world.balance(beneficiary).await, U256::ZERO);

    world.at(start + 2_500).await;
    mined(vesting.release_0(token).from(caller).send().await)
        .await
        .unwrap();
    let quarter = total / U256::from(4);
    assert_eq!(
        world.balance(beneficiary).await,
        quarter,
        "exactly 2,500 of 10,000 seconds' worth"
    );
    assert_eq!(world.balance(caller).await, U256::ZERO);
    assert_eq!(vesting.released_1(token).call().await.unwrap(), quarter);

    world.at(end + 1).await;
    mined(vesting.release_0(token).from(beneficiary).send().await)
        .await
        .unwrap();
    assert_eq!(world.balance(beneficiary).await, total);
    assert_eq!(
        world.balance(world.deployment.team_vesting).await,
        U256::ZERO
    );
}

// ---------------------------------------------------------------------------------------
// Rewards
// ---------------------------------------------------------------------------------------

/// `pool * balance / eligible`, rounded down, as the contract computes it.
fn share(balance: U256, eligible: U256) -> U256 {
    pool() * balance / eligible
}

#[tokio::test]
async fn rewards_follow_the_balances_at_the_quarter_end() {
    let world = World::new().await;
    world.make_sale_the_funder().await;
    let rewards = world.rewards();
    let (a, b, c, d) = (
        world.holder(0),
        world.holder(1),
        world.holder(2),
        world.holder(3),
    );
    world.transfer(world.sale(), a, mvc(1_000_000)).await;
    world
        .transfer(world.sale(), b, mvc(3_000_000) + U256::from(7))
        .await;
    world
        .transfer(world.sale(), c, mvc(250_000) + U256::from(13))
        .await;
    let end = world.now().await + 50;

    let early: RewardDistributor::QuarterNotOver =
        reverted(rewards.fund(end).from(world.sale()).send().await);
    assert_eq!(early.end, end);
    // At the end's own second: B's transfer to C counts; one second later A's to D does not.
    world.at(end).await;
    world.transfer(b, c, mvc(500_000)).await;
    world.at(end + 1).await;
    world.transfer(a, d, mvc(1_000_000)).await;
    let stranger = world.accounts[9];
    let denied: RewardDistributor::AccessControlUnauthorizedAccount =
        reverted(rewards.fund(end).from(stranger).send().await);
    assert_eq!(denied.neededRole, role("REWARDS_ROLE"));

    world.at(end + 2).await;
    let funded = world.fund(end).await.expect("fund");
    let event = funded
        .decoded_log::<RewardDistributor::QuarterFunded>()
        .expect("QuarterFunded");
    let (partner, marketing, reserved) = (
        world.genesis.partner,
        world.genesis.marketing,
        world.genesis.reserved,
    );
    let at_end = [
        (a, mvc(1_000_000)),
        (b, mvc(2_500_000) + U256::from(7)),
        (c, mvc(750_000) + U256::from(13)),
        (partner, mvc(300_000_000)),
        (marketing, mvc(300_000_000)),
        (reserved, mvc(960_000_000)),
    ];
    let eligible: U256 = at_end.iter().map(|(_, balance)| *balance).sum();
    assert_eq!(
        event.data.eligibleSupply, eligible,
        "supply less the excluded"
    );
    assert_eq!(world.balance(world.deployment.rewards).await, pool());

    for (holder, balance) in at_end {
        let before = world.balance(holder).await;
        let expected = share(balance, eligible);
        assert_eq!(
            rewards.claimable(U256::ZERO, holder).call().await.unwrap(),
            expected
        );
        world.claim(holder, 0).await.expect("claim");
        assert_eq!(world.balance(holder).await - before, expected, "{holder}");
    }
    let nothing: RewardDistributor::NothingToClaim = reverted(world.claim(d, 0).await);
    assert_eq!(nothing.holder, d, "D held nothing at the end");
    let again: RewardDistributor::AlreadyClaimed = reverted(world.claim(a, 0).await);
    assert_eq!((again.quarter, again.holder), (U256::ZERO, a));
    let excluded: RewardDistributor::NotEligible = reverted(world.claim(world.sale(), 0).await);
    assert_eq!(excluded.holder, world.sale());
    let unknown: RewardDistributor::UnknownQuarter = reverted(world.claim(a, 1).await);
    assert_eq!(unknown.quarter, U256::from(1));

    let claimed: U256 = at_end
        .iter()
        .map(|(_, balance)| share(*balance, eligible))
        .sum();
    assert!(claimed <= pool());
    assert_eq!(
        world.balance(world.deployment.rewards).await,
        pool() - claimed,
        "the dust stays"
    );

    // Quarters in order: not the same end again, not an earlier one.
    for earlier in [end, end - 10] {
        let order: RewardDistributor::QuartersOutOfOrder = reverted(world.fund(earlier).await);
        assert_eq!((order.end, order.previousEnd), (earlier, end));
    }
    world.at(end + 100).await;
    world.fund(end + 50).await.expect("the next quarter");
    assert_eq!(rewards.quarterCount().call().await.unwrap(), U256::from(2));
}

#[tokio::test]
async fn rewards_round_down_leave_the_dust_and_keep_the_exclusions_they_were_funded_with() {
    let world = World::new().await;
    world.make_sale_the_funder().await;
    let rewards = world.rewards();
    let (partner, marketing, reserved) = (
        world.genesis.partner,
        world.genesis.marketing,
        world.genesis.reserved,
    );
    for account in [partner, marketing, reserved] {
        mined(
            rewards
                .setExcluded(account, true)
                .from(world.admin())
                .send()
                .await,
        )
        .await
        .unwrap();
    }
    let (a, b, c) = (world.holder(0), world.holder(1), world.holder(2));
    let balances = [
        (a, U256::from(1)),
        (b, U256::from(2)),
        (c, mvc(1_000_000) + U256::from(4)),
    ];
    for (holder, balance) in balances {
        world.transfer(world.sale(), holder, balance).await;
    }
    let end = world.now().await;
    world.at(end + 1).await;
    world.fund(end).await.expect("fund");
    let eligible: U256 = balances.iter().map(|(_, balance)| *balance).sum();
    assert_eq!(
        rewards
            .quarterOf(U256::ZERO)
            .call()
            .await
            .unwrap()
            .eligibleSupply,
        eligible
    );

    // Exclusions changed after funding do not touch the funded quarter.
    mined(
        rewards
            .setExcluded(partner, false)
            .from(world.admin())
            .send()
            .await,
    )
    .await
    .unwrap();
    mined(
        rewards
            .setExcluded(b, true)
            .from(world.admin())
            .send()
            .await,
    )
    .await
    .unwrap();
    assert_eq!(
        rewards.claimable(U256::ZERO, partner).call().await.unwrap(),
        U256::ZERO
    );
    let excluded: RewardDistributor::NotEligible = reverted(world.claim(partner, 0).await);
    assert_eq!(excluded.holder, partner);

    let mut claimed = U256::ZERO;
    for (holder, balance) in balances {
        let before = world.balance(holder).await;
        world.claim(holder, 0).await.expect("claim");
        let paid = world.balance(holder).await - before;
        assert_eq!(paid, share(balance, eligible), "{holder}");
        claimed += paid;
    }
    assert_eq!(
        share(U256::from(1), eligible),
        U256::from(4),
        "4.4999… rounds down"
    );
    let dust = pool() - claimed;
    assert!(dust > U256::ZERO, "rounding leaves dust");
    assert_eq!(world.balance(world.deployment.rewards).await, dust);
    assert_eq!(
        rewards.quarterOf(U256::ZERO).call().await.unwrap().claimed,
        claimed
    );
}

#[tokio::test]
async fn rewards_are_swept_only_after_the_claim_window() {
    let world = World::new().await;
    world.make_sale_the_funder().await;
    let rewards = world.rewards();
    let (a, b) = (world.holder(0), world.holder(1));
    world.transfer(world.sale(), a, mvc(1_000)).await;
    world.transfer(world.sale(), b, mvc(1_000)).await;
    let end = world.now().await;
    world.at(end + 1).await;
    let funded = world.fund(end).await.expect("fund");
    let funded_at = world
        .provider
        .get_block_by_number(funded.block_number.unwrap().into())
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    world.claim(a, 0).await.expect("A claims in time");
    let treasury = world.sale();
    let sweep = || rewards.sweep(U256::ZERO, treasury).from(treasury);

    let open: RewardDistributor::ClaimWindowOpen = reverted(sweep().send().await);
    assert_eq!(open.quarter, U256::ZERO);
    let stranger = world.accounts[9];
    let denied: RewardDistributor::AccessControlUnauthorizedAccount = reverted(
        rewards
            .sweep(U256::ZERO, stranger)
            .from(stranger)
            .send()
            .await,
    );
    assert_eq!(denied.neededRole, role("REWARDS_ROLE"));
    world.mine_at(funded_at + CLAIM_WINDOW - 2).await;
    world.at(funded_at + CLAIM_WINDOW - 1).await;
    let _: RewardDistributor::ClaimWindowOpen = reverted(sweep().send().await);

    world.mine_at(funded_at + CLAIM_WINDOW).await;
    let late: RewardDistributor::ClaimWindowClosed = reverted(world.claim(b, 0).await);
    assert_eq!(late.quarter, U256::ZERO);
    let rest = world.balance(world.deployment.rewards).await;
    let before = world.balance(treasury).await;
    let swept = mined(sweep().send().await).await.expect("sweep");
    let event = swept
        .decoded_log::<RewardDistributor::Swept>()
        .expect("Swept");
    assert_eq!(event.data.amount, rest);
    assert_eq!(world.balance(treasury).await - before, rest);
    assert_eq!(world.balance(world.deployment.rewards).await, U256::ZERO);
    let _: RewardDistributor::ClaimWindowClosed = reverted(world.claim(b, 0).await);
}

// ---------------------------------------------------------------------------------------
// Anchor
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn anchor_accepts_k_of_n_signatures_and_reports_the_signers() {
    let world = World::new().await;
    let contract = world.anchor();
    let first = checkpoint(10, 100);
    let hash = anchor::signing_hash(&first, world.deployment.anchor, CHAIN_ID);
    let digest = contract
        .digest(first.height, first.tree_size, first.root)
        .call()
        .await
        .unwrap();
    assert_eq!(digest, hash, "the contract signs the same EIP-712 hash");

    let signatures = world.checkpoint_signatures(&first, &[2, 0]);
    let receipt = anchor::submit(
        &world.provider,
        world.deployment.anchor,
        &first,
        signatures.clone(),
    )
    .await
    .expect("2 of 3 anchor");
    let event = receipt
        .decoded_log::<Anchor::CheckpointAnchored>()
        .expect("CheckpointAnchored");
    let mut signers = vec![
        world.authorities[0].address(),
        world.authorities[2].address(),
    ];
    signers.sort();
    assert_eq!(event.data.signers, signers);
    assert_eq!(
        (
            event.data.index,
            event.data.height,
            event.data.treeSize,
            event.data.root
        ),
        (U256::ZERO, 10, 100, first.root)
    );
    let latest = contract.latest().call().await.unwrap();
    assert_eq!(
        (latest.height, latest.treeSize, latest.root),
        (10, 100, first.root)
    );

    let next = checkpoint(11, 100);
    let all = world.checkpoint_signatures(&next, &[0, 1, 2]);
    anchor::submit(&world.provider, world.deployment.anchor, &next, all)
        .await
        .expect("3 of 3, same tree size");
    assert_eq!(
        contract.checkpointCount().call().await.unwrap(),
        U256::from(2)
    );
}

#[tokio::test]
async fn anchor_rejects_bad_signature_sets() {
    let world = World::new().await;
    let checkpoint = checkpoint(5, 50);
    let sorted = |signatures| anchor::in_signer_order(signatures);
    let one = world.checkpoint_signatures(&checkpoint, &[1]);
    let few: Anchor::TooFewSignatures = reverted(world.submit(&checkpoint, &one).await);
    assert_eq!((few.valid, few.threshold), (U256::from(1), U256::from(2)));
    let _: Anchor::TooFewSignatures = reverted(world.submit(&checkpoint, &[]).await);

    let outsider = key(0xC1);
    let mut with_outsider = world.checkpoint_signatures(&checkpoint, &[0]);
    with_outsider
        .push(anchor::sign(&outsider, &checkpoint, world.deployment.anchor, CHAIN_ID).unwrap());
    let unknown: Anchor::UnknownSigner =
        reverted(world.submit(&checkpoint, &sorted(with_outsider)).await);
    assert_eq!(unknown.signer, outsider.address());

    let twice = world.checkpoint_signatures(&checkpoint, &[0, 0]);
    let duplicate: Anchor::SignersNotAscending = reverted(world.submit(&checkpoint, &twice).await);
    assert_eq!(duplicate.signer, world.authorities[0].address());
    let mut descending = sorted(world.checkpoint_signatures(&checkpoint, &[0, 1]));
    descending.reverse();
    let order: Anchor::SignersNotAscending = reverted(world.submit(&checkpoint, &descending).await);
    assert_eq!(order.signer, descending[1].signer);

    // Signatures over other data recover to some other address.
    let other_root = Checkpoint {
        root: B256::repeat_byte(0xEE),
        ..checkpoint
    };
    let wrong_data = sorted(world.checkpoint_signatures(&other_root, &[0, 1]));
    let _: Anchor::UnknownSigner = reverted(world.submit(&checkpoint, &wrong_data).await);
    let other_chain: Vec<AuthoritySignature> = world.authorities[..2]
        .iter()
        .map(|key| anchor::sign(key, &checkpoint, world.deployment.anchor, 1).unwrap())
        .collect();
    let _: Anchor::UnknownSigner = reverted(world.submit(&checkpoint, &sorted(other_chain)).await);
    let mut garbled = world.checkpoint_signatures(&checkpoint, &[0, 1]);
    garbled[0].bytes[64] = 30; // v is 27 or 28
    let _: Anchor::ECDSAInvalidSignature =
        reverted(world.submit(&checkpoint, &sorted(garbled)).await);

    assert_eq!(
        world.anchor().checkpointCount().call().await.unwrap(),
        U256::ZERO
    );
}

#[tokio::test]
async fn anchor_checkpoints_only_move_forward() {
    let world = World::new().await;
    let first = checkpoint(10, 100);
    world
        .submit(
            &first,
            &anchor::in_signer_order(world.checkpoint_signatures(&first, &[0, 1])),
        )
        .await
        .unwrap();
    let backwards = [
        first,
        Checkpoint {
            root: B256::repeat_byte(1),
            ..first
        },
        checkpoint(9, 200),
        checkpoint(11, 99),
    ];
    for candidate in backwards {
        let signatures =
            anchor::in_signer_order(world.checkpoint_signatures(&candidate, &[0, 1, 2]));
        let refused: Anchor::NotForward = reverted(world.submit(&candidate, &signatures).await);
        assert_eq!(
            (refused.height, refused.treeSize),
            (candidate.height, candidate.tree_size)
        );
    }
    let forward = checkpoint(12, 101);
    world
        .submit(
            &forward,
            &anchor::in_signer_order(world.checkpoint_signatures(&forward, &[1, 2])),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn anchor_governance_is_the_governors_and_keeps_the_threshold_reachable() {
    let world = World::new().await;
    let contract = world.anchor();
    let governor = world.admin();
    let governor_role = role("GOVERNOR_ROLE");
    let stranger = world.accounts[9];
    let newcomer = key(0xB4);
    let [first, second, third] = [0, 1, 2].map(|index| world.authorities[index].address());

    let denied: Anchor::AccessControlUnauthorizedAccount = reverted(
        contract
            .addAuthority(newcomer.address())
            .from(stranger)
            .send()
            .await,
    );
    assert_eq!(
        (denied.account, denied.neededRole),
        (stranger, governor_role)
    );
    let _: Anchor::AccessControlUnauthorizedAccount =
        reverted(contract.removeAuthority(first).from(stranger).send().await);
    let _: Anchor::AccessControlUnauthorizedAccount = reverted(
        contract
            .setThreshold(U256::from(1))
            .from(stranger)
            .send()
            .await,
    );

    for bad in [0u64, 4] {
        let refused: Anchor::BadThreshold = reverted(
            contract
                .setThreshold(U256::from(bad))
                .from(governor)
                .send()
                .await,
        );
        assert_eq!(
            (refused.threshold, refused.authorities),
            (U256::from(bad), U256::from(3))
        );
    }

    // 3 authorities, threshold 2: one may go, a second may not.
    mined(contract.removeAuthority(third).from(governor).send().await)
        .await
        .expect("remove to 2");
    let below: Anchor::BadThreshold =
        reverted(contract.removeAuthority(second).from(governor).send().await);
    assert_eq!(
        (below.threshold, below.authorities),
        (U256::from(2), U256::from(1))
    );
    assert_eq!(
        contract.authorityCount().call().await.unwrap(),
        U256::from(2)
    );
    let mut listed = contract.authorities().call().await.unwrap();
    listed.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(listed, expected, "the list follows removals");
    let checkpoint = checkpoint(1, 1);
    let with_removed = anchor::in_signer_order(world.checkpoint_signatures(&checkpoint, &[0, 2]));
    let removed: Anchor::UnknownSigner = reverted(world.submit(&checkpoint, &with_removed).await);
    assert_eq!(removed.signer, third);

    mined(
        contract
            .addAuthority(newcomer.address())
            .from(governor)
            .send()
            .await,
    )
    .await
    .expect("add");
    assert!(
        contract
            .isAuthority(newcomer.address())
            .call()
            .await
            .unwrap()
    );
    mined(
        contract
            .setThreshold(U256::from(3))
            .from(governor)
            .send()
            .await,
    )
    .await
    .expect("3 of 3");
    let _: Anchor::BadThreshold =
        reverted(contract.removeAuthority(first).from(governor).send().await);
    let mut signatures = world.checkpoint_signatures(&checkpoint, &[0, 1]);
    let few: Anchor::TooFewSignatures = reverted(
        world
            .submit(&checkpoint, &anchor::in_signer_order(signatures.clone()))
            .await,
    );
    assert_eq!(few.threshold, U256::from(3));
    signatures
        .push(anchor::sign(&newcomer, &checkpoint, world.deployment.anchor, CHAIN_ID).unwrap());
    anchor::submit(
        &world.provider,
        world.deployment.anchor,
        &checkpoint,
        signatures,
    )
    .await
    .expect("3 of 3 anchor");
}

// ---------------------------------------------------------------------------------------
// Conversion bridge
// ---------------------------------------------------------------------------------------

/// The bridge's `State` enum.
const NONE: u8 = 0;
const RELEASED: u8 = 1;
const CANCELLED: u8 = 2;

fn conversion(seed: u8) -> B256 {
    B256::repeat_byte(seed)
}

#[tokio::test]
async fn bridge_genesis_gives_roles_and_keeps_its_mvc_out_of_the_rewards() {
    let world = World::new().await;
    let bridge = world.bridge();
    assert_eq!(bridge.token().call().await.unwrap(), world.deployment.token);
    let (admin_role, operator_role) = (B256::ZERO, role("OPERATOR_ROLE"));
    assert!(
        bridge
            .hasRole(admin_role, world.admin())
            .call()
            .await
            .unwrap()
    );
    assert!(
        bridge
            .hasRole(operator_role, world.operator)
            .call()
            .await
            .unwrap()
    );
    assert!(
        !bridge
            .hasRole(operator_role, world.admin())
            .call()
            .await
            .unwrap(),
        "the admin does not release"
    );
    assert!(
        !bridge
            .hasRole(admin_role, world.accounts[0])
            .call()
            .await
            .unwrap(),
        "deployer has no role"
    );
    assert_eq!(world.balance(world.deployment.bridge).await, U256::ZERO);
    assert!(
        world
            .rewards()
            .isExcluded(world.deployment.bridge)
            .call()
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn bridge_releases_once_per_id_and_never_after_a_cancel() {
    let world = World::new().await;
    world.fund_bridge(mvc(1_000)).await;
    let bridge = world.bridge();
    let (a, b) = (world.holder(0), world.holder(1));
    let first = conversion(1);

    let receipt = world.release(first, a, mvc(100)).await.expect("release");
    let event = receipt
        .decoded_log::<ConversionBridge::Released>()
        .expect("Released");
    assert_eq!(
        (event.data.id, event.data.to, event.data.amount),
        (first, a, mvc(100))
    );
    assert_eq!(world.balance(a).await, mvc(100));
    assert_eq!(world.balance(world.deployment.bridge).await, mvc(900));
    let record = bridge.releaseOf(first).call().await.unwrap();
    assert_eq!(
        (record.state, record.to, record.amount, record.blockNumber),
        (RELEASED, a, mvc(100), receipt.block_number.unwrap())
    );
    assert_eq!(bridge.totalReleased().call().await.unwrap(), mvc(100));

    // Once per id, whatever the recipient or amount of the second attempt.
    for (to, amount) in [(a, mvc(100)), (b, mvc(5))] {
        let again: ConversionBridge::AlreadyReleased =
            reverted(world.release(first, to, amount).await);
        assert_eq!(again.id, first);
    }
    let late: ConversionBridge::AlreadyReleased = reverted(world.cancel(first).await);
    assert_eq!(late.id, first, "a released id cannot be cancelled");

    let second = conversion(2);
    let cancelled = world.cancel(second).await.expect("cancel");
    let event = cancelled
        .decoded_log::<ConversionBridge::ReleaseCancelled>()
        .expect("ReleaseCancelled");
    assert_eq!(event.data.id, second);
    let again = world.cancel(second).await.expect("cancel is idempotent");
    assert!(
        again
            .decoded_log::<ConversionBridge::ReleaseCancelled>()
            .is_none(),
        "nothing changes the second time"
    );
    let dead: ConversionBridge::Cancelled = reverted(world.release(second, b, mvc(1)).await);
    assert_eq!(dead.id, second);
    let record = bridge.releaseOf(second).call().await.unwrap();
    assert_eq!(
        (record.state, record.to, record.amount, record.blockNumber),
        (CANCELLED, Address::ZERO, U256::ZERO, 0)
    );
    let unseen = bridge.releaseOf(conversion(3)).call().await.unwrap();
    assert_eq!(unseen.state, NONE);

    let _: ConversionBridge::ZeroAddress =
        reverted(world.release(conversion(3), Address::ZERO, mvc(1)).await);
    let _: ConversionBridge::ZeroAmount =
        reverted(world.release(conversion(3), b, U256::ZERO).await);
    assert_eq!(world.balance(b).await, U256::ZERO);
    assert_eq!(world.balance(world.deployment.bridge).await, mvc(900));
    assert_eq!(bridge.totalReleased().call().await.unwrap(), mvc(100));
}

#[tokio::test]
async fn bridge_releases_and_cancels_only_by_the_operator() {
    let world = World::new().await;
    world.fund_bridge(mvc(1_000)).await;
    let bridge = world.bridge();
    let operator_role = role("OPERATOR_ROLE");
    for caller in [world.admin(), world.accounts[9]] {
        let denied: ConversionBridge::AccessControlUnauthorizedAccount = reverted(
            bridge
                .release(conversion(1), caller, mvc(1))
                .from(caller)
                .send()
                .await,
        );
        assert_eq!((denied.account, denied.neededRole), (caller, operator_role));
        let denied: ConversionBridge::AccessControlUnauthorizedAccount =
            reverted(bridge.cancel(conversion(1)).from(caller).send().await);
        assert_eq!(denied.neededRole, operator_role);
    }
    let record = bridge.releaseOf(conversion(1)).call().await.unwrap();
    assert_eq!(record.state, NONE);
    world
        .release(conversion(1), world.holder(0), mvc(1))
        .await
        .expect("the operator releases");
}

#[tokio::test]
async fn bridge_refuses_a_release_above_its_balance() {
    let world = World::new().await;
    world.fund_bridge(mvc(10)).await;
    let id = conversion(7);
    let short: ConversionBridge::InsufficientBalance =
        reverted(world.release(id, world.holder(0), mvc(11)).await);
    assert_eq!((short.available, short.needed), (mvc(10), mvc(11)));
    assert_eq!(
        world.bridge().releaseOf(id).call().await.unwrap().state,
        NONE,
        "a refused release leaves the id open"
    );
    world
        .release(id, world.holder(0), mvc(10))
        .await
        .expect("all of it");
    assert_eq!(world.balance(world.deployment.bridge).await, U256::ZERO);
}

#[tokio::test]
async fn bridge_withdraw_is_the_admins_only() {
    let world = World::new().await;
    world.fund_bridge(mvc(1_000)).await;
    let bridge = world.bridge();
    let reserved = world.genesis.reserved;
    for caller in [world.operator, world.accounts[9]] {
        let denied: ConversionBridge::AccessControlUnauthorizedAccount =
            reverted(bridge.withdraw(caller, mvc(1)).from(caller).send().await);
        assert_eq!((denied.account, denied.neededRole), (caller, B256::ZERO));
    }
    let before = world.balance(reserved).await;
    let withdraw = bridge.withdraw(reserved, mvc(400)).from(world.admin());
    let receipt = mined(withdraw.send().await).await.expect("withdraw");
    let event = receipt
        .decoded_log::<ConversionBridge::Withdrawn>()
        .expect("Withdrawn");
    assert_eq!((event.data.to, event.data.amount), (reserved, mvc(400)));
    assert_eq!(world.balance(reserved).await - before, mvc(400));
    assert_eq!(world.balance(world.deployment.bridge).await, mvc(600));
    let short: ConversionBridge::InsufficientBalance = reverted(
        bridge
            .withdraw(reserved, mvc(601))
            .from(world.admin())
            .send()
            .await,
    );
    assert_eq!((short.available, short.needed), (mvc(600), mvc(601)));
    let _: ConversionBridge::ZeroAddress = reverted(
        bridge
            .withdraw(Address::ZERO, mvc(1))
            .from(world.admin())
            .send()
            .await,
    );
    assert_eq!(
        bridge.totalReleased().call().await.unwrap(),
        U256::ZERO,
        "a withdrawal is no release"
    );
}

// ---------------------------------------------------------------------------------------
// Gas
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn gas_of_the_main_calls() {
    let world = World::new().await;
    let gas = world.deployment.gas;
    let mut rows: Vec<(&str, u64)> = vec![
        ("deploy MvcVesting (team)", gas.team_vesting),
        ("deploy MvcVesting (advisor)", gas.advisor_vesting),
        ("deploy MVC", gas.token),
        ("deploy RewardDistributor", gas.rewards),
        ("deploy Anchor (3 authorities)", gas.anchor),
        ("deploy ConversionBridge", gas.bridge),
    ];
    world.make_sale_the_funder().await;
    let (a, b) = (world.holder(0), world.holder(1));
    let first = world.transfer(world.sale(), a, mvc(1_000)).await;
    rows.push(("MVC transfer (to a new holder)", first.gas_used));
    let again = world.transfer(world.sale(), a, mvc(1_000)).await;
    rows.push(("MVC transfer (to a holder, new second)", again.gas_used));
    world.transfer(world.sale(), b, mvc(500)).await;
    let end = world.now().await;
    world.at(end + 1).await;
    let fund = world.fund(end).await.expect("fund");
    rows.push(("RewardDistributor.fund (5 excluded)", fund.gas_used));
    let claim = world.claim(a, 0).await.expect("claim");
    rows.push(("RewardDistributor.claim", claim.gas_used));
    let two = checkpoint(1, 10);
    let receipt = anchor::submit(
        &world.provider,
        world.deployment.anchor,
        &two,
        world.checkpoint_signatures(&two, &[0, 1]),
    )
    .await
    .unwrap();
    rows.push(("Anchor.anchor (first, 2 signatures)", receipt.gas_used));
    let three = checkpoint(2, 20);
    let receipt = anchor::submit(
        &world.provider,
        world.deployment.anchor,
        &three,
        world.checkpoint_signatures(&three, &[0, 1, 2]),
    )
    .await
    .unwrap();
    rows.push(("Anchor.anchor (3 signatures)", receipt.gas_used));
    let four = checkpoint(3, 30);
    let receipt = anchor::submit(
        &world.provider,
        world.deployment.anchor,
        &four,
        world.checkpoint_signatures(&four, &[0, 1]),
    )
    .await
    .unwrap();
    rows.push(("Anchor.anchor (2 signatures)", receipt.gas_used));
    world.fund_bridge(mvc(1_000)).await;
    let c = world.holder(2);
    let release = world.release(B256::repeat_byte(1), c, mvc(10)).await;
    rows.push((
        "ConversionBridge.release (to a new holder)",
        release.unwrap().gas_used,
    ));
    let release = world.release(B256::repeat_byte(2), c, mvc(10)).await;
    rows.push((
        "ConversionBridge.release (to a holder)",
        release.unwrap().gas_used,
    ));
    let cancel = world.cancel(B256::repeat_byte(3)).await.unwrap();
    rows.push(("ConversionBridge.cancel", cancel.gas_used));

    eprintln!("\n{:<40} {:>10}", "call", "gas used");
    for (name, used) in &rows {
        eprintln!("{name:<40} {used:>10}");
        assert!(*used > 21_000 && *used < 30_000_000, "{name}: {used}");
    }
    let anchor_gas = |name: &str| rows.iter().find(|(row, _)| *row == name).unwrap().1;
    assert!(
        anchor_gas("Anchor.anchor (3 signatures)") > anchor_gas("Anchor.anchor (2 signatures)")
    );
    // Keep the selector check honest: the ABI's anchor() is the one the helpers call.
    assert_eq!(
        Anchor::anchorCall::SIGNATURE,
        "anchor(uint64,uint64,bytes32,bytes[])"
    );
}
