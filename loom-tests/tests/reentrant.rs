//! Re-entrant constructors under concurrency: a constructor that creates
//! another key of the same shard, while another thread creates that key and
//! then waits for the first. No deadlock (constructors run outside the shard
//! lock), each constructor runs once, and both threads see the same values.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

#[test]
fn reentrant_ctor_racing_creator() {
    model("reentrant_ctor_racing_creator", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let outer = thread::spawn(move || {
            let mut inner = 0;
            let a = m.get_or_alloc(parent(1), ID, || {
                inner = m.get_or_alloc(parent(2), ID, || Val::new(20, &c2)).check();
                Val::new(10, &c2)
            });
            (a.check(), inner)
        });
        let b = map.get_or_alloc(parent(2), ID, || Val::new(30, &c)).check();
        let a = map.get_or_alloc(parent(1), ID, || Val::new(40, &c)).check();
        let (a2, inner) = outer.join().unwrap();
        assert_eq!(a, a2);
        if inner != 0 {
            assert_eq!(inner, b, "the inner constructor's caller saw another value");
        }
        assert_eq!(c.ctors(), 2, "one constructor per key");
        assert_eq!(map.len(), 2);
        c
    });
}
