//! The adversarial set and the benign-tools set (issue 10 §1), with real tools.
//!
//! Adversarial: a forger holds a genuine receipt and ordinary image tools, no key. Each
//! forgery keeps what a naive reading of the file sees (the default image, the luma, the text
//! chunk) close to the genuine slip while some common viewer shows the edited amount: another
//! animation frame, a colour profile, transparency over a dark background, colour, a second
//! image or thumbnail, a low-amplitude edit. Every one must be refused, and the reason must
//! name what was refused in the words of the policy (docs/verification.md: what an authentic file may
//! contain). The set fails on a verifier that judges only the default image's luma.
//!
//! Benign tools: what honest people do to a receipt with the same tools (re-save, optimise,
//! strip, convert, JPEG at quality ≥ 75): all must stay authentic.
//!
//! `TAMPER_ADVERSARIAL=n` sets how many corpus receipts (besides the golden fixture) go
//! through both sets (default 5); `TAMPER_FORGERIES=DIR` keeps every file made, per receipt.

use std::path::PathBuf;
use std::time::Instant;

use ereceipt_core::render::png::TEXT_KEYWORD;
use ereceipt_core::verify::{verify_image, Verdict};

use crate::attacks::{image_grey_resave, paste_same_place, top_cluster};
use crate::corpus::{self, make, Authority, Spec};
use crate::score::{self, Case, Kind, Row};
use crate::tools::{self, edit_mask, golden_edit, restart_markers, Grey, Workdir, CONVERT};
use crate::{malicious, par_map, Ctx};

/// What the verdict on a forgery must be.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// Not authentic, with a reason containing one of these words (the policy's names).
    Refused(&'static [&'static str]),
    /// Tampered (the signed data is intact): a pixel edit, caught by the pixel judgement
    /// (exact in PNG, the block model in JPEG) rather than by a structural rule.
    Pixels,
    /// Unverifiable, with the format named.
    Format(&'static str),
}

use Expect::{Format, Pixels, Refused};

/// The adversarial set: row, file (made by forge.py, or by [`cjpeg_forgeries`] when listed in
/// [`BY_CJPEG`]), expectation.
pub const ADVERSARIAL: [(&str, &str, Expect); 41] = [
    ("APNG: default image genuine, animation frame shows the edit", "apng.png", Refused(&["acTL"])),
    ("PNG iCCP profile mapping faint greys (218) to black, ink 40 to white", "iccp.png", Refused(&["iCCP"])),
    ("PNG gAMA 0.05: faint strokes (225) shown dark", "gama.png", Refused(&["gAMA"])),
    ("PNG cHRM with a white point far from D65", "chrm.png", Refused(&["cHRM"])),
    ("PNG cICP (BT.2020, PQ) with faint strokes", "cicp.png", Refused(&["cICP"])),
    ("PNG mDCv (HDR mastering display)", "mdcv.png", Refused(&["mDCv"])),
    ("PNG cLLi (HDR light levels)", "clli.png", Refused(&["cLLi"])),
    ("PNG tRNS: new strokes in transparent white (show over dark)", "trns.png", Refused(&["tRNS"])),
    ("PNG alpha: new strokes in transparent white (show over dark)", "alpha.png", Refused(&["alpha"])),
    ("PNG colour: orange strokes of paper-like luma (200)", "colour.png", Refused(&["colour"])),
    ("PNG light-grey strokes (200) on paper", "grey200.png", Pixels),
    ("PNG low amplitude: ink lifted to 60, strokes at 195", "low_amplitude.png", Pixels),
    ("PNG 16-bit: genuine high bytes, the edit in the low bytes", "sixteen.png", Refused(&["16-bit"])),
    ("PNG sBIT of 4 bits", "sbit.png", Refused(&["sBIT"])),
    ("PNG eXIf orientation 3", "exif.png", Refused(&["eXIf orientation"])),
    ("PNG unknown critical chunk XyZw", "critical.png", Refused(&["unknown critical chunk XyZw"])),
    ("PNG edited copy appended after IEND", "after_iend.png", Refused(&["after IEND"])),
    ("PNG second IDAT stream (the edit) after a tEXt chunk", "second_idat.png", Refused(&["IDAT"])),
    ("JPEG ICC profile mapping faint greys to black, ink 40 to white", "icc.jpg", Refused(&["ICC profile"])),
    ("JPEG Adobe APP14 transform 0 (RGB components)", "adobe.jpg", Refused(&["Adobe APP14"])),
    ("JPEG CMYK", "cmyk.jpg", Refused(&["CMYK"])),
    ("JPEG EXIF orientation 3", "exif3.jpg", Refused(&["EXIF orientation"])),
    ("JPEG EXIF orientation 6", "exif6.jpg", Refused(&["EXIF orientation"])),
    ("JPEG EXIF thumbnail showing the edit", "exif_thumb.jpg", Refused(&["thumbnail"])),
    ("JPEG JFIF thumbnail showing the edit", "jfif_thumb.jpg", Refused(&["thumbnail"])),
    ("JPEG JFXX extension thumbnail showing the edit", "jfxx_thumb.jpg", Refused(&["thumbnail"])),
    ("JPEG MPF: second image shows the edit", "mpo.jpg", Refused(&["MPF"])),
    ("JPEG edited copy appended after EOI", "after_eoi.jpg", Refused(&["after EOI"])),
    ("JPEG arithmetic coding (cjpeg -arithmetic)", "arithmetic.jpg", Refused(&["arithmetic"])),
    ("JPEG restart markers out of sequence", "restart_order.jpg", Refused(&["restart"])),
    ("JPEG restart marker missing", "restart_missing.jpg", Refused(&["restart"])),
    ("JPEG colour: orange strokes of paper-like luma", "colour.jpg", Refused(&["colour"])),
    ("JPEG low amplitude: ink lifted to 60, strokes at 195", "ink_lifted.jpg", Pixels),
    ("JPEG low amplitude: paper darkened to 195 beside ink", "paper_darkened.jpg", Pixels),
    ("JPEG low amplitude: faint strokes (215) in blank blocks", "faint_blank.jpg", Pixels),
    ("GIF (Pillow)", "slip.gif", Format("GIF")),
    ("WebP, lossless (Pillow)", "slip.webp", Format("WebP")),
    ("TIFF (Pillow)", "slip.tiff", Format("TIFF")),
    ("BMP (Pillow)", "slip.bmp", Format("BMP")),
    ("PDF (Pillow)", "slip.pdf", Format("PDF")),
    ("AVIF (Pillow)", "slip.avif", Format("AVIF")),
];

