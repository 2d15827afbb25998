//! `ereceipt-bench upload`: a load generator for full ingest (TLS with client certificates,
//! HPKE open, signature + chain + watermark verification, store, signed acknowledgement) from
//! N concurrent enrolled terminals against an in-process platform on loopback. Kept out of the
//! `ereceipt` binary: operators do not need it, and it brings its own throwaway PostgreSQL.
//! `ereceipt-bench reliability`: the real `ereceipt` processes under faults (docs/reliability.md).
//! `ereceipt-bench host`: card authorisations through the ISO 8583 link (docs/host-link.md).
//! `ereceipt-bench gateway`: SMS submits through the SMGP / CMPP / SGIP clients (docs/delivery.md).

/// `println!` that never panics on a closed stdout (`ereceipt-bench upload | head -3`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod gateway;
mod host;
mod load;
mod reliability;
mod report;
mod setup;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ereceipt-bench", version, about = "Load generators for the ereceipt platform")]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Upload M receipts from each of N terminals; report receipts/s and latency percentiles.
    Upload(setup::UploadArgs),
    /// Faults against the real `ereceipt` processes: slow connections, SIGKILLs, a PostgreSQL
    /// restart, a full disk. Exits 1 if an invariant broke (a lost or doubled receipt, an
    /// unresponsive listener).
    Reliability(reliability::ReliabilityArgs),
    /// Card authorisations through the terminal's ISO 8583 link against the independent test
    /// host; reports throughput and round-trip percentiles.
    Host(host::HostArgs),
    /// SMS submits through the SMGP 3.0 or CMPP 3.0 client against the independent test
    /// gateway: submits/s with the window open, and text → Submit_Resp percentiles at a rate.
    Gateway(gateway::GatewayArgs),
}

fn main() {
    let (outcome, code) = match Cli::parse().command {
        BenchCommand::Upload(args) => (run(args), 3),
        BenchCommand::Reliability(args) => (reliability::run(args), 1),
        BenchCommand::Host(args) => (host::run(args), 3),
        BenchCommand::Gateway(args) => (gateway::run(args), 3),
    };
    if let Err(e) = outcome {
        eprintln!("error: {e:#}");
        std::process::exit(code);
    }
}

fn run(args: setup::UploadArgs) -> Result<()> {
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(upload(args))
}

/// Sets the platform and terminals up, offers the load, waits for the deliveries, reports.
async fn upload(args: setup::UploadArgs) -> Result<()> {
    let bench = setup::Bench::start(&args).await?;
    let loaded = bench.load_terminals(args.terminals.max(1), args.receipts.max(1)).await?;
    eprintln!("uploading…");
    let run = load::offer(loaded, bench.hpke(), args.rate).await?;
    let delivery_delays = if bench.with_delivery { Some(bench.delivery_delays(&run.receipt_ids).await?) } else { None };
    let backend = bench.backend;
    let stored = bench.stop().await?;
    report::print(&report::Figures { args: &args, backend, stored, run, delivery_delays })
}
