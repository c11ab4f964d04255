//! The machine-readable contract: an OpenAPI 3.1 document generated from the handlers'
//! own annotations and types (utoipa), served at `GET /openapi.json`.
//!
//! Every route is registered through `utoipa_axum::routes!`, which takes the path and
//! method from the handler's `#[utoipa::path]`: a route cannot exist without its entry in
//! the document (the test below finds any `.route(` that bypasses it). What is the same for
//! every operation is added here once, by [`Conventions`]: the security schemes, and the
//! problem+json answers each kind of route can give, all pointing at one `Problem` schema
//! whose `type` lists every stable problem type the server emits ([`PROBLEM_TYPES`]).

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi as _, ToSchema};

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// The prefix of every problem `type`: `urn:mileverse:problem:<slug>`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:mileverse:problem:";

/// Every problem slug the server emits. `Problem::new` asserts membership in debug builds,
/// so a new kind of refusal cannot be added without documenting it.
pub const PROBLEM_TYPES: &[&str] = &[
    "ad-revenue-short",
    "amount-too-small",
    "authorization-state",
    "bad-credentials",
    "bad-signature",
    "balance-remaining",
    "batch-too-large",
    "below-minimum-unit",
    "body-too-large",
    "chain-not-configured",
    "chain-unavailable",
    "content-conflict",
    "conversion-disabled",
    "creator-conflict",
    "creator-not-a-member",
    "creator-period-closed",
    "creator-pool-distributed",
    "creator-unavailable",
    "credit-line-exceeded",
    "cross-asset-needs-member",
    "device-unverified",
    "exchange-in-progress",
    "forbidden",
    "game-credit-conflict",
    "game-funds-short",
    "idempotency-conflict",
    "idempotency-key-in-flight",
    "idempotency-key-reused",
    "insufficient-balance",
    "insufficient-partner-mileage",
    "invalid-fields",
    "invalid-query",
    "limit-exceeded",
    "link-not-proven",
    "link-proof-expired",
    "link-proof-invalid",
    "login-delayed",
    "login-taken",
    "malformed-json",
    "member-locked",
    "member-withdrawn",
    "membership-linked-elsewhere",
    "merchant-payable-insufficient",
    "method-not-allowed",
    "money-request-amount",
    "money-request-closed",
    "money-requests-per-day",
    "no-price",
    "no-rate",
    "no-such-route",
    "no-wallet-address",
    "no-webhook-endpoint",
    "not-an-authority",
    "not-found",
    "not-the-proposal",
    "nothing-to-distribute",
    "order-id-conflict",
    "partner-disabled",
    "partner-refused",
    "partner-unavailable",
    "paycode-expired",
    "paycode-invalid",
    "paycode-too-many-guesses",
    "paycode-used",
    "payment-attempts",
    "payment-declined",
    "payment-intent-expired",
    "payment-intent-state",
    "phone-already-registered",
    "pin-required",
    "prepaid-exceeded",
    "promotion-ended",
    "proof-range",
    "quote-expired",
    "quotes-per-day",
    "rate-limited",
    "receiver-unavailable",
    "replayed-request",
    "report-conflict",
    "session-expired",
    "sms-unavailable",
    "stale-request",
    "stale-timestamp",
    "terminal-disabled",
    "terminal-mismatch",
    "terminal-not-served",
    "tip-limit",
    "tip-to-self",
    "too-many-contents",
    "too-many-link-attempts",
    "too-many-offers",
    "too-many-promotions",
    "too-many-verifications",
    "trade-not-this-game",
    "trade-own-offer",
    "trade-state",
    "trade-wrong-party",
    "transfer-limit",
    "transfer-to-self",
    "treasury-short",
    "unauthorized",
    "unavailable",
    "unknown-authorization",
    "unknown-campaign",
    "unknown-content",
    "unknown-creator",
    "unknown-creator-pool",
    "unknown-game",
    "unknown-link",
    "unknown-media-platform",
    "unknown-merchant",
    "unknown-money-request",
    "unknown-partner",
    "unknown-partner-member",
    "unknown-paycode-device",
    "unknown-payment-intent",
    "unknown-product",
    "unknown-promotion",
    "unknown-quote",
    "unknown-settlement",
    "unknown-terminal",
    "unknown-trade",
    "unknown-transaction",
    "unknown-transfer",
    "unknown-van",
    "unknown-verification",
    "unknown-voucher",
    "unknown-webhook-event",
    "unreadable-body",
    "unsupported-media-type",
    "van-disabled",
    "verification-expired",
    "voucher-state",
    "wrong-pin",
    "wrong-portal",
    "wrong-verification-code",
];

