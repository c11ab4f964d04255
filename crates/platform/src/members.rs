//! Members (MV-1): phone verification, sign-up, PIN sessions with lock-out, devices, profile,
//! balances, transaction history and withdrawal.
//!
//! - A verification sends a 6-digit code by SMS; it lives `verification_ttl_s`, allows
//!   [`VERIFICATION_ATTEMPTS_MAX`] wrong codes, and a phone may ask for
//!   [`VERIFICATIONS_PER_PHONE_PER_HOUR_MAX`] codes an hour.
//! - PINs are 6 digits, not all the same and not a straight run (`123456`, `654321`).
//!   [`PIN_FAILURES_MAX`] wrong PINs in a row lock the member until an operator unlocks it.
//! - The member's wallet is a ledger account whose id is the member id; it is created before
//!   the member record, so a member never exists without a wallet.

use crate::error::Entity;
use ledger::types::{AccountId, Transfer, TransferFlags, TransferId};

use crate::chart::{self, transfer_code};
use crate::crypto;
use crate::domain::{
    self, Device, KIND_LINK, KIND_MEMBER, KIND_SESSION, KIND_VERIFICATION, MemberRecord,
    MemberStatus, SessionRecord, VerificationRecord, id_key,
};
use crate::error::{PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

pub const VERIFICATION_ATTEMPTS_MAX: u32 = 5;
pub const VERIFICATIONS_PER_PHONE_PER_HOUR_MAX: usize = 5;
pub const PIN_FAILURES_MAX: u32 = 5;
/// PIN hashes computed at once (each takes 19 MiB).
pub const PIN_HASHING_CONCURRENCY_MAX: usize = 4;
pub const NAME_CHARS_MAX: usize = 50;
pub const DEVICES_PER_MEMBER_MAX: usize = 10;
pub const TRANSACTIONS_PAGE_MAX: usize = 100;
pub const PAYOUT_CHARS_MAX: usize = 200;
/// Most payout transfers one withdrawal may need (value that arrives during a withdrawal
/// cut short takes another).
pub const WITHDRAWAL_PAYOUTS_MAX: u32 = 8;

/// The id of a member's `index`th withdrawal payout: derived, so a retried withdrawal finds
/// the payout it already made instead of making another. High bit set, like the platform's
/// own ids, and apart from random ids by a hash domain.
pub fn payout_transfer_id(member_id: u128, index: u32) -> u128 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/withdrawal-payout/");
    hasher.update(member_id.to_be_bytes());
    hasher.update(index.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

/// Normalizes a phone number to E.164: `010-1234-5678` and `+82 10 1234 5678` both become
/// `+821012345678`. A leading `0` means a Korean national number.
pub fn normalize_phone(text: &str) -> Result<String, PlatformError> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = compact.strip_prefix('0') {
        format!("82{rest}")
    } else {
        return Err(invalid(
            "phone",
            "start with + and a country code, or with 0",
        ));
    };
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("phone", "8 to 15 digits in E.164"));
    }
    Ok(format!("+{digits}"))
}

