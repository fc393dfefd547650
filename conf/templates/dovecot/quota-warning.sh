#!/bin/bash
# quota-warning.sh -- mail a quota warning for Mortar's Dovecot quota.
#
#   quota-warning.sh DOVECOT_CONF PERCENT KIND USER [LANG]
#
# Run by Dovecot's `script` service (service quota-warning in
# dovecot.conf) when a delivery or an APPEND moves usage across a
# quota_warning threshold; Dovecot runs it once per crossing, for the
# highest threshold crossed.  DOVECOT_CONF comes from the service's
# executable line, the rest from the quota_warning setting:
#
#   PERCENT  the threshold crossed, 1-100
#   KIND     user: the user's own quota, mailed to USER;
#            pool: the domain pool, mailed to postmaster@<USER's domain>
#   USER     the user whose mail crossed it (local@domain)
#   LANG     the user's preferredLanguage from the directory (userdb field
#            mortar_lang); en, fr or de, anything else gives en.  For a
#            pool warning the postmaster's own language is looked up.
#
# The warning is delivered with dovecot-lda, through the same Dovecot and
# quota backend, with both quota roots set to noenforcing: it is counted,
# but never refused, so a user at 100 % still gets the 100 % warning and
# no bounce is ever made.  Runs as root (dovecot-lda -d switches to the
# mail user itself); every argument is checked before use.
set -u
# Dovecot's script service starts us with an empty environment.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

die() {
    echo "quota-warning: $*" >&2
    exit 1
}

