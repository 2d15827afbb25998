//! The Huffman tables and the bit reader of a baseline JPEG scan, shared by the chroma proof
//! ([`super::jpeg_chroma`]) and the luma decode ([`super::jpeg_luma`]): one table lookup gives a
//! short code's symbol with its magnitude bits already decoded, and the commonest block of a
//! slip (a DC difference of 0, then end of block) is matched as one bit pattern.

/// Code lengths resolved by one table lookup; longer codes take the canonical slow path.
const FAST_BITS: u32 = 10;
const FAST: usize = 1 << FAST_BITS;

/// A decoded symbol: the bits it takes with its magnitude bits (low five bits), how far it moves
/// the coefficient index (bits 5-11: run + 1, or 16 for ZRL), whether it ends the block (an AC
/// table's EOB) or codes a zero difference (a DC table's 0), and its magnitude bits' count
/// (bits 16-19, what [`Bits::coded`] reads the value from). In the fast table, where the code
/// and its magnitude bits fit in [`FAST_BITS`], also the value itself (bits 20-31, signed),
/// flagged [`KNOWN`].
pub(super) type Entry = u32;
pub(super) const ADVANCE: u32 = 5;
pub(super) const ENDS: Entry = 1 << 12;
/// A symbol a baseline 8-bit scan cannot hold (a category above 11, an undefined run/size).
const INVALID: Entry = 1 << 13;
const KNOWN: Entry = 1 << 14;
const SIZE: u32 = 16;
const VALUE: u32 = 20;

/// One Huffman table, built the way T.81 Annex C assigns codes (as libjpeg reads them).
pub(super) struct Table {
    /// Indexed by the next [`FAST_BITS`] bits; 0 for longer codes and for the codes of invalid
    /// symbols (both left to [`Bits::slow`], so that the common path tests one thing).
    fast: Box<[Entry; FAST]>,
    /// Whether the next [`FAST_BITS`] bits start with the code of an invalid symbol.
    invalid: Box<[bool; FAST]>,
    /// For each length 1..=16: the largest code of that length (-1 if none), and the index in
    /// `entries` of its smallest code minus that code.
    max_code: [i32; 17],
    offset: [i32; 17],
    /// Each symbol's entry, without the code length.
    entries: Vec<Entry>,
    /// The code of symbol 0 (a DC table's zero difference, an AC table's end of block) and its
    /// length, if the table has it.
    zero: Option<(u64, u32)>,
}

impl Table {
    pub(super) fn new(ac: bool, counts: &[u8], symbols: &[u8]) -> Option<Self> {
        let entries: Vec<Entry> = symbols.iter().map(|&sym| entry(ac, sym)).collect();
        let mut fast = Box::new([0; FAST]);
        let mut invalid = Box::new([false; FAST]);
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        let mut zero = None;
        for len in 1..=16u32 {
            let n = usize::from(*counts.get(len as usize - 1)?);
            offset[len as usize] = k as i32 - code;
            for _ in 0..n {
                if zero.is_none() && symbols.get(k) == Some(&0) {
                    zero = Some((code as u64, len));
                }
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let first = (code as usize) << shift;
                    let e = *entries.get(k)?;
                    let size = e >> SIZE & 15;
                    let span = first..first + (1 << shift);
                    if e == INVALID {
                        invalid.get_mut(span)?.fill(true);
                    } else {
                        for (j, f) in fast.get_mut(span)?.iter_mut().enumerate() {
                            *f = if len + size <= FAST_BITS {
                                let bits = (j >> (shift - size)) as i32 & ((1 << size) - 1);
                                (e + len) | KNOWN | (extend(bits, size) as u32) << VALUE
                            } else {
                                e + len
                            };
                        }
                    }
                }
                code += 1;
                k += 1;
            }
            // A table whose codes overflow their length, or use the all-ones code (which T.81
            // reserves), is corrupt: zune-jpeg refuses it too.
            if code >= 1 << len {
                return None;
            }
            max_code[len as usize] = if n > 0 { code - 1 } else { -1 };
            code <<= 1;
        }
        (k == entries.len()).then_some(Self { fast, invalid, max_code, offset, entries, zero })
    }
}

/// The bit pattern of a block that codes nothing (a DC difference of 0, then end of block) in
/// the tables `dc` and `ac`: the two codes one after the other, and their length.
pub(super) fn blank_pattern(dc: &Table, ac: &Table) -> Option<(u64, u32)> {
    let ((d, dl), (a, al)) = (dc.zero?, ac.zero?);
    Some((d << al | a, dl + al))
}

/// The signed value `size` magnitude bits code (T.81's EXTEND; 0 for none).
#[inline(always)]
fn extend(bits: i32, size: u32) -> i32 {
    if size > 0 && bits < 1 << (size - 1) {
        bits - (1 << size) + 1
    } else {
        bits
    }
}

/// What a symbol means in a baseline scan (see [`Entry`]), its code length left out.
fn entry(ac: bool, sym: u8) -> Entry {
    let (r, s) = (Entry::from(sym >> 4), Entry::from(sym & 15));
    match (ac, r, s) {
        (false, 0, 0) => ENDS,
        (false, 0, 1..=11) => s | s << SIZE,
        (true, 0, 0) => ENDS,
        (true, 15, 0) => 16 << ADVANCE,
        (true, _, 1..=10) => s | (r + 1) << ADVANCE | s << SIZE,
        _ => INVALID,
    }
}

