//! Shared harness for the criterion benches (`benches/*.rs`) and the one-minute
//! comparison (`examples/compare.rs`, which includes this file through `#[path]`).
//!
//! * [`backends`]: the `Ops`/`Backend` traits and one implementation per peer
//!   (shadow-vars per call and pinned, `Mutex`/`RwLock<HashMap>`, dashmap, papaya
//!   default and blocking-resize, scc `HashMap` and `HashIndex`).
//! * [`kernel`]: a model of the kernel's `klp_shadow_*` table (4096 fixed buckets,
//!   one writer spin lock, constructor under it, lock-free readers).
//! * [`workload`]: keys, operation mixes, the uniform and Zipf key streams.
//! * [`run`]: the measurement loops (throughput, latency, growth, constructor
//!   race, slow-constructor isolation).
//! * [`mem`]: a counting global allocator and the per-backend memory probe, run in
//!   a child process so no other measurement's garbage is counted.
//!
//! Every backend sees the same key sequences; every peer that takes a hasher gets
//! the same seeded foldhash.
#![allow(dead_code)]

pub(crate) mod backends;
pub(crate) mod kernel;
pub(crate) mod mem;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod workload;

use std::time::Duration;

/// Reads an environment variable as a number, with a default.
pub(crate) fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Thread counts to run, from `SV_THREADS` (e.g. `1,2,4,8,16`); default `1,2,4`.
pub(crate) fn thread_counts() -> Vec<usize> {
    match std::env::var("SV_THREADS") {
        Ok(v) => {
            let t: Vec<usize> = v
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .filter(|&n| n > 0)
                .collect();
            if t.is_empty() { vec![1, 2, 4] } else { t }
        }
        Err(_) => vec![1, 2, 4],
    }
}

/// Milliseconds from `name`, with a default.
pub(crate) fn env_ms(name: &str, default_ms: u64) -> Duration {
    Duration::from_millis(env_num(name, default_ms))
}

/// A row name usable as a criterion benchmark id (criterion turns ids into
/// directory names).
pub(crate) fn bench_id(name: &str) -> String {
    name.replace('<', "(").replace('>', ")").replace(' ', "_")
}
