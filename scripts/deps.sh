#!/bin/sh
# scripts/deps.sh -- install the Debian packages Mortar builds and tests with.
#
# Called by `make run`, `make test` and .ci/run.  Idempotent: it asks dpkg
# which packages are missing and installs only those, non-interactively.
# Debian's own copies of slapd, Postfix, Dovecot, Redis and nginx are never
# started by this script (policy-rc.d answers 101 while apt runs), and our
# stack never uses their ports, so nothing collides with a system install.
set -eu

PKGS="
build-essential pkg-config clang clang-format openssl ca-certificates
nginx nginx-dev libpcre2-dev zlib1g-dev
postfix postfix-ldap
dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-ldap dovecot-dev
slapd ldap-utils
redis-server redis-tools
libhiredis-dev libldap-dev libssl-dev libmilter-dev libcmocka-dev
libjansson-dev libcsv-dev
libical-dev libxml2-dev libsqlite3-dev
python3-caldav vdirsyncer python3-radicale wrk nodejs
python3-pytest
clamav-daemon spamassassin spamd spamc miltertest clamav-milter spamass-milter
procps psmisc iproute2
"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
        | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

# npm comes with NodeSource's nodejs; Debian's nodejs needs its own package
# (the tsdav client of the DAV tests is installed with it).
command -v npm >/dev/null 2>&1 || missing="$missing npm"

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

echo "deps: installing:$missing"

# Keep Debian's postinst scripts from starting system-wide daemons.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
    # Never leave it behind, even when apt fails: it would block every
    # later service start on this machine.
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi

# Postfix must not write a system main.cf for us; slapd's default database
# is harmless (we run our own slapd from run/ with its own config).
echo "postfix postfix/main_mailer_type select No configuration" \
    | $SUDO debconf-set-selections
echo "slapd slapd/no_configuration boolean true" \
    | $SUDO debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    $missing

exit 0
