#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench: posedge's figures, each against a limit measured in the same run on the same disk.
#   - durable events/s through the whole till path (HAL fakes, state machine, journal commit,
#     receipt) as a ratio of raw SQLite one-row-per-transaction commits/s (WAL, synchronous=FULL)
#   - p50/p99 latency from the last tender input to the journal commit
#   - peak RSS of the agent over 10,000 shopper customers, and the stripped binary sizes
#   - the bridge, against a real mosquitto (generated config, free loopback port, no
#     persistence) and `posedge-ctl devkafka` (librdkafka's mock cluster) started here:
#     MQTT intake events/s into the spool as a ratio of raw libmosquitto QoS 1 publishes/s of
#     one record per message (tests/bench/bench_mqtt.c); drain events/s from a 1,000,000-event
#     spool into Kafka as a ratio of raw librdkafka produces/s of the same messages with the
#     same properties (tests/bench/bench_kafka.c); that backlog's end-to-end time and the
#     bridge's peak RSS while draining it
#   - MQTT over mutual TLS, against the store broker as posedge-ctl broker-config writes it (a
#     second mosquitto: its TLS listener with client certificates from a store CA made here, and
#     its plaintext lab listener with password logins, the store's ACL on both): raw QoS 1
#     publishes over TLS, the bridge's intake over TLS as a ratio of them, and the cost of
#     encryption: each against its figure over the plaintext listener (medians of 3 runs)
#   - Kafka over SASL_SSL (the tests' SASL_SSL broker: TLS, SCRAM-SHA-512, ACLs): raw librdkafka
#     produce over SASL_SSL and the bridge's drain over SASL_SSL as a ratio of it, and the cost
#     of encryption: each against its plaintext figure on the same broker (its PLAINTEXT
#     listener)
# usage: scripts/bench.sh BUILD_DIR   (BENCH_CUSTOMERS overrides 10000, BENCH_INTAKE 100000,
#                                      BENCH_BACKLOG 1000000, BENCH_REAL_BACKLOG 300000,
#                                      BENCH_SASL_BACKLOG 100000)
set -eu
build=${1:?usage: scripts/bench.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
customers=${BENCH_CUSTOMERS:-10000}
intake_n=${BENCH_INTAKE:-100000}
backlog=${BENCH_BACKLOG:-1000000}
terminals=4
dir=$(mktemp -d "$top/build/bench-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

raw() { "$top/$build/bench/bench_sqlite" "$dir" 3 | sed -n 's/^sqlite_commits_per_s=\([0-9]*\).*/\1/p'; }
field() { sed -n "s/.*event=agent.summary.* $1=\([0-9]*\).*/\1/p" "$dir/agent.log" | tail -1; }

echo "posedge bench: build=$build dir=$dir (same disk for every figure)"
raw1=$(raw)
sim_start=(--set sim.start=2026-03-02T07:55:00.000Z) # the shopper's clock: never the run's time
/usr/bin/time -f '%M' -o "$dir/rss" "$top/$build/posedge-agent" -c "$top/boards/sim/agent.json" \
    --data-dir "$dir/till" --shopper "$customers" --seed 7 "${sim_start[@]}" 2>"$dir/agent.log"
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

# ---- the bridge ----
bin=$top/$build
bench=$bin/bench
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_for() { # wait_for SECONDS WHAT COMMAND...: poll a condition against a deadline
    local until=$(( $(now_ms) + $1 * 1000 )) what=$2
    shift 2
    until "$@"; do
        if [ "$(now_ms)" -gt "$until" ]; then echo "bench: timed out waiting for $what" >&2; exit 1; fi
        sleep 0.05
    done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port)
mkdir -p "$dir/mosquitto"
{
    [ "$(id -u)" = 0 ] && echo "user root" # as root mosquitto would otherwise switch users
    echo "listener $mqtt_port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_queued_messages 100000"
} >"$dir/mosquitto/mosquitto.conf"
/usr/sbin/mosquitto -c "$dir/mosquitto/mosquitto.conf" >"$dir/mosquitto/mosquitto.log" 2>&1 &
pids+=($!)
wait_for 20 "mosquitto on port $mqtt_port" port_open "$mqtt_port"
"$bin/posedge-ctl" devkafka </dev/null >"$dir/devkafka.out" 2>"$dir/devkafka.log" &
pids+=($!)
wait_for 20 "devkafka" grep -q '^bootstrap=' "$dir/devkafka.out"
kafka=$(sed -n 's/^bootstrap=//p' "$dir/devkafka.out")
# bridge DATA_DIR KAFKA [RSS_FILE]: start posedge-bridge in the background (under /usr/bin/time
# with RSS_FILE); $bridge_pid is the bridge itself, $job what to wait for. Its broker is
# $bridge_mqtt (HOST:PORT) when set, else the plaintext mosquitto.
bridge() { # bridge DATA_DIR BROKERS [RSS_FILE [--set K=V]...]; the mock runs are idempotent
    local wrap=() data=$1 brokers=$2 rss=${3:-}
    shift 2
    [ $# -gt 0 ] && shift
    if [ -n "$rss" ]; then wrap=(/usr/bin/time -f %M -o "$rss"); fi
    "${wrap[@]}" "$bin/posedge-bridge" -c "$top/boards/sim/bridge.json" --data-dir "$data" \
        --mqtt "${bridge_mqtt:-127.0.0.1:$mqtt_port}" --kafka "$brokers" \
        --set kafka.mode=idempotent "$@" \
        2>>"$dir/bridge.log" &
    job=$!
    bridge_pid=$job
    if [ -n "$rss" ]; then
        wait_for 20 "posedge-bridge under time" pgrep -P "$job" >/dev/null
        bridge_pid=$(pgrep -P "$job")
    fi
    pids+=("$bridge_pid" "$job")
}
num() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# Intake alone: Kafka is an unreachable loopback port, so the drain only queues records in
# librdkafka and nothing leaves; the figure is MQTT -> verify -> spool commit -> ack.
mraw=$("$bench/bench_mqtt" raw 127.0.0.1 "$mqtt_port" "$intake_n" "$terminals" | num raw_msgs_per_s)
bridge "$dir/intake" 127.0.0.1:1
intake=$("$bench/bench_mqtt" intake 127.0.0.1 "$mqtt_port" "$intake_n" "$terminals" 200 i |
    num intake_events_per_s)
# Its spool is thrown away: a kill -9 spares the 5 s the stop would spend flushing to nowhere.
kill -KILL "$bridge_pid"
wait "$job" 2>/dev/null || true

# The drain: a spool of $backlog undelivered events, then a bridge started on it, timed until
# every terminal's retained ack says delivered == its share. The raw limit is measured before
# and after, as the mean of two runs.
mkdir -p "$dir/drain"
"$bench/bench_spool" "$dir/drain/spool.db" "$backlog" "$terminals" d >/dev/null 2>>"$dir/bench_spool.log"
kraw() { "$bench/bench_kafka" "$kafka" "$dir/drain/spool.db" "$backlog" 2>>"$dir/bench_kafka.log" | num raw_produce_per_s; }
k1=$(kraw)
t0=$(now_ms)
bridge "$dir/drain" "$kafka" "$dir/drain.rss"
"$bench/bench_mqtt" wait 127.0.0.1 "$mqtt_port" "$backlog" "$terminals" d >/dev/null
t1=$(now_ms)
kill -TERM "$bridge_pid"
wait "$job"
k2=$(kraw)
awk -v mraw="$mraw" -v intake="$intake" -v n="$intake_n" -v nt="$terminals" -v k1="$k1" -v k2="$k2" \
    -v backlog="$(echo "$backlog" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')" -v ms=$(( t1 - t0 )) -v rss="$(cat "$dir/drain.rss")" 'BEGIN {
    kr = (k1 + k2) / 2; nb = backlog; gsub(",", "", nb); dr = nb / (ms / 1000.0)
    printf "limit    raw mosquitto QoS1 publish msgs/s (1 record/msg, %d msgs): %.0f\n", n, mraw
    printf "bridge   MQTT intake events/s (%d events of %d terminals, 200/msg, Kafka unreachable): %.0f = %.2f x raw mosquitto QoS1 publish\n", n, nt, intake, intake / mraw
    printf "limit    raw librdkafka produce msgs/s (acks=all, idempotent, lz4, mock cluster): %.0f (runs %.0f, %.0f)\n", kr, k1, k2
    printf "bridge   drain events/s from a %s-event spool (mock cluster, kafka.mode=idempotent): %.0f = %.2f x raw librdkafka produce (goal >= 0.50)\n", backlog, dr, dr / kr
    printf "bridge   %s-event backlog end to end: %.1f s, peak RSS %.1f MB (goal <= 32 MB)\n", backlog, ms / 1000.0, rss / 1024.0
}'

# ---- MQTT over mutual TLS ----
# The store broker as posedge-ctl broker-config writes it, in a mosquitto of its own: its mutual
# TLS listener (certificates from a store CA made here with posedge-ctl pki: the broker's, the
# bridge's s001/bridge and the benchmark client's s001/bench; require_certificate, the CN as
# username, the CRL, the store's ACL) and its lab listener (plaintext, password logins, the
# store's ACL for password users), with the benchmark client's user added to both ACLs. Each
# figure over TLS is set against raw publishes over TLS, and against the same figure over the
# plaintext listener of the same broker with the same ACL: what encryption (and certificate
# logins) cost. The raw limits are the mean of a run before and after the intakes.
tdir=$dir/tls
mkdir -p "$tdir"
ctl=$bin/posedge-ctl
{
    "$ctl" pki init --dir "$tdir/ca" --store s001 &&
        "$ctl" pki issue --dir "$tdir/ca" --store s001 --server \
            --san DNS:localhost,IP:127.0.0.1 --key-out "$tdir/server.key" \
            --out "$tdir/server.crt" &&
        "$ctl" pki issue --dir "$tdir/ca" --store s001 --bridge --key-out "$tdir/bridge.key" \
            --out "$tdir/bridge.crt" &&
        "$ctl" pki issue --dir "$tdir/ca" --store s001 --terminal bench \
            --key-out "$tdir/bench.key" --out "$tdir/bench.crt" &&
        cp "$tdir/ca/ca.crt" "$tdir/ca.crt" &&
        "$ctl" pki crl --dir "$tdir/ca" --out "$tdir/crl.pem"
} >>"$dir/pki.log" 2>&1 ||
    { echo "bench: posedge-ctl pki failed: see $dir/pki.log" >&2; exit 1; }
for u in bridge bench; do # the lab listener's password logins
    (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$tdir/$u.pw")
    mosquitto_passwd $([ "$u" = bridge ] && echo -c) -b "$tdir/passwd" "$u" \
        "$(cat "$tdir/$u.pw")"
done
tls_port=$(free_port)
lab_port=$(free_port)
while [ "$lab_port" = "$tls_port" ]; do lab_port=$(free_port); done
"$ctl" broker-config --store s001 --dir "$tdir" --conf "$tdir/posedge.conf" --bind 127.0.0.1 \
    --port "$tls_port" --no-enrol --lab-port "$lab_port" --lab-password-file "$tdir/passwd" \
    >>"$dir/pki.log" 2>&1
bench_acl() { # the benchmark client's lines: it publishes as every terminal and reads the acks
    printf '\nuser %s\n' "$1"
    printf 'topic %s\n' "write bench/#" "write posedge/v1/s001/+/events" \
        "read posedge/v1/s001/+/ack"
}
bench_acl s001/bench >>"$tdir/acl"
bench_acl bench >>"$tdir/acl-lab"
{
    [ "$(id -u)" = 0 ] && echo "user root"
    echo "persistence false"
    echo "max_queued_messages 100000"
    cat "$tdir/posedge.conf"
} >"$tdir/mosquitto.conf"
/usr/sbin/mosquitto -c "$tdir/mosquitto.conf" >"$tdir/mosquitto.log" 2>&1 &
pids+=($!)
wait_for 20 "the TLS mosquitto on port $tls_port" port_open "$tls_port"
wait_for 20 "the lab listener on port $lab_port" port_open "$lab_port"
over_tls=(--tls "$tdir/ca.crt" "$tdir/bench.crt" "$tdir/bench.key")
over_lab=(--user bench --password-file "$tdir/bench.pw")
mraw_tls() {
    "$bench/bench_mqtt" "${over_tls[@]}" raw 127.0.0.1 "$tls_port" "$intake_n" "$terminals" |
        num raw_msgs_per_s
}
mraw_lab() {
    "$bench/bench_mqtt" "${over_lab[@]}" raw 127.0.0.1 "$lab_port" "$intake_n" "$terminals" |
        num raw_msgs_per_s
}
intake_over() { # intake_over lab|tls PREFIX: the intake's events/s over that listener
    local over port sets
    if [ "$1" = tls ]; then
        over=("${over_tls[@]}") port=$tls_port
        sets=(--set mqtt.tls.ca_file="$tdir/ca.crt" --set mqtt.tls.cert_file="$tdir/bridge.crt"
            --set mqtt.tls.key_file="$tdir/bridge.key")
    else
        over=("${over_lab[@]}") port=$lab_port
        sets=(--set mqtt.username=bridge --set mqtt.password_file="$tdir/bridge.pw")
    fi
    bridge_mqtt=127.0.0.1:$port bridge "$dir/intake-$2" 127.0.0.1:1 "" "${sets[@]}" \
        >/dev/null
    "$bench/bench_mqtt" "${over[@]}" intake 127.0.0.1 "$port" "$intake_n" "$terminals" 200 "$2" |
        num intake_events_per_s
    kill -KILL "$bridge_pid"
    wait "$job" 2>/dev/null || true
}
# Three rounds, each with a raw run and an intake (one bridge and terminals of its own) over
# each listener, the order swapped from round to round; each figure is the median of its three
# runs, so that the load of a shared machine weighs on both sides alike.
ml=() mt=() il=() it=()
for r in 1 2 3; do
    for over in $([ "$r" = 2 ] && echo tls lab || echo lab tls); do
        if [ "$over" = lab ]; then
            ml+=("$(mraw_lab)")
            il+=("$(intake_over lab "j$r")")
        else
            mt+=("$(mraw_tls)")
            it+=("$(intake_over tls "k$r")")
        fi
    done
done
awk -v ml="${ml[*]}" -v mt="${mt[*]}" -v il="${il[*]}" -v it="${it[*]}" -v n="$intake_n" \
    -v nt="$terminals" '
function med(s,   a, t) { # the median of three numbers
    split(s, a, " ")
    if (a[1] + 0 > a[2] + 0) { t = a[1]; a[1] = a[2]; a[2] = t }
    if (a[2] + 0 > a[3] + 0) { t = a[2]; a[2] = a[3]; a[3] = t }
    if (a[1] + 0 > a[2] + 0) { t = a[1]; a[1] = a[2]; a[2] = t }
    return a[2]
}
function runs(s) { gsub(" ", ", ", s); return s }
BEGIN {
    lr = med(ml); tr = med(mt); li = med(il); ti = med(it)
    printf "limit    raw mosquitto QoS1 publish msgs/s over mutual TLS (MQTT v5, TLS 1.2+, client certificate, the store ACL; broker-config): %.0f (runs %s) = %.2f x the same over plaintext to that broker (password login, same ACL), %.0f (runs %s)\n", tr, runs(mt), tr / lr, lr, runs(ml)
    printf "bridge   MQTT intake over mutual TLS (%d events of %d terminals, 200/msg, Kafka unreachable): %.0f events/s (runs %s) = %.2f x raw publish over TLS; = %.2f x the same intake over plaintext, %.0f events/s (runs %s)\n", n, nt, ti, runs(it), ti / tr, ti / li, li, runs(il)
}'

# The drain into a real Apache Kafka broker (scripts/kafka.sh, one KRaft node on loopback),
# in each kafka.mode, against raw librdkafka produce to the same broker in the same run. Each
# mode drains a spool of its own; the raw limit is the mean of a run before and after.
real_n=${BENCH_REAL_BACKLOG:-300000}
mkdir -p "$dir/real"
/usr/bin/python3 "$top/tests/system/kafka.py" serve "$dir/real" </dev/null >"$dir/real/serve.out" 2>&1 &
pids+=($!)
wait_for 120 "the Kafka broker" grep -q '^bootstrap=' "$dir/real/serve.out"
real=$(sed -n 's/^bootstrap=//p' "$dir/real/serve.out")
# One spool per mode, with terminals of their own (x.., y..): the retained acks of one drain
# must not end the wait for the other.
for p in x y; do
    mkdir -p "$dir/real/$p"
    "$bench/bench_spool" "$dir/real/$p/spool.db" "$real_n" "$terminals" "$p" >/dev/null \
        2>>"$dir/bench_spool.log"
done
rraw() { "$bench/bench_kafka" "$real" "$dir/real/x/spool.db" "$real_n" 2>>"$dir/bench_kafka.log" | num raw_produce_per_s; }
rraw >/dev/null # a first run warms the broker's JVM up and creates the topics
r1=$(rraw)
drain_mode() { # drain_mode MODE PREFIX: milliseconds for the bridge to drain that spool
    local t0 t1
    t0=$(now_ms)
    bridge "$dir/real/$2" "$real" "$dir/real/$2.rss" --set "kafka.mode=$1"
    "$bench/bench_mqtt" wait 127.0.0.1 "$mqtt_port" "$real_n" "$terminals" "$2" >/dev/null
    t1=$(now_ms)
    kill -TERM "$bridge_pid"
    wait "$job"
    echo $(( t1 - t0 ))
}
tx_ms=$(drain_mode transactional x)
id_ms=$(drain_mode idempotent y)
r2=$(rraw)
awk -v r1="$r1" -v r2="$r2" -v n="$real_n" -v tx="$tx_ms" -v id="$id_ms" \
    -v txm="$(cat "$dir/real/x.rss")" -v idm="$(cat "$dir/real/y.rss")" 'BEGIN {
    kr = (r1 + r2) / 2; txr = n / (tx / 1000.0); idr = n / (id / 1000.0)
    printf "limit    raw librdkafka produce msgs/s to a real Kafka 3.9 broker (acks=all, idempotent, lz4): %.0f (runs %.0f, %.0f)\n", kr, r1, r2
    printf "bridge   real-broker drain, kafka.mode=transactional (%d events, start-up included): %.0f events/s = %.2f x raw produce, peak RSS %.1f MB\n", n, txr, txr / kr, txm / 1024.0
    printf "bridge   real-broker drain, kafka.mode=idempotent (%d events, start-up included): %.0f events/s = %.2f x raw produce, peak RSS %.1f MB\n", n, idr, idr / kr, idm / 1024.0
}'

# ---- Kafka over SASL_SSL ----
# One broker (tests/system/kafka.py serve --sasl-ssl) with a SASL_SSL listener and a PLAINTEXT
# one: each figure over SASL_SSL against the same figure over PLAINTEXT to the same broker in
# the same run, so the ratio is what TLS and SCRAM cost. The bridge drains as its user (ACLs
# and all); raw produce uses the same user's properties (bench_kafka PROPERTIES).
sasl_n=${BENCH_SASL_BACKLOG:-100000}
mkdir -p "$dir/sasl"
/usr/bin/python3 "$top/tests/system/kafka.py" serve --sasl-ssl "$dir/sasl" </dev/null \
    >"$dir/sasl/serve.out" 2>&1 &
pids+=($!)
wait_for 180 "the SASL_SSL Kafka broker" grep -q '^bootstrap=' "$dir/sasl/serve.out"
sasl=$(sed -n 's/^bootstrap=//p' "$dir/sasl/serve.out")
plain=$(sed -n 's/^internal=//p' "$dir/sasl/serve.out")
sasl_props=$(sed -n 's/^client_properties=//p' "$dir/sasl/serve.out")
sasl_sets=()
while read -r kv; do sasl_sets+=(--set "$kv"); done < <(sed -n 's/^set=//p' "$dir/sasl/serve.out")
for p in w p s; do # a spool per drain, terminals of their own (w.., p.., s..)
    mkdir -p "$dir/sasl/$p"
    sn=$sasl_n
    [ "$p" = w ] && sn=2000
    "$bench/bench_spool" "$dir/sasl/$p/spool.db" "$sn" "$terminals" "$p" >/dev/null \
        2>>"$dir/bench_spool.log"
done
sraw() { # sraw BROKERS [PROPERTIES]: raw produce msgs/s
    "$bench/bench_kafka" "$1" "$dir/sasl/p/spool.db" "$sasl_n" ${2:+"$2"} \
        2>>"$dir/bench_kafka.log" | num raw_produce_per_s
}
sraw "$plain" >/dev/null # warms the broker's JVM up
p1=$(sraw "$plain")
s1=$(sraw "$sasl" "$sasl_props")
drain_sasl() { # drain_sasl PREFIX BROKERS [--set K=V]...: ms for the bridge to drain that spool
    local t0 t1 pre=$1 brokers=$2 n=$sasl_n
    shift 2
    [ "$pre" = w ] && n=2000
    t0=$(now_ms)
    bridge "$dir/sasl/$pre" "$brokers" "$dir/sasl/$pre.rss" --set kafka.mode=transactional "$@"
    "$bench/bench_mqtt" wait 127.0.0.1 "$mqtt_port" "$n" "$terminals" "$pre" >/dev/null
    t1=$(now_ms)
    kill -TERM "$bridge_pid"
    wait "$job"
    echo $(( t1 - t0 ))
}
drain_sasl w "$plain" >/dev/null # the broker's transaction coordinator starts up here
dp_ms=$(drain_sasl p "$plain")
ds_ms=$(drain_sasl s "$sasl" "${sasl_sets[@]}")
p2=$(sraw "$plain")
s2=$(sraw "$sasl" "$sasl_props")
awk -v p1="$p1" -v p2="$p2" -v s1="$s1" -v s2="$s2" -v n="$sasl_n" -v dp="$dp_ms" -v ds="$ds_ms" \
    -v dsm="$(cat "$dir/sasl/s.rss")" 'BEGIN {
    pr = (p1 + p2) / 2; sr = (s1 + s2) / 2; dpr = n / (dp / 1000.0); dsr = n / (ds / 1000.0)
    printf "limit    raw librdkafka produce msgs/s over SASL_SSL (TLS, SCRAM-SHA-512, ACLs; real Kafka 3.9): %.0f (runs %.0f, %.0f) = %.2f x the same over PLAINTEXT to that broker, %.0f (runs %.0f, %.0f)\n", sr, s1, s2, sr / pr, pr, p1, p2
    printf "bridge   drain over SASL_SSL, kafka.mode=transactional (%d events, start-up included): %.0f events/s = %.2f x raw produce over SASL_SSL; = %.2f x the same drain over PLAINTEXT (%.0f events/s), peak RSS %.1f MB\n", n, dsr, dsr / sr, dsr / dpr, dpr, dsm / 1024.0
}'

# ---- the ARM boards ----
# For each board whose board.mk names a QEMU (rpi4, armhf): its release build (made here when
# missing or stale; a board that cannot be built is said so and left out), the stripped sizes
# of posedge-agent and posedge-bridge (its own cross strip), and the agent's peak RSS over 1,000
# shopper customers under user-mode QEMU. The release binaries of these boards carry no
# simulator (BOARD_SIM), so the shopper runs in the board's test build (VARIANT=test: the same
# code and flags, with the simulator and the fault injection points, inactive; made here too).
# That RSS holds QEMU's own memory (its translated code and the host's view of the guest), so
# the same QEMU running the agent's --help is given beside it: the difference is near what the
# till itself needs.
arm_n=1000
for mk in "$top"/boards/*/board.mk; do
    b=$(basename "$(dirname "$mk")")
    vars=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" \
        BOARD="$b" board-vars) || continue
    eval "$vars"
    [ -n "$QEMU" ] || continue
    if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top" -j2 BOARD="$b" VARIANT=release \
        all >"$dir/arm-$b.build" 2>&1; then
        echo "size     $b: the release build failed (make BOARD=$b), left out"
        continue
    fi
    arm_strip() { "${CROSS}strip" -o "$dir/s" "$1" && stat -c %s "$dir/s"; }
    aasz=$(arm_strip "$top/build/$b/posedge-agent")
    absz=$(arm_strip "$top/build/$b/posedge-bridge")
    goal=
    [ "$BOARD_ARCH" = arm64 ] && goal=" (goal: agent <= 300 KB)"
    awk -v b="$b" -v a="$BOARD_ARCH" -v asz="$aasz" -v bsz="$absz" -v goal="$goal" 'BEGIN {
        printf "size     %s (%s): stripped posedge-agent %.0f KB, posedge-bridge %.0f KB%s\n", b, a, asz / 1024.0, bsz / 1024.0, goal
    }'
    if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top" -j2 BOARD="$b" VARIANT=test \
        all >>"$dir/arm-$b.build" 2>&1; then
        echo "memory   $b: the test build failed (make BOARD=$b VARIANT=test), left out"
        continue
    fi
    run=("$QEMU" -L "$top/$SYSROOT")
    /usr/bin/time -f %M -o "$dir/arm-$b.rss" "${run[@]}" "$top/build/$b/test/posedge-agent" \
        -c "$top/boards/sim/agent.json" --data-dir "$dir/arm-$b" --shopper "$arm_n" --seed 7 \
        "${sim_start[@]}" 2>"$dir/arm-$b.log"
    /usr/bin/time -f %M -o "$dir/arm-$b.rss0" "${run[@]}" "$top/build/$b/test/posedge-agent" \
        --help >/dev/null 2>&1
    "$top/$build/posedge-ctl" verify "$dir/arm-$b/journal.db" >/dev/null
    awk -v b="$b" -v q="$QEMU" -v n="$arm_n" -v rss="$(cat "$dir/arm-$b.rss")" \
        -v rss0="$(cat "$dir/arm-$b.rss0")" 'BEGIN {
        printf "memory   %s agent peak RSS under %s over %d shopper customers (its test build): %.1f MB (%s with the agent'"'"'s --help: %.1f MB)\n", b, q, n, rss / 1024.0, q, rss0 / 1024.0
    }'
done
