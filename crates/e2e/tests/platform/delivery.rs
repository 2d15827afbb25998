//! Delivery from the customer's choice at the terminal to the local outbox folder (no servers
//! configured): the choice travels sealed, is stored with the receipt, and the push delivery is
//! queued with it and performed once.

use std::time::{Duration, Instant};

use ereceipt_core::contract::DeliveryState;
use ereceipt_terminal::sync::Step;

use crate::helpers::{poll_until, Db, TestPlatform};

async fn wait_for(what: &str, done: impl FnMut() -> bool) {
    poll_until(Duration::from_secs(20), what, done).await;
}

#[tokio::test]
async fn each_choice_reaches_its_outbox_once_and_pull_pushes_nothing() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000401").await;
    let email = t.sale_to(Some("email:li.na@example.com")).await;
    let sms = t.sale_to(Some("sms:+8613800138000")).await;
    let mms = t.sale_to(Some("mms:+8613900139000")).await;
    let pull = t.sale_to(Some("pull:+8613700137000")).await;
    for r in [&email, &sms, &mms, &pull] {
        assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    }
    let outbox = platform.dir.path().join("outbox");
    let eml = outbox.join("email").join(format!("{}.email.eml", email.record.id));
    wait_for("the email in the outbox", || eml.exists()).await;
    let mms_png = outbox.join("mms").join(format!("{}.mms.png", mms.record.id));
    wait_for("the MMS image in the outbox", || mms_png.exists()).await;
    wait_for("the SMS log line", || {
        std::fs::read_to_string(outbox.join("sms.log")).is_ok_and(|l| l.contains(sms.record.id.as_str()))
    })
    .await;

    // The file is written before the state is recorded: wait for the queue to empty.
    let deadline = Instant::now() + Duration::from_secs(20);
    while platform.state.store.deliveries_pending().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "deliveries still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&eml).unwrap();
    assert!(text.contains("li.na@example.com"), "{text}");
    assert!(text.contains(&format!("{}.png", email.record.id)), "the image is attached");
    assert_eq!(std::fs::read(&mms_png).unwrap(), mms.png, "the MMS carries the receipt image");
    let sms_log = std::fs::read_to_string(outbox.join("sms.log")).unwrap();
    assert!(sms_log.contains("+8613800138000"));
    // A China Mobile number: the text names the receipt and its pull code instead of a link.
    let code = ereceipt_platform::domain::pull_code::pull_code(
        &platform.state.keys.link_key,
        sms.record.id.as_str(),
        "+8613800138000",
    );
    let expected = format!("单号/no. {} 提取码/code {code}", sms.record.id);
    assert!(sms_log.contains(&expected) && !sms_log.contains("/r/"), "the link-free text: {sms_log}");

    // The choice is stored with the receipt; states and histories are visible per receipt.
    let store = &platform.state.store;
    let stored = store.receipt(email.record.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.delivery.map(|d| d.to_string()).as_deref(), Some("email:li.na@example.com"));
    let deliveries = store.deliveries_of(email.record.id.as_str()).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    let (d, events) = &deliveries[0];
    assert_eq!(d.state.as_str(), "sent");
    assert_eq!(d.attempts, 1);
    assert_eq!(events.iter().map(|e| e.state.as_str()).collect::<Vec<_>>(), ["queued", "sent"]);
    let stored_pull = store.receipt(pull.record.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored_pull.delivery.map(|d| d.to_string()).as_deref(), Some("pull:+8613700137000"));
    assert!(store.deliveries_of(pull.record.id.as_str()).await.unwrap().is_empty(), "pull pushes nothing");

    // The query API shows the choice and each delivery's state and history.
    let view: serde_json::Value = platform.admin_json(&format!("/api/v1/receipts/{}", email.record.id)).await;
    assert_eq!(view["delivery"], "email:li.na@example.com", "{view}");
    assert_eq!(view["deliveries"][0]["state"], "sent", "{view}");
    assert_eq!(view["deliveries"][0]["history"].as_array().unwrap().len(), 2, "{view}");
    let metrics = platform.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ereceipt_deliveries_pending 0"), "{metrics}");

    // Once: nothing is left to do and nothing was written twice.
    let lines = sms_log.lines().filter(|l| l.contains(sms.record.id.as_str())).count();
    assert_eq!(lines, 1);
}

#[tokio::test]
async fn a_terminal_reads_the_delivery_state_of_its_own_receipts_only() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut a = platform.terminal("T0000402").await;
    let b = platform.terminal("T0000403").await;
    let r = a.sale_to(Some("email:li.na@example.com")).await;
    let id = r.record.id.to_string();
    assert_eq!(a.uploader.upload_next().await.unwrap(), Step::Uploaded(id.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let view = a.uploader.client().receipt_deliveries(&id).await.unwrap().expect("its own receipt");
        if view.deliveries.iter().any(|d| d.state == DeliveryState::Sent) {
            break view;
        }
        assert!(Instant::now() < deadline, "not delivered: {view:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(view.channel.as_deref(), Some("email"));
    assert_eq!(view.deliveries.len(), 1);
    assert_eq!(view.deliveries[0].channel, "email");
    assert_eq!(b.uploader.client().receipt_deliveries(&id).await.unwrap(), None, "another terminal's receipt");
    assert_eq!(a.uploader.client().receipt_deliveries("T0000402-000001-999999").await.unwrap(), None);
    let anonymous = platform.anonymous_client();
    let r = anonymous.get(format!("{}/api/v1/terminal/receipts/{id}", platform.url)).send().await.unwrap();
    assert_eq!(r.status(), 401, "a client certificate is required");
}
