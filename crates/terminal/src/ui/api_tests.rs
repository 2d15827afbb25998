//! The UI's API driven through its router as the page drives it: a whole sale into the outbox,
//! validation answers, and refusals of other origins, hosts and missing tokens.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Utc;
use ereceipt_core::identity::{create_ca, fingerprint_der, issue_terminal_in, TerminalMode};
use ereceipt_core::model::TerminalInfo;
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::CaptureConfig;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::device::PlatformLink;
use ereceipt_core::contract::PlatformInfo;

fn fonts() -> Arc<Fonts> {
    static FONTS: OnceLock<Arc<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
            let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("{path} missing: run scripts/install-deps"));
            Arc::new(Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).expect("font"))
        })
        .clone()
}

/// An enrolled-looking test terminal whose platform is unreachable (uploads are never tried here).
pub(super) fn device(dir: &std::path::Path) -> Device {
    device_in(dir, TerminalMode::Test)
}

/// [`device`] registered in `mode`.
fn device_in(dir: &std::path::Path, mode: TerminalMode) -> Device {
    let now = Utc::now();
    let ca = create_ca("UI test CA", now).expect("CA");
    let info = TerminalInfo {
        terminal_id: "POS00077".parse().expect("id"),
        merchant_id: "898440358120001".parse().expect("merchant"),
        merchant_name: "深圳湾咖啡 Shenzhen Bay Coffee".parse().expect("name"),
        location: "深圳市南山区科苑路15号; geo:22.5431,113.9365".parse().expect("location"),
    };
    let id = issue_terminal_in(&ca, &info, mode, now, 30).expect("terminal certificate");
    let link = PlatformLink {
        url: "https://127.0.0.1:9".into(),
        info: PlatformInfo {
            ca_fingerprint: fingerprint_der(&ca.cert_der),
            hpke_public_key: hex::encode([7u8; 32]),
            hpke_suite: None,
            ack_public_key: hex::encode([9u8; 32]),
            max_upload_bytes: None,
        },
    };
    let d = Device::new(dir);
    d.save_enrolment(&id.key_pkcs8, &id.cert_der, &ca.cert_der, &link).expect("save");
    d
}

pub(super) struct Ui {
    /// The data directory; `tmp` removes it when the test ends (a child process has none).
    pub path: std::path::PathBuf,
    pub tmp: Option<tempfile::TempDir>,
    pub app: UiApp,
    host: String,
}

pub(super) async fn ui(demo: bool) -> Ui {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = enrolled(dir.path()).await;
    ui_on(dir, device, demo).await
}

/// [`device`] with what enrolment leaves behind: the platform's resume point (this enrolment
/// sells in batch 4).
pub(super) async fn enrolled(dir: &std::path::Path) -> Device {
    let device = device(dir);
    let outbox = crate::outbox::Outbox::open(&device.outbox_path()).await.expect("outbox");
    let point = ereceipt_core::contract::ResumePoint { batch: 4, last_serial: 0, head: None };
    outbox.set_resume(&point, 0).await.expect("resume point");
    outbox.close().await;
    device
}

/// A host authoriser that is not a simulator (what an acquirer SDK would plug in).
struct HostAuthoriser;

impl Authoriser for HostAuthoriser {
    fn info(&self) -> AuthoriserInfo {
        AuthoriserInfo { name: "a host".into(), simulator: false }
    }
    fn authorise<'a>(&'a self, _: AuthorisationRequest<'a>) -> AuthoriseFuture<'a> {
        Box::pin(async { Err(AuthorisationError::Unavailable("not in this test".into())) })
    }
    fn reverse<'a>(&'a self, _: ReversalRequest<'a>) -> ReverseFuture<'a> {
        Box::pin(async { Err(AuthorisationError::Unavailable("not in this test".into())) })
    }
    fn advise_again<'a>(&'a self, _: crate::host::AdviceRequest<'a>) -> AuthoriseFuture<'a> {
        Box::pin(async { Err(AuthorisationError::Unavailable("not in this test".into())) })
    }
}

