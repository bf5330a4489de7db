#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# Makes the named seeds of the device-protocol and file fuzz targets (tests/fuzz/corpus/<name>/)
# from the project's own fixtures: the byte streams of the Linux driver tests
# (tests/unit/test_hal_linux_input.c), the JSON literals of the unit tests, the boards' and the
# package's configuration files, the system tests' datasets and scenarios, docs/scenario.md,
# and the golden journal (tests/system/golden). The other files of those corpora were found by
# libFuzzer and merged (-merge=1); this script only rewrites the named ones. Deterministic.
#
# usage: tests/fuzz/seeds_files.py [TARGET...]     (default: every target it knows)
import ast
import glob
import gzip
import hashlib
import json
import os
import re
import struct
import sys

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(top, "tests", "fuzz", "corpus")
TYPES = ["sale", "return", "void", "no_sale", "inventory_receipt", "inventory_adjust",
         "inventory_count", "shift_open", "shift_close", "x_report", "z_report",
         "catalog_applied", "signer_installed", "signer_down", "signer_up", "month_close",
         "year_close"]  # include/posedge/event.h, in order


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def c_literals(path, starts):
    """The C string literals of a file (adjacent ones joined) that start with one of starts."""
    src = re.sub(r"/\*.*?\*/", " ", open(os.path.join(top, path), encoding="latin1").read(),
                 flags=re.S)
    out = []
    for m in re.finditer(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', src):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        try:
            b = b"".join(p.encode("latin1").decode("unicode_escape").encode("latin1")
                         for p in parts)
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue
        if len(b) > 2 and chr(b[0]) in starts:
            out.append(b)
    return out


def put_literals(target, prefix, paths, starts):
    for p in paths:
        for b in c_literals(p, starts):
            put(target, "%s-%s" % (prefix, hashlib.sha1(b).hexdigest()[:10]), b)


def golden():
    with gzip.open(os.path.join(top, "tests/system/golden/journal.jsonl.gz"), "rt") as f:
        return [json.loads(l) for l in f if l.strip()]


def scale():
    etx, stx = b"\x03", b"\x02"

    def nci(w, s1=b"0", s2=b"0"):
        return b"\n" + w + b"\r\nS" + s1 + s2 + b"\r" + etx
    frames = [nci(b"  1.234kg"), nci(b"  0.998kg", b"1"), nci(b"  0.000kg", b"2"),
              nci(b" -0.012kg"), nci(b"    250g"), nci(b"   251 g"), nci(b"   8.8oz"),
              nci(b"  2.000KG"), nci(b"+ 0.5kg"), b"\n  3.210kg\r\nS004\r\x03", b"\nS20\r\x03",
              nci(b" 12.345lb"), nci(b" 0.0011lb"), nci(b"-0.0012lb"), nci(b" 1lb  2.5oz"),
              nci(b" 2 LB 0.25 OZ"), nci(b" 1.5lb 2oz"), nci(b"1000.00lb"),
              nci(b"^^^^^^^kg", b"0", b"2"), nci(b"-------kg", b"0", b"1"), b"\nS02\r\x03",
              b"\nS10\r\x03", nci(b"  0.100kg", b"4"), nci(b"  0.100kg", b"0", b"4"),
              b"\n?\r\x03", nci(b"  1.2.3kg"), nci(b"  1.234st"), nci(b"1234567890g"),
              nci(b"999999999kg"), b"\n  9.9", b"\n  9.999kg\r", b"\n  9.999kg\r\nS0",
              b"\n  9.999kg\r\nS00\r", b"\n  9.9\x15", b"\n  9.999kg\r\nS00\rX",
              b"\n  9.99\n  9.99\n", b"\n  9.999kg\r\nS0\1770", b"\n  7.7\02577kg\r\nS00\r\x03"]
    for i, b in enumerate(frames):
        put("scale", "nci-%02d" % i, b"\x00" + b)
    put("scale", "nci-all", b"\x00" + b"".join(frames))
    for i, b in enumerate([stx + b"00123\r", stx + b"00000\r", stx + b"99999\r",
                           b"zz\x7f\r" + stx + b"12" + stx + b"00050\r", stx + b"01234\r",
                           stx + b"?a\r", stx + b"?b\r", stx + b"?d\r", stx + b"?\r",
                           stx + b"12a45\r", stx + b"1234\r",
                           stx + b"00\x01100\r" + stx + b"00100\r"]):
        put("scale", "8213-lb-%02d" % i, b"\x01" + b)
        put("scale", "8213-g-%02d" % i, b"\x03" + b)


def scanner():
    serial = [b"4006381333931\r", b"\x020104006381333931\x1d10ABC\x03\r", b"456\r\n777\r\n888\r",
              b"123456789\rABC\r12345678\r", b"\nX1\n", b"42\r", b"9\r", b"x" * 300 + b"\r12\r"]
    for i, b in enumerate(serial):
        put("scanner", "serial-%02d" % i, b"\x00\x00" + b)
        put("scanner", "serial-max8-%02d" % i, b"\x00\x08" + b)

    def ev(t, c, v):
        return struct.pack("<HHi", t, c, v)

    def tap(k, scan):
        return (ev(4, 4, scan) + ev(1, k, 1) + ev(0, 0, 0) + ev(4, 4, scan) + ev(1, k, 0) +
                ev(0, 0, 0))
    key = {"1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11,
           "a": 30, "b": 48, "c": 46, "-": 12}

    def typed(s):
        return b"".join(tap(key[c], 0x1e) for c in s)
    enter, lsd, lsu, rsd, rsu = tap(28, 0x28), ev(1, 42, 1), ev(1, 42, 0), ev(1, 54, 1), \
        ev(1, 54, 0)
    evs = [typed("4006381333931") + enter,
           tap(79, 0x59) + tap(80, 0x5a) + tap(82, 0x62) + tap(83, 0x63) + tap(73, 0x61) +
           tap(96, 0x58),
           tap(29, 0xe0) + tap(15, 0x2b) + tap(59, 0x3a) + enter,
           lsd + typed("a") + lsu + typed("b-") + rsd + typed("c-") + rsu + typed("1") + enter,
           ev(1, 2, 1) + ev(1, 2, 2) + ev(1, 2, 2) + ev(1, 2, 0) + enter,
           typed("98") + ev(0xffff, 0, 0) + typed("12") + enter,
           lsd + typed("a") + ev(0, 3, 0) + ev(1, 48, 1) + ev(1, 28, 1) + ev(0, 0, 0) +
           typed("c") + enter,
           typed("12345678901") + enter]
    for i, b in enumerate(evs):
        put("scanner", "evdev-%02d" % i, b"\x01\x00" + b)
        put("scanner", "evdev-max8-%02d" % i, b"\x01\x08" + b)


def escpos_status():
    def rd(*bs):
        return bytes([len(bs)]) + bytes(bs)
    ok = 0x12
    seqs = [rd(ok) + rd(ok) + rd(ok), rd(ok | 8) + rd(ok) + rd(ok), rd(ok) + rd(ok | 4) + rd(ok),
            rd(ok) + rd(ok | 0x20) + rd(ok), rd(ok) + rd(ok | 0x40) + rd(ok),
            rd(ok) + rd(ok) + rd(ok | 0x0c), rd(ok) + rd(ok) + rd(ok | 0x60),
            rd(ok | 4) + rd(ok) + rd(ok), rd(0xff, 0, ok) + rd(ok) + rd(ok),
            rd() + rd() + rd() + rd() + rd(ok) + rd(ok) + rd(ok),
            rd(0x80) + rd(0x80) + rd(0x80) + rd(ok) + rd(ok) + rd(ok)]
    for i, b in enumerate(seqs):
        put("escpos_status", "status-%02d" % i, b"\x00" + b)
        put("escpos_status", "status-high-%02d" % i, b"\x01" + b)


def agent_cfg():
    put_literals("agent_cfg", "unit", ["tests/unit/test_cfg.c", "tests/unit/test_till.c",
                                       "tests/unit/test_devices.c"], "{")
    for f in sorted(glob.glob(os.path.join(top, "boards/*/agent.json"))) + \
            [os.path.join(top, "pkg/agent.json")]:
        put("agent_cfg", "file-" + os.path.relpath(f, top).replace("/", "-"),
            open(f, "rb").read())


def remote_cfg():
    def flat(d, p=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, p + k + ".")
            else:
                yield p + k, v
    for f in sorted(glob.glob(os.path.join(top, "boards/*/agent.json"))) + \
            [os.path.join(top, "pkg/agent.json")]:
        kv = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in
              flat(json.load(open(f)))}
        put("remote_cfg", "flat-" + os.path.relpath(f, top).replace("/", "-"),
            json.dumps(kv, indent=2))
    put("remote_cfg", "fleet", json.dumps({"log_level": "debug", "title": "Shop Two",
                                           "fleet.state_interval_s": "2",
                                           "till.training": "true"}))
    put("remote_cfg", "bad", json.dumps({"log_level": "loud", "no.such": "1", "store": "s002",
                                         "signer.type": "none",
                                         "devices.scale.driver": "nope",
                                         "signer.pkcs11_module": "/tmp/any.so"}))
    put("remote_cfg", "types", json.dumps({"title": 2, "log_level": None, "till.training": True,
                                           "fleet.state_interval_s": ["1"], "x": {"y": "z"}}))
    for name, text in {"empty": "", "array": "[]", "str": '"x"', "trunc": '{"title":"a',
                       "nul": '{"title":"a\\u0000b"}', "nul-raw": '{"title":"a\0b"}',
                       "dup": '{"title":"a","title":"b"}'}.items():
        put("remote_cfg", name, text)


