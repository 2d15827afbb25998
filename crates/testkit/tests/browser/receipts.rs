//! What a browser shows of a receipt file, against what the verifier says (issue 10 §1): the
//! golden receipt is forged with Pillow (the tamper suite's forge.py) so that its amount
//! "128.50" reads "188.50" only where a viewer renders the file fully (the animation frame of
//! an APNG, a colour profile, gAMA, transparency over a dark page). Headless Chromium displays
//! each at 1:1; the screenshot must show the edit where the signed slip has none, while
//! `verify_image` refuses the file naming what it refused. A 1:1 screenshot of the genuine PNG
//! must itself verify as authentic.

use std::time::Duration;

use base64::Engine;
use ereceipt_core::verify::{verify_image, Verdict};
use ereceipt_testkit::{Browser, BrowserOptions};

// The tamper suite's tool runner; test code, where a failed unwrap is a failed test.
#[path = "../../../receipt-core/tests/tamper/tools.rs"]
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
mod tools;

use tools::{edit_mask, golden_edit, Grey, Workdir, ADD, REMOVE};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../receipt-core/tests/fixtures");

/// The golden receipt: its file, its slip, the edit, the edit's mask and the trust anchor.
struct Golden {
    png: Vec<u8>,
    slip: Grey,
    mask: Grey,
    anchor: Vec<u8>,
    work: Workdir,
}

fn golden() -> Result<Golden, Box<dyn std::error::Error>> {
    let png = std::fs::read(format!("{FIXTURES}/golden-576.png"))?;
    let anchor =
        ereceipt_core::identity::pem_decode(&std::fs::read_to_string(format!("{FIXTURES}/ca.pem"))?, "CERTIFICATE")?;
    let slip = Grey::decode_png(&png);
    let altered = golden_edit(&slip);
    let mask = edit_mask(&slip, &altered);
    let work = Workdir::new();
    work.prepare(&png, &altered, &mask);
    Ok(Golden { png, slip, mask, anchor, work })
}

/// What Chromium displays of `file` (a PNG) at 1:1 from the top-left corner of a page whose
/// background is `background`, as grey levels (BT.601 luma of the screenshot's RGB), and the
/// screenshot file itself (a viewport of exactly the image's size).
async fn displayed(
    file: &[u8],
    width: u32,
    height: u32,
    background: &str,
) -> Result<(Grey, Vec<u8>), Box<dyn std::error::Error>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let page = format!(
        "<!doctype html><html><head><style>html, body {{ margin: 0; background: {background} }} \
         img {{ display: block }}</style></head><body><img id=\"r\" src=\"data:image/png;base64,{}\"></body></html>",
        b64.encode(file)
    );
    let browser = Browser::start(BrowserOptions { width, height, ..BrowserOptions::default() }).await?;
    browser.goto(&format!("data:text/html;base64,{}", b64.encode(page))).await?;
    let loaded = "const i = document.getElementById('r'); return i.complete && i.naturalWidth > 0;";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while browser.execute(loaded, vec![]).await?.as_bool() != Some(true) {
        assert!(tokio::time::Instant::now() < deadline, "the image did not load in Chromium");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two animation frames later the first frame of an animation is surely on screen.
    browser
        .execute("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))));", vec![])
        .await?;
    let shot = browser.client().screenshot().await?;
    browser.close().await?;
    let mut dec = png::Decoder::new(std::io::Cursor::new(&shot));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info()?;
    let mut buf = vec![0u8; reader.output_buffer_size().ok_or("screenshot too large")?];
    let frame = reader.next_frame(&mut buf)?;
    let channels = frame.color_type.samples();
    assert!(channels >= 3, "screenshot of colour type {:?}", frame.color_type);
    assert_eq!((frame.width, frame.height), (width, height), "the screenshot is not of the viewport's size");
    let row = frame.width as usize * channels;
    let pixels = (0..height as usize)
        .flat_map(|y| (0..width as usize).map(move |x| y * row + x * channels))
        .map(|i| {
            ((299 * u32::from(buf[i]) + 587 * u32::from(buf[i + 1]) + 114 * u32::from(buf[i + 2]) + 500) / 1000) as u8
        })
        .collect();
    Ok((Grey { width, height, pixels }, shot))
}

