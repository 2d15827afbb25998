//! TLS for the test peers: a throwaway CA made with rcgen and a server certificate it issues
//! (as PEM files too, for peers in other languages), and HTTPS for an axum router.

use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A CA of its own and one server certificate from it, written to a temporary folder.
pub struct TestPki {
    /// The CA certificate (PEM): what a client is told to trust.
    pub ca_pem: PathBuf,
    /// The server certificate (PEM).
    pub cert_pem: PathBuf,
    /// The server's private key (PKCS#8 PEM, ECDSA P-256).
    pub key_pem: PathBuf,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    _dir: tempfile::TempDir,
}

impl TestPki {
    /// A CA named `ca_name` and a server certificate for `names` (host names or IP addresses).
    pub fn new(ca_name: &str, names: &[&str]) -> TestPki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut server = CertificateParams::new(names).unwrap();
        server.distinguished_name.push(DnType::CommonName, "test peer");
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server.signed_by(&server_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        TestPki {
            ca_pem: write("ca.pem", &ca_cert.pem()),
            cert_pem: write("server.pem", &server_cert.pem()),
            key_pem: write("server.key", &server_key.serialize_pem()),
            cert: server_cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
            _dir: dir,
        }
    }

    /// A rustls server configuration presenting the server certificate, with `alpn` protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], PrivateKeyDer::Pkcs8(self.key.clone_key()))
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// Serves `router` over TLS on `listener`; a failed handshake ends only that connection.
pub async fn serve(listener: TcpListener, config: Arc<rustls::ServerConfig>, router: axum::Router) {
    let acceptor = TlsAcceptor::from(config);
    while let Ok((tcp, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            // A client that gives up on the handshake is the test's business, not the peer's.
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