/// Forgeries made by [`cjpeg_forgeries`]; forge.py makes the others.
const BY_CJPEG: [&str; 3] = ["arithmetic.jpg", "restart_order.jpg", "restart_missing.jpg"];

/// SVG wrapping the genuine PNG; listed apart because it is text, not an image codec.
const SVG: (&str, &str, Expect) = ("SVG embedding the genuine PNG", "slip.svg", Format("SVG"));

/// The benign-tools set: row and the files it counts (one case per file and receipt).
pub const BENIGN: [(&str, &[&str]); 22] = [
    ("terminal's own PNG", &["genuine.png"]),
    ("Pillow re-save (palette and text kept)", &["pillow.png"]),
    ("Pillow convert('RGB') / convert('L'), text lost", &["pillow_rgb.png", "pillow_grey.png"]),
    ("ImageMagick re-save / -strip", &["im.png", "im_strip.png"]),
    ("ImageMagick -type TrueColor / -colorspace Gray", &["im_truecolor.png", "im_gray.png"]),
    ("ImageMagick -interlace PNG (Adam7)", &["im_interlaced.png"]),
    ("png crate (8-bit grey, text kept) / image crate re-save", &["png_crate.png", "image_crate.png"]),
    ("optipng -o2", &["optipng.png"]),
    ("oxipng level 2 / --strip safe", &["oxipng.png", "oxipng_strip.png"]),
    ("pngcrush / pngcrush -rem alla", &["pngcrush.png", "pngcrush_rem.png"]),
    ("Pillow JPEG q75 (grey, RGB 4:2:0)", &["pillow_75_grey.jpg", "pillow_75_rgb.jpg"]),
    ("Pillow JPEG q85 (grey, RGB 4:2:0)", &["pillow_85_grey.jpg", "pillow_85_rgb.jpg"]),
    ("Pillow JPEG q95 (grey, RGB 4:2:0)", &["pillow_95_grey.jpg", "pillow_95_rgb.jpg"]),
    ("ImageMagick JPEG q75", &["im_75.jpg"]),
    ("ImageMagick JPEG q85", &["im_85.jpg"]),
    ("ImageMagick JPEG q95", &["im_95.jpg"]),
    ("cjpeg q75 (grey, RGB 4:2:0)", &["cjpeg_75_grey.jpg", "cjpeg_75_rgb.jpg"]),
    ("cjpeg q85 (grey, RGB 4:2:0)", &["cjpeg_85_grey.jpg", "cjpeg_85_rgb.jpg"]),
    ("cjpeg q95 (grey, RGB 4:2:0)", &["cjpeg_95_grey.jpg", "cjpeg_95_rgb.jpg"]),
    ("cjpeg -progressive q85 (grey, RGB 4:2:0)", &["cjpeg_85_prog_grey.jpg", "cjpeg_85_prog_rgb.jpg"]),
    ("ImageMagick JPEG q85, progressive", &["im_85_prog.jpg"]),
    ("Pillow JPEG q85, progressive, optimised", &["pillow_85_prog.jpg"]),
];

