#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of mutual TLS on MQTT, enrolment and renewal (common/mqtt.c, agent/enrol.c,
bridge/enrol.c, posedge-ctl broker-config, acl --tls/--enrol, status and fleet with --tls-*).

Every test runs the real mosquitto with the configuration posedge-ctl broker-config writes
(lib.Mosquitto with tls=StorePKI: mutual TLS, use_identity_as_username, the CRL, the ACL of
acl --tls; the enrolment listener with acl --enrol), certificates from posedge-ctl pki, and
librdkafka's mock cluster behind the bridge. Covered: a client without a certificate, with a
certificate of another CA, an expired one and a revoked one (after a new CRL and a reload) is
refused; a certificate of the same HQ CA for another store reaches none of this store's topics;
a till's publish to another till's topic is answered "Not authorized" (MQTT v5) and a denied
till keeps its events, logs the denial once and shows it in its state document and in status;
enrolment end to end (token -> key and CSR on the till -> the bridge signs -> mutual TLS uplink
-> the events in the spool), a wrong and a reused token refused; a renewal, and a revoked
till's renewal refused; the bridge's state with its certificate and a CRL close to its next
update; key and password files others may read refused at start, naming file and mode; the
plaintext warning (and broker-config's lab listener); the package's broker configuration. The
last test greps every log and --print-config output of the run for the secrets it used
(tokens, passwords, key PEM bodies) and finds none. Waits poll a condition against a deadline;
nothing sleeps to synchronise.
"""
import json
import os
import re
import shutil
import signal
import stat
import subprocess

from lib import (AGENT, BRIDGE, BRIDGE_CONFIG, CONFIG, CTL, SRC, Bridge, DevKafka, Mosquitto,
                 StorePKI, check, db_rows, main, run, test, tmpdir, wait_until)

STORE = "s001"
SECRETS = set()  # tokens, passwords and key lines used by the run
LOGS = []        # (name, path or text) of every log and --print-config output
PKIS = []        # every StorePKI made: its posedge-ctl pki outputs are checked too


def key_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("-----")]


def remember_keys(*paths):
    for p in paths:
        if os.path.exists(p):
            SECRETS.update(l for l in key_lines(p) if len(l) >= 16)


def remember_pki(pki):
    remember_keys(os.path.join(pki.ca, "ca.key"), pki.server_key, pki.bridge_key, pki.hq_key)
    PKIS.append(pki)


class Agent:
    """posedge-agent as till T of the store, logging to its own file."""

    def __init__(self, d, terminal, broker, *args, pki=None, cert=None, key=None, token=None):
        self.data = os.path.join(d, terminal + "-" + str(len(os.listdir(d))))
        os.makedirs(self.data)
        self.cert = cert or os.path.join(self.data, "till.crt")
        self.key = key or os.path.join(self.data, "till.key")
        self.token = token
        self.logpath = os.path.join(self.data, "agent.log")
        self.args = [AGENT, "-c", CONFIG, "--data-dir", self.data, "--terminal", terminal,
                     "--mqtt", broker.addr] + list(args)
        if pki:
            self.args += ["--set", "mqtt.tls.ca_file=" + pki.ca_crt,
                          "--set", "mqtt.tls.cert_file=" + self.cert,
                          "--set", "mqtt.tls.key_file=" + self.key]
        if broker.tls:
            self.args += ["--set", "enrol.port=%d" % broker.enrol_port]
        if token:
            self.args += ["--set", "enrol.token_file=" + token]
        self.proc = None
        LOGS.append(("agent " + terminal, self.logpath))

    def start(self):
        self.out = open(self.logpath, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=self.out)
        return self

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout=timeout)
        self.out.close()
        return rc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.proc = None

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def has(self, needle):
        return needle in self.log()


def tls_bridge(d, broker, kafka, pki, *extra, signer=True):
    args = ["--set", "mqtt.tls.ca_file=" + pki.ca_crt,
            "--set", "mqtt.tls.cert_file=" + pki.bridge_crt,
            "--set", "mqtt.tls.key_file=" + pki.bridge_key] + list(extra)
    if signer:
        args += ["--set", "pki.dir=" + pki.ca]
    b = Bridge(d, broker.addr, kafka.bootstrap, *args)
    LOGS.append(("bridge", b.logpath))
    return b


def as_hq(pki):
    return ["--tls-ca", pki.ca_crt, "--tls-cert", pki.hq_crt, "--tls-key", pki.hq_key]


def status_json(broker, pki):
    p = run([CTL, "status", "--mqtt", broker.addr, "--store", STORE, "--json", "--timeout", "5"]
            + as_hq(pki), timeout=60, check_rc=0)
    return json.loads(p.stdout)


def connects(broker, pki, cert=None, key=None):
    """Whether a client with cert (none: server verification only) gets in and is answered:
    mosquitto_pub -V 5, QoS 1, exit 0 only after the broker's PUBACK."""
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5", "-q", "1",
            "--cafile", pki.ca_crt, "-t", "posedge/v1/s001/probe", "-m", "x"]
    if cert:
        args += ["--cert", cert, "--key", key]
    return run(args, timeout=30).returncode == 0