/// Security scheme names, as the handlers' `security(...)` attributes spell them.
pub const MEMBER: &str = "member_session";
pub const OPERATOR: &str = "operator";
pub const PARTNER: &str = "partner_signature";
pub const TERMINAL: &str = "terminal_signature";
pub const WITNESS: &str = "witness_feed";
pub const MERCHANT: &str = "merchant_session";
pub const PARTNER_PORTAL: &str = "partner_portal_session";
pub const GAME: &str = "game_signature";
pub const MEDIA: &str = "media_signature";

/// The document's frame: what is not an operation.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Mileverse",
        description = "One spendable point from scattered mileage: members, partners' \
            exchanges, pay codes and the VAN API, vouchers, settlement, the MVC token and a \
            ledger anyone can verify. Errors are RFC 9457 problem details \
            (application/problem+json) with a stable `type`; u128 ids and amounts travel \
            as strings of decimal digits. Value-moving member requests take an \
            `Idempotency-Key` header (IETF draft): a retry with the same key and body \
            answers the stored result with `Idempotent-Replayed: true`, the same key with \
            another body is 422 `idempotency-key-reused`, and while the first is still in \
            flight 409 `idempotency-key-in-flight`. Lists answer `{items, next_cursor}`: \
            pass `next_cursor` back as `cursor` until it is null.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ProblemDoc, FieldErrorDoc))
)]
pub struct Frame;

/// A problem details answer (RFC 9457). Extension members (`retry_after_s`, `limit`,
/// `exchange_id`, ...) may follow.
#[derive(ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    /// `urn:mileverse:problem:<slug>`; one of the types listed in the document.
    #[schema(schema_with = problem_type_schema)]
    pub r#type: String,
    pub title: String,
    pub status: u16,
    /// For people; never parse it.
    pub detail: String,
    /// Every invalid field at once, when the problem is about fields.
    pub errors: Option<Vec<FieldErrorDoc>>,
}

/// One invalid field (of one item of a batch).
#[derive(ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorDoc {
    pub index: Option<u64>,
    pub field: String,
    pub detail: String,
}

fn problem_type_schema() -> ObjectBuilder {
    let types = PROBLEM_TYPES
        .iter()
        .map(|slug| format!("{PROBLEM_TYPE_PREFIX}{slug}"));
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(types))
}

/// What is the same for every operation: the security schemes and the problem answers.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what.to_string()))
                    .build(),
            )
        };
        let header = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what)))
        };
        components.add_security_scheme(
            MEMBER,
            bearer("a member's session token (POST /v1/sessions)"),
        );
        components.add_security_scheme(
            OPERATOR,
            bearer("an operator's session token, an API key, or the bootstrap token"),
        );
        components.add_security_scheme(
            PARTNER,
            header(
                "X-Mileverse-Signature",
                "HMAC-SHA256 over the request with X-Mileverse-Key, -Timestamp and -Nonce \
                 (docs/partner-protocol.md)",
            ),
        );
        components.add_security_scheme(
            TERMINAL,
            header(
                "X-Mileverse-Signature",
                "HMAC-SHA256 over the request with X-Mileverse-Key and -Timestamp, by a \
                 terminal or a VAN naming the till in X-Mileverse-Terminal (docs/payments.md)",
            ),
        );
        components.add_security_scheme(
            GAME,
            header(
                "X-Mileverse-Signature",
                "HMAC-SHA256 over the request with X-Mileverse-Key and -Timestamp, by a game \
                 company (docs/escrow.md)",
            ),
        );
        components.add_security_scheme(
            MEDIA,
            header(
                "X-Mileverse-Signature",
                "HMAC-SHA256 over the request with X-Mileverse-Key and -Timestamp, by a content \
                 platform (docs/creators.md)",
            ),
        );
        components.add_security_scheme(WITNESS, bearer("an API key with ledger.feed"));
        components.add_security_scheme(
            MERCHANT,
            bearer("a merchant user's session token (POST /merchant/v1/sessions)"),
        );
        components.add_security_scheme(
            PARTNER_PORTAL,
            bearer("a partner portal user's session token (POST /partner-portal/v1/sessions)"),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
                (&mut item.delete, true),
            ];
            for (operation, takes_body) in operations {
                if let Some(operation) = operation {
                    add_problems(path, operation, takes_body);
                }
            }
        }
    }
}

