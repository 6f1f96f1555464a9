#!/usr/bin/env bash
# Runs the unit and integration tests (stress tests included) under
# AddressSanitizer and ThreadSanitizer (nightly; std rebuilt instrumented).
# Install once: rustup component add --toolchain nightly rust-src
# Usage: scripts/sanitizers.sh [address|thread ...] [-- test args]
#   SAN_TESTS="--test stress" to choose the test targets (default: --tests).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sanitizers+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#sanitizers[@]} -eq 0 ] && sanitizers=(address thread)
read -r -a tests <<< "${SAN_TESTS:---tests}"
target=x86_64-unknown-linux-gnu

for san in "${sanitizers[@]}"; do
    # -Zsanitizer: instrument every crate, std included (-Zbuild-std), so that
    #   std's Mutex/Condvar/thread code is visible to the sanitizer too.
    # --target is required by -Zbuild-std, and keeps the flags off build scripts.
    # crossbeam-epoch and crossbeam-utils see the thread sanitizer in their
    #   build scripts and switch to `crossbeam_sanitize_thread` on their own
    #   (TSan does not understand fences; they then use equivalent accesses).
    export RUSTFLAGS="-Zsanitizer=$san"
    export RUSTDOCFLAGS="-Zsanitizer=$san"
    # -Cforce-frame-pointers: readable sanitizer stack traces.
    RUSTFLAGS="$RUSTFLAGS -Cforce-frame-pointers=yes"
    case "$san" in
        # detect_leaks=0: the tests leak some maps on purpose (`Box::leak`, to
        #   share a `&'static ShadowMap` with threads) and garbage still queued
        #   on crossbeam-epoch's global collector at exit is never freed; our
        #   own leaks are caught by the tests' drop counters instead.
        # detect_stack_use_after_return: also catch references to dead frames.
        address) export ASAN_OPTIONS="detect_leaks=0:detect_stack_use_after_return=1" ;;
        # halt_on_error: fail the run on the first report.
        thread) export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" ;;
    esac
    export CARGO_TARGET_DIR="target/san-$san"
    echo "+ RUSTFLAGS=\"$RUSTFLAGS\" cargo +nightly test -Zbuild-std --target $target -p shadow-vars ${tests[*]} -- $*"
    start=$(date +%s)
    cargo +nightly test -Zbuild-std --target "$target" -p shadow-vars "${tests[@]}" -- "$@"
    echo "--- $san sanitizer: $(( $(date +%s) - start )) s including the build ---"
done
