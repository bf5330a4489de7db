#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-ctl status (ctl/status.c) and the agent's periodic state.

Each test starts the real mosquitto (lib.Mosquitto) on a free loopback port from a config
generated in its temporary directory. Acks and the bridge's state, which the bridge would
publish, are published by hand with mosquitto_pub -r. Covered: the table for a till that ran and
exited (offline, seq from its last state, spooled and delivered from the newer retained ack,
backlog), a till known only by its will and an ack, the bridge line (posedge/v1/S/bridge/state),
an empty store; the fleet state documents' columns (VERSION, UPTIME, DEVICES, SHIFT), a bridge
document with new fields, an old bridge's _bridge/state, and --json; an unreachable broker
(exit 1 within the timeout) and usage errors (exit 2); the agent's retained state republished
(on change, at most once a second, at least every 10 s) with oldest_pending_ts, and its offline
state on a clean stop. (posedge-ctl status
through the store's ACL, as the bridge user, is in test_fleet_ctl.py.) Waits poll a condition
against a deadline; nothing sleeps to synchronise.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

from lib import (AGENT, CONFIG, CTL, SIM_START, Fixture, Mosquitto, check, free_port,
                 journal_events, main, now, run, test, tmpdir, wait_until)

TOPIC = "posedge/v1/s001/"
AGE_RE = r"(<=)?\d+(s|m\d\ds|h\d\dm|d\d\dh)"


def publish(broker, topic, payload):
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-r", "-t", topic,
         "-m", payload], timeout=30, check_rc=0)


def status(broker_addr, *extra, check_rc=0, store="s001"):
    return run([CTL, "status", "--mqtt", broker_addr, "--store", store] + list(extra), timeout=60,
               check_rc=check_rc)


COLUMNS = ["TERMINAL", "STATE", "SEQ", "SPOOLED", "DELIVERED", "BACKLOG", "OLDEST_PENDING",
           "STATE_AGE", "VERSION", "UPTIME", "DEVICES", "SHIFT"]


CATALOGS = {}  # terminal -> its CATALOG column in the last table() (when it had one)


def table(p):
    """{terminal: [columns]} and the bridge line (or None) of a status output. The CATALOG
    column, shown when a till reports its catalog (real agents do), goes to CATALOGS."""
    lines = p.stdout.splitlines()
    head = lines[0].split() if lines else []
    catalog = head == COLUMNS + ["CATALOG"]
    check(head == COLUMNS or catalog, "header: %r" % p.stdout)
    rows, bridge = {}, None
    CATALOGS.clear()
    for line in lines[1:]:
        if line.startswith("bridge "):
            bridge = line
        elif not line.startswith("("):
            cols = line.split()
            check(len(cols) == len(head), "%d columns: %r" % (len(head), line))
            if catalog:
                CATALOGS[cols[0]] = cols.pop()
            rows[cols[0]] = cols[1:]
    return rows, bridge


def now_ts(delta_s=0.0):
    t = now() + delta_s  # the clock of posedge-ctl, which computes the ages
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StateSub:
    """mosquitto_sub on one state topic; a thread keeps (monotonic arrival, retained, payload).

    Ready once a retained probe arrives: the broker sends retained messages only after the
    subscriptions (one SUBSCRIBE packet) are in place.
    """

    def __init__(self, broker, topic):
        probe = "posedge-test/probe/%d" % os.getpid()
        publish(broker, probe, "probe")
        self.msgs = []
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                                      "-q", "1", "-F", "%r %t %p", "-t", probe, "-t", topic],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, args=(probe,), daemon=True).start()
        wait_until(self.ready.is_set, 20, "mosquitto_sub ready")

    def _read(self, probe):
        for line in self.proc.stdout:
            retained, topic, payload = line.rstrip(b"\n").split(b" ", 2)
            if topic.decode() == probe:
                self.ready.set()
                continue
            with self.lock:
                self.msgs.append((time.monotonic(), retained == b"1", json.loads(payload)))

    def all(self):
        with self.lock:
            return list(self.msgs)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Daemon:
    """posedge-agent as a daemon (the endless shopper), its log in a file."""

    def __init__(self, d, *args):
        self.data = os.path.join(d, "till")
        self.logpath = os.path.join(d, "agent.log")
        with open(self.logpath, "w") as log:
            self.proc = subprocess.Popen([AGENT, "-c", CONFIG, "--data-dir", self.data] +
                                         list(args), stdout=subprocess.DEVNULL, stderr=log)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def record_ts(events, seq):
    return next(e["ts"] for e in events if e["seq"] == seq)