/// M8: on a production terminal the UI refuses the simulator (outside the demo) and clear
/// tracks, whatever it is configured with; a real authoriser without clear tracks starts.
#[tokio::test]
async fn a_production_terminal_refuses_the_simulator_and_clear_tracks() {
    let attempt = |authoriser: Arc<dyn Authoriser>, clear: bool, demo: bool| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = UiConfig {
            device: device_in(dir.path(), TerminalMode::Production),
            listen: "127.0.0.1:0".parse().expect("addr"),
            demo,
            policy: ereceipt_core::card::CardPolicy { accept_clear_tracks: clear, allow_chip_fallback: false },
            width: SlipWidth::W384,
            fonts: fonts(),
            currency: "CNY".parse().expect("CNY"),
            operator: Some("01".parse().expect("operator")),
            authoriser,
            capture: CaptureConfig::default(),
            zone: crate::settings::TerminalZone::Iana(chrono_tz::Asia::Shanghai),
        };
        UiApp::build(config).await.map(|_| ())
    };
    let e = attempt(Arc::new(SimulatedAuthoriser), false, false).await.expect_err("simulator refused");
    assert!(matches!(e, UiStartError::SimulatorOnProduction { .. }), "{e}");
    assert!(
        e.to_string().contains("POS00077 is a production terminal")
            && e.to_string().contains("[host] table of terminal.toml"),
        "{e}"
    );
    let e = attempt(Arc::new(HostAuthoriser), true, false).await.expect_err("clear tracks refused");
    assert!(matches!(e, UiStartError::ClearTracksOnProduction { .. }), "{e}");
    let e = attempt(Arc::new(SimulatedAuthoriser), true, true).await.expect_err("not even in the demo");
    assert!(matches!(e, UiStartError::ClearTracksOnProduction { .. }), "{e}");
    attempt(Arc::new(HostAuthoriser), false, false).await.expect("a real authoriser and a SRED reader start");
}

pub(super) async fn ui_on(dir: tempfile::TempDir, device: Device, demo: bool) -> Ui {
    let mut ui = ui_in(device, demo).await;
    ui.tmp = Some(dir);
    ui
}

/// The UI of `device`, whose directory the caller removes.
pub(super) async fn ui_in(device: Device, demo: bool) -> Ui {
    let path = device.path("");
    let app = UiApp::build(config(device, demo)).await.expect("UI starts");
    let host = app.local_addr().to_string();
    Ui { path, tmp: None, app, host }
}

/// The test UI's settings: test cards, the simulator, a short idle time.
pub(super) fn config(device: Device, demo: bool) -> UiConfig {
    UiConfig {
        device,
        listen: "127.0.0.1:0".parse().expect("addr"),
        demo,
        policy: ereceipt_core::card::CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false },
        width: SlipWidth::W384,
        fonts: fonts(),
        currency: "CNY".parse().expect("CNY"),
        operator: Some("01".parse().expect("operator")),
        authoriser: Arc::new(SimulatedAuthoriser),
        // Short, so the test need not wait 2.5 s; the rule itself is the core's.
        capture: CaptureConfig { idle_ms: 300, ..CaptureConfig::default() },
        // Not the machine's zone (UTC on CI): the slip must show this one.
        zone: crate::settings::TerminalZone::Iana(chrono_tz::Asia::Shanghai),
    }
}

impl Ui {
    pub(super) async fn send(&self, req: Request<Body>) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
        let resp = router(self.app.state.clone()).oneshot(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        (parts.status, body.collect().await.expect("body").to_bytes().to_vec(), parts.headers)
    }

    pub(super) fn post(&self, path: &str, body: Value) -> Request<Body> {
        Request::post(path)
            .header(header::HOST, &self.host)
            .header(header::ORIGIN, format!("http://{}", self.host))
            .header(TOKEN_HEADER, self.app.state.guard.token())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    }

    pub(super) fn get(&self, path: &str) -> Request<Body> {
        Request::get(path)
            .header(header::HOST, &self.host)
            .header(TOKEN_HEADER, self.app.state.guard.token())
            .body(Body::empty())
            .expect("request")
    }

