#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench: posedge's figures, each against a limit measured in the same run on the same disk.
#   - durable events/s through the whole till path (HAL fakes, state machine, journal commit,
#     receipt with its signed QR code) as a ratio of raw SQLite one-row-per-transaction
#     commits/s (WAL, synchronous=FULL); the fake printer draws no QR images here (qr_png=off):
#     a real till's printer draws the code itself, and those images are a test's artefact
#   - p50/p99 latency from the last tender input to the journal commit
#   - signing cost per event, software and pkcs11 (a SoftHSM2 token made here), as a ratio of
#     raw SQLite commits/s (tests/bench/bench_signer.c)
#   - peak RSS of the agent over 10,000 shopper customers, and the stripped binary sizes
#   - the bridge, against a real mosquitto (generated config, free loopback port, no
#     persistence) and `posedge-ctl devkafka` (librdkafka's mock cluster) started here:
#     MQTT intake events/s into the spool as a ratio of raw libmosquitto QoS 1 publishes/s of
#     one record per message (tests/bench/bench_mqtt.c); drain events/s from a 1,000,000-event
#     spool into Kafka as a ratio of raw librdkafka produces/s of the same messages with the
#     same properties (tests/bench/bench_kafka.c); that backlog's end-to-end time and the
#     bridge's peak RSS while draining it; and the bridge's signature check per record (decode,
#     key and counter, ECDSA P-256 verify with libcrypto and the till's key parsed once:
#     tests/bench/bench_sig.c) in records/s as a ratio of that intake's events/s (above 1: the
#     check keeps up with the intake on one core; its own time per record is 1/ratio of the
#     intake's), with mbedTLS's verify rate and the till's signing rate beside it; and a store
#     of 50 tills on that bridge (bench_mqtt store: 50 connections, each till subscribed to its
#     own ack, agent-style batches and window): a backlog of BENCH_STORE50 records (3,000 per
#     till) all committed at once, with the intake fairness across tills (Jain's index and
#     min/max of per-till spooled records/s until the first till is fully spooled), and a
#     steady load of BENCH_STORE50_RATE records/s per till for 15 s, each with the p50/p99 time
#     from a record's commit at its till to the ack that says it is spooled reaching the till
#   - MQTT over mutual TLS, against the store broker as posedge-ctl broker-config writes it (a
#     second mosquitto: its TLS listener with client certificates from a store CA made here, and
#     its plaintext lab listener with password logins, the store's ACL on both): raw QoS 1
#     publishes over TLS, the bridge's intake over TLS as a ratio of them, and the cost of
#     encryption: each against its figure over the plaintext listener (medians of 3 runs)
#   - Kafka over SASL_SSL (the tests' SASL_SSL broker: TLS, SCRAM-SHA-512, ACLs): raw librdkafka
#     produce over SASL_SSL and the bridge's drain over SASL_SSL as a ratio of it, and the cost
#     of encryption: each against its plaintext figure on the same broker (its PLAINTEXT
#     listener)
#   - the store catalog (issue 14), against a real Kafka, mosquitto and posedge-bridge started
#     here: publish-to-applied p50/p99 at every till of a store of 10 idle tills over 20 price
#     changes, as a ratio of a raw Kafka + MQTT round trip on the same brokers
#     (tests/bench/bench_roundtrip.c); applying a 50,000-item catalog in full and a 1,000-change
#     delta at a till (transfer and apply times) and the agent's peak RSS with 50,000 items
#   - a peer, side by side (issue 19): rsyslog (disk-assisted action queue, omkafka, its
#     documented reliable-forwarding settings) and posedge-bridge, each draining the same
#     1,000,000 events into the same real Kafka with a 30 s broker outage in the middle: drain
#     time after recovery, events lost and duplicated, peak RSS, posedge's as a ratio of rsyslog's
# usage: scripts/bench.sh BUILD_DIR   (BENCH_CUSTOMERS overrides 10000, BENCH_INTAKE 100000, BENCH_SIGS 20000,
#                                      BENCH_BACKLOG 1000000, BENCH_REAL_BACKLOG 300000,
#                                      BENCH_SASL_BACKLOG 100000, BENCH_CATALOG_TILLS 10,
#                                      BENCH_CATALOG_PUBLISHES 20, BENCH_CATALOG_ITEMS 50000,
#                                      BENCH_CATALOG_DELTA 1000, BENCH_PEER_EVENTS 1000000,
#                                      BENCH_PEER_OUTAGE 30; BENCH_ONLY=SECTION[,SECTION...]
#                                      runs only those of: till signer bridge tls real sasl
#                                      catalog peer arm; BENCH_PKCS11_MODULE the signer's token
#                                      module, SoftHSM2's by default;
#                                      BENCH_KEEP=1 keeps the run's directory and its logs)
set -eu
build=${1:?usage: scripts/bench.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
customers=${BENCH_CUSTOMERS:-10000}
intake_n=${BENCH_INTAKE:-100000}
backlog=${BENCH_BACKLOG:-1000000}
terminals=4
only=${BENCH_ONLY:-} # the sections to run (all when empty)
dir=$(mktemp -d "$top/build/bench-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
bin=$top/$build
bench=$bin/bench
ctl=$bin/posedge-ctl
sim_start=(--set sim.start=2026-03-02T07:55:00.000Z) # the shopper's clock: never the run's time
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
num() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
wanted() { [ -z "$only" ] || case ",$only," in *",$1,"*) true ;; *) false ;; esac; }

# The plaintext mosquitto of the bridge, real-broker, SASL_SSL and catalog figures (generated
# config, free loopback port, no persistence), started by the first of them; $mqtt_port.
mqtt_port=
plain_mosquitto() {
    [ -z "$mqtt_port" ] || return 0
    mqtt_port=$(free_port)
    mkdir -p "$dir/mosquitto"
    {
        [ "$(id -u)" = 0 ] && echo "user root" # as root mosquitto would otherwise switch users
        echo "listener $mqtt_port 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence false"
        echo "max_queued_messages 100000"
        echo "set_tcp_nodelay true" # as posedge-ctl broker-config writes the store broker
    } >"$dir/mosquitto/mosquitto.conf"
    /usr/sbin/mosquitto -c "$dir/mosquitto/mosquitto.conf" >"$dir/mosquitto/mosquitto.log" 2>&1 &
    pids+=($!)
    wait_for 20 "mosquitto on port $mqtt_port" port_open "$mqtt_port"
}
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

