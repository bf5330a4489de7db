#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The power-cut suite: cut the power under the till's journal and the bridge's spool, at random
points of their writes, and check what survives (docs/powercut.md).

Each cut runs a release daemon under tests/powercut/cutfs.c (LD_PRELOAD), which logs every
change to its data folder and SIGKILLs it before a chosen change; powercut.Disk then writes
back what a disk could hold after losing power (all, none or a random part of what was not
synced, the last write torn at 512-byte sectors). After each cut:
  agent   the journal verifies (posedge-ctl verify); every receipt the fake printer printed is
          in it with its id; stock and counters equal the projection of the events (what
          posedge-ctl recover rebuilds from them); the till starts again on it
  fleet   a till daemon taking set_config commands: an answered one is in remote-config.json
          after the cut; its uplink runs into a bridge that is never cut, and after the last cut
          it gets everything delivered and Kafka holds its journal exactly once
  bridge  every seq the bridge acknowledged as spooled (its retained MQTT ack, watched
          throughout) is in the spool; the bridge starts again on it, the till's uplink
          resumes and the spool catches up; after the last cut everything is delivered, and
          Kafka (the mock cluster, and once the real broker) holds every event exactly once
  self    with fsync not honoured (CUTFS_LIE=sync: a disk that ignores flushes), the same
          checks do find violations: the harness can fail

POWERCUT_CUTS (default 1000) is how many cuts in all (about 5 agent cuts for each bridge cut);
POWERCUT_SEED the seed (default: random, printed). The last line is the total, as a comment:
"# power-cut total: cuts=N violations=V".
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time

import powercut
from lib import (BIN_RELEASE, BRIDGE_CONFIG, CONFIG, SIM_START, Mosquitto, check, main, receipts,
                 run, test, tmpdir, wait_until)

