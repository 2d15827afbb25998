//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations as the
//! routers collect them (`utoipa_axum::routes!`), so a route and its entry cannot part. Built
//! once when the router is made and served as is at `/api/v1/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{Server, ServerBuilder, ServerVariableBuilder};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::web::support::CUSTOMER_COOKIE;

/// The query token (`DATA_DIR/admin.token` or the `admin_token` setting) as a bearer token.
const QUERY_TOKEN: &str = "queryToken";
/// The secret part of a terminal's single-use enrolment token, as a bearer token.
const ENROLMENT_TOKEN: &str = "enrolmentToken";
/// A terminal's certificate, issued by this platform's CA, as TLS client certificate.
const TERMINAL_CERTIFICATE: &str = "terminalCertificate";
/// An operator's certificate (`ereceipt platform operator add`), on the admin listener.
const OPERATOR_CERTIFICATE: &str = "operatorCertificate";
/// The customer's pull session cookie.
const PULL_SESSION: &str = "pullSession";
/// The MMSC's credentials for MM7 delivery reports.
const MMSC_BASIC: &str = "mmscBasic";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ereceipt platform API",
        version = "1",
        description = "Enrolment (EST-shaped, RFC 7030), encrypted receipt upload over mutual TLS, query and \
            verification of electronic receipts, the customer's pull login, MM7 delivery reports, and the admin \
            API. The query API and metrics take the query token as bearer token; terminals present their \
            certificate as TLS client certificate; the admin API is served only on the admin listener \
            (setting `admin_listen`, loopback by default) to operators' client certificates: its paths name \
            that server, and on the main listener they answer 404.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "enrolment", description = "EST-shaped enrolment of terminals (RFC 7030)"),
        (name = "terminal", description = "What a terminal does over mutual TLS: upload, resume, delivery state"),
        (name = "query", description = "The query API of integrators (acquirer, merchant systems)"),
        (name = "verification", description = "Public verification of a receipt image"),
        (name = "pull", description = "The customer's pull login (SMS code) and their receipts"),
        (name = "mm7", description = "MM7 (3GPP TS 23.140) delivery reports from the MMSC"),
        (name = "operations", description = "Health, readiness, metrics, CRL, keys and this document"),
        (name = "admin", description = "The admin API: admin listener only, operator client certificates"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let c = doc.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        let mtls =
            |description: &str| SecurityScheme::MutualTls { description: Some(description.into()), extensions: None };
        c.add_security_scheme(QUERY_TOKEN, bearer("The query token: DATA_DIR/admin.token, or the admin_token setting"));
        c.add_security_scheme(
            ENROLMENT_TOKEN,
            bearer("The SECRET part of an ert1.SECRET.CA-FINGERPRINT enrolment token (single use)"),
        );
        c.add_security_scheme(
            TERMINAL_CERTIFICATE,
            mtls("The terminal's current certificate, issued by this platform's CA, as TLS client certificate"),
        );
        c.add_security_scheme(
            OPERATOR_CERTIFICATE,
            mtls(
                "An operator's client certificate (`ereceipt platform operator add NAME --out DIR`), presented to \
                 the admin listener; each request is audited",
            ),
        );
        c.add_security_scheme(
            PULL_SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                CUSTOMER_COOKIE,
                "Set by POST /api/v1/pull/login: Secure, HttpOnly, SameSite=Strict",
            ))),
        );
        c.add_security_scheme(
            MMSC_BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The MMSC's credentials for delivery reports: delivery.mm7.report_username and report_password",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served: the JSON, made once.
#[derive(Clone)]
pub(crate) struct OpenApiJson(pub bytes::Bytes);

/// The whole API: the main listener's routes, the browser routes both listeners serve, and the
/// admin listener's routes, whose paths carry that listener as their server (`admin_listen`,
/// the address operators reach it at).
pub(crate) fn document(admin_listen: &str, mut admin: Document) -> Document {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::main_api().split_for_parts().1);
    doc.merge(super::browser_api().split_for_parts().1);
    let server = admin_server(admin_listen);
    for item in admin.paths.paths.values_mut() {
        item.servers = Some(vec![server.clone()]);
    }
    doc.merge(admin);
    unique_operation_ids(&mut doc);
    doc
}

/// utoipa names an operation after its handler function, and handlers of different modules
/// share names (`image`, `list` …); OpenAPI wants every operationId unique, so a shared name
/// becomes the method and path (`get_api_v1_receipts_id_image`).
fn unique_operation_ids(doc: &mut Document) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in doc.paths.paths.values() {
        for op in operations(item) {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            if op.operation_id.as_ref().is_some_and(|id| seen.get(id).copied().unwrap_or(0) > 1) {
                let words: String =
                    path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>();
                let words = words.split('_').filter(|w| !w.is_empty()).collect::<Vec<_>>().join("_");
                op.operation_id = Some(format!("{method}_{words}"));
            }
        }
    }
}

fn operations(item: &utoipa::openapi::PathItem) -> impl Iterator<Item = &utoipa::openapi::path::Operation> {
    [&item.get, &item.put, &item.post, &item.delete, &item.options, &item.head, &item.patch, &item.trace]
        .into_iter()
        .flatten()
}

fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
}

/// [`document`] as the JSON the platform serves.
pub(crate) fn served(admin_listen: &str, admin: Document) -> OpenApiJson {
    let json = document(admin_listen, admin).to_pretty_json().unwrap_or_else(|e| {
        // Serialising a document of strings and maps cannot fail; say so if it ever does.
        tracing::error!(error = %e, "the OpenAPI document could not be serialised");
        String::from("{}")
    });
    OpenApiJson(bytes::Bytes::from(json))
}

fn admin_server(admin_listen: &str) -> Server {
    ServerBuilder::new()
        .url("https://{admin_listen}")
        .description(Some(
            "The admin listener (setting admin_listen, loopback by default): operators' client certificates only",
        ))
        .parameter("admin_listen", ServerVariableBuilder::new().default_value(admin_listen))
        .build()
}

#[cfg(test)]
mod tests;
