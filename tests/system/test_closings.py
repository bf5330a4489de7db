#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 15, totals and closings: the perpetual total, month and year closings, training mode.

A simulated till trades over a month boundary (and, in a second test, over a year boundary, part
of it in training mode) from an explicit simulated clock start. Everything the till claims is
recomputed here in Python from the journal's records alone:

  - every sale, return and void carries perpetual_total, the running sum of turnover that never
    resets: sales add their totals.total, returns subtract theirs, voids and training records
    add nothing; every X and Z report's grand_total is the same sum before it;
  - the month_close of November is committed just before the first Z report of December; it
    sums the Z reports of November (seq 1 up to November's last Z) and its figures equal the
    sums of the sales, returns and voids in that range; likewise December's month_close and the
    year_close of 2026 before the first Z report of 2027;
  - training records are flagged, print TRAINING and are in none of those figures;
  - `posedge-ctl verify` agrees, `posedge-ctl report --month/--year` prints the closing, and a
    forged perpetual_total in an unsigned journal whose chain was recomputed is named by seq.
"""
import hashlib
import json
import os
import sqlite3

from lib import agent, check, ctl, journal_events, main, test, tmpdir

SALE_LIKE = ("sale", "return", "void")


def shop(d, start, n, seed, *extra):
    return agent(d, "--set", "sim.start=" + start, "--set", "sim.tx_per_day=25",
                 "--shopper", str(n), "--seed", str(seed), *extra)


def printed(d):
    """The fake printer's paper."""
    with open(os.path.join(d, "receipts.txt"), encoding="utf-8") as f:
        return f.read()


def delta(e):
    """What a record adds to the perpetual total."""
    b = e["body"]
    if b.get("training") is True:
        return 0
    if e["type"] == "sale":
        return b["totals"]["total"]
    if e["type"] == "return":
        return -b["totals"]["total"]
    return 0


def check_perpetual(events):
    """Every perpetual_total and grand_total against the running sum; returns it."""
    run = 0
    for e in events:
        if e["type"] in SALE_LIKE:
            run += delta(e)
            check(e["body"].get("perpetual_total") == run,
                  "seq %d %s: perpetual_total %s, the records sum to %d"
                  % (e["seq"], e["type"], e["body"].get("perpetual_total"), run))
        elif e["type"] in ("x_report", "z_report"):
            check(e["body"]["grand_total"] == run,
                  "seq %d: grand_total %d, the records sum to %d" % (e["seq"], e["body"]["grand_total"], run))
    return run


def figures(events, first, last):
    """The closing's figures of seq first..last, from the sales, returns and voids alone."""
    f = {"z_reports": 0, "sales": {"count": 0, "gross": 0}, "returns": {"count": 0, "amount": 0},
         "voids": {"count": 0, "amount": 0}}
    run = 0
    for e in events:
        if e["seq"] > last:
            break
        run += delta(e)
        if e["seq"] < first or e["body"].get("training") is True:
            continue
        if e["type"] == "z_report":
            f["z_reports"] += 1
        elif e["type"] == "sale":
            f["sales"]["count"] += 1
            f["sales"]["gross"] += e["body"]["totals"]["total"]
        elif e["type"] == "return":
            f["returns"]["count"] += 1
            f["returns"]["amount"] += e["body"]["totals"]["total"]
        elif e["type"] == "void":
            f["voids"]["count"] += 1
            f["voids"]["amount"] += e["body"]["amount"]
    f["net_sales"] = f["sales"]["gross"] - f["returns"]["amount"]
    f["perpetual_total"] = run
    return f


def check_closing(events, c, label, prev_last):
    """A month_close or year_close c of period label against the records."""
    b = c["body"]
    key = "month" if c["type"] == "month_close" else "year"
    check(b[key] == label, "seq %d closes %s, expected %s" % (c["seq"], b[key], label))
    first, last = b["period"]["first_seq"], b["period"]["last_seq"]
    check(first == prev_last + 1, "%s %s starts at %d, after %d" % (c["type"], label, first, prev_last))
    zs = [e for e in events if e["type"] == "z_report"]
    in_period = [z["seq"] for z in zs if z["ts"].startswith(label)]
    check(in_period and last == in_period[-1],
          "%s %s ends at %d; the Z reports of %s are %s" % (c["type"], label, last, label, in_period))
    check(all(first <= s <= last for s in in_period), "every Z report of %s is in it" % label)
    check(c["ts"][:len(label)] > label, "made after its period: %s" % c["ts"])
    want = figures(events, first, last)
    got = {k: b[k] for k in want}
    check(got == want, "%s %s: %s, the records give %s" % (c["type"], label, got, want))
    return last


@test
def month_boundary():
    d = tmpdir()
    db = os.path.join(d, "journal.db")
    # Four trading days of 25 customers from November 28th: the month closes at December 1st's Z.
    shop(d, "2026-11-28T07:55:00.000Z", 110, 5)
    ev = journal_events(db)
    total = check_perpetual(ev)
    carried = [e for e in ev if e["type"] in SALE_LIKE]
    check(len(carried) > 80 and all("perpetual_total" in e["body"] for e in carried),
          "every sale, return and void carries perpetual_total")
    closes = [e for e in ev if e["type"] in ("month_close", "year_close")]
    check([c["type"] for c in closes] == ["month_close"], "one month close: %s" % closes)
    mc = closes[0]
    check_closing(ev, mc, "2026-11", 0)
    nxt = [e for e in ev if e["seq"] == mc["seq"] + 1][0]
    check(nxt["type"] == "z_report" and nxt["ts"].startswith("2026-12-01"),
          "the first Z report of December follows the close: %s" % nxt["type"])
    v = ctl("verify", db, check_rc=0).stdout
    check(("perpetual total %d" % total) in v and "1 month and 0 year closings" in v, v)
    p = ctl("report", db, "--month", "2026-11", check_rc=0).stdout
    check("MONTH CLOSING 2026-11" in p and "PERPETUAL TOTAL" in p and
          ("Receipt s001/t01 #%d" % mc["seq"]) in p, p)
    check("MONTH CLOSING 2026-11" in printed(d), "the till printed the closing")
    p = ctl("report", db, "--month", "2026-10", check_rc=1)
    check("no month_close of 2026-10" in p.stderr, p.stderr)


@test
def year_boundary_with_training():
    d = tmpdir()
    db = os.path.join(d, "journal.db")
    # December 30th in training mode, then real trade from December 31st to January 2nd.
    shop(d, "2026-12-30T07:55:00.000Z", 20, 4, "--set", "till.training=true")
    shop(d, "2026-12-31T07:55:00.000Z", 60, 5)
    ev = journal_events(db)
    training = [e for e in ev if e["body"].get("training") is True]
    check(len(training) >= 15 and all(e["type"] in SALE_LIKE for e in training),
          "training records: %d" % len(training))
    check(all(e["ts"].startswith("2026-12-30") for e in training), "only December 30th trained")
    check("*** TRAINING - NOT A REAL SALE ***" in printed(d), "training receipts say so")
    total = check_perpetual(ev)
    closes = [e for e in ev if e["type"] in ("month_close", "year_close")]
    check([c["type"] for c in closes] == ["month_close", "year_close"], "closings: %s" % closes)
    last = check_closing(ev, closes[0], "2026-12", 0)
    check_closing(ev, closes[1], "2026", 0)
    check(closes[1]["body"]["period"]["last_seq"] == last, "the year ends with its December")
    # The Z reports leave training out too, and count it.
    zs = [e for e in ev if e["type"] == "z_report"]
    check(sum(z["body"]["training_records"] for z in zs) == len(training),
          "Z reports count %d training records" % len(training))
    v = ctl("verify", db, check_rc=0).stdout
    check(("perpetual total %d" % total) in v and "1 month and 1 year closings" in v and
          ("%d training records" % len(training)) in v, v)
    p = ctl("report", db, "--year", "2026", check_rc=0).stdout
    check("YEAR CLOSING 2026" in p, p)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@test
def forged_perpetual_total_is_named():
    """Without signatures the forger can recompute the chain; the totals still name the seq."""
    d = tmpdir()
    db = os.path.join(d, "journal.db")
    shop(d, "2026-11-28T07:55:00.000Z", 30, 6, "--set", "signer.type=none")
    ctl("verify", db, check_rc=0)
    ev = journal_events(db)
    victim = [e for e in ev if e["type"] == "sale"][5]["seq"]
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seq, record FROM events ORDER BY seq").fetchall()
    prev = hashlib.sha256(b"posedge/v1/genesis/s001/t01").hexdigest()
    for seq, rec in rows:
        obj = json.loads(rec)
        if seq == victim:
            obj["body"]["perpetual_total"] += 100
        obj.pop("hash")
        obj["prev"] = prev
        h = hashlib.sha256(prev.encode() + canonical(obj)).hexdigest()
        obj["hash"] = h
        con.execute("UPDATE events SET record = ?, hash = ? WHERE seq = ?", (canonical(obj), h, seq))
        prev = h
    con.commit()
    con.close()
    p = ctl("verify", db, check_rc=1).stdout
    check(("first bad seq %d:" % victim) in p and "perpetual_total" in p, p)


if __name__ == "__main__":
    main()
