#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench: posedge's figures, each against a limit measured in the same run on the same disk.
#   - durable events/s through the whole till path (HAL fakes, state machine, journal commit,
#     receipt) as a ratio of raw SQLite one-row-per-transaction commits/s (WAL, synchronous=FULL)
#   - p50/p99 latency from the last tender input to the journal commit
#   - peak RSS of the agent over 10,000 shopper customers, and the stripped binary sizes
# usage: scripts/bench.sh BUILD_DIR   (BENCH_CUSTOMERS overrides 10000)
set -eu
build=${1:?usage: scripts/bench.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
customers=${BENCH_CUSTOMERS:-10000}
dir=$(mktemp -d "$top/build/bench-XXXXXX")
trap 'rm -rf "$dir"' EXIT

raw() { "$top/$build/bench/bench_sqlite" "$dir" 3 | sed -n 's/^sqlite_commits_per_s=\([0-9]*\).*/\1/p'; }
field() { sed -n "s/.*event=agent.summary.* $1=\([0-9]*\).*/\1/p" "$dir/agent.log" | tail -1; }

echo "posedge bench: build=$build dir=$dir (same disk for every figure)"
raw1=$(raw)
/usr/bin/time -f '%M' -o "$dir/rss" "$top/$build/posedge-agent" -c "$top/boards/sim/agent.json" \
    --data-dir "$dir/till" --shopper "$customers" --seed 7 2>"$dir/agent.log"
raw2=$(raw)
rawavg=$(( (raw1 + raw2) / 2 ))
events=$(field events)
elapsed=$(field elapsed_ms)
p50=$(field tender_commit_p50_us)
p99=$(field tender_commit_p99_us)
sales=$("$top/$build/posedge-ctl" journal "$dir/till/journal.db" --type sale | wc -l)
rss=$(cat "$dir/rss")
"$top/$build/posedge-ctl" verify "$dir/till/journal.db" >/dev/null

strip_size() { cp "$1" "$dir/s" && strip "$dir/s" && stat -c %s "$dir/s"; }
asz=$(strip_size "$top/$build/posedge-agent")
csz=$(strip_size "$top/$build/posedge-ctl")

awk -v raw="$rawavg" -v r1="$raw1" -v r2="$raw2" -v ev="$events" -v ms="$elapsed" -v sales="$sales" \
    -v p50="$p50" -v p99="$p99" -v rss="$rss" -v asz="$asz" -v csz="$csz" -v n="$customers" 'BEGIN {
    evs = ev / (ms / 1000.0); ss = sales / (ms / 1000.0)
    printf "limit    raw SQLite commits/s (WAL, synchronous=FULL, 1 row/txn): %d (runs %d, %d)\n", raw, r1, r2
    printf "till     durable events/s through the till path: %.0f = %.2f x raw SQLite (goal >= 0.80)\n", evs, evs / raw
    printf "till     durable sales/s (sale events only, %d of %d events): %.0f = %.2f x raw SQLite\n", sales, ev, ss, ss / raw
    printf "latency  last tender -> commit: p50 %.3f ms, p99 %.3f ms\n", p50 / 1000.0, p99 / 1000.0
    printf "memory   agent peak RSS over %d shopper customers: %.1f MB (goal <= 8 MB)\n", n, rss / 1024.0
    printf "size     stripped posedge-agent %.0f KB, posedge-ctl %.0f KB\n", asz / 1024.0, csz / 1024.0
}'
