//! The genesis deployment: every contract of Mileverse, wired together, in one call.
//!
//! Order matters: MVC mints the Team and Advisor allocations to their vesting wallets in
//! its constructor, so the wallets come first; the conversion bridge needs the token's
//! address, and the reward distributor both (the bridge's MVC is not eligible for rewards);
//! the anchor stands alone. The deployer (the provider's default signer) pays the gas and
//! keeps no role: `admin` gets every role of every contract, except the bridge's
//! OPERATOR_ROLE, which goes to `bridge_operator` (the platform's key).
//!
//! Where it all landed is kept in a [`DeploymentFile`] (JSON), which the platform's gateway
//! and the `mileverse chain` commands read.

use std::io::Write;
use std::path::Path;

use alloy::network::Ethereum;
use alloy::primitives::U256;
use alloy::providers::{PendingTransactionBuilder, Provider};
use serde::{Deserialize, Serialize};

use crate::contracts::{Anchor, ConversionBridge, MVC, MvcVesting, RewardDistributor};
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
    /// Holds the bridge's OPERATOR_ROLE: releases and cancels conversions (the platform).
    pub bridge_operator: Address,
}

/// Where the genesis contracts live, and what deploying each cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub team_vesting: Address,
    pub advisor_vesting: Address,
    pub token: Address,
    pub rewards: Address,
    pub anchor: Address,
    pub bridge: Address,
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
    pub bridge: u64,
}

/// A contract created by a confirmed transaction, and the gas that took.
struct Created {
    address: Address,
    gas_used: u64,
}

impl Genesis {
    /// Deploys the six contracts with the provider's default signer, one after the other
    /// (each waits for its receipt, so a failure stops before the next). The bridge starts
    /// empty: funding it is a transfer from whichever treasury pays for conversions.
    pub async fn deploy<P: Provider>(&self, provider: &P) -> Result<Deployment, Error> {
        let team = deploy_vesting(provider, &self.team).await?;
        let advisor = deploy_vesting(provider, &self.advisor).await?;
        let token = self
            .deploy_token(provider, team.address, advisor.address)
            .await?;
        let bridge = ConversionBridge::deploy_builder(
            provider,
            token.address,
            self.admin,
            self.bridge_operator,
        );
        let bridge = created(bridge.send().await?).await?;
        let excluded = vec![team.address, advisor.address, self.sale, bridge.address];
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
            bridge: bridge.address,
            gas: DeploymentGas {
                team_vesting: team.gas_used,
                advisor_vesting: advisor.gas_used,
                token: token.gas_used,
                rewards: rewards.gas_used,
                anchor: anchor.gas_used,
                bridge: bridge.gas_used,
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

/// Where a deployment lives, as a JSON file: the chain, every contract, the allocation
/// treasuries and the admin. Addresses are `0x` hex strings, written checksummed (EIP-55)
/// and read in any case.
///
/// ```json
/// {"chain_id": 31337, "token": "0x…", "rewards": "0x…", "anchor": "0x…", "bridge": "0x…",
///  "team_vesting": "0x…", "advisor_vesting": "0x…", "sale": "0x…", "partner": "0x…",
///  "marketing": "0x…", "reserved": "0x…", "admin": "0x…"}
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFile {
    pub chain_id: u64,
    #[serde(with = "checksummed")]
    pub token: Address,
    #[serde(with = "checksummed")]
    pub rewards: Address,
    #[serde(with = "checksummed")]
    pub anchor: Address,
    #[serde(with = "checksummed")]
    pub bridge: Address,
    #[serde(with = "checksummed")]
    pub team_vesting: Address,
    #[serde(with = "checksummed")]
    pub advisor_vesting: Address,
    #[serde(with = "checksummed")]
    pub sale: Address,
    #[serde(with = "checksummed")]
    pub partner: Address,
    #[serde(with = "checksummed")]
    pub marketing: Address,
    #[serde(with = "checksummed")]
    pub reserved: Address,
    #[serde(with = "checksummed")]
    pub admin: Address,
}

impl DeploymentFile {
    /// The file for `deployment` of `genesis` on chain `chain_id`.
    pub fn new(chain_id: u64, genesis: &Genesis, deployment: &Deployment) -> DeploymentFile {
        DeploymentFile {
            chain_id,
            token: deployment.token,
            rewards: deployment.rewards,
            anchor: deployment.anchor,
            bridge: deployment.bridge,
            team_vesting: deployment.team_vesting,
            advisor_vesting: deployment.advisor_vesting,
            sale: genesis.sale,
            partner: genesis.partner,
            marketing: genesis.marketing,
            reserved: genesis.reserved,
            admin: genesis.admin,
        }
    }

    /// Parses the JSON text of a deployment file.
    pub fn from_json(text: &str) -> Result<DeploymentFile, Error> {
        serde_json::from_str(text).map_err(|error| Error::DeploymentFile(error.to_string()))
    }

    /// The file's JSON text (pretty, one field a line, ending in a newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("addresses and numbers serialize");
        text.push('\n');
        text
    }

    /// Reads the deployment file at `path`.
    pub fn read(path: &Path) -> Result<DeploymentFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::DeploymentFile(format!("cannot read {}: {error}", path.display()))
        })?;
        DeploymentFile::from_json(&text)
            .map_err(|error| Error::DeploymentFile(format!("{}: {error}", path.display())))
    }

    /// Writes the file to `path`, which must not exist yet: a deployment's record is never
    /// overwritten by another's.
    pub fn write_new(&self, path: &Path) -> Result<(), Error> {
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path);
        let mut file = created.map_err(|error| {
            Error::DeploymentFile(format!("cannot create {}: {error}", path.display()))
        })?;
        file.write_all(self.to_json().as_bytes())?;
        file.sync_all()?;
        Ok(())
    }
}

