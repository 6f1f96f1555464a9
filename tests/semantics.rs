//! Every row of SPEC §1 (the kernel's semantics), single-threaded.

mod common;

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::Counters;
use shadow_vars::{AllocError, Parent, ShadowId, ShadowMap, TryAllocError, global};

const A: ShadowId<u64> = ShadowId::new(1);
const B: ShadowId<u64> = ShadowId::new(2);

#[test]
fn get_returns_none_then_the_value() {
    let map = ShadowMap::new();
    let obj = Box::new(0u32);
    assert!(map.get(&*obj, A).is_none());
    assert!(!map.contains(&*obj, A));
    map.alloc(&*obj, A, || 5).unwrap();
    assert_eq!(*map.get(&*obj, A).unwrap(), 5);
    assert!(map.contains(&*obj, A));
}

#[test]
fn alloc_on_existing_fails_and_leaves_it_untouched() {
    let map = ShadowMap::new();
    let obj = 0u8;
    let ran = Cell::new(0);
    map.alloc(&obj, A, || 1).unwrap();
    let err = map.alloc(&obj, A, || {
        ran.set(ran.get() + 1);
        2
    });
    assert_eq!(err.unwrap_err(), AllocError::Exists);
    assert_eq!(ran.get(), 0, "ctor must not run for an existing entry");
    assert_eq!(*map.get(&obj, A).unwrap(), 1);
    assert_eq!(map.len(), 1);
    // Display / Error are meaningful.
    assert!(AllocError::Exists.to_string().contains("already exists"));
    let _: &dyn std::error::Error = &AllocError::Exists;
}

