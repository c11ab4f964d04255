//! Operators' own routes: logging in and out, who am I, operators, API keys, the audit log.
//! What each needs is in `access::ADMIN_ROUTES`; the actor arrives as a request extension.

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use platform::audit::{AUDIT_PAGE_MAX, AuditKind, AuditRecord};
use platform::operators::{
    Actor, ApiKeyView, Identity, Login, NewOperator, OperatorChange, OperatorError, OperatorView,
    Permission, Permissions, Role,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::{AuditBefore, bearer};
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text};
use crate::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/sessions", post(log_in))
        .route("/admin/v1/sessions/current", delete(log_out))
        .route("/admin/v1/me", get(me))
        .route("/admin/v1/me/password", post(change_password))
        .route("/admin/v1/permissions", get(permissions))
        .route("/admin/v1/api-keys", get(api_keys).post(create_api_key))
        .route("/admin/v1/api-keys/{id}", delete(revoke_api_key))
        .route("/admin/v1/operators", get(operators).post(create_operator))
        .route("/admin/v1/operators/{id}", patch(change_operator))
        .route("/admin/v1/audit-log", get(audit_log))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    login: String,
    password: String,
    totp_code: String,
}

/// `POST /admin/v1/sessions`: the one admin route without a credential. Writes `login` or
/// `login_failed` to the audit log itself (the guard lets it through unaudited).
async fn log_in(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, Problem> {
    let source = crate::access::source_of(&request);
    let body = axum::body::to_bytes(request.into_body(), crate::access::LOGIN_BODY_BYTES_MAX)
        .await
        .map_err(|_| Problem::malformed_json("the body is too large for a login"))?;
    let body: LoginBody = json_body(Ok(body))?;
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
    let body = json!({
        "token": grant.token,
        "expires_at_s": grant.expires_at_s,
        "operator": operator_json(&grant.operator),
    });
    Ok((StatusCode::CREATED, no_store(), Json(body)).into_response())
}

/// `Cache-Control: no-store` for answers that carry a secret.
fn no_store() -> [(axum::http::HeaderName, &'static str); 1] {
    [(axum::http::header::CACHE_CONTROL, "no-store")]
}

async fn log_out(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, Problem> {
    let token = bearer(&headers).unwrap_or_default();
    state.operators.log_out(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Extension(actor): Extension<Actor>) -> Json<Value> {
    let mut body = json!({
        "name": actor.name(),
        "role": actor.role_name(),
        "permissions": permission_names(actor.permissions),
    });
    match &actor.identity {
        Identity::Operator { id, login, .. } => {
            body["operator_id"] = json!(id.to_string());
            body["login"] = json!(login);
        }
        Identity::ApiKey { id, owner, name } => {
            body["api_key_id"] = json!(id.to_string());
            body["owner"] = json!(owner);
            body["key_name"] = json!(name);
        }
        Identity::Bootstrap => {}
    }
    Json(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

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

/// The documented table: each role and its permissions, and every permission.
async fn permissions() -> Json<Value> {
    let roles: serde_json::Map<String, Value> = Role::ALL
        .into_iter()
        .map(|role| {
            (
                role.name().to_string(),
                json!(permission_names(role.permissions())),
            )
        })
        .collect();
    let all: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
    Json(json!({ "roles": roles, "permissions": all }))
}

fn permission_names(permissions: Permissions) -> Vec<&'static str> {
    permissions.iter().map(Permission::name).collect()
}

fn operator_json(operator: &OperatorView) -> Value {
    json!({
        "operator_id": operator.id.to_string(),
        "login": operator.login,
        "display_name": operator.display_name,
        "role": operator.role.name(),
        "enabled": operator.enabled,
        "created_at_s": operator.created_at_s,
    })
}

fn api_key_json(key: &ApiKeyView) -> Value {
    json!({
        "api_key_id": key.id.to_string(),
        "owner": key.owner,
        "name": key.name,
        "permissions": permission_names(key.permissions),
        "created_at_s": key.created_at_s,
        "expires_at_s": key.expires_at_s,
        "revoked": key.revoked,
    })
}

async fn operators(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Value>, Problem> {
    let list = state.operators.operators(&actor).await?;
    let operators: Vec<Value> = list.iter().map(operator_json).collect();
    Ok(Json(json!({ "operators": operators })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorBody {
    login: String,
    display_name: String,
    role: String,
    password: String,
}

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
    let mut answer = operator_json(&grant.operator);
    answer["totp_secret"] = json!(grant.totp_secret);
    answer["otpauth_uri"] = json!(grant.otpauth_uri);
    Ok((StatusCode::CREATED, no_store(), Json(answer)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorChangeBody {
    display_name: Option<String>,
    role: Option<String>,
    enabled: Option<bool>,
}

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
    let mut response = Json(operator_json(&after)).into_response();
    response
        .extensions_mut()
        .insert(AuditBefore(operator_json(&before)));
    Ok(response)
}

async fn api_keys(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Value>, Problem> {
    let keys = state.operators.api_keys(&actor).await?;
    let keys: Vec<Value> = keys.iter().map(api_key_json).collect();
    Ok(Json(json!({ "api_keys": keys })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    name: String,
    permissions: Vec<String>,
    ttl_days: u64,
}

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
    let mut answer = api_key_json(&grant.key);
    answer["token"] = json!(grant.token);
    Ok((StatusCode::CREATED, no_store(), Json(answer)).into_response())
}

async fn revoke_api_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id_text("api_key_id", &id)?;
    state.operators.revoke_api_key(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<u64>,
    actor: Option<String>,
    limit: Option<usize>,
}

/// `GET /admin/v1/audit-log?after=&actor=&limit=`: entries in order, each with its text
/// (exactly the bytes hashed), its hashes and its transfer; `next_after` pages on.
async fn audit_log(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query?;
    let log = state.audit.as_ref().ok_or_else(|| {
        Problem::from(OperatorError::Unavailable(
            "no audit log on this server".into(),
        ))
    })?;
    let limit = query
        .limit
        .unwrap_or(AUDIT_PAGE_MAX)
        .clamp(1, AUDIT_PAGE_MAX);
    let rows = log
        .page(query.after.unwrap_or(0), query.actor, limit)
        .await?;
    let next_after = (rows.len() == limit)
        .then(|| rows.last().map(|row| row.seq))
        .flatten();
    let entries: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "seq": row.seq,
                "at_ms": row.at_ms,
                "actor": row.actor,
                "kind": row.kind,
                "entry": row.entry,
                "previous_hash": hex::encode(row.previous_hash),
                "hash": hex::encode(row.hash),
                "transfer_id": row.transfer_id.to_string(),
            })
        })
        .collect();
    Ok(Json(
        json!({ "entries": entries, "next_after": next_after }),
    ))
}
