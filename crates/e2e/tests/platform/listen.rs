//! Both listeners' connection and time limits (M6): a body trickled slower than the minimum rate
//! is cut off with 408, slow connections beyond the cap are closed to make room for new clients,
//! and an upload without a client certificate is refused before its body is read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ereceipt_terminal::sync::Step;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::helpers::TestPlatform;

/// A TLS connection to `url`'s listener, trusting the platform CA, without a client certificate.
async fn connect(url: &str, ca: &[u8]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(url.trim_start_matches("https://")).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap()
}

/// Reads until the server closes the connection (or `limit` passes: `None`).
async fn read_until_closed<R: AsyncReadExt + Unpin>(r: &mut R, limit: Duration) -> Option<String> {
    read_until(r, limit, |_| false).await.filter(|(_, closed)| *closed).map(|(text, _)| text)
}

/// Reads until the server closes the connection or `enough` says so; what was read and whether
/// it was closed. `None` if neither happened within `limit`.
async fn read_until<R: AsyncReadExt + Unpin>(
    r: &mut R,
    limit: Duration,
    enough: impl Fn(&str) -> bool,
) -> Option<(String, bool)> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if enough(&String::from_utf8_lossy(&got)) {
                return false;
            }
        }
    })
    .await;
    read.ok().map(|closed| (String::from_utf8_lossy(&got).into_owned(), closed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_below_the_minimum_rate_gets_408_and_the_connection_is_closed() {
    let platform = TestPlatform::start_with(|s| {
        s.portal_listen = Some("127.0.0.1:0".parse().unwrap());
        s.listener.body_grace_secs = 1;
        s.listener.min_body_bytes_per_sec = 1000;
    })
    .await;
    let ca = platform.ca_der();
    let portal = platform.portal_url.clone().unwrap();
    for (url, path) in [(&platform.url, "/api/v1/verify"), (&portal, "/api/v1/verify")] {
        let tls = connect(url, &ca).await;
        let (mut rd, mut wr) = tokio::io::split(tls);
        let head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n");
        wr.write_all(head.as_bytes()).await.unwrap();
        // Ten bytes a second, where a thousand are the least allowed.
        let trickle = tokio::spawn(async move {
            for _ in 0..100 {
                if wr.write_all(b"x").await.is_err() || wr.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = Instant::now();
        let answer = read_until_closed(&mut rd, Duration::from_secs(8)).await;
        let answer = answer.unwrap_or_else(|| panic!("{url}: still open after 8 s; no body time limit"));
        let took = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408"), "{url}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
        assert!(answer.contains("too slowly"), "{answer}");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{url}: after {took:?}");
        trickle.abort();
    }
    // A client at a normal pace is not affected.
    let ok = platform.anonymous_client().get(format!("{}/healthz", platform.url)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_beyond_the_cap_are_closed_and_never_lock_out_health_checks_or_terminals() {
    const CAP: usize = 16;
    const SLOW: usize = 40;
    let platform = TestPlatform::start_with(|s| {
        s.listener.max_connections = CAP;
        // Long enough that only the cap, not the body rate, can end the slow connections here.
        s.listener.body_grace_secs = 120;
    })
    .await;
    let mut t = platform.terminal("T0000910").await;
    let sale = t.sale().await;
    let ca = platform.ca_der();
    // Slowloris: headers and the start of a body, then nothing.
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut tls = connect(&platform.url, &ca).await;
        let head = "POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nxx";
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.flush().await.unwrap();
        slow.push(tls);
    }

    let started = Instant::now();
    let health = platform
        .anonymous_client()
        .get(format!("{}/healthz", platform.url))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("a new client is served while slow clients fill the cap");
    assert_eq!(health.status(), 200);
    let upload = tokio::time::timeout(Duration::from_secs(10), t.uploader.upload_next()).await;
    assert_eq!(upload.expect("in time").unwrap(), Step::Uploaded(sale.record.id.to_string()));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // The platform kept at most CAP connections: the longest-waiting slow ones were closed.
    let mut closed = 0;
    for tls in &mut slow {
        if read_until_closed(tls, Duration::from_millis(100)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= SLOW - CAP, "only {closed} of {SLOW} slow connections were closed");
    assert!(closed < SLOW, "the newest slow connections are still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_without_a_client_certificate_is_refused_before_its_body_is_read() {
    let platform = TestPlatform::start_with(|_| {}).await;
    let tls = connect(&platform.url, &platform.ca_der()).await;
    let (mut rd, mut wr) = tokio::io::split(tls);
    // A 100 MB body in chunks of 1 KiB every 50 ms (about 80 minutes), no client certificate.
    let head = "POST /api/v1/receipts HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    wr.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        for _ in 0..100_000 {
            if wr.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let started = Instant::now();
    let (answer, _) =
        read_until(&mut rd, Duration::from_secs(10), |s| s.contains('}')).await.expect("an answer in time");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("client certificate"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "refused after {:?}", started.elapsed());
    trickle.abort();
}

/// A TCP connection to `url`'s listener from the loopback address `from` (Linux routes all of
/// 127.0.0.0/8 to loopback, so 127.0.0.2 is another client of a listener on 127.0.0.1).
async fn tcp_from(from: [u8; 4], url: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(url.trim_start_matches("https://").parse().unwrap()).await.unwrap()
}

/// One host cannot take the whole table: beyond `max_connections_per_client` its new
/// connections are closed at once, before TLS, without pushing out anyone else's; a terminal on
/// another address uploads, and the host's own slow connections stay open (nothing evicted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_holds_at_most_its_share_of_connections_and_others_still_get_in() {
    const PER_CLIENT: usize = 4;
    let platform = TestPlatform::start_with(|s| {
        s.listener.max_connections = 8;
        s.listener.max_connections_per_client = PER_CLIENT;
    })
    .await;
    let mut t = platform.terminal("T0000911").await;
    let sale = t.sale().await;
    // The attacker, from 127.0.0.2: its share of idle connections (TCP only, no ClientHello).
    let mut held = Vec::new();
    for _ in 0..PER_CLIENT {
        held.push(tcp_from([127, 0, 0, 2], &platform.url).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Its next connections are closed at once, before any TLS.
    for _ in 0..10 {
        let mut over = tcp_from([127, 0, 0, 2], &platform.url).await;
        let closed = read_until_closed(&mut over, Duration::from_secs(2)).await;
        assert_eq!(closed.as_deref(), Some(""), "closed at once, without a byte of TLS");
    }
    // A terminal from 127.0.0.1 uploads, and a health check is served.
    let upload = tokio::time::timeout(Duration::from_secs(10), t.uploader.upload_next()).await;
    assert_eq!(upload.expect("in time").unwrap(), Step::Uploaded(sale.record.id.to_string()));
    let health = platform.anonymous_client().get(format!("{}/healthz", platform.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // The attacker's refused attempts pushed nothing out: its held connections are still open.
    for tcp in &mut held {
        assert_eq!(read_until_closed(tcp, Duration::from_millis(100)).await, None, "a held connection was closed");
    }
}
