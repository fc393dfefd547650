"""`mortar`, the admin command, against the real slapd and Redis of the stack.

Seats under concurrency (20 parallel `user add` against 10 free seats),
an expired license (changes refused with the license's id and dates, reads
and mail untouched, a renewed key lifts it at once), every kind of bad key
refused at install with the old key still in force, CSV import (good rows
land, bad rows reported, a re-run is a no-op, seats checked per row),
passwords (hashed by slapd, usable over IMAP), Redis unreachable, domain
deletion releasing seats, and the exit codes.

State: a module fixture installs a valid key with plenty of seats before
the first test and again after the last one, and deletes every user and
domain these tests made (all named cli-*), then reconciles the seat
counter, so other test files find the directory as it was.
"""

import base64
import datetime
import json
import os
import socket
import subprocess
import uuid

import pytest

from conftest import TOP, message

MORTAR = os.path.join(TOP, "build", "bin", "mortar")
LICENSE_TOOL = os.path.join(TOP, "build", "bin", "mortar-license")
DEV_KEY = os.path.join(TOP, "build", "license", "dev.key")

BEGIN = "-----BEGIN MORTAR LICENSE-----"
END = "-----END MORTAR LICENSE-----"


def day(offset):
    """YYYY-MM-DD, offset days from today (UTC): midnight dates print as
    dates in the license messages."""
    d = datetime.datetime.now(datetime.timezone.utc).date()
    return (d + datetime.timedelta(days=offset)).isoformat()


def tag():
    return uuid.uuid4().hex[:6]


class Cli:
    """Runs build/bin/mortar against the stack and inspects LDAP/Redis."""

    def __init__(self, stack, tmp):
        self.stack = stack
        self.tmp = tmp
        self.conf = os.path.join(stack.run, "mortar.conf")
        self.plenty = None

    # -- the command --------------------------------------------------------

    def run(self, *args, input=None, conf=None):
        return subprocess.run([MORTAR, "-c", conf or self.conf] + list(args),
                              input=input, capture_output=True, text=True,
                              timeout=300)

    def ok(self, *args, input=None):
        r = self.run(*args, input=input)
        assert r.returncode == 0, "mortar %s: %d\n%s%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args):
        return json.loads(self.ok("--json", *args).stdout)

    # -- licenses ---------------------------------------------------------------

    def deployment(self):
        r = self.stack.ldap("ldapsearch", "-LLL", "-b", self.stack.suffix,
                            "-s", "base", "mortarDeploymentId")
        for line in r.stdout.splitlines():
            if line.startswith("mortarDeploymentId:"):
                return line.split(":", 1)[1].strip()
        raise AssertionError("no mortarDeploymentId on %s" % self.stack.suffix)

    def issue(self, seats, not_before, not_after, grace=30, deployment=None,
              key=DEV_KEY, lic_id=None):
        lic_id = lic_id or "CLI-" + tag()
        r = subprocess.run(
            [LICENSE_TOOL, "issue", "--key", key, "--id", lic_id,
             "--customer", "CLI tests", "--deployment",
             deployment or self.deployment(), "--seats", str(seats),
             "--not-before", not_before, "--not-after", not_after,
             "--grace-days", str(grace), "--plan", "Enterprise",
             "--support", "Priority", "--modules", "admin,webmail"],
            capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        path = os.path.join(self.tmp, lic_id + ".lic")
        with open(path, "w") as f:
            f.write(r.stdout)
        return lic_id, path

    def install(self, path):
        return self.run("license", "install", path)

    def install_plenty(self):
        lic_id, path = self.issue(1000000, day(-1), day(3650))
        self.ok("license", "install", path)
        self.plenty = lic_id
        return lic_id

    def write_key(self, path):
        """Put a key into the directory as time would leave it, bypassing
        `license install` (which refuses an expired key)."""
        with open(path, "rb") as f:
            b64 = base64.b64encode(f.read().strip()).decode()
        self.stack.ldap("ldapmodify", ldif="dn: %s\nchangetype: modify\n"
                        "replace: mortarLicenseKey\nmortarLicenseKey:: %s\n"
                        % (self.stack.suffix, b64))

    # -- what the directory and Redis hold ----------------------------------------

    def counter(self):
        key = "mortar:seats:{%s}" % self.deployment()
        r = subprocess.run(["redis-cli", "-h", self.stack.host, "-p",
                            str(self.stack.port("redis")), "--raw", "GET", key],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        out = r.stdout.strip()
        return int(out) if out else None

    def ldap_users(self, filt="(objectClass=mortarUser)"):
        r = self.stack.ldap("ldapsearch", "-LLL", "-b",
                            "ou=domains," + self.stack.suffix, filt, "1.1")
        return sum(1 for line in r.stdout.splitlines() if line.startswith("dn:"))

    def entry(self, mail, *attrs):
        """Attribute -> list of values of the entry whose mail is mail."""
        r = self.stack.ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b",
                            "ou=domains," + self.stack.suffix,
                            "(mail=%s)" % mail, *attrs)
        out = {}
        for line in r.stdout.splitlines():
            if ":: " in line:
                k, v = line.split(":: ", 1)
                v = base64.b64decode(v).decode("utf-8", "replace")
            elif ": " in line:
                k, v = line.split(": ", 1)
            else:
                continue
            out.setdefault(k, []).append(v)
        return out

    def cleanup(self):
        """Delete every cli-* user and domain (through the directory, so it
        works whatever the license says), then reconcile the counter."""
        base = "ou=domains," + self.stack.suffix
        r = self.stack.ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b",
                            base, "(|(mail=cli-*)(mortarDomainName=cli-*))",
                            "1.1")
        dns = [line[4:] for line in r.stdout.splitlines()
               if line.startswith("dn: ")]
        for dn in dns:
            self.stack.ldap("ldapdelete", "-r", dn, check=False)
        self.run("license", "audit", "--fix")


