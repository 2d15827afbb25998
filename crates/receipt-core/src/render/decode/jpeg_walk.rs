//! The JPEG marker walk: every segment from SOI to EOI is read (bounded in number), the frame
//! header judged (coding process, components, size), the APP segments read for what changes
//! the rendering (ICC, Adobe transform, EXIF orientation, thumbnails, MPF), the entropy-coded
//! data of each scan walked for its restart markers, and the quantisation tables kept, with
//! where a sequential file's Huffman tables and single scan lie ([`Sequential`]).

use std::ops::Range;

use super::refusal::Refusal;
use super::{exif, ImageError, Limits};

/// No genuine file has more segments (cjpeg writes about 10; progressive files about 25).
const MAX_SEGMENTS: usize = 256;
/// libjpeg's progressive script has 10 scans; anything past this is a CPU trap.
const MAX_SCANS: usize = 64;
/// Quality below which the noise is too large to bound: tables are compared with the
/// standard ones scaled (as libjpeg does) to this quality.
pub(super) const MIN_QUALITY: u32 = 70;

/// The order of DQT entries: `ZIGZAG[k]` is the natural (row-major) index of the k-th entry.
pub(super) const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// The example tables of ITU-T T.81 Annex K (what libjpeg and most encoders scale), natural order.
const STD_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
    87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];
const STD_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99,
];

