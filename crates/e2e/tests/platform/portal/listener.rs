//! The browser-only portal listener (`portal_listen`): it presents the configured certificate,
//! never asks for a client certificate (so desktop browsers do not prompt their users), and
//! serves the portal and pull login but none of the terminal, admin or query API.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ClientConnection, RootCertStore, SignatureScheme};

use crate::helpers::TestPlatform;

/// Records whether the server asked for a client certificate.
#[derive(Debug, Default)]
struct Asked(AtomicBool);

impl ResolvesClientCert for Asked {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.store(true, Ordering::SeqCst);
        None
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Completes a TLS handshake with `url`'s listener trusting `root`; whether a client
/// certificate was asked for.
fn asks_for_a_client_certificate(url: &str, root: &[u8]) -> bool {
    let addr = url.trim_start_matches("https://").to_owned();
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(root.to_vec())).unwrap();
    let asked = Arc::new(Asked::default());
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(asked.clone());
    let mut conn =
        ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap().to_owned()).unwrap();
    let mut sock = TcpStream::connect(&addr).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    asked.0.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_a_listener_of_their_own_with_the_configured_certificate() {
    // A certificate "from a public CA": here self-signed for 127.0.0.1, trusted by the client.
    let public = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("portal.pem"), files.path().join("portal.key"));
    std::fs::write(&cert, public.cert.pem()).unwrap();
    std::fs::write(&key, public.signing_key.serialize_pem()).unwrap();
    let platform = TestPlatform::start_with(|s| {
        s.portal_listen = Some("127.0.0.1:0".parse().unwrap());
        s.portal_cert = Some(cert.clone());
        s.portal_key = Some(key.clone());
    })
    .await;
    let portal = platform.portal_url.clone().expect("a portal listener");
    let public_der = public.cert.der().to_vec();

    let client = {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(public_der.clone())).unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder().use_preconfigured_tls(config).build().unwrap()
    };
    let home = client.get(format!("{portal}/")).send().await.unwrap();
    assert_eq!(home.status(), 200, "served with the configured certificate");
    assert!(home.text().await.unwrap().contains("/pull"));
    let code = client
        .post(format!("{portal}/api/v1/pull/code"))
        .json(&serde_json::json!({"phone": "+8613500135000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(code.status(), 202, "the pull login API is there");
    for (method, path) in [
        ("POST", "/api/v1/receipts"),
        ("GET", "/api/v1/receipts"),
        ("GET", "/.well-known/est/cacerts"),
        ("GET", "/api/v1/admin/terminals"),
        ("GET", "/metrics"),
    ] {
        let r = client.request(method.parse().unwrap(), format!("{portal}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{method} {path} is not for browsers");
    }

    let ca = platform.ca_der();
    let (portal_asks, main_asks) = tokio::task::spawn_blocking({
        let (portal, main) = (portal.clone(), platform.url.clone());
        move || (asks_for_a_client_certificate(&portal, &public_der), asks_for_a_client_certificate(&main, &ca))
    })
    .await
    .unwrap();
    assert!(!portal_asks, "the portal listener never asks for a client certificate");
    assert!(main_asks, "the main listener does (terminals authenticate with theirs)");
}

#[tokio::test]
async fn a_half_configured_portal_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ereceipt_platform::settings::Settings::load_with_env(dir.path(), []).unwrap();
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.portal_listen = Some("127.0.0.1:0".parse().unwrap());
    s.portal_cert = Some("/nonexistent/portal.pem".into());
    let err = ereceipt_platform::app::App::build(s.clone()).await.err().expect("refused").to_string();
    assert!(err.contains("portal_cert"), "{err}");
    s.portal_key = Some("/nonexistent/portal.key".into());
    let err = ereceipt_platform::app::App::build(s).await.err().expect("refused").to_string();
    assert!(err.contains("/nonexistent/portal.pem"), "names the file: {err}");
}
