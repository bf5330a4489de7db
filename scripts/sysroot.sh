#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# sysroot.sh - a cross board's sysroot: the Debian library packages of its architecture,
# unpacked, for the compiler (--sysroot) and for user-mode QEMU (-L).
#
# usage: scripts/sysroot.sh ARCH SYSROOT_DIR PACKAGE...
#   e.g. scripts/sysroot.sh arm64 build/rpi4/sysroot libsqlite3-dev libcjson-dev ...
#
# The host's package state is never touched: no dpkg --add-architecture, no install. apt runs
# against a private state of its own (lists, caches, an empty dpkg status, a sources.list made
# from the host's Debian mirror entries) in $POSEDGE_CACHE/apt/ARCH, configured only for ARCH.
# The packages and their dependency closure (Depends and Pre-Depends, no Recommends) are
# resolved there, kept to library packages, downloaded into $POSEDGE_CACHE/debs/ARCH (default
# cache ~/.cache/posedge: a rebuild downloads nothing it already has) and unpacked with dpkg -x
# into SYSROOT_DIR. SYSROOT_DIR.manifest lists "package version architecture", one a line, and
# is written last: with it present, listing every named package, the sysroot is complete and
# this script does nothing.
#
# The C library: compiling and linking use the cross toolchain's own (libc6-dev-ARCH-cross in
# /usr/<triplet>, from scripts/deps.sh), so libc6-dev and the packages only it needs are left
# out. The closure's libc6 of ARCH itself is kept: it is the dynamic loader and C library of a
# Debian device, and user-mode QEMU loads the binaries' /lib/ld-linux-*.so from SYSROOT_DIR.
#
# A mirror sometimes serves one architecture's index mid-sync ("File has unexpected size"), or
# the pool moves on under a point release: apt-get update is retried after a pause (5 tries,
# 100 s), and a failed download updates the lists and resolves again. The lists are reused
# while the last update was complete (a stamp says so). When an index is still refused after
# the retries, the sysroot is made from the indexes that did come (e.g. bookworm and
# bookworm-updates without bookworm-security: older but ABI-compatible library versions), and
# SYSROOT_DIR.degraded says which failed; while it exists each run tries the update once more
# and makes the sysroot anew when the mirror is whole again. The retries are spent once an hour
# at most: after a partial update (stamp $POSEDGE_CACHE/apt/ARCH/partial) a fresh build
# directory tries once.
#
# SYSROOT_DIR/var/lib/dpkg is a dpkg database of what was unpacked (status, and per package its
# file list and control files: shlibs, symbols, md5sums, ...), as on a device where the packages
# are installed: dpkg-query --admindir=SYSROOT_DIR/var/lib/dpkg reads it, and scripts/deb.sh
# computes the Depends of the board's packages from its shlibs and symbols files. A sysroot made
# before it existed gets it from the cached .debs on the next run.
set -eu

