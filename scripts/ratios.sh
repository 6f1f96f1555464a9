#!/usr/bin/env bash
# The throughput ratios of issue 4 with their spread: runs `compare`'s
# throughput section RUNS times (default 9) and prints, per mix and
# distribution, the median, lowest and highest of "sv / best peer" and
# "sv pin / best peer", and how often each row was the best peer. One run
# of `compare` moves single cells by 2-3x on a shared machine; the
# median of several runs is the figure to compare with a target.
#
#   bash scripts/ratios.sh                      # 2 threads, 9 runs (~75 s here)
#   RUNS=5 SV_THREADS=4 bash scripts/ratios.sh  # other knobs pass to compare
#   KEEP=dir bash scripts/ratios.sh             # also keeps each run's output
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-9}
export SV_THREADS=${SV_THREADS:-2}
case "$SV_THREADS" in
    *,*) echo "ratios.sh: one thread count at a time (SV_THREADS=$SV_THREADS)" >&2; exit 2 ;;
esac
export SV_SECTIONS=tp

cargo build --release --example compare >&2
bin=target/release/examples/compare
if [ -n "${KEEP:-}" ]; then
    out=$KEEP
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

for r in $(seq 1 "$RUNS"); do
    echo "run $r/$RUNS: $(cut -d' ' -f1-3 /proc/loadavg) (load average)" >&2
    "$bin" "$out/chart-$r.svg" > "$out/run-$r.txt" 2>&1
done

# Each table of `compare` starts with "<mix> <dist>  <n> thr", then one line
# per row, then the two ratio lines and "best peer  <row>".
cat "$out"/run-*.txt | awk -v runs="$RUNS" -v thr="$SV_THREADS" '
    /^(read-heavy|mixed|write-heavy) (uniform|zipf) / { cell = $1 " " $2; next }
    /^sv \/ best peer/     { v[cell, "call"] = v[cell, "call"] " " substr($5, 1, length($5) - 1); next }
    /^sv pin \/ best peer/ { v[cell, "pin"] = v[cell, "pin"] " " substr($6, 1, length($6) - 1); next }
    /^best peer/ { sub(/^best peer +/, ""); best[cell, $0]++; if (!(cell in order)) { order[cell] = ++n; cells[n] = cell } next }
    function stats(s,   a, k, i, j, t) {
        k = split(s, a, " ")
        if (k == 0) return sprintf("%-21s", "-")
        for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return sprintf("%5.2fx  %5.2fx-%5.2fx", (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2, a[1], a[k])
    }
    END {
        printf "%s runs of the throughput section, %s threads: ratio to the best peer, median  lowest-highest\n", runs, thr
        printf "%-20s  %-22s  %-22s  %s\n", "mix", "per call", "pinned", "best peer (runs)"
        for (i = 1; i <= n; i++) {
            c = cells[i]; peers = ""
            for (key in best) { split(key, p, SUBSEP); if (p[1] == c) peers = peers sprintf("%s (%d); ", p[2], best[key]) }
            printf "%-20s  %-22s  %-22s  %s\n", c, stats(v[c, "call"]), stats(v[c, "pin"]), peers
        }
    }'
if [ -n "${KEEP:-}" ]; then
    echo "outputs: $out" >&2
fi