/// The chunk types of a PNG file, in order, so that a refusal says what Chromium wrote.
fn chunk_types(png: &[u8]) -> Vec<String> {
    let mut types = Vec::new();
    let mut at = 8;
    while let Some(head) = png.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        types.push(String::from_utf8_lossy(&head[4..8]).into_owned());
        at += 12 + len;
    }
    types
}

/// Shares of the edit the display shows: (added strokes shown dark, removed strokes shown
/// light), and the share of all other pixels that binarise as in the signed slip.
fn shown(g: &Golden, shot: &Grey) -> (f64, f64, f64) {
    let (mut add, mut add_dark, mut remove, mut remove_light, mut rest, mut rest_same) = (0, 0, 0, 0, 0, 0);
    for (i, (&m, &d)) in g.mask.pixels.iter().zip(&shot.pixels).enumerate() {
        match m {
            ADD => (add, add_dark) = (add + 1, add_dark + usize::from(d < 128)),
            REMOVE => (remove, remove_light) = (remove + 1, remove_light + usize::from(d >= 128)),
            _ => (rest, rest_same) = (rest + 1, rest_same + usize::from((d < 128) == (g.slip.pixels[i] < 128))),
        }
    }
    let share = |k: usize, n: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    (share(add_dark, add), share(remove_light, remove), share(rest_same, rest))
}

/// Forges `file` from the golden receipt, shows it in Chromium over `background`, and checks
/// that the display shows the edit (removed strokes too when `removes`) and the rest of the
/// slip unchanged, while the verifier refuses the file naming `word`.
async fn browser_shows_what_verify_refuses(file: &str, background: &str, removes: bool, word: &str) -> TestResult {
    let g = golden()?;
    g.work.forge(&tools::python(), &[file]);
    let forged = g.work.read(file);
    let (shot, _) = displayed(&forged, g.slip.width, g.slip.height, background).await?;
    let (added, removed, rest) = shown(&g, &shot);
    assert!(added > 0.9, "{file}: Chromium shows only {:.0}% of the added strokes dark", added * 100.0);
    if removes {
        assert!(removed > 0.9, "{file}: Chromium shows only {:.0}% of the removed strokes light", removed * 100.0);
    }
    assert!(rest > 0.999, "{file}: Chromium shows the rest of the slip altered ({:.3}% unchanged)", rest * 100.0);
    let v = verify_image(&forged, &g.anchor);
    assert_ne!(v.verdict, Verdict::Authentic, "{file}: verify says authentic while Chromium shows the edit");
    assert!(v.reason.contains(word), "{file}: the reason does not name {word}: {}", v.reason);
    Ok(())
}

#[tokio::test]
async fn chromium_plays_the_apng_frame_that_verify_refuses() -> TestResult {
    browser_shows_what_verify_refuses("apng.png", "white", true, "acTL").await
}

#[tokio::test]
async fn chromium_applies_the_iccp_profile_that_verify_refuses() -> TestResult {
    browser_shows_what_verify_refuses("iccp.png", "white", true, "iCCP").await
}

#[tokio::test]
async fn chromium_applies_the_gama_that_verify_refuses() -> TestResult {
    browser_shows_what_verify_refuses("gama.png", "white", false, "gAMA").await
}

#[tokio::test]
async fn chromium_shows_transparent_ink_over_a_dark_page_that_verify_refuses() -> TestResult {
    browser_shows_what_verify_refuses("trns.png", "black", false, "tRNS").await
}

#[tokio::test]
async fn a_1_to_1_chromium_screenshot_of_the_genuine_png_is_authentic() -> TestResult {
    let g = golden()?;
    let (shot, file) = displayed(&g.png, g.slip.width, g.slip.height, "white").await?;
    assert_eq!(shot, g.slip, "Chromium does not display the genuine slip exactly");
    // The screenshot file as Chromium wrote it (RGB(A), no text chunk: the QR is scanned).
    let v = verify_image(&file, &g.anchor);
    assert_eq!(v.verdict, Verdict::Authentic, "{} (the screenshot's chunks: {:?})", v.reason, chunk_types(&file));
    Ok(())
}
