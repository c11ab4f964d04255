//! TigerBeetle's queries over HTTP (operators; admin token required), answered from the
//! store's indexes through [`journal::LedgerService`] (see `journal::ledger_queries` and
//! `store::query` for the semantics):
//!
//! - `GET /admin/v1/ledger/accounts/{id}/transfers?…`: `get_account_transfers`;
//! - `GET /admin/v1/ledger/accounts/{id}/balances?…`: `get_account_balances`;
//! - `GET /admin/v1/ledger/accounts?…`: `query_accounts`;
//! - `GET /admin/v1/ledger/transfers?…`: `query_transfers`;
//! - `POST /admin/v1/ledger/accounts/lookup`, `POST /admin/v1/ledger/transfers/lookup`:
//!   `{"ids": ["1", …]}`, at most 8,190 ids.
//!
//! Query parameters carry the filter's fields under TigerBeetle's names (`user_data_128`,
//! `user_data_64`, `user_data_32`, `ledger`, `code`, `timestamp_min`, `timestamp_max`,
//! `limit`, and `flags` as a comma-separated list of `debits`, `credits`, `reversed`).
//! Unknown or repeated parameters and bad values answer 400 `invalid-fields` naming each.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use ledger::types::{AccountId, TransferId};
use serde::Serialize;
use serde_json::Value;
use store::query::{AccountFilter, FilterError, QueryFilter};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::json::{
    LedgerAccount, LedgerBalance, LedgerTransfer, account_json, balance_json, parse_id,
    transfer_json,
};
use crate::ledger_api::{Body, parse_body, path_id};
use crate::problem::{FieldError, Problem};

/// Results per page when the query names no `limit`.
pub const QUERY_LIMIT_DEFAULT: u32 = 100;

/// Most ids in one lookup (TigerBeetle's batch).
pub const LOOKUP_IDS_MAX: usize = journal::sequencer::BATCH_EVENTS_MAX;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_account_transfers))
        .routes(routes!(get_account_balances))
        .routes(routes!(query_accounts))
        .routes(routes!(query_transfers))
        .routes(routes!(lookup_accounts))
        .routes(routes!(lookup_transfers))
}

/// The query parameters of an account's transfers or balances (documentation only: the
/// handler checks the raw pairs, naming every unknown, repeated or bad one). Pages are
/// walked by moving `timestamp_min` past the last result's `timestamp` (`timestamp_max`
/// before it when `reversed`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilterParams {
    /// u128, decimal digits; 0 or absent matches any.
    pub user_data_128: Option<String>,
    /// 0 or absent matches any.
    pub user_data_64: Option<u64>,
    /// 0 or absent matches any.
    pub user_data_32: Option<u32>,
    /// 0 or absent matches any.
    pub code: Option<u16>,
    /// Engine time (ns), inclusive; 0 or absent: from the first.
    pub timestamp_min: Option<u64>,
    /// Engine time (ns), inclusive; 0 or absent: to the last.
    pub timestamp_max: Option<u64>,
    /// 1 to 8,190 results; 100 when absent.
    pub limit: Option<u32>,
    /// Comma-separated among `debits` (transfers debiting the account), `credits`
    /// (crediting it) and `reversed` (newest first); absent: both sides, oldest first.
    pub flags: Option<String>,
}

/// The query parameters of a ledger-wide account or transfer query (documentation only:
/// the handler checks the raw pairs, naming every unknown, repeated or bad one). Pages
/// are walked by moving `timestamp_min` past the last result's `timestamp`
/// (`timestamp_max` before it when `reversed`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueryFilterParams {
    /// u128, decimal digits; 0 or absent matches any.
    pub user_data_128: Option<String>,
    /// 0 or absent matches any.
    pub user_data_64: Option<u64>,
    /// 0 or absent matches any.
    pub user_data_32: Option<u32>,
    /// 0 or absent matches any.
    pub ledger: Option<u32>,
    /// 0 or absent matches any.
    pub code: Option<u16>,
    /// Engine time (ns), inclusive; 0 or absent: from the first.
    pub timestamp_min: Option<u64>,
    /// Engine time (ns), inclusive; 0 or absent: to the last.
    pub timestamp_max: Option<u64>,
    /// 1 to 8,190 results; 100 when absent.
    pub limit: Option<u32>,
    /// `reversed` (newest first); absent: oldest first.
    pub flags: Option<String>,
}

