#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: a simulated store end to end on loopback, secured as a store would be. A real
# mosquitto broker, a real Apache Kafka broker (tests/system/kafka.py serve, one KRaft node;
# DEMO_KAFKA=mock uses librdkafka's mock cluster instead, and KAFKA_BROKERS an existing Kafka),
# one bridge in transactional mode and three tills running the shopper on an accelerated clock.
# During the run Kafka is stopped for about 20 seconds, the MQTT broker restarts, the bridge is
# killed with kill -9 and restarted, and one till is killed with kill -9 and restarted. A line
# per second shows captured / spooled / delivered per till.
#
# Secure by default (docs/pki.md): the demo makes its own store CA (posedge-ctl pki init), the
# broker's server certificate, the bridge's and HQ's client certificates and the CRL, and runs
# mosquitto with posedge-ctl broker-config's configuration on two free loopback ports: mutual
# TLS (require_certificate, the CN as username, the CRL, the per-till ACL) and the
# enrolment-only listener. No till gets a certificate by hand: each gets a one-time token
# (posedge-ctl pki token) as enrol.token_file, makes its own key, sends its CSR to the
# enrolment listener, the bridge (pki.dir) checks the token and signs, and the till switches to
# mutual TLS. Kafka is the tests' SASL_SSL node (kafka.py serve --sasl-ssl: TLS from a CA of its
# own, SCRAM-SHA-512, ACLs that let the bridge's user write only its topics and use only its
# transactional id, and HQ's user read them); the bridge logs in as its user with the settings
# serve prints (set=KEY=VALUE). HQ's part is played by posedge-ctl with HQ's certificate
# (s001/hq): posedge-ctl status shows every till's state document and certificate (a killed
# till shows offline), and posedge-ctl fleet ... z_report closes till t01's period. The run ends
# with posedge-ctl reconcile as HQ's Kafka user over SASL_SSL (--bridge-config, a read_committed
# consumer), shows the remote Z report in Kafka with its sales (kcat as HQ's user), says what
# was secured, and exits 0 only when nothing was lost or duplicated and the Z report arrived
# with sales in it. DEMO_PLAINTEXT=1 runs the lab variant instead: plaintext MQTT with a
# password per till and for the bridge (posedge-ctl acl), HQ with the bridge's credentials, and
# Kafka over PLAINTEXT (a lab only: every daemon warns at start). DEMO_KAFKA=mock and
# KAFKA_BROKERS are plaintext Kafka.
#
# The tills' simulated clocks start at 05:55 UTC of today (sim.start), five minutes before the
# simulated shop opens (06:00 to 22:00 at 3600 simulated seconds a second: a day every 24 s, the
# shop open for the first 16), so a run goes the same way whatever the time of day. HQ's Z
# report comes from 58 s, once t01 is mid-day: the shopper closes every day with its own Z
# report, so t01 is stopped, its operator closes the shift (a scenario run), and t01 waits as an
# idle till at night (a daemon whose clock starts at 23:00 of that day, at real speed) when HQ's
# z_report comes; then it trades on.
#
# Prices from HQ (docs/protocol.md, "The store catalog"): before the tills start, HQ publishes
# the store's catalog (posedge-ctl catalog publish, as HQ's Kafka user, of a CSV file that
# scripts/demo-catalog.py writes from the board's catalog); at 3 s, while the store trades, HQ
# publishes a change (JSON lines): one item's new price and a promotion, both effective at a
# simulated time 5 to 6 hours ahead of the tills' clocks. The demo waits until posedge-ctl
# catalog status lists every till current and shows posedge-ctl status (its CATALOG column). At
# the end catalog status must list no till behind, and demo-catalog.py checks the journals: each
# till's catalog_applied events end at the bridge's version, no sale line of the item at
# another price than the one in force (old before, new after), the promotion on every line it
# targets after the change and on none before, some of both at every till; it prints an excerpt
# of a receipt that shows them. Any of it failing makes the exit status 1.
#
# DEMO_FAKETIME="YYYY-MM-DD HH:MM:SS" runs the posedge programs with their wall clock there (in
# the past, e.g. yesterday 23:59:00 to cross midnight), as the tests' PE_TEST_FAKETIME does.
#
# PROFILE=NAME (make demo passes it through) runs the same demo with the bridge writing one more
# output profile (docs/protocol.md, "Output profiles"): its configuration, generated into the run
# directory, is boards/sim/bridge.json with "sinks": native (which reconcile checks) and NAME's
# sink. On the SASL_SSL broker, where no client may create a topic, the demo creates the
# profile's topic as the broker's administrator and grants the bridge's user Write and HQ's Read
# on it (Kafka's TopicCommand and AclCommand on the broker's internal listener), as an operator
# of a managed Kafka would. At the end it shows the first 5 records of NAME's topic, decoded,
# and the number of records on it next to the number the tills' journals imply. The Avro
# profiles (inventory-avro, orders-avro) need a Schema Registry: the demo starts one
# (scripts/registry.sh, on a free loopback port) while Kafka starts, gives the sink its
# registry_url, and decodes their records with fastavro (scripts/pydeps.sh) using the writer
# schema the 5-byte header names. PROFILE=all gives the bridge every profile's sink side by side
# and shows 2 records of each topic. The profiles are the table in profile_table below; an
# unknown NAME is refused (exit 2) before anything starts. The profile part never changes the
# exit status.
# usage: [PROFILE=native|purchases-json|retail-json|orders-json|inventory-avro|orders-avro|all]
#        [DEMO_PLAINTEXT=1] [DEMO_FAKETIME=TIME] scripts/demo.sh BUILD_DIR
#        (DEMO_SECONDS: trading time, default 70)
set -eu
build=${1:?usage: scripts/demo.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/$build
secs=${DEMO_SECONDS:-70}
profile=${PROFILE:-}

# ---- PROFILE: one line per output profile ----
# name, its topic, its sink in the bridge's "sinks" next to native ("-": none; an Avro sink gets
# "registry_url" added, and a relative "catalog" is taken from the top of the tree), the decoder
# that prints a record (decode_json, decode_native, decode_avro), and the records the journals
# imply: events:TYPES (one per event of those types), lines:TYPES (one per line of those
# events) or items:TYPES (one per distinct item of each of those events: inventory-avro keys
# its records on (trans_id, item_id) and sums an item's lines).
profile_table() {
    cat <<'EOF'
native          pos.sales                    -                                                                  decode_native  events:sale,return,void,no_sale
purchases-json  purchases                    {"profile":"purchases-json"}                                       decode_json    lines:sale
retail-json     retail                       {"profile":"retail-json","country":"France"}                       decode_json    lines:sale,return
orders-json     orders                       {"profile":"orders-json","source":"store"}                         decode_json    events:sale
inventory-avro  prod.inventory.transactions  {"profile":"inventory-avro","catalog":"boards/sim/catalog.json"}  decode_avro    items:sale,return,inventory_receipt,inventory_adjust
orders-avro     orders.avro                  {"profile":"orders-avro"}                                          decode_avro    events:sale
EOF
}
if [ -n "$profile" ]; then
    if [ "$profile" = all ]; then
        profiles=$(profile_table)
    else
        profiles=$(profile_table | awk -v p="$profile" '$1 == p')
    fi
    if [ -z "$profiles" ]; then
        echo "PROFILE=$profile: unknown profile; one of: $(profile_table | awk '{print $1}' |
            paste -sd' ') all" >&2
        exit 2
    fi
