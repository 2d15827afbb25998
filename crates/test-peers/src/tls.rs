//! HTTPS for a test peer: accepts TLS with the given rustls config and serves an axum router
//! over HTTP/1.1 on each connection, until the task is aborted.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

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
