#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-ctl pki (ctl/pki.c, common/pki.c), checked with tools that are not
ours: the openssl command line and the real mosquitto broker.

Covered: a store CA made from the command line; a till's key and CSR made "on the till" (pki
csr) and certified from the CSR; OpenSSL verifies the chain and the purposes (clientAuth for a
till, serverAuth and SAN for a server, and not the other way round); OpenSSL reads the PKCS#8
key; keys are mode 0600; revocation shows in the CRL (openssl crl -text) and makes
openssl verify -crl_check say "certificate revoked"; pki crl renews the CRL with a higher number
and the next update asked for; enrolment tokens are printed once and stored only as a hash;
usage errors exit 2 and failures 1, naming the option or file; no key material appears in any
output. And the point of it all: mosquitto with require_certificate, use_identity_as_username,
a crlfile and the ACL pattern "posedge/v1/%u/events" lets till s001/t01 publish to its own
topic, answers "Not authorized" for another till's topic, and refuses a revoked till after a
SIGHUP reload of the CRL. Waits poll a condition against a deadline; nothing sleeps to
synchronise. A test's directory (with its test keys) is removed when it passes and kept for a
look when it fails.
"""
import json
import os
import re
import shutil
import signal
import stat
from datetime import datetime

from lib import CTL, Mosquitto, check, main, run, test, tmpdir, wait_until

STORE = "s001"
OUTPUTS = []  # (command, stdout + stderr) of every posedge-ctl run, checked for key material


def pki(*args, check_rc=0):
    p = run([CTL, "pki"] + list(args), timeout=60, check_rc=check_rc)
    OUTPUTS.append((" ".join(args), p.stdout + p.stderr))
    return p


def openssl(*args, check_rc=0):
    return run(["openssl"] + list(args), timeout=60, check_rc=check_rc)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def key_lines(path):
    """The base64 lines of a key file: none of them may ever appear in an output."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("-----")]


def check_no_key_material(*key_files):
    lines = [l for k in key_files for l in key_lines(k)]
    check(lines, "no key lines read")
    for cmd, out in OUTPUTS:
        check("PRIVATE KEY" not in out, "pki %s printed a key header:\n%s" % (cmd, out))
        for l in lines:
            check(l[:20] not in out, "pki %s printed key material" % cmd)


def new_ca(d):
    ca = os.path.join(d, "ca")
    p = pki("init", "--dir", ca, "--store", STORE)
    check("created CA" in p.stdout, p.stdout)
    return ca


def till(d, ca, term, days=None):
    """What a till runs (pki csr), then the CA's side (pki issue --csr)."""
    key, csr, crt = (os.path.join(d, "%s.%s" % (term, x)) for x in ("key", "csr", "crt"))
    p = pki("csr", "--key", key, "--store", STORE, "--terminal", term, "--out", csr)
    check("new, mode 0600" in p.stdout, p.stdout)
    extra = ["--days", str(days)] if days else []
    p = pki("issue", "--dir", ca, "--store", STORE, "--terminal", term, "--csr", csr, "--out", crt,
            *extra)
    check(re.search(r"issued terminal certificate %s/%s serial [0-9a-f]{32}" % (STORE, term),
                    p.stdout), p.stdout)
    return key, crt


def server(d, ca, san="DNS:localhost,IP:127.0.0.1"):
    key, crt = os.path.join(d, "broker.key"), os.path.join(d, "broker.crt")
    pki("issue", "--dir", ca, "--store", STORE, "--server", "--san", san, "--key-out", key,
        "--out", crt)
    return key, crt


