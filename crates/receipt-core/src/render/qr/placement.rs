//! Where a QR symbol keeps its format and its data (ISO/IEC 18004 §7.7-7.9): reading the
//! format information and the data codewords from a module matrix. Written here rather than
//! taken from rqrr, whose table puts version 21's last alignment pattern at 92 instead of 94,
//! so that every block of a version-21 code (a receipt's usual size) reads with errors that
//! eat into its correction.

use rqrr::{BitGrid, SimpleGrid};

/// Centres of the alignment patterns for versions 7-40 (versions 2-6 have them at 6 and
/// size − 7).
const ALIGNMENT: [&[usize]; 34] = [
    &[6, 22, 38],
    &[6, 24, 42],
    &[6, 26, 46],
    &[6, 28, 50],
    &[6, 30, 54],
    &[6, 32, 58],
    &[6, 34, 62],
    &[6, 26, 46, 66],
    &[6, 26, 48, 70],
    &[6, 26, 50, 74],
    &[6, 30, 54, 78],
    &[6, 30, 56, 82],
    &[6, 30, 58, 86],
    &[6, 34, 62, 90],
    &[6, 28, 50, 72, 94],
    &[6, 26, 50, 74, 98],
    &[6, 30, 54, 78, 102],
    &[6, 28, 54, 80, 106],
    &[6, 32, 58, 84, 110],
    &[6, 30, 58, 86, 114],
    &[6, 34, 62, 90, 118],
    &[6, 26, 50, 74, 98, 122],
    &[6, 30, 54, 78, 102, 126],
    &[6, 26, 52, 78, 104, 130],
    &[6, 30, 56, 82, 108, 134],
    &[6, 34, 60, 86, 112, 138],
    &[6, 30, 58, 86, 114, 142],
    &[6, 34, 62, 90, 118, 146],
    &[6, 30, 54, 78, 102, 126, 150],
    &[6, 24, 50, 76, 102, 128, 154],
    &[6, 28, 54, 80, 106, 132, 158],
    &[6, 32, 58, 84, 110, 136, 162],
    &[6, 26, 54, 82, 110, 138, 166],
    &[6, 30, 58, 86, 114, 142, 170],
];

/// The format information: error-correction level as coded (M=0, L=1, H=2, Q=3) and mask,
/// from whichever copy is within the code's three correctable bit errors.
pub(super) fn format(g: &SimpleGrid) -> Option<(usize, usize)> {
    let n = g.size();
    // Bit 14 first, as drawn around the top-left finder and then split between the others.
    let around: [(usize, usize); 15] = [
        (0, 8),
        (1, 8),
        (2, 8),
        (3, 8),
        (4, 8),
        (5, 8),
        (7, 8),
        (8, 8),
        (8, 7),
        (8, 5),
        (8, 4),
        (8, 3),
        (8, 2),
        (8, 1),
        (8, 0),
    ];
    let first = around.iter().rev().fold(0u16, |f, &(y, x)| (f << 1) | u16::from(g.bit(y, x)));
    let split = (0..7).map(|i| (n - 1 - i, 8)).chain((0..8).map(|i| (8, n - 8 + i)));
    let second = split.fold(0u16, |f, (y, x)| (f << 1) | u16::from(g.bit(y, x)));
    [first, second].into_iter().find_map(|word| {
        let word = word ^ 0x5412;
        (0u16..32).find(|&d| (bch(d) ^ word).count_ones() <= 3).map(|d| (usize::from(d >> 3), usize::from(d & 7)))
    })
}

/// The 15-bit format codeword of 5 data bits (BCH(15,5), generator 0x537).
fn bch(data: u16) -> u16 {
    let mut rem = data << 10;
    for i in (0..5).rev() {
        if rem & (1 << (i + 10)) != 0 {
            rem ^= 0x537 << i;
        }
    }
    (data << 10) | rem
}

/// The data modules of a version-`version` symbol `g` in reading order, unmasked with `mask`,
/// packed into codewords (most significant bit first; remainder bits dropped).
pub(super) fn codewords(g: &SimpleGrid, version: usize, mask: usize) -> Vec<u8> {
    let n = g.size();
    let function = function_modules(n, version);
    let mut out = Vec::with_capacity(n * n / 8);
    let (mut byte, mut bits) = (0u8, 0);
    let mut x = n - 1;
    let mut upward = true;
    while x > 0 {
        if x == 6 {
            // The vertical timing pattern takes a whole column.
            x -= 1;
        }
        for i in 0..n {
            let y = if upward { n - 1 - i } else { i };
            for col in [x, x - 1] {
                if function[y * n + col] {
                    continue;
                }
                byte = (byte << 1) | u8::from(g.bit(y, col) ^ mask_bit(mask, y, col));
                bits += 1;
                if bits == 8 {
                    out.push(byte);
                    (byte, bits) = (0, 0);
                }
            }
        }
        upward = !upward;
        x = x.saturating_sub(2);
    }
    out
}

/// Which modules of a version-`version` symbol of `n` modules are not data: finders with
/// their separators and the format information, timing, alignment and version information.
fn function_modules(n: usize, version: usize) -> Vec<bool> {
    let mut f = vec![false; n * n];
    for y in 0..n {
        for x in 0..n {
            let corner = (y < 9 && (x < 9 || x + 8 >= n)) || (y + 8 >= n && x < 9);
            let version_info =
                version >= 7 && ((y < 6 && x + 11 >= n && x + 8 < n) || (x < 6 && y + 11 >= n && y + 8 < n));
            f[y * n + x] = corner || y == 6 || x == 6 || version_info;
        }
    }
    let small = [6, n - 7];
    let centres: &[usize] = match version {
        0 | 1 => &[],
        2..=6 => &small,
        v => ALIGNMENT.get(v - 7).copied().unwrap_or(&[]),
    };
    let last = centres.last().copied().unwrap_or(0);
    for &cy in centres {
        for &cx in centres {
            // The three corners a finder occupies carry no alignment pattern.
            if (cy == 6 && (cx == 6 || cx == last)) || (cx == 6 && cy == last) {
                continue;
            }
            for y in cy - 2..=cy + 2 {
                for x in cx - 2..=cx + 2 {
                    if let Some(m) = f.get_mut(y * n + x) {
                        *m = true;
                    }
                }
            }
        }
    }
    f
}

/// The QR mask patterns (ISO/IEC 18004 table 10), `y` the row and `x` the column.
fn mask_bit(mask: usize, y: usize, x: usize) -> bool {
    match mask {
        0 => (y + x).is_multiple_of(2),
        1 => y.is_multiple_of(2),
        2 => x.is_multiple_of(3),
        3 => (y + x).is_multiple_of(3),
        4 => (y / 2 + x / 3).is_multiple_of(2),
        5 => (y * x) % 2 + (y * x) % 3 == 0,
        6 => ((y * x) % 2 + (y * x) % 3).is_multiple_of(2),
        _ => ((y * x) % 3 + (y + x) % 2).is_multiple_of(2),
    }
}