fi
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run=$(mktemp -d "${TMPDIR:-/tmp}/posedge-demo-XXXXXX")

# ---- DEMO_FAKETIME="YYYY-MM-DD HH:MM:SS" (UTC): the posedge programs at another wall clock ----
# As the suite's PE_TEST_FAKETIME (README, "Testing"): libfaketime with one offset, their clocks
# running on from there, the monotonic clocks and librdkafka's condition waits left alone
# (tests/system/faketime_waits.c); mosquitto, Kafka, kcat and the demo's own tools keep the real
# time. Take a time in the past: the certificates the faked programs make are valid from an hour
# before their clock. bin becomes a folder of wrappers that exec the build's programs so.
now_s() { echo $(($(date +%s) + fake_offset)); } # the posedge programs' wall clock
fake_offset=0
if [ -n "${DEMO_FAKETIME:-}" ]; then
    fake_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
    [ -n "$fake_lib" ] ||
        { echo "DEMO_FAKETIME needs libfaketime: apt-get install faketime"; exit 2; }
    fake_at=$(date -u -d "$DEMO_FAKETIME" +%s) ||
        { echo "DEMO_FAKETIME=\"$DEMO_FAKETIME\": not a time"; exit 2; }
    fake_offset=$((fake_at - $(date +%s)))
    cc -shared -fPIC -O2 -o "$run/faketime-waits.so" "$top/tests/system/faketime_waits.c" ||
        { echo "DEMO_FAKETIME: cannot build faketime_waits.c"; exit 2; }
    mkdir -p "$run/bin"
    for p in posedge-agent posedge-bridge posedge-ctl; do
        {
            echo '#!/bin/sh'
            printf 'LD_PRELOAD="%s %s" FAKETIME=%+d FAKETIME_DONT_FAKE_MONOTONIC=1 ' \
                "$run/faketime-waits.so" "$fake_lib" "$fake_offset"
            printf 'exec "%s" "$@"\n' "$bin/$p"
        } >"$run/bin/$p"
        chmod +x "$run/bin/$p"
    done
    real_bin=$bin
    bin=$run/bin
    echo "DEMO_FAKETIME: the posedge programs' clock reads $(date -u -d "@$(now_s)" '+%F %T') UTC"
fi

# The bridge's configuration: the board's, or with PROFILE the board's plus "sinks" (a list,
# which --set cannot give), checked by the bridge itself before anything starts. An Avro sink
# needs a Schema Registry: it is started (below, before the bridge) on a port chosen here.
bridge_cfg=$top/boards/sim/bridge.json
registry_url=""
if [ -n "$profile" ]; then
    if grep -q decode_avro <<<"$profiles"; then
        registry_port=$(free_port)
        registry_url=http://127.0.0.1:$registry_port/apis/ccompat/v7
    fi
    bridge_cfg=$run/bridge.json
    awk '{print $3}' <<<"$profiles" |
        /usr/bin/python3 -c '
import json, os, sys
top, url, out = sys.argv[1:]
with open(os.path.join(top, "boards", "sim", "bridge.json")) as f:
    cfg = json.load(f)
cfg["sinks"] = [{"profile": "native"}]
for word in sys.stdin.read().split():
    if word == "-":
        continue
    sink = json.loads(word)
    if sink["profile"].endswith("-avro"):
        sink["registry_url"] = url
    if "catalog" in sink:
        sink["catalog"] = os.path.join(top, sink["catalog"])
    cfg["sinks"].append(sink)
with open(out, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
' "$top" "$registry_url" "$bridge_cfg"
    "$bin/posedge-bridge" -c "$bridge_cfg" --print-config >/dev/null ||
        { echo "PROFILE=$profile: the bridge refuses $bridge_cfg"; exit 1; }
    echo "PROFILE=$profile: bridge sinks $(/usr/bin/python3 -c 'import json,sys
print(json.dumps(json.load(open(sys.argv[1]))["sinks"]))' "$bridge_cfg"), topics $(
        awk '{print $2}' <<<"$profiles" | paste -sd' ')"
fi
tills="t01 t02 t03"
pids=()
secure=1 # mutual TLS on MQTT, SASL_SSL to the demo's Kafka; DEMO_PLAINTEXT=1: the lab variant
case "${DEMO_PLAINTEXT:-0}" in 0 | "") ;; *) secure=0 ;; esac

