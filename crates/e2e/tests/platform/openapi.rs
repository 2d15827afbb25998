//! The OpenAPI document the platform serves: valid OpenAPI 3.1 by the independent
//! `openapi-spec-validator` (PyPI, in the test venv), and each operation in it is one the
//! platform routes, answering (unauthenticated) with a status and content type it documents.
//! That every route of the routers has an entry is by construction (`utoipa_axum::routes!`)
//! and checked by the platform's unit tests (`web::api::openapi::tests`).

use std::process::Command;

use crate::helpers::{Db, TestPlatform};

/// The media type without its parameters, lowercase.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

#[tokio::test]
async fn the_served_openapi_document_is_valid_3_1_and_lists_every_route() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let client = platform.anonymous_client();
    let resp = client.get(format!("{}/api/v1/openapi.json", platform.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "declares 3.1: {}", doc["openapi"]);

    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        // The admin API names its own listener as server; everything else is on this one.
        let base = if item["servers"].is_array() { &platform.admin_url } else { &platform.url };
        let url = format!("{base}{}", path.replace("{id}", "T0000001-000001-000001").replace("{name}", "nobody"));
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let resp = client.request(method.to_uppercase().parse().unwrap(), &url).send().await.unwrap();
            let status = resp.status();
            let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            let body = resp.bytes().await.unwrap();
            let what = format!("{} {path}", method.to_uppercase());
            // A path or method the router does not have: axum's bare 404 or 405.
            assert!(!(matches!(status.as_u16(), 404 | 405) && body.is_empty()), "{what}: not routed ({status})");
            let documented = &op["responses"][status.as_str()];
            assert!(documented.is_object(), "{what}: answered {status}, which its entry does not list");
            if let Some(content) = documented["content"].as_object() {
                let given = essence(content_type.as_deref().unwrap_or_default());
                assert!(
                    content.keys().any(|k| essence(k) == given),
                    "{what}: {status} came as {content_type:?}, its entry says {:?}",
                    content.keys().collect::<Vec<_>>()
                );
            }
            probed += 1;
        }
    }
    assert!(probed > 35, "the document lists the API: {probed} operations");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let python = ereceipt_test_peers::smtp::venv_dir().join("bin/python");
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/install-deps makes the test venv)", python.display()));
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
