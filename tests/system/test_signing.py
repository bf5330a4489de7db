#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 15, first slice: every journal event is signed, and `posedge-ctl verify` checks it.

With the default configuration the till makes its signing key on its first start (0600, never
logged), puts it in use with a signed signer_installed event, and signs every event with a
counter that rises by one, kept in the event's own transaction. The tests play the forger with
nothing but Python's sqlite3, json and hashlib (and, for the re-signing, python3-cryptography's
ECDSA, which also verifies every signature from the public key alone, without posedge code):

  - change one digit of a sale's total in the middle of the journal and recompute that record's
    hash and every later record's prev and hash: the chain is intact again (checked here), and
    `verify` names the sale's seq;
  - sign that record again with another key, under that key's id or under the installed key's:
    `verify` names the seq;
  - delete a signature, repeat or skip a counter: named too.

And the life of a key: a restart continues the counter, a lost key file starts a new group with
a new signer_installed, signer.type none journals signing turned off, recover keeps the
signatures, and a key file others may read, or an unknown signer, is refused at start (and by
--self-test).

The same with signer.type pkcs11 on a SoftHSM2 token made per test (Debian's softhsm2): the key
made on the token at the first start and found there at the next, every signature verified from
its public key alone, refusals (wrong PIN, PIN file open to others, module or token missing)
naming the file or setting, and the PIN never logged or printed.

Signer down (include/posedge/signer.h): the test build's software signer fails as an unplugged
token while the file PE_TEST_SIGNER_DOWN names exists. The till sells on: a signer_down event,
then every event unsigned and marked, receipts saying SIGNATURE DEVICE UNAVAILABLE; once the
signer is back a signed signer_up carries the collective over the outage, which the independent
verifier here recomputes from the documented format; tampering with the outage is named.
"""
import hashlib
import json
import os
import re
import shutil
import sqlite3

from lib import (AGENT, BIN_RELEASE, CONFIG, CTL, PIN, SIM_START, agent, check, ctl, db_rows,
                 journal_events, main, run, softhsm_token, test, tmpdir)

START = ["--set", "sim.start=" + SIM_START]
MESSAGE = "posedge-sig/1|%s|%d|%d"


def canonical(obj):
    """posedge's canonical JSON (include/posedge/json.h): what Python's json gives with these
    settings for the integers, strings and objects of an event."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(obj, prev):
    """The record of obj chained from prev: its hash set, its canonical bytes."""
    obj = dict(obj)
    obj.pop("hash", None)
    obj["prev"] = prev
    h = hashlib.sha256(prev.encode() + canonical(obj)).hexdigest()
    obj["hash"] = h
    return canonical(obj), h


def rows(db):
    return db_rows(db, "SELECT seq, type, record, hash, sig FROM events ORDER BY seq")


def chain_intact(db):
    """The hash chain alone, checked the way the bare chain was before signatures."""
    prev = hashlib.sha256(b"posedge/v1/genesis/s001/t01").hexdigest()
    for seq, _, rec, h, _ in rows(db):
        obj = json.loads(rec)
        again, h2 = seal(obj, prev)
        if bytes(rec) != again or h2 != h or obj["prev"] != prev or obj["seq"] != seq:
            return False
        prev = h
    return True


def verify_fails_at(db, seq, why):
    p = ctl("verify", db, check_rc=1)
    check(p.stdout.startswith("FAILED ") and ("first bad seq %d:" % seq) in p.stdout and why in p.stdout,
          "verify should name seq %d (%s): %s" % (seq, why, p.stdout + p.stderr))


def set_sig(db, seq, sig):
    con = sqlite3.connect(db)
    con.execute("UPDATE events SET sig = ? WHERE seq = ?", (sig.encode() if sig else None, seq))
    con.commit()
    con.close()


def shop(d, n, seed=1, *extra, check_rc=0, env=None):
    return agent(d, *START, "--shopper", str(n), "--seed", str(seed), *extra, check_rc=check_rc,
                 env=env)


# ---- independent verification (python3-cryptography) ----

def crypto():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    return hashes, serialization, ec, encode_dss_signature


def key_id(pub):
    _, serialization, _, _ = crypto()
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:32]


