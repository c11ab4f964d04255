//! Operators' own routes: logging in and out, who am I, operators, API keys, the audit log.
//! What each needs is in `access::ADMIN_ROUTES`; the actor arrives as a request extension.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::audit::{AUDIT_PAGE_MAX, AuditKind, AuditRecord};
use platform::operators::{
    Actor, ApiKeyView, Identity, Login, NewOperator, OperatorChange, OperatorError, OperatorView,
    Permission, Permissions, Role,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access::{AuditBefore, bearer};
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text};
use crate::openapi;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(log_in))
        .routes(routes!(log_out))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(permissions))
        .routes(routes!(api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(operators, create_operator))
        .routes(routes!(change_operator))
        .routes(routes!(audit_log))
}

/// `POST /admin/v1/sessions`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OperatorLoginBody {
    login: String,
    password: String,
    /// The current code of the operator's authenticator (TOTP).
    totp_code: String,
}

/// An operator's session.
#[derive(Serialize, ToSchema)]
struct OperatorSessionAnswer {
    /// The session token: `Authorization: Bearer <token>`.
    token: String,
    expires_at_s: u64,
    operator: OperatorAnswer,
}

/// Logs an operator in with password and TOTP code.
///
/// The one admin route without a credential. Writes `login` or `login_failed` to the
/// audit log itself (the guard lets it through unaudited).
#[utoipa::path(post, path = "/admin/v1/sessions", operation_id = "operator_log_in", tag = "operators",
    request_body = OperatorLoginBody,
    responses(
        (status = 201, description = "A session (`Cache-Control: no-store`)", body = OperatorSessionAnswer),
        (status = 401, description = "The login, password or code is wrong (`bad-credentials`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn log_in(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, Problem> {
    let source = crate::access::source_of(&request);
    let body = axum::body::to_bytes(request.into_body(), crate::access::LOGIN_BODY_BYTES_MAX)
        .await
        .map_err(|_| Problem::malformed_json("the body is too large for a login"))?;
    let body: OperatorLoginBody = json_body(Ok(body))?;
    let record = AuditRecord {
        actor: format!("operator:{}", body.login.trim().to_ascii_lowercase()),
        action: "POST /admin/v1/sessions".into(),
        target: "/admin/v1/sessions".into(),
        source: source.clone(),
        ..AuditRecord::default()
    };
    let attempt = Login {
        login: body.login,
        password: body.password,
        totp_code: body.totp_code,
        source,
    };
    let outcome = state.operators.log_in(attempt).await;
    let kind = match &outcome {
        Ok(_) => AuditKind::Login,
        Err(_) => AuditKind::LoginFailed,
    };
    if let Some(log) = &state.audit {
        let role = outcome
            .as_ref()
            .map_or("", |grant| grant.operator.role.name());
        let record = AuditRecord {
            role: role.to_string(),
            status: Some(if outcome.is_ok() { 201 } else { 401 }),
            ..record
        };
        log.append(kind, &record).await?;
    }
    let grant = outcome?;
    let body = OperatorSessionAnswer {
        token: grant.token,
        expires_at_s: grant.expires_at_s,
        operator: operator_json(&grant.operator),
    };
    Ok((StatusCode::CREATED, no_store(), Json(body)).into_response())
}

/// `Cache-Control: no-store` for answers that carry a secret.
fn no_store() -> [(axum::http::HeaderName, &'static str); 1] {
    [(axum::http::header::CACHE_CONTROL, "no-store")]
}

/// Ends the operator session of the token sent.
#[utoipa::path(delete, path = "/admin/v1/sessions/current", operation_id = "operator_log_out", tag = "operators",
    security(("operator" = [])),
    responses((status = 204, description = "The session ended. Any identity.")))]
