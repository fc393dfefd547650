#!/bin/bash
# bench_milter.sh -- Postfix throughput with mortar-milter, side by side
# with its anchors, and the milter's peak memory by message size.
#
#   bench/bench_milter.sh [-c stack.conf] [-n messages] [-N messages]
#                         [-s sessions] [-l body_bytes] [-r rounds]
#
# Same machine, same run, same clamd and spamd (the stack's), same Postfix:
# smtp-source drives the stack's MX port while smtpd_milters is switched
# between
#   none        no milter at all
#   mortar-off  mortar-milter with virus_scan = no, spam_scan = no
#   mortar      mortar-milter (clamd + spamd, the stack's config)
#   anchors     clamav-milter and spamass-milter chained (Debian packages)
# in rounds (rotating order; the median counts), prints messages/second
# for each, then the ratios against the
# targets: mortar >= 1.5x anchors; mortar-off at most 10% slower than
# none.  Last, the peak RSS of mortar-milter while 1 KB, 1 MB and 50 MB
# messages go through (sampled every 20 ms): it should stay flat.
#
# Fairness and noise: the scanning variants send -n messages (default
# 400), the plain ones -N (default 3000), so every run lasts seconds, not
# a fraction of one.  Before Postfix is reloaded and before every timed
# run the queue is drained (deliveries left from the previous run would
# compete for the CPU, and a reload during deliveries leaves files
# behind); the ratios are reported from the medians and, to cancel drift
# (other jobs on the machine), as the median of the per-round ratios of
# runs made next to each other.
#
# Uses the stack of stack.conf (started if not running).  Mail goes to a
# bench user added for the run and removed after; Postfix's milter
# settings are restored on exit, whatever happens.
set -eu
set -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
conf="$top/conf/stack.conf"
count=400
fast_count=3000
sessions=16
size=2000
rounds=5

while getopts c:n:N:s:l:r: opt; do
    case $opt in
    c) conf=$OPTARG ;;
    n) count=$OPTARG ;;
    N) fast_count=$OPTARG ;;
    s) sessions=$OPTARG ;;
    l) size=$OPTARG ;;
    r) rounds=$OPTARG ;;
    *)
        echo "usage: $0 [-c stack.conf] [-n messages] [-N messages] [-s sessions] [-l bytes] [-r rounds]" >&2
        exit 2
        ;;
    esac
