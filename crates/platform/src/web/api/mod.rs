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
mod upload;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName};
use axum::routing::{get, post};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::infra::keys::token_hash;
use crate::state::SharedState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API.
pub fn router(state: SharedState) -> Router {
    let max_upload = state.settings.max_upload_bytes;
    let api = Router::new()
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
        .route("/api/v1/mm7", post(mm7::vasp))
        .route("/api/v1/admin/terminals", post(admin::add_terminal).get(admin::list_terminals))
        .route("/api/v1/admin/terminals/{id}/token", post(admin::new_token))
        .route("/api/v1/admin/terminals/{id}/revoke", post(admin::revoke))
        .route("/api/v1/admin/terminals/{id}/chain", get(admin::chain))
        .route("/api/v1/admin/refusals", get(admin::refusals))
        .route("/api/v1/admin/users", post(admin::add_user).get(admin::list_users))
        .route("/api/v1/admin/users/{name}/unlock", post(admin::unlock_user))
        .route("/api/v1/admin/users/{name}/disable", post(admin::disable_user))
        .route("/api/v1/admin/users/{name}/reset", post(admin::reset_user))
        .merge(browser_api())
        .layer(DefaultBodyLimit::max(max_upload))
        .merge(crate::web::portal::routes().layer(DefaultBodyLimit::max(crate::web::portal::MAX_VERIFY_BYTES)))
        .with_state(state);
    with_request_ids(api)
}

/// What the browser-only portal listener serves: the portal's pages, the pull login API, public
/// verification and health; no upload, enrolment, admin or query API.
pub fn portal_router(state: SharedState) -> Router {
    let api = browser_api()
        .merge(crate::web::portal::routes())
        .layer(DefaultBodyLimit::max(crate::web::portal::MAX_VERIFY_BYTES))
        .with_state(state);
    with_request_ids(api)
}

/// The JSON endpoints both listeners serve to browsers: health, public verification, pull login.
fn browser_api() -> Router<SharedState> {
    Router::new()
        .route("/healthz", get(ops::health))
        .route("/api/v1/verify", post(query::verify))
        .route("/api/v1/pull/code", post(pull::request_code))
        .route("/api/v1/pull/login", post(pull::login))
        .route("/api/v1/pull/logout", post(pull::logout))
        .route("/api/v1/pull/receipts", get(pull::receipts))
        .route("/api/v1/pull/receipts/{id}/image", get(pull::image))
}

/// A request id on every request, its response and its log lines.
fn with_request_ids(api: Router) -> Router {
    api.layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Admin and query endpoints need `Authorization: Bearer ADMIN-TOKEN`.
fn require_admin(state: &SharedState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer(headers).ok_or_else(|| ApiError::unauthorized("Authorization: Bearer ADMIN-TOKEN required"))?;
    if token_hash(token) != state.keys.admin_token_hash {
        return Err(ApiError::unauthorized("wrong admin token"));
    }
    Ok(())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}