def pub5(broker, pki, key, crt, topic, payload="x"):
    """mosquitto_pub -V 5 QoS 1 with a client certificate: its output (a denied publish says
    "Not authorized")."""
    p = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5", "-q", "1",
             "--cafile", pki.ca_crt, "--cert", crt, "--key", key, "-t", topic, "-m", payload,
             "-d"], timeout=30)
    return p.stdout + p.stderr


def spooled(bridge, terminal):
    db = os.path.join(bridge.dir, "spool.db")
    if not os.path.exists(db):
        return 0
    rows = db_rows(db, "SELECT spooled FROM terminals WHERE terminal = ?", (terminal,))
    return rows[0][0] if rows else 0


class Fixture:
    def __init__(self):
        self.d = tmpdir("pe-tls")
        self.things = []

    def add(self, x):
        if isinstance(x, Mosquitto):
            LOGS.append(("mosquitto", os.path.join(x.dir, "mosquitto.log")))
        self.things.append(x)
        return x

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for x in reversed(self.things):
            for how in ("stop", "kill"):
                try:
                    getattr(x, how)()
                    break
                except Exception:  # a failed test must still take everything down
                    continue
        # The logs are read now, for no_secret_in_any_log: the directory goes.
        for i, (name, what) in enumerate(LOGS):
            if what.startswith(self.d + os.sep) and os.path.exists(what):
                with open(what, errors="replace") as f:
                    LOGS[i] = (name + " " + what, f.read())
        if exc[0] is None:
            shutil.rmtree(self.d, ignore_errors=True)
        else:
            print("    (kept %s)" % self.d)


@test
def refused_without_a_valid_certificate_of_the_store():
    with Fixture() as f:
        pki = StorePKI(f.d)
        remember_pki(pki)
        m = f.add(Mosquitto(f.d, tls=pki).start())
        key, crt = pki.till("t01")
        remember_keys(key)
        check(connects(m, pki, crt, key), "a valid till certificate is refused")
        check(connects(m, pki, pki.hq_crt, pki.hq_key), "HQ's certificate is refused")
        # No certificate at all: TLS alert "certificate required".
        check(not connects(m, pki), "a client without a certificate got in")
        # Another store's CA: its certificates do not chain to ours.
        other = StorePKI(f.d, name="other")
        remember_pki(other)
        okey, ocrt = other.till("t01")
        remember_keys(okey)
        check(not connects(m, pki, ocrt, okey), "a certificate of another CA got in")
        # Expired: issued in the past for one day.
        ekey, ecrt = pki.till("t09", days=1, at="2020-01-01T00:00:00.000Z")
        remember_keys(ekey)
        check(not connects(m, pki, ecrt, ekey), "an expired certificate got in")
        # The agent does not even try with it: it waits for an enrolment token.
        a = f.add(Agent(f.d, "t09", m, "--shopper", "1", pki=pki, cert=ecrt, key=ekey).start())
        check(a.wait(60) == 0 and a.has("the certificate has expired"), a.log()[-2000:])
        # Revoked: in once, refused at the next connection after the new CRL is loaded.
        rkey, rcrt = pki.till("t03")
        remember_keys(rkey)
        check(connects(m, pki, rcrt, rkey), "t03 refused before its revocation")
        pki.revoke("t03")
        m.reload_crl()
        wait_until(lambda: not connects(m, pki, rcrt, rkey), 30, "t03 refused after the CRL")
        check(connects(m, pki, crt, key), "t01 refused after t03's revocation")
        # Our own client: it keeps trying with backoff, and says why once, not per attempt.
        a = f.add(Agent(f.d, "t03", m, "--shopper", "1", "--wait-delivered", "4", pki=pki,
                        cert=rcrt, key=rkey).start())
        check(a.wait(60) == 1, "the revoked till delivered")
        fails = re.findall(r"event=mqtt\.connect_failed .*", a.log())
        revoked = [l for l in fails if "tls=1" in l and "alert certificate revoked" in l]
        check(len(revoked) == 1 and len(fails) <= 2, a.log()[-3000:])
        check("Client " in m.logtext(), "no broker log")


