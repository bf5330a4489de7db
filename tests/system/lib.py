# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the system tests.

System tests run the real binaries (built with sanitizers) in fresh temporary directories and
report one line per test, "ok - name" or "not ok - name: reason", which tests/run.sh counts.
They run with /usr/bin/python3 (Debian's Python) and use only its standard library. Nothing
here sleeps to synchronise: waits poll a condition against a deadline.
"""
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.environ.get("PE_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("PE_BIN", os.path.join(SRC, "build", "sim", "san"))
BIN_RELEASE = os.environ.get("PE_BIN_RELEASE", os.path.join(SRC, "build", "sim"))
AGENT = os.path.join(BIN, "posedge-agent")
CTL = os.path.join(BIN, "posedge-ctl")
CONFIG = os.path.join(SRC, "boards", "sim", "agent.json")

_tests = []


class Failure(Exception):
    pass


def test(fn):
    _tests.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise Failure(msg)


def tmpdir(name="pe-sys"):
    d = tempfile.mkdtemp(prefix=name + "-")
    return d


def run(cmd, timeout=300, env=None, check_rc=None, input=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, input=input)
    if check_rc is not None and p.returncode != check_rc:
        raise Failure("%s exited %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, check_rc, p.stdout[-2000:], p.stderr[-3000:]))
    return p


def agent(data_dir, *args, env=None, timeout=600, check_rc=0, binary=None):
    cmd = [binary or AGENT, "-c", CONFIG, "--data-dir", data_dir] + list(args)
    return run(cmd, timeout=timeout, env=env, check_rc=check_rc)


def ctl(*args, check_rc=None, timeout=300):
    return run([CTL] + list(args), timeout=timeout, check_rc=check_rc)


def journal_events(db):
    p = ctl("journal", db, check_rc=0)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)  # polling interval of a condition with a deadline, not a synchroniser
    raise Failure("timed out after %ss waiting for %s" % (timeout, what))


RECEIPT_RE = re.compile(r"^Receipt (\S+)/(\S+) #(\d+)\nID ([0-9a-f-]{36})$", re.M)


def receipts(data_dir):
    """(seq, id) of every complete receipt in the fake printer's output."""
    path = os.path.join(data_dir, "receipts.txt")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return [(int(m.group(3)), m.group(4)) for m in RECEIPT_RE.finditer(text)]


def db_rows(db, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---- the wall clock: PE_TEST_FAKETIME ----
# PE_TEST_FAKETIME="YYYY-MM-DD HH:MM:SS" (UTC) runs the programs of the build under test (those in
# PE_BIN and PE_BIN_RELEASE, not those installed in a chroot) at that time: libfaketime (Debian's
# faketime package) with one offset computed here, so all of them agree and their clocks run on
# from there; their monotonic clocks are left alone, and so are librdkafka's condition waits
# (faketime_waits.c). mosquitto, Kafka, kcat and this Python are not faked: a test that compares
# a time with the programs' clock takes "now" from now(). This is how the suite is checked for
# tests that depend on the time of day (README, "Testing").
_FAKETIME = os.environ.get("PE_TEST_FAKETIME", "")
_FAKE_OFFSET = 0
if _FAKETIME:
    import calendar
    import glob
    _FAKE_OFFSET = calendar.timegm(time.strptime(_FAKETIME, "%Y-%m-%d %H:%M:%S")) - int(time.time())
    _FAKE_LIBS = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")[:1]
    if not _FAKE_LIBS:
        sys.exit("PE_TEST_FAKETIME needs libfaketime: apt-get install faketime")
    _FAKE_LIBS.insert(0, os.path.join(tempfile.mkdtemp(prefix="pe-faketime-"), "waits.so"))
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", _FAKE_LIBS[0],
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "faketime_waits.c")],
                   check=True)

    _FAKED_DIRS = {os.path.normpath(BIN), os.path.normpath(BIN_RELEASE)}

    class _FakedPopen(subprocess.Popen):
        """Popen that fakes the clock of a command naming a program of the build under test
        (also behind a wrapper such as valgrind or ip netns exec)."""

        def __init__(self, args, *a, **kw):
            words = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
            if any(os.path.dirname(os.path.normpath(str(w))) in _FAKED_DIRS for w in words):
                env = dict(kw.get("env") or os.environ)
                env.update(LD_PRELOAD=" ".join(_FAKE_LIBS), FAKETIME="%+d" % _FAKE_OFFSET,
                           FAKETIME_DONT_FAKE_MONOTONIC="1",
                           ASAN_OPTIONS=":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                               "verify_asan_link_order=0"])))
                kw["env"] = env
            super().__init__(args, *a, **kw)

    subprocess.Popen = _FakedPopen


def now():
    """The posedge programs' wall clock in seconds since the epoch: time.time(), or the time
    PE_TEST_FAKETIME makes them see."""
    return time.time() + _FAKE_OFFSET


# The simulated clock's start (--set sim.start=...) of the tills a test runs: fixed, five minutes
# before the simulated shop opens (sim.open_hour 8), so that no test depends on the date or the
# time of day it runs at. Its events are months old: the test broker keeps records of any age
# (kafka.py), and the bridge's sinks flag them late (lateness_s). A test that needs recent event
# times takes sim_day().
SIM_START = "2026-03-02T07:55:00.000Z"


def sim_day(days, clock="07:55:00"):
    """A sim.start at clock on the programs' current UTC date plus days (-1: yesterday)."""
    return time.strftime("%Y-%m-%dT", time.gmtime(now() + days * 86400)) + clock + ".000Z"


# ---- a PKCS#11 token for the pkcs11 signer ----

SOFTHSM2 = os.environ.get("PE_TEST_SOFTHSM2", "/usr/lib/softhsm/libsofthsm2.so")
PIN = "582046"  # the user PIN: never in a log, a message, a receipt or the printed config
SO_PIN = "193847"


def softhsm_token(d, label="till-t01"):
    """A SoftHSM2 (Debian's softhsm2, a real PKCS#11 token) of d's own (SOFTHSM2_CONF) with one token; returns (env, the agent's --set
    arguments for signer.type pkcs11, the PIN file)."""
    check(os.path.exists(SOFTHSM2), "SoftHSM2's module %s: install softhsm2 (scripts/deps.sh)" % SOFTHSM2)
    tokens = os.path.join(d, "tokens")
    os.mkdir(tokens, 0o700)
    conf = os.path.join(d, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n" % tokens)
    env = {"SOFTHSM2_CONF": conf}
    run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin",
         SO_PIN], env=env, check_rc=0)
    pin = os.path.join(d, "token.pin")
    with open(os.open(pin, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(PIN + "\n")
    sets = ["--set", "signer.type=pkcs11", "--set", "signer.pkcs11_module=" + SOFTHSM2,
            "--set", "signer.pkcs11_token=" + label, "--set", "signer.pkcs11_pin_file=" + pin]
    return env, sets, pin


def main():
    only = sys.argv[1:]
    failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        name = "%s.%s" % (os.path.splitext(os.path.basename(sys.argv[0]))[0], fn.__name__)
        t0 = time.monotonic()
        try:
            fn()
            print("ok - %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # report and go on: one failing test never hides the others
            failed += 1
            msg = str(e).replace("\n", "\n    ")
            print("not ok - %s: %s" % (name, msg.splitlines()[0] if msg else type(e).__name__), flush=True)
            print("    " + msg, flush=True)
            traceback.print_exc(file=sys.stdout)
    sys.exit(1 if failed else 0)


# ---- store fixtures: the real mosquitto broker, the dev Kafka, the bridge ----

import signal
import socket
import threading

BRIDGE = os.path.join(BIN, "posedge-bridge")
BRIDGE_CONFIG = os.path.join(SRC, "boards", "sim", "bridge.json")


def free_port():
    """A loopback port nothing listens on. tests/run.sh runs tests side by side and gives each
    its lane ($PE_TEST_LANE): a lane takes its ports from a range of its own, below the kernel's
    ephemeral ports, so two tests never both get the port that one just let go, and no
    outgoing connection takes one meanwhile. Without a lane, the kernel picks."""
    lane = os.environ.get("PE_TEST_LANE")
    if lane is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    base = 20000 + 1000 * int(lane)
    for _ in range(1000):
        port = random.randrange(base, base + 1000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise Failure("no free loopback port in %d..%d (lane %s)" % (base, base + 999, lane))


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class StorePKI:
    """A store's PKI made with posedge-ctl pki in workdir/<name>: the CA (ca/, a store CA, or an
    HQ CA for every store with hq=True), the broker's server certificate (CN <store>/server,
    SAN DNS:localhost,IP:127.0.0.1), the bridge's (<store>/bridge) and HQ's (<store>/hq) client
    certificates, and till certificates, tokens, revocations and CRLs on request. Keys are
    0600 files; ctl outputs are kept in self.outputs for a test that greps for secrets."""

    def __init__(self, workdir, store="s001", name="pki", hq=False):
        self.store = store
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.ca = os.path.join(self.dir, "ca")
        self.outputs = []
        self.pki("init", "--dir", self.ca, *(["--hq"] if hq else ["--store", store]))
        self.ca_crt = os.path.join(self.ca, "ca.crt")
        self.server_key, self.server_crt = self.path("server.key"), self.path("server.crt")
        self.pki("issue", "--dir", self.ca, "--store", store, "--server", "--san",
                 "DNS:localhost,IP:127.0.0.1", "--key-out", self.server_key,
                 "--out", self.server_crt)
        self.bridge_key, self.bridge_crt = self.path("bridge.key"), self.path("bridge.crt")
        self.pki("issue", "--dir", self.ca, "--store", store, "--bridge", "--key-out",
                 self.bridge_key, "--out", self.bridge_crt)
        self.hq_key, self.hq_crt = self.path("hq.key"), self.path("hq.crt")
        self.pki("issue", "--dir", self.ca, "--store", store, "--hq", "--key-out", self.hq_key,
                 "--out", self.hq_crt)

    def path(self, name):
        return os.path.join(self.dir, name)

    def pki(self, *args, check_rc=0):
        p = run([CTL, "pki"] + list(args), timeout=60, check_rc=check_rc)
        self.outputs.append(("pki " + " ".join(args), p.stdout + p.stderr))
        return p

    def till(self, terminal, store=None, days=None, at=None):
        """A till's key (made as the till makes it: pki csr) and its certificate from the CA;
        (key, crt). days and at (a UTC time) as pki issue's --days and --at."""
        store = store or self.store
        key, csr, crt = (self.path("%s-%s.%s" % (store, terminal, x))
                         for x in ("key", "csr", "crt"))
        if not os.path.exists(key):
            self.pki("csr", "--key", key, "--store", store, "--terminal", terminal, "--out", csr)
        extra = (["--days", str(days)] if days else []) + (["--at", at] if at else [])
        self.pki("issue", "--dir", self.ca, "--store", store, "--terminal", terminal, "--csr", csr,
                 "--out", crt, *extra)
        return key, crt

    def token(self, terminal, path=None, store=None):
        """A one-time enrolment token for the till: the token (and its 0600 file when path)."""
        args = ["token", "--dir", self.ca, "--store", store or self.store, "--terminal", terminal]
        p = self.pki(*args + (["--out", path] if path else []))
        if path:
            with open(path) as f:
                return f.readline().strip()
        m = re.match(r"([A-Z2-7]{24})\n", p.stdout)
        check(m, "no token in %r" % p.stdout)
        return m.group(1)

    def revoke(self, terminal):
        self.pki("revoke", "--dir", self.ca, "--terminal", terminal, "--store", self.store)

    @property
    def crl(self):
        return os.path.join(self.ca, "crl.pem")


class Mosquitto:
    """The real mosquitto broker on a free loopback port with a generated config.

    With tls=StorePKI the configuration is posedge-ctl broker-config's (mutual TLS on self.port,
    the enrolment listener on self.enrol_port, and with lab_password_file a plaintext lab
    listener on self.lab_port), with the PKI's CA, server certificate and CRL copied into the
    broker's directory; reload_crl() installs the CA's current CRL and reloads (SIGHUP)."""

    def __init__(self, workdir, port=None, also_on=(), anonymous=True, extra=(), tls=None,
                 lab_password_file=None, acl=None):
        """also_on: more addresses to listen on (same port), e.g. a veth end of a test.
        anonymous: allow_anonymous (False with a password_file in extra for an ACL test).
        extra: more lines of mosquitto.conf, e.g. "password_file /path", "acl_file /path".
        tls: a StorePKI: the store broker of broker-config instead (acl: another text for its
        main ACL file, for a test of a denial)."""
        self.dir = os.path.join(workdir, "mosquitto")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.tls = tls
        self.proc = None
        if tls:
            self._tls_conf(tls, lab_password_file, acl, extra)
            return
        with open(self.conf, "w") as f:
            # user root: as root mosquitto would switch to its own user, which cannot write
            # the persistence directory of a test run.
            f.write("user root\nper_listener_settings false\nallow_anonymous %s\n"
                    "listener %d 127.0.0.1\n" % ("true" if anonymous else "false", self.port))
            for addr in also_on:
                f.write("listener %d %s\n" % (self.port, addr))
            f.write("persistence true\npersistence_location %s/\n"
                    "max_queued_messages 100000\n" % self.dir)
            for line in extra:
                f.write(line + "\n")

    def _tls_conf(self, pki, lab_password_file, acl, extra):
        self.enrol_port = free_port()
        self.lab_port = free_port() if lab_password_file else None
        for src, name in ((pki.ca_crt, "ca.crt"), (pki.server_crt, "server.crt"),
                          (pki.server_key, "server.key"), (pki.crl, "crl.pem")):
            shutil.copyfile(src, os.path.join(self.dir, name))
        os.chmod(os.path.join(self.dir, "server.key"), 0o600)
        posedge_conf = os.path.join(self.dir, "posedge.conf")
        args = [CTL, "broker-config", "--store", pki.store, "--dir", self.dir, "--conf",
                posedge_conf, "--bind", "127.0.0.1", "--port", str(self.port), "--enrol-port",
                str(self.enrol_port)]
        if lab_password_file:
            args += ["--lab-port", str(self.lab_port), "--lab-password-file", lab_password_file]
        run(args, timeout=30, check_rc=0)
        if acl is not None:
            with open(os.path.join(self.dir, "acl"), "w") as f:
                f.write(acl)
        with open(posedge_conf) as f:
            generated = f.read()
        with open(self.conf, "w") as f:
            # user root as in the plaintext fixture; the rest is broker-config's, unchanged.
            f.write("user root\npersistence true\npersistence_location %s/\n"
                    "max_queued_messages 100000\nlog_type all\n" % self.dir)
            for line in extra:
                f.write(line + "\n")
            f.write(generated)

    def reload_crl(self):
        """Install the CA's current CRL and reload the broker (SIGHUP, as systemctl reload)."""
        shutil.copyfile(self.tls.crl, os.path.join(self.dir, "crl.pem"))
        self.proc.send_signal(signal.SIGHUP)

    def start(self):
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "a")
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", self.conf],
                                     stdout=self.log, stderr=self.log)
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 20,
                   "mosquitto on port %d" % self.port)
        check(self.proc.poll() is None, "mosquitto exited: see %s" % self.dir)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a clean stop saves sessions and retained
            self.proc.wait(timeout=30)
        self.proc = None

    def kill(self):
        """kill -9: sessions and retained messages since the last autosave are lost."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def logtext(self):
        with open(os.path.join(self.dir, "mosquitto.log"), errors="replace") as f:
            return f.read()


# ---- tills played in Python: fleet commands and their answers (docs/protocol.md) ----

def now_ts(delta_s=0.0):
    """A protocol timestamp delta_s from now by the clock of the programs under test."""
    t = now() + delta_s
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def creds(user, password):
    return ["-u", user, "-P", password] if user else []


def mqtt_publish(broker, topic, payload, retain=False, user=None, password=None, check_rc=0):
    """mosquitto_pub of one QoS 1 message (retained when asked) to broker."""
    return run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t", topic,
                "-m", payload] + (["-r"] if retain else []) + creds(user, password), timeout=30,
               check_rc=check_rc)


def fleet_answer(term, cmd, result=None, error=None, reason=None, req=None):
    """A till's answer to fleet command cmd (a dict): ok with result, or refused with error and
    reason; req replaces the command's request id."""
    a = {"id": cmd["id"] if req is None else req, "terminal": term, "cmd": cmd["cmd"],
         "ok": error is None, "ts": now_ts()}
    if error is None:
        if result is not None:
            a["result"] = result
    else:
        a["error"] = error
        if reason is not None:
            a["reason"] = reason
    return a


class Responder:
    """Plays tills: reads commands on the given topics, answers on <terminal>/cmd/res.

    script: {terminal: fn(terminal, command) -> an answer dict, or a list of answer dicts and
    functions (each called in turn once the answers before it are published: what the till does
    next), or None for silence}; a terminal not in it never answers. ready = (topic, payload):
    published retained before subscribing (also to it); the responder is ready once it comes
    back, since the broker sends retained messages only after the subscriptions are in place.
    user/password log in both the subscriber and the answers (an ACL test's till).
    """

    def __init__(self, broker, topics, script, ready, user=None, password=None):
        self.broker, self.script, self.user, self.password = broker, script, user, password
        self.ready_topic = ready[0]
        self.got = []       # (topic, retained, payload as received, parsed or None)
        self.answers = {}   # request id -> the answers sent (list of dicts)
        self.lock = threading.Lock()
        self.ready = threading.Event()
        mqtt_publish(broker, ready[0], ready[1], retain=True, user=user, password=password)
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
               "-F", "%r %t %p", "-t", ready[0]] + creds(user, password)
        for t in topics:
            cmd += ["-t", t]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(self.ready.is_set, 20, "responder ready")

    def _read(self):
        for line in self.proc.stdout:
            retained, topic, payload = line.rstrip(b"\n").split(b" ", 2)
            topic = topic.decode()
            if topic == self.ready_topic:
                self.ready.set()
                continue
            try:
                cmd = json.loads(payload)
            except ValueError:
                cmd = None
            with self.lock:
                self.got.append((topic, retained == b"1", payload.decode(), cmd))
            parts = topic.split("/")
            if cmd is None or len(parts) != 5 or parts[4] != "cmd" or parts[3] not in self.script:
                continue
            out = self.script[parts[3]](parts[3], cmd)
            for a in out if isinstance(out, list) else [out] if out else []:
                if callable(a):
                    a()
                    continue
                with self.lock:
                    self.answers.setdefault(a["id"], []).append(a)
                mqtt_publish(self.broker, "/".join(parts[:4]) + "/cmd/res", json.dumps(a),
                             user=self.user, password=self.password)

    def commands(self):
        """(terminal, command) of every command received so far (markers are no JSON)."""
        with self.lock:
            return [(t.split("/")[3], c) for t, _, _, c in self.got
                    if t.endswith("/cmd") and c is not None]

    def sync(self, topic, user=None, password=None):
        """Publish a marker on topic (one the responder reads) and wait for it: every command
        published before this has been received by then (the broker routes in order)."""
        marker = "marker-%d" % time.monotonic_ns()
        mqtt_publish(self.broker, topic, marker, user=user, password=password)
        wait_until(lambda: any(p == marker for _, _, p, _ in list(self.got)), 20, "the marker")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Fixture:
    """Everything a test started, stopped in reverse order whatever happens (an item's
    cleanup() when it has one, else its stop()); d is its temporary directory."""

    def __init__(self, name="pe-sys"):
        self.d = tmpdir(name)
        self.items = []

    def add(self, x):
        self.items.append(x)
        return x

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for x in reversed(self.items):
            try:
                getattr(x, "cleanup", x.stop)()
            except Exception:  # cleanup of one item never hides the test's own failure
                pass
        return False


