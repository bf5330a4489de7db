#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the store: tills -> real mosquitto -> posedge-bridge -> Kafka, checked with
posedge-ctl reconcile after every fault: Kafka down and up, request errors, the MQTT broker
restarted, the bridge killed with kill -9 under load, a till offline for a long backlog, and
each kind of bad input. The end-to-end tests run against a real Apache Kafka broker
(tests/system/kafka.py); the fault injections the mock cluster does better (request errors,
every broker down at once) use librdkafka's mock cluster in posedge-ctl devkafka.
"""
import json
import os
import random
import re
import subprocess
import time
from datetime import datetime, timezone

from kafka import RealKafka
from lib import (AGENT, BRIDGE, BRIDGE_CONFIG, CONFIG, CTL, SIM_START, SRC, Bridge, DevKafka,
                 Mosquitto, agent, check, main, reconcile, run, test, tmpdir, wait_until)

START = ["--set", "sim.start=" + SIM_START]  # the tills' clock: never the time of the run


class Store:
    """One simulated store: broker, Kafka (the mock cluster, or with real=True a real broker of
    its own) and bridge in a fresh directory."""

    def __init__(self, *bridge_args, start_bridge=True, real=False):
        self.dir = tmpdir("pe-store")
        self.mqtt = Mosquitto(self.dir).start()
        self.kafka = RealKafka(self.dir).start() if real else DevKafka(self.dir)
        self.bridge = Bridge(self.dir, self.mqtt.addr, self.kafka.bootstrap, *bridge_args)
        if start_bridge:
            self.bridge.start()

    def till(self, terminal):
        return os.path.join(self.dir, terminal)

    def agent_args(self, terminal):
        return ["-c", CONFIG, "--data-dir", self.till(terminal), "--terminal", terminal,
                "--mqtt", self.mqtt.addr] + START

    def shop(self, terminal, n, seed, wait=120, check_rc=0):
        return agent(self.till(terminal), "--terminal", terminal, "--mqtt", self.mqtt.addr, *START,
                     "--shopper", str(n), "--seed", str(seed), "--wait-delivered", str(wait),
                     check_rc=check_rc)

    def spawn(self, terminal, n, seed, wait=180):
        return subprocess.Popen([AGENT] + self.agent_args(terminal) +
                                ["--shopper", str(n), "--seed", str(seed), "--wait-delivered",
                                 str(wait)],
                                stdout=subprocess.DEVNULL, stderr=open(self.till(terminal) + ".log", "a"))

    def journals(self, *terminals):
        return [os.path.join(self.till(t), "journal.db") for t in terminals]

    def reconcile(self, *terminals, check_rc=0):
        return reconcile(self.kafka.bootstrap, self.journals(*terminals), check_rc=check_rc)

    def close(self):
        stop_kafka = self.kafka.close if isinstance(self.kafka, RealKafka) else self.kafka.stop
        for p in (self.bridge.stop, stop_kafka, self.mqtt.stop):
            try:
                p()
            except Exception:
                pass


def counts(last):
    return dict(kv.split("=") for kv in last.split())


@test
def two_tills_end_to_end():
    s = Store(real=True)
    try:
        a = s.spawn("t01", 300, 1)
        b = s.spawn("t02", 300, 2)
        check(a.wait(timeout=300) == 0, "till t01 did not see everything delivered")
        check(b.wait(timeout=300) == 0, "till t02 did not see everything delivered")
        p, last = s.reconcile("t01", "t02")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
        # The ack is retained and carries both watermarks.
        sub = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(s.mqtt.port), "-t",
                   "posedge/v1/s001/t01/ack", "-C", "1", "-W", "10"], check_rc=0)
        ack = json.loads(sub.stdout)
        n = len(run([CTL, "journal", s.journals("t01")[0]]).stdout.splitlines())
        check(ack == {"spooled": n, "delivered": n}, "ack %s, journal has %d" % (ack, n))
    finally:
        s.close()


@test
def records_readable_by_a_plain_kafka_consumer():
    """kcat (librdkafka's CLI, nothing of posedge) sees key, event-time timestamp, value."""
    s = Store(real=True)
    try:
        s.shop("t01", 40, 12)
        journal = {json.loads(l)["seq"]: l for l in
                   run([CTL, "journal", s.journals("t01")[0]]).stdout.splitlines()}
        seen = {}
        listing = run(["kcat", "-L", "-b", s.kafka.bootstrap], timeout=60, check_rc=0).stdout
        for topic in ("pos.sales", "pos.inventory", "pos.reports"):
            if 'topic "%s"' % topic not in listing:
                continue  # a real broker has only the topics something was produced to
            p = run(["kcat", "-C", "-b", s.kafka.bootstrap, "-t", topic, "-o", "beginning", "-e",
                     "-q", "-f", "%k\t%T\t%h\t%s\n"], timeout=60, check_rc=0)
            for line in p.stdout.splitlines():
                key, ts, headers, value = line.split("\t", 3)
                ev = json.loads(value)
                check(key == "s001/t01", "key %r" % key)
                check(value == journal[ev["seq"]], "value differs from the journal record")
                # The record timestamp is the event's time, not the send time.
                from datetime import datetime, timezone
                evt = datetime.strptime(ev["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
                check(int(ts) == int(evt.timestamp() * 1000 + 0.5), "timestamp %s vs ts %s" % (ts, ev["ts"]))
                check("seq=%d" % ev["seq"] in headers and "type=" + ev["type"] in headers
                      and "id=" + ev["id"] in headers, "headers %r" % headers)
                seen[ev["seq"]] = topic
        check(sorted(seen) == sorted(journal), "every journal record is in Kafka once")
        check(seen[1] == "pos.reports", "seq 1 (signer_installed) goes to pos.reports")
    finally:
        s.close()


@test
def kafka_down_and_up_loses_nothing():
    s = Store()
    try:
        s.kafka.command("down")
        a = s.spawn("t01", 400, 3)
        wait_until(lambda: "bridge.stats" in s.bridge.logtext() or a.poll() is not None, 30,
                   "bridge running while Kafka is down")
        time.sleep(3)  # Kafka stays away for a while: the outage itself, not a synchronisation
        s.kafka.command("up")
        check(a.wait(timeout=300) == 0, "not all delivered after Kafka came back")
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last + "\n" + p.stdout[-2000:])
    finally:
        s.close()


@test
def request_errors_are_retried():
    s = Store()
    try:
        s.kafka.command("errors 30 NOT_LEADER_FOR_PARTITION")
        s.shop("t01", 200, 4)
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


@test
def mqtt_broker_restart_and_offline_till_backlog():
    s = Store(real=True)
    try:
        s.mqtt.stop()
        # The till trades with no broker at all: selling never waits for the network.
        agent(s.till("t01"), "--terminal", "t01", "--mqtt", s.mqtt.addr, "--shopper", "1500",
              "--seed", "5", *START)
        s.mqtt.start()
        a = s.spawn("t01", 200, 6)
        time.sleep(1.5)  # the moment of the restart, mid-traffic
        s.mqtt.stop()
        s.mqtt.start()
        check(a.wait(timeout=300) == 0, "backlog not delivered after the broker restart")
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


def kill9_loop(s, kills, customers=3000):
    """Two tills under load while the bridge is killed with kill -9 at random moments."""
    rnd = random.Random(7)
    tills = [s.spawn("t%02d" % i, customers, 10 + i, wait=600) for i in (1, 2)]
    for _ in range(kills):
        time.sleep(rnd.uniform(0.05, 0.4))  # a random moment to crash at: the fault itself
        s.bridge.kill()
        s.bridge.start()
    for t in tills:
        check(t.wait(timeout=600) == 0, "a till never saw everything delivered")
    p, last = s.reconcile("t01", "t02", check_rc=None)
    return p, counts(last), last


@test
def bridge_kill9_loop_exactly_once():
    """Transactional mode into a real broker: no (store, terminal, seq) twice for a
    read_committed consumer, however often the bridge dies."""
    s = Store(real=True)
    try:
        p, c, last = kill9_loop(s, 20)
        check(last == "missing=0 duplicates=0 mismatched=0", last + "\n" + p.stdout[-3000:])
    finally:
        s.close()


@test
def idempotent_mode_is_at_least_once():
    """kafka.mode=idempotent: nothing lost across kill -9, duplicates allowed (and counted)."""
    # Volume stays under what the mock cluster keeps per partition (5 MB, fixed in librdkafka):
    # 2,000 customers a till, since signed records are larger and every duplicate counts too
    # (at 3,000 the oldest records were evicted, and read as missing).
    s = Store("--set", "kafka.mode=idempotent")
    try:
        p, c, last = kill9_loop(s, 20, customers=2000)
        check(c["missing"] == "0" and c["mismatched"] == "0", last + "\n" + p.stdout[-3000:])
        check("mode=idempotent" in s.bridge.logtext(), "the bridge ran in idempotent mode")
        print("# idempotent mode, bridge kill -9 x20: duplicates in Kafka %s" % c["duplicates"])
    finally:
        s.close()


def pub(s, topic, payload, raw=False, retain=False):
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(s.mqtt.port), "-q", "1", "-t", topic]
    if raw:
        args += ["-f", payload]
    elif payload == "":
        args += ["-n"]
    else:
        args += ["-m", payload]
    run(args + (["-r"] if retain else []), check_rc=0)


@test
def bad_input_goes_to_dead_letters():
    s = Store()
    try:
        s.shop("t01", 5, 8)
        recs = run([CTL, "journal", s.journals("t01")[0]]).stdout.splitlines()
        good = json.loads(recs[1])
        big = os.path.join(s.dir, "big.bin")
        with open(big, "w") as f:
            f.write("x" * (1024 * 1024 + 1))  # one byte over the default intake.max_payload
        wrong_type = dict(good, seq="2")
        cases = [
            ("posedge/v1/s001/t01/events", "{not json", False, "invalid JSON"),
            ("posedge/v1/s001/t01/events", json.dumps(wrong_type), False, "seq"),
            ("posedge/v1/s001/t01/events", big, True, "over intake.max_payload"),
            ("posedge/v1/s999/t01/events", recs[0], False, "outside this bridge's store"),
            ("posedge/v1/s001/t02/events", recs[0], False, "on the topic of"),
            ("posedge/v1/s001/t01/events",
             next(r for r in recs if '"qty":' in r).replace('"qty":', '"qty": '), False,
             "not canonical"),
        ]
        # A seq regression: a valid record of t01 from another journal (a till reinstalled
        # without its journal) claims a seq the spool already holds with other content.
        other = os.path.join(s.dir, "other-t01")
        agent(other, "--terminal", "t01", "--shopper", "2", "--seed", "99", *START)
        foreign = run([CTL, "journal", os.path.join(other, "journal.db")]).stdout.splitlines()[0]
        cases.append(("posedge/v1/s001/t01/events", foreign, False, "seq regression"))
        edited = json.loads(recs[2])
        edited["operator"] = "mallory"
        body = json.dumps(edited, sort_keys=True, separators=(",", ":"))
        cases.append(("posedge/v1/s001/t01/events", body, False, "hash"))
        for topic, payload, raw, _ in cases:
            pub(s, topic, payload, raw)
        wait_until(lambda: s.bridge.logtext().count("bridge.dead_letter ") >= len(cases), 30,
                   "%d dead letters" % len(cases))
        log = s.bridge.logtext()
        for _, _, _, reason in cases:
            check(reason in log, "dead-letter reason %r not logged" % reason)
        # The bridge is still serving and nothing of the till was lost or duplicated.
        s.shop("t01", 20, 9)
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


@test
def full_spool_stops_acks_and_resumes():
    """A full spool refuses new records (the tills keep them) and says so; it never evicts."""
    s = Store("--set", "spool.max_mb=1")
    try:
        s.kafka.command("down")
        a = s.spawn("t01", 1500, 13, wait=300)
        wait_until(lambda: "bridge.spool_full" in s.bridge.logtext(), 120, "the spool to fill")
        def bridge_state():
            sub = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(s.mqtt.port), "-t",
                       "posedge/v1/s001/bridge/state", "-C", "1", "-W", "10"], check_rc=0)
            return json.loads(sub.stdout)["state"] == "spool_full"
        wait_until(bridge_state, 30, "the retained bridge state to say spool_full")
        s.kafka.command("up")
        check(a.wait(timeout=300) == 0, "not everything delivered after the spool drained")
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


