//! The receipt email as a customer sees it: the HTML part of the very message the platform sends
//! (from the local outbox), its `cid:` slip resolved to the inline part, rendered in headless
//! Chromium on a 360 px phone, on a 1200 px desktop and in dark mode, checked for layout, the
//! button and with axe-core. Screenshots: email-360.png, email-desktop.png, email-dark-360.png.

use std::path::Path;
use std::time::Duration;

use ereceipt_terminal::sync::Step;
use ereceipt_testkit::{Browser, BrowserOptions};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde_json::Value;

use crate::helpers::{poll_until, screenshot_dir, Db, TestPlatform};

/// Everything the checks read from the rendered page, in one round trip.
const LAYOUT: &str = r#"
const de = document.documentElement;
const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width, height: r.height}; };
const labels = [...document.querySelectorAll('table.fields th')].map(th => ({
  text: th.textContent, width: th.getBoundingClientRect().width,
  fontSize: parseFloat(getComputedStyle(th).fontSize),
  spans: [...th.querySelectorAll('.label')].map(s => ({text: s.textContent, lines: s.getClientRects().length})),
}));
const img = document.querySelector('img'), button = document.querySelector('#verify');
const colour = (e, p) => getComputedStyle(e)[p];
return {
  scrollWidth: de.scrollWidth, clientWidth: de.clientWidth, innerWidth: window.innerWidth, height: de.scrollHeight, labels,
  image: Object.assign(box(img), {loaded: img.complete && img.naturalWidth > 0, alt: img.alt}),
  button: Object.assign(box(button), {href: button.getAttribute('href'), visible: button.checkVisibility(),
    text: button.textContent}),
  card: box(document.querySelector('.card')),
  page: colour(document.body, 'backgroundColor'), cardColour: colour(document.querySelector('.card'), 'backgroundColor'),
  heading: colour(document.querySelector('h1'), 'color'), slip: colour(document.querySelector('.slip'), 'backgroundColor'),
  dark: matchMedia('(prefers-color-scheme: dark)').matches,
};"#;

/// Runs axe-core (injected before) on the page; its violations, one line each.
const AXE: &str = "return axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v =>
    v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', ')));";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_email_reads_well_on_a_phone_a_desktop_and_in_dark_mode() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let merchant = "Harbour Books & Café 海港书店（中环店）";
    let mut t = platform.terminal_for("T0001401", "104110070110001", merchant).await;
    let sale = t.sale_to(Some("email:li.na@example.com")).await;
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(sale.record.id.to_string()));
    let id = sale.record.id.to_string();
    let eml = platform.dir.path().join("outbox/email").join(format!("{id}.email.eml"));
    poll_until(Duration::from_secs(20), "the email in the outbox", || eml.exists()).await;
    // Written under another name and renamed: once there, it is whole.
    let raw = std::fs::read(&eml).unwrap();

    let page_dir = tempfile::tempdir().unwrap();
    let link = write_page(&raw, &sale.png, page_dir.path());
    assert!(link.starts_with("https://") && link.contains(&id), "{link}");
    let url = format!("file://{}", page_dir.path().join("email.html").display());
    let axe = ereceipt_test_peers::node::axe_source();

    let browser =
        Browser::start(BrowserOptions { width: 360, height: 640, download_dir: None, lang: None }).await.unwrap();
    browser.goto(&url).await.unwrap();

    // A phone: one column, nothing sideways, labels on one line each, the button there.
    let phone = layout(&browser).await;
    check_layout(&phone, &link, 360.0);
    assert!(phone["image"]["width"].as_f64().unwrap() >= 250.0, "the slip is not a thumbnail: {phone}");
    assert_eq!(violations(&browser, &axe).await, Vec::<String>::new(), "axe at 360 px");
    full_page_shot(&browser, 360, &phone, "email-360.png").await;

    // Dark mode: dark page and card, light text, the slip still on white, contrast still holds.
    browser.resize_viewport(360, 640).await.unwrap();
    browser.emulate_media_feature("prefers-color-scheme", "dark").await.unwrap();
    let dark = layout(&browser).await;
    assert_eq!(dark["dark"], true);
    check_layout(&dark, &link, 360.0);
    for (what, dark_wanted) in [("page", true), ("cardColour", true), ("heading", false)] {
        let l = luminance(dark[what].as_str().unwrap());
        assert!(if dark_wanted { l < 0.1 } else { l > 0.7 }, "{what} in dark mode is {}", dark[what]);
    }
    assert_eq!(dark["slip"], "rgb(255, 255, 255)", "the slip keeps its white card");
    assert_eq!(violations(&browser, &axe).await, Vec::<String>::new(), "axe in dark mode");
    full_page_shot(&browser, 360, &dark, "email-dark-360.png").await;
    browser.emulate_media_feature("prefers-color-scheme", "light").await.unwrap();

    // A desktop: the same column, at most ~600 px wide, centred.
    browser.resize_viewport(1200, 900).await.unwrap();
    let desktop = layout(&browser).await;
    assert_eq!(desktop["dark"], false);
    check_layout(&desktop, &link, 1200.0);
    let card = &desktop["card"];
    let (left, right) = (card["left"].as_f64().unwrap(), card["right"].as_f64().unwrap());
    assert!(card["width"].as_f64().unwrap() <= 600.0, "the column stays narrow: {card}");
    // Centred in the page beside the vertical scroll bar, if the browser shows one.
    let page = desktop["clientWidth"].as_f64().unwrap();
    assert!((left - (page - right)).abs() <= 2.0, "the column is centred in {page} px: {card}");
    assert!(luminance(desktop["cardColour"].as_str().unwrap()) > 0.9, "light card by default: {desktop}");
    assert_eq!(violations(&browser, &axe).await, Vec::<String>::new(), "axe at 1200 px");
    full_page_shot(&browser, 1200, &desktop, "email-desktop.png").await;
    browser.close().await.unwrap();
}

