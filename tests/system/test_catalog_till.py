#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the till's side of the catalog channels (agent/catalog_sync.c, the till's
catalog in its journal; docs/protocol.md "Catalog") against the real mosquitto broker, with a
fake bridge written here.

The fake bridge plays what posedge-bridge does for the tills: it keeps versions of the store's
catalog (documents in their normal form, catalog.h), publishes the retained version document
on posedge/v1/s001/bridge/catalog with the content hash computed here in Python (canonical
JSON of {"items":[...],"promotions":[...]} sorted by id, so the till's C implementation is
checked against an independent one), reads every till's catalog/get with one mosquitto_sub and
answers on the till's catalog/data, in chunks of 100 items: the full catalog, or the delta
since the version asked for. It can also misbehave on purpose: answer with a wrong hash, lose
a chunk, or announce a version holding an invalid document.

Covered: a first full transfer and a delta after it (requests since 0, then since 1); a
version with a bad document kept out, its reason in the state document's catalog.error, and
the next good version taken; a delta that does not lead to the announced hash (the till asks
for everything) and a lost chunk (asked again after catalog_sync.timeout_ms); a till offline
for three simulated days on the accelerated clock, whose prices change at the minute the
catalog said and not before although the link is down, catching up with one delta; and a
version that arrives while a basket is open, applied only once it is closed. Waits poll
against deadlines; nothing sleeps to synchronise.
"""
import hashlib
import json
import os
import queue
import re
import sqlite3
import subprocess
import threading
import uuid
from datetime import datetime, timedelta, timezone

from lib import (AGENT, CONFIG, CTL, SRC, Mosquitto, check, db_rows, main, run, test, tmpdir,
                 wait_until)

STORE = "s001"
TOPIC = "posedge/v1/%s/" % STORE
EPOCH = "1970-01-01T00:00:00.000Z"
CHUNK = 100


def canon(doc):
    """json.h's canonical form: sorted keys, no blanks, integers, UTF-8 as is."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(items, promos):
    text = ('{"items":[' + ",".join(canon(items[k]) for k in sorted(items)) +
            '],"promotions":[' + ",".join(canon(promos[k]) for k in sorted(promos)) + "]}")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def file_items():
    """The sim catalog's items as documents in normal form, by id."""
    with open(os.path.join(SRC, "boards", "sim", "catalog.json")) as f:
        cat = json.load(f)
    out = {}
    for it in cat["items"]:
        doc = {"v": 1, "id": it["id"], "barcodes": [it["barcode"]], "name": it["name"],
               "category": it["category"], "brand": it["brand"], "tax_bp": it["tax_bp"],
               "weighed": it["weighed"], "currency": cat["currency"],
               "prices": [{"price": it["price"], "effective_from": EPOCH,
                           "effective_to": None}]}
        for k in ("item_id", "supplier_id", "safety_stock"):
            if k in it:
                doc[k] = it[k]
        out[it["id"]] = doc
    return out


def promotion(pid, name, kind, target, start, **kw):
    doc = {"v": 1, "id": pid, "name": name, "kind": kind, "target": target, "from": start,
           "to": None, "priority": 0}
    doc.update(kw)
    return doc


