//! What one lookup of a present key costs, in a loop of independent lookups
//! (single thread): shadow-vars through a held pin, against a std `HashMap`
//! with every value boxed (std's table with values that never move) and
//! with inline values (the latency floor). All three use the same keys; the
//! std maps use the benchmarks' seeded foldhash.
//!
//! Run under cachegrind by `scripts/hitcost.sh`, which subtracts a run with
//! no lookups from a run with some, so the setup is not counted. Alone it
//! prints ns per lookup (noisy; the instruction counts are what repeat).
//!
//! `cargo run --release --example hitcost -- <shadow-vars|boxed|inline> [entries] [rounds]`
//! (defaults: 10000 entries, 30 rounds of 2^20 lookups).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use shadow_vars::{Parent, ShadowId, ShadowMap, ShadowMapRef};

const ID: ShadowId<u64> = ShadowId::new(1);
type Hasher = foldhash::fast::FixedState;

/// Parent `i`: 64 bytes apart, as the benchmarks space them.
fn parent(i: usize) -> usize {
    0x10_0000 + i * 64
}

#[inline(never)]
fn lookups_sv(m: &ShadowMapRef<'_>, order: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &k in order {
        let v = m.get(Parent::from_addr(parent(k as usize)), ID);
        sum = sum.wrapping_add(v.copied().unwrap_or(0));
    }
    sum
}

#[inline(never)]
fn lookups_boxed(m: &HashMap<(usize, u64), Box<u64>, Hasher>, order: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &k in order {
        let v = m.get(&(parent(k as usize), 1)).map(|v| **v);
        sum = sum.wrapping_add(v.unwrap_or(0));
    }
    sum
}

#[inline(never)]
fn lookups_inline(m: &HashMap<(usize, u64), u64, Hasher>, order: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &k in order {
        let v = m.get(&(parent(k as usize), 1)).copied();
        sum = sum.wrapping_add(v.unwrap_or(0));
    }
    sum
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("shadow-vars", String::as_str);
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(30);
    // A fixed xorshift stream of keys, all present.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let order: Vec<u32> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as u32
        })
        .collect();
    let hasher = || foldhash::fast::FixedState::with_seed(0x5AD0_5EED);
    let t;
    match which {
        "shadow-vars" => {
            let map = ShadowMap::new();
            for i in 0..n {
                map.insert(Parent::from_addr(parent(i)), ID, i as u64)
                    .unwrap();
            }
            let m = map.pin();
            t = Instant::now();
            for _ in 0..rounds {
                black_box(lookups_sv(&m, &order));
            }
        }
        "boxed" => {
            let mut map = HashMap::with_hasher(hasher());
            for i in 0..n {
                map.insert((parent(i), 1), Box::new(i as u64));
            }
            t = Instant::now();
            for _ in 0..rounds {
                black_box(lookups_boxed(&map, &order));
            }
        }
        "inline" => {
            let mut map = HashMap::with_hasher(hasher());
            for i in 0..n {
                map.insert((parent(i), 1), i as u64);
            }
            t = Instant::now();
            for _ in 0..rounds {
                black_box(lookups_inline(&map, &order));
            }
        }
        other => panic!("unknown map {other:?}: shadow-vars, boxed or inline"),
    }
    let lookups = (rounds * order.len()).max(1);
    println!(
        "{which}: {n} entries, {:.2} ns per lookup",
        t.elapsed().as_secs_f64() * 1e9 / lookups as f64
    );
}
