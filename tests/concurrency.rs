//! SPEC §2: coalescing creators, constructors outside locks, failure and
//! panic with waiters, re-entrancy. Every wait is bounded (`within`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Counters, scaled, within};
use shadow_vars::{ShadowId, ShadowMap, TryAllocError};

const A: ShadowId<u64> = ShadowId::new(1);
const B: ShadowId<u64> = ShadowId::new(2);

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

/// Parents that live for the whole test binary (addresses must stay unique).
fn parents(n: usize) -> &'static [u64] {
    Box::leak(vec![0u64; n].into_boxed_slice())
}

#[test]
fn eight_threads_racing_get_or_alloc_run_one_ctor_per_key() {
    within(60, || {
        let threads = 8;
        let objs = parents(scaled(512, 8));
        let map = leak(ShadowMap::builder().capacity(0).build());
        let runs: &'static [AtomicUsize] =
            Box::leak((0..objs.len() * 2).map(|_| AtomicUsize::new(0)).collect());
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut addrs = vec![0usize; objs.len() * 2];
                    for step in 0..objs.len() {
                        // Each thread walks the keys in its own order.
                        let i = (step * (2 * t + 1) + t * 7) % objs.len();
                        for (k, id) in [A, B].into_iter().enumerate() {
                            let slot = i * 2 + k;
                            let v = map.get_or_alloc(&objs[i], id, || {
                                runs[slot].fetch_add(1, Ordering::SeqCst);
                                std::thread::yield_now();
                                slot as u64
                            });
                            assert_eq!(*v, slot as u64);
                            addrs[slot] = v.as_ptr() as usize;
                        }
                    }
                    addrs
                })
            })
            .collect();
        let all: Vec<Vec<usize>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for slot in 0..objs.len() * 2 {
            assert_eq!(
                runs[slot].load(Ordering::SeqCst),
                1,
                "ctor runs for key {slot}"
            );
            assert!(
                all.iter().all(|a| a[slot] == all[0][slot]),
                "one address per key"
            );
        }
        assert_eq!(map.len(), objs.len() * 2);
    });
}

#[test]
fn slow_ctor_blocks_only_its_own_key() {
    within(60, || {
        // One shard: every key below shares the shard of the slow one, so
        // this also proves the ctor runs without the shard lock.
        let map = leak(ShadowMap::builder().shards(1).build());
        let objs = parents(64);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let slow = std::thread::spawn(move || {
            *map.get_or_alloc(&objs[0], A, || {
                entered_tx.send(()).unwrap();
                release_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("never released");
                100
            })
        });
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // While the constructor runs: the key reads as absent, without waiting.
        assert!(map.get(&objs[0], A).is_none());
        assert!(!map.contains(&objs[0], A));
        // Other keys: created, read, freed, all on the same shard.
        for (i, o) in objs[1..].iter().enumerate() {
            assert_eq!(*map.get_or_alloc(o, A, || i as u64), i as u64);
            map.alloc(o, B, || 7).unwrap();
        }
        assert_eq!(*map.get(&objs[5], A).unwrap(), 4);
        assert_eq!(map.free_all(B), 63);
        assert!(map.free(&objs[1], A));
        assert_eq!(map.free_parent(&objs[2]), 1);
        // Same parent, other id: not blocked either.
        map.alloc(&objs[0], B, || 8).unwrap();
        // A second creator of the slow key waits for it (and never runs its ctor).
        let waiter = std::thread::spawn(move || {
            *map.get_or_alloc(&objs[0], A, || panic!("waiter ctor ran"))
        });
        std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
        assert!(!waiter.is_finished(), "waiter did not wait");
        release_tx.send(()).unwrap();
        assert_eq!(slow.join().unwrap(), 100);
        assert_eq!(waiter.join().unwrap(), 100);
        assert_eq!(*map.get(&objs[0], A).unwrap(), 100);
    });
}