# ---- the till ----
section_till() {
    raw() { "$top/$build/bench/bench_sqlite" "$dir" 3 | sed -n 's/^sqlite_commits_per_s=\([0-9]*\).*/\1/p'; }
    field() { sed -n "s/.*event=agent.summary.* $1=\([0-9]*\).*/\1/p" "$dir/agent.log" | tail -1; }

    raw1=$(raw)
    /usr/bin/time -f '%M' -o "$dir/rss" "$top/$build/posedge-agent" -c "$top/boards/sim/agent.json" \
        --data-dir "$dir/till" --shopper "$customers" --seed 7 "${sim_start[@]}" \
        --set devices.printer.options=qr_png=off 2>"$dir/agent.log"
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
}

# ---- the signer ----
# Signing cost per event (tests/bench/bench_signer.c): signatures/s of the software signer and
# of the pkcs11 signer on a SoftHSM2 token made here (its own SOFTHSM2_CONF and token directory),
# each as microseconds per event and as a ratio of the raw SQLite commits/s measured in the same
# run (the durable commit every event costs anyway: a ratio >= 1 means signing is cheaper than
# committing).
section_signer() {
    raw=$("$bench/bench_sqlite" "$dir" 3 | num sqlite_commits_per_s)
    mkdir -p "$dir/softhsm/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir/softhsm/tokens" >"$dir/softhsm/softhsm2.conf"
    export SOFTHSM2_CONF=$dir/softhsm/softhsm2.conf
    local module=${BENCH_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so} pin=$dir/softhsm/pin
    (umask 077 && echo 246810 >"$pin")
    softhsm2-util --init-token --free --label bench --pin 246810 --so-pin 135791 >/dev/null
    out=$("$bench/bench_signer" "$dir" 3 "$module" bench "$pin")
    unset SOFTHSM2_CONF
    awk -v raw="$raw" -v sw="$(echo "$out" | num software_signs_per_s)" \
        -v swus="$(echo "$out" | num software_us_per_sign)" \
        -v hsm="$(echo "$out" | num pkcs11_signs_per_s)" \
        -v hsmus="$(echo "$out" | num pkcs11_us_per_sign)" 'BEGIN {
        printf "limit    raw SQLite commits/s (WAL, synchronous=FULL, 1 row/txn): %d\n", raw
        printf "signer   software (mbedTLS, P-256): %.0f signatures/s, %.1f us per event = %.2f x raw SQLite commits/s\n", sw, swus, sw / raw
        printf "signer   pkcs11 (SoftHSM2 token, CKM_ECDSA): %.0f signatures/s, %.1f us per event = %.2f x raw SQLite commits/s\n", hsm, hsmus, hsm / raw
    }'
}

# ---- the bridge ----
section_bridge() {
    plain_mosquitto
    "$bin/posedge-ctl" devkafka </dev/null >"$dir/devkafka.out" 2>"$dir/devkafka.log" &
    pids+=($!)
    wait_for 20 "devkafka" grep -q '^bootstrap=' "$dir/devkafka.out"
    kafka=$(sed -n 's/^bootstrap=//p' "$dir/devkafka.out")
    # Intake alone: Kafka is an unreachable loopback port, so the drain only queues records in
    # librdkafka and nothing leaves; the figure is MQTT -> verify -> spool commit -> ack.
    mraw=$("$bench/bench_mqtt" raw 127.0.0.1 "$mqtt_port" "$intake_n" "$terminals" | num raw_msgs_per_s)
    bridge "$dir/intake" 127.0.0.1:1
    intake=$("$bench/bench_mqtt" intake 127.0.0.1 "$mqtt_port" "$intake_n" "$terminals" 200 i |
        num intake_events_per_s)
    # A store of 50 tills on the same bridge: a backlog (fairness), then a steady load.
    local s50=${BENCH_STORE50:-150000} s50rate=${BENCH_STORE50_RATE:-20}
    store_b=$("$bench/bench_mqtt" store 127.0.0.1 "$mqtt_port" "$s50" 50 200 b 0)
    store_p=$("$bench/bench_mqtt" store 127.0.0.1 "$mqtt_port" $(( s50rate * 50 * 15 )) 50 200 p \
        "$s50rate")
    # Its spool is thrown away: a kill -9 spares the 5 s the stop would spend flushing to nowhere.
    kill -KILL "$bridge_pid"
    wait "$job" 2>/dev/null || true
    # What the signature check costs the intake per record (its records above are unsigned).
    sigs=$("$bench/bench_sig" "$dir" "${BENCH_SIGS:-20000}" 2>>"$dir/bench_sig.log")
    sigv=$(echo "$sigs" | num check_per_s)
    sigm=$(echo "$sigs" | num mbedtls_verify_per_s)
    sigs=$(echo "$sigs" | num sign_per_s)

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
        -v sigv="$sigv" -v sigm="$sigm" -v sigs="$sigs" \
        -v backlog="$(echo "$backlog" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')" -v ms=$(( t1 - t0 )) -v rss="$(cat "$dir/drain.rss")" 'BEGIN {
        kr = (k1 + k2) / 2; nb = backlog; gsub(",", "", nb); dr = nb / (ms / 1000.0)
        printf "limit    raw mosquitto QoS1 publish msgs/s (1 record/msg, %d msgs): %.0f\n", n, mraw
        printf "bridge   MQTT intake events/s (%d events of %d terminals, 200/msg, Kafka unreachable): %.0f = %.2f x raw mosquitto QoS1 publish (goal >= 1.50)\n", n, nt, intake, intake / mraw
        printf "bridge   signature check at intake (decode, key, counter, ECDSA P-256 verify with libcrypto; key parsed once): %.0f records/s = %.2f x the MQTT intake events/s (mbedTLS would verify %.0f/s; the till signs %.0f/s)\n", sigv, sigv / intake, sigm, sigs
        printf "limit    raw librdkafka produce msgs/s (acks=all, idempotent, lz4, mock cluster): %.0f (runs %.0f, %.0f)\n", kr, k1, k2
        printf "bridge   drain events/s from a %s-event spool (mock cluster, kafka.mode=idempotent): %.0f = %.2f x raw librdkafka produce (goal >= 0.50)\n", backlog, dr, dr / kr
        printf "bridge   %s-event backlog end to end: %.1f s, peak RSS %.1f MB (goal <= 32 MB)\n", backlog, ms / 1000.0, rss / 1024.0
    }'
    echo "$store_b" | awk -v mraw="$mraw" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "store50  backlog of %d events from 50 tills (all committed at once): %.0f events/s = %.2f x raw mosquitto QoS1 publish; fairness: Jain %.3f, per-till spooled events/s min %.0f max %.0f; commit -> spooled ack p50 %.0f ms, p99 %.0f ms\n", v["events"], v["store_events_per_s"], v["store_events_per_s"] / mraw, v["jain"], v["till_min_per_s"], v["till_max_per_s"], v["commit_ack_p50_ms"], v["commit_ack_p99_ms"]
    }'
    echo "$store_p" | awk -v rate="${BENCH_STORE50_RATE:-20}" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "store50  steady load of 50 tills x %d events/s for 15 s: commit -> spooled ack p50 %.1f ms, p99 %.1f ms, max %.1f ms; fairness: Jain %.3f\n", rate, v["commit_ack_p50_ms"], v["commit_ack_p99_ms"], v["commit_ack_max_ms"], v["jain"]
    }'
}

