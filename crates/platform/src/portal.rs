//! The portals' people (issue 14): a merchant's staff log in with a password and see one
//! store, or every store of their brand (seed 000 §2-3); a partner's staff see their
//! partner; nothing else: every read of a portal goes through [`PortalUser`]'s scope.
//!
//! State: `portal_users` and `portal_sessions` (`store::tables::portal_users`), read per
//! request; nothing in memory. Passwords are argon2id like members' PINs, on the same
//! bounded hashing pool; wrong passwords delay the next try as operators' do
//! (`operators::login_delay_s`). Tokens are stored as their SHA-256 only.

use std::sync::Arc;

use store::tables::RowRef;
use store::tables::portal_users::{
    self as tables, PortalScope, PortalSessionRow, PortalUserRow, PortalUserWrite,
};

use crate::chart;
use crate::crypto;
use crate::domain::ExchangeRow;
use crate::error::{Entity, PlatformError, invalid};
use crate::merchants::{MerchantRecord, TERMINALS_PER_MERCHANT_MAX, TerminalGrant, TerminalRecord};
use crate::service::Platform;
use ports::time::now_s;

/// The prefix of a portal session's token (tells it from members' and operators' tokens).
pub const SESSION_TOKEN_PREFIX: &str = "mvp_";
/// How long a portal session lasts (8 hours: a working day).
pub const SESSION_TTL_S: u64 = 8 * 3600;
/// Portal users registered at most.
pub const PORTAL_USERS_MAX: u64 = 100_000;
pub const LOGIN_CHARS_MAX: usize = 64;
pub const DISPLAY_NAME_CHARS_MAX: usize = 100;
pub const PASSWORD_CHARS_MIN: usize = 12;
pub const PASSWORD_CHARS_MAX: usize = 128;
/// Stores one brand may have (seed 000 §2-3 aims at 100 brands of many stores each).
pub const STORES_PER_BRAND_MAX: usize = 10_000;
/// Expired sessions dropped per housekeeping round.
pub const EXPIRED_SESSIONS_PER_ROUND_MAX: u64 = 4096;
/// Stores whose terminals one page of [`Platform::store_terminals`] holds when it lists every
/// store of the user's (each store whole: at most `TERMINALS_PER_MERCHANT_MAX` terminals).
pub const TERMINAL_STORES_PER_PAGE: usize = 10;
/// Most exchanges one page of [`Platform::partner_exchanges`] answers (the partner portal
/// is for people; `statement.csv` gives a whole period).
pub const PARTNER_EXCHANGES_PAGE_MAX: usize = 100;

/// Why a portal user's request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    #[error("the login or password is wrong")]
    BadCredentials,
    #[error("too many wrong passwords; retry in {retry_after_s} s")]
    LockedOut { retry_after_s: u64 },
    #[error("the session has expired or was ended; log in again")]
    SessionExpired,
    #[error("the login is taken")]
    LoginTaken,
    #[error("this session is for the other portal (merchants' or partners')")]
    WrongPortal,
}

/// A new portal user.
#[derive(Clone, Debug)]
pub struct NewPortalUser {
    pub login: String,
    pub display_name: String,
    pub scope: PortalScope,
    pub password: String,
}

/// A portal user as the portal knows them after authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalUser {
    pub user_id: u128,
    pub login: String,
    pub display_name: String,
    pub scope: PortalScope,
    /// The stores this user sees: one, or every store of the brand; none for a partner's.
    pub merchants: Vec<MerchantRecord>,
}

impl PortalUser {
    /// The partner this user sees, if they are a partner's.
    pub fn partner_id(&self) -> Option<u128> {
        match self.scope {
            PortalScope::Partner(id) => Some(id),
            _ => None,
        }
    }

    pub fn merchant_ids(&self) -> impl Iterator<Item = u128> + '_ {
        self.merchants.iter().map(|merchant| merchant.id)
    }

    pub fn sees(&self, merchant_id: u128) -> bool {
        self.merchant_ids().any(|id| id == merchant_id)
    }
}

