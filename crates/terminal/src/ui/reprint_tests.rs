//! The reprint screen's API driven as the page drives it: the list (last receipt first, the
//! open batch newest first, amounts signed as slips print them), the duplicate image (an
//! authentic duplicate of the same record, nothing stored), resend's answers, and unknown ids.

use axum::http::{header, StatusCode};
use ereceipt_core::verify::{verify_image, Verdict};
use serde_json::json;

use super::api_tests::{through_the_page, ui};
use crate::device::Device;

#[tokio::test]
async fn the_reprint_screen_lists_the_batch_and_shows_an_authentic_duplicate() {
    let ui = ui(false).await;
    let outbox = &ui.app.state.uploader.outbox;
    let (_, first, sale) = through_the_page(&ui, json!({"amount": "10000"})).await;
    let voucher = first["trace"].as_str().expect("trace").to_owned();
    let (_, _, void) = through_the_page(&ui, json!({"operation": "void", "voucher": voucher})).await;
    let (sale_id, void_id) = (sale.id.to_string(), void.id.to_string());

    let (status, list) = ui.json(ui.get("/api/reprint")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["open_batch"], "000004");
    assert_eq!(list["last"]["id"], void_id.as_str(), "the last receipt first: {list}");
    let ids: Vec<&str> = list["receipts"].as_array().expect("list").iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, [void_id.as_str(), sale_id.as_str()], "newest first");
    let (v, s) = (&list["receipts"][0], &list["receipts"][1]);
    assert_eq!((v["kind"].as_str(), v["kind_zh"].as_str()), (Some("VOID"), Some("消费撤销")));
    assert_eq!(v["amount"], "RMB -100.00", "money given back is negative, as on the slip");
    assert_eq!((s["kind"].as_str(), s["amount"].as_str()), (Some("SALE"), Some("RMB 100.00")));
    assert_eq!(s["voucher"], voucher.as_str());
    assert!(s["time"].as_str().is_some_and(|t| t.ends_with("+08:00")), "{s}");

    let before = (outbox.status().await.expect("status"), outbox.next_link().await.expect("link"));
    let journal = outbox.authorisation_count().await.expect("journal");
    let (status, png, headers) = ui.send(ui.get(&format!("/api/reprint/{sale_id}/image"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    let ca = Device::new(&ui.path).ca_der().expect("CA");
    let verdict = verify_image(&png, &ca);
    assert_eq!(verdict.verdict, Verdict::Authentic, "{}", verdict.reason);
    assert!(verdict.duplicate, "{:?}", verdict.warnings);
    let stored = outbox.entry(&sale_id).await.expect("outbox").expect("stored");
    assert_eq!(verdict.receipt.expect("summary").record_hash, hex::encode(stored.record_hash), "the same record");
    let after = (outbox.status().await.expect("status"), outbox.next_link().await.expect("link"));
    assert_eq!(before, after, "a reprint stores nothing and takes no chain link");
    assert_eq!(outbox.authorisation_count().await.expect("journal"), journal);

    let unknown = "POS00077-000004-999999";
    let (status, e) = ui.json(ui.get(&format!("/api/reprint/{unknown}/image"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(e["error"], "not_found");
    assert_eq!(e["message_en"], format!("no receipt {unknown} on this terminal"));
    assert!(e["message_zh"].as_str().is_some_and(|m| m.contains(unknown)), "{e}");
}

/// Resend from the reprint screen: the address is checked as the sale's delivery choice is, a
/// pull choice is not sent, and a receipt not uploaded yet is said to be (the platform of this
/// test is unreachable); the platform's answers are the CLI test's (the same service).
#[tokio::test]
async fn resend_from_the_reprint_screen_checks_the_address_and_says_where_the_receipt_is() {
    let ui = ui(false).await;
    let (_, _, sale) = through_the_page(&ui, json!({"amount": "2500"})).await;
    let path = format!("/api/reprint/{}/resend", sale.id);
    let (status, e) = ui.json(ui.post(&path, json!({"channel": "email", "to": "li.na@"}))).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email address")), "{e}");
    let (status, e) = ui.json(ui.post(&path, json!({"channel": "pull", "to": "+8613800138000"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["message_en"].as_str().is_some_and(|m| m.contains("pull")), "{e}");
    let (status, r) = ui.json(ui.post(&path, json!({"channel": "sms", "to": "+86 138 0013 8000"}))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r, json!({"outcome": "not_uploaded", "state": "pending"}));
    let (status, e) = ui
        .json(ui.post("/api/reprint/POS00077-000004-999999/resend", json!({"channel": "sms", "to": "+8613800138000"})))
        .await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{e}");
}
