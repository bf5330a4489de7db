#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 7, acceptance 1: every output profile at once, from one run of tills.

One bridge (transactional, real mosquitto, real Apache Kafka from tests/system/kafka.py) has
every sink the bridge offers configured side by side: native, the three JSON profiles
(purchases-json, retail-json, orders-json) and the two Avro profiles (inventory-avro,
orders-avro). Three tills trade at the same time against it, two shoppers and the day scenario
(which has returns, voids, stock work and reports), each until it has seen everything
delivered. Then every profile's topic is read with kcat,
isolation.level=read_committed, and must be non-empty and hold exactly what the tills'
journals imply, counted per event id (the records' `id` header): one purchases-json record per
line of each sale, one retail-json record per line of each sale and return, one orders-json
record per sale. posedge-ctl reconcile passes on the native topics, and nothing is a dead
letter.

With them, the Avro profiles (inventory-avro, orders-avro) against a real Schema Registry
(tests/system/registry.py): every record on their topics carries the 5-byte Confluent header
with a schema id the registry holds for `<topic>-value` (and `<topic>-key` where the key is
Avro), there is one prod.inventory.transactions record per item of each stock-moving event
(sale, return, inventory_receipt, inventory_adjust: an item on two lines is one record, its
quantities summed), one prod.inventory.snapshots record per inventory_count
line and one orders.avro record per sale, counted per event id, and the master data topics are
not empty. A sample of each is decoded with fastavro (the venv of scripts/pydeps.sh, in a
subprocess) and its fields checked against the journals.
"""
import json
import os
import re
import struct
import subprocess
import time
from collections import Counter

from kafka import RealKafka
from lib import (AGENT, BRIDGE, BRIDGE_CONFIG, CONFIG, SIM_START, SRC, Bridge, Mosquitto, check,
                 journal_events, main, reconcile, run, test, tmpdir)
from registry import Registry

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

# ---- AVRO: inventory-avro and orders-avro, against a real Schema Registry ----
CATALOG = os.path.join(SRC, "boards", "sim", "catalog.json")
STOCK = ("sale", "return", "inventory_receipt", "inventory_adjust")


def avro_sinks(url):
    return [{"profile": "inventory-avro", "registry_url": url, "catalog": CATALOG,
             "store_name": "Lyon Part-Dieu"},
            {"profile": "orders-avro", "registry_url": url}]


# Per topic: whether the key is Avro, and the records it holds per journal event (None: master
# data, published at start, only required to be non-empty).
def item_id(item):
    """inventory-avro's item_id of a catalog without item_id fields: the id's trailing digits."""
    return int(re.search(r"(\d+)$", item).group(1))


def moved(e):
    """What inventory-avro makes of a stock-moving event: item_id -> quantity, lines summed."""
    q = {}
    for l in e["body"]["lines"]:
        i = item_id(l["item"])
        q[i] = q.get(i, 0) + (-l["qty"] if e["type"] == "sale" else l["qty"])
    return q


AVRO_EXPECT = {
    "prod.inventory.transactions":
        (True, lambda e: len(moved(e)) if e["type"] in STOCK else 0),
    "prod.inventory.snapshots":
        (True, lambda e: len(e["body"]["lines"]) if e["type"] == "inventory_count" else 0),
    "orders.avro": (False, lambda e: 1 if e["type"] == "sale" else 0),
    "prod.stores": (True, None),
    "prod.items": (True, None),
    "prod.inventory.types": (True, None),
}
SAMPLE = 5  # records per Avro topic decoded with fastavro

# Run by the venv's python: JSON lines {"key": hex|null, "value": hex} on stdin, the registry
# URL as argv[1]; prints each record's key and value decoded (writer schema fetched by id).
DECODER = r'''
import io, json, sys, struct, urllib.request
import fastavro
url, cache = sys.argv[1], {}
def decode(h):
    if h is None:
        return None
    b = bytes.fromhex(h)
    if len(b) < 5 or b[0] != 0:
        return b.decode()
    i = struct.unpack(">I", b[1:5])[0]
    if i not in cache:
        with urllib.request.urlopen("%s/schemas/ids/%d" % (url, i), timeout=10) as r:
            cache[i] = fastavro.parse_schema(json.loads(json.loads(r.read())["schema"]))
    return fastavro.schemaless_reader(io.BytesIO(b[5:]), cache[i])
for line in sys.stdin:
    m = json.loads(line)
    print(json.dumps({"key": decode(m["key"]), "value": decode(m["value"])}))
'''


def raw_committed(bootstrap, topic):
    """(headers, key bytes or None, value bytes) of every committed record of a topic."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                        "-q", "-X", "isolation.level=read_committed", "-f", "%K %S %h\n%k%s"],
                       capture_output=True, timeout=180)
    if p.returncode != 0:
        return []
    data, pos, out = p.stdout, 0, []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        kl, vl, hdr = data[pos:nl].decode().split(" ", 2)
        pos = nl + 1
        kl, vl = int(kl), int(vl)
        k = data[pos:pos + kl] if kl >= 0 else None
        pos += max(kl, 0)
        v = data[pos:pos + max(vl, 0)]
        pos += max(vl, 0)
        out.append((dict(x.split("=", 1) for x in hdr.split(",") if "=" in x), k, v))
    return out


