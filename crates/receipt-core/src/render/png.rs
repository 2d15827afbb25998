//! PNG and JPEG at the edge of the core: encoding a receipt canvas as an 8-bit greyscale PNG
//! with its QR payload in a `tEXt` chunk, and decoding any PNG or JPEG back to greyscale.

use super::canvas::Canvas;

/// `tEXt` keyword under which the signed QR payload is also stored in the PNG.
pub const TEXT_KEYWORD: &str = "ereceipt";
/// Images larger than this are refused before decoding (about 20 times a receipt).
pub const MAX_PIXELS: u64 = 16_000_000;

/// Why image bytes cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Neither PNG nor JPEG.
    #[error("not a PNG or JPEG image")]
    Format,
    /// The PNG is corrupt or truncated.
    #[error("corrupt or truncated PNG: {0}")]
    Png(String),
    /// The JPEG is corrupt or truncated.
    #[error("corrupt or truncated JPEG: {0}")]
    Jpeg(String),
    /// Too many pixels to be a receipt.
    #[error("image of {0}x{1} pixels is too large to be a receipt")]
    TooLarge(u32, u32),
    /// Encoding failed.
    #[error("cannot encode PNG: {0}")]
    Encode(String),
}

/// The container an image came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
}

/// A decoded image: greyscale pixels plus the ereceipt text chunk if the file kept it.
#[derive(Debug)]
pub struct Decoded {
    pub kind: ImageKind,
    pub canvas: Canvas,
    pub payload: Option<String>,
}

/// Encodes a greyscale canvas as PNG, with `payload` as a `tEXt` chunk. A receipt holds at
/// most four grey levels (ink, paper and the watermark's level), so it is written as a 2-bit
/// palette image: a quarter of the raw data, which keeps receipts near 20 KB and fast to
/// compress. Other canvases are written as 8-bit greyscale.
pub fn encode(img: &Canvas, payload: Option<&str>) -> Result<Vec<u8>, ImageError> {
    let mut seen = [false; 256];
    for run in img.pixels().chunks(64) {
        // Most of a receipt is runs of one level: mark those without touching the table 64 times.
        if run.iter().fold(0, |acc, &v| acc | (v ^ run[0])) == 0 {
            seen[usize::from(run[0])] = true;
        } else {
            run.iter().for_each(|&v| seen[usize::from(v)] = true);
        }
    }
    let levels: Vec<u8> = (0..=255u8).filter(|&v| seen[usize::from(v)]).collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, img.width(), img.height());
    let data: Vec<u8> = if levels.len() <= 4 {
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Two);
        enc.set_palette(levels.iter().flat_map(|&v| [v, v, v]).collect::<Vec<u8>>());
        let mut index = [0u8; 256];
        for (i, &v) in levels.iter().enumerate() {
            index[v as usize] = i as u8;
        }
        let w = (img.width() as usize).max(1);
        let line = w.div_ceil(4);
        let mut data = vec![0u8; line * img.height() as usize];
        let pack = |q: &[u8]| q.iter().enumerate().fold(0u8, |b, (i, &v)| b | index[usize::from(v)] << (6 - 2 * i));
        for (out, row) in data.chunks_exact_mut(line).zip(img.pixels().chunks(w)) {
            // Eight pixels of one level (paper, ink, a watermark unit: most of a receipt) make
            // two bytes of one index repeated.
            let (octets, rest) = row.split_at(row.len() / 8 * 8);
            let (pairs, tail) = out.split_at_mut(octets.len() / 4);
            for (o, p) in pairs.chunks_exact_mut(2).zip(octets.chunks_exact(8)) {
                let eight = u64::from_le_bytes([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]]);
                if eight == u64::from(p[0]) * 0x0101_0101_0101_0101 {
                    o.fill(index[usize::from(p[0])] * 0b0101_0101);
                } else {
                    o[0] = pack(&p[..4]);
                    o[1] = pack(&p[4..]);
                }
            }
            for (o, q) in tail.iter_mut().zip(rest.chunks(4)) {
                *o = pack(q);
            }
        }
        data
    } else {
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        img.pixels().to_vec()
    };
    // Measured on receipts: unfiltered rows deflate best for 2-bit bilevel data.
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::NoFilter);
    if let Some(p) = payload {
        enc.add_text_chunk(TEXT_KEYWORD.to_owned(), p.to_owned()).map_err(|e| ImageError::Encode(e.to_string()))?;
    }
    let mut writer = enc.write_header().map_err(|e| ImageError::Encode(e.to_string()))?;
    writer.write_image_data(&data).map_err(|e| ImageError::Encode(e.to_string()))?;
    writer.finish().map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes PNG or JPEG bytes to greyscale (ITU-R BT.601 luma; alpha composited over white).
