//! The touch UI end to end in a real headless Chromium at 360×640: keypad, a card swiped as
//! keystrokes, a signature drawn with pointer events and finished by the server's idle rule,
//! the email choice; the email reaches a real SMTP server with an authentic receipt whose link
//! opens it in the portal, and a pull
//! sale made the same way is listed through the pull login. Saves the README's screenshots (see `helpers::screenshot_dir`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ereceipt_core::verify::{verify_image, Verdict};
use ereceipt_platform::infra::delivery::email::{SmtpSettings, TlsMode};
use ereceipt_terminal::ui::{SimulatedAuthoriser, UiApp, UiConfig, TEST_CARD_PAN};
use ereceipt_test_peers::smtp::SmtpServer;
use ereceipt_testkit::{Browser, BrowserOptions, PointerKind};
use mail_parser::{MessageParser, MimeHeaders};

use crate::helpers::{demo_ui, TestPlatform};
use crate::pull::texted_code;

pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn screenshots() -> PathBuf {
    crate::helpers::screenshot_dir()
}

/// A signature-like wave across the pad, in CSS pixels from its top-left corner.
fn wave(x0: f64, width: f64) -> Vec<(f64, f64)> {
    (0..=40).map(|i| (x0 + width * f64::from(i) / 40.0, 100.0 + 45.0 * (f64::from(i) * 0.45).sin())).collect()
}

/// A touch UI served on loopback with a phone-sized Chromium (360×640, English) to drive it.
pub(crate) struct OpenUi {
    pub(crate) browser: Browser,
    pub(crate) url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
}

