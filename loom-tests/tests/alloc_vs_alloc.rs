//! `alloc` racing `alloc` on one key: exactly one `Ok`, one
//! `Err(Exists)`; one constructor run; the loser sees the winner's value.
#![cfg(shadow_vars_loom)]

use loom::sync::Arc;
use loom::thread;
use shadow_vars::AllocError;
use shadow_vars_loom_tests::*;

#[test]
fn alloc_racing_alloc() {
    model("alloc_racing_alloc", 3, || {
        let map = Arc::new(ShadowMap::builder().shards(1).build());
        let c = Counters::new();
        let (m, c2) = (map.clone(), c.clone());
        let other = thread::spawn(move || {
            m.alloc(parent(1), ID, || Val::new(20, &c2))
                .map(|v| v.check())
        });
        let mine = map
            .alloc(parent(1), ID, || Val::new(10, &c))
            .map(|v| v.check());
        let theirs = other.join().unwrap();
        let winner = match (mine, theirs) {
            (Ok(t), Err(AllocError::Exists)) | (Err(AllocError::Exists), Ok(t)) => t,
            other => panic!("expected one Ok and one Exists, got {other:?}"),
        };
        assert_eq!(c.ctors(), 1);
        assert_eq!(map.get(parent(1), ID).map(|v| v.check()), Some(winner));
        c
    });
}
