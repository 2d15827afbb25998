//! Administration (M9): the admin API is served only on the admin listener, to operators with
//! client certificates from the platform CA (never a terminal's, and an operator's is never a
//! terminal's); every admin request is audited with the operator's name; a user's reset hands
//! out a one-time enrolment link instead of their secrets.

use chrono::{Duration, Utc};
use ereceipt_platform::domain::credentials::totp_code;
use ereceipt_platform::services::{operators, staff_enrolment};

use super::{Db, TestPlatform};
use crate::web::Web;

/// What the audit log says about `action` on `target`.
fn audit_rows<'a>(log: &'a serde_json::Value, action: &str, target: &str) -> Vec<&'a serde_json::Value> {
    log["audit"].as_array().unwrap().iter().filter(|r| r["action"] == action && r["target"] == target).collect()
}

#[tokio::test]
async fn the_internet_facing_listener_serves_no_admin_api_and_says_where_it_went() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let client = platform.anonymous_client();
    for (method, path) in [
        ("GET", "/api/v1/admin/terminals"),
        ("GET", "/api/v1/admin/users"),
        ("POST", "/api/v1/admin/users/bank/reset"),
        ("POST", "/api/v1/admin/terminals/T0000001/revoke"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{}{path}", platform.url))
            .bearer_auth(platform.admin_token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path} with the old admin token");
        let body = r.text().await.unwrap();
        assert!(body.contains("admin_listen") && body.contains("operator add"), "{body}");
    }
    // The query API stays on this listener with its bearer token (integrations use it).
    let r = client.get(format!("{}/api/v1/receipts", platform.url)).bearer_auth(platform.admin_token()).send().await;
    assert_eq!(r.unwrap().status(), 200);
    let r = client.get(format!("{}/api/v1/receipts", platform.url)).send().await.unwrap();
    assert_eq!(r.status(), 401, "not without it");
}

#[tokio::test]
async fn the_admin_listener_lets_in_recorded_operators_only_never_a_terminal() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let url = format!("{}/api/v1/admin/terminals", platform.admin_url);

    let r = platform.anonymous_client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401, "no certificate");
    assert!(r.text().await.unwrap().contains("operator add"));

    let r = platform.anonymous_client().get(&url).bearer_auth(platform.admin_token()).send().await.unwrap();
    assert_eq!(r.status(), 401, "the old admin token");
    let body = r.text().await.unwrap();
    assert!(body.contains("no longer accepted") && body.contains("operator client certificate"), "{body}");

    let terminal = platform.terminal("T0000901").await;
    let r = platform.client_as(&terminal.device.identity().unwrap()).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "a terminal's certificate");
    assert!(r.text().await.unwrap().contains("not an operator certificate"));

    let store = &platform.state.store;
    let alice = operators::add(store, &platform.state.keys, "alice", "test", Utc::now()).await.unwrap();
    let r = platform.client_as(&alice).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "an operator");
    let again = operators::add(store, &platform.state.keys, "alice", "test", Utc::now()).await;
    assert!(matches!(again, Err(operators::OperatorError::Exists(_))), "one active certificate per name");

    operators::revoke(store, "alice", "test", Utc::now()).await.unwrap();
    let r = platform.client_as(&alice).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "a revoked operator");
    assert!(r.text().await.unwrap().contains("revoked"));

    // A CA-issued operator certificate that `operator add` did not record is refused too.
    let stray = ereceipt_platform::infra::operator_certs::issue(&platform.state.keys.ca, "mallory", Utc::now(), 1);
    let r = platform.client_as(&stray.unwrap()).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "an unrecorded certificate");
}

#[tokio::test]
async fn an_operator_certificate_never_acts_as_a_terminal() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let bob = operators::add(&platform.state.store, &platform.state.keys, "bob", "test", Utc::now()).await.unwrap();
    let client = platform.client_as(&bob);
    let r = client.post(format!("{}/api/v1/receipts", platform.url)).body(vec![0u8; 64]).send().await.unwrap();
    assert_eq!(r.status(), 403, "upload with an operator certificate");
    assert!(r.text().await.unwrap().contains("operator certificate is not a terminal certificate"));
    let r = client.get(format!("{}/api/v1/terminal/resume", platform.url)).send().await.unwrap();
    assert!(r.status().is_client_error(), "resume: {}", r.status());
}