def bridge_cfg():
    put_literals("bridge_cfg", "unit", ["tests/unit/test_profile.c",
                                        "tests/unit/test_profile_avro.c",
                                        "tests/unit/test_flow.c"], "{")
    for f in ["boards/sim/bridge.json", "pkg/bridge.json"]:
        put("bridge_cfg", "file-" + f.replace("/", "-"), open(os.path.join(top, f), "rb").read())


def scenario():
    put("scenario", "file-day.jsonl",
        open(os.path.join(top, "tests/system/scenarios/day.jsonl"), "rb").read())
    put_literals("scenario", "unit", ["tests/unit/test_sim.c"], "{")
    lines = [l for l in open(os.path.join(top, "docs/scenario.md")) if l.startswith('{"do"')]
    put("scenario", "doc-scenario-md.jsonl", "".join(lines))


def replay_csv():
    tree = ast.parse(open(os.path.join(top, "tests/system/test_replay.py")).read())
    env, files = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in ("OR_HEADER", "OR_ROWS"):
            env[node.targets[0].id] = ast.literal_eval(node.value)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "write" and \
                len(node.args) >= 3 and isinstance(node.args[1], ast.Constant):
            try:
                files.setdefault(node.args[1].value, ast.literal_eval(node.args[2]))
            except ValueError:
                pass

    def csv(lines, crlf=True, bom=False):
        eol = "\r\n" if crlf else "\n"
        return (b"\xef\xbb\xbf" if bom else b"") + (eol.join(lines) + eol).encode()
    rows = [env["OR_HEADER"]] + env["OR_ROWS"]
    put("replay_csv", "or-system", b"\x00" + csv(rows, bom=True))
    put("replay_csv", "or-system-lf", b"\x00" + csv(rows, crlf=False))
    order = ["item.csv", "store.csv", "inventory_change_type.csv", "inventory_snapshot_1.csv",
             "inventory_change_1.csv"]
    parts = [csv(files[n], crlf=False).rstrip(b"\n") for n in order if n in files]
    cut = b"\n--8<--\n"
    put("replay_csv", "db-system", b"\x01" + cut.join(parts))
    put("replay_csv", "db-reversed", b"\x01" + cut.join(reversed(parts)))
    for b in c_literals("tests/unit/test_replay.c", "I"):
        put("replay_csv", "or-unit-retail", b"\x00" + b)
    put("replay_csv", "or-unit-quoting",
        b'\x00\xef\xbb\xbfh1,h2,h3\r\n1,"a, b","say ""hi"""\r\n\r\n2,"two\nlines",x\r\n3,,\n')


