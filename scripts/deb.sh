#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# deb.sh - the Debian packages of one board: posedge-agent, posedge-bridge and posedge-tools
# (posedge-ctl), for the board's architecture, from its release build (make deb BOARD=...).
#
# usage: [CROSS=aarch64-linux-gnu-] [SYSROOT=build/rpi4/sysroot] \
#        scripts/deb.sh BOARD ARCH BUILD_DIR OUT_DIR VERSION
#
# The packages are put together the way debhelper would, without a source package: a
# debian/ tree in a temporary directory with pkg/control as debian/control and pkg/changelog as
# debian/changelog (when VERSION is not its top entry's, e.g. an upgrade test's second build, a
# copy with a top entry for VERSION is made; pkg/changelog itself is never changed), one
# staging directory per package, dpkg-shlibdeps for ${shlibs:Depends}, dpkg-gencontrol for
# DEBIAN/control, dpkg-deb --root-owner-group to build (no fakeroot needed).
#
# What comes from the board: the binaries, stripped with its $(CROSS)strip; /etc/posedge/
# agent.json (boards/BOARD/agent.json with pkg/agent.json's settings over it: data_dir
# /var/lib/posedge/agent, mutual TLS on MQTT and enrolment) and catalog.json; the agent unit's
# device access (DeviceAllow=, SupplementaryGroups=) from the devices that agent.json names.
# The bridge's configuration is pkg/bridge.json on every board, with the store broker's
# mosquitto configuration (pkg/mosquitto-posedge.conf as /etc/mosquitto/conf.d/posedge.conf)
# and the daily CRL timer; its postinst makes the store's CA and TLS files
# (pkg/bridge-pki.postinst).
#
# Depends: dpkg-shlibdeps reads the shlibs and symbols files of the packages that ship the
# libraries the binaries need (NEEDED). For a host board those are the host's installed
# packages. For a cross board they are the board's sysroot packages: scripts/sysroot.sh keeps
# their dpkg database in SYSROOT/var/lib/dpkg, and a copy of it whose file lists carry the
# sysroot's path (dpkg-shlibdeps finds a library at SYSROOT/usr/lib/..., and asks dpkg which
# package ships that path) is its --admindir. No dependency is written by hand but adduser.
#
# Reproducible: every file's time is the changelog's top entry's (SOURCE_DATE_EPOCH), the
# changelog is compressed with gzip -9n; OUT_DIR holds only this build's three packages.
set -euo pipefail