AGENT = os.path.join(BIN_RELEASE, "posedge-agent")
BRIDGE = os.path.join(BIN_RELEASE, "posedge-bridge")
CTL = os.path.join(BIN_RELEASE, "posedge-ctl")
CUTS = int(os.environ.get("POWERCUT_CUTS", "1000"))
SEED = int(os.environ.get("POWERCUT_SEED", "0")) or random.randrange(1, 1 << 30)
RNG = random.Random(SEED)
# The outside world in a data folder: the fake devices' output (paper, the drawer, the payment
# terminal), the receipts' QR images, and SQLite's -shm files (rebuilt from the WAL at open).
AGENT_SKIP = ["receipts.txt", "drawer.log", "payments.log", "display.log", "qr", "*-shm", "*.log"]
BRIDGE_SKIP = ["*-shm", "*.log"]
START = ["--set", "sim.start=" + SIM_START]
TOTAL = {"cuts": 0, "violations": 0, "agent": 0, "bridge": 0, "lost": 0}
AGENT_SHARE = 5 / 6
MAX_REPORTED = 5
WORKERS = 2
FLEET_CUTS = min(30, max(1, CUTS // 30))
TILL_CUTS = 8


def folder(name):
    return os.path.realpath(tmpdir(name))


class Cutter:
    """Runs one daemon at a time under cutfs in a folder, and cuts its power."""

    def __init__(self, d, skip, rnd=RNG):
        self.d, self.skip, self.rnd = d, skip, rnd
        self.log = d + ".cutfs"

    def env(self, cut_at, lie=None):
        if os.path.exists(self.log):
            os.unlink(self.log)
        self.disk = powercut.Disk(self.d, self.skip)
        return powercut.env(self.d, self.log, self.skip, cut_at, lie)

    def changes(self):
        return powercut.changes(self.log)

    def cut(self, mode=None):
        """The power goes: the folder as a disk could hold it. Returns the unsynced changes lost."""
        self.disk.replay(powercut.read_log(self.log))
        return self.disk.cut(self.rnd, mode or self.rnd.choice(("all", "random", "random")))


class Violations:
    def __init__(self, what):
        import threading
        self.what, self.found, self.lock = what, [], threading.Lock()

    def add(self, msg):
        with self.lock:
            self.found.append(msg)
            if len(self.found) <= MAX_REPORTED:
                print("# violation (%s): %s" % (self.what, msg.replace("\n", " ")), flush=True)


# ---- the till ----

def printed(d):
    """(seq, id) of every receipt the fake printer completed."""
    return receipts(d)


def copy_db(db, to):
    """A copy of a WAL database (with its WAL) to read without touching the original."""
    os.makedirs(to, exist_ok=True)
    for sfx in ("", "-wal"):
        if os.path.exists(db + sfx):
            shutil.copyfile(db + sfx, os.path.join(to, "j.db" + sfx))
    return os.path.join(to, "j.db")


def table(db, sql):
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute(sql).fetchall())
    finally:
        con.close()


def check_journal(d, v, tag):
    """The till's checks after a cut: verify, printed receipts, the projection."""
    db = os.path.join(d, "journal.db")
    if not os.path.exists(db):
        if printed(d):
            v.add("%s: the journal is gone but receipts were printed" % tag)
        return 0
    # Everything reads a copy (with its WAL, without the -shm), so that the till's next start
    # meets the files as the cut left them and recovers its WAL itself.
    work = d + ".check"
    shutil.rmtree(work, ignore_errors=True)
    copy = copy_db(db, work)
    p = run([CTL, "verify", copy], timeout=120)
    if p.returncode != 0:
        v.add("%s: verify failed: %s" % (tag, (p.stdout + p.stderr).strip()[-500:]))
        return 0
    ev = table(copy, "SELECT seq, id FROM events")
    by_seq = dict(ev)
    for seq, rid in printed(d):
        if by_seq.get(seq) != rid:
            v.add("%s: receipt #%d (id %s) was printed but the journal has %s" %
                  (tag, seq, rid, by_seq.get(seq)))
            break
    rebuilt = os.path.join(work, "rebuilt.db")
    p = run([CTL, "recover", copy, rebuilt], timeout=120)
    if p.returncode != 0:
        v.add("%s: recover failed: %s" % (tag, (p.stdout + p.stderr).strip()[-500:]))
        return len(ev)
    for t in ("stock", "counters"):
        have = table(copy, "SELECT * FROM %s" % t)
        want = table(rebuilt, "SELECT * FROM %s" % t)
        if have != want:
            diff = sorted(set(have) ^ set(want))[:4]
            v.add("%s: %s differ from the projection of the events: %s" % (tag, t, diff))
    return len(ev)


def agent_cuts(n, v, rnd, lie=None):
    """n cuts of a till selling alone; returns (cuts, lost changes)."""
    cuts = lost = 0
    d = None
    while cuts < n:
        # A fresh till every TILL_CUTS cuts: verify checks every signature each time, so a
        # journal that kept growing would make each cut dearer than the last.
        if d is None or cuts % TILL_CUTS == 0:
            if d and not v.found:  # the last till's files are kept only to look at a failure
                for p in (d, d + ".check"):
                    shutil.rmtree(p, ignore_errors=True)
                if os.path.exists(d + ".cutfs"):
                    os.unlink(d + ".cutfs")
            d = folder("pe-cut-agent")
            cutter = Cutter(d, AGENT_SKIP, rnd)
            # A first run that is not cut: its log sizes the cut points of a run.
            p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--shopper", "6", "--seed", "1"] + START,
                    env=cutter.env(0, lie), timeout=120)
            check(p.returncode == 0, "agent under cutfs: %s" % p.stderr[-2000:])
            span = max(10, cutter.changes())
        cut_at = rnd.randint(1, span)
        p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--shopper", "6",
                 "--seed", str(rnd.randrange(1 << 20))] + START,
                env=cutter.env(cut_at, lie), timeout=120)
        if p.returncode not in (0, -signal.SIGKILL):
            v.add("cut %d: the till did not start again after the previous cut (exit %d): %s" %
                  (cuts, p.returncode, p.stderr.strip()[-400:]))
            d = None
            cuts += 1
            continue
        lost += cutter.cut()
        cuts += 1
        check_journal(d, v, "agent cut %d at change %d" % (cuts, cut_at))
    return cuts, lost


