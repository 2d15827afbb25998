//! Choosing the QR mask: the eight mask patterns scored with the `qrcode` crate's penalty rules
//! (its reading of ISO/IEC 18004 §7.8.3, quirks included), but on a plain bitmap instead of
//! its per-module closures, which took most of the time of composing a receipt. The first
//! pattern with the lowest score wins, as in the crate, so the code is the crate's.

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::Color;

/// The crate's order of trial, which decides ties.
const PATTERNS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// The dark modules (row-major, `width`²) of `canvas`, a normal (not Micro) QR code with its
/// data drawn, under the mask of lowest penalty.
pub(super) fn best(canvas: &Canvas, width: usize) -> Vec<bool> {
    let mut best: Option<(u16, Vec<bool>)> = None;
    for pattern in PATTERNS {
        let mut masked = canvas.clone();
        masked.apply_mask(pattern);
        let dark: Vec<bool> = masked.into_colors().into_iter().map(|c| c == Color::Dark).collect();
        let score = penalty(&dark, width);
        if best.as_ref().is_none_or(|&(s, _)| score < s) {
            best = Some((score, dark));
        }
    }
    best.map(|(_, dark)| dark).unwrap_or_default()
}

/// The crate's total penalty of a masked code. Its arithmetic is u16 and wraps in release
/// builds (the finder score subtracts 360 for the three real finder patterns), so this wraps.
fn penalty(dark: &[bool], width: usize) -> u16 {
    let rows: Vec<u8> = dark.iter().map(|&d| u8::from(d)).collect();
    let mut columns = vec![0u8; rows.len()];
    for (y, row) in rows.chunks_exact(width).enumerate() {
        for (x, &d) in row.iter().enumerate() {
            columns[x * width + y] = d;
        }
    }
    let lines = || rows.chunks_exact(width).chain(columns.chunks_exact(width));
    let runs = lines().map(runs).fold(0u16, u16::wrapping_add);
    let finders = lines().map(finders).fold(0u16, u16::wrapping_add).wrapping_sub(2 * 360);
    let blocks = rows
        .chunks_exact(width)
        .zip(rows.chunks_exact(width).skip(1))
        .map(|(a, b)| {
            // A 2×2 block of one colour: no differences among its four modules.
            let n = a
                .iter()
                .zip(&a[1..])
                .zip(b.iter().zip(&b[1..]))
                .filter(|&((&p, &q), (&r, &s))| (p ^ q) | (p ^ r) | (p ^ s) == 0)
                .count();
            (n as u16).wrapping_mul(3)
        })
        .fold(0u16, u16::wrapping_add);
    let ratio = rows.iter().map(|&d| usize::from(d)).sum::<usize>() * 200 / rows.len();
    let balance = ratio.abs_diff(100) as u16;
    runs.wrapping_add(blocks).wrapping_add(finders).wrapping_add(balance)
}

/// Each run of 5 + n modules of one colour in a line scores 3 + n. Counted per module, without
/// following runs (masked data changes colour unpredictably, so run-following code spends its
/// time on mispredicted branches): a module ending five equal modules scores 1, and 2 more
/// when it is the fifth of its run, i.e. the module before those five differs (or there is
/// none). A run of 5 + n thus scores (1 + n) + 2.
fn runs(line: &[u8]) -> u16 {
    if line.len() < 5 {
        return 0;
    }
    // change[k] = 1 where modules k and k + 1 differ.
    let mut change = [0u8; 256];
    for (c, pair) in change.iter_mut().zip(line.windows(2)) {
        *c = pair[0] ^ pair[1];
    }
    let change = &change[..line.len() - 1];
    // calm[k] = 1 where modules k..k + 5 are equal.
    let calm = |k: usize| u8::from(change[k] | change[k + 1] | change[k + 2] | change[k + 3] == 0);
    let calm_count: usize = change.windows(4).map(|w| usize::from(w[0] | w[1] | w[2] | w[3] == 0)).sum();
    let starts: usize = usize::from(calm(0))
        + change.windows(5).map(|w| usize::from(w[0] & u8::from(w[1] | w[2] | w[3] | w[4] == 0))).sum::<usize>();
    (calm_count + 2 * starts) as u16
}

/// Each dark-light-dark×3-light-dark sequence in a line scores 40 unless both of its 4-module
/// sides hold a dark module (modules outside the code count as light).
fn finders(line: &[u8]) -> u16 {
    /// The sequence as the last seven modules read, first module in the high bit.
    const PATTERN: u8 = 0b101_1101;
    let dark_in = |from: usize, to: usize| line[from..to.min(line.len())].contains(&1);
    let mut window = 0u8;
    let mut score = 0u16;
    for (end, &d) in line.iter().enumerate() {
        window = (window << 1 | d) & 0x7f;
        if end >= 6 && window == PATTERN {
            let j = end - 6;
            if !dark_in(j.saturating_sub(4), j) || !dark_in(j + 7, j + 11) {
                score = score.wrapping_add(40);
            }
        }
    }
    score
}
