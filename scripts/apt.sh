# SPDX-License-Identifier: Apache-2.0
#
# apt_install TAG PACKAGE...: install Debian packages as root (directly, or through sudo),
# sourced by deps.sh and kafka.sh. A mirror can serve an index mid-sync ("File has unexpected
# size"): apt-get update is retried after a pause, and so is the install. Exits on failure.
apt_install() {
    local tag=$1 sudo=
    shift
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "$tag: installing $*"
    for attempt in 1 2 3 4 5; do
        if $sudo apt-get update -qq; then
            break
        fi
        [ "$attempt" -eq 5 ] && { echo "$tag: apt-get update failed 5 times" >&2; exit 1; }
        sleep $((attempt * 10))
    done
    for attempt in 1 2 3; do
        if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "$@"; then
            return 0
        fi
        sleep $((attempt * 10))
        $sudo apt-get update -qq || true
    done
    echo "$tag: could not install $*" >&2
    exit 1
}
