//! `ShadowMapRef::iter` racing a free and a creation that rebuilds the
//! table: the iteration is weakly consistent (a variable that stays during
//! the whole iteration is yielded exactly once; one freed or created
//! meanwhile may or may not be), and every value it yields is whole and
//! stays valid while the pin lives.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

/// One shard: the creation grows the table the iteration is reading.
#[test]
fn iter_racing_free_and_growth() {
    model("iter_racing_free_and_growth", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).capacity(0).build());
        iter_beside_writer(map, parent(2), parent(1), parent(3))
    });
}

/// Two shards: the freed variable lives in the shard the iteration visits
/// first, the one that stays and the one created (which grows that
/// shard's table) in the shard it visits second.
#[test]
fn iter_racing_free_and_growth_two_shards() {
    model("iter_racing_free_and_growth_two_shards", 3, || {
        let map = Arc::new(ShadowMap::builder().capacity(0).build());
        let (stays, created) = (parent(1), parent(2));
        let freed = other_shard_parent(&map, stays);
        assert!(
            map.shard_index(freed) < map.shard_index(stays)
                && map.shard_index(created) == map.shard_index(stays),
            "the model wants the freed variable in the shard visited first"
        );
        iter_beside_writer(map, stays, freed, created)
    });
}

/// `stays` and `freed` exist; the other thread frees `freed` and creates
/// `created` while this one iterates under one pin. Each value's tag is
/// ten times its parent's index (`parent(n)`).
fn iter_beside_writer(
    map: Arc<ShadowMap>,
    stays: Parent,
    freed: Parent,
    created: Parent,
) -> std::sync::Arc<Counters> {
    let index = |p: Parent| p.addr() / 0x1000;
    let c = Counters::new();
    for p in [freed, stays] {
        map.alloc(p, ID, || Val::new(10 * index(p), &c)).unwrap();
    }
    let (m, c2) = (map.clone(), c.clone());
    let writer = thread::spawn(move || {
        assert!(m.free(freed, ID));
        m.get_or_alloc(created, ID, || Val::new(10 * index(created), &c2))
            .check();
        collect();
    });
    {
        let pinned = map.pin();
        let mut seen: Vec<(usize, usize)> = pinned
            .iter(ID)
            .map(|(p, v)| (index(p), v.check()))
            .collect();
        seen.sort();
        let n = seen.iter().filter(|s| s.0 == index(stays)).count();
        assert_eq!(
            n, 1,
            "a variable present throughout was yielded {n} times: {seen:?}"
        );
        assert!(
            seen.windows(2).all(|w| w[0] != w[1]),
            "duplicates: {seen:?}"
        );
        for (p, tag) in &seen {
            assert_eq!(*tag, 10 * p);
        }
    }
    writer.join().unwrap();
    c
}
