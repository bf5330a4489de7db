#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the store catalog's bridge side: HQ -> Kafka -> bridge -> MQTT.

HQ publishes with `posedge-ctl catalog publish` (or, for records the tool would refuse, with
kcat) into a real Kafka's compacted pos.catalog and pos.promotions; posedge-bridge consumes
them into its spool and serves them on the real mosquitto; a till is played by the mosquitto
CLI clients: mosquitto_sub reads the retained version document and the catalog/data answers,
mosquitto_pub sends catalog/get. The content hash is checked against one computed here from
the documents received (canonical JSON, docs/protocol.md).

One Kafka node serves the whole file; each test has its own store id (its own records, its own
bridge and broker), so the tests do not see each other's catalogs. Version numbers depend on
how the bridge cuts its batches, so two bridges are compared by content (hash, documents),
and a bridge killed again and again by its own version sequence: gapless, none made twice.
"""
import hashlib
import json
import os
import random
import select
import subprocess
import threading
import time
import uuid

from kafka import KCAT, REJECTS_TOPIC, RealKafka
from lib import (CTL, Bridge, Failure, Mosquitto, check, main, run, test, tmpdir,
                 wait_until)

T0 = "2026-01-01T00:00:00.000Z"
_node = None


def kafka():
    """The file's Kafka node, with the catalog topics, started on first use (and again after
    a test left it down)."""
    global _node
    if _node is None:
        _node = RealKafka(tmpdir("pe-catkafka"), catalog=True)
    if not _node.running():
        _node.start()
    return _node


def ean13(n):
    first = "2%011d" % n
    s = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first))
    return first + str((10 - s % 10) % 10)


def canonical(o):
    """posedge's canonical JSON (json.h) of documents made of ASCII strings and integers."""
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(items, promotions):
    body = canonical({"items": sorted(items, key=lambda d: d["id"]),
                      "promotions": sorted(promotions, key=lambda d: d["id"])})
    return hashlib.sha256(body.encode()).hexdigest()


class Store:
    """A store: its broker and bridge (catalog on), in a directory of its own."""

    def __init__(self, store, broker_extra=(), raise_queue=True):
        self.id = store
        self.dir = tmpdir("pe-cat-" + store)
        self.mqtt = Mosquitto(self.dir, extra=broker_extra)
        if not raise_queue:
            # mosquitto's defaults (max_queued_messages 1000): what a store broker has
            with open(self.mqtt.conf) as f:
                lines = [l for l in f if not l.startswith("max_queued_messages")]
            with open(self.mqtt.conf, "w") as f:
                f.writelines(lines)
        self.mqtt.start()
        self.bridges = []

    def bridge(self, name="bridge", *extra):
        b = Bridge(os.path.join(self.dir, name), self.mqtt.addr, kafka().bootstrap,
                   "--set", "store=" + self.id, "--set", "id=%s-%s" % (self.id, name),
                   "--set", "fleet.state_interval_s=60", *extra)
        self.bridges.append(b)
        return b.start()

    def close(self):
        for b in self.bridges:
            b.kill()
        self.mqtt.stop()

    def topic(self, terminal, channel):
        return "posedge/v1/%s/%s/%s" % (self.id, terminal, channel)

    def version(self):
        """The bridge's retained version document, or None."""
        p = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mqtt.port), "-V", "mqttv5",
                 "-t", self.topic("bridge", "catalog"), "-C", "1", "-W", "3"], timeout=20)
        try:
            return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        except ValueError:
            raise Failure("the version document is not JSON: %r" % p.stdout[:200])

    def wait_version(self, cond, what, timeout=180):
        got = {}

        def done():
            got["v"] = self.version()
            return got["v"] is not None and cond(got["v"])
        try:
            wait_until(done, timeout, what)
        except Failure:
            raise Failure("%s; the version document is %s" % (what, got.get("v")))
        return got["v"]

    def fetch(self, since, terminal="t01", timeout=180):
        """What a till gets for catalog/get since: (chunks in order, the merged answer). The
        till's session is persistent: subscribed first (mosquitto_sub -E returns once the
        broker has acknowledged), then asked, then read."""
        cid = "till-%s-%s" % (terminal, uuid.uuid4().hex[:8])
        sub_args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.mqtt.port), "-V", "mqttv5",
                    "-q", "1", "-c", "-i", cid, "-t", self.topic(terminal, "catalog/data")]
        run(sub_args + ["-E"], timeout=30, check_rc=0)
        req = uuid.uuid4().hex
        run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.mqtt.port), "-V", "mqttv5",
             "-q", "1", "-t", self.topic(terminal, "catalog/get"),
             "-m", json.dumps({"v": 1, "req": req, "since": since})], timeout=30, check_rc=0)
        sub = subprocess.Popen(["stdbuf", "-oL"] + sub_args, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        chunks, total = {}, None
        deadline = time.monotonic() + timeout
        try:
            while total is None or len(chunks) < total:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sub.stdout], [], [], left)[0]:
                    raise Failure("no whole answer to catalog/get since %d within %ds (%d of "
                                  "%s chunks)" % (since, timeout, len(chunks), total))
                text = sub.stdout.readline()
                check(text != "", "mosquitto_sub exited")
                c = json.loads(text)
                if c.get("req") != req:
                    continue
                check(c["chunk"] not in chunks, "chunk %d twice" % c["chunk"])
                chunks[c["chunk"]] = c
                total = c["chunks"]
        finally:
            sub.kill()
            sub.wait(timeout=30)
        got = [chunks[i] for i in range(total)]
        merged = {k: [] for k in ("items", "delisted", "promotions", "removed")}
        for c in got:
            for k in merged:
                merged[k] += c[k]
            for k in ("version", "since", "full", "hash", "currency"):
                check(c.get(k) == got[0].get(k), "chunks disagree on %s" % k)
            check(sum(len(c[k]) for k in merged) <= 500, "a chunk of more than 500 entries")
        for k in ("version", "since", "full", "hash", "currency"):
            merged[k] = got[0].get(k)
        return got, merged

    def publish(self, *files, check_rc=0):
        return run([CTL, "catalog", "publish", "--brokers", kafka().bootstrap] + list(files),
                   timeout=300, check_rc=check_rc)

    def status(self, check_rc=None):
        return run([CTL, "catalog", "status", "--mqtt", self.mqtt.addr, "--store", self.id],
                   timeout=60, check_rc=check_rc)

    def till_state(self, terminal, version, applied=T0, ts=None):
        """A till's retained state document; ts (its clock when written) only when given."""
        doc = {"state": "online", "catalog": {"version": version, "hash": "x",
                                              "applied": applied}}
        if ts:
            doc["ts"] = ts
        run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.mqtt.port), "-V", "mqttv5",
             "-q", "1", "-r", "-t", self.topic(terminal, "state"), "-m", json.dumps(doc)],
            timeout=30, check_rc=0)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