@test
def release_bridge_is_valgrind_clean():
    """The release bridge under valgrind through intake, drain and a SIGTERM shutdown."""
    from lib import BIN_RELEASE
    s = Store(start_bridge=False)
    try:
        vg = os.path.join(s.dir, "valgrind.txt")
        s.bridge.args = ["valgrind", "--error-exitcode=9", "--leak-check=full",
                         "--errors-for-leak-kinds=definite", "--log-file=" + vg,
                         os.path.join(BIN_RELEASE, "posedge-bridge")] + s.bridge.args[1:] + \
            ["--set", "http.listen=0"]  # any free port: its listener and pages under valgrind
        s.bridge.start()
        s.shop("t01", 60, 14, wait=180)
        port = int(wait_until(lambda: re.search(r"event=http\.listening .*port=(\d+)",
                                                s.bridge.logtext()), 60, "the listener").group(1))
        import urllib.request
        for path in ("/metrics", "/health", "/", "/dashboard.json"):
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
                check(r.status == 200 and r.read(), "GET %s" % path)
        s.bridge.stop()  # checks exit status 0: valgrind exits 9 on any error or definite leak
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


# ---- the bridge's state document, telemetry, self-test and MQTT credentials ----

STATE_TOPIC = "posedge/v1/s001/bridge/state"
STATE_KEYS = {"state", "ts", "version", "board", "store", "terminal", "bridge", "started",
              "uptime_s", "kafka", "pending", "spooled_bytes", "oldest_pending_ts",
              "oldest_pending_age_s", "drain_eps", "quota", "terminals", "dead", "events_format",
              "signing", "alarms"}


