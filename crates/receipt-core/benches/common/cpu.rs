//! Timing by the CPU time of the benchmark's own thread (`CLOCK_THREAD_CPUTIME_ID`) rather
//! than the wall clock: the machine's cores are shared, and a verification's cost on one core
//! is what the budgets are about. On an idle machine the two agree.

use std::time::Duration;

use rustix::time::{clock_gettime, ClockId};

fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec.try_into().unwrap_or(0), t.tv_nsec.try_into().unwrap_or(0))
}

/// Runs `f` once and returns the CPU time the calling thread spent in it.
pub fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let start = thread_cpu();
    std::hint::black_box(f());
    thread_cpu().saturating_sub(start)
}