def agent_cuts_parallel(n, v, lie=None, fleet=0):
    """agent_cuts in WORKERS threads (each its own till and random stream from the seed), and
    fleet_cuts (fleet cuts) in one more: the daemons and posedge-ctl run as processes, so one
    worker fills the waits of another."""
    import threading
    results = []
    per = [n // WORKERS + (1 if w < n % WORKERS else 0) for w in range(WORKERS)]

    def work(w):
        try:
            rnd = random.Random(SEED * 31 + w + 1)
            results.append(fleet_cuts(fleet, v, rnd) if w == WORKERS else
                           agent_cuts(per[w], v, rnd, lie))
        except Exception as e:  # reported as a violation: a worker never dies silently
            v.add("worker %d: %s" % (w, e))
            results.append((0, 0))
    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS + (fleet > 0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


@test
def till_journal_survives_power_cuts():
    n = max(1, int(CUTS * AGENT_SHARE) - FLEET_CUTS)
    t0 = time.monotonic()
    v = Violations("agent")
    cuts, lost = agent_cuts_parallel(n, v, fleet=FLEET_CUTS)
    TOTAL["cuts"] += cuts
    TOTAL["agent"] += cuts
    TOTAL["violations"] += len(v.found)
    TOTAL["lost"] += lost
    print("# till: cuts=%d (%d with fleet commands) violations=%d unsynced changes lost=%d "
          "(%.0fs)" % (cuts, FLEET_CUTS, len(v.found), lost, time.monotonic() - t0), flush=True)
    check(not v.found, "%d violations, first: %s" % (len(v.found), v.found[0] if v.found else ""))
    check(lost > 0, "no cut lost an unsynced change: the harness cut nothing")


@test
def selftest_a_disk_that_ignores_fsync_is_caught():
    v = Violations("agent lie=sync")
    cuts, _ = agent_cuts_parallel(60, v, lie="sync")
    TOTAL["cuts"] += 0  # the self-test's cuts are meant to fail: not in the total
    print("# self-test (fsync ignored): cuts=%d violations found=%d" % (cuts, len(v.found)),
          flush=True)
    check(len(v.found) > 0, "with fsync ignored the harness found no violation")


# ---- the till's small files: fleet-seen and remote-config.json (written with rename) ----

def fleet_cuts(n, v, rnd):
    """n cuts of a till daemon that takes fleet commands (set_config title=<unique>): a command
    answered ok must be in remote-config.json after the cut (the till persists it, with its
    request id in fleet-seen, before it answers), and the till must start again."""
    d = folder("pe-cut-fleet")
    m = Mosquitto(d).start()
    # A bridge (not cut) into the mock cluster takes the till's uplink throughout: after the
    # last cut the till must get everything delivered, and Kafka must hold its journal exactly.
    kproc, boot = mock_kafka()
    bd = os.path.join(d, "bridge")
    os.makedirs(bd)
    bridge = subprocess.Popen(
        [BRIDGE, "-c", BRIDGE_CONFIG, "--data-dir", bd, "--mqtt", m.addr, "--kafka", boot,
         "--set", "kafka.txn_interval_ms=50"], stdout=subprocess.DEVNULL,
        stderr=open(bd + ".log", "a"))
    td = os.path.join(d, "t01")
    cutter = Cutter(td, AGENT_SKIP, rnd)
    args = [AGENT, "-c", CONFIG, "--data-dir", td, "--mqtt", m.addr, "--set", "sim.open_hour=0",
            "--set", "sim.close_hour=23", "--set", "sim.tx_per_day=3000"] + START
    os.makedirs(td)
    lost = cuts = 0
    answered = None  # the last title the till said ok to
    issued = []      # every title sent, in order (one sent but not answered in time may be set)
    span = 0
    try:
        while cuts < n:
            cut_at = rnd.randint(1, span) if span else 0
            env = dict(os.environ)
            env.update(cutter.env(cut_at))
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                    stderr=open(td + ".log", "a"))
            for k in range(2):
                if proc.poll() is not None:
                    break
                title = "cut-%d-%d" % (cuts, k)
                issued.append(title)
                p = run([CTL, "fleet", "--mqtt", m.addr, "--store", "s001", "--terminal", "t01",
                         "--timeout", "3", "--json", "set_config", "key=title", "value=" + title],
                        timeout=60)
                if p.returncode == 0 and '"ok":true' in p.stdout.replace(" ", ""):
                    answered = title
            if proc.poll() is None:
                proc.kill()  # it wrote less than cut_at: the power goes now
            proc.wait()
            if not span:  # the first run, not cut, sizes the cut points
                span = max(10, cutter.changes())
                cutter.cut("all")
                continue
            lost += cutter.cut()
            cuts += 1
            if proc.returncode not in (0, -signal.SIGKILL):
                v.add("fleet cut %d: the till did not start again (exit %d, see %s.log)" %
                      (cuts, proc.returncode, td))
            rc_path = os.path.join(td, "remote-config.json")
            have = None
            if os.path.exists(rc_path):
                try:
                    with open(rc_path) as f:
                        have = json.load(f).get("title")
                except ValueError as e:
                    v.add("fleet cut %d at change %d: remote-config.json is damaged: %s" %
                          (cuts, cut_at, e))
                    continue
            if answered and have not in issued[issued.index(answered):]:
                v.add("fleet cut %d at change %d: set_config title=%s was answered ok, "
                      "remote-config.json holds %s" % (cuts, cut_at, answered, have))
                answered = have
            check_journal(td, v, "fleet cut %d at change %d" % (cuts, cut_at))
        p = run([AGENT, "-c", CONFIG, "--data-dir", td, "--mqtt", m.addr, "--shopper", "1",
                 "--seed", "7", "--wait-delivered", "90"] + START, timeout=150)
        if p.returncode != 0:
            v.add("fleet: the till's uplink did not resume after its cuts (exit %d): %s" %
                  (p.returncode, p.stderr.strip()[-300:]))
        p = run([CTL, "reconcile", "--brokers", boot, os.path.join(td, "journal.db")],
                timeout=300)
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
        print("# fleet: %d cuts of the till, then Kafka: %s" % (cuts, last), flush=True)
        if p.returncode != 0 or last != "missing=0 duplicates=0 mismatched=0":
            v.add("fleet: Kafka after the till's cuts: %s %s" % (last, p.stderr.strip()[-300:]))
    finally:
        for proc in (bridge, kproc):
            proc.kill()
            proc.wait()
        m.stop()
    return cuts, lost


# ---- the bridge ----

class Session:
    """A store for bridge cuts: mosquitto, a Kafka (the mock cluster, or the real broker), one
    till selling steadily (never cut), a watcher of the bridge's acks, and the bridge's folder."""

    def __init__(self, kafka_bootstrap, n, lie=None):
        self.n, self.lie = n, lie
        self.dir = folder("pe-cut-bridge")
        self.store = "pc%d" % n
        self.mqtt = Mosquitto(self.dir).start()
        self.kafka = kafka_bootstrap
        self.bdir = os.path.join(self.dir, "bridge")
        self.tdir = os.path.join(self.dir, "t01")
        os.makedirs(self.bdir)
        self.cutter = Cutter(self.bdir, BRIDGE_SKIP)
        self.acks = os.path.join(self.dir, "acks.txt")
        self.sub = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mqtt.port), "-v", "-t",
             "posedge/v1/%s/+/ack" % self.store], stdout=open(self.acks, "w"),
            stderr=subprocess.DEVNULL)
        self.bridge = None
        self.till = None

    def till_args(self, *extra):
        return [AGENT, "-c", CONFIG, "--data-dir", self.tdir, "--store", self.store,
                "--terminal", "t01", "--mqtt", self.mqtt.addr, "--set", "mqtt.keepalive_s=5",
                "--set", "uplink.resend_ms=300"] + START + list(extra)

    def start_till(self):
        self.till = subprocess.Popen(
            self.till_args("--set", "sim.open_hour=0", "--set", "sim.close_hour=23",
                           "--set", "sim.tx_per_day=30000", "--set", "sim.speed=15000",
                           "--set", "sim.seed=%d" % RNG.randrange(1 << 30)),
            stdout=subprocess.DEVNULL, stderr=open(self.tdir + ".log", "a"))

    def start_bridge(self, cut_at=0):
        env = dict(os.environ)
        env.update(self.cutter.env(cut_at, self.lie))
        self.bridge = subprocess.Popen(
            [BRIDGE, "-c", BRIDGE_CONFIG, "--data-dir", self.bdir, "--mqtt", self.mqtt.addr,
             "--kafka", self.kafka, "--set", "store=" + self.store, "--set",
             "kafka.txn_interval_ms=50"], env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.bdir + ".log", "a"))

    def acked(self):
        """The highest seq of t01 the bridge has acknowledged as spooled."""
        best = 0
        with open(self.acks, errors="replace") as f:
            for line in f:
                topic, _, body = line.partition(" ")
                if topic.endswith("/t01/ack"):
                    try:
                        best = max(best, int(json.loads(body).get("spooled", 0)))
                    except ValueError:
                        pass
        return best

    def spooled(self):
        """(watermark, rows) of t01 in the spool: rows counts seq pruned+1..watermark held."""
        db = os.path.join(self.bdir, "spool.db")
        if not os.path.exists(db):
            return 0, 0
        copy = copy_db(db, self.dir + "/check")
        con = sqlite3.connect(copy)
        try:
            row = con.execute("SELECT tid, spooled, pruned FROM terminals WHERE terminal='t01'")\
                .fetchone()
            if not row:
                return 0, 0
            tid, wm, pruned = row
            base = tid * 1099511627776
            n = con.execute("SELECT count(*) FROM spool WHERE k > ? AND k <= ?",
                            (base + pruned, base + wm)).fetchone()[0]
            return wm, n + pruned
        finally:
            con.close()

    def stop_till(self):
        if self.till and self.till.poll() is None:
            self.till.send_signal(signal.SIGTERM)
            self.till.wait(timeout=60)

    def close(self):
        for p in (self.till, self.bridge, self.sub):
            if p and p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        self.mqtt.stop()