/// The parameters of an `AccountFilter` (the account comes from the path).
const ACCOUNT_FILTER_PARAMS: &[&str] = &[
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "code",
    "timestamp_min",
    "timestamp_max",
    "limit",
    "flags",
];

/// The parameters of a `QueryFilter`.
const QUERY_FILTER_PARAMS: &[&str] = &[
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "ledger",
    "code",
    "timestamp_min",
    "timestamp_max",
    "limit",
    "flags",
];

/// A query string's parameters, checked one by one; every problem is collected.
struct Params {
    pairs: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Params {
    fn new(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> Result<Params, Problem> {
        let Query(pairs) = query.map_err(Problem::from)?;
        let mut params = Params {
            pairs,
            errors: Vec::new(),
        };
        let mut seen = HashSet::new();
        for (name, _) in &params.pairs {
            if !known.contains(&name.as_str()) {
                params.errors.push(field_error(
                    name,
                    format!("unknown parameter; known are {}", known.join(", ")),
                ));
            } else if !seen.insert(name.clone()) {
                params
                    .errors
                    .push(field_error(name, "given more than once"));
            }
        }
        Ok(params)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// An unsigned integer of at most `max` in decimal digits; 0 when absent.
    fn uint(&mut self, name: &str, max: u128) -> u128 {
        let Some(text) = self.get(name) else {
            return 0;
        };
        match parse_id(text).filter(|&value| value <= max) {
            Some(value) => value,
            None => {
                let detail = format!("expected decimal digits, 0 to {max}");
                self.errors.push(field_error(name, detail));
                0
            }
        }
    }

    fn u64(&mut self, name: &str) -> u64 {
        self.uint(name, u64::MAX.into()) as u64
    }

    fn u32(&mut self, name: &str) -> u32 {
        self.uint(name, u32::MAX.into()) as u32
    }

    fn u16(&mut self, name: &str) -> u16 {
        self.uint(name, u16::MAX.into()) as u16
    }

    /// `limit`: 1 to [`store::query::QUERY_LIMIT_MAX`], [`QUERY_LIMIT_DEFAULT`] when absent.
    fn limit(&mut self) -> u32 {
        if self.get("limit").is_none() {
            return QUERY_LIMIT_DEFAULT;
        }
        let limit = self.u32("limit");
        if self.errors.iter().any(|e| e.field == "limit") {
            return QUERY_LIMIT_DEFAULT;
        }
        limit
    }

    /// The names in `flags` (comma-separated), each one of `allowed`; `None` when absent.
    fn flags(&mut self, allowed: &[&str]) -> Option<HashSet<String>> {
        let text = self.get("flags")?.to_owned();
        let mut names = HashSet::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if allowed.contains(&name) {
                names.insert(name.to_owned());
            } else {
                let detail = format!("unknown flag {name:?}; known are {}", allowed.join(", "));
                self.errors.push(field_error("flags", detail));
            }
        }
        Some(names)
    }

    /// The problem for everything found wrong so far, plus the filter's own `checked`.
    fn finish(mut self, checked: Result<(), Vec<FilterError>>) -> Result<(), Problem> {
        let reported: HashSet<String> = self.errors.iter().map(|e| e.field.clone()).collect();
        for error in checked.err().unwrap_or_default() {
            // A bad value was reported as such (and replaced); the path's account is the
            // route's 404.
            if !reported.contains(error.field) && error.field != "account_id" {
                self.errors.push(field_error(error.field, error.detail));
            }
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::invalid_items(self.errors))
        }
    }
}

fn field_error(field: &str, detail: impl Into<String>) -> FieldError {
    FieldError {
        index: None,
        field: field.to_owned(),
        detail: detail.into(),
    }
}

/// The `AccountFilter` of `account` the query string asks for; both sides when `flags` is
/// absent.
fn account_filter(
    account: AccountId,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<AccountFilter, Problem> {
    let mut params = Params::new(query, ACCOUNT_FILTER_PARAMS)?;
    let flags = params.flags(&["debits", "credits", "reversed"]);
    let has = |name: &str| flags.as_ref().is_some_and(|f| f.contains(name));
    let filter = AccountFilter {
        account_id: account,
        user_data_128: params.uint("user_data_128", u128::MAX),
        user_data_64: params.u64("user_data_64"),
        user_data_32: params.u32("user_data_32"),
        code: params.u16("code"),
        timestamp_min: params.u64("timestamp_min"),
        timestamp_max: params.u64("timestamp_max"),
        limit: params.limit(),
        debits: flags.is_none() || has("debits"),
        credits: flags.is_none() || has("credits"),
        reversed: has("reversed"),
    };
    params.finish(filter.check())?;
    Ok(filter)
}

/// The `QueryFilter` the query string asks for.
fn query_filter(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<QueryFilter, Problem> {
    let mut params = Params::new(query, QUERY_FILTER_PARAMS)?;
    let flags = params.flags(&["reversed"]);
    let filter = QueryFilter {
        user_data_128: params.uint("user_data_128", u128::MAX),
        user_data_64: params.u64("user_data_64"),
        user_data_32: params.u32("user_data_32"),
        ledger: params.u32("ledger"),
        code: params.u16("code"),
        timestamp_min: params.u64("timestamp_min"),
        timestamp_max: params.u64("timestamp_max"),
        limit: params.limit(),
        reversed: flags.is_some_and(|f| f.contains("reversed")),
    };
    params.finish(filter.check())?;
    Ok(filter)
}

/// The account named by the path, or 404 if the ledger has none.
async fn existing_account(state: &AppState, id: &str) -> Result<AccountId, Problem> {
    let id = AccountId(path_id(id)?);
    let found = state.ledger.lookup_stored_accounts(vec![id]).await?;
    if found.is_empty() {
        return Err(Problem::not_found(format!("no account {id}")));
    }
    Ok(id)
}

/// An account's transfers.
#[derive(Serialize, ToSchema)]
pub struct AccountTransfersAnswer {
    /// Decimal digits.
    pub account_id: String,
    pub transfers: Vec<LedgerTransfer>,
}

/// An account's balances after each of its transfers.
#[derive(Serialize, ToSchema)]
pub struct AccountBalancesAnswer {
    /// Decimal digits.
    pub account_id: String,
    pub balances: Vec<LedgerBalance>,
}

/// Accounts, in the order asked.
#[derive(Serialize, ToSchema)]
pub struct LedgerAccountsAnswer {
    pub accounts: Vec<LedgerAccount>,
}

/// Transfers, in the order asked.
#[derive(Serialize, ToSchema)]
pub struct LedgerTransfersAnswer {
    pub transfers: Vec<LedgerTransfer>,
}

/// An account's transfers, filtered (TigerBeetle's `get_account_transfers`).
#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{id}/transfers", tag = "ledger",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The account id, decimal digits", pattern = r"^[0-9]{1,39}$"), AccountFilterParams),
    responses((status = 200, description = "The transfers, at most `limit`. Needs `ledger.read`.", body = AccountTransfersAnswer)))]
async fn get_account_transfers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<AccountTransfersAnswer>, Problem> {
    let filter = account_filter(AccountId(path_id(&id)?), query)?;
    let account = existing_account(&state, &id).await?;
    let transfers = state.ledger.account_transfers(filter).await?;
    Ok(Json(AccountTransfersAnswer {
        account_id: account.0.to_string(),
        transfers: transfers.iter().map(transfer_json).collect(),
    }))
}

/// An account's historical balances, filtered (TigerBeetle's `get_account_balances`).
///
/// Only accounts with the `history` flag have any.
#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{id}/balances", tag = "ledger",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The account id, decimal digits", pattern = r"^[0-9]{1,39}$"), AccountFilterParams),
    responses((status = 200, description = "The balances, at most `limit`. Needs `ledger.read`.", body = AccountBalancesAnswer)))]
