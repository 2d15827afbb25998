//! The malicious set: content edits (each scored against its ground truth in blocks) and the
//! attacks on the mark itself, the key, the geometry and the receipt's identity.

use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::render::png::decode;
use ereceipt_core::verify::{verify_image, Verification};
use ereceipt_core::watermark::TAG_BLOCK;

use crate::attacks::{self as at, Jpeg, Rect};
use crate::corpus::{self, make, Spec};
use crate::score::{block_iou, truth_blocks, Case, Kind};
use crate::{Ctx, Stored};

/// Rows of the malicious set, in table order.
pub const ROWS: [(&str, Kind); 23] = [
    ("amount digit replaced by another receipt's pixels", Kind::Edit),
    ("amount digit replaced, then JPEG 75 4:2:0", Kind::Edit),
    ("digit strokes recoloured grey 100–150", Kind::Edit),
    ("digit box filled grey 100–150", Kind::Edit),
    ("digit erased (paper over its ink)", Kind::Edit),
    ("copy-move 48×24 between value lines", Kind::Edit),
    ("collage: 64×64 grid block of another receipt", Kind::Edit),
    ("collage: unaligned 96×40 of another receipt", Kind::Edit),
    ("signature swapped (its box pasted from another receipt)", Kind::Edit),
    ("signature swapped (strokes redrawn, paper kept)", Kind::Edit),
    ("another receipt's watermark transplanted", Kind::Malicious),
    ("watermark wiped (paper set to 255)", Kind::Malicious),
    ("amount digit replaced, then watermark wiped", Kind::Malicious),
    ("another receipt's metadata on untouched pixels", Kind::Malicious),
    ("re-signed by a key the CA never issued", Kind::Malicious),
    ("crop 10% of the height at the bottom (64-px rows)", Kind::Malicious),
    ("crop 10% of the width", Kind::Malicious),
    ("crop 10% of the width, padded back with paper", Kind::Malicious),
    ("resize to 2/3, nearest neighbour", Kind::Malicious),
    ("resize to 2/3, bilinear, metadata lost", Kind::Malicious),
    ("replay: another receipt's QR pasted, its metadata", Kind::Malicious),
    ("replay: another receipt's QR pasted, QR scanned", Kind::Malicious),
    ("replay: another receipt's QR pasted, own metadata", Kind::Malicious),
];

fn verify(bytes: &[u8], ctx: &Ctx) -> Verification {
    verify_image(bytes, &ctx.real.ca.cert_der)
}

/// A second genuine receipt that differs from `seed`'s only in one digit of the amount (the
/// yuan units), with the same image size; `None` if no such variant keeps the size.
pub fn amount_variant(seed: u64, ctx: &Ctx, height: u32) -> Option<Canvas> {
    let amount = corpus::amount_of(seed);
    let digit = amount / 100 % 10;
    let leading = amount < 1000;
    [5, 3, 7, 1, 9].into_iter().map(|k| (digit + k) % 10).filter(|&d| !(leading && d == 0)).find_map(|d| {
        let spec = Spec { amount_minor: Some(amount - digit * 100 + d * 100), ..Spec::corpus(seed) };
        let made = make(spec, &ctx.real.terminals[spec.terminal()], &ctx.fonts).ok()?;
        (made.receipt.image.height() == height).then_some(made.receipt.image)
    })
}

/// A second genuine receipt that differs only in the cardholder's signature.
fn signature_variant(seed: u64, ctx: &Ctx, height: u32) -> Option<Canvas> {
    (1..6).find_map(|k| {
        let spec = Spec { signature_seed: seed + k * 1_000_003, ..Spec::corpus(seed) };
        let made = make(spec, &ctx.real.terminals[spec.terminal()], &ctx.fonts).ok()?;
        (made.receipt.image.height() == height).then_some(made.receipt.image)
    })
}

/// `a` with `b`'s pixels pasted over the first of `places` where that changes the content.
fn pasted_where_different(a: &Canvas, b: &Canvas, places: impl IntoIterator<Item = Rect>) -> Option<Canvas> {
    places.into_iter().find_map(|r| {
        let mut e = a.clone();
        at::paste_same_place(&mut e, b, r);
        (!truth_blocks(a, &e).is_empty()).then_some(e)
    })
}