def bridge_session(kafka_bootstrap, n, cuts, v, lie=None):
    """cuts power cuts of one bridge under a selling till, then recovery and the Kafka check.
    Returns the unsynced changes lost and reconcile's verdict."""
    s = Session(kafka_bootstrap, n, lie)
    lost = late = acked_max = 0
    try:
        s.start_till()
        # A first run that is not cut sizes the cut points (its changes in about a second).
        s.start_bridge(0)
        wait_until(lambda: s.acked() > 0, 60, "the first acknowledgement of the bridge")
        s.bridge.kill()
        s.bridge.wait()
        span = max(20, s.cutter.changes())
        s.cutter.cut("random")
        for i in range(cuts):
            cut_at = RNG.randint(1, span)
            s.start_bridge(cut_at)
            try:
                s.bridge.wait(timeout=3)
            except subprocess.TimeoutExpired:  # it wrote less than cut_at: the power goes now
                late += 1
                s.bridge.kill()
                s.bridge.wait()
            rc = s.bridge.returncode
            if rc not in (-signal.SIGKILL,):
                v.add("bridge cut %d: the bridge exited %d after the previous cut (see %s.log)" %
                      (i, rc, s.bdir))
            acked = s.acked()
            lost += s.cutter.cut()
            try:
                wm, held = s.spooled()
            except sqlite3.Error as e:
                v.add("bridge cut %d at change %d: the spool cannot be read: %s" % (i, cut_at, e))
                continue
            acked_max = max(acked_max, acked)
            if wm < acked or held < acked:
                v.add("bridge cut %d at change %d: seq up to %d was acknowledged as spooled, the "
                      "spool holds up to %d (%d rows)" % (i, cut_at, acked, wm, held))
        # Every uplink resumes: the bridge runs on, the till sells one more and waits until
        # the bridge reports all of it delivered.
        s.stop_till()
        s.start_bridge(0)
        p = run(s.till_args("--shopper", "1", "--seed", "7", "--wait-delivered", "90"),
                timeout=150)
        if p.returncode != 0:
            v.add("session %d: the uplink did not resume: not all delivered in 90 s (%s)" %
                  (n, p.stderr.strip()[-300:]))
        # Committed records become visible to a read_committed reader once Kafka has written
        # the transaction's markers, which a loaded broker may do a little later: reconcile
        # again until it is clean, for 60 s at most. A record that is really missing stays
        # missing, and is a violation; the first verdict is kept in the message.
        first, deadline = None, time.monotonic() + 60
        while True:
            p = run([CTL, "reconcile", "--brokers", kafka_bootstrap,
                     os.path.join(s.tdir, "journal.db")], timeout=300)
            last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
            ok = p.returncode == 0 and last == "missing=0 duplicates=0 mismatched=0"
            if ok or time.monotonic() > deadline:
                break
            first = first or last
            time.sleep(2)  # a new read of the topics, not a wait for an event we could see
        if first and ok:
            print("# session %d: reconcile was clean once Kafka caught up (first: %s)" %
                  (n, first), flush=True)
        if not ok:
            v.add("session %d: Kafka after recovery: %s (first: %s) %s" % (
                n, last, first, p.stderr.strip()[-300:]))
        s.bridge.send_signal(signal.SIGTERM)
        s.bridge.wait(timeout=60)
        print("# session %d: %d cuts (%d at the 3 s limit), acknowledged up to seq %d at a cut, "
              "%d unsynced changes lost" % (n, cuts, late, acked_max, lost), flush=True)
        return lost, last
    finally:
        s.close()


