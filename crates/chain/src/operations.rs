//! Everyday operations on a deployment, for the `mileverse chain` commands and for tests:
//! keys, ether and MVC transfers, balances, funding and claiming a reward quarter, and MVC
//! amounts as exact decimal text (18 places, never floats).
//!
//! Transactions are sent from the provider's default signer and waited for with
//! [`confirm`] (a revert is an error whose [`Error::revert_reason`] names it).

use alloy::network::TransactionBuilder;
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};

use crate::contracts::{MVC, RewardDistributor};
use crate::{Address, B256, DeploymentFile, Error, PrivateKeySigner, U256, confirm};

/// Decimal places of MVC (and of ether): one MVC is 10^18 wei.
pub const DECIMALS: usize = 18;

/// 10^18.
const WEI_PER_UNIT: u128 = 1_000_000_000_000_000_000;

/// A fresh secp256k1 key from the operating system's randomness.
pub fn new_key() -> PrivateKeySigner {
    PrivateKeySigner::random_with(&mut rand::rngs::OsRng)
}

/// A confirmed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub tx_hash: B256,
    pub block_number: u64,
    pub gas_used: u64,
}

impl From<&TransactionReceipt> for Sent {
    fn from(receipt: &TransactionReceipt) -> Sent {
        Sent {
            tx_hash: receipt.transaction_hash,
            block_number: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
        }
    }
}

/// `text` (`"12"`, `"0.5"`, `"1234.000000000000000001"`) in wei: digits, at most one
/// point, at most 18 digits after it.
pub fn parse_amount(text: &str) -> Result<U256, Error> {
    let bad = |reason: &str| Error::Amount(format!("{text:?}: {reason}"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(bad("no digits"));
    }
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(bad("only digits and one decimal point"));
    }
    if fraction.len() > DECIMALS {
        return Err(bad("more than 18 decimal places"));
    }
    let whole = if whole.is_empty() {
        U256::ZERO
    } else {
        U256::from_str_radix(whole, 10).map_err(|_| bad("too large"))?
    };
    let padded = format!("{fraction:0<width$}", width = DECIMALS);
    let fraction: u128 = padded.parse().map_err(|_| bad("bad fraction"))?;
    whole
        .checked_mul(U256::from(WEI_PER_UNIT))
        .and_then(|wei| wei.checked_add(U256::from(fraction)))
        .ok_or_else(|| bad("too large"))
}

/// `wei` as whole units with all 18 decimal places: `1234.500000000000000000`.
pub fn format_amount(wei: U256) -> String {
    let unit = U256::from(WEI_PER_UNIT);
    let fraction: u128 = (wei % unit).to();
    format!("{}.{fraction:018}", wei / unit)
}

/// Fails unless the provider's node serves `deployment`'s chain.
pub async fn check_chain<P: Provider>(
    provider: &P,
    deployment: &DeploymentFile,
) -> Result<(), Error> {
    let actual = provider.get_chain_id().await?;
    if actual == deployment.chain_id {
        Ok(())
    } else {
        Err(Error::WrongChain {
            expected: deployment.chain_id,
            actual,
        })
    }
}

/// Sends `wei` of ether to `to`.
pub async fn send_ether<P: Provider>(provider: &P, to: Address, wei: U256) -> Result<Sent, Error> {
    let request = TransactionRequest::default().with_to(to).with_value(wei);
    let receipt = confirm(provider.send_transaction(request).await?).await?;
    Ok(Sent::from(&receipt))
}

/// The ether balance of `holder`, in wei.
pub async fn ether_balance<P: Provider>(provider: &P, holder: Address) -> Result<U256, Error> {
    Ok(provider.get_balance(holder).await?)
}

/// Transfers `wei` MVC to `to`.
pub async fn transfer_mvc<P: Provider>(
    provider: &P,
    deployment: &DeploymentFile,
    to: Address,
    wei: U256,
) -> Result<Sent, Error> {
    let token = MVC::new(deployment.token, provider);
    let receipt = confirm(token.transfer(to, wei).send().await?).await?;
    Ok(Sent::from(&receipt))
}

