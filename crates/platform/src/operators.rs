//! Operators (MV-12): the people who run the platform, each under their own name and role.
//!
//! - An operator logs in with a password (argon2id) and a TOTP code from an authenticator
//!   app (RFC 6238: HMAC-SHA1, 6 digits, 30 s), and gets a session token that expires
//!   ([`OperatorsConfig::session_ttl_s`]). Wrong logins slow the next try down, doubling
//!   from [`LOGIN_DELAY_BASE_S`] past [`LOGIN_FAILURES_FREE`] failures, up to
//!   [`LOGIN_DELAY_MAX_S`]; an unknown login, a wrong password and a wrong code answer
//!   alike, after the same argon2id work.
//! - Scripts use API keys: a name, a subset of their maker's permissions, an expiry.
//! - The bootstrap token (DESIGN.md: an admin credential for first set-up and scripts) is
//!   the identity `bootstrap`. It must be at least [`BOOTSTRAP_TOKEN_BYTES_MIN`] bytes:
//!   [`Operators::open`] refuses a shorter or empty one, so a typo cannot open the admin API.
//! - Raw ledger writes ([`Permission::LedgerWrite`]) are in no role; in production mode
//!   nobody holds them unless the operator allowed them at start.
//!
//! This context owns its tables (`store::tables::operators`) and one lock, `changes`,
//! which orders checks and writes of the catalogue of operators and keys. Tokens are stored
//! only as hashes; TOTP secrets are sealed with the data key.

pub mod error;
pub mod permissions;

use std::sync::Arc;

use journal::LedgerService;
use store::tables::RowRef;
use store::tables::operators::{self as tables, ApiKeyRow, OperatorRow, OperatorWrite, SessionRow};

use crate::crypto::{self, DataKeys};
use crate::totp;
pub use error::OperatorError;
use error::invalid;
pub use permissions::{Permission, Permissions, Role};
use ports::time::now_s;

/// The shortest bootstrap token accepted (256 bits of hex would be 64; 32 bytes of any
/// random text is the floor).
pub const BOOTSTRAP_TOKEN_BYTES_MIN: usize = 32;
/// Logins are 3 to this many characters of `[a-z0-9._-]` (upper case is folded).
pub const LOGIN_CHARS_MAX: usize = 64;
pub const DISPLAY_NAME_CHARS_MAX: usize = 100;
/// Passwords are at least this many characters (NIST SP 800-63B asks for 8; operators
/// hold the keys to everyone's money).
pub const PASSWORD_CHARS_MIN: usize = 12;
pub const PASSWORD_CHARS_MAX: usize = 128;
/// Wrong logins in a row before each next one waits.
pub const LOGIN_FAILURES_FREE: u64 = 3;
/// The first wait after the free failures; it doubles with each further failure.
pub const LOGIN_DELAY_BASE_S: u64 = 30;
pub const LOGIN_DELAY_MAX_S: u64 = 3600;
/// TOTP codes are accepted this many steps either side of now (clock drift).
pub const TOTP_DRIFT_STEPS: u64 = 1;
/// Random bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Live API keys per owner.
pub const API_KEYS_PER_OWNER_MAX: usize = 100;
pub const API_KEY_NAME_CHARS_MAX: usize = 100;
/// The longest an API key may live.
pub const API_KEY_TTL_DAYS_MAX: u64 = 366;
/// Operators listed at most (the platform's staff, not its members).
pub const OPERATORS_MAX: usize = tables::OPERATORS_PAGE_MAX;
/// Prefixes that tell a token's kind at a glance (and in a leaked-secret scanner).
pub const SESSION_TOKEN_PREFIX: &str = "mvs_";
pub const API_KEY_PREFIX: &str = "mvk_";
/// The identity of the bootstrap token in the audit log.
pub const BOOTSTRAP: &str = "bootstrap";

#[derive(Clone, Debug)]
pub struct OperatorsConfig {
    /// A session's lifetime from login.
    pub session_ttl_s: u64,
    /// Production mode: raw ledger writes are off unless `raw_ledger_writes`.
    pub production: bool,
    /// Allows raw ledger writes in production mode (for a migration, say).
    pub raw_ledger_writes: bool,
}