HEADER = ("store,id,barcodes,name,category,brand,tax_bp,weighed,currency,price,effective_from,"
          "effective_to\n")


def csv_rows(store, ids, price, start=0):
    """Rows of items ids (numbers) for store at price(n)."""
    return "".join("%s,SKU-%06d,%s,Item %d,Cat%d,Brand,2000,false,EUR,%d,%s,\n"
                   % (store, n, ean13(n + start), n, n % 7, price(n), T0) for n in ids)


def check_hash(merged):
    check(merged["hash"] == content_hash(merged["items"], merged["promotions"]),
          "the answer's hash is not the content hash of its documents")


@test
def publish_then_full_and_delta_answers():
    s = Store("s101")
    try:
        b = s.bridge()
        d = os.path.join(s.dir, "in")
        os.makedirs(d)
        first = write(os.path.join(d, "first.csv"), HEADER +
                      "s101,SKU-1,%s|%s,Soap,Care,Acme,2000,false,EUR,199,%s,"
                      "2026-06-01T00:00:00.000Z\n" % (ean13(1), ean13(2), T0) +
                      "s101,SKU-1,%s|%s,Soap,Care,Acme,2000,false,EUR,149,"
                      "2026-06-01T00:00:00.000Z,\n" % (ean13(1), ean13(2)) +
                      "s101,SKU-2,%s,\"Soup, tomato\",Soups,Acme,700,false,EUR,99,%s,\n"
                      % (ean13(3), T0) +
                      "s101,SKU-3,%s,Apples,Produce,Farm,700,true,EUR,349,%s,\n" % (ean13(4), T0))
        promo = write(os.path.join(d, "promo.jsonl"), json.dumps(
            {"scope": "s101", "v": 1, "id": "P-SOUP", "name": "3 for 2 soups", "kind": "n_for_m",
             "target": {"category": "Soups"}, "n": 3, "m": 2, "from": T0, "priority": 10}) + "\n")
        p = s.publish(first, promo)
        check("published items=3 promotions=1 deletions=0 rejected=0" in p.stdout, p.stdout)
        v1 = s.wait_version(lambda v: v["items"] == 3 and v["promotions"] == 1,
                            "version with 3 items and 1 promotion")
        check(v1["v"] == 1 and v1["version"] >= 1 and v1["ts"], "version document %s" % v1)

        chunks, full = s.fetch(0)
        check(full["full"] and full["version"] == v1["version"] and full["hash"] == v1["hash"],
              "full answer %s" % {k: full[k] for k in ("full", "version", "hash")})
        check(len(chunks) == 1 and full["currency"] == "EUR", "one chunk in EUR")
        check([i["id"] for i in full["items"]] == ["SKU-1", "SKU-2", "SKU-3"],
              "items %s" % [i["id"] for i in full["items"]])
        sku1 = full["items"][0]
        check([w["price"] for w in sku1["prices"]] == [199, 149]
              and sku1["prices"][1]["effective_to"] is None
              and sku1["barcodes"] == [ean13(1), ean13(2)], "SKU-1's two windows: %s" % sku1)
        check(full["items"][1]["name"] == "Soup, tomato" and full["items"][2]["weighed"] is True,
              "CSV quoting and weighed: %s" % full["items"][1:])
        check([p["id"] for p in full["promotions"]] == ["P-SOUP"], "the promotion")
        check_hash(full)

        # A change, a delisting and a removed promotion: the delta carries exactly those.
        change = write(os.path.join(d, "change.jsonl"), "\n".join(json.dumps(o) for o in [
            {"scope": "s101", "v": 1, "id": "SKU-2", "barcodes": [ean13(3)],
             "name": "Soup, tomato", "category": "Soups", "brand": "Acme", "tax_bp": 700,
             "weighed": False, "currency": "EUR", "price": 89, "effective_from": T0},
            {"scope": "s101", "id": "SKU-3", "delete": True},
            {"scope": "s101", "id": "P-SOUP", "type": "promotion", "delete": True}]) + "\n")
        p = s.publish(change)
        check("published items=1 promotions=0 deletions=2 rejected=0" in p.stdout, p.stdout)
        v2 = s.wait_version(lambda v: v["items"] == 2 and v["promotions"] == 0,
                            "version with 2 items and no promotion")
        check(v2["version"] > v1["version"], "the version rose")
        _, delta = s.fetch(v1["version"])
        check(not delta["full"] and delta["since"] == v1["version"], "a delta")
        check([i["id"] for i in delta["items"]] == ["SKU-2"]
              and delta["items"][0]["prices"][0]["price"] == 89, "changed %s" % delta["items"])
        check(delta["delisted"] == ["SKU-3"] and delta["removed"] == ["P-SOUP"]
              and delta["promotions"] == [], "deletions %s %s" % (delta["delisted"],
                                                                  delta["removed"]))
        _, full2 = s.fetch(0, terminal="t02")
        check(full2["full"] and [i["id"] for i in full2["items"]] == ["SKU-1", "SKU-2"],
              "full answer after the change")
        check_hash(full2)
        check(full2["hash"] == v2["hash"], "the answer's hash is the version's")
        _, none = s.fetch(v2["version"])
        check(not none["full"] and not any(none[k] for k in ("items", "delisted", "promotions",
                                                             "removed")),
              "nothing since the current version")

        # A file with refusals publishes nothing, and names file and line.
        bad = write(os.path.join(d, "bad.csv"), HEADER +
                    "s101,SKU-9,%s,Good,Care,Acme,2000,false,EUR,100,%s,\n" % (ean13(9), T0) +
                    "s101,SKU-8,123,Bad,Care,Acme,2000,false,EUR,100,%s,\n" % T0 +
                    "s101,SKU-7,%s,Bad,Care,Acme,2000,maybe,EUR,100,%s,\n" % (ean13(7), T0))
        p = s.publish(bad, check_rc=1)
        check("%s:3: item s101/SKU-8: barcodes[0]" % bad in p.stderr
              and "%s:4: weighed" % bad in p.stderr, "refusals: %s" % p.stderr)
        check("rejected=2: nothing published" in p.stdout, p.stdout)

        # catalog status: t01 current, t02 behind since it applied (how long ago in its own
        # clock, a simulated one: its state's ts, not this host's); then both current.
        s.till_state("t01", v2["version"], "2026-03-01T10:00:00.000Z")
        s.till_state("t02", v1["version"], "2026-02-01T10:00:00.000Z",
                     ts="2026-02-01T10:03:04.500Z")
        s.till_state("t03", v2["version"], "2026-02-01T10:00:00.000Z",
                     ts="2026-02-03T12:00:00.000Z")
        p = s.status(check_rc=1)
        lines = {l.split()[0]: l for l in p.stdout.splitlines() if l.startswith("t0")}
        check("current" in lines.get("t01", "") and
              "behind by %d" % (v2["version"] - v1["version"]) in lines.get("t02", "")
              and "2026-02-01T10:00:00.000Z (3m04s ago)" in lines.get("t02", ""), p.stdout)
        check("2026-02-01T10:00:00.000Z (2d02h ago)" in lines.get("t03", ""), p.stdout)
        check("ago" not in lines.get("t01", ""), "no ts, no \"ago\": %s" % p.stdout)
        check("tills=3 current=2 behind=1 unknown=0" in p.stdout, p.stdout)
        s.till_state("t02", v2["version"])
        p = s.status(check_rc=0)
        check("catalog version %d" % v2["version"] in p.stdout, p.stdout)
        check("kafka_refused" not in b.logtext(), "the bridge's Kafka access")
    finally:
        s.close()


