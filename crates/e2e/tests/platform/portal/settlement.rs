//! Issue 13, settlement: a terminal's batch is settled while one of its receipts is still in the
//! outbox; the merchant's batch pages show the signed slip beside the receipts held and the
//! difference, naming the missing receipt by its place in the chain; after the late upload the
//! batch is balanced. Another merchant's staff cannot open the batch, the acquirer can.

use chrono::Utc;
use ereceipt_core::compose::ComposedReceipt;
use ereceipt_core::identity::Signer;
use ereceipt_core::model::{HostAnswer, LineTally, LocalTime, SettlementSlip, SlipParts};
use ereceipt_core::render::slip::SlipWidth;
use ereceipt_core::settlement::compose_settlement;
use ereceipt_terminal::sync::Step;

use super::staff::{add_user, sign_in};
use super::{Db, TestPlatform};
use crate::helpers::fonts;
use crate::web::Web;

const MERCHANT: &str = "104110070110013";
const OTHER: &str = "104110070110014";

/// The slip of `receipts` (one batch), signed by `signer`.
fn slip_png(signer: &Signer, receipts: &[&ComposedReceipt]) -> Vec<u8> {
    let mut tally = LineTally::default();
    for r in receipts {
        let t = &r.record.transaction;
        tally.add(t.kind, t.card.brand, t.amount);
    }
    let parts = SlipParts {
        terminal: signer.certificate().terminal.clone(),
        batch: receipts[0].record.transaction.batch,
        operator: "01".parse().unwrap(),
        first: receipts.first().map(|r| r.record.transaction.time),
        last: receipts.last().map(|r| r.record.transaction.time),
        settled_at: LocalTime::new(Utc::now().timestamp(), 480).unwrap(),
        host: HostAnswer { domestic_balanced: true, foreign_balanced: true },
    };
    let slip = SettlementSlip::new(parts, tally.into_lines()).unwrap();
    compose_settlement(slip, signer, &fonts(), SlipWidth::W576).unwrap().png
}

async fn staff(platform: &TestPlatform, username: &str, body: serde_json::Value) -> Web {
    let (password, mut auth) = add_user(platform, body).await;
    let mut web = Web::new(platform);
    assert_eq!(sign_in(&mut web, username, &password, &auth.code()).await.status, 303);
    auth.accepted();
    web
}

#[tokio::test]
async fn a_batch_page_names_a_withheld_receipt_until_it_arrives() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0001331", MERCHANT, "Harbour Books 海港书店").await;
    let (a, b, c) = (t.sale().await, t.sale().await, t.sale().await);
    // The first two reach the platform; the third stays in the outbox.
    for _ in 0..2 {
        assert!(matches!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(_)));
    }
    let identity = t.device.identity().unwrap();
    let png = slip_png(&Signer::new(&identity).unwrap(), &[&a, &b, &c]);
    let r = platform
        .client_as(&identity)
        .post(format!("{}/api/v1/terminal/settlements", platform.url))
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = |r: &ComposedReceipt| r.record.id.to_string();
    let batch = format!("{:06}", a.record.transaction.batch.value());
    let page_path = format!("/merchant/batches/T0001331/{batch}");

    let mut web = staff(
        &platform,
        "books13s",
        serde_json::json!({"username": "books13s", "role": "merchant", "merchant_id": MERCHANT}),
    )
    .await;
    let search = web.get("/merchant/receipts").await.text();
    assert!(search.contains("id=\"batches-link\"") && search.contains("href=\"/merchant/batches\""), "{search}");
    let list = web.get("/merchant/batches").await;
    assert_eq!(list.status, 200);
    let html = list.text();
    assert!(html.contains("id=\"batches\""), "{html}");
    assert!(html.contains(&format!("data-batch=\"T0001331-{batch}\"")), "{html}");
    assert!(html.contains(&format!("href=\"{page_path}\"")), "a link to the batch: {html}");
    assert!(html.contains("class=\"reconciliation\"") && html.contains(">1 difference<"), "{html}");

    let page = web.get(&page_path).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(&format!("id=\"slip\" src=\"{page_path}/png\"")), "{html}");
    assert!(html.contains("id=\"reconciliation\" data-balanced=\"false\""), "{html}");
    assert!(html.contains("data-issue=\"missing_receipts\""), "{html}");
    // The withheld receipt is the third of the terminal's chain, after the two held.
    let third = c.record.chain.as_ref().map(|l| l.sequence).expect("chained");
    assert!(html.contains(&format!("data-sequence=\"{third}\"")), "the missing receipt is named: {html}");
    assert!(html.contains("id=\"batch-receipts\"") && html.contains("id=\"slip-lines\""), "{html}");
    assert!(html.contains(&format!("href=\"/merchant/receipts/{}\"", id(&a))), "{html}");
    assert!(html.contains(&id(&b)) && !html.contains(&format!("data-receipt=\"{}\"", id(&c))), "{html}");
    let image = web.get(&format!("{page_path}/png")).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.headers.get("content-type").unwrap(), "image/png");
    assert_eq!(image.bytes, png, "the stored slip, byte for byte");

    // Another merchant's staff: not found, page and image alike; not listed.
    let mut other = staff(
        &platform,
        "other13s",
        serde_json::json!({"username": "other13s", "role": "merchant", "merchant_id": OTHER}),
    )
    .await;
    assert_eq!(other.get(&page_path).await.status, 404);
    assert_eq!(other.get(&format!("{page_path}/png")).await.status, 404);
    assert!(!other.get("/merchant/batches").await.text().contains("T0001331"));

    // The acquirer opens it, with its own receipt links.
    let mut bank = staff(&platform, "bank13s", serde_json::json!({"username": "bank13s", "role": "acquirer"})).await;
    let html = bank.get(&format!("/acquirer/batches/T0001331/{batch}")).await.text();
    assert!(html.contains(&format!("href=\"/acquirer/receipts/{}\"", id(&a))), "{html}");

    // The late receipt: balanced again.
    assert!(matches!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(_)));
    let html = web.get(&page_path).await.text();
    assert!(html.contains("id=\"reconciliation\" data-balanced=\"true\"") && html.contains("Balanced"), "{html}");
    assert!(html.contains(&format!("data-receipt=\"{}\"", id(&c))), "{html}");
    assert!(web.get("/merchant/batches").await.text().contains(">Balanced<"));
}