#[tokio::test]
async fn a_revoke_and_a_reset_leave_audit_rows_naming_the_operator() {
    let platform = TestPlatform::start(Db::Postgres).await;
    platform.register("T0000902").await;
    let carol = operators::add(&platform.state.store, &platform.state.keys, "carol", "test", Utc::now()).await.unwrap();
    let carol = platform.client_as(&carol);
    let admin = |path: &str| format!("{}{path}", platform.admin_url);
    let r = carol.post(admin("/api/v1/admin/terminals/T0000902/revoke")).json(&serde_json::json!({"reason": "stolen"}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let user = serde_json::json!({"username": "shop.bob", "role": "merchant", "merchant_id": "104110070110001"});
    assert_eq!(carol.post(admin("/api/v1/admin/users")).json(&user).send().await.unwrap().status(), 201);
    assert_eq!(carol.post(admin("/api/v1/admin/users/shop.bob/reset")).send().await.unwrap().status(), 200);
    assert_eq!(carol.post(admin("/api/v1/admin/users/nobody/reset")).send().await.unwrap().status(), 404);

    let log: serde_json::Value = carol.get(admin("/api/v1/admin/audit")).send().await.unwrap().json().await.unwrap();
    for (action, target, outcome) in [
        ("POST /api/v1/admin/terminals/{id}/revoke", "T0000902", "200"),
        ("POST /api/v1/admin/users", "shop.bob", "201"),
        ("POST /api/v1/admin/users/{name}/reset", "shop.bob", "200"),
        ("POST /api/v1/admin/users/{name}/reset", "nobody", "404"),
    ] {
        let rows = audit_rows(&log, action, target);
        assert_eq!(rows.len(), 1, "{action} {target}: {log}");
        assert_eq!(rows[0]["operator"], "carol");
        assert_eq!(rows[0]["outcome"], outcome);
        assert!(rows[0]["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{}", rows[0]);
        assert!(rows[0]["at"].as_i64().unwrap() > Utc::now().timestamp_millis() - 60_000);
    }
    // Refused attempts are there too, and host commands name the local user.
    let _ = platform.anonymous_client().get(admin("/api/v1/admin/users")).send().await.unwrap();
    let log: serde_json::Value = platform.admin_json("/api/v1/admin/audit").await;
    let refused = audit_rows(&log, "GET /api/v1/admin/users", "");
    assert!(refused.iter().any(|r| r["operator"] == "(no certificate)" && r["outcome"] == "401"), "{log}");
    assert_eq!(audit_rows(&log, "operator add", "carol")[0]["operator"], "host:test");
}

#[tokio::test]
async fn a_reset_gives_a_link_that_works_once_and_no_secret() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let (password, _) = super::portal::staff::add_user(
        &platform,
        serde_json::json!({"username": "shop.dan", "role": "merchant", "merchant_id": "104110070110001"}),
    )
    .await;
    let r = platform.admin_post("/api/v1/admin/users/shop.dan/reset", serde_json::json!({})).await;
    assert_eq!(r.status(), 200);
    let reset: serde_json::Value = r.json().await.unwrap();
    for secret in ["password", "totp_secret", "totp_uri"] {
        assert!(reset.get(secret).is_none(), "{secret} in {reset}");
    }
    let link = reset["enrolment_url"].as_str().unwrap();
    let path = link.strip_prefix(&platform.url).unwrap_or_else(|| panic!("{link}"));
    assert!(path.starts_with("/staff/enrol?token="), "{link}");
    let token = path.trim_start_matches("/staff/enrol?token=");

    let mut web = Web::new(&platform);
    web.get("/staff/login").await;
    let p = web.post("/staff/login", &[("username", "shop.dan"), ("password", &password), ("code", "000000")]).await;
    assert_eq!(p.status, 401, "the old password stopped working at the reset");

    let p = web.get(path).await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert!(p.text().contains("shop.dan"));
    let new_password = "correct horse battery staple";
    let fields = [("token", token), ("password", new_password), ("confirm", new_password)];
    let p = web.post("/staff/enrol", &fields).await;
    assert_eq!(p.status, 200, "{}", p.text());
    let text = p.text();
    let secret = text.split("id=\"totp-secret\">").nth(1).and_then(|t| t.split('<').next()).unwrap().to_owned();
    let secret = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &secret).unwrap();
    let code = totp_code(&secret, Utc::now().timestamp() as u64).unwrap();
    web.get("/staff/login").await;
    let p = web.post("/staff/login", &[("username", "shop.dan"), ("password", new_password), ("code", &code)]).await;
    assert_eq!(p.status, 303, "the user signs in with what they set: {}", p.text());

    // The link worked once.
    let mut other = Web::new(&platform);
    assert_eq!(other.get(path).await.status, 410, "a second use of the link");
    other.get("/staff/login").await;
    let p = other
        .post(
            "/staff/enrol",
            &[("token", token), ("password", "another long password"), ("confirm", "another long password")],
        )
        .await;
    assert_eq!(p.status, 410, "a second enrolment with the link");

    // An expired link does not work.
    let old = Utc::now() - Duration::hours(staff_enrolment::LINK_HOURS + 1);
    let expired = staff_enrolment::reset(&platform.state.store, &platform.url, "shop.dan", old).await.unwrap().unwrap();
    let path = expired.enrolment_url.strip_prefix(&platform.url).unwrap().to_owned();
    let p = other.get(&path).await;
    assert_eq!(p.status, 410, "an expired link");
    let token = path.trim_start_matches("/staff/enrol?token=");
    let p = other
        .post(
            "/staff/enrol",
            &[("token", token), ("password", "another long password"), ("confirm", "another long password")],
        )
        .await;
    assert_eq!(p.status, 410, "an expired link, posted");
}