@test
def another_store_of_the_same_hq_ca_reaches_nothing_here():
    with Fixture() as f:
        hq = StorePKI(f.d, hq=True)  # one CA for every store: the CN carries the store
        remember_pki(hq)
        m = f.add(Mosquitto(f.d, tls=hq).start())
        key, crt = hq.till("t01", store="s002")
        remember_keys(key)
        out = pub5(m, hq, key, crt, "posedge/v1/s001/t01/events")
        check("Not authorized" in out, "s002/t01 published on s001's topic: %s" % out)
        out = pub5(m, hq, key, crt, "posedge/v1/s002/t01/events")
        check("Not authorized" not in out and "RC:16" in out, "its own store's topic: %s" % out)


@test
def denied_publishes_are_kept_counted_and_shown():
    with Fixture() as f:
        pki = StorePKI(f.d)
        remember_pki(pki)
        # A till publishing to another till's topic: the broker answers Not authorized (v5).
        key, crt = pki.till("t01")
        remember_keys(key)
        # This broker's ACL lets tills keep their state but not write events: every batch of
        # the till is denied, as a publish to a topic it may not write is.
        acl = run([CTL, "acl", "--store", STORE, "--tls"], check_rc=0).stdout
        acl = acl.replace("pattern write posedge/v1/%u/events\n", "")
        m = f.add(Mosquitto(f.d, tls=pki, acl=acl).start())
        out = pub5(m, pki, key, crt, "posedge/v1/s001/t02/state")
        check("Not authorized" in out, "t01 wrote t02's state: %s" % out)
        a = f.add(Agent(f.d, "t01", m, "--shopper", "3", "--wait-delivered", "60", pki=pki,
                        cert=crt, key=key).start())
        wait_until(lambda: a.has("uplink.denied"), 30, "the denial in the agent's log")

        def denied():
            doc = status_json(m, pki)["terminals"].get("t01") or {}
            d = (doc.get("state") or {}).get("denied") or {}
            return d if d.get("count", 0) >= 2 else None
        d = wait_until(denied, 60, "the state document showing two denials (a resend)")
        check(d["topic"] == "posedge/v1/s001/t01/events" and d["reason"] == "Not authorized"
              and d["now"] is True, d)
        # Nothing is lost: the journal keeps every event, none counts as delivered.
        state = status_json(m, pki)["terminals"]["t01"]["state"]
        check(state["seq"] >= 3 and state["delivered"] == 0, state)
        check(state["cert"]["cn"] == "s001/t01" and state["cert"]["days_left"] >= 88, state)
        # Said once, however often the batch was sent again.
        check(a.log().count("event=uplink.denied ") == 1, "uplink.denied logged more than once")
        check("uplink.resend" in a.log(), "the denied batch was not sent again")
        p = run([CTL, "status", "--mqtt", m.addr, "--store", STORE] + as_hq(pki), check_rc=0)
        row = [l for l in p.stdout.splitlines() if l.startswith("t01 ")]
        check(p.stdout.split("\n")[0].split()[-1] == "CERT" and row and
              re.search(r"\b(89|90)d!$", row[0]), p.stdout)
        a.stop()
        # A till configured as t02 with t01's certificate: warned at start, and every topic of
        # it denied (its events and its state), each said once however often it is sent.
        b = f.add(Agent(f.d, "t02", m, "--shopper", "2", "--wait-delivered", "8", pki=pki,
                        cert=crt, key=key).start())
        check(b.wait(60) == 1, "t02 with t01's certificate delivered")
        log = b.log()
        denied = re.findall(r"event=uplink\.denied topic=(\S+)", log)
        check("event=agent.cert_mismatch" in log and "uplink.resend" in log and
              sorted(denied) == ["posedge/v1/s001/t02/events", "posedge/v1/s001/t02/state"],
              "%s\n%s" % (denied, log[-3000:]))