arch=${1:?usage: scripts/sysroot.sh ARCH SYSROOT_DIR PACKAGE...}
root=${2:?usage: scripts/sysroot.sh ARCH SYSROOT_DIR PACKAGE...}
shift 2
[ $# -gt 0 ] || { echo "usage: scripts/sysroot.sh ARCH SYSROOT_DIR PACKAGE..." >&2; exit 2; }
manifest=$root.manifest
degraded=$root.degraded
cache=${POSEDGE_CACHE:-$HOME/.cache/posedge}
state=$cache/apt/$arch
debs=$cache/debs/$arch
debfile() { echo "$debs/${1}_${2//:/%3a}_${3}.deb"; }

# dpkg_db DIR LIST: DIR/var/lib/dpkg, the dpkg database of the packages of LIST ("package
# version architecture" lines, their .debs in the cache), as dpkg would have written it on
# installing them: a status entry each ("install ok installed"), info/NAME.list (every path
# the package unpacks) and info/NAME.<control file> (NAME is package:arch for Multi-Arch: same
# packages, as dpkg names them). Made aside and moved into place: it is whole or absent.
dpkg_db() {
    local db=$1/var/lib/dpkg p v a deb name ctl f
    rm -rf "$db.tmp"
    mkdir -p "$db.tmp/info" "$db.tmp/updates" "$db.tmp/triggers"
    : >"$db.tmp/available"
    echo 1 >"$db.tmp/info/format" # multiarch names (package:arch) in info/
    while read -r p v a; do
        deb=$(debfile "$p" "$v" "$a")
        [ -f "$deb" ] || { echo "sysroot: $deb is missing" >&2; return 1; }
        name=$p
        dpkg-deb -f "$deb" Multi-Arch | grep -qx same && name=$p:$a
        ctl=$db.tmp/ctl
        rm -rf "$ctl"
        dpkg-deb -e "$deb" "$ctl"
        awk '{ print } /^Package: / { print "Status: install ok installed" }' "$ctl/control" \
            >>"$db.tmp/status"
        echo >>"$db.tmp/status"
        for f in "$ctl"/*; do
            [ "$(basename "$f")" = control ] || cp "$f" "$db.tmp/info/$name.$(basename "$f")"
        done
        dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./$|/.|' -e 's|^\./|/|' -e 's|/$||' \
            >"$db.tmp/info/$name.list"
    done <"$2"
    rm -rf "$db.tmp/ctl" "$db"
    mv "$db.tmp" "$db"
}

# A named package the manifest lacks (the board's list grew since): the sysroot is made anew.
lacking=
if [ -f "$manifest" ]; then
    for p in "$@"; do
        grep -q "^$p " "$manifest" || lacking="$lacking $p"
    done
    [ -z "$lacking" ] || echo "sysroot: $root lacks$lacking: made anew"
fi
if [ -f "$manifest" ] && [ -d "$root" ] && [ ! -f "$degraded" ] && [ -z "$lacking" ]; then
    if [ ! -f "$root/var/lib/dpkg/status" ]; then
        dpkg_db "$root" "$manifest"
        echo "sysroot: $root: dpkg database made from the cached packages"
    fi
    echo "sysroot: $root present ($(wc -l <"$manifest") packages)"
    touch "$manifest" # up to date for make, whose list of packages may have changed
    exit 0
fi

mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/apt.conf.d" "$debs"
: >"$state/status"

# The host's Debian entries (one-line .list and deb822 .sources) for its own release, as
# one-line entries without architecture options; third-party repositories are left out.
. /etc/os-release
codename=${VERSION_CODENAME:?sysroot: no VERSION_CODENAME in /etc/os-release}
sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v c="$codename" -v arch="$arch" '
            /^[[:space:]]*deb[[:space:]]/ {
                opts = ""; line = $0
                if (match(line, /\[[^]]*\]/)) { opts = substr(line, RSTART + 1, RLENGTH - 2)
                    line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH) }
                n = split(line, f, /[[:space:]]+/); i = (f[1] == "") ? 2 : 1
                uri = f[i + 1]; suite = f[i + 2]; comps = ""
                for (j = i + 3; j <= n; j++) comps = comps " " f[j]
                sb = ""; m = split(opts, o, /[[:space:]]+/)
                for (j = 1; j <= m; j++) if (o[j] ~ /^signed-by=/) sb = " " o[j]
                if (suite == c || index(suite, c "-") == 1)
                    printf "deb [arch=%s%s] %s %s%s\n", arch, sb, uri, suite, comps
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v c="$codename" -v arch="$arch" '
            function flush(   i, ns, nu, s, u, sb) {
                if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                    sb = signed != "" ? " signed-by=" signed : ""
                    nu = split(uris, u, " "); ns = split(suites, s, " ")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                        if (s[j] == c || index(s[j], c "-") == 1)
                            printf "deb [arch=%s%s] %s %s %s\n", arch, sb, u[i], s[j], comps
                }
                types = uris = suites = comps = signed = enabled = ""
            }
            /^#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]/ { next } # continuation lines (an inline key): not a path
            { k = tolower($1); sub(/:$/, "", k); v = $0; sub(/^[^:]*:[[:space:]]*/, "", v)
              if (k == "types") types = v; else if (k == "uris") uris = v
              else if (k == "suites") suites = v; else if (k == "components") comps = v
              else if (k == "signed-by") signed = v; else if (k == "enabled") enabled = tolower(v) }
            END { flush() }' "$f"
    done
}
sources >"$state/sources.list.new"
if [ ! -s "$state/sources.list.new" ]; then
    echo "sysroot: no Debian $codename entries in /etc/apt/sources.list*" >&2
    exit 1