@pytest.fixture(scope="module")
def cli(stack, tmp_path_factory):
    c = Cli(stack, str(tmp_path_factory.mktemp("cli")))
    c.install_plenty()
    c.cleanup()  # what an interrupted earlier run may have left
    yield c
    c.install_plenty()
    c.cleanup()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------
# Seats


def test_parallel_user_add_takes_exactly_the_free_seats(cli, stack):
    cli.ok("license", "audit", "--fix")
    existing = cli.ldap_users()
    assert cli.counter() == existing
    lic_id, path = cli.issue(existing + 10, day(-1), day(365))
    cli.ok("license", "install", path)

    t = tag()
    mails = ["cli-par-%s-%02d@%s" % (t, i, stack.domain) for i in range(20)]
    procs = [subprocess.Popen([MORTAR, "-c", cli.conf, "user", "add", m],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for m in mails]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read())
               for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()

    ok = [m for m, (rc, _, _) in zip(mails, results) if rc == 0]
    refused = [(rc, err) for rc, _, err in results if rc != 0]
    assert len(ok) == 10, results
    assert len(refused) == 10
    for rc, err in refused:
        assert rc == 1, err
        assert "all %d seats of license %s are in use" % (existing + 10,
                                                          lic_id) in err

    # The Redis counter and the directory agree, and both are full.
    assert cli.ldap_users() == existing + 10
    assert cli.counter() == existing + 10
    audit = cli.json("license", "audit")
    assert audit["seats_used"] == audit["seats_counter"] == existing + 10
    assert audit["seats_licensed"] == existing + 10
    for m in mails:
        present = cli.entry(m, "mail").get("mail") == [m]
        assert present == (m in ok)

    # One more is refused; deleting one frees its seat for the next add.
    r = cli.run("user", "add", "cli-par-%s-extra@%s" % (t, stack.domain))
    assert r.returncode == 1 and "seats" in r.stderr
    cli.ok("user", "del", ok[0])
    assert cli.counter() == existing + 9
    cli.ok("user", "add", "cli-par-%s-extra@%s" % (t, stack.domain))
    assert cli.counter() == existing + 10

    cli.install_plenty()
    for m in ok[1:] + ["cli-par-%s-extra@%s" % (t, stack.domain)]:
        cli.ok("user", "del", m)
    assert cli.counter() == existing == cli.ldap_users()


