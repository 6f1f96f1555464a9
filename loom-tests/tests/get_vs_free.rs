//! `get` racing `free`: no use after free. A reader that found the value may
//! keep using it after `free` returned; the value is dropped exactly once,
//! only after every such reader is done (`Val::drop` writes the fields: loom
//! reports a reader's read not ordered before it). The freeing thread flushes
//! the epoch so that reclamation is attempted while the reader may be pinned.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

#[test]
fn get_racing_free() {
    model("get_racing_free", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let m = map.clone();
        let freer = thread::spawn(move || {
            assert!(m.free(parent(1), ID));
            collect();
        });
        if let Some(v) = map.get(parent(1), ID) {
            assert_eq!(v.check(), 10);
            thread::yield_now();
            assert_eq!(v.check(), 10, "value changed or dropped under a reader");
        }
        freer.join().unwrap();
        assert!(map.get(parent(1), ID).is_none());
        assert_eq!(map.len(), 0);
        c
    });
}

/// The same with a `ShadowMapRef` pinned across two lookups and the free
/// happening on the other thread between them.
#[test]
fn pinned_reader_racing_free() {
    model("pinned_reader_racing_free", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let m = map.clone();
        let freer = thread::spawn(move || {
            assert!(m.free(parent(1), ID));
            collect();
        });
        {
            let pinned = map.pin();
            let a = pinned.get(parent(1), ID);
            let b = pinned.get(parent(1), ID);
            assert!(!(a.is_none() && b.is_some()), "a freed value came back");
            for v in [a, b].into_iter().flatten() {
                assert_eq!(v.check(), 10);
            }
        }
        freer.join().unwrap();
        c
    });
}

/// `free` racing the creation of the key it frees (it waits for a running
/// constructor): the creator's `Shadow` stays valid and whole even if the
/// value is freed and reclamation is attempted right after it is published.
#[test]
fn get_or_alloc_racing_free() {
    model("get_or_alloc_racing_free", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let m = map.clone();
        let freer = thread::spawn(move || {
            let freed = m.free(parent(1), ID);
            collect();
            freed
        });
        {
            let v = map.get_or_alloc(parent(1), ID, || Val::new(10, &c));
            assert_eq!(v.check(), 10);
            thread::yield_now();
            assert_eq!(v.check(), 10, "value dropped under its creator");
        }
        let freed = freer.join().unwrap();
        assert_eq!(map.len(), usize::from(!freed));
        assert_eq!(map.get(parent(1), ID).is_none(), freed);
        c
    });
}