class FakeBridge:
    """The catalog side of a store bridge, for the tills of one broker."""

    def __init__(self, broker, d):
        self.broker = broker
        self.d = d
        self.versions = {}   # version -> (items, promos), deep copies
        self.current = 0
        self.requests = []   # (terminal, since) as they came
        self.misbehave = {}  # version -> "bad_hash" | "lose_chunk" (once each)
        self.proc = None
        self.q = queue.Queue()
        self.start()

    # ---- the broker side ----

    def start(self):
        self.out = open(os.path.join(self.d, "bridge-gets.txt"), "a")
        self.probes = []
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-p", str(self.broker.port), "-q", "1", "-v", "-t",
             TOPIC + "+/catalog/get"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.worker = threading.Thread(target=self._serve, daemon=True)
        self.worker.start()
        # Subscribed once our own probe comes back.
        probe = "probe-%s" % uuid.uuid4()

        def probed():
            self.pub(TOPIC + "probe-till/catalog/get", json.dumps({"probe": probe}))
            return probe in self.probes
        wait_until(probed, 20, "the fake bridge's subscription")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.q.put(None)
        self.out.close()

    def pub(self, topic, payload, retain=False):
        # The payload on stdin (-s): a chunk of 500 items is longer than an argument may be.
        run(["mosquitto_pub", "-p", str(self.broker.port), "-q", "1", "-t", topic, "-s"] +
            (["-r"] if retain else []), timeout=30, check_rc=0, input=payload)

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            self.out.write(line)
            self.out.flush()
            try:
                msg = json.loads(payload)
            except ValueError:
                continue
            if "probe" in msg:
                self.probes.append(msg["probe"])
                continue
            self.q.put((topic.split("/")[3], msg))

    def _serve(self):
        while True:
            job = self.q.get()
            if job is None:
                return
            terminal, msg = job
            self.requests.append((terminal, msg.get("since")))
            try:
                self.answer(terminal, msg["req"], msg.get("since", 0))
            except Exception as e:  # a test that stops the broker may cut an answer short
                with open(os.path.join(self.d, "bridge-errors.txt"), "a") as f:
                    f.write("%r\n" % e)

    # ---- the catalog ----

    def publish(self, version, items, promos, announce=True):
        self.versions[version] = (json.loads(json.dumps(items)), json.loads(json.dumps(promos)))
        self.current = version
        if announce:
            self.announce()

    def announce(self):
        items, promos = self.versions[self.current]
        self.pub(TOPIC + "bridge/catalog", json.dumps({
            "v": 1, "version": self.current, "hash": content_hash(items, promos),
            "items": len(items), "promotions": len(promos),
            "ts": ts(datetime.now(timezone.utc))}), retain=True)

    def answer(self, terminal, req, since):
        version = self.current
        items, promos = self.versions[version]
        full = since not in self.versions or since == 0 or since > version
        if full:
            put_items, delisted = [items[k] for k in sorted(items)], []
            put_promos, removed = [promos[k] for k in sorted(promos)], []
        else:
            old_items, old_promos = self.versions[since]
            put_items = [items[k] for k in sorted(items) if old_items.get(k) != items[k]]
            delisted = sorted(k for k in old_items if k not in items)
            put_promos = [promos[k] for k in sorted(promos) if old_promos.get(k) != promos[k]]
            removed = sorted(k for k in old_promos if k not in promos)
        h = content_hash(items, promos)
        trick = self.misbehave.pop(version, None)
        if trick == "bad_hash" and not full:
            h = "0" * 64
        parts = [put_items[i:i + CHUNK] for i in range(0, len(put_items), CHUNK)] or [[]]
        topic = TOPIC + terminal + "/catalog/data"
        for i, part in enumerate(parts):
            if trick == "lose_chunk" and i == len(parts) - 1:
                continue
            last = i == len(parts) - 1
            self.pub(topic, json.dumps({
                "v": 1, "req": req, "version": version, "since": 0 if full else since,
                "full": full, "chunk": i, "chunks": len(parts), "hash": h, "items": part,
                "delisted": delisted if last else [], "promotions": put_promos if last else [],
                "removed": removed if last else [], "currency": "EUR"}))


class Till:
    """posedge-agent as a daemon on the sim board, its uplink on the broker."""

    def __init__(self, broker, d, *sets):
        self.broker = broker
        self.d = d
        self.sets = list(sets)
        self.proc = None

    def start(self):
        os.makedirs(self.d, exist_ok=True)
        self.logf = open(os.path.join(self.d, "agent.log"), "a")
        args = [AGENT, "-c", CONFIG, "--data-dir", self.d, "--mqtt", self.broker.addr,
                "--set", "fleet.state_interval_s=1", "--set", "catalog_sync.timeout_ms=1500"]
        for s in self.sets:
            args += ["--set", s]
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.logf.close()
        return self.proc.returncode

    def log(self):
        with open(os.path.join(self.d, "agent.log"), errors="replace") as f:
            return f.read()

    def events(self, type_=None):
        db = os.path.join(self.d, "journal.db")
        if not os.path.exists(db):
            return []
        q = "SELECT seq, type, CAST(record AS TEXT) FROM events"
        rows = db_rows(db, q + (" WHERE type = ?" if type_ else "") + " ORDER BY seq",
                       (type_,) if type_ else ())
        return [(s, t, json.loads(r)) for s, t, r in rows]

    def applied(self):
        return [r["body"] for _, _, r in self.events("catalog_applied")]

    def state(self):
        p = run(["mosquitto_sub", "-p", str(self.broker.port), "-t", TOPIC + "t01/state",
                 "-C", "1", "-W", "5"], timeout=30)
        try:
            return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {}
        except ValueError:
            return {}

    def catalog(self):
        return self.state().get("catalog") or {}


