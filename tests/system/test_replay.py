#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of dataset replay: posedge-ctl replay-catalog and posedge-agent --replay.

Each test writes small dataset files (UCI Online Retail, Databricks point-of-sale) into a fresh
temporary directory, derives the catalog from them, replays them through the real agent on the
sim board and compares the journal (posedge-ctl journal) with the input rows: one sale per
invoice with its lines, quantities, unit prices in minor units and event times; returns
against the right sale; stock receipts, adjustments and counts; bad rows named FILE:LINE on
stderr and skipped whole.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import agent, check, ctl, journal_events, main, test, tmpdir  # noqa: E402

OR_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
OR_ROWS = [
    '536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom',
    '536365,71053,"WHITE METAL LANTERN, LARGE",6,12/1/2010 8:26,3.39,17850,United Kingdom',
    '536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,,United Kingdom',
    '536366,POST,POSTAGE,1,12/1/2010 8:28,18,,United Kingdom',
    '536367,22632,HAND WARMER RED POLKA DOT,6,12/1/2010 8:34,1.85,13047,United Kingdom',
    '536367,84879,ASSORTED COLOUR BIRD ORNAMENT,3x2,12/1/2010 8:34,1.69,13047,United Kingdom',
    '536368,22960,JAM MAKING SET WITH JARS,2,12/1/2010 8:40,4.25,13047,United Kingdom',
    '536368,AMAZONFEE,AMAZON FEE,1,12/1/2010 8:40,13.5,,United Kingdom',
    'C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,12/1/2010 9:41,2.55,17850,United Kingdom',
    'C536380,99999,NEVER SOLD,-1,12/1/2010 9:42,1.00,17850,United Kingdom',
]


def write(d, name, lines, bom=False, crlf=True):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        data = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
        f.write((b"\xef\xbb\xbf" if bom else b"") + data.encode())
    return path


def replay(d, fmt, files, currency, *extra):
    cat = os.path.join(d, "catalog.json")
    p = ctl("replay-catalog", "--format", fmt, "--currency", currency, *files, check_rc=0)
    with open(cat, "w") as f:
        f.write(p.stdout)
    json.loads(p.stdout)
    data = os.path.join(d, "till")
    args = ["--set", "catalog=" + cat, "--set", "currency=" + currency, "--replay-format", fmt]
    for f in files:
        args += ["--replay", f]
    r = agent(data, *(args + list(extra)), check_rc=0)
    return journal_events(os.path.join(data, "journal.db")), r.stderr, json.loads(p.stdout)


def lines_of(ev):
    return [(l["item"], l["qty"], l["unit_price"]) for l in ev["body"]["lines"]]


@test
def online_retail():
    d = tmpdir("pe-replay")
    f = write(d, "online_retail.csv", [OR_HEADER] + OR_ROWS, bom=True)
    ev, err, cat = replay(d, "online-retail", [f], "GBP")
    sales = [e for e in ev if e["type"] == "sale"]
    returns = [e for e in ev if e["type"] == "return"]
    check(len(sales) == 3, "sales: %s" % [lines_of(e) for e in sales])
    check(lines_of(sales[0]) == [("85123A", 6, 255), ("71053", 6, 339)], lines_of(sales[0]))
    check(sales[0]["ts"] == "2010-12-01T08:26:00.000Z", sales[0]["ts"])
    check(sales[0]["body"]["totals"]["total"] == 6 * 255 + 6 * 339, sales[0]["body"]["totals"])
    check(lines_of(sales[1]) == [("22633", 6, 185), ("POST", 1, 1800)], lines_of(sales[1]))
    check(sales[1]["ts"] == "2010-12-01T08:28:00.000Z", sales[1]["ts"])
    # The AMAZONFEE row is no till activity: the invoice sells the jam set alone.
    check(lines_of(sales[2]) == [("22960", 2, 425)], lines_of(sales[2]))
    check(sales[2]["ts"] == "2010-12-01T08:40:00.000Z", sales[2]["ts"])
    check(len(returns) == 1, "returns: %d" % len(returns))
    check(returns[0]["body"]["original"]["seq"] == sales[0]["seq"], returns[0]["body"]["original"])
    check(lines_of(returns[0]) == [("85123A", 2, 255)], lines_of(returns[0]))
    check(returns[0]["ts"] == "2010-12-01T09:41:00.000Z", returns[0]["ts"])
    # The malformed row is named with file and line, and its whole invoice is skipped.
    check("online_retail.csv:7: Quantity \"3x2\" is not an integer; invoice 536367 skipped" in err,
          err)
    check(not any(l[0] == "22632" for e in sales for l in lines_of(e)), "536367 half applied")
    check("online_retail.csv:9: note: invoice 536368: StockCode AMAZONFEE" in err, err)
    check("online_retail.csv:11: invoice C536380: no earlier replayed sale has StockCode 99999" in err,
          err)
    # The catalog: one item per StockCode and price, with valid EAN-13 barcodes.
    ids = {i["id"]: i for i in cat["items"]}
    check(ids["POST"]["category"] == "Service" and ids["POST"]["price"] == 1800, ids.get("POST"))
    check("AMAZONFEE" not in ids and "22632" not in ids, sorted(ids))
    check(cat["currency"] == "GBP", cat["currency"])


