#!/usr/bin/python3
"""bench_lmtp_quota.py -- LMTP deliveries per second with Mortar's quota
backend, with Dovecot's stock `count` backend, and with no quota.

Usage: bench/bench_lmtp_quota.py [-c run/mortar.conf] [-n 2000] [-s 4]
                                 [-r 5] [-l 4096]

Against a running stack (`make run`, or `scripts/stack.sh -c
conf/stack-test.conf start` and -c run-test/mortar.conf): its slapd, its
Redis and its Dovecot configuration.  Three more Dovecot instances are
started from the stack's dovecot.conf, identical but for the quota
settings and their own base_dir, LMTP socket and mail directory:

  mortar   quota + mortar_quota: quota = mortar:User quota:...,
           quota2 = mortar:Domain pool:pool:... (as the stack runs it)
  count    quota only: quota = count:User quota, quota_vsizes = yes
           (Dovecot's recommended backend; it cannot pool a domain)
  none     no quota plugin at all

Each round delivers N messages of L bytes to S users at once (S
smtp-source processes speaking LMTP, one session each, no SIZE) through
each instance in turn, the order rotating between rounds; mail and Redis
counters are emptied before every run.  Users have a 100 GB limit and
their domain a 1 TB pool, so both Mortar roots read and write Redis on
every delivery; every instance does the same userdb lookup (user entry
plus the domain subquery).  Printed: the median deliveries/s of each
variant over R rounds (after one warm-up round), the spread, and the
ratios.  The target of the quota issue is mortar >= 95 % of count.

A figure, not a test: nothing is asserted.  Everything it makes (one
domain bench-q-<pid>.test, its Redis keys, the instances and their
directories) is removed at the end.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONF_TOOL = os.path.join(TOP, "build", "bin", "mortar-conf")
VARIANTS = ("mortar", "count", "none")


def conf_get(conf, key):
    return subprocess.run([CONF_TOOL, "-c", conf, "get", key], check=True,
                          capture_output=True, text=True).stdout.strip()


def sub_line(text, pattern, new, what):
    """Replace the one line matching pattern (a regex on the whole line)."""
    rx = re.compile(r"^" + pattern + r"$", re.M)
    found = rx.findall(text)
    if len(found) != 1:
        sys.exit("bench: dovecot.conf: expected one %s line, found %d"
                 % (what, len(found)))
    return rx.sub(new.replace("\\", "\\\\"), text)


class Instance:
    """One Dovecot started from the stack's config, LMTP only."""

    def __init__(self, variant, stack_conf_text, run):
        self.variant = variant
        # Inside the stack's run dir: if this script dies before its
        # cleanup, the launcher's stop still ends the instance.
        self.top = tempfile.mkdtemp(prefix="bench-lmtp-%s-" % variant, dir=run)
        os.chmod(self.top, 0o755)
        self.conf = os.path.join(self.top, "dovecot.conf")
        self.lmtp = os.path.join(self.top, "lmtp")
        self.mail = os.path.join(self.top, "mail")
        self.pid = None
        t = stack_conf_text
        t = sub_line(t, r"protocols = .*", "protocols = lmtp", "protocols")
        t = sub_line(t, r"base_dir = .*", "base_dir = %s/base" % self.top, "base_dir")
        t = sub_line(t, r"state_dir = .*", "state_dir = %s/state" % self.top, "state_dir")
        t = sub_line(t, r"instance_name = .*", "instance_name = bench-" + variant,
                     "instance_name")
        t = sub_line(t, r"log_path = .*", "log_path = %s/dovecot.log" % self.top, "log_path")
        t = sub_line(t, r"info_log_path = .*", "info_log_path = %s/dovecot.log" % self.top,
                     "info_log_path")
        t = sub_line(t, r"mail_location = .*", "mail_location = maildir:%s/%%d/%%n"
                     % self.mail, "mail_location")
        t = t.replace("unix_listener %s/dovecot/lmtp " % run, "unix_listener %s " % self.lmtp)
        t = t.replace("unix_listener %s/postfix/spool/private/auth " % run,
                      "unix_listener %s/auth " % self.top)
        t = t.replace("quota-warning.sh %s/dovecot/dovecot.conf" % run,
                      "quota-warning.sh " + self.conf)
        if variant == "count":
            t = sub_line(t, r"mail_plugins = \$mail_plugins quota mortar_quota",
                         "mail_plugins = $mail_plugins quota", "mail_plugins")
            t = sub_line(t, r"  quota = mortar:.*",
                         "  quota = count:User quota\n  quota_vsizes = yes", "quota")
            t = sub_line(t, r"  quota2 = mortar:.*", "", "quota2")
        elif variant == "none":
            t = sub_line(t, r"mail_plugins = \$mail_plugins quota mortar_quota",
                         "mail_plugins = $mail_plugins", "mail_plugins")
            t = sub_line(t, r"  mail_plugins = \$mail_plugins imap_quota", "",
                         "imap mail_plugins")
        os.makedirs(os.path.join(self.top, "state"))
        os.makedirs(self.mail)
        shutil.chown(self.mail, "mortar-vmail", "mortar-vmail")
        with open(self.conf, "w") as f:
            f.write(t)

    def start(self):
        with open(os.path.join(self.top, "start.log"), "w") as log:
            r = subprocess.run(["dovecot", "-c", self.conf], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log)
        if r.returncode != 0:
            sys.exit("bench: dovecot (%s) did not start: see %s/start.log"
                     % (self.variant, self.top))
        deadline = time.time() + 20
        while not os.path.exists(self.lmtp):
            if time.time() > deadline:
                sys.exit("bench: dovecot (%s) made no LMTP socket" % self.variant)
            time.sleep(0.1)
        pidfile = os.path.join(self.top, "base", "master.pid")
        while self.pid is None:
            try:
                with open(pidfile) as f:
                    self.pid = int(f.read().strip())
            except (OSError, ValueError):
                if time.time() > deadline:
                    sys.exit("bench: dovecot (%s) wrote no pid file" % self.variant)
                time.sleep(0.1)

    def empty_mail(self):
        for name in os.listdir(self.mail):
            shutil.rmtree(os.path.join(self.mail, name), ignore_errors=True)

    def stop(self):
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                deadline = time.time() + 15
                while os.path.exists("/proc/%d" % self.pid) and time.time() < deadline:
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
        # The log process may write a last line while we remove.
        for _ in range(5):
            shutil.rmtree(self.top, ignore_errors=True)
            if not os.path.exists(self.top):
                break
            time.sleep(0.5)


