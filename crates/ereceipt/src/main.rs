//! `ereceipt`: the command-line edge of the system. Parses arguments, reads and writes files,
//! and calls the receipt core; all receipt logic lives in `ereceipt-core`.

/// `println!` that never panics: a closed stdout (`ereceipt verify … | head -1`) is not an
/// error worth a crash, and the exit code still tells the verdict.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod bundle;
mod ca;
mod cashier;
mod demo;
mod files;
mod platform;
mod receipt;
mod reprint;
mod sample;
mod stored;
mod terminal;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ereceipt", version, about = "Signed, watermarked electronic receipts for phone POS terminals")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The offline certificate authority: the platform root and terminal identities.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Create and inspect receipts.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
    /// Verify a receipt image offline: exit 0 authentic, 1 tampered, 2 unverifiable,
    /// 4 unconfirmed (a signer revoked after the receipt's claimed time, without the platform's
    /// evidence); 3: the command itself failed, e.g. an unreadable --trust file.
    Verify {
        /// The receipt image (PNG, or a JPEG as an MMS gateway recompressed it), or the slides
        /// of an MMS receipt top to bottom (`verify SLIDE1 SLIDE2 …`), checked as one image.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// The platform's CA certificate (PEM).
        #[arg(long)]
        trust: PathBuf,
        /// The platform's evidence file for this receipt (from the portal or the retrieval
        /// bundle): the signer is then judged at the time the platform stored it.
        #[arg(long)]
        evidence: Option<PathBuf>,
        /// The platform's revocation list (its `/crl`, DER or PEM), checked against --trust.
        #[arg(long)]
        crl: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the receipt as a PNG with the verdict on a band on top and any altered
        /// regions outlined in red.
        #[arg(long, value_name = "OUT.png")]
        annotate: Option<PathBuf>,
    },
    /// Acquirers' retrieval bundles: check one offline.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// The management platform: serve, and administer terminals.
    #[command(subcommand)]
    Platform(platform::PlatformCommand),
    /// The phone POS: enrol, sell, sync, status.
    #[command(subcommand)]
    Terminal(terminal::TerminalCommand),
    /// Settings helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The whole system on this machine: a platform (SQLite, deliveries to a local folder) and
    /// an enrolled test-card terminal serving its touch UI. Prints the URLs; Ctrl-C stops.
    Demo {
        /// Where the demo keeps its data (made on first use, reused afterwards).
        #[arg(long, default_value = "ereceipt-demo")]
        dir: PathBuf,
        /// The platform's HTTPS port (0: any free port).
        #[arg(long, default_value_t = 0)]
        platform_port: u16,
        /// The terminal UI's port (0: any free port).
        #[arg(long, default_value_t = 0)]
        ui_port: u16,
    },
    /// Make a sample CA, terminal and receipt, verify it, and print where the files are.
    Sample {
        /// Where to put the files.
        #[arg(long, default_value = "ereceipt-sample")]
        dir: PathBuf,
        /// A TrueType/OpenType font covering Chinese (default: search the usual system paths).
        #[arg(long)]
        font: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example of DATA_DIR/platform.toml.
    Example,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ca(c) => ca::run(c).map(|()| 0),
        Command::Receipt(c) => receipt::run(c).map(|()| 0),
        Command::Verify { images, trust, evidence, crl, json, annotate } => verify::run_with(
            &images,
            &verify::Trust { ca: &trust, evidence: evidence.as_deref(), crl: crl.as_deref() },
            json,
            annotate.as_deref(),
        ),
        Command::Demo { dir, platform_port, ui_port } => demo::run(&dir, platform_port, ui_port).map(|()| 0),
        Command::Sample { dir, font } => sample::run(&dir, font.as_deref()).map(|()| 0),
        Command::Bundle(c) => bundle::run(c),
        Command::Platform(c) => platform::run(c).map(|()| 0),
        Command::Terminal(c) => terminal::run(c),
        Command::Config(ConfigCommand::Example) => {
            say!("{}", ereceipt_platform::settings::EXAMPLE);
            Ok(0)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            // A receipt that cannot be checked is a verdict (2); a command that cannot run is 3.
            std::process::exit(3);
        }
    }
}

/// The error and its causes, `outer: inner: …`, like anyhow's `{:#}` but skipping a cause whose
/// text its parent already quotes: library errors keep their source for the chain and still say
/// it in their own message, which users have always seen.
fn causes(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let more = cause.to_string();
        if text.contains(&more) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&more);
    }
    text
}