/// A standard table scaled to `quality` the way libjpeg's `jpeg_quality_scaling` does.
pub(super) fn scaled(luma: bool, quality: u32) -> [u16; 64] {
    let scale = if quality < 50 { 5000 / quality.max(1) } else { 200 - 2 * quality.min(100) };
    let base = if luma { &STD_LUMA } else { &STD_CHROMA };
    std::array::from_fn(|i| ((u32::from(base[i]) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// One frame component.
#[derive(Clone, Copy, Debug)]
pub(super) struct Component {
    pub id: u8,
    pub h: u8,
    pub v: u8,
    pub table: u8,
}

/// Where the entropy coding of a sequential Huffman file (SOF0 or SOF1) with a single scan lies,
/// as byte ranges of the file: what [`super::jpeg_chroma`] reads to tell neutral chroma.
#[derive(Clone, Debug, Default)]
pub(super) struct Sequential {
    /// The DHT segments before the scan, in file order (later tables replace earlier ones).
    pub huffman: Vec<Range<usize>>,
    /// The SOS segment's data.
    pub header: Range<usize>,
    /// The entropy-coded data, up to the marker that ends it.
    pub data: Range<usize>,
    pub restart_interval: usize,
}

/// What the walk found.
pub(super) struct JpegFile {
    pub width: u32,
    pub height: u32,
    pub components: Vec<Component>,
    /// The luma (first component's) table, natural order.
    pub luma_table: [u16; 64],
    /// Whether a pixel decoder can be asked for the pixels at all.
    pub decodable: bool,
    pub refusal: Option<Refusal>,
    /// Set for a sequential Huffman file with exactly one scan.
    pub sequential: Option<Sequential>,
}

struct Walk {
    frame: Option<(u32, u32, Vec<Component>)>,
    tables: [Option<[u16; 64]>; 4],
    restart_interval: usize,
    scans: usize,
    adobe: Option<u8>,
    decodable: bool,
    refusal: Option<Refusal>,
    /// Whether the frame is SOF0 or SOF1, and what [`Sequential`] records so far.
    huffman_sequential: bool,
    sequential: Sequential,
}

impl Walk {
    fn refuse(&mut self, r: Refusal) {
        self.refusal.get_or_insert(r);
    }
    fn undecodable(&mut self, r: Refusal) {
        self.decodable = false;
        self.refuse(r);
    }
}

fn corrupt(msg: impl Into<String>) -> ImageError {
    ImageError::Jpeg(msg.into())
}

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

pub(super) fn walk(bytes: &[u8], limits: Limits) -> Result<JpegFile, ImageError> {
    let mut w = Walk {
        frame: None,
        tables: [None; 4],
        restart_interval: 0,
        scans: 0,
        adobe: None,
        decodable: true,
        refusal: None,
        huffman_sequential: false,
        sequential: Sequential::default(),
    };
    let (mut pos, mut segments) = (2usize, 0usize);
    loop {
        if bytes.get(pos) != Some(&0xff) {
            return Err(corrupt(if pos >= bytes.len() {
                "truncated before EOI".into()
            } else {
                format!("no marker at byte {pos}")
            }));
        }
        while bytes.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(corrupt("truncated before EOI"));
        };
        pos += 1;
        match marker {
            0xd9 => {
                if pos < bytes.len() {
                    w.refuse(Refusal::AfterEoi(bytes.len() - pos));
                }
                break;
            }
            0xd0..=0xd7 => {
                w.refuse(Refusal::Restart("an RST marker outside a scan".into()));
                continue;
            }
            0x01 | 0xd8 => {
                w.refuse(Refusal::Segment(format!("marker FF{marker:02X} inside the file")));
                continue;
            }
            0x00 => return Err(corrupt(format!("stuffed byte outside a scan at byte {pos}"))),
            _ => {}
        }
        let len = bytes.get(pos..pos + 2).map(be16).ok_or_else(|| corrupt("truncated segment"))?;
        let data = bytes.get(pos + 2..pos + len).filter(|_| len >= 2).ok_or_else(|| corrupt("truncated segment"))?;
        pos += len;
        segments += 1;
        if segments > MAX_SEGMENTS {
            w.undecodable(Refusal::TooManyChunks(MAX_SEGMENTS));
            break;
        }
        match marker {
            0xc0..=0xc2 => {
                w.huffman_sequential = w.frame.is_none() && marker != 0xc2;
                frame(&mut w, data, limits)?;
            }
            // Frames of other coding processes are read too (their scans are walked), then refused.
            0xc3 => {
                frame(&mut w, data, limits)?;
                w.undecodable(Refusal::Lossless);
            }
            0xc5..=0xc7 => {
                frame(&mut w, data, limits)?;
                w.undecodable(Refusal::Hierarchical(marker));
            }
            0xc9..=0xcb | 0xcd..=0xcf => {
                frame(&mut w, data, limits)?;
                w.undecodable(Refusal::Arithmetic(marker));
            }
            0xde | 0xdf => w.undecodable(Refusal::Hierarchical(marker)),
            0xcc => w.undecodable(Refusal::Arithmetic(marker)),
            0xc4 if w.scans == 0 => w.sequential.huffman.push(pos - len + 2..pos),
            0xc4 | 0xfe => {}
            0xdb => {
                if w.scans > 0 {
                    w.refuse(Refusal::Segment("DQT after the first scan (decoders latch tables differently)".into()));
                }
                quant_tables(&mut w, data)?;
            }
            // Exactly two bytes, as libjpeg and zune-jpeg insist: a longer "DRI" is another
            // segment's bytes that one edit turned into a restart interval.
            0xdd if data.len() == 2 => w.restart_interval = be16(data),
            0xdd => return Err(corrupt("DRI segment length is not 4")),
            0xda => {
                let header = pos - len + 2..pos;
                let start = pos;
                pos = scan(&mut w, data, bytes, pos)?;
                if w.scans == 1 {
                    w.sequential.header = header;
                    w.sequential.data = start..pos;
                    w.sequential.restart_interval = w.restart_interval;
                }
            }
            0xdc => w.undecodable(Refusal::Segment("DNL".into())),
            0xe0..=0xef => app(&mut w, marker - 0xe0, data),
            _ => w.refuse(Refusal::Segment(format!("marker FF{marker:02X}"))),
        }
    }
    finish(w)
}

fn frame(w: &mut Walk, data: &[u8], limits: Limits) -> Result<(), ImageError> {
    if w.frame.is_some() {
        w.undecodable(Refusal::Segment("a second frame (SOF)".into()));
        return Ok(());
    }
    if data.len() < 6 {
        return Err(corrupt("short SOF"));
    }
    let (height, width, n) = (be16(&data[1..3]) as u32, be16(&data[3..5]) as u32, usize::from(data[5]));
    limits.check(width, height)?;
    if data.len() != 6 + 3 * n || n == 0 {
        return Err(corrupt("SOF length does not match its components"));
    }
    let components: Vec<Component> =
        data[6..].chunks_exact(3).map(|c| Component { id: c[0], h: c[1] >> 4, v: c[1] & 15, table: c[2] }).collect();
    if components.iter().any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v) || c.table > 3) {
        return Err(corrupt("bad sampling factors or table in SOF"));
    }
    if data[0] != 8 {
        w.undecodable(Refusal::Frame(format!("{}-bit samples", data[0])));
    }
    match n {
        1 | 3 => {}
        4 => w.refuse(Refusal::Cmyk),
        _ => w.undecodable(Refusal::Frame(format!("{n} components"))),
    }
    let (hmax, vmax) = (components.iter().map(|c| c.h).max(), components.iter().map(|c| c.v).max());
    if (Some(components[0].h), Some(components[0].v)) != (hmax, vmax) {
        w.refuse(Refusal::Sampling);
    }
    w.frame = Some((width, height, components));
    Ok(())
}

fn quant_tables(w: &mut Walk, mut data: &[u8]) -> Result<(), ImageError> {
    while let Some((&pq_tq, rest)) = data.split_first() {
        let (wide, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
        let size = if wide == 1 { 128 } else { 64 };
        if wide > 1 || id > 3 || rest.len() < size {
            return Err(corrupt("bad DQT"));
        }
        let mut t = [0u16; 64];
        for (k, &nat) in ZIGZAG.iter().enumerate() {
            t[nat] = if wide == 1 { be16(&rest[2 * k..]) as u16 } else { u16::from(rest[k]) };
        }
        if t.contains(&0) {
            return Err(corrupt("a quantisation step of 0"));
        }
        w.tables[id] = Some(t);
        data = &rest[size..];
    }
    Ok(())
}

/// Reads a scan header and walks its entropy-coded data to the next marker, checking the
/// restart markers; returns the position of that marker.
fn scan(w: &mut Walk, header: &[u8], bytes: &[u8], mut pos: usize) -> Result<usize, ImageError> {
    let units = scan_units(w.frame.as_ref(), header)?;
    w.scans += 1;
    if w.scans > MAX_SCANS {
        w.undecodable(Refusal::Segment(format!("more than {MAX_SCANS} scans")));
    }
    let mut restarts = 0usize;
    loop {
        let Some(i) = bytes.get(pos..).and_then(|b| b.iter().position(|&v| v == 0xff)) else {
            return Err(corrupt("entropy-coded data runs to the end of the file"));
        };
        let at = pos + i;
        match bytes.get(at + 1) {
            Some(0x00) => pos = at + 2,
            Some(&m @ 0xd0..=0xd7) => {
                if usize::from(m - 0xd0) != restarts % 8 {
                    w.refuse(Refusal::Restart(format!("RST{} where RST{} belongs", m - 0xd0, restarts % 8)));
                }
                restarts += 1;
                pos = at + 2;
            }
            Some(0xff) => pos = at + 1,
            Some(_) => {
                pos = at;
                break;
            }
            None => return Err(corrupt("truncated scan")),
        }
    }
    let expected = if w.restart_interval == 0 { 0 } else { units.div_ceil(w.restart_interval) - 1 };
    if restarts != expected {
        w.refuse(Refusal::Restart(format!(
            "{restarts} RST markers in a scan of {units} units with interval {}, where {expected} belong",
            w.restart_interval
        )));
    }
    Ok(pos)
}

/// Units between restarts in a scan: MCUs of an interleaved scan, blocks of a single
/// component's.
fn scan_units(frame: Option<&(u32, u32, Vec<Component>)>, header: &[u8]) -> Result<usize, ImageError> {
    let Some((width, height, comps)) = frame else {
        return Err(corrupt("a scan before the frame header"));
    };
    let n = usize::from(*header.first().ok_or_else(|| corrupt("empty SOS"))?);
    if n == 0 || header.len() != 4 + 2 * n {
        return Err(corrupt("SOS length does not match its components"));
    }
    let hmax = comps.iter().map(|c| usize::from(c.h)).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| usize::from(c.v)).max().unwrap_or(1);
    let (width, height) = (*width as usize, *height as usize);
    if n > 1 {
        return Ok(width.div_ceil(8 * hmax) * height.div_ceil(8 * vmax));
    }
    let c = comps.iter().find(|c| c.id == header[1]).ok_or_else(|| corrupt("a scan of an unknown component"))?;
    let cw = (width * usize::from(c.h)).div_ceil(hmax);
    let ch = (height * usize::from(c.v)).div_ceil(vmax);
    Ok(cw.div_ceil(8) * ch.div_ceil(8))
}

/// The identifier of an APP segment, for messages.
fn ident(data: &[u8]) -> String {
    data.iter().take_while(|&&b| b != 0 && b.is_ascii_graphic()).take(16).map(|&b| char::from(b)).collect()
}

fn app(w: &mut Walk, n: u8, data: &[u8]) {
    const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
    const XMP_EXT: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
    match n {
        0 if data.starts_with(b"JFIF\0") => {
            if data.get(12).zip(data.get(13)).is_some_and(|(&x, &y)| x > 0 && y > 0) {
                w.refuse(Refusal::Thumbnail("JFIF"));
            }
        }
        0 if data.starts_with(b"JFXX\0") => w.refuse(Refusal::Thumbnail("JFXX")),
        1 if data.starts_with(b"Exif\0\0") => match exif::parse(&data[6..]) {
            Some(e) if e.orientation.is_some_and(|o| o != 1) => {
                w.refuse(Refusal::JpegOrientation(e.orientation.unwrap_or(0)));
            }
            Some(e) if e.thumbnail => w.refuse(Refusal::Thumbnail("EXIF IFD1")),
            Some(_) => {}
            None => w.refuse(Refusal::Exif),
        },
        1 if data.starts_with(XMP) || data.starts_with(XMP_EXT) => {
            if let Some(c) = xmp_orientation(data) {
                w.refuse(Refusal::XmpOrientation(c));
            }
        }
        2 if data.starts_with(b"ICC_PROFILE\0") => w.refuse(Refusal::IccProfile),
        2 if data.starts_with(b"MPF\0") => w.refuse(Refusal::Mpf),
        12 if data.starts_with(b"Ducky") => {}
        14 if data.starts_with(b"Adobe") => w.adobe = Some(data.get(11).copied().unwrap_or(255)),
        _ => w.refuse(Refusal::Segment(format!("APP{n} segment '{}'", ident(data)))),
    }
}

/// The first XMP `tiff:Orientation` value other than 1 (attribute or element form).
fn xmp_orientation(data: &[u8]) -> Option<char> {
    const TAG: &[u8] = b"tiff:Orientation";
    let mut from = 0;
    while let Some(i) = data[from..].windows(TAG.len()).position(|w| w == TAG) {
        let at = from + i;
        from = at + TAG.len();
        if at > 0 && data[at - 1] == b'/' {
            continue; // a closing tag
        }
        let value =
            data[from..].iter().find(|&&b| !matches!(b, b'=' | b'"' | b'\'' | b'>' | b' ' | b'\t' | b'\r' | b'\n'));
        match value {
            Some(&b'1') => {}
            Some(&b) => return Some(char::from(b)),
            None => return Some('?'),
        }
    }
    None
}

fn finish(mut w: Walk) -> Result<JpegFile, ImageError> {
    let Some((width, height, components)) = w.frame.take() else {
        return Err(corrupt("no frame header (SOF)"));
    };
    if w.scans == 0 {
        return Err(corrupt("no scan"));
    }
    if let Some(t) = w.adobe {
        let standard = if components.len() == 3 { 1 } else { 0 };
        if t != standard {
            w.refuse(Refusal::Adobe(t));
        }
    }
    let mut luma_table = [0u16; 64];
    for (i, c) in components.iter().enumerate() {
        let t =
            w.tables[usize::from(c.table)].ok_or_else(|| corrupt(format!("quantisation table {} missing", c.table)))?;
        let limit = scaled(i == 0, MIN_QUALITY);
        if let Some(k) = (0..64).find(|&k| t[k] > limit[k]) {
            w.refuse(Refusal::Quality { table: c.table, entry: k, value: t[k], limit: limit[k] });
        }
        if i == 0 {
            luma_table = t;
        }
    }
    let sequential = (w.huffman_sequential && w.scans == 1).then_some(w.sequential);
    Ok(JpegFile { width, height, components, luma_table, decodable: w.decodable, refusal: w.refusal, sequential })
}
