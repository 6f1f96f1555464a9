//! Dropping the map after concurrent use: every value constructed is dropped
//! exactly once, whether it was freed (deferred through the epoch) or still
//! in the map (dropped by the map's `Drop`, synchronously). The exactly-once
//! count is checked by `model` after each execution; here the map's drop is
//! also checked to drop exactly the values left in it, right away.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

/// One shard (as with the fixed loom seed's placement of `parent(1)` and
/// `parent(2)`, which share a shard of the default two): the creates, the
/// free and the growth they cause all meet in it.
#[test]
fn drop_map_after_concurrent_use() {
    model("drop_map_after_concurrent_use", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).capacity(0).build());
        drop_after_use(map, parent(1), parent(2))
    });
}

/// Two shards (the loom default), with entries and frees on both: the map's
/// drop walks two shards' tables and slabs, one of which holds an entry
/// freed through the epoch.
#[test]
fn drop_map_after_concurrent_use_two_shards() {
    model("drop_map_after_concurrent_use_two_shards", 3, || {
        let map = Arc::new(ShadowMap::builder().capacity(0).build());
        let far = other_shard_parent(&map, parent(1));
        drop_after_use(map, parent(1), far)
    });
}

/// The other thread creates `near`/`ID`, frees it and creates `far`/`ID`,
/// while this one creates `far`/`ID` and `near`/`ID2`; then the map is
/// dropped and must drop exactly the two values left in it.
fn drop_after_use(map: Arc<ShadowMap>, near: Parent, far: Parent) -> std::sync::Arc<Counters> {
    let c = Counters::new();
    let (m, c2) = (map.clone(), c.clone());
    let other = thread::spawn(move || {
        m.get_or_alloc(near, ID, || Val::new(10, &c2)).check();
        m.free(near, ID);
        m.get_or_alloc(far, ID, || Val::new(20, &c2)).check();
    });
    map.get_or_alloc(far, ID, || Val::new(30, &c)).check();
    map.get_or_alloc(near, ID2, || Val::new(40, &c)).check();
    other.join().unwrap();
    let left = map.len();
    assert_eq!(left, 2, "far / ID and near / ID2 remain");
    let before = c.drops();
    let Ok(map) = Arc::try_unwrap(map) else {
        panic!("not the last reference")
    };
    drop(map);
    assert_eq!(
        c.drops() - before,
        left,
        "the map's drop must drop the values left in it, now"
    );
    c
}