/// Which payments of a store to read ([`Platform::store_payments`]).
#[derive(Clone, Copy, Debug)]
pub struct StorePaymentsPage {
    pub merchant_id: u128,
    pub from_s: u64,
    pub to_s: u64,
    /// The last `(created_at_s, id)` of the page before.
    pub after: Option<(u64, u128)>,
    pub limit: usize,
}

/// Which terminals of the user's stores to read ([`Platform::store_terminals`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreTerminals {
    /// One of the user's stores, whole.
    Of(u128),
    /// Every store of the user's, [`TERMINAL_STORES_PER_PAGE`] stores a page, in the order
    /// of [`PortalUser::merchants`], after this store (the last of the page before).
    After(Option<u128>),
}

/// A page of the user's terminals: the terminals, oldest first within each store, and the
/// last store of the page when more stores follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreTerminalsPage {
    pub terminals: Vec<TerminalRecord>,
    pub next_after: Option<u128>,
}

/// Which exchanges of the partner to read ([`Platform::partner_exchanges`]).
#[derive(Clone, Copy, Debug)]
pub struct PartnerExchangesPage {
    pub from_s: u64,
    pub to_s: u64,
    /// The last `(created_at_s, id)` of the page before.
    pub after: Option<(u64, u128)>,
    pub limit: usize,
}

/// A portal session: its token (shown once) and when it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalSession {
    pub token: String,
    pub expires_at_s: u64,
}

fn check_text(field: &'static str, text: &str, chars_max: usize) -> Result<String, PlatformError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > chars_max || text.chars().any(char::is_control) {
        return Err(invalid(field, format!("1 to {chars_max} characters")));
    }
    Ok(text.to_string())
}

/// A login in its one spelling: lower case ASCII letters, digits, `.`, `-`, `_`, `@`.
fn canonical_login(login: &str) -> Result<String, PlatformError> {
    let login = login.trim().to_ascii_lowercase();
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@');
    if login.is_empty() || login.len() > LOGIN_CHARS_MAX || !login.bytes().all(allowed) {
        let detail = format!("1 to {LOGIN_CHARS_MAX} of a-z, 0-9, '.', '-', '_', '@'");
        return Err(invalid("login", detail));
    }
    Ok(login)
}

fn check_password(password: &str) -> Result<(), PlatformError> {
    let chars = password.chars().count();
    if !(PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&chars) {
        let detail = format!("{PASSWORD_CHARS_MIN} to {PASSWORD_CHARS_MAX} characters");
        return Err(invalid("password", detail));
    }
    Ok(())
}

impl Platform {
    /// Registers a portal user for one store or a brand (an operator's act).
    pub async fn create_portal_user(&self, new: NewPortalUser) -> Result<u128, PlatformError> {
        let login = canonical_login(&new.login)?;
        let display_name = check_text("display_name", &new.display_name, DISPLAY_NAME_CHARS_MAX)?;
        check_password(&new.password)?;
        let scope = match new.scope {
            PortalScope::Merchant(id) => {
                self.merchant(id).await?;
                PortalScope::Merchant(id)
            }
            PortalScope::Brand(brand) => {
                let brand = check_text("brand", &brand, DISPLAY_NAME_CHARS_MAX)?;
                if self.brand_stores(&brand).await?.is_empty() {
                    return Err(invalid("brand", "a brand with at least one merchant"));
                }
                PortalScope::Brand(brand)
            }
            PortalScope::Partner(id) => {
                if !self.catalogue.lock().partners.contains_key(&id) {
                    return Err(PlatformError::NotFound(Entity::Partner));
                }
                PortalScope::Partner(id)
            }
        };
        let password = new.password;
        let password_hash = self
            .pin_work(move || crypto::hash_pin(&password))
            .await?
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        let (taken, count) = {
            let login = login.clone();
            self.ledger
                .tables(move |read| {
                    let taken = tables::user_by_login(read, &login)?.is_some();
                    Ok((taken, tables::user_count(read)?))
                })
                .await?
        };
        if taken {
            return Err(PortalError::LoginTaken.into());
        }
        if count >= PORTAL_USERS_MAX {
            return Err(invalid(
                "portal_users",
                format!("at most {PORTAL_USERS_MAX}"),
            ));
        }
        let row = PortalUserRow {
            id: chart::new_id(),
            login,
            display_name,
            scope,
            password_hash,
            enabled: true,
            failed_logins: 0,
            locked_until_s: 0,
            created_at_s: now_s(),
        };
        let id = row.id;
        // The login's unique index is the last word: a race for one login fails the commit's
        // insert, which the writer treats as fail-stop, so the check above runs first.
        self.commit_portal(vec![PortalUserWrite::User(row)]).await?;
        Ok(id)
    }