# ---- MQTT over mutual TLS ----
# The store broker as posedge-ctl broker-config writes it, in a mosquitto of its own: its mutual
# TLS listener (certificates from a store CA made here with posedge-ctl pki: the broker's, the
# bridge's s001/bridge and the benchmark client's s001/bench; require_certificate, the CN as
# username, the CRL, the store's ACL) and its lab listener (plaintext, password logins, the
# store's ACL for password users), with the benchmark client's user added to both ACLs. Each
# figure over TLS is set against raw publishes over TLS, and against the same figure over the
# plaintext listener of the same broker with the same ACL: what encryption (and certificate
# logins) cost. The raw limits are the mean of a run before and after the intakes.
section_tls() {
    tdir=$dir/tls
    mkdir -p "$tdir"
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
}

# ---- a real Kafka broker ----
# The drain into a real Apache Kafka broker (scripts/kafka.sh, one KRaft node on loopback),
# in each kafka.mode, against raw librdkafka produce to the same broker in the same run. Each
# mode drains a spool of its own; the raw limit is the mean of a run before and after. Beside
# it, raw transactional produce (bench_kafka with BENCH_KAFKA_TXN: one producer, a commit every
# 5000 records): what the transaction protocol itself leaves of raw produce, so the drain's
# ratio to it is what the bridge adds. A short transactional drain first makes the state topic
# a store's broker already has.
section_real() {
    plain_mosquitto
    real_n=${BENCH_REAL_BACKLOG:-300000}
    mkdir -p "$dir/real"
    /usr/bin/python3 "$top/tests/system/kafka.py" serve "$dir/real" </dev/null >"$dir/real/serve.out" 2>&1 &
    pids+=($!)
    wait_for 120 "the Kafka broker" grep -q '^bootstrap=' "$dir/real/serve.out"
    real=$(sed -n 's/^bootstrap=//p' "$dir/real/serve.out")
    # One spool per mode, with terminals of their own (x.., y..): the retained acks of one drain
    # must not end the wait for the other; w.. is the warm-up's.
    for p in x y; do
        mkdir -p "$dir/real/$p"
        "$bench/bench_spool" "$dir/real/$p/spool.db" "$real_n" "$terminals" "$p" >/dev/null \
            2>>"$dir/bench_spool.log"
    done
    rraw() { "$bench/bench_kafka" "$real" "$dir/real/x/spool.db" "$real_n" 2>>"$dir/bench_kafka.log" | num raw_produce_per_s; }
    rraw >/dev/null # a first run warms the broker's JVM up and creates the topics
    r1=$(rraw)
    # librdkafka's own limit for one transactional producer: transactions of the bridge's
    # default size (kafka.txn_max_events), each committed before the next begins. Its first run
    # also makes the broker's transaction log (__transaction_state) and warms its coordinator.
    txraw() { BENCH_KAFKA_TXN=5000 "$bench/bench_kafka" "$real" "$dir/real/x/spool.db" "$real_n" 2>>"$dir/bench_kafka.log" | num raw_txn_produce_per_s; }
    txraw >/dev/null
    t1=$(txraw)
    drain_mode() { # drain_mode MODE PREFIX [N]: milliseconds for the bridge to drain that spool
        local t0 t1
        t0=$(now_ms)
        bridge "$dir/real/$2" "$real" "$dir/real/$2.rss" --set "kafka.mode=$1"
        "$bench/bench_mqtt" wait 127.0.0.1 "$mqtt_port" "${3:-$real_n}" "$terminals" "$2" >/dev/null
        t1=$(now_ms)
        kill -TERM "$bridge_pid"
        wait "$job"
        echo $(( t1 - t0 ))
    }
    # A store's broker has had the bridge's state topic since its first day: a short drain
    # makes it here, so that neither timed drain pays for creating it.
    mkdir -p "$dir/real/w"
    "$bench/bench_spool" "$dir/real/w/spool.db" 20000 "$terminals" w >/dev/null 2>>"$dir/bench_spool.log"
    drain_mode transactional w 20000 >/dev/null
    tx_ms=$(drain_mode transactional x)
    id_ms=$(drain_mode idempotent y)
    r2=$(rraw)
    t2=$(txraw)
    awk -v r1="$r1" -v r2="$r2" -v t1="$t1" -v t2="$t2" -v n="$real_n" -v tx="$tx_ms" -v id="$id_ms" \
        -v txm="$(cat "$dir/real/x.rss")" -v idm="$(cat "$dir/real/y.rss")" 'BEGIN {
        kr = (r1 + r2) / 2; tr = (t1 + t2) / 2; txr = n / (tx / 1000.0); idr = n / (id / 1000.0)
        printf "limit    raw librdkafka produce msgs/s to a real Kafka 3.9 broker (acks=all, idempotent, lz4): %.0f (runs %.0f, %.0f)\n", kr, r1, r2
        printf "limit    raw librdkafka transactional produce msgs/s, one producer, 5000-record transactions: %.0f = %.2f x raw produce (runs %.0f, %.0f)\n", tr, tr / kr, t1, t2
        printf "bridge   real-broker drain, kafka.mode=transactional (%d events, start-up included): %.0f events/s = %.2f x raw produce (goal >= 0.50) = %.2f x raw transactional produce, peak RSS %.1f MB\n", n, txr, txr / kr, txr / tr, txm / 1024.0
        printf "bridge   real-broker drain, kafka.mode=idempotent (%d events, start-up included): %.0f events/s = %.2f x raw produce, peak RSS %.1f MB\n", n, idr, idr / kr, idm / 1024.0
    }'
}

