#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The bridge to Kafka over SASL_SSL, as to a managed Kafka: a real broker with a SASL_SSL
listener (TLS from posedge's own store CA, SCRAM-SHA-512 and PLAIN) and ACLs that let the
bridge's user write only its topics and use only its transactional id (tests/system/kafka.py).

What it shows: the bridge delivers over SASL_SSL and posedge-ctl reconcile (as HQ's reader, over
SASL_SSL too) finds nothing missing or doubled after several kill -9s; PLAIN works as well; a
wrong password or a topic without an ACL loses nothing (every record stays in the spool, the
bridge's state says what Kafka refuses, the log says it once) and delivery resumes once the
password file is fixed and the bridge gets SIGHUP, or the ACL is granted; a password file
others may read is refused at start, naming it and its mode; and no password used here is in
any log, --print-config output, self-test output or state document.

One broker and one mosquitto serve every test (a SASL_SSL node takes some 20 s to start and
set up). Each test has a bridge of its own (same bridge id: the ACLs name its transactional
id) and tills of its own, so reconcile compares each test's journals only.
"""
import json
import os
import random
import re
import signal
import subprocess
import time

from kafka import KCAT, RealKafka
from lib import (AGENT, BRIDGE, BRIDGE_CONFIG, CONFIG, CTL, Bridge, Mosquitto, check, main,
                 run, test, tmpdir, wait_until)

_shared = {}
_logs = []  # every log and output a password must not be in


def store():
    """The shared broker and mosquitto (started by the first test that needs them)."""
    if not _shared:
        d = tmpdir("pe-sasl")
        _shared["dir"] = d
        _shared["kafka"] = RealKafka(d, security="sasl_ssl").start()
        _shared["mqtt"] = Mosquitto(d).start()
        _logs.append(_shared["kafka"].logpath)
    return _shared["dir"], _shared["kafka"], _shared["mqtt"]


def sets(settings):
    args = []
    for k, v in settings.items():
        args += ["--set", "%s=%s" % (k, v)]
    return args


def bridge(name, *extra, **settings):
    """A bridge of its own (data dir and log under <shared dir>/<name>) logged in to Kafka with
    the settings given over the bridge user's SCRAM-SHA-512 ones."""
    d, k, m = store()
    conf = k.sasl.settings()
    conf.update({key.replace("__", "."): v for key, v in settings.items()})
    b = Bridge(os.path.join(d, name), m.addr, k.bootstrap, *(sets(conf) + list(extra)))
    _logs.append(b.logpath)
    return b


def write_private(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class Till:
    """A till of the shared store, shopping in the background until Kafka has everything."""

    def __init__(self, terminal, customers, seed, wait=300):
        d, _, m = store()
        self.terminal = terminal
        self.dir = os.path.join(d, terminal)
        self.log = self.dir + ".log"
        _logs.append(self.log)
        self.proc = subprocess.Popen(
            [AGENT, "-c", CONFIG, "--data-dir", self.dir, "--terminal", terminal, "--mqtt",
             m.addr, "--shopper", str(customers), "--seed", str(seed), "--wait-delivered",
             str(wait)], stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))

    @property
    def journal(self):
        return os.path.join(self.dir, "journal.db")

    def last_seq(self, timeout=120):
        """The last seq of its journal, once it has sold everything (and waits for Kafka)."""
        def done():
            with open(self.log, errors="replace") as f:
                m = re.search(r"event=agent\.wait_delivered last_seq=(\d+)", f.read())
            check(m or self.proc.poll() is None, "till %s exited early: see %s"
                  % (self.terminal, self.log))
            return int(m.group(1)) if m else None
        return wait_until(done, timeout, "till %s to finish selling" % self.terminal)

    def wait(self, timeout=300):
        check(self.proc.wait(timeout=timeout) == 0,
              "till %s did not see everything delivered (see %s)" % (self.terminal, self.log))


def bridge_state(cond, timeout, what):
    """The bridge's retained state document, once cond(doc) holds (stale ones of earlier
    bridges are skipped by cond)."""
    _, _, m = store()
    seen = []

    def get():
        p = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(m.port), "-t",
                 "posedge/v1/s001/bridge/state", "-C", "1", "-W", "3"], timeout=30)
        if p.returncode != 0 or not p.stdout.strip():
            return None
        seen.append(p.stdout)
        doc = json.loads(p.stdout)
        return doc if cond(doc) else None
    try:
        return wait_until(get, timeout, what)
    finally:
        if seen:
            path = os.path.join(store()[0], "states.txt")
            with open(path, "a") as f:
                f.write("".join(seen))
            if path not in _logs:
                _logs.append(path)


