#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System test of the bridge's Avro output profiles (docs/protocol.md, "Output profiles"):
inventory-avro and orders-avro next to native, from one spool, against a real Apache Kafka
broker (tests/system/kafka.py) and a real Schema Registry (Apicurio, tests/system/registry.py).

Every topic is read with kcat (raw key and value bytes) and decoded by a client that is not
posedge, exactly as the lakehouse pipelines do: Python's fastavro, in the venv of
scripts/pydeps.sh (run in a subprocess: the tests themselves use /usr/bin/python3), after
stripping the 5-byte Confluent header, with the writer schema fetched from the registry by the
id in that header. Each field is checked against the tills' journals (posedge-ctl journal).
Then the registry is stopped and the bridge restarted: more sales still reach Kafka, framed
with the ids the bridge kept in its spool.
"""
import json
import os
import subprocess
from datetime import datetime, timezone

from kafka import RealKafka
from lib import (BRIDGE_CONFIG, CTL, SIM_START, SRC, Bridge, Mosquitto, agent, check, db_rows, main,
                 run, test, tmpdir)
from registry import Registry

DAY = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")
CATALOG = os.path.join(SRC, "boards", "sim", "catalog.json")
TYPES = {"sale": 1, "restock": 2, "shrink": 3, "return": 4, "correction": 5}

# Run by the venv's python: kcat's "%K %S %h\n%k%s" stream on stdin, the registry URL as
# argv[1]; prints one JSON line per message: headers, schema ids, decoded key and value.
DECODER = r'''
import io, json, sys, struct, urllib.request
import fastavro
url, data, pos, cache = sys.argv[1], sys.stdin.buffer.read(), 0, {}
def schema(i):
    if i not in cache:
        with urllib.request.urlopen("%s/schemas/ids/%d" % (url, i), timeout=10) as r:
            cache[i] = fastavro.parse_schema(json.loads(json.loads(r.read())["schema"]))
    return cache[i]
def decode(b):
    if b is None:
        return None, None
    if len(b) < 5 or b[0] != 0:
        return None, b.decode()
    sid = struct.unpack(">I", b[1:5])[0]
    return sid, fastavro.schemaless_reader(io.BytesIO(b[5:]), schema(sid))
while pos < len(data):
    nl = data.index(b"\n", pos)
    kl, vl, hdr = data[pos:nl].decode().split(" ", 2)
    pos = nl + 1
    kl, vl = int(kl), int(vl)
    k = data[pos:pos + kl] if kl >= 0 else None
    pos += max(kl, 0)
    v = data[pos:pos + vl] if vl >= 0 else None
    pos += max(vl, 0)
    h = dict(x.split("=", 1) for x in hdr.split(",") if "=" in x)
    kid, key = decode(k)
    vid, val = decode(v)
    print(json.dumps({"headers": h, "key_id": kid, "key": key, "value_id": vid, "value": val}))
'''


def pydeps():
    p = run([os.path.join(SRC, "scripts", "pydeps.sh")], timeout=600, check_rc=0)
    return p.stdout.strip().splitlines()[-1]


def journal(db):
    return [json.loads(l) for l in run([CTL, "journal", db], check_rc=0).stdout.splitlines()]


def consume(py, bootstrap, url, topic):
    """Every committed record of topic, decoded by fastavro."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                        "-q", "-X", "isolation.level=read_committed", "-f", "%K %S %h\n%k%s"],
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        return []
    d = subprocess.run([py, "-c", DECODER, url], input=p.stdout, capture_output=True,
                       timeout=120)
    check(d.returncode == 0, "fastavro decoder: %s" % d.stderr.decode(errors="replace"))
    return [json.loads(l) for l in d.stdout.decode().splitlines()]


def digits(s):
    i = len(s)
    while i > 0 and s[i - 1].isdigit():
        i -= 1
    return int(s[i:])


