//! The HTTP API: enrolment (EST-shaped), upload, query, admin and operations endpoints, with a
//! request id on every request and log line.

mod admin;
mod enrol;
pub(crate) mod error;
mod mm7;
mod ops;
pub(crate) mod pull;
pub(crate) mod query;
mod terminal_receipts;
mod terminal_resume;
mod upload;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use axum::Router;

pub use error::ApiError;

use crate::infra::keys::token_hash;
use crate::services::operators::Operator;
use crate::web::state::SharedState;

/// The API's routes for the main listener (terminals, integrators), without the browser
/// endpoints ([`browser_routes`]) that both listeners serve; admin paths answer 404 there with
/// a pointer to the admin listener.
pub(crate) fn routes(max_upload: usize) -> Router<SharedState> {
    Router::new()
        .route("/readyz", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/crl", get(ops::crl))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .route("/api/v1/platform", get(ops::platform_info))
        .route("/.well-known/est/cacerts", get(enrol::cacerts))
        .route("/.well-known/est/simpleenroll", post(enrol::simple_enroll))
        .route("/.well-known/est/simplereenroll", post(enrol::simple_reenroll))
        .route("/api/v1/receipts", post(upload::upload).get(query::search))
        .route("/api/v1/receipts/{id}", get(query::receipt))
        .route("/api/v1/receipts/{id}/image", get(query::image))
        .route("/api/v1/receipts/{id}/record", get(query::record))
        .route("/api/v1/receipts/{id}/evidence", get(query::evidence))
        .route("/api/v1/terminal/receipts/{id}", get(terminal_receipts::receipt))
        .route("/api/v1/terminal/resume", get(terminal_resume::resume))
        .route("/api/v1/mm7", post(mm7::vasp))
        .route("/api/v1/admin", any(moved))
        .route("/api/v1/admin/{*rest}", any(moved))
        .layer(DefaultBodyLimit::max(max_upload))
}

/// The admin API, served only on the admin listener (`admin_listen`) behind
/// the admin listener's operator gate (`crate::web::admin`); its handlers also take [`Admin`].
pub(crate) fn admin_routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/terminals", post(admin::add_terminal).get(admin::list_terminals))
        .route("/api/v1/admin/terminals/{id}/token", post(admin::new_token))
        .route("/api/v1/admin/terminals/{id}/revoke", post(admin::revoke))
        .route("/api/v1/admin/terminals/{id}/chain", get(admin::chain))
        .route("/api/v1/admin/refusals", get(admin::refusals))
        .route("/api/v1/admin/purges", get(admin::purges))
        .route("/api/v1/admin/receipts/{id}/hold", get(admin::hold_of).post(admin::hold).delete(admin::release))
        .route("/api/v1/admin/users", post(admin::add_user).get(admin::list_users))
        .route("/api/v1/admin/users/{name}/unlock", post(admin::unlock_user))
        .route("/api/v1/admin/users/{name}/disable", post(admin::disable_user))
        .route("/api/v1/admin/users/{name}/reset", post(admin::reset_user))
}

/// The JSON endpoints both listeners serve to browsers: health, public verification, pull login.
pub(crate) fn browser_routes() -> Router<SharedState> {
    Router::new()
        .route("/healthz", get(ops::health))
        .route("/api/v1/verify", post(query::verify))
        .route("/api/v1/pull/code", post(pull::request_code))
        .route("/api/v1/pull/login", post(pull::login))
        .route("/api/v1/pull/logout", post(pull::logout))
        .route("/api/v1/pull/receipts", get(pull::receipts))
        .route("/api/v1/pull/receipts/{id}/image", get(pull::image))
}

/// An operator, authenticated by their client certificate at the admin listener's gate
/// (`crate::web::admin`): admin handlers take it, and answer 401 anywhere the gate did not
/// run (were one ever routed on another listener).
pub(crate) struct Admin;

impl FromRequestParts<SharedState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &SharedState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Operator>() {
            Some(_) => Ok(Admin),
            None => Err(ApiError::unauthorized(NEEDS_OPERATOR)),
        }
    }
}

/// An integrator of the query API (acquirer, merchant systems): `Authorization: Bearer TOKEN`
/// with the query token (`DATA_DIR/admin.token` or the `admin_token` setting), 401 without it.
pub(crate) struct QueryClient;

impl FromRequestParts<SharedState> for QueryClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &SharedState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("Authorization: Bearer QUERY-TOKEN required"))?;
        if token_hash(token) != st.keys.admin_token_hash {
            return Err(ApiError::unauthorized("wrong query token"));
        }
        Ok(QueryClient)
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Why an admin request without an operator certificate is refused.
pub(crate) const NEEDS_OPERATOR: &str = "administration needs an operator client certificate, made on the \
     platform host with `ereceipt platform operator add NAME --out DIR`";

/// Why a request with the old admin bearer token is refused.
pub(crate) const TOKEN_RETIRED: &str = "the admin bearer token is no longer accepted for administration: \
     present an operator client certificate (made on the platform host with `ereceipt platform operator add \
     NAME --out DIR`) to the admin listener (setting admin_listen)";

/// `/api/v1/admin/…` on the main listener: 404, naming where administration went.
async fn moved() -> ApiError {
    ApiError::not_found(
        "administration is not served on this listener: it moved to the admin listener (setting admin_listen, \
         loopback by default), which requires an operator client certificate (`ereceipt platform operator add \
         NAME --out DIR`); the admin bearer token is no longer accepted",
    )
}
