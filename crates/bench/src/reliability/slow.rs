//! Scenario `slow`: thousands of slow connections on the main and the admin listener (TCP that
//! drips a TLS ClientHello a byte at a time, and TLS that drips request headers, reconnecting
//! whenever the platform closes them) while two terminals upload at a steady rate. Upload,
//! `/healthz` and admin-API latencies during the attack are compared with those before it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use ereceipt_core::upload::{Envelope, Payload};
use ereceipt_terminal::client::PlatformClient;
use ereceipt_terminal::device::Device;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use super::procs::{Bin, Platform};
use super::terminal::{self, COMMAND_LIMIT};
use super::{quantile, ReliabilityArgs};

/// Where the attack comes from: another loopback address than the terminals and probes
/// (127.0.0.1), as another host would; Linux routes all of 127.0.0.0/8 to loopback.
const ATTACKER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// Uploads per second per terminal.
const RATE: f64 = 4.0;
/// Seconds between the bytes an attacking connection sends.
const DRIP: Duration = Duration::from_secs(3);
/// A probe or upload slower than this counts as unanswered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responsive: p99 during the attack within this (or within 5× the p99 before it, if larger).
const RESPONSIVE: Duration = Duration::from_secs(2);

/// The attackers' counts.
#[derive(Default)]
struct Attack {
    open: AtomicUsize,
    peak: AtomicUsize,
    closed_by_server: AtomicUsize,
    refused: AtomicUsize,
}

impl Attack {
    fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

/// Latencies of one kind of request in one phase, and its failures.
#[derive(Default, Clone)]
struct Timings {
    ok: Vec<Duration>,
    failed: usize,
}

impl Timings {
    fn p(&self, q: f64) -> Duration {
        let mut v = self.ok.clone();
        v.sort_unstable();
        quantile(&v, q)
    }

    fn line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} ok, {} failed; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.ok.len(),
            self.failed,
            ms(self.p(0.5)),
            ms(self.p(0.99)),
            ms(self.p(1.0))
        )
    }
}

