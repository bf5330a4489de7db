#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# debroot.sh - a minimal Debian root (debootstrap --variant=minbase) with the given packages,
# made once and cached as a tarball, for tests that install posedge's packages into a clean
# Debian (tests/system/test_packages.py: install, upgrade, remove and purge in a chroot).
#
# usage: scripts/debroot.sh ARCH PACKAGE...
#   e.g. scripts/debroot.sh amd64 adduser libc6 libsqlite3-0 libcjson1 ... mosquitto
# Prints the tarball's path on its last line. The tarball is
#   $POSEDGE_CACHE/debroot/<codename>-<arch>-minbase-<hash>.tar.gz (default ~/.cache/posedge)
# where <hash> is taken over the sorted package list: another list is another root, and a root
# is made only when its tarball is missing (and replaces the roots of other lists for the same
# release and architecture). Everything a test installs later must be in the list (the
# packages' Depends), so that the chroot needs no network once the tarball exists.
#
# The suite is the host's own release (/etc/os-release), the mirror the host's first Debian
# entry for it (or $POSEDGE_DEBIAN_MIRROR). A mirror hiccup (a file mid-sync, a reset) makes
# debootstrap fail: it is tried up to 3 times, with a pause. Device nodes, /proc and /sys are
# left out of the tarball: a test bind-mounts what it needs. Two runs at once wait for each
# other (flock), so the root is made once.
set -eu

arch=${1:?usage: scripts/debroot.sh ARCH PACKAGE...}
shift
[ $# -gt 0 ] || { echo "usage: scripts/debroot.sh ARCH PACKAGE..." >&2; exit 2; }
. /etc/os-release
codename=${VERSION_CODENAME:?debroot: no VERSION_CODENAME in /etc/os-release}
cache=${POSEDGE_CACHE:-$HOME/.cache/posedge}/debroot
mkdir -p "$cache"
pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
hash=$(printf '%s\n' "$codename $arch $pkgs" | sha256sum | cut -c1-12)
tarball=$cache/$codename-$arch-minbase-$hash.tar.gz

exec 9>"$cache/.lock"
flock 9
if [ -f "$tarball" ]; then
    echo "$tarball"
    exit 0
fi

# The host's first Debian mirror for its release, from one-line or deb822 sources.
mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/\[[^]]*\]//' "$f" |
            awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v c="$codename" '
            function flush() { if (ok && uri != "") { print uri; exit } ok = 0; uri = "" }
            /^[[:space:]]*$/ { flush(); next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == c) ok = 1 }
            END { flush() }' "$f"
    done
}
url=${POSEDGE_DEBIAN_MIRROR:-$(mirror | head -1)}
url=${url:-http://deb.debian.org/debian}

# Unmounts whatever a failed debootstrap left mounted under $1 (it mounts /proc and /sys
# there), so that removing the directory can never reach into the host's.
unmount_under() {
    local m
    for m in $(awk -v d="$1" 'index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
}

t0=$(date +%s)
work=$(mktemp -d "$cache/make-XXXXXX")
trap 'unmount_under "$work"; rm -rf "$work"' EXIT
for attempt in 1 2 3; do
    echo "debroot: debootstrap $codename $arch from $url with $pkgs (try $attempt)" >&2
    if debootstrap --variant=minbase --arch="$arch" --include="$pkgs" "$codename" \
        "$work/root" "$url" >"$work/debootstrap.log" 2>&1; then
        break
    fi
    tail -n 5 "$work/debootstrap.log" | sed 's/^/debroot: /' >&2
    [ -f "$work/root/debootstrap/debootstrap.log" ] &&
        tail -n 5 "$work/root/debootstrap/debootstrap.log" | sed 's/^/debroot: /' >&2
    unmount_under "$work"
    rm -rf "$work/root"
    if [ "$attempt" -eq 3 ]; then
        echo "debroot: debootstrap failed 3 times" >&2
        exit 1
    fi
    sleep $((attempt * 15))
done
unmount_under "$work"
# Smaller and quicker to unpack: no downloaded .debs, no package lists (the chroot installs
# local .debs with dpkg only).
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_* \
    "$work/root/dev/"* "$work/root/proc/"* "$work/root/sys/"*
tar --numeric-owner -C "$work/root" -czf "$work/root.tar.gz" .
mv "$work/root.tar.gz" "$tarball"
# Roots of other package lists for this release and architecture are outdated by this one.
find "$cache" -maxdepth 1 -name "$codename-$arch-minbase-*.tar.gz" ! -path "$tarball" -delete
echo "debroot: $tarball: $(du -h "$tarball" | cut -f1), $(($(date +%s) - t0)) s" >&2
echo "$tarball"
