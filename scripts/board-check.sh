#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# board-check.sh - what a board's release build must and must not hold, from the outside
# (tests/run.sh runs it for every host board besides the one it tests, e.g. nofake). For a
# board whose HAL_DIRS leaves out fake: no program holds a symbol of the simulator (sim/) or of
# the fake devices (hal/fake/), and posedge-ctl replay-catalog, whose dataset replay is part of
# the simulator, says it is not in this build instead of running. Prints "ok - name" or
# "not ok - name: reason".
#
# usage: scripts/board-check.sh BOARD BUILD_DIR
#   e.g. scripts/board-check.sh nofake build/nofake
set -u
board=${1:?usage: scripts/board-check.sh BOARD BUILD_DIR}
build=${2:?usage: scripts/board-check.sh BOARD BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$top/$build ;; esac
eval "$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" \
    BOARD="$board" board-vars)"
failed=0
ok() { echo "ok - $1"; }
fail() {
    echo "not ok - $1: $2"
    failed=$((failed + 1))
}

# The simulator's and the fakes' global names: the public pe_sim_/pe_shopper_/pe_replay_ and
# pe_fake_ functions, and their internal sim__, rp_ and fake__ ones.
sim_syms='^(pe_sim_|pe_shopper_|pe_replay_|pe_fake_|sim__|rp_|fake__)'

case " $HAL_DIRS " in
*" fake "*)
    echo "# board $board builds fake (HAL_DIRS: $HAL_DIRS): nothing to check"
    ;;
*)
    for p in posedge-agent posedge-ctl posedge-bridge; do
        name=board/$board.$p.no_simulator
        if [ ! -x "$build/$p" ]; then
            fail "$name" "$build/$p was not built"
            continue
        fi
        syms=$("${CROSS}nm" "$build/$p" 2>&1) || {
            fail "$name" "${CROSS}nm $build/$p: $syms"
            continue
        }
        found=$(awk '{ print $NF }' <<<"$syms" | grep -E "$sim_syms" | head -5 | tr '\n' ' ')
        if [ -n "$found" ]; then
            fail "$name" "it holds simulator symbols: $found"
        else
            ok "$name"
        fi
    done

    name=board/$board.replay_catalog_not_built
    out=$("$build/posedge-ctl" replay-catalog --format online-retail /dev/null 2>&1)
    rc=$?
    if [ "$rc" -ne 2 ] || [[ "$out" != *"not in this build"* ]]; then
        fail "$name" "posedge-ctl replay-catalog exited $rc saying: $out"
    else
        ok "$name"
    fi
    ;;
esac
[ "$failed" -eq 0 ]
