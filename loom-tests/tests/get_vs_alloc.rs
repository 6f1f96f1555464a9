//! `get` racing `alloc`: a reader never sees a half-constructed value (it
//! sees nothing, or the whole value with everything its constructor wrote),
//! and `get` never waits for a running constructor.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use shadow_vars_loom_tests::*;

/// The reader looks twice; each look sees nothing or the whole value
/// (`Val::check` reads both fields: loom reports a read not ordered after
/// the constructor's writes), and once seen the value stays visible.
#[test]
fn get_racing_alloc() {
    model("get_racing_alloc", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let writer = thread::spawn(move || {
            let v = m
                .alloc(parent(1), ID, || Val::new(10, &c2))
                .expect("only creator");
            v.as_ptr() as usize
        });
        let first = map
            .get(parent(1), ID)
            .map(|v| (v.check(), v.as_ptr() as usize));
        let second = map
            .get(parent(1), ID)
            .map(|v| (v.check(), v.as_ptr() as usize));
        assert!(
            !(first.is_some() && second.is_none()),
            "a published value disappeared"
        );
        let addr = writer.join().unwrap();
        for seen in [first, second].into_iter().flatten() {
            assert_eq!(seen, (10, addr));
        }
        assert_eq!(map.get(parent(1), ID).map(|v| v.check()), Some(10));
        c
    });
}

/// The same through `ShadowMapRef`s (borrowed pins): the creator stays
/// pinned while its constructor runs. This variant matters for the
/// publication ordering: with an owned pin, the creator unpins around the
/// constructor and re-pins before publishing, and loom's model of
/// crossbeam-epoch's pin (SeqCst read-modify-writes and fences) then orders
/// the constructor's writes before the reader's next pin on its own, which
/// would hide a missing Release on the publication.
#[test]
fn get_racing_pinned_alloc() {
    model("get_racing_pinned_alloc", 3, || {
        pinned_reader_vs_creator(|m, c| {
            let v = m
                .alloc(parent(1), ID, || Val::new(10, c))
                .expect("only creator");
            (v.check(), v as *const Val as usize)
        })
    });
}

/// The constructor cannot finish until the reader is done, so a `get` (or
/// `contains`) that waited for it would never return: loom would report the
/// deadlock. The reader must report the key absent.
#[test]
fn get_never_waits() {
    model("get_never_waits", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let reader_done = Arc::new(AtomicBool::new(false));
        let (m, c2, done) = (map.clone(), c.clone(), reader_done.clone());
        let writer = thread::spawn(move || {
            m.alloc(parent(1), ID, || {
                while !done.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                Val::new(10, &c2)
            })
            .expect("only creator")
            .check()
        });
        assert!(
            map.get(parent(1), ID).is_none(),
            "get saw a value whose constructor cannot have finished"
        );
        assert!(!map.contains(parent(1), ID));
        reader_done.store(true, Ordering::Release);
        assert_eq!(writer.join().unwrap(), 10);
        c
    });
}
