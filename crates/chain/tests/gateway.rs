//! `EthereumGateway`, the platform's `ChainGateway`, against a real anvil: anchoring with
//! k of n signatures, releases exactly once per conversion id, cancels that stick, the
//! confirmations rule, the token figures, and how a dead node is reported.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use chain::anchor;
use chain::contracts::{ConversionBridge, MVC, RewardDistributor};
use chain::devnode::{self, DevNode};
use chain::wallet::Wallet;
use chain::{
    Address, B256, DeploymentFile, EthereumGateway, GatewayConfig, Genesis, VestingSchedule,
};
use ports::chain::{AnchorCheckpoint, ChainError, ChainGateway, ReleaseState};

const CHAIN_ID: u64 = 31_337;
/// One MVC in its smallest unit.
const UNIT: u128 = 1_000_000_000_000_000_000;
const CAP: u128 = 3_000_000_000 * UNIT;
const BRIDGE_FUNDING: u128 = 1_000_000 * UNIT;

fn key(seed: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(seed)).expect("a valid key")
}

/// A dev node with the genesis deployed and the bridge funded from the reserve.
///
/// Dev accounts: 0 deploys, 1 is the admin, 2 the sale treasury, 3 partner, 4 marketing,
/// 5 reserved, 6 and 7 the vesting beneficiaries, 8 the platform (bridge operator, the
/// gateway's key), 9 a holder.
struct World {
    node: DevNode,
    provider: DynProvider,
    deployment: DeploymentFile,
    authorities: Vec<PrivateKeySigner>,
}

impl World {
    async fn new() -> World {
        let node = DevNode::start().expect("anvil starts");
        let provider = node.provider(&[]).expect("provider");
        let accounts = node.accounts();
        let now = devnode::latest_timestamp(&provider).await.unwrap();
        let schedule = |beneficiary| VestingSchedule {
            beneficiary,
            start: now,
            duration: 1_000,
            cliff: 100,
        };
        let authorities: Vec<PrivateKeySigner> = (0xB1..=0xB3).map(key).collect();
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
            bridge_operator: accounts[8],
        };
        let deployed = genesis.deploy(&provider).await.expect("genesis deploys");
        let deployment = DeploymentFile::new(CHAIN_ID, &genesis, &deployed);
        let world = World {
            node,
            provider,
            deployment,
            authorities,
        };
        world
            .transfer(accounts[5], deployed.bridge, BRIDGE_FUNDING)
            .await;
        world
    }

    async fn gateway(&self, confirmations: u64) -> EthereumGateway {
        EthereumGateway::connect(GatewayConfig {
            rpc_url: self.node.url(),
            tls: tls::ClientTls::system(),
            key: self.node.keys()[8].clone(),
            deployment: self.deployment,
            confirmations,
        })
        .await
        .expect("the gateway connects")
    }

    fn token(&self) -> MVC::MVCInstance<DynProvider> {
        MVC::new(self.deployment.token, self.provider.clone())
    }

    async fn balance(&self, account: Address) -> u128 {
        let balance = self.token().balanceOf(account).call().await.unwrap();
        balance.to()
    }

    async fn transfer(&self, from: Address, to: Address, amount: u128) {
        let token = self.token();
        let call = token.transfer(to, U256::from(amount)).from(from);
        chain::confirm(call.send().await.unwrap()).await.unwrap();
    }

    fn holder(&self) -> Address {
        self.node.accounts()[9]
    }

    fn signatures(&self, checkpoint: &AnchorCheckpoint, signers: &[usize]) -> Vec<[u8; 65]> {
        let checkpoint = anchor::Checkpoint {
            height: checkpoint.height,
            tree_size: checkpoint.tree_size,
            root: B256::from(checkpoint.root),
        };
        signers
            .iter()
            .map(|&index| {
                anchor::sign(
                    &self.authorities[index],
                    &checkpoint,
                    self.deployment.anchor,
                    CHAIN_ID,
                )
                .unwrap()
                .bytes
            })
            .collect()
    }
}

fn rejected<T: std::fmt::Debug>(result: Result<T, ChainError>, name: &str) {
    match result {
        Err(ChainError::Rejected(reason)) => {
            assert!(reason.contains(name), "expected {name}, got {reason}")
        }
        other => panic!("expected Rejected({name}), got {other:?}"),
    }
}