def test_disabled_user_still_holds_a_seat(cli, stack):
    m = "cli-dis-%s@%s" % (tag(), stack.domain)
    before = cli.counter()
    cli.ok("user", "add", m, "--random-password")
    cli.ok("user", "disable", m)
    assert cli.entry(m, "mortarAccountStatus")["mortarAccountStatus"] == ["disabled"]
    assert cli.counter() == before + 1
    assert cli.json("license", "audit")["seats_used"] == cli.ldap_users()
    cli.ok("user", "del", m)
    assert cli.counter() == before


# ---------------------------------------------------------------------------
# Expired license


def test_expired_license_refuses_changes_but_not_reads_or_mail(cli, stack, marker):
    alice = "alice@" + stack.domain
    # Valid from 400 days ago to 60 days ago, 30 days of grace: expired.
    old_id, old = cli.issue(1000000, day(-400), day(-60), grace=30)

    # `license install` refuses it outright...
    r = cli.install(old)
    assert r.returncode == 1
    assert "expired on %s" % day(-60) in r.stderr
    assert cli.json("license", "status")["id"] == cli.plenty

    # ...so put it where time would have left it.
    cli.write_key(old)
    try:
        status = cli.json("license", "status")
        assert status["id"] == old_id and status["state"] == "expired"

        stated = "license %s (CLI tests) expired on %s, grace ended %s" % (
            old_id, day(-60), day(-30))
        r = cli.run("user", "add", "cli-exp-%s@%s" % (tag(), stack.domain))
        assert r.returncode == 1
        assert stated in r.stderr
        assert "administrative changes are refused" in r.stderr
        r = cli.run("domain", "set", stack.domain, "--description", "changed")
        assert r.returncode == 1 and stated in r.stderr
        r = cli.run("--json", "user", "set", alice, "--title", "Chief")
        assert r.returncode == 1
        assert json.loads(r.stdout)["status"] == "refused"
        assert cli.entry(alice, "title")["title"] == ["Engineer"]

        # Reads stay allowed.
        r = cli.ok("user", "list")
        assert alice in r.stdout
        cli.ok("user", "show", alice)
        cli.ok("domain", "show", stack.domain)
        cli.ok("license", "audit")

        # End users are never touched: IMAP login, submission, delivery.
        m = stack.imap(alice)
        m.logout()
        s = stack.submission(alice)
        refused = s.sendmail(alice, [alice], message(alice, [alice], marker))
        s.quit()
        assert refused == {}
        assert stack.wait_for(alice, marker) is not None

        # A renewed key lifts the restriction at once.
        new_id, new = cli.issue(1000000, day(-1), day(730))
        r = cli.install(new)
        assert r.returncode == 0, r.stderr
        assert new_id in r.stdout
        m2 = "cli-exp-%s@%s" % (tag(), stack.domain)
        cli.ok("user", "add", m2)
        cli.ok("domain", "set", stack.domain, "--description",
               "Mortar demo domain")
        cli.ok("user", "del", m2)
    finally:
        cli.install_plenty()


def test_grace_period_warns_but_allows(cli, stack):
    gid, path = cli.issue(1000000, day(-400), day(-5), grace=30)
    r = cli.install(path)
    assert r.returncode == 0, r.stderr
    try:
        m = "cli-grace-%s@%s" % (tag(), stack.domain)
        r = cli.ok("user", "add", m)
        assert "mortar: warning:" in r.stderr and gid in r.stderr
        cli.ok("user", "del", m)
    finally:
        cli.install_plenty()


# ---------------------------------------------------------------------------
# Bad keys


def armor_blob(text):
    lines = text.strip().splitlines()
    body = "".join(lines[lines.index(BEGIN) + 1:lines.index(END)])
    return bytearray(base64.b64decode(body))


def armor(blob):
    b64 = base64.b64encode(bytes(blob)).decode()
    return "%s\n%s\n%s\n" % (BEGIN, "\n".join(b64[i:i + 64]
                                            for i in range(0, len(b64), 64)),
                             END)


BAD_KEYS = [
    ("payload bit", "signature does not verify"),
    ("signature bit", "signature does not verify"),
    ("truncated", "truncated"),
    ("garbage", "not a Mortar license"),
    ("wrong key pair", "signature does not verify"),
    ("other deployment", "is bound to deployment"),
    ("not yet valid", "is not valid before %s" % day(10)),
]


