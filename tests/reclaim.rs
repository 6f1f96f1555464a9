//! Reclamation keeps up with frees made under one long-lived pin.
//!
//! crossbeam-epoch reclaims only inside `pin` (at most 512 retired entries
//! per 128 pins), so a thread that frees many entries per pin used to leave
//! a backlog that grew for as long as it ran (`src/raw/reclaim.rs`). These
//! checks run in their own test binary: any other pinned thread in the
//! process would hold the epoch back and make the backlog depend on it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use common::scaled;
use shadow_vars::{ShadowId, ShadowMap};

static DROPS: AtomicUsize = AtomicUsize::new(0);

/// A value that counts its drops.
#[derive(Debug)]
struct Counted(u64);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Relaxed);
    }
}

/// The most values freed but not yet dropped that a check accepts at any
/// point. With the flushes, the peak measured here is about 320 (the
/// entries of the last few flush intervals); without them the backlog grows
/// by about 60 per 1,000 operations of the write mix below, past this bound
/// after 16,000 operations, and the free-parent loop's by one per free.
/// Under Miri the loops are too short for the bound to tell the two apart;
/// they run there for the flushes' memory accesses.
const BACKLOG_BOUND: usize = 1_000;

/// A small xorshift generator: the same stream on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn frees_under_long_pins_are_reclaimed_as_they_go() {
    const ID: ShadowId<Counted> = ShadowId::new(1);
    const IDS: [ShadowId<Counted>; 4] = [
        ShadowId::new(10),
        ShadowId::new(11),
        ShadowId::new(12),
        ShadowId::new(13),
    ];
    let mix = ShadowMap::new();
    let keys = scaled(20_000, 200);
    let parents: Vec<u64> = (0..keys as u64).collect();
    let mut freed = 0usize;
    let mut peak = 0usize;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // Batches of 64 operations of the write-heavy mix (50% get, 25% alloc,
    // 25% free), each batch under one pin.
    for p in parents.iter().step_by(2) {
        mix.insert(p, ID, Counted(0)).unwrap();
    }
    for _ in 0..scaled(1_000_000, 640) / 64 {
        let m = mix.pin();
        for _ in 0..64 {
            let r = rng.next();
            let p = &parents[(r >> 8) as usize % keys];
            match r & 3 {
                0 | 1 => assert!(m.get(p, ID).is_none_or(|v| v.0 < 2)),
                2 => drop(m.alloc(p, ID, || Counted(1))),
                _ => freed += usize::from(m.free(p, ID)),
            }
        }
        drop(m);
        peak = peak.max(freed - DROPS.load(Relaxed));
    }
    assert!(freed > scaled(100_000, 40), "only {freed} frees");
    assert!(
        peak <= BACKLOG_BOUND,
        "write mix under pins of 64 operations: {peak} freed values not yet dropped at the peak"
    );

    // Whole parents freed under one pin: 64 retirements per pin. The write
    // mix's values stay in `mix`; what it freed and was not yet dropped is
    // still counted.
    let map = ShadowMap::new();
    peak = 0;
    for round in 0..scaled(4_000, 2) {
        let m = map.pin();
        let batch = &parents[(round * 16) % keys..][..16];
        for p in batch {
            for id in IDS {
                m.alloc(p, id, || Counted(2)).unwrap();
            }
        }
        for p in batch {
            freed += m.free_parent(p);
        }
        drop(m);
        peak = peak.max(freed - DROPS.load(Relaxed));
    }
    assert!(
        peak <= BACKLOG_BOUND,
        "free_parent under pins of 64 frees: {peak} freed values not yet dropped at the peak"
    );
    assert!(map.is_empty());
}
