#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""docs/extending.md stays true, and each piece of cross-module knowledge keeps one owner.

- Every file the page names in its recipes exists (placeholders such as <class> are skipped),
  and the table's file count of each extension equals the numbered steps of its recipe.
- One owner each (issue 12): the MQTT topic root is written only in common/protocol.c (and in
  the genesis prefix of common/event.c, which is a hash input, not a topic); the reserved id
  "bridge" only in include/posedge/protocol.h; librdkafka configurations are made only in
  common/kafka_conf.c; secrets are wiped only by common/secret.c (and by the fake payment
  terminal and the simulator, which wipe card numbers, not secrets of posedge).
"""
import os
import re

from lib import SRC, check, main, test

DOC = os.path.join(SRC, "docs", "extending.md")
CODE_DIRS = ("common", "store", "hal", "sim", "agent", "bridge", "ctl", "include")


def sections():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            name = line[3:].strip().lower()
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return text, out


def sources():
    for d in CODE_DIRS:
        for root, _, files in os.walk(os.path.join(SRC, d)):
            for f in files:
                if f.endswith((".c", ".h")):
                    p = os.path.join(root, f)
                    with open(p, encoding="utf-8", errors="replace") as fh:
                        yield os.path.relpath(p, SRC), fh.read()


def code_lines(text):
    """The lines of a C file that are not comments (good enough: /* */ blocks and // lines)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return [l for l in text.splitlines() if not l.strip().startswith("//")]


@test
def every_named_file_exists_and_the_counts_hold():
    text, secs = sections()
    named = set(re.findall(r"`((?:include|common|store|hal|sim|agent|bridge|ctl|boards|docs|"
                           r"scripts|tests)/[^`\s]+)`", text))
    check(len(named) > 20, "the page names only %d files" % len(named))
    for path in sorted(named):
        if "<" in path or "*" in path:
            continue
        check(os.path.exists(os.path.join(SRC, path)), "docs/extending.md names %s, which does not exist" % path)
    table = dict(re.findall(r"^\| (an? [^|]+?) \| (\d+)", text, re.M))
    check(len(table) == 6, "the table has %d extensions, expected 6" % len(table))
    for ext, count in table.items():
        steps = [l for l in secs.get(ext, []) if re.match(r"^\d+\. ", l)]
        check(len(steps) == int(count),
              "%s: the table says %s files, the recipe has %d steps" % (ext, count, len(steps)))


@test
def one_owner_for_each_piece_of_knowledge():
    offenders = []
    for path, text in sources():
        lines = code_lines(text)
        body = "\n".join(lines)
        if '"posedge/v1' in body and path not in ("common/event.c", "include/posedge/protocol.h"):
            offenders.append("%s: a topic string outside common/protocol.c" % path)
        if re.search(r'"bridge"', body) and path != "include/posedge/protocol.h":
            # JSON member names "bridge" are not the reserved id; the id is always a value
            for l in lines:
                if '"bridge"' in l and "AddStringToObject(" not in l and "AddItemToObject(" not in l \
                        and "pe_log_init(" not in l:
                    offenders.append("%s: the reserved id written out: %s" % (path, l.strip()))
        if "rd_kafka_conf_new(" in body and path != "common/kafka_conf.c":
            offenders.append("%s: a librdkafka configuration made outside common/kafka_conf.c" % path)
        if "explicit_bzero(" in body and path not in (
                "common/secret.c", "hal/fake/fake_payment.c", "sim/sim.c", "sim/sim_scenario.c"):
            offenders.append("%s: a secret wiped outside common/secret.c" % path)
    check(not offenders, "\n".join(offenders))


if __name__ == "__main__":
    main()