#[test]
fn insert_creates_or_gives_the_value_back() {
    // Slab-sized and boxed values: both paths link a complete entry, and a
    // value given back is the caller's again (the map never drops it).
    const S: ShadowId<common::Tracked> = ShadowId::new(21);
    #[derive(Debug)]
    struct Big(common::Tracked, #[allow(dead_code)] [u64; 8]);
    const L: ShadowId<Big> = ShadowId::new(22);
    let c = Counters::default();
    let obj = 0u8;
    {
        let map = ShadowMap::new();
        assert_eq!(map.insert(&obj, S, c.new_value(1)).unwrap().verify(), 1);
        let back = map.insert(&obj, S, c.new_value(2)).unwrap_err();
        assert_eq!(back.verify(), 2);
        assert_eq!(map.get(&obj, S).unwrap().verify(), 1, "existing untouched");
        drop(back);
        assert_eq!(c.dropped(), 1, "the value given back was dropped by us");
        let big = map.insert(&obj, L, Big(c.new_value(3), [3; 8])).unwrap();
        assert_eq!(big.0.verify(), 3);
        drop(big);
        let back = map
            .insert(&obj, L, Big(c.new_value(4), [4; 8]))
            .unwrap_err();
        assert_eq!(back.0.verify(), 4);
        drop(back);
        assert_eq!(map.len(), 2);
        // An inserted value is freed like any other, and the key reused.
        assert!(map.free(&obj, S));
        assert_eq!(map.insert(&obj, S, c.new_value(5)).unwrap().verify(), 5);
        // An `alloc` after `insert` sees it; `insert` after `alloc` too.
        assert!(map.alloc(&obj, S, || unreachable!()).is_err());
        let m = map.pin();
        assert_eq!(m.insert(&obj, B, 7), Ok(&7));
        assert_eq!(m.insert(&obj, B, 8), Err(8));
        assert_eq!(*map.get_or_alloc(&obj, B, || unreachable!()), 7);
    }
    c.wait_all_dropped(10);
    assert_eq!(c.created(), 5);
}

#[test]
fn get_or_alloc_returns_existing_without_running_ctor() {
    let map = ShadowMap::new();
    let obj = 0u8;
    let runs = Cell::new(0);
    let first = map.get_or_alloc(&obj, A, || {
        runs.set(runs.get() + 1);
        10
    });
    let addr = first.as_ptr();
    drop(first);
    let second = map.get_or_alloc(&obj, A, || {
        runs.set(runs.get() + 1);
        20
    });
    assert_eq!(*second, 10, "new args ignored");
    assert_eq!(second.as_ptr(), addr);
    assert_eq!(runs.get(), 1);
}

#[test]
fn default_value_and_nonzero_ctor() {
    let map = ShadowMap::new();
    let (x, y) = (0u8, 0u8);
    assert_eq!(*map.get_or_default(&x, A), 0);
    assert_eq!(*map.alloc(&y, A, || 7).unwrap(), 7);
}

#[test]
fn ctor_failure_inserts_nothing_and_returns_the_error() {
    let map = ShadowMap::new();
    let obj = 0u8;
    assert_eq!(
        map.try_alloc(&obj, A, || Err::<u64, _>("enomem"))
            .unwrap_err(),
        TryAllocError::Ctor("enomem")
    );
    assert!(map.get(&obj, A).is_none());
    assert_eq!(
        map.try_get_or_alloc(&obj, A, || Err::<u64, _>(12))
            .unwrap_err(),
        12
    );
    assert!(map.is_empty());
    // After a failure the key is free for a later creation.
    assert_eq!(
        *map.try_get_or_alloc(&obj, A, || Ok::<_, ()>(3)).unwrap(),
        3
    );
    assert!(matches!(
        map.try_alloc(&obj, A, || Ok::<_, ()>(4)),
        Err(TryAllocError::Exists)
    ));
    let e: TryAllocError<std::fmt::Error> = TryAllocError::Ctor(std::fmt::Error);
    assert!(std::error::Error::source(&e).is_some());
    assert!(e.to_string().contains("constructor failed"));
}

#[test]
fn len_counts_a_variable_whose_constructor_runs() {
    // `len` takes each shard's lock: a constructor (which runs with no lock
    // held) can call it, and sees its own variable counted.
    let map = ShadowMap::builder().shards(1).build();
    let obj = 0u8;
    map.alloc(&obj, A, || 1).unwrap();
    let seen = map.get_or_alloc(&obj, B, || map.len() as u64);
    assert_eq!(*seen, 2);
    assert_eq!(map.len(), 2);
    // A failed constructor's variable was counted while it ran, and no more.
    let err = map.try_alloc(&obj, A, || Err::<u64, _>(map.len()));
    assert!(matches!(err, Err(TryAllocError::Exists)));
    let obj2 = 0u8;
    let err = map.try_alloc(&obj2, A, || Err::<u64, _>(map.len()));
    assert_eq!(err.unwrap_err(), TryAllocError::Ctor(3));
    assert_eq!(map.len(), 2);
}

#[test]
fn free_runs_dtor_once_and_reports() {
    let map = ShadowMap::new();
    let obj = 0u8;
    let parent = Parent::from(&obj);
    assert!(!map.free_with(&obj, A, |_, _| panic!("dtor on absent entry")));
    map.alloc(&obj, A, || 9).unwrap();
    let mut calls = Vec::new();
    assert!(map.free_with(&obj, A, |p, v| calls.push((p, *v))));
    assert_eq!(calls, vec![(parent, 9)]);
    assert!(map.get(&obj, A).is_none());
    assert!(!map.free(&obj, A), "second free is a no-op");
    assert!(map.is_empty());
}

#[test]
fn free_all_frees_every_parent_of_one_id_only() {
    let map = ShadowMap::new();
    let objs: Vec<Box<u8>> = (0..100).map(|_| Box::new(0)).collect();
    for (i, o) in objs.iter().enumerate() {
        map.alloc(&**o, A, || i as u64).unwrap();
        map.alloc(&**o, B, || 1000 + i as u64).unwrap();
    }
    let mut sum = 0;
    let mut parents = Vec::new();
    assert_eq!(
        map.free_all_with(A, |p, v| {
            sum += *v;
            parents.push(p);
        }),
        100
    );
    assert_eq!(sum, (0..100).sum::<u64>());
    parents.sort();
    let mut expect: Vec<Parent> = objs.iter().map(|o| Parent::from(&**o)).collect();
    expect.sort();
    assert_eq!(parents, expect);
    assert_eq!(map.len(), 100);
    for o in &objs {
        assert!(map.get(&**o, A).is_none());
        assert!(map.get(&**o, B).is_some());
    }
    assert_eq!(map.free_all(A), 0);
    assert_eq!(map.free_all(B), 100);
    assert!(map.is_empty());
}

#[test]
fn one_variable_per_key_many_per_parent_many_parents_per_id() {
    let map = ShadowMap::new();
    let (x, y) = (0u8, 0u8);
    map.alloc(&x, A, || 1).unwrap();
    map.alloc(&x, B, || 2).unwrap();
    map.alloc(&y, A, || 3).unwrap();
    assert_eq!(
        (
            *map.get(&x, A).unwrap(),
            *map.get(&x, B).unwrap(),
            *map.get(&y, A).unwrap()
        ),
        (1, 2, 3)
    );
    assert_eq!(map.len(), 3);
}

#[test]
fn data_is_shared_and_mutated_through_interior_mutability() {
    const LOG: ShadowId<Mutex<Vec<u32>>> = ShadowId::new(3);
    const HITS: ShadowId<AtomicU64> = ShadowId::new(4);
    let map = ShadowMap::new();
    let obj = 0u8;
    map.get_or_default(&obj, LOG).lock().unwrap().push(1);
    map.get(&obj, LOG).unwrap().lock().unwrap().push(2);
    assert_eq!(*map.get(&obj, LOG).unwrap().lock().unwrap(), vec![1, 2]);
    for _ in 0..3 {
        map.get_or_default(&obj, HITS)
            .fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(map.get(&obj, HITS).unwrap().load(Ordering::Relaxed), 3);
}

#[test]
fn free_parent_frees_all_ids_of_that_parent_only() {
    const S: ShadowId<String> = ShadowId::new(5);
    let map = ShadowMap::new();
    let (x, y) = (Box::new(0u8), Box::new(0u8));
    map.alloc(&*x, A, || 1).unwrap();
    map.alloc(&*x, B, || 2).unwrap();
    map.alloc(&*x, S, || "s".into()).unwrap();
    map.alloc(&*y, A, || 4).unwrap();
    assert_eq!(map.free_parent(&*x), 3);
    assert_eq!(map.free_parent(&*x), 0);
    assert!(map.get(&*x, S).is_none());
    assert_eq!(*map.get(&*y, A).unwrap(), 4);
    assert_eq!(map.len(), 1);
}

#[test]
fn parent_is_the_address_not_the_reference() {
    let map = ShadowMap::new();
    let obj = Box::new(1u32);
    let r1: &u32 = &obj;
    let r2: &u32 = &obj;
    map.alloc(r1, A, || 1).unwrap();
    assert!(map.get(r2, A).is_some());
    assert!(map.get(obj.as_ref() as *const u32, A).is_some());
    assert!(
        map.get(Parent::from_addr(&*obj as *const u32 as usize), A)
            .is_some()
    );
}

#[test]
fn type_mismatch_panics_naming_id_and_both_types() {
    const AS_U64: ShadowId<u64> = ShadowId::new(77);
    const AS_STRING: ShadowId<String> = ShadowId::new(77);
    let map = ShadowMap::new();
    let obj = 0u8;
    map.alloc(&obj, AS_U64, || 1).unwrap();
    for op in 0..6 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match op {
            0 => drop(map.get(&obj, AS_STRING)),
            1 => drop(map.get_or_default(&obj, AS_STRING)),
            2 => drop(map.alloc(&obj, AS_STRING, String::new)),
            3 => drop(map.free(&obj, AS_STRING)),
            4 => drop(map.free_all(AS_STRING)),
            // `iter` panics too (documented on `ShadowMapRef::iter`) instead
            // of silently yielding nothing.
            _ => drop(map.pin().iter(AS_STRING).count()),
        }));
        let msg = *r
            .expect_err("type mismatch must panic")
            .downcast::<String>()
            .unwrap();
        assert!(msg.contains("0x4d"), "{msg}");
        assert!(msg.contains("u64") && msg.contains("String"), "{msg}");
    }
    // Nothing was harmed.
    assert_eq!(*map.get(&obj, AS_U64).unwrap(), 1);
}

