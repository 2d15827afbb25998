//! Retention in the portal (security review L6): the acquirer puts a disputed receipt on legal
//! hold from its page and releases it; a purge past the retention period keeps the held receipt
//! only; the admin API lists the run.

use ereceipt_platform::services::retention::purge_once;

use super::staff::add_user;
use super::{upload_all, Db, TestPlatform};
use crate::web::Web;

#[tokio::test]
async fn the_acquirer_holds_a_disputed_receipt_past_its_retention_and_releases_it() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0000931", "104110070110009", "Tea House 茶馆").await;
    let disputed = t.sale_to(Some("email:wang.fang@example.com")).await.record.id.to_string();
    let other = t.sale().await.record.id.to_string();
    upload_all(&mut t).await;
    let (password, mut auth) = add_user(&platform, serde_json::json!({"username": "bank", "role": "acquirer"})).await;
    let mut web = Web::new(&platform);
    web.get("/staff/login").await;
    let code = auth.code();
    let p = web.post("/staff/login", &[("username", "bank"), ("password", &password), ("code", &code)]).await;
    assert_eq!(p.status, 303, "{}", p.text());

    let page = format!("/acquirer/receipts/{disputed}");
    let before = web.get(&page).await;
    assert!(before.text().contains("Not held"), "{}", before.text());
    let refused = web.post(&format!("{page}/hold"), &[("reason", "  ")]).await;
    assert_eq!(refused.status, 422, "a hold names its dispute");
    web.get(&page).await;
    let placed = web.post(&format!("{page}/hold"), &[("reason", "Visa dispute 2026-117")]).await;
    assert_eq!((placed.status, placed.location()), (303, Some(page.clone())));
    let held = web.get(&page).await;
    assert!(held.text().contains("On hold") && held.text().contains("Visa dispute 2026-117"), "{}", held.text());
    let api = platform.admin_json(&format!("/api/v1/admin/receipts/{disputed}/hold")).await;
    assert_eq!((api["held_by"].as_str(), api["reason"].as_str()), (Some("bank"), Some("Visa dispute 2026-117")));

    // Six years on, the purge takes the other receipt and keeps the held one.
    let store = &platform.state.store;
    let later = chrono::Utc::now().timestamp_millis() + 6 * 365 * 86_400_000;
    let run = purge_once(store, &platform.state.settings.retention, later).await.unwrap();
    assert_eq!((run.receipts, run.held_kept), (1, 1), "{run:?}");
    assert!(store.receipt(&other).await.unwrap().is_none());
    assert!(store.receipt(&disputed).await.unwrap().is_some());
    let purges = platform.admin_json("/api/v1/admin/purges").await;
    assert_eq!(purges["purges"][0]["receipts"], 1, "{purges}");
    assert_eq!(purges["purges"][0]["held_kept"], 1, "{purges}");

    // The run was six years ahead, so it also purged the acquirer's session (sessions end by
    // time): sign in again before releasing.
    auth.accepted();
    let mut web = Web::new(&platform);
    web.get("/staff/login").await;
    let code = auth.code();
    let p = web.post("/staff/login", &[("username", "bank"), ("password", &password), ("code", &code)]).await;
    assert_eq!(p.status, 303, "{}", p.text());
    web.get(&page).await;

    // Released, it is purged at the next run.
    let released = web.post(&format!("{page}/release"), &[]).await;
    assert_eq!((released.status, released.location()), (303, Some(page.clone())), "{}", released.text());
    let after = web.get(&page).await;
    assert!(after.text().contains("Not held"), "{}", after.text());
    assert_eq!(purge_once(store, &platform.state.settings.retention, later).await.unwrap().receipts, 1);
    assert!(store.receipt(&disputed).await.unwrap().is_none(), "released, it went at the next run");
}
