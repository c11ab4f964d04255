//! Names and label values of the metrics the adapters record for their calls through the
//! ports (partners, the chain node), in one place: the adapters (`gateways`, `chain`) record
//! them, and the server's exporter describes them and gives them their buckets. This crate
//! records nothing itself and needs no metrics library.
//!
//! Both are histograms in seconds labelled `operation` (the trait method called, a fixed set
//! per port) and `outcome` (one of [`outcome`]): the label values are a small fixed set, so
//! the number of series stays bounded whatever the traffic.

/// Partner protocol calls (`gateway::PartnerGateway`), by operation and outcome.
pub const PARTNER_CALL_DURATION_SECONDS: &str = "mileverse_partner_call_duration_seconds";
/// Chain calls (`chain::ChainGateway`), by operation and outcome.
pub const CHAIN_CALL_DURATION_SECONDS: &str = "mileverse_chain_call_duration_seconds";

/// The `outcome` label's values.
pub mod outcome {
    /// The call did what was asked.
    pub const OK: &str = "ok";
    /// A definitive refusal: the partner refused (or the request was refused locally without
    /// a call, as the partner would), or the contract reverted.
    pub const REFUSED: &str = "refused";
    /// No answer in time; for a debit, "maybe applied".
    pub const TIMEOUT: &str = "timeout";
    /// Anything else that is not definitive: transport errors, 5xx answers, bad signatures,
    /// answers that break the protocol, a node that cannot be reached.
    pub const ERROR: &str = "error";
}