/// The problem answers a route can give besides its own: malformed input, credentials,
/// limits, an unavailable store, and `default` for the rest.
fn add_problems(path: &str, operation: &mut Operation, takes_body: bool) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let mut statuses: Vec<(&str, &str)> = vec![
        ("400", "Malformed or invalid input; nothing moved"),
        ("429", "A rate limit; wait `Retry-After` seconds"),
        ("503", "The store is unavailable or the ledger is busy"),
    ];
    if secured {
        statuses.push(("401", "Missing or wrong credentials"));
        statuses.push(("403", "The credentials do not allow this"));
    }
    if path.contains('{') {
        statuses.push(("404", "The record the path names does not exist"));
    }
    if takes_body {
        statuses.push(("413", "The body is too large"));
        statuses.push(("415", "The body is not JSON"));
    }
    statuses.push(("default", "Any other refusal, as a problem"));
    let responses = &mut operation.responses.responses;
    for (status, description) in statuses {
        responses
            .entry(status.to_string())
            .or_insert_with(|| problem_response(description));
    }
}

fn problem_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "Problem",
        ))))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(PROBLEM_MEDIA_TYPE, content)
            .build(),
    )
}

/// The frame, before the routes add their operations.
pub fn frame() -> OpenApi {
    Frame::openapi()
}

/// Adds what every operation shares, once the routes have added theirs.
pub fn finish(document: &mut OpenApi) {
    Conventions.modify(document);
}

/// Whether `slug` is a documented problem type.
pub fn is_documented(slug: &str) -> bool {
    PROBLEM_TYPES.contains(&slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_types_are_sorted_free_of_duplicates() {
        let mut sorted = PROBLEM_TYPES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, PROBLEM_TYPES, "sorted, each slug once");
    }

    /// Every slug the sources spell next to a status is listed: the debug assertion in
    /// `Problem::new` catches the ones a test reaches, this catches the others.
    #[test]
    fn every_slug_in_the_sources_is_documented() {
        let sources = [
            include_str!("problem.rs"),
            include_str!("access.rs"),
            include_str!("http_policy.rs"),
            include_str!("members_api.rs"),
            include_str!("admin_api.rs"),
            include_str!("chain_api.rs"),
            include_str!("ledger_api.rs"),
            include_str!("ledger_query_api.rs"),
            include_str!("merchants_api.rs"),
            include_str!("operators_api.rs"),
            include_str!("partner_api.rs"),
            include_str!("paycodes_api.rs"),
            include_str!("van_api.rs"),
            include_str!("vouchers_api.rs"),
        ];
        for source in sources {
            for slug in status_slugs(source) {
                assert!(
                    is_documented(slug),
                    "problem slug {slug:?} is not in PROBLEM_TYPES"
                );
            }
        }
    }

    /// The slugs that follow `StatusCode::X,` or `S::X,` in a source.
    fn status_slugs(source: &str) -> Vec<&str> {
        let mut slugs = Vec::new();
        for (at, _) in source.match_indices("::") {
            // `StatusCode::X` or `S::X`, and no other path.
            let before = &source[..at];
            let owner_start = before
                .rfind(|c: char| !c.is_ascii_alphanumeric())
                .map_or(0, |i| i + 1);
            if !matches!(&before[owner_start..], "StatusCode" | "S") {
                continue;
            }
            let rest = &source[at + 2..];
            let name_end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            let after = &rest[name_end..];
            if name_end < 3 || !after.starts_with(',') {
                continue;
            }
            let after = after[1..].trim_start();
            if let Some(quoted) = after.strip_prefix('"')
                && let Some(end) = quoted.find('"')
            {
                slugs.push(&quoted[..end]);
            }
        }
        slugs
    }

    /// No route bypasses the document: every module registers through `routes!`.
    #[test]
    fn no_route_bypasses_the_document() {
        let sources = [
            ("lib.rs", include_str!("lib.rs")),
            ("members_api.rs", include_str!("members_api.rs")),
            ("admin_api.rs", include_str!("admin_api.rs")),
            ("chain_api.rs", include_str!("chain_api.rs")),
            ("ledger_api.rs", include_str!("ledger_api.rs")),
            ("ledger_query_api.rs", include_str!("ledger_query_api.rs")),
            ("merchants_api.rs", include_str!("merchants_api.rs")),
            ("operators_api.rs", include_str!("operators_api.rs")),
            ("partner_api.rs", include_str!("partner_api.rs")),
            ("paycodes_api.rs", include_str!("paycodes_api.rs")),
            ("van_api.rs", include_str!("van_api.rs")),
            ("vouchers_api.rs", include_str!("vouchers_api.rs")),
        ];
        for (name, source) in sources {
            let bypass = [".route(", ".route_service("]
                .iter()
                .any(|call| source.matches(call).count() > 0);
            assert!(!bypass, "{name} registers a route outside routes!()");
        }
    }
}
