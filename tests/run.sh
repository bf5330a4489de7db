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
#
# Jobs run $PE_TEST_JOBS at a time (default 2, the cores CI has): a job is one program, or a
# board's stage (its build, then its programs, in order). The longest jobs start first, and
# each job's results print as one block when it ends, so blocks appear in the order jobs end.
# Jobs of one group (the tests that run make deb) never run side by side. Every job gets its
# lane number in $PE_TEST_LANE (0 .. PE_TEST_JOBS-1): tests/system/lib.py picks loopback ports
# from a range of its own per lane, so two tests running side by side never race for one port.
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
jobs_n=${PE_TEST_JOBS:-2}

run_prog() { # name timeout cmd...: 0 when it passed (or was filtered out), else 1
    local name=$1 limit=$2
    shift 2
    local out=$logdir/${name//\//_}.log
    if [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then
        return
    fi
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1
    local rc=$?
    echo "== $name ($((SECONDS - t0))s)"
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

# ---- the jobs ----
# job WEIGHT ALONE GROUP COMMAND...: a job to run; WEIGHT is its rough length in seconds on CI
# (the longest start first; a program not listed in the weights below counts 10), ALONE yes or
# no (below), GROUP its group or nothing (below).
job_weight=()
job_cmd=()
job_alone=()
job_group=()
job() {
    job_weight+=("$1")
    job_alone+=("$2")
    job_group+=("$3")
    shift 3
    job_cmd+=("$(printf '%q ' "$@")")
}
# Rough lengths in seconds, from a CI run: what makes the longest start first.
weight() {
    case $1 in
    system/test_fault_suite) echo 460 ;;
    system/test_soak) echo 450 ;;
    arm/*) echo 400 ;;
    system/test_powercut) echo 240 ;;
    fuzz/stage) echo 300 ;;
    system/test_bridge) echo 160 ;;
    system/test_faults) echo 120 ;;
    system/test_packages) echo 90 ;;
    system/test_repo) echo 60 ;;
    board/*) echo 150 ;;
    system/test_profiles*|system/test_fleet*|system/test_catalog*) echo 40 ;;
    system/*) echo 20 ;;
    *) echo 10 ;;
    esac
}
# Jobs that run alone, every lane waiting for them: those that keep both cores busy for minutes
# and wait on deadlines sized for a machine of their own (the fault suite's four sanitizer tills
# and bridge fill a 100,000-event backlog; beside an ARM build it missed its deadlines).
alone() {
    case $1 in
    system/test_fault_suite) echo yes ;;
    *) echo no ;;
    esac
}
# Jobs of one group never run at the same time; while a job waits for its group, the next job in
# line starts. Group deb: the tests that run make deb (scripts/deb.sh rewrites
# build/<board>/deb/ in place, and test_packages relinks build/sim with another version for its
# upgrade): two of them side by side would build into, and read from, one directory at once.
group() {
    case $1 in
    system/test_packages | system/test_repo) echo deb ;;
    esac
}
unit_prog() { run_prog "unit/$(basename "$1")" 600 "$1"; }
system_prog() { run_prog "system/$(basename "$1" .py)" 1200 /usr/bin/python3 "$1"; }
for t in "$top/$san"/tests/test_*; do
    [ -x "$t" ] || continue
    n=unit/$(basename "$t")
    job "$(weight "$n")" "$(alone "$n")" "$(group "$n")" unit_prog "$t"
done
for t in "$top"/tests/system/test_*.py; do
    [ -f "$t" ] || continue
    n=system/$(basename "$t" .py)
    job "$(weight "$n")" "$(alone "$n")" "$(group "$n")" system_prog "$t"
done

# ---- fuzz targets (tests/fuzz/; docs/fuzzing.md) ----
# Each target's seed corpus and past crashes replayed under the sanitizers (gcc; the san build's
# fuzz/replay_<name>, a plain main), one job each; and the fuzz stage: the clang build
# (make VARIANT=fuzz fuzz-bins, beside SAN_BUILD_DIR), then fuzz/short: every target under
# libFuzzer for a few seconds, within 5 minutes in all.
replay_prog() { # replay_prog BIN: its target's corpus and crashes through it
    local t=$1 n=${1##*/replay_} d
    local fuzz_in=()
    for d in corpus crashes; do
        [ -d "$top/tests/fuzz/$d/$n" ] && fuzz_in+=("$top/tests/fuzz/$d/$n")
    done
    run_prog "fuzz/replay_$n" 600 "$t" "${fuzz_in[@]}"
}
for t in "$top/$san"/fuzz/replay_*; do
    [ -x "$t" ] || continue
    job 10 no "" replay_prog "$t"