pub fn run(rt: &Runtime, bin: &Bin, args: &ReliabilityArgs) -> Result<Vec<String>> {
    let per_listener = args.pick(args.slow_connections, 2000, 200);
    let secs = args.pick(args.slow_seconds, 30, 8).max(2);
    say!("slow: {per_listener} slow connections on each of the main and admin listeners, 2 terminals uploading {RATE}/s each; {secs} s before and {secs} s during");
    let tmp = tempfile::tempdir().context("temp dir")?;
    let data = tmp.path().join("platform");
    let platform = Platform::start(bin, &data, None, &tmp.path().join("serve.log"))?;
    let terminals: Vec<_> = (0..2)
        .map(|i| {
            let id = format!("S{:07}", i + 1);
            terminal::enrol(bin, &platform, &id, &tmp.path().join(&id))
        })
        .collect::<Result<_>>()?;
    let ops = tmp.path().join("operator");
    let mut add: Vec<std::ffi::OsString> = vec!["platform".into(), "operator".into(), "add".into()];
    add.extend(platform.at());
    add.extend(["rel".into(), "--out".into(), ops.clone().into_os_string()]);
    bin.run(add, COMMAND_LIMIT)?.ok()?;

    // Receipts composed before the clock starts: the uploads measure the platform, not the PNG encoder.
    // Enough for both phases and a ramp of up to 20 s between them.
    let per_terminal = (RATE * (secs as f64 * 2.0 + 25.0)) as usize;
    eprintln!("  composing {} receipts…", per_terminal * terminals.len());
    let fonts = Arc::new(crate::setup::load_fonts()?);
    let mut uploaders = Vec::new();
    for (i, t) in terminals.iter().enumerate() {
        let device = Device::new(&t.dir);
        let identity = device.identity()?;
        let link = device.platform()?;
        let hpke = hex::decode(&link.info.hpke_public_key).context("HPKE key")?;
        let client = PlatformClient::new(&platform.url(), &device.ca_der()?, Some(&identity))?;
        let fonts = fonts.clone();
        let envelopes = crate::setup::compose_many(&identity, &fonts, per_terminal, i as u64 + 77, false)?;
        uploaders.push((client, t.id.clone(), hpke, envelopes));
    }
    let ca = std::fs::read(ops.join("ca.pem"))?;
    let (probe, admin) = probe_clients(&ca, &ops)?;
    let (main_addr, admin_addr) = (platform.listen, platform.admin);
    let health_url = format!("{}/healthz", platform.url());
    let admin_url = format!("https://{admin_addr}/api/v1/admin/refusals");

    let attack = Arc::new(Attack::default());
    let counts = attack.clone();
    let outcome = rt.block_on(async move {
        let (phase_tx, phase_rx) = watch::channel(0u8);
        // Uploads and probes, each tagged with the phase it started in (0 before, 1 ramp, 2 during).
        let mut tasks = Vec::new();
        for (client, tid, hpke, envelopes) in uploaders {
            let phase = phase_rx.clone();
            tasks.push(tokio::spawn(async move { upload_steadily(client, tid, hpke, envelopes, phase).await }));
        }
        let probe_task = tokio::spawn(probe_steadily(probe, health_url, phase_rx.clone()));
        let admin_task = tokio::spawn(probe_steadily(admin, admin_url, phase_rx.clone()));

        tokio::time::sleep(Duration::from_secs(secs)).await;
        let _ = phase_tx.send(1);
        let (stop_tx, stop_rx) = watch::channel(false);
        let tls = attacker_tls(&ca)?;
        let mut attackers = Vec::new();
        for k in 0..per_listener * 2 {
            let addr = if k % 2 == 0 { main_addr } else { admin_addr };
            let tls = ((k / 2) % 2 == 1).then(|| tls.clone());
            let (attack, stop) = (attack.clone(), stop_rx.clone());
            attackers.push(tokio::spawn(async move { attacker(addr, tls, attack, stop).await }));
            // Ramp over a couple of seconds, not in one burst of SYNs.
            if k % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let ramp = Instant::now();
        while attack.open.load(Ordering::Relaxed) < per_listener * 2 * 9 / 10
            && ramp.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = phase_tx.send(2);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let _ = phase_tx.send(3);
        let _ = stop_tx.send(true);
        for a in attackers {
            let _ = a.await;
        }
        let mut uploads = [Timings::default(), Timings::default(), Timings::default()];
        for t in tasks {
            for (phase, timings) in t.await.context("uploader")??.into_iter().enumerate() {
                uploads[phase].ok.extend(timings.ok);
                uploads[phase].failed += timings.failed;
            }
        }
        let health = probe_task.await.context("probe")?;
        let admin = admin_task.await.context("probe")?;
        anyhow::Ok((uploads, health, admin))
    });
    let (uploads, health, admin) = outcome?;
    let mut broken = Vec::new();
    say!(
        "  attack       from {ATTACKER}: peak {} slow connections open at once (caps: 1024 per listener, 256 per client); the platform closed {} of them, {} connects failed",
        counts.peak.load(Ordering::Relaxed),
        counts.closed_by_server.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed)
    );
    for (name, t) in [("uploads", &uploads), ("/healthz", &health), ("admin API", &admin)] {
        if name == "uploads" {
            say!("  (an upload's \"failed\" is an attempt that was retried; every upload was acknowledged)");
        }
        say!("  {name:<12} before: {}", t[0].line());
        say!("  {:<12} during: {}", "", t[2].line());
        let limit = RESPONSIVE.max(t[0].p(0.99) * 5);
        // An upload that failed was retried (the terminal's outbox would); a probe was not.
        if t[2].failed > 0 && name != "uploads" {
            broken.push(format!("{name}: {} requests unanswered during the attack", t[2].failed));
        }
        if t[2].ok.is_empty() {
            broken.push(format!("{name}: nothing answered during the attack"));
        } else if t[2].p(0.99) > limit {
            broken.push(format!("{name}: p99 {:?} during the attack, above {limit:?}", t[2].p(0.99)));
        }
    }
    let mut platform = platform;
    if !platform.still_running() {
        broken.push(format!("the platform died under the attack:\n{}", platform.log_tail(20)));
    }
    let stored = rt.block_on(async {
        let store = ereceipt_platform::infra::store::Store::connect(&platform.store_url()).await?;
        anyhow::Ok(store.receipt_count().await?)
    })?;
    let acked: usize = uploads.iter().map(|t| t.ok.len()).sum();
    say!("  stored       {stored} receipts for {acked} acknowledged uploads");
    if usize::try_from(stored).ok() != Some(acked) {
        broken.push(format!("{acked} uploads acknowledged but {stored} stored"));
    }
    Ok(broken)
}

/// A client for `/healthz` (the platform's CA, no client certificate) and one for the admin API
/// (the operator's certificate); both open a fresh connection for every request, as a load
/// balancer's health check or an operator's command would.
fn probe_clients(ca_pem: &[u8], ops: &std::path::Path) -> Result<(reqwest::Client, reqwest::Client)> {
    let roots = || -> Result<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(c?)?;
        }
        Ok(roots)
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let plain = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots()?)
        .with_no_client_auth();
    let cert = CertificateDer::pem_file_iter(ops.join("rel.pem"))?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(ops.join("rel.key"))?;
    let operator = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots()?)
        .with_client_auth_cert(cert, key)?;
    let build = |c: rustls::ClientConfig| {
        reqwest::Client::builder().use_preconfigured_tls(c).pool_max_idle_per_host(0).timeout(PROBE_TIMEOUT).build()
    };
    Ok((build(plain)?, build(operator)?))
}

