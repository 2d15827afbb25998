//! The receipts under test: a real CA, a few terminals (Chinese and Latin merchant names), and
//! receipts composed from seeded sample transactions and signatures, plus the variants the
//! attacks need (another amount, another signature, a key the CA never issued).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::{build_record, compose_receipt, slip_view, ComposedReceipt, Sale};
use ereceipt_core::identity::{create_ca, issue_terminal, CertifiedKey, Signer};
use ereceipt_core::model::TerminalInfo;
use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::render::slip::{compose_slip, Fonts, SlipWidth};
use ereceipt_core::{render, samples, signature, txjson};

/// The font every slip is drawn with (the one `scripts/install-deps` installs).
const FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// Merchant name and address of each test terminal.
const MERCHANTS: [(&str, &str); 4] = [
    ("深圳湾咖啡", "深圳市南山区科技园"),
    ("Shenzhen Bay Coffee Roasters", "No. 10 Keyuan Road, Nanshan, Shenzhen"),
    ("上海便利店 Lawson", "上海市徐汇区漕溪北路 88 号"),
    ("北京烤鸭老字号餐厅有限公司朝阳门分店", "北京市东城区朝阳门内大街 199 号"),
];

pub fn fonts() -> Fonts {
    let bytes = std::fs::read(FONT).unwrap_or_else(|e| {
        panic!("the tamper suite needs the WenQuanYi Micro Hei font at {FONT} ({e}): run scripts/install-deps")
    });
    Fonts::from_bytes(vec![(FONT.into(), bytes, 0)]).unwrap()
}

/// Certificates are issued well before any sample transaction, valid ten years.
fn issued_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn terminal_info(t: usize) -> TerminalInfo {
    let (name, location) = MERCHANTS[t];
    TerminalInfo {
        terminal_id: format!("POS{:05}", t + 1).parse().unwrap(),
        merchant_id: format!("8984403581{:05}", t + 1).parse().unwrap(),
        merchant_name: name.parse().unwrap(),
        location: location.parse().unwrap(),
    }
}

/// A CA and the terminals it issued.
pub struct Authority {
    pub ca: CertifiedKey,
    pub terminals: Vec<Signer>,
}

impl Authority {
    /// `name` is the CA's common name; every terminal of [`MERCHANTS`] gets a certificate.
    pub fn new(name: &str) -> Self {
        let ca = create_ca(name, issued_at()).unwrap();
        let terminals = (0..MERCHANTS.len())
            .map(|t| Signer::new(&issue_terminal(&ca, &terminal_info(t), issued_at(), 3650).unwrap()).unwrap())
            .collect();
        Self { ca, terminals }
    }
}

/// What to compose: the corpus receipt of `seed`, optionally with another amount or signature.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub seed: u64,
    /// Replaces the sample transaction's amount (minor units).
    pub amount_minor: Option<u64>,
    /// Seed of the cardholder's signature (the receipt's own seed by default).
    pub signature_seed: u64,
    /// A refund of an earlier sale (by its RRN) instead of the sample sale.
    pub refund: bool,
}

impl Spec {
    pub fn corpus(seed: u64) -> Self {
        Self { seed, amount_minor: None, signature_seed: seed, refund: false }
    }
    /// One in four receipts per terminal, in turn.
    pub fn terminal(&self) -> usize {
        (self.seed % MERCHANTS.len() as u64) as usize
    }
    /// One receipt in five on 58 mm paper.
    pub fn width(&self) -> SlipWidth {
        if self.seed % 5 == 4 {
            SlipWidth::W384
        } else {
            SlipWidth::W576
        }
    }
}

/// The sample transaction of `seed` as JSON, at a time that varies with the seed.
pub fn transaction_json(seed: u64) -> String {
    let time =
        format!("2026-11-{:02}T{:02}:{:02}:{:02}+08:00", 1 + seed % 28, 8 + seed % 12, seed * 7 % 60, seed * 13 % 60);
    samples::transaction_json(seed, &time)
}

/// The sample amount of `seed` (minor units).
pub fn amount_of(seed: u64) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&transaction_json(seed)).unwrap();
    v["amount_minor"].as_u64().unwrap()
}

/// A composed receipt and the time composing it took (record, render, sign, watermark, PNG).
pub struct Made {
    pub receipt: ComposedReceipt,
    pub create_time: Duration,
}

/// Composes the receipt of `spec`; the error is the core's reason for refusing it.
pub fn make(spec: Spec, signer: &Signer, fonts: &Fonts) -> Result<Made, String> {
    let mut tx: serde_json::Value = serde_json::from_str(&transaction_json(spec.seed)).unwrap();
    if let Some(a) = spec.amount_minor {
        tx["amount_minor"] = a.into();
    }
    if spec.refund {
        tx["type"] = "REFUND".into();
        tx["original"] = serde_json::json!({"rrn": "332914500042", "date": "2026-10-31"});
    }
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let (transaction, _card) = txjson::parse_transaction(&tx.to_string(), &policy).unwrap();
    let start = Instant::now();
    let sale = Sale { transaction, signature: samples::signature(spec.signature_seed), chain: None };
    let record = build_record(sale, signer).unwrap();
    let receipt = compose_receipt(record, signer, fonts, spec.width()).map_err(|e| e.to_string())?;
    Ok(Made { receipt, create_time: start.elapsed() })
}

/// The slip exactly as composed but without the watermark.
pub fn unwatermarked(receipt: &ComposedReceipt, fonts: &Fonts, width: SlipWidth) -> Canvas {
    let record = &receipt.record;
    let draw = |w, h| signature::render(&record.signature, w, h, &Default::default());
    let modules = render::qr::modules(&receipt.qr_text).unwrap();
    compose_slip(&slip_view(record), fonts, width, &draw, &modules).unwrap()
}