def date_time(ts):
    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def expected(events):
    """(transactions, snapshots, orders) the journals call for, as sorted JSON texts."""
    txn, snap, orders = [], [], []
    for e in events:
        b, guid, dt = e["body"], "{%s}" % e["id"].upper(), date_time(e["ts"])
        kind = {"sale": "sale", "return": "return", "inventory_receipt": "restock",
                "inventory_adjust": "adjust"}.get(e["type"])
        if kind:
            # One record per (trans_id, item_id): an item's lines summed (the pipeline's key).
            qty = {}
            for l in b["lines"]:
                item = digits(l["item"])
                qty[item] = qty.get(item, 0) + (-l["qty"] if kind == "sale" else l["qty"])
            for item, q in qty.items():
                t = kind if kind != "adjust" else ("shrink" if q < 0 else "correction")
                txn.append({"trans_id": guid, "item_id": item, "store_id": 1,
                            "date_time": dt, "quantity": q, "change_type_id": TYPES[t]})
        if e["type"] == "inventory_count":
            for l in b["lines"]:
                snap.append({"item_id": digits(l["item"]), "employee_id": digits(e["operator"]),
                             "store_id": 1, "date_time": dt, "quantity": l["counted"]})
        if e["type"] == "sale":
            orders.append([{"order_id": int(e["id"].replace("-", "")[:15], 16),
                           "customer": b.get("customer_id", ""),
                           "description": ", ".join(l["name"] for l in b["lines"]),
                           "price": b["totals"]["total"] / 100,
                           "products": [{"name": l["name"], "price": l["amount"] / 100}
                                        for l in b["lines"]]}])
    return [sorted(json.dumps(x, sort_keys=True) for x in v) for v in (txn, snap, orders)]


def values(recs):
    return sorted(json.dumps(r["value"], sort_keys=True) for r in recs)


