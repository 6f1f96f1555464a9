//! Table growth racing readers and writers. Under loom the smallest table
//! has 2 slots and a table grows once more than three quarters of its slots
//! would be used, so the second variable of a shard makes the writer build a
//! bigger table and retire the old one while readers may be probing it.
//!
//! A reader never loses a variable that existed before it started (it may
//! be reading the old table or the new one), never sees a half-built value,
//! and values never move (same address before and after growth).
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

fn map_one_tiny_shard() -> Arc<ShadowMap> {
    Arc::new(ShadowMap::builder().shards(1).capacity(0).build())
}

/// A writer inserts a second key (forcing 2 -> 4 slots) while the main
/// thread reads the first key twice and the second once.
#[test]
fn growth_racing_reader() {
    model("growth_racing_reader", 3, || {
        let map = map_one_tiny_shard();
        let c = Counters::new();
        let a_addr = map
            .alloc(parent(1), ID, || Val::new(10, &c))
            .unwrap()
            .as_ptr() as usize;
        let (m, c2) = (map.clone(), c.clone());
        let writer =
            thread::spawn(move || m.get_or_alloc(parent(2), ID, || Val::new(20, &c2)).check());
        for _ in 0..2 {
            let a = map
                .get(parent(1), ID)
                .expect("growth hid an existing variable");
            assert_eq!(
                (a.check(), a.as_ptr() as usize),
                (10, a_addr),
                "value moved"
            );
        }
        if let Some(b) = map.get(parent(2), ID) {
            assert_eq!(b.check(), 20);
        }
        assert_eq!(writer.join().unwrap(), 20);
        assert_eq!(map.get(parent(1), ID).unwrap().as_ptr() as usize, a_addr);
        assert_eq!(map.len(), 2);
        c
    });
}

/// Two writers each insert a key (the second link grows the table, the
/// third may grow it again) while the first key is read by both.
#[test]
fn growth_racing_writers() {
    model("growth_racing_writers", 3, || {
        let map = map_one_tiny_shard();
        let c = Counters::new();
        let a_addr = map
            .alloc(parent(1), ID, || Val::new(10, &c))
            .unwrap()
            .as_ptr() as usize;
        let (m, c2) = (map.clone(), c.clone());
        let other = thread::spawn(move || {
            let b = m.get_or_alloc(parent(2), ID, || Val::new(20, &c2)).check();
            let a = m
                .get(parent(1), ID)
                .expect("growth hid an existing variable");
            (b, a.check(), a.as_ptr() as usize)
        });
        let mine = map.get_or_alloc(parent(3), ID, || Val::new(30, &c)).check();
        assert_eq!(mine, 30);
        assert_eq!(other.join().unwrap(), (20, 10, a_addr));
        for (p, tag) in [(1, 10), (2, 20), (3, 30)] {
            assert_eq!(
                map.get(parent(p), ID).map(|v| v.check()),
                Some(tag),
                "parent {p} lost"
            );
        }
        assert_eq!(map.get(parent(1), ID).unwrap().as_ptr() as usize, a_addr);
        assert_eq!(map.len(), 3);
        c
    });
}

/// Frees that shrink the table (and tombstone rebuilds) racing a reader of
/// a variable that stays.
#[test]
fn shrink_racing_reader() {
    model("shrink_racing_reader", 3, || {
        let map = map_one_tiny_shard();
        let c = Counters::new();
        let a_addr = map
            .alloc(parent(1), ID, || Val::new(10, &c))
            .unwrap()
            .as_ptr() as usize;
        for p in 2..=3 {
            map.alloc(parent(p), ID, || Val::new(10 * p, &c)).unwrap();
        }
        let m = map.clone();
        let writer = thread::spawn(move || {
            assert!(m.free(parent(2), ID));
            assert!(m.free(parent(3), ID));
            collect();
        });
        for _ in 0..2 {
            let a = map
                .get(parent(1), ID)
                .expect("shrinking hid an existing variable");
            assert_eq!((a.check(), a.as_ptr() as usize), (10, a_addr));
        }
        writer.join().unwrap();
        assert_eq!(map.len(), 1);
        c
    });
}

/// A free racing an insert that grows the table. The free's lock-free look
/// may find the key in the table that growth then replaces; under the lock
/// it must not reuse that look's slot, but probe the new table.
#[test]
fn free_racing_growth() {
    model("free_racing_growth", 3, || {
        let map = map_one_tiny_shard();
        let c = Counters::new();
        map.alloc(parent(1), ID, || Val::new(10, &c)).unwrap();
        let (m, c2) = (map.clone(), c.clone());
        let writer =
            thread::spawn(move || m.get_or_alloc(parent(2), ID, || Val::new(20, &c2)).check());
        assert!(
            map.free(parent(1), ID),
            "an existing variable was not freed"
        );
        assert!(
            map.get(parent(1), ID).is_none(),
            "a freed variable came back"
        );
        assert_eq!(writer.join().unwrap(), 20);
        assert!(map.get(parent(1), ID).is_none());
        assert_eq!(map.get(parent(2), ID).map(|v| v.check()), Some(20));
        assert_eq!(map.len(), 1);
        c
    });
}
