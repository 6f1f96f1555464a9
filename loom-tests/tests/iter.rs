//! `ShadowMapRef::iter` racing a free and a creation that rebuilds the
//! table: the iteration is weakly consistent (a variable that stays during
//! the whole iteration is yielded exactly once; one freed or created
//! meanwhile may or may not be), and every value it yields is whole and
//! stays valid while the pin lives.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars_loom_tests::*;

#[test]
fn iter_racing_free_and_growth() {
    model("iter_racing_free_and_growth", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).capacity(0).build());
        let c = Counters::new();
        for p in 1..=2 {
            map.alloc(parent(p), ID, || Val::new(10 * p, &c)).unwrap();
        }
        let (m, c2) = (map.clone(), c.clone());
        let writer = thread::spawn(move || {
            assert!(m.free(parent(1), ID));
            m.get_or_alloc(parent(3), ID, || Val::new(30, &c2)).check();
            collect();
        });
        {
            let pinned = map.pin();
            let mut seen: Vec<(usize, usize)> = pinned
                .iter(ID)
                .map(|(p, v)| (p.addr() / 0x1000, v.check()))
                .collect();
            seen.sort();
            let n2 = seen.iter().filter(|s| s.0 == 2).count();
            assert_eq!(
                n2, 1,
                "a variable present throughout was yielded {n2} times: {seen:?}"
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
    });
}
