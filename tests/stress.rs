//! Multi-thread churn with checksummed values, bounded in time: every
//! operation of the API at once on a small key space, every value checked
//! against its key, every value dropped exactly once at the end.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Counters, Tracked, scaled, within};
use shadow_vars::{Parent, ShadowId, ShadowMap};

const IDS: [ShadowId<Tracked>; 4] = [
    ShadowId::new(1),
    ShadowId::new(2),
    ShadowId::new(3),
    ShadowId::new(4),
];
const PARENTS: usize = 64;

fn parent(i: usize) -> Parent {
    Parent::from_addr(0x4000_0000 + i * 48)
}

/// The checksum a value of key (parent index, id index) carries in its low bits.
fn tag(p: usize, k: usize) -> u64 {
    (p * IDS.len() + k) as u64
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn churn(map: Arc<ShadowMap>, threads: usize) {
    let c = Counters::default();
    let frees = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_millis(if cfg!(miri) { 0 } else { 1500 });
    let min_ops = scaled(20_000, 200);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (map, c, frees) = (Arc::clone(&map), c.clone(), Arc::clone(&frees));
            std::thread::spawn(move || {
                let mut s = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                let mut ops = 0usize;
                while ops < min_ops || Instant::now() < deadline {
                    ops += 1;
                    let r = xorshift(&mut s);
                    let (p, k) = ((r >> 8) as usize % PARENTS, (r >> 20) as usize % IDS.len());
                    let check = |v: &Tracked| {
                        assert_eq!(v.verify() & 0xffff, tag(p, k), "value of another key")
                    };
                    let fresh = || c.new_value((r << 16) | tag(p, k));
                    match r % 16 {
                        0..=6 => {
                            if let Some(v) = map.get(parent(p), IDS[k]) {
                                check(&v);
                            }
                        }
                        7..=8 => check(&map.get_or_alloc(parent(p), IDS[k], fresh)),
                        9 => {
                            if let Ok(v) = map.alloc(parent(p), IDS[k], fresh) {
                                check(&v);
                            }
                        }
                        10 => {
                            let made = map.try_get_or_alloc(parent(p), IDS[k], || {
                                if r & 0x100 == 0 { Ok(fresh()) } else { Err(()) }
                            });
                            if let Ok(v) = made {
                                check(&v);
                            }
                        }
                        11..=12 => {
                            if map.free_with(parent(p), IDS[k], |_, v| check(v)) {
                                frees.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        13 => {
                            let m = map.pin();
                            for q in 0..4 {
                                let pq = (p + q) % PARENTS;
                                if let Some(v) = m.get(parent(pq), IDS[k]) {
                                    assert_eq!(v.verify() & 0xffff, tag(pq, k));
                                }
                            }
                        }
                        14 => {
                            let n = map.free_parent(parent(p));
                            frees.fetch_add(n, Ordering::Relaxed);
                        }
                        _ => {
                            if r & 0xff00 == 0 {
                                let n = map.free_all_with(IDS[k], |_, v| {
                                    assert_eq!(
                                        (v.verify() & 0xffff) as usize % IDS.len(),
                                        k,
                                        "value of another id"
                                    );
                                });
                                frees.fetch_add(n, Ordering::Relaxed);
                            } else {
                                let m = map.pin();
                                for (pp, v) in m.iter(IDS[k]) {
                                    let pi = (pp.addr() - 0x4000_0000) / 48;
                                    assert_eq!(v.verify() & 0xffff, tag(pi, k));
                                }
                            }
                        }
                    }
                }
                ops
            })
        })
        .collect();
    let ops: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(ops >= min_ops * threads);
    // Quiescent: len is exact and matches a count through iteration.
    let live: usize = {
        let m = map.pin();
        IDS.iter().map(|&id| m.iter(id).count()).sum()
    };
    assert_eq!(map.len(), live);
    drop(map);
    c.wait_all_dropped(30);
}

#[test]
fn churn_4_threads_default_shards() {
    within(120, || {
        churn(Arc::new(ShadowMap::builder().capacity(0).build()), 4)
    });
}

#[test]
fn churn_4_threads_one_shard() {
    within(120, || {
        churn(
            Arc::new(ShadowMap::builder().shards(1).capacity(0).build()),
            4,
        )
    });
}

#[test]
fn churn_8_threads_many_shards() {
    within(120, || {
        churn(Arc::new(ShadowMap::builder().shards(64).build()), 8)
    });
}
