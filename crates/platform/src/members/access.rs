//! Getting in: phone verification, sign-up, PIN login with lock-out, sessions.

use crate::members::error::MemberError;
use store::tables::members::{
    self as tables, MemberRow, MemberStatus, MemberWrite, SessionRow, VerificationRow,
};

use super::{
    Claimed, PIN_FAILURES_MAX, VERIFICATION_ATTEMPTS_MAX, VERIFICATIONS_PER_PHONE_PER_HOUR_MAX,
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

    async fn active_member_by_phone(
        &self,
        phone_index: [u8; 32],
    ) -> Result<Option<MemberRow>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::member_by_phone(read, &phone_index))
            .await?)
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
            failed_pins: 0,
            locked: false,
            created_at_s: now_s(),
            withdrawn_at_s: None,
            payout_sealed: Vec::new(),
            payout_amount: 0,
        };
        self.commit_members(vec![MemberWrite::Member(member)])
            .await?;
        Ok(member_id)
    }

    /// Logs in with phone and PIN. Wrong PINs count towards the lock-out; one login per
    /// member at a time, so no wrong PIN goes uncounted.
    pub async fn log_in(&self, phone: &str, pin: &str) -> Result<SessionGrant, PlatformError> {
        let phone = normalize_phone(phone)
            .map_err(|_| PlatformError::Member(MemberError::WrongPin { remaining: None }))?;
        let index = self.keys.blind_index(b"phone", phone.as_bytes());
        let member_id = self
            .active_member_by_phone(index)
            .await?
            .ok_or(PlatformError::Member(MemberError::WrongPin {
                remaining: None,
            }))?
            .id;
        let _claim = self.members.claim(Claimed::Member(member_id)).await?;
        let mut member = self
            .member_row(member_id)
            .await?
            .ok_or(PlatformError::Member(MemberError::WrongPin {
                remaining: None,
            }))?;
        if member.locked {
            return Err(PlatformError::Member(MemberError::Locked));
        }
        if member.status != MemberStatus::Active {
            return Err(PlatformError::Member(MemberError::WrongPin {
                remaining: None,
            }));
        }
        let pin = pin.to_string();
        let pin_hash = member.pin_hash.clone();
        let matches = self
            .pin_work(move || crypto::verify_pin(&pin, &pin_hash))
            .await?;
        if matches {
            return self.open_session(member).await;
        }
        member.failed_pins += 1;
        member.locked = member.failed_pins >= PIN_FAILURES_MAX;
        let (locked, failed_pins) = (member.locked, member.failed_pins);
        let mut writes = vec![MemberWrite::Member(member)];
        if locked {
            // A lock ends every session: whoever guessed must not keep one.
            writes.push(MemberWrite::RemoveSessionsOf(member_id));
        }
        self.commit_members(writes).await?;
        if locked {
            return Err(PlatformError::Member(MemberError::Locked));
        }
        let remaining = Some(PIN_FAILURES_MAX - failed_pins);
        Err(PlatformError::Member(MemberError::WrongPin { remaining }))
    }

    /// A new session for a member whose PIN matched (the wrong-PIN count starts again).
    async fn open_session(&self, mut member: MemberRow) -> Result<SessionGrant, PlatformError> {
        let now = now_s();
        let (token, token_hash) = crypto::new_token();
        let session = SessionRow {
            token_hash,
            id: chart::new_id(),
            member_id: member.id,
            created_at_s: now,
            expires_at_s: now + self.config.session_ttl_s,
        };
        let grant = SessionGrant {
            token,
            session_id: session.id,
            member_id: member.id,
            expires_at_s: session.expires_at_s,
        };
        let mut writes = vec![MemberWrite::Session(session)];
        if member.failed_pins > 0 {
            member.failed_pins = 0;
            writes.push(MemberWrite::Member(member));
        }
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
        let due = self
            .ledger
            .tables(move |read| tables::purge_due(read, now, verifications_before_s))
            .await?;
        if !due {
            return Ok(());
        }
        let purge = MemberWrite::Purge {
            now_s: now,
            verifications_before_s,
        };
        self.commit_members(vec![purge]).await
    }
}