    /// Every store of `brand` (merchants whose brand is exactly it).
    async fn brand_stores(&self, brand: &str) -> Result<Vec<MerchantRecord>, PlatformError> {
        let stores: Vec<MerchantRecord> = self
            .merchants()
            .await?
            .into_iter()
            .filter(|merchant| merchant.brand == brand)
            .take(STORES_PER_BRAND_MAX)
            .collect();
        Ok(stores)
    }

    /// Checks a portal user's password and opens a session. A wrong login or password is
    /// [`PortalError::BadCredentials`] after the same argon2id work; past a few failures in
    /// a row the next try waits ([`crate::operators::login_delay_s`]).
    pub async fn log_in_portal_user(
        &self,
        login: &str,
        password: &str,
    ) -> Result<PortalSession, PlatformError> {
        let stored = match canonical_login(login) {
            Ok(login) => {
                self.ledger
                    .tables(move |read| tables::user_by_login(read, &login))
                    .await?
            }
            Err(_) => None,
        };
        let phc = stored.as_ref().map_or_else(
            || crypto::decoy_pin_hash().to_string(),
            |user| user.password_hash.clone(),
        );
        let now = now_s();
        if let Some(user) = &stored
            && user.locked_until_s > now
        {
            let retry_after_s = user.locked_until_s - now;
            return Err(PortalError::LockedOut { retry_after_s }.into());
        }
        let password = password.to_string();
        let password_ok = self
            .pin_work(move || crypto::verify_pin(&password, &phc))
            .await?;
        let Some(mut user) = stored else {
            return Err(PortalError::BadCredentials.into());
        };
        if !password_ok || !user.enabled {
            user.failed_logins = user.failed_logins.saturating_add(1);
            let delay_s = crate::operators::login_delay_s(user.failed_logins);
            user.locked_until_s = now.saturating_add(delay_s);
            self.commit_portal(vec![PortalUserWrite::User(user)])
                .await?;
            return Err(PortalError::BadCredentials.into());
        }
        user.failed_logins = 0;
        user.locked_until_s = 0;
        let (secret, token_hash) = crypto::new_token();
        let expires_at_s = now.saturating_add(SESSION_TTL_S);
        let session = PortalSessionRow {
            token_hash,
            user_id: user.id,
            created_at_s: now,
            expires_at_s,
        };
        self.commit_portal(vec![
            PortalUserWrite::User(user),
            PortalUserWrite::Session(session),
        ])
        .await?;
        Ok(PortalSession {
            token: format!("{SESSION_TOKEN_PREFIX}{secret}"),
            expires_at_s,
        })
    }

    /// The portal user behind a portal token, with the stores they see.
    pub async fn authenticate_portal_user(&self, token: &str) -> Result<PortalUser, PlatformError> {
        let secret = token
            .strip_prefix(SESSION_TOKEN_PREFIX)
            .ok_or(PortalError::SessionExpired)?;
        let token_hash = crypto::token_hash(secret);
        let found = self
            .ledger
            .tables(move |read| tables::session(read, &token_hash))
            .await?;
        let Some((session, user)) = found else {
            return Err(PortalError::SessionExpired.into());
        };
        if session.expires_at_s <= now_s() || !user.enabled {
            return Err(PortalError::SessionExpired.into());
        }
        let merchants = match &user.scope {
            PortalScope::Merchant(id) => vec![self.merchant(*id).await?],
            PortalScope::Brand(brand) => self.brand_stores(brand).await?,
            PortalScope::Partner(_) => Vec::new(),
        };
        Ok(PortalUser {
            user_id: user.id,
            login: user.login,
            display_name: user.display_name,
            scope: user.scope,
            merchants,
        })
    }

