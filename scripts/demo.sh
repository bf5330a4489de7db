#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: a simulated store end to end on loopback. A real mosquitto broker (generated
# config), a real Apache Kafka broker (scripts/kafka.sh, one KRaft node; DEMO_KAFKA=mock uses
# librdkafka's mock cluster instead, and KAFKA_BROKERS an existing Kafka), one bridge in
# transactional mode and three tills running the shopper on an accelerated clock. During the
# run Kafka is stopped for about 20 seconds, the MQTT broker restarts, the bridge is killed with
# kill -9 and restarted, and one till is killed with kill -9 and restarted. A line per second
# shows captured / spooled / delivered per till. The broker runs with the store's ACL
# (posedge-ctl acl) and a password per till and for the bridge; HQ's part is played by
# posedge-ctl with the bridge's credentials: posedge-ctl status shows every till's state
# document (a killed till shows offline), and posedge-ctl fleet ... z_report closes till t01's
# period. The run ends with posedge-ctl reconcile (a read_committed consumer), shows the remote
# Z report in Kafka with its sales, and exits 0 only when nothing was lost or duplicated and the
# Z report arrived with sales in it.
#
# The tills' simulated clocks start at 05:55 UTC of today (sim.start), five minutes before the
# simulated shop opens (06:00 to 22:00 at 3600 simulated seconds a second: a day every 24 s, the
# shop open for the first 16), so a run goes the same way whatever the time of day. HQ's Z
# report comes from 58 s, once t01 is mid-day: the shopper closes every day with its own Z
# report, so t01 is stopped, its operator closes the shift (a scenario run), and t01 waits as an
# idle till at night (a daemon whose clock starts at 23:00 of that day, at real speed) when HQ's
# z_report comes; then it trades on.
#
# PROFILE=NAME (make demo passes it through) runs the same demo with the bridge writing one more
# output profile (docs/protocol.md, "Output profiles"): its configuration, generated into the run
# directory, is boards/sim/bridge.json with "sinks": native (which reconcile checks) and NAME's
# sink. At the end it shows the first 5 records of NAME's topic, decoded, and the number of
# records on it next to the number the tills' journals imply. The Avro profiles (inventory-avro,
# orders-avro) need a Schema Registry: the demo starts one (scripts/registry.sh, on a free
# loopback port) before the bridge, gives the sink its registry_url, and decodes their records
# with fastavro (scripts/pydeps.sh) using the writer schema the 5-byte header names. PROFILE=all
# gives the bridge every profile's sink side by side and shows 2 records of each topic. The
# profiles are the table in profile_table below; an unknown NAME is refused (exit 2) before
# anything starts. The profile part never changes the exit status.
# usage: [PROFILE=native|purchases-json|retail-json|orders-json|inventory-avro|orders-avro|all]
#        scripts/demo.sh BUILD_DIR   (DEMO_SECONDS: trading time, default 70)
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

# ---- the in-store broker, with the store's ACL (docs/protocol.md, "Access control") ----
mqtt_port=$(free_port)
mkdir -p "$run/mosquitto"
[ "$(id -u)" -eq 0 ] && mqtt_user="user root" || mqtt_user=""
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
start_mqtt() {
    /usr/sbin/mosquitto -c "$run/mosquitto/mosquitto.conf" >>"$run/mosquitto/mosquitto.log" 2>&1 &
    mqtt_pid=$!
    wait_port "$mqtt_port" 20 || { echo "mosquitto did not start"; exit 1; }
}
start_mqtt

# ---- Kafka ----
outage() { :; }
back() { :; }
if [ -n "${KAFKA_BROKERS:-}" ]; then
    brokers=$KAFKA_BROKERS
    echo "Kafka: $brokers (KAFKA_BROKERS); the outage part of the demo is skipped"
elif [ "${DEMO_KAFKA:-real}" = real ]; then
    /usr/bin/python3 "$top/tests/system/kafka.py" serve "$run/kafka" </dev/null \
        >"$run/kafka.out" 2>&1 &
    kafka_pid=$!
    for ((i = 0; i < 1200; i++)); do
        brokers=$(sed -n 's/^bootstrap=//p' "$run/kafka.out" 2>/dev/null | head -1)
        [ -n "$brokers" ] && break
        kill -0 "$kafka_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$brokers" ] || { echo "Kafka did not start: see $run/kafka.out"; exit 1; }
    echo "Kafka: Apache Kafka (one KRaft node, scripts/kafka.sh) at $brokers"
    outage() { kill -USR1 "$kafka_pid"; }
    back() { kill -USR2 "$kafka_pid"; }
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
    echo "Kafka: posedge-ctl devkafka (librdkafka mock cluster) at $brokers"
    outage() { echo down >&7; }
    back() { echo up >&7; }
fi

