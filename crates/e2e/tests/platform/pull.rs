//! Pull delivery end to end: a code by SMS (to the local outbox log), a login, the customer's
//! own receipts only, download, logout; wrong, reused and foreign-origin attempts refused.

use ereceipt_terminal::sync::Step;

use crate::helpers::{Db, TestPlatform};

/// The newest login code texted to `phone`, from the SMS outbox log.
pub(crate) fn code_in(log: &str, phone: &str) -> Option<String> {
    let line = log.lines().rev().find(|l| l.contains("\tlogin.") && l.contains(phone))?;
    let after = line.split("验证码 ").nth(1)?;
    Some(after.chars().take(6).collect())
}

/// The login code texted to `phone`, once it is in the local SMS outbox (codes are texted in the
/// background, after the answer).
pub(crate) async fn texted_code(platform: &TestPlatform, phone: &str) -> String {
    let log = platform.dir.path().join("outbox").join("sms.log");
    let read = || code_in(&std::fs::read_to_string(&log).unwrap_or_default(), phone);
    crate::helpers::poll_until(std::time::Duration::from_secs(10), "the login code by SMS", || read().is_some()).await;
    read().unwrap_or_default()
}

#[tokio::test]
async fn a_customer_logs_in_with_a_code_and_sees_only_their_receipts() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000601").await;
    let mine = t.sale_to(Some("pull:+8613700137000")).await;
    let theirs = t.sale_to(Some("pull:+8613600136000")).await;
    for r in [&mine, &theirs] {
        assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    }
    let http = platform.anonymous_client();
    let url = |p: &str| format!("{}{p}", platform.url);
    let sms_log = platform.dir.path().join("outbox").join("sms.log");

    // A number without receipts gets the same answer and no text.
    let r =
        http.post(url("/api/v1/pull/code")).json(&serde_json::json!({"phone": "+8613500135000"})).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let r = http.post(url("/api/v1/pull/code")).json(&serde_json::json!({"phone": "12345"})).send().await.unwrap();
    assert_eq!(r.status(), 422, "an invalid number is named");

    let r = http
        .post(url("/api/v1/pull/code"))
        .json(&serde_json::json!({"phone": "+86 137 0013 7000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let code = texted_code(&platform, "+8613700137000").await;
    assert_eq!(code.len(), 6);
    // The number without receipts was asked for first and got no text.
    assert!(!std::fs::read_to_string(&sms_log).unwrap_or_default().contains("+8613500135000"));

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = http
        .post(url("/api/v1/pull/login"))
        .json(&serde_json::json!({"phone": "+8613700137000", "code": wrong}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("4 tries left"));

    let r = http
        .post(url("/api/v1/pull/login"))
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"phone": "+8613700137000", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a foreign-origin POST is refused");

    let r = http
        .post(url("/api/v1/pull/login"))
        .json(&serde_json::json!({"phone": "+8613700137000", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let session = set_cookie.split(';').next().unwrap().to_owned();

    let list: serde_json::Value =
        http.get(url("/api/v1/pull/receipts")).header("cookie", &session).send().await.unwrap().json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], mine.record.id.to_string());

    let own = http
        .get(url(&format!("/api/v1/pull/receipts/{}/image", mine.record.id)))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.bytes().await.unwrap().as_ref(), mine.png.as_slice());
    for other in [theirs.record.id.to_string(), "T0000601-000001-999999".to_string()] {
        let r = http
            .get(url(&format!("/api/v1/pull/receipts/{other}/image")))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "another number's receipt is not found: {other}");
    }

    let r = http
        .post(url("/api/v1/pull/login"))
        .json(&serde_json::json!({"phone": "+8613700137000", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a code works once");

    let r = http.post(url("/api/v1/pull/logout")).header("cookie", &session).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = http.get(url("/api/v1/pull/receipts")).header("cookie", &session).send().await.unwrap();
    assert_eq!(r.status(), 401, "the session ended at logout");
    let r = http.get(url("/api/v1/pull/receipts")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// M3: asking for codes answers alike — status and body — for a number with receipts and one
/// without, and the limit applies to both: 202, 202, 202, 429 each.
#[tokio::test]
async fn code_requests_answer_alike_whether_or_not_the_number_has_receipts() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000602").await;
    let r = t.sale_to(Some("pull:+8613700137000")).await;
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    let http = platform.anonymous_client();
    let mut answers = Vec::new();
    for phone in ["+8613700137000", "+8613500135000"] {
        let mut these = Vec::new();
        for _ in 0..4 {
            let r = http
                .post(format!("{}/api/v1/pull/code", platform.url))
                .json(&serde_json::json!({ "phone": phone }))
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            these.push((r.status().as_u16(), retry_after, r.text().await.unwrap()));
        }
        answers.push(these);
    }
    let statuses: Vec<u16> = answers[0].iter().map(|a| a.0).collect();
    assert_eq!(statuses, [202, 202, 202, 429], "{answers:?}");
    assert_eq!(answers[0], answers[1], "the answers tell who has receipts");
}

/// M3, the portal's form: the same pages for a number with receipts and one without.
#[tokio::test]
async fn the_portal_code_form_answers_alike_whether_or_not_the_number_has_receipts() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000603").await;
    let r = t.sale_to(Some("pull:+8613700137000")).await;
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    let mut web = crate::web::Web::new(&platform);
    web.get("/pull").await;
    let mut answers = Vec::new();
    for phone in ["+8613700137000", "+8613500135000"] {
        let mut these = Vec::new();
        for _ in 0..4 {
            let p = web.post("/pull/code", &[("phone", phone), ("next", "/pull/receipts")]).await;
            these.push((p.status, p.text().replace(phone, "PHONE")));
        }
        answers.push(these);
    }
    let statuses: Vec<u16> = answers[0].iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(
        answers[0] == answers[1],
        "the pages tell who has receipts: {:?}",
        answers[1].iter().map(|a| a.0).collect::<Vec<_>>()
    );
}
