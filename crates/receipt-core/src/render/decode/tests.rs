//! Refusal classes of PNG files, one test each, on files crafted with the `png` crate and by
//! hand-written chunks from the genuine golden receipt, each asserting the verdict and the
//! named reason; and the decoder against the `png` crate on what it accepts.

use proptest::prelude::*;

use super::*;
use crate::render::png::TEXT_KEYWORD;
use crate::verify::{verify_image, Verdict};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

pub(super) fn golden() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap()
}

pub(super) fn anchor() -> Vec<u8> {
    let ca = std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).unwrap();
    crate::identity::pem_decode(&ca, "CERTIFICATE").unwrap()
}

/// The genuine receipt's pixels and QR payload.
pub(super) fn genuine() -> (Canvas, String) {
    let d = decode(&golden()).unwrap();
    (d.canvas, d.payload.unwrap())
}

/// Verifies `bytes` and checks the verdict and that the reason names `words`.
#[track_caller]
pub(super) fn expect(bytes: &[u8], verdict: Verdict, words: &str) {
    let v = verify_image(bytes, &anchor());
    assert_eq!(v.verdict, verdict, "{}", v.reason);
    assert!(v.reason.contains(words), "reason {:?} does not name {words:?}", v.reason);
}

type Chunk = ([u8; 4], Vec<u8>);

/// The chunks of a PNG, in order (an independent reading: no CRC or policy checks).
fn chunks(png: &[u8]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let name: [u8; 4] = png[pos + 4..pos + 8].try_into().unwrap();
        out.push((name, png[pos + 8..pos + 8 + len].to_vec()));
        pos += 12 + len;
    }
    out
}

/// A PNG of these chunks, with correct CRCs.
fn build(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (name, data) in chunks {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(name);
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out
}

/// `png` with a chunk inserted before the first chunk named `before`.
fn insert(png: &[u8], before: &[u8; 4], name: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = chunks(png);
    let at = c.iter().position(|(n, _)| n == before).unwrap();
    c.insert(at, (*name, data.to_vec()));
    build(&c)
}

/// The genuine receipt re-encoded by the `png` crate as `colour`/`depth`, each pixel's samples
/// given by `samples(x, y, grey)`, with the receipt's text chunk.
fn reencode(
    colour: ::png::ColorType,
    depth: ::png::BitDepth,
    samples: impl Fn(usize, usize, u8) -> Vec<u8>,
    tweak: impl FnOnce(&mut ::png::Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    let (c, text) = genuine();
    let w = c.width() as usize;
    let data: Vec<u8> = c.pixels().iter().enumerate().flat_map(|(i, &v)| samples(i % w, i / w, v)).collect();
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, c.width(), c.height());
    enc.set_color(colour);
    enc.set_depth(depth);
    enc.add_text_chunk(TEXT_KEYWORD.to_owned(), text).unwrap();
    tweak(&mut enc);
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&data).unwrap();
    wr.finish().unwrap();
    out
}

/// A pixel on paper beside the amount's digits ("RMB 128.50"), where a forger would draw.
const BESIDE_AMOUNT: (usize, usize) = (330, 950);

#[test]
fn the_golden_receipt_is_authentic_and_decodes_as_the_png_crate_does() {
    let bytes = golden();
    expect(&bytes, Verdict::Authentic, "feature value 0 is within the threshold 0");
    let i = inspect(&bytes).unwrap();
    assert!(i.refusal.is_none(), "{:?}", i.refusal);
    let mut dec = ::png::Decoder::new(std::io::Cursor::new(&bytes));
    dec.set_transformations(::png::Transformations::EXPAND);
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
    let f = r.next_frame(&mut buf).unwrap();
    let step = f.color_type.samples();
    let theirs: Vec<u8> = buf[..f.buffer_size()].chunks(step).map(|p| p[0]).collect();
    assert_eq!(i.canvas.unwrap().pixels(), &theirs[..]);
}