/// A constructor that fails (panic or error) while another creator waits:
/// nothing is left behind, the waiter retries as the new constructor, and
/// the failure goes to the caller whose constructor it was.
fn failing_ctor_with_waiter(panic: bool) {
    within(60, move || {
        let map = leak(ShadowMap::new());
        let obj = leak(0u8);
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (fail_tx, fail_rx) = mpsc::channel::<()>();
        let first = std::thread::spawn(move || {
            std::panic::catch_unwind(|| {
                map.try_get_or_alloc(obj, A, || {
                    entered_tx.send(()).unwrap();
                    fail_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                    if panic {
                        panic!("ctor panicked on purpose");
                    }
                    Err("ctor failed on purpose")
                })
                .map(|v| *v)
            })
        });
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let waiter_ran = leak(AtomicBool::new(false));
        let waiter = std::thread::spawn(move || {
            *map.get_or_alloc(obj, A, || {
                waiter_ran.store(true, Ordering::SeqCst);
                2
            })
        });
        std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
        assert!(!waiter.is_finished());
        fail_tx.send(()).unwrap();
        let outcome = first.join().unwrap();
        if panic {
            let msg = *outcome.unwrap_err().downcast::<&str>().unwrap();
            assert_eq!(msg, "ctor panicked on purpose");
        } else {
            assert_eq!(outcome.unwrap(), Err("ctor failed on purpose"));
        }
        assert_eq!(waiter.join().unwrap(), 2);
        assert!(
            waiter_ran.load(Ordering::SeqCst),
            "the waiter became the constructor"
        );
        assert_eq!(*map.get(obj, A).unwrap(), 2);
        assert_eq!(map.len(), 1);
    });
}

#[test]
fn ctor_panic_with_waiter() {
    failing_ctor_with_waiter(true);
}

#[test]
fn ctor_error_with_waiter() {
    failing_ctor_with_waiter(false);
}

/// A waiter parked on a constructor that fails may find its entry freed by
/// the time it wakes: the failed entry is retired, and the epoch can move
/// on while the waiter is unpinned. A boxed value (too large for the slab)
/// makes that free a real deallocation, which Miri checks against every
/// reference still live in the waiter. `scripts/miri.sh` runs it a second
/// time with `-Zmiri-preemption-rate=0`, where the free does happen while
/// the woken waiter is still inside its wait.
#[test]
fn failed_entry_freed_while_its_waiter_is_parked() {
    const BIG: ShadowId<[u64; 32]> = ShadowId::new(3);
    within(60, || {
        let map = leak(ShadowMap::new());
        let obj = leak(0u8);
        let mut waiter = None;
        let made = map.try_get_or_alloc(obj, BIG, || {
            let w = std::thread::spawn(move || map.get_or_alloc(obj, BIG, || [7; 32])[0]);
            // Long enough for the waiter to find the entry and park.
            std::thread::sleep(Duration::from_millis(if cfg!(miri) { 200 } else { 50 }));
            assert!(!w.is_finished());
            waiter = Some(w);
            Err::<[u64; 32], _>("failed on purpose")
        });
        assert_eq!(made.err(), Some("failed on purpose"));
        // Reclaim the failed entry, if the woken waiter has not run yet.
        for _ in 0..8 {
            crossbeam_epoch::pin().flush();
        }
        assert_eq!(waiter.unwrap().join().unwrap(), 7);
        assert_eq!(map.get(obj, BIG).unwrap()[0], 7);
    });
}

/// `insert` beside a running constructor of the same key waits for it, as
/// `alloc` does: if the constructor fails, the insert creates; if it
/// succeeds, the value comes back.
#[test]
fn insert_waits_for_a_running_constructor() {
    for fail in [true, false] {
        within(60, move || {
            let map = leak(ShadowMap::new());
            let obj = leak(0u8);
            let (entered_tx, entered_rx) = mpsc::channel::<()>();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let first = std::thread::spawn(move || {
                map.try_alloc(obj, A, || {
                    entered_tx.send(()).unwrap();
                    go_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                    if fail {
                        Err("failed on purpose")
                    } else {
                        Ok(1)
                    }
                })
                .map(|v| *v)
            });
            entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            let inserter = std::thread::spawn(move || map.insert(obj, A, 2).map(|v| *v));
            std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
            assert!(
                !inserter.is_finished(),
                "insert must wait for the constructor"
            );
            go_tx.send(()).unwrap();
            let created = first.join().unwrap();
            let inserted = inserter.join().unwrap();
            if fail {
                assert_eq!(created, Err(TryAllocError::Ctor("failed on purpose")));
                assert_eq!(inserted, Ok(2));
            } else {
                assert_eq!(created, Ok(1));
                assert_eq!(inserted, Err(2));
            }
            assert_eq!(*map.get(obj, A).unwrap(), if fail { 2 } else { 1 });
            assert_eq!(map.len(), 1);
        });
    }
}