def subject_ids(reg, subject):
    """Every schema id the registry holds under subject."""
    status, versions = reg.request("GET", "/subjects/%s/versions" % subject)
    check(status == 200 and versions, "registry: no versions of %s (HTTP %d)" % (subject, status))
    ids = set()
    for v in versions:
        status, ans = reg.request("GET", "/subjects/%s/versions/%d" % (subject, v))
        check(status == 200, "registry: %s version %d: HTTP %d" % (subject, v, status))
        ids.add(ans["id"])
    return ids


def schema_id(b):
    return struct.unpack(">I", b[1:5])[0] if b is not None and len(b) >= 5 and b[0] == 0 \
        else None


def decoded(py, url, recs):
    """The (key, value) of recs decoded by fastavro in the venv's python."""
    lines = "".join(json.dumps({"key": None if k is None else k.hex(), "value": v.hex()}) + "\n"
                    for _, k, v in recs)
    p = subprocess.run([py, "-c", DECODER, url], input=lines, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "fastavro decoder: %s" % p.stderr.strip()[-1500:])
    return [(m["key"], m["value"]) for m in map(json.loads, p.stdout.splitlines())]


def check_avro_sample(topic, recs, dec, by_id):
    """A few fields of the decoded records against the journal event named by their id."""
    for (h, _, _), (key, val) in zip(recs, dec):
        e = by_id.get(h.get("id"))
        if topic == "prod.inventory.transactions":
            check(val["trans_id"] == "{%s}" % e["id"].upper(), "%s: trans_id %r" % (topic, val))
            check(key == {k: val[k] for k in ("trans_id", "item_id", "store_id")},
                  "%s: key %r" % (topic, key))
            check(moved(e).get(val["item_id"]) == val["quantity"] and val["store_id"] == 1,
                  "%s: %r is not an item of %s %s" % (topic, val, e["type"], e["id"]))
        elif topic == "prod.inventory.snapshots":
            check(e["type"] == "inventory_count" and
                  val["quantity"] in [l["counted"] for l in e["body"]["lines"]],
                  "%s: %r is not a line of count %s" % (topic, val, e["id"]))
        elif topic == "orders.avro":
            b = e["body"]
            check(key == "%s/%s" % (e["store"], e["terminal"]), "%s: key %r" % (topic, key))
            check(len(val) == 1 and
                  val[0]["order_id"] == int(e["id"].replace("-", "")[:15], 16) and
                  round(val[0]["price"] * 100) == b["totals"]["total"] and
                  [p["name"] for p in val[0]["products"]] == [l["name"] for l in b["lines"]],
                  "%s: %r is not sale %s" % (topic, val, e["id"]))
        elif topic == "prod.stores":
            check(val == {"store_id": 1, "name": "Lyon Part-Dieu"}, "%s: %r" % (topic, val))