    /// Ends the portal session of this token (any other token: nothing to end).
    pub async fn log_out_portal_user(&self, token: &str) -> Result<(), PlatformError> {
        let Some(secret) = token.strip_prefix(SESSION_TOKEN_PREFIX) else {
            return Ok(());
        };
        let token_hash = crypto::token_hash(secret);
        self.commit_portal(vec![PortalUserWrite::RemoveSession(token_hash)])
            .await
    }

    /// Drops portal sessions that expired (housekeeping), at most
    /// [`EXPIRED_SESSIONS_PER_ROUND_MAX`] a round.
    pub async fn purge_portal_sessions(&self) -> Result<(), PlatformError> {
        let before_s = now_s();
        let due = self
            .ledger
            .tables(move |read| tables::expired_sessions_exist(read, before_s))
            .await?;
        if !due {
            return Ok(());
        }
        let write = PortalUserWrite::RemoveExpiredSessions {
            before_s,
            limit: EXPIRED_SESSIONS_PER_ROUND_MAX,
        };
        self.commit_portal(vec![write]).await
    }

    /// A page of one of the user's stores' authorizations (declined ones too), created in
    /// `[from_s, to_s)`, oldest first after the keyset cursor `(created_at_s, id)`: read
    /// from the store's own index, never from every store's payments.
    pub async fn store_payments(
        &self,
        user: &PortalUser,
        page: StorePaymentsPage,
    ) -> Result<Vec<crate::authorization::AuthorizationRecord>, PlatformError> {
        if !user.sees(page.merchant_id) {
            return Err(unseen());
        }
        let limit = page
            .limit
            .clamp(1, store::tables::payments::PAYMENTS_PAGE_MAX);
        let filter = store::tables::payments::AuthorizationFilter {
            merchant_id: page.merchant_id,
            status: None,
            // A time past the year 9999 means "until the end": every time fits its column.
            from_s: page.from_s.min(ports::time::TIME_S_MAX),
            to_s: page.to_s.min(ports::time::TIME_S_MAX),
            after: page
                .after
                .map(|(time_s, id)| (time_s.min(ports::time::TIME_S_MAX), id)),
            limit,
        };
        let rows = self
            .ledger
            .tables(move |read| {
                let rows = store::tables::payments::authorizations_page(read, &filter)?;
                rows.into_iter()
                    .map(|row| crate::payments::read_authorization(read, row))
                    .collect::<Result<Vec<_>, store::StoreError>>()
            })
            .await?;
        Ok(rows)
    }

    /// The newest settlement runs with only the lines of the user's stores (runs without
    /// one are left out).
    pub async fn store_settlements(
        &self,
        user: &PortalUser,
    ) -> Result<Vec<crate::settlement::SettlementRecord>, PlatformError> {
        let runs = self.settlements().await?;
        Ok(runs
            .into_iter()
            .filter_map(|mut run| {
                run.lines.retain(|line| user.sees(line.merchant_id));
                (!run.lines.is_empty()).then_some(run)
            })
            .collect())
    }

