//! Issue 13, "linked on the platform": a terminal's refunds and void of its sales, uploaded, are
//! linked to their originals; the merchant sees each sale with what was given back and its net,
//! the CSV carries the link and the net, a refund above what remains is flagged, and the
//! acquirer's retrieval bundle of the disputed sale carries its linked receipts.

use std::collections::BTreeMap;
use std::io::Read;

use ereceipt_core::model::{Currency, Money, OriginalRef, TransactionType};

use super::staff::{add_user, sign_in};
use super::{upload_all, Db, TestPlatform};
use crate::web::Web;

const MERCHANT: &str = "104110070110005";

#[tokio::test]
async fn refunds_and_a_void_are_linked_to_their_sales_with_net_amounts_csv_and_bundle() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0001301", MERCHANT, "Harbour Books 海港书店").await;
    let now = chrono::Utc::now();
    let cny = |minor| Money::new(minor, Currency::CNY).unwrap();
    let sale = t.sale_edited(now, None, |tx| tx.amount = cny(10_000)).await;
    let other = t.sale_edited(now, None, |tx| tx.amount = cny(2_500)).await;
    let date = sale.record.transaction.time.local().date_naive();
    let by_rrn = |s: &ereceipt_core::compose::ComposedReceipt| OriginalRef {
        receipt_id: None,
        batch: None,
        voucher: None,
        rrn: Some(s.record.transaction.rrn.clone()),
        auth_code: None,
        date,
    };
    let refund = t
        .sale_edited(now, None, |tx| {
            tx.kind = TransactionType::Refund;
            tx.amount = cny(3_000);
            tx.original = Some(by_rrn(&sale));
        })
        .await;
    // More than the 70.00 that remains: stored (the terminal signed it) but flagged.
    let too_much = t
        .sale_edited(now, None, |tx| {
            tx.kind = TransactionType::Refund;
            tx.amount = cny(8_000);
            tx.original = Some(by_rrn(&sale));
        })
        .await;
    let o = &other.record.transaction;
    let void = t
        .sale_edited(now, None, |tx| {
            tx.kind = TransactionType::Void;
            tx.amount = cny(2_500);
            tx.original = Some(OriginalRef {
                receipt_id: Some(other.record.id.clone()),
                batch: Some(o.batch),
                voucher: Some(o.voucher),
                rrn: Some(o.rrn.clone()),
                auth_code: Some(o.auth_code.clone()),
                date,
            });
        })
        .await;
    upload_all(&mut t).await;
    let id = |r: &ereceipt_core::compose::ComposedReceipt| r.record.id.to_string();

    let (password, mut auth) =
        add_user(&platform, serde_json::json!({"username": "books13", "role": "merchant", "merchant_id": MERCHANT}))
            .await;
    let mut web = Web::new(&platform);
    assert_eq!(sign_in(&mut web, "books13", &password, &auth.code()).await.status, 303);
    auth.accepted();

    // The sale's page: its refunds, each with its state, and the net.
    let page = web.get(&format!("/merchant/receipts/{}", id(&sale))).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("id=\"lineage\""), "{html}");
    assert!(html.contains(&format!("data-receipt=\"{}\"", id(&refund))), "the refund is listed: {html}");
    assert!(html.contains(&format!("data-receipt=\"{}\"", id(&too_much))), "the flagged refund too");
    assert!(html.contains("data-minor=\"7000\""), "net 100.00 - 30.00: {html}");
    assert!(html.contains("70.00 CNY"), "{html}");
    assert!(html.contains("-30.00 CNY"), "a refund reads negative");
    assert!(!html.contains(&format!("data-receipt=\"{}\"", id(&void))), "another sale's void is not this one's");

    // The refund's page names its original; the one above what remained says why it is flagged.
    let page = web.get(&format!("/merchant/receipts/{}", id(&refund))).await.text();
    assert!(page.contains("data-state=\"verified\""), "{page}");
    assert!(page.contains(&format!("/merchant/receipts/{}", id(&sale))), "a link to the original");
    let page = web.get(&format!("/merchant/receipts/{}", id(&too_much))).await.text();
    assert!(page.contains("data-state=\"mismatch\"") && page.contains("data-problem=\"over_refunded\""), "{page}");
    // The voided sale nets to zero.
    let page = web.get(&format!("/merchant/receipts/{}", id(&other))).await.text();
    assert!(page.contains("data-minor=\"0\"") && page.contains("0.00 CNY"), "{page}");

    // The list shows kinds and nets; the CSV carries type, signed amount, link and net.
    let list = web.get("/merchant/receipts").await.text();
    assert!(list.contains("退货") || list.contains("Refund"), "{list}");
    let csv = web.get("/merchant/receipts.csv").await.text();
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} column"));
    let rows: BTreeMap<String, Vec<String>> = lines
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(|c| c.trim_matches('"').to_owned()).collect();
            (cells[0].clone(), cells)
        })
        .collect();
    assert_eq!(rows.len(), 5, "{csv}");
    let cell = |r: &ereceipt_core::compose::ComposedReceipt, name: &str| rows[&id(r)][col(name)].clone();
    assert_eq!(cell(&sale, "type"), "SALE");
    assert_eq!(cell(&sale, "net_minor"), "7000");
    assert_eq!(cell(&refund, "type"), "REFUND");
    assert_eq!(cell(&refund, "signed_amount_minor"), "-3000");
    assert_eq!(cell(&refund, "original_receipt_id"), id(&sale));
    assert_eq!(cell(&refund, "link_state"), "verified");
    assert_eq!(cell(&refund, "net_minor"), "");
    assert_eq!(
        (cell(&too_much, "link_state"), cell(&too_much, "link_problem")),
        ("mismatch".into(), "over_refunded".into())
    );
    assert_eq!((cell(&void, "type"), cell(&void, "original_receipt_id")), ("VOID".into(), id(&other)));
    assert_eq!(cell(&other, "net_minor"), "0");

    // The acquirer's bundle of the disputed sale: its refunds under linked/, each with its own
    // evidence, and lineage.json; the whole checks with the CA certificate alone.
    let (password, mut auth) = add_user(&platform, serde_json::json!({"username": "bank13", "role": "acquirer"})).await;
    let mut bank = Web::new(&platform);
    assert_eq!(sign_in(&mut bank, "bank13", &password, &auth.code()).await.status, 303);
    auth.accepted();
    let zip = bank.get(&format!("/acquirer/receipts/{}/bundle.zip", id(&sale))).await;
    assert_eq!(zip.status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes.clone())).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.name().strip_prefix(&format!("{}/", id(&sale))).unwrap().to_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    for r in [&refund, &too_much] {
        assert_eq!(files[&format!("linked/{}/receipt.png", id(r))], r.png, "the refund's signed image");
    }
    let lineage: serde_json::Value = serde_json::from_slice(&files["lineage.json"]).unwrap();
    assert_eq!(lineage["net_minor"], 7000, "{lineage}");
    assert_eq!(lineage["linked"][0]["receipt_id"], id(&refund));
    assert_eq!(lineage["linked"][1]["link_problem"], "over_refunded");
    let ca = ereceipt_core::identity::pem_decode(
        &std::fs::read_to_string(platform.dir.path().join("ca.pem")).unwrap(),
        "CERTIFICATE",
    )
    .unwrap();
    let checked = ereceipt_core::bundle::check(&files, &ca).expect("the bundle checks");
    let linked: Vec<&str> = checked.linked.iter().map(|a| a.receipt_id.as_str()).collect();
    let mut want = vec![id(&refund), id(&too_much)];
    want.sort();
    assert_eq!(linked, want);
}