pub fn decode(bytes: &[u8]) -> Result<Decoded, ImageError> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        decode_jpeg(bytes)
    } else {
        Err(ImageError::Format)
    }
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

fn over_white(v: u8, a: u8) -> u8 {
    ((u32::from(v) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8
}

fn decode_png(bytes: &[u8]) -> Result<Decoded, ImageError> {
    match decode_palette_png(bytes)? {
        Some(decoded) => Ok(decoded),
        None => decode_expanded_png(bytes),
    }
}

/// Any PNG, expanded by the decoder to 8-bit grey, grey + alpha, RGB or RGBA, then reduced to
/// grey.
fn decode_expanded_png(bytes: &[u8]) -> Result<Decoded, ImageError> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(png_error)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageError::TooLarge(w, h));
    }
    if reader.info().color_type == png::ColorType::Indexed {
        check_palette(reader.info())?;
    }
    let mut buf = vec![0u8; reader.output_buffer_size().ok_or(ImageError::TooLarge(w, h))?];
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    let data = &buf[..frame.buffer_size()];
    let px: Vec<u8> = match frame.color_type {
        png::ColorType::Grayscale => data.to_vec(),
        png::ColorType::GrayscaleAlpha => data.chunks_exact(2).map(|c| over_white(c[0], c[1])).collect(),
        png::ColorType::Rgb => data.chunks_exact(3).map(|c| luma(c[0], c[1], c[2])).collect(),
        png::ColorType::Rgba => data.chunks_exact(4).map(|c| over_white(luma(c[0], c[1], c[2]), c[3])).collect(),
        png::ColorType::Indexed => return Err(ImageError::Png("palette was not expanded".into())),
    };
    let canvas = Canvas::from_pixels(w, h, px).ok_or_else(|| ImageError::Png("pixel data size mismatch".into()))?;
    Ok(Decoded { kind: ImageKind::Png, canvas, payload: text_payload(reader.info()) })
}

/// The fast path for what receipts are: a non-interlaced palette PNG, read as packed indices
/// and mapped to grey through the palette, which gives exactly the grey levels of the expanded
/// path (each entry's luma composited over white by its tRNS alpha) without an RGB(A) image in
/// between. `None` for any other PNG, including odd ones (no palette, a first frame smaller
/// than the image), which the expanded path then handles as it always did.
fn decode_palette_png(bytes: &[u8]) -> Result<Option<Decoded>, ImageError> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let header = dec.read_header_info().map_err(png_error)?;
    if header.color_type != png::ColorType::Indexed || header.interlaced {
        return Ok(None);
    }
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut reader = dec.read_info().map_err(png_error)?;
    let info = reader.info();
    let (w, h, depth) = (info.width, info.height, info.bit_depth as usize);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageError::TooLarge(w, h));
    }
    check_palette(info)?;
    let Some(grey) = palette_grey(info) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; reader.output_buffer_size().ok_or(ImageError::TooLarge(w, h))?];
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    if (frame.width, frame.height) != (w, h) || !matches!(depth, 1 | 2 | 4 | 8) {
        return Ok(None);
    }
    let (line, w_px, h_px) = (frame.line_size, w as usize, h as usize);
    let px = match depth {
        1 => unpack::<8>(&buf, line, w_px, h_px, &grey),
        2 => unpack::<4>(&buf, line, w_px, h_px, &grey),
        4 => unpack::<2>(&buf, line, w_px, h_px, &grey),
        _ => unpack::<1>(&buf, line, w_px, h_px, &grey),
    };
    let canvas = Canvas::from_pixels(w, h, px).ok_or_else(|| ImageError::Png("pixel data size mismatch".into()))?;
    Ok(Some(Decoded { kind: ImageKind::Png, canvas, payload: text_payload(reader.info()) }))
}

