//! The generated document against the routers and the real types: every route has its entry,
//! every reference and security requirement resolves, and each described body has the fields
//! its Rust type serialises.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use ereceipt_core::contract::{
    ChainHead, DeliveryProgress, DeliveryState, ErrorBody, PlatformInfo, ResumePoint, TerminalReceipt,
};
use ereceipt_core::identity::TerminalMode;
use ereceipt_core::verify::{TimeBasis, Verdict, Verification};
use serde::Serialize;
use serde_json::Value;

use super::document;
use crate::services::chain::{BatchSpan, ChainReport, PurgedPrefix};
use crate::services::staff::{Credentials, NewUser};
use crate::services::staff_enrolment::EnrolmentLink;
use crate::services::terminals::{IssuedToken, Registration};
use crate::services::verification::{OnlineVerification, PlatformRecord};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn doc() -> Value {
    let admin = crate::web::admin::api().split_for_parts().1;
    serde_json::to_value(document("127.0.0.1:8444", admin)).expect("the document serialises")
}

/// (method, path) of every operation in `paths`.
fn operations(paths: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in paths.as_object().into_iter().flatten() {
        for m in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            out.insert(((*m).to_owned(), path.clone()));
        }
    }
    out
}

fn router_operations(
    router: utoipa_axum::router::OpenApiRouter<crate::web::state::SharedState>,
) -> BTreeSet<(String, String)> {
    let part = serde_json::to_value(router.split_for_parts().1).expect("serialises");
    operations(&part["paths"])
}

/// Every path a plain `.route("…")` (one that bypasses `routes!` and so has no entry) serves in
/// the web edge's sources.
fn plain_routes() -> Vec<String> {
    let sources = [
        include_str!("../mod.rs"),
        include_str!("../../admin/mod.rs"),
        include_str!("../../mod.rs"),
        include_str!("../../portal/mod.rs"),
    ];
    let mut out = Vec::new();
    for src in sources {
        for piece in src.split(".route(\"").skip(1) {
            out.extend(piece.split('"').next().map(str::to_owned));
        }
    }
    out
}

#[test]
fn every_operation_of_the_three_routers_is_in_the_document_once() {
    let served = operations(&doc()["paths"]);
    let main = router_operations(super::super::main_api());
    let browser = router_operations(super::super::browser_api());
    let admin = router_operations(crate::web::admin::api());
    assert!(main.len() >= 15 && browser.len() >= 7 && admin.len() >= 16, "{main:?} {browser:?} {admin:?}");
    for part in [&main, &browser, &admin] {
        let missing: Vec<_> = part.difference(&served).collect();
        assert!(missing.is_empty(), "operations of a router missing from the document: {missing:?}");
    }
    let total = main.len() + browser.len() + admin.len();
    assert_eq!(served.len(), total, "an operation is in two routers, or in the document without a route");
    // An admin path also served elsewhere would lose the admin listener as its server.
    let admin_paths: BTreeSet<_> = admin.iter().map(|(_, p)| p).collect();
    let shared: Vec<_> = main.iter().chain(&browser).filter(|(_, p)| admin_paths.contains(p)).collect();
    assert!(shared.is_empty(), "paths on both listeners: {shared:?}");
}

#[test]
fn every_api_route_outside_routes_macro_is_a_declared_exception() {
    let plain = plain_routes();
    let api: Vec<_> = plain.iter().filter(|p| p.starts_with("/api/") || p.starts_with("/.well-known/")).collect();
    let undeclared: Vec<_> = api.iter().filter(|p| !super::super::UNDOCUMENTED.contains(&p.as_str())).collect();
    assert!(undeclared.is_empty(), "API routes added without `routes!`, so without an OpenAPI entry: {undeclared:?}");
    // The scan sees the sources: the two admin pointers are plain routes.
    assert_eq!(api.len(), super::super::UNDOCUMENTED.len(), "{plain:?}");
    let served = operations(&doc()["paths"]);
    assert!(served.iter().all(|(_, p)| !super::super::UNDOCUMENTED.contains(&p.as_str())));
}

