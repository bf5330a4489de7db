#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make demo's prices from HQ (scripts/demo.sh): HQ's files and the check of what the tills did.

    demo-catalog.py catalog CATALOG_JSON STORE DAY DIR
        The store's catalog as HQ publishes it (posedge-ctl catalog publish): DIR/catalog.csv,
        every item of the board's catalog file at its price, and DIR/promotions.jsonl, the
        promotion that runs already (ONGOING: 3 for 2 on ONGOING_CATEGORY), both in force from
        DAY (YYYY-MM-DD) 00:00 UTC.
    demo-catalog.py change CATALOG_JSON STORE DAY CLOCK_MS OUT.jsonl
        HQ's change while the store trades (JSON lines): ITEM's price becomes NEW_PRICE and the
        promotion PROMO (PROMO_PERCENT_BP off every item of PROMO_CATEGORY) starts, both
        effective at the first full hour at least LEAD_H simulated hours after CLOCK_MS (the
        latest till clock, ms since the epoch): 5 to 6 s ahead at the demo's 3600x. Prints that
        time, then a line that says what changes. ITEM's record carries both price windows, the
        old one ending there and the new one from there (a record is the whole state of its
        item).
    demo-catalog.py check EFF VERSION RUN_DIR TERMINAL...
        Reads each till's journal (RUN_DIR/TERMINAL/journal.db) and receipts and checks: its
        last catalog_applied event is VERSION and none puts the version in force again; every
        sale line of ITEM is at the old price before EFF and at NEW_PRICE after it; every
        PROMO_CATEGORY line has PROMO after EFF and no line has it before; each till sold some
        of both after EFF. A sale whose basket may have begun before EFF (the till's previous
        event is before EFF, the sale after) is not judged: its lines were priced when they were
        scanned, which the journal does not record. Prints what it found and an excerpt of a
        receipt after EFF that shows the new price and the promotion; exit 1 with "FAILED: ..."
        lines when something does not hold.

Invariant: the constants below are the only place the demo's change is defined; the files and
the check both take them from here.
"""
import csv
import json
import os
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

ITEM = "SKU-00001"
NEW_PRICE = 1299
PROMO = "P-BEV-20"
PROMO_NAME = "20% off beverages"
PROMO_CATEGORY = "Beverages"
PROMO_PERCENT_BP = 2000
LEAD_H = 5
ONGOING = "P-SNACKS-3FOR2"
ONGOING_NAME = "3 for 2 on snacks"
ONGOING_CATEGORY = "Snacks"
TS_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts_str(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def ts_ms(s):
    dt = datetime.strptime(s, TS_FMT).replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def money(minor):
    return "%s%d.%02d" % ("-" if minor < 0 else "", abs(minor) // 100, abs(minor) % 100)


def load_items(path):
    with open(path) as f:
        cat = json.load(f)
    return cat["currency"], {it["id"]: it for it in cat["items"]}


def cmd_catalog(cat_path, store, day, out_dir):
    currency, items = load_items(cat_path)
    since = day + "T00:00:00.000Z"
    with open(os.path.join(out_dir, "promotions.jsonl"), "w") as f:
        f.write(json.dumps({"scope": store, "v": 1, "id": ONGOING, "name": ONGOING_NAME,
                            "kind": "n_for_m", "target": {"category": ONGOING_CATEGORY},
                            "n": 3, "m": 2, "from": since, "priority": 0}) + "\n")
    with open(os.path.join(out_dir, "catalog.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["store", "id", "barcodes", "name", "category", "brand", "tax_bp", "weighed",
                    "currency", "price", "effective_from", "effective_to"])
        for it in items.values():
            w.writerow([store, it["id"], it["barcode"], it["name"], it["category"], it["brand"],
                        it["tax_bp"], "true" if it["weighed"] else "false", currency,
                        it["price"], since, ""])
    return 0


def cmd_change(cat_path, store, day, clock_ms, out):
    currency, items = load_items(cat_path)
    it = items[ITEM]
    now = datetime.fromtimestamp(int(clock_ms) / 1000, timezone.utc)
    eff = (now + timedelta(hours=LEAD_H)).replace(minute=0, second=0, microsecond=0)
    if eff < now + timedelta(hours=LEAD_H):
        eff += timedelta(hours=1)
    eff_s = ts_str(eff)
    docs = [
        {"scope": store, "v": 1, "id": ITEM, "barcodes": [it["barcode"]], "name": it["name"],
         "category": it["category"], "brand": it["brand"], "tax_bp": it["tax_bp"],
         "weighed": it["weighed"], "currency": currency,
         "prices": [{"price": it["price"], "effective_from": day + "T00:00:00.000Z",
                     "effective_to": eff_s},
                    {"price": NEW_PRICE, "effective_from": eff_s, "effective_to": None}]},
        {"scope": store, "v": 1, "id": PROMO, "name": PROMO_NAME, "kind": "percent",
         "target": {"category": PROMO_CATEGORY}, "percent_bp": PROMO_PERCENT_BP,
         "from": eff_s, "priority": 10},
    ]
    with open(out, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    print(eff_s)
    print("%s %s %s -> %s; promotion %s \"%s\" (%s: %d%% off)" % (
        ITEM, it["name"], money(it["price"]), money(NEW_PRICE), PROMO, PROMO_NAME,
        PROMO_CATEGORY, PROMO_PERCENT_BP // 100))
    return 0


def receipt(path, terminal_key, seq):
    """The printed receipt of seq from a receipts file, as lines ("" when not there)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    mark = "Receipt %s #%d\n" % (terminal_key, seq)
    for block in text.split("=" * 42 + "\n"):
        if mark in block and "COPY" not in block:
            return block.rstrip("\n").split("\n")
    return []


