//! The tamper-evaluation suite (MISSION P5, research/watermark.md §4): composes a corpus of
//! signed, watermarked receipts, puts each through benign and malicious transformations,
//! verifies them against the real CA, prints a Markdown table and asserts the properties.
//!
//! `cargo test --release -p ereceipt-core --test tamper -- --nocapture` prints the table.
//! `TAMPER_RECEIPTS=n` changes the corpus size (default 200). The adversarial and
//! benign-tools sets, made with real tools (Pillow, ImageMagick, optipng, oxipng, pngcrush,
//! cjpeg), are a test of their own: `-- adversarial` (see `adversarial.rs`).

// A test binary: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adversarial;
mod attacks;
mod benign;
mod corpus;
mod malicious;
mod mms;
mod score;
mod tools;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ereceipt_core::render::qr;
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::watermark::binarise;

use attacks::Rect;
use corpus::{make, unwatermarked, Authority, Spec};
use score::{percentile, psnr, Case, Kind, Row};

/// Receipts in the corpus; each gets the whole benign and malicious set.
const DEFAULT_RECEIPTS: usize = 200;
/// Content edits must be localised (tampered, block IoU ≥ 0.8) at least this often. Not 100%:
/// a changed block escapes its 12-bit tag with probability 2^-12 (the edit is still caught by
/// the whole-image signature, but that block is then not flagged).
const MIN_LOCALISED: f64 = 0.99;

/// What every worker shares: fonts, the real CA with its terminals, and a rogue CA.
pub struct Ctx {
    pub fonts: Fonts,
    pub real: Authority,
    pub rogue: Authority,
}

/// A corpus receipt as the malicious set needs it, with its measurements.
pub struct Stored {
    pub seed: u64,
    pub terminal: usize,
    pub width: SlipWidth,
    pub height: u32,
    pub png: Vec<u8>,
    pub qr_text: String,
    /// Where the QR symbol is drawn.
    pub qr: Rect,
    pub create_ms: f64,
    pub verify_ms: f64,
    pub verify_scan_ms: f64,
    pub psnr: f64,
    /// The watermarked image binarises back to the unwatermarked rendering.
    pub bilevel_intact: bool,
    pub benign: Vec<Case>,
}

