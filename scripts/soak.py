#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make soak: a store under shopper load and a random fault every few seconds, for N minutes,
sampled for growth (docs/soak.md).

The store: 4 tills (posedge-agent daemons on the sim board, the seeded shopper on an
accelerated clock from a fixed sim.start), the real mosquitto broker, posedge-bridge in
transactional mode and one real Kafka node (tests/system/kafka.py), all from one build
directory (make soak: the release build). Till t04 sits in a network namespace behind a veth
pair when the machine allows one (root and ip netns), so that its link can be cut.

Faults, one every SOAK_FAULT_MIN..SOAK_FAULT_MAX seconds (3..8), the kind drawn with a seeded
random generator (SOAK_SEED) by the weights in FAULTS: kill -9 of a till (not t01) or of the
bridge (at most one per 5 minutes, in the first half of the run only) and a restart; mosquitto stopped or killed and started again;
Kafka paused (SIGSTOP, SIGCONT) or stopped or killed and started again (at most one Kafka fault
a minute, so that the backlog can drain between them); t04's link down for a while. Each is logged with its count per kind. A
daemon that dies by itself is a violation (and is started again).

A sampler thread writes one CSV row every SOAK_SAMPLE_S seconds (3) and flushes it, so a run cut
short leaves a readable file: per daemon its pid, RSS and open fds (/proc), each journal's and
the spool's database and WAL sizes, each till's events and backlog (seq - delivered, from its
journal's uplink table) and the spool's backlog (spooled - delivered over its terminals) and
pending bytes, all read read-only, and the running count of faults per kind.

At the end the faults stop, the tills finish and wait until everything is delivered, the
spool's backlog must be 0, posedge-ctl reconcile must find every event exactly once in Kafka
and posedge-ctl verify must pass for every journal. Then the summary (summary()): per quantity
its min, max and least-squares slope per hour over the second half of the run, and the bounds of
BOUNDS checked. The last line is "soak: minutes=M faults=F violations=V"; exit 0 when V is 0.

    scripts/soak.py [--minutes N] BUILD_DIR      a run (make soak SOAK_MINUTES=N)
    scripts/soak.py --summary CSV                the summary and bounds of a (partial) run's CSV
"""
import argparse
import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TILLS = ("t01", "t02", "t03", "t04")
DAEMONS = TILLS + ("bridge", "mosquitto", "kafka")
# Kinds of fault and their weights. Some are also limited to one per COOLDOWN_S seconds (by the
# kind's first word, from the end of the last): Kafka's, so that the backlog drains between
# them, and the bridge's kill -9, so that the bridge lives long enough (like till t01, which is
# never killed) for its RSS and fds to show a leak within one life.
FAULTS = (("till_kill9", 3), ("bridge_kill9", 2), ("mqtt_restart", 2), ("kafka_pause", 1),
          ("kafka_restart", 1), ("link_down", 2))
COOLDOWN_S = {"kafka": 60, "bridge": 300}
# Kinds only in the first half of the run: the second half, where the slopes are measured, is
# one life of the bridge through every other fault (a life of 5 minutes would mostly show its
# warm-up), as the whole run is one life of t01.
FIRST_HALF_ONLY = ("bridge_kill9",)
KILLED_TILLS = TILLS[1:]  # till_kill9's victims: t01 lives through the whole run

# The bounds a run must keep (docs/soak.md). Slopes are least squares over the second half of
# the run (the first half is warm-up); for RSS and fds they are the slope within each process's
# life (a pooled fit with one intercept per pid, leaving out each life's first LIFE_WARMUP_S
# seconds), since a restarted daemon starts small again, and for RSS net of the most backlog
# the life has held (within_slope_net: the allocator keeps that memory, a plateau). A daemon's
# RSS may grow over its longest life in the second half (the whole half for one never restarted)
# by its slope bound times that life's length, or by its floor if that is more: a short run
# cannot tell a slope of a few MB an hour from an allocator settling down (the bridge's RSS
# rises with the biggest backlog it has drained, up to a plateau), a long one can, and a leak of
# one allocation per event or per reconnect at this load (tens of MB an hour) passes both.
BOUNDS = {
    # MB per hour, and the floor in MB; kafka (a JVM with a 512 MB heap) is shown, not bound.
    "rss_mb_per_h": {"agent": 8.0, "bridge": 16.0, "mosquitto": 8.0},
    "rss_floor_mb": {"agent": 4.0, "bridge": 24.0, "mosquitto": 4.0},
    "fds_growth": 8,          # per daemon but kafka: the second half's max over the first's
    "wal_max_mb": 64.0,       # every WAL file at every sample: checkpoints happen
    "journal_bytes_per_event": 6144,  # each journal's growth over its events, second half
    "spool_mb_over_backlog": 32.0,    # spool.db <= this + 4 x the most pending bytes seen
    "backlog_low": 500,       # a backlog (the spool's, a till's) counts as drained at or below
    "backlog_high_s": 240,    # the longest stretch with a backlog above backlog_low
}
LIFE_WARMUP_S = 30


def columns():
    cols = ["t_s", "phase", "faults"] + ["fault_" + k for k, _ in FAULTS]
    for d in DAEMONS:
        cols += ["pid_" + d, "rss_kb_" + d, "fds_" + d]
    for t in TILLS:
        cols += ["journal_bytes_" + t, "journal_wal_bytes_" + t, "events_" + t, "backlog_" + t]
    cols += ["spool_bytes", "spool_wal_bytes", "spool_backlog", "spool_pending_bytes"]
    return cols


# ---- reading what runs ----

def proc_stats(pid):
    """(rss_kb, open fds) of a live process, or (None, None)."""
    if not pid:
        return None, None
    try:
        rss = None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
        return rss, len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, ValueError):
        return None, None


def size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def ro_query(path, sql):
    """Rows of a read-only query of a live database, or None when it cannot be read now."""
    if not os.path.exists(path):
        return None
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=2)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None


def journal_figures(path):
    """(events, backlog) of a till's journal: its last seq, and seq - delivered."""
    seq = ro_query(path, "SELECT max(seq) FROM events")
    up = ro_query(path, "SELECT key, value FROM uplink")
    if seq is None or up is None:
        return None, None
    last = seq[0][0] or 0
    return last, last - dict(up).get("delivered", 0)


def spool_figures(path):
    """(backlog records, pending bytes) of the bridge's spool."""
    r = ro_query(path, "SELECT sum(spooled - delivered), sum(spooled_bytes - delivered_bytes) "
                       "FROM terminals")
    if r is None:
        return None, None
    return r[0][0] or 0, r[0][1] or 0


# ---- the summary ----

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def slope(points):
    """Least-squares slope of [(t, y)], per second; None under 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / sxx if sxx else None


def within_slope(points):
    """The pooled slope of [(t, y, life)] with one intercept per life (a restarted process
    starts afresh), per second; None when no life has 3 points."""
    lives = {}
    for t, y, life in points:
        lives.setdefault(life, []).append((t, y))
    sxy = sxx = 0.0
    for pts in lives.values():
        if len(pts) < 3:
            continue
        mt = sum(t for t, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxx += sum((t - mt) ** 2 for t, _ in pts)
        sxy += sum((t - mt) * (y - my) for t, y in pts)
    return sxy / sxx if sxx else None


def within_slope_net(points):
    """The pooled slope of [(t, y, life, m)] per second as within_slope, net of m: y is fitted
    as one intercept per life + b t + c m and b returned. m is the most backlog the life has
    held so far: the allocator keeps the memory of the biggest backlog a daemon has buffered (a
    high-water mark, not a leak), which would otherwise read as growth over a short life. Falls
    back to within_slope when m never varies."""
    lives_ = {}
    for t, y, life, m in points:
        lives_.setdefault(life, []).append((t, y, m))
    stt = stm = smm = sty = smy = 0.0
    for pts in lives_.values():
        if len(pts) < 3:
            continue
        n = len(pts)
        mt, my, mm = (sum(p[i] for p in pts) / n for i in range(3))
        for t, y, m in pts:
            dt, dy, dm = t - mt, y - my, m - mm
            stt += dt * dt
            stm += dt * dm
            smm += dm * dm
            sty += dt * dy
            smy += dm * dy
    det = stt * smm - stm * stm
    if smm == 0 or det <= 1e-9 * stt * smm:
        return within_slope([(t, y, life) for t, y, life, _ in points])
    return (sty * smm - smy * stm) / det


def backlog_of(r, d):
    """The backlog daemon d buffers in row r: a till its own, the bridge (and Kafka) the
    spool's, mosquitto the tills' (what it queues for the bridge)."""
    cols = (["backlog_" + d] if d in TILLS else
            ["backlog_" + t for t in TILLS] if d == "mosquitto" else ["spool_backlog"])
    return sum(num(r.get(c)) or 0 for c in cols)


def lives(rows, d):
    """Per row, the pid of daemon d and when that pid was first seen."""
    first = {}
    out = []
    for r in rows:
        pid = r.get("pid_" + d) or ""
        t = num(r["t_s"])
        if pid and pid not in first:
            first[pid] = t
        out.append((pid, first.get(pid)))
    return out


def summary(rows, out=sys.stdout):
    """Prints the summary of CSV rows (dicts) and returns the list of bound violations."""
    run = [r for r in rows if r.get("phase") == "run"]
    if len(run) < 4:
        print("soak summary: only %d samples of the run" % len(run), file=out)
        return []
    t_end = num(run[-1]["t_s"])
    half = t_end / 2
    first = [r for r in run if num(r["t_s"]) < half]
    second = [r for r in run if num(r["t_s"]) >= half]
    violations = []

    def series(col, rs=second):
        return [(num(r["t_s"]), num(r[col])) for r in rs if num(r.get(col)) is not None]

    events = sum(max([y for _, y in series("events_" + t, rows)] or [0]) for t in TILLS)
    print("soak summary: %.1f min sampled, %d samples, %d events; min and max over the run, "
          "slopes over t >= %.0f s" % (t_end / 60, len(run), events, half), file=out)
    print("%-26s %14s %14s %16s" % ("quantity", "min", "max", "slope per hour"), file=out)

    def line(name, pts, s, unit=""):
        ys = [y for _, y in pts]
        print("%-26s %14s %14s %16s" % (
            name, "%.1f" % min(ys) if ys else "-", "%.1f" % max(ys) if ys else "-",
            "%+.1f%s" % (s * 3600, unit) if s is not None else "-"), file=out)

    # RSS and fds per daemon: within each life, after its warm-up; RSS net of the most backlog
    # the life has held (within_slope_net).
    for d in DAEMONS:
        kind = "agent" if d in TILLS else d
        lf = lives(rows, d)
        pts = []
        fpts = []
        most = {}
        for r, (pid, born) in zip(rows, lf):
            t = num(r["t_s"])
            if pid:
                most[pid] = max(most.get(pid, 0), backlog_of(r, d))
            if r.get("phase") != "run" or t < half or not pid or t - born < LIFE_WARMUP_S:
                continue
            if num(r.get("rss_kb_" + d)) is not None:
                pts.append((t, num(r["rss_kb_" + d]) / 1024.0, pid, most[pid]))
                fpts.append((t, num(r["fds_" + d]), pid))
        s = within_slope_net(pts)
        line("rss_mb_" + d, [(t, y / 1024.0) for t, y in series("rss_kb_" + d, run)], s, " MB")
        bound = BOUNDS["rss_mb_per_h"].get(kind)
        if bound is not None and s is not None:
            # Memory grows within a life only: the growth a slope can make is over the longest
            # life the second half holds (all of it for a daemon never restarted), not over the
            # half's whole length for a till killed every minute or two.
            span = {}
            for t, _, pid, _ in pts:
                lo, hi = span.get(pid, (t, t))
                span[pid] = (min(lo, t), max(hi, t))
            span_h = min(t_end - half, max(hi - lo for lo, hi in span.values())) / 3600
            allowed = max(bound * span_h, BOUNDS["rss_floor_mb"][kind])
            if s * 3600 * span_h > allowed:
                violations.append("rss of %s grows %.1f MB/h, %.1f MB over its longest life in "
                                  "the second half, %.0f min (bound %.0f MB/h, at least %.0f MB)"
                                  % (d, s * 3600, s * 3600 * span_h, span_h * 60, bound,
                                     BOUNDS["rss_floor_mb"][kind]))
        line("fds_" + d, series("fds_" + d, run), within_slope(fpts))
        if d != "kafka":
            f1 = [y for _, y in series("fds_" + d, first)]
            f2 = [y for _, y in series("fds_" + d, second)]
            if f1 and f2 and max(f2) > max(f1) + BOUNDS["fds_growth"]:
                violations.append("open fds of %s: %d in the second half, %d in the first" %
                                  (d, max(f2), max(f1)))
        lives_n = len({p for p, _ in lf if p})
        print("%-26s %14d" % ("  lives_" + d, lives_n), file=out)
    # Databases.
    wal_cols = ["journal_wal_bytes_" + t for t in TILLS] + ["spool_wal_bytes"]
    for col in (["journal_bytes_" + t for t in TILLS] + ["spool_bytes"] + wal_cols +
                ["events_" + t for t in TILLS] + ["backlog_" + t for t in TILLS] +
                ["spool_backlog", "spool_pending_bytes"]):
        scale = 1048576.0 if "_bytes" in col else 1.0  # bytes shown in MB
        pts = [(t, y / scale) for t, y in series(col, run)]
        line(col.replace("_bytes", "_mb"), pts, slope([(t, y) for t, y in pts if t >= half]))
    for col in wal_cols:
        m = max([y for _, y in series(col, run)] or [0])
        if m > BOUNDS["wal_max_mb"] * 1048576:
            violations.append("%s reached %.1f MB (bound %.0f MB): no checkpoint" %
                              (col, m / 1048576, BOUNDS["wal_max_mb"]))
    for t in TILLS:
        b = series("journal_bytes_" + t)
        e = series("events_" + t)
        if len(b) >= 2 and len(e) >= 2 and e[-1][1] > e[0][1]:
            per = (b[-1][1] - b[0][1]) / (e[-1][1] - e[0][1])
            print("%-26s %14s %14s %16s" % ("  bytes_per_event_" + t, "", "%.0f" % per, ""),
                  file=out)
            if per > BOUNDS["journal_bytes_per_event"]:
                violations.append("journal of %s grows %.0f bytes per event (bound %d)" %
                                  (t, per, BOUNDS["journal_bytes_per_event"]))
    peak_pending = max([y for _, y in series("spool_pending_bytes", run)] or [0])
    spool_max = max([y for _, y in series("spool_bytes", rows)] or [0])
    limit = BOUNDS["spool_mb_over_backlog"] * 1048576 + 4 * peak_pending
    if spool_max > limit:
        violations.append("spool.db reached %.1f MB, more than %.0f MB + 4 x %.1f MB pending" %
                          (spool_max / 1048576, BOUNDS["spool_mb_over_backlog"],
                           peak_pending / 1048576))
    # The backlogs drain: the longest stretch above backlog_low, the spool's and each till's.
    for col in ["spool_backlog"] + ["backlog_" + t for t in TILLS]:
        longest, since = 0.0, None
        for t, y in series(col, run):
            if y > BOUNDS["backlog_low"]:
                since = t if since is None else since
                longest = max(longest, t - since)
            else:
                since = None
        print("%-26s %14s %14.0f" % ("  high_longest_s_" + col, "", longest), file=out)
        if longest > BOUNDS["backlog_high_s"]:
            violations.append("%s stayed above %d for %.0f s (bound %d s)" %
                              (col, BOUNDS["backlog_low"], longest, BOUNDS["backlog_high_s"]))
    last = rows[-1]
    kinds = ", ".join("%s=%s" % (k, last.get("fault_" + k, "0")) for k, _ in FAULTS)
    print("faults survived: %s (%s)" % (last.get("faults", "0"), kinds), file=out)
    for v in violations:
        print("VIOLATION: " + v, file=out)
    return violations


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- a run ----

def run_soak(build, minutes, workdir, seed):
    os.environ["PE_SRCDIR"] = TOP
    os.environ["PE_BIN"] = os.environ["PE_BIN_RELEASE"] = os.path.join(TOP, build)
    sys.path.insert(0, os.path.join(TOP, "tests", "system"))
    import lib
    from kafka import RealKafka

    rng = random.Random(seed)
    os.makedirs(workdir, exist_ok=True)
    csv_path = os.path.join(workdir, "soak.csv")
    log_path = os.path.join(workdir, "faults.log")
    logf = open(log_path, "a")
    t0 = time.monotonic()

    def log(msg):
        line = "[%7.1fs] %s" % (time.monotonic() - t0, msg)
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    print("soak: %s minutes, seed %d, in %s (CSV %s, faults %s)" %
          (minutes, seed, workdir, csv_path, log_path), flush=True)
    violations = []
    counts = {k: 0 for k, _ in FAULTS}
    lock = threading.Lock()
    phase = ["run"]
    stop_sampling = threading.Event()

    kafka = RealKafka(workdir)  # first: it fails when Kafka is not fetched, leaving nothing
    net = None
    if os.geteuid() == 0 and subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0:
        from test_fault_suite import Netns
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        n = next(n for n in range(100, 250) if (" 10.231.%d." % n) not in used)
        try:
            net = Netns(n)
        except lib.Failure as e:
            log("no network namespace (%s): no link_down faults" % str(e).splitlines()[0])
    else:
        log("no network namespace here (needs root and ip netns): no link_down faults")

    mqtt = lib.Mosquitto(workdir, also_on=(net.host_ip,) if net else ())
    bridge = lib.Bridge(workdir, "127.0.0.1:0", "127.0.0.1:0")
    tills = {}

    class Till:
        """A till selling to the shopper at the soak's pace."""

        def __init__(self, terminal):
            self.terminal = terminal
            self.dir = os.path.join(workdir, terminal)
            self.netns = net.ns if net and terminal == "t04" else None
            self.proc = None

        def args(self, *extra):
            pre = ["ip", "netns", "exec", self.netns] if self.netns else []
            addr = "%s:%d" % (net.host_ip if self.netns else "127.0.0.1", mqtt.port)
            return pre + [lib.AGENT, "-c", lib.CONFIG, "--data-dir", self.dir, "--store", "s001",
                          "--terminal", self.terminal, "--mqtt", addr,
                          "--set", "mqtt.keepalive_s=5", "--set", "uplink.resend_ms=1000",
                          # The receipt's QR code as its text line only, as a real printer
                          # takes it: a PNG per receipt would be a million files in hours.
                          "--set", "devices.printer.options=qr_png=off",
                          "--set", "sim.start=" + lib.SIM_START] + list(extra)

        def start(self):
            # Open all day but the last hour; a simulated day every 24 s (the daily Z report
            # and shift closes come round often), SOAK_TX_PER_DAY customers a day.
            self.proc = subprocess.Popen(
                self.args("--set", "sim.open_hour=0", "--set", "sim.close_hour=23",
                          "--set", "sim.speed=3600",
                          "--set", "sim.tx_per_day=%d" % int(os.environ.get("SOAK_TX_PER_DAY", "600")),
                          "--set", "sim.seed=%d" % rng.randrange(1 << 30)),
                stdout=subprocess.DEVNULL, stderr=open(self.dir + ".log", "a"))

        @property
        def journal(self):
            return os.path.join(self.dir, "journal.db")

    def sample():
        with lock:
            pids = {t: tills[t].proc.pid if tills[t].proc and tills[t].proc.poll() is None else None
                    for t in TILLS}
            pids["bridge"] = bridge.proc.pid if bridge.proc and bridge.proc.poll() is None else None
            pids["mosquitto"] = mqtt.proc.pid if mqtt.proc and mqtt.proc.poll() is None else None
            pids["kafka"] = kafka.proc.pid if kafka.running() else None
            row = {"t_s": "%.1f" % (time.monotonic() - t0), "phase": phase[0],
                   "faults": sum(counts.values())}
            row.update(("fault_" + k, v) for k, v in counts.items())
        for d in DAEMONS:
            rss, fds = proc_stats(pids[d])
            row["pid_" + d], row["rss_kb_" + d], row["fds_" + d] = pids[d] or "", rss, fds
        for t in TILLS:
            j = tills[t].journal
            row["journal_bytes_" + t] = size(j)
            row["journal_wal_bytes_" + t] = size(j + "-wal")
            row["events_" + t], row["backlog_" + t] = journal_figures(j)
        spool = os.path.join(bridge.dir, "spool.db")
        row["spool_bytes"], row["spool_wal_bytes"] = size(spool), size(spool + "-wal")
        row["spool_backlog"], row["spool_pending_bytes"] = spool_figures(spool)
        return row

    interval = float(os.environ.get("SOAK_SAMPLE_S", "3"))
    csv_file = open(csv_path, "w", newline="")
    writer = csv.DictWriter(csv_file, fieldnames=columns())
    writer.writeheader()
    csv_file.flush()

    def sampler():
        while True:
            try:
                writer.writerow(sample())
                csv_file.flush()
            except Exception as e:  # a sample that failed is a gap, never the end of sampling
                log("sample failed: %s" % e)
            if stop_sampling.wait(interval):
                return

    def alive(p):
        return p is not None and p.poll() is None

    def check_alive():
        """A daemon that exited without a fault is a violation; it is started again."""
        for t in tills.values():
            if not alive(t.proc):
                violations.append("till %s exited by itself (status %s; see %s.log)" %
                                  (t.terminal, t.proc.returncode, t.dir))
                log("VIOLATION: " + violations[-1])
                t.start()
        if not alive(bridge.proc):
            violations.append("the bridge exited by itself (status %s; see %s)" %
                              (bridge.proc.returncode, bridge.logpath))
            log("VIOLATION: " + violations[-1])
            bridge.start()
        if not alive(mqtt.proc):
            violations.append("mosquitto exited by itself")
            log("VIOLATION: " + violations[-1])
            mqtt.start()
        if not kafka.running():
            violations.append("Kafka exited by itself (see %s)" % kafka.logpath)
            log("VIOLATION: " + violations[-1])
            kafka.start()

    def hold(lo, hi):
        """How long a fault lasts: a random span (the fault itself), never a wait for an outcome."""
        time.sleep(rng.uniform(lo, hi))

    def fault(kind):
        if kind == "till_kill9":
            t = tills[rng.choice(KILLED_TILLS)]
            with lock:
                t.proc.kill()
                t.proc.wait(timeout=30)
            hold(0, 2)
            with lock:
                t.start()
            return t.terminal
        if kind == "bridge_kill9":
            with lock:
                bridge.kill()
            hold(0, 2)
            with lock:
                bridge.start()
            return ""
        if kind == "mqtt_restart":
            how = rng.choice(("kill", "stop"))
            with lock:
                (mqtt.kill if how == "kill" else mqtt.stop)()
            hold(0.5, 5)
            mqtt.start()
            return how
        if kind == "kafka_pause":
            os.kill(kafka.proc.pid, signal.SIGSTOP)
            try:
                hold(2, 10)
            finally:
                os.kill(kafka.proc.pid, signal.SIGCONT)
            return ""
        if kind == "kafka_restart":
            how = rng.choice(("kill", "stop"))
            (kafka.kill if how == "kill" else kafka.stop)()
            hold(1, 5)
            kafka.start()
            return "%s, back in %.0fs" % (how, kafka.start_seconds)
        if kind == "link_down":
            net.link(False)
            try:
                hold(1, 10)
            finally:
                net.link(True)
            return "t04"
        raise ValueError(kind)

    class Interrupted(Exception):
        pass

    def interrupted(signum, _frame):
        raise Interrupted("interrupted by signal %d" % signum)

    # SIGTERM (a test runner's timeout) or SIGINT: the run ends as a failure, cleaning up and
    # printing its summary, instead of leaving a JVM, daemons and a network namespace behind.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    final = None
    sampler_thread = None
    try:
        kafka.start()
        mqtt.start()
        bridge.args[bridge.args.index("--mqtt") + 1] = mqtt.addr
        bridge.args[bridge.args.index("--kafka") + 1] = kafka.bootstrap
        bridge.args += ["--set", "kafka.txn_interval_ms=50"]
        bridge.start()
        for t in TILLS:
            tills[t] = Till(t)
            tills[t].start()
        log("store up: kafka %s, mosquitto %s, bridge, tills %s%s" %
            (kafka.bootstrap, mqtt.addr, " ".join(TILLS), " (t04 in netns %s)" % net.ns if net else ""))
        sampler_thread = threading.Thread(target=sampler, daemon=True)
        sampler_thread.start()

        kinds = [(k, w) for k, w in FAULTS if k != "link_down" or net]
        fmin = float(os.environ.get("SOAK_FAULT_MIN", "3"))
        fmax = float(os.environ.get("SOAK_FAULT_MAX", "8"))
        end = t0 + minutes * 60
        last = {}  # the end of the last fault of a kind with a cooldown, by its first word
        while True:
            hold(fmin, fmax)  # the moment of the next fault
            if time.monotonic() >= end:
                break
            check_alive()
            now = time.monotonic()
            choice = [(k, w) for k, w in kinds if now - last.get(k.split("_")[0], -1e9) >=
                      COOLDOWN_S.get(k.split("_")[0], 0) and
                      (k not in FIRST_HALF_ONLY or now < t0 + minutes * 30)]
            kind = rng.choices([k for k, _ in choice], [w for _, w in choice])[0]
            detail = fault(kind)
            last[kind.split("_")[0]] = time.monotonic()
            with lock:
                counts[kind] += 1
            log("fault %d %s %s" % (sum(counts.values()), kind, detail))
        check_alive()

        # The end: the load stops, every till waits until all it has is delivered.
        with lock:
            phase[0] = "drain"
        log("faults stop after %d; draining" % sum(counts.values()))
        for t in tills.values():
            t.proc.send_signal(signal.SIGTERM)
            rc = t.proc.wait(timeout=60)
            if rc not in (0, -signal.SIGTERM):
                violations.append("till %s stopped with status %d" % (t.terminal, rc))
        for t in tills.values():
            p = lib.run(t.args("--shopper", "1", "--seed", "7", "--wait-delivered", "300"),
                        timeout=400)
            if p.returncode != 0:
                violations.append("till %s: not everything delivered within 300 s" % t.terminal)
        spool = os.path.join(bridge.dir, "spool.db")
        try:
            lib.wait_until(lambda: spool_figures(spool)[0] == 0, 120, "the spool's backlog 0")
        except lib.Failure as e:
            violations.append(str(e))
        with lock:
            phase[0] = "end"
        stop_sampling.set()
        sampler_thread.join()
        writer.writerow(sample())
        csv_file.flush()

        # Correctness: every event exactly once in Kafka, every journal verifies.
        p = lib.run([lib.CTL, "reconcile", "--brokers", kafka.bootstrap, "--timeout", "600"] +
                    [t.journal for t in tills.values()], timeout=1800)
        last = (p.stdout.strip().splitlines() or [""])[-1]
        log("reconcile: %s" % last)
        if last != "missing=0 duplicates=0 mismatched=0" or p.returncode != 0:
            violations.append("reconcile: %s %s" % (last, p.stderr[-500:]))
        # Side by side: signatures make a long run's verification minutes per journal.
        verifies = [(t.journal, subprocess.Popen([lib.CTL, "verify", t.journal],
                                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 text=True)) for t in tills.values()]
        for path, v in verifies:
            text = v.communicate(timeout=3600)[0]
            if v.returncode != 0:
                violations.append("verify %s: %s" % (path, text[-500:]))
        log("journals verified: %s" % ("all" if not any(x.startswith("verify") for x in violations)
                                       else "NOT all"))
        try:
            bridge.stop()
        except lib.Failure as e:
            violations.append(str(e))
        final = read_csv(csv_path)
    except Exception as e:
        violations.append("the run stopped: %s" % e)
        log("VIOLATION: " + violations[-1])
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup itself is not interrupted
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_sampling.set()
        for t in tills.values():
            if alive(t.proc):
                t.proc.kill()
        for f in (bridge.kill, mqtt.stop):
            try:
                f()
            except Exception:
                pass
        try:
            if kafka.proc is not None and kafka.proc.poll() is None:
                os.kill(kafka.proc.pid, signal.SIGCONT)
            kafka.close(failed=bool(violations))
        except Exception:
            pass
        if net:
            net.link(True)
            net.close()
    if final is None:
        final = read_csv(csv_path)
    violations += summary(final)
    for v in violations:
        log("violation: " + v)
    faults = sum(counts.values())
    print("soak: csv %s, log %s" % (csv_path, log_path))
    print("soak: minutes=%s faults=%d violations=%d" % (minutes, faults, len(violations)),
          flush=True)
    return 0 if not violations else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", help="build directory, e.g. build/sim")
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "10")))
    ap.add_argument("--dir", default=os.environ.get("SOAK_DIR", ""),
                    help="work directory (default: a new one under $TMPDIR)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "0")) or None)
    ap.add_argument("--summary", metavar="CSV", help="print the summary of a (partial) run's CSV")
    a = ap.parse_args()
    if a.summary:
        v = summary(read_csv(a.summary))
        print("soak summary: violations=%d" % len(v))
        return 1 if v else 0
    if not a.build:
        ap.error("BUILD_DIR is missing")
    import tempfile
    workdir = a.dir or tempfile.mkdtemp(prefix="posedge-soak-", dir=os.environ.get("TMPDIR"))
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
    mins = int(a.minutes) if a.minutes == int(a.minutes) else a.minutes
    return run_soak(a.build, mins, workdir, seed)


if __name__ == "__main__":
    sys.exit(main())