#[test]
fn zero_sized_values_work() {
    const FLAG: ShadowId<()> = ShadowId::new(8);
    let map = ShadowMap::new();
    let (x, y) = (0u8, 0u8);
    map.alloc(&x, FLAG, || ()).unwrap();
    map.alloc(&y, FLAG, || ()).unwrap();
    assert!(map.contains(&x, FLAG) && map.contains(&y, FLAG));
    assert_eq!(map.free_all(FLAG), 2);
}

#[test]
fn capacity_overflow_panics_cleanly() {
    let r = std::panic::catch_unwind(|| ShadowMap::with_capacity(usize::MAX));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("capacity overflow"), "{msg}");
    let r = std::panic::catch_unwind(|| {
        ShadowMap::builder()
            .shards(1)
            .capacity(usize::MAX / 4)
            .build()
    });
    assert!(r.is_err());
}

#[test]
fn builder_rounds_shards_and_rejects_zero() {
    assert_eq!(ShadowMap::builder().shards(5).build().shards(), 8);
    assert!(std::panic::catch_unwind(|| ShadowMap::builder().shards(0)).is_err());
    assert!(ShadowMap::new().shards().is_power_of_two());
}

#[test]
fn pinned_ref_mirrors_the_map() {
    let map = ShadowMap::new();
    let objs: Vec<Box<u8>> = (0..10).map(|_| Box::new(0)).collect();
    let m = map.pin();
    for (i, o) in objs.iter().enumerate() {
        assert_eq!(*m.get_or_alloc(&**o, A, || i as u64), i as u64);
    }
    assert_eq!(m.alloc(&*objs[0], A, || 0), Err(AllocError::Exists));
    assert_eq!(m.len(), 10);
    let mut seen: Vec<u64> = m.iter(A).map(|(_, v)| *v).collect();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert_eq!(m.iter(B).count(), 0);
    let v = m.get(&*objs[3], A).unwrap();
    assert!(m.free(&*objs[3], A));
    assert_eq!(*v, 3, "a pinned reference stays valid after free");
    assert_eq!(m.free_all(A), 9);
    assert!(m.is_empty());
}

