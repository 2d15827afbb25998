//! The check page's picture: the uploaded receipt drawn with its verdict, inline as a `data:`
//! URL that only that page's policy allows; nothing is shown for a file that is no receipt.

use std::time::Duration;

use base64::Engine as _;
use ereceipt_core::render::canvas::INK;
use ereceipt_core::render::png;
use ereceipt_testkit::{Browser, BrowserOptions};

use super::{upload_all, Db, TestPlatform};
use crate::web::{Page, Web};

const GREEN: [u8; 3] = [0x2e, 0x7d, 0x32];
const RED_BAND: [u8; 3] = [0xc6, 0x28, 0x28];
const OUTLINE: [u8; 3] = [0xd3, 0x2f, 0x2f];

fn form(bytes: Vec<u8>, csrf: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .part("image", reqwest::multipart::Part::bytes(bytes).file_name("receipt.png"))
}

/// The picture in the page, decoded as a browser would decode it.
fn picture(page: &Page) -> Option<image::RgbImage> {
    let text = page.text();
    let at = text.find("src=\"data:image/png;base64,")?;
    let rest = &text[at + 27..];
    let b64 = &rest[..rest.find('"')?];
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    Some(image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap().to_rgb8())
}

fn csp(page: &Page) -> String {
    page.headers["content-security-policy"].to_str().unwrap().to_owned()
}

/// The receipt with an ink bar painted over it, as an image editor would.
fn forged(png_bytes: &[u8]) -> Vec<u8> {
    let mut canvas = png::decode(png_bytes).unwrap().canvas;
    let y = i64::from(canvas.height() / 2);
    canvas.fill_rect(300, y, 40, 12, INK);
    png::encode(&canvas, None).unwrap()
}

#[tokio::test]
async fn the_check_page_shows_the_receipt_with_its_verdict_drawn_on_it() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000751").await;
    let r = t.sale().await;
    upload_all(&mut t).await;
    let mut web = Web::new(&platform);
    let empty = web.get("/verify").await;
    assert!(!csp(&empty).contains("data:"), "the form page keeps the strict policy: {}", csp(&empty));
    let csrf = web.csrf.clone();

    let p = web.post_multipart("/verify", form(r.png.clone(), &csrf)).await;
    assert_eq!(p.verdict().as_deref(), Some("authentic"));
    let pic = picture(&p).expect("an annotated picture in the page");
    assert_eq!(pic.width(), 576);
    assert_eq!(pic.get_pixel(3, 3).0, GREEN);
    assert!(pic.pixels().all(|px| px.0 != OUTLINE));
    assert!(csp(&p).contains("img-src 'self' data:"), "{}", csp(&p));
    assert!(csp(&p).contains("default-src 'none'"), "{}", csp(&p));

    let p = web.post_multipart("/verify", form(forged(&r.png), &csrf)).await;
    assert_eq!(p.verdict().as_deref(), Some("tampered"), "{}", p.text());
    let pic = picture(&p).expect("an annotated picture in the page");
    assert_eq!(pic.get_pixel(3, 3).0, RED_BAND);
    let red = pic.pixels().filter(|px| px.0 == OUTLINE).count();
    assert!(red > 500, "the altered area is outlined: {red} red pixels");

    let p = web.post_multipart("/verify", form(b"not an image".to_vec(), &csrf)).await;
    assert_eq!(p.verdict().as_deref(), Some("unverifiable"));
    assert!(picture(&p).is_none());
    assert!(!csp(&p).contains("data:"), "no picture, no exception: {}", csp(&p));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_browser_shows_the_picture_within_the_screen() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0000752", "104110070110001", "Harbour Books 海港书店").await;
    let r = t.sale().await;
    upload_all(&mut t).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("forged.png");
    std::fs::write(&file, forged(&r.png)).unwrap();
    let browser =
        Browser::start(BrowserOptions { width: 360, height: 640, download_dir: None, lang: Some("zh-CN".into()) })
            .await
            .unwrap();
    browser.goto(&format!("{}/verify", platform.url)).await.unwrap();
    browser.wait_for("#image", Duration::from_secs(15)).await.unwrap();
    browser.find("#image").await.unwrap().send_keys(&file.display().to_string()).await.unwrap();
    browser.click("#verify").await.unwrap();
    browser.wait_for("#verdict-picture img", Duration::from_secs(15)).await.unwrap();
    // Decoded by the browser under the page's own policy, and fitted to the phone's width.
    let size = browser
        .execute(
            "const i = document.querySelector('#verdict-picture img');
             i.scrollIntoView({block: 'start'});
             return [i.naturalWidth, i.getBoundingClientRect().width, document.documentElement.scrollWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(size[0], 576, "the browser decoded the picture: {size}");
    let shown = size[1].as_f64().unwrap();
    assert!((280.0..=360.0).contains(&shown), "fits the 360 px screen: {size}");
    assert!(size[2].as_f64().unwrap() <= 360.0, "no sideways scrolling: {size}");
    browser.screenshot(crate::helpers::screenshot_dir().join("portal-8-verdict-picture.png")).await.unwrap();
    browser.close().await.unwrap();
}
