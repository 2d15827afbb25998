//! Decoding a sampled QR module matrix: format and data modules ([`placement`]), error
//! correction and the payload. Done here rather than with rqrr's decoder, whose Reed-Solomon
//! syndromes recompute every power of the generator by repeated squaring (most of a JPEG
//! verification's time, and tens of milliseconds on a crafted version-40 symbol). The work is
//! linear in the symbol's size.

use rqrr::{BitGrid, SimpleGrid};

use super::{placement, QrError};

/// Per version 1-40 and error-correction level (L, M, Q, H): error-correction codewords per
/// block, number of blocks, data codewords in all (ISO/IEC 18004 table 9, as the `qrcode` crate
/// has it). Short blocks come first; the remaining data codewords make the last blocks one
/// codeword longer.
const BLOCKS: [[(usize, usize, usize); 4]; 40] = [
    [(7, 1, 19), (10, 1, 16), (13, 1, 13), (17, 1, 9)],               // 1
    [(10, 1, 34), (16, 1, 28), (22, 1, 22), (28, 1, 16)],             // 2
    [(15, 1, 55), (26, 1, 44), (18, 2, 34), (22, 2, 26)],             // 3
    [(20, 1, 80), (18, 2, 64), (26, 2, 48), (16, 4, 36)],             // 4
    [(26, 1, 108), (24, 2, 86), (18, 4, 62), (22, 4, 46)],            // 5
    [(18, 2, 136), (16, 4, 108), (24, 4, 76), (28, 4, 60)],           // 6
    [(20, 2, 156), (18, 4, 124), (18, 6, 88), (26, 5, 66)],           // 7
    [(24, 2, 194), (22, 4, 154), (22, 6, 110), (26, 6, 86)],          // 8
    [(30, 2, 232), (22, 5, 182), (20, 8, 132), (24, 8, 100)],         // 9
    [(18, 4, 274), (26, 5, 216), (24, 8, 154), (28, 8, 122)],         // 10
    [(20, 4, 324), (30, 5, 254), (28, 8, 180), (24, 11, 140)],        // 11
    [(24, 4, 370), (22, 8, 290), (26, 10, 206), (28, 11, 158)],       // 12
    [(26, 4, 428), (22, 9, 334), (24, 12, 244), (22, 16, 180)],       // 13
    [(30, 4, 461), (24, 9, 365), (20, 16, 261), (24, 16, 197)],       // 14
    [(22, 6, 523), (24, 10, 415), (30, 12, 295), (24, 18, 223)],      // 15
    [(24, 6, 589), (28, 10, 453), (24, 17, 325), (30, 16, 253)],      // 16
    [(28, 6, 647), (28, 11, 507), (28, 16, 367), (28, 19, 283)],      // 17
    [(30, 6, 721), (26, 13, 563), (28, 18, 397), (28, 21, 313)],      // 18
    [(28, 7, 795), (26, 14, 627), (26, 21, 445), (26, 25, 341)],      // 19
    [(28, 8, 861), (26, 16, 669), (30, 20, 485), (28, 25, 385)],      // 20
    [(28, 8, 932), (26, 17, 714), (28, 23, 512), (30, 25, 406)],      // 21
    [(28, 9, 1006), (28, 17, 782), (30, 23, 568), (24, 34, 442)],     // 22
    [(30, 9, 1094), (28, 18, 860), (30, 25, 614), (30, 30, 464)],     // 23
    [(30, 10, 1174), (28, 20, 914), (30, 27, 664), (30, 32, 514)],    // 24
    [(26, 12, 1276), (28, 21, 1000), (30, 29, 718), (30, 35, 538)],   // 25
    [(28, 12, 1370), (28, 23, 1062), (28, 34, 754), (30, 37, 596)],   // 26
    [(30, 12, 1468), (28, 25, 1128), (30, 34, 808), (30, 40, 628)],   // 27
    [(30, 13, 1531), (28, 26, 1193), (30, 35, 871), (30, 42, 661)],   // 28
    [(30, 14, 1631), (28, 28, 1267), (30, 38, 911), (30, 45, 701)],   // 29
    [(30, 15, 1735), (28, 29, 1373), (30, 40, 985), (30, 48, 745)],   // 30
    [(30, 16, 1843), (28, 31, 1455), (30, 43, 1033), (30, 51, 793)],  // 31
    [(30, 17, 1955), (28, 33, 1541), (30, 45, 1115), (30, 54, 845)],  // 32
    [(30, 18, 2071), (28, 35, 1631), (30, 48, 1171), (30, 57, 901)],  // 33
    [(30, 19, 2191), (28, 37, 1725), (30, 51, 1231), (30, 60, 961)],  // 34
    [(30, 19, 2306), (28, 38, 1812), (30, 53, 1286), (30, 63, 986)],  // 35
    [(30, 20, 2434), (28, 40, 1914), (30, 56, 1354), (30, 66, 1054)], // 36
    [(30, 21, 2566), (28, 43, 1992), (30, 59, 1426), (30, 70, 1096)], // 37
    [(30, 22, 2702), (28, 45, 2102), (30, 62, 1502), (30, 74, 1142)], // 38
    [(30, 24, 2812), (28, 47, 2216), (30, 65, 1582), (30, 77, 1222)], // 39
    [(30, 25, 2956), (28, 49, 2334), (30, 68, 1666), (30, 81, 1276)], // 40
];

