//! Logging in and out.

use super::*;

impl Operators {
    /// Checks a password and a TOTP code and opens a session. Every wrong answer is
    /// [`OperatorError::BadCredentials`], after the same argon2id work; past
    /// [`LOGIN_FAILURES_FREE`] failures in a row the operator's next try waits
    /// ([`login_delay_s`]), which answers [`OperatorError::LockedOut`] without checking.
    pub async fn log_in(&self, attempt: Login) -> Result<SessionGrant, OperatorError> {
        let Ok(login) = canonical_login(&attempt.login) else {
            self.decoy_verify(attempt.password).await?;
            return Err(OperatorError::BadCredentials);
        };
        let stored = {
            let login = login.clone();
            self.ledger
                .tables(move |read| tables::operator_by_login(read, &login))
                .await?
        };
        let Some(operator) = stored else {
            self.decoy_verify(attempt.password).await?;
            return Err(OperatorError::BadCredentials);
        };
        let now = now_s();
        if operator.locked_until_s > now {
            return Err(OperatorError::LockedOut {
                retry_after_s: operator.locked_until_s - now,
            });
        }
        let password = attempt.password.clone();
        let phc = operator.password_hash.clone();
        let password_ok = self
            .hashing(move || crypto::verify_pin(&password, &phc))
            .await?;
        let secret = self
            .keys
            .open(&operator.totp_secret_sealed, &totp_context(operator.id))
            .map_err(|error| OperatorError::Unavailable(error.to_string()))?;
        let step = totp_step_matching(&secret, &attempt.totp_code, now)
            .filter(|&step| step > operator.totp_last_step);
        match step {
            Some(step) if password_ok && operator.enabled => {
                self.open_session(operator, step, &attempt.source).await
            }
            _ => {
                self.count_failure(operator.id).await?;
                Err(OperatorError::BadCredentials)
            }
        }
    }

    /// The argon2id work of a real login, for a login that names nobody.
    async fn decoy_verify(&self, password: String) -> Result<(), OperatorError> {
        let phc = self.decoy_hash.clone();
        self.hashing(move || crypto::verify_pin(&password, &phc))
            .await
            .map(|_| ())
    }

    /// Counts a wrong login under the lock, so that concurrent tries all count.
    async fn count_failure(&self, id: u128) -> Result<(), OperatorError> {
        let _change = self.changes.lock().await;
        let mut row = self.stored(id).await?;
        row.failed_logins = row.failed_logins.saturating_add(1);
        row.locked_until_s = now_s().saturating_add(login_delay_s(row.failed_logins));
        self.commit(vec![OperatorWrite::Operator(row)]).await
    }

    async fn open_session(
        &self,
        operator: OperatorRow,
        step: u64,
        source: &str,
    ) -> Result<SessionGrant, OperatorError> {
        let _change = self.changes.lock().await;
        // Read again under the lock: a code is accepted once, even by two logins at once.
        let mut row = self.stored(operator.id).await?;
        if step <= row.totp_last_step {
            return Err(OperatorError::BadCredentials);
        }
        row.totp_last_step = step;
        row.failed_logins = 0;
        row.locked_until_s = 0;
        let (secret, token_hash) = crypto::new_token();
        let now = now_s();
        let expires_at_s = now.saturating_add(self.config.session_ttl_s);
        let session = SessionRow {
            token_hash,
            operator_id: row.id,
            created_at_s: now,
            expires_at_s,
            revoked: false,
            source: source.chars().take(100).collect(),
        };
        let view = view_of(&row)?;
        self.commit(vec![
            OperatorWrite::Operator(row),
            OperatorWrite::Session(session),
        ])
        .await?;
        Ok(SessionGrant {
            token: format!("{SESSION_TOKEN_PREFIX}{secret}"),
            expires_at_s,
            operator: view,
        })
    }

    /// Ends the session this token opened (other tokens: nothing to end).
    pub async fn log_out(&self, token: &str) -> Result<(), OperatorError> {
        let Some(secret) = token.strip_prefix(SESSION_TOKEN_PREFIX) else {
            return Ok(());
        };
        let hash = crypto::token_hash(secret);
        let session = self
            .ledger
            .tables(move |read| tables::session(read, &hash))
            .await?;
        if let Some(mut session) = session {
            session.revoked = true;
            self.commit(vec![OperatorWrite::Session(session)]).await?;
        }
        Ok(())
    }

    /// Changes the acting operator's own password; ends their other sessions.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: String,
        new: String,
    ) -> Result<(), OperatorError> {
        let Identity::Operator { id, .. } = actor.identity else {
            return Err(invalid("identity", "only an operator has a password"));
        };
        check_password(&new)?;
        let row = self.stored(id).await?;
        let phc = row.password_hash.clone();
        if !self
            .hashing(move || crypto::verify_pin(&current, &phc))
            .await?
        {
            return Err(OperatorError::BadCredentials);
        }
        let password_hash = self
            .hashing(move || crypto::hash_pin(&new))
            .await?
            .map_err(|error| OperatorError::Unavailable(error.to_string()))?;
        let _change = self.changes.lock().await;
        let mut row = self.stored(id).await?;
        row.password_hash = password_hash;
        row.changed_at_s = now_s();
        self.commit(vec![
            OperatorWrite::Operator(row),
            OperatorWrite::RevokeSessionsOf(id),
        ])
        .await
    }
}