@test
def online_retail_clock_never_goes_back():
    d = tmpdir("pe-replay")
    rows = [
        "1,A1,ITEM A,1,2010-12-01 10:00:00,1.00,,UK",
        "2,A2,ITEM B,2,01-12-2010 09:00:00,0.5,,UK",
        "3,A1,ITEM A,1,12/1/2010 11:00,1.00,,UK",
        "3,A3,ITEM C,1,12/1/2010 11:00,0.005,,UK",
    ]
    f = write(d, "or.csv", [OR_HEADER] + rows, crlf=False)
    ev, err, _ = replay(d, "online-retail", [f], "GBP")
    sales = [e for e in ev if e["type"] == "sale"]
    check([e["ts"] for e in sales] == ["2010-12-01T10:00:00.000Z", "2010-12-01T10:00:00.000Z"],
          [e["ts"] for e in sales])
    check("or.csv:3: invoice 2 at 2010-12-01T09:00:00.000Z is earlier" in err, err)
    check("or.csv:5: UnitPrice \"0.005\" is not a whole number of minor units" in err, err)
    check(lines_of(sales[1]) == [("A2", 2, 50)], lines_of(sales[1]))


@test
def databricks():
    d = tmpdir("pe-replay")
    item = write(d, "item.csv", ["item_id,name,supplier_id,safety_stock_quantity",
                                 "1,Milk 1l,10,5", "2,\"Bread, rye\",11,3", "3,Eggs,10,2"])
    store = write(d, "store.csv", ["store_id,name", "1,Main St", "2,Harbour"])
    types = write(d, "inventory_change_type.csv", ["change_type_id,change_type", "1,sale",
                                                   "2,sale online", "3,restock", "4,shrink"])
    snap = write(d, "inventory_snapshot_1.csv", [
        "item_id,employee_id,store_id,date_time,quantity",
        "1,7,1,2021-01-01 00:00:00,40", "2,7,1,2021-01-01 00:00:00,12",
        "3,7,2,2021-01-01 00:00:00,99"])
    chg = write(d, "inventory_change_1.csv", [
        "trans_id,item_id,store_id,date_time,quantity,change_type_id",
        "{T1},1,1,2021-01-01 08:00:00,-2,1",
        "{T1},2,1,2021-01-01 08:00:00,-1,1",
        "{T2},3,2,2021-01-01 08:05:00,-1,1",
        "{T3},1,1,2021-01-01 09:00:00,24,3",
        "{T4},2,1,2021-01-01 10:00:00,-1,4",
        "{T5},3,1,2021-01-01 11:00:00,-1,9",
        "{T5},1,1,2021-01-01 11:00:00,-1,1",
    ])
    ev, err, cat = replay(d, "databricks", [item, store, types, snap, chg], "USD",
                          "--replay-store", "1")
    price = {i["id"]: i["price"] for i in cat["items"]}
    check(sorted(price) == ["1", "2", "3"], sorted(price))
    check(all(p % 100 == 99 for p in price.values()), price)
    kinds = [e["type"] for e in ev
             if e["type"] not in ("signer_installed", "shift_open", "shift_close", "z_report")]
    check(kinds == ["inventory_count", "sale", "inventory_receipt", "inventory_adjust"], kinds)
    sale = [e for e in ev if e["type"] == "sale"][0]
    check(lines_of(sale) == [("1", 2, price["1"]), ("2", 1, price["2"])], lines_of(sale))
    check(sale["ts"] == "2021-01-01T08:00:00.000Z", sale["ts"])
    check("inventory_change_1.csv:7: change_type_id 9 is not in inventory_change_type.csv" in err,
          err)
    check("rows of stores other than store_id 1 skipped" in err, err)


if __name__ == "__main__":
    main()
