//! Printed sections shared by `examples/compare.rs` and `benches/scenarios.rs`:
//! slow-constructor isolation, constructor race, growth, memory.

use std::fmt::Write as _;
use std::time::Duration;

use super::backends::{Backend, Row, Visit, for_each_backend, rows};
use super::workload::{self, Dist, READ_HEAVY};
use super::{env_ms, env_num, mem, run};

// ------------------------------------------------------------------- isolation

pub(crate) fn isolation_section() -> Vec<(Row, run::Isolation)> {
    let slice = env_ms("SV_ISO_MS", 20);
    let rounds = env_num("SV_ISO_ROUNDS", 3usize);
    let ctor = Duration::from_micros(100);
    let how = run::SlowCtor::from_env();
    println!(
        "\n== Slow-constructor isolation: 1 reader (read-heavy, uniform) beside 1 thread doing \
         get_or_alloc(fresh key, 100 us {} constructor) + free; {rounds} x {} ms alone \
         alternating with {rounds} x {} ms beside; stalled = share of the reader's time in \
         batches of 64 operations that took longer than 100 us ==",
        how.name(),
        slice.as_millis(),
        slice.as_millis()
    );
    let reader = workload::stream(READ_HEAVY, Dist::Uniform, 0);
    struct V<'a> {
        reader: &'a [u32],
        slice: Duration,
        rounds: usize,
        ctor: Duration,
        how: run::SlowCtor,
        out: Vec<(Row, run::Isolation)>,
    }
    impl Visit for V<'_> {
        fn visit<B: Backend>(&mut self) {
            for r in rows::<B>() {
                let iso = run::isolation::<B>(
                    r.pinned,
                    self.reader,
                    self.slice,
                    self.rounds,
                    self.ctor,
                    self.how,
                );
                self.out.push((r, iso));
            }
        }
    }
    let mut v = V {
        reader: &reader,
        slice,
        rounds,
        ctor,
        how,
        out: Vec::new(),
    };
    for_each_backend(&mut v);
    println!(
        "{:<26}{:>9}{:>9}{:>8}{:>11}{:>11}{:>8}{:>8}{:>8}",
        "", "alone", "beside", "ratio", "stalled", "stalled", "ctor", "ctor", "extra"
    );
    println!(
        "{:<26}{:>9}{:>9}{:>8}{:>11}{:>11}{:>8}{:>8}{:>8}",
        "", "Mops/s", "Mops/s", "", "% alone", "% beside", "loops", "us", "ctors"
    );
    for (r, i) in &v.out {
        println!(
            "{:<26}{:>9.2}{:>9.2}{:>8.3}{:>11.1}{:>11.1}{:>8}{:>8.0}{:>8}",
            r.name,
            i.alone / 1e6,
            i.with_ctor / 1e6,
            i.ratio(),
            i.stalled_alone * 100.0,
            i.stalled_beside * 100.0,
            i.ctor_loops,
            i.ctor_mean_us,
            i.extra_ctor_runs
        );
    }
    v.out
}

// ------------------------------------------------------------------------ race

pub(crate) fn race_section() -> Vec<(Row, run::Race)> {
    let n = env_num("SV_RACE_N", 20_000usize);
    println!(
        "\n== Constructor race: 2 threads, get_or_alloc on the same {n} fresh keys in the same \
         order =="
    );
    struct V {
        n: usize,
        out: Vec<(Row, run::Race)>,
    }
    impl Visit for V {
        fn visit<B: Backend>(&mut self) {
            for r in rows::<B>() {
                let x = run::ctor_race::<B>(r.pinned, self.n);
                self.out.push((r, x));
                println!(
                    "{:<26}{:>12}{:>14}{:>16}",
                    r.name,
                    x.ctor_runs,
                    x.extra(),
                    x.disagreements
                );
            }
        }
    }
    println!(
        "{:<26}{:>12}{:>14}{:>16}",
        "", "ctor runs", "extra runs", "disagreements"
    );
    let mut v = V { n, out: Vec::new() };
    for_each_backend(&mut v);
    v.out
}

