#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The store dashboard (the bridge's http.listen /) in headless Chromium, and the alarms.

A store with two tills selling while Kafka is down (so both stay up, waiting for delivery): the
page, loaded by Debian's Chromium with no network beyond loopback, shows both tills online and
the day's sales by hour (by event time: the simulated day, never the run's); then one till is
killed with kill -9, its last will says offline, and the page turns it offline. The alarms
(till_offline) show the same in the page, the bridge's state document and its /metrics. A
screenshot is kept in $PE_TEST_LOGDIR (tests/run.sh's log directory).

Runs under /usr/bin/python3 (tests/run.sh): the standard library only.
"""
import html.parser
import json
import os
import shutil
import signal
import subprocess
import urllib.request

from lib import (AGENT, CONFIG, SIM_START, Bridge, DevKafka, Mosquitto, check, free_port, main,
                 port_open, run, test, tmpdir, wait_until)

START = ["--set", "sim.start=" + SIM_START]  # the tills' clock: never the time of the run
LOGDIR = os.environ.get("PE_TEST_LOGDIR")


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


class Rows(html.parser.HTMLParser):
    """The tills' rows of a dumped DOM: {terminal: data-state}, and the chart's bars."""

    def __init__(self):
        super().__init__()
        self.tills, self.bars = {}, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get("id", "").startswith("till-"):
            self.tills[a["id"][5:]] = a.get("data-state")
        if tag == "rect" and a.get("id", "").startswith("hour-"):
            self.bars[int(a["id"][5:])] = int(a.get("data-total", "0"))


def chromium(url, workdir, screenshot=None):
    """The DOM of url after its script has run, from headless Chromium. Name resolution is
    off except for loopback, and background networking with it: nothing leaves the machine."""
    args = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--user-data-dir=" + os.path.join(workdir, "chromium"), "--window-size=1280,900",
            "--virtual-time-budget=6000"]
    if screenshot:
        args.append("--screenshot=" + screenshot)
    else:
        args.append("--dump-dom")
    p = subprocess.run(args + [url], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "chromium: rc %d %s" % (p.returncode, p.stderr[-1500:]))
    return p.stdout


def page_tills(url, workdir):
    r = Rows()
    r.feed(chromium(url, workdir))
    return r


@test
def dashboard_shows_a_till_killed_offline():
    d = tmpdir("pe-dash")
    mqtt = Mosquitto(d).start()
    kafka = DevKafka(d)
    port = free_port()
    bridge = Bridge(d, mqtt.addr, kafka.bootstrap, "--set", "http.listen=%d" % port).start()
    tills = {}
    try:
        wait_until(lambda: port_open(port), 30, "the bridge's HTTP listener")
        kafka.command("down")
        for t, seed in (("t01", 41), ("t02", 42)):
            data = os.path.join(d, t)
            tills[t] = subprocess.Popen(
                [AGENT, "-c", CONFIG, "--data-dir", data, "--terminal", t, "--mqtt", mqtt.addr,
                 *START, "--shopper", "20", "--seed", str(seed), "--wait-delivered", "300"],
                stdout=subprocess.DEVNULL, stderr=open(data + ".log", "w"))
        url = "http://127.0.0.1:%d/" % port
        st, ctype, body = get(port, "/")
        check(st == 200 and ctype.startswith("text/html") and "<script>" in body,
              "the page: %d %s" % (st, ctype))
        check("http://" not in body.replace("http://www.w3.org/2000/svg", "") and
              "https://" not in body, "the page names no external resource")

        def online():
            data = json.loads(get(port, "/dashboard.json")[2])
            return {t["terminal"]: t["online"] for t in data["tills"]} == \
                {"t01": True, "t02": True} and all(t["last_sale"] for t in data["tills"])
        wait_until(online, 60, "both tills online with a sale in /dashboard.json")
        r = page_tills(url, d)
        check(r.tills == {"t01": "online", "t02": "online"}, "the page's tills: %s" % r.tills)
        data = json.loads(get(port, "/dashboard.json")[2])
        day = data["sales"]["day"]
        check(day == SIM_START[:10], "today is the simulated day %s, not %s" % (SIM_START[:10], day))
        total = sum(h["total"] for h in data["sales"]["hours"])
        check(total > 0 and sum(r.bars.values()) == total and len(r.bars) == 24,
              "the chart's 24 bars add up to the day's sales %d: %s" % (total, r.bars))

        tills["t02"].send_signal(signal.SIGKILL)
        tills["t02"].wait()
        wait_until(lambda: page_tills(url, d).tills == {"t01": "online", "t02": "offline"}, 60,
                   "the page to show t02 offline and t01 online")
        if LOGDIR:
            shot = os.path.join(LOGDIR, "dashboard.png")
            chromium(url, d, screenshot=shot)
            check(os.path.getsize(shot) > 10000, "the screenshot %s" % shot)
        # The same alarm in the page's data, the bridge's state document and its metrics.
        alarms = json.loads(get(port, "/dashboard.json")[2])["alarms"]
        check({"alarm": "till_offline", "terminal": "t02"} in
              [{k: a[k] for k in ("alarm", "terminal")} for a in alarms],
              "till_offline t02 in the page's alarms: %s" % alarms)
        sub = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mqtt.port), "-t",
                   "posedge/v1/s001/bridge/state", "-C", "1", "-W", "10"], check_rc=0)
        check(any(a["alarm"] == "till_offline" and a["terminal"] == "t02"
                  for a in json.loads(sub.stdout)["alarms"]), "in the state document")
        metrics = get(port, "/metrics")[2]
        check('posedge_alarm{store="s001",alarm="till_offline",terminal="t02"} 1' in metrics,
              "in the metrics")
        check('alarm="till_offline",terminal="t01"' not in metrics, "t01 has no alarm")

        kafka.command("up")
        check(tills["t01"].wait(timeout=120) == 0, "t01: not everything delivered")
    finally:
        for p in tills.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in (bridge.stop, kafka.stop, mqtt.stop):
            try:
                f()
            except Exception:
                pass
        shutil.rmtree(os.path.join(d, "chromium"), ignore_errors=True)


if __name__ == "__main__":
    main()
