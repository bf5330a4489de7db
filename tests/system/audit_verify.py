#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""An auditor's verifier of posedge archives, written from docs/audit.md alone.

It uses no posedge code: the standard library and python3-cryptography (ECDSA P-256). Given
the archives of one terminal it checks them as one history, in seq order: every line canonical
JSON, the hash chain from the genesis value (or from the first archive's anchor), no gap and no
overlap between archives, every signature under its key group's public key with counters
rising by one, the key lines, and every manifest figure recomputed from the records.

    audit_verify.py FILE...

Exit 0 printing "verified: ..." when all holds, 1 printing "FAILED FILE: what is wrong" (with
the seq where there is one), 2 for a usage error.
"""
import hashlib
import json
import sys

FORMAT = "posedge-archive/1"
MESSAGE = "posedge-sig/1|%s|%d|%d"


class Bad(Exception):
    """Something in an archive is wrong; str() says what (and at which seq)."""


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def genesis(store, terminal):
    return hashlib.sha256(("posedge/v1/genesis/%s/%s" % (store, terminal)).encode()).hexdigest()


def is_hex(s, n):
    return isinstance(s, str) and len(s) == n and all(c in "0123456789abcdef" for c in s)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def read_lines(path):
    """The file's lines as objects, each checked to be canonical JSON ending in a newline."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise Bad("empty file")
    if not data.endswith(b"\n"):
        raise Bad("the last line is not terminated (the file was cut)")
    out = []
    for i, raw in enumerate(data[:-1].split(b"\n")):
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise Bad("line %d is not JSON (%s)" % (i + 1, e))
        if not isinstance(obj, dict) or canonical(obj) != raw:
            raise Bad("line %d is not a canonical JSON object" % (i + 1))
        out.append(obj)
    return out


def record_hash(rec, prev):
    """hex(SHA-256(prev || the record's bytes without its ',"hash":"<64 hex>"' member))."""
    key = b',"hash":"'
    at = rec.rfind(key)
    if at < 0 or rec[at + 73:at + 74] != b'"':
        raise ValueError("no hash member")
    return hashlib.sha256(prev.encode() + rec[:at] + rec[at + 74:]).hexdigest()


def crypto():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    return hashes, serialization, ec, encode_dss_signature


class Group:
    """The key group in force: alg "" (none installed yet), "none" or "ES256"."""

    def __init__(self):
        self.alg, self.key_id, self.pub, self.counter, self.hash = "", "", None, 0, ""

    def install(self, seq, body, h):
        hashes, serialization, ec, _ = crypto()
        alg = body.get("alg")
        if alg == "none":
            self.alg, self.key_id, self.pub = "none", "", None
        elif alg == "ES256":
            try:
                pub = serialization.load_pem_public_key(body["public_key"].encode())
            except Exception:
                raise Bad("seq %d: signer_installed: public_key does not parse" % seq)
            if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
                raise Bad("seq %d: signer_installed: not a P-256 key" % seq)
            der = pub.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
            if hashlib.sha256(der).hexdigest()[:32] != body.get("key_id"):
                raise Bad("seq %d: signer_installed: key_id is not that of public_key" % seq)
            self.alg, self.key_id, self.pub = "ES256", body["key_id"], pub
        else:
            raise Bad("seq %d: signer_installed: unknown alg %r" % (seq, alg))
        self.counter, self.hash = 0, h

    def check(self, seq, h, sig):
        """The signature sig (a dict or None) of the record of hash h in this group."""
        if self.alg != "ES256":
            if sig is not None:
                raise Bad("seq %d: signed, but no key is in force" % seq)
            return False
        if sig is None:
            raise Bad("seq %d: not signed (key %s in force)" % (seq, self.key_id))
        if (set(sig) != {"alg", "counter", "key_id", "sig", "signed_ms"} or sig["alg"] != "ES256"
                or not is_int(sig["counter"]) or sig["counter"] < 1
                or not is_int(sig["signed_ms"]) or sig["signed_ms"] < 0
                or not is_hex(sig["sig"], 128)):
            raise Bad("seq %d: the signature is malformed" % seq)
        if sig["key_id"] != self.key_id:
            raise Bad("seq %d: signed by key %s, not by the key in force %s"
                      % (seq, sig["key_id"], self.key_id))
        if self.counter and sig["counter"] != self.counter + 1:
            raise Bad("seq %d: signature counter %d, expected %d"
                      % (seq, sig["counter"], self.counter + 1))
        hashes, _, ec, encode_dss_signature = crypto()
        from cryptography.exceptions import InvalidSignature
        rs = bytes.fromhex(sig["sig"])
        der = encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))
        try:
            self.pub.verify(der, (MESSAGE % (h, sig["counter"], sig["signed_ms"])).encode(),
                            ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Bad("seq %d: the signature does not verify" % seq)
        self.counter = sig["counter"]
        return True


def parse_record(line, seq_hint):
    """A key or record line's record bytes, parsed record, seq, hash and sig."""
    if set(line) != {"hash", "kind", "record", "seq", "sig"} or not isinstance(line["record"], str):
        raise Bad("seq %s: a malformed %s line" % (seq_hint, line.get("kind")))
    raw = line["record"].encode("utf-8")
    try:
        rec = json.loads(line["record"])
    except ValueError:
        raise Bad("seq %s: the record is not JSON" % seq_hint)
    if not isinstance(rec, dict) or canonical(rec) != raw:
        raise Bad("seq %s: the record is not canonical JSON" % seq_hint)
    return raw, rec


class History:
    def __init__(self):
        self.started = False
        self.store = self.terminal = None
        self.first = self.next = 0
        self.prev = ""
        self.group = Group()
        self.nsigned = self.ngroups = 0

    def feed(self, line):
        """One record line, the next of the history; returns its parsed record."""
        seq = line.get("seq")
        if seq != self.next:
            raise Bad("seq %d: missing (the next line holds seq %s)" % (self.next, seq))
        raw, rec = parse_record(line, seq)
        if rec.get("seq") != seq:
            raise Bad("seq %d: the record's seq is %r" % (seq, rec.get("seq")))
        if rec.get("store") != self.store or rec.get("terminal") != self.terminal:
            raise Bad("seq %d: record of another store or terminal" % seq)
        if rec.get("prev") != self.prev:
            raise Bad("seq %d: prev is not the hash of seq %d" % (seq, seq - 1))
        try:
            h = record_hash(raw, self.prev)
        except ValueError:
            raise Bad("seq %d: the record has no hash member" % seq)
        if h != rec.get("hash"):
            raise Bad("seq %d: hash mismatch (the record changed)" % seq)
        if h != line["hash"]:
            raise Bad("seq %d: the line's hash is not the record's" % seq)
        if not isinstance(rec.get("body"), dict) or not isinstance(rec.get("type"), str):
            raise Bad("seq %d: no body or type" % seq)
        if rec["type"] == "signer_installed":
            self.group.install(seq, rec["body"], h)
            self.ngroups += self.group.alg == "ES256"
        self.nsigned += self.group.check(seq, h, line["sig"])
        self.prev = h
        self.next += 1
        return rec


def add(d, key, v):
    d[key] = d.get(key, 0) + v


def audit_file(hist, path):
    lines = read_lines(path)
    m = lines[0]
    if m.get("format") != FORMAT or m.get("kind") != "manifest":
        raise Bad("not a %s archive (no manifest first)" % FORMAT)
    try:
        store, terminal = m["store"], m["terminal"]
        aseq, ahash, acounter = m["anchor"]["seq"], m["anchor"]["hash"], m["anchor"]["counter"]
        fseq, lseq = m["first"]["seq"], m["last"]["seq"]
        nkeys = m["keys"]
    except (KeyError, TypeError):
        raise Bad("manifest: a member is missing")
    if aseq != fseq - 1 or lseq < fseq or not is_hex(ahash, 64):
        raise Bad("manifest: anchor, first and last do not fit")
    if not hist.started:
        hist.started = True
        hist.store, hist.terminal = store, terminal
        hist.first = hist.next = fseq
        if aseq == 0 and ahash != genesis(store, terminal):
            raise Bad("seq 1: the anchor is not the genesis value of %s/%s" % (store, terminal))
        hist.prev = ahash
        continuing = False
    else:
        if (store, terminal) != (hist.store, hist.terminal):
            raise Bad("belongs to %s/%s, the history to %s/%s"
                      % (store, terminal, hist.store, hist.terminal))
        if fseq > hist.next:
            raise Bad("seq %d: missing (gap before this archive, which starts at seq %d)"
                      % (hist.next, fseq))
        if fseq < hist.next:
            raise Bad("seq %d: overlaps the archive before it (which ends at seq %d)"
                      % (fseq, hist.next - 1))
        if ahash != hist.prev:
            raise Bad("seq %d: the anchor hash is not the hash of seq %d" % (fseq, aseq))
        if hist.group.alg == "ES256" and acounter != hist.group.counter:
            raise Bad("seq %d: anchor counter %d, the last counter before it %d"
                      % (fseq, acounter, hist.group.counter))
        continuing = True
    keys = [l for l in lines[1:1 + nkeys]]
    if any(l.get("kind") != "key" for l in keys) or len(keys) != nkeys:
        raise Bad("manifest: keys does not match the key lines")
    records = lines[1 + nkeys:]
    if any(l.get("kind") != "record" for l in records):
        raise Bad("a line that is neither a key line nor a record line, or a key line too many")
    inside = {}
    last_key = before = 0
    for k in keys:
        seq = k.get("seq")
        raw, rec = parse_record(k, seq)
        if (not is_int(seq) or seq <= last_key or seq > lseq
                or rec.get("type") != "signer_installed"):
            raise Bad("seq %s: a key line out of order or not a signer_installed record" % seq)
        last_key = seq
        if seq >= fseq:
            inside[seq] = k["hash"]
            continue
        before += 1
        if before > 1:
            raise Bad("seq %d: more than one key line before the archive's first record" % seq)
        if continuing:
            if k["hash"] != hist.group.hash:
                raise Bad("seq %d: the key line is not the key in force in the history" % seq)
            continue
        # Starting mid-history: the key stands on its own signature.
        try:
            h = record_hash(raw, rec.get("prev", ""))
        except ValueError:
            h = None
        if h != rec.get("hash") or h != k["hash"] or rec.get("seq") != seq:
            raise Bad("seq %d: the key line's record does not hash to its hash" % seq)
        hist.group.install(seq, rec["body"], h)
        hist.ngroups += hist.group.alg == "ES256"
        hist.group.check(seq, h, k["sig"])
        if hist.group.alg == "ES256":
            hist.group.counter = acounter
    count = signed = 0
    types, totals = {}, {}
    for line in records:
        rec = hist.feed(line)
        seq, typ, body = rec["seq"], rec["type"], rec["body"]
        if (typ == "signer_installed") != (seq in inside) or \
                (seq in inside and inside[seq] != line["hash"]):
            raise Bad("seq %d: the key lines do not list this archive's signer_installed records"
                      % seq)
        count += 1
        signed += line["sig"] is not None
        add(types, typ, 1)
        amount = None
        if typ in ("sale", "return"):
            amount = (body.get("totals") or {}).get("total")
        elif typ == "void":
            amount = body.get("amount")
        if typ in ("sale", "return", "void"):
            if not is_int(amount) or not isinstance(body.get("currency"), str):
                raise Bad("seq %d: a %s without currency or amount" % (seq, typ))
            add(totals.setdefault(typ, {}), body["currency"], amount)
    if hist.next - 1 != lseq:
        raise Bad("seq %d: missing (the manifest's last seq is %d)" % (hist.next, lseq))
    for name, mine in (("last hash", m["last"].get("hash") == hist.prev),
                       ("first hash", m["first"].get("hash") == records[0]["hash"]),
                       ("count", m.get("count") == count),
                       ("signed", m.get("signed") == signed),
                       ("types", m.get("types") == types),
                       ("totals", m.get("totals") == totals)):
        if not mine:
            raise Bad("manifest: %s does not match the records" % name)
    return fseq, lseq, count, signed


def main(argv):
    if not argv:
        print("usage: audit_verify.py FILE...", file=sys.stderr)
        return 2
    order = []
    for path in argv:
        try:
            first = read_lines(path)[0]["first"]["seq"]
        except (OSError, Bad, KeyError, TypeError, IndexError) as e:
            print("FAILED %s: %s" % (path, e if isinstance(e, (Bad, OSError)) else "no manifest"))
            return 1
        order.append((first, path))
    hist = History()
    for _, path in sorted(order):
        try:
            f, l, n, s = audit_file(hist, path)
        except Bad as e:
            print("FAILED %s: %s" % (path, e))
            return 1
        print("OK %s: seq %d..%d, %d records, %d signed" % (path, f, l, n, s))
    print("verified: %s/%s seq %d..%d, %d signatures valid under %d key(s), every manifest matches"
          % (hist.store, hist.terminal, hist.first, hist.next - 1, hist.nsigned, hist.ngroups))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
