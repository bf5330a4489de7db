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

RealKafka(workdir, security="sasl_ssl") is the node a managed Kafka (Confluent Cloud, MSK,
Aiven) looks like to a client: its bootstrap is a SASL_SSL listener (TLS with a server
certificate from posedge's own store CA, `posedge-ctl pki`; SCRAM-SHA-512, SCRAM-SHA-256 and
PLAIN), authorization by StandardAuthorizer with nothing allowed unless an ACL says so, and no
topic created on demand. Users (random passwords, in 0600 files; see SaslUsers):
  admin   super user (SCRAM)
  bridge  the bridge's principal (SCRAM, and PLAIN with a password of its own): Write on the
          bridge's topics (bridge_topics(); minus deny_topics) and on the transactional id
          posedge-bridge-<bridge_id>, Read on its state topic and its state reader's group,
          and on the catalog topics (CATALOG_TOPICS) and the catalog reader's group
  hq      HQ (SCRAM), as posedge-ctl reconcile and catalog publish run there: Read on pos.*
          and posedge.*, and on the groups posedge-reconcile-*; Write on the catalog topics
          and on the transactional id posedge-ctl-catalog
The topics are made by the fixture (the state topic and the catalog topics compacted), since
no principal but admin may create one: a managed Kafka is set up that way too. The controller
listener and an "internal" PLAINTEXT listener (inter-broker traffic and the fixture's own
tools) are on 127.0.0.1 only; the authorizer must let their principal, User:ANONYMOUS, do
anything (without it the KRaft node cannot register with its own controller).

RealKafka(workdir, catalog=True) makes the catalog topics in plaintext mode too (compacted, as
HQ would: a topic created on demand would not be), at the first start.
"""
import atexit
import base64
import os
import secrets
import shutil
import signal
import subprocess
import time

from lib import BIN, BIN_RELEASE, SRC, Failure, check, free_port, port_open, wait_until

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


# The topics the bridge writes with its default configuration (boards/sim/bridge.json): its
# event topics, dead letters, telemetry, and its compacted state topic (which it also reads).
BRIDGE_TOPICS = ("pos.sales", "pos.inventory", "pos.reports", "pos.dlq", "pos.telemetry")
STATE_TOPIC = "posedge.bridge.state"
STATE_GROUP = "posedge-bridge-state"  # the group id of the bridge's state reader (output_txn.c)
# HQ's catalog topics (compacted) and the rejects topic the bridge writes (bridge/catalog.h),
# the catalog reader's group, and the transactional id of posedge-ctl catalog publish.
CATALOG_TOPICS = ("pos.catalog", "pos.promotions")
REJECTS_TOPIC = "pos.catalog.rejects"
CATALOG_GROUP = "posedge-bridge-catalog"
CATALOG_TID = "posedge-ctl-catalog"
SECURITY_MODES = ("plaintext", "sasl_ssl")
# The SASL mechanisms of the SASL_SSL listener, and the users created at format time (SCRAM).
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
SCRAM_USERS = (("admin", "SCRAM-SHA-512"), ("bridge", "SCRAM-SHA-512"),
               ("bridge", "SCRAM-SHA-256"), ("hq", "SCRAM-SHA-512"))


def _ctl():
    """posedge-ctl for the fixture's PKI: the test build, else the release build (make bench)."""
    for d in (BIN, BIN_RELEASE):
        path = os.path.join(d, "posedge-ctl")
        if os.access(path, os.X_OK):
            return path
    raise Failure("no posedge-ctl in %s or %s (build first)" % (BIN, BIN_RELEASE))