def ms_of(ts):
    """Milliseconds since the epoch of a protocol timestamp."""
    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(round(t.timestamp() * 1000))


def package_version():
    with open(os.path.join(SRC, "pkg", "changelog")) as f:
        return re.match(r"[^(]*\(([^)]*)\)", f.readline()).group(1)


class Watch:
    """Every message on an MQTT topic, as mosquitto_sub (in the background) prints them."""

    def __init__(self, port, topic, workdir, name="watch", extra=()):
        self.path = os.path.join(workdir, name + ".txt")
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q",
                                      "1", "-t", topic, "-F", "%r %p"] + list(extra),
                                     stdout=open(self.path, "w"), stderr=subprocess.STDOUT)

    def docs(self):
        """(retained, document) of each complete line so far."""
        out = []
        with open(self.path) as f:
            for line in f.read().splitlines(keepends=True):
                if line.endswith("\n") and line[:2] in ("0 ", "1 "):
                    out.append((line[0] == "1", json.loads(line[2:])))
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def retained_state(port, topic=STATE_TOPIC):
    p = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1",
             "-W", "5", "--retained-only"])
    return json.loads(p.stdout) if p.stdout.strip() else None


def kafka_records(bootstrap, topic):
    """(key, timestamp, headers, value) of every record of a topic, [] while it does not exist."""
    p = run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", "%k\t%T\t%h\t%s\n"], timeout=60)
    if p.returncode != 0:
        return []
    return [tuple(line.split("\t", 3)) for line in p.stdout.splitlines() if line.count("\t") >= 3]