/// Threads inserting the same fresh keys: exactly one insert per key wins,
/// every other gets its value back, and every value is dropped once.
#[test]
fn racing_inserts_create_each_key_once() {
    const T: ShadowId<common::Tracked> = ShadowId::new(31);
    let c = Counters::default();
    let keys = scaled(2000, 20);
    let threads = 4;
    let map = leak(ShadowMap::builder().shards(2).build());
    let objs = parents(keys);
    let won: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let c = c.clone();
                s.spawn(move || {
                    let mut won = 0;
                    for (i, o) in objs.iter().enumerate() {
                        let v = c.new_value((t * keys + i) as u64);
                        match map.insert(o, T, v) {
                            Ok(mine) => {
                                assert_eq!(mine.verify(), (t * keys + i) as u64);
                                won += 1;
                            }
                            Err(back) => {
                                assert_eq!(back.verify(), (t * keys + i) as u64);
                                let there = map.get(o, T).expect("the winner's value");
                                assert_eq!(there.verify() as usize % keys, i);
                            }
                        }
                    }
                    won
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(won, keys);
    assert_eq!(map.len(), keys);
    assert_eq!(map.free_all(T), keys);
    c.wait_all_dropped(30);
    assert_eq!(c.created(), threads * keys);
}

#[test]
fn ctor_panic_and_error_without_waiter_leave_nothing() {
    let map = ShadowMap::new();
    let obj = 0u8;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.get_or_alloc(&obj, A, || panic!("boom"))
    }));
    assert!(r.is_err());
    assert!(map.is_empty() && map.get(&obj, A).is_none());
    assert_eq!(
        map.try_alloc(&obj, A, || Err::<u64, _>(1)).unwrap_err(),
        shadow_vars::TryAllocError::Ctor(1)
    );
    assert!(map.is_empty());
    // Never poisoned: the key works afterwards.
    assert_eq!(*map.alloc(&obj, A, || 3).unwrap(), 3);
}

#[test]
fn recursive_initialization_panics_instead_of_deadlocking() {
    within(30, || {
        let map = leak(ShadowMap::builder().shards(1).build());
        let obj = leak(0u8);
        for op in 0..6 {
            let r = std::panic::catch_unwind(|| {
                map.get_or_alloc(obj, A, || match op {
                    0 => *map.get_or_alloc(obj, A, || 1),
                    1 => map.alloc(obj, A, || 1).map(|v| *v).unwrap_or(0),
                    2 => map.insert(obj, A, 1).map(|v| *v).unwrap_or(0),
                    3 => u64::from(map.free(obj, A)),
                    4 => map.free_parent(obj) as u64,
                    // After a nested constructor (of B) has returned, this
                    // one (of A) is still known as running.
                    _ => {
                        let b = *map.get_or_alloc(obj, B, || 2);
                        assert!(map.free(obj, B));
                        b + *map.get_or_alloc(obj, A, || 1)
                    }
                });
            });
            let msg = *r.expect_err("must panic").downcast::<String>().unwrap();
            assert!(msg.contains("recursive initialization"), "{msg}");
            assert!(
                msg.contains(&format!("{:#x}", obj as *const u8 as usize)),
                "names the key: {msg}"
            );
            assert!(map.is_empty(), "nothing left behind");
        }
        // A constructor may use the map for other keys, same shard included,
        // and `get` of its own key just sees it absent.
        let v = map.get_or_alloc(obj, A, || {
            assert!(map.get(obj, A).is_none());
            let other = *map.get_or_alloc(obj, B, || 5);
            map.free(obj, B);
            other + 1
        });
        assert_eq!(*v, 6);
    });
}

/// `free_parent` called by a constructor of one of the parent's keys, while
/// another thread constructs a second key of that parent and waits for the
/// first: `free_parent` panics (its own key can never be ready) instead of
/// waiting for the other constructor first, which would never end.
#[test]
fn free_parent_in_a_constructor_panics_before_waiting_on_others() {
    within(30, || {
        let map = leak(ShadowMap::builder().shards(1).build());
        let obj = leak(0u8);
        let (running_tx, running_rx) = mpsc::channel::<()>();
        let mut other = None;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.get_or_alloc(obj, A, || {
                // The second key, linked after ours (its id is listed later),
                // whose constructor waits for ours.
                other = Some(std::thread::spawn(move || {
                    *map.get_or_alloc(obj, B, || {
                        running_tx.send(()).unwrap();
                        *map.get_or_alloc(obj, A, || 7) + 1
                    })
                }));
                running_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                map.free_parent(obj) as u64
            });
        }));
        let msg = *r.expect_err("must panic").downcast::<String>().unwrap();
        assert!(msg.contains("recursive initialization"), "{msg}");
        // Our failed creation left the first key to the other thread.
        assert_eq!(other.unwrap().join().unwrap(), 8);
        assert_eq!(*map.get(obj, A).unwrap(), 7);
    });
}

