#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 12, acceptance 1: behaviour is unchanged. A seeded run's Kafka records, the tills'
journals and the MQTT wire payloads, compared with golden files made before the refactoring.

Everything that would vary between runs is fixed:
  - event time: every till runs with `--set sim.start=2026-03-02T07:55:00.000Z`, so the
    shopper's day no longer depends on the wall clock (the scenario sets its own clock);
  - event ids: PE_TEST_RNG_SEED in the tills' environment seeds their CTR-DRBG from a fixed
    stream (common/crypto.c; test builds only, a release build ignores it), so the UUIDs, and
    with them the hash chain, repeat run to run;
  - the content: two shoppers (`--shopper N --seed S`, batch mode) and the day scenario
    (tests/system/scenarios/day.jsonl: returns, voids, stock work, reports), each with
    `--wait-delivered`.

A first, quick test checks these hooks themselves: a bad sim.start is refused naming the key,
one seed gives one journal twice, other seeds and other tills give other ids, and a release
build ignores PE_TEST_RNG_SEED.

The tills publish through the real mosquitto to one bridge (transactional, the default) with
the sinks native, purchases-json, retail-json and orders-json, into a real Apache Kafka
(tests/system/kafka.py). The inventory-avro profile is left out on purpose: issue 12 changes
its output deliberately. Then:

  1. records.jsonl: every topic in the broker is read with kcat (isolation.level=
     read_committed) except what legitimately varies: Kafka's internal topics (`__*`), the
     bridge's posedge.bridge.state (wall-clock times, transaction counts) and the telemetry
     topic. Each record becomes one JSON line {topic, partition, key, headers (sorted by name),
     tstype, ts, value (the bytes as text)}; the offset is left out (three tills interleave
     differently every run), and so is the value of the `lateness_s` header (the bridge's
     wall clock minus the event's time; the `late` flag itself stays, since these events are
     always older than an hour), and of the `posedge-sig` header (the signature) its `sig` and
     `signed_ms`, since the signer's clock is the wall clock (its alg, key id and counter
     stay). Lines are sorted by topic, partition, key, then the records'
     store, terminal and seq headers; the records of one event keep their order in Kafka.
  2. journal.jsonl: `posedge-ctl journal` of each till (t01, t02, t03), verbatim.
  3. The wire: every record in the tills' `events` payloads (mosquitto_sub on
     posedge/v1/+/+/events; batches are split at `\\n`, a signature after a tab is cut off,
     resends collapse) must be exactly the journal's records, byte for byte. Batching depends on timing, so only the records are
     compared.

The broker keeps records of any age (log.retention.ms=-1): the record timestamp is the
event's time, months old, and the default 7-day retention would delete everything at the
broker's first retention check, about 30 s after it starts.

On a mismatch the test prints the first differing hunks, each line cut around its first
differing character, for the journals and for the records, and keeps the run's dumps in its
work directory.

Regenerate the golden files, only when a change of output is intended and reviewed:

    PE_GOLDEN_UPDATE=1 PE_SRCDIR=$PWD PE_BIN=$PWD/build/sim/san \\
        /usr/bin/python3 tests/system/test_golden.py

then read what changed before committing, e.g.
`diff <(git show HEAD:tests/system/golden/records.jsonl.gz | zcat) <(zcat tests/system/golden/records.jsonl.gz)`.
The golden files are gzip files written without name or time, so an unchanged run writes
the same bytes.

