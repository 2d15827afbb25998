//! Reed-Solomon decoding of the watermark's codewords, fast in the common case. The strips
//! that hold ink are known erasures, and a receipt that was not edited has no other errors, so
//! the codeword is recovered by re-encoding: the code is systematic, so the erased data symbols
//! (a few per codeword; most erasures fall on parity) are the solution of a small linear system
//! over known parity symbols, and the whole codeword then follows by encoding and is checked
//! against every symbol that was read. Anything else (a real error, a degenerate input) is left
//! to `reed_solomon::Decoder`, so results are exactly the crate's.
//!
//! Conventions are the crate's: GF(2^8) modulo x^8+x^4+x^3+x^2+1 (0x11d), generator α = 2,
//! parity roots α^0 … α^(parity-1), and symbol k of an n-symbol codeword is the coefficient of
//! x^(n-1-k).

/// α^i for i in 0..510 (doubled so that a sum of two logarithms needs no reduction), then
/// zeros: with the logarithm of 0 taken as [`LOG_ZERO`], any sum of logarithms that involves a
/// zero lands in the zeros, so products need no branch.
static EXP: [u8; 2048] = gf_tables().0;
/// Discrete logarithms; `LOG[0]` is [`LOG_ZERO`].
static LOG: [u16; 256] = gf_tables().1;
/// The logarithm used for 0: above any sum of two true logarithms (at most 508).
const LOG_ZERO: u16 = 512;