/// Files the benign set makes with forge.py (the rest are made by [`benign_tools`]).
const BENIGN_BY_PILLOW: [&str; 13] = [
    "pillow.png",
    "pillow_rgb.png",
    "pillow_grey.png",
    "oxipng.png",
    "oxipng_strip.png",
    "pillow_75_grey.jpg",
    "pillow_75_rgb.jpg",
    "pillow_85_grey.jpg",
    "pillow_85_rgb.jpg",
    "pillow_95_grey.jpg",
    "pillow_95_rgb.jpg",
    "pillow_85_prog.jpg",
    "slip.svg",
];

/// Label of the golden fixture in the tables' failure lines.
const GOLDEN: u64 = u64::MAX;

/// A genuine receipt, its edit (the amount as the forger wants it shown) and its trust anchor.
pub struct Genuine {
    pub seed: u64,
    pub png: Vec<u8>,
    pub slip: Grey,
    pub altered: Grey,
    pub anchor: Vec<u8>,
}

fn grey(c: &ereceipt_core::render::canvas::Canvas) -> Grey {
    Grey { width: c.width(), height: c.height(), pixels: c.pixels().to_vec() }
}

/// The golden fixture with "128.50" edited to "188.50" (see [`tools::golden_edit`]).
pub fn golden() -> Genuine {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let png = std::fs::read(dir.join("golden-576.png")).unwrap();
    let pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let anchor = ereceipt_core::identity::pem_decode(&pem, "CERTIFICATE").unwrap();
    let slip = Grey::decode_png(&png);
    let altered = golden_edit(&slip);
    Genuine { seed: GOLDEN, png, slip, altered, anchor }
}

/// Corpus receipt `seed` with one digit of its amount replaced by another receipt's (the
/// same sale with another amount, as in the malicious set).
pub fn corpus_receipt(seed: u64, ctx: &Ctx) -> Genuine {
    let spec = Spec::corpus(seed);
    let made = make(spec, &ctx.real.terminals[spec.terminal()], &ctx.fonts).unwrap();
    let image = made.receipt.image;
    let alt = malicious::amount_variant(seed, ctx, image.height()).expect("no amount variant of the same size");
    let mut altered = image.clone();
    paste_same_place(&mut altered, &alt, top_cluster(&image, &alt));
    Genuine {
        seed,
        png: made.receipt.png,
        slip: grey(&image),
        altered: grey(&altered),
        anchor: ctx.real.ca.cert_der.clone(),
    }
}

/// Forgeries made with libjpeg-turbo's cjpeg from `slip.pgm`: arithmetic coding, and restart
/// markers (one per MCU row) renumbered or dropped at the edited rows.
fn cjpeg_forgeries(wd: &Workdir, edit_row: usize) {
    wd.run("cjpeg", &["-quality", "90", "-arithmetic", "-outfile", "arithmetic.jpg", "slip.pgm"]);
    wd.run("cjpeg", &["-quality", "90", "-restart", "1", "-outfile", "restart.jpg", "slip.pgm"]);
    let jpeg = wd.read("restart.jpg");
    let rst = restart_markers(&jpeg);
    assert!(rst.len() > edit_row + 2, "cjpeg wrote {} restart markers", rst.len());
    // RSTn and RSTn+1 swapped: decoders that resynchronise on the numbers move MCU rows.
    let mut swapped = jpeg.clone();
    swapped.swap(rst[edit_row] + 1, rst[edit_row + 1] + 1);
    wd.write("restart_order.jpg", &swapped);
    let mut missing = jpeg;
    missing.drain(rst[edit_row]..rst[edit_row] + 2);
    wd.write("restart_missing.jpg", &missing);
}

