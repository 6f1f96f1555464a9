//! Single-thread `get` latency on hits at `SV_LAT_SIZES` entries (default
//! 10,000 and 4,000,000): a dependent chain (the next key is derived from the
//! value just read) and independent lookups, next to the floor (an
//! unsynchronized std `HashMap` with the same hasher) and a reference row:
//! the same map with every value boxed, so that its values never move, as
//! this crate's do.
//!
//! `cargo bench --bench latency`. Criterion's time per element is ns per lookup.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};

use common::backends::{BATCH, Backend, BoxedFloor, Ops, Visit, for_each_backend, rows};
use common::run::{self, LatencySet};

/// Whole batches ran `batches * BATCH >= iters` lookups: scale to `iters`.
fn per_iter(elapsed: Duration, iters: u64, batches: u64) -> Duration {
    elapsed.mul_f64(iters as f64 / (batches * BATCH as u64) as f64)
}

fn bench_row<S: Ops>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    set: &LatencySet,
    mk: impl Fn() -> S,
) {
    let mut k = 0usize;
    group.bench_function(BenchmarkId::new(common::bench_id(name), "dependent"), |b| {
        b.iter_custom(|iters| {
            let batches = iters.div_ceil(BATCH as u64);
            let t0 = Instant::now();
            run::dependent_chain(&mk, &mut k, batches);
            per_iter(t0.elapsed(), iters, batches)
        })
    });
    let mut pos = 0usize;
    group.bench_function(
        BenchmarkId::new(common::bench_id(name), "independent"),
        |b| {
            b.iter_custom(|iters| {
                let batches = iters.div_ceil(BATCH as u64);
                let t0 = Instant::now();
                run::independent_batch(&mk, &set.order, &mut pos, batches);
                per_iter(t0.elapsed(), iters, batches)
            })
        },
    );
}

struct V<'g, 'a> {
    group: &'g mut BenchmarkGroup<'a, WallTime>,
    set: &'g LatencySet,
}

impl Visit for V<'_, '_> {
    fn visit<B: Backend>(&mut self) {
        let rs = rows::<B>();
        if rs.is_empty() {
            return;
        }
        let map = B::new();
        self.set.fill(&map);
        for row in rs {
            if row.pinned {
                bench_row(self.group, row.name, self.set, || map.pin());
            } else {
                bench_row(self.group, row.name, self.set, || &map);
            }
        }
    }
}

fn latency(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("SV_LAT_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![10_000, 4_000_000]);
    for n in sizes {
        let set = LatencySet::new(n);
        let mut group = c.benchmark_group(format!("get_latency/{n}"));
        group.throughput(Throughput::Elements(1));
        {
            let floor = set.floor();
            bench_row(&mut group, "floor std HashMap", &set, || &floor);
        }
        {
            let boxed = set.boxed_floor();
            bench_row(&mut group, BoxedFloor::NAME, &set, || &boxed);
        }
        for_each_backend(&mut V {
            group: &mut group,
            set: &set,
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(400));
    targets = latency
}
criterion_main!(benches);