@test
def enrolment_renewal_and_refusals():
    with Fixture() as f:
        pki = StorePKI(f.d)
        remember_pki(pki)
        # A CRL close to its next update: the bridge's state warns.
        pki.pki("crl", "--dir", pki.ca, "--days", "1")
        m = f.add(Mosquitto(f.d, tls=pki).start())
        k = f.add(DevKafka(f.d))
        b = f.add(tls_bridge(f.d, m, k, pki).start())
        wait_until(lambda: "bridge.mqtt_connected" in b.logtext(), 30, "the bridge connected")
        bs = wait_until(lambda: status_json(m, pki)["bridge"], 30, "the bridge's state")
        check(bs["cert"]["cn"] == "s001/bridge" and bs["cert"]["days_left"] >= 364 and
              bs["crl"]["warning"] is True and bs["crl"]["days_left"] == 0, bs)
        check("bridge.crl_due" in b.logtext(), "no CRL warning in the bridge's log")
        p = run([CTL, "status", "--mqtt", m.addr, "--store", STORE] + as_hq(pki), check_rc=0)
        line = [l for l in p.stdout.splitlines() if l.startswith("bridge ")]
        check(line and "crl=due" in line[0] and "cert_days=36" in line[0], p.stdout)

        # t01: a token only. It enrols, then its events go over mutual TLS to the spool.
        tok = os.path.join(f.d, "t01.token")
        token = pki.token("t01", path=tok)
        SECRETS.add(token)
        a = f.add(Agent(f.d, "t01", m, "--shopper", "3", "--wait-delivered", "90", pki=pki,
                        token=tok).start())
        # t02: a wrong token, refused (it keeps asking; the journal keeps its sales).
        wrong = os.path.join(f.d, "t02.token")
        with open(wrong, "w") as out:
            out.write("AAAABBBBCCCCDDDDEEEEFFFF\n")
        os.chmod(wrong, 0o600)
        SECRETS.add("AAAABBBBCCCCDDDDEEEEFFFF")
        w = f.add(Agent(f.d, "t02", m, pki=pki, token=wrong).start())
        check(a.wait(120) == 0, "t01 did not deliver after enrolling:\n%s" % a.log()[-3000:])
        check(os.path.exists(a.cert) and not os.path.exists(tok), "certificate or token file")
        check(stat.S_IMODE(os.stat(a.key).st_mode) == 0o600, "the till's key is not 0600")
        remember_keys(a.key)
        check(spooled(b, "t01") >= 4, "t01's events are not in the spool")
        check(a.has("enrol.enrolled") and a.has("tls=mutual"), a.log()[-2000:])
        p = run([CTL, "pki", "verify", "--ca", pki.ca_crt, "--cert", a.cert, "--key", a.key],
                check_rc=0)
        check(p.stdout.startswith("OK %s: s001/t01" % a.cert), p.stdout)
        wait_until(lambda: w.has("error=bad_token"), 30, "the wrong token refused")
        check(not os.path.exists(w.cert), "a certificate for a wrong token")
        w.stop()

        # The same token again (a till reinstalled with the used token): refused.
        with open(tok, "w") as out:
            out.write(token + "\n")
        os.chmod(tok, 0o600)
        again = f.add(Agent(f.d, "t01", m, pki=pki, token=tok).start())
        wait_until(lambda: again.has("error=token_used"), 30, "the used token refused")
        check(not os.path.exists(again.cert), "a certificate for a used token")
        again.stop()
        check(b.logtext().count("event=enrol.signed") == 1, "signed more than once")
        check("error=bad_token" in b.logtext() and "error=token_used" in b.logtext(),
              "the bridge did not log the refusals")

        # t04: a certificate with 5 days left (below enrol.renew_days 30) renews over mTLS.
        key4, crt4 = pki.till("t04", days=5)
        remember_keys(key4)
        before = run([CTL, "pki", "show", crt4], check_rc=0).stdout
        r = f.add(Agent(f.d, "t04", m, pki=pki, cert=crt4, key=key4).start())
        wait_until(lambda: r.has("enrol.renewed"), 60, "t04's renewal")
        after = run([CTL, "pki", "show", crt4], check_rc=0).stdout
        check(before != after and re.search(r"\((89|90) days", after), after)
        # t05: revoked (the broker has not reloaded yet, so it still connects): nothing.
        key5, crt5 = pki.till("t05", days=5)
        remember_keys(key5)
        pki.revoke("t05")
        v = f.add(Agent(f.d, "t05", m, pki=pki, cert=crt5, key=key5).start())
        wait_until(lambda: v.has("enrol.renew_refused error=revoked"), 60, "t05's refusal")
        check(not v.has("enrol.renewed"), "a revoked till renewed")

        # The signer's counts; the revocation wrote a new CRL (7 days): no warning any more.
        def counted():
            bs = status_json(m, pki)["bridge"]
            return (bs["enrol"]["signed"] == 2 and bs["enrol"]["refused"] >= 3 and
                    bs["crl"]["warning"] is False)
        wait_until(counted, 30, "the bridge's state with the signer's counts and the new CRL")
        check("bridge.crl_ok" in b.logtext(), "the new CRL was not noticed")
        # A fleet command over mutual TLS as HQ; a till's certificate may not command.
        r.stop()
        v.stop()
        d = f.add(Agent(f.d, "t01", m, pki=pki, cert=a.cert, key=a.key).start())
        wait_until(lambda: d.has("uplink.connected"), 30, "t01 up again")
        p = run([CTL, "fleet", "--mqtt", m.addr, "--store", STORE, "--terminal", "t01",
                 "--timeout", "20", "ping"] + as_hq(pki), timeout=60)
        check(p.returncode == 0 and "t01 ok ping" in p.stdout, p.stdout + p.stderr)
        p = run([CTL, "fleet", "--mqtt", m.addr, "--store", STORE, "--terminal", "t01",
                 "--timeout", "20", "--tls-ca", pki.ca_crt, "--tls-cert", crt4, "--tls-key",
                 key4, "ping"], timeout=60)
        check(p.returncode == 1 and "refused the command (Not authorized" in p.stderr,
              p.stdout + p.stderr)
        d.stop()
        b.stop()
        for name in ("agent", "bridge"):
            binary = AGENT if name == "agent" else BRIDGE
            conf = CONFIG if name == "agent" else BRIDGE_CONFIG
            p = run([binary, "-c", conf, "--set", "mqtt.tls.key_file=" + pki.bridge_key,
                     "--set", "mqtt.tls.ca_file=" + pki.ca_crt, "--print-config"], check_rc=0)
            LOGS.append(("%s --print-config" % name, p.stdout + p.stderr))
            check(pki.ca_crt in p.stdout, p.stdout)


