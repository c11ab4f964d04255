//! Operators and API keys: creating, changing and listing them.

use super::*;

impl Operators {
    /// Creates an operator (needs [`Permission::OperatorsManage`]); answers its TOTP secret
    /// once.
    pub async fn create_operator(
        &self,
        actor: &Actor,
        new: NewOperator,
    ) -> Result<OperatorGrant, OperatorError> {
        actor.may(Permission::OperatorsManage)?;
        let login = canonical_login(&new.login)?;
        let display_name = check_text("display_name", &new.display_name, DISPLAY_NAME_CHARS_MAX)?;
        let role = parse_role(&new.role)?;
        check_password(&new.password)?;
        let password = new.password;
        let password_hash = self
            .hashing(move || crypto::hash_pin(&password))
            .await?
            .map_err(|error| OperatorError::Unavailable(error.to_string()))?;
        let id = crate::chart::new_id();
        let secret: [u8; TOTP_SECRET_BYTES] = rand::random();
        let now = now_s();
        let row = OperatorRow {
            id,
            login: login.clone(),
            display_name,
            role: role.name().to_string(),
            password_hash,
            totp_secret_sealed: self.keys.seal(&secret, &totp_context(id)),
            totp_last_step: 0,
            enabled: true,
            failed_logins: 0,
            locked_until_s: 0,
            created_at_s: now,
            changed_at_s: now,
        };
        let _change = self.changes.lock().await;
        let (taken, count) = {
            let login = login.clone();
            self.ledger
                .tables(move |read| {
                    let taken = tables::operator_by_login(read, &login)?.is_some();
                    Ok((taken, tables::operator_count(read)?))
                })
                .await?
        };
        if taken || login == BOOTSTRAP {
            return Err(OperatorError::LoginTaken);
        }
        if count >= OPERATORS_MAX as u64 {
            return Err(invalid("operators", format!("at most {OPERATORS_MAX}")));
        }
        let view = view_of(&row)?;
        self.commit(vec![OperatorWrite::Operator(row)]).await?;
        let totp_secret = totp::base32(&secret);
        Ok(OperatorGrant {
            otpauth_uri: format!(
                "otpauth://totp/Mileverse:{login}?secret={totp_secret}&issuer=Mileverse\
                 &algorithm=SHA1&digits={}&period={}",
                totp::AUTHENTICATOR_DIGITS,
                totp::STEP_S
            ),
            operator: view,
            totp_secret,
        })
    }

    /// Changes an operator's name, role or state; disabling one ends its sessions.
    pub async fn change_operator(
        &self,
        actor: &Actor,
        id: u128,
        change: OperatorChange,
    ) -> Result<(OperatorView, OperatorView), OperatorError> {
        actor.may(Permission::OperatorsManage)?;
        let display_name = change
            .display_name
            .as_deref()
            .map(|name| check_text("display_name", name, DISPLAY_NAME_CHARS_MAX))
            .transpose()?;
        let role = change.role.as_deref().map(parse_role).transpose()?;
        if let Identity::Operator { id: own, .. } = actor.identity
            && own == id
            && (role.is_some() || change.enabled == Some(false))
        {
            // An operator cannot raise or lock themself: another operator must.
            return Err(invalid(
                "id",
                "an operator cannot change their own role or state",
            ));
        }
        let _change = self.changes.lock().await;
        let mut row = self.stored(id).await?;
        let before = view_of(&row)?;
        row.display_name = display_name.unwrap_or(row.display_name);
        row.role = role.map_or(row.role, |role| role.name().to_string());
        row.enabled = change.enabled.unwrap_or(row.enabled);
        row.changed_at_s = now_s();
        let after = view_of(&row)?;
        let mut writes = vec![OperatorWrite::Operator(row)];
        if !after.enabled || after.role != before.role {
            writes.push(OperatorWrite::RevokeSessionsOf(id));
        }
        self.commit(writes).await?;
        Ok((before, after))
    }

    /// Every operator by login.
    pub async fn operators(&self, actor: &Actor) -> Result<Vec<OperatorView>, OperatorError> {
        actor.may(Permission::OperatorsRead)?;
        let rows = self
            .ledger
            .tables(|read| tables::operators_page(read, None, OPERATORS_MAX))
            .await?;
        rows.iter().map(view_of).collect()
    }

    /// A new API key for `actor` with `permissions` (each one the actor holds), living
    /// `ttl_days` (1 to [`API_KEY_TTL_DAYS_MAX`]).
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        permissions: Permissions,
        ttl_days: u64,
    ) -> Result<ApiKeyGrant, OperatorError> {
        let name = check_text("name", name, API_KEY_NAME_CHARS_MAX)?;
        if permissions == Permissions::NONE {
            return Err(invalid("permissions", "at least one"));
        }
        if let Some(missing) = permissions.iter().find(|p| !actor.permissions.contains(*p)) {
            return Err(OperatorError::Forbidden(missing.name()));
        }
        if !(1..=API_KEY_TTL_DAYS_MAX).contains(&ttl_days) {
            return Err(invalid("ttl_days", format!("1 to {API_KEY_TTL_DAYS_MAX}")));
        }
        let owner = actor.owner_name();
        let (secret, token_hash) = crypto::new_token();
        let now = now_s();
        let row = ApiKeyRow {
            id: crate::chart::new_id(),
            token_hash,
            owner: owner.clone(),
            name,
            permissions: permissions.names(),
            created_at_s: now,
            expires_at_s: now.saturating_add(ttl_days.saturating_mul(86_400)),
            revoked: false,
        };
        let _change = self.changes.lock().await;
        let live = self
            .ledger
            .tables(move |read| tables::live_api_key_count_of(read, &owner))
            .await?;
        if live >= API_KEYS_PER_OWNER_MAX as u64 {
            return Err(invalid(
                "api_keys",
                format!("at most {API_KEYS_PER_OWNER_MAX} live keys each"),
            ));
        }
        let key = key_view_of(&row);
        self.commit(vec![OperatorWrite::ApiKey(row)]).await?;
        Ok(ApiKeyGrant {
            key,
            token: format!("{API_KEY_PREFIX}{secret}"),
        })
    }

    /// The keys the actor's owner made, oldest first.
    pub async fn api_keys(&self, actor: &Actor) -> Result<Vec<ApiKeyView>, OperatorError> {
        let owner = actor.owner_name();
        let rows = self
            .ledger
            .tables(move |read| tables::api_keys_of(read, &owner, API_KEYS_PER_OWNER_MAX * 10))
            .await?;
        Ok(rows.iter().map(key_view_of).collect())
    }

    /// Revokes a key the actor's owner made (or any key, with `operators.manage`).
    pub async fn revoke_api_key(&self, actor: &Actor, id: u128) -> Result<(), OperatorError> {
        let _change = self.changes.lock().await;
        let mut row = self
            .ledger
            .tables(move |read| tables::api_key(read, id))
            .await?
            .ok_or(OperatorError::NoSuchApiKey)?;
        let manages = actor.permissions.contains(Permission::OperatorsManage);
        if row.owner != actor.owner_name() && !manages {
            return Err(OperatorError::NoSuchApiKey);
        }
        row.revoked = true;
        self.commit(vec![OperatorWrite::ApiKey(row)]).await
    }
}