/// The benign files made by ImageMagick, optipng, pngcrush, cjpeg and the `png`/`image` crates.
fn benign_tools(wd: &Workdir, g: &Genuine) {
    let c = CONVERT;
    wd.run(c, &["genuine.png", "im.png"]);
    wd.run(c, &["genuine.png", "-strip", "im_strip.png"]);
    wd.run(c, &["genuine.png", "-type", "TrueColor", "PNG24:im_truecolor.png"]);
    wd.run(c, &["genuine.png", "-colorspace", "Gray", "im_gray.png"]);
    wd.run(c, &["genuine.png", "-interlace", "PNG", "im_interlaced.png"]);
    for q in ["75", "85", "95"] {
        wd.run(c, &["genuine.png", "-quality", q, &format!("im_{q}.jpg")]);
        for (rgb, kind) in [(false, "grey"), (true, "rgb")] {
            let src = if rgb { "slip.ppm" } else { "slip.pgm" };
            wd.run("cjpeg", &["-quality", q, "-outfile", &format!("cjpeg_{q}_{kind}.jpg"), src]);
        }
    }
    wd.run(c, &["genuine.png", "-quality", "85", "-interlace", "JPEG", "im_85_prog.jpg"]);
    wd.run("cjpeg", &["-quality", "85", "-progressive", "-outfile", "cjpeg_85_prog_grey.jpg", "slip.pgm"]);
    wd.run("cjpeg", &["-quality", "85", "-progressive", "-outfile", "cjpeg_85_prog_rgb.jpg", "slip.ppm"]);
    wd.run("optipng", &["-quiet", "-o2", "-out", "optipng.png", "genuine.png"]);
    wd.run("pngcrush", &["-q", "genuine.png", "pngcrush.png"]);
    wd.run("pngcrush", &["-q", "-rem", "alla", "genuine.png", "pngcrush_rem.png"]);
    wd.write("png_crate.png", &png_crate_resave(&g.png));
    wd.write("image_crate.png", &image_grey_resave(&g.png));
}

/// Decoded and re-encoded by the `png` crate as 8-bit grey, keeping the receipt's text chunk.
fn png_crate_resave(file: &[u8]) -> Vec<u8> {
    let reader = png::Decoder::new(std::io::Cursor::new(file)).read_info().unwrap();
    let text =
        reader.info().uncompressed_latin1_text.iter().find(|t| t.keyword == TEXT_KEYWORD).map(|t| t.text.clone());
    let slip = Grey::decode_png(file);
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, slip.width, slip.height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    if let Some(t) = text {
        enc.add_text_chunk(TEXT_KEYWORD.to_owned(), t).unwrap();
    }
    enc.write_header().unwrap().write_image_data(&slip.pixels).unwrap();
    out
}

/// Both sets on one genuine receipt: (adversarial cases, benign cases).
fn run_one(g: &Genuine, python: &std::path::Path) -> (Vec<Case>, Vec<Case>) {
    let wd = Workdir::new();
    let mask = edit_mask(&g.slip, &g.altered);
    wd.prepare(&g.png, &g.altered, &mask);
    wd.write("slip.pgm", &g.slip.pnm(false));
    wd.write("slip.ppm", &g.slip.pnm(true));
    let by_pillow: Vec<&str> = ADVERSARIAL
        .iter()
        .chain([&SVG])
        .map(|(_, f, _)| *f)
        .filter(|f| !BY_CJPEG.contains(f))
        .chain(BENIGN_BY_PILLOW)
        .collect();
    wd.forge(python, &by_pillow);
    let first_edited_row = (0..g.slip.height).find(|&y| (0..g.slip.width).any(|x| mask.at(x, y) != 255)).unwrap();
    cjpeg_forgeries(&wd, first_edited_row as usize / 8);
    benign_tools(&wd, g);
    if let Some(dir) = std::env::var_os("TAMPER_FORGERIES") {
        let label = if g.seed == GOLDEN { "golden".to_owned() } else { format!("receipt-{}", g.seed) };
        wd.keep(&PathBuf::from(dir).join(label));
    }
    let case = |row: &'static str, file: &str| Case::new(row, g.seed, &verify_image(&wd.read(file), &g.anchor), None);
    let adversarial = ADVERSARIAL.iter().chain([&SVG]).map(|&(row, file, _)| case(row, file)).collect();
    let benign = BENIGN.iter().flat_map(|&(row, files)| files.iter().map(move |f| case(row, f))).collect();
    (adversarial, benign)
}

