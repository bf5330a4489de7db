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
        # An outage of the signer: its signer_down's seq (0: none open), the hashes so far.
        self.down, self.down_hashes = 0, []
        self.nmarked = self.noutages = 0

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

    def check_marked(self, seq, typ, h, sig):
        """A record marked unsigned in an outage (docs/audit.md, Outages of the signer)."""
        d = sig["signer_down"]
        if typ == "signer_down":
            if self.down:
                raise Bad("seq %d: signer_down inside the outage opened at seq %d"
                          % (seq, self.down))
            if d != seq or self.alg != "ES256":
                raise Bad("seq %d: signer_down marked for another outage or outside a key group"
                          % seq)
            self.down, self.down_hashes = seq, []
        elif not self.down:
            raise Bad("seq %d: marked unsigned, but no outage of the signer is open" % seq)
        elif d != self.down:
            raise Bad("seq %d: marked for the outage at seq %d, the open one began at seq %d"
                      % (seq, d, self.down))
        if typ == "signer_up":
            raise Bad("seq %d: signer_up is not signed" % seq)
        if typ == "signer_installed":
            raise Bad("seq %d: signer_installed inside the outage opened at seq %d"
                      % (seq, self.down))
        self.down_hashes.append(h)
        self.nmarked += 1
        return False

    def check_up(self, seq, body):
        """The signed signer_up's collective covers exactly the open outage."""
        want = {"count": len(self.down_hashes), "first_seq": self.down,
                "hash": hashlib.sha256("".join(self.down_hashes).encode()).hexdigest(),
                "last_seq": seq - 1}
        if body != want:
            raise Bad("seq %d: signer_up's collective is not that of seqs %d-%d"
                      % (seq, self.down, seq - 1))
        self.down, self.down_hashes = 0, []
        self.noutages += 1

    def check(self, seq, h, sig, typ="", body=None):
        """The signature sig (a dict or None) of the record of type typ and hash h in this
        group."""
        if isinstance(sig, dict) and set(sig) == {"alg", "signer_down"} and \
                sig["alg"] == "none" and is_int(sig["signer_down"]) and sig["signer_down"] >= 1:
            return self.check_marked(seq, typ, h, sig)
        if self.down and typ != "signer_up":
            raise Bad("seq %d: not marked, but the signer is down since seq %d" % (seq, self.down))
        if typ == "signer_down":
            raise Bad("seq %d: signer_down is not marked unsigned" % seq)
        if typ == "signer_up" and not self.down:
            raise Bad("seq %d: signer_up, but no outage of the signer is open" % seq)
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
        if typ == "signer_up":
            self.check_up(seq, body)
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
        self.perpetual = 0

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
        if rec["type"] == "signer_installed" and not self.group.down:
            self.group.install(seq, rec["body"], h)
            self.ngroups += self.group.alg == "ES256"
        self.nsigned += self.group.check(seq, h, line["sig"], rec["type"], rec["body"])
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
        aperpetual = m["anchor"]["perpetual_total"]
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
        if aseq == 0 and aperpetual != 0:
            raise Bad("seq 1: anchor perpetual_total %r before any record" % aperpetual)
        hist.prev = ahash
        hist.perpetual = aperpetual
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
        if aperpetual != hist.perpetual:
            raise Bad("seq %d: anchor perpetual_total %r, the records before it sum to %d"
                      % (fseq, aperpetual, hist.perpetual))
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
    count = signed = marked = 0
    types, totals = {}, {}
    for line in records:
        rec = hist.feed(line)
        seq, typ, body = rec["seq"], rec["type"], rec["body"]
        if (typ == "signer_installed") != (seq in inside) or \
                (seq in inside and inside[seq] != line["hash"]):
            raise Bad("seq %d: the key lines do not list this archive's signer_installed records"
                      % seq)
        count += 1
        is_mark = isinstance(line["sig"], dict) and line["sig"].get("alg") == "none"
        signed += line["sig"] is not None and not is_mark
        marked += is_mark
        add(types, typ, 1)
        training = body.get("training") is True
        if typ in ("sale", "return") and not training:
            t = (body.get("totals") or {}).get("total")
            if not is_int(t):
                raise Bad("seq %d: a %s without currency or amount" % (seq, typ))
            hist.perpetual += t if typ == "sale" else -t
        if "perpetual_total" in body and body["perpetual_total"] != hist.perpetual:
            raise Bad("seq %d: perpetual_total %r, but the records up to it sum to %d"
                      % (seq, body["perpetual_total"], hist.perpetual))
        amount = None
        if typ in ("sale", "return"):
            amount = (body.get("totals") or {}).get("total")
        elif typ == "void":
            amount = body.get("amount")
        if typ in ("sale", "return", "void"):
            if not is_int(amount) or not isinstance(body.get("currency"), str):
                raise Bad("seq %d: a %s without currency or amount" % (seq, typ))
            if not training:
                add(totals.setdefault(typ, {}), body["currency"], amount)
    if hist.next - 1 != lseq:
        raise Bad("seq %d: missing (the manifest's last seq is %d)" % (hist.next, lseq))
    for name, mine in (("last hash", m["last"].get("hash") == hist.prev),
                       ("first hash", m["first"].get("hash") == records[0]["hash"]),
                       ("count", m.get("count") == count),
                       ("signed", m.get("signed") == signed),
                       ("marked", m.get("marked") == marked),
                       ("perpetual_total", m.get("perpetual_total") == hist.perpetual),
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
    g = hist.group
    outages = ""
    if g.noutages or g.down:
        outages = ", %d unsigned while the signer was down, %d outage(s) covered" % (
            g.nmarked, g.noutages)
        if g.down:
            outages += ", signer down since seq %d (not covered yet)" % g.down
    print("verified: %s/%s seq %d..%d, %d signatures valid under %d key(s)%s, every manifest "
          "matches" % (hist.store, hist.terminal, hist.first, hist.next - 1, hist.nsigned,
                       hist.ngroups, outages))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
