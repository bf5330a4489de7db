#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""CI's soak: make soak's run (scripts/soak.py) for PE_SOAK_MINUTES (5) minutes on the release
build, in a temporary directory.

A store (4 tills, mosquitto, the bridge, a real Kafka node) under shopper load with a random
fault every few seconds, sampled for growth; it passes when the run ends with
"soak: minutes=M faults=F violations=0" (bounds kept, every event exactly once in Kafka, every
journal verified: docs/soak.md). The seed is random unless PE_SOAK_SEED is set; it is printed,
so a failure can be replayed. The summary is printed as comment lines; on a failure the work
directory (CSV, fault log, daemons' logs, Kafka's log) is kept and named.
"""
import os
import random
import shutil
import signal
import subprocess

from lib import BIN_RELEASE, SRC, check, main, test, tmpdir

MINUTES = os.environ.get("PE_SOAK_MINUTES", "5")


@test
def soak_store_under_faults():
    d = tmpdir("pe-soak")
    seed = int(os.environ.get("PE_SOAK_SEED", "0")) or random.SystemRandom().randrange(1, 1 << 31)
    print("# soak seed %d, %s minutes, in %s" % (seed, MINUTES, d), flush=True)
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "scripts", "soak.py"),
                          "--minutes", MINUTES, "--seed", str(seed), "--dir", d, BIN_RELEASE],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = p.communicate(timeout=float(MINUTES) * 60 + 600)[0]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)  # the soak cleans up and prints what it has
        out = p.communicate(timeout=300)[0]
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("soak summary:")), len(lines))
    for line in lines[start:]:
        print("# " + line, flush=True)
    last = lines[-1] if lines else ""
    ok = p.returncode == 0 and last.startswith("soak: ") and last.endswith(" violations=0")
    if not ok:
        print("\n".join(lines[:start][-60:]), flush=True)
    check(ok, "soak: %s (status %d; kept %s)" % (last or "no final line", p.returncode, d))
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