/// Addresses as EIP-55 checksummed strings on write, any case on read.
mod checksummed {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Address;

    pub fn serialize<S: Serializer>(address: &Address, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&address.to_checksum(None))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .ok_or_else(|| serde::de::Error::custom(format!("{text}: not 0x-prefixed")))?;
        let bytes: [u8; 20] = alloy::hex::decode(digits)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                serde::de::Error::custom(format!("{text}: not a 20-byte hex address"))
            })?;
        Ok(Address::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DeploymentFile {
        let address = |byte| Address::repeat_byte(byte);
        DeploymentFile {
            chain_id: 31_337,
            token: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            rewards: address(0xA2),
            anchor: address(0xA3),
            bridge: address(0xA4),
            team_vesting: address(0xA5),
            advisor_vesting: address(0xA6),
            sale: address(0xA7),
            partner: address(0xA8),
            marketing: address(0xA9),
            reserved: address(0xAA),
            admin: address(0xAB),
        }
    }

    #[test]
    fn deployment_files_are_written_checksummed_and_read_in_any_case() {
        let file = sample();
        let text = file.to_json();
        assert!(text.contains("\"token\": \"0x5FbDB2315678afecb367f032d93F642f64180aa3\""));
        assert!(text.contains("\"chain_id\": 31337"));
        assert_eq!(DeploymentFile::from_json(&text).unwrap(), file);
        let lower = DeploymentFile::from_json(&text.to_lowercase()).unwrap();
        assert_eq!(lower, file);
        let upper_digits = text.replace(
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "0x5FBDB2315678AFECB367F032D93F642F64180AA3",
        );
        assert_eq!(DeploymentFile::from_json(&upper_digits).unwrap(), file);
        for bad in [
            text.replace(
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "5FbDB2315678afecb367f032d93F642f64180aa3",
            ),
            text.replace(
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "0x5FbDB2315678afecb367f032d93F642f64180a",
            ),
            text.replace(
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "0xzzbDB2315678afecb367f032d93F642f64180aa3",
            ),
            text.replace("\"admin\"", "\"owner\""),
        ] {
            assert!(DeploymentFile::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deployment_files_are_never_overwritten() {
        let directory = std::env::temp_dir().join(format!(
            "mileverse-deployment-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("deployment.json");
        sample().write_new(&path).unwrap();
        assert_eq!(DeploymentFile::read(&path).unwrap(), sample());
        let other = DeploymentFile {
            chain_id: 1,
            ..sample()
        };
        assert!(other.write_new(&path).is_err());
        assert_eq!(DeploymentFile::read(&path).unwrap(), sample());
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