def excerpt(lines, names):
    """The receipt's time, the item lines named (each with its quantity and discount lines),
    how many others there are, and everything from the promotions to the total."""
    out, other, i = [], 0, 0
    while i < len(lines) and not lines[i].startswith("---"):
        if " UTC" in lines[i]:
            out.append(lines[i].strip())
        i += 1
    i += 1
    while i < len(lines) and not lines[i].startswith(("---", "Promotions")):
        j = i + 1
        while j < len(lines) and lines[j].startswith("  "):
            j += 1
        if lines[i] in names:
            out.extend(lines[i:j])
        else:
            other += 1
        i = j
    if other:
        out.append("(%d other line%s)" % (other, "" if other == 1 else "s"))
    for ln in lines[i:]:
        if ln.startswith("Paid"):
            break
        if not ln.startswith("---"):
            out.append(ln)
    return out


def cmd_check(eff_s, version, run, terminals):
    eff = ts_ms(eff_s)
    currency, items = load_items(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                       "boards", "sim", "catalog.json"))
    old_price = items[ITEM]["price"]
    source = "promotion:" + PROMO
    failed = []
    totals = {"before": 0, "after": 0, "open": 0, "promo": 0, "saved": 0, "bad_price": 0,
              "bad_promo": 0, "ongoing": 0}
    best = None  # (score, terminal, store, seq, ts) of a receipt to show
    for t in terminals:
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run, t, "journal.db"), uri=True,
                             timeout=5)
        try:
            rows = db.execute("SELECT seq, type, ts_ms, record FROM events ORDER BY seq").fetchall()
        finally:
            db.close()
        applied = []
        prev_ts = None
        n_item_after = n_promo = 0
        for seq, typ, ts, rec in rows:
            opened, prev_ts = prev_ts, ts
            if typ == "catalog_applied":
                applied.append((json.loads(rec)["body"], ts))
                continue
            if typ != "sale":
                continue
            r = json.loads(rec)
            totals["ongoing"] += sum(ln.get("price_source") == "promotion:" + ONGOING
                                     for ln in r["body"]["lines"])
            if ts < eff:
                when = "before"
            elif opened is not None and opened >= eff:
                when = "after"
            else:
                totals["open"] += 1
                continue
            has_item = has_promo = False
            for ln in r["body"]["lines"]:
                where = "%s #%d line %d" % (t, seq, ln["line"])
                if ln["item"] == ITEM:
                    want = old_price if when == "before" else NEW_PRICE
                    if ln["unit_price"] != want:
                        totals["bad_price"] += 1
                        failed.append("%s: %s at %s, not %s (%s EFF, catalog version %s)" % (
                            where, ITEM, money(ln["unit_price"]), money(want), when,
                            ln.get("catalog_version")))
                    totals[when] += 1
                    has_item = has_item or when == "after"
                    n_item_after += when == "after"
                got = ln.get("price_source") == source
                if when == "before" and got:
                    totals["bad_promo"] += 1
                    failed.append("%s: %s before it started" % (where, PROMO))
                if when == "after" and ln["category"] == PROMO_CATEGORY:
                    if not got:
                        totals["bad_promo"] += 1
                        failed.append("%s: a %s line without %s (price_source %s, catalog "
                                      "version %s)" % (where, PROMO_CATEGORY, PROMO,
                                                       ln.get("price_source"),
                                                       ln.get("catalog_version")))
                    else:
                        n_promo += 1
                        totals["promo"] += 1
                        has_promo = True
            if when == "after":
                totals["saved"] += sum(p["amount"] for p in r["body"].get("promotions") or []
                                       if p["id"] == PROMO)
                score = 2 * has_item + has_promo
                if score and (best is None or score > best[0]):
                    names = {ln["name"] for ln in r["body"]["lines"]
                             if ln["item"] == ITEM or ln.get("price_source") == source}
                    best = (score, t, r["store"], seq, r["ts"], names)
        if not applied:
            failed.append("%s: no catalog_applied event in its journal" % t)
        else:
            print("  %s: catalog_applied %s" % (t, ", ".join(
                "v%d (%d items, %d promotion%s) at %s" % (
                    b["version"], b["items"], b["promotions"], "" if b["promotions"] == 1 else "s",
                    datetime.fromtimestamp(ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M"))
                for b, ts in applied)))
            again = [b["version"] for b, _ in applied if b["previous"] == b["version"]]
            if again:
                failed.append("%s: applied a version it had in force again (%s)" % (
                    t, ", ".join("v%d" % v for v in again)))
            if applied[-1][0]["version"] != version:
                failed.append("%s: its last catalog_applied is version %d, the bridge's is %d" % (
                    t, applied[-1][0]["version"], version))
        if not n_item_after:
            failed.append("%s: sold no %s after %s" % (t, ITEM, eff_s))
        if not n_promo:
            failed.append("%s: no line with %s after %s" % (t, PROMO, eff_s))
    print("  %s %s: %d lines before %s at %s, %d after it at %s, %d at another price" % (
        ITEM, items[ITEM]["name"], totals["before"], eff_s[11:16], money(old_price),
        totals["after"], money(NEW_PRICE), totals["bad_price"]))
    print("  %s \"%s\": on %d %s lines after %s (%s %s saved), %d lines wrong" % (
        PROMO, PROMO_NAME, totals["promo"], PROMO_CATEGORY, eff_s[11:16],
        money(totals["saved"]), currency, totals["bad_promo"]))
    print("  (%d sales whose basket was open at %s not judged; %s \"%s\", running throughout, "
          "on %d lines)" % (totals["open"], eff_s[11:16], ONGOING, ONGOING_NAME,
                            totals["ongoing"]))
    if best:
        _, t, store, seq, ts, names = best
        lines = receipt(os.path.join(run, t, "receipts.txt"), "%s/%s" % (store, t), seq)
        print("  receipt %s/%s #%d (%s/receipts.txt), an excerpt:" % (store, t, seq, t))
        for ln in excerpt(lines, names):
            print("  | " + ln)
        if not lines:
            failed.append("%s: receipt #%d is not in its receipts.txt" % (t, seq))
    for f in failed[:20]:
        print("FAILED: " + f)
    if len(failed) > 20:
        print("FAILED: ... and %d more" % (len(failed) - 20))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 5 and argv[0] == "catalog":
        return cmd_catalog(*argv[1:])
    if len(argv) == 6 and argv[0] == "change":
        return cmd_change(*argv[1:])
    if len(argv) >= 5 and argv[0] == "check":
        return cmd_check(argv[1], int(argv[2]), argv[3], argv[4:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
