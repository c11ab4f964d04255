//! Getting in: phone verification, sign-up, PIN login from a proven device with delays
//! after wrong PINs, sessions, and the PIN asked again before value leaves.

use crate::members::error::MemberError;
use store::tables::members::{
    self as tables, LoginDeviceRow, LoginGuardRow, MemberRow, MemberStatus, MemberWrite,
    SessionRow, VerificationRow,
};

use super::{
    Claimed, PIN_DELAYS, VERIFICATION_ATTEMPTS_MAX, VERIFICATIONS_PER_PHONE_PER_HOUR_MAX,
    check_name, check_pin, member_context, normalize_phone, verification_context,
};
use crate::chart;
use crate::crypto;
use crate::error::{Entity, PlatformError};
use crate::service::Platform;
use ports::time::now_s;

/// A phone proven by a verification: its blind index and the number.
type VerifiedPhone = ([u8; 32], String);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionGrant {
    pub token: String,
    pub session_id: u128,
    pub member_id: u128,
    pub expires_at_s: u64,
    /// For a device that proved itself by SMS just now: its token for the next logins
    /// (answered this once; only its hash is kept).
    pub device_token: Option<String>,
}

/// A new member, and the token of the device that signed up (trusted for logins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignUpGrant {
    pub member_id: u128,
    pub device_token: String,
}

/// How a login's device proves it may log in to the phone's member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceProof {
    /// No proof: refused with [`MemberError::DeviceUnverified`].
    None,
    /// The token an earlier SMS proof (or the sign-up) gave this device.
    Token(String),
    /// A code sent to the phone just now ([`Platform::request_verification`]).
    Sms { verification_id: u128, code: String },
}

/// A login attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogIn {
    pub phone: String,
    pub pin: String,
    pub device: DeviceProof,
}

/// What the device of a login proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProvenDevice {
    Trusted(LoginDeviceRow),
    BySms,
}

/// The one answer to a wrong PIN, an unknown phone and a withdrawn member alike.
fn wrong_pin() -> PlatformError {
    PlatformError::Member(MemberError::WrongPin)
}

/// A device token and the row that trusts it.
fn new_login_device(member_id: u128, now_s: u64) -> (String, LoginDeviceRow) {
    let (token, token_hash) = crypto::new_token();
    let row = LoginDeviceRow {
        token_hash,
        member_id,
        created_at_s: now_s,
        last_used_at_s: now_s,
    };
    (token, row)
}

impl Platform {
    /// Sends a verification code to `phone`; returns the verification id.
    pub async fn request_verification(&self, phone: &str) -> Result<u128, PlatformError> {
        let phone = normalize_phone(phone)?;
        let now = now_s();
        let id = chart::new_id();
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        let row = VerificationRow {
            id,
            phone_index,
            phone_sealed: self.keys.seal(phone.as_bytes(), &verification_context(id)),
            code_hash: self.keys.code_hash(id, &code),
            created_at_s: now,
            expires_at_s: now + self.config.verification_ttl_s,
            attempts: 0,
            used: false,
        };
        {
            // One request per phone at a time, so the hour's count is exact.
            let _claim = self.members.claim(Claimed::Phone(phone_index)).await?;
            let since_s = now.saturating_sub(3600);
            let sent = self
                .ledger
                .tables(move |read| tables::verifications_since(read, &phone_index, since_s))
                .await?;
            if sent >= VERIFICATIONS_PER_PHONE_PER_HOUR_MAX {
                return Err(PlatformError::Member(MemberError::TooManyVerifications));
            }
            self.commit_members(vec![MemberWrite::Verification(row)])
                .await?;
        }
        let text = format!("[Mileverse] verification code {code}");
        self.sms.send(&phone, &text).await.map_err(|error| {
            PlatformError::Member(MemberError::SmsUnavailable(error.to_string()))
        })?;
        Ok(id)
    }