# ---- Kafka over SASL_SSL ----
# One broker (tests/system/kafka.py serve --sasl-ssl) with a SASL_SSL listener and a PLAINTEXT
# one: each figure over SASL_SSL against the same figure over PLAINTEXT to the same broker in
# the same run, so the ratio is what TLS and SCRAM cost. The bridge drains as its user (ACLs
# and all); raw produce uses the same user's properties (bench_kafka PROPERTIES).
section_sasl() {
    plain_mosquitto
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
}

# ---- the store catalog (issue 14) ----
# HQ -> a real Kafka (tests/system/kafka.py serve --catalog: the catalog topics compacted, three
# partitions) -> posedge-bridge -> the plaintext mosquitto -> posedge-agent, all started here.
#
# Publish-to-applied: a store (s001) of BENCH_CATALOG_TILLS tills c01.., idle (the simulated
# clock at 01:00 and the shop opening at 08:00: no basket is open, so nothing defers), and its
# bridge. The sim catalog is published first and applied by every till (not timed); then
# BENCH_CATALOG_PUBLISHES one-item price changes, one `posedge-ctl catalog publish` each, the
# next once every till has applied the last. A figure runs from the record's produce time (its
# Kafka CreateTime, read back with kcat) to the time a till logs till.catalog_applied (after
# the commit: the version is in force), both this machine's wall clock in milliseconds. It
# holds the HQ transaction's commit, the bridge's read_committed fetch and spool commit, the
# retained version document (at most one per 500 ms), the till's catalog/get, the bridge's
# catalog/data answer, the till's stage and its apply transaction: one Kafka hop and three MQTT
# ones. The limit is bench_roundtrip's in the same run: one record through the same Kafka (a
# transaction of its own, produce call -> read_committed reader) plus one QoS 1 message through
# the same mosquitto (publish call -> subscriber).
#
# At the till: a store (s002) of BENCH_CATALOG_ITEMS invented items (scripts/gen-catalog.py
# --csv --items), taken in by its bridge before the till starts, so that the till asks once for
# everything (since 0: a full answer in chunks of 500); then the till is stopped,
# BENCH_CATALOG_DELTA items change price, and the till, started again, asks for the delta. Each
# is timed from the till's own log: the transfer from catalog.fetch (catalog/get sent) to
# catalog.received (every chunk staged in the journal), the apply from catalog.received to
# till.catalog_applied (every document checked and normalised, the tables replaced, the content
# hash of the whole catalog computed and compared, the catalog_applied event committed). The
# peak RSS is the agent process's VmHWM (/proc/PID/status) once it has applied: its whole life.
section_catalog() {
    local cdir=$dir/catalog ck rt lat steps i t kpid
    local ntills=${BENCH_CATALOG_TILLS:-10} npubs=${BENCH_CATALOG_PUBLISHES:-20}
    local nitems=${BENCH_CATALOG_ITEMS:-50000} ndelta=${BENCH_CATALOG_DELTA:-1000}
    plain_mosquitto
    mkdir -p "$cdir"
    /usr/bin/python3 "$top/tests/system/kafka.py" serve --catalog "$cdir/kafka" </dev/null \
        >"$cdir/serve.out" 2>&1 &
    kpid=$!
    pids+=("$kpid")
    wait_for 180 "the Kafka broker with the catalog topics" grep -q '^bootstrap=' "$cdir/serve.out"
    ck=$(sed -n 's/^bootstrap=//p' "$cdir/serve.out")
    rt=$("$bench/bench_roundtrip" "$ck" 127.0.0.1 "$mqtt_port" "$npubs" 2>>"$cdir/roundtrip.log")

    # cat_bridge STORE: its bridge (catalog on) in $cdir/STORE/bridge, logging to
    # $cdir/STORE/bridge.log; the pid in $cat_pid.
    cat_bridge() {
        mkdir -p "$cdir/$1"
        "$bin/posedge-bridge" -c "$top/boards/sim/bridge.json" --data-dir "$cdir/$1/bridge" \
            --mqtt "127.0.0.1:$mqtt_port" --kafka "$ck" --set "store=$1" \
            --set kafka.mode=idempotent 2>>"$cdir/$1/bridge.log" &
        cat_pid=$!
        pids+=("$cat_pid")
    }
    # cat_till STORE TERMINAL: an idle till in $cdir/STORE/TERMINAL, logging to agent.log
    # there; the pid in $cat_pid.
    cat_till() {
        mkdir -p "$cdir/$1/$2"
        "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$cdir/$1/$2" \
            --mqtt "127.0.0.1:$mqtt_port" --set "store=$1" --set "terminal=$2" \
            --set sim.start=2026-03-02T01:00:00.000Z --set sim.speed=1 --set sim.open_hour=8 \
            --set sim.close_hour=20 2>>"$cdir/$1/$2/agent.log" &
        cat_pid=$!
        pids+=("$cat_pid")
    }
    cat_stop() { # cat_stop PID: SIGTERM, waited for, and no longer among the pids to end
        local p keep=()
        kill -TERM "$1"
        wait "$1"
        for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
        pids=("${keep[@]}")
    }
    cat_publish() { "$ctl" catalog publish --brokers "$ck" "$1" >>"$cdir/publish.log" 2>&1; }
    cat_gen() { /usr/bin/python3 "$top/scripts/gen-catalog.py" --csv "$@"; }
    cat_applied() { grep -c 'event=till.catalog_applied' "$1" || true; }
    cat_till_at() { # cat_till_at LOG N: that till has logged N applications
        [ "$(cat_applied "$1")" -ge "$2" ]
    }
    cat_all_at() { # cat_all_at N: every till of s001 has logged N applications
        local t
        for t in "${tills[@]}"; do cat_till_at "$cdir/s001/$t/agent.log" "$1" || return 1; done
    }
    # cat_settled STORE RECORDS: its bridge has made versions of RECORDS records, and its
    # retained version document announces the last of them.
    cat_settled() {
        local n v r
        n=$(sed -n 's/.*event=catalog\.version .* records=\([0-9]*\).*/\1/p' \
            "$cdir/$1/bridge.log" | awk '{ s += $1 } END { print s + 0 }')
        [ "$n" -ge "$2" ] || return 1
        v=$(sed -n 's/.*event=catalog\.version version=\([0-9]*\).*/\1/p' "$cdir/$1/bridge.log" |
            tail -1)
        r=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -V mqttv5 -C 1 -W 3 \
            -t "posedge/v1/$1/bridge/catalog" 2>/dev/null |
            sed -n 's/.*"version":\([0-9]*\).*/\1/p')
        [ -n "$v" ] && [ "$r" = "$v" ]
    }

    # Publish-to-applied at every till of s001.
    local tills=() tpids=() base=()
    for i in $(seq 1 "$ntills"); do tills+=("$(printf 'c%02d' "$i")"); done
    cat_bridge s001
    local s001_bridge=$cat_pid
    cat_gen --store s001 "$cdir/s001/base.csv"
    cat_publish "$cdir/s001/base.csv"
    wait_for 120 "the bridge of s001 to take in the sim catalog" cat_settled s001 \
        $(( $(wc -l <"$cdir/s001/base.csv") - 1 ))
    for t in "${tills[@]}"; do
        cat_till s001 "$t"
        tpids+=("$cat_pid")
    done
    wait_for 300 "the sim catalog applied at $ntills tills" cat_all_at 1
    for i in $(seq 1 "$npubs"); do
        cat_gen --store s001 --change "$i:1:$i" "$cdir/s001/change-$i.csv"
        cat_publish "$cdir/s001/change-$i.csv"
        now_ms >>"$cdir/s001/returned.txt"
        wait_for 120 "change $i applied at $ntills tills" cat_all_at $(( i + 1 ))
    done
    for i in "${tpids[@]}"; do cat_stop "$i"; done
    cat_stop "$s001_bridge"
    /usr/bin/kcat -C -b "$ck" -t pos.catalog -e -q -f '%k %T\n' >"$cdir/s001/produced.txt" \
        2>>"$cdir/kcat.log"
    lat=$(/usr/bin/python3 - "$cdir/s001" "$npubs" "${tills[@]}" <<'PY'
# Change i changed the sim catalog's item i: its last record's CreateTime is when it was
# produced. Every till applied the sim catalog once, then each change once, in order.
import math
import re
import sys
from datetime import datetime, timezone

d, n, tills = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
with open(d + "/base.csv") as f:
    ids = [line.split(",")[1] for line in f][1:n + 1]
produced = {}
with open(d + "/produced.txt") as f:
    for line in f:
        k, _, ts = line.strip().rpartition(" ")
        produced[k] = max(produced.get(k, 0), int(ts))
with open(d + "/returned.txt") as f:
    returned = [int(line) for line in f]
line_re = re.compile(r"^(\S+) .*event=till\.catalog_applied version=(\d+)")
ms, after, versions = [], [], None
for t in tills:
    rows = []
    with open("%s/%s/agent.log" % (d, t)) as f:
        for line in f:
            m = line_re.match(line)
            if m:
                when = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
                rows.append((when.replace(tzinfo=timezone.utc).timestamp() * 1000,
                             int(m.group(2))))
    v = [r[1] for r in rows[1:]]
    if len(v) != n or (versions is not None and v != versions) or v != sorted(set(v)):
        sys.exit("bench: till %s applied versions %s after the sim catalog: not one per change"
                 % (t, v))
    versions = v
    ms += [rows[1 + i][0] - produced["s001/" + ids[i]] for i in range(n)]
    after += [rows[1 + i][0] - returned[i] for i in range(n)]
ms.sort()
after.sort()
pct = lambda v, q: v[max(0, math.ceil(q * len(v)) - 1)]
print("p50=%.0f p99=%.0f max=%.0f after_p50=%.0f after_p99=%.0f" % (
    pct(ms, 0.5), pct(ms, 0.99), ms[-1], pct(after, 0.5), pct(after, 0.99)))
PY
)

    # A catalog of $nitems items at one till of s002, then a delta of $ndelta changes.
    local log=$cdir/s002/t01/agent.log rss_full rss_delta
    cat_bridge s002
    local s002_bridge=$cat_pid
    cat_gen --store s002 --items "$nitems" "$cdir/s002/full.csv"
    cat_publish "$cdir/s002/full.csv"
    wait_for 300 "the bridge of s002 to take in $nitems items" cat_settled s002 "$nitems"
    cat_till s002 t01
    wait_for 300 "the full catalog applied at s002/t01" cat_till_at "$log" 1
    rss_full=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$cat_pid/status")
    cat_stop "$cat_pid"
    cat_gen --store s002 --items "$nitems" --change "1:$ndelta:10" "$cdir/s002/delta.csv"
    cat_publish "$cdir/s002/delta.csv"
    wait_for 300 "the bridge of s002 to take in the delta" cat_settled s002 \
        $(( nitems + ndelta ))
    cat_till s002 t01
    wait_for 300 "the delta applied at s002/t01" cat_till_at "$log" 2
    rss_delta=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$cat_pid/status")
    cat_stop "$cat_pid"
    cat_stop "$s002_bridge"
    cat_stop "$kpid" # the broker's JVM: not needed further
    steps=$(/usr/bin/python3 - "$log" "$nitems" <<'PY'
# Per transfer: ms from catalog.fetch to catalog.received, and from there to
# till.catalog_applied; the first a full one of every item, the second a delta.
import re
import sys
from datetime import datetime, timezone

out, cur, applied = [], {}, []
for line in open(sys.argv[1]):
    m = re.match(r"^(\S+) .*event=(catalog\.fetch|catalog\.received|till\.catalog_applied) "
                 r"(.*)", line)
    if not m:
        continue
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    cur[m.group(2)] = t.timestamp() * 1000
    if m.group(2) == "till.catalog_applied":
        applied.append(re.search(r"items=(\d+) .*full=(\d)", m.group(3)).groups())
        out.append("%.0f %.0f" % (cur["catalog.received"] - cur["catalog.fetch"],
                                  cur["till.catalog_applied"] - cur["catalog.received"]))
        cur = {}
if applied != [(sys.argv[2], "1"), (sys.argv[2], "0")]:
    sys.exit("bench: the till applied %s, not a full catalog then a delta" % applied)
print(" ".join(out))
PY
)
    awk -v rt="$rt" -v lat="$lat" -v steps="$steps" -v nt="$ntills" -v np="$npubs" \
        -v items="$nitems" -v delta="$ndelta" -v rf="$rss_full" -v rd="$rss_delta" '
