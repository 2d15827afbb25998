//! The OpenAPI document the platform serves: valid OpenAPI 3.1 by the independent
//! `openapi-spec-validator` (PyPI, in the test venv), and naming every route the router has.

use std::process::Command;

use crate::helpers::{Db, TestPlatform};

/// Every `.route("PATH", get(..).post(..))` of the API router, as (method, path).
fn router_routes() -> Vec<(String, String)> {
    let src = include_str!("../../../platform/src/web/api/mod.rs");
    let mut out = Vec::new();
    for line in src.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.trim_start_matches(".route(\"").split('"').next().unwrap().to_owned();
        let handlers = line.split_once(',').unwrap().1;
        for method in ["get", "post", "put", "patch", "delete"] {
            if handlers.contains(&format!("{method}(")) {
                out.push((method.to_owned(), path.clone()));
            }
        }
    }
    assert!(out.len() > 20, "the route scan found the router: {out:?}");
    out
}

#[tokio::test]
async fn the_served_openapi_document_is_valid_3_1_and_lists_every_route() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let resp = platform.anonymous_client().get(format!("{}/api/v1/openapi.json", platform.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "declares 3.1: {}", doc["openapi"]);

    let missing: Vec<String> = router_routes()
        .into_iter()
        .filter(|(path, _)| path.starts_with("/api/v1") || path.starts_with("/.well-known/est"))
        .filter(|(method, path)| !doc["paths"][path][method].is_object())
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(missing.is_empty(), "routes without an OpenAPI entry: {missing:?}");

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
