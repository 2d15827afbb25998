//! Scoring: the ground truth of an edit in 64×64 blocks, block IoU, per-transformation tallies
//! and the Markdown tables docs/tamper-evaluation.md quotes.

use std::collections::BTreeSet;

use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::verify::{Verdict, Verification};
use ereceipt_core::watermark::TAG_BLOCK;

/// What a transformation is expected to do to the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Must stay `Authentic` in every case.
    Benign,
    /// Outside the specification (JPEG below quality 75): counted, not asserted.
    OutOfSpec,
    /// A content edit: must be `Tampered`, with the flagged blocks matching the truth.
    Edit,
    /// Must never be `Authentic`.
    Malicious,
}

/// One verification of one transformed receipt.
#[derive(Clone, Debug)]
pub struct Case {
    pub row: &'static str,
    pub seed: u64,
    pub verdict: Verdict,
    pub feature: u8,
    /// Block IoU of the flagged regions against the truth, for edits.
    pub iou: Option<f64>,
    pub reason: String,
}

impl Case {
    pub fn new(row: &'static str, seed: u64, v: &Verification, iou: Option<f64>) -> Self {
        Self { row, seed, verdict: v.verdict, feature: v.feature, iou, reason: v.reason.clone() }
    }
}

type Block = (u32, u32);

/// The ground truth of an edit: the 64×64 blocks (the verifier's localisation unit) holding at
/// least one changed pixel. The binarised content is signed block by block (tags), and a PNG
/// must show exactly the levels the terminal wrote, so every change, even of the carrier's 3
/// grey levels, is an edit the verifier must flag.
pub fn truth_blocks(original: &Canvas, edited: &Canvas) -> BTreeSet<Block> {
    assert_eq!((original.width(), original.height()), (edited.width(), edited.height()));
    let w = original.width() as usize;
    let mut out = BTreeSet::new();
    for (i, (&a, &b)) in original.pixels().iter().zip(edited.pixels()).enumerate() {
        if a != b {
            out.insert(((i % w) as u32 / TAG_BLOCK, (i / w) as u32 / TAG_BLOCK));
        }
    }
    out
}

/// Intersection over union of the blocks the verifier flagged and the true ones.
pub fn block_iou(v: &Verification, truth: &BTreeSet<Block>) -> f64 {
    let flagged: BTreeSet<Block> = v.regions.iter().map(|r| (r.x / TAG_BLOCK, r.y / TAG_BLOCK)).collect();
    let union = flagged.union(truth).count();
    if union == 0 {
        return 1.0;
    }
    flagged.intersection(truth).count() as f64 / union as f64
}

/// Localisation counts as correct from this IoU on.
pub const IOU_PASS: f64 = 0.8;

/// The tally of one transformation.
pub struct Row {
    pub name: &'static str,
    pub kind: Kind,
    pub cases: Vec<Case>,
}

impl Row {
    fn count(&self, v: Verdict) -> usize {
        self.cases.iter().filter(|c| c.verdict == v).count()
    }
    pub fn authentic(&self) -> usize {
        self.count(Verdict::Authentic)
    }
    /// Edits that are `Tampered` with IoU ≥ [`IOU_PASS`].
    pub fn localised(&self) -> usize {
        self.cases.iter().filter(|c| c.verdict == Verdict::Tampered && c.iou.is_some_and(|i| i >= IOU_PASS)).count()
    }
    /// The cases that break this row's expectation.
    pub fn failures(&self) -> Vec<&Case> {
        self.cases
            .iter()
            .filter(|c| match self.kind {
                Kind::Benign => c.verdict != Verdict::Authentic,
                Kind::OutOfSpec => false,
                Kind::Malicious => c.verdict == Verdict::Authentic,
                Kind::Edit => !(c.verdict == Verdict::Tampered && c.iou.is_some_and(|i| i >= IOU_PASS)),
            })
            .collect()
    }

    fn markdown(&self) -> String {
        let n = self.cases.len();
        let mean_feature = self.cases.iter().map(|c| f64::from(c.feature)).sum::<f64>() / n.max(1) as f64;
        let iou = if self.cases.iter().any(|c| c.iou.is_some()) {
            format!("{:.1}%", 100.0 * self.localised() as f64 / n.max(1) as f64)
        } else {
            "—".into()
        };
        let expect = match self.kind {
            Kind::Benign => "authentic",
            Kind::OutOfSpec => "(out of spec)",
            Kind::Edit => "tampered, IoU ≥ 0.8",
            Kind::Malicious => "not authentic",
        };
        format!(
            "| {} | {expect} | {n} | {} | {} | {} | {mean_feature:.1} | {iou} |",
            self.name,
            self.authentic(),
            self.count(Verdict::Tampered),
            self.count(Verdict::Unverifiable),
        )
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Transformation | Expected | Cases | Authentic | Tampered | Unverifiable | Mean feature | IoU ≥ 0.8 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&r.markdown());
        out.push('\n');
    }
    out
}

/// PSNR of `b` against `a`, in dB (infinite when identical).
pub fn psnr(a: &Canvas, b: &Canvas) -> f64 {
    let mse = a.pixels().iter().zip(b.pixels()).map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2)).sum::<f64>()
        / a.pixels().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// The `p`-th percentile (nearest rank) of `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0 * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}
