//! The HTML portal over real HTTPS: the customer's code login and own receipts, staff sign-in
//! with password + TOTP and its lockout, merchants confined to their own receipts (also by
//! direct URL), CSV export, the acquirer's RRN search, retrieval bundle and legal hold, public
//! verification, CSRF and security headers.

mod browser;
mod hold;
mod lineage;
mod listener;
mod picture;
mod settlement;
pub mod staff;

use ereceipt_terminal::sync::Step;

use crate::helpers::{Db, TestPlatform, TestTerminal};
use crate::web::Web;

/// Uploads everything the terminal has queued.
async fn upload_all(t: &mut TestTerminal) {
    while let Step::Uploaded(_) = t.uploader.upload_next().await.unwrap() {}
}

use crate::pull::texted_code as code_for;

#[tokio::test]
async fn a_customer_logs_in_with_a_texted_code_and_sees_views_downloads_and_verifies_only_their_receipts() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000701").await;
    let mine = t.sale_to(Some("sms:+8613700137000")).await;
    let mine2 = t.sale_to(Some("pull:+8613700137000")).await;
    let theirs = t.sale_to(Some("pull:+8613600136000")).await;
    upload_all(&mut t).await;
    let (mine_id, mine2_id, theirs_id) =
        (mine.record.id.to_string(), mine2.record.id.to_string(), theirs.record.id.to_string());

    let mut web = Web::new(&platform);
    // Not logged in: the receipt link leads to the login, remembering where to go.
    let p = web.get(&format!("/r/{mine_id}")).await;
    assert_eq!(p.status, 303);
    let p = web.get(&p.location().unwrap()).await;
    assert_eq!(p.location().as_deref(), Some(format!("/pull?next=/pull/receipts/{mine_id}").as_str()));
    let p = web.get(&p.location().unwrap()).await;
    assert_eq!(p.status, 200);
    assert!(p.text().contains("id=\"phone\""), "the phone form");
    let next = p.field("next").unwrap();

    // A malformed number is named; a code is texted for a real one.
    let p = web.post("/pull/code", &[("phone", "12345"), ("next", &next)]).await;
    assert_eq!(p.status, 422);
    assert!(p.text().contains("+"), "the error explains the format: {}", p.text());
    let p = web.post("/pull/code", &[("phone", "+86 137 0013 7000"), ("next", &next)]).await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert!(p.text().contains("id=\"code\""));
    let code = code_for(&platform, "+8613700137000").await;

    // A wrong code counts down; the right one logs in with a fresh, locked-down cookie.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let p = web.post("/pull/login", &[("phone", "+8613700137000"), ("code", wrong), ("next", &next)]).await;
    assert_eq!(p.status, 401);
    assert!(p.text().contains("4 tries left"), "{}", p.text());
    let p = web.post("/pull/login", &[("phone", "+8613700137000"), ("code", &code), ("next", &next)]).await;
    assert_eq!(p.status, 303, "{}", p.text());
    assert_eq!(p.location().as_deref(), Some(format!("/pull/receipts/{mine_id}").as_str()));
    let session_cookie = web.set_cookies.iter().rev().find(|c| c.starts_with("__Host-ereceipt_pull=")).unwrap().clone();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attr), "{session_cookie}");
    }

    // The list holds both of this number's receipts and nothing of the other number's.
    let list = web.get("/pull/receipts").await;
    assert_eq!(list.status, 200);
    let html = list.text();
    assert!(html.contains(&mine_id) && html.contains(&mine2_id), "{html}");
    assert!(!html.contains(&theirs_id), "another number's receipt is listed");

    // The receipt page shows it verified; the PNG downloads byte for byte.
    let detail = web.get(&format!("/pull/receipts/{mine_id}")).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.verdict().as_deref(), Some("authentic"), "{}", detail.text());
    assert!(detail.text().contains(&mine.record.transaction.rrn.to_string()));
    let png = web.get(&format!("/pull/receipts/{mine_id}/png?download=1")).await;
    assert_eq!(png.status, 200);
    assert_eq!(png.bytes, mine.png, "the download is the signed image");
    let disposition = png.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let pdf = web.get(&format!("/pull/receipts/{mine_id}/png?download=1&format=pdf")).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF-"), "a PDF for printing");
    assert!(pdf.headers["content-disposition"].to_str().unwrap().contains(&format!("{mine_id}.pdf")));

    // The other number's receipt is "not found" by page and by image, as is a made-up id.
    assert_eq!(web.get(&format!("/pull/receipts/{theirs_id}")).await.status, 404);
    assert_eq!(web.get(&format!("/pull/receipts/{theirs_id}/png")).await.status, 404);
    assert_eq!(web.get("/pull/receipts/T0000701-000001-999999").await.status, 404);

    // The used code does not log in again, in another browser either.
    let mut other = Web::new(&platform);
    other.get("/pull").await;
    let p = other.post("/pull/login", &[("phone", "+8613700137000"), ("code", &code)]).await;
    assert_eq!(p.status, 401);
    assert!(p.text().contains("already used"), "{}", p.text());

    // A post without the form's token, or from another site, is refused and changes nothing.
    let p = web.post_raw("/pull/logout", &[("csrf".into(), "forged".into())], Some(&web.base.clone())).await;
    assert_eq!(p.status, 403);
    let p = web.post_raw("/pull/logout", &[("csrf".into(), web.csrf.clone())], Some("https://evil.example")).await;
    assert_eq!(p.status, 403);
    assert_eq!(web.get("/pull/receipts").await.status, 200, "still logged in");

    // Logout ends the session on the server: the old cookie no longer works.
    let old = web.cookies.get("__Host-ereceipt_pull").cloned().unwrap();
    let p = web.post("/pull/logout", &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(web.get("/pull/receipts").await.status, 303, "back to the login");
    web.cookies.insert("__Host-ereceipt_pull".into(), old);
    assert_eq!(web.get("/pull/receipts").await.status, 303, "the old cookie is dead");
}

