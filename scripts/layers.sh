#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# layers.sh - checks the layer order common -> store | hal -> sim -> agent | bridge | ctl, as
# the Makefile's layer table states it (the Makefile runs this for `make`; its table comes in
# the environment: LAYERS, and LAYER_USES_<layer> and LAYER_HEADERS_<layer> for each).
#
# 1. Includes. Every .c and .h under a layer's directory, and every public header under
#    include/posedge/, belongs to a layer: a file to the top directory it is in, a public
#    header to the layer whose LAYER_HEADERS names it (a name, or a pattern with make's %,
#    relative to include/posedge/; a name wins over a pattern), else to common. Each #include "..." must name a file of the same layer
#    or of one LAYER_USES_<layer> lists: "posedge/..." by that table, "<dir>/..." by its top
#    directory. A public header's own includes are checked too, so no layer reaches up through
#    a header either.
# 2. Symbols. For each LAYER=ARCHIVE given, every global symbol its objects use and do not
#    define must not be defined by the archive of a layer it may not use (NM lists them), so a
#    call from a lower layer up is refused even when the linker would resolve it from a member
#    that another reference already pulled in.
#
# Prints one line per violation, "FILE:LINE: ..." or "ARCHIVE(MEMBER): ...", and exits 1 when
# there is one.
#
# usage: scripts/layers.sh NM [LAYER=ARCHIVE...]
set -u
nm=${1:?usage: scripts/layers.sh NM [LAYER=ARCHIVE...]}
shift
cd "$(dirname "$0")/.." || exit 2
: "${LAYERS:?LAYERS is not set: run this through make}"

# The table as awk assignments: uses[L] = " A B ", pats[L] = " P1 P2 ".
table=
for l in $LAYERS; do
    u=LAYER_USES_$l
    h=LAYER_HEADERS_$l
    table="$table$l|${!u:-}|${!h:-};"
done

# ---- 1. includes ----
dirs=()
for l in $LAYERS; do
    [ -d "$l" ] && dirs+=("$l")
done
files=$(find "${dirs[@]}" include/posedge -name '*.[ch]' | sort)
# shellcheck disable=SC2086 # one file name per word: the tree has no blanks in its names
grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $files /dev/null | awk -v table="$table" '
function header_layer(rel,   l, n, i, p, pre, suf) {
    for (l in pats) {
        n = split(pats[l], p, " ")
        for (i = 1; i <= n; i++)
            if (rel == p[i])
                return l
    }
    for (l in pats) {
        n = split(pats[l], p, " ")
        for (i = 1; i <= n; i++) {
            if (index(p[i], "%")) {
                pre = substr(p[i], 1, index(p[i], "%") - 1)
                suf = substr(p[i], index(p[i], "%") + 1)
                if (substr(rel, 1, length(pre)) == pre && length(rel) >= length(pre) + length(suf) &&
                    substr(rel, length(rel) - length(suf) + 1) == suf)
                    return l
            }
        }
    }
    return "common"
}
function path_layer(path,   top) {
    if (substr(path, 1, 16) == "include/posedge/")
        return header_layer(substr(path, 17))
    if (substr(path, 1, 8) == "posedge/")
        return header_layer(substr(path, 9))
    top = path
    sub(/\/.*/, "", top)
    return (top in uses) ? top : ""
}
BEGIN {
    n = split(table, rows, ";")
    order = ""
    for (i = 1; i <= n; i++) {
        if (rows[i] == "")
            continue
        split(rows[i], f, "|")
        uses[f[1]] = " " f[2] " "
        pats[f[1]] = f[3]
        order = order (order == "" ? "" : " ") f[1]
    }
    bad = 0
}
{
    # FILE:LINE:#include "PATH"
    file = $0; sub(/:.*/, "", file)
    rest = substr($0, length(file) + 2)
    line = rest; sub(/:.*/, "", line)
    inc = rest; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
    from = path_layer(file)
    if (from == "")
        next
    to = path_layer(inc)
    if (to == "") {
        printf "%s:%s: includes \"%s\", which is in no layer (include files by their path from the top: posedge/..., %s/...)\n", file, line, inc, from
        bad++
    } else if (to != from && index(uses[from], " " to " ") == 0) {
        printf "%s:%s: the %s layer includes \"%s\" of the %s layer, which it may not use (layers, lowest first: %s; %s uses:%s)\n", file, line, from, inc, to, order, from, uses[from] == "  " ? " nothing" : substr(uses[from], 1, length(uses[from]) - 1)
        bad++
    }
}
END { exit bad > 0 }
'
status=$?

# ---- 2. symbols ----
# "LAYER ARCHIVE MEMBER SYMBOL D|U" lines for every archive, then one pass over them.
syms=$(for arg in "$@"; do
    l=${arg%%=*}
    a=${arg#*=}
    "$nm" -A -g -P "$a" | awk -v l="$l" -v a="$a" '{
        m = $1; sub(/:$/, "", m); sub(/^.*\[/, "", m); sub(/\]$/, "", m)
        print l, a, m, $2, ($3 == "U" ? "U" : ($3 == "w" || $3 == "v" ? "W" : "D"))
    }'
done)
printf '%s\n' "$syms" | awk -v table="$table" '
BEGIN {
    n = split(table, rows, ";")
    for (i = 1; i <= n; i++) {
        if (rows[i] == "")
            continue
        split(rows[i], f, "|")
        uses[f[1]] = " " f[2] " "
    }
    bad = 0
}
NF == 5 && $5 == "D" { def[$4] = $1; defarc[$4] = $2; own[$1 SUBSEP $4] = 1 }
NF == 5 && $5 == "U" { nu++; ul[nu] = $1; ua[nu] = $2; um[nu] = $3; us[nu] = $4 }
END {
    for (i = 1; i <= nu; i++) {
        s = us[i]; l = ul[i]
        if (!(s in def) || (l SUBSEP s) in own)
            continue
        if (index(uses[l], " " def[s] " ") == 0) {
            printf "%s(%s): the %s layer uses %s of the %s layer (%s), which it may not use\n", ua[i], um[i], l, s, def[s], defarc[s]
            bad++
        }
    }
    exit bad > 0
}
' || status=1
exit $status
