#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-ctl rollout (ctl/rollout.c) and the UPGRADE column of posedge-ctl
status (ctl/status.c).

Each test starts the real mosquitto (lib.Mosquitto) on a free loopback port. The tills are
played in Python (Tills, over lib.Responder): each publishes a retained state document, answers
the upgrade command as a script per terminal says, and then republishes its state with the
upgrade's outcomes in order, as docs/protocol.md ("Rollout") describes them: "ok" (waiting,
waiting again, installing, the restart's will, installing under the new version, ok),
"rolled_back" (likewise, ending on the old version), "failed" (waiting, failed), "hang" (waiting,
then nothing), "refuse" (busy) and "current" (it runs the version already). Covered: the
canary first and the rest after its outcome (the rest's commands are stamped after the
canary's last state was published); a rolled-back canary stops the rollout and the other tills
never receive a command; --max-failures 1 goes on after a failure; a refusal counts as one; a
till at the version is current and an offline or unreadable one not reached, neither asked
(exit 1 when one is not reached); --timeout with a till that never finishes; --canary 0;
progress on stderr once per change; --json; usage errors (exit 2); and status's UPGRADE column,
absent while no till has had an upgrade. Waits poll against deadlines; nothing sleeps to
synchronise, and nothing depends on the time of day.
"""
import json
import re
import time
from datetime import datetime, timezone

from lib import (CTL, Fixture, Mosquitto, Responder, check, free_port, main, now, now_ts, run,
                 test)
from lib import fleet_answer as answer
from lib import mqtt_publish as publish

STORE = "s001"
TOPIC = "posedge/v1/%s/" % STORE
OLD, NEW = "0.9.0", "0.9.1"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
WILL = '{"state":"offline"}'
ROLLED_BACK = "self-test failed: the printer did not answer"
APT_FAILED = "apt-get: E: Unable to locate package posedge-agent"
BUSY = "an upgrade is being installed"


def parse_ts(s):
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s), "ts format: %r" % s)
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Tills:
    """The store's tills: {terminal: (script, version)}. A script is one of the words above, or
    "offline" (its retained state is the will), "stopped" (a clean exit's document, offline) or
    "garbage" (a state that is not JSON): those three never get a command."""

    def __init__(self, f, m, tills):
        self.m = m
        self.script = {t: s for t, (s, _) in tills.items()}
        self.version = {t: v for t, (_, v) in tills.items()}
        self.finals = {}  # terminal -> now() just before its final state was published
        for term, (script, _) in sorted(tills.items()):
            if script == "offline":
                publish(m, TOPIC + term + "/state", WILL, retain=True)
            elif script == "garbage":
                publish(m, TOPIC + term + "/state", "not json", retain=True)
            else:
                self.state(term, None, state="offline" if script == "stopped" else "online")
        self.r = f.add(Responder(m, [TOPIC + "+/cmd"], {t: self.answer for t in tills},
                                 ready=("posedge-test/ready", "1")))

    def state(self, term, upgrade, version=None, state="online"):
        """Publish term's retained state with upgrade (a dict or None) and version (default:
        what it runs)."""
        if version:
            self.version[term] = version
        doc = {"state": state, "ts": now_ts(), "version": self.version[term], "board": "sim",
               "store": STORE, "terminal": term, "uptime_s": 10, "seq": 5, "spooled": 5,
               "delivered": 5, "shift": "closed", "upgrade": upgrade}
        publish(self.m, TOPIC + term + "/state", json.dumps(doc), retain=True)

    def answer(self, term, cmd):
        if cmd.get("cmd") != "upgrade":
            return answer(term, cmd, error="unknown_command")
        want, old, script = cmd["args"]["version"], self.version[term], self.script[term]

        def step(outcome, reason=None, version=None):
            up = {"id": cmd["id"], "version": want, "previous": old, "outcome": outcome,
                  "reason": reason, "ts": now_ts()}

            def publish_it():
                if outcome in ("ok", "rolled_back", "failed"):
                    self.finals[term] = now()
                self.state(term, up, version)
            return publish_it

        if script == "refuse":
            return answer(term, cmd, error="busy", reason=BUSY)
        if script == "current":
            return answer(term, cmd, {"version": want, "from": want, "current": True})
        steps = [answer(term, cmd, {"version": want, "from": old, "current": False}),
                 step("waiting"), step("waiting")]  # republished: one progress line
        if script == "hang":
            return steps
        if script == "failed":
            return steps + [step("failed", APT_FAILED)]
        steps += [step("installing"),
                  lambda: publish(self.m, TOPIC + term + "/state", WILL, retain=True),
                  step("installing", version=want)]
        if script == "ok":
            return steps + [step("ok", version=want)]
        return steps + [step("rolled_back", ROLLED_BACK, version=old)]

    def commands(self):
        """(terminal, command) of every command received, after every one published so far."""
        self.r.sync(TOPIC + "zz/cmd")
        return self.r.commands()


def rollout(m, *args, check_rc=None):
    return run([CTL, "rollout", "--mqtt", m.addr, "--store", STORE, "--version", NEW] +
               list(args), timeout=120, check_rc=check_rc)


def status(m):
    """The header and {terminal: columns} of posedge-ctl status."""
    p = run([CTL, "status", "--mqtt", m.addr, "--store", STORE], timeout=60, check_rc=0)
    lines = p.stdout.splitlines()
    return lines[0].split(), {line.split()[0]: line.split() for line in lines[1:]}


HEAD = ["TERMINAL", "STATE", "SEQ", "SPOOLED", "DELIVERED", "BACKLOG", "OLDEST_PENDING",
        "STATE_AGE", "VERSION", "UPTIME", "DEVICES", "SHIFT"]


@test
def canary_then_the_rest():
    with Fixture("pe-rollout") as f:
        m = f.add(Mosquitto(f.d).start())
        tills = Tills(f, m, {t: ("ok", OLD) for t in ("t01", "t02", "t03")})

        # No till has had an upgrade ("upgrade": null): no UPGRADE column.
        head, _ = status(m)
        check(head == HEAD, "no UPGRADE column yet: %r" % head)

        t0 = now()
        p = rollout(m, "--timeout", "20", check_rc=0)
        lines = p.stdout.splitlines()
        check(lines[0] == "rollout t01: ok 0.9.0 -> 0.9.1 (canary)", "canary: %r" % p.stdout)
        check(sorted(lines[1:3]) == ["rollout t02: ok 0.9.0 -> 0.9.1",
                                     "rollout t03: ok 0.9.0 -> 0.9.1"], "rest: %r" % p.stdout)
        check(lines[3:] == ["rollout done: 3 upgraded, 0 current, 0 failed, 0 not reached"],
              "summary: %r" % p.stdout)

        # The commands as sent: one each, the canary's first, on .../cmd, not retained.
        got = [(t, retained, c) for t, retained, _, c in tills.r.got if t.endswith("/cmd")]
        check([t for t, _, _ in got] == [TOPIC + "t01/cmd", TOPIC + "t02/cmd", TOPIC + "t03/cmd"],
              "one command a till, the canary first: %r" % got)
        for _, retained, c in got:
            check(not retained and set(c) == {"id", "cmd", "args", "ts"} and
                  c["cmd"] == "upgrade" and UUID_RE.fullmatch(c["id"]), "command %r" % c)
            check(c["args"] == {"version": NEW, "after_shift": False}, "args %r" % c["args"])
            check(t0 - 2 <= parse_ts(c["ts"]) <= now() + 2, "ts is now: %r" % c["ts"])
        check(len({c["id"] for _, _, c in got}) == 3, "fresh ids: %r" % got)
        # The rest were asked only once the canary's outcome was in.
        for _, _, c in got[1:]:
            check(parse_ts(c["ts"]) >= tills.finals["t01"] - 0.01,
                  "sent %s, the canary ended %.3f" % (c["ts"], tills.finals["t01"]))

        # Progress on stderr: each wave, and each outcome once per change.
        err = p.stderr.splitlines()
        check("posedge-ctl rollout: upgrading to 0.9.1: t01 (canary)" in err and
              "posedge-ctl rollout: upgrading to 0.9.1: t02 t03" in err, "waves: %r" % p.stderr)
        for term in ("t01", "t02", "t03"):
            for outcome in ("waiting", "installing"):
                line = "posedge-ctl rollout: %s: %s (upgrade to 0.9.1)" % (term, outcome)
                check(err.count(line) == 1, "%r once: %r" % (line, p.stderr))

        # status: UPGRADE after the eight columns and the others, "-" for a till without one.
        tills.version["t04"] = NEW
        tills.state("t04", None)
        head, rows = status(m)
        check(head == HEAD + ["UPGRADE"], "UPGRADE appended: %r" % head)
        check([rows[t][-1] for t in ("t01", "t02", "t03", "t04")] ==
              ["ok:0.9.1"] * 3 + ["-"], "UPGRADE: %r" % rows)
        check(all(rows[t][1] == "online" and rows[t][8] == NEW for t in rows), "%r" % rows)

        # Again: every till is current, none is asked.
        n = len(tills.commands())
        p = rollout(m, "--timeout", "20", check_rc=0)
        check(p.stdout == "".join("rollout %s: current 0.9.1\n" % t
                                  for t in ("t01", "t02", "t03", "t04")) +
              "rollout done: 0 upgraded, 4 current, 0 failed, 0 not reached\n", p.stdout)
        check(len(tills.commands()) == n, "nobody asked: %r" % tills.commands()[n:])


@test
def rolled_back_canary_stops():
    with Fixture("pe-rollout") as f:
        m = f.add(Mosquitto(f.d).start())
        tills = Tills(f, m, {"t01": ("rolled_back", OLD), "t02": ("ok", OLD),
                             "t03": ("ok", OLD)})
        p = rollout(m, "--timeout", "20", check_rc=1)
        check(p.stdout == "rollout t01: rolled_back 0.9.1 -> 0.9.0 (canary): %s\n"
                          "rollout stopped: 1 failure(s) > --max-failures 0; not asked: t02 t03\n"
              % ROLLED_BACK, "stopped: %r" % p.stdout)
        check([t for t, _ in tills.commands()] == ["t01"], "only the canary was asked: %r"
              % tills.commands())
        head, rows = status(m)
        check(head[-1] == "UPGRADE" and rows["t01"][-1] == "rolled_back:0.9.1" and
              rows["t01"][8] == OLD and rows["t02"][-1] == "-", "status: %r" % rows)

        # The same as JSON: one object, the canary asked again (a fresh id), the rest not.
        p = rollout(m, "--timeout", "20", "--json", check_rc=1)
        check(len(p.stdout.splitlines()) == 1, "one line: %r" % p.stdout)
        doc = json.loads(p.stdout)
        ids = [c["id"] for _, c in tills.commands()]
        check([t for t, _ in tills.commands()] == ["t01", "t01"] and ids[0] != ids[1],
              "the canary again: %r" % tills.commands())
        check({k: doc[k] for k in ("store", "version", "result", "upgraded", "current", "failed",
                                   "not_reached", "not_asked")} ==
              {"store": STORE, "version": NEW, "result": "stopped", "upgraded": 0, "current": 0,
               "failed": 1, "not_reached": 0, "not_asked": 2}, "summary: %r" % doc)
        check(doc["tills"][0] == {"terminal": "t01", "result": "rolled_back", "canary": True,
                                  "state": "online", "from": OLD, "id": ids[1],
                                  "outcome": "rolled_back", "previous": OLD,
                                  "reason": ROLLED_BACK}, "t01: %r" % doc["tills"][0])
        check([(t["terminal"], t["result"], t["canary"], t["id"]) for t in doc["tills"][1:]] ==
              [("t02", "not_asked", False, None), ("t03", "not_asked", False, None)],
              "the rest: %r" % doc["tills"])


@test
def max_failures_lets_it_go_on():
    with Fixture("pe-rollout") as f:
        m = f.add(Mosquitto(f.d).start())
        tills = Tills(f, m, {"t01": ("failed", OLD), "t02": ("refuse", OLD), "t03": ("ok", OLD),
                             "t04": ("current", OLD)})
        p = rollout(m, "--timeout", "20", "--max-failures", "1", "--after-shift", check_rc=1)
        lines = p.stdout.splitlines()
        check(lines[0] == "rollout t01: failed 0.9.0 -> 0.9.1 (canary): %s" % APT_FAILED,
              "canary: %r" % p.stdout)
        check(sorted(lines[1:4]) == ["rollout t02: refused 0.9.0 -> 0.9.1: busy: %s" % BUSY,
                                     "rollout t03: ok 0.9.0 -> 0.9.1",
                                     "rollout t04: current 0.9.1"], "the rest: %r" % p.stdout)
        check(lines[4:] == ["rollout done: 1 upgraded, 1 current, 2 failed, 0 not reached"],
              "summary: %r" % p.stdout)
        cmds = tills.commands()
        check(sorted(t for t, _ in cmds) == ["t01", "t02", "t03", "t04"] and cmds[0][0] == "t01",
              "all asked, the canary first: %r" % cmds)
        check(all(c["args"] == {"version": NEW, "after_shift": True} for _, c in cmds),
              "--after-shift: %r" % cmds)


@test
def current_and_unreachable_tills_are_not_asked():
    with Fixture("pe-rollout") as f:
        m = f.add(Mosquitto(f.d).start())
        tills = Tills(f, m, {"t01": ("ok", NEW), "t02": ("offline", OLD),
                             "t03": ("stopped", OLD), "t04": ("garbage", OLD),
                             "t05": ("ok", OLD), "t06": ("ok", OLD)})
        p = rollout(m, "--timeout", "20", check_rc=1)
        check(p.stdout.splitlines() == [
            "rollout t01: current 0.9.1",
            "rollout t02: offline: not reached",
            "rollout t03: offline: not reached",
            "rollout t04: unreadable state: not reached",
            "rollout t05: ok 0.9.0 -> 0.9.1 (canary)",
            "rollout t06: ok 0.9.0 -> 0.9.1",
            "rollout done: 2 upgraded, 1 current, 0 failed, 3 not reached"], "%r" % p.stdout)
        check([t for t, _ in tills.commands()] == ["t05", "t06"], "asked: %r" % tills.commands())


@test
def a_till_that_never_finishes_times_out():
    with Fixture("pe-rollout") as f:
        m = f.add(Mosquitto(f.d).start())
        tills = Tills(f, m, {"t01": ("hang", OLD), "t02": ("ok", OLD)})
        t0, m0 = now(), time.monotonic()
        p = rollout(m, "--timeout", "3", "--max-failures", "1", check_rc=1)
        took = time.monotonic() - m0
        check(p.stdout.splitlines() == [
            "rollout t01: timeout 0.9.0 -> 0.9.1 (canary): no outcome within 3 s (last outcome: "
            "waiting)",
            "rollout t02: ok 0.9.0 -> 0.9.1",
            "rollout done: 1 upgraded, 0 current, 1 failed, 0 not reached"], "%r" % p.stdout)
        check(3 <= took < 20, "the canary's wave waited --timeout: %.1f s" % took)
        cmds = tills.commands()
        check([t for t, _ in cmds] == ["t01", "t02"], "%r" % cmds)
        check(parse_ts(cmds[1][1]["ts"]) >= t0 + 2.9, "t02 asked after the canary's wave: %r"
              % cmds)
        check(p.stderr.count("t01: waiting (upgrade to 0.9.1)") == 1, p.stderr)


@test
def no_canary_and_json():
    with Fixture("pe-rollout") as f:
        m = f.add(Mosquitto(f.d).start())
        tills = Tills(f, m, {"t01": ("ok", OLD), "t02": ("ok", NEW)})
        p = rollout(m, "--timeout", "20", "--canary", "0", "--json", check_rc=0)
        check(len(p.stdout.splitlines()) == 1, "one line: %r" % p.stdout)
        doc = json.loads(p.stdout)
        cmds = tills.commands()
        check([t for t, _ in cmds] == ["t01"], "%r" % cmds)
        check(doc == {"store": STORE, "version": NEW, "result": "done", "upgraded": 1,
                      "current": 1, "failed": 0, "not_reached": 0, "not_asked": 0,
                      "tills": [{"terminal": "t01", "result": "ok", "canary": False,
                                 "state": "online", "from": OLD, "id": cmds[0][1]["id"],
                                 "outcome": "ok", "previous": OLD, "reason": None},
                                {"terminal": "t02", "result": "current", "canary": False,
                                 "state": "online", "from": NEW, "id": None, "outcome": None,
                                 "previous": None, "reason": None}]}, "%r" % doc)
        check("upgrading to 0.9.1: t01\n" in p.stderr, "no canary wave: %r" % p.stderr)

        # A store without tills: nothing to do, exit 1.
        p = run([CTL, "rollout", "--mqtt", m.addr, "--store", "s009", "--version", NEW],
                timeout=60, check_rc=1)
        check("no till of store s009 has a state" in p.stderr and p.stdout == "", p.stderr)


@test
def usage_errors():
    addr = "127.0.0.1:%d" % free_port()  # nothing listens: every case fails before connecting
    base = ["rollout", "--mqtt", addr, "--store", STORE]
    for args, needle in [
        (["rollout", "--store", STORE, "--version", NEW], "needs --mqtt"),
        (base, "needs --mqtt HOST:PORT, --store S and --version V"),
        (base + ["--version", NEW, "extra"], "nothing else"),
        (base + ["--version", "v1"], "--version: not a package version"),
        (base + ["--version", "1 2"], "--version: not a package version"),
        (base + ["--version", "1" * 65], "--version: not a package version"),
        (base + ["--version", NEW, "--canary", "-1"], "--canary: expected a count"),
        (base + ["--version", NEW, "--canary", "x"], "--canary: expected a count"),
        (base + ["--version", NEW, "--max-failures", "-1"], "--max-failures: expected a count"),
        (base + ["--version", NEW, "--timeout", "0"], "--timeout"),
        (base + ["--version", NEW, "--store", "a/b"], "--store"),
        (base + ["--version", NEW, "--bogus"], "usage"),
        (base + ["--version", NEW, "--password-file", "/nonexistent"], "--password-file needs"),
        (base + ["--version", NEW, "--tls-cert", "c.pem"], "--tls-cert"),
    ]:
        m0 = time.monotonic()
        p = run([CTL] + args, timeout=30, check_rc=2)
        check(needle in p.stderr and p.stdout == "", "%s: %r in %r" % (args, needle, p.stderr))
        check(time.monotonic() - m0 < 5, "%s: at once" % args)
    p = run([CTL, "rollout", "--help"], check_rc=0)
    check("--max-failures K" in p.stdout and "--after-shift" in p.stdout, p.stdout)
    p = run([CTL, "--help"], check_rc=0)
    check("posedge-ctl rollout --mqtt HOST:PORT --store S --version V" in p.stdout, p.stdout)
    # An unreachable broker is no usage error: exit 1 at the timeout.
    p = run([CTL] + base + ["--version", NEW, "--timeout", "1"], timeout=30, check_rc=1)
    check("cannot reach the MQTT broker at %s within 1 s" % addr in p.stderr, p.stderr)


if __name__ == "__main__":
    main()