Nothing here depends on the time of day: the test passes with the tills run under
`faketime -f '@<today> 23:30:00'` (PE_BIN pointing at wrapper scripts that do so; only the
tills, since libfaketime stalls librdkafka's timed waits in the bridge). It needs a test
build (PE_FAULT_INJECTION: san or test variant); with a release build it says that the ids
are not deterministic.
"""
import difflib
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import time

from kafka import RealKafka
from lib import (AGENT, BIN_RELEASE, BRIDGE_CONFIG, CONFIG, CTL, SRC, Bridge, Mosquitto, check,
                 main, reconcile, run, test, tmpdir, wait_until)

GOLDEN = os.path.join(SRC, "tests", "system", "golden")
RECORDS = os.path.join(GOLDEN, "records.jsonl.gz")
JOURNAL = os.path.join(GOLDEN, "journal.jsonl.gz")
UPDATE = os.environ.get("PE_GOLDEN_UPDATE") == "1"

DAY = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")
START = "2026-03-02T07:55:00.000Z"  # a Monday, five minutes before the shop opens
RNG_SEED = "1201"
SINKS = [
    {"profile": "native"},
    {"profile": "purchases-json", "topic": "purchases"},
    {"profile": "retail-json", "topic": "retail", "country": "France"},
    {"profile": "orders-json", "topic": "orders", "source": "store"},
]
# t01 trades two short days and part of a third (shift close and Z report from the shopper),
# t02 one day with more returns, voids, declines and no-sales than usual.
TILLS = {"t01": ["--shopper", "60", "--seed", "11", "--set", "sim.tx_per_day=25"],
         "t02": ["--shopper", "40", "--seed", "12", "--set", "sim.return_pm=150",
                 "--set", "sim.void_pm=100", "--set", "sim.decline_pm=150",
                 "--set", "sim.nosale_pm=80"],
         "t03": ["--scenario", DAY]}
VARYING_TOPICS = ("posedge.bridge.state", "pos.telemetry")
VARYING_HEADERS = ("lateness_s",)
SETTLE_S = 30  # read_committed readers see a commit a moment after the producer hears of it


class KeepingKafka(RealKafka):
    """RealKafka keeping records of any age. The events are dated 2026-03-02 and the record
    timestamp is the event's time, so under Kafka's default retention (7 days) the broker's
    first retention check, about 30 s after start, would delete them all."""

    def _write_config(self):
        super()._write_config()
        with open(self.conf, "a") as f:
            f.write("log.retention.ms=-1\n")


def read_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read()


def write_gz(path, text):
    """Byte-for-byte reproducible: no name and no time in the gzip header."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(text.encode("utf-8"))
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def topics(bootstrap):
    p = run(["kcat", "-L", "-J", "-b", bootstrap], timeout=60, check_rc=0)
    return sorted(t["topic"] for t in json.loads(p.stdout)["topics"])


def header_value(k, v):
    """v as the golden file keeps it: "*" for a header that varies; of the signature
    (posedge-sig) its alg, key and counter, since its time is the wall clock's."""
    if k in VARYING_HEADERS:
        return "*"
    if k == "posedge-sig":
        sig = json.loads(v)
        return json.dumps(dict(sig, sig="*", signed_ms="*"), sort_keys=True,
                          separators=(",", ":"))
    return v


def canonical(m):
    h = m.get("headers") or []
    headers = sorted(([k, header_value(k, v)]
                      for k, v in zip(h[0::2], h[1::2])), key=lambda kv: kv[0])
    rec = {"topic": m["topic"], "partition": m["partition"], "key": m["key"],
           "headers": headers, "tstype": m.get("tstype"), "ts": m.get("ts"),
           "value": m["payload"]}
    hd = dict(zip(h[0::2], h[1::2]))
    seq = hd.get("seq", "")
    order = (m["topic"], m["partition"], m["key"] or "", hd.get("store", ""),
             hd.get("terminal", ""), int(seq) if seq.isdigit() else -1, hd.get("id", ""))
    return order, json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def dump_records(bootstrap):
    """The canonical text of every committed record of every topic that should not vary."""
    out = []
    for t in topics(bootstrap):
        if t.startswith("__") or t in VARYING_TOPICS:
            continue
        p = run(["kcat", "-C", "-J", "-b", bootstrap, "-t", t, "-o", "beginning", "-e", "-q",
                 "-X", "isolation.level=read_committed"], timeout=120, check_rc=0)
        out += [canonical(json.loads(line)) for line in p.stdout.splitlines() if line]
    out.sort(key=lambda r: r[0])  # stable: one event's records keep their order in Kafka
    return "".join(line + "\n" for _, line in out)


def journal_text(dbs):
    return "".join(run([CTL, "journal", db], check_rc=0).stdout for db in dbs)


def clip(line, col, width=320):
    """line shortened to a window around column col (where it differs from its pair)."""
    lo = max(0, col - 120)
    return ("..." if lo else "") + line[lo:lo + width] + ("..." if len(line) > lo + width else "")


def first_differences(name, want, got, hunks=4, per=3):
    """The first differing hunks of two texts, each line cut around its first difference."""
    a, b = want.splitlines(), got.splitlines()
    out, n = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        n += 1
        if n > hunks:
            continue
        out.append("@@ golden line %d, this run line %d: %d lines replaced by %d" % (
            i1 + 1, j1 + 1, i2 - i1, j2 - j1))
        for k in range(max(min(i2 - i1, per), min(j2 - j1, per))):
            x = a[i1 + k] if i1 + k < i2 else ""
            y = b[j1 + k] if j1 + k < j2 else ""
            col = next((c for c, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
            if x:
                out.append("-" + clip(x, col))
            if y:
                out.append("+" + clip(y, col))
    return "%s differs from the golden file (%d lines golden, %d this run, %d differing " \
           "hunks); the first:\n%s" % (name, len(a), len(b), n, "\n".join(out))


def wire_records(path):
    """{terminal: set of record texts} from mosquitto_sub -F %j output (debug lines skipped)."""
    recs = {}
    if not os.path.exists(path):
        return recs
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                m = json.loads(line)
            except ValueError:
                continue  # a line still being written
            term = m["topic"].split("/")[3]
            for r in m["payload"].split("\n"):
                if r:  # a record, or a record, a tab and its signature
                    recs.setdefault(term, set()).add(r.split("\t", 1)[0])
    return recs


def till_ids(binary, d, name, seed, *extra):
    """The journal (one JSON text per event) of a 3-customer shopper run of binary, its event
    ids, and its stderr."""
    data = os.path.join(d, name)
    p = run([binary, "-c", CONFIG, "--data-dir", data, "--shopper", "3", "--seed", "5",
             "--set", "sim.start=" + START] + list(extra), env={"PE_TEST_RNG_SEED": seed},
            check_rc=0)
    lines = run([CTL, "journal", os.path.join(data, "journal.db")], check_rc=0).stdout
    lines = lines.splitlines()
    return lines, [json.loads(line)["id"] for line in lines], p.stderr


@test
def the_hooks_are_what_the_golden_run_relies_on():
    """sim.start is checked and fixes the times; PE_TEST_RNG_SEED fixes the ids of a test
    build only (a release build ignores it and says nothing)."""
    d = tmpdir("pe-golden-hooks")
    for bad in ("2026-03-02 07:55:00", "2026-02-30T07:55:00.000Z", "1969-12-31T23:59:59.000Z"):
        p = run([AGENT, "-c", CONFIG, "--data-dir", os.path.join(d, "bad"), "--shopper", "1",
                 "--set", "sim.start=" + bad])
        check(p.returncode == 2 and "sim.start" in p.stderr,
              "sim.start=%s: exit %d, stderr %r" % (bad, p.returncode, p.stderr[-300:]))
    ja, a, err = till_ids(AGENT, d, "a", "7")
    jb, b, _ = till_ids(AGENT, d, "b", "7")
    _, c, _ = till_ids(AGENT, d, "c", "8")
    _, t2, _ = till_ids(AGENT, d, "t2", "7", "--terminal", "t02")
    check("event=rng.test_seed " in err, "no rng.test_seed warning: %r" % err[-500:])
    check(a and ja == jb, "one seed, two runs, different journals: %s / %s" % (
        ja[:1], jb[:1]))
    check(json.loads(ja[0])["ts"].startswith(START[:11] + "08:00:"),
          "the shift does not open at 08:00 (sim.open_hour) of sim.start's day: %s" % ja[0])
    check(not set(a) & set(c), "two seeds, the same ids: %s" % a[:2])
    check(not set(a) & set(t2), "two tills with one seed draw the same ids")
    p = run([AGENT, "-c", CONFIG, "--data-dir", os.path.join(d, "x"), "--shopper", "1"],
            env={"PE_TEST_RNG_SEED": "12x"})
    check(p.returncode != 0 and "rng.test_seed_bad" in p.stderr,
          "PE_TEST_RNG_SEED=12x: exit %d" % p.returncode)
    release = os.path.join(BIN_RELEASE, "posedge-agent")
    if os.path.exists(release):
        _, r1, err = till_ids(release, d, "r1", "7")
        _, r2, _ = till_ids(release, d, "r2", "7")
        check("rng.test_seed" not in err, "the release build reads PE_TEST_RNG_SEED")
        check(not set(r1) & set(r2), "the release build's ids repeat with PE_TEST_RNG_SEED")
    else:
        print("# no release build at %s: its part is skipped" % release, flush=True)
    shutil.rmtree(d, ignore_errors=True)


@test
def records_journals_and_wire_match_the_golden_files():
    d = tmpdir("pe-golden")
    mqtt = Mosquitto(d).start()
    kafka = bridge = sub = None
    failed = True
    tills = []
    try:
        kafka = KeepingKafka(d).start()
        with open(BRIDGE_CONFIG) as f:
            cfg = json.load(f)
        cfg["sinks"] = SINKS
        cfg_path = os.path.join(d, "bridge.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        bridge = Bridge(d, mqtt.addr, kafka.bootstrap)
        bridge.args[2] = cfg_path
        bridge.start()

        # The wire, from before the first till connects: -d prints the SUBACK (stdbuf: at
        # once, not when stdio's buffer fills).
        wire = os.path.join(d, "wire.log")
        sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1",
                                "-p", str(mqtt.port), "-q", "1", "-d", "-F", "%j",
                                "-t", "posedge/v1/+/+/events"],
                               stdout=open(wire, "w"), stderr=subprocess.STDOUT)

        def subscribed():
            with open(wire, errors="replace") as f:
                return "SUBACK" in f.read()
        wait_until(subscribed, 20, "mosquitto_sub's subscription")

        env = dict(os.environ, PE_TEST_RNG_SEED=RNG_SEED)
        for t, how in TILLS.items():
            data = os.path.join(d, t)
            tills.append((t, subprocess.Popen(
                [AGENT, "-c", CONFIG, "--data-dir", data, "--terminal", t, "--mqtt", mqtt.addr,
                 "--set", "sim.start=" + START, "--wait-delivered", "120"] + how,
                env=env, stdout=subprocess.DEVNULL, stderr=open(data + ".log", "a"))))
        for t, p in tills:
            check(p.wait(timeout=180) == 0, "till %s: exit %s, see %s.log" % (
                t, p.returncode, os.path.join(d, t)))
        for t in TILLS:
            with open(os.path.join(d, t + ".log"), errors="replace") as f:
                check("event=rng.test_seed " in f.read(),
                      "till %s: no rng.test_seed warning: ids are not deterministic (a release "
                      "build?)" % t)
        dbs = [os.path.join(d, t, "journal.db") for t in TILLS]

        # The journals, and the wire against them.
        journal = journal_text(dbs)
        lines = journal.splitlines()
        check(len(lines) == len(set(lines)), "a journal record repeats")
        want_wire = {}
        for line in lines:
            want_wire.setdefault(json.loads(line)["terminal"], set()).add(line)

        def wire_complete():
            got = wire_records(wire)
            return all(want_wire[t] <= got.get(t, set()) for t in want_wire)
        wait_until(wire_complete, SETTLE_S, "every journal record on the MQTT wire")
        sub.send_signal(signal.SIGTERM)
        sub.wait(timeout=30)
        got_wire = wire_records(wire)
        for t in want_wire:
            extra = sorted(got_wire.get(t, set()) - want_wire[t])
            check(not extra, "till %s published %d records that are not in its journal, "
                  "first: %s" % (t, len(extra), extra[0][:300] if extra else ""))

        # Kafka: everything delivered is readable once posedge-ctl reconcile agrees.
        def native():
            p, last = reconcile(kafka.bootstrap, dbs, check_rc=None)
            return last == "missing=0 duplicates=0 mismatched=0"
        wait_until(native, SETTLE_S, "posedge-ctl reconcile on the native topics")

        if UPDATE:
            # Read until two reads agree: the commit markers of the last transaction have
            # reached every partition.
            deadline = time.monotonic() + SETTLE_S
            prev, records = None, dump_records(kafka.bootstrap)
            while records != prev:
                check(time.monotonic() < deadline, "Kafka's records did not settle")
                time.sleep(1)  # polling interval of a condition with a deadline
                prev, records = records, dump_records(kafka.bootstrap)
            os.makedirs(GOLDEN, exist_ok=True)
            write_gz(RECORDS, records)
            write_gz(JOURNAL, journal)
            print("# PE_GOLDEN_UPDATE=1: wrote %s (%d records) and %s (%d events)" % (
                RECORDS, records.count("\n"), JOURNAL, len(lines)), flush=True)
        else:
            check(os.path.exists(RECORDS) and os.path.exists(JOURNAL),
                  "no golden files in %s (PE_GOLDEN_UPDATE=1 makes them)" % GOLDEN)
            problems = []
            want_journal = read_gz(JOURNAL)
            if journal != want_journal:
                with open(os.path.join(d, "journal.jsonl"), "w") as f:
                    f.write(journal)
                problems.append(first_differences("journal.jsonl", want_journal, journal) +
                                "\n(this run's dump: %s/journal.jsonl)" % d)
            want = read_gz(RECORDS)
            got = {}

            def records_match():
                got["text"] = dump_records(kafka.bootstrap)
                return got["text"] == want
            deadline = time.monotonic() + SETTLE_S
            while not records_match() and time.monotonic() < deadline:
                time.sleep(1)  # polling interval of a condition with a deadline
            if got["text"] != want:
                with open(os.path.join(d, "records.jsonl"), "w") as f:
                    f.write(got["text"])
                problems.append(first_differences("records.jsonl", want, got["text"]) +
                                "\n(this run's dump: %s/records.jsonl)" % d)
            check(not problems, "\n".join(problems))
            print("# %d records and %d journal events as golden" % (
                want.count("\n"), len(lines)), flush=True)
        failed = False
    finally:
        for _, p in tills:
            if p.poll() is None:
                p.kill()
                p.wait()
        if sub and sub.poll() is None:
            sub.kill()
            sub.wait()
        for stop in ((lambda: bridge and bridge.stop()), (lambda: kafka and kafka.close(failed)),
                     mqtt.stop):
            try:
                stop()
            except Exception:
                pass
        if failed:
            print("    work directory kept: %s" % d, flush=True)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