#[test]
fn an_animated_png_whose_default_image_is_genuine_is_tampered() {
    // The genuine slip as the default image (what non-APNG decoders read), and one animation
    // frame with a blot over the amount (what browsers show).
    let (c, _) = genuine();
    let grey = reencode(::png::ColorType::Grayscale, ::png::BitDepth::Eight, |_, _, v| vec![v], |_| {});
    let mut altered = c.clone();
    altered.fill_rect(300, 930, 40, 40, 0);
    let mut ch = chunks(&grey);
    let at = ch.iter().position(|(n, _)| n == b"IDAT").unwrap();
    ch.insert(at, (*b"acTL", [1u32.to_be_bytes(), 0u32.to_be_bytes()].concat()));
    let mut fctl = 0u32.to_be_bytes().to_vec();
    for v in [c.width(), c.height(), 0, 0] {
        fctl.extend_from_slice(&v.to_be_bytes());
    }
    fctl.extend_from_slice(&[0, 1, 0, 1, 0, 0]);
    let w = c.width() as usize;
    let raw: Vec<u8> = altered.pixels().chunks(w).flat_map(|r| std::iter::once(0).chain(r.iter().copied())).collect();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let iend = ch.pop().unwrap();
    ch.push((*b"fcTL", fctl));
    ch.push((*b"fdAT", [1u32.to_be_bytes().to_vec(), z.finish().unwrap()].concat()));
    ch.push(iend);
    let apng = build(&ch);
    expect(&apng, Verdict::Tampered, "animated PNG (acTL)");
    // What a non-APNG decoder reads is the genuine slip: that is why the chunk itself decides.
    assert_eq!(decode(&apng).unwrap().canvas, c);
}

#[test]
fn colour_management_is_refused_unless_it_states_srgb() {
    let g = golden();
    for (name, data, says) in [
        (b"iCCP", b"sRGB\0\0x\x9c\x03\0\0\0\0\x01".to_vec(), "colour management chunk iCCP"),
        (b"cICP", vec![1, 13, 0, 1], "colour management chunk cICP"),
        (b"mDCv", vec![0; 24], "colour management chunk mDCv"),
        (b"cLLi", vec![0; 8], "colour management chunk cLLi"),
        (b"gAMA", 100_000u32.to_be_bytes().to_vec(), "gAMA 100000"),
        (
            b"cHRM",
            [31270u32, 32900, 70000, 30000, 30000, 60000, 15000, 6000].iter().flat_map(|v| v.to_be_bytes()).collect(),
            "cHRM",
        ),
    ] {
        expect(&insert(&g, b"PLTE", name, &data), Verdict::Tampered, says);
    }
    let srgb = insert(&g, b"PLTE", b"sRGB", &[0]);
    let gama = insert(&srgb, b"PLTE", b"gAMA", &45455u32.to_be_bytes());
    let chrm: Vec<u8> =
        [31270u32, 32900, 64000, 33000, 30000, 60000, 15000, 6000].iter().flat_map(|v| v.to_be_bytes()).collect();
    expect(&insert(&gama, b"PLTE", b"cHRM", &chrm), Verdict::Authentic, "threshold 0");
}

#[test]
fn transparency_is_refused_where_a_used_colour_is_not_opaque() {
    let g = golden();
    expect(&insert(&g, b"IDAT", b"tRNS", &[0]), Verdict::Tampered, "tRNS makes palette entry 0 transparent");
    expect(&insert(&g, b"IDAT", b"tRNS", &[255, 255, 255]), Verdict::Authentic, "threshold 0");
    let (bx, by) = BESIDE_AMOUNT;
    let rgba = |a_at: (usize, usize)| {
        reencode(
            ::png::ColorType::Rgba,
            ::png::BitDepth::Eight,
            move |x, y, v| {
                // Transparent black "ink" on paper: white over white, black over a dark page.
                if (x, y) == a_at {
                    vec![0, 0, 0, 0]
                } else {
                    vec![v, v, v, 255]
                }
            },
            |_| {},
        )
    };
    expect(&rgba((bx, by)), Verdict::Tampered, "alpha 0 at pixel (330, 950)");
    expect(&rgba((usize::MAX, 0)), Verdict::Authentic, "threshold 0");
    // tRNS on a grey image naming the paper level.
    let grey =
        reencode(::png::ColorType::Grayscale, ::png::BitDepth::Eight, |_, _, v| vec![v], |e| e.set_trns(vec![0, 255]));
    expect(&grey, Verdict::Tampered, "tRNS");
}

