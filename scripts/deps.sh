#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs what posedge needs to build and test, from the distribution's packages only, when it
# is missing. Idempotent: when everything is present it installs nothing and says so. Runs
# apt-get as root (directly when we are root, else through sudo).
#
# usage: scripts/deps.sh [fuzz|bench]
# With "fuzz" it installs only what `make fuzz` needs: Debian's clang, and compiler-rt's
# development package, which holds libFuzzer (-fsanitize=fuzzer) and clang's own ASan and UBSan
# runtimes (libclang-rt-dev: clang's packages leave it out).
set -eu

pkgs=(
    build-essential pkg-config
    libsqlite3-dev libcjson-dev libmbedtls-dev libmosquitto-dev librdkafka-dev
    # The bridge's Avro output profiles: Apache Avro C, libcurl for the Schema Registry.
    libavro-dev libcurl4-openssl-dev libssl-dev
    # The daemons' HTTP listener (/metrics, /health, the store dashboard): GNU libmicrohttpd.
    # tests/system/test_metrics.py scrapes them with a real Prometheus and checks them with
    # promtool (both in Debian's prometheus package).
    libmicrohttpd-dev prometheus
    # tests/system/test_dashboard.py loads the bridge's store dashboard in headless Chromium
    # (with a font for its screenshot).
    chromium fonts-dejavu-core
    sqlite3 mosquitto mosquitto-clients kcat valgrind python3 procps psmisc time
    iproute2 iptables
    # tests/system/test_signing.py verifies the journal's signatures from the public key alone,
    # without posedge code, and plays a forger with a key of its own.
    python3-cryptography
    # The pkcs11 signer builds against p11-kit's Cryptoki header (it dlopens the token's module,
    # so nothing links to p11-kit); its tests use SoftHSM2 as a real token, with softhsm2-util to
    # make one in a temporary directory.
    libp11-kit-dev softhsm2
    # The fake printer draws receipts' QR codes with libqrencode into PNGs it writes with zlib;
    # tests/system/test_receipt_qr.py decodes them with zbarimg.
    libqrencode-dev zlib1g-dev zbar-tools
    # The ARM boards (rpi4, armhf): Debian's cross compilers with their C libraries' headers
    # (libc6-dev-*-cross is only recommended by the compilers, and recommends are not installed
    # here), user-mode QEMU to run their tests (qemu-user only: no binfmt registration, the tests
    # name qemu-aarch64/qemu-arm themselves) and file(1) to check what was built. The boards'
    # other libraries come from scripts/sysroot.sh, which never changes the host's packages.
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    qemu-user file
    # Debian packages (make deb, tests/system/test_packages.py): dpkg-dev for dpkg-shlibdeps
    # and dpkg-gencontrol (the cross boards' strip comes with their compilers), lintian to
    # check the packages, debootstrap with the archive keyring for the Debian root the install,
    # upgrade, remove and purge cycle runs in.
    dpkg-dev lintian debootstrap debian-archive-keyring
    # The signed apt repository (make repo, scripts/repo.sh; docs/rollout.md): apt-ftparchive
    # (apt-utils) writes its indexes, gpg makes the archive key and signs them.
    apt-utils gnupg
)

if [ "${1:-}" = fuzz ]; then
    pkgs=(clang libclang-rt-dev)
elif [ "${1:-}" = bench ]; then
    # make bench's peer figures (scripts/bench.sh, section_peer): rsyslog with omkafka drains
    # the same events into the same Kafka as the bridge, with its own configuration and work
    # directory in the run's directory (the system's rsyslog service is not used). Only the
    # bench installs it: make check has no use for a second syslog daemon.
    pkgs=(rsyslog rsyslog-kafka)
elif [ $# -gt 0 ]; then
    echo "usage: scripts/deps.sh [fuzz|bench]" >&2
    exit 2
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps${1:+ $1}: all ${#pkgs[@]} packages present"
    exit 0
fi

. "$(dirname "$0")/apt.sh"
apt_install "deps${1:+ $1}" "${missing[@]}"