async fn get_account_balances(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<AccountBalancesAnswer>, Problem> {
    let filter = account_filter(AccountId(path_id(&id)?), query)?;
    let account = existing_account(&state, &id).await?;
    let balances = state.ledger.account_balances(filter).await?;
    Ok(Json(AccountBalancesAnswer {
        account_id: account.0.to_string(),
        balances: balances.iter().map(balance_json).collect(),
    }))
}

/// Accounts matching a filter (TigerBeetle's `query_accounts`).
#[utoipa::path(get, path = "/admin/v1/ledger/accounts", tag = "ledger",
    security(("operator" = [])),
    params(QueryFilterParams),
    responses((status = 200, description = "The accounts, at most `limit`. Needs `ledger.read`.", body = LedgerAccountsAnswer)))]
async fn query_accounts(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<LedgerAccountsAnswer>, Problem> {
    let filter = query_filter(query)?;
    let accounts = state.ledger.query_accounts(filter).await?;
    Ok(Json(LedgerAccountsAnswer {
        accounts: accounts.iter().map(account_json).collect(),
    }))
}

/// Transfers matching a filter (TigerBeetle's `query_transfers`).
#[utoipa::path(get, path = "/admin/v1/ledger/transfers", tag = "ledger",
    security(("operator" = [])),
    params(QueryFilterParams),
    responses((status = 200, description = "The transfers, at most `limit`. Needs `ledger.read`.", body = LedgerTransfersAnswer)))]