def _write_private(path, text):
    """Writes a file only its owner may read (0600 from the start, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class SaslSecurity:
    """The SASL_SSL side of one node, in <node dir>/security/:

    ca/            a store CA made with `posedge-ctl pki init` (store s001)
    ca.pem         its certificate: the trust anchor clients get (kafka.tls.ca_file)
    keystore.pem   the broker's PKCS#8 key and its server certificate (pki issue --server,
                   SAN DNS:localhost,IP:127.0.0.1), 0600: Kafka's PEM keystore
    USER.password  each user's password on one line, 0600 (bridge-plain: the bridge's PLAIN one)
    USER.kcat      a kcat configuration (-F) for the user over SASL_SSL, 0600
    admin.properties  the same for Kafka's Java tools (--command-config), 0600

    Passwords are drawn at random once per object, so a test can grep logs for them.
    """

    def __init__(self, node_dir):
        self.dir = os.path.join(node_dir, "security")
        self.ca_dir = os.path.join(self.dir, "ca")
        self.ca_file = os.path.join(self.dir, "ca.pem")
        self.keystore = os.path.join(self.dir, "keystore.pem")
        self.passwords = {u: "pw-%s-%s" % (u, secrets.token_hex(12))
                          for u in ("admin", "bridge", "bridge-plain", "hq")}

    def password_file(self, user):
        return os.path.join(self.dir, user + ".password")

    def prepare(self):
        """Makes the CA, the keystore and the users' files (once; a restart keeps them)."""
        if os.path.exists(self.keystore):
            return
        os.makedirs(self.dir, exist_ok=True)
        ctl = _ctl()
        key, crt = os.path.join(self.dir, "server.key"), os.path.join(self.dir, "server.pem")
        for args in (["init", "--dir", self.ca_dir, "--store", "s001"],
                     ["issue", "--dir", self.ca_dir, "--store", "s001", "--server",
                      "--san", "DNS:localhost,IP:127.0.0.1", "--key-out", key, "--out", crt]):
            p = subprocess.run([ctl, "pki"] + args, capture_output=True, text=True, timeout=60)
            check(p.returncode == 0, "posedge-ctl pki %s exited %d: %s"
                  % (args[0], p.returncode, p.stderr.strip()))
        with open(key) as f:
            key_pem = f.read()
        check(key_pem.startswith("-----BEGIN PRIVATE KEY-----"),
              "posedge-ctl pki issue did not write a PKCS#8 key (Kafka's PEM keystore needs one)")
        with open(crt) as f:
            crt_pem = f.read()
        _write_private(self.keystore, key_pem + crt_pem)
        shutil.copyfile(os.path.join(self.ca_dir, "ca.crt"), self.ca_file)
        for user, pw in self.passwords.items():
            _write_private(self.password_file(user), pw + "\n")
        for user in ("admin", "bridge", "hq"):
            _write_private(os.path.join(self.dir, user + ".kcat"), "".join(
                "%s=%s\n" % kv for kv in self.client_properties(user).items()))
        _write_private(os.path.join(self.dir, "admin.properties"),
                       "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                       "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
                       "required username=\"admin\" password=\"%s\";\n"
                       "ssl.truststore.type=PEM\nssl.truststore.location=%s\n"
                       % (self.passwords["admin"], self.ca_file))

    def client_properties(self, user, mechanism="SCRAM-SHA-512"):
        """librdkafka properties of a client logged in as user (password included: for files
        that are 0600, never for a command line). user "bridge" with PLAIN takes the bridge's
        PLAIN password."""
        pw = self.passwords["bridge-plain" if (user, mechanism) == ("bridge", "PLAIN") else user]
        return {"security.protocol": "SASL_SSL", "sasl.mechanisms": mechanism,
                "sasl.username": user, "sasl.password": pw, "ssl.ca.location": self.ca_file}

    def kcat_args(self, user="admin"):
        return ["-F", os.path.join(self.dir, user + ".kcat")]

    def settings(self, user="bridge", mechanism="SCRAM-SHA-512", password_file=None):
        """The posedge settings (bridge.json's kafka.* keys) of a client logged in as user."""
        if password_file is None:
            password_file = self.password_file(
                "bridge-plain" if (user, mechanism) == ("bridge", "PLAIN") else user)
        return {"kafka.security_protocol": "sasl_ssl", "kafka.sasl.mechanism": mechanism,
                "kafka.sasl.username": user, "kafka.sasl.password_file": password_file,
                "kafka.tls.ca_file": self.ca_file}


