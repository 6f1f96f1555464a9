//! Single-thread lookup time on hits only, on absent keys only, and on a
//! 50/50 mix, for shadow-vars through a `ShadowMapRef` and for
//! `scc::HashIndex` with one `scc::Guard` (the fastest peer of the
//! read-heavy benchmark), in the benchmarks' map: 100,000 `u64` entries, a
//! random half of 200,000 keys (parents 64 bytes apart, ids 1 and 2).
//!
//! ```text
//! cargo run --release --example hitmiss
//! ```
//!
//! Splitting the kinds of lookup shows where a mix's time goes: an absent
//! key costs its probe, a hit also its pointer and entry loads, and a mix
//! adds the mispredicted branch between the two. The two maps are measured
//! in alternating slices of 2^20 lookups; printed are the minimum and the
//! 25th percentile of 30 slices each, in nanoseconds per lookup.

use shadow_vars::{Parent, ShadowId, ShadowMap};
use std::hint::black_box;
use std::time::Instant;

const IDS: [ShadowId<u64>; 2] = [ShadowId::new(1), ShadowId::new(2)];
const KEYS: usize = 200_000;
const LOOKUPS: usize = 1 << 20;
const SLICES: usize = 30;

fn key(i: usize) -> (usize, u64) {
    (0x1000_0000 + (i / 2) * 64, 1 + (i % 2) as u64)
}

fn main() {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as usize
    };
    let present: Vec<bool> = (0..KEYS).map(|_| random() & 1 == 1).collect();
    let map = ShadowMap::new();
    let index: scc::HashIndex<(usize, u64), u64, _> =
        scc::HashIndex::with_hasher(foldhash::fast::FixedState::with_seed(7));
    for (i, _) in present.iter().enumerate().filter(|(_, p)| **p) {
        let (parent, id) = key(i);
        map.alloc(Parent::from_addr(parent), IDS[id as usize - 1], || i as u64)
            .unwrap();
        let _ = index.insert_sync((parent, id), i as u64);
    }
    let mut stream = |want: Option<bool>| -> Vec<usize> {
        (0..LOOKUPS)
            .map(|_| {
                loop {
                    let k = random() % KEYS;
                    if want.is_none_or(|w| present[k] == w) {
                        break k;
                    }
                }
            })
            .collect()
    };
    let streams = [
        ("hits", stream(Some(true))),
        ("misses", stream(Some(false))),
        ("50/50", stream(None)),
    ];
    println!("ns per lookup (min / 25th percentile of {SLICES} slices)");
    println!(
        "{:8} {:>24} {:>24}",
        "", "shadow-vars pinned", "scc HashIndex guard"
    );
    for (name, keys) in &streams {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..SLICES {
            let start = Instant::now();
            let pinned = map.pin();
            let mut sum = 0u64;
            for &k in keys {
                let (parent, id) = key(k);
                sum += pinned
                    .get(Parent::from_addr(parent), IDS[id as usize - 1])
                    .copied()
                    .unwrap_or(0);
            }
            drop(pinned);
            black_box(sum);
            ours.push(start.elapsed().as_nanos() as f64 / LOOKUPS as f64);

            let start = Instant::now();
            let guard = scc::Guard::new();
            let mut sum = 0u64;
            for &k in keys {
                sum += index.peek(&key(k), &guard).copied().unwrap_or(0);
            }
            drop(guard);
            black_box(sum);
            theirs.push(start.elapsed().as_nanos() as f64 / LOOKUPS as f64);
        }
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            format!("{:.1} / {:.1}", v[0], v[SLICES / 4])
        };
        println!(
            "{name:8} {:>24} {:>24}",
            stats(&mut ours),
            stats(&mut theirs)
        );
    }
}
