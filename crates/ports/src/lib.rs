//! The platform's ports to the world outside our walls, as traits and small shared pieces,
//! so that the adapters (`gateways`, `chain`) and the witness build without the business:
//!
//! - [`gateway`]: the partner protocol and SMS traits ([`gateway::PartnerGateway`],
//!   [`gateway::SmsGateway`]) and the boxed future they return;
//! - [`chain`]: the Ethereum side as the platform sees it ([`chain::ChainGateway`]);
//! - [`signing`]: the HMAC request schemes of partners and VAN terminals and the replay
//!   guard;
//! - [`pkce`]: PKCE (RFC 7636, S256) for the partner's proof that a member owns a
//!   membership;
//! - [`sms`]: the development outbox; [`time`]: the clock and RFC 3339 formatting;
//! - [`call_metrics`]: the names and labels of the adapters' call metrics.

pub mod call_metrics;
pub mod chain;
pub mod gateway;
pub mod pkce;
pub mod prices;
pub mod signing;
pub mod sms;
pub mod time;
pub mod webhook;
