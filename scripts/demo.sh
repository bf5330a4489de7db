#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: a simulated till trading for a minute on an accelerated clock (a 12-hour day in
# about 12 seconds), then its receipts, its last Z report and a verification of its journal.
# usage: scripts/demo.sh BUILD_DIR   (DEMO_SECONDS overrides 60)
set -eu
build=${1:?usage: scripts/demo.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${DEMO_SECONDS:-60}
run=$(mktemp -d "${TMPDIR:-/tmp}/posedge-demo-XXXXXX")
agent=$top/$build/posedge-agent
ctl=$top/$build/posedge-ctl
db=$run/journal.db

echo "posedge demo: one simulated till for ${secs}s; run directory $run"
"$agent" -c "$top/boards/sim/agent.json" --data-dir "$run" --set sim.speed=3600 \
    --set sim.tx_per_day=200 2>"$run/agent.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for ((i = 0; i < secs; i += 5)); do
    sleep 5   # the demo's pacing for a person watching, not synchronisation
    kill -0 $pid 2>/dev/null || { echo "agent stopped early:"; tail -20 "$run/agent.log"; exit 1; }
    n=$("$ctl" journal "$db" 2>/dev/null | wc -l)
    z=$("$ctl" journal "$db" --type z_report 2>/dev/null | wc -l)
    printf '  t=%3ds  events journaled: %6d  trading days closed (Z): %d\n' $((i + 5)) "$n" "$z"
done
kill -TERM $pid
wait $pid
trap - EXIT
echo
echo "---- last two receipts ($run/receipts.txt) ----"
awk 'BEGIN{RS="==========================================\n"} {r[NR]=$0} END{printf "%s", r[NR-2]; print "=========================================="; printf "%s", r[NR-1]}' "$run/receipts.txt"
z=$("$ctl" journal "$db" --type z_report | wc -l)
if [ "$z" -gt 0 ]; then
    echo "---- Z report No. $z (posedge-ctl report $db --z $z) ----"
    "$ctl" report "$db" --z "$z"
fi
echo "---- posedge-ctl verify $db ----"
"$ctl" verify "$db"
grep 'event=agent.summary' "$run/agent.log" | sed 's/^/summary: /'
echo "run directory: $run (journal.db, receipts.txt, drawer.log, agent.log)"
