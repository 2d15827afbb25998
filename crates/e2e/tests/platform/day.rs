//! Issue 13's cashier's day, end to end in one headless Chromium: the cashier signs in (签到),
//! sells twice (消费), voids one sale (消费撤销), refunds part of the other (退货), makes a
//! pre-authorisation (预授权) and completes it (预授权完成), and settles (结算); every
//! receipt reaches the platform; the merchant signs in to the portal in the same browser and
//! sees each sale with its linked receipts and net amount, and the settled batch with its
//! signed slip, reconciled as balanced against the receipts the platform holds.

use ereceipt_core::model::{ReceiptRecord as Record, TransactionType};
use ereceipt_terminal::ui::UiConfig;

use crate::helpers::{demo_ui, Db, TestPlatform};
use crate::portal::staff::add_user;
use crate::ui::{open_ui, screenshots, sell_and_sign, settle_lines, swipe_and_sign, WAIT};

const MERCHANT: &str = "104110070110013";

#[tokio::test]
async fn a_cashiers_day_from_sign_in_to_settlement_reconciles_on_the_platform() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let terminal = platform.terminal_for("T0001313", MERCHANT, "Harbour Books 海港书店").await;
    let outbox = &terminal.uploader.outbox;
    let ui = open_ui(UiConfig { operator: None, ..demo_ui(terminal.device.clone()) }).await;
    let (b, ui_url) = (&ui.browser, ui.url.clone());
    let finish = |to: &'static str| async move {
        b.click("input[name=channel][value=pull]").await.unwrap();
        b.fill("#recipient", to).await.unwrap();
        b.click("#send").await.unwrap();
        b.wait_for_text("#result-state", "ready to download", WAIT).await.unwrap();
        let id = b.text("#result-id").await.unwrap().trim().to_owned();
        let entry = outbox.entry(&id).await.unwrap().expect("stored");
        ereceipt_core::encoding::decode_record(&entry.record).unwrap()
    };
    let pick = |op: &'static str| async move {
        b.click("#new-sale").await.unwrap();
        b.click(&format!("input[name=operation][value={op}]")).await.unwrap();
    };
    let key = |digits: &'static str| async move {
        for d in digits.chars() {
            b.click(&format!("[data-key='{d}']")).await.unwrap();
        }
    };
    let date_of = |r: &Record| r.transaction.time.local().date_naive().to_string();

    // 签到.
    b.goto(&ui_url).await.unwrap();
    b.wait_for("body[data-ready=true]", WAIT).await.unwrap();
    b.fill("#operator", "07").await.unwrap();
    b.click("#operator-sign-in").await.unwrap();
    b.wait_for_text("#operator-line", "Operator 07", WAIT).await.unwrap();

    // 消费 twice; 消费撤销 of the first.
    sell_and_sign(b, &ui_url, "12850", false).await;
    let first = finish("+86 137 0013 1301").await;
    assert_eq!(first.transaction.operator.as_str(), "07", "the signed-in operator is on the receipt");
    sell_and_sign(b, &ui_url, "12850", false).await;
    let second = finish("+86 137 0013 1302").await;
    pick("void").await;
    b.fill("#orig-voucher", &format!("{:06}", first.transaction.voucher.value())).await.unwrap();
    b.click("#amount-next").await.unwrap();
    b.wait_for_text("#swipe-amount", "VOID", WAIT).await.unwrap();
    swipe_and_sign(b, false).await;
    let void = finish("+86 137 0013 1301").await;
    assert_eq!(void.transaction.kind, TransactionType::Void);

    // 退货 of 30.00 of the second.
    pick("refund").await;
    b.fill("#orig-rrn", second.transaction.rrn.as_str()).await.unwrap();
    b.execute(&format!("document.getElementById('orig-date').value = '{}';", date_of(&second)), vec![]).await.unwrap();
    key("3000").await;
    b.click("#amount-next").await.unwrap();
    b.wait_for_text("#swipe-amount", "REFUND", WAIT).await.unwrap();
    swipe_and_sign(b, false).await;
    let refund = finish("+86 137 0013 1302").await;
    assert_eq!((refund.transaction.kind, refund.transaction.amount.minor()), (TransactionType::Refund, 3_000));

    // 预授权 of 200.00, then 预授权完成 of 210.00 by its authorisation code and date.
    pick("pre-auth").await;
    key("20000").await;
    b.click("#amount-next").await.unwrap();
    swipe_and_sign(b, false).await;
    let pre_auth = finish("+86 137 0013 1303").await;
    assert_eq!(pre_auth.transaction.kind, TransactionType::PreAuth);
    pick("completion").await;
    b.fill("#orig-auth", pre_auth.transaction.auth_code.as_str()).await.unwrap();
    b.execute(&format!("document.getElementById('orig-date').value = '{}';", date_of(&pre_auth)), vec![])
        .await
        .unwrap();
    key("21000").await;
    b.click("#amount-next").await.unwrap();
    swipe_and_sign(b, false).await;
    let completion = finish("+86 137 0013 1303").await;
    assert_eq!(completion.transaction.kind, TransactionType::PreAuthCompletion);
    let named = completion.transaction.original.clone().expect("names its pre-authorisation");
    assert_eq!(named.receipt_id, Some(pre_auth.id.clone()));

    // 结算: the terminal's lines, the host's answer, the signed slip, uploaded and reconciled.
    b.click("#new-sale").await.unwrap();
    b.click("#settle-open").await.unwrap();
    let batch = first.transaction.batch.value();
    b.wait_for_text("#settle-batch", &format!("batch {batch:06}"), WAIT).await.unwrap();
    let lines = settle_lines(b).await;
    let line = |kind: &str, total: &str| lines.iter().any(|l| l.starts_with(&format!("{kind} ")) && l.contains(total));
    assert!(line("SALE", "257.00"), "two sales: {lines:?}");
    assert!(line("VOID", "128.50") && line("REFUND", "30.00"), "{lines:?}");
    assert!(line("PRE-AUTH", "200.00") && line("PRE-AUTH COMPLETION", "210.00"), "{lines:?}");
    b.click("#settle-confirm").await.unwrap();
    let state = b.wait_for_text("#settle-state", "Settled", WAIT).await.unwrap();
    assert!(state.contains("balanced") && !state.contains("NOT"), "{state}");
    b.wait_for(&format!("#settle-image[data-loaded='{batch:06}']"), WAIT).await.unwrap();
    b.wait_for_text("#settle-upload", "Uploaded: platform reconciliation balanced", WAIT).await.unwrap();
    // Every receipt of the day is on the platform.
    for r in [&first, &second, &void, &refund, &pre_auth, &completion] {
        assert!(platform.state.store.receipt(r.id.as_str()).await.unwrap().is_some(), "{} uploaded", r.id);
    }

    // The merchant's portal, in the same browser.
    let url = |path: &str| format!("{}{path}", platform.url);
    let (password, mut auth) =
        add_user(&platform, serde_json::json!({"username": "books.day", "role": "merchant", "merchant_id": MERCHANT}))
            .await;
    b.goto(&url("/lang?to=en&back=/staff/login")).await.unwrap();
    b.wait_for("#username", WAIT).await.unwrap();
    b.fill("#username", "books.day").await.unwrap();
    b.fill("#password", &password).await.unwrap();
    b.fill("#totp", &auth.code()).await.unwrap();
    b.click("#sign-in").await.unwrap();
    b.wait_for("#f-rrn", WAIT).await.unwrap();
    auth.accepted();

    // The voided sale nets to zero; the refunded one to 98.50; the completion stands whole.
    let page = |r: &Record| url(&format!("/merchant/receipts/{}", r.id));
    b.goto(&page(&first)).await.unwrap();
    let children = b.wait_for_text("#lineage", "Void", WAIT).await.unwrap();
    assert!(children.contains("-128.50") && children.contains("verified"), "{children}");
    assert_eq!(b.attr("#net", "data-minor").await.unwrap().as_deref(), Some("0"));
    b.goto(&page(&second)).await.unwrap();
    let children = b.wait_for_text("#lineage", "Refund", WAIT).await.unwrap();
    assert!(children.contains("-30.00") && children.contains("verified"), "{children}");
    assert_eq!(b.attr("#net", "data-minor").await.unwrap().as_deref(), Some("9850"));
    b.goto(&page(&completion)).await.unwrap();
    b.wait_for("#link-state[data-state=verified]", WAIT).await.unwrap();
    let original = b.attr("#lineage a.original", "href").await.unwrap().unwrap_or_default();
    assert!(original.ends_with(&format!("/merchant/receipts/{}", pre_auth.id)), "{original}");

    // The settled batch: its slip beside the receipts held, balanced.
    b.goto(&url("/merchant/batches")).await.unwrap();
    let row = format!("#batches tr[data-batch='T0001313-{batch:06}']");
    b.wait_for(&row, WAIT).await.unwrap();
    let cell = b.text(&format!("{row} .reconciliation")).await.unwrap();
    assert_eq!(cell.trim(), "Balanced", "{cell}");
    b.goto(&url(&format!("/merchant/batches/T0001313/{batch:06}"))).await.unwrap();
    b.wait_for("#reconciliation[data-balanced=true]", WAIT).await.unwrap();
    let slip_width = b.execute("return document.getElementById('slip').naturalWidth;", vec![]).await.unwrap();
    assert!(slip_width.as_u64().is_some_and(|w| w >= 384), "the slip image is shown: {slip_width}");
    let held = b.execute("return document.querySelectorAll('#batch-receipts tbody tr').length;", vec![]).await.unwrap();
    assert_eq!(held.as_u64(), Some(6), "the day's six receipts beside the slip");
    let fits = b.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    assert_eq!(fits.as_bool(), Some(true), "the batch page fits the phone's width, the slip with it");
    b.screenshot(screenshots().join("portal-batch.png")).await.unwrap();
    ui.finish().await;
}