#[test]
fn free_waits_for_a_running_constructor() {
    within(60, || {
        let map = leak(ShadowMap::new());
        let obj = leak(0u8);
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let creator = std::thread::spawn(move || {
            *map.get_or_alloc(obj, A, || {
                entered_tx.send(()).unwrap();
                go_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                9
            })
        });
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let freer = std::thread::spawn(move || map.free(obj, A));
        std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 30 }));
        assert!(!freer.is_finished(), "free must wait for the constructor");
        go_tx.send(()).unwrap();
        assert_eq!(creator.join().unwrap(), 9);
        assert!(freer.join().unwrap(), "free saw the constructed value");
        assert!(map.get(obj, A).is_none());
    });
}

#[test]
fn readers_never_see_freed_or_torn_values() {
    const T: ShadowId<common::Tracked> = ShadowId::new(3);
    within(60, || {
        let c = common::Counters::default();
        let map = leak(ShadowMap::builder().capacity(0).build());
        let objs = parents(16);
        let stop = leak(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut seen = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for (i, o) in objs.iter().enumerate() {
                            if let Some(v) = map.get(o, T) {
                                assert_eq!(v.verify() % 16, i as u64);
                                seen += 1;
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        let rounds = scaled(2000, 10) as u64;
        for r in 0..rounds {
            for (i, o) in objs.iter().enumerate() {
                map.alloc(o, T, || c.new_value(r * 16 + i as u64)).unwrap();
            }
            for o in objs.iter() {
                assert!(map.free_with(o, T, |_, v| {
                    v.verify();
                }));
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        c.wait_all_dropped(20);
        assert_eq!(c.created(), rounds as usize * 16);
    });
}

#[test]
fn a_running_constructor_does_not_hold_back_reclamation() {
    const T: ShadowId<common::Tracked> = ShadowId::new(4);
    within(60, || {
        let c = common::Counters::default();
        let map = leak(ShadowMap::new());
        let (slow_obj, other) = (leak(0u8), leak(0u8));
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let creator = std::thread::spawn(move || {
            *map.get_or_alloc(slow_obj, A, || {
                entered_tx.send(()).unwrap();
                go_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                1
            })
        });
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // While that constructor blocks, a value freed here is dropped: the
        // constructing thread is not pinned (ShadowMap's methods own their pin
        // and drop it around the constructor).
        map.alloc(other, T, || c.new_value(5)).unwrap();
        assert!(map.free(other, T));
        c.wait_all_dropped(20);
        go_tx.send(()).unwrap();
        assert_eq!(creator.join().unwrap(), 1);
    });
}

/// Starts `map.get_or_alloc(obj, A)` on another thread with a constructor
/// that returns `value` once released, and returns when that constructor is
/// running: the creator's handle, and a thread that releases it after 100 ms
/// (1 ms under Miri).
fn constructor_held_open(
    map: &'static ShadowMap,
    obj: &'static u8,
    value: u64,
) -> (std::thread::JoinHandle<u64>, std::thread::JoinHandle<()>) {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let creator = std::thread::spawn(move || {
        *map.get_or_alloc(obj, A, || {
            entered_tx.send(()).unwrap();
            go_rx.recv_timeout(Duration::from_secs(20)).unwrap();
            value
        })
    });
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 100 }));
        go_tx.send(()).unwrap();
    });
    (creator, release)
}

/// `free_parent` waits for another thread's running constructor of
/// that parent, so nothing of the parent is left behind.
#[test]
fn free_parent_waits_for_a_running_constructor_of_that_parent() {
    within(60, || {
        let map = leak(ShadowMap::new());
        let obj = leak(0u8);
        map.alloc(obj, B, || 1).unwrap();
        let (creator, release) = constructor_held_open(map, obj, 9);
        // Called while A's constructor runs: must wait for it, then free both.
        assert_eq!(
            map.free_parent(obj),
            2,
            "free_parent left a variable behind"
        );
        release.join().unwrap();
        assert_eq!(creator.join().unwrap(), 9);
        assert!(map.get(obj, A).is_none() && map.get(obj, B).is_none());
        assert!(map.is_empty());
    });
}

/// Re-entrancy is per map: a constructor in one map that needs the same
/// (parent, id) of another map, being built there by another thread, waits
/// for it instead of panicking.
#[test]
fn a_constructor_waits_for_the_same_key_in_another_map() {
    within(30, || {
        let (m1, m2) = (leak(ShadowMap::new()), leak(ShadowMap::new()));
        let obj = leak(0u8);
        let (other, release) = constructor_held_open(m2, obj, 7);
        let v = m1.get_or_alloc(obj, A, || *m2.get_or_alloc(obj, A, || 1) + 1);
        assert_eq!(*v, 8);
        release.join().unwrap();
        assert_eq!(other.join().unwrap(), 7);
    });
}