async fn query_transfers(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<LedgerTransfersAnswer>, Problem> {
    let filter = query_filter(query)?;
    let transfers = state.ledger.query_transfers(filter).await?;
    Ok(Json(LedgerTransfersAnswer {
        transfers: transfers.iter().map(transfer_json).collect(),
    }))
}

/// A lookup by ids (documentation only: parsed by hand, naming every bad id).
#[derive(ToSchema)]
pub struct LookupBody {
    /// At most 8,190 ids, each a u128 in decimal digits.
    pub ids: Vec<String>,
}

/// The ids of a lookup body `{"ids": ["1", …]}`: at most [`LOOKUP_IDS_MAX`] (413 beyond),
/// each a u128 in decimal digits.
fn lookup_ids(body: Body) -> Result<Vec<u128>, Problem> {
    let body = parse_body(body)?;
    let whole = |detail: &str| Problem::invalid_items(vec![field_error("ids", detail)]);
    let Some(object) = body.as_object() else {
        return Err(whole("the body must be a JSON object"));
    };
    if let Some(other) = object.keys().find(|key| *key != "ids") {
        return Err(Problem::invalid_items(vec![field_error(
            other,
            "unknown field",
        )]));
    }
    let Some(items) = object.get("ids").and_then(Value::as_array) else {
        return Err(whole("expected an array of ids"));
    };
    if items.len() > LOOKUP_IDS_MAX {
        return Err(journal::LedgerError::BatchTooLarge {
            len: items.len(),
            max: LOOKUP_IDS_MAX,
        }
        .into());
    }
    let mut ids = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item.as_str().and_then(parse_id) {
            Some(id) => ids.push(id),
            None => errors.push(FieldError {
                index: Some(index),
                field: "ids".into(),
                detail: "expected a string of decimal digits between 0 and 2^128-1".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(Problem::invalid_items(errors))
    }
}

/// Accounts by id (TigerBeetle's `lookup_accounts`); ids not found are left out.
#[utoipa::path(post, path = "/admin/v1/ledger/accounts/lookup", tag = "ledger",
    security(("operator" = [])),
    request_body = LookupBody,
    responses((status = 200, description = "The accounts found. Needs `ledger.read`.", body = LedgerAccountsAnswer)))]
async fn lookup_accounts(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<LedgerAccountsAnswer>, Problem> {
    let ids = lookup_ids(body)?.into_iter().map(AccountId).collect();
    let accounts = state.ledger.lookup_stored_accounts(ids).await?;
    Ok(Json(LedgerAccountsAnswer {
        accounts: accounts.iter().map(account_json).collect(),
    }))
}

/// Transfers by id (TigerBeetle's `lookup_transfers`); ids not found are left out.
#[utoipa::path(post, path = "/admin/v1/ledger/transfers/lookup", tag = "ledger",
    security(("operator" = [])),
    request_body = LookupBody,
    responses((status = 200, description = "The transfers found. Needs `ledger.read`.", body = LedgerTransfersAnswer)))]
