//! Drives the real headless Chromium against a tiny in-test page: forms, downloads, pen and
//! touch strokes, page keystrokes and screenshots as a portal or touch-UI test would use them;
//! and what Chromium shows of forged receipts (`receipts`).

mod receipts;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Form;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use ereceipt_testkit::{Browser, BrowserOptions, PointerKind};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(10);

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>testkit</title>
<style>body { margin: 0 } #pad { display: block; width: 300px; height: 200px; touch-action: none }</style>
</head><body>
<form method="post" action="/submit">
  <input name="name" id="name" value="placeholder">
  <select name="size" id="size"><option value="s">S</option><option value="m">M</option></select>
  <button type="submit" id="send">Send</button>
</form>
<a id="dl" href="/download">download</a>
<canvas id="pad" width="300" height="200"></canvas>
<div id="keys"></div>
<script>
  window.strokes = [];
  const pad = document.getElementById('pad');
  for (const type of ['pointerdown', 'pointermove', 'pointerup']) {
    pad.addEventListener(type, e => {
      strokes.push({type: e.type, pointerType: e.pointerType, pressure: e.pressure,
                    t: e.timeStamp, x: e.offsetX, y: e.offsetY});
      e.preventDefault();
    });
  }
  window.keys = [];
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter') document.getElementById('keys').textContent = keys.join('');
    else keys.push(e.key);
  });
</script>
</body></html>"#;

/// The bytes `/download` serves.
fn download_bytes() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[derive(serde::Deserialize)]
struct Submitted {
    name: String,
    size: String,
}

async fn submit(Form(form): Form<Submitted>) -> impl IntoResponse {
    let name = form.name.replace('&', "&amp;").replace('<', "&lt;");
    (
        [(header::SET_COOKIE, "kit=seen; Path=/; HttpOnly; SameSite=Strict")],
        Html(format!("<p id=\"result\">Hello {name}, size {}</p>", form.size)),
    )
}

async fn download() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"receipt.bin\""),
        ],
        download_bytes(),
    )
}

/// Serves the test page over plain HTTP on a free loopback port.
async fn serve() -> Result<String, std::io::Error> {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/submit", post(submit))
        .route("/download", get(download));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/"))
}

/// Serves one fixed page over HTTPS with a self-signed certificate (as from a private CA) on a
/// free loopback port.
async fn serve_https(page: &'static str) -> Result<String, Box<dyn std::error::Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Ok(format!("https://{addr}/"))
}

async fn browser() -> Result<Browser, ereceipt_testkit::Error> {
    Browser::start(BrowserOptions { width: 800, height: 600, ..BrowserOptions::default() }).await
}

#[tokio::test]
async fn a_form_is_filled_submitted_and_its_cookie_kept() -> TestResult {
    let base = serve().await?;
    let browser = browser().await?;
    browser.goto(&base).await?;
    assert_eq!(browser.attr("#name", "value").await?.as_deref(), Some("placeholder"));
    browser.fill("#name", "Zoë <Müller>").await?;
    browser.select("#size", "m").await?;
    browser.click("#send").await?;
    let text = browser.wait_for_text("#result", "Hello", WAIT).await?;
    assert_eq!(text, "Hello Zoë <Müller>, size m");
    assert_eq!(browser.url().await?, format!("{base}submit"));
    assert!(!browser.exists("#send").await?);
    let cookies = browser.cookies().await?;
    let kit = cookies.iter().find(|c| c.name == "kit").ok_or("cookie kit not set")?;
    assert_eq!(kit.value, "seen");
    assert!(kit.http_only && !kit.secure);
    assert_eq!(kit.same_site.as_deref(), Some("Strict"));
    browser.close().await?;
    Ok(())
}

