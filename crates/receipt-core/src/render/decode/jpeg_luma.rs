//! The luma plane of a grey sequential JPEG in one pass over its entropy coding: luma blocks
//! decoded (Huffman, dequantised, [`jpeg_idct`]) while every chroma block is proven to code
//! nothing ([`jpeg_chroma`]), for the file shapes a terminal or a phone writes. Anything else
//! is declined and takes zune-jpeg, whose pixels these equal (the property tests keep it as
//! the oracle).

use super::jpeg_chroma;
use super::jpeg_huffman::{self, Bits, Table, ADVANCE, ENDS};
use super::jpeg_idct;
use super::jpeg_walk::{JpegFile, ZIGZAG};
use crate::render::canvas::Canvas;

/// What one pass found.
pub(super) enum Luma {
    /// Every chroma block codes nothing: the luma plane is the grey image.
    Plane(Canvas),
    /// A chroma block codes something: the full decode judges the colour.
    ChromaCoded,
    /// Not shown either way (another structure, a code outside its table, a bit too few, a run
    /// past the block): the caller decides as before.
    Declined,
}

/// The luma plane of `file`, which the walk found a sequential file of one scan; only for
/// three components of which the first has the largest sampling factors.
pub(super) fn decode(bytes: &[u8], file: &JpegFile) -> Luma {
    // zune-jpeg takes components named R, G, B for RGB, not YCbCr.
    let rgb = file.components.iter().map(|c| c.id).eq(*b"RGB");
    match (rgb, file.sequential.as_ref()) {
        (false, Some(scan)) if file.components.len() == 3 => luma(bytes, file, scan).unwrap_or(Luma::Declined),
        _ => Luma::Declined,
    }
}

fn luma(bytes: &[u8], file: &JpegFile, scan: &super::jpeg_walk::Sequential) -> Option<Luma> {
    let comps = &file.components;
    let plan = jpeg_chroma::plan(bytes, comps, scan)?;
    let (h, v) = (usize::from(comps[0].h), usize::from(comps[0].v));
    if comps.iter().any(|c| usize::from(c.h) > h || usize::from(c.v) > v) {
        return None;
    }
    let (width, height) = (file.width as usize, file.height as usize);
    let (mcus_x, mcus_y) = (width.div_ceil(8 * h), height.div_ceil(8 * v));
    // The luma table in zigzag order, widened: coefficient k is dequantised by q[k].
    let q: [i32; 64] = std::array::from_fn(|k| i32::from(file.luma_table[ZIGZAG[k]]));
    let order: Vec<Coding> = plan
        .order()
        .map(|(i, dc, ac)| Coding {
            luma: i == 0,
            blocks: usize::from(comps[i].h) * usize::from(comps[i].v),
            dc,
            ac,
            blank: jpeg_huffman::blank_pattern(dc, ac),
        })
        .collect();
    let mut plane = Plane { px: vec![0; width * height], width, height };
    let mut bits = Bits::new(bytes.get(scan.data.clone())?);
    let (mut pred, mut coef, mut out) = (0i32, [0i32; 64], [0u8; 64]);
    for m in 0..mcus_x * mcus_y {
        if m > 0 && scan.restart_interval > 0 && m % scan.restart_interval == 0 {
            bits.restart()?;
            pred = 0;
        }
        let (mx, my) = (m % mcus_x, m / mcus_x);
        for c in &order {
            if !c.luma {
                for _ in 0..c.blocks {
                    // Most chroma blocks are one bit pattern; the rest are walked symbol by symbol.
                    if !c.blank.is_some_and(|p| bits.blank(p)) && !bits.block(c.dc, c.ac)? {
                        return Some(Luma::ChromaCoded);
                    }
                }
                continue;
            }
            for b in 0..c.blocks {
                let (x, y) = (8 * (mx * h + b % h), 8 * (my * v + b / h));
                // Blank paper: the DC prediction unchanged and no AC coefficient.
                if c.blank.is_some_and(|p| bits.blank(p)) {
                    plane.fill(x, y, jpeg_idct::dc_only(pred.wrapping_mul(q[0])));
                } else if luma_block(&mut bits, c.dc, c.ac, &q, &mut pred, &mut coef)? {
                    jpeg_idct::block(&coef, &mut out);
                    coef = [0; 64];
                    plane.put(x, y, &out);
                } else {
                    plane.fill(x, y, jpeg_idct::dc_only(coef[0]));
                }
            }
        }
    }
    Canvas::from_pixels(file.width, file.height, plane.px).map(Luma::Plane)
}

