#!/bin/bash
# stack.sh -- start, stop and inspect a private Mortar stack on loopback.
#
#   scripts/stack.sh [-c conf/stack.conf] start|stop|restart|status
#
# One stack is one config file (ports, run dir) and one run dir holding
# everything it writes: configs rendered from conf/templates/, the LDAP
# database, the mail, the queue, logs, pid files, secrets.  Nothing outside
# the run dir is touched, except one system user (mortar-vmail) that owns
# the mail, and no system-wide service or port is used.
#
# start   renders configs, initialises the directory on first run, starts
#         slapd, Redis, smtp-sink, clamd, spamd, mortar-milter, Postfix,
#         Dovecot and nginx (each one only
#         if it is not already running; a running one is reloaded), seeds
#         the demo domain once, and prints every endpoint and login.  Stale
#         pid files and sockets left by a crash are detected and removed.
# stop    stops every service of this stack and checks none is left.
# status  says which services of this stack run.
#
# `make run` and the integration tests both use this script.
set -eu
set -o pipefail
umask 022

top=$(cd "$(dirname "$0")/.." && pwd)
conf="$top/conf/stack.conf"

usage() {
    echo "usage: $0 [-c stack.conf] start|stop|restart|status" >&2
    exit 2
}

while getopts c: opt; do
    case $opt in
    c) conf=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
action=$1

