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


def protocol_docs(first_member):
    """The JSON examples of docs/protocol.md that start with first_member, parsed."""
    import re
    text = open(os.path.join(top, "docs/protocol.md")).read()
    docs = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        for chunk in re.split(r"\n(?=\{)", block.strip()):
            if chunk.startswith("{" + first_member):
                chunk = chunk.replace("<sha256 hex>", "ab" * 32)
                try:
                    docs.append(json.loads(chunk))
                except ValueError:
                    pass
    return docs


def msg(sel, payload):
    # One message of fuzz_ctl_status / fuzz_ctl_fleet: topic selector, 2-byte length, payload.
    b = payload.encode() if isinstance(payload, str) else payload
    return bytes([sel, len(b) >> 8, len(b) & 0xff]) + b


def ctl_status():
    # Retained state documents (docs/protocol.md's, which the agent's and the bridge's state
    # encoders are documented by), the last will, acks as the bridge publishes them. Topic
    # selectors of fuzz_ctl_status.c: 0 t01/state, 1 t01/ack, 2 t02/state, 3 t02/ack,
    # 4 bridge/state, 5 _bridge/state.
    docs = protocol_docs('"state"')
    till = [d for d in docs if d.get("terminal") != "bridge"]
    bridge = [d for d in docs if d.get("terminal") == "bridge"]
    for n, d in enumerate(till):
        t2 = dict(d, terminal="t02", seq=d["seq"] + 7, delivered=d["seq"])
        write("ctl_status", "store-%d" % n,
              msg(0, json.dumps(d, separators=(",", ":"))) + msg(1, '{"spooled":2025,"delivered":2019}')
              + msg(2, json.dumps(t2)) + msg(3, '{"spooled":2032,"delivered":2025}')
              + b"".join(msg(4, json.dumps(b)) for b in bridge) + b"\x00")
        write("ctl_status", "json-%d" % n, msg(0, json.dumps(d)) + msg(4, json.dumps(bridge[0]) if bridge else b"") + b"\x01")
    write("ctl_status", "will", msg(0, '{"state":"offline"}') + msg(1, "") + msg(5, '{"state":"offline"}') + b"\x00")
    write("ctl_status", "cleared", msg(0, "") + msg(1, "") + msg(4, "") + b"\x00")


def ctl_fleet():
    # Answers on .../cmd/res as the agent's fleet channel writes them (docs/protocol.md, "Fleet
    # commands"), results made from the golden run's report bodies; retained states before the
    # probe. Selectors of fuzz_ctl_fleet.c: 0 t01/cmd/res, 1 t02/cmd/res, 2 t01/state; the last
    # byte: the command (0 status, 2 x_report, 3 z_report, 1 ping) and 0x80 for --json.
    recs = {}
    for l in golden_journal():
        r = json.loads(l)
        recs.setdefault(r["type"], r)
    state = protocol_docs('"state"')[0]

    def ans(term, cmd, ok, **kw):
        d = {"id": "req-" + term, "terminal": term, "cmd": cmd, "ok": ok,
             "ts": "2026-03-02T22:05:00.000Z"}
        d.update(kw)
        return json.dumps(d, separators=(",", ":"))
    x = recs["x_report"]
    z = recs["z_report"]
    write("ctl_fleet", "x_report", msg(0, ans("t01", "x_report", True, result={
        "seq": x["seq"], "number": 1, "report": x["body"]})) + msg(1, ans("t02", "x_report", False,
        error="busy", reason="a basket is open")) + b"\x02")
    write("ctl_fleet", "z_report-json", msg(0, ans("t01", "z_report", True, result={
        "seq": z["seq"], "number": 1, "report": z["body"]})) + b"\x83")
    write("ctl_fleet", "z_report-refused", msg(0, ans("t01", "z_report", False, error="refused",
          reason="a shift is open: close it first (a Z report closes the period)")) + b"\x03")
    write("ctl_fleet", "ping", msg(2, json.dumps(state)) + msg(0, ans("t01", "ping", True,
          result={"pong": True, "version": "0.6.0"})) + msg(1, ans("t02", "ping", True,
          result={"pong": True, "version": "0.6.0"})) + b"\x01")
    write("ctl_fleet", "status", msg(0, ans("t01", "status", True, result=state)) + b"\x00")
    write("ctl_fleet", "malformed", msg(0, '{"id":"req-t01","result":1}') + msg(1, "[") + b"\x00")