impl Default for OperatorsConfig {
    fn default() -> Self {
        OperatorsConfig {
            session_ttl_s: 8 * 3600,
            production: false,
            raw_ledger_writes: false,
        }
    }
}

/// Who acts: the bootstrap token, an operator's session, or an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Bootstrap,
    Operator {
        id: u128,
        login: String,
        role: Role,
    },
    ApiKey {
        id: u128,
        owner: String,
        name: String,
    },
}

/// An authenticated identity and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub identity: Identity,
    pub permissions: Permissions,
}

impl Actor {
    /// The name the audit log records: `bootstrap`, `operator:<login>`, `key:<id>@<owner>`.
    pub fn name(&self) -> String {
        match &self.identity {
            Identity::Bootstrap => BOOTSTRAP.to_string(),
            Identity::Operator { login, .. } => format!("operator:{login}"),
            Identity::ApiKey { id, owner, .. } => format!("key:{id:032x}@{owner}"),
        }
    }

    /// The role name for the audit log (`bootstrap` and `api-key` for the others).
    pub fn role_name(&self) -> &'static str {
        match &self.identity {
            Identity::Bootstrap => BOOTSTRAP,
            Identity::Operator { role, .. } => role.name(),
            Identity::ApiKey { .. } => "api-key",
        }
    }

    /// The owner name API keys made by this actor carry.
    fn owner_name(&self) -> String {
        match &self.identity {
            Identity::Bootstrap => BOOTSTRAP.to_string(),
            Identity::Operator { login, .. } => login.clone(),
            Identity::ApiKey { owner, .. } => owner.clone(),
        }
    }

    pub fn may(&self, permission: Permission) -> Result<(), OperatorError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(OperatorError::Forbidden(permission.name()))
        }
    }
}

/// An operator as others see it (no secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorView {
    pub id: u128,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub enabled: bool,
    pub created_at_s: u64,
}

#[derive(Clone, Debug)]
pub struct NewOperator {
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub password: String,
}

/// A new operator's second factor, shown once.
#[derive(Clone, Debug)]
pub struct OperatorGrant {
    pub operator: OperatorView,
    /// Base32, as authenticator apps take it.
    pub totp_secret: String,
    /// `otpauth://totp/...`, for a QR code.
    pub otpauth_uri: String,
}

/// A change to an operator; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct OperatorChange {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct SessionGrant {
    pub token: String,
    pub expires_at_s: u64,
    pub operator: OperatorView,
}

#[derive(Clone, Debug)]
pub struct ApiKeyGrant {
    pub key: ApiKeyView,
    /// Shown once.
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyView {
    pub id: u128,
    pub owner: String,
    pub name: String,
    pub permissions: Permissions,
    pub created_at_s: u64,
    pub expires_at_s: u64,
    pub revoked: bool,
}

/// A login attempt.
#[derive(Clone, Debug)]
pub struct Login {
    pub login: String,
    pub password: String,
    pub totp_code: String,
    /// Where it came from (the peer address).
    pub source: String,
}

/// A bootstrap token long enough to be a credential.
#[derive(Clone)]
struct BootstrapToken(Arc<str>);

/// The operators context.
pub struct Operators {
    ledger: Arc<LedgerService>,
    keys: DataKeys,
    config: OperatorsConfig,
    bootstrap: Option<BootstrapToken>,
    /// One change of operators or keys at a time (a count or a login is checked before its
    /// insert).
    changes: tokio::sync::Mutex<()>,
    /// argon2id is tens of milliseconds of CPU: a few at a time, off the async threads.
    hashing: tokio::sync::Semaphore,
    /// An argon2id hash to verify against when a login names nobody, so that the answer
    /// takes as long as for a real login.
    decoy_hash: String,
}

/// argon2id hashes running at once.
const HASHING_PERMITS: usize = 2;

impl Operators {
    /// The context over the ledger's tables. `bootstrap_token`: `None` (no bootstrap
    /// identity) or a token of at least [`BOOTSTRAP_TOKEN_BYTES_MIN`] bytes.
    pub fn open(
        ledger: Arc<LedgerService>,
        keys: DataKeys,
        config: OperatorsConfig,
        bootstrap_token: Option<&str>,
    ) -> Result<Operators, OperatorError> {
        let bootstrap = match bootstrap_token {
            None => None,
            Some(token) if token.len() < BOOTSTRAP_TOKEN_BYTES_MIN => {
                return Err(OperatorError::WeakBootstrapToken(BOOTSTRAP_TOKEN_BYTES_MIN));
            }
            Some(token) => Some(BootstrapToken(token.into())),
        };
        let decoy_hash = crypto::hash_pin(&hex::encode(rand::random::<[u8; 16]>()))
            .map_err(|error| OperatorError::Unavailable(error.to_string()))?;
        Ok(Operators {
            ledger,
            keys,
            config,
            bootstrap,
            changes: tokio::sync::Mutex::new(()),
            hashing: tokio::sync::Semaphore::new(HASHING_PERMITS),
            decoy_hash,
        })
    }