@test
def offline_till_with_backlog():
    with Fixture("pe-status") as f:
        m = f.add(Mosquitto(f.d).start())
        p = status(m.addr)
        rows, bridge = table(p)
        check(rows == {} and bridge is None, "an empty store: %r" % p.stdout)
        check("(no terminal of store s001" in p.stdout, p.stdout)
        # A shopper run; --wait-delivered keeps it connected long enough to say online, then
        # it times out (no bridge) and its clean exit publishes the offline state.
        data = os.path.join(f.d, "till")
        a = run([AGENT, "-c", CONFIG, "--data-dir", data, "--shopper", "30", "--mqtt", m.addr,
                 "--set", "sim.start=" + SIM_START, "--wait-delivered", "2"], timeout=300,
                check_rc=1)
        check("event=uplink.connected" in a.stderr, "the agent connected: %s" % a.stderr[-2000:])
        n = len(journal_events(os.path.join(data, "journal.db")))
        check(n > 10, "30 customers make events: %d" % n)
        publish(m, TOPIC + "t01/ack", json.dumps({"spooled": n, "delivered": n - 5}))
        # t02 died (only its will is left) after the bridge spooled 40 and delivered 30.
        publish(m, TOPIC + "t02/state", '{"state":"offline"}')
        publish(m, TOPIC + "t02/ack", '{"spooled":40,"delivered":30}')
        publish(m, TOPIC + "bridge/state", '{"state":"online","spooled_bytes":1234,"pending":5,'
                '"ts":"2026-01-01T00:00:00.000Z"}')
        publish(m, "posedge/v1/s002/t09/state", '{"state":"online"}')  # another store
        t0 = time.monotonic()
        p = status(m.addr)
        took = time.monotonic() - t0
        rows, bridge = table(p)
        check(sorted(rows) == ["t01", "t02"], "terminals of s001 only: %r" % p.stdout)
        st, seq, spooled, delivered, backlog, pending, age = rows["t01"][:7]
        check((st, seq, spooled, delivered, backlog) ==
              ("offline", str(n), str(n), str(n - 5), "5"), "t01: %r" % p.stdout)
        # The agent's last state said delivered=0; the ack is further, so the age is a bound.
        check(re.fullmatch(AGE_RE, pending) and pending.startswith("<="), "pending %r" % pending)
        check(re.fullmatch(AGE_RE, age), "state age %r" % age)
        # An offline till shows no uptime, whatever its last state says.
        check(rows["t01"][8] == "-", "t01 uptime: %r" % p.stdout)
        check(rows["t02"] == ["offline", "-", "40", "30", ">=10", "?", "-", "-", "-", "-", "-"],
              "t02: %r" % p.stdout)
        # The agent's catalog is its file (version 0); the will says nothing of one.
        check(CATALOGS == {"t01": "0", "t02": "-"}, "CATALOG: %r" % p.stdout)
        check(re.fullmatch(r"bridge online: pending=5 spooled_bytes=1234 state_age=\d+d\d\dh",
                           bridge or ""), "bridge line: %r" % bridge)
        check(took < 4, "done after the retained messages, not at the 5 s timeout: %.1fs" % took)
        check(p.stderr == "", "nothing on stderr: %r" % p.stderr)
        # Delivered catches up: no backlog, nothing pending.
        publish(m, TOPIC + "t01/ack", json.dumps({"spooled": n, "delivered": n}))
        rows, _ = table(status(m.addr, "--timeout", "3"))
        check(rows["t01"][:6] == ["offline", str(n), str(n), str(n), "0", "-"], "%r" % rows)


