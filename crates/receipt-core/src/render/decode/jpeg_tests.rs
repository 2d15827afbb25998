//! Refusal classes of JPEG files, one test each, on JPEGs of the golden receipt made by the
//! jpeg-encoder crate with segments inserted or markers rewritten; plus the pixel model.

use super::tests::{expect, genuine};
use super::*;
use crate::verify::Verdict;

/// The golden receipt as an RGB (r = g = b) JPEG, after `tweak` sets up the encoder.
fn jpeg_with(
    quality: u8,
    edit: impl FnOnce(&mut Canvas),
    tweak: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    let (mut c, _) = genuine();
    edit(&mut c);
    let rgb: Vec<u8> = c.pixels().iter().flat_map(|&v| [v, v, v]).collect();
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    tweak(&mut enc);
    enc.encode(&rgb, c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn jpeg(quality: u8) -> Vec<u8> {
    jpeg_with(quality, |_| {}, |_| {})
}

/// `jpeg` with its first `from` marker rewritten to `to`.
fn remark(jpeg: &[u8], from: u8, to: u8) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let at = out.windows(2).position(|w| w == [0xff, from]).unwrap();
    out[at + 1] = to;
    out
}

#[test]
fn ordinary_jpegs_are_authentic() {
    expect(&jpeg(75), Verdict::Authentic, "within the threshold 100");
    expect(&jpeg_with(90, |_| {}, |e| e.set_progressive(true)), Verdict::Authentic, "within the threshold 100");
    expect(&jpeg_with(80, |_| {}, |e| e.set_restart_interval(5)), Verdict::Authentic, "within the threshold 100");
}

#[test]
fn colour_managed_and_multi_image_segments_are_refused() {
    let icc = jpeg_with(90, |_| {}, |e| e.add_icc_profile(b"a profile that maps grey 200 to 255").unwrap());
    expect(&icc, Verdict::Tampered, "ICC profile");
    let mpf = jpeg_with(90, |_| {}, |e| e.add_app_segment(2, b"MPF\0II*\0\x08\0\0\0").unwrap());
    expect(&mpf, Verdict::Tampered, "MPF");
    let adobe = |t: u8| {
        jpeg_with(
            90,
            |_| {},
            move |e| e.add_app_segment(14, &[b"Adobe\0\x64\0\0\0\0".as_slice(), &[t]].concat()).unwrap(),
        )
    };
    let v = crate::verify::verify_image(&adobe(0), &super::tests::anchor());
    assert_ne!(v.verdict, Verdict::Authentic);
    assert!(v.reason.contains("Adobe APP14 transform 0"), "{}", v.reason);
    expect(&adobe(1), Verdict::Authentic, "within the threshold 100");
    let unknown = jpeg_with(90, |_| {}, |e| e.add_app_segment(9, b"Whatever\0").unwrap());
    expect(&unknown, Verdict::Tampered, "APP9 segment 'Whatever'");
}

#[test]
fn cmyk_is_refused() {
    let (c, _) = genuine();
    let cmyk: Vec<u8> = c.pixels().iter().flat_map(|&v| [0, 0, 0, 255 - v]).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&cmyk, c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let v = crate::verify::verify_image(&out, &super::tests::anchor());
    assert_ne!(v.verdict, Verdict::Authentic);
    assert!(v.reason.contains("CMYK"), "{}", v.reason);
}

/// A big-endian EXIF APP1 payload with IFD0 holding the orientation and an optional IFD1.
fn exif(orientation: u16, ifd1: bool) -> Vec<u8> {
    let mut t = b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&(if ifd1 { 26u32 } else { 0 }).to_be_bytes());
    if ifd1 {
        t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    t
}

#[test]
fn orientation_and_thumbnails_are_refused() {
    let app1 = |data: Vec<u8>| jpeg_with(90, |_| {}, move |e| e.add_app_segment(1, &data).unwrap());
    expect(&app1(exif(6, false)), Verdict::Tampered, "EXIF orientation 6");
    expect(&app1(exif(1, false)), Verdict::Authentic, "within the threshold 100");
    expect(&app1(exif(1, true)), Verdict::Tampered, "thumbnail (EXIF IFD1)");
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description tiff:Orientation=\"8\"/></x:xmpmeta>";
    expect(&app1(xmp.to_vec()), Verdict::Tampered, "XMP orientation 8");
    // A JFIF APP0 with a 1x1 thumbnail, in place of the encoder's own (which has none).
    let plain = jpeg(90);
    let jfif = plain.windows(5).position(|w| w == b"JFIF\0").unwrap();
    let mut thumb = plain.clone();
    thumb[jfif + 12] = 1;
    thumb[jfif + 13] = 1;
    expect(&thumb, Verdict::Tampered, "thumbnail (JFIF)");
    // A JFXX extension (thumbnail) after the JFIF segment.
    let at = 4 + usize::from(u16::from_be_bytes([plain[4], plain[5]]));
    let mut jfxx = plain.clone();
    jfxx.splice(at..at, b"\xff\xe0\x00\x08JFXX\0\x10".iter().copied());
    expect(&jfxx, Verdict::Tampered, "thumbnail (JFXX)");
}

#[test]
fn coding_processes_viewers_do_not_all_decode_are_refused() {
    let base = jpeg(90);
    // The file stays the same bytes: decoders that know the process would read it otherwise.
    expect(&remark(&base, 0xc0, 0xc9), Verdict::Unverifiable, "arithmetic coding (marker FFC9)");
    expect(&remark(&base, 0xc0, 0xc3), Verdict::Unverifiable, "lossless JPEG (SOF3)");
    expect(&remark(&base, 0xc0, 0xc5), Verdict::Unverifiable, "hierarchical JPEG (marker FFC5)");
}

#[test]
fn restart_markers_out_of_sequence_are_refused() {
    let ok = jpeg_with(90, |_| {}, |e| e.set_restart_interval(4));
    let sos = ok.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    let rst = sos + ok[sos..].windows(2).position(|w| w == [0xff, 0xd0]).unwrap();
    let mut bad = ok.clone();
    bad[rst + 1] = 0xd3;
    expect(&bad, Verdict::Tampered, "restart markers: RST3 where RST0 belongs");
    let mut missing = ok.clone();
    missing.drain(rst..rst + 2);
    let v = crate::verify::verify_image(&missing, &super::tests::anchor());
    assert_ne!(v.verdict, Verdict::Authentic);
    assert!(v.reason.contains("restart"), "{}", v.reason);
}

#[test]
fn a_second_image_after_eoi_is_refused() {
    let mut two = jpeg(90);
    two.extend(jpeg(75));
    expect(&two, Verdict::Tampered, "after EOI");
}

#[test]
fn colour_and_coarse_quantisation_are_refused() {
    let (c, _) = genuine();
    let w = c.width() as usize;
    let rgb: Vec<u8> = c
        .pixels()
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| {
            if (300..340).contains(&(i % w)) && (930..970).contains(&(i / w)) {
                [255, 200, 0]
            } else {
                [v, v, v]
            }
        })
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&rgb, c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    expect(&out, Verdict::Tampered, "colour at pixel");
    // Too lossy to check is not a forger's mark: a transcoding MMSC does it to genuine receipts.
    expect(&jpeg(50), Verdict::Unverifiable, "coarser than quality 70");
    expect(&jpeg(70), Verdict::Authentic, "within the threshold 100");
}

#[test]
fn a_low_amplitude_edit_on_blank_paper_is_caught() {
    // Light grey 200 (well within the old 64-level tolerance): a flat block must stay flat.
    let edited = jpeg_with(75, |c| c.fill_rect(520, 1300, 4, 4, 200), |_| {});
    expect(&edited, Verdict::Tampered, "content altered");
    // Ink lifted towards paper (to 100) beside the amount's digits.
    let (c, _) = genuine();
    let lifted = jpeg_with(
        75,
        |e| {
            let w = e.width() as usize;
            for (i, v) in e.pixels_mut().iter_mut().enumerate() {
                if (300..360).contains(&(i % w)) && (920..980).contains(&(i / w)) && *v < 128 {
                    *v = 100;
                }
            }
        },
        |_| {},
    );
    assert!(c.pixels().iter().any(|&v| v < 128));
    expect(&lifted, Verdict::Tampered, "content altered");
}
