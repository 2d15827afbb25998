//! A modified terminal signs with its own genuine key but composes what it likes: every stored
//! and printed field must be bound to the certificate that signed the image, or the upload is
//! refused (422, the field named) and nothing is stored.

use chrono::Utc;
use ereceipt_core::claims::{self, ReceiptClaims};
use ereceipt_core::compose::slip_view;
use ereceipt_core::digest::sha256;
use ereceipt_core::encoding::encode_record;
use ereceipt_core::identity::{issue_terminal, Signer};
use ereceipt_core::model::ReceiptRecord;
use ereceipt_core::render::slip::{compose_slip, SlipWidth};
use ereceipt_core::render::{png, qr};
use ereceipt_core::signature::{self, StrokeStyle};
use ereceipt_core::upload::{Envelope, Payload};
use ereceipt_core::watermark;
use ereceipt_terminal::client::{ClientError, PlatformClient};

use crate::helpers::{fonts, Db, TestPlatform, TestTerminal};

/// What a modified terminal makes with its own key: the record edited by `record`, QR claims
/// derived from it and edited by `claims`, drawn, signed and watermarked as a genuine terminal
/// does. Returns the record's bytes and the PNG.
fn forge(
    signer: &Signer,
    base: &ReceiptRecord,
    record: impl FnOnce(&mut ReceiptRecord),
    claims: impl FnOnce(&mut ReceiptClaims),
) -> (Vec<u8>, Vec<u8>) {
    let mut r = base.clone();
    record(&mut r);
    let bytes = encode_record(&r);
    let hash = sha256(&bytes);
    let mut c = ReceiptClaims::of(&r, hash);
    claims(&mut c);
    let qr_text = claims::seal(&c, signer).unwrap();
    let modules = qr::modules(&qr_text).unwrap();
    let draw = |w: u32, h: u32| signature::render(&r.signature, w, h, &StrokeStyle::default());
    let mut image = compose_slip(&slip_view(&r), &fonts(), SlipWidth::W576, &draw, &modules).unwrap();
    watermark::embed(&mut image, &hash, signer).unwrap();
    (bytes, png::encode(&image, Some(&qr_text)).unwrap())
}

/// Uploads as the terminal itself (its own client certificate); the refusal's status, code
/// and message.
async fn upload(
    platform: &TestPlatform,
    t: &TestTerminal,
    id: &str,
    record: Vec<u8>,
    png: Vec<u8>,
) -> (u16, String, String) {
    let env = Envelope::seal(
        &Payload { record, png, delivery: None },
        &t.terminal_id(),
        id,
        &platform.state.keys.hpke.public_bytes(),
    )
    .unwrap();
    let client = PlatformClient::new(&platform.url, &platform.ca_der(), Some(&t.device.identity().unwrap())).unwrap();
    match client.upload(env.to_bytes()).await {
        Ok(_) => (201, "stored".into(), String::new()),
        Err(ClientError::Refused { status, code, message }) => (status, code, message),
        Err(other) => panic!("expected an HTTP answer, got {other}"),
    }
}

#[tokio::test]
async fn a_terminal_cannot_put_its_receipts_under_another_merchant_or_certificate() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0000501", "104110070110001", "Harbour Books 海港书店").await;
    // The merchant whose name the modified terminal borrows.
    let _other = platform.terminal_for("T0000502", "104110070110999", "Peak Tram Gifts").await;
    let signer = Signer::new(&t.device.identity().unwrap()).unwrap();
    let other_id: ereceipt_core::model::MerchantId = "104110070110999".parse().unwrap();
    let other_name: ereceipt_core::model::MerchantName = "Peak Tram Gifts".parse().unwrap();

    // The record (stored, searched by merchant, used as the SMS sender) names merchant B while
    // the QR claims keep the certificate's merchant A, so the signature and watermark verify.
    let base = t.sale().await.record;
    let own = base.terminal.clone();
    let (record, png) = forge(
        &signer,
        &base,
        |r| {
            r.terminal.merchant_id = other_id.clone();
            r.terminal.merchant_name = other_name.clone();
        },
        |c| {
            c.merchant_id = own.merchant_id.clone();
            c.merchant_name = own.merchant_name.clone();
        },
    );
    let (status, code, msg) = upload(&platform, &t, base.id.as_str(), record, png).await;
    assert_eq!((status, code.as_str()), (422, "unbound"), "{msg}");
    assert!(msg.contains("merchant id"), "{msg}");

    // Claims and record both name merchant B: the QR then disagrees with its own certificate.
    let base = t.sale().await.record;
    let (record, png) = forge(
        &signer,
        &base,
        |r| {
            r.terminal.merchant_id = other_id.clone();
            r.terminal.merchant_name = other_name.clone();
        },
        |c| {
            c.merchant_id = other_id.clone();
            c.merchant_name = other_name.clone();
        },
    );
    let (status, _, msg) = upload(&platform, &t, base.id.as_str(), record, png).await;
    assert_eq!(status, 422, "{msg}");
    assert!(msg.contains("merchant id"), "{msg}");

    // Only the merchant name changed, in record and QR alike.
    let base = t.sale().await.record;
    let (record, png) = forge(
        &signer,
        &base,
        |r| r.terminal.merchant_name = other_name.clone(),
        |c| c.merchant_name = other_name.clone(),
    );
    let (status, _, msg) = upload(&platform, &t, base.id.as_str(), record, png).await;
    assert_eq!(status, 422, "{msg}");
    assert!(msg.contains("merchant name"), "{msg}");

    // The location printed on the slip is not the certificate's.
    let base = t.sale().await.record;
    let (record, png) =
        forge(&signer, &base, |r| r.terminal.location = "99 Fake Rd; geo:1.0,2.0".parse().unwrap(), |_| {});
    let (status, code, msg) = upload(&platform, &t, base.id.as_str(), record, png).await;
    assert_eq!((status, code.as_str()), (422, "unbound"), "{msg}");
    assert!(msg.contains("location"), "{msg}");

    // The QR claims a different amount than the record the platform stores and searches.
    let base = t.sale().await.record;
    let (record, png) = forge(
        &signer,
        &base,
        |_| {},
        |c| c.amount = ereceipt_core::model::Money::new(c.amount.minor() + 1, c.amount.currency()).unwrap(),
    );
    let (status, code, msg) = upload(&platform, &t, base.id.as_str(), record, png).await;
    assert_eq!((status, code.as_str()), (422, "unbound"), "{msg}");
    assert!(msg.contains("amount"), "{msg}");

    // The record carries another certificate of this terminal (made with the CA, never issued
    // by the platform) than the one that signed the QR code.
    let info = t.device.certificate().unwrap().terminal;
    let stray = issue_terminal(&platform.state.keys.ca, &info, Utc::now(), 30).unwrap();
    let base = t.sale().await.record;
    let (record, png) = forge(&signer, &base, |r| r.certificate = stray.cert_der.clone(), |_| {});
    let (status, code, msg) = upload(&platform, &t, base.id.as_str(), record, png).await;
    assert_eq!((status, code.as_str()), (422, "unbound"), "{msg}");
    assert!(msg.contains("certificate"), "{msg}");

    // Nothing was stored: not under this merchant, and not in the other merchant's list.
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 0);
    let theirs = platform.admin_json("/api/v1/receipts?merchant_id=104110070110999").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "{theirs}");

    // The genuine receipts of the same terminal still go through.
    let genuine = t.sale().await;
    let (status, ..) =
        upload(&platform, &t, genuine.record.id.as_str(), genuine.record_bytes.clone(), genuine.png.clone()).await;
    assert_eq!(status, 201);
}
