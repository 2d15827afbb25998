//! The portal in a real headless Chromium at phone size (360×640): a customer logs in with the
//! texted code and opens a verified receipt; merchant staff sign in with password and TOTP,
//! search by RRN and download the receipt and the CSV export. Screenshots: portal-*.png (with
//! `EReceipt_UPDATE_SCREENSHOTS=1` into docs/screenshots for the README).

use std::path::PathBuf;
use std::time::Duration;

use ereceipt_testkit::{Browser, BrowserOptions};

use super::staff::add_user;
use super::{code_for, upload_all, Db, TestPlatform};

const WAIT: Duration = Duration::from_secs(15);

fn shot(name: &str) -> PathBuf {
    crate::helpers::screenshot_dir().join(format!("portal-{name}.png"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_works_in_chromium_on_a_phone_for_customers_and_merchants() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0001001", "104110070110001", "Harbour Books 海港书店").await;
    let bought = t.sale_to(Some("pull:+8613700137000")).await;
    let other = t.sale().await;
    upload_all(&mut t).await;
    let id = bought.record.id.to_string();
    let downloads = tempfile::tempdir().unwrap();
    let browser = Browser::start(BrowserOptions {
        width: 360,
        height: 640,
        download_dir: Some(downloads.path().to_owned()),
        lang: Some("zh-CN".into()),
    })
    .await
    .unwrap();
    let url = |p: &str| format!("{}{p}", platform.url);

    // The customer: phone number, texted code, the list, the receipt verified.
    browser.goto(&url("/pull")).await.unwrap();
    browser.wait_for("#phone", WAIT).await.unwrap();
    assert!(browser.text("h1").await.unwrap().contains("我的签购单"), "Chinese for a Chinese phone");
    browser.screenshot(shot("1-phone")).await.unwrap();
    browser.fill("#phone", "+8613700137000").await.unwrap();
    browser.click("#send-code").await.unwrap();
    browser.wait_for("#code", WAIT).await.unwrap();
    browser.fill("#code", &code_for(&platform, "+8613700137000").await).await.unwrap();
    browser.screenshot(shot("2-code")).await.unwrap();
    browser.click("#login").await.unwrap();
    browser.wait_for("table.receipts", WAIT).await.unwrap();
    browser.screenshot(shot("3-list")).await.unwrap();
    let listed = browser.text("table.receipts").await.unwrap();
    assert!(listed.contains(&bought.record.transaction.rrn.to_string()), "{listed}");
    assert!(!listed.contains(&other.record.transaction.rrn.to_string()), "only this number's receipts");
    let cookies = browser.cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name == "__Host-ereceipt_pull").expect("session cookie");
    assert!(session.secure && session.http_only && session.same_site.as_deref() == Some("Strict"), "{session:?}");
    browser.click("table.receipts tbody a").await.unwrap();
    browser.wait_for_text("#verdict", "真实", WAIT).await.unwrap();
    assert_eq!(browser.attr("#verdict", "data-verdict").await.unwrap().as_deref(), Some("authentic"));
    browser.screenshot(shot("4-receipt")).await.unwrap();
    browser.click("#download").await.unwrap();
    let png = browser.wait_for_download(|n| n == format!("{id}.png"), WAIT).await.unwrap();
    assert_eq!(std::fs::read(&png).unwrap(), bought.png, "the downloaded file is the signed receipt");
    browser.click("#logout").await.unwrap();
    browser.wait_for("#phone", WAIT).await.unwrap();
    browser.goto(&url("/pull/receipts")).await.unwrap();
    browser.wait_for("#phone", WAIT).await.unwrap();

    // Merchant staff: password + authenticator code, search by RRN, open, export CSV.
    let (password, mut auth) = add_user(
        &platform,
        serde_json::json!({"username": "books", "role": "merchant", "merchant_id": "104110070110001"}),
    )
    .await;
    browser.goto(&url("/lang?to=en&back=/staff/login")).await.unwrap();
    browser.wait_for("#username", WAIT).await.unwrap();
    browser.fill("#username", "books").await.unwrap();
    browser.fill("#password", &password).await.unwrap();
    browser.fill("#totp", &auth.code()).await.unwrap();
    browser.screenshot(shot("5-staff-sign-in")).await.unwrap();
    browser.click("#sign-in").await.unwrap();
    browser.wait_for("#f-rrn", WAIT).await.unwrap();
    auth.accepted();
    browser.fill("#f-rrn", &other.record.transaction.rrn.to_string()).await.unwrap();
    browser.click("#search").await.unwrap();
    // The unfiltered list already shows this RRN: wait for the search's own page.
    let deadline = std::time::Instant::now() + WAIT;
    while !browser.url().await.unwrap().contains("rrn=") {
        assert!(std::time::Instant::now() < deadline, "the search did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.wait_for_text("table.receipts", &other.record.transaction.rrn.to_string(), WAIT).await.unwrap();
    let rows = browser.execute("return document.querySelectorAll('table.receipts tbody tr').length", vec![]).await;
    assert_eq!(rows.unwrap(), serde_json::json!(1), "the RRN finds exactly one receipt");
    browser.screenshot(shot("6-merchant-search")).await.unwrap();
    browser.click("#export").await.unwrap();
    let csv =
        browser.wait_for_download(|n| n.starts_with("receipts-104110070110001") && n.ends_with(".csv"), WAIT).await;
    let csv = std::fs::read_to_string(csv.unwrap()).unwrap();
    assert_eq!(csv.lines().count(), 2, "header + the one match: {csv}");
    assert!(csv.contains(&other.record.id.to_string()));
    browser.click("table.receipts tbody a").await.unwrap();
    browser.wait_for_text("#verdict", "Authentic", WAIT).await.unwrap();
    browser.screenshot(shot("7-merchant-receipt")).await.unwrap();
    browser.close().await.unwrap();
}
