//! The luma-only decode against the full decode it stands in for (kept as the oracle): same
//! pixels, same refusal, on clean, recompressed, edited and coloured JPEGs of the golden receipt,
//! whatever the quality, subsampling, restart interval, Huffman tables and progression.

use proptest::prelude::*;

use super::super::tests::genuine;
use super::super::{jpeg_walk, Limits};
use super::*;

/// How a test image departs from the golden receipt's grey pixels.
#[derive(Clone, Debug)]
enum Edit {
    None,
    /// A grey rectangle (a forger's edit that stays grey).
    Grey(u8),
    /// A rectangle of one RGB colour.
    Colour(u8, u8, u8),
    /// A tint too faint to refuse that still codes chroma.
    Faint(u8),
    /// One coloured pixel.
    Dot(u8, u8, u8),
}

const SAMPLINGS: [jpeg_encoder::SamplingFactor; 6] = {
    use jpeg_encoder::SamplingFactor as S;
    [S::R_4_2_0, S::R_4_4_4, S::R_4_2_2, S::R_4_4_0, S::R_4_1_1, S::R_4_2_0]
};

/// A `w` × `h` crop of the golden receipt, edited, as an RGB JPEG.
fn encode(w: usize, h: usize, edit: &Edit, at: (usize, usize), opts: (u8, usize, u16, bool, bool)) -> Vec<u8> {
    let (c, _) = genuine();
    let full = c.width() as usize;
    let (quality, sampling, restart, progressive, optimized) = opts;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let v = c.pixels()[y * full + x];
            let inside = (at.0..at.0 + 24).contains(&x) && (at.1..at.1 + 16).contains(&y);
            rgb.extend(match *edit {
                Edit::Grey(g) if inside => [g, g, g],
                Edit::Colour(r, g, b) if inside => [r, g, b],
                Edit::Faint(d) if inside => [v, v, v.saturating_add(d)],
                Edit::Dot(r, g, b) if (x, y) == at => [r, g, b],
                _ => [v, v, v],
            });
        }
    }
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(SAMPLINGS[sampling]);
    if restart > 0 {
        enc.set_restart_interval(restart);
    }
    enc.set_progressive(progressive);
    enc.set_optimized_huffman_tables(optimized);
    enc.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// Both decodes of `bytes`, and whether the entropy coding showed the chroma neutral (`None`
/// for a file of several scans, which the walk does not offer to [`jpeg_chroma`]).
fn both(bytes: &[u8]) -> (String, String, Option<bool>) {
    let file = jpeg_walk::walk(bytes, Limits::Any).unwrap();
    let neutral =
        file.sequential.as_ref().map(|s| jpeg_chroma::neutral(bytes, &file.components, file.width, file.height, s));
    let show = |r: Result<(Canvas, Option<Refusal>), ImageError>| match r {
        Ok((c, r)) => format!("{}x{} {:?} {:?}", c.width(), c.height(), c.pixels(), r),
        Err(e) => format!("{e}"),
    };
    let full = show(pixels_judged(bytes, &file));
    assert_eq!(show(pixels(bytes, &file)), full);
    // The walk's refusals (quality below 70, say) send `pixels` the full way: the luma-only
    // decode must agree wherever the chroma is neutral all the same.
    let fast = match neutral.filter(|&n| n).and_then(|_| luma_of_ycbcr(bytes, &file)) {
        Some(c) => show(Ok((c, None))),
        None => full.clone(),
    };
    (fast, full, neutral)
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => Just(Edit::None),
        1 => any::<u8>().prop_map(Edit::Grey),
        2 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(r, g, b)| Edit::Colour(r, g, b)),
        1 => (1u8..4).prop_map(Edit::Faint),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(r, g, b)| Edit::Dot(r, g, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Same pixels and refusal as the full decode; and a clean sequential file takes the fast
    /// path (else this would prove nothing).
    #[test]
    fn the_luma_only_decode_is_the_full_decode(
        w in 8usize..=576,
        h in 8usize..=400,
        edit in edit(),
        at in (0usize..560, 0usize..390),
        quality in 30u8..=95,
        sampling in 0usize..6,
        restart in prop_oneof![3 => Just(0u16), 1 => 1u16..40],
        progressive in proptest::bool::weighted(0.15),
        optimized in proptest::bool::weighted(0.3),
    ) {
        let at = (at.0 % w, at.1 % h);
        let bytes = encode(w, h, &edit, at, (quality, sampling, restart, progressive, optimized));
        let (fast, full, neutral) = both(&bytes);
        prop_assert_eq!(fast, full);
        // jpeg-encoder writes 4:1:1 and optimised tables as one scan per component.
        if matches!(edit, Edit::None | Edit::Grey(_)) && !progressive && !optimized && sampling != 4 {
            prop_assert_eq!(neutral, Some(true), "a grey sequential JPEG's chroma blocks code nothing");
        }
        if let Edit::Colour(r, g, b) = edit {
            if r.max(g).max(b) - r.min(g).min(b) > 64 {
                prop_assert_ne!(neutral, Some(true), "coded chroma taken for neutral");
            }
        }
    }
}

#[test]
fn the_whole_receipt_takes_the_fast_path_and_a_coloured_one_is_still_refused() {
    let (c, _) = genuine();
    let (w, h) = (c.width() as usize, c.height() as usize);
    let clean = encode(w, h, &Edit::None, (0, 0), (75, 0, 0, false, false));
    let (fast, full, neutral) = both(&clean);
    assert_eq!(neutral, Some(true));
    assert_eq!(fast, full);
    let coloured = encode(w, h, &Edit::Dot(255, 0, 0), (w - 1, h - 1), (90, 1, 0, false, false));
    let (fast, full, neutral) = both(&coloured);
    assert_eq!(neutral, Some(false));
    assert_eq!(fast, full);
    assert!(fast.contains("Colour"), "{}", &fast[fast.len() - 80..]);
}