    /// The terminals of the user's stores (without secrets): one store's, or a page of
    /// stores' ([`StoreTerminals`]). A store the user does not see is "not found", as one
    /// that does not exist.
    pub async fn store_terminals(
        &self,
        user: &PortalUser,
        which: StoreTerminals,
    ) -> Result<StoreTerminalsPage, PlatformError> {
        let (stores, next_after) = match which {
            StoreTerminals::Of(merchant_id) => {
                if !user.sees(merchant_id) {
                    return Err(unseen());
                }
                (vec![merchant_id], None)
            }
            StoreTerminals::After(after) => {
                let start = match after {
                    None => 0,
                    Some(after) => {
                        let position = user.merchant_ids().position(|id| id == after);
                        position.ok_or_else(|| invalid("cursor", "a cursor from next_cursor"))? + 1
                    }
                };
                let stores: Vec<u128> = user
                    .merchant_ids()
                    .skip(start)
                    .take(TERMINAL_STORES_PER_PAGE)
                    .collect();
                let more = start + stores.len() < user.merchants.len();
                let next_after = if more { stores.last().copied() } else { None };
                (stores, next_after)
            }
        };
        let terminals = self
            .ledger
            .tables(move |read| {
                let mut terminals = Vec::new();
                for merchant_id in stores {
                    terminals.extend(store::tables::merchants::terminals_of(
                        read,
                        merchant_id,
                        TERMINALS_PER_MERCHANT_MAX,
                    )?);
                }
                Ok(terminals)
            })
            .await?;
        Ok(StoreTerminalsPage {
            terminals,
            next_after,
        })
    }

    /// A new terminal of one of the user's stores ([`Platform::create_terminal`]); its
    /// secret is in the answer and never again.
    pub async fn create_store_terminal(
        &self,
        user: &PortalUser,
        merchant_id: u128,
    ) -> Result<TerminalGrant, PlatformError> {
        if !user.sees(merchant_id) {
            return Err(unseen());
        }
        self.create_terminal(merchant_id).await
    }

    /// Enables or disables a terminal of one of the user's stores
    /// ([`Platform::set_terminal_enabled`]). A terminal of another store is "not found",
    /// as one that does not exist.
    pub async fn set_store_terminal_enabled(
        &self,
        user: &PortalUser,
        terminal_id: u128,
        enabled: bool,
    ) -> Result<TerminalRecord, PlatformError> {
        let terminal = self
            .ledger
            .tables(move |read| store::tables::merchants::terminal(read, terminal_id))
            .await?
            .filter(|terminal| user.sees(terminal.merchant_id))
            .ok_or(PlatformError::NotFound(Entity::Terminal))?;
        self.set_terminal_enabled(terminal.merchant_id, terminal_id, enabled)
            .await
    }

    /// A page of the partner user's own exchanges that are final (completed, failed or
    /// reversed; those still waiting for the partner are not), created in
    /// `[from_s, to_s)`, oldest first after the keyset cursor `(created_at_s, id)`, at most
    /// [`PARTNER_EXCHANGES_PAGE_MAX`]: read from the partner's own index.
    pub async fn partner_exchanges(
        &self,
        user: &PortalUser,
        page: PartnerExchangesPage,
    ) -> Result<Vec<ExchangeRow>, PlatformError> {
        let partner_id = user.partner_id().ok_or(PortalError::WrongPortal)?;
        let limit = page.limit.clamp(1, PARTNER_EXCHANGES_PAGE_MAX);
        // A time past the year 9999 means "until the end": every time fits its column.
        let from_s = page.from_s.min(ports::time::TIME_S_MAX);
        let to_s = page.to_s.min(ports::time::TIME_S_MAX);
        let after = page
            .after
            .map(|(time_s, id)| (time_s.min(ports::time::TIME_S_MAX), id));
        Ok(self
            .ledger
            .tables(move |read| {
                store::tables::exchanges::partner_final_page(
                    read, partner_id, from_s, to_s, after, limit,
                )
            })
            .await?)
    }

    async fn commit_portal(&self, writes: Vec<PortalUserWrite>) -> Result<(), PlatformError> {
        let rows = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.ledger.record(rows).await?;
        Ok(())
    }
}

/// `Entity` of a store a portal user asked for and does not see: the same "not found" as a
/// store that does not exist, so a user learns nothing of other merchants.
pub fn unseen() -> PlatformError {
    PlatformError::NotFound(Entity::Merchant)
}