#[test]
fn every_value_dropped_exactly_once() {
    const T: ShadowId<common::Tracked> = ShadowId::new(9);
    let c = Counters::default();
    let objs: Vec<Box<u8>> = (0..64).map(|_| Box::new(0)).collect();
    {
        let map = ShadowMap::new();
        for (i, o) in objs.iter().enumerate() {
            map.alloc(&**o, T, || c.new_value(i as u64)).unwrap();
        }
        for o in &objs[..16] {
            assert!(map.free(&**o, T));
        }
        assert_eq!(map.free_all(T) + 16, 64);
        for o in &objs[..8] {
            map.alloc(&**o, T, || c.new_value(0)).unwrap();
        }
        // 8 left in the map: dropped with it.
    }
    c.wait_all_dropped(10);
    assert_eq!(c.created(), 72);
}

#[test]
fn map_drop_destroys_slab_and_boxed_entries_once() {
    // Entries of two sizes (slab blocks and boxes) in one map, dropped with
    // no deferred free pending (the slab is released whole) and with some
    // pending (entries freed one by one): every value dropped once.
    struct Big(#[allow(dead_code)] common::Tracked, [u64; 8]);
    const S: ShadowId<common::Tracked> = ShadowId::new(11);
    const L: ShadowId<Big> = ShadowId::new(12);
    let n: usize = if cfg!(miri) { 40 } else { 3000 };
    for pending in [false, true] {
        let c = Counters::default();
        let objs: Vec<Box<u8>> = (0..n).map(|_| Box::new(0)).collect();
        let hold;
        {
            let map = ShadowMap::builder().shards(2).build();
            for (i, o) in objs.iter().enumerate() {
                map.alloc(&**o, S, || c.new_value(i as u64)).unwrap();
                if i % 3 == 0 {
                    let big = Big(c.new_value(i as u64), [i as u64; 8]);
                    assert_eq!(map.alloc(&**o, L, || big).unwrap().1[7], i as u64);
                }
            }
            // A pin held across the frees and the drop keeps the freed
            // entries' destruction pending while the map is dropped.
            hold = pending.then(crossbeam_epoch::pin);
            if pending {
                for o in objs.iter().step_by(4) {
                    assert!(map.free(&**o, S));
                }
            }
        }
        drop(hold);
        c.wait_all_dropped(30);
        assert_eq!(c.created(), n + n.div_ceil(3));
    }
}

#[test]
fn values_drop_may_use_the_map() {
    // A value whose Drop frees another variable of the same map (same shard:
    // same parent), proving no map lock is held while drops run.
    struct Chain(&'static ShadowMap, &'static u8);
    impl Drop for Chain {
        fn drop(&mut self) {
            self.0.free(self.1, B);
            // `len` takes the shard locks: none may be held here either.
            let _ = self.0.len();
        }
    }
    const C: ShadowId<Chain> = ShadowId::new(10);
    let map: &'static ShadowMap = Box::leak(Box::new(ShadowMap::builder().shards(1).build()));
    let obj: &'static u8 = Box::leak(Box::new(0u8));
    common::within(30, move || {
        for _ in 0..200 {
            map.alloc(obj, B, || 1).unwrap();
            map.alloc(obj, C, || Chain(map, obj)).unwrap();
            assert!(map.free(obj, C));
            // The Chain's drop (deferred) frees B eventually.
            let t = std::time::Instant::now();
            while map.contains(obj, B) {
                crossbeam_epoch::pin().flush();
                assert!(t.elapsed().as_secs() < 10, "deferred drop never ran");
            }
        }
    });
}

#[test]
fn global_is_one_table() {
    const G: ShadowId<u64> = ShadowId::new(0xabc0_0001);
    static OBJ: u8 = 0;
    assert!(std::ptr::eq(global(), global()));
    global().get_or_alloc(&OBJ, G, || 42);
    assert_eq!(*global().get(&OBJ, G).unwrap(), 42);
    assert!(global().free(&OBJ, G));
}

#[test]
fn debug_output_is_informative() {
    let map = ShadowMap::builder().shards(2).build();
    let obj = 0u8;
    map.get_or_default(&obj, A);
    let s = format!("{map:?}");
    assert!(s.contains("len: 1") && s.contains("shards: 2"), "{s}");
    assert!(format!("{A:?}").contains("u64"));
    assert!(format!("{:?}", map.get(&obj, A).unwrap()).contains('0'));
}

#[test]
fn public_types_have_the_promised_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn default_debug<T: Default + std::fmt::Debug>() {}
    fn copy_eq_hash_debug<T: Copy + Eq + std::hash::Hash + std::fmt::Debug>() {}
    fn parent_traits<T: Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug>() {}
    fn error<T: std::error::Error + PartialEq>() {}
    struct NoBounds;
    send_sync::<ShadowMap>();
    default_debug::<ShadowMap>();
    copy_eq_hash_debug::<ShadowId<NoBounds>>();
    parent_traits::<Parent>();
    error::<AllocError>();
}

