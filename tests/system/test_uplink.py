#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the agent's uplink (agent/uplink.c, common/mqtt.c) against a real broker.

Each test starts mosquitto on a free loopback port from a config generated in its temporary
directory and watches the wire with mosquitto_sub; acks, which the bridge would publish, are
published by hand with mosquitto_pub. Covered: batches carry every journal record in seq order
byte for byte within the batch limits, each with its sig column after a tab; an agent started while the broker is down sells at once
and sends its backlog when the broker appears; go-back-N from a hand-published ack; the
--wait-delivered exit statuses; acks that are malformed or ahead of the journal are ignored; a
restarted agent learns from the retained ack where the bridge is; retained online state, the
offline state of a clean exit and the offline will. Waits poll a condition against a deadline; nothing sleeps to synchronise.
"""
import json
import os
import signal
import subprocess
import threading

from lib import (AGENT, BIN_RELEASE, CONFIG, CTL, SIM_START, SRC, Fixture, check, db_rows,
                 free_port, main, port_open, receipts, run, test, tmpdir, wait_until)

SCENARIO = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")
MOSQUITTO = os.environ.get("PE_MOSQUITTO", "/usr/sbin/mosquitto")
TOPIC = "posedge/v1/s001/t01/"


class Broker:
    """mosquitto on a loopback port, configured from a generated file, nothing persisted."""

    def __init__(self, d, port=None):
        self.port = port or free_port()
        self.conf = os.path.join(d, "mosquitto.conf")
        self.logpath = os.path.join(d, "mosquitto.log")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % self.port)
        self.proc = None

    def start(self):
        with open(self.logpath, "a") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=log, stderr=log)
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 20,
                   "mosquitto on port %d" % self.port)
        check(self.proc.poll() is None, "mosquitto exited; see %s" % self.logpath)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


def publish(broker, topic, payload, retain=True):
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t", topic,
         "-m", payload] + (["-r"] if retain else []), timeout=30, check_rc=0)


def ack(broker, spooled, delivered):
    publish(broker, TOPIC + "ack", json.dumps({"spooled": spooled, "delivered": delivered}))


class Sub:
    """mosquitto_sub on some topics; a thread collects (retained, topic, payload bytes).

    It is ready once the retained probe message arrives: the broker sends retained messages
    only after the subscriptions (one SUBSCRIBE packet) are in place.
    """

    def __init__(self, broker, *topics):
        probe = "posedge-test/probe/%d" % os.getpid()
        publish(broker, probe, "probe")
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
               "-F", "%r %t %x", "-t", probe]
        for t in topics:
            cmd += ["-t", t]
        self.msgs = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        wait_until(lambda: any(t == probe for _, t, _ in self.all()), 20, "mosquitto_sub ready")

    def _read(self):
        for line in self.proc.stdout:
            parts = line.rstrip(b"\n").split(b" ", 2)
            if len(parts) < 2:
                continue
            payload = bytes.fromhex(parts[2].decode()) if len(parts) == 3 else b""
            with self.lock:
                self.msgs.append((parts[0] == b"1", parts[1].decode(), payload))

    def all(self):
        with self.lock:
            return list(self.msgs)

    def on(self, topic):
        return [p for _, t, p in self.all() if t == topic]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Agent:
    """posedge-agent in the background, its log in a file; its shopper's clock starts at
    SIM_START (a scenario sets its own)."""

    def __init__(self, d, *args, prefix=(), binary=AGENT):
        self.data = os.path.join(d, "till")
        self.logpath = os.path.join(d, "agent-%d.log" % len([f for f in os.listdir(d)
                                                             if f.startswith("agent-")]))
        with open(self.logpath, "w") as log:
            self.proc = subprocess.Popen(list(prefix) + [binary, "-c", CONFIG, "--data-dir",
                                                         self.data, "--set",
                                                         "sim.start=" + SIM_START] + list(args),
                                         stdout=subprocess.DEVNULL, stderr=log)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait(self, timeout=120):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    cleanup = kill  # a Fixture kills it at the end (lib.Fixture)

    def waiting_for_delivery(self):
        """last_seq from the agent.wait_delivered line, or None before it is logged."""
        for line in self.log().splitlines():
            if "event=agent.wait_delivered" in line:
                return int(line.split("last_seq=")[1].split()[0])
        return None


def journal_lines(data_dir):
    p = run([CTL, "journal", os.path.join(data_dir, "journal.db")], check_rc=0)
    return p.stdout.splitlines()


def batches(sub, lines=False):
    """Each events message as a list of (seq, record text), or with lines (seq, record text,
    signature text or None: what follows the record's tab, docs/protocol.md "Event lines")."""
    out = []
    for payload in sub.on(TOPIC + "events"):
        recs = [l.split("\t", 1) + [None] for l in payload.decode().split("\n")]
        out.append([(json.loads(r[0])["seq"], r[0]) + ((r[1],) if lines else ())
                    for r in recs])
    return out


def seqs_seen(sub):
    return {s for b in batches(sub) for s, _ in b}


def uplink_row(data_dir):
    return dict(db_rows(os.path.join(data_dir, "journal.db"), "SELECT key, value FROM uplink"))


@test
def batches_carry_the_journal_in_order():
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        sub = f.add(Sub(b, TOPIC + "events", TOPIC + "state"))
        a = f.add(Agent(f.d, "--shopper", "30", "--mqtt", b.addr, "--wait-delivered", "120",
                        "--set", "uplink.batch_max=7", "--set", "uplink.batch_bytes=4000",
                        "--set", "uplink.resend_ms=60000"))
        last = wait_until(a.waiting_for_delivery, 120, "the shopper run")
        check(last >= 20, "30 customers make some events: %d" % last)
        wait_until(lambda: max(seqs_seen(sub), default=0) == last, 30, "every record sent")
        ack(b, last, last)
        check(a.wait() == 0, "exit after delivered=last: %s" % a.log()[-2000:])
        want = journal_lines(a.data)
        check(len(want) == last, "journal has %d records" % len(want))
        got = [r for bt in batches(sub) for _, r in bt]
        check(got == want, "batches joined == posedge-ctl journal, byte for byte "
              "(%d records sent, %d in journal)" % (len(got), len(want)))
        sigs = dict(db_rows(os.path.join(a.data, "journal.db"), "SELECT seq, sig FROM events"))
        for bt in batches(sub, lines=True):
            check(1 <= len(bt) <= 7, "batch of %d records" % len(bt))
            size = len("\n".join(r + ("\t" + g if g else "") for _, r, g in bt).encode())
            check(size <= 4000 or len(bt) == 1, "batch of %d bytes" % size)
            for seq, _, g in bt:
                check(g is not None and g.encode() == bytes(sigs[seq]),
                      "seq %d travels with its sig column after a tab: %r" % (seq, g))
            check([s for s, _, _ in bt] == list(range(bt[0][0], bt[0][0] + len(bt))),
                  "seqs contiguous within a batch")
        check(uplink_row(a.data) == {"spooled": last, "delivered": last},
              "watermarks stored: %s" % uplink_row(a.data))
        log = a.log()
        check("event=uplink.ack spooled=%d delivered=%d" % (last, last) in log, "ack logged")
        check("client=posedge-agent-s001-t01" in log, "client id logged")
        states = [json.loads(p) for p in sub.on(TOPIC + "state")]
        check(states and states[0]["state"] == "online" and states[0]["ts"].endswith("Z")
              and {"seq", "spooled", "delivered", "oldest_pending_ts"} <= set(states[0]),
              "online state %s" % states)
        wait_until(lambda: json.loads(sub.on(TOPIC + "state")[-1])["state"] == "offline", 20,
                   "offline state after a clean exit")
        off = json.loads(sub.on(TOPIC + "state")[-1])
        check(off["seq"] == last and off["spooled"] == last and off["delivered"] == last
              and off["oldest_pending_ts"] is None, "the offline state says how far: %s" % off)


@test
def broker_down_selling_continues_then_backlog_goes():
    with Fixture("pe-uplink") as f:
        b = Broker(f.d)  # not started: its port is free
        a = f.add(Agent(f.d, "--shopper", "20", "--mqtt", b.addr, "--wait-delivered", "120",
                        "--set", "uplink.resend_ms=300"))
        last = wait_until(a.waiting_for_delivery, 120, "the shopper run without a broker")
        check(len(receipts(a.data)) == last, "every event printed while the broker was down")
        check("event=mqtt.connected" not in a.log(), "no broker yet")
        check("event=mqtt.connect_failed" in a.log(), "the failed connect is logged")
        f.add(b.start())
        sub = f.add(Sub(b, TOPIC + "events"))
        # The agent reconnects by itself (backoff at most 10 s); a batch the subscriber missed
        # while it was starting comes again after resend_ms.
        wait_until(lambda: seqs_seen(sub) >= set(range(1, last + 1)), 60, "the backlog")
        ack(b, last, last)
        check(a.wait() == 0, "exit 0 once delivered: %s" % a.log()[-2000:])
        want = journal_lines(a.data)
        by_seq = {s: r for bt in batches(sub) for s, r in bt}
        check([by_seq[s] for s in range(1, last + 1)] == want, "backlog byte for byte")


@test
def go_back_n_from_a_hand_ack():
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        sub = f.add(Sub(b, TOPIC + "events"))
        a = f.add(Agent(f.d, "--scenario", SCENARIO, "--mqtt", b.addr, "--wait-delivered", "120",
                        "--set", "uplink.resend_ms=300"))
        wait_until(lambda: seqs_seen(sub) >= set(range(1, 14)), 60, "all 13 records once")
        # No ack at all: the agent goes back to spooled + 1 = 1 again and again.
        wait_until(lambda: a.log().count("event=uplink.resend from=1 ") >= 2, 30, "resends from 1")
        n_before = len(batches(sub))
        ack(b, 5, 0)
        wait_until(lambda: "event=uplink.ack spooled=5 delivered=0" in a.log(), 30, "ack taken")
        wait_until(lambda: "event=uplink.resend from=6 to=13" in a.log(), 30, "resend from 6")
        log = a.log()
        after = log[log.index("event=uplink.ack spooled=5"):]
        check("event=uplink.resend from=1 " not in after, "never from 1 after spooled=5")
        wait_until(lambda: any(bt[0][0] == 6 for bt in batches(sub)[n_before:]), 30,
                   "a batch from 6 on the wire")
        check(uplink_row(a.data).get("spooled", 0) in (0, 5), "stored spooled")
        ack(b, 13, 13)
        check(a.wait() == 0, "exit 0: %s" % a.log()[-2000:])
        check(uplink_row(a.data) == {"spooled": 13, "delivered": 13}, "%s" % uplink_row(a.data))
        prev = 0
        for bt in batches(sub):  # a batch goes back to spooled + 1 or continues the last one
            check(bt[0][0] in (1, 6, prev + 1), "batch starts at %d after %d" % (bt[0][0], prev))
            prev = bt[-1][0]


@test
def ack_going_back_is_followed():
    """A bridge that lost its spool acknowledges less than before: the agent resends from it."""
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        sub = f.add(Sub(b, TOPIC + "events"))
        a = f.add(Agent(f.d, "--scenario", SCENARIO, "--mqtt", b.addr, "--wait-delivered", "120",
                        "--set", "uplink.resend_ms=300"))
        wait_until(lambda: seqs_seen(sub) >= set(range(1, 14)), 60, "all 13 records once")
        ack(b, 13, 10)
        wait_until(lambda: "event=uplink.ack spooled=13 delivered=10" in a.log(), 30, "ack taken")
        n_before = len(batches(sub))
        ack(b, 4, 4)  # the rebuilt spool: Kafka had 1..4
        wait_until(lambda: "event=uplink.ack_behind spooled=13->4 delivered=10->4" in a.log(),
                   30, "the ack going back taken")
        wait_until(lambda: any(bt[0][0] == 5 for bt in batches(sub)[n_before:]), 30,
                   "a batch from 5 on the wire again")
        ack(b, 13, 13)
        check(a.wait() == 0, "exit 0: %s" % a.log()[-2000:])
        check(uplink_row(a.data) == {"spooled": 13, "delivered": 13}, "%s" % uplink_row(a.data))


@test
def wait_delivered_exit_statuses():
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        a = f.add(Agent(f.d, "--shopper", "3", "--mqtt", b.addr, "--wait-delivered", "2"))
        check(a.wait() == 1, "no ack: exit 1")
        first = a.waiting_for_delivery()
        check("posedge-agent: timed out: delivered 0 of %d" % first in a.log(), a.log()[-2000:])
        # A retained ack short of the end: the next run learns it, still times out, and says
        # how far delivery got.
        ack(b, first, first - 1)
        a = f.add(Agent(f.d, "--shopper", "3", "--mqtt", b.addr, "--wait-delivered", "2"))
        check(a.wait() == 1, "delivered short of the last seq: exit 1")
        last = a.waiting_for_delivery()
        check("posedge-agent: timed out: delivered %d of %d" % (first - 1, last) in a.log(),
              a.log()[-2000:])
        check(uplink_row(a.data) == {"spooled": first, "delivered": first - 1},
              "the learned watermarks are stored: %s" % uplink_row(a.data))
        # An ack that reaches the last seq while the agent waits: exit 0.
        a = f.add(Agent(f.d, "--shopper", "3", "--mqtt", b.addr, "--wait-delivered", "60"))
        last = wait_until(a.waiting_for_delivery, 120, "the third run")
        ack(b, last, last)
        check(a.wait() == 0, "delivered == last: exit 0")
        check("event=agent.delivered delivered=%d last_seq=%d" % (last, last) in a.log(),
              a.log()[-2000:])


@test
def acks_malformed_or_ahead_are_ignored():
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        publish(b, TOPIC + "ack", "not json")
        a = f.add(Agent(f.d, "--scenario", SCENARIO, "--mqtt", b.addr, "--wait-delivered", "10"))
        wait_until(lambda: "event=uplink.ack_malformed" in a.log(), 30, "malformed ack logged")
        wait_until(a.waiting_for_delivery, 60, "the scenario")
        publish(b, TOPIC + "ack", '{"spooled":"x","delivered":1}')
        publish(b, TOPIC + "ack", '{"spooled":99,"delivered":99}')
        wait_until(lambda: "event=uplink.ack_ahead spooled=99 delivered=99 last_seq=13" in a.log(),
                   30, "ack ahead of the journal logged")
        check(a.wait() == 1, "an ack ahead of the journal is not believed")
        log = a.log()
        check(log.count("event=uplink.ack_malformed") == 1, "malformed acks logged once")
        check("timed out: delivered 0 of 13" in log, log[-2000:])
        check("event=uplink.ack " not in log, "no ack taken")


@test
def restarted_agent_learns_from_the_retained_ack():
    with Fixture("pe-uplink") as f:
        d = os.path.join(f.d, "till")
        run([AGENT, "-c", CONFIG, "--data-dir", d, "--scenario", SCENARIO], check_rc=0)
        b = f.add(Broker(f.d).start())
        ack(b, 13, 13)  # what a bridge would have left retained
        sub = f.add(Sub(b, TOPIC + "events"))
        a = f.add(Agent(f.d, "--shopper", "3", "--mqtt", b.addr, "--wait-delivered", "120",
                        "--set", "uplink.resend_ms=5000"))
        last = wait_until(a.waiting_for_delivery, 120, "the shopper run")
        wait_until(lambda: seqs_seen(sub) >= set(range(14, last + 1)), 60, "the new records")
        ack(b, last, last)
        check(a.wait() == 0, a.log()[-2000:])
        check(min(seqs_seen(sub)) == 14, "nothing the bridge had was sent: %s" % sorted(seqs_seen(sub)))
        check("event=uplink.ack spooled=13 delivered=13" in a.log(), "retained ack taken")


@test
def retained_state_online_and_will():
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        sub = f.add(Sub(b, TOPIC + "state"))
        a = f.add(Agent(f.d, "--mqtt", b.addr, "--set", "sim.speed=100"))  # a daemon
        wait_until(lambda: sub.on(TOPIC + "state"), 60, "online state")
        st = json.loads(sub.on(TOPIC + "state")[0])
        check(st["state"] == "online" and isinstance(st["seq"], int) and st["spooled"] == 0,
              "online state %s" % st)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=30)
        wait_until(lambda: sub.on(TOPIC + "state")[-1] == b'{"state":"offline"}', 30,
                   "the will after kill -9")
        later = f.add(Sub(b, TOPIC + "state"))
        wait_until(lambda: later.on(TOPIC + "state"), 30, "retained state")
        st = [(r, p) for r, t, p in later.all() if t == TOPIC + "state"]
        check(st[0] == (True, b'{"state":"offline"}'), "the will is retained: %s" % st)
        # A clean stop says offline itself.
        a = f.add(Agent(f.d, "--mqtt", b.addr, "--set", "sim.speed=100"))
        n = len(sub.on(TOPIC + "state"))
        wait_until(lambda: len(sub.on(TOPIC + "state")) > n
                   and b'online' in sub.on(TOPIC + "state")[-1], 60, "online again")
        a.proc.send_signal(signal.SIGTERM)
        check(a.wait() == 0, "SIGTERM: exit 0")
        wait_until(lambda: json.loads(sub.on(TOPIC + "state")[-1])["state"] == "offline", 30,
                   "offline after SIGTERM")
        off = json.loads(sub.on(TOPIC + "state")[-1])
        check({"state", "ts", "seq", "spooled", "delivered", "oldest_pending_ts"} <= set(off)
              and (off["oldest_pending_ts"] is None) == (off["seq"] == off["delivered"]),
              "the offline state of a clean stop carries the numbers: %s" % off)


