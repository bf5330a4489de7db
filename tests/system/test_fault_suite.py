#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The fault suite: nothing lost, nothing twice, through the whole pipeline into a real Kafka.

Every scenario runs tills under load (posedge-agent daemons on the sim board: a steady stream of
simulated customers), through the real mosquitto broker and posedge-bridge in transactional mode
into a real Apache Kafka broker (KRaft, one node, shared by the scenarios; each scenario is its
own store, so its records are its own), injects its faults, lets the system settle, and ends
with posedge-ctl reconcile (a read_committed consumer) expecting missing=0 duplicates=0
mismatched=0 against every till's journal:

  1. bridge    the bridge killed with kill -9 at random moments, and inside its transaction
               commit (PE_FAULT_TXN_KILL: just before Kafka commits, and just after)
  2. till      a till killed with kill -9 at random moments
  3. mqtt      the mosquitto broker killed and restarted
  4. kafka     the Kafka broker stopped (or killed) and restarted under load, once long enough
               for a spool backlog of more than 100,000 events, which then drains
  5. network   a till in its own network namespace behind a veth pair: link down and up,
               loss and delay with tc netem
  6. disk      the spool's file system full (a small tmpfs topped up by a filler file), then
               space back
  7. corrupt   a corrupt spool at start: the bridge refuses to start and names the file and the
               recovery; after the documented recovery it rebuilds from Kafka and the tills

