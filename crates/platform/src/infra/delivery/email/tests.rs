//! The sender against a real SMTP server (aiosmtpd, `ereceipt_test_peers::smtp`) over plain SMTP,
//! STARTTLS with AUTH and implicit TLS with a CA made for the test.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use super::message::tests::{assert_receipt_email, sample};
use super::*;
use ereceipt_test_peers::smtp::SmtpServer;

/// A CA and a server certificate for "localhost" and 127.0.0.1, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki() -> Pki {
    let now = chrono::Utc::now();
    let ca = ereceipt_core::identity::create_ca("ereceipt SMTP test CA", now).unwrap();
    let names = ["localhost".to_string(), "127.0.0.1".to_string()];
    let server = ereceipt_core::enrolment::issue_server(&ca, &names, now, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    // An ECDSA P-256 key (as the platform's own server key), which OpenSSL reads as rcgen writes it.
    let key = server.key_pem();
    let (ca, cert, key) =
        (write("ca.pem", &ca.cert_pem()), write("server.pem", &server.cert_pem()), write("server.key", &key));
    Pki { _dir: dir, ca, cert, key }
}

/// Starts the server in TLS `mode` with the test PKI, requiring AUTH when `auth` is given.
async fn with_tls(mode: &str, pki: &Pki, auth: Option<(&str, &str)>) -> SmtpServer {
    let mut args = vec![OsStr::new("--tls"), OsStr::new(mode)];
    args.extend([OsStr::new("--cert"), pki.cert.as_os_str(), OsStr::new("--key"), pki.key.as_os_str()]);
    if let Some((user, password)) = auth {
        args.extend([OsStr::new("--user"), OsStr::new(user), OsStr::new("--password"), OsStr::new(password)]);
    }
    SmtpServer::start(&args).await
}

pub(crate) fn settings(port: u16, tls: TlsMode) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls,
        username: None,
        password: None,
        from: "ereceipt <receipts@example.com>".into(),
        timeout_secs: 10,
        extra_ca_pem: None,
    }
}

#[tokio::test]
async fn delivered_message_arrives_intact() {
    let server = SmtpServer::start(&[]).await;
    let sender = EmailSender::new(&settings(server.port, TlsMode::None)).unwrap();
    let out = sample("customer@example.org");
    let accepted = sender.send(&out).await.unwrap();
    assert_eq!(accepted, Accepted { peer_id: Some("Q0001".into()), answer: "250 2.0.0 Ok: queued as Q0001".into() });

    let received = server.received();
    assert_eq!(received.len(), 1);
    let (raw, meta) = &received[0];
    assert_receipt_email(raw, &out);
    assert_eq!(meta["mail_from"], "receipts@example.com");
    assert_eq!(meta["rcpt_tos"], serde_json::json!(["customer@example.org"]));
    assert_eq!(meta["tls"], serde_json::Value::Null);
}

