#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 15, acceptance 3: a receipt's QR code, decoded by zbarimg, verifies with the public key
alone.

The till runs with the fake devices and the default software signer. Its fake printer writes
each receipt's code as the line "QR <payload>" and as a PNG (hal/fake/fake_qr.c, libqrencode)
in qr/ beside receipts.txt, named by the first 16 hex digits of SHA-256(payload). Here a sale's
PNG is decoded by `zbarimg --raw -q` (Debian's zbar-tools), as a phone would read the paper, and
the payload is checked as docs/protocol.md ("Receipt QR code") tells an outside verifier to,
with nothing but Python and python3-cryptography: no posedge code and no posedge tool. The
public key comes from the journal's signer_installed event, read with sqlite3; its key id must
be the one the payload names. Then:

  - the payload's fields are those of the journal record it stands for (seq, id, time, type,
    total, currency, hash), and the journal signature it names (key id, counter, signed_ms)
    verifies over that hash, so the paper leads an auditor to its record;
  - a payload with the total changed by one cent, the seq changed, or verified under another
    key does not verify;
  - with signing off (signer.type none) every receipt still prints with its code, whose
    key id, counter, time and signature are empty: an unsigned receipt says so.

Each decoded image is kept in $PE_TEST_LOGDIR (tests/run.sh's log directory) to look at.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess

from lib import SIM_START, agent, check, db_rows, main, test, tmpdir

START = ["--set", "sim.start=" + SIM_START]
VERSION = "posedge-qr/1"
FIELDS = ["version", "store", "terminal", "seq", "id", "ts_ms", "type", "total", "currency",
          "hash", "key_id", "counter", "signed_ms", "sig"]
EVENT_MESSAGE = "posedge-sig/1|%s|%d|%d"
LOGDIR = os.environ.get("PE_TEST_LOGDIR")


def shop(d, n, *extra):
    return agent(d, *START, "--shopper", str(n), "--seed", "1", *extra, check_rc=0)


def qr_lines(d):
    with open(os.path.join(d, "receipts.txt")) as f:
        return [line[3:] for line in f.read().splitlines() if line.startswith("QR ")]


def png_of(d, payload):
    return os.path.join(d, "qr", hashlib.sha256(payload.encode()).hexdigest()[:16] + ".png")


def zbar(png):
    """The text of the one QR code in png, as zbarimg reads it."""
    # Only QR symbologies: a linear decoder can read a stray run of modules
    # as a short barcode (CI once saw an extra "196742" line from one).
    p = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", png],
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "zbarimg %s exited %d: %s" % (png, p.returncode, p.stderr[-500:]))
    out = p.stdout.decode("ascii")
    check(out.endswith("\n") and out.count("\n") == 1, "one code in %s: %r" % (png, out))
    return out[:-1]


def keep(png, name):
    if LOGDIR:
        shutil.copy(png, os.path.join(LOGDIR, name))


# ---- the outside verifier: docs/protocol.md, "Receipt QR code" ----

def crypto():
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    return InvalidSignature, hashes, serialization, ec, encode_dss_signature


def public_keys(db):
    """{key id: public key} of every signer_installed event, from the journal with sqlite3."""
    _, _, serialization, _, _ = crypto()
    keys = {}
    for (rec,) in db_rows(db, "SELECT record FROM events WHERE type = 'signer_installed'"):
        body = json.loads(rec)["body"]
        if body["alg"] == "ES256":
            keys[body["key_id"]] = serialization.load_pem_public_key(body["public_key"].encode())
    return keys


def key_id(pub):
    _, _, serialization, _, _ = crypto()
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:32]


def b64url(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rs_der(rs):
    _, _, _, _, encode_dss_signature = crypto()
    check(len(rs) == 64, "r || s is 64 octets, not %d" % len(rs))
    return encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))


def parse(payload):
    parts = payload.split("|")
    check(len(parts) == len(FIELDS) and parts[0] == VERSION, "a %s payload: %r" % (VERSION, payload))
    return dict(zip(FIELDS, parts))


