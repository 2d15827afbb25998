//! The admin API of a merchant administrator or operator: register terminals, reissue tokens,
//! revoke, inspect a terminal's hash chain and the refused uploads; hold receipts for a dispute
//! and list the retention purges.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use super::{Admin, ApiError};
use crate::services::chain::{analyse_after, ChainReport};
use crate::services::retention;
use crate::services::terminals::{self, IssuedToken, Registration};
use crate::web::state::SharedState;

pub async fn add_terminal(
    _: Admin,
    State(st): State<SharedState>,
    Json(reg): Json<Registration>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let issued = terminals::register(&st.store, &st.keys, &reg, st.settings.enrolment_token_hours, Utc::now()).await?;
    tracing::info!(terminal = %issued.terminal_id, "terminal registered");
    Ok((StatusCode::CREATED, Json(issued)))
}

pub async fn list_terminals(_: Admin, State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = st.store.terminals().await?;
    let list: Vec<_> = rows
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "terminal_id": t.terminal_id, "merchant_id": t.merchant_id, "merchant_name": t.merchant_name,
                "location": t.location, "created_at": t.created_at, "revoked_at": t.revoked_at,
                "revoke_reason": t.revoke_reason, "mode": t.mode,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "terminals": list })))
}

pub async fn new_token(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<IssuedToken>, ApiError> {
    Ok(Json(terminals::reissue_token(&st.store, &st.keys, &id, st.settings.enrolment_token_hours, Utc::now()).await?))
}

#[derive(Debug, Deserialize)]
pub struct RevokeBody {
    #[serde(default)]
    reason: String,
}

pub async fn revoke(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
    body: Option<Json<RevokeBody>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reason = body.map(|b| b.0.reason).unwrap_or_default();
    let n = terminals::revoke(&st.store, &id, &reason, Utc::now()).await?;
    tracing::warn!(terminal = %id, certificates = n, "terminal revoked");
    Ok(Json(serde_json::json!({ "terminal_id": id, "certificates_revoked": n })))
}

pub async fn chain(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<ChainReport>, ApiError> {
    if st.store.terminal(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no terminal {id}")));
    }
    let floor = st.store.chain_floor(&id).await?;
    Ok(Json(analyse_after(&st.store.chain(&id).await?, floor.as_ref())))
}

#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<i64>,
}

pub async fn refusals(
    _: Admin,
    State(st): State<SharedState>,
    Query(l): Query<Limit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = st.store.refusals(l.limit.unwrap_or(100).clamp(1, 1000)).await?;
    let list: Vec<_> = list
        .into_iter()
        .map(|r| serde_json::json!({"at": r.at, "terminal_id": r.terminal_id, "receipt_id": r.receipt_id, "reason": r.reason}))
        .collect();
    Ok(Json(serde_json::json!({ "refusals": list })))
}

/// `GET /api/v1/admin/purges?limit=N`: the latest retention purge runs, newest first.
pub async fn purges(
    _: Admin,
    State(st): State<SharedState>,
    Query(l): Query<Limit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let runs = st.store.purge_runs(l.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(serde_json::json!({ "purges": runs })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    reason: String,
}

fn hold_json(h: &crate::infra::store::Hold) -> serde_json::Value {
    serde_json::json!({ "receipt_id": h.receipt_id, "held_by": h.held_by, "reason": h.reason, "held_at": h.held_at })
}

/// `POST /api/v1/admin/receipts/{id}/hold` `{"reason": …}`: a legal hold (dispute); the receipt
/// is never purged while held.
pub async fn hold(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Json(body): Json<HoldBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let h = retention::hold(&st.store, &id, "admin-api", &body.reason, Utc::now().timestamp_millis()).await?;
    Ok(Json(hold_json(&h)))
}

/// `GET /api/v1/admin/receipts/{id}/hold`: the hold, 404 when the receipt is not held.
pub async fn hold_of(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let h = st.store.hold_of(&id).await?.ok_or_else(|| ApiError::not_found(format!("receipt {id} is not held")))?;
    Ok(Json(hold_json(&h)))
}

/// `DELETE /api/v1/admin/receipts/{id}/hold`: releases it.
pub async fn release(_: Admin, State(st): State<SharedState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    retention::release(&st.store, &id, "admin-api").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/admin/users`: a merchant or acquirer portal user; the answer holds the
/// password (when generated) and the TOTP secret, shown this once.
pub async fn add_user(
    _: Admin,
    State(st): State<SharedState>,
    Json(u): Json<crate::services::staff::NewUser>,
) -> Result<(StatusCode, Json<crate::services::staff::Credentials>), ApiError> {
    let c = crate::services::staff::add(&st.store, &st.keys, &u, Utc::now().timestamp_millis()).await?;
    tracing::info!(username = %c.username, role = %c.role, "portal user created");
    Ok((StatusCode::CREATED, Json(c)))
}

/// `GET /api/v1/admin/users`.
pub async fn list_users(_: Admin, State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now().timestamp_millis();
    let users: Vec<_> = st.store.accounts().await?.iter().map(|a| crate::services::staff::describe(a, now)).collect();
    Ok(Json(serde_json::json!({ "users": users })))
}

/// `POST /api/v1/admin/users/{name}/unlock`: lifts a lockout.
pub async fn unlock_user(
    _: Admin,
    State(st): State<SharedState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.store.unlock_account(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no user {name}")))
    }
}

/// `POST /api/v1/admin/users/{name}/disable`: signs the user out and refuses further sign-ins.
pub async fn disable_user(
    _: Admin,
    State(st): State<SharedState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.store.disable_account(&name, Utc::now().timestamp_millis()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no active user {name}")))
    }
}

/// `POST /api/v1/admin/users/{name}/reset`: the user's password and authenticator stop working
/// and their sessions end; the answer is a one-time enrolment link (24 h) for the user, with
/// which they set a new password and get a new TOTP secret. No secret of the user's is in it.
pub async fn reset_user(
    _: Admin,
    State(st): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Json<crate::services::staff_enrolment::EnrolmentLink>, ApiError> {
    let link = crate::services::staff_enrolment::reset(&st.store, &st.portal_url, &name, Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no active user {name}")))?;
    tracing::info!(username = %link.username, "portal user reset; enrolment link issued");
    Ok(Json(link))
}
