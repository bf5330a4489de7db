#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""/metrics and /health of the bridge and the tills (http.listen; docs/metrics.md).

A real Prometheus server (Debian's prometheus package) scrapes a running store every second:
the bridge and two tills, over a Kafka outage (the mock cluster down) and after it. The test
asks Prometheus's HTTP API for the backlog and the oldest pending event's age, and checks the
answers against the tills' journals: during the outage every event of a till is in the backlog
and the age is that of its first event (by event time); after it, the backlog is empty and
every event is delivered. promtool checks what both daemons expose.

Runs under /usr/bin/python3 (tests/run.sh): the standard library only.
"""
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from lib import (AGENT, BRIDGE, BRIDGE_CONFIG, CONFIG, CTL, SIM_START, Bridge, DevKafka, Mosquitto, check, free_port,
                 main, port_open, run, test, tmpdir, wait_until)

START = ["--set", "sim.start=" + SIM_START]  # the tills' clock: never the time of the run


def get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def promtool_ok(text, what):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          "promtool check metrics on %s: rc %d\n%s%s" % (what, p.returncode, p.stdout, p.stderr))


def journal(data_dir):
    """The till's journal records, by seq."""
    out = run([CTL, "journal", os.path.join(data_dir, "journal.db")], check_rc=0).stdout
    return {r["seq"]: r for r in map(json.loads, out.splitlines())}


def epoch_s(ts):
    from datetime import datetime, timezone
    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return t.timestamp()


class Prometheus:
    """A Prometheus server of its own, scraping the given jobs ({job: [port, ...]}) every
    second, with its data in a temporary directory."""

    def __init__(self, workdir, jobs):
        self.port = free_port()
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\nscrape_configs:\n")
            for job, ports in jobs.items():
                f.write("  - job_name: %s\n    static_configs:\n      - targets: [%s]\n"
                        % (job, ", ".join("'127.0.0.1:%d'" % p for p in ports)))
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + self.dir + "/data",
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=self.log)
        wait_until(lambda: self.proc.poll() is None and port_open(self.port)
                   and get(self.port, "/-/ready")[0] == 200, 60, "Prometheus ready")

    def query(self, q):
        """{labels as a sorted tuple of (name, value): float} of an instant query."""
        st, body = get(self.port, "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        check(st == 200, "Prometheus %s: %d %s" % (q, st, body[:500]))
        res = json.loads(body)["data"]["result"]
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in res}

    def by_terminal(self, q):
        return {dict(k).get("terminal"): v for k, v in self.query(q).items()}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


class Store:
    """Broker, the mock Kafka, a bridge with http.listen, and tills started with spawn()."""

    def __init__(self):
        self.dir = tmpdir("pe-metrics")
        self.mqtt = Mosquitto(self.dir).start()
        self.kafka = DevKafka(self.dir)
        self.http = free_port()
        self.bridge = Bridge(self.dir, self.mqtt.addr, self.kafka.bootstrap, "--set",
                             "http.listen=127.0.0.1:%d" % self.http).start()
        self.tills = {}
        self.prom = None
        wait_until(lambda: port_open(self.http), 30, "the bridge's HTTP listener")

    def spawn(self, terminal, n, seed, *extra):
        d = os.path.join(self.dir, terminal)
        port = free_port()
        log = open(d + ".log", "a")
        p = subprocess.Popen([AGENT, "-c", CONFIG, "--data-dir", d, "--terminal", terminal,
                              "--mqtt", self.mqtt.addr, *START, "--shopper", str(n), "--seed",
                              str(seed), "--wait-delivered", "300", "--set",
                              "http.listen=%d" % port, *extra],
                             stdout=subprocess.DEVNULL, stderr=log)
        self.tills[terminal] = (p, d, port)
        return p

    def close(self):
        for p, _, _ in self.tills.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in (self.prom.stop if self.prom else None, self.bridge.stop, self.kafka.stop,
                  self.mqtt.stop):
            try:
                f and f()
            except Exception:
                pass


def waiting_for_delivery(data_dir):
    with open(data_dir + ".log", errors="replace") as f:
        return "event=agent.wait_delivered" in f.read()