#[tokio::test]
async fn an_attachment_is_saved_with_the_served_bytes() -> TestResult {
    let base = serve().await?;
    let browser = browser().await?;
    browser.goto(&base).await?;
    browser.click("#dl").await?;
    let path = browser.wait_for_download(|name| name == "receipt.bin", WAIT).await?;
    assert_eq!(path, browser.download_dir().join("receipt.bin"));
    assert_eq!(std::fs::read(&path)?, download_bytes());
    Ok(())
}

/// The pointer events the page recorded on the canvas.
async fn strokes(browser: &Browser) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let recorded = browser.execute("return window.strokes.splice(0);", vec![]).await?;
    Ok(recorded.as_array().cloned().ok_or("strokes is not an array")?)
}

#[tokio::test]
async fn pen_touch_and_mouse_strokes_arrive_with_type_pressure_and_time() -> TestResult {
    let base = serve().await?;
    let browser = browser().await?;
    browser.goto(&base).await?;
    let points: Vec<(f64, f64)> = (0..12).map(|i| (20.0 + 20.0 * f64::from(i), 100.0)).collect();
    let kinds = [(PointerKind::Pen, "pen"), (PointerKind::Touch, "touch"), (PointerKind::Mouse, "mouse")];
    for (kind, name) in kinds {
        browser.draw("#pad", &points, kind, 0.6).await?;
        let mut events = strokes(&browser).await?;
        // A pen hovers to the first point before touching down; only the stroke counts here.
        let down = events.iter().position(|e| e["type"] == "pointerdown").ok_or("no pointerdown")?;
        events.drain(..down);
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(types.first(), Some(&"pointerdown"), "{name}: {types:?}");
        assert_eq!(types.last(), Some(&"pointerup"), "{name}: {types:?}");
        let moves: Vec<&Value> = events.iter().filter(|e| e["type"] == "pointermove").collect();
        assert!(moves.len() >= 8, "{name}: only {} moves arrived", moves.len());
        for event in &events {
            assert_eq!(event["pointerType"], json!(name), "{event}");
        }
        for event in events.iter().filter(|e| e["type"] != "pointerup") {
            let pressure = event["pressure"].as_f64().unwrap_or(0.0);
            assert!((pressure - 0.6).abs() < 0.01, "{name}: pressure {pressure} in {event}");
        }
        let times: Vec<f64> = moves.iter().filter_map(|e| e["t"].as_f64()).collect();
        assert!(times.windows(2).all(|w| w[1] > w[0]), "{name}: times {times:?}");
        // Offsets are relative to the element: the stroke ends where it was asked to.
        let last = moves.last().ok_or("no move")?;
        assert_eq!((last["x"].as_f64(), last["y"].as_f64()), (Some(240.0), Some(100.0)));
    }
    Ok(())
}

#[tokio::test]
async fn page_keystrokes_reach_the_document() -> TestResult {
    let base = serve().await?;
    let browser = browser().await?;
    browser.goto(&base).await?;
    browser.send_keys_to_page(";6011000990139424=2512?\n").await?;
    let keys = browser.wait_for_text("#keys", "6011", WAIT).await?;
    assert_eq!(keys, ";6011000990139424=2512?");
    Ok(())
}

#[tokio::test]
async fn a_screenshot_is_a_png_of_the_requested_size_in_the_requested_language() -> TestResult {
    let base = serve().await?;
    let browser = Browser::start(BrowserOptions { width: 640, height: 480, ..BrowserOptions::default() }).await?;
    browser.goto(&base).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("page.png");
    browser.screenshot(&path).await?;
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path)?));
    let reader = decoder.read_info()?;
    assert_eq!((reader.info().width, reader.info().height), (640, 480));
    Ok(())
}

#[tokio::test]
async fn a_page_over_https_from_a_private_ca_loads() -> TestResult {
    let base = serve_https("<!doctype html><title>tls</title><p id=\"ok\">private CA</p>").await?;
    let browser = browser().await?;
    browser.goto(&base).await?;
    assert_eq!(browser.wait_for_text("#ok", "private", WAIT).await?, "private CA");
    assert_eq!(browser.url().await?, base);
    Ok(())
}
