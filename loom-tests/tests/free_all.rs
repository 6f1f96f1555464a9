//! `free_all` racing `get_or_alloc` and `get` on the same id. Every value
//! constructed is either freed by `free_all` (and counted in its return
//! value) or still in the map afterwards, never both, never neither; a
//! `get` sees nothing or a whole value, never a freed one; a creation that
//! was in flight when `free_all` passed is not half-freed.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

/// One existing variable (parent 1) and one being created (parent 2), both
/// with `ID`, in one shard; `free_all(ID)` on the other thread; `get` of
/// parent 1.
#[test]
fn free_all_racing_get_or_alloc_and_get() {
    model("free_all_racing_get_or_alloc_and_get", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        free_all_beside_creation(map, parent(1), parent(2))
    });
}

/// The same over two shards: the variable being created lives in the shard
/// `free_all` visits first, which it skips if that shard has no `ID` linked
/// yet, and the existing one in the shard it visits second.
#[test]
fn free_all_racing_get_or_alloc_two_shards() {
    model("free_all_racing_get_or_alloc_two_shards", 3, || {
        let map = Arc::new(ShadowMap::builder().build());
        let created = other_shard_parent(&map, parent(1));
        assert!(
            map.shard_index(created) < map.shard_index(parent(1)),
            "the model wants the created variable in the shard visited first"
        );
        free_all_beside_creation(map, parent(1), created)
    });
}

/// `existing` holds a value under `ID`; the other thread runs `free_all(ID)`
/// while this one creates `created` under `ID` and reads `existing`.
fn free_all_beside_creation(
    map: Arc<ShadowMap>,
    existing: Parent,
    created: Parent,
) -> std::sync::Arc<Counters> {
    let c = Counters::new();
    map.alloc(existing, ID, || Val::new(10, &c)).unwrap();
    let m = map.clone();
    let freer = thread::spawn(move || {
        let n = m.free_all(ID);
        collect();
        n
    });
    let made = map.get_or_alloc(created, ID, || Val::new(20, &c)).check();
    assert_eq!(made, 20);
    if let Some(v) = map.get(existing, ID) {
        assert_eq!(v.check(), 10);
    }
    let freed = freer.join().unwrap();
    assert!((1..=2).contains(&freed), "free_all freed {freed}");
    // Exactly once: each value was freed or is still there.
    assert_eq!(
        freed + map.len(),
        c.ctors(),
        "freed {freed}, left {}, built {}",
        map.len(),
        c.ctors()
    );
    assert!(
        map.get(existing, ID).is_none(),
        "free_all left a variable that existed before it"
    );
    assert_eq!(map.get(created, ID).is_some(), freed == 1);
    c
}

/// `free_all` racing a `get_or_alloc` of the very key it frees: the creator
/// gets the old value (before the free) or a new one (after), never a
/// freed-and-reused one, and the counts add up.
#[test]
fn free_all_racing_get_or_alloc_same_key() {
    model("free_all_racing_get_or_alloc_same_key", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let m = map.clone();
        let freer = thread::spawn(move || {
            let n = m.free_all(ID);
            collect();
            n
        });
        let tag = map.get_or_alloc(parent(1), ID, || Val::new(20, &c)).check();
        assert!(tag == 10 || tag == 20);
        let freed = freer.join().unwrap();
        assert_eq!(freed + map.len(), c.ctors());
        c
    });
}

/// `free_all` of one type racing the creation of a variable of another type
/// under the same id, in one shard. The creation's owner publishes it
/// `READY` outside the shard lock, so it may do so while `free_all` holds
/// that lock and visits the shard. `free_all` then panics with a type
/// mismatch (it saw the variable ready) or frees nothing (it saw the
/// constructor running); it never hands its closure the other type's value
/// as its own, and the variable survives.
#[test]
fn free_all_racing_creation_of_another_type() {
    model("free_all_racing_creation_of_another_type", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let creator =
            thread::spawn(move || m.get_or_alloc(parent(1), ID, || Val::new(10, &c2)).check());
        let as_u64 = ShadowId::<u64>::new(ID.raw());
        let freed = catch_type_mismatch(|| {
            map.free_all_with(as_u64, |_, _| {
                panic!("free_all handed its closure a `Val` as a `u64`")
            })
        });
        assert!(matches!(freed, Ok(0) | Err(_)), "free_all: {freed:?}");
        assert_eq!(creator.join().unwrap(), 10);
        assert_eq!(map.get(parent(1), ID).map(|v| v.check()), Some(10));
        c
    });
}
