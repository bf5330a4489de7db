#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 14, acceptance 2: every sale line in Kafka is priced as HQ's catalog said.

The whole chain runs for real: a Kafka node (tests/system/kafka.py) with the compacted catalog
topics, mosquitto, posedge-bridge, and two tills (posedge-agent, the seeded shopper on the
accelerated clock from a fixed simulated start, never the time of the run). HQ publishes with
`posedge-ctl catalog publish` a catalog (every item of the sim catalog under `*`, some under
the store with another price, a promotion) before the tills start; once both trade it
publishes a second file: effective-dated price changes (in the simulated future) of `*` and
store records, promotions that start mid-day (percent, amount off, 3 for 2, one on an item
that a category deal also covers), a promotion removed, items delisted and a store override
delisted (the store falls back to the `*` record).

Then the check is made outside posedge, with kcat and this Python only: pos.catalog and
pos.promotions are read back and replayed into every catalog state the bridge may have made
(a state is a set of records; its content hash is docs/protocol.md's, computed here from the
records' values, which are the documents' canonical normal form), the tills' catalog_applied
events (pos.reports) say which hash each catalog version had, and every line of every sale in
pos.sales is joined with the item document of its line's catalog_version and checked: its unit
price is the price in force at its time, and its discount and price_source are what the
promotions in force then give (the promotions engine of docs/protocol.md, reimplemented here).