def served(logtext):
    """(version, full, entries) of every catalog.served line of a bridge's log."""
    out = []
    for l in logtext.splitlines():
        if "event=catalog.served " in l:
            f = dict(kv.split("=", 1) for kv in l.split() if "=" in kv)
            out.append((int(f["version"]), f["full"] == "true", int(f["entries"])))
    return out


def versions_made(logtext):
    """(version, items, promotions) of every catalog.version line of a bridge's log."""
    out = []
    for l in logtext.splitlines():
        if "event=catalog.version " in l:
            f = dict(kv.split("=", 1) for kv in l.split() if "=" in kv)
            out.append((int(f["version"]), int(f["items"]), int(f["promotions"])))
    return out


@test
def a_transaction_reaches_the_tills_whole():
    """HQ's one transaction of 4000 items and 300 promotions (both topics, every partition):
    no version the bridge makes, announces or serves holds part of it. A till-like observer
    reads every version document the bridge publishes and fetches the whole catalog again and
    again while the bridge reads the transaction; the bridge's log says what every version it
    made and every answer it sent held."""
    s = Store("s107")
    stop = threading.Event()
    fetched, errors = [], []
    try:
        d = os.path.join(s.dir, "in")
        os.makedirs(d)
        b = s.bridge()
        base_promo = {"scope": "s107", "v": 1, "id": "P-BASE", "name": "base", "kind": "percent",
                      "target": {"category": "Cat1"}, "percent_bp": 500, "from": T0}
        s.publish(write(os.path.join(d, "base.csv"),
                        HEADER + csv_rows("s107", range(5), lambda n: 100 + n)),
                  write(os.path.join(d, "base.jsonl"), json.dumps(base_promo) + "\n"))
        s.wait_version(lambda v: v["items"] == 5 and v["promotions"] == 1, "the base catalog")
        before, after = (5, 1), (4005, 301)

        # The observer: every version document from now on (the retained one first)...
        sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                                str(s.mqtt.port), "-V", "mqttv5", "-q", "1",
                                "-t", s.topic("bridge", "catalog")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        announced = []

        def read_versions():
            for line in sub.stdout:
                try:
                    announced.append(json.loads(line))
                except ValueError:
                    errors.append("not JSON: %r" % line)

        # ...and the whole catalog, fetched again and again.
        def fetch_loop(terminal):
            while not stop.is_set():
                try:
                    _, full = s.fetch(0, terminal=terminal, timeout=60)
                    fetched.append((full["version"], len(full["items"]),
                                    len(full["promotions"])))
                except Exception as e:  # reported below
                    errors.append("fetch: %s" % e)
                    return
        threads = [threading.Thread(target=read_versions, daemon=True)] + [
            threading.Thread(target=fetch_loop, args=("t%02d" % i,), daemon=True)
            for i in range(1, 4)]
        for t in threads:
            t.start()
        wait_until(lambda: announced and len(fetched) >= 3, 60, "the observer's first reads")

        items = csv_rows("s107", range(5, 4005), lambda n: 200 + n % 500)
        promos = "".join(json.dumps(dict(base_promo, id="P-%04d" % n, name="promo %d" % n,
                                         percent_bp=100 + n)) + "\n" for n in range(300))
        p = s.publish(write(os.path.join(d, "txn.csv"), HEADER + items),
                      write(os.path.join(d, "txn.jsonl"), promos))
        check("published items=4000 promotions=300 deletions=0 rejected=0" in p.stdout, p.stdout)
        s.wait_version(lambda v: (v["items"], v["promotions"]) == after, "the whole transaction")
        n = len(fetched)
        wait_until(lambda: len(fetched) >= n + 3 or errors, 120, "fetches after it")
        stop.set()
        for t in threads[1:]:
            t.join(timeout=120)
        sub.kill()
        sub.wait(timeout=30)
        threads[0].join(timeout=30)
        check(not errors, "observer: %s" % errors[:3])

        seen = [(v["items"], v["promotions"]) for v in announced]
        check(set(seen) <= {before, after} and seen[-1] == after,
              "a version document held part of the transaction: %s" % seen)
        got = [(i, pr) for _, i, pr in fetched]
        check(set(got) <= {before, after} and got[-1] == after,
              "a till fetched part of the transaction: %s" % got)
        made = versions_made(b.logtext())
        check(made and {(i, pr) for _, i, pr in made} <= {before, after},
              "the bridge made a version with part of the transaction: %s" % made)
        answers = served(b.logtext())
        check(answers and {e for _, full, e in answers if full} <= {sum(before), sum(after)},
              "the bridge served part of the transaction: %s" % sorted(set(answers)))
        print("    %d version documents, %d fetches, %d versions made" % (
            len(announced), len(fetched), len(made)), flush=True)
    finally:
        stop.set()
        s.close()