const fn gf_tables() -> ([u8; 2048], [u16; 256]) {
    let mut exp = [0u8; 2048];
    let mut log = [LOG_ZERO; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        exp[i + 255] = x as u8;
        log[x as usize] = i as u16;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    (exp, log)
}

fn log(x: u8) -> u16 {
    LOG[usize::from(x)]
}

/// α^e for a sum `e` of up to three logarithms or exponents (0 when one of them was
/// [`LOG_ZERO`]).
fn exp(e: u16) -> u8 {
    EXP[usize::from(e) & 2047]
}

/// Decodes the codewords of one image: the generator polynomial of each parity length is built
/// once (the codewords of an image differ in length by at most one).
#[derive(Default)]
pub(super) struct Decoder {
    generators: Vec<(usize, Vec<u8>)>,
    /// Per parity length: the logarithms of x^(parity + r) mod g for r = 0, 1, … (row r at
    /// `r * parity`), as many rows as the longest codeword so far needed; they do not depend
    /// on the codeword's length, so the codewords of an image share them.
    remainders: Vec<(usize, Vec<u16>)>,
    /// Per parity length: [`nibble_rows`] of its generator.
    nibbles: Vec<(usize, Vec<u8>)>,
}

impl Decoder {
    /// The corrected codeword (all n symbols) for `received`, whose symbols at the positions in
    /// `erasures` are unknown, or `None` when it cannot be decoded: what
    /// `reed_solomon::Decoder::new(parity).correct(received, Some(erasures))` returns.
    pub(super) fn correct(&mut self, received: &[u8], erasures: &[u8], parity: usize) -> Option<Vec<u8>> {
        let k = received.len().saturating_sub(parity);
        self.extend_remainders(parity, k);
        if !self.nibbles.iter().any(|(p, _)| *p == parity) {
            let low = self.generators.iter().find(|(p, _)| *p == parity).map_or(&[][..], |(_, g)| &g[..]);
            let table = nibble_rows(low);
            self.nibbles.push((parity, table));
        }
        let rows = self.remainders.iter().find(|(p, _)| *p == parity).map_or(&[][..], |(_, r)| &r[..]);
        let nibbles = self.nibbles.iter().find(|(p, _)| *p == parity).map_or(&[][..], |(_, t)| &t[..]);
        if let Some(word) = solve_erasures(received, erasures, parity, nibbles, rows) {
            return Some(word);
        }
        let decoded = reed_solomon::Decoder::new(parity).correct(received, Some(erasures)).ok()?;
        Some(decoded.to_vec())
    }

    /// Makes sure [`Decoder::remainders`] holds at least `k` rows for `parity` (and the
    /// generator is built): each row is the one before times x, the top coefficient wrapping
    /// round through x^parity ≡ low(x).
    fn extend_remainders(&mut self, parity: usize, k: usize) {
        if parity == 0 {
            return;
        }
        let low_logs: Vec<u16> = self.generator(parity).iter().map(|&c| log(c)).collect();
        let at = match self.remainders.iter().position(|(p, _)| *p == parity) {
            Some(at) => at,
            None => {
                self.remainders.push((parity, low_logs.clone()));
                self.remainders.len() - 1
            }
        };
        let rows = &mut self.remainders[at].1;
        while rows.len() < k * parity {
            let mut cur: Vec<u8> = rows[rows.len() - parity..].iter().map(|&l| exp(l)).collect();
            let top = log(cur[parity - 1]);
            for q in (1..parity).rev() {
                cur[q] = cur[q - 1] ^ exp(top + low_logs[q]);
            }
            cur[0] = exp(top + low_logs[0]);
            rows.extend(cur.iter().map(|&c| log(c)));
        }
    }

    /// The coefficients of x^0 … x^(parity-1) of the generator ∏ (x + α^i), i < parity (monic).
    fn generator(&mut self, parity: usize) -> &[u8] {
        let at = match self.generators.iter().position(|(p, _)| *p == parity) {
            Some(at) => at,
            None => {
                let mut g = vec![0u8; parity + 1];
                g[0] = 1;
                for i in 0..parity {
                    // Multiply by (x + α^i), highest degree first so each step reads the old one.
                    for d in (1..=i + 1).rev() {
                        g[d] = g[d - 1] ^ exp(log(g[d]) + i as u16);
                    }
                    g[0] = exp(log(g[0]) + i as u16);
                }
                g.truncate(parity);
                self.generators.push((parity, g));
                self.generators.len() - 1
            }
        };
        &self.generators[at].1
    }
}

/// For the generator whose coefficients below x^parity are `low`: f · low for every nibble f
/// (rows 0 … 15) and for every nibble times 16 (rows 16 … 31), each row from the coefficient of
/// x^(parity-1) down to that of x^0. Any product f · low is then two rows XORed: what one step
/// of the parity register adds, in a loop over bytes the compiler vectorises, where a product
/// per coefficient would look two tables up for each.
fn nibble_rows(low: &[u8]) -> Vec<u8> {
    let p = low.len();
    let mut table = vec![0u8; 32 * p];
    for (r, row) in table.chunks_exact_mut(p.max(1)).enumerate() {
        let f = if r < 16 { r as u8 } else { ((r - 16) as u8) << 4 };
        let lf = log(f);
        for (out, &c) in row.iter_mut().zip(low.iter().rev()) {
            *out = exp(lf + log(c));
        }
    }
    table
}

/// The parity (coefficient of x^q at q) of the first `k` symbols of `received` read as data,
/// those in `erased` taken as 0: the remainder of data(x) · x^parity by the generator, by the
/// shift register of systematic encoding. The register lives in a window of `buf` that moves
/// one byte per symbol (the window at t holds its coefficients from the highest down).
fn data_parity(received: &[u8], erased: &[bool; 256], k: usize, parity: usize, nibbles: &[u8], par: &mut [u8]) {
    let mut buf = [0u8; 512];
    for (t, (&d, &gone)) in received[..k].iter().zip(erased).enumerate() {
        let f = if gone { 0 } else { d } ^ buf[t];
        if f != 0 {
            let lo = &nibbles[usize::from(f & 15) * parity..][..parity];
            let hi = &nibbles[(16 + usize::from(f >> 4)) * parity..][..parity];
            for ((b, &x), &y) in buf[t + 1..t + 1 + parity].iter_mut().zip(lo).zip(hi) {
                *b ^= x ^ y;
            }
        }
    }
    for (q, p) in par.iter_mut().enumerate() {
        *p = buf[k + parity - 1 - q];
    }
}

/// The codeword that agrees with `received` everywhere except at `erasures`, when there is
/// one. It is then unique (at most `parity` erasures on a code of distance parity + 1), so any
/// correct decoder returns it too. `None` means "not this simple case", never "undecodable".
///
/// The code is systematic: data symbol j contributes d_j · R_j to the parity, where R_j is
/// x^(n-1-j) mod g. The known data give part of the parity; the erased data symbols solve the
/// linear system that as many known parity symbols pose (every square submatrix of an MDS
/// code's parity part is invertible); the full parity then follows and must match every parity
/// symbol that was read. `nibbles`: the generator's [`nibble_rows`]; `rows`: the
/// logarithms of x^(parity + r) mod g, coefficient of x^q at `r * parity + q`, for r < k at least.
fn solve_erasures(received: &[u8], erasures: &[u8], parity: usize, nibbles: &[u8], rows: &[u16]) -> Option<Vec<u8>> {
    let n = received.len();
    let e = erasures.len();
    if n >= 256 || n <= parity || e > parity || nibbles.len() != 32 * parity || rows.len() < (n - parity) * parity {
        return None;
    }
    let k = n - parity;
    let mut erased = [false; 256];
    for &p in erasures {
        let p = usize::from(p);
        if p >= n || erased[p] {
            return None; // outside the codeword, or repeated: the crate's decoder judges
        }
        erased[p] = true;
    }
    // Data symbol j has degree n-1-j, so it uses row k-1-j.
    let row = |j: usize| &rows[(k - 1 - j) * parity..(k - j) * parity];
    // The parity of the known data (coefficient of x^q at q).
    let mut par = [0u8; 256];
    let par = &mut par[..parity];
    let add = |par: &mut [u8], j: usize, d: u8| {
        let ld = log(d);
        for (p, &r) in par.iter_mut().zip(row(j)) {
            *p ^= exp(ld + r);
        }
    };
    data_parity(received, &erased, k, parity, nibbles, par);
    let unknown: Vec<usize> = (0..k).filter(|&j| erased[j]).collect();
    let mut word = received.to_vec();
    if !unknown.is_empty() {
        // One equation per known parity symbol, as many as there are unknowns (there are
        // enough: e ≤ parity).
        let m = unknown.len();
        let equations: Vec<usize> = (k..n).filter(|&p| !erased[p]).take(m).collect();
        if equations.len() < m {
            return None;
        }
        let mut a: Vec<u8> = Vec::with_capacity(m * (m + 1));
        for &p in &equations {
            let q = n - 1 - p;
            a.extend(unknown.iter().map(|&j| exp(row(j)[q])));
            a.push(received[p] ^ par[q]);
        }
        let x = solve(&mut a, m)?;
        for (&j, &v) in unknown.iter().zip(&x) {
            word[j] = v;
            if v != 0 {
                add(par, j, v);
            }
        }
    }
    for p in k..n {
        let v = par[n - 1 - p];
        if !erased[p] && received[p] != v {
            return None; // an error outside the erasures
        }
        word[p] = v;
    }
    Some(word)
}

/// Gauss-Jordan elimination over GF(2^8) of the m × (m + 1) augmented matrix `a` (row-major):
/// the solution, or `None` when the matrix is singular.
fn solve(a: &mut [u8], m: usize) -> Option<Vec<u8>> {
    let w = m + 1;
    for col in 0..m {
        let pivot = (col..m).find(|&r| a[r * w + col] != 0)?;
        if pivot != col {
            for c in 0..w {
                a.swap(pivot * w + c, col * w + c);
            }
        }
        // Scale the pivot row to 1 at the pivot, then clear the column elsewhere.
        let inv = 255 - log(a[col * w + col]);
        for c in col..w {
            a[col * w + c] = exp(log(a[col * w + c]) + inv);
        }
        let (above, rest) = a.split_at_mut(col * w);
        let (pivot_row, below) = rest.split_at_mut(w);
        for other in above.chunks_exact_mut(w).chain(below.chunks_exact_mut(w)) {
            let f = log(other[col]);
            if f == LOG_ZERO {
                continue;
            }
            for (o, &p) in other[col..].iter_mut().zip(&pivot_row[col..]) {
                *o ^= exp(f + log(p));
            }
        }
    }
    Some(a.chunks_exact(w).map(|r| r[m]).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn crate_decode(received: &[u8], erasures: &[u8], parity: usize) -> Option<Vec<u8>> {
        reed_solomon::Decoder::new(parity).correct(received, Some(erasures)).ok().map(|b| b.to_vec())
    }

    #[test]
    fn tables_are_the_crate_field() {
        // 2^8 = 0x1d under 0x11d, and every non-zero element has one logarithm.
        assert_eq!(exp(8), 0x1d);
        assert_eq!(exp(255), 1);
        assert!((1..=255u8).all(|x| exp(log(x)) == x));
        assert!((0..=255u8).all(|x| exp(log(0) + log(x)) == 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Same answer as the crate for erasures only, erasures plus errors, and garbage.
        #[test]
        fn agrees_with_the_crate_decoder(
            data in proptest::collection::vec(any::<u8>(), 1..60),
            parity in 1usize..121,
            erase_seed in any::<u64>(),
            erase_permille in 0u64..1000,
            errors in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        ) {
            let n = data.len() + parity;
            prop_assume!(n < 256);
            let word = reed_solomon::Encoder::new(parity).encode(&data).to_vec();
            let mut st = erase_seed;
            let mut erasures = Vec::new();
            for p in 0..n {
                st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if (st >> 33) % 1000 < erase_permille && erasures.len() < parity {
                    erasures.push(p as u8);
                }
            }
            let mut received = word.clone();
            for &p in &erasures {
                received[usize::from(p)] = 0;
            }
            let mut dec = Decoder::default();
            dec.extend_remainders(parity, data.len());
            let nibbles = nibble_rows(dec.generator(parity));
            let rows = dec.remainders.iter().find(|(p, _)| *p == parity).map(|(_, r)| r.clone()).unwrap();
            prop_assert_eq!(solve_erasures(&received, &erasures, parity, &nibbles, &rows), Some(word.clone()));
            prop_assert_eq!(dec.correct(&received, &erasures, parity), crate_decode(&received, &erasures, parity));
            for (at, flip) in errors {
                received[at.index(n)] ^= flip;
            }
            prop_assert_eq!(dec.correct(&received, &erasures, parity), crate_decode(&received, &erasures, parity));
        }
    }
}