@test
def openssl_accepts_what_the_ca_issues():
    d = tmpdir("pe-pki")
    ca = new_ca(d)
    cacrt = os.path.join(ca, "ca.crt")
    check(mode(ca) == 0o700, "CA dir mode %o" % mode(ca))
    check(mode(os.path.join(ca, "ca.key")) == 0o600, "ca.key mode")
    check(mode(cacrt) == 0o644, "ca.crt mode")
    key, crt = till(d, ca, "t01")
    check(mode(key) == 0o600, "till key mode %o" % mode(key))
    # The CA certificate as OpenSSL sees it.
    text = openssl("x509", "-in", cacrt, "-noout", "-text").stdout
    check("CA:TRUE" in text and "Certificate Sign, CRL Sign" in text, text)
    check("Subject Key Identifier" in text, text)
    # The till's: client purpose yes, server purpose no; subject from the authorisation.
    p = openssl("verify", "-CAfile", cacrt, "-purpose", "sslclient", crt)
    check(p.stdout.strip() == "%s: OK" % crt, p.stdout)
    p = openssl("verify", "-CAfile", cacrt, "-purpose", "sslserver", crt, check_rc=2)
    check("unsuitable certificate purpose" in p.stdout + p.stderr, p.stdout + p.stderr)
    subj = openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt", "RFC2253").stdout
    check(subj.strip() == "subject=O=posedge,CN=s001/t01", subj)
    ext = openssl("x509", "-in", crt, "-noout", "-ext", "extendedKeyUsage,keyUsage").stdout
    check("TLS Web Client Authentication" in ext and "Digital Signature" in ext, ext)
    # A server certificate: serverAuth and the SAN, its key PKCS#8 and readable by OpenSSL.
    skey, scrt = server(d, ca)
    check(mode(skey) == 0o600, "server key mode %o" % mode(skey))
    ext = openssl("x509", "-in", scrt, "-noout", "-ext", "subjectAltName,extendedKeyUsage").stdout
    check("TLS Web Server Authentication" in ext, ext)
    check("DNS:localhost, IP Address:127.0.0.1" in ext, ext)
    openssl("verify", "-CAfile", cacrt, "-purpose", "sslserver", scrt)
    with open(skey) as f:
        check(f.readline() == "-----BEGIN PRIVATE KEY-----\n", "server key is not PKCS#8")
    openssl("pkey", "-in", skey, "-noout")
    openssl("pkey", "-in", key, "-noout")
    # The key belongs to the certificate (same public key as OpenSSL derives).
    pub_key = openssl("pkey", "-in", skey, "-pubout").stdout
    pub_crt = openssl("x509", "-in", scrt, "-noout", "-pubkey").stdout
    check(pub_key == pub_crt, "server key and certificate differ")
    # SEC1 on request.
    k2, c2 = os.path.join(d, "sec1.key"), os.path.join(d, "sec1.crt")
    pki("issue", "--dir", ca, "--store", STORE, "--hq", "--key-out", k2, "--key-format", "sec1",
        "--out", c2)
    with open(k2) as f:
        check(f.readline() == "-----BEGIN EC PRIVATE KEY-----\n", "not SEC1")
    openssl("pkey", "-in", k2, "-noout")
    # show and verify (the --self-test checks) agree.
    p = pki("show", crt)
    check("subject      CN=s001/t01" in p.stdout and "kind         terminal" in p.stdout, p.stdout)
    serial = re.search(r"serial\s+([0-9a-f]+)", p.stdout).group(1)
    o_serial = openssl("x509", "-in", crt, "-noout", "-serial").stdout.strip()
    check(o_serial == "serial=" + serial.upper(), "%s vs %s" % (o_serial, serial))
    p = pki("verify", "--ca", cacrt, "--cert", crt, "--key", key, "--crl",
            os.path.join(ca, "crl.pem"))
    check(p.stdout.startswith("OK %s: s001/t01" % crt) and "key matches" in p.stdout, p.stdout)
    p = pki("verify", "--ca", cacrt, "--cert", crt, "--key", skey, check_rc=1)
    check("does not belong" in p.stdout, p.stdout)
    # list: what was issued, as text and JSON.
    p = pki("list", "--dir", ca, "--json")
    doc = json.loads(p.stdout)
    cns = sorted(c["cn"] for c in doc["certs"])
    check(cns == ["s001/hq", "s001/server", "s001/t01"], cns)
    check(all(c["status"] == "valid" and c["days_left"] >= 88 for c in doc["certs"]), doc)
    check(doc["crl"]["number"] == 1, doc["crl"])
    p = pki("list", "--dir", ca)
    check(re.search(r"%s\s+s001/t01\s+terminal\s+\S+\s+valid\s+\d+" % serial, p.stdout), p.stdout)
    check_no_key_material(key, skey, k2, os.path.join(ca, "ca.key"))
    shutil.rmtree(d)