@test
def prometheus_follows_the_backlog_through_a_kafka_outage():
    s = Store()
    try:
        s.kafka.command("down")
        s.spawn("t01", 25, 31)
        s.spawn("t02", 25, 32, "--set", "health.disk_min_mb=1048576")
        for t, (p, d, port) in s.tills.items():
            wait_until(lambda: port_open(port), 30, "the HTTP listener of " + t)
        s.prom = Prometheus(s.dir, {"bridge": [s.http],
                                    "till": [port for _, _, port in s.tills.values()]})
        for t, (p, d, port) in s.tills.items():
            wait_until(lambda: waiting_for_delivery(d), 120, t + " done selling")
        recs = {t: journal(d) for t, (p, d, port) in s.tills.items()}
        last = {t: max(r) for t, r in recs.items()}

        # During the outage: everything spooled, nothing delivered, by the bridge and the tills.
        for job in ("bridge", "till"):
            wait_until(lambda: s.prom.by_terminal('posedge_backlog_events{job="%s"}' % job)
                       == {t: float(n) for t, n in last.items()}, 60,
                       "Prometheus: the %s's backlog equal to the journals %s" % (job, last))
        check(s.prom.by_terminal('posedge_events_captured_total') ==
              {t: float(n) for t, n in last.items()}, "captured = the journals' last seq")
        check(s.prom.by_terminal('posedge_events_spooled_total{job="bridge"}') ==
              {t: float(n) for t, n in last.items()}, "the bridge spooled every event")
        check(set(s.prom.by_terminal('posedge_events_delivered_total{job="bridge"}').values())
              == {0.0}, "nothing delivered while Kafka is down")
        # The age is that of seq 1, by event time, as of the scrape: age - scrape time is minus
        # the first event's time (within the moment between the scrape and the answer).
        for job in ("bridge", "till"):
            q = 'posedge_backlog_oldest_age_seconds{job="%s"}' % job
            got = s.prom.by_terminal("%s - timestamp(%s)" % (q, q))
            for t, r in recs.items():
                want = -epoch_s(r[1]["ts"])
                check(t in got and abs(got[t] - want) < 2.0,
                      "%s age of %s: %s, journal seq 1 at %s" % (job, t, got.get(t), r[1]["ts"]))
        check(s.prom.query('posedge_kafka_connected{job="bridge"}') and
              set(s.prom.query('posedge_kafka_connected{job="bridge"}').values()) == {0.0},
              "Kafka down shows")

        # What both daemons expose passes promtool, and /health says what is wrong.
        promtool_ok(get(s.http, "/metrics")[1], "the bridge")
        promtool_ok(get(s.tills["t01"][2], "/metrics")[1], "a till")
        st, body = get(s.http, "/health")
        check(st == 200 and json.loads(body)["status"] == "ok", "bridge health %d %s" % (st, body))
        st, body = get(s.tills["t01"][2], "/health")
        check(st == 200 and json.loads(body)["problems"] == [], "t01 health %d %s" % (st, body))
        st, body = get(s.tills["t02"][2], "/health")
        doc = json.loads(body)
        check(st == 503 and doc["status"] == "fail" and
              [p["reason"] for p in doc["problems"]] == ["disk_low"] and
              "health.disk_min_mb" in doc["problems"][0]["detail"],
              "t02 (health.disk_min_mb over the disk) answers 503 disk_low: %d %s" % (st, body))
        st, _ = get(s.http, "/nothing")
        check(st == 404, "an unknown path is 404, not %d" % st)

        # After it: the backlog drains, every event delivered once, the age back to 0.
        s.kafka.command("up")
        wait_until(lambda: s.prom.by_terminal('posedge_events_delivered_total{job="bridge"}')
                   == {t: float(n) for t, n in last.items()}, 120,
                   "Prometheus: every journal event delivered")
        wait_until(lambda: set(s.prom.by_terminal('posedge_backlog_events{job="bridge"}')
                               .values()) == {0.0} and
                   set(s.prom.by_terminal('posedge_backlog_oldest_age_seconds{job="bridge"}')
                       .values()) == {0.0}, 60, "Prometheus: the backlog and its age back to 0")
        for t, (p, d, port) in s.tills.items():
            check(p.wait(timeout=120) == 0, t + ": not everything delivered")
        dead = s.prom.query('sum(posedge_dead_letters_total{job="bridge"})')
        check(list(dead.values()) == [0.0], "no dead letters: %s" % dead)
    finally:
        s.close()


@test
def alerting_rules_and_grafana_dashboard():
    """docs/ ships Prometheus alerting rules for the alarms (promtool checks them and runs their
    unit tests) and a Grafana dashboard whose queries name only documented metrics."""
    import re
    from lib import SRC
    prom = os.path.join(SRC, "docs", "prometheus")
    for args in (["check", "rules", "posedge-alerts.yml"],
                 ["test", "rules", "posedge-alerts.test.yml"]):
        p = subprocess.run(["promtool"] + args, cwd=prom, capture_output=True, text=True,
                           timeout=60)
        check(p.returncode == 0 and "SUCCESS" in p.stdout,
              "promtool %s: rc %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    with open(os.path.join(SRC, "docs", "metrics.md")) as f:
        documented = set(re.findall(r"`(posedge_[a-z_]+)", f.read()))
    with open(os.path.join(prom, "posedge-alerts.yml")) as f:
        rules = f.read()
    alarms = set(re.findall(r'alarm="([a-z_]+)"', rules))
    check(alarms == {"till_offline", "backlog_old", "spool_high", "kafka_auth", "device_offline",
                     "cert_expiry", "crl_expiry", "signer_down"},
          "a rule for every alarm: %s" % sorted(alarms))
    with open(os.path.join(SRC, "docs", "grafana", "posedge-stores.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = set(re.findall(r"posedge_[a-z_]+", " ".join(exprs) + rules))
    check(exprs and used <= documented, "undocumented metrics: %s" % sorted(used - documented))


@test
def a_bad_listen_address_is_refused_with_its_key():
    for prog, args in ((AGENT, ["-c", CONFIG]), (BRIDGE, ["-c", BRIDGE_CONFIG])):
        for bad, words in (("localhost:99999", "not a port"), ("::1:80", "IPv6"),
                           ("host:", "not a port")):
            p = run([prog] + args + ["--set", "http.listen=" + bad, "--print-config"])
            check(p.returncode != 0 and "http.listen" in p.stderr and words in p.stderr,
                  "%s http.listen=%s: rc %d %s" % (prog, bad, p.returncode, p.stderr))


if __name__ == "__main__":
    main()
