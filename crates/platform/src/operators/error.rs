//! What the operators context and the audit log refuse.

use journal::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No credential, or one that names no live session, key or bootstrap token.
    #[error("authentication required")]
    Unauthenticated,
    /// Login, password or code wrong (one answer for each, so logins cannot be probed).
    #[error("the login, password or code is wrong")]
    BadCredentials,
    /// Too many wrong logins: try again after this many seconds.
    #[error("too many failed logins; retry in {retry_after_s} s")]
    LockedOut { retry_after_s: u64 },
    /// The identity lacks the permission the action needs.
    #[error("this action needs the permission {0}")]
    Forbidden(&'static str),
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("the login is taken")]
    LoginTaken,
    #[error("no such operator")]
    NoSuchOperator,
    #[error("no such API key")]
    NoSuchApiKey,
    /// The bootstrap token is empty or shorter than [`super::BOOTSTRAP_TOKEN_BYTES_MIN`].
    #[error("the bootstrap admin token must be at least {0} bytes")]
    WeakBootstrapToken(usize),
    #[error("the audit log or the operators' tables cannot be written: {0}")]
    Unavailable(String),
}

impl From<LedgerError> for OperatorError {
    fn from(error: LedgerError) -> Self {
        OperatorError::Unavailable(error.to_string())
    }
}

impl From<store::StoreError> for OperatorError {
    fn from(error: store::StoreError) -> Self {
        OperatorError::Unavailable(error.to_string())
    }
}

pub(crate) fn invalid(field: &'static str, detail: impl Into<String>) -> OperatorError {
    OperatorError::Invalid {
        field,
        detail: detail.into(),
    }
}
