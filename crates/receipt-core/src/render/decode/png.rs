//! The PNG container walk: every chunk is read (bounded in number and text size), its CRC
//! checked and its type judged against the policy before any pixel is inflated. What passes
//! goes to [`super::png_pixels`] with the header, palette, tRNS and IDAT data.

pub(super) use super::png_file::{Header, PngFile};
use super::refusal::{ChunkName, Refusal};
use super::{exif, inflate_bounded, png_pixels, png_scan, ImageError, ImageKind, Inspected, Limits, Scanned};

/// `tEXt` keyword under which the signed QR payload is stored (the encoder's constant).
const KEYWORD: &[u8] = crate::render::TEXT_KEYWORD.as_bytes();
/// No genuine file has more chunks (a receipt has 6; tools split IDAT into 8-64 KiB chunks).
pub(super) const MAX_CHUNKS: usize = 1024;
/// Text a receipt needs: the payload is a few KiB; tools add a few dates and a comment.
const MAX_TEXT: usize = 256 * 1024;
/// The QR payload inflated from a compressed text chunk is at most this long.
const MAX_PAYLOAD: usize = 16 * 1024;
/// gAMA equivalent to sRGB's transfer curve (1/2.2 × 100 000), and the tolerance on it (1%).
const SRGB_GAMMA: u32 = 45455;
const GAMMA_SLACK: u32 = 455;
/// cHRM of sRGB / Rec. 709 (white x, y, red x, y, green x, y, blue x, y) × 100 000, ± 0.01.
const SRGB_CHRM: [u32; 8] = [31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000];
const CHRM_SLACK: u32 = 1000;

impl PngFile<'_> {
    fn refuse(&mut self, r: Refusal) {
        self.refusal.get_or_insert(r);
    }
}

pub(super) fn read(bytes: &[u8], limits: Limits) -> Result<Inspected, ImageError> {
    let mut file = walk(bytes, limits)?;
    let canvas = match png_pixels::decode(&file) {
        Ok((canvas, refusal)) => {
            if let Some(r) = refusal {
                file.refuse(r);
            }
            Some(canvas)
        }
        // The refusal already decides; the pixels were only wanted for reading the QR.
        Err(_) if file.refusal.is_some() => None,
        Err(e) => return Err(e),
    };
    Ok(Inspected { kind: ImageKind::Png, payload: file.payload, canvas, luma_table: None, refusal: file.refusal })
}

/// [`super::scan_lossless`] of a PNG: the walk of [`read`], then the rows straight into the
/// watermark's scan; `None` at the first thing [`read`] would refuse or fail on.
pub(super) fn scan(bytes: &[u8]) -> Option<Scanned> {
    let mut file = walk(bytes, Limits::Receipt).ok()?;
    let payload = file.payload.take()?;
    let scan = png_scan::scan(&file)?;
    Some(Scanned { payload, scan })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn corrupt(msg: impl Into<String>) -> ImageError {
    ImageError::Png(msg.into())
}

/// Walks the chunks from the signature to IEND.
fn walk(bytes: &[u8], limits: Limits) -> Result<PngFile<'_>, ImageError> {
    let mut pos = 8;
    let mut file: Option<PngFile<'_>> = None;
    let (mut chunks, mut text, mut idat_run) = (0usize, 0usize, IdatRun::Before);
    loop {
        let Some(head) = bytes.get(pos..pos + 8) else {
            return Err(corrupt("truncated before IEND"));
        };
        let len = be32(head) as usize;
        let name = ChunkName([head[4], head[5], head[6], head[7]]);
        if len > 0x7fff_ffff || !name.0.iter().all(u8::is_ascii_alphabetic) {
            return Err(corrupt(format!("bad chunk header at byte {pos}")));
        }
        let Some(data) = bytes.get(pos + 8..pos + 8 + len) else {
            return Err(corrupt(format!("chunk {name} truncated")));
        };
        let Some(crc) = bytes.get(pos + 8 + len..pos + 12 + len) else {
            return Err(corrupt(format!("chunk {name} truncated")));
        };
        pos += 12 + len;
        let Some(f) = file.as_mut() else {
            if &name.0 != b"IHDR" {
                return Err(corrupt(format!("first chunk is {name}, not IHDR")));
            }
            let header = ihdr(data)?;
            limits.check(header.width, header.height)?;
            let mut f = PngFile { header, palette: None, trns: None, idat: Vec::new(), payload: None, refusal: None };
            check_crc(&mut f, name, data, crc);
            file = Some(f);
            continue;
        };
        check_crc(f, name, data, crc);
        chunks += 1;
        if chunks > MAX_CHUNKS {
            f.refuse(Refusal::TooManyChunks(MAX_CHUNKS));
            break;
        }
        if &name.0 != b"IDAT" && idat_run == IdatRun::In {
            idat_run = IdatRun::After;
        }
        match &name.0 {
            b"IEND" => {
                if pos < bytes.len() {
                    f.refuse(Refusal::AfterIend(bytes.len() - pos));
                }
                break;
            }
            b"IDAT" => match idat_run {
                IdatRun::After => f.refuse(Refusal::ImageData("IDAT chunks are not consecutive")),
                _ => {
                    idat_run = IdatRun::In;
                    f.idat.push(data);
                }
            },
            b"PLTE" => {
                if f.palette.is_some() || idat_run != IdatRun::Before {
                    f.refuse(Refusal::Order(name));
                } else if data.is_empty() || data.len() % 3 != 0 || data.len() > 768 {
                    return Err(corrupt(format!("PLTE of {} bytes is not 1 to 256 RGB triples", data.len())));
                } else {
                    f.palette = Some(data);
                }
            }
            b"IHDR" => f.refuse(Refusal::Order(name)),
            b"tRNS" => {
                if f.trns.is_some() || matches!(f.header.colour, 4 | 6) {
                    f.refuse(Refusal::Transparency("an image with an alpha channel (tRNS on alpha)".into()));
                }
                f.trns = Some(data);
            }
            b"acTL" | b"fcTL" | b"fdAT" => f.refuse(Refusal::Animated(name)),
            b"iCCP" | b"cICP" | b"mDCv" | b"cLLi" => f.refuse(Refusal::ColourManaged(name)),
            b"gAMA" => {
                let g = if data.len() == 4 { be32(data) } else { 0 };
                if g.abs_diff(SRGB_GAMMA) > GAMMA_SLACK {
                    f.refuse(Refusal::Gamma(g));
                }
            }
            b"cHRM" => {
                let ok = data.len() == 32
                    && data.chunks_exact(4).zip(SRGB_CHRM).all(|(c, s)| be32(c).abs_diff(s) <= CHRM_SLACK);
                if !ok {
                    f.refuse(Refusal::Chromaticities);
                }
            }
            b"sBIT" => {
                if !full_significant_bits(&f.header, data) {
                    f.refuse(Refusal::SignificantBits);
                }
            }
            b"eXIf" => match exif::parse(data.strip_prefix(b"Exif\0\0").unwrap_or(data)) {
                Some(e) if e.orientation.is_none_or(|o| o == 1) => {}
                Some(e) => f.refuse(Refusal::PngOrientation(e.orientation.unwrap_or(0))),
                None => f.refuse(Refusal::Exif),
            },
            b"tEXt" | b"zTXt" | b"iTXt" => {
                text += data.len();
                if text > MAX_TEXT {
                    f.refuse(Refusal::Text(MAX_TEXT));
                } else if f.payload.is_none() {
                    f.payload = payload(&name.0, data);
                }
            }
            b"sRGB" | b"tIME" | b"pHYs" | b"bKGD" => {}
            _ if name.0[0].is_ascii_uppercase() => f.refuse(Refusal::UnknownCritical(name)),
            _ => f.refuse(Refusal::Chunk(name)),
        }
    }
    file.ok_or_else(|| corrupt("no IHDR"))
}