function val(s, k) { return match(" " s, " " k "=[0-9.]+") ? substr(" " s, RSTART + length(k) + 2, RLENGTH - length(k) - 2) + 0 : -1 }
BEGIN {
    k50 = val(rt, "kafka_p50_ms"); k99 = val(rt, "kafka_p99_ms")
    m50 = val(rt, "mqtt_p50_ms"); m99 = val(rt, "mqtt_p99_ms")
    p50 = val(lat, "p50"); p99 = val(lat, "p99"); mx = val(lat, "max")
    a50 = val(lat, "after_p50"); a99 = val(lat, "after_p99")
    split(steps, s, " ")
    printf "limit    raw round trip on the same brokers (%d rounds each): Kafka 3.9 transactional produce -> read_committed reader p50 %.1f ms, p99 %.1f ms; mosquitto QoS1 publish -> subscriber p50 %.2f ms, p99 %.2f ms\n", np, k50, k99, m50, m99
    printf "catalog  publish-to-applied at %d idle tills (%d one-item price changes, %d figures; record produce -> till.catalog_applied committed; 1 Kafka + 3 MQTT hops): p50 %.0f ms = %.1f x raw Kafka + MQTT round trip, p99 %.0f ms = %.1f x (max %.0f ms)\n", nt, np, nt * np, p50, p50 / (k50 + m50), p99, p99 / (k99 + m99), mx
    printf "catalog  the same from `posedge-ctl catalog publish` returning (its transaction committed) -> till.catalog_applied: p50 %.0f ms, p99 %.0f ms\n", a50, a99
    printf "catalog  full catalog of %d items at a till: transfer (catalog/get -> %d chunks staged) %.2f s, apply (checked, tables replaced, content hash, catalog_applied committed) %.2f s\n", items, int((items + 499) / 500), s[1] / 1000.0, s[2] / 1000.0
    printf "catalog  %d-change delta at a till of %d items: transfer %.0f ms, apply %.0f ms\n", delta, items, s[3], s[4]
    printf "memory   agent peak RSS (VmHWM) with %d items: %.1f MB after the full catalog, %.1f MB after the delta (goal <= 16 MB)\n", items, rf / 1024.0, rd / 1024.0
}'
}

