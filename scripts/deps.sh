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

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "deps: installing ${missing[*]}"
# A mirror can serve an index mid-sync ("File has unexpected size"): pause and try again.
for attempt in 1 2 3 4 5; do
    if $sudo apt-get update -qq; then
        break
    fi
    [ "$attempt" -eq 5 ] && { echo "deps: apt-get update failed 5 times" >&2; exit 1; }
    sleep $((attempt * 10))
done
for attempt in 1 2 3; do
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"; then
        exit 0
    fi
    sleep $((attempt * 10))
    $sudo apt-get update -qq || true
done
echo "deps: could not install ${missing[*]}" >&2
exit 1
