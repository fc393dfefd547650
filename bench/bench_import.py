#!/usr/bin/python3
"""bench_import.py -- time `mortar user import` of 10,000 users.

Usage: bench/bench_import.py [-c run/mortar.conf] [-n 10000] [--no-anchor]

Against a running stack (`make run`, or `scripts/stack.sh -c
conf/stack-test.conf start` and -c run-test/mortar.conf).  Prints:

  import     N new users from CSV (mail, password, cn, sn, quota, mobile):
             every row validated, gated, a seat reserved in Redis, the
             entry added and the password set through slapd
  re-run     the same file again: every row compared, nothing written
  anchor     ldapadd of the same N entries in one connection, no
             password, no checks: the directory's own add speed, so the
             ratio shows what Mortar's checks cost on this machine

A figure, not a test: nothing is asserted.  Everything it makes lives in
two throwaway domains (bench-<pid>.test, bench-anchor-<pid>.test) that are
deleted at the end, and the seat counter is reconciled from the directory.
When the license in force has too few free seats and this build has the
development signing key (build/license/dev.key), a development key with
enough seats is installed for the run and the previous key is put back
afterwards.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MORTAR = os.path.join(TOP, "build", "bin", "mortar")
CONF_TOOL = os.path.join(TOP, "build", "bin", "mortar-conf")
LICENSE_TOOL = os.path.join(TOP, "build", "bin", "mortar-license")
DEV_KEY = os.path.join(TOP, "build", "license", "dev.key")


def conf_get(conf, key):
    return subprocess.run([CONF_TOOL, "-c", conf, "get", key], check=True,
                          capture_output=True, text=True).stdout.strip()


class Bench:
    def __init__(self, conf):
        self.conf = conf
        self.uri = conf_get(conf, "ldap_uri")
        self.base = conf_get(conf, "ldap_base")
        self.admin = conf_get(conf, "ldap_admin_dn")
        self.pw = conf_get(conf, "ldap_admin_pw")
        self.saved_key = None

    def mortar(self, *args, check=True):
        r = subprocess.run([MORTAR, "-c", self.conf] + list(args),
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            sys.exit("bench: mortar %s failed (%d): %s"
                     % (" ".join(args), r.returncode, r.stderr.strip()))
        return r

    def ldap(self, tool, *args, ldif=None):
        return subprocess.run([tool, "-x", "-H", self.uri, "-D", self.admin,
                               "-w", self.pw] + list(args), input=ldif,
                              capture_output=True, text=True)

    def ensure_seats(self, n):
        st = json.loads(self.mortar("--json", "license", "status").stdout)
        free = st.get("seats", 0) - st.get("seats_used", 0)
        if st.get("installed") and st.get("state") in ("valid", "expiring",
                                                        "grace") and free >= n:
            return
        if not os.path.exists(DEV_KEY):
            sys.exit("bench: the license has %d free seats, %d are needed: "
                     "install a bigger key first" % (max(free, 0), n))
        r = self.ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b",
                      self.base, "-s", "base", "mortarLicenseKey")
        for line in r.stdout.splitlines():
            if line.startswith("mortarLicenseKey::"):
                self.saved_key = line.split("::", 1)[1].strip()
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 * 30))
        deployment = st.get("deployment_id") or st.get("deployment")
        key = subprocess.run(
            [LICENSE_TOOL, "issue", "--key", DEV_KEY, "--id", "BENCH-IMPORT",
             "--customer", "Mortar import benchmark", "--deployment",
             deployment, "--seats", str(st.get("seats_used", 0) + n + 100),
             "--not-before", today, "--not-after", later, "--plan",
             "Enterprise", "--support", "Priority", "--modules", "admin"],
            check=True, capture_output=True, text=True).stdout
        with tempfile.NamedTemporaryFile("w", suffix=".lic") as f:
            f.write(key)
            f.flush()
            self.mortar("license", "install", f.name)
        print("bench: installed a development key with enough seats for the "
              "run (the previous key is restored at the end)")

    def restore(self):
        if self.saved_key is not None:
            self.ldap("ldapmodify", ldif="dn: %s\nchangetype: modify\nreplace: "
                      "mortarLicenseKey\nmortarLicenseKey:: %s\n"
                      % (self.base, self.saved_key))
        self.mortar("license", "audit", "--fix", check=False)


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", dest="conf", default=os.path.join(TOP, "run",
                                                            "mortar.conf"))
    ap.add_argument("-n", dest="n", type=int, default=10000)
    ap.add_argument("--no-anchor", action="store_true")
    args = ap.parse_args()

    for tool in (MORTAR, CONF_TOOL, LICENSE_TOOL):
        if not os.access(tool, os.X_OK):
            sys.exit("bench: %s is missing: run `make` first" % tool)

    b = Bench(args.conf)
    n = args.n
    dom = "bench-%d.test" % os.getpid()
    anchor = "bench-anchor-%d.test" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="bench-import-")
    csv = os.path.join(tmp, "users.csv")
    with open(csv, "w") as f:
        f.write("mail,password,cn,sn,quota,mobile\n")
        for i in range(n):
            f.write("u%05d@%s,Bench-pw-%08d,User %d,N%d,1G,+3361%07d\n"
                    % (i, dom, i, i, i, i))

    b.ensure_seats(n)
    made = []
    try:
        b.mortar("domain", "add", dom)
        made.append(dom)

        t0 = time.monotonic()
        r = b.mortar("user", "import", csv, check=False)
        t_import = time.monotonic() - t0
        if r.returncode != 0:
            sys.exit("bench: import failed: %s%s" % (r.stdout, r.stderr[-2000:]))

        t0 = time.monotonic()
        r2 = b.mortar("user", "import", csv, check=False)
        t_rerun = time.monotonic() - t0

        print("import  %6d users  %7.2f s  %8.0f users/s   (%s)"
              % (n, t_import, rate(n, t_import), r.stdout.strip()))
        print("re-run  %6d users  %7.2f s  %8.0f users/s   (%s)"
              % (n, t_rerun, rate(n, t_rerun), r2.stdout.strip()))

        if not args.no_anchor:
            b.mortar("domain", "add", anchor)
            made.append(anchor)
            ou = "ou=users,mortarDomainName=%s,ou=domains,%s" % (anchor, b.base)
            ldif = "".join(
                "dn: uid=u%05d,%s\nobjectClass: inetOrgPerson\nobjectClass: "
                "mortarUser\nuid: u%05d\nmail: u%05d@%s\ncn: User %d\nsn: N%d\n"
                "mortarAccountStatus: active\nmortarQuotaBytes: 1073741824\n"
                "mobile: +3361%07d\nmortarEnabledService: imap\n"
                "mortarEnabledService: pop3\nmortarEnabledService: smtp\n"
                "mortarEnabledService: webmail\nmortarEnabledService: dav\n\n"
                % (i, ou, i, i, anchor, i, i, i) for i in range(n))
            t0 = time.monotonic()
            ra = b.ldap("ldapadd", ldif=ldif)
            t_anchor = time.monotonic() - t0
            if ra.returncode != 0:
                print("anchor  ldapadd failed: %s" % ra.stderr.strip()[-500:])
            else:
                print("anchor  %6d users  %7.2f s  %8.0f users/s   (ldapadd, "
                      "one connection, no password, no checks)"
                      % (n, t_anchor, rate(n, t_anchor)))
                print("ratio   import / anchor time: %.2f" % (t_import / t_anchor))
    finally:
        for d in made:
            b.mortar("domain", "del", d, "--force", check=False)
        b.restore()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
