#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""System tests of posedge-ctl devkafka and posedge-ctl reconcile.

devkafka (librdkafka's mock cluster) is started as a real process: its banner, its fault
commands on stdin, its bootstrap proxy on a fixed port, running on with stdin at end of input
or closed, and a clean exit on SIGTERM/SIGINT. reconcile runs against it with journals written
by the real agent: nothing has been produced yet, so every journal event is reported missing,
and an unreachable Kafka is exit status 2. (The round trip with records produced through the
bridge's output, including duplicates, mismatches and missing seqs, is in
tests/unit/test_output.c.)
"""
import collections
import os
import queue
import signal
import subprocess
import threading

from lib import (CTL, SIM_START, Failure, agent, check, ctl, free_port, journal_events, main, test,
                 tmpdir)

ROUTE = {"sale": "pos.sales", "return": "pos.sales", "void": "pos.sales", "no_sale": "pos.sales",
         "inventory_receipt": "pos.inventory", "inventory_adjust": "pos.inventory",
         "inventory_count": "pos.inventory", "shift_open": "pos.reports",
         "shift_close": "pos.reports", "x_report": "pos.reports", "z_report": "pos.reports",
         "catalog_applied": "pos.reports", "signer_installed": "pos.reports",
         "signer_down": "pos.reports", "signer_up": "pos.reports"}


class DevKafkaProc:
    """posedge-ctl devkafka as a child process whose stdout lines are read with deadlines."""

    def __init__(self, *args, stdin="pipe"):
        pre = None
        if stdin == "closed":
            pre = lambda: os.close(0)  # noqa: E731 - runs in the child before exec
        self.proc = subprocess.Popen(
            [CTL, "devkafka"] + list(args),
            stdin=subprocess.PIPE if stdin == "pipe" else None if stdin == "closed" else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre)
        self.lines = queue.Queue()
        self.err = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._collect, daemon=True).start()
        self.bootstrap_line = self.line(60)
        check(self.bootstrap_line.startswith("bootstrap="), "first line: %r" % self.bootstrap_line)
        self.brokers = self.bootstrap_line.split("=", 1)[1]
        self.banner = self.line(10)

    @staticmethod
    def _pump(f, q):
        for line in f:
            q.put(line.rstrip("\n"))
        q.put(None)

    def _collect(self):
        for line in self.proc.stderr:
            self.err.append(line)

    def line(self, timeout=30):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise Failure("devkafka said nothing for %ss; stderr:\n%s" % (timeout, "".join(self.err)[-2000:]))
        if line is None:
            raise Failure("devkafka ended its output (exit %s); stderr:\n%s" % (
                self.proc.poll(), "".join(self.err)[-2000:]))
        return line

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.line()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def run_reconcile(brokers, *args, timeout=120):
    return ctl("reconcile", "--brokers", brokers, *args, timeout=timeout)


def shopper_journal(customers=20):
    d = tmpdir()
    agent(d, "--shopper", str(customers), "--set", "sim.start=" + SIM_START)
    db = os.path.join(d, "journal.db")
    return db, journal_events(db)


@test
def devkafka_banner_commands_and_sigterm():
    dk = DevKafkaProc("--brokers", "2", "--partitions", "2")
    try:
        check(dk.brokers.count(",") == 1 and dk.brokers.startswith("127.0.0.1:"),
              "two mock brokers: %s" % dk.brokers)
        check("mock cluster" in dk.banner and "NOT for production" in dk.banner
              and "lost" in dk.banner, "banner says what it is: %r" % dk.banner)
        check(dk.command("down") == "ok down", "down")
        check(dk.command("up 2") == "ok up 2", "up 2")
        check(dk.command("up") == "ok up", "up")
        check(dk.command("errors 5 NOT_LEADER_FOR_PARTITION") == "ok errors 5 NOT_LEADER_FOR_PARTITION",
              "errors")
        check(dk.command("errors 2 request_timed_out") == "ok errors 2 request_timed_out", "errors, any case")
        for bad in ["errors 5 NO_SUCH_ERROR", "errors five NOT_LEADER_FOR_PARTITION", "down 3",
                    "launch missiles"]:
            reply = dk.command(bad)
            check(reply.startswith("error %s" % bad), "%r refused: %r" % (bad, reply))
        # End of input on stdin does not stop it: it still serves a reconcile afterwards.
        dk.proc.stdin.close()
        db, _ = shopper_journal(5)
        p = run_reconcile(dk.brokers, db)
        check(p.returncode == 1, "reconcile after stdin EOF: %d %s" % (p.returncode, p.stderr))
        check(dk.proc.poll() is None, "devkafka still running after end of input")
    finally:
        rc = dk.stop(signal.SIGTERM)
    check(rc == 0, "exit status on SIGTERM: %d\n%s" % (rc, "".join(dk.err)[-2000:]))


@test
def devkafka_quit_command():
    dk = DevKafkaProc()
    try:
        check(dk.command("quit") == "ok quit", "quit acknowledged")
        rc = dk.proc.wait(timeout=60)
    finally:
        dk.stop()
    check(rc == 0, "exit status after quit: %d" % rc)


@test
def reconcile_through_port_proxy_reports_all_missing():
    port = free_port()
    db, events = shopper_journal(20)
    dk = DevKafkaProc("--port", str(port), stdin="devnull")
    try:
        check(dk.bootstrap_line == "bootstrap=127.0.0.1:%d" % port, dk.bootstrap_line)
        by_topic = collections.Counter(ROUTE[e["type"]] for e in events)
        p = run_reconcile(dk.brokers, db)
        last = p.stdout.strip().splitlines()[-1]
        check(p.returncode == 1, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        check(last == "missing=%d duplicates=0 mismatched=0" % len(events), "last line %r" % last)
        check("s001/t01: journal=%d kafka=0 missing=%d" % (len(events), len(events)) in p.stdout,
              p.stdout)
        check("    missing seqs: 1, 2, 3" in p.stdout, "first missing seqs listed:\n" + p.stdout)
        # Only the events that route to the topics asked for are compared.
        p = run_reconcile(dk.brokers, "--topic", "pos.reports", db)
        last = p.stdout.strip().splitlines()[-1]
        check(last == "missing=%d duplicates=0 mismatched=0" % by_topic["pos.reports"],
              "reports only: %r" % last)
        # The port is taken now: a second devkafka says so and stops.
        p = ctl("devkafka", "--port", str(port), timeout=60)
        check(p.returncode == 1 and "cannot listen on 127.0.0.1:%d" % port in p.stderr,
              "second devkafka on a taken port: %d %s" % (p.returncode, p.stderr))
    finally:
        rc = dk.stop(signal.SIGINT)
    check(rc == 0, "exit status on SIGINT: %d" % rc)


@test
def devkafka_down_makes_reconcile_fail_with_2():
    db, events = shopper_journal(3)
    dk = DevKafkaProc()
    try:
        check(dk.command("down") == "ok down", "down")
        p = run_reconcile(dk.brokers, "--timeout", "5", db)
        check(p.returncode == 2, "exit %d with Kafka down\n%s" % (p.returncode, p.stderr))
        check("posedge-ctl reconcile:" in p.stderr and p.stdout == "", p.stderr)
        check(dk.command("up") == "ok up", "up")
        p = run_reconcile(dk.brokers, db)
        check(p.returncode == 1 and p.stdout.strip().splitlines()[-1] ==
              "missing=%d duplicates=0 mismatched=0" % len(events), p.stdout + p.stderr)
    finally:
        rc = dk.stop()
    check(rc == 0, "exit status: %d" % rc)


@test
def devkafka_runs_with_stdin_closed():
    dk = DevKafkaProc("--brokers", "1", stdin="closed")
    try:
        db, events = shopper_journal(3)
        p = run_reconcile(dk.brokers, db)
        check(p.returncode == 1, "exit %d\n%s" % (p.returncode, p.stderr))
        check(dk.proc.poll() is None, "still running")
    finally:
        rc = dk.stop()
    check(rc == 0, "exit status: %d" % rc)


@test
def usage_errors_exit_2():
    db, _ = shopper_journal(1)
    check(ctl("reconcile", db).returncode == 2, "reconcile without --brokers")
    check(ctl("reconcile", "--brokers", "127.0.0.1:1").returncode == 2, "reconcile without journal")
    p = ctl("reconcile", "--brokers", "127.0.0.1:1", "--timeout", "5", db)
    check(p.returncode == 2 and "127.0.0.1:1" in p.stderr, "unreachable Kafka: %d %s" % (
        p.returncode, p.stderr))
    check(ctl("devkafka", "--brokers", "0").returncode == 2, "devkafka --brokers 0")
    check(ctl("devkafka", "--port", "70000").returncode == 2, "devkafka --port 70000")
    check(ctl("devkafka", "extra").returncode == 2, "devkafka with an argument")


if __name__ == "__main__":
    main()
