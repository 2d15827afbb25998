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
            let mut input = [0u8; 40];
            input[..32].copy_from_slice(&self.seed);
            input[32..].copy_from_slice(&self.counter.to_be_bytes());
            self.block = sha256(&input);
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
        let mut p = Prng::new("t", &[]);
        let mut perm = p.permutation(1000);
        perm.sort_unstable();
        assert_eq!(perm, (0..1000).collect::<Vec<_>>());
    }
}
