#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# arm-check.sh - the agent system test of a cross board, under user-mode QEMU (tests/run.sh
# runs it for each board with a QEMU in its board.mk). The board's agent, built for its
# architecture, sells to 200 shopper customers (seed 1, the simulated clock from a fixed start,
# never the time of day of the run) on the sim board's configuration (fake devices: the test
# build has hal/fake), run as QEMU -L build/BOARD/sysroot; the HOST's
# posedge-ctl then verifies the journal it wrote, so a journal made on the till is checked where
# it will be read. The board's own agent.json must load as well (--print-config: keys and
# values only, its devices are not opened). Prints "ok - name" or "not ok - name: reason".
#
# usage: scripts/arm-check.sh BOARD BUILD_DIR [HOST_BUILD_DIR]
#   e.g. scripts/arm-check.sh rpi4 build/rpi4/test build/sim
set -u
board=${1:?usage: scripts/arm-check.sh BOARD BUILD_DIR [HOST_BUILD_DIR]}
build=${2:?usage: scripts/arm-check.sh BOARD BUILD_DIR [HOST_BUILD_DIR]}
top=$(cd "$(dirname "$0")/.." && pwd)
host=${3:-${PE_BIN_RELEASE:-$top/build/sim}}
case $build in /*) ;; *) build=$top/$build ;; esac
case $host in /*) ;; *) host=$top/$host ;; esac
# The board's data (QEMU, SYSROOT) from its board.mk, through make; not as part of a caller's
# make (its jobserver is not ours).
eval "$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" \
    BOARD="$board" board-vars)"
if [ -z "$QEMU" ] || [ -z "$SYSROOT" ]; then
    echo "not ok - arm/$board: the board names no QEMU or has no sysroot"
    exit 1
fi
run=("$QEMU" -L "$top/$SYSROOT")
dir=$(mktemp -d "${TMPDIR:-/tmp}/pe-arm-$board-XXXXXX")
trap 'rm -rf "$dir"' EXIT
failed=0

# ok NAME, or fail NAME REASON LOG: one result line (with the log's tail on failure).
ok() { echo "ok - $1"; }
fail() {
    echo "not ok - $1: $2"
    [ -f "${3:-}" ] && tail -n 20 "$3" | sed 's/^/    /'
    failed=$((failed + 1))
}

name=arm/$board.board_config_loads
if "${run[@]}" "$build/posedge-agent" -c "$top/boards/$board/agent.json" --print-config \
    >"$dir/config.json" 2>"$dir/config.log"; then
    ok "$name"
else
    fail "$name" "posedge-agent --print-config on boards/$board/agent.json exited $?" \
        "$dir/config.log"
fi

name=arm/$board.agent_shopper_verifies
"${run[@]}" "$build/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$dir/till" \
    --shopper 200 --seed 1 --set sim.start=2026-03-02T07:55:00.000Z 2>"$dir/agent.log"
rc=$?
events=$(sed -n 's/.*event=agent.summary.* events=\([0-9]*\).*/\1/p' "$dir/agent.log" | tail -1)
if [ "$rc" -ne 0 ]; then
    fail "$name" "the $board agent exited $rc" "$dir/agent.log"
elif ! "$host/posedge-ctl" verify "$dir/till/journal.db" >"$dir/verify.out" 2>&1; then
    fail "$name" "the host's posedge-ctl verify failed: $(head -1 "$dir/verify.out")"
elif ! grep -q "^OK .*: ${events:-?} events," "$dir/verify.out"; then
    fail "$name" "verify saw $(head -1 "$dir/verify.out"), the agent reported ${events:-no} events"
else
    ok "$name"
fi
[ "$failed" -eq 0 ]
