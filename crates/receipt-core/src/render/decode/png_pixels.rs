//! PNG pixels, decoded here rather than by a general decoder so that nothing is guessed: the
//! IDAT data must inflate, as one zlib stream, to exactly the size IHDR implies (inflation
//! stops one byte past it, whatever the file), rows are unfiltered, Adam7 passes scattered,
//! and every sample is judged as it is turned into grey (colour, alpha, tRNS, 16-bit levels).

use super::png_file::{Header, PngFile};
use super::refusal::Refusal;
use super::{luma, over_white, ImageError};
use crate::render::canvas::Canvas;

/// Adam7 passes: first column, first row, column step, row step.
const ADAM7: [(usize, usize, usize, usize); 7] =
    [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

/// One reduced image: where its pixels go and how its rows are laid out.
#[derive(Clone, Copy)]
struct Pass {
    x0: usize,
    y0: usize,
    dx: usize,
    dy: usize,
    w: usize,
    h: usize,
    /// Bytes per row, without the filter byte.
    stride: usize,
}

fn passes(h: &Header) -> Vec<Pass> {
    let (w, ht) = (h.width as usize, h.height as usize);
    let bits = usize::from(h.depth) * h.channels();
    let geometry: &[(usize, usize, usize, usize)] = if h.interlaced { &ADAM7 } else { &[(0, 0, 1, 1)] };
    geometry
        .iter()
        .map(|&(x0, y0, dx, dy)| {
            let pw = w.saturating_sub(x0).div_ceil(dx);
            let ph = ht.saturating_sub(y0).div_ceil(dy);
            Pass { x0, y0, dx, dy, w: pw, h: ph, stride: (pw * bits).div_ceil(8) }
        })
        .filter(|p| p.w > 0 && p.h > 0)
        .collect()
}

fn corrupt(msg: &str) -> ImageError {
    ImageError::Png(msg.into())
}

/// The grey image and the first refusal its pixels or image data earn.
pub(super) fn decode(file: &PngFile<'_>) -> Result<(Canvas, Option<Refusal>), ImageError> {
    let h = file.header;
    let passes = passes(&h);
    let raw: usize = passes.iter().map(|p| p.h * (1 + p.stride)).sum();
    let (mut data, mut refusal) = inflate(&file.idat, raw)?;
    let bpp = (usize::from(h.depth) * h.channels()).div_ceil(8);
    let mut conv = Converter::new(file)?;
    let width = h.width as usize;
    let mut px = vec![0u8; width * h.height as usize];
    let mut rest = &mut data[..];
    for p in passes {
        let (block, tail) = rest.split_at_mut(p.h * (1 + p.stride));
        rest = tail;
        unfilter(block, p.stride, bpp)?;
        for (r, row) in block.chunks_exact(1 + p.stride).enumerate() {
            let y = p.y0 + r * p.dy;
            conv.row(&row[1..], &p, y, &mut px[y * width..(y + 1) * width]);
        }
    }
    if let Some(r) = conv.finish() {
        refusal.get_or_insert(r);
    }
    let canvas = Canvas::from_pixels(h.width, h.height, px).ok_or_else(|| corrupt("pixel data size mismatch"))?;
    Ok((canvas, refusal))
}

/// Inflates the IDAT data into exactly `raw` bytes. More data than that, data after the zlib
/// stream, or a stream that does not end are refusals (decoders disagree on them); too little
/// data is an error.
pub(super) fn inflate(idat: &[&[u8]], raw: usize) -> Result<(Vec<u8>, Option<Refusal>), ImageError> {
    let mut z = flate2::Decompress::new(true);
    // One byte of room past the image tells a longer stream without inflating it further.
    // Inflated into the spare capacity: nothing is zeroed first.
    let mut out = Vec::with_capacity(raw + 1);
    let (mut ended, mut refusal) = (false, None);
    'chunks: for &chunk in idat {
        let mut input = chunk;
        while !input.is_empty() {
            if ended {
                refusal = Some(Refusal::ImageData("data after the end of the zlib stream"));
                break 'chunks;
            }
            let (in0, out0) = (z.total_in(), z.total_out() as usize);
            let status = z.decompress_vec(input, &mut out, flate2::FlushDecompress::None);
            let produced = z.total_out() as usize;
            match status {
                Ok(flate2::Status::StreamEnd) => ended = true,
                Ok(_) => {}
                // A checksum or coding error once every byte of the image is out: viewers show
                // the image, but the file is not what an encoder wrote.
                Err(_) if produced >= raw => {
                    refusal = Some(Refusal::ImageData("the zlib stream is corrupt after the image data"));
                    break 'chunks;
                }
                Err(e) => return Err(ImageError::Png(format!("IDAT does not inflate: {e}"))),
            }
            if produced > raw {
                refusal = Some(Refusal::ImageData("decompresses to more than IHDR implies"));
                break 'chunks;
            }
            input = &input[(z.total_in() - in0) as usize..];
            if z.total_in() == in0 && produced == out0 && !ended {
                break;
            }
        }
    }
    let produced = (z.total_out() as usize).min(raw);
    if produced < raw {
        return Err(corrupt("IDAT holds less image data than IHDR implies"));
    }
    if !ended && refusal.is_none() {
        refusal = Some(Refusal::ImageData("the zlib stream does not end"));
    }
    out.truncate(raw);
    Ok((out, refusal))
}

