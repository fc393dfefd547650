#!/bin/sh
# scripts/build-nginx-modules.sh -- build Mortar's nginx dynamic modules.
#
# usage: sh scripts/build-nginx-modules.sh BUILD_DIR
#
# Called by `make modules` once BUILD_DIR/lib/libmortar.a exists.  Builds
# every module listed in MODULES (a listed directory without a `config`
# file is skipped) out of tree, the way Debian builds its libnginx-mod-*
# packages: against the headers of nginx-dev, configured with the flags
# Debian's nginx was configured with (they include --with-compat, so the
# .so files load into Debian's own nginx binary).
#
#   BUILD_DIR/nginx-src/   a copy of /usr/share/nginx/src (nothing is ever
#                          written under /usr); configure.log, make.log
#   BUILD_DIR/modules/     the resulting ngx_*.so, for load_module
#
# Incremental: ./configure runs again only when the configure stamp changes
# (Debian's flags, compiler flags, the module list, a module's `config`, or
# the set of files in a module or in shared/include); `make modules` runs
# only when a file of a listed module, a header in shared/include or
# libmortar.a is newer than a .so in BUILD_DIR/modules (or one is missing).
# A no-op run prints nothing.  CFLAGS / LDFLAGS from the environment replace
# Debian's hardening flags (from dpkg-buildflags) when set.
#
# POSIX sh; bash is used only to read Debian's conf_flags (a bash array).
set -eu

# Add ngx_admin here when it gets a `config` file.
MODULES="ngx_webmail ngx_caldav"

NGX_SRC=/usr/share/nginx/src
NGX_FLAGS_FILE=$NGX_SRC/conf_flags

die() {
    echo "build-nginx-modules: $*" >&2
    exit 1
}

# After a failure: show the end of a configure log, or the error lines of
# a make log (with -j, the first error is rarely at the end), then stop.
die_log() {
    if [ "$3" = errors ] &&
        grep -qE 'error:|undefined reference|\*\*\*' "$2"; then
        echo "build-nginx-modules: $1; errors from $2:" >&2
        grep -E 'error:|undefined reference|\*\*\*' "$2" | head -n 30 |
            sed 's/^/  | /' >&2
    else
        echo "build-nginx-modules: $1; last lines of $2:" >&2
        tail -n 40 "$2" | sed 's/^/  | /' >&2
    fi
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 BUILD_DIR"

BUILD_ARG=${1%/}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" || die "cannot create build directory $1"
BUILD=$(cd "$1" && pwd)
LIB=$BUILD/lib/libmortar.a
NSRC=$BUILD/nginx-src
OUT=$BUILD/modules

if [ ! -x "$NGX_SRC/configure" ] || [ ! -f "$NGX_FLAGS_FILE" ]; then
    die "nginx-dev is not installed ($NGX_SRC/configure not found):" \
        "run scripts/deps.sh"
fi
command -v bash >/dev/null 2>&1 ||
    die "bash is needed to read $NGX_FLAGS_FILE: run scripts/deps.sh"
[ -f "$LIB" ] || die "$LIB not found: run \`make lib\` first"

cd "$ROOT"

mods=""
for m in $MODULES; do
    [ -f "$ROOT/$m/config" ] && mods="$mods $m"
done
[ -n "$mods" ] || exit 0

# -- 1. a private copy of nginx-dev's tree, refreshed if the package changes

tree_sum() {
    (cd "$1" && find auto configure conf_flags src -type f | LC_ALL=C sort |
        xargs cksum | cksum)
}

src_sum=$(tree_sum "$NGX_SRC")
if [ ! -f "$NSRC/.mortar-src" ] ||
    [ "$(cat "$NSRC/.mortar-src")" != "$src_sum" ]; then
    rm -rf "$NSRC" "$NSRC.tmp"
    cp -R "$NGX_SRC" "$NSRC.tmp" ||
        die "cannot copy $NGX_SRC to $NSRC.tmp"
    echo "$src_sum" >"$NSRC.tmp/.mortar-src"
    mv "$NSRC.tmp" "$NSRC"
fi

# -- 2. configure, when the stamp differs

flags=$(bash -c 'set -eu; . "$1"; printf "%s\n" "${NGX_CONF_FLAGS[@]}"' \
    build-nginx-modules "$NGX_FLAGS_FILE") ||
    die "cannot read NGX_CONF_FLAGS from $NGX_FLAGS_FILE"
[ -n "$flags" ] || die "NGX_CONF_FLAGS in $NGX_FLAGS_FILE is empty"

# Debian's nginx was built with these (see `nginx -V`); -fPIC as Debian adds.
deb=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh \
    2>/dev/null) || deb='CFLAGS="-g -O2" CPPFLAGS= LDFLAGS='