/// Refuses a palette that is not whole RGB triples: the spec forbids it, and the decoder's
/// palette expansion would panic on it.
fn check_palette(info: &png::Info) -> Result<(), ImageError> {
    match info.palette.as_deref() {
        Some(p) if p.len() % 3 != 0 => Err(ImageError::Png(format!("PLTE of {} bytes is not RGB triples", p.len()))),
        _ => Ok(()),
    }
}

/// The grey level of each palette index as the decoder's expansion would give it: the entry's
/// colour (black past the end of the palette) and alpha (255 unless tRNS lowers it; a tRNS
/// longer than the palette is ignored, as the decoder ignores it).
fn palette_grey(info: &png::Info) -> Option<[u8; 256]> {
    let palette = info.palette.as_deref()?;
    let trns = info.trns.as_deref().filter(|t| t.len() <= palette.len() / 3).unwrap_or(&[]);
    let mut grey = [0u8; 256];
    for (i, (g, rgb)) in grey.iter_mut().zip(palette.chunks_exact(3)).enumerate() {
        *g = over_white(luma(rgb[0], rgb[1], rgb[2]), trns.get(i).copied().unwrap_or(255));
    }
    Some(grey)
}

/// Grey pixels from rows of packed palette indices, `P` pixels per byte (first pixel in the
/// high bits), through a table from each byte value to its `P` grey levels.
fn unpack<const P: usize>(data: &[u8], line: usize, width: usize, height: usize, grey: &[u8; 256]) -> Vec<u8> {
    let bits = 8 / P;
    let table: Vec<[u8; P]> =
        (0..256usize).map(|b| std::array::from_fn(|i| grey[(b >> (8 - bits * (i + 1))) & ((1 << bits) - 1)])).collect();
    let mut px = vec![0u8; width * height];
    for (out, row) in px.chunks_exact_mut(width).zip(data.chunks_exact(line)) {
        let mut quads = out.chunks_exact_mut(P);
        for (o, &b) in quads.by_ref().zip(row) {
            o.copy_from_slice(&table[usize::from(b)]);
        }
        let rest = quads.into_remainder();
        if let Some(&b) = row.get(width / P).filter(|_| !rest.is_empty()) {
            rest.copy_from_slice(&table[usize::from(b)][..rest.len()]);
        }
    }
    px
}

fn png_error(e: png::DecodingError) -> ImageError {
    ImageError::Png(e.to_string())
}

fn text_payload(info: &png::Info) -> Option<String> {
    info.uncompressed_latin1_text.iter().find(|t| t.keyword == TEXT_KEYWORD).map(|t| t.text.clone())
}

