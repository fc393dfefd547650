"""Mortar's quota backend inside Dovecot's own quota plugin, end to end.

Real Dovecot (LMTP, IMAP, doveadm, dovecot-lda for the warnings), Postfix,
Redis and slapd from the test stack.  Limits live in the directory (the
user's mortarQuotaBytes/mortarQuotaMessages, the domain's
mortarDomainQuotaPool) and reach the backend through userdb; usage lives in
Redis under mortar:quota:{<domain>}:user:<local> and ...:pool.

Most deliveries speak LMTP straight to Dovecot's socket without SIZE, so
the refusal comes from the quota check at DATA.  Every test that may
refuse mail also checks that nothing was queued in Postfix and nothing
reached the outside (the smtp-sink), i.e. no bounce was ever made.

Each pool test gets its own domain (created in LDAP, removed afterwards
with its Redis keys and mail), so pools start empty and sums are exact.
"""

import concurrent.futures
import email
import email.header
import json
import math
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import message

SENDER = "sender@outside.test"


# -- helpers -------------------------------------------------------------

def dovecot_conf(stack):
    return os.path.join(stack.run, "dovecot", "dovecot.conf")


def lmtp_socket(stack):
    return os.path.join(stack.run, "dovecot", "lmtp")


def redis_cli(stack, *args, check=True):
    r = subprocess.run(["redis-cli", "-h", stack.host, "-p", str(stack.port("redis"))]
                       + [str(a) for a in args], capture_output=True, text=True, timeout=15)
    if check and r.returncode != 0:
        raise AssertionError("redis-cli %s: %s %s" % (args, r.stdout, r.stderr))
    return r.stdout


def counters(stack, address):
    """(user bytes, user messages, pool bytes, pool messages) from Redis."""
    local, domain = address.lower().split("@")
    u = redis_cli(stack, "HMGET", "mortar:quota:{%s}:user:%s" % (domain, local),
                  "bytes", "messages").split("\n")
    p = redis_cli(stack, "HMGET", "mortar:quota:{%s}:pool" % domain,
                  "bytes", "messages").split("\n")
    num = lambda v: int(v) if v.strip() else 0
    return num(u[0]), num(u[1]), num(p[0]), num(p[1])


def user_keys(stack, domain):
    out = redis_cli(stack, "--scan", "--pattern", "mortar:quota:{%s}:user:*" % domain)
    return [k for k in out.split("\n") if k]


def pool_sum(stack, domain):
    """The sum of a domain's user counters, read key by key."""
    b = m = 0
    for k in user_keys(stack, domain):
        v = redis_cli(stack, "HMGET", k, "bytes", "messages").split("\n")
        b += int(v[0] or 0)
        m += int(v[1] or 0)
    return b, m


