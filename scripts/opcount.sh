#!/usr/bin/env bash
# Instructions and simulated cache misses per operation, per backend, from
# cachegrind: figures that repeat exactly on a noisy machine, where timings
# move by 2x between runs. Each row replays the same single-thread operation
# stream (examples/opcount.rs) twice, with N operations and with none, and
# the difference is divided by N, so the prefill and setup are not counted.
#
# The simulated caches: D1 = cachegrind's default for this host (32 KiB),
# LL = 1 MiB, 16-way (the per-core L2 of the machine in docs/BENCHMARKS.md),
# so "LL misses" are accesses that leave the core's private caches.
#
#   bash scripts/opcount.sh                 # default rows, uniform keys, 1M ops
#   OPS=200000 MIXES="read-heavy" DIST=zipf bash scripts/opcount.sh "shadow-vars pin x64" "dashmap"
#   BRANCHES=1 bash scripts/opcount.sh      # adds cachegrind's simulated branch
#                                           # mispredicts per operation
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }

OPS=${OPS:-1000000}
BRANCHES=${BRANCHES:-0}
if [ "$BRANCHES" = 1 ]; then bsim=yes; else bsim=no; fi
MIXES=${MIXES:-"read-heavy mixed write-heavy"}
DIST=${DIST:-uniform}
if [ $# -gt 0 ]; then
    ROWS=("$@")
else
    ROWS=("shadow-vars" "shadow-vars pin x64" "kernel-style" "Mutex<HashMap>" "dashmap"
          "papaya blocking pin x64" "scc HashIndex" "scc HashIndex guard x64")
fi

cargo build --release --example opcount >&2
bin=target/release/examples/opcount

# Prints "instructions D1-misses LL-misses mispredicts" of one run
# (mispredicts 0 unless BRANCHES=1).
counts() {
    valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 --branch-sim="$bsim" \
        --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 |
        awk 'BEGIN {m=0}
             / I *refs:/ {gsub(",","",$4); i=$4}
             / D1  misses:/ {gsub(",","",$4); d=$4}
             / LLd misses:/ {gsub(",","",$4); l=$4}
             / Mispredicts:/ {gsub(",","",$3); m=$3}
             END {print i, d, l, m}'
}

echo "per operation, $DIST keys, $OPS operations after a 100,000-entry prefill (single thread)"
for mix in $MIXES; do
    printf '\n%-26s %12s %12s %12s' "$mix" "instructions" "D1 misses" "LL misses"
    if [ "$BRANCHES" = 1 ]; then printf ' %12s' "mispredicts"; fi
    printf '\n'
    for row in "${ROWS[@]}"; do
        read -r i0 d0 l0 m0 < <(counts "$row" "$mix" "$DIST" 0)
        read -r i1 d1 l1 m1 < <(counts "$row" "$mix" "$DIST" "$OPS")
        awk -v r="$row" -v n="$OPS" -v i0="$i0" -v i1="$i1" -v d0="$d0" -v d1="$d1" -v l0="$l0" -v l1="$l1" \
            -v m0="$m0" -v m1="$m1" -v b="$BRANCHES" \
            'BEGIN {printf "%-26s %12.1f %12.2f %12.2f", r, (i1-i0)/n, (d1-d0)/n, (l1-l0)/n;
                    if (b == 1) printf " %12.2f", (m1-m0)/n; printf "\n"}'
    done
done