#[test]
fn colour_16_bit_and_sbit_are_refused_unless_lossless_widenings() {
    let (bx, by) = BESIDE_AMOUNT;
    let rgb = reencode(
        ::png::ColorType::Rgb,
        ::png::BitDepth::Eight,
        |x, y, v| {
            if (x, y) == (bx, by) {
                vec![255, 200, 0]
            } else {
                vec![v, v, v]
            }
        },
        |_| {},
    );
    expect(&rgb, Verdict::Tampered, "colour at pixel (330, 950)");
    let wide = |off: (usize, usize)| {
        reencode(
            ::png::ColorType::Grayscale,
            ::png::BitDepth::Sixteen,
            move |x, y, v| {
                let s = u16::from(v) * 257 - u16::from((x, y) == off && v == 255);
                s.to_be_bytes().to_vec()
            },
            |_| {},
        )
    };
    expect(&wide((usize::MAX, 0)), Verdict::Authentic, "threshold 0");
    expect(&wide((bx, by)), Verdict::Tampered, "16-bit sample at pixel (330, 950)");
    let g = golden();
    expect(&insert(&g, b"PLTE", b"sBIT", &[5, 5, 5]), Verdict::Tampered, "sBIT");
    expect(&insert(&g, b"PLTE", b"sBIT", &[8, 8, 8]), Verdict::Authentic, "threshold 0");
}