/// Where the walk is relative to the IDAT chunks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdatRun {
    Before,
    In,
    After,
}

fn check_crc(f: &mut PngFile<'_>, name: ChunkName, data: &[u8], crc: &[u8]) {
    let mut c = flate2::Crc::new();
    c.update(&name.0);
    c.update(data);
    if c.sum() != be32(crc) {
        f.refuse(Refusal::Crc(name));
    }
}

fn ihdr(data: &[u8]) -> Result<Header, ImageError> {
    if data.len() != 13 {
        return Err(corrupt("IHDR is not 13 bytes"));
    }
    let h = Header {
        width: be32(&data[0..4]),
        height: be32(&data[4..8]),
        depth: data[8],
        colour: data[9],
        interlaced: data[12] == 1,
    };
    let depth_ok = match h.colour {
        0 => matches!(h.depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(h.depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(h.depth, 8 | 16),
        _ => false,
    };
    if !depth_ok || data[10] != 0 || data[11] != 0 || data[12] > 1 {
        return Err(corrupt(format!("IHDR colour type {} depth {} is not valid", h.colour, h.depth)));
    }
    Ok(h)
}

/// sBIT states, per channel, the significant bits: allowed only when that is the whole sample
/// (8 for palette entries), so no viewer rescales the levels.
fn full_significant_bits(h: &Header, data: &[u8]) -> bool {
    let (n, full) = match h.colour {
        3 => (3, 8),
        c => (if c == 0 { 1 } else { h.channels() }, h.depth),
    };
    data.len() == n && data.iter().all(|&b| b == full)
}

/// The ereceipt payload of a text chunk, if it is one.
fn payload(kind: &[u8; 4], data: &[u8]) -> Option<String> {
    let (keyword, rest) = data.split_at(data.iter().position(|&b| b == 0)?);
    if keyword != KEYWORD {
        return None;
    }
    let rest = &rest[1..];
    let latin1 = |b: &[u8]| b.iter().map(|&c| char::from(c)).collect::<String>();
    match kind {
        b"tEXt" => Some(latin1(rest)),
        b"zTXt" => Some(latin1(&inflate_bounded(rest.get(1..)?, MAX_PAYLOAD)?)),
        _ => {
            // iTXt: compression flag, method, language tag\0, translated keyword\0, text.
            let (&flag, rest) = rest.split_first()?;
            let rest = rest.get(1..)?;
            let lang_end = rest.iter().position(|&b| b == 0)?;
            let rest = &rest[lang_end + 1..];
            let kw_end = rest.iter().position(|&b| b == 0)?;
            let text = &rest[kw_end + 1..];
            let bytes = if flag == 1 { inflate_bounded(text, MAX_PAYLOAD)? } else { text.to_vec() };
            String::from_utf8(bytes).ok()
        }
    }
}
