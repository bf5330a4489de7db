#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# Makes the seed corpora of the network-facing fuzz targets (tests/fuzz/corpus/<name>/) from
# what the project really sends: the golden journal of tests/system/golden (records the agent
# sealed in the golden run: every event type, with bodies as the till writes them) and the
# documents the code's own encoders write (the shapes are those of docs/protocol.md and of the
# tests that check them). Deterministic: running it again gives the same files.
#
# usage: tests/fuzz/seeds.py [TARGET...]     (default: every target it knows)
import gzip
import json
import os
import sys

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(top, "tests", "fuzz", "corpus")


def golden_journal():
    with gzip.open(os.path.join(top, "tests/system/golden/journal.jsonl.gz"), "rt") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def write(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


GOLDEN_KEY = "65cbeccfde40abe649fbce23f14f3acc"


def es256(counter, signed_ms=1772438404031):
    # The sig column as pe_signature_encode writes it (the r||s is not a real signature: the
    # golden journal keeps none; the check reaches verification and refuses it).
    return ('{"alg":"ES256","counter":%d,"key_id":"%s","sig":"%s","signed_ms":%d}'
            % (counter, GOLDEN_KEY, "ab" * 64, signed_ms))


def intake():
    j = golden_journal()
    first = {}
    for l in j:
        first.setdefault(json.loads(l)["type"], l)
    for t, l in sorted(first.items()):
        write("intake", "one-" + t, l)
    # Batches as the uplink sends them (consecutive records, newline-separated).
    write("intake", "batch-3", "\n".join(j[0:3]))
    write("intake", "batch-8", "\n".join(j[10:18]) + "\n")
    # Format 2 lines: a record, a tab, its signature; marked unsigned; a bare tab.
    write("intake", "signed-6", j[5] + "\t" + es256(6))
    write("intake", "signed-installed", j[0] + "\t" + es256(1))
    write("intake", "marked-unsigned", j[6] + '\t{"alg":"none","reason":"signer_down"}')
    write("intake", "mixed", j[1] + "\n" + j[2] + "\t" + es256(6) + "\n" + j[3] + "\t\n\n" + j[4])


def catalog():
    # Items as HQ publishes them, made from the golden run's sale lines (what the sim's catalog
    # sold), and the examples of docs/protocol.md; 'I'/'P' then the key, a newline, the value.
    items = {}
    for l in golden_journal():
        r = json.loads(l)
        for line in r["body"].get("lines", []) if r["type"] == "sale" else []:
            items.setdefault(line["item"], line)
    for n, (sku, line) in enumerate(sorted(items.items())[:12]):
        doc = {"v": 1, "id": sku, "barcodes": [line["barcode"]], "name": line["name"],
               "category": line["category"], "brand": line["brand"], "tax_bp": line["tax_bp"],
               "weighed": line["unit"] != "each", "currency": "EUR",
               "prices": [{"price": line["unit_price"],
                           "effective_from": "2026-12-08T06:00:00.000Z", "effective_to": None}]}
        if n % 3 == 1:
            doc["prices"] = [{"price": line["unit_price"], "effective_from":
                              "2026-12-01T00:00:00.000Z", "effective_to": "2026-12-08T06:00:00.000Z"},
                             {"price": line["unit_price"] - 10, "effective_from":
                              "2026-12-08T06:00:00.000Z", "effective_to": None}]
        scope = "*" if n % 2 else "s001"
        write("catalog", "item-" + sku, "I%s/%s\n%s" % (scope, sku, json.dumps(doc)))
    write("catalog", "item-doc-example", 'Is001/SKU-0001\n{"v":1,"id":"SKU-0001","barcodes":'
          '["4006381333931"],"name":"Soap","category":"Care","brand":"Acme","tax_bp":2000,'
          '"weighed":false,"currency":"EUR","prices":[{"price":1299,"effective_from":'
          '"2026-12-08T06:00:00.000Z","effective_to":null}]}')
    write("catalog", "promo-n-for-m", 'P*/P-SOUP-3FOR2\n{"v":1,"id":"P-SOUP-3FOR2","name":'
          '"3 for 2 soups","kind":"n_for_m","target":{"category":"Soups"},"n":3,"m":2,'
          '"from":"2026-12-01T00:00:00.000Z","to":null,"priority":10}')
    write("catalog", "other-store", 'Is002/SKU-0001\n{"v":1}')
    write("catalog", "tombstone", "Is001/SKU-0001\n")


def schema_registry():
    # The Confluent Schema Registry's answers (its REST API, as tests/system/registry.py gets
    # them from a real registry): byte 0 the call (0 register, 1 lookup, 2 latest), byte 1 the
    # status (fuzz_schema_registry.c's table: 0 is 200, 10 is 404, 11 is 409, 13 is 500, 0xff a
    # connection refused), byte 2 where the body is cut, then the body.
    schema = '{"type":"record","name":"Sale","fields":[]}'
    full = json.dumps({"subject": "pos.sales-value", "version": 3, "id": 42, "schema": schema})
    cases = {
        "register-ok": (0, 0, '{"id":42}'),
        "lookup-ok": (1, 0, full),
        "latest-ok": (2, 0, full),
        "lookup-not-found": (1, 10, '{"error_code":40403,"message":"Schema not found"}'),
        "latest-no-subject": (2, 10, '{"error_code":40401,"message":"Subject \'pos.sales-value\' not found."}'),
        "register-incompatible": (0, 11, '{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}'),
        "register-500": (0, 13, '{"error_code":50001,"message":"Error in the backend data store"}'),
        "refused": (0, 0xff, ""),
        "html-error": (2, 14, "<html><body>503 Service Unavailable</body></html>"),
    }
    for name, (op, st, body) in cases.items():
        write("schema_registry", name, bytes([op, st, 7]) + body.encode())


targets = {"intake": intake, "catalog": catalog, "schema_registry": schema_registry}

if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(targets):
        targets[name]()
