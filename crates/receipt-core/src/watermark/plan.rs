//! Where the watermark's bytes go: the strip geometry, the Reed-Solomon codeword sizes, the
//! public placement permutation and the scrambling stream, all derived from the image size and
//! the record hash.

use super::{Region, SIG_LEN, STRIP_UNITS, TAG_BITS, TAG_BLOCK, UNIT};
use crate::prng::Prng;

/// The Reed-Solomon decoder we use keeps polynomials in 256-byte arrays; products of the
/// syndrome and errata locator stay within them only up to ~127 parity symbols.
const MAX_PARITY: usize = 120;

/// Geometry and coding parameters, all derived from the image size and the record hash.
pub(super) struct Plan {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) strips_x: u32,
    pub(super) tags_x: u32,
    pub(super) tags: usize,
    /// Global symbol index → strip index.
    pub(super) placement: Vec<usize>,
    /// (symbols, data bytes) per Reed-Solomon codeword.
    pub(super) codewords: Vec<(usize, usize)>,
    pub(super) scramble: Vec<u8>,
}

impl Plan {
    pub(super) fn new(width: u32, height: u32, record_hash: &[u8; 32]) -> Option<Self> {
        if width == 0 || height == 0 || !width.is_multiple_of(TAG_BLOCK) || !height.is_multiple_of(TAG_BLOCK) {
            return None;
        }
        let strips_x = width / (UNIT * STRIP_UNITS);
        let strips = (strips_x * (height / UNIT)) as usize;
        let tags_x = width / TAG_BLOCK;
        let tags = (tags_x * (height / TAG_BLOCK)) as usize;
        let payload = SIG_LEN + (tags * TAG_BITS).div_ceil(8);
        // Codewords of at most 255 symbols with at most MAX_PARITY parity each.
        let m = strips.div_ceil(255).max(strips.saturating_sub(payload).div_ceil(MAX_PARITY)).max(1);
        let codewords = (0..m)
            .map(|j| (strips / m + usize::from(j < strips % m), payload / m + usize::from(j < payload % m)))
            .collect();
        let dims = [width.to_be_bytes(), height.to_be_bytes()].concat();
        let placement = Prng::new("ereceipt/watermark/placement/v1", &[record_hash, &dims]).permutation(strips);
        let mut ks = Prng::new("ereceipt/watermark/scramble/v1", &[record_hash, &dims]);
        let scramble = (0..strips).map(|_| ks.next_byte()).collect();
        Some(Self { width, height, strips_x, tags_x, tags, placement, codewords, scramble })
    }

    pub(super) fn strips(&self) -> usize {
        self.placement.len()
    }

    pub(super) fn payload_len(&self) -> usize {
        SIG_LEN + (self.tags * TAG_BITS).div_ceil(8)
    }

    /// Symbols are interleaved over codewords: symbol s of codeword j is the (s·m + j)-th
    /// transmitted symbol, so a damaged area spreads its losses over all codewords.
    pub(super) fn interleave(&self) -> Vec<(usize, usize)> {
        let longest = self.codewords.iter().map(|c| c.0).max().unwrap_or(0);
        let mut order = Vec::with_capacity(self.placement.len());
        for s in 0..longest {
            for (j, c) in self.codewords.iter().enumerate() {
                if s < c.0 {
                    order.push((j, s));
                }
            }
        }
        order
    }

    /// Top-left pixel of a strip.
    pub(super) fn strip_origin(&self, strip: usize) -> (u32, u32) {
        let sx = strip as u32 % self.strips_x;
        let sy = strip as u32 / self.strips_x;
        (sx * UNIT * STRIP_UNITS, sy * UNIT)
    }

    pub(super) fn tag_rect(&self, i: usize) -> Region {
        let x = (i as u32 % self.tags_x) * TAG_BLOCK;
        let y = (i as u32 / self.tags_x) * TAG_BLOCK;
        Region { x, y, w: TAG_BLOCK, h: TAG_BLOCK }
    }
}