def idle_till(broker, d):
    """A till at night: the simulated shop opens hours later, so no basket is ever open."""
    return Till(broker, d, "sim.start=2026-03-02T01:00:00.000Z", "sim.speed=1",
                "sim.open_hour=8", "sim.close_hour=20").start()


def wait_version(till, version, timeout=60):
    def at():
        c = till.catalog()
        return c if c.get("version") == version and c.get("pending") is None else None
    return wait_until(at, timeout, "catalog version %d in the till's state" % version)


def setup(name):
    d = tmpdir(name)
    broker = Mosquitto(d).start()
    bridge = FakeBridge(broker, d)
    return d, broker, bridge


@test
def full_then_delta():
    d, broker, bridge = setup("pe-cat-full")
    till = None
    try:
        items = file_items()
        items["SKU-00001"]["prices"][0]["price"] = 1399
        bridge.publish(1, items, {})
        till = idle_till(broker, os.path.join(d, "t01"))
        c = wait_version(till, 1)
        check(c["hash"] == content_hash(items, {}) and c["error"] is None, c)
        # Version 2: a price, an item delisted, a new item, a promotion.
        items["SKU-00002"]["prices"] = [
            {"price": 1949, "effective_from": EPOCH, "effective_to": "2026-03-10T00:00:00.000Z"},
            {"price": 1849, "effective_from": "2026-03-10T00:00:00.000Z", "effective_to": None}]
        del items["SKU-00003"]
        items["SKU-NEW"] = dict(items["SKU-00004"], id="SKU-NEW", barcodes=["4006381333931"],
                                name="New item")
        promos = {"P-1": promotion("P-1", "Skincare 10%", "percent", {"category": "Skincare"},
                                   EPOCH, percent_bp=1000)}
        bridge.publish(2, items, promos)
        c = wait_version(till, 2)
        check(c["hash"] == content_hash(items, promos), c)
        check([s for t, s in bridge.requests] == [0, 1], "a full, then a delta: %r"
              % bridge.requests)
        applied = till.applied()
        check([(a["version"], a["previous"], a["items"], a["promotions"]) for a in applied] ==
              [(1, 0, len(file_items()), 0), (2, 1, len(items), 1)], applied)
        log = till.log()
        check("event=catalog.receiving" in log and "full=0 chunks=1" in log and
              re.search(r"version=1 since=0 full=1 chunks=3", log), log[-3000:])
        # The catalog is in the journal: what the till sells from.
        db = os.path.join(d, "t01", "journal.db")
        check(db_rows(db, "SELECT count(*) FROM catalog_items")[0][0] == len(items))
        check(db_rows(db, "SELECT item FROM catalog_barcodes WHERE barcode='4006381333931'") ==
              [("SKU-NEW",)])
        check(db_rows(db, "SELECT version, hash FROM catalog_state") ==
              [(2, content_hash(items, promos))])
        # posedge-ctl status: the CATALOG column.
        p = run([CTL, "status", "--mqtt", broker.addr, "--store", STORE], timeout=60,
                check_rc=0)
        head = p.stdout.splitlines()[0].split()
        row = [l.split() for l in p.stdout.splitlines() if l.startswith("t01 ")]
        check(head[-1] == "CATALOG" and row and row[0][-1] == "2", p.stdout)
        # A restart asks nothing: its version and hash are the bridge's.
        till.stop()
        n = len(bridge.requests)
        till.start()
        wait_until(lambda: "event=catalog.announced" in till.log().split("agent.start")[-1],
                   30, "the announcement after the restart")
        wait_version(till, 2)
        check(len(bridge.requests) == n, "asked again: %r" % bridge.requests[n:])
    finally:
        if till:
            till.stop()
        bridge.stop()
        broker.stop()


@test
def bad_version_kept_out():
    d, broker, bridge = setup("pe-cat-bad")
    till = None
    try:
        items = file_items()
        bridge.publish(1, items, {})
        till = idle_till(broker, os.path.join(d, "t01"))
        wait_version(till, 1)
        bad = json.loads(json.dumps(items))
        bad["SKU-00010"]["tax_bp"] = 20000
        bridge.publish(2, bad, {})

        def refused():
            c = till.catalog()
            return c if c.get("error") and c.get("pending") is None else None
        c = wait_until(refused, 60, "the refusal in the state document")
        check(c["version"] == 1, c)
        check("tax_bp: 20000 is outside 0..10000" in c["error"] and "items[" in c["error"], c)
        check("event=catalog.refused version=2" in till.log(), till.log()[-2000:])
        check([a["version"] for a in till.applied()] == [1], till.applied())
        # Announced again, the same version is not asked for again.
        n = len(bridge.requests)
        bridge.announce()
        p = run([CTL, "status", "--mqtt", broker.addr, "--store", STORE], timeout=60,
                check_rc=0)
        row = [l.split() for l in p.stdout.splitlines() if l.startswith("t01 ")]
        check(row and row[0][-1] == "1!", p.stdout)
        check(len(bridge.requests) == n, "the refused version was asked again")
        # The next good version goes in, and the error is gone.
        items["SKU-00010"]["prices"][0]["price"] += 100
        bridge.publish(3, items, {})
        c = wait_version(till, 3)
        check(c["error"] is None, c)
        check(bridge.requests[-1][1] == 1, "a delta from 1: %r" % bridge.requests)
    finally:
        if till:
            till.stop()
        bridge.stop()
        broker.stop()


