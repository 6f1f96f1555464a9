//! The slab's lifetime rule, with entries small enough to live in it (a
//! pointer-sized value: `Entry<Small>` is 32 bytes). The map (and with it
//! the shard's handle on its slab) is dropped on whichever thread lets go
//! last, while the entries' deferred destructions, which free their blocks
//! into the slab, run on either thread, before or after that drop. The slab's
//! shared part must stay alive until the last of them, then be freed once;
//! every value must be dropped exactly once (checked by `model`).
#![cfg(shadow_vars_loom)]

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

/// A value of one pointer: counts its construction and its drop.
struct Small(StdArc<Counters>);

impl Small {
    fn new(c: &StdArc<Counters>) -> Small {
        c.ctors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Small(c.clone())
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        self.0
            .drops
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

const SMALL: ShadowId<Small> = ShadowId::new(7);

#[test]
fn map_drop_racing_deferred_frees() {
    model("map_drop_racing_deferred_frees", 2, || {
        let map = Arc::new(ShadowMap::builder().shards(1).capacity(0).build());
        let c = Counters::new();
        map.get_or_alloc(parent(1), SMALL, || Small::new(&c));
        map.get_or_alloc(parent(2), SMALL, || Small::new(&c));
        let m = map.clone();
        let other = thread::spawn(move || {
            assert!(m.free(parent(1), SMALL));
            drop(m);
            collect();
        });
        assert!(map.free(parent(2), SMALL));
        drop(map);
        other.join().unwrap();
        c
    });
}
