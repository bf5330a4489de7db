#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the till's fleet channel (agent/fleet.c; docs/protocol.md "Fleet state" and
"Fleet commands") against the real mosquitto broker, and of posedge-agent --self-test.

A till first trades a short day from tests/system/scenarios/day.jsonl (so its journal holds
every event type), then runs as a daemon on the sim board at real speed with the simulated shop
closed for the next hours (its clock starts at 21:00 of the scenario's day, the shop opens at
08:00): the till sits idle with no shift open, as a store's tills do at night when HQ runs its
commands, whatever the time of day the test runs at. Commands are published with
mosquitto_pub; one mosquitto_sub started before them collects the answers, and each wait polls
for the answer with its request id against a deadline. Covered: every field of the retained
state document and its refresh on change, each command's effect on the journal, the receipts
and the uplink, every refusal (bad_request, unknown_command, bad_args, replayed across a
restart, retained, expired, a Z report while a shift is open), set_config applied live and by a
restart (exit status 75, the setting persisted), the clean-exit offline state and the will, and
the self-test's verdicts.
"""
import datetime
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import uuid

from lib import (AGENT, CONFIG, PIN, SRC, Mosquitto, check, db_rows, main, now, run,
                 softhsm_token, test, tmpdir, wait_until)

SCENARIO = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")
DAY = "2026-11-21T"  # the day of SCENARIO's clock, from 08:00
TOPIC = "posedge/v1/s001/t01/"


def version():
    with open(os.path.join(SRC, "pkg", "changelog")) as f:
        return re.match(r"^\S+ \(([^)]+)\)", f.readline()).group(1)


def last_event(data_dir):
    return db_rows(os.path.join(data_dir, "journal.db"),
                   "SELECT seq, type, record FROM events ORDER BY seq DESC LIMIT 1")[0]


class Answers:
    """One mosquitto_sub on .../cmd/res, started before any command is sent."""

    def __init__(self, broker, d, terminal="t01"):
        self.path = os.path.join(d, "answers-%s.txt" % terminal)
        self.out = open(self.path, "w")
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-t",
             "posedge/v1/s001/%s/cmd/res" % terminal, "-F", "%p"],
            stdout=self.out, stderr=subprocess.STDOUT)
        self.broker = broker
        self.topic = "posedge/v1/s001/%s/cmd/res" % terminal
        # Subscribed once our own probe on the answer topic comes back.
        probe = "probe-%s" % uuid.uuid4()
        wait_until(lambda: self._publish_probe(probe) and probe in self.text(), 20,
                   "the answer subscription")

    def _publish_probe(self, probe):
        run(["mosquitto_pub", "-p", str(self.broker.port), "-t", self.topic, "-m",
             json.dumps({"id": probe})], timeout=30, check_rc=0)
        return True

    def text(self):
        with open(self.path) as f:
            return f.read()

    def all(self):
        out = []
        for line in self.text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def get(self, rid, timeout=20):
        found = []

        def seen():
            found[:] = [a for a in self.all() if a.get("id") == rid and "ok" in a]
            return found
        wait_until(seen, timeout, "the answer to %s" % rid)
        return found[0]

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.out.close()


def send(broker, payload, retain=False, terminal="t01"):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t",
         "posedge/v1/s001/%s/cmd" % terminal, "-m", text] + (["-r"] if retain else []),
        timeout=30, check_rc=0)


def command(broker, answers, cmd, args=None, rid=None, **extra):
    rid = rid or "t-%s" % uuid.uuid4()
    msg = {"id": rid, "cmd": cmd}
    if args is not None:
        msg["args"] = args
    msg.update(extra)
    send(broker, msg)
    return answers.get(rid)


def retained_state(broker, terminal="t01"):
    p = run(["mosquitto_sub", "-p", str(broker.port), "-t", "posedge/v1/s001/%s/state" % terminal,
             "-C", "1", "-W", "5"], timeout=30)
    return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None


class Till:
    """A daemon till with the shop closed, its uplink on the broker."""

    def __init__(self, broker, d, *extra):
        self.d = d
        self.broker = broker
        self.extra = list(extra)
        self.proc = None

    def start(self, *more):
        # The sim clock starts at 21:00 of the day (or just after the journal's last event, a
        # restart's), the shop closed (sim.close_hour 20) until 08:00: 11 h at sim.speed=1.
        self.log = open(os.path.join(self.d, "agent.log"), "a")
        self.proc = subprocess.Popen(
            [AGENT, "-c", CONFIG, "--data-dir", self.d, "--mqtt", self.broker.addr,
             "--set", "sim.speed=1", "--set", "sim.start=%s21:00:00.000Z" % DAY,
             "--set", "sim.open_hour=8", "--set", "sim.close_hour=20",
             "--set", "fleet.state_interval_s=1"]
            + self.extra + list(more), stdout=self.log, stderr=self.log)
        wait_until(lambda: (retained_state(self.broker) or {}).get("state") == "online" and
                   (retained_state(self.broker) or {}).get("started", "") > self.started_after,
                   30, "the till's online state")
        return self

    @property
    def started_after(self):
        return getattr(self, "_after", "")

    def mark(self):
        self._after = datetime.datetime.fromtimestamp(now(), datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z")  # by the agent's clock, which says when it started

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc


def setup(name, *extra, before_start=None):
    d = tmpdir(name)
    data = os.path.join(d, "t01")
    run([AGENT, "-c", CONFIG, "--data-dir", data, "--scenario", SCENARIO], timeout=120,
        check_rc=0)
    broker = Mosquitto(d).start()
    answers = Answers(broker, d)
    if before_start:
        before_start(broker)
    till = Till(broker, data, *extra)
    till.mark()
    try:
        till.start()
    except Exception:  # a till that never came online is stopped with the rest, not left behind
        teardown(broker, till, answers)
        raise
    return d, data, broker, till, answers


def teardown(broker, till, answers):
    rc = till.stop()
    answers.close()
    broker.stop()
    return rc


@test
def state_document_has_every_field():
    d, data, broker, till, answers = setup("pe-fleet-state")
    try:
        st = retained_state(broker)
        seq = last_event(data)[0]
        for k in ("state", "ts", "version", "board", "store", "terminal", "started", "uptime_s",
                  "seq", "spooled", "delivered", "oldest_pending_ts", "oldest_pending_age_s",
                  "journal_bytes", "free_disk_bytes", "shift", "operator", "devices", "signer",
                  "alarms"):
            check(k in st, "state document lacks %s: %s" % (k, st))
        check(st["state"] == "online" and st["version"] == version() and st["board"] == "sim",
              "state/version/board: %s" % st)
        check(st["store"] == "s001" and st["terminal"] == "t01", "ids: %s" % st)
        check(st["seq"] == seq, "seq %s, journal's last is %d" % (st["seq"], seq))
        check(st["spooled"] == 0 and st["delivered"] == 0, "no bridge yet: %s" % st)
        first = json.loads(db_rows(os.path.join(data, "journal.db"),
                                   "SELECT record FROM events WHERE seq = 1")[0][0])
        check(st["oldest_pending_ts"] == first["ts"],
              "oldest pending is seq 1's ts %s: %s" % (first["ts"], st["oldest_pending_ts"]))
        size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
                   if f in ("journal.db", "journal.db-wal"))
        check(st["journal_bytes"] == size, "journal_bytes %s, files %d" % (st["journal_bytes"], size))
        check(st["free_disk_bytes"] > 0, "free disk: %s" % st["free_disk_bytes"])
        check(st["shift"] == "closed", "the day ended with the shift closed: %s" % st["shift"])
        check(sorted(st["devices"]) == ["display", "keypad", "payment", "printer", "scale",
                                        "scanner"], "devices: %s" % st["devices"])
        check(all(v == {"driver": "fake", "status": "ok"} for v in st["devices"].values()),
              "devices: %s" % st["devices"])
        check(st["signer"] == {"status": "ok", "outages": 0, "alarm": False, "down_since": None,
                               "down_seq": None, "down_s": None, "unsigned": 0}
              and st["alarms"] == [], "signer: %s, alarms: %s" % (st["signer"], st["alarms"]))
        # A bridge's ack moves the watermarks: the document follows within a second or so.
        run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-r", "-t", TOPIC + "ack",
             "-m", json.dumps({"spooled": seq, "delivered": seq})], timeout=30, check_rc=0)
        wait_until(lambda: (retained_state(broker) or {}).get("delivered") == seq, 15,
                   "delivered=%d in the state" % seq)
        st = retained_state(broker)
        check(st["oldest_pending_ts"] is None and st["oldest_pending_age_s"] is None,
              "nothing pending: %s" % st)
    finally:
        rc = teardown(broker, till, answers)
    check(rc == 0, "clean stop: exit status %s" % rc)


@test
def offline_on_clean_exit_and_will_on_kill():
    d, data, broker, till, answers = setup("pe-fleet-offline")
    try:
        till.stop()
        st = retained_state(broker)
        check(st["state"] == "offline" and st["seq"] == last_event(data)[0],
              "a clean exit says offline with its fields: %s" % st)
        till.mark()
        till.start()
        till.proc.kill()
        till.proc.wait(timeout=30)
        wait_until(lambda: retained_state(broker) == {"state": "offline"}, 20,
                   "the will (bare offline)")
    finally:
        teardown(broker, till, answers)


@test
def commands_ping_status_reports_reprint_resend():
    d, data, broker, till, answers = setup("pe-fleet-cmds")
    try:
        a = command(broker, answers, "ping")
        check(a["ok"] and a["result"] == {"pong": True, "version": version()} and
              a["terminal"] == "t01" and a["cmd"] == "ping", "ping: %s" % a)
        a = command(broker, answers, "status")
        check(a["ok"] and a["result"]["seq"] == last_event(data)[0] and
              a["result"]["state"] == "online", "status: %s" % a)

        before = last_event(data)[0]
        a = command(broker, answers, "x_report", {"operator": "boss"})
        check(a["ok"] and a["result"]["seq"] == before + 1, "x_report: %s" % a)
        seq, typ, rec = last_event(data)
        rec = json.loads(rec)
        check(typ == "x_report" and rec["operator"] == "boss", "journal: %s %s" % (typ, rec))
        check(a["result"]["report"] == rec["body"] and a["result"]["number"] == rec["body"]["number"],
              "the answer carries the committed report: %s" % a["result"])

        a = command(broker, answers, "z_report")
        seq, typ, rec = last_event(data)
        rec = json.loads(rec)
        check(a["ok"] and typ == "z_report" and a["result"]["seq"] == seq and
              rec["operator"] == "hq", "z_report: %s / %s %s" % (a, typ, rec))
        zs = db_rows(os.path.join(data, "journal.db"),
                     "SELECT count(*) FROM events WHERE type = 'z_report'")[0][0]
        check(a["result"]["number"] == zs, "Z number %s, Z reports in the journal %d"
              % (a["result"]["number"], zs))
        wait_until(lambda: (retained_state(broker) or {}).get("seq") == seq, 15,
                   "the state document's seq after the Z report")

        with open(os.path.join(data, "receipts.txt")) as f:
            printed = f.read().count("*** COPY - REPRINT ***")
        a = command(broker, answers, "reprint", {"seq": 4})  # seq 1 installs the signing key
        check(a["ok"] and a["result"] == {"seq": 4, "type": "sale"}, "reprint: %s" % a)
        with open(os.path.join(data, "receipts.txt")) as f:
            text = f.read()
        check(text.count("*** COPY - REPRINT ***") == printed + 2,
              "the copy is marked above and below")
        a = command(broker, answers, "reprint")
        check(a["ok"] and a["result"]["seq"] == seq, "reprint of the last: %s" % a)

        # resend_from: with the bridge's ack at the end the uplink is quiet; resend_from 2 sends
        # the journal again from seq 2 whatever the ack says.
        run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-r", "-t", TOPIC + "ack",
             "-m", json.dumps({"spooled": seq, "delivered": seq})], timeout=30, check_rc=0)
        wait_until(lambda: (retained_state(broker) or {}).get("spooled") == seq, 15,
                   "the ack taken")
        ev_path = os.path.join(d, "events.txt")
        with open(ev_path, "w") as ev:
            sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-t",
                                    TOPIC + "events", "-F", "%p"], stdout=ev)
            try:
                # The subscription is in place when a probe on the topic comes back.
                wait_until(lambda: run(["mosquitto_pub", "-p", str(broker.port), "-t",
                                        TOPIC + "events", "-m", "probe"], timeout=30).returncode
                           == 0 and "probe" in open(ev_path).read(), 20, "events subscription")
                a = command(broker, answers, "resend_from", {"seq": 2})
                check(a["ok"] and a["result"] == {"from": 2, "to": seq}, "resend_from: %s" % a)
                wait_until(lambda: '"seq":%d,' % seq in open(ev_path).read(), 20,
                           "the resent records")
            finally:
                sub.terminate()
                sub.wait(timeout=10)
        # Event lines of format 2: the record, then after a tab its signature.
        seqs = [json.loads(l.split("\t", 1)[0])["seq"] for l in open(ev_path).read().splitlines()
                if l.startswith("{")]
        check(seqs[:1] == [2] and sorted(set(seqs)) == list(range(2, seq + 1)),
              "resent from 2 to %d: %s" % (seq, seqs[:10]))
    finally:
        rc = teardown(broker, till, answers)
    check(rc == 0, "exit status %s" % rc)


@test
def refusals_name_their_reason():
    # A retained command waits on the broker before the till first subscribes: a broker hands
    # retained messages (flagged) to new subscriptions only, which is when one would run again.
    ret_id = "ret-%s" % uuid.uuid4()
    d, data, broker, till, answers = setup(
        "pe-fleet-refuse", before_start=lambda b: send(b, {"id": ret_id, "cmd": "z_report"},
                                                         retain=True))
    try:
        a = answers.get(ret_id)
        check(not a["ok"] and a["error"] == "retained", "retained: %s" % a)
        run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-r", "-n", "-t",
             TOPIC + "cmd"], timeout=30, check_rc=0)
        events = last_event(data)[0]
        cases = [
            ("nope", None, "unknown_command", "nope"),
            ("ping", {"x": 1}, "bad_args", "unknown argument"),
            ("z_report", {"operator": "no spaces"}, "bad_args", "operator"),
            ("reprint", {"seq": 999999}, "bad_args", "no event 999999"),
            ("reprint", {"seq": "3"}, "bad_args", "positive integer"),
            ("resend_from", {}, "bad_args", "seq"),
            ("resend_from", {"seq": 999999}, "bad_args", "last seq"),
            ("set_config", {"key": "log_level", "value": "loud"}, "bad_args",
             "log_level: must be one of"),
            ("set_config", {"key": "no.such", "value": "1"}, "bad_args", "no.such"),
            ("set_config", {"key": "store", "value": "s002"}, "bad_args",
             "cannot be set remotely"),
            ("set_config", {"key": "signer.pkcs11_module", "value": "/tmp/any.so"}, "bad_args",
             "cannot be set remotely"),
            ("set_config", {"key": "signer.type", "value": "none"}, "bad_args",
             "cannot be set remotely"),
            ("set_config", {"key": "devices.scale.driver", "value": "nope"}, "bad_args",
             "no driver"),
        ]
        for cmd, args, error, words in cases:
            a = command(broker, answers, cmd, args)
            check(not a["ok"] and a["error"] == error and words in a["reason"],
                  "%s %s: expected %s (%s): %s" % (cmd, args, error, words, a))
        a = command(broker, answers, "ping", ts="2020-01-01T00:00:00.000Z")
        check(not a["ok"] and a["error"] == "expired", "old command: %s" % a)
        a = command(broker, answers, "ping", ts="not a time")
        check(not a["ok"] and a["error"] == "bad_request", "bad ts: %s" % a)
        send(broker, "not json")
        send(broker, {"cmd": "ping"})
        wait_until(lambda: len([a for a in answers.all() if a.get("id") is None and
                                a.get("error") == "bad_request"]) == 2, 20,
                   "two bad_request answers with id null")

        # Replays: the same id twice runs once, also after a restart.
        rid = "z-%s" % uuid.uuid4()
        a = command(broker, answers, "z_report", rid=rid)
        check(a["ok"], "first z_report: %s" % a)
        send(broker, {"id": rid, "cmd": "z_report"})
        wait_until(lambda: len([x for x in answers.all() if x.get("id") == rid]) == 2, 20,
                   "the replay's answer")
        again = [x for x in answers.all() if x.get("id") == rid][1]
        check(not again["ok"] and again["error"] == "replayed", "replay: %s" % again)
        till.stop()
        till.mark()
        till.start()
        send(broker, {"id": rid, "cmd": "z_report"})
        wait_until(lambda: len([x for x in answers.all() if x.get("id") == rid]) == 3, 20,
                   "the replay's answer after a restart")
        again = [x for x in answers.all() if x.get("id") == rid][2]
        check(not again["ok"] and again["error"] == "replayed", "replay after restart: %s" % again)
        zs = db_rows(os.path.join(data, "journal.db"),
                     "SELECT count(*) FROM events WHERE type = 'z_report' AND seq > ?",
                     (events,))[0][0]
        check(zs == 1, "one Z report from three copies of one request, got %d" % zs)
    finally:
        teardown(broker, till, answers)


@test
def z_report_refused_while_a_shift_is_open():
    d = tmpdir("pe-fleet-shift")
    data = os.path.join(d, "t01")
    scen = os.path.join(d, "open.jsonl")
    with open(scen, "w") as f:
        f.write('{"do":"clock","ts":"%s08:00:00.000Z"}\n{"do":"login","operator":"op17"}\n'
                '{"do":"shift_open","float":20000}\n' % DAY)
    run([AGENT, "-c", CONFIG, "--data-dir", data, "--scenario", scen], timeout=120, check_rc=0)
    broker = Mosquitto(d).start()
    answers = Answers(broker, d)
    till = Till(broker, data)
    till.mark()
    try:
        till.start()
        check(retained_state(broker)["shift"] == "open", "the shift is open")
        a = command(broker, answers, "z_report")
        check(not a["ok"] and a["error"] == "refused" and "shift is open" in a["reason"],
              "Z with an open shift: %s" % a)
        a = command(broker, answers, "x_report")
        check(a["ok"], "an X report does not close anything: %s" % a)
    finally:
        teardown(broker, till, answers)


@test
def set_config_live_and_by_restart():
    d, data, broker, till, answers = setup("pe-fleet-config")
    try:
        a = command(broker, answers, "set_config", {"key": "fleet.state_interval_s", "value": 2})
        check(a["ok"] and a["result"] == {"key": "fleet.state_interval_s", "value": "2",
                                          "applied": "live"}, "live: %s" % a)
        a = command(broker, answers, "set_config", {"key": "title", "value": "Shop Two"})
        check(a["ok"] and a["result"]["applied"] == "live", "title: %s" % a)
        a = command(broker, answers, "reprint", {"seq": 3})
        with open(os.path.join(data, "receipts.txt")) as f:
            check("Shop Two" in f.read().split("*** COPY - REPRINT ***")[-2],
                  "the new title is used at once")
        # Training mode, live: the state document says so at once.
        a = command(broker, answers, "set_config", {"key": "till.training", "value": "true"})
        check(a["ok"] and a["result"]["applied"] == "live", "till.training: %s" % a)
        a = command(broker, answers, "status")
        check(a["ok"] and a["result"]["training"] is True, "status says training: %s" % a)
        a = command(broker, answers, "set_config", {"key": "uplink.window", "value": 123})
        check(a["ok"] and a["result"]["applied"] == "restart", "restart: %s" % a)
        rc = till.proc.wait(timeout=30)
        check(rc == 75, "a clean restart exits 75, got %s" % rc)
        with open(os.path.join(data, "remote-config.json")) as f:
            saved = json.load(f)
        check(saved == {"fleet.state_interval_s": "2", "title": "Shop Two",
                        "till.training": "true", "uplink.window": "123"}, "persisted: %s" % saved)
        p = run([AGENT, "-c", CONFIG, "--data-dir", data, "--print-config"], check_rc=0)
        check(re.search(r'"window":\s*123', p.stdout) and "Shop Two" in p.stdout,
              "the next start reads it: %s" % p.stdout[-600:])
        # The command line still wins over a remote setting.
        p = run([AGENT, "-c", CONFIG, "--data-dir", data, "--set", "uplink.window=7",
                 "--print-config"], check_rc=0)
        check(re.search(r'"window":\s*7\b', p.stdout), "--set wins")
    finally:
        teardown(broker, till, answers)


@test
def self_test_verdicts():
    d = tmpdir("pe-fleet-self")
    data = os.path.join(d, "t01")
    p = run([AGENT, "-c", CONFIG, "--data-dir", data, "--self-test"], check_rc=0)
    check("journal" in p.stdout and "the first start creates it" in p.stdout and
          p.stdout.rstrip().endswith("self-test: passed"), "fresh install: %s" % p.stdout)
    check(not os.path.exists(data), "the self-test created nothing")
    run([AGENT, "-c", CONFIG, "--data-dir", data, "--scenario", SCENARIO], timeout=120,
        check_rc=0)
    n = last_event(data)[0]
    p = run([AGENT, "-c", CONFIG, "--data-dir", data, "--self-test"], check_rc=0)
    check("%d events, hash chain intact" % n in p.stdout, "journal line: %s" % p.stdout)
    # An unknown driver: exit 1, the key named.
    p = run([AGENT, "-c", CONFIG, "--data-dir", data, "--set", "devices.scale.driver=nope",
             "--self-test"], check_rc=1)
    check("FAIL config" in p.stdout and "devices.scale.driver" in p.stdout, p.stdout)
    # A record edited behind the journal's back: exit 1, the seq named.
    bad = os.path.join(d, "bad")
    shutil.copytree(data, bad)
    con = sqlite3.connect(os.path.join(bad, "journal.db"))
    con.execute("UPDATE events SET record = replace(record, '\"total\":', '\"total\":1') "
                "WHERE seq = 4")
    con.commit()
    con.close()
    p = run([AGENT, "-c", CONFIG, "--data-dir", bad, "--self-test"], check_rc=1)
    check(re.search(r"FAIL journal: .*seq 4", p.stdout), "broken chain named: %s" % p.stdout)
    # Not a database at all.
    with open(os.path.join(bad, "journal.db"), "r+b") as f:
        f.write(b"garbage" * 100)
    p = run([AGENT, "-c", CONFIG, "--data-dir", bad, "--self-test"], check_rc=1)
    check("FAIL journal" in p.stdout and "journal.db" in p.stdout, p.stdout)
    # A device that cannot be opened.
    p = run([AGENT, "-c", CONFIG, "--data-dir", data, "--set", "devices.scale.driver=serial",
             "--set", "devices.scale.path=/nonexistent/ttyUSB9", "--self-test"], check_rc=1)
    check("FAIL device scale" in p.stdout and "/nonexistent/ttyUSB9" in p.stdout, p.stdout)


@test
def signer_down_shows_in_the_state_with_its_alarm():
    """The signer of a till is down (the test build's software signer fails while the file
    PE_TEST_SIGNER_DOWN names exists): sales go on unsigned; the state says so and, the outage
    being older than signer.down_alarm_s by the till's clock, raises the signer_down alarm; the
    next event once the signer is back closes the outage and clears it."""
    d = tmpdir("pe-fleet-signer")
    data = os.path.join(d, "t01")
    flag = os.path.join(d, "token-unplugged")
    run([AGENT, "-c", CONFIG, "--data-dir", data, "--scenario", SCENARIO], timeout=120,
        check_rc=0)
    open(flag, "w").close()
    os.environ["PE_TEST_SIGNER_DOWN"] = flag
    broker = till = answers = None
    try:
        run([AGENT, "-c", CONFIG, "--data-dir", data, "--set", "sim.start=%s12:00:00.000Z" % DAY,
             "--shopper", "3"], timeout=120, check_rc=0)
        down = db_rows(os.path.join(data, "journal.db"),
                       "SELECT seq, ts_ms FROM events WHERE type = 'signer_down'")
        check(len(down) == 1, "one outage opened: %s" % down)
        broker = Mosquitto(d).start()
        answers = Answers(broker, d)
        till = Till(broker, data, "--set", "signer.down_alarm_s=3600")
        till.mark()
        till.start()
        st = retained_state(broker)
        seq = last_event(data)[0]
        sg = st["signer"]
        check(sg["status"] == "down" and sg["down_seq"] == down[0][0] and sg["alarm"] is True
              and sg["unsigned"] == seq - down[0][0] + 1 and sg["down_s"] >= 3600
              and st["alarms"] == ["signer_down"], "down, alarm raised: %s %s" % (sg, st["alarms"]))
        os.remove(flag)
        a = command(broker, answers, "x_report", {"operator": "boss"})
        check(a["ok"] and a["result"]["seq"] == seq + 2, "signer_up, then the report: %s" % a)
        check(db_rows(os.path.join(data, "journal.db"),
                      "SELECT type FROM events WHERE seq = %d" % (seq + 1))[0][0] == "signer_up",
              "the collective comes first")
        wait_until(lambda: ((retained_state(broker) or {}).get("signer") or {}).get("status") == "ok",
                   15, "the signer ok in the state")
        st = retained_state(broker)
        check(st["signer"]["alarm"] is False and st["alarms"] == [] and st["signer"]["outages"] == 0,
              "the alarm cleared: %s %s" % (st["signer"], st["alarms"]))
    finally:
        del os.environ["PE_TEST_SIGNER_DOWN"]
        rc = teardown(broker, till, answers) if broker else None
    check(rc == 0, "clean stop: exit status %s" % rc)
    check(run([os.path.join(os.path.dirname(AGENT), "posedge-ctl"), "verify",
               os.path.join(data, "journal.db")], check_rc=0).stdout.startswith("OK "), "verifies")


@test
def pkcs11_token_removed_mid_run_then_collective():
    """A running till signs with a key on a real PKCS#11 token (SoftHSM2) and loses the token:
    its token directory is taken away under it. Selling goes on: the next command's event opens
    an outage (signer_down) and is committed unsigned, the state says down; the token back, the
    next event is the signed collective (signer_up) by the same key, the counter continuing, and
    posedge-ctl verify checks the whole journal. The PIN appears in no log."""
    d = tmpdir("pe-fleet-p11")
    data = os.path.join(d, "t01")
    os.mkdir(data, 0o700)
    env, sets, _ = softhsm_token(d)
    os.environ.update(env)
    db = os.path.join(data, "journal.db")
    tokens = os.path.join(d, "tokens")
    broker = till = answers = None
    try:
        broker = Mosquitto(d).start()
        answers = Answers(broker, d)
        till = Till(broker, data, "--set", "signer.retry_ms=0", *sets)
        till.mark()
        till.start()
        a = command(broker, answers, "x_report", {"operator": "boss"})
        check(a["ok"], "a signed report: %s" % a)
        seq = a["result"]["seq"]
        kid = db_rows(db, "SELECT json_extract(CAST(record AS TEXT), '$.body.key_id') FROM events "
                          "WHERE type = 'signer_installed'")[0][0]
        os.rename(tokens, tokens + ".away")  # the token is pulled out
        a = command(broker, answers, "x_report", {"operator": "boss"})
        check(a["ok"] and a["result"]["seq"] == seq + 2, "selling goes on: %s" % a)
        rows = db_rows(db, "SELECT seq, type, sig FROM events WHERE seq > ? ORDER BY seq", (seq,))
        mark = '{"alg":"none","signer_down":%d}' % (seq + 1)
        check([r[1] for r in rows] == ["signer_down", "x_report"]
              and all(bytes(r[2]).decode() == mark for r in rows),
              "the outage opened, its events marked: %s" % rows)
        wait_until(lambda: ((retained_state(broker) or {}).get("signer") or {}).get("status")
                   == "down", 15, "the signer down in the state")
        os.rename(tokens + ".away", tokens)  # and put back
        a = command(broker, answers, "x_report", {"operator": "boss"})
        check(a["ok"] and a["result"]["seq"] == seq + 4, "the collective, then the report: %s" % a)
        up = db_rows(db, "SELECT type, json_extract(CAST(record AS TEXT), '$.body'), sig FROM events "
                         "WHERE seq = ?", (seq + 3,))[0]
        body, sig = json.loads(up[1]), json.loads(bytes(up[2]))
        check(up[0] == "signer_up" and body["first_seq"] == seq + 1 and body["last_seq"] == seq + 2
              and sig["key_id"] == kid, "signer_up by the token's key covers the outage: %s" % (up,))
        wait_until(lambda: ((retained_state(broker) or {}).get("signer") or {}).get("status")
                   == "ok", 15, "the signer ok in the state")
    finally:
        for k in env:
            del os.environ[k]
        rc = teardown(broker, till, answers) if broker else None
    check(rc == 0, "clean stop: exit status %s" % rc)
    v = run([os.path.join(os.path.dirname(AGENT), "posedge-ctl"), "verify", db], check_rc=0).stdout
    check(v.startswith("OK ") and "2 unsigned while the signer was down, 1 outage covered" in v, v)
    with open(os.path.join(data, "agent.log")) as f:
        check(PIN not in f.read(), "the PIN is never logged")


@test
def upgrade_hands_over_holds_the_till_and_reports():
    """HQ's upgrade command at an idle till (agent/upgrade.c): the request for the upgrade unit
    is written at once, the till is held (also by an agent restarted meanwhile, as the package
    restarts it) and rewrites upgrade/alive; the unit's result ends the hold and shows in the
    state document with the command's id. Bad versions, the running version and a second
    upgrade while one installs are answered without a request."""
    d, data, broker, till, answers = setup("pe-fleet-upgrade", "--set", "upgrade.watch_s=5")
    udir = os.path.join(data, "upgrade")
    try:
        st = retained_state(broker)
        check("upgrade" in st and st["upgrade"] is None, "no upgrade yet: %s" % st.get("upgrade"))
        for bad in ("", "v1.0", "1.0 ; reboot", "1" * 65, 7):
            a = command(broker, answers, "upgrade", {"version": bad})
            check(not a["ok"] and a["error"] == "bad_args", "version %r: %s" % (bad, a))
        a = command(broker, answers, "upgrade", {"version": "1.0", "after_shift": "yes"})
        check(not a["ok"] and a["error"] == "bad_args", "after_shift 'yes': %s" % a)
        a = command(broker, answers, "upgrade", {"version": version()})
        check(a["ok"] and a["result"] == {"version": version(), "from": version(),
                                          "current": True}, "the running version: %s" % a)
        check(not os.path.exists(os.path.join(udir, "request")), "a request for the running one")
        rid = "up-%s" % uuid.uuid4()
        a = command(broker, answers, "upgrade", {"version": "99.0+test1", "after_shift": True},
                    rid=rid)
        check(a["ok"] and a["result"] == {"version": "99.0+test1", "from": version(),
                                          "current": False}, "accepted: %s" % a)
        # The shop is closed, no shift open: idle at once.
        req = os.path.join(udir, "request")
        wait_until(lambda: os.path.exists(req), 10, "the request for the upgrade unit")
        with open(req) as f:
            text = f.read()
        for line in ("id=" + rid, "version=99.0+test1", "from=" + version(), "after_shift=1",
                     "watch_s=5"):
            check(line in text.split("\n"), "request lacks %r: %s" % (line, text))
        check(not os.path.exists(os.path.join(udir, "pending")), "pending left beside request")

        def upgrade_state():
            return (retained_state(broker) or {}).get("upgrade") or {}
        wait_until(lambda: upgrade_state().get("outcome") == "installing", 10, "installing")
        up = upgrade_state()
        check(up["id"] == rid and up["version"] == "99.0+test1" and up["previous"] == version(),
              "installing: %s" % up)
        alive = os.path.join(udir, "alive")
        wait_until(lambda: os.path.exists(alive) and "pid=%d\n" % till.proc.pid in
                   open(alive).read(), 10, "upgrade/alive from the agent")
        check("version=%s\n" % version() in open(alive).read(), "alive: %s" % open(alive).read())
        a = command(broker, answers, "upgrade", {"version": "99.1"})
        check(not a["ok"] and a["error"] == "busy" and "99.0+test1" in a["reason"],
              "a second upgrade while one installs: %s" % a)
        # The package restarts the agent: the new one holds the till at once.
        check(till.stop() == 0, "clean stop while installing")
        till.mark()
        till.start()
        wait_until(lambda: "pid=%d\n" % till.proc.pid in open(alive).read(), 10,
                   "upgrade/alive from the restarted agent")
        check(upgrade_state().get("outcome") == "installing", "after the restart: %s" %
              upgrade_state())
        # The unit's result, then the request removed: the hold ends.
        with open(os.path.join(udir, "result.new"), "w") as f:
            f.write("id=%s\nversion=99.0+test1\nprevious=%s\noutcome=rolled_back\n"
                    "reason=self-test failed: FAIL journal: broken\nts=2026-11-22T03:00:00.000Z\n"
                    % (rid, version()))
        os.rename(os.path.join(udir, "result.new"), os.path.join(udir, "result"))
        os.unlink(req)
        wait_until(lambda: upgrade_state().get("outcome") == "rolled_back", 10, "the result")
        check(upgrade_state() == {"id": rid, "version": "99.0+test1", "previous": version(),
                                  "outcome": "rolled_back",
                                  "reason": "self-test failed: FAIL journal: broken",
                                  "ts": "2026-11-22T03:00:00.000Z"}, "result: %s" % upgrade_state())
        wait_until(lambda: not os.path.exists(alive), 10, "alive removed once done")
    finally:
        rc = teardown(broker, till, answers)
    check(rc == 0, "clean stop: exit status %s" % rc)
    log = open(os.path.join(data, "agent.log")).read()
    for line in ('event=till.hold on=1 reason="installing an update"', "event=upgrade.installing",
                 "event=till.hold on=0", "event=upgrade.done id=%s" % rid):
        check(line in log, "agent.log lacks %r" % line)


if __name__ == "__main__":
    main()