def op3(o, row, data=b""):
    return bytes([o, row, len(data)]) + data


def journal():
    seeds = {"plain-%d" % f: bytes([f]) for f in range(4)}
    seen = set()
    for r in golden():
        t = r["type"]
        if t in seen:
            continue
        seen.add(t)
        body = json.dumps(r["body"], separators=(",", ":"), sort_keys=True).encode()
        if len(body) < 256:
            seeds["reseal-%s-last" % t] = bytes([2]) + op3(7 + 10 * TYPES.index(t), 5, body)
            seeds["reseal-%s-first" % t] = bytes([3]) + op3(7 + 10 * TYPES.index(t), 1, body)
        rec = json.dumps(r, separators=(",", ":"), sort_keys=True).encode()
        if len(rec) < 256:
            seeds["golden-record-%s" % t] = bytes([2]) + op3(10, 3, rec)
    seeds.update({
        "record-garbage": bytes([2]) + op3(0, 3, b"not json"),
        "record-empty": bytes([3]) + op3(10, 5),
        "hash-zero": bytes([2]) + op3(11, 4, b"0" * 64),
        "sig-garbage": bytes([0]) + op3(2, 3, b'{"alg":"ES256"}'),
        "sig-null": bytes([0]) + op3(202, 4),
        "sig-on-unsigned": bytes([0]) + op3(12, 1, b'{"alg":"ES256","counter":1,"key_id":"00",'
                                                   b'"sig":"AA==","ts":"x"}'),
        "id-dup": bytes([2]) + op3(13, 3, b"0a1b2c3d-0000-4000-8000-000000000004"),
        "type-changed": bytes([2]) + op3(14, 1, b"signer_up"),
        "ts-negative": bytes([2]) + op3(5, 2, b"-1"),
        "meta-store": bytes([2]) + op3(16, 0, b"s002"),
        "meta-terminal-bad": bytes([1]) + op3(16, 1, b"\x00bad"),
        "anchor": bytes([1]) + op3(16, 3, b'{"counter":3,"hash":"' + b"a" * 64 +
                                   b'","key":null,"perpetual_total":0,"seq":2,'
                                   b'"ts_ms":1795256102002}'),
        "anchor-garbage": bytes([1]) + op3(16, 3, b'{"seq":'),
        "delete-middle": bytes([2]) + op3(8, 3),
        "delete-last": bytes([2]) + op3(8, 5),
        "parked-garbage": bytes([0]) + op3(19, 0, b'{"lines":'),
        "torn-record": bytes([2]) + op3(220, 5 + 8 * 4),
        "torn-sig": bytes([0]) + op3(222, 4 + 8 * 2),
        "flip-record": bytes([0]) + op3(220, 4 + 8 * 3, b"X"),
        "flip-sig": bytes([0]) + op3(222, 3 + 8 * 1, b"Z"),
        "flip-hash": bytes([0]) + op3(221, 3, b"f"),
    })
    for name, b in seeds.items():  # each on the unsigned and on the signed template
        put("journal", name, bytes([b[0] & 3]) + b[1:])
        put("journal", name + "-signed", bytes([(b[0] & 3) | 4]) + b[1:])


