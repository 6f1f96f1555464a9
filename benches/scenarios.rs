//! The measurements that are counts rather than timings, printed as tables:
//! slow-constructor isolation, constructor race (extra constructor runs),
//! growth, and memory per entry (counting allocator, one child process per map).
//!
//! `cargo bench --bench scenarios`. Same knobs as `examples/compare.rs`.

mod common;

#[global_allocator]
static ALLOC: common::mem::CountingAlloc = common::mem::CountingAlloc;

fn main() {
    if common::mem::child_main() {
        return;
    }
    // `cargo bench` passes `--bench` (and any filter); there is nothing to filter.
    // `cargo bench -- --test` (criterion's smoke-test mode) gets a tiny run.
    if std::env::args().any(|a| a == "--test") {
        for (k, v) in [
            ("SV_ISO_MS", "5"),
            ("SV_ISO_ROUNDS", "1"),
            ("SV_RACE_N", "1000"),
            ("SV_GROWTH_N", "10000"),
            ("SV_MEM_N", "10000"),
        ] {
            // SAFETY: no other thread exists yet.
            unsafe { std::env::set_var(k, v) };
        }
    }
    common::report::isolation_section();
    common::report::race_section();
    common::report::growth_section();
    common::report::memory_section();
}
