//! One throughput mix on one key distribution, a few seconds per row and
//! thread count: the loop to put under a profiler, or to alternate between
//! two builds when `compare`'s 20 ms cells are too short to tell them apart.
//!
//! ```text
//! SV_MIX=write-heavy SV_THREADS=1,2 SV_BACKENDS="shadow-vars pin,HashIndex guard" \
//!     cargo run --release --example onemix
//! perf record -g -e cpu-clock -- target/release/examples/onemix    # same knobs
//! ```
//!
//! Knobs (environment): `SV_MIX` (`read-heavy`, `mixed`, `write-heavy`;
//! default `write-heavy`), `SV_DIST` (`uniform`, `zipf`; default `uniform`),
//! `SV_THREADS` (default `1,2,4`), `SV_BACKENDS` (substrings of row names, as
//! in `compare`), `SV_RUN_MS` (default 4000) timed after `SV_WARM_MS`
//! (default 50) untimed. Each selected row gets one map with the benchmarks'
//! prefill (100,000 of 200,000 keys), kept across thread counts, as in
//! `compare`; the rows are measured one after the other, not interleaved.

#[path = "../benches/common/mod.rs"]
mod common;

use common::workload::{self, DISTS, MIXES};
use common::{env_ms, run, thread_counts};

fn main() {
    let mix_name = std::env::var("SV_MIX").unwrap_or_else(|_| "write-heavy".into());
    let dist_name = std::env::var("SV_DIST").unwrap_or_else(|_| "uniform".into());
    let mix = MIXES
        .into_iter()
        .find(|m| m.name == mix_name)
        .unwrap_or_else(|| {
            let names: Vec<_> = MIXES.iter().map(|m| m.name).collect();
            panic!("SV_MIX={mix_name:?}: expected one of {names:?}")
        });
    let dist = DISTS
        .into_iter()
        .find(|d| d.name() == dist_name)
        .unwrap_or_else(|| panic!("SV_DIST={dist_name:?}: expected uniform or zipf"));
    let threads = thread_counts();
    let (warm, run_for) = (env_ms("SV_WARM_MS", 50), env_ms("SV_RUN_MS", 4000));
    let streams = workload::streams(mix, dist, *threads.iter().max().unwrap());
    let mut contestants = run::contestants();
    assert!(!contestants.is_empty(), "SV_BACKENDS selects no row");
    println!(
        "{} {}: Mops/s, all threads together, {} ms timed after {} ms untimed",
        mix.name,
        dist.name(),
        run_for.as_millis(),
        warm.as_millis()
    );
    for &t in &threads {
        for c in &mut contestants {
            let ops = (c.measure)(&streams[..t], warm, run_for);
            println!("{:28} {t:>2} thr {:>9.2}", c.row.name, ops / 1e6);
        }
    }
}
