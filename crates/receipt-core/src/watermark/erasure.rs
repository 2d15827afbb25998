//! Reed-Solomon decoding of the watermark's codewords, fast in the common case. The strips
//! that hold ink are known erasures, and a receipt that was not edited has no other errors, so
//! a direct erasure solve (syndromes, erasure locator, Forney) recovers the codeword without
//! the general errors-and-erasures search. Anything else (a real error, a degenerate input) is
//! left to `reed_solomon::Decoder`, so results are exactly the crate's.
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

/// (a + b) mod 255 for exponents below 255.
fn add_exponents(a: u16, b: u16) -> u16 {
    let s = a + b;
    if s >= 255 {
        s - 255
    } else {
        s
    }
}

/// The corrected codeword (all n symbols) for `received`, whose symbols at the positions in
/// `erasures` are unknown, or `None` when it cannot be decoded: what
/// `reed_solomon::Decoder::new(parity).correct(received, Some(erasures))` returns.
pub(super) fn correct(received: &[u8], erasures: &[u8], parity: usize) -> Option<Vec<u8>> {
    if let Some(word) = solve_erasures(received, erasures, parity) {
        return Some(word);
    }
    let decoded = reed_solomon::Decoder::new(parity).correct(received, Some(erasures)).ok()?;
    Some(decoded.to_vec())
}

/// The codeword that agrees with `received` everywhere except at `erasures`, when there is
/// one. It is then unique (at most `parity` erasures on a code of distance parity + 1), so any
/// correct decoder returns it too. `None` means "not this simple case", never "undecodable".
fn solve_erasures(received: &[u8], erasures: &[u8], parity: usize) -> Option<Vec<u8>> {
    let n = received.len();
    let e = erasures.len();
    if n >= 256 || n <= parity || e > parity {
        return None;
    }
    let mut word = received.to_vec();
    for &p in erasures {
        *word.get_mut(usize::from(p))? = 0;
    }
    // Everything below is at most 255 long (n < 256): fixed arrays, no allocation.
    let mut s = [0u16; 256];
    syndromes(&word, &mut s[..parity]);
    let s = &s[..parity];
    // log X_l: an erasure at position p is the coefficient of x^(n-1-p).
    let mut xs = [0u16; 256];
    for (x, &p) in xs.iter_mut().zip(erasures) {
        *x = (n - 1 - usize::from(p)) as u16;
    }
    let xs = &xs[..e];
    let lambda = locator(xs);
    let lambda = &lambda[..=e];
    // S(x)Λ(x) mod x^parity: its coefficients from e on vanish exactly when an error pattern
    // confined to the erasures explains every syndrome; the lower ones are the evaluator Ω.
    let product =
        |i: usize| lambda[..=i.min(e)].iter().zip(s[..=i].iter().rev()).fold(0u8, |a, (&l, &s)| a ^ exp(l + s));
    if (e..parity).any(|i| product(i) != 0) {
        return None;
    }
    let mut omega = [LOG_ZERO; 256];
    for (i, o) in omega[..e].iter_mut().enumerate() {
        *o = log(product(i));
    }
    let omega = &omega[..e];
    // Forney, first root α^0: Y_l = X_l Ω(X_l⁻¹) / Λ'(X_l⁻¹); in characteristic 2 the formal
    // derivative keeps the odd terms: Λ'(x) = Σ_{m odd} Λ_m x^(m-1), a polynomial in x².
    let (mut inv, mut inv2) = ([0u16; 256], [0u16; 256]);
    for ((i, i2), &x) in inv.iter_mut().zip(inv2.iter_mut()).zip(xs) {
        *i = (255 - x) % 255;
        *i2 = add_exponents(*i, *i);
    }
    let mut odd = [LOG_ZERO; 128];
    for (o, &l) in odd.iter_mut().zip(lambda.iter().skip(1).step_by(2)) {
        *o = l;
    }
    let (mut num, mut den) = ([0u8; 256], [0u8; 256]);
    evaluate(omega, &inv[..e], &mut num[..e]);
    evaluate(&odd[..e.div_ceil(2)], &inv2[..e], &mut den[..e]);
    for (((&p, &x), &num), &den) in erasures.iter().zip(xs).zip(&num[..e]).zip(&den[..e]) {
        if den == 0 {
            return None; // repeated erasure positions
        }
        word[usize::from(p)] = if num == 0 { 0 } else { exp((x + log(num) + 255 - log(den)) % 255) };
    }
    Some(word)
}

/// The erasure locator Λ(x) = ∏ (1 + X_l x) for the erasures at X_l = α^xs[l]: its e + 1
/// coefficients as logarithms (the rest [`LOG_ZERO`]).
fn locator(xs: &[u16]) -> [u16; 256] {
    let mut coefs = [0u8; 256];
    coefs[0] = 1;
    for (l, &x) in xs.iter().enumerate() {
        for m in (1..=l + 1).rev() {
            coefs[m] ^= exp(log(coefs[m - 1]) + x);
        }
    }
    coefs.map(log)
}

/// `out[l]` = Σ_m c_m α^(points[l]·m) for coefficients c_m given by their logarithms: every
/// point at once, term by term, stepping each point's exponent.
fn evaluate(log_coefs: &[u16], points: &[u16], out: &mut [u8]) {
    let mut powers = [0u16; 256];
    let powers = &mut powers[..points.len()];
    out.fill(0);
    for &c in log_coefs {
        for (o, &p) in out.iter_mut().zip(powers.iter()) {
            *o ^= exp(c + p);
        }
        for (p, &step) in powers.iter_mut().zip(points) {
            *p = add_exponents(*p, step);
        }
    }
}

/// The logarithms of S_i = r(α^i) for i in 0..out.len(). Each non-zero symbol c of degree d
/// contributes α^(log c + i·d) to S_i; the exponents of all terms step together from one
/// syndrome to the next, so each syndrome is a run of table look-ups XORed in a register.
fn syndromes(word: &[u8], out: &mut [u16]) {
    let n = word.len();
    let (mut exps, mut degrees) = ([0u16; 256], [0u16; 256]);
    let mut terms = 0;
    for (k, &c) in word.iter().enumerate().filter(|&(_, &c)| c != 0) {
        exps[terms] = log(c);
        degrees[terms] = (n - 1 - k) as u16;
        terms += 1;
    }
    let (exps, degrees) = (&mut exps[..terms], &degrees[..terms]);
    for o in out {
        *o = log(exps.iter().fold(0u8, |acc, &x| acc ^ exp(x)));
        for (x, &d) in exps.iter_mut().zip(degrees) {
            *x = add_exponents(*x, d);
        }
    }
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
            prop_assert_eq!(solve_erasures(&received, &erasures, parity), Some(word.clone()));
            prop_assert_eq!(correct(&received, &erasures, parity), crate_decode(&received, &erasures, parity));
            for (at, flip) in errors {
                received[at.index(n)] ^= flip;
            }
            prop_assert_eq!(correct(&received, &erasures, parity), crate_decode(&received, &erasures, parity));
        }
    }
}