def verify_alone(db):
    """Every signature of the journal, from the public keys its signer_installed events carry:
    no posedge code involved. Records marked unsigned in an outage of the signer must be covered
    by the signed signer_up after them: its collective is the SHA-256 over their hashes' hex
    digits, in seq order. Returns the number verified."""
    hashes, serialization, ec, encode_dss_signature = crypto()
    pub, kid, last, n = None, None, 0, 0
    down, covered = None, []
    for seq, typ, rec, h, sig in rows(db):
        if typ == "signer_installed":
            body = json.loads(rec)["body"]
            pub = serialization.load_pem_public_key(body["public_key"].encode())
            kid = body["key_id"]
            check(key_id(pub) == kid, "seq %d: key_id is the public key's" % seq)
            last = 0
        check(sig is not None, "seq %d is not signed" % seq)
        s = json.loads(sig)
        check(canonical(s) == bytes(sig), "seq %d: the sig column is canonical JSON" % seq)
        if s.get("alg") == "none":
            check(set(s) == {"alg", "signer_down"}, "seq %d: a mark: %s" % (seq, s))
            if typ == "signer_down":
                check(down is None and s["signer_down"] == seq, "seq %d opens an outage" % seq)
                down = seq
            check(down is not None and s["signer_down"] == down, "seq %d: inside the outage" % seq)
            covered.append(h)
            continue
        check(s["alg"] == "ES256" and s["key_id"] == kid, "seq %d: key %s" % (seq, s))
        check(last == 0 or s["counter"] == last + 1, "seq %d: counter %d after %d" % (seq, s["counter"], last))
        rs = bytes.fromhex(s["sig"])
        der = encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))
        pub.verify(der, (MESSAGE % (h, s["counter"], s["signed_ms"])).encode(), ec.ECDSA(hashes.SHA256()))
        check((down is not None) == (typ == "signer_up"), "seq %d: %s with outage %s" % (seq, typ, down))
        if typ == "signer_up":
            body = json.loads(rec)["body"]
            want = {"count": len(covered), "first_seq": down, "last_seq": seq - 1,
                    "hash": hashlib.sha256("".join(covered).encode()).hexdigest()}
            check(body == want, "seq %d: the collective %s, recomputed %s" % (seq, body, want))
            down, covered = None, []
        last = s["counter"]
        n += 1
    return n


def sign_with(priv, h, counter, kid, signed_ms=1796624014899):
    hashes, _, ec, _ = crypto()
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r, s = decode_dss_signature(priv.sign((MESSAGE % (h, counter, signed_ms)).encode(),
                                          ec.ECDSA(hashes.SHA256())))
    rs = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return canonical({"alg": "ES256", "counter": counter, "key_id": kid, "sig": rs.hex(),
                      "signed_ms": signed_ms}).decode()


# ---- tests ----

@test
def default_config_signs_every_event():
    d = tmpdir()
    p = shop(d, 30)
    db = os.path.join(d, "journal.db")
    ev = journal_events(db)
    check(ev[0]["type"] == "signer_installed" and ev[0]["body"]["signer"] == "software",
          "the key is put in use first: %s" % ev[0])
    check(sum(e["type"] == "signer_installed" for e in ev) == 1, "installed once")
    v = ctl("verify", db, check_rc=0).stdout
    check(v.startswith("OK ") and ("%d signatures valid from seq 1 under 1 key" % len(ev)) in v
          and "counters gapless" in v, v)
    check(verify_alone(db) == len(ev), "every record verified from the public key alone")
    key = os.path.join(d, "signer.key")
    check(os.stat(key).st_mode & 0o777 == 0o600, "signer.key is 0600")
    with open(key) as f:
        pem = f.read()
    check(pem.startswith("-----BEGIN PRIVATE KEY-----"), "a PKCS#8 key")
    scalar = "".join(pem.splitlines()[1:-1])[50:80]  # past the prefix every P-256 key shares
    logs = p.stderr + open(os.path.join(d, "receipts.txt")).read()
    check(scalar not in logs and "PRIVATE" not in logs, "the private key is never logged or printed")
    check("event=signer.key_created" in p.stderr and "event=till.signer_installed seq=1 " in p.stderr,
          "key creation and installation logged: %s" % p.stderr[-1500:])
    # A restart continues the group and its counter: no second signer_installed.
    shop(d, 10, 2)
    ev2 = journal_events(db)
    check(sum(e["type"] == "signer_installed" for e in ev2) == 1 and len(ev2) > len(ev), "one key")
    check(verify_alone(db) == len(ev2), "the counter continues across the restart")