usage="usage: scripts/deb.sh BOARD ARCH BUILD_DIR OUT_DIR VERSION"
board=${1:?$usage}
arch=${2:?$usage}
build=${3:?$usage}
out=${4:?$usage}
version=${5:?$usage}
cross=${CROSS:-}
sysroot=${SYSROOT:-}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$top/$build ;; esac
case $out in /*) ;; *) out=$top/$out ;; esac
[ -z "$sysroot" ] || case $sysroot in /*) ;; *) sysroot=$top/$sysroot ;; esac
bdir=$top/boards/$board
for f in "$build/posedge-agent" "$build/posedge-bridge" "$build/posedge-ctl" \
    "$bdir/agent.json" "$bdir/catalog.json"; do
    [ -f "$f" ] || { echo "deb: $f is missing" >&2; exit 1; }
done
if [ -n "$cross" ] && [ ! -f "$sysroot/var/lib/dpkg/status" ]; then
    echo "deb: no dpkg database in the sysroot ($sysroot/var/lib/dpkg): run" \
        "scripts/sysroot.sh (make deb does)" >&2
    exit 1
fi

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/pe-deb-XXXXXX")
trap 'rm -rf "$work"' EXIT
deb=$work/debian
mkdir -p "$deb"
cp "$top/pkg/control" "$deb/control"

# ---- the changelog: pkg/changelog, or a copy with a top entry for VERSION ----
top_version=$(dpkg-parsechangelog -l "$top/pkg/changelog" -SVersion)
if [ "$version" = "$top_version" ]; then
    cp "$top/pkg/changelog" "$deb/changelog"
else
    {
        printf 'posedge (%s) %s; urgency=medium\n\n' "$version" \
            "$(dpkg-parsechangelog -l "$top/pkg/changelog" -SDistribution)"
        printf '  * Built from the %s sources as %s (make deb VERSION=%s).\n\n' \
            "$top_version" "$version" "$version"
        printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$top/pkg/changelog" -SMaintainer)" \
            "$(LC_ALL=C date -u -R ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH})"
        cat "$top/pkg/changelog"
    } >"$deb/changelog"
fi
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$deb/changelog" -STimestamp)
export SOURCE_DATE_EPOCH

# ---- the agent's configuration and its unit's device access, from the board ----
# The board's file with pkg/agent.json's keys set over it (objects merged key by key): the
# package's data_dir, and mutual TLS with enrolment. Anything else in the board's file stays
# as it is, in its order; an object of plain values is written on one line when it fits, as the
# boards' files write them.
conf=$work/agent.json
/usr/bin/python3 - "$bdir/agent.json" "$top/pkg/agent.json" >"$conf" <<'EOF'
import json, sys
cfg, over = (json.load(open(p)) for p in sys.argv[1:3])
if "data_dir" not in cfg:
    sys.exit("deb: %s has no data_dir to set" % sys.argv[1])
def merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
merge(cfg, over)
def text(v, ind, lead):
    if not isinstance(v, dict) or not v:
        return json.dumps(v, ensure_ascii=False)
    items = ["%s: %s" % (json.dumps(k, ensure_ascii=False), text(x, ind + 2, ind + 6 + len(k)))
             for k, x in v.items()]
    one = "{ " + ", ".join(items) + " }"
    if ind and "\n" not in one and lead + len(one) <= 120:
        return one
    return "{\n" + ",\n".join(" " * (ind + 2) + i for i in items) + "\n" + " " * ind + "}"
print(text(cfg, 0, 0))
EOF
# The device lines of the agent's unit: for each device with a real driver, DeviceAllow= for
# its path and for its kind's device class (systemd resolves a path once, at start: the class
# lets a device plugged in later open too), and the group that owns such nodes. A board with
# simulated devices only gets PrivateDevices=yes.
/usr/bin/python3 - "$conf" >"$work/devices" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
allow, groups = [], set()
for cls, dev in sorted(cfg.get("devices", {}).items()):
    driver, path = dev.get("driver", "fake"), dev.get("path", "")
    if driver == "fake":
        continue
    if not path.startswith("/dev/"):
        sys.exit("deb: devices.%s (driver %s) names no /dev path (%r): the unit could not "
                 "allow it" % (cls, driver, path))
    if path.startswith("/dev/input/") or driver == "evdev":
        kinds, mode, group = ["char-input"], "r", "input"
    elif path.startswith("/dev/usb/lp") or (driver == "escpos" and "tty" not in path):
        kinds, mode, group = ["char-usb"], "rw", "lp"
    else:
        tty = path[5:].rstrip("0123456789")
        known = ("ttyUSB", "ttyACM", "ttyS", "ttyAMA")
        kinds = ["char-" + tty] if tty in known else ["char-ttyUSB", "char-ttyACM"]
        mode, group = "rw", "dialout"
    allow.append("DeviceAllow=%s %s" % (path, mode))
    allow += ["DeviceAllow=%s %s" % (k, mode) for k in kinds]
    groups.add(group)
if allow:
    print("DevicePolicy=closed")
    for line in dict.fromkeys(allow):
        print(line)
    print("SupplementaryGroups=" + " ".join(sorted(groups)))
else:
    print("PrivateDevices=yes")
    print("DevicePolicy=closed")
EOF

# ---- the staging trees ----
# stage PKG: usr/share/doc/PKG with the copyright and the changelog.
stage() {
    local d=$deb/$1
    install -d "$d/DEBIAN" "$d/usr/share/doc/$1"
    install -m 0644 "$top/pkg/copyright" "$d/usr/share/doc/$1/copyright"
    gzip -9n <"$deb/changelog" >"$d/usr/share/doc/$1/changelog.gz"
}
# binary PKG NAME: build/NAME as /usr/bin/NAME, stripped as dh_strip strips an executable,
# and its manual page pkg/man/NAME.1.
binary() {
    install -D -m 0755 "$build/$2" "$deb/$1/usr/bin/$2"
    "${cross}strip" --remove-section=.comment --remove-section=.note "$deb/$1/usr/bin/$2"
    install -d "$deb/$1/usr/share/man/man1"
    gzip -9n <"$top/pkg/man/$2.1" >"$deb/$1/usr/share/man/man1/$2.1.gz"
}
# scripts PKG UNITS STATE GROUPS PRIVATE [SETUP PURGE]: the maintainer scripts from pkg/*.in;
# SETUP and PURGE name the package's own part of postinst and postrm (shell files in pkg/, put
# in place of @SETUP@ and @PURGE@ without their SPDX line and the "#" line after it).
scripts() {
    local s
    for s in postinst prerm postrm; do
        awk -v setup="${6:+$top/pkg/$6}" -v purge="${7:+$top/pkg/$7}" '
            function put(f,   l) {
                if (f == "") return
                n = 0
                while ((getline l < f) > 0)
                    if (++n > 2 || (l !~ /SPDX-License-Identifier/ && l != "#")) print l
                close(f)
            }
            $0 == "@SETUP@" { put(setup); next }
            $0 == "@PURGE@" { put(purge); next }
            { print }' "$top/pkg/$s.in" |
            sed -e "s|@PKG@|$1|g" -e "s|@UNITS@|$2|g" -e "s|@STATE@|$3|g" \
                -e "s|@GROUPS@|$4|g" -e "s|@PRIVATE@|$5|g" >"$deb/$1/DEBIAN/$s"
        if grep -q '@[A-Z]*@' "$deb/$1/DEBIAN/$s"; then
            echo "deb: pkg/$s.in: a placeholder is left" >&2
            exit 1
        fi
        chmod 0755 "$deb/$1/DEBIAN/$s"
    done
}
# conffiles PKG: every file under etc/ is a conffile.
conffiles() {
    (cd "$deb/$1" && find etc -type f | sort | sed 's|^|/|') >"$deb/$1/DEBIAN/conffiles"
}

p=posedge-agent
stage $p
binary $p posedge-agent
install -D -m 0644 "$conf" "$deb/$p/etc/posedge/agent.json"
install -D -m 0644 "$bdir/catalog.json" "$deb/$p/etc/posedge/catalog.json"
awk -v f="$work/devices" '
    $0 == "@DEVICES@" { while ((getline l < f) > 0) print l; next } { print }' \
    "$top/pkg/posedge-agent.service.in" >"$work/posedge-agent.service"
install -D -m 0644 "$work/posedge-agent.service" \
    "$deb/$p/lib/systemd/system/posedge-agent.service"
install -D -m 0644 "$top/docs/hardware/99-posedge.rules" \
    "$deb/$p/usr/share/doc/$p/examples/99-posedge.rules"
# The root-owned upgrade unit (docs/rollout.md): its script, the path unit that starts it on
# the agent's request, and its manual page.
install -D -m 0755 "$top/pkg/posedge-upgrade" "$deb/$p/usr/sbin/posedge-upgrade"
for u in posedge-upgrade.path posedge-upgrade.service; do
    install -D -m 0644 "$top/pkg/$u" "$deb/$p/lib/systemd/system/$u"
done
install -d "$deb/$p/usr/share/man/man8"
gzip -9n <"$top/pkg/man/posedge-upgrade.8" >"$deb/$p/usr/share/man/man8/posedge-upgrade.8.gz"
scripts $p "posedge-agent.service posedge-upgrade.path" /var/lib/posedge/agent \
    "dialout input lp" /etc/posedge/agent.json
conffiles $p

p=posedge-bridge
stage $p
binary $p posedge-bridge
install -D -m 0644 "$top/pkg/bridge.json" "$deb/$p/etc/posedge/bridge.json"
install -D -m 0644 "$top/pkg/mosquitto-posedge.conf" "$deb/$p/etc/mosquitto/conf.d/posedge.conf"
for u in posedge-bridge.service posedge-crl.service posedge-crl.timer; do
    install -D -m 0644 "$top/pkg/$u" "$deb/$p/lib/systemd/system/$u"
done
scripts $p "posedge-bridge.service posedge-crl.timer" /var/lib/posedge/bridge "" \
    /etc/posedge/bridge.json bridge-pki.postinst bridge-pki.postrm
conffiles $p

p=posedge-tools
stage $p
binary $p posedge-ctl

# A host board's configuration files load in its own binaries (keys and values; devices are
# not opened). A cross board's are checked by the package test with the host's binaries.
if [ -z "$cross" ]; then
    "$build/posedge-agent" -c "$deb/posedge-agent/etc/posedge/agent.json" --print-config \
        >/dev/null
    "$build/posedge-bridge" -c "$deb/posedge-bridge/etc/posedge/bridge.json" --print-config \
        >/dev/null
fi

# ---- Depends, control, build ----
shlibdeps=(dpkg-shlibdeps)
gencontrol=(dpkg-gencontrol)
if [ -n "$cross" ]; then
    # The sysroot's dpkg database, with its file lists under the sysroot's path.
    triplet=${cross%-}
    admin=$work/admindir
    cp -a "$sysroot/var/lib/dpkg" "$admin"
    for l in "$admin"/info/*.list; do
        sed -i "s|^/|$sysroot/|" "$l"
    done
    shlibdeps=(env DEB_HOST_ARCH="$arch" dpkg-shlibdeps --admindir="$admin"
        "-l$sysroot/lib/$triplet" "-l$sysroot/usr/lib/$triplet")
    gencontrol=(env DEB_HOST_ARCH="$arch" dpkg-gencontrol)
fi
mkdir -p "$out"
rm -f "$out"/posedge-agent_*.deb "$out"/posedge-bridge_*.deb "$out"/posedge-tools_*.deb
cd "$work"
for p in posedge-agent posedge-bridge posedge-tools; do
    "${shlibdeps[@]}" -T"debian/$p.substvars" "debian/$p"/usr/bin/*
    grep -q '^shlibs:Depends=.' "debian/$p.substvars" || {
        echo "deb: dpkg-shlibdeps found no library dependency for $p" >&2
        exit 1
    }
    "${gencontrol[@]}" -p"$p" -Tdebian/$p.substvars -Pdebian/$p -fdebian/files
    (cd "debian/$p" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
        xargs -0r md5sum >DEBIAN/md5sums)
    find "debian/$p" -newermt "@$SOURCE_DATE_EPOCH" -print0 |
        xargs -0r touch --no-dereference --date="@$SOURCE_DATE_EPOCH"
    dpkg-deb --root-owner-group -Zxz --build "debian/$p" "$out" >/dev/null
    echo "deb: $out/${p}_${version}_$arch.deb: Depends: $(dpkg-deb -f \
        "$out/${p}_${version}_$arch.deb" Depends)"
done
