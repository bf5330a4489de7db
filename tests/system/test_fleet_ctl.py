#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-ctl fleet and posedge-ctl acl (ctl/fleet.c, ctl/acl.c).

Each test starts the real mosquitto (lib.Mosquitto) on a free loopback port from a config
generated in its temporary directory. The tills are played by a Responder (lib.py): a
mosquitto_sub process reading the commands and a thread answering each with mosquitto_pub as a
script per terminal says (an answer, a refusal, a stale answer first, or nothing). Covered: the
command as sent (topic, not retained, a UUID id, typed args, ts), human and --json output, a
refusal and an unknown command (exit 1), a till that does not answer (exit 1 at --timeout,
named), usage errors (exit 2), the fan-out to the online tills only; and the ACL of
docs/protocol.md as printed by posedge-ctl acl, enforced by a broker without anonymous access:
a till gets its own commands, cannot command another till nor publish its events, and
posedge-ctl fleet and status work through it as the bridge user, also with a real agent
logged in as its till. Waits poll a condition against a deadline; nothing sleeps to
synchronise.
"""
import json
import os
import re
import subprocess
import time
from datetime import datetime, timezone

from lib import (AGENT, CONFIG, CTL, SIM_START, SRC, Fixture, Mosquitto, Responder, check,
                 free_port, main, now, now_ts, run, test, tmpdir, wait_until)
from lib import fleet_answer as answer
from lib import mqtt_publish as publish

STORE = "s001"
TOPIC = "posedge/v1/%s/" % STORE
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def parse_ts(s):
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s), "ts format: %r" % s)
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def fleet(broker, *args, check_rc=None, timeout=60):
    return run([CTL, "fleet", "--mqtt", broker.addr, "--store", STORE] + list(args),
               timeout=timeout, check_rc=check_rc)


def standard_till(term, cmd):
    """What a healthy till answers."""
    if cmd["cmd"] == "ping":
        return answer(term, cmd, {"pong": True, "version": "0.6.0"})
    if cmd["cmd"] == "z_report":
        return answer(term, cmd, {"seq": 1234, "number": 7,
                                  "report": {"count": 3, "total": 1250, "currency": "EUR"}})
    return answer(term, cmd, error="unknown_command", reason="no such command: %s" % cmd["cmd"])


def state_doc(term, state="online"):
    return json.dumps({"state": state, "ts": now_ts(), "version": "0.6.0", "board": "sim",
                       "store": STORE, "terminal": term, "uptime_s": 10, "seq": 5, "spooled": 5,
                       "delivered": 5, "shift": "closed"})


@test
def one_till_commands_and_answers():
    with Fixture("pe-fleet") as f:
        m = f.add(Mosquitto(f.d).start())

        def stale_then_right(term, cmd):  # another operator's answer first, then ours
            return [answer(term, cmd, {"pong": True}, req="c-someone-else"),
                    answer(term, cmd, {"pong": True, "version": "0.6.1"})]

        r = f.add(Responder(m, [TOPIC + "+/cmd"], {
            "t01": standard_till,
            "t02": lambda t, c: answer(t, c, error="refused",
                                       reason="a shift is open: close it first (a Z report "
                                              "closes the period)"),
            "t03": stale_then_right,
            "t09": lambda t, c: None,
        }, ready=("posedge-test/ready", "1")))

        # The command as sent: topic, not retained, a UUID, typed args, ts now.
        t0 = now()
        p = fleet(m, "--terminal", "t01", "z_report", "operator=op17", "n=5", "neg=-3", "zero=0",
                  "lead=007", "text=a b", "big=99999999999999999999", "dec=1.5", "e=", check_rc=0)
        got = [(t, retained, c) for t, retained, _, c in r.got if t.endswith("/cmd")]
        check(len(got) == 1, "one command: %r" % got)
        topic, retained, c = got[0]
        check(topic == TOPIC + "t01/cmd" and not retained, "topic and retain: %r" % (got,))
        check(set(c) == {"id", "cmd", "args", "ts"} and c["cmd"] == "z_report", "command %r" % c)
        check(UUID_RE.fullmatch(c["id"]), "id is a UUID: %r" % c["id"])
        check(c["args"] == {"operator": "op17", "n": 5, "neg": -3, "zero": 0, "lead": "007",
                            "text": "a b", "big": "99999999999999999999", "dec": "1.5", "e": ""},
              "args typed: %r" % c["args"])
        check(t0 - 2 <= parse_ts(c["ts"]) <= now() + 2, "ts is now: %r" % c["ts"])
        lines = p.stdout.splitlines()
        check(lines[0] == "t01 ok z_report: seq=1234 number=7", "first line: %r" % p.stdout)
        check(lines[1:] == ["  report.count=3", "  report.total=1250", "  report.currency=EUR"],
              "the report below: %r" % p.stdout)
        check(p.stderr == "", "nothing on stderr: %r" % p.stderr)

        # --json: the answer as the till sent it, one line.
        p = fleet(m, "--terminal", "t01", "--json", "ping", check_rc=0)
        lines = p.stdout.splitlines()
        check(len(lines) == 1, "one line: %r" % p.stdout)
        a = json.loads(lines[0])
        check(r.answers.get(a["id"]) == [a], "the answer sent: %r" % a)
        check(a["result"] == {"pong": True, "version": "0.6.0"}, "%r" % a)
        p = fleet(m, "--terminal", "t01", "ping", check_rc=0)
        check(p.stdout == "t01 ok ping: pong=true version=0.6.0\n", "human: %r" % p.stdout)
        # Each command has its own request id.
        ids = [c["id"] for _, c in r.commands()]
        check(len(set(ids)) == len(ids) == 3, "fresh ids: %r" % ids)

        # A refusal: exit 1, the reason on stdout, the till named on stderr.
        p = fleet(m, "--terminal", "t02", "z_report", check_rc=1)
        check(p.stdout == "t02 refused z_report: refused: a shift is open: close it first (a Z "
                          "report closes the period)\n", "refusal: %r" % p.stdout)
        check("t02 refused z_report" in p.stderr, "named on stderr: %r" % p.stderr)
        p = fleet(m, "--terminal", "t02", "--json", "z_report", check_rc=1)
        check(json.loads(p.stdout)["error"] == "refused", "refusal as JSON: %r" % p.stdout)

        # An unknown command is sent all the same: the till is the authority.
        p = fleet(m, "--terminal", "t01", "frobnicate", "x=1", check_rc=1)
        check(p.stdout == "t01 refused frobnicate: unknown_command: no such command: "
                          "frobnicate\n", "%r" % p.stdout)
        check(r.commands()[-1][1]["cmd"] == "frobnicate", "sent: %r" % r.commands()[-1:])

        # Answers with another request id are not ours.
        p = fleet(m, "--terminal", "t03", "ping", check_rc=0)
        check(p.stdout == "t03 ok ping: pong=true version=0.6.1\n", "ours only: %r" % p.stdout)

        # Silence: exit 1 at the timeout, the till named.
        t0 = time.monotonic()
        p = fleet(m, "--terminal", "t09", "--timeout", "2", "ping", check_rc=1)
        took = time.monotonic() - t0
        check(1.8 <= took < 5, "gives up at --timeout: %.1fs" % took)
        check("t09 did not answer within 2 s" in p.stderr, "named: %r" % p.stderr)
        check(p.stdout == "", "nothing on stdout: %r" % p.stdout)
        check(r.commands()[-1][0] == "t09", "it was sent: %r" % r.commands()[-1:])


@test
def fan_out_to_online_tills():
    with Fixture("pe-fleet") as f:
        m = f.add(Mosquitto(f.d).start())
        for term in ("t01", "t02"):
            publish(m, TOPIC + term + "/state", state_doc(term), retain=True)
        publish(m, TOPIC + "t03/state", '{"state":"offline"}', retain=True)  # the will
        publish(m, TOPIC + "t04/state", state_doc("t04", "offline"), retain=True)  # clean exit
        publish(m, TOPIC + "bridge/state", '{"state":"online","ts":"%s"}' % now_ts(), retain=True)
        publish(m, TOPIC + "_bridge/state", '{"state":"online"}', retain=True)  # an old bridge
        publish(m, "posedge/v1/s002/t05/state", state_doc("t05"), retain=True)  # another store
        silent = set()
        script = {t: (lambda term, c: None if term in silent else standard_till(term, c))
                  for t in ("t01", "t02", "t03", "t04", "bridge", "_bridge", "t05")}
        r = f.add(Responder(m, ["posedge/v1/+/+/cmd"], script, ready=("posedge-test/ready", "1")))

        p = fleet(m, "ping", check_rc=0)
        r.sync(TOPIC + "zz/cmd")
        sent = sorted(t for t, _ in r.commands())
        check(sent == ["t01", "t02"], "online tills of s001 only: %r" % sent)
        ids = [c["id"] for _, c in r.commands()]
        check(len(set(ids)) == 2 and all(UUID_RE.fullmatch(i) for i in ids), "ids %r" % ids)
        check(sorted(p.stdout.splitlines()) == ["t01 ok ping: pong=true version=0.6.0",
                                                "t02 ok ping: pong=true version=0.6.0"],
              "both answers: %r" % p.stdout)
        check("t03 is offline: not sent" in p.stderr and "t04 is offline: not sent" in p.stderr,
              "the others named: %r" % p.stderr)
        check("bridge" not in p.stderr, "the bridge is no till: %r" % p.stderr)

        p = fleet(m, "--json", "z_report", check_rc=0)
        answers = sorted((json.loads(line) for line in p.stdout.splitlines()),
                         key=lambda a: a["terminal"])
        check([a["terminal"] for a in answers] == ["t01", "t02"] and
              all(a["ok"] and a["result"]["number"] == 7 for a in answers), "%r" % answers)

        # One till falls silent: the other's answer is printed, the silent one named, exit 1.
        silent.add("t02")
        n = len(r.commands())
        p = fleet(m, "--timeout", "2", "ping", check_rc=1)
        check(p.stdout == "t01 ok ping: pong=true version=0.6.0\n", "t01's: %r" % p.stdout)
        check("t02 did not answer within 2 s" in p.stderr, "t02 named: %r" % p.stderr)
        check(sorted(t for t, _ in r.commands()[n:]) == ["t01", "t02"], "both were sent")

        # A store with no till online: nothing sent, exit 1.
        n = len(r.commands())
        p = run([CTL, "fleet", "--mqtt", m.addr, "--store", "s009", "ping"], timeout=60,
                check_rc=1)
        check("no till of store s009 is online" in p.stderr, "%r" % p.stderr)
        r.sync(TOPIC + "zz/cmd")
        check(len(r.commands()) == n, "nothing sent: %r" % r.commands()[n:])


@test
def usage_errors():
    port = free_port()  # nothing listens: every case must fail before connecting
    addr = "127.0.0.1:%d" % port
    pwfile = os.path.join(tmpdir("pe-fleet"), "missing")
    base = ["fleet", "--mqtt", addr, "--store", STORE]
    for args, needle in [
        (["fleet", "--store", STORE, "ping"], "needs --mqtt"),
        (["fleet", "--mqtt", addr, "ping"], "needs --mqtt"),
        (base, "needs --mqtt HOST:PORT, --store S and CMD"),
        (["fleet", "--mqtt", "nohost", "--store", STORE, "ping"], "--mqtt: expected HOST:PORT"),
        (["fleet", "--mqtt", addr, "--store", "a/b", "ping"], "--store"),
        (base + ["--terminal", "t/1", "ping"], "--terminal"),
        (base + ["--terminal", "bridge", "ping"], "--terminal"),
        (base + ["--timeout", "0", "ping"], "--timeout"),
        (base + ["--bogus", "ping"], "usage"),
        (base + ["z/report"], "not a command name"),
        (base + ["ping", "novalue"], "expected KEY=VALUE"),
        (base + ["ping", "=x"], "expected KEY=VALUE"),
        (base + ["ping", "a b=1"], "a key is"),
        (base + ["ping", "a=1", "a=2"], "given twice"),
        (base + ["ping", os.fsdecode(b"v=\xff")], "not UTF-8"),
        (base + ["--password-file", pwfile, "ping"], "--password-file needs --user"),
        (base + ["--user", "bridge", "--password-file", pwfile, "ping"], "cannot read"),
    ]:
        t0 = time.monotonic()
        p = run([CTL] + args, timeout=30, check_rc=2)
        check(needle in p.stderr, "%s: expected %r in %r" % (args, needle, p.stderr))
        check(time.monotonic() - t0 < 2, "%s: at once" % args)
    p = run([CTL, "fleet", "--help"], check_rc=0)
    check("CMD [KEY=VALUE...]" in p.stdout, "fleet --help: %r" % p.stdout)
    p = run([CTL, "--help"], check_rc=0)
    for needle in ("posedge-ctl fleet --mqtt HOST:PORT --store S [--terminal T]",
                   "posedge-ctl acl --store S [--bridge-user NAME]",
                   "[--timeout SECONDS] [--json]"):
        check(needle in p.stdout, "--help names %r: %r" % (needle, p.stdout))
    # An unreachable broker is no usage error: exit 1 at the timeout.
    p = run([CTL] + base + ["--terminal", "t01", "--timeout", "1", "ping"], timeout=30, check_rc=1)
    check("cannot reach the MQTT broker at %s within 1 s" % addr in p.stderr, p.stderr)


def doc_acl():
    """The ACL as docs/protocol.md shows it, for store s001."""
    with open(os.path.join(SRC, "docs", "protocol.md")) as f:
        text = f.read()
    m = re.search(r"```\n(# posedge ACL for store s001.*?)```", text, re.S)
    check(m, "docs/protocol.md shows the ACL")
    return m.group(1)


@test
def acl_file_as_documented():
    p = run([CTL, "acl", "--store", STORE], check_rc=0)
    check(p.stdout == doc_acl(), "as in docs/protocol.md:\n%s" % p.stdout)
    p = run([CTL, "acl", "--store", "s002", "--bridge-user", "hq-01"], check_rc=0)
    want = doc_acl().replace("s001", "s002").replace("user bridge\n", "user hq-01\n")
    check(p.stdout == want, "another store and user:\n%s" % p.stdout)
    for args, needle in [(["acl"], "needs --store"), (["acl", "--store", "a b"], "--store"),
                         (["acl", "--store", "s001", "--bridge-user", "a b"], "--bridge-user"),
                         (["acl", "--store", "s001", "x"], "needs --store"),
                         (["acl", "--store", "s001", "--bogus"], "usage")]:
        p = run([CTL] + args, check_rc=2)
        check(needle in p.stderr and p.stdout == "", "%s: %r" % (args, p.stderr))


USERS = {"bridge": "bridge-pw", "t01": "t01-pw", "t02": "t02 pw with spaces"}


def as_(u):
    return {"user": u, "password": USERS[u]}


def acl_broker(f):
    """mosquitto without anonymous access, USERS in its password_file (mosquitto_passwd) and
    the ACL from posedge-ctl acl; and per user a password file for posedge-ctl (the password
    on the first line). Returns the broker and {user: password file}."""
    pwfile = os.path.join(f.d, "passwd")
    for i, (u, pw) in enumerate(USERS.items()):
        run(["mosquitto_passwd"] + (["-c"] if i == 0 else []) + ["-b", pwfile, u, pw],
            check_rc=0)
    aclfile = os.path.join(f.d, "acl")
    with open(aclfile, "w") as out:
        out.write(run([CTL, "acl", "--store", STORE], check_rc=0).stdout)
    m = f.add(Mosquitto(f.d, anonymous=False,
                        extra=["password_file %s" % pwfile, "acl_file %s" % aclfile]).start())
    secret = {}
    for u, pw in USERS.items():
        secret[u] = os.path.join(f.d, u + ".pw")
        with open(secret[u], "w") as out:
            out.write(pw + "\nsecond line is not part of it\n")
        os.chmod(secret[u], 0o600)  # the agent refuses a password file others may read
    return m, secret


@test
def acl_confines_tills():
    with Fixture("pe-fleet") as f:
        m, secret = acl_broker(f)

        # Nobody gets in anonymously.
        p = publish(m, TOPIC + "t01/cmd", "{}", check_rc=None)
        check(p.returncode != 0, "anonymous publish refused: %r" % p.stderr)

        # t01 listens on its own commands (its own retained state says it is ready).
        till = f.add(Responder(m, [TOPIC + "t01/cmd"], {"t01": standard_till},
                               ready=(TOPIC + "t01/state", state_doc("t01")), **as_("t01")))
        # The bridge user listens to the store's events.
        events = f.add(Responder(m, [TOPIC + "+/events"], {},
                                 ready=(TOPIC + "bridge/ready", "1"), **as_("bridge")))

        # t02 tries to command t01, then the bridge user does: only the bridge's arrives.
        publish(m, TOPIC + "t01/cmd", '{"id":"from-t02","cmd":"z_report"}', **as_("t02"))
        publish(m, TOPIC + "t01/cmd", '{"id":"from-bridge","cmd":"ping"}', **as_("bridge"))
        wait_until(lambda: any(c and c.get("id") == "from-bridge" for _, _, _, c in till.got), 20,
                   "the bridge's command at t01")
        ids = [c.get("id") for _, _, _, c in till.got if c]
        check(ids == ["from-bridge"], "t02's command is not delivered: %r" % ids)

        # t02 forges t01's events, then publishes its own: only its own arrive.
        publish(m, TOPIC + "t01/events", '{"forged":true}', **as_("t02"))
        publish(m, TOPIC + "t02/events", '{"own":true}', **as_("t02"))
        wait_until(lambda: any(t == TOPIC + "t02/events" for t, _, _, _ in events.got), 20,
                   "t02's own events")
        seen = [(t, p) for t, _, p, _ in events.got]
        check(seen == [(TOPIC + "t02/events", '{"own":true}')], "no forged events: %r" % seen)

        # posedge-ctl as the bridge user: one till, then every online till (the probe on
        # bridge/probe/..., the states and the answers all pass the ACL).
        login = ["--user", "bridge", "--password-file", secret["bridge"]]
        p = fleet(m, *login, "--terminal", "t01", "ping", check_rc=0)
        check(p.stdout == "t01 ok ping: pong=true version=0.6.0\n", "%r" % p.stdout)
        p = fleet(m, *login, "z_report", check_rc=0)
        check(p.stdout.startswith("t01 ok z_report: seq=1234 number=7\n"), "%r" % p.stdout)
        check("bridge-pw" not in p.stdout + p.stderr, "the password is never printed")
        # As a till, posedge-ctl cannot command one: the command never arrives (MQTT v5: the
        # broker says so at once, PUBACK "Not authorized").
        n = len(till.commands())
        p = fleet(m, "--user", "t02", "--password-file", secret["t02"], "--terminal", "t01",
                  "--timeout", "2", "ping", check_rc=1)
        check("t01: the broker refused the command (Not authorized" in p.stderr, "%r" % p.stderr)
        till.sync(TOPIC + "t01/cmd", **as_("bridge"))
        check(len(till.commands()) == n, "t02's command is not delivered: %r" % till.commands()[n:])

        # status as the bridge user sees t01.
        p = run([CTL, "status", "--mqtt", m.addr, "--store", STORE] + login, timeout=60,
                check_rc=0)
        rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:]}
        check(rows.get("t01", [None, None])[1] == "online", "t01 online: %r" % p.stdout)
        check("did not confirm" not in p.stderr, "the probe came back: %r" % p.stderr)
        # A wrong password or none: refused at once, exit 1.
        bad = os.path.join(f.d, "bad.pw")
        with open(bad, "w") as out:
            out.write("wrong\n")
        for extra in (["--user", "bridge", "--password-file", bad], []):
            t0 = time.monotonic()
            p = run([CTL, "status", "--mqtt", m.addr, "--store", STORE, "--timeout", "10"] +
                    extra, timeout=60, check_rc=1)
            check("refused the connection" in p.stderr, "%s: %r" % (extra, p.stderr))
            check(time.monotonic() - t0 < 5, "%s: at once, not at the timeout" % extra)
            p = fleet(m, "--timeout", "10", "--terminal", "t01", "ping", *extra, check_rc=1)
            check("refused the connection" in p.stderr, "fleet %s: %r" % (extra, p.stderr))


class Daemon:
    """posedge-agent as a daemon (the endless shopper on the sim board), its log in a file."""

    def __init__(self, d, *args):
        self.data = os.path.join(d, "till")
        self.logpath = os.path.join(d, "agent.log")
        with open(self.logpath, "w") as log:
            self.proc = subprocess.Popen([AGENT, "-c", CONFIG, "--data-dir", self.data,
                                          "--set", "sim.start=" + SIM_START] + list(args),
                                         stdout=subprocess.DEVNULL, stderr=log)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def package_version():
    with open(os.path.join(SRC, "pkg", "changelog")) as f:
        return re.match(r"^\S+ \(([^)]+)\)", f.readline()).group(1)


@test
def real_agent_through_the_acl():
    with Fixture("pe-fleet") as f:
        m, secret = acl_broker(f)
        f.add(Daemon(f.d, "--mqtt", m.addr, "--set", "mqtt.username=t01",
                     "--set", "mqtt.password_file=" + secret["t01"]))
        login = ["--user", "bridge", "--password-file", secret["bridge"]]

        def row():
            p = run([CTL, "status", "--mqtt", m.addr, "--store", STORE] + login, timeout=60,
                    check_rc=0)
            rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:]}
            return rows.get("t01") if rows.get("t01", ["", ""])[1] == "online" else None

        cols = wait_until(row, 60, "t01 online in posedge-ctl status")
        version = package_version()
        check(cols[8] == version and cols[10] == "ok" and cols[11] in ("open", "closed"),
              "VERSION DEVICES SHIFT: %r" % cols)
        check(re.fullmatch(r"\d+s|\d+m\d\ds", cols[9]), "UPTIME %r" % cols)

        p = fleet(m, *login, "--terminal", "t01", "ping", check_rc=0)
        check(p.stdout == "t01 ok ping: pong=true version=%s\n" % version, "%r" % p.stdout)
        p = fleet(m, *login, "--json", "--terminal", "t01", "status", check_rc=0)
        a = json.loads(p.stdout)
        check(a["ok"] and a["terminal"] == "t01" and a["result"]["state"] == "online" and
              a["result"]["version"] == version, "status: %r" % a)
        # Every online till (only t01) refuses what it does not know, and bad arguments.
        p = fleet(m, *login, "frobnicate", check_rc=1)
        check(p.stdout.startswith("t01 refused frobnicate: unknown_command"), "%r" % p.stdout)
        p = fleet(m, *login, "--terminal", "t01", "resend_from", "seq=0", check_rc=1)
        check(p.stdout.startswith("t01 refused resend_from: bad_args"), "%r" % p.stdout)


if __name__ == "__main__":
    main()
