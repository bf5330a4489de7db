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
import subprocess
import time

from kafka import RealKafka
from lib import (AGENT, CONFIG, CTL, Bridge, DevKafka, Mosquitto, agent, check, main, reconcile,
                 run, test, tmpdir, wait_until)


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
                "--mqtt", self.mqtt.addr]

    def shop(self, terminal, n, seed, wait=120, check_rc=0):
        return agent(self.till(terminal), "--terminal", terminal, "--mqtt", self.mqtt.addr,
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
        check(seen[1] == "pos.reports", "shift_open goes to pos.reports")
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
              "--seed", "5")
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


def kill9_loop(s, kills):
    """Two tills under load while the bridge is killed with kill -9 at random moments."""
    rnd = random.Random(7)
    tills = [s.spawn("t%02d" % i, 3000, 10 + i, wait=600) for i in (1, 2)]
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
    # Volume stays under what the mock cluster keeps per partition (about 5 MB).
    s = Store("--set", "kafka.mode=idempotent")
    try:
        p, c, last = kill9_loop(s, 20)
        check(c["missing"] == "0" and c["mismatched"] == "0", last + "\n" + p.stdout[-3000:])
        check("mode=idempotent" in s.bridge.logtext(), "the bridge ran in idempotent mode")
        print("# idempotent mode, bridge kill -9 x20: duplicates in Kafka %s" % c["duplicates"])
    finally:
        s.close()


def pub(s, topic, payload, raw=False):
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(s.mqtt.port), "-q", "1", "-t", topic]
    if raw:
        args += ["-f", payload]
    else:
        args += ["-m", payload]
    run(args, check_rc=0)


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
            ("posedge/v1/s001/t01/events", recs[1].replace('"qty":', '"qty": '), False,
             "not canonical"),
        ]
        # A seq regression: a valid record of t01 from another journal (a till reinstalled
        # without its journal) claims a seq the spool already holds with other content.
        other = os.path.join(s.dir, "other-t01")
        agent(other, "--terminal", "t01", "--shopper", "2", "--seed", "99")
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
                       "posedge/v1/s001/_bridge/state", "-C", "1", "-W", "10"], check_rc=0)
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
                         os.path.join(BIN_RELEASE, "posedge-bridge")] + s.bridge.args[1:]
        s.bridge.start()
        s.shop("t01", 60, 14, wait=180)
        s.bridge.stop()  # checks exit status 0: valgrind exits 9 on any error or definite leak
        p, last = s.reconcile("t01")
        check(last == "missing=0 duplicates=0 mismatched=0", last)
    finally:
        s.close()


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
