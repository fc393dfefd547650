#!/bin/bash
# shellcheck disable=SC2154  # the stack file's keys come from eval
# bench_dav.sh -- CalDAV response times of Mortar (ngx_caldav) beside
# Radicale 3.1.8, the anchor, on the same calendars, on the same machine.
#
#   bash bench/bench_dav.sh [-c stack.conf] [--sizes 200,1000,5000,20000]
#                           [--radicale-only] [--seconds 5] [--max-minutes 40]
#                           [--connections 4]
#                           [--keep]
#
# Calendars of each size (deterministic: bench/bench_dav_gen.py) go into a
# private Radicale (127.0.0.1:45242, plain HTTP, started and stopped here)
# and, by PUT over HTTPS, into alice's calendar bench-<size> on the stack of
# stack.conf (conf/stack.conf by default; started if it is not running;
# alice's password from <run_dir>/credentials).  Before timing, both must
# list the same hrefs with an ETag each.  Then, per size: PROPFIND Depth 1,
# a one-week calendar-query REPORT returning ETags, getctag (PROPFIND
# Depth 0), sync-collection from the newest token (no change), GET of one
# event and PUT of a new event each request -- with wrk (2 threads, 4
# connections, --seconds each), or sequentially (up to 3 requests) when one
# request alone takes over 0.5 s, as Radicale does on big calendars.  The
# table gives milliseconds and the ratio; targets: Mortar >= 20x faster,
# and the one-week REPORT on 20,000 events <= 50 ms.  Prints figures and
# asserts nothing.  --radicale-only times Radicale alone (no stack needed).
# The bench-<size> calendars are deleted from Mortar at the end (--keep
# keeps them; a new run replaces them anyway).
set -eu
set -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
conf="$top/conf/stack.conf"
sizes=200,1000,5000,20000
radicale_only=0
extra=()

usage() {
    echo "usage: $0 [-c stack.conf] [--sizes 200,1000,5000,20000] [--radicale-only]" \
        "[--seconds N] [--max-minutes N] [--radicale-port N] [--connections N] [--keep]" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    -c) [ $# -ge 2 ] || usage; conf=$2; shift 2 ;;
    --sizes) [ $# -ge 2 ] || usage; sizes=$2; shift 2 ;;
    --radicale-only) radicale_only=1; shift ;;
    --keep) extra+=("$1"); shift ;;
    --seconds | --max-minutes | --radicale-port | --connections) [ $# -ge 2 ] || usage; extra+=("$1" "$2"); shift 2 ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
case $conf in /*) ;; *) conf="$PWD/$conf" ;; esac

cd "$top"
command -v wrk >/dev/null || { echo "bench_dav: wrk is missing (scripts/deps.sh)" >&2; exit 1; }
/usr/bin/python3 -c 'import radicale' 2>/dev/null \
    || { echo "bench_dav: python3-radicale is missing (scripts/deps.sh)" >&2; exit 1; }

if [ "$radicale_only" = 1 ]; then
    exec /usr/bin/python3 bench/bench_dav_gen.py run --sizes "$sizes" --radicale-only \
        ${extra[@]+"${extra[@]}"}
fi

make -s build/bin/mortar-conf
# run_dir, bind, https_port, domain ... come from the stack file.
eval "$(build/bin/mortar-conf -c "$conf" dump-sh)"
case $run_dir in /*) run=$run_dir ;; *) run="$top/$run_dir" ;; esac

if ! bash scripts/stack.sh -c "$conf" status >/dev/null 2>&1; then
    bash scripts/stack.sh -c "$conf" start >/dev/null
fi

user="alice@$domain"
passfile=$(mktemp)
trap 'rm -f "$passfile"' EXIT
awk -v u="$user" '$1 == u { print $2 }' "$run/credentials" >"$passfile"
[ -s "$passfile" ] || { echo "bench_dav: no password for $user in $run/credentials" >&2; exit 1; }

/usr/bin/python3 bench/bench_dav_gen.py run --sizes "$sizes" \
    --mortar-url "https://$bind:$https_port/" --mortar-user "$user" \
    --mortar-pass-file "$passfile" ${extra[@]+"${extra[@]}"}
