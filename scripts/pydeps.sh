#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# pydeps.sh - the Python packages the system tests use to read posedge's output with clients
# that are not posedge (fastavro decodes the Avro profiles exactly as the lakehouse pipelines
# do), in a virtual environment cached outside the repository:
# ${POSEDGE_CACHE:-~/.cache/posedge}/pyvenv. Idempotent: a venv that already imports every
# package is reused without touching the network. Prints the venv's python path on stdout.
#
# It uses the python3 found on PATH, with that interpreter's own pip (python3 -m venv, then
# the venv's pip), while the tests themselves run under /usr/bin/python3: they call the
# printed python in a subprocess, so the two interpreters need not be the same.
set -eu

CACHE=${POSEDGE_CACHE:-$HOME/.cache/posedge}
VENV=$CACHE/pyvenv
PY=$VENV/bin/python
PKGS="fastavro"

if [ -x "$PY" ] && "$PY" -c 'import fastavro' 2>/dev/null; then
    echo "$PY"
    exit 0
fi
mkdir -p "$CACHE"
if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" >&2 || {
        echo "pydeps.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi
"$PY" -m pip install --quiet --disable-pip-version-check $PKGS >&2
"$PY" -c 'import fastavro' >&2
echo "$PY"