def ctl_rollout():
    # What posedge-ctl rollout reads (docs/protocol.md, "Rollout"): the tills' retained states
    # before the probe (from the section's examples), then an answer to the upgrade command as
    # the agent's fleet channel writes them, and the states that follow its outcome with the
    # request id fuzz_ctl_rollout.c gives (req-<terminal>). Selectors of fuzz_ctl_rollout.c:
    # 0 t01/state, 1 t02/state, 2 t01/cmd/res, 3 t02/cmd/res, 4 the probe; the last byte's low
    # bit: --json.
    docs = [d for d in protocol_docs('"state"') if isinstance(d.get("upgrade"), dict)]
    ok = [d for d in docs if d["upgrade"]["outcome"] == "ok"][0]
    back = [d for d in docs if d["upgrade"]["outcome"] == "rolled_back"][0]

    def state(d, term, version, upgrade=None, **up):
        u = dict(upgrade, id="req-" + term, **up) if upgrade else None
        return json.dumps(dict(d, terminal=term, version=version, upgrade=u), separators=(",", ":"))

    def ans(term, ok=True, **kw):
        a = {"id": "req-" + term, "terminal": term, "cmd": "upgrade", "ok": ok,
             "ts": "2026-11-21T14:20:00.000Z"}
        a.update(kw)
        return json.dumps(a, separators=(",", ":"))
    accepted = {"version": "0.9.1", "from": "0.9.0", "current": False}
    before = msg(0, state(ok, "t01", "0.9.0")) + msg(1, state(back, "t02", "0.9.0")) + msg(4, "probe")
    write("ctl_rollout", "ok", before + msg(2, ans("t01", result=accepted))
          + msg(0, state(ok, "t01", "0.9.0", ok["upgrade"], outcome="waiting"))
          + msg(0, state(ok, "t01", "0.9.0", ok["upgrade"], outcome="installing"))
          + msg(0, '{"state":"offline"}') + msg(0, state(ok, "t01", "0.9.1", ok["upgrade"]))
          + msg(3, ans("t02", result=dict(accepted, current=True))) + b"\x00")
    write("ctl_rollout", "rolled_back-json", before + msg(2, ans("t01", result=accepted))
          + msg(0, state(back, "t01", "0.9.0", back["upgrade"]))
          + msg(3, ans("t02", False, error="busy", reason="an upgrade is being installed"))
          + b"\x01")
    write("ctl_rollout", "failed", before + msg(0, state(ok, "t01", "0.9.0", ok["upgrade"],
          outcome="failed", reason="apt-get: E: Unable to locate package posedge-agent"))
          + msg(1, state(ok, "t02", "0.9.2", ok["upgrade"])) + b"\x00")
    write("ctl_rollout", "cleared", msg(0, "") + msg(1, state(ok, "t02", "0.9.0")) + msg(1, "")
          + msg(0, '{"state":"offline"}') + msg(4, "probe") + b"\x00")


def agent_cmd():
    # Commands as posedge-ctl fleet sends them (ctl/fleet.c build(): id, cmd, args, ts; the
    # example of docs/protocol.md), one per command with its arguments.
    def cmd(name, args, id="c-7f3a91", ts="2026-11-21T22:05:00.000Z"):
        return json.dumps({"id": id, "cmd": name, "args": args, "ts": ts}, separators=(",", ":"))
    write("agent_cmd", "ping", cmd("ping", {}))
    write("agent_cmd", "status", cmd("status", {}))
    write("agent_cmd", "x_report", cmd("x_report", {"operator": "op17"}))
    write("agent_cmd", "z_report", cmd("z_report", {}))
    write("agent_cmd", "set_config-int", cmd("set_config", {"key": "fleet.state_interval_s", "value": 30}))
    write("agent_cmd", "set_config-str", cmd("set_config", {"key": "log.level", "value": "debug"}))
    write("agent_cmd", "set_config-mqtt", cmd("set_config", {"key": "mqtt.host", "value": "10.0.0.1"}))
    write("agent_cmd", "resend_from", cmd("resend_from", {"seq": 2019}))
    write("agent_cmd", "reprint", cmd("reprint", {"seq": 3}))
    write("agent_cmd", "unknown", cmd("format_disk", {}))
    write("agent_cmd", "no-ts", '{"id":"c-1","cmd":"ping"}')


def agent_catalog():
    # What the agent reads on the catalog channels (docs/protocol.md, "Catalog"): the bridge's
    # retained version document (kind 'V') and the chunks of the answer to the till's request
    # (kind 'D'), as the bridge's catalog_serve writes them; the request id is the one
    # fuzz_agent_catalog.c's stub draws. Items are made from the golden run's sale lines.
    items = []
    for f in sorted(os.listdir(os.path.join(corpus, "catalog"))):
        data = open(os.path.join(corpus, "catalog", f), "rb").read()
        if data.startswith(b"I") and b"\n{" in data:
            items.append(json.loads(data.split(b"\n", 1)[1]))
    promos = protocol_docs('"v":1,"id":"P-')
    h = "e1bfdee1" + "ab" * 28
    version = json.dumps({"v": 1, "version": 18, "hash": h, "items": len(items),
                          "promotions": len(promos), "ts": "2026-12-07T05:00:01.668Z"})
    req = "6b1bbaf4-24ee-488f-b3d5-e121a47aa1dc"

    def chunk(n, of, full, since, its, prs, **kw):
        d = {"v": 1, "req": req, "version": 18, "since": since, "full": full, "chunks": of,
             "chunk": n, "hash": h, "currency": "EUR", "items": its, "promotions": prs}
        d.update(kw)
        return json.dumps(d, separators=(",", ":"))
    half = len(items) // 2
    write("agent_catalog", "full-2-chunks", msg(ord("V"), version)
          + msg(ord("D"), chunk(1, 2, True, 0, items[:half], []))
          + msg(ord("D"), chunk(2, 2, True, 0, items[half:], promos)))
    write("agent_catalog", "delta", msg(ord("V"), version)
          + msg(ord("D"), chunk(0, 1, False, 17, items[:2], [], deleted={"items": ["SKU-0002"]})))
    write("agent_catalog", "redelivery", msg(ord("V"), version)
          + msg(ord("D"), chunk(1, 2, True, 0, items[:1], []))
          + msg(ord("D"), chunk(1, 2, True, 0, items[:1], [])))
    write("agent_catalog", "other-currency", msg(ord("V"), version)
          + msg(ord("D"), chunk(1, 1, True, 0, items[:1], [], currency="USD")))
    write("agent_catalog", "no-catalog", msg(ord("V"), '{"v":1,"version":0}') + msg(ord("V"), ""))


targets = {"intake": intake, "catalog": catalog, "schema_registry": schema_registry,
           "ctl_status": ctl_status, "ctl_fleet": ctl_fleet, "ctl_rollout": ctl_rollout,
           "agent_cmd": agent_cmd,
           "agent_catalog": agent_catalog}

if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(targets):
        targets[name]()
