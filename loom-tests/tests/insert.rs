//! `insert` (a value built before the call, linked already `READY`, with no
//! `INIT` state and no publishing swap): a reader sees nothing or the whole
//! value; it waits for a running constructor of its key, then creates if
//! that failed or gives its value back if it succeeded; of two inserts of
//! one key exactly one wins and the other gets its value back.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars::TryAllocError;
use shadow_vars_loom_tests::*;

/// Through `ShadowMapRef`s (borrowed pins, as in `get_racing_pinned_alloc`):
/// the only thing that orders the value's writes before a reader's reads is
/// the table's Release store of the entry pointer, which loom checks here.
#[test]
fn get_racing_pinned_insert() {
    model("get_racing_pinned_insert", 3, || {
        pinned_reader_vs_creator(|m, c| {
            let v = m
                .insert(parent(1), ID, Val::new(10, c))
                .expect("only creator");
            (v.check(), v as *const Val as usize)
        })
    });
}

/// `insert` beside a failing constructor of the same key: whatever the
/// interleaving, the insert ends with its value in the map (before the
/// constructor's entry, after it failed, or by waiting for it), and the
/// failing creator gets its error or, if it came second, `Exists`.
#[test]
fn insert_racing_failing_alloc() {
    model("insert_racing_failing_alloc", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let m = map.clone();
        let failing = thread::spawn(move || {
            m.try_alloc(parent(1), ID, || Err::<Val, _>("no"))
                .map(|v| v.check())
        });
        let mine = map
            .insert(parent(1), ID, Val::new(20, &c))
            .map(|v| v.check());
        assert_eq!(mine.ok(), Some(20), "the insert must win");
        match failing.join().unwrap() {
            Err(TryAllocError::Ctor("no")) | Err(TryAllocError::Exists) => {}
            other => panic!("unexpected outcome of the failing creator: {other:?}"),
        }
        assert_eq!(map.get(parent(1), ID).map(|v| v.check()), Some(20));
        assert_eq!(map.len(), 1);
        c
    });
}

/// `insert` beside a constructor of the same key that succeeds: if the
/// insert finds the constructor running it waits for it (spinning, then
/// parked), and then gets its own value back; if it came first, the
/// creator gets the inserted value. Either way exactly one value is in the
/// map, whole, and the other is dropped once.
#[test]
fn insert_waits_for_a_succeeding_ctor() {
    model("insert_waits_for_a_succeeding_ctor", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let creator =
            thread::spawn(move || m.get_or_alloc(parent(1), ID, || Val::new(10, &c2)).check());
        let mine = map
            .insert(parent(1), ID, Val::new(20, &c))
            .map(|v| v.check())
            .map_err(|back| back.check());
        let created = creator.join().unwrap();
        let winner = match mine {
            Ok(20) => 20,
            Err(20) => 10,
            other => panic!("unexpected outcome of the insert: {other:?}"),
        };
        assert_eq!(created, winner, "the creator and the map disagree");
        assert_eq!(map.get(parent(1), ID).map(|v| v.check()), Some(winner));
        assert_eq!(map.len(), 1);
        c
    });
}

/// Two inserts of one key: one `Ok`, one `Err` holding the loser's own
/// value (dropped by the loser, once: the model's counters check it).
#[test]
fn insert_racing_insert() {
    model("insert_racing_insert", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let other = thread::spawn(move || {
            m.insert(parent(1), ID, Val::new(20, &c2))
                .map(|v| v.check())
                .map_err(|back| back.check())
        });
        let mine = map
            .insert(parent(1), ID, Val::new(10, &c))
            .map(|v| v.check())
            .map_err(|back| back.check());
        let theirs = other.join().unwrap();
        let winner = match (mine, theirs) {
            (Ok(10), Err(20)) => 10,
            (Err(10), Ok(20)) => 20,
            other => panic!("expected one insert to win, got {other:?}"),
        };
        assert_eq!(map.get(parent(1), ID).map(|v| v.check()), Some(winner));
        c
    });
}