@test
def avro_sinks_decoded_by_fastavro_and_registry_outage():
    run(["bash", os.path.join(SRC, "scripts", "registry.sh"), "fetch"], timeout=900, check_rc=0)
    py = pydeps()
    d = tmpdir("pe-profiles-avro")
    mqtt = Mosquitto(d).start()
    kafka = RealKafka(d).start()
    reg = Registry(d)
    bridge = None
    failed = True
    try:
        reg.start()
        with open(BRIDGE_CONFIG) as f:
            cfg = json.load(f)
        cfg["sinks"] = [
            {"profile": "native"},
            {"profile": "inventory-avro", "registry_url": reg.url, "catalog": CATALOG,
             "store_name": "Lyon Part-Dieu"},
            {"profile": "orders-avro", "registry_url": reg.url},
        ]
        cfg_path = os.path.join(d, "bridge.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        bridge = Bridge(d, mqtt.addr, kafka.bootstrap)
        bridge.args[2] = cfg_path
        bridge.start()
        agent(os.path.join(d, "t01"), "--terminal", "t01", "--mqtt", mqtt.addr, "--shopper", "30",
              "--seed", "11", "--set", "sim.start=" + SIM_START, "--wait-delivered", "180",
              check_rc=0)
        agent(os.path.join(d, "t02"), "--terminal", "t02", "--mqtt", mqtt.addr, "--scenario", DAY,
              "--wait-delivered", "180", check_rc=0)
        events = journal(os.path.join(d, "t01", "journal.db")) + \
            journal(os.path.join(d, "t02", "journal.db"))
        by_id = {e["id"]: e for e in events}
        want_txn, want_snap, want_orders = expected(events)

        txn = consume(py, kafka.bootstrap, reg.url, "prod.inventory.transactions")
        snap = consume(py, kafka.bootstrap, reg.url, "prod.inventory.snapshots")
        orders = consume(py, kafka.bootstrap, reg.url, "orders.avro")
        check(values(txn) == want_txn, "transactions differ from the journals: got %d, want %d"
              " (first got %s, first want %s)" % (len(txn), len(want_txn), values(txn)[:1],
                                                   want_txn[:1]))
        check(values(snap) == want_snap and want_snap, "snapshots differ: %s vs %s"
              % (values(snap), want_snap))
        check(values(orders) == want_orders, "orders differ from the journals: %s vs %s"
              % (sorted(set(values(orders)) - set(want_orders))[:1],
                 sorted(set(want_orders) - set(values(orders)))[:1]))
        keys = [(r["value"]["trans_id"], r["value"]["item_id"]) for r in txn]
        check(len(set(keys)) == len(keys), "(trans_id, item_id) repeats: %d records, %d keys"
              % (len(keys), len(set(keys))))
        # Keys, ids in the header against the registry's latest version, headers.
        ids = {s: reg.latest(s)["id"] for s in ("prod.inventory.transactions-key",
                                                 "prod.inventory.transactions-value",
                                                 "orders.avro-value")}
        for r in txn:
            v, e = r["value"], by_id[r["headers"]["id"]]
            check(r["key"] == {k: v[k] for k in ("trans_id", "item_id", "store_id")},
                  "key %r of %r" % (r["key"], v))
            check(r["key_id"] == ids["prod.inventory.transactions-key"] and
                  r["value_id"] == ids["prod.inventory.transactions-value"], "schema ids %r" % r)
            check(v["trans_id"] == "{%s}" % e["id"].upper(), "trans_id %r" % v)
            check(r["headers"]["profile"] == "inventory-avro", "headers %r" % r["headers"])
        for r in snap:
            check(r["key"] == {k: r["value"][k] for k in ("item_id", "store_id", "date_time")},
                  "snapshot key %r" % r)
        for r in orders:
            e = by_id[r["headers"]["id"]]
            check(r["key"] == "%s/%s" % (e["store"], e["terminal"]) and r["key_id"] is None,
                  "orders key %r" % r["key"])
            check(r["value_id"] == ids["orders.avro-value"] and len(r["value"]) == 1,
                  "orders value %r" % r)

        # Master data, published at start.
        stores = consume(py, kafka.bootstrap, reg.url, "prod.stores")
        check([(r["key"], r["value"]) for r in stores][-1:] ==
              [(1, {"store_id": 1, "name": "Lyon Part-Dieu"})], "prod.stores %r" % stores)
        types = {r["value"]["change_type"]: r["value"]["change_type_id"]
                 for r in consume(py, kafka.bootstrap, reg.url, "prod.inventory.types")}
        check(types == TYPES, "prod.inventory.types %r" % types)
        with open(CATALOG) as f:
            cat = json.load(f)["items"]
        items = {r["key"]: r["value"] for r in consume(py, kafka.bootstrap, reg.url, "prod.items")}
        check(len(items) == len(cat) and all(items[digits(i["id"])]["name"] == i["name"]
                                             for i in cat), "prod.items: %d of %d" %
              (len(items), len(cat)))
        check(not consume(py, kafka.bootstrap, reg.url, "pos.dlq"), "no dead letters")
        for topic, recs in (("prod.inventory.transactions", txn), ("prod.inventory.snapshots", snap),
                            ("orders.avro", orders), ("prod.stores", stores)):
            print("    %s: key %s value %s" % (topic, json.dumps(recs[0]["key"]),
                                               json.dumps(recs[0]["value"])), flush=True)

        # The outage: the registry stops, the bridge restarts on the ids kept in its spool.
        bridge.stop()
        reg.stop()
        # Kept as the spool's metadata: key "avro/<subject>/<id>" (docs/protocol.md).
        kept = {k[len("avro/"):].rsplit("/", 1)[0]: int(k.rsplit("/", 1)[1])
                for (k,) in db_rows(os.path.join(bridge.dir, "spool.db"),
                                    "SELECT key FROM meta WHERE key LIKE 'avro/%' "
                                    "ORDER BY updated_ms")}
        for s, i in ids.items():
            check(kept.get(s) == i, "the spool keeps %s id %s: %r" % (s, i, kept))
        check(not reg.running(), "the registry is down")
        bridge.start()
        agent(os.path.join(d, "t01"), "--terminal", "t01", "--mqtt", mqtt.addr, "--shopper", "10",
              "--seed", "12", "--set", "sim.start=" + SIM_START, "--wait-delivered", "180",
              check_rc=0)
        events = journal(os.path.join(d, "t01", "journal.db")) + \
            journal(os.path.join(d, "t02", "journal.db"))
        want_txn, _, want_orders = expected(events)
        reg.start()  # only for decoding
        txn = consume(py, kafka.bootstrap, reg.url, "prod.inventory.transactions")
        orders = consume(py, kafka.bootstrap, reg.url, "orders.avro")
        check(values(txn) == want_txn, "after the outage: transactions %d, want %d"
              % (len(txn), len(want_txn)))
        check(values(orders) == want_orders, "after the outage: orders differ")
        check(bridge.logtext().count("event=bridge.start ") == 2, "the bridge started twice")
        failed = False
    finally:
        for stop in ((bridge.stop if bridge else None), kafka.close, mqtt.stop,
                     lambda: reg.close(failed)):
            try:
                if stop:
                    stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