Fault moments are random on purpose (that is the fault); every wait for an outcome polls a
condition with a deadline. The suite prints one line per scenario and a total line.
"""
import os
import random
import re
import signal
import subprocess
import time

from lib import (AGENT, BIN_RELEASE, CONFIG, SIM_START, Bridge, Failure, Mosquitto, check,
                 db_rows, main, reconcile, run, test, tmpdir, wait_until)
from kafka import RealKafka

KAFKA = None
TOTAL = {"scenarios": 0, "events": 0, "faults": 0, "missing": 0, "duplicates": 0,
         "mismatched": 0}
RELEASE_AGENT = os.path.join(BIN_RELEASE, "posedge-agent")
RNG = random.Random(int(os.environ.get("PE_FAULT_SEED", "0")) or None)


def kafka():
    global KAFKA
    if KAFKA is None:
        KAFKA = RealKafka(tmpdir("pe-faultsuite-kafka")).start()
    return KAFKA


def pause(lo, hi):
    """A random fault moment (the fault itself), never a way to wait for an outcome."""
    time.sleep(RNG.uniform(lo, hi))


class Till:
    """One till as a daemon selling to simulated customers at a steady pace."""

    def __init__(self, sc, terminal, rate="normal", netns=None, mqtt_addr=None, binary=None):
        self.sc, self.terminal, self.netns = sc, terminal, netns
        self.dir = os.path.join(sc.dir, terminal)
        self.mqtt_addr = mqtt_addr or sc.mqtt.addr
        self.binary = binary or AGENT
        self.rate = rate
        self.proc = None
        self.runs = 0

    def args(self, *extra):
        pre = ["ip", "netns", "exec", self.netns] if self.netns else []
        return pre + [self.binary, "-c", CONFIG, "--data-dir", self.dir, "--store", self.sc.store,
                      "--terminal", self.terminal, "--mqtt", self.mqtt_addr,
                      "--set", "mqtt.keepalive_s=5", "--set", "uplink.resend_ms=1000",
                      "--set", "sim.start=" + SIM_START] + list(extra)

    def start(self):
        self.runs += 1
        # Shop open 0-23 h; "normal" is a few hundred events a second, "max" as fast as it can.
        pace = (["--set", "sim.tx_per_day=30000", "--set", "sim.speed=15000"] if self.rate == "normal"
                else ["--set", "sim.tx_per_day=100000", "--set", "sim.speed=1000000"])
        self.proc = subprocess.Popen(
            self.args("--set", "sim.open_hour=0", "--set", "sim.close_hour=23",
                      "--set", "sim.seed=%d" % (RNG.randrange(1 << 30)), *pace),
            stdout=subprocess.DEVNULL, stderr=open(self.dir + ".log", "a"))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            # -SIGTERM: the signal came before the agent's handler was in place (just started);
            # it dies as the signal says, and its journal is whole (reconcile checks it all).
            check(rc in (0, -signal.SIGTERM), "till %s exit status %d (see %s.log)" %
                  (self.terminal, rc, self.dir))

    def events(self):
        path = os.path.join(self.dir, "journal.db")
        if not os.path.exists(path):
            return 0
        return db_rows(path, "SELECT count(*) FROM events")[0][0]

    def finish(self, timeout=240):
        """One more customer, then wait until the bridge reports everything delivered."""
        p = run(self.args("--shopper", "1", "--seed", "7", "--wait-delivered", str(timeout)),
                timeout=timeout + 60)
        check(p.returncode == 0, "till %s: not everything delivered within %ds (see %s)" %
              (self.terminal, timeout, self.dir))

    @property
    def journal(self):
        return os.path.join(self.dir, "journal.db")


class Scenario:
    def __init__(self, number, name, mqtt_also_on=(), bridge_dir=None):
        self.number, self.name = number, name
        self.store = "fs%d" % number
        self.dir = tmpdir("pe-fault%d" % number)
        self.mqtt = Mosquitto(self.dir, also_on=mqtt_also_on).start()
        self.bridge = Bridge(self.dir, self.mqtt.addr, kafka().bootstrap, "--set",
                             "store=" + self.store, "--set", "kafka.txn_interval_ms=50")
        if bridge_dir:
            self.bridge.dir = bridge_dir
            self.bridge.args[self.bridge.args.index("--data-dir") + 1] = bridge_dir
        self.tills = []
        self.faults = 0

    def till(self, terminal, **kw):
        t = Till(self, terminal, **kw)
        self.tills.append(t)
        return t

    def bridge_state(self):
        """The bridge's retained state document (pending = spooled, not yet in Kafka)."""
        p = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mqtt.port), "-t",
                 "posedge/v1/%s/bridge/state" % self.store, "-C", "1", "-W", "5"])
        import json
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {}

    def settle(self):
        """Stop the load, make sure the bridge runs, and wait until every till is delivered."""
        for t in self.tills:
            t.stop()
        if not (self.bridge.proc and self.bridge.proc.poll() is None):
            self.bridge.start()
        for t in self.tills:
            t.finish()

    def reconcile(self):
        p, last = reconcile(kafka().bootstrap, [t.journal for t in self.tills], check_rc=None)
        counts = dict(kv.split("=") for kv in last.split()) if "missing=" in last else {}
        events = sum(int(m) for m in re.findall(r"journal=(\d+)", p.stdout))
        line = ("scenario %d %-8s events=%d faults=%d missing=%s duplicates=%s mismatched=%s" %
                (self.number, self.name, events, self.faults, counts.get("missing", "?"),
                 counts.get("duplicates", "?"), counts.get("mismatched", "?")))
        print("# " + line, flush=True)
        TOTAL["scenarios"] += 1
        TOTAL["events"] += events
        TOTAL["faults"] += self.faults
        for k in ("missing", "duplicates", "mismatched"):
            TOTAL[k] += int(counts.get(k, 1))
        check(p.returncode == 0 and last == "missing=0 duplicates=0 mismatched=0",
              "reconcile: %s\n%s" % (last, p.stdout[-3000:] + p.stderr[-2000:]))
        return events

    def close(self):
        for t in self.tills:
            try:
                t.kill()
            except Exception:
                pass
        for p in (self.bridge.stop, self.mqtt.stop):
            try:
                p()
            except Exception:
                pass


def bridge_up(sc):
    """Wait until the bridge is connected and has acknowledged the tills again."""
    wait_until(lambda: sc.bridge_state().get("state") in ("online", "spool_full"), 60,
               "the bridge's online state")


