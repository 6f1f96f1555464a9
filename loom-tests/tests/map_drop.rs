//! Dropping the map after concurrent use: every value constructed is dropped
//! exactly once, whether it was freed (deferred through the epoch) or still
//! in the map (dropped by the map's `Drop`, synchronously). The exactly-once
//! count is checked by `model` after each execution; here the map's drop is
//! also checked to drop exactly the values left in it, right away.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

#[test]
fn drop_map_after_concurrent_use() {
    model("drop_map_after_concurrent_use", 3, || {
        // Two shards (the loom default): entries and frees on both.
        let map = Arc::new(ShadowMap::builder().capacity(0).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let other = thread::spawn(move || {
            m.get_or_alloc(parent(1), ID, || Val::new(10, &c2)).check();
            m.free(parent(1), ID);
            m.get_or_alloc(parent(2), ID, || Val::new(20, &c2)).check();
        });
        map.get_or_alloc(parent(2), ID, || Val::new(30, &c)).check();
        map.get_or_alloc(parent(1), ID2, || Val::new(40, &c))
            .check();
        other.join().unwrap();
        let left = map.len();
        assert_eq!(left, 2, "parent 2 / ID and parent 1 / ID2 remain");
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
    });
}