def spooled(b, terminal):
    """(spooled, delivered, rows) of a terminal in a bridge's spool."""
    db = os.path.join(b.dir, "spool.db")
    con = __import__("sqlite3").connect("file:%s?mode=ro" % db, uri=True)
    try:
        row = con.execute("SELECT spooled, delivered FROM terminals WHERE terminal = ?",
                          (terminal,)).fetchone()
        n = con.execute("SELECT count(*) FROM records WHERE terminal = ?",
                        (terminal,)).fetchone()[0]
    finally:
        con.close()
    return (row[0], row[1], n) if row else (0, 0, 0)


def hq_config():
    """A bridge-style configuration file for HQ's reader (user hq), for reconcile."""
    d, k, _ = store()
    path = os.path.join(d, "hq.json")
    if not os.path.exists(path):
        sa = k.sasl
        with open(path, "w") as f:
            json.dump({"kafka": {"brokers": k.bootstrap, "security_protocol": "sasl_ssl",
                                 "sasl": {"mechanism": "SCRAM-SHA-512", "username": "hq",
                                          "password_file": sa.password_file("hq")},
                                 "tls": {"ca_file": sa.ca_file}}}, f)
    return path


def reconcile(*journals, options=None):
    """posedge-ctl reconcile over SASL_SSL as HQ's reader: from hq.json, or with options."""
    _, k, _ = store()
    args = options if options is not None else ["--bridge-config", hq_config()]
    p = run([CTL, "reconcile"] + args + list(journals), timeout=300)
    out = os.path.join(store()[0], "reconcile-%d.out" % len(_logs))
    with open(out, "w") as f:
        f.write(p.stdout + p.stderr)
    _logs.append(out)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    check(last == "missing=0 duplicates=0 mismatched=0",
          "reconcile: %s\n%s%s" % (last, p.stdout[-2000:], p.stderr[-2000:]))


def auth_lines(b, word):
    return [l for l in b.logtext().splitlines()
            if "event=output.kafka_auth" in l and "kafka=%s" % word in l]


@test
def scram_sha512_kill9_reconcile_clean():
    """Transactional mode over SASL_SSL (SCRAM-SHA-512, the store CA): two tills while the
    bridge is killed with kill -9 five times; reconcile, as HQ's reader over SASL_SSL, finds
    every event once."""
    # A paced drain (the tills sell faster than that), so that every bridge is killed while it
    # has transactions open and records in flight.
    b = bridge("b-kill", drain__events_per_s=250).start()
    try:
        tills = [Till("t%02d" % i, 800, 30 + i, wait=400) for i in (1, 2)]
        rnd = random.Random(13)
        for i in range(5):
            # Each bridge gets to deliver (it has fenced its predecessor and read the committed
            # state back over SASL_SSL), then dies at a random moment of its transactions.
            wait_until(lambda: b.logtext().count("event=output.recovered") > i, 60,
                       "bridge %d to recover" % (i + 1))
            time.sleep(rnd.uniform(0.3, 2.0))  # a moment to crash at: the fault itself
            b.kill()
            b.start()
        for t in tills:
            t.wait(400)
        reconcile(*[t.journal for t in tills])
        text = b.logtext()
        resumed = re.findall(r"event=output\.state_read .* n=(\d+)", text)
        check(len(set(resumed)) >= 3, "the bridges resumed from too few committed states: %s"
              % resumed)
        check("kafka=auth_failed" not in text and "event=output.kafka_plaintext" not in text,
              "a refusal or a plaintext warning in %s" % b.logpath)
    finally:
        b.stop()


@test
def plain_mechanism_idempotent():
    """SASL PLAIN (its own password) and the idempotent backend; reconcile with explicit
    options instead of a configuration file."""
    _, k, _ = store()
    b = bridge("b-plain", kafka__sasl__mechanism="PLAIN",
               kafka__sasl__password_file=k.sasl.password_file("bridge-plain"),
               kafka__mode="idempotent").start()
    try:
        t = Till("t03", 80, 3)
        t.wait(120)
        sa = k.sasl
        reconcile(t.journal, options=[
            "--brokers", k.bootstrap, "--security-protocol", "sasl_ssl", "--sasl-username", "hq",
            "--sasl-password-file", sa.password_file("hq"), "--tls-ca-file", sa.ca_file])
    finally:
        b.stop()


