//! Test features stay out of production (M8): whether a terminal is a test terminal is the
//! platform's registration, carried in its certificate; a production terminal's clear-track or
//! simulated receipts are refused at ingest, and its settings file cannot turn clear tracks on.

use chrono::Utc;
use ereceipt_core::identity::TerminalMode;
use ereceipt_core::model::Authorisation;
use ereceipt_terminal::settings::{SettingsError, TerminalSettings, TERMINAL_SETTINGS};
use ereceipt_terminal::sync::Step;
use ereceipt_terminal::ui::{UiApp, UiStartError};

use crate::helpers::{demo_ui, Db, TestPlatform, TestTerminal};

/// Uploads the next receipt and returns the platform's refusal of it.
async fn refusal(t: &TestTerminal, id: &str) -> String {
    match t.uploader.upload_next().await.unwrap() {
        Step::Refused { receipt_id, error } => {
            assert_eq!(receipt_id, id);
            error
        }
        other => panic!("receipt {id} of a production terminal must be refused, got {other:?}"),
    }
}

/// The review's test: a production terminal with `test_cards = true` edited into its
/// `terminal.toml` read a wedge swipe of clear tracks, and ingest stored the receipt (201).
/// Now the terminal refuses the setting, and ingest refuses the receipt (a modified terminal
/// that signs one anyway), naming why, for the terminal and the operator.
#[tokio::test]
async fn a_production_terminal_with_test_cards_edited_in_neither_reads_clear_tracks_nor_gets_them_stored() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.production_terminal("T0000801").await;
    let cert = t.device.certificate().unwrap();
    assert_eq!(cert.mode, TerminalMode::Production, "the registration's mode, in the certificate");

    // The edit: the terminal's own reading of its settings refuses it, by name.
    let dir = t.device.outbox_path().parent().unwrap().to_path_buf();
    std::fs::write(dir.join(TERMINAL_SETTINGS), "test_cards = true\n").unwrap();
    let e = TerminalSettings::load(&dir).unwrap().policy(cert.mode, &dir).unwrap_err();
    assert!(matches!(e, SettingsError::TestCardsOnProduction { .. }), "{e}");
    // A UI told to read clear tracks anyway does not start (so no wedge swipe is read).
    let ui = UiApp::build(demo_ui(t.device.clone())).await;
    assert!(matches!(ui, Err(UiStartError::ClearTracksOnProduction { .. })), "the UI must not start");

    // A clear-track receipt signed anyway: refused (403), nothing stored, the operator told.
    let r = t.sale().await;
    let id = r.record.id.to_string();
    assert!(!r.record.transaction.card.encrypted_reader);
    let error = refusal(&t, &id).await;
    assert!(error.contains("403") && error.contains("production terminal") && error.contains("clear"), "{error}");
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 0);
    let refusals = platform.admin_json("/api/v1/admin/refusals").await;
    let listed = refusals["refusals"].as_array().unwrap();
    assert!(listed.iter().any(|x| x["receipt_id"] == id.as_str()), "{refusals}");
    let status = t.uploader.outbox.entry(&id).await.unwrap().unwrap();
    assert!(status.last_error.unwrap().contains("production terminal"), "the terminal's status names it");
}

/// A simulated approval from a production terminal is refused even with an encrypting reader's
/// card data; so is a record that does not say who approved it. The test terminal's receipts,
/// clear tracks and simulator included, are stored.
#[tokio::test]
async fn simulated_sales_are_stored_from_test_terminals_only() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut prod = platform.production_terminal("T0000802").await;
    let sred_simulated = |tx: &mut ereceipt_core::model::Transaction| {
        tx.card.encrypted_reader = true;
        tx.authorisation = Authorisation::Simulated;
    };
    let r = prod.sale_edited(Utc::now(), None, sred_simulated).await;
    let error = refusal(&prod, r.record.id.as_str()).await;
    assert!(error.contains("production terminal") && error.contains("simulated authorisation"), "{error}");
    let r = prod
        .sale_edited(Utc::now(), None, |tx| {
            tx.card.encrypted_reader = true;
            tx.authorisation = Authorisation::Unstated;
        })
        .await;
    let error = refusal(&prod, r.record.id.as_str()).await;
    assert!(error.contains("who authorised the sale"), "{error}");
    // A real (host-approved) sale through an encrypting reader is what production terminals send.
    let r = prod.sale_edited(Utc::now(), None, |tx| tx.card.encrypted_reader = true).await;
    assert_eq!(prod.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));

    let mut test = platform.terminal("T0000803").await;
    assert_eq!(test.device.certificate().unwrap().mode, TerminalMode::Test);
    let r = test.sale_edited(Utc::now(), None, |tx| tx.authorisation = Authorisation::Simulated).await;
    assert_eq!(test.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 2);
    // The stored image says what it is, to whoever verifies it.
    let verdict: serde_json::Value = platform
        .anonymous_client()
        .post(format!("{}/api/v1/verify", platform.url))
        .body(r.png.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["verdict"], "authentic", "{verdict}");
    assert_eq!(verdict["receipt"]["authorisation"], "simulated", "{verdict}");
}