case $conf in /*) ;; *) conf="$PWD/$conf" ;; esac

die() {
    echo "stack: $*" >&2
    exit 1
}
say() { echo "stack: $*"; }

[ "$(id -u)" = 0 ] || die "the stack must be started as root (Postfix, Dovecot and slapd drop privileges themselves)"
[ -f "$conf" ] || die "$conf: no such stack config"

build="$top/build"
mconf="$build/bin/mortar-conf"
[ -x "$mconf" ] || die "$mconf is missing: run 'make' first"

# The stack config, as shell variables (keys come from our own file).
eval "$("$mconf" -c "$conf" dump-sh)"
: "${name:?}" "${run_dir:?}" "${bind:?}" "${domain:?}" "${ldap_suffix:?}"
# clamd_port and spamd_port came with the content filter: a stack file
# written before them gets ports derived from smtp_port (2525 gives 3311
# and 7831, as in stack.conf), passed to the templates with -D.
milter_defs=()
if [ -z "${clamd_port:-}" ]; then
    clamd_port=$((${smtp_port:?} + 786))
    milter_defs+=(-D "clamd_port=$clamd_port")
fi
if [ -z "${spamd_port:-}" ]; then
    spamd_port=$((${smtp_port:?} + 5306))
    milter_defs+=(-D "spamd_port=$spamd_port")
fi

case $run_dir in /*) run=$run_dir ;; *) run="$top/$run_dir" ;; esac
# templates_dir (optional): another template tree, to try config changes on
# a private stack without touching the one every other stack uses.
templates=${templates_dir:-$top/conf/templates}
case $templates in /*) ;; *) templates="$top/$templates" ;; esac

# ---------------------------------------------------------------------------
# Helpers

# running PID: the process exists and is not a zombie (a killed daemon whose
# parent does not reap it stays in /proc as a zombie, holding nothing).
running() {
    local st
    st=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid_alive PIDFILE NAME: the pid in PIDFILE runs and its command is NAME;
# the pid is left in $alive_pid (a daemon may remove its pid file while we
# look, so callers use that, not the file).  A pid file whose process is
# gone, or whose pid now belongs to another program (pid reuse after a
# crash), is stale.
alive_pid=
pid_alive() {
    local pf=$1 want=$2 pid="" comm
    alive_pid=
    { read -r pid <"$pf"; } 2>/dev/null || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    running "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    case $comm in "$want"*)
        alive_pid=$pid
        return 0
        ;;
    esac
    return 1
}

# wait_port PORT SECONDS WHAT: wait until something accepts on bind:PORT.
wait_port() {
    local port=$1 n=$(($2 * 10))
    while [ $n -gt 0 ]; do
        if (exec 3<>"/dev/tcp/$bind/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        n=$((n - 1))
    done
    die "$3 did not start listening on $bind:$port; see $run/log/"
}

# port_free PORT WHAT: refuse to start when another program holds the port.
port_free() {
    if (exec 3<>"/dev/tcp/$bind/$1") 2>/dev/null; then
        die "$2: port $bind:$1 is taken by another program (ss -ltnp 'sport = :$1'); change it in $conf"
    fi
}

# stop_pid PIDFILE NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
    local pf=$1 want=$2 pid n=150
    pid_alive "$pf" "$want" || {
        rm -f "$pf"
        return 0
    }
    pid=$alive_pid
    kill -TERM "$pid" 2>/dev/null || true
    while [ $n -gt 0 ] && running "$pid"; do
        sleep 0.1
        n=$((n - 1))
    done
    if running "$pid"; then
        say "$want did not stop in 15 s: killing $pid"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$pf"
}

randpw() {
    # 20 characters from [A-Za-z0-9]: safe in every config format we write.
    local pw=""
    while [ ${#pw} -lt 20 ]; do
        pw="$pw$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')"
    done
    echo "${pw:0:20}"
}

# Every unprivileged daemon user must reach the run dir: Postfix and
# Dovecot drop to their own users, and a checkout under /root is closed to
# them.  Then the run dir moves to /var/lib/mortar-stacks and run_dir
# becomes a symlink to it.
reachable() {
    local d=$1
    while [ "$d" != / ]; do
        if [ -e "$d" ]; then
            [ "$(stat -c %A "$d" | cut -c10)" = x ] || [ "$(stat -c %A "$d" | cut -c10)" = t ] || return 1
        fi
        d=$(dirname "$d")
    done
    return 0
}

prepare_run_dir() {
    if [ -L "$run" ] || reachable "$(dirname "$run")"; then
        mkdir -p "$run"
        return
    fi
    local alt
    alt="/var/lib/mortar-stacks/$name-$(echo "$run" | cksum | cut -d' ' -f1)"
    mkdir -p "$alt"
    chmod 755 /var/lib/mortar-stacks "$alt"
    if [ -d "$run" ] && [ ! -L "$run" ]; then
        die "$run exists but daemon users cannot reach it; move it to $alt and link it"
    fi
    ln -sfn "$alt" "$run"
    say "$(dirname "$run") is closed to daemon users: run dir is $alt"
}

vmail_user() {
    if ! id mortar-vmail >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group mortar-vmail
    fi
    vmail_uid=$(id -u mortar-vmail)
    vmail_gid=$(id -g mortar-vmail)
}

# mortar-policy drops from root to its own system user once its socket is
# bound (Postfix reaches the socket through the postfix group).
policy_user() {
    if ! id mortar-policy >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group mortar-policy
    fi
}

# Secrets are made once per stack and kept in run/secrets.conf (0600).
# Hashes are computed from files in a private directory, never from command
# lines, which any local user can read in /proc.
make_secrets() {
    local f="$run/secrets.conf" tmp priv v
    [ -s "$f" ] && return 0
    priv=$(mktemp -d "$run/.secrets.XXXXXX")
    tmp="$priv/secrets.conf"
    (
        umask 077
        exec >"$tmp"
        echo "# Secrets of this stack, made once by scripts/stack.sh. Keep private."
        echo "deployment_id = $(cat /proc/sys/kernel/random/uuid)"
        for v in ldap_admin dovecot_ldap postfix_ldap mortar_ldap; do
            pw=$(randpw)
            printf '%s' "$pw" >"$priv/pw"
            hash=$(slappasswd -o module-load=/usr/lib/ldap/pw-sha2.so \
                -h '{SSHA512}' -T "$priv/pw") && [ -n "$hash" ] \
                || die "slappasswd could not hash a password"
            echo "${v}_pw = $pw"
            echo "${v}_pw_hash = $hash"
        done
        pw=$(randpw)
        hash=$(printf '%s\n' "$pw" | openssl passwd -6 -stdin) && [ -n "$hash" ] \
            || die "openssl could not hash the master password"
        echo "master_pw = $pw"
        echo "master_pw_hash = $hash"
        for v in postmaster alice bob; do
            echo "pw_$v = $(randpw)"
        done
    ) || {
        rm -rf "$priv"
        die "could not make $f"
    }
    mv "$tmp" "$f"
    rm -rf "$priv"
}

load_secrets() {
    eval "$("$mconf" -c "$run/secrets.conf" dump-sh)"
}

make_tls() {
    local d="$run/tls"
    [ -s "$d/cert.pem" ] && [ -s "$d/key.pem" ] && return 0
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -days 825 -subj "/O=Mortar stack $name/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,DNS:mx.$domain,DNS:$domain,IP:$bind" \
        -keyout "$d/key.pem.tmp" -out "$d/cert.pem.tmp" 2>/dev/null \
        || die "openssl could not make the TLS certificate"
    chmod 600 "$d/key.pem.tmp"
    chmod 644 "$d/cert.pem.tmp"
    mv "$d/key.pem.tmp" "$d/key.pem"
    mv "$d/cert.pem.tmp" "$d/cert.pem"
}

# render TEMPLATE OUT [MODE]
render() {
    "$mconf" -c "$conf" -c "$run/secrets.conf" \
        -D top="$top" -D run="$run" -D build="$build" \
        -D vmail_uid="$vmail_uid" -D vmail_gid="$vmail_gid" \
        "${milter_defs[@]}" render -m "${3:-0644}" "$templates/$1" "$2"
}

render_all() {
    local f
    render slapd/config.ldif "$run/slapd/config.ldif" 0600
    render slapd/base.ldif "$run/slapd/base.ldif" 0600
    render slapd/domain.ldif "$run/slapd/domain.ldif" 0600
    render redis/redis.conf "$run/redis/redis.conf"
    # Postfix wants its config dir root-owned throughout: the queue lives
    # beside it, not inside.
    mkdir -p "$run/postfix/etc"
    render postfix/main.cf "$run/postfix/etc/main.cf"
    render postfix/master.cf "$run/postfix/etc/master.cf"
    for f in "$templates"/postfix/ldap-*.cf; do
        render "postfix/$(basename "$f")" "$run/postfix/etc/$(basename "$f")" 0640
        chgrp postfix "$run/postfix/etc/$(basename "$f")"
    done
    render dovecot/dovecot.conf "$run/dovecot/dovecot.conf"
    render dovecot/dovecot-ldap.conf.ext "$run/dovecot/dovecot-ldap.conf.ext" 0600
    (
        umask 077
        printf 'mortar:{SHA512-CRYPT}%s\n' "$master_pw_hash" >"$run/dovecot/master-users.tmp"
    )
    chmod 640 "$run/dovecot/master-users.tmp"
    chgrp dovecot "$run/dovecot/master-users.tmp"
    mv "$run/dovecot/master-users.tmp" "$run/dovecot/master-users"
    render nginx/nginx.conf "$run/nginx/nginx.conf"
    render mortar.conf "$run/mortar.conf" 0600
    render_milter
    render mortar-policy.conf "$run/policy/mortar-policy.conf" 0600
}

# ---------------------------------------------------------------------------
# Services

start_slapd() {
    local pf="$run/slapd/run/slapd.pid"
    if pid_alive "$pf" slapd; then
        say "slapd already running"
        return
    fi
    rm -f "$pf" "$run/slapd/run/slapd.args"
    port_free "$ldap_port" slapd
    # cn=config is rebuilt from the template at every start, so it always
    # matches this checkout; the data under slapd/data is kept.
    rm -rf "$run/slapd/slapd.d"
    mkdir -p "$run/slapd/slapd.d" "$run/slapd/data"
    slapadd -n0 -F "$run/slapd/slapd.d" -l "$run/slapd/config.ldif" \
        >"$run/log/slapadd.log" 2>&1 \
        || die "slapadd of cn=config failed; see $run/log/slapadd.log"
    if [ ! -e "$run/slapd/data/data.mdb" ]; then
        slapadd -n1 -F "$run/slapd/slapd.d" -l "$run/slapd/base.ldif" \
            >>"$run/log/slapadd.log" 2>&1 \
            || die "slapadd of the base tree failed; see $run/log/slapadd.log"
    fi
    # Only what slapd writes belongs to openldap: the rendered LDIF files and
    # the directory holding slapd.d stay root's, so the daemon user cannot
    # plant a link that root would later follow.
    mkdir -p "$run/slapd/run"
    chown -R openldap:openldap "$run/slapd/slapd.d" "$run/slapd/data" \
        "$run/slapd/run"
    slapd -h "ldap://$bind:$ldap_port/" -F "$run/slapd/slapd.d" \
        -u openldap -g openldap -l LOCAL4 </dev/null >>"$run/log/slapd.log" 2>&1 \
        || die "slapd did not start; try: slapd -d 1 -h ldap://$bind:$ldap_port/ -F $run/slapd/slapd.d"
    wait_port "$ldap_port" 20 slapd
}

start_redis() {
    local pf="$run/redis/data/redis.pid"
    if pid_alive "$pf" redis-server; then
        say "redis already running"
        return
    fi
    rm -f "$pf"
    port_free "$redis_port" redis
    mkdir -p "$run/redis/data"
    chown -R redis:redis "$run/redis/data"
    touch "$run/log/redis.log"
    chown redis:redis "$run/log/redis.log"
    # Run as the redis user: setpriv keeps root out of a network daemon.
    setpriv --reuid=redis --regid=redis --init-groups \
        redis-server "$run/redis/redis.conf" </dev/null >>"$run/log/redis.log" 2>&1 \
        || die "redis-server did not start; see $run/log/redis.log"
    wait_port "$redis_port" 20 redis
    local n=100
    until redis-cli -h "$bind" -p "$redis_port" ping 2>/dev/null | grep -q PONG; do
        [ $n -gt 0 ] || die "redis does not answer PING; see $run/log/redis.log"
        sleep 0.1
        n=$((n - 1))
    done
}

# mortar-policy: its config stays in root's policy/, its socket and pid
# file go to policy/run, which only it and Postfix's group may enter.
start_policy() {
    local d="$run/policy/run" bin="$build/bin/mortar-policy"
    local pf="$run/policy/run/mortar-policy.pid" sock="$run/policy/run/policy.sock"
    [ -x "$bin" ] || die "$bin is missing: run 'make'"
    "$bin" -t -c "$run/policy/mortar-policy.conf" >/dev/null 2>"$run/log/mortar-policy-t.log" \
        || die "mortar-policy config is invalid: $(cat "$run/log/mortar-policy-t.log")"
    if pid_alive "$pf" mortar-policy; then
        # SIGHUP flushes its directory caches; a new config needs a restart.
        kill -HUP "$alive_pid" 2>/dev/null || true
        say "mortar-policy already running"
        return
    fi
    mkdir -p "$d"
    chown mortar-policy:postfix "$d"
    chmod 0750 "$d"
    rm -f "$pf" "$sock"
    # It detaches once its socket is bound; the exit status says whether
    # it started.
    "$bin" -c "$run/policy/mortar-policy.conf" </dev/null >>"$run/log/mortar-policy.log" 2>&1 \
        || die "mortar-policy did not start; see $run/log/mortar-policy.log"
    local n=100
    until [ -S "$sock" ] && pid_alive "$pf" mortar-policy; do
        [ $n -gt 0 ] || die "mortar-policy made no socket; see $run/log/mortar-policy.log"
        sleep 0.1
        n=$((n - 1))
    done
}

start_sink() {
    local pf="$run/sink/smtp-sink.pid"
    if pid_alive "$pf" smtp-sink; then
        say "smtp-sink already running"
        return
    fi
    rm -f "$pf"
    port_free "$sink_port" smtp-sink
    mkdir -p "$run/sink/mail"
    chown postfix "$run/sink/mail"
    # -d: one file per message under sink/mail, for tests to read.
    (
        cd "$run/sink/mail"
        setsid smtp-sink -u postfix -d "%Y%m%d%H%M%S." \
            "$bind:$sink_port" 64 </dev/null >>"$run/log/smtp-sink.log" 2>&1 &
        echo $! >"$pf"
    )
    wait_port "$sink_port" 10 smtp-sink
}

start_postfix() {
    local cf="$run/postfix/etc"
    mkdir -p "$run/postfix/spool" "$run/postfix/data"
    chown postfix:postfix "$run/postfix/data"
    if postfix -c "$cf" status >/dev/null 2>&1; then
        postfix -c "$cf" reload >/dev/null 2>&1 || die "postfix reload failed; see $run/log/postfix.log"
        say "postfix already running: reloaded"
        return
    fi
    port_free "$smtp_port" postfix
    port_free "$submission_port" postfix
    # A crash leaves master.pid behind; Postfix locks it, so a stale one
    # is harmless, but sockets of dead services are cleared here.
    rm -f "$run/postfix/spool/pid/master.pid"
    postfix -c "$cf" check >>"$run/log/postfix-check.log" 2>&1 \
        || die "postfix check failed; see $run/log/postfix-check.log"
    postfix -c "$cf" start </dev/null >>"$run/log/postfix-check.log" 2>&1 \
        || die "postfix did not start; see $run/log/postfix.log"
    wait_port "$smtp_port" 20 postfix
    wait_port "$submission_port" 20 postfix
}

# Dovecot loads mail plugins from one directory (mail_plugin_dir in
# dovecot.conf): run/dovecot/modules holds links to Debian's plugins and a
# copy of Mortar's (a copy, so that a rebuild or `make clean` never pulls
# a .so from under a running process; mv makes the swap atomic).
dovecot_modules() {
    local m="$run/dovecot/modules" f
    local ours="$build/modules/lib20_mortar_quota_plugin.so"
    [ -f "$ours" ] || die "$ours is missing: run 'make'"
    mkdir -p "$m"
    for f in /usr/lib/dovecot/modules/*.so; do
        ln -sfn "$f" "$m/$(basename "$f")"
    done
    cp "$ours" "$m/.$(basename "$ours").tmp"
    chmod 0644 "$m/.$(basename "$ours").tmp"
    mv -f "$m/.$(basename "$ours").tmp" "$m/$(basename "$ours")"
}

start_dovecot() {
    local c="$run/dovecot/dovecot.conf" pf="$run/dovecot/base/master.pid"
    mkdir -p "$run/dovecot/base" "$run/dovecot/state" "$run/mail"
    chown mortar-vmail:mortar-vmail "$run/mail"
    chmod 750 "$run/mail"
    dovecot_modules
    doveconf -c "$c" -n >/dev/null 2>"$run/log/doveconf.log" \
        || die "dovecot config is invalid: $(cat "$run/log/doveconf.log")"
    if pid_alive "$pf" dovecot; then
        doveadm -c "$c" reload || die "dovecot reload failed"
        say "dovecot already running: reloaded"
        return
    fi
    rm -f "$pf" "$run/dovecot/lmtp" "$run/postfix/spool/private/auth"
    port_free "$imap_port" dovecot
    port_free "$imaps_port" dovecot
    port_free "$pop3_port" dovecot
    # Dovecot keeps stderr open for its log process: never give it ours.
    dovecot -c "$c" </dev/null >>"$run/log/dovecot.log" 2>&1 || die "dovecot did not start; see $run/log/dovecot.log"
    wait_port "$imap_port" 20 dovecot
    wait_port "$imaps_port" 20 dovecot
    wait_port "$pop3_port" 20 dovecot
    local n=100
    until [ -S "$run/dovecot/lmtp" ]; do
        [ $n -gt 0 ] || die "dovecot made no LMTP socket; see $run/log/dovecot.log"
        sleep 0.1
        n=$((n - 1))
    done
}

start_nginx() {
    local c="$run/nginx/nginx.conf" pf="$run/nginx/nginx.pid"
    mkdir -p "$run/nginx/tmp"
    chown www-data "$run/nginx/tmp"
    local m
    for m in webmail caldav; do
        [ -f "$build/modules/ngx_http_${m}_module.so" ] \
            || die "$build/modules/ngx_http_${m}_module.so is missing: run 'make'"
    done
    # Scheduling (iMIP): nginx's workers (www-data) hand invitations to this
    # stack's Postfix with "sendmail -C $run/postfix/etc"; Postfix lets a
    # non-root user name another config dir only when the default main.cf
    # lists it in alternate_config_directories (its multi-instance rule).
    # Debian's Postfix is installed with "No configuration": the file is
    # made with just that line.  The one write outside run/ and build/.
    local main=/etc/postfix/main.cf dir="$run/postfix/etc" list d
    [ -e "$main" ] || printf '# Mortar stacks (scripts/stack.sh)\n' >"$main"
    # Keep the directories of stacks that still exist, add this one.
    list=$dir
    for d in $(sed -n 's/^alternate_config_directories[[:space:]]*=//p' "$main" | tr ',' ' '); do
        if [ "$d" != "$dir" ] && [ -d "$d" ]; then
            list="$list, $d"
        fi
    done
    if grep -q '^alternate_config_directories' "$main"; then
        sed -i "s|^alternate_config_directories[[:space:]]*=.*|alternate_config_directories = $list|" "$main"
    else
        printf 'alternate_config_directories = %s\n' "$list" >>"$main"
    fi
    # CalDAV/CardDAV: the per-user stores belong to nginx's workers; the
    # master (root) reads the directory password when it loads the config.
    mkdir -p "$run/dav"
    chown www-data "$run/dav"
    chmod 700 "$run/dav"
    (
        umask 077
        printf '%s\n' "$mortar_ldap_pw" >"$run/nginx/dav-ldap.pw"
    )
    nginx -t -q -p "$run/nginx" -c "$c" 2>"$run/log/nginx-t.log" \
        || die "nginx -t failed: $(cat "$run/log/nginx-t.log")"
    if pid_alive "$pf" nginx; then
        # A reload keeps the modules the master already loaded (dlopen
        # returns the same handle): after a rebuild, restart instead.
        if [ -z "$(find "$build/modules" -name 'ngx_http_*.so' -newer "$pf")" ]; then
            nginx -p "$run/nginx" -c "$c" -s reload || die "nginx reload failed"
            say "nginx already running: reloaded"
            return
        fi
        say "nginx modules were rebuilt: restarting nginx"
        nginx -p "$run/nginx" -c "$c" -s quit 2>/dev/null || true
        local n=50
        while pid_alive "$pf" nginx && [ $n -gt 0 ]; do
            sleep 0.1
            n=$((n - 1))
        done
    fi
    rm -f "$pf"
    # Workers outlive a killed master and keep the ports: end them first.
    local p
    for p in $(stack_pids); do
        case $(cat "/proc/$p/comm" 2>/dev/null) in
        nginx*) kill -KILL "$p" 2>/dev/null || true ;;
        esac
    done
    port_free "$http_port" nginx
    port_free "$https_port" nginx
    nginx -p "$run/nginx" -c "$c" </dev/null >>"$run/log/nginx-error.log" 2>&1 \
        || die "nginx did not start; see $run/log/nginx-error.log"
    wait_port "$http_port" 20 nginx
}

# ---------------------------------------------------------------------------
# Content filter: clamd, spamd and mortar-milter, which Postfix calls
# through smtpd_milters/non_smtpd_milters (main.cf).

milter_user() {
    if ! id mortar-milter >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group mortar-milter
    fi
}

render_milter() {
    mkdir -p "$run/clamav" "$run/spamd" "$run/milter"
    render clamd.conf "$run/clamav/clamd.conf"
    render spamd/local.cf "$run/spamd/local.cf"
    # spamd reads its plugin lists (*.pre) from the site config dir, which
    # is ours: take Debian's.
    cp /etc/spamassassin/*.pre "$run/spamd/"
    # Rendered into root's milter-etc, not into milter/ (owned by the
    # milter user, who could swap the file for a link that chgrp follows).
    mkdir -p "$run/milter-etc"
    chmod 755 "$run/milter-etc"
    render mortar-milter.conf "$run/milter-etc/mortar-milter.conf" 0640
    chgrp mortar-milter "$run/milter-etc/mortar-milter.conf"
}

# The test signature database: the EICAR test string, built here from two
# halves so that no file of the checkout holds it, as a .ndb body
# signature (any file type, any offset): it matches the string inline in
# a message, in a decoded attachment and inside an archive.  freshclam is
# never run; the stack stays offline.
make_clamav_db() {
    local db="$run/clamav/db/mortar-test.ndb" a b hex
    [ -s "$db" ] && return 0
    mkdir -p "$run/clamav/db"
    a='X5O!P%@AP[4\PZX54(P^)7CC)7}$'
    b='EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
    hex=$(printf '%s%s' "$a" "$b" | od -An -v -tx1 | tr -d ' \n')
    printf 'Eicar-Test-Signature:0:*:%s\n' "$hex" >"$db.tmp"
    mv "$db.tmp" "$db"
}

start_clamd() {
    local pf="$run/clamav/clamd.pid"
    if pid_alive "$pf" clamd; then
        say "clamd already running"
        return
    fi
    rm -f "$pf"
    port_free "$clamd_port" clamd
    make_clamav_db
    mkdir -p "$run/clamav/tmp"
    chown clamav:clamav "$run/clamav/tmp"
    touch "$run/log/clamd.log"
    chown clamav:clamav "$run/log/clamd.log"
    (
        setsid setpriv --reuid=clamav --regid=clamav --init-groups \
            clamd -c "$run/clamav/clamd.conf" </dev/null >>"$run/log/clamd.out" 2>&1 &
        echo $! >"$pf"
    )
    wait_port "$clamd_port" 60 clamd
}

start_spamd() {
    local pf="$run/spamd/spamd.pid"
    if pid_alive "$pf" spamd; then
        say "spamd already running"
        return
    fi
    rm -f "$pf"
    port_free "$spamd_port" spamd
    mkdir -p "$run/spamd/home"
    chown debian-spamd:debian-spamd "$run/spamd/home"
    touch "$run/log/spamd.log"
    chown debian-spamd:debian-spamd "$run/log/spamd.log"
    # -L: local tests only (offline); rules from Debian's package, our
    # settings from run/spamd.  spamd writes its pid file as root, then
    # its children drop to debian-spamd.  --max-spare: spamd's default (2)
    # kills idle children between bursts of mail and forks new ones at
    # the next burst (a fork of the whole rule set, then its first scans
    # run cold); the milter and its benchmark anchors share this spamd.
    spamd -d -L -x --pidfile="$pf" --listen="$bind:$spamd_port" \
        --allowed-ips="$bind" --siteconfigpath="$run/spamd" \
        --helper-home-dir="$run/spamd/home" -u debian-spamd -g debian-spamd \
        --max-children=8 --min-children=4 --min-spare=2 --max-spare=8 \
        --syslog="$run/log/spamd.log" \
        </dev/null >>"$run/log/spamd.out" 2>&1 \
        || die "spamd did not start; see $run/log/spamd.log"
    wait_port "$spamd_port" 90 spamd
}

start_milter() {
    local pf="$run/milter/mortar-milter.pid" n=100
    local bin="$build/bin/mortar-milter" c="$run/milter-etc/mortar-milter.conf"
    [ -x "$bin" ] || die "$bin is missing: run 'make'"
    # The socket dir: the milter creates its socket there, Postfix (group
    # postfix, setgid dir) connects to it; nobody else gets in.
    mkdir -p "$run/milter/spool"
    chown mortar-milter:postfix "$run/milter"
    chmod 2750 "$run/milter"
    chown mortar-milter:mortar-milter "$run/milter/spool"
    chmod 700 "$run/milter/spool"
    touch "$run/log/mortar-milter.log"
    chown mortar-milter:mortar-milter "$run/log/mortar-milter.log"
    setpriv --reuid=mortar-milter --regid=mortar-milter --init-groups \
        "$bin" -t -c "$c" >"$run/log/mortar-milter-t.log" 2>&1 \
        || die "mortar-milter config is invalid: $(cat "$run/log/mortar-milter-t.log")"
    if pid_alive "$pf" mortar-milter; then
        say "mortar-milter already running"
        return
    fi
    # A socket left by a crash would pass for the new one.
    rm -f "$pf" "$run/milter/milter.sock"
    (
        setsid setpriv --reuid=mortar-milter --regid=mortar-milter --init-groups \
            "$bin" -c "$c" </dev/null >>"$run/log/mortar-milter.out" 2>&1 &
        echo $! >"$pf"
    )
    # The pid is setsid's until it has exec'd the milter: check that the
    # process lives, not yet its name.
    until [ -S "$run/milter/milter.sock" ]; do
        [ $n -gt 0 ] && running "$(cat "$pf")" \
            || die "mortar-milter did not start; see $run/log/mortar-milter.out"
        sleep 0.1
        n=$((n - 1))
    done
}

ldap_admin() {
    # $1: ldapadd|ldapmodify|ldappasswd|ldapsearch, rest: its arguments.
    local tool=$1
    shift
    "$tool" -x -H "ldap://$bind:$ldap_port" -D "cn=admin,$ldap_suffix" \
        -y "$run/.admin-pw" "$@"
}

seed() {
    local marker="$run/slapd/seeded" u
    [ -f "$marker" ] && return 0
    # ldapadd -c: an entry left by an interrupted seed is not an error.
    ldap_admin ldapadd -c -f "$run/slapd/domain.ldif" >>"$run/log/seed.log" 2>&1 || true
    for u in postmaster alice bob; do
        local pwvar="pw_$u"
        (
            umask 077
            printf '%s' "${!pwvar}" >"$run/.newpw"
        )
        ldap_admin ldappasswd -T "$run/.newpw" \
            "uid=$u,ou=users,mortarDomainName=$domain,ou=domains,$ldap_suffix" \
            >>"$run/log/seed.log" 2>&1 || {
            rm -f "$run/.newpw"
            die "could not set the password of $u@$domain; see $run/log/seed.log"
        }
    done
    rm -f "$run/.newpw"
    demo_license
    (
        umask 077
        {
            echo "postmaster@$domain $pw_postmaster"
            echo "alice@$domain $pw_alice"
            echo "bob@$domain $pw_bob"
        } >"$run/credentials"
    )
    touch "$marker"
}

# The demo license: signed with the development key of this build (a
# packaged build has no private key, and then no demo license is made).
demo_license() {
    local tool="$build/bin/mortar-license" key="$build/license/dev.key" lic
    [ -x "$tool" ] && [ -f "$key" ] || return 0
    lic=$("$tool" issue --key "$key" --id "DEMO-$name" \
        --customer "Mortar demo stack $name" --deployment "$deployment_id" \
        --seats 50 --not-before "$(date -u +%Y-%m-%d)" \
        --not-after "$(date -u -d '+1 year' +%Y-%m-%d)" --grace-days 30 \
        --plan Enterprise --support Priority \
        --modules webmail,dav,admin,milter,policy,quota,archive,sms) \
        || die "could not issue the demo license"
    printf '%s\n' "$lic" >"$run/demo-license.txt"
    # LDIF: a multi-line value goes base64-encoded.
    ldap_admin ldapmodify >>"$run/log/seed.log" 2>&1 <<EOF2 \
        || die "could not install the demo license; see $run/log/seed.log"
dn: $ldap_suffix
changetype: modify
replace: mortarLicenseKey
mortarLicenseKey:: $(printf '%s' "$lic" | base64 -w0)
EOF2
}

# ---------------------------------------------------------------------------

do_start() {
    prepare_run_dir
    # After a crash, orphans of dead masters may still hold ports and files.
    if [ -e "$run/slapd" ] && ! pid_alive "$run/nginx/nginx.pid" nginx \
        && ! pid_alive "$run/dovecot/base/master.pid" dovecot \
        && ! pid_alive "$run/slapd/run/slapd.pid" slapd; then
        sweep
    fi
    mkdir -p "$run/log" "$run/tls" "$run/slapd" "$run/postfix" "$run/dovecot" \
        "$run/redis" "$run/nginx" "$run/sink" "$run/mail" "$run/policy"
    # Directories root renders into stay root's (older run dirs had them
    # owned by the daemon users).
    chown root:root "$run" "$run/log" "$run/slapd" "$run/redis" "$run/dovecot" \
        "$run/nginx" "$run/sink" "$run/policy"
    chmod 755 "$run" "$run/log" "$run/slapd" "$run/redis" "$run/dovecot" \
        "$run/nginx" "$run/sink" "$run/policy"
    vmail_user
    milter_user
    policy_user
    make_secrets
    load_secrets
    make_tls
    render_all
    (
        umask 077
        printf '%s' "$ldap_admin_pw" >"$run/.admin-pw"
    )
    start_slapd
    start_redis
    start_policy
    start_sink
    start_clamd
    start_spamd
    start_milter
    start_postfix
    start_dovecot
    start_nginx
    seed
    cat <<EOF

Mortar stack "$name" is up; run dir $run

  Health (webmail)   http://$bind:$http_port/health
                     https://$bind:$https_port/health
  CalDAV / CardDAV   https://$bind:$https_port/dav/  (any user below, Basic)
  SMTP (MX)          $bind:$smtp_port
  Submission         $bind:$submission_port   STARTTLS, then AUTH PLAIN/LOGIN
  IMAP / IMAPS       $bind:$imap_port (STARTTLS) / $bind:$imaps_port (TLS)
  POP3               $bind:$pop3_port (STLS)
  LDAP               ldap://$bind:$ldap_port   base $ldap_suffix
                     admin cn=admin,$ldap_suffix, password in $run/mortar.conf
  Redis              $bind:$redis_port
  Policy service     unix:$run/policy/run/policy.sock (mortar-policy)
  Outside mail       smtp-sink on $bind:$sink_port, messages in $run/sink/mail
  Content filter     mortar-milter unix:$run/milter/milter.sock
                     clamd $bind:$clamd_port, spamd $bind:$spamd_port
  TLS certificate    $run/tls/cert.pem (self-signed)
  Logs               $run/log/

Logins ($run/credentials):
EOF
    sed 's/^/  /' "$run/credentials"
    echo
    echo "Stop with: make stop   (or $0 -c $conf stop)"
}

do_stop() {
    [ -d "$run" ] || {
        say "nothing to stop: $run does not exist"
        return
    }
    if pid_alive "$run/nginx/nginx.pid" nginx; then
        nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -s quit 2>/dev/null || true
    fi
    stop_pid "$run/nginx/nginx.pid" nginx
    stop_pid "$run/dovecot/base/master.pid" dovecot
    if [ -f "$run/postfix/etc/main.cf" ] && postfix -c "$run/postfix/etc" status >/dev/null 2>&1; then
        postfix -c "$run/postfix/etc" stop >/dev/null 2>&1 || true
    fi
    stop_pid "$run/postfix/spool/pid/master.pid" master
    stop_pid "$run/policy/run/mortar-policy.pid" mortar-policy
    stop_pid "$run/sink/smtp-sink.pid" smtp-sink
    stop_pid "$run/milter/mortar-milter.pid" mortar-milter
    stop_pid "$run/spamd/spamd.pid" spamd
    stop_pid "$run/clamav/clamd.pid" clamd
    stop_pid "$run/redis/data/redis.pid" redis-server
    stop_pid "$run/slapd/run/slapd.pid" slapd
    sweep
    rm -f "$run/milter/milter.sock"
    rm -f "$run/dovecot/lmtp" "$run/postfix/spool/private/auth" \
        "$run/policy/run/policy.sock"
    say "stack \"$name\" stopped"
}

# Children of a killed master (an orphaned nginx worker, smtpd or dovecot
# auth process) would hold ports and files: find every live process whose
# command line names the run dir or that has a file under it open.
stack_pids() {
    local real p f
    real=$(readlink -f "$run")
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        running "$p" || continue
        if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$real/"; then
            echo "$p"
            continue
        fi
        for f in /proc/"$p"/fd/*; do
            case $(readlink "$f" 2>/dev/null) in
            "$real"/*)
                echo "$p"
                break
                ;;
            esac
        done
    done
}

sweep() {
    local left p
    left=$(stack_pids | tr '\n' ' ')
    [ -z "${left// /}" ] && return 0
    say "stopping leftover processes: $left"
    kill -TERM $left 2>/dev/null || true
    sleep 1
    for p in $left; do
        running "$p" && kill -KILL "$p" 2>/dev/null || true
    done
}

do_status() {
    local rc=0
    st() {
        if pid_alive "$1" "$2"; then
            printf '  %-10s running (pid %s)\n' "$3" "$alive_pid"
        else
            printf '  %-10s stopped\n' "$3"
            rc=3
        fi
    }
    echo "Mortar stack \"$name\" ($run):"
    st "$run/slapd/run/slapd.pid" slapd slapd
    st "$run/redis/data/redis.pid" redis-server redis
    st "$run/policy/run/mortar-policy.pid" mortar-policy policy
    st "$run/sink/smtp-sink.pid" smtp-sink smtp-sink
    st "$run/clamav/clamd.pid" clamd clamd
    st "$run/spamd/spamd.pid" spamd spamd
    st "$run/milter/mortar-milter.pid" mortar-milter milter
    st "$run/postfix/spool/pid/master.pid" master postfix
    st "$run/dovecot/base/master.pid" dovecot dovecot
    st "$run/nginx/nginx.pid" nginx nginx
    return $rc
}

case $action in
start) do_start ;;
stop) do_stop ;;
restart)
    do_stop
    do_start
    ;;
status) do_status ;;
*) usage ;;
esac