/// The entropy-coded bits with stuffed zero bytes removed, up to a marker.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Valid bits at the top, zeros below.
    buf: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, buf: 0, count: 0 }
    }

    /// Tops the buffer up to at least 56 bits, or to the marker (or end) that stops the data:
    /// whole words at once where they hold no 0xFF (no stuffing, no marker), else byte by byte.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            let w = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            let ff = (!w).wrapping_sub(0x0101_0101_0101_0101) & w & 0x8080_8080_8080_8080;
            if ff == 0 {
                let n = (63 - self.count) / 8;
                let count = self.count + 8 * n;
                self.buf = (self.buf | w >> self.count) & !(u64::MAX >> count);
                self.count = count;
                self.pos += n as usize;
                return;
            }
        }
        self.refill_bytes();
    }

    /// [`Self::refill`] near a 0xFF byte: byte by byte, unstuffing, stopping at a marker.
    #[cold]
    fn refill_bytes(&mut self) {
        while self.count <= 56 {
            let Some(&b) = self.data.get(self.pos) else { return };
            if b == 0xff {
                if self.data.get(self.pos + 1) != Some(&0) {
                    return;
                }
                self.pos += 1;
            }
            self.pos += 1;
            self.buf |= u64::from(b) << (56 - self.count);
            self.count += 8;
        }
    }

    fn peek(&self, n: u32) -> u64 {
        self.buf >> (64 - n)
    }

    /// The next symbol's entry, not consumed: looked up (refilling first) once its code and
    /// magnitude bits have all arrived; `None` for a code outside the table, an invalid symbol
    /// or the data ending.
    #[inline(always)]
    fn look(&mut self, t: &Table) -> Option<Entry> {
        if self.count < 32 {
            self.refill();
        }
        let mut e = t.fast[(self.buf >> (64 - FAST_BITS)) as usize];
        if e == 0 {
            e = slow(self.buf, t)?;
        }
        (e & 31 <= self.count).then_some(e)
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// The next symbol's entry (its code and magnitude bits consumed), `None` as [`Self::look`].
    #[inline(always)]
    fn entry(&mut self, t: &Table) -> Option<Entry> {
        let e = self.look(t)?;
        self.consume(e & 31);
        Some(e)
    }

    /// The next symbol's entry and the signed value its magnitude bits code (T.81's EXTEND),
    /// both consumed.
    #[inline(always)]
    pub(super) fn coded(&mut self, t: &Table) -> Option<(Entry, i32)> {
        let e = self.look(t)?;
        let n = e & 31;
        let v = if e & KNOWN != 0 {
            (e as i32) >> VALUE
        } else {
            let s = e >> SIZE & 15;
            // n >= 1: every code is at least one bit long.
            extend((self.peek(n) as u32 & ((1 << s) - 1)) as i32, s)
        };
        self.consume(n);
        Some((e, v))
    }

    /// Whether the next block codes nothing (a DC difference of 0, then end of block: the
    /// `pattern` of [`blank_pattern`]), consumed if so. Prefix codes make this the same answer
    /// as decoding the two symbols.
    #[inline(always)]
    pub(super) fn blank(&mut self, pattern: (u64, u32)) -> bool {
        if self.count < 32 {
            self.refill();
        }
        let (code, len) = pattern;
        if len <= self.count && self.peek(len) == code {
            self.consume(len);
            true
        } else {
            false
        }
    }

    /// Skips one block's codes: `Some(true)` if it codes nothing at all.
    #[inline(always)]
    pub(super) fn block(&mut self, dc: &Table, ac: &Table) -> Option<bool> {
        let zero_dc = self.entry(dc)? & ENDS != 0;
        let first = self.entry(ac)?;
        if first & ENDS != 0 {
            return Some(zero_dc);
        }
        let mut k = 1 + (first >> ADVANCE & 127);
        while k < 64 {
            let e = self.entry(ac)?;
            if e & ENDS != 0 {
                return Some(false);
            }
            k += e >> ADVANCE & 127;
        }
        (k == 64).then_some(false)
    }

    /// At a restart: the rest of the byte is padding (ones), and the RST marker must come next.
    pub(super) fn restart(&mut self) -> Option<()> {
        if self.count >= 8 || (self.count > 0 && self.peek(self.count) != (1 << self.count) - 1) {
            return None;
        }
        match self.data.get(self.pos..self.pos + 2) {
            Some(&[0xff, 0xd0..=0xd7]) => {}
            _ => return None,
        }
        self.pos += 2;
        (self.buf, self.count) = (0, 0);
        Some(())
    }
}

/// A code longer than [`FAST_BITS`] at the top of `buf`, by the canonical code ranges; `None`
/// for the code of an invalid symbol (short or long) or bits that are no code.
#[cold]
fn slow(buf: u64, t: &Table) -> Option<Entry> {
    if t.invalid[(buf >> (64 - FAST_BITS)) as usize] {
        return None;
    }
    let e = (FAST_BITS + 1..=16).find_map(|len| {
        let code = (buf >> (64 - len)) as i32;
        (code <= t.max_code[len as usize])
            .then(|| t.entries.get((code + t.offset[len as usize]) as usize).map(|&e| e + len as Entry))
            .flatten()
    })?;
    (e & INVALID == 0).then_some(e)
}