#[tokio::test]
async fn pages_carry_security_headers_and_speak_the_visitors_language() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut web = Web::new(&platform);
    web.accept_language = "zh-CN,zh;q=0.9";
    let p = web.get("/").await;
    assert_eq!(p.status, 200);
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    for (h, v) in [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("cache-control", "no-store")] {
        assert_eq!(p.headers[h].to_str().unwrap(), v, "{h}");
    }
    assert!(p.headers.contains_key("strict-transport-security"));
    assert!(p.text().contains("我的签购单"), "Chinese for a Chinese browser");
    assert!(!p.text().contains("<script"), "no script at all");
    // The visitor's choice of language sticks.
    let p = web.get("/lang?to=en&back=/pull").await;
    assert_eq!(p.location().as_deref(), Some("/pull"));
    let p = web.get("/pull").await;
    assert!(p.text().contains("Text me a code"), "{}", p.text());
    // The language switch does not redirect to another site.
    let p = web.get("/lang?to=zh&back=//evil.example/").await;
    assert_eq!(p.location().as_deref(), Some("/"));
    let css = web.get("/static/portal.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers["content-type"].to_str().unwrap().starts_with("text/css"));
}

#[tokio::test]
async fn anyone_can_check_a_receipt_image_and_bad_uploads_are_named() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000702").await;
    let r = t.sale().await;
    upload_all(&mut t).await;
    let mut web = Web::new(&platform);
    let page = web.get("/verify").await;
    assert_eq!(page.status, 200);
    let form = |bytes: Vec<u8>, csrf: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .part("image", reqwest::multipart::Part::bytes(bytes).file_name("receipt.png"))
    };
    let csrf = web.csrf.clone();
    let p = web.post_multipart("/verify", form(r.png.clone(), &csrf)).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.verdict().as_deref(), Some("authentic"), "{}", p.text());
    assert!(p.text().contains(&r.record.transaction.rrn.to_string()));
    // The signed time is written as every portal page writes it: the terminal's wall clock
    // with its offset, not the summary's RFC 3339.
    let shown = r.record.transaction.time.format(ereceipt_core::model::TimeLayout::Page);
    assert!(p.text().contains(&shown), "the time {shown} on the page: {}", p.text());
    assert!(!p.text().contains(&r.record.transaction.time.rfc3339()), "no raw RFC 3339 time");
    assert!(p.text().contains(r#"data-holds="true" data-faithful="yes""#), "on record, the same file: {}", p.text());
    // A receipt the platform never received is said to be unknown to it.
    let unsent = t.sale().await;
    let p = web.post_multipart("/verify", form(unsent.png.clone(), &csrf)).await;
    assert!(p.text().contains(r#"data-holds="false""#), "unknown to the platform: {}", p.text());
    // With every verification slot taken, the page says so at once (503, Retry-After).
    let gate = &platform.state.verify_gate;
    let held: Vec<_> = (0..gate.total())
        .map(|i| gate.try_enter(std::net::IpAddr::from([192, 0, 2, u8::try_from(i).unwrap()])).unwrap())
        .collect();
    let p = web.post_multipart("/verify", form(r.png.clone(), &csrf)).await;
    assert_eq!(p.status, 503, "{}", p.text());
    assert_eq!(p.headers["retry-after"], "1");
    drop(held);

    let p = web.post_multipart("/verify", form(b"not an image".to_vec(), &csrf)).await;
    assert_eq!(p.verdict().as_deref(), Some("unverifiable"));

    let p = web.post_multipart("/verify", form(vec![0u8; 9 * 1024 * 1024], &csrf)).await;
    assert_eq!(p.status, 413);
    assert!(p.text().contains("8 MiB"), "{}", p.text());

    let p = web.post_multipart("/verify", form(r.png.clone(), "forged")).await;
    assert_eq!(p.status, 403, "the CSRF token is checked on uploads too");
}

#[tokio::test]
async fn a_message_link_opens_that_receipt_without_login_and_nothing_else() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000703").await;
    let r = t.sale_to(Some("email:li.na@example.com")).await;
    let other = t.sale_to(Some("email:li.na@example.com")).await;
    upload_all(&mut t).await;
    let id = r.record.id.to_string();
    let expires = chrono::Utc::now().timestamp_millis() + 90 * 86_400_000;
    let link =
        ereceipt_platform::services::links::receipt_link(&platform.state.keys.link_key, &platform.url, &id, expires);
    let path = link.trim_start_matches(&platform.url).to_owned();
    let token = path.split("?k=").nth(1).unwrap().to_owned();

    let mut web = Web::new(&platform);
    let p = web.get(&path).await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.verdict().as_deref(), Some("authentic"));
    assert!(!p.text().contains("li.na@example.com"), "the page does not repeat the address");
    let png = web.get(&format!("/r/{id}/png?k={token}&download=1")).await;
    assert_eq!(png.bytes, r.png);
    assert!(png.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));

    // The token opens only its own receipt; a wrong or missing token shows nothing.
    let other_id = other.record.id.to_string();
    assert_eq!(web.get(&format!("/r/{other_id}?k={token}")).await.status, 404);
    assert_eq!(web.get(&format!("/r/{other_id}/png?k={token}")).await.status, 404);
    assert_eq!(web.get(&format!("/r/{id}?k=AQAAAAAAAAAAAAAAAAAA")).await.status, 404);
    assert_eq!(web.get(&format!("/r/{id}/png")).await.status, 404);
    let p = web.get(&format!("/r/{id}")).await;
    assert_eq!(p.location().as_deref(), Some(format!("/pull/receipts/{id}").as_str()), "no token: the login");
}
