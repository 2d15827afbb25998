//! Neutral chroma read from the entropy coding: a grey slip's chroma blocks code nothing (a DC
//! difference of 0, then end of block), so their pixels are 128 whatever the decoder's IDCT and
//! upsampling, and the pixel decoder can skip them. The scan's Huffman codes are walked without
//! dequantising or transforming anything; any irregularity answers "not proven". The [`Plan`] is
//! also what [`super::jpeg_luma`] decodes the luma blocks with.

use super::jpeg_huffman::{Bits, Table};
use super::jpeg_walk::{Component, Sequential};

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