pub(crate) async fn open_ui(config: UiConfig) -> OpenUi {
    let ui = UiApp::build(config).await.unwrap();
    let url = ui.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(ui.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let options = BrowserOptions { width: 360, height: 640, lang: Some("en-US".into()), ..BrowserOptions::default() };
    OpenUi { browser: Browser::start(options).await.unwrap(), url, stop, served }
}

impl OpenUi {
    /// Closes the browser, then stops the UI and waits until it has.
    pub(crate) async fn finish(self) {
        self.browser.close().await.unwrap();
        let _ = self.stop.send(());
        self.served.await.unwrap();
    }
}

/// Keys in an amount (on the keypad with `shots`, else on the keyboard), swipes the test card as
/// a wedge reader types it, signs, and waits for the server to finish the signature; `shots`
/// also saves the screenshots.
pub(crate) async fn sell_and_sign(b: &Browser, ui_url: &str, digits: &str, shots: bool) {
    let shot = |name: &str| screenshots().join(format!("terminal-{name}.png"));
    b.goto(ui_url).await.unwrap();
    b.wait_for("body[data-ready=true]", WAIT).await.unwrap();
    if shots {
        for d in digits.chars() {
            b.click(&format!("[data-key='{d}']")).await.unwrap();
        }
        b.wait_for_text("#amount-display", "128.50", WAIT).await.unwrap();
        b.screenshot(shot("amount")).await.unwrap();
        b.click("#amount-next").await.unwrap();
    } else {
        // By keyboard only: a typo, Backspace, the digits, Enter to charge.
        b.send_keys_to_page(&format!("9\u{e003}{digits}")).await.unwrap();
        b.wait_for_text("#amount-display", "128.50", WAIT).await.unwrap();
        b.send_keys_to_page("\n").await.unwrap();
    }
    swipe_and_sign(b, shots).await;
}

/// From the swipe screen: the test card swiped as a keyboard-wedge reader types it, a signature
/// drawn, the server's idle rule finishing it; ends on the delivery choice.
pub(crate) async fn swipe_and_sign(b: &Browser, shots: bool) {
    let shot = |name: &str| screenshots().join(format!("terminal-{name}.png"));
    b.wait_for_text("#swipe-status", "Waiting for the card reader", WAIT).await.unwrap();
    if shots {
        b.screenshot(shot("swipe")).await.unwrap();
    }
    // What a keyboard-wedge reader types for one swipe: track 1, track 2, Enter.
    b.send_keys_to_page(&format!("%B{TEST_CARD_PAN}^TEST/CARD^3912101123456789?;{TEST_CARD_PAN}=39121011234567890?\n"))
        .await
        .unwrap();
    b.wait_for_text("#sign-card", "3446", WAIT).await.unwrap();
    let simulator = b.text("#authoriser-note").await.unwrap();
    assert!(simulator.contains("SIMULATOR"), "the simulated acquirer is labelled: {simulator:?}");
    b.draw("#pad", &wave(20.0, 150.0), PointerKind::Touch, 0.6).await.unwrap();
    b.draw("#pad", &wave(180.0, 120.0), PointerKind::Pen, 0.4).await.unwrap();
    // The countdown the server reports is on screen, then the server finishes the signature.
    let counting = b.wait_for_text("#sign-status", "Finishing in", WAIT).await.unwrap();
    let secs: f64 = counting.trim_start_matches("Finishing in ").split(' ').next().unwrap().parse().unwrap();
    assert!(secs > 0.0 && secs <= 2.5, "a countdown within the 2.5 s idle time: {counting}");
    if shots {
        b.screenshot(shot("sign")).await.unwrap();
    }
    b.wait_for_text("#deliver-title", "How would you like your receipt", WAIT).await.unwrap();
}

/// The 结算 screen's lines as shown, each `KIND text of the row`.
pub(crate) async fn settle_lines(b: &Browser) -> Vec<String> {
    let rows = b
        .execute(
            "return [...document.querySelectorAll('#settle-lines tr[data-kind]')].map(r => r.dataset.kind + ' ' + r.textContent);",
            vec![],
        )
        .await
        .unwrap();
    rows.as_array().unwrap().iter().map(|r| r.as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_cashier_sells_in_the_browser_and_the_customer_gets_an_authentic_receipt() {
    let smtp = SmtpServer::start(&[]).await;
    let port = smtp.port;
    let platform = TestPlatform::start_with(|s| {
        s.delivery.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "ereceipt <receipts@example.com>".into(),
            timeout_secs: 10,
            extra_ca_pem: None,
        });
    })
    .await;
    let terminal = platform.terminal("T0000901").await;
    let ui = open_ui(demo_ui(terminal.device.clone())).await;
    let (b, ui_url) = (&ui.browser, ui.url.clone());
    sell_and_sign(b, &ui_url, "12850", true).await;
    let shot = |name: &str| screenshots().join(format!("terminal-{name}.png"));

    // Delivery choice: a wrong address is named inline, in the CLI's words.
    b.click("input[name=channel][value=email]").await.unwrap();
    b.wait_for_text("#recipient-label", "Email address", WAIT).await.unwrap();
    b.fill("#recipient", "li.na@").await.unwrap();
    let error = b.wait_for_text("#recipient-error", "email address", WAIT).await.unwrap();
    assert!(error.contains("name@example.com"), "{error}");
    b.screenshot(shot("deliver")).await.unwrap();
    b.fill("#recipient", "li.na@example.com").await.unwrap();
    b.click("#send").await.unwrap();

    // The result screen: the receipt, uploaded, then delivered.
    let receipt_id = b.wait_for_text("#result-id", "T0000901-", WAIT).await.unwrap();
    b.wait_for_text("#result-state", "Delivered by email", WAIT).await.unwrap();
    let loaded = "const i = document.getElementById('receipt-image'); return i.complete && i.naturalWidth;";
    let deadline = Instant::now() + WAIT;
    while b.execute(loaded, vec![]).await.unwrap().as_u64().unwrap_or(0) != 576 {
        assert!(Instant::now() < deadline, "the receipt image did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.screenshot(shot("result")).await.unwrap();
    b.click("#lang-toggle").await.unwrap();
    b.wait_for_text("#result-state", "已通过电子邮件送达", WAIT).await.unwrap();
    b.screenshot(shot("result-zh")).await.unwrap();
    b.click("#lang-toggle").await.unwrap();

    // The email arrived at the SMTP server, addressed to the customer, with an authentic receipt.
    let deadline = Instant::now() + WAIT;
    while smtp.received().is_empty() {
        assert!(Instant::now() < deadline, "no email arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = smtp.received();
    assert_eq!(received.len(), 1, "exactly one email");
    let (raw, meta) = &received[0];
    assert_eq!(meta["rcpt_tos"], serde_json::json!(["li.na@example.com"]));
    let msg = MessageParser::default().parse(raw.as_slice()).unwrap();
    let png = msg.attachments().find(|a| a.is_content_type("image", "png")).expect("the receipt PNG").contents();
    let verdict = verify_image(png, &platform.ca_der());
    assert_eq!(verdict.verdict, Verdict::Authentic, "{}", verdict.reason);
    let claims = verdict.claims.as_ref().unwrap();
    assert_eq!(claims.id.to_string(), receipt_id.trim());
    assert_eq!(claims.amount.minor(), 12850);
    // The email's link opens the same receipt in the portal, verified, without a login.
    let body = msg.body_text(0).expect("a text part").into_owned();
    let at = body.find(&format!("{}/r/", platform.url)).expect("a link to the receipt");
    let link: String = body[at..].chars().take_while(|c| !c.is_whitespace()).collect();
    b.goto(&link).await.unwrap();
    b.wait_for("#verdict", WAIT).await.unwrap();
    assert_eq!(b.attr("#verdict", "data-verdict").await.unwrap().as_deref(), Some("authentic"));
    assert!(b.text("main").await.unwrap().contains(receipt_id.trim()), "the same receipt");

    // A second sale in the browser, this time "download later": a login code by SMS, then the
    // customer finds it (and only it: the email receipt went to an address, not this number).
    sell_and_sign(b, &ui_url, "12850", false).await;
    b.click("input[name=channel][value=pull]").await.unwrap();
    b.fill("#recipient", "+86 137 0013 7000").await.unwrap();
    b.click("#send").await.unwrap();
    b.wait_for_text("#result-state", "ready to download", WAIT).await.unwrap();
    let pull_id = b.text("#result-id").await.unwrap();

    let http = platform.anonymous_client();
    let url = |p: &str| format!("{}{p}", platform.url);
    let r =
        http.post(url("/api/v1/pull/code")).json(&serde_json::json!({"phone": "+8613700137000"})).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let code = texted_code(&platform, "+8613700137000").await;
    let r = http
        .post(url("/api/v1/pull/login"))
        .json(&serde_json::json!({"phone": "+8613700137000", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let list: serde_json::Value =
        http.get(url("/api/v1/pull/receipts")).header("cookie", &session).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, [pull_id.trim()], "{list}");
    let image = http
        .get(url(&format!("/api/v1/pull/receipts/{}/image", pull_id.trim())))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(verify_image(&image, &platform.ca_der()).verdict, Verdict::Authentic);

    ui.finish().await;
}

/// A receipt the platform refused keeps a visible alert on the page (security review H1): the
/// cashier has moved on by the time the background upload is refused.
#[tokio::test]
async fn a_refused_receipt_puts_an_alert_on_the_page() {
    let platform = TestPlatform::start(crate::helpers::Db::Sqlite).await;
    let mut terminal = platform.terminal("T0000902").await;
    let refused = terminal.sale().await.record.id.to_string();
    let why = "platform refused (409, conflict): a different receipt is already stored as ".to_owned() + &refused;
    // What the uploader does with a 409: park the receipt for good.
    terminal.uploader.outbox.mark_failed(&refused, &why, true, 0).await.unwrap();
    let ui = open_ui(demo_ui(terminal.device.clone())).await;
    let (b, ui_url) = (&ui.browser, ui.url.clone());
    b.goto(&ui_url).await.unwrap();
    b.wait_for("body[data-ready=true]", WAIT).await.unwrap();
    b.wait_for("#refused-alert:not([hidden])", WAIT).await.unwrap();
    let title = b.wait_for_text("#refused-title", "1 receipt(s) refused by the platform", WAIT).await.unwrap();
    let alert = b.text("#refused-alert").await.unwrap();
    assert!(alert.contains(&refused) && alert.contains("conflict"), "{title}: {alert}");
    assert!(alert.contains("tell the operator"), "{alert}");
    let shown = "const r = document.getElementById('refused-alert').getBoundingClientRect(); return r.height > 0;";
    assert_eq!(b.execute(shown, vec![]).await.unwrap().as_bool(), Some(true), "the alert takes space on screen");
    b.screenshot(screenshots().join("terminal-refused.png")).await.unwrap();
    b.click("#lang-toggle").await.unwrap();
    b.wait_for_text("#refused-title", "被平台拒收", WAIT).await.unwrap();
    ui.finish().await;
}

/// Security review L4, as the cashier sees it: a card payment approved by the acquirer whose
/// receipt was never made (the phone restarted mid-sale, as the journal found it) puts an alert
/// on the page naming the amount, the masked card, the approval and what to do; once the
/// operator reverses it (what `ereceipt terminal authorisations reverse` runs), the alert goes.
#[tokio::test]
async fn an_approval_without_a_receipt_puts_an_alert_on_the_page_until_reversed() {
    use ereceipt_terminal::outbox::{new_request_id, NewAuthorisation};
    use ereceipt_terminal::ui::{reverse_authorisation, Authoriser, ReversalOutcome};

    let platform = TestPlatform::start(crate::helpers::Db::Sqlite).await;
    let terminal = platform.terminal("T0000903").await;
    let outbox = terminal.uploader.outbox.clone();
    let request_id = new_request_id();
    let asked = NewAuthorisation {
        request_id: request_id.clone(),
        amount: ereceipt_core::model::Money::new(4200, "CNY".parse().unwrap()).unwrap(),
        masked_pan: "622202*********3446".parse().unwrap(),
        time: "2026-12-02T10:15:00+08:00".parse().unwrap(),
        terminal_id: terminal.terminal_id().parse().unwrap(),
        merchant_id: "104110070110001".parse().unwrap(),
        authoriser: SimulatedAuthoriser.info().name,
        simulated: true,
        operator: "01".parse().unwrap(),
        operation: ereceipt_terminal::outbox::Operation::sale(),
    };
    outbox.authorisation_requested(&asked, 1_000).await.unwrap();
    outbox
        .authorisation_approved(&request_id, &"A1B2C3".parse().unwrap(), &"123456789012".parse().unwrap(), 2_000)
        .await
        .unwrap();
    let ui = open_ui(demo_ui(terminal.device.clone())).await;
    let (b, ui_url) = (&ui.browser, ui.url.clone());
    b.goto(&ui_url).await.unwrap();
    b.wait_for("body[data-ready=true]", WAIT).await.unwrap();
    b.wait_for("#authorisation-alert:not([hidden])", WAIT).await.unwrap();
    b.wait_for_text("#authorisation-title", "1 card payment(s) authorised without a receipt", WAIT).await.unwrap();
    let alert = b.text("#authorisation-alert").await.unwrap();
    for shown in ["CNY 42.00", "3446", "A1B2C3", "123456789012", "approved, no receipt", &request_id] {
        assert!(alert.contains(shown), "the alert shows {shown:?}: {alert}");
    }
    assert!(alert.contains("ereceipt terminal authorisations"), "it says what to do: {alert}");
    assert!(!alert.contains("622202"), "a cashier's screen shows the last four digits only: {alert}");
    let shown = "const r = document.getElementById('authorisation-alert').getBoundingClientRect(); \
                 return r.height > 0 && r.top < window.innerHeight;";
    assert_eq!(b.execute(shown, vec![]).await.unwrap().as_bool(), Some(true), "the alert is on screen");
    // It stays on the amount screen, where the cashier starts the next sale.
    b.wait_for("#screen-amount:not([hidden])", WAIT).await.unwrap();
    b.screenshot(screenshots().join("terminal-authorisation.png")).await.unwrap();
    b.click("#lang-toggle").await.unwrap();
    b.wait_for_text("#authorisation-title", "已授权但没有签购单", WAIT).await.unwrap();

    // The operator reverses it; the page, reloaded, no longer shows the alert.
    let outcome = reverse_authorisation(&outbox, &SimulatedAuthoriser, &request_id, false, || 3_000).await.unwrap();
    assert!(matches!(outcome, ReversalOutcome::Reversed(_)), "{outcome:?}");
    b.goto(&ui_url).await.unwrap();
    b.wait_for("body[data-ready=true]", WAIT).await.unwrap();
    let hidden = "return document.getElementById('authorisation-alert').hidden;";
    let deadline = Instant::now() + WAIT;
    while b.execute(hidden, vec![]).await.unwrap().as_bool() != Some(true) {
        assert!(Instant::now() < deadline, "the alert stays after the reversal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui.finish().await;
}

/// 签到 in the browser: a UI with nobody signed in opens on the sign-in screen; a bad number is
/// refused with the server's reason; signing in reaches the keypad with the operator in the
/// header (in both languages); signing out goes back to the sign-in screen.
#[tokio::test]
async fn a_cashier_signs_in_with_an_operator_number_before_the_keypad() {
    let platform = TestPlatform::start(crate::helpers::Db::Sqlite).await;
    let terminal = platform.terminal("T0000904").await;
    let ui = open_ui(UiConfig { operator: None, ..demo_ui(terminal.device.clone()) }).await;
    let (b, ui_url) = (&ui.browser, ui.url.clone());
    b.goto(&ui_url).await.unwrap();
    b.wait_for("body[data-ready=true]", WAIT).await.unwrap();
    b.wait_for_text("#operator-title", "Operator sign-in", WAIT).await.unwrap();
    b.screenshot(screenshots().join("terminal-operator.png")).await.unwrap();
    let visible = |id: &str| format!("return !document.getElementById('{id}').hidden;");
    assert_eq!(b.execute(&visible("screen-amount"), vec![]).await.unwrap().as_bool(), Some(false), "no keypad yet");

    b.fill("#operator", "0 2").await.unwrap();
    b.click("#operator-sign-in").await.unwrap();
    b.wait_for_text("#operator-error", "operator number", WAIT).await.unwrap();
    b.fill("#operator", "02").await.unwrap();
    b.click("#operator-sign-in").await.unwrap();
    b.wait_for_text("#operator-line", "Operator 02", WAIT).await.unwrap();
    assert_eq!(b.execute(&visible("screen-amount"), vec![]).await.unwrap().as_bool(), Some(true), "the keypad");
    b.click("#lang-toggle").await.unwrap();
    b.wait_for_text("#operator-line", "操作员 02", WAIT).await.unwrap();
    b.click("#sign-out").await.unwrap();
    b.wait_for_text("#operator-title", "操作员签到", WAIT).await.unwrap();
    assert_eq!(b.execute(&visible("operator-line"), vec![]).await.unwrap().as_bool(), Some(false));
    ui.finish().await;
}

/// 消费撤销 and 退货 in the browser: the cashier picks the operation above the keypad and keys
/// the original (a voucher; an RRN and date); the swipe and signature screens name it, the
/// void's amount shows negative, and each ends in a receipt of its kind naming its original.
/// A second void of the same sale is refused on the keypad screen with the reason.
#[tokio::test]
async fn a_cashier_voids_a_sale_and_refunds_part_of_another_in_the_browser() {
    let platform = TestPlatform::start(crate::helpers::Db::Sqlite).await;
    let terminal = platform.terminal("T0000905").await;
    let outbox = &terminal.uploader.outbox;
    let ui = open_ui(demo_ui(terminal.device.clone())).await;
    let (b, ui_url) = (&ui.browser, ui.url.clone());
    let finish = |to: &'static str| async move {
        b.click("input[name=channel][value=pull]").await.unwrap();
        b.fill("#recipient", to).await.unwrap();
        b.click("#send").await.unwrap();
        b.wait_for_text("#result-state", "ready to download", WAIT).await.unwrap();
        let id = b.text("#result-id").await.unwrap().trim().to_owned();
        let entry = outbox.entry(&id).await.unwrap().expect("stored");
        ereceipt_core::encoding::decode_record(&entry.record).unwrap()
    };

    sell_and_sign(b, &ui_url, "12850", false).await;
    let sale = finish("+86 137 0013 7001").await;
    let voucher = format!("{:06}", sale.transaction.voucher.value());

    b.click("#new-sale").await.unwrap();
    b.click("input[name=operation][value=void]").await.unwrap();
    b.fill("#orig-voucher", &voucher).await.unwrap();
    b.wait_for_text("#amount-next", "Void", WAIT).await.unwrap();
    b.screenshot(screenshots().join("terminal-void.png")).await.unwrap();
    b.click("#amount-next").await.unwrap();
    let line = b.wait_for_text("#swipe-amount", "VOID", WAIT).await.unwrap();
    assert!(line.contains(&voucher) && line.contains("128.50"), "the swipe screen names the original: {line}");
    swipe_and_sign(b, false).await;
    let void = finish("+86 137 0013 7001").await;
    assert_eq!(void.transaction.kind, ereceipt_core::model::TransactionType::Void);
    assert_eq!(void.transaction.amount, sale.transaction.amount, "a void takes its original's amount");
    let original = void.transaction.original.clone().expect("names its original");
    assert_eq!((original.receipt_id, original.rrn), (Some(sale.id.clone()), Some(sale.transaction.rrn.clone())));

    // The same sale again: refused where the cashier keyed it, with the reason.
    b.click("#new-sale").await.unwrap();
    b.click("input[name=operation][value=void]").await.unwrap();
    b.fill("#orig-voucher", &voucher).await.unwrap();
    b.click("#amount-next").await.unwrap();
    b.wait_for_text("#amount-error", "already voided", WAIT).await.unwrap();

    // 退货 of part of another sale, by its reference number and date.
    b.goto(&ui_url).await.unwrap();
    sell_and_sign(b, &ui_url, "12850", false).await;
    let second = finish("+86 137 0013 7002").await;
    b.click("#new-sale").await.unwrap();
    b.click("input[name=operation][value=refund]").await.unwrap();
    b.fill("#orig-rrn", second.transaction.rrn.as_str()).await.unwrap();
    let date = second.transaction.time.local().date_naive();
    b.execute(&format!("document.getElementById('orig-date').value = '{date}';"), vec![]).await.unwrap();
    for d in "3000".chars() {
        b.click(&format!("[data-key='{d}']")).await.unwrap();
    }
    b.click("#amount-next").await.unwrap();
    b.wait_for_text("#swipe-amount", "REFUND", WAIT).await.unwrap();
    swipe_and_sign(b, false).await;
    // (The signature screen is behind the delivery choice now: read what it showed.)
    let shown = b.execute("return document.getElementById('sign-amount').textContent;", vec![]).await.unwrap();
    let sign_amount = shown.as_str().unwrap_or_default().to_owned();
    assert!(sign_amount.starts_with('-') && sign_amount.contains("30.00"), "a refund shows negative: {sign_amount}");
    let refund = finish("+86 137 0013 7002").await;
    assert_eq!(refund.transaction.kind, ereceipt_core::model::TransactionType::Refund);
    assert_eq!(refund.transaction.amount.minor(), 3_000);
    assert_eq!(refund.transaction.original.and_then(|o| o.rrn), Some(second.transaction.rrn.clone()));

    // 重打印 / 重发: the open batch newest first; the first sale's duplicate shown; resent to a
    // new email address by the platform.
    b.click("#new-sale").await.unwrap();
    b.click("#reprint-open").await.unwrap();
    b.wait_for_text("#reprint-batch", "4 receipt(s)", WAIT).await.unwrap();
    let listed = b
        .execute(
            "return [...document.querySelectorAll('#reprint-list button')].map(b => b.dataset.receipt + ' ' + b.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let lines: Vec<String> =
        listed.as_array().unwrap().iter().map(|l| l.as_str().unwrap_or_default().to_owned()).collect();
    let ids: Vec<String> = lines.iter().map(|l| l.split(' ').next().unwrap_or_default().to_owned()).collect();
    let expected: Vec<String> = [&refund.id, &second.id, &void.id, &sale.id].iter().map(|i| i.to_string()).collect();
    assert_eq!(ids, expected, "newest first: {lines:?}");
    assert!(lines[0].contains("REFUND") && lines[0].contains("-30.00"), "{}", lines[0]);
    assert!(lines[3].contains("SALE") && lines[3].contains(&voucher), "{}", lines[3]);
    b.click(&format!("#reprint-list button[data-receipt='{}']", sale.id)).await.unwrap();
    b.wait_for_text("#reprint-id", sale.id.as_str(), WAIT).await.unwrap();
    b.wait_for(&format!("#reprint-image[data-loaded='{}']", sale.id), WAIT).await.unwrap();
    let width = b.execute("return document.getElementById('reprint-image').naturalWidth;", vec![]).await.unwrap();
    assert!(width.as_u64().is_some_and(|w| w >= 384), "the duplicate slip is shown: {width}");
    let src = b.attr("#reprint-image", "src").await.unwrap().unwrap_or_default();
    assert!(src.contains(&format!("/api/reprint/{}/image", sale.id)), "{src}");
    b.execute("document.getElementById('reprint-id').scrollIntoView();", vec![]).await.unwrap();
    b.screenshot(screenshots().join("terminal-reprint.png")).await.unwrap();
    b.click("input[name=resend-channel][value=email]").await.unwrap();
    b.fill("#resend-to", "li.na.again@example.com").await.unwrap();
    b.click("#resend").await.unwrap();
    let queued = b.wait_for_text("#resend-status", "Queued for email", WAIT).await.unwrap();
    assert!(queued.contains("li.na.again@example.com"), "{queued}");

    // 结算: the open batch's lines as the slip will print them; settled with the host; the
    // signed slip shown; uploaded by the background uploader and reconciled by the platform.
    b.click("#reprint-back").await.unwrap();
    b.click("#settle-open").await.unwrap();
    let batch = format!("{:06}", sale.transaction.batch.value());
    b.wait_for_text("#settle-batch", &format!("batch {batch}"), WAIT).await.unwrap();
    let rows = settle_lines(b).await;
    assert!(rows.iter().any(|r| r.starts_with("SALE") && r.contains("257.00")), "two sales: {rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("REFUND") && r.contains("30.00")), "{rows:?}");
    b.click("#settle-confirm").await.unwrap();
    let state = b.wait_for_text("#settle-state", "Settled", WAIT).await.unwrap();
    assert!(state.contains("balanced") && !state.contains("NOT"), "the simulator balances: {state}");
    b.wait_for(&format!("#settle-image[data-loaded='{batch}']"), WAIT).await.unwrap();
    b.wait_for_text("#settle-upload", "Uploaded: platform reconciliation balanced", WAIT).await.unwrap();
    b.screenshot(screenshots().join("terminal-settle.png")).await.unwrap();
    let next = format!("{:06}", sale.transaction.batch.value() + 1);
    b.wait_for_text("#settle-batch", &format!("batch {next}"), WAIT).await.unwrap();
    ui.finish().await;
}