// ---------------------------------------------------------------------- growth

pub(crate) fn growth_section() {
    let n = env_num("SV_GROWTH_N", 1_000_000usize);
    let cap = env_ms("SV_GROWTH_CAP_MS", 600);
    let rounds = env_num("SV_GROWTH_ROUNDS", 3usize).max(1);
    println!(
        "\n== Growth: insert {n} keys into an empty map (alloc; threads insert disjoint \
         halves); Minserts/s, '*' = stopped at the {} ms cap; then ns per entry to drop the \
         map filled by 1 thread (every value destroyed); median of {rounds} rounds, rows \
         measured round-robin ==",
        cap.as_millis()
    );
    println!(
        "{:<26}{:>14}{:>14}{:>14}",
        "", "1 thread", "2 threads", "drop ns"
    );
    /// Per row: its runs at 1 and 2 threads, one per round.
    type Runs = Vec<(&'static str, [Vec<run::Growth>; 2])>;
    struct V {
        n: usize,
        cap: Duration,
        runs: Runs,
    }
    impl Visit for V {
        fn visit<B: Backend>(&mut self) {
            for r in rows::<B>() {
                let i = match self.runs.iter().position(|(name, _)| *name == r.name) {
                    Some(i) => i,
                    None => {
                        self.runs.push((r.name, [Vec::new(), Vec::new()]));
                        self.runs.len() - 1
                    }
                };
                for (slot, t) in [1, 2].into_iter().enumerate() {
                    let g = run::growth::<B>(r.pinned, t, self.n, self.cap);
                    self.runs[i].1[slot].push(g);
                }
            }
        }
    }
    // Round-robin: each round measures every row once, so a row's runs are
    // spread over the section, and no row is always the first to fill a
    // fresh heap (the first maps of a process pay for its page faults).
    let mut v = V {
        n,
        cap,
        runs: Vec::new(),
    };
    for _ in 0..rounds {
        for_each_backend(&mut v);
    }
    for (name, [one, two]) in &v.runs {
        let mut s = format!("{name:<26}");
        for runs in [one, two] {
            let g = median_by(runs, run::Growth::mops);
            let mark = if g.capped {
                format!("*{}k", g.inserted / 1000)
            } else {
                String::new()
            };
            let _ = write!(s, "{:>14}", format!("{:.2}{mark}", g.mops()));
        }
        let _ = write!(
            s,
            "{:>14.1}",
            median_by(one, run::Growth::drop_ns).drop_ns()
        );
        println!("{s}");
    }
}

/// The run whose `key` is the median (the lower middle one for an even count).
fn median_by(runs: &[run::Growth], key: fn(&run::Growth) -> f64) -> run::Growth {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted[(sorted.len() - 1) / 2]
}

// ---------------------------------------------------------------------- memory

pub(crate) fn memory_section() -> Vec<(&'static str, mem::Mem)> {
    let n = env_num("SV_MEM_N", 1_000_000usize);
    println!(
        "\n== Memory: {n} u64 entries, bytes requested from the allocator (counting allocator, \
         one child process per map; after deferred frees are flushed) =="
    );
    println!(
        "{:<26}{:>12}{:>12}{:>16}{:>14}",
        "", "empty map", "B/entry", "after free-all", "after drop"
    );
    struct V {
        n: usize,
        out: Vec<(&'static str, mem::Mem)>,
    }
    impl Visit for V {
        fn visit<B: Backend>(&mut self) {
            if rows::<B>().is_empty() {
                return;
            }
            match mem::measure_in_child(B::NAME, self.n) {
                Ok(m) => {
                    println!(
                        "{:<26}{:>12}{:>12.1}{:>16}{:>14}",
                        B::NAME,
                        m.empty,
                        m.per_entry(),
                        m.after_free,
                        m.after_drop
                    );
                    self.out.push((B::NAME, m));
                }
                Err(e) => println!("{:<26}  {e}", B::NAME),
            }
        }
    }
    let mut v = V { n, out: Vec::new() };
    for_each_backend(&mut v);
    v.out
}
