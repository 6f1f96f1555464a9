//! Racing `get_or_alloc` on one key (2 and 3 threads): exactly one
//! constructor runs, every caller gets that one value (same address, whole,
//! with everything its constructor wrote visible), and it is dropped exactly
//! once (when the map is dropped; checked by `model` after the execution).
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

fn racing_creators(threads: usize) -> std::sync::Arc<Counters> {
    let map = Arc::new(ShadowMap::builder().shards(1).build());
    let c = Counters::new();
    let create = |map: &ShadowMap, c: &std::sync::Arc<Counters>, i: usize| {
        let v = map.get_or_alloc(parent(1), ID, || Val::new(10 + 10 * i, c));
        (v.check(), v.as_ptr() as usize)
    };
    let handles: Vec<_> = (1..threads)
        .map(|i| {
            let (map, c) = (map.clone(), c.clone());
            thread::spawn(move || create(&map, &c, i))
        })
        .collect();
    let mut seen = vec![create(&map, &c, 0)];
    seen.extend(handles.into_iter().map(|h| h.join().unwrap()));
    assert_eq!(c.ctors(), 1, "constructor ran {} times", c.ctors());
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "callers saw different values: {seen:?}"
    );
    assert_eq!(map.len(), 1);
    c
}

/// Both creators through `ShadowMapRef`s (borrowed pins: the constructor
/// runs pinned and the waiter parks pinned), so that loom's model of the
/// epoch's own pin/unpin cannot order the constructor before the waiter's
/// read on the map's behalf (see `get_vs_alloc.rs`).
#[test]
fn racing_pinned_get_or_alloc_two_threads() {
    model("racing_pinned_get_or_alloc_two_threads", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let create = |map: &ShadowMap, c: &std::sync::Arc<Counters>, i: usize| {
            let pinned = map.pin();
            let v = pinned.get_or_alloc(parent(1), ID, || Val::new(10 + 10 * i, c));
            (v.check(), v as *const Val as usize)
        };
        let (m, c2) = (map.clone(), c.clone());
        let other = thread::spawn(move || create(&m, &c2, 1));
        let mine = create(&map, &c, 0);
        assert_eq!(other.join().unwrap(), mine);
        assert_eq!(c.ctors(), 1);
        c
    });
}

#[test]
fn racing_get_or_alloc_two_threads() {
    model("racing_get_or_alloc_two_threads", 3, || racing_creators(2));
}

#[test]
fn racing_get_or_alloc_three_threads() {
    model("racing_get_or_alloc_three_threads", 1, || {
        racing_creators(3)
    });
}
