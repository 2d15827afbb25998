//! Neutral chroma read from the entropy coding: a grey slip's chroma blocks code nothing (a DC
//! difference of 0, then end of block), so their pixels are 128 whatever the decoder's IDCT and
//! upsampling, and the pixel decoder can skip them. The scan's Huffman codes are walked without
//! dequantising or transforming anything; any irregularity answers "not proven". The tables and
//! the bit reader are also what [`super::jpeg_luma`] decodes the luma blocks with.

use super::jpeg_walk::{Component, Sequential};

/// Code lengths resolved by one table lookup; longer codes take the canonical slow path.
const FAST_BITS: u32 = 10;

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
    /// Indexed by the next [`FAST_BITS`] bits; 0 for longer codes.
    fast: Vec<Entry>,
    /// For each length 1..=16: the largest code of that length (-1 if none), and the index in
    /// `entries` of its smallest code minus that code.
    max_code: [i32; 17],
    offset: [i32; 17],
    /// Each symbol's entry, without the code length.
    entries: Vec<Entry>,
}

impl Table {
    fn new(ac: bool, counts: &[u8], symbols: &[u8]) -> Option<Self> {
        let entries: Vec<Entry> = symbols.iter().map(|&sym| entry(ac, sym)).collect();
        let mut fast = vec![0; 1 << FAST_BITS];
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            offset[len as usize] = k as i32 - code;
            for _ in 0..n {
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let first = (code as usize) << shift;
                    let e = *entries.get(k)?;
                    let size = e >> SIZE & 15;
                    for (j, f) in fast.get_mut(first..first + (1 << shift))?.iter_mut().enumerate() {
                        *f = if e == INVALID {
                            e
                        } else if len + size <= FAST_BITS {
                            let bits = (j >> (shift - size)) as i32 & ((1 << size) - 1);
                            (e + len) | KNOWN | (extend(bits, size) as u32) << VALUE
                        } else {
                            e + len
                        };
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
        (k == entries.len()).then_some(Self { fast, max_code, offset, entries })
    }
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
    #[inline]
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

    /// The next symbol's entry, its code and magnitude bits consumed.
    #[inline(always)]
    fn symbol(&mut self, t: &Table) -> Option<Entry> {
        if self.count < 32 {
            self.refill();
        }
        let mut e = t.fast[self.peek(FAST_BITS) as usize];
        if e == 0 {
            e = self.slow(t)?;
        }
        let n = e & 31;
        if e & INVALID != 0 || n > self.count {
            return None;
        }
        self.buf <<= n;
        self.count -= n;
        Some(e)
    }

    /// The next symbol's entry and the signed value its magnitude bits code (T.81's EXTEND),
    /// both consumed.
    #[inline(always)]
    pub(super) fn coded(&mut self, t: &Table) -> Option<(Entry, i32)> {
        if self.count < 32 {
            self.refill();
        }
        let mut e = t.fast[self.peek(FAST_BITS) as usize];
        if e == 0 {
            e = self.slow(t)?;
        }
        let n = e & 31;
        if e & INVALID != 0 || n > self.count {
            return None;
        }
        let v = if e & KNOWN != 0 {
            (e as i32) >> VALUE
        } else {
            let s = e >> SIZE & 15;
            // n >= 1: every code is at least one bit long.
            extend((self.peek(n) as u32 & ((1 << s) - 1)) as i32, s)
        };
        self.buf <<= n;
        self.count -= n;
        Some((e, v))
    }

    /// A code longer than [`FAST_BITS`], by the canonical code ranges.
    #[cold]
    fn slow(&self, t: &Table) -> Option<Entry> {
        (FAST_BITS + 1..=16).find_map(|len| {
            let code = self.peek(len) as i32;
            (code <= t.max_code[len as usize])
                .then(|| t.entries.get((code + t.offset[len as usize]) as usize).map(|&e| e + len as Entry))
                .flatten()
        })
    }

    /// Skips one block's codes: `Some(true)` if it codes nothing at all.
    #[inline(always)]
    pub(super) fn block(&mut self, dc: &Table, ac: &Table) -> Option<bool> {
        let zero_dc = self.symbol(dc)? & ENDS != 0;
        let first = self.symbol(ac)?;
        if first & ENDS != 0 {
            return Some(zero_dc);
        }
        let mut k = 1 + (first >> ADVANCE & 127);
        while k < 64 {
            let e = self.symbol(ac)?;
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

/// Whether every block of the chroma components (all but the frame's first) in the single
/// scan codes nothing, so that they decode to 128 exactly; `false` whenever that is not shown
/// (another structure, a table missing, a code that is not in its table, a bit too few).
pub(super) fn neutral(bytes: &[u8], comps: &[Component], width: u32, height: u32, scan: &Sequential) -> bool {
    neutral_or_not(bytes, comps, width, height, scan).unwrap_or(false)
}

/// What decoding the single scan of a three-component sequential file takes: its Huffman tables
/// and its components in coding order.
pub(super) struct Plan {
    /// DC tables 0-3, then AC tables 0-3.
    tables: [Option<Table>; 8],
    /// Per scan component, in coding order: its index in the frame and its DC and AC table slots
    /// (each present in `tables`).
    order: Vec<(usize, usize, usize)>,
}

impl Plan {
    /// The scan's components in coding order: frame index, DC table, AC table.
    pub(super) fn order(&self) -> impl Iterator<Item = (usize, &Table, &Table)> + '_ {
        self.order.iter().filter_map(|&(i, dc, ac)| Some((i, self.tables[dc].as_ref()?, self.tables[ac].as_ref()?)))
    }
}

/// The [`Plan`] of a file's single scan, `None` unless it is an interleaved baseline scan of all
/// three components, each once, with its tables defined.
pub(super) fn plan(bytes: &[u8], comps: &[Component], scan: &Sequential) -> Option<Plan> {
    let mut tables: [Option<Table>; 8] = Default::default();
    for r in &scan.huffman {
        let mut d = bytes.get(r.clone())?;
        while let Some((&tc_th, rest)) = d.split_first() {
            let (class, id) = (tc_th >> 4, usize::from(tc_th & 15));
            let counts = rest.get(..16)?;
            let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
            if class > 1 || id > 3 || n > 256 {
                return None;
            }
            // zune-jpeg refuses a DC table with a symbol above 15, used or not.
            if class == 0 && rest.get(16..16 + n)?.iter().any(|&s| s > 15) {
                return None;
            }
            *tables.get_mut(usize::from(class) * 4 + id)? =
                Some(Table::new(class == 1, counts, rest.get(16..16 + n)?)?);
            d = &rest[16 + n..];
        }
    }
    let header = bytes.get(scan.header.clone())?;
    if comps.len() != 3 || header.first() != Some(&3) || header.len() != 10 {
        return None;
    }
    let mut order: Vec<(usize, usize, usize)> = Vec::with_capacity(3);
    for s in header[1..7].chunks_exact(2) {
        let i = comps.iter().position(|c| c.id == s[0])?;
        if order.iter().any(|&(j, ..)| j == i) || comps.iter().filter(|c| c.id == s[0]).count() != 1 {
            return None;
        }
        let (dc, ac) = (usize::from(s[1] >> 4), 4 + usize::from(s[1] & 15));
        if dc > 3 || ac > 7 || tables[dc].is_none() || tables[ac].is_none() {
            return None;
        }
        order.push((i, dc, ac));
    }
    // Baseline spectral selection and no successive approximation.
    if header[7..] != [0, 63, 0] {
        return None;
    }
    Some(Plan { tables, order })
}

fn neutral_or_not(bytes: &[u8], comps: &[Component], width: u32, height: u32, scan: &Sequential) -> Option<bool> {
    let plan = plan(bytes, comps, scan)?;
    let order: Vec<(usize, usize, &Table, &Table)> =
        plan.order().map(|(i, dc, ac)| (i, usize::from(comps[i].h) * usize::from(comps[i].v), dc, ac)).collect();
    let hmax = u32::from(comps.iter().map(|c| c.h).max()?);
    let vmax = u32::from(comps.iter().map(|c| c.v).max()?);
    let mcus = width.div_ceil(8 * hmax) as usize * height.div_ceil(8 * vmax) as usize;
    let mut bits = Bits::new(bytes.get(scan.data.clone())?);
    for m in 0..mcus {
        if m > 0 && scan.restart_interval > 0 && m % scan.restart_interval == 0 {
            bits.restart()?;
        }
        for &(i, blocks, dc, ac) in &order {
            for _ in 0..blocks {
                if !bits.block(dc, ac)? && i > 0 {
                    return Some(false);
                }
            }
        }
    }
    Some(true)
}
