#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs what posedge needs to build and test, from the distribution's packages only, when it
# is missing. Idempotent: when everything is present it installs nothing and says so. Runs
# apt-get as root (directly when we are root, else through sudo).
set -eu

pkgs=(
    build-essential pkg-config
    libsqlite3-dev libcjson-dev libmbedtls-dev libmosquitto-dev librdkafka-dev
    sqlite3 mosquitto mosquitto-clients kcat valgrind python3 procps psmisc time
    iproute2 iptables
)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#pkgs[@]} packages present"
    exit 0
fi

. "$(dirname "$0")/apt.sh"
apt_install deps "${missing[@]}"
