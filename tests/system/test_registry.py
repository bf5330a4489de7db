#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""posedge's Schema Registry client (bridge/schema_registry.c) and Confluent framing
(bridge/avro_enc.c) against a real Schema Registry compatible server: Apicurio Registry 2.4.2
(built from Maven Central by scripts/registry.sh into the cache, its Confluent API under
/apis/ccompat/v7; tests/system/registry.py runs it on a free loopback port).

The C side is driven through the helper modes of the unit test program test_schema_registry
(`sr URL register|lookup|latest SUBJECT [FILE]`, `encode SCHEMA ID VALUE OUT`). Covered:
register returns the id the server gives (and the same id again), lookup and latest agree with
the server's own answers, an incompatible change is refused with the HTTP status named, a
registry that is down is an error naming the URL, and a Confluent-framed value carries byte 0,
the big-endian schema id and the Avro binary that the server's schema describes.
"""
import json
import os
import re
import struct
import subprocess

from lib import BIN, SRC, check, main, run, test, tmpdir
from registry import Registry

HELPER = os.path.join(BIN, "tests", "test_schema_registry")
KEY_SCHEMA = {"type": "record", "name": "InventoryKey", "namespace": "posedge",
              "fields": [{"name": "trans_id", "type": "string"},
                         {"name": "item_id", "type": "int"},
                         {"name": "store_id", "type": "int"}]}


def fetch():
    run(["bash", os.path.join(SRC, "scripts", "registry.sh"), "fetch"], timeout=900, check_rc=0)


def sr(url, *args, check_rc=None):
    return run([HELPER, "sr", url] + list(args), timeout=60, check_rc=check_rc)


def sr_id(p):
    """The id the helper printed ("id=N version=M")."""
    m = re.match(r"id=(\d+) version=(\d+)", p.stdout)
    check(m, "helper output: %r %r" % (p.stdout, p.stderr))
    return int(m.group(1))


@test
def client_against_a_real_registry():
    fetch()
    d = tmpdir("pe-registry")
    schema = os.path.join(d, "key.avsc")
    with open(schema, "w") as f:
        json.dump(KEY_SCHEMA, f)
    reg = Registry(d)
    failed = True
    try:
        reg.start()
        subject = "prod.inventory.transactions-key"
        p = sr(reg.url, "register", subject, schema, check_rc=0)
        sid = sr_id(p)
        check(sid == reg.latest(subject)["id"], "register: id %s, the server says %s"
              % (sid, reg.latest(subject)))
        p = sr(reg.url, "register", subject, schema, check_rc=0)
        check(sr_id(p) == sid, "registering again gives the same id: %s" % p.stdout)
        p = sr(reg.url, "lookup", subject, schema, check_rc=0)
        check(sr_id(p) == sid, "lookup: %s" % p.stdout)
        p = sr(reg.url, "latest", subject, check_rc=0)
        check(sr_id(p) == sid and "InventoryKey" in p.stdout, "latest: %s" % p.stdout)
        # A field without a default breaks BACKWARD compatibility: refused, status named.
        bad = dict(KEY_SCHEMA, fields=KEY_SCHEMA["fields"] + [{"name": "x", "type": "int"}])
        with open(os.path.join(d, "bad.avsc"), "w") as f:
            json.dump(bad, f)
        p = sr(reg.url, "register", subject, os.path.join(d, "bad.avsc"))
        check(p.returncode != 0 and "409" in p.stdout + p.stderr, "incompatible: %s %s"
              % (p.stdout, p.stderr))
        p = sr(reg.url, "lookup", "no-such-subject", schema)
        check(p.returncode != 0 and "404" in p.stdout + p.stderr, "unknown subject: %s %s"
              % (p.stdout, p.stderr))

        # Confluent framing with the id the server gave.
        value = os.path.join(d, "value.json")
        with open(value, "w") as f:
            json.dump({"trans_id": "{0A1B2C3D-0000-4000-8000-000000000001}", "item_id": 7,
                       "store_id": 1}, f)
        out = os.path.join(d, "value.bin")
        run([HELPER, "encode", schema, str(sid), value, out], timeout=60, check_rc=0)
        data = open(out, "rb").read()
        check(data[0] == 0 and struct.unpack(">I", data[1:5])[0] == sid,
              "Confluent header: %r" % data[:5])
        s = "{0A1B2C3D-0000-4000-8000-000000000001}".encode()
        check(data[5:] == bytes([len(s) * 2]) + s + bytes([14, 2]),
              "Avro binary: string (zig-zag length), int 7, int 1: %r" % data[5:])
        failed = False
    finally:
        reg.close(failed)
    p = sr(reg.url, "latest", "prod.inventory.transactions-key")
    check(p.returncode != 0 and "127.0.0.1" in p.stdout + p.stderr,
          "a registry that is down is named: %s %s" % (p.stdout, p.stderr))


if __name__ == "__main__":
    main()
