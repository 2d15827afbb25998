//! The inverse DCT of one 8×8 block as zune-jpeg computes it (the integer "islow" algorithm
//! with 12-bit constants, as in stb_image): the verifier's pixels must be the ones zune-jpeg
//! gives for the same file, so constants, rounding, wrapping and the DC-only case are its own.

use std::num::Wrapping as W;

type I = W<i32>;

/// Rounding and the level shift of 128, added before the second pass's shift by 17.
const SECOND_BIAS: i32 = 512 + 65536 + (128 << 17);

/// One 1-D transform of the coefficients `s` (frequency order), biased by `bias`, each output
/// shifted right (arithmetically) by `shift`. Wrapping arithmetic, as zune-jpeg's: a crafted
/// block overflows the same way in both.
#[inline(always)]
fn pass(s: [I; 8], bias: I, shift: usize) -> [I; 8] {
    // Even part.
    let p1 = (s[2] + s[6]) * W(2217);
    let t2 = p1 + s[6] * W(-7567);
    let t3 = p1 + s[2] * W(3135);
    let t0 = (s[0] + s[4]) << 12;
    let t1 = (s[0] - s[4]) << 12;
    let (x0, x3) = (t0 + t3 + bias, t0 - t3 + bias);
    let (x1, x2) = (t1 + t2 + bias, t1 - t2 + bias);
    // Odd part.
    let (a, b, c, d) = (s[7], s[5], s[3], s[1]);
    let (p3, p4, p1, p2) = (a + c, b + d, a + d, b + c);
    let p5 = (p3 + p4) * W(4816);
    let p1 = p5 + p1 * W(-3685);
    let p2 = p5 + p2 * W(-10497);
    let (p3, p4) = (p3 * W(-8034), p4 * W(-1597));
    let d = d * W(6149) + p1 + p4;
    let c = c * W(12586) + p2 + p3;
    let b = b * W(8410) + p2 + p4;
    let a = a * W(1223) + p1 + p3;
    [x0 + d, x1 + c, x2 + b, x3 + a, x3 - a, x2 - b, x1 - c, x0 - d].map(|v| v >> shift)
}

/// The sample of a block whose AC coefficients are all zero (zune-jpeg's shortcut, which it
/// takes whenever the 63 are zero, whatever the decoder's path to them).
pub(super) fn dc_only(dc: i32) -> u8 {
    ((W(dc) + W(4) + W(1024)).0 >> 3).clamp(0, 255) as u8
}

/// The 64 samples (row-major, clamped to 0-255) of the dequantised coefficients `coef`
/// (natural order), at least one AC coefficient not zero.
pub(super) fn block(coef: &[i32; 64], out: &mut [u8; 64]) {
    let mut cols = [[W(0); 8]; 8];
    for (x, col) in cols.iter_mut().enumerate() {
        *col = pass(std::array::from_fn(|k| W(coef[8 * k + x])), W(512), 10);
    }
    for (y, row) in out.chunks_exact_mut(8).enumerate() {
        let v = pass(std::array::from_fn(|x| cols[x][y]), W(SECOND_BIAS), 17);
        for (o, v) in row.iter_mut().zip(v) {
            *o = v.0.clamp(0, 255) as u8;
        }
    }
}