/// How the blocks of one scan component are coded.
struct Coding<'a> {
    /// The frame's first component, the one decoded.
    luma: bool,
    /// Blocks per MCU.
    blocks: usize,
    dc: &'a Table,
    ac: &'a Table,
    /// The bits of a block that codes nothing, if the tables can code one.
    blank: Option<(u64, u32)>,
}

/// Decodes one luma block into `coef` (natural order, dequantised; all zero on entry but the
/// DC, which is overwritten): `Some(true)` if an AC coefficient is not zero. `None` for a code
/// outside its table, a run past the block, or the data ending.
#[inline(always)]
fn luma_block(
    bits: &mut Bits,
    dc: &Table,
    ac: &Table,
    q: &[i32; 64],
    pred: &mut i32,
    coef: &mut [i32; 64],
) -> Option<bool> {
    let (_, diff) = bits.coded(dc)?;
    *pred = pred.wrapping_add(diff);
    coef[0] = pred.wrapping_mul(q[0]);
    let mut k = 1usize;
    let mut any = false;
    loop {
        let (e, value) = bits.coded(ac)?;
        // Only EOB and ZRL code a zero (a magnitude category of 1 or more never does).
        if value == 0 {
            if e & ENDS != 0 {
                return Some(any);
            }
            k += 16;
            if k >= 64 {
                return (k == 64).then_some(any);
            }
            continue;
        }
        let at = k + (e >> ADVANCE & 127) as usize - 1;
        if at >= 64 {
            return None;
        }
        coef[ZIGZAG[at]] = value.wrapping_mul(q[at]);
        any = true;
        k = at + 1;
        if k == 64 {
            return Some(any);
        }
    }
}

/// The luma plane being written, blocks clipped to the image.
struct Plane {
    px: Vec<u8>,
    width: usize,
    height: usize,
}

impl Plane {
    /// Writes the rows of `block` whose top left is (x, y), as far as they lie in the image.
    #[inline(always)]
    fn put(&mut self, x: usize, y: usize, block: &[u8; 64]) {
        if x + 8 <= self.width && y + 8 <= self.height {
            // Inside the image: each row is one eight-byte store.
            for r in 0..8 {
                let at = (y + r) * self.width + x;
                if let (Some(dst), Some(row)) = (self.px.get_mut(at..at + 8), block.get(8 * r..8 * r + 8)) {
                    dst.copy_from_slice(row);
                }
            }
        } else {
            self.put_clipped(x, y, block);
        }
    }

    /// [`Self::put`] of a block across the right or bottom edge.
    #[cold]
    fn put_clipped(&mut self, x: usize, y: usize, block: &[u8; 64]) {
        let w = 8.min(self.width.saturating_sub(x));
        for (r, row) in block.chunks_exact(8).enumerate().take(self.height.saturating_sub(y)) {
            let at = (y + r) * self.width + x;
            if let Some(dst) = self.px.get_mut(at..at + w) {
                dst.copy_from_slice(&row[..w]);
            }
        }
    }

    /// [`Self::put`] of a block of one value.
    #[inline(always)]
    fn fill(&mut self, x: usize, y: usize, value: u8) {
        if x + 8 <= self.width && y + 8 <= self.height {
            for r in 0..8 {
                let at = (y + r) * self.width + x;
                if let Some(dst) = self.px.get_mut(at..at + 8) {
                    dst.copy_from_slice(&[value; 8]);
                }
            }
        } else {
            self.put_clipped(x, y, &[value; 64]);
        }
    }
}