/// Why a case breaks its row's expectation, if it does.
fn broken(c: &Case, expect: Expect) -> Option<String> {
    let named = |words: &[&str]| words.iter().any(|w| c.reason.contains(w));
    match expect {
        _ if c.verdict == Verdict::Authentic => Some("authentic".into()),
        Refused(words) if !named(words) => Some(format!("reason does not name {words:?}")),
        Format(name) if c.verdict != Verdict::Unverifiable || !c.reason.contains(name) => {
            Some(format!("expected unverifiable naming {name}"))
        }
        Pixels if c.verdict != Verdict::Tampered => Some("expected tampered (signed data present)".into()),
        _ => None,
    }
}

fn label(seed: u64) -> String {
    if seed == GOLDEN {
        "golden fixture".into()
    } else {
        format!("receipt seed {seed}")
    }
}

/// The adversarial table: like [`score::table`], with what the reasons must name and the
/// golden fixture's reason instead of the feature value (255 whenever a structural rule
/// refuses the file before any pixel).
fn adversarial_table(rows: &[Row], expectations: &[(&str, &str, Expect)]) -> String {
    let mut out = String::from(
        "| Forgery | Cases | Authentic | Tampered | Unverifiable | Reason must name | Reason (golden fixture) |\n\
         |---|---:|---:|---:|---:|---|---|\n",
    );
    for (row, &(_, _, expect)) in rows.iter().zip(expectations) {
        let count = |v: Verdict| row.cases.iter().filter(|c| c.verdict == v).count();
        let names = match expect {
            Refused(words) => words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
            Pixels => "(pixels: content altered)".to_owned(),
            Format(name) => format!("`{name}`"),
        };
        let golden = row.cases.iter().find(|c| c.seed == GOLDEN).map_or(String::new(), |c| c.reason.clone());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {names} | {} |\n",
            row.name,
            row.cases.len(),
            count(Verdict::Authentic),
            count(Verdict::Tampered),
            count(Verdict::Unverifiable),
            golden.replace('|', "/")
        ));
    }
    out
}

fn rows(names: impl Iterator<Item = (&'static str, Kind)>, cases: Vec<Case>) -> Vec<Row> {
    let mut rows: Vec<Row> = names.map(|(name, kind)| Row { name, kind, cases: Vec::new() }).collect();
    for c in cases {
        if let Some(r) = rows.iter_mut().find(|r| r.name == c.row) {
            r.cases.push(c);
        }
    }
    rows
}

#[test]
fn adversarial_and_benign_tools() {
    let started = Instant::now();
    let n: usize = std::env::var("TAMPER_ADVERSARIAL").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let python = tools::python();
    let ctx = Ctx { fonts: corpus::fonts(), real: Authority::new("Test Root"), rogue: Authority::new("Test Root") };
    let results = par_map(n + 1, |i| {
        let g = if i == 0 { golden() } else { corpus_receipt(i as u64 - 1, &ctx) };
        run_one(&g, &python)
    });
    let (adversarial, benign): (Vec<Vec<Case>>, Vec<Vec<Case>>) = results.into_iter().unzip();
    let expectations: Vec<(&str, &str, Expect)> = ADVERSARIAL.iter().copied().chain([SVG]).collect();
    let adversarial = rows(expectations.iter().map(|&(r, _, _)| (r, Kind::Malicious)), adversarial.concat());
    let benign = rows(BENIGN.iter().map(|&(r, _)| (r, Kind::Benign)), benign.concat());
    println!(
        "\nAdversarial set ({n} receipts and the golden fixture):\n\n{}",
        adversarial_table(&adversarial, &expectations)
    );
    println!("Benign tools set:\n\n{}", score::table(&benign));
    println!("- adversarial and benign-tools sets: {:.1} s\n", started.elapsed().as_secs_f64());

    // One line per row that fails: how many cases, and the first one's verdict and reason.
    let mut problems = Vec::new();
    let mut report = |row: &Row, bad: Vec<(&Case, String)>| {
        if let Some((c, why)) = bad.first() {
            let n = bad.len();
            let of = row.cases.len();
            problems.push(format!(
                "{}: {n} of {of} fail; {}: {why}: {:?}: {}",
                row.name,
                label(c.seed),
                c.verdict,
                c.reason
            ));
        }
    };
    for (row, &(_, _, expect)) in adversarial.iter().zip(&expectations) {
        report(row, row.cases.iter().filter_map(|c| broken(c, expect).map(|why| (c, why))).collect());
    }
    for row in &benign {
        report(row, row.failures().into_iter().map(|c| (c, "not authentic".to_owned())).collect());
    }
    for row in adversarial.iter().chain(&benign).filter(|r| r.cases.is_empty()) {
        problems.push(format!("{}: no case", row.name));
    }
    assert!(problems.is_empty(), "{} failures:\n{}", problems.len(), problems.join("\n"));
}
