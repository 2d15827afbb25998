//! Sample data for the quick start, the tamper-evaluation suite and the benchmarks: plausible
//! handwritten signatures and transactions made from a seed. Test cards only.

use crate::prng::Prng;
use crate::signature::{Signature, SignaturePoint, Stroke};

/// A cursive-looking signature of 2 to 4 strokes, as a finger on a ~600×200 px pad makes it,
/// with 16 ms sampling and varying speed and pressure. The same seed gives the same signature.
pub fn signature(seed: u64) -> Signature {
    let mut rng = Prng::new("ereceipt/sample/signature", &[&seed.to_be_bytes()]);
    let mut unit = move || f64::from(rng.next_byte()) / 255.0;
    let strokes_n = 2 + (unit() * 2.99) as usize;
    let mut strokes = Vec::with_capacity(strokes_n);
    let mut t: u32 = 0;
    let mut x0 = 40.0 + unit() * 40.0;
    for s in 0..strokes_n {
        let points_n = 30 + (unit() * 40.0) as usize;
        let (amp, freq, phase, slope) =
            (25.0 + unit() * 45.0, 0.15 + unit() * 0.25, unit() * std::f64::consts::TAU, unit() * 0.6 - 0.3);
        let step = 4.0 + unit() * 5.0;
        let base_y = 100.0 + (unit() - 0.5) * 40.0;
        let mut points = Vec::with_capacity(points_n);
        for i in 0..points_n {
            let fi = i as f64;
            let x = x0 + fi * step;
            let y = base_y + amp * (fi * freq + phase).sin() * (1.0 - fi / (points_n as f64 * 1.6)) + slope * fi * step;
            let pressure = 0.35 + 0.4 * (fi / points_n as f64 * std::f64::consts::PI).sin().abs();
            points.push(SignaturePoint {
                x: (x * 10.0).round() as i32,
                y: (y * 10.0).round() as i32,
                t,
                pressure: (pressure * 1000.0).round() as u16,
            });
            t += 16;
        }
        x0 += points_n as f64 * step + 15.0 + unit() * 30.0;
        if x0 > 560.0 {
            x0 = 60.0 + s as f64 * 20.0;
        }
        t += 150 + (unit() * 300.0) as u32;
        strokes.push(Stroke { points });
    }
    Signature { started_at_ms: 1_795_000_000_000 + i64::from(t), strokes }
}

/// A transaction JSON at `time` (RFC 3339 with offset) with a Luhn-valid UnionPay test card
/// (clear track 2), for terminals in test-card mode.
pub fn transaction_json(seed: u64, time: &str) -> String {
    let mut rng = Prng::new("ereceipt/sample/transaction", &[&seed.to_be_bytes()]);
    let amount = 100 + rng.next_u64() % 9_999_900;
    let serial = 1 + seed % 999_998;
    let rrn = 100_000_000_000 + rng.next_u64() % 899_999_999_999;
    let auth = format!("{:06X}", rng.next_u64() % 0xFF_FFFF);
    let pan = luhn_complete(&format!("62220202{:010}", rng.next_u64() % 10_000_000_000));
    format!(
        r#"{{"serial":"{serial:06}","batch":"000001","amount_minor":{amount},"currency":"CNY","type":"SALE","time":"{time}","card":{{"track2":";{pan}=29121011234567890?"}},"auth_code":"{auth}","rrn":"{rrn}","operator":"01"}}"#
    )
}

/// Appends the Luhn check digit.
pub fn luhn_complete(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_valid_and_deterministic() {
        assert_eq!(signature(7), signature(7));
        assert_ne!(signature(7), signature(8));
        assert!(crate::card::luhn_valid(&luhn_complete("622202020011223344")));
        let policy = crate::card::CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        for seed in 0..20 {
            crate::txjson::parse_transaction(&transaction_json(seed, "2026-11-25T14:03:11+08:00"), &policy).unwrap();
            signature(seed).check(&crate::signature::SignatureRules::default()).unwrap();
        }
    }
}