#[tokio::test]
async fn refusals_451_is_temporary_and_550_permanent() {
    let server = SmtpServer::start(&[]).await;
    let sender = EmailSender::new(&settings(server.port, TlsMode::None)).unwrap();
    match sender.send(&sample("tempfail@example.org")).await {
        Err(SendError::Temporary(m)) => assert!(m.contains("451") && m.contains("try again later"), "{m}"),
        other => panic!("451 gave {other:?}"),
    }
    match sender.send(&sample("reject@example.org")).await {
        Err(SendError::Permanent(m)) => assert!(m.contains("550") && m.contains("No such user"), "{m}"),
        other => panic!("550 gave {other:?}"),
    }
    assert!(server.received().is_empty());
    // An address that cannot be parsed never reaches the server.
    assert!(matches!(sender.send(&sample("nobody")).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn server_down_is_temporary() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sender = EmailSender::new(&settings(port, TlsMode::None)).unwrap();
    match sender.send(&sample("customer@example.org")).await {
        Err(SendError::Temporary(m)) => assert!(m.to_lowercase().contains("refused"), "{m}"),
        other => panic!("connection refused gave {other:?}"),
    }
}

#[tokio::test]
async fn silent_server_is_a_temporary_timeout() {
    // The kernel accepts the connection; nobody ever sends the greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings(listener.local_addr().unwrap().port(), TlsMode::None);
    s.timeout_secs = 1;
    let sender = EmailSender::new(&s).unwrap();
    let started = std::time::Instant::now();
    let result = sender.send(&sample("customer@example.org")).await;
    assert!(matches!(result, Err(SendError::Temporary(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
}

#[tokio::test]
async fn starttls_with_auth_and_a_private_ca() {
    let pki = pki();
    let server = with_tls("starttls", &pki, Some(("till-7", "s3cret"))).await;
    let mut s = settings(server.port, TlsMode::Starttls);
    s.extra_ca_pem = Some(pki.ca.clone());
    s.username = Some("till-7".into());
    s.password = Some(Secret("s3cret".into()));
    let out = sample("customer@example.org");
    let accepted = EmailSender::new(&s).unwrap().send(&out).await.unwrap();
    assert_eq!(accepted.peer_id.as_deref(), Some("Q0001"));
    let received = server.received();
    let (raw, meta) = &received[0];
    assert_receipt_email(raw, &out);
    assert_eq!(meta["auth"], "till-7");
    assert!(meta["tls"].as_str().is_some_and(|v| v.starts_with("TLSv1.")), "{meta}");

    // Bad credentials (535) are our account's problem, not the message's: retry later.
    s.password = Some(Secret("wrong".into()));
    match EmailSender::new(&s).unwrap().send(&out).await {
        Err(SendError::Temporary(m)) => assert!(m.contains("535"), "{m}"),
        other => panic!("bad password gave {other:?}"),
    }
    // The relay requires AUTH: without credentials it answers 530.
    s.username = None;
    s.password = None;
    assert!(matches!(EmailSender::new(&s).unwrap().send(&out).await, Err(SendError::Temporary(_))));
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn implicit_tls() {
    let pki = pki();
    let server = with_tls("implicit", &pki, None).await;
    let mut s = settings(server.port, TlsMode::Implicit);
    s.extra_ca_pem = Some(pki.ca.clone());
    let out = sample("customer@example.org");
    let accepted = EmailSender::new(&s).unwrap().send(&out).await.unwrap();
    assert_eq!(accepted.answer, "250 2.0.0 Ok: queued as Q0001");
    let received = server.received();
    assert_receipt_email(&received[0].0, &out);
    assert!(received[0].1["tls"].as_str().is_some_and(|v| v.starts_with("TLSv1.")), "{}", received[0].1);
}

#[tokio::test]
async fn unverified_tls_or_no_starttls_is_temporary_and_sends_nothing() {
    let pki = pki();
    let tls_server = with_tls("starttls", &pki, None).await;
    // Not signed by any trusted root (no extra CA given).
    let result = EmailSender::new(&settings(tls_server.port, TlsMode::Starttls))
        .unwrap()
        .send(&sample("customer@example.org"))
        .await;
    assert!(matches!(&result, Err(SendError::Temporary(m)) if m.to_lowercase().contains("certificate")), "{result:?}");
    // A certificate for other names than the host connected to.
    let mut s = settings(tls_server.port, TlsMode::Starttls);
    s.extra_ca_pem = Some(pki.ca.clone());
    s.host = "127.0.0.2".into();
    let result = EmailSender::new(&s).unwrap().send(&sample("customer@example.org")).await;
    assert!(matches!(&result, Err(SendError::Temporary(_))), "{result:?}");
    assert!(tls_server.received().is_empty());

    // STARTTLS required, relay does not offer it: never falls back to plain text.
    let plain_server = SmtpServer::start(&[]).await;
    let mut s = settings(plain_server.port, TlsMode::Starttls);
    s.extra_ca_pem = Some(pki.ca.clone());
    let result = EmailSender::new(&s).unwrap().send(&sample("customer@example.org")).await;
    assert!(matches!(&result, Err(SendError::Temporary(m)) if m.contains("STARTTLS")), "{result:?}");
    assert!(plain_server.received().is_empty());
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let err = |s: SmtpSettings| EmailSender::new(&s).unwrap_err().to_string();
    let mut s = settings(25, TlsMode::None);
    s.host = "smtp.example.com".into();
    assert!(err(s).contains("loopback"));
    let mut s = settings(25, TlsMode::None);
    s.username = Some("u".into());
    s.password = Some(Secret("p".into()));
    assert!(err(s).contains("without TLS"));
    let mut s = settings(587, TlsMode::Starttls);
    s.username = Some("u".into());
    assert!(err(s).contains("together"));
    let mut s = settings(587, TlsMode::Starttls);
    s.from = "receipts at example".into();
    assert!(err(s).contains("smtp.from"));
    let mut s = settings(587, TlsMode::Starttls);
    s.extra_ca_pem = Some("/nonexistent/ca.pem".into());
    assert!(err(s).contains("/nonexistent/ca.pem"));
    let not_pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_pem.path(), "hello").unwrap();
    let mut s = settings(587, TlsMode::Starttls);
    s.extra_ca_pem = Some(not_pem.path().into());
    assert!(err(s).contains("no PEM certificate"));
    let mut s = settings(587, TlsMode::Starttls);
    s.timeout_secs = 0;
    assert!(err(s).contains("timeout_secs"));

    // Localhost may be plain.
    let mut s = settings(25, TlsMode::None);
    s.host = "localhost".into();
    EmailSender::new(&s).unwrap();
    let mut s = settings(465, TlsMode::Implicit);
    s.host = "smtp.example.com".into();
    let sender = EmailSender::new(&s).unwrap();
    assert!(format!("{sender:?}").contains("receipts@example.com"));
}

#[test]
fn settings_deserialize_from_toml() {
    let toml = r#"
        host = "smtp.example.com"
        port = 587
        tls = "starttls"
        username = "receipts"
        password = "hunter2"
        from = "ereceipt <receipts@example.com>"
        timeout_secs = 30
    "#;
    let s: SmtpSettings = config::Config::builder()
        .add_source(config::File::from_str(toml, config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    assert_eq!(s.tls, TlsMode::Starttls);
    assert!(s.extra_ca_pem.is_none());
    assert!(!format!("{s:?}").contains("hunter2"), "the password is redacted");
    let typo = toml.replace("timeout_secs", "timeout");
    let bad = config::Config::builder()
        .add_source(config::File::from_str(&typo, config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize::<SmtpSettings>();
    assert!(bad.is_err());
    // An empty value (as an environment variable gives it) is refused, naming the key, rather
    // than read as "not set": leaving the key out is how to say that.
    for key in ["username", "password", "extra_ca_pem"] {
        let blank = format!("{toml}\n{key} = \"\"\n").replace(&format!("        {key} = \""), "        # ");
        let err = config::Config::builder()
            .add_source(config::File::from_str(&blank, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize::<SmtpSettings>()
            .unwrap_err()
            .to_string();
        assert!(err.contains(key) && err.contains("is empty"), "{key}: {err}");
    }
}

#[test]
fn queue_ids_of_common_relays() {
    use lettre::transport::smtp::response::{Category, Code, Detail, Severity};
    let ok = Code::new(Severity::PositiveCompletion, Category::MailSystem, Detail::Zero);
    let answer = |lines: &[&str]| accepted(&Response::new(ok, lines.iter().map(|l| l.to_string()).collect()));
    assert_eq!(answer(&["2.0.0 Ok: queued as 4XyZ1mN2"]).peer_id.as_deref(), Some("4XyZ1mN2"));
    assert_eq!(answer(&["OK id=1tQ2aB-000Cde-3F"]).peer_id.as_deref(), Some("1tQ2aB-000Cde-3F"));
    let gmail = answer(&["2.0.0 OK  1700000000 a1-20020a170902gsmtp"]);
    assert_eq!(gmail, Accepted { peer_id: None, answer: "250 2.0.0 OK  1700000000 a1-20020a170902gsmtp".into() });
}

/// Workers share one sender and spawn its sends.
#[test]
fn sender_and_its_sends_can_cross_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    fn spawnable<F: std::future::Future + Send>(_: F) {}
    let sender = EmailSender::new(&settings(25, TlsMode::None)).unwrap();
    shared(&sender);
    let out = sample("customer@example.org");
    spawnable(sender.send(&out));
}

/// The relay's 250 to the data is the acceptance: it is returned at once, without waiting for
/// the QUIT exchange, so nothing but recording it stands between the relay accepting and the
/// delivery being marked sent (a relay that never answers QUIT cannot turn it into a retry).
#[tokio::test]
async fn the_acceptance_is_returned_without_waiting_for_quit() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel();
    let relay = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (r, mut w) = tcp.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"220 relay.test ESMTP\r\n").await.unwrap();
        let mut in_data = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            if in_data {
                if line == "." {
                    in_data = false;
                    w.write_all(b"250 2.0.0 Ok: queued as SLOW1\r\n").await.unwrap();
                }
                continue;
            }
            let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
            let answer: &[u8] = match verb.as_str() {
                "EHLO" => b"250-relay.test\r\n250 8BITMIME\r\n",
                "MAIL" | "RCPT" => b"250 2.1.0 OK\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go ahead\r\n"
                }
                "QUIT" => {
                    // Heard, never answered.
                    quit_tx.send(()).unwrap();
                    return std::future::pending::<()>().await;
                }
                _ => b"502 5.5.2 not here\r\n",
            };
            w.write_all(answer).await.unwrap();
        }
    });
    let mut s = settings(port, TlsMode::None);
    s.timeout_secs = 3;
    let started = std::time::Instant::now();
    let accepted = EmailSender::new(&s).unwrap().send(&sample("customer@example.org")).await.unwrap();
    assert_eq!(accepted.peer_id.as_deref(), Some("SLOW1"));
    assert!(started.elapsed() < Duration::from_secs(2), "returned after {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(5), quit_rx).await.unwrap().unwrap();
    relay.abort();
}
