//! `ereceipt-bench host`: the round trip of one card authorisation through the terminal's ISO
//! 8583 link, as the cashier waits for it (journal the request, sign in once, pack, MAC, TCP to
//! the host, check the answer's MAC, journal the approval), against the independent Python host
//! on loopback. The host is pyiso8583 in CPython, so the figure bounds the terminal's side from
//! above; a real acquirer's network dominates in the field.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ereceipt_core::card::{capture, CardInput, CardPolicy};
use ereceipt_core::identity::{CertifiedKey, Signer};
use ereceipt_core::model::{LocalTime, Money};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::Signature;
use ereceipt_terminal::authorisation::{authorise, Payment};
use ereceipt_terminal::host::{Authoriser, HostSettings, Iso8583Authoriser};
use ereceipt_terminal::outbox::{new_request_id, NewAuthorisation, Outbox};
use ereceipt_terminal::sale::{approved_transaction, record_authorised_sale, ApprovedRequest, Composer};
use ereceipt_test_peers::iso_host::IsoHost;

#[derive(clap::Args)]
pub struct HostArgs {
    /// Authorisations to time.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Authorisations in flight at once (one outbox, as one terminal with several tabs).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// `ecb` or `x9.19`.
    #[arg(long, default_value = "ecb")]
    mac: String,
    /// The whole sale path to the receipt: after each approval, also compose the receipt
    /// (record, render, QR, COSE signature, watermark, PNG) and store it in the outbox as the
    /// next chain link, marking the authorisation completed (what `terminal sell` does between
    /// the card and the upload; no signature capture, no upload).
    #[arg(long)]
    receipts: bool,
}

pub fn run(args: HostArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    rt.block_on(bench(args))
}

async fn bench(args: HostArgs) -> Result<()> {
    let host_mac = match args.mac.as_str() {
        "ecb" => "ecb",
        "x9.19" => "x919",
        other => bail!("--mac {other}: use ecb or x9.19"),
    };
    let host = IsoHost::start(&["--mac".as_ref(), host_mac.as_ref()]).await;
    let dir = tempfile::tempdir()?;
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await?;
    let mut settings = HostSettings::new(format!("127.0.0.1:{}", host.port()), "0123456789ABCDEFFEDCBA9876543210");
    settings.mac = args.mac.clone();
    let link = Iso8583Authoriser::new(settings.config().map_err(anyhow::Error::msg)?);
    let kit = if args.receipts { Some(Kit::load()?) } else { None };
    let kit = kit.as_ref();
    // The first request signs in: not part of the figure.
    one(&outbox, &link, kit).await?;
    let started = Instant::now();
    let mut times: Vec<Duration> = Vec::with_capacity(args.requests);
    let per_task = args.requests.div_ceil(args.concurrency.max(1));
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (outbox, link) = (outbox.clone(), &link);
            async move {
                let mut t = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let at = Instant::now();
                    one(&outbox, link, kit).await?;
                    t.push(at.elapsed());
                }
                anyhow::Ok(t)
            }
        })
        .collect();
    for t in futures_util::future::join_all(tasks).await {
        times.extend(t?);
    }
    let wall = started.elapsed();
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    let what = if args.receipts { "sales with their receipts" } else { "authorisations" };
    say!("host link: {} {what}, {} in flight, MAC {}", times.len(), args.concurrency, args.mac);
    say!("  throughput  {:.0} {what}/s", times.len() as f64 / wall.as_secs_f64());
    say!("  round trip  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", ms(pct(0.50)), ms(pct(0.99)), ms(pct(1.0)));
    say!("  (host: pyiso8583 in CPython on loopback; the terminal journals each request and answer in SQLite)");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What a receipt is made with: the receipt core's test terminal identity (POS00001 of
/// merchant 898440358120001, the ids `one` journals), a Chinese font, a signature.
struct Kit {
    signer: Signer,
    fonts: Fonts,
    signature: Signature,
}

impl Kit {
    fn load() -> Result<Kit> {
        const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../receipt-core/tests/fixtures");
        let read = |name: &str| {
            std::fs::read_to_string(format!("{FIXTURES}/{name}")).with_context(|| format!("fixture {name}"))
        };
        let identity = CertifiedKey::from_pem(&read("terminal.pem")?, &read("terminal.key")?)?;
        Ok(Kit {
            signer: Signer::new(&identity)?,
            fonts: crate::setup::load_fonts()?,
            signature: Signature::from_signature_pad_json(&read("signature.json")?)?,
        })
    }
}

/// One approved authorisation of ¥1.00 (the host approves cents 00), and with `kit` its
/// receipt composed and stored.
async fn one(outbox: &Outbox, link: &Iso8583Authoriser, kit: Option<&Kit>) -> Result<()> {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let time = LocalTime::new(chrono::Utc::now().timestamp(), 480)?;
    let card =
        capture(&CardInput::track2(";6222020200112233446=29121011234567890?"), &policy, time.local().date_naive())?;
    let info = link.info();
    let journalled = NewAuthorisation {
        request_id: new_request_id(),
        amount: Money::new(100, "CNY".parse()?)?,
        masked_pan: card.summary.masked_pan.clone(),
        time,
        terminal_id: "POS00001".parse()?,
        merchant_id: "898440358120001".parse()?,
        authoriser: info.name,
        simulated: false,
        operator: "01".parse()?,
        operation: ereceipt_terminal::outbox::Operation::sale(),
    };
    let payment =
        Payment { journalled: &journalled, card: &card.summary, card_data: &card.authorisation, receipt_parts: None };
    let (approval, trace) =
        authorise(outbox, link, payment, || chrono::Utc::now().timestamp_millis()).await.map_err(anyhow::Error::msg)?;
    let Some(kit) = kit else { return Ok(()) };
    let operation = ereceipt_terminal::outbox::Operation::sale();
    let transaction = approved_transaction(ApprovedRequest {
        operation: &operation,
        amount: journalled.amount,
        time,
        trace,
        approval,
        operator: journalled.operator.clone(),
        card: card.summary.clone(),
        simulated: false,
    })?;
    let composer = Composer { signer: &kit.signer, fonts: &kit.fonts, width: SlipWidth::W576 };
    record_authorised_sale(outbox, composer, transaction, kit.signature.clone(), None, Some(&journalled.request_id))
        .await?;
    Ok(())
}
