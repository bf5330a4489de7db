#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the bridge's output profiles (docs/protocol.md, "Output profiles") against a
real Apache Kafka broker: one bridge, one spool, four sinks side by side (native,
purchases-json, retail-json, orders-json). Every record is read back with kcat (librdkafka's
CLI, nothing of posedge) with isolation.level=read_committed and checked field by field against
the tills' journals; 5-minute tumbling windows by category and payment method over
purchases-json are checked against the journals and the Z report; posedge-ctl reconcile still
passes on the native topics; and a till whose clock is days behind has its records flagged
late, and routed to <topic>.late where the sink says so.

The tills' clocks never depend on the time of day the test runs at: the live tills trade
yesterday from 07:55 (sim.start; the simulated shop opens at 08:00 and the run ends long before
it closes), the late till the day scenario ten days ago, and every sink's lateness_s is three
days, between the two.
"""
import json
import os
import subprocess
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal

from kafka import RealKafka
from lib import (AGENT, BRIDGE_CONFIG, CONFIG, CTL, SRC, Bridge, DevKafka, Mosquitto, agent, check,
                 main, reconcile, run, sim_day, test, tmpdir)

LATENESS_S = 3 * 86400  # events of yesterday are on time, those of ten days ago late
SINKS = [
    {"profile": "native", "lateness_s": LATENESS_S},
    {"profile": "purchases-json", "late": "route", "lateness_s": LATENESS_S},
    {"profile": "retail-json", "country": "France", "lateness_s": LATENESS_S},
    {"profile": "orders-json", "source": "store", "lateness_s": LATENESS_S},
]
DAY = os.path.join(SRC, "tests", "system", "scenarios", "day.jsonl")


def journal(db):
    return [json.loads(l) for l in run([CTL, "journal", db], check_rc=0).stdout.splitlines()]


def records(bootstrap, topic):
    """(key, timestamp ms, headers dict, value dict) of every committed record of a topic."""
    p = run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed", "-J"], timeout=120)
    if p.returncode != 0:
        return []
    out = []
    for line in p.stdout.splitlines():
        m = json.loads(line)
        h = m.get("headers") or []
        out.append((m["key"], m["ts"], dict(zip(h[0::2], h[1::2])), json.loads(m["payload"])))
    return out


def ms_of(ts):
    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000 + 0.5)


def money(minor):
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))  # EUR: exactly two decimals


def count_of(line):
    return 1 if line["unit"] == "g" else line["qty"]


def price_of(line):
    return line["amount"] + line.get("discount", 0) if line["unit"] == "g" else line["unit_price"]


def payment_of(body):
    best = None
    for t in body.get("tenders", []):
        if best is None or t["amount"] > best["amount"]:
            best = t
    return best["method"] if best else None


def expected(events):
    """What each JSON profile must hold for the events of the tills (values as dicts)."""
    purchases, retail, orders = [], [], []
    for e in events:
        b, secs = e["body"], ms_of(e["ts"]) // 1000
        dt = datetime.fromtimestamp(secs, timezone.utc)
        if e["type"] == "sale":
            for l in b["lines"]:
                purchases.append({
                    "transaction_id": e["id"], "customer_id": None, "category": l["category"],
                    "brand": l["brand"], "product_name": l["name"], "quantity": count_of(l),
                    "price": money(price_of(l)), "payment_method": payment_of(b), "ts": secs,
                    "amount": money(l["amount"]), "weight_g": l["qty"] if l["unit"] == "g" else None,
                    "currency": b["currency"], "store": e["store"], "terminal": e["terminal"]})
            orders.append({"customer_id": None, "source": "store",
                           "quantity": sum(count_of(l) for l in b["lines"]),
                           "total": money(b["totals"]["total"]),
                           "created_at": dt.strftime("%m/%d/%Y, %H:%M:%S")})
        if e["type"] in ("sale", "return"):
            ret = e["type"] == "return"
            for l in b["lines"]:
                retail.append({
                    "InvoiceNo": "%s%d/%s/%s" % ("C" if ret else "", e["seq"], e["store"], e["terminal"]),
                    "StockCode": l["item"], "Description": l["name"],
                    "Quantity": -count_of(l) if ret else count_of(l),
                    "InvoiceDate": dt.strftime("%d-%m-%Y %H:%M:%S"), "UnitPrice": money(price_of(l)),
                    "CustomerID": None, "Country": "France"})
    return purchases, retail, orders


def canon(values):
    """A multiset of records, comparable whatever the order (decimals read exactly)."""
    return Counter(json.dumps(v, sort_keys=True, default=str) for v in values)


def exact(value_text):
    return json.loads(value_text, parse_float=Decimal)


def windows(purchases):
    """5-minute tumbling windows: (window start, category, payment method) -> amount."""
    w = defaultdict(Decimal)
    for p in purchases:
        w[(p["ts"] - p["ts"] % 300, p["category"], p["payment_method"])] += Decimal(p["amount"])
    return dict(w)


def late_scenario(d, days):
    """The day scenario on the day that was days ago (by the tills' clock), from 08:00."""
    path = os.path.join(d, "late-day.jsonl")
    with open(DAY) as f, open(path, "w") as out:
        for line in f:
            if '"do":"clock"' in line:
                line = '{"do":"clock","ts":"%s"}\n' % sim_day(-days, "08:00:00")
            out.write(line)
    return path


@test
def four_sinks_side_by_side_from_one_spool():
    d = tmpdir("pe-profiles")
    mqtt = Mosquitto(d).start()
    kafka = RealKafka(d).start()
    with open(BRIDGE_CONFIG) as f:
        cfg = json.load(f)
    cfg["sinks"] = SINKS
    cfg_path = os.path.join(d, "bridge.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    bridge = Bridge(d, mqtt.addr, kafka.bootstrap)
    bridge.args[2] = cfg_path
    try:
        # A till days behind trades before the bridge starts; two live tills after.
        late_till = os.path.join(d, "t03")
        t03 = subprocess.Popen([AGENT, "-c", CONFIG, "--data-dir", late_till, "--terminal", "t03",
                                "--mqtt", mqtt.addr, "--scenario", late_scenario(d, 10),
                                "--wait-delivered", "240"],
                               stdout=subprocess.DEVNULL, stderr=open(late_till + ".log", "a"))
        time.sleep(2)
        bridge.start()
        for i, (t, n) in enumerate({"t01": 60, "t02": 40}.items()):
            agent(os.path.join(d, t), "--terminal", t, "--mqtt", mqtt.addr, "--shopper", str(n),
                  "--seed", str(7 + i), "--set", "sim.start=" + sim_day(-1),
                  "--wait-delivered", "180", check_rc=0)
        check(t03.wait(timeout=240) == 0, "till t03 did not see everything delivered")
        dbs = {t: os.path.join(d, t, "journal.db") for t in ("t01", "t02", "t03")}

        # The native topics are what they always were.
        p, last = reconcile(kafka.bootstrap, list(dbs.values()))
        check(last == "missing=0 duplicates=0 mismatched=0", last)

        events = {t: journal(db) for t, db in dbs.items()}
        live = [e for t in ("t01", "t02") for e in events[t]]
        late = events["t03"]
        by_id = {e["id"]: e for t in events for e in events[t]}

        got = {}
        for topic in ("purchases", "purchases.late", "retail", "orders"):
            got[topic] = records(kafka.bootstrap, topic)
        # Values exactly (decimals as written), key and event time per record.
        for topic, recs in got.items():
            for key, ts, h, v in recs:
                e = by_id[h["id"]]
                check(key == "%s/%s" % (e["store"], e["terminal"]), "%s key %r" % (topic, key))
                check(ts == ms_of(e["ts"]), "%s timestamp %s vs %s" % (topic, ts, e["ts"]))
                check(h["seq"] == str(e["seq"]) and h["type"] == e["type"], "%s headers %r" % (topic, h))
                check(h["profile"] == topic.split(".")[0] + "-json", "profile header %r" % h)
                is_late = e["terminal"] == "t03"
                check(("late" in h) == is_late, "%s late header %r for %s" % (topic, h, e["terminal"]))
                if is_late:
                    check(h["late"] == "true" and int(h["lateness_s"]) > LATENESS_S, "late %r" % h)

        ep_live, er_live, eo_live = expected(live)
        ep_late, er_late, eo_late = expected(late)

        def vals(topic):
            # Re-read with exact decimals.
            p = run(["kcat", "-C", "-b", kafka.bootstrap, "-t", topic, "-o", "beginning", "-e",
                     "-q", "-X", "isolation.level=read_committed", "-f", "%s\n"], timeout=120)
            return [exact(l) for l in p.stdout.splitlines()] if p.returncode == 0 else []

        purchases, purchases_late = vals("purchases"), vals("purchases.late")
        check(canon(purchases) == canon(ep_live), "purchases differ from the journals: %s" %
              list((canon(purchases) - canon(ep_live)).items())[:2])
        check(canon(purchases_late) == canon(ep_late), "purchases.late differ from the journals")
        check(canon(vals("retail")) == canon(er_live + er_late), "retail differs from the journals")
        check(canon(vals("orders")) == canon(eo_live + eo_late), "orders differ from the journals")
        check(any(r["InvoiceNo"].startswith("C") and r["Quantity"] < 0 for r in vals("retail")),
              "a return in retail-json")
        # Prices are written as exact decimals with two places.
        raw = run(["kcat", "-C", "-b", kafka.bootstrap, "-t", "purchases", "-o", "beginning", "-e",
                   "-q", "-c", "1", "-f", "%s"], timeout=60).stdout
        check('"price":' in raw and "e" not in raw.split('"price":')[1].split(",")[0],
              "price printed as a plain decimal: %s" % raw)

        # 5-minute windows by category and payment method, from Kafka and from the journals.
        w_kafka = windows(purchases + purchases_late)
        w_journal = windows(ep_live + ep_late)
        check(w_kafka == w_journal, "windows differ")
        # Against the late till's Z report: the line amounts of its sales, less the basket
        # discounts, are the Z report's sales gross; its tenders by method match too when
        # no sale was paid by two methods (the day scenario has none after the refusals).
        z = [e for e in late if e["type"] == "z_report"][-1]["body"]
        lines_total = sum(Decimal(p["amount"]) for p in purchases_late)
        check(lines_total - money(z["sales"]["discount"]) == money(z["sales"]["gross"]),
              "purchases of t03 %s - discount %s != Z sales gross %s" %
              (lines_total, z["sales"]["discount"], z["sales"]["gross"]))
        by_method = defaultdict(Decimal)
        for p in purchases_late:
            by_method[p["payment_method"]] += Decimal(p["amount"])
        refunds = defaultdict(Decimal)
        for e in late:
            if e["type"] == "return":
                for r in e["body"]["refunds"]:
                    refunds[r["method"]] += money(r["amount"])
        for method, amount in z["tenders"].items():
            check(by_method[method] - refunds[method] == money(amount),
                  "Z tenders %s: %s, purchases %s less refunds %s" %
                  (method, money(amount), by_method[method], refunds[method]))

        # The native records of the late till carry the header; nothing is a dead letter.
        native = [r for r in records(kafka.bootstrap, "pos.sales") if r[2]["terminal"] == "t03"]
        check(native and all(r[2].get("late") == "true" for r in native), "native late header")
        check(not records(kafka.bootstrap, "pos.dlq"), "no dead letters")
        check("bridge.sink" in bridge.logtext(), "the sinks are logged at start")
    finally:
        for stop in (bridge.stop, kafka.close, mqtt.stop):
            try:
                stop()
            except Exception:
                pass


@test
def idempotent_mode_produces_every_sink():
    """kafka.mode=idempotent (output.c): an event's records of all sinks are delivered before the
    till hears delivered; against librdkafka's mock cluster."""
    d = tmpdir("pe-profiles-idem")
    mqtt = Mosquitto(d).start()
    kafka = DevKafka(d)
    with open(BRIDGE_CONFIG) as f:
        cfg = json.load(f)
    cfg["sinks"] = SINKS
    cfg_path = os.path.join(d, "bridge.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    bridge = Bridge(d, mqtt.addr, kafka.bootstrap, "--set", "kafka.mode=idempotent")
    bridge.args[2] = cfg_path
    try:
        bridge.start()
        agent(os.path.join(d, "t01"), "--terminal", "t01", "--mqtt", mqtt.addr, "--shopper", "30",
              "--seed", "3", "--set", "sim.start=" + sim_day(-1), "--wait-delivered", "120",
              check_rc=0)  # on time (SINKS): purchases-json routes late records elsewhere
        p, last = reconcile(kafka.bootstrap, [os.path.join(d, "t01", "journal.db")])
        check(last == "missing=0 duplicates=0 mismatched=0", last)
        ep, er, eo = expected(journal(os.path.join(d, "t01", "journal.db")))
        for topic, want in (("purchases", ep), ("retail", er), ("orders", eo)):
            got = records(kafka.bootstrap, topic)
            check(len(got) == len(want), "%s: %d records, journal says %d" % (topic, len(got), len(want)))
    finally:
        for stop in (bridge.stop, kafka.stop, mqtt.stop):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
