//! The bench's report on stdout, in the lines the README's benchmark tables quote: backend,
//! throughput, latency percentiles, delivery delays and CPU time per receipt.

use anyhow::Result;

use crate::load::Run;
use crate::setup::UploadArgs;

/// Everything the report shows.
pub struct Figures<'a> {
    pub args: &'a UploadArgs,
    pub backend: &'static str,
    /// Receipts in the store at the end.
    pub stored: i64,
    pub run: Run,
    /// Milliseconds from storing to the relay's acceptance, when delivering.
    pub delivery_delays: Option<Vec<i64>>,
}

/// The value at quantile `p` (0..=1) of sorted `values`; the default when empty.
fn quantile<T: Copy + Default>(values: &[T], p: f64) -> T {
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(i).copied().unwrap_or_default()
}

/// Prints the report; fails when the store holds a different number of receipts than were
/// acknowledged.
pub fn print(f: &Figures<'_>) -> Result<()> {
    let uploaded = f.run.latencies.len();
    let ms = |p: f64| quantile(&f.run.latencies, p).as_secs_f64() * 1000.0;
    say!("backend        {}", f.backend);
    say!("terminals      {}", f.args.terminals.max(1));
    say!("receipts       {uploaded} uploaded, {} stored", f.stored);
    match f.args.rate {
        Some(r) => say!("offered rate   {r:.0}/s (open loop)"),
        None => say!("mode           closed loop (each terminal uploads as fast as acknowledged)"),
    }
    say!("throughput     {:.0} receipts/s", uploaded as f64 / f.run.wall.as_secs_f64());
    say!("latency        p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms", ms(0.5), ms(0.9), ms(0.99), ms(1.0));
    if let Some(delays) = &f.delivery_delays {
        let mut delays = delays.clone();
        delays.sort_unstable();
        say!(
            "delivery       {} emails sent; acknowledgement → accepted by the relay: p50 {} ms, p99 {} ms, max {} ms",
            delays.len(),
            quantile(&delays, 0.5),
            quantile(&delays, 0.99),
            quantile(&delays, 1.0)
        );
    }
    if let Some(((p0, a0), (p1, a1))) = f.run.cpu {
        // Clock ticks are 1/100 s on Linux.
        let platform_ms = (p1 - p0) as f64 * 10.0 / uploaded as f64;
        let all_ms = (a1 - a0) as f64 * 10.0 / uploaded as f64;
        say!(
            "cpu/receipt    platform {platform_ms:.2} ms, whole process {all_ms:.2} ms (platform alone: ~{:.0} receipts/s per core)",
            1000.0 / platform_ms.max(0.001)
        );
    }
    anyhow::ensure!(f.stored as usize == uploaded, "stored {} receipts but {uploaded} were acknowledged", f.stored);
    Ok(())
}
