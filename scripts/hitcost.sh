#!/usr/bin/env bash
# Instructions, branches, simulated branch mispredicts and cache misses per
# lookup of a present key, in a loop of independent lookups: shadow-vars
# through a held pin, a std HashMap with boxed values, and one with inline
# values (examples/hitcost.rs). Each map runs twice under cachegrind, with
# ROUNDS x 2^20 lookups and with none, and the difference is divided by the
# number of lookups, so building the map is not counted. The caches are
# simulated as in scripts/opcount.sh (LL = 1 MiB, this machine's L2); the
# mispredicts come from cachegrind's simple predictor, not the CPU's: read
# them as a comparison between the rows. shadow-vars seeds its hash at random,
# so its counts move by a few tenths between runs (probe lengths differ).
#
#   bash scripts/hitcost.sh               # 10,000 entries
#   ENTRIES=100000 bash scripts/hitcost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }

ENTRIES=${ENTRIES:-10000}
ROUNDS=${ROUNDS:-2}

cargo build --release --example hitcost >&2
bin=target/release/examples/hitcost

# Prints "instructions branches mispredicts D1-misses LL-misses" of one run.
counts() {
    valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 --branch-sim=yes \
        --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 |
        awk '/ I *refs:/ {gsub(",","",$4); i=$4}
             / Branches:/ {gsub(",","",$3); b=$3}
             / Mispredicts:/ {gsub(",","",$3); m=$3}
             / D1  misses:/ {gsub(",","",$4); d=$4}
             / LLd misses:/ {gsub(",","",$4); l=$4}
             END {print i, b, m, d, l}'
}

echo "per lookup of a present key, independent lookups, $ENTRIES entries (single thread)"
printf '%-14s %12s %10s %12s %10s %10s\n' map instructions branches mispredicts "D1 misses" "LL misses"
for map in shadow-vars boxed inline; do
    read -r i0 b0 m0 d0 l0 < <(counts "$map" "$ENTRIES" 0)
    read -r i1 b1 m1 d1 l1 < <(counts "$map" "$ENTRIES" "$ROUNDS")
    awk -v r="$map" -v n="$((ROUNDS * 1048576))" -v i0="$i0" -v i1="$i1" -v b0="$b0" -v b1="$b1" \
        -v m0="$m0" -v m1="$m1" -v d0="$d0" -v d1="$d1" -v l0="$l0" -v l1="$l1" \
        'BEGIN {printf "%-14s %12.1f %10.2f %12.3f %10.2f %10.2f\n", r, (i1-i0)/n, (b1-b0)/n,
                (m1-m0)/n, (d1-d0)/n, (l1-l0)/n}'
done