async fn lookup_transfers(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<LedgerTransfersAnswer>, Problem> {
    let ids = lookup_ids(body)?.into_iter().map(TransferId).collect();
    let transfers = state.ledger.lookup_transfers(ids).await?;
    Ok(Json(LedgerTransfersAnswer {
        transfers: transfers.iter().map(transfer_json).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        crate::ledger_api::assert_routes_documented(routes());
    }

    fn query(text: &str) -> Result<Query<Vec<(String, String)>>, QueryRejection> {
        let uri: axum::http::Uri = format!("/x?{text}").parse().unwrap();
        Query::try_from_uri(&uri)
    }

    fn fields(problem: Problem) -> Vec<String> {
        problem.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn account_filters_from_query_strings() {
        let f = account_filter(AccountId(5), query("")).unwrap();
        assert_eq!(
            f,
            AccountFilter {
                limit: QUERY_LIMIT_DEFAULT,
                ..AccountFilter::new(AccountId(5))
            }
        );
        let f = account_filter(
            AccountId(5),
            query("flags=credits,reversed&code=3&user_data_128=340282366920938463463374607431768211455&limit=8190&timestamp_min=1&timestamp_max=9"),
        )
        .unwrap();
        assert!(!f.debits && f.credits && f.reversed);
        assert_eq!((f.code, f.user_data_128, f.limit), (3, u128::MAX, 8190));
        assert_eq!((f.timestamp_min, f.timestamp_max), (1, 9));
        let bad = account_filter(
            AccountId(5),
            query("limit=8191&code=65536&flags=sideways&colour=red&user_data_64=-1&user_data_64=2"),
        )
        .unwrap_err();
        assert_eq!(
            fields(bad),
            [
                "colour",
                "user_data_64",
                "flags",
                "user_data_64",
                "code",
                "limit"
            ]
        );
        let bad = account_filter(
            AccountId(5),
            query("flags=reversed&timestamp_min=9&timestamp_max=8"),
        )
        .unwrap_err();
        assert_eq!(fields(bad), ["flags", "timestamp_min"]);
    }

    #[test]
    fn query_filters_from_query_strings() {
        let f = query_filter(query("ledger=1&flags=reversed&user_data_32=4294967295")).unwrap();
        assert_eq!(
            f,
            QueryFilter {
                ledger: 1,
                user_data_32: u32::MAX,
                reversed: true,
                limit: QUERY_LIMIT_DEFAULT,
                ..QueryFilter::default()
            }
        );
        let bad = query_filter(query(
            "limit=0&timestamp_max=9223372036854775808&flags=debits&ledger=+1",
        ))
        .unwrap_err();
        assert_eq!(fields(bad), ["flags", "ledger", "timestamp_max", "limit"]);
    }
}
