//! Generators of adversarial receipt-sized images: the inputs a forger or a vandal would send to
//! make verification slow (finder-pattern lattices, noise, QR-like blocks, fake symbols where
//! the layout puts the code, images at the largest size a receipt may have).

use ereceipt_core::render::canvas::{Canvas, INK, PAPER};

/// The tallest image the decoder accepts (the policy's `MAX_HEIGHT`).
pub const MAX_HEIGHT: u32 = 4096;

/// A small deterministic generator (SplitMix64), so every run measures the same inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn bit(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// A QR finder pattern of `m`-px modules with its top-left corner at (x, y).
pub fn finder(c: &mut Canvas, x: i64, y: i64, m: i64) {
    c.fill_rect(x, y, 7 * m, 7 * m, INK);
    c.fill_rect(x + m, y + m, 5 * m, 5 * m, PAPER);
    c.fill_rect(x + 2 * m, y + 2 * m, 3 * m, 3 * m, INK);
}

/// Finder patterns of `m`-px modules tiled at `pitch` px over rows `y0..y1`: the security
/// review's H3 image (rqrr tries every pair of them, copying the image each time).
pub fn finder_lattice(w: u32, h: u32, y0: u32, y1: u32, m: i64, pitch: i64) -> Canvas {
    let mut c = Canvas::new(w, h);
    let mut y = i64::from(y0);
    while y + 7 * m <= i64::from(y1) {
        let mut x = 1;
        while x + 7 * m <= i64::from(w) {
            finder(&mut c, x, y, m);
            x += pitch;
        }
        y += pitch;
    }
    c
}

/// The cheapest shape rqrr accepts as a finder: a 7×3 ring around a 3-px stone, one
/// 1:1:3:1:1 row each, `n` of them on a square lattice in the bottom rows. With `n` at the
/// pre-count's limit this is the most rqrr work the fallback lets through.
pub fn flat_finders(w: u32, h: u32, n: usize, pitch: i64) -> Canvas {
    let mut c = Canvas::new(w, h);
    let per_row = ((n as f64).sqrt().ceil() as usize).max(1);
    let top = i64::from(h) - 40 - pitch * (n.div_ceil(per_row) as i64);
    for i in 0..n {
        let (x, y) = (40 + pitch * (i % per_row) as i64, top + pitch * (i / per_row) as i64);
        c.fill_rect(x, y, 7, 3, INK);
        c.fill_rect(x + 1, y + 1, 1, 1, PAPER);
        c.fill_rect(x + 5, y + 1, 1, 1, PAPER);
    }
    c
}

/// Random ink with probability 1/2 per `cell`-px square over the whole image.
pub fn noise(w: u32, h: u32, cell: u32, seed: u64) -> Canvas {
    let mut rng = Rng::new(seed);
    let mut c = Canvas::new(w, h);
    for y in (0..h).step_by(cell as usize) {
        for x in (0..w).step_by(cell as usize) {
            if rng.bit() {
                c.fill_rect(i64::from(x), i64::from(y), i64::from(cell), i64::from(cell), INK);
            }
        }
    }
    c
}

/// Random grey levels in every pixel (what a photo's noise would bring).
pub fn grey_noise(w: u32, h: u32, seed: u64) -> Canvas {
    let mut rng = Rng::new(seed);
    let mut c = Canvas::new(w, h);
    for v in c.pixels_mut() {
        *v = rng.next() as u8;
    }
    c
}

/// A genuine symbol for `text_len` characters whose interior modules (away from the finders,
/// timing and format information) are randomised, drawn at `m` px per module at (x, y): its
/// format is valid, so a decoder goes on to error correction, which fails.
pub fn fake_symbol(c: &mut Canvas, x: i64, y: i64, text_len: usize, m: i64, rng: &mut Rng) -> usize {
    let text: String = (0..text_len).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
    let Ok(q) = ereceipt_core::render::qr::modules(&text) else { return 0 };
    let n = q.size;
    for (i, &dark) in q.dark.iter().enumerate() {
        let (r, col) = (i / n, i % n);
        let interior = (9..n - 9).contains(&r) && (9..n - 9).contains(&col);
        let dark = if interior { rng.bit() } else { dark };
        c.fill_rect(x + col as i64 * m, y + r as i64 * m, m, m, if dark { INK } else { PAPER });
    }
    n
}

/// Modules per side of the symbol for `text_len` characters.
pub fn symbol_size(text_len: usize) -> usize {
    let text: String = (0..text_len).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
    ereceipt_core::render::qr::modules(&text).map_or(0, |q| q.size)
}

/// Fake symbols centred where the slip draws its code, stacked up from the bottom: each passes
/// the locator's checks and reaches error correction, which fails.
pub fn fake_symbols_centred(w: u32, h: u32, text_len: usize, m: i64, count: usize, seed: u64) -> Canvas {
    let mut rng = Rng::new(seed);
    let mut c = Canvas::new(w, h);
    let span = symbol_size(text_len) as i64 * m;
    let x = (i64::from(w) - span) / 2;
    for i in 0..count as i64 {
        let y = i64::from(h) - 40 - (i + 1) * (span + 8 * m);
        fake_symbol(&mut c, x, y, text_len, m, &mut rng);
    }
    c
}

/// Genuine-looking QR blocks (small symbols of 1-px modules) tiled over the bottom rows.
pub fn qr_block_tiles(w: u32, h: u32, text_len: usize, seed: u64) -> Canvas {
    let mut rng = Rng::new(seed);
    let mut c = Canvas::new(w, h);
    let pitch = symbol_size(text_len) as i64 + 4;
    let mut y = i64::from(h) - (i64::from(w) + i64::from(w) / 2);
    while y + pitch <= i64::from(h) {
        let mut x = 2;
        while x + pitch <= i64::from(w) {
            fake_symbol(&mut c, x, y, text_len, 1, &mut rng);
            x += pitch;
        }
        y += pitch;
    }
    c
}

/// Rows that each look like a symbol's top edge to the locator (centred ink starting and
/// ending with a 7-module run, paper above), every other row over the bottom of the image.
pub fn top_edge_rows(w: u32, h: u32, size: i64, m: i64) -> Canvas {
    let mut c = Canvas::new(w, h);
    let span = size * m;
    let x = (i64::from(w) - span) / 2;
    let mut y = i64::from(h) - 2;
    while y > i64::from(h) - 1000 {
        c.fill_rect(x, y, 7 * m, 1, INK);
        c.fill_rect(x + span - 7 * m, y, 7 * m, 1, INK);
        y -= 2;
    }
    c
}
