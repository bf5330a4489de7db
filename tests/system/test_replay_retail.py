#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 7, acceptance 3: an Online Retail file replayed through a till comes out of Kafka, on a
bridge's retail-json sink, as the rows that went in.

The test writes a small UCI Online Retail CSV (several invoices, multi-line ones, a quoted
Description with a comma, rows without CustomerID, a POST postage line, an AMAZONFEE row, and a
`C` cancellation of two items of an earlier invoice), derives its catalog with `posedge-ctl
replay-catalog --format online-retail --currency GBP`, and replays it with `posedge-agent
--replay` through the real mosquitto into a bridge whose sinks are native and retail-json
(Country from the sink's configuration) writing to a real Apache Kafka (tests/system/kafka.py).
Once the till has seen everything delivered (`--wait-delivered`), the retail topic is read
with kcat, isolation.level=read_committed, and compared with the input row by row: one record
per product row, with StockCode, Description, Quantity and UnitPrice (exact decimals) as in
the input, InvoiceDate the input's date and time as dd-MM-yyyy HH:mm:ss, and for the
cancellation a negative Quantity and an InvoiceNo starting with `C`.

InvoiceNo is not the input's. The till numbers its own receipts: retail-json's InvoiceNo is
`<seq>/<store>/<terminal>` of the journal event that the invoice became (`C<seq>/...` for a
return), and seq counts every event of the till (the replay's login and shift open come first),
so the input's 536365 is, say, `3/s001/t01`. What the test checks instead is the grouping: the
rows of one input invoice share one InvoiceNo, different invoices have different ones, their
numbers rise in the input's order, and each is the seq of a sale (or, with `C`, of a return) in
the till's journal. Non-product rows as docs/scenario.md ("Replaying datasets") maps them: POST
is sold as an ordinary line item, so it is a record like any product; AMAZONFEE is no till
activity and has no record, the rest of its invoice does. CustomerID travels as the sale's (or
return's) customer, keyed at the till, and comes back as the input's (null where the input has
none); Country is the sink's `country`. The native topics still reconcile with the journal.

A StockCode sold at another price (85123A at 2.55, then 2.95) is an item of its own in the
replay's catalog, `STOCK@PRICE` (`85123A@295`), because the till takes prices from its catalog;
retail-json reports the StockCode without that suffix, so the row comes back as the input's.
"""
import json
import os
import time
from datetime import datetime
from decimal import Decimal

from kafka import RealKafka
from lib import (BRIDGE_CONFIG, Bridge, Mosquitto, agent, check, ctl, journal_events, main,
                 reconcile, run, test, tmpdir)

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
ROWS = [
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "12/1/2010 8:26", "2.55", "17850", "United Kingdom"),
    ("536365", "71053", "WHITE METAL LANTERN, LARGE", "6", "12/1/2010 8:26", "3.39", "17850", "United Kingdom"),
    ("536365", "84406B", "CREAM CUPID HEARTS COAT HANGER", "8", "12/1/2010 8:26", "2.75", "17850", "United Kingdom"),
    ("536366", "22633", "HAND WARMER UNION JACK", "6", "12/1/2010 8:28", "1.85", "", "United Kingdom"),
    ("536366", "POST", "POSTAGE", "1", "12/1/2010 8:28", "18", "", "United Kingdom"),
    ("536367", "22960", "JAM MAKING SET WITH JARS", "2", "12/1/2010 8:40", "4.25", "13047", "United Kingdom"),
    ("536367", "AMAZONFEE", "AMAZON FEE", "1", "12/1/2010 8:40", "13.5", "", "United Kingdom"),
    ("536367", "22748", "POPPY'S PLAYHOUSE KITCHEN", "1", "12/1/2010 8:40", "2.1", "13047", "United Kingdom"),
    ("536368", "21730", "GLASS STAR FROSTED T-LIGHT HOLDER", "12", "12/1/2010 9:02", "4.95", "", "United Kingdom"),
    ("C536379", "71053", "WHITE METAL LANTERN, LARGE", "-2", "12/1/2010 9:41", "3.39", "17850", "United Kingdom"),
    ("C536379", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "-1", "12/1/2010 9:41", "2.55", "17850", "United Kingdom"),
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", "24", "12/1/2010 9:45", "3.75", "12583", "France"),
    ("536371", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "32", "12/1/2010 9:50", "2.95", "13748", "United Kingdom"),
]
SKIPPED = {"AMAZONFEE"}  # no till activity (docs/scenario.md)
COUNTRY = "United Kingdom"


def csv_field(s):
    return '"%s"' % s.replace('"', '""') if any(c in s for c in ',"\r\n') else s


def write_csv(path):
    with open(path, "w", newline="") as f:
        f.write(HEADER + "\r\n")
        for r in ROWS:
            f.write(",".join(csv_field(x) for x in r) + "\r\n")


def invoice_date(s):
    """Online Retail's M/d/yyyy H:mm as retail-json writes it: dd-MM-yyyy HH:mm:ss."""
    return datetime.strptime(s, "%m/%d/%Y %H:%M").strftime("%d-%m-%Y %H:%M:%S")


def retail_records(bootstrap, topic="retail"):
    """(key, headers, value with exact decimals) of every committed record, in offset order."""
    p = run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed", "-J"], timeout=120)
    check(p.returncode == 0, "kcat -C -t %s: %s" % (topic, p.stderr[-500:]))
    out = []
    for line in p.stdout.splitlines():
        m = json.loads(line)
        h = m.get("headers") or []
        out.append((m["key"], dict(zip(h[0::2], h[1::2])),
                    json.loads(m["payload"], parse_float=Decimal)))
    return out


def settled(attempt, what, timeout=60):
    """attempt() -> (ok, detail) until ok, for up to timeout seconds; Failure with the last
    detail if never. The till hears "delivered" once Kafka's transaction coordinator has logged
    the bridge's commit; the commit markers reach the partitions just after, and until then a
    read_committed reader stops before that transaction (the last stable offset)."""
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = attempt()
        if ok or time.monotonic() > deadline:
            check(ok, "%s: %s" % (what, detail))
            return
        time.sleep(0.5)  # polling interval of a condition with a deadline


@test
def online_retail_replayed_into_retail_json_matches_the_input():
    d = tmpdir("pe-replay-retail")
    csv = os.path.join(d, "online_retail.csv")
    write_csv(csv)
    cat = os.path.join(d, "catalog.json")
    p = ctl("replay-catalog", "--format", "online-retail", "--currency", "GBP", csv, check_rc=0)
    with open(cat, "w") as f:
        f.write(p.stdout)

    mqtt = Mosquitto(d).start()
    kafka = None
    bridge = None
    failed = True
    try:
        kafka = RealKafka(d).start()
        with open(BRIDGE_CONFIG) as f:
            cfg = json.load(f)
        cfg["sinks"] = [{"profile": "native"},
                        {"profile": "retail-json", "topic": "retail", "country": COUNTRY}]
        cfg_path = os.path.join(d, "bridge.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        bridge = Bridge(d, mqtt.addr, kafka.bootstrap)
        bridge.args[2] = cfg_path
        bridge.start()

        till = os.path.join(d, "t01")
        r = agent(till, "--terminal", "t01", "--mqtt", mqtt.addr,
                  "--set", "catalog=" + cat, "--set", "currency=GBP",
                  "--replay-format", "online-retail", "--replay", csv,
                  "--wait-delivered", "180", check_rc=0)
        check("AMAZONFEE" in r.stderr, "the AMAZONFEE row is noted: %s" % r.stderr[-1000:])
        db = os.path.join(till, "journal.db")

        def native():
            p, last = reconcile(kafka.bootstrap, [db], check_rc=None)
            return last == "missing=0 duplicates=0 mismatched=0", p.stdout[-1500:]
        settled(native, "posedge-ctl reconcile")

        events = journal_events(db)
        seq_type = {e["seq"]: e["type"] for e in events}
        want = [r for r in ROWS if r[1] not in SKIPPED]
        read = {}

        def all_there():
            read["recs"] = retail_records(kafka.bootstrap)
            return len(read["recs"]) == len(want), "%d records for %d product rows:\n%s" % (
                len(read["recs"]), len(want),
                "\n".join(json.dumps(v, default=str) for _, _, v in read["recs"]))
        settled(all_there, "the retail topic")
        recs = read["recs"]

        # Row by row, in the input's order (one till: one key, one partition, seq order).
        for row, (key, h, v) in zip(want, recs):
            inv, stock, desc, qty, date, price, _cust, _country = row
            what = "row %s %s: %s" % (inv, stock, json.dumps(v, default=str))
            check(key == "s001/t01" and h.get("profile") == "retail-json", what)
            check(v["StockCode"] == stock, what)
            check(v["Description"] == desc, what)
            check(v["Quantity"] == int(qty), what)
            check(isinstance(v["UnitPrice"], (int, Decimal)) and Decimal(v["UnitPrice"]) == Decimal(price),
                  what)
            check(v["InvoiceDate"] == invoice_date(date), what + " vs " + invoice_date(date))
            check(v["CustomerID"] == (_cust or None), what)
            check(v["Country"] == COUNTRY, what)
            # InvoiceNo: C<seq>/s001/t01 for the cancellation (a return event), <seq>/s001/t01
            # for a sale; the seq is the till's, not the input's number.
            no = v["InvoiceNo"]
            is_return = inv.startswith("C")
            check(no.startswith("C") == is_return, what)
            seq_s, store, term = no.lstrip("C").split("/")
            check((store, term) == ("s001", "t01"), what)
            check(seq_type.get(int(seq_s)) == ("return" if is_return else "sale"),
                  "%s: journal seq %s is %s" % (what, seq_s, seq_type.get(int(seq_s))))
            check(int(qty) < 0 if is_return else int(qty) > 0, what)
            check(h.get("type") == ("return" if is_return else "sale") and h.get("seq") == seq_s,
                  "%s headers %r" % (what, h))

        # Grouping: one InvoiceNo per input invoice, distinct across invoices, in input order.
        by_input = {}
        for row, (_, _, v) in zip(want, recs):
            by_input.setdefault(row[0], set()).add(v["InvoiceNo"])
        check(all(len(s) == 1 for s in by_input.values()), "one InvoiceNo per invoice: %r" % by_input)
        order = [next(iter(by_input[inv])) for inv in dict.fromkeys(r[0] for r in want)]
        check(len(set(order)) == len(order), "distinct InvoiceNos: %r" % order)
        seqs = [int(n.lstrip("C").split("/")[0]) for n in order]
        check(seqs == sorted(seqs), "InvoiceNos rise in the input's order: %r" % order)
        # The cancellation is a return against the sale that 536365 became.
        ret = [e for e in events if e["type"] == "return"]
        check(len(ret) == 1, "one return: %d" % len(ret))
        sale_no = next(iter(by_input["536365"]))
        check(ret[0]["body"]["original"]["seq"] == int(sale_no.split("/")[0]),
              "the return refers to %s: %r" % (sale_no, ret[0]["body"]["original"]))
        dlq = run(["kcat", "-C", "-b", kafka.bootstrap, "-t", "pos.dlq", "-o", "beginning", "-e",
                   "-q", "-X", "isolation.level=read_committed", "-f", "%h\\n"], timeout=60)
        check(dlq.returncode != 0 or not dlq.stdout.strip(), "dead letters: %s" % dlq.stdout[:500])
        failed = False
    finally:
        for stop in ((lambda: bridge and bridge.stop()), (lambda: kafka and kafka.close(failed)),
                     mqtt.stop):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