def kill9_items(batch):
    """The items of publish number batch (0..4): a range of ids that moves, prices that
    change with the batch, so a lost or doubled batch shows in the result."""
    return range(batch * 600, batch * 600 + 3000)


@test
def bridge_killed_while_consuming_loses_and_doubles_nothing():
    s = Store("s102")
    try:
        d = os.path.join(s.dir, "in")
        os.makedirs(d)
        expected = {}
        for batch in range(5):
            ids = kill9_items(batch)
            rows = csv_rows("s102", ids, lambda n: 1000 * batch + n % 1000)
            dels = ""
            if batch > 0:  # the first 100 of the batch before are delisted
                dels = "".join(json.dumps({"scope": "s102", "id": "SKU-%06d" % n,
                                           "delete": True}) + "\n"
                               for n in kill9_items(batch - 1)[:100])
            s.publish(write(os.path.join(d, "b%d.csv" % batch), HEADER + rows))
            for n in ids:
                expected["SKU-%06d" % n] = 1000 * batch + n % 1000
            if dels:
                s.publish(write(os.path.join(d, "d%d.jsonl" % batch), dels))
                for n in kill9_items(batch - 1)[:100]:
                    expected.pop("SKU-%06d" % n, None)

        # Kill the bridge at random points while it reads the 15,000 records and more: after
        # it committed a batch into its stage or made a version.
        rng = random.Random(14)
        b = s.bridge()
        logpath = b.logpath

        def batches():
            return sum(1 for l in open(logpath)
                       if "event=catalog.version " in l or "event=catalog.staged " in l)
        for round_ in range(4):
            target = batches() + rng.randint(1, 3)
            wait_until(lambda: batches() >= target
                       or "event=catalog.caught_up" in open(logpath).read(), 180,
                       "the bridge to commit a batch")
            b.kill()
            b.start()
            # The next kill is of a run that has begun: it logs where it starts from.
            wait_until(lambda: sum(1 for l in open(logpath) if "event=catalog.start " in l)
                       >= round_ + 2, 60, "the restarted bridge to start its catalog")
        v = s.wait_version(lambda v: v["items"] == len(expected), "every item", timeout=300)

        # What it serves is what was published...
        _, full = s.fetch(0)
        got = {i["id"]: i["prices"][0]["price"] for i in full["items"]}
        check(got == expected, "%d items served, %d expected; first differences: %s"
              % (len(got), len(expected),
                 sorted(set(got.items()) ^ set(expected.items()))[:5]))
        check_hash(full)
        check(full["hash"] == v["hash"], "the answer's hash is the version's")
        # ...each run went on from the version its predecessor left, one by one, and no
        # version was made twice (a kill between a commit and its log line leaves a version
        # unlogged: the next run starts after it)...
        made, hashes, cur, runs = [], [], None, 0
        for l in open(logpath):
            if "event=catalog.start " not in l and "event=catalog.version " not in l:
                continue
            n = int(l.split(" version=")[1].split()[0])
            if "event=catalog.start " in l:
                check(cur is None or n in (cur, cur + 1), "run %d starts at version %s after %s"
                      % (runs, n, cur))
                cur, runs = n, runs + 1
            elif "event=catalog.version " in l:
                check(n == cur + 1, "version %d made after %d" % (n, cur))
                made.append(n)
                hashes.append(l.split(" hash=")[1].split()[0])
                cur = n
        check(runs == 5 and len(made) == len(set(made)), "%d runs, versions %s" % (runs, made))
        # Every publish changes prices, so the catalog never returns to an earlier state: a
        # record applied again after a newer one would show as a hash seen before.
        check(len(hashes) == len(set(hashes)), "a catalog state came back: %s" % hashes)
        check(v["version"] == cur, "the retained version %d is the last made %d"
              % (v["version"], cur))
        # ...and a bridge that read everything in one go makes the same catalog.
        b.kill()
        clean = s.bridge("clean")
        wait_until(lambda: "event=catalog.caught_up" in clean.logtext()
                   and "items=%d" % len(expected) in clean.logtext(), 300,
                   "the clean bridge to read everything")
        v2 = s.wait_version(lambda x: x["items"] == len(expected), "the clean bridge's version")
        check(v2["hash"] == v["hash"], "a clean read makes the same catalog: %s vs %s"
              % (v2, v))
    finally:
        s.close()


