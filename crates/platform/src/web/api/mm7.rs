//! The VASP endpoint of MM7 (3GPP TS 23.140): the MMSC posts a DeliveryReportReq about an MMS
//! we submitted; after HTTP Basic authentication it moves that delivery to delivered or failed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ereceipt_core::digest::sha256;

use super::schemas::ErrorBody;
use super::ApiError;
use crate::domain::login_codes::hashes_match;
use crate::infra::delivery::mm7::report::{self, ReportError, Status, SUCCESS};
use crate::infra::delivery::reports::find_reported;
use crate::infra::delivery::Channel;
use crate::web::state::SharedState;

/// How long a report for an unknown MessageID waits while an MMS is still being submitted (its
/// SubmitRsp may be in, its MessageID not yet recorded).
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

const REALM: &str = "Basic realm=\"ereceipt MM7\", charset=\"UTF-8\"";

/// Whether `Authorization: Basic …` carries `user:password`, compared in constant time (as
/// SHA-256 digests, so the lengths do not show either).
fn authorised(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .unwrap_or_default();
    let expected = format!("{user}:{password}");
    // Always compare, so a missing header takes as long as a wrong one.
    hashes_match(&sha256(&given), &sha256(expected.as_bytes())) && !given.is_empty()
}

fn soap(status: StatusCode, xml: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

/// MM7 (3GPP TS 23.140) VASP endpoint: a delivery report
///
/// The MMSC posts a DeliveryReportReq about an MMS the platform submitted; the delivery with
/// that MessageID becomes delivered (Retrieved) or failed (Rejected, Expired), or the report is
/// added to its history (Indeterminate, Forwarded, …). Answers: 200 with a DeliveryReportRsp (1000) when a delivery was
/// updated; a SOAP Fault with a VASPErrorRsp otherwise: 400 for a body that is not a readable
/// DeliveryReportReq (2007, 4004), 500 for an unknown MessageID (2005), another recipient (2002)
/// or another request type (4003); 401 without the configured credentials; 404 when no report
/// credentials are configured.
#[utoipa::path(post, path = "/api/v1/mm7", tag = "mm7",
    security(("mmscBasic" = [])),
    request_body(description = "text/xml: a SOAP 1.1 envelope with mm7:TransactionID in the Header and a \
        DeliveryReportReq (MM7Version, MessageID, Recipient, Date, MMStatus, StatusText) in the Body; \
        multipart/related: SOAP with attachments, the envelope as the first part",
        content((String = "text/xml"), (String = "multipart/related"))),
    responses(
        (status = 200, description = "DeliveryReportRsp with StatusCode 1000 and the request's TransactionID",
            body = String, content_type = "text/xml; charset=utf-8"),
        (status = 400, description = "not a readable DeliveryReportReq: malformed XML or not a SOAP envelope (2007 \
            Message format corrupt), a required element missing (4004 Validation error); a SOAP 1.1 Fault with a \
            VASPErrorRsp whose faultstring says what and where", body = String, content_type = "text/xml; charset=utf-8"),
        (status = 401, description = "missing or wrong MMSC credentials (WWW-Authenticate: Basic)", body = ErrorBody),
        (status = 404, description = "delivery reports are off (no report credentials configured)", body = ErrorBody),
        (status = 413, description = "body too large", body = String, content_type = "text/plain"),
        (status = 500, description = "a SOAP 1.1 Fault with a VASPErrorRsp: unknown MessageID (2005 Message ID Not \
            found), a report for another recipient (2002 Address Error), another MM7 request (4003 Unsupported \
            operation), or storage failure (3000 Server Error, faultcode Server: send again); nothing is changed",
            body = String, content_type = "text/xml; charset=utf-8"),
    ))]
pub async fn vasp(State(st): State<SharedState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let mm7 = st.settings.delivery.mm7.as_ref();
    let user = mm7.and_then(|m| m.report_username.as_deref());
    let password = mm7.and_then(|m| m.report_password.as_ref()).map(|p| p.0.as_str());
    let (Some(mm7), Some(user), Some(password)) = (mm7, user, password) else {
        return Err(ApiError::not_found(
            "MM7 delivery reports are off: set delivery.mm7.report_username and report_password",
        ));
    };
    if !authorised(&headers, user, password) {
        let mut refused = ApiError::unauthorized("the MMSC's credentials are missing or wrong").into_response();
        refused.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
        return Ok(refused);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (ns, version) = (mm7.namespace.as_str(), mm7.mm7_version.as_str());
    let req = match report::parse_request(content_type, &body) {
        Ok(req) => req,
        Err(e) => {
            tracing::info!(error = %e, "MM7 request refused");
            let message = e.to_string();
            return Ok(match e {
                ReportError::Malformed(_) => {
                    let corrupt = Status { code: 2007, text: "Message format corrupt" };
                    soap(StatusCode::BAD_REQUEST, report::vasp_error(ns, version, "", corrupt, &message))
                }
                ReportError::Invalid(_) => {
                    let invalid = Status { code: 4004, text: "Validation error" };
                    soap(StatusCode::BAD_REQUEST, report::vasp_error(ns, version, "", invalid, &message))
                }
                ReportError::Unsupported { request, transaction_id, namespace } => {
                    let unsupported = Status { code: 4003, text: "Unsupported operation" };
                    let why = format!("{request} is not taken here; only DeliveryReportReq is");
                    let xml = report::vasp_error(&namespace, version, &transaction_id, unsupported, &why);
                    soap(StatusCode::INTERNAL_SERVER_ERROR, xml)
                }
            });
        }
    };
    let ns = if req.namespace.is_empty() { ns } else { req.namespace.as_str() };
    let version = req.mm7_version.as_deref().unwrap_or(version);
    let tid = req.transaction_id.as_str();
    let fault = |status: Status<'_>, why: &str| {
        tracing::info!(message_id = %req.message_id, why, "MM7 delivery report refused");
        soap(StatusCode::INTERNAL_SERVER_ERROR, report::vasp_error(ns, version, tid, status, why))
    };
    let delivery = match find_reported(&st.store, Channel::Mms, &req.message_id, PATIENCE).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            let why = format!("no MMS was sent with MessageID {}", req.message_id);
            return Ok(fault(Status { code: 2005, text: "Message ID Not found" }, &why));
        }
        Err(e) => return Ok(storage_fault(ns, version, tid, &e)),
    };
    if !req.is_about(&delivery.recipient) {
        let why = format!("MessageID {} was not sent to {}", req.message_id, req.recipient);
        return Ok(fault(Status { code: 2002, text: "Address Error" }, &why));
    }
    let now = chrono::Utc::now().timestamp_millis();
    match st.store.delivery_reported(Channel::Mms, &req.message_id, req.outcome(), &req.describe(), now).await {
        Ok(_) => {
            tracing::info!(delivery = %delivery.delivery_id, report = %req.describe(), "MMS delivery report stored");
            Ok(soap(StatusCode::OK, report::delivery_report_rsp(ns, version, tid, SUCCESS)))
        }
        Err(e) => Ok(storage_fault(ns, version, tid, &e)),
    }
}

/// 3000 Server Error: our database failed; the MMSC may send the report again.
const SERVER_ERROR: Status<'static> = Status { code: 3000, text: "Server Error" };

fn storage_fault(ns: &str, version: &str, tid: &str, e: &crate::infra::store::StoreError) -> Response {
    tracing::error!(error = %e, "cannot store an MMS delivery report");
    let xml = report::vasp_error(ns, version, tid, SERVER_ERROR, "the report could not be stored; send it again");
    soap(StatusCode::INTERNAL_SERVER_ERROR, xml)
}
