//! The admin API of a merchant administrator or operator: register terminals, reissue tokens,
//! revoke, inspect a terminal's hash chain and the refused uploads; hold receipts for a dispute
//! and list the retention purges.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use utoipa::{IntoParams, ToSchema};

use super::schemas::{self, ErrorBody};
use super::{Admin, ApiError};
use crate::services::chain::{analyse_after, ChainReport};
use crate::services::retention;
use crate::services::terminals::{self, IssuedToken, Registration};
use crate::web::state::SharedState;

/// Register a terminal
///
/// The answer holds its single-use enrolment token.
#[utoipa::path(post, path = "/api/v1/admin/terminals", tag = "admin",
    security(("operatorCertificate" = [])),
    request_body = schemas::Registration,
    responses(
        (status = 201, description = "registered; the enrolment token", body = schemas::IssuedToken),
        (status = 409, description = "terminal id taken", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn add_terminal(
    _: Admin,
    State(st): State<SharedState>,
    Json(reg): Json<Registration>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let issued = terminals::register(&st.store, &st.keys, &reg, st.settings.enrolment_token_hours, Utc::now()).await?;
    tracing::info!(terminal = %issued.terminal_id, "terminal registered");
    Ok((StatusCode::CREATED, Json(issued)))
}

/// List terminals
#[utoipa::path(get, path = "/api/v1/admin/terminals", tag = "admin",
    security(("operatorCertificate" = [])),
    responses(
        (status = 200, description = "every registered terminal", body = schemas::TerminalList),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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

/// A fresh enrolment token
///
/// For the terminal's next device; earlier unused tokens stop working.
#[utoipa::path(post, path = "/api/v1/admin/terminals/{id}/token", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("id" = String, Path, description = "Terminal id")),
    responses(
        (status = 200, description = "the token", body = schemas::IssuedToken),
        (status = 403, description = "the terminal is revoked", body = ErrorBody),
        (status = 404, description = "unknown terminal", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn new_token(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<IssuedToken>, ApiError> {
    Ok(Json(terminals::reissue_token(&st.store, &st.keys, &id, st.settings.enrolment_token_hours, Utc::now()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeBody {
    /// Why, kept with the terminal and in the CRL's log.
    #[serde(default)]
    reason: String,
}

/// Revoke a terminal and its certificates
#[utoipa::path(post, path = "/api/v1/admin/terminals/{id}/revoke", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("id" = String, Path, description = "Terminal id")),
    request_body(content = Option<RevokeBody>, description = "optional"),
    responses(
        (status = 200, description = "revoked", body = schemas::Revoked),
        (status = 404, description = "unknown terminal", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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

/// Hash-chain report
///
/// Gaps, duplicates, broken links, reorderings, batches, and where a purge under retention ended.
#[utoipa::path(get, path = "/api/v1/admin/terminals/{id}/chain", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("id" = String, Path, description = "Terminal id")),
    responses(
        (status = 200, description = "the report", body = schemas::ChainReport),
        (status = 404, description = "unknown terminal", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// How many, newest first (100 unless told, 1 to 1000).
    limit: Option<i64>,
}

/// Recent refused uploads
///
/// Conflicting receipts and test features from production terminals: receipts the terminal parks.
#[utoipa::path(get, path = "/api/v1/admin/refusals", tag = "admin",
    security(("operatorCertificate" = [])),
    params(Limit),
    responses(
        (status = 200, description = "the refusals", body = schemas::RefusalList),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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

/// The latest retention purge runs
///
/// Newest first: the cutoff and what each deleted.
#[utoipa::path(get, path = "/api/v1/admin/purges", tag = "admin",
    security(("operatorCertificate" = [])),
    params(Limit),
    responses(
        (status = 200, description = "the purge runs", body = schemas::PurgeList),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn purges(
    _: Admin,
    State(st): State<SharedState>,
    Query(l): Query<Limit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let runs = st.store.purge_runs(l.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(serde_json::json!({ "purges": runs })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Why, e.g. the dispute's case number.
    #[schema(min_length = 1, max_length = 200)]
    reason: String,
}

fn hold_json(h: &crate::infra::store::Hold) -> serde_json::Value {
    serde_json::json!({ "receipt_id": h.receipt_id, "held_by": h.held_by, "reason": h.reason, "held_at": h.held_at })
}

/// Put a receipt on legal hold
///
/// For a dispute: the receipt is never purged while held. Holding a held receipt answers the
/// first hold.
#[utoipa::path(post, path = "/api/v1/admin/receipts/{id}/hold", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    request_body = HoldBody,
    responses(
        (status = 200, description = "the hold", body = schemas::HoldView),
        (status = 404, description = "no such receipt", body = ErrorBody),
        (status = 422, description = "reason empty or too long", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn hold(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Json(body): Json<HoldBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let h = retention::hold(&st.store, &id, "admin-api", &body.reason, Utc::now().timestamp_millis()).await?;
    Ok(Json(hold_json(&h)))
}

/// The receipt's legal hold
#[utoipa::path(get, path = "/api/v1/admin/receipts/{id}/hold", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "the hold", body = schemas::HoldView),
        (status = 404, description = "not held", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn hold_of(
    _: Admin,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let h = st.store.hold_of(&id).await?.ok_or_else(|| ApiError::not_found(format!("receipt {id} is not held")))?;
    Ok(Json(hold_json(&h)))
}

/// Release the hold
#[utoipa::path(delete, path = "/api/v1/admin/receipts/{id}/hold", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 204, description = "released"),
        (status = 404, description = "not held", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn release(_: Admin, State(st): State<SharedState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    retention::release(&st.store, &id, "admin-api").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a portal user
///
/// Merchant staff or the acquirer; the answer holds the password (when generated) and the TOTP
/// secret, shown this once.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin",
    security(("operatorCertificate" = [])),
    request_body = schemas::NewUser,
    responses(
        (status = 201, description = "created", body = schemas::Credentials),
        (status = 409, description = "the username is taken", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "a field is invalid (named in the message), or the password is too short",
            body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn add_user(
    _: Admin,
    State(st): State<SharedState>,
    Json(u): Json<crate::services::staff::NewUser>,
) -> Result<(StatusCode, Json<crate::services::staff::Credentials>), ApiError> {
    let c = crate::services::staff::add(&st.store, &st.keys, &u, Utc::now().timestamp_millis()).await?;
    tracing::info!(username = %c.username, role = %c.role, "portal user created");
    Ok((StatusCode::CREATED, Json(c)))
}

/// Portal users with their lock state (no secrets)
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    security(("operatorCertificate" = [])),
    responses(
        (status = 200, description = "the users", body = schemas::UserList),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn list_users(_: Admin, State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now().timestamp_millis();
    let users: Vec<_> = st.store.accounts().await?.iter().map(|a| crate::services::staff::describe(a, now)).collect();
    Ok(Json(serde_json::json!({ "users": users })))
}

/// Lift a lockout after too many failed sign-ins
#[utoipa::path(post, path = "/api/v1/admin/users/{name}/unlock", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("name" = String, Path, description = "The user's username")),
    responses(
        (status = 204, description = "unlocked"),
        (status = 404, description = "no such user", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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

/// Disable a user
///
/// Signs the user out and refuses further sign-ins.
#[utoipa::path(post, path = "/api/v1/admin/users/{name}/disable", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("name" = String, Path, description = "The user's username")),
    responses(
        (status = 204, description = "disabled"),
        (status = 404, description = "no active user", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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

/// Reset a user's credentials
///
/// The user's password and authenticator stop working and their sessions end; the answer is a
/// one-time enrolment link (24 h) for the user, with which they set a new password and get a
/// new TOTP secret. No secret of the user's is in it.
#[utoipa::path(post, path = "/api/v1/admin/users/{name}/reset", tag = "admin",
    security(("operatorCertificate" = [])),
    params(("name" = String, Path, description = "The user's username")),
    responses(
        (status = 200, description = "the enrolment link", body = schemas::EnrolmentLink),
        (status = 404, description = "no active user", body = ErrorBody),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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