#[test]
fn admin_paths_name_the_admin_listener_and_no_others_do() {
    let doc = doc();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let servers = &item["servers"];
        if path.starts_with("/api/v1/admin/") {
            assert_eq!(servers[0]["url"], "https://{admin_listen}", "{path}");
            assert_eq!(servers[0]["variables"]["admin_listen"]["default"], "127.0.0.1:8444", "{path}");
            for m in METHODS.iter().filter_map(|m| item.get(*m)) {
                assert_eq!(m["security"], serde_json::json!([{"operatorCertificate": []}]), "{path}");
            }
        } else {
            assert!(servers.is_null(), "{path} has servers {servers}");
        }
    }
}

#[test]
fn every_reference_and_security_requirement_resolves() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let schemes = &doc["components"]["securitySchemes"];
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 40, "the walk found the references: {}", refs.len());
    for r in &refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.get(name).is_some(), "$ref {r} names no schema");
    }
    for (method, path) in operations(&doc["paths"]) {
        let op = &doc["paths"][&path][&method];
        for requirement in op["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().into_iter().flatten().map(|(k, _)| k) {
                assert!(schemes.get(scheme).is_some(), "{method} {path}: unknown security scheme {scheme}");
            }
        }
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
    }
    assert_eq!(schemes["terminalCertificate"]["type"], "mutualTLS");
    assert_eq!(schemes["operatorCertificate"]["type"], "mutualTLS");
    assert_eq!(schemes["queryToken"]["scheme"], "bearer");
}