def spool():
    def op(kind, bind, row, data=b""):
        return op3(kind + 16 * bind, row, data)
    seeds = {
        "plain": b"", "record-garbage": op(0, 0, 4, b"not json"),
        "record-blob-truncated": op(0, 1, 6, b'{"body":'), "hash-zero": op(1, 1, 4, b"\0" * 32),
        "hash-short": op(1, 1, 8, b"\x01"), "hash-text": op(1, 0, 8, b"a" * 64),
        "sig-garbage": op(2, 0, 3, b'{"alg":'), "sig-empty": op(2, 1, 5), "sig-null": op(2, 3, 3),
        "id-null": op(3, 3, 2), "type-unknown": op(4, 0, 2, b"no_such_type"),
        "ts-huge": op(5, 2, 2, b"9223372036854775807"), "cum-negative": op(6, 2, 6, b"-5"),
        "rejected-set": op(7, 0, 2, b"why not"), "delete-middle": op(8, 0, 4),
        "delete-last-t02": op(8, 0, 5), "spooled-ahead": op(9, 2, 0, b"9"),
        "spooled-negative": op(9, 2, 0, b"-1"), "delivered-ahead": op(10, 2, 0, b"7"),
        "delivered-text": op(10, 0, 1, b"x"), "tail-hash-bad": op(11, 0, 0, b"zz"),
        "bytes-negative": op(12, 2, 1, b"-100"), "store-invalid": op(13, 0, 0, b"bad id!"),
        "store-dup": op(13, 0, 1, b"s002"),
        "meta-avro-bad": op(14, 0, 0, b'{"schema":1,"version":"x"}'),
        "meta-other": op(14, 0, 2, b"[1,2"), "doc-garbage": op(15, 0, 0, b'{"id":'),
        "doc-null": op(15, 3, 0),
        "many": op(0, 0, 4, b"{}") + op(9, 2, 0, b"3") + op(11, 0, 0, b"0" * 64) + op(8, 0, 6),
    }
    for name, b in seeds.items():
        put("spool", name, b)


def profile():
    per = {}
    for r in golden():
        t = r["type"]
        per[t] = per.get(t, 0) + 1
        if per[t] > 3:
            continue
        rec = json.dumps(r, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
        for flags in (0, 1, 2, 120):
            put("profile", "golden-%s-%d-f%d" % (t, per[t], flags),
                bytes([TYPES.index(t), flags]) + rec)
    put("profile", "garbage", b"\x00\x00not json")
    put("profile", "empty-object", b"\x00\x00{}")


targets = {"scale": scale, "scanner": scanner, "escpos_status": escpos_status,
           "agent_cfg": agent_cfg, "remote_cfg": remote_cfg, "bridge_cfg": bridge_cfg,
           "scenario": scenario, "replay_csv": replay_csv, "journal": journal, "spool": spool,
           "profile": profile}

if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(targets):
        targets[name]()