@test
def release_agent_with_uplink_is_valgrind_clean():
    with Fixture("pe-uplink") as f:
        b = f.add(Broker(f.d).start())
        vg = ["valgrind", "--error-exitcode=9", "--leak-check=full",
              "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
              "-q"]
        a = f.add(Agent(f.d, "--shopper", "20", "--mqtt", b.addr, "--wait-delivered", "300",
                        "--set", "uplink.resend_ms=300", "--set", "uplink.batch_max=3",
                        prefix=vg, binary=os.path.join(BIN_RELEASE, "posedge-agent")))
        last = wait_until(a.waiting_for_delivery, 300, "the shopper run under valgrind")
        wait_until(lambda: "event=uplink.resend" in a.log(), 60, "a go-back under valgrind")
        ack(b, last // 2, 0)
        wait_until(lambda: "event=uplink.ack spooled=%d" % (last // 2) in a.log(), 60, "ack")
        ack(b, last, last)
        rc = a.wait(timeout=300)
        check(rc == 0, "valgrind exit %d:\n%s" % (rc, a.log()[-4000:]))


@test
def uplink_options_and_refusals():
    d = tmpdir("pe-uplink")
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--mqtt", "broker.lan:1884", "--print-config"],
            check_rc=0)
    cfg = json.loads(p.stdout)
    check(cfg["mqtt"] == {"host": "broker.lan", "port": 1884, "keepalive_s": 30, "username": "",
                          "password_file": "",
                          "tls": {"ca_file": "", "cert_file": "", "key_file": ""}},
          "%s" % cfg["mqtt"])
    check(cfg["uplink"] == {"batch_max": 200, "batch_bytes": 262144, "window": 2000,
                            "resend_ms": 3000}, "%s" % cfg["uplink"])
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--print-config"], check_rc=0)
    check(json.loads(p.stdout)["mqtt"]["host"] == "", "uplink off by default")
    for args, needle in [
        (["--mqtt", "nohost"], "--mqtt: expected HOST:PORT"),
        (["--mqtt", "h:0"], "--mqtt: expected HOST:PORT"),
        (["--shopper", "1", "--wait-delivered", "5"], "--wait-delivered needs the uplink"),
        (["--mqtt", "127.0.0.1:1", "--wait-delivered", "5"], "needs --scenario or --shopper"),
        (["--shopper", "1", "--mqtt", "h:1", "--wait-delivered", "-1"], "--wait-delivered"),
        (["--set", "uplink.window=0"], "uplink.window"),
        (["--set", "mqtt.host=a b"], "mqtt.host"),
        (["--set", "terminal=bridge"], "reserved for the store's bridge"),
        (["--mqtt", "127.0.0.1:1", "--set", "mqtt.password_file=/nonexistent/pw"],
         "mqtt.password_file: /nonexistent/pw: cannot read"),
    ]:
        p = run([AGENT, "-c", CONFIG, "--data-dir", d] + args, check_rc=2)
        check(needle in p.stderr, "%s: expected %r in %r" % (args, needle, p.stderr))
    check(not os.path.exists(os.path.join(d, "journal.db")), "refusals start no till")


if __name__ == "__main__":
    main()
