//! The MMS of a real signed receipt: slides that fit 640×480 unscaled and verify together, no
//! adaptation asked for, and the message under the 100 KB class.

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../receipt-core/tests/fixtures");

fn golden() -> (Vec<u8>, Vec<u8>) {
    let png = std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap();
    let ca = std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).unwrap();
    (png, ereceipt_core::identity::pem_decode(&ca, "CERTIFICATE").unwrap())
}

#[tokio::test]
async fn a_receipt_goes_as_slides_that_verify_together() {
    let mmsc = Mmsc::start(NS, Script::Rsp(1000, "Success")).await;
    let (png, anchor) = golden();
    let out = ReceiptMessage { png: png.clone(), ..outgoing() };
    let (_, body) = sender(&mmsc).submit_req(&out, "t-1");
    sender(&mmsc).send(&out).await.unwrap();
    let got = mmsc.received().remove(0);
    assert_eq!(got.allow_adaptations.as_deref(), Some("false"), "the MMSC is asked not to adapt");

    // Four slides of the 1 728-row slip (448 rows each, the last 384), and not the whole image.
    let locations: Vec<&str> = got.images.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        locations,
        ["R20261125-0001-1.png", "R20261125-0001-2.png", "R20261125-0001-3.png", "R20261125-0001-4.png"]
    );
    assert_eq!(got.smil_images, locations, "one SMIL slide per image, in order");
    assert!(got.text.contains("金额 Amount: CNY 128.50") && got.text.contains("slide 1 of 4"), "{:?}", got.text);

    let slides: Vec<&[u8]> = got.images.iter().map(|(_, b)| b.as_slice()).collect();
    for s in &slides {
        let c = ereceipt_core::render::png::decode(s).unwrap().canvas;
        assert!(c.width() <= 640 && c.height() <= 480, "{}x{} fits Image Rich unscaled", c.width(), c.height());
    }
    let v = ereceipt_core::verify::verify_slides(&slides, &anchor);
    assert_eq!(v.verdict, ereceipt_core::verify::Verdict::Authentic, "{}", v.reason);
    let whole = ereceipt_core::verify::verify_image(&png, &anchor);
    assert_eq!(whole.receipt.map(|r| r.id), v.receipt.map(|r| r.id));

    // What an MMSC's size classes count (the MMS content) and the HTTP body (base64, SOAP).
    assert!(got.content_bytes < 40 * 1024, "MMS content {} bytes", got.content_bytes);
    assert!(body.len() < 100 * 1024, "MM7 body {} bytes", body.len());
}

#[tokio::test]
async fn an_image_that_cannot_be_cut_goes_whole() {
    let mmsc = Mmsc::start(NS, Script::Rsp(1000, "Success")).await;
    sender(&mmsc).send(&outgoing()).await.unwrap();
    let got = mmsc.received().remove(0);
    assert_eq!(got.images.len(), 1);
    assert_eq!(got.smil_images, ["R20261125-0001.png"]);
}