def wrong_password_then_sighup(name, terminal, seed, mode):
    d, k, _ = store()
    pw = os.path.join(d, name + ".password")
    write_private(pw, "not-the-password\n")
    b = bridge(name, kafka__sasl__password_file=pw, kafka__mode=mode).start()
    try:
        t = Till(terminal, 60, seed)
        n = t.last_seq()
        # Every record is spooled and none delivered; the state says why.
        wait_until(lambda: spooled(b, terminal)[0] == n, 60, "%d records spooled" % n)
        bridge_state(lambda s: s.get("state") == "online"
                     and s["kafka"].get("auth") == "auth_failed", 60, "state kafka.auth_failed")
        check(spooled(b, terminal) == (n, 0, n), "spool: %s, journal %d" % (
            spooled(b, terminal), n))
        _, _, m = store()
        p = run([CTL, "status", "--mqtt", m.addr, "--store", "s001"], timeout=60)
        check(re.search(r"^bridge online: .* kafka=auth_failed ", p.stdout, re.M),
              "posedge-ctl status: %s%s" % (p.stdout[-1500:], p.stderr[-500:]))
        check(t.proc.poll() is None, "the till saw its events delivered")
        check(len(auth_lines(b, "auth_failed")) == 1, "the refusal logged %d times, not once"
              % len(auth_lines(b, "auth_failed")))
        # A SIGHUP with the file still wrong: a new producer fails to log in (librdkafka says
        # so for each new client), and the bridge says nothing more about it.
        def logins_failed():
            return b.logtext().count("SASL authentication error")
        before = logins_failed()
        b.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: logins_failed() > before, 30, "a new producer's failed login")
        check(len(auth_lines(b, "auth_failed")) == 1, "the refusal logged again")
        check(spooled(b, terminal)[1] == 0, "delivered with the wrong password")
        # Fixed, then SIGHUP: everything goes, with no restart.
        write_private(pw, k.sasl.passwords["bridge"] + "\n")
        b.proc.send_signal(signal.SIGHUP)
        t.wait(120)
        check(len(auth_lines(b, "ok")) == 1, "the end of the refusal not logged once")
        bridge_state(lambda s: s.get("state") == "online" and s["kafka"].get("auth") == "ok"
                     and s.get("pending") == 0, 60, "state kafka.auth ok, nothing pending")
        reconcile(t.journal)
    finally:
        b.stop()


@test
def wrong_password_keeps_everything_until_sighup():
    wrong_password_then_sighup("b-wrong", "t04", 4, "transactional")


@test
def wrong_password_idempotent_until_sighup():
    wrong_password_then_sighup("b-wrong-idem", "t05", 5, "idempotent")


@test
def topic_not_authorized_loses_nothing():
    """The bridge's user loses Write on pos.reports (every till's first event, signer_installed, goes
    there): nothing is delivered, the state names the topic, the log says it once; once the
    ACL is back the bridge delivers by itself."""
    _, k, _ = store()
    k.acl("User:bridge", ["Write", "Describe"], topics=["pos.reports"], remove=True)
    b = bridge("b-acl").start()
    try:
        t = Till("t06", 60, 6)
        n = t.last_seq()
        doc = bridge_state(lambda s: s.get("state") == "online"
                           and s["kafka"].get("auth") == "topic_not_authorized", 90,
                           "state kafka.auth topic_not_authorized")
        check(doc["kafka"].get("refused") == "pos.reports", "refused: %r" % doc["kafka"])
        p = run([CTL, "status", "--mqtt", store()[2].addr, "--store", "s001"], timeout=60)
        check(re.search(r"^bridge online: .* kafka=topic_not_authorized kafka_refused=pos.reports ",
                        p.stdout, re.M), "posedge-ctl status: %s" % p.stdout[-1500:])
        wait_until(lambda: spooled(b, "t06")[0] == n, 60, "%d records spooled" % n)
        check(spooled(b, "t06")[1:] == (0, n), "spool: %s" % (spooled(b, "t06"),))
        check(len(auth_lines(b, "topic_not_authorized")) == 1,
              "the refusal logged %d times" % len(auth_lines(b, "topic_not_authorized")))
    finally:
        k.acl("User:bridge", ["Write", "Describe"], topics=["pos.reports"])
    try:
        t.wait(120)
        reconcile(t.journal)
    finally:
        b.stop()


