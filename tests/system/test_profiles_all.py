#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 7, acceptance 1 (in part): every output profile at once, from one run of tills.

One bridge (transactional, real mosquitto, real Apache Kafka from tests/system/kafka.py) has
every sink the bridge offers configured side by side: native and the three JSON profiles
(purchases-json, retail-json, orders-json). Three tills trade at the same time against it, two
shoppers and the day scenario (which has returns, voids, stock work and reports), each until it
has seen everything delivered. Then every profile's topic is read with kcat,
isolation.level=read_committed, and must be non-empty and hold exactly what the tills'
journals imply, counted per event id (the records' `id` header): one purchases-json record per
line of each sale, one retail-json record per line of each sale and return, one orders-json
record per sale. posedge-ctl reconcile passes on the native topics, and nothing is a dead
letter.

The Avro profiles (inventory-avro, orders-avro) are being added to the bridge; their place is
marked AVRO below. For now the test checks native and the JSON profiles, and says on a "# "
line whether bridge/profile_avro.c exists and whether the bridge accepts the Avro sinks.
"""
import json
import os
import subprocess
import time
from collections import Counter

from kafka import RealKafka
from lib import (AGENT, BRIDGE, BRIDGE_CONFIG, CONFIG, SRC, Bridge, Mosquitto, check,
                 journal_events, main, reconcile, run, test, tmpdir)

DAY = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")
JSON_SINKS = [
    {"profile": "native"},
    {"profile": "purchases-json", "topic": "purchases"},
    {"profile": "retail-json", "topic": "retail", "country": "France"},
    {"profile": "orders-json", "topic": "orders", "source": "store"},
]
# What each JSON profile's topic holds per journal event: the number of records it makes.
JSON_EXPECT = {
    "purchases": lambda e: len(e["body"]["lines"]) if e["type"] == "sale" else 0,
    "retail": lambda e: len(e["body"]["lines"]) if e["type"] in ("sale", "return") else 0,
    "orders": lambda e: 1 if e["type"] == "sale" else 0,
}

# ---- AVRO: inventory-avro and orders-avro go here. ----
# When bridge/profile_avro.c exists, avro_note() asks the bridge (--print-config, which
# contacts nothing) whether it takes these sinks, and says so on a "# " line. To finish: start
# a Schema Registry (tests/system/registry.py) and put its URL in registry_url, append
# AVRO_SINKS to the bridge's sinks below, and count their records per event id header as for
# JSON_EXPECT (orders-avro: one per sale on its topic; inventory-avro: per stock movement on
# prod.inventory.transactions and per inventory_count on prod.inventory.snapshots, as
# docs/protocol.md will say). Counting needs no Avro decoding (kcat here has no Avro serdes).
AVRO_SINKS = [
    {"profile": "inventory-avro", "registry_url": "http://127.0.0.1:1/apis/ccompat/v7"},
    {"profile": "orders-avro", "registry_url": "http://127.0.0.1:1/apis/ccompat/v7"},
]


def avro_note(d):
    """Why the Avro sinks are not part of the run (a "# " line for tests/run.sh)."""
    if not os.path.exists(os.path.join(SRC, "bridge", "profile_avro.c")):
        return "# AVRO: bridge/profile_avro.c does not exist yet: Avro sinks not checked"
    with open(BRIDGE_CONFIG) as f:
        cfg = json.load(f)
    cfg["sinks"] = [{"profile": "native"}] + AVRO_SINKS
    path = os.path.join(d, "bridge-avro.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = run([BRIDGE, "-c", path, "--print-config"], timeout=60)
    if p.returncode != 0:
        return "# AVRO: the bridge refuses the Avro sinks (%s): not checked" % (
            p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return "# AVRO: the bridge accepts the Avro sinks; checking them is still to be written"


def settled(attempt, what, timeout=60):
    """attempt() -> (ok, detail) until ok, for up to timeout seconds; Failure with the last
    detail if never. A transaction's commit returns to the bridge (and the till hears
    "delivered") once Kafka's coordinator has logged it; the commit markers reach the
    partitions just after, and until then a read_committed reader sees the partition end
    before that transaction (its last stable offset). So what was delivered a moment ago may
    need a moment more to be readable."""
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = attempt()
        if ok or time.monotonic() > deadline:
            check(ok, "%s: %s" % (what, detail))
            return detail
        time.sleep(0.5)  # polling interval of a condition with a deadline


def committed(bootstrap, topic):
    """(headers, value) of every committed record of a topic; [] when it does not exist."""
    p = run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed", "-J"], timeout=180)
    if p.returncode != 0:
        return []
    out = []
    for line in p.stdout.splitlines():
        m = json.loads(line)
        h = m.get("headers") or []
        out.append((dict(zip(h[0::2], h[1::2])), m["payload"]))
    return out


@test
def every_profile_from_one_run_of_tills():
    d = tmpdir("pe-profiles-all")
    print(avro_note(d), flush=True)
    mqtt = Mosquitto(d).start()
    kafka = bridge = None
    failed = True
    tills = []
    try:
        kafka = RealKafka(d).start()
        with open(BRIDGE_CONFIG) as f:
            cfg = json.load(f)
        cfg["sinks"] = JSON_SINKS  # AVRO: + AVRO_SINKS once they are checked
        cfg_path = os.path.join(d, "bridge.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        bridge = Bridge(d, mqtt.addr, kafka.bootstrap)
        bridge.args[2] = cfg_path
        bridge.start()

        runs = {"t01": ["--shopper", "80", "--seed", "11"],
                "t02": ["--shopper", "50", "--seed", "12"],
                "t03": ["--scenario", DAY]}
        for t, how in runs.items():
            data = os.path.join(d, t)
            tills.append((t, subprocess.Popen(
                [AGENT, "-c", CONFIG, "--data-dir", data, "--terminal", t, "--mqtt", mqtt.addr,
                 "--wait-delivered", "240"] + how,
                stdout=subprocess.DEVNULL, stderr=open(data + ".log", "a"))))
        for t, p in tills:
            check(p.wait(timeout=300) == 0, "till %s: exit %s, see %s.log" % (
                t, p.returncode, os.path.join(d, t)))
        dbs = [os.path.join(d, t, "journal.db") for t in runs]

        def native():
            p, last = reconcile(kafka.bootstrap, dbs, check_rc=None)
            return last == "missing=0 duplicates=0 mismatched=0", p.stdout[-1500:]
        settled(native, "posedge-ctl reconcile on the native topics")

        for topic in ("pos.sales", "pos.inventory", "pos.reports"):
            check(committed(kafka.bootstrap, topic), "native: %s is empty" % topic)

        events = [e for db in dbs for e in journal_events(db)]
        check(any(e["type"] == "return" for e in events), "the tills made a return")
        for topic, per_event in JSON_EXPECT.items():
            want = Counter()
            for e in events:
                if per_event(e):
                    want[e["id"]] += per_event(e)

            read = {}

            def all_there():
                read["recs"] = committed(kafka.bootstrap, topic)
                n = len(read["recs"])
                return n == sum(want.values()), "%d records, the journals imply %d" % (
                    n, sum(want.values()))
            settled(all_there, topic)
            recs = read["recs"]
            got = Counter(h.get("id") for h, _ in recs)
            check(recs, "%s is empty" % topic)
            check(got == want, "%s: records per event differ from the journals: %s" % (
                topic, list(((got - want) + (want - got)).items())[:5]))
            check(all(h.get("profile") == topic + "-json" for h, _ in recs),
                  "%s: profile header" % topic)
            for _, v in recs:
                json.loads(v)
            print("# %s: %d records from %d events" % (topic, sum(got.values()), len(got)),
                  flush=True)
        check(not committed(kafka.bootstrap, "pos.dlq"), "no dead letters")
        failed = False
    finally:
        for _, p in tills:
            if p.poll() is None:
                p.kill()
                p.wait()
        for stop in ((lambda: bridge and bridge.stop()), (lambda: kafka and kafka.close(failed)),
                     mqtt.stop):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