def check_avro(kafka, reg, py, events):
    by_id = {e["id"]: e for e in events}
    for topic, (avro_key, per_event) in AVRO_EXPECT.items():
        read = {}
        want = Counter()
        for e in events if per_event else ():
            if per_event(e):
                want[e["id"]] += per_event(e)

        def all_there():
            read["recs"] = raw_committed(kafka.bootstrap, topic)
            n = len(read["recs"])
            if per_event is None:
                return n > 0, "%d records" % n
            return n == sum(want.values()), "%d records, the journals imply %d" % (
                n, sum(want.values()))
        settled(all_there, topic)
        recs = read["recs"]
        check(recs, "%s is empty" % topic)
        vids = subject_ids(reg, topic + "-value")
        kids = subject_ids(reg, topic + "-key") if avro_key else set()
        for h, k, v in recs:
            check(schema_id(v) in vids, "%s: value header names schema id %s, the registry has "
                  "%s for %s-value" % (topic, schema_id(v), sorted(vids), topic))
            if avro_key:
                check(schema_id(k) in kids, "%s: key header names schema id %s, the registry "
                      "has %s for %s-key" % (topic, schema_id(k), sorted(kids), topic))
        if per_event:
            got = Counter(h.get("id") for h, _, _ in recs)
            check(got == want, "%s: records per event differ from the journals: %s" % (
                topic, list(((got - want) + (want - got)).items())[:5]))
            check(all(h.get("profile") in ("inventory-avro", "orders-avro") for h, _, _ in recs),
                  "%s: profile header" % topic)
        sample = recs[:SAMPLE]
        dec = decoded(py, reg.url, sample)
        check(len(dec) == len(sample), "%s: fastavro decoded %d of %d" % (
            topic, len(dec), len(sample)))
        check_avro_sample(topic, sample, dec, by_id)
        print("# %s: %d records%s, schema ids value %s%s; first decoded: %s" % (
            topic, len(recs), " from %d events" % len(want) if per_event else "",
            sorted(vids), " key %s" % sorted(kids) if avro_key else "",
            json.dumps(dec[0][1])[:160]), flush=True)


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
    run(["bash", os.path.join(SRC, "scripts", "registry.sh"), "fetch"], timeout=900, check_rc=0)
    py = run([os.path.join(SRC, "scripts", "pydeps.sh")], timeout=600,
             check_rc=0).stdout.strip().splitlines()[-1]
    d = tmpdir("pe-profiles-all")
    mqtt = Mosquitto(d).start()
    kafka = bridge = reg = None
    failed = True
    tills = []
    try:
        kafka = RealKafka(d).start()
        reg = Registry(d).start()
        with open(BRIDGE_CONFIG) as f:
            cfg = json.load(f)
        cfg["sinks"] = JSON_SINKS + avro_sinks(reg.url)
        cfg_path = os.path.join(d, "bridge.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        bridge = Bridge(d, mqtt.addr, kafka.bootstrap)
        bridge.args[2] = cfg_path
        bridge.start()

        start = ["--set", "sim.start=" + SIM_START]  # the scenario sets its own clock
        runs = {"t01": ["--shopper", "80", "--seed", "11"] + start,
                "t02": ["--shopper", "50", "--seed", "12"] + start,
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
        check_avro(kafka, reg, py, events)
        check(not committed(kafka.bootstrap, "pos.dlq"), "no dead letters")
        failed = False
    finally:
        for _, p in tills:
            if p.poll() is None:
                p.kill()
                p.wait()
        for stop in ((lambda: bridge and bridge.stop()), (lambda: kafka and kafka.close(failed)),
                     mqtt.stop, (lambda: reg and reg.close(failed))):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