@test
def s1_bridge_kill9_at_random_moments_and_inside_commits():
    sc = Scenario(1, "bridge")
    try:
        sc.bridge.start()
        for t in ("t01", "t02"):
            sc.till(t).start()
        kinds = {"random": 0, "before_commit": 0, "after_commit": 0}
        for i in range(39):
            kind = ("random", "before_commit", "after_commit")[i % 3]
            if kind == "random":
                pause(0.2, 1.5)
                check(sc.bridge.proc.poll() is None, "the bridge died by itself (see %s)" %
                      sc.bridge.logpath)
                sc.bridge.kill()
            else:
                # Restart with the fault armed: the bridge kills itself inside its N-th commit.
                sc.bridge.kill()
                n = RNG.randint(1, 4)
                os.environ["PE_FAULT_TXN_KILL"] = "%s:%d" % (kind.split("_")[0], n)
                try:
                    sc.bridge.start()
                finally:
                    del os.environ["PE_FAULT_TXN_KILL"]
                wait_until(lambda: sc.bridge.proc.poll() is not None, 60,
                           "the bridge to kill itself at %s commit %d" % (kind, n))
                check(sc.bridge.proc.returncode == -signal.SIGKILL,
                      "bridge exit %d, expected SIGKILL" % sc.bridge.proc.returncode)
            kinds[kind] += 1
            sc.faults += 1
            sc.bridge.start()
        print("# bridge kills: %s" % kinds, flush=True)
        text = sc.bridge.logtext()
        check(text.count("PE_FAULT_TXN_KILL=before") == kinds["before_commit"] and
              text.count("PE_FAULT_TXN_KILL=after") == kinds["after_commit"],
              "every armed commit kill happened")
        sc.settle()
        check(sc.reconcile() > 1000, "too little load")
    finally:
        sc.close()


@test
def s2_till_kill9_at_random_moments():
    sc = Scenario(2, "till")
    try:
        sc.bridge.start()
        a, b = sc.till("t01").start(), sc.till("t02").start()
        for i in range(36):
            pause(0.2, 1.2)
            victim = a if i % 2 == 0 else b
            check(victim.alive(), "till %s died by itself" % victim.terminal)
            victim.kill()
            sc.faults += 1
            victim.start()
        sc.settle()
        sc.reconcile()
    finally:
        sc.close()


@test
def s3_mosquitto_killed_and_restarted():
    sc = Scenario(3, "mqtt")
    try:
        sc.bridge.start()
        for t in ("t01", "t02"):
            sc.till(t).start()
        for i in range(8):
            pause(1.0, 3.0)
            sc.mqtt.kill()
            sc.faults += 1
            pause(0.2, 2.0)
            sc.mqtt.start()
        sc.settle()
        sc.reconcile()
    finally:
        sc.close()


@test
def s4_kafka_stopped_and_restarted_with_a_100k_backlog():
    k = kafka()
    sc = Scenario(4, "kafka")
    try:
        sc.bridge.start()
        tills = [sc.till(t, rate="max", binary=RELEASE_AGENT).start() for t in ("t01", "t02")]
        backlog = 0
        for i in range(3):
            pause(1.0, 3.0)
            (k.stop if i != 1 else k.kill)()
            sc.faults += 1
            if i == 2:
                # Away long enough for a backlog of 100,000 events in the spool. Two signing
                # tills fill it at about 500 events a second on two idle cores (each sale is
                # signed twice); the deadline leaves room for a loaded machine.
                wait_until(lambda: sc.bridge_state().get("pending", 0) >= 100000, 900,
                           "a spool backlog of 100,000 events")
                backlog = sc.bridge_state().get("pending", 0)
            else:
                pause(2.0, 5.0)
            k.start()
        for t in tills:
            t.stop()
        print("# spool backlog when Kafka came back: %d events" % backlog, flush=True)
        t0 = time.monotonic()
        wait_until(lambda: sc.bridge_state().get("pending", 1) == 0, 300, "the backlog drained")
        print("# drained in %.1fs" % (time.monotonic() - t0), flush=True)
        sc.settle()
        sc.reconcile()
        # The scale, counted as the spool counted its backlog: every event of the journals
        # (reconcile's count leaves out the types that go to topics it does not read).
        events = sum(t.events() for t in tills)
        check(events >= 100000, "fewer than 100,000 events: %d" % events)
    finally:
        sc.close()
        # The next scenarios share this Kafka: a failure above must not leave it stopped.
        if not k.running():
            k.start()


