//! `ereceipt-bench gateway`: SMS submits through the SMGP 3.0, CMPP 3.0 or SGIP 1.2 client on
//! one connection against the independent Python gateway on loopback: submits per second with the
//! window open (closed loop), then the time from handing a text to the client to the gateway's
//! Submit_Resp at a fixed offered rate (open loop). The gateway is CPython writing a journal
//! line per submit, so the figures bound the client from below.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ereceipt_platform::infra::delivery::cngw::{GatewayClient, GatewaySettings, SgipSettings};
use ereceipt_platform::infra::delivery::smpp::SmppTls;
use ereceipt_platform::infra::secret::Secret;
use ereceipt_test_peers::carrier_gateway::{Carrier, CarrierGateway};
use ereceipt_test_peers::sgip::{SgipGateway, LOGIN};
use futures_util::future::join_all;

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// `smgp`, `cmpp` or `sgip`.
    #[arg(long, default_value = "smgp")]
    protocol: String,
    /// Submits in the closed-loop run.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// The client's window (submits awaiting their answer at once), also the closed loop's
    /// concurrency.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Offered rate of the open-loop run, texts per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of the open-loop run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub fn run(args: GatewayArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    rt.block_on(bench(args))
}

fn settings(port: u16, account: &str, window: usize) -> GatewaySettings {
    GatewaySettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmppTls::None,
        extra_ca_pem: None,
        server_name: None,
        insecure_plaintext: false,
        account: account.into(),
        secret: Secret("bench-secret".into()),
        service_id: "ERECEIPT".into(),
        source_number: "106900001234".into(),
        fee_type: None,
        fee_code: "0".into(),
        fixed_fee: "0".into(),
        fee_user_type: 2,
        charge_number: String::new(),
        msg_src: None,
        need_report: false,
        window,
        submits_per_second: 0,
        timeout_secs: 10,
        active_test_secs: 30,
        version: "3.0".into(),
    }
}

/// SGIP settings for the test SMG on loopback: no reports, no idle Unbind during the runs.
fn sgip_settings(port: u16, window: usize) -> SgipSettings {
    SgipSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmppTls::None,
        extra_ca_pem: None,
        server_name: None,
        insecure_plaintext: false,
        login: LOGIN.0.into(),
        password: Secret(LOGIN.1.into()),
        node_id: 3_010_012_345,
        sp_number: "106550001234".into(),
        corp_id: "12345".into(),
        service_type: "ERECEIPT".into(),
        fee_type: 1,
        fee_value: "0".into(),
        given_value: "0".into(),
        charge_number: "0".repeat(21),
        need_report: false,
        report_listen: None,
        report_login: None,
        report_password: None,
        window,
        submits_per_second: 0,
        timeout_secs: 10,
        idle_unbind_secs: 0,
    }
}

/// Any of the clients, for the two runs.
enum Client {
    Smgp(GatewayClient<ereceipt_platform::infra::delivery::cngw::smgp::Smgp>),
    Cmpp(GatewayClient<ereceipt_platform::infra::delivery::cngw::cmpp::Cmpp>),
    Sgip(GatewayClient<ereceipt_platform::infra::delivery::cngw::sgip::Sgip>),
}

/// The gateway each client talks to.
enum Peer {
    Carrier(CarrierGateway),
    Sgip(SgipGateway),
}

impl Peer {
    /// Submits the gateway journalled.
    fn submits(&self) -> usize {
        match self {
            Peer::Carrier(g) => g.lines("submit").len(),
            Peer::Sgip(g) => g.journal().iter().filter(|l| l["dir"] == "in" && l["cmd"] == "submit").count(),
        }
    }
}

impl Client {
    async fn send(&self, i: usize) -> Result<Duration> {
        let id = format!("bench-{i}");
        let text = "【电子签购单】星巴克 CNY 128.50 收据 POS1-0001-000123";
        let started = Instant::now();
        let sent = match self {
            Client::Smgp(c) => c.send_text(&id, "+8613300000000", text).await,
            Client::Cmpp(c) => c.send_text(&id, "+8613800138000", text).await,
            Client::Sgip(c) => c.send_text(&id, "+8618612345678", text).await,
        };
        sent.map_err(|e| anyhow::anyhow!("submit {i}: {e}"))?;
        Ok(started.elapsed())
    }
}

async fn bench(args: GatewayArgs) -> Result<()> {
    let window = args.window.max(1);
    let (gateway, client) = match args.protocol.as_str() {
        "sgip" => {
            let gateway = SgipGateway::start(&[]).await;
            let client = Client::Sgip(GatewayClient::sgip(&sgip_settings(gateway.addr().port(), window))?);
            (Peer::Sgip(gateway), client)
        }
        protocol => {
            let (carrier, account) = match protocol {
                "smgp" => (Carrier::Smgp, "ereceipt"),
                "cmpp" => (Carrier::Cmpp, "901234"),
                other => bail!("--protocol {other}: use smgp, cmpp or sgip"),
            };
            let gateway = CarrierGateway::start(carrier, account, "bench-secret", &["--no-report"]).await;
            let s = settings(gateway.port(), account, window);
            let client = match carrier {
                Carrier::Smgp => Client::Smgp(GatewayClient::smgp(&s)?),
                Carrier::Cmpp => Client::Cmpp(GatewayClient::cmpp(&s)?),
            };
            (Peer::Carrier(gateway), client)
        }
    };
    let client = Arc::new(client);
    client.send(0).await?; // the login: not part of the figures

    let started = Instant::now();
    let workers = (0..args.window.max(1)).map(|w| {
        let client = client.clone();
        let (window, messages) = (args.window.max(1), args.messages);
        async move {
            let mut i = w;
            while i < messages {
                client.send(i + 1).await?;
                i += window;
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    for outcome in join_all(workers).await {
        outcome?;
    }
    let wall = started.elapsed();
    say!("protocol       {}", args.protocol);
    say!(
        "closed loop    {} submits, window {}: {:.0} submits/s",
        args.messages,
        args.window,
        args.messages as f64 / wall.as_secs_f64()
    );

    let total = (args.rate * args.seconds as f64).round() as usize;
    let gap = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let start = tokio::time::Instant::now();
    let sends = (0..total).map(|i| {
        let client = client.clone();
        async move {
            tokio::time::sleep_until(start + gap * i as u32).await;
            client.send(1_000_000 + i).await
        }
    });
    let mut latencies = Vec::with_capacity(total);
    for outcome in join_all(sends).await {
        latencies.push(outcome?);
    }
    latencies.sort_unstable();
    let ms = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    say!(
        "open loop      {total} texts at {:.0}/s: text → Submit_Resp p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.rate,
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
    let taken = gateway.submits();
    anyhow::ensure!(taken == args.messages + total + 1, "the gateway journalled {taken} submits");
    Ok(())
}