    pub(super) async fn json(&self, req: Request<Body>) -> (StatusCode, Value) {
        let (status, body, _) = self.send(req).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// A signature that ended 500 ms ago on the page's clock (30 points, a wave 230 px wide).
pub(super) fn signed_batch() -> Value {
    let now = Utc::now().timestamp_millis() as f64;
    let events: Vec<Value> = (0..30)
        .map(|i| {
            let kind = match i {
                0 => "down",
                29 => "up",
                _ => "move",
            };
            json!({"type": kind, "pointerType": "touch", "x": 20.0 + f64::from(i) * 8.0,
                   "y": 60.0 + 25.0 * (f64::from(i) * 0.5).sin(), "time": now - 1_000.0 + f64::from(i) * 16.0,
                   "pressure": 0.4})
        })
        .collect();
    json!({"now": now, "events": events})
}

#[tokio::test]
async fn a_sale_goes_from_keypad_to_a_stored_receipt() {
    let ui = ui(false).await;
    let (status, page, headers) = ui.send(ui.get("/")).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).expect("utf-8");
    assert!(!page.contains(ui.app.state.guard.token()), "the page never carries the token");
    assert!(ui.app.url().ends_with(&format!("/#token={}", ui.app.state.guard.token())), "the launch URL does");
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");

    let (status, cfg) = ui.json(ui.get("/api/config")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cfg["currency"], "CNY");
    assert_eq!(cfg["authoriser"]["simulator"], true);

    let (status, started) = ui.json(ui.post("/api/sales", json!({"amount": "12850"}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["amount"], "128.50");
    let sale = started["sale"].as_str().expect("sale id").to_owned();

    let (status, early) = ui.json(ui.post(&format!("/api/sales/{sale}/signature"), signed_batch())).await;
    assert_eq!(status, StatusCode::CONFLICT, "no signing before the card: {early}");

    let swipe = test_card_swipe(Utc::now().date_naive());
    let (status, carded) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"swipe": swipe.as_str()}))).await;
    assert_eq!(status, StatusCode::OK, "{carded}");
    assert_eq!(carded["card"]["number"], "*** **** **** **** 3446", "masked as the receipt prints it");
    assert_eq!(carded["approval"]["rrn"].as_str().map(str::len), Some(12));

    let (status, pad) = ui.json(ui.post(&format!("/api/sales/{sale}/signature"), signed_batch())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pad, json!({"state": "finished", "strokes": 1, "points": 30}));

    let (status, bad) =
        ui.json(ui.post(&format!("/api/sales/{sale}/complete"), json!({"channel": "email", "to": "li.na@"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["field"], "email address", "{bad}");

    let form = json!({"channel": "email", "to": "li.na@example.com"});
    let (status, done) = ui.json(ui.post(&format!("/api/sales/{sale}/complete"), form.clone())).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let receipt = done["receipt"].as_str().expect("receipt id").to_owned();
    assert_eq!(receipt, "POS00077-000004-000001", "the batch of the resume point");
    assert_eq!(done["status"]["state"], "queued", "stored, not uploaded (the platform is unreachable)");
    let (_, again) = ui.json(ui.post(&format!("/api/sales/{sale}/complete"), form)).await;
    assert_eq!(again["receipt"], receipt.as_str(), "completing twice gives the same receipt");

    let entry = ui.app.state.uploader.outbox.entry(&receipt).await.expect("outbox").expect("stored");
    assert_eq!(entry.delivery.as_deref(), Some("email:li.na@example.com"));
    let pan = swipe::TEST_CARD_PAN;
    for bytes in [&entry.record, &entry.png] {
        assert!(!bytes.windows(pan.len()).any(|w| w == pan.as_bytes()), "no card number at rest");
    }
    let (status, png, headers) = ui.send(ui.get(&format!("/api/receipts/{receipt}/image"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    let ca = Device::new(&ui.path).ca_der().expect("CA");
    let verdict = ereceipt_core::verify::verify_image(&png, &ca);
    assert_eq!(verdict.verdict, ereceipt_core::verify::Verdict::Authentic, "{}", verdict.reason);
    // The simulator's approval is signed into the record and named by the verifier.
    let record = ereceipt_core::encoding::decode_record(&entry.record).expect("record");
    assert_eq!(record.transaction.authorisation, ereceipt_core::model::Authorisation::Simulated);
    assert_eq!(verdict.receipt.expect("summary").authorisation, "simulated");
    // The slip's time is in the terminal's configured zone, not the machine's.
    assert_eq!(record.transaction.time.offset_minutes(), 480, "{}", record.transaction.time.rfc3339());
    let (_, st) = ui.json(ui.get(&format!("/api/receipts/{receipt}"))).await;
    assert_eq!(st["state"], "queued");

    // The review's attack (M7): another program on the device (or the LAN) fetches the page
    // with the right Host header, as any non-browser client can, and tries every token-shaped
    // string in it on the receipt's image. Nothing in the page opens it.
    let anonymous = |path: &str| Request::get(path).header(header::HOST, &ui.host).body(Body::empty()).expect("req");
    let (status, page, _) = ui.send(anonymous("/")).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).expect("utf-8");
    let candidates: Vec<&str> =
        page.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| w.len() >= 16).chain([""]).collect();
    for guess in candidates {
        let (status, ..) = ui.send(anonymous(&format!("/api/receipts/{receipt}/image?token={guess}"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "the page gave away a working token: {guess:?}");
    }
}

#[tokio::test]
async fn bad_input_is_answered_with_the_field_and_both_languages() {
    let ui = ui(false).await;
    let (status, e) = ui.json(ui.post("/api/sales", json!({"amount": "0"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["field"], "amount");
    assert!(e["message_zh"].as_str().is_some_and(|m| m.contains("金额")), "{e}");
    let (status, e) = ui.json(ui.post("/api/delivery", json!({"channel": "sms", "to": "138 0013 8000"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["field"], "phone number");
    assert!(e["message_en"].as_str().is_some_and(|m| m.contains("E.164")), "{e}");
    let (status, ok) = ui.json(ui.post("/api/delivery", json!({"channel": "sms", "to": "+86 138 0013 8000"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["choice"], "sms:+8613800138000");

    let (_, started) = ui.json(ui.post("/api/sales", json!({"amount": "100"}))).await;
    let sale = started["sale"].as_str().expect("sale id").to_owned();
    let (status, e) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"test_card": true}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the test card is for demo mode only: {e}");
    let (status, e) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"swipe": ";123=4?\r"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"], "card", "{e}");
    let (status, _) = ui.json(ui.post("/api/sales/nope/card", json!({"test_card": true}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_demo_test_card_is_approved() {
    let ui = ui(true).await;
    let (_, started) = ui.json(ui.post("/api/sales", json!({"amount": "100"}))).await;
    let sale = started["sale"].as_str().expect("sale id").to_owned();
    let (status, carded) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"test_card": true}))).await;
    assert_eq!(status, StatusCode::OK, "{carded}");
    assert_eq!(carded["card"]["brand"], "UnionPay");
}

#[tokio::test]
async fn other_origins_hosts_and_tokenless_requests_are_refused() {
    let ui = ui(true).await;
    let body = || Body::from(json!({"amount": "100"}).to_string());
    let foreign = Request::post("/api/sales")
        .header(header::HOST, &ui.host)
        .header(header::ORIGIN, "http://evil.example")
        .header(TOKEN_HEADER, ui.app.state.guard.token())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body())
        .expect("request");
    assert_eq!(ui.send(foreign).await.0, StatusCode::FORBIDDEN);
    let tokenless = Request::post("/api/sales")
        .header(header::HOST, &ui.host)
        .header(header::ORIGIN, format!("http://{}", ui.host))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body())
        .expect("request");
    let (status, refused, headers) = ui.send(tokenless).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&refused).contains("token"));
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP, "refusals carry the headers too");
    let rebound = Request::get("/").header(header::HOST, "attacker.example").body(Body::empty()).expect("request");
    assert_eq!(ui.send(rebound).await.0, StatusCode::MISDIRECTED_REQUEST);
    assert!(ui.app.state.sales.lock().expect("lock").is_empty(), "nothing was started");
    let (status, js, headers) = ui.send(ui.get("/assets/app.js")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().is_ok_and(|t| t.starts_with("text/javascript")));
    assert!(String::from_utf8_lossy(&js).contains("/api/sales"));
}

#[tokio::test]
async fn a_refused_receipt_raises_the_outbox_alert() {
    let ui = ui(false).await;
    let (status, page, _) = ui.send(ui.get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(page).expect("utf-8").contains(r#"id="refused-alert""#), "the page has the alert");
    let (_, quiet) = ui.json(ui.get("/api/outbox")).await;
    assert_eq!(quiet, json!({"pending": 0, "refused": 0, "refused_receipts": [], "authorisations": []}));

    // A receipt the platform refused for good (as the uploader parks a 409).
    let outbox = &ui.app.state.uploader.outbox;
    let link = outbox.next_link().await.expect("link");
    let record = b"record".to_vec();
    let id = "POS00077-000004-000001";
    let entry = crate::outbox::NewEntry {
        receipt_id: id.into(),
        sequence: link.sequence,
        record_hash: ereceipt_core::digest::sha256(&record),
        record,
        png: b"png".to_vec(),
        batch: link.batch,
        serial: link.serial,
        delivery: None,
    };
    outbox.store(&entry, 0).await.expect("store");
    let why = "platform refused (409, conflict): a different receipt is already stored as POS00077-000004-000001";
    outbox.mark_failed(id, why, true, 0).await.expect("refuse");

    let (status, alert) = ui.json(ui.get("/api/outbox")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alert,
        json!({"pending": 0, "refused": 1, "refused_receipts": [{"id": id, "error": why}], "authorisations": []})
    );
    let (_, st) = ui.json(ui.get(&format!("/api/receipts/{id}"))).await;
    assert_eq!(st, json!({"state": "refused", "error": why}));
}

#[tokio::test]
async fn no_sale_starts_while_a_lost_outbox_cannot_learn_where_it_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = device(dir.path());
    // No resume point and an unreachable platform: the first receipt would reuse an id.
    let ui = ui_on(dir, device, false).await;
    let (status, refused) = ui.json(ui.post("/api/sales", json!({"amount": "100"}))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["error"], "no_resume_point", "{refused}");
    assert!(ui.app.state.sales.lock().expect("sales").is_empty(), "no sale was opened");
}

/// Starts a sale of `amount` (minor units) and has the test card approved; returns the sale id
/// and the card step's answer.
pub(super) async fn approved_sale(ui: &Ui, amount: &str) -> (String, Value) {
    let (status, started) = ui.json(ui.post("/api/sales", json!({ "amount": amount }))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let sale = started["sale"].as_str().expect("sale id").to_owned();
    let swipe = test_card_swipe(Utc::now().date_naive());
    let (status, carded) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"swipe": swipe.as_str()}))).await;
    assert_eq!(status, StatusCode::OK, "{carded}");
    (sale, carded)
}

/// Signs and completes `sale` (email delivery); returns the answer.
async fn sign_and_complete(ui: &Ui, sale: &str) -> (StatusCode, Value) {
    let (status, pad) = ui.json(ui.post(&format!("/api/sales/{sale}/signature"), signed_batch())).await;
    assert_eq!(status, StatusCode::OK, "{pad}");
    ui.json(ui.post(&format!("/api/sales/{sale}/complete"), json!({"channel": "email", "to": "li.na@example.com"})))
        .await
}

/// Security review L4: the sale table is bounded, but a full table never drops an approved sale
/// without its receipt. Unapproved sales make room; when every open sale is approved, a new
/// one is refused with a message naming them.
#[tokio::test]
async fn a_full_sale_table_never_drops_an_approved_sale() {
    let ui = ui(false).await;
    let (first, _) = approved_sale(&ui, "1000").await;
    for _ in 0..2 * sales::MAX_OPEN_SALES {
        let (status, started) = ui.json(ui.post("/api/sales", json!({"amount": "200"}))).await;
        assert_eq!(status, StatusCode::OK, "an unapproved sale makes room: {started}");
    }
    let (status, done) = sign_and_complete(&ui, &first).await;
    assert_eq!(status, StatusCode::OK, "the approved sale outlived the crowd: {done}");
    assert!(done["receipt"].is_string(), "{done}");

    let mut codes = Vec::new();
    for i in 0..sales::MAX_OPEN_SALES {
        let (_, carded) = approved_sale(&ui, &format!("{}", 300 + i)).await;
        codes.push(carded["approval"]["auth_code"].as_str().expect("auth code").to_owned());
    }
    let (status, refused) = ui.json(ui.post("/api/sales", json!({"amount": "500"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "open_approved_sales", "{refused}");
    let message = refused["message_en"].as_str().expect("message");
    for code in &codes {
        assert!(message.contains(code.as_str()), "the refusal names approval {code}: {message}");
    }
    assert!(message.contains("3.00"), "and its amount: {message}");
    assert!(refused["message_zh"].as_str().is_some_and(|m| !m.is_empty()), "{refused}");
}

/// The way out of a full table: the cashier cancels an approved sale, which voids it through
/// the authoriser first; a sale the operator reversed meanwhile gets no receipt and no longer
/// holds a place.
#[tokio::test]
async fn a_cancelled_sale_is_voided_and_a_reversed_one_gets_no_receipt() {
    let ui = ui(false).await;
    let outbox = &ui.app.state.uploader.outbox;
    let mut sales = Vec::new();
    for _ in 0..sales::MAX_OPEN_SALES {
        sales.push(approved_sale(&ui, "600").await.0);
    }
    let (status, _) = ui.json(ui.post("/api/sales", json!({"amount": "500"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "the table is full of approved sales");
    let journalled = outbox.open_authorisations().await.expect("journal");
    assert_eq!(journalled.len(), sales::MAX_OPEN_SALES, "each approval is on record");

    let (status, cancelled) = ui.json(ui.post(&format!("/api/sales/{}/cancel", sales[0]), json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "voided", "{cancelled}");
    let id = cancelled["authorisation"].as_str().expect("authorisation id");
    let row = outbox.authorisation(id).await.expect("journal").expect("row");
    assert_eq!((row.state, row.reversal_attempts), (crate::outbox::AuthorisationState::Voided, 1));
    assert!(row.reversal_ack.is_some(), "the simulator's acknowledgement is kept");
    let (status, started) = ui.json(ui.post("/api/sales", json!({"amount": "500"}))).await;
    assert_eq!(status, StatusCode::OK, "the void made room: {started}");
    let pull = json!({"channel": "pull", "to": "+85291234567"});
    let (status, _) = ui.json(ui.post(&format!("/api/sales/{}/complete", sales[0]), pull)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a cancelled sale is gone");

    // The operator reverses an approved sale while its cardholder signs (the CLI's path).
    let open = outbox.open_authorisations().await.expect("journal");
    let approved = open.iter().find(|a| a.amount.decimal() == "6.00").expect("an open approval");
    let reversed = reverse_authorisation(outbox, &SimulatedAuthoriser, &approved.request_id, false, || 0).await;
    assert!(matches!(reversed, Ok(ReversalOutcome::Reversed(_))), "{reversed:?}");
    let held = ui
        .app
        .state
        .sales
        .lock()
        .expect("sales")
        .iter()
        .find(|(_, s)| s.authorisation.as_deref() == Some(approved.request_id.as_str()))
        .map(|(k, _)| k.clone())
        .expect("its sale is still open");
    let (status, refused) = sign_and_complete(&ui, &held).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "reversed", "{refused}");
    assert_eq!(outbox.status().await.expect("status").pending, 0, "no receipt was stored");
    let (status, _) = ui.json(ui.post("/api/sales", json!({"amount": "500"}))).await;
    assert_eq!(status, StatusCode::OK, "the reversed sale no longer holds a place");
}

/// Security review L4: an approved sale whose tab is closed and whose UI stops (the phone
/// restarts it) is still known afterwards, and the page's status raises an alert for it.
#[tokio::test]
async fn an_approval_without_a_receipt_survives_a_restart_and_raises_the_alert() {
    let ui = ui(false).await;
    let (_, page, _) = ui.send(ui.get("/")).await;
    assert!(String::from_utf8(page).expect("utf-8").contains(r#"id="authorisation-alert""#), "the page has the alert");
    let (_, quiet) = ui.json(ui.get("/api/outbox")).await;
    assert_eq!(quiet["authorisations"], json!([]), "nothing open yet: {quiet}");
    let (sale, carded) = approved_sale(&ui, "4200").await;

    // The tab is closed and the UI stops before the receipt: the sale in memory is gone.
    let Ui { path, tmp, app, .. } = ui;
    drop(app);
    let ui = ui_on(tmp.expect("temp dir"), Device::new(&path), false).await;
    let (status, _) = ui
        .json(ui.post(&format!("/api/sales/{sale}/complete"), json!({"channel": "pull", "to": "+85291234567"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the sale itself cannot be finished after a restart");

    let (status, summary) = ui.json(ui.get("/api/outbox")).await;
    assert_eq!(status, StatusCode::OK);
    let open = summary["authorisations"].as_array().unwrap_or_else(|| panic!("no authorisations in {summary}"));
    assert_eq!(open.len(), 1, "{summary}");
    let a = &open[0];
    assert_eq!(a["state"], "approved", "{a}");
    assert_eq!(a["auth_code"], carded["approval"]["auth_code"], "{a}");
    assert_eq!(a["rrn"], carded["approval"]["rrn"], "{a}");
    assert_eq!((a["amount"].as_str(), a["currency"].as_str()), (Some("42.00"), Some("CNY")), "{a}");
    assert_eq!(a["card"], "UnionPay *** **** **** **** 3446", "{a}");
    assert!(a["id"].as_str().is_some_and(|id| id.len() == 32), "{a}");
    assert_eq!(summary["pending"], 0, "no receipt was made");

    // The journal holds no card number or track (PCI DSS): only the masked summary.
    let pan = swipe::TEST_CARD_PAN;
    for file in ["outbox.db", "outbox.db-wal"] {
        let bytes = std::fs::read(path.join(file)).unwrap_or_default();
        for secret in [pan, &pan[6..15], "1011234567890"] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{file} holds {secret}");
        }
    }
}

/// 签到: without a signed-in operator no sale starts; the operator who signs in is on the
/// receipt and in the journal; after sign-out, no sale again.
#[tokio::test]
async fn an_operator_signs_in_before_selling_and_is_named_on_the_receipt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = enrolled(dir.path()).await;
    let path = device.path("");
    let app = UiApp::build(UiConfig { operator: None, ..config(device, false) }).await.expect("UI starts");
    let host = app.local_addr().to_string();
    let ui = Ui { path, tmp: Some(dir), app, host };
    let (_, cfg) = ui.json(ui.get("/api/config")).await;
    assert_eq!(cfg["operator"], Value::Null);
    let (status, refused) = ui.json(ui.post("/api/sales", json!({"amount": "100"}))).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("sign_in_required")), "{refused}");

    let (status, bad) = ui.json(ui.post("/api/operator", json!({"operator": "0 2"}))).await;
    assert_eq!((status, bad["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("operator")), "{bad}");
    let (status, signed) = ui.json(ui.post("/api/operator", json!({"operator": "02"}))).await;
    assert_eq!((status, signed["operator"].as_str()), (StatusCode::OK, Some("02")), "{signed}");
    let (_, cfg) = ui.json(ui.get("/api/config")).await;
    assert_eq!(cfg["operator"], "02");

    let (sale, _) = approved_sale(&ui, "2600").await;
    let row = ui.app.state.uploader.outbox.open_authorisations().await.expect("journal");
    assert_eq!(row[0].operator.as_deref(), Some("02"), "the journal names the operator");
    ui.json(ui.post(&format!("/api/sales/{sale}/signature"), signed_batch())).await;
    let (status, done) = ui
        .json(ui.post(&format!("/api/sales/{sale}/complete"), json!({"channel": "pull", "to": "+85291234567"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let receipt = done["receipt"].as_str().expect("receipt");
    let entry = ui.app.state.uploader.outbox.entry(receipt).await.expect("outbox").expect("stored");
    let record = ereceipt_core::encoding::decode_record(&entry.record).expect("record");
    assert_eq!(record.transaction.operator.as_str(), "02", "the receipt names the operator");

    let delete = Request::delete("/api/operator")
        .header(header::HOST, &ui.host)
        .header(header::ORIGIN, format!("http://{}", ui.host))
        .header(TOKEN_HEADER, ui.app.state.guard.token())
        .body(Body::empty())
        .expect("req");
    let (status, _) = ui.json(delete).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = ui.json(ui.post("/api/sales", json!({"amount": "100"}))).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("sign_in_required")), "{refused}");
}

/// Starts an operation with `body`, swipes, signs and completes it: (started, carded, record).
pub(super) async fn through_the_page(ui: &Ui, body: Value) -> (Value, Value, ereceipt_core::model::ReceiptRecord) {
    let (status, started) = ui.json(ui.post("/api/sales", body)).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let sale = started["sale"].as_str().expect("sale id").to_owned();
    let swipe = test_card_swipe(Utc::now().date_naive());
    let (status, carded) = ui.json(ui.post(&format!("/api/sales/{sale}/card"), json!({"swipe": swipe.as_str()}))).await;
    assert_eq!(status, StatusCode::OK, "{carded}");
    let (status, done) = sign_and_complete(ui, &sale).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let receipt = done["receipt"].as_str().expect("receipt").to_owned();
    let entry = ui.app.state.uploader.outbox.entry(&receipt).await.expect("outbox").expect("stored");
    (started, carded, ereceipt_core::encoding::decode_record(&entry.record).expect("record"))
}

/// The page's operations: a void by voucher (its original's whole amount, once), a refund of
/// part of a sale by its RRN and date; each a receipt of its own whose record names its kind
/// and original; the terminal's refusals name the field or the reason, and store nothing.
#[tokio::test]
async fn a_sale_is_voided_and_another_refunded_in_part_through_the_page() {
    let ui = ui(false).await;
    let outbox = &ui.app.state.uploader.outbox;
    let (_, first, sale) = through_the_page(&ui, json!({"amount": "10000"})).await;
    let voucher = first["trace"].as_str().expect("trace").to_owned();
    let (started, _, void) = through_the_page(&ui, json!({"operation": "void", "voucher": voucher})).await;
    assert_eq!(started["amount"], "100.00", "a void takes its original's amount");
    assert_eq!(started["operation"]["kind"], "VOID");
    assert_eq!(started["operation"]["original"]["voucher"], voucher.as_str());
    assert_eq!(void.transaction.kind, ereceipt_core::model::TransactionType::Void);
    let original = void.transaction.original.clone().expect("the void names its original");
    assert_eq!(original.receipt_id, Some(sale.id.clone()));
    assert_eq!(original.rrn, Some(sale.transaction.rrn.clone()));
    assert_eq!(original.auth_code, Some(sale.transaction.auth_code.clone()));

    let before = outbox.authorisation_count().await.expect("count");
    let (status, again) = ui.json(ui.post("/api/sales", json!({"operation": "void", "voucher": voucher}))).await;
    assert_eq!((status, again["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("original")), "{again}");
    assert!(again["message_en"].as_str().is_some_and(|m| m.contains("already voided")), "{again}");
    let (status, bad) =
        ui.json(ui.post("/api/sales", json!({"operation": "refund", "rrn": "x", "amount": "100"}))).await;
    assert_eq!((status, bad["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("rrn")), "{bad}");
    assert_eq!(outbox.authorisation_count().await.expect("count"), before, "nothing journalled");

    let (_, _, second) = through_the_page(&ui, json!({"amount": "20000"})).await;
    let rrn = second.transaction.rrn.as_str().to_owned();
    let date = second.transaction.time.local().date_naive().to_string();
    let (started, _, refund) =
        through_the_page(&ui, json!({"operation": "refund", "rrn": rrn, "date": date, "amount": "5000"})).await;
    assert_eq!((started["amount"].as_str(), started["operation"]["kind"].as_str()), (Some("50.00"), Some("REFUND")));
    assert_eq!(refund.transaction.original.as_ref().and_then(|o| o.rrn.clone()), Some(second.transaction.rrn.clone()));
    let (status, over) = ui
        .json(ui.post("/api/sales", json!({"operation": "refund", "rrn": rrn, "date": date, "amount": "15001"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{over}");
    assert!(over["message_en"].as_str().is_some_and(|m| m.contains("above what remains")), "{over}");
}

/// The simulator, except that the first refund advice gets no usable answer (a silent host);
/// sent again, it is acknowledged.
#[derive(Default)]
struct SilentFirstAdvice {
    silenced: std::sync::atomic::AtomicBool,
}

impl Authoriser for SilentFirstAdvice {
    fn info(&self) -> AuthoriserInfo {
        SimulatedAuthoriser.info()
    }
    fn authorise<'a>(&'a self, request: AuthorisationRequest<'a>) -> AuthoriseFuture<'a> {
        let refund = request.operation.kind == ereceipt_core::model::TransactionType::Refund;
        if refund && !self.silenced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async { Err(AuthorisationError::Unavailable("no answer to the 0220".into())) });
        }
        SimulatedAuthoriser.authorise(request)
    }
    fn reverse<'a>(&'a self, reversal: ReversalRequest<'a>) -> ReverseFuture<'a> {
        SimulatedAuthoriser.reverse(reversal)
    }
    fn advise_again<'a>(&'a self, advice: crate::host::AdviceRequest<'a>) -> AuthoriseFuture<'a> {
        SimulatedAuthoriser.advise_again(advice)
    }
}

/// Issue 13: a refund through the page keeps its receipt parts. The card waits in memory for
/// the signature (nothing journalled or sent at the card step); the advice goes out at
/// complete with the parts kept first; unanswered, the page is told 202 `advice_pending`,
/// and the recovery pass that sends it again makes exactly one receipt of it.
#[tokio::test]
async fn a_ui_refund_without_an_answer_gets_one_receipt_from_the_recovery_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = enrolled(dir.path()).await;
    let app = UiApp::build(UiConfig { authoriser: Arc::new(SilentFirstAdvice::default()), ..config(device, false) })
        .await
        .expect("UI starts");
    let host = app.local_addr().to_string();
    let ui = Ui { path: dir.path().to_owned(), tmp: Some(dir), app, host };
    let outbox = &ui.app.state.uploader.outbox;
    let (_, _, sale) = through_the_page(&ui, json!({"amount": "20000"})).await;
    let rrn = sale.transaction.rrn.as_str().to_owned();
    let date = sale.transaction.time.local().date_naive().to_string();

    let (status, started) = ui
        .json(ui.post("/api/sales", json!({"operation": "refund", "rrn": rrn, "date": date, "amount": "5000"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["sale"].as_str().expect("sale id").to_owned();
    let journal = outbox.authorisation_count().await.expect("journal");
    let swipe = test_card_swipe(Utc::now().date_naive());
    let (status, carded) = ui.json(ui.post(&format!("/api/sales/{id}/card"), json!({"swipe": swipe.as_str()}))).await;
    assert_eq!(status, StatusCode::OK, "{carded}");
    assert_eq!(carded["advice"], "after_signature", "{carded}");
    assert!(carded["approval"].is_null(), "no codes before the advice: {carded}");
    assert_eq!(carded["card"]["number"], "*** **** **** **** 3446");
    assert_eq!(outbox.authorisation_count().await.expect("journal"), journal, "nothing journalled or sent yet");
    let (status, again) = ui.json(ui.post(&format!("/api/sales/{id}/card"), json!({"swipe": swipe.as_str()}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "one card per refund: {again}");

    let receipts = outbox.status().await.expect("status").pending;
    let (status, pending) = sign_and_complete(&ui, &id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert_eq!(pending["state"], "advice_pending");
    assert!(pending["message_en"].as_str().is_some_and(|m| m.contains("receipt follows")), "{pending}");
    let request_id = pending["authorisation"].as_str().expect("request").to_owned();
    assert_eq!(outbox.status().await.expect("status").pending, receipts, "no receipt without the acknowledgement");
    let (status, twice) = ui
        .json(ui.post(&format!("/api/sales/{id}/complete"), json!({"channel": "email", "to": "li.na@example.com"})))
        .await;
    assert_eq!((status, twice["authorisation"].as_str()), (StatusCode::ACCEPTED, Some(request_id.as_str())), "{twice}");
    assert_eq!(outbox.authorisation_count().await.expect("journal"), journal + 1, "one advice, not two");

    // The UI's background pass (start-up and reversal loop): the advice sent again, acknowledged.
    let st = &ui.app.state;
    let composer = crate::sale::Composer { signer: &st.signer, fonts: &st.fonts, width: st.width };
    let now = || Utc::now().timestamp_millis();
    let pass = crate::authorisation::recover_with_receipts(outbox, st.authoriser.as_ref(), composer, now(), now).await;
    assert_eq!(pass.expect("pass").late_receipts, 1);
    let row = outbox.authorisation(&request_id).await.expect("journal").expect("row");
    assert_eq!(row.state, crate::outbox::AuthorisationState::Completed);
    let receipt = row.receipt_id.expect("its receipt");
    let entry = outbox.entry(&receipt).await.expect("outbox").expect("stored");
    assert_eq!(entry.delivery.as_deref(), Some("email:li.na@example.com"), "the customer's choice, kept");
    let record = ereceipt_core::encoding::decode_record(&entry.record).expect("record");
    assert_eq!(record.transaction.kind, ereceipt_core::model::TransactionType::Refund);
    assert_eq!(record.transaction.amount.minor(), 5_000);
    assert_eq!(record.transaction.original.and_then(|o| o.rrn), Some(sale.transaction.rrn.clone()));
    let ca = Device::new(&ui.path).ca_der().expect("CA");
    let verdict = ereceipt_core::verify::verify_image(&entry.png, &ca);
    assert_eq!(verdict.verdict, ereceipt_core::verify::Verdict::Authentic, "{}", verdict.reason);
    let pass = crate::authorisation::recover_with_receipts(outbox, st.authoriser.as_ref(), composer, now(), now).await;
    assert_eq!(pass.expect("pass").late_receipts, 0, "made once");
    assert_eq!(outbox.status().await.expect("status").pending, receipts + 1, "exactly one receipt more");
}