struct Scorer<'a> {
    seed: u64,
    ctx: &'a Ctx,
    original: &'a Canvas,
    qr_text: &'a str,
    cases: Vec<Case>,
}

impl Scorer<'_> {
    /// An edit saved as PNG with the receipt's own text chunk, scored against its truth.
    fn edit(&mut self, row: &'static str, edited: &Canvas) {
        self.edit_as(row, edited, &at::receipt_png(edited, Some(self.qr_text)));
    }

    fn edit_as(&mut self, row: &'static str, edited: &Canvas, bytes: &[u8]) {
        let truth = truth_blocks(self.original, edited);
        assert!(!truth.is_empty(), "{row} on receipt {} changed nothing", self.seed);
        let v = verify(bytes, self.ctx);
        self.cases.push(Case::new(row, self.seed, &v, Some(block_iou(&v, &truth))));
    }

    fn attack(&mut self, row: &'static str, bytes: &[u8]) {
        let v = verify(bytes, self.ctx);
        self.cases.push(Case::new(row, self.seed, &v, None));
    }
}

/// Runs the malicious set on the corpus receipt `corpus[i]`.
pub fn run(i: usize, ctx: &Ctx, corpus: &[Stored]) -> Vec<Case> {
    let me = &corpus[i];
    let (seed, qr_text) = (me.seed, me.qr_text.as_str());
    let a = decode(&me.png).unwrap().canvas;
    let (w, h) = (a.width(), a.height());
    let mut s = Scorer { seed, ctx, original: &a, qr_text, cases: Vec::new() };
    let grey = 100 + (seed * 7 % 51) as u8;

    // The amount digit, found by diffing against the same receipt with another digit.
    let alt = amount_variant(seed, ctx, h).expect("no amount variant of the same size");
    let digit = at::top_cluster(&a, &alt);
    let mut e = a.clone();
    at::paste_same_place(&mut e, &alt, digit);
    s.edit("amount digit replaced by another receipt's pixels", &e);
    s.attack("amount digit replaced, then watermark wiped", &at::receipt_png(&at::wipe_carrier(&e), Some(qr_text)));
    s.edit_as("amount digit replaced, then JPEG 75 4:2:0", &e, &at::jpeg(&e, 75, Jpeg::Rgb420));
    let mut e = a.clone();
    at::recolour_ink(&mut e, digit, grey);
    s.edit("digit strokes recoloured grey 100–150", &e);
    let mut e = a.clone();
    at::fill(&mut e, digit, grey);
    s.edit("digit box filled grey 100–150", &e);
    let mut e = a.clone();
    at::recolour_ink(&mut e, digit, 255);
    s.edit("digit erased (paper over its ink)", &e);

    // Copy-move: the last 48×24 px of one value line onto another that differs there.
    let right = at::right_edge(&a, digit.y);
    let lines = at::value_lines(&a, right, digit.y);
    let n = lines.len();
    assert!(n >= 4, "receipt {seed}: only {n} value lines found");
    let moved = (0..n).map(|k| (k + seed as usize) % n).find_map(|k| {
        let (src, dst) = (lines[k], lines[(k + 1 + seed as usize % 3) % n]);
        let src = Rect { y: src.y.saturating_sub(2), h: 24, ..src };
        let mut e = a.clone();
        at::paste(&mut e, &a, src, src.x, dst.y.saturating_sub(2));
        (!truth_blocks(&a, &e).is_empty()).then_some(e)
    });
    s.edit("copy-move 48×24 between value lines", &moved.expect("no two value lines differ"));

    // Collages from another receipt of the same terminal and paper width.
    let partner = corpus
        .iter()
        .cycle()
        .skip(i + 1)
        .take(corpus.len())
        .find(|o| o.terminal == me.terminal && o.width == me.width && o.height == h && o.seed != seed);
    if let Some(p) = partner {
        let b = decode(&p.png).unwrap().canvas;
        // The block at the digit, or the nearest one on the amount line whose content differs
        // (the partner may print the same digits there).
        let (cx, cy) = (digit.x + digit.w / 2, digit.y + digit.h / 2);
        let bx = cx / TAG_BLOCK;
        let blocks = (0..w / TAG_BLOCK).map(|k| Rect {
            x: k * TAG_BLOCK,
            y: cy / TAG_BLOCK * TAG_BLOCK,
            w: TAG_BLOCK,
            h: TAG_BLOCK,
        });
        let mut blocks: Vec<Rect> = blocks.collect();
        blocks.sort_by_key(|r| (r.x / TAG_BLOCK).abs_diff(bx));
        s.edit(
            "collage: 64×64 grid block of another receipt",
            &pasted_where_different(&a, &b, blocks).expect("the partner's amount line is identical"),
        );
        let off = (seed % 7) as u32;
        let unaligned = (0..w / 96).map(|k| Rect {
            x: (cx + off + k * 96).saturating_sub(48) % (w - 96),
            y: (cy + off).saturating_sub(23),
            w: 96,
            h: 40,
        });
        s.edit(
            "collage: unaligned 96×40 of another receipt",
            &pasted_where_different(&a, &b, unaligned).expect("the partner's amount line is identical"),
        );

        // Replay: the partner's QR code pasted over this receipt's.
        let qr = me.qr.union(p.qr).grown(12, w, h);
        let mut e = a.clone();
        at::paste_same_place(&mut e, &b, qr);
        s.attack("replay: another receipt's QR pasted, its metadata", &at::receipt_png(&e, Some(&p.qr_text)));
        s.attack("replay: another receipt's QR pasted, QR scanned", &at::receipt_png(&e, None));
        s.attack("replay: another receipt's QR pasted, own metadata", &at::receipt_png(&e, Some(qr_text)));
        s.attack("another receipt's metadata on untouched pixels", &at::receipt_png(&a, Some(&p.qr_text)));
    }

    let sig_alt = signature_variant(seed, ctx, h).expect("no signature variant of the same size");
    let sig = at::top_cluster(&a, &sig_alt);
    let mut e = a.clone();
    at::paste_same_place(&mut e, &sig_alt, sig);
    s.edit("signature swapped (its box pasted from another receipt)", &e);
    let mut e = a.clone();
    at::redraw_strokes(&mut e, &sig_alt, sig);
    s.edit("signature swapped (strokes redrawn, paper kept)", &e);

    // Attacks on the mark, the key, the geometry.
    s.attack(
        "another receipt's watermark transplanted",
        &at::receipt_png(&at::transplant_carrier(&a, &alt), Some(qr_text)),
    );
    s.attack("watermark wiped (paper set to 255)", &at::receipt_png(&at::wipe_carrier(&a), Some(qr_text)));
    let t = Spec::corpus(seed).terminal();
    let rogue = make(Spec::corpus(seed), &ctx.rogue.terminals[t], &ctx.fonts).unwrap();
    s.attack("re-signed by a key the CA never issued", &rogue.receipt.png);
    let cut = (h / 10).div_ceil(TAG_BLOCK) * TAG_BLOCK;
    s.attack(
        "crop 10% of the height at the bottom (64-px rows)",
        &at::receipt_png(&at::crop(&a, Rect { x: 0, y: 0, w, h: h - cut }), Some(qr_text)),
    );
    let narrow = Rect { x: 0, y: 0, w: w - w / 10, h };
    s.attack("crop 10% of the width", &at::receipt_png(&at::crop(&a, narrow), Some(qr_text)));
    let mut padded = a.clone();
    at::fill(&mut padded, Rect { x: narrow.w, y: 0, w: w - narrow.w, h }, 255);
    s.edit_as("crop 10% of the width, padded back with paper", &padded, &at::receipt_png(&padded, Some(qr_text)));
    let (w2, h2) = (w * 2 / 3, h * 2 / 3);
    s.attack("resize to 2/3, nearest neighbour", &at::receipt_png(&at::resize_nearest(&a, w2, h2), Some(qr_text)));
    s.attack("resize to 2/3, bilinear, metadata lost", &at::receipt_png(&at::resize_smooth(&a, w2, h2), None));
    s.cases
}