class Netns:
    """A network namespace joined to the root one by a veth pair: host 10.231.N.1, till .2."""

    def __init__(self, n):
        tag = "%d%d" % (os.getpid() % 10000, n)
        self.ns = "pe-ns-" + tag
        self.host_if, self.ns_if = "peh" + tag, "pet" + tag
        self.host_ip, self.ns_ip = "10.231.%d.1" % n, "10.231.%d.2" % n
        sh = lambda *c: run(list(c), check_rc=0, timeout=30)
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", self.ns_ip + "/30", "dev",
           self.ns_if)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.ns_if, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        self.netem_ok = self.has_netem()

    def link(self, up):
        run(["ip", "link", "set", self.host_if, "up" if up else "down"], check_rc=0)

    def has_netem(self):
        p = run(["tc", "qdisc", "add", "dev", self.host_if, "root", "netem", "delay", "1ms"])
        run(["tc", "qdisc", "del", "dev", self.host_if, "root"])
        return p.returncode == 0

    def netem(self, loss_pct, delay_ms):
        """Loss and delay on both ends of the link (0, 0 removes them). With tc netem when the
        kernel has it; without it (some VM kernels lack sch_netem) the same two faults are
        made from what such kernels do have: random loss with iptables' statistic match in
        both namespaces, and delay as the queueing delay of a tbf rate limit."""
        ends = (([], self.host_if), (["ip", "netns", "exec", self.ns], self.ns_if))
        for pre, dev in ends:
            run(pre + ["tc", "qdisc", "del", "dev", dev, "root"])
            run(pre + ["iptables", "-F", "OUTPUT"])
        if not (loss_pct or delay_ms):
            return "none"
        if self.netem_ok:
            spec = ["loss", "%d%%" % loss_pct, "delay", "%dms" % delay_ms, "%dms" % (delay_ms // 2)]
            for pre, dev in ends:
                run(pre + ["tc", "qdisc", "add", "dev", dev, "root", "netem"] + spec, check_rc=0)
            return "netem " + " ".join(spec)
        how = []
        for pre, dev in ends:
            if loss_pct:
                run(pre + ["iptables", "-A", "OUTPUT", "-o", dev, "-m", "statistic", "--mode",
                           "random", "--probability", "%.2f" % (loss_pct / 100.0), "-j", "DROP"],
                    check_rc=0)
            if delay_ms:
                # At 256 kbit/s a full 16 KB queue is about delay_ms of waiting.
                run(pre + ["tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "256kbit",
                           "burst", "4kb", "latency", "%dms" % delay_ms], check_rc=0)
        if loss_pct:
            how.append("iptables statistic loss %d%%" % loss_pct)
        if delay_ms:
            how.append("tbf latency %dms" % delay_ms)
        return " + ".join(how)

    def close(self):
        run(["ip", "link", "del", self.host_if])
        run(["ip", "netns", "del", self.ns])


@test
def s5_network_partition_loss_and_delay():
    net = Netns(5)
    sc = None
    try:
        sc = Scenario(5, "network", mqtt_also_on=(net.host_ip,))
        sc.bridge.start()
        far = sc.till("t01", netns=net.ns, mqtt_addr="%s:%d" % (net.host_ip, sc.mqtt.port))
        far.start()
        near = sc.till("t02").start()
        for i in range(8):
            pause(0.5, 2.0)
            net.link(False)
            sc.faults += 1
            # Short cuts that TCP rides out, and long ones past the 5 s keepalive.
            pause(0.5, 2.0) if i % 2 == 0 else pause(8.0, 10.0)
            net.link(True)
        for loss, delay in ((20, 40), (0, 300), (50, 0), (10, 100)):
            how = net.netem(loss, delay)
            print("# link: %s" % how, flush=True)
            sc.faults += 1
            pause(2.0, 4.0)
        net.netem(0, 0)
        check(far.alive() and near.alive(), "a till died")
        sc.settle()
        sc.reconcile()
    finally:
        if sc:
            sc.close()
        net.close()


@test
def s6_spool_disk_full_then_space_back():
    sc = Scenario(6, "disk")
    flag = os.path.join(sc.dir, "disk-full")
    os.environ["PE_FAULT_SPOOL_FULL"] = flag  # the test bridge's injected full disk
    try:
        sc.bridge.start()
        tills = [sc.till(t).start() for t in ("t01", "t02")]
        for i in range(4):
            pause(1.0, 3.0)
            open(flag, "w").close()  # from now on every spool write fails as on a full disk
            sc.faults += 1
            before = [t.events() for t in tills]
            wait_until(lambda: sc.bridge.logtext().count("spool_commit_failed") > i, 60,
                       "the bridge to fail a spool commit on the full disk")
            # The tills keep selling and keep their events; the bridge acknowledges nothing.
            wait_until(lambda: all(t.events() > n + 200 for t, n in zip(tills, before)), 60,
                       "the tills to keep selling while the spool is full")
            os.unlink(flag)
        check(sc.bridge.proc.poll() is None, "the bridge exited on a full disk")
        sc.settle()
        sc.reconcile()
    finally:
        del os.environ["PE_FAULT_SPOOL_FULL"]
        sc.close()


@test
def s7_corrupt_spool_refused_then_rebuilt():
    sc = Scenario(7, "corrupt")
    try:
        sc.bridge.start()
        tills = [sc.till(t).start() for t in ("t01", "t02")]
        pause(3.0, 5.0)
        # Load enough to matter in the spool that is about to be damaged, however slow the box.
        wait_until(lambda: all(t.events() > 500 for t in tills), 120, "500 events from each till")
        sc.bridge.stop()
        spool = os.path.join(sc.bridge.dir, "spool.db")
        size = os.path.getsize(spool)
        check(size > 64 * 1024, "spool only %d bytes" % size)
        with open(spool, "r+b") as f:
            # Garbage over the header of every page after the first: whichever pages hold the
            # tables now, their b-tree structure is broken.
            for off in range(4096, size, 4096):
                f.seek(off)
                f.write(bytes(RNG.randrange(256) for _ in range(64)))
        sc.faults += 1
        # The installation check sees it too, without changing anything.
        p = run(sc.bridge.args + ["--self-test"], timeout=30)
        check(p.returncode == 1 and ("FAIL spool " + spool) in p.stdout,
              "--self-test on a corrupt spool: status %d\n%s" % (p.returncode, p.stdout))
        p = run(sc.bridge.args, timeout=30)
        check(p.returncode == 4, "a corrupt spool must be refused (exit 4), got %d" % p.returncode)
        check(spool in p.stderr and "damaged" in p.stderr and "move" in p.stderr,
              "the refusal names the file and the recovery: %s" % p.stderr[-1500:])
        # The documented recovery: move the damaged spool aside and start again.
        for ext in ("", "-wal", "-shm"):
            if os.path.exists(spool + ext):
                os.rename(spool + ext, spool + ".damaged" + ext)
        sc.bridge.start()
        wait_until(lambda: "bridge.recovered" in sc.bridge.logtext(), 60,
                   "the new spool brought forward to Kafka's committed state")
        sc.settle()
        sc.reconcile()
        check(all(t.events() > 500 for t in tills), "too little load")
    finally:
        sc.close()


@test
def total_line():
    """The suite's totals: the issue asks for at least 100 injected faults per run."""
    print("# fault suite total: scenarios=%d events=%d faults=%d missing=%d duplicates=%d "
          "mismatched=%d" % (TOTAL["scenarios"], TOTAL["events"], TOTAL["faults"],
                             TOTAL["missing"], TOTAL["duplicates"], TOTAL["mismatched"]),
          flush=True)
    check(TOTAL["scenarios"] == 7, "only %d of 7 scenarios finished" % TOTAL["scenarios"])
    check(TOTAL["faults"] >= 100, "only %d faults injected" % TOTAL["faults"])
    check(TOTAL["missing"] == TOTAL["duplicates"] == TOTAL["mismatched"] == 0, "losses")


if __name__ == "__main__":
    failed = True
    try:
        main()
    except SystemExit as e:
        failed = e.code != 0
        raise
    finally:
        if KAFKA is not None:
            KAFKA.close(failed)  # the broker's log is kept when something failed
