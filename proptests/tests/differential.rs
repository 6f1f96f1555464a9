//! Differential proptests: random sequences of every public operation, applied to
//! the map and to the sequential model, every result compared (see
//! `shadow_vars_proptests::diff`). Five map configurations, 42,000 cases in all by
//! default; `SHADOW_PROPTEST_SCALE=<factor>` scales every case count (e.g. `0.1` for
//! a quick run, `10` for a long one).
//!
//! Not built under Miri: 16 cases did not finish in 15 minutes there. Miri's
//! coverage of the map's unsafe code comes from the crate's own tests.
#![cfg(not(miri))]

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config as PtConfig, FileFailurePersistence, TestCaseError};
use shadow_vars_proptests::{Build, Config, Ctor, Key, Op, Plain, Tracked, Value, run};

/// Relative weights of the operations that drive each configuration's purpose.
#[derive(Clone, Copy)]
struct Mix {
    /// `Fill` (bulk `get_or_alloc` beyond the small parent space: forces growth).
    fill: u32,
    /// `free_all`, `free_all_with`, `free_parent` (shrinks after growth).
    bulk_free: u32,
    /// `Pinned` batches (the `ShadowMapRef` API).
    pinned: u32,
    /// Longest sequence.
    max_len: usize,
}

const BASE: Mix = Mix {
    fill: 0,
    bulk_free: 1,
    pinned: 1,
    max_len: 48,
};

fn cases(n: u32) -> u32 {
    let scale: f64 = std::env::var("SHADOW_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((f64::from(n) * scale).round() as u32).max(1)
}

fn pt_config(n: u32) -> PtConfig {
    PtConfig {
        cases: cases(n),
        max_shrink_iters: 20_000,
        // Failing seeds go to tests/differential.proptest-regressions (commit them).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..PtConfig::default()
    }
}

fn key(c: Config) -> impl Strategy<Value = Key> + Clone {
    (0..c.parents, 0..c.ids).prop_map(|(p, id)| Key { p, id })
}

fn ctor() -> impl Strategy<Value = Ctor> + Clone {
    prop_oneof![8 => Just(Ctor::Ok), 3 => Just(Ctor::Err), 1 => Just(Ctor::Panic)]
}

fn hold() -> impl Strategy<Value = bool> + Clone {
    prop::bool::weighted(0.25)
}

/// One non-batch step. Variants are listed simplest first: proptest shrinks a
/// `Union` towards its earlier arms.
fn leaf(c: Config, m: Mix) -> BoxedStrategy<Op> {
    let k = key(c);
    let id = 0..c.ids;
    let mut arms: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (
            6,
            (k.clone(), hold())
                .prop_map(|(k, hold)| Op::Get { k, hold })
                .boxed(),
        ),
        (3, k.clone().prop_map(|k| Op::Contains { k }).boxed()),
        (2, Just(Op::Len).boxed()),
        (1, Just(Op::IsEmpty).boxed()),
        (2, id.clone().prop_map(|id| Op::Iter { id }).boxed()),
        (
            5,
            (k.clone(), ctor())
                .prop_map(|(k, ctor)| Op::Alloc { k, ctor })
                .boxed(),
        ),
        (
            4,
            (k.clone(), ctor())
                .prop_map(|(k, ctor)| Op::TryAlloc { k, ctor })
                .boxed(),
        ),
        (4, k.clone().prop_map(|k| Op::Insert { k }).boxed()),
        (
            5,
            (k.clone(), ctor(), hold())
                .prop_map(|(k, ctor, hold)| Op::GetOrAlloc { k, ctor, hold })
                .boxed(),
        ),
        (
            4,
            (k.clone(), ctor())
                .prop_map(|(k, ctor)| Op::TryGetOrAlloc { k, ctor })
                .boxed(),
        ),
        (3, k.clone().prop_map(|k| Op::GetOrDefault { k }).boxed()),
        (4, k.clone().prop_map(|k| Op::Free { k }).boxed()),
        (4, k.prop_map(|k| Op::FreeWith { k }).boxed()),
        (
            m.bulk_free,
            id.clone().prop_map(|id| Op::FreeAll { id }).boxed(),
        ),
        (
            m.bulk_free,
            id.clone().prop_map(|id| Op::FreeAllWith { id }).boxed(),
        ),
        (
            m.bulk_free,
            (0..c.parents).prop_map(|p| Op::FreeParent { p }).boxed(),
        ),
        (1, Just(Op::Release).boxed()),
    ];
    if m.fill > 0 {
        arms.push((
            m.fill,
            (id, 0u8..8, 1u8..=96)
                .prop_map(|(id, from, n)| Op::Fill { id, from, n })
                .boxed(),
        ));
    }
    Union::new_weighted(arms.into_iter().filter(|(w, _)| *w > 0).collect()).boxed()
}

fn op(c: Config, m: Mix) -> BoxedStrategy<Op> {
    let l = leaf(c, m);
    if m.pinned == 0 {
        return l;
    }
    prop_oneof![
        12 => l.clone(),
        m.pinned => prop::collection::vec(l, 1..8).prop_map(Op::Pinned),
    ]
    .boxed()
}

