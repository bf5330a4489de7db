#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fault tests of posedge-agent: kill -9 at random moments, and injected journal I/O errors.

The promise under test: a receipt is printed only for an event the journal holds, the journal
always verifies after a crash, seq continues without a gap, and a failed write never leaves a
half-written record. The kill moments are random on purpose (the fault), never a way to wait.
"""
import os
import random
import subprocess
import time

from lib import (AGENT, BIN_RELEASE, CONFIG, SIM_START, Failure, agent, check, ctl, db_rows,
                 journal_events, main, receipts, run, test, tmpdir)

SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios", "day.jsonl")
START = ["--set", "sim.start=" + SIM_START]  # the shopper's clock: never the time of the run
# The kill loop verifies its growing journal after every kill: every signature, each checked
# again each time. The release posedge-ctl does that in a fifth of the sanitizer build's time;
# the agent under test stays the sanitizer build.
CTL_RELEASE = os.path.join(BIN_RELEASE, "posedge-ctl")


def check_receipts_in_journal(d, ev):
    by_seq = {e["seq"]: e["id"] for e in ev}
    for seq, rid in receipts(d):
        check(seq in by_seq, "receipt #%d printed but seq %d is not in the journal" % (seq, seq))
        check(by_seq[seq] == rid, "receipt #%d has id %s, the journal has %s" % (seq, rid, by_seq[seq]))


@test
def kill9_loop_never_loses_a_printed_sale():
    d = tmpdir()
    db = os.path.join(d, "journal.db")
    rnd = random.Random(int(os.environ.get("PE_KILL_SEED", "2026")))
    kills = 0
    last = 0
    for i in range(34):
        proc = subprocess.Popen([AGENT, "-c", CONFIG, "--data-dir", d, "--shopper", "100000",
                                 "--seed", str(100 + i)] + START,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rnd.uniform(0.02, 0.9))  # a random moment to crash at: the fault itself
        if proc.poll() is None:
            proc.kill()
            kills += 1
        _, err = proc.communicate(timeout=120)
        check(proc.returncode in (0, -9), "agent run %d exited %s:\n%s" % (i, proc.returncode, err[-3000:]))
        if last == 0 and (not os.path.exists(db) or os.path.getsize(db) == 0):
            # Killed before the journal's first write (a slow start on a loaded machine): no
            # journal yet, so nothing may have been printed; the next start makes it.
            check(receipts(d) == [], "receipts printed with no journal after kill %d" % i)
            continue
        v = run([CTL_RELEASE, "verify", db], timeout=300)
        check(v.returncode == 0, "after kill %d verify failed: %s" % (i, v.stdout + v.stderr))
        ev = journal_events(db)
        check([e["seq"] for e in ev] == list(range(1, len(ev) + 1)), "seq gap after kill %d" % i)
        check(len(ev) >= last, "journal shrank after kill %d" % i)
        last = len(ev)
        check_receipts_in_journal(d, ev)
    check(kills >= 30, "only %d kills landed during a run" % kills)
    check(last > 100, "too few events journaled across the kill loop: %d" % last)
    # The till still trades normally afterwards.
    agent(d, *START, "--shopper", "20", "--seed", "1")
    ctl("verify", db, check_rc=0)


@test
def disk_full_refuses_sales_and_prints_nothing():
    d = tmpdir()
    agent(d, *START, "--shopper", "5", "--seed", "1")
    db = os.path.join(d, "journal.db")
    before = journal_events(db)
    n_receipts = len(receipts(d))
    p = agent(d, "--scenario", SCENARIO, env={"PE_FAULT": "any:1:full:sticky"}, check_rc=3)
    check("Journal full" in p.stderr and "till.commit_failed" in p.stderr, p.stderr[-2000:])
    after = journal_events(db)
    check(after == before, "nothing may be journaled while the disk is full")
    check(len(receipts(d)) == n_receipts, "nothing may be printed while the disk is full")
    ctl("verify", db, check_rc=0)
    # Space comes back: the till trades again from the same journal.
    agent(d, *START, "--shopper", "5", "--seed", "2")
    ctl("verify", db, check_rc=0)


@test
def single_io_errors_at_every_step_leave_a_consistent_journal():
    """Fail the Nth write (and separately the Nth fsync) of a scenario run, for every N."""
    failures_seen = 0
    for op in ("write", "sync"):
        for nth in range(1, 60, 2):
            d = tmpdir()
            agent(d, *START, "--shopper", "3", "--seed", "1")
            p = agent(d, "--scenario", SCENARIO, env={"PE_FAULT": "%s:%d:io" % (op, nth)}, check_rc=None)
            check(p.returncode in (0, 3), "%s:%d: exit %d\n%s" % (op, nth, p.returncode, p.stderr[-3000:]))
            failures_seen += "till.commit_failed" in p.stderr
            db = os.path.join(d, "journal.db")
            v = ctl("verify", db)
            check(v.returncode == 0, "%s:%d: verify: %s" % (op, nth, v.stdout + v.stderr))
            ev = journal_events(db)
            check_receipts_in_journal(d, ev)
            # Stock always matches the events that are in the journal (never half a commit).
            (n_inv,) = db_rows(db, "SELECT count(*) FROM events WHERE type='inventory_receipt' "
                                   "AND CAST(record AS TEXT) LIKE '%PO-1001%'")[0]
            stock = dict(db_rows(db, "SELECT item, qty FROM stock"))
            if n_inv == 0:
                check(stock.get("SKU-00203", 0) <= 0, "%s:%d: stock moved without its event" % (op, nth))
            # The next start opens the journal (quick_check and chain tail pass) and trades.
            agent(d, *START, "--shopper", "2", "--seed", "3")
    check(failures_seen >= 10, "the injected faults hit too few commits: %d" % failures_seen)


if __name__ == "__main__":
    main()
