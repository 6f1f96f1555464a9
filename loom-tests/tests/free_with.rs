//! `free_with` racing `get` and another `free_with`: the destructor closure
//! runs exactly once, synchronously (before `free_with` returns), with the
//! whole value, and only after the entry is unreachable to new readers: a
//! reader that starts after the closure began finds nothing.
#![cfg(shadow_vars_loom)]

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use shadow_vars_loom_tests::*;

#[test]
fn free_with_racing_get() {
    model("free_with_racing_get", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let dtor_started = Arc::new(AtomicBool::new(false));
        let (m, c2, started) = (map.clone(), c.clone(), dtor_started.clone());
        let freer = thread::spawn(move || {
            let freed = m.free_with(parent(1), ID, |p, v| {
                started.store(true, Ordering::Release);
                assert_eq!(p, parent(1));
                assert_eq!(v.check(), 10);
                assert!(
                    m.get(parent(1), ID).is_none(),
                    "dtor ran while the entry was reachable"
                );
                c2.dtors.fetch_add(1, SeqCst);
            });
            assert!(freed);
            assert_eq!(c2.dtors(), 1, "dtor not run before free_with returned");
            collect();
        });
        let started = dtor_started.load(Ordering::Acquire);
        let seen = map.get(parent(1), ID).map(|v| v.check());
        if started {
            assert_eq!(
                seen, None,
                "a reader that started after the dtor found the entry"
            );
        } else if let Some(tag) = seen {
            assert_eq!(tag, 10);
        }
        freer.join().unwrap();
        assert_eq!(c.dtors(), 1);
        c
    });
}

#[test]
fn free_with_racing_free_with() {
    model("free_with_racing_free_with", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let (m, c2) = (map.clone(), c.clone());
        let free = move |m: &ShadowMap, c: &std::sync::Arc<Counters>| {
            m.free_with(parent(1), ID, |_, v| {
                assert_eq!(v.check(), 10);
                c.dtors.fetch_add(1, SeqCst);
            })
        };
        let other = thread::spawn(move || free(&m, &c2));
        let mine = free(&map, &c);
        let theirs = other.join().unwrap();
        assert!(
            mine ^ theirs,
            "free_with returned {mine} and {theirs}: exactly one must free"
        );
        assert_eq!(c.dtors(), 1, "dtor ran {} times", c.dtors());
        c
    });
}
