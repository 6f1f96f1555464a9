//! SPEC §2.5, §2.7, §2.8: the table grows from nothing to a million entries
//! (and shrinks back), values never move, and everything is dropped once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{Counters, Tracked, scaled, within};
use shadow_vars::{ShadowId, ShadowMap};

const V: ShadowId<u64> = ShadowId::new(1);
const T: ShadowId<Tracked> = ShadowId::new(2);

/// Distinct fake parent addresses (never dereferenced).
fn addr(i: usize) -> shadow_vars::Parent {
    shadow_vars::Parent::from_addr(0x1000_0000 + i * 64)
}

fn grow_and_check(map: &ShadowMap, n: usize) {
    let m = map.pin();
    let addrs: Vec<*const u64> = (0..n)
        .map(|i| m.alloc(addr(i), V, || i as u64).unwrap() as *const u64)
        .collect();
    assert_eq!(map.len(), n);
    for (i, &a) in addrs.iter().enumerate() {
        let v = m.get(addr(i), V).unwrap();
        assert_eq!(v as *const u64, a, "value {i} moved");
        assert_eq!(*v, i as u64);
    }
    assert!(m.get(addr(n), V).is_none());
}

#[test]
fn grows_to_a_million_with_stable_addresses() {
    let n = scaled(1_000_000, 2_000);
    let map = ShadowMap::new();
    grow_and_check(&map, n);
    assert_eq!(map.free_all(V), n);
    assert!(map.is_empty());
    // Shrunk tables still work.
    grow_and_check(&map, 1000.min(n));
}

#[test]
fn one_shard_grows_alone() {
    let map = ShadowMap::builder().shards(1).capacity(0).build();
    grow_and_check(&map, scaled(200_000, 1_000));
}

#[test]
fn free_all_of_a_million_drops_each_once() {
    let n = scaled(1_000_000, 1_000);
    let c = Counters::default();
    let map = ShadowMap::new();
    {
        let m = map.pin();
        for i in 0..n {
            m.alloc(addr(i), T, || c.new_value(i as u64)).unwrap();
        }
    }
    let mut sum = 0u64;
    assert_eq!(map.free_all_with(T, |_, v| sum += v.verify()), n);
    assert_eq!(sum, (0..n as u64).sum());
    assert!(map.is_empty());
    c.wait_all_dropped(60);
    assert_eq!(c.created(), n);
}

#[test]
fn frees_one_by_one_then_map_drop() {
    let n = scaled(100_000, 500);
    let c = Counters::default();
    {
        let map = ShadowMap::builder().capacity(0).build();
        for i in 0..n {
            map.alloc(addr(i), T, || c.new_value(i as u64)).unwrap();
        }
        for i in (0..n).step_by(2) {
            assert!(map.free(addr(i), T));
        }
        assert_eq!(map.len(), n / 2);
    }
    c.wait_all_dropped(60);
    assert_eq!(c.created(), n);
}

#[test]
fn growth_never_hides_entries_from_readers() {
    within(120, || {
        let map: &'static ShadowMap =
            Box::leak(Box::new(ShadowMap::builder().shards(2).capacity(0).build()));
        let stable = scaled(1_000, 20);
        for i in 0..stable {
            map.alloc(addr(i), V, || i as u64).unwrap();
        }
        let done: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut rounds = 0;
                    while !done.load(Ordering::Relaxed) || rounds == 0 {
                        let m = map.pin();
                        for i in 0..stable {
                            assert_eq!(
                                m.get(addr(i), V).copied(),
                                Some(i as u64),
                                "entry {i} lost during growth"
                            );
                        }
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        // Grow through many doublings, then shrink back, while readers read.
        let extra = scaled(300_000, 500);
        for i in stable..stable + extra {
            map.alloc(addr(i), V, || i as u64).unwrap();
        }
        for i in stable..stable + extra {
            assert!(map.free(addr(i), V));
        }
        done.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        assert_eq!(map.len(), stable);
    });
}