done
case $conf in /*) ;; *) conf="$PWD/$conf" ;; esac

for t in smtp-source clamav-milter spamass-milter spamc postconf; do
    command -v "$t" >/dev/null || {
        echo "bench: $t is missing (scripts/deps.sh installs it)" >&2
        exit 1
    }
done

bash "$top/scripts/stack.sh" -c "$conf" start >/dev/null
eval "$("$top/build/bin/mortar-conf" -c "$conf" dump-sh)"
case $run_dir in /*) run=$run_dir ;; *) run="$top/$run_dir" ;; esac
eval "$("$top/build/bin/mortar-conf" -c "$run/secrets.conf" dump-sh)"
etc="$run/postfix/etc"
b="$run/bench-milter"
mkdir -p "$b"
chmod 755 "$b"

orig_smtpd=$(postconf -c "$etc" -h smtpd_milters)
orig_non=$(postconf -c "$etc" -h non_smtpd_milters)
pids=()
user_dn="uid=bench-milter,ou=users,mortarDomainName=$domain,ou=domains,$ldap_suffix"

ldap() {
    local tool=$1
    shift
    "$tool" -x -H "ldap://$bind:$ldap_port" -D "cn=admin,$ldap_suffix" \
        -y "$run/.admin-pw" "$@"
}

cleanup() {
    postconf -c "$etc" -e "smtpd_milters = $orig_smtpd" \
        "non_smtpd_milters = $orig_non"
    postfix -c "$etc" reload >/dev/null 2>&1 || true
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    [ -f "$b/spamass.pid" ] && kill "$(cat "$b/spamass.pid")" 2>/dev/null || true
    ldap ldapdelete "$user_dn" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The bench mailbox.
ldap ldapdelete "$user_dn" >/dev/null 2>&1 || true
ldap ldapadd >/dev/null <<EOF2
dn: $user_dn
objectClass: inetOrgPerson
objectClass: mortarUser
uid: bench-milter
cn: bench
sn: bench
mail: bench-milter@$domain
mortarAccountStatus: active
mortarEnabledService: imap
EOF2
rcpt="bench-milter@$domain"

# mortar-milter with both scanners off: the same binary, a second socket.
mkdir -p "$b/off" "$b/off/spool"
chown mortar-milter:postfix "$b/off"
chmod 2750 "$b/off"
chown mortar-milter "$b/off/spool"
chmod 700 "$b/off/spool"
sed -e "s#^socket = .*#socket = unix:$b/off/milter.sock#" \
    -e "s#^spool_dir = .*#spool_dir = $b/off/spool#" \
    -e "s#^log = .*#log = $b/off/milter.log#" \
    -e 's#^virus_scan = .*#virus_scan = no#' \
    -e 's#^spam_scan = .*#spam_scan = no#' \
    "$run/milter-etc/mortar-milter.conf" >"$b/off/milter.conf"
chgrp mortar-milter "$b/off/milter.conf"
chmod 640 "$b/off/milter.conf"
touch "$b/off/milter.log"
chown mortar-milter "$b/off/milter.log"
setpriv --reuid=mortar-milter --regid=mortar-milter --init-groups \
    "$top/build/bin/mortar-milter" -c "$b/off/milter.conf" </dev/null \
    >>"$b/off/milter.out" 2>&1 &
pids+=($!)

# The anchors, on the same clamd and spamd.
cat >"$b/clamav-milter.conf" <<EOF2
MilterSocket $b/clamav-milter.sock
MilterSocketMode 666
ClamdSocket tcp:$bind:$clamd_port
Foreground yes
User clamav
OnClean Accept
OnInfected Reject
OnFail Defer
AddHeader Replace
MaxFileSize 100M
LogFile $b/clamav-milter.log
EOF2
touch "$b/clamav-milter.log"
chown clamav "$b/clamav-milter.log"
rm -f "$b/clamav-milter.sock"
clamav-milter -c "$b/clamav-milter.conf" </dev/null >>"$b/clamav-milter.out" 2>&1 &
pids+=($!)
rm -f "$b/spamass.sock"
(
    umask 000
    spamass-milter -p "$b/spamass.sock" -f -P "$b/spamass.pid" -m \
        -- -d "$bind" -p "$spamd_port" </dev/null >>"$b/spamass.out" 2>&1
)
for s in "$b/off/milter.sock" "$b/clamav-milter.sock" "$b/spamass.sock"; do
    n=100
    until [ -S "$s" ]; do
        [ $n -gt 0 ] || {
            echo "bench: $s did not appear" >&2
            exit 1
        }
        sleep 0.1
        n=$((n - 1))
    done
done

queue=$(postconf -c "$etc" -h queue_directory)

# Wait (at most 5 minutes) until Postfix has delivered everything queued.
drain() {
    local n=600
    while [ -n "$(find "$queue/incoming" "$queue/active" -type f -print -quit)" ]; do
        [ $n -gt 0 ] || {
            echo "bench: queue not drained after 5 minutes, going on" >&2
            return
        }
        sleep 0.5
        n=$((n - 1))
    done
}

use_milters() {
    drain
    postconf -c "$etc" -e "smtpd_milters = $1" "non_smtpd_milters = $1"
    postfix -c "$etc" reload >/dev/null 2>&1
    sleep 2
}

# run N SESSIONS SIZE: seconds smtp-source takes to have N messages
# accepted (queued) by Postfix.
run_source() {
    local t0 t1
    t0=$(date +%s.%N)
    smtp-source -s "$2" -m "$1" -l "$3" -f "bench@outside.test" \
        -t "$rcpt" -M bench.test "$bind:$smtp_port" >"$b/source.out" 2>&1 \
        || { echo "bench: smtp-source failed: $(tail -3 "$b/source.out")" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }'
}

# Rounds in rotating order, the median per variant: the machine's load
# drifts (other jobs), and every variant sees the same drift.
declare -A all
variants=(none mortar-off mortar anchors)
ratios_scan=""
ratios_off=""
for round in $(seq 1 "$rounds"); do
    declare -A this=()
    for i in 0 1 2 3; do
        variant=${variants[$(((i + round - 1) % 4))]}
        n=$count
        case $variant in
        none)
            use_milters ""
            n=$fast_count
            ;;
        mortar-off)
            use_milters "unix:$b/off/milter.sock"
            n=$fast_count
            ;;
        mortar) use_milters "unix:$run/milter/milter.sock" ;;
        anchors) use_milters "unix:$b/clamav-milter.sock, unix:$b/spamass.sock" ;;
        esac
        run_source 20 "$sessions" "$size" >/dev/null # warm-up
        drain
        secs=$(run_source "$n" "$sessions" "$size")
        r=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
        all[$variant]="${all[$variant]:-} $r"
        this[$variant]=$r
        printf 'round %d  %-11s %6d messages of %d bytes, %d sessions: %8s s  %8s msg/s\n' \
            "$round" "$variant" "$n" "$size" "$sessions" "$secs" "$r"
    done
    ratios_scan="$ratios_scan $(awk -v m="${this[mortar]}" -v a="${this[anchors]}" 'BEGIN { printf "%.3f", m / a }')"
    ratios_off="$ratios_off $(awk -v o="${this[mortar-off]}" -v z="${this[none]}" 'BEGIN { printf "%.2f", (1 - o / z) * 100 }')"
done
median() {
    echo "$@" | tr ' ' '\n' | grep . | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
                                    else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A rate
for variant in "${variants[@]}"; do
    rate[$variant]=$(median ${all[$variant]})
    printf 'median     %-11s %8s msg/s\n' "$variant" "${rate[$variant]}"
done

awk -v m="${rate[mortar]}" -v a="${rate[anchors]}" \
    -v off="${rate[mortar-off]}" -v none="${rate[none]}" \
    -v pr="$(median $ratios_scan)" -v po="$(median $ratios_off)" 'BEGIN {
    r = m / a; s = (1 - off / none) * 100
    printf "mortar / anchors (clamav-milter + spamass-milter): %.2fx of the medians, %.2fx median of the rounds  (target >= 1.5x) %s\n",
        r, pr, (r >= 1.5 ? "MET" : "NOT MET")
    printf "mortar-off vs no milter: %.1f%% slower of the medians, %.1f%% median of the rounds  (target <= 10%%) %s\n",
        s, po, (s <= 10 ? "MET" : "NOT MET")
}'

# Peak RSS of mortar-milter by message size.
use_milters "unix:$run/milter/milter.sock"
mpid=$(cat "$run/milter/mortar-milter.pid")
for spec in 1024:200 1048576:40 50000000:3; do
    sz=${spec%%:*}
    n=${spec##*:}
    peak=0
    run_source "$n" 4 "$sz" >"$b/rss.secs" &
    src=$!
    while kill -0 "$src" 2>/dev/null; do
        r=$(awk '/^VmRSS/ { print $2 }' "/proc/$mpid/status")
        [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.02
    done
    wait "$src"
    printf 'mortar-milter peak RSS, %9d-byte messages (x%d): %6d kB\n' "$sz" "$n" "$peak"
done