#[tokio::test]
async fn gateway_anchors_with_k_of_n_signatures_in_any_order() {
    let world = World::new().await;
    let gateway = world.gateway(1).await;
    let domain = gateway.anchor_domain();
    assert_eq!(
        (domain.chain_id, domain.anchor),
        (CHAIN_ID, world.deployment.anchor.into_array())
    );
    let authorities = gateway.authorities().await.unwrap();
    let mut expected: Vec<[u8; 20]> = world
        .authorities
        .iter()
        .map(|key| key.address().into_array())
        .collect();
    let mut listed = authorities.authorities.clone();
    expected.sort();
    listed.sort();
    assert_eq!((listed, authorities.threshold), (expected, 2));

    let checkpoint = AnchorCheckpoint {
        height: 7,
        tree_size: 70,
        root: [0x77; 32],
    };
    // Signer order 2, 0: the gateway sorts them.
    let signatures = world.signatures(&checkpoint, &[2, 0]);
    for (signature, index) in signatures.iter().zip([2, 0]) {
        let signer = gateway
            .recover_checkpoint_signer(&checkpoint, signature)
            .unwrap();
        assert_eq!(signer, world.authorities[index].address().into_array());
    }
    let tx = gateway.anchor(&checkpoint, &signatures).await.unwrap();
    assert!(tx.gas_used > 21_000 && tx.block_number > 0);
    let anchored = gateway.anchored(0, 10).await.unwrap();
    assert_eq!(anchored.len(), 1);
    assert_eq!((anchored[0].index, anchored[0].checkpoint), (0, checkpoint));
    assert!(anchored[0].anchored_at_s > 0);
    assert!(gateway.anchored(1, 10).await.unwrap().is_empty());

    // Too few, and a replay of the same checkpoint: refused by the contract, by name.
    let next = AnchorCheckpoint {
        height: 8,
        ..checkpoint
    };
    let one = world.signatures(&next, &[1]);
    rejected(gateway.anchor(&next, &one).await, "TooFewSignatures");
    rejected(gateway.anchor(&checkpoint, &signatures).await, "NotForward");
    let mut garbled = world.signatures(&next, &[0, 1]);
    garbled[0][64] = 30;
    assert!(matches!(
        gateway.anchor(&next, &garbled).await,
        Err(ChainError::BadSignature(_))
    ));
    assert!(matches!(
        gateway.recover_checkpoint_signer(&next, &garbled[0]),
        Err(ChainError::BadSignature(_))
    ));
}

#[tokio::test]
async fn gateway_releases_once_per_conversion_id() {
    let world = World::new().await;
    let gateway = world.gateway(1).await;
    let holder = world.holder();
    let id = [0x01; 32];
    let amount = 1_234 * UNIT + 5;
    assert_eq!(
        gateway.release_state(id).await.unwrap(),
        ReleaseState::Unknown
    );
    let started = Instant::now();
    let first = gateway
        .release(id, holder.into_array(), amount)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "one confirmation on an automining node needs no further block"
    );
    assert_eq!(
        gateway.release_state(id).await.unwrap(),
        ReleaseState::Released {
            to: holder.into_array(),
            amount_wei: amount,
            block_number: first.block_number,
        }
    );
    let again = gateway
        .release(id, holder.into_array(), amount)
        .await
        .unwrap();
    assert_eq!(again, first, "the same release, found again");
    let other = gateway
        .release(id, Address::repeat_byte(9).into_array(), 1)
        .await
        .unwrap();
    assert_eq!(other, first, "the id alone decides");
    assert_eq!(world.balance(holder).await, amount, "moved once");
    assert_eq!(
        world.balance(world.deployment.bridge).await,
        BRIDGE_FUNDING - amount
    );
    rejected(gateway.cancel_release(id).await, "AlreadyReleased");

    let too_much = gateway
        .release([0x02; 32], holder.into_array(), BRIDGE_FUNDING)
        .await;
    rejected(too_much, "InsufficientBalance");
    assert_eq!(
        gateway.release_state([0x02; 32]).await.unwrap(),
        ReleaseState::Unknown
    );
}

#[tokio::test]
async fn gateway_never_releases_a_cancelled_id() {
    let world = World::new().await;
    let gateway = world.gateway(1).await;
    let id = [0x03; 32];
    gateway.cancel_release(id).await.unwrap();
    gateway.cancel_release(id).await.expect("idempotent");
    assert_eq!(
        gateway.release_state(id).await.unwrap(),
        ReleaseState::Cancelled
    );
    rejected(
        gateway.release(id, world.holder().into_array(), UNIT).await,
        "Cancelled",
    );
    assert_eq!(world.balance(world.deployment.bridge).await, BRIDGE_FUNDING);
}

#[tokio::test]
async fn gateway_counts_a_release_only_with_its_confirmations() {
    let world = World::new().await;
    let shallow = world.gateway(1).await;
    let deep = world.gateway(2).await;
    let holder = world.holder().into_array();
    let id = [0x04; 32];
    let tx = shallow.release(id, holder, UNIT).await.unwrap();
    assert!(matches!(
        shallow.release_state(id).await.unwrap(),
        ReleaseState::Released { .. }
    ));
    assert_eq!(
        deep.release_state(id).await.unwrap(),
        ReleaseState::Unknown,
        "one block is not two confirmations"
    );
    devnode::mine(&world.provider).await.unwrap();
    assert_eq!(
        deep.release_state(id).await.unwrap(),
        ReleaseState::Released {
            to: holder,
            amount_wei: UNIT,
            block_number: tx.block_number,
        }
    );

    // A release through the deep gateway waits for the next block.
    let provider = world.provider.clone();
    let miner = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        devnode::mine(&provider).await.unwrap();
    });
    let started = Instant::now();
    let waited = deep.release([0x05; 32], holder, UNIT).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
    miner.await.unwrap();
    let latest = world.provider.get_block_number().await.unwrap();
    assert_eq!(waited.block_number + 1, latest);
}