# ---- a peer, side by side (issue 19) ----
# posedge against the tool many sites already forward with: rsyslog with a disk-assisted action
# queue and omkafka (Debian's rsyslog and rsyslog-kafka), in its documented reliable-forwarding
# setup. Both take the same BENCH_PEER_EVENTS events (1,000,000 by default) into the same real
# Kafka broker (tests/system/kafka.py serve: one KRaft node on loopback, as in section_real),
# each into a topic of its own made beforehand with message.timestamp.type=LogAppendTime, so
# that every record says when the broker wrote it. The events are sealed into a spool of 4
# terminals by bench_spool (about 540-byte records, as the drain figure's backlog), and the very
# same records, one canonical JSON line each, are dumped from that spool into a file for
# rsyslog: a backlog on disk for each tool, nothing on the wire until it drains.
#   - posedge-bridge drains the spool with its board's settings (kafka.mode=transactional, the
#     default) into pos.sales.
#   - rsyslogd drains the file into peer.rsyslog: rsyslogd -n -f CONF -i PIDFILE, with its
#     configuration, work directory and queue files in this run's directory, as whoever runs the
#     bench. Its input is imfile: the file is complete before rsyslogd starts, imfile turns each
#     line into exactly one message (no rate limit or datagram loss as with imuxsock/imudp, no
#     framing or unacknowledged-close window as with plain TCP syslog on imtcp/imptcp), reads
#     faster than omkafka sends, and keeps its read position in the work directory.
# The outage, the same for both: once the tool's topic holds half the events, the broker is
# stopped (kafka.py serve's SIGUSR1: a controlled shutdown of the JVM), and started again on
# the same port and data 30 s later (BENCH_PEER_OUTAGE; SIGUSR2). It is back when kafka.py
# says "started" (the broker serves metadata again); the down time printed runs from SIGUSR1
# to then, restart included. A run ends when the tool says it has nothing left (posedge: every
# terminal's retained ack says delivered == its share; rsyslog: its main and action queues are
# empty in impstats) and its topic's end offset has not moved for 5 s, or when the offset has
# not moved for 180 s (what is missing then counts as lost). The tool is then stopped and a
# read_committed consumer (kcat) reads its topic from the start: lost = events whose id is not
# there, duplicated = records beyond one per id, drain after recovery = the last record's
# LogAppendTime minus the moment the broker was back. Peak RSS is each process's whole life
# (/usr/bin/time). Each line gives posedge's figure, rsyslog's, and posedge's as a ratio of
# rsyslog's (below 1: posedge needs less).
#
# rsyslog's settings, from its documentation on forwarding without loss (the queues guide's
# disk-assisted action queue, omkafka's reliability parameters):
#   queue.type="LinkedList" queue.filename="kafka"   the action gets a queue of its own that is
#       disk-assisted: in memory up to queue.size, spilled to files in the work directory past
#       its high-water mark, as while Kafka is away
#   queue.maxDiskSpace="4g"     room for the whole backlog on disk: nothing discarded for space
#   queue.saveOnShutdown="on"   what is still queued at shutdown is written to disk, not dropped
#   action.resumeRetryCount="-1"  retry for ever while Kafka is away instead of giving up
#   confParam enable.idempotence=true  librdkafka's idempotent producer: its own retries write
#       no duplicate (and acks=all with them); compression.codec=lz4, as posedge's producer, so
#       both put the same bytes on the wire
#   topicConfParam acks=all     a record counts as sent once every in-sync replica has it
#   resubmitOnFailure="on"      a record whose delivery failed is produced again once Kafka can
#       take it, not dropped
#   keepFailedMessages="on" failedMsgFile=...  those still failed at shutdown are saved to that
#       file and resubmitted at the next start
#   template %rawmsg%           the line as read: the same bytes as posedge's record
# Left at their defaults: queue.size (1,000 for an action queue), action.resumeInterval (30 s),
# queue.timeoutEnqueue (2 s: a message that cannot enter the full in-memory part of the queue
# within it is discarded, which impstats counts as discarded.full and the lost line repeats),
# librdkafka's message.timeout.ms (300 s) and queue.buffering.max.messages (100,000). Note that
# omkafka's action succeeds once librdkafka has taken the record into its memory queue, not at
# Kafka's acknowledgement: from then on only that queue (and the failed-message list) holds it.
section_peer() {
    local pdir=$dir/peer kpid kafka home rs_job rs_pid
    local peer_n=${BENCH_PEER_EVENTS:-1000000} outage=${BENCH_PEER_OUTAGE:-30}
    plain_mosquitto
    mkdir -p "$pdir/posedge" "$pdir/rsyslog/work"
    /usr/bin/python3 "$top/tests/system/kafka.py" serve "$pdir" </dev/null >"$pdir/serve.out" 2>&1 &
    kpid=$!
    pids+=("$kpid")
    wait_for 180 "the Kafka broker" grep -q '^bootstrap=' "$pdir/serve.out"
    kafka=$(sed -n 's/^bootstrap=//p' "$pdir/serve.out")
    home=$("$top/scripts/kafka.sh" home)
    for t in pos.sales peer.rsyslog; do
        java -Xmx256m -Dlog4j.configuration="file:$pdir/kafka/tools-log4j.properties" \
            -cp "$home/lib/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$kafka" \
            --create --topic "$t" --partitions 1 --replication-factor 1 \
            --config message.timestamp.type=LogAppendTime >>"$pdir/topics.log" 2>&1
    done
    "$bench/bench_spool" "$pdir/posedge/spool.db" "$peer_n" "$terminals" p >/dev/null \
        2>>"$dir/bench_spool.log"
    sqlite3 "$pdir/posedge/spool.db" "SELECT CAST(record AS TEXT) FROM spool ORDER BY k" \
        >"$pdir/events.log"
    [ "$(wc -l <"$pdir/events.log")" -eq "$peer_n" ] ||
        { echo "bench: the events file does not hold $peer_n lines" >&2; exit 1; }

    cat >"$pdir/rsyslog/rsyslog.conf" <<CONF
# Generated by scripts/bench.sh (section_peer): rsyslog's documented reliable forwarding to Kafka.
global(workDirectory="$pdir/rsyslog/work" maxMessageSize="8k")
module(load="impstats" interval="1" format="json" log.syslog="off"
       log.file="$pdir/rsyslog/stats.json")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="event" type="string" string="%rawmsg%")