/// The validator refuses a document whose operationIds repeat (handlers of different modules
/// share names such as `image`).
#[test]
fn every_operation_id_is_unique() {
    let doc = doc();
    let mut ids = BTreeSet::new();
    for (method, path) in operations(&doc["paths"]) {
        let id = doc["paths"][&path][&method]["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.clone()), "operationId {id} repeats ({method} {path})");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The property names of component schema `name` (with those of an `allOf` it is made of).
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    let mut out: BTreeSet<String> =
        schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let inner = match part["$ref"].as_str() {
            Some(r) => properties(doc, r.trim_start_matches("#/components/schemas/")),
            None => part["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect(),
        };
        out.extend(inner);
    }
    out
}

fn v(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("serialises")
}

/// The schema's enum values.
fn enum_values(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} is no enum: {schema}"))
        .iter()
        .map(|v| v.to_string())
        .collect()
}

fn json_strings<T: Serialize>(values: &[T]) -> BTreeSet<String> {
    values.iter().map(|v| serde_json::to_value(v).expect("serialises").to_string()).collect()
}

#[test]
fn the_described_bodies_have_the_fields_the_types_serialise() {
    let doc = doc();
    let at = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().expect("a valid time");
    let check = |name: &str, value: Value| {
        let Value::Object(m) = value else { panic!("{name}: not an object") };
        let fields: BTreeSet<String> = m.keys().cloned().collect();
        assert_eq!(properties(&doc, name), fields, "schema {name} and its type's fields");
    };

    check("Error", v(&ErrorBody { error: "not_found".into(), message: "no receipt".into() }));
    check(
        "PlatformInfo",
        v(&PlatformInfo {
            ca_fingerprint: "00".repeat(32),
            hpke_public_key: "11".repeat(32),
            hpke_suite: Some("suite".into()),
            ack_public_key: "22".repeat(32),
            max_upload_bytes: Some(1),
        }),
    );
    let head = ChainHead::new(7, &[0; 32]);
    check("ChainHead", v(&head));
    check("ResumePoint", v(&ResumePoint { batch: 1, last_serial: 0, head: Some(head) }));
    let progress = DeliveryProgress {
        channel: "sms".into(),
        state: DeliveryState::Sent,
        attempts: 1,
        updated_at: at.to_rfc3339(),
    };
    check("DeliveryProgress", v(&progress));
    check(
        "TerminalReceipt",
        v(&TerminalReceipt {
            id: "T0000001-000001-000001".into(),
            received_at: at.to_rfc3339(),
            channel: Some("sms".into()),
            deliveries: vec![progress],
        }),
    );
    assert_eq!(enum_values(&doc, "DeliveryState"), json_strings(&DeliveryState::ALL));
    check("Resend", v(&ereceipt_core::contract::Resend { deliver: "email:li.na@example.com".into() }));
    check(
        "Resent",
        v(&ereceipt_core::contract::Resent {
            delivery_id: "T0000001-000001-000001.email.2".into(),
            channel: "email".into(),
        }),
    );

    let record =
        PlatformRecord { holds: true, stored_at: Some(at.to_rfc3339()), faithful_copy: Some(true), note: "".into() };
    check("PlatformRecord", v(&record));
    let mut verification = Verification::unverifiable("unreadable");
    verification.regions.push(ereceipt_core::watermark::Region { x: 1, y: 2, w: 3, h: 4 });
    check("Region", v(&verification.regions[0]));
    check("Verification", v(&OnlineVerification { verification, platform: record }));
    assert_eq!(
        enum_values(&doc, "Verdict"),
        json_strings(&[Verdict::Authentic, Verdict::Tampered, Verdict::Unverifiable, Verdict::Unconfirmed])
    );
    assert_eq!(enum_values(&doc, "TimeBasis"), json_strings(&[TimeBasis::TerminalClaim, TimeBasis::PlatformEvidence]));

    let purged = PurgedPrefix {
        through_sequence: 3,
        last_purged: "T0000001-000001-000003".into(),
        receipts_purged: 3,
        purged_at: 1,
        verified_from: None,
    };
    check("PurgedPrefix", v(&purged));
    let batch = BatchSpan { batch: 1, first_sequence: 1, last_sequence: 2, receipts: 2, first_receipt: "x".into() };
    check("BatchSpan", v(&batch));
    check("ChainReport", v(&ChainReport { batches: vec![batch], purged: Some(purged), ..ChainReport::default() }));

    check(
        "Registration",
        v(&Registration {
            terminal_id: "T0000001".into(),
            merchant_id: "104110070110001".into(),
            merchant_name: "Shop".into(),
            location: "Here".into(),
            mode: TerminalMode::Test,
        }),
    );
    assert_eq!(enum_values(&doc, "TerminalMode"), json_strings(&[TerminalMode::Production, TerminalMode::Test]));
    check("IssuedToken", v(&IssuedToken { terminal_id: "T0000001".into(), token: "ert1.x.y".into(), expires_at: at }));
    check(
        "Credentials",
        v(&Credentials {
            username: "ann".into(),
            role: "acquirer".into(),
            merchant_id: None,
            password: None,
            totp_secret: "ABC".into(),
            totp_uri: "otpauth://totp/x".into(),
        }),
    );
    check(
        "EnrolmentLink",
        v(&EnrolmentLink {
            username: "ann".into(),
            enrolment_url: "https://p/staff/enrol?token=x".into(),
            expires_at: at,
        }),
    );

    // NewUser is only read: an object with every described field is one it takes (it refuses
    // unknown fields), and each field it requires is required in the schema.
    let fields = properties(&doc, "NewUser");
    let sample: serde_json::Map<String, Value> =
        fields.iter().map(|f| (f.clone(), Value::String("x".into()))).collect();
    serde_json::from_value::<NewUser>(Value::Object(sample)).expect("NewUser takes every described field");
    let required: BTreeSet<String> = doc["components"]["schemas"]["NewUser"]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    for field in &fields {
        let without: serde_json::Map<String, Value> =
            fields.iter().filter(|f| *f != field).map(|f| (f.clone(), Value::String("x".into()))).collect();
        let taken = serde_json::from_value::<NewUser>(Value::Object(without)).is_ok();
        assert_eq!(!taken, required.contains(field), "NewUser.{field}: required by the type vs the schema");
    }
    assert_eq!(enum_values(&doc, "StaffRole"), json_strings(&["merchant", "acquirer"]));
}

#[test]
fn the_document_is_openapi_3_1_with_the_content_types_the_handlers_answer() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let content = |path: &str, method: &str, status: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["responses"][status]["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    };
    let one = |s: &str| BTreeSet::from([s.to_owned()]);
    assert_eq!(content("/.well-known/est/cacerts", "get", "200"), one(ereceipt_core::enrolment::est::PKCS7_CERTS_ONLY));
    assert_eq!(
        content("/.well-known/est/simpleenroll", "post", "200"),
        one(ereceipt_core::enrolment::est::PKCS7_CERTS_ONLY)
    );
    assert!(doc["paths"]["/.well-known/est/simpleenroll"]["post"]["requestBody"]["content"]["application/pkcs10"]
        .is_object());
    assert_eq!(content("/api/v1/receipts", "post", "201"), one("application/cbor"));
    assert_eq!(content("/api/v1/receipts/{id}/image", "get", "200"), one("image/png"));
    assert_eq!(content("/crl", "get", "200"), one("application/pkix-crl"));
    assert_eq!(content("/api/v1/receipts", "get", "200"), one("application/json"));
}