@test
def revocation_shows_in_the_crl():
    d = tmpdir("pe-pki")
    ca = new_ca(d)
    cacrt, crl = os.path.join(ca, "ca.crt"), os.path.join(ca, "crl.pem")
    k1, c1 = till(d, ca, "t01")
    k2, c2 = till(d, ca, "t02")
    openssl("verify", "-crl_check", "-CAfile", cacrt, "-CRLfile", crl, c1)
    text = openssl("crl", "-in", crl, "-noout", "-text").stdout
    check("No Revoked Certificates" in text and "Version 2" in text, text)
    p = pki("revoke", "--dir", ca, "--terminal", "t01")
    check("revoked 1 certificate of s001/t01" in p.stdout and "SIGHUP" in p.stdout, p.stdout)
    p = openssl("verify", "-crl_check", "-CAfile", cacrt, "-CRLfile", crl, c1, check_rc=2)
    check("certificate revoked" in p.stdout + p.stderr, p.stdout + p.stderr)
    openssl("verify", "-crl_check", "-CAfile", cacrt, "-CRLfile", crl, c2)
    p = openssl("crl", "-in", crl, "-noout", "-CAfile", cacrt)
    check("verify OK" in p.stdout + p.stderr, p.stdout + p.stderr)
    text = openssl("crl", "-in", crl, "-noout", "-text").stdout
    serial1 = openssl("x509", "-in", c1, "-noout", "-serial").stdout.strip().split("=")[1]
    check("Serial Number: " + serial1 in text, text)
    check(re.search(r"X509v3 CRL Number: \n\s+2\n", text), text)
    check("ecdsa-with-SHA256" in text and "Authority Key Identifier" in text, text)
    # Revoke by serial (as openssl prints it), then again: refused.
    serial2 = openssl("x509", "-in", c2, "-noout", "-serial").stdout.strip().split("=")[1]
    pki("revoke", "--dir", ca, "--serial", serial2)
    p = pki("revoke", "--dir", ca, "--serial", serial2, check_rc=1)
    check("revoked already" in p.stderr, p.stderr)
    p = openssl("verify", "-crl_check", "-CAfile", cacrt, "-CRLfile", crl, c2, check_rc=2)
    check("certificate revoked" in p.stdout + p.stderr, p.stdout + p.stderr)
    p = pki("list", "--dir", ca, "--json")
    check([c["status"] for c in json.loads(p.stdout)["certs"]] == ["revoked", "revoked"], p.stdout)
    # pki crl: a new number, the next update asked for, and a copy for the broker.
    out = os.path.join(d, "broker-crl.pem")
    p = pki("crl", "--dir", ca, "--out", out, "--days", "3")
    check("number 4" in p.stdout and "2 revoked" in p.stdout, p.stdout)
    with open(out) as a, open(crl) as b:
        check(a.read() == b.read(), "copy differs")
    check(mode(out) == 0o644, "crl mode %o" % mode(out))
    last = openssl("crl", "-in", out, "-noout", "-lastupdate").stdout.strip().split("=", 1)[1]
    nxt = openssl("crl", "-in", out, "-noout", "-nextupdate").stdout.strip().split("=", 1)[1]
    fmt = "%b %d %H:%M:%S %Y GMT"
    delta = datetime.strptime(nxt, fmt) - datetime.strptime(last, fmt)
    check(delta.total_seconds() == 3 * 86400, "next update %s after %s" % (nxt, last))
    check_no_key_material(k1, k2, os.path.join(ca, "ca.key"))
    shutil.rmtree(d)