class Bench:
    def __init__(self, conf):
        self.run = os.path.dirname(os.path.abspath(conf))
        self.uri = conf_get(conf, "ldap_uri")
        self.base = conf_get(conf, "ldap_base")
        self.admin = conf_get(conf, "ldap_admin_dn")
        self.pw = conf_get(conf, "ldap_admin_pw")
        self.redis = [conf_get(conf, "redis_host"), conf_get(conf, "redis_port")]
        self.domain = "bench-q-%d.test" % os.getpid()
        self.domain_dn = "mortarDomainName=%s,ou=domains,%s" % (self.domain, self.base)
        self.instances = []

    def ldap(self, tool, *args, ldif=None):
        r = subprocess.run([tool, "-x", "-H", self.uri, "-D", self.admin, "-w", self.pw]
                           + list(args), input=ldif, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("bench: %s failed: %s" % (tool, r.stderr.strip()))

    def redis_cli(self, *args):
        return subprocess.run(["redis-cli", "-h", self.redis[0], "-p", self.redis[1]]
                              + list(args), capture_output=True, text=True,
                              check=True).stdout

    def reset_counters(self):
        keys = [k for k in self.redis_cli("--scan", "--pattern",
                                          "mortar:quota:{%s}:*" % self.domain).split()]
        if keys:
            self.redis_cli("DEL", *keys)

    def setup(self, nusers):
        ldif = ["dn: " + self.domain_dn, "objectClass: mortarDomain",
                "mortarDomainName: " + self.domain, "mortarAccountStatus: active",
                "mortarDomainQuotaPool: %d" % (1 << 40), "",
                "dn: ou=users," + self.domain_dn, "objectClass: organizationalUnit",
                "ou: users", ""]
        for i in range(nusers):
            ldif += ["dn: uid=b%d,ou=users,%s" % (i, self.domain_dn),
                     "objectClass: inetOrgPerson", "objectClass: mortarUser",
                     "uid: b%d" % i, "cn: b%d" % i, "sn: b%d" % i,
                     "mail: b%d@%s" % (i, self.domain), "mortarAccountStatus: active",
                     "mortarQuotaBytes: %d" % (100 << 30), ""]
        self.ldap("ldapadd", ldif="\n".join(ldif))
        with open(os.path.join(self.run, "dovecot", "dovecot.conf")) as f:
            text = f.read()
        for v in VARIANTS:
            inst = Instance(v, text, self.run)
            self.instances.append(inst)
            inst.start()

    def cleanup(self):
        for inst in self.instances:
            inst.stop()
        subprocess.run(["ldapdelete", "-x", "-H", self.uri, "-D", self.admin, "-w",
                        self.pw, "-r", self.domain_dn], capture_output=True)
        self.reset_counters()

    def deliver(self, inst, n, sessions, length):
        """n deliveries through inst, sessions users at once: seconds."""
        inst.empty_mail()
        self.reset_counters()
        per = n // sessions
        t0 = time.monotonic()
        procs = [subprocess.Popen(["smtp-source", "-L", "-s", "1", "-m", str(per),
                                   "-l", str(length), "-M", "client.test",
                                   "-f", "bench@outside.test",
                                   "-t", "b%d@%s" % (i, self.domain),
                                   "unix:" + inst.lmtp],
                                  stderr=subprocess.PIPE, text=True)
                 for i in range(sessions)]
        errors = [p.communicate()[1] for p in procs]
        elapsed = time.monotonic() - t0
        for p, err in zip(procs, errors):
            if p.returncode != 0:
                sys.exit("bench: smtp-source through %s failed: %s"
                         % (inst.variant, err.strip()))
        if inst.variant == "mortar":
            pool = self.redis_cli("HGET", "mortar:quota:{%s}:pool" % self.domain,
                                  "messages").strip()
            if pool != str(per * sessions):
                sys.exit("bench: Redis counted %s deliveries, not %d" % (pool, per * sessions))
        return per * sessions, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-c", default=os.path.join(TOP, "run", "mortar.conf"),
                    help="the stack's mortar.conf (default run/mortar.conf)")
    ap.add_argument("-n", type=int, default=2000, help="deliveries per run")
    ap.add_argument("-s", type=int, default=4, help="concurrent LMTP sessions")
    ap.add_argument("-r", type=int, default=5, help="rounds")
    ap.add_argument("-l", type=int, default=4096, help="message length")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it starts Dovecot instances)")

    b = Bench(args.c)
    rates = {v: [] for v in VARIANTS}
    try:
        b.setup(args.s)
        for inst in b.instances:                     # warm-up, not counted
            b.deliver(inst, min(args.n, 200 * args.s), args.s, args.l)
        for r in range(args.r):
            order = b.instances[r % 3:] + b.instances[:r % 3]
            for inst in order:
                n, secs = b.deliver(inst, args.n, args.s, args.l)
                rates[inst.variant].append(n / secs)
                print("round %d  %-6s %5d deliveries in %6.2f s  %7.1f/s"
                      % (r + 1, inst.variant, n, secs, n / secs), flush=True)
    finally:
        b.cleanup()

    med = {v: statistics.median(rates[v]) for v in VARIANTS}
    print()
    print("LMTP deliveries/s, %d x %d-byte messages, %d sessions, median of %d rounds"
          % (args.n, args.l, args.s, args.r))
    for v in VARIANTS:
        print("  %-6s %7.1f/s   (min %.1f, max %.1f)"
              % (v, med[v], min(rates[v]), max(rates[v])))
    ratio = med["mortar"] / med["count"]
    print("  mortar / count = %.3f   mortar / none = %.3f"
          % (ratio, med["mortar"] / med["none"]))
    print("  target mortar >= 0.95 x count: %s" % ("met" if ratio >= 0.95 else "NOT met"))


if __name__ == "__main__":
    main()
