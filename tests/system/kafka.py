# SPDX-License-Identifier: Apache-2.0
"""A real Apache Kafka broker for the end-to-end system tests.

RealKafka runs one Kafka node in KRaft mode (broker and controller in one JVM) on free loopback
ports, from the jars that scripts/kafka.sh fetches into a cache outside the repository, with a
generated server.properties and its data under the test's work directory. The node is
single-replica throughout (offsets and transaction state included), so producers with acks=all,
idempotence and transactions work against it. start() returns only once the broker serves
metadata through kcat; start() after stop() or kill() brings the same node back on the same
ports with the same data, which is what restart and crash tests need.

    k = RealKafka(workdir)
    try:
        k.start()
        k.create_topic("pos.sales", partitions=3)
        ... k.bootstrap ...
        k.kill(); k.start()
    finally:
        k.close(failed)

Everything the broker prints (log4j goes to stdout) is in <workdir>/<name>/kafka.log.
"""
import atexit
import base64
import os
import shutil
import signal
import subprocess
import time

from lib import SRC, Failure, check, free_port, port_open, wait_until

KCAT = "/usr/bin/kcat"
START_TIMEOUT = 90  # seconds; a cold JVM on a loaded 2-core machine takes about 10
STOP_TIMEOUT = 60
# Modest and fixed: the whole suite shares a 2-core machine.
JVM_BROKER = ("-Xms256m", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError")

# The broker logs to stdout, which start() sends to kafka.log with stderr (JVM errors).
BROKER_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.state.change.logger=WARN
"""

# Command-line tools (TopicCommand and the like) say only what went wrong, on stderr.
TOOLS_LOG4J = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
"""


def kafka_home():
    """The directory scripts/kafka.sh fetched Kafka into, or Failure saying how to fetch it."""
    p = subprocess.run([os.path.join(SRC, "scripts", "kafka.sh"), "home"], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise Failure("no Kafka for the tests (run scripts/kafka.sh fetch or make kafka): %s"
                      % (p.stderr.strip() or "scripts/kafka.sh home exited %d" % p.returncode))
    return p.stdout.strip()


def _cluster_id():
    # What kafka-storage random-uuid prints: 16 random bytes in unpadded base64url. One that
    # starts with "-" would read as an option on the command line, so draw again.
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(cannot read %s: %s)\n" % (path, e)


class RealKafka:
    """One Kafka 3.9 node (KRaft broker+controller, node.id 1) on 127.0.0.1.

    The node's files are in <workdir>/<name>/: server.properties, log4j.properties, kafka.log
    (everything the JVM prints, appended across restarts) and data/ (log.dirs and the metadata
    log). Raises Failure from the constructor when Kafka has not been fetched.
    """

    def __init__(self, workdir, name="kafka"):
        self.home = kafka_home()
        self.classpath = os.path.join(self.home, "lib", "*")
        self.dir = os.path.join(workdir, name)
        self.data = os.path.join(self.dir, "data")
        self.logpath = os.path.join(self.dir, "kafka.log")
        self.conf = os.path.join(self.dir, "server.properties")
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.proc = None
        self.start_seconds = None  # how long the last start() took
        os.makedirs(self.dir, exist_ok=True)
        atexit.register(self.kill)  # a test that forgets close() leaves no JVM behind

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def _write_config(self):
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": "1@127.0.0.1:%d" % self.controller_port,
            "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                         % (self.port, self.controller_port),
            "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.data,
            # One replica of everything, internal topics included: there is one node.
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
            "transaction.remove.expired.transaction.cleanup.interval.ms": "60000",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # Records of any age are kept: a record's timestamp is its event's time, which for
            # a simulated day or a replayed dataset is weeks or years old, and the default 7-day
            # retention would delete them at the first check, about 30 s after the start.
            "log.retention.ms": "-1",
            # After a kill the controller refuses the node's new registration until the old
            # one's session expires (DUPLICATE_BROKER_REGISTRATION): 4 s, not 9, of that.
            # Four heartbeats missed in a row would be a starved JVM, failing the test anyway.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            # Few threads and a small cleaner buffer: the CI machine has 2 cores, the heap
            # is 512 MB and the default dedupe buffer alone would take 128 MB of it.
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "num.replica.fetchers": "1",
            "log.cleaner.enable": "true",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(8 << 20),
            "log.cleaner.backoff.ms": "1000",
        }
        with open(self.conf, "w") as f:
            f.write("# Generated by tests/system/kafka.py\n")
            f.writelines("%s=%s\n" % kv for kv in props.items())
        for name, text in (("log4j.properties", BROKER_LOG4J),
                           ("tools-log4j.properties", TOOLS_LOG4J)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def _java(self, log4j, *args, jvm=("-Xmx256m",)):
        return ["java"] + list(jvm) + ["-Djava.awt.headless=true",
                "-Dlog4j.configuration=file:" + os.path.join(self.dir, log4j),
                "-cp", self.classpath] + list(args)

    def _format(self):
        # meta.properties in log.dirs says the storage is formatted: a restart keeps it.
        if os.path.exists(os.path.join(self.data, "meta.properties")):
            return
        self._write_config()
        p = subprocess.run(self._java("tools-log4j.properties", "kafka.tools.StorageTool",
                                      "format", "-t", _cluster_id(), "-c", self.conf),
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "kafka-storage format exited %d:\n%s%s"
              % (p.returncode, p.stdout[-2000:], p.stderr[-3000:]))

    def _serves(self):
        if self.proc.poll() is not None:
            raise Failure("Kafka exited with status %d while starting; last lines of %s:\n%s"
                          % (self.proc.returncode, self.logpath, self.logtail(30)))
        if not port_open(self.port):
            return False
        try:
            p = subprocess.run([KCAT, "-b", self.bootstrap, "-L", "-m", "5"],
                               capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return False
        return p.returncode == 0 and ("broker 1 at %s" % self.bootstrap) in p.stdout

    def start(self):
        """Starts the node and waits until it serves metadata; returns self.

        The first start formats the storage; later ones (after stop() or kill()) reuse the
        ports, configuration and data. Raises Failure naming the log, with its last lines,
        when the JVM exits or does not serve within START_TIMEOUT seconds.
        """
        check(self.proc is None or self.proc.poll() is not None, "Kafka is already running")
        t0 = time.monotonic()
        self._format()
        with open(self.logpath, "a") as log:
            log.write("---- posedge: starting Kafka on %s ----\n" % self.bootstrap)
            log.flush()
            self.proc = subprocess.Popen(
                self._java("log4j.properties", "kafka.Kafka", self.conf, jvm=JVM_BROKER),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._serves, START_TIMEOUT, "Kafka to serve on %s" % self.bootstrap)
        except Failure as e:
            if self.proc.poll() is None:
                self.kill()
                raise Failure("%s; last lines of %s:\n%s" % (e, self.logpath, self.logtail(30)))
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """SIGTERM (a controlled shutdown), SIGKILL after STOP_TIMEOUT seconds. Returns the
        exit status, or None when it was not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30)

    def kill(self):
        """SIGKILL: the node stops as in a crash, without flushing or closing anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def logtail(self, n=30):
        """The last n lines of kafka.log, as one string."""
        return _tail(self.logpath, n)

    def tool(self, main_class, *args, timeout=120, check_rc=0):
        """Runs a Kafka command-line tool class against this node's jars, such as
        "org.apache.kafka.tools.TopicCommand" or "org.apache.kafka.tools.consumer.group.
        ConsumerGroupCommand"; the caller passes --bootstrap-server self.bootstrap. Returns the
        subprocess.CompletedProcess; raises Failure if check_rc is set and the status differs."""
        p = subprocess.run(self._java("tools-log4j.properties", main_class, *args),
                           capture_output=True, text=True, timeout=timeout)
        if check_rc is not None and p.returncode != check_rc:
            raise Failure("%s %s exited %d\nstdout: %s\nstderr: %s" % (
                main_class, " ".join(args), p.returncode, p.stdout[-2000:], p.stderr[-3000:]))
        return p

    def topic_leaders(self, name):
        """{partition: leader id} of a topic as the broker's metadata says, {} if unknown."""
        p = subprocess.run([KCAT, "-b", self.bootstrap, "-L", "-t", name, "-m", "5"],
                           capture_output=True, text=True, timeout=15)
        leaders = {}
        for line in p.stdout.splitlines():
            words = line.replace(",", " ").split()
            if len(words) >= 4 and words[0] == "partition" and words[2] == "leader":
                leaders[int(words[1])] = int(words[3])
        return leaders

    def create_topic(self, name, partitions=1, config=None):
        """Creates a topic (replication factor 1, config a dict of topic settings) and waits
        until every partition has a leader. Raises Failure if the topic exists already."""
        args = ["--bootstrap-server", self.bootstrap, "--create", "--topic", name,
                "--partitions", str(partitions), "--replication-factor", "1"]
        for k, v in (config or {}).items():
            args += ["--config", "%s=%s" % (k, v)]
        self.tool("org.apache.kafka.tools.TopicCommand", *args)
        wait_until(lambda: sorted(self.topic_leaders(name).items())
                   == [(i, 1) for i in range(partitions)], 60,
                   "leaders of the %d partitions of %s" % (partitions, name))

    def close(self, failed=False):
        """Stops the node. Removes its data unless failed; when failed, keeps everything and
        prints where the log is."""
        try:
            self.stop()
        finally:
            self.kill()
        if failed:
            print("    Kafka log kept at %s (data in %s)" % (self.logpath, self.data), flush=True)
        else:
            shutil.rmtree(self.data, ignore_errors=True)


def serve(workdir):
    """`kafka.py serve DIR`: run one node until SIGTERM or SIGINT (for make bench and make
    demo). The first line on stdout is "bootstrap=HOST:PORT". SIGUSR1 stops the broker (an
    outage), SIGUSR2 starts it again on the same port and data; each prints a line."""
    k = RealKafka(workdir)

    def stop(*_):
        raise KeyboardInterrupt()

    def outage(*_):
        k.stop()
        print("stopped", flush=True)

    def back(*_):
        k.start()
        print("started", flush=True)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, outage)
    signal.signal(signal.SIGUSR2, back)
    try:
        k.start()
        print("bootstrap=%s" % k.bootstrap, flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        k.close()


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: kafka.py serve DIR")
    serve(sys.argv[2])
