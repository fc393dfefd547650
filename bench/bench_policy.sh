#!/bin/bash
# bench_policy.sh -- policy requests per second answered by mortar-policy,
# with p50/p99 latency.  The figures only: no anchor to compare with
# (Dovecot's quota-status knows one server and none of the other checks).
#
#   bench/bench_policy.sh [-c stack.conf] [-n connections] [-t seconds]
#
# Uses the stack of stack.conf (conf/stack.conf, the `make run` stack, by
# default) and starts it if it is not running: the real daemon, the real
# slapd and Redis.  Seeds, once, two domains with 50 users each and
# generous limits (bench-policy.test with quotas and rate limits, and
# grey.bench-policy.test with greylisting on), then drives the daemon's
# socket with bench-policy (bench/bench_policy.c).  Target on the 2-core
# reference machine: at least 5,000 requests per second.
set -eu
set -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
conf="$top/conf/stack.conf"
conns=32
secs=10

while getopts c:n:t: opt; do
    case $opt in
    c) conf=$OPTARG ;;
    n) conns=$OPTARG ;;
    t) secs=$OPTARG ;;
    *)
        echo "usage: $0 [-c stack.conf] [-n connections] [-t seconds]" >&2
        exit 2
        ;;
    esac
done
case $conf in /*) ;; *) conf="$PWD/$conf" ;; esac

cd "$top"
make -s build/bin/mortar-conf build/bin/mortar-policy build/bench/bench-policy

eval "$(build/bin/mortar-conf -c "$conf" dump-sh)"
case $run_dir in /*) run=$run_dir ;; *) run="$top/$run_dir" ;; esac

if ! bash scripts/stack.sh -c "$conf" status >/dev/null 2>&1; then
    bash scripts/stack.sh -c "$conf" start >/dev/null
fi
eval "$(build/bin/mortar-conf -c "$run/secrets.conf" dump-sh)"

dom=bench-policy.test
grey=grey.bench-policy.test
users=50

ldif() {
    local d=$1 extra=$2 i
    printf 'dn: mortarDomainName=%s,ou=domains,%s\nobjectClass: mortarDomain\n' "$d" "$ldap_suffix"
    printf 'mortarDomainName: %s\nmortarAccountStatus: active\n%s\n\n' "$d" "$extra"
    printf 'dn: ou=users,mortarDomainName=%s,ou=domains,%s\nobjectClass: organizationalUnit\nou: users\n\n' "$d" "$ldap_suffix"
    for i in $(seq 0 $((users - 1))); do
        printf 'dn: uid=u%03d,ou=users,mortarDomainName=%s,ou=domains,%s\n' "$i" "$d" "$ldap_suffix"
        printf 'objectClass: inetOrgPerson\nobjectClass: mortarUser\n'
        printf 'uid: u%03d\ncn: u%03d\nsn: u%03d\nmail: u%03d@%s\n' "$i" "$i" "$i" "$i" "$d"
        printf 'mortarAccountStatus: active\nmortarQuotaBytes: 10737418240\n\n'
    done
}

# ldapadd -c: entries from an earlier run are not an error.
{
    ldif "$dom" "mortarDomainQuotaPool: 1099511627776
mortarRateLimitMessages: 100000000
mortarRateLimitRecipients: 100000000"
    ldif "$grey" "mortarGreylisting: TRUE"
} | ldapadd -c -x -H "ldap://$bind:$ldap_port" -D "cn=admin,$ldap_suffix" \
    -y <(printf '%s' "$ldap_admin_pw") >/dev/null 2>&1 || true

sock="$run/policy/run/policy.sock"
[ -S "$sock" ] || {
    echo "bench_policy: $sock is missing: is mortar-policy running?" >&2
    exit 1
}
# Every run starts from unknown triplets (deferred, then early retries):
# after 300 s an earlier run's triplets would pass on a read alone.
redis-cli -h "$bind" -p "$redis_port" --scan --pattern "mortar:grey:{$grey}:*" \
    | xargs -r -n 500 redis-cli -h "$bind" -p "$redis_port" unlink >/dev/null

# Fresh directory caches, so the warm-up fills them as in production.
pid=$(cat "$run/policy/run/mortar-policy.pid")
kill -HUP "$pid"

echo "bench_policy: $(nproc) CPUs, mortar-policy pid $pid ($(grep -c ^processor /proc/cpuinfo) cores), stack $name"
build/bench/bench-policy -s "$sock" -c "$conns" -t "$secs" -w 2 \
    -D "$dom" -G "$grey" -u "$users"