@test
def secret_files_open_to_others_refused():
    """A password file (or a key file) others may read stops the bridge at start, naming the
    file and its mode, before anything connects."""
    d, k, _ = store()
    pw = os.path.join(d, "open.password")
    write_private(pw, k.sasl.passwords["bridge"] + "\n", 0o644)
    b = bridge("b-open", kafka__sasl__password_file=pw)
    p = run(b.args, timeout=60)
    check(p.returncode == 2, "exit status %d" % p.returncode)
    check(pw in p.stderr and "0644" in p.stderr, "stderr: %s" % p.stderr)
    # A client key for mutual TLS, likewise.
    key = os.path.join(d, "open.key")
    write_private(key, "-----BEGIN PRIVATE KEY-----\n", 0o644)
    b = bridge("b-openkey", kafka__tls__cert_file=k.sasl.ca_file, kafka__tls__key_file=key)
    p = run(b.args, timeout=60)
    check(p.returncode == 2 and key in p.stderr and "0644" in p.stderr, "stderr: %s" % p.stderr)
    # posedge-ctl refuses it too.
    p = run([CTL, "reconcile", "--bridge-config", hq_config(), "--sasl-password-file", pw,
             os.path.join(d, "none.db")], timeout=60)
    check(p.returncode == 2 and pw in p.stderr and "0644" in p.stderr, "ctl: %s" % p.stderr)
    # A password in kafka.properties is refused: secrets come only from files.
    with open(BRIDGE_CONFIG) as f:
        conf = json.load(f)
    conf["kafka"]["properties"]["sasl.password"] = "inline-secret"
    inline = os.path.join(d, "inline.json")
    with open(inline, "w") as f:
        json.dump(conf, f)
    b = bridge("b-inline")
    p = run([BRIDGE, "-c", inline] + b.args[3:], timeout=60)
    check(p.returncode == 2 and "kafka.properties.sasl.password" in p.stderr
          and "kafka.sasl.password_file" in p.stderr and "inline-secret" not in p.stderr,
          "stderr: %s" % p.stderr)


@test
def no_secret_in_any_output():
    """Every log of the tests above, the broker's log, --print-config, --self-test, the retained
    state documents and the telemetry topic: none holds a password used here."""
    d, k, _ = store()
    b = bridge("b-print")
    outputs = []
    for extra in (["--print-config"], ["--self-test"]):
        p = run(b.args + extra, timeout=60)
        check(p.returncode == 0, "%s exited %d: %s%s" % (extra[0], p.returncode, p.stdout,
                                                       p.stderr))
        outputs.append(p.stdout + p.stderr)
    check(k.sasl.password_file("bridge") in outputs[0], "--print-config names the file")
    check("ok kafka.properties" in outputs[1], "--self-test: %s" % outputs[1])
    # The state documents in Kafka (this bridge's at least, over SASL_SSL; those of the tests
    # above too when they ran).
    def telemetry():
        p = run([KCAT, "-b", k.bootstrap] + k.sasl.kcat_args("admin") +
                ["-C", "-t", "pos.telemetry", "-o", "beginning", "-e", "-q"], timeout=60)
        return p.stdout if p.returncode == 0 and '"terminal":"bridge"' in p.stdout else None
    b.start()
    try:
        outputs.append(wait_until(telemetry, 60, "the bridge's state in pos.telemetry"))
    finally:
        b.stop()
    check('"auth":"' in outputs[-1], "no kafka.auth in the state documents")
    texts = outputs[:]
    for path in _logs:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                texts.append(f.read())
    check(len(texts) >= 5, "only %d outputs to look at" % len(texts))
    secrets = list(k.sasl.passwords.values()) + ["not-the-password", "inline-secret"]
    for text in texts:
        for s in secrets:
            check(s not in text, "a password in an output")


if __name__ == "__main__":
    try:
        main()
    finally:
        if _shared:
            _shared["mqtt"].stop()
            _shared["kafka"].close()
