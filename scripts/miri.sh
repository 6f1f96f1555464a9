#!/usr/bin/env bash
# Runs the shadow-vars unit and integration tests under Miri (nightly).
# The tests scale themselves down under cfg(miri) (tests/common: `scaled`).
# Install once: rustup component add --toolchain nightly miri rust-src
# Extra arguments select test targets, e.g. `scripts/miri.sh --test semantics`
# (default: `--tests`, the unit tests and every integration test).
set -euo pipefail
cd "$(dirname "$0")/.."

# -Zmiri-tree-borrows: crossbeam-epoch's `Local` handling is reported as UB
#   under the default Stacked Borrows model (a known false positive of that
#   model for intrusive lists); Tree Borrows accepts it and still checks our
#   own aliasing (`&T` handed out of entries, `UnsafeCell` value slots).
# -Zmiri-permissive-provenance: crossbeam-epoch (and our table and meta words,
#   via tagged pointers) converts integers back to pointers; without this Miri
#   warns on every such cast and stops checking provenance precisely there.
# -Zmiri-ignore-leaks: crossbeam-epoch's global collector, its thread
#   handles and garbage queued on it are never freed by design (a static), so
#   Miri would report them as leaks at exit. Our own leaks are checked by the
#   tests' drop counters instead (every value created is dropped once).
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks}"
# Miri builds its own sysroot and artifacts: keep them apart.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(--tests)
fi
echo "+ MIRIFLAGS=\"$MIRIFLAGS\" cargo +nightly miri test -p shadow-vars ${targets[*]}"
start=$(date +%s)
cargo +nightly miri test -p shadow-vars "${targets[@]}"
if [ $# -eq 0 ]; then
    # The slab's own tests use no epoch, so they run with the leak check on:
    # it is what catches a slab state or chunk that nobody frees (the drop
    # counters cannot see those).
    leak_flags="${MIRIFLAGS/-Zmiri-ignore-leaks/}"
    echo "+ MIRIFLAGS=\"$leak_flags\" cargo +nightly miri test -p shadow-vars --lib -- raw::slab"
    MIRIFLAGS="$leak_flags" cargo +nightly miri test -p shadow-vars --lib -- raw::slab
    # This test needs threads switched only where one blocks: the waiter
    # woken by a failed constructor must still be inside its wait when the
    # main thread reclaims the entry. Miri's default random preemption
    # usually lets the waiter finish first, and then nothing is checked.
    sched_flags="$MIRIFLAGS -Zmiri-preemption-rate=0"
    test=failed_entry_freed_while_its_waiter_is_parked
    echo "+ MIRIFLAGS=\"$sched_flags\" cargo +nightly miri test -p shadow-vars --test concurrency -- $test"
    MIRIFLAGS="$sched_flags" cargo +nightly miri test -p shadow-vars --test concurrency -- "$test"
fi
echo "--- miri: $(( $(date +%s) - start )) s ---"
