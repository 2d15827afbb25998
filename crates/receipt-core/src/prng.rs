//! The keyed pseudo-random code generator of the watermark (the patent's "pseudo-random code
//! generator"): SHA-256 in counter mode over a seed. Public and deterministic; the security
//! of the watermark rests on the signature it carries, not on secret positions.

use crate::digest::sha256;

pub struct Prng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl Prng {
    /// A generator for one purpose (`domain`) seeded by `parts`.
    pub fn new(domain: &str, parts: &[&[u8]]) -> Self {
        let mut input = Vec::with_capacity(64);
        input.extend_from_slice(domain.as_bytes());
        input.push(0);
        for p in parts {
            input.extend_from_slice(&(p.len() as u32).to_be_bytes());
            input.extend_from_slice(p);
        }
        Self { seed: sha256(&input), counter: 0, block: [0; 32], used: 32 }
    }

    pub fn next_byte(&mut self) -> u8 {
        if self.used == 32 {
            self.block = counter_block(&self.seed, self.counter);
            self.counter += 1;
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        b
    }

    /// The next eight bytes, big-endian.
    pub fn next_u64(&mut self) -> u64 {
        if self.used + 8 <= self.block.len() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.block[self.used..self.used + 8]);
            self.used += 8;
            return u64::from_be_bytes(b);
        }
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.next_byte()))
    }

    /// A uniformly shuffled `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            // The modulo bias of a 64-bit draw over n < 2^20 is below 2^-44.
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            p.swap(i, j);
        }
        p
    }
}

/// SHA-256 of the 40 bytes `seed ‖ counter` (big-endian): their one padded block through the
/// block function, without a hashing context's set-up, which costs more than the block.
fn counter_block(seed: &[u8; 32], counter: u64) -> [u8; 32] {
    /// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
    const IV: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(seed);
    block[32..40].copy_from_slice(&counter.to_be_bytes());
    // The padding: a 1 bit, zeros, and the message length in bits (320).
    block[40] = 0x80;
    block[56..].copy_from_slice(&320u64.to_be_bytes());
    let mut state = IV;
    sha2::compress256(&mut state, &[block.into()]);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<u8> = {
            let mut p = Prng::new("t", &[b"x"]);
            (0..100).map(|_| p.next_byte()).collect()
        };
        let b: Vec<u8> = {
            let mut p = Prng::new("t", &[b"x"]);
            (0..100).map(|_| p.next_byte()).collect()
        };
        let c: Vec<u8> = {
            let mut p = Prng::new("t", &[b"y"]);
            (0..100).map(|_| p.next_byte()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Words are the byte stream read eight at a time, aligned to the block or not.
        let mut bytes = Prng::new("t", &[b"x"]);
        let mut words = Prng::new("t", &[b"x"]);
        let _ = (bytes.next_byte(), words.next_byte());
        for _ in 0..20 {
            let w = (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(bytes.next_byte()));
            assert_eq!(words.next_u64(), w);
        }
        // Each block is SHA-256 of the seed and the counter, as it always was.
        for counter in [0u64, 1, 255, 1 << 40, u64::MAX] {
            let seed = sha256(&counter.to_le_bytes());
            let input = [&seed[..], &counter.to_be_bytes()].concat();
            assert_eq!(counter_block(&seed, counter), sha256(&input), "counter {counter}");
        }
        let mut p = Prng::new("t", &[]);
        let mut perm = p.permutation(1000);
        perm.sort_unstable();
        assert_eq!(perm, (0..1000).collect::<Vec<_>>());
    }
}
