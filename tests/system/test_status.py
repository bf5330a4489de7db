#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-ctl status (ctl/status.c) and the agent's periodic state.

Each test starts the real mosquitto (lib.Mosquitto) on a free loopback port from a config
generated in its temporary directory. Acks and the bridge's state, which the bridge would
publish, are published by hand with mosquitto_pub -r. Covered: the table for a till that ran and
exited (offline, seq from its last state, spooled and delivered from the newer retained ack,
backlog), a till known only by its will and an ack, the bridge line, an empty store; an
unreachable broker (exit 1 within the timeout) and usage errors (exit 2); the agent's retained
state republished every 10 s with oldest_pending_ts, and its offline state on a clean stop.
Waits poll a condition against a deadline; nothing sleeps to synchronise.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

from lib import (AGENT, CONFIG, CTL, Mosquitto, check, free_port, journal_events, main, run,
                 test, tmpdir, wait_until)

TOPIC = "posedge/v1/s001/"
AGE_RE = r"(<=)?\d+(s|m\d\ds|h\d\dm|d\d\dh)"


def publish(broker, topic, payload):
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-r", "-t", topic,
         "-m", payload], timeout=30, check_rc=0)


def status(broker_addr, *extra, check_rc=0, store="s001"):
    return run([CTL, "status", "--mqtt", broker_addr, "--store", store] + list(extra), timeout=60,
               check_rc=check_rc)


def table(p):
    """{terminal: [columns]} and the bridge line (or None) of a status output."""
    lines = p.stdout.splitlines()
    check(lines and lines[0].split() == ["TERMINAL", "STATE", "SEQ", "SPOOLED", "DELIVERED",
                                         "BACKLOG", "OLDEST_PENDING", "STATE_AGE"],
          "header: %r" % p.stdout)
    rows, bridge = {}, None
    for line in lines[1:]:
        if line.startswith("bridge "):
            bridge = line
        elif not line.startswith("("):
            cols = line.split()
            check(len(cols) == 8, "8 columns: %r" % line)
            rows[cols[0]] = cols[1:]
    return rows, bridge


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


class Fixture:
    """Everything a test started, stopped in reverse order whatever happens."""

    def __init__(self):
        self.d = tmpdir("pe-status")
        self.items = []

    def add(self, x):
        self.items.append(x)
        return x

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for x in reversed(self.items):
            try:
                x.stop()
            except Exception:  # cleanup of one item never hides the test's own failure
                pass
        return False


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
    with Fixture() as f:
        m = f.add(Mosquitto(f.d).start())
        p = status(m.addr)
        rows, bridge = table(p)
        check(rows == {} and bridge is None, "an empty store: %r" % p.stdout)
        check("(no terminal of store s001" in p.stdout, p.stdout)
        # A shopper run; --wait-delivered keeps it connected long enough to say online, then
        # it times out (no bridge) and its clean exit publishes the offline state.
        data = os.path.join(f.d, "till")
        a = run([AGENT, "-c", CONFIG, "--data-dir", data, "--shopper", "30", "--mqtt", m.addr,
                 "--wait-delivered", "2"], timeout=300, check_rc=1)
        check("event=uplink.connected" in a.stderr, "the agent connected: %s" % a.stderr[-2000:])
        n = len(journal_events(os.path.join(data, "journal.db")))
        check(n > 10, "30 customers make events: %d" % n)
        publish(m, TOPIC + "t01/ack", json.dumps({"spooled": n, "delivered": n - 5}))
        # t02 died (only its will is left) after the bridge spooled 40 and delivered 30.
        publish(m, TOPIC + "t02/state", '{"state":"offline"}')
        publish(m, TOPIC + "t02/ack", '{"spooled":40,"delivered":30}')
        publish(m, TOPIC + "_bridge/state",
                '{"state":"online","spooled_bytes":1234,"pending":5,"ts":"2026-01-01T00:00:00.000Z"}')
        publish(m, "posedge/v1/s002/t09/state", '{"state":"online"}')  # another store
        t0 = time.monotonic()
        p = status(m.addr)
        took = time.monotonic() - t0
        rows, bridge = table(p)
        check(sorted(rows) == ["t01", "t02"], "terminals of s001 only: %r" % p.stdout)
        st, seq, spooled, delivered, backlog, pending, age = rows["t01"]
        check((st, seq, spooled, delivered, backlog) ==
              ("offline", str(n), str(n), str(n - 5), "5"), "t01: %r" % p.stdout)
        # The agent's last state said delivered=0; the ack is further, so the age is a bound.
        check(re.fullmatch(AGE_RE, pending) and pending.startswith("<="), "pending %r" % pending)
        check(re.fullmatch(AGE_RE, age), "state age %r" % age)
        check(rows["t02"] == ["offline", "-", "40", "30", ">=10", "?", "-"], "t02: %r" % p.stdout)
        check(bridge and bridge.startswith("bridge online: pending=5 spooled_bytes=1234 "),
              "bridge line: %r" % bridge)
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
    p = run([CTL, "--help"], check_rc=0)
    check("posedge-ctl status --mqtt HOST:PORT --store S" in p.stdout, "in the usage")


@test
def agent_republishes_its_state_every_10s():
    with Fixture() as f:
        m = f.add(Mosquitto(f.d).start())
        sub = f.add(StateSub(m, TOPIC + "t01/state"))
        a = f.add(Daemon(f.d, "--mqtt", m.addr, "--set", "sim.speed=100"))
        db = os.path.join(a.data, "journal.db")

        def online():
            return [(t, s) for t, r, s in sub.all() if s["state"] == "online"]

        wait_until(lambda: online(), 60, "the state on connect")
        st = online()[0][1]
        check(set(st) == {"state", "ts", "seq", "spooled", "delivered", "oldest_pending_ts"},
              "fields: %s" % st)
        check(st["delivered"] == 0 and (st["oldest_pending_ts"] is None) == (st["seq"] == 0),
              "nothing delivered: %s" % st)
        if st["seq"]:
            check(st["oldest_pending_ts"] == record_ts(journal_events(db), 1), "seq 1's ts")
        wait_until(lambda: len(journal_events(db)) >= 3, 60, "three events")
        publish(m, TOPIC + "t01/ack", '{"spooled":2,"delivered":2}')
        wait_until(lambda: "event=uplink.ack spooled=2 delivered=2" in a.log(), 30, "ack taken")
        wait_until(lambda: len(online()) >= 3, 35, "two republished states")
        times = [t for t, _ in online()]
        for gap in (times[1] - times[0], times[2] - times[1]):
            check(9.0 <= gap <= 11.5, "republished every 10 s: %.1f" % gap)
        st = online()[-1][1]
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


if __name__ == "__main__":
    main()