/// `f(0..n)` on all cores, results in order.
fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get()).min(n.max(1));
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return done;
                        }
                        done.push((i, f(i)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Composes the corpus receipt of `seed` and runs the benign set on it; the error says why the
/// core refused to compose it.
fn compose_and_check_benign(seed: u64, ctx: &Ctx) -> Result<Stored, String> {
    let spec = Spec::corpus(seed);
    let made = make(spec, &ctx.real.terminals[spec.terminal()], &ctx.fonts)
        .map_err(|e| format!("receipt {seed} ({} px): {e}", spec.width().pixels()))?;
    let r = &made.receipt;
    let plain = unwatermarked(r, &ctx.fonts, spec.width());
    let qr = attacks::locate_qr(&r.image, &qr::modules(&r.qr_text).unwrap());
    let (benign, timing) = benign::run(seed, &r.image, &r.png, &r.qr_text, &ctx.real.ca.cert_der);
    Ok(Stored {
        seed,
        terminal: spec.terminal(),
        width: spec.width(),
        height: r.image.height(),
        png: r.png.clone(),
        qr_text: r.qr_text.clone(),
        qr,
        create_ms: made.create_time.as_secs_f64() * 1e3,
        verify_ms: timing.verify_ms,
        verify_scan_ms: timing.verify_scan_ms,
        psnr: psnr(&plain, &r.image),
        bilevel_intact: binarise(&r.image) == plain,
        benign,
    })
}

fn rows(cases: Vec<Case>) -> Vec<Row> {
    let mut rows: Vec<Row> = benign::ROWS
        .iter()
        .chain(&malicious::ROWS)
        .map(|&(name, kind)| Row { name, kind, cases: Vec::new() })
        .collect();
    for c in cases {
        let row = rows.iter_mut().find(|r| r.name == c.row).unwrap_or_else(|| panic!("no row named {}", c.row));
        row.cases.push(c);
    }
    rows
}

fn figures(corpus: &[Stored]) -> String {
    let stat = |v: Vec<f64>| (percentile(&v, 50.0), percentile(&v, 95.0), percentile(&v, 100.0));
    let sizes = |w: SlipWidth| {
        let v: Vec<f64> = corpus.iter().filter(|s| s.width == w).map(|s| s.png.len() as f64 / 1024.0).collect();
        if v.is_empty() {
            return format!("no receipt at {} px", w.pixels());
        }
        let (med, _, max) = stat(v.clone());
        format!("{} receipts at {} px: median {med:.1} KB, max {max:.1} KB", v.len(), w.pixels())
    };
    let psnrs: Vec<f64> = corpus.iter().map(|s| s.psnr).collect();
    let (create, verify, scan) = (
        stat(corpus.iter().map(|s| s.create_ms).collect()),
        stat(corpus.iter().map(|s| s.verify_ms).collect()),
        stat(corpus.iter().map(|s| s.verify_scan_ms).collect()),
    );
    let intact = corpus.iter().filter(|s| s.bilevel_intact).count();
    format!(
        "- PSNR of the watermarked image against the unwatermarked rendering: min {:.2} dB, median {:.2} dB\n\
         - binarised watermarked image identical to the unwatermarked rendering: {intact}/{}\n\
         - PNG size: {}; {}\n\
         - create (record, render, sign, watermark, PNG): median {:.1} ms, p95 {:.1} ms\n\
         - verify, PNG with its text chunk: median {:.1} ms, p95 {:.1} ms; QR scanned from the pixels: \
         median {:.1} ms, p95 {:.1} ms\n\
         (times measured with {} worker threads running side by side)",
        percentile(&psnrs, 0.0),
        percentile(&psnrs, 50.0),
        corpus.len(),
        sizes(SlipWidth::W576),
        sizes(SlipWidth::W384),
        create.0,
        create.1,
        verify.0,
        verify.1,
        scan.0,
        scan.1,
        std::thread::available_parallelism().map_or(2, |p| p.get()),
    )
}

#[test]
fn tamper_evaluation() {
    let started = Instant::now();
    let n: usize = std::env::var("TAMPER_RECEIPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RECEIPTS);
    let ctx = Ctx { fonts: corpus::fonts(), real: Authority::new("Test Root"), rogue: Authority::new("Test Root") };
    let (corpus, refused): (Vec<_>, Vec<_>) =
        par_map(n, |i| compose_and_check_benign(i as u64, &ctx)).into_iter().partition(Result::is_ok);
    let corpus: Vec<Stored> = corpus.into_iter().map(Result::unwrap).collect();
    let refused: Vec<String> = refused.into_iter().filter_map(Result::err).collect();
    let composed = started.elapsed();
    let attacked: Vec<Vec<Case>> = par_map(corpus.len(), |i| malicious::run(i, &ctx, &corpus));
    let cases: Vec<Case> =
        corpus.iter().flat_map(|s| s.benign.iter().cloned()).chain(attacked.into_iter().flatten()).collect();
    let rows = rows(cases);

    println!("\n{}", score::table(&rows));
    println!("{}", figures(&corpus));
    let worst = rows
        .iter()
        .filter(|r| r.kind == Kind::Benign)
        .flat_map(|r| r.cases.iter())
        .max_by_key(|c| c.feature)
        .map_or(String::new(), |c| format!("{} ({}, receipt {})", c.feature, c.row, c.seed));
    println!("- largest feature value on the benign set: {worst}; threshold {}", ereceipt_core::watermark::THRESHOLD);
    println!(
        "- receipts the core refused to compose: {}/{n}{}",
        refused.len(),
        refused.first().map_or(String::new(), |e| format!(", e.g. {e}"))
    );
    println!(
        "- suite: {n} receipts, {} verifications, {:.1} s (corpus and benign set {:.1} s)\n",
        rows.iter().map(|r| r.cases.len()).sum::<usize>(),
        started.elapsed().as_secs_f64(),
        composed.as_secs_f64()
    );

    let mut problems = refused.clone();
    if corpus.len() < DEFAULT_RECEIPTS.min(n) {
        problems.push(format!("only {} receipts in the benign set", corpus.len()));
    }
    for row in &rows {
        let failures = row.failures();
        for c in &failures {
            println!(
                "FAIL {} | receipt seed {} | {:?}, feature {}, IoU {:?}: {}",
                row.name, c.seed, c.verdict, c.feature, c.iou, c.reason
            );
        }
        let ok = match row.kind {
            Kind::Benign | Kind::Malicious => failures.is_empty(),
            Kind::OutOfSpec => true,
            Kind::Edit => row.authentic() == 0 && row.localised() as f64 >= MIN_LOCALISED * row.cases.len() as f64,
        };
        if !ok || row.cases.is_empty() {
            problems.push(format!("{}: {} of {} cases fail", row.name, failures.len(), row.cases.len()));
        }
    }
    for s in &corpus {
        if s.psnr < 40.0 {
            problems.push(format!("receipt {}: PSNR {:.2} dB < 40 dB", s.seed, s.psnr));
        }
        if !s.bilevel_intact {
            problems.push(format!("receipt {}: the watermark changed the binarised content", s.seed));
        }
        if s.width == SlipWidth::W576 && s.png.len() > 30 * 1024 {
            problems.push(format!("receipt {}: PNG of {} bytes > 30 KB", s.seed, s.png.len()));
        }
    }
    assert!(problems.is_empty(), "tamper evaluation failed:\n{}", problems.join("\n"));
}