@test
def unreachable_broker_and_usage_errors():
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    p = status("127.0.0.1:%d" % port, "--timeout", "2", check_rc=1)
    took = time.monotonic() - t0
    check(1.5 <= took < 4, "gives up at the timeout: %.1fs" % took)
    check("cannot reach the MQTT broker at 127.0.0.1:%d within 2 s" % port in p.stderr, p.stderr)
    check(p.stdout == "", "no table: %r" % p.stdout)
    t0 = time.monotonic()
    status("127.0.0.1:%d" % port, check_rc=1)
    check(time.monotonic() - t0 < 7, "default timeout 5 s")
    for args, needle in [
        (["status", "--store", "s001"], "needs --mqtt"),
        (["status", "--mqtt", "127.0.0.1:1883"], "needs --mqtt"),
        (["status", "--mqtt", "nohost", "--store", "s001"], "--mqtt: expected HOST:PORT"),
        (["status", "--mqtt", "h:1", "--store", "a/b"], "--store"),
        (["status", "--mqtt", "h:1", "--store", "s001", "--timeout", "0"], "--timeout"),
        (["status", "--mqtt", "h:1", "--store", "s001", "extra"], "needs --mqtt"),
        (["status", "--mqtt", "h:1", "--store", "s001", "--bogus"], "usage"),
    ]:
        p = run([CTL] + args, timeout=30, check_rc=2)
        check(needle in p.stderr, "%s: expected %r in %r" % (args, needle, p.stderr))
    pw = os.path.join(tmpdir("pe-status"), "missing")
    for args, needle in [
        (["status", "--mqtt", "h:1", "--store", "s001", "--password-file", pw], "needs --user"),
        (["status", "--mqtt", "h:1", "--store", "s001", "--user", "u", "--password-file", pw],
         "cannot read"),
    ]:
        p = run([CTL] + args, timeout=30, check_rc=2)
        check(needle in p.stderr, "%s: expected %r in %r" % (args, needle, p.stderr))
    p = run([CTL, "--help"], check_rc=0)
    check("posedge-ctl status --mqtt HOST:PORT --store S [--user U --password-file F]" in
          p.stdout, "in the usage: %r" % p.stdout)
    p = run([CTL, "status", "--help"], check_rc=0)
    check("--json" in p.stdout and "DEVICES" not in p.stdout, "status --help: %r" % p.stdout)


@test
def agent_republishes_its_state():
    with Fixture("pe-status") as f:
        m = f.add(Mosquitto(f.d).start())
        sub = f.add(StateSub(m, TOPIC + "t01/state"))
        # The shop opens 3 s after the start (5 simulated minutes), whatever the time of day.
        a = f.add(Daemon(f.d, "--mqtt", m.addr, "--set", "sim.speed=100",
                         "--set", "sim.start=" + SIM_START))
        db = os.path.join(a.data, "journal.db")

        def online():
            return [(t, s) for t, r, s in sub.all() if s["state"] == "online"]

        wait_until(lambda: online(), 60, "the state on connect")
        st = online()[0][1]
        check({"state", "ts", "seq", "spooled", "delivered", "oldest_pending_ts"} <= set(st),
              "fields: %s" % st)
        check(st["delivered"] == 0 and (st["oldest_pending_ts"] is None) == (st["seq"] == 0),
              "nothing delivered: %s" % st)
        if st["seq"]:
            check(st["oldest_pending_ts"] == record_ts(journal_events(db), 1), "seq 1's ts")
        wait_until(lambda: len(journal_events(db)) >= 3, 60, "three events")
        publish(m, TOPIC + "t01/ack", '{"spooled":2,"delivered":2}')
        wait_until(lambda: "event=uplink.ack spooled=2 delivered=2" in a.log(), 30, "ack taken")
        wait_until(lambda: any(s["delivered"] == 2 for _, s in online()), 35,
                   "a state with the ack")
        wait_until(lambda: len(online()) >= 3, 35, "two republished states")
        # On every change (the shopper keeps selling) but at most once a second, and at
        # least every fleet.state_interval_s (10 s) while connected.
        times = [t for t, _ in online()]
        for a_, b_ in zip(times, times[1:]):
            check(0.8 <= b_ - a_ <= 11.5, "republished within 1..10 s: %.1f" % (b_ - a_))
        st = next(s for _, s in online() if s["delivered"] == 2)
        check(st["delivered"] == 2 and st["spooled"] == 2 and st["seq"] >= 3, "%s" % st)
        check(st["oldest_pending_ts"] == record_ts(journal_events(db), 3),
              "oldest pending is seq 3: %s" % st)
        rows, _ = table(status(m.addr))
        check(rows["t01"][0] == "online" and rows["t01"][3] == "2", "%r" % rows)
        # A clean stop: offline, with the numbers.
        a.proc.send_signal(signal.SIGTERM)
        check(a.proc.wait(timeout=60) == 0, "SIGTERM: exit 0")
        wait_until(lambda: sub.all()[-1][2]["state"] == "offline", 30, "offline state")
        last = sub.all()[-1][2]
        events = journal_events(db)
        check(last["seq"] == len(events) and last["delivered"] == 2 and
              last["oldest_pending_ts"] == record_ts(events, 3), "offline state %s" % last)