# ---- the Schema Registry, for an Avro sink (scripts/registry.sh: Apicurio, built once) ----
if [ -n "$registry_url" ]; then
    "$top/scripts/registry.sh" fetch || { echo "scripts/registry.sh fetch failed"; exit 1; }
    avro_py=$("$top/scripts/pydeps.sh" | tail -1) || { echo "scripts/pydeps.sh failed"; exit 1; }
    "$top/scripts/registry.sh" run "$registry_port" "$run/registry" </dev/null \
        >"$run/registry.log" 2>&1 &
    registry_pid=$! # registry.sh run execs the JVM: this is the server itself
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
start_bridge() {
    "$bin/posedge-bridge" -c "$bridge_cfg" --data-dir "$run/bridge" \
        --mqtt "127.0.0.1:$mqtt_port" --kafka "$brokers" --set mqtt.username=bridge \
        --set mqtt.password_file="$run/bridge.pw" 2>>"$run/bridge.log" &
    bridge_pid=$!
}
start_bridge
declare -A till_pid
sim_start=$(date -u +%F)T05:55:00.000Z # a restarted till goes on from its journal's last event
start_till() { # terminal [--set KEY=VALUE]...: the later --set of a key wins
    "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$run/$1" --terminal "$1" \
        --mqtt "127.0.0.1:$mqtt_port" --set mqtt.username="$1" \
        --set mqtt.password_file="$run/$1.pw" --set sim.speed=3600 --set sim.tx_per_day=460 \
        --set sim.open_hour=6 --set sim.close_hour=22 --set sim.seed="${1#t}" \
        --set sim.start="$sim_start" "${@:2}" 2>>"$run/$1.log" &
    till_pid[$1]=$!
}
for t in $tills; do start_till "$t"; done
echo "store s001: mosquitto :$mqtt_port, bridge, tills $tills; run directory $run"

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
# is two hours or more before the shop closes: 2 s at 3600x), it is stopped and its operator closes the
# shift (a scenario run: login, shift close), and t01 runs again as an idle till at night: its clock starts at 23:00 of that day, at
# real speed, the shop closed until 06:00. Once its state document says online with the shift
# closed, posedge-ctl fleet sends z_report and prints the till's answer: the period's sales are
# in it. The seq of the committed Z report is then looked up in t01's journal, and t01 trades on
# (its clock goes on from its journal's last event).
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
    printf '{"do":"login","operator":"op01"}\n{"do":"shift_close","declared":0}\n' \
        >"$run/t01-close.jsonl"
    "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$run/t01" --terminal t01 \
        --scenario "$run/t01-close.jsonl" 2>>"$run/t01.log" ||
        { echo "till t01 could not close its shift"; start_till t01; return; }
    day=$(sqlite3 -cmd '.timeout 2000' "file:$run/t01/journal.db?mode=ro" \
        "SELECT substr(json_extract(record, '$.ts'), 1, 10) FROM events ORDER BY seq DESC
         LIMIT 1" 2>/dev/null || true)
    start_till t01 --set sim.speed=1 --set sim.start="${day}T23:00:00.000Z"
    for ((i = 0; i < 200; i++)); do # up to 20 s: the till starts and publishes its state
        st=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -u bridge -P "$(cat "$run/bridge.pw")" \
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
    if [ "$sec" -eq 56 ]; then
        echo "---- posedge-ctl status --store s001 (as HQ, with the bridge's credentials) ----"
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
    "$bin/posedge-agent" -c "$top/boards/sim/agent.json" --data-dir "$run/$t" --terminal "$t" \
        --mqtt "127.0.0.1:$mqtt_port" --set mqtt.username="$t" \
        --set mqtt.password_file="$run/$t.pw" --scenario /dev/null --wait-delivered 60 \
        2>>"$run/$t.log" \
        || { echo "till $t: not everything was delivered"; exit 1; }
done
status_line "$secs" "<- tills closed, all delivered"
kill -TERM "$bridge_pid"; wait "$bridge_pid" || true

echo
echo "---- posedge-ctl reconcile --brokers $brokers $run/t0*/journal.db ----"
status=0
"$bin/posedge-ctl" reconcile --brokers "$brokers" "$run"/t0*/journal.db || status=$?
echo
echo "---- the remote Z report in Kafka (pos.reports, read_committed) ----"
if [ -z "$z_seq" ]; then
    echo "no Z report was made remotely"; status=1
else
    z_rec=$(kcat -b "$brokers" -C -t pos.reports -X isolation.level=read_committed -e -q \
        -f '%s\n' 2>/dev/null | /usr/bin/python3 -c '
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
             FROM events, json_each(events.record, '\$.body.lines') AS l WHERE type IN ($types))"
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
        kc=(kcat -b "$brokers" -C -t "$p_topic" -o beginning -e -q
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
echo "run directory: $run (journals, receipts, logs)"
exit $status