#[test]
fn exif_orientation_other_than_1_is_refused() {
    let g = golden();
    let exif = |o: u16| {
        let mut t = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        t.extend_from_slice(&o.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        t
    };
    expect(&insert(&g, b"IDAT", b"eXIf", &exif(6)), Verdict::Tampered, "eXIf orientation 6");
    expect(&insert(&g, b"IDAT", b"eXIf", &exif(1)), Verdict::Authentic, "threshold 0");
}

/// The genuine receipt as an Adam7-interlaced 8-bit grey PNG, passes split by hand.
fn interlaced(text: bool) -> Vec<u8> {
    let (c, payload) = genuine();
    let (w, h) = (c.width() as usize, c.height() as usize);
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    {
        if x0 >= w || y0 >= h {
            continue;
        }
        for y in (y0..h).step_by(dy) {
            raw.push(0);
            raw.extend((x0..w).step_by(dx).map(|x| c.pixels()[y * w + x]));
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let mut ihdr = (w as u32).to_be_bytes().to_vec();
    ihdr.extend_from_slice(&(h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 1]);
    let mut ch = vec![(*b"IHDR", ihdr)];
    if text {
        ch.push((*b"tEXt", [TEXT_KEYWORD.as_bytes(), b"\0", payload.as_bytes()].concat()));
    }
    ch.push((*b"IDAT", z.finish().unwrap()));
    ch.push((*b"IEND", Vec::new()));
    build(&ch)
}

#[test]
fn interlaced_pngs_decode_to_the_same_pixels() {
    let bytes = interlaced(true);
    expect(&bytes, Verdict::Authentic, "threshold 0");
    assert_eq!(decode(&bytes).unwrap().canvas, genuine().0);
}

#[test]
fn unknown_chunks_are_refused_by_name() {
    let g = golden();
    expect(&insert(&g, b"IDAT", b"ABCD", b"x"), Verdict::Tampered, "unknown critical chunk ABCD");
    expect(&insert(&g, b"IDAT", b"abCd", b"x"), Verdict::Tampered, "ancillary chunk abCd");
    for allowed in [b"tIME".as_slice(), b"pHYs", b"bKGD"] {
        let data = match allowed {
            b"tIME" => vec![7, 234, 12, 1, 12, 0, 0],
            b"pHYs" => vec![0, 0, 31, 182, 0, 0, 31, 182, 1],
            _ => vec![0],
        };
        expect(&insert(&g, b"IDAT", allowed.try_into().unwrap(), &data), Verdict::Authentic, "threshold 0");
    }
}

#[test]
fn image_data_must_be_one_exact_stream_in_consecutive_idat_chunks() {
    let g = golden();
    let mut ch = chunks(&g);
    let at = ch.iter().position(|(n, _)| n == b"IDAT").unwrap();
    let data = ch[at].1.clone();
    // Split into two IDAT chunks around a tEXt chunk.
    let (a, b) = data.split_at(data.len() / 2);
    let mut split = ch.clone();
    split[at].1 = a.to_vec();
    split.insert(at + 1, (*b"tEXt", b"Comment\0hi".to_vec()));
    split.insert(at + 2, (*b"IDAT", b.to_vec()));
    expect(&build(&split), Verdict::Tampered, "IDAT chunks are not consecutive");
    // Split into two consecutive IDAT chunks: fine.
    let mut two = ch.clone();
    two[at].1 = a.to_vec();
    two.insert(at + 1, (*b"IDAT", b.to_vec()));
    expect(&build(&two), Verdict::Authentic, "threshold 0");
    // A second zlib stream after the first.
    ch[at].1.extend_from_slice(&data);
    expect(&build(&ch), Verdict::Tampered, "IDAT: data after the end of the zlib stream");
}

#[test]
fn a_stream_that_inflates_past_the_image_is_refused_without_inflating_it_all() {
    // 576 x 64 grey rows that go on to 256 MiB of zeros: a few hundred KB compressed.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        std::io::Write::write_all(&mut z, &zeros).unwrap();
    }
    let mut ihdr = 576u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&64u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let bomb = build(&[(*b"IHDR", ihdr), (*b"IDAT", z.finish().unwrap()), (*b"IEND", Vec::new())]);
    let r = inspect(&bomb).unwrap();
    assert_eq!(r.refusal, Some(Refusal::ImageData("decompresses to more than IHDR implies")));
    expect(&bomb, Verdict::Unverifiable, "IDAT");
}

#[test]
fn bad_crc_and_bytes_after_iend_are_refused() {
    let mut g = golden();
    let mut ch = chunks(&g);
    ch.insert(1, (*b"tEXt", b"Comment\0hello".to_vec()));
    let mut bad = build(&ch);
    let crc_at = 8 + 25 + 8 + 13;
    bad[crc_at] ^= 1;
    expect(&bad, Verdict::Unverifiable, "corrupt file: CRC mismatch in chunk tEXt");
    g.extend_from_slice(b"\x89PNG another image");
    expect(&g, Verdict::Tampered, "18 bytes after IEND");
}

#[test]
fn chunk_counts_and_sizes_are_bounded_before_decoding() {
    let g = golden();
    let mut ch = chunks(&g);
    for _ in 0..2000 {
        ch.insert(1, (*b"tIME", vec![7, 234, 12, 1, 12, 0, 0]));
    }
    expect(&build(&ch), Verdict::Unverifiable, "more than 1024 chunks");
    // A header claiming a million rows is refused from IHDR alone.
    let mut huge = chunks(&g);
    huge[0].1[4..8].copy_from_slice(&1_048_576u32.to_be_bytes());
    expect(&build(&huge), Verdict::Unverifiable, "image height 1048576 px");
    let mut narrow = chunks(&g);
    narrow[0].1[0..4].copy_from_slice(&500u32.to_be_bytes());
    expect(&build(&narrow), Verdict::Unverifiable, "500 px wide");
}

#[test]
fn other_formats_are_unverifiable_and_named() {
    for (bytes, name) in [
        (b"GIF89a\x01\0\x01\0".to_vec(), "a GIF file"),
        (b"RIFF\0\0\0\0WEBPVP8 ".to_vec(), "a WebP file"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), "a HEIC file"),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec(), "an AVIF file"),
        (b"II*\0\x08\0\0\0".to_vec(), "a TIFF file"),
        (b"BM\0\0\0\0".to_vec(), "a BMP file"),
        (b"%PDF-1.7\n".to_vec(), "a PDF file"),
        (b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(), "an SVG file"),
    ] {
        expect(&bytes, Verdict::Unverifiable, name);
        expect(&bytes, Verdict::Unverifiable, "only PNG and JPEG receipts can be verified");
    }
}