def full_state(term, **kw):
    """A fleet state document as docs/protocol.md shows it, published 2 s ago."""
    doc = {"state": "online", "ts": now_ts(-2), "version": "0.6.0", "board": "sim",
           "store": "s001", "terminal": term, "started": now_ts(-137), "uptime_s": 135,
           "seq": 2025, "spooled": 2025, "delivered": 2019, "oldest_pending_ts": now_ts(-3),
           "oldest_pending_age_s": 0.8, "journal_bytes": 1187840,
           "free_disk_bytes": 53687091200, "shift": "open", "operator": "op17",
           "devices": {"scanner": {"driver": "evdev", "status": "ok"},
                       "scale": {"driver": "serial", "status": "failed"},
                       "printer": {"driver": "escpos", "status": "degraded"},
                       "payment": {"driver": "fake", "status": "ok"},
                       "display": {"driver": "serial", "status": "ok"},
                       "keypad": {"driver": "fake", "status": "ok"}}}
    doc.update(kw)
    return doc


@test
def fleet_state_columns_and_json():
    with Fixture("pe-status") as f:
        m = f.add(Mosquitto(f.d).start())
        t01 = full_state("t01")
        t02 = full_state("t02", shift="closed", version="0.6.1~rc1",
                         devices={c: {"driver": "fake", "status": "ok"}
                                  for c in ("scanner", "scale", "printer")})
        t04 = full_state("t04", state="offline", devices={})
        states = {"t01": t01, "t02": t02, "t03": {"state": "offline"}, "t04": t04}
        for term, doc in states.items():
            publish(m, TOPIC + term + "/state", json.dumps(doc))
        publish(m, TOPIC + "t05/state", "not json")
        publish(m, TOPIC + "t01/ack", '{"spooled":2025,"delivered":2020}')
        # An old bridge's document: shown while there is no new one, never as a till.
        old = {"state": "online", "pending": 9, "spooled_bytes": 99, "dead": 1, "ts": now_ts()}
        publish(m, TOPIC + "_bridge/state", json.dumps(old))
        rows, bridge = table(status(m.addr))
        check(sorted(rows) == ["t01", "t02", "t03", "t04", "t05"], "tills: %r" % sorted(rows))
        check(re.fullmatch(r"bridge online: pending=9 spooled_bytes=99 dead=1 state_age=\d+s",
                           bridge or ""), "old bridge line: %r" % bridge)

        # The bridge's document as docs/protocol.md shows it.
        bridge_doc = {"state": "online", "ts": now_ts(-3), "version": "0.6.0", "board": "sim",
                      "store": "s001", "terminal": "bridge", "bridge": "s001",
                      "started": now_ts(-138), "uptime_s": 135,
                      "kafka": {"mode": "transactional", "connected": True, "brokers_up": 1,
                                "brokers": 3, "last_delivered_ts": now_ts(-63)},
                      "pending": 120, "spooled_bytes": 36000, "oldest_pending_ts": now_ts(-4),
                      "oldest_pending_age_s": 0.8, "drain_eps": 1530.5,
                      "quota": {"events": {"used_bytes": 36000, "limit_bytes": 1048576},
                                "telemetry": {"used_bytes": 0, "limit_bytes": 0}},
                      "terminals": 3, "dead": 0}
        publish(m, TOPIC + "bridge/state", json.dumps(bridge_doc))
        p = status(m.addr)
        rows, bridge = table(p)
        # The eight columns as before; then VERSION UPTIME DEVICES SHIFT.
        check(rows["t01"][:5] == ["online", "2025", "2025", "2020", "5"], "t01: %r" % p.stdout)
        check(re.fullmatch(AGE_RE, rows["t01"][5]) and rows["t01"][5].startswith("<="),
              "the ack is past the state's delivered: %r" % p.stdout)
        version, uptime, devices, shift = rows["t01"][7:]
        check(version == "0.6.0" and shift == "open", "t01: %r" % p.stdout)
        check(re.fullmatch(r"2m1[6-9]s", uptime), "uptime 135 s + 2 s since: %r" % uptime)
        check(devices == "scale:failed,printer:degraded", "devices: %r" % devices)
        check(rows["t02"][7:] == ["0.6.1~rc1", rows["t02"][8], "ok", "closed"], "t02: %r" % rows)
        check(rows["t03"][7:] == ["-", "-", "-", "-"], "the will says nothing: %r" % rows)
        check(rows["t04"][0] == "offline" and rows["t04"][7:] == ["0.6.0", "-", "-", "open"],
              "clean exit: version and shift as last said, no uptime, no devices: %r" % rows)
        check(rows["t05"][:2] == ["?", "-"] and rows["t05"][7:] == ["-"] * 4, "junk: %r" % rows)
        check(re.fullmatch(r"bridge online: pending=120 spooled_bytes=36000 kafka=connected "
                           r"kafka_brokers=1/3 kafka_mode=transactional last_delivered=1m0[2-5]s "
                           r"drain_eps=1530.5 oldest_pending=0s quota.events=36000/1048576 "
                           r"quota.telemetry=0/none terminals=3 dead=0 version=0.6.0 "
                           r"uptime=2m1[7-9]s state_age=[3-6]s", bridge or ""),
              "bridge: %r" % bridge)
        # The header and rows line up: VERSION and DEVICES are as wide as their widest entry.
        lines = p.stdout.splitlines()
        col = lines[0].index("SHIFT")
        for line in lines[1:6]:
            check(line[col - 2:col] == "  " and line[col:] == rows[line.split()[0]][10],
                  "SHIFT aligned:\n%s" % p.stdout)

        # --json: every document as it came, one object.
        p = status(m.addr, "--json")
        check(len(p.stdout.splitlines()) == 1, "one line: %r" % p.stdout)
        doc = json.loads(p.stdout)
        check(set(doc) == {"store", "ts", "terminals", "bridge"} and doc["store"] == "s001",
              "keys: %r" % sorted(doc))
        check(list(doc["terminals"]) == ["t01", "t02", "t03", "t04", "t05"], "sorted tills")
        for term, want in states.items():
            got = doc["terminals"][term]
            check(got["state"] == want, "%s: %r" % (term, got))
        check(doc["terminals"]["t01"]["ack"] == {"spooled": 2025, "delivered": 2020}, "t01 ack")
        check(doc["terminals"]["t02"]["ack"] is None, "no ack: null")
        check(doc["terminals"]["t05"] == {"state": None, "ack": None}, "junk: null")
        check(doc["bridge"] == bridge_doc, "the bridge's: %r" % doc["bridge"])
        # A bridge that lost Kafka and has nothing pending; then its clean stop.
        bridge_doc.update(kafka={"mode": "idempotent", "connected": None, "brokers_up": 0,
                                 "brokers": 0, "last_delivered_ts": None},
                          oldest_pending_age_s=None, oldest_pending_ts=None)
        publish(m, TOPIC + "bridge/state", json.dumps(bridge_doc))
        _, bridge = table(status(m.addr))
        check(" kafka=unknown kafka_brokers=0/0 kafka_mode=idempotent last_delivered=- " in
              bridge and " oldest_pending=- " in bridge, "bridge: %r" % bridge)
        bridge_doc["state"] = "offline"
        publish(m, TOPIC + "bridge/state", json.dumps(bridge_doc))
        _, bridge = table(status(m.addr))
        check(bridge.startswith("bridge offline: ") and "uptime=" not in bridge, "%r" % bridge)
        check(p.stderr == "", "nothing on stderr: %r" % p.stderr)
        p = run([CTL, "status", "--mqtt", m.addr, "--store", "s009", "--json"], check_rc=0)
        check(json.loads(p.stdout)["terminals"] == {} and json.loads(p.stdout)["bridge"] is None,
              "an empty store: %r" % p.stdout)


if __name__ == "__main__":
    main()