@test
def bridge_state_document():
    """The retained document on .../bridge/state: its fields, on change at most once a second,
    every fleet.state_interval_s when idle, Kafka's link going and coming, offline at a stop."""
    s = Store("--set", "fleet.state_interval_s=2", start_bridge=False)
    w = Watch(s.mqtt.port, STATE_TOPIC, s.dir)
    try:
        s.bridge.start()
        st = wait_until(lambda: [d for _, d in w.docs() if d["kafka"]["connected"]], 60,
                        "a state document saying Kafka is connected")[-1]
        check(set(st) == STATE_KEYS, "keys %s" % sorted(set(st) ^ STATE_KEYS))
        check(st["state"] == "online" and st["store"] == "s001" and st["terminal"] == "bridge"
              and st["bridge"] == "s001" and st["board"] == "sim", "%s" % st)
        check(st["version"] == package_version(), "version %s" % st["version"])
        check(ms_of(st["started"]) <= ms_of(st["ts"]) and isinstance(st["uptime_s"], int)
              and st["uptime_s"] >= 0, "started %s ts %s" % (st["started"], st["ts"]))
        k = st["kafka"]
        check(set(k) == {"mode", "connected", "brokers_up", "brokers", "last_delivered_ts", "auth",
                         "refused"}
              and k["mode"] == "transactional" and k["brokers"] == 3 and k["brokers_up"] >= 1
              and k["auth"] == "ok" and k["refused"] is None, "kafka %s" % k)
        check(st["quota"] == {"events": {"used_bytes": 0, "limit_bytes": 0},
                              "telemetry": {"used_bytes": 0, "limit_bytes": 0}},
              "quota %s" % st["quota"])
        # Nothing under the old name.
        check(retained_state(s.mqtt.port, "posedge/v1/s001/_bridge/state") is None,
              "a retained document on the old topic _bridge/state")

        a = s.spawn("t01", 400, 21)
        check(a.wait(timeout=300) == 0, "not everything delivered")
        n = len(run([CTL, "journal", s.journals("t01")[0]]).stdout.splitlines())
        last = wait_until(lambda: [d for _, d in w.docs() if d["terminals"] == 1
                                   and d["pending"] == 0 and d["kafka"]["last_delivered_ts"]],
                          30, "the document after the till was delivered")[-1]
        check(last["spooled_bytes"] == 0 and last["oldest_pending_ts"] is None
              and last["oldest_pending_age_s"] is None, "%s" % last)
        check(last["events_format"] == 2 and last["signing"] == {
            "keyed": 1, "verified": n, "unsigned": 0, "unverified": 0, "rejected": 0,
            "rejected_tills": []},
            "every record of the till verified: %s" % last["signing"])
        docs = [d for _, d in w.docs()]
        busy = [d for d in docs if d["pending"] > 0]
        check(busy and all(d["spooled_bytes"] > 0 and d["oldest_pending_ts"]
                           and d["quota"]["events"]["used_bytes"] == d["spooled_bytes"]
                           for d in busy), "documents while records were pending: %s" % busy[:3])
        rates = [d["drain_eps"] for d in docs]
        check(max(rates) > 0 and max(rates) <= n * 2, "drain rates %s (%d events)" % (rates, n))
        # On change at most once a second (the first one, on connect, aside).
        gaps = [ms_of(b["ts"]) - ms_of(a["ts"]) for a, b in zip(docs[1:], docs[2:])]
        check(min(gaps) >= 950, "documents %d ms apart" % min(gaps))

        # Idle: one every fleet.state_interval_s (2 s), and nothing in between. The gap from the
        # last document of the busy phase (published on a change) to the first periodic one is
        # shorter: the period runs on its own clock.
        seen = len(w.docs())
        wait_until(lambda: len(w.docs()) >= seen + 3, 30, "three periodic documents")
        idle = [d for _, d in w.docs()][seen:]
        gaps = [ms_of(b["ts"]) - ms_of(a["ts"]) for a, b in zip(idle, idle[1:])]
        check(all(1900 <= g <= 3000 for g in gaps), "idle documents %s ms apart" % gaps)

        # Kafka away and back: the document says so (librdkafka's statistics, every 2 s).
        s.kafka.command("down")
        wait_until(lambda: w.docs()[-1][1]["kafka"]["connected"] is False, 60,
                   "connected: false while every broker is down")
        check(w.docs()[-1][1]["kafka"]["brokers_up"] == 0, "%s" % w.docs()[-1][1])
        s.kafka.command("up")
        wait_until(lambda: w.docs()[-1][1]["kafka"]["connected"] is True, 60,
                   "connected: true once the brokers are back")

        s.bridge.stop()
        st = retained_state(s.mqtt.port)
        check(st and st["state"] == "offline" and set(st) == STATE_KEYS,
              "retained after a clean stop: %s" % st)
    finally:
        w.close()
        s.close()


