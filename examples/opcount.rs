//! Replays a benchmark operation stream on one backend, single-threaded, for
//! `scripts/opcount.sh`, which runs it under cachegrind to count instructions
//! and simulated cache misses per operation: figures that repeat exactly on a
//! noisy machine, where throughput does not.
//!
//! ```text
//! cargo run --release --example opcount -- <row> <mix> <dist> <ops>
//! ```
//!
//! `<row>` is a row name of the comparison (`"shadow-vars pin x64"`,
//! `"scc HashIndex guard x64"`, ...), `<mix>` is `read-heavy`, `mixed` or
//! `write-heavy`, `<dist>` is `uniform` or `zipf`. The map is prefilled with
//! the standard 100,000 of 200,000 keys, then `<ops>` operations of thread 0's
//! stream run; with `<ops>` = 0 only the setup runs, which the script
//! subtracts.

#[path = "../benches/common/mod.rs"]
mod common;

use common::backends::{Backend, Visit, all_rows, for_each_backend};
use common::run::{prefilled, run_ops};
use common::workload::{DISTS, MIXES, stream};

struct Replay {
    row: String,
    mix: common::workload::Mix,
    dist: common::workload::Dist,
    ops: u64,
    found: bool,
}

impl Visit for Replay {
    fn visit<B: Backend>(&mut self) {
        // Every row, opt-in ones too: the row is named on the command line.
        for row in all_rows::<B>() {
            if row.name != self.row {
                continue;
            }
            self.found = true;
            let s = stream(self.mix, self.dist, 0);
            let map = prefilled::<B>();
            let mut pos = 0;
            run_ops(&map, row.pinned, &s, &mut pos, self.ops);
            std::hint::black_box(map.len());
            // Not dropped: how much a drop costs can depend on what the
            // operations left behind (shadow-vars frees its slab whole only
            // when no deferred free is pending), which would land in the
            // per-operation difference. The process exits right after.
            std::mem::forget(map);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [row, mix, dist, ops] = args.as_slice() else {
        eprintln!("usage: opcount <row> <read-heavy|mixed|write-heavy> <uniform|zipf> <ops>");
        std::process::exit(2);
    };
    let mix = *MIXES
        .iter()
        .find(|m| m.name == mix)
        .unwrap_or_else(|| panic!("unknown mix {mix:?}"));
    let dist = *DISTS
        .iter()
        .find(|d| d.name() == dist)
        .unwrap_or_else(|| panic!("unknown distribution {dist:?}"));
    let mut r = Replay {
        row: row.clone(),
        mix,
        dist,
        ops: ops.parse().expect("ops: a number"),
        found: false,
    };
    for_each_backend(&mut r);
    assert!(r.found, "unknown row {row:?}");
}