@test
def bad_delta_and_lost_chunk_are_asked_again():
    d, broker, bridge = setup("pe-cat-retry")
    till = None
    try:
        items = file_items()
        bridge.misbehave[1] = "lose_chunk"
        bridge.publish(1, items, {})
        till = idle_till(broker, os.path.join(d, "t01"))
        wait_version(till, 1)
        check([s for t, s in bridge.requests] == [0, 0], bridge.requests)
        check("event=catalog.timeout" in till.log(), till.log()[-2000:])
        # A delta whose result is not the announced catalog: everything is asked for.
        items["SKU-00020"]["prices"][0]["price"] = 5
        bridge.misbehave[2] = "bad_hash"
        bridge.publish(2, items, {})
        wait_version(till, 2)
        check([s for t, s in bridge.requests] == [0, 0, 1, 0], bridge.requests)
        check("event=catalog.delta_refused" in till.log(), till.log()[-2000:])
        check([a["version"] for a in till.applied()] == [1, 2], till.applied())
    finally:
        if till:
            till.stop()
        bridge.stop()
        broker.stop()


@test
def an_answer_newer_than_the_announcement_is_applied_once():
    # HQ's change on two topics can make two versions in a row; the bridge announces at most
    # every 500 ms, so a till asking for the first gets the second. It applies it once and
    # asks nothing more, neither before the second's announcement nor after it.
    d, broker, bridge = setup("pe-cat-ahead")
    till = None
    try:
        items = file_items()
        bridge.publish(1, items, {})
        till = idle_till(broker, os.path.join(d, "t01"))
        wait_version(till, 1)
        items["SKU-00001"]["prices"][0]["price"] = 1299
        bridge.publish(2, items, {}, announce=False)
        promos = {"P-1": promotion("P-1", "Skincare 10%", "percent", {"category": "Skincare"},
                                   EPOCH, percent_bp=1000)}
        bridge.publish(3, items, promos, announce=False)
        i2, p2 = bridge.versions[2]
        bridge.pub(TOPIC + "bridge/catalog", json.dumps({
            "v": 1, "version": 2, "hash": content_hash(i2, p2), "items": len(i2),
            "promotions": 0, "ts": ts(datetime.now(timezone.utc))}), retain=True)
        wait_version(till, 3)
        bridge.announce()  # version 3, late; then a real change
        items["SKU-00002"]["prices"][0]["price"] = 999
        bridge.publish(4, items, promos)
        wait_version(till, 4)
        check([s for t, s in bridge.requests] == [0, 1, 3], bridge.requests)
        check([(a["version"], a["previous"]) for a in till.applied()] == [(1, 0), (3, 1), (4, 3)],
              till.applied())
    finally:
        if till:
            till.stop()
        bridge.stop()
        broker.stop()


