//! `ereceipt-bench reliability`: the platform and terminals as real `ereceipt` processes under
//! faults: slow connections on both listeners, SIGKILLs during uploads with deliveries, a
//! PostgreSQL restart, a full disk. Each scenario reports what held, what survived and what was
//! lost; the command exits non-zero if an invariant broke.

mod disk;
mod kill;
mod pg;
mod procs;
mod slow;
mod terminal;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

/// `ereceipt-bench reliability`'s flags. Defaults are the sizes of issue 12; `--quick` picks small
/// ones (a couple of minutes for all four) unless a size is given.
#[derive(Args)]
pub struct ReliabilityArgs {
    /// The scenarios to run (default: all four, in this order).
    #[arg(value_enum)]
    pub scenarios: Vec<Scenario>,
    /// Small sizes: about a minute per scenario.
    #[arg(long)]
    pub quick: bool,
    /// Seed of the random kill points (default: from the clock; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The `ereceipt` binary to drive (default: the one next to this program).
    #[arg(long)]
    pub ereceipt: Option<PathBuf>,
    /// slow: attacking connections, split between the main and the admin listener [2000; quick 200].
    #[arg(long)]
    pub slow_connections: Option<usize>,
    /// slow: seconds of uploads before the attack, and again during it [30; quick 8].
    #[arg(long)]
    pub slow_seconds: Option<u64>,
    /// kill: receipts sold (and uploaded, with an email each) [10000; quick 40].
    #[arg(long)]
    pub kill_receipts: Option<usize>,
    /// kill: terminals selling at once [4; quick 2].
    #[arg(long)]
    pub kill_terminals: Option<usize>,
    /// kill: mean seconds between SIGKILLs [8; quick 2].
    #[arg(long)]
    pub kill_every: Option<f64>,
    /// pg: receipts sold around the PostgreSQL restart [600; quick 30].
    #[arg(long)]
    pub pg_receipts: Option<usize>,
    /// disk: receipts sold onto the full disk [200; quick 12].
    #[arg(long)]
    pub disk_receipts: Option<usize>,
}

/// One fault scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Slow connections on both listeners while terminals upload.
    Slow,
    /// SIGKILLs of the platform and the terminals during uploads with email deliveries.
    Kill,
    /// The platform on PostgreSQL, which restarts during uploads.
    Pg,
    /// The SQLite platform's data directory fills up.
    Disk,
}

impl ReliabilityArgs {
    fn pick<T>(&self, given: Option<T>, full: T, quick: T) -> T {
        given.unwrap_or(if self.quick { quick } else { full })
    }
}

/// The end of one scenario: the invariants that broke (none: it passed).
pub struct Verdict {
    pub scenario: Scenario,
    pub broken: Vec<String>,
}

/// Runs the chosen scenarios one after the other; fails if any invariant broke.
pub fn run(args: ReliabilityArgs) -> Result<()> {
    raise_fd_limit();
    let bin = procs::Bin::find(args.ereceipt.as_deref())?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    say!("reliability run: seed {seed}, ereceipt {}", bin.0.display());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    let scenarios = if args.scenarios.is_empty() {
        vec![Scenario::Slow, Scenario::Kill, Scenario::Pg, Scenario::Disk]
    } else {
        args.scenarios.clone()
    };
    let mut verdicts = Vec::new();
    for scenario in scenarios {
        let started = std::time::Instant::now();
        say!("");
        let outcome = match scenario {
            Scenario::Slow => slow::run(&rt, &bin, &args),
            Scenario::Kill => kill::run(&rt, &bin, &args, seed),
            Scenario::Pg => pg::run(&rt, &bin, &args),
            Scenario::Disk => disk::run(&rt, &bin, &args),
        };
        let broken = match outcome {
            Ok(broken) => broken,
            Err(e) => vec![format!("the scenario could not finish: {e:#}")],
        };
        for b in &broken {
            say!("  BROKEN       {b}");
        }
        say!(
            "  verdict      {} ({:.0} s)",
            if broken.is_empty() { "held" } else { "BROKEN" },
            started.elapsed().as_secs_f64()
        );
        verdicts.push(Verdict { scenario, broken });
    }
    say!("");
    let failed: Vec<String> =
        verdicts.iter().filter(|v| !v.broken.is_empty()).map(|v| format!("{:?}", v.scenario).to_lowercase()).collect();
    anyhow::ensure!(failed.is_empty(), "invariants broke in: {} (seed {seed})", failed.join(", "));
    say!("all invariants held (seed {seed})");
    Ok(())
}

/// 2,000 attacking sockets and the clients need more descriptors than the usual soft limit of
/// 1024: raise it to the hard limit (the platform child inherits it).
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            eprintln!("cannot raise the open-file limit ({e}); it stays at {:?}", limit.current);
        }
    }
}

/// The value at quantile `p` (0..=1) of sorted `values`; the default when empty.
pub fn quantile<T: Copy + Default>(values: &[T], p: f64) -> T {
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(i).copied().unwrap_or_default()
}