fn decode_jpeg(bytes: &[u8]) -> Result<Decoded, ImageError> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8_000);
    limits.max_image_height = Some(16_000);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| ImageError::Jpeg(e.to_string()))?;
    let (w, h) = (img.width(), img.height());
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageError::TooLarge(w, h));
    }
    let px = match img {
        image::DynamicImage::ImageLuma8(g) => g.into_raw(),
        image::DynamicImage::ImageRgb8(rgb) => rgb.as_raw().chunks_exact(3).map(|p| luma(p[0], p[1], p[2])).collect(),
        other => other.to_rgb8().pixels().map(|p| luma(p[0], p[1], p[2])).collect(),
    };
    let canvas = Canvas::from_pixels(w, h, px).ok_or_else(|| ImageError::Jpeg("pixel data size mismatch".into()))?;
    Ok(Decoded { kind: ImageKind::Jpeg, canvas, payload: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_palette_and_grey_images() {
        let mut c = Canvas::new(64, 8);
        c.fill_rect(0, 0, 10, 8, 0);
        c.fill_rect(10, 0, 10, 8, 252);
        let bytes = encode(&c, Some("ER1:ABC")).unwrap();
        let d = decode(&bytes).unwrap();
        assert_eq!(d.canvas, c);
        assert_eq!(d.payload.as_deref(), Some("ER1:ABC"));
        let grey = Canvas::from_pixels(16, 1, (0..16).map(|i| i * 16).collect()).unwrap();
        assert_eq!(decode(&encode(&grey, None).unwrap()).unwrap().canvas, grey);
    }

    /// A palette PNG of `width`×`height` random indices.
    fn palette_png(width: u32, height: u32, depth: u8, palette: &[u8], trns: Option<&[u8]>, seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::from_u8(depth).unwrap());
        enc.set_palette(palette.to_vec());
        if let Some(t) = trns {
            enc.set_trns(t.to_vec());
        }
        let line = (width as usize * usize::from(depth)).div_ceil(8);
        let mut st = seed;
        let data: Vec<u8> = (0..line * height as usize)
            .map(|_| {
                st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (st >> 33) as u8
            })
            .collect();
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&data).unwrap();
        w.finish().unwrap();
        out
    }

    proptest::proptest! {
        /// The palette fast path gives exactly the expanded path's grey levels, for any bit
        /// depth, width, palette (grey or colour, short or full), tRNS (short, full, too long)
        /// and indices past the end of the palette.
        #[test]
        fn palette_fast_path_matches_the_expanded_decoder(
            width in 1u32..40,
            height in 1u32..6,
            depth in proptest::sample::select(vec![1u8, 2, 4, 8]),
            palette in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..=256usize),
            trns in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..=256usize)),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let palette: Vec<u8> = palette.iter().flat_map(|&v| [v, v.wrapping_mul(7), v.wrapping_add(13)]).collect();
            let bytes = palette_png(width, height, depth, &palette, trns.as_deref(), seed);
            let fast = decode_palette_png(&bytes).unwrap().unwrap();
            let slow = decode_expanded_png(&bytes).unwrap();
            proptest::prop_assert_eq!(fast.canvas, slow.canvas);
        }
    }

    proptest::proptest! {
        /// Canvases of up to four levels (palette) or more (grey), any width, round-trip.
        #[test]
        fn any_canvas_round_trips(
            width in 1u32..30,
            height in 1u32..5,
            levels in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..7),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut st = seed;
            let px: Vec<u8> = (0..width * height)
                .map(|_| {
                    st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    // Runs of one level, as on receipts, mixed with changes.
                    if (st >> 60) < 10 { levels[0] } else { levels[(st >> 33) as usize % levels.len()] }
                })
                .collect();
            let c = Canvas::from_pixels(width, height, px).unwrap();
            proptest::prop_assert_eq!(decode(&encode(&c, None).unwrap()).unwrap().canvas, c);
        }
    }

    #[test]
    fn a_palette_of_partial_triples_is_refused_not_a_panic() {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 4, 1);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Two);
        enc.set_palette(vec![0u8, 0, 0, 255]);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0x1b]).unwrap();
        w.finish().unwrap();
        assert!(matches!(decode(&out), Err(ImageError::Png(m)) if m.contains("PLTE of 4 bytes")));
    }

    #[test]
    fn refuses_garbage_and_truncation_with_a_named_problem() {
        assert!(matches!(decode(b"GIF89a...."), Err(ImageError::Format)));
        let c = Canvas::new(64, 64);
        let bytes = encode(&c, None).unwrap();
        assert!(matches!(decode(&bytes[..bytes.len() / 2]), Err(ImageError::Png(_))));
        assert!(matches!(decode(&[0xff, 0xd8, 0xff, 0xe0, 0, 0]), Err(ImageError::Jpeg(_))));
    }
}
