#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# repo.sh - posedge's signed apt repository: the archive signing key, and publishing Debian
# packages into a repository that any static web server (or a file: URI) serves to the tills
# (docs/rollout.md).
#
# usage: scripts/repo.sh key [--new | --use FINGERPRINT | --retire FINGERPRINT]
#        scripts/repo.sh publish REPO_DIR [DEB...]
#
# The key lives in a GnuPG home of its own, $POSEDGE_REPO_GNUPGHOME (default
# ${XDG_CONFIG_HOME:-~/.config}/posedge/archive-gnupg, mode 0700), which must lie outside the
# source tree and outside REPO_DIR: nothing secret is ever written into the repository, and
# nothing of a key is printed but its fingerprint. `key` makes the key when the home has none
# (ed25519, no passphrase: the lab's key; docs/rollout.md says how to keep a production key
# offline or under a passphrase) and prints the fingerprint of the key that signs, which
# $GNUPGHOME/posedge-signing-key names. For a rotation, `key --new` adds a key without signing
# with it, `key --use FPR` signs with it from the next publish on, and `key --retire FPR`
# deletes the old one. The repository's keyring is every public key in the home.
#
# publish copies each DEB into REPO_DIR/pool/main/ as PACKAGE_VERSION_ARCH.deb and keeps every
# version there (a till rolls back to the previous one). A published file never changes: the
# same file again is skipped, another file under a published name is refused before anything
# is copied. With no DEB it re-signs what is there (after `key --use`). It keeps one invariant
# for the keys: the newest posedge-archive-keyring in the pool carries exactly the key home's
# public keys. It builds one at pkg/changelog's top version when the pool has none at that
# version and none newer (a release), and one at the newest's version with +keysN when the
# keys changed since (a rotation). Then, written aside and swapped in by rename:
# dists/stable/main/binary-{amd64,arm64,armhf}/Packages(.gz), each with that architecture's
# packages and the Architecture: all ones (apt-ftparchive), dists/stable/Release (SHA256 and
# SHA512 sums), InRelease (clear-signed) and Release.gpg (detached, armoured), checked with
# gpgv against the published keyring before they replace the old ones. And two files for a
# till's first contact: REPO_DIR/posedge-archive-keyring.gpg (the public keyring) and
# REPO_DIR/posedge.sources, a deb822 entry whose URIs is $POSEDGE_REPO_URI (default
# file:REPO_DIR, for a lab; the keyring package's example names https://repo.example/posedge).
# One publish at a time per REPO_DIR, one change of keys at a time per key home (flock).
set -euo pipefail

usage="usage: scripts/repo.sh key [--new | --use FINGERPRINT | --retire FINGERPRINT]
       scripts/repo.sh publish REPO_DIR [DEB...]"
top=$(cd "$(dirname "$0")/.." && pwd)
ARCHES="amd64 arm64 armhf"
SUITE=stable
COMPONENT=main
KEYRING_PKG=posedge-archive-keyring
KEYRING_PATH=/usr/share/keyrings/$KEYRING_PKG.gpg
KEY_UID="posedge archive signing key <archive@posedge.example>"
PLACEHOLDER_URI=https://repo.example/posedge

