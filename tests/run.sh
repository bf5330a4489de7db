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
#
# Then the ARM boards (every board whose board.mk names a QEMU, or those in $PE_QEMU_BOARDS;
# PE_QEMU_BOARDS= skips them): each is built in its test variant (VARIANT=test: -O2 with fault
# injection and no sanitizers, which are unreliable under qemu-user; build/<board>/test) and its
# unit test programs run under user-mode QEMU (qemu-aarch64/qemu-arm -L build/<board>/sysroot),
# then its agent system test (scripts/arm-check.sh). A board whose build fails counts one
# failure and runs nothing. FILTER arm/rpi4 runs only that board; arm runs only the ARM stage.
#
# Last the other host boards (e.g. nofake, without the fake devices and the simulator; see
# below; PE_HOST_BOARDS= skips them): built, their unit tests run, their release build checked.
set -u
san=${1:?usage: tests/run.sh SAN_BUILD RELEASE_BUILD [FILTER]}
rel=${2:?usage: tests/run.sh SAN_BUILD RELEASE_BUILD [FILTER]}
filter=${3:-}
top=$(cd "$(dirname "$0")/.." && pwd)
export PE_SRCDIR=$top PE_BIN=$top/$san PE_BIN_RELEASE=$top/$rel
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/pe-tests-XXXXXX")
# A test keeps what a person would look at (e.g. a receipt's QR code image) in $PE_TEST_LOGDIR.
export PE_TEST_LOGDIR=$logdir
passed=0
failed=0
failures=()

run_prog() { # name timeout cmd...: 0 when it passed (or was filtered out), else 1
    local name=$1 limit=$2
    shift 2
    local out=$logdir/${name//\//_}.log
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
    [ "$f" -eq 0 ]
}

for t in "$top/$san"/tests/test_*; do
    [ -x "$t" ] || continue
    run_prog "unit/$(basename "$t")" 600 "$t"
done
for t in "$top"/tests/system/test_*.py; do
    [ -f "$t" ] || continue
    run_prog "system/$(basename "$t" .py)" 1200 /usr/bin/python3 "$t"
done

# ---- fuzz targets (tests/fuzz/; docs/fuzzing.md) ----
# Each target's seed corpus and past crashes replayed under the sanitizers (gcc; the san build's
# fuzz/replay_<name>, a plain main), then fuzz/short: every target under libFuzzer for a few
# seconds (clang; the fuzz build beside SAN_BUILD_DIR, make VARIANT=fuzz fuzz-bins), within
# 5 minutes in all. Missing builds fail: make check builds both.
for t in "$top/$san"/fuzz/replay_*; do
    [ -x "$t" ] || continue
    n=${t##*/replay_}
    fuzz_in=()
    for d in corpus crashes; do
        [ -d "$top/tests/fuzz/$d/$n" ] && fuzz_in+=("$top/tests/fuzz/$d/$n")
    done
    run_prog "fuzz/replay_$n" 600 "$t" "${fuzz_in[@]}"
done
run_prog "fuzz/short" 420 "$top/scripts/fuzz.sh" --check "$(dirname "$top/$san")/fuzz"

# ---- the ARM boards under user-mode QEMU ----
# Unit test programs that cannot work under qemu-user, as "program: reason", are skipped (and
# said so). test_mqtt execs the host's mosquitto: a host program started from an
# emulated one runs natively, and the ARM client reaches it over loopback. test_hal_linux_input
# makes its uinput keyboard only where every ioctl of that works, else leaves that test out.
qemu_skips=(
    "test_signer_pkcs11: its token is SoftHSM2's module of the host (x86-64), which an emulated ARM program cannot load"
)
qemu_skip() { # qemu_skip PROGRAM: the reason PROGRAM is skipped under qemu-user, or nothing
    local s
    for s in "${qemu_skips[@]}"; do
        [ "${s%%:*}" = "$1" ] && echo "${s#*: }"
    done
}
board_var() { # board_var BOARD VAR: a value of the board's board.mk, through make
    (eval "$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" \
        BOARD="$1" board-vars)" && eval "echo \"\$$2\"")
}
arm_wanted() { # the ARM stage of board $1 runs unless FILTER rules all of it out
    [ -z "$filter" ] || [[ "arm/$1/" == *"$filter"* ]] || [[ "$filter" == "arm/$1/"* ]]
}
if [ -z "${PE_QEMU_BOARDS+set}" ]; then
    PE_QEMU_BOARDS=
    for mk in "$top"/boards/*/board.mk; do
        b=$(basename "$(dirname "$mk")")
        [ -n "$(board_var "$b" QEMU)" ] && PE_QEMU_BOARDS="$PE_QEMU_BOARDS $b"
    done
fi
for b in $PE_QEMU_BOARDS; do
    arm_wanted "$b" || continue
    # The build is never filtered out: a test must not run from a stale binary.
    filter= run_prog "arm/$b/build" 1200 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -C "$top" -j2 BOARD="$b" VARIANT=test all unit-tests || continue
    qemu=$(board_var "$b" QEMU)
    sysroot=$top/$(board_var "$b" SYSROOT)
    for t in "$top/build/$b/test"/tests/test_*; do
        [ -x "$t" ] || continue
        why=$(qemu_skip "$(basename "$t")")
        if [ -n "$why" ]; then
            echo "== arm/$b/unit/$(basename "$t")"
            echo "   # skipped under $qemu: $why"
            continue
        fi
        run_prog "arm/$b/unit/$(basename "$t")" 900 "$qemu" -L "$sysroot" "$t"
    done
    run_prog "arm/$b/agent" 600 "$top/scripts/arm-check.sh" "$b" "build/$b/test" "$rel"
done

# ---- the other host boards ----
# Every board without a QEMU besides the one tested above (the board of SAN_BUILD_DIR), or
# those in $PE_HOST_BOARDS (PE_HOST_BOARDS= skips them), e.g. nofake, whose HAL_DIRS leaves out
# fake: built in the sanitizer and release variants (a board whose build fails counts one
# failure and runs nothing), its unit test programs run (the Makefile builds only those the
# board can: none that includes hal/fake/ or sim/ when it leaves them out), then
# scripts/board-check.sh on its release build. FILTER board/nofake runs only that board.
this_board=$(basename "$(dirname "$top/$san")")
board_wanted() { # the stage of host board $1 runs unless FILTER rules all of it out
    [ -z "$filter" ] || [[ "board/$1/" == *"$filter"* ]] || [[ "$filter" == "board/$1/"* ]]
}
if [ -z "${PE_HOST_BOARDS+set}" ]; then
    PE_HOST_BOARDS=
    for mk in "$top"/boards/*/board.mk; do
        b=$(basename "$(dirname "$mk")")
        [ "$b" != "$this_board" ] && [ -z "$(board_var "$b" QEMU)" ] &&
            PE_HOST_BOARDS="$PE_HOST_BOARDS $b"
    done
fi
for b in $PE_HOST_BOARDS; do
    board_wanted "$b" || continue
    filter= run_prog "board/$b/build" 1200 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL bash -c \
        'make -C "$1" -j2 BOARD="$2" VARIANT=san all unit-tests && make -C "$1" -j2 BOARD="$2" all' \
        make "$top" "$b" || continue
    for t in "$top/build/$b/san"/tests/test_*; do
        [ -x "$t" ] || continue
        run_prog "board/$b/unit/$(basename "$t")" 600 "$t"
    done
    run_prog "board/$b/check" 120 "$top/scripts/board-check.sh" "$b" "build/$b"
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed programs: ${failures[*]}"
echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