cc_opt=$(eval "$deb"; echo "$CFLAGS -fPIC $CPPFLAGS")
ld_opt=$(eval "$deb"; echo "$LDFLAGS -fPIC")
[ -z "${CFLAGS:-}" ] || cc_opt="$CFLAGS -fPIC"
[ -z "${LDFLAGS:-}" ] || ld_opt="$LDFLAGS -fPIC"

set --
while IFS= read -r f; do
    set -- "$@" "$f"
done <<EOF
$flags
EOF
set -- "$@" "--with-cc-opt=$cc_opt" "--with-ld-opt=$ld_opt"
for m in $mods; do
    set -- "$@" "--add-dynamic-module=$ROOT/$m"
done

stamp=$(
    echo "CC=${CC:-}"
    echo "MORTAR_BUILD_DIR=$BUILD"
    printf '%s\n' "$@"
    for m in $mods; do
        cksum <"$m/config"
        (cd "$m" && ls)
    done
    ls shared/include
)

if [ ! -f "$NSRC/objs/Makefile" ] || [ ! -f "$NSRC/.mortar-configure" ] ||
    [ "$(cat "$NSRC/.mortar-configure")" != "$stamp" ]; then
    rm -f "$NSRC/.mortar-configure"
    (cd "$NSRC" && unset CFLAGS LDFLAGS && MORTAR_BUILD_DIR=$BUILD &&
        export MORTAR_BUILD_DIR && ./configure "$@") \
        >"$NSRC/configure.log" 2>&1 ||
        die_log "nginx ./configure failed" "$NSRC/configure.log" tail
    printf '%s\n' "$stamp" >"$NSRC/.mortar-configure"
    configured=yes
else
    configured=no
fi

# -- 3. make modules, when something is newer than a built .so

sos=$(sed -n 's|^modules:[[:space:]]*objs/\([^ ]*\.so\)$|\1|p' \
    "$NSRC/objs/Makefile")
[ -n "$sos" ] || die "no module in $NSRC/objs/Makefile: is $mods/config" \
    "calling auto/module?"

stale=$configured
for so in $sos; do
    # shellcheck disable=SC2086 # $mods is a word list
    if [ ! -f "$OUT/$so" ] ||
        [ -n "$(find $mods shared/include "$LIB" -type f -newer "$OUT/$so" \
            -print | head -n 1)" ]; then
        stale=yes
    fi
    # nginx's Makefile does not know about libmortar.a: force the relink.
    if [ -f "$NSRC/objs/$so" ] &&
        [ -n "$(find "$LIB" -newer "$NSRC/objs/$so")" ]; then
        rm -f "$NSRC/objs/$so"
    fi
done
[ "$stale" = yes ] || exit 0

jobs=$(nproc 2>/dev/null || echo 1)
# The caller's MAKEFLAGS (-s, a jobserver we were not given) would leak in.
(cd "$NSRC" && unset MAKEFLAGS MFLAGS MAKELEVEL &&
    make -j"$jobs" -f objs/Makefile modules) >"$NSRC/make.log" 2>&1 ||
    die_log "building the nginx modules failed" "$NSRC/make.log" errors

mkdir -p "$OUT"
for so in $sos; do
    # A new inode via rename: a running nginx keeps its mapping of the old.
    cp "$NSRC/objs/$so" "$OUT/.$so.tmp"
    mv -f "$OUT/.$so.tmp" "$OUT/$so"
done
# shellcheck disable=SC2086 # $sos is a word list
echo "nginx modules:" $sos "-> $BUILD_ARG/modules/"