wait_port() { # port seconds
    for ((i = 0; i < $2 * 10; i++)); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${kafka_pid:-}" ] && kill "$kafka_pid" 2>/dev/null || true
    [ -n "${mqtt_pid:-}" ] && kill "$mqtt_pid" 2>/dev/null || true
    [ -n "${bridge_pid:-}" ] && kill "$bridge_pid" 2>/dev/null || true
    [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null || true
}
trap cleanup EXIT

# ---- Kafka (started first: a SASL_SSL node takes some 20 s to start and set up) ----
# kcat_auth: kcat's options to read as HQ's user; kafka_sets: the bridge's kafka.* settings;
# reconcile_args: how reconcile connects (the bootstrap is added below).
outage() { :; }
back() { :; }
kcat_auth=()
kafka_sets=()
kafka_kind=""
if [ -n "${KAFKA_BROKERS:-}" ]; then
    kafka_kind=existing
elif [ "${DEMO_KAFKA:-real}" = real ]; then
    kafka_kind=real
    serve=("$top/tests/system/kafka.py" serve)
    [ "$secure" = 1 ] && serve+=(--sasl-ssl)
    # The node's certificates are made by posedge-ctl at the programs' clock (lib.py's
    # PE_TEST_FAKETIME), so that the faked programs take them as valid.
    PE_TEST_FAKETIME=${DEMO_FAKETIME:-} PE_BIN=${real_bin:-$bin} PE_BIN_RELEASE=${real_bin:-$bin} \
        /usr/bin/python3 "${serve[@]}" "$run/kafka" </dev/null >"$run/kafka.out" 2>&1 &
    kafka_pid=$!
else
    kafka_kind=mock
fi

# ---- the Schema Registry, for an Avro sink (scripts/registry.sh: Apicurio, built once) ----
# Started now, so that its JVM starts while Kafka's does; waited for before the bridge starts.
if [ -n "$registry_url" ]; then
    "$top/scripts/registry.sh" fetch || { echo "scripts/registry.sh fetch failed"; exit 1; }
    avro_py=$("$top/scripts/pydeps.sh" | tail -1) || { echo "scripts/pydeps.sh failed"; exit 1; }
    "$top/scripts/registry.sh" run "$registry_port" "$run/registry" </dev/null \
        >"$run/registry.log" 2>&1 &
    registry_pid=$! # registry.sh run execs the JVM: this is the server itself
fi

# ---- the in-store broker ----
mqtt_port=$(free_port)
mkdir -p "$run/mosquitto"
[ "$(id -u)" -eq 0 ] && mqtt_user="user root" || mqtt_user=""
ctl() { "$bin/posedge-ctl" "$@"; }
if [ "$secure" = 1 ]; then
    # The store's PKI (docs/pki.md): its CA, the broker's server certificate (the tills check
    # 127.0.0.1 against its SAN), the bridge's and HQ's client certificates, the CRL; then the
    # store broker's whole configuration from posedge-ctl broker-config: mutual TLS on
    # mqtt_port, the enrolment-only listener on enrol_port. Keys are 0600 files, never printed.
    enrol_port=$(free_port)
    while [ "$enrol_port" = "$mqtt_port" ]; do enrol_port=$(free_port); done
    ca=$run/pki/ca
    m=$run/mosquitto
    mkdir -p "$run/pki"
    {
        ctl pki init --dir "$ca" --store s001 &&
            ctl pki issue --dir "$ca" --store s001 --server --san DNS:localhost,IP:127.0.0.1 \
                --key-out "$m/server.key" --out "$m/server.crt" &&
            ctl pki issue --dir "$ca" --store s001 --bridge --key-out "$run/pki/bridge.key" \
                --out "$run/pki/bridge.crt" &&
            ctl pki issue --dir "$ca" --store s001 --hq --key-out "$run/pki/hq.key" \
                --out "$run/pki/hq.crt" &&
            cp "$ca/ca.crt" "$m/ca.crt" &&
            ctl pki crl --dir "$ca" --out "$m/crl.pem" &&
            ctl broker-config --store s001 --dir "$m" --conf "$m/posedge.conf" \
                --bind 127.0.0.1 --port "$mqtt_port" --enrol-port "$enrol_port"
    } >>"$run/pki.log" 2>&1 ||
        { echo "the store's PKI could not be made: see $run/pki.log"; exit 1; }
    # One enrolment token per till, in the file the till reads it from (0600; the till removes
    # it once it is spent). Only the CA directory's index keeps it, as a hash.
    for t in $tills; do
        mkdir -p "$run/$t"
        ctl pki token --dir "$ca" --store s001 --terminal "$t" --out "$run/$t/enrol.token" \
            >>"$run/pki.log" 2>&1 || { echo "no token for $t: see $run/pki.log"; exit 1; }
    done
    { # the demo's own lines (as root, mosquitto would switch to a user that cannot read them)
        echo "$mqtt_user"
        echo "persistence true"
        echo "persistence_location $m/"
        echo "max_queued_messages 100000"
        cat "$m/posedge.conf"
    } >"$m/mosquitto.conf"
    tls_ca=(--cafile "$ca/ca.crt")
    hq=(--mqtt "127.0.0.1:$mqtt_port" --store s001 --tls-ca "$ca/ca.crt"
        --tls-cert "$run/pki/hq.crt" --tls-key "$run/pki/hq.key")
    hq_sub=(--cafile "$ca/ca.crt" --cert "$run/pki/hq.crt" --key "$run/pki/hq.key")
    bridge_mqtt=(--set mqtt.tls.ca_file="$ca/ca.crt" --set mqtt.tls.cert_file="$run/pki/bridge.crt"
        --set mqtt.tls.key_file="$run/pki/bridge.key" --set pki.dir="$ca")
    till_mqtt() { # tm: till $1's settings; its certificate is made by enrolment with the token
        tm=(--set mqtt.tls.ca_file="$ca/ca.crt" --set mqtt.tls.cert_file="$run/$1/till.crt"
            --set mqtt.tls.key_file="$run/$1/till.key"
            --set enrol.token_file="$run/$1/enrol.token" --set enrol.port="$enrol_port")
    }
    hq_who="HQ's certificate, s001/hq"
else
    # The lab variant: plaintext, with the store's ACL for password logins (docs/protocol.md,
    # "Access control") and a password per till and for the bridge.
    "$bin/posedge-ctl" acl --store s001 >"$run/mosquitto/acl"
    for u in bridge $tills; do # one password per MQTT user, in a file only its daemon reads
        (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$run/$u.pw")
        mosquitto_passwd $([ "$u" = bridge ] && echo -c) -b "$run/mosquitto/passwd" "$u" \
            "$(cat "$run/$u.pw")"
    done
    cat >"$run/mosquitto/mosquitto.conf" <<EOF
$mqtt_user
listener $mqtt_port 127.0.0.1
allow_anonymous false
password_file $run/mosquitto/passwd
acl_file $run/mosquitto/acl
persistence true
persistence_location $run/mosquitto/
max_queued_messages 100000
EOF
    hq=(--mqtt "127.0.0.1:$mqtt_port" --store s001 --user bridge --password-file "$run/bridge.pw")
    hq_sub=(-u bridge -P "$(cat "$run/bridge.pw")")
    bridge_mqtt=(--set mqtt.username=bridge --set mqtt.password_file="$run/bridge.pw")
    till_mqtt() { tm=(--set mqtt.username="$1" --set mqtt.password_file="$run/$1.pw"); }
    hq_who="the bridge's credentials"
fi
start_mqtt() {
    /usr/sbin/mosquitto -c "$run/mosquitto/mosquitto.conf" >>"$run/mosquitto/mosquitto.log" 2>&1 &
    mqtt_pid=$!
    wait_port "$mqtt_port" 20 || { echo "mosquitto did not start: see $run/mosquitto"; exit 1; }
}
start_mqtt

# ---- Kafka, ready ----
if [ "$kafka_kind" = existing ]; then
    brokers=$KAFKA_BROKERS
    kafka_desc="PLAINTEXT (KAFKA_BROKERS)"
    echo "Kafka: $brokers (KAFKA_BROKERS); the outage part of the demo is skipped"
elif [ "$kafka_kind" = real ]; then
    for ((i = 0; i < 1800; i++)); do # up to 180 s: a cold JVM on a loaded machine
        brokers=$(sed -n 's/^bootstrap=//p' "$run/kafka.out" 2>/dev/null | head -1)
        [ -n "$brokers" ] && break
        kill -0 "$kafka_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$brokers" ] || { echo "Kafka did not start: see $run/kafka.out"; exit 1; }
    outage() { kill -USR1 "$kafka_pid"; }
    back() { kill -USR2 "$kafka_pid"; }
    if [ "$secure" = 1 ]; then
        # The bridge logs in as user bridge (the settings serve prints: SCRAM-SHA-512, its
        # password file, the broker's CA); HQ reads as user hq (kcat, reconcile).
        while read -r kv; do kafka_sets+=(--set "$kv"); done \
            < <(sed -n 's/^set=//p' "$run/kafka.out")
        kafka_ca=$(sed -n 's/^ca_file=//p' "$run/kafka.out")
        kafka_internal=$(sed -n 's/^internal=//p' "$run/kafka.out")
        ksec=$(dirname "$kafka_ca")
        kcat_auth=(-F "$ksec/hq.kcat")
        cat >"$run/hq.json" <<EOF
{"kafka": {"brokers": "$brokers", "security_protocol": "sasl_ssl",
           "sasl": {"mechanism": "SCRAM-SHA-512", "username": "hq",
                    "password_file": "$ksec/hq.password"},
           "tls": {"ca_file": "$kafka_ca"}}}
EOF
        kafka_desc="SASL_SSL SCRAM-SHA-512"
        echo "Kafka: Apache Kafka (one KRaft node, scripts/kafka.sh) at $brokers: SASL_SSL" \
            "(TLS, SCRAM-SHA-512, ACLs; the bridge as user bridge, HQ as user hq)"
    else
        kafka_desc="PLAINTEXT"
        echo "Kafka: Apache Kafka (one KRaft node, scripts/kafka.sh) at $brokers"
    fi
else
    mkfifo "$run/devkafka.in"
    "$bin/posedge-ctl" devkafka <"$run/devkafka.in" >"$run/devkafka.out" 2>"$run/devkafka.log" &
    kafka_pid=$!
    exec 7>"$run/devkafka.in"
    for ((i = 0; i < 100; i++)); do
        brokers=$(sed -n 's/^bootstrap=//p' "$run/devkafka.out" | head -1)
        [ -n "$brokers" ] && break
        sleep 0.1
    done
    [ -n "$brokers" ] || { echo "devkafka did not start"; exit 1; }
    kafka_desc="PLAINTEXT (librdkafka's mock cluster)"
    echo "Kafka: posedge-ctl devkafka (librdkafka mock cluster) at $brokers"
    outage() { echo down >&7; }
    back() { echo up >&7; }
fi
reconcile_args=(--brokers "$brokers")
[ -f "$run/hq.json" ] && reconcile_args=(--bridge-config "$run/hq.json")

# The profiles' topics on the SASL_SSL node: no client may create a topic there, so they are
# created as its administrator (the internal listener), with Write for the bridge's user and
# Read for HQ's, the JVM tools side by side.
if [ -n "$profile" ] && [ -n "${kafka_internal:-}" ]; then
    p_topics=$(awk '$3 != "-" {print $2}' <<<"$profiles")
    if [ -n "$p_topics" ]; then
        khome=$("$top/scripts/kafka.sh" home)
        kadmin() {
            java -Xmx256m -Djava.awt.headless=true \
                -Dlog4j.configuration="file:$run/kafka/kafka/tools-log4j.properties" \
                -cp "$khome/lib/*" "$@" --bootstrap-server "$kafka_internal" \
                >>"$run/kafka-admin.log" 2>&1
        }
        topic_args=()
        for t in $p_topics; do topic_args+=(--topic "$t"); done
        jobs_=()
        for t in $p_topics; do
            kadmin org.apache.kafka.tools.TopicCommand --create --topic "$t" --partitions 1 \
                --replication-factor 1 &
            jobs_+=($!)
        done
        kadmin kafka.admin.AclCommand --add --force --allow-principal User:bridge \
            --operation Write --operation Describe "${topic_args[@]}" &
        jobs_+=($!)
        kadmin kafka.admin.AclCommand --add --force --allow-principal User:hq \
            --operation Read --operation Describe "${topic_args[@]}" &
        jobs_+=($!)
        for j in "${jobs_[@]}"; do
            wait "$j" ||
                { echo "PROFILE=$profile: topics or ACLs: see $run/kafka-admin.log"; exit 1; }
        done
        for t in $p_topics; do # until the topic has its leader (the bridge would wait too)
            for ((i = 0; i < 300; i++)); do
                kcat -b "$kafka_internal" -L -t "$t" -m 5 2>/dev/null |
                    grep -q 'partition 0, leader 1' && break
                sleep 0.1
            done
        done
        echo "PROFILE=$profile: topics $(paste -sd' ' <<<"$p_topics") created on the SASL_SSL" \
            "broker, Write for user bridge, Read for user hq"
    fi
fi

if [ -n "$registry_url" ]; then
    for ((i = 0; i < 900; i++)); do # up to 90 s: a cold JVM
        curl -sf -o /dev/null "$registry_url/subjects" && break
        kill -0 "$registry_pid" 2>/dev/null || break
        sleep 0.1
    done
    curl -sf -o /dev/null "$registry_url/subjects" ||
        { echo "the Schema Registry did not start: see $run/registry.log"; exit 1; }
    echo "Schema Registry: Apicurio (scripts/registry.sh) at $registry_url"
fi

# ---- the bridge and the tills ----
# The store dashboard and the bridge's /metrics and /health (docs/metrics.md) on a port of its
# own, the same across the bridge's restarts, up until the end of the run.
dash_port=$(free_port)
while [ "$dash_port" = "$mqtt_port" ] || [ "$dash_port" = "${enrol_port:-}" ]; do
    dash_port=$(free_port)
done
start_bridge() {
    "$bin/posedge-bridge" -c "$bridge_cfg" --data-dir "$run/bridge" \
        --mqtt "127.0.0.1:$mqtt_port" --kafka "$brokers" "${bridge_mqtt[@]}" \
        "${kafka_sets[@]}" --set http.listen="127.0.0.1:$dash_port" 2>>"$run/bridge.log" &
    bridge_pid=$!
}
start_bridge
echo "dashboard: http://127.0.0.1:$dash_port/ (the store as the bridge sees it; metrics on" \
    "/metrics, health on /health; up until the end of the run)"
# The bridge subscribes to the enrolment topics once it is connected: a till asking before that
# would get its answer only when it asks again (20 s later). Up to 20 s.
for ((i = 0; i < 200; i++)); do
    grep -q 'event=bridge\.mqtt_connected' "$run/bridge.log" 2>/dev/null && break
    kill -0 "$bridge_pid" 2>/dev/null || { echo "the bridge exited: see $run/bridge.log"; exit 1; }
    sleep 0.1
done

# ---- HQ publishes the store's catalog ----
# HQ's files (demo-catalog.py writes them: a CSV of the board's catalog, the same items at the
# same prices, and in JSON lines a promotion that runs already, both in force from the simulated
# day's start) in one Kafka transaction, as HQ's Kafka user; the bridge reads them into its
# spool and announces its version on its retained catalog topic, and the tills fetch it when
# they connect. Waited for here (up to 30 s).
# The tills' simulated clocks start at 05:55 of the programs' current UTC day, whatever the time.
sim_start=$(date -u -d "@$(now_s)" +%F)T05:55:00.000Z # a restarted till goes on from its journal
hq_cat() { /usr/bin/python3 "$top/scripts/demo-catalog.py" "$@"; }
bridge_catalog() { # the bridge's retained version document, read as HQ ("" when none)
    mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" "${hq_sub[@]}" -t posedge/v1/s001/bridge/catalog \
        -C 1 -W 1 2>/dev/null || true
}
cat_field() { sed -n 's/.*"'"$1"'":\([^,}]*\).*/\1/p' <<<"$2" | tr -d '"'; }
wait_catalog() { # ITEMS PROMOTIONS: until the bridge announces a catalog of that many (30 s)
    local deadline=$((SECONDS + 30))
    while :; do
        doc=$(bridge_catalog)
        [ "$(cat_field items "$doc"):$(cat_field promotions "$doc")" = "$1:$2" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
hq_publish() { # FILE...: posedge-ctl catalog publish as HQ, its output indented
    local out rc=0
    echo "  posedge-ctl catalog publish ${reconcile_args[*]} $*"
    out=$("$bin/posedge-ctl" catalog publish "${reconcile_args[@]}" "$@" 2>&1) || rc=$?
    sed 's/^/  | /' <<<"$out"
    [ "$rc" -eq 0 ] || { echo "HQ could not publish $* (exit $rc)"; exit 1; }
}
mkdir -p "$run/hq"
hq_cat catalog "$top/boards/sim/catalog.json" s001 "${sim_start%%T*}" "$run/hq"
cat_items=$(($(wc -l <"$run/hq/catalog.csv") - 1))
cat_promos=$(wc -l <"$run/hq/promotions.jsonl")
echo "---- HQ publishes the store's catalog: $cat_items items, $cat_promos promotion ----"
hq_publish "$run/hq/catalog.csv" "$run/hq/promotions.jsonl"
wait_catalog "$cat_items" "$cat_promos" ||
    { echo "the bridge did not take HQ's catalog: see $run/bridge.log"; exit 1; }
echo "  the bridge: catalog version $(cat_field version "$doc"), hash" \
    "$(cat_field hash "$doc" | cut -c1-16)... (retained on posedge/v1/s001/bridge/catalog)"

declare -A till_pid
start_till() { # terminal [--set KEY=VALUE]...: the later --set of a key wins
    till_mqtt "$1"
    "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$run/$1" --terminal "$1" \
        --mqtt "127.0.0.1:$mqtt_port" "${tm[@]}" --set sim.speed=3600 \
        --set sim.tx_per_day=460 --set sim.open_hour=6 --set sim.close_hour=22 \
        --set sim.seed="${1#t}" --set sim.start="$sim_start" "${@:2}" 2>>"$run/$1.log" &
    till_pid[$1]=$!
}
for t in $tills; do start_till "$t"; done
if [ "$secure" = 1 ]; then
    echo "store s001: mosquitto mutual TLS :$mqtt_port and enrolment :$enrol_port" \
        "(posedge-ctl broker-config), bridge (the enrolment signer), tills $tills" \
        "(a token each); run directory $run"
else
    echo "store s001: mosquitto :$mqtt_port (DEMO_PLAINTEXT: passwords, no TLS), bridge," \
        "tills $tills; run directory $run"
fi

# Enrolment: each till makes its key, sends its CSR with its token to the enrolment listener,
# gets its certificate from the bridge and connects with it. Its sales are in its journal
# meanwhile. Waited for here (up to 30 s), so the per-second lines start with enrolled tills.
enrolled=0
if [ "$secure" = 1 ]; then
    echo "---- enrolment: a one-time token per till -> key and CSR on the till -> the bridge" \
        "signs -> mutual TLS ----"
    for ((i = 0; i < 300; i++)); do
        n=0
        for t in $tills; do # the certificate written and the spent token removed
            [ -s "$run/$t/till.crt" ] && [ ! -e "$run/$t/enrol.token" ] && n=$((n + 1))
        done
        [ "$n" -eq 3 ] && break
        sleep 0.1
    done
    for t in $tills; do
        line=$(grep -o 'event=enrol\.enrolled cn=[^ ]* serial=[^ ]* not_after=[^ ]*' \
            "$run/$t.log" | head -1)
        if [ -n "$line" ]; then
            echo "  $t: ${line#event=}"
            enrolled=$((enrolled + 1))
        else
            echo "  $t: not enrolled (see $run/$t.log)"
        fi
    done
fi

q() { sqlite3 -cmd '.timeout 2000' "file:$1?mode=ro" "$2" 2>/dev/null || echo 0; }
status_line() {
    local line="" backlog=0
    for t in $tills; do
        local db=$run/$t/journal.db c s d
        c=$(q "$db" 'SELECT coalesce(max(seq),0) FROM events')
        s=$(q "$db" "SELECT coalesce(max(value),0) FROM uplink WHERE key='spooled'")
        d=$(q "$db" "SELECT coalesce(max(value),0) FROM uplink WHERE key='delivered'")
        line+=$(printf ' %s %5s/%5s/%5s' "$t" "$c" "$s" "$d")
        backlog=$((backlog + c - d))
    done
    printf 't=%3ds%s  backlog %d %s\n' "$1" "$line" "$backlog" "$2"
}

# HQ closes till t01's period remotely. A till refuses a Z report while its shift is open, and
# the shopper closes every trading day with its own Z report, after which the period is empty.
# So once t01 is mid-day (its journal has a hundred sales since the day's opening and its clock
# is two hours or more before the shop closes: 2 s at 3600x), it is stopped and its operator
# closes the shift (a scenario run: cancel the basket the stop parked, if any; login; shift
# close), and t01 runs again as an idle till at night: its clock starts at 23:00 of that day,
# at real speed, the shop closed until 06:00. Once its state document says online with the
# shift closed (read as HQ), posedge-ctl fleet sends z_report and prints the till's answer: the
# period's sales are in it. The seq of the committed Z report is then looked up in t01's
# journal, and t01 trades on (its clock goes on from its journal's last event).
z_seq=""
remote_z() {
    echo "---- HQ: till t01 closes its shift, then posedge-ctl fleet ... z_report ----"
    local i st day mid
    for ((i = 0; i < 300; i++)); do # up to 30 s: a simulated day takes 24 s
        mid=$(q "$run/t01/journal.db" "SELECT count(*) FROM events WHERE type = 'sale' AND
            seq > (SELECT coalesce(max(seq), 0) FROM events WHERE type = 'shift_close') AND
            (SELECT substr(json_extract(record, '$.ts'), 12, 2) FROM events ORDER BY seq DESC
             LIMIT 1) < '20'")
        [ "$mid" -ge 100 ] && break
        sleep 0.1
    done
    kill -TERM "${till_pid[t01]}"
    wait "${till_pid[t01]}" || { echo "till t01 did not stop cleanly"; start_till t01; return; }
    # A basket the stop parked comes back at the next start, and a till does not close its
    # shift with a transaction open: the operator cancels it first (a void; nothing when none).
    printf '%s\n' '{"do":"cancel"}' '{"do":"login","operator":"op01"}' \
        '{"do":"shift_close","declared":0}' >"$run/t01-close.jsonl"
    "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$run/t01" --terminal t01 \
        --scenario "$run/t01-close.jsonl" 2>>"$run/t01.log" &&
        [ "$(q "$run/t01/journal.db" "SELECT type FROM events ORDER BY seq DESC LIMIT 1")" = \
            shift_close ] ||
        { echo "till t01 could not close its shift (see $run/t01.log)"; start_till t01; return; }
    day=$(sqlite3 -cmd '.timeout 2000' "file:$run/t01/journal.db?mode=ro" \
        "SELECT substr(json_extract(record, '$.ts'), 1, 10) FROM events ORDER BY seq DESC
         LIMIT 1" 2>/dev/null || true)
    start_till t01 --set sim.speed=1 --set sim.start="${day}T23:00:00.000Z"
    for ((i = 0; i < 200; i++)); do # up to 20 s: the till starts and publishes its state
        st=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" "${hq_sub[@]}" \
            -t posedge/v1/s001/t01/state -C 1 -W 2 2>/dev/null || true)
        [[ "$st" == *'"state":"online"'* && "$st" == *'"shift":"closed"'* ]] && break
        sleep 0.1
    done
    "$bin/posedge-ctl" fleet "${hq[@]}" --terminal t01 z_report | sed 's/^/  | /' || true
    kill -TERM "${till_pid[t01]}"
    wait "${till_pid[t01]}" || echo "till t01 did not stop cleanly"
    start_till t01
    z_seq=$(sqlite3 -cmd '.timeout 2000' "file:$run/t01/journal.db?mode=ro" \
        "SELECT seq FROM events WHERE type = 'z_report' AND
         json_extract(record, '$.operator') = 'hq' ORDER BY seq DESC LIMIT 1" 2>/dev/null || true)
    if [ -n "$z_seq" ]; then echo "  t01's Z report from HQ is seq $z_seq in its journal"; fi
}

# HQ changes a price and starts a promotion while the store trades (demo-catalog.py says what),
# both effective at the first full hour at least 5 simulated hours after the latest till's
# clock: 5 to 6 s ahead at 3600x, so every till holds the new version before it is in force
# and starts selling at the new price at that minute by its own clock. HQ publishes JSON lines
# (the item's record with both price windows, the promotion); the bridge announces the new
# version and each till fetches the delta and applies it between baskets, journaling
# catalog_applied. Waited for (up to 30 s each): the bridge's version with the promotion, then
# posedge-ctl catalog status listing no till behind; then posedge-ctl status shows every till's
# CATALOG. The journals are checked against cat_eff at the end.
cat_eff=""
hq_change() {
    local clock=0 ms t doc out rc=1 what deadline cat_version
    echo "---- HQ: a price change and a promotion while the store trades ----"
    for t in $tills; do
        ms=$(q "$run/$t/journal.db" 'SELECT coalesce(max(ts_ms), 0) FROM events')
        [ "$ms" -gt "$clock" ] && clock=$ms
    done
    { read -r cat_eff && read -r what; } < <(hq_cat change "$top/boards/sim/catalog.json" s001 \
        "${sim_start%%T*}" "$clock" "$run/hq/change.jsonl")
    [ -n "$cat_eff" ] || { echo "demo-catalog.py change failed"; exit 1; }
    echo "  the tills' clocks read $(date -u -d "@$((clock / 1000))" +%H:%M); from $cat_eff:" \
        "$what"
    hq_publish "$run/hq/change.jsonl"
    wait_catalog "$cat_items" $((cat_promos + 1)) ||
        { echo "the bridge did not take HQ's change: see $run/bridge.log"; exit 1; }
    # The bridge may make two versions of one transaction (a batch per topic): every till at
    # the version catalog status reports, and that version still the bridge's afterwards.
    deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ]; do
        rc=0
        out=$("$bin/posedge-ctl" catalog status "${hq[@]}" 2>&1) || rc=$?
        cat_version=$(sed -n 's/^store s001: catalog version \([0-9]*\) .*/\1/p' <<<"$out")
        [ "$rc" -eq 0 ] && [ "$(cat_field version "$(bridge_catalog)")" = "$cat_version" ] && break
        rc=1
    done
    echo "  the bridge: catalog version $cat_version"
    echo "---- HQ: posedge-ctl catalog status --store s001 ----"
    sed 's/^/  | /' <<<"$out"
    [ "$rc" -eq 0 ] || { echo "the tills did not all apply the bridge's version in 30 s"; exit 1; }
    echo "---- HQ: posedge-ctl status --store s001 (CATALOG: the version each till sells from) ----"
    "$bin/posedge-ctl" status "${hq[@]}" | sed 's/^/  | /'
}

echo "          till captured/spooled/delivered"
for ((sec = 1; sec <= secs; sec++)); do
    sleep 1 # the demo's pace for a person watching, not synchronisation
    note=""
    if [ -z "${KAFKA_BROKERS:-}" ] && [ "$sec" -eq 10 ]; then
        outage; note="<- Kafka goes away"
    fi
    if [ -z "${KAFKA_BROKERS:-}" ] && [ "$sec" -eq 30 ]; then
        back; note="<- Kafka is back"
    fi
    if [ "$sec" -eq 36 ]; then
        kill -9 "$bridge_pid"; wait "$bridge_pid" 2>/dev/null || true; start_bridge
        note="<- bridge killed with kill -9 and restarted"
    fi
    if [ "$sec" -eq 40 ]; then
        kill -TERM "$mqtt_pid"; wait "$mqtt_pid" 2>/dev/null || true; start_mqtt
        note="<- MQTT broker restarted"
    fi
    if [ "$sec" -eq 48 ]; then
        kill -9 "${till_pid[t02]}"; wait "${till_pid[t02]}" 2>/dev/null || true
        note="<- till t02 killed with kill -9"
    fi
    if [ "$sec" -eq 51 ]; then
        start_till t02; note="<- till t02 restarted"
    fi
    if [ "$sec" -eq 54 ]; then
        kill -9 "${till_pid[t03]}"; wait "${till_pid[t03]}" 2>/dev/null || true
        note="<- till t03 killed with kill -9: HQ looks at the store"
    fi
    status_line "$sec" "$note"
    if [ "$sec" -eq 3 ]; then
        hq_change
    fi
    if [ "$sec" -eq 56 ]; then
        echo "---- posedge-ctl status --store s001 (as HQ, with $hq_who) ----"
        "$bin/posedge-ctl" status "${hq[@]}" | sed 's/^/  | /'
        start_till t03
        echo "---- till t03 restarted ----"
    fi
    if [ "$sec" -eq 58 ]; then
        remote_z
    fi
done

# Close the tills, then wait until the bridge reports everything delivered.
for t in $tills; do kill -TERM "${till_pid[$t]}"; done
for t in $tills; do wait "${till_pid[$t]}" || { echo "till $t did not stop cleanly"; exit 1; }; done
for t in $tills; do
    till_mqtt "$t"
    "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$run/$t" --terminal "$t" \
        --mqtt "127.0.0.1:$mqtt_port" "${tm[@]}" --scenario /dev/null --wait-delivered 60 \
        2>>"$run/$t.log" \
        || { echo "till $t: not everything was delivered"; exit 1; }
done
status_line "$secs" "<- tills closed, all delivered"

echo
echo "---- posedge-ctl reconcile ${reconcile_args[*]} $run/t0*/journal.db ----"
[ -f "$run/hq.json" ] &&
    echo "  (HQ's reader over SASL_SSL: user hq, SCRAM-SHA-512, the broker's CA)"
status=0
"$bin/posedge-ctl" reconcile "${reconcile_args[@]}" "$run"/t0*/journal.db || status=$?
echo
echo "---- the remote Z report in Kafka (pos.reports, read_committed) ----"
if [ -z "$z_seq" ]; then
    echo "no Z report was made remotely"; status=1
else
    z_rec=$(kcat -b "$brokers" "${kcat_auth[@]}" -C -t pos.reports \
        -X isolation.level=read_committed -e -q -f '%s\n' 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("terminal") == "t01" and r.get("seq") == int(sys.argv[1]) and r.get("type") == "z_report":
        b = r["body"]
        print("  seq=%d type=%s operator=%s ts=%s number=%d grand_total=%d" % (
            r["seq"], r["type"], r["operator"], r["ts"], b["number"], b["grand_total"]))
        print("  sales.count=%d sales.gross=%d" % (b["sales"]["count"], b["sales"]["gross"]))
' "$z_seq")
    if [ -z "$z_rec" ]; then
        echo "t01's Z report seq $z_seq is not in Kafka"; status=1
    else
        echo "$z_rec"
        echo "  t01's Z report seq $z_seq is in Kafka"
        if [[ "$z_rec" =~ sales\.count=([0-9]+)\ sales\.gross=([0-9]+) ]] &&
            [ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[2]}" -gt 0 ]; then
            echo "  it closes a period with ${BASH_REMATCH[1]} sales"
        else
            echo "  it closes a period without sales"; status=1
        fi
    fi
fi

# ---- prices from HQ: every till at the bridge's version, the journals and the receipts ----
echo
echo "---- prices from HQ: posedge-ctl catalog status --store s001 (the tills closed) ----"
rc=0
out=$("$bin/posedge-ctl" catalog status "${hq[@]}" 2>&1) || rc=$?
sed 's/^/  | /' <<<"$out"
if [ "$rc" -ne 0 ]; then
    echo "FAILED: a till is not at the store's catalog version"; status=1
fi
cat_version=$(sed -n 's/^store s001: catalog version \([0-9]*\) .*/\1/p' <<<"$out")
if [ -z "$cat_eff" ]; then
    echo "FAILED: HQ made no change while the store traded (DEMO_SECONDS=$secs: 3 at least)"
    status=1
else
    echo "---- prices from HQ in the tills' journals and receipts (in force from $cat_eff) ----"
    hq_cat check "$cat_eff" "${cat_version:-0}" "$run" $tills || status=1
fi

# ---- PROFILE: a few records of the profile's topic, decoded, and how many there are ----
decode_json() { # kcat -J lines on stdin: key and value of each record
    /usr/bin/python3 -c '
import json, sys
class Num(str):  # a number exactly as the bridge wrote it (2.50 stays 2.50)
    pass
def show(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (json.dumps(k), show(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return v if isinstance(v, Num) else json.dumps(v, ensure_ascii=False)
for line in sys.stdin:
    m = json.loads(line)
    try:
        v = show(json.loads(m["payload"], parse_float=Num, parse_int=Num))
    except (TypeError, ValueError):
        v = repr(m["payload"])
    print("  %s  %s" % (m["key"], v))
'
}
decode_native() { # kcat -J lines on stdin: the gist of each native event
    /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    e = json.loads(m["payload"])
    b = e.get("body") or {}
    tot = (b.get("totals") or {}).get("total")
    print("  %s  seq=%s type=%s ts=%s operator=%s lines=%d total=%s %s" % (
        m["key"], e["seq"], e["type"], e["ts"], e.get("operator"), len(b.get("lines") or []),
        tot, b.get("currency", "")))
'
}
journal_count() { # events:TYPES | lines:TYPES | items:TYPES over the tills' journals
    local what=${1%%:*} types="'${1#*:}'" n total=0 sql
    types=${types//,/\',\'}
    if [ "$what" = lines ]; then
        sql="SELECT coalesce(sum(json_array_length(record, '\$.body.lines')), 0) FROM events
             WHERE type IN ($types)"
    elif [ "$what" = items ]; then
        sql="SELECT count(*) FROM (SELECT DISTINCT events.seq, json_extract(l.value, '\$.item')
             FROM events, json_each(events.record, '\$.body.lines') AS l
             WHERE events.type IN ($types))"
    else
        sql="SELECT count(*) FROM events WHERE type IN ($types)"
    fi
    for t in $tills; do
        n=$(sqlite3 -cmd '.timeout 2000' "file:$run/$t/journal.db?mode=ro" "$sql") || return 1
        total=$((total + n))
    done
    echo "$total"
}
decode_avro() { # kcat "%K %S\n%k%s" on stdin: key and value of each record, by fastavro
    "$avro_py" -c '
import io, json, struct, sys, urllib.request
import fastavro
url, data, pos, cache = sys.argv[1], sys.stdin.buffer.read(), 0, {}
def decode(b):  # the 5-byte Confluent header, then Avro in the writer schema with that id
    if b is None:
        return None
    if len(b) < 5 or b[0] != 0:
        return b.decode(errors="replace")
    i = struct.unpack(">I", b[1:5])[0]
    if i not in cache:
        with urllib.request.urlopen("%s/schemas/ids/%d" % (url, i), timeout=10) as r:
            cache[i] = fastavro.parse_schema(json.loads(json.loads(r.read())["schema"]))
    return fastavro.schemaless_reader(io.BytesIO(b[5:]), cache[i])
while pos < len(data):
    nl = data.index(b"\n", pos)
    kl, vl = map(int, data[pos:nl].split())
    pos = nl + 1
    k = data[pos:pos + kl] if kl >= 0 else None
    pos += max(kl, 0)
    v = data[pos:pos + vl] if vl >= 0 else None
    pos += max(vl, 0)
    print("  %s  %s" % (json.dumps(decode(k)), json.dumps(decode(v), ensure_ascii=False)))
' "$registry_url"
}
if [ -n "$profile" ]; then
    [ "$profile" = all ] && first=2 || first=5
    while read -r name p_topic _ p_decode p_expect <&3; do
        kc=(kcat -b "$brokers" "${kcat_auth[@]}" -C -t "$p_topic" -o beginning -e -q
            -X isolation.level=read_committed)
        echo
        if [ "$p_decode" = decode_avro ]; then
            echo "---- PROFILE=$name: the first $first records of $p_topic (kcat, read_committed;" \
                "fastavro, writer schema by id from the registry) ----"
            "${kc[@]}" -c "$first" -f '%K %S\n%k%s' 2>/dev/null | decode_avro ||
                echo "  (cannot read $p_topic)"
        else
            echo "---- PROFILE=$name: the first $first records of $p_topic" \
                "(kcat, read_committed) ----"
            "${kc[@]}" -c "$first" -J 2>/dev/null | "$p_decode" || echo "  (cannot read $p_topic)"
        fi
        n=$("${kc[@]}" -f '%o\n' 2>/dev/null | wc -l)
        want=$(journal_count "$p_expect" 2>/dev/null || echo "?")
        echo "  $n records on $p_topic; the tills' journals imply $want (${p_expect/:/ of })"
    done 3<<<"$profiles"
fi

# ---- fiscal: every journal's signatures and totals verified, one till exported and audited ----
echo
for t in $tills; do
    if v=$(ctl verify "$run/$t/journal.db" 2>&1); then
        echo "fiscal: $t: ${v#OK *: }" | head -1
    else
        echo "fiscal: $t: verify FAILED: $v"
        status=1
    fi
done
first=${tills%% *}
if a=$(ctl export "$run/$first/journal.db" --out "$run/$first.archive" 2>&1 &&
    ctl audit "$run/$first.archive" --journal "$run/$first/journal.db" 2>&1); then
    echo "fiscal: $(tail -1 <<<"$a") (archive $run/$first.archive, docs/audit.md)"
else
    echo "fiscal: export and audit of $first FAILED: $a"
    status=1
fi

# ---- what was secured ----
echo
if [ "$secure" = 1 ]; then
    certs=$("$bin/posedge-ctl" pki list --dir "$ca" 2>/dev/null |
        awk '$3 == "terminal" && $5 == "valid"' | wc -l)
    plain_re='event=mqtt\.plaintext' # and Kafka's, where it is SASL_SSL
    [ -f "$run/hq.json" ] && plain_re+='\|event=output\.kafka_plaintext'
    plain=$(grep -l "$plain_re" "$run"/*.log 2>/dev/null | xargs -r -n1 basename | paste -sd' ')
    echo "secured: mqtt: mutual TLS (till certificates enrolled: $enrolled of 3, from the" \
        "store CA by one-time tokens; the bridge s001/bridge, HQ s001/hq), kafka: $kafka_desc"
    echo "  the store CA's index holds $certs till certificates; plaintext warnings in the" \
        "logs: ${plain:-none}"
    if [ "$enrolled" -ne 3 ] || [ -n "$plain" ]; then status=1; fi
else
    echo "NOT secured (DEMO_PLAINTEXT=1, a lab): mqtt: plaintext with passwords, kafka:" \
        "$kafka_desc"
fi
echo "run directory: $run (journals, receipts, logs)"
# The dashboard was up until now: the bridge stops last.
kill -TERM "$bridge_pid"; wait "$bridge_pid" || true
echo "dashboard: http://127.0.0.1:$dash_port/ closed with the bridge"
exit $status
