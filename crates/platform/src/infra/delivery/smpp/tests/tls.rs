//! SMPP over TLS (security review L5): against the stand-in SMSC behind rustls, and against an
//! independent SMSC (node-smpp's TLS server, node's OpenSSL); what a wiretap on the link sees;
//! certificates from another CA or for another name refused by name; plain TCP only to loopback
//! or with the opt-out named in the settings.

use std::path::Path;

use super::*;
use ereceipt_test_peers::node_smsc::{self, NodeSmsc};
use ereceipt_test_peers::tls::TestPki;

/// TLS to port `port` of 127.0.0.1, trusting `ca`, expecting a certificate for `name`.
fn over_tls(port: u16, ca: &Path, name: &str) -> SmppSettings {
    SmppSettings {
        tls: SmppTls::Required,
        extra_ca_pem: Some(ca.to_path_buf()),
        server_name: Some(name.into()),
        ..settings_at(port)
    }
}

#[tokio::test]
async fn over_tls_a_wiretap_sees_neither_the_password_nor_the_login_code_and_the_code_arrives() {
    let pki = TestPki::new("SMSC test CA", &["smsc.test"]);
    let smsc = Smsc::start_with(SYSTEM_ID, PASSWORD, Some(pki.server_config(&[]))).await;
    let tap = Tap::start(smsc.addr).await;
    let sender = SmsSender::new(&over_tls(tap.addr.port(), &pki.ca_pem, "smsc.test")).unwrap();
    let code = login_code("493817");
    let accepted = Sender::send(&sender, &code).await.unwrap();

    let submits = smsc.with(|log| log.submits.clone());
    assert_eq!(reassemble(&submits), vec![code.text()], "the SMSC got the whole text");
    let ids: Vec<&str> = submits.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(accepted.peer_id.as_deref(), Some(ids.join(",").as_str()));
    assert_eq!(smsc.with(|log| log.binds.clone()), vec![CommandId::BindTransmitter]);
    assert!(tap.client_bytes().len() > 200, "the session went through the tap");
    assert!(!tap.saw(PASSWORD.as_bytes()), "bind password in clear");
    assert!(!tap.saw(SYSTEM_ID.as_bytes()), "account name in clear");
    assert!(!tap.saw(&ucs2("493817")) && !tap.saw(b"493817"), "login code in clear");

    // The same tap on a plain loopback link reads all three: it would have caught a leak above.
    let plain = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let plain_tap = Tap::start(plain.addr).await;
    let sender = SmsSender::new(&settings_at(plain_tap.addr.port())).unwrap();
    Sender::send(&sender, &code).await.unwrap();
    assert!(plain_tap.saw(PASSWORD.as_bytes()) && plain_tap.saw(&ucs2("493817")));
}

#[tokio::test]
async fn a_certificate_from_another_ca_or_for_another_name_is_refused_before_the_bind() {
    let pki = TestPki::new("SMSC test CA", &["smsc.test"]);
    let stranger = TestPki::new("Another CA", &["smsc.test"]);
    let smsc = Smsc::start_with(SYSTEM_ID, PASSWORD, Some(pki.server_config(&[]))).await;
    let port = smsc.addr.port();
    let refusal = |s: SmppSettings| async move {
        match SmsSender::new(&s).unwrap().send(&outgoing("Shop")).await {
            Err(SendError::Temporary(m)) => m,
            other => panic!("not refused: {other:?}"),
        }
    };

    let err = refusal(over_tls(port, &stranger.ca_pem, "smsc.test")).await;
    assert!(err.contains("SMSC TLS") && err.contains("invalid peer certificate: UnknownIssuer"), "{err}");
    let err = refusal(over_tls(port, &pki.ca_pem, "other.test")).await;
    assert!(err.contains("as other.test") && err.contains("not valid for name"), "{err}");
    assert!(err.contains("smsc.test"), "names what the certificate is valid for: {err}");
    let mut public_roots_only = over_tls(port, &pki.ca_pem, "smsc.test");
    public_roots_only.extra_ca_pem = None;
    let err = refusal(public_roots_only).await;
    assert!(err.contains("UnknownIssuer"), "{err}");

    smsc.wait_for("three refused handshakes", |log| log.failed_handshakes == 3).await;
    assert_eq!(smsc.with(|log| (log.binds.len(), log.submits.len())), (0, 0), "nothing got past TLS");
}