ruleset(name="events") {
    action(type="omkafka" name="kafka" broker=["$kafka"] topic="peer.rsyslog" template="event"
           confParam=["enable.idempotence=true", "compression.codec=lz4"]
           topicConfParam=["acks=all"]
           resubmitOnFailure="on" keepFailedMessages="on"
           failedMsgFile="$pdir/rsyslog/work/failed.kafkamsgs"
           queue.type="LinkedList" queue.filename="kafka" queue.maxDiskSpace="4g"
           queue.saveOnShutdown="on" action.resumeRetryCount="-1")
}
input(type="imfile" file="$pdir/events.log" tag="pos" ruleset="events")
*.* action(type="omfile" file="$pdir/rsyslog/internal.log")
CONF

    peer_offset() { # peer_offset TOPIC: its end offset (empty while the broker is away)
        /usr/bin/kcat -Q -b "$kafka" -t "$1:0:-1" 2>/dev/null | sed -n 's/.* offset \([0-9]*\)$/\1/p'
    }
    peer_at_half() { # peer_at_half TOPIC: it holds half the events; $peer_at is its end offset
        peer_at=$(peer_offset "$1")
        [ -n "$peer_at" ] && [ "$peer_at" -ge $(( peer_n / 2 )) ]
    }
    peer_says() { grep -c "^$1\$" "$pdir/serve.out" || true; } # how often kafka.py said $1
    peer_said() { [ "$(peer_says "$1")" -gt "$2" ]; }           # peer_said WORD N: more than N
    peer_empty_posedge() { # every terminal's retained ack says delivered == its share
        local i topics=() share
        for i in $(seq 1 "$terminals"); do topics+=(-t "$(printf 'posedge/v1/s001/p%02d/ack' "$i")"); done
        mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -V mqttv5 -C "$terminals" -W 3 "${topics[@]}" \
            2>/dev/null | sed -n 's/.*"delivered":\([0-9]*\).*/\1/p' >"$pdir/acks"
        [ "$(wc -l <"$pdir/acks")" -eq "$terminals" ] || return 1
        for i in $(seq 1 "$terminals"); do
            share=$(( peer_n / terminals + (i <= peer_n % terminals ? 1 : 0) ))
            grep -qx "$share" "$pdir/acks" || return 1
        done
    }
    peer_empty_rsyslog() { # rsyslog's main and action queues empty in its last statistics
        local q s
        for q in 'main Q' 'kafka queue' 'kafka queue\[DA\]'; do
            s=$(grep "\"name\": \"$q\"" "$pdir/rsyslog/stats.json" | tail -1 |
                sed -n 's/.*"size": \([0-9]*\).*/\1/p')
            case $q in *DA*) s=${s:-0} ;; esac # the disk part is reported once it has been used
            [ "${s:-1}" = 0 ] || return 1
        done
    }
    # peer_run TOOL TOPIC: the outage once TOPIC holds half the events, then the wait for the
    # end; sets peer_at (TOPIC's end offset when the broker was stopped), peer_back (ms, the
    # broker serving again) and peer_down (ms, SIGUSR1 to then).
    peer_run() {
        local tool=$1 topic=$2 t_stop s0 a0 o last=-1 moved now
        wait_for 600 "$tool to put half the events into $topic" peer_at_half "$topic"
        s0=$(peer_says stopped) a0=$(peer_says started)
        t_stop=$(now_ms)
        kill -USR1 "$kpid"
        wait_for 120 "the broker to stop" peer_said stopped "$s0"
        while [ $(( $(now_ms) - t_stop )) -lt $(( outage * 1000 )) ]; do sleep 0.1; done
        kill -USR2 "$kpid"
        wait_for 180 "the broker to start again" peer_said started "$a0"
        peer_back=$(now_ms)
        peer_down=$(( peer_back - t_stop ))
        moved=$peer_back
        while :; do
            now=$(now_ms)
            o=$(peer_offset "$topic")
            if [ -n "$o" ] && [ "$o" != "$last" ]; then last=$o moved=$now; fi
            if [ $(( now - moved )) -ge 5000 ] && "peer_empty_$tool"; then break; fi
            if [ $(( now - moved )) -ge 180000 ]; then
                echo "bench: $tool: $topic has not grown for 180 s; what is missing counts lost" >&2
                break
            fi
            sleep 0.2
        done
    }
    # peer_count TOPIC: "records=R distinct=D first_ms=F last_ms=L" of that topic, read_committed
    peer_count() {
        /usr/bin/kcat -C -b "$kafka" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
            -f '%T %s\n' 2>>"$pdir/kcat.log" | awk '
            { if ($1 + 0 > last) last = $1 + 0
              if (first == 0 || $1 + 0 < first) first = $1 + 0
              rec++
              if (match($0, /"id":"[^"]*"/)) { id = substr($0, RSTART + 6, RLENGTH - 7); if (!(id in seen)) { seen[id] = 1; n++ } } }
            END { printf "records=%d distinct=%d first_ms=%.0f last_ms=%.0f\n", rec, n, first, last }'
    }

    local p_t0 p_back p_down p_at p_count r_t0 r_back r_down r_at r_count r_disc r_held
    local peer_at peer_back peer_down
    # posedge
    p_t0=$(now_ms)
    bridge "$pdir/posedge" "$kafka" "$pdir/posedge.rss" --set kafka.mode=transactional
    peer_run posedge pos.sales
    p_back=$peer_back p_down=$peer_down p_at=$peer_at
    kill -TERM "$bridge_pid"
    wait "$job"
    p_count=$(peer_count pos.sales)
    # rsyslog
    r_t0=$(now_ms)
    /usr/bin/time -f %M -o "$pdir/rsyslog.rss" /usr/sbin/rsyslogd -n -f "$pdir/rsyslog/rsyslog.conf" \
        -i "$pdir/rsyslog/rsyslogd.pid" >"$pdir/rsyslog/rsyslogd.log" 2>&1 &
    rs_job=$!
    wait_for 20 "rsyslogd under time" pgrep -P "$rs_job" >/dev/null
    rs_pid=$(pgrep -P "$rs_job")
    pids+=("$rs_pid" "$rs_job")
    peer_run rsyslog peer.rsyslog
    r_back=$peer_back r_down=$peer_down r_at=$peer_at
    kill -TERM "$rs_pid"
    wait "$rs_job"
    r_count=$(peer_count peer.rsyslog)
    # What rsyslog says of its own losses: messages its queues discarded when full (the last
    # statistics of each), and events still in its failed-message file and queue files after
    # the shutdown (sent only at a next start).
    r_disc=$(grep -h '"origin": "core.queue"' "$pdir/rsyslog/stats.json" |
        sed -n 's/.*"name": "\([^"]*\)".*"discarded.full": \([0-9]*\), "discarded.nf": \([0-9]*\).*/\1|\2 \3/p' |
        awk -F'|' '{ last[$1] = $2 } END { for (q in last) { split(last[q], d, " "); n += d[1] + d[2] } print n + 0 }')
    r_held=$(cat "$pdir/rsyslog/work/failed.kafkamsgs" "$pdir/rsyslog/work"/kafka.[0-9]* 2>/dev/null |
        grep -o '"id":"' | wc -l)
    kill -TERM "$kpid" # the broker's JVM: not needed further
    wait "$kpid" || true
    local p keep=()
    for p in "${pids[@]}"; do [ "$p" = "$kpid" ] || keep+=("$p"); done
    pids=("${keep[@]}")

    awk -v n="$peer_n" -v p="$p_count" -v r="$r_count" -v pt0="$p_t0" -v rt0="$r_t0" \
        -v pb="$p_back" -v rb="$r_back" -v pd="$p_down" -v rd="$r_down" -v out="$outage" -v pa="$p_at" -v ra="$r_at" \
        -v rdisc="$r_disc" -v rheld="$r_held" \
        -v prss="$(cat "$pdir/posedge.rss")" -v rrss="$(cat "$pdir/rsyslog.rss")" \
        -v ver="$(/usr/sbin/rsyslogd -v | sed -n '1s/^rsyslogd *\([^ ,]*\).*/\1/p')" '
function val(s, k) { return match(" " s, " " k "=[0-9.]+") ? substr(" " s, RSTART + length(k) + 2, RLENGTH - length(k) - 2) + 0 : -1 }
function ratio(a, b) { return b > 0 ? sprintf("%.2f x rsyslog", a / b) : (a > 0 ? "rsyslog none" : "both none") }
function commas(x,   s, r) { s = sprintf("%d", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } return s r }
BEGIN {
    pl = n - val(p, "distinct"); rl = n - val(r, "distinct")
    pdup = val(p, "records") - val(p, "distinct"); rdup = val(r, "records") - val(r, "distinct")
    pdr = (val(p, "last_ms") - pb) / 1000.0; rdr = (val(r, "last_ms") - rb) / 1000.0
    pe = (val(p, "last_ms") - pt0) / 1000.0; re = (val(r, "last_ms") - rt0) / 1000.0
    printf "peer     %s events (~540 B) into a real Kafka 3.9 broker, stopped (SIGUSR1) at half written and started %d s later (SIGUSR2): down %.1f s for posedge (stopped at offset %s), %.1f s for rsyslog %s (at %s), restart included\n", commas(n), out, pd / 1000.0, commas(pa), rd / 1000.0, ver, commas(ra)
    printf "peer     drain after the broker is back (to the last record written): posedge %.1f s, rsyslog %.1f s = %s\n", pdr, rdr, ratio(pdr, rdr)
    printf "peer     start to last record, outage included: posedge %.1f s, rsyslog %.1f s = %s\n", pe, re, ratio(pe, re)
    printf "peer     events lost (id not in the topic, read_committed): posedge %s, rsyslog %s = %s (rsyslog'"'"'s statistics: %s discarded from a full queue; %s still in its failed-message and queue files after shutdown)\n", commas(pl), commas(rl), ratio(pl, rl), commas(rdisc), commas(rheld)
    printf "peer     records duplicated (beyond one per id): posedge %s, rsyslog %s = %s\n", commas(pdup), commas(rdup), ratio(pdup, rdup)
    printf "peer     peak RSS: posedge-bridge %.1f MB, rsyslogd %.1f MB = %s\n", prss / 1024.0, rrss / 1024.0, ratio(prss, rrss)
}'
}

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
section_arm() {
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
}

echo "posedge bench: build=$build dir=$dir (same disk for every figure)"
for s in till signer bridge tls real sasl catalog peer arm; do
    if wanted "$s"; then "section_$s"; fi
done
