//! Throughput of the three operation mixes (read-heavy 98/1/1, mixed 80/10/10,
//! write-heavy 50/25/25), uniform and Zipf keys, at `SV_THREADS` threads
//! (default 1,2,4), on maps prefilled with 100,000 of 200,000 keys.
//!
//! `cargo bench --bench throughput` (filter: `-- read-heavy/uniform`). Criterion
//! reports elements/s = operations per second of all threads together (one
//! iteration is a batch of 64 operations per thread; its time per iteration
//! is that batch's).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};

use common::backends::{BATCH, Backend, Visit, for_each_backend, rows};
use common::workload::{DISTS, MIXES, streams};
use common::{run, thread_counts};

struct Cell<'g, 'a> {
    group: &'g mut BenchmarkGroup<'a, WallTime>,
    streams: &'g [Vec<u32>],
}

impl Visit for Cell<'_, '_> {
    fn visit<B: Backend>(&mut self) {
        for row in rows::<B>() {
            let map = run::prefilled::<B>();
            let streams = self.streams;
            let mut pos = vec![0usize; streams.len()];
            let id = BenchmarkId::new(common::bench_id(row.name), format!("{}thr", streams.len()));
            self.group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let barrier = Barrier::new(streams.len());
                    let spans: Vec<_> = thread::scope(|s| {
                        let hs: Vec<_> = streams
                            .iter()
                            .zip(pos.iter_mut())
                            .map(|(stream, pos)| {
                                let (map, barrier) = (&map, &barrier);
                                s.spawn(move || {
                                    barrier.wait();
                                    let t0 = Instant::now();
                                    // One iteration = one batch per thread, so
                                    // the count criterion divides by is exact.
                                    let ops = iters * BATCH as u64;
                                    run::run_ops(map, row.pinned, stream, pos, ops);
                                    (t0, Instant::now())
                                })
                            })
                            .collect();
                        hs.into_iter().map(|h| h.join().unwrap()).collect()
                    });
                    run::wall(&spans)
                })
            });
        }
    }
}

fn throughput(c: &mut Criterion) {
    let threads = thread_counts();
    let max_t = *threads.iter().max().unwrap();
    for mix in MIXES {
        for dist in DISTS {
            let all = streams(mix, dist, max_t);
            let mut group = c.benchmark_group(format!("{}/{}", mix.name, dist.name()));
            for &t in &threads {
                group.throughput(Throughput::Elements((t * BATCH) as u64));
                for_each_backend(&mut Cell {
                    group: &mut group,
                    streams: &all[..t],
                });
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    targets = throughput
}
criterion_main!(benches);