@test
def kafka_away_the_bridge_serves_and_catches_up():
    s = Store("s103")
    k = kafka()
    try:
        d = os.path.join(s.dir, "in")
        os.makedirs(d)
        b = s.bridge()
        s.publish(write(os.path.join(d, "a.csv"),
                        HEADER + csv_rows("s103", range(5), lambda n: 100)))
        v1 = s.wait_version(lambda v: v["items"] == 5, "5 items")
        k.stop()
        try:
            _, full = s.fetch(0)  # served from the spool while Kafka is away
            check(full["version"] == v1["version"] and len(full["items"]) == 5,
                  "served while Kafka is away: %s" % full["version"])
            wait_until(lambda: "event=catalog.kafka_down" in b.logtext()
                       or "event=catalog.kafka_error" in b.logtext(), 120,
                       "the bridge to see Kafka gone")
        finally:
            k.start()
        s.publish(write(os.path.join(d, "b.csv"), HEADER + csv_rows("s103", range(5, 8),
                                                                       lambda n: 200)))
        v2 = s.wait_version(lambda v: v["items"] == 8, "the records published after Kafka came "
                            "back", timeout=240)
        check(v2["version"] > v1["version"], "a new version")
        _, delta = s.fetch(v1["version"])
        check(sorted(i["id"] for i in delta["items"]) == ["SKU-000005", "SKU-000006",
                                                          "SKU-000007"], "the delta")
    finally:
        s.close()