die() {
    echo "repo: $*" >&2
    exit 1
}
# abspath PATH: PATH made absolute (it need not exist).
abspath() { realpath -m -- "$1"; }
# inside CHILD PARENT: whether CHILD is PARENT or lies under it.
inside() { case $1/ in "$2"/*) return 0 ;; esac; return 1; }

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/pe-repo-XXXXXX")
stale= # what a failed publish leaves half made (dists/stable.new), removed on exit
trap 'rm -rf "$work" ${stale:+"$stale"}' EXIT

# ---- the key home ----
gh=$(abspath "${POSEDGE_REPO_GNUPGHOME:-${XDG_CONFIG_HOME:-$HOME/.config}/posedge/archive-gnupg}")
inside "$gh" "$top" && die "the key home $gh is inside the source tree ($top): keep the" \
    "archive key outside it (POSEDGE_REPO_GNUPGHOME)"
signing_file=$gh/posedge-signing-key

# gpg_run WHAT ARGS...: gpg in the key home, its messages shown only when it fails (they never
# hold key material: nothing here exports a secret key).
gpg_run() {
    local what=$1
    shift
    if ! gpg --batch --no-tty --quiet --homedir "$gh" "$@" 2>"$work/gpg.err"; then
        sed 's/^/repo:   /' "$work/gpg.err" >&2
        die "gpg failed to $what (key home $gh)"
    fi
}
# fingerprints: the primary fingerprints of the home's secret keys, one a line.
fingerprints() {
    gpg_run "list the secret keys" --with-colons --list-secret-keys |
        awk -F: '$1 == "sec" { want = 1; next } $1 == "fpr" && want { print $10; want = 0 }'
}
# has_secret FPR: whether the home holds the secret part (or a signing subkey) of FPR.
has_secret() { fingerprints | grep -qx "$1"; }
# new_key: makes a key (ed25519, signing only, no passphrase, no expiry) and prints its
# fingerprint.
new_key() {
    local fpr
    fpr=$(gpg_run "make a key" --yes --passphrase '' --status-fd 1 \
        --quick-gen-key "$KEY_UID" ed25519 sign never | awk '$2 == "KEY_CREATED" { print $4 }')
    [ -n "$fpr" ] || die "gpg made no key in $gh"
    echo "repo: made the archive key $fpr in $gh (back it up: docs/rollout.md)" >&2
    echo "$fpr"
}
# fpr_arg FPR: FPR as gpg prints it (40 upper-case hex digits, spaces removed), or an error.
fpr_arg() {
    local f
    f=$(echo "${1:-}" | tr -d ' ' | tr a-f A-F)
    [[ $f =~ ^[0-9A-F]{40}$ ]] || die "'${1:-}' is not a key fingerprint (40 hex digits)"
    echo "$f"
}
# signer: the fingerprint of the signing key ($signing_file), chosen (and the key made) when
# none is: the home's only secret key, or a new one when it has none.
signer() {
    local fpr fprs n
    if [ -s "$signing_file" ]; then
        fpr=$(cat "$signing_file")
        has_secret "$fpr" || die "the signing key $fpr ($signing_file) is not in $gh:" \
            "restore the key home from its backup, or name another key with" \
            "scripts/repo.sh key --use FINGERPRINT"
    else
        fprs=$(fingerprints)
        n=$(echo -n "$fprs" | grep -c . || true)
        if [ "$n" -eq 0 ]; then
            fpr=$(new_key)
        elif [ "$n" -eq 1 ]; then
            fpr=$fprs
        else
            die "$gh holds $n secret keys and $signing_file names none: choose with" \
                "scripts/repo.sh key --use FINGERPRINT"
        fi
        echo "$fpr" >"$signing_file"
    fi
    echo "$fpr"
}
# key_step [OPTION [FPR]]: the `key` command, under the key home's lock; prints the signing
# key's fingerprint.
key_step() {
    local fpr
    install -d -m 0700 "$gh"
    exec 8>"$gh/.posedge.lock"
    flock 8
    case ${1:-} in
    "")
        [ $# -eq 0 ] || die "$usage"
        fpr=$(signer)
        ;;
    --new)
        [ $# -eq 1 ] || die "$usage"
        signer >/dev/null # the current signing key stays the signing key
        fpr=$(new_key)
        echo "repo: $fpr signs nothing yet: publish a keyring package with both keys," \
            "wait until every till has it, then scripts/repo.sh key --use $fpr" >&2
        ;;
    --use)
        [ $# -eq 2 ] || die "$usage"
        fpr=$(fpr_arg "$2")
        has_secret "$fpr" || die "no secret key $fpr in $gh"
        echo "$fpr" >"$signing_file"
        echo "repo: $fpr signs from the next publish on" >&2
        ;;
    --retire)
        [ $# -eq 2 ] || die "$usage"
        fpr=$(fpr_arg "$2")
        [ "$fpr" != "$(signer)" ] ||
            die "$fpr is the signing key: scripts/repo.sh key --use the new key first"
        gpg_run "find the key $fpr" --list-keys "$fpr" >/dev/null
        gpg_run "delete the key $fpr" --yes --delete-secret-and-public-key "$fpr"
        echo "repo: $fpr deleted from $gh: the next keyring package leaves it out" >&2
        fpr=$(signer)
        ;;
    *)
        die "$usage"
        ;;
    esac
    exec 8>&-
    echo "$fpr"
}

# ---- the deb822 entry of the repository ----
# sources_entry URI: the entry a till puts in /etc/apt/sources.list.d/posedge.sources.
sources_entry() {
    cat <<EOF
# posedge's apt repository (docs/rollout.md): copy to /etc/apt/sources.list.d/posedge.sources,
# with URIs where HQ serves the repository. The keyring is posedge-archive-keyring's.
Types: deb
URIs: $1
Suites: $SUITE
Components: $COMPONENT
Signed-By: $KEYRING_PATH
EOF
}

# ---- the keyring package ----
# keyring_deb KEYRING VERSION OUT_DIR: builds posedge-archive-keyring_VERSION_all.deb in OUT_DIR
# from the public keyring KEYRING, as scripts/deb.sh builds packages: dpkg-gencontrol over
# pkg/control's source stanza and pkg/archive-keyring.control, dpkg-deb --root-owner-group,
# every file's time the changelog's top entry's (reproducible).
keyring_deb() {
    local keyring=$1 version=$2 out=$3 deb=$work/debian d top_version
    local p=$KEYRING_PKG
    d=$deb/$p
    mkdir -p "$deb"
    {
        awk '/^$/ && seen { exit } /^[A-Z]/ { seen = 1 } { print }' "$top/pkg/control"
        echo
        grep -v '^#' "$top/pkg/archive-keyring.control" | sed '/./,$!d'
    } >"$deb/control"
    top_version=$(dpkg-parsechangelog -l "$top/pkg/changelog" -SVersion)
    if [ "$version" = "$top_version" ]; then
        cp "$top/pkg/changelog" "$deb/changelog"
    else
        {
            printf 'posedge (%s) %s; urgency=medium\n\n' "$version" \
                "$(dpkg-parsechangelog -l "$top/pkg/changelog" -SDistribution)"
            printf '  * The archive keys changed (a key rotation): this keyring has the\n'
            printf '    keys that sign the repository from now on.\n\n'
            printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$top/pkg/changelog" -SMaintainer)" \
                "$(dpkg-parsechangelog -l "$top/pkg/changelog" -SDate)"
            cat "$top/pkg/changelog"
        } >"$deb/changelog"
    fi
    local SOURCE_DATE_EPOCH
    SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$deb/changelog" -STimestamp)
    export SOURCE_DATE_EPOCH
    install -d "$d/DEBIAN" "$d/usr/share/doc/$p/examples" "$d/usr/share/keyrings"
    install -m 0644 "$keyring" "$d$KEYRING_PATH"
    install -m 0644 "$top/pkg/copyright" "$d/usr/share/doc/$p/copyright"
    gzip -9n <"$deb/changelog" >"$d/usr/share/doc/$p/changelog.gz"
    sources_entry "$PLACEHOLDER_URI" >"$d/usr/share/doc/$p/examples/posedge.sources"
    chmod 0644 "$d/usr/share/doc/$p/examples/posedge.sources"
    (cd "$work" && dpkg-gencontrol -p"$p" -P"debian/$p" -fdebian/files 2>"$work/gencontrol.err") ||
        { cat "$work/gencontrol.err" >&2; die "dpkg-gencontrol failed for $p"; }
    (cd "$d" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
        xargs -0r md5sum >DEBIAN/md5sums)
    find "$d" -newermt "@$SOURCE_DATE_EPOCH" -print0 |
        xargs -0r touch --no-dereference --date="@$SOURCE_DATE_EPOCH"
    dpkg-deb --root-owner-group -Zxz --build "$d" "$out/${p}_${version}_all.deb" >/dev/null
}

# ---- publish ----
publish() {
    local repo=${1:?$usage} deb name have p v a signer fpr added=() kept=() n
    shift
    repo=$(abspath "$repo")
    inside "$gh" "$repo" && die "the key home $gh is inside REPO_DIR $repo: keep it outside"
    inside "$repo" "$gh" && die "REPO_DIR $repo is inside the key home $gh"

    # Every DEB is read before anything is written: its name in the pool, and its whole
    # contents (a truncated package never reaches the pool).
    declare -A src=()
    local names=()
    for deb in "$@"; do
        [ -e "$deb" ] || die "$deb: no such file"
        [ -f "$deb" ] || die "$deb is not a file"
        if ! p=$(dpkg-deb -f "$deb" Package 2>"$work/deb.err") ||
            ! dpkg-deb --contents "$deb" >/dev/null 2>>"$work/deb.err"; then
            die "$deb is not a Debian package: $(head -n 1 "$work/deb.err")"
        fi
        v=$(dpkg-deb -f "$deb" Version)
        a=$(dpkg-deb -f "$deb" Architecture)
        if [ -z "$p" ] || [ -z "$v" ] || [ -z "$a" ]; then
            die "$deb has no Package, Version or Architecture"
        fi
        case " $ARCHES all " in
        *" $a "*) ;;
        *) die "$deb is for architecture $a; the repository carries $ARCHES and all" ;;
        esac
        name=${p}_${v#*:}_$a.deb
        if [ -n "${src[$name]:-}" ]; then
            cmp -s "${src[$name]}" "$deb" ||
                die "$deb and ${src[$name]} are both $name, with other contents"
            continue
        fi
        src[$name]=$deb
        names+=("$name")
    done

    signer=$(key_step)
    # The key signs before anything is copied (a key under a passphrase that gpg-agent does
    # not have fails here, with the pool as it was).
    echo "posedge repo.sh signing check" >"$work/check"
    gpg_run "sign with $signer (a key under a passphrase: docs/rollout.md)" \
        --local-user "$signer" --detach-sign --output "$work/check.sig" "$work/check"
    mkdir -p "$repo/pool/$COMPONENT" "$repo/dists"
    exec 9>"$repo/.publish.lock"
    flock 9
    rm -f "$repo/pool/$COMPONENT"/.*.tmp

    # The keyring package. The newest posedge-archive-keyring in the pool (with those among
    # the DEBs) must carry the key home's public keys: pkg/changelog's version gets one when it
    # has none yet and is the newest (a release), and when the keys changed under the newest
    # (a rotation: `key --new`, `key --retire`) it gets a successor, its version with +keysN.
    gpg_run "export the public keys" --export --export-options export-minimal \
        >"$work/keyring.gpg"
    [ -s "$work/keyring.gpg" ] || die "no public key in $gh to export"
    v=$(dpkg-parsechangelog -l "$top/pkg/changelog" -SVersion)
    local newest='' newest_file='' kv='' f fv
    declare -A kfile=()
    for f in "$repo/pool/$COMPONENT/${KEYRING_PKG}"_*_all.deb; do
        [ -f "$f" ] && kfile[$(basename "$f")]=$f
    done
    for name in "${names[@]}"; do
        case $name in "${KEYRING_PKG}"_*) kfile[$name]=${src[$name]} ;; esac
    done
    for f in "${kfile[@]}"; do
        fv=$(dpkg-deb -f "$f" Version)
        if [ -z "$newest" ] || dpkg --compare-versions "$fv" gt "$newest"; then
            newest=$fv
            newest_file=$f
        fi
    done
    if [ -z "${kfile[${KEYRING_PKG}_${v#*:}_all.deb]:-}" ] &&
        { [ -z "$newest" ] || dpkg --compare-versions "$newest" lt "$v"; }; then
        kv=$v
    else
        dpkg-deb --fsys-tarfile "$newest_file" | tar -xOf - ".$KEYRING_PATH" \
            >"$work/published.gpg" || die "$newest_file has no $KEYRING_PATH"
        if ! cmp -s "$work/published.gpg" "$work/keyring.gpg"; then
            if [[ $newest =~ ^(.*)\+keys([0-9]+)$ ]]; then
                kv=${BASH_REMATCH[1]}+keys$((BASH_REMATCH[2] + 1))
            else
                kv=$newest+keys1
            fi
            echo "repo: the archive keys changed since $KEYRING_PKG $newest: $kv carries them"
        fi
    fi
    if [ -n "$kv" ]; then
        mkdir -p "$work/out"
        keyring_deb "$work/keyring.gpg" "$kv" "$work/out"
        name=${KEYRING_PKG}_${kv#*:}_all.deb
        src[$name]=$work/out/$name
        names+=("$name")
    fi

    # A published name with other contents is refused before anything is copied.
    for name in "${names[@]}"; do
        have=$repo/pool/$COMPONENT/$name
        [ -f "$have" ] || continue
        cmp -s "$have" "${src[$name]}" ||
            die "${src[$name]}: pool/$COMPONENT/$name is published with other contents, and" \
                "a published file never changes: give the new build a new version (a" \
                "pkg/changelog entry, or make deb VERSION=...)"
    done
    for name in "${names[@]}"; do
        have=$repo/pool/$COMPONENT/$name
        if [ -f "$have" ]; then
            kept+=("$name")
            continue
        fi
        cp "${src[$name]}" "$repo/pool/$COMPONENT/.$name.tmp"
        chmod 0644 "$repo/pool/$COMPONENT/.$name.tmp"
        mv "$repo/pool/$COMPONENT/.$name.tmp" "$have"
        added+=("$name")
    done

    # The indexes, made aside: dists/stable.new, checked, then swapped in.
    local new=$repo/dists/$SUITE.new old=$repo/dists/$SUITE.old
    rm -rf "$new" "$old"
    stale=$new
    for a in $ARCHES; do
        mkdir -p "$new/$COMPONENT/binary-$a"
        (cd "$repo" && apt-ftparchive -a "$a" packages "pool/$COMPONENT") \
            >"$new/$COMPONENT/binary-$a/Packages" 2>"$work/ftp.err" ||
            { cat "$work/ftp.err" >&2; die "apt-ftparchive packages failed for $a"; }
        gzip -9n <"$new/$COMPONENT/binary-$a/Packages" >"$new/$COMPONENT/binary-$a/Packages.gz"
    done
    (cd "$new" && apt-ftparchive \
        -o APT::FTPArchive::Release::Origin=posedge \
        -o APT::FTPArchive::Release::Label=posedge \
        -o APT::FTPArchive::Release::Suite="$SUITE" \
        -o APT::FTPArchive::Release::Codename="$SUITE" \
        -o APT::FTPArchive::Release::Architectures="$ARCHES" \
        -o APT::FTPArchive::Release::Components="$COMPONENT" \
        -o APT::FTPArchive::Release::Description="posedge point-of-sale packages" \
        -o APT::FTPArchive::MD5=false -o APT::FTPArchive::SHA1=false \
        release .) >"$work/Release" 2>"$work/ftp.err" ||
        { cat "$work/ftp.err" >&2; die "apt-ftparchive release failed"; }
    mv "$work/Release" "$new/Release"
    gpg_run "sign the Release file with $signer" --local-user "$signer" --digest-algo SHA512 \
        --clearsign --output "$new/InRelease" "$new/Release"
    gpg_run "sign the Release file with $signer" --local-user "$signer" --digest-algo SHA512 \
        --armor --detach-sign --output "$new/Release.gpg" "$new/Release"
    if ! gpgv --keyring "$work/keyring.gpg" "$new/InRelease" >/dev/null 2>"$work/gpgv.err" ||
        ! gpgv --keyring "$work/keyring.gpg" "$new/Release.gpg" "$new/Release" \
            >/dev/null 2>>"$work/gpgv.err"; then
        cat "$work/gpgv.err" >&2
        die "the new Release does not verify with the keyring"
    fi
    chmod -R u=rwX,go=rX "$new"
    if [ -d "$repo/dists/$SUITE" ]; then
        mv "$repo/dists/$SUITE" "$old"
    fi
    mv "$new" "$repo/dists/$SUITE"
    stale=
    rm -rf "$old"

    # A till's first contact: the keyring and an entry for the repository.
    install -m 0644 "$work/keyring.gpg" "$repo/.$KEYRING_PKG.gpg.tmp"
    mv "$repo/.$KEYRING_PKG.gpg.tmp" "$repo/$KEYRING_PKG.gpg"
    sources_entry "${POSEDGE_REPO_URI:-file:$repo}" >"$repo/.posedge.sources.tmp"
    mv "$repo/.posedge.sources.tmp" "$repo/posedge.sources"

    fpr=$(gpg --batch --quiet --homedir "$gh" --with-colons --import-options show-only \
        --import "$work/keyring.gpg" 2>/dev/null |
        awk -F: '$1 == "pub" { w = 1; next } $1 == "fpr" && w { printf " %s", $10; w = 0 }')
    for a in $ARCHES; do
        n=$(grep -c '^Package: ' "$repo/dists/$SUITE/$COMPONENT/binary-$a/Packages" || true)
        echo "repo: $a: $n packages"
    done
    echo "repo: $repo: ${#added[@]} added${added[*]:+ (${added[*]})}, ${#kept[@]} already" \
        "there; signed by $signer; keyring:$fpr"
}

case ${1:-} in
key)
    shift
    key_step "$@"
    ;;
publish)
    shift
    [ $# -ge 1 ] || die "$usage"
    publish "$@"
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