def body_of(size, marker, rcpt, subject="quota test"):
    """A message of about size bytes (CRLF lines, no SIZE is ever sent)."""
    head = message(SENDER, [rcpt], marker, subject=subject, body="")
    line = "x" * 76 + "\r\n"
    n = max(0, (size - len(head)) // len(line))
    return (head + line * n).encode()


def lmtp(stack, rcpt, size, marker, sock=None, subject="quota test"):
    """Deliver one message over LMTP (no SIZE parameter): (code, text)."""
    conn = smtplib.LMTP(sock or lmtp_socket(stack), timeout=60)
    try:
        conn.ehlo("client.test")
        code, resp = conn.mail(SENDER)
        assert code == 250, resp
        code, resp = conn.rcpt(rcpt)
        assert code == 250, resp
        code, resp = conn.data(body_of(size, marker, rcpt, subject))
        return code, resp.decode()
    finally:
        try:
            conn.quit()
        except smtplib.SMTPException:
            pass


def doveadm(stack, *args, conf=None, check=True):
    r = subprocess.run(["doveadm", "-c", conf or dovecot_conf(stack)] + list(args),
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("doveadm %s exited %d: %s %s"
                             % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def quota_get(stack, user, conf=None):
    """doveadm quota get: {(root, type): (value, limit)}; limit None if unlimited."""
    out = doveadm(stack, "-f", "tab", "quota", "get", "-u", user, conf=conf).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        root, typ, value, limit, _pct = line.split("\t")
        rows[(root, typ)] = (int(value), None if limit == "-" else int(limit))
    return rows


def kib(n):
    """Bytes as IMAP and doveadm show STORAGE: KiB rounded up."""
    return (n + 1023) // 1024


def maildir_sizes(stack, address):
    """The size of every message file in a user's Maildir."""
    local, domain = address.split("@")
    sizes = []
    top = os.path.join(stack.run, "mail", domain, local, "Maildir")
    for dirpath, dirnames, files in os.walk(top):
        if os.path.basename(dirpath) in ("cur", "new"):
            sizes += [os.path.getsize(os.path.join(dirpath, f)) for f in files]
    return sizes


def maildir_bytes(stack, address):
    """What the mail really takes: (bytes, messages) of the Maildir files
    (Dovecot's quota counts physical sizes)."""
    sizes = maildir_sizes(stack, address)
    return sum(sizes), len(sizes)


def postfix_dir(stack):
    return os.path.join(stack.run, "postfix", "etc")


def queued(stack):
    """Postfix's queue as postqueue -j gives it: one dict per message."""
    r = subprocess.run(["postqueue", "-c", postfix_dir(stack), "-j"],
                       capture_output=True, text=True, timeout=30)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def assert_no_bounce(stack, marker):
    """No bounce about this mail waits in Postfix's queue, and none reached
    the outside (a bounce to the outside sender would land in the sink)."""
    for q in queued(stack):
        if q.get("sender", "") == "":
            body = subprocess.run(["postcat", "-c", postfix_dir(stack), "-bq",
                                   q["queue_id"]], capture_output=True, text=True,
                                  timeout=30).stdout
            assert marker not in body, "a bounce about %s is queued" % marker
        assert q.get("sender") != SENDER or marker not in json.dumps(q)
    assert stack.sink_messages(marker) == []


def wait_until(pred, timeout=20.0, step=0.3):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def warnings_of(stack, address):
    """The quota warnings in a mailbox: [(kind, percent, lang, subject)]."""
    out = doveadm(stack, "-f", "tab", "fetch", "-u", address,
                  "hdr.x-mortar-quota-warning hdr.subject", "mailbox", "INBOX",
                  "all").stdout
    found = []
    for line in out.splitlines()[1:]:
        tag, _, subject = line.partition("\t")
        if not tag.strip():
            continue
        kind, percent, lang = tag.split()
        text = str(email.header.make_header(email.header.decode_header(subject)))
        found.append((kind, int(percent), lang, text))
    return sorted(found)


class MailDomain:
    """A domain of its own, with a quota pool and users, for one test."""

    def __init__(self, stack, pool):
        self.stack = stack
        self.name = "q-%s.test" % uuid.uuid4().hex[:10]
        self.dn = "mortarDomainName=%s,ou=domains,%s" % (self.name, stack.suffix)
        lines = ["dn: " + self.dn, "objectClass: mortarDomain",
                 "mortarDomainName: " + self.name, "mortarAccountStatus: active"]
        if pool:
            lines.append("mortarDomainQuotaPool: %d" % pool)
        lines += ["", "dn: ou=users," + self.dn, "objectClass: organizationalUnit",
                  "ou: users"]
        stack.ldap("ldapadd", ldif="\n".join(lines) + "\n")

    def user(self, uid, quota_bytes=None, quota_messages=None, lang=None):
        mail = "%s@%s" % (uid, self.name)
        dn = "uid=%s,ou=users,%s" % (uid, self.dn)
        lines = ["dn: " + dn, "objectClass: inetOrgPerson", "objectClass: mortarUser",
                 "uid: " + uid, "cn: " + uid, "sn: " + uid, "mail: " + mail,
                 "mortarAccountStatus: active", "mortarEnabledService: imap"]
        if quota_bytes is not None:
            lines.append("mortarQuotaBytes: %d" % quota_bytes)
        if quota_messages is not None:
            lines.append("mortarQuotaMessages: %d" % quota_messages)
        if lang is not None:
            lines.append("preferredLanguage: " + lang)
        self.stack.ldap("ldapadd", ldif="\n".join(lines) + "\n")
        password = "Secret-" + uuid.uuid4().hex[:12]
        self.stack.ldap("ldappasswd", "-s", password, dn)
        self.stack.passwords[mail] = password
        return mail

    def set_user(self, uid, attr, value):
        self.stack.ldap("ldapmodify", ldif="dn: uid=%s,ou=users,%s\nchangetype: modify\n"
                        "replace: %s\n%s: %s\n" % (uid, self.dn, attr, attr, value))

    def remove(self):
        self.stack.ldap("ldapdelete", "-r", self.dn, check=False)
        for k in user_keys(self.stack, self.name) + ["mortar:quota:{%s}:pool" % self.name]:
            redis_cli(self.stack, "DEL", k, check=False)
        shutil.rmtree(os.path.join(self.stack.run, "mail", self.name), ignore_errors=True)


@pytest.fixture
def mail_domain(stack):
    made = []

    def make(pool=0):
        d = MailDomain(stack, pool)
        made.append(d)
        return d

    yield make
    for d in made:
        d.remove()


# -- a user at 99 % ------------------------------------------------------

def test_user_at_99_percent_gets_what_fits_and_lmtp_refuses_the_rest(stack, mail_domain, marker):
    d = mail_domain()
    user = d.user("full", quota_bytes=50 * 1024 * 1024)

    # Fill, then set the limit so that the usage is 99 % of it.
    code, resp = lmtp(stack, user, 200_000, marker + "-fill")
    assert code == 250, resp
    used = counters(stack, user)[0]
    assert used == maildir_bytes(stack, user)[0]
    limit = math.ceil(used / 0.99)
    d.set_user("full", "mortarQuotaBytes", limit)
    q = quota_get(stack, user)
    assert q[("User quota", "STORAGE")] == (kib(used), kib(limit))
    room = limit - used
    grace = limit // 10  # quota_grace = 10 % of the user's limit

    # A message that fits is delivered.
    code, resp = lmtp(stack, user, 400, marker + "-fits")
    assert code == 250, resp
    after_fit = counters(stack, user)[0]
    assert used < after_fit <= limit

    # One that does not fit, even with Dovecot's grace, is refused at DATA
    # (no SIZE was announced) with a permanent 5.2.2, to the LMTP client
    # (here the test itself); Dovecot never makes a bounce of its own.
    code, resp = lmtp(stack, user, room + grace + 20_000, marker + "-big")
    assert code == 552, resp
    assert resp.startswith("5.2.2 ")
    assert "Quota exceeded" in resp
    assert counters(stack, user)[0] == after_fit

    # IMAP APPEND gets no grace: the same is refused with OVERQUOTA.
    m = stack.imap(user)
    try:
        typ, data = m.append("INBOX", None, None, body_of(room + 5_000, marker + "-append", user))
        assert typ == "NO"
        assert b"[OVERQUOTA]" in data[0]
    finally:
        m.logout()

    # Dovecot's quota_grace: under quota, one last delivery may go over
    # by up to 10 %; after it, even a tiny one is refused.
    code, resp = lmtp(stack, user, room + grace // 2, marker + "-grace")
    assert code == 250, resp
    assert counters(stack, user)[0] > limit
    code, resp = lmtp(stack, user, 300, marker + "-tiny")
    assert code == 552, resp

    # What Redis counts is what the Maildir holds (the 100 % warning is in
    # it too, delivered by dovecot-lda through the same backend).
    assert wait_until(lambda: warnings_of(stack, user), 30)
    assert wait_until(lambda: counters(stack, user)[:2] == maildir_bytes(stack, user), 10)
    assert_no_bounce(stack, marker)


def test_message_count_limit_from_the_directory(stack, mail_domain, marker):
    d = mail_domain()
    user = d.user("few", quota_messages=2)
    for i in range(2):
        code, resp = lmtp(stack, user, 1000, "%s-%d" % (marker, i))
        assert code == 250, resp
    code, resp = lmtp(stack, user, 1000, marker + "-3")
    assert code == 552, resp
    assert counters(stack, user)[1] == 2
    assert quota_get(stack, user)[("User quota", "MESSAGE")] == (2, 2)
    assert_no_bounce(stack, marker)


# -- the domain pool -----------------------------------------------------

def test_domain_pool_fills_from_three_users_and_refuses_a_fourth(stack, mail_domain, marker):
    pool = 300 * 1024
    d = mail_domain(pool=pool)
    users = [d.user("u%d" % i, quota_bytes=1024 * 1024) for i in range(4)]

    for u in users[:3]:
        code, resp = lmtp(stack, u, 95 * 1024, marker + "-" + u)
        assert code == 250, resp
    ub, um, pb, pm = counters(stack, users[0])
    assert (pb, pm) == pool_sum(stack, d.name)
    assert pb > 0.9 * pool
    room = pool - pb

    # The fourth user has used nothing of their own 1 MiB, but the pool is
    # nearly full: a message bigger than its room plus the pool's grace is
    # refused, one that fits is not.
    fourth = users[3]
    code, resp = lmtp(stack, fourth, room + pool // 10 + 20_000, marker + "-4th")
    assert code == 552, resp
    assert counters(stack, fourth)[0] == 0
    code, resp = lmtp(stack, fourth, 300, marker + "-4th-small")
    assert code == 250, resp

    q = quota_get(stack, fourth)
    fb = counters(stack, fourth)[0]
    assert q[("User quota", "STORAGE")] == (kib(fb), 1024)
    assert q[("Domain pool", "STORAGE")] == (kib(counters(stack, fourth)[2]), pool // 1024)
    assert counters(stack, fourth)[2:] == pool_sum(stack, d.name)
    assert_no_bounce(stack, marker)


def test_concurrent_deliveries_into_a_nearly_full_pool_stay_within_the_bound(stack, mail_domain, marker):
    """The overshoot bound (mtr_quota.h, docs/quota.md): the check reads the
    usage before saving and the count moves after, so K deliveries in
    flight at once can each pass against the same usage.  The pool ends at
    most at  limit + grace + (K - 1) x largest message.  The offer here
    (48 x 30 KB on top of 300 KiB) is more than twice that, so a backend
    that did not enforce would blow it."""
    pool = 400 * 1024
    grace = pool // 10
    k, per_thread, size = 8, 6, 30_000
    d = mail_domain(pool=pool)
    users = [d.user("c%d" % i) for i in range(k)]

    code, resp = lmtp(stack, users[0], pool - 100 * 1024, marker + "-fill")
    assert code == 250, resp
    start = counters(stack, users[0])[2]

    barrier = threading.Barrier(k)

    def worker(i):
        codes = []
        conn = smtplib.LMTP(lmtp_socket(stack), timeout=120)
        try:
            conn.ehlo("client.test")
            barrier.wait()
            for j in range(per_thread):
                conn.mail(SENDER)
                conn.rcpt(users[i])
                code, _ = conn.data(body_of(size, "%s-%d-%d" % (marker, i, j), users[i]))
                codes.append(code)
        finally:
            conn.quit()
        return codes

    with concurrent.futures.ThreadPoolExecutor(max_workers=k) as ex:
        results = list(ex.map(worker, range(k)))

    codes = [c for r in results for c in r]
    assert set(codes) <= {250, 552}
    accepted = codes.count(250)
    assert 0 < accepted < len(codes)

    final_b, final_m = counters(stack, users[0])[2:]
    # Every accepted message counted once, user and pool together (one
    # script per delivery): nothing lost, nothing doubled.
    assert final_m == 1 + accepted
    assert (final_b, final_m) == pool_sum(stack, d.name)
    assert sum(maildir_bytes(stack, u)[0] for u in users) == final_b
    # The largest test message as stored (headers added by Dovecot vary by
    # a few bytes); the filler is the one far bigger file.
    stored = max(n for u in users for n in maildir_sizes(stack, u) if n < 2 * size)
    bound = pool + grace + (k - 1) * stored
    print("pool %d, grace %d, start %d, final %d (overshoot %d), bound %d, "
          "accepted %d of %d" % (pool, grace, start, final_b, max(0, final_b - pool),
                                 bound, accepted, len(codes)))
    assert final_b <= bound
    assert_no_bounce(stack, marker)


# -- two Dovecot instances, one Redis ----------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def second_dovecot(stack):
    """A second Dovecot on the same mail storage, LDAP and Redis: another
    base_dir, other ports and sockets, its own log, in a directory inside
    the stack's run dir.  Started and stopped here, by its own master
    pid."""
    conf_a = dovecot_conf(stack)
    with open(conf_a) as f:
        text = f.read()
    # Inside the stack's run dir: should this session die before its
    # teardown, the launcher's stop still finds and ends this instance.
    top = tempfile.mkdtemp(prefix="dovecot-b-", dir=stack.run)
    os.chmod(top, 0o755)
    base = os.path.join(top, "base")
    conf_b = os.path.join(top, "dovecot.conf")
    repl = [
        ("base_dir = %s/dovecot/base" % stack.run, "base_dir = " + base),
        ("state_dir = %s/dovecot/state" % stack.run, "state_dir = %s/state" % top),
        ("instance_name = ", "instance_name = b-"),
        ("log_path = %s/log/dovecot.log" % stack.run, "log_path = %s/dovecot.log" % top),
        ("unix_listener %s/dovecot/lmtp " % stack.run, "unix_listener %s/lmtp " % top),
        ("unix_listener %s/postfix/spool/private/auth " % stack.run,
         "unix_listener %s/auth " % top),
        ("quota-warning.sh " + conf_a, "quota-warning.sh " + conf_b),
    ]
    for name in ("imap", "imaps", "pop3"):
        repl.append(("port = %d\n" % stack.port(name), "port = %d\n" % free_port()))
    for old, new in repl:
        assert old in text, old
        text = text.replace(old, new)
    os.makedirs(os.path.join(top, "state"))
    with open(conf_b, "w") as f:
        f.write(text)
    # Dovecot keeps stderr open for its log process: give it a file.
    with open(os.path.join(top, "start.log"), "w") as log:
        r = subprocess.run(["dovecot", "-c", conf_b], stdin=subprocess.DEVNULL,
                           stdout=log, stderr=log, timeout=30)
    assert r.returncode == 0, open(os.path.join(top, "start.log")).read()
    assert wait_until(lambda: os.path.exists(os.path.join(top, "lmtp")), 20)
    with open(os.path.join(base, "master.pid")) as f:
        pid = int(f.read().strip())
    try:
        yield conf_b, os.path.join(top, "lmtp")
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists("/proc/%d" % pid), 15)
        # The log process may write a last line while we remove.
        for _ in range(5):
            shutil.rmtree(top, ignore_errors=True)
            if not os.path.exists(top):
                break
            time.sleep(0.5)


def test_two_dovecots_share_usage_and_recalc_repairs_both_counters(
        stack, mail_domain, second_dovecot, marker):
    conf_b, lmtp_b = second_dovecot
    d = mail_domain(pool=10 * 1024 * 1024)
    x = d.user("x", quota_bytes=5 * 1024 * 1024)
    y = d.user("y", quota_bytes=5 * 1024 * 1024)

    assert lmtp(stack, x, 20_000, marker + "-a")[0] == 250          # through A
    assert quota_get(stack, x) == quota_get(stack, x, conf=conf_b)
    assert lmtp(stack, y, 30_000, marker + "-b", sock=lmtp_b)[0] == 250  # through B
    qa, qb = quota_get(stack, y), quota_get(stack, y, conf=conf_b)
    assert qa == qb
    truth_x, truth_y = maildir_bytes(stack, x), maildir_bytes(stack, y)
    assert qa[("Domain pool", "STORAGE")][0] == kib(truth_x[0] + truth_y[0])
    assert counters(stack, x)[:2] == truth_x

    # Deliberate drift of one user and of the pool; a recalc on B repairs
    # the user from the mailboxes and the pool from its users.
    redis_cli(stack, "HSET", "mortar:quota:{%s}:user:x" % d.name, "bytes", 1, "messages", 9)
    redis_cli(stack, "HSET", "mortar:quota:{%s}:pool" % d.name, "bytes", 123456789,
              "messages", 77)
    doveadm(stack, "quota", "recalc", "-u", x, conf=conf_b)
    assert counters(stack, x) == truth_x + (truth_x[0] + truth_y[0], truth_x[1] + truth_y[1])
    assert quota_get(stack, x) == quota_get(stack, x, conf=conf_b)

    # The whole domain: every user drifted, then one recalc over all of
    # its users from A.
    redis_cli(stack, "HSET", "mortar:quota:{%s}:user:x" % d.name, "bytes", 5)
    redis_cli(stack, "HSET", "mortar:quota:{%s}:user:y" % d.name, "bytes", 0, "messages", 0)
    redis_cli(stack, "HSET", "mortar:quota:{%s}:pool" % d.name, "bytes", 1)
    doveadm(stack, "quota", "recalc", "-u", "*@" + d.name)
    assert counters(stack, x)[:2] == truth_x
    assert counters(stack, y)[:2] == truth_y
    assert counters(stack, y)[2:] == (truth_x[0] + truth_y[0], truth_x[1] + truth_y[1])
    assert quota_get(stack, y, conf=conf_b) == quota_get(stack, y)


# -- what clients see --------------------------------------------------------

def test_getquotaroot_and_doveadm_report_the_figures(stack, mail_domain, marker):
    d = mail_domain(pool=10 * 1024 * 1024)
    user = d.user("fig", quota_bytes=1024 * 1024, quota_messages=10)
    other = d.user("other")
    assert lmtp(stack, user, 40_000, marker + "-1")[0] == 250
    assert lmtp(stack, user, 2_000, marker + "-2")[0] == 250
    assert lmtp(stack, other, 10_000, marker + "-3")[0] == 250
    used, count = maildir_bytes(stack, user)
    pool_used = used + maildir_bytes(stack, other)[0]

    m = stack.imap(user)
    try:
        typ, data = m.getquotaroot("INBOX")
    finally:
        m.logout()
    assert typ == "OK"
    roots, quotas = data
    assert roots == [b'INBOX "User quota" "Domain pool"']
    assert quotas == [
        ('"User quota" (STORAGE %d 1024 MESSAGE %d 10)' % (kib(used), count)).encode(),
        ('"Domain pool" (STORAGE %d 10240)' % kib(pool_used)).encode(),
    ]

    q = quota_get(stack, user)
    assert q[("User quota", "STORAGE")] == (kib(used), 1024)
    assert q[("User quota", "MESSAGE")] == (count, 10)
    assert q[("Domain pool", "STORAGE")] == (kib(pool_used), 10240)
    assert q[("Domain pool", "MESSAGE")] == (3, None)

    # A user without limits of their own, in a domain without a pool.
    free = mail_domain().user("free")
    q = quota_get(stack, free)
    assert q[("User quota", "STORAGE")] == (0, None)
    assert q[("Domain pool", "STORAGE")] == (0, None)


def test_bad_backend_argument_is_named(stack):
    r = doveadm(stack, "-o", "plugin/quota=mortar:User quota:host=127.0.0.1:prot=6379",
                "quota", "get", "-u", "alice@" + stack.domain, check=False)
    assert r.returncode != 0
    assert "unknown parameter 'prot='" in r.stderr


# -- warnings ----------------------------------------------------------------

def test_warnings_arrive_once_per_crossing_in_the_users_language(stack, mail_domain, marker):
    d = mail_domain()
    limit = 100_000
    user = d.user("warn", quota_bytes=limit, lang="de")

    def reach(percent, tag, want=250):
        """Deliver one message that takes the usage just past percent."""
        need = percent * limit // 100 - counters(stack, user)[0]
        # Stored with LF line ends (1 byte less per 78) plus a few headers.
        size = max(300, need + need // 70 + 100)
        code, resp = lmtp(stack, user, size, "%s-%s" % (marker, tag))
        assert code == want, resp
        if want == 250:
            assert counters(stack, user)[0] >= percent * limit // 100

    def settle(n):
        assert wait_until(lambda: len(warnings_of(stack, user)) >= n, 30)
        time.sleep(1)  # a late duplicate would show up now
        return warnings_of(stack, user)

    reach(70, "70")                      # 70 %: nothing
    reach(82, "82")                      # crosses 80 %
    w = settle(1)
    assert [(k, p, l) for k, p, l, _ in w] == [("user", 80, "de")]
    assert w[0][3] == "Ihr Postfach ist zu 80 % voll"
    reach(86, "86")                      # still between 80 and 95: nothing new
    reach(96, "96")                      # crosses 95 %
    settle(2)
    reach(101, "101")                    # crosses 100 % (within the grace)
    w = settle(3)
    assert [(k, p) for k, p, _, _ in w] == [("user", 80), ("user", 95), ("user", 100)]
    assert [t for _, _, _, t in w] == ["Ihr Postfach ist zu 80 % voll",
                                       "Ihr Postfach ist zu 95 % voll",
                                       "Ihr Postfach ist zu 100 % voll"]
    code, resp = lmtp(stack, user, 500, marker + "-over")
    assert code == 552, resp             # over quota: refused, no new warning
    time.sleep(1)
    assert len(warnings_of(stack, user)) == 3

    # Below 80 % again (deleting over IMAP is counted), then across it: a
    # new crossing, a new warning.
    m = stack.imap(user)
    try:
        m.select("INBOX")
        typ, data = m.search(None, "HEADER", "X-Test-Id", marker + "-70")
        m.store(data[0], "+FLAGS", "\\Deleted")
        m.expunge()
    finally:
        m.logout()
    assert counters(stack, user)[0] < 0.8 * limit
    reach(85, "again")
    w = settle(4)
    assert [(k, p) for k, p, _, _ in w] == [("user", 80), ("user", 80), ("user", 95),
                                           ("user", 100)]
    assert wait_until(lambda: counters(stack, user)[:2] == maildir_bytes(stack, user), 10)
    assert_no_bounce(stack, marker)


def test_pool_warning_goes_to_the_postmaster_in_their_language(stack, mail_domain, marker):
    d = mail_domain(pool=200_000)
    postmaster = d.user("postmaster", lang="fr")
    user = d.user("filler", lang="de")
    code, resp = lmtp(stack, user, 170_000, marker)
    assert code == 250, resp
    assert wait_until(lambda: warnings_of(stack, postmaster), 30)
    time.sleep(1)
    w = warnings_of(stack, postmaster)
    assert [(k, p, l) for k, p, l, _ in w] == [("pool", 80, "fr")]
    assert w[0][3] == "L'espace partagé de %s est plein à 80 %%" % d.name
    # The user has no limit of their own: no user warning.
    assert warnings_of(stack, user) == []


# -- Redis down ----------------------------------------------------------------

def test_redis_down_tempfails_deliveries_and_appends_until_it_returns(stack, directory, marker):
    user = directory.user("q-" + uuid.uuid4().hex[:8])
    before = counters(stack, user)
    redis_cli(stack, "SHUTDOWN")
    try:
        assert wait_until(lambda: subprocess.run(
            ["redis-cli", "-h", stack.host, "-p", str(stack.port("redis")), "PING"],
            capture_output=True, text=True).stdout.strip() != "PONG", 10)

        # Through the MX: Postfix takes the mail, Dovecot answers 451 at
        # LMTP, and the mail waits in the queue.
        s = stack.mx()
        refused = s.sendmail(SENDER, [user], message(SENDER, [user], marker).encode())
        s.quit()
        assert refused == {}

        def deferred():
            for q in queued(stack):
                for r in q.get("recipients", []):
                    if r.get("address") == user and "delay_reason" in r:
                        return r["delay_reason"]
            return None

        reason = wait_until(deferred, 30)
        assert reason is not None, stack.queue()
        assert "451 4.2.0" in reason
        assert "Mail quota service temporarily unavailable" in reason

        # IMAP APPEND: a clear, temporary error.
        m = stack.imap(user)
        try:
            typ, data = m.append("INBOX", None, None,
                                 message(SENDER, [user], marker + "-append").encode())
        finally:
            m.logout()
        assert typ == "NO"
        assert data[0].startswith(b"[UNAVAILABLE] Mail quota service temporarily unavailable")
    finally:
        stack.launcher("start")

    subprocess.run(["postqueue", "-c", postfix_dir(stack), "-f"], check=True, timeout=30)
    assert stack.wait_for(user, marker, timeout=60) is not None
    assert wait_until(lambda: marker not in stack.queue(), 30)
    assert stack.count(user, marker + "-append") == 0
    assert counters(stack, user)[:2] == maildir_bytes(stack, user)
    assert counters(stack, user)[1] == before[1] + 1
    assert_no_bounce(stack, marker)