def kcat_produce(topic, key, value):
    run([KCAT, "-P", "-b", kafka().bootstrap, "-t", topic, "-K", "\t"],
        input="%s\t%s\n" % (key, value), timeout=60, check_rc=0)


def rejects():
    p = run([KCAT, "-C", "-b", kafka().bootstrap, "-t", REJECTS_TOPIC, "-o", "beginning", "-e",
             "-q", "-f", "%k\t%h\t%s\n"], timeout=60)
    out = []
    for line in p.stdout.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            out.append((parts[0], parts[1], json.loads(parts[2])))
    return out


@test
def malformed_records_go_to_rejects_and_never_to_a_till():
    s = Store("s104")
    try:
        good = {"v": 1, "id": "SKU-OK", "barcodes": [ean13(5)], "name": "Good", "category": "C",
                "brand": "B", "tax_bp": 0, "weighed": False, "currency": "EUR", "price": 5,
                "effective_from": T0}
        bad = [("s104/SKU-A", "{not json"),
                ("s104/SKU-B", json.dumps(dict(good, id="SKU-X"))),      # another id
                ("s104/SKU-C", json.dumps(dict(good, id="SKU-C", tax_bp=20000))),
                ("s104", json.dumps(dict(good, id="SKU-D"))),            # no id in the key
                ("*/SKU-E", json.dumps(dict(good, id="SKU-E", currency="euro")))]
        for key, val in bad:
            kcat_produce("pos.catalog", key, val)
        kcat_produce("pos.promotions", "s104/P-1", json.dumps({"v": 1, "id": "P-1", "name": "x",
                                                                "kind": "percent"}))
        kcat_produce("pos.catalog", "s999/SKU-F", "{another store's, not ours}")
        kcat_produce("pos.catalog", "s104/SKU-OK", json.dumps(good))
        b = s.bridge()
        v = s.wait_version(lambda v: v["items"] == 1, "the good item")
        _, full = s.fetch(0)
        check([i["id"] for i in full["items"]] == ["SKU-OK"] and full["promotions"] == [],
              "only the good item reaches a till: %s" % [i["id"] for i in full["items"]])
        check(full["hash"] == v["hash"], "hash")
        want = {k for k, _ in bad} | {"s104/P-1"}
        got = {}
        wait_until(lambda: got.update({k: (h, val) for k, h, val in rejects()}) or
                   want <= set(got), 120, "the rejects of %s" % sorted(want))
        check("s999/SKU-F" not in got, "another store's record is not this bridge's to refuse")
        for key in want:
            headers, val = got[key]
            check(headers.startswith("reason=") and val["reason"] in headers,
                  "%s: the reason header %r" % (key, headers))
            check(val["topic"] in ("pos.catalog", "pos.promotions") and val["partition"] >= 0
                  and val["offset"] >= 0 and isinstance(val["record"], str), "%s: %s" % (key, val))
        check(got["s104/SKU-A"][1]["record"] == "{not json", "the record as it came")
        check("id" in got["s104/SKU-B"][1]["reason"] and "tax_bp" in got["s104/SKU-C"][1]["reason"]
              and "key" in got["s104"][1]["reason"], "reasons: %s"
              % {k: got[k][1]["reason"] for k in want})
        refused = [l for l in b.logtext().splitlines() if "event=catalog.refused" in l]
        check(len(refused) == len(want), "each refusal logged once: %d" % len(refused))
    finally:
        s.close()


