#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 15, archives: `posedge-ctl export` and `posedge-ctl audit`, checked against an
independent verifier.

The agent sells (a key lost half-way, so the journal has two key groups), `posedge-ctl export`
writes archives of it (whole, and in parts that start inside a key group), and both
`posedge-ctl audit` and tests/system/audit_verify.py (Python with python3-cryptography, written
from docs/audit.md alone, no posedge code) verify them, alone, together and with the live
journal. The manifest's figures are compared with what this test sums from the journal itself.
Then the forger's edits, each of which both verifiers must refuse naming what is wrong: a sale's
total changed (with the archive's whole chain and manifest recomputed to match), a dropped line,
a record signed again with another key, a manifest figure changed, a gap and an overlap between
archives, and a journal that does not continue the archives.

Pruning: `posedge-ctl prune` refuses records the bridge has not acknowledged as delivered and
records of the open period (after the last Z report), and never deletes a row when its archive
could not be written; a prune through a Z report leaves a journal that verifies from its anchor,
that the agent goes on selling into, and that audits with its archive as one history (with
both verifiers for the archives). The bridge's acknowledgement is written into the journal's
uplink table here as the agent writes it when the bridge acks (test_uplink covers that path).
The agent archives by itself at its start (batch runs) and after a Z report while it runs as a
daemon (the Z report asked for over MQTT), both through the real mosquitto and bridge.

Outages of the signer (PE_TEST_SIGNER_DOWN): marked records and the signed collective verify in
archives with both verifiers (an outage still open at the end reported, not failed); export
refuses a range that would cut an outage from its collective, prune a seq inside one; a marked
record changed or unmarked fails both.
"""
import copy
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

from lib import (AGENT, CONFIG, CTL, SIM_START, SRC, Bridge, DevKafka, Mosquitto, agent, check,
                 ctl, db_rows, journal_events, main, run, test, tmpdir, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY = os.path.join(HERE, "audit_verify.py")
START = ["--set", "sim.start=" + SIM_START]
MESSAGE = "posedge-sig/1|%s|%d|%d"


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def shop(d, n, seed):
    agent(d, *START, "--shopper", str(n), "--seed", str(seed), check_rc=0)


_journal = None


def journal():
    """One signed journal for every test: 120 customers, the key file lost, 60 more (a second
    signer_installed, so two key groups). Made once."""
    global _journal
    if _journal is None:
        d = tmpdir("pe-audit")
        shop(d, 120, 3)
        os.unlink(os.path.join(d, "signer.key"))
        shop(d, 60, 4)
        _journal = os.path.join(d, "journal.db")
    return _journal


def export(db, out, *rng):
    p = ctl("export", db, *rng, "--out", out, check_rc=0)
    check(os.path.exists(out) and not os.path.exists(out + ".new"), "written and renamed")
    return p


def both_ok(*files, journal_db=None):
    """posedge-ctl audit and the independent verifier both accept files."""
    args = list(files) + (["--journal", journal_db] if journal_db else [])
    p = ctl("audit", *args, check_rc=0)
    check("audit OK:" in p.stdout, p.stdout)
    q = run([sys.executable, VERIFY] + list(files), check_rc=0)
    check("verified:" in q.stdout, q.stdout)
    return p.stdout, q.stdout


def both_fail(files, *whats, ctl_file=None):
    """Both verifiers refuse files (exit 1); each FAILED line names the file and every one of
    whats (strings that say what is wrong: the seq, the figure)."""
    p = ctl("audit", *files, check_rc=1)
    q = run([sys.executable, VERIFY] + list(files), check_rc=1)
    for out, who in ((p.stdout, "posedge-ctl audit"), (q.stdout, "audit_verify.py")):
        failed = [l for l in out.splitlines() if l.startswith("FAILED ")]
        check(failed, "%s should fail: %s" % (who, out))
        line = failed[0]
        check(line.startswith("FAILED %s: " % (ctl_file or files[-1])) or
              any(line.startswith("FAILED %s: " % f) for f in files), "%s: %s" % (who, line))
        for w in whats:
            check(w in line, "%s should say %r: %s" % (who, w, line))
    return p.stdout, q.stdout


def read(path):
    with open(path, "rb") as f:
        return [json.loads(l) for l in f.read().decode().splitlines()]


def write(path, lines):
    with open(path, "wb") as f:
        for l in lines:
            f.write(canonical(l) + b"\n")


def totals_of(events):
    """The manifest's figures, summed here from the journal's own events (training records
    out of the totals)."""
    types, totals = {}, {}
    for e in events:
        types[e["type"]] = types.get(e["type"], 0) + 1
        b = e["body"]
        if b.get("training") is True:
            continue
        amount = b["totals"]["total"] if e["type"] in ("sale", "return") else b.get("amount")
        if e["type"] in ("sale", "return", "void"):
            t = totals.setdefault(e["type"], {})
            t[b["currency"]] = t.get(b["currency"], 0) + amount
    return types, totals


def perpetual(events):
    """The perpetual total after events: sales minus returns, training records left out."""
    return sum(e["body"]["totals"]["total"] * (1 if e["type"] == "sale" else -1)
               for e in events if e["type"] in ("sale", "return")
               and e["body"].get("training") is not True)


def seal(obj, prev):
    obj = dict(obj)
    obj.pop("hash", None)
    obj["prev"] = prev
    h = hashlib.sha256(prev.encode() + canonical(obj)).hexdigest()
    obj["hash"] = h
    return canonical(obj).decode(), h


@test
def export_verifies_with_audit_and_the_independent_verifier():
    db = journal()
    d = os.path.dirname(db)
    ev = journal_events(db)
    n = len(ev)
    keys = [e["seq"] for e in ev if e["type"] == "signer_installed"]
    check(len(keys) == 2 and keys[0] == 1 and 1 < keys[1] < n - 20, "two key groups: %s" % keys)
    whole = os.path.join(d, "whole.arch")
    export(db, whole)
    a, b = both_ok(whole)
    check(("seq 1..%d" % n) in a and ("%d signatures valid under 2 key(s)" % n) in a, a)
    check(("seq 1..%d, %d signatures valid under 2 key(s)" % (n, n)) in b, b)
    m = read(whole)[0]
    types, totals = totals_of(ev)
    check(m["types"] == types and m["totals"] == totals, "manifest %s vs journal %s %s"
          % (m, types, totals))
    check("return" in totals and "sale" in totals and "void" in totals, "sales, returns, voids")
    check(m["count"] == n and m["signed"] == n and m["keys"] == 2 and m["first"]["seq"] == 1 and
          m["last"]["seq"] == n and m["last"]["hash"] == ev[-1]["hash"] and
          m["first"]["hash"] == ev[0]["hash"] and m["anchor"]["seq"] == 0, "manifest %s" % m)
    check(m["marked"] == 0 and m["anchor"]["perpetual_total"] == 0 and
          m["perpetual_total"] == perpetual(ev) == ev[-1]["body"].get("perpetual_total",
                                                                     perpetual(ev)),
          "the perpetual total: %s" % m)
    # The same range again gives the same bytes (created_ms fixed by SOURCE_DATE_EPOCH).
    e1, e2 = os.path.join(d, "e1.arch"), os.path.join(d, "e2.arch")
    for f in (e1, e2):
        run([CTL, "export", db, "--out", f], env={"SOURCE_DATE_EPOCH": "1767225600"}, check_rc=0)
    check(open(e1, "rb").read() == open(e2, "rb").read(), "an export is reproducible")
    check(read(e1)[0]["created_ms"] == 1767225600000, "created_ms from SOURCE_DATE_EPOCH")

    # Three parts, the second starting inside the first key group and holding the second
    # key's signer_installed, the third inside the second group; then the live journal.
    cut1, cut2 = keys[1] - 10, keys[1] + 10
    parts = [os.path.join(d, "p%d.arch" % i) for i in range(3)]
    export(db, parts[0], "--to", str(cut1))
    export(db, parts[1], "--from", str(cut1 + 1), "--to", str(cut2))
    export(db, parts[2], "--from", str(cut2 + 1), "--to", str(n - 5))
    p1 = read(parts[1])
    check(p1[0]["keys"] == 2 and p1[1]["seq"] == 1 and p1[2]["seq"] == keys[1],
          "the key in force and the key installed inside: %s" % p1[0])
    p2 = read(parts[2])
    check(p2[0]["keys"] == 1 and p2[1]["seq"] == keys[1], "the second key in force")
    check(p2[0]["anchor"]["seq"] == cut2 and p2[0]["anchor"]["hash"] == ev[cut2 - 1]["hash"],
          "anchor %s" % p2[0]["anchor"])
    check(p2[0]["anchor"]["perpetual_total"] == perpetual(ev[:cut2]) and
          p2[0]["perpetual_total"] == perpetual(ev[:n - 5]), "perpetual totals %s" % p2[0])
    a, b = both_ok(*reversed(parts))  # any order on the command line
    check(("seq 1..%d" % (n - 5)) in a and ("seq 1..%d" % (n - 5)) in b, a + b)
    for p in parts[1:]:
        both_ok(p)  # an archive starting mid-history stands alone on its key line
    a, _ = both_ok(*parts, journal_db=db)
    check(("seq 1..%d intact across 3 archive(s) and the journal" % n) in a, a)
    check(("OK %s: seq %d..%d continue the history (5 records)" % (db, n - 4, n)) in a, a)
    a = ctl("audit", "--journal", db, check_rc=0).stdout
    check(("seq 1..%d intact across 0 archive(s) and the journal" % n) in a, a)


@test
def tampered_archives_fail_both_verifiers_naming_what_is_wrong():
    db = journal()
    d = os.path.dirname(db)
    whole = os.path.join(d, "t-whole.arch")
    export(db, whole)
    lines = read(whole)
    nk = lines[0]["keys"]
    recs = lines[1 + nk:]
    sales = [l for l in recs if json.loads(l["record"])["type"] == "sale"]
    target = sales[len(sales) // 2]
    tseq = target["seq"]

    # A changed total: the record edited and hashed again, with every later record's prev and
    # hash, the lines' hashes and the manifest's totals and last hash recomputed to match. Only
    # the signature can tell.
    forged = copy.deepcopy(lines)
    prev = None
    delta = 0
    for l in forged[1 + nk:]:
        obj = json.loads(l["record"])
        if l["seq"] < tseq:
            prev = l["hash"]
            continue
        if l["seq"] == tseq:
            obj["body"]["totals"]["total"] += 100
            delta = 100
        l["record"], l["hash"] = seal(obj, prev)
        prev = l["hash"]
    m = forged[0]
    cur = json.loads(target["record"])["body"]["currency"]
    m["totals"]["sale"][cur] += delta
    m["last"]["hash"] = prev
    f = os.path.join(d, "t-total.arch")
    write(f, forged)
    both_fail([f], "seq %d:" % tseq, "signature")

    # The same edit without recomputing anything: the hash no longer matches.
    plain = copy.deepcopy(lines)
    for l in plain:
        if l.get("seq") == tseq and l["kind"] == "record":
            obj = json.loads(l["record"])
            obj["body"]["totals"]["total"] += 1
            l["record"] = canonical(obj).decode()
    f = os.path.join(d, "t-plain.arch")
    write(f, plain)
    both_fail([f], "seq %d:" % tseq, "hash")

    # A dropped line.
    dropped = [l for l in lines if not (l.get("kind") == "record" and l["seq"] == tseq)]
    f = os.path.join(d, "t-drop.arch")
    write(f, dropped)
    both_fail([f], "seq %d:" % tseq, "missing")

    # A record signed again with another key, under the installed key's id and under its own.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    other = ec.generate_private_key(ec.SECP256R1())
    der = other.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    other_id = hashlib.sha256(der).hexdigest()[:32]
    for kid, what in ((target["sig"]["key_id"], "signature"), (other_id, other_id[:12])):
        s = dict(target["sig"])
        r, ss = decode_dss_signature(other.sign(
            (MESSAGE % (target["hash"], s["counter"], s["signed_ms"])).encode(),
            ec.ECDSA(hashes.SHA256())))
        s["sig"] = (r.to_bytes(32, "big") + ss.to_bytes(32, "big")).hex()
        s["key_id"] = kid
        resigned = [dict(l, sig=s) if l.get("seq") == tseq and l["kind"] == "record" else l
                    for l in lines]
        f = os.path.join(d, "t-resign.arch")
        write(f, resigned)
        both_fail([f], "seq %d:" % tseq, what)

    # A manifest figure changed: a total, a count, the last hash.
    for change, what in ((lambda m: m["totals"]["sale"].update({cur: m["totals"]["sale"][cur] - 1}),
                          "totals"),
                         (lambda m: m.update(count=m["count"] + 1), "count"),
                         (lambda m: m["types"].update(sale=m["types"]["sale"] - 1), "types"),
                         (lambda m: m.update(signed=m["signed"] - 1), "signed"),
                         (lambda m: m.update(marked=1), "marked"),
                         (lambda m: m.update(perpetual_total=m["perpetual_total"] + 1),
                          "perpetual_total")):
        changed = copy.deepcopy(lines)
        change(changed[0])
        f = os.path.join(d, "t-manifest.arch")
        write(f, changed)
        both_fail([f], "manifest", what)

    # A file cut short.
    f = os.path.join(d, "t-cut.arch")
    with open(whole, "rb") as src, open(f, "wb") as dst:
        dst.write(src.read()[:-40])
    both_fail([f], "cut")


@test
def gaps_overlaps_and_a_journal_that_does_not_continue_are_named():
    db = journal()
    d = os.path.dirname(db)
    n = len(journal_events(db))
    a, b, c = (os.path.join(d, x) for x in ("g1.arch", "g2.arch", "g3.arch"))
    export(db, a, "--to", "50")
    export(db, b, "--from", "61", "--to", "80")
    export(db, c, "--from", "40", "--to", "70")
    both_fail([a, b], "seq 51:", "missing")
    both_fail([a, c], "seq 40:", "overlap")
    # The journal of another till (same ids, another history) does not hold the archive's records.
    other = tmpdir("pe-audit-other")
    shop(other, 60, 9)
    p = ctl("audit", a, "--journal", os.path.join(other, "journal.db"), check_rc=1)
    check(("FAILED %s: seq 50: not the record" % os.path.join(other, "journal.db")) in p.stdout,
          p.stdout)
    # export refuses a range the journal does not hold, and a journal that does not verify.
    p = ctl("export", db, "--from", str(n + 1), "--out", os.path.join(d, "x.arch"), check_rc=1)
    check("is not a range of it" in p.stderr, p.stderr)


def ack(db, delivered):
    """The bridge's acknowledgement as the agent stores it (pe_journal_uplink_set)."""
    import sqlite3
    con = sqlite3.connect(db)
    con.execute("INSERT INTO uplink(key, value) VALUES ('spooled', ?1), ('delivered', ?1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (delivered,))
    con.commit()
    con.close()


@test
def prune_keeps_one_history_with_its_archives():
    d = tmpdir("pe-prune")
    db = os.path.join(d, "journal.db")
    agent(d, "--scenario", os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl"),
          check_rc=0)
    agent(d, "--set", "sim.start=2026-11-22T07:55:00.000Z", "--shopper", "15", "--seed", "2",
          check_rc=0)
    ev = journal_events(db)
    n = len(ev)
    z = [e["seq"] for e in ev if e["type"] == "z_report"][-1]
    check(z < n - 5, "a Z report, then an open period: z=%d n=%d" % (z, n))
    arch = os.path.join(d, "archive")
    os.mkdir(arch)

    # Undelivered: refused, nothing written, nothing deleted.
    p = ctl("prune", db, "--through", str(z), "--archive-dir", arch, check_rc=1)
    check("seq %d is not delivered yet" % z in p.stderr and "nothing pruned" in p.stderr, p.stderr)
    ack(db, n)
    # The open period: refused.
    p = ctl("prune", db, "--through", str(z + 1), "--archive-dir", arch, check_rc=1)
    check("seq %d is in the open period" % (z + 1) in p.stderr, p.stderr)
    # An archive that cannot be written: nothing deleted.
    notdir = os.path.join(d, "not-a-dir")
    open(notdir, "w").close()
    ctl("prune", db, "--through", str(z), "--archive-dir", notdir, check_rc=1)
    check(os.listdir(arch) == [] and len(journal_events(db)) == n, "nothing pruned, no archive")

    p = ctl("prune", db, "--through", str(z), "--archive-dir", arch, check_rc=0)
    files = [os.path.join(arch, f) for f in os.listdir(arch)]
    check(len(files) == 1 and files[0].endswith("-%012d-%012d.arch" % (1, z)), "%s" % files)
    check(not any(f.endswith(".new") for f in os.listdir(arch)), "no .new left")
    rest = journal_events(db)
    check(rest[0]["seq"] == z + 1 and len(rest) == n - z, "pruned through %d" % z)
    v = ctl("verify", db, check_rc=0).stdout
    check(("seq %d..%d gapless from the anchor" % (z + 1, n)) in v, v)
    a = ctl("audit", files[0], "--journal", db, check_rc=0).stdout
    check(("audit OK: s001/t01 seq 1..%d intact across 1 archive(s) and the journal" % n) in a, a)
    q = run([sys.executable, VERIFY, files[0]], check_rc=0).stdout
    check(("seq 1..%d, %d signatures" % (z, z)) in q, q)
    # Pruning again the same records: refused.
    p = ctl("prune", db, "--through", str(z), "--archive-dir", arch, check_rc=1)
    check("is not in the live journal" in p.stderr, p.stderr)

    # The agent goes on selling into the pruned journal; the chain and the counters continue.
    agent(d, "--set", "sim.start=2026-11-23T07:55:00.000Z", "--shopper", "5", "--seed", "5",
          check_rc=0)
    m = len(journal_events(db)) + z
    check(m > n, "more sold")
    a = ctl("audit", files[0], "--journal", db, check_rc=0).stdout
    check(("seq 1..%d intact" % m) in a, a)
    restf = os.path.join(d, "rest.arch")
    export(db, restf)  # from the anchor: the journal's first record
    both_ok(files[0], restf)
    check(read(restf)[0]["anchor"]["seq"] == z, "the rest starts at the anchor")

    # Without its archive the live journal still verifies from its anchor, but an archive that
    # stops short of the anchor leaves a gap, and an edited anchor breaks the chain.
    short = os.path.join(d, "short.arch")
    # (the pruned records exist only in the archive now: cut it to seq 1..z-1)
    lines = read(files[0])
    kept = [l for l in lines[1:] if l["seq"] < z]
    man = dict(lines[0])
    write(short, [man] + kept)
    both_fail([short], "seq %d:" % z, "missing")
    import sqlite3
    con = sqlite3.connect(db)
    row = con.execute("SELECT value FROM meta WHERE key = 'anchor'").fetchone()[0]
    anchor = json.loads(row)
    anchor["hash"] = "0" * 64
    con.execute("UPDATE meta SET value = ? WHERE key = 'anchor'", (canonical(anchor).decode(),))
    con.commit()
    con.close()
    p = ctl("verify", db, check_rc=1)
    check(("first bad seq %d:" % (z + 1)) in p.stdout, p.stdout)
    p = ctl("audit", files[0], "--journal", db, check_rc=1)
    check(("FAILED %s:" % db) in p.stdout, p.stdout)


@test
def the_agent_archives_closed_delivered_periods_by_itself():
    """Through the real mosquitto and bridge (Kafka: the mock cluster): the bridge's
    acknowledgements are what the agent's pruning goes by."""
    d = tmpdir("pe-autoprune")
    mq = Mosquitto(d).start()
    kafka = DevKafka(d)
    br = Bridge(d, mq.addr, kafka.bootstrap).start()
    try:
        till = os.path.join(d, "t01")
        db = os.path.join(till, "journal.db")
        arch = os.path.join(till, "archive")
        link = ["--mqtt", mq.addr, "--wait-delivered", "120"]
        # Day 1 closed by a Z report, day 2 open; everything delivered. The default keep_days
        # (31) keeps it all.
        agent(till, *link, "--scenario",
              os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl"), check_rc=0)
        agent(till, *link, "--set", "sim.start=2026-11-22T07:55:00.000Z", "--shopper", "10",
              "--seed", "2", check_rc=0)
        ev = journal_events(db)
        z = [e["seq"] for e in ev if e["type"] == "z_report"][-1]
        check(ev[0]["seq"] == 1 and not os.path.exists(arch) and z < len(ev), "nothing pruned")
        # keep_days 0: at its start the agent archives the closed, delivered period and prunes
        # it; the open period stays.
        p = agent(till, *link, "--set", "journal.keep_days=0",
                  "--set", "sim.start=2026-11-23T07:55:00.000Z", "--shopper", "5", "--seed", "3",
                  check_rc=0)
        check("event=journal.archived" in p.stderr, p.stderr[-2000:])
        files = sorted(os.path.join(arch, f) for f in os.listdir(arch))
        check(len(files) == 1 and files[0].endswith("-%012d-%012d.arch" % (1, z)), "%s" % files)
        rest = journal_events(db)
        check(rest[0]["seq"] == z + 1, "pruned through the Z report: %d" % rest[0]["seq"])
        v = ctl("verify", db, check_rc=0).stdout
        check("gapless from the anchor" in v, v)
        a = ctl("audit", files[0], "--journal", db, check_rc=0).stdout
        check(("seq 1..%d intact" % rest[-1]["seq"]) in a, a)
        q = run([sys.executable, VERIFY, files[0]], check_rc=0).stdout
        check(("seq 1..%d" % z) in q, q)
        # Run again: nothing more is closed, nothing more goes.
        p = agent(till, *link, "--set", "journal.keep_days=0",
                  "--set", "sim.start=2026-11-24T07:55:00.000Z", "--shopper", "2", "--seed", "4",
                  check_rc=0)
        check("event=journal.archived" not in p.stderr and len(os.listdir(arch)) == 1,
              "one archive")
    finally:
        for stop in (br.stop, kafka.stop, mq.stop):
            try:
                stop()
            except Exception:
                pass


@test
def an_outage_of_the_signer_inside_archives():
    """The signer down for a day (the test build's PE_TEST_SIGNER_DOWN): its marked records and
    the signed collective that covers them verify in archives with both verifiers, whole and
    split where an outage may be split; an archive never cuts an outage, nor does a prune; a
    marked record changed, or its mark removed, fails both."""
    d = tmpdir("pe-outage")
    db = os.path.join(d, "journal.db")
    flag = os.path.join(d, "token-unplugged")
    env = {"PE_TEST_SIGNER_DOWN": flag}
    agent(d, "--scenario", os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl"),
          env=env, check_rc=0)
    z1 = [e["seq"] for e in journal_events(db) if e["type"] == "z_report"][-1]
    # Day 2 with the token pulled out: sales and the day's Z report unsigned, marked.
    day2 = os.path.join(d, "day2.jsonl")
    with open(day2, "w") as f:
        for step in ({"do": "clock", "ts": "2026-11-22T08:00:00.000Z"},
                     {"do": "login", "operator": "op17"}, {"do": "shift_open", "float": 20000},
                     {"do": "scan", "barcode": "2145427049688", "qty": 2},
                     {"do": "tender", "method": "cash", "amount": "exact"},
                     {"do": "scan", "barcode": "2145427049688"},
                     {"do": "tender", "method": "cash", "amount": "exact"},
                     {"do": "shift_close", "declared": 24497}, {"do": "z_report"}):
            f.write(json.dumps(step) + "\n")
    open(flag, "w").close()
    agent(d, "--scenario", day2, env=env, check_rc=0)
    # The signer still down: the whole journal exports (its last record may end an outage
    # still open), and both verifiers report the outage open, not failed.
    opened = os.path.join(d, "open.arch")
    export(db, opened)
    d0 = next(e["seq"] for e in journal_events(db) if e["type"] == "signer_down")
    c, q = both_ok(opened)
    check("signer down since seq %d (not covered yet)" % d0 in c and
          "signer down since seq %d (not covered yet)" % d0 in q, c + q)
    # A copy pruned while the outage is open, through day 1's Z report just before the
    # signer_down: the group's last signed record is gone, so where signing stands comes from
    # the anchor; the signer back, the collective closes the outage with the next counter.
    d2 = os.path.join(d, "copy")
    shutil.copytree(d, d2, ignore=shutil.ignore_patterns("*.arch", "token-unplugged"))
    db2 = os.path.join(d2, "journal.db")
    ack(db2, len(journal_events(db2)))
    arch2 = os.path.join(d2, "archive")
    os.mkdir(arch2)
    ctl("prune", db2, "--through", str(z1), "--archive-dir", arch2, check_rc=0)
    v = ctl("verify", db2, check_rc=0).stdout
    check("from the anchor" in v and "signer down since seq %d (not covered yet)" % d0 in v, v)
    os.remove(flag)
    agent(d2, "--set", "sim.start=2026-11-23T07:55:00.000Z", "--shopper", "2", "--seed", "5",
          env=env, check_rc=0)
    ev2 = journal_events(db2)
    check(any(e["type"] == "signer_up" for e in ev2), "closed: %s" % [e["type"] for e in ev2])
    v = ctl("verify", db2, check_rc=0).stdout
    check("from the anchor" in v and "1 outage covered" in v, v)
    files2 = [os.path.join(arch2, f) for f in os.listdir(arch2)]
    a = ctl("audit", *files2, "--journal", db2, check_rc=0).stdout
    check("1 outage" in a, a)

    agent(d, "--set", "sim.start=2026-11-23T07:55:00.000Z", "--shopper", "4", "--seed", "5",
          env=env, check_rc=0)
    ev = journal_events(db)
    n = len(ev)
    down = next(e["seq"] for e in ev if e["type"] == "signer_down")
    up = next(e["seq"] for e in ev if e["type"] == "signer_up")
    z2 = [e["seq"] for e in ev if e["type"] == "z_report"][-1]
    sale = next(e["seq"] for e in ev if e["type"] == "sale" and down < e["seq"] < up)
    check(z1 < down < sale < z2 < up < n, "z1 %d down %d sale %d z2 %d up %d n %d"
          % (z1, down, sale, z2, up, n))
    nmarked = up - down
    said = "%d unsigned while the signer was down, 1 outage" % nmarked

    whole = os.path.join(d, "all.arch")
    export(db, whole)
    m = read(whole)[0]
    check(m["marked"] == nmarked and m["signed"] == n - nmarked, "manifest: %s" % m)
    c, q = both_ok(whole)
    check(said in c and said in q, c + q)
    # Split where an outage may be split: before its signer_down, after its signer_up.
    for cut in (down - 1, up):
        a1, a2 = os.path.join(d, "a1-%d.arch" % cut), os.path.join(d, "a2-%d.arch" % cut)
        export(db, a1, "--to", str(cut))
        export(db, a2, "--from", str(cut + 1))
        c, q = both_ok(a2, a1)
        check(said in c and said in q, c + q)
    # Never inside: an archive would cut the outage from its collective.
    for rng in (["--from", str(sale)], ["--to", str(sale)]):
        p = ctl("export", db, *rng, "--out", os.path.join(d, "cut.arch"), check_rc=1)
        check("inside the outage of the signer opened at seq %d" % down in p.stderr, p.stderr)
    lines = read(whole)

    # A marked sale's mark removed: both name it.
    bad = os.path.join(d, "unmarked.arch")
    t = copy.deepcopy(lines)
    for l in t:
        if l.get("kind") == "record" and l["seq"] == sale:
            l["sig"] = None
    write(bad, t)
    both_fail([bad], "seq %d:" % sale, "signer is down since seq %d" % down)
    # A marked sale changed (its operator), the chain after it recomputed: the collective's
    # signature no longer verifies.
    bad = os.path.join(d, "forged.arch")
    t = copy.deepcopy(lines)
    prev = None
    for l in t[1:]:
        if l.get("kind") != "record":
            continue
        if l["seq"] < sale:
            prev = l["hash"]
            continue
        obj = json.loads(l["record"])
        if l["seq"] == sale:
            obj["operator"] = "op99"
        l["record"], l["hash"] = seal(obj, prev)
        prev = l["hash"]
    write(bad, t)
    both_fail([bad], "seq %d:" % up)

    # Pruning: never through a record inside the outage; through day 1's Z report, the journal
    # still verifies the outage from its anchor, and audits with its archive.
    ack(db, n)
    arch = os.path.join(d, "archive")
    os.mkdir(arch)
    p = ctl("prune", db, "--through", str(z2), "--archive-dir", arch, check_rc=1)
    check("inside the outage of the signer opened at seq %d" % down in p.stderr and
          os.listdir(arch) == [], p.stderr)
    ctl("prune", db, "--through", str(z1), "--archive-dir", arch, check_rc=0)
    v = ctl("verify", db, check_rc=0).stdout
    check("gapless from the anchor" in v and said in v, v)
    files = [os.path.join(arch, f) for f in os.listdir(arch)]
    a = ctl("audit", *files, "--journal", db, check_rc=0).stdout
    check(("seq 1..%d intact" % n) in a and said in a, a)
    # The agent's own archiving skips the Z report inside the outage: nothing more goes.
    p = agent(d, "--set", "journal.keep_days=0", "--set", "sim.start=2026-11-24T07:55:00.000Z",
              "--shopper", "1", "--seed", "6", env=env, check_rc=0)
    check("event=journal.archived" not in p.stderr and len(os.listdir(arch)) == 1,
          p.stderr[-2000:])
    ctl("verify", db, check_rc=0)


@test
def the_daemon_prunes_after_a_z_report():
    """A running till (daemon mode, shop closed) archives and prunes after a Z report it is
    told to make over MQTT: the newest delivered Z report goes, the journal verifies from its
    anchor, and the archive audits with it."""
    d = tmpdir("pe-daemonprune")
    mq = Mosquitto(d).start()
    kafka = DevKafka(d)
    br = Bridge(d, mq.addr, kafka.bootstrap).start()
    till = os.path.join(d, "t01")
    db = os.path.join(till, "journal.db")
    arch = os.path.join(till, "archive")
    proc = None
    try:
        # Day 1, closed by a Z report, made with no link: nothing delivered yet, so the daemon
        # archives nothing at its start.
        agent(till, "--scenario", os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl"),
              check_rc=0)
        z1 = [e["seq"] for e in journal_events(db) if e["type"] == "z_report"][-1]
        log = open(os.path.join(d, "agent.log"), "w")
        proc = subprocess.Popen(
            [AGENT, "-c", CONFIG, "--data-dir", till, "--mqtt", mq.addr,
             "--set", "sim.speed=1", "--set", "sim.start=2026-11-21T21:00:00.000Z",
             "--set", "sim.open_hour=8", "--set", "sim.close_hour=20",
             "--set", "journal.keep_days=0"], stdout=log, stderr=log)

        def delivered():
            r = db_rows(db, "SELECT value FROM uplink WHERE key = 'delivered'")
            return r and r[0][0] >= z1
        wait_until(delivered, 60, "the bridge's acknowledgement of day 1")
        check(not os.path.exists(arch) or os.listdir(arch) == [], "nothing archived at start")
        # The Z report (retained: the till takes it whenever it has subscribed).
        run(["mosquitto_pub", "-p", str(mq.port), "-q", "1", "-r", "-t",
             "posedge/v1/s001/t01/cmd", "-m", json.dumps({"id": "z-daemon", "cmd": "z_report"})],
            timeout=30, check_rc=0)
        wait_until(lambda: os.path.isdir(arch) and
                   [f for f in os.listdir(arch) if f.endswith(".arch")], 60,
                   "the archive written after the Z report")
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=30) == 0, "the daemon stops cleanly")
        proc = None
        files = [os.path.join(arch, f) for f in os.listdir(arch)]
        rest = journal_events(db)
        z2 = [e["seq"] for e in rest if e["type"] == "z_report"]
        check(len(files) == 1 and rest[0]["seq"] - 1 in [z1] + z2 and
              files[0].endswith("-%012d-%012d.arch" % (1, rest[0]["seq"] - 1)),
              "pruned through a Z report: %s %s" % (files, [e["seq"] for e in rest]))
        with open(os.path.join(d, "agent.log")) as f:
            check("event=journal.archived" in f.read(), "logged")
        v = ctl("verify", db, check_rc=0).stdout
        check("gapless from the anchor" in v, v)
        a = ctl("audit", files[0], "--journal", db, check_rc=0).stdout
        check(("seq 1..%d intact" % rest[-1]["seq"]) in a, a)
        run([sys.executable, VERIFY, files[0]], check_rc=0)
    finally:
        if proc:
            proc.kill()
            proc.wait(timeout=30)
        for stop in (br.stop, kafka.stop, mq.stop):
            try:
                stop()
            except Exception:
                pass


@test
def totals_and_closings_go_on_from_the_anchor():
    """A journal pruned in November verifies its perpetual totals from the anchor's; December's
    first Z report brings November's month_close, whose period began before the anchor: verify
    says so rather than recompute it, and the archives and the journal audit as one history."""
    d = tmpdir("pe-prune-totals")
    db = os.path.join(d, "journal.db")
    tx = ["--set", "sim.tx_per_day=25"]
    agent(d, "--set", "sim.start=2026-11-28T07:55:00.000Z", *tx, "--shopper", "50", "--seed", "7",
          check_rc=0)
    ev = journal_events(db)
    z = [e["seq"] for e in ev if e["type"] == "z_report"]
    check(len(z) >= 1, "a Z report in November: %s" % z)
    ack(db, len(ev))
    arch = os.path.join(d, "archive")
    os.mkdir(arch)
    ctl("prune", db, "--through", str(z[-1]), "--archive-dir", arch, check_rc=0)
    agent(d, "--set", "sim.start=2026-12-01T07:55:00.000Z", *tx, "--shopper", "60", "--seed", "8",
          check_rc=0)
    files = [os.path.join(arch, f) for f in os.listdir(arch)]
    all_ev = [json.loads(l["record"]) for l in read(files[0])[1:] if l["kind"] == "record"]
    all_ev += journal_events(db)
    check([e["seq"] for e in all_ev] == list(range(1, len(all_ev) + 1)), "one history")
    closes = [e for e in all_ev if e["type"] == "month_close"]
    check(len(closes) == 1 and closes[0]["seq"] > z[-1] and
          closes[0]["body"]["period"]["first_seq"] <= z[-1], "November's close: %s" % closes)
    v = ctl("verify", db, check_rc=0).stdout
    check(("perpetual total %d" % perpetual(all_ev)) in v and
          "0 month and 0 year closings recomputed (1 more begin before the anchor" in v, v)
    a = ctl("audit", *files, "--journal", db, check_rc=0).stdout
    check(("seq 1..%d intact" % len(all_ev)) in a, a)
    # The anchor's perpetual total is part of the history: changed, verify names the first
    # record that states the total.
    import sqlite3
    con = sqlite3.connect(db)
    anchor = json.loads(con.execute("SELECT value FROM meta WHERE key = 'anchor'").fetchone()[0])
    anchor["perpetual_total"] += 1
    con.execute("UPDATE meta SET value = ? WHERE key = 'anchor'", (canonical(anchor).decode(),))
    con.commit()
    con.close()
    first = next(e["seq"] for e in all_ev if e["seq"] > z[-1] and
                 e["type"] in ("sale", "return", "void", "x_report", "z_report"))
    p = ctl("verify", db, check_rc=1)
    check(("first bad seq %d:" % first) in p.stdout, p.stdout)
    p = ctl("audit", *files, "--journal", db, check_rc=1)
    check("perpetual_total" in p.stdout, p.stdout)


if __name__ == "__main__":
    main()
