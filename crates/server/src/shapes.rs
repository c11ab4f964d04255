//! Answer shapes shared by several route modules, each with its OpenAPI schema.
//!
//! Ids and u128 amounts travel as strings of decimal digits; amounts a person reads
//! (balances, history lines) are JSON numbers up to 2^53 - 1 and exact strings beyond
//! ([`SignedAmount`]), so no client ever rounds one.

use serde::{Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The largest integer every JSON client reads exactly (JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 - 1).
pub const JSON_SAFE_INTEGER_MAX: u128 = (1 << 53) - 1;

/// An amount with its sign: a JSON number while exact in every client, past
/// [`JSON_SAFE_INTEGER_MAX`] (which business amounts never reach) a decimal string.
/// Never a cast that truncates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedAmount {
    pub amount: u128,
    /// False: the amount left the account.
    pub positive: bool,
}

impl SignedAmount {
    pub fn incoming(amount: u128) -> SignedAmount {
        SignedAmount {
            amount,
            positive: true,
        }
    }
}

impl Serialize for SignedAmount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let negative = !self.positive && self.amount != 0;
        match i64::try_from(self.amount) {
            Ok(small) if self.amount <= JSON_SAFE_INTEGER_MAX => {
                serializer.serialize_i64(if negative { -small } else { small })
            }
            _ => {
                let sign = if negative { "-" } else { "" };
                serializer.collect_str(&format_args!("{sign}{}", self.amount))
            }
        }
    }
}

impl PartialSchema for SignedAmount {
    fn schema() -> RefOr<Schema> {
        let number = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(-(JSON_SAFE_INTEGER_MAX as f64)))
            .maximum(Some(JSON_SAFE_INTEGER_MAX as f64));
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^-?[0-9]{16,39}$"));
        OneOfBuilder::new()
            .item(number)
            .item(text)
            .description(Some(
                "An amount in the asset's smallest unit, negative when it left the account: \
                 a number up to 2^53 - 1, an exact decimal string beyond",
            ))
            .into()
    }
}

impl ToSchema for SignedAmount {}

/// A page of a list: `limit` items at most, after `cursor` (the `next_cursor` of the page
/// before). Every list of the API pages this way.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the page before; absent for the first page.
    pub cursor: Option<String>,
    /// How many items at most (each list names its maximum).
    pub limit: Option<usize>,
}

/// A page's `limit`: `default` when absent, refused (400) outside 1 to `max`, never
/// clamped silently.
pub fn page_limit(
    limit: Option<usize>,
    default: usize,
    max: usize,
) -> Result<usize, crate::problem::Problem> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > max {
        return Err(platform::error::invalid("limit", format!("1 to {max}")).into());
    }
    Ok(limit)
}

/// The cursor of a list ordered by (time, id), newest first: `<time_s>.<id>` of the last
/// line of the page before. Opaque to clients.
pub fn time_cursor_text(time_s: u64, id: u128) -> String {
    format!("{time_s}.{id}")
}

/// Reads a [`time_cursor_text`] cursor.
pub fn time_cursor(text: &str) -> Result<(u64, u128), crate::problem::Problem> {
    let parsed = text
        .split_once('.')
        .and_then(|(time, id)| Some((time.parse::<u64>().ok()?, crate::json::parse_id(id)?)));
    parsed.ok_or_else(|| {
        crate::problem::Problem::from(platform::error::invalid(
            "cursor",
            "a cursor from next_cursor",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(amount: u128, positive: bool) -> serde_json::Value {
        serde_json::to_value(SignedAmount { amount, positive }).unwrap()
    }

    #[test]
    fn time_cursors_round_trip_and_refuse_anything_else() {
        let text = time_cursor_text(1_700_000_000, u128::MAX);
        assert_eq!(time_cursor(&text).unwrap(), (1_700_000_000, u128::MAX));
        for bad in ["", "1", "1.", ".1", "x.1", "1.x", "-1.1"] {
            assert!(time_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn amounts_never_truncate_on_the_wire() {
        assert_eq!(wire(7000, true), json!(7000));
        assert_eq!(wire(7000, false), json!(-7000));
        assert_eq!(wire(0, false), json!(0));
        assert_eq!(
            wire(JSON_SAFE_INTEGER_MAX, false),
            json!(-9_007_199_254_740_991i64)
        );
        // Issue 13's finding: 2^64 - 1 MVP showed as -1. Past 2^53 it is an exact string.
        assert_eq!(
            wire(u128::from(u64::MAX), true),
            json!("18446744073709551615")
        );
        assert_eq!(wire(u128::MAX, false), json!(format!("-{}", u128::MAX)));
    }
}

/// A page of a member's history: `limit` lines at most, older than `cursor` (the
/// `next_cursor` of the page before), only those of one `reason` when given.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// `next_cursor` of the page before; absent for the first page.
    pub cursor: Option<String>,
    /// How many lines at most (1 to 100; default 20).
    pub limit: Option<usize>,
    /// Only lines of this reason (`exchange`, `payment`, `refund`, `transfer`,
    /// `conversion`, `voucher_purchase`, ...).
    pub reason: Option<String>,
}

impl HistoryQuery {
    /// The platform's page, checked: a bad cursor, limit or reason is refused (400).
    pub fn page(&self) -> Result<platform::members::HistoryPage, crate::problem::Problem> {
        let before_ns = self
            .cursor
            .as_deref()
            .map(|text| {
                text.parse::<u64>()
                    .map_err(|_| platform::error::invalid("cursor", "a cursor from next_cursor"))
            })
            .transpose()?;
        let limit = page_limit(self.limit, 20, platform::members::TRANSACTIONS_PAGE_MAX)?;
        let code = self
            .reason
            .as_deref()
            .map(|reason| {
                platform::chart::reason_code(reason)
                    .ok_or_else(|| platform::error::invalid("reason", "a reason of the history"))
            })
            .transpose()?;
        Ok(platform::members::HistoryPage {
            before_ns,
            limit,
            code,
        })
    }
}