async fn log_out(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, Problem> {
    let token = bearer(&headers).unwrap_or_default();
    state.operators.log_out(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the credential is: an operator, an API key or the bootstrap token.
#[derive(Serialize, ToSchema)]
struct OperatorMeAnswer {
    /// `bootstrap`, `operator:<login>` or `key:<id>@<owner>`.
    name: String,
    /// The operator's role, `api-key` or `bootstrap`.
    role: &'static str,
    permissions: Vec<&'static str>,
    /// Operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    operator_id: Option<String>,
    /// Operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    login: Option<String>,
    /// API keys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    api_key_id: Option<String>,
    /// API keys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    owner: Option<String>,
    /// API keys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    key_name: Option<String>,
}

/// The identity behind the credential and its permissions.
#[utoipa::path(get, path = "/admin/v1/me", operation_id = "operator_me", tag = "operators",
    security(("operator" = [])),
    responses((status = 200, description = "The identity. Any identity.", body = OperatorMeAnswer)))]
async fn me(Extension(actor): Extension<Actor>) -> Json<OperatorMeAnswer> {
    let mut answer = OperatorMeAnswer {
        name: actor.name(),
        role: actor.role_name(),
        permissions: permission_names(actor.permissions),
        operator_id: None,
        login: None,
        api_key_id: None,
        owner: None,
        key_name: None,
    };
    match &actor.identity {
        Identity::Operator { id, login, .. } => {
            answer.operator_id = Some(id.to_string());
            answer.login = Some(login.clone());
        }
        Identity::ApiKey { id, owner, name } => {
            answer.api_key_id = Some(id.to_string());
            answer.owner = Some(owner.clone());
            answer.key_name = Some(name.clone());
        }
        Identity::Bootstrap => {}
    }
    Json(answer)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Changes the operator's own password.
#[utoipa::path(post, path = "/admin/v1/me/password", tag = "operators",
    security(("operator" = [])),
    request_body = PasswordBody,
    responses((status = 204, description = "The password changed. An operator's own session.")))]
async fn change_password(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Body,
) -> Result<StatusCode, Problem> {
    let body: PasswordBody = json_body(body)?;
    state
        .operators
        .change_password(&actor, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Each role with its permissions, and every permission.
#[derive(Serialize, ToSchema)]
struct PermissionsAnswer {
    /// Role name to its permission names.
    roles: BTreeMap<&'static str, Vec<&'static str>>,
    permissions: Vec<&'static str>,
}

/// The documented table: each role and its permissions, and every permission.
#[utoipa::path(get, path = "/admin/v1/permissions", tag = "operators",
    security(("operator" = [])),
    responses((status = 200, description = "The table. Any identity.", body = PermissionsAnswer)))]
async fn permissions() -> Json<PermissionsAnswer> {
    let roles = Role::ALL
        .into_iter()
        .map(|role| (role.name(), permission_names(role.permissions())))
        .collect();
    let permissions = Permission::ALL.iter().map(|p| p.name()).collect();
    Json(PermissionsAnswer { roles, permissions })
}

fn permission_names(permissions: Permissions) -> Vec<&'static str> {
    permissions.iter().map(Permission::name).collect()
}

/// An operator (a person with a login, a password and a TOTP authenticator).
#[derive(Serialize, ToSchema)]
struct OperatorAnswer {
    operator_id: String,
    login: String,
    display_name: String,
    /// `operator`, `finance`, `support` or `auditor`.
    role: &'static str,
    enabled: bool,
    created_at_s: u64,
}

fn operator_json(operator: &OperatorView) -> OperatorAnswer {
    OperatorAnswer {
        operator_id: operator.id.to_string(),
        login: operator.login.clone(),
        display_name: operator.display_name.clone(),
        role: operator.role.name(),
        enabled: operator.enabled,
        created_at_s: operator.created_at_s,
    }
}

/// An API key (its secret is shown once, when it is created).
#[derive(Serialize, ToSchema)]
struct ApiKeyAnswer {
    api_key_id: String,
    /// Whose key it is (the creator's name).
    owner: String,
    name: String,
    permissions: Vec<&'static str>,
    created_at_s: u64,
    expires_at_s: u64,
    revoked: bool,
}

fn api_key_json(key: &ApiKeyView) -> ApiKeyAnswer {
    ApiKeyAnswer {
        api_key_id: key.id.to_string(),
        owner: key.owner.clone(),
        name: key.name.clone(),
        permissions: permission_names(key.permissions),
        created_at_s: key.created_at_s,
        expires_at_s: key.expires_at_s,
        revoked: key.revoked,
    }
}

/// Every operator (not paged).
#[derive(Serialize, ToSchema)]
struct OperatorsAnswer {
    operators: Vec<OperatorAnswer>,
}

/// Every operator.
#[utoipa::path(get, path = "/admin/v1/operators", tag = "operators",
    security(("operator" = [])),
    responses((status = 200, description = "The operators. Needs `operators.read`.", body = OperatorsAnswer)))]
