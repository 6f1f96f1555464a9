//! `free_parent` racing the creation of another variable of the same
//! parent: it waits for a constructor of that parent that is running when
//! it looks, so every value is either freed by it (counted) or created after
//! its visit and still in the map; none is lost or freed twice.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

#[test]
fn free_parent_racing_creation() {
    model("free_parent_racing_creation", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let m = map.clone();
        let freer = thread::spawn(move || {
            let n = m.free_parent(parent(1));
            collect();
            n
        });
        assert_eq!(
            map.get_or_alloc(parent(1), ID2, || Val::new(20, &c))
                .check(),
            20
        );
        let freed = freer.join().unwrap();
        assert!((1..=2).contains(&freed));
        assert_eq!(
            freed + map.len(),
            c.ctors(),
            "freed {freed}, left {}",
            map.len()
        );
        assert!(map.get(parent(1), ID).is_none());
        c
    });
}
