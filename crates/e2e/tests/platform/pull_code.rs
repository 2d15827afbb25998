//! A link-free receipt SMS end to end: the China Mobile number's text in the outbox carries the
//! receipt number and a pull code and no link; with the number, the code opens that receipt
//! through the JSON pull API and the portal's pull-code page, and no other receipt.

use std::time::Duration;

use ereceipt_terminal::sync::Step;

use crate::helpers::{poll_until, Db, TestPlatform};
use crate::web::Web;

const NUMBER: &str = "+8613800138000";
const CHOICE: &str = "sms:+8613800138000";

/// The pull code in the outbox's text about `receipt_id`.
fn code_in(log: &str, receipt_id: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(&format!("单号/no. {receipt_id} ")))?;
    Some(line.split("提取码/code ").nth(1)?.chars().take(8).collect())
}

#[tokio::test]
async fn a_pull_code_opens_its_own_receipt_and_no_other() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000701").await;
    let a = t.sale_to(Some(CHOICE)).await;
    let b = t.sale_to(Some(CHOICE)).await;
    for r in [&a, &b] {
        assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    }
    let log_path = platform.dir.path().join("outbox").join("sms.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let (a_id, b_id) = (a.record.id.to_string(), b.record.id.to_string());
    poll_until(Duration::from_secs(20), "both texts", || {
        code_in(&log(), &a_id).is_some() && code_in(&log(), &b_id).is_some()
    })
    .await;
    let text = log();
    assert!(!text.contains("http"), "China Mobile's texts carry no link: {text}");
    let code_a = code_in(&text, &a_id).unwrap();
    let code_b = code_in(&text, &b_id).unwrap();
    assert_ne!(code_a, code_b);

    let http = platform.anonymous_client();
    let url = |p: &str| format!("{}{p}", platform.url);
    let open = |id: &str, phone: &str, code: &str| {
        http.post(url("/api/v1/pull/receipt"))
            .json(&serde_json::json!({"phone": phone, "receipt_id": id, "code": code}))
            .send()
    };
    let r = open(&a_id, NUMBER, &code_a).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none(), "no session over the number's receipts");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["receipt_id"], a_id.as_str());
    let image = http.get(url(body["image"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.bytes().await.unwrap().as_ref(), a.png.as_slice(), "receipt A's image");
    let page = http.get(url(body["link"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&a_id));

    assert_eq!(open(&b_id, NUMBER, &code_a).await.unwrap().status(), 401, "A's code does not open B");
    assert_eq!(open(&a_id, "+8613900139000", &code_a).await.unwrap().status(), 401, "nor for another number");
    assert_eq!(open(&b_id, NUMBER, &code_b).await.unwrap().status(), 200, "B's own code does");
    let r = http.get(url("/api/v1/pull/receipts")).send().await.unwrap();
    assert_eq!(r.status(), 401, "still no session");

    // The portal's page: the form, then on to the receipt's own link page.
    let mut web = Web::new(&platform);
    let form = web.get("/pull/receipt").await;
    assert_eq!(form.status, 200);
    let p = web.post("/pull/receipt", &[("phone", NUMBER), ("receipt_id", &a_id), ("code", &code_b)]).await;
    assert_eq!(p.status, 401, "{}", p.text());
    assert!(p.text().contains("wrong pull code"), "{}", p.text());
    let p = web.post("/pull/receipt", &[("phone", NUMBER), ("receipt_id", &a_id), ("code", &code_a)]).await;
    assert_eq!(p.status, 303);
    let to = p.location().unwrap_or_default();
    assert!(to.starts_with(&format!("/r/{a_id}?k=")), "{to}");
    let page = web.get(&to).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains(&a_id));
}