@test
def forged_total_with_recomputed_chain_is_named():
    d = tmpdir()
    shop(d, 40)
    db = os.path.join(d, "journal.db")
    all_rows = rows(db)
    sales = [r for r in all_rows if r[1] == "sale"]
    target = sales[len(sales) // 2]
    tseq = target[0]
    check(tseq < all_rows[-1][0] - 5, "a sale in the middle: %d of %d" % (tseq, all_rows[-1][0]))
    # The forger's edit: one digit of the total, then the chain recomputed from there on.
    con = sqlite3.connect(db)
    prev = None
    for seq, _, rec, h, _ in all_rows:
        if seq < tseq:
            prev = h
            continue
        obj = json.loads(rec)
        if seq == tseq:
            total = obj["body"]["totals"]["total"]
            obj["body"]["totals"]["total"] = total + 1 if total % 10 != 9 else total - 1
        new, nh = seal(obj, prev)
        con.execute("UPDATE events SET record = ?, hash = ? WHERE seq = ?", (new, nh, seq))
        prev = nh
    con.commit()
    con.close()
    check(chain_intact(db), "the recomputed chain is intact: the bare chain cannot tell")
    verify_fails_at(db, tseq, "signature does not verify")
    p = ctl("verify", db, check_rc=1)
    check("(%d records checked before it)" % (tseq - 1) in p.stdout, p.stdout)


@test
def resigned_with_another_key_is_named():
    _, _, ec, _ = crypto()
    d = tmpdir()
    shop(d, 20)
    db = os.path.join(d, "journal.db")
    all_rows = rows(db)
    seq, _, _, h, sig = all_rows[len(all_rows) // 2]
    orig = json.loads(sig)
    other = ec.generate_private_key(ec.SECP256R1())
    # Under the other key's own id, with the right counter.
    set_sig(db, seq, sign_with(other, h, orig["counter"], key_id(other.public_key())))
    verify_fails_at(db, seq, "signed by key")
    # Under the installed key's id.
    set_sig(db, seq, sign_with(other, h, orig["counter"], orig["key_id"]))
    verify_fails_at(db, seq, "signature does not verify")
    # Removed.
    set_sig(db, seq, None)
    verify_fails_at(db, seq, "not signed")
    # Back as it was: all is well again.
    set_sig(db, seq, bytes(sig).decode())
    ctl("verify", db, check_rc=0)


@test
def counter_repeated_or_skipped_is_named():
    """Signed by the right key but with a counter out of step: only the key's holder can make
    these, and verify still names them."""
    _, serialization, _, _ = crypto()
    d = tmpdir()
    shop(d, 10)
    db = os.path.join(d, "journal.db")
    with open(os.path.join(d, "signer.key"), "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), None)
    all_rows = rows(db)
    seq, _, _, h, sig = all_rows[4]
    orig = json.loads(sig)
    for counter, why in ((orig["counter"] + 1, "counter %d, expected %d" % (orig["counter"] + 1, orig["counter"])),
                         (orig["counter"] - 1, "counter %d, expected %d" % (orig["counter"] - 1, orig["counter"]))):
        set_sig(db, seq, sign_with(priv, h, counter, orig["key_id"]))
        verify_fails_at(db, seq, why)
    # The right counter, re-signed by the right key at another time: a valid signature.
    set_sig(db, seq, sign_with(priv, h, orig["counter"], orig["key_id"]))
    ctl("verify", db, check_rc=0)


@test
def key_groups_off_and_recover():
    d = tmpdir()
    db = os.path.join(d, "journal.db")
    shop(d, 5)
    # A lost key file: a new key, a new group.
    os.remove(os.path.join(d, "signer.key"))
    shop(d, 5, 2)
    v = ctl("verify", db, check_rc=0).stdout
    check("under 2 keys" in v, v)
    check(verify_alone(db) == len(journal_events(db)), "both groups verify from their keys")
    installs = [e for e in journal_events(db) if e["type"] == "signer_installed"]
    check(len(installs) == 2 and installs[0]["body"]["key_id"] != installs[1]["body"]["key_id"],
          "two keys: %s" % [e["body"]["key_id"] for e in installs])
    # Signing turned off: on record, unsigned, and the events after it unsigned.
    n_before = len(journal_events(db))
    p = shop(d, 5, 3, "--set", "signer.type=none")
    check("event=till.signing_off" in p.stderr, p.stderr[-1500:])
    ev = journal_events(db)
    off = ev[n_before]
    check(off["type"] == "signer_installed" and off["body"] == {"alg": "none", "signer": "none"},
          "signing turned off is journaled: %s" % off)
    sigs = dict(db_rows(db, "SELECT seq, sig FROM events"))
    check(all(sigs[e["seq"]] is None for e in ev[n_before:]), "unsigned from there on")
    v = ctl("verify", db, check_rc=0).stdout
    check("signing turned off since" in v, v)
    # A second start without a signer journals nothing more.
    shop(d, 2, 4, "--set", "signer.type=none")
    check(sum(e["type"] == "signer_installed" for e in journal_events(db)) == 3, "off once")
    # On again with the key of the second group: a third group.
    shop(d, 3, 5)
    v = ctl("verify", db, check_rc=0).stdout
    check("under 3 keys" in v, v)
    # recover copies the signatures with the records.
    new = os.path.join(d, "recovered.db")
    ctl("recover", db, new, check_rc=0)
    v2 = ctl("verify", new, check_rc=0).stdout
    check(v2.split(": ", 1)[1] == v.split(": ", 1)[1], "the recovered journal verifies alike:\n%s%s" % (v, v2))


@test
def refusals_at_start():
    d = tmpdir()
    shop(d, 2)
    key = os.path.join(d, "signer.key")
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--self-test"], check_rc=0)
    check(re.search(r"^ok   signer: software: key [0-9a-f]{32} in " + re.escape(key), p.stdout, re.M)
          and re.search(r"^ok   journal: .* hash chain intact, \d+ signed$", p.stdout, re.M),
          "self-test: %s" % p.stdout)
    os.chmod(key, 0o644)
    p = shop(d, 2, 2, check_rc=2)
    check("signer.type software" in p.stderr and key in p.stderr and "644" in p.stderr, p.stderr[-800:])
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--self-test"], check_rc=1)
    check(re.search(r"^FAIL signer: .*" + re.escape(key) + ".*0644", p.stdout, re.M), p.stdout)
    os.chmod(key, 0o600)
    p = shop(d, 2, 2, "--set", "signer.type=hsm", check_rc=2)
    check("signer.type" in p.stderr and "software, pkcs11, none" in p.stderr, p.stderr[-800:])
    # Another key file: refused when it is not a key, used when it is one elsewhere.
    bad = os.path.join(d, "bad.key")
    with open(bad, "w") as f:
        f.write("not a key\n")
    os.chmod(bad, 0o600)
    p = shop(d, 2, 2, "--set", "signer.key_file=" + bad, check_rc=1)
    check(bad in p.stderr, p.stderr[-800:])
    elsewhere = os.path.join(d, "keys")
    os.mkdir(elsewhere)
    shop(d, 2, 3, "--set", "signer.key_file=" + os.path.join(elsewhere, "till.key"))
    check(os.path.exists(os.path.join(elsewhere, "till.key")), "the key made where configured")
    v = ctl("verify", os.path.join(d, "journal.db"), check_rc=0).stdout
    check("under 2 keys" in v, v)
    # --print-config shows the settings, never a key.
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--print-config"], check_rc=0)
    cfg = json.loads(p.stdout)
    check(cfg["signer"] == {"type": "software", "key_file": "", "pkcs11_module": "",
                            "pkcs11_token": "posedge", "pkcs11_pin_file": "",
                            "pkcs11_key": "posedge-fiscal", "retry_ms": 1000,
                            "down_alarm_s": 300}, "signer settings: %s" % cfg["signer"])


# ---- the pkcs11 signer, on a SoftHSM2 token ----



@test
def pkcs11_token_signs_every_event():
    d = tmpdir()
    env, sets, pin = softhsm_token(d)
    # --self-test before the first start: the token and PIN are fine, the key not made yet.
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--self-test"] + sets, env=env, check_rc=0)
    check(re.search(r"^ok   signer: pkcs11: no key \"posedge-fiscal\" on token \"till-t01\" yet",
                    p.stdout, re.M), "self-test: %s" % p.stdout)
    p = shop(d, 30, 1, *sets, env=env)
    db = os.path.join(d, "journal.db")
    ev = journal_events(db)
    check(ev[0]["type"] == "signer_installed" and ev[0]["body"]["signer"] == "pkcs11",
          "the token's key is put in use first: %s" % ev[0])
    kid = ev[0]["body"]["key_id"]
    v = ctl("verify", db, check_rc=0).stdout
    check(v.startswith("OK ") and ("%d signatures valid from seq 1 under 1 key" % len(ev)) in v
          and "counters gapless" in v, v)
    check(verify_alone(db) == len(ev), "every record verified from the token's public key alone")
    check("event=signer.key_created signer=pkcs11" in p.stderr, p.stderr[-1500:])
    # Receipts' QR codes are signed on the token too (docs/protocol.md, "Receipt QR code").
    with open(os.path.join(d, "receipts.txt")) as f:
        codes = re.findall(r"^QR (posedge-qr/1\|.*)$", f.read(), re.M)
    check(codes and all(c.rsplit("|", 1)[1] for c in codes) and "qr_unsigned" not in p.stderr,
          "every code signed: %s" % codes[:2])
    check(not os.path.exists(os.path.join(d, "signer.key")), "no key file: the key is on the token")
    logs = p.stderr
    # A restart finds the same key on the token and continues its counter.
    p = shop(d, 10, 2, *sets, env=env)
    logs += p.stderr
    ev2 = journal_events(db)
    check(sum(e["type"] == "signer_installed" for e in ev2) == 1 and len(ev2) > len(ev), "one key")
    check(verify_alone(db) == len(ev2), "the counter continues across the restart")
    check("key_created" not in p.stderr and ("key_id=%s" % kid) in p.stderr, p.stderr[-1500:])
    # --self-test finds it, says where it is held, and that it cannot leave the token.
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--self-test"] + sets, env=env, check_rc=0)
    check(re.search(r"^ok   signer: pkcs11: key %s, key \"posedge-fiscal\" on token \"till-t01\" "
                    r"\(SoftHSM project SoftHSM v2 serial \w+\) in .*: sensitive, never extractable, "
                    r"made on the token$" % kid, p.stdout, re.M), "self-test: %s" % p.stdout)
    logs += p.stdout + p.stderr
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--print-config"] + sets, env=env, check_rc=0)
    check(json.loads(p.stdout)["signer"]["pkcs11_pin_file"] == pin, p.stdout)
    logs += p.stdout + p.stderr + open(os.path.join(d, "receipts.txt")).read()
    check(PIN not in logs, "the PIN is never logged or printed")


@test
def pkcs11_refusals_name_the_setting():
    d = tmpdir()
    env, sets, pin = softhsm_token(d)
    db = os.path.join(d, "journal.db")

    def refused(extra, rc, *needles):
        p = shop(d, 2, 1, *(sets + extra), env=env, check_rc=rc)
        out = p.stdout + p.stderr
        check(all(n in p.stderr for n in needles) and PIN not in out,
              "expected %s: %s" % (needles, p.stderr[-800:]))
        return p

    wrong = os.path.join(d, "wrong.pin")
    with open(os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("000000\n")
    refused(["--set", "signer.pkcs11_pin_file=" + wrong], 1, "signer.type pkcs11", wrong,
            "CKR_PIN_INCORRECT")
    os.chmod(pin, 0o644)
    refused([], 2, "signer.pkcs11_pin_file", pin, "644")
    os.chmod(pin, 0o600)
    missing = os.path.join(d, "no-such-module.so")
    refused(["--set", "signer.pkcs11_module=" + missing], 2, "signer.pkcs11_module", missing)
    refused(["--set", "signer.pkcs11_token=not-plugged"], 1, "no token labelled \"not-plugged\"")
    check(not os.path.exists(db) or not journal_events(db), "nothing was sold unsigned by a refused start")
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--self-test", "--set",
             "signer.pkcs11_pin_file=" + wrong] + sets[:6], env=env, check_rc=1)
    check(re.search(r"^FAIL signer: .*" + re.escape(wrong) + ".*CKR_PIN_INCORRECT", p.stdout, re.M)
          and PIN not in p.stdout + p.stderr, p.stdout)
    # Put right, it sells.
    shop(d, 2, 1, *sets, env=env)
    ctl("verify", db, check_rc=0)


@test
def pkcs11_release_agent_is_valgrind_clean():
    """The token's module (SoftHSM2, with OpenSSL under it) loaded, used and finalised inside
    the agent: no error and no leak of the agent's own."""
    d = tmpdir()
    env, sets, _ = softhsm_token(d)
    p = run(["valgrind", "--error-exitcode=9", "--leak-check=full",
             "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
             "-q", os.path.join(BIN_RELEASE, "posedge-agent"), "-c", CONFIG, "--data-dir", d,
             "--shopper", "20", "--seed", "9"] + START + sets, env=env, timeout=900)
    check(p.returncode == 0, "valgrind exit %d:\n%s" % (p.returncode, p.stderr[-4000:]))
    ctl("verify", os.path.join(d, "journal.db"), check_rc=0)


@test
def signer_down_sells_unsigned_then_collective():
    d = tmpdir()
    db = os.path.join(d, "journal.db")
    flag = os.path.join(d, "token-unplugged")
    env = {"PE_TEST_SIGNER_DOWN": flag}
    shop(d, 5)
    n_signed = len(journal_events(db))
    receipts = os.path.join(d, "receipts.txt")
    printed = os.path.getsize(receipts)
    # The token is unplugged: the till sells on, every event committed unsigned.
    open(flag, "w").close()
    p = agent(d, *START, "--shopper", "8", "--seed", "2", env=env)
    check("event=till.signer_down seq=%d " % (n_signed + 1) in p.stderr, p.stderr[-1500:])
    ev = journal_events(db)
    outage = ev[n_signed:]
    check(outage[0]["type"] == "signer_down" and outage[0]["body"]["error"] == "EUNAVAIL",
          "the outage opens on record: %s" % outage[0])
    check(sum(e["type"] == "sale" for e in outage) >= 3, "sales went on: %s" % [e["type"] for e in outage])
    sigs = dict(db_rows(db, "SELECT seq, sig FROM events"))
    down = outage[0]["seq"]
    mark = '{"alg":"none","signer_down":%d}' % down
    check(all(bytes(sigs[e["seq"]]).decode() == mark for e in outage), "every one marked")
    with open(receipts) as f:
        f.seek(printed)
        text = f.read()
    printed_seqs = [int(x) for x in re.findall(r"Receipt s001/t01 #(\d+)", text)]
    check(printed_seqs and text.count("SIGNATURE DEVICE UNAVAILABLE") == len(printed_seqs),
          "each receipt says the signature device is unavailable:\n%s" % text[:1500])
    v = ctl("verify", db, check_rc=0).stdout
    check("signer down since seq %d (not covered yet)" % down in v, v)
    # A restart with the token still out goes on marking the same outage.
    agent(d, *START, "--shopper", "2", "--seed", "3", env=env)
    still = journal_events(db)[len(ev):]
    check(still and all(bytes(dict(db_rows(db, "SELECT seq, sig FROM events"))[e["seq"]]).decode() == mark
                        for e in still), "the outage goes on across a restart")
    last_unsigned = journal_events(db)[-1]["seq"]
    # Back: the first event closes the outage with the signed collective, then signing goes on.
    os.remove(flag)
    p = agent(d, *START, "--shopper", "4", "--seed", "4", env=env)
    check("event=till.signer_up seq=%d covers=%d-%d" % (last_unsigned + 1, down, last_unsigned) in p.stderr,
          p.stderr[-1500:])
    ev = journal_events(db)
    up = ev[last_unsigned]
    check(up["type"] == "signer_up" and up["body"]["first_seq"] == down
          and up["body"]["last_seq"] == last_unsigned, "the collective: %s" % up)
    v = ctl("verify", db, check_rc=0).stdout
    check(("%d unsigned while the signer was down, 1 outage covered" % (last_unsigned - down + 1)) in v, v)
    n = verify_alone(db)
    check(n == len(ev) - (last_unsigned - down + 1), "every signature and the collective verify alone")
    # Tampering: a mark removed, a signed record marked, a marked sale changed (chain recomputed).
    all_rows = rows(db)
    sale = next(r for r in all_rows if r[0] > down and r[1] == "sale")
    set_sig(db, sale[0], None)
    verify_fails_at(db, sale[0], "not signed, but the signer is down since seq %d" % down)
    set_sig(db, sale[0], mark)
    signed = all_rows[2]
    set_sig(db, signed[0], '{"alg":"none","signer_down":%d}' % signed[0])
    verify_fails_at(db, signed[0], "no outage of the signer is open")
    set_sig(db, signed[0], bytes(signed[4]).decode())
    ctl("verify", db, check_rc=0)
    con = sqlite3.connect(db)
    prev = None
    for seq, _, rec, h, _ in all_rows:
        if seq < sale[0]:
            prev = h
            continue
        obj = json.loads(rec)
        if seq == sale[0]:
            obj["body"]["totals"]["total"] += 1
        new, nh = seal(obj, prev)
        con.execute("UPDATE events SET record = ?, hash = ? WHERE seq = ?", (new, nh, seq))
        prev = nh
    con.commit()
    con.close()
    check(chain_intact(db), "the recomputed chain is intact")
    verify_fails_at(db, last_unsigned + 1, "signature does not verify")


if __name__ == "__main__":
    main()
