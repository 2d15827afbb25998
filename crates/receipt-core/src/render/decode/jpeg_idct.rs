//! The inverse DCT of one 8×8 block as zune-jpeg computes it (the integer "islow" algorithm
//! with 12-bit constants, as in stb_image): the verifier's pixels must be the ones zune-jpeg
//! gives for the same file, so constants, rounding, wrapping and the DC-only case are its own.

use std::ops::{Add, Mul, Shl, Shr, Sub};

/// Eight lanes of wrapping i32 (one per column or row of the block), so that each pass runs on
/// all eight at once (vectorised). Wrapping, as zune-jpeg's arithmetic: a crafted block
/// overflows the same way in both.
#[derive(Clone, Copy)]
struct L([i32; 8]);

impl L {
    fn splat(v: i32) -> Self {
        Self([v; 8])
    }
}

impl Add for L {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i].wrapping_add(o.0[i])))
    }
}

impl Sub for L {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i].wrapping_sub(o.0[i])))
    }
}

impl Mul<i32> for L {
    type Output = Self;
    #[inline(always)]
    fn mul(self, k: i32) -> Self {
        Self(self.0.map(|v| v.wrapping_mul(k)))
    }
}

impl Shl<u32> for L {
    type Output = Self;
    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        Self(self.0.map(|v| v.wrapping_shl(n)))
    }
}

impl Shr<u32> for L {
    type Output = Self;
    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        Self(self.0.map(|v| v >> n))
    }
}

/// Rounding and the level shift of 128, added before the second pass's shift by 17.
const SECOND_BIAS: i32 = 512 + 65536 + (128 << 17);

/// One 1-D transform of the coefficients `s` (frequency order; each an eight-lane vector),
/// biased by `bias`, each output shifted right (arithmetically) by `shift`.
#[inline(always)]
fn pass(s: [L; 8], bias: i32, shift: u32) -> [L; 8] {
    let bias = L::splat(bias);
    // Even part.
    let p1 = (s[2] + s[6]) * 2217;
    let t2 = p1 + s[6] * -7567;
    let t3 = p1 + s[2] * 3135;
    let t0 = (s[0] + s[4]) << 12;
    let t1 = (s[0] - s[4]) << 12;
    let (x0, x3) = (t0 + t3 + bias, t0 - t3 + bias);
    let (x1, x2) = (t1 + t2 + bias, t1 - t2 + bias);
    // Odd part.
    let (a, b, c, d) = (s[7], s[5], s[3], s[1]);
    let (p3, p4, p1, p2) = (a + c, b + d, a + d, b + c);
    let p5 = (p3 + p4) * 4816;
    let p1 = p5 + p1 * -3685;
    let p2 = p5 + p2 * -10497;
    let (p3, p4) = (p3 * -8034, p4 * -1597);
    let d = d * 6149 + p1 + p4;
    let c = c * 12586 + p2 + p3;
    let b = b * 8410 + p2 + p4;
    let a = a * 1223 + p1 + p3;
    [x0 + d, x1 + c, x2 + b, x3 + a, x3 - a, x2 - b, x1 - c, x0 - d].map(|v| v >> shift)
}

/// The rows of `m` as columns.
#[inline(always)]
fn transpose(m: [L; 8]) -> [L; 8] {
    std::array::from_fn(|x| L(std::array::from_fn(|y| m[y].0[x])))
}

/// The sample of a block whose AC coefficients are all zero (zune-jpeg's shortcut, which it
/// takes whenever the 63 are zero, whatever the decoder's path to them).
pub(super) fn dc_only(dc: i32) -> u8 {
    (dc.wrapping_add(4).wrapping_add(1024) >> 3).clamp(0, 255) as u8
}

/// The 64 samples (row-major, clamped to 0-255) of the dequantised coefficients `coef`
/// (natural order), at least one AC coefficient not zero.
pub(super) fn block(coef: &[i32; 64], out: &mut [u8; 64]) {
    // Columns first: input row k holds frequency k of all eight columns.
    let rows: [L; 8] = std::array::from_fn(|k| L(std::array::from_fn(|x| coef[8 * k + x])));
    let cols = pass(rows, 512, 10);
    // Then rows: after the transpose, vector u holds frequency u of all eight rows.
    let samples = transpose(pass(transpose(cols), SECOND_BIAS, 17));
    for (o, v) in out.chunks_exact_mut(8).zip(samples) {
        for (o, v) in o.iter_mut().zip(v.0) {
            *o = v.clamp(0, 255) as u8;
        }
    }
}