fn ops(c: Config, m: Mix) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(c, m), 0..m.max_len)
}

fn check<V: Value>(c: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    run::<V>(c, ops).map(drop).map_err(TestCaseError::fail)
}

const ONE_SHARD: Config = Config {
    name: "one_shard",
    build: Build::Builder {
        shards: Some(1),
        capacity: None,
    },
    parents: 4,
    ids: 3,
};
const MANY_SHARDS: Config = Config {
    name: "many_shards",
    build: Build::Builder {
        shards: Some(64),
        capacity: None,
    },
    parents: 4,
    ids: 3,
};
const TINY_GROWTH: Config = Config {
    name: "tiny_capacity_growth",
    build: Build::Builder {
        shards: Some(1),
        capacity: Some(0),
    },
    parents: 4,
    ids: 3,
};
const GROW_SHRINK: Config = Config {
    name: "with_capacity_0_grow_shrink",
    build: Build::WithCapacity(0),
    parents: 4,
    ids: 3,
};
const EDGES: Config = Config {
    name: "default_edge_keys",
    build: Build::New,
    parents: 8,
    ids: 5,
};

proptest! {
    #![proptest_config(pt_config(12_000))]
    /// 1 shard: every key collides in one shard's table.
    #[test]
    fn one_shard(ops in ops(ONE_SHARD, BASE)) {
        check::<Plain>(&ONE_SHARD, &ops)?;
    }
}

proptest! {
    #![proptest_config(pt_config(10_000))]
    /// 64 shards, drop-counted values: exactly-once destruction.
    #[test]
    fn many_shards_drop_counted(ops in ops(MANY_SHARDS, BASE)) {
        check::<Tracked>(&MANY_SHARDS, &ops)?;
    }
}

proptest! {
    #![proptest_config(pt_config(6_000))]
    /// Builder capacity 0, 1 shard, bulk fills: the table grows mid-sequence with
    /// held `Shadow`s and pinned references live across the growth.
    #[test]
    fn tiny_capacity_growth(ops in ops(TINY_GROWTH, Mix { fill: 3, pinned: 2, max_len: 32, ..BASE })) {
        check::<Tracked>(&TINY_GROWTH, &ops)?;
    }
}

proptest! {
    #![proptest_config(pt_config(6_000))]
    /// `with_capacity(0)`: grow by fills, shrink by bulk frees, grow again.
    #[test]
    fn grow_then_shrink(ops in ops(GROW_SHRINK, Mix { fill: 4, bulk_free: 4, max_len: 32, ..BASE })) {
        check::<Tracked>(&GROW_SHRINK, &ops)?;
    }
}

proptest! {
    #![proptest_config(pt_config(8_000))]
    /// `ShadowMap::new()`, edge addresses (8, `usize::MAX & !7`, ...) and ids (0,
    /// `u64::MAX`), mostly through pinned batches.
    #[test]
    fn default_map_edge_keys_pinned(ops in ops(EDGES, Mix { pinned: 4, ..BASE })) {
        check::<Tracked>(&EDGES, &ops)?;
    }
}

/// A fixed sequence that takes every configuration past 600 live entries (more
/// than 64 shards' minimum 8-slot tables hold, so growth is certain), shrinks it by
/// bulk frees and grows it again, with a held `Shadow` and pinned references live
/// across the growth, whatever the random runs happen to draw.
#[test]
fn deterministic_growth_and_shrink() {
    let fill = |id, from| Op::Fill { id, from, n: 255 };
    let mut seq = vec![
        Op::Get {
            k: Key { p: 0, id: 0 },
            hold: true,
        },
        Op::GetOrAlloc {
            k: Key { p: 1, id: 1 },
            ctor: Ctor::Ok,
            hold: true,
        },
        Op::Pinned(vec![
            Op::Get {
                k: Key { p: 1, id: 1 },
                hold: true,
            },
            fill(0, 0),
            fill(1, 0),
            Op::Iter { id: 1 },
            Op::FreeWith {
                k: Key { p: 1, id: 1 },
            },
            fill(2, 100),
        ]),
        Op::Len,
        Op::FreeAllWith { id: 0 },
        Op::FreeAll { id: 1 },
        Op::Len,
    ];
    for p in 0..4 {
        seq.push(Op::FreeParent { p });
    }
    seq.extend([
        fill(0, 3),
        fill(1, 7),
        Op::Iter { id: 0 },
        Op::Release,
        Op::FreeAll { id: 2 },
        Op::IsEmpty,
    ]);
    for c in [ONE_SHARD, MANY_SHARDS, TINY_GROWTH, GROW_SHRINK, EDGES] {
        let stats = run::<Tracked>(&c, &seq).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stats.peak_len >= 600,
            "{}: peak {} entries",
            c.name,
            stats.peak_len
        );
        run::<Plain>(&c, &seq).unwrap_or_else(|e| panic!("{e}"));
    }
}