@test
def open_key_and_password_files_are_refused_at_start():
    with Fixture() as f:
        pki = StorePKI(f.d)
        remember_pki(pki)
        key, crt = pki.till("t01")
        remember_keys(key)
        os.chmod(key, 0o644)
        p = run([AGENT, "-c", CONFIG, "--data-dir", os.path.join(f.d, "a"), "--mqtt",
                 "127.0.0.1:1", "--shopper", "1", "--set", "mqtt.tls.ca_file=" + pki.ca_crt,
                 "--set", "mqtt.tls.cert_file=" + crt, "--set", "mqtt.tls.key_file=" + key],
                timeout=60)
        LOGS.append(("agent refused", p.stdout + p.stderr))
        check(p.returncode == 2 and key in p.stderr and "mode 0644" in p.stderr, p.stderr)
        pw = os.path.join(f.d, "pw")
        with open(pw, "w") as out:
            out.write("lab-secret-123\n")
        SECRETS.add("lab-secret-123")
        os.chmod(pw, 0o644)
        p = run([AGENT, "-c", CONFIG, "--data-dir", os.path.join(f.d, "a2"), "--mqtt",
                 "127.0.0.1:1", "--shopper", "1", "--set", "mqtt.username=t01",
                 "--set", "mqtt.password_file=" + pw], timeout=60)
        LOGS.append(("agent refused pw", p.stdout + p.stderr))
        check(p.returncode == 2 and pw in p.stderr and "mode 0644" in p.stderr, p.stderr)
        os.chmod(pki.bridge_key, 0o644)
        for extra, path in ((["--set", "mqtt.tls.ca_file=" + pki.ca_crt,
                              "--set", "mqtt.tls.cert_file=" + pki.bridge_crt,
                              "--set", "mqtt.tls.key_file=" + pki.bridge_key], pki.bridge_key),
                            (["--set", "mqtt.password_file=" + pw], pw)):
            p = run([BRIDGE, "-c", BRIDGE_CONFIG, "--data-dir", os.path.join(f.d, "b"),
                     "--mqtt", "127.0.0.1:1", "--kafka", "127.0.0.1:1"] + extra, timeout=60)
            LOGS.append(("bridge refused", p.stdout + p.stderr))
            check(p.returncode == 2 and path in p.stderr and "mode 0644" in p.stderr, p.stderr)
        os.chmod(pki.bridge_key, 0o600)
        os.chmod(pw, 0o640)  # group-readable is still fine, as ssh's rule
        p = run([BRIDGE, "-c", BRIDGE_CONFIG, "--set", "mqtt.password_file=" + pw,
                 "--print-config"], check_rc=0)
        LOGS.append(("bridge --print-config", p.stdout + p.stderr))