/// Undoes the row filters of one reduced image in place.
pub(super) fn unfilter(block: &mut [u8], stride: usize, bpp: usize) -> Result<(), ImageError> {
    let line = stride + 1;
    for i in 0..block.len() / line {
        let (before, rest) = block.split_at_mut(i * line);
        let prior = (i > 0).then(|| &before[(i - 1) * line + 1..]);
        let Some((&mut filter, cur)) = rest[..line].split_first_mut() else {
            return Err(corrupt("empty row"));
        };
        match (filter, prior) {
            (0, _) | (2, None) => {}
            (1, _) => {
                for x in bpp..stride {
                    cur[x] = cur[x].wrapping_add(cur[x - bpp]);
                }
            }
            (2, Some(p)) => cur.iter_mut().zip(p).for_each(|(c, &b)| *c = c.wrapping_add(b)),
            (3, _) => {
                for x in 0..stride {
                    let a = if x >= bpp { u16::from(cur[x - bpp]) } else { 0 };
                    let b = prior.map_or(0, |p| u16::from(p[x]));
                    cur[x] = cur[x].wrapping_add(((a + b) / 2) as u8);
                }
            }
            (4, _) => {
                for x in 0..stride {
                    let a = if x >= bpp { cur[x - bpp] } else { 0 };
                    let b = prior.map_or(0, |p| p[x]);
                    let c = if x >= bpp { prior.map_or(0, |p| p[x - bpp]) } else { 0 };
                    cur[x] = cur[x].wrapping_add(paeth(a, b, c));
                }
            }
            _ => return Err(corrupt("unknown row filter")),
        }
    }
    Ok(())
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Turns rows of samples into grey, noting what the policy refuses.
struct Converter {
    h: Header,
    /// Grey images of at most 8 bits and palette images go through a table of levels.
    table: Option<Levels>,
    /// tRNS of a grey or RGB image: the one colour (raw sample values) that is transparent.
    key: Option<[u16; 3]>,
    refusal: Option<Refusal>,
}

/// Per index (palette entry or grey level): its grey as displayed over white, and what a
/// viewer would make of it that the check would not see.
struct Levels {
    grey: [u8; 256],
    problem: [Option<Problem>; 256],
    /// Byte values seen in whole bytes of packed rows, and indices seen one by one.
    seen_bytes: [bool; 256],
    seen: [bool; 256],
    /// The grey levels of the pixels in each byte value, first pixel first.
    unpacked: Vec<[u8; 8]>,
}

#[derive(Clone, Copy)]
enum Problem {
    Colour,
    Transparent,
    Missing,
}

/// For a palette image or a grey one of at most 8 bits, per index (palette entry or grey
/// level): its grey as displayed over white, and what a viewer would make of it that the check
/// would not see. `None` for other images; `key` is the grey tRNS level, if any.
fn index_levels(file: &PngFile<'_>, key: Option<[u16; 3]>) -> Result<Option<IndexLevels>, ImageError> {
    let h = file.header;
    let trns = file.trns.unwrap_or(&[]);
    Ok(match (h.colour, h.depth) {
        (3, _) => {
            let palette = file.palette.ok_or_else(|| corrupt("a palette image without PLTE"))?;
            let mut grey = [0u8; 256];
            let mut problem = [Some(Problem::Missing); 256];
            for (i, rgb) in palette.chunks_exact(3).enumerate() {
                let alpha = trns.get(i).copied().unwrap_or(255);
                grey[i] = over_white(luma(rgb[0], rgb[1], rgb[2]), alpha);
                problem[i] = if rgb[0] != rgb[1] || rgb[1] != rgb[2] {
                    Some(Problem::Colour)
                } else if alpha != 255 {
                    Some(Problem::Transparent)
                } else {
                    None
                };
            }
            Some((grey, problem))
        }
        (0, d) if d <= 8 => {
            let max = (1u16 << d) - 1;
            let mut grey = [0u8; 256];
            let mut problem = [None; 256];
            for v in 0..=max {
                let transparent = key.is_some_and(|k| k[0] == v);
                grey[usize::from(v)] = if transparent { 255 } else { (v * 255 / max) as u8 };
                problem[usize::from(v)] = transparent.then_some(Problem::Transparent);
            }
            Some((grey, problem))
        }
        _ => None,
    })
}

type IndexLevels = ([u8; 256], [Option<Problem>; 256]);
/// Per index: its grey level, and whether the policy accepts it.
pub(super) type IndexGreys = ([u8; 256], [bool; 256]);

/// The grey level of each index of a palette or ≤8-bit grey image, and whether the policy
/// accepts it (`None` for other images): what [`super::png_scan`] reads rows through.
pub(super) fn index_greys(file: &PngFile<'_>) -> Result<Option<IndexGreys>, ImageError> {
    let key = Converter::transparent_key(file);
    Ok(index_levels(file, key)?.map(|(grey, problem)| (grey, problem.map(|p| p.is_none()))))
}

impl Converter {
    fn new(file: &PngFile<'_>) -> Result<Self, ImageError> {
        let h = file.header;
        let key = Self::transparent_key(file);
        let table = index_levels(file, key)?.map(|(grey, problem)| Levels::new(grey, problem, h.depth));
        Ok(Self { h, table, key, refusal: None })
    }

    /// The tRNS colour of a grey or RGB image (raw sample values).
    fn transparent_key(file: &PngFile<'_>) -> Option<[u16; 3]> {
        let trns = file.trns.unwrap_or(&[]);
        let be16 = |i: usize| trns.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        match file.header.colour {
            0 => be16(0).map(|g| [g, g, g]),
            2 => be16(0).zip(be16(2)).zip(be16(4)).map(|((r, g), b)| [r, g, b]),
            _ => None,
        }
    }

    fn refuse(&mut self, r: Refusal) {
        self.refusal.get_or_insert(r);
    }

    /// Writes the grey levels of one row of `pass` (at image row `y`) into `out`.
    fn row(&mut self, row: &[u8], pass: &Pass, y: usize, out: &mut [u8]) {
        let depth = usize::from(self.h.depth);
        if let Some(t) = self.table.as_mut() {
            let per = 8 / depth;
            if pass.dx == 1 {
                let whole = pass.w / per;
                // A copy of a constant length per byte: the compiler makes it one store.
                match per {
                    8 => t.unpack::<8>(out, &row[..whole]),
                    4 => t.unpack::<4>(out, &row[..whole]),
                    2 => t.unpack::<2>(out, &row[..whole]),
                    _ => t.unpack::<1>(out, &row[..whole]),
                }
                for (i, o) in out.iter_mut().enumerate().take(pass.w).skip(whole * per) {
                    *o = t.pixel(row, i, depth);
                }
            } else {
                for i in 0..pass.w {
                    out[pass.x0 + i * pass.dx] = t.pixel(row, i, depth);
                }
            }
            return;
        }
        let channels = self.h.channels();
        let wide = depth == 16;
        let size = if wide { 2 } else { 1 };
        for i in 0..pass.w {
            let x = pass.x0 + i * pass.dx;
            let s = &row[i * channels * size..(i + 1) * channels * size];
            let mut v = [0u16; 4];
            let mut narrow = [0u8; 4];
            for c in 0..channels {
                if wide {
                    let (hi, lo) = (s[2 * c], s[2 * c + 1]);
                    v[c] = u16::from_be_bytes([hi, lo]);
                    narrow[c] = hi;
                    if hi != lo {
                        self.refuse(Refusal::Wide16 { x: x as u32, y: y as u32 });
                    }
                } else {
                    v[c] = u16::from(s[c]);
                    narrow[c] = s[c];
                }
            }
            let (rgb, alpha) = match channels {
                1 => ([narrow[0]; 3], 255),
                2 => ([narrow[0]; 3], narrow[1]),
                3 => ([narrow[0], narrow[1], narrow[2]], 255),
                _ => ([narrow[0], narrow[1], narrow[2]], narrow[3]),
            };
            let transparent =
                self.key.is_some_and(|k| if channels == 1 { k[0] == v[0] } else { k == [v[0], v[1], v[2]] });
            if rgb[0] != rgb[1] || rgb[1] != rgb[2] {
                self.refuse(Refusal::Colour { x: x as u32, y: y as u32 });
            }
            let alpha = if transparent { 0 } else { alpha };
            if transparent {
                self.refuse(Refusal::Transparency(format!("the colour of pixel ({x}, {y})")));
            } else if alpha != 255 {
                self.refuse(Refusal::Alpha { x: x as u32, y: y as u32, alpha: v[channels - 1] });
            }
            out[x] = over_white(luma(rgb[0], rgb[1], rgb[2]), alpha);
        }
    }

    /// The first refusal, once every row has been seen (used palette entries are judged here).
    fn finish(mut self) -> Option<Refusal> {
        if let Some(t) = self.table.take() {
            let per = 8 / usize::from(self.h.depth);
            let mut used = t.seen;
            for b in (0..256).filter(|&b| t.seen_bytes[b]) {
                for i in 0..per {
                    let bits = 8 / per;
                    used[(b >> (8 - bits * (i + 1))) & ((1 << bits) - 1)] = true;
                }
            }
            let palette = self.h.colour == 3;
            if let Some(i) = (0..256).find(|&i| used[i] && t.problem[i].is_some()) {
                let r = match t.problem[i] {
                    Some(Problem::Colour) => Refusal::PaletteColour(i as u8),
                    Some(Problem::Missing) => Refusal::PaletteIndex(i as u8),
                    _ if palette => Refusal::Transparency(format!("palette entry {i}")),
                    _ => Refusal::Transparency(format!("grey level {i}")),
                };
                self.refuse(r);
            }
        }
        self.refusal
    }
}

impl Levels {
    fn new(grey: [u8; 256], problem: [Option<Problem>; 256], depth: u8) -> Self {
        let bits = usize::from(depth);
        let per = 8 / bits;
        let unpacked = (0..256usize)
            .map(|b| {
                std::array::from_fn(|i| if i < per { grey[(b >> (8 - bits * (i + 1))) & ((1 << bits) - 1)] } else { 0 })
            })
            .collect();
        Self { grey, problem, seen_bytes: [false; 256], seen: [false; 256], unpacked }
    }

    /// The grey levels of whole bytes of a packed row, `P` pixels per byte, noting the bytes seen.
    fn unpack<const P: usize>(&mut self, out: &mut [u8], bytes: &[u8]) {
        for (o, &b) in out.chunks_exact_mut(P).zip(bytes) {
            o.copy_from_slice(&self.unpacked[usize::from(b)][..P]);
            self.seen_bytes[usize::from(b)] = true;
        }
    }

    /// The grey level of pixel `i` of a packed row, noting its index as used.
    fn pixel(&mut self, row: &[u8], i: usize, depth: usize) -> u8 {
        let per = 8 / depth;
        let b = usize::from(row[i / per]);
        let index = (b >> (8 - depth * (i % per + 1))) & ((1 << depth) - 1);
        self.seen[index] = true;
        self.grey[index]
    }
}