/// The text of the symbol whose modules `grid` holds (row-major, `true` dark).
pub(super) fn decode(grid: &SimpleGrid) -> Result<String, QrError> {
    let unreadable = |e: &str| QrError::Unreadable(e.into());
    let version = grid.size().wrapping_sub(17) / 4;
    if !(1..=40).contains(&version) || grid.size() != 17 + 4 * version {
        return Err(unreadable("not a QR symbol size"));
    }
    let (level, mask) = placement::format(grid).ok_or_else(|| unreadable("unreadable format information"))?;
    // Format levels are coded M=0, L=1, H=2, Q=3.
    let level = [1, 0, 3, 2][level & 3];
    let &(ec, blocks, data_len) =
        BLOCKS.get(version - 1).and_then(|v| v.get(level)).ok_or_else(|| unreadable("no such version"))?;
    let all = placement::codewords(grid, version, mask);
    let codewords = all.get(..data_len + blocks * ec).ok_or_else(|| unreadable("too few modules"))?;
    let data = correct(codewords, ec, blocks, data_len).ok_or_else(|| unreadable("too many errors to correct"))?;
    payload(&data, version)
}

/// The data codewords of interleaved `codewords`, each block corrected: `None` when a block
/// has more errors than its code corrects.
fn correct(codewords: &[u8], ec: usize, blocks: usize, data_len: usize) -> Option<Vec<u8>> {
    let short = data_len / blocks;
    let long_from = blocks - data_len % blocks;
    let len = |b: usize| short + usize::from(b >= long_from);
    let decoder = reed_solomon::Decoder::new(ec);
    let mut data = Vec::with_capacity(data_len);
    let mut block = Vec::with_capacity(short + 1 + ec);
    for b in 0..blocks {
        block.clear();
        // Data codewords go round the blocks one at a time (the long blocks' last one after
        // all the others), then the error-correction codewords the same way.
        block.extend((0..short).map(|j| codewords[j * blocks + b]));
        if b >= long_from {
            block.push(codewords[short * blocks + (b - long_from)]);
        }
        block.extend((0..ec).map(|j| codewords[data_len + j * blocks + b]));
        if decoder.is_corrupted(&block) {
            let fixed = decoder.correct(&block, None).ok()?;
            if decoder.is_corrupted(&fixed) {
                return None;
            }
            data.extend_from_slice(&fixed[..len(b)]);
        } else {
            data.extend_from_slice(&block[..len(b)]);
        }
    }
    Some(data)
}

/// Reads `n` bits at a time from the data codewords, most significant first.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn left(&self) -> usize {
        self.data.len() * 8 - self.at
    }

    fn take(&mut self, n: usize) -> Result<usize, QrError> {
        if n > self.left() {
            return Err(QrError::Unreadable("the data ends inside a segment".into()));
        }
        let mut v = 0;
        for _ in 0..n {
            let bit = (self.data[self.at / 8] >> (7 - self.at % 8)) & 1;
            v = (v << 1) | usize::from(bit);
            self.at += 1;
        }
        Ok(v)
    }
}

/// The text of the segments in `data` (numeric, alphanumeric, byte and ECI segments; a
/// receipt's payload is Base45 behind a short prefix).
fn payload(data: &[u8], version: usize) -> Result<String, QrError> {
    const ALNUM: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    // Width of the character count per mode, for versions 1-9, 10-26 and 27-40.
    let class = usize::from(version >= 10) + usize::from(version >= 27);
    let mut bits = Bits { data, at: 0 };
    let mut out = Vec::new();
    while bits.left() >= 4 {
        match bits.take(4)? {
            0 => break,
            1 => {
                let mut count = bits.take([10, 12, 14][class])?;
                while count > 0 {
                    let digits = count.min(3);
                    let v = bits.take([0, 4, 7, 10][digits])?;
                    let text = format!("{v:0digits$}");
                    if text.len() != digits {
                        return Err(QrError::Unreadable("a numeric group out of range".into()));
                    }
                    out.extend_from_slice(text.as_bytes());
                    count -= digits;
                }
            }
            2 => {
                let mut count = bits.take([9, 11, 13][class])?;
                while count > 0 {
                    let pair = count >= 2;
                    let v = bits.take(if pair { 11 } else { 6 })?;
                    let (hi, lo) = if pair { (Some(v / 45), v % 45) } else { (None, v) };
                    for c in hi.into_iter().chain([lo]) {
                        out.push(
                            *ALNUM
                                .get(c)
                                .ok_or_else(|| QrError::Unreadable("an alphanumeric pair out of range".into()))?,
                        );
                    }
                    count -= if pair { 2 } else { 1 };
                }
            }
            4 => {
                let count = bits.take([8, 16, 16][class])?;
                for _ in 0..count {
                    out.push(bits.take(8)? as u8);
                }
            }
            7 => {
                // An ECI designator: 1, 2 or 3 bytes; the text stays bytes.
                let first = bits.take(8)?;
                let more = if first & 0x80 == 0 {
                    0
                } else if first & 0x40 == 0 {
                    8
                } else {
                    16
                };
                bits.take(more)?;
            }
            mode => return Err(QrError::Unreadable(format!("unsupported QR data mode {mode}"))),
        }
    }
    String::from_utf8(out).map_err(|_| QrError::Unreadable("the data is not UTF-8 text".into()))
}