/// A value whose `Drop` panics on purpose (if `bomb`), counting drops.
#[derive(Debug)]
struct Bomb {
    bomb: bool,
    drops: &'static AtomicUsize,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.bomb {
            panic!("value drop panicked on purpose");
        }
    }
}

/// Fills a map of `shards` shards with `n` `Bomb`s (those at `bombs`
/// panic), drops it, and returns the panic and the number of drops.
fn drop_map_with_bombs(shards: usize, n: usize, bombs: &[usize]) -> (String, usize) {
    const ID: ShadowId<Bomb> = ShadowId::new(41);
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let objs: Vec<Box<u8>> = (0..n).map(|_| Box::new(0)).collect();
    let map = ShadowMap::builder().shards(shards).build();
    for (i, o) in objs.iter().enumerate() {
        let bomb = bombs.contains(&i);
        map.insert(&**o, ID, Bomb { bomb, drops }).unwrap();
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(map)));
    let msg = *r
        .expect_err("the value's panic propagates")
        .downcast::<&str>()
        .unwrap();
    (msg.to_owned(), drops.load(Ordering::SeqCst))
}

#[test]
fn a_value_drop_that_panics_while_the_map_drops_unwinds_cleanly() {
    // A value's `Drop` panicking inside the map's drop: the panic reaches
    // the dropper, after every other value of the map was dropped too (no
    // leak, and no abort from a second panic while unwinding).
    let (msg, drops) = drop_map_with_bombs(1, 8, &[3]);
    assert_eq!(msg, "value drop panicked on purpose");
    assert_eq!(drops, 8, "every value dropped");
}

#[test]
fn values_that_panic_in_several_shards_are_all_dropped() {
    // Panics in more than one shard: the first reaches the dropper; the
    // shards dropped while it unwinds drop all their values and keep their
    // own panics (resuming one there would abort the process).
    let (msg, drops) = drop_map_with_bombs(4, 64, &[0, 10, 20, 30, 40, 50, 63]);
    assert_eq!(msg, "value drop panicked on purpose");
    assert_eq!(drops, 64, "every value dropped");
}

/// `free_all` that meets a variable of another type under its id
/// panics and leaves that shard untouched: none of the right-typed values
/// before the mismatch (in slot order) is freed. Several fresh maps so that
/// the mismatching entry is not always the first one of the table.
#[test]
fn free_all_type_mismatch_leaves_the_shard_untouched() {
    const AS_U64: ShadowId<u64> = ShadowId::new(78);
    const AS_STRING: ShadowId<String> = ShadowId::new(78);
    let objs: Vec<Box<u8>> = (0..100).map(|_| Box::new(0)).collect();
    let odd = Box::new(0u8);
    for _ in 0..4 {
        let map = ShadowMap::builder().shards(1).build();
        for (i, o) in objs.iter().enumerate() {
            map.alloc(&**o, AS_U64, || i as u64).unwrap();
        }
        map.alloc(&*odd, AS_STRING, String::new).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.free_all(AS_U64)));
        assert!(r.is_err(), "type mismatch must panic");
        assert_eq!(
            map.len(),
            objs.len() + 1,
            "free_all freed values in the mismatching shard"
        );
        for (i, o) in objs.iter().enumerate() {
            assert_eq!(*map.get(&**o, AS_U64).unwrap(), i as u64);
        }
    }
}
