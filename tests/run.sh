#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every unit test program and every system test script, and ends with the one summary
# line "N passed, N failed" over all of them. Each program prints "ok - name" or
# "not ok - name: reason" per test; a program that dies without reporting a failure counts as
# one failed test, so a crash can never pass for green, and a run that executed no test fails.
#
# usage: tests/run.sh SAN_BUILD_DIR RELEASE_BUILD_DIR [FILTER]
# System tests run with /usr/bin/python3 (Debian's Python; they use only its standard library).
set -u
san=${1:?usage: tests/run.sh SAN_BUILD RELEASE_BUILD [FILTER]}
rel=${2:?usage: tests/run.sh SAN_BUILD RELEASE_BUILD [FILTER]}
filter=${3:-}
top=$(cd "$(dirname "$0")/.." && pwd)
export PE_SRCDIR=$top PE_BIN=$top/$san PE_BIN_RELEASE=$top/$rel
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/pe-tests-XXXXXX")
passed=0
failed=0
failures=()

run_prog() { # name timeout cmd...
    local name=$1 limit=$2
    shift 2
    local out=$logdir/$(basename "$name").log
    if [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then
        return
    fi
    echo "== $name"
    timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    grep -E '^(ok|not ok) - |^# ' "$out" | sed 's/^/   /'
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "   not ok - $name: exited with status $rc without reporting a failure"
    fi
    if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
        failures+=("$name")
        echo "   --- output of $name (last 60 lines) ---"
        tail -n 60 "$out" | sed 's/^/   | /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

for t in "$top/$san"/tests/test_*; do
    [ -x "$t" ] || continue
    run_prog "unit/$(basename "$t")" 600 "$t"
done
for t in "$top"/tests/system/test_*.py; do
    [ -f "$t" ] || continue
    run_prog "system/$(basename "$t" .py)" 1200 /usr/bin/python3 "$t"
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed programs: ${failures[*]}"
echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
