//! The genesis deployment: every contract of Mileverse, wired together, in one call.
//!
//! Order matters: MVC mints the Team and Advisor allocations to their vesting wallets in
//! its constructor, so the wallets come first; the reward distributor needs the token's
//! address; the anchor stands alone. The deployer (the provider's default signer) pays the
//! gas and keeps no role: `admin` gets every role of every contract.

use alloy::network::Ethereum;
use alloy::primitives::U256;
use alloy::providers::{PendingTransactionBuilder, Provider};

use crate::contracts::{Anchor, MVC, MvcVesting, RewardDistributor};
use crate::{Address, Error, confirm};

/// A vesting wallet's schedule: linear from `start` over `duration` seconds, nothing before
/// `start + cliff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VestingSchedule {
    /// Who may release the vested tokens (the wallet's owner).
    pub beneficiary: Address,
    /// Unix seconds.
    pub start: u64,
    /// Seconds from `start` until everything is vested.
    pub duration: u64,
    /// Seconds from `start` before anything is (at most `duration`).
    pub cliff: u64,
}

/// What the genesis deployment needs: who administers, where each allocation goes, and
/// who signs checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Holds DEFAULT_ADMIN_ROLE, PAUSER_ROLE, REWARDS_ROLE and GOVERNOR_ROLE.
    pub admin: Address,
    /// Team allocation (15%), through a vesting wallet.
    pub team: VestingSchedule,
    /// Advisor allocation (3%), through a vesting wallet.
    pub advisor: VestingSchedule,
    /// Sale treasury (30%); excluded from rewards, which it funds.
    pub sale: Address,
    /// Partner allocation (10%).
    pub partner: Address,
    /// Marketing allocation (10%).
    pub marketing: Address,
    /// Reserved allocation (32%).
    pub reserved: Address,
    /// The anchor's authorities (the witness nodes' Ethereum addresses).
    pub authorities: Vec<Address>,
    /// How many authorities must sign a checkpoint.
    pub threshold: u64,
}

/// Where the genesis contracts live, and what deploying each cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub team_vesting: Address,
    pub advisor_vesting: Address,
    pub token: Address,
    pub rewards: Address,
    pub anchor: Address,
    pub gas: DeploymentGas,
}

/// Gas used by each deployment transaction (to budget a mainnet deployment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeploymentGas {
    pub team_vesting: u64,
    pub advisor_vesting: u64,
    pub token: u64,
    pub rewards: u64,
    pub anchor: u64,
}

/// A contract created by a confirmed transaction, and the gas that took.
struct Created {
    address: Address,
    gas_used: u64,
}

impl Genesis {
    /// Deploys the five contracts with the provider's default signer, one after the other
    /// (each waits for its receipt, so a failure stops before the next).
    pub async fn deploy<P: Provider>(&self, provider: &P) -> Result<Deployment, Error> {
        let team = deploy_vesting(provider, &self.team).await?;
        let advisor = deploy_vesting(provider, &self.advisor).await?;
        let token = self
            .deploy_token(provider, team.address, advisor.address)
            .await?;
        let excluded = vec![team.address, advisor.address, self.sale];
        let rewards =
            RewardDistributor::deploy_builder(provider, token.address, self.admin, excluded);
        let rewards = created(rewards.send().await?).await?;
        let anchor = self.deploy_anchor(provider).await?;
        Ok(Deployment {
            team_vesting: team.address,
            advisor_vesting: advisor.address,
            token: token.address,
            rewards: rewards.address,
            anchor: anchor.address,
            gas: DeploymentGas {
                team_vesting: team.gas_used,
                advisor_vesting: advisor.gas_used,
                token: token.gas_used,
                rewards: rewards.gas_used,
                anchor: anchor.gas_used,
            },
        })
    }

    async fn deploy_token<P: Provider>(
        &self,
        provider: &P,
        team_vesting: Address,
        advisor_vesting: Address,
    ) -> Result<Created, Error> {
        let allocation = MVC::Allocation {
            sale: self.sale,
            teamVesting: team_vesting,
            partner: self.partner,
            advisorVesting: advisor_vesting,
            marketing: self.marketing,
            reserved: self.reserved,
        };
        let builder = MVC::deploy_builder(provider, allocation, self.admin);
        created(builder.send().await?).await
    }

    async fn deploy_anchor<P: Provider>(&self, provider: &P) -> Result<Created, Error> {
        let threshold = U256::from(self.threshold);
        let builder =
            Anchor::deploy_builder(provider, self.admin, self.authorities.clone(), threshold);
        created(builder.send().await?).await
    }
}

async fn deploy_vesting<P: Provider>(
    provider: &P,
    schedule: &VestingSchedule,
) -> Result<Created, Error> {
    let builder = MvcVesting::deploy_builder(
        provider,
        schedule.beneficiary,
        schedule.start,
        schedule.duration,
        schedule.cliff,
    );
    created(builder.send().await?).await
}

/// Waits for a deployment and reads the new contract's address from its receipt.
async fn created(pending: PendingTransactionBuilder<Ethereum>) -> Result<Created, Error> {
    let receipt = confirm(pending).await?;
    let address = receipt
        .contract_address
        .ok_or(Error::NotDeployed(receipt.transaction_hash))?;
    Ok(Created {
        address,
        gas_used: receipt.gas_used,
    })
}