    /// Checks a code; on success the verification is spent and its phone answered. A wrong
    /// code's attempt is durable before the refusal is answered.
    async fn spend_verification(
        &self,
        verification_id: u128,
        code: &str,
    ) -> Result<VerifiedPhone, PlatformError> {
        let _claim = self
            .members
            .claim(Claimed::Verification(verification_id))
            .await?;
        let mut verification = self
            .ledger
            .tables(move |read| tables::verification(read, verification_id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Verification))?;
        if verification.used
            || verification.expires_at_s <= now_s()
            || verification.attempts >= VERIFICATION_ATTEMPTS_MAX
        {
            return Err(PlatformError::Member(MemberError::VerificationExpired));
        }
        let expected = self.keys.code_hash(verification_id, code);
        if !crypto::constant_time_eq(&expected, &verification.code_hash) {
            verification.attempts += 1;
            let remaining = VERIFICATION_ATTEMPTS_MAX - verification.attempts;
            self.commit_members(vec![MemberWrite::Verification(verification)])
                .await?;
            return Err(PlatformError::Member(MemberError::WrongCode { remaining }));
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
        self.commit_members(vec![MemberWrite::Verification(verification)])
            .await?;
        Ok((index, phone))
    }

    /// Runs PIN hashing (argon2id: 19 MiB and tens of ms each) off the async threads, at
    /// most [`super::PIN_HASHING_CONCURRENCY_MAX`] at a time, so a flood of logins queues
    /// instead of taking all memory.
    pub(crate) async fn pin_work<T: Send + 'static>(
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

    pub(crate) async fn active_member_by_phone(
        &self,
        phone_index: [u8; 32],
    ) -> Result<Option<MemberRow>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::member_by_phone(read, &phone_index))
            .await?)
    }

    /// Signs up a member with a verified phone. The device that signed up proved the phone,
    /// so it is trusted for logins from now on (the grant's `device_token`).
    pub async fn sign_up(
        &self,
        verification_id: u128,
        code: &str,
        name: &str,
        pin: &str,
    ) -> Result<SignUpGrant, PlatformError> {
        let name = check_name(name)?;
        check_pin(pin)?;
        // The code first: an unverified request must not cost a PIN hash or a wallet. A
        // right code for a phone in use is spent too.
        let (phone_index, phone) = self.spend_verification(verification_id, code).await?;
        if self.active_member_by_phone(phone_index).await?.is_some() {
            return Err(PlatformError::Member(MemberError::PhoneTaken));
        }
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
        let _claim = self.members.claim(Claimed::Phone(phone_index)).await?;
        if self.active_member_by_phone(phone_index).await?.is_some() {
            return Err(PlatformError::Member(MemberError::PhoneTaken)); // Lost a race with the same phone.
        }
        let now = now_s();
        let member = MemberRow {
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
            locked: false,
            created_at_s: now,
            withdrawn_at_s: None,
            payout_sealed: Vec::new(),
            payout_amount: 0,
        };
        let (device_token, device) = new_login_device(member_id, now);
        self.commit_members(vec![
            MemberWrite::Member(member),
            MemberWrite::LoginDevice(device),
        ])
        .await?;
        self.claim_held_for(member_id, phone_index).await;
        self.grant_signup_bonuses(member_id).await;
        Ok(SignUpGrant {
            member_id,
            device_token,
        })
    }

    /// Logs in with phone and PIN from a device that proves itself (seed 002 §3.1.1): a
    /// device token from an earlier SMS proof, or an SMS code now.
    ///
    /// Every phone, a member's or not, takes the same path: the same reads, one argon2id
    /// verification (of a decoy hash when there is no member), the same count of wrong PINs
    /// and the same answers, so neither the answer nor its timing tells whether a phone
    /// belongs to a member. Wrong PINs slow the next tries ([`super::PIN_DELAYS`]); an SMS
    /// proof waives the wait, so the phone's owner is never locked out.
    pub async fn log_in(&self, login: LogIn) -> Result<SessionGrant, PlatformError> {
        let phone = normalize_phone(&login.phone).map_err(|_| wrong_pin())?;
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        // One login per phone at a time, so no wrong PIN goes uncounted.
        let _claim = self.members.claim(Claimed::Phone(phone_index)).await?;
        let member = self.active_member_by_phone(phone_index).await?;
        let member_id = member.as_ref().map(|member| member.id);
        let proof = self
            .check_device(phone_index, member_id, login.device)
            .await?;
        let waive_delay = proof == ProvenDevice::BySms;
        let pin_hash = member.as_ref().map(|member| member.pin_hash.clone());
        let guard = self
            .check_pin_guarded(phone_index, pin_hash, login.pin, waive_delay)
            .await?;
        let member = member.expect("a right PIN has a member");
        if member.locked {
            return Err(PlatformError::Member(MemberError::Locked));
        }
        let (member_id, phone_index) = (member.id, member.phone_index);
        let grant = self.open_session(member, guard, proof).await?;
        self.claim_held_for(member_id, phone_index).await;
        Ok(grant)
    }

    /// Whether the login's device proves itself for this phone. A token of another
    /// member's device, or any token for a phone without a member, is no proof.
    async fn check_device(
        &self,
        phone_index: [u8; 32],
        member_id: Option<u128>,
        device: DeviceProof,
    ) -> Result<ProvenDevice, PlatformError> {
        let unverified = PlatformError::Member(MemberError::DeviceUnverified);
        match device {
            DeviceProof::None => Err(unverified),
            DeviceProof::Token(token) => {
                let hash = crypto::token_hash(&token);
                let device = self
                    .ledger
                    .tables(move |read| tables::login_device(read, &hash))
                    .await?;
                match device {
                    Some(device) if Some(device.member_id) == member_id => {
                        Ok(ProvenDevice::Trusted(device))
                    }
                    _ => Err(unverified),
                }
            }
            DeviceProof::Sms {
                verification_id,
                code,
            } => {
                let (proven_index, _) = self.spend_verification(verification_id, &code).await?;
                if proven_index != phone_index {
                    return Err(unverified);
                }
                Ok(ProvenDevice::BySms)
            }
        }
    }

    /// Checks a PIN against `pin_hash` (`None`: no member; a decoy hash is checked so the
    /// work is the same), under the phone's count of wrong PINs. A wrong PIN is counted,
    /// durably, before the refusal; a right one answers the count to clear. The caller holds
    /// the phone's claim.
    async fn check_pin_guarded(
        &self,
        phone_index: [u8; 32],
        pin_hash: Option<String>,
        pin: String,
        waive_delay: bool,
    ) -> Result<Option<LoginGuardRow>, PlatformError> {
        let guard = self
            .ledger
            .tables(move |read| tables::login_guard(read, &phone_index))
            .await?;
        let now = now_s();
        if let Some(guard) = guard
            && !waive_delay
        {
            let retry_after_s =
                PIN_DELAYS.wait_s(u64::from(guard.failures), guard.last_failed_at_s, now);
            if retry_after_s > 0 {
                return Err(PlatformError::Member(MemberError::LoginDelayed {
                    retry_after_s,
                }));
            }
        }
        let member = pin_hash.is_some();
        let hash = pin_hash.unwrap_or_else(|| crypto::decoy_pin_hash().to_string());
        let matches = self
            .pin_work(move || crypto::verify_pin(&pin, &hash))
            .await?;
        if matches && member {
            return Ok(guard);
        }
        let failures = guard.map_or(0, |guard| guard.failures).saturating_add(1);
        let row = LoginGuardRow {
            phone_index,
            failures,
            last_failed_at_s: now,
        };
        self.commit_members(vec![MemberWrite::LoginGuard(row)])
            .await?;
        Err(wrong_pin())
    }

    /// Moves the transfers held for the member's phone into their wallet (`transfers`). A
    /// failure is logged, not answered: the member is in, and the next login claims them.
    async fn claim_held_for(&self, member_id: u128, phone_index: [u8; 32]) {
        if let Err(error) = self.claim_held_transfers(member_id, phone_index).await {
            tracing::warn!(%error, member = member_id, "held transfers not claimed yet");
        }
    }

    /// Asks for the PIN again before `amount` MVP leaves the member's wallet, above
    /// [`crate::service::PlatformConfig::pin_confirm_above_mvp`]. A wrong PIN counts
    /// towards the same delays as a login's.
    pub async fn confirm_spend(
        &self,
        member_id: u128,
        amount: u128,
        pin: Option<&str>,
    ) -> Result<(), PlatformError> {
        let above_mvp = self.config.pin_confirm_above_mvp;
        if amount <= u128::from(above_mvp) {
            return Ok(());
        }
        let Some(pin) = pin else {
            return Err(PlatformError::Member(MemberError::PinRequired {
                above_mvp,
            }));
        };
        let member = self
            .member_row(member_id)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Member))?;
        let _claim = self
            .members
            .claim(Claimed::Phone(member.phone_index))
            .await?;
        let guard = self
            .check_pin_guarded(
                member.phone_index,
                Some(member.pin_hash),
                pin.to_string(),
                false,
            )
            .await?;
        if let Some(guard) = guard {
            let clear = MemberWrite::RemoveLoginGuard(guard.phone_index);
            self.commit_members(vec![clear]).await?;
        }
        Ok(())
    }

    /// A new session for a member whose PIN matched: the phone's wrong PINs are forgotten,
    /// a device proven by SMS becomes trusted (its token answered once), a trusted one is
    /// marked used. One commit.
    async fn open_session(
        &self,
        member: MemberRow,
        guard: Option<LoginGuardRow>,
        proof: ProvenDevice,
    ) -> Result<SessionGrant, PlatformError> {
        let now = now_s();
        let (token, token_hash) = crypto::new_token();
        let session = SessionRow {
            token_hash,
            id: chart::new_id(),
            member_id: member.id,
            created_at_s: now,
            expires_at_s: now + self.config.session_ttl_s,
        };
        let mut grant = SessionGrant {
            token,
            session_id: session.id,
            member_id: member.id,
            expires_at_s: session.expires_at_s,
            device_token: None,
        };
        let mut writes = vec![MemberWrite::Session(session)];
        if guard.is_some() {
            writes.push(MemberWrite::RemoveLoginGuard(member.phone_index));
        }
        let device = match proof {
            ProvenDevice::Trusted(device) => LoginDeviceRow {
                last_used_at_s: now,
                ..device
            },
            ProvenDevice::BySms => {
                let (device_token, device) = new_login_device(member.id, now);
                grant.device_token = Some(device_token);
                device
            }
        };
        writes.push(MemberWrite::LoginDevice(device));
        self.commit_members(writes).await?;
        Ok(grant)
    }

    /// The member behind a bearer token: the session and the member's gate, each from its
    /// cache when there.
    pub async fn authenticate(&self, token: &str) -> Result<u128, PlatformError> {
        let hash = crypto::token_hash(token);
        let (cached, generation) = self.members.cached_session(&hash);
        let (member_id, expires_at_s) = match cached {
            Some(session) => session,
            None => {
                let gate = self
                    .ledger
                    .tables(move |read| tables::session(read, &hash))
                    .await?
                    .ok_or(PlatformError::Member(MemberError::SessionExpired))?;
                let session = (gate.member_id, gate.expires_at_s);
                self.members.keep_session(hash, session, generation);
                session
            }
        };
        if expires_at_s <= now_s() {
            return Err(PlatformError::Member(MemberError::SessionExpired));
        }
        let gate = self
            .member_gate(member_id)
            .await?
            .ok_or(PlatformError::Member(MemberError::SessionExpired))?;
        if gate.status != MemberStatus::Active {
            return Err(PlatformError::Member(MemberError::SessionExpired));
        }
        if gate.locked {
            return Err(PlatformError::Member(MemberError::Locked));
        }
        Ok(member_id)
    }

    /// Revokes the session of this token (log out).
    pub async fn revoke_session(&self, token: &str) -> Result<(), PlatformError> {
        let hash = crypto::token_hash(token);
        let found = self
            .ledger
            .tables(move |read| tables::session(read, &hash))
            .await?;
        let Some(session) = found else {
            return Err(PlatformError::Member(MemberError::SessionExpired));
        };
        // The member's cached sessions are forgotten around the commit.
        let rows: Vec<store::tables::RowRef> =
            vec![std::sync::Arc::new(MemberWrite::RemoveSession(hash))];
        self.commit_member_rows(&[session.member_id], rows).await
    }

    /// Deletes a batch of expired sessions and of verifications older than the hour their
    /// phone's limit counts (the resolver calls it on its ticks).
    pub(crate) async fn expire_credentials(&self) -> Result<(), PlatformError> {
        let now = now_s();
        let verifications_before_s = now.saturating_sub(3600);
        let guards_before_s = now.saturating_sub(super::PIN_FAILURES_FORGOTTEN_AFTER_S);
        let due = self
            .ledger
            .tables(move |read| {
                tables::purge_due(read, now, verifications_before_s, guards_before_s)
            })
            .await?;
        if !due {
            return Ok(());
        }
        let purge = MemberWrite::Purge {
            now_s: now,
            verifications_before_s,
            guards_before_s,
        };
        self.commit_members(vec![purge]).await
    }
}