#[tokio::test]
async fn gateway_token_figures_add_up() {
    let world = World::new().await;
    let gateway = world.gateway(1).await;
    let before = gateway.token_figures().await.unwrap();
    assert_eq!(before.total_supply_wei, CAP);
    assert_eq!(before.bridge_balance_wei, BRIDGE_FUNDING);
    assert_eq!((before.released_wei, before.reward_quarters), (0, 0));
    // Dev accounts outside the allocations hold nothing: all of it is the project's.
    assert_eq!(before.circulating_wei, 0);

    let amount = 250_000 * UNIT;
    gateway
        .release([0x06; 32], world.holder().into_array(), amount)
        .await
        .unwrap();
    let after = gateway.token_figures().await.unwrap();
    assert_eq!(after.circulating_wei, before.circulating_wei + amount);
    assert_eq!(after.bridge_balance_wei, BRIDGE_FUNDING - amount);
    assert_eq!(after.released_wei, amount);

    // A funded quarter and one claim.
    let (admin, sale) = (world.deployment.admin, world.deployment.sale);
    let rewards = RewardDistributor::new(world.deployment.rewards, world.provider.clone());
    let role = alloy::primitives::keccak256("REWARDS_ROLE");
    let grant = rewards.grantRole(role, sale).from(admin);
    chain::confirm(grant.send().await.unwrap()).await.unwrap();
    let pool = U256::from(4_500_000 * UNIT);
    let token = world.token();
    let approve = token.approve(world.deployment.rewards, pool).from(sale);
    chain::confirm(approve.send().await.unwrap()).await.unwrap();
    let end = devnode::latest_timestamp(&world.provider).await.unwrap();
    devnode::set_next_block_timestamp(&world.provider, end + 1)
        .await
        .unwrap();
    let fund = rewards.fund(end).from(sale);
    chain::confirm(fund.send().await.unwrap()).await.unwrap();
    let claim = rewards.claim(U256::ZERO).from(world.holder());
    let claimed = chain::confirm(claim.send().await.unwrap()).await.unwrap();
    let event = claimed.decoded_log::<RewardDistributor::Claimed>().unwrap();
    let figures = gateway.token_figures().await.unwrap();
    assert_eq!(figures.reward_quarters, 1);
    assert_eq!(figures.rewards_claimed_wei, event.data.amount.to::<u128>());
    assert_eq!(
        figures.circulating_wei,
        after.circulating_wei + figures.rewards_claimed_wei,
        "claimed rewards leave the distributor and circulate"
    );
    let bridge = ConversionBridge::new(world.deployment.bridge, world.provider.clone());
    let total: u128 = bridge.totalReleased().call().await.unwrap().to();
    assert_eq!(total, figures.released_wei);
}

#[tokio::test]
async fn gateway_recovers_a_members_message_signer() {
    let world = World::new().await;
    let gateway = world.gateway(1).await;
    let wallet = Wallet::generate(12).unwrap();
    let signature = wallet.sign_message(b"mileverse: link").unwrap();
    let signer = gateway
        .recover_message_signer(b"mileverse: link", &signature)
        .unwrap();
    assert_eq!(signer, wallet.address().into_array());
    let other = gateway
        .recover_message_signer(b"mileverse: other", &signature)
        .unwrap();
    assert_ne!(other, wallet.address().into_array());
}

#[tokio::test]
async fn gateway_refuses_another_chain_and_reports_a_dead_node_as_unavailable() {
    let world = World::new().await;
    let wrong = EthereumGateway::connect(GatewayConfig {
        rpc_url: world.node.url(),
        tls: tls::ClientTls::system(),
        key: key(0xC1),
        deployment: DeploymentFile {
            chain_id: 1,
            ..world.deployment
        },
        confirmations: 1,
    })
    .await;
    assert!(
        matches!(
            wrong,
            Err(chain::Error::WrongChain {
                expected: 1,
                actual: CHAIN_ID
            })
        ),
        "{wrong:?}"
    );

    let gateway = world.gateway(1).await;
    let holder = world.holder().into_array();
    let World { node, .. } = world;
    drop(node);
    for outcome in [
        gateway.release([0x07; 32], holder, UNIT).await.map(|_| ()),
        gateway.cancel_release([0x07; 32]).await,
        gateway.release_state([0x07; 32]).await.map(|_| ()),
        gateway.token_figures().await.map(|_| ()),
        gateway.authorities().await.map(|_| ()),
    ] {
        assert!(
            matches!(outcome, Err(ChainError::Unavailable(_))),
            "{outcome:?}"
        );
    }
}
