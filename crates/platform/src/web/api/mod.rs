//! The HTTP API: enrolment (EST-shaped), upload, query, admin and operations endpoints, with a
//! request id on every request and log line. Each route is added with its OpenAPI entry
//! (`routes!` of handlers annotated with `#[utoipa::path]`); `openapi` makes the document.

mod admin;
mod enrol;
pub(crate) mod error;
mod mm7;
pub(crate) mod openapi;
mod ops;
pub(crate) mod pull;
pub(crate) mod query;
pub(crate) mod schemas;
mod settlements;
mod terminal_receipts;
mod terminal_resume;
mod upload;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::any;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;

use crate::infra::keys::token_hash;
use crate::services::operators::Operator;
use crate::web::state::SharedState;

/// The API's routes for the main listener (terminals, integrators), without the browser
/// endpoints ([`browser_routes`]) that both listeners serve; admin paths answer 404 there with
/// a pointer to the admin listener.
pub(crate) fn routes(max_upload: usize) -> Router<SharedState> {
    Router::from(main_api()).layer(DefaultBodyLimit::max(max_upload))
}

/// [`routes`] with their OpenAPI entries, one `routes!` per path.
pub(crate) fn main_api() -> OpenApiRouter<SharedState> {
    OpenApiRouter::default()
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::crl))
        .routes(routes!(ops::openapi))
        .routes(routes!(ops::platform_info))
        .routes(routes!(enrol::cacerts))
        .routes(routes!(enrol::simple_enroll))
        .routes(routes!(enrol::simple_reenroll))
        .routes(routes!(upload::upload, query::search))
        .routes(routes!(query::receipt))
        .routes(routes!(query::image))
        .routes(routes!(query::record))
        .routes(routes!(query::evidence))
        .routes(routes!(terminal_receipts::receipt))
        .routes(routes!(terminal_receipts::resend))
        .routes(routes!(terminal_resume::resume))
        .routes(routes!(settlements::upload_settlement))
        .routes(routes!(mm7::vasp))
        // Not operations: a 404 naming the admin listener, for any method (see UNDOCUMENTED).
        .route("/api/v1/admin", any(moved))
        .route("/api/v1/admin/{*rest}", any(moved))
}

/// Routes of the API routers that have no OpenAPI entry, and why: the old admin paths on the
/// main listener, which only answer 404 with a pointer to the admin listener (checked by
/// `openapi::tests`).
#[cfg(test)]
pub(crate) const UNDOCUMENTED: [&str; 2] = ["/api/v1/admin", "/api/v1/admin/{*rest}"];

/// The admin API, served only on the admin listener (`admin_listen`) behind
/// the admin listener's operator gate (`crate::web::admin`); its handlers also take [`Admin`].
pub(crate) fn admin_routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::default()
        .routes(routes!(admin::add_terminal, admin::list_terminals))
        .routes(routes!(admin::new_token))
        .routes(routes!(admin::revoke))
        .routes(routes!(admin::chain))
        .routes(routes!(admin::refusals))
        .routes(routes!(admin::purges))
        .routes(routes!(admin::hold_of, admin::hold, admin::release))
        .routes(routes!(admin::add_user, admin::list_users))
        .routes(routes!(admin::unlock_user))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::reset_user))
}

/// The JSON endpoints both listeners serve to browsers: health, public verification, pull login.
pub(crate) fn browser_routes() -> Router<SharedState> {
    browser_api().into()
}

/// [`browser_routes`] with their OpenAPI entries.
pub(crate) fn browser_api() -> OpenApiRouter<SharedState> {
    OpenApiRouter::default()
        .routes(routes!(ops::health))
        .routes(routes!(query::verify))
        .routes(routes!(pull::request_code))
        .routes(routes!(pull::login))
        .routes(routes!(pull::open_receipt))
        .routes(routes!(pull::logout))
        .routes(routes!(pull::receipts))
        .routes(routes!(pull::image))
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
