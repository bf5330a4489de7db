#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 15, acceptance 5: the signature travels with the record, and the bridge verifies it.

A till sells through the real mosquitto and posedge-bridge into a real Kafka broker. Every
record reaches its fiscal topic with its signature in the header `posedge-sig`, and each one
verifies with python3-cryptography from the headers and values alone (the public key from the
signer_installed record on pos.reports): no posedge code involved.

Then the forger, who holds the till's MQTT identity, publishes directly on the till's events
topic records that continue the till's chain (prev and hash recomputed, so the chain checks
pass): a sale whose total changed, carrying the stale signature of the sale it was copied from
with the next counter; one re-signed with the forger's own key under its own key id; one
re-signed with the forger's key under the till's key id; and one with no signature at all. Each
lands on pos.dlq only, with its reason (bad_signature, unknown_key, bad_signature,
missing_signature), never on a fiscal topic; the bridge acknowledges them (the chain moves on)
and its state document counts them for the till with the last reason.
"""
import hashlib
import json
import os
import uuid

from kafka import RealKafka
from lib import (CONFIG, CTL, SIM_START, Bridge, Mosquitto, agent, check, main, run, test,
                 tmpdir, wait_until)

START = ["--set", "sim.start=" + SIM_START]
MESSAGE = "posedge-sig/1|%s|%d|%d"
FISCAL = ("pos.sales", "pos.inventory", "pos.reports")


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(obj, prev):
    obj = dict(obj)
    obj.pop("hash", None)
    obj["prev"] = prev
    h = hashlib.sha256(prev.encode() + canonical(obj)).hexdigest()
    obj["hash"] = h
    return canonical(obj), h


def crypto():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                                 encode_dss_signature)
    return hashes, serialization, ec, encode_dss_signature, decode_dss_signature


def key_id(pub):
    _, serialization, _, _, _ = crypto()
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:32]


def sign_with(priv, h, counter, kid, signed_ms=1796624014899):
    hashes, _, ec, _, decode_dss_signature = crypto()
    r, s = decode_dss_signature(priv.sign((MESSAGE % (h, counter, signed_ms)).encode(),
                                          ec.ECDSA(hashes.SHA256())))
    rs = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return canonical({"alg": "ES256", "counter": counter, "key_id": kid, "sig": rs.hex(),
                      "signed_ms": signed_ms}).decode()


def records(bootstrap, topic):
    """Every committed record of topic as (headers dict, value), [] while it does not exist."""
    p = run(["kcat", "-C", "-J", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed"], timeout=60)
    if p.returncode != 0:
        return []
    out = []
    for line in p.stdout.splitlines():
        if line.strip():
            m = json.loads(line)
            h = m.get("headers") or []
            out.append((dict(zip(h[0::2], h[1::2])), m["payload"]))
    return out


def retained(port, topic):
    p = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1",
             "-W", "5", "--retained-only"])
    return json.loads(p.stdout) if p.stdout.strip() else None


def publish(mqtt, d, topic, payload):
    path = os.path.join(d, "payload-%s.bin" % uuid.uuid4().hex[:8])
    with open(path, "w") as f:
        f.write(payload)
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mqtt.port), "-q", "1", "-t", topic,
         "-f", path], check_rc=0)


def verify_from_kafka(bootstrap, n):
    """Every fiscal record of s001/t01 verified from its posedge-sig header and the public key
    of the signer_installed record: {seq: (sig, value)}."""
    hashes, serialization, ec, encode_dss_signature, _ = crypto()
    recs = {}
    for topic in FISCAL:
        for h, value in records(bootstrap, topic):
            check("posedge-sig" in h, "%s seq %s has no posedge-sig header: %s" % (
                topic, h.get("seq"), sorted(h)))
            recs[int(h["seq"])] = (json.loads(h["posedge-sig"]), value)
    check(sorted(recs) == list(range(1, n + 1)), "seqs 1..%d in Kafka: %s" % (n, sorted(recs)))
    pub, kid, last = None, None, 0
    for seq in sorted(recs):
        sig, value = recs[seq]
        ev = json.loads(value)
        if ev["type"] == "signer_installed":
            pub = serialization.load_pem_public_key(ev["body"]["public_key"].encode())
            kid = ev["body"]["key_id"]
            check(key_id(pub) == kid, "the key id is the public key's")
            last = 0
        check(pub is not None, "seq %d: signed before any key" % seq)
        check(sig["key_id"] == kid and (last == 0 or sig["counter"] == last + 1),
              "seq %d: key %s counter %d after %d" % (seq, sig["key_id"], sig["counter"], last))
        rs = bytes.fromhex(sig["sig"])
        der = encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))
        pub.verify(der, (MESSAGE % (ev["hash"], sig["counter"], sig["signed_ms"])).encode(),
                   ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
        last = sig["counter"]
    return recs, kid


@test
def signatures_travel_and_forgeries_go_to_dead_letters():
    d = tmpdir("pe-sigbridge")
    mqtt = Mosquitto(d).start()
    kafka = RealKafka(d).start()
    bridge = Bridge(d, mqtt.addr, kafka.bootstrap).start()
    try:
        till = os.path.join(d, "t01")
        agent(till, "--terminal", "t01", "--mqtt", mqtt.addr, *START, "--shopper", "15",
              "--seed", "3", "--wait-delivered", "120")
        journal = [l for l in run([CTL, "journal", os.path.join(till, "journal.db")],
                                  check_rc=0).stdout.splitlines()]
        n = len(journal)
        recs = wait_until(lambda: (lambda r: r if len(r) == n else None)(
            {int(h["seq"]) for t in FISCAL for h, _ in records(kafka.bootstrap, t)}),
            60, "the till's %d records in Kafka" % n)
        check(recs, "records in Kafka")
        signed, kid = verify_from_kafka(kafka.bootstrap, n)
        for seq, (_, value) in signed.items():
            check(value == journal[seq - 1], "seq %d: the value is the journal's record" % seq)
        state = wait_until(lambda: (lambda s: s if s and s.get("signing", {}).get(
            "verified") == n else None)(retained(mqtt.port, "posedge/v1/s001/bridge/state")),
            30, "the bridge's state counting %d verified signatures" % n)
        check(state["signing"]["rejected"] == 0 and state["signing"]["keyed"] == 1,
              "signing: %s" % state["signing"])

        # ---- the forger ----
        _, serialization, ec, _, _ = crypto()
        foreign = ec.generate_private_key(ec.SECP256R1())
        fkid = key_id(foreign.public_key())
        last = json.loads(journal[-1])
        prev = last["hash"]
        counter = signed[n][0]["counter"]
        sale_seq = max(s for s, (_, v) in signed.items() if json.loads(v)["type"] == "sale")
        sale = json.loads(signed[sale_seq][1])
        stale = signed[sale_seq][0]
        forged, why = [], []

        def forge(sig_of, reason):
            nonlocal prev
            obj = dict(sale, seq=n + len(forged) + 1, id=str(uuid.uuid4()))
            obj["body"] = json.loads(json.dumps(sale["body"]))
            obj["body"]["totals"]["total"] += 1000  # ten euros more
            rec, h = seal(obj, prev)
            sig = sig_of(h)
            forged.append((rec.decode(), sig))
            why.append(reason)
            prev = h

        # 1: the stale signature of the sale it was copied from, with the next counter.
        forge(lambda h: canonical(dict(stale, counter=counter + 1)).decode(), "bad_signature")
        # 2: re-signed with the forger's key, under its own id.
        forge(lambda h: sign_with(foreign, h, counter + 2, fkid), "unknown_key")
        # 3: re-signed with the forger's key, under the till's key id, the right counter.
        forge(lambda h: sign_with(foreign, h, counter + 2, kid), "bad_signature")
        # 4: no signature at all, after the till's key was installed.
        forge(lambda h: None, "missing_signature")
        lines = [rec + ("\t" + sig if sig else "") for rec, sig in forged]
        publish(mqtt, d, "posedge/v1/s001/t01/events", "\n".join(lines[:2]))
        publish(mqtt, d, "posedge/v1/s001/t01/events", "\n".join(lines[2:]))

        dlq = wait_until(lambda: (lambda r: r if len(r) >= len(forged) else None)(
            [(h, v) for h, v in records(kafka.bootstrap, "pos.dlq")
             if h.get("store") == "s001" and h.get("terminal") == "t01"]),
            60, "%d dead letters" % len(forged))
        check(len(dlq) == len(forged), "one dead letter per forged record: %d" % len(dlq))
        for i, (h, v) in enumerate(dlq):
            seq = n + i + 1
            check(h.get("seq") == str(seq) and v == forged[i][0],
                  "dead letter %d is forged seq %d: %s" % (i, seq, h))
            check(h.get("reason", "").startswith(why[i] + ": seq %d: " % seq),
                  "seq %d: reason %r, expected %s" % (seq, h.get("reason"), why[i]))
            check(h.get("topic") == "posedge/v1/s001/t01/events", "source topic %r" % h)
            if forged[i][1]:
                check(h.get("posedge-sig") == forged[i][1], "the forged signature travels too")
        for topic in FISCAL:
            seqs = [int(h["seq"]) for h, _ in records(kafka.bootstrap, topic)]
            check(max(seqs, default=0) <= n, "no forged record on %s: %s" % (topic, seqs))
            check(len(seqs) == len(set(seqs)), "nothing twice on %s" % topic)
        # Acknowledged: the till's chain moved on past the forged records.
        ack = retained(mqtt.port, "posedge/v1/s001/t01/ack")
        check(ack and ack["spooled"] == n + len(forged), "ack %s" % ack)
        state = wait_until(lambda: (lambda s: s if s and s.get("signing", {}).get(
            "rejected") == len(forged) else None)(
            retained(mqtt.port, "posedge/v1/s001/bridge/state")),
            30, "the bridge's state counting %d refused records" % len(forged))
        check(state["signing"]["rejected_tills"] == [
            {"terminal": "t01", "rejected": len(forged), "last_reason": "missing_signature",
             "last_seq": n + len(forged)}], "per till: %s" % state["signing"])
        st = run([CTL, "status", "--mqtt", mqtt.addr, "--store", "s001"], check_rc=0).stdout
        check(" sig_rejected=%d sig_rejected.t01=%d:missing_signature@%d " % (
            len(forged), len(forged), n + len(forged)) in st, "posedge-ctl status: %s" % st)
        log = bridge.logtext()
        check(log.count("event=bridge.sig_rejected ") == len(forged), "each refusal logged")
        # A restart keeps the till's key and counts (the spool holds them).
        bridge.stop()
        bridge.start()
        state = wait_until(lambda: (lambda s: s if s and s.get("state") == "online" and s.get(
            "signing", {}).get("rejected") == len(forged) else None)(
            retained(mqtt.port, "posedge/v1/s001/bridge/state")), 30, "the state after restart")
        check(state["signing"]["verified"] == n and state["signing"]["keyed"] == 1,
              "after a restart: %s" % state["signing"])
    finally:
        for stop in (bridge.stop, kafka.close, mqtt.stop):
            try:
                stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