@test
def fifty_thousand_items_through_the_default_broker_limits():
    s = Store("s105", raise_queue=False)
    try:
        with open(s.mqtt.conf) as f:
            check("max_queued_messages" not in f.read(), "the broker keeps its default queue")
        n = 50000
        path = write(os.path.join(s.dir, "big.csv"),
                     HEADER + csv_rows("s105", range(n), lambda i: 100 + i % 900, start=500000))
        p = s.publish(path)
        check("published items=%d" % n in p.stdout, p.stdout)
        b = s.bridge()
        v = s.wait_version(lambda v: v["items"] == n, "%d items" % n, timeout=600)
        t0 = time.monotonic()
        chunks, full = s.fetch(0, timeout=600)
        took = time.monotonic() - t0
        check(len(chunks) == 100, "%d chunks, expected 100" % len(chunks))
        check(len(full["items"]) == n and len({i["id"] for i in full["items"]}) == n,
              "every item once")
        check_hash(full)
        check(full["hash"] == v["hash"], "the hash of the answer is the version's")
        print("    %d items in %d chunks (%d bytes) in %.1fs" % (
            n, len(chunks), sum(len(json.dumps(c)) for c in chunks), took), flush=True)
        check("catalog.serve_failed" not in b.logtext(), "served whole")
    finally:
        s.close()


@test
def catalog_over_sasl_ssl_with_the_fixtures_acls():
    """A managed-Kafka-like node: the bridge reads the catalog topics and writes its rejects
    with only the ACLs README lists, and HQ publishes with its own user."""
    d = tmpdir("pe-cat-sasl")
    k = RealKafka(d, security="sasl_ssl", bridge_id="s106-bridge")
    s = None
    try:
        k.start()
        s = Store("s106")
        sets = []
        for key, val in k.sasl.settings().items():
            sets += ["--set", "%s=%s" % (key, val)]
        b = Bridge(os.path.join(s.dir, "bridge"), s.mqtt.addr, k.bootstrap,
                   "--set", "store=s106", "--set", "id=s106-bridge", *sets)
        s.bridges.append(b)
        b.start()
        path = write(os.path.join(s.dir, "a.csv"), HEADER + csv_rows("s106", range(3),
                                                                     lambda n: 10 + n))
        p = run([CTL, "catalog", "publish", "--brokers", k.bootstrap,
                 "--security-protocol", "sasl_ssl", "--sasl-username", "hq",
                 "--sasl-password-file", k.sasl.password_file("hq"),
                 "--tls-ca-file", k.sasl.ca_file, path], timeout=300, check_rc=0)
        check("published items=3" in p.stdout, p.stdout)
        run([KCAT, "-P", "-b", k.admin_bootstrap, "-t", "pos.catalog", "-K", "\t"],
            input="s106/SKU-BAD\t{\"v\":1}\n", timeout=60, check_rc=0)
        v = s.wait_version(lambda v: v["items"] == 3, "3 items over SASL_SSL")
        _, full = s.fetch(0)
        check(full["hash"] == v["hash"] and len(full["items"]) == 3, "served")

        def rejected():
            p = run([KCAT, "-C", "-b", k.admin_bootstrap, "-t", REJECTS_TOPIC, "-o", "beginning",
                     "-e", "-q", "-f", "%k\n"], timeout=60)
            return "s106/SKU-BAD" in p.stdout.split()
        wait_until(rejected, 120, "the reject, written with the bridge's ACLs")
        text = b.logtext()
        check("catalog.kafka_refused" not in text and k.sasl.passwords["bridge"] not in text,
              "the bridge's catalog reader is let in, and says no secret")
    finally:
        if s:
            s.close()
        k.close()