@test
def plaintext_is_warned_and_the_lab_listener_works():
    with Fixture() as f:
        pki = StorePKI(f.d)
        remember_pki(pki)
        pw = os.path.join(f.d, "passwd")
        open(pw, "w").close()
        run(["mosquitto_passwd", "-b", pw, "bridge", "lab-bridge-pw"], check_rc=0)
        SECRETS.add("lab-bridge-pw")
        m = f.add(Mosquitto(f.d, tls=pki, lab_password_file=pw).start())
        secret = os.path.join(f.d, "bridge.pw")
        with open(secret, "w") as out:
            out.write("lab-bridge-pw\n")
        os.chmod(secret, 0o600)
        k = f.add(DevKafka(f.d))
        b = f.add(Bridge(f.d, "127.0.0.1:%d" % m.lab_port, k.bootstrap, "--set",
                         "mqtt.username=bridge", "--set", "mqtt.password_file=" + secret).start())
        LOGS.append(("lab bridge", b.logpath))
        wait_until(lambda: "bridge.mqtt_connected" in b.logtext(), 30, "the lab bridge connected")
        check("event=mqtt.plaintext" in b.logtext(), "no plaintext warning from the bridge")
        a = f.add(Agent(f.d, "t01", m, "--shopper", "1"))
        a.args[a.args.index("--mqtt") + 1] = "127.0.0.1:%d" % m.lab_port
        a.start()
        check(a.wait(60) == 0, a.log()[-2000:])
        check(a.has("event=mqtt.plaintext"), "no plaintext warning from the agent")


@test
def broker_config_as_packaged_and_acls_as_documented():
    with open(os.path.join(SRC, "docs", "protocol.md")) as f:
        doc = f.read()
    for form in ("--tls", "--enrol"):
        p = run([CTL, "acl", "--store", STORE, form], check_rc=0)
        check("```\n" + p.stdout + "```" in doc, "acl %s is not as docs/protocol.md shows" % form)
    p = run([CTL, "acl", "--store", STORE, "--tls", "--bridge-user", "x"], check_rc=2)
    check("--bridge-user goes with --password" in p.stderr, p.stderr)
    p = run([CTL, "broker-config", "--conf-only", "--dir", "/etc/posedge/mqtt", "--conf", "-"],
            check_rc=0)
    with open(os.path.join(SRC, "pkg", "mosquitto-posedge.conf")) as f:
        shipped = f.read()
    check(shipped.split("\n", 1)[1] == p.stdout, "pkg/mosquitto-posedge.conf is not the output "
          "of broker-config --conf-only --dir /etc/posedge/mqtt")
    for needle in ("per_listener_settings true", "require_certificate true",
                   "use_identity_as_username true", "crlfile /etc/posedge/mqtt/crl.pem",
                   "allow_anonymous false", "acl_file /etc/posedge/mqtt/acl-enrol"):
        check(needle in p.stdout, needle)
    check("listener 1883" not in p.stdout and "password_file" not in p.stdout, p.stdout)
    for args, needle in (([], "needs --dir"), (["--dir", "x"], "exactly one of"),
                         (["--dir", "x", "--store", "s001", "--lab-port", "1883"], "go together"),
                         (["--dir", "a b", "--conf-only"], "blank"),
                         (["--dir", "x", "--conf-only", "--port", "1", "--enrol-port", "1"],
                          "two listeners")):
        p = run([CTL, "broker-config"] + args, check_rc=2)
        check(needle in p.stderr, "%s: %r" % (args, p.stderr))


@test
def no_secret_in_any_log():
    """Runs last: every log and --print-config output of the tests above, grepped for every
    token, password and key line they used."""
    check(len(SECRETS) > 20 and len(LOGS) > 10, "too little to check: %d secrets, %d logs" %
          (len(SECRETS), len(LOGS)))
    for name, text in LOGS + [o for pki in PKIS for o in pki.outputs]:
        if os.path.isabs(text):
            check(not os.path.exists(text), "%s was not read" % name)
            continue
        check("PRIVATE KEY" not in text, "%s holds a key header" % name)
        for s in SECRETS:
            check(s not in text, "%s holds a secret" % name)


if __name__ == "__main__":
    main()