done
fuzz_stage() {
    local b
    b=$(basename "$(dirname "$top/$san")")
    filter= run_prog "fuzz/build" 1200 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -C "$top" -j2 BOARD="$b" VARIANT=fuzz fuzz-bins || return
    run_prog "fuzz/short" 420 "$top/scripts/fuzz.sh" --check "$(dirname "$top/$san")/fuzz"
}
[ -z "$filter" ] || [[ "fuzz/short" == *"$filter"* ]] || [[ "fuzz/build" == *"$filter"* ]] &&
    job "$(weight fuzz/stage)" no "" fuzz_stage

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
arm_stage() { # arm_stage BOARD: its build, its unit programs under QEMU, its agent check
    local b=$1 qemu sysroot t why
    # The build is never filtered out: a test must not run from a stale binary.
    filter= run_prog "arm/$b/build" 1200 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -C "$top" -j2 BOARD="$b" VARIANT=test all unit-tests || return
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
}
for b in $PE_QEMU_BOARDS; do
    arm_wanted "$b" && job "$(weight "arm/$b")" "$(alone "arm/$b")" "$(group "arm/$b")" \
        arm_stage "$b"
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
board_stage() { # board_stage BOARD: its builds, its unit programs, its release check
    local b=$1 t
    filter= run_prog "board/$b/build" 1200 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL bash -c \
        'make -C "$1" -j2 BOARD="$2" VARIANT=san all unit-tests && make -C "$1" -j2 BOARD="$2" all' \
        make "$top" "$b" || return
    for t in "$top/build/$b/san"/tests/test_*; do
        [ -x "$t" ] || continue
        run_prog "board/$b/unit/$(basename "$t")" 600 "$t"
    done
    run_prog "board/$b/check" 120 "$top/scripts/board-check.sh" "$b" "build/$b"
}
for b in $PE_HOST_BOARDS; do
    board_wanted "$b" && job "$(weight "board/$b")" "$(alone "board/$b")" "$(group "board/$b")" \
        board_stage "$b"
done

# ---- running them, $jobs_n at a time ----
# A job runs in a subshell with its output in $logdir/job-K.out and its counts ("passed failed
# failed-programs...") in $logdir/job-K.sum; the block is printed when the job ends.
run_job() { # run_job K LANE
    local k=$1
    export PE_TEST_LANE=$2
    passed=0 failed=0 failures=()
    eval "${job_cmd[$k]}" >"$logdir/job-$k.out" 2>&1
    echo "$passed $failed ${failures[*]}" >"$logdir/job-$k.sum"
}
collect() { # collect K: print job K's block and add its counts
    local k=$1 p f names
    cat "$logdir/job-$k.out"
    read -r p f names <"$logdir/job-$k.sum" || { p=0 f=1 names="job-$k(${job_cmd[$k]})"; }
    passed=$((passed + p))
    failed=$((failed + f))
    [ -n "$names" ] && failures+=($names)
}
order=$(for k in "${!job_cmd[@]}"; do echo "${job_weight[$k]} $k"; done | sort -s -k1,1nr | cut -d' ' -f2)
declare -A job_of_pid=() lane_of_job=() group_busy=()
free_lanes=()
for ((l = 0; l < jobs_n; l++)); do free_lanes+=("$l"); done
reap() { # wait for one job to end, print it, free its lane and its group
    local pid k
    wait -n -p pid
    k=${job_of_pid[$pid]}
    unset "job_of_pid[$pid]"
    free_lanes+=("${lane_of_job[$k]}")
    [ -z "${job_group[$k]}" ] || unset "group_busy[${job_group[$k]}]"
    collect "$k"
}
pending=()
for k in $order; do pending+=("$k"); done
while [ ${#pending[@]} -gt 0 ]; do
    [ ${#free_lanes[@]} -gt 0 ] || { reap; continue; }
    # The first job in line whose group is free (a busy group has a job running to reap).
    pick=
    for i in "${!pending[@]}"; do
        g=${job_group[${pending[$i]}]}
        if [ -z "$g" ] || [ -z "${group_busy[$g]:-}" ]; then
            pick=$i
            break
        fi
    done
    [ -n "$pick" ] || { reap; continue; }
    k=${pending[$pick]}
    unset "pending[$pick]"
    pending=("${pending[@]}")
    if [ "${job_alone[$k]}" = yes ]; then
        while [ ${#job_of_pid[@]} -gt 0 ]; do reap; done
    fi
    lane=${free_lanes[0]}
    free_lanes=("${free_lanes[@]:1}")
    lane_of_job[$k]=$lane
    [ -z "${job_group[$k]}" ] || group_busy[${job_group[$k]}]=$k
    run_job "$k" "$lane" &
    job_of_pid[$!]=$k
    if [ "${job_alone[$k]}" = yes ]; then
        reap
    fi
done
while [ ${#job_of_pid[@]} -gt 0 ]; do reap; done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed programs: ${failures[*]}"
echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
