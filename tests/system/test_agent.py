#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-agent and posedge-ctl: the real binaries on the sim board.

Scenario runs with exact expected journal contents and receipts, a 1,000-customer shopper
run that verifies, tamper detection byte by byte, configuration refusals, a corrupt journal
refused at start, and a daemon stopped with SIGTERM. Crash and I/O-fault tests live in
test_faults.py.
"""
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess

from lib import (AGENT, CONFIG, CTL, SRC, BIN_RELEASE, SIM_START, Failure, agent, check, ctl,
                 db_rows, journal_events, main, receipts, run, test, tmpdir, wait_until)

SCENARIO = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")  # sets its clock
START = ["--set", "sim.start=" + SIM_START]  # the shopper's clock: never the time of the run


def types(events):
    return [e["type"] for e in events]


@test
def scenario_day_journal_and_receipts():
    d = tmpdir()
    p = agent(d, "--scenario", SCENARIO)
    db = os.path.join(d, "journal.db")
    ev = journal_events(db)
    # The signing key is put in use just before the first event (signed, printed: seq 1).
    check(types(ev) == ["signer_installed", "shift_open", "inventory_receipt", "sale", "sale",
                        "return", "void", "no_sale", "inventory_adjust", "inventory_count",
                        "x_report", "shift_close", "z_report"], "journal types: %s" % types(ev))
    check([e["seq"] for e in ev] == list(range(1, 14)), "seq not gapless from 1")
    inst = ev.pop(0)
    check(inst["body"]["alg"] == "ES256" and inst["body"]["signer"] == "software"
          and inst["body"]["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
          and inst["ts"] == ev[0]["ts"], "signer_installed %s" % inst)
    check(all(e["operator"] == "op17" and e["store"] == "s001" and e["terminal"] == "t01"
              for e in ev), "header fields")
    check(ev[0]["ts"] == "2026-11-21T08:00:03.000Z", "event time from the sim clock: %s" % ev[0]["ts"])
    sale = ev[2]["body"]
    check(sale["totals"]["total"] == 2 * 1499 + 127, "sale total %s" % sale["totals"])
    check(sale["totals"]["change"] == 5000 - 3125, "change")
    check([t["method"] for t in sale["tenders"]] == ["cash"], "declined card is not a tender")
    check(sale["lines"][1]["unit"] == "g" and sale["lines"][1]["qty"] == 640, "weighed line")
    card = ev[3]["body"]["tenders"][0]
    check(card["method"] == "card" and card["last4"] == "1111" and "4111111111111111" not in json.dumps(ev),
          "card tender holds token and last 4 only")
    check(ev[4]["body"]["original"]["seq"] == 4 and ev[4]["body"]["totals"]["total"] == 1499, "return")
    check(ev[5]["body"]["amount"] == 1949, "void amount")
    z = ev[11]["body"]
    check(z["number"] == 1 and z["sales"] == {"count": 2, "gross": 5074, "discount": 0}, "Z sales %s" % z["sales"])
    check(z["returns"] == {"count": 1, "amount": 1499} and z["voids"]["count"] == 1, "Z returns/voids")
    check(z["tenders"] == {"card": 1949, "cash": 1626}, "Z tenders %s" % z["tenders"])
    check(z["net_sales"] == 5074 - 1499 and z["grand_total"] == 5074 - 1499, "Z net/grand total")
    check(ev[10]["body"]["variance"] == 0, "declared cash matches expected: %s" % ev[10]["body"])
    stock = dict(db_rows(db, "SELECT item, qty FROM stock"))
    check(stock["SKU-00001"] == 22 and stock["SKU-00203"] == 9360 and stock["SKU-00002"] == 12,
          "stock ledger %s" % stock)
    # Every refusal was shown and logged, and created nothing.
    for reason in ["Log in first", "Unknown item", "Scale not settled", "Tender short of total",
                   "Card declined", "Return exceeds quantity sold", "Unknown sale",
                   "Close the shift first"]:
        check('reason="%s"' % reason in p.stderr, "refusal not logged: %s" % reason)
    rc = receipts(d)
    check([s for s, _ in rc] == list(range(1, 14)), "one receipt per event: %s" % rc)
    check(all(([inst] + ev)[s - 1]["id"] == i for s, i in rc), "receipt ids match journal ids")
    with open(os.path.join(d, "receipts.txt")) as f:
        check("SIGNATURE KEY INSTALLED" in f.read(), "the signer_installed receipt")
    with open(os.path.join(d, "drawer.log")) as f:
        kicks = f.read().count("drawer kick")
    check(kicks == 5, "drawer kicks: shift open, cash sale, cash refund, no-sale, shift close; got %d" % kicks)
    out = ctl("report", db, "--z", "1", check_rc=0).stdout
    check("Z REPORT No. 1" in out and "50.74" in out and "GRAND TOTAL" in out, "Z report text:\n" + out)
    out = ctl("report", db, "--x", check_rc=0).stdout
    check("X REPORT" in out, "X report text")
    p = ctl("report", db, "--z", "7", check_rc=1)
    check("no Z report number 7" in p.stderr, p.stderr)
    v = ctl("verify", db, check_rc=0).stdout
    check(v.startswith("OK ") and "13 signatures valid from seq 1" in v, "verify: %s" % v)
    key = os.path.join(d, "signer.key")
    check(os.stat(key).st_mode & 0o777 == 0o600, "signer.key mode")
    with open(key) as f:
        secret = "".join(f.read().splitlines()[1:-1])
    check(len(secret) > 90 and secret[50:80] not in p.stderr, "the signer's key is never logged")


@test
def shopper_1000_verifies():
    d = tmpdir()
    p = agent(d, *START, "--shopper", "1000", "--seed", "7")
    db = os.path.join(d, "journal.db")
    v = ctl("verify", db, check_rc=0)
    check(v.stdout.startswith("OK ") and "gapless" in v.stdout, v.stdout)
    ev = journal_events(db)
    n_customer = sum(1 for e in ev if e["type"] in ("sale", "return", "void", "no_sale"))
    check(n_customer >= 900, "expected ~1000 customer events, got %d" % n_customer)
    check({"sale", "return", "void", "no_sale", "shift_open", "shift_close", "z_report"} <= set(types(ev)),
          "event mix: %s" % sorted(set(types(ev))))
    check("customers=1000" in p.stderr, "summary line: customers=1000")
    # Event time is never earlier than the previous event's.
    ts = [e["ts"] for e in ev]
    check(ts == sorted(ts), "event time goes backwards")
    check(len(receipts(d)) == len(ev), "a receipt for every event")
    # Deterministic by seed: the same seed gives the same transactions (ids differ).
    d2 = tmpdir()
    agent(d2, *START, "--shopper", "1000", "--seed", "7")
    ev2 = journal_events(os.path.join(d2, "journal.db"))
    strip = lambda e: (e["type"], json.dumps(e["body"].get("lines"), sort_keys=True))
    check([strip(e) for e in ev] == [strip(e) for e in ev2], "same seed, same shop day")


@test
def shopper_continues_journal_across_runs():
    d = tmpdir()
    agent(d, *START, "--shopper", "50", "--seed", "1")
    db = os.path.join(d, "journal.db")
    n1 = len(journal_events(db))
    agent(d, *START, "--shopper", "50", "--seed", "2")
    ev = journal_events(db)
    check([e["seq"] for e in ev] == list(range(1, len(ev) + 1)) and len(ev) > n1, "seq continues")
    ctl("verify", db, check_rc=0)
    check(len(journal_events(db)[n1:]) == len(ctl("journal", db, "--from", str(n1 + 1)).stdout.splitlines()),
          "journal --from")
    sales = ctl("journal", db, "--type", "sale").stdout.splitlines()
    check(sales and all(json.loads(s)["type"] == "sale" for s in sales), "journal --type")


def flip_byte(db, seq, pos):
    con = sqlite3.connect(db)
    (rec,) = con.execute("SELECT record FROM events WHERE seq = ?", (seq,)).fetchone()
    b = bytearray(rec if isinstance(rec, bytes) else rec.encode())
    b[pos] = (b[pos] + 1) % 256 if b[pos] != 0x7f else 0x20
    con.execute("UPDATE events SET record = ? WHERE seq = ?", (bytes(b), seq))
    con.commit()
    con.close()


@test
def tampering_any_byte_detected():
    d = tmpdir()
    agent(d, *START, "--shopper", "40", "--seed", "3")
    db = os.path.join(d, "journal.db")
    n = len(journal_events(db))
    rnd = random.Random(11)
    pristine = os.path.join(d, "pristine.db")
    con = sqlite3.connect(db)
    con.execute("VACUUM INTO ?", (pristine,))
    con.close()
    trials = 0
    for seq in sorted(set([1, n] + [rnd.randint(1, n) for _ in range(8)])):
        (length,) = db_rows(pristine, "SELECT length(record) FROM events WHERE seq = ?", (seq,))[0]
        for pos in sorted(set([0, length - 1] + [rnd.randrange(length) for _ in range(6)])):
            work = os.path.join(d, "work.db")
            con = sqlite3.connect(pristine)
            if os.path.exists(work):
                os.remove(work)
            con.execute("VACUUM INTO ?", (work,))
            con.close()
            flip_byte(work, seq, pos)
            p = ctl("verify", work)
            check(p.returncode == 1, "byte %d of seq %d changed, verify exited %d" % (pos, seq, p.returncode))
            check("first bad seq %d:" % seq in p.stdout, "verify named %r, expected seq %d" % (p.stdout, seq))
            trials += 1
    check(trials >= 30, "too few tamper trials")
    # Deleting a record breaks the chain at the gap.
    work = os.path.join(d, "work.db")
    os.remove(work)
    con = sqlite3.connect(pristine)
    con.execute("VACUUM INTO ?", (work,))
    con.close()
    con = sqlite3.connect(work)
    con.execute("DELETE FROM events WHERE seq = ?", (n // 2,))
    con.commit()
    con.close()
    p = ctl("verify", work, check_rc=1)
    check("first bad seq %d:" % (n // 2) in p.stdout, p.stdout)


@test
def corrupt_journal_refused_at_start():
    d = tmpdir()
    agent(d, *START, "--shopper", "30", "--seed", "4")
    db = os.path.join(d, "journal.db")
    size = os.path.getsize(db)
    check(size > 8192, "journal too small to damage a middle page")
    # A garbage sector in the middle of the file, as a failing flash card leaves it.
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(bytes(random.Random(1).randrange(256) for _ in range(4096)))
    before = hashlib.sha256(open(db, "rb").read()).hexdigest()
    p = agent(d, *START, "--shopper", "5", "--seed", "4", check_rc=4)
    check(db in p.stderr and "posedge-ctl" in p.stderr and "damaged" in p.stderr,
          "message names the file and the recovery command: %s" % p.stderr)
    after = hashlib.sha256(open(db, "rb").read()).hexdigest()
    check(before == after, "a damaged journal must not be modified")
    check(ctl("verify", db).returncode == 1, "verify fails on the damaged journal")
    # A tampered tail record is refused at start too (the chain tail check).
    d2 = tmpdir()
    agent(d2, *START, "--shopper", "10", "--seed", "5")
    db2 = os.path.join(d2, "journal.db")
    (last,) = db_rows(db2, "SELECT max(seq) FROM events")[0]
    flip_byte(db2, last, 20)
    p = agent(d2, "--shopper", "1", check_rc=4)
    check("seq %d" % last in p.stderr, p.stderr)
    # The named recovery: the intact prefix goes to a new journal whose stock and counters are
    # rebuilt from its events; the damaged file stays as it is for the auditor.
    new = os.path.join(d2, "recovered.db")
    p = ctl("recover", db2, new, check_rc=0)
    check("recovered seq 1..%d" % (last - 1) in p.stdout, p.stdout)
    ctl("verify", new, check_rc=0)
    check(ctl("recover", db2, new).returncode == 2, "recover never overwrites a file")
    d3 = tmpdir()
    os.replace(new, os.path.join(d3, "journal.db"))
    agent(d3, *START, "--shopper", "20", "--seed", "6")
    ev = journal_events(os.path.join(d3, "journal.db"))
    check(ev[last - 2]["seq"] == last - 1 and ev[last - 1]["seq"] == last, "seq continues after recovery")


@test
def recover_rebuilds_the_same_state():
    """Replaying an intact journal gives byte-identical stock, counters and sale lines."""
    d = tmpdir()
    agent(d, *START, "--shopper", "300", "--seed", "8")
    db = os.path.join(d, "journal.db")
    new = os.path.join(d, "copy.db")
    p = ctl("recover", db, new, check_rc=0)
    check("(the whole chain)" in p.stdout, p.stdout)
    for q in ["SELECT item, qty FROM stock ORDER BY item",
              "SELECT name, value FROM counters ORDER BY name",
              "SELECT * FROM sale_lines ORDER BY sale_seq, line",
              "SELECT seq, id, hash, record FROM events ORDER BY seq"]:
        check(db_rows(db, q) == db_rows(new, q), "replayed state differs: " + q)


@test
def config_errors_are_named():
    d = tmpdir()
    bad = os.path.join(d, "bad.json")
    cases = [
        ('{"store":"s001","termnal":"t01"}', 'unknown key "termnal"'),
        ('{"store":""}', "store"),
        ('{"currency":"euro"}', "currency"),
        ('{"devices":{"printer":{"driver":7}}}', "devices.printer.driver"),
        ('{"sim":{"speed":0}}', "sim.speed"),
        ('{"store":', "not valid JSON"),
    ]
    for text, needle in cases:
        with open(bad, "w") as f:
            f.write(text)
        p = run([AGENT, "-c", bad, "--data-dir", d, "--shopper", "1"], check_rc=2)
        check(needle in p.stderr, "config %s: expected %r in %r" % (text, needle, p.stderr))
    p = run([AGENT, "-c", CONFIG, "--set", "devices.scanner.driver=nosuch", "--data-dir", d, "--shopper", "1"],
            check_rc=2)
    check('no driver "nosuch"' in p.stderr, p.stderr)
    p = run([AGENT, "-c", CONFIG, "--shopper", "0"], check_rc=2)
    check("--shopper" in p.stderr, p.stderr)
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--store", "s9", "--set", "sim.speed=5",
             "--print-config"], check_rc=0)
    cfg = json.loads(p.stdout)
    check(cfg["store"] == "s9" and cfg["data_dir"] == d and cfg["sim"]["speed"] == 5
          and cfg["devices"]["printer"]["driver"] == "fake", "effective config %s" % cfg)
    check(not os.path.exists(os.path.join(d, "journal.db")), "--print-config must not start a till")
    bad_sc = os.path.join(d, "bad.jsonl")
    with open(bad_sc, "w") as f:
        f.write('{"do":"login","operator":"op1"}\n{"do":"dance"}\n')
    p = run([AGENT, "-c", CONFIG, "--data-dir", d, "--scenario", bad_sc], check_rc=2)
    check("bad.jsonl:2" in p.stderr, "scenario error names the line: %s" % p.stderr)
    # A journal of another terminal is refused, not adopted.
    agent(d, *START, "--shopper", "2")
    p = agent(d, "--terminal", "t02", "--shopper", "1", check_rc=1)
    check("t01" in p.stderr, p.stderr)


@test
def daemon_stops_cleanly_on_sigterm():
    d = tmpdir()
    proc = subprocess.Popen([AGENT, "-c", CONFIG, "--data-dir", d, "--set", "sim.speed=20000"]
                            + START,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = os.path.join(d, "journal.db")
    try:
        def enough():
            try:
                return db_rows(db, "SELECT count(*) FROM events")[0][0] >= 20
            except sqlite3.Error:
                return False
        wait_until(enough, 120, "20 events from the daemon")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    check(proc.returncode == 0, "daemon exit status %d\n%s" % (proc.returncode, err[-2000:]))
    check("agent.summary" in err, "summary logged at shutdown")
    ctl("verify", db, check_rc=0)


@test
def release_agent_is_valgrind_clean():
    d = tmpdir()
    agent_rel = os.path.join(BIN_RELEASE, "posedge-agent")
    p = run(["valgrind", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
             "--show-leak-kinds=definite,indirect", "-q", agent_rel, "-c", CONFIG, "--data-dir", d,
             "--shopper", "60", "--seed", "9", "--set", "http.listen=0"] + START, timeout=900)
    check(p.returncode == 0, "valgrind exit %d:\n%s" % (p.returncode, p.stderr[-4000:]))
    p = run(["valgrind", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
             "-q", os.path.join(BIN_RELEASE, "posedge-ctl"), "verify", os.path.join(d, "journal.db")])
    check(p.returncode == 0, "ctl under valgrind: %s" % p.stderr[-3000:])


if __name__ == "__main__":
    main()