    pub fn config(&self) -> &OperatorsConfig {
        &self.config
    }

    /// Whether a bootstrap token is configured.
    pub fn has_bootstrap(&self) -> bool {
        self.bootstrap.is_some()
    }

    /// What `granted` leaves after the platform-wide rules: no raw ledger writes in
    /// production mode unless allowed at start.
    fn effective(&self, granted: Permissions) -> Permissions {
        if self.config.production && !self.config.raw_ledger_writes {
            granted.without(Permission::LedgerWrite)
        } else {
            granted
        }
    }

    /// The actor a bearer token names.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, OperatorError> {
        if let Some(rest) = token.strip_prefix(SESSION_TOKEN_PREFIX) {
            return self.session_actor(rest).await;
        }
        if let Some(rest) = token.strip_prefix(API_KEY_PREFIX) {
            return self.api_key_actor(rest).await;
        }
        match &self.bootstrap {
            Some(BootstrapToken(expected))
                if crypto::constant_time_eq(token.as_bytes(), expected.as_bytes()) =>
            {
                Ok(Actor {
                    identity: Identity::Bootstrap,
                    permissions: self.effective(Permissions::all()),
                })
            }
            _ => Err(OperatorError::Unauthenticated),
        }
    }

    async fn session_actor(&self, secret: &str) -> Result<Actor, OperatorError> {
        let hash = crypto::token_hash(secret);
        let session = self
            .ledger
            .tables(move |read| tables::session(read, &hash))
            .await?
            .ok_or(OperatorError::Unauthenticated)?;
        if session.revoked || session.expires_at_s <= now_s() {
            return Err(OperatorError::Unauthenticated);
        }
        let operator = self.stored(session.operator_id).await?;
        if !operator.enabled {
            return Err(OperatorError::Unauthenticated);
        }
        let role = role_of(&operator)?;
        Ok(Actor {
            identity: Identity::Operator {
                id: operator.id,
                login: operator.login,
                role,
            },
            permissions: self.effective(role.permissions()),
        })
    }

    async fn api_key_actor(&self, secret: &str) -> Result<Actor, OperatorError> {
        let hash = crypto::token_hash(secret);
        let key = self
            .ledger
            .tables(move |read| tables::api_key_by_token(read, &hash))
            .await?
            .ok_or(OperatorError::Unauthenticated)?;
        if key.revoked || key.expires_at_s <= now_s() {
            return Err(OperatorError::Unauthenticated);
        }
        let granted = Permissions::parse_names(&key.permissions)
            .map_err(|name| OperatorError::Unavailable(format!("stored permission {name}")))?;
        // A key never holds more than its owner holds now: an operator demoted or disabled
        // takes their keys down with them.
        let owner_permissions = self.owner_permissions(&key.owner).await?;
        Ok(Actor {
            identity: Identity::ApiKey {
                id: key.id,
                owner: key.owner,
                name: key.name,
            },
            permissions: self.effective(Permissions::of(
                &granted
                    .iter()
                    .filter(|p| owner_permissions.contains(*p))
                    .collect::<Vec<_>>(),
            )),
        })
    }