#[tokio::test]
async fn node_smpp_over_tls_takes_a_login_code_and_a_long_receipt_in_parts() {
    let pki = TestPki::new("SMSC test CA", &["localhost", "127.0.0.1"]);
    let smsc = NodeSmsc::start(SYSTEM_ID, PASSWORD, &pki).await;
    let mut s = over_tls(smsc.port, &pki.ca_pem, "localhost");
    s.server_name = None;
    s.host = "localhost".into();
    let sender = SmsSender::new(&s).unwrap();

    let code = login_code("271828");
    let receipt = outgoing(LONG_MERCHANT);
    let first = Sender::send(&sender, &code).await.unwrap();
    let second = sender.send(&receipt).await.unwrap();

    let submits = smsc.events_named("submit_sm");
    assert_eq!(node_smsc::texts(&submits), vec![code.text(), SmsSender::text(&receipt)]);
    let ids: Vec<&str> = submits.iter().map(|e| e["message_id"].as_str().unwrap()).collect();
    let accepted = [first.peer_id.unwrap(), second.peer_id.unwrap()].join(",");
    assert_eq!(accepted, ids.join(","), "node-smpp's message_ids, in order");
    assert!(submits.len() >= 3, "the receipt went in parts: {submits:?}");
    for e in &submits {
        assert_eq!((e["destination_addr"].as_str(), e["dest_addr_ton"].as_u64()), (Some("8613800138000"), Some(1)));
        assert_eq!(e["data_coding"], 8, "UCS-2");
    }
    let binds = smsc.events_named("bind");
    assert_eq!(binds.len(), 1, "one session: {binds:?}");
    assert_eq!((binds[0]["command"].as_str(), binds[0]["ok"].as_bool()), (Some("bind_transmitter"), Some(true)));

    drop(sender);
    smsc.wait_for("an unbind", |events| events.iter().any(|e| e["event"] == "unbind")).await;

    // node-smpp behind a certificate the client was not told to trust: no bind reaches it.
    let stranger = TestPki::new("Another CA", &["localhost"]);
    s.extra_ca_pem = Some(stranger.ca_pem.clone());
    let err = SmsSender::new(&s).unwrap().send(&outgoing("Shop")).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("UnknownIssuer")), "{err}");
    smsc.wait_for("the refused handshake", |events| events.iter().any(|e| e["event"] == "tls_error")).await;
    assert_eq!(smsc.events_named("bind").len(), 1, "no second bind");
}

#[test]
fn plain_tcp_goes_only_to_loopback_unless_the_settings_say_insecure_plaintext() {
    let mut s = settings_at(2775);
    for host in ["127.0.0.1", "localhost", "::1"] {
        s.host = host.into();
        assert!(s.check().is_ok(), "{host}");
    }
    s.host = "smsc.example.net".into();
    let err = s.check().unwrap_err();
    assert!(err.contains("tls = \"none\"") && err.contains("\"smsc.example.net\""), "{err}");
    assert!(err.contains("bind password") && err.contains("insecure_plaintext = true"), "{err}");
    assert!(matches!(SmsSender::new(&s), Err(SmppSetupError::Invalid(m)) if m == err), "the sender refuses it too");
    s.insecure_plaintext = true;
    assert!(s.check().is_ok() && SmsSender::new(&s).is_ok(), "the opt-out, named in the settings");

    // TLS settings that would be silently ignored are refused, as is the opt-out with TLS.
    s.tls = SmppTls::Required;
    assert!(s.check().unwrap_err().contains("insecure_plaintext = true goes only with tls = \"none\""));
    s.insecure_plaintext = false;
    s.server_name = Some("not a name".into());
    assert!(s.check().unwrap_err().contains("server_name \"not a name\""));
    let mut plain = settings_at(2775);
    plain.extra_ca_pem = Some("/etc/ca.pem".into());
    assert!(plain.check().unwrap_err().contains("only with tls = \"required\""));
    plain.extra_ca_pem = Some("/nonexistent/ca.pem".into());
    plain.tls = SmppTls::Required;
    let err = SmsSender::new(&plain).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("smpp TLS") && err.contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn tls_is_the_default_and_the_keys_are_checked_when_read() {
    let base = serde_json::json!({
        "host": "smsc.example.net", "port": 3550, "system_id": "e", "password": "p", "system_type": "",
        "source_addr": "10690000", "enquire_link_secs": 30, "timeout_secs": 10, "registered_delivery": true
    });
    let s: SmppSettings = serde_json::from_value(base.clone()).unwrap();
    assert_eq!((s.tls, s.insecure_plaintext, s.extra_ca_pem, s.server_name), (SmppTls::Required, false, None, None));
    for (key, value, says) in [
        ("tls", "starttls", "unknown variant"),
        ("extra_ca_pem", "", "is empty"),
        ("server_name", " ", "is empty"),
        ("insecure", "true", "unknown field"),
    ] {
        let mut v = base.clone();
        v[key] = value.into();
        let err = serde_json::from_value::<SmppSettings>(v).unwrap_err().to_string();
        assert!(err.contains(says), "{key} = {value:?}: {err}");
    }
}