/// TLS for the attackers: the platform's CA, no client certificate.
fn attacker_tls(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// One attacking connection, over and over until `stop`: connect, then (raw) drip the start of a
/// TLS ClientHello or (TLS) finish the handshake and drip request headers that never end, one
/// byte every [`DRIP`]; when the platform closes it, count that and connect again.
async fn attacker(
    addr: std::net::SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    attack: Arc<Attack>,
    mut stop: watch::Receiver<bool>,
) {
    const HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    const HEADERS: &[u8] =
        b"GET /healthz HTTP/1.1\r\nHost: platform\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    while !*stop.borrow() {
        let tcp = match tokio::time::timeout(Duration::from_secs(5), connect_from(ATTACKER, addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                attack.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        attack.opened();
        let closed = match &tls {
            None => drip(tcp, HELLO, &mut stop).await,
            Some(connector) => {
                let name = ServerName::try_from("127.0.0.1").map(|n| n.to_owned());
                match name {
                    Ok(name) => match tokio::time::timeout(Duration::from_secs(15), connector.connect(name, tcp)).await
                    {
                        Ok(Ok(stream)) => drip(stream, HEADERS, &mut stop).await,
                        _ => true,
                    },
                    Err(_) => true,
                }
            }
        };
        attack.open.fetch_sub(1, Ordering::Relaxed);
        if closed {
            attack.closed_by_server.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A TCP connection to `addr` from `from`.
async fn connect_from(from: std::net::Ipv4Addr, addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((from, 0).into())?;
    socket.connect(addr).await
}

/// Sends `bytes` one per [`DRIP`] (then the last one again and again), watching for the server
/// closing the connection; true if it did, false if `stop` came first.
async fn drip<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    bytes: &[u8],
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut buf = [0u8; 512];
    for k in 0.. {
        let byte = bytes[k.min(bytes.len() - 1)];
        if s.write_all(&[byte]).await.is_err() || s.flush().await.is_err() {
            return true;
        }
        tokio::select! {
            read = s.read(&mut buf) => {
                // EOF, an error, or an answer (a 408 or an alert) before the connection closes.
                if matches!(read, Ok(0) | Err(_)) { return true; }
            }
            () = tokio::time::sleep(DRIP) => {}
            _ = stop.changed() => return false,
        }
    }
    true
}

/// `GET url` every 250 ms; latency by phase (0 before, 2 during the attack; 1 the ramp).
async fn probe_steadily(client: reqwest::Client, url: String, phase: watch::Receiver<u8>) -> [Timings; 3] {
    let mut out: [Timings; 3] = Default::default();
    loop {
        let p = *phase.borrow();
        if p >= 3 {
            return out;
        }
        let t = Instant::now();
        let ok = matches!(client.get(&url).send().await, Ok(r) if r.status().is_success());
        if ok {
            out[p as usize].ok.push(t.elapsed());
        } else {
            out[p as usize].failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(250).saturating_sub(t.elapsed())).await;
    }
}

/// Uploads `envelopes` in chain order at [`RATE`] per second; each upload's latency counts from
/// its scheduled time (a slow platform cannot hide queueing), retried up to 5 times, as the
/// terminal's outbox would retry it.
async fn upload_steadily(
    client: PlatformClient,
    tid: String,
    hpke: Vec<u8>,
    envelopes: Vec<(String, Payload)>,
    phase: watch::Receiver<u8>,
) -> Result<[Timings; 3]> {
    let mut out: [Timings; 3] = Default::default();
    let interval = Duration::from_secs_f64(1.0 / RATE);
    let mut due = Instant::now();
    for (id, payload) in &envelopes {
        let p = *phase.borrow();
        if p >= 3 {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let env = Envelope::seal(payload, &tid, id, &hpke)?.to_bytes();
        let mut done = false;
        for _ in 0..5 {
            match tokio::time::timeout(PROBE_TIMEOUT, client.upload(env.clone())).await {
                Ok(Ok(_)) => {
                    done = true;
                    break;
                }
                _ => out[p as usize].failed += 1,
            }
        }
        anyhow::ensure!(done, "{id} not acknowledged after 5 attempts ({})", Utc::now());
        out[p as usize].ok.push(due.elapsed());
        due += interval;
    }
    Ok(out)
}