class DevKafka:
    """posedge-ctl devkafka: librdkafka's mock cluster, with fault commands on stdin."""

    def __init__(self, workdir):
        self.log = open(os.path.join(workdir, "devkafka.log"), "w")
        self.proc = subprocess.Popen([CTL, "devkafka"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        first = self.proc.stdout.readline().strip()
        check(first.startswith("bootstrap="), "devkafka first line: %r" % first)
        self.bootstrap = first.split("=", 1)[1]

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            check(line != "", "devkafka exited")
            if line.startswith("ok ") or line.startswith("error "):
                check(line.startswith("ok "), "devkafka %s: %s" % (cmd, line))
                return

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


class Bridge:
    def __init__(self, workdir, mqtt, brokers, *extra):
        self.dir = os.path.join(workdir, "bridge")
        os.makedirs(self.dir, exist_ok=True)
        self.args = [BRIDGE, "-c", BRIDGE_CONFIG, "--data-dir", self.dir, "--mqtt", mqtt,
                     "--kafka", brokers] + list(extra)
        self.proc = None
        self.logpath = os.path.join(workdir, "bridge.log")

    def start(self):
        self.log = open(self.logpath, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            check(rc == 0, "bridge exit status %d, see %s" % (rc, self.logpath))

    def logtext(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()


def reconcile(brokers, journals, *extra, check_rc=0):
    p = run([CTL, "reconcile", "--brokers", brokers] + list(extra) + list(journals),
            timeout=300, check_rc=check_rc)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return p, last
