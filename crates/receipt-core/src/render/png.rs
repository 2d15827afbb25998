//! PNG at the edge of the core: encoding a receipt canvas as a 2-bit palette (or 8-bit grey)
//! PNG with its QR payload in a `tEXt` chunk. Reading images back is [`super::decode`]'s work;
//! its entry points are re-exported here for the callers that know them by this path.

use super::canvas::Canvas;
pub use super::decode::{decode, Decoded, ImageError, ImageKind, MAX_PIXELS};

/// `tEXt` keyword under which the signed QR payload is also stored in the PNG.
pub use super::TEXT_KEYWORD;
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
}