pub fn check_pin(pin: &str) -> Result<(), PlatformError> {
    let digits = pin.as_bytes();
    if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid("pin", "exactly 6 digits"));
    }
    let all_same = digits.iter().all(|&d| d == digits[0]);
    let ascending = digits.windows(2).all(|w| w[1] == w[0] + 1);
    let descending = digits.windows(2).all(|w| w[0] == w[1] + 1);
    if all_same || ascending || descending {
        return Err(invalid(
            "pin",
            "too easy to guess (same digit or a straight run)",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String, PlatformError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
        return Err(invalid("name", format!("1 to {NAME_CHARS_MAX} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "no control characters"));
    }
    Ok(name.to_string())
}

/// A phone proven by a verification: its blind index and the number.
type VerifiedPhone = ([u8; 32], String);

fn member_context(member_id: u128, field: &str) -> Vec<u8> {
    format!("member/{member_id}/{field}").into_bytes()
}

fn verification_context(id: u128) -> Vec<u8> {
    format!("verification/{id}/phone").into_bytes()
}

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionGrant {
    pub token: String,
    pub session_id: u128,
    pub member_id: u128,
    pub expires_at_s: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    pub pending: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionLine {
    pub transfer_id: u128,
    /// Engine timestamp (ns); also the paging cursor.
    pub timestamp_ns: u64,
    pub reason: &'static str,
    /// Positive when value came in, negative when it went out.
    pub amount: i128,
    pub balance_after: i128,
    pub pending: bool,
    /// The business record behind the transfer (exchange id, ...).
    pub reference: u128,
}

impl Platform {
    /// Sends a verification code to `phone`; returns the verification id.
    pub async fn request_verification(&self, phone: &str) -> Result<u128, PlatformError> {
        let phone = normalize_phone(phone)?;
        let now = now_s();
        let id = chart::new_id();
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        let record = VerificationRecord {
            id,
            phone_index,
            phone_sealed: self.keys.seal(phone.as_bytes(), &verification_context(id)),
            code_hash: self.keys.code_hash(id, &code),
            created_at_s: now,
            expires_at_s: now + self.config.verification_ttl_s,
            attempts: 0,
            used: false,
        };
        let sequence = {
            let mut state = self.lock();
            let sends = state.verification_sends.entry(phone_index).or_default();
            sends.retain(|&at| at + 3600 > now);
            if sends.len() >= VERIFICATIONS_PER_PHONE_PER_HOUR_MAX {
                return Err(PlatformError::TooManyVerifications);
            }
            sends.push(now);
            let write = domain::put(KIND_VERIFICATION, &id_key(id), &record);
            state.verifications.insert(id, record);
            self.queue(vec![write])?
        };
        self.durable(sequence).await?;
        let text = format!("[Mileverse] verification code {code}");
        self.sms
            .send(&phone, &text)
            .await
            .map_err(|error| PlatformError::SmsUnavailable(error.to_string()))?;
        Ok(id)
    }

    /// Checks a code; on success the verification is spent and its phone returned.
    fn spend_verification(
        &self,
        state: &mut domain::State,
        verification_id: u128,
        code: &str,
        writes: &mut Vec<store::records::RecordWrite>,
    ) -> Result<([u8; 32], String), PlatformError> {
        let now = now_s();
        let verification = state
            .verifications
            .get_mut(&verification_id)
            .ok_or(PlatformError::NotFound(Entity::Verification))?;
        if verification.used || verification.expires_at_s <= now {
            return Err(PlatformError::VerificationExpired);
        }
        if verification.attempts >= VERIFICATION_ATTEMPTS_MAX {
            return Err(PlatformError::VerificationExpired);
        }
        let expected = self.keys.code_hash(verification_id, code);
        if !crypto::constant_time_eq(&expected, &verification.code_hash) {
            verification.attempts += 1;
            writes.push(domain::put(
                KIND_VERIFICATION,
                &id_key(verification_id),
                verification,
            ));
            let remaining = VERIFICATION_ATTEMPTS_MAX - verification.attempts;
            return Err(PlatformError::WrongCode { remaining });
        }
        let phone = self
            .keys
            .open_string(
                &verification.phone_sealed,
                &verification_context(verification_id),
            )
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        verification.used = true;
        let index = verification.phone_index;
        writes.push(domain::delete(KIND_VERIFICATION, &id_key(verification_id)));
        state.verifications.remove(&verification_id);
        Ok((index, phone))
    }

    /// Runs PIN hashing (argon2id: 19 MiB and tens of ms each) off the async threads, at
    /// most [`PIN_HASHING_CONCURRENCY_MAX`] at a time, so a flood of logins queues instead of
    /// taking all memory.
    async fn pin_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PlatformError> {
        let _permit = self
            .pin_hashing
            .acquire()
            .await
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| PlatformError::Unavailable(error.to_string()))
    }

    /// Spends a verification for a sign-up: the outcome (phone index and phone) and the write
    /// sequence to wait for. A wrong code still stores the attempt; a right code for a phone
    /// in use is spent too.
    fn spend_for_sign_up(
        &self,
        verification_id: u128,
        code: &str,
    ) -> Result<(Result<VerifiedPhone, PlatformError>, u64), PlatformError> {
        let mut state = self.lock();
        let mut writes = Vec::new();
        let mut outcome = self.spend_verification(&mut state, verification_id, code, &mut writes);
        if let Ok((phone_index, _)) = &outcome
            && state.member_by_phone.contains_key(phone_index)
        {
            outcome = Err(PlatformError::PhoneTaken);
        }
        Ok((outcome, self.queue(writes)?))
    }

    /// Signs up a member with a verified phone; returns the member id.
    pub async fn sign_up(
        &self,
        verification_id: u128,
        code: &str,
        name: &str,
        pin: &str,
    ) -> Result<u128, PlatformError> {
        let name = check_name(name)?;
        check_pin(pin)?;
        // The code first: an unverified request must not cost a PIN hash or a wallet.
        let (outcome, spent) = self.spend_for_sign_up(verification_id, code)?;
        // Even a refusal waits: a wrong code's attempt count must survive a crash.
        self.durable(spent).await?;
        let (phone_index, phone) = outcome?;
        let pin = pin.to_string();
        let pin_hash = self
            .pin_work(move || crypto::hash_pin(&pin))
            .await?
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        let member_id = chart::new_id();
        // The wallet first: an orphan empty account is harmless, a member without one is not.
        let results = self
            .ledger
            .create_accounts(vec![chart::member_wallet(member_id)])
            .await?;
        if !results[0].is_ok() {
            return Err(PlatformError::Unavailable(format!(
                "wallet not created: {}",
                results[0].as_str()
            )));
        }
        let sequence = {
            let mut state = self.lock();
            let mut writes = Vec::new();
            if state.member_by_phone.contains_key(&phone_index) {
                return Err(PlatformError::PhoneTaken); // Lost a race with the same phone.
            }
            let member = MemberRecord {
                id: member_id,
                phone_index,
                phone_sealed: self
                    .keys
                    .seal(phone.as_bytes(), &member_context(member_id, "phone")),
                name_sealed: self
                    .keys
                    .seal(name.as_bytes(), &member_context(member_id, "name")),
                pin_hash,
                status: MemberStatus::Active,
                failed_pins: 0,
                locked: false,
                created_at_s: now_s(),
                withdrawn_at_s: None,
                devices: Vec::new(),
                payout_sealed: Vec::new(),
                payout_amount: 0,
            };
            writes.push(domain::put(KIND_MEMBER, &id_key(member_id), &member));
            state.insert_member(member);
            self.queue(writes)?
        };
        self.durable(sequence).await?;
        Ok(member_id)
    }

    /// Logs in with phone and PIN. Wrong PINs count towards the lock-out.
    pub async fn log_in(&self, phone: &str, pin: &str) -> Result<SessionGrant, PlatformError> {
        let phone =
            normalize_phone(phone).map_err(|_| PlatformError::WrongPin { remaining: None })?;
        let index = self.keys.blind_index(b"phone", phone.as_bytes());
        let (member_id, pin_hash) = {
            let state = self.lock();
            let member_id = *state
                .member_by_phone
                .get(&index)
                .ok_or(PlatformError::WrongPin { remaining: None })?;
            let member = &state.members[&member_id];
            if member.locked {
                return Err(PlatformError::Locked);
            }
            (member_id, member.pin_hash.clone())
        };
        let pin = pin.to_string();
        let matches = self
            .pin_work(move || crypto::verify_pin(&pin, &pin_hash))
            .await?;
        let now = now_s();
        let (sequence, outcome) = {
            let mut state = self.lock();
            let member = state
                .members
                .get_mut(&member_id)
                .ok_or(PlatformError::WrongPin { remaining: None })?;
            if member.locked {
                return Err(PlatformError::Locked);
            }
            if member.status != MemberStatus::Active {
                return Err(PlatformError::WrongPin { remaining: None });
            }
            let mut writes = Vec::new();
            let outcome = if matches {
                member.failed_pins = 0;
                let (token, token_hash) = crypto::new_token();
                let session = SessionRecord {
                    token_hash,
                    id: chart::new_id(),
                    member_id,
                    created_at_s: now,
                    expires_at_s: now + self.config.session_ttl_s,
                };
                let grant = SessionGrant {
                    token,
                    session_id: session.id,
                    member_id,
                    expires_at_s: session.expires_at_s,
                };
                writes.push(domain::put(KIND_MEMBER, &id_key(member_id), member));
                writes.push(domain::put(KIND_SESSION, &token_hash, &session));
                state.sessions.insert(token_hash, session);
                Ok(grant)
            } else {
                member.failed_pins += 1;
                member.locked = member.failed_pins >= PIN_FAILURES_MAX;
                writes.push(domain::put(KIND_MEMBER, &id_key(member_id), member));
                if member.locked {
                    // A lock ends every session: whoever guessed must not keep one.
                    Self::revoke_all_sessions(&mut state, member_id, &mut writes);
                    Err(PlatformError::Locked)
                } else {
                    let remaining = Some(PIN_FAILURES_MAX - member.failed_pins);
                    Err(PlatformError::WrongPin { remaining })
                }
            };
            (self.queue(writes)?, outcome)
        };
        self.durable(sequence).await?;
        outcome
    }

    /// The member behind a bearer token.
    pub fn authenticate(&self, token: &str) -> Result<u128, PlatformError> {
        let hash = crypto::token_hash(token);
        let now = now_s();
        let state = self.lock();
        let session = state
            .sessions
            .get(&hash)
            .ok_or(PlatformError::SessionExpired)?;
        if session.expires_at_s <= now {
            return Err(PlatformError::SessionExpired);
        }
        let member = state
            .members
            .get(&session.member_id)
            .ok_or(PlatformError::SessionExpired)?;
        if member.status != MemberStatus::Active {
            return Err(PlatformError::SessionExpired);
        }
        if member.locked {
            return Err(PlatformError::Locked);
        }
        Ok(member.id)
    }

    /// Revokes the session of this token (log out).
    pub async fn revoke_session(&self, token: &str) -> Result<(), PlatformError> {
        let hash = crypto::token_hash(token);
        let sequence = {
            let mut state = self.lock();
            if state.sessions.remove(&hash).is_none() {
                return Err(PlatformError::SessionExpired);
            }
            self.queue(vec![domain::delete(KIND_SESSION, &hash)])?
        };
        self.durable(sequence).await
    }

    /// Revokes every session of a member; returns how many.
    fn revoke_all_sessions(
        state: &mut domain::State,
        member_id: u128,
        writes: &mut Vec<store::records::RecordWrite>,
    ) -> usize {
        let hashes: Vec<[u8; 32]> = state
            .sessions
            .values()
            .filter(|session| session.member_id == member_id)
            .map(|session| session.token_hash)
            .collect();
        for hash in &hashes {
            state.sessions.remove(hash);
            writes.push(domain::delete(KIND_SESSION, hash));
        }
        hashes.len()
    }

    pub async fn member(&self, member_id: u128) -> Result<MemberView, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let member = state
            .members
            .get(&member_id)
            .ok_or(PlatformError::NotFound(Entity::Member))?;
        self.member_view(member)
    }

    fn member_view(&self, member: &MemberRecord) -> Result<MemberView, PlatformError> {
        let open = |sealed: &[u8], field: &str| -> Result<String, PlatformError> {
            if sealed.is_empty() {
                return Ok(String::new());
            }
            self.keys
                .open_string(sealed, &member_context(member.id, field))
                .map_err(|error| PlatformError::Unavailable(error.to_string()))
        };
        let devices = member
            .devices
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

    /// Applies `change` to a member record under the lock, stores the record and waits until
    /// it is durable. A `change` that refuses must leave the record as it was.
    async fn change_member<T>(
        &self,
        member_id: u128,
        change: impl FnOnce(&Platform, &mut MemberRecord) -> Result<T, PlatformError>,
    ) -> Result<T, PlatformError> {
        let (sequence, value) = {
            let mut state = self.lock();
            let member = state
                .members
                .get_mut(&member_id)
                .ok_or(PlatformError::NotFound(Entity::Member))?;
            let value = change(self, member)?;
            let write = domain::put(KIND_MEMBER, &id_key(member_id), member);
            (self.queue(vec![write])?, value)
        };
        self.durable(sequence).await?;
        Ok(value)
    }

    /// Changes the member's name.
    pub async fn rename(&self, member_id: u128, name: &str) -> Result<MemberView, PlatformError> {
        let name = check_name(name)?;
        self.change_member(member_id, |platform, member| {
            let context = member_context(member_id, "name");
            member.name_sealed = platform.keys.seal(name.as_bytes(), &context);
            platform.member_view(member)
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
        self.change_member(member_id, |platform, member| {
            if member.devices.len() >= DEVICES_PER_MEMBER_MAX {
                let detail = format!("at most {DEVICES_PER_MEMBER_MAX} devices");
                return Err(invalid("device", detail));
            }
            let id = chart::new_id();
            let context = member_context(member_id, &format!("device/{id}"));
            let device = Device {
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
            member.devices.push(device);
            Ok(view)
        })
        .await
    }

    pub async fn remove_device(
        &self,
        member_id: u128,
        device_id: u128,
    ) -> Result<(), PlatformError> {
        self.change_member(member_id, |_, member| {
            let position = member
                .devices
                .iter()
                .position(|device| device.id == device_id)
                .ok_or(PlatformError::NotFound(Entity::Device))?;
            member.devices.remove(position);
            Ok(())
        })
        .await
    }

    /// Operator action: clears the lock-out and the wrong-PIN count.
    pub async fn unlock_member(&self, member_id: u128) -> Result<(), PlatformError> {
        self.change_member(member_id, |_, member| {
            member.locked = false;
            member.failed_pins = 0;
            Ok(())
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
        let held = account.debits_pending;
        let available = account
            .credits_posted
            .saturating_sub(account.debits_posted)
            .saturating_sub(held);
        Ok(Balance {
            available: u64::try_from(available).unwrap_or(u64::MAX),
            pending: u64::try_from(held).unwrap_or(u64::MAX),
        })
    }

    /// Transfers that touched the member's wallet, newest first, older than `before_ns`.
    pub async fn transactions(
        &self,
        member_id: u128,
        before_ns: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TransactionLine>, PlatformError> {
        let limit = limit.clamp(1, TRANSACTIONS_PAGE_MAX);
        let before = before_ns.unwrap_or(u64::MAX);
        let wallet = AccountId(member_id);
        let history = self.ledger.account_history(wallet).await?;
        let entries: Vec<_> = history
            .iter()
            .rev()
            .filter(|entry| entry.timestamp < before)
            .take(limit)
            .copied()
            .collect();
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

    /// Withdraws the member. Refused while value remains, unless `payout` says where the
    /// remaining MVP is paid out in KRW; then the balance moves to the payout account.
    pub async fn withdraw(
        &self,
        member_id: u128,
        payout: Option<&str>,
    ) -> Result<u64, PlatformError> {
        if let Some(payout) = payout {
            let length = payout.trim().chars().count();
            if length == 0 || length > PAYOUT_CHARS_MAX {
                return Err(invalid(
                    "payout",
                    format!("1 to {PAYOUT_CHARS_MAX} characters"),
                ));
            }
        }
        let _withdrawing = {
            let mut state = self.lock();
            let open = state
                .exchanges_by_member
                .get(&member_id)
                .is_some_and(|ids| ids.iter().any(|id| state.open_exchanges.contains_key(id)));
            // While withdrawing, no exchange may start (it could credit a closed wallet).
            if open || !state.withdrawing.insert(member_id) {
                return Err(PlatformError::ExchangeInProgress);
            }
            Withdrawing {
                platform: self,
                member_id,
            }
        };
        let balance = self.balance(member_id).await?;
        if balance.pending > 0 {
            return Err(PlatformError::ExchangeInProgress);
        }
        // A withdrawal cut short (crash, client gone) may already have paid out: its payout
        // transfers have ids derived from the member, so they are found, never repeated.
        let (paid_before, next_payout) = self.payouts_made(member_id).await?;
        let owed = paid_before.saturating_add(balance.available);
        if owed > 0 && payout.is_none() {
            return Err(PlatformError::BalanceRemaining { balance: owed });
        }
        if balance.available > 0 {
            self.pay_out(member_id, next_payout, balance.available)
                .await?;
        }
        let (paid, _) = self.payouts_made(member_id).await?;
        self.close_member(member_id, payout.unwrap_or(""), paid)
            .await?;
        Ok(paid)
    }

    /// The MVP already paid out to a withdrawing member, and the index of its next payout.
    async fn payouts_made(&self, member_id: u128) -> Result<(u64, u32), PlatformError> {
        let ids: Vec<TransferId> = (0..WITHDRAWAL_PAYOUTS_MAX)
            .map(|index| TransferId(payout_transfer_id(member_id, index)))
            .collect();
        let found = self.ledger.lookup_transfers(ids).await?;
        let paid: u128 = found.iter().map(|transfer| transfer.amount).sum();
        let next = u32::try_from(found.len()).unwrap_or(u32::MAX);
        if next >= WITHDRAWAL_PAYOUTS_MAX {
            return Err(PlatformError::Unavailable(
                "too many payouts for one member".into(),
            ));
        }
        Ok((u64::try_from(paid).unwrap_or(u64::MAX), next))
    }

    /// Moves the whole wallet to the payout account (a balancing transfer, so a concurrent
    /// movement can never make it overdraw), under the id of payout `index`.
    async fn pay_out(&self, member_id: u128, index: u32, amount: u64) -> Result<(), PlatformError> {
        let transfer = Transfer {
            id: TransferId(payout_transfer_id(member_id, index)),
            debit_account_id: AccountId(member_id),
            credit_account_id: chart::WITHDRAWAL_PAYOUTS_ACCOUNT,
            amount: u128::from(amount),
            user_data_128: member_id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::WITHDRAWAL,
            flags: TransferFlags::BALANCING_DEBIT,
            ..Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![transfer]).await?;
        if !results[0].is_ok() {
            return Err(PlatformError::Unavailable(format!(
                "payout transfer refused: {}",
                results[0].as_str()
            )));
        }
        Ok(())
    }

    async fn close_member(
        &self,
        member_id: u128,
        payout: &str,
        amount: u64,
    ) -> Result<(), PlatformError> {
        let sequence = {
            let mut state = self.lock();
            let mut writes = Vec::new();
            Self::revoke_all_sessions(&mut state, member_id, &mut writes);
            let member = state
                .members
                .get_mut(&member_id)
                .ok_or(PlatformError::NotFound(Entity::Member))?;
            member.status = MemberStatus::Withdrawn;
            member.withdrawn_at_s = Some(now_s());
            // Personal data goes; the id stays, because the ledger refers to it.
            member.name_sealed.clear();
            member.phone_sealed.clear();
            member.devices.clear();
            member.payout_sealed = if payout.is_empty() {
                Vec::new()
            } else {
                self.keys
                    .seal(payout.as_bytes(), &member_context(member_id, "payout"))
            };
            member.payout_amount = amount;
            let index = member.phone_index;
            writes.push(domain::put(KIND_MEMBER, &id_key(member_id), member));
            state.member_by_phone.remove(&index);
            // The memberships are released: whoever holds them (the same person signing up
            // again) may link them anew.
            let links: Vec<u128> = state
                .links
                .values()
                .filter(|link| link.member_id == member_id && !link.removed)
                .map(|link| link.id)
                .collect();
            for link_id in links {
                let Some(link) = state.links.get_mut(&link_id) else {
                    continue;
                };
                link.removed = true;
                let key = (link.partner_id, link.member_ref.clone());
                writes.push(domain::put(KIND_LINK, &id_key(link_id), link));
                state.link_by_ref.remove(&key);
            }
            self.queue(writes)?
        };
        self.durable(sequence).await
    }
}

/// Marks a withdrawal in progress; cleared however the withdrawal ends.
struct Withdrawing<'a> {
    platform: &'a Platform,
    member_id: u128,
}

impl Drop for Withdrawing<'_> {
    fn drop(&mut self) {
        self.platform.lock().withdrawing.remove(&self.member_id);
    }
}

fn line_of(
    transfer: &Transfer,
    wallet: AccountId,
    entry: &ledger::types::AccountBalance,
) -> TransactionLine {
    let incoming = transfer.credit_account_id == wallet;
    let amount = transfer.amount as i128;
    TransactionLine {
        transfer_id: transfer.id.0,
        timestamp_ns: transfer.timestamp,
        reason: chart::reason_name(transfer.code),
        amount: if incoming { amount } else { -amount },
        balance_after: entry.credits_posted as i128 - entry.debits_posted as i128,
        pending: transfer.flags.contains(TransferFlags::PENDING),
        reference: transfer.user_data_128,
    }
}