async fn operators(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<OperatorsAnswer>, Problem> {
    let list = state.operators.operators(&actor).await?;
    let operators = list.iter().map(operator_json).collect();
    Ok(Json(OperatorsAnswer { operators }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OperatorBody {
    login: String,
    display_name: String,
    /// `operator`, `finance`, `support` or `auditor`.
    role: String,
    password: String,
}

/// A new operator with the TOTP secret to enroll an authenticator, shown this once.
#[derive(Serialize, ToSchema)]
struct NewOperatorAnswer {
    operator_id: String,
    login: String,
    display_name: String,
    role: &'static str,
    enabled: bool,
    created_at_s: u64,
    /// Base32, as authenticator apps take it.
    totp_secret: String,
    /// `otpauth://totp/...`, for a QR code.
    otpauth_uri: String,
}

/// Creates an operator.
#[utoipa::path(post, path = "/admin/v1/operators", tag = "operators",
    security(("operator" = [])),
    request_body = OperatorBody,
    responses(
        (status = 201, description = "The operator with its TOTP secret (`Cache-Control: no-store`). Needs `operators.manage`.", body = NewOperatorAnswer),
        (status = 409, description = "The login is taken", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn create_operator(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Body,
) -> Result<Response, Problem> {
    let body: OperatorBody = json_body(body)?;
    let grant = state
        .operators
        .create_operator(
            &actor,
            NewOperator {
                login: body.login,
                display_name: body.display_name,
                role: body.role,
                password: body.password,
            },
        )
        .await?;
    let operator = operator_json(&grant.operator);
    let answer = NewOperatorAnswer {
        operator_id: operator.operator_id,
        login: operator.login,
        display_name: operator.display_name,
        role: operator.role,
        enabled: operator.enabled,
        created_at_s: operator.created_at_s,
        totp_secret: grant.totp_secret,
        otpauth_uri: grant.otpauth_uri,
    };
    Ok((StatusCode::CREATED, no_store(), Json(answer)).into_response())
}

/// `None` leaves a field alone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OperatorChangeBody {
    display_name: Option<String>,
    role: Option<String>,
    enabled: Option<bool>,
}

/// Changes an operator's name, role or whether it is enabled.
#[utoipa::path(patch, path = "/admin/v1/operators/{id}", tag = "operators",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The operator id", pattern = r"^[0-9]{1,39}$")),
    request_body = OperatorChangeBody,
    responses((status = 200, description = "The operator as changed. Needs `operators.manage`.", body = OperatorAnswer)))]
async fn change_operator(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let id = parse_id_text("operator_id", &id)?;
    let body: OperatorChangeBody = json_body(body)?;
    let change = OperatorChange {
        display_name: body.display_name,
        role: body.role,
        enabled: body.enabled,
    };
    let (before, after) = state.operators.change_operator(&actor, id, change).await?;
    // Strings, numbers and a bool: serializing cannot fail.
    let before = serde_json::to_value(operator_json(&before)).unwrap_or_default();
    let mut response = Json(operator_json(&after)).into_response();
    response.extensions_mut().insert(AuditBefore(before));
    Ok(response)
}

/// The API keys (not paged).
#[derive(Serialize, ToSchema)]
struct ApiKeysAnswer {
    api_keys: Vec<ApiKeyAnswer>,
}

/// The API keys the identity may see.
#[utoipa::path(get, path = "/admin/v1/api-keys", tag = "operators",
    security(("operator" = [])),
    responses((status = 200, description = "The keys. Any identity.", body = ApiKeysAnswer)))]
async fn api_keys(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<ApiKeysAnswer>, Problem> {
    let keys = state.operators.api_keys(&actor).await?;
    let api_keys = keys.iter().map(api_key_json).collect();
    Ok(Json(ApiKeysAnswer { api_keys }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    name: String,
    /// Permission names, at most the creator's own.
    permissions: Vec<String>,
    ttl_days: u64,
}

/// A new API key with its secret, shown this once.
#[derive(Serialize, ToSchema)]
struct NewApiKeyAnswer {
    api_key_id: String,
    owner: String,
    name: String,
    permissions: Vec<&'static str>,
    created_at_s: u64,
    expires_at_s: u64,
    revoked: bool,
    /// The key: `Authorization: Bearer <token>`.
    token: String,
}

/// Creates an API key.
#[utoipa::path(post, path = "/admin/v1/api-keys", tag = "operators",
    security(("operator" = [])),
    request_body = ApiKeyBody,
    responses((status = 201, description = "The key with its token (`Cache-Control: no-store`). Any identity, for permissions it holds.", body = NewApiKeyAnswer)))]
async fn create_api_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Body,
) -> Result<Response, Problem> {
    let body: ApiKeyBody = json_body(body)?;
    let permissions = Permissions::parse_names(&body.permissions.join(" ")).map_err(|name| {
        Problem::from(OperatorError::Invalid {
            field: "permissions",
            detail: format!("no permission {name:?}"),
        })
    })?;
    let grant = state
        .operators
        .create_api_key(&actor, &body.name, permissions, body.ttl_days)
        .await?;
    let key = api_key_json(&grant.key);
    let answer = NewApiKeyAnswer {
        api_key_id: key.api_key_id,
        owner: key.owner,
        name: key.name,
        permissions: key.permissions,
        created_at_s: key.created_at_s,
        expires_at_s: key.expires_at_s,
        revoked: key.revoked,
        token: grant.token,
    };
    Ok((StatusCode::CREATED, no_store(), Json(answer)).into_response())
}

/// Revokes an API key.
#[utoipa::path(delete, path = "/admin/v1/api-keys/{id}", tag = "operators",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The API key id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 204, description = "The key is revoked. Any identity, for keys it may manage.")))]
async fn revoke_api_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id_text("api_key_id", &id)?;
    state.operators.revoke_api_key(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// `next_cursor` of the page before; the log's start when absent.
    cursor: Option<String>,
    /// Only this actor's entries (e.g. `operator:kim`).
    actor: Option<String>,
    /// How many entries at most, 1 to 1,000.
    limit: Option<usize>,
}

/// One entry of the audit log.
#[derive(Serialize, ToSchema)]
struct AuditEntryAnswer {
    seq: u64,
    at_ms: u64,
    actor: String,
    /// `read`, `intent`, `outcome`, `denied`, `login`, `login_failed`, ...
    kind: String,
    /// The entry's JSON text: exactly the bytes hashed.
    entry: String,
    /// 32 bytes, hex.
    previous_hash: String,
    /// SHA-256(previous_hash || entry), hex.
    hash: String,
    /// The ledger transfer that commits the entry, decimal digits.
    transfer_id: String,
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
struct AuditLogAnswer {
    entries: Vec<AuditEntryAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The audit log in order, each entry with its text, its hashes and its transfer.
#[utoipa::path(get, path = "/admin/v1/audit-log", tag = "operators",
    security(("operator" = [])),
    params(AuditQuery),
    responses((status = 200, description = "A page of entries. Needs `audit.read`.", body = AuditLogAnswer)))]
async fn audit_log(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditLogAnswer>, Problem> {
    let Query(query) = query?;
    let log = state.audit.as_ref().ok_or_else(|| {
        Problem::from(OperatorError::Unavailable(
            "no audit log on this server".into(),
        ))
    })?;
    let limit = crate::shapes::page_limit(query.limit, AUDIT_PAGE_MAX, AUDIT_PAGE_MAX)?;
    // The cursor is the last `seq` of the page before, oldest first.
    let after = match query.cursor.as_deref() {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            Problem::from(platform::error::invalid(
                "cursor",
                "a cursor from next_cursor",
            ))
        })?,
    };
    let rows = log.page(after, query.actor, limit).await?;
    let next_cursor = (rows.len() == limit)
        .then(|| rows.last().map(|row| row.seq.to_string()))
        .flatten();
    let entries = rows
        .iter()
        .map(|row| AuditEntryAnswer {
            seq: row.seq,
            at_ms: row.at_ms,
            actor: row.actor.clone(),
            kind: row.kind.clone(),
            entry: row.entry.clone(),
            previous_hash: hex::encode(row.previous_hash),
            hash: hex::encode(row.hash),
            transfer_id: row.transfer_id.to_string(),
        })
        .collect();
    Ok(Json(AuditLogAnswer {
        entries,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        crate::ledger_api::assert_routes_documented(routes());
    }

    /// The keys `me` answers for `identity`, sorted; none is ever `null`.
    async fn me_keys(identity: Identity) -> Vec<String> {
        let actor = Actor {
            identity,
            permissions: Permissions::all(),
        };
        let Json(answer) = me(Extension(actor)).await;
        let answer = serde_json::to_value(answer).expect("json");
        let object = answer.as_object().expect("an object");
        assert!(object.values().all(|value| !value.is_null()));
        let mut keys: Vec<String> = object.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Each identity answers only its own keys, as before the typed answer.
    #[tokio::test]
    async fn who_am_i_names_only_the_identitys_own_fields() {
        assert_eq!(
            me_keys(Identity::Bootstrap).await,
            ["name", "permissions", "role"]
        );
        let operator = Identity::Operator {
            id: 7,
            login: "kim".into(),
            role: Role::Finance,
        };
        assert_eq!(
            me_keys(operator).await,
            ["login", "name", "operator_id", "permissions", "role"]
        );
        let key = Identity::ApiKey {
            id: 9,
            owner: "kim".into(),
            name: "feed".into(),
        };
        assert_eq!(
            me_keys(key).await,
            [
                "api_key_id",
                "key_name",
                "name",
                "owner",
                "permissions",
                "role"
            ]
        );
    }
}