/// The MVC balance of `holder`, in wei.
pub async fn mvc_balance<P: Provider>(
    provider: &P,
    deployment: &DeploymentFile,
    holder: Address,
) -> Result<U256, Error> {
    let token = MVC::new(deployment.token, provider);
    Ok(token.balanceOf(holder).call().await?)
}

/// Opens the reward quarter that ended at `end` (Unix seconds, in the past): approves the
/// distributor to take one pool (4,500,000 MVC) from the signer, who needs REWARDS_ROLE,
/// and funds it. Returns the new quarter's number and the funding transaction.
pub async fn fund_quarter<P: Provider>(
    provider: &P,
    deployment: &DeploymentFile,
    end: u64,
) -> Result<(u64, Sent), Error> {
    let rewards = RewardDistributor::new(deployment.rewards, provider);
    let pool = rewards.POOL_PER_QUARTER().call().await?;
    let token = MVC::new(deployment.token, provider);
    confirm(token.approve(deployment.rewards, pool).send().await?).await?;
    let receipt = confirm(rewards.fund(end).send().await?).await?;
    let funded = receipt
        .decoded_log::<RewardDistributor::QuarterFunded>()
        .ok_or(Error::NoEvent {
            tx: receipt.transaction_hash,
            event: "QuarterFunded",
        })?;
    Ok((funded.data.quarter.saturating_to(), Sent::from(&receipt)))
}

/// What `holder` may claim for `quarter`, in wei (0 once claimed).
pub async fn claimable<P: Provider>(
    provider: &P,
    deployment: &DeploymentFile,
    quarter: u64,
    holder: Address,
) -> Result<U256, Error> {
    let rewards = RewardDistributor::new(deployment.rewards, provider);
    Ok(rewards
        .claimable(U256::from(quarter), holder)
        .call()
        .await?)
}

/// Claims the signer's reward for `quarter`; returns the amount paid, in wei.
pub async fn claim<P: Provider>(
    provider: &P,
    deployment: &DeploymentFile,
    quarter: u64,
) -> Result<(U256, Sent), Error> {
    let rewards = RewardDistributor::new(deployment.rewards, provider);
    let receipt = confirm(rewards.claim(U256::from(quarter)).send().await?).await?;
    let claimed = receipt
        .decoded_log::<RewardDistributor::Claimed>()
        .ok_or(Error::NoEvent {
            tx: receipt.transaction_hash,
            event: "Claimed",
        })?;
    Ok((claimed.data.amount, Sent::from(&receipt)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals_with_18_places() {
        let unit = U256::from(WEI_PER_UNIT);
        assert_eq!(parse_amount("1").unwrap(), unit);
        assert_eq!(parse_amount("1.5").unwrap(), unit + unit / U256::from(2));
        assert_eq!(parse_amount(".5").unwrap(), unit / U256::from(2));
        assert_eq!(parse_amount("2.").unwrap(), unit * U256::from(2));
        assert_eq!(parse_amount("0.000000000000000001").unwrap(), U256::from(1));
        let cap = parse_amount("3000000000").unwrap();
        assert_eq!(format_amount(cap), "3000000000.000000000000000000");
        assert_eq!(format_amount(U256::from(1)), "0.000000000000000001");
        assert_eq!(format_amount(U256::ZERO), "0.000000000000000000");
        let odd = parse_amount("4500000.123456789012345678").unwrap();
        assert_eq!(format_amount(odd), "4500000.123456789012345678");
        for bad in [
            "",
            ".",
            "-1",
            "1.0000000000000000001",
            "1,5",
            "1.2.3",
            " 1",
            "0x10",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?}");
        }
        let huge = "1".repeat(80);
        assert!(parse_amount(&huge).is_err());
    }

    #[test]
    fn new_keys_are_random() {
        assert_ne!(new_key().address(), new_key().address());
    }
}