@test
def bridge_will_is_bare_offline():
    s = Store()
    try:
        wait_until(lambda: (retained_state(s.mqtt.port) or {}).get("state") == "online", 30,
                   "the bridge online")
        s.bridge.kill()
        wait_until(lambda: retained_state(s.mqtt.port) == {"state": "offline"}, 60,
                   "the bare offline will after kill -9 (keepalive)")
    finally:
        s.close()


@test
def state_documents_forwarded_to_telemetry():
    """Tills' state documents (and the bridge's own) reach pos.telemetry: key, bytes, event-time
    timestamp, header; cleared topics, other stores and non-JSON are not; a retained document
    handed out again at a reconnect is not produced twice; the events stay exactly once."""
    s = Store(start_bridge=False)
    try:
        t07 = json.dumps({"state": "online", "ts": "2026-01-02T03:04:05.678Z", "store": "s001",
                          "terminal": "t07", "seq": 5})
        pub(s, "posedge/v1/s001/t07/state", t07, retain=True)
        pub(s, "posedge/v1/s001/t08/state", '{"state":"offline"}', retain=True)  # a will
        pub(s, "posedge/v1/s001/t09/state", "x", retain=True)
        pub(s, "posedge/v1/s001/t09/state", "", retain=True)  # cleared
        pub(s, "posedge/v1/s001/t10/state", "not json", retain=True)
        pub(s, "posedge/v1/s999/t01/state", t07, retain=True)  # another store's
        s.bridge.start()
        topic = "pos.telemetry"

        def keyed(key):
            return [r for r in kafka_records(s.kafka.bootstrap, topic) if r[0] == key]

        wait_until(lambda: keyed("s001/t07") and keyed("s001/t08") and keyed("s001/bridge"), 60,
                   "the retained documents in %s" % topic)
        key, ts, headers, value = keyed("s001/t07")[0]
        check(value == t07, "value %r, sent %r" % (value, t07))
        check(int(ts) == ms_of("2026-01-02T03:04:05.678Z"), "timestamp %s: not the document's ts" % ts)
        check(headers == "type=state", "headers %r" % headers)
        check(keyed("s001/t08")[0][3] == '{"state":"offline"}', "the will's bytes")
        b = json.loads(keyed("s001/bridge")[0][3])
        check(set(b) == STATE_KEYS and int(keyed("s001/bridge")[0][1]) == ms_of(b["ts"]),
              "the bridge's own: %s" % b)

        # A newer document of t07, retained as the agents publish them.
        t07b = t07.replace("03:04:05.678", "03:04:15.000").replace('"seq": 5', '"seq": 9')
        pub(s, "posedge/v1/s001/t07/state", t07b, retain=True)
        wait_until(lambda: len(keyed("s001/t07")) == 2, 30, "the live document")
        # The broker restarts: at the new subscription it hands the retained documents out
        # again, before anything published later; t07's marker comes after them.
        s.mqtt.stop()
        s.mqtt.start()
        wait_until(lambda: s.bridge.logtext().count("bridge.mqtt_connected") >= 2, 60,
                   "the bridge reconnected")
        pub(s, "posedge/v1/s001/t11/state", '{"state":"online","ts":"2026-01-02T03:05:00.000Z"}',
            retain=True)
        wait_until(lambda: keyed("s001/t11"), 30, "the marker document")
        check(len(keyed("s001/t07")) == 2 and len(keyed("s001/t08")) == 1,
              "retained documents produced again after the reconnect")
        recs = kafka_records(s.kafka.bootstrap, topic)
        check(not [r for r in recs if r[0] in ("s001/t09", "s001/t10", "s999/t01")],
              "cleared, non-JSON or foreign documents in %s" % topic)
        check("bridge.state_refused" in s.bridge.logtext(), "the non-JSON document is logged")

        # The events' path is untouched: exactly once, and reconcile reads only its topics.
        s.shop("t01", 60, 22)
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


