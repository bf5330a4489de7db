#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the fuzz targets of a libFuzzer build (make VARIANT=fuzz fuzz-bins: BUILD/fuzz/fuzz_<name>)
# for a fixed time each, and says what they did: one line per target
#   fuzz <name>: execs=E crashes=C
# and a last line
#   fuzz total: targets=T execs=E crashes=C
# It exits non-zero when any target crashed (a sanitizer report, a leak, a timeout, running out
# of memory, or a target that did not run at all); the input that did it is kept where the
# target's message says, with the command that reproduces it.
#
# usage: scripts/fuzz.sh [--check] BUILD        (BUILD: e.g. build/sim/fuzz)
#   FUZZ_SECONDS=N     seconds per target (default 60)
#   FUZZ_TARGETS=a,b   only these targets (default all)
#   FUZZ_JOBS=N        targets run at a time (default 1)
#   FUZZ_BUDGET=N      wall seconds for all of it: FUZZ_SECONDS is lowered to fit (default none)
#   FUZZ_MERGE=1       afterwards, merge the inputs that found new coverage into the seed corpus
#                      (tests/fuzz/corpus/<name>/: review and commit them)
#   FUZZ_TIMEOUT=N     seconds one input may take before it counts as a hang (default 10)
# --check is make check's short run (tests/run.sh, program fuzz/short): 8 s per target, two at a
# time, within 270 s in all, with a test harness line per target (ok - fuzz.<name>).
#
# The seed corpus (tests/fuzz/corpus/<name>/), the past crashes (tests/fuzz/crashes/<name>/) and
# the dictionary (tests/fuzz/<name>.dict) and a target's own libFuzzer flags (tests/fuzz/<name>.options:
# one flag a line, # comments) are read only: the inputs libFuzzer finds go to
# BUILD/work/<name>/corpus/, which later runs start from as well, and its artifacts (crash-*,
# leak-*, timeout-*, oom-*) to BUILD/work/<name>/.
set -u
check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
    : "${FUZZ_SECONDS:=8}" "${FUZZ_JOBS:=2}" "${FUZZ_BUDGET:=270}"
fi
build=${1:?usage: scripts/fuzz.sh [--check] BUILD}
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
budget=${FUZZ_BUDGET:-0}
hang=${FUZZ_TIMEOUT:-10}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

say() { # one summary line; a comment to the test harness under --check
    if [ "$check" -eq 1 ]; then echo "# $*"; else echo "$*"; fi
}

names=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
    IFS=, read -r -a names <<<"$FUZZ_TARGETS"
else
    for b in "$build"/fuzz/fuzz_*; do
        [ -x "$b" ] && names+=("${b##*/fuzz_}")
    done
fi
if [ ${#names[@]} -eq 0 ]; then
    echo "fuzz: no target in $build/fuzz (make VARIANT=fuzz fuzz-bins builds them)" >&2
    [ "$check" -eq 1 ] && echo "not ok - fuzz: no target built in $build/fuzz"
    exit 1
fi
if [ "$budget" -gt 0 ]; then
    # Each round of $jobs targets takes about seconds + 2 (start, corpus load, final stats).
    rounds=$(((${#names[@]} + jobs - 1) / jobs))
    fit=$((budget / rounds - 2))
    [ "$fit" -lt 1 ] && fit=1
    [ "$seconds" -gt "$fit" ] && seconds=$fit
fi
say "fuzz: ${#names[@]} targets, ${seconds} s each, $jobs at a time"

run_one() { # run_one NAME: fuzz it; writes BUILD/work/NAME/result "execs crashes rc"
    local name=$1 bin=$build/fuzz/fuzz_$1 work=$build/work/$1
    mkdir -p "$work/corpus"
    rm -f "$work/result"
    if [ ! -x "$bin" ]; then
        echo "0 1 127" >"$work/result"
        echo "fuzz: no such target $bin" >"$work/log"
        return
    fi
    touch "$work/.start"
    local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout="$hang"
                -artifact_prefix="$work/")
    [ -f "$top/tests/fuzz/$name.dict" ] && args+=(-dict="$top/tests/fuzz/$name.dict")
    local opt
    if [ -f "$top/tests/fuzz/$name.options" ]; then
        while read -r opt; do
            case $opt in '' | '#'*) ;; *) args+=("$opt") ;; esac
        done <"$top/tests/fuzz/$name.options"
    fi
    local dirs=("$work/corpus")
    local d
    for d in corpus crashes; do
        [ -d "$top/tests/fuzz/$d/$name" ] && dirs+=("$top/tests/fuzz/$d/$name")
    done
    "$bin" "${args[@]}" "${dirs[@]}" >"$work/log" 2>&1
    local rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
    [ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$work/log" | tail -n 1)
    local crashes
    crashes=$(find "$work" -maxdepth 1 -newer "$work/.start" -type f \
              \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
              wc -l)
    # Stopped from outside (SIGINT, SIGTERM: libFuzzer says so) is no crash, but no pass.
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] &&
        ! grep -q 'libFuzzer: run interrupted' "$work/log"; then
        crashes=1
    fi
    echo "${execs:-0} $crashes $rc" >"$work/result"
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$rc" -eq 0 ]; then
        "$bin" -merge=1 -artifact_prefix="$work/" "$top/tests/fuzz/corpus/$name" "$work/corpus" \
            >"$work/merge.log" 2>&1
    fi
}

for name in "${names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_one "$name" &
done
wait

total_execs=0
total_crashes=0
interrupted=0
for name in "${names[@]}"; do
    work=$build/work/$name
    read -r execs crashes rc <"$work/result" || { execs=0 crashes=1 rc=?; }
    total_execs=$((total_execs + execs))
    total_crashes=$((total_crashes + crashes))
    say "fuzz $name: execs=$execs crashes=$crashes"
    if [ "$crashes" -eq 0 ] && [ "$rc" != 0 ]; then
        interrupted=1
        echo "fuzz $name: interrupted (status $rc)" >&2
        [ "$check" -eq 1 ] && echo "not ok - fuzz.$name: interrupted"
    fi
    if [ "$crashes" -gt 0 ]; then
        input=$(find "$work" -maxdepth 1 -newer "$work/.start" -type f \
                \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
                head -n 1)
        if [ -n "$input" ]; then
            msg="input kept in $input; reproduce: $build/fuzz/fuzz_$name $input"
        else
            msg="exited with status $rc, no input saved; log: $work/log"
        fi
        echo "fuzz $name: FAILED: $msg" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/log" | head -n 5 | sed 's/^/  /' >&2
        [ "$check" -eq 1 ] && echo "not ok - fuzz.$name: $msg"
    elif [ "$check" -eq 1 ] && [ "$rc" = 0 ]; then
        echo "ok - fuzz.$name: $execs execs"
    fi
    [ "${FUZZ_MERGE:-0}" = 1 ] && [ -f "$work/merge.log" ] &&
        say "fuzz $name: merged into tests/fuzz/corpus/$name: $(grep -o '[0-9]* new files' "$work/merge.log" | tail -n 1)"
done
say "fuzz total: targets=${#names[@]} execs=$total_execs crashes=$total_crashes"
[ "$total_crashes" -eq 0 ] && [ "$interrupted" -eq 0 ]