@test
def tokens_are_printed_once_and_stored_hashed():
    d = tmpdir("pe-pki")
    ca = new_ca(d)
    p = pki("token", "--dir", ca, "--store", STORE, "--terminal", "t07", "--ttl-h", "2")
    tok = p.stdout.strip()
    check(re.fullmatch(r"[A-Z2-7]{24}", tok), "token %r" % tok)
    check("single use" in p.stderr and tok not in p.stderr, p.stderr)
    with open(os.path.join(ca, "tokens.json")) as f:
        doc = json.load(f)
    check(tok not in json.dumps(doc), "token stored in clear")
    check([(t["terminal"], t["status"]) for t in doc["tokens"]] == [("t07", "unused")], doc)
    check(doc["tokens"][0]["expires"] - doc["tokens"][0]["created"] == 2 * 3600 * 1000, doc)
    out = os.path.join(d, "t08.token")
    p = pki("token", "--dir", ca, "--store", STORE, "--terminal", "t08", "--out", out)
    check(mode(out) == 0o600, "token file mode %o" % mode(out))
    with open(out) as f:
        check(re.fullmatch(r"[A-Z2-7]{24}\n", f.read()), "token file")
    check(out in p.stdout and not re.search(r"[A-Z2-7]{24}", p.stdout + p.stderr), p.stdout)
    # Revoking the terminal voids its unused token.
    p = pki("revoke", "--dir", ca, "--terminal", "t07")
    check("revoked 0 certificates of s001/t07; voided 1 unused enrolment token" in p.stdout,
          p.stdout)
    with open(os.path.join(ca, "tokens.json")) as f:
        check([t["status"] for t in json.load(f)["tokens"]] == ["void", "unused"], "tokens")
    p = pki("token", "--dir", ca, "--store", STORE, "--terminal", "bridge", check_rc=2)
    check("reserved" in p.stderr, p.stderr)
    shutil.rmtree(d)


@test
def usage_errors_and_failures():
    d = tmpdir("pe-pki")
    ca = new_ca(d)
    p = pki("init", "--dir", ca, "--store", STORE, check_rc=1)
    check("holds a CA already" in p.stderr, p.stderr)
    for args, needle in [
        (["issue", "--dir", ca, "--store", STORE, "--terminal", "t+1", "--key-out", "k",
          "--out", "c"], "terminal \"t+1\" is not an id"),
        (["issue", "--dir", ca, "--store", STORE, "--terminal", "a/b", "--key-out", "k",
          "--out", "c"], "not an id"),
        (["issue", "--dir", ca, "--store", STORE, "--terminal", "t1", "--bridge", "--key-out",
          "k", "--out", "c"], "exactly one of --terminal"),
        (["issue", "--dir", ca, "--store", STORE, "--server", "--key-out", "k", "--out", "c"],
         "--server needs --san"),
        (["issue", "--dir", ca, "--store", STORE, "--server", "--san", "DNS:a b", "--key-out",
          "k", "--out", "c"], "SAN"),
        (["issue", "--dir", ca, "--store", "s002", "--bridge", "--key-out",
          os.path.join(d, "x.key"), "--out", "c"], "issues for store s001 only"),
        (["init", "--store", STORE], "needs --dir"),
        (["list", "--dir", ca, "--bogus"], "--bogus: not an option"),
        (["crl", "--dir", ca, "--days", "0"], "--days: expected a whole number"),
        (["token", "--dir", ca, "--store", STORE], "needs --store S and --terminal T"),
        (["revoke", "--dir", ca, "--serial", "zz"], "not hex"),
        (["frobnicate"], "unknown command"),
    ]:
        p = pki(*args, check_rc=2)
        check(needle in p.stderr, "%s: %r not in %s" % (args, needle, p.stderr))
    # Nothing was issued or written by those.
    check(json.loads(pki("list", "--dir", ca, "--json").stdout)["certs"] == [], "issued")
    check(not os.path.exists(os.path.join(d, "x.key")), "key left behind")
    # Failures: exit 1 naming the file.
    key = os.path.join(d, "exists.key")
    with open(key, "w") as f:
        f.write("x")
    p = pki("issue", "--dir", ca, "--store", STORE, "--bridge", "--key-out", key, "--out",
            os.path.join(d, "b.crt"), check_rc=1)
    check(key in p.stderr and "never replaced" in p.stderr, p.stderr)
    p = pki("list", "--dir", os.path.join(d, "nope"), check_rc=1)
    check(os.path.join(d, "nope") in p.stderr, p.stderr)
    p = pki("issue", "--dir", ca, "--store", STORE, "--terminal", "t01", "--csr", key, "--out",
            os.path.join(d, "t.crt"), check_rc=1)
    check("--csr %s" % key in p.stderr, p.stderr)
    # A CA key readable by others stops every command, naming the file and the mode.
    os.chmod(os.path.join(ca, "ca.key"), 0o644)
    p = pki("list", "--dir", ca, check_rc=1)
    check("ca.key" in p.stderr and "0644" in p.stderr, p.stderr)
    # A till key readable by others is refused too.
    k = os.path.join(d, "t9.key")
    pki("csr", "--key", k, "--store", STORE, "--terminal", "t9", "--out", os.path.join(d, "t9.csr"))
    os.chmod(k, 0o644)
    p = pki("csr", "--key", k, "--store", STORE, "--terminal", "t9", "--out",
            os.path.join(d, "t9.csr"), check_rc=1)
    check(k in p.stderr and "0644" in p.stderr, p.stderr)
    shutil.rmtree(d)