def mock_kafka():
    p = subprocess.Popen([CTL, "devkafka"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, bufsize=1)
    first = p.stdout.readline().strip()
    check(first.startswith("bootstrap="), "devkafka first line: %r" % first)
    return p, first.split("=", 1)[1]


BRIDGE_SESSION_CUTS = 25


@test
def bridge_spool_survives_power_cuts_mock_kafka():
    n = max(1, CUTS - int(CUTS * AGENT_SHARE) - BRIDGE_SESSION_CUTS)
    t0 = time.monotonic()
    v = Violations("bridge")
    proc, boot = mock_kafka()
    cuts = lost = 0
    try:
        session = 0
        while cuts < n:
            k = min(BRIDGE_SESSION_CUTS, n - cuts)
            session += 1
            got, last = bridge_session(boot, session, k, v)
            lost += got
            cuts += k
            print("# bridge session %d (mock Kafka): cuts=%d %s" % (session, k, last), flush=True)
    finally:
        proc.kill()
        proc.wait()
    TOTAL["cuts"] += cuts
    TOTAL["bridge"] += cuts
    TOTAL["violations"] += len(v.found)
    TOTAL["lost"] += lost
    print("# bridge (mock Kafka): cuts=%d violations=%d unsynced changes lost=%d (%.0fs)" %
          (cuts, len(v.found), lost, time.monotonic() - t0), flush=True)
    check(not v.found, "%d violations, first: %s" % (len(v.found), v.found[0] if v.found else ""))


@test
def selftest_a_bridge_disk_that_ignores_fsync_is_caught():
    proc, boot = mock_kafka()
    v = Violations("bridge lie=sync")
    try:
        bridge_session(boot, 99, 15, v, lie="sync")
    finally:
        proc.kill()
        proc.wait()
    print("# self-test (bridge, fsync ignored): cuts=15 violations found=%d" % len(v.found),
          flush=True)
    check(len(v.found) > 0, "with fsync ignored the harness found no violation in the spool")


@test
def bridge_spool_survives_power_cuts_real_kafka():
    from kafka import RealKafka
    t0 = time.monotonic()
    k = RealKafka(tmpdir("pe-cut-kafka")).start()
    v = Violations("bridge, real Kafka")
    try:
        lost, last = bridge_session(k.bootstrap, 100, BRIDGE_SESSION_CUTS, v)
    finally:
        k.stop()
    TOTAL["cuts"] += BRIDGE_SESSION_CUTS
    TOTAL["bridge"] += BRIDGE_SESSION_CUTS
    TOTAL["violations"] += len(v.found)
    TOTAL["lost"] += lost
    print("# bridge (real Kafka): cuts=%d violations=%d %s (%.0fs)" %
          (BRIDGE_SESSION_CUTS, len(v.found), last, time.monotonic() - t0), flush=True)
    check(not v.found, "%d violations, first: %s" % (len(v.found), v.found[0] if v.found else ""))


def total_line():
    print("# power-cut: agent %d cuts, bridge %d cuts, %d unsynced changes lost in all; seed %d" %
          (TOTAL["agent"], TOTAL["bridge"], TOTAL["lost"], SEED), flush=True)
    # make powercut ends with the bare line; under tests/run.sh it is a comment.
    prefix = "" if os.environ.get("POWERCUT_PLAIN") else "# "
    print("%spower-cut total: cuts=%d violations=%d" % (prefix, TOTAL["cuts"], TOTAL["violations"]),
          flush=True)


if __name__ == "__main__":
    print("# power-cut seed %d (POWERCUT_SEED)" % SEED, flush=True)
    try:
        main()
    finally:
        total_line()
