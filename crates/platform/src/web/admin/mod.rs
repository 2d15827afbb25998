//! The admin listener (`admin_listen`, loopback by default): the admin API, for operators only.
//! Every request passes [`gate`], which names the operator from their client certificate and
//! writes the request's audit record; nothing here is served on the internet-facing listener.

mod gate;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::services::staff_enrolment::EnrolmentError;
use crate::web::api::{self, Admin, ApiError};
use crate::web::state::SharedState;

/// Largest request body on the admin listener (users and terminals are small JSON objects).
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// Everything the admin listener serves.
pub fn router(state: SharedState) -> Router {
    let routes = api::admin_routes()
        .route("/api/v1/admin/audit", get(audit_log))
        .route_layer(middleware::from_fn_with_state(state.clone(), gate::gate))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY))
        .with_state(state.clone());
    crate::web::with_request_ids(routes, &state)
}

#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<i64>,
}

/// `GET /api/v1/admin/audit?limit=N`: the newest audit records (100 unless told, at most 1000).
async fn audit_log(
    _: Admin,
    State(st): State<SharedState>,
    Query(l): Query<Limit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = st.store.audit_log(l.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(serde_json::json!({ "audit": rows })))
}

impl From<EnrolmentError> for ApiError {
    fn from(e: EnrolmentError) -> Self {
        match e {
            EnrolmentError::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "portal user reset failed");
                ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", "the reset failed")
            }
        }
    }
}