def verify(payload, pub):
    """True when payload's signature verifies under pub: ECDSA P-256 with SHA-256 over the
    payload's bytes before its last '|', the signature the base64url of r || s."""
    InvalidSignature, hashes, _, ec, _ = crypto()
    f = parse(payload)
    if not f["sig"]:
        return False
    message = payload[:payload.rindex("|")].encode("ascii")
    try:
        pub.verify(rs_der(b64url(f["sig"])), message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def iso_ms(ts):
    """UTC ms of a record's "ts" (2026-03-02T08:02:59.602Z)."""
    import calendar
    import time
    check(len(ts) == 24 and ts.endswith("Z"), "a record's time: %r" % ts)
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(ts[20:23])


def with_field(payload, name, value):
    """payload with one field changed and its signature kept: a forger's edit."""
    parts = payload.split("|")
    parts[FIELDS.index(name)] = value
    return "|".join(parts)


# ---- tests ----

@test
def sale_code_verifies_with_the_public_key_alone():
    d = tmpdir()
    shop(d, 6)
    db = os.path.join(d, "journal.db")
    keys = public_keys(db)
    check(len(keys) == 1, "one key installed: %s" % list(keys))
    (kid, pub), = keys.items()
    check(key_id(pub) == kid, "the key id is the public key's")
    other = crypto()[3].generate_private_key(crypto()[3].SECP256R1()).public_key()

    lines = qr_lines(d)
    records = {seq: (json.loads(rec), h, json.loads(sig))
               for seq, rec, h, sig in db_rows(db, "SELECT seq, record, hash, sig FROM events")}
    check(len(lines) == len(records), "one code per receipt: %d codes, %d events" % (len(lines), len(records)))
    sales = [p for p in lines if parse(p)["type"] == "sale"]
    check(len(sales) >= 4, "the shoppers bought: %d sales" % len(sales))
    for i, line in enumerate(sales):
        png = png_of(d, line)
        check(os.path.exists(png), "the image of %r" % line)
        payload = zbar(png)
        keep(png, "test_receipt_qr-sale-%d.png" % i)
        check(payload == line, "zbarimg reads what the receipt says:\n%r\n%r" % (payload, line))
        f = parse(payload)
        check(f["key_id"] == kid, "signed by the installed key: %s" % f["key_id"])
        check(verify(payload, keys[f["key_id"]]), "seq %s verifies with the public key alone" % f["seq"])

        # The record it stands for, and the journal signature it names.
        rec, h, sig = records[int(f["seq"])]
        check(f["store"] == rec["store"] and f["terminal"] == rec["terminal"] and f["id"] == rec["id"]
              and int(f["ts_ms"]) == iso_ms(rec["ts"]) and f["type"] == rec["type"],
              "seq %s: the record's header: %s / %s" % (f["seq"], f, {k: rec[k] for k in rec if k != "body"}))
        check(int(f["total"]) == rec["body"]["totals"]["total"] and f["currency"] == rec["body"]["currency"],
              "seq %s: the record's total" % f["seq"])
        check(f["hash"] == h and int(f["counter"]) == sig["counter"] and int(f["signed_ms"]) == sig["signed_ms"]
              and sig["key_id"] == kid, "seq %s: the journal signature it names: %s" % (f["seq"], sig))
        InvalidSignature, hashes, _, ec, _ = crypto()
        pub.verify(rs_der(bytes.fromhex(sig["sig"])),
                   (EVENT_MESSAGE % (f["hash"], int(f["counter"]), int(f["signed_ms"]))).encode(),
                   ec.ECDSA(hashes.SHA256()))

        # What a forger changes does not verify.
        total = int(f["total"])
        check(not verify(with_field(payload, "total", str(total + 1)), pub),
              "seq %s: the total changed by one cent does not verify" % f["seq"])
        check(not verify(with_field(payload, "seq", str(int(f["seq"]) + 1)), pub),
              "seq %s: another seq does not verify" % f["seq"])
        check(not verify(payload, other), "seq %s: another key does not verify it" % f["seq"])

    # Every other document's code (shift, signer_installed) verifies too; one without an
    # amount leaves total and currency empty.
    for line in lines:
        f = parse(line)
        check(verify(line, pub), "seq %s (%s) verifies" % (f["seq"], f["type"]))
        if f["type"] in ("shift_open", "signer_installed"):
            check(f["total"] == "" and f["currency"] == "", "no amount: %s" % line)


@test
def unsigned_receipts_still_print_their_code():
    d = tmpdir()
    shop(d, 3, "--set", "signer.type=none")
    db = os.path.join(d, "journal.db")
    check(public_keys(db) == {}, "signing off: no key")
    lines = qr_lines(d)
    n = db_rows(db, "SELECT count(*) FROM events")[0][0]
    check(len(lines) == n and n >= 3, "every receipt has its code: %d codes, %d events" % (len(lines), n))
    sale = next(p for p in lines if parse(p)["type"] == "sale")
    png = png_of(d, sale)
    payload = zbar(png)
    keep(png, "test_receipt_qr-unsigned.png")
    check(payload == sale, "zbarimg reads it: %r" % payload)
    for line in lines:
        f = parse(line)
        check(f["key_id"] == f["counter"] == f["signed_ms"] == f["sig"] == "" and len(f["hash"]) == 64,
              "an unsigned code says so: %s" % line)


if __name__ == "__main__":
    main()
