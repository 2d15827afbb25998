//! The admin listener's gate: a request goes on only with the client certificate of a recorded,
//! unrevoked operator (never a terminal's); each one, let through or refused, leaves an audit
//! record of operator, action, target, time, outcome and client address.

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ereceipt_core::identity::fingerprint_der;

use super::MAX_ADMIN_BODY;
use crate::infra::store::NewAudit;
use crate::infra::tls::{Peer, PeerCertificate};
use crate::services::operators::{self, OperatorError};
use crate::web::api::{bearer, ApiError, NEEDS_OPERATOR, TOKEN_RETIRED};
use crate::web::state::SharedState;

/// JSON body fields that name an action's target when its path does not.
const TARGET_FIELDS: [&str; 2] = ["terminal_id", "username"];

pub(super) async fn gate(State(st): State<SharedState>, req: Request, next: Next) -> Response {
    let now = Utc::now();
    let (mut parts, body) = req.into_parts();
    let client = parts.extensions.get::<Peer>().map_or_else(|| "-".to_owned(), |p| p.0.to_string());
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &st)
        .await
        .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    let action = format!("{} {}", parts.method, route_of(parts.uri.path(), &params));
    let mut target: Vec<String> = params.iter().map(|(_, v)| v.chars().take(64).collect()).collect();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ADMIN_BODY).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the request body is too large")
            .into_response();
    };
    if target.is_empty() {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&bytes) {
            target.extend(
                TARGET_FIELDS.iter().filter_map(|k| fields.get(*k)?.as_str()).map(|v| v.chars().take(64).collect()),
            );
        }
    }
    let target = target.join(" ");

    let der = parts.extensions.get::<PeerCertificate>().and_then(|c| c.0.clone());
    let (operator, response) = match der {
        None => {
            let why = if bearer(&parts.headers).is_some() { TOKEN_RETIRED } else { NEEDS_OPERATOR };
            ("(no certificate)".to_owned(), ApiError::unauthorized(why).into_response())
        }
        Some(der) => match operators::recognise(&st.store, &der, now).await {
            Ok(op) => {
                let name = op.name.clone();
                parts.extensions.insert(op);
                (name, next.run(Request::from_parts(parts, Body::from(bytes))).await)
            }
            Err(OperatorError::Store(e)) => ("(unchecked)".to_owned(), ApiError::from(e).into_response()),
            Err(e) => {
                let who = format!("(refused certificate sha256:{})", fingerprint_der(&der).get(..16).unwrap_or(""));
                tracing::warn!(%client, error = %e, "admin request with a certificate that is not an operator's");
                (who, ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()).into_response())
            }
        },
    };
    let outcome = response.status().as_u16().to_string();
    let record = NewAudit {
        at: now.timestamp_millis(),
        operator: &operator,
        action: &action,
        target: &target,
        outcome: &outcome,
        client: &client,
    };
    if let Err(e) = st.store.audit(&record).await {
        tracing::error!(error = %e, %operator, %action, %target, %outcome, "cannot write the audit record");
    }
    tracing::info!(%operator, %action, %target, %outcome, %client, "admin request");
    response
}

/// The route a path matched, e.g. `/api/v1/admin/users/{name}/reset`: each path parameter's
/// segment replaced by its name, so that audit actions group by route, not by target.
fn route_of(path: &str, params: &[(String, String)]) -> String {
    let mut left = params.iter();
    let mut next = left.next();
    let segments = path.split('/').map(|seg| {
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
        match next {
            Some((name, value)) if *value == decoded => {
                next = left.next();
                format!("{{{name}}}")
            }
            _ => seg.to_owned(),
        }
    });
    segments.collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn a_route_names_its_parameters() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            route_of("/api/v1/admin/users/shop.bob/reset", &[p("name", "shop.bob")]),
            "/api/v1/admin/users/{name}/reset"
        );
        assert_eq!(
            route_of("/api/v1/admin/users/a%20b/unlock", &[p("name", "a b")]),
            "/api/v1/admin/users/{name}/unlock"
        );
        assert_eq!(route_of("/api/v1/admin/users", &[]), "/api/v1/admin/users");
    }
}
