//! The platform's view of systems outside our walls: partners (airlines, card issuers,
//! telcos) reached through the partner protocol, and an SMS gateway. The traits are what the
//! platform calls; the real adapters (HTTP) live in the `gateways` crate, so this crate knows
//! no HTTP. docs/partner-protocol.md specifies the wire protocol.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so the traits below can be used as `dyn` objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where and how to reach one partner's system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerEndpoint {
    /// Our id of the partner (decimal string); sent as `X-Mileverse-Key`.
    pub partner_key: String,
    /// Base URL of the partner's API, e.g. `http://127.0.0.1:9090`; paths are appended.
    pub api_base_url: String,
    /// Shared HMAC-SHA256 secret.
    pub secret: Vec<u8>,
}

/// A debit request: take `mileage` from the member's account at the partner, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebitRequest {
    /// Unique per exchange; the partner applies a reference at most once.
    pub reference: String,
    pub member_ref: String,
    pub mileage: u64,
}

/// Definitive answers to a debit. Anything not definitive is a [`PartnerCallError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebitOutcome {
    /// The partner debited (now or on an earlier delivery of the same reference).
    Debited { balance_after: u64 },
    /// The partner refused; nothing was debited and never will be for this reference.
    Refused(Refusal),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    InsufficientMileage,
    UnknownMember,
    /// The reference was cancelled before (a reversal came first); it is dead.
    ReferenceCancelled,
    /// An authorization code the partner does not honour: unknown, used, expired, or bound
    /// to another client, redirect URI or code challenge (OAuth 2.0 `invalid_grant`).
    InvalidGrant,
    /// The partner refused for another stated reason (its error code).
    Other(String),
}

/// What the partner's record says about a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebitStatus {
    /// Debited and not reversed.
    Debited { member_ref: String, mileage: u64 },
    /// Cancelled: reversed after a debit, or cancelled before any debit arrived. Final.
    Cancelled,
    /// The partner has never seen this reference.
    NotFound,
}

/// What the platform asks the member's browser to send to the partner's authorization
/// endpoint (OAuth 2.0 authorization code with PKCE, RFC 6749 §4.1.1 and RFC 7636 §4.3).
/// `client_id` is the endpoint's `partner_key`; `response_type` is always `code` and
/// `code_challenge_method` always `S256`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// Where the partner sends the browser back with the code (the platform's callback).
    pub redirect_uri: String,
    /// Random, single use; comes back with the code and binds it to the attempt.
    pub state: String,
    /// `BASE64URL(SHA256(code_verifier))` (`ports::pkce::challenge_s256`).
    pub code_challenge: String,
    /// The member ref the member typed, to fill the partner's login form.
    pub login_hint: String,
}

/// The token request of the ownership step (RFC 6749 §4.1.3 with RFC 7636 §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRedemption {
    pub code: String,
    /// The same `redirect_uri` the authorization request carried.
    pub redirect_uri: String,
    pub code_verifier: String,
}

/// The partner's answer to a redeemed code: the membership its member authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenMembership {
    /// The partner's canonical form of the member ref (e.g. upper-cased): the one to link.
    pub member_ref: String,
    /// The membership's mileage, when the partner says.
    pub mileage: Option<u64>,
}

/// A call whose outcome is unknown or that could not be made: timeouts, transport errors,
/// 5xx answers, answers that are not signed correctly or do not parse. For a debit, any of
/// these means "maybe applied": the caller must find out with a status query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartnerCallError {
    #[error("the partner did not answer in time")]
    Timeout,
    #[error("cannot reach the partner: {0}")]
    Transport(String),
    #[error("the partner answered with HTTP status {0}")]
    Status(u16),
    #[error("the partner's answer has a bad signature")]
    BadSignature,
    #[error("the partner's answer does not follow the protocol: {0}")]
    Protocol(String),
    /// A definitive refusal of a non-debit call (e.g. balance of an unknown member).
    #[error("the partner refused: {0:?}")]
    Refused(Refusal),
}

/// The partner protocol, client side. Implementations sign every request and check the
/// signature of every answer; they do not retry (the platform decides retries).
pub trait PartnerGateway: Send + Sync + 'static {
    /// The member's current mileage at the partner.
    fn balance<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        member_ref: &'a str,
    ) -> BoxFuture<'a, Result<u64, PartnerCallError>>;

    /// Debits once per reference (idempotent at the partner).
    fn debit<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        request: &'a DebitRequest,
    ) -> BoxFuture<'a, Result<DebitOutcome, PartnerCallError>>;

    /// Cancels a reference: reverses its debit if there was one, and makes sure a debit that
    /// arrives later is refused. Idempotent; `Ok` means the reference is now cancelled.
    fn cancel<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<(), PartnerCallError>>;

    /// What the partner's record says about a reference.
    fn status<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<DebitStatus, PartnerCallError>>;

    /// The URL of the partner's authorization endpoint that asks the member to sign in
    /// there (no call is made; the member's browser follows it). `Err(Transport)` for a
    /// base URL that is not one.
    fn authorize_url(
        &self,
        partner: &PartnerEndpoint,
        request: &AuthorizationRequest,
    ) -> Result<String, PartnerCallError>;

    /// Redeems an authorization code at the partner's token endpoint: the partner checks the
    /// code, the redirect URI and the PKCE verifier, and answers the membership the member
    /// authenticated as. A code the partner does not honour is
    /// `Err(Refused(InvalidGrant))`.
    fn redeem_code<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        redemption: &'a CodeRedemption,
    ) -> BoxFuture<'a, Result<ProvenMembership, PartnerCallError>>;
}

/// The gateway of a platform that reaches no partner (tools, tests of other contexts):
/// every call fails as a partner that is down would (`Status(503)`), so whatever needs a
/// partner is refused, or left for the resolver, as it would be in an outage.
pub struct NoPartners;

fn partner_down<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, PartnerCallError>> {
    Box::pin(async { Err(PartnerCallError::Status(503)) })
}

impl PartnerGateway for NoPartners {
    fn balance<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<u64, PartnerCallError>> {
        partner_down()
    }

    fn debit<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a DebitRequest,
    ) -> BoxFuture<'a, Result<DebitOutcome, PartnerCallError>> {
        partner_down()
    }

    fn cancel<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), PartnerCallError>> {
        partner_down()
    }

    fn status<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<DebitStatus, PartnerCallError>> {
        partner_down()
    }

    fn authorize_url(
        &self,
        _: &PartnerEndpoint,
        _: &AuthorizationRequest,
    ) -> Result<String, PartnerCallError> {
        Err(PartnerCallError::Status(503))
    }

    fn redeem_code<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a CodeRedemption,
    ) -> BoxFuture<'a, Result<ProvenMembership, PartnerCallError>> {
        partner_down()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS gateway refused the message: {0}")]
    Refused(String),
    #[error("cannot reach the SMS gateway: {0}")]
    Unavailable(String),
}

/// Sends text messages. `phone` is E.164 (`+821012345678`).
pub trait SmsGateway: Send + Sync + 'static {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>>;
}