#[test]
fn a_refused_file_without_signed_data_is_unverifiable() {
    let blank = crate::render::png::encode(&Canvas::new(576, 64), None).unwrap();
    expect(&insert(&blank, b"IDAT", b"acTL", &[0, 0, 0, 1, 0, 0, 0, 0]), Verdict::Unverifiable, "animated PNG (acTL)");
    // Interlaced without its text chunk: the QR is read from the pixels, still authentic.
    expect(&interlaced(false), Verdict::Authentic, "threshold 0");
}

/// A PNG of random samples of any colour type, depth and filter the `png` crate writes.
fn random_png(
    colour: ::png::ColorType,
    depth: ::png::BitDepth,
    filter: ::png::Filter,
    w: u32,
    h: u32,
    seed: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, w, h);
    enc.set_color(colour);
    enc.set_depth(depth);
    enc.set_filter(filter);
    let bits = colour.samples() * depth as usize;
    if colour == ::png::ColorType::Indexed {
        let n = 1u32 << (depth as u32);
        enc.set_palette((0..n).flat_map(|i| [(i * 255 / (n - 1)) as u8; 3]).collect::<Vec<u8>>());
    }
    let mut st = seed;
    let data: Vec<u8> = (0..(w as usize * bits).div_ceil(8) * h as usize)
        .map(|_| {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (st >> 33) as u8
        })
        .collect();
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&data).unwrap();
    wr.finish().unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// On any colour type, depth, filter and width, the decoder gives what the png crate gives
    /// (8-bit, expanded, first channel), and refuses exactly what is not grey and opaque.
    #[test]
    fn the_decoder_matches_the_png_crate(
        kind in 0usize..9,
        filter in proptest::sample::select(vec![::png::Filter::NoFilter, ::png::Filter::Sub, ::png::Filter::Up, ::png::Filter::Avg, ::png::Filter::Paeth]),
        w in 1u32..40,
        h in 1u32..6,
        seed in any::<u64>(),
    ) {
        use ::png::{BitDepth as D, ColorType as C};
        let (colour, depth) = [(C::Grayscale, D::One), (C::Grayscale, D::Two), (C::Grayscale, D::Four), (C::Grayscale, D::Eight),
            (C::Indexed, D::Two), (C::Indexed, D::Eight), (C::Rgb, D::Eight), (C::GrayscaleAlpha, D::Eight), (C::Rgba, D::Eight)][kind];
        let bytes = random_png(colour, depth, filter, w, h, seed);
        let mut dec = ::png::Decoder::new(std::io::Cursor::new(&bytes));
        dec.set_transformations(::png::Transformations::EXPAND);
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
        let f = r.next_frame(&mut buf).unwrap();
        let step = f.color_type.samples();
        let theirs: Vec<&[u8]> = buf[..f.buffer_size()].chunks(step).collect();
        let mine = read(&bytes, Limits::Any).unwrap();
        let grey_opaque = theirs.iter().all(|p| match p.len() {
            2 => p[1] == 255,
            3 => p[0] == p[1] && p[1] == p[2],
            4 => p[0] == p[1] && p[1] == p[2] && p[3] == 255,
            _ => true,
        });
        prop_assert_eq!(mine.refusal.is_none(), grey_opaque, "{:?}", mine.refusal);
        if grey_opaque {
            let first: Vec<u8> = theirs.iter().map(|p| p[0]).collect();
            let canvas = mine.canvas.unwrap();
            prop_assert_eq!(canvas.pixels(), &first[..]);
        }
    }
}
