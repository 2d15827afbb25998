//! The tamper-evident watermark (T5, P5). It carries the terminal's Ed25519 signature over the
//! receipt's binarised content, plus a 12-bit tag per 64×64 block for localisation, in the
//! grey level of blank 8×8 blocks: a blank block is left at paper white (bit 0) or lowered by
//! [`AMPLITUDE`] (bit 1). Blocks are aligned with JPEG's 8×8 grid, and a flat block survives
//! JPEG exactly (only its DC coefficient is non-zero), so the mark survives recompression while
//! any change of content breaks the signature. Bytes travel in horizontal strips of eight
//! blocks; strips are shuffled by a public pseudo-random permutation seeded by the record hash
//! and protected by Reed-Solomon codes, with strips that hold ink treated as erasures.
//!
//! Verification needs only the image, the record hash (from the signed QR) and the terminal's
//! certificate: it yields a feature value (how far the pixels stray from what the authenticated
//! content predicts) that is compared with the threshold of the file's format ([`Tolerance`]:
//! none for lossless files, the JPEG noise its own quantisation tables allow for JPEG).

mod banded;
mod erasure;
mod plan;
mod scan;
mod tolerance;

use crate::identity::{PosCertificate, Signer};
use crate::render::canvas::Canvas;
use crate::render::decode::LosslessScan;
pub use banded::{banded_threshold, extract_banded, Band};
use plan::Plan;
use scan::Content;
pub use tolerance::{Tolerance, FLAT_LIMIT, JPEG_THRESHOLD, PIXEL_LIMIT};

/// Size of a carrier unit: one JPEG block.
pub const UNIT: u32 = 8;
/// Units per strip: one strip carries one byte.
const STRIP_UNITS: u32 = 8;
/// Side of a localisation block.
pub const TAG_BLOCK: u32 = 64;
/// Grey levels a blank unit is lowered by to carry a 1.
pub const AMPLITUDE: u8 = 3;
/// The largest deviation (grey levels) of any pixel from the authenticated content that a JPEG
/// may show: the last of its bounds ([`Tolerance`] has them all; a PNG must show none).
pub const THRESHOLD: u8 = PIXEL_LIMIT;
/// Ed25519 signature length.
const SIG_LEN: usize = 64;
/// Bits of each block's tag: a changed block escapes localisation with probability 2^-12.
const TAG_BITS: usize = 12;
/// Parity kept beyond the erasures, in percent of all strips, and at least per codeword.
const SPARE_PERCENT: usize = 15;
const MIN_SPARE: usize = 8;

/// Which print of a receipt an image is. The watermark's signature says it (it is signed under
/// its own domain), so a verifier tells a reprint from the first print, and no one without the
/// terminal's key can turn one into the other: the reprint's banner is content like any other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Print {
    /// The receipt as first printed.
    #[default]
    Original,
    /// A reprint (重打印凭证 / DUPLICATE): a new image over the same signed record, never a
    /// second receipt.
    Duplicate,
    /// A settlement slip (结算单): not a receipt at all, signed under its own domain so that
    /// neither can ever pass for the other.
    Settlement,
}

/// The prints a receipt image may be.
pub const RECEIPT_PRINTS: [Print; 2] = [Print::Original, Print::Duplicate];

/// Why a watermark cannot be embedded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatermarkError {
    /// The canvas holds grey pixels; the watermark is embedded into bilevel content only.
    #[error("cannot watermark: the image is not bilevel (pixel {0} is grey)")]
    NotBilevel(usize),
    /// The image size is not a multiple of the localisation block.
    #[error("cannot watermark a {0}x{1} image: width and height must be multiples of {TAG_BLOCK}")]
    Size(u32, u32),
    /// The image has too little blank space to carry the mark with enough redundancy.
    #[error("cannot watermark: only {have} blank strips for {need} (the receipt is too dense)")]
    Capacity { have: usize, need: usize },
}

/// A pixel rectangle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// What the extraction found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extraction {
    /// No carrier signal: the image was never watermarked or the mark was wiped.
    Absent,
    /// A mark is there but cannot be read back (too damaged, or not made for this record).
    Unreadable,
    /// The payload was read back.
    Read(Inspection),
}

/// The result of checking a readable watermark against the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// The terminal's signature over this image's content and the record verifies.
    pub signature_valid: bool,
    /// For a lossless file the largest deviation (grey levels) of any pixel from the
    /// authenticated content; for a JPEG the largest share (percent) of its tolerance any 8×8
    /// block uses. 255 when the content itself differs from what was signed.
    pub feature: u8,
    /// The preset threshold of the feature value for this file's format.
    pub threshold: u8,
    /// Blocks whose tag no longer matches or whose pixels exceed the tolerance.
    pub regions: Vec<Region>,
    /// The valid signature says the image is a duplicate copy ([`Print::Duplicate`]).
    pub duplicate: bool,
}

