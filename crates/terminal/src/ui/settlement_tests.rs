//! The settlement screen's API driven as the page drives it: the open batch's lines as its
//! slip will print them, settling (balanced at the simulator), the refusals (an authorisation
//! still open, no operator), the slip's image and upload state, and the next batch after.

use axum::http::{header, StatusCode};
use chrono::Utc;
use serde_json::json;

use super::api_tests::{through_the_page, ui};
use super::test_card_swipe;

#[tokio::test]
async fn the_settle_screen_previews_settles_and_opens_the_next_batch() {
    let ui = ui(false).await;
    let outbox = &ui.app.state.uploader.outbox;
    let (_, first, _) = through_the_page(&ui, json!({"amount": "10000"})).await;
    through_the_page(&ui, json!({"amount": "2550"})).await;
    let voucher = first["trace"].as_str().expect("trace").to_owned();
    through_the_page(&ui, json!({"operation": "void", "voucher": voucher})).await;

    let (status, p) = ui.json(ui.get("/api/settlement")).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["batch"], "000004", "the open batch, six digits");
    assert_eq!(p["open_authorisations"], 0);
    let lines = p["lines"].as_array().expect("lines");
    let kinds: Vec<(&str, u64, &str)> = lines
        .iter()
        .map(|l| {
            (l["kind"].as_str().unwrap_or(""), l["count"].as_u64().unwrap_or(0), l["total"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(kinds, [("SALE", 2, "RMB 125.50"), ("VOID", 1, "RMB 100.00")], "the slip's lines, in its order");
    assert_eq!(lines[0]["kind_zh"], "消费");
    assert_eq!(lines[0]["currency"], "CNY");

    let (status, done) = ui.json(ui.post("/api/settlement", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!((done["batch"].as_str(), done["next_batch"].as_str()), (Some("000004"), Some("000005")));
    assert_eq!(done["balanced"], true, "the simulator's totals match: {done}");
    assert_eq!(done["lines"], p["lines"], "the slip prints what the screen previewed");

    let (status, s) = ui.json(ui.get("/api/settlements/000004")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["state"], "queued", "the platform of this test is unreachable: {s}");
    assert!(s["reconciliation"].is_null(), "{s}");
    let (status, png, headers) = ui.send(ui.get("/api/settlements/000004/image")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    let stored = outbox.slip(4).await.expect("outbox").expect("the slip is stored");
    assert_eq!(png, stored.png, "the stored, signed slip");

    // The platform's answer, as the uploader records it, is what the screen reads.
    let answer = json!({"balanced": false, "differences": [{"kind": "VOID", "currency": "CNY", "issue": "missing_receipts",
        "slip_count": 1, "slip_minor": 10000, "platform_count": 0, "platform_minor": 0,
        "text": "VOID: 1 receipt missing"}]});
    outbox.mark_slip_acked(4, &answer.to_string(), Utc::now().timestamp_millis()).await.expect("acked");
    let (_, s) = ui.json(ui.get("/api/settlements/4")).await;
    assert_eq!(s["state"], "uploaded", "{s}");
    assert_eq!(s["reconciliation"]["balanced"], false);
    assert_eq!(s["reconciliation"]["differences"][0]["text"], "VOID: 1 receipt missing");

    let (_, p) = ui.json(ui.get("/api/settlement")).await;
    assert_eq!(p["batch"], "000005", "{p}");
    assert_eq!(p["lines"], json!([]), "nothing in the new batch yet");
    let (_, _, next) = through_the_page(&ui, json!({"amount": "800"})).await;
    assert!(next.id.to_string().contains("-000005-"), "a new sale goes in the next batch: {}", next.id);
    let (status, e) = ui.json(ui.get("/api/settlements/000009")).await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{e}");
}

#[tokio::test]
async fn settling_is_refused_while_an_authorisation_is_open_or_nobody_is_signed_in() {
    let ui = ui(false).await;
    through_the_page(&ui, json!({"amount": "10000"})).await;
    // Approved, not signed for: the money is held and the receipt not made.
    let (_, started) = ui.json(ui.post("/api/sales", json!({"amount": "4200"}))).await;
    let sale = started["sale"].as_str().expect("sale id").to_owned();
    let swipe = test_card_swipe(Utc::now().date_naive());
    let (status, _) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"swipe": swipe.as_str()}))).await;
    assert_eq!(status, StatusCode::OK);

    let (_, p) = ui.json(ui.get("/api/settlement")).await;
    assert_eq!(p["open_authorisations"], 1, "{p}");
    let (status, e) = ui.json(ui.post("/api/settlement", json!({}))).await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::CONFLICT, Some("open_authorisations")), "{e}");
    assert!(
        e["message_en"]
            .as_str()
            .is_some_and(|m| m.contains("batch 000004") && m.contains("1 authorisation(s) are open")),
        "{e}"
    );
    assert!(e["message_zh"].as_str().is_some_and(|m| m.contains("1 笔授权")), "{e}");
    assert!(ui.app.state.uploader.outbox.slip(4).await.expect("outbox").is_none(), "no slip");
    let (_, p) = ui.json(ui.get("/api/settlement")).await;
    assert_eq!(p["batch"], "000004", "the batch stays open");

    let addr = ui.app.local_addr().to_string();
    let sign_out = axum::http::Request::delete("/api/operator")
        .header(header::HOST, &addr)
        .header(header::ORIGIN, format!("http://{addr}"))
        .header(super::TOKEN_HEADER, ui.app.state.guard.token())
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, _) = ui.json(sign_out).await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = ui.json(ui.post("/api/settlement", json!({}))).await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::CONFLICT, Some("sign_in_required")), "{e}");
}