    /// What the owner of a key may do now (the bootstrap identity: everything, while it is
    /// configured).
    async fn owner_permissions(&self, owner: &str) -> Result<Permissions, OperatorError> {
        if owner == BOOTSTRAP {
            return Ok(if self.bootstrap.is_some() {
                Permissions::all()
            } else {
                Permissions::NONE
            });
        }
        let login = owner.to_string();
        let operator = self
            .ledger
            .tables(move |read| tables::operator_by_login(read, &login))
            .await?;
        Ok(match operator {
            Some(operator) if operator.enabled => role_of(&operator)?.permissions(),
            _ => Permissions::NONE,
        })
    }

    async fn stored(&self, id: u128) -> Result<OperatorRow, OperatorError> {
        self.ledger
            .tables(move |read| tables::operator(read, id))
            .await?
            .ok_or(OperatorError::NoSuchOperator)
    }

    async fn commit(&self, writes: Vec<OperatorWrite>) -> Result<(), OperatorError> {
        let rows = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        Ok(self.ledger.record(rows).await?)
    }

    /// Runs argon2id off the async threads, a few at a time.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, OperatorError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| OperatorError::Unavailable("hashing closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| OperatorError::Unavailable(error.to_string()))
    }
}

fn role_of(operator: &OperatorRow) -> Result<Role, OperatorError> {
    Role::parse(&operator.role)
        .ok_or_else(|| OperatorError::Unavailable(format!("stored role {}", operator.role)))
}

fn view_of(operator: &OperatorRow) -> Result<OperatorView, OperatorError> {
    Ok(OperatorView {
        id: operator.id,
        login: operator.login.clone(),
        display_name: operator.display_name.clone(),
        role: role_of(operator)?,
        enabled: operator.enabled,
        created_at_s: operator.created_at_s,
    })
}

fn key_view_of(key: &ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: key.id,
        owner: key.owner.clone(),
        name: key.name.clone(),
        permissions: Permissions::parse_names(&key.permissions).unwrap_or_default(),
        created_at_s: key.created_at_s,
        expires_at_s: key.expires_at_s,
        revoked: key.revoked,
    }
}

/// Associated data for an operator's sealed TOTP secret.
fn totp_context(operator_id: u128) -> Vec<u8> {
    format!("operator/{operator_id}/totp").into_bytes()
}

/// The login in its canonical form (lower case), or why it is not one.
pub fn canonical_login(login: &str) -> Result<String, OperatorError> {
    let login = login.trim().to_ascii_lowercase();
    let valid = (3..=LOGIN_CHARS_MAX).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(invalid(
            "login",
            format!("3 to {LOGIN_CHARS_MAX} characters of a-z, 0-9, '.', '_', '-'"),
        ));
    }
    Ok(login)
}

fn check_password(password: &str) -> Result<(), OperatorError> {
    let chars = password.chars().count();
    if !(PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&chars) {
        return Err(invalid(
            "password",
            format!("{PASSWORD_CHARS_MIN} to {PASSWORD_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, text: &str, chars_max: usize) -> Result<String, OperatorError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > chars_max || text.chars().any(char::is_control) {
        return Err(invalid(field, format!("1 to {chars_max} characters")));
    }
    Ok(text.to_string())
}

fn parse_role(role: &str) -> Result<Role, OperatorError> {
    Role::parse(role).ok_or_else(|| invalid("role", "operator, finance, support or auditor"))
}

/// How long a login waits after `failures` wrong ones in a row.
pub fn login_delay_s(failures: u64) -> u64 {
    crate::guesses::DelaySchedule {
        failures_free: LOGIN_FAILURES_FREE,
        delay_base_s: LOGIN_DELAY_BASE_S,
        delay_max_s: LOGIN_DELAY_MAX_S,
    }
    .delay_s(failures)
}

/// The TOTP step of `code` within the drift window around `now_s`, if it is one.
fn totp_step_matching(secret: &[u8], code: &str, now_s: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != totp::AUTHENTICATOR_DIGITS as usize
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let now = totp::step_of(now_s);
    let first = now.saturating_sub(TOTP_DRIFT_STEPS);
    (first..=now.saturating_add(TOTP_DRIFT_STEPS)).find(|&step| {
        let expected =
            totp::format_authenticator_code(totp::authenticator_code_at_step(secret, step));
        crypto::constant_time_eq(expected.as_bytes(), code.as_bytes())
    })
}

mod catalogue;
mod sessions;