@test
def offline_three_days_prices_change_at_the_minute_and_a_delta_catches_up():
    d, broker, bridge = setup("pe-cat-offline")
    till = None
    try:
        start = datetime(2026, 3, 2, 7, 55, tzinfo=timezone.utc)
        change = datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)  # day 2, shop open
        items = file_items()
        old = {k: v["prices"][0]["price"] for k, v in items.items()}
        for k, v in items.items():
            v["prices"] = [
                {"price": old[k], "effective_from": EPOCH, "effective_to": ts(change)},
                {"price": old[k] + 7, "effective_from": ts(change), "effective_to": None}]
        bridge.publish(1, items, {})
        # One simulated day in about 4 s.
        till = Till(broker, os.path.join(d, "t01"), "sim.start=" + ts(start),
                    "sim.speed=20000", "sim.tx_per_day=150").start()
        wait_version(till, 1)
        # The link goes down; HQ goes on: versions 2, 3 and 4 while the till is away.
        broker.stop()
        bridge.stop()
        later = json.loads(json.dumps(items))
        for v in (2, 3, 4):
            later["SKU-000%02d" % (10 + v)]["name"] += " v%d" % v
            bridge.publish(v, later, {}, announce=False)

        def sim_now():
            evs = till.events()
            return parse_ts(evs[-1][2]["ts"]) if evs else start
        wait_until(lambda: sim_now() >= start + timedelta(days=3), 180,
                   "three simulated days offline")
        check(till.applied()[-1]["version"] == 1, "nothing applied while offline")
        broker.start()
        bridge.start()
        bridge.announce()
        c = wait_version(till, 4, timeout=90)
        check(c["hash"] == content_hash(later, {}), c)
        check(bridge.requests[-1][1] == 1, "caught up with a delta from 1: %r"
              % bridge.requests)
        a = till.applied()[-1]
        check((a["version"], a["previous"]) == (4, 1), a)
        check(re.search(r"event=catalog.receiving req=\S+ version=4 since=1 full=0",
                        till.log()), till.log()[-3000:])
        # Every line sold before the change at the old price; the new one from the change's
        # minute on (the link was down then), as soon as a basket started after it.
        first_new, last_old_ok = None, True
        late = change + timedelta(minutes=15)
        n_before = n_after = 0
        for _, _, rec in till.events("sale"):
            t = parse_ts(rec["ts"])
            for line in rec["body"]["lines"]:
                p, o = line["unit_price"], old[line["item"]]
                # Version 0 (the file) until the first transfer, minutes into the first day;
                # version 1 across the change; 4 after the link came back.
                check(line["catalog_version"] in (0, 1, 4) and
                      (line["catalog_version"] != 0 or t < change),
                      "a line of %s with version %r" % (rec["ts"], line["catalog_version"]))
                if t < change:
                    last_old_ok &= p == o
                    n_before += 1
                elif t >= late:
                    check(p == o + 7, "%s at %s: %d, not the new %d" % (line["item"], rec["ts"],
                                                                         p, o + 7))
                    n_after += 1
                if p == o + 7 and (first_new is None or t < first_new):
                    first_new = t
        check(last_old_ok, "a line before the change was not at the old price")
        check(n_before > 20 and n_after > 20, "lines before %d, after %d" % (n_before, n_after))
        check(first_new is not None and change <= first_new < change + timedelta(minutes=10),
              "the new prices from %s, not at the change's minute (%s)" % (first_new, change))
    finally:
        if till:
            till.stop()
        bridge.stop()
        broker.stop()


@test
def a_version_waits_for_the_open_basket():
    d, broker, bridge = setup("pe-cat-busy")
    till = None
    try:
        items = file_items()
        bridge.publish(1, items, {})
        # A busy shop: customers follow each other, a basket is open most of the time.
        till = Till(broker, os.path.join(d, "t01"), "sim.start=2026-03-02T07:59:00.000Z",
                    "sim.speed=20", "sim.tx_per_day=3000", "sim.open_hour=8",
                    "sim.close_hour=20").start()
        wait_version(till, 1)
        wait_until(lambda: till.events("sale"), 60, "the first sale")
        deferred = None
        for v in range(2, 12):
            items["SKU-00001"]["prices"][0]["price"] += 1
            bridge.publish(v, items, {})
            wait_until(lambda: any(a["version"] == v for a in till.applied()), 60,
                       "version %d applied" % v)
            if "event=catalog.deferred version=%d:" % v in till.log():
                deferred = v
                break
        check(deferred, "no version met an open basket: %s" % till.log()[-3000:])
        # Deferred, then the basket ended with its commit, then the version was applied.
        log = till.log()
        i = log.index("event=catalog.deferred version=%d:" % deferred)
        j = log.index("event=till.catalog_applied version=%d " % deferred)
        between = log[i:j]
        check(re.search(r"event=till.commit seq=\d+ type=(sale|void|return) ", between),
              "no basket closed between the deferral and the application:\n%s" % between)
        # The sale that closed it was priced by the version before; the next by the new one.
        evs = till.events()
        k = [n for n, (_, t, r) in enumerate(evs)
             if t == "catalog_applied" and r["body"]["version"] == deferred][0]
        before = [r for _, t, r in evs[:k] if t == "sale"][-1]
        check(all(l["catalog_version"] == deferred - 1 for l in before["body"]["lines"]),
              before["body"]["lines"])
    finally:
        if till:
            till.stop()
        bridge.stop()
        broker.stop()


if __name__ == "__main__":
    main()
