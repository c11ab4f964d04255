//! What a member sees and changes of themself: profile, devices, balance, history; and the
//! operator's unlock.

use ledger::types::{AccountId, Transfer, TransferFlags};
use store::tables::members::{DeviceRow, MemberRow, MemberStatus, MemberWrite};

use super::{Claimed, DEVICES_PER_MEMBER_MAX, TRANSACTIONS_PAGE_MAX, check_name, member_context};
use crate::chart;
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

/// What a member sees of themself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub id: u128,
    pub name: String,
    pub phone: String,
    pub status: MemberStatus,
    pub locked: bool,
    pub created_at_s: u64,
    pub devices: Vec<DeviceView>,
}

/// A registered device as its member sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceView {
    pub id: u128,
    pub name: String,
    pub platform: String,
    pub created_at_s: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    pub pending: u64,
}

impl Balance {
    /// A wallet account's balance: available = posted credits − posted debits − held
    /// debits (saturating: a wallet never goes below zero).
    pub fn of(account: &ledger::types::Account) -> Balance {
        let held = account.debits_pending;
        let available = account
            .credits_posted
            .saturating_sub(account.debits_posted)
            .saturating_sub(held);
        Balance {
            available: u64::try_from(available).unwrap_or(u64::MAX),
            pending: u64::try_from(held).unwrap_or(u64::MAX),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionLine {
    pub transfer_id: u128,
    /// Engine timestamp (ns); also the paging cursor.
    pub timestamp_ns: u64,
    pub reason: &'static str,
    /// The amount moved, in whole MVP; `incoming` says which way.
    pub amount: u128,
    /// True when value came into the wallet, false when it went out.
    pub incoming: bool,
    /// The wallet's posted balance after the transfer.
    pub balance_after: u128,
    pub pending: bool,
    /// The business record behind the transfer (exchange id, ...).
    pub reference: u128,
}

/// A change to one member: the row as changed, the other writes, and the answer.
type Changed<T> = (Vec<MemberWrite>, T);

impl Platform {
    pub async fn member(&self, member_id: u128) -> Result<MemberView, PlatformError> {
        let (member, devices) = self
            .member_and_devices(member_id)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Member))?;
        self.member_view(&member, &devices)
    }

    fn member_view(
        &self,
        member: &MemberRow,
        devices: &[DeviceRow],
    ) -> Result<MemberView, PlatformError> {
        let open = |sealed: &[u8], field: &str| -> Result<String, PlatformError> {
            if sealed.is_empty() {
                return Ok(String::new());
            }
            self.keys
                .open_string(sealed, &member_context(member.id, field))
                .map_err(|error| PlatformError::Unavailable(error.to_string()))
        };
        let devices = devices
            .iter()
            .map(|device| {
                Ok(DeviceView {
                    id: device.id,
                    name: open(&device.name_sealed, &format!("device/{}", device.id))?,
                    platform: device.platform.clone(),
                    created_at_s: device.created_at_s,
                })
            })
            .collect::<Result<Vec<_>, PlatformError>>()?;
        Ok(MemberView {
            id: member.id,
            name: open(&member.name_sealed, "name")?,
            phone: open(&member.phone_sealed, "phone")?,
            status: member.status,
            locked: member.locked,
            created_at_s: member.created_at_s,
            devices,
        })
    }

    /// Applies `change` to the member (one change per member at a time) and commits what it
    /// answers: the member's row as changed, then its other writes. A `change` that refuses
    /// writes nothing.
    async fn change_member<T>(
        &self,
        member_id: u128,
        change: impl FnOnce(
            &Platform,
            &mut MemberRow,
            &[DeviceRow],
        ) -> Result<Changed<T>, PlatformError>,
    ) -> Result<T, PlatformError> {
        let _claim = self.members.claim(Claimed::Member(member_id)).await?;
        let (mut member, devices) = self
            .member_and_devices(member_id)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Member))?;
        let (others, value) = change(self, &mut member, &devices)?;
        let mut writes = vec![MemberWrite::Member(member)];
        writes.extend(others);
        self.commit_members(writes).await?;
        Ok(value)
    }

    /// Changes the member's name.
    pub async fn rename(&self, member_id: u128, name: &str) -> Result<MemberView, PlatformError> {
        let name = check_name(name)?;
        self.change_member(member_id, |platform, member, devices| {
            let context = member_context(member_id, "name");
            member.name_sealed = platform.keys.seal(name.as_bytes(), &context);
            Ok((Vec::new(), platform.member_view(member, devices)?))
        })
        .await
    }

    /// Registers a device (the member's phone app).
    pub async fn register_device(
        &self,
        member_id: u128,
        name: &str,
        platform: &str,
    ) -> Result<DeviceView, PlatformError> {
        let name = check_name(name)?;
        let kind = platform.trim().to_lowercase();
        if !matches!(kind.as_str(), "ios" | "android" | "web") {
            return Err(invalid("platform", "one of ios, android, web"));
        }
        self.change_member(member_id, |platform, _, devices| {
            if devices.len() >= DEVICES_PER_MEMBER_MAX {
                let detail = format!("at most {DEVICES_PER_MEMBER_MAX} devices");
                return Err(invalid("device", detail));
            }
            let id = chart::new_id();
            let context = member_context(member_id, &format!("device/{id}"));
            let device = DeviceRow {
                member_id,
                id,
                name_sealed: platform.keys.seal(name.as_bytes(), &context),
                platform: kind.clone(),
                created_at_s: now_s(),
            };
            let view = DeviceView {
                id,
                name,
                platform: kind,
                created_at_s: device.created_at_s,
            };
            Ok((vec![MemberWrite::Device(device)], view))
        })
        .await
    }

    pub async fn remove_device(
        &self,
        member_id: u128,
        device_id: u128,
    ) -> Result<(), PlatformError> {
        self.change_member(member_id, |_, _, devices| {
            if !devices.iter().any(|device| device.id == device_id) {
                return Err(PlatformError::NotFound(Entity::Device));
            }
            let remove = MemberWrite::RemoveDevice {
                member_id,
                id: device_id,
            };
            Ok((vec![remove], ()))
        })
        .await
    }

    /// Operator action: lifts an operator's lock and forgets the phone's wrong PINs.
    /// The active member whose phone is `phone` (any format `normalize_phone` takes), for
    /// staff: found through the phone's blind index, never by reading every phone.
    pub async fn member_by_phone(&self, phone: &str) -> Result<Option<MemberView>, PlatformError> {
        let phone = super::normalize_phone(phone)?;
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        let Some(member) = self.active_member_by_phone(phone_index).await? else {
            return Ok(None);
        };
        Ok(Some(self.member(member.id).await?))
    }

    pub async fn unlock_member(&self, member_id: u128) -> Result<(), PlatformError> {
        self.change_member(member_id, |_, member, _| {
            member.locked = false;
            let clear = MemberWrite::RemoveLoginGuard(member.phone_index);
            Ok((vec![clear], ()))
        })
        .await
    }

    /// Operator action (e.g. a reported theft): no login, payment or spending until an
    /// operator unlocks; every session ends now.
    pub async fn lock_member(&self, member_id: u128) -> Result<(), PlatformError> {
        self.change_member(member_id, |_, member, _| {
            member.locked = true;
            Ok((vec![MemberWrite::RemoveSessionsOf(member_id)], ()))
        })
        .await
    }

    /// The member's MVP balance: available = posted credits − posted debits − held debits.
    pub async fn balance(&self, member_id: u128) -> Result<Balance, PlatformError> {
        let accounts = self
            .ledger
            .lookup_accounts(vec![AccountId(member_id)])
            .await?;
        let account = accounts
            .first()
            .ok_or(PlatformError::NotFound(Entity::Wallet))?;
        Ok(Balance::of(account))
    }

    /// Transfers that touched the member's wallet, newest first, older than `before_ns`,
    /// with reason `code` only when given: one indexed read of `limit` balance entries
    /// (`get_account_balances`, reversed), whatever the length of the history.
    pub async fn transactions(
        &self,
        member_id: u128,
        page: HistoryPage,
    ) -> Result<Vec<TransactionLine>, PlatformError> {
        let limit = page.limit.clamp(1, TRANSACTIONS_PAGE_MAX);
        let wallet = AccountId(member_id);
        // Nothing is older than the first timestamp.
        if page.before_ns.is_some_and(|before| before <= 1) {
            return Ok(Vec::new());
        }
        let filter = store::query::AccountFilter {
            account_id: wallet,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            code: page.code.unwrap_or(0),
            timestamp_min: 0,
            // Strictly older than the cursor; 0 leaves the end open.
            timestamp_max: page.before_ns.map_or(0, |before| {
                before.min(store::query::TIMESTAMP_MAX.saturating_add(1)) - 1
            }),
            limit: u32::try_from(limit).expect("a page fits a u32"),
            debits: true,
            credits: true,
            reversed: true,
        };
        let entries = self.ledger.account_balances(filter).await?;
        let timestamps = entries.iter().map(|entry| entry.timestamp).collect();
        let transfers = self.ledger.transfers_at(timestamps).await?;
        let by_timestamp: std::collections::HashMap<u64, _> = transfers
            .iter()
            .map(|transfer| (transfer.timestamp, transfer))
            .collect();
        let lines = entries
            .iter()
            .filter_map(|entry| {
                let transfer = by_timestamp.get(&entry.timestamp)?;
                Some(line_of(transfer, wallet, entry))
            })
            .collect();
        Ok(lines)
    }
}

/// Which page of a member's history to read ([`Platform::transactions`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryPage {
    /// Only transfers older than this ledger timestamp (the cursor of the page before).
    pub before_ns: Option<u64>,
    pub limit: usize,
    /// Only transfers with this code (a reason, `chart::reason_code`).
    pub code: Option<u16>,
}

fn line_of(
    transfer: &Transfer,
    wallet: AccountId,
    entry: &ledger::types::AccountBalance,
) -> TransactionLine {
    // A wallet's debits never exceed its credits (the account's flag, which the ledger
    // enforces on every transfer), so its balance is never negative.
    let balance_after = entry.credits_posted.checked_sub(entry.debits_posted);
    assert!(
        balance_after.is_some(),
        "a wallet's debits exceed its credits"
    );
    TransactionLine {
        transfer_id: transfer.id.0,
        timestamp_ns: transfer.timestamp,
        reason: chart::reason_name(transfer.code),
        amount: transfer.amount,
        incoming: transfer.credit_account_id == wallet,
        balance_after: balance_after.unwrap_or(0),
        pending: transfer.flags.contains(TransferFlags::PENDING),
        reference: transfer.user_data_128,
    }
}