[ $# -ge 4 ] || die "usage: $0 DOVECOT_CONF PERCENT KIND USER [LANG]"
conf=$1
percent=$2
kind=$3
user=$4
lang=${5:-en}

case $conf in /*) ;; *) die "DOVECOT_CONF must be an absolute path" ;; esac
[ -f "$conf" ] || die "$conf: no such file"
case $percent in '' | *[!0-9]* | 0*) die "bad percent: $percent" ;; esac
[ "$percent" -le 100 ] || die "bad percent: $percent"
case $kind in user | pool) ;; *) die "bad kind: $kind" ;; esac
# A mail address of the directory: no blanks, quotes or shell specials.
printf '%s' "$user" | grep -Eq '^[A-Za-z0-9._%+=-]{1,64}@[A-Za-z0-9.-]{1,253}$' ||
    die "bad user name"
domain=${user#*@}

lda=/usr/lib/dovecot/dovecot-lda

# preferredLanguage may be "de", "fr-CA" or "de, en;q=0.8" (RFC 2798).
pick_lang() {
    local l
    l=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | cut -c1-2)
    case $l in en | fr | de) echo "$l" ;; *) echo en ;; esac
}

if [ "$kind" = pool ]; then
    rcpt="postmaster@$domain"
    lang=$(doveadm -c "$conf" user -f mortar_lang "$rcpt" 2>/dev/null || true)
else
    rcpt=$user
fi
lang=$(pick_lang "$lang")

# Usage and limit in KiB from Dovecot itself ("doveadm quota get" prints
# root, type, value, limit, percent; the STORAGE row).
root_name="User quota"
[ "$kind" = pool ] && root_name="Domain pool"
usage=$(doveadm -c "$conf" -f tab quota get -u "$user" 2>/dev/null |
    awk -F'\t' -v r="$root_name" '$1 == r && $2 == "STORAGE" { print $3, $4 }')
used_kb=${usage% *}
limit_kb=${usage#* }
mib() {
    case $1 in '' | *[!0-9]*) echo "?" ;; *) awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' ;; esac
}
used=$(mib "$used_kb")
limit=$(mib "$limit_kb")
# French and German write a decimal comma.
case $lang in fr | de)
    used=${used/./,}
    limit=${limit/./,}
    ;;
esac

case $lang.$kind in
en.user)
    subject="Your mailbox is $percent % full"
    body="Your mailbox $user now uses $used MiB of its $limit MiB ($percent % or more).

Please delete messages you no longer need, and empty the Trash."
    full="While the mailbox is full, new messages are refused and their senders are told."
    ;;
en.pool)
    subject="The shared storage of $domain is $percent % full"
    body="The mail storage shared by all users of $domain now holds $used MiB of $limit MiB ($percent % or more); the last delivery was to $user.

Ask users to delete messages they no longer need, or raise the domain's quota pool."
    full="While the pool is full, new messages for every user of $domain are refused."
    ;;
fr.user)
    subject="Votre boîte aux lettres est pleine à $percent %"
    body="Votre boîte aux lettres $user occupe maintenant $used Mio sur $limit Mio ($percent % ou plus).

Supprimez les messages dont vous n'avez plus besoin et videz la corbeille."
    full="Tant que la boîte est pleine, les nouveaux messages sont refusés et leurs expéditeurs prévenus."
    ;;
fr.pool)
    subject="L'espace partagé de $domain est plein à $percent %"
    body="L'espace de messagerie partagé par les utilisateurs de $domain occupe maintenant $used Mio sur $limit Mio ($percent % ou plus) ; la dernière distribution était pour $user.

Demandez aux utilisateurs de supprimer les messages inutiles, ou augmentez le quota du domaine."
    full="Tant que l'espace est plein, les nouveaux messages de tous les utilisateurs de $domain sont refusés."
    ;;
de.user)
    subject="Ihr Postfach ist zu $percent % voll"
    body="Ihr Postfach $user belegt jetzt $used MiB von $limit MiB ($percent % oder mehr).

Bitte löschen Sie nicht mehr benötigte Nachrichten und leeren Sie den Papierkorb."
    full="Solange das Postfach voll ist, werden neue Nachrichten abgewiesen und ihre Absender benachrichtigt."
    ;;
de.pool)
    subject="Der gemeinsame Speicher von $domain ist zu $percent % voll"
    body="Der gemeinsame Mailspeicher aller Benutzer von $domain belegt jetzt $used MiB von $limit MiB ($percent % oder mehr); die letzte Zustellung ging an $user.

Bitten Sie die Benutzer, nicht mehr benötigte Nachrichten zu löschen, oder erhöhen Sie das Kontingent der Domain."
    full="Solange der Speicher voll ist, werden neue Nachrichten für alle Benutzer von $domain abgewiesen."
    ;;
esac
[ "$percent" -ge 100 ] && body="$body

$full"

# RFC 2047 for the subject (UTF-8), quoted-printable-free 8-bit body.
enc_subject="=?UTF-8?B?$(printf '%s' "$subject" | base64 -w0)?="
from="postmaster@$domain"
msgid="<quota-$(date +%s).$$.$RANDOM@$domain>"

quota1=$(doveconf -c "$conf" -h plugin/quota 2>/dev/null)
quota2=$(doveconf -c "$conf" -h plugin/quota2 2>/dev/null)
set -- -c "$conf" -d "$rcpt" -f "$from" -a "$rcpt"
# Counted, never refused: the roots as configured, plus noenforcing.
[ -n "$quota1" ] && set -- "$@" -o "plugin/quota=$quota1:noenforcing"
[ -n "$quota2" ] && set -- "$@" -o "plugin/quota2=$quota2:noenforcing"

{
    printf 'From: Mail system <%s>\n' "$from"
    printf 'To: <%s>\n' "$rcpt"
    printf 'Subject: %s\n' "$enc_subject"
    printf 'Date: %s\n' "$(LC_ALL=C date -R)"
    printf 'Message-ID: %s\n' "$msgid"
    printf 'Auto-Submitted: auto-generated\n'
    printf 'X-Mortar-Quota-Warning: %s %s %s\n' "$kind" "$percent" "$lang"
    printf 'MIME-Version: 1.0\n'
    printf 'Content-Type: text/plain; charset=utf-8\n'
    printf 'Content-Transfer-Encoding: 8bit\n'
    printf '\n%s\n' "$body"
} | "$lda" "$@" || die "dovecot-lda could not deliver the $percent % $kind warning to $rcpt (exit $?)"
