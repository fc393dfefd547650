#!/bin/sh
# fuzz_lic_parse-seeds.sh -- write the seed corpus of tests/fuzz/fuzz_lic_parse.c.
#
# usage: sh tests/fuzz/fuzz_lic_parse-seeds.sh TOOL KEY DIR
#   TOOL  build/bin/mortar-license
#   KEY   tests/fuzz/fuzz_lic_parse-test.key (the TEST-ONLY pair the harness
#         embeds; seeds signed by any other key only reach the signature check)
#   DIR   tests/fuzz/fuzz_lic_parse
# Run by `make license-fuzz-seeds`.  Ed25519 is deterministic and --issued is
# fixed, so the seeds come out byte-identical each time.
set -eu
tool=$1 key=$2 dir=$3
mkdir -p "$dir"

issue() {
    "$tool" issue --key "$key" --deployment 0f8e4c2a-1b2c-4d5e-8f90-123456789abc \
        --not-before 2026-01-01 --not-after 2026-10-01 \
        --issued 2025-12-15T10:30:00Z "$@" 2>/dev/null
}

# 1. a plain valid key
issue --id L-2026-001 --customer 'ACME' --seats 50 --plan Enterprise \
    --support Priority --modules webmail,dav >"$dir/valid.lic"

# 2. a valid key with x- fields, UTF-8, every module, inside a CRLF mail
{
    printf 'Hello,\r\n\r\nyour renewed key:\r\n\r\n'
    issue --id L-2026-002 --customer 'Müller & Söhne GmbH' --seats 1000000 \
        --grace-days 0 --plan 'Mission Critical' --support Assurance \
        --modules webmail,dav,admin,milter,policy,quota,archive,sms \
        --extra x-note='renewal of L-2025-007' --extra x-reseller= |
        sed 's/$/\r/'
    printf -- '-- \r\nThe Mortar team\r\n'
} >"$dir/mail-crlf.lic"

# 3. the bare payload of seed 1, for the lic_parse_payload path
sed -n '/^-----BEGIN/,/^-----END/p' "$dir/valid.lic" | sed '1d;$d' |
    base64 -d | tail -c +8 | head -c -64 >"$dir/payload.txt"

# 4. seed 1 with one base64 character changed: fails the signature
awk 'NR == 3 {
    a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    $0 = substr(a, index(a, substr($0, 1, 1)) % 64 + 1, 1) substr($0, 2)
} { print }' "$dir/valid.lic" >"$dir/tampered.lic"

# 5. armor with an empty body
printf -- '-----BEGIN MORTAR LICENSE-----\n-----END MORTAR LICENSE-----\n' \
    >"$dir/empty-body.lic"
