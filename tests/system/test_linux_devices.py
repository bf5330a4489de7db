#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The agent driving the Linux drivers of hal/linux against simulated devices on ptys.

A serial barcode scanner, an NCI scale (which answers every weight request, with line noise
before its reply), an ESC/POS receipt printer and a 2 x 20 customer display, each the far end
of a pseudo-terminal played by this test; the operator's keys and the payment terminal are the
sim board's fakes, driven by a scenario whose "device" steps wait for the real scan and
weight. A weighed sale goes through end to end: scan, weigh, commit, print, drawer kick.
"""
import json
import re
import os
import pty
import subprocess
import threading
import tty

from lib import AGENT, CONFIG, check, ctl, main, test, tmpdir, wait_until

WEIGHT = b"\n  0.640kg\r\nS00\r\x03"  # NCI: 0.640 kg, stable, not at zero, in range
NOISE = b"\xff\x00garbage 9.999kg\r\x03\r"  # before the reply: must not change the weight
BANANAS = b"2036804399352"  # weighed produce, 1.99 per kg


class Pty:
    """The device end of a pseudo-terminal: everything the driver writes is collected."""

    def __init__(self, name, answer=None):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        self.name, self.answer = name, answer
        self.got = bytearray()
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.got += data
            if self.answer:
                reply = self.answer(data)
                if reply:
                    os.write(self.master, reply)

    def bytes(self):
        with self.lock:
            return bytes(self.got)

    def close(self):
        self.stop = True
        os.close(self.master)
        os.close(self.slave)


def scale_answer(data):
    # Every "W\r" gets line noise, then a whole reply; anything else is not a request.
    return (NOISE + WEIGHT) * data.count(b"W\r")


@test
def weighed_sale_through_linux_drivers():
    d = tmpdir("pe-linux")
    scanner, scale = Pty("scanner"), Pty("scale", scale_answer)
    printer, display = Pty("printer"), Pty("display")
    scenario = os.path.join(d, "sale.jsonl")
    with open(scenario, "w") as f:
        for step in ({"do": "clock", "ts": "2026-11-21T08:00:00.000Z"},
                     {"do": "login", "operator": "op17"},
                     {"do": "shift_open", "float": 20000},
                     {"do": "device", "input": "weigh"},
                     {"do": "device", "input": "scan"},
                     {"do": "subtotal"},
                     {"do": "tender", "method": "cash", "amount": 500}):
            f.write(json.dumps(step) + "\n")
    args = [AGENT, "-c", CONFIG, "--data-dir", d, "--scenario", scenario,
            "--set", "devices.scanner.driver=serial", "--set", "devices.scanner.path=" + scanner.path,
            "--set", "devices.scale.driver=serial", "--set", "devices.scale.path=" + scale.path,
            "--set", "devices.scale.options=protocol=nci baud=9600 parity=even bits=7",
            "--set", "devices.printer.driver=escpos", "--set", "devices.printer.path=" + printer.path,
            "--set", "devices.printer.options=status=off",
            "--set", "devices.display.driver=serial", "--set", "devices.display.path=" + display.path]
    log = open(os.path.join(d, "agent.log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        # The scan comes once the shift is open (as an operator scans once logged in).
        wait_until(lambda: b"Shift open" in display.bytes() or proc.poll() is not None, 30,
                   "the display to show the open shift")
        check(proc.poll() is None, "agent exited early: see %s/agent.log" % d)
        os.write(scanner.master, b"\x02" + BANANAS + b"\r\n")  # STX framing is skipped
        check(proc.wait(timeout=60) == 0, "agent exit status %s (see %s/agent.log)" %
              (proc.returncode, d))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in (scanner, scale, printer, display):
            p.close()
    # The journal has the sale with the weight the scale reported, noise or not.
    events = [json.loads(l) for l in ctl("journal", os.path.join(d, "journal.db"),
                                          check_rc=0).stdout.splitlines()]
    sales = [e for e in events if e["type"] == "sale"]
    check(len(sales) == 1, "one sale: %s" % [e["type"] for e in events])
    line = sales[0]["body"]["lines"][0]
    check(line["barcode"] == BANANAS.decode() and line["qty"] == 640 and line["unit"] == "g"
          and line["amount"] == 127, "the sale records 640 g of bananas: %s" % line)
    # The printer got ESC @, the receipt, a cut and a drawer kick (cash).
    out = printer.bytes()
    check(out.startswith(b"\x1b@"), "ESC @ first: %r" % out[:8])
    check(b"Bananas" in out, "the receipt names the item: %r" % out[:400])
    check(b"\x1dV" in out, "the receipt is cut")
    # The sale's QR code, printed by the printer itself (GS ( k: store the payload, then print
    # it) before the cut, its payload the sale's (docs/protocol.md, "Receipt QR code").
    seq = sales[0]["seq"]
    codes = {}
    for m in re.finditer(rb"\x1d\(k(..)\x31\x50\x30(posedge-qr/1\|[^\x1d]*)\x1d\(k\x03\x00\x31\x51\x30",
                         out, re.S):
        check(int.from_bytes(m.group(1), "little") == len(m.group(2)) + 3,
              "pL pH: the payload's length + 3: %r" % m.group(0)[:40])
        fields = m.group(2).decode().split("|")
        check(len(fields) == 14, "14 fields: %s" % fields)
        codes[int(fields[3])] = (fields, m.start())
    check(seq in codes, "the sale's code is stored and printed (codes of seqs %s): %r"
          % (sorted(codes), out[-700:]))
    fields, at = codes[seq]
    check(fields[6] == "sale" and fields[7] == "127" and fields[8] == "EUR" and fields[13] != "",
          "the sale's signed code: %s" % fields)
    check(out.find(b"\x1dV", at) > at, "the code is printed before the cut")
    check(b"\x1bp\x00" in out, "the drawer is kicked (ESC p): %r" % out[-40:])
    check(b"W\r" in scale.bytes(), "the scale was asked for weights")


if __name__ == "__main__":
    main()
