#!/usr/bin/env bash
# Runs the loom models (loom-tests/) and prints one line per model: its
# preemption bound, the executions loom explored and the time it took.
# See loom-tests/README.md for the flags; docs/VERIFICATION.md for what each
# model proves. Extra arguments go to the test binaries (e.g. a model name).
# `scripts/loom.sh --clippy` lints the same build instead (its code paths
# differ: cfg(shadow_vars_loom)), with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."

# shadow_vars_loom: the crate's sync shim uses loom.
# crossbeam_loom (+ the `loom` feature loom-tests enables): crossbeam-epoch's
#   own atomics are modelled too, so reclamation races are explored.
# crossbeam_sanitize: 4-entry garbage bags, so reclamation happens in small models.
# -C debug-assertions: the core's debug_assert!s (state-machine and table
#   invariants) are checked in every explored execution too (--release alone
#   turns them off); it costs about 1.5x in run time.
export RUSTFLAGS="--cfg shadow_vars_loom --cfg crossbeam_loom --cfg crossbeam_sanitize -C debug-assertions"
# The flags rebuild every dependency: keep them out of the normal target dir.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"

if [ "${1:-}" = "--clippy" ]; then
    echo "+ RUSTFLAGS=\"$RUSTFLAGS\" CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo clippy --workspace --tests -- -D warnings"
    exec cargo clippy --workspace --tests -- -D warnings
fi

echo "+ RUSTFLAGS=\"$RUSTFLAGS\" CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo test -p shadow-vars-loom-tests --release -- --nocapture $*"
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test -p shadow-vars-loom-tests --release -- --nocapture "$@" 2>&1 | tee "$log" | grep -E "^test |loom model|panicked|FAILED|error"
rc=${PIPESTATUS[0]}
# The table's own model (src/raw/table.rs) drives a table directly, so that
# it can choose slots and tags; it lives in the crate's unit tests.
if [ $# -eq 0 ]; then
    echo "+ cargo test -p shadow-vars --lib --release -- raw::table::loom_models --nocapture"
    cargo test -p shadow-vars --lib --release -- raw::table::loom_models --nocapture 2>&1 | tee -a "$log" | grep -E "^test |loom model|panicked|FAILED|error"
    lib_rc=${PIPESTATUS[0]}
    [ "$rc" -ne 0 ] || rc=$lib_rc
fi
set -e
echo "--- loom summary ($(( $(date +%s) - start )) s including the build) ---"
grep -o "loom model .*" "$log" | sort || true
exit "$rc"