def mqtt_pub(broker, cacrt, crt, key, topic, client_id):
    return run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5", "-q", "1",
                "-d", "--cafile", cacrt, "--cert", crt, "--key", key, "-i", client_id, "-t",
                topic, "-m", "hello"], timeout=30)


@test
def mosquitto_identity_acl_and_crl():
    d = tmpdir("pe-pki")
    ca = new_ca(d)
    cacrt = os.path.join(ca, "ca.crt")
    crl = os.path.join(d, "crl.pem")
    pki("crl", "--dir", ca, "--out", crl)
    skey, scrt = server(d, ca)
    k1, c1 = till(d, ca, "t01")
    k2, c2 = till(d, ca, "t02")
    acl = os.path.join(d, "acl")
    with open(acl, "w") as f:
        f.write("pattern write posedge/v1/%u/events\n")
    broker = Mosquitto(d, anonymous=False, extra=[
        "cafile " + cacrt, "certfile " + scrt, "keyfile " + skey, "crlfile " + crl,
        "require_certificate true", "use_identity_as_username true", "tls_version tlsv1.2",
        "acl_file " + acl]).start()
    try:
        # Its own topic: accepted (PUBACK below 0x80; 0x10 is "no matching subscribers").
        p = mqtt_pub(broker, cacrt, c1, k1, "posedge/v1/s001/t01/events", "s001-t01")
        out = p.stdout + p.stderr
        check(re.search(r"received PUBACK \(Mid: 1, RC:(0|16)\)", out), out)
        check("Not authorized" not in out, out)
        # Another till's topic: refused by the ACL, with a reason code, not silently.
        p = mqtt_pub(broker, cacrt, c1, k1, "posedge/v1/s001/t02/events", "s001-t01")
        out = p.stdout + p.stderr
        check("RC:135" in out and "Not authorized" in out, out)
        # t02 is fine until revoked; after the new CRL and a SIGHUP it cannot connect.
        p = mqtt_pub(broker, cacrt, c2, k2, "posedge/v1/s001/t02/events", "s001-t02")
        check(re.search(r"RC:(0|16)\)", p.stdout + p.stderr), p.stdout + p.stderr)
        pki("revoke", "--dir", ca, "--terminal", "t02")
        pki("crl", "--dir", ca, "--out", crl)
        with open(os.path.join(broker.dir, "mosquitto.log")) as f:
            before = f.read().count("Reloading config")
        broker.proc.send_signal(signal.SIGHUP)

        def reloaded():
            with open(os.path.join(broker.dir, "mosquitto.log")) as f:
                return f.read().count("Reloading config") > before
        wait_until(reloaded, 20, "mosquitto to reload on SIGHUP")
        p = mqtt_pub(broker, cacrt, c2, k2, "posedge/v1/s001/t02/events", "s001-t02")
        out = p.stdout + p.stderr
        check(p.returncode != 0 and "PUBACK" not in out, "revoked till got through:\n" + out)
        # t01 still gets in.
        p = mqtt_pub(broker, cacrt, c1, k1, "posedge/v1/s001/t01/events", "s001-t01")
        check(re.search(r"RC:(0|16)\)", p.stdout + p.stderr), p.stdout + p.stderr)
        with open(os.path.join(broker.dir, "mosquitto.log")) as f:
            log = f.read()
        check("u's001/t01'" in log,
              "the broker did not take the CN as the username:\n" + log[-2000:])
    finally:
        broker.stop()
    shutil.rmtree(d)


if __name__ == "__main__":
    main()