@pytest.mark.parametrize("kind,reason", BAD_KEYS, ids=[k for k, _ in BAD_KEYS])
def test_bad_key_is_refused_and_old_key_stays(cli, kind, reason):
    good_id, good = cli.issue(5000, day(-1), day(365))
    with open(good) as f:
        text = f.read()
    data = None

    if kind == "payload bit":
        blob = armor_blob(text)
        blob[7 + 20] ^= 0x01  # inside the signed payload
        data = armor(blob)
    elif kind == "signature bit":
        blob = armor_blob(text)
        blob[-10] ^= 0x80
        data = armor(blob)
    elif kind == "truncated":
        data = text[:len(text) // 2]
    elif kind == "garbage":
        data = os.urandom(700)
    elif kind == "wrong key pair":
        prefix = os.path.join(cli.tmp, "other-" + tag())
        r = subprocess.run([LICENSE_TOOL, "keygen", "--out", prefix],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        _, path = cli.issue(5000, day(-1), day(365), key=prefix + ".key")
        data = open(path).read()
    elif kind == "other deployment":
        _, path = cli.issue(5000, day(-1), day(365),
                            deployment=str(uuid.uuid4()))
        data = open(path).read()
    elif kind == "not yet valid":
        _, path = cli.issue(5000, day(10), day(400))
        data = open(path).read()

    bad = os.path.join(cli.tmp, "bad-%s.lic" % tag())
    with open(bad, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)

    before = cli.json("license", "status")
    r = cli.install(bad)
    assert r.returncode == 1, r.stdout + r.stderr
    assert reason in r.stderr, r.stderr
    assert "the license in force is unchanged" in r.stderr
    after = cli.json("license", "status")
    assert after["id"] == before["id"] == cli.plenty
    assert after["state"] == "valid"
    # And it really is in force: a change goes through.
    cli.ok("domain", "set", "example.test", "--description",
           "Mortar demo domain")

    # JSON mode reports the refusal as an object too.
    r = cli.run("--json", "license", "install", bad)
    assert r.returncode == 1
    assert json.loads(r.stdout)["status"] == "refused"


# ---------------------------------------------------------------------------
# Import


def write(cli, name, text):
    path = os.path.join(cli.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_csv_import_lands_good_rows_reports_bad_ones_and_reruns_as_noop(cli, stack):
    t = tag()
    d = stack.domain
    good = ["cli-imp-%s-%d@%s" % (t, i, d) for i in (1, 2, 3)]
    bad = {
        4: "not-an-address",
        5: "cli-imp-%s-5@%s" % (t, d),       # quota "lots"
        6: "cli-imp-%s-6@nowhere.invalid" % t,  # domain not served
        7: "cli-imp-%s-7@%s" % (t, d),       # alias already alice's
        8: "cli-imp-%s-8@%s" % (t, d),       # phone not international
    }
    csv = (
        "mail,password,cn,sn,givenName,quota,mobile,aliases,services,language,timezone\n"
        "%s,Secret-%s-1,\"Imp, One\",One,Imp,1G,+33 6 12 34 56 78,"
        "cli-imp-%s-1a@%s;cli-imp-%s-1b@%s,imap;smtp,fr,Europe/Paris\n"
        "%s,Secret-%s-2,Imp Two,Two,,,,,,,\n"
        "%s,,,Three,Imp,512M,,,imap,pt_br,America/Sao_Paulo\n"
        "%s,Secret-%s-4,X,X,,,,,,,\n"
        "%s,Secret-%s-5,X,X,,lots,,,,,\n"
        "%s,Secret-%s-6,X,X,,,,,,,\n"
        "%s,Secret-%s-7,X,X,,,,alice@%s,,,\n"
        "%s,Secret-%s-8,X,X,,,06 12 34 56 78,,,,\n"
    ) % (good[0], t, t, d, t, d, good[1], t, good[2],
         bad[4], t, bad[5], t, bad[6], t, bad[7], t, d, bad[8], t)
    path = write(cli, "users-%s.csv" % t, csv)
    before = cli.counter()

    r = cli.run("user", "import", path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "import: 3 added, 0 updated, 0 unchanged, 5 failed" in r.stdout
    # One report line per bad row: its line, its address, why.
    assert "line 5: not-an-address: mail:" in r.stderr
    assert "line 6: %s: quota:" % bad[5] in r.stderr
    assert "line 7: %s: domain nowhere.invalid is not served" % bad[6] in r.stderr
    assert "line 8: %s: aliases: alice@%s is already taken" % (bad[7], d) in r.stderr
    assert "line 9: %s: mobile:" % bad[8] in r.stderr
    assert len([l for l in r.stderr.splitlines() if l.startswith("line ")]) == 5

    one = cli.entry(good[0], "cn", "mobile", "mortarMailAlias",
                    "mortarEnabledService", "mortarQuotaBytes",
                    "preferredLanguage", "mortarTimezone", "userPassword")
    assert one["cn"] == ["Imp, One"]
    assert one["mobile"] == ["+33612345678"]
    assert sorted(one["mortarMailAlias"]) == sorted(
        ["cli-imp-%s-1a@%s" % (t, d), "cli-imp-%s-1b@%s" % (t, d)])
    assert sorted(one["mortarEnabledService"]) == ["imap", "smtp"]
    assert one["mortarQuotaBytes"] == [str(1 << 30)]
    assert one["preferredLanguage"] == ["fr"]
    assert one["mortarTimezone"] == ["Europe/Paris"]
    # slapd hashed the password; the clear text works over IMAP.
    assert one["userPassword"][0].startswith("{")
    assert "Secret-" not in one["userPassword"][0]
    stack.imap(good[0], "Secret-%s-1" % t).logout()
    three = cli.entry(good[2], "cn", "preferredLanguage")
    assert three["cn"] == ["Imp Three"]
    assert three["preferredLanguage"] == ["pt-BR"]
    for n in (5, 6, 7, 8):
        assert cli.entry(bad[n], "mail") == {}
    assert cli.counter() == before + 3

    # The same file again changes nothing.
    csns = {m: cli.entry(m, "entryCSN")["entryCSN"] for m in good}
    r = cli.run("user", "import", path)
    assert r.returncode == 1
    assert "import: 0 added, 0 updated, 3 unchanged, 5 failed" in r.stdout
    assert {m: cli.entry(m, "entryCSN")["entryCSN"] for m in good} == csns
    assert cli.counter() == before + 3
    stack.imap(good[0], "Secret-%s-1" % t).logout()

    # A changed cell updates that user only; the password is left alone.
    path2 = write(cli, "users-%s-b.csv" % t,
                  csv.replace("Imp Two,Two", "Imp Deux,Two")
                     .replace("Secret-%s-1," % t, "Other-%s-1," % t))
    r = cli.run("--json", "user", "import", path2)
    out = json.loads(r.stdout)
    assert (out["added"], out["updated"], out["unchanged"], out["failed"]) == (0, 1, 2, 5)
    assert {f["line"] for f in out["failures"]} == {5, 6, 7, 8, 9}
    assert cli.entry(good[1], "cn")["cn"] == ["Imp Deux"]
    stack.imap(good[0], "Secret-%s-1" % t).logout()

    # --no-update reports the difference instead of writing it.
    r = cli.run("user", "import", "--no-update", path)
    assert "line 3: %s: %s exists with other values of: cn" % (good[1], good[1]) in r.stderr
    assert cli.entry(good[1], "cn")["cn"] == ["Imp Deux"]

    for m in good:
        cli.ok("user", "del", m)
    assert cli.counter() == before


def test_import_checks_seats_per_row(cli, stack):
    cli.ok("license", "audit", "--fix")
    existing = cli.ldap_users()
    lic_id, path = cli.issue(existing + 2, day(-1), day(365))
    cli.ok("license", "install", path)
    t = tag()
    mails = ["cli-seat-%s-%d@%s" % (t, i, stack.domain) for i in range(4)]
    try:
        csv = write(cli, "seats-%s.csv" % t,
                    "mail,cn\n" + "".join("%s,Seat %d\n" % (m, i)
                                          for i, m in enumerate(mails)))
        r = cli.run("user", "import", csv)
        assert r.returncode == 1
        assert "import: 2 added, 0 updated, 0 unchanged, 2 failed" in r.stdout
        assert "line 4: %s: all %d seats of license %s are in use" % (
            mails[2], existing + 2, lic_id) in r.stderr
        assert "line 5: %s: all" % mails[3] in r.stderr
        assert [bool(cli.entry(m, "mail")) for m in mails] == [True, True, False, False]
        assert cli.counter() == existing + 2
    finally:
        cli.install_plenty()
        for m in mails[:2]:
            cli.run("user", "del", m)


def test_ldif_import(cli, stack):
    t = tag()
    d = stack.domain
    ldif = (
        "version: 1\n\n"
        "dn: uid=cli-ldif-%s-1,ou=people,dc=old,dc=example\n"
        "objectClass: inetOrgPerson\n"
        "uid: cli-ldif-%s-1\n"
        "mail: cli-ldif-%s-1@%s\n"
        "cn:: %s\n"
        "sn: One\n"
        "userPassword: Ldif-pass-%s\n"
        "telephoneNumber: +1 555 000 0001\n\n"
        "dn: uid=cli-ldif-%s-2,ou=people,dc=old,dc=example\n"
        "mail: cli-ldif-%s-2@%s\n"
        "description:< file:///etc/passwd\n\n"
    ) % (t, t, t, d, base64.b64encode("Jürgen Ünü".encode()).decode(), t,
         t, t, d)
    path = write(cli, "users-%s.ldif" % t, ldif)
    r = cli.run("user", "import", path)
    assert r.returncode == 1
    assert "import: 1 added, 0 updated, 0 unchanged, 1 failed" in r.stdout
    assert "URL" in r.stderr and "passwd" not in cli.entry(
        "cli-ldif-%s-2@%s" % (t, d), "description").get("description", [""])[0]
    e = cli.entry("cli-ldif-%s-1@%s" % (t, d), "cn", "telephoneNumber")
    assert e["cn"] == ["Jürgen Ünü"]
    assert e["telephoneNumber"] == ["+15550000001"]
    stack.imap("cli-ldif-%s-1@%s" % (t, d), "Ldif-pass-%s" % t).logout()
    r = cli.run("user", "import", path)
    assert "import: 0 added, 0 updated, 1 unchanged, 1 failed" in r.stdout
    cli.ok("user", "del", "cli-ldif-%s-1@%s" % (t, d))


# ---------------------------------------------------------------------------
# Users, passwords, domains, groups


def test_user_fields_passwords_and_status(cli, stack):
    t = tag()
    m = "cli-u-%s@%s" % (t, stack.domain)
    pw = "Pass-%s-word" % t
    r = cli.ok("user", "add", m, "--given-name", "Ursula", "--sn", "Le Guin",
               "--title", "Writer", "--phone", "+1 555 123 4567;+1 555 765 4321",
               "--mobile", "+33-6-11-22-33-44", "--street", "1 Rue X",
               "--postal-code", "75001", "--city", "Paris", "--country", "fr",
               "--language", "fr-FR", "--timezone", "Europe/Paris",
               "--quota", "2G", "--forwards", "ursula@elsewhere.example",
               "--keep-copy", "yes", "--services", "imap;smtp;sms",
               "--password", "-", input=pw + "\n")
    assert "added" in r.stdout
    e = cli.entry(m, "cn", "sn", "telephoneNumber", "mobile", "c", "l",
                  "preferredLanguage", "mortarQuotaBytes", "mortarForwardAddress",
                  "mortarForwardKeepCopy", "mortarEnabledService", "userPassword")
    assert e["cn"] == ["Ursula Le Guin"] and e["sn"] == ["Le Guin"]
    assert sorted(e["telephoneNumber"]) == ["+15551234567", "+15557654321"]
    assert e["mobile"] == ["+33611223344"]
    assert e["c"] == ["FR"] and e["l"] == ["Paris"]
    assert e["preferredLanguage"] == ["fr-FR"]
    assert e["mortarQuotaBytes"] == [str(2 << 30)]
    assert e["mortarForwardKeepCopy"] == ["TRUE"]
    assert sorted(e["mortarEnabledService"]) == ["imap", "sms", "smtp"]
    assert e["userPassword"][0].startswith("{") and pw not in e["userPassword"][0]
    stack.imap(m, pw).logout()

    shown = cli.json("user", "show", m)
    assert shown["quota"] == 2 << 30 and shown["keep-copy"] is True
    assert shown["services"] == ["imap", "smtp", "sms"]

    # Aliases through `alias`, fields through `set` (add/del and replace).
    cli.ok("alias", "add", m, "cli-u-%s-a@%s" % (t, stack.domain))
    assert cli.json("alias", "list", m)["aliases"] == ["cli-u-%s-a@%s" % (t, stack.domain)]
    r = cli.run("alias", "add", m, "bob@" + stack.domain)
    assert r.returncode == 1 and "already" in r.stderr
    r = cli.run("alias", "del", m, "cli-u-%s-zz@%s" % (t, stack.domain))
    assert r.returncode == 3
    cli.ok("user", "set", m, "--del-service", "sms", "--title", "", "--quota", "3G")
    e = cli.entry(m, "title", "mortarEnabledService", "mortarQuotaBytes")
    assert "title" not in e and sorted(e["mortarEnabledService"]) == ["imap", "smtp"]
    assert e["mortarQuotaBytes"] == [str(3 << 30)]
    r = cli.ok("user", "set", m, "--quota", "3G")
    assert "unchanged" in r.stdout

    # A random password is printed once and works; the old one stops.
    r = cli.ok("--json", "user", "passwd", m, "--random-password")
    new = json.loads(r.stdout)["password"]
    stack.imap(m, new).logout()
    with pytest.raises(Exception):
        stack.imap(m, pw)
    pwfile = write(cli, "pw-%s" % t, "File-pass-%s\n" % t)
    os.chmod(pwfile, 0o600)
    cli.ok("user", "passwd", m, "--password-file", pwfile)
    stack.imap(m, "File-pass-%s" % t).logout()

    # Disabled: no login; enabled again: login.
    cli.ok("user", "disable", m)
    with pytest.raises(Exception):
        stack.imap(m, "File-pass-%s" % t)
    cli.ok("user", "enable", m)
    stack.imap(m, "File-pass-%s" % t).logout()

    # A password is never taken from the command line.
    r = cli.run("user", "passwd", m, "--password", "visible-in-ps")
    assert r.returncode == 2 and "--password -" in r.stderr
    cli.ok("user", "del", m)
    assert cli.run("user", "show", m).returncode == 3


def test_validation_happens_before_the_directory(cli, stack):
    before = cli.counter()
    cases = [
        (["user", "add", "cli-v@%s" % stack.domain, "--mobile", "0612345678"], "mobile"),
        (["user", "add", "cli-v@%s" % stack.domain, "--quota", "2Q"], "quota"),
        (["user", "add", "cli-v@%s" % stack.domain, "--timezone", "Mars/Base"], "timezone"),
        (["user", "add", "cli-v@%s" % stack.domain, "--language", "klingon!"], "language"),
        (["user", "add", "cli-v@%s" % stack.domain, "--services", "imap;ftp"], "services"),
        (["user", "add", "cli-v@%s" % stack.domain, "--status", "locked"], "status"),
        (["user", "add", "cli..v@%s" % stack.domain], "local part"),
        (["user", "add", "cli-v@@%s" % stack.domain], "more than one"),
        (["user", "add", "cli-v@%s" % stack.domain, "--forwards", "cli-v@" + stack.domain], "itself"),
        (["domain", "add", "cli-bad_domain.test"], "domain"),
    ]
    for args, word in cases:
        r = cli.run(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert word in r.stderr, (args, r.stderr)
    assert cli.entry("cli-v@" + stack.domain, "mail") == {}
    assert cli.counter() == before


def test_domain_lifecycle_and_forced_delete_releases_seats(cli, stack):
    dom = "cli-%s.test" % tag()
    cli.ok("domain", "add", dom, "--quota-pool", "10G", "--default-quota", "1G",
           "--max-users", "2", "--aliases", "alias-" + dom)
    shown = cli.json("domain", "show", dom)
    assert shown["quota-pool"] == 10 << 30 and shown["max-users"] == 2
    assert shown["aliases"] == ["alias-" + dom]
    assert dom in cli.ok("domain", "list").stdout
    r = cli.run("domain", "add", "alias-" + dom)
    assert r.returncode == 1 and "already served" in r.stderr

    before = cli.counter()
    cli.ok("user", "add", "u1@" + dom)
    cli.ok("user", "add", "u2@" + dom)
    assert cli.entry("u1@" + dom, "mortarQuotaBytes")["mortarQuotaBytes"] == [str(1 << 30)]
    r = cli.run("user", "add", "u3@" + dom)
    assert r.returncode == 1 and "is full" in r.stderr
    r = cli.run("user", "add", "u4@" + dom, "--quota", "20G")
    assert r.returncode == 1
    cli.ok("domain", "set", dom, "--max-users", "5", "--status", "disabled")
    r = cli.run("user", "add", "u3@" + dom, "--quota", "20G")
    assert r.returncode == 1 and "quota pool" in r.stderr
    cli.ok("group", "add", "team@" + dom, "--member", "u1@" + dom,
           "--member", "u2@" + dom, "--policy", "members")
    assert cli.json("group", "show", "team@" + dom)["members"] == ["u1@" + dom, "u2@" + dom]
    assert cli.counter() == before + 2

    r = cli.run("domain", "del", dom)
    assert r.returncode == 1 and "--force" in r.stderr
    out = cli.json("domain", "del", dom, "--force")
    assert out["users_deleted"] == 2 and out["seats_released"] == 2
    assert cli.counter() == before
    assert cli.run("domain", "show", dom).returncode == 3


def test_groups(cli, stack):
    d = stack.domain
    g = "cli-g-%s@%s" % (tag(), d)
    cli.ok("group", "add", g, "--member", "alice@" + d)
    cli.ok("group", "members", g, "add", "bob@" + d)
    assert cli.ok("group", "members", g).stdout.split() == ["alice@" + d, "bob@" + d]
    r = cli.run("group", "members", g, "add", "nobody@" + d)
    assert r.returncode == 3
    cli.ok("group", "members", g, "del", "bob@" + d)
    r = cli.run("group", "members", g, "del", "alice@" + d)
    assert r.returncode == 1 and "at least one member" in r.stderr
    assert g in cli.ok("group", "list", d).stdout
    cli.ok("group", "del", g)
    assert cli.run("group", "show", g).returncode == 3


# ---------------------------------------------------------------------------
# Services down, exit codes


def test_redis_unreachable_refuses_user_add_only(cli, stack):
    conf = os.path.join(cli.tmp, "no-redis.conf")
    with open(cli.conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        for line in text.splitlines():
            if line.startswith("redis_port"):
                line = "redis_port = %d" % free_port()
            f.write(line + "\n")
    os.chmod(conf, 0o600)

    m = "cli-nored-%s@%s" % (tag(), stack.domain)
    r = cli.run("user", "add", m, conf=conf)
    assert r.returncode == 4, r.stderr
    assert "cannot reserve a seat: Redis is unreachable" in r.stderr
    assert "the user was not added" in r.stderr
    assert cli.entry(m, "mail") == {}

    r = cli.run("user", "list", conf=conf)
    assert r.returncode == 0 and "alice@" in r.stdout
    r = cli.run("user", "set", "alice@" + stack.domain, "--title", "Engineer",
                conf=conf)
    assert r.returncode == 0, r.stderr
    r = cli.run("domain", "show", stack.domain, conf=conf)
    assert r.returncode == 0


def test_ldap_unreachable_and_exit_codes(cli, stack):
    conf = os.path.join(cli.tmp, "no-ldap.conf")
    with open(cli.conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        for line in text.splitlines():
            if line.startswith("ldap_uri"):
                line = "ldap_uri = ldap://127.0.0.1:%d" % free_port()
            f.write(line + "\n")
    r = cli.run("user", "list", conf=conf)
    assert r.returncode == 4 and "ldap_uri" in r.stderr

    assert cli.run("frobnicate").returncode == 2
    assert cli.run("user", "add").returncode == 2
    assert cli.run("user", "add", "x@" + stack.domain, "--shoe-size", "44").returncode == 2
    r = cli.run("user", "show", "nobody-%s@%s" % (tag(), stack.domain))
    assert r.returncode == 3 and "no user" in r.stderr
    r = cli.run("--json", "user", "show", "nobody@" + stack.domain)
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["status"] == "not-found"
    assert "nobody@" in out["error"]
    assert cli.run("user", "add", "x@nowhere-%s.test" % tag()).returncode == 3
    r = subprocess.run([MORTAR, "-c", "/nonexistent/mortar.conf", "user", "list"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "-c FILE" in r.stderr