/// Writes the message's HTML part as `email.html` in `dir`, its `cid:` image resolved to the
/// inline part it names (written beside it), after checking that part is the signed `png`;
/// returns the link of the button.
fn write_page(raw: &[u8], png: &[u8], dir: &Path) -> String {
    let msg = MessageParser::default().parse(raw).expect("the email parses");
    let html = msg
        .parts
        .iter()
        .find_map(|p| match &p.body {
            PartType::Html(h) => Some(h.to_string()),
            _ => None,
        })
        .expect("an HTML part");
    let src = html.split("src=\"cid:").nth(1).and_then(|s| s.split('"').next()).expect("an <img src=\"cid:…\">");
    let inline = msg.parts.iter().find(|p| p.content_id() == Some(src)).expect("the part the cid: names");
    assert_eq!(inline.contents(), png, "the inline slip is the signed receipt");
    std::fs::write(dir.join("slip.png"), inline.contents()).unwrap();
    std::fs::write(dir.join("email.html"), html.replace(&format!("cid:{src}"), "slip.png")).unwrap();
    let href = html.split("id=\"verify\" class=\"btn\" href=\"").nth(1).and_then(|s| s.split('"').next());
    href.expect("the button").replace("&amp;", "&")
}

async fn layout(browser: &Browser) -> Value {
    browser.execute(LAYOUT, vec![]).await.unwrap()
}

/// What must hold at every width: no sideways scroll, the slip loaded and inside the page,
/// every label at least three characters wide with each language on one line, the button
/// visible, inside the page and to `link`.
fn check_layout(l: &Value, link: &str, width: f64) {
    assert_eq!(l["innerWidth"].as_f64(), Some(width), "{l}");
    assert!(l["scrollWidth"].as_f64().unwrap() <= width, "no sideways scroll: {l}");
    let labels = l["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 4, "{l}");
    for label in labels {
        let (w, font) = (label["width"].as_f64().unwrap(), label["fontSize"].as_f64().unwrap());
        assert!(w >= 3.0 * font, "label {} is {w} px wide at {font} px type", label["text"]);
        for span in label["spans"].as_array().unwrap() {
            assert_eq!(span["lines"], 1, "label {} wraps: {l}", span["text"]);
        }
    }
    let image = &l["image"];
    assert_eq!(image["loaded"], true, "{l}");
    assert!(image["left"].as_f64().unwrap() >= 0.0 && image["right"].as_f64().unwrap() <= width, "{image}");
    let alt = image["alt"].as_str().unwrap();
    assert!(alt.contains("Harbour Books & Café") && alt.contains("Signed receipt"), "{alt}");
    let button = &l["button"];
    assert_eq!(button["href"], link);
    assert_eq!(button["visible"], true);
    assert!(button["height"].as_f64().unwrap() >= 40.0, "a button a thumb can hit: {button}");
    assert!(button["left"].as_f64().unwrap() >= 0.0 && button["right"].as_f64().unwrap() <= width, "{button}");
    assert_eq!(button["text"], "查看并验证 / View and verify");
}

/// axe-core's violations on the page, injecting `axe` (its source) first if the page lacks it.
async fn violations(browser: &Browser, axe: &str) -> Vec<String> {
    if browser.execute("return typeof window.axe", vec![]).await.unwrap() != "object" {
        browser.execute(axe, vec![]).await.unwrap();
    }
    let found = browser.execute(AXE, vec![]).await.unwrap();
    serde_json::from_value(found).unwrap()
}

/// A screenshot of the whole page, `width` wide; leaves the viewport that tall.
async fn full_page_shot(browser: &Browser, width: u32, l: &Value, name: &str) {
    let height = l["height"].as_u64().and_then(|h| u32::try_from(h).ok()).unwrap();
    browser.resize_viewport(width, height).await.unwrap();
    browser.screenshot(screenshot_dir().join(name)).await.unwrap();
}

/// The relative luminance (WCAG) of a CSS `rgb(…)`/`rgba(…)` colour.
fn luminance(css: &str) -> f64 {
    let inner = css.split(['(', ')']).nth(1).unwrap_or_else(|| panic!("{css}"));
    let c: Vec<f64> = inner.split(',').take(3).map(|v| v.trim().parse::<f64>().unwrap() / 255.0).collect();
    let lin = |v: f64| if v <= 0.03928 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}
