#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""CI's soak: make soak's run (scripts/soak.py) for PE_SOAK_MINUTES (5) minutes on the release
build, in a temporary directory.

A store (4 tills, mosquitto, the bridge, a real Kafka node) under shopper load with a random
fault every few seconds, sampled for growth; it passes when the run ends with
"soak: minutes=M faults=F violations=0" (bounds kept, every event exactly once in Kafka, every
journal verified: docs/soak.md). Before it, summary_flags_each_bound checks on synthetic runs that
each bound can fail. The seed is random unless PE_SOAK_SEED is set; it is printed,
so a failure can be replayed. The summary is printed as comment lines; on a failure the work
directory (CSV, fault log, daemons' logs, Kafka's log) is kept and named.
"""
import os
import random
import shutil
import signal
import subprocess

from lib import BIN_RELEASE, SRC, check, main, test, tmpdir

MINUTES = os.environ.get("PE_SOAK_MINUTES", "5")


def synthetic_rows(minutes, rss_mb_per_h=0.0, fds_jump=0, wal_mb=4, stuck_backlog_s=0,
                   bytes_per_event=3000, step_at_s=None, t02_life_s=None):
    """CSV rows (as scripts/soak.py writes them) of a quiet run, every 12 s (fewer rows than a
    run's 3 s), with the faults asked for: a till's and the bridge's RSS growing, the bridge's
    fds jumping in the second half, the spool's WAL at wal_mb, the spool's backlog stuck high
    for stuck_backlog_s; with step_at_s a backlog of 2,000 for 30 s then, after which the
    bridge's RSS stays 24 MB higher (an allocator's high-water mark); with t02_life_s, till t02
    killed and restarted every t02_life_s seconds, its RSS climbing 2 MB in each life."""
    soak = load_soak()
    rows = []
    n = int(minutes * 5)
    for i in range(n + 1):
        t = i * 12.0
        r = {c: "" for c in soak.columns()}
        r.update(t_s="%.1f" % t, phase="run", faults="0")
        for d in soak.DAEMONS:
            r["pid_" + d], r["rss_kb_" + d], r["fds_" + d] = "100", "20000", "20"
        grow = int(t * rss_mb_per_h * 1024 / 3600)
        r["rss_kb_t01"] = str(8000 + grow)
        r["rss_kb_bridge"] = str(25000 + grow)
        if t02_life_s:
            life, into = divmod(t, t02_life_s)
            r["pid_t02"] = str(1000 + int(life))
            r["rss_kb_t02"] = str(7000 + int(2048 * into / t02_life_s))
        if i > n / 2:
            r["fds_bridge"] = str(20 + fds_jump)
        for k in soak.TILLS:
            r["events_" + k] = str(20 * int(t))
            r["journal_bytes_" + k] = str(bytes_per_event * 20 * int(t))
            r["journal_wal_bytes_" + k] = str(4 << 20)
            r["backlog_" + k] = "10"
        r["spool_bytes"], r["spool_wal_bytes"] = str(4 << 20), str(wal_mb << 20)
        r["spool_backlog"] = "5000" if 60 <= t < 60 + stuck_backlog_s else "3"
        if step_at_s is not None and t >= step_at_s:
            r["rss_kb_bridge"] = str(int(r["rss_kb_bridge"]) + 24 * 1024)
            if t < step_at_s + 30:
                r["spool_backlog"] = "2000"
        r["spool_pending_bytes"] = "1000"
        rows.append(r)
    return rows


def load_soak():
    import importlib.util
    spec = importlib.util.spec_from_file_location("soak", os.path.join(SRC, "scripts", "soak.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@test
def summary_flags_each_bound():
    """The bounds can fail: a quiet synthetic run passes, and each kind of growth breaks its
    bound (RSS over a long run, but not a short one's settling; fds; WAL; a stuck backlog;
    a journal growing faster than its events)."""
    import io
    soak = load_soak()

    def flagged(rows):
        return soak.summary(rows, out=io.StringIO())
    check(flagged(synthetic_rows(120)) == [], "a quiet run: %s" % flagged(synthetic_rows(120)))
    check(flagged(synthetic_rows(5, rss_mb_per_h=60)) == [], "a short run's 60 MB/h is settling")
    v = flagged(synthetic_rows(120, rss_mb_per_h=12))
    check(any("rss of t01" in x for x in v) and not any("rss of bridge" in x for x in v),
          "12 MB/h over 2 hours: the till's bound (8) broken, the bridge's (16) not: %s" % v)
    v = flagged(synthetic_rows(120, rss_mb_per_h=30))
    check(any("rss of bridge" in x for x in v), "30 MB/h: the bridge's bound broken: %s" % v)
    v = flagged(synthetic_rows(120, t02_life_s=120))
    check(v == [], "a till killed every 2 minutes, 2 MB of warm-up in each life, is no leak: %s"
          % v)
    v = flagged(synthetic_rows(120, step_at_s=5400))
    check(v == [], "a high-water step after a backlog is not growth: %s" % v)
    v = flagged(synthetic_rows(120, rss_mb_per_h=30, step_at_s=5400))
    check(any("rss of bridge" in x for x in v), "a leak beside a high-water step: %s" % v)
    check(any("open fds of bridge" in x for x in flagged(synthetic_rows(10, fds_jump=9))),
          "fds up by 9")
    check(flagged(synthetic_rows(10, fds_jump=8)) == [], "fds up by 8 is within the bound")
    check(any("spool_wal_bytes" in x for x in flagged(synthetic_rows(10, wal_mb=65))), "WAL")
    check(any("spool_backlog stayed" in x for x in
              flagged(synthetic_rows(10, stuck_backlog_s=300))), "a stuck backlog")
    check(any("bytes per event" in x for x in
              flagged(synthetic_rows(10, bytes_per_event=7000))), "a journal too big")


@test
def soak_store_under_faults():
    d = tmpdir("pe-soak")
    seed = int(os.environ.get("PE_SOAK_SEED", "0")) or random.SystemRandom().randrange(1, 1 << 31)
    print("# soak seed %d, %s minutes, in %s" % (seed, MINUTES, d), flush=True)
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "scripts", "soak.py"),
                          "--minutes", MINUTES, "--seed", str(seed), "--dir", d, BIN_RELEASE],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = p.communicate(timeout=float(MINUTES) * 60 + 600)[0]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)  # the soak cleans up and prints what it has
        out = p.communicate(timeout=300)[0]
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("soak summary:")), len(lines))
    for line in lines[start:]:
        print("# " + line, flush=True)
    last = lines[-1] if lines else ""
    ok = p.returncode == 0 and last.startswith("soak: ") and last.endswith(" violations=0")
    if not ok:
        print("\n".join(lines[:start][-60:]), flush=True)
    check(ok, "soak: %s (status %d; kept %s)" % (last or "no final line", p.returncode, d))
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
