//! What one `crossbeam_epoch::pin()` (and its unpin) costs as threads are
//! added: the fixed cost of every per-call `ShadowMap` method, measured
//! alone, with no map.
//!
//! ```text
//! cargo run --release --example pinscale            # threads 1,2,4 (SV_THREADS)
//! SV_THREADS=1,2,4,8,16 cargo run --release --example pinscale
//! ```
//!
//! Each thread pins and unpins in a loop for 200 ms; printed are the pins
//! per second of all threads together and the nanoseconds one pin takes
//! its thread. A pin is a compare-and-swap on the thread's own epoch slot,
//! but every 128th pin also tries to advance the global epoch, which reads
//! every registered thread's slot: lines the other threads keep writing. So
//! per-thread cost grows with the thread count, while a `ShadowMapRef`
//! (`map.pin()`) pays one pin per batch.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let threads: Vec<usize> = std::env::var("SV_THREADS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|t| {
            t.trim()
                .parse()
                .expect("SV_THREADS: comma-separated counts")
        })
        .collect();
    println!(
        "{:>8} {:>14} {:>16}",
        "threads", "Mpins/s (all)", "ns per pin"
    );
    for &n in &threads {
        let barrier = Barrier::new(n + 1);
        let stop = AtomicBool::new(false);
        let pins: Vec<(u64, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let (barrier, stop) = (&barrier, &stop);
                    s.spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        let mut count = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..256 {
                                black_box(crossbeam_epoch::pin());
                            }
                            count += 256;
                        }
                        (count, start.elapsed().as_secs_f64())
                    })
                })
                .collect();
            barrier.wait();
            std::thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Relaxed);
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total: f64 = pins.iter().map(|&(c, t)| c as f64 / t).sum();
        let per_pin = pins.iter().map(|&(c, t)| t * 1e9 / c as f64).sum::<f64>() / n as f64;
        println!("{n:>8} {:>14.1} {:>16.1}", total / 1e6, per_pin);
    }
}
