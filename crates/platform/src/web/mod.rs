//! The HTTP edge: the JSON API (`api`, terminals and integrators) and the HTML portal
//! (`portal`, browsers), both thin over `crate::services`; `support` (cookies, CSRF, sessions,
//! language, errors, the client's address and its per-network limits) and `deadlines` (request
//! and body time limits) are what they share, `state` what their handlers are given. The two
//! listeners' routers are put together here.

pub mod admin;
pub mod api;
pub mod deadlines;
pub mod portal;
pub mod state;
pub(crate) mod support;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::{Extension, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use state::SharedState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Everything the main listener serves: the whole API, the browser endpoints and the portal;
/// the OpenAPI document is made here, once.
pub fn router(state: SharedState) -> Router {
    let max_upload = state.settings.max_upload_bytes;
    // The admin API's part comes from here, the parent of both: `api` does not depend on `admin`.
    let openapi = api::openapi::served(&state.settings.admin_listen.to_string(), admin::api().split_for_parts().1);
    let all = api::routes(max_upload)
        .merge(api::browser_routes().layer(DefaultBodyLimit::max(max_upload)))
        .merge(portal::routes().layer(DefaultBodyLimit::max(portal::MAX_VERIFY_BYTES)))
        .layer(Extension(openapi))
        .with_state(state.clone());
    with_request_ids(all, &state)
}

/// What the browser-only portal listener serves: the portal's pages, the pull login API, public
/// verification and health; no upload, enrolment, admin or query API.
pub fn portal_router(state: SharedState) -> Router {
    let browser = api::browser_routes()
        .merge(portal::routes())
        .layer(DefaultBodyLimit::max(portal::MAX_VERIFY_BYTES))
        .with_state(state.clone());
    with_request_ids(browser, &state)
}

/// A request id on every request, its response and its log lines; the listener's time limits.
pub(crate) fn with_request_ids(routes: Router, state: &SharedState) -> Router {
    let limits = std::sync::Arc::new(state.settings.listener.clone());
    routes
        .layer(axum::middleware::from_fn_with_state(limits, deadlines::limit_request))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
