//! The admin listener (`admin_listen`, loopback by default): the admin API, for operators only.
//! Every request passes [`gate`], which names the operator from their client certificate and
//! writes the request's audit record; nothing here is served on the internet-facing listener.

mod gate;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::middleware;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::services::staff_enrolment::EnrolmentError;
use crate::web::api::schemas::{AuditList, ErrorBody};
use crate::web::api::{self, Admin, ApiError};
use crate::web::state::SharedState;

/// Largest request body on the admin listener (users and terminals are small JSON objects).
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// Everything the admin listener serves.
pub fn router(state: SharedState) -> Router {
    let routes = Router::from(api())
        .route_layer(middleware::from_fn_with_state(state.clone(), gate::gate))
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY))
        .with_state(state.clone());
    crate::web::with_request_ids(routes, &state)
}

/// The admin API with its OpenAPI entries (the gate is layered on in [`router`]).
pub(crate) fn api() -> OpenApiRouter<SharedState> {
    api::admin_routes().routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// How many, newest first (100 unless told, 1 to 1000).
    limit: Option<i64>,
}

/// The newest audit records
///
/// `GET /api/v1/admin/audit?limit=N`: operator, action, target, time, outcome and client
/// address of each request to the admin listener, let through or refused.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tag = "admin",
    params(Limit),
    security(("operatorCertificate" = [])),
    responses(
        (status = 200, description = "the newest audit records", body = AuditList),
        (status = 401, description = "no operator client certificate", body = ErrorBody),
        (status = 403, description = "the certificate is not a recorded, unrevoked operator's", body = ErrorBody),
    )
)]
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