class RealKafka:
    """One Kafka 3.9 node (KRaft broker+controller, node.id 1) on 127.0.0.1.

    The node's files are in <workdir>/<name>/: server.properties, log4j.properties, kafka.log
    (everything the JVM prints, appended across restarts) and data/ (log.dirs and the metadata
    log). Raises Failure from the constructor when Kafka has not been fetched.

    security "plaintext" (the default): one PLAINTEXT listener, topics created on demand.
    security "sasl_ssl": bootstrap is the SASL_SSL listener, self.sasl the users and files
    (SaslSecurity), admin_bootstrap a PLAINTEXT listener for the fixture's own tools; the
    first start makes the bridge's topics (BRIDGE_TOPICS, STATE_TOPIC) and the ACLs of the
    module's docstring for bridge id bridge_id, leaving out Write on deny_topics.
    """

    def __init__(self, workdir, name="kafka", security="plaintext", bridge_id="s001",
                 deny_topics=(), catalog=False):
        check(security in SECURITY_MODES, "security: one of %s" % ", ".join(SECURITY_MODES))
        self.home = kafka_home()
        self.classpath = os.path.join(self.home, "lib", "*")
        self.dir = os.path.join(workdir, name)
        self.data = os.path.join(self.dir, "data")
        self.logpath = os.path.join(self.dir, "kafka.log")
        self.conf = os.path.join(self.dir, "server.properties")
        self.security = security
        self.bridge_id = bridge_id
        self.deny_topics = tuple(deny_topics)
        self.catalog = catalog or security == "sasl_ssl"
        ports = set()
        while len(ports) < (3 if security == "sasl_ssl" else 2):
            ports.add(free_port())
        ports = sorted(ports)
        self.port = ports[0]  # the clients' listener: PLAINTEXT, or SASL_SSL
        self.controller_port = ports[1]
        self.internal_port = ports[2] if security == "sasl_ssl" else self.port
        self.sasl = SaslSecurity(self.dir) if security == "sasl_ssl" else None
        self.proc = None
        self.start_seconds = None  # how long the last start() took
        os.makedirs(self.dir, exist_ok=True)
        atexit.register(self.kill)  # a test that forgets close() leaves no JVM behind

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    @property
    def admin_bootstrap(self):
        """Where the fixture's tools connect: the PLAINTEXT listener (User:ANONYMOUS, a super
        user in sasl_ssl mode, where it is the internal listener)."""
        return "127.0.0.1:%d" % self.internal_port

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
        if self.sasl:
            props.update(self._sasl_props())
        # 0600: in sasl_ssl mode it holds the PLAIN passwords.
        _write_private(self.conf, "# Generated by tests/system/kafka.py\n"
                       + "".join("%s=%s\n" % kv for kv in props.items()))
        for name, text in (("log4j.properties", BROKER_LOG4J),
                           ("tools-log4j.properties", TOOLS_LOG4J)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def _sasl_props(self):
        """server.properties of sasl_ssl mode (over the plaintext ones)."""
        sa = self.sasl
        plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                 'user_bridge="%s";' % sa.passwords["bridge-plain"])
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "listeners": "INTERNAL://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                         % (self.internal_port, self.port, self.controller_port),
            "advertised.listeners": "INTERNAL://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d"
                                    % (self.internal_port, self.port),
            "listener.security.protocol.map":
                "INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
            # A PEM keystore: the PKCS#8 key and the certificate in one file, no password.
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": sa.keystore,
            "listener.name.sasl_ssl.ssl.client.auth": "none",
            "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # ANONYMOUS is whoever comes in over a PLAINTEXT listener: the controller's and the
            # internal one, both on 127.0.0.1 only. Without it the node cannot even register.
            "super.users": "User:admin;User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
            # Topics come from the fixture (admin), as on a managed Kafka.
            "auto.create.topics.enable": "false",
        }

    def _java(self, log4j, *args, jvm=("-Xmx256m",)):
        return ["java"] + list(jvm) + ["-Djava.awt.headless=true",
                "-Dlog4j.configuration=file:" + os.path.join(self.dir, log4j),
                "-cp", self.classpath] + list(args)

    def _format(self):
        # meta.properties in log.dirs says the storage is formatted: a restart keeps it.
        if os.path.exists(os.path.join(self.data, "meta.properties")):
            return
        if self.sasl:
            self.sasl.prepare()
        self._write_config()
        scram = []
        for user, mech in (SCRAM_USERS if self.sasl else ()):
            # SCRAM credentials live in the metadata log: made here, before the first start.
            scram += ["--add-scram", "%s=[name=%s,password=%s]"
                      % (mech, user, self.sasl.passwords[user])]
        p = subprocess.run(self._java("tools-log4j.properties", "kafka.tools.StorageTool",
                                      "format", "-t", _cluster_id(), "-c", self.conf, *scram),
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "kafka-storage format exited %d:\n%s%s"
              % (p.returncode, p.stdout[-2000:], p.stderr[-3000:]))

    def _serves(self):
        if self.proc.poll() is not None:
            raise Failure("Kafka exited with status %d while starting; last lines of %s:\n%s"
                          % (self.proc.returncode, self.logpath, self.logtail(30)))
        if not port_open(self.port) or not port_open(self.internal_port):
            return False
        try:
            p = subprocess.run([KCAT, "-b", self.admin_bootstrap, "-L", "-m", "5"],
                               capture_output=True, text=True, timeout=15)
            if not (p.returncode == 0 and ("broker 1 at %s" % self.admin_bootstrap) in p.stdout):
                return False
            if self.sasl:  # and the clients' listener: TLS and a SCRAM login
                p = subprocess.run([KCAT, "-b", self.bootstrap] + self.sasl.kcat_args("admin")
                                   + ["-L", "-m", "5"], capture_output=True, text=True,
                                   timeout=15)
                return p.returncode == 0 and ("broker 1 at %s" % self.bootstrap) in p.stdout
        except subprocess.TimeoutExpired:
            return False
        return True

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
        if self.sasl:
            self._setup_sasl()
        elif self.catalog:
            self._setup_catalog()
        self.start_seconds = time.monotonic() - t0
        return self

    def bridge_topics(self):
        """Every topic the bridge writes (its Write ACL, less deny_topics)."""
        return BRIDGE_TOPICS + (STATE_TOPIC, REJECTS_TOPIC)

    @staticmethod
    def catalog_topics():
        """(topic, partitions, config) of the catalog topics: HQ's two compacted ones (three
        partitions, so that a test sees records of one store spread over several) and the
        rejects topic."""
        compact = {"cleanup.policy": "compact"}
        return [(t, 3, compact) for t in CATALOG_TOPICS] + [(REJECTS_TOPIC, 1, None)]

    def _setup_catalog(self):
        """Plaintext mode with catalog=True, once: the catalog topics."""
        done = os.path.join(self.dir, "catalog.done")
        if os.path.exists(done):
            return
        topics = self.catalog_topics()
        jobs = [self._tool_start("org.apache.kafka.tools.TopicCommand",
                                 *self._create_topic_args(t, n, c)) for t, n, c in topics]
        for j in jobs:
            self._tool_wait(j)
        for t, n, _ in topics:
            wait_until(lambda: sorted(self.topic_leaders(t).items())
                       == [(i, 1) for i in range(n)], 60, "leaders of %s" % t)
        open(done, "w").close()

    def _setup_sasl(self):
        """Once, at the first start: the topics and the ACLs (both live in the metadata log,
        so a restart keeps them). The JVM tools run side by side: each is seconds of start-up."""
        done = os.path.join(self.sasl.dir, "setup.done")
        if os.path.exists(done):
            return
        topics = [(t, 1, None) for t in BRIDGE_TOPICS] + [
            (STATE_TOPIC, 1, {"cleanup.policy": "compact"})] + self.catalog_topics()
        allowed = [t for t in self.bridge_topics() if t not in self.deny_topics]
        tid = "posedge-bridge-%s" % self.bridge_id
        jobs = [self._tool_start("org.apache.kafka.tools.TopicCommand",
                                 *self._create_topic_args(t, n, c)) for t, n, c in topics]
        jobs += [self._tool_start("kafka.admin.AclCommand", *args) for args in (
            self._acl_args("User:bridge", ("Write", "Describe"), topics=allowed, tids=(tid,)),
            self._acl_args("User:bridge", ("Read",), topics=(STATE_TOPIC,) + CATALOG_TOPICS,
                           groups=(STATE_GROUP, CATALOG_GROUP)),
            self._acl_args("User:hq", ("Write", "Describe"), topics=CATALOG_TOPICS,
                           tids=(CATALOG_TID,)),
            self._acl_args("User:hq", ("Read", "Describe"), topics=("pos.", "posedge."),
                           groups=("posedge-reconcile",), prefixed=True))]
        for j in jobs:
            self._tool_wait(j)
        for t, n, _ in topics:
            wait_until(lambda: sorted(self.topic_leaders(t).items())
                       == [(i, 1) for i in range(n)], 60, "leaders of %s" % t)
        open(done, "w").close()

    def _acl_args(self, principal, operations, topics=(), groups=(), tids=(), prefixed=False,
                  remove=False):
        args = ["--bootstrap-server", self.admin_bootstrap, "--remove" if remove else "--add",
                "--force", "--allow-principal", principal]
        for op in operations:
            args += ["--operation", op]
        for t in topics:
            args += ["--topic", t]
        for g in groups:
            args += ["--group", g]
        for t in tids:
            args += ["--transactional-id", t]
        if prefixed:
            args += ["--resource-pattern-type", "prefixed"]
        return args

    def acl(self, principal, operations, topics=(), groups=(), tids=(), prefixed=False,
            remove=False):
        """Adds (or with remove=True removes) an allow ACL in sasl_ssl mode, e.g.
        acl("User:bridge", ["Write"], topics=["pos.inventory"]). The authorizer applies it
        within a moment; a client holding a refusal finds out at its next try."""
        check(self.sasl is not None, "ACLs need security=\"sasl_ssl\"")
        self.tool("kafka.admin.AclCommand", *self._acl_args(
            principal, operations, topics, groups, tids, prefixed, remove))

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
        return self._tool_wait(self._tool_start(main_class, *args), timeout, check_rc)

    def _tool_start(self, main_class, *args):
        p = subprocess.Popen(self._java("tools-log4j.properties", main_class, *args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return (p, main_class, args)

    def _tool_wait(self, job, timeout=120, check_rc=0):
        p, main_class, args = job
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise Failure("%s %s: timed out after %ss" % (main_class, " ".join(args), timeout))
        if check_rc is not None and p.returncode != check_rc:
            raise Failure("%s %s exited %d\nstdout: %s\nstderr: %s" % (
                main_class, " ".join(args), p.returncode, out[-2000:], err[-3000:]))
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def topic_leaders(self, name):
        """{partition: leader id} of a topic as the broker's metadata says, {} if unknown."""
        p = subprocess.run([KCAT, "-b", self.admin_bootstrap, "-L", "-t", name, "-m", "5"],
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
        self.tool("org.apache.kafka.tools.TopicCommand",
                  *self._create_topic_args(name, partitions, config))
        wait_until(lambda: sorted(self.topic_leaders(name).items())
                   == [(i, 1) for i in range(partitions)], 60,
                   "leaders of the %d partitions of %s" % (partitions, name))

    def _create_topic_args(self, name, partitions, config):
        args = ["--bootstrap-server", self.admin_bootstrap, "--create", "--topic", name,
                "--partitions", str(partitions), "--replication-factor", "1"]
        for k, v in (config or {}).items():
            args += ["--config", "%s=%s" % (k, v)]
        return args

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


def serve(workdir, security="plaintext", catalog=False):
    """`kafka.py serve [--sasl-ssl] [--catalog] DIR`: run one node until SIGTERM or SIGINT (for
    make bench and make demo). The last line it prints at start is "bootstrap=HOST:PORT".
    --catalog makes the catalog topics in plaintext mode (RealKafka(catalog=True)). With --sasl-ssl
    the node is the SASL_SSL one of the tests, and lines before that one say how to reach it:
    "internal=HOST:PORT" (PLAINTEXT, its own tools), "ca_file=PATH", "password_file=PATH" (the
    bridge user's), "client_properties=PATH" (librdkafka key=value lines for the bridge user,
    0600), and "set=KEY=VALUE" for each bridge setting (posedge-bridge --set). SIGUSR1 stops the
    broker (an outage), SIGUSR2 starts it again on the same port and data; each prints a line."""
    k = RealKafka(workdir, security=security, catalog=catalog)

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
        if k.sasl:
            print("internal=%s" % k.admin_bootstrap)
            print("ca_file=%s" % k.sasl.ca_file)
            print("password_file=%s" % k.sasl.password_file("bridge"))
            print("client_properties=%s" % os.path.join(k.sasl.dir, "bridge.kcat"))
            for kv in k.sasl.settings().items():
                print("set=%s=%s" % kv)
        print("bootstrap=%s" % k.bootstrap, flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        k.close()


if __name__ == "__main__":
    import sys
    args = sys.argv[1:]
    sasl = "--sasl-ssl" in args
    catalog = "--catalog" in args
    args = [a for a in args if a not in ("--sasl-ssl", "--catalog")]
    if len(args) != 2 or args[0] != "serve":
        sys.exit("usage: kafka.py serve [--sasl-ssl] [--catalog] DIR")
    serve(args[1], "sasl_ssl" if sasl else "plaintext", catalog)