fi
if ! cmp -s "$state/sources.list.new" "$state/sources.list" 2>/dev/null; then
    mv "$state/sources.list.new" "$state/sources.list"
    rm -f "$state/lists/"*_Packages* "$state/updated" # another mirror: its lists anew
else
    rm -f "$state/sources.list.new"
fi

# The private configuration. APT_CONFIG is read before the configuration parts, so it can point
# Dir::Etc::Parts at a copy of the host's (proxies, Check-Valid-Until for a snapshot mirror)
# whose last file clears what would act on the host: update and dpkg hooks, AppStream indexes.
for f in /etc/apt/apt.conf.d/*; do
    [ -f "$f" ] && ln -sf "$f" "$state/apt.conf.d/"
done
cat >"$state/apt.conf.d/zz-posedge-sysroot" <<EOF
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Post-Invoke;
#clear DPkg::Pre-Invoke;
#clear Acquire::IndexTargets::deb::DEP-11;
#clear Acquire::IndexTargets::deb::DEP-11-icons;
#clear Acquire::IndexTargets::deb::DEP-11-icons-small;
#clear Acquire::IndexTargets::deb::DEP-11-icons-hidpi;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large-hidpi;
APT::Architecture "$arch";
#clear APT::Architectures;
APT::Architectures { "$arch"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Dir::State "$state";
Dir::State::Lists "$state/lists";
Dir::State::status "$state/status";
Dir::Cache "$state/cache";
Dir::Cache::archives "$state/cache/archives";
Dir::Cache::pkgcache "$state/cache/pkgcache.bin";
Dir::Cache::srcpkgcache "$state/cache/srcpkgcache.bin";
Dir::Etc::SourceList "$state/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
EOF
echo "Dir::Etc::Parts \"$state/apt.conf.d\";" >"$state/apt.conf"
export APT_CONFIG=$state/apt.conf

# update TRIES: apt-get update until every index came (0), or TRIES tries failed (1; the
# errors are in $state/update.err). The stamp $state/updated marks a complete update.
update() {
    local attempt
    rm -f "$state/updated"
    for attempt in $(seq "$1"); do
        if apt-get update -qq 2>"$state/update.err"; then
            touch "$state/updated"
            rm -f "$state/partial"
            return 0
        fi
        sed 's/^/sysroot: /' "$state/update.err" | grep 'E: Failed' >&2 || true
        [ "$attempt" -lt "$1" ] || break
        echo "sysroot: apt-get update ($arch) failed, retrying in $((attempt * 10)) s" >&2
        sleep $((attempt * 10))
    done
    return 1
}

# The closure of the requested packages: Depends and Pre-Depends, breadth first, one
# apt-cache call per level. Of alternatives the first is taken (a virtual package: its first
# provider), as apt would. libc6-dev counts as present (the toolchain has its own), so what only
# it pulls in (kernel headers, libcrypt-dev, libtirpc-dev and their libraries) is left out; so
# is anything outside the library sections (libs, libdevel).
closure() {
    local -A have=()
    local frontier="$*" p next
    while [ -n "$frontier" ]; do
        for p in $frontier; do have[$p]=1; done
        # shellcheck disable=SC2086
        next=$(apt-cache depends --important $frontier | awk -v stop=libc6-dev '
            function close_group(   i, j, n, pick) {
                if (nalt == 0) return
                pick = ""
                for (i = 1; i <= nalt; i++) {
                    if (alt[i] == stop) { nalt = 0; return }
                    n = split(prov[i], pv, " ")
                    for (j = 1; j <= n; j++) if (pv[j] == stop) { nalt = 0; return }
                    if (pick == "") pick = alt[i] ~ /^</ ? pv[1] : alt[i]
                }
                if (pick != "") print pick
                nalt = 0
            }
            /^[^ ]/ { if (!open) close_group(); next }
            /^ [ |](Pre)?Depends: / {
                if (!open) close_group()
                open = substr($0, 2, 1) == "|"; sub(/^ [ |](Pre)?Depends: /, "")
                alt[++nalt] = $0; prov[nalt] = ""; next
            }
            /^    [^ ]/ { prov[nalt] = prov[nalt] " " $1; next }
            END { close_group() }')
        frontier=$(for p in $next; do [ -n "${have[$p]:-}" ] || echo "$p"; done | sort -u)
    done
    printf '%s\n' "${!have[@]}" | xargs apt-cache show --no-all-versions |
        awk '/^Package: / { p = $2 } /^Section: (libs|libdevel)$/ { print p }' | sort -u
}
# "package version architecture" of the candidates of the named packages.
versions() {
    apt-cache show --no-all-versions "$@" |
        awk '/^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { a = $2 }
             /^$/ { if (p != "") print p, v, a; p = "" } END { if (p != "") print p, v, a }' |
        sort -u
}
t0=$(date +%s)
partial=
if [ -f "$degraded" ] && [ -f "$manifest" ] && [ -d "$root" ] && [ -z "$lacking" ]; then
    if ! update 1; then
        echo "sysroot: $root stays made from partial indexes (see $degraded)" >&2
        [ -f "$root/var/lib/dpkg/status" ] || dpkg_db "$root" "$manifest"
        exit 0
    fi
    echo "sysroot: the $arch indexes are whole again: making $root anew"
elif [ ! -f "$state/updated" ] &&
    ! update "$([ -n "$(find "$state/partial" -mmin -60 2>/dev/null)" ] && echo 1 || echo 5)"; then
    if ! ls "$state/lists/" | grep -q _Packages; then
        echo "sysroot: apt-get update ($arch) failed, no index came" >&2
        exit 1
    fi
    partial=1
    touch "$state/partial"
    echo "sysroot: WARNING: apt-get update ($arch) failed; making $root from the" \
        "indexes that came, without: $(grep -o 'Failed to fetch [^ ]*' "$state/update.err" |
            sed 's/Failed to fetch //' | tr '\n' ' ')" >&2
fi
for attempt in 1 2 3 4; do
    pkgs=$(closure "$@") || pkgs=
    if [ -n "$pkgs" ]; then
        # shellcheck disable=SC2086
        versions $pkgs >"$state/want"
        for p in "$@"; do # each one asked for, not only what it pulled in
            grep -q "^$p " "$state/want" || { echo "sysroot: no $arch package $p" >&2; exit 1; }
        done
        missing=()
        while read -r p v a; do
            [ -f "$(debfile "$p" "$v" "$a")" ] || missing+=("$p=$v")
        done <"$state/want"
        if [ ${#missing[@]} -eq 0 ] || (cd "$debs" && apt-get download -qq "${missing[@]}"); then
            break
        fi
    fi
    [ "$attempt" -eq 4 ] && { echo "sysroot: could not resolve or download $* for $arch" >&2; exit 1; }
    echo "sysroot: resolving or downloading for $arch failed, updating the lists" >&2
    sleep $((attempt * 10))
    update 3 && partial= || partial=1
done

rm -rf "$root" "$root.tmp" "$manifest" "$degraded"
mkdir -p "$root.tmp"
while read -r p v a; do
    dpkg -x "$(debfile "$p" "$v" "$a")" "$root.tmp"
done <"$state/want"
# Absolute symlinks would point into the host: make them relative to the sysroot.
find "$root.tmp" -type l -lname '/*' | while read -r l; do
    t=$(readlink "$l")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$root.tmp$t")" "$l"
done
dpkg_db "$root.tmp" "$state/want"
mv "$root.tmp" "$root"
if [ -n "$partial" ]; then
    grep 'E: Failed' "$state/update.err" >"$degraded" || echo "apt-get update failed" >"$degraded"
fi
cp "$state/want" "$manifest"
echo "sysroot: $root: $(wc -l <"$manifest") $arch packages, $(du -sh "$root" | cut -f1)," \
    "$(($(date +%s) - t0)) s"
