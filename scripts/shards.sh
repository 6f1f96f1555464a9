#!/usr/bin/env bash
# Shard-count sweep: shadow-vars alone, throughput section of `compare`, at
# 2 and 16 threads, each shard count run twice (docs/BENCHMARKS.md, "Shard
# count"). Meant for a many-core machine; on 2 cores the noise hides the
# differences. Pass a `compare` binary to use one built elsewhere.
#
#   bash scripts/shards.sh [path/to/compare]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release --example compare >&2
    bin=target/release/examples/compare
fi
for rep in 1 2; do
    for sh in ${SHARDS:-1 4 16 64 256 1024}; do
        echo "### rep=$rep shards=$sh"
        SV_SHARDS=$sh SV_SECTIONS=tp SV_THREADS=${SV_THREADS:-2,16} SV_BACKENDS=shadow SV_ROUNDS=5 \
            "$bin" "${TMPDIR:-/tmp}/shards.svg" 2>&1 | grep -E "^(read-heavy|mixed|write-heavy) |^shadow-vars "
    done
done
