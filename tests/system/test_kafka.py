#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of the real Kafka broker the end-to-end tests run against (tests/system/kafka.py).

One KRaft node serves the whole file, started by the first test that needs it: it serves
metadata and creates topics; a record produced with kcat is read back with kcat, key and
value; and records outlive both a clean stop and a SIGKILL of the node, which come back on
the same port with the same data. The node's data is removed at the end unless a test failed;
then its log is kept and its path printed.
"""
import subprocess

from kafka import KCAT, RealKafka
from lib import Failure, check, main, run, test, tmpdir, wait_until

_node = None


def node():
    """The file's one Kafka node, started on first use and after a test left it down."""
    global _node
    if _node is None:
        _node = RealKafka(tmpdir("pe-kafka"))
    if not _node.running():
        _node.start()
        print("    Kafka at %s started in %.1fs" % (_node.bootstrap, _node.start_seconds),
              flush=True)
    return _node


def produce(k, topic, key, *values):
    # kcat -P waits for every delivery report (acks=all by default) before it exits 0.
    run([KCAT, "-P", "-b", k.bootstrap, "-t", topic, "-k", key],
        input="".join(v + "\n" for v in values), timeout=60, check_rc=0)


def consume(k, topic):
    """Every record of the topic from the beginning, as "key=value" lines; None when kcat
    cannot read it (yet)."""
    try:
        p = subprocess.run([KCAT, "-C", "-b", k.bootstrap, "-t", topic, "-o", "beginning", "-e",
                            "-q", "-f", "%k=%s\\n"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return None
    return p.stdout.splitlines() if p.returncode == 0 else None


def consume_until(k, topic, want):
    """Polls until the topic holds exactly want; after a restart leaders take a moment."""
    got = []

    def done():
        got[:] = consume(k, topic) or []
        return got == want

    try:
        wait_until(done, 60, "records %s in %s" % (want, topic))
    except Failure:
        raise Failure("%s holds %s, expected %s" % (topic, got, want))


@test
def broker_serves_metadata_and_creates_topics():
    k = node()
    p = run([KCAT, "-b", k.bootstrap, "-L", "-m", "5"], timeout=30, check_rc=0)
    check("broker 1 at %s (controller)" % k.bootstrap in p.stdout,
          "one combined broker and controller, advertised on loopback:\n" + p.stdout)
    k.create_topic("pe.compacted", partitions=3, config={"cleanup.policy": "compact"})
    check(k.topic_leaders("pe.compacted") == {0: 1, 1: 1, 2: 1}, "three partitions led by node 1")
    p = k.tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", k.bootstrap,
               "--describe", "--topic", "pe.compacted")
    check("cleanup.policy=compact" in p.stdout, "topic config applied:\n" + p.stdout)


@test
def record_round_trip_with_kcat():
    k = node()
    produce(k, "pe.roundtrip", "till-1", "sale 1", "sale 2")
    consume_until(k, "pe.roundtrip", ["till-1=sale 1", "till-1=sale 2"])


@test
def records_survive_stop_and_kill():
    k = node()
    port = k.port
    produce(k, "pe.durable", "k", "before stop")
    consume_until(k, "pe.durable", ["k=before stop"])
    k.stop()
    check(not k.running(), "stopped")
    k.start()
    check(k.port == port, "same port after stop")
    consume_until(k, "pe.durable", ["k=before stop"])
    produce(k, "pe.durable", "k", "before kill")
    k.kill()
    k.start()
    print("    restart after SIGKILL took %.1fs" % k.start_seconds, flush=True)
    consume_until(k, "pe.durable", ["k=before stop", "k=before kill"])
    produce(k, "pe.durable", "k", "after kill")
    consume_until(k, "pe.durable", ["k=before stop", "k=before kill", "k=after kill"])


if __name__ == "__main__":
    failed = True
    try:
        main()
    except SystemExit as e:
        failed = bool(e.code)
        raise
    finally:
        if _node is not None:
            _node.close(failed)