Which time. A line's price is fixed when the line is added and its promotion when the basket is
last priced (each line added or voided), by the till's clock; the sale's `ts` is its commit,
later. The records carry no line time, but the till commits nothing while a basket is open
(a catalog is applied between baskets), so every line of a sale was added, and the basket last
priced, at a time in [ts of the till's previous event, ts of the sale]: the previous event by
seq in pos.sales or pos.reports (where every event of a simulated till goes). A line is checked
against every price (and the sale against every promotion outcome) that holds at some time of
that interval: the interval's ends and every window boundary inside it. Most intervals contain
no boundary, so the check is exact for them; those that do are counted and must stay few.
"""
import calendar
import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import time

from kafka import KCAT, RealKafka
from lib import (AGENT, CONFIG, CTL, SRC, Bridge, Failure, Mosquitto, check, db_rows, main, run,
                 test, tmpdir, wait_until)

STORE = "s001"
TILLS = ("t01", "t02")
EPOCH = "1970-01-01T00:00:00.000Z"
# The simulated day: the shop opens at 08:00; the tills start 75 simulated minutes before (about
# 6 s at 720x), time enough to take HQ's catalog before the first customer.
SIM_START = "2026-03-02T06:45:00.000Z"
SPEED = 720
TX_PER_DAY = 720
CHANGE = "2026-03-02T09:30:00.000Z"    # prices change, the 3 for 2 and the percent start
PROMO_B = "2026-03-02T10:00:00.000Z"   # the item deal and the amount off start
PROMO_END = "2026-03-02T11:00:00.000Z"  # the percent and the amount off end
END = "2026-03-02T11:30:00.000Z"       # the tills are stopped once both are past this


def ms(ts):
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(ts[20:23])


FAR = 1 << 62  # an open end


# ---- the catalog HQ publishes ----

def file_items():
    with open(os.path.join(SRC, "boards", "sim", "catalog.json")) as f:
        cat = json.load(f)
    return cat["currency"], cat["items"]


def first_catalog(d):
    """The CSV of every item under `*` at the file's price, and under the store at +13 for
    every tenth item; a JSON-lines file with one promotion (20 off each Beverages unit)."""
    currency, items = file_items()
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["store", "id", "barcodes", "name", "category", "brand", "tax_bp", "weighed",
                "currency", "price", "effective_from", "effective_to"])
    for n, it in enumerate(items):
        for scope, price in [("*", it["price"])] + ([(STORE, it["price"] + 13)]
                                                     if n % 10 == 0 else []):
            w.writerow([scope, it["id"], it["barcode"], it["name"], it["category"], it["brand"],
                        it["tax_bp"], "true" if it["weighed"] else "false", currency, price,
                        EPOCH, ""])
    items_csv = os.path.join(d, "catalog.csv")
    with open(items_csv, "w") as f:
        f.write(out.getvalue())
    promos = os.path.join(d, "promotions.jsonl")
    with open(promos, "w") as f:
        f.write(json.dumps({"scope": "*", "v": 1, "id": "P-BEV-20", "name": "20 off drinks",
                            "kind": "amount", "target": {"category": "Beverages"}, "amount": 20,
                            "from": EPOCH, "priority": 0}) + "\n")
    return [items_csv, promos]


def item_doc(it, currency, prices):
    return {"v": 1, "id": it["id"], "barcodes": [it["barcode"]], "name": it["name"],
            "category": it["category"], "brand": it["brand"], "tax_bp": it["tax_bp"],
            "weighed": it["weighed"], "currency": currency, "prices": prices}


def change_file(d):
    """The second publish, made while the tills trade. Returns (path, {item: new price from
    CHANGE at the store}, delisted ids)."""
    currency, items = file_items()
    recs, changed, delisted = [], {}, []
    for n, it in enumerate(items):
        old = it["price"]
        if n % 7 == 0:  # a `*` price change (hidden at the store where a store record is)
            new = old * 9 // 10
            recs.append(dict(item_doc(it, currency, [
                {"price": old, "effective_from": EPOCH, "effective_to": CHANGE},
                {"price": new, "effective_from": CHANGE, "effective_to": None}]), scope="*"))
            if n % 10:
                changed[it["id"]] = new
        if n % 20 == 0:  # a store price change
            recs.append(dict(item_doc(it, currency, [
                {"price": old + 13, "effective_from": EPOCH, "effective_to": CHANGE},
                {"price": old + 113, "effective_from": CHANGE, "effective_to": None}]),
                scope=STORE))
            changed[it["id"]] = old + 113
        elif n % 10 == 0 and n % 30 == 0:  # the store override goes: the `*` record rules
            recs.append({"scope": STORE, "id": it["id"], "delete": True})
        elif n % 10 == 5 and n % 7 and len(delisted) < 3:  # delisted everywhere
            recs.append({"scope": "*", "id": it["id"], "delete": True})
            delisted.append(it["id"])
    first_skin = next(it["id"] for it in items if it["category"] == "Skincare")
    recs += [
        {"scope": "*", "v": 1, "id": "P-SKIN-3FOR2", "name": "3 for 2 skincare",
         "kind": "n_for_m", "target": {"category": "Skincare"}, "n": 3, "m": 2, "from": CHANGE,
         "priority": 5},
        {"scope": STORE, "v": 1, "id": "P-SNACK-15", "name": "15% off snacks", "kind": "percent",
         "target": {"category": "Snacks"}, "percent_bp": 1500, "from": CHANGE, "to": PROMO_END,
         "priority": 0},
        {"scope": "*", "v": 1, "id": "P-ITEM-25", "name": "25% off " + first_skin,
         "kind": "percent", "target": {"item": first_skin}, "percent_bp": 2500, "from": PROMO_B,
         "priority": 0},
        {"scope": "*", "v": 1, "id": "P-PRODUCE-30", "name": "30 off produce", "kind": "amount",
         "target": {"category": "Produce"}, "amount": 30, "from": PROMO_B, "to": PROMO_END,
         "priority": 0},
        {"scope": "*", "id": "P-BEV-20", "type": "promotion", "delete": True},
    ]
    path = os.path.join(d, "change.jsonl")
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    return path, changed, delisted


# ---- Kafka, read with kcat ----

def kcat_records(bootstrap, topic):
    """Every committed record of topic: dicts of kcat -J (topic, partition, offset, key,
    payload; payload None for a tombstone), in partition and offset order; None while kcat
    cannot read the topic."""
    try:
        p = subprocess.run([KCAT, "-C", "-J", "-b", bootstrap, "-t", topic, "-o", "beginning",
                            "-e", "-q", "-X", "isolation.level=read_committed"],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        return None
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return sorted(recs, key=lambda r: (r["partition"], r["offset"]))


def catalog_records(bootstrap):
    out = []
    for topic in ("pos.catalog", "pos.promotions"):
        recs = kcat_records(bootstrap, topic)
        if recs is None:
            return None
        out += recs
    return out


# ---- catalog states, rebuilt from the records ----

class State:
    """The records in force: {(kind, scope, id): raw value}. The store's catalog is each id's
    store record, else its `*` record."""

    def __init__(self, recs=None):
        self.recs = dict(recs or {})

    def apply(self, r):
        kind = "item" if r["topic"] == "pos.catalog" else "promotion"
        scope, _, ident = r["key"].partition("/")
        if r["payload"] is None:
            self.recs.pop((kind, scope, ident), None)
        else:
            self.recs[(kind, scope, ident)] = r["payload"]

    def effective(self, kind):
        out = {}
        for (k, scope, ident), raw in sorted(self.recs.items(), key=lambda kv: kv[0][1] != "*"):
            if k == kind and scope in ("*", STORE):
                out[ident] = raw  # the store's record comes last and wins
        return out

    def content_hash(self):
        items, promos = self.effective("item"), self.effective("promotion")
        text = ('{"items":[' + ",".join(items[k] for k in sorted(items)) +
                '],"promotions":[' + ",".join(promos[k] for k in sorted(promos)) + "]}")
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def states_of(publishes):
    """{hash: (label, State)} of every state the bridge may have made from the publishes in
    order: each publish is one transaction, but a bridge's batch is what its consumer had
    fetched, so besides the state after each publish, any mix of its partitions (records of
    one partition in offset order) over the state before it."""
    out = {}
    base = State()
    out[base.content_hash()] = ("empty", base)
    for k, recs in enumerate(publishes, 1):
        parts = sorted({(r["topic"], r["partition"]) for r in recs})
        for mask in range(1 << len(parts)):
            s = State(base.recs)
            for r in recs:
                if mask >> parts.index((r["topic"], r["partition"])) & 1:
                    s.apply(r)
            whole = mask == (1 << len(parts)) - 1
            h = s.content_hash()
            if h not in out or whole:
                out[h] = ("publish %d" % k if whole else "publish %d, partitions %s"
                          % (k, [parts[i] for i in range(len(parts)) if mask >> i & 1]), s)
        base = State(base.recs)
        for r in recs:
            base.apply(r)
    return out


# ---- the promotions engine, reimplemented from docs/protocol.md ("Promotions") ----

def muldiv(a, b, d):
    """a * b / d rounded half away from zero (money.h)."""
    p = a * b
    q, r = divmod(abs(p), d)
    if 2 * r >= d and r:
        q += 1
    return q if p >= 0 else -q


def active(p, t):
    return ms(p["from"]) <= t < (ms(p["to"]) if p.get("to") else FAR)


def matches(p, line):
    tgt = p["target"]
    return line["item"] == tgt["item"] if "item" in tgt else line["category"] == tgt["category"]


def is_group(p):
    return p["kind"] in ("n_for_m", "mix_match")


def better(va, a, vb, b):
    if b is None or va != vb:
        return b is None or va > vb
    if a["priority"] != b["priority"]:
        return a["priority"] > b["priority"]
    return a["id"] < b["id"]


def line_value(p, l):
    if p["kind"] == "percent":
        v = muldiv(l["before"], p["percent_bp"], 10000)
    else:  # amount: off each unit, per kg when weighed
        v = muldiv(p["amount"], l["qty"], 1000) if l["weighed"] else p["amount"] * l["qty"]
    return max(0, min(v, l["before"]))


def eval_group(lines, taken, p):
    """(total, discount per line, taken per line) of n_for_m p over the lines not taken."""
    n = len(lines)
    disc, take = [0] * n, [False] * n
    order = [i for i, l in enumerate(lines)
             if not taken[i] and not l["weighed"] and l["qty"] > 0 and matches(p, l)]
    check(p["kind"] == "n_for_m", "this test publishes no %s promotion" % p["kind"])
    groups = sum(lines[i]["qty"] for i in order) // p["n"]
    order.sort(key=lambda i: (-lines[i]["unit_price"], i))
    cur = used = 0
    for _ in range(groups):
        members, pos, free = [], 0, 0
        while pos < p["n"]:
            li = order[cur]
            l = lines[li]
            c = min(l["qty"] - used, p["n"] - pos)
            if not members or members[-1][0] != li:
                members.append([li, 0])
            lo, hi = max(pos, p["m"]), pos + c
            if hi > lo:  # positions m..n-1 of a group, its cheapest units, are free
                members[-1][1] += (hi - lo) * l["unit_price"]
                free += (hi - lo) * l["unit_price"]
            pos += c
            used += c
            if used == l["qty"]:
                cur, used = cur + 1, 0
        if free <= 0:
            continue
        for li, f in members:
            disc[li] += f
            take[li] = True
    disc = [max(0, min(v, lines[i]["before"])) for i, v in enumerate(disc)]
    return sum(disc), disc, take


def price_basket(lines, promos, t):
    """[(discount, price_source)] of each line with the promotions in force at t."""
    n = len(lines)
    live = [p for p in promos if active(p, t)]
    taken, used = [False] * n, set()
    disc, src = [0] * n, ["base"] * n
    while True:
        best = []
        for i, l in enumerate(lines):
            bv, bp = 0, None
            for p in live:
                if taken[i] or is_group(p) or not matches(p, l):
                    continue
                v = line_value(p, l)
                if v > 0 and better(v, p, bv, bp):
                    bv, bp = v, p
            best.append((bv, bp))
        g, g_net = None, 0
        for p in live:
            if p["id"] in used or not is_group(p):
                continue
            total, _, take = eval_group(lines, taken, p)
            if total == 0:
                continue
            net = total - sum(best[i][0] for i in range(n) if take[i])
            if net > 0 and better(net, p, g_net, g):
                g, g_net = p, net
        if g is None:
            break
        _, d, take = eval_group(lines, taken, g)
        for i in range(n):
            if take[i]:
                taken[i] = True
                disc[i] = d[i]
                src[i] = "promotion:" + g["id"] if d[i] > 0 else "base"
        used.add(g["id"])
    for i in range(n):
        if not taken[i] and best[i][1] is not None:
            disc[i], src[i] = best[i][0], "promotion:" + best[i][1]["id"]
    return list(zip(disc, src))


def price_at(doc, t):
    for w in doc["prices"]:
        if ms(w["effective_from"]) <= t < (ms(w["effective_to"]) if w["effective_to"] else FAR):
            return w["price"]
    return None


# ---- the processes ----

class Till:
    def __init__(self, d, terminal, mqtt, seed):
        self.d = os.path.join(d, terminal)
        self.terminal = terminal
        os.makedirs(self.d)
        self.log = open(os.path.join(d, terminal + ".log"), "a")
        self.proc = subprocess.Popen(
            [AGENT, "-c", CONFIG, "--data-dir", self.d, "--terminal", terminal, "--mqtt", mqtt,
             "--set", "sim.start=" + SIM_START, "--set", "sim.speed=%d" % SPEED,
             "--set", "sim.tx_per_day=%d" % TX_PER_DAY, "--set", "sim.seed=%d" % seed],
            stdout=self.log, stderr=self.log)
        self.db = os.path.join(self.d, "journal.db")

    def rows(self, sql, args=()):
        if self.proc.poll() is not None:
            raise Failure("till %s exited %s: see %s" % (self.terminal, self.proc.returncode,
                                                        self.log.name))
        try:
            return db_rows(self.db, sql, args) if os.path.exists(self.db) else []
        except sqlite3.OperationalError as e:  # a journal being made
            if "no such table" in str(e) or "locked" in str(e):
                return []
            raise

    def applied_hashes(self):
        return [json.loads(r)["body"]["hash"] for r, in self.rows(
            "SELECT CAST(record AS TEXT) FROM events WHERE type = 'catalog_applied'")]

    def last(self):
        """(seq, ts) of its last event, or (0, "")."""
        r = self.rows("SELECT seq, CAST(record AS TEXT) FROM events ORDER BY seq DESC LIMIT 1")
        return (r[0][0], json.loads(r[0][1])["ts"]) if r else (0, "")

    def delivered(self):
        r = self.rows("SELECT value FROM uplink WHERE key = 'delivered'")
        return r[0][0] if r else 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.log.close()


def bridge_version(mqtt):
    p = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mqtt.port), "-V", "mqttv5", "-t",
             "posedge/v1/%s/bridge/catalog" % STORE, "-C", "1", "-W", "2"], timeout=20)
    try:
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {}
    except ValueError:
        return {}


def publish(kafka, files, known):
    """posedge-ctl catalog publish; returns its records as read back from Kafka (those not in
    known, the records read before)."""
    p = run([CTL, "catalog", "publish", "--brokers", kafka.bootstrap] + files, timeout=120,
            check_rc=0)
    last = p.stdout.strip().splitlines()[-1]
    check(last.startswith("published ") and last.endswith(" rejected=0"), p.stdout)
    count = sum(int(kv.split("=")[1]) for kv in last.split()[1:4])
    got = []

    def read():
        recs = catalog_records(kafka.bootstrap) or []
        got[:] = [r for r in recs if (r["topic"], r["partition"], r["offset"]) not in known]
        return len(got) >= count
    wait_until(read, 60, "the %d records of %s in Kafka" % (count, files))
    check(len(got) == count, "%d records in Kafka, %s published" % (len(got), last))
    known.update((r["topic"], r["partition"], r["offset"]) for r in got)
    return got


# ---- the test ----

@test
def every_sale_line_is_priced_as_the_catalog_said():
    d = tmpdir("pe-cat-e2e")
    kafka = RealKafka(d, catalog=True)
    mqtt = bridge = None
    tills = []
    failed = True
    try:
        kafka.start()
        mqtt = Mosquitto(d).start()
        bridge = Bridge(d, mqtt.addr, kafka.bootstrap, "--set", "store=" + STORE).start()
        known, publishes = set(), []
        publishes.append(publish(kafka, first_catalog(d), known))
        s1 = states_of(publishes)
        h1 = [h for h, (label, _) in s1.items() if label == "publish 1"][0]
        wait_until(lambda: bridge_version(mqtt).get("hash") == h1, 60,
                   "the bridge to serve the first catalog")
        tills = [Till(d, t, mqtt.addr, seed) for seed, t in enumerate(TILLS, 1)]
        wait_until(lambda: all(t.applied_hashes()[-1:] == [h1] for t in tills), 60,
                   "both tills to apply the first catalog")

        # While the tills trade: the second file.
        wait_until(lambda: all(t.rows("SELECT 1 FROM events WHERE type = 'sale' LIMIT 1")
                               for t in tills), 60, "both tills to sell")
        path, changed, delisted = change_file(d)
        publishes.append(publish(kafka, [path], known))
        states = states_of(publishes)
        h2 = [h for h, (label, _) in states.items() if label == "publish 2"][0]
        wait_until(lambda: all(t.applied_hashes()[-1:] == [h2] for t in tills), 60,
                   "both tills to apply the second catalog")

        # Until both are past END; then until Kafka has everything they journaled by then.
        wait_until(lambda: all(t.last()[1] >= END for t in tills), 120,
                   "both tills past %s" % END)
        upto = [t.last()[0] for t in tills]
        wait_until(lambda: all(t.delivered() >= n for t, n in zip(tills, upto)), 60,
                   "the tills' events in Kafka")
        journal_sales = {}
        for t, n in zip(tills, upto):
            for i, in t.rows("SELECT id FROM events WHERE type = 'sale' AND seq <= ?", (n,)):
                journal_sales[i] = t.terminal
        for t in tills:
            t.stop()

        # ---- from here on, only what Kafka holds ----
        def place(r):
            return (r["topic"], r["partition"], r["offset"])
        check(sorted(map(place, catalog_records(kafka.bootstrap) or [])) ==
              sorted(map(place, publishes[0] + publishes[1])),
              "the catalog topics hold the two publishes and nothing else")
        events = {}  # terminal -> {seq: record}
        for topic in ("pos.sales", "pos.reports"):
            for r in kcat_records(kafka.bootstrap, topic) or []:
                ev = json.loads(r["payload"])
                check(r["key"] == "%s/%s" % (STORE, ev["terminal"]), "key %s" % r["key"])
                events.setdefault(ev["terminal"], {})[ev["seq"]] = ev
        sales = [ev for evs in events.values() for ev in evs.values() if ev["type"] == "sale"]
        missing = set(journal_sales) - {ev["id"] for ev in sales}
        check(not missing, "%d journaled sales not in pos.sales, e.g. %s"
              % (len(missing), sorted(missing)[:3]))

        # Which catalog each version was: the tills' catalog_applied (pos.reports), by hash.
        version_state, applied_at = {}, {}
        for term, evs in sorted(events.items()):
            applied = [ev for _, ev in sorted(evs.items()) if ev["type"] == "catalog_applied"]
            check(len(applied) >= 2 and applied[-1]["body"]["hash"] == h2,
                  "%s applied %s" % (term, [a["body"] for a in applied]))
            for a in applied:
                v, h = a["body"]["version"], a["body"]["hash"]
                check(h in states, "%s applied version %d, hash %s: no catalog HQ published"
                      % (term, v, h))
                check(version_state.setdefault(v, h) == h, "version %d has two hashes" % v)
            applied_at[term] = applied[-1]["ts"]
        check(sorted(applied_at) == sorted(TILLS), "catalog_applied of %s" % sorted(applied_at))

        n = dict(lines=0, promo=0, new_price=0, store_price=0, ambiguous_price=0,
                 ambiguous_promo=0, sales=0)
        kinds = {}
        for ev in sorted(sales, key=lambda e: (e["terminal"], e["seq"])):
            evs = events[ev["terminal"]]
            before = [s for s in evs if s < ev["seq"]]
            lo, hi = (ms(evs[max(before)]["ts"]) if before else ms(SIM_START)), ms(ev["ts"])
            where = "%s sale %d (%s)" % (ev["terminal"], ev["seq"], ev["ts"])
            lines = ev["body"]["lines"]
            versions = {l.get("catalog_version") for l in lines}
            check(len(versions) == 1, "%s: lines of versions %s" % (where, versions))
            v = versions.pop()
            check(isinstance(v, int) and v in version_state,
                  "%s: catalog_version %r, not a version a till applied" % (where, v))
            label, state = states[version_state[v]]
            items = {k: json.loads(x) for k, x in state.effective("item").items()}
            promos = [json.loads(x) for _, x in sorted(state.effective("promotion").items())]
            store_items = {i for (k, s, i) in state.recs if k == "item" and s == STORE}
            priced = []
            for l in lines:
                lw = "%s line %d (%s, version %d = %s)" % (where, l["line"], l["item"], v, label)
                check(isinstance(l.get("price_source"), str), "%s: no price_source" % lw)
                doc = items.get(l["item"])
                check(doc is not None, "%s: the item is not in that catalog" % lw)
                check(l["category"] == doc["category"] and l["tax_bp"] == doc["tax_bp"]
                      and l["barcode"] in doc["barcodes"], "%s: not the catalog's item: %s"
                      % (lw, doc))
                times = {lo, hi} | {ms(w[k]) for w in doc["prices"]
                                    for k in ("effective_from", "effective_to")
                                    if w[k] and lo < ms(w[k]) <= hi}
                prices = {price_at(doc, t) for t in times} - {None}
                check(l["unit_price"] in prices, "%s: unit price %d, the catalog said %s"
                      % (lw, l["unit_price"], sorted(prices)))
                n["ambiguous_price"] += len(prices) > 1
                weighed = l["unit"] == "g"
                check(weighed == doc["weighed"], "%s: unit %s" % (lw, l["unit"]))
                before_disc = (muldiv(l["unit_price"], l["qty"], 1000) if weighed
                               else l["unit_price"] * l["qty"])
                check(l["amount"] + l["discount"] == before_disc,
                      "%s: amount %d + discount %d is not %d" % (lw, l["amount"], l["discount"],
                                                                  before_disc))
                priced.append(dict(l, weighed=weighed, before=before_disc))
                n["lines"] += 1
                if l["item"] in changed and ms(ev["ts"]) >= ms(CHANGE) and \
                        l["unit_price"] == changed[l["item"]]:
                    n["new_price"] += 1
                if l["item"] in store_items:
                    n["store_price"] += 1
            # The promotions: what the engine gives at some time the basket was priced at.
            times = {lo, hi} | {ms(p[k]) for p in promos for k in ("from", "to")
                                if p.get(k) and lo < ms(p[k]) <= hi}
            outcomes = [price_basket(priced, promos, t) for t in sorted(times)]
            got = [(l["discount"], l["price_source"]) for l in lines]
            check(got in outcomes, "%s: lines (discount, source) %s; the promotions in force "
                  "give %s" % (where, got, outcomes))
            n["ambiguous_promo"] += len({json.dumps(o) for o in outcomes}) > 1
            listed = {p["id"]: p["amount"] for p in ev["body"].get("promotions", [])}
            sums = {}
            for disc, src in got:
                if src != "base":
                    pid = src.split(":", 1)[1]
                    sums[pid] = sums.get(pid, 0) + disc
                    kind = next(p["kind"] for p in promos if p["id"] == pid)
                    kinds[kind] = kinds.get(kind, 0) + 1
                    n["promo"] += 1
            check(listed == sums, "%s: promotions %s, the lines say %s" % (where, listed, sums))
            n["sales"] += 1

        print("    %s; promotion lines by kind %s; change applied at %s; versions %s" % (
            " ".join("%s=%d" % kv for kv in n.items()), kinds, applied_at,
            {v: states[h][0] for v, h in sorted(version_state.items())}), flush=True)
        check(n["lines"] > 500, "only %d lines joined" % n["lines"])
        check(n["new_price"] > 10, "only %d lines at a new price after the change"
              % n["new_price"])
        check(n["store_price"] > 10, "only %d lines of store-priced items" % n["store_price"])
        check(all(kinds.get(k, 0) > 0 for k in ("percent", "amount", "n_for_m")),
              "lines with a promotion of each kind: %s" % kinds)
        check(n["ambiguous_price"] + n["ambiguous_promo"] < n["lines"] // 20,
              "too many baskets across a change to be checked exactly: %s" % n)
        sold_delisted = {l["item"] for ev in sales if ev["ts"] > applied_at[ev["terminal"]]
                         for l in ev["body"]["lines"] if l["item"] in delisted}
        check(len(delisted) == 3 and not sold_delisted, "delisted %s sold" % sold_delisted)
        failed = False
    finally:
        for t in tills:
            t.stop()
        if bridge:
            bridge.kill()
        if mqtt:
            mqtt.stop()
        kafka.close(failed)


if __name__ == "__main__":
    main()
