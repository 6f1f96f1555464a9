//! Decodes a map configuration and a sequence of operations (every public operation,
//! pinned batches, bulk fills that force growth) and runs it against the real map
//! and the sequential model (`shadow_vars_proptests::diff::run`), which compares
//! every result, checks held values stay intact, and (for drop-counted values)
//! that every created value is dropped exactly once. Any disagreement panics.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run ops -- -max_total_time=600`

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shadow_vars_proptests::{Build, Config, Op, Plain, Tracked, run};

#[derive(Debug, Arbitrary)]
struct Input {
    config: u8,
    drop_counted: bool,
    ops: Vec<Op>,
}

const fn builder(
    name: &'static str,
    shards: Option<usize>,
    capacity: Option<usize>,
    parents: u8,
    ids: u8,
) -> Config {
    Config {
        name,
        build: Build::Builder { shards, capacity },
        parents,
        ids,
    }
}

const CONFIGS: [Config; 6] = [
    builder("one_shard", Some(1), None, 4, 3),
    builder("many_shards", Some(64), None, 4, 3),
    builder("tiny_capacity", Some(1), Some(0), 8, 5),
    builder("two_shards_capacity_1", Some(2), Some(1), 2, 1),
    Config {
        name: "with_capacity_0",
        build: Build::WithCapacity(0),
        parents: 4,
        ids: 3,
    },
    Config {
        name: "default_edge_keys",
        build: Build::New,
        parents: 8,
        ids: 5,
    },
];

fuzz_target!(|input: Input| {
    let cfg = &CONFIGS[usize::from(input.config) % CONFIGS.len()];
    let result = if input.drop_counted {
        run::<Tracked>(cfg, &input.ops)
    } else {
        run::<Plain>(cfg, &input.ops)
    };
    if let Err(e) = result {
        panic!("map and model disagree: {e}\nsequence: {:#?}", input.ops);
    }
});
