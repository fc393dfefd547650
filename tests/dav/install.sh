#!/bin/sh
# tests/dav/install.sh -- install the Node DAV clients of the integration
# tests (tsdav, pinned in package.json and package-lock.json) into
# tests/dav/node_modules with `npm ci`.
#
# Idempotent and cheap when nothing changed: it runs npm only when
# node_modules is missing or stale (package-lock.json or the Node version
# differ from those of the last install, recorded in
# node_modules/.mortar-stamp).  Needs node and npm (Debian's nodejs) and the
# npm registry.
set -eu
cd "$(dirname "$0")"

command -v node >/dev/null 2>&1 || { echo "tests/dav/install.sh: node is missing" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "tests/dav/install.sh: npm is missing" >&2; exit 1; }

want="$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1) node-$(node --version)"
stamp=node_modules/.mortar-stamp

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/tsdav/package.json ]; then
    exit 0
fi

echo "tests/dav: npm ci (tsdav)"
npm ci --no-audit --no-fund --loglevel=error
printf '%s\n' "$want" > "$stamp"