@test
def a_barcode_of_another_item_is_refused_at_the_bridge():
    """HQ publishes item B with a barcode item A has in the store: the bridge refuses B (not
    the tills, which would refuse the whole version and stall the store) to the rejects topic,
    naming the barcode and A, and serves the rest of the transaction. A store record over a
    "*" one of the same item is no conflict; a barcode moved from one item to another in one
    transaction goes through. Last in the file, and its "*" records deleted at the end: every
    store of the file's Kafka would have them."""
    s = Store("s108")
    try:
        d = os.path.join(s.dir, "in")
        os.makedirs(d)
        b = s.bridge()

        def row(scope, item, code, price=100):
            return "%s,%s,%s,Item %s,Cat,Brand,2000,false,EUR,%d,%s,\n" % (
                scope, item, ean13(code), item, price, T0)
        s.publish(write(os.path.join(d, "a.csv"), HEADER + row("s108", "SKU-A", 1) +
                        row("*", "SKU-C", 5) + row("s108", "SKU-C", 5, 150)))
        v1 = s.wait_version(lambda v: v["items"] == 2, "A and C")

        mine = ["s108/SKU-%s" % i for i in "ABCDE"] + ["*/SKU-C", "*/SKU-F"]

        def refused():  # of this test's records (another test's bad "*" record is refused too)
            return [l for l in b.logtext().splitlines() if "event=catalog.refused" in l
                    and any('key="%s"' % k in l for k in mine)]
        check(not refused(), "a store record over \"*\" refused: %s" % refused())

        # B takes A's barcode, "*"/F takes C's; D is good: one transaction.
        s.publish(write(os.path.join(d, "b.csv"), HEADER + row("s108", "SKU-B", 1) +
                        row("*", "SKU-F", 5) + row("s108", "SKU-D", 4)))
        v2 = s.wait_version(lambda v: v["items"] == 3, "D")
        _, full = s.fetch(0)
        check(sorted(i["id"] for i in full["items"]) == ["SKU-A", "SKU-C", "SKU-D"],
              "served: %s" % [i["id"] for i in full["items"]])
        check(len({c for i in full["items"] for c in i["barcodes"]})
              == sum(len(i["barcodes"]) for i in full["items"]), "a barcode of two items served")
        check_hash(full)
        got = {}
        wait_until(lambda: got.update({k: val for k, _, val in rejects()})
                   or {"s108/SKU-B", "*/SKU-F"} <= set(got), 120, "the rejects of B and F")
        for key, code, other in (("s108/SKU-B", 1, "SKU-A"), ("*/SKU-F", 5, "SKU-C")):
            why = got[key]["reason"]
            check(ean13(code) in why and other in why, "%s: the reason %r" % (key, why))
            check(json.loads(got[key]["record"])["id"] == key.split("/")[1]
                  and got[key]["topic"] == "pos.catalog" and got[key]["offset"] >= 0,
                  "%s: %s" % (key, got[key]))
        check(len(refused()) == 2, "each refusal logged once: %s" % refused())

        # A's barcode moves to E (and A gets another) in one transaction: both go through.
        s.publish(write(os.path.join(d, "c.csv"), HEADER + row("s108", "SKU-E", 1) +
                        row("s108", "SKU-A", 7)))
        v3 = s.wait_version(lambda v: v["items"] == 4, "E")
        _, full = s.fetch(v2["version"])
        check({i["id"]: i["barcodes"] for i in full["items"]}
              == {"SKU-A": [ean13(7)], "SKU-E": [ean13(1)]}, "the move: %s" % full["items"])
        check(len(refused()) == 2, "the move refused: %s" % refused())
        check(v1["version"] < v2["version"] < v3["version"], "versions")
    finally:
        s.close()
        if _node is not None and _node.running():
            s.publish(write(os.path.join(s.dir, "undo.jsonl"), "".join(
                json.dumps({"scope": "*", "id": i, "delete": True}) + "\n"
                for i in ("SKU-C", "SKU-F"))), check_rc=None)


if __name__ == "__main__":
    try:
        main()
    finally:
        if _node is not None:
            _node.close()
