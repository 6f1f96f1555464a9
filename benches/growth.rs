//! Growth: inserting `SV_GROWTH_N` keys (default 1,000,000) into an empty map
//! through `alloc`, with 1 and 2 threads inserting disjoint halves.
//!
//! `cargo bench --bench growth`. Criterion's elements/s = inserts per second.
//! The kernel-style table (fixed 4096 buckets, so quadratic) is skipped here
//! unless `SV_BACKENDS` names it; `cargo run --release --example compare`
//! measures it under a time cap.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};

use common::backends::{Backend, Visit, for_each_backend, rows};
use common::{env_num, run};

struct V<'g, 'a> {
    group: &'g mut BenchmarkGroup<'a, WallTime>,
    n: usize,
    threads: usize,
}

impl Visit for V<'_, '_> {
    fn visit<B: Backend>(&mut self) {
        let kernel_asked = std::env::var("SV_BACKENDS").is_ok_and(|v| v.contains("kernel"));
        if B::NAME == "kernel-style" && !kernel_asked {
            return;
        }
        for row in rows::<B>() {
            let (n, threads) = (self.n, self.threads);
            let id = BenchmarkId::new(common::bench_id(row.name), format!("{threads}thr"));
            self.group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let g = run::growth::<B>(row.pinned, threads, n, Duration::MAX);
                            Duration::from_secs_f64(g.secs)
                        })
                        .sum()
                })
            });
        }
    }
}

fn growth(c: &mut Criterion) {
    let n = env_num("SV_GROWTH_N", 1_000_000usize);
    let mut group = c.benchmark_group(format!("growth/{n}"));
    group.throughput(Throughput::Elements(n as u64));
    // One fill per iteration, ten iterations in all (linear sampling would run
    // 55).
    group.sampling_mode(SamplingMode::Flat);
    for threads in [1, 2] {
        for_each_backend(&mut V {
            group: &mut group,
            n,
            threads,
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(2));
    targets = growth
}
criterion_main!(benches);