impl Inspection {
    /// The patent's rule: untampered when the feature value is at or below the threshold, here
    /// together with a valid signature over the content.
    pub fn authentic(&self) -> bool {
        self.signature_valid && self.feature <= self.threshold
    }
}

/// SHA-256 of the binarised image: what the watermark's signature covers.
pub fn content_hash(img: &Canvas) -> [u8; 32] {
    Content::of(img).hash()
}

fn pack_tags(tags: &[u16]) -> Vec<u8> {
    let mut out = vec![0u8; (tags.len() * TAG_BITS).div_ceil(8)];
    for (i, &t) in tags.iter().enumerate() {
        for b in 0..TAG_BITS {
            if t >> (TAG_BITS - 1 - b) & 1 == 1 {
                let bit = i * TAG_BITS + b;
                out[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
    }
    out
}

fn unpack_tags(bytes: &[u8], n: usize) -> Vec<u16> {
    (0..n)
        .map(|i| {
            (0..TAG_BITS).fold(0u16, |t, b| {
                let bit = i * TAG_BITS + b;
                (t << 1) | u16::from(bytes.get(bit / 8).is_some_and(|&v| v & (0x80 >> (bit % 8)) != 0))
            })
        })
        .collect()
}

fn signed_message(plan: &Plan, record_hash: &[u8; 32], content: &[u8; 32], tags: &[u8], print: Print) -> Vec<u8> {
    let mut m = match print {
        Print::Original => b"ereceipt/watermark/v1\0".to_vec(),
        Print::Duplicate => b"ereceipt/watermark/v1/duplicate\0".to_vec(),
        Print::Settlement => b"ereceipt/watermark/v1/settlement\0".to_vec(),
    };
    m.extend_from_slice(record_hash);
    m.extend_from_slice(&plan.width.to_be_bytes());
    m.extend_from_slice(&plan.height.to_be_bytes());
    m.extend_from_slice(content);
    m.extend_from_slice(tags);
    m
}

/// The print of `prints` whose signature `signature` is over the content, or `None` when it is
/// none of theirs.
fn signed_print(
    plan: &Plan,
    record_hash: &[u8; 32],
    content: &[u8; 32],
    tags: &[u8],
    signature: &[u8],
    cert: &PosCertificate,
    prints: &[Print],
) -> Option<Print> {
    prints
        .iter()
        .copied()
        .find(|&p| cert.verify(&signed_message(plan, record_hash, content, tags, p), signature).is_ok())
}

/// Embeds the watermark into a bilevel rendering of the receipt whose canonical record hashes
/// to `record_hash`, signing with the terminal's key.
pub fn embed(img: &mut Canvas, record_hash: &[u8; 32], signer: &Signer) -> Result<(), WatermarkError> {
    embed_print(img, record_hash, signer, Print::Original)
}

/// [`embed`] for a given print: a duplicate copy's mark says it is one.
pub fn embed_print(
    img: &mut Canvas,
    record_hash: &[u8; 32],
    signer: &Signer,
    print: Print,
) -> Result<(), WatermarkError> {
    if let Some(i) = first_grey(img.pixels()) {
        return Err(WatermarkError::NotBilevel(i));
    }
    let plan =
        Plan::new(img.width(), img.height(), record_hash).ok_or(WatermarkError::Size(img.width(), img.height()))?;
    let content = Content::of(img);
    let blank = content.blank_strips(&plan);
    // Non-blank strips are erasures. Each codeword must keep spare parity for errors after its
    // erasures: pasted pixels of another receipt carry foreign bits, and each such error costs
    // two parity symbols.
    let order = plan.interleave();
    let mut erased = vec![0usize; plan.codewords.len()];
    for (g, &(j, _)) in order.iter().enumerate() {
        erased[j] += usize::from(!blank[plan.placement[g]]);
    }
    let spare: Vec<usize> = plan.codewords.iter().zip(&erased).map(|(&(n, k), &e)| (n - k).saturating_sub(e)).collect();
    if spare.iter().sum::<usize>() * 100 < plan.strips() * SPARE_PERCENT || spare.iter().any(|&s| s < MIN_SPARE) {
        let have = blank.iter().filter(|&&b| b).count();
        let need = plan.payload_len() + plan.strips() * SPARE_PERCENT / 100;
        return Err(WatermarkError::Capacity { have, need });
    }
    let tag_bytes = pack_tags(&content.tags(&plan, record_hash));
    let signature = signer.sign(&signed_message(&plan, record_hash, &content.hash(), &tag_bytes, print));
    let payload: Vec<u8> = signature.iter().chain(&tag_bytes).copied().collect();

    let mut coded: Vec<Vec<u8>> = Vec::with_capacity(plan.codewords.len());
    let mut offset = 0;
    // Codewords differ in length by at most one: the generator polynomial of each parity
    // length is built once.
    let mut encoders: Vec<(usize, reed_solomon::Encoder)> = Vec::new();
    for &(n, k) in &plan.codewords {
        let enc = match encoders.iter().position(|(p, _)| *p == n - k) {
            Some(i) => &encoders[i].1,
            None => {
                encoders.push((n - k, reed_solomon::Encoder::new(n - k)));
                &encoders[encoders.len() - 1].1
            }
        };
        coded.push(enc.encode(&payload[offset..offset + k]).to_vec());
        offset += k;
    }
    for (g, &(j, s)) in order.iter().enumerate() {
        let strip = plan.placement[g];
        if blank[strip] {
            paint_strip(img, &plan, strip, coded[j][s] ^ plan.scramble[g]);
        }
    }
    Ok(())
}

/// The index of the first pixel that is neither ink (0) nor paper (255). Blocks of pixels are
/// tested whole first (a branch-free test the compiler vectorises), then the one that fails.
fn first_grey(px: &[u8]) -> Option<usize> {
    let grey = |v: u8| v.wrapping_add(1) > 1;
    let block = px.chunks(256).position(|c| c.iter().fold(false, |any, &v| any | grey(v)))?;
    px[block * 256..].iter().position(|&v| grey(v)).map(|i| block * 256 + i)
}

/// Lowers the units of `strip` whose bit in `byte` is 1 by the amplitude.
fn paint_strip(img: &mut Canvas, plan: &Plan, strip: usize, byte: u8) {
    let w = plan.width as usize;
    let (x0, y0) = plan.strip_origin(strip);
    let px = img.pixels_mut();
    for u in 0..STRIP_UNITS {
        if byte >> (7 - u) & 1 == 1 {
            for y in y0..y0 + UNIT {
                let start = y as usize * w + (x0 + u * UNIT) as usize;
                px[start..start + UNIT as usize].fill(255 - AMPLITUDE);
            }
        }
    }
}

/// Binarises an image (threshold 128): the content the watermark authenticates.
pub fn binarise(img: &Canvas) -> Canvas {
    let px = img.pixels().iter().map(|&v| if v < 128 { 0 } else { 255 }).collect();
    Canvas::from_pixels(img.width(), img.height(), px).unwrap_or_else(|| Canvas::new(img.width(), img.height()))
}

/// Reads the watermark of a (possibly recompressed or edited) greyscale image and checks it
/// against the record hash and the terminal's certificate, measuring the pixels against the
/// tolerance of the format they came in.
pub fn extract(img: &Canvas, record_hash: &[u8; 32], cert: &PosCertificate, tolerance: &Tolerance) -> Extraction {
    extract_prints(img, record_hash, cert, tolerance, &RECEIPT_PRINTS)
}

/// [`extract`] of an image that may only be one of `prints` (a settlement slip's mark is valid
/// only as [`Print::Settlement`], a receipt's only as one of [`RECEIPT_PRINTS`]).
pub fn extract_prints(
    img: &Canvas,
    record_hash: &[u8; 32],
    cert: &PosCertificate,
    tolerance: &Tolerance,
    prints: &[Print],
) -> Extraction {
    let Some(plan) = Plan::new(img.width(), img.height(), record_hash) else {
        return Extraction::Absent;
    };
    // Everything below reads the binarised content through `content`, and grey levels only
    // through the unit sums and the final deviation pass.
    let (content, sums) = Content::with_unit_sums(img);
    read_mark(&plan, &content, &sums, record_hash, cert, tolerance.threshold(), prints, |paper| match *tolerance {
        Tolerance::Exact => scan::block_deviations(img, &plan, paper),
        Tolerance::Jpeg { luma_table } => {
            scan::block_jpeg_scores(img, &content, &plan, paper, &tolerance::JpegModel::new(&luma_table))
        }
    })
}

/// [`extract`] with [`Tolerance::Exact`] from what a lossless file's decoder gathered instead of
/// its canvas (the content, unit sums and extremes): the same answer.
pub fn extract_lossless(scan: LosslessScan, record_hash: &[u8; 32], cert: &PosCertificate) -> Extraction {
    let Some(plan) = Plan::new(scan.width, scan.height, record_hash) else {
        return Extraction::Absent;
    };
    let content = Content::from_ink(scan.width, scan.height, scan.ink);
    let threshold = Tolerance::Exact.threshold();
    read_mark(&plan, &content, &scan.sums, record_hash, cert, threshold, &RECEIPT_PRINTS, |paper| {
        scan::unit_deviations(&scan.levels, &plan, paper)
    })
}

/// Reads the mark from the content and unit sums, and checks it; `deviations` gives each
/// localisation block's feature value given the expected paper level of every unit.
// The two callers differ in every argument but the prints; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn read_mark(
    plan: &Plan,
    content: &Content,
    sums: &[u16],
    record_hash: &[u8; 32],
    cert: &PosCertificate,
    threshold: u8,
    prints: &[Print],
    deviations: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Extraction {
    let blank = content.blank_strips(plan);
    // Strips tile each row of units from the left, so strip s holds units 8s … 8s + 7 of the
    // row-major unit order: no division per unit.
    let unit_index = |strip: usize, u: u32| strip * STRIP_UNITS as usize + u as usize;
    // A unit carries 1 when its mean is below paper white minus half the amplitude.
    let one_below = (UNIT * UNIT) * 255 - (UNIT * UNIT) * u32::from(AMPLITUDE) / 2;
    let order = plan.interleave();
    let mut received: Vec<Vec<u8>> = plan.codewords.iter().map(|c| vec![0u8; c.0]).collect();
    let mut erasures: Vec<Vec<u8>> = plan.codewords.iter().map(|_| Vec::new()).collect();
    let (mut units, mut ones) = (0usize, 0usize);
    for (g, &(j, s)) in order.iter().enumerate() {
        let strip = plan.placement[g];
        if !blank[strip] {
            erasures[j].push(s as u8);
            continue;
        }
        let mut byte = 0u8;
        for u in 0..STRIP_UNITS {
            let bit = u32::from(sums[unit_index(strip, u)]) < one_below;
            byte |= u8::from(bit) << (7 - u);
            units += 1;
            ones += usize::from(bit);
        }
        received[j][s] = byte ^ plan.scramble[g];
    }
    // Scrambled payloads set about half the units; an unmarked image sets almost none.
    if units == 0 || ones * 20 < units {
        return Extraction::Absent;
    }
    let mut payload = Vec::with_capacity(plan.payload_len());
    let mut corrected: Vec<Vec<u8>> = Vec::with_capacity(plan.codewords.len());
    let mut decoder = erasure::Decoder::default();
    for (j, &(n, k)) in plan.codewords.iter().enumerate() {
        if erasures[j].len() > n - k {
            return Extraction::Unreadable;
        }
        match decoder.correct(&received[j], &erasures[j], n - k) {
            Some(word) => {
                payload.extend_from_slice(&word[..k]);
                corrected.push(word);
            }
            None => return Extraction::Unreadable,
        }
    }
    let (signature, tag_bytes) = payload.split_at(SIG_LEN);
    let tags_read = unpack_tags(tag_bytes, plan.tags);
    let digest = content.hash();
    let print = signed_print(plan, record_hash, &digest, tag_bytes, signature, cert, prints);
    let signature_valid = print.is_some();
    // A valid signature covers the content's digest and the tags read, and the tags are a
    // function of that content: the content is the signed one, so its tags are the ones read,
    // and working them out again (a hash per block) could only repeat them. They locate the
    // change when the signature fails.
    let tags_now = if signature_valid { Vec::new() } else { content.tags(plan, record_hash) };

    // The expected image is the authenticated bilevel content plus the re-embedded carrier:
    // paper is expected at white, or lowered in the units whose carrier bit is 1.
    let mut paper = vec![255u8; sums.len()];
    for (g, &(j, s)) in order.iter().enumerate() {
        let strip = plan.placement[g];
        if blank[strip] {
            let byte = corrected[j][s] ^ plan.scramble[g];
            for u in (0..STRIP_UNITS).filter(|u| byte >> (7 - u) & 1 == 1) {
                paper[unit_index(strip, u)] = 255 - AMPLITUDE;
            }
        }
    }
    let deviations = deviations(&paper);
    let mut feature = 0u8;
    let mut regions = Vec::new();
    for (i, &worst) in deviations.iter().enumerate() {
        let tag_differs = tags_now.get(i).is_some_and(|&t| t != tags_read[i]);
        if tag_differs || worst > threshold {
            regions.push(plan.tag_rect(i));
        }
        feature = feature.max(if tag_differs { 255 } else { worst });
    }
    if !signature_valid {
        feature = 255;
    }
    let duplicate = print == Some(Print::Duplicate);
    Extraction::Read(Inspection { signature_valid, feature, threshold, regions, duplicate })
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