@test
def telemetry_refused_by_kafka_never_blocks_events():
    """pos.telemetry refuses every record (max.message.bytes below any document): telemetry is
    dropped and counted, the transactional path delivers everything exactly once."""
    s = Store(real=True, start_bridge=False)
    try:
        s.kafka.create_topic("pos.telemetry", config={"max.message.bytes": "100"})
        s.bridge.start()
        a = s.spawn("t01", 300, 23)
        check(a.wait(timeout=300) == 0, "not everything delivered")
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
        wait_until(lambda: "telemetry.dropped" in s.bridge.logtext(), 60,
                   "the refused telemetry counted")
        check(kafka_records(s.kafka.bootstrap, "pos.telemetry") == [], "telemetry in Kafka")
        check("output.aborted" not in s.bridge.logtext(), "a transaction was aborted")
    finally:
        s.close()


def self_test(*args, check_rc=None):
    return run([BRIDGE, "-c", BRIDGE_CONFIG, "--self-test", "--mqtt", "127.0.0.1:1",
                "--kafka", "127.0.0.1:1"] + list(args), timeout=60, check_rc=check_rc)


def tree(d):
    """Every file under d with its size and modification time."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            st = os.stat(os.path.join(root, f))
            out[os.path.join(root, f)] = (st.st_size, st.st_mtime_ns)
    return out


@test
def self_test_checks_without_touching_anything():
    d = tmpdir()
    data = os.path.join(d, "bridge")
    # A fresh install: no data directory, no spool; Kafka and MQTT unreachable (ports 1).
    t0 = time.monotonic()
    p = self_test("--data-dir", data, check_rc=0)
    check(time.monotonic() - t0 < 30, "the self-test waited for the network")
    lines = p.stdout.splitlines()
    check([l.split()[:2] for l in lines] == [["ok", "config"], ["ok", "kafka.properties"],
                                             ["ok", "mqtt.password_file"], ["ok", "data_dir"],
                                             ["ok", "spool"]], p.stdout)
    check("no spool yet" in lines[4] and not os.path.exists(data), p.stdout)

    # A spool left by a bridge killed with kill -9 (WAL and -shm in place), checked as it is.
    s = Store()
    try:
        s.shop("t01", 20, 24)
        s.bridge.kill()
        before = tree(s.bridge.dir)
        check(any(f.endswith("spool.db-wal") for f in before), "no WAL left: %s" % before)
        p = self_test("--data-dir", s.bridge.dir, check_rc=0)
        check("ok spool " in p.stdout and "1 terminals" in p.stdout, p.stdout)
        check(tree(s.bridge.dir) == before, "the self-test changed the spool's files")
        # A bridge that is running meanwhile does not disturb it either.
        s.bridge.start()
        wait_until(lambda: "bridge.mqtt_connected" in s.bridge.logtext(), 30, "the bridge up")
        self_test("--data-dir", s.bridge.dir, check_rc=0)
    finally:
        s.close()

    # A corrupt spool fails, naming the file; so does an unusable configuration.
    spool = os.path.join(d, "spool.db")
    with open(spool, "wb") as f:
        f.write(b"SQLite format 3\0" + os.urandom(8192))
    p = self_test("--data-dir", d, check_rc=1)
    check(("FAIL spool " + spool) in p.stdout, p.stdout)
    p = self_test("--data-dir", d, "--set", "kafka.mode=sometimes", check_rc=1)
    check(p.stdout.startswith("FAIL config ") and "kafka.mode" in p.stdout, p.stdout)
    os.unlink(spool)
    p = self_test("--data-dir", d, "--set", "mqtt.password_file=" + os.path.join(d, "nope"),
                  check_rc=1)
    check(("FAIL mqtt.password_file %s: cannot read" % os.path.join(d, "nope")) in p.stdout,
          p.stdout)
    help_text = run([BRIDGE, "--help"], check_rc=0).stdout
    check("--self-test" in help_text, "--help does not document --self-test")


def auth_broker(workdir, users):
    """mosquitto with allow_anonymous false and a password file of users {name: password}."""
    m = Mosquitto(workdir)
    pw = os.path.join(m.dir, "passwd")
    open(pw, "w").close()
    for user, password in users.items():
        run(["mosquitto_passwd", "-b", pw, user, password], check_rc=0)
    with open(m.conf) as f:
        conf = f.read().replace("allow_anonymous true", "allow_anonymous false")
    with open(m.conf, "w") as f:
        f.write(conf + "password_file %s\n" % pw)
    return m.start()


@test
def mqtt_credentials_from_password_file():
    d = tmpdir()
    secret = "s3cret-%d" % random.randrange(1 << 30)
    m = auth_broker(d, {"bridge": secret})
    k = DevKafka(d)
    pwfile = os.path.join(d, "bridge.pw")
    with open(pwfile, "w") as f:
        f.write(secret + "\nsecond line ignored\n")
    os.chmod(pwfile, 0o600)  # a password file others may read is refused (issue 13)
    ok = bad = None
    try:
        # Unreadable: refused at start, naming the key and the file.
        missing = os.path.join(d, "missing.pw")
        p = run([BRIDGE, "-c", BRIDGE_CONFIG, "--data-dir", os.path.join(d, "b0"), "--mqtt",
                 m.addr, "--kafka", k.bootstrap, "--set", "mqtt.password_file=" + missing],
                timeout=60)
        check(p.returncode == 2 and ("mqtt.password_file %s: cannot read" % missing) in p.stderr,
              "status %d: %s" % (p.returncode, p.stderr[-1000:]))
        # The right password: connected, the state document is there.
        ok = Bridge(os.path.join(d, "ok"), m.addr, k.bootstrap, "--set", "mqtt.username=bridge",
                    "--set", "mqtt.password_file=" + pwfile).start()
        wait_until(lambda: "bridge.mqtt_connected" in ok.logtext(), 30, "the bridge connected")
        sub = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(m.port), "-u", "bridge", "-P",
                   secret, "-t", STATE_TOPIC, "-C", "1", "-W", "10"], check_rc=0)
        check(json.loads(sub.stdout)["state"] == "online", sub.stdout)
        ok.stop()
        # A wrong one: the broker refuses it.
        wrong = os.path.join(d, "wrong.pw")
        with open(wrong, "w") as f:
            f.write("not-" + secret + "\n")
        os.chmod(wrong, 0o600)
        bad = Bridge(os.path.join(d, "bad"), m.addr, k.bootstrap, "--set",
                     "mqtt.username=bridge", "--set", "mqtt.password_file=" + wrong).start()
        wait_until(lambda: "mqtt.connect_failed" in bad.logtext(), 30, "the refusal logged")
        check("bridge.mqtt_connected" not in bad.logtext(), "connected with a wrong password")
        bad.stop()
        for b in (ok, bad):
            check(secret not in b.logtext(), "the password is in the log")
        cfg = run([BRIDGE, "-c", BRIDGE_CONFIG, "--set", "mqtt.password_file=" + pwfile,
                   "--print-config"], check_rc=0).stdout
        check(secret not in cfg and pwfile in cfg, cfg)
    finally:
        for b in (ok, bad):
            if b:
                b.kill()
        k.stop()
        m.stop()


@test
def bridge_config_errors_are_named():
    d = tmpdir()
    bad = os.path.join(d, "bridge.json")
    for text, needle in [('{"stor":"s1"}', 'unknown key "stor"'),
                         ('{"kafka":{"properties":{"linger.ms":[1]}}}', "kafka.properties.linger.ms"),
                         ('{"topics":{"sale":"pos sales"}}', "topics.sale"),
                         ('{"drain":{"events_per_s":-1}}', "drain.events_per_s")]:
        with open(bad, "w") as f:
            f.write(text)
        p = run([os.path.join(os.path.dirname(CTL), "posedge-bridge"), "-c", bad], check_rc=2)
        check(needle in p.stderr, "%s: expected %r in %r" % (text, needle, p.stderr))


if __name__ == "__main__":
    main()
